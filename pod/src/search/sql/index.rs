//! The search's writes: keeping `search_documents` in step with the
//! catalog, with set-based SQL that derives each product's document from
//! products, variants, stock, collections, categories (with their
//! ancestors), sales and published ratings, inside the caller's
//! transaction. Callers go
//! through the re-exports `search::{reindex, reindex_store, touch}`.

use mercato_tenants::{ProductId, StoreId};
use sqlx::{Postgres, Transaction};
use uuid::Uuid;

use crate::db::Ids;

/// The upsert of documents for the products matching `{scope}` (a condition
/// on `p`), plus the removal of documents whose product is gone. `$1` is the
/// store, `$2` the product ids when scoped. Counts the documents written,
/// the documents removed and the products found. A document that would come out
/// the same is left alone: no new row version, no index entries, no facet
/// count work (a stock change that leaves a product in stock, say).
fn documents_sql(scope: &str, gone: &str) -> String {
    format!(
        r#"
WITH RECURSIVE
cats AS (
    SELECT pc.product_id, c.id, c.parent_id
      FROM product_categories pc
      JOIN categories c ON c.store_id = pc.store_id AND c.id = pc.category_id
      JOIN products p ON p.store_id = pc.store_id AND p.id = pc.product_id
     WHERE pc.store_id = $1 AND {scope}
    UNION
    SELECT a.product_id, c.id, c.parent_id
      FROM cats a
      JOIN categories c ON c.store_id = $1 AND c.id = a.parent_id
),
cat_tokens AS (
    SELECT product_id, array_agg(DISTINCT 'cat:' || id) AS tokens FROM cats GROUP BY product_id
),
upserted AS (
    INSERT INTO search_documents AS d (store_id, product_id, status, title, vendor, product_type,
        document, fuzzy, facets, price_min, price_max, in_stock, units_sold, created_at,
        rating_count, rating_centi)
    SELECT p.store_id, p.id, p.status, p.title, p.vendor, p.product_type,
           setweight(to_tsvector('english', p.title), 'A')
        || setweight(to_tsvector('simple', p.title), 'A')
        || setweight(to_tsvector('english', concat_ws(' ', p.vendor, p.product_type,
                array_to_string(p.tags, ' '), v.option_text)), 'B')
        || setweight(to_tsvector('simple', coalesce(v.skus, '')), 'B')
        || setweight(to_tsvector('english', p.description), 'C'),
           lower(concat_ws(' ', p.title, p.vendor, array_to_string(p.tags, ' '), v.skus)),
           ARRAY(
               SELECT DISTINCT t FROM (
                   SELECT 'vendor:' || p.vendor WHERE p.vendor <> ''
                   UNION ALL SELECT 'type:' || p.product_type WHERE p.product_type <> ''
                   UNION ALL SELECT 'tag:' || tag FROM unnest(p.tags) tag WHERE tag <> ''
                   UNION ALL SELECT 'opt:' || o.key || '=' || o.value
                               FROM variants ov, jsonb_each_text(ov.option_values) o
                              WHERE ov.store_id = p.store_id AND ov.product_id = p.id
                   UNION ALL SELECT 'col:' || cp.collection_id
                               FROM collection_products cp
                              WHERE cp.store_id = p.store_id AND cp.product_id = p.id
                   UNION ALL SELECT unnest(ct.tokens)
               ) tokens(t)
               ORDER BY t
           ),
           coalesce(v.price_min, 0), coalesce(v.price_max, 0), coalesce(v.in_stock, false),
           coalesce(s.units_sold, 0), p.created_at,
           coalesce(r.n, 0), rating_centi(coalesce(r.total, 0), coalesce(r.n, 0))
      FROM products p
      LEFT JOIN LATERAL (
          SELECT min(x.price_minor) AS price_min, max(x.price_minor) AS price_max,
                 string_agg(x.sku, ' ') AS skus,
                 bool_or(coalesce(il.on_hand, 0) > 0) AS in_stock,
                 string_agg((SELECT string_agg(value, ' ') FROM jsonb_each_text(x.option_values)), ' ')
                     AS option_text
            FROM variants x
            LEFT JOIN inventory_levels il ON il.store_id = x.store_id AND il.variant_id = x.id
           WHERE x.store_id = p.store_id AND x.product_id = p.id
      ) v ON true
      LEFT JOIN product_sales s ON s.store_id = p.store_id AND s.product_id = p.id
      LEFT JOIN LATERAL (
          SELECT pr.stars_1 + pr.stars_2 + pr.stars_3 + pr.stars_4 + pr.stars_5 AS n,
                 pr.stars_1 + 2 * pr.stars_2 + 3 * pr.stars_3 + 4 * pr.stars_4 + 5 * pr.stars_5
                     AS total
            FROM product_ratings pr
           WHERE pr.store_id = p.store_id AND pr.product_id = p.id
      ) r ON true
      LEFT JOIN cat_tokens ct ON ct.product_id = p.id
     WHERE p.store_id = $1 AND {scope}
    ON CONFLICT (store_id, product_id) DO UPDATE SET
        status = EXCLUDED.status, title = EXCLUDED.title, vendor = EXCLUDED.vendor,
        product_type = EXCLUDED.product_type, document = EXCLUDED.document,
        fuzzy = EXCLUDED.fuzzy, facets = EXCLUDED.facets, price_min = EXCLUDED.price_min,
        price_max = EXCLUDED.price_max, in_stock = EXCLUDED.in_stock,
        units_sold = EXCLUDED.units_sold, created_at = EXCLUDED.created_at,
        rating_count = EXCLUDED.rating_count, rating_centi = EXCLUDED.rating_centi
     WHERE (d.status, d.title, d.vendor, d.product_type, d.document, d.fuzzy, d.facets,
            d.price_min, d.price_max, d.in_stock, d.units_sold, d.created_at,
            d.rating_count, d.rating_centi)
           IS DISTINCT FROM
           (EXCLUDED.status, EXCLUDED.title, EXCLUDED.vendor, EXCLUDED.product_type,
            EXCLUDED.document, EXCLUDED.fuzzy, EXCLUDED.facets, EXCLUDED.price_min,
            EXCLUDED.price_max, EXCLUDED.in_stock, EXCLUDED.units_sold, EXCLUDED.created_at,
            EXCLUDED.rating_count, EXCLUDED.rating_centi)
    RETURNING 1
),
removed AS (
    DELETE FROM search_documents d
     WHERE d.store_id = $1 AND {gone}
       AND NOT EXISTS (SELECT 1 FROM products p WHERE p.store_id = d.store_id AND p.id = d.product_id)
    RETURNING 1
)
SELECT (SELECT count(*) FROM upserted), (SELECT count(*) FROM removed),
       (SELECT count(*) FROM products p WHERE p.store_id = $1 AND {scope})
"#
    )
}

/// Adds the words of the products matching `{scope}` to the store's
/// lexicon (sorted, so concurrent writers take row locks in one order), and
/// bumps the store's search generation (the key of cached results).
fn terms_sql(scope: &str) -> String {
    format!(
        r#"
WITH words AS (
    INSERT INTO search_terms (store_id, term)
    SELECT DISTINCT $1::uuid, w
      FROM products p,
           regexp_split_to_table(lower(concat_ws(' ', p.title, p.vendor, p.product_type,
               array_to_string(p.tags, ' '))), '[^[:alnum:]]+') w
     WHERE p.store_id = $1 AND {scope} AND length(w) BETWEEN 3 AND 40 AND w ~ '[[:alpha:]]'
     ORDER BY 2
    ON CONFLICT DO NOTHING
    RETURNING 1
)
INSERT INTO search_generations AS g (store_id, generation)
SELECT $1, 1 FROM (SELECT count(*) FROM words) w
ON CONFLICT (store_id) DO UPDATE SET generation = g.generation + 1
"#
    )
}

/// Brings the search documents of `products` up to date inside the caller's
/// transaction, so a saved product is searchable as soon as it commits.
/// Documents of products that no longer exist are removed. The lexicon and
/// the search generation move only when a document changed.
pub async fn reindex(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    products: &[ProductId],
) -> Result<(), sqlx::Error> {
    if products.is_empty() {
        return Ok(());
    }
    let mut ids: Vec<Uuid> = products.iter().map(ProductId::as_uuid).collect();
    ids.sort_unstable();
    ids.dedup();
    let count = ids.len() as i64;
    let ids = Ids::new(ids);
    let documents = documents_sql(&ids.matches("p.id", 2), &ids.matches("d.product_id", 2));
    let (written, removed, found): (i64, i64, i64) = ids
        .bind_to(sqlx::query_as(&documents).bind(store.as_uuid()))
        .fetch_one(&mut **tx)
        .await?;
    // A deleted product's document may already be gone with it (the
    // foreign key cascades), so a missing product counts as a change too.
    if written == 0 && removed == 0 && found == count {
        // No document changed, so neither did any answer a search can give
        // (hits, facets and corrections come from documents and words; the
        // words come from fields that are in the documents): cached answers
        // stay valid and the store's generation row is left unlocked.
        return Ok(());
    }
    let terms = terms_sql(&ids.matches("p.id", 2));
    ids.bind_to_statement(sqlx::query(&terms).bind(store.as_uuid()))
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Makes the store's cached search answers unreachable (bumps its search
/// generation) inside the caller's transaction: for a change that alters
/// what answers show without changing a document, such as a collection's
/// title or a category's name, which label facets.
pub async fn touch(tx: &mut Transaction<'_, Postgres>, store: StoreId) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO search_generations AS g (store_id, generation) VALUES ($1, 1)
         ON CONFLICT (store_id) DO UPDATE SET generation = g.generation + 1",
    )
    .bind(store.as_uuid())
    .execute(&mut **tx)
    .await
    .map(|_| ())
}

/// Rebuilds every search document and the lexicon of `store`: after bulk
/// changes (imports, category moves, rule-collection rebuilds). Returns
/// how many documents were written (new or changed).
pub async fn reindex_store(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
) -> Result<u64, sqlx::Error> {
    let (upserted, _removed, _found): (i64, i64, i64) =
        sqlx::query_as(&documents_sql("true", "true"))
            .bind(store.as_uuid())
            .fetch_one(&mut **tx)
            .await?;
    sqlx::query("DELETE FROM search_terms WHERE store_id = $1")
        .bind(store.as_uuid())
        .execute(&mut **tx)
        .await?;
    sqlx::query(&terms_sql("true"))
        .bind(store.as_uuid())
        .execute(&mut **tx)
        .await?;
    Ok(upserted as u64)
}
