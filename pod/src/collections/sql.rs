//! SQL of `collections` and `collection_products`. Every statement filters
//! on store_id.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use mercato_tenants::{CollectionId, ProductId, StoreId};
use sqlx::{PgExecutor, Postgres, Transaction};
use uuid::Uuid;

use super::model::{
    Collection, CollectionKind, CollectionPage, Cursor, ProductFacts, RuleSet, Rules, Slug,
    SortOrder, ValidCollection, ValidPatch,
};
use crate::catalog::ProductStatus;
use crate::paging::split_page;

#[derive(sqlx::FromRow)]
struct CollectionRow {
    id: Uuid,
    handle: String,
    title: String,
    description: String,
    kind: String,
    rules: Option<serde_json::Value>,
    sort_order: String,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

const COLUMNS: &str =
    "id, handle, title, description, kind, rules, sort_order, created_at, updated_at";

fn decode_err(what: &str) -> sqlx::Error {
    sqlx::Error::Decode(format!("bad {what} in collections row").into())
}

fn collection(row: CollectionRow) -> Result<Collection, sqlx::Error> {
    let rules = row
        .rules
        .map(serde_json::from_value::<RuleSet>)
        .transpose()
        .map_err(|_| decode_err("rules"))?;
    Ok(Collection {
        id: CollectionId::from_uuid(row.id),
        handle: row.handle,
        title: row.title,
        description: row.description,
        kind: CollectionKind::parse(&row.kind).ok_or_else(|| decode_err("kind"))?,
        rules,
        sort_order: SortOrder::parse(&row.sort_order).ok_or_else(|| decode_err("sort_order"))?,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

fn rules_json(rules: &Rules) -> Result<serde_json::Value, sqlx::Error> {
    serde_json::to_value(rules.to_wire())
        .map_err(|e| sqlx::Error::Encode(format!("collection rules: {e}").into()))
}

fn uuids(ids: &[ProductId]) -> Vec<Uuid> {
    ids.iter().map(ProductId::as_uuid).collect()
}

/// Inserts a collection (without members); the caller commits.
pub async fn insert(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    new: &ValidCollection,
) -> Result<CollectionId, sqlx::Error> {
    let id = CollectionId::new();
    let rules = new.rules.as_ref().map(rules_json).transpose()?;
    sqlx::query(
        "INSERT INTO collections (store_id, id, handle, title, description, kind, rules, sort_order)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(store.as_uuid())
    .bind(id.as_uuid())
    .bind(new.handle.as_str())
    .bind(&new.title)
    .bind(&new.description)
    .bind(new.kind.as_str())
    .bind(rules)
    .bind(new.sort_order.as_str())
    .execute(&mut **tx)
    .await?;
    Ok(id)
}

pub async fn get<'e>(
    exec: impl PgExecutor<'e>,
    store: StoreId,
    id: CollectionId,
) -> Result<Option<Collection>, sqlx::Error> {
    let row: Option<CollectionRow> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM collections WHERE store_id = $1 AND id = $2"
    ))
    .bind(store.as_uuid())
    .bind(id.as_uuid())
    .fetch_optional(exec)
    .await?;
    row.map(collection).transpose()
}

/// The collection, its row locked until the transaction ends: changes to
/// one collection's membership take turns.
pub async fn lock(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    id: CollectionId,
) -> Result<Option<Collection>, sqlx::Error> {
    let row: Option<CollectionRow> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM collections WHERE store_id = $1 AND id = $2 FOR NO KEY UPDATE"
    ))
    .bind(store.as_uuid())
    .bind(id.as_uuid())
    .fetch_optional(&mut **tx)
    .await?;
    row.map(collection).transpose()
}

pub async fn get_by_handle<'e>(
    exec: impl PgExecutor<'e>,
    store: StoreId,
    handle: &str,
) -> Result<Option<Collection>, sqlx::Error> {
    let row: Option<CollectionRow> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM collections WHERE store_id = $1 AND handle = $2"
    ))
    .bind(store.as_uuid())
    .bind(handle)
    .fetch_optional(exec)
    .await?;
    row.map(collection).transpose()
}

/// Applies a validated patch to an existing collection.
pub async fn update(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    id: CollectionId,
    patch: &ValidPatch,
) -> Result<(), sqlx::Error> {
    let rules = patch.rules.as_ref().map(rules_json).transpose()?;
    sqlx::query(
        "UPDATE collections SET handle = COALESCE($3, handle), title = COALESCE($4, title),
                description = COALESCE($5, description), rules = COALESCE($6, rules),
                sort_order = COALESCE($7, sort_order), updated_at = now()
         WHERE store_id = $1 AND id = $2",
    )
    .bind(store.as_uuid())
    .bind(id.as_uuid())
    .bind(patch.handle.as_ref().map(Slug::as_str))
    .bind(patch.title.as_deref())
    .bind(patch.description.as_deref())
    .bind(rules)
    .bind(patch.sort_order.map(SortOrder::as_str))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Deletes a collection; its memberships go with it.
pub async fn delete(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    id: CollectionId,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("DELETE FROM collections WHERE store_id = $1 AND id = $2")
        .bind(store.as_uuid())
        .bind(id.as_uuid())
        .execute(&mut **tx)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Collections by handle, after the handle `after`.
pub async fn list<'e>(
    exec: impl PgExecutor<'e>,
    store: StoreId,
    after: Option<&Slug>,
    limit: u32,
) -> Result<CollectionPage, sqlx::Error> {
    let rows: Vec<CollectionRow> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM collections
         WHERE store_id = $1 AND ($2::text IS NULL OR handle > $2)
         ORDER BY handle LIMIT $3"
    ))
    .bind(store.as_uuid())
    .bind(after.map(Slug::as_str))
    .bind(i64::from(limit) + 1)
    .fetch_all(exec)
    .await?;
    let mut items = rows
        .into_iter()
        .map(collection)
        .collect::<Result<Vec<_>, _>>()?;
    let next_cursor = split_page(&mut items, limit as usize, |c| c.handle.clone());
    Ok(CollectionPage { items, next_cursor })
}

/// Every member of a collection, as a set.
pub async fn member_set<'e>(
    exec: impl PgExecutor<'e>,
    store: StoreId,
    collection: CollectionId,
) -> Result<HashSet<ProductId>, sqlx::Error> {
    Ok(member_ids(exec, store, collection)
        .await?
        .into_iter()
        .collect())
}

/// Every member of a collection, in manual order.
pub async fn member_ids<'e>(
    exec: impl PgExecutor<'e>,
    store: StoreId,
    collection: CollectionId,
) -> Result<Vec<ProductId>, sqlx::Error> {
    let rows: Vec<(Uuid,)> = sqlx::query_as(
        "SELECT product_id FROM collection_products WHERE store_id = $1 AND collection_id = $2
         ORDER BY position, product_id",
    )
    .bind(store.as_uuid())
    .bind(collection.as_uuid())
    .fetch_all(exec)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id,)| ProductId::from_uuid(id))
        .collect())
}

/// Appends products after the last member, in the given order. The caller
/// holds the collection's lock and passes non-members only.
pub async fn append(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    collection: CollectionId,
    ids: &[ProductId],
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO collection_products (store_id, collection_id, product_id, position)
         SELECT $1, $2, t.id,
                (SELECT COALESCE(max(position), -1) FROM collection_products
                 WHERE store_id = $1 AND collection_id = $2) + t.ord
         FROM unnest($3::uuid[]) WITH ORDINALITY AS t(id, ord)
         ON CONFLICT DO NOTHING",
    )
    .bind(store.as_uuid())
    .bind(collection.as_uuid())
    .bind(uuids(ids))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Adds members at position 0 (rule members list by id).
pub async fn insert_members(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    collection: CollectionId,
    ids: &[ProductId],
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO collection_products (store_id, collection_id, product_id, position)
         SELECT $1, $2, t.id, 0 FROM unnest($3::uuid[]) AS t(id)
         ON CONFLICT DO NOTHING",
    )
    .bind(store.as_uuid())
    .bind(collection.as_uuid())
    .bind(uuids(ids))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Removes members; returns how many were removed.
pub async fn delete_members(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    collection: CollectionId,
    ids: &[ProductId],
) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(
        "DELETE FROM collection_products
         WHERE store_id = $1 AND collection_id = $2 AND product_id = ANY($3)",
    )
    .bind(store.as_uuid())
    .bind(collection.as_uuid())
    .bind(uuids(ids))
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected())
}

/// Sets the manual order: position = index in `ids` (every member, checked
/// by the caller under the collection's lock).
pub async fn set_order(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    collection: CollectionId,
    ids: &[ProductId],
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE collection_products cp SET position = t.ord - 1
         FROM unnest($3::uuid[]) WITH ORDINALITY AS t(id, ord)
         WHERE cp.store_id = $1 AND cp.collection_id = $2 AND cp.product_id = t.id",
    )
    .bind(store.as_uuid())
    .bind(collection.as_uuid())
    .bind(uuids(ids))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Every rule collection of the store with its rules.
pub async fn rule_collections<'e>(
    exec: impl PgExecutor<'e>,
    store: StoreId,
) -> Result<Vec<(CollectionId, Rules)>, sqlx::Error> {
    let rows: Vec<(Uuid, serde_json::Value)> = sqlx::query_as(
        "SELECT id, rules FROM collections
         WHERE store_id = $1 AND kind = 'rule' AND rules IS NOT NULL ORDER BY id",
    )
    .bind(store.as_uuid())
    .fetch_all(exec)
    .await?;
    rows.into_iter()
        .map(|(id, raw)| {
            let wire: RuleSet = serde_json::from_value(raw).map_err(|_| decode_err("rules"))?;
            let rules = Rules::parse(&wire).map_err(|_| decode_err("rules"))?;
            Ok((CollectionId::from_uuid(id), rules))
        })
        .collect()
}

#[derive(sqlx::FromRow)]
struct FactsRow {
    id: Uuid,
    vendor: String,
    product_type: String,
    tags: Vec<String>,
    min_price: Option<i64>,
}

const FACTS: &str = "SELECT p.id, p.vendor, p.product_type, p.tags,
        (SELECT min(v.price_minor) FROM variants v
         WHERE v.store_id = p.store_id AND v.product_id = p.id) AS min_price
    FROM products p";

fn facts(rows: Vec<FactsRow>) -> Vec<(ProductId, ProductFacts)> {
    rows.into_iter()
        .map(|r| {
            (
                ProductId::from_uuid(r.id),
                ProductFacts {
                    vendor: r.vendor,
                    product_type: r.product_type,
                    tags: r.tags,
                    min_price: r.min_price,
                },
            )
        })
        .collect()
}

/// What rules look at, for the products of `ids` that exist.
pub async fn product_facts<'e>(
    exec: impl PgExecutor<'e>,
    store: StoreId,
    ids: &[ProductId],
) -> Result<Vec<(ProductId, ProductFacts)>, sqlx::Error> {
    let rows: Vec<FactsRow> =
        sqlx::query_as(&format!("{FACTS} WHERE p.store_id = $1 AND p.id = ANY($2)"))
            .bind(store.as_uuid())
            .bind(uuids(ids))
            .fetch_all(exec)
            .await?;
    Ok(facts(rows))
}

/// A page of every product's facts, by id.
pub async fn facts_page<'e>(
    exec: impl PgExecutor<'e>,
    store: StoreId,
    after: Option<ProductId>,
    limit: i64,
) -> Result<Vec<(ProductId, ProductFacts)>, sqlx::Error> {
    let rows: Vec<FactsRow> = sqlx::query_as(&format!(
        "{FACTS} WHERE p.store_id = $1 AND ($2::uuid IS NULL OR p.id > $2) ORDER BY p.id LIMIT $3"
    ))
    .bind(store.as_uuid())
    .bind(after.map(|a| a.as_uuid()))
    .bind(limit)
    .fetch_all(exec)
    .await?;
    Ok(facts(rows))
}

/// Makes the membership of `products` in the rule collections `rule_ids`
/// exactly `wanted`.
pub async fn replace_rule_membership(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    rule_ids: &[CollectionId],
    products: &[ProductId],
    wanted: &[(CollectionId, ProductId)],
) -> Result<(), sqlx::Error> {
    let rule_ids: Vec<Uuid> = rule_ids.iter().map(CollectionId::as_uuid).collect();
    let wanted_c: Vec<Uuid> = wanted.iter().map(|(c, _)| c.as_uuid()).collect();
    let wanted_p: Vec<Uuid> = wanted.iter().map(|(_, p)| p.as_uuid()).collect();
    sqlx::query(
        "DELETE FROM collection_products cp
         WHERE cp.store_id = $1 AND cp.collection_id = ANY($2) AND cp.product_id = ANY($3)
           AND NOT EXISTS (SELECT 1 FROM unnest($4::uuid[], $5::uuid[]) AS w(c, p)
                           WHERE w.c = cp.collection_id AND w.p = cp.product_id)",
    )
    .bind(store.as_uuid())
    .bind(&rule_ids)
    .bind(uuids(products))
    .bind(&wanted_c)
    .bind(&wanted_p)
    .execute(&mut **tx)
    .await?;
    if !wanted.is_empty() {
        sqlx::query(
            "INSERT INTO collection_products (store_id, collection_id, product_id, position)
             SELECT $1, w.c, w.p, 0 FROM unnest($2::uuid[], $3::uuid[]) AS w(c, p)
             ON CONFLICT DO NOTHING",
        )
        .bind(store.as_uuid())
        .bind(&wanted_c)
        .bind(&wanted_p)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// How a sort order reads in SQL: the key, whether it is an integer, and
/// the directions of the key and of the tie-breaking product id.
struct SortSql {
    key: &'static str,
    join: &'static str,
    numeric: bool,
    key_desc: bool,
    id_desc: bool,
}

fn sort_sql(sort: SortOrder) -> SortSql {
    const PRICE: &str = "CROSS JOIN LATERAL (SELECT COALESCE(min(v.price_minor), 0) AS price
        FROM variants v WHERE v.store_id = p.store_id AND v.product_id = p.id) mp";
    let (key, join, numeric, key_desc, id_desc) = match sort {
        SortOrder::Manual => ("cp.position", "", true, false, false),
        SortOrder::Title => ("lower(p.title)", "", false, false, false),
        SortOrder::PriceAsc => ("mp.price", PRICE, true, false, false),
        SortOrder::PriceDesc => ("mp.price", PRICE, true, true, false),
        SortOrder::Newest => (NEWEST_KEY, "", true, true, true),
        SortOrder::BestSelling => (
            "COALESCE(s.units_sold, 0)",
            "LEFT JOIN product_sales s ON s.store_id = p.store_id AND s.product_id = p.id",
            true,
            true,
            false,
        ),
    };
    SortSql {
        key,
        join,
        numeric,
        key_desc,
        id_desc,
    }
}

/// Creation time in microseconds: the key of "newest first" lists.
pub(crate) const NEWEST_KEY: &str = "(extract(epoch FROM p.created_at) * 1000000)::bigint";

/// One page of a collection's member ids in `sort` order, with the cursor
/// of the next page. Only products with `status`, if given.
pub async fn sorted_members<'e>(
    exec: impl PgExecutor<'e>,
    store: StoreId,
    collection: CollectionId,
    status: Option<ProductStatus>,
    sort: SortOrder,
    after: Option<&Cursor>,
    limit: u32,
) -> Result<(Vec<ProductId>, Option<Cursor>), sqlx::Error> {
    let s = sort_sql(sort);
    let cast = if s.numeric { "::bigint" } else { "::text" };
    let (key_op, key_dir) = if s.key_desc {
        ("<", "DESC")
    } else {
        (">", "ASC")
    };
    let (id_op, id_dir) = if s.id_desc {
        ("<", "DESC")
    } else {
        (">", "ASC")
    };
    let sql = format!(
        "SELECT p.id, ({key})::text AS sort_key
         FROM collection_products cp
         JOIN products p ON p.store_id = cp.store_id AND p.id = cp.product_id
         {join}
         WHERE cp.store_id = $1 AND cp.collection_id = $2 AND ($3::text IS NULL OR p.status = $3)
           AND ($4::text IS NULL OR {key} {key_op} $4{cast} OR ({key} = $4{cast} AND p.id {id_op} $5))
         ORDER BY {key} {key_dir}, p.id {id_dir}
         LIMIT $6",
        key = s.key,
        join = s.join,
    );
    let rows: Vec<(Uuid, String)> = sqlx::query_as(&sql)
        .bind(store.as_uuid())
        .bind(collection.as_uuid())
        .bind(status.map(ProductStatus::as_str))
        .bind(after.map(|c| c.key.as_str()))
        .bind(after.map(|c| c.id))
        .bind(i64::from(limit) + 1)
        .fetch_all(exec)
        .await?;
    Ok(page_of(rows, sort, limit))
}

/// Keeps `limit` rows of `limit + 1` fetched, and makes the next cursor if
/// there was one more.
pub(crate) fn page_of(
    mut rows: Vec<(Uuid, String)>,
    sort: SortOrder,
    limit: u32,
) -> (Vec<ProductId>, Option<Cursor>) {
    let next = split_page(&mut rows, limit as usize, |(id, key)| Cursor {
        sort,
        key: key.clone(),
        id: *id,
    });
    (
        rows.into_iter()
            .map(|(id, _)| ProductId::from_uuid(id))
            .collect(),
        next,
    )
}

/// Takes the store's rules lock (a transaction-scoped advisory lock)
/// exclusive or shared: rule changes take it exclusive, product writes
/// shared (see the module docs of `collections`).
pub async fn rules_lock(
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

/// The collections each of `products` belongs to (manual or by rule).
pub async fn of_products<'e>(
    exec: impl PgExecutor<'e>,
    store: StoreId,
    products: &[ProductId],
) -> Result<std::collections::HashMap<ProductId, Vec<CollectionId>>, sqlx::Error> {
    let ids: Vec<Uuid> = products.iter().map(|p| p.as_uuid()).collect();
    let rows: Vec<(Uuid, Uuid)> = sqlx::query_as(
        "SELECT product_id, collection_id FROM collection_products
          WHERE store_id = $1 AND product_id = ANY($2)",
    )
    .bind(store.as_uuid())
    .bind(&ids)
    .fetch_all(exec)
    .await?;
    let mut out: std::collections::HashMap<ProductId, Vec<CollectionId>> = Default::default();
    for (p, c) in rows {
        out.entry(ProductId::from_uuid(p))
            .or_default()
            .push(CollectionId::from_uuid(c));
    }
    Ok(out)
}

/// How many products each of `collections` holds (a collection without
/// any is left out).
pub async fn member_counts<'e>(
    exec: impl PgExecutor<'e>,
    store: StoreId,
    collections: &[CollectionId],
) -> Result<std::collections::HashMap<CollectionId, i64>, sqlx::Error> {
    let ids: Vec<Uuid> = collections.iter().map(CollectionId::as_uuid).collect();
    let rows: Vec<(Uuid, i64)> = sqlx::query_as(
        "SELECT collection_id, count(*) FROM collection_products
          WHERE store_id = $1 AND collection_id = ANY($2) GROUP BY collection_id",
    )
    .bind(store.as_uuid())
    .bind(&ids)
    .fetch_all(exec)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, n)| (CollectionId::from_uuid(id), n))
        .collect())
}
