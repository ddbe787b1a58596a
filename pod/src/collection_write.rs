//! Staff changes of collections, for every face (`/admin/api/collections`
//! and the admin's collection pages): create, change (new rules
//! re-compute a rule collection's members), delete, and a manual
//! collection's products (add, order, remove). Each is one transaction
//! through `product_write`, so the products that join or leave a
//! collection have their derived data and events commit with the change.
//! A pipeline above collections, catalog and product_write.

use mercato_tenants::{ApiError, CollectionId, ErrorCode, ProductId, StoreId};
use sqlx::{Postgres, Transaction};

use crate::collections::model::{
    self, Collection, CollectionKind, CollectionPatch, NewCollection, Rules,
};
use crate::collections::{lock_rules_exclusive, rematerialize, sql};
use crate::error::PodError;
use crate::state::AppState;
use crate::tenancy::begin_write;
use crate::{catalog, product_write};

/// Most products one request may add to a collection.
pub const MAX_ADD: usize = 250;
/// Most members a collection may be reordered with in one request.
pub const MAX_ORDER: usize = 10_000;

/// Creates a collection; a rule collection's members are computed at once.
pub async fn create(
    state: &AppState,
    store: StoreId,
    new: NewCollection,
) -> Result<Collection, PodError> {
    let new = new.validate()?;
    let mut tx = begin_write(&state.db, store).await?;
    if new.rules.is_some() {
        lock_rules_exclusive(&mut tx, store).await?;
    }
    let id = sql::insert(&mut tx, store, &new).await?;
    let (collection, members) = finish(state, tx, store, id, new.rules.as_ref()).await?;
    tracing::info!(collection_id = %id, members, "collection created");
    Ok(collection)
}

/// Changes a collection's fields. New rules (rule collections only, `422`
/// for a manual one) re-compute its members.
pub async fn update(
    state: &AppState,
    store: StoreId,
    id: CollectionId,
    patch: CollectionPatch,
) -> Result<Collection, PodError> {
    let patch = patch.validate()?;
    let mut tx = begin_write(&state.db, store).await?;
    if patch.rules.is_some() {
        lock_rules_exclusive(&mut tx, store).await?;
    }
    let current = sql::lock(&mut tx, store, id)
        .await?
        .ok_or_else(|| ApiError::not_found("collection"))?;
    if patch.rules.is_some() && current.kind == CollectionKind::Manual {
        return Err(
            ApiError::new(ErrorCode::Unprocessable, "a manual collection has no rules").into(),
        );
    }
    sql::update(&mut tx, store, id, &patch).await?;
    if patch.title.is_some() {
        // Collection facets are labelled with the title.
        crate::search::touch(&mut tx, store).await?;
    }
    let (collection, _) = finish(state, tx, store, id, patch.rules.as_ref()).await?;
    Ok(collection)
}

/// Deletes a collection (its products stay).
pub async fn delete(state: &AppState, store: StoreId, id: CollectionId) -> Result<(), PodError> {
    let mut tx = begin_write(&state.db, store).await?;
    // Rule refreshes must not insert members of a collection being deleted.
    lock_rules_exclusive(&mut tx, store).await?;
    sql::lock(&mut tx, store, id)
        .await?
        .ok_or_else(|| ApiError::not_found("collection"))?;
    let members = sql::member_ids(&mut *tx, store, id).await?;
    sql::delete(&mut tx, store, id).await?;
    product_write::commit_change(state, tx, store, &members).await
}

/// Appends products to a manual collection, in the given order; products
/// already in it stay where they are. The products added, in order.
pub async fn add_products(
    state: &AppState,
    store: StoreId,
    id: CollectionId,
    products: &[ProductId],
) -> Result<Vec<ProductId>, PodError> {
    if products.is_empty() || products.len() > MAX_ADD {
        return Err(
            ApiError::invalid(format!("product_ids must list 1 to {MAX_ADD} products")).into(),
        );
    }
    let mut tx = begin_write(&state.db, store).await?;
    lock_manual(&mut tx, store, id).await?;
    let known = catalog::existing_products(&mut *tx, store, products).await?;
    catalog::require_known("products", products, &known)?;
    let current = sql::member_set(&mut *tx, store, id).await?;
    let added = model::to_append(&current, products);
    sql::append(&mut tx, store, id, &added).await?;
    product_write::commit_change(state, tx, store, &added).await?;
    Ok(added)
}

/// Sets the order of a manual collection: `order` lists every member
/// exactly once (`422` otherwise).
pub async fn set_order(
    state: &AppState,
    store: StoreId,
    id: CollectionId,
    order: &[ProductId],
) -> Result<(), PodError> {
    if order.len() > MAX_ORDER {
        return Err(ApiError::invalid(format!(
            "product_ids must list at most {MAX_ORDER} products"
        ))
        .into());
    }
    let mut tx = begin_write(&state.db, store).await?;
    lock_manual(&mut tx, store, id).await?;
    let current = sql::member_set(&mut *tx, store, id).await?;
    model::check_order(&current, order)?;
    sql::set_order(&mut tx, store, id, order).await?;
    product_write::commit(state, tx, store, &[]).await
}

/// Takes a product out of a manual collection (`404` if it is not in it).
pub async fn remove_product(
    state: &AppState,
    store: StoreId,
    id: CollectionId,
    product: ProductId,
) -> Result<(), PodError> {
    let mut tx = begin_write(&state.db, store).await?;
    lock_manual(&mut tx, store, id).await?;
    if sql::delete_members(&mut tx, store, id, &[product]).await? == 0 {
        return Err(ApiError::not_found("product in this collection").into());
    }
    product_write::commit_change(state, tx, store, &[product]).await
}

/// Ends the write of a collection's fields: new `rules` re-compute its
/// members (their derived data follows), then the commit. The collection
/// as saved, and how many products joined or left it.
async fn finish(
    state: &AppState,
    mut tx: Transaction<'static, Postgres>,
    store: StoreId,
    id: CollectionId,
    rules: Option<&Rules>,
) -> Result<(Collection, usize), PodError> {
    let affected = match rules {
        Some(rules) => rematerialize(&mut tx, store, id, rules).await?,
        None => Vec::new(),
    };
    product_write::after_change_batched(state, &mut tx, store, &affected).await?;
    let collection = sql::get(&mut *tx, store, id)
        .await?
        .ok_or_else(|| PodError::internal("collection vanished inside its transaction"))?;
    product_write::commit(state, tx, store, &affected).await?;
    Ok((collection, affected.len()))
}

/// Locks a manual collection for a membership change (`404` if there is
/// none, `422` for a rule collection).
async fn lock_manual(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    id: CollectionId,
) -> Result<Collection, PodError> {
    let collection = sql::lock(tx, store, id)
        .await?
        .ok_or_else(|| ApiError::not_found("collection"))?;
    if collection.kind == CollectionKind::Rule {
        return Err(ApiError::new(
            ErrorCode::Unprocessable,
            "the members of a rule collection follow its rules; change the rules instead",
        )
        .into());
    }
    Ok(collection)
}
