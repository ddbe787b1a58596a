//! Staff of a store: login and logout, the member list, invitations (a
//! one-time token mailed through the outbox) and removal.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use mercato_tenants::events::{Event, StaffInvited};
use mercato_tenants::http::{ApiJson, ApiPath, ApiQuery};
use mercato_tenants::{ApiError, Email, ErrorCode, StaffId, StoreId};
use serde::{Deserialize, Serialize};
use sqlx::{PgPool, Postgres, Transaction};
use uuid::Uuid;

use super::auth::{Owner, Staff};
use super::rate_limit::ClientAddress;
use super::sessions::{self, Subject};
use super::{
    check_login, parse_email, parse_password, secrets, start_login, LoginRejection, StaffRole,
};
use crate::error::PodError;
use crate::events;
use crate::paging::{full_page_cursor, page_limit};
use crate::state::AppState;
use crate::tenancy::{begin_write, TenantContext};

/// How long an invitation can be accepted.
const INVITATION_TTL_SECS: i64 = 7 * 24 * 3600;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub(super) email: String,
    pub(super) password: String,
}

/// A staff member as others see it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct StaffMember {
    pub id: StaffId,
    pub email: String,
    pub role: StaffRole,
    pub created_at: DateTime<Utc>,
}

/// A staff login: the token and who it is for.
#[derive(Serialize, utoipa::ToSchema)]
pub struct StaffLogin {
    token: String,
    /// Unix seconds.
    expires_at: i64,
    staff: StaffMember,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct StaffPage {
    items: Vec<StaffMember>,
    next_cursor: Option<StaffId>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InviteRequest {
    email: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Invitation {
    id: Uuid,
    email: String,
    expires_at: DateTime<Utc>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AcceptRequest {
    /// The token of the invitation mail.
    token: String,
    /// The new member's password.
    password: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PageQuery {
    limit: Option<i64>,
    after: Option<StaffId>,
}

type MemberRow = (Uuid, String, String, DateTime<Utc>);

fn member((id, email, role, created_at): MemberRow) -> StaffMember {
    StaffMember {
        id: StaffId::from_uuid(id),
        email,
        role: StaffRole::parse(&role).unwrap_or(StaffRole::Staff),
        created_at,
    }
}

/// Inserts an enabled member; `409 email_taken` if the email has one.
pub(super) async fn insert(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    email: &Email,
    password_hash: &str,
    role: StaffRole,
) -> Result<StaffId, PodError> {
    let id = StaffId::new();
    sqlx::query(
        "INSERT INTO staff (store_id, id, email, password_hash, role) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(store.as_uuid())
    .bind(id.as_uuid())
    .bind(email.as_str())
    .bind(password_hash)
    .bind(role.as_str())
    .execute(&mut **tx)
    .await?;
    Ok(id)
}

async fn find_by_email(
    db: &PgPool,
    store: StoreId,
    email: &Email,
) -> Result<Option<(StaffMember, String)>, PodError> {
    let row: Option<(Uuid, String, String, DateTime<Utc>, String)> = sqlx::query_as(
        "SELECT id, email, role, created_at, password_hash FROM staff
         WHERE store_id = $1 AND email = $2 AND disabled_at IS NULL",
    )
    .bind(store.as_uuid())
    .bind(email.as_str())
    .fetch_optional(db)
    .await
    .map_err(PodError::internal)?;
    Ok(
        row.map(|(id, email, role, created_at, hash)| {
            (member((id, email, role, created_at)), hash)
        }),
    )
}

/// Opens a session for `member` in a write transaction.
async fn session_for(
    state: &AppState,
    store: StoreId,
    member: StaffMember,
    tx: &mut Transaction<'_, Postgres>,
) -> Result<StaffLogin, PodError> {
    let token = sessions::open(
        state,
        tx,
        store,
        Subject::Staff(member.id.as_uuid()),
        state.config.accounts.staff_token_ttl_secs,
    )
    .await?;
    Ok(StaffLogin {
        token: token.token,
        expires_at: token.expires_at,
        staff: member,
    })
}

/// Signs a staff member in. Unknown email and wrong password get the same
/// `401 invalid_credentials`; repeated failures get `429` with `Retry-After`.
#[utoipa::path(post, path = "/admin/api/login", tag = "staff",
    request_body = LoginRequest,
    responses((status = 200, body = StaffLogin),
        (status = 401, body = mercato_tenants::error::ErrorBody),
        (status = 429, body = mercato_tenants::error::ErrorBody)))]
pub(super) async fn login(
    State(state): State<AppState>,
    tenant: TenantContext,
    ClientAddress(address): ClientAddress,
    ApiJson(req): ApiJson<LoginRequest>,
) -> Result<Json<StaffLogin>, LoginRejection> {
    let store = tenant.store_id;
    let (email, attempt) = start_login(&state, store, "staff", &req.email, &address).await?;
    let found = find_by_email(&state.db, store, &email).await?;
    let member = check_login(&state, &attempt, req.password, found).await?;
    let mut tx = begin_write(&state.db, store).await?;
    let login = session_for(&state, store, member, &mut tx).await?;
    tx.commit().await.map_err(PodError::internal)?;
    Ok(Json(login))
}

/// Ends the session of the token (its other tokens stop working too).
#[utoipa::path(post, path = "/admin/api/logout", tag = "staff",
    responses((status = 204), (status = 401, body = mercato_tenants::error::ErrorBody)))]
pub(super) async fn logout(
    State(state): State<AppState>,
    tenant: TenantContext,
    Staff(claims): Staff,
) -> Result<StatusCode, PodError> {
    sessions::log_out(&state.db, tenant.store_id, &claims).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The store's enabled staff, by id.
#[utoipa::path(get, path = "/admin/api/staff", tag = "staff",
    params(("limit" = Option<i64>, Query, description = "1 to 100, default 20"),
        ("after" = Option<StaffId>, Query, description = "cursor: next_cursor of the previous page")),
    responses((status = 200, body = StaffPage), (status = 401, body = mercato_tenants::error::ErrorBody)))]
pub(super) async fn list(
    State(state): State<AppState>,
    tenant: TenantContext,
    _: Staff,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> Result<Json<StaffPage>, PodError> {
    let limit = page_limit(q.limit)?;
    let rows: Vec<MemberRow> = sqlx::query_as(
        "SELECT id, email, role, created_at FROM staff
         WHERE store_id = $1 AND disabled_at IS NULL AND ($2::uuid IS NULL OR id > $2)
         ORDER BY id LIMIT $3",
    )
    .bind(tenant.store_id.as_uuid())
    .bind(q.after.map(|a| a.as_uuid()))
    .bind(limit)
    .fetch_all(&state.db)
    .await
    .map_err(PodError::internal)?;
    let items: Vec<StaffMember> = rows.into_iter().map(member).collect();
    let next_cursor = full_page_cursor(&items, limit, |m| m.id);
    Ok(Json(StaffPage { items, next_cursor }))
}

/// Invites someone to join the store's staff (owner only). The mailer
/// receives the one-time token through the `staff.invited` event.
#[utoipa::path(post, path = "/admin/api/staff/invitations", tag = "staff",
    request_body = InviteRequest,
    responses((status = 201, body = Invitation),
        (status = 403, body = mercato_tenants::error::ErrorBody),
        (status = 409, body = mercato_tenants::error::ErrorBody)))]
pub(super) async fn invite(
    State(state): State<AppState>,
    tenant: TenantContext,
    Owner(owner): Owner,
    ApiJson(req): ApiJson<InviteRequest>,
) -> Result<(StatusCode, Json<Invitation>), PodError> {
    let store = tenant.store_id;
    let email = parse_email(&req.email)?;
    let token = secrets::random_token();
    let id = Uuid::now_v7();
    let expires_at = Utc::now() + chrono::Duration::seconds(INVITATION_TTL_SECS);
    let mut tx = begin_write(&state.db, store).await?;
    let taken: Option<(i32,)> = sqlx::query_as(
        "SELECT 1 FROM staff WHERE store_id = $1 AND email = $2 AND disabled_at IS NULL",
    )
    .bind(store.as_uuid())
    .bind(email.as_str())
    .fetch_optional(&mut *tx)
    .await
    .map_err(PodError::internal)?;
    if taken.is_some() {
        return Err(ApiError::new(
            ErrorCode::EmailTaken,
            "this email is already a staff member of this store",
        )
        .into());
    }
    sqlx::query(
        "INSERT INTO staff_invitations (store_id, id, email, token_sha256, invited_by, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(store.as_uuid())
    .bind(id)
    .bind(email.as_str())
    .bind(secrets::sha256_hex(&token))
    .bind(&owner.sub)
    .bind(expires_at)
    .execute(&mut *tx)
    .await?;
    let invited = StaffInvited {
        invitation_id: id,
        store_id: store,
        store_name: tenant.name.clone(),
        email: email.as_str().to_owned(),
        token,
        expires_at,
    };
    events::record(&mut tx, store, &Event::StaffInvited(invited))
        .await
        .map_err(PodError::internal)?;
    tx.commit().await.map_err(PodError::internal)?;
    Ok((
        StatusCode::CREATED,
        Json(Invitation {
            id,
            email: email.as_str().to_owned(),
            expires_at,
        }),
    ))
}

/// Accepts an invitation: makes the staff account and signs it in.
#[utoipa::path(post, path = "/admin/api/staff/invitations/accept", tag = "staff",
    request_body = AcceptRequest,
    responses((status = 201, body = StaffLogin),
        (status = 400, description = "invalid_token: unknown, used or expired", body = mercato_tenants::error::ErrorBody),
        (status = 422, description = "weak_password", body = mercato_tenants::error::ErrorBody)))]
pub(super) async fn accept(
    State(state): State<AppState>,
    tenant: TenantContext,
    ApiJson(req): ApiJson<AcceptRequest>,
) -> Result<(StatusCode, Json<StaffLogin>), PodError> {
    let store = tenant.store_id;
    let password = parse_password(&req.password)?;
    let token_hash = secrets::sha256_hex(req.token.trim());
    let hash = secrets::hash_password(password).await?;
    let mut tx = begin_write(&state.db, store).await?;
    let invitation: Option<(Uuid, String)> = sqlx::query_as(
        "SELECT id, email FROM staff_invitations
         WHERE store_id = $1 AND token_sha256 = $2 AND accepted_at IS NULL AND expires_at > now()
         FOR UPDATE",
    )
    .bind(store.as_uuid())
    .bind(&token_hash)
    .fetch_optional(&mut *tx)
    .await
    .map_err(PodError::internal)?;
    let (invitation, email) = invitation.ok_or_else(|| {
        ApiError::new(
            ErrorCode::InvalidToken,
            "this invitation is unknown, used or expired",
        )
    })?;
    let email = parse_email(&email)?;
    let id = insert(&mut tx, store, &email, &hash, StaffRole::Staff).await?;
    sqlx::query("UPDATE staff_invitations SET accepted_at = now() WHERE store_id = $1 AND id = $2")
        .bind(store.as_uuid())
        .bind(invitation)
        .execute(&mut *tx)
        .await
        .map_err(PodError::internal)?;
    let member = StaffMember {
        id,
        email: email.as_str().to_owned(),
        role: StaffRole::Staff,
        created_at: Utc::now(),
    };
    let login = session_for(&state, store, member, &mut tx).await?;
    tx.commit().await.map_err(PodError::internal)?;
    Ok((StatusCode::CREATED, Json(login)))
}

/// Removes a staff member (owner only): the account is disabled and its
/// sessions revoked. The owner cannot be removed (`409 conflict`).
#[utoipa::path(delete, path = "/admin/api/staff/{id}", tag = "staff",
    params(("id" = StaffId, Path, description = "staff member id")),
    responses((status = 204),
        (status = 403, body = mercato_tenants::error::ErrorBody),
        (status = 404, body = mercato_tenants::error::ErrorBody),
        (status = 409, body = mercato_tenants::error::ErrorBody)))]
pub(super) async fn remove(
    State(state): State<AppState>,
    tenant: TenantContext,
    _: Owner,
    ApiPath(id): ApiPath<StaffId>,
) -> Result<StatusCode, PodError> {
    let store = tenant.store_id;
    let mut tx = begin_write(&state.db, store).await?;
    let role: Option<(String,)> = sqlx::query_as(
        "SELECT role FROM staff WHERE store_id = $1 AND id = $2 AND disabled_at IS NULL FOR UPDATE",
    )
    .bind(store.as_uuid())
    .bind(id.as_uuid())
    .fetch_optional(&mut *tx)
    .await
    .map_err(PodError::internal)?;
    match role.and_then(|(r,)| StaffRole::parse(&r)) {
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
    sqlx::query("UPDATE staff SET disabled_at = now() WHERE store_id = $1 AND id = $2")
        .bind(store.as_uuid())
        .bind(id.as_uuid())
        .execute(&mut *tx)
        .await
        .map_err(PodError::internal)?;
    sessions::revoke_all(&mut *tx, store, Subject::Staff(id.as_uuid()))
        .await
        .map_err(PodError::internal)?;
    tx.commit().await.map_err(PodError::internal)?;
    Ok(StatusCode::NO_CONTENT)
}
