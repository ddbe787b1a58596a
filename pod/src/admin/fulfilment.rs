//! Fulfilment in the admin. On an order's page: its shipments, each with
//! its carrier and tracking to edit and a button per status it may move
//! to; a form per location to ship units still waiting there (all of
//! them, or some: partial fulfilment); and the order's returns, approved,
//! rejected and received with forms. `/admin/returns` lists the store's
//! returns by status, those to decide first, with the same forms.
//!
//! The writes are the API's own context functions:
//! [`crate::fulfillment::staff`] (as `/admin/api/orders/{id}/shipments…`)
//! and [`crate::returns`] (as `/admin/api/returns/{id}/approve`,
//! `/reject`, `/receive`), for any staff member as the API allows.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use bytes::Bytes;
use mercato_tenants::forms::{field, see_other, sentence, urlencode};
use mercato_tenants::http::ApiQuery;
use mercato_tenants::{
    ApiError, Currency, LocationId, Money, OrderId, OrderStatus, ReturnId, ShipmentId,
    ShipmentStatus,
};
use minijinja::context;
use minijinja::value::Value;
use utoipa_axum::router::OpenApiRouter;

use super::pages::{error_page, html, order_page, render, sign_in_first};
use super::session::{AdminSession, MaybeAdmin};
use crate::error::PodError;
use crate::fulfillment::{self, state::is_terminal};
use crate::orders::{Order, OrderShipment};
use crate::returns::{self, Condition, Return, ReturnStatus};
use crate::state::AppState;
use crate::tenancy::TenantContext;

/// This module's templates, added to the admin's engine.
pub const TEMPLATES: &[(&str, &str)] = &[
    (
        "order_fulfilment.html",
        include_str!("templates/order_fulfilment.html"),
    ),
    (
        "return_item.html",
        include_str!("templates/return_item.html"),
    ),
    ("returns.html", include_str!("templates/returns.html")),
];

/// This module's pages.
pub fn routes(router: OpenApiRouter<AppState>) -> OpenApiRouter<AppState> {
    router
        .route("/admin/orders/{id}/shipments", post(create_shipment))
        .route(
            "/admin/orders/{id}/shipments/{shipment}",
            post(edit_tracking),
        )
        .route(
            "/admin/orders/{id}/shipments/{shipment}/status",
            post(move_shipment),
        )
        .route("/admin/returns", get(returns_page))
        .route("/admin/returns/{id}/approve", post(approve))
        .route("/admin/returns/{id}/reject", post(reject))
        .route("/admin/returns/{id}/receive", post(receive))
}

/// Returns per page of `/admin/returns`.
const RETURNS_PAGE: i64 = 25;

/// A refused form's fields, shown again in the form that sent them (its
/// hidden `form` field names it) so nothing typed is lost.
pub struct Typed {
    form: String,
    fields: Vec<(String, String)>,
}

impl Typed {
    fn of(fields: Vec<(String, String)>) -> Self {
        Self {
            form: field(&fields, "form").unwrap_or_default().to_owned(),
            fields,
        }
    }

    /// What was typed in `name` of the form `form`, if it was that form.
    fn value(typed: Option<&Typed>, form: &str, name: &str) -> Option<String> {
        typed
            .filter(|t| t.form == form)
            .map(|t| field(&t.fields, name).unwrap_or_default().to_owned())
    }
}

/// The order page's notice for `?done=` of this module's forms.
pub fn notice(done: Option<&str>) -> Option<String> {
    let said = match done? {
        "shipment-created" => "The shipment was created.",
        "shipment-tracking" => "The tracking was saved.",
        "shipment-label_created" => "The shipment's label was created.",
        "shipment-shipped" => "The shipment was marked as shipped.",
        "shipment-in_transit" => "The shipment was marked as in transit.",
        "shipment-delivered" => "The shipment was marked as delivered.",
        "shipment-cancelled" => "The shipment's label was voided; its units wait to ship again.",
        "return-approved" => "The return was approved.",
        "return-rejected" => "The return was rejected.",
        "return-refunded" => "The return was received and refunded.",
        "return-received" => {
            "The return was received; its refund is waiting for the payment gateway."
        }
        "return-refund-failed" => {
            "The return was received, but the payment gateway refused its refund."
        }
        _ => return None,
    };
    Some(said.to_owned())
}

/// A shipment's status in words.
fn shipment_words(s: ShipmentStatus) -> &'static str {
    match s {
        ShipmentStatus::Pending => "waiting",
        ShipmentStatus::LabelCreated => "label created",
        ShipmentStatus::Shipped => "shipped",
        ShipmentStatus::InTransit => "in transit",
        ShipmentStatus::Delivered => "delivered",
        ShipmentStatus::Cancelled => "cancelled",
    }
}

/// The button that moves a shipment to `s`.
fn step_words(s: ShipmentStatus) -> &'static str {
    match s {
        ShipmentStatus::Pending => "Put back to waiting",
        ShipmentStatus::LabelCreated => "Label created",
        ShipmentStatus::Shipped => "Mark as shipped",
        ShipmentStatus::InTransit => "Mark as in transit",
        ShipmentStatus::Delivered => "Mark as delivered",
        ShipmentStatus::Cancelled => "Void the label",
    }
}

fn return_words(s: ReturnStatus) -> String {
    s.as_str().replace('_', " ")
}

/// An order line as a shipment or a return names it.
fn line_title(order: Option<&Order>, position: i32) -> String {
    usize::try_from(position)
        .ok()
        .and_then(|i| order?.lines.get(i))
        .map_or_else(
            || format!("Line {}", position + 1),
            |l| {
                if l.variant_title.is_empty() || l.variant_title == l.title {
                    l.title.clone()
                } else {
                    format!("{} ({})", l.title, l.variant_title)
                }
            },
        )
}

fn day(at: chrono::DateTime<chrono::Utc>) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// What the order page shows of a shipment that is on its way (or done).
fn shipment_view(
    order: &Order,
    s: &OrderShipment,
    location: String,
    open: bool,
    typed: Option<&Typed>,
) -> Value {
    let form = format!("shipment-{}", s.id);
    let kept = |name: &str, saved: &str| {
        Typed::value(typed, &form, name).unwrap_or_else(|| saved.to_owned())
    };
    let editable = open && !is_terminal(s.status);
    let next: Vec<Value> = if editable {
        fulfillment::staff::next_steps(s.status)
            .into_iter()
            .map(|to| context! { value => to.as_str(), label => step_words(to) })
            .collect()
    } else {
        Vec::new()
    };
    context! {
        id => s.id.to_string(),
        form,
        status => s.status.as_str(),
        status_words => shipment_words(s.status),
        location,
        lines => s.lines.iter().map(|l| context! {
            title => line_title(Some(order), l.line_position),
            quantity => l.quantity,
        }).collect::<Vec<_>>(),
        carrier => kept("carrier", &s.carrier),
        tracking_number => kept("tracking_number", &s.tracking_number),
        tracking_url => kept("tracking_url", &s.tracking_url),
        saved_url => s.tracking_url.clone(),
        created => day(s.created_at),
        shipped => s.shipped_at.map(day),
        delivered => s.delivered_at.map(day),
        editable,
        next,
    }
}

/// Units waiting at one location, and the form that ships them.
fn waiting_view(
    order: &Order,
    location: LocationId,
    name: String,
    pending: &[&OrderShipment],
    typed: Option<&Typed>,
) -> Value {
    let form = format!("ship-{location}");
    let mut per_line: std::collections::BTreeMap<i32, i32> = Default::default();
    for s in pending.iter().filter(|s| s.location_id == location) {
        for l in &s.lines {
            *per_line.entry(l.line_position).or_default() += l.quantity;
        }
    }
    let lines: Vec<Value> = per_line
        .into_iter()
        .map(|(position, waiting)| {
            let sku = usize::try_from(position)
                .ok()
                .and_then(|i| order.lines.get(i))
                .map(|l| l.sku.clone())
                .unwrap_or_default();
            context! {
                position,
                title => line_title(Some(order), position),
                sku,
                waiting,
                value => Typed::value(typed, &form, &format!("qty_{position}"))
                    .unwrap_or_else(|| waiting.to_string()),
            }
        })
        .collect();
    let kept = |name: &str| Typed::value(typed, &form, name).unwrap_or_default();
    context! {
        location => location.to_string(),
        name,
        form,
        lines,
        carrier => kept("carrier"),
        tracking_number => kept("tracking_number"),
        tracking_url => kept("tracking_url"),
        shipped => Typed::value(typed, &form, "status").as_deref() == Some("shipped"),
    }
}

/// What the order page and the returns page show of a return, with its
/// forms' values.
fn return_view(r: &Return, order: Option<&Order>, typed: Option<&Typed>) -> Value {
    let currency = order
        .and_then(|o| Currency::parse(&o.currency).ok())
        .unwrap_or(r.currency);
    let receive = format!("receive-{}", r.id);
    context! {
        id => r.id.to_string(),
        order_id => r.order_id.to_string(),
        order_number => r.order_number,
        status => r.status.as_str(),
        status_words => return_words(r.status),
        reason => r.reason.clone(),
        note => r.note.clone(),
        opened => day(r.created_at),
        refund => r.refund_minor.map(|m| Value::from_serialize(Money::new(m, currency))),
        can_decide => r.status == ReturnStatus::Requested,
        can_receive => r.status == ReturnStatus::Approved,
        approve_note => Typed::value(typed, &format!("approve-{}", r.id), "note").unwrap_or_default(),
        reject_note => Typed::value(typed, &format!("reject-{}", r.id), "note").unwrap_or_default(),
        lines => r.lines.iter().map(|l| {
            let condition = Typed::value(typed, &receive, &format!("condition_{}", l.line))
                .unwrap_or_else(|| "unopened".to_owned());
            context! {
                line => l.line,
                title => line_title(order, l.line),
                quantity => l.quantity,
                condition => l.condition.map(Condition::as_str),
                restock => l.restock,
                condition_value => condition,
                restock_checked => Typed::value(typed, &receive, &format!("restock_{}", l.line))
                    .is_none_or(|v| !v.is_empty()),
            }
        }).collect::<Vec<_>>(),
    }
}

/// The order page's fulfilment sections (`order_fulfilment.html`): its
/// shipments, the units waiting per location, its returns. Forms only
/// while the order is being fulfilled, as the API allows.
pub(super) async fn sections(
    state: &AppState,
    tenant: &TenantContext,
    order: &Order,
    typed: Option<&Typed>,
) -> Result<Value, PodError> {
    let store = tenant.store_id;
    let locations = crate::inventory::sql::locations::all(&state.db, store).await?;
    let name_of = |id: LocationId| {
        locations
            .iter()
            .find(|l| l.id == id)
            .map_or_else(|| "A former location".to_owned(), |l| l.name.clone())
    };
    let open = matches!(
        order.status,
        OrderStatus::Paid | OrderStatus::PartiallyFulfilled | OrderStatus::Fulfilled
    );
    let all = order.shipments.clone().unwrap_or_default();
    let shipments: Vec<Value> = all
        .iter()
        .filter(|s| s.status != ShipmentStatus::Pending)
        .map(|s| shipment_view(order, s, name_of(s.location_id), open, typed))
        .collect();
    let pending: Vec<&OrderShipment> = all
        .iter()
        .filter(|s| s.status == ShipmentStatus::Pending)
        .collect();
    let mut at: Vec<LocationId> = Vec::new();
    for s in &pending {
        if !at.contains(&s.location_id) {
            at.push(s.location_id);
        }
    }
    let waiting: Vec<Value> = at
        .into_iter()
        .map(|l| waiting_view(order, l, name_of(l), &pending, typed))
        .collect();
    let found = returns::list(state, store, Some(order.id), None, None, 100).await?;
    let returns: Vec<Value> = found
        .iter()
        .map(|r| return_view(r, Some(order), typed))
        .collect();
    Ok(context! { open, shipments, waiting, returns })
}

fn order_id(raw: &str) -> Result<OrderId, PodError> {
    raw.parse()
        .map_err(|_| PodError::from(ApiError::not_found("order")))
}

fn shipment_id(raw: &str) -> Result<ShipmentId, PodError> {
    raw.parse()
        .map_err(|_| PodError::from(ApiError::not_found("shipment")))
}

fn return_id(raw: &str) -> Result<ReturnId, PodError> {
    raw.parse()
        .map_err(|_| PodError::from(ApiError::not_found("return")))
}

/// A refusal to show on the page the form came from: a client error but
/// a missing order, shipment or return (nothing to show it on).
fn refusal(e: &PodError) -> Option<ApiError> {
    e.client_error()
        .filter(|r| r.code.status().is_client_error() && r.code.status() != StatusCode::NOT_FOUND)
}

/// Runs a form of an order's page: the session's form (CSRF, same site),
/// the order id from the path, then `act`, which answers the `?done=` of
/// the order's page. A refusal is shown on the order's page with what
/// was typed.
async fn order_form(
    state: &AppState,
    tenant: &TenantContext,
    session: Option<AdminSession>,
    id: &str,
    headers: &HeaderMap,
    body: &[u8],
    act: impl AsyncFnOnce(&[(String, String)], OrderId) -> Result<String, PodError>,
) -> Response {
    let Some(session) = session else {
        return sign_in_first(&format!("/admin/orders/{id}"));
    };
    let result = async {
        let fields = session.form(headers, body)?;
        let order = order_id(id)?;
        match act(&fields, order).await {
            Ok(done) => Ok(see_other(&format!("/admin/orders/{order}?done={done}"))),
            Err(e) => match refusal(&e) {
                Some(r) => {
                    let typed = Typed::of(fields);
                    order_page(
                        state,
                        tenant,
                        &session,
                        order,
                        r.code.status(),
                        None,
                        Some(sentence(&r.message)),
                        Some(&typed),
                    )
                    .await
                }
                None => Err(e),
            },
        }
    }
    .await;
    result.unwrap_or_else(|e| error_page(tenant, e))
}

/// Carrier and tracking as a form sends them, checked as the API checks
/// them.
fn tracking_of(fields: &[(String, String)]) -> Result<fulfillment::Tracking, ApiError> {
    fulfillment::staff::tracking(
        field(fields, "carrier"),
        field(fields, "tracking_number"),
        field(fields, "tracking_url"),
    )
}

/// `POST /admin/orders/{id}/shipments` (`location`, `qty_<line>` per
/// line, `status`, `carrier`, `tracking_number`, `tracking_url`): ships
/// units waiting at a location, as `POST /admin/api/orders/{id}/shipments`.
pub async fn create_shipment(
    State(state): State<AppState>,
    tenant: TenantContext,
    MaybeAdmin(session): MaybeAdmin,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let actor = session.as_ref().map(AdminSession::actor);
    order_form(
        &state,
        &tenant,
        session,
        &id,
        &headers,
        &body,
        async |fields, order| {
            let location: LocationId = field(fields, "location")
                .unwrap_or_default()
                .parse()
                .map_err(|_| ApiError::invalid("choose a location the units wait at"))?;
            let status = match field(fields, "status").unwrap_or("label_created") {
                "label_created" => ShipmentStatus::LabelCreated,
                "shipped" => ShipmentStatus::Shipped,
                _ => {
                    return Err(
                        ApiError::invalid("a new shipment is label created or shipped").into(),
                    )
                }
            };
            let mut asked: Vec<(i32, i32)> = Vec::new();
            for (name, value) in fields {
                let Some(line) = name.strip_prefix("qty_") else {
                    continue;
                };
                let value = value.trim();
                let units: i32 = if value.is_empty() {
                    0
                } else {
                    value.parse().map_err(|_| {
                        ApiError::invalid("enter the units to ship as whole numbers")
                    })?
                };
                let line: i32 = line
                    .parse()
                    .map_err(|_| ApiError::invalid("choose lines of the order"))?;
                if units < 0 {
                    return Err(
                        ApiError::invalid("enter the units to ship as whole numbers").into(),
                    );
                }
                if units > 0 {
                    asked.push((line, units));
                }
            }
            if asked.is_empty() {
                return Err(ApiError::invalid("choose at least one unit to ship").into());
            }
            let units = fulfillment::staff::units(&asked)?;
            let tracking = tracking_of(fields)?;
            fulfillment::staff::create(
                &state,
                tenant.store_id,
                order,
                Some(location),
                &units,
                status,
                &tracking,
                actor.as_deref().unwrap_or_default(),
            )
            .await?;
            Ok("shipment-created".to_owned())
        },
    )
    .await
}

/// `POST /admin/orders/{id}/shipments/{shipment}` (`carrier`,
/// `tracking_number`, `tracking_url`): as `PATCH
/// /admin/api/orders/{id}/shipments/{shipment_id}`.
pub async fn edit_tracking(
    State(state): State<AppState>,
    tenant: TenantContext,
    MaybeAdmin(session): MaybeAdmin,
    Path((id, shipment)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    order_form(
        &state,
        &tenant,
        session,
        &id,
        &headers,
        &body,
        async |fields, order| {
            let shipment = shipment_id(&shipment)?;
            let tracking = tracking_of(fields)?;
            fulfillment::staff::edit(&state, tenant.store_id, order, shipment, &tracking).await?;
            Ok("shipment-tracking".to_owned())
        },
    )
    .await
}

/// `POST /admin/orders/{id}/shipments/{shipment}/status` (`status`, and
/// the tracking fields): as `POST
/// /admin/api/orders/{id}/shipments/{shipment_id}/status`.
pub async fn move_shipment(
    State(state): State<AppState>,
    tenant: TenantContext,
    MaybeAdmin(session): MaybeAdmin,
    Path((id, shipment)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let actor = session.as_ref().map(AdminSession::actor);
    order_form(
        &state,
        &tenant,
        session,
        &id,
        &headers,
        &body,
        async |fields, order| {
            let shipment = shipment_id(&shipment)?;
            let to = field(fields, "status")
                .and_then(ShipmentStatus::parse)
                .ok_or_else(|| ApiError::invalid("choose a status from the buttons"))?;
            let tracking = tracking_of(fields)?;
            fulfillment::staff::advance(
                &state,
                tenant.store_id,
                order,
                shipment,
                to,
                &tracking,
                actor.as_deref().unwrap_or_default(),
            )
            .await?;
            Ok(format!("shipment-{}", to.as_str()))
        },
    )
    .await
}

/// The status a returns page lists: `requested` (to decide) unless one is
/// chosen; `all` for every status.
fn status_filter(raw: Option<&str>) -> Result<(String, Option<ReturnStatus>), ApiError> {
    match raw.filter(|s| !s.is_empty()) {
        None => Ok(("requested".to_owned(), Some(ReturnStatus::Requested))),
        Some("all") => Ok(("all".to_owned(), None)),
        Some(s) => ReturnStatus::parse(s)
            .map(|st| (s.to_owned(), Some(st)))
            .ok_or_else(|| ApiError::invalid("choose a status from the list")),
    }
}

/// What `/admin/returns` is asked for.
struct ReturnsQuery {
    filter: String,
    status: Option<ReturnStatus>,
    after: Option<uuid::Uuid>,
}

#[allow(clippy::too_many_arguments)]
async fn returns_list(
    state: &AppState,
    tenant: &TenantContext,
    session: &AdminSession,
    q: &ReturnsQuery,
    status: StatusCode,
    notice: Option<String>,
    problem: Option<String>,
    typed: Option<&Typed>,
) -> Result<Response, PodError> {
    let store = tenant.store_id;
    let mut items = returns::list(state, store, None, q.status, q.after, RETURNS_PAGE + 1).await?;
    let next = crate::paging::split_page(&mut items, RETURNS_PAGE as usize, |r| r.id.to_string())
        .map(|cursor| {
            format!(
                "/admin/returns?status={}&after={cursor}",
                urlencode(&q.filter)
            )
        });
    let mut orders: Vec<Order> = Vec::new();
    let mut conn = state.db.acquire().await?;
    for r in &items {
        if !orders.iter().any(|o| o.id == r.order_id) {
            if let Some(o) = crate::orders::get(&mut conn, store, r.order_id, false).await? {
                orders.push(o);
            }
        }
    }
    drop(conn);
    let views: Vec<Value> = items
        .iter()
        .map(|r| return_view(r, orders.iter().find(|o| o.id == r.order_id), typed))
        .collect();
    let statuses: Vec<Value> = std::iter::once(("all".to_owned(), "any status".to_owned()))
        .chain(
            ReturnStatus::ALL
                .into_iter()
                .map(|s| (s.as_str().to_owned(), return_words(s))),
        )
        .map(|(value, label)| {
            let label = if value == "requested" {
                "requested (to decide)".to_owned()
            } else {
                label
            };
            context! { selected => value == q.filter, value, label }
        })
        .collect();
    let body = render(
        tenant,
        Some(session),
        "returns.html",
        "Returns",
        context! {
            nav => "orders",
            notice,
            problem,
            filter => q.filter.clone(),
            statuses,
            returns => views,
            next,
        },
    )?;
    Ok(html(status, body))
}

/// `GET /admin/returns[?status=][&after=]`: the store's returns, newest
/// first, those to decide (`requested`) unless another status is chosen;
/// as `GET /admin/api/returns`.
pub async fn returns_page(
    State(state): State<AppState>,
    tenant: TenantContext,
    MaybeAdmin(session): MaybeAdmin,
    ApiQuery(pairs): ApiQuery<Vec<(String, String)>>,
) -> Response {
    let Some(session) = session else {
        return sign_in_first("/admin/returns");
    };
    let result = async {
        let (filter, status) = status_filter(field(&pairs, "status"))?;
        let after = field(&pairs, "after")
            .filter(|a| !a.is_empty())
            .map(|a| {
                a.parse::<uuid::Uuid>()
                    .map_err(|_| ApiError::invalid("after must be a cursor from a previous page"))
            })
            .transpose()?;
        let notice = notice(field(&pairs, "done"));
        returns_list(
            &state,
            &tenant,
            &session,
            &ReturnsQuery {
                filter,
                status,
                after,
            },
            StatusCode::OK,
            notice,
            None,
            None,
        )
        .await
    }
    .await;
    result.unwrap_or_else(|e| error_page(&tenant, e))
}

/// Runs a return's form: the session's form, the return id from the
/// path, then `act`. Goes on to the page the form was on (`back=order`:
/// the return's order, else `/admin/returns` with its `list` status),
/// where a refusal is shown with what was typed.
async fn return_form(
    state: &AppState,
    tenant: &TenantContext,
    session: Option<AdminSession>,
    id: &str,
    headers: &HeaderMap,
    body: &[u8],
    act: impl AsyncFnOnce(&[(String, String)], ReturnId) -> Result<(Return, &'static str), PodError>,
) -> Response {
    let Some(session) = session else {
        return sign_in_first("/admin/returns");
    };
    let result = async {
        let fields = session.form(headers, body)?;
        let id = return_id(id)?;
        let on_order = field(&fields, "back") == Some("order");
        let (filter, status) = status_filter(field(&fields, "list"))?;
        match act(&fields, id).await {
            Ok((r, done)) if on_order => Ok(see_other(&format!(
                "/admin/orders/{}?done={done}",
                r.order_id
            ))),
            Ok((_, done)) => Ok(see_other(&format!(
                "/admin/returns?status={}&done={done}",
                urlencode(&filter)
            ))),
            Err(e) => {
                let Some(r) = refusal(&e) else {
                    return Err(e);
                };
                let typed = Typed::of(fields);
                let problem = Some(sentence(&r.message));
                if on_order {
                    let order = returns::get(state, tenant.store_id, id).await?.order_id;
                    order_page(
                        state,
                        tenant,
                        &session,
                        order,
                        r.code.status(),
                        None,
                        problem,
                        Some(&typed),
                    )
                    .await
                } else {
                    let q = ReturnsQuery {
                        filter,
                        status,
                        after: None,
                    };
                    returns_list(
                        state,
                        tenant,
                        &session,
                        &q,
                        r.code.status(),
                        None,
                        problem,
                        Some(&typed),
                    )
                    .await
                }
            }
        }
    }
    .await;
    result.unwrap_or_else(|e| error_page(tenant, e))
}

/// `POST /admin/returns/{id}/approve` (`note`, optional): as `POST
/// /admin/api/returns/{id}/approve`.
pub async fn approve(
    State(state): State<AppState>,
    tenant: TenantContext,
    MaybeAdmin(session): MaybeAdmin,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    return_form(
        &state,
        &tenant,
        session,
        &id,
        &headers,
        &body,
        async |fields, id| {
            let r = returns::approve(&state, tenant.store_id, id, field(fields, "note")).await?;
            Ok((r, "return-approved"))
        },
    )
    .await
}

/// `POST /admin/returns/{id}/reject` (`note`: why): as `POST
/// /admin/api/returns/{id}/reject`.
pub async fn reject(
    State(state): State<AppState>,
    tenant: TenantContext,
    MaybeAdmin(session): MaybeAdmin,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    return_form(
        &state,
        &tenant,
        session,
        &id,
        &headers,
        &body,
        async |fields, id| {
            let note = field(fields, "note").unwrap_or_default();
            let r = returns::reject(&state, tenant.store_id, id, note).await?;
            Ok((r, "return-rejected"))
        },
    )
    .await
}

/// `POST /admin/returns/{id}/receive` (`condition_<line>` and
/// `restock_<line>` for each line of the return): as `POST
/// /admin/api/returns/{id}/receive`, which restocks and refunds it.
pub async fn receive(
    State(state): State<AppState>,
    tenant: TenantContext,
    MaybeAdmin(session): MaybeAdmin,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    return_form(
        &state,
        &tenant,
        session,
        &id,
        &headers,
        &body,
        async |fields, id| {
            let store = tenant.store_id;
            let r = returns::get(&state, store, id).await?;
            let received: Vec<(i32, Condition, bool)> = r
                .lines
                .iter()
                .map(|l| {
                    let condition = field(fields, &format!("condition_{}", l.line))
                        .and_then(Condition::parse)
                        .ok_or_else(|| {
                            ApiError::invalid(
                                "choose the condition of each line: unopened, opened or damaged",
                            )
                        })?;
                    let restock = field(fields, &format!("restock_{}", l.line)).is_some();
                    Ok((l.line, condition, restock))
                })
                .collect::<Result<_, ApiError>>()?;
            let r = returns::receive(&state, store, id, &received).await?;
            let done = match r.status {
                ReturnStatus::Completed => "return-refunded",
                ReturnStatus::RefundFailed => "return-refund-failed",
                _ => "return-received",
            };
            Ok((r, done))
        },
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_done_of_a_shipment_step_has_its_notice() {
        for s in ShipmentStatus::ALL {
            if fulfillment::staff::next_steps(ShipmentStatus::Pending).contains(&s)
                || fulfillment::staff::next_steps(ShipmentStatus::LabelCreated).contains(&s)
                || fulfillment::staff::next_steps(ShipmentStatus::Shipped).contains(&s)
            {
                assert!(
                    notice(Some(&format!("shipment-{}", s.as_str()))).is_some(),
                    "{s:?}"
                );
            }
        }
        assert!(notice(Some("nonsense")).is_none());
        assert!(notice(None).is_none());
    }

    #[test]
    fn the_returns_page_lists_those_to_decide_unless_asked() {
        assert_eq!(
            status_filter(None).expect("default").1,
            Some(ReturnStatus::Requested)
        );
        assert_eq!(status_filter(Some("all")).expect("all").1, None);
        assert_eq!(
            status_filter(Some("approved")).expect("approved").1,
            Some(ReturnStatus::Approved)
        );
        assert!(status_filter(Some("lost")).is_err());
    }
}
