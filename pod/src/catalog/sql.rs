//! SQL of `products`, `variants` and `media`. Every statement filters on
//! store_id.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use mercato_tenants::{Currency, MediaId, Money, ProductId, StoreId, VariantId};
use sqlx::types::Json;
use sqlx::{PgPool, Postgres, Transaction};
use uuid::Uuid;

use super::model::{
    Attributes, Image, NewProduct, NewVariant, OptionValues, Product, ProductOption, ProductPatch,
    ProductStatus, Variant, VariantPatch,
};
use crate::db::Ids;
use crate::paging::split_page;

const PRODUCT_COLUMNS: &str =
    "id, title, description, status, vendor, product_type, tags, options, created_at, updated_at,
     gift_card";
const VARIANT_COLUMNS: &str = "id, product_id, sku, title, price_minor, compare_at_minor, currency,
     weight_grams, option_values, attributes, position";

#[derive(sqlx::FromRow)]
struct ProductRow {
    id: Uuid,
    title: String,
    description: String,
    status: String,
    vendor: String,
    product_type: String,
    tags: Vec<String>,
    options: Json<Vec<ProductOption>>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    gift_card: bool,
}

#[derive(sqlx::FromRow)]
struct VariantRow {
    id: Uuid,
    product_id: Uuid,
    sku: String,
    title: String,
    price_minor: i64,
    compare_at_minor: Option<i64>,
    currency: String,
    weight_grams: i32,
    option_values: Json<OptionValues>,
    attributes: Json<Attributes>,
    position: i32,
}

#[derive(sqlx::FromRow)]
struct MediaRow {
    id: Uuid,
    product_id: Uuid,
    url: String,
    alt: String,
    content_type: String,
    byte_size: i32,
    position: i32,
}

fn decode_err(what: &str) -> sqlx::Error {
    sqlx::Error::Decode(format!("bad {what} in catalog row").into())
}

fn variant(row: VariantRow) -> Result<Variant, sqlx::Error> {
    let currency = Currency::parse(&row.currency).map_err(|_| decode_err("currency"))?;
    Ok(Variant {
        id: VariantId::from_uuid(row.id),
        sku: row.sku,
        title: row.title,
        price: Money::new(row.price_minor, currency),
        compare_at_price: row.compare_at_minor.map(|m| Money::new(m, currency)),
        weight_grams: row.weight_grams,
        option_values: row.option_values.0,
        attributes: row.attributes.0,
        position: row.position,
        availability: None,
        on_hand: None,
    })
}

/// Attaches variants, images and ratings (one query each for the whole
/// page) to product rows.
async fn assemble(
    db: &mut sqlx::PgConnection,
    store: StoreId,
    rows: Vec<ProductRow>,
) -> Result<Vec<Product>, sqlx::Error> {
    let ids = Ids::new(rows.iter().map(|r| r.id));
    let of_products = ids.matches("product_id", 2);
    let sql = format!(
        "SELECT {VARIANT_COLUMNS} FROM variants
         WHERE store_id = $1 AND {of_products} ORDER BY product_id, position, id"
    );
    let variant_rows: Vec<VariantRow> = ids
        .bind_to(sqlx::query_as(&sql).bind(store.as_uuid()))
        .fetch_all(&mut *db)
        .await?;
    let sql = format!(
        "SELECT id, product_id, url, alt, content_type, byte_size, position FROM media
         WHERE store_id = $1 AND {of_products} ORDER BY product_id, position, id"
    );
    let media_rows: Vec<MediaRow> = ids
        .bind_to(sqlx::query_as(&sql).bind(store.as_uuid()))
        .fetch_all(&mut *db)
        .await?;
    let mut variants: HashMap<Uuid, Vec<Variant>> = HashMap::new();
    for row in variant_rows {
        variants
            .entry(row.product_id)
            .or_default()
            .push(variant(row)?);
    }
    let product_ids: Vec<ProductId> = rows.iter().map(|r| ProductId::from_uuid(r.id)).collect();
    let mut ratings = crate::reviews::ratings(&mut *db, store, &product_ids).await?;
    let mut images: HashMap<Uuid, Vec<Image>> = HashMap::new();
    for row in media_rows {
        images.entry(row.product_id).or_default().push(Image {
            id: MediaId::from_uuid(row.id),
            url: row.url,
            alt: row.alt,
            content_type: row.content_type,
            byte_size: row.byte_size,
            position: row.position,
        });
    }
    rows.into_iter()
        .map(|r| {
            Ok(Product {
                id: ProductId::from_uuid(r.id),
                status: ProductStatus::parse(&r.status).ok_or_else(|| decode_err("status"))?,
                variants: variants.remove(&r.id).unwrap_or_default(),
                images: images.remove(&r.id).unwrap_or_default(),
                rating: ratings
                    .remove(&ProductId::from_uuid(r.id))
                    .unwrap_or_default(),
                title: r.title,
                description: r.description,
                vendor: r.vendor,
                product_type: r.product_type,
                tags: r.tags,
                options: r.options.0,
                created_at: r.created_at,
                updated_at: r.updated_at,
                gift_card: r.gift_card,
            })
        })
        .collect()
}

/// Inserts a product with its variants (and their starting stock); the
/// caller commits.
pub async fn insert_product(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    currency: Currency,
    new: &NewProduct,
) -> Result<ProductId, sqlx::Error> {
    let product = ProductId::new();
    sqlx::query(
        "INSERT INTO products (store_id, id, title, description, status, vendor, product_type, tags, options,
                               gift_card)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(store.as_uuid())
    .bind(product.as_uuid())
    .bind(new.title.trim())
    .bind(&new.description)
    .bind(new.status.as_str())
    .bind(new.vendor.trim())
    .bind(new.product_type.trim())
    .bind(&new.tags)
    .bind(Json(&new.options))
    .bind(new.gift_card)
    .execute(&mut **tx)
    .await?;
    for (position, v) in new.variants.iter().enumerate() {
        insert_variant(tx, store, product, currency, v, position as i32).await?;
    }
    Ok(product)
}

/// Inserts one variant of `product`; the caller commits.
pub async fn insert_variant(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    product: ProductId,
    currency: Currency,
    v: &NewVariant,
    position: i32,
) -> Result<VariantId, sqlx::Error> {
    let id = VariantId::new();
    sqlx::query(
        "INSERT INTO variants (store_id, id, product_id, sku, title, price_minor, compare_at_minor,
                               currency, weight_grams, option_values, attributes, position)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(store.as_uuid())
    .bind(id.as_uuid())
    .bind(product.as_uuid())
    .bind(v.sku.as_str())
    .bind(v.title.trim())
    .bind(v.price_minor)
    .bind(v.compare_at_minor)
    .bind(currency.as_str())
    .bind(v.weight_grams)
    .bind(Json(&v.option_values))
    .bind(Json(&v.attributes))
    .bind(position)
    .execute(&mut **tx)
    .await?;
    if let Some(stock) = v.stock {
        crate::inventory::initial_stock(tx, store, id, stock).await?;
    }
    Ok(id)
}

/// Updates a product's own fields; `false` if it does not exist in the store.
pub async fn update_product(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    product: ProductId,
    patch: &ProductPatch,
) -> Result<bool, sqlx::Error> {
    let updated = sqlx::query(
        "UPDATE products SET title = COALESCE($3, title), description = COALESCE($4, description),
                status = COALESCE($5, status), vendor = COALESCE($6, vendor),
                product_type = COALESCE($7, product_type), tags = COALESCE($8, tags),
                options = COALESCE($9, options), gift_card = COALESCE($10, gift_card),
                updated_at = now()
         WHERE store_id = $1 AND id = $2",
    )
    .bind(store.as_uuid())
    .bind(product.as_uuid())
    .bind(patch.title.as_deref().map(str::trim))
    .bind(patch.description.as_deref())
    .bind(patch.status.map(ProductStatus::as_str))
    .bind(patch.vendor.as_deref().map(str::trim))
    .bind(patch.product_type.as_deref().map(str::trim))
    .bind(patch.tags.as_ref())
    .bind(patch.options.as_ref().map(Json))
    .bind(patch.gift_card)
    .execute(&mut **tx)
    .await?;
    Ok(updated.rows_affected() == 1)
}

/// Marks a product changed (its `updated_at`) after a change to its
/// variants or images.
pub async fn touch_product(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    product: ProductId,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE products SET updated_at = now() WHERE store_id = $1 AND id = $2")
        .bind(store.as_uuid())
        .bind(product.as_uuid())
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Updates one variant; the caller validated the patch against the variant
/// and the product's options.
pub async fn update_variant(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    variant: VariantId,
    patch: &VariantPatch,
) -> Result<(), sqlx::Error> {
    let (set_compare_at, compare_at) = match patch.compare_at_minor {
        Some(c) => (true, c),
        None => (false, None),
    };
    sqlx::query(
        "UPDATE variants SET sku = COALESCE($3, sku), title = COALESCE($4, title),
                price_minor = COALESCE($5, price_minor),
                compare_at_minor = CASE WHEN $6 THEN $7 ELSE compare_at_minor END,
                weight_grams = COALESCE($8, weight_grams),
                option_values = COALESCE($9, option_values),
                attributes = COALESCE($10, attributes), updated_at = now()
         WHERE store_id = $1 AND id = $2",
    )
    .bind(store.as_uuid())
    .bind(variant.as_uuid())
    .bind(patch.sku.as_ref().map(|s| s.as_str()))
    .bind(patch.title.as_deref().map(str::trim))
    .bind(patch.price_minor)
    .bind(set_compare_at)
    .bind(compare_at)
    .bind(patch.weight_grams)
    .bind(patch.option_values.as_ref().map(Json))
    .bind(patch.attributes.as_ref().map(Json))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Deletes one variant.
pub async fn delete_variant(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    variant: VariantId,
) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM variants WHERE store_id = $1 AND id = $2")
        .bind(store.as_uuid())
        .bind(variant.as_uuid())
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// One product, optionally only if it has `status`.
pub async fn get_product<'c>(
    db: impl sqlx::Acquire<'c, Database = Postgres>,
    store: StoreId,
    product: ProductId,
    status: Option<ProductStatus>,
) -> Result<Option<Product>, sqlx::Error> {
    let mut conn = db.acquire().await?;
    let row: Option<ProductRow> = sqlx::query_as(&format!(
        "SELECT {PRODUCT_COLUMNS} FROM products
         WHERE store_id = $1 AND id = $2 AND ($3::text IS NULL OR status = $3)"
    ))
    .bind(store.as_uuid())
    .bind(product.as_uuid())
    .bind(status.map(ProductStatus::as_str))
    .fetch_optional(&mut *conn)
    .await?;
    match row {
        Some(row) => Ok(assemble(&mut conn, store, vec![row]).await?.pop()),
        None => Ok(None),
    }
}

/// Locks a product for a change to its variants or options (so concurrent
/// changes cannot both pass the option checks) and returns it.
pub async fn lock_product(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    product: ProductId,
) -> Result<Option<Product>, sqlx::Error> {
    let row: Option<ProductRow> = sqlx::query_as(&format!(
        "SELECT {PRODUCT_COLUMNS} FROM products WHERE store_id = $1 AND id = $2 FOR UPDATE"
    ))
    .bind(store.as_uuid())
    .bind(product.as_uuid())
    .fetch_optional(&mut **tx)
    .await?;
    match row {
        Some(row) => Ok(assemble(tx, store, vec![row]).await?.pop()),
        None => Ok(None),
    }
}

/// A page of a keyset-paginated list.
#[derive(Debug, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
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
    list_products_titled(db, store, status, None, after, limit).await
}

/// [`list_products`], only those whose title contains `title` (any letter
/// case) when it is given: the admin's product search.
pub async fn list_products_titled(
    db: &PgPool,
    store: StoreId,
    status: Option<ProductStatus>,
    title: Option<&str>,
    after: Option<ProductId>,
    limit: u32,
) -> Result<Page<Product>, sqlx::Error> {
    let pattern = title.map(|t| format!("%{}%", mercato_tenants::text::like_escape(t)));
    let mut conn = db.acquire().await?;
    let rows: Vec<ProductRow> = sqlx::query_as(&format!(
        "SELECT {PRODUCT_COLUMNS} FROM products
         WHERE store_id = $1 AND ($2::text IS NULL OR status = $2) AND ($3::uuid IS NULL OR id < $3)
           AND ($5::text IS NULL OR title ILIKE $5)
         ORDER BY id DESC LIMIT $4"
    ))
    .bind(store.as_uuid())
    .bind(status.map(ProductStatus::as_str))
    .bind(after.map(|a| a.as_uuid()))
    .bind(i64::from(limit) + 1)
    .bind(pattern)
    .fetch_all(&mut *conn)
    .await?;
    let mut items = assemble(&mut conn, store, rows).await?;
    let next_cursor = split_page(&mut items, limit as usize, |p| p.id.to_string());
    Ok(Page { items, next_cursor })
}

/// Products by id, in the order of `ids`, optionally only those with
/// `status`; ids not found are skipped.
pub async fn get_products(
    db: &PgPool,
    store: StoreId,
    ids: &[ProductId],
    status: Option<ProductStatus>,
) -> Result<Vec<Product>, sqlx::Error> {
    let mut conn = db.acquire().await?;
    let uuids: Vec<Uuid> = ids.iter().map(ProductId::as_uuid).collect();
    let rows: Vec<ProductRow> = sqlx::query_as(&format!(
        "SELECT {PRODUCT_COLUMNS} FROM products
         WHERE store_id = $1 AND id = ANY($2) AND ($3::text IS NULL OR status = $3)"
    ))
    .bind(store.as_uuid())
    .bind(&uuids)
    .bind(status.map(ProductStatus::as_str))
    .fetch_all(&mut *conn)
    .await?;
    let mut by_id: HashMap<ProductId, Product> = assemble(&mut conn, store, rows)
        .await?
        .into_iter()
        .map(|p| (p.id, p))
        .collect();
    Ok(ids.iter().filter_map(|id| by_id.remove(id)).collect())
}

/// Which of `ids` are products of the store. Inside a transaction they
/// cannot be deleted until it ends (`FOR KEY SHARE`), so another context
/// may attach rows to them safely.
pub async fn existing_products<'e>(
    exec: impl sqlx::PgExecutor<'e>,
    store: StoreId,
    ids: &[ProductId],
) -> Result<std::collections::HashSet<ProductId>, sqlx::Error> {
    let uuids: Vec<Uuid> = ids.iter().map(ProductId::as_uuid).collect();
    let rows: Vec<(Uuid,)> = sqlx::query_as(
        "SELECT id FROM products WHERE store_id = $1 AND id = ANY($2) FOR KEY SHARE",
    )
    .bind(store.as_uuid())
    .bind(&uuids)
    .fetch_all(exec)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id,)| ProductId::from_uuid(id))
        .collect())
}

/// The status of each of `products` that exists in the store (a deleted
/// product has none).
pub async fn statuses<'e>(
    db: impl sqlx::PgExecutor<'e>,
    store: StoreId,
    products: &[ProductId],
) -> Result<HashMap<Uuid, ProductStatus>, sqlx::Error> {
    let ids = Ids::new(products.iter().map(ProductId::as_uuid));
    let sql = format!(
        "SELECT id, status FROM products WHERE store_id = $1 AND {}",
        ids.matches("id", 2)
    );
    let rows: Vec<(Uuid, String)> = ids
        .bind_to(sqlx::query_as(&sql).bind(store.as_uuid()))
        .fetch_all(db)
        .await?;
    rows.into_iter()
        .map(|(id, status)| {
            let status = ProductStatus::parse(&status).ok_or_else(|| decode_err("status"))?;
            Ok((id, status))
        })
        .collect()
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

/// A new image row; the object is already stored.
pub struct NewImage<'a> {
    pub object_key: &'a str,
    pub url: &'a str,
    pub content_type: &'a str,
    pub byte_size: i32,
    pub sha256: &'a str,
    pub alt: &'a str,
}

/// Appends an image to a product; the caller commits.
pub async fn insert_image(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    product: ProductId,
    image: &NewImage<'_>,
) -> Result<MediaId, sqlx::Error> {
    let id = MediaId::new();
    sqlx::query(
        "INSERT INTO media (store_id, id, product_id, object_key, url, content_type, byte_size, sha256, alt, position)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9,
                 (SELECT COALESCE(max(position) + 1, 0) FROM media WHERE store_id = $1 AND product_id = $3))",
    )
    .bind(store.as_uuid())
    .bind(id.as_uuid())
    .bind(product.as_uuid())
    .bind(image.object_key)
    .bind(image.url)
    .bind(image.content_type)
    .bind(image.byte_size)
    .bind(image.sha256)
    .bind(image.alt)
    .execute(&mut **tx)
    .await?;
    Ok(id)
}

/// Removes an image from a product; `false` if it was not there. The object
/// stays: another product (or store) may show the same content.
pub async fn delete_image(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    product: ProductId,
    image: MediaId,
) -> Result<bool, sqlx::Error> {
    let deleted =
        sqlx::query("DELETE FROM media WHERE store_id = $1 AND product_id = $2 AND id = $3")
            .bind(store.as_uuid())
            .bind(product.as_uuid())
            .bind(image.as_uuid())
            .execute(&mut **tx)
            .await?;
    Ok(deleted.rows_affected() == 1)
}

/// Numbers a product's images in the order of `order` (every image of
/// the product, checked by the caller); the caller commits.
pub async fn order_images(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    product: ProductId,
    order: &[MediaId],
) -> Result<(), sqlx::Error> {
    let ids: Vec<Uuid> = order.iter().map(|m| m.as_uuid()).collect();
    sqlx::query(
        "UPDATE media m SET position = o.n - 1
           FROM unnest($3::uuid[]) WITH ORDINALITY AS o(id, n)
          WHERE m.store_id = $1 AND m.product_id = $2 AND m.id = o.id",
    )
    .bind(store.as_uuid())
    .bind(product.as_uuid())
    .bind(&ids)
    .execute(&mut **tx)
    .await?;
    Ok(())
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
    let ids = Ids::new(variants.iter().map(VariantId::as_uuid));
    let sql = format!(
        "SELECT v.id, v.product_id, p.title AS product_title, v.title AS variant_title, v.sku,
                v.price_minor, v.currency, p.status
         FROM variants v JOIN products p ON p.store_id = v.store_id AND p.id = v.product_id
         WHERE v.store_id = $1 AND {}",
        ids.matches("v.id", 2)
    );
    let rows: Vec<Row> = ids
        .bind_to(sqlx::query_as(&sql).bind(store.as_uuid()))
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

/// Deletes a product; its variants, stock levels, images and memberships go
/// with it (foreign keys cascade).
pub async fn delete_product(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    product: ProductId,
) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM products WHERE store_id = $1 AND id = $2")
        .bind(store.as_uuid())
        .bind(product.as_uuid())
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Which of `products` are sold as gift cards (`gift_cards::issue_for_order`).
pub async fn gift_card_products<'e>(
    exec: impl sqlx::PgExecutor<'e>,
    store: StoreId,
    products: &[ProductId],
) -> Result<Vec<ProductId>, sqlx::Error> {
    let ids: Vec<Uuid> = products.iter().map(|p| p.as_uuid()).collect();
    let rows: Vec<(Uuid,)> = sqlx::query_as(
        "SELECT id FROM products WHERE store_id = $1 AND id = ANY($2) AND gift_card",
    )
    .bind(store.as_uuid())
    .bind(&ids)
    .fetch_all(exec)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id,)| ProductId::from_uuid(id))
        .collect())
}
