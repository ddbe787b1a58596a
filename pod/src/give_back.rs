//! Cancelling or refunding a whole order, for every face (the JSON API's
//! `/admin/api/orders/{id}/cancel` and `/refund`, the admin's order page).
//! A pipeline above orders, checkout, refunds, fulfillment and inventory;
//! only the faces call it.

use mercato_tenants::events::{Event, OrderGivenBack, RefundCause};
use mercato_tenants::{ApiError, ErrorCode, OrderId, StoreId};

use crate::error::PodError;
use crate::orders::state::{self, CancelMoney, OrderStatus};
use crate::orders::Order;
use crate::refunds::{self, Ask, NewRefund};
use crate::state::AppState;
use crate::tenancy::begin_write;
use crate::{checkout, events, fulfillment, inventory, product_write};

/// One order with its shipments.
pub async fn load(state: &AppState, store: StoreId, id: OrderId) -> Result<Order, PodError> {
    let mut conn = state.db.acquire().await?;
    let mut order = crate::orders::get(&mut conn, store, id, false)
        .await?
        .ok_or_else(|| ApiError::not_found("order"))?;
    order.shipments = Some(fulfillment::sql::of_order(&mut conn, store, id, false).await?);
    Ok(order)
}

/// `409 invalid_transition` from `from` to `to`.
pub fn refused(from: OrderStatus, to: OrderStatus) -> ApiError {
    ApiError::new(
        ErrorCode::InvalidTransition,
        format!(
            "an order that is {} cannot become {}",
            from.as_str(),
            to.as_str()
        ),
    )
}

/// A staff note (a reason): at most 500 characters, trimmed; empty is none.
pub fn note(raw: Option<&str>) -> Result<Option<String>, ApiError> {
    match raw.map(str::trim) {
        Some(n) if n.chars().count() > 500 => {
            Err(ApiError::invalid("note must be at most 500 characters"))
        }
        Some("") | None => Ok(None),
        Some(n) => Ok(Some(n.to_owned())),
    }
}

/// Money back through the gateway first (what is left after any partial
/// refunds, as a refund of its own: a retry after any failure refunds
/// once), then one transaction: status, stock, events.
pub async fn give_back(
    state: &AppState,
    store: StoreId,
    id: OrderId,
    to: OrderStatus,
    restock: bool,
    actor: &str,
    reason: Option<&str>,
) -> Result<Order, PodError> {
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
            return load(state, store, id).await;
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
            actor,
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
            actor,
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
            actor,
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
    load(state, store, id).await
}
