//! The catalog: products and their variants. The variant is the unit of
//! price and stock; its SKU is unique within a store.
//!
//! Staff write through `/admin/api/products`; shoppers read active products
//! through `/api/products`.

mod model;
pub mod read;
mod routes;
mod store;

use std::collections::{BTreeSet, HashSet};
use std::fmt::Display;
use std::hash::Hash;

use mercato_tenants::events::{Event, ProductChanged, ProductDeleted};
use mercato_tenants::{ApiError, ErrorCode, ProductId, StoreId};
use sqlx::{Postgres, Transaction};

pub use model::{
    Image, NewProduct, NewVariant, Product, ProductOption, ProductPatch, ProductStatus, Sku,
    Variant, VariantPatch,
};
pub use routes::{router, ApiDoc};
pub use store::{
    existing_products, get_product, get_products, insert_product, list_products,
    product_of_variant, variant_snapshots, Page, VariantSnapshot,
};

use crate::db::{map_db_error, Ids};
use crate::AppState;

/// Opens the transaction of a change to products: fenced (`lock_active`),
/// then the store's rules lock shared, always before any product row is
/// locked, so a product write and a rule change cannot deadlock.
pub async fn begin_product_write(
    db: &sqlx::PgPool,
    store: StoreId,
) -> Result<Transaction<'static, Postgres>, ApiError> {
    let mut tx = crate::tenancy::begin_write(db, store).await?;
    crate::collections::lock_rules_shared(&mut tx, store).await?;
    Ok(tx)
}

/// Inside the transaction of any change that touches `products` (their
/// fields, variants, stock, collections or categories): brings derived data
/// (search documents) up to date and records `catalog.product_changed` /
/// `catalog.product_deleted` in the outbox, so they commit with the change.
pub async fn after_change(
    _state: &AppState,
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    products: &[ProductId],
) -> Result<(), ApiError> {
    crate::collections::refresh_rules_for(tx, store, products)
        .await
        .map_err(map_db_error)?;
    crate::search::reindex(tx, store, products)
        .await
        .map_err(map_db_error)?;
    record_changed(tx, store, products).await
}

/// Records `catalog.product_changed` / `catalog.product_deleted` for
/// `products` in the outbox: on its own for a change that leaves every
/// derived row as it was (see `inventory::stock::change_stock`).
pub async fn record_changed(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    products: &[ProductId],
) -> Result<(), ApiError> {
    let ids = Ids::new(products.iter().map(ProductId::as_uuid));
    let sql = format!(
        "SELECT id, status FROM products WHERE store_id = $1 AND {}",
        ids.matches("id", 2)
    );
    let rows: Vec<(uuid::Uuid, String)> = ids
        .bind_to(sqlx::query_as(&sql).bind(store.as_uuid()))
        .fetch_all(&mut **tx)
        .await
        .map_err(map_db_error)?;
    let statuses = rows
        .into_iter()
        .map(|(id, status)| match ProductStatus::parse(&status) {
            Some(status) => Ok((id, status)),
            None => Err(ApiError::internal(format!(
                "product {id} has the unknown status `{status}`"
            ))),
        })
        .collect::<Result<_, _>>()?;
    crate::events::record_many(tx, store, &product_events(products, &statuses))
        .await
        .map_err(map_db_error)?;
    Ok(())
}

/// One event per product changed, in order, once each: changed (with its
/// status) when it still exists, deleted when it does not.
fn product_events(
    products: &[ProductId],
    statuses: &std::collections::HashMap<uuid::Uuid, ProductStatus>,
) -> Vec<Event> {
    let mut seen = HashSet::new();
    products
        .iter()
        .filter(|p| seen.insert(**p))
        .map(|p| match statuses.get(&p.as_uuid()) {
            Some(status) => Event::ProductChanged(ProductChanged {
                product_id: *p,
                status: *status,
            }),
            None => Event::ProductDeleted(ProductDeleted { product_id: *p }),
        })
        .collect()
}

/// `422 unprocessable` naming (sorted, once each) the ids of `wanted` that
/// are not `known` in the store: `what` says what they are.
pub fn require_known<T>(what: &str, wanted: &[T], known: &HashSet<T>) -> Result<(), ApiError>
where
    T: Eq + Hash + Display,
{
    let unknown: BTreeSet<String> = wanted
        .iter()
        .filter(|id| !known.contains(id))
        .map(ToString::to_string)
        .collect();
    if unknown.is_empty() {
        return Ok(());
    }
    Err(ApiError::new(
        ErrorCode::Unprocessable,
        format!(
            "no such {what} in this store: {}",
            unknown.into_iter().collect::<Vec<_>>().join(", ")
        ),
    ))
}

/// Products per [`after_change`] call in [`after_change_batched`].
const AFTER_CHANGE_BATCH: usize = 1000;

/// [`after_change`] for any number of products, a batch at a time.
pub async fn after_change_batched(
    state: &AppState,
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    products: &[ProductId],
) -> Result<(), ApiError> {
    for chunk in products.chunks(AFTER_CHANGE_BATCH) {
        after_change(state, tx, store, chunk).await?;
    }
    Ok(())
}

/// Commits a catalog change whose derived data is already up to date, then
/// [`invalidate`]s `products` and the store's lists.
pub async fn commit(
    state: &AppState,
    tx: Transaction<'_, Postgres>,
    store: StoreId,
    products: &[ProductId],
) -> Result<(), ApiError> {
    tx.commit().await.map_err(map_db_error)?;
    invalidate(state, store, products).await;
    Ok(())
}

/// Commits a change to `products`: derived data inside the transaction
/// ([`after_change_batched`]), cache invalidation after it ([`commit`]).
pub async fn commit_change(
    state: &AppState,
    mut tx: Transaction<'_, Postgres>,
    store: StoreId,
    products: &[ProductId],
) -> Result<(), ApiError> {
    after_change_batched(state, &mut tx, store, products).await?;
    commit(state, tx, store, products).await
}

/// After the commit of such a change: cached copies of `products`, and of
/// every list of the store's catalog, are never served again.
pub async fn invalidate(state: &AppState, store: StoreId, products: &[ProductId]) {
    let mut versions: Vec<String> = products
        .iter()
        .map(|p| crate::keys::product_version(store, *p))
        .collect();
    versions.push(crate::keys::catalog_version(store));
    state.cache.bump(versions).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn product_events_say_changed_or_deleted_once_per_product() {
        let (kept, gone) = (ProductId::new(), ProductId::new());
        let statuses = [(kept.as_uuid(), ProductStatus::Active)]
            .into_iter()
            .collect();
        let events = product_events(&[kept, gone, kept], &statuses);
        let summary: Vec<(&str, serde_json::Value)> = events
            .iter()
            .map(|e| (e.event_type().as_str(), e.payload().expect("json")))
            .collect();
        assert_eq!(
            summary,
            [
                (
                    "catalog.product_changed",
                    serde_json::json!({"product_id": kept, "status": "active"})
                ),
                (
                    "catalog.product_deleted",
                    serde_json::json!({"product_id": gone})
                ),
            ]
        );
        assert_eq!(events[1].aggregate_id(), gone.as_uuid());
    }

    #[test]
    fn require_known_names_each_unknown_id_once_in_order() {
        let known: HashSet<u32> = [1, 2].into_iter().collect();
        assert!(require_known("things", &[2, 1, 2], &known).is_ok());
        let err = require_known("things", &[9, 1, 3, 9], &known).expect_err("unknown ids");
        assert_eq!(err.code, ErrorCode::Unprocessable);
        assert_eq!(err.message, "no such things in this store: 3, 9");
    }
}
