//! Staff changes of stock, for every face (`PUT
//! /admin/api/variants/{id}/stock`, `POST .../stock/adjustments`, the
//! admin's product page): one transaction with its audit row and outbox
//! event, derived catalog data and caches refreshed, the gate counter
//! dropped. A pipeline above inventory and catalog.

use mercato_tenants::{ApiError, LocationId, StoreId, VariantId};

use crate::error::PodError;
use crate::inventory::locations;
use crate::inventory::model::{self, Change, StockOp, VariantStock};
use crate::inventory::sql::{locations as location_sql, stock as stock_sql};
use crate::inventory::stock;
use crate::state::AppState;
use crate::{catalog, product_write};

/// A staff change of stock.
pub struct StaffChange<'a> {
    pub variant: VariantId,
    /// `None`: the default location.
    pub location: Option<LocationId>,
    pub op: StockOp,
    pub reason: &'a str,
    pub actor: &'a str,
    pub low_stock_threshold: Option<i32>,
}

/// Applies a staff change in one transaction (audit row and outbox event
/// included), refreshes derived catalog data and caches, and drops the
/// variant's gate counter.
pub async fn change_stock(
    state: &AppState,
    store: StoreId,
    change: StaffChange<'_>,
) -> Result<VariantStock, PodError> {
    let variant = change.variant;
    let mut tx = product_write::begin(&state.db, store).await?;
    let product = catalog::product_of_variant(&mut *tx, store, variant)
        .await?
        .ok_or_else(|| ApiError::not_found("variant"))?;
    let location = match change.location {
        Some(l) => {
            if !location_sql::exists(&mut *tx, store, l).await? {
                return Err(model::unknown(l).into());
            }
            l
        }
        None => locations::ensure_default_location(&mut tx, store).await?,
    };
    let (current, reserved) = stock_sql::lock_row(&mut tx, store, variant, location).await?;
    let was_in_stock = stock_sql::in_stock(&mut tx, store, variant).await?;
    let (on_hand, delta) = model::apply(current, reserved, change.op).map_err(ApiError::from)?;
    // The variant's total on hand after the change, when it changed.
    let total = if delta != 0 {
        stock_sql::write_on_hand(&mut tx, store, variant, location, on_hand).await?;
        let after = stock::record_change(
            &mut tx,
            store,
            &Change {
                variant,
                location,
                delta,
                on_hand_after: on_hand,
                reserved_after: reserved,
                reason: change.reason,
                actor: change.actor,
                reference: None,
            },
        )
        .await?;
        Some(after)
    } else {
        None
    };
    if change.low_stock_threshold.is_some() || delta == 0 {
        stock_sql::add_to_total(&mut tx, store, variant, 0, change.low_stock_threshold).await?;
    }
    if total.is_none_or(|t| (t > 0) == was_in_stock) {
        // The only stock a product's derived rows carry is whether one of
        // its variants is in stock (the search document's `in_stock`); this
        // variant's answer is unchanged, so is theirs. Most stock changes
        // are such, and they skip the search reindex and its store lock.
        product_write::record_changed(&mut tx, store, &[product]).await?;
        product_write::commit(state, tx, store, &[product]).await?;
    } else {
        product_write::commit_change(state, tx, store, &[product]).await?;
    }
    crate::inventory::refresh_gate(state, store, &[variant]).await;
    Ok(stock::variant_stock(&state.db, store, variant).await?)
}
