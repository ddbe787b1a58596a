//! Categories: a tree per store (`parent_id` null for roots) that products
//! are filed under, several each. Shoppers see the whole tree and, for a
//! category, the active products in it or in any category below it.
//!
//! Changes to the tree's shape (create, move, delete) take turns through a
//! per-store advisory lock held until commit, so the cycle and leaf checks
//! made inside the transaction still hold when it commits.

pub(crate) mod model;
pub(crate) mod sql;

use mercato_tenants::{ApiError, StoreId};
use sqlx::PgPool;

pub use model::{Category, CategoryNode, CategoryTree};

use crate::catalog::{self, ProductStatus};
use crate::collections::{Cursor, ProductPage, SortOrder};
use crate::error::PodError;

/// The store's whole category tree.
pub async fn tree(db: &PgPool, store: StoreId) -> Result<CategoryTree, PodError> {
    let all = sql::all(db, store).await?;
    Ok(CategoryTree {
        categories: model::build_tree(all),
    })
}

/// One page of the active products in the category `handle` or below it,
/// newest first. Bad cursors are `400 invalid_request`, unknown handles `404`.
pub async fn category_page(
    db: &PgPool,
    store: StoreId,
    handle: &str,
    after: Option<&str>,
    limit: u32,
) -> Result<ProductPage, PodError> {
    let category = sql::get_by_handle(db, store, handle)
        .await?
        .ok_or_else(|| ApiError::not_found("category"))?;
    let cursor = after
        .map(|a| Cursor::decode(a, SortOrder::Newest))
        .transpose()?;
    let (ids, next) = sql::subtree_products(db, store, category.id, cursor.as_ref(), limit).await?;
    let items = catalog::get_products(db, store, &ids, Some(ProductStatus::Active)).await?;
    Ok(ProductPage {
        items,
        next_cursor: next.map(|c| c.encode()),
    })
}
