//! The catalog: products and their variants. The variant is the unit of
//! price and stock; its SKU is unique within a store.
//!
//! Staff write through `/admin/api/products`; shoppers read active products
//! through `/api/products`.

mod model;
pub mod read;
mod routes;
mod store;

use mercato_tenants::{ApiError, ProductId, StoreId};
use sqlx::{Postgres, Transaction};

pub use model::{
    Image, NewProduct, NewVariant, Product, ProductOption, ProductPatch, ProductStatus, Sku,
    Variant, VariantPatch,
};
pub use routes::{router, ApiDoc};
pub use store::{
    get_product, get_products, insert_product, list_products, product_of_variant,
    variant_snapshots, Page, VariantSnapshot,
};

use crate::db::map_db_error;
use crate::AppState;

/// Inside the transaction of any change that touches `products` (their
/// fields, variants, stock, collections or categories): brings derived data
/// (search documents) up to date, so it commits with the change.
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
        .map_err(map_db_error)
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
