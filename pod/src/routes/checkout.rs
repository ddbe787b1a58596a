//! Checkout endpoints: the shopper's checkout, shipping options, the
//! store's rate tables, and the gateway's webhooks.

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use mercato_tenants::http::{ApiJson, ApiPath, ApiQuery};
use mercato_tenants::{ApiError, CheckoutId, Email, ErrorCode, StoreId, TenantState};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::OpenApi as _;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::accounts::auth::{MaybeCustomer, Staff};
use crate::accounts::rate_limit::ClientAddress;
use crate::cart::{self, CartRef, SentToken};
use crate::checkout::model::{self, CheckoutRequest, SagaState, WebhookAction};
use crate::checkout::rates::{self, ShippingRate, TaxRate};
use crate::checkout::saga::{self, Asked, Mode};
use crate::checkout::sql::{self, Checkout, NewCheckout};
use crate::error::PodError;
use crate::gift_cards;
use crate::payments::{signature, wire, WebhookEvent};
use crate::state::AppState;
use crate::tenancy::{begin_write, TenantContext};

/// The checkout API, each route registered with its OpenAPI description.
pub fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(Extra::openapi())
        .routes(routes!(checkout))
        .routes(routes!(get_checkout))
        .routes(routes!(shipping_options))
        .routes(routes!(get_shipping_rates, put_shipping_rates))
        .routes(routes!(get_tax_rates, put_tax_rates))
}

/// Schemas the document lists though no route's signature reaches them (the
/// priced checkout that an order keeps); `routes!` collects the rest from the
/// handlers.
#[derive(utoipa::OpenApi)]
#[openapi(components(schemas(model::Quote, model::ShippingChoice, mercato_tenants::StoreId)))]
struct Extra;

/// Routes the payment gateway calls (not behind the store fence: the store
/// is in the path, and the signature is the authentication).
pub fn webhook_api() -> OpenApiRouter<AppState> {
    OpenApiRouter::default().routes(routes!(webhook))
}

const KEY_HEADER: &str = "idempotency-key";

/// Places an order from the cart: validate, reserve stock, authorize the
/// payment, create the order, capture, commit stock. Requires an
/// `Idempotency-Key` header; retries with the same key and body get the
/// first answer.
#[utoipa::path(post, path = "/api/checkout", tag = "checkout",
    request_body = CheckoutRequest,
    params(("Idempotency-Key" = String, Header, description = "unique per checkout attempt; reuse it to retry: 1 to 255 printable ASCII characters", pattern = r"^[!-~]{1,255}$")),
    responses(
        (status = 201, description = "the order", body = crate::orders::Order),
        (status = 202, description = "still settling with the payment gateway; retry with the same key", body = CheckoutStatus),
        (status = 400, description = "A malformed body or Idempotency-Key, or neither a cart token (`X-Cart-Token`) nor a customer token (`invalid_cart_token`)", body = mercato_tenants::error::ErrorBody),
        (status = 402, description = "payment_declined or payment_failed", body = mercato_tenants::error::ErrorBody),
        (status = 404, description = "No cart for the cart token or the customer (`not_found`)", body = mercato_tenants::error::ErrorBody),
        (status = 409, description = "out_of_stock (with lines), price_changed, checkout_interrupted", body = mercato_tenants::error::ErrorBody),
        (status = 422, description = "idempotency_key_reused, empty_cart, variant_unavailable, shipping_unavailable", body = mercato_tenants::error::ErrorBody)))]
async fn checkout(
    State(state): State<AppState>,
    tenant: TenantContext,
    customer: MaybeCustomer,
    token: SentToken,
    ClientAddress(client): ClientAddress,
    headers: HeaderMap,
    ApiJson(raw): ApiJson<Value>,
) -> Result<Response, PodError> {
    let key = model::idempotency_key(match headers.get(KEY_HEADER) {
        None => None,
        Some(v) => Some(
            v.to_str()
                .map_err(|_| ApiError::invalid("Idempotency-Key must be printable ASCII"))?,
        ),
    })?;
    let request: CheckoutRequest = serde_json::from_value(raw.clone())
        .map_err(|e| ApiError::invalid(format!("invalid checkout request: {e}")))?;
    let cart_ref = crate::routes::cart::addressed(customer, token)?;
    // Shape checks answer at once and record nothing, like a PSP refusing
    // a malformed request: the client fixes it and may reuse the key.
    let asked = asked(request, cart_ref)?;
    let store = tenant.store_id;
    let (identity, cart_id, customer_id, secret_hash) = match &asked.cart {
        CartRef::Guest(t) => (format!("cart:{}", t.cart()), t.cart(), None, Some(t.hash())),
        CartRef::Customer(c) => {
            let cart = cart::active(&state, store, &asked.cart).await?;
            (format!("customer:{c}"), cart.id, Some(*c), None)
        }
    };
    let hash = model::request_hash(&identity, &raw);
    let id = CheckoutId::new();
    // Fenced like every write: no checkout appears on a pod after a move
    // fenced the store.
    let mut tx = begin_write(&state.db, store).await?;
    let inserted = sql::insert(
        &mut *tx,
        store,
        &NewCheckout {
            id,
            key: &key,
            request_hash: &hash,
            cart_id,
            customer_id,
            payment_token: &asked.payment_token,
            cart_secret_hash: secret_hash.as_ref().map(|h| h.0.as_slice()),
            client_address: Some(client.as_str()).filter(|c| *c != "unknown"),
        },
    )
    .await?;
    if let (true, CartRef::Guest(token), Some(email)) = (inserted, &asked.cart, &asked.email) {
        cart::abandoned::remember_checkout_email(&mut tx, store, token, email.as_str()).await?;
    }
    tx.commit().await?;
    if !inserted {
        return replay(&state, store, &key, &hash, &asked.cart).await;
    }
    let c = saga::drive(&state, store, id, Mode::Request(&asked)).await?;
    Ok(answer(&c))
}

fn asked(request: CheckoutRequest, cart: CartRef) -> Result<Asked, ApiError> {
    let address = request.shipping_address.validate()?;
    let billing = request.billing_address.map(|a| a.validate()).transpose()?;
    let email = request
        .email
        .as_deref()
        .map(Email::parse)
        .transpose()
        .map_err(|e| ApiError::new(ErrorCode::InvalidEmail, e))?;
    let token = request
        .payment_token
        .as_deref()
        .map(str::trim)
        .unwrap_or("");
    if request.payment_token.is_some()
        && (token.is_empty() || token.len() > 255 || !token.bytes().all(|b| b.is_ascii_graphic()))
    {
        return Err(ApiError::invalid(
            "payment_token must be 1 to 255 printable ASCII characters",
        ));
    }
    if request.gift_cards.len() > gift_cards::model::MAX_PER_CHECKOUT {
        return Err(ApiError::invalid(format!(
            "at most {} gift cards per checkout",
            gift_cards::model::MAX_PER_CHECKOUT
        )));
    }
    let codes = request.gift_cards;
    if codes
        .iter()
        .any(|c| c.len() > 64 || c.chars().any(char::is_control))
    {
        return Err(ApiError::invalid(
            "a gift card code is at most 64 characters, without control characters",
        ));
    }
    let option = request.shipping_option.trim();
    if option.is_empty() || option.len() > 40 {
        return Err(ApiError::invalid(
            "shipping_option must be 1 to 40 characters",
        ));
    }
    if matches!(request.expected_total_minor, Some(t) if !(0..=model::MAX_AMOUNT).contains(&t)) {
        return Err(ApiError::invalid("expected_total_minor out of range"));
    }
    Ok(Asked {
        cart,
        email,
        address,
        billing,
        shipping_option: option.to_owned(),
        expected_total: request.expected_total_minor,
        payment_token: token.to_owned(),
        gift_cards: codes,
    })
}

/// The same key again: the first attempt's answer, once it has one.
async fn replay(
    state: &AppState,
    store: StoreId,
    key: &str,
    hash: &[u8],
    who: &CartRef,
) -> Result<Response, PodError> {
    let wait_for = Duration::from_millis(state.config.gateway.timeout_ms.saturating_mul(2) + 5_000);
    let deadline = tokio::time::Instant::now() + wait_for;
    let mut pause = Duration::from_millis(10);
    loop {
        let c = sql::by_key(&state.db, store, key)
            .await?
            .ok_or_else(|| PodError::internal("checkout key vanished"))?;
        // The cart id is in the token's clear part: only its secret proves
        // the replay comes from the shopper who started the checkout.
        if !started_by(&c, who) {
            return Err(ApiError::not_found("checkout").into());
        }
        if c.request_hash != hash {
            return Err(ApiError::new(
                ErrorCode::IdempotencyKeyReused,
                "this Idempotency-Key was used for a different checkout request; use a new key",
            )
            .into());
        }
        if c.outcome.is_some() || tokio::time::Instant::now() >= deadline {
            return Ok(answer(&c));
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(200));
    }
}

/// Where a checkout stands.
#[derive(Serialize, utoipa::ToSchema)]
pub struct CheckoutStatus {
    pub checkout_id: CheckoutId,
    pub state: SagaState,
    pub steps: Vec<String>,
    pub order_id: Option<mercato_tenants::OrderId>,
    /// The answer the checkout ended with, once it has one.
    #[schema(value_type = Option<Object>)]
    pub outcome: Option<Value>,
}

fn status_of(c: &Checkout) -> CheckoutStatus {
    CheckoutStatus {
        checkout_id: c.id,
        state: c.state,
        steps: c.steps.iter().map(|s| s.as_str().to_owned()).collect(),
        order_id: c.order_id,
        outcome: c.outcome.as_ref().map(|(_, b)| b.clone()),
    }
}

fn answer(c: &Checkout) -> Response {
    match &c.outcome {
        Some((status, body)) => (
            StatusCode::from_u16(*status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            Json(body.clone()),
        )
            .into_response(),
        None => (
            StatusCode::ACCEPTED,
            [("retry-after", "1")],
            Json(status_of(c)),
        )
            .into_response(),
    }
}

/// A checkout's progress, for the shopper who started it (guest cart token
/// or customer).
#[utoipa::path(get, path = "/api/checkouts/{id}", tag = "checkout",
    params(("id" = CheckoutId, Path, description = "checkout id")),
    responses((status = 200, body = CheckoutStatus), (status = 404, body = mercato_tenants::error::ErrorBody)))]
async fn get_checkout(
    State(state): State<AppState>,
    tenant: TenantContext,
    customer: MaybeCustomer,
    token: SentToken,
    ApiPath(id): ApiPath<CheckoutId>,
) -> Result<Json<CheckoutStatus>, PodError> {
    let who = crate::routes::cart::addressed(customer, token)?;
    let c = sql::get(&state.db, tenant.store_id, id, false)
        .await?
        .ok_or_else(|| ApiError::not_found("checkout"))?;
    if !started_by(&c, &who) {
        return Err(ApiError::not_found("checkout").into());
    }
    Ok(Json(status_of(&c)))
}

/// Whether `who` is the shopper who started `c`: the same customer, or a
/// guest holding the same cart token (its secret, not only its cart id).
fn started_by(c: &sql::Checkout, who: &CartRef) -> bool {
    match who {
        CartRef::Customer(cid) => c.customer_id == Some(*cid),
        CartRef::Guest(t) => {
            c.customer_id.is_none()
                && c.cart_id == t.cart()
                && c.cart_secret_hash.as_deref().is_none_or(|stored| {
                    crate::cart::TokenHash::from_slice(stored)
                        .is_some_and(|stored| stored.matches(&t.hash()))
                })
        }
    }
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct OptionsQuery {
    /// Destination country (ISO 3166-1 alpha-2, either case; white space
    /// around it is trimmed).
    #[param(
        pattern = r"^[\u0020\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]*[A-Za-z]{2}[\u0020\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]*$"
    )]
    country: String,
    /// Subtotal in minor units, for free-shipping thresholds; 0 (the
    /// default) to 100,000,000,000.
    #[param(minimum = 0, maximum = 100_000_000_000_i64)]
    subtotal_minor: Option<i64>,
}

/// A shipping option for a destination.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ShippingOption {
    pub code: String,
    pub name: String,
    pub price_minor: i64,
}

/// The shipping options to a country, priced for a subtotal.
#[utoipa::path(get, path = "/api/shipping-options", tag = "checkout",
    params(OptionsQuery),
    responses((status = 200, body = [ShippingOption]), (status = 400, body = mercato_tenants::error::ErrorBody)))]
async fn shipping_options(
    State(state): State<AppState>,
    tenant: TenantContext,
    ApiQuery(q): ApiQuery<OptionsQuery>,
) -> Result<Json<Vec<ShippingOption>>, PodError> {
    let country = q.country.trim().to_ascii_uppercase();
    if country.len() != 2 || !country.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(ApiError::invalid("country must be an ISO 3166-1 alpha-2 code").into());
    }
    let subtotal = q.subtotal_minor.unwrap_or(0);
    if !(0..=model::MAX_AMOUNT).contains(&subtotal) {
        return Err(ApiError::invalid("subtotal_minor out of range").into());
    }
    let (shipping, _) = crate::checkout::rates(&state.db, tenant.store_id).await?;
    Ok(Json(
        rates::rates_for(&shipping, &country)
            .into_iter()
            .map(|r| ShippingOption {
                code: r.code.clone(),
                name: r.name.clone(),
                price_minor: rates::shipping_price(r, subtotal),
            })
            .collect(),
    ))
}

/// A store's shipping rate table.
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ShippingRates {
    /// At most 50.
    #[schema(max_items = 50)]
    pub rates: Vec<ShippingRate>,
}

/// A store's tax rate table.
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TaxRates {
    /// At most 500.
    #[schema(max_items = 500)]
    pub rates: Vec<TaxRate>,
}

/// The shipping rate table (the built-in free standard option when empty).
#[utoipa::path(get, path = "/admin/api/shipping-rates", tag = "checkout",
    responses((status = 200, body = ShippingRates)))]
async fn get_shipping_rates(
    State(state): State<AppState>,
    tenant: TenantContext,
    _: Staff,
) -> Result<Json<ShippingRates>, PodError> {
    let (rates, _) = crate::checkout::rates(&state.db, tenant.store_id).await?;
    Ok(Json(ShippingRates { rates }))
}

/// Replaces the shipping rate table.
#[utoipa::path(put, path = "/admin/api/shipping-rates", tag = "checkout",
    request_body = ShippingRates,
    responses((status = 200, body = ShippingRates), (status = 400, body = mercato_tenants::error::ErrorBody),
        (status = 422, description = "Two rates with one code (`unprocessable`)", body = mercato_tenants::error::ErrorBody)))]
async fn put_shipping_rates(
    State(state): State<AppState>,
    tenant: TenantContext,
    _: Staff,
    ApiJson(body): ApiJson<ShippingRates>,
) -> Result<Json<ShippingRates>, PodError> {
    let rates = rates::validate_shipping(body.rates)?;
    let store = tenant.store_id;
    let mut tx = begin_write(&state.db, store).await?;
    sql::rates::replace_shipping(&mut tx, store, &rates).await?;
    tx.commit().await?;
    let (rates, _) = crate::checkout::rates(&state.db, store).await?;
    Ok(Json(ShippingRates { rates }))
}

/// The tax rate table.
#[utoipa::path(get, path = "/admin/api/tax-rates", tag = "checkout",
    responses((status = 200, body = TaxRates)))]
async fn get_tax_rates(
    State(state): State<AppState>,
    tenant: TenantContext,
    _: Staff,
) -> Result<Json<TaxRates>, PodError> {
    let (_, rates) = crate::checkout::rates(&state.db, tenant.store_id).await?;
    Ok(Json(TaxRates { rates }))
}

/// Replaces the tax rate table.
#[utoipa::path(put, path = "/admin/api/tax-rates", tag = "checkout",
    request_body = TaxRates,
    responses((status = 200, body = TaxRates), (status = 400, body = mercato_tenants::error::ErrorBody),
        (status = 422, description = "Two rates for one country and region (`unprocessable`)", body = mercato_tenants::error::ErrorBody)))]
async fn put_tax_rates(
    State(state): State<AppState>,
    tenant: TenantContext,
    _: Staff,
    ApiJson(body): ApiJson<TaxRates>,
) -> Result<Json<TaxRates>, PodError> {
    let rates = rates::validate_tax(body.rates)?;
    let store = tenant.store_id;
    let mut tx = begin_write(&state.db, store).await?;
    sql::rates::replace_tax(&mut tx, store, &rates).await?;
    tx.commit().await?;
    let (_, rates) = crate::checkout::rates(&state.db, store).await?;
    Ok(Json(TaxRates { rates }))
}

/// How old a signed webhook may be.
const WEBHOOK_TOLERANCE_SECS: i64 = 300;

/// A payment event from the gateway: verified by its HMAC signature,
/// deduplicated by event id, then it drives the checkout through the same
/// path as the shopper's request (so the two racing make one order).
#[utoipa::path(post, path = "/webhooks/payments/{store}", tag = "checkout",
    params(("store" = StoreId, Path, description = "store id"),
        ("Mercato-Signature" = String, Header, description = "`t=<unix seconds>,v1=<hex HMAC-SHA256 of the body>`, signed with the gateway's webhook secret (docs/payments.md)", pattern = r"^t=[0-9]{1,19},v1=[0-9a-f]{64}$")),
    responses((status = 200, description = "handled (or seen before)"),
              (status = 400, description = "A missing signature, one the secret did not make or older than 5 minutes (`invalid_signature`), or a malformed event (`invalid_request`)", body = mercato_tenants::error::ErrorBody),
              (status = 421, description = "store_not_here: the gateway retries", body = mercato_tenants::error::ErrorBody)))]
async fn webhook(
    State(state): State<AppState>,
    ApiPath(store): ApiPath<StoreId>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<StatusCode, PodError> {
    let header = headers
        .get(wire::SIGNATURE_HEADER)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| ApiError::new(ErrorCode::InvalidSignature, "missing signature header"))?;
    let now = chrono::Utc::now().timestamp();
    signature::verify(
        state.config.gateway.webhook_secret.as_bytes(),
        header,
        &body,
        now,
        WEBHOOK_TOLERANCE_SECS,
    )
    .map_err(|e| ApiError::new(ErrorCode::InvalidSignature, format!("bad signature: {e}")))?;
    // Signed by the gateway: the request span (which continues the trace
    // of the payment's checkout, from the gateway's `traceparent`) is this
    // store's.
    tracing::Span::current().record("store_id", tracing::field::display(store));
    let event: WebhookEvent = serde_json::from_slice(&body)
        .map_err(|e| ApiError::invalid(format!("malformed event: {e}")))?;
    match state.hosted.get(store) {
        Some(h) if h.state == TenantState::Active => {}
        _ => {
            return Err(ApiError::new(
                ErrorCode::StoreNotHere,
                format!("store {store} is not served by this pod"),
            )
            .into())
        }
    }
    if sql::webhooks::seen(&state.db, store, &event.id).await? {
        return Ok(StatusCode::OK);
    }
    if let Ok(checkout) = event.data.reference.parse::<CheckoutId>() {
        if let Some(c) = sql::get(&state.db, store, checkout, false).await? {
            handle(&state, store, &c, &event).await?;
        }
    }
    // Fenced like every tenant write: during a move's freeze the store is
    // not active here, the gateway is told 421 and retries, and no row
    // lands on the source after the fence (the move's verification would
    // find it missing on the target and roll the move back).
    let mut tx = begin_write(&state.db, store).await?;
    sql::webhooks::record(&mut *tx, store, &event.id, &event.event_type).await?;
    tx.commit().await?;
    Ok(StatusCode::OK)
}

async fn handle(
    state: &AppState,
    store: StoreId,
    c: &Checkout,
    event: &WebhookEvent,
) -> Result<(), PodError> {
    let grace = chrono::Duration::milliseconds(
        i64::try_from(state.config.checkout.webhook_drive_after_ms).unwrap_or(i64::MAX),
    );
    let driver_recent = chrono::Utc::now() - c.updated_at < grace;
    match model::on_payment_event(c.state, event.data.status, driver_recent) {
        WebhookAction::Ignore => Ok(()),
        WebhookAction::ReturnMoney { then_drive } => {
            crate::checkout::return_money(state, c.id, &event.data.id)
                .await
                .map_err(|e| ApiError::new(ErrorCode::UpstreamTimeout, e.to_string()))?;
            if then_drive {
                saga::drive(state, store, c.id, Mode::Webhook(&event.data)).await?;
            }
            Ok(())
        }
        // Its driver is at work: let it finish; the gateway retries and
        // finds the checkout settled (or stuck, and drives it).
        WebhookAction::Pending => Err(ApiError::new(
            ErrorCode::CheckoutPending,
            "the checkout is being processed; retry later",
        )
        .into()),
        WebhookAction::Drive => saga::drive(state, store, c.id, Mode::Webhook(&event.data))
            .await
            .map(|_| ()),
    }
}
