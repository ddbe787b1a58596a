//! Returns and refunds: the shopper opens, lists and cancels returns of a
//! delivered order (a guest with the order's lookup token, a customer
//! signed in); staff list, approve, reject and receive them, refund any
//! part of an order (goodwill), and set the store's return policy.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use mercato_tenants::events::RefundCause;
use mercato_tenants::http::{ApiJson, ApiPath, ApiQuery};
use mercato_tenants::{ApiError, OrderId, ReturnId, StoreId};
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::accounts::auth::{MaybeCustomer, Owner, Staff};
use crate::error::PodError;
use crate::orders::lookup::LookupToken;
use crate::orders::Order;
use crate::paging;
use crate::refunds::{self, Ask, Destination, Keyed, NewRefund, Refund, RefundStatus, Reserved};
use crate::returns::{
    self, model::MAX_LINES, Condition, Return, ReturnSettings, ReturnStatus, ShippingRefund,
};
use crate::returns::{optional_text, text};
use crate::state::AppState;
use crate::tenancy::{begin_write, TenantContext};

type ErrorBody = mercato_tenants::error::ErrorBody;

/// The returns and refunds API, each route registered with its OpenAPI
/// description.
pub fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::default()
        .routes(routes!(open_return, my_returns))
        .routes(routes!(cancel_return))
        .routes(routes!(list_returns))
        .routes(routes!(get_return))
        .routes(routes!(approve))
        .routes(routes!(reject))
        .routes(routes!(receive))
        .routes(routes!(order_returns))
        .routes(routes!(create_refund, list_refunds))
        .routes(routes!(get_settings, put_settings))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct TokenQuery {
    /// The lookup token of the order's confirmation link (64 hex
    /// characters); not needed by its customer, signed in.
    #[param(pattern = "^[0-9a-fA-F]{64}$")]
    token: Option<String>,
}

/// The order numbered `number` if the request may act for it: a guest's
/// with its lookup token, a customer's only for that customer signed in
/// (as `GET /api/orders/{number}`); anything else is 404.
async fn shoppers_order(
    state: &AppState,
    store: StoreId,
    customer: &MaybeCustomer,
    number: &str,
    token: Option<&str>,
) -> Result<(Order, String), PodError> {
    let number: i64 = number
        .trim_start_matches('#')
        .parse()
        .map_err(|_| ApiError::invalid("the order number must be digits, e.g. 1001"))?;
    let token = token
        .map(|t| {
            LookupToken::parse(t).ok_or_else(|| {
                ApiError::invalid("token must be the 64 hex characters of the confirmation link")
            })
        })
        .transpose()?;
    let signed_in = customer.0.as_ref().map(|c| c.id);
    if token.is_none() && signed_in.is_none() {
        return Err(
            ApiError::invalid("send the token of the confirmation link, or sign in").into(),
        );
    }
    let mut conn = state.db.acquire().await?;
    let order =
        crate::orders::for_shopper(&mut conn, store, number, signed_in, token.as_ref()).await?;
    let by = match signed_in.filter(|c| order.customer_id == Some(*c)) {
        Some(c) => format!("customer:{c}"),
        None => "guest".to_owned(),
    };
    Ok((order, by))
}

/// Units of one order line to send back.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReturnLineRequest {
    /// The line's position in the order's `lines` (0 first).
    #[schema(minimum = 0, maximum = 99)]
    pub line: u32,
    #[schema(minimum = 1, maximum = 1000000)]
    pub quantity: i64,
}

/// A return to open.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OpenReturn {
    /// 1 to 100 lines, each once.
    pub lines: Vec<ReturnLineRequest>,
    /// Why (1 to 500 characters).
    #[schema(min_length = 1, max_length = 500)]
    pub reason: String,
}

/// Opens a return of some of a delivered order's units, within the store's
/// return window (counted from delivery). A guest sends the order's lookup
/// token (the confirmation link's `token`), a customer signs in. At most
/// the units delivered and not already in another return (open or done).
#[utoipa::path(post, path = "/api/orders/{number}/returns", tag = "returns",
    params(("number" = i64, Path, description = "order number, e.g. 1001"), TokenQuery),
    request_body = OpenReturn,
    responses((status = 201, body = Return),
        (status = 400, body = ErrorBody),
        (status = 401, description = "the order is a customer's; sign in", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "return_too_large: more units than are left to return", body = ErrorBody),
        (status = 422, description = "return_not_allowed: not delivered, or the window closed", body = ErrorBody)))]
async fn open_return(
    State(state): State<AppState>,
    tenant: TenantContext,
    customer: MaybeCustomer,
    ApiPath(number): ApiPath<String>,
    ApiQuery(q): ApiQuery<TokenQuery>,
    ApiJson(body): ApiJson<OpenReturn>,
) -> Result<(StatusCode, Json<Return>), PodError> {
    let reason = text("reason", &body.reason)?;
    if body.lines.len() > MAX_LINES {
        return Err(ApiError::invalid(format!("at most {MAX_LINES} lines")).into());
    }
    let asked: Vec<(usize, i64)> = body
        .lines
        .iter()
        .map(|l| (l.line as usize, l.quantity))
        .collect();
    let (order, by) = shoppers_order(
        &state,
        tenant.store_id,
        &customer,
        &number,
        q.token.as_deref(),
    )
    .await?;
    let r = returns::open(&state, tenant.store_id, order.id, &asked, &reason, &by).await?;
    Ok((StatusCode::CREATED, Json(r)))
}

/// The order's returns, newest first (at most 100).
#[utoipa::path(get, path = "/api/orders/{number}/returns", tag = "returns",
    params(("number" = i64, Path, description = "order number, e.g. 1001"), TokenQuery),
    responses((status = 200, body = Vec<Return>),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
async fn my_returns(
    State(state): State<AppState>,
    tenant: TenantContext,
    customer: MaybeCustomer,
    ApiPath(number): ApiPath<String>,
    ApiQuery(q): ApiQuery<TokenQuery>,
) -> Result<Json<Vec<Return>>, PodError> {
    let (order, _) = shoppers_order(
        &state,
        tenant.store_id,
        &customer,
        &number,
        q.token.as_deref(),
    )
    .await?;
    Ok(Json(
        returns::list(&state, tenant.store_id, Some(order.id), None, None, 100).await?,
    ))
}

/// Cancels one of the order's returns that staff have not decided on yet.
#[utoipa::path(post, path = "/api/orders/{number}/returns/{id}/cancel", tag = "returns",
    params(("number" = i64, Path, description = "order number, e.g. 1001"),
        ("id" = ReturnId, Path, description = "return id"), TokenQuery),
    responses((status = 200, body = Return),
        (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "invalid_transition: no longer requested", body = ErrorBody)))]
async fn cancel_return(
    State(state): State<AppState>,
    tenant: TenantContext,
    customer: MaybeCustomer,
    ApiPath((number, id)): ApiPath<(String, ReturnId)>,
    ApiQuery(q): ApiQuery<TokenQuery>,
) -> Result<Json<Return>, PodError> {
    let store = tenant.store_id;
    let (order, _) = shoppers_order(&state, store, &customer, &number, q.token.as_deref()).await?;
    let r = returns::get(&state, store, id).await?;
    if r.order_id != order.id {
        return Err(ApiError::not_found("return").into());
    }
    Ok(Json(
        returns::decide(&state, store, id, ReturnStatus::Cancelled, None).await?,
    ))
}

/// A page of returns, newest first.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ReturnPage {
    pub items: Vec<Return>,
    pub next_cursor: Option<String>,
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    #[param(value_type = Option<ReturnStatus>)]
    status: Option<String>,
    /// 1 to 100, default 20.
    #[param(minimum = 1, maximum = 100)]
    limit: Option<u32>,
    /// The `next_cursor` of the previous page (a return id).
    #[param(value_type = Option<uuid::Uuid>)]
    after: Option<String>,
}

/// The store's returns, newest first, by status.
#[utoipa::path(get, path = "/admin/api/returns", tag = "returns",
    params(ListQuery),
    responses((status = 200, body = ReturnPage), (status = 400, body = ErrorBody)))]
async fn list_returns(
    State(state): State<AppState>,
    tenant: TenantContext,
    _: Staff,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<ReturnPage>, PodError> {
    let status = q
        .status
        .as_deref()
        .map(|s| {
            ReturnStatus::parse(s).ok_or_else(|| {
                ApiError::invalid(
                    "status must be requested, approved, rejected, cancelled, received, completed or refund_failed",
                )
            })
        })
        .transpose()?;
    let before = q
        .after
        .as_deref()
        .map(|a| {
            a.parse::<Uuid>()
                .map_err(|_| ApiError::invalid("after must be a cursor from a previous page"))
        })
        .transpose()?;
    let limit = paging::page_limit(q.limit)?;
    let mut items = returns::list(
        &state,
        tenant.store_id,
        None,
        status,
        before,
        i64::from(limit) + 1,
    )
    .await?;
    let next_cursor = paging::split_page(&mut items, limit as usize, |r| r.id.to_string());
    Ok(Json(ReturnPage { items, next_cursor }))
}

/// One return.
#[utoipa::path(get, path = "/admin/api/returns/{id}", tag = "returns",
    params(("id" = ReturnId, Path, description = "return id")),
    responses((status = 200, body = Return), (status = 404, body = ErrorBody)))]
async fn get_return(
    State(state): State<AppState>,
    tenant: TenantContext,
    _: Staff,
    ApiPath(id): ApiPath<ReturnId>,
) -> Result<Json<Return>, PodError> {
    Ok(Json(returns::get(&state, tenant.store_id, id).await?))
}

/// Staff's note on an approval.
#[derive(Deserialize, utoipa::ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct Decision {
    /// Up to 500 characters.
    #[schema(max_length = 500)]
    pub note: Option<String>,
}

/// Approves a requested return: the shopper may send the units back.
#[utoipa::path(post, path = "/admin/api/returns/{id}/approve", tag = "returns",
    params(("id" = ReturnId, Path, description = "return id")),
    request_body = Decision,
    responses((status = 200, body = Return),
        (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "invalid_transition", body = ErrorBody)))]
async fn approve(
    State(state): State<AppState>,
    tenant: TenantContext,
    _: Staff,
    ApiPath(id): ApiPath<ReturnId>,
    ApiJson(body): ApiJson<Decision>,
) -> Result<Json<Return>, PodError> {
    Ok(Json(
        returns::approve(&state, tenant.store_id, id, body.note.as_deref()).await?,
    ))
}

/// Why staff reject a return.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Rejection {
    /// 1 to 500 characters, not blank.
    #[schema(min_length = 1, max_length = 500, pattern = "\\S")]
    pub note: String,
}

/// Rejects a requested return, saying why (`note`).
#[utoipa::path(post, path = "/admin/api/returns/{id}/reject", tag = "returns",
    params(("id" = ReturnId, Path, description = "return id")),
    request_body = Rejection,
    responses((status = 200, body = Return),
        (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "invalid_transition", body = ErrorBody)))]
async fn reject(
    State(state): State<AppState>,
    tenant: TenantContext,
    _: Staff,
    ApiPath(id): ApiPath<ReturnId>,
    ApiJson(body): ApiJson<Rejection>,
) -> Result<Json<Return>, PodError> {
    Ok(Json(
        returns::reject(&state, tenant.store_id, id, &body.note).await?,
    ))
}

/// What staff found in one line of a return.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReceivedLine {
    /// The order line's position, as in the return's `lines`.
    #[schema(minimum = 0, maximum = 99)]
    pub line: u32,
    pub condition: Condition,
    /// Whether the units go back to stock.
    pub restock: bool,
}

/// The units of an approved return arrived.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Receipt {
    /// Every line of the return, once.
    pub lines: Vec<ReceivedLine>,
}

/// Records the receipt of an approved return, then puts the restocked
/// units back and refunds the return (the lines' prices, their share of
/// the tax, shipping by the store's rule; at most what is left of the
/// order's capture). `200` with the return `completed` (or
/// `refund_failed`); `202` with it still `received` when the gateway did
/// not answer: the recovery worker finishes it.
#[utoipa::path(post, path = "/admin/api/returns/{id}/receive", tag = "returns",
    params(("id" = ReturnId, Path, description = "return id")),
    request_body = Receipt,
    responses((status = 200, body = Return),
        (status = 202, description = "refund pending at the gateway", body = Return),
        (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "invalid_transition: not approved", body = ErrorBody)))]
async fn receive(
    State(state): State<AppState>,
    tenant: TenantContext,
    _: Staff,
    ApiPath(id): ApiPath<ReturnId>,
    ApiJson(body): ApiJson<Receipt>,
) -> Result<(StatusCode, Json<Return>), PodError> {
    if body.lines.len() > MAX_LINES {
        return Err(ApiError::invalid(format!("at most {MAX_LINES} lines")).into());
    }
    let lines: Vec<(i32, Condition, bool)> = body
        .lines
        .iter()
        .map(|l| {
            i32::try_from(l.line)
                .map(|line| (line, l.condition, l.restock))
                .map_err(|_| ApiError::invalid("line is out of range"))
        })
        .collect::<Result<_, _>>()?;
    let r = returns::receive(&state, tenant.store_id, id, &lines).await?;
    let status = if r.status == ReturnStatus::Received {
        StatusCode::ACCEPTED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(r)))
}

async fn staff_order(state: &AppState, store: StoreId, id: OrderId) -> Result<Order, PodError> {
    let mut conn = state.db.acquire().await?;
    Ok(crate::orders::get(&mut conn, store, id, false)
        .await?
        .ok_or_else(|| ApiError::not_found("order"))?)
}

/// The order's returns, newest first (at most 100).
#[utoipa::path(get, path = "/admin/api/orders/{id}/returns", tag = "returns",
    params(("id" = OrderId, Path, description = "order id")),
    responses((status = 200, body = Vec<Return>), (status = 404, body = ErrorBody)))]
async fn order_returns(
    State(state): State<AppState>,
    tenant: TenantContext,
    _: Staff,
    ApiPath(id): ApiPath<OrderId>,
) -> Result<Json<Vec<Return>>, PodError> {
    let order = staff_order(&state, tenant.store_id, id).await?;
    Ok(Json(
        returns::list(&state, tenant.store_id, Some(order.id), None, None, 100).await?,
    ))
}

/// A refund staff give.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefundRequest {
    /// Minor units, 1 up to what is left of the order's capture.
    #[schema(minimum = 1)]
    pub amount_minor: i64,
    /// Why (up to 500 characters).
    #[schema(max_length = 500)]
    pub reason: Option<String>,
    /// Of an order paid partly by gift cards: which part goes back first
    /// (`gift_cards_first` by default, then the card).
    #[serde(default)]
    pub to: Destination,
}

/// Refunds part of an order (goodwill): any amount up to what is left of
/// what was paid, given back to the gift cards that paid it (at once) and
/// through the gateway to the card (`to` says which first). The `Idempotency-Key`
/// makes retries safe: the same key and body answer with the same refund,
/// another body is `422 idempotency_key_reused`. `201` with the refund
/// `succeeded` (or `failed`: the gateway refused, nothing was refunded);
/// `202` with it `pending` when the gateway did not answer (retry with
/// the same key, or let the recovery worker finish it). The order's
/// status does not change.
#[utoipa::path(post, path = "/admin/api/orders/{id}/refunds", tag = "returns",
    params(("id" = OrderId, Path, description = "order id"),
        ("Idempotency-Key" = String, Header, description = "unique per refund; reuse it to retry")),
    request_body = RefundRequest,
    responses((status = 201, body = Refund),
        (status = 202, description = "pending at the gateway", body = Refund),
        (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "refund_too_large: more than is left", body = ErrorBody),
        (status = 422, description = "idempotency_key_reused", body = ErrorBody)))]
async fn create_refund(
    State(state): State<AppState>,
    tenant: TenantContext,
    staff: Staff,
    ApiPath(id): ApiPath<OrderId>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<RefundRequest>,
) -> Result<(StatusCode, Json<Refund>), PodError> {
    let key = super::idempotency_key(&headers, "refund")?;
    if body.amount_minor < 1 {
        return Err(ApiError::invalid("amount_minor must be at least 1").into());
    }
    let reason = optional_text("reason", body.reason.as_deref())?;
    let store = tenant.store_id;
    let actor = format!("staff:{}", staff.0.sub);
    let mut tx = begin_write(&state.db, store).await?;
    let reserved = refunds::reserve(
        &mut tx,
        store,
        &NewRefund {
            order: id,
            ask: Ask::Exactly(body.amount_minor),
            return_id: None,
            cause: RefundCause::Goodwill,
            reason: reason.as_deref(),
            actor: &actor,
            key: Some(Keyed {
                key: &key,
                amount_minor: body.amount_minor,
                reason: reason.as_deref(),
            }),
            to: body.to,
        },
    )
    .await?;
    tx.commit().await?;
    let refund = match reserved {
        Reserved::New(r) | Reserved::Again(r) => r,
        Reserved::Nothing => return Err(PodError::internal("an exact refund reserved nothing")),
    };
    let refund = refunds::pay(&state, store, refund.id).await?;
    let status = if refund.status == RefundStatus::Pending {
        StatusCode::ACCEPTED
    } else {
        StatusCode::CREATED
    };
    Ok((status, Json(refund)))
}

/// The order's refunds, oldest first.
#[utoipa::path(get, path = "/admin/api/orders/{id}/refunds", tag = "returns",
    params(("id" = OrderId, Path, description = "order id")),
    responses((status = 200, body = Vec<Refund>), (status = 404, body = ErrorBody)))]
async fn list_refunds(
    State(state): State<AppState>,
    tenant: TenantContext,
    _: Staff,
    ApiPath(id): ApiPath<OrderId>,
) -> Result<Json<Vec<Refund>>, PodError> {
    let order = staff_order(&state, tenant.store_id, id).await?;
    Ok(Json(
        refunds::of_order(&state, tenant.store_id, order.id).await?,
    ))
}

/// The store's return policy.
#[utoipa::path(get, path = "/admin/api/settings/returns", tag = "settings",
    responses((status = 200, body = ReturnSettings)))]
async fn get_settings(
    State(state): State<AppState>,
    tenant: TenantContext,
    _: Staff,
) -> Result<Json<ReturnSettings>, PodError> {
    Ok(Json(returns::settings(&state, tenant.store_id).await?))
}

/// A new return policy.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReturnSettingsBody {
    /// Days after delivery a shopper may open a return (0 to 365).
    #[schema(minimum = 0, maximum = 365)]
    pub window_days: i64,
    pub shipping_refund: ShippingRefund,
}

/// Sets the store's return policy (owner only).
#[utoipa::path(put, path = "/admin/api/settings/returns", tag = "settings",
    request_body = ReturnSettingsBody,
    responses((status = 200, body = ReturnSettings), (status = 400, body = ErrorBody)))]
async fn put_settings(
    State(state): State<AppState>,
    tenant: TenantContext,
    _: Owner,
    ApiJson(body): ApiJson<ReturnSettingsBody>,
) -> Result<Json<ReturnSettings>, PodError> {
    Ok(Json(
        returns::put_settings(
            &state,
            tenant.store_id,
            body.window_days,
            body.shipping_refund,
        )
        .await?,
    ))
}
