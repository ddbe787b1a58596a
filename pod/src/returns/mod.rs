//! Returns: a shopper sends back some of a delivered order's units within
//! the store's window; staff approve or reject, then receive the units
//! (each line's condition, whether it goes back to stock), and the return
//! refunds them.
//!
//! Receiving starts a persisted saga ([`drive`]), each step idempotent:
//!
//! 1. one transaction: the restocked units back on hand (reason
//!    `returned`, at the location their shipment left from, else the
//!    default one), the refund computed ([`model::refund_for`]: prices,
//!    the lines' share of the tax, shipping by the store's rule) and
//!    reserved on the order ([`crate::refunds::reserve`], at most what is
//!    left), and the return's marker (`restocked`, `refund_id`) set;
//! 2. the refund paid at the gateway with its own key
//!    ([`crate::refunds::pay`]);
//! 3. the return `completed` (or `refund_failed`), outbox
//!    `order.return_completed`.
//!
//! A crash between steps leaves the return `received`; the recovery worker
//! ([`recover`]) drives it again, and the marker and the refund's key make
//! each step happen once. Returns leave the order's status alone.
//!
//! `model.rs` is pure (lifecycle, eligibility, the refund's amount);
//! `sql.rs` holds every statement on `returns`, `return_lines` and
//! `return_settings`. This is a pipeline above orders, inventory and
//! refunds; only the faces call it.

pub mod model;
pub(crate) mod sql;

use std::time::Duration;

use chrono::Utc;
use mercato_tenants::events::{Event, ReturnChanged, ReturnedLine};
use mercato_tenants::{ApiError, ErrorCode, LocationId, OrderId, ReturnId, StoreId, VariantId};
use tracing::Instrument as _;

pub use model::{Condition, ReturnSettings, ReturnStatus, ShippingRefund};
pub use sql::{Return, ReturnLine};

use crate::error::PodError;
use crate::orders::{Order, OrderStatus};
use crate::periodic::store_span;
use crate::refunds::{self, Ask, NewRefund, RefundStatus, Reserved};
use crate::state::AppState;
use crate::tenancy::begin_write;
use crate::{events, inventory, product_write};

/// The longest reason or note, in characters.
pub const MAX_TEXT: usize = 500;

fn changed(r: &Return) -> ReturnChanged {
    ReturnChanged {
        return_id: r.id,
        order_id: r.order_id,
        number: r.order_number,
        email: r.email.clone(),
        currency: r.currency,
        reason: r.reason.clone(),
        note: r.note.clone(),
        lines: r
            .lines
            .iter()
            .map(|l| ReturnedLine {
                line: l.line,
                variant_id: l.variant_id,
                quantity: l.quantity,
                condition: l.condition.map(|c| c.as_str().to_owned()),
                restock: l.restock,
            })
            .collect(),
        refund_id: r.refund_id,
        refund_minor: r.refund_minor,
    }
}

fn event_of(status: ReturnStatus, r: &Return) -> Option<Event> {
    let c = changed(r);
    Some(match status {
        ReturnStatus::Requested => Event::ReturnRequested(c),
        ReturnStatus::Approved => Event::ReturnApproved(c),
        ReturnStatus::Rejected => Event::ReturnRejected(c),
        ReturnStatus::Received => Event::ReturnReceived(c),
        ReturnStatus::Completed => Event::ReturnCompleted(c),
        // Nothing the shopper is told: staff see the return and its failed
        // refund, and refund by hand.
        ReturnStatus::Cancelled | ReturnStatus::RefundFailed => return None,
    })
}

async fn reload(
    tx: &mut sqlx::Transaction<'static, sqlx::Postgres>,
    store: StoreId,
    id: ReturnId,
) -> Result<Return, PodError> {
    Ok(sql::get(tx.as_mut(), store, id, false)
        .await?
        .ok_or_else(|| ApiError::not_found("return"))?)
}

/// Per order line, the units in `pairs` of (line, units).
pub(crate) fn per_line(n: usize, pairs: impl IntoIterator<Item = (i32, i64)>) -> Vec<i64> {
    let mut out = vec![0; n];
    for (line, units) in pairs {
        if let Some(slot) = usize::try_from(line).ok().and_then(|i| out.get_mut(i)) {
            *slot += units;
        }
    }
    out
}

/// Per line, the units of an order refunded so far: those of its returns
/// that were received and refunded (but `except`), and those cancelled
/// before they shipped. A new part's refund ([`model::refund_for`]) counts
/// from them, so the tax over all the order's refunds is the share of all
/// that came back, never more.
pub(crate) async fn refunded_units(
    tx: &mut sqlx::Transaction<'static, sqlx::Postgres>,
    store: StoreId,
    order: &Order,
    except: Option<ReturnId>,
) -> Result<Vec<i64>, PodError> {
    let returned = sql::units_returned(tx, store, order.id, except, true).await?;
    let cancelled = order
        .lines
        .iter()
        .enumerate()
        .filter_map(|(i, l)| Some((i32::try_from(i).ok()?, i64::from(l.cancelled_quantity))));
    Ok(per_line(
        order.lines.len(),
        returned.into_iter().chain(cancelled),
    ))
}

/// An order's money as a refund of part of it needs it.
pub(crate) fn money_of(order: &Order) -> model::OrderMoney {
    model::OrderMoney {
        lines: order
            .lines
            .iter()
            .map(|l| (l.unit_price_minor, i64::from(l.quantity)))
            .collect(),
        line_discounts: order.lines.iter().map(|l| l.discount_minor).collect(),
        shipping_minor: order.shipping_minor,
        tax_minor: order.tax_minor,
    }
}

/// What of the order arrived, and when: per line, the units of its
/// delivered shipments, and the last delivery (the return window counts
/// from it). An order delivered before shipments existed (no shipment
/// rows, `delivered` in its history) arrived whole. Nothing, once it was
/// refunded or cancelled.
async fn delivered(
    tx: &mut sqlx::Transaction<'static, sqlx::Postgres>,
    store: StoreId,
    order: &Order,
) -> Result<model::Delivered, PodError> {
    let nothing = model::Delivered {
        units: vec![0; order.lines.len()],
        at: None,
    };
    if matches!(order.status, OrderStatus::Refunded | OrderStatus::Cancelled) {
        return Ok(nothing);
    }
    let shipments = crate::fulfillment::sql::of_order(tx.as_mut(), store, order.id, false).await?;
    if shipments.is_empty() {
        let at = crate::orders::sql::delivered_at(tx.as_mut(), store, order.id).await?;
        return Ok(match at {
            Some(at) => model::Delivered {
                units: order.lines.iter().map(|l| i64::from(l.quantity)).collect(),
                at: Some(at),
            },
            None => nothing,
        });
    }
    let mut units = vec![0i64; order.lines.len()];
    let mut at = None;
    for s in shipments
        .iter()
        .filter(|s| s.status == mercato_tenants::ShipmentStatus::Delivered)
    {
        for l in &s.lines {
            if let Some(u) = usize::try_from(l.line_position)
                .ok()
                .and_then(|i| units.get_mut(i))
            {
                *u += i64::from(l.quantity);
            }
        }
        at = at.max(s.delivered_at);
    }
    Ok(model::Delivered { units, at })
}

fn refused(refusal: model::Refusal) -> ApiError {
    use model::Refusal::*;
    match refusal {
        NoLines => ApiError::invalid("lines must name at least one order line"),
        DuplicateLine(l) => ApiError::invalid(format!("line {l} is named twice")),
        UnknownLine(l) => ApiError::invalid(format!("the order has no line {l}")),
        BadQuantity(l) => ApiError::new(
            ErrorCode::InvalidQuantity,
            format!("the quantity of line {l} must be at least 1"),
        ),
        NotDelivered => ApiError::new(
            ErrorCode::ReturnNotAllowed,
            "only a delivered order can be returned",
        ),
        WindowClosed(at) => ApiError::new(
            ErrorCode::ReturnNotAllowed,
            format!(
                "the return window of this order closed on {}",
                at.format("%Y-%m-%d")
            ),
        ),
        TooMany { line, left } => ApiError::new(
            ErrorCode::ReturnTooLarge,
            format!("only {left} unit(s) of line {line} can still be returned"),
        ),
    }
}

/// Opens a return of `asked` (order line, units) on an order the caller
/// may act for. Eligibility is checked under the order's row lock, so two
/// returns at once cannot send back more than arrived.
pub async fn open(
    state: &AppState,
    store: StoreId,
    order: OrderId,
    asked: &[(usize, i64)],
    reason: &str,
    opened_by: &str,
) -> Result<Return, PodError> {
    let mut tx = begin_write(&state.db, store).await?;
    let order = crate::orders::get(tx.as_mut(), store, order, true)
        .await?
        .ok_or_else(|| ApiError::not_found("order"))?;
    let delivered = delivered(&mut tx, store, &order).await?;
    let held = sql::units_returned(&mut tx, store, order.id, None, false).await?;
    let returned = per_line(order.lines.len(), held);
    let settings = sql::settings(&mut *tx, store).await?;
    model::check_return(asked, &delivered, &returned, Utc::now(), &settings).map_err(refused)?;
    let lines: Vec<(i32, VariantId, i32)> = asked
        .iter()
        .map(|&(line, units)| {
            Ok((
                i32::try_from(line).map_err(PodError::internal)?,
                order.lines[line].variant_id,
                i32::try_from(units).map_err(PodError::internal)?,
            ))
        })
        .collect::<Result<_, PodError>>()?;
    let id = ReturnId::new();
    sql::insert(&mut tx, store, id, order.id, reason, opened_by, &lines).await?;
    let r = reload(&mut tx, store, id).await?;
    if let Some(e) = event_of(ReturnStatus::Requested, &r) {
        events::record(&mut tx, store, &e).await?;
    }
    tx.commit().await?;
    Ok(r)
}

fn invalid_transition(from: ReturnStatus, to: ReturnStatus) -> ApiError {
    ApiError::new(
        ErrorCode::InvalidTransition,
        format!(
            "a return that is {} cannot become {}",
            from.as_str(),
            to.as_str()
        ),
    )
}

/// Staff approve or reject a requested return (or the shopper cancels it).
pub async fn decide(
    state: &AppState,
    store: StoreId,
    id: ReturnId,
    to: ReturnStatus,
    note: Option<&str>,
) -> Result<Return, PodError> {
    let mut tx = begin_write(&state.db, store).await?;
    let r = sql::get(tx.as_mut(), store, id, true)
        .await?
        .ok_or_else(|| ApiError::not_found("return"))?;
    if !model::allowed(r.status, to) || to == ReturnStatus::Received {
        return Err(invalid_transition(r.status, to).into());
    }
    sql::set_status(&mut tx, store, id, r.status, to, note).await?;
    let r = reload(&mut tx, store, id).await?;
    if let Some(e) = event_of(to, &r) {
        events::record(&mut tx, store, &e).await?;
    }
    tx.commit().await?;
    Ok(r)
}

/// A reason or note: trimmed, 1 to [`MAX_TEXT`] characters, no control
/// characters but line breaks (`400 invalid_text`).
pub fn text(field: &str, raw: &str) -> Result<String, ApiError> {
    let t = raw.trim();
    if t.is_empty() || t.chars().count() > MAX_TEXT {
        return Err(ApiError::new(
            ErrorCode::InvalidText,
            format!("{field} must be 1 to {MAX_TEXT} characters"),
        ));
    }
    if t.chars().any(|c| c.is_control() && c != '\n') {
        return Err(ApiError::new(
            ErrorCode::InvalidText,
            format!("{field} must not contain control characters"),
        ));
    }
    Ok(t.to_owned())
}

/// [`text`], or none when it is left out or blank.
pub fn optional_text(field: &str, raw: Option<&str>) -> Result<Option<String>, ApiError> {
    match raw.map(str::trim) {
        None | Some("") => Ok(None),
        Some(t) => text(field, t).map(Some),
    }
}

/// Staff approve a requested return, with a note if they give one
/// (`POST /admin/api/returns/{id}/approve` and the admin's pages).
pub async fn approve(
    state: &AppState,
    store: StoreId,
    id: ReturnId,
    note: Option<&str>,
) -> Result<Return, PodError> {
    let note = optional_text("note", note)?;
    decide(state, store, id, ReturnStatus::Approved, note.as_deref()).await
}

/// Staff reject a requested return, saying why (`POST
/// /admin/api/returns/{id}/reject` and the admin's pages).
pub async fn reject(
    state: &AppState,
    store: StoreId,
    id: ReturnId,
    note: &str,
) -> Result<Return, PodError> {
    let note = text("note", note)?;
    decide(state, store, id, ReturnStatus::Rejected, Some(&note)).await
}

/// Staff received an approved return: each of its lines' condition and
/// whether its units go back to stock (`received` for every line of the
/// return, once). Then the saga runs ([`drive`]).
pub async fn receive(
    state: &AppState,
    store: StoreId,
    id: ReturnId,
    received: &[(i32, Condition, bool)],
) -> Result<Return, PodError> {
    let mut tx = begin_write(&state.db, store).await?;
    let r = sql::get(tx.as_mut(), store, id, true)
        .await?
        .ok_or_else(|| ApiError::not_found("return"))?;
    if r.status != ReturnStatus::Approved {
        return Err(invalid_transition(r.status, ReturnStatus::Received).into());
    }
    let mut named: Vec<i32> = received.iter().map(|l| l.0).collect();
    named.sort_unstable();
    let mut expected: Vec<i32> = r.lines.iter().map(|l| l.line).collect();
    expected.sort_unstable();
    if named != expected {
        return Err(ApiError::invalid(format!(
            "lines must name each line of the return once: {expected:?}"
        ))
        .into());
    }
    sql::set_received(&mut tx, store, id, received).await?;
    sql::set_status(
        &mut tx,
        store,
        id,
        ReturnStatus::Approved,
        ReturnStatus::Received,
        None,
    )
    .await?;
    let r = reload(&mut tx, store, id).await?;
    if let Some(e) = event_of(ReturnStatus::Received, &r) {
        events::record(&mut tx, store, &e).await?;
    }
    tx.commit().await?;
    drive(state, store, id).await
}

/// Where a returned line's units go back: the location its shipment left
/// from, else the default location (`None`).
async fn restock_location(
    tx: &mut sqlx::Transaction<'static, sqlx::Postgres>,
    store: StoreId,
    order: OrderId,
    line: i32,
) -> Result<Option<LocationId>, PodError> {
    let shipments = crate::fulfillment::sql::of_order(tx.as_mut(), store, order, false).await?;
    Ok(shipments
        .iter()
        .filter(|s| s.status != crate::fulfillment::ShipmentStatus::Cancelled)
        .find(|s| s.lines.iter().any(|l| l.line_position == line))
        .map(|s| s.location_id))
}

/// Step 1 (see the module's docs); whether this call did it.
async fn restock_and_reserve(
    state: &AppState,
    store: StoreId,
    id: ReturnId,
) -> Result<bool, PodError> {
    let mut tx = begin_write(&state.db, store).await?;
    let r = sql::get(tx.as_mut(), store, id, true)
        .await?
        .ok_or_else(|| ApiError::not_found("return"))?;
    if r.status != ReturnStatus::Received || r.restocked {
        return Ok(false);
    }
    let order = crate::orders::get(tx.as_mut(), store, r.order_id, true)
        .await?
        .ok_or_else(|| ApiError::not_found("order"))?;
    let mut variants = Vec::new();
    for line in r.lines.iter().filter(|l| l.restock == Some(true)) {
        let location = restock_location(&mut tx, store, order.id, line.line).await?;
        if inventory::put_back(
            &mut tx,
            store,
            line.variant_id,
            location,
            line.quantity,
            id.as_uuid(),
        )
        .await?
        {
            variants.push(line.variant_id);
        }
    }
    let before = refunded_units(&mut tx, store, &order, Some(id)).await?;
    let now = per_line(
        order.lines.len(),
        r.lines.iter().map(|l| (l.line, i64::from(l.quantity))),
    );
    let settings = sql::settings(&mut *tx, store).await?;
    let owed = model::refund_for(&money_of(&order), &before, &now, settings.shipping_refund);
    let reserved = refunds::reserve(
        &mut tx,
        store,
        &NewRefund {
            order: order.id,
            ask: Ask::UpTo(owed.total_minor),
            return_id: Some(id),
            cause: mercato_tenants::events::RefundCause::Return,
            reason: Some("return"),
            actor: "system",
            key: None,
            to: refunds::Destination::default(),
        },
    )
    .await?;
    let (refund, amount) = match reserved {
        Reserved::New(r) | Reserved::Again(r) => (Some(r.id), r.amount_minor),
        Reserved::Nothing => (None, 0),
    };
    sql::mark_restocked(&mut tx, store, id, refund, amount).await?;
    tx.commit().await?;
    let lines = order.lines.iter().map(|l| (l.variant_id, l.product_id));
    product_write::restocked(state, store, lines, &variants).await;
    Ok(true)
}

/// Drives a received return to its end (see the module's docs); the
/// return as it then stands (still `received` when the gateway's answer
/// is unknown: a retry, or the recovery worker, finishes it).
pub async fn drive(state: &AppState, store: StoreId, id: ReturnId) -> Result<Return, PodError> {
    let _did = restock_and_reserve(state, store, id).await?;
    #[cfg(feature = "failpoints")]
    if _did && state.config.failpoint == "crash_after_restock" {
        tracing::error!(r#return = %id, "failpoint crash_after_restock: aborting");
        std::process::abort();
    }
    let r = get(state, store, id).await?;
    if r.status != ReturnStatus::Received {
        return Ok(r);
    }
    let end = match r.refund_id {
        None => ReturnStatus::Completed,
        Some(refund) => match refunds::pay(state, store, refund).await?.status {
            RefundStatus::Pending => return Ok(r),
            RefundStatus::Succeeded => ReturnStatus::Completed,
            RefundStatus::Failed => ReturnStatus::RefundFailed,
        },
    };
    let mut tx = begin_write(&state.db, store).await?;
    if sql::set_status(&mut tx, store, id, ReturnStatus::Received, end, None).await? {
        let r = reload(&mut tx, store, id).await?;
        if let Some(e) = event_of(end, &r) {
            events::record(&mut tx, store, &e).await?;
        }
    }
    tx.commit().await?;
    get(state, store, id).await
}

/// One return.
pub async fn get(state: &AppState, store: StoreId, id: ReturnId) -> Result<Return, PodError> {
    let mut conn = state.db.acquire().await?;
    Ok(sql::get(&mut conn, store, id, false)
        .await?
        .ok_or_else(|| ApiError::not_found("return"))?)
}

/// A page of returns, newest first (one more than `limit` when there are
/// more): of one order, or in one status.
pub async fn list(
    state: &AppState,
    store: StoreId,
    order: Option<OrderId>,
    status: Option<ReturnStatus>,
    before: Option<uuid::Uuid>,
    limit: i64,
) -> Result<Vec<Return>, PodError> {
    let mut conn = state.db.acquire().await?;
    Ok(sql::list(&mut conn, store, order, status, before, limit).await?)
}

/// Inside the caller's transaction: per variant, the units of the order
/// that came back through its received returns, restocked or written off
/// there. Restocking the whole order leaves them out: they are not on
/// their way back to the shelf a second time.
pub async fn units_back(
    tx: &mut sqlx::Transaction<'static, sqlx::Postgres>,
    store: StoreId,
    order: OrderId,
) -> Result<Vec<(VariantId, i64)>, PodError> {
    Ok(sql::units_back(&mut **tx, store, order).await?)
}

/// The store's return policy.
pub async fn settings(state: &AppState, store: StoreId) -> Result<ReturnSettings, PodError> {
    Ok(sql::settings(&state.db, store).await?)
}

/// Sets the store's return policy (`PUT /admin/api/settings/returns`): a
/// window of 0 to [`model::MAX_WINDOW_DAYS`] days (`400` otherwise).
pub async fn put_settings(
    state: &AppState,
    store: StoreId,
    window_days: i64,
    shipping_refund: ShippingRefund,
) -> Result<ReturnSettings, PodError> {
    let window_days = i32::try_from(window_days)
        .ok()
        .filter(|d| (0..=model::MAX_WINDOW_DAYS).contains(d))
        .ok_or_else(|| {
            ApiError::invalid(format!(
                "window_days must be 0 to {}",
                model::MAX_WINDOW_DAYS
            ))
        })?;
    let settings = ReturnSettings {
        window_days,
        shipping_refund,
    };
    let mut tx = begin_write(&state.db, store).await?;
    sql::put_settings(&mut tx, store, &settings).await?;
    tx.commit().await?;
    Ok(settings)
}

/// One recovery round for one store: refunds left pending, then returns
/// left `received`, untouched for `checkout.stuck_after_ms`.
pub async fn recover_store(state: &AppState, store: StoreId) -> Result<(), PodError> {
    let stuck_after = state.config.checkout.stuck_after_ms as i64;
    refunds::recover_store(state, store, stuck_after).await?;
    let mut tx = state.db.begin().await?;
    if !crate::tenancy::is_active_locked(&mut tx, store).await? {
        return Ok(());
    }
    let stuck = sql::claim_stuck(&mut tx, store, stuck_after, 20).await?;
    tx.commit().await?;
    for id in stuck {
        match drive(state, store, id).await {
            Ok(r) => tracing::info!(r#return = %id, status = r.status.as_str(), "recovered return"),
            Err(e) => tracing::warn!(r#return = %id, error = %e, "recovering return failed"),
        }
    }
    Ok(())
}

/// The recovery worker of refunds and returns, every
/// `checkout.recovery_interval_ms` for each active store.
pub async fn recover(state: AppState) {
    let every = Duration::from_millis(state.config.checkout.recovery_interval_ms.max(50));
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        for store in state.hosted.active() {
            let span = store_span("returns_recovery", store);
            if let Err(e) = recover_store(&state, store).instrument(span.clone()).await {
                let _in = span.entered();
                tracing::warn!(error = %e, "returns recovery round failed");
            }
        }
    }
}

/// How many of the store's returns wait for staff to decide.
pub async fn count_requested(state: &AppState, store: StoreId) -> Result<i64, PodError> {
    Ok(sql::count_in(&state.db, store, ReturnStatus::Requested).await?)
}
