//! Cart endpoints for shoppers, under `/api/cart`.
//!
//! A request with a customer token works on the customer's cart (a cart
//! token, if also sent, is ignored, except by `/api/cart/merge`); any other
//! request names a guest cart by its token, in the `X-Cart-Token` header or
//! the `mercato_cart` cookie.

use axum::extract::State;
use axum::http::header::SET_COOKIE;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use mercato_tenants::http::{ApiJson, ApiPath};
use mercato_tenants::{ApiError, ErrorCode, VariantId};
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::accounts::auth::{Customer, MaybeCustomer};
use crate::cart::sent::{SentToken, TOKEN_COOKIE};
use crate::cart::{CartRef, CartToken, Change};
use crate::error::PodError;
use crate::state::AppState;
use crate::tenancy::TenantContext;

/// The cart API, each route registered with its OpenAPI description.
pub fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::default()
        .routes(routes!(get_cart, create_cart))
        .routes(routes!(add_line, clear_lines))
        .routes(routes!(set_line, remove_line))
        .routes(routes!(merge))
        .routes(routes!(set_email))
        .routes(routes!(restore))
        .routes(routes!(add_discount_code))
        .routes(routes!(remove_discount_code))
}

/// Which cart the request is about: the customer's, else the token's.
pub fn addressed(customer: MaybeCustomer, token: SentToken) -> Result<CartRef, ApiError> {
    match (customer.0, token.0) {
        (Some(c), _) => Ok(CartRef::Customer(c.id)),
        (None, Some(raw)) => Ok(CartRef::Guest(CartToken::parse(&raw)?)),
        (None, None) => Err(ApiError::new(
            ErrorCode::InvalidCartToken,
            "send the cart token in X-Cart-Token (create a cart with POST /api/cart), \
             or a customer token",
        )),
    }
}

/// Applies `change` to the cart the request addresses.
async fn apply(
    state: &AppState,
    tenant: &TenantContext,
    customer: MaybeCustomer,
    token: SentToken,
    change: Change,
) -> Result<Json<crate::cart::Cart>, PodError> {
    let cart = addressed(customer, token)?;
    crate::cart::change(state, tenant.store_id, tenant.currency, &cart, change)
        .await
        .map(Json)
}

/// A new cart and, for a guest, the token that opens it (shown only once).
#[derive(Serialize, utoipa::ToSchema)]
pub struct CartCreated {
    /// Send it back in `X-Cart-Token` (or the `mercato_cart` cookie, which
    /// this response sets). Null for a customer, whose token suffices.
    token: Option<String>,
    cart: crate::cart::Cart,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddLine {
    /// The variant to add.
    #[schema(format = Uuid)]
    variant_id: String,
    /// Units to add (to the existing line of the same variant, if any);
    /// at least 1, and a line holds at most 99 (the default limit).
    #[schema(minimum = 1, maximum = 99)]
    quantity: i64,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetLine {
    /// The line's new quantity, at most 99 (the default limit); 0 removes
    /// the line.
    #[schema(minimum = 0, maximum = 99)]
    quantity: i64,
}

/// Shows the cart, each line checked against the catalog and stock now.
#[utoipa::path(get, path = "/api/cart", tag = "cart",
    params(("X-Cart-Token" = Option<String>, Header, description = "a guest's cart token", pattern = r"^ct_[0-9a-fA-F]{32}_[0-9a-f]{64}$")),
    responses((status = 200, body = crate::cart::Cart),
        (status = 400, description = "invalid_cart_token", body = mercato_tenants::error::ErrorBody),
        (status = 404, description = "no such cart", body = mercato_tenants::error::ErrorBody)))]
async fn get_cart(
    State(state): State<AppState>,
    tenant: TenantContext,
    customer: MaybeCustomer,
    token: SentToken,
) -> Result<Json<crate::cart::Cart>, PodError> {
    let cart = addressed(customer, token)?;
    crate::cart::read(&state, tenant.store_id, tenant.currency, &cart)
        .await
        .map(Json)
}

/// Creates a guest cart (201, with its token); a customer gets their
/// active cart (200, created if needed).
#[utoipa::path(post, path = "/api/cart", tag = "cart",
    responses((status = 201, body = CartCreated), (status = 200, body = CartCreated)))]
async fn create_cart(
    State(state): State<AppState>,
    tenant: TenantContext,
    customer: MaybeCustomer,
) -> Result<Response, PodError> {
    if let Some(customer) = customer.0 {
        let cart = crate::cart::read(
            &state,
            tenant.store_id,
            tenant.currency,
            &CartRef::Customer(customer.id),
        )
        .await?;
        return Ok(Json(CartCreated { token: None, cart }).into_response());
    }
    let (token, cart) = crate::cart::create_guest(&state, tenant.store_id, tenant.currency).await?;
    Ok(guest_cart_created(&state, token, cart))
}

/// Adds units of a variant (to its existing line, if any) at its current
/// price.
#[utoipa::path(post, path = "/api/cart/lines", tag = "cart",
    params(("X-Cart-Token" = Option<String>, Header, description = "a guest's cart token", pattern = r"^ct_[0-9a-fA-F]{32}_[0-9a-f]{64}$")),
    request_body = AddLine,
    responses((status = 200, body = crate::cart::Cart),
        (status = 400, description = "invalid_quantity, invalid_id, invalid_cart_token", body = mercato_tenants::error::ErrorBody),
        (status = 404, description = "no such cart", body = mercato_tenants::error::ErrorBody),
        (status = 422, description = "unknown_variant, variant_unavailable, line_limit_exceeded", body = mercato_tenants::error::ErrorBody)))]
async fn add_line(
    State(state): State<AppState>,
    tenant: TenantContext,
    customer: MaybeCustomer,
    token: SentToken,
    ApiJson(body): ApiJson<AddLine>,
) -> Result<Json<crate::cart::Cart>, PodError> {
    let variant: VariantId = body
        .variant_id
        .parse()
        .map_err(|e| ApiError::new(ErrorCode::InvalidId, format!("variant_id: {e}")))?;
    let change = Change::Add {
        variant,
        quantity: body.quantity,
    };
    apply(&state, &tenant, customer, token, change).await
}

/// Sets the quantity of a line; 0 removes it. The line keeps the price the
/// shopper saw; raising the quantity needs a variant still for sale.
#[utoipa::path(patch, path = "/api/cart/lines/{variant_id}", tag = "cart",
    params(("variant_id" = VariantId, Path, description = "the line's variant"),
        ("X-Cart-Token" = Option<String>, Header, description = "a guest's cart token", pattern = r"^ct_[0-9a-fA-F]{32}_[0-9a-f]{64}$")),
    request_body = SetLine,
    responses((status = 200, body = crate::cart::Cart),
        (status = 400, description = "invalid_quantity (below 0), invalid_id", body = mercato_tenants::error::ErrorBody),
        (status = 404, description = "no such cart or line", body = mercato_tenants::error::ErrorBody),
        (status = 422, description = "line_limit_exceeded, unknown_variant, variant_unavailable", body = mercato_tenants::error::ErrorBody)))]
async fn set_line(
    State(state): State<AppState>,
    tenant: TenantContext,
    customer: MaybeCustomer,
    token: SentToken,
    ApiPath(variant): ApiPath<VariantId>,
    ApiJson(body): ApiJson<SetLine>,
) -> Result<Json<crate::cart::Cart>, PodError> {
    let change = Change::Set {
        variant,
        quantity: body.quantity,
    };
    apply(&state, &tenant, customer, token, change).await
}

/// Removes a line.
#[utoipa::path(delete, path = "/api/cart/lines/{variant_id}", tag = "cart",
    params(("variant_id" = VariantId, Path, description = "the line's variant"),
        ("X-Cart-Token" = Option<String>, Header, description = "a guest's cart token", pattern = r"^ct_[0-9a-fA-F]{32}_[0-9a-f]{64}$")),
    responses((status = 200, body = crate::cart::Cart),
        (status = 404, description = "no such cart or line", body = mercato_tenants::error::ErrorBody)))]
async fn remove_line(
    State(state): State<AppState>,
    tenant: TenantContext,
    customer: MaybeCustomer,
    token: SentToken,
    ApiPath(variant): ApiPath<VariantId>,
) -> Result<Json<crate::cart::Cart>, PodError> {
    apply(&state, &tenant, customer, token, Change::Remove { variant }).await
}

/// Removes every line.
#[utoipa::path(delete, path = "/api/cart/lines", tag = "cart",
    params(("X-Cart-Token" = Option<String>, Header, description = "a guest's cart token", pattern = r"^ct_[0-9a-fA-F]{32}_[0-9a-f]{64}$")),
    responses((status = 200, body = crate::cart::Cart),
        (status = 404, description = "no such cart", body = mercato_tenants::error::ErrorBody)))]
async fn clear_lines(
    State(state): State<AppState>,
    tenant: TenantContext,
    customer: MaybeCustomer,
    token: SentToken,
) -> Result<Json<crate::cart::Cart>, PodError> {
    apply(&state, &tenant, customer, token, Change::Clear).await
}

/// Moves the guest cart named by `X-Cart-Token` into the signed-in
/// customer's cart; the guest token then gets 404.
#[utoipa::path(post, path = "/api/cart/merge", tag = "cart",
    params(("X-Cart-Token" = String, Header, description = "the guest cart's token", pattern = r"^ct_[0-9a-fA-F]{32}_[0-9a-f]{64}$")),
    responses((status = 200, body = crate::cart::Cart),
        (status = 400, description = "invalid_cart_token", body = mercato_tenants::error::ErrorBody),
        (status = 401, description = "no customer token", body = mercato_tenants::error::ErrorBody),
        (status = 404, description = "no such guest cart, or already merged", body = mercato_tenants::error::ErrorBody)))]
async fn merge(
    State(state): State<AppState>,
    tenant: TenantContext,
    customer: Customer,
    token: SentToken,
) -> Result<Json<crate::cart::Cart>, PodError> {
    let raw = token.0.ok_or_else(|| {
        ApiError::new(
            ErrorCode::InvalidCartToken,
            "send the guest cart's token in X-Cart-Token",
        )
    })?;
    crate::cart::merge_on_login(&state, tenant.store_id, &raw, customer.id)
        .await
        .map(Json)
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddDiscountCode {
    /// A discount code of the store, 3 to 64 letters, digits, `-` or `_`
    /// (matched without case).
    #[schema(pattern = r"^[A-Za-z0-9_-]{3,64}$")]
    code: String,
}

fn code_key(raw: &str) -> Result<crate::discounts::input::CodeKey, ApiError> {
    crate::discounts::input::CodeKey::parse(raw)
        .map_err(|e| ApiError::new(ErrorCode::InvalidRequest, format!("code: {e}")))
}

/// Enters a discount code. The code must belong to an active discount of
/// the store (else `422 unknown_discount_code`); a cart holds at most 5.
/// Whether it applies now, and why not (expired, minimum not met, used up,
/// not combinable...), is in the cart's `discounts`.
#[utoipa::path(post, path = "/api/cart/discount-codes", tag = "cart",
    params(("X-Cart-Token" = Option<String>, Header, description = "a guest's cart token", pattern = r"^ct_[0-9a-fA-F]{32}_[0-9a-f]{64}$")),
    request_body = AddDiscountCode,
    responses((status = 200, body = crate::cart::Cart),
        (status = 400, description = "invalid_request, invalid_cart_token", body = mercato_tenants::error::ErrorBody),
        (status = 404, description = "no such cart", body = mercato_tenants::error::ErrorBody),
        (status = 422, description = "unknown_discount_code, discount_code_limit", body = mercato_tenants::error::ErrorBody)))]
async fn add_discount_code(
    State(state): State<AppState>,
    tenant: TenantContext,
    customer: MaybeCustomer,
    token: SentToken,
    ApiJson(body): ApiJson<AddDiscountCode>,
) -> Result<Json<crate::cart::Cart>, PodError> {
    let cart = addressed(customer, token)?;
    let change = crate::cart::CodeChange::Add(code_key(&body.code)?);
    crate::cart::change_codes(&state, tenant.store_id, tenant.currency, &cart, change)
        .await
        .map(Json)
}

/// Removes a discount code from the cart.
#[utoipa::path(delete, path = "/api/cart/discount-codes/{code}", tag = "cart",
    params(("code" = String, Path, description = "the code (any case)", pattern = r"^[A-Za-z0-9_-]{3,64}$"),
        ("X-Cart-Token" = Option<String>, Header, description = "a guest's cart token", pattern = r"^ct_[0-9a-fA-F]{32}_[0-9a-f]{64}$")),
    responses((status = 200, body = crate::cart::Cart),
        (status = 400, description = "invalid_request, invalid_cart_token", body = mercato_tenants::error::ErrorBody),
        (status = 404, description = "no such cart, or the code is not in it", body = mercato_tenants::error::ErrorBody)))]
async fn remove_discount_code(
    State(state): State<AppState>,
    tenant: TenantContext,
    customer: MaybeCustomer,
    token: SentToken,
    ApiPath(code): ApiPath<String>,
) -> Result<Json<crate::cart::Cart>, PodError> {
    let cart = addressed(customer, token)?;
    let change = crate::cart::CodeChange::Remove(code_key(&code)?);
    crate::cart::change_codes(&state, tenant.store_id, tenant.currency, &cart, change)
        .await
        .map(Json)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_endpoint_is_documented() {
        let doc = api().into_openapi();
        let paths: Vec<&str> = doc.paths.paths.keys().map(String::as_str).collect();
        assert_eq!(
            paths,
            vec![
                "/api/cart",
                "/api/cart/discount-codes",
                "/api/cart/discount-codes/{code}",
                "/api/cart/email",
                "/api/cart/lines",
                "/api/cart/lines/{variant_id}",
                "/api/cart/merge",
                "/api/cart/restore"
            ]
        );
        let json = serde_json::to_value(&doc).expect("json");
        for schema in [
            "Cart",
            "CartLine",
            "LineIssue",
            "CartCreated",
            "AddLine",
            "SetLine",
            "CartEmail",
            "RestoreCart",
        ] {
            assert!(
                json["components"]["schemas"][schema].is_object(),
                "{schema}"
            );
        }
    }
}

/// The address a guest's cart may be reminded at.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CartEmail {
    #[schema(value_type = mercato_tenants::openapi::EmailAddress)]
    email: String,
}

/// Gives a guest's cart an email address: if the store sends
/// abandoned-cart reminders, a cart left untouched is reminded there once
/// per idle spell. A customer's cart uses the account's address.
#[utoipa::path(put, path = "/api/cart/email", tag = "cart",
    params(("X-Cart-Token" = Option<String>, Header, description = "a guest's cart token", pattern = r"^ct_[0-9a-fA-F]{32}_[0-9a-f]{64}$")),
    request_body = CartEmail,
    responses((status = 204, description = "saved"),
        (status = 400, description = "invalid_email, invalid_cart_token", body = mercato_tenants::error::ErrorBody),
        (status = 404, description = "no such cart", body = mercato_tenants::error::ErrorBody),
        (status = 409, description = "conflict: a customer's cart, reminded at the account's address", body = mercato_tenants::error::ErrorBody)))]
async fn set_email(
    State(state): State<AppState>,
    tenant: TenantContext,
    customer: MaybeCustomer,
    token: SentToken,
    ApiJson(body): ApiJson<CartEmail>,
) -> Result<StatusCode, PodError> {
    let email = mercato_tenants::account::Email::parse(&body.email)
        .map_err(|e| ApiError::new(ErrorCode::InvalidEmail, e))?;
    match addressed(customer, token)? {
        CartRef::Guest(token) => {
            crate::cart::abandoned::set_email(&state, tenant.store_id, &token, email.as_str())
                .await?;
            Ok(StatusCode::NO_CONTENT)
        }
        CartRef::Customer(_) => Err(ApiError::new(
            ErrorCode::Conflict,
            "a customer's cart is reminded at the account's address",
        )
        .into()),
    }
}

/// The token of an abandoned-cart reminder's link.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RestoreCart {
    #[schema(pattern = r"^ct_[0-9a-fA-F]{32}_[0-9a-f]{64}$")]
    token: String,
}

/// A new guest cart with the lines of the abandoned cart a reminder's link
/// names (201, with its token and cookie), each added as if now: prices
/// and stock as they are, lines no longer for sale left out. 404 when the
/// link's cart is gone (bought, merged).
#[utoipa::path(post, path = "/api/cart/restore", tag = "cart",
    request_body = RestoreCart,
    responses((status = 201, body = CartCreated),
        (status = 400, description = "invalid_cart_token", body = mercato_tenants::error::ErrorBody),
        (status = 404, body = mercato_tenants::error::ErrorBody)))]
async fn restore(
    State(state): State<AppState>,
    tenant: TenantContext,
    ApiJson(body): ApiJson<RestoreCart>,
) -> Result<Response, PodError> {
    let link = CartToken::parse(body.token.trim())?;
    let (token, cart) =
        crate::cart::abandoned::restore(&state, tenant.store_id, tenant.currency, &link).await?;
    Ok(guest_cart_created(&state, token, cart))
}

/// `201` with a new guest cart, its token in the body and in the cookie.
fn guest_cart_created(state: &AppState, token: CartToken, cart: crate::cart::Cart) -> Response {
    let token = token.expose();
    let cookie = format!(
        "{TOKEN_COOKIE}={token}; Path=/; Max-Age={}; HttpOnly; SameSite=Lax",
        state.config.cart.guest_ttl_secs
    );
    let mut response = (
        StatusCode::CREATED,
        Json(CartCreated {
            token: Some(token),
            cart,
        }),
    )
        .into_response();
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(SET_COOKIE, value);
    }
    response
}
