//! Shipment endpoints: staff see a paid order's shipments (planned at
//! payment, one per location that ships), split off some waiting units as
//! a shipment of their own (partial fulfilment), set carrier and tracking,
//! and move each shipment along; the order's status follows. The shopper
//! sees the same shipments on `GET /api/orders/{number}`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use mercato_tenants::http::{ApiJson, ApiPath};
use mercato_tenants::{ApiError, LocationId, OrderId, ShipmentId, ShipmentStatus};
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::orders::{actor, note};
use crate::accounts::auth::Staff;
use crate::cancellation::{self, Cancel};
use crate::error::PodError;
use crate::fulfillment::progress::Units;
use crate::fulfillment::{self, Tracking};
use crate::orders::{Order, OrderShipment};
use crate::refunds::Refund;
use crate::state::AppState;
use crate::tenancy::TenantContext;

/// The fulfillment API, each route registered with its OpenAPI description.
pub fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::default()
        .routes(routes!(list_shipments, fulfil_units))
        .routes(routes!(edit_shipment))
        .routes(routes!(advance_shipment))
        .routes(routes!(cancel_lines))
}

/// Carrier and tracking as staff send them; each field optional, an empty
/// string clears it.
#[derive(Deserialize, utoipa::ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct TrackingInput {
    /// Up to 100 characters, e.g. `DHL`.
    #[schema(max_length = 100)]
    pub carrier: Option<String>,
    /// Up to 100 characters.
    #[schema(max_length = 100)]
    pub tracking_number: Option<String>,
    /// An `https://` or `http://` address, up to 2048 characters (empty
    /// clears it).
    #[schema(
        max_length = 2048,
        pattern = r"^([hH][tT][tT][pP][sS]?://[^\s/\u0000-\u001F\u007F-\u009F][^\s\u0000-\u001F\u007F-\u009F]*)?$"
    )]
    pub tracking_url: Option<String>,
}

impl TrackingInput {
    fn validate(&self) -> Result<Tracking, ApiError> {
        fulfillment::staff::tracking(
            self.carrier.as_deref(),
            self.tracking_number.as_deref(),
            self.tracking_url.as_deref(),
        )
    }
}

/// Units of one order line for a new shipment.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ShipmentLineInput {
    /// The line's index in the order's `lines` (0 first).
    #[schema(minimum = 0)]
    pub line_position: i32,
    /// At least 1.
    #[schema(minimum = 1)]
    pub quantity: i32,
}

/// Where a new shipment starts.
#[derive(Deserialize, utoipa::ToSchema, Clone, Copy)]
#[serde(rename_all = "snake_case")]
pub enum NewShipmentStatus {
    /// Packed, its label printed (the default).
    LabelCreated,
    /// Handed to the carrier.
    Shipped,
}

impl From<NewShipmentStatus> for ShipmentStatus {
    fn from(s: NewShipmentStatus) -> Self {
        match s {
            NewShipmentStatus::LabelCreated => ShipmentStatus::LabelCreated,
            NewShipmentStatus::Shipped => ShipmentStatus::Shipped,
        }
    }
}

/// A shipment of some waiting units.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewShipment {
    /// `label_created` (the default: packed, label printed) or `shipped`
    /// (handed to the carrier).
    pub status: Option<NewShipmentStatus>,
    /// Where the units wait; may be left out when they wait at one
    /// location only.
    pub location_id: Option<LocationId>,
    /// 1 to 250 lines.
    #[schema(min_items = 1, max_items = 250)]
    pub lines: Vec<ShipmentLineInput>,
    /// Up to 100 characters.
    #[schema(max_length = 100)]
    pub carrier: Option<String>,
    /// Up to 100 characters.
    #[schema(max_length = 100)]
    pub tracking_number: Option<String>,
    /// An `https://` or `http://` address, up to 2048 characters.
    #[schema(
        max_length = 2048,
        pattern = r"^([hH][tT][tT][pP][sS]?://[^\s/\u0000-\u001F\u007F-\u009F][^\s\u0000-\u001F\u007F-\u009F]*)?$"
    )]
    pub tracking_url: Option<String>,
}

/// A shipment's next step.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ShipmentStep {
    /// `label_created`, `shipped`, `in_transit`, `delivered`, or
    /// `cancelled` (a shipment with a label; its units wait again).
    pub status: ShipmentStatus,
    /// Up to 100 characters.
    #[schema(max_length = 100)]
    pub carrier: Option<String>,
    /// Up to 100 characters.
    #[schema(max_length = 100)]
    pub tracking_number: Option<String>,
    /// An `https://` or `http://` address, up to 2048 characters.
    #[schema(
        max_length = 2048,
        pattern = r"^([hH][tT][tT][pP][sS]?://[^\s/\u0000-\u001F\u007F-\u009F][^\s\u0000-\u001F\u007F-\u009F]*)?$"
    )]
    pub tracking_url: Option<String>,
}

fn tracking_of(
    carrier: &Option<String>,
    tracking_number: &Option<String>,
    tracking_url: &Option<String>,
) -> TrackingInput {
    TrackingInput {
        carrier: carrier.clone(),
        tracking_number: tracking_number.clone(),
        tracking_url: tracking_url.clone(),
    }
}

impl ShipmentStep {
    fn tracking(&self) -> TrackingInput {
        tracking_of(&self.carrier, &self.tracking_number, &self.tracking_url)
    }
}

impl NewShipment {
    fn tracking(&self) -> TrackingInput {
        tracking_of(&self.carrier, &self.tracking_number, &self.tracking_url)
    }
}

/// The units a request names, checked.
fn units_of(lines: &[ShipmentLineInput]) -> Result<Vec<Units>, ApiError> {
    let asked: Vec<(i32, i32)> = lines
        .iter()
        .map(|l| (l.line_position, l.quantity))
        .collect();
    fulfillment::staff::units(&asked)
}

/// The order's shipments, oldest first: those planned at payment (one per
/// location its stock was committed at, nearest to the address first) and
/// those split off since.
#[utoipa::path(get, path = "/admin/api/orders/{id}/shipments", tag = "fulfillment",
    params(("id" = OrderId, Path, description = "order id")),
    responses((status = 200, body = Vec<OrderShipment>),
        (status = 404, body = mercato_tenants::error::ErrorBody)))]
async fn list_shipments(
    State(state): State<AppState>,
    tenant: TenantContext,
    _: Staff,
    ApiPath(id): ApiPath<OrderId>,
) -> Result<Json<Vec<OrderShipment>>, PodError> {
    Ok(Json(
        fulfillment::staff::of_order(&state, tenant.store_id, id).await?,
    ))
}

/// Ships some of the order's waiting units on their own (partial
/// fulfilment): they leave the pending shipment(s) of their location for
/// a new pending shipment, which then moves like any other.
#[utoipa::path(post, path = "/admin/api/orders/{id}/shipments", tag = "fulfillment",
    params(("id" = OrderId, Path, description = "order id")),
    request_body = NewShipment,
    responses((status = 201, body = OrderShipment),
        (status = 400, body = mercato_tenants::error::ErrorBody),
        (status = 404, body = mercato_tenants::error::ErrorBody),
        (status = 409, description = "units_not_pending: fewer units wait than asked; invalid_transition: the order is not being fulfilled", body = mercato_tenants::error::ErrorBody)))]
async fn fulfil_units(
    State(state): State<AppState>,
    tenant: TenantContext,
    staff: Staff,
    ApiPath(id): ApiPath<OrderId>,
    ApiJson(body): ApiJson<NewShipment>,
) -> Result<(StatusCode, Json<OrderShipment>), PodError> {
    let wanted = units_of(&body.lines)?;
    let tracking = body.tracking().validate()?;
    let shipment = fulfillment::staff::create(
        &state,
        tenant.store_id,
        id,
        body.location_id,
        &wanted,
        body.status
            .map_or(ShipmentStatus::LabelCreated, ShipmentStatus::from),
        &tracking,
        &actor(&staff),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(shipment)))
}

/// Sets a shipment's carrier and tracking (fields left out stay as they
/// are); not once it is delivered or cancelled.
#[utoipa::path(patch, path = "/admin/api/orders/{id}/shipments/{shipment_id}", tag = "fulfillment",
    params(("id" = OrderId, Path, description = "order id"),
        ("shipment_id" = ShipmentId, Path, description = "shipment id")),
    request_body = TrackingInput,
    responses((status = 200, body = OrderShipment),
        (status = 400, body = mercato_tenants::error::ErrorBody),
        (status = 404, body = mercato_tenants::error::ErrorBody),
        (status = 409, body = mercato_tenants::error::ErrorBody)))]
async fn edit_shipment(
    State(state): State<AppState>,
    tenant: TenantContext,
    _: Staff,
    ApiPath((id, shipment)): ApiPath<(OrderId, ShipmentId)>,
    ApiJson(body): ApiJson<TrackingInput>,
) -> Result<Json<OrderShipment>, PodError> {
    let tracking = body.validate()?;
    Ok(Json(
        fulfillment::staff::edit(&state, tenant.store_id, id, shipment, &tracking).await?,
    ))
}

/// Moves a shipment on: `pending → label_created → shipped → in_transit →
/// delivered` (a label and the transit step are optional), or cancels one
/// with a label (its units wait again at its location). The order becomes
/// partially fulfilled, fulfilled and delivered as its shipments do.
#[utoipa::path(post, path = "/admin/api/orders/{id}/shipments/{shipment_id}/status", tag = "fulfillment",
    params(("id" = OrderId, Path, description = "order id"),
        ("shipment_id" = ShipmentId, Path, description = "shipment id")),
    request_body = ShipmentStep,
    responses((status = 200, body = OrderShipment),
        (status = 400, body = mercato_tenants::error::ErrorBody),
        (status = 404, body = mercato_tenants::error::ErrorBody),
        (status = 409, description = "invalid_transition", body = mercato_tenants::error::ErrorBody)))]
async fn advance_shipment(
    State(state): State<AppState>,
    tenant: TenantContext,
    staff: Staff,
    ApiPath((id, shipment)): ApiPath<(OrderId, ShipmentId)>,
    ApiJson(body): ApiJson<ShipmentStep>,
) -> Result<Json<OrderShipment>, PodError> {
    let tracking = body.tracking().validate()?;
    Ok(Json(
        fulfillment::staff::advance(
            &state,
            tenant.store_id,
            id,
            shipment,
            body.status,
            &tracking,
            &actor(&staff),
        )
        .await?,
    ))
}

/// Units of a paid order to cancel before they ship.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LineCancellation {
    /// 1 to 250 lines: units that are still waiting to ship.
    #[schema(min_items = 1, max_items = 250)]
    pub lines: Vec<ShipmentLineInput>,
    /// Put the units back on hand where they waited (the default), or
    /// write them off (`false`: damaged, lost).
    pub restock: Option<bool>,
    /// Up to 500 characters; shown to the shopper in the mail.
    #[schema(max_length = 500)]
    pub reason: Option<String>,
}

/// The order after a line cancellation, and the refund it made.
#[derive(Serialize, utoipa::ToSchema)]
pub struct LinesCancelledAnswer {
    /// The order with its shipments; each line's `cancelled_quantity`
    /// counts its cancelled units. `cancelled` once no unit is left.
    pub order: Order,
    /// The refund of the cancelled units: `succeeded`, or `pending` while
    /// the gateway's answer is unknown (the recovery worker finishes it);
    /// absent when nothing was left to refund.
    pub refund: Option<Refund>,
}

/// Cancels some of a paid order's units before they ship: they leave its
/// pending shipments, go back on hand where they waited (or are written
/// off), and are refunded (their prices and share of the tax, like a
/// return's refund). Cancelling every unit that is left cancels the order
/// and refunds what is left of it, shipping included. The shopper is
/// mailed. A retry finds the units gone (`409 units_not_pending`) and
/// cancels nothing twice.
#[utoipa::path(post, path = "/admin/api/orders/{id}/line-cancellations", tag = "fulfillment",
    params(("id" = OrderId, Path, description = "order id")),
    request_body = LineCancellation,
    responses((status = 200, body = LinesCancelledAnswer),
        (status = 400, body = mercato_tenants::error::ErrorBody),
        (status = 404, body = mercato_tenants::error::ErrorBody),
        (status = 409, description = "units_not_pending: fewer units wait to ship than asked; invalid_transition: the order is not paid, or already cancelled or refunded", body = mercato_tenants::error::ErrorBody)))]
async fn cancel_lines(
    State(state): State<AppState>,
    tenant: TenantContext,
    staff: Staff,
    ApiPath(id): ApiPath<OrderId>,
    ApiJson(body): ApiJson<LineCancellation>,
) -> Result<Json<LinesCancelledAnswer>, PodError> {
    let units = units_of(&body.lines)?;
    let reason = note(body.reason.as_deref())?;
    let actor = actor(&staff);
    let done = cancellation::cancel_lines(
        &state,
        tenant.store_id,
        &Cancel {
            order: id,
            units: &units,
            restock: body.restock.unwrap_or(true),
            reason: reason.as_deref(),
            actor: &actor,
        },
    )
    .await?;
    Ok(Json(LinesCancelledAnswer {
        order: done.order,
        refund: done.refund,
    }))
}
