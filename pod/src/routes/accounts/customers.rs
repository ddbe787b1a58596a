//! Customers (shoppers): one account per (store, email); the same email in
//! two stores is two unrelated accounts. Registration (answered the same
//! whether or not the email has an account) and its confirmation, login and
//! logout, the profile, and password reset through a one-time token mailed
//! via the outbox.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use mercato_tenants::http::ApiJson;
use mercato_tenants::ApiError;
use serde::{Deserialize, Serialize};

use super::staff::LoginRequest;
use crate::accounts::auth::Customer;
use crate::accounts::login::{confirm_customer, merge_guest_cart};
use crate::accounts::model::{text, CustomerLogin, CustomerView};
use crate::accounts::rate_limit::ClientAddress;
use crate::accounts::registration::{self, Registration};
use crate::accounts::{
    login_customer, parse_email, parse_password, passwords, sessions, sql, LoginRejection,
};
use crate::cart::SentToken;
use crate::error::PodError;
use crate::state::AppState;
use crate::tenancy::TenantContext;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    #[schema(value_type = mercato_tenants::openapi::EmailAddress)]
    email: String,
    /// 10 to 128 characters, at least 5 of them different, not a common
    /// password (`422 weak_password`).
    #[schema(min_length = 10, max_length = 128)]
    password: String,
    /// At most 100 characters, no control characters (stored trimmed).
    #[schema(max_length = 100, pattern = r"^[^\u0000-\u001F\u007F-\u009F]*$")]
    first_name: Option<String>,
    /// At most 100 characters, no control characters (stored trimmed).
    #[schema(max_length = 100, pattern = r"^[^\u0000-\u001F\u007F-\u009F]*$")]
    last_name: Option<String>,
    accepts_marketing: Option<bool>,
}

/// Changes to the profile; absent fields stay as they are.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomerUpdate {
    /// At most 100 characters, no control characters (stored trimmed).
    #[schema(max_length = 100, pattern = r"^[^\u0000-\u001F\u007F-\u009F]*$")]
    first_name: Option<String>,
    /// At most 100 characters, no control characters (stored trimmed).
    #[schema(max_length = 100, pattern = r"^[^\u0000-\u001F\u007F-\u009F]*$")]
    last_name: Option<String>,
    /// At most 32 digits, spaces and `+-().` (stored trimmed).
    #[schema(max_length = 32, pattern = r"^[0-9 +().-]*$")]
    phone: Option<String>,
    accepts_marketing: Option<bool>,
}

/// The answer to every registration, whether or not the email had an
/// account: the mail tells the address's owner what to do next.
#[derive(Serialize, utoipa::ToSchema)]
pub struct RegistrationAccepted {
    /// Always `confirmation_sent`.
    status: &'static str,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfirmRequest {
    /// The token of the confirmation mail.
    token: String,
    /// The password chosen at registration.
    password: String,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetRequest {
    #[schema(value_type = mercato_tenants::openapi::EmailAddress)]
    pub(super) email: String,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetConfirm {
    pub(super) token: String,
    /// The new password: 10 to 128 characters, at least 5 of them
    /// different, not a common password (`422 weak_password`).
    #[schema(min_length = 10, max_length = 128)]
    pub(super) password: String,
}

/// Registers a customer. Always `202 {"status":"confirmation_sent"}` for
/// valid input, whether or not the email has an account: a new (or still
/// pending) account gets a `customer.confirmation_requested` mail, a
/// confirmed one a `customer.account_exists_notice` mail, and nothing else
/// changes. The account signs in once confirmed (`POST
/// /api/customers/confirm`).
#[utoipa::path(post, path = "/api/customers", tag = "customers",
    request_body = RegisterRequest,
    responses((status = 202, body = RegistrationAccepted),
        (status = 400, body = mercato_tenants::error::ErrorBody),
        (status = 422, body = mercato_tenants::error::ErrorBody),
        (status = 503, description = "overloaded: too many password hashes at once", body = mercato_tenants::error::ErrorBody)))]
pub(super) async fn register(
    State(state): State<AppState>,
    tenant: TenantContext,
    ApiJson(req): ApiJson<RegisterRequest>,
) -> Result<(StatusCode, Json<RegistrationAccepted>), PodError> {
    let registration = Registration {
        email: parse_email(&req.email)?,
        password: parse_password(&req.password)?,
        first_name: text("first_name", req.first_name, 100)?.unwrap_or_default(),
        last_name: text("last_name", req.last_name, 100)?.unwrap_or_default(),
        accepts_marketing: req.accepts_marketing.unwrap_or(false),
    };
    registration::register(&state, tenant.store_id, registration).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(RegistrationAccepted {
            status: "confirmation_sent",
        }),
    ))
}

/// Confirms a registration with the token of its mail and the password
/// chosen at registration, and signs the customer in (a guest cart sent
/// along is merged, as at login).
#[utoipa::path(post, path = "/api/customers/confirm", tag = "customers",
    request_body = ConfirmRequest,
    responses((status = 201, body = CustomerLogin),
        (status = 400, description = "invalid_token: unknown, used or expired", body = mercato_tenants::error::ErrorBody),
        (status = 401, description = "invalid_credentials: not the registration's password", body = mercato_tenants::error::ErrorBody)))]
pub(super) async fn confirm(
    State(state): State<AppState>,
    tenant: TenantContext,
    guest: SentToken,
    ApiJson(req): ApiJson<ConfirmRequest>,
) -> Result<(StatusCode, Json<CustomerLogin>), PodError> {
    let login = confirm_customer(&state, tenant.store_id, &req.token, req.password, guest).await?;
    Ok((StatusCode::CREATED, Json(login)))
}

/// Signs a customer in. Unknown email and wrong password get the same
/// `401 invalid_credentials`; repeated failures get `429` with `Retry-After`.
#[utoipa::path(post, path = "/api/customers/login", tag = "customers",
    request_body = LoginRequest,
    responses((status = 200, body = CustomerLogin),
        (status = 401, body = mercato_tenants::error::ErrorBody),
        (status = 429, body = mercato_tenants::error::ErrorBody)))]
pub(super) async fn login(
    State(state): State<AppState>,
    tenant: TenantContext,
    ClientAddress(address): ClientAddress,
    guest: SentToken,
    ApiJson(req): ApiJson<LoginRequest>,
) -> Result<Json<CustomerLogin>, LoginRejection> {
    let mut login =
        login_customer(&state, tenant.store_id, &req.email, req.password, &address).await?;
    merge_guest_cart(&state, tenant.store_id, guest, &mut login).await;
    Ok(Json(login))
}

/// Ends the session of the token.
#[utoipa::path(post, path = "/api/customers/logout", tag = "customers",
    responses((status = 204), (status = 401, body = mercato_tenants::error::ErrorBody)))]
pub(super) async fn logout(
    State(state): State<AppState>,
    tenant: TenantContext,
    customer: Customer,
) -> Result<StatusCode, PodError> {
    sessions::log_out(&state.db, tenant.store_id, &customer.claims).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The signed-in customer's profile.
#[utoipa::path(get, path = "/api/customers/me", tag = "customers",
    responses((status = 200, body = CustomerView), (status = 401, body = mercato_tenants::error::ErrorBody)))]
pub(super) async fn me(
    State(state): State<AppState>,
    tenant: TenantContext,
    customer: Customer,
) -> Result<Json<CustomerView>, PodError> {
    sql::customers::get(&state.db, tenant.store_id, customer.id)
        .await
        .map_err(PodError::internal)?
        .map(Json)
        .ok_or_else(|| ApiError::not_found("customer").into())
}

/// Changes the signed-in customer's profile.
#[utoipa::path(patch, path = "/api/customers/me", tag = "customers",
    request_body = CustomerUpdate,
    responses((status = 200, body = CustomerView), (status = 400, body = mercato_tenants::error::ErrorBody)))]
pub(super) async fn update_me(
    State(state): State<AppState>,
    tenant: TenantContext,
    customer: Customer,
    ApiJson(req): ApiJson<CustomerUpdate>,
) -> Result<Json<CustomerView>, PodError> {
    let updated = crate::accounts::update_profile(
        &state,
        tenant.store_id,
        customer.id,
        req.first_name,
        req.last_name,
        req.phone,
        req.accepts_marketing,
    )
    .await?;
    Ok(Json(updated))
}

/// Asks for a password-reset mail. Always `202`, whether or not the email
/// has an account; for an existing one, a `customer.password_reset_requested`
/// event carries a one-time token valid for an hour.
#[utoipa::path(post, path = "/api/customers/password-reset", tag = "customers",
    request_body = ResetRequest,
    responses((status = 202), (status = 400, body = mercato_tenants::error::ErrorBody)))]
pub(super) async fn request_password_reset(
    State(state): State<AppState>,
    tenant: TenantContext,
    ApiJson(req): ApiJson<ResetRequest>,
) -> Result<StatusCode, PodError> {
    let email = parse_email(&req.email)?;
    passwords::request(&state, tenant.store_id, &email).await?;
    Ok(StatusCode::ACCEPTED)
}

/// Sets a new password with a reset token (once), and signs the customer
/// out everywhere.
#[utoipa::path(post, path = "/api/customers/password-reset/confirm", tag = "customers",
    request_body = ResetConfirm,
    responses((status = 204),
        (status = 400, description = "invalid_token: unknown, used or expired", body = mercato_tenants::error::ErrorBody),
        (status = 422, body = mercato_tenants::error::ErrorBody)))]
pub(super) async fn confirm_password_reset(
    State(state): State<AppState>,
    tenant: TenantContext,
    ApiJson(req): ApiJson<ResetConfirm>,
) -> Result<StatusCode, PodError> {
    let password = parse_password(&req.password)?;
    passwords::reset(&state, tenant.store_id, &req.token, password).await?;
    Ok(StatusCode::NO_CONTENT)
}
