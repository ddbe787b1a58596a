//! Login sessions. A login writes a row; its id rides in the token (`sid`),
//! so logging out (or removing a staff member, or resetting a password)
//! revokes every token of the session at once.

use chrono::Utc;
pub use mercato_tenants::IssuedToken;
use mercato_tenants::{Claims, Role, SessionId, StoreId};
use sqlx::{PgPool, Postgres, Transaction};
use uuid::Uuid;

use super::StaffRole;
use crate::error::PodError;
use crate::state::AppState;

/// Who a session belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    Staff(Uuid),
    Customer(Uuid),
}

impl Subject {
    fn kind(self) -> &'static str {
        match self {
            Subject::Staff(_) => "staff",
            Subject::Customer(_) => "customer",
        }
    }

    fn id(self) -> Uuid {
        match self {
            Subject::Staff(id) | Subject::Customer(id) => id,
        }
    }

    fn role(self) -> Role {
        match self {
            Subject::Staff(_) => Role::Staff,
            Subject::Customer(_) => Role::Customer,
        }
    }
}

/// Opens a session for `subject` and signs its token; the caller commits.
pub async fn open(
    state: &AppState,
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    subject: Subject,
    ttl_secs: i64,
) -> Result<IssuedToken, PodError> {
    let sid = SessionId::new();
    let now = Utc::now();
    let ttl = ttl_secs.max(60);
    let expires = now + chrono::Duration::seconds(ttl);
    sqlx::query(
        "INSERT INTO sessions (store_id, id, subject_kind, subject_id, expires_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(store.as_uuid())
    .bind(sid.as_uuid())
    .bind(subject.kind())
    .bind(subject.id())
    .bind(expires)
    .execute(&mut **tx)
    .await
    .map_err(PodError::Db)?;
    let claims = Claims::new(
        subject.id().to_string(),
        subject.role(),
        Some(store),
        now.timestamp(),
        ttl,
    )
    .with_session(sid);
    let token = state.keys.issue(&claims).map_err(PodError::internal)?;
    Ok(IssuedToken {
        token,
        expires_at: claims.exp,
    })
}

/// Revokes one session.
pub async fn revoke<'e>(
    exec: impl sqlx::PgExecutor<'e>,
    store: StoreId,
    sid: SessionId,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE sessions SET revoked_at = now() WHERE store_id = $1 AND id = $2 AND revoked_at IS NULL",
    )
    .bind(store.as_uuid())
    .bind(sid.as_uuid())
    .execute(exec)
    .await
    .map(|_| ())
}

/// Logs a token out: revokes the session it rides in, if it has one.
pub async fn log_out(db: &PgPool, store: StoreId, claims: &Claims) -> Result<(), PodError> {
    if let Some(sid) = claims.sid {
        revoke(db, store, sid).await.map_err(PodError::Db)?;
    }
    Ok(())
}

/// Revokes every open session of `subject`.
pub async fn revoke_all<'e>(
    exec: impl sqlx::PgExecutor<'e>,
    store: StoreId,
    subject: Subject,
) -> Result<u64, sqlx::Error> {
    sqlx::query(
        "UPDATE sessions SET revoked_at = now()
         WHERE store_id = $1 AND subject_kind = $2 AND subject_id = $3 AND revoked_at IS NULL",
    )
    .bind(store.as_uuid())
    .bind(subject.kind())
    .bind(subject.id())
    .execute(exec)
    .await
    .map(|r| r.rows_affected())
}

/// The role of the staff member behind an open session, or `None` if the
/// session is revoked, expired, or its member removed.
pub async fn staff_session(
    db: &PgPool,
    store: StoreId,
    sid: SessionId,
    staff: Uuid,
) -> Result<Option<StaffRole>, sqlx::Error> {
    let row: Option<(String,)> = sqlx::query_as(
        "SELECT st.role FROM sessions se
         JOIN staff st ON st.store_id = se.store_id AND st.id = se.subject_id
         WHERE se.store_id = $1 AND se.id = $2 AND se.subject_kind = 'staff' AND se.subject_id = $3
           AND se.revoked_at IS NULL AND se.expires_at > now() AND st.disabled_at IS NULL",
    )
    .bind(store.as_uuid())
    .bind(sid.as_uuid())
    .bind(staff)
    .fetch_optional(db)
    .await?;
    Ok(row.and_then(|(r,)| StaffRole::parse(&r)))
}

/// Whether the customer's session is open.
pub async fn customer_session(
    db: &PgPool,
    store: StoreId,
    sid: SessionId,
    customer: Uuid,
) -> Result<bool, sqlx::Error> {
    let row: Option<(i32,)> = sqlx::query_as(
        "SELECT 1 FROM sessions
         WHERE store_id = $1 AND id = $2 AND subject_kind = 'customer' AND subject_id = $3
           AND revoked_at IS NULL AND expires_at > now()",
    )
    .bind(store.as_uuid())
    .bind(sid.as_uuid())
    .bind(customer)
    .fetch_optional(db)
    .await?;
    Ok(row.is_some())
}
