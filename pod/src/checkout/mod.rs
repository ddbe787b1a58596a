//! Checkout: the shopper's `POST /api/checkout` (an idempotent, persisted
//! saga; see [`saga`]), the store's shipping and tax rate tables, the
//! payment gateway's webhooks, and the recovery worker that settles
//! checkouts whose driver died.
//!
//! The Idempotency-Key is recorded with a fingerprint of the request before
//! any work; a retry with the same key and request gets the first answer
//! (waiting for it while the first attempt still runs), the same key with
//! another request is `422 idempotency_key_reused`.

pub(crate) mod compensation;
mod error;
pub mod model;
pub mod place;
pub mod rates;
pub mod saga;
pub mod sql;
pub(crate) mod steps;

use std::time::Duration;

use mercato_tenants::{CheckoutId, StoreId};
use sqlx::PgPool;
use tracing::Instrument as _;

pub use compensation::return_money;
pub use saga::cancel_before_capture;

use self::rates::{ShippingRate, TaxRate};
use crate::error::PodError;
use crate::periodic::store_span;
use crate::state::AppState;

/// The store's shipping and tax rate tables (the default shipping option
/// when it has none).
pub async fn rates(
    db: &PgPool,
    store: StoreId,
) -> Result<(Vec<ShippingRate>, Vec<TaxRate>), PodError> {
    let mut shipping = sql::rates::shipping(db, store).await?;
    if shipping.is_empty() {
        shipping = rates::default_shipping();
    }
    let taxes = sql::rates::tax(db, store).await?;
    Ok((shipping, taxes))
}

/// Replaces the store's shipping rate table with `rates`, checked as a
/// whole ([`rates::validate_shipping`]); the table as it now stands (the
/// default shipping option when it is empty).
pub async fn put_shipping_rates(
    db: &PgPool,
    store: StoreId,
    rates: Vec<ShippingRate>,
) -> Result<Vec<ShippingRate>, PodError> {
    let rates = rates::validate_shipping(rates)?;
    let mut tx = crate::tenancy::begin_write(db, store).await?;
    sql::rates::replace_shipping(&mut tx, store, &rates).await?;
    tx.commit().await?;
    Ok(self::rates(db, store).await?.0)
}

/// Replaces the store's tax rate table with `rates`, checked as a whole
/// ([`rates::validate_tax`]); the table as it now stands.
pub async fn put_tax_rates(
    db: &PgPool,
    store: StoreId,
    rates: Vec<TaxRate>,
) -> Result<Vec<TaxRate>, PodError> {
    let rates = rates::validate_tax(rates)?;
    let mut tx = crate::tenancy::begin_write(db, store).await?;
    sql::rates::replace_tax(&mut tx, store, &rates).await?;
    tx.commit().await?;
    Ok(self::rates(db, store).await?.1)
}

/// Where the gateway sends this store's payment events.
pub fn notify_url(state: &AppState, store: StoreId) -> String {
    format!("{}/webhooks/payments/{store}", state.public_url)
}

/// The store's checkouts waiting in review, oldest first.
pub async fn in_review(
    state: &AppState,
    store: StoreId,
    limit: i64,
) -> Result<Vec<sql::Checkout>, PodError> {
    Ok(sql::in_review(&state.db, store, limit).await?)
}

/// How many of the store's checkouts wait for a risk review.
pub async fn count_in_review(state: &AppState, store: StoreId) -> Result<i64, PodError> {
    Ok(sql::count_in_review(&state.db, store).await?)
}

/// The checkout an order was made by.
pub async fn of_order(
    state: &AppState,
    store: StoreId,
    order: mercato_tenants::OrderId,
) -> Result<Option<sql::Checkout>, PodError> {
    Ok(sql::of_order(&state.db, store, order).await?)
}

/// Settles checkouts nobody has moved for `checkout.stuck_after_ms`: their
/// driver died (a pod crash, a lost connection). Each is pushed to one end
/// or the other, asking the gateway what happened by idempotency key.
pub async fn recover(state: AppState) {
    let every = Duration::from_millis(state.config.checkout.recovery_interval_ms.max(50));
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        for store in state.hosted.active() {
            let span = store_span("checkout_recovery", store);
            if let Err(e) = recover_store(&state, store).instrument(span.clone()).await {
                let _in = span.entered();
                tracing::warn!(error = %e, "checkout recovery round failed");
            }
        }
    }
}

/// One recovery round for one store (the worker's step, run by tests).
pub async fn recover_store(state: &AppState, store: StoreId) -> Result<(), PodError> {
    let mut tx = state.db.begin().await?;
    // The claim writes: it takes the fence like every writer, so a store
    // fenced for a move since `hosted.active()` was read is left alone.
    if !crate::tenancy::is_active_locked(&mut tx, store).await? {
        return Ok(());
    }
    let stuck: Vec<CheckoutId> = sql::claim_stuck(
        &mut tx,
        store,
        state.config.checkout.stuck_after_ms as i64,
        20,
    )
    .await?;
    let overdue = sql::overdue_reviews(
        &mut tx,
        store,
        i64::try_from(state.config.checkout.review_window_secs).unwrap_or(i64::MAX),
        20,
    )
    .await?;
    tx.commit().await?;
    for id in overdue {
        // Undecided within the window: void before the authorization lapses.
        match saga::decide_review(state, store, id, false, Some("review_expired")).await {
            Ok(_) => tracing::info!(checkout = %id, "review expired; checkout cancelled"),
            Err(e) => tracing::warn!(checkout = %id, error = %e, "expiring a review failed"),
        }
    }
    for id in stuck {
        match saga::drive(state, store, id, saga::Mode::Recovery).await {
            Ok(c) => {
                tracing::info!(checkout = %id, state = c.state.as_str(), "recovered checkout")
            }
            Err(e) => {
                tracing::warn!(checkout = %id, error = %e, "recovering checkout failed")
            }
        }
    }
    Ok(())
}
