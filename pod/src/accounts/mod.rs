//! Accounts: who may act in a store.
//!
//! - staff of a store ([`staff`]): logins, invitations, removal; the owner
//!   account is made when the store is hosted ([`create_owner`]);
//! - API keys for integrations ([`api_keys`]), a non-owner staff credential;
//! - customers (shoppers) with their addresses and password resets
//!   ([`customers`], [`addresses`]): one account per (store, email);
//! - login sessions ([`sessions`]): tokens carry a session id, logout
//!   revokes it;
//! - login rate limits ([`rate_limit`]), a pure decision over counters in
//!   Redis (or in process while Redis is down).
//!
//! Passwords are argon2id, hashed off the runtime; one-time tokens and API
//! keys are random and stored as sha256 only ([`secrets`]).

pub mod addresses;
pub mod api_keys;
pub mod auth;
pub mod customers;
pub mod rate_limit;
pub mod secrets;
pub mod sessions;
pub mod staff;

use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use mercato_tenants::{ApiError, Email, ErrorCode, Password, StoreId};
use sqlx::{Postgres, Transaction};
use utoipa::OpenApi as _;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use customers::{login_customer, CustomerLogin};
pub use sessions::IssuedToken;

use crate::error::PodError;
use crate::state::AppState;

/// The accounts API (staff, API keys, customers and their addresses), each
/// route registered once with its OpenAPI description.
pub fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(Extra::openapi())
        .routes(routes!(staff::login))
        .routes(routes!(staff::logout))
        .routes(routes!(staff::list))
        .routes(routes!(staff::remove))
        .routes(routes!(staff::invite))
        .routes(routes!(staff::accept))
        .routes(routes!(api_keys::list, api_keys::create))
        .routes(routes!(api_keys::revoke))
        .routes(routes!(customers::register))
        .routes(routes!(customers::login))
        .routes(routes!(customers::logout))
        .routes(routes!(customers::me, customers::update_me))
        .routes(routes!(customers::request_password_reset))
        .routes(routes!(customers::confirm_password_reset))
        .routes(routes!(addresses::list, addresses::create))
        .routes(routes!(addresses::update, addresses::remove))
}

/// Schemas the document lists though no route's signature reaches them (the
/// token that logins carry); `routes!` collects the rest from the handlers.
#[derive(utoipa::OpenApi)]
#[openapi(components(schemas(IssuedToken)))]
struct Extra;

/// A staff member's rights in the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StaffRole {
    /// The merchant who signed up: manages staff and API keys.
    Owner,
    Staff,
}

impl StaffRole {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Owner => "owner",
            Self::Staff => "staff",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "owner" => Some(Self::Owner),
            "staff" => Some(Self::Staff),
            _ => None,
        }
    }
}

/// Parses an email at the edge: `400 invalid_email`.
pub fn parse_email(raw: &str) -> Result<Email, ApiError> {
    Email::parse(raw).map_err(|m| ApiError::new(ErrorCode::InvalidEmail, m))
}

/// Parses a new password against the policy: `422 weak_password`.
pub fn parse_password(raw: &str) -> Result<Password, ApiError> {
    Password::parse(raw).map_err(|m| ApiError::new(ErrorCode::WeakPassword, m))
}

/// Why a login was refused. `Limited` carries the `Retry-After` seconds.
#[derive(Debug)]
pub enum LoginRejection {
    Error(ApiError),
    Limited { retry_after_secs: u64 },
}

impl From<ApiError> for LoginRejection {
    fn from(e: ApiError) -> Self {
        Self::Error(e)
    }
}

impl From<PodError> for LoginRejection {
    fn from(e: PodError) -> Self {
        Self::Error(e.into_api())
    }
}

impl IntoResponse for LoginRejection {
    fn into_response(self) -> Response {
        match self {
            Self::Error(e) => e.into_response(),
            Self::Limited { retry_after_secs } => {
                let mut response = ApiError::new(
                    ErrorCode::RateLimited,
                    format!("too many failed logins; try again in {retry_after_secs} seconds"),
                )
                .into_response();
                if let Ok(v) = HeaderValue::from_str(&retry_after_secs.to_string()) {
                    response.headers_mut().insert("retry-after", v);
                }
                response
            }
        }
    }
}

/// The answer to every failed login, whatever the reason: it does not tell
/// whether the email has an account.
pub fn invalid_credentials() -> ApiError {
    ApiError::new(
        ErrorCode::InvalidCredentials,
        "the email or password is not correct",
    )
}

/// Longest password accepted at login (longer is refused before hashing).
const MAX_LOGIN_PASSWORD: usize = 1024;

/// The guarded part of every login, after `start_login` applied the rate
/// limit: one argon2 verification (against a dummy hash when `account` is
/// `None`), then the counters. Returns the account's value when the
/// password matches.
pub async fn check_login<T>(
    state: &AppState,
    attempt: &rate_limit::Attempt,
    password: String,
    account: Option<(T, String)>,
) -> Result<T, LoginRejection> {
    if password.len() > MAX_LOGIN_PASSWORD {
        return Err(ApiError::invalid("password is too long").into());
    }
    let (value, hash) = match account {
        Some((v, h)) => (Some(v), Some(h)),
        None => (None, None),
    };
    if secrets::verify_password(password, hash).await? {
        if let Some(v) = value {
            rate_limit::record_success(state, attempt).await;
            return Ok(v);
        }
    }
    rate_limit::record_failure(state, attempt).await;
    Err(invalid_credentials().into())
}

/// Refuses the attempt with `429` if a counter is over its limit.
pub async fn enforce_limit(
    state: &AppState,
    attempt: &rate_limit::Attempt,
) -> Result<(), LoginRejection> {
    match rate_limit::check(state, attempt).await {
        rate_limit::Decision::Allow => Ok(()),
        rate_limit::Decision::Block { retry_after_secs } => {
            Err(LoginRejection::Limited { retry_after_secs })
        }
    }
}

/// The front of every login: the email parsed, and the attempt it counts
/// against for `kind` of account, refused by [`enforce_limit`] when over
/// the limit.
pub async fn start_login(
    state: &AppState,
    store: StoreId,
    kind: &str,
    email: &str,
    client_address: &str,
) -> Result<(Email, rate_limit::Attempt), LoginRejection> {
    let email = parse_email(email)?;
    let attempt = rate_limit::Attempt::new(store, kind, email.as_str(), client_address);
    enforce_limit(state, &attempt).await?;
    Ok((email, attempt))
}

/// The owner account of a store being hosted, made in the hosting
/// transaction, with a first session. Returns the owner's token.
pub async fn create_owner(
    state: &AppState,
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    email: &Email,
    password_hash: &str,
) -> Result<(mercato_tenants::StaffId, IssuedToken), PodError> {
    let id = staff::insert(tx, store, email, password_hash, StaffRole::Owner).await?;
    let token = sessions::open(
        state,
        tx,
        store,
        sessions::Subject::Staff(id.as_uuid()),
        state.config.accounts.staff_token_ttl_secs,
    )
    .await?;
    Ok((id, token))
}

/// Forgets the accounts of a store that never went live (a failed
/// creation): staff, invitations, API keys and sessions.
pub async fn forget_store(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
) -> Result<(), sqlx::Error> {
    for table in [
        "sessions",
        "staff_invitations",
        "api_keys",
        "staff",
        "customer_password_resets",
        "customer_addresses",
        "customers",
    ] {
        sqlx::query(&format!("DELETE FROM {table} WHERE store_id = $1"))
            .bind(store.as_uuid())
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_account_route_is_documented() {
        let doc = api().into_openapi();
        for path in [
            "/admin/api/login",
            "/admin/api/logout",
            "/admin/api/staff",
            "/admin/api/staff/{id}",
            "/admin/api/staff/invitations",
            "/admin/api/staff/invitations/accept",
            "/admin/api/api-keys",
            "/admin/api/api-keys/{id}",
            "/api/customers",
            "/api/customers/login",
            "/api/customers/logout",
            "/api/customers/me",
            "/api/customers/password-reset",
            "/api/customers/password-reset/confirm",
            "/api/customers/me/addresses",
            "/api/customers/me/addresses/{id}",
        ] {
            assert!(doc.paths.paths.contains_key(path), "{path} undocumented");
        }
    }

    #[test]
    fn roles_round_trip() {
        for role in [StaffRole::Owner, StaffRole::Staff] {
            assert_eq!(StaffRole::parse(role.as_str()), Some(role));
        }
        assert_eq!(StaffRole::parse("admin"), None);
    }
}
