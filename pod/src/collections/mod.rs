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

use mercato_tenants::{ApiError, CollectionId, ErrorCode, ProductId, StoreId};
use sqlx::{PgPool, Postgres, Transaction};

pub use model::{
    BadCursor, Collection, CollectionKind, CollectionPage, Cursor, InvalidCollection,
    InvalidHandle, InvalidOrder, InvalidRules, ProductFacts, ProductPage, RuleSet, Rules, Slug,
    SortOrder,
};
pub use sql::of_products;

use crate::catalog::{self, ProductStatus};
use crate::error::PodError;

// Collections' refusals as the client sees them: the one place where they
// meet error codes. The message is the refusal's own text.

/// `400 invalid_handle`.
impl From<InvalidHandle> for ApiError {
    fn from(e: InvalidHandle) -> Self {
        ApiError::new(ErrorCode::InvalidHandle, e.to_string())
    }
}

/// `400 invalid_request`.
impl From<InvalidRules> for ApiError {
    fn from(e: InvalidRules) -> Self {
        ApiError::new(ErrorCode::InvalidRequest, e.to_string())
    }
}

/// A bad handle as [`InvalidHandle`]; rules given to a manual collection
/// or left out of a rule one `422 unprocessable`; anything else `400
/// invalid_request`.
impl From<InvalidCollection> for ApiError {
    fn from(e: InvalidCollection) -> Self {
        match e {
            InvalidCollection::Handle(e) => e.into(),
            InvalidCollection::Rules(e) => e.into(),
            // Which kinds take rules: a rule between fields.
            InvalidCollection::RulesOnManual | InvalidCollection::NoRules => {
                ApiError::new(ErrorCode::Unprocessable, e.to_string())
            }
            e => ApiError::new(ErrorCode::InvalidRequest, e.to_string()),
        }
    }
}

/// `422 unprocessable`.
impl From<InvalidOrder> for ApiError {
    fn from(e: InvalidOrder) -> Self {
        ApiError::new(ErrorCode::Unprocessable, e.to_string())
    }
}

/// `400 invalid_request`.
impl From<BadCursor> for ApiError {
    fn from(e: BadCursor) -> Self {
        ApiError::new(ErrorCode::InvalidRequest, e.to_string())
    }
}

impl From<InvalidCollection> for PodError {
    fn from(e: InvalidCollection) -> Self {
        PodError::Api(e.into())
    }
}

impl From<InvalidOrder> for PodError {
    fn from(e: InvalidOrder) -> Self {
        PodError::Api(e.into())
    }
}

impl From<BadCursor> for PodError {
    fn from(e: BadCursor) -> Self {
        PodError::Api(e.into())
    }
}

/// Products per statement when recomputing membership.
const BATCH: usize = 1000;

/// First thing in a catalog write transaction (after the fence), before it
/// locks any product row: takes the store's rules lock shared, so every
/// transaction takes that lock before product rows and a rule change
/// (which holds it exclusive while it touches memberships) cannot deadlock
/// with a product write.
pub async fn lock_rules_shared(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
) -> Result<(), PodError> {
    Ok(sql::rules_lock(tx, store, false).await?)
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
    sql::rules_lock(tx, store, false).await?;
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
    Ok(sql::rules_lock(tx, store, true).await?)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_keep_their_codes_and_messages() {
        let p = ProductId::new();
        let cases: [(ApiError, ErrorCode, String); 6] = [
            (
                InvalidCollection::Handle(InvalidHandle("Summer".into())).into(),
                ErrorCode::InvalidHandle,
                "handle `Summer` must be 1 to 63 characters of a-z, 0-9 and single hyphens inside"
                    .into(),
            ),
            (
                InvalidCollection::Title {
                    field: "title",
                    max: 255,
                }
                .into(),
                ErrorCode::InvalidRequest,
                "title must be 1 to 255 characters".into(),
            ),
            (
                InvalidCollection::Rules(InvalidRules::Match("some".into())).into(),
                ErrorCode::InvalidRequest,
                "rules.match must be `all` or `any`, not `some`".into(),
            ),
            (
                InvalidOrder::Repeated(p).into(),
                ErrorCode::Unprocessable,
                format!("product {p} appears twice in the order"),
            ),
            (
                InvalidOrder::Missing(vec![p, p]).into(),
                ErrorCode::Unprocessable,
                format!("the order must list every member; missing: {p}, {p}"),
            ),
            (
                BadCursor.into(),
                ErrorCode::InvalidRequest,
                "after must be a cursor from next_cursor of the same sort".into(),
            ),
        ];
        for (api, code, message) in cases {
            assert_eq!((api.code, api.message), (code, message));
        }
        let pod = PodError::from(InvalidCollection::RulesOnManual).into_api();
        assert_eq!(
            (pod.code, pod.message.as_str()),
            (ErrorCode::Unprocessable, "a manual collection has no rules")
        );
    }
}
