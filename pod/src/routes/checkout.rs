//! Checkout endpoints: the shopper's checkout, shipping options, the
//! store's rate tables, and the gateway's webhooks.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use mercato_tenants::http::{ApiJson, ApiPath, ApiQuery};
use mercato_tenants::{ApiError, CheckoutId, ErrorCode, StoreId, TenantState};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::OpenApi as _;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::accounts::auth::{MaybeCustomer, Staff};
use crate::accounts::rate_limit::ClientAddress;
use crate::cart::SentToken;
use crate::checkout::model::{self, CheckoutRequest, SagaState, WebhookAction};
use crate::checkout::place;
use crate::checkout::rates::{self, ShippingRate, TaxRate};
use crate::checkout::saga::{self, Mode};
use crate::checkout::sql::{self, Checkout};
use crate::error::PodError;
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
    let cart_ref = crate::routes::cart::addressed(customer, token)?;
    let c = place::place(&state, tenant.store_id, key, &raw, cart_ref, &client).await?;
    Ok(answer(&c))
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
    if !place::started_by(&c, &who) {
        return Err(ApiError::not_found("checkout").into());
    }
    Ok(Json(status_of(&c)))
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
    let rates = crate::checkout::put_shipping_rates(&state.db, tenant.store_id, body.rates).await?;
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
    let rates = crate::checkout::put_tax_rates(&state.db, tenant.store_id, body.rates).await?;
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
