//! What the saga's forward steps ([`super::saga`]) and its compensations
//! ([`super::compensation`]) share: the gateway's idempotency keys and a
//! step's transaction.

use mercato_tenants::{ApiError, StoreId};

use super::model::SagaState;
use super::sql::{self, Advanced, Changes, Checkout};
use super::CheckoutId;
use crate::error::PodError;
use crate::state::AppState;
use crate::tenancy::{lock_active, store_not_here};

/// Idempotency keys of the gateway calls, derived from the checkout.
pub(crate) fn gateway_key(checkout: CheckoutId, call: &str) -> String {
    format!("chk_{}_{call}", checkout.as_uuid().simple())
}

/// Opens a step's transaction: the store fenced and the checkout row
/// locked, if the checkout is still in `expected` (None: another driver
/// moved it on).
pub(crate) async fn begin_step(
    state: &AppState,
    store: StoreId,
    id: CheckoutId,
    expected: SagaState,
) -> Result<Option<(sqlx::Transaction<'static, sqlx::Postgres>, Checkout)>, PodError> {
    let mut tx = state.db.begin().await?;
    lock_active(&mut tx, store).await?;
    let locked = sql::get(&mut *tx, store, id, true)
        .await?
        .ok_or_else(|| ApiError::not_found("checkout"))?;
    Ok((locked.state == expected).then_some((tx, locked)))
}

/// [`sql::advance_fenced`]: a transition outside a step's transaction,
/// behind the fence (`421 store_not_here` once a move fenced the store;
/// nothing is written then).
pub(crate) async fn advance(
    state: &AppState,
    store: StoreId,
    id: CheckoutId,
    from: SagaState,
    to: SagaState,
    changes: Changes<'_>,
) -> Result<bool, PodError> {
    match sql::advance_fenced(&state.db, store, id, from, to, changes).await? {
        Advanced::Moved => Ok(true),
        Advanced::Lost => Ok(false),
        Advanced::NotHere => Err(store_not_here(Some(store)).into()),
    }
}
