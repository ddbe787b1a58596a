//! SQL of `categories` and `product_categories`. Every statement filters on
//! store_id.

use std::collections::HashSet;

use mercato_tenants::{CategoryId, ProductId, StoreId};
use sqlx::{PgExecutor, Postgres, Transaction};
use uuid::Uuid;

use super::model::{Category, Parents, ValidCategory, ValidCategoryPatch};
use crate::collections::{page_of, Cursor, Slug, SortOrder, NEWEST_KEY};

#[derive(sqlx::FromRow)]
struct CategoryRow {
    id: Uuid,
    parent_id: Option<Uuid>,
    handle: String,
    name: String,
    position: i32,
}

fn category(r: CategoryRow) -> Category {
    Category {
        id: CategoryId::from_uuid(r.id),
        parent_id: r.parent_id.map(CategoryId::from_uuid),
        handle: r.handle,
        name: r.name,
        position: r.position,
    }
}

const COLUMNS: &str = "id, parent_id, handle, name, position";

/// Serializes changes to the shape of a store's tree (create, move,
/// delete) until the transaction ends, so checks on the tree stay true
/// until commit.
pub async fn lock_tree(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
        .bind(format!("categories.tree:{store}"))
        .execute(&mut **tx)
        .await?;
    Ok(())
}

pub async fn parents<'e>(
    exec: impl PgExecutor<'e>,
    store: StoreId,
) -> Result<Parents, sqlx::Error> {
    let rows: Vec<(Uuid, Option<Uuid>)> =
        sqlx::query_as("SELECT id, parent_id FROM categories WHERE store_id = $1")
            .bind(store.as_uuid())
            .fetch_all(exec)
            .await?;
    Ok(rows
        .into_iter()
        .map(|(id, parent)| (CategoryId::from_uuid(id), parent.map(CategoryId::from_uuid)))
        .collect())
}

pub async fn all<'e>(
    exec: impl PgExecutor<'e>,
    store: StoreId,
) -> Result<Vec<Category>, sqlx::Error> {
    let rows: Vec<CategoryRow> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM categories WHERE store_id = $1"
    ))
    .bind(store.as_uuid())
    .fetch_all(exec)
    .await?;
    Ok(rows.into_iter().map(category).collect())
}

pub async fn get<'e>(
    exec: impl PgExecutor<'e>,
    store: StoreId,
    id: CategoryId,
) -> Result<Option<Category>, sqlx::Error> {
    let row: Option<CategoryRow> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM categories WHERE store_id = $1 AND id = $2"
    ))
    .bind(store.as_uuid())
    .bind(id.as_uuid())
    .fetch_optional(exec)
    .await?;
    Ok(row.map(category))
}

pub async fn get_by_handle<'e>(
    exec: impl PgExecutor<'e>,
    store: StoreId,
    handle: &str,
) -> Result<Option<Category>, sqlx::Error> {
    let row: Option<CategoryRow> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM categories WHERE store_id = $1 AND handle = $2"
    ))
    .bind(store.as_uuid())
    .bind(handle)
    .fetch_optional(exec)
    .await?;
    Ok(row.map(category))
}

pub async fn insert(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    new: &ValidCategory,
) -> Result<Category, sqlx::Error> {
    let row: CategoryRow = sqlx::query_as(&format!(
        "INSERT INTO categories (store_id, id, parent_id, handle, name, position)
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING {COLUMNS}"
    ))
    .bind(store.as_uuid())
    .bind(CategoryId::new().as_uuid())
    .bind(new.parent_id.map(|p| p.as_uuid()))
    .bind(new.handle.as_str())
    .bind(&new.name)
    .bind(new.position)
    .fetch_one(&mut **tx)
    .await?;
    Ok(category(row))
}

/// Applies a checked patch; `None` if the category does not exist.
pub async fn update(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    id: CategoryId,
    patch: &ValidCategoryPatch,
) -> Result<Option<Category>, sqlx::Error> {
    let row: Option<CategoryRow> = sqlx::query_as(&format!(
        "UPDATE categories SET handle = COALESCE($3, handle), name = COALESCE($4, name),
                parent_id = CASE WHEN $5 THEN $6 ELSE parent_id END,
                position = COALESCE($7, position), updated_at = now()
         WHERE store_id = $1 AND id = $2 RETURNING {COLUMNS}"
    ))
    .bind(store.as_uuid())
    .bind(id.as_uuid())
    .bind(patch.handle.as_ref().map(Slug::as_str))
    .bind(patch.name.as_deref())
    .bind(patch.parent_id.is_some())
    .bind(patch.parent_id.flatten().map(|p| p.as_uuid()))
    .bind(patch.position)
    .fetch_optional(&mut **tx)
    .await?;
    Ok(row.map(category))
}

/// Whether the category has sub-categories or products.
pub async fn in_use(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    id: CategoryId,
) -> Result<(bool, bool), sqlx::Error> {
    let (children, products): (bool, bool) = sqlx::query_as(
        "SELECT EXISTS (SELECT 1 FROM categories WHERE store_id = $1 AND parent_id = $2),
                EXISTS (SELECT 1 FROM product_categories WHERE store_id = $1 AND category_id = $2)",
    )
    .bind(store.as_uuid())
    .bind(id.as_uuid())
    .fetch_one(&mut **tx)
    .await?;
    Ok((children, products))
}

pub async fn delete(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    id: CategoryId,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("DELETE FROM categories WHERE store_id = $1 AND id = $2")
        .bind(store.as_uuid())
        .bind(id.as_uuid())
        .execute(&mut **tx)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Which of `ids` are categories of the store; they cannot be deleted
/// until the transaction ends.
pub async fn existing(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    ids: &[CategoryId],
) -> Result<HashSet<CategoryId>, sqlx::Error> {
    let ids: Vec<Uuid> = ids.iter().map(CategoryId::as_uuid).collect();
    let rows: Vec<(Uuid,)> = sqlx::query_as(
        "SELECT id FROM categories WHERE store_id = $1 AND id = ANY($2) FOR KEY SHARE",
    )
    .bind(store.as_uuid())
    .bind(&ids)
    .fetch_all(&mut **tx)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id,)| CategoryId::from_uuid(id))
        .collect())
}

/// Replaces the categories of a product.
pub async fn set_product_categories(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    product: ProductId,
    ids: &[CategoryId],
) -> Result<(), sqlx::Error> {
    let ids: Vec<Uuid> = ids.iter().map(CategoryId::as_uuid).collect();
    sqlx::query(
        "DELETE FROM product_categories
         WHERE store_id = $1 AND product_id = $2 AND NOT (category_id = ANY($3))",
    )
    .bind(store.as_uuid())
    .bind(product.as_uuid())
    .bind(&ids)
    .execute(&mut **tx)
    .await?;
    sqlx::query(
        "INSERT INTO product_categories (store_id, product_id, category_id)
         SELECT $1, $2, c FROM unnest($3::uuid[]) AS t(c)
         ON CONFLICT DO NOTHING",
    )
    .bind(store.as_uuid())
    .bind(product.as_uuid())
    .bind(&ids)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The categories of a product, by name.
pub async fn of_product<'e>(
    exec: impl PgExecutor<'e>,
    store: StoreId,
    product: ProductId,
) -> Result<Vec<Category>, sqlx::Error> {
    let rows: Vec<CategoryRow> = sqlx::query_as(
        "SELECT c.id, c.parent_id, c.handle, c.name, c.position
         FROM product_categories pc
         JOIN categories c ON c.store_id = pc.store_id AND c.id = pc.category_id
         WHERE pc.store_id = $1 AND pc.product_id = $2
         ORDER BY c.name, c.id",
    )
    .bind(store.as_uuid())
    .bind(product.as_uuid())
    .fetch_all(exec)
    .await?;
    Ok(rows.into_iter().map(category).collect())
}

/// One page of the active products in a category or any of its
/// descendants, newest first.
pub async fn subtree_products<'e>(
    exec: impl PgExecutor<'e>,
    store: StoreId,
    category: CategoryId,
    after: Option<&Cursor>,
    limit: u32,
) -> Result<(Vec<ProductId>, Option<Cursor>), sqlx::Error> {
    let sql = format!(
        "WITH RECURSIVE tree(id) AS (
             SELECT id FROM categories WHERE store_id = $1 AND id = $2
             UNION
             SELECT c.id FROM categories c JOIN tree t ON c.parent_id = t.id WHERE c.store_id = $1
         )
         SELECT p.id, ({key})::text AS sort_key FROM products p
         WHERE p.store_id = $1 AND p.status = 'active'
           AND p.id IN (SELECT pc.product_id FROM product_categories pc
                        JOIN tree t ON pc.category_id = t.id WHERE pc.store_id = $1)
           AND ($3::text IS NULL OR {key} < $3::bigint OR ({key} = $3::bigint AND p.id < $4))
         ORDER BY {key} DESC, p.id DESC
         LIMIT $5",
        key = NEWEST_KEY,
    );
    let rows: Vec<(Uuid, String)> = sqlx::query_as(&sql)
        .bind(store.as_uuid())
        .bind(category.as_uuid())
        .bind(after.map(|c| c.key.as_str()))
        .bind(after.map(|c| c.id))
        .bind(i64::from(limit) + 1)
        .fetch_all(exec)
        .await?;
    Ok(page_of(rows, SortOrder::Newest, limit))
}

/// Every product (any status) filed under a category or its descendants:
/// the products whose derived data (search facets) a move of it changes.
pub async fn subtree_all_products<'e>(
    exec: impl PgExecutor<'e>,
    store: StoreId,
    category: CategoryId,
) -> Result<Vec<ProductId>, sqlx::Error> {
    let rows: Vec<(Uuid,)> = sqlx::query_as(
        "WITH RECURSIVE tree(id) AS (
             SELECT id FROM categories WHERE store_id = $1 AND id = $2
             UNION
             SELECT c.id FROM categories c JOIN tree t ON c.parent_id = t.id WHERE c.store_id = $1
         )
         SELECT DISTINCT pc.product_id FROM product_categories pc
         JOIN tree t ON pc.category_id = t.id WHERE pc.store_id = $1",
    )
    .bind(store.as_uuid())
    .bind(category.as_uuid())
    .fetch_all(exec)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id,)| ProductId::from_uuid(id))
        .collect())
}

/// How many products are filed under each category itself (not below it);
/// a category without any is left out.
pub async fn product_counts<'e>(
    exec: impl PgExecutor<'e>,
    store: StoreId,
) -> Result<std::collections::HashMap<CategoryId, i64>, sqlx::Error> {
    let rows: Vec<(Uuid, i64)> = sqlx::query_as(
        "SELECT category_id, count(*) FROM product_categories WHERE store_id = $1
          GROUP BY category_id",
    )
    .bind(store.as_uuid())
    .fetch_all(exec)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, n)| (CategoryId::from_uuid(id), n))
        .collect())
}

/// The first `limit` products (any status) filed under the category
/// itself, by title: (id, title, status).
pub async fn filed_under<'e>(
    exec: impl PgExecutor<'e>,
    store: StoreId,
    category: CategoryId,
    limit: i64,
) -> Result<Vec<(ProductId, String, String)>, sqlx::Error> {
    let rows: Vec<(Uuid, String, String)> = sqlx::query_as(
        "SELECT p.id, p.title, p.status FROM product_categories pc
           JOIN products p ON p.store_id = pc.store_id AND p.id = pc.product_id
          WHERE pc.store_id = $1 AND pc.category_id = $2
          ORDER BY lower(p.title), p.id LIMIT $3",
    )
    .bind(store.as_uuid())
    .bind(category.as_uuid())
    .bind(limit)
    .fetch_all(exec)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, title, status)| (ProductId::from_uuid(id), title, status))
        .collect())
}
