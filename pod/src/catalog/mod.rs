//! The catalog: products and their variants. The variant is the unit of
//! price and stock; its SKU is unique within a store.
//!
//! Staff write through `/admin/api/products`; shoppers read active products
//! through `/api/products`.

mod model;
mod routes;
mod store;

use mercato_tenants::{ApiError, ProductId, StoreId};
use sqlx::{Postgres, Transaction};

pub use model::{NewProduct, NewVariant, Product, ProductPatch, ProductStatus, Sku, Variant};
pub use routes::router;
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

/// After the commit of such a change: drops cached copies of `products`.
pub async fn invalidate(_state: &AppState, _store: StoreId, _products: &[ProductId]) {}
