//! Placing an order from a cart: the one entry of the checkout saga for
//! shoppers, whatever their face (the JSON API's `POST /api/checkout`, the
//! storefront's checkout pages). The request is checked for shape, recorded
//! under its idempotency key, and driven; the same key again waits for and
//! returns the first attempt's checkout.

use std::time::Duration;

use mercato_tenants::{ApiError, CheckoutId, Email, ErrorCode, StoreId};
use serde_json::Value;

use super::model::{self, CheckoutRequest};
use super::saga::{self, Asked, Mode};
use super::sql::{self, Checkout, NewCheckout};
use crate::cart::{self, CartRef};
use crate::error::PodError;
use crate::gift_cards;
use crate::state::AppState;
use crate::tenancy::begin_write;

/// Places the checkout `raw` (a [`CheckoutRequest`] as JSON) for the cart
/// `cart_ref` under the idempotency key `key`, from the client address
/// `client`: the checkout as it ends (or stands, when still settling with
/// the gateway). A key used before answers that attempt's checkout (`422
/// idempotency_key_reused` for another request; `404` for another shopper).
pub async fn place(
    state: &AppState,
    store: StoreId,
    key: String,
    raw: &Value,
    cart_ref: CartRef,
    client: &str,
) -> Result<Checkout, PodError> {
    let request: CheckoutRequest = serde_json::from_value(raw.clone())
        .map_err(|e| ApiError::invalid(format!("invalid checkout request: {e}")))?;
    // Shape checks answer at once and record nothing, like a PSP refusing
    // a malformed request: the client fixes it and may reuse the key.
    let asked = asked(request, cart_ref)?;
    let (identity, cart_id, customer_id, secret_hash) = match &asked.cart {
        CartRef::Guest(t) => (format!("cart:{}", t.cart()), t.cart(), None, Some(t.hash())),
        CartRef::Customer(c) => {
            let cart = cart::active(state, store, &asked.cart).await?;
            (format!("customer:{c}"), cart.id, Some(*c), None)
        }
    };
    let hash = model::request_hash(&identity, raw);
    let id = CheckoutId::new();
    // Fenced like every write: no checkout appears on a pod after a move
    // fenced the store.
    let mut tx = begin_write(&state.db, store).await?;
    let inserted = sql::insert(
        &mut *tx,
        store,
        &NewCheckout {
            id,
            key: &key,
            request_hash: &hash,
            cart_id,
            customer_id,
            payment_token: &asked.payment_token,
            cart_secret_hash: secret_hash.as_ref().map(|h| h.0.as_slice()),
            client_address: Some(client).filter(|c| *c != "unknown"),
        },
    )
    .await?;
    if let (true, CartRef::Guest(token), Some(email)) = (inserted, &asked.cart, &asked.email) {
        cart::abandoned::remember_checkout_email(&mut tx, store, token, email.as_str()).await?;
    }
    tx.commit().await?;
    if !inserted {
        return replay(state, store, &key, &hash, &asked).await;
    }
    saga::drive(state, store, id, Mode::Request(&asked)).await
}

fn asked(request: CheckoutRequest, cart: CartRef) -> Result<Asked, ApiError> {
    let address = request.shipping_address.validate()?;
    let billing = request.billing_address.map(|a| a.validate()).transpose()?;
    let email = request
        .email
        .as_deref()
        .map(Email::parse)
        .transpose()
        .map_err(|e| ApiError::new(ErrorCode::InvalidEmail, e))?;
    let token = request
        .payment_token
        .as_deref()
        .map(str::trim)
        .unwrap_or("");
    if request.payment_token.is_some()
        && (token.is_empty() || token.len() > 255 || !token.bytes().all(|b| b.is_ascii_graphic()))
    {
        return Err(ApiError::invalid(
            "payment_token must be 1 to 255 printable ASCII characters",
        ));
    }
    if request.gift_cards.len() > gift_cards::model::MAX_PER_CHECKOUT {
        return Err(ApiError::invalid(format!(
            "at most {} gift cards per checkout",
            gift_cards::model::MAX_PER_CHECKOUT
        )));
    }
    let codes = request.gift_cards;
    if codes
        .iter()
        .any(|c| c.len() > 64 || c.chars().any(char::is_control))
    {
        return Err(ApiError::invalid(
            "a gift card code is at most 64 characters, without control characters",
        ));
    }
    let option = request.shipping_option.trim();
    if option.is_empty() || option.len() > 40 {
        return Err(ApiError::invalid(
            "shipping_option must be 1 to 40 characters",
        ));
    }
    if matches!(request.expected_total_minor, Some(t) if !(0..=model::MAX_AMOUNT).contains(&t)) {
        return Err(ApiError::invalid("expected_total_minor out of range"));
    }
    Ok(Asked {
        cart,
        email,
        address,
        billing,
        shipping_option: option.to_owned(),
        expected_total: request.expected_total_minor,
        payment_token: token.to_owned(),
        gift_cards: codes,
    })
}

/// The same key again: the first attempt's answer, once it has one. A
/// first attempt whose driver is gone (no step for
/// `checkout.webhook_drive_after_ms`: its pod was fenced for a move and
/// answered `421`, and the router sent the request here; or it crashed) is
/// driven on by this request, which is the same request (same key, same
/// hash): the saga's steps are safe to race, so a driver still at work
/// costs nothing but a lost race.
async fn replay(
    state: &AppState,
    store: StoreId,
    key: &str,
    hash: &[u8],
    asked: &Asked,
) -> Result<Checkout, PodError> {
    let who = &asked.cart;
    let wait_for = Duration::from_millis(state.config.gateway.timeout_ms.saturating_mul(2) + 5_000);
    let deadline = tokio::time::Instant::now() + wait_for;
    let idle = chrono::Duration::milliseconds(
        i64::try_from(state.config.checkout.webhook_drive_after_ms).unwrap_or(i64::MAX),
    );
    let mut pause = Duration::from_millis(10);
    loop {
        let c = sql::by_key(&state.db, store, key)
            .await?
            .ok_or_else(|| PodError::internal("checkout key vanished"))?;
        // The cart id is in the token's clear part: only its secret proves
        // the replay comes from the shopper who started the checkout.
        if !started_by(&c, who) {
            return Err(ApiError::not_found("checkout").into());
        }
        if c.request_hash != hash {
            return Err(ApiError::new(
                ErrorCode::IdempotencyKeyReused,
                "this Idempotency-Key was used for a different checkout request; use a new key",
            )
            .into());
        }
        if c.outcome.is_some() || tokio::time::Instant::now() >= deadline {
            return Ok(c);
        }
        if chrono::Utc::now() - c.updated_at >= idle {
            tracing::info!(checkout = %c.id, state = c.state.as_str(), "driving on a checkout its first driver left");
            return saga::drive(state, store, c.id, Mode::Request(asked)).await;
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(200));
    }
}

/// Whether `who` is the shopper who started `c`: the same customer, or a
/// guest holding the same cart token (its secret, not only its cart id).
pub fn started_by(c: &sql::Checkout, who: &CartRef) -> bool {
    match who {
        CartRef::Customer(cid) => c.customer_id == Some(*cid),
        CartRef::Guest(t) => {
            c.customer_id.is_none()
                && c.cart_id == t.cart()
                && c.cart_secret_hash.as_deref().is_none_or(|stored| {
                    crate::cart::TokenHash::from_slice(stored)
                        .is_some_and(|stored| stored.matches(&t.hash()))
                })
        }
    }
}
