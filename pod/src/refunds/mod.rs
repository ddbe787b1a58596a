//! Refunds: money given back on a captured order, whole or in parts (a
//! return's refund, staff's goodwill, the rest of an order refunded or
//! cancelled).
//!
//! A refund is reserved before the gateway is asked ([`reserve`]): in the
//! caller's transaction the order row is locked, the amount checked
//! against `captured_minor - refunded_minor` (pending refunds count, so
//! parallel refunds can never together pass the capture; the table's CHECK
//! is the last word), the row inserted `pending` and added to
//! `orders.refunded_minor`. After that commits, [`pay`] asks the gateway
//! with the refund's own idempotency key ([`model::gateway_key`]) and
//! settles the row: `succeeded` (outbox `payment.refunded`), or, refused,
//! `failed` with the amount given back to the order. No answer leaves it
//! `pending`: a retry, or the recovery worker ([`recover_store`]), asks
//! again with the same key, so the money moves exactly once.
//!
//! **Gift cards.** Of an order paid partly by gift cards, what may be
//! refunded is the card's capture and the gift cards' tender together
//! (`orders_refunded_within_paid`). A refund splits ([`model::split`]):
//! to the gift cards first unless staff ask `card_first`. The gift cards'
//! part is credited in the reservation transaction itself (the ledger's
//! credits against the checkout's debits, never more than each took), so
//! only the card's part waits on the gateway; a refused card part goes back
//! to the order, the gift cards' part stays given back.
//!
//! `model.rs` is pure (statuses, [`model::reserve`]); `sql.rs` holds every
//! statement on `refunds`.

pub mod model;
pub(crate) mod sql;

use mercato_tenants::events::{Event, PaymentChanged, RefundCause, RefundIssued};
use mercato_tenants::{ApiError, Currency, ErrorCode, OrderId, RefundId, ReturnId, StoreId};
use sha2::{Digest as _, Sha256};

pub use model::{Ask, Destination, Refund, RefundStatus};

use crate::error::PodError;
use crate::payments::GatewayError;
use crate::state::AppState;
use crate::tenancy::begin_write;

/// Staff's Idempotency-Key of a refund and what its request asked.
pub struct Keyed<'a> {
    pub key: &'a str,
    pub amount_minor: i64,
    pub reason: Option<&'a str>,
}

impl Keyed<'_> {
    /// What the request asked: its amount, reason and destination.
    fn fingerprint(&self, to: Destination) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(self.amount_minor.to_be_bytes());
        h.update(self.reason.unwrap_or("").as_bytes());
        if to != Destination::default() {
            // Absent for the default: keys recorded before it match.
            h.update(to.as_str().as_bytes());
        }
        h.finalize().into()
    }
}

/// A new refund.
pub struct NewRefund<'a> {
    pub order: OrderId,
    pub ask: Ask,
    pub return_id: Option<ReturnId>,
    /// Why; [`RefundCause::Return`] exactly when `return_id` is set.
    pub cause: RefundCause,
    pub reason: Option<&'a str>,
    /// `staff:<id>` or `system`.
    pub actor: &'a str,
    pub key: Option<Keyed<'a>>,
    /// Of an order paid partly by gift cards: which part goes back first.
    pub to: Destination,
}

/// What [`reserve`] did.
#[derive(Debug)]
pub enum Reserved {
    /// A new pending refund.
    New(Refund),
    /// The refund this Idempotency-Key made before (same request).
    Again(Refund),
    /// Nothing to refund (nothing left, or nothing asked).
    Nothing,
}

/// Inside the caller's write transaction: locks the order and reserves the
/// refund (see the module's docs). `409 refund_too_large` when an exact
/// amount does not fit; `422 idempotency_key_reused` when the key made
/// another refund.
pub async fn reserve(
    tx: &mut sqlx::Transaction<'static, sqlx::Postgres>,
    store: StoreId,
    new: &NewRefund<'_>,
) -> Result<Reserved, PodError> {
    let order = crate::orders::get(tx.as_mut(), store, new.order, true)
        .await?
        .ok_or_else(|| ApiError::not_found("order"))?;
    let fingerprint = new.key.as_ref().map(|k| k.fingerprint(new.to));
    if let (Some(keyed), Some(fingerprint)) = (&new.key, &fingerprint) {
        if let Some((refund, hash)) = sql::by_key(tx, store, order.id, keyed.key).await? {
            if hash.as_slice() != fingerprint.as_slice() {
                return Err(ApiError::new(
                    ErrorCode::IdempotencyKeyReused,
                    "this Idempotency-Key was used for another refund of this order",
                )
                .into());
            }
            return Ok(Reserved::Again(refund));
        }
    }
    let paid = order.captured_minor + order.gift_card_minor;
    let amount = match model::reserve(new.ask, paid, order.refunded_minor) {
        Ok(Some(amount)) => amount,
        Ok(None) => return Ok(Reserved::Nothing),
        Err(model::TooMuch::Exceeds { asked, left }) => {
            return Err(ApiError::new(
                ErrorCode::RefundTooLarge,
                format!("cannot refund {asked}: only {left} of this order is left to refund"),
            )
            .into())
        }
    };
    // The gift cards' part is what is left of their debits; the card's
    // is the rest of what is left.
    let debits = if order.gift_card_minor > 0 {
        Some(crate::gift_cards::debits_of(tx, store, order.checkout_id).await?)
    } else {
        None
    };
    let gift_left = debits.as_ref().map_or(0, crate::gift_cards::Debits::left);
    let left = paid - order.refunded_minor;
    let (to_gift_cards, _) = model::split(amount, gift_left, left - gift_left, new.to);
    let id = RefundId::new();
    let refund = sql::insert(
        tx,
        store,
        &sql::NewRow {
            id,
            order: order.id,
            return_id: new.return_id,
            cause: new.cause,
            amount_minor: amount,
            gift_card_minor: to_gift_cards,
            reason: new.reason,
            actor: new.actor,
            key: new
                .key
                .as_ref()
                .zip(fingerprint.as_ref())
                .map(|(k, f)| (k.key, f.as_slice())),
        },
    )
    .await?;
    crate::orders::sql::add_refunded(tx, store, order.id, amount).await?;
    if let (Some(debits), true) = (&debits, to_gift_cards > 0) {
        // Credited now, in the refund's own transaction: no gateway to ask.
        let credited =
            crate::gift_cards::refund_tender(tx, store, debits, order.id, id, to_gift_cards)
                .await?;
        if credited != to_gift_cards {
            return Err(PodError::internal(format!(
                "refund {id}: {credited} of {to_gift_cards} credited to gift cards"
            )));
        }
    }
    Ok(Reserved::New(refund))
}

/// Asks the gateway to pay a pending refund and settles it (see the
/// module's docs); a settled refund is returned as it is. Still `pending`
/// afterwards means the gateway's answer is unknown: retrying is safe.
pub async fn pay(state: &AppState, store: StoreId, id: RefundId) -> Result<Refund, PodError> {
    let mut conn = state.db.acquire().await?;
    let refund = sql::get(&mut conn, store, id, false)
        .await?
        .ok_or_else(|| ApiError::not_found("refund"))?;
    if refund.status != RefundStatus::Pending {
        return Ok(refund);
    }
    let order = crate::orders::get(&mut conn, store, refund.order_id, false)
        .await?
        .ok_or_else(|| ApiError::not_found("order"))?;
    drop(conn);
    let key = model::gateway_key(id);
    // The gift cards' part was credited when the refund was made.
    let to_card = refund.amount_minor - refund.gift_card_minor;
    let answer = match (&order.payment_id, to_card) {
        (_, 0) => Ok(None),
        (Some(payment_id), _) => state
            .payments
            .refund(&key, payment_id, to_card)
            .await
            .map(Some),
        (None, _) => {
            return Err(PodError::internal(format!(
                "refund {id}: {to_card} to the card of an order without a card payment"
            )))
        }
    };
    let failure = match answer {
        Ok(_) => None,
        Err(GatewayError::Unknown(why)) => {
            tracing::warn!(refund = %id, %why, "refund outcome unknown; a retry or the recovery worker settles it");
            return Ok(refund);
        }
        // The key was used for another request: nothing is known about
        // this one. Never give the money back to the order on that.
        Err(GatewayError::Rejected { code, .. }) if code == "idempotency_key_reused" => {
            tracing::error!(refund = %id, "the gateway says the refund's key was used for another request");
            return Ok(refund);
        }
        Err(GatewayError::Refused { code, .. } | GatewayError::Rejected { code, .. }) => Some(code),
    };
    let mut tx = begin_write(&state.db, store).await?;
    let locked = sql::get(tx.as_mut(), store, id, true)
        .await?
        .ok_or_else(|| ApiError::not_found("refund"))?;
    if locked.status != RefundStatus::Pending {
        return Ok(locked);
    }
    match &failure {
        None => {
            sql::settle(&mut tx, store, id, RefundStatus::Succeeded, None).await?;
            let currency = Currency::parse(&order.currency).map_err(PodError::internal)?;
            if let (Some(payment_id), true) = (&order.payment_id, to_card > 0) {
                let event = PaymentChanged {
                    order_id: Some(order.id),
                    checkout_id: order.checkout_id,
                    payment_id: payment_id.clone(),
                    amount_minor: to_card,
                    currency,
                };
                crate::events::record(&mut tx, store, &Event::PaymentRefunded(event)).await?;
            }
            let issued = RefundIssued {
                order_id: order.id,
                number: order.number,
                email: order.email.clone(),
                currency,
                refund_id: id,
                amount_minor: refund.amount_minor,
                gift_card_minor: refund.gift_card_minor,
                cause: refund.cause,
                reason: refund.reason.clone(),
            };
            crate::events::record(&mut tx, store, &Event::RefundIssued(issued)).await?;
        }
        Some(code) => {
            // The gift cards' part stays given back: it was credited with
            // the refund, and only the card's part failed.
            tracing::warn!(refund = %id, %code, "the gateway refused the refund; its card part goes back to the order");
            crate::orders::get(tx.as_mut(), store, order.id, true).await?;
            sql::settle(&mut tx, store, id, RefundStatus::Failed, Some(code)).await?;
            crate::orders::sql::add_refunded(&mut tx, store, order.id, -to_card).await?;
        }
    }
    tx.commit().await?;
    let mut conn = state.db.acquire().await?;
    Ok(sql::get(&mut conn, store, id, false)
        .await?
        .ok_or_else(|| ApiError::not_found("refund"))?)
}

/// Pays every pending refund of an order; whether any is still pending.
pub async fn pay_pending(
    state: &AppState,
    store: StoreId,
    order: OrderId,
) -> Result<bool, PodError> {
    let mut conn = state.db.acquire().await?;
    let pending = sql::pending_of_order(&mut conn, store, order).await?;
    drop(conn);
    let mut unknown = false;
    for id in pending {
        unknown |= pay(state, store, id).await?.status == RefundStatus::Pending;
    }
    Ok(unknown)
}

/// The order's refunds, oldest first.
pub async fn of_order(
    state: &AppState,
    store: StoreId,
    order: OrderId,
) -> Result<Vec<Refund>, PodError> {
    let mut conn = state.db.acquire().await?;
    Ok(sql::of_order(&mut conn, store, order, 1000).await?)
}

/// One recovery round: pays refunds left pending for longer than
/// `stuck_after_ms` (their request died or the gateway did not answer).
pub async fn recover_store(
    state: &AppState,
    store: StoreId,
    stuck_after_ms: i64,
) -> Result<usize, PodError> {
    let mut tx = state.db.begin().await?;
    if !crate::tenancy::is_active_locked(&mut tx, store).await? {
        return Ok(0);
    }
    let stuck = sql::claim_stuck(&mut tx, store, stuck_after_ms, 20).await?;
    tx.commit().await?;
    for id in &stuck {
        match pay(state, store, *id).await {
            Ok(r) => tracing::info!(refund = %id, status = r.status.as_str(), "recovered refund"),
            Err(e) => tracing::warn!(refund = %id, error = %e, "recovering refund failed"),
        }
    }
    Ok(stuck.len())
}
