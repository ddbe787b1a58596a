//! Order endpoints: the customer's history, the lookup by number (a guest
//! with the confirmation link's token, a customer signed in), and staff
//! listing, cancellation and refunds. Shipments are in `fulfillment.rs`.

use axum::extract::State;
use axum::Json;
use mercato_tenants::events::{Event, OrderGivenBack, RefundCause};
use mercato_tenants::http::{ApiJson, ApiPath, ApiQuery};
use mercato_tenants::{ApiError, CustomerId, Email, ErrorCode, OrderId, StoreId};
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::accounts::auth::{Customer, MaybeCustomer, Staff};
use crate::checkout;
use crate::error::PodError;
use crate::orders::lookup::LookupToken;
use crate::orders::state::{self, CancelMoney, OrderStatus};
use crate::orders::{Filter, Order};
use crate::product_write;
use crate::refunds::{self, Ask, NewRefund};
use crate::state::AppState;
use crate::tenancy::{begin_write, TenantContext};
use crate::{events, fulfillment, inventory, paging};

/// The orders API, each route registered with its OpenAPI description.
pub fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::default()
        .routes(routes!(my_orders))
        .routes(routes!(lookup))
        .routes(routes!(list_orders))
        .routes(routes!(get_order))
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

/// The store's orders, newest first, filtered by status, email or customer.
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
    let f = Filter {
        status,
        customer: q.customer_id,
        email: email.map(|e| e.as_str().to_owned()),
        before: cursor(q.after.as_deref())?,
        limit: i64::from(paging::page_limit(q.limit)?),
    };
    Ok(Json(page(&state, tenant.store_id, f).await?))
}

/// One order with its shipments.
async fn load(state: &AppState, store: StoreId, id: OrderId) -> Result<Order, PodError> {
    let mut conn = state.db.acquire().await?;
    let mut order = crate::orders::get(&mut conn, store, id, false)
        .await?
        .ok_or_else(|| ApiError::not_found("order"))?;
    order.shipments = Some(fulfillment::sql::of_order(&mut conn, store, id, false).await?);
    Ok(order)
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

fn refused(from: OrderStatus, to: OrderStatus) -> ApiError {
    ApiError::new(
        ErrorCode::InvalidTransition,
        format!(
            "an order that is {} cannot become {}",
            from.as_str(),
            to.as_str()
        ),
    )
}

pub(super) fn note(raw: Option<&str>) -> Result<Option<String>, ApiError> {
    match raw.map(str::trim) {
        Some(n) if n.chars().count() > 500 => {
            Err(ApiError::invalid("note must be at most 500 characters"))
        }
        Some("") | None => Ok(None),
        Some(n) => Ok(Some(n.to_owned())),
    }
}

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
    give_back(
        &state,
        tenant.store_id,
        id,
        OrderStatus::Cancelled,
        restock,
        &staff,
        body.reason.as_deref(),
    )
    .await
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
    give_back(
        &state,
        tenant.store_id,
        id,
        OrderStatus::Refunded,
        restock,
        &staff,
        body.reason.as_deref(),
    )
    .await
}

/// Money back through the gateway first (what is left after any partial
/// refunds, as a refund of its own: a retry after any failure refunds
/// once), then one transaction: status, stock, events.
async fn give_back(
    state: &AppState,
    store: StoreId,
    id: OrderId,
    to: OrderStatus,
    restock: bool,
    staff: &Staff,
    reason: Option<&str>,
) -> Result<Json<Order>, PodError> {
    let reason = note(reason)?;
    let order = load(state, store, id).await?;
    if order.status == OrderStatus::Placed {
        // Authorized, not captured: stop the checkout's saga, which voids
        // the authorization, cancels the order and releases the stock.
        if to == OrderStatus::Cancelled
            && checkout::cancel_before_capture(
                state,
                store,
                order.checkout_id,
                reason.as_deref().unwrap_or("cancelled by the store"),
            )
            .await?
        {
            return Ok(Json(load(state, store, id).await?));
        }
        let now = load(state, store, id).await?;
        if now.status == OrderStatus::Placed {
            return Err(ApiError::new(
                ErrorCode::CheckoutPending,
                "the payment of this order is being captured; try again in a moment",
            )
            .into());
        }
        return Box::pin(give_back(
            state,
            store,
            id,
            to,
            restock,
            staff,
            reason.as_deref(),
        ))
        .await;
    }
    if !state::allowed(order.status, to) {
        return Err(refused(order.status, to).into());
    }
    if to == OrderStatus::Cancelled
        && state::cancel_money(order.status) != Some(CancelMoney::Refund)
    {
        return Err(refused(order.status, to).into());
    }
    // What is left of the capture goes back as one refund, reserved on the
    // order like any partial refund (so, with those before it, it never
    // passes the capture), then every pending refund of the order is paid,
    // each once by its own key: a retry after any failure refunds nothing
    // twice.
    let mut tx = begin_write(&state.db, store).await?;
    refunds::reserve(
        &mut tx,
        store,
        &NewRefund {
            order: id,
            ask: Ask::Rest,
            return_id: None,
            cause: if to == OrderStatus::Cancelled {
                RefundCause::OrderCancelled
            } else {
                RefundCause::OrderRefunded
            },
            reason: reason.as_deref(),
            actor: &actor(staff),
            key: None,
            to: refunds::Destination::default(),
        },
    )
    .await?;
    tx.commit().await?;
    if refunds::pay_pending(state, store, id).await? {
        return Err(ApiError::new(
            ErrorCode::UpstreamTimeout,
            "the payment gateway did not answer the refund; retrying is safe",
        )
        .into());
    }
    let paid = load(state, store, id).await?;
    if paid.refunded_minor < paid.captured_minor + paid.gift_card_minor {
        return Err(ApiError::new(
            ErrorCode::PaymentFailed,
            "the gateway refused the refund (see the order's refunds)",
        )
        .into());
    }
    let mut tx = begin_write(&state.db, store).await?;
    let locked = crate::orders::get(tx.as_mut(), store, id, true)
        .await?
        .ok_or_else(|| ApiError::not_found("order"))?;
    let refunded = locked.refunded_minor;
    // The order may have moved on while the refund ran (shipped, say):
    // the money is back either way, so it ends refunded.
    let to = if state::allowed(locked.status, to) {
        to
    } else {
        OrderStatus::Refunded
    };
    if locked.status != to
        && !crate::orders::set_status(
            &mut tx,
            store,
            id,
            locked.status,
            to,
            &actor(staff),
            reason.as_deref(),
        )
        .await?
    {
        return Err(refused(locked.status, to).into());
    }
    // Whatever has not left stays home.
    fulfillment::shipments::cancel_waiting(&mut tx, store, id).await?;
    let restocked = if restock {
        let back = crate::returns::units_back(&mut tx, store, id).await?;
        inventory::restock(&mut tx, store, order.checkout_id.into(), &back).await?
    } else {
        0
    };
    let given_back = OrderGivenBack {
        order_id: id,
        number: order.number,
        refunded_minor: refunded,
        restocked_units: restocked,
        reason,
    };
    let event = if to == OrderStatus::Cancelled {
        Event::OrderCancelled(given_back)
    } else {
        Event::OrderRefunded(given_back)
    };
    events::record(&mut tx, store, &event).await?;
    tx.commit().await?;
    if restocked > 0 {
        let variants: Vec<_> = order.lines.iter().map(|l| l.variant_id).collect();
        let lines = order.lines.iter().map(|l| (l.variant_id, l.product_id));
        product_write::restocked(state, store, lines, &variants).await;
    }
    Ok(Json(load(state, store, id).await?))
}
