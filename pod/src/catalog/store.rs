//! SQL of `products` and `variants`. Every statement filters on store_id.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use mercato_tenants::{Currency, Money, ProductId, StoreId, VariantId};
use sqlx::{PgPool, Postgres, Transaction};
use uuid::Uuid;

use super::model::{NewProduct, Product, ProductPatch, ProductStatus, Variant};

#[derive(sqlx::FromRow)]
struct ProductRow {
    id: Uuid,
    title: String,
    description: String,
    status: String,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct VariantRow {
    id: Uuid,
    product_id: Uuid,
    sku: String,
    title: String,
    price_minor: i64,
    currency: String,
    position: i32,
}

fn decode_err(what: &str) -> sqlx::Error {
    sqlx::Error::Decode(format!("bad {what} in catalog row").into())
}

fn variant(row: VariantRow) -> Result<Variant, sqlx::Error> {
    Ok(Variant {
        id: VariantId::from_uuid(row.id),
        sku: row.sku,
        title: row.title,
        price: Money::new(
            row.price_minor,
            Currency::parse(&row.currency).map_err(|_| decode_err("currency"))?,
        ),
        position: row.position,
    })
}

/// Attaches variants (one query for the whole page) to product rows.
async fn assemble<'e, E>(
    exec: E,
    store: StoreId,
    rows: Vec<ProductRow>,
) -> Result<Vec<Product>, sqlx::Error>
where
    E: sqlx::PgExecutor<'e>,
{
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    let variant_rows: Vec<VariantRow> = sqlx::query_as(
        "SELECT id, product_id, sku, title, price_minor, currency, position FROM variants
         WHERE store_id = $1 AND product_id = ANY($2) ORDER BY product_id, position",
    )
    .bind(store.as_uuid())
    .bind(&ids)
    .fetch_all(exec)
    .await?;
    let mut by_product: HashMap<Uuid, Vec<Variant>> = HashMap::new();
    for row in variant_rows {
        by_product
            .entry(row.product_id)
            .or_default()
            .push(variant(row)?);
    }
    rows.into_iter()
        .map(|r| {
            Ok(Product {
                id: ProductId::from_uuid(r.id),
                status: ProductStatus::parse(&r.status).ok_or_else(|| decode_err("status"))?,
                variants: by_product.remove(&r.id).unwrap_or_default(),
                title: r.title,
                description: r.description,
                created_at: r.created_at,
                updated_at: r.updated_at,
            })
        })
        .collect()
}

/// Inserts a product with its variants; the caller commits.
pub async fn insert_product(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    currency: Currency,
    new: &NewProduct,
) -> Result<ProductId, sqlx::Error> {
    let product = ProductId::new();
    sqlx::query("INSERT INTO products (store_id, id, title, description, status) VALUES ($1, $2, $3, $4, $5)")
        .bind(store.as_uuid())
        .bind(product.as_uuid())
        .bind(new.title.trim())
        .bind(&new.description)
        .bind(new.status.as_str())
        .execute(&mut **tx)
        .await?;
    for (position, v) in new.variants.iter().enumerate() {
        sqlx::query(
            "INSERT INTO variants (store_id, id, product_id, sku, title, price_minor, currency, position)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(store.as_uuid())
        .bind(VariantId::new().as_uuid())
        .bind(product.as_uuid())
        .bind(v.sku.as_str())
        .bind(v.title.trim())
        .bind(v.price_minor)
        .bind(currency.as_str())
        .bind(position as i32)
        .execute(&mut **tx)
        .await?;
    }
    Ok(product)
}

/// Updates a product's own fields; `None` if it does not exist in the store.
pub async fn update_product(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    product: ProductId,
    patch: &ProductPatch,
) -> Result<bool, sqlx::Error> {
    let updated = sqlx::query(
        "UPDATE products SET title = COALESCE($3, title), description = COALESCE($4, description),
                status = COALESCE($5, status), updated_at = now()
         WHERE store_id = $1 AND id = $2",
    )
    .bind(store.as_uuid())
    .bind(product.as_uuid())
    .bind(patch.title.as_deref().map(str::trim))
    .bind(patch.description.as_deref())
    .bind(patch.status.map(ProductStatus::as_str))
    .execute(&mut **tx)
    .await?;
    Ok(updated.rows_affected() == 1)
}

/// One product, optionally only if it has `status`.
pub async fn get_product(
    db: &PgPool,
    store: StoreId,
    product: ProductId,
    status: Option<ProductStatus>,
) -> Result<Option<Product>, sqlx::Error> {
    let row: Option<ProductRow> = sqlx::query_as(
        "SELECT id, title, description, status, created_at, updated_at FROM products
         WHERE store_id = $1 AND id = $2 AND ($3::text IS NULL OR status = $3)",
    )
    .bind(store.as_uuid())
    .bind(product.as_uuid())
    .bind(status.map(ProductStatus::as_str))
    .fetch_optional(db)
    .await?;
    match row {
        Some(row) => Ok(assemble(db, store, vec![row]).await?.pop()),
        None => Ok(None),
    }
}

/// A page of a keyset-paginated list.
#[derive(Debug, serde::Serialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass as `after` to get the next page; `None` on the last page.
    pub next_cursor: Option<String>,
}

/// Products newest first, after the cursor `after` (a product id).
pub async fn list_products(
    db: &PgPool,
    store: StoreId,
    status: Option<ProductStatus>,
    after: Option<ProductId>,
    limit: u32,
) -> Result<Page<Product>, sqlx::Error> {
    let rows: Vec<ProductRow> = sqlx::query_as(
        "SELECT id, title, description, status, created_at, updated_at FROM products
         WHERE store_id = $1 AND ($2::text IS NULL OR status = $2) AND ($3::uuid IS NULL OR id < $3)
         ORDER BY id DESC LIMIT $4",
    )
    .bind(store.as_uuid())
    .bind(status.map(ProductStatus::as_str))
    .bind(after.map(|a| a.as_uuid()))
    .bind(i64::from(limit) + 1)
    .fetch_all(db)
    .await?;
    let mut items = assemble(db, store, rows).await?;
    let next_cursor = if items.len() > limit as usize {
        items.truncate(limit as usize);
        items.last().map(|p| p.id.to_string())
    } else {
        None
    };
    Ok(Page { items, next_cursor })
}

/// The product a variant belongs to, if the variant is in the store.
pub async fn product_of_variant<'e>(
    exec: impl sqlx::PgExecutor<'e>,
    store: StoreId,
    variant: VariantId,
) -> Result<Option<ProductId>, sqlx::Error> {
    let row: Option<(Uuid,)> =
        sqlx::query_as("SELECT product_id FROM variants WHERE store_id = $1 AND id = $2")
            .bind(store.as_uuid())
            .bind(variant.as_uuid())
            .fetch_optional(exec)
            .await?;
    Ok(row.map(|(id,)| ProductId::from_uuid(id)))
}

/// What other contexts (the cart, checkout) need to know about a variant,
/// read authoritatively from Postgres.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VariantSnapshot {
    pub variant_id: VariantId,
    pub product_id: ProductId,
    pub product_title: String,
    pub variant_title: String,
    pub sku: String,
    pub price: Money,
    /// The product is active: shoppers may buy it.
    pub purchasable: bool,
}

/// Snapshots of the `variants` found in the store; ids of other stores or
/// of no variant at all are simply absent.
pub async fn variant_snapshots<'e>(
    exec: impl sqlx::PgExecutor<'e>,
    store: StoreId,
    variants: &[VariantId],
) -> Result<HashMap<VariantId, VariantSnapshot>, sqlx::Error> {
    let ids: Vec<Uuid> = variants.iter().map(VariantId::as_uuid).collect();
    #[derive(sqlx::FromRow)]
    struct Row {
        id: Uuid,
        product_id: Uuid,
        product_title: String,
        variant_title: String,
        sku: String,
        price_minor: i64,
        currency: String,
        status: String,
    }
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT v.id, v.product_id, p.title AS product_title, v.title AS variant_title, v.sku,
                v.price_minor, v.currency, p.status
         FROM variants v JOIN products p ON p.store_id = v.store_id AND p.id = v.product_id
         WHERE v.store_id = $1 AND v.id = ANY($2)",
    )
    .bind(store.as_uuid())
    .bind(&ids)
    .fetch_all(exec)
    .await?;
    rows.into_iter()
        .map(|r| {
            let snapshot = VariantSnapshot {
                variant_id: VariantId::from_uuid(r.id),
                product_id: ProductId::from_uuid(r.product_id),
                product_title: r.product_title,
                variant_title: r.variant_title,
                sku: r.sku,
                price: Money::new(
                    r.price_minor,
                    Currency::parse(&r.currency).map_err(|_| decode_err("currency"))?,
                ),
                purchasable: r.status == ProductStatus::Active.as_str(),
            };
            Ok((snapshot.variant_id, snapshot))
        })
        .collect()
}

/// Products by id, in the order of `ids`, optionally only those with
/// `status`; ids not found are skipped.
pub async fn get_products(
    db: &PgPool,
    store: StoreId,
    ids: &[ProductId],
    status: Option<ProductStatus>,
) -> Result<Vec<Product>, sqlx::Error> {
    let uuids: Vec<Uuid> = ids.iter().map(ProductId::as_uuid).collect();
    let rows: Vec<ProductRow> = sqlx::query_as(
        "SELECT id, title, description, status, created_at, updated_at FROM products
         WHERE store_id = $1 AND id = ANY($2) AND ($3::text IS NULL OR status = $3)",
    )
    .bind(store.as_uuid())
    .bind(&uuids)
    .bind(status.map(ProductStatus::as_str))
    .fetch_all(db)
    .await?;
    let mut by_id: HashMap<ProductId, Product> = assemble(db, store, rows)
        .await?
        .into_iter()
        .map(|p| (p.id, p))
        .collect();
    Ok(ids.iter().filter_map(|id| by_id.remove(id)).collect())
}
