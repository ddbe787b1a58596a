//! The SQL of `staff` and `staff_invitations` (their password resets:
//! `resets.rs`).

use chrono::{DateTime, Utc};
use mercato_tenants::{Email, StaffId, StoreId};
use sqlx::{PgExecutor, PgPool};
use uuid::Uuid;

use crate::accounts::model::{StaffMember, StaffRole};

type MemberRow = (Uuid, String, String, DateTime<Utc>);

fn member((id, email, role, created_at): MemberRow) -> StaffMember {
    StaffMember {
        id: StaffId::from_uuid(id),
        email,
        role: StaffRole::parse(&role).unwrap_or(StaffRole::Staff),
        created_at,
    }
}

/// Inserts an enabled member; the unique email becomes `409 email_taken`
/// (`error::constraint_error`).
pub(crate) async fn insert<'e>(
    exec: impl PgExecutor<'e>,
    store: StoreId,
    email: &Email,
    password_hash: &str,
    role: StaffRole,
) -> Result<StaffId, sqlx::Error> {
    let id = StaffId::new();
    sqlx::query(
        "INSERT INTO staff (store_id, id, email, password_hash, role) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(store.as_uuid())
    .bind(id.as_uuid())
    .bind(email.as_str())
    .bind(password_hash)
    .bind(role.as_str())
    .execute(exec)
    .await?;
    Ok(id)
}

/// The enabled member with this email, and its password hash.
pub(crate) async fn find_by_email(
    db: &PgPool,
    store: StoreId,
    email: &Email,
) -> Result<Option<(StaffMember, String)>, sqlx::Error> {
    let row: Option<(Uuid, String, String, DateTime<Utc>, String)> = sqlx::query_as(
        "SELECT id, email, role, created_at, password_hash FROM staff
         WHERE store_id = $1 AND email = $2 AND disabled_at IS NULL",
    )
    .bind(store.as_uuid())
    .bind(email.as_str())
    .fetch_optional(db)
    .await?;
    Ok(
        row.map(|(id, email, role, created_at, hash)| {
            (member((id, email, role, created_at)), hash)
        }),
    )
}

/// The id of the enabled member with this email.
pub(crate) async fn id_by_email<'e>(
    exec: impl PgExecutor<'e>,
    store: StoreId,
    email: &Email,
) -> Result<Option<Uuid>, sqlx::Error> {
    let id: Option<(Uuid,)> = sqlx::query_as(
        "SELECT id FROM staff WHERE store_id = $1 AND email = $2 AND disabled_at IS NULL",
    )
    .bind(store.as_uuid())
    .bind(email.as_str())
    .fetch_optional(exec)
    .await?;
    Ok(id.map(|(id,)| id))
}

/// Sets an enabled member's password hash; whether there is such a
/// member (a removed one keeps the password it had).
pub(crate) async fn set_password<'e>(
    exec: impl PgExecutor<'e>,
    store: StoreId,
    id: Uuid,
    password_hash: &str,
) -> Result<bool, sqlx::Error> {
    let updated = sqlx::query(
        "UPDATE staff SET password_hash = $3
         WHERE store_id = $1 AND id = $2 AND disabled_at IS NULL",
    )
    .bind(store.as_uuid())
    .bind(id)
    .bind(password_hash)
    .execute(exec)
    .await?;
    Ok(updated.rows_affected() == 1)
}

/// Enabled members by id, `limit` after the cursor.
pub(crate) async fn list(
    db: &PgPool,
    store: StoreId,
    after: Option<StaffId>,
    limit: i64,
) -> Result<Vec<StaffMember>, sqlx::Error> {
    let rows: Vec<MemberRow> = sqlx::query_as(
        "SELECT id, email, role, created_at FROM staff
         WHERE store_id = $1 AND disabled_at IS NULL AND ($2::uuid IS NULL OR id > $2)
         ORDER BY id LIMIT $3",
    )
    .bind(store.as_uuid())
    .bind(after.map(|a| a.as_uuid()))
    .bind(limit)
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(member).collect())
}

/// Whether an enabled member has this email.
pub(crate) async fn email_is_member<'e>(
    exec: impl PgExecutor<'e>,
    store: StoreId,
    email: &Email,
) -> Result<bool, sqlx::Error> {
    let taken: Option<(i32,)> = sqlx::query_as(
        "SELECT 1 FROM staff WHERE store_id = $1 AND email = $2 AND disabled_at IS NULL",
    )
    .bind(store.as_uuid())
    .bind(email.as_str())
    .fetch_optional(exec)
    .await?;
    Ok(taken.is_some())
}

/// The role of an enabled member, its row locked; `None` if there is no
/// such member.
pub(crate) async fn lock_role<'e>(
    exec: impl PgExecutor<'e>,
    store: StoreId,
    id: StaffId,
) -> Result<Option<String>, sqlx::Error> {
    let role: Option<(String,)> = sqlx::query_as(
        "SELECT role FROM staff WHERE store_id = $1 AND id = $2 AND disabled_at IS NULL FOR UPDATE",
    )
    .bind(store.as_uuid())
    .bind(id.as_uuid())
    .fetch_optional(exec)
    .await?;
    Ok(role.map(|(r,)| r))
}

/// Disables a member (its sessions are revoked apart).
pub(crate) async fn disable<'e>(
    exec: impl PgExecutor<'e>,
    store: StoreId,
    id: StaffId,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE staff SET disabled_at = now() WHERE store_id = $1 AND id = $2")
        .bind(store.as_uuid())
        .bind(id.as_uuid())
        .execute(exec)
        .await?;
    Ok(())
}

/// Records an invitation; only the sha256 of its token is kept.
pub(crate) async fn insert_invitation<'e>(
    exec: impl PgExecutor<'e>,
    store: StoreId,
    id: Uuid,
    email: &Email,
    token_sha256: &str,
    invited_by: &str,
    expires_at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO staff_invitations (store_id, id, email, token_sha256, invited_by, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(store.as_uuid())
    .bind(id)
    .bind(email.as_str())
    .bind(token_sha256)
    .bind(invited_by)
    .bind(expires_at)
    .execute(exec)
    .await?;
    Ok(())
}

/// The invitation of this token hash, if neither accepted nor expired,
/// locked: its id and email.
pub(crate) async fn lock_open_invitation<'e>(
    exec: impl PgExecutor<'e>,
    store: StoreId,
    token_sha256: &str,
) -> Result<Option<(Uuid, String)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, email FROM staff_invitations
         WHERE store_id = $1 AND token_sha256 = $2 AND accepted_at IS NULL AND expires_at > now()
         FOR UPDATE",
    )
    .bind(store.as_uuid())
    .bind(token_sha256)
    .fetch_optional(exec)
    .await
}

pub(crate) async fn mark_accepted<'e>(
    exec: impl PgExecutor<'e>,
    store: StoreId,
    invitation: Uuid,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE staff_invitations SET accepted_at = now() WHERE store_id = $1 AND id = $2")
        .bind(store.as_uuid())
        .bind(invitation)
        .execute(exec)
        .await?;
    Ok(())
}
