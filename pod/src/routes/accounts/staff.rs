//! Staff of a store: login and logout, password reset (a one-time token
//! mailed through the outbox, as customers' is), the member list,
//! invitations (a one-time token mailed through the outbox) and removal.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use mercato_tenants::http::{ApiJson, ApiPath, ApiQuery};
use mercato_tenants::StaffId;
use serde::{Deserialize, Serialize};

use super::customers::{ResetConfirm, ResetRequest};
use crate::accounts::auth::{Owner, Staff};
use crate::accounts::model::{StaffLogin, StaffMember};
use crate::accounts::rate_limit::ClientAddress;
use crate::accounts::{parse_email, parse_password, passwords, sessions, team, LoginRejection};
use crate::error::PodError;
use crate::paging::{full_page_cursor, page_limit};
use crate::state::AppState;
use crate::tenancy::TenantContext;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    #[schema(value_type = mercato_tenants::openapi::EmailAddress)]
    pub(super) email: String,
    pub(super) password: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct StaffPage {
    items: Vec<StaffMember>,
    next_cursor: Option<StaffId>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InviteRequest {
    #[schema(value_type = mercato_tenants::openapi::EmailAddress)]
    email: String,
}

pub use crate::accounts::team::Invitation;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AcceptRequest {
    /// The token of the invitation mail.
    token: String,
    /// The new member's password: 10 to 128 characters, at least 5 of them
    /// different, not a common password (`422 weak_password`).
    #[schema(min_length = 10, max_length = 128)]
    password: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PageQuery {
    limit: Option<i64>,
    after: Option<StaffId>,
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
    let login = crate::accounts::login::login_staff(
        &state,
        tenant.store_id,
        &req.email,
        req.password,
        &address,
    )
    .await?;
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

/// Asks for a password-reset mail for a staff member (owner or staff).
/// Always `202`, whether or not the email belongs to an enabled member of
/// the store; for one, a `staff.password_reset_requested` event carries a
/// one-time token valid for an hour.
#[utoipa::path(post, path = "/admin/api/password-reset", tag = "staff",
    request_body = ResetRequest,
    responses((status = 202), (status = 400, body = mercato_tenants::error::ErrorBody)))]
pub(super) async fn request_password_reset(
    State(state): State<AppState>,
    tenant: TenantContext,
    ApiJson(req): ApiJson<ResetRequest>,
) -> Result<StatusCode, PodError> {
    let email = parse_email(&req.email)?;
    passwords::request_staff(&state, tenant.store_id, &email).await?;
    Ok(StatusCode::ACCEPTED)
}

/// Sets a staff member's new password with a reset token (once), and
/// signs the member out everywhere.
#[utoipa::path(post, path = "/admin/api/password-reset/confirm", tag = "staff",
    request_body = ResetConfirm,
    responses((status = 204),
        (status = 400, description = "invalid_token: unknown, used or expired", body = mercato_tenants::error::ErrorBody),
        (status = 422, description = "weak_password", body = mercato_tenants::error::ErrorBody)))]
pub(super) async fn confirm_password_reset(
    State(state): State<AppState>,
    tenant: TenantContext,
    ApiJson(req): ApiJson<ResetConfirm>,
) -> Result<StatusCode, PodError> {
    let password = parse_password(&req.password)?;
    passwords::reset_staff(&state, tenant.store_id, &req.token, password).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The store's enabled staff, by id.
#[utoipa::path(get, path = "/admin/api/staff", tag = "staff",
    params(("limit" = Option<i64>, Query, description = "1 to 100, default 20", minimum = 1, maximum = 100),
        ("after" = Option<StaffId>, Query, description = "cursor: next_cursor of the previous page")),
    responses((status = 200, body = StaffPage), (status = 401, body = mercato_tenants::error::ErrorBody)))]
pub(super) async fn list(
    State(state): State<AppState>,
    tenant: TenantContext,
    _: Staff,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> Result<Json<StaffPage>, PodError> {
    let limit = page_limit(q.limit)?;
    let items = team::members(&state.db, tenant.store_id, q.after, limit).await?;
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
    let invitation = team::invite(
        &state,
        tenant.store_id,
        &tenant.name,
        &req.email,
        &owner.sub,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(invitation)))
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
    let login = team::accept(&state, tenant.store_id, &req.token, &req.password).await?;
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
    team::remove(&state, tenant.store_id, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
