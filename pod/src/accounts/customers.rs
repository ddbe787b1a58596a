//! Customers (shoppers): one account per (store, email); the same email in
//! two stores is two unrelated accounts. Registration, login and logout,
//! the profile, and password reset through a one-time token mailed via the
//! outbox.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use mercato_tenants::events::{Event, PasswordResetRequested};
use mercato_tenants::http::ApiJson;
use mercato_tenants::{ApiError, CustomerId, Email, ErrorCode, StoreId};
use serde::{Deserialize, Serialize};
use sqlx::{PgPool, Postgres, Transaction};
use uuid::Uuid;

use super::auth::Customer;
use super::rate_limit::ClientAddress;
use super::sessions::{self, Subject};
use super::staff::LoginRequest;
use super::{check_login, parse_email, parse_password, secrets, start_login, LoginRejection};
use crate::cart::SentToken;
use crate::error::PodError;
use crate::events;
use crate::state::AppState;
use crate::tenancy::{begin_write, TenantContext};

/// How long a password-reset token works.
const RESET_TTL_SECS: i64 = 3600;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    email: String,
    password: String,
    first_name: Option<String>,
    last_name: Option<String>,
    accepts_marketing: Option<bool>,
}

/// A customer's own profile.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CustomerView {
    pub id: CustomerId,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub phone: String,
    pub accepts_marketing: bool,
    pub created_at: DateTime<Utc>,
}

/// A customer session: the token and the profile.
#[derive(Serialize, utoipa::ToSchema)]
pub struct CustomerLogin {
    pub token: String,
    /// Unix seconds.
    pub expires_at: i64,
    pub customer: CustomerView,
    /// The customer's cart after the guest cart sent with the login (in
    /// `X-Cart-Token` or the `mercato_cart` cookie) was merged into it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cart: Option<crate::cart::Cart>,
}

/// Changes to the profile; absent fields stay as they are.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomerUpdate {
    first_name: Option<String>,
    last_name: Option<String>,
    phone: Option<String>,
    accepts_marketing: Option<bool>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetRequest {
    email: String,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetConfirm {
    token: String,
    password: String,
}

/// A profile text field: trimmed, at most `max` characters.
fn text(field: &str, value: Option<String>, max: usize) -> Result<Option<String>, ApiError> {
    match value {
        None => Ok(None),
        Some(v) => {
            let v = v.trim().to_owned();
            if v.chars().count() > max || v.chars().any(char::is_control) {
                Err(ApiError::invalid(format!(
                    "{field} must be at most {max} printable characters"
                )))
            } else {
                Ok(Some(v))
            }
        }
    }
}

/// A phone number: digits, spaces and `+-().`, at most 32 characters.
pub(super) fn phone(value: Option<String>) -> Result<Option<String>, ApiError> {
    let value = text("phone", value, 32)?;
    if let Some(p) = &value {
        if !p
            .chars()
            .all(|c| c.is_ascii_digit() || " +-().".contains(c))
        {
            return Err(ApiError::invalid(
                "phone may hold digits, spaces and + - ( ) . only",
            ));
        }
    }
    Ok(value)
}

const SELECT_CUSTOMER: &str =
    "SELECT id, email, first_name, last_name, phone, accepts_marketing, created_at FROM customers";

type CustomerRow = (Uuid, String, String, String, String, bool, DateTime<Utc>);

fn view(
    (id, email, first_name, last_name, phone, accepts_marketing, created_at): CustomerRow,
) -> CustomerView {
    CustomerView {
        id: CustomerId::from_uuid(id),
        email,
        first_name,
        last_name,
        phone,
        accepts_marketing,
        created_at,
    }
}

async fn get<'e>(
    exec: impl sqlx::PgExecutor<'e>,
    store: StoreId,
    id: CustomerId,
) -> Result<Option<CustomerView>, PodError> {
    let row: Option<CustomerRow> = sqlx::query_as(&format!(
        "{SELECT_CUSTOMER} WHERE store_id = $1 AND id = $2"
    ))
    .bind(store.as_uuid())
    .bind(id.as_uuid())
    .fetch_optional(exec)
    .await
    .map_err(PodError::internal)?;
    Ok(row.map(view))
}

async fn find_by_email(
    db: &PgPool,
    store: StoreId,
    email: &Email,
) -> Result<Option<(CustomerView, String)>, PodError> {
    type WithHash = (
        Uuid,
        String,
        String,
        String,
        String,
        bool,
        DateTime<Utc>,
        String,
    );
    let row: Option<WithHash> =
        sqlx::query_as(
            "SELECT id, email, first_name, last_name, phone, accepts_marketing, created_at, password_hash
             FROM customers WHERE store_id = $1 AND email = $2",
        )
        .bind(store.as_uuid())
        .bind(email.as_str())
        .fetch_optional(db)
        .await
        .map_err(PodError::internal)?;
    Ok(row.map(|(id, email, f, l, p, m, c, hash)| (view((id, email, f, l, p, m, c)), hash)))
}

async fn open_session(
    state: &AppState,
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    customer: CustomerView,
) -> Result<CustomerLogin, PodError> {
    let token = sessions::open(
        state,
        tx,
        store,
        Subject::Customer(customer.id.as_uuid()),
        state.config.accounts.customer_token_ttl_secs,
    )
    .await?;
    Ok(CustomerLogin {
        token: token.token,
        expires_at: token.expires_at,
        customer,
        cart: None,
    })
}

/// Creates an account and signs it in. `409 email_taken` if the email has
/// an account in this store.
#[utoipa::path(post, path = "/api/customers", tag = "customers",
    request_body = RegisterRequest,
    responses((status = 201, body = CustomerLogin),
        (status = 400, body = mercato_tenants::error::ErrorBody),
        (status = 409, body = mercato_tenants::error::ErrorBody),
        (status = 422, body = mercato_tenants::error::ErrorBody)))]
pub(super) async fn register(
    State(state): State<AppState>,
    tenant: TenantContext,
    guest: SentToken,
    ApiJson(req): ApiJson<RegisterRequest>,
) -> Result<(StatusCode, Json<CustomerLogin>), PodError> {
    let store = tenant.store_id;
    let email = parse_email(&req.email)?;
    let password = parse_password(&req.password)?;
    let first_name = text("first_name", req.first_name, 100)?.unwrap_or_default();
    let last_name = text("last_name", req.last_name, 100)?.unwrap_or_default();
    let hash = secrets::hash_password(password).await?;
    let id = CustomerId::new();
    let mut tx = begin_write(&state.db, store).await?;
    let row: CustomerRow = sqlx::query_as(
        "INSERT INTO customers (store_id, id, email, password_hash, first_name, last_name, accepts_marketing)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         RETURNING id, email, first_name, last_name, phone, accepts_marketing, created_at",
    )
    .bind(store.as_uuid())
    .bind(id.as_uuid())
    .bind(email.as_str())
    .bind(&hash)
    .bind(&first_name)
    .bind(&last_name)
    .bind(req.accepts_marketing.unwrap_or(false))
    .fetch_one(&mut *tx)
    .await?;
    let mut login = open_session(&state, &mut tx, store, view(row)).await?;
    tx.commit().await.map_err(PodError::internal)?;
    merge_guest_cart(&state, store, guest, &mut login).await;
    Ok((StatusCode::CREATED, Json(login)))
}

/// The login of a customer: rate limit, password check, a new session.
/// Other steps of a login (such as merging a guest cart) extend this.
pub async fn login_customer(
    state: &AppState,
    store: StoreId,
    email: &str,
    password: String,
    client_address: &str,
) -> Result<CustomerLogin, LoginRejection> {
    let (email, attempt) = start_login(state, store, "customer", email, client_address).await?;
    let found = find_by_email(&state.db, store, &email).await?;
    let customer = check_login(state, &attempt, password, found).await?;
    let mut tx = begin_write(&state.db, store).await?;
    let login = open_session(state, &mut tx, store, customer).await?;
    tx.commit().await.map_err(PodError::internal)?;
    Ok(login)
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

/// Merges the guest cart a shopper brought to a login or a registration
/// into the customer's cart. The login stands even if there is nothing to
/// merge (no token, an unknown or already merged cart): it is logged.
async fn merge_guest_cart(
    state: &AppState,
    store: StoreId,
    guest: SentToken,
    login: &mut CustomerLogin,
) {
    let Some(token) = guest.0 else { return };
    match crate::cart::merge_on_login(state, store, &token, login.customer.id).await {
        Ok(cart) => login.cart = Some(cart),
        Err(e) => tracing::info!(error = %e, "guest cart not merged"),
    }
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
    get(&state.db, tenant.store_id, customer.id)
        .await?
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
    let first_name = text("first_name", req.first_name, 100)?;
    let last_name = text("last_name", req.last_name, 100)?;
    let phone = phone(req.phone)?;
    let mut tx = begin_write(&state.db, tenant.store_id).await?;
    let row: Option<CustomerRow> = sqlx::query_as(
        "UPDATE customers SET
            first_name = COALESCE($3, first_name),
            last_name = COALESCE($4, last_name),
            phone = COALESCE($5, phone),
            accepts_marketing = COALESCE($6, accepts_marketing),
            updated_at = now()
         WHERE store_id = $1 AND id = $2
         RETURNING id, email, first_name, last_name, phone, accepts_marketing, created_at",
    )
    .bind(tenant.store_id.as_uuid())
    .bind(customer.id.as_uuid())
    .bind(first_name)
    .bind(last_name)
    .bind(phone)
    .bind(req.accepts_marketing)
    .fetch_optional(&mut *tx)
    .await?;
    let updated = row
        .map(view)
        .ok_or_else(|| ApiError::not_found("customer"))?;
    tx.commit().await.map_err(PodError::internal)?;
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
    let store = tenant.store_id;
    let email = parse_email(&req.email)?;
    let mut tx = begin_write(&state.db, store).await?;
    let customer: Option<(Uuid,)> =
        sqlx::query_as("SELECT id FROM customers WHERE store_id = $1 AND email = $2")
            .bind(store.as_uuid())
            .bind(email.as_str())
            .fetch_optional(&mut *tx)
            .await
            .map_err(PodError::internal)?;
    if let Some((customer,)) = customer {
        let token = secrets::random_token();
        let expires_at = Utc::now() + chrono::Duration::seconds(RESET_TTL_SECS);
        sqlx::query(
            "INSERT INTO customer_password_resets (store_id, id, customer_id, token_sha256, expires_at)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(store.as_uuid())
        .bind(Uuid::now_v7())
        .bind(customer)
        .bind(secrets::sha256_hex(&token))
        .bind(expires_at)
        .execute(&mut *tx)
        .await
        .map_err(PodError::internal)?;
        let requested = PasswordResetRequested {
            customer_id: CustomerId::from_uuid(customer),
            email: email.as_str().to_owned(),
            token,
            expires_at,
        };
        events::record(&mut tx, store, &Event::PasswordResetRequested(requested))
            .await
            .map_err(PodError::internal)?;
    }
    tx.commit().await.map_err(PodError::internal)?;
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
    let store = tenant.store_id;
    let password = parse_password(&req.password)?;
    let hash = secrets::hash_password(password).await?;
    let mut tx = begin_write(&state.db, store).await?;
    let reset: Option<(Uuid, Uuid)> = sqlx::query_as(
        "SELECT id, customer_id FROM customer_password_resets
         WHERE store_id = $1 AND token_sha256 = $2 AND used_at IS NULL AND expires_at > now()
         FOR UPDATE",
    )
    .bind(store.as_uuid())
    .bind(secrets::sha256_hex(req.token.trim()))
    .fetch_optional(&mut *tx)
    .await
    .map_err(PodError::internal)?;
    let (reset, customer) = reset.ok_or_else(|| {
        ApiError::new(
            ErrorCode::InvalidToken,
            "this reset token is unknown, used or expired",
        )
    })?;
    sqlx::query(
        "UPDATE customer_password_resets SET used_at = now() WHERE store_id = $1 AND id = $2",
    )
    .bind(store.as_uuid())
    .bind(reset)
    .execute(&mut *tx)
    .await
    .map_err(PodError::internal)?;
    sqlx::query(
        "UPDATE customers SET password_hash = $3, updated_at = now() WHERE store_id = $1 AND id = $2",
    )
    .bind(store.as_uuid())
    .bind(customer)
    .bind(&hash)
    .execute(&mut *tx)
    .await
    .map_err(PodError::internal)?;
    sessions::revoke_all(&mut *tx, store, Subject::Customer(customer))
        .await
        .map_err(PodError::internal)?;
    tx.commit().await.map_err(PodError::internal)?;
    Ok(StatusCode::NO_CONTENT)
}

/// The email address of a customer of the store, if the account exists.
pub async fn email_of<'e>(
    exec: impl sqlx::PgExecutor<'e>,
    store: StoreId,
    customer: CustomerId,
) -> Result<Option<String>, sqlx::Error> {
    let row: Option<(String,)> =
        sqlx::query_as("SELECT email FROM customers WHERE store_id = $1 AND id = $2")
            .bind(store.as_uuid())
            .bind(customer.as_uuid())
            .fetch_optional(exec)
            .await?;
    Ok(row.map(|(e,)| e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profile_fields_are_trimmed_and_bounded() {
        assert_eq!(
            text("first_name", Some("  Ada ".into()), 100).expect("ok"),
            Some("Ada".into())
        );
        assert!(text("first_name", Some("x".repeat(101)), 100).is_err());
        assert!(text("first_name", Some("a\u{0}b".into()), 100).is_err());
        assert_eq!(
            phone(Some("+44 (20) 7946-0958".into())).expect("ok"),
            Some("+44 (20) 7946-0958".into())
        );
        assert!(phone(Some("call me".into())).is_err());
    }
}
