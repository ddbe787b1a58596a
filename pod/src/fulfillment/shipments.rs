//! The fulfillment context's I/O: planning a paid order's shipments where
//! its stock is committed, and staff's shipment writes. Each write holds
//! the order's row lock first, then its shipments' (the lock order of the
//! context), so concurrent writes on one order run one after another and
//! a unit can never be in two live shipments (the database's
//! `shipment_lines_within_order` trigger checks the same at commit).

use std::collections::BTreeMap;

use mercato_tenants::events::{
    Event, OrderFulfilled, OrderStatusChanged, ShipmentChange, ShipmentUpdated, ShipmentUpdatedLine,
};
use mercato_tenants::{
    ApiError, ErrorCode, HoldOwner, LocationId, OrderId, OrderStatus, ShipmentId, ShipmentStatus,
    StoreId, VariantId,
};
use sqlx::{Postgres, Transaction};

use super::plan::{self, Coordinates, Destination, Origin, PlanLine};
use super::progress::{self, TakeError, Units};
use super::sql::{self, Tracking};
use super::state;
use crate::error::PodError;
use crate::inventory::{self, Takeable};
use crate::orders::{self, Order, OrderShipment};

/// Where a quote's shipping address goes, for the planner. Addresses carry
/// no coordinates (there is no geocoder), so nearness is by country and
/// region, then the locations' priority.
pub fn destination(address: &serde_json::Value) -> Destination {
    let field = |k: &str| {
        address
            .get(k)
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .trim()
            .to_owned()
    };
    Destination {
        country: field("country").to_ascii_uppercase(),
        region: field("region"),
        postal_code: field("postal_code"),
        coordinates: None,
    }
}

/// The planner's view of what a commit may take.
fn origins(takeable: &Takeable) -> Vec<Origin> {
    takeable
        .locations
        .iter()
        .map(|l| Origin {
            location: l.id,
            country: l.country.clone(),
            region: l.region.clone(),
            postal_code: l.postal_code.clone(),
            coordinates: l
                .latitude
                .zip(l.longitude)
                .and_then(|(lat, lon)| Coordinates::new(lat, lon)),
            priority: l.priority,
            available: takeable
                .units
                .iter()
                .filter(|((_, at), _)| *at == l.id)
                .map(|((v, _), q)| (*v, *q))
                .collect(),
        })
        .collect()
}

/// Inside the order's commit transaction (payment captured): plans the
/// shipments ([`plan::plan`]), commits the held stock at the locations
/// that ship it, and stores the plan as pending shipments, nearest
/// location first. Order lines have distinct variants. Returns how many
/// shipments were planned (none when the holds were committed already).
pub async fn plan_at_payment(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    order: OrderId,
    owner: HoldOwner,
    to: &Destination,
) -> Result<usize, sqlx::Error> {
    let mut ranked: Vec<LocationId> = Vec::new();
    let parts = inventory::commit_routed(tx, store, owner, |takeable| {
        let lines: Vec<PlanLine> = takeable
            .wanted
            .iter()
            .map(|(&variant, &quantity)| PlanLine { variant, quantity })
            .collect();
        match plan::plan(&lines, to, &origins(takeable)) {
            Ok(p) => {
                ranked = p.shipments.iter().map(|s| s.location).collect();
                p.shipments
                    .into_iter()
                    .flat_map(|s| {
                        s.lines
                            .into_iter()
                            .map(move |l| (l.variant, s.location, l.quantity))
                    })
                    .collect()
            }
            Err(e) => {
                tracing::warn!(%store, %order, error = %e, "no shipment plan; shipping where the stock was held");
                takeable.held.clone()
            }
        }
    })
    .await?;
    if parts.is_empty() {
        return Ok(0);
    }
    let positions: BTreeMap<VariantId, i32> = order_positions(tx, store, order).await?;
    let mut by_location: Vec<(LocationId, Vec<Units>)> = Vec::new();
    for (variant, location, quantity) in parts {
        let Some(&line) = positions.get(&variant) else {
            continue;
        };
        let units = Units { line, quantity };
        match by_location.iter_mut().find(|(l, _)| *l == location) {
            Some((_, lines)) => lines.push(units),
            None => by_location.push((location, vec![units])),
        }
    }
    // Nearest first when the plan was used; ids are time-ordered.
    by_location.sort_by_key(|(l, _)| ranked.iter().position(|r| r == l).unwrap_or(usize::MAX));
    for (location, lines) in &by_location {
        sql::insert(
            tx,
            store,
            order,
            *location,
            ShipmentStatus::Pending,
            lines,
            &Tracking::default(),
        )
        .await?;
    }
    Ok(by_location.len())
}

async fn order_positions(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    order: OrderId,
) -> Result<BTreeMap<VariantId, i32>, sqlx::Error> {
    let rows: Vec<(uuid::Uuid, i32)> = sqlx::query_as(
        "SELECT variant_id, position FROM order_lines WHERE store_id = $1 AND order_id = $2",
    )
    .bind(store.as_uuid())
    .bind(order.as_uuid())
    .fetch_all(&mut **tx)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(v, p)| (VariantId::from_uuid(v), p))
        .collect())
}

/// The order and its shipments, locked, for a shipment write: refused
/// unless the order is paid and not cancelled or refunded.
async fn lock(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    order: OrderId,
) -> Result<(Order, Vec<OrderShipment>), PodError> {
    let order = orders::get(tx.as_mut(), store, order, true)
        .await?
        .ok_or_else(|| ApiError::not_found("order"))?;
    if !matches!(
        order.status,
        OrderStatus::Paid | OrderStatus::PartiallyFulfilled | OrderStatus::Fulfilled
    ) {
        return Err(ApiError::new(
            ErrorCode::InvalidTransition,
            format!(
                "an order that is {} has no shipments to change",
                order.status.as_str()
            ),
        )
        .into());
    }
    let shipments = sql::of_order(tx.as_mut(), store, order.id, true).await?;
    Ok((order, shipments))
}

/// After a shipment write: the order's status follows its shipments
/// ([`progress::order_status`]), with its history row and event.
async fn follow(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    order: &Order,
    shipments: &[OrderShipment],
    actor: &str,
) -> Result<(), PodError> {
    let units: Vec<(ShipmentStatus, i64)> = shipments
        .iter()
        .map(|s| {
            (
                s.status,
                s.lines.iter().map(|l| i64::from(l.quantity)).sum(),
            )
        })
        .collect();
    let to = progress::order_status(order.status, &units);
    if to == order.status {
        return Ok(());
    }
    orders::set_status(tx, store, order.id, order.status, to, actor, None).await?;
    crate::events::record(
        tx,
        store,
        &Event::OrderStatusChanged(OrderStatusChanged {
            order_id: order.id,
            number: order.number,
            from: order.status,
            to,
        }),
    )
    .await?;
    if to == OrderStatus::Fulfilled {
        crate::events::record(
            tx,
            store,
            &Event::OrderFulfilled(OrderFulfilled {
                order_id: order.id,
                number: order.number,
            }),
        )
        .await?;
    }
    Ok(())
}

/// After a shipment write: the order's shipments as they now stand (one
/// read for [`announce`] and [`follow`]).
async fn after_write(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    order: &Order,
) -> Result<Vec<OrderShipment>, PodError> {
    Ok(sql::of_order(tx.as_mut(), store, order.id, false).await?)
}

/// Records `order.shipment_updated` for a shipment as it now stands.
async fn announce(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    order: &Order,
    shipments: &[OrderShipment],
    shipment: ShipmentId,
    change: ShipmentChange,
) -> Result<(), PodError> {
    let s = shipment_of(shipments, shipment)?;
    let lines = s
        .lines
        .iter()
        .map(|l| {
            let line = usize::try_from(l.line_position)
                .ok()
                .and_then(|i| order.lines.get(i));
            ShipmentUpdatedLine {
                sku: line.map(|o| o.sku.clone()).unwrap_or_default(),
                title: line.map(|o| o.title.clone()).unwrap_or_default(),
                quantity: l.quantity,
            }
        })
        .collect();
    crate::events::record(
        tx,
        store,
        &Event::ShipmentUpdated(ShipmentUpdated {
            order_id: order.id,
            number: order.number,
            shipment_id: s.id,
            change,
            status: s.status,
            carrier: s.carrier.clone(),
            tracking_number: s.tracking_number.clone(),
            tracking_url: s.tracking_url.clone(),
            email: order.email.clone(),
            lines,
        }),
    )
    .await?;
    Ok(())
}

fn shipment_of(shipments: &[OrderShipment], id: ShipmentId) -> Result<&OrderShipment, ApiError> {
    shipments
        .iter()
        .find(|s| s.id == id)
        .ok_or_else(|| ApiError::not_found("shipment"))
}

/// Fulfils some of the order's waiting units (all of them, or part:
/// partial fulfilment): they leave the pending shipments of `location`
/// (the only location with waiting units when `None`) for a new shipment
/// in `status` (`label_created` or `shipped`). Returns the new shipment.
#[allow(clippy::too_many_arguments)]
pub async fn fulfil(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    order: OrderId,
    location: Option<LocationId>,
    wanted: &[Units],
    status: ShipmentStatus,
    tracking: &Tracking,
    actor: &str,
) -> Result<ShipmentId, PodError> {
    if !matches!(
        status,
        ShipmentStatus::LabelCreated | ShipmentStatus::Shipped
    ) {
        return Err(ApiError::invalid("a new shipment is label_created or shipped").into());
    }
    let (order, shipments) = lock(tx, store, order).await?;
    let pending: Vec<&OrderShipment> = shipments
        .iter()
        .filter(|s| s.status == ShipmentStatus::Pending)
        .collect();
    let location = match location {
        Some(l) => l,
        None => {
            let mut at: Vec<LocationId> = pending.iter().map(|s| s.location_id).collect();
            at.sort();
            at.dedup();
            match at.as_slice() {
                [one] => *one,
                [] => {
                    return Err(ApiError::new(
                        ErrorCode::UnitsNotPending,
                        "no units of this order are waiting to ship",
                    )
                    .into())
                }
                _ => {
                    return Err(ApiError::invalid(
                        "units wait at several locations: name the location_id to ship from",
                    )
                    .into())
                }
            }
        }
    };
    let taken = take_waiting(tx, store, order.id, &shipments, Some(location), wanted).await?;
    let lines: Vec<Units> = taken
        .per_line
        .into_iter()
        .map(|(line, quantity)| Units { line, quantity })
        .collect();
    let id = sql::insert(tx, store, order.id, location, status, &lines, tracking).await?;
    let now = after_write(tx, store, &order).await?;
    announce(tx, store, &order, &now, id, ShipmentChange::Created).await?;
    follow(tx, store, &order, &now, actor).await?;
    Ok(id)
}

/// A shipment's units, by line.
fn units_of(s: &OrderShipment) -> Vec<Units> {
    s.lines
        .iter()
        .map(|l| Units {
            line: l.line_position,
            quantity: l.quantity,
        })
        .collect()
}

/// Waiting units [`take_waiting`] took out of the pending shipments.
struct Taken {
    /// (where they waited, line, units), per pending shipment they left.
    parts: Vec<(LocationId, Units)>,
    /// By line.
    per_line: BTreeMap<i32, i32>,
}

/// Takes `wanted` out of the order's pending shipments (at `location`, or
/// anywhere; oldest first, [`progress::take_pending`]), all or nothing
/// (`409 units_not_pending`); pending shipments left empty go.
async fn take_waiting(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    order: OrderId,
    shipments: &[OrderShipment],
    location: Option<LocationId>,
    wanted: &[Units],
) -> Result<Taken, PodError> {
    let pending: Vec<&OrderShipment> = shipments
        .iter()
        .filter(|s| s.status == ShipmentStatus::Pending)
        .filter(|s| location.is_none_or(|l| s.location_id == l))
        .collect();
    let units: Vec<(ShipmentId, Vec<Units>)> =
        pending.iter().map(|s| (s.id, units_of(s))).collect();
    let taken = progress::take_pending(&units, wanted).map_err(|e| match e {
        TakeError::Empty => ApiError::invalid("lines must ask for at least one unit"),
        e @ TakeError::NotPending { .. } => {
            ApiError::new(ErrorCode::UnitsNotPending, e.to_string())
        }
    })?;
    let mut parts = Vec::with_capacity(taken.len());
    let mut per_line: BTreeMap<i32, i32> = BTreeMap::new();
    for (from, u) in taken {
        sql::remove_units(tx, store, from, u).await?;
        *per_line.entry(u.line).or_default() += u.quantity;
        if let Some(s) = pending.iter().find(|s| s.id == from) {
            parts.push((s.location_id, u));
        }
    }
    sql::delete_empty_pending(tx, store, order).await?;
    Ok(Taken { parts, per_line })
}

/// What [`cancel_units`] did.
#[derive(Debug)]
pub struct CancelledUnits {
    /// The order as it was locked, before the cancellation.
    pub order: Order,
    /// Where each cancelled unit was waiting: (location, line, units).
    pub parts: Vec<(LocationId, Units)>,
    /// The cancelled units by line.
    pub per_line: BTreeMap<i32, i32>,
    /// No unit of the order is left to ship or shipped: the caller cancels
    /// the order.
    pub nothing_left: bool,
}

/// Cancels some of a paid order's waiting units before they ship: they
/// leave its pending shipments (at any location, oldest first) and count
/// as cancelled on their lines. The order follows what is left (every
/// remaining unit shipped: `fulfilled`). Stock and money are the
/// caller's (the line cancellation pipeline).
pub async fn cancel_units(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    order: OrderId,
    wanted: &[Units],
    actor: &str,
) -> Result<CancelledUnits, PodError> {
    let (order, shipments) = lock(tx, store, order).await?;
    let Taken { parts, per_line } =
        take_waiting(tx, store, order.id, &shipments, None, wanted).await?;
    for (&line, &quantity) in &per_line {
        orders::sql::add_cancelled(tx, store, order.id, line, quantity).await?;
    }
    let ordered: Vec<(i32, i32)> = order
        .lines
        .iter()
        .map(|l| (l.quantity, l.cancelled_quantity))
        .collect();
    let nothing_left = progress::nothing_left(&ordered, &per_line);
    let now = after_write(tx, store, &order).await?;
    follow(tx, store, &order, &now, actor).await?;
    Ok(CancelledUnits {
        order,
        parts,
        per_line,
        nothing_left,
    })
}

/// Edits a shipment's carrier and tracking (not once delivered or
/// cancelled).
pub async fn edit_tracking(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    order: OrderId,
    shipment: ShipmentId,
    tracking: &Tracking,
) -> Result<(), PodError> {
    let (order, shipments) = lock(tx, store, order).await?;
    let s = shipment_of(&shipments, shipment)?;
    if state::is_terminal(s.status) {
        return Err(ApiError::new(
            ErrorCode::InvalidTransition,
            format!("a shipment that is {} cannot be edited", s.status.as_str()),
        )
        .into());
    }
    sql::set_tracking(tx, store, shipment, tracking).await?;
    let now = after_write(tx, store, &order).await?;
    announce(tx, store, &order, &now, shipment, ShipmentChange::Tracking).await?;
    Ok(())
}

/// Moves a shipment along its lifecycle ([`state::allowed`]), with
/// tracking if given. A cancelled shipment (its label voided) has its
/// units wait again at its location, in that location's pending shipment.
/// A pending shipment is not cancelled on its own (its units would wait
/// where they are); the order's cancellation cancels it. The order
/// follows.
pub async fn advance(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    order: OrderId,
    shipment: ShipmentId,
    to: ShipmentStatus,
    tracking: &Tracking,
    actor: &str,
) -> Result<ShipmentStatus, PodError> {
    let (order, shipments) = lock(tx, store, order).await?;
    let s = shipment_of(&shipments, shipment)?;
    if to == ShipmentStatus::Cancelled && s.status == ShipmentStatus::Pending {
        // Its units would only wait again where they wait now.
        return Err(ApiError::new(
            ErrorCode::InvalidTransition,
            "a pending shipment's units are waiting to ship; cancel a shipment once it has a label, or cancel the order",
        )
        .into());
    }
    if !state::allowed(s.status, to) {
        return Err(ApiError::new(
            ErrorCode::InvalidTransition,
            format!(
                "a shipment that is {} cannot become {}",
                s.status.as_str(),
                to.as_str()
            ),
        )
        .into());
    }
    let from = s.status;
    sql::set_status(tx, store, shipment, from, to).await?;
    sql::set_tracking(tx, store, shipment, tracking).await?;
    if to == ShipmentStatus::Cancelled {
        let units = units_of(s);
        let waiting = shipments.iter().find(|p| {
            p.id != s.id && p.status == ShipmentStatus::Pending && p.location_id == s.location_id
        });
        match waiting {
            Some(p) => sql::add_lines(tx, store, order.id, p.id, &units).await?,
            None => {
                sql::insert(
                    tx,
                    store,
                    order.id,
                    s.location_id,
                    ShipmentStatus::Pending,
                    &units,
                    &Tracking::default(),
                )
                .await?;
            }
        }
    }
    let now = after_write(tx, store, &order).await?;
    announce(tx, store, &order, &now, shipment, ShipmentChange::Moved).await?;
    follow(tx, store, &order, &now, actor).await?;
    Ok(from)
}

/// The order is cancelled or refunded in this transaction: its shipments
/// whose units have not left are cancelled with it.
pub async fn cancel_waiting(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    order: OrderId,
) -> Result<u64, sqlx::Error> {
    sql::cancel_waiting(tx, store, order).await
}
