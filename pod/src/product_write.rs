//! The product-write pipeline: every change that touches `products` (their
//! fields, variants, stock, collections or categories) goes through it, so
//! that derived data and events commit with the change and caches follow it.
//!
//! 1. [`begin`]: the transaction, fenced, with the store's collection rules
//!    locked shared before any product row (a rule change and a product
//!    write cannot deadlock);
//! 2. [`after_change`] inside it: automatic collections' membership,
//!    search documents, and `catalog.product_changed` /
//!    `catalog.product_deleted` in the outbox;
//! 3. [`commit`]: commits, then invalidates cached copies.
//!
//! It sits above catalog, collections and search, which never call it; the
//! handlers and workflows that write products (catalog, collections,
//! categories, inventory's stock changes, checkout, orders) do.

use std::collections::HashSet;

use mercato_tenants::events::{Event, ProductChanged, ProductDeleted};
use mercato_tenants::{ApiError, ErrorCode, ProductId, ProductStatus, StoreId, VariantId};

use crate::catalog::Product;
use sqlx::{Postgres, Transaction};

use crate::error::PodError;
use crate::events;
use crate::state::AppState;
use crate::{catalog, collections, inventory, keys, search, tenancy};

/// Opens the transaction of a change to products: fenced (`lock_active`),
/// then the store's rules lock shared, always before any product row is
/// locked, so a product write and a rule change cannot deadlock.
pub async fn begin(
    db: &sqlx::PgPool,
    store: StoreId,
) -> Result<Transaction<'static, Postgres>, PodError> {
    let mut tx = tenancy::begin_write(db, store).await?;
    collections::lock_rules_shared(&mut tx, store).await?;
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
) -> Result<(), PodError> {
    collections::refresh_rules_for(tx, store, products).await?;
    search::reindex(tx, store, products).await?;
    record_changed(tx, store, products).await
}

/// Records `catalog.product_changed` / `catalog.product_deleted` for
/// `products` in the outbox: on its own for a change that leaves every
/// derived row as it was (see `routes::inventory::change_stock`).
pub async fn record_changed(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    products: &[ProductId],
) -> Result<(), PodError> {
    let statuses = catalog::statuses(&mut **tx, store, products).await?;
    events::record_many(tx, store, &product_events(products, &statuses)).await?;
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

/// Products per [`after_change`] call in [`after_change_batched`].
const AFTER_CHANGE_BATCH: usize = 1000;

/// [`after_change`] for any number of products, a batch at a time.
pub async fn after_change_batched(
    state: &AppState,
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    products: &[ProductId],
) -> Result<(), PodError> {
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
) -> Result<(), PodError> {
    tx.commit().await?;
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
) -> Result<(), PodError> {
    after_change_batched(state, &mut tx, store, products).await?;
    commit(state, tx, store, products).await
}

/// After the commit of such a change: cached copies of `products`, and of
/// every list of the store's catalog, are never served again.
pub async fn invalidate(state: &AppState, store: StoreId, products: &[ProductId]) {
    let mut versions: Vec<String> = products
        .iter()
        .map(|p| keys::product_version(store, *p))
        .collect();
    versions.push(keys::catalog_version(store));
    state.cache.bump(versions).await;
}

/// After the commit of units that came back on hand for `variants` (a
/// cancel, a return, cancelled lines): the checkout's gate learns them and
/// cached reads of their products (`lines`: each order line's variant and
/// product) are never served again.
pub async fn restocked(
    state: &AppState,
    store: StoreId,
    lines: impl IntoIterator<Item = (VariantId, ProductId)>,
    variants: &[VariantId],
) {
    if variants.is_empty() {
        return;
    }
    inventory::refresh_gate(state, store, variants).await;
    let products: Vec<ProductId> = lines
        .into_iter()
        .filter(|(v, _)| variants.contains(v))
        .map(|(_, p)| p)
        .collect();
    invalidate(state, store, &products).await;
}

/// Products with each variant's units on hand (over every location), as
/// staff see them.
pub async fn with_stock(
    state: &AppState,
    store: StoreId,
    mut products: Vec<Product>,
) -> Result<Vec<Product>, PodError> {
    let ids: Vec<VariantId> = products
        .iter()
        .flat_map(|p| p.variants.iter().map(|v| v.id))
        .collect();
    let levels = crate::inventory::levels(&state.db, store, &ids).await?;
    for v in products.iter_mut().flat_map(|p| p.variants.iter_mut()) {
        v.on_hand = levels.get(&v.id).map(|l| l.on_hand);
    }
    Ok(products)
}

pub async fn staff_product(
    state: &AppState,
    store: StoreId,
    id: ProductId,
) -> Result<Product, PodError> {
    let product = catalog::sql::get_product(&state.db, store, id, None)
        .await?
        .ok_or_else(|| ApiError::not_found("product"))?;
    with_stock(state, store, vec![product])
        .await?
        .pop()
        .ok_or_else(|| ApiError::not_found("product").into())
}

/// Creates a product with its variants (and their starting stock), its
/// fields checked here ([`catalog::NewProduct::validate`]).
pub async fn create(
    state: &AppState,
    store: StoreId,
    currency: mercato_tenants::Currency,
    new: &mut catalog::NewProduct,
) -> Result<ProductId, PodError> {
    new.validate()?;
    let mut tx = begin(&state.db, store).await?;
    let id = catalog::sql::insert_product(&mut tx, store, currency, new).await?;
    commit_change(state, tx, store, &[id]).await?;
    tracing::info!(product_id = %id, "product created");
    Ok(id)
}

/// Stores an image (its bytes checked to be a PNG, JPEG, GIF or WebP,
/// `422 invalid_image` otherwise) and appends it to the product, for the
/// API's upload and the admin's. Its URL is content-addressed.
pub async fn add_image(
    state: &AppState,
    store: StoreId,
    id: ProductId,
    bytes: bytes::Bytes,
    alt: &str,
) -> Result<(), PodError> {
    if bytes.is_empty() {
        return Err(ApiError::new(ErrorCode::InvalidImage, "the body is empty").into());
    }
    // Check the product before storing anything.
    catalog::sql::get_product(&state.db, store, id, None)
        .await?
        .ok_or_else(|| ApiError::not_found("product"))?;
    let stored = state
        .media
        .put_image(store, bytes)
        .await
        .map_err(PodError::internal)?
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::InvalidImage,
                "the body is not a PNG, JPEG, GIF or WebP image",
            )
        })?;
    let mut tx = begin(&state.db, store).await?;
    catalog::sql::lock_product(&mut tx, store, id)
        .await?
        .ok_or_else(|| ApiError::not_found("product"))?;
    let image = catalog::sql::NewImage {
        object_key: &stored.key,
        url: &stored.url,
        content_type: stored.kind.content_type(),
        byte_size: i32::try_from(stored.size).map_err(PodError::internal)?,
        sha256: &stored.sha256,
        alt,
    };
    catalog::sql::insert_image(&mut tx, store, id, &image).await?;
    catalog::sql::touch_product(&mut tx, store, id).await?;
    commit_change(state, tx, store, &[id]).await?;
    Ok(())
}

/// Commits a change to a product's variants or images: marks the product
/// changed (its `updated_at`), then [`commit_change`].
async fn commit_touched(
    state: &AppState,
    mut tx: Transaction<'static, Postgres>,
    store: StoreId,
    product: ProductId,
) -> Result<(), PodError> {
    catalog::sql::touch_product(&mut tx, store, product).await?;
    commit_change(state, tx, store, &[product]).await
}

/// Locks a product of the store for a change, or 404.
async fn locked(
    tx: &mut Transaction<'static, Postgres>,
    store: StoreId,
    id: ProductId,
) -> Result<Product, PodError> {
    catalog::sql::lock_product(tx, store, id)
        .await?
        .ok_or_else(|| ApiError::not_found("product").into())
}

/// The locked product a variant of the store belongs to, or 404.
async fn locked_owner(
    tx: &mut Transaction<'static, Postgres>,
    store: StoreId,
    variant: VariantId,
) -> Result<Product, PodError> {
    let product = catalog::sql::product_of_variant(&mut **tx, store, variant)
        .await?
        .ok_or_else(|| ApiError::not_found("variant"))?;
    locked(tx, store, product).await
}

/// Changes a product's own fields, checked here; new options only if
/// every variant still fits them (`422`).
pub async fn update(
    state: &AppState,
    store: StoreId,
    id: ProductId,
    patch: &mut catalog::ProductPatch,
) -> Result<(), PodError> {
    patch.validate()?;
    let mut tx = begin(&state.db, store).await?;
    let current = locked(&mut tx, store, id).await?;
    if let Some(options) = &patch.options {
        catalog::model::check_variant_options(
            options,
            current.variants.iter().map(|v| &v.option_values),
        )?;
    }
    catalog::sql::update_product(&mut tx, store, id, patch).await?;
    commit_change(state, tx, store, &[id]).await
}

/// Deletes a product with its variants, stock and images.
pub async fn delete(state: &AppState, store: StoreId, id: ProductId) -> Result<(), PodError> {
    let mut tx = begin(&state.db, store).await?;
    locked(&mut tx, store, id).await?;
    catalog::sql::delete_product(&mut tx, store, id).await?;
    commit_change(state, tx, store, &[id]).await?;
    tracing::info!(product_id = %id, "product deleted");
    Ok(())
}

/// Adds a variant to a product: its option values must fit the product's
/// options and differ from every other variant's; at most
/// [`catalog::model::MAX_VARIANTS`]. `extend_options` (the admin's form):
/// a value the product's option does not list yet is added to it, in the
/// same transaction; otherwise (the API) it is refused.
pub async fn add_variant(
    state: &AppState,
    store: StoreId,
    currency: mercato_tenants::Currency,
    id: ProductId,
    new: &mut catalog::model::NewVariant,
    extend_options: bool,
) -> Result<(), PodError> {
    new.validate()?;
    let mut tx = begin(&state.db, store).await?;
    let mut current = locked(&mut tx, store, id).await?;
    if extend_options {
        let mut options = current.options.clone();
        let mut grown = false;
        for option in &mut options {
            if let Some(value) = new.option_values.get(&option.name) {
                if !option.values.contains(value) {
                    option.values.push(value.clone());
                    grown = true;
                }
            }
        }
        if grown {
            let mut patch = catalog::ProductPatch {
                options: Some(options.clone()),
                ..Default::default()
            };
            patch.validate()?;
            catalog::sql::update_product(&mut tx, store, id, &patch).await?;
            current.options = options;
        }
    }
    if current.variants.len() >= catalog::model::MAX_VARIANTS {
        return Err(ApiError::invalid(format!(
            "a product has at most {} variants",
            catalog::model::MAX_VARIANTS
        ))
        .into());
    }
    catalog::model::check_variant_options(
        &current.options,
        current
            .variants
            .iter()
            .map(|v| &v.option_values)
            .chain([&new.option_values]),
    )?;
    new.title_from_options(&current.options);
    let position = current
        .variants
        .iter()
        .map(|v| v.position + 1)
        .max()
        .unwrap_or(0);
    catalog::sql::insert_variant(&mut tx, store, id, currency, new, position).await?;
    commit_touched(state, tx, store, id).await
}

/// Changes one variant (price, compare-at price, SKU, weight, options,
/// attributes); the product it belongs to.
pub async fn update_variant(
    state: &AppState,
    store: StoreId,
    variant: VariantId,
    patch: &catalog::model::VariantPatch,
) -> Result<ProductId, PodError> {
    let mut tx = begin(&state.db, store).await?;
    let product = locked_owner(&mut tx, store, variant).await?;
    let current = product
        .variants
        .iter()
        .find(|v| v.id == variant)
        .ok_or_else(|| ApiError::not_found("variant"))?;
    patch.validate(current)?;
    if let Some(values) = &patch.option_values {
        catalog::model::check_variant_options(
            &product.options,
            product.variants.iter().map(|v| {
                if v.id == variant {
                    values
                } else {
                    &v.option_values
                }
            }),
        )?;
    }
    catalog::sql::update_variant(&mut tx, store, variant, patch).await?;
    commit_touched(state, tx, store, product.id).await?;
    Ok(product.id)
}

/// Deletes a variant (a product keeps at least one, `409`); the product
/// it belonged to.
pub async fn remove_variant(
    state: &AppState,
    store: StoreId,
    variant: VariantId,
) -> Result<ProductId, PodError> {
    let mut tx = begin(&state.db, store).await?;
    let product = locked_owner(&mut tx, store, variant).await?;
    if product.variants.len() <= 1 {
        return Err(ApiError::new(
            ErrorCode::Conflict,
            "a product keeps at least one variant; delete the product instead",
        )
        .into());
    }
    catalog::sql::delete_variant(&mut tx, store, variant).await?;
    commit_touched(state, tx, store, product.id).await?;
    Ok(product.id)
}

/// Removes an image from a product (`404` if it is not one of its).
pub async fn remove_image(
    state: &AppState,
    store: StoreId,
    id: ProductId,
    image: mercato_tenants::MediaId,
) -> Result<(), PodError> {
    let mut tx = begin(&state.db, store).await?;
    locked(&mut tx, store, id).await?;
    if !catalog::sql::delete_image(&mut tx, store, id, image).await? {
        return Err(ApiError::not_found("image").into());
    }
    commit_touched(state, tx, store, id).await
}

/// Puts a product's images in the order of `order`, which must name every
/// image of the product once (`422` otherwise).
pub async fn order_images(
    state: &AppState,
    store: StoreId,
    id: ProductId,
    order: &[mercato_tenants::MediaId],
) -> Result<(), PodError> {
    let mut tx = begin(&state.db, store).await?;
    let current = locked(&mut tx, store, id).await?;
    let have: HashSet<_> = current.images.iter().map(|i| i.id).collect();
    let asked: HashSet<_> = order.iter().copied().collect();
    if asked.len() != order.len() || asked != have {
        return Err(ApiError::new(
            ErrorCode::Unprocessable,
            "list every image of the product, each once",
        )
        .into());
    }
    catalog::sql::order_images(&mut tx, store, id, order).await?;
    commit_touched(state, tx, store, id).await
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
}
