//! The SQL of `orders`, `order_lines`, `order_history`, `store_counters`
//! and `product_sales`. Every query filters on store_id (but the global
//! `order_transitions`).

use chrono::{DateTime, Utc};
use mercato_tenants::{CheckoutId, CustomerId, OrderId, StoreId};
use serde::Serialize;
use sqlx::{PgExecutor, Postgres, Transaction};
use uuid::Uuid;

use super::model::{Filter, Order, Quote, QuoteLine};
use super::state::{self, OrderStatus};

const ORDER_COLUMNS: &str = "id, number, checkout_id, status, customer_id, email, currency,
    subtotal_minor, discount_minor, discounts, shipping_minor, tax_minor, total_minor,
    gift_card_minor, captured_minor, refunded_minor, shipping_option, shipping_address,
    billing_address, cancel_reason, payment_id,
    created_at, updated_at";

#[derive(sqlx::FromRow)]
struct OrderRow {
    id: Uuid,
    number: i64,
    checkout_id: Uuid,
    status: String,
    customer_id: Option<Uuid>,
    email: String,
    currency: String,
    subtotal_minor: i64,
    discount_minor: i64,
    discounts: sqlx::types::Json<Vec<super::model::AppliedDiscount>>,
    shipping_minor: i64,
    tax_minor: i64,
    total_minor: i64,
    gift_card_minor: i64,
    captured_minor: i64,
    refunded_minor: i64,
    shipping_option: serde_json::Value,
    shipping_address: serde_json::Value,
    billing_address: Option<serde_json::Value>,
    cancel_reason: Option<String>,
    payment_id: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl OrderRow {
    fn into_order(self, lines: Vec<QuoteLine>) -> Result<Order, sqlx::Error> {
        let status = OrderStatus::parse(&self.status)
            .ok_or_else(|| sqlx::Error::Decode(format!("order status {}", self.status).into()))?;
        Ok(Order {
            id: OrderId::from_uuid(self.id),
            number: self.number,
            name: format!("#{}", self.number),
            checkout_id: CheckoutId::from_uuid(self.checkout_id),
            status,
            customer_id: self.customer_id.map(CustomerId::from_uuid),
            email: self.email,
            currency: self.currency,
            subtotal_minor: self.subtotal_minor,
            discount_minor: self.discount_minor,
            discounts: self.discounts.0,
            shipping_minor: self.shipping_minor,
            tax_minor: self.tax_minor,
            total_minor: self.total_minor,
            gift_card_minor: self.gift_card_minor,
            captured_minor: self.captured_minor,
            refunded_minor: self.refunded_minor,
            shipping_option: self.shipping_option,
            shipping_address: self.shipping_address,
            billing_address: self.billing_address,
            lines,
            cancel_reason: self.cancel_reason,
            payment_id: self.payment_id,
            created_at: self.created_at,
            updated_at: self.updated_at,
            shipments: None,
        })
    }
}

#[derive(sqlx::FromRow)]
struct LineRow {
    order_id: Uuid,
    variant_id: Uuid,
    product_id: Uuid,
    sku: String,
    title: String,
    variant_title: String,
    quantity: i32,
    unit_price_minor: i64,
    cancelled_quantity: i32,
    discount_minor: i64,
}

/// Inserts order `id` of a checkout in status `placed`, with its lines and
/// first history entry; returns its number. Call it LAST in the order's
/// transaction, right before the commit: its final statement takes the next
/// number from the store's counter row (#1001 first; no global sequence, no
/// gaps), whose lock is then held only through the commit. The lines and
/// history go in first (their foreign keys are deferred).
pub async fn insert(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    id: OrderId,
    checkout: CheckoutId,
    customer: Option<CustomerId>,
    quote: &Quote,
    payment_id: Option<&str>,
) -> Result<i64, sqlx::Error> {
    let shipping_option = serde_json::to_value(&quote.shipping_option)
        .map_err(|e| sqlx::Error::Encode(e.to_string().into()))?;
    let n = quote.lines.len();
    let positions: Vec<i32> = (0..n as i32).collect();
    let variants: Vec<Uuid> = quote.lines.iter().map(|l| l.variant_id.as_uuid()).collect();
    let products: Vec<Uuid> = quote.lines.iter().map(|l| l.product_id.as_uuid()).collect();
    let skus: Vec<&str> = quote.lines.iter().map(|l| l.sku.as_str()).collect();
    let titles: Vec<&str> = quote.lines.iter().map(|l| l.title.as_str()).collect();
    let vtitles: Vec<&str> = quote
        .lines
        .iter()
        .map(|l| l.variant_title.as_str())
        .collect();
    let quantities: Vec<i32> = quote.lines.iter().map(|l| l.quantity).collect();
    let prices: Vec<i64> = quote.lines.iter().map(|l| l.unit_price_minor).collect();
    let discounts: Vec<i64> = quote.lines.iter().map(|l| l.discount_minor).collect();
    sqlx::query(
        "INSERT INTO order_lines (store_id, order_id, position, variant_id, product_id, sku, title,
             variant_title, quantity, unit_price_minor, discount_minor)
         SELECT $1, $2, * FROM unnest($3::int[], $4::uuid[], $5::uuid[], $6::text[], $7::text[],
             $8::text[], $9::int[], $10::bigint[], $11::bigint[])",
    )
    .bind(store.as_uuid())
    .bind(id.as_uuid())
    .bind(&positions)
    .bind(&variants)
    .bind(&products)
    .bind(&skus)
    .bind(&titles)
    .bind(&vtitles)
    .bind(&quantities)
    .bind(&prices)
    .bind(&discounts)
    .execute(&mut **tx)
    .await?;
    history(tx, store, id, None, OrderStatus::Placed, "checkout", None).await?;
    let (number,): (i64,) = sqlx::query_as(
        "WITH n AS (
             INSERT INTO store_counters AS c (store_id) VALUES ($1)
             ON CONFLICT (store_id) DO UPDATE SET next_order_number = c.next_order_number + 1
             RETURNING next_order_number)
         INSERT INTO orders (store_id, id, number, checkout_id, customer_id, email, status, currency,
             subtotal_minor, shipping_minor, tax_minor, total_minor, shipping_option,
             shipping_address, payment_id, discount_minor, discounts, billing_address)
         SELECT $1, $2, n.next_order_number, $3, $4, $5, 'placed', $6, $7, $8, $9, $10, $11, $12, $13,
                $14, $15, $16
           FROM n
         RETURNING number",
    )
    .bind(store.as_uuid())
    .bind(id.as_uuid())
    .bind(checkout.as_uuid())
    .bind(customer.map(|c| c.as_uuid()))
    .bind(&quote.email)
    .bind(quote.currency.as_str())
    .bind(quote.subtotal_minor)
    .bind(quote.shipping_minor)
    .bind(quote.tax_minor)
    .bind(quote.total_minor)
    .bind(shipping_option)
    .bind(&quote.shipping_address)
    .bind(payment_id)
    .bind(quote.discount_minor)
    .bind(sqlx::types::Json(&quote.discounts))
    .bind(&quote.billing_address)
    .fetch_one(&mut **tx)
    .await?;
    Ok(number)
}

async fn history(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    order: OrderId,
    from: Option<OrderStatus>,
    to: OrderStatus,
    actor: &str,
    note: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO order_history (store_id, order_id, id, from_status, to_status, actor, note)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(store.as_uuid())
    .bind(order.as_uuid())
    .bind(Uuid::now_v7())
    .bind(from.map(OrderStatus::as_str))
    .bind(to.as_str())
    .bind(actor)
    .bind(note)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Moves an order from `from` to `to` if it is still in `from` (false
/// otherwise). Refuses what [`state::allowed`] refuses; the database
/// trigger refuses it too.
pub async fn set_status(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    order: OrderId,
    from: OrderStatus,
    to: OrderStatus,
    actor: &str,
    note: Option<&str>,
) -> Result<bool, sqlx::Error> {
    if !state::allowed(from, to) {
        return Ok(false);
    }
    let done = sqlx::query(
        "UPDATE orders SET status = $4, updated_at = now(),
                cancel_reason = CASE WHEN $4 = 'cancelled' THEN $5 ELSE cancel_reason END
         WHERE store_id = $1 AND id = $2 AND status = $3",
    )
    .bind(store.as_uuid())
    .bind(order.as_uuid())
    .bind(from.as_str())
    .bind(to.as_str())
    .bind(note)
    .execute(&mut **tx)
    .await?;
    if done.rows_affected() == 0 {
        return Ok(false);
    }
    history(tx, store, order, Some(from), to, actor, note).await?;
    Ok(true)
}

/// Records the money captured for an order (by the card, and what the
/// gift cards paid) and returns the order as it now stands, with `lines` (the quote it was made from, in line order).
pub async fn record_capture(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    order: OrderId,
    captured: i64,
    gift_cards: i64,
    lines: &[QuoteLine],
) -> Result<Order, sqlx::Error> {
    let sql = format!(
        "UPDATE orders SET captured_minor = $3, gift_card_minor = $4, updated_at = now()
         WHERE store_id = $1 AND id = $2 RETURNING {ORDER_COLUMNS}"
    );
    let row: OrderRow = sqlx::query_as(&sql)
        .bind(store.as_uuid())
        .bind(order.as_uuid())
        .bind(captured)
        .bind(gift_cards)
        .fetch_one(&mut **tx)
        .await?;
    row.into_order(lines.to_vec())
}

/// Records money refunded on an order.
pub async fn record_refund(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    order: OrderId,
    refunded: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE orders SET refunded_minor = $3, updated_at = now()
         WHERE store_id = $1 AND id = $2",
    )
    .bind(store.as_uuid())
    .bind(order.as_uuid())
    .bind(refunded)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn with_lines(
    conn: &mut sqlx::PgConnection,
    store: StoreId,
    rows: Vec<OrderRow>,
) -> Result<Vec<Order>, sqlx::Error> {
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    let lines: Vec<LineRow> = sqlx::query_as(
        "SELECT order_id, variant_id, product_id, sku, title, variant_title, quantity,
                unit_price_minor, cancelled_quantity, discount_minor
         FROM order_lines WHERE store_id = $1 AND order_id = ANY($2)
         ORDER BY order_id, position",
    )
    .bind(store.as_uuid())
    .bind(&ids)
    .fetch_all(&mut *conn)
    .await?;
    let mut by_order: std::collections::HashMap<Uuid, Vec<QuoteLine>> = Default::default();
    for l in lines {
        by_order.entry(l.order_id).or_default().push(QuoteLine {
            variant_id: mercato_tenants::VariantId::from_uuid(l.variant_id),
            product_id: mercato_tenants::ProductId::from_uuid(l.product_id),
            sku: l.sku,
            title: l.title,
            variant_title: l.variant_title,
            quantity: l.quantity,
            unit_price_minor: l.unit_price_minor,
            cancelled_quantity: l.cancelled_quantity,
            discount_minor: l.discount_minor,
        });
    }
    rows.into_iter()
        .map(|r| {
            let lines = by_order.remove(&r.id).unwrap_or_default();
            r.into_order(lines)
        })
        .collect()
}

/// `quantity` more units of line `position` of an order are cancelled
/// (the trigger `order_line_cancelled_within_order` checks, at commit,
/// that the line's live shipments and cancelled units still fit).
pub(crate) async fn add_cancelled(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    store: StoreId,
    order: OrderId,
    position: i32,
    quantity: i32,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE order_lines SET cancelled_quantity = cancelled_quantity + $4
          WHERE store_id = $1 AND order_id = $2 AND position = $3",
    )
    .bind(store.as_uuid())
    .bind(order.as_uuid())
    .bind(position)
    .bind(quantity)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// One order; `for_update` locks its row.
pub async fn get(
    conn: &mut sqlx::PgConnection,
    store: StoreId,
    order: OrderId,
    for_update: bool,
) -> Result<Option<Order>, sqlx::Error> {
    let sql = format!(
        "SELECT {ORDER_COLUMNS} FROM orders WHERE store_id = $1 AND id = $2{}",
        if for_update { " FOR UPDATE" } else { "" }
    );
    let row: Option<OrderRow> = sqlx::query_as(&sql)
        .bind(store.as_uuid())
        .bind(order.as_uuid())
        .fetch_optional(&mut *conn)
        .await?;
    match row {
        None => Ok(None),
        Some(r) => Ok(with_lines(conn, store, vec![r]).await?.pop()),
    }
}

/// Keeps the sha256 of the order's lookup token.
pub async fn set_lookup_sha256(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    order: OrderId,
    sha256: &[u8; 32],
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE orders SET lookup_sha256 = $3 WHERE store_id = $1 AND id = $2")
        .bind(store.as_uuid())
        .bind(order.as_uuid())
        .bind(sha256.as_slice())
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// The sha256 of the order's lookup token, if it has one.
pub async fn lookup_sha256(
    conn: &mut sqlx::PgConnection,
    store: StoreId,
    order: OrderId,
) -> Result<Option<Vec<u8>>, sqlx::Error> {
    let row: Option<(Option<Vec<u8>>,)> =
        sqlx::query_as("SELECT lookup_sha256 FROM orders WHERE store_id = $1 AND id = $2")
            .bind(store.as_uuid())
            .bind(order.as_uuid())
            .fetch_optional(&mut *conn)
            .await?;
    Ok(row.and_then(|(h,)| h))
}

/// The order with this number.
pub async fn by_number(
    conn: &mut sqlx::PgConnection,
    store: StoreId,
    number: i64,
) -> Result<Option<Order>, sqlx::Error> {
    let sql = format!("SELECT {ORDER_COLUMNS} FROM orders WHERE store_id = $1 AND number = $2");
    let row: Option<OrderRow> = sqlx::query_as(&sql)
        .bind(store.as_uuid())
        .bind(number)
        .fetch_optional(&mut *conn)
        .await?;
    match row {
        None => Ok(None),
        Some(r) => Ok(with_lines(conn, store, vec![r]).await?.pop()),
    }
}

/// A page of orders, newest first.
pub async fn list(
    conn: &mut sqlx::PgConnection,
    store: StoreId,
    f: &Filter,
) -> Result<Vec<Order>, sqlx::Error> {
    let sql = format!(
        "SELECT {ORDER_COLUMNS} FROM orders
         WHERE store_id = $1
           AND ($2::text IS NULL OR status = $2)
           AND ($3::uuid IS NULL OR customer_id = $3)
           AND ($4::text IS NULL OR lower(email) = lower($4))
           AND ($5::uuid IS NULL OR id < $5)
           AND ($7::timestamptz IS NULL OR created_at >= $7)
           AND ($8::timestamptz IS NULL OR created_at < $8)
         ORDER BY id DESC LIMIT $6"
    );
    let rows: Vec<OrderRow> = sqlx::query_as(&sql)
        .bind(store.as_uuid())
        .bind(f.status.map(OrderStatus::as_str))
        .bind(f.customer.map(|c| c.as_uuid()))
        .bind(f.email.as_deref())
        .bind(f.before)
        .bind(f.limit)
        .bind(f.placed_from)
        .bind(f.placed_until)
        .fetch_all(&mut *conn)
        .await?;
    with_lines(conn, store, rows).await
}

/// Units sold per product go into `product_sales` (best-selling sorts).
pub async fn count_sales(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    lines: &[QuoteLine],
) -> Result<(), sqlx::Error> {
    let mut per_product: std::collections::BTreeMap<Uuid, i64> = Default::default();
    for l in lines {
        *per_product.entry(l.product_id.as_uuid()).or_default() += i64::from(l.quantity);
    }
    let products: Vec<Uuid> = per_product.keys().copied().collect();
    let units: Vec<i64> = per_product.values().copied().collect();
    sqlx::query(
        "INSERT INTO product_sales AS s (store_id, product_id, units_sold)
         SELECT $1, p, u FROM unnest($2::uuid[], $3::bigint[]) AS t(p, u)
         WHERE EXISTS (SELECT 1 FROM products WHERE store_id = $1 AND id = p)
         ON CONFLICT (store_id, product_id) DO UPDATE SET units_sold = s.units_sold + EXCLUDED.units_sold",
    )
    .bind(store.as_uuid())
    .bind(&products)
    .bind(&units)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Statuses as the database knows them, for the test that checks the
/// trigger's table against [`state::allowed`].
pub async fn database_transitions<'e>(
    exec: impl PgExecutor<'e>,
) -> Result<Vec<(String, String)>, sqlx::Error> {
    sqlx::query_as("SELECT from_status, to_status FROM order_transitions ORDER BY 1, 2")
        .fetch_all(exec)
        .await
}

/// Adds `delta` (negative: gives back) to the money refunded on an order;
/// the table's CHECK keeps it between 0 and the captured amount. The
/// caller holds the order's row lock (refunds reserve under it).
pub async fn add_refunded(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    order: OrderId,
    delta: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE orders SET refunded_minor = refunded_minor + $3, updated_at = now()
         WHERE store_id = $1 AND id = $2",
    )
    .bind(store.as_uuid())
    .bind(order.as_uuid())
    .bind(delta)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// When the order last became `delivered`, if it did.
pub async fn delivered_at(
    conn: &mut sqlx::PgConnection,
    store: StoreId,
    order: OrderId,
) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT max(at) FROM order_history
          WHERE store_id = $1 AND order_id = $2 AND to_status = 'delivered'",
    )
    .bind(store.as_uuid())
    .bind(order.as_uuid())
    .fetch_one(&mut *conn)
    .await
}

/// Whether the shopper placed an order before (for first-order-only
/// discounts): by customer id, or by email for a guest.
pub async fn placed_before<'e>(
    exec: impl PgExecutor<'e>,
    store: StoreId,
    customer: Option<Uuid>,
    email: Option<&str>,
) -> Result<u32, sqlx::Error> {
    let n: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM (
             SELECT 1 FROM orders
              WHERE store_id = $1 AND status <> 'cancelled'
                AND (customer_id = $2 OR ($2 IS NULL AND lower(email) = lower($3)))
              LIMIT 1) o",
    )
    .bind(store.as_uuid())
    .bind(customer)
    .bind(email)
    .fetch_one(exec)
    .await?;
    Ok(u32::try_from(n).unwrap_or(0))
}

/// Gives the guest orders placed with `email` to the customer whose
/// account just proved that address (its confirmation): they show in the
/// account and, like the customer's own orders, only to the customer signed
/// in. The number of orders given.
pub async fn attach_guest_orders<'e>(
    exec: impl sqlx::PgExecutor<'e>,
    store: StoreId,
    customer: CustomerId,
    email: &str,
) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE orders SET customer_id = $2, updated_at = now()
         WHERE store_id = $1 AND customer_id IS NULL AND lower(email) = lower($3)",
    )
    .bind(store.as_uuid())
    .bind(customer.as_uuid())
    .bind(email)
    .execute(exec)
    .await?;
    Ok(done.rows_affected())
}

/// Per UTC day since `since`: orders placed (not cancelled), their totals
/// and what was refunded of them. Days without an order are left out.
pub async fn daily_sales(
    conn: &mut sqlx::PgConnection,
    store: StoreId,
    since: DateTime<Utc>,
) -> Result<Vec<(chrono::NaiveDate, i64, i64, i64)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT (created_at AT TIME ZONE 'UTC')::date,
                count(*), COALESCE(sum(total_minor), 0)::bigint,
                COALESCE(sum(refunded_minor), 0)::bigint
         FROM orders
         WHERE store_id = $1 AND created_at >= $2 AND status <> 'cancelled'
         GROUP BY 1 ORDER BY 1",
    )
    .bind(store.as_uuid())
    .bind(since)
    .fetch_all(&mut *conn)
    .await
}

/// How many of the store's orders are in `status`.
pub async fn count_in(
    conn: &mut sqlx::PgConnection,
    store: StoreId,
    statuses: &[OrderStatus],
) -> Result<i64, sqlx::Error> {
    let names: Vec<&str> = statuses.iter().map(|s| s.as_str()).collect();
    sqlx::query_scalar("SELECT count(*) FROM orders WHERE store_id = $1 AND status = ANY($2)")
        .bind(store.as_uuid())
        .bind(&names)
        .fetch_one(&mut *conn)
        .await
}

/// One status an order went through.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct HistoryEntry {
    pub from_status: Option<String>,
    pub to_status: String,
    pub actor: String,
    pub note: Option<String>,
    pub at: DateTime<Utc>,
}

/// The order's statuses, oldest first (at most 200).
pub async fn history_of(
    conn: &mut sqlx::PgConnection,
    store: StoreId,
    order: OrderId,
) -> Result<Vec<HistoryEntry>, sqlx::Error> {
    sqlx::query_as(
        "SELECT from_status, to_status, actor, note, at FROM order_history
         WHERE store_id = $1 AND order_id = $2 ORDER BY at, id LIMIT 200",
    )
    .bind(store.as_uuid())
    .bind(order.as_uuid())
    .fetch_all(&mut *conn)
    .await
}
