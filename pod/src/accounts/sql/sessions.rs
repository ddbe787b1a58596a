//! The SQL of `sessions`.

use chrono::{DateTime, Utc};
use mercato_tenants::{SessionId, StoreId};
use sqlx::PgPool;
use uuid::Uuid;

use crate::accounts::model::{StaffRole, Subject};

/// Inserts an open session of `subject` until `expires`.
pub(crate) async fn insert<'e>(
    exec: impl sqlx::PgExecutor<'e>,
    store: StoreId,
    sid: SessionId,
    subject: Subject,
    expires: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO sessions (store_id, id, subject_kind, subject_id, expires_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(store.as_uuid())
    .bind(sid.as_uuid())
    .bind(subject.kind())
    .bind(subject.id())
    .bind(expires)
    .execute(exec)
    .await
    .map(|_| ())
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
