//! A store's staff, for every face (`/admin/api/staff...`, the admin's
//! staff page): the members, invitations (owner only: a one-time token
//! mailed through the `staff.invited` event) and removal (owner only: the
//! account is disabled and its sessions revoked; the owner stays).

use chrono::{DateTime, Utc};
use mercato_tenants::events::{Event, StaffInvited};
use mercato_tenants::{ApiError, ErrorCode, StaffId, StoreId};
use serde::Serialize;
use sqlx::PgPool;
use uuid::Uuid;

use super::model::{StaffLogin, StaffMember, StaffRole, Subject, INVITATION_TTL_SECS};
use super::{parse_email, secrets, sql};
use crate::error::PodError;
use crate::events;
use crate::state::AppState;
use crate::tenancy::begin_write;

/// An invitation as sent.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Invitation {
    pub id: Uuid,
    pub email: String,
    pub expires_at: DateTime<Utc>,
}

/// The store's enabled staff, by id, after `after` (at most `limit`).
pub async fn members(
    db: &PgPool,
    store: StoreId,
    after: Option<StaffId>,
    limit: i64,
) -> Result<Vec<StaffMember>, PodError> {
    sql::staff::list(db, store, after, limit)
        .await
        .map_err(PodError::internal)
}

/// Invites `email` to the staff of `store` (named `store_name` in the
/// mail), by `invited_by`. `409 email_taken` for a member's email.
pub async fn invite(
    state: &AppState,
    store: StoreId,
    store_name: &str,
    email: &str,
    invited_by: &str,
) -> Result<Invitation, PodError> {
    let email = parse_email(email)?;
    let token = secrets::random_token();
    let id = Uuid::now_v7();
    let expires_at = Utc::now() + chrono::Duration::seconds(INVITATION_TTL_SECS);
    let mut tx = begin_write(&state.db, store).await?;
    let taken = sql::staff::email_is_member(&mut *tx, store, &email)
        .await
        .map_err(PodError::internal)?;
    if taken {
        return Err(ApiError::new(
            ErrorCode::EmailTaken,
            "this email is already a staff member of this store",
        )
        .into());
    }
    sql::staff::insert_invitation(
        &mut *tx,
        store,
        id,
        &email,
        &secrets::sha256_hex(&token),
        invited_by,
        expires_at,
    )
    .await?;
    let invited = StaffInvited {
        invitation_id: id,
        store_id: store,
        store_name: store_name.to_owned(),
        email: email.as_str().to_owned(),
        token,
        expires_at,
    };
    events::record(&mut tx, store, &Event::StaffInvited(invited))
        .await
        .map_err(PodError::internal)?;
    tx.commit().await.map_err(PodError::internal)?;
    Ok(Invitation {
        id,
        email: email.as_str().to_owned(),
        expires_at,
    })
}

/// Removes the staff member `id`: disabled, every session revoked. `404`
/// for nobody, `409 conflict` for the owner.
pub async fn remove(state: &AppState, store: StoreId, id: StaffId) -> Result<(), PodError> {
    let mut tx = begin_write(&state.db, store).await?;
    let role = sql::staff::lock_role(&mut *tx, store, id)
        .await
        .map_err(PodError::internal)?;
    match role.and_then(|r| StaffRole::parse(&r)) {
        None => return Err(ApiError::not_found("staff member").into()),
        Some(StaffRole::Owner) => {
            return Err(ApiError::new(
                ErrorCode::Conflict,
                "the owner of the store cannot be removed",
            )
            .into())
        }
        Some(StaffRole::Staff) => {}
    }
    sql::staff::disable(&mut *tx, store, id)
        .await
        .map_err(PodError::internal)?;
    sql::sessions::revoke_all(&mut *tx, store, Subject::Staff(id.as_uuid()))
        .await
        .map_err(PodError::internal)?;
    tx.commit().await.map_err(PodError::internal)?;
    Ok(())
}

/// Accepts the invitation of `token` with the new member's `password`
/// (`422 weak_password` for a weak one): the staff account, and its first
/// session. `400 invalid_token` for an unknown, used or expired invitation.
pub async fn accept(
    state: &AppState,
    store: StoreId,
    token: &str,
    password: &str,
) -> Result<StaffLogin, PodError> {
    let password = super::parse_password(password)?;
    let token_hash = secrets::sha256_hex(token.trim());
    let hash = secrets::hash_password(&state.hashing, password).await?;
    let mut tx = begin_write(&state.db, store).await?;
    let invitation = sql::staff::lock_open_invitation(&mut *tx, store, &token_hash)
        .await
        .map_err(PodError::internal)?;
    let (invitation, email) = invitation.ok_or_else(|| {
        ApiError::new(
            ErrorCode::InvalidToken,
            "this invitation is unknown, used or expired",
        )
    })?;
    let email = parse_email(&email)?;
    let id = sql::staff::insert(&mut *tx, store, &email, &hash, StaffRole::Staff).await?;
    sql::staff::mark_accepted(&mut *tx, store, invitation)
        .await
        .map_err(PodError::internal)?;
    let member = StaffMember {
        id,
        email: email.as_str().to_owned(),
        role: StaffRole::Staff,
        created_at: Utc::now(),
    };
    let login = super::login::open_staff_session(state, store, member, &mut tx).await?;
    tx.commit().await.map_err(PodError::internal)?;
    Ok(login)
}
