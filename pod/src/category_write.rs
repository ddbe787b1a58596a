//! Staff changes of the category tree, for every face
//! (`/admin/api/categories` and the admin's categories page): create,
//! rename, re-handle, re-position or move, delete. Each holds the store's
//! tree lock until commit, so the cycle, depth and leaf checks made inside
//! the transaction still hold when it commits; a move re-derives the
//! search data of every product below through `product_write`. A pipeline
//! above categories and product_write.

use mercato_tenants::{ApiError, CategoryId, ErrorCode, StoreId};
use sqlx::{Postgres, Transaction};

use crate::categories::model::{self, Category, CategoryPatch, NewCategory};
use crate::categories::sql;
use crate::error::PodError;
use crate::product_write;
use crate::state::AppState;
use crate::tenancy::begin_write;

/// Opens a write transaction that holds the store's category tree lock.
async fn begin_tree(
    state: &AppState,
    store: StoreId,
) -> Result<Transaction<'static, Postgres>, PodError> {
    let mut tx = begin_write(&state.db, store).await?;
    sql::lock_tree(&mut tx, store).await?;
    Ok(tx)
}

/// Creates a category, a root or under `parent_id` (`422` for an unknown
/// parent or a tree too deep).
pub async fn create(
    state: &AppState,
    store: StoreId,
    new: NewCategory,
) -> Result<Category, PodError> {
    let new = new.validate()?;
    let mut tx = begin_tree(state, store).await?;
    let parents = sql::parents(&mut *tx, store).await?;
    model::check_new(&parents, new.parent_id)?;
    let category = sql::insert(&mut tx, store, &new).await?;
    product_write::commit(state, tx, store, &[]).await?;
    Ok(category)
}

/// Renames, re-handles, re-positions or moves a category. A move under
/// itself or one of its descendants is `422 unprocessable`.
pub async fn update(
    state: &AppState,
    store: StoreId,
    id: CategoryId,
    patch: CategoryPatch,
) -> Result<Category, PodError> {
    let patch = patch.validate()?;
    let mut tx = begin_tree(state, store).await?;
    let parents = sql::parents(&mut *tx, store).await?;
    if !parents.contains_key(&id) {
        return Err(ApiError::not_found("category").into());
    }
    if let Some(new_parent) = patch.parent_id {
        model::check_move(&parents, id, new_parent)?;
    }
    let category = sql::update(&mut tx, store, id, &patch)
        .await?
        .ok_or_else(|| ApiError::not_found("category"))?;
    if patch.name.is_some() {
        // Category facets are labelled with the name.
        crate::search::touch(&mut tx, store).await?;
    }
    // A move changes the ancestors of every product below: their search
    // documents (category facets and filters) follow in this transaction.
    let moved = if patch.parent_id.is_some() {
        sql::subtree_all_products(&mut *tx, store, id).await?
    } else {
        Vec::new()
    };
    product_write::commit_change(state, tx, store, &moved).await?;
    Ok(category)
}

/// Deletes a category: only a leaf with no products (else `409 conflict`).
pub async fn delete(state: &AppState, store: StoreId, id: CategoryId) -> Result<(), PodError> {
    let mut tx = begin_tree(state, store).await?;
    if sql::get(&mut *tx, store, id).await?.is_none() {
        return Err(ApiError::not_found("category").into());
    }
    match sql::in_use(&mut tx, store, id).await? {
        (true, _) => {
            return Err(ApiError::new(
                ErrorCode::Conflict,
                "the category has sub-categories; move or delete them first",
            )
            .into())
        }
        (_, true) => {
            return Err(ApiError::new(
                ErrorCode::Conflict,
                "the category has products; take them out first",
            )
            .into())
        }
        (false, false) => {}
    }
    sql::delete(&mut tx, store, id).await?;
    product_write::commit(state, tx, store, &[]).await
}
