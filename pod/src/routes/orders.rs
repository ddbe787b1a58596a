//! Order endpoints: the customer's history, the lookup by number (a guest
//! with the confirmation link's token, a customer signed in), and staff
//! listing, cancellation and refunds. Shipments are in `fulfillment.rs`.

use axum::extract::State;
use axum::Json;
use mercato_tenants::http::{ApiJson, ApiPath, ApiQuery};
use mercato_tenants::{ApiError, CustomerId, Email, ErrorCode, OrderId, StoreId};
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::accounts::auth::{Customer, MaybeCustomer, Staff};
use crate::error::PodError;
use crate::give_back::{give_back, load};
use crate::orders::lookup::LookupToken;
use crate::orders::state::OrderStatus;
use crate::orders::{Filter, Order};
use crate::state::AppState;
use crate::tenancy::TenantContext;
use crate::{fulfillment, paging};

/// The orders API, each route registered with its OpenAPI description.
pub fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::default()
        .routes(routes!(my_orders))
        .routes(routes!(lookup))
        .routes(routes!(list_orders))
        .routes(routes!(get_order))
        .routes(routes!(dashboard))
        .routes(routes!(cancel))
        .routes(routes!(refund))
}

/// A page of orders, newest first.
#[derive(Serialize, utoipa::ToSchema)]
pub struct OrderPage {
    pub items: Vec<Order>,
    pub next_cursor: Option<String>,
}

fn cursor(after: Option<&str>) -> Result<Option<Uuid>, ApiError> {
    after
        .map(|a| {
            a.parse::<Uuid>()
                .map_err(|_| ApiError::invalid("after must be a cursor from a previous page"))
        })
        .transpose()
}

async fn page(state: &AppState, store: StoreId, mut f: Filter) -> Result<OrderPage, PodError> {
    let limit = f.limit;
    f.limit += 1;
    let mut conn = state.db.acquire().await?;
    let mut items = crate::orders::list(&mut conn, store, &f).await?;
    let next_cursor = paging::split_page(&mut items, limit as usize, |o| o.id.to_string());
    Ok(OrderPage { items, next_cursor })
}

/// The signed-in customer's orders, newest first.
#[utoipa::path(get, path = "/api/orders", tag = "orders",
    params(MyOrdersQuery),
    responses((status = 200, body = OrderPage), (status = 401, body = mercato_tenants::error::ErrorBody)))]
async fn my_orders(
    State(state): State<AppState>,
    tenant: TenantContext,
    customer: Customer,
    ApiQuery(q): ApiQuery<MyOrdersQuery>,
) -> Result<Json<OrderPage>, PodError> {
    let f = Filter {
        customer: Some(customer.id),
        before: cursor(q.after.as_deref())?,
        limit: i64::from(paging::page_limit(q.limit)?),
        ..Default::default()
    };
    Ok(Json(page(&state, tenant.store_id, f).await?))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct LookupQuery {
    /// The lookup token of the order's confirmation link (64 hex
    /// characters); not needed by its customer, signed in.
    #[param(pattern = "^[0-9a-fA-F]{64}$")]
    token: Option<String>,
}

/// One order by its number, with its shipments and their tracking: a
/// guest's order with the token of its confirmation link; a registered customer's order only for that customer,
/// signed in (its token without the session: `401 unauthorized`, sign in).
/// Anything else is 404, whether or not the order exists.
#[utoipa::path(get, path = "/api/orders/{number}", tag = "orders",
    params(("number" = i64, Path, description = "order number, e.g. 1001"), LookupQuery),
    responses((status = 200, body = Order),
        (status = 400, body = mercato_tenants::error::ErrorBody),
        (status = 401, description = "unauthorized: the order is a customer's; sign in", body = mercato_tenants::error::ErrorBody),
        (status = 404, body = mercato_tenants::error::ErrorBody)))]
async fn lookup(
    State(state): State<AppState>,
    tenant: TenantContext,
    customer: MaybeCustomer,
    ApiPath(number): ApiPath<String>,
    ApiQuery(q): ApiQuery<LookupQuery>,
) -> Result<Json<Order>, PodError> {
    let number: i64 = number
        .trim_start_matches('#')
        .parse()
        .map_err(|_| ApiError::invalid("the order number must be digits, e.g. 1001"))?;
    let token = q
        .token
        .as_deref()
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
    let mut order = crate::orders::for_shopper(
        &mut conn,
        tenant.store_id,
        number,
        signed_in,
        token.as_ref(),
    )
    .await?;
    order.shipments =
        Some(fulfillment::sql::of_order(&mut conn, tenant.store_id, order.id, false).await?);
    Ok(Json(order))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    #[param(value_type = Option<OrderStatus>)]
    status: Option<String>,
    #[param(value_type = Option<mercato_tenants::openapi::EmailAddress>)]
    email: Option<String>,
    customer_id: Option<CustomerId>,
    /// Placed on or after this day (UTC).
    placed_from: Option<chrono::NaiveDate>,
    /// Placed on or before this day (UTC).
    placed_to: Option<chrono::NaiveDate>,
    /// 1 to 100, default 20.
    #[param(minimum = 1, maximum = 100)]
    limit: Option<u32>,
    /// The `next_cursor` of the previous page (an order id).
    #[param(value_type = Option<uuid::Uuid>)]
    after: Option<String>,
}

/// `?limit=&after=` of the customer's own orders.
#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct MyOrdersQuery {
    /// 1 to 100, default 20.
    #[param(minimum = 1, maximum = 100)]
    limit: Option<u32>,
    /// The `next_cursor` of the previous page (an order id).
    #[param(value_type = Option<uuid::Uuid>)]
    after: Option<String>,
}

/// The store's orders, newest first, filtered by status, email, customer
/// or the days they were placed on.
#[utoipa::path(get, path = "/admin/api/orders", tag = "orders",
    params(ListQuery),
    responses((status = 200, body = OrderPage), (status = 400, body = mercato_tenants::error::ErrorBody)))]
async fn list_orders(
    State(state): State<AppState>,
    tenant: TenantContext,
    _: Staff,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<OrderPage>, PodError> {
    let status = q
        .status
        .as_deref()
        .map(|s| {
            OrderStatus::parse(s).ok_or_else(|| {
                ApiError::invalid(
                    "status must be placed, paid, partially_fulfilled, fulfilled, delivered, cancelled or refunded",
                )
            })
        })
        .transpose()?;
    let email = q
        .email
        .as_deref()
        .map(Email::parse)
        .transpose()
        .map_err(|e| ApiError::new(ErrorCode::InvalidEmail, e))?;
    let (placed_from, placed_until) = crate::orders::day_range(q.placed_from, q.placed_to)?;
    let f = Filter {
        status,
        customer: q.customer_id,
        email: email.map(|e| e.as_str().to_owned()),
        before: cursor(q.after.as_deref())?,
        placed_from,
        placed_until,
        limit: i64::from(paging::page_limit(q.limit)?),
    };
    Ok(Json(page(&state, tenant.store_id, f).await?))
}

/// The store's dashboard: sales, orders and average order value today and
/// over the last 30 days (UTC days), each day's sales, and what waits for
/// staff (orders to ship, returns to decide, checkouts held for review).
#[utoipa::path(get, path = "/admin/api/dashboard", tag = "orders",
    responses((status = 200, body = crate::dashboard::Dashboard),
        (status = 401, body = mercato_tenants::error::ErrorBody)))]
async fn dashboard(
    State(state): State<AppState>,
    tenant: TenantContext,
    _: Staff,
) -> Result<Json<crate::dashboard::Dashboard>, PodError> {
    let now = chrono::Utc::now();
    Ok(Json(
        crate::dashboard::of_store(&state, tenant.store_id, tenant.currency, now).await?,
    ))
}

/// One order, with its shipments.
#[utoipa::path(get, path = "/admin/api/orders/{id}", tag = "orders",
    params(("id" = OrderId, Path, description = "order id")),
    responses((status = 200, body = Order), (status = 404, body = mercato_tenants::error::ErrorBody)))]
async fn get_order(
    State(state): State<AppState>,
    tenant: TenantContext,
    _: Staff,
    ApiPath(id): ApiPath<OrderId>,
) -> Result<Json<Order>, PodError> {
    Ok(Json(load(&state, tenant.store_id, id).await?))
}

pub(super) fn actor(staff: &Staff) -> String {
    format!("staff:{}", staff.0.sub)
}

pub(super) use crate::give_back::note;

/// Cancelling or refunding an order.
#[derive(Deserialize, utoipa::ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct GiveBack {
    pub reason: Option<String>,
    /// Put the units back on the shelf where they were taken (default: yes
    /// when cancelling, no when refunding); units that came back through
    /// a return are not put back again.
    pub restock: Option<bool>,
}

/// Cancels an order that has not shipped: a placed one (authorized, not
/// captured) by stopping its checkout (void, stock released); a paid one by
/// refunding the captured money and, by default, putting the stock back.
#[utoipa::path(post, path = "/admin/api/orders/{id}/cancel", tag = "orders",
    params(("id" = OrderId, Path, description = "order id")),
    request_body = GiveBack,
    responses((status = 200, body = Order),
              (status = 409, description = "invalid_transition, or checkout_pending while the payment is being captured", body = mercato_tenants::error::ErrorBody)))]
async fn cancel(
    State(state): State<AppState>,
    tenant: TenantContext,
    staff: Staff,
    ApiPath(id): ApiPath<OrderId>,
    ApiJson(body): ApiJson<GiveBack>,
) -> Result<Json<Order>, PodError> {
    let restock = body.restock.unwrap_or(true);
    let order = give_back(
        &state,
        tenant.store_id,
        id,
        OrderStatus::Cancelled,
        restock,
        &actor(&staff),
        body.reason.as_deref(),
    )
    .await?;
    Ok(Json(order))
}

/// Refunds an order in full (also after shipping): what is left after any
/// partial refunds; restocks only when asked.
#[utoipa::path(post, path = "/admin/api/orders/{id}/refund", tag = "orders",
    params(("id" = OrderId, Path, description = "order id")),
    request_body = GiveBack,
    responses((status = 200, body = Order), (status = 409, description = "invalid_transition", body = mercato_tenants::error::ErrorBody)))]
async fn refund(
    State(state): State<AppState>,
    tenant: TenantContext,
    staff: Staff,
    ApiPath(id): ApiPath<OrderId>,
    ApiJson(body): ApiJson<GiveBack>,
) -> Result<Json<Order>, PodError> {
    let restock = body.restock.unwrap_or(false);
    let order = give_back(
        &state,
        tenant.store_id,
        id,
        OrderStatus::Refunded,
        restock,
        &actor(&staff),
        body.reason.as_deref(),
    )
    .await?;
    Ok(Json(order))
}
