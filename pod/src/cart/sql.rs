//! The SQL of `carts` and `cart_lines`. Every query filters on store_id.

use chrono::{DateTime, Utc};
use mercato_tenants::{CartId, Currency, CustomerId, Money, ProductId, StoreId, VariantId};
use sqlx::{PgExecutor, Postgres, Transaction};
use uuid::Uuid;

use super::model::{CartRecord, Line, Owner, TokenHash};

#[derive(sqlx::FromRow)]
struct CartRow {
    id: Uuid,
    customer_id: Option<Uuid>,
    token_hash: Option<Vec<u8>>,
    currency: String,
    version: i64,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    discount_codes: Vec<String>,
    email: Option<String>,
}

const CART_COLUMNS: &str =
    "id, customer_id, token_hash, currency, version, created_at, updated_at, discount_codes, email";

fn decode_err(what: &str) -> sqlx::Error {
    sqlx::Error::Decode(format!("cart: bad {what}").into())
}

impl CartRow {
    fn into_record(self) -> Result<CartRecord, sqlx::Error> {
        let owner = match (self.customer_id, self.token_hash) {
            (Some(c), None) => Owner::Customer {
                customer_id: CustomerId::from_uuid(c),
            },
            (None, Some(h)) => Owner::Guest {
                token_hash: TokenHash::from_slice(&h).ok_or_else(|| decode_err("token hash"))?,
            },
            _ => return Err(decode_err("owner")),
        };
        Ok(CartRecord {
            id: CartId::from_uuid(self.id),
            owner,
            currency: Currency::parse(&self.currency).map_err(|_| decode_err("currency"))?,
            version: self.version,
            created_at: self.created_at,
            updated_at: self.updated_at,
            discount_codes: self.discount_codes,
            email: self.email,
            lines: Vec::new(),
        })
    }
}

/// The active cart `cart` (guest or customer), without its lines;
/// `for_update` locks its row until the transaction ends.
pub async fn active_cart<'e>(
    exec: impl PgExecutor<'e>,
    store: StoreId,
    cart: CartId,
    for_update: bool,
) -> Result<Option<CartRecord>, sqlx::Error> {
    let sql = format!(
        "SELECT {CART_COLUMNS} FROM carts WHERE store_id = $1 AND id = $2 AND status = 'active'{}",
        if for_update { " FOR UPDATE" } else { "" }
    );
    let row: Option<CartRow> = sqlx::query_as(&sql)
        .bind(store.as_uuid())
        .bind(cart.as_uuid())
        .fetch_optional(exec)
        .await?;
    row.map(CartRow::into_record).transpose()
}

/// The customer's active cart, without its lines.
pub async fn customer_cart<'e>(
    exec: impl PgExecutor<'e>,
    store: StoreId,
    customer: CustomerId,
    for_update: bool,
) -> Result<Option<CartRecord>, sqlx::Error> {
    let sql = format!(
        "SELECT {CART_COLUMNS} FROM carts
         WHERE store_id = $1 AND customer_id = $2 AND status = 'active'{}",
        if for_update { " FOR UPDATE" } else { "" }
    );
    let row: Option<CartRow> = sqlx::query_as(&sql)
        .bind(store.as_uuid())
        .bind(customer.as_uuid())
        .fetch_optional(exec)
        .await?;
    row.map(CartRow::into_record).transpose()
}

/// Inserts an empty active cart. For a customer who already has one this
/// inserts nothing (the partial unique index) and answers false.
pub async fn insert_cart(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    cart: CartId,
    owner: &Owner,
    currency: Currency,
) -> Result<bool, sqlx::Error> {
    let (customer, hash) = match owner {
        Owner::Customer { customer_id } => (Some(customer_id.as_uuid()), None),
        Owner::Guest { token_hash } => (None, Some(token_hash.0.to_vec())),
    };
    let done = sqlx::query(
        "INSERT INTO carts (store_id, id, customer_id, token_hash, status, currency)
         VALUES ($1, $2, $3, $4, 'active', $5)
         ON CONFLICT (store_id, customer_id) WHERE status = 'active' AND customer_id IS NOT NULL
         DO NOTHING",
    )
    .bind(store.as_uuid())
    .bind(cart.as_uuid())
    .bind(customer)
    .bind(hash)
    .bind(currency.as_str())
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

#[derive(sqlx::FromRow)]
struct LineRow {
    variant_id: Uuid,
    product_id: Uuid,
    sku: String,
    title: String,
    variant_title: String,
    quantity: i32,
    unit_price_minor: i64,
    currency: String,
    added_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

/// The lines of a cart, oldest first.
pub async fn lines<'e>(
    exec: impl PgExecutor<'e>,
    store: StoreId,
    cart: CartId,
) -> Result<Vec<Line>, sqlx::Error> {
    let rows: Vec<LineRow> = sqlx::query_as(
        "SELECT variant_id, product_id, sku, title, variant_title, quantity, unit_price_minor,
                currency, added_at, updated_at
         FROM cart_lines WHERE store_id = $1 AND cart_id = $2
         ORDER BY added_at, variant_id",
    )
    .bind(store.as_uuid())
    .bind(cart.as_uuid())
    .fetch_all(exec)
    .await?;
    rows.into_iter()
        .map(|r| {
            Ok(Line {
                variant_id: VariantId::from_uuid(r.variant_id),
                product_id: ProductId::from_uuid(r.product_id),
                sku: r.sku,
                title: r.title,
                variant_title: r.variant_title,
                quantity: r.quantity,
                unit_price: Money::new(
                    r.unit_price_minor,
                    Currency::parse(&r.currency).map_err(|_| decode_err("currency"))?,
                ),
                added_at: r.added_at,
                updated_at: r.updated_at,
            })
        })
        .collect()
}

/// Writes `line` (a new one, or all of an existing line's fields except when
/// it was first added).
pub async fn upsert_line(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    cart: CartId,
    line: &Line,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO cart_lines (store_id, cart_id, variant_id, product_id, sku, title,
                variant_title, quantity, unit_price_minor, currency, added_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, now(), now())
         ON CONFLICT (store_id, cart_id, variant_id) DO UPDATE
            SET product_id = EXCLUDED.product_id, sku = EXCLUDED.sku, title = EXCLUDED.title,
                variant_title = EXCLUDED.variant_title, quantity = EXCLUDED.quantity,
                unit_price_minor = EXCLUDED.unit_price_minor, currency = EXCLUDED.currency,
                updated_at = now()",
    )
    .bind(store.as_uuid())
    .bind(cart.as_uuid())
    .bind(line.variant_id.as_uuid())
    .bind(line.product_id.as_uuid())
    .bind(&line.sku)
    .bind(&line.title)
    .bind(&line.variant_title)
    .bind(line.quantity)
    .bind(line.unit_price.minor)
    .bind(line.unit_price.currency.as_str())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

pub async fn set_quantity(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    cart: CartId,
    variant: VariantId,
    quantity: i32,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE cart_lines SET quantity = $4, updated_at = now()
         WHERE store_id = $1 AND cart_id = $2 AND variant_id = $3",
    )
    .bind(store.as_uuid())
    .bind(cart.as_uuid())
    .bind(variant.as_uuid())
    .bind(quantity)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

pub async fn delete_line(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    cart: CartId,
    variant: VariantId,
) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM cart_lines WHERE store_id = $1 AND cart_id = $2 AND variant_id = $3")
        .bind(store.as_uuid())
        .bind(cart.as_uuid())
        .bind(variant.as_uuid())
        .execute(&mut **tx)
        .await?;
    Ok(())
}

pub async fn clear(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    cart: CartId,
) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM cart_lines WHERE store_id = $1 AND cart_id = $2")
        .bind(store.as_uuid())
        .bind(cart.as_uuid())
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Replaces every line of a cart with `lines`, as they are.
pub async fn replace_lines(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    cart: CartId,
    lines: &[Line],
) -> Result<(), sqlx::Error> {
    clear(tx, store, cart).await?;
    let variants: Vec<Uuid> = lines.iter().map(|l| l.variant_id.as_uuid()).collect();
    let products: Vec<Uuid> = lines.iter().map(|l| l.product_id.as_uuid()).collect();
    let skus: Vec<&str> = lines.iter().map(|l| l.sku.as_str()).collect();
    let titles: Vec<&str> = lines.iter().map(|l| l.title.as_str()).collect();
    let variant_titles: Vec<&str> = lines.iter().map(|l| l.variant_title.as_str()).collect();
    let quantities: Vec<i32> = lines.iter().map(|l| l.quantity).collect();
    let prices: Vec<i64> = lines.iter().map(|l| l.unit_price.minor).collect();
    let currencies: Vec<&str> = lines
        .iter()
        .map(|l| l.unit_price.currency.as_str())
        .collect();
    let added: Vec<DateTime<Utc>> = lines.iter().map(|l| l.added_at).collect();
    let updated: Vec<DateTime<Utc>> = lines.iter().map(|l| l.updated_at).collect();
    sqlx::query(
        "INSERT INTO cart_lines (store_id, cart_id, variant_id, product_id, sku, title,
                variant_title, quantity, unit_price_minor, currency, added_at, updated_at)
         SELECT $1, $2, * FROM UNNEST($3::uuid[], $4::uuid[], $5::text[], $6::text[], $7::text[],
                $8::int4[], $9::int8[], $10::text[], $11::timestamptz[], $12::timestamptz[])",
    )
    .bind(store.as_uuid())
    .bind(cart.as_uuid())
    .bind(&variants)
    .bind(&products)
    .bind(&skus)
    .bind(&titles)
    .bind(&variant_titles)
    .bind(&quantities)
    .bind(&prices)
    .bind(&currencies)
    .bind(&added)
    .bind(&updated)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Records a change of the cart: a new version and `updated_at`.
pub async fn touch(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    cart: CartId,
) -> Result<(i64, DateTime<Utc>), sqlx::Error> {
    sqlx::query_as(
        "UPDATE carts SET version = version + 1, updated_at = now()
         WHERE store_id = $1 AND id = $2 RETURNING version, updated_at",
    )
    .bind(store.as_uuid())
    .bind(cart.as_uuid())
    .fetch_one(&mut **tx)
    .await
}

/// Retires a guest cart merged into `into`; its token then finds nothing.
pub async fn mark_merged(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    guest: CartId,
    into: CartId,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE carts SET status = 'merged', merged_into = $3, version = version + 1,
                updated_at = now()
         WHERE store_id = $1 AND id = $2",
    )
    .bind(store.as_uuid())
    .bind(guest.as_uuid())
    .bind(into.as_uuid())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Marks an active cart as turned into an order; false if it was not
/// active (already converted or merged).
pub async fn convert(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    cart: CartId,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE carts SET status = 'converted', version = version + 1, updated_at = now()
         WHERE store_id = $1 AND id = $2 AND status = 'active'",
    )
    .bind(store.as_uuid())
    .bind(cart.as_uuid())
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Replaces the codes entered in the cart.
pub async fn set_discount_codes(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    cart: CartId,
    codes: &[String],
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE carts SET discount_codes = $3 WHERE store_id = $1 AND id = $2")
        .bind(store.as_uuid())
        .bind(cart.as_uuid())
        .bind(codes)
        .execute(&mut **tx)
        .await?;
    Ok(())
}
