//! Abandoned carts: the reminder a shopper gets when a cart with lines and
//! an email sat untouched for the store's `abandoned_cart_hours`, and the
//! guest's way back to it.
//!
//! [`remind_store`] runs in one transaction under the store's fence: it
//! locks the due carts (`SKIP LOCKED`, so two pods' sweeps never take the
//! same cart during a move), records a `cart.abandoned` event for each
//! (whose mail the notifications worker sends, at most once per event) and
//! sets `reminded_at`, so a cart gets one reminder per idle spell; a cart
//! touched after its reminder is due again once it is quiet again. A
//! guest's reminder carries a restore token (shaped like a cart token, for
//! the same cart id; only its sha256 is kept in `restore_hash`);
//! [`restore`] turns it into a new guest cart with the same lines, priced
//! and checked as if the shopper added them now.

use mercato_tenants::events::{AbandonedLine, CartAbandoned, Event};
use mercato_tenants::{ApiError, CartId, Currency, CustomerId, StoreId};
use uuid::Uuid;

use super::model::CartToken;
use super::{Cart, CartRef, Change};
use crate::error::PodError;
use crate::state::AppState;
use crate::tenancy::begin_write;

/// Carts untouched for longer than this are never reminded: a reminder a
/// month late is noise.
const MAX_IDLE_DAYS: i32 = 30;

/// Records the reminders of up to `batch` due carts of `store`; returns how
/// many.
pub async fn remind_store(
    state: &AppState,
    store: StoreId,
    hours: i32,
    batch: i64,
) -> Result<usize, PodError> {
    let mut tx = begin_write(&state.db, store).await?;
    type Due = (Uuid, Option<Uuid>, String, String);
    let due: Vec<Due> = sqlx::query_as(
        "SELECT c.id, c.customer_id, coalesce(c.email, cu.email), c.currency
           FROM carts c
           LEFT JOIN customers cu ON cu.store_id = c.store_id AND cu.id = c.customer_id
          WHERE c.store_id = $1 AND c.status = 'active'
            AND c.updated_at < now() - make_interval(hours => $2)
            AND c.updated_at > now() - make_interval(days => $3)
            AND (c.reminded_at IS NULL OR c.reminded_at < c.updated_at)
            AND coalesce(c.email, cu.email) IS NOT NULL
            AND EXISTS (SELECT 1 FROM cart_lines l WHERE l.store_id = c.store_id AND l.cart_id = c.id)
          ORDER BY c.updated_at
          LIMIT $4
          FOR UPDATE OF c SKIP LOCKED",
    )
    .bind(store.as_uuid())
    .bind(hours)
    .bind(MAX_IDLE_DAYS)
    .bind(batch)
    .fetch_all(&mut *tx)
    .await?;
    for (id, customer, email, currency) in &due {
        let cart = CartId::from_uuid(*id);
        let lines = super::sql::lines(&mut *tx, store, cart).await?;
        let restore = customer.is_none().then(|| CartToken::generate(cart));
        sqlx::query(
            "UPDATE carts SET reminded_at = now(), restore_hash = coalesce($3, restore_hash)
              WHERE store_id = $1 AND id = $2",
        )
        .bind(store.as_uuid())
        .bind(id)
        .bind(restore.as_ref().map(|t| t.hash().0.to_vec()))
        .execute(&mut *tx)
        .await?;
        let event = Event::CartAbandoned(CartAbandoned {
            cart_id: cart,
            customer_id: customer.map(CustomerId::from_uuid),
            email: email.clone(),
            currency: Currency::parse(currency.trim()).map_err(PodError::internal)?,
            lines: lines
                .iter()
                .map(|l| AbandonedLine {
                    sku: l.sku.clone(),
                    title: l.title.clone(),
                    quantity: l.quantity,
                    unit_price_minor: l.unit_price.minor,
                })
                .collect(),
            restore_path: restore.map(|t| format!("/cart/restore?token={}", t.expose())),
        });
        crate::events::record(&mut tx, store, &event).await?;
    }
    tx.commit().await?;
    Ok(due.len())
}

/// Sets the email a guest's cart may be reminded at.
pub async fn set_email(
    state: &AppState,
    store: StoreId,
    token: &CartToken,
    email: &str,
) -> Result<(), PodError> {
    let mut tx = begin_write(&state.db, store).await?;
    super::lock_guest(&mut tx, store, token).await?;
    sqlx::query("UPDATE carts SET email = $3, updated_at = now() WHERE store_id = $1 AND id = $2")
        .bind(store.as_uuid())
        .bind(token.cart().as_uuid())
        .bind(email)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

/// Inside the transaction that records a guest's checkout: the email the
/// checkout gives becomes the cart's, so a checkout that then fails (a
/// declined card, short stock) still leaves a cart that can be reminded.
/// Only the active guest cart whose secret the token proves; any other
/// is left alone (the checkout itself answers for a wrong token). The
/// cart is not touched otherwise: its quiet time runs on.
pub async fn remember_checkout_email(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    store: StoreId,
    token: &CartToken,
    email: &str,
) -> Result<(), PodError> {
    // One statement on the checkout's path: the token's hash picks the
    // guest cart (a hash of a secret, so comparing it in SQL tells nothing
    // of the secret).
    sqlx::query(
        "UPDATE carts SET email = $4
          WHERE store_id = $1 AND id = $2 AND status = 'active' AND customer_id IS NULL
            AND token_hash = $3 AND email IS DISTINCT FROM $4",
    )
    .bind(store.as_uuid())
    .bind(token.cart().as_uuid())
    .bind(token.hash().0.as_slice())
    .bind(email)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// A new guest cart with the lines of the abandoned cart `restore` names
/// (its reminder's token), each added as if now: lines no longer for sale
/// are left out. 404 when the token names no active cart.
pub async fn restore(
    state: &AppState,
    store: StoreId,
    currency: Currency,
    restore: &CartToken,
) -> Result<(CartToken, Cart), PodError> {
    let found: Option<(Vec<u8>,)> = sqlx::query_as(
        "SELECT restore_hash FROM carts
          WHERE store_id = $1 AND id = $2 AND status = 'active' AND restore_hash IS NOT NULL",
    )
    .bind(store.as_uuid())
    .bind(restore.cart().as_uuid())
    .fetch_optional(&state.db)
    .await?;
    let matches = found
        .and_then(|(hash,)| <[u8; 32]>::try_from(hash.as_slice()).ok())
        .is_some_and(|hash| restore.hash().matches(&super::model::TokenHash(hash)));
    if !matches {
        return Err(ApiError::not_found("cart").into());
    }
    let lines = super::sql::lines(&state.db, store, restore.cart()).await?;
    let (token, mut cart) = super::create_guest(state, store, currency).await?;
    let target = CartRef::Guest(CartToken::parse(&token.expose())?);
    for line in lines {
        let added = super::change(
            state,
            store,
            currency,
            &target,
            Change::Add {
                variant: line.variant_id,
                quantity: i64::from(line.quantity),
            },
        )
        .await;
        match added {
            Ok(now) => cart = now,
            Err(e) => tracing::info!(error = %e, "a restored cart's line was left out"),
        }
    }
    Ok((token, cart))
}
