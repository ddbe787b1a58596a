//! Collections: named groups of products that shoppers browse.
//!
//! A manual collection holds the products staff put in it, in their order.
//! A rule collection holds every product its rules match (vendor, type,
//! tag, lowest price). Either way membership lives in `collection_products`:
//! rule membership is materialized, recomputed for the whole store when a
//! rule collection is created or its rules change, and for the changed
//! products whenever the catalog changes ([`refresh_rules_for`], called by
//! `catalog::after_change`).
//!
//! Rule materialization and rule changes take turns through a per-store
//! advisory lock: product writes take it shared (they do not wait for each
//! other), rule changes exclusively. So a product edit and a rule edit that
//! commit concurrently cannot both miss each other's change.

pub(crate) mod model;
pub(crate) mod rules;
pub(crate) mod sql;

use std::collections::HashSet;

use mercato_tenants::{ApiError, CollectionId, ProductId, StoreId};
use sqlx::{PgPool, Postgres, Transaction};

pub use model::{
    Collection, CollectionKind, CollectionPage, Cursor, ProductFacts, ProductPage, RuleSet, Rules,
    Slug, SortOrder,
};

use crate::catalog::{self, ProductStatus};
use crate::error::PodError;

/// Products per statement when recomputing membership.
const BATCH: usize = 1000;

async fn rules_lock(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    exclusive: bool,
) -> Result<(), sqlx::Error> {
    let sql = if exclusive {
        "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))"
    } else {
        "SELECT pg_advisory_xact_lock_shared(hashtextextended($1, 0))"
    };
    sqlx::query(sql)
        .bind(format!("collections.rules:{store}"))
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// First thing in a catalog write transaction (after the fence), before it
/// locks any product row: takes the store's rules lock shared, so every
/// transaction takes that lock before product rows and a rule change
/// (which holds it exclusive while it touches memberships) cannot deadlock
/// with a product write.
pub async fn lock_rules_shared(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
) -> Result<(), PodError> {
    Ok(rules_lock(tx, store, false).await?)
}

/// Inside the transaction of a catalog change: makes the membership of
/// `products` in every rule collection of the store match the rules.
pub async fn refresh_rules_for(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    products: &[ProductId],
) -> Result<(), sqlx::Error> {
    if products.is_empty() {
        return Ok(());
    }
    rules_lock(tx, store, false).await?;
    let collections = sql::rule_collections(&mut **tx, store).await?;
    if collections.is_empty() {
        return Ok(());
    }
    let rule_ids: Vec<CollectionId> = collections.iter().map(|(id, _)| *id).collect();
    for chunk in products.chunks(BATCH) {
        let facts = sql::product_facts(&mut **tx, store, chunk).await?;
        let wanted = rules::rule_members(&collections, &facts);
        sql::replace_rule_membership(tx, store, &rule_ids, chunk, &wanted).await?;
    }
    Ok(())
}

/// Recomputes the members of one rule collection over the whole store;
/// returns the products that joined or left. The caller holds the
/// exclusive rules lock ([`lock_rules_exclusive`]).
pub(crate) async fn rematerialize(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    collection: CollectionId,
    rules: &Rules,
) -> Result<Vec<ProductId>, sqlx::Error> {
    let mut wanted = HashSet::new();
    let mut after = None;
    loop {
        let page = sql::facts_page(&mut **tx, store, after, BATCH as i64).await?;
        wanted.extend(
            page.iter()
                .filter(|(_, facts)| rules.matches(facts))
                .map(|(id, _)| *id),
        );
        if page.len() < BATCH {
            break;
        }
        after = page.last().map(|(id, _)| *id);
    }
    let current = sql::member_set(&mut **tx, store, collection).await?;
    let (add, remove) = model::membership_diff(&current, &wanted);
    for chunk in add.chunks(BATCH) {
        sql::insert_members(tx, store, collection, chunk).await?;
    }
    for chunk in remove.chunks(BATCH) {
        sql::delete_members(tx, store, collection, chunk).await?;
    }
    Ok(add.into_iter().chain(remove).collect())
}

pub(crate) async fn lock_rules_exclusive(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
) -> Result<(), PodError> {
    Ok(rules_lock(tx, store, true).await?)
}

/// A collection by handle, as shoppers see it.
pub async fn collection_by_handle(
    db: &PgPool,
    store: StoreId,
    handle: &str,
) -> Result<Collection, PodError> {
    sql::get_by_handle(db, store, handle)
        .await?
        .ok_or_else(|| ApiError::not_found("collection").into())
}

/// One page of a collection's active products, for shoppers: in `sort`
/// order (the collection's own by default), after the cursor `after`.
/// Bad cursors are `400 invalid_request`, unknown handles `404`.
pub async fn collection_page(
    db: &PgPool,
    store: StoreId,
    handle: &str,
    sort: Option<SortOrder>,
    after: Option<&str>,
    limit: u32,
) -> Result<ProductPage, PodError> {
    let collection = collection_by_handle(db, store, handle).await?;
    products_page(
        db,
        store,
        collection.id,
        Some(ProductStatus::Active),
        sort.unwrap_or(collection.sort_order),
        after,
        limit,
    )
    .await
}

pub(crate) async fn products_page(
    db: &PgPool,
    store: StoreId,
    collection: CollectionId,
    status: Option<ProductStatus>,
    sort: SortOrder,
    after: Option<&str>,
    limit: u32,
) -> Result<ProductPage, PodError> {
    let cursor = after.map(|a| Cursor::decode(a, sort)).transpose()?;
    let (ids, next) =
        sql::sorted_members(db, store, collection, status, sort, cursor.as_ref(), limit).await?;
    let items = catalog::get_products(db, store, &ids, status).await?;
    Ok(ProductPage {
        items,
        next_cursor: next.map(|c| c.encode()),
    })
}

pub(crate) use sql::{page_of, NEWEST_KEY};
