//! Cancelling single lines of a paid order before they ship: staff take
//! some waiting units out of the order (the warehouse ran out, the shopper
//! changed their mind), and the shopper gets their money back for them.
//!
//! One transaction, under the order's row lock (taken first, as every
//! shipment write does):
//!
//! 1. the units leave the order's pending shipments and count as
//!    cancelled on their lines ([`fulfillment::shipments::cancel_units`]);
//!    the order follows what is left (every remaining unit shipped:
//!    `fulfilled`);
//! 2. the committed stock at the location each unit waited at gives them
//!    up, back on hand unless staff write them off
//!    ([`inventory::uncommit`]);
//! 3. their refund is computed like a return's ([`returns::model::refund_for`]:
//!    prices, the lines' share of the tax, counted after every unit
//!    refunded before) and reserved on the order ([`refunds::reserve`]);
//!    when no unit is left the order is cancelled and what is left of the
//!    capture goes back, shipping included;
//! 4. `order.lines_cancelled` (mailed to the shopper), and
//!    `order.cancelled` when the order went with them.
//!
//! Then the refund is paid with its own key ([`refunds::pay_pending`]); an
//! unknown answer leaves it `pending` for the recovery worker. The units
//! are the request's guard: a retry finds them gone (`409
//! units_not_pending`) and cancels nothing twice.
//!
//! A pipeline above fulfillment, inventory, returns and refunds; only the
//! faces call it.

use mercato_tenants::events::{CancelledLine, Event, LinesCancelled, OrderGivenBack, RefundCause};
use mercato_tenants::{Currency, OrderId, OrderStatus, StoreId};

use crate::error::PodError;
use crate::fulfillment::progress::Units;
use crate::orders::Order;
use crate::refunds::{self, Ask, NewRefund, Refund, Reserved};
use crate::state::AppState;
use crate::tenancy::begin_write;
use crate::{events, fulfillment, inventory, product_write, returns};

/// What staff asked.
pub struct Cancel<'a> {
    pub order: OrderId,
    pub units: &'a [Units],
    /// Put the units back on hand where they waited (else written off).
    pub restock: bool,
    pub reason: Option<&'a str>,
    /// `staff:<id>`.
    pub actor: &'a str,
}

/// What a cancellation did.
pub struct Cancelled {
    pub order: Order,
    /// The refund of the cancelled units (`pending` while the gateway's
    /// answer is unknown); none when nothing was left to refund.
    pub refund: Option<Refund>,
}

/// Cancels some waiting units of an order (see the module's docs).
pub async fn cancel_lines(
    state: &AppState,
    store: StoreId,
    ask: &Cancel<'_>,
) -> Result<Cancelled, PodError> {
    let mut tx = begin_write(&state.db, store).await?;
    let done =
        fulfillment::shipments::cancel_units(&mut tx, store, ask.order, ask.units, ask.actor)
            .await?;
    let order = &done.order;
    let mut restocked = 0;
    let mut variants = Vec::new();
    for (location, units) in &done.parts {
        let Some(line) = usize::try_from(units.line)
            .ok()
            .and_then(|i| order.lines.get(i))
        else {
            continue;
        };
        let back = inventory::uncommit(
            &mut tx,
            store,
            order.checkout_id.into(),
            line.variant_id,
            *location,
            units.quantity,
            ask.restock,
        )
        .await?;
        if back > 0 {
            restocked += back;
            variants.push(line.variant_id);
        }
    }
    let per_line = &done.per_line;
    let money_ask = if done.nothing_left {
        Ask::Rest
    } else {
        let before = returns::refunded_units(&mut tx, store, order, None).await?;
        let now = returns::per_line(
            order.lines.len(),
            per_line.iter().map(|(&line, &q)| (line, i64::from(q))),
        );
        let settings = returns::sql::settings(&mut *tx, store).await?;
        let owed = returns::model::refund_for(
            &returns::money_of(order),
            &before,
            &now,
            settings.shipping_refund,
        );
        Ask::UpTo(owed.total_minor)
    };
    let reserved = refunds::reserve(
        &mut tx,
        store,
        &NewRefund {
            order: order.id,
            ask: money_ask,
            return_id: None,
            cause: RefundCause::LinesCancelled,
            reason: ask.reason,
            actor: ask.actor,
            key: None,
            to: refunds::Destination::default(),
        },
    )
    .await?;
    let refund_minor = match &reserved {
        Reserved::New(r) | Reserved::Again(r) => r.amount_minor,
        Reserved::Nothing => 0,
    };
    if done.nothing_left {
        crate::orders::set_status(
            &mut tx,
            store,
            order.id,
            order.status,
            OrderStatus::Cancelled,
            ask.actor,
            ask.reason,
        )
        .await?;
        // The order was locked before the refund was reserved on it.
        let refunded = order.refunded_minor + refund_minor;
        events::record(
            &mut tx,
            store,
            &Event::OrderCancelled(OrderGivenBack {
                order_id: order.id,
                number: order.number,
                refunded_minor: refunded,
                restocked_units: restocked,
                reason: ask.reason.map(str::to_owned),
            }),
        )
        .await?;
    }
    let lines = per_line
        .iter()
        .filter_map(|(&line, &quantity)| {
            let l = order.lines.get(usize::try_from(line).ok()?)?;
            Some(CancelledLine {
                line,
                variant_id: l.variant_id,
                sku: l.sku.clone(),
                title: l.title.clone(),
                quantity,
            })
        })
        .collect();
    events::record(
        &mut tx,
        store,
        &Event::LinesCancelled(LinesCancelled {
            order_id: order.id,
            number: order.number,
            email: order.email.clone(),
            currency: Currency::parse(&order.currency).map_err(PodError::internal)?,
            lines,
            refund_minor,
            restocked_units: restocked,
            order_cancelled: done.nothing_left,
            reason: ask.reason.map(str::to_owned),
        }),
    )
    .await?;
    tx.commit().await?;
    let lines = order.lines.iter().map(|l| (l.variant_id, l.product_id));
    product_write::restocked(state, store, lines, &variants).await;
    let refund = match reserved {
        Reserved::New(r) | Reserved::Again(r) => Some(refunds::pay(state, store, r.id).await?),
        Reserved::Nothing => None,
    };
    let mut conn = state.db.acquire().await?;
    let mut order = crate::orders::get(&mut conn, store, ask.order, false)
        .await?
        .ok_or_else(|| mercato_tenants::ApiError::not_found("order"))?;
    order.shipments = Some(fulfillment::sql::of_order(&mut conn, store, order.id, false).await?);
    Ok(Cancelled { order, refund })
}
