//! The saga's way back: whatever a failed checkout did is undone, each part
//! idempotent (money returned to the card and the gift cards, the order
//! cancelled, the holds released),
//! and the store's cancellation of an order still awaiting capture.

use mercato_tenants::events::{Event, PaymentChanged};
use mercato_tenants::StoreId;

use super::model::{SagaState, Step};
use super::sql::{self, Changes, Checkout};
use super::steps::{begin_step, gateway_key};
use super::CheckoutId;
use crate::error::PodError;
use crate::orders::{self, OrderStatus};
use crate::payments::{GatewayError, PaymentStatus};
use crate::state::AppState;
use crate::{discounts, events, gift_cards, inventory};

/// Undo what was done, each part idempotent: money back (void an
/// authorization, refund a capture), the order cancelled, the holds
/// released. Ends `failed`.
pub(crate) async fn compensate(
    state: &AppState,
    store: StoreId,
    c: &Checkout,
) -> Result<bool, PodError> {
    // Whether money may be held: an authorization succeeded, or one was
    // attempted without a definite answer.
    // A checkout the gift cards pay whole never asks the gateway.
    let card_pays = c.quote.as_ref().is_none_or(|q| q.card_minor() > 0);
    let may_hold_money = c.payment_id.is_some()
        || (card_pays && c.did(Step::AuthorizeAttempted) && !c.did(Step::Declined));
    let returned = if may_hold_money {
        let payment = match &c.payment_id {
            Some(id) => Some(id.clone()),
            None => match state.payments.lookup(&gateway_key(c.id, "authorize")).await {
                Ok(found) => found
                    .filter(|p| {
                        matches!(
                            p.status,
                            PaymentStatus::Authorized | PaymentStatus::Captured
                        )
                    })
                    .map(|p| p.id),
                Err(e) => {
                    tracing::warn!(checkout = %c.id, error = %e, "lookup failed; compensation will retry");
                    return Ok(false);
                }
            },
        };
        if let Some(payment_id) = &payment {
            if let Err(e) = return_money(state, c.id, payment_id).await {
                tracing::warn!(checkout = %c.id, error = %e, "void/refund failed; compensation will retry");
                return Ok(false);
            }
        }
        payment
    } else {
        None
    };
    // Release before the row says failed: a crash in between leaves the
    // checkout compensating, and the recovery worker releases again (a no-op).
    inventory::release(state, store, c.id.into()).await?;
    let Some((mut tx, locked)) = begin_step(state, store, c.id, SagaState::Compensating).await?
    else {
        return Ok(true); // another driver got here first
    };
    if let (Some(payment_id), Some(quote)) = (&returned, &locked.quote) {
        let voided = PaymentChanged {
            order_id: locked.order_id,
            checkout_id: c.id,
            payment_id: payment_id.clone(),
            amount_minor: quote.total_minor,
            currency: quote.currency,
        };
        events::record(&mut tx, store, &Event::PaymentVoided(voided)).await?;
    }
    // The discounts' uses go back with the failure (a no-op without any).
    discounts::release(&mut tx, store, c.id).await?;
    if let Some(order) = locked.order_id {
        let reason = locked.failure.as_deref().unwrap_or("checkout failed");
        orders::set_status(
            &mut tx,
            store,
            order,
            OrderStatus::Placed,
            OrderStatus::Cancelled,
            "checkout",
            Some(reason),
        )
        .await?;
    }
    // The gift cards' debits too, after the order's row (a refund locks
    // the order, then the cards: one order of locks).
    if locked
        .quote
        .as_ref()
        .is_some_and(|q| !q.gift_cards.is_empty())
    {
        gift_cards::give_back_checkout(&mut tx, store, c.id).await?;
    }
    sql::advance(
        &mut *tx,
        store,
        c.id,
        SagaState::Compensating,
        SagaState::Failed,
        Changes {
            steps: &[Step::Compensate],
            ..Default::default()
        },
    )
    .await?;
    tx.commit().await?;
    Ok(true)
}

/// Voids the payment if it is only authorized, refunds it if it was
/// captured; a payment already voided or refunded is left alone.
pub async fn return_money(
    state: &AppState,
    checkout: CheckoutId,
    payment_id: &str,
) -> Result<(), GatewayError> {
    match state
        .payments
        .void(&gateway_key(checkout, "void"), payment_id)
        .await
    {
        Ok(_) => Ok(()),
        Err(GatewayError::Rejected { code, .. }) if code == "invalid_state" => {
            let found = state
                .payments
                .lookup(&gateway_key(checkout, "authorize"))
                .await?;
            match found {
                Some(p) if p.status == PaymentStatus::Captured => state
                    .payments
                    .refund(
                        &gateway_key(checkout, "refund"),
                        payment_id,
                        p.captured_amount - p.refunded_amount,
                    )
                    .await
                    .map(|_| ()),
                _ => Ok(()),
            }
        }
        Err(e) => Err(e),
    }
}
