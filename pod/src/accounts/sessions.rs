//! Login sessions. A login writes a row; its id rides in the token (`sid`),
//! so logging out (or removing a staff member, or resetting a password)
//! revokes every token of the session at once. The rows' SQL (revoking
//! all of a subject's, the extractors' checks) is in `sql/sessions.rs`.

use chrono::Utc;
pub use mercato_tenants::IssuedToken;
use mercato_tenants::{Claims, SessionId, StoreId};
use sqlx::{PgPool, Postgres, Transaction};

use super::model::Subject;
use super::sql;
use crate::error::PodError;
use crate::state::AppState;

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
    sql::sessions::insert(&mut **tx, store, sid, subject, expires)
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

/// Logs a token out: revokes the session it rides in, if it has one.
pub async fn log_out(db: &PgPool, store: StoreId, claims: &Claims) -> Result<(), PodError> {
    if let Some(sid) = claims.sid {
        sql::sessions::revoke(db, store, sid)
            .await
            .map_err(PodError::Db)?;
    }
    Ok(())
}

/// Whether the customer session `sid` of `customer` is open (not revoked,
/// not expired).
pub async fn is_customer_session_open(
    db: &PgPool,
    store: StoreId,
    sid: mercato_tenants::SessionId,
    customer: mercato_tenants::CustomerId,
) -> Result<bool, PodError> {
    sql::sessions::customer_session(db, store, sid, customer.as_uuid())
        .await
        .map_err(PodError::Db)
}

/// The role of the staff member of session `sid`, if the session is open
/// and the member still enabled.
pub async fn staff_role(
    db: &PgPool,
    store: StoreId,
    sid: mercato_tenants::SessionId,
    staff: mercato_tenants::StaffId,
) -> Result<Option<super::StaffRole>, PodError> {
    sql::sessions::staff_session(db, store, sid, staff.as_uuid())
        .await
        .map_err(PodError::Db)
}
