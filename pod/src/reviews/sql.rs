//! SQL of `reviews` and `product_ratings`, and the one statement that says
//! who may review ([`delivered_order`]), which reads the orders' and the
//! shipments' tables. Every statement filters on store_id.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use mercato_tenants::{CustomerId, OrderId, ProductId, ReviewId, StoreId};
use sqlx::{PgExecutor, Postgres, Transaction};
use uuid::Uuid;

use super::model::{
    Filter, Histogram, PublicReview, Review, ReviewStatus, Stars, StoreReply, ValidReview,
};
use crate::db::Ids;

/// Who may review: the most recent order of `customer` with a line of
/// `product` that was delivered, the order as a whole (`delivered`) or the
/// line's shipment (`shipments.status = 'delivered'`). `None`: the customer
/// has not received the product. The one place this rule lives; extend it
/// here (returns, a grace period...).
pub async fn delivered_order<'e>(
    exec: impl PgExecutor<'e>,
    store: StoreId,
    customer: CustomerId,
    product: ProductId,
) -> Result<Option<OrderId>, sqlx::Error> {
    let row: Option<(Uuid,)> = sqlx::query_as(
        "SELECT o.id
           FROM orders o
           JOIN order_lines l ON l.store_id = o.store_id AND l.order_id = o.id
          WHERE o.store_id = $1 AND o.customer_id = $2 AND l.product_id = $3
            AND (o.status = 'delivered'
                 OR EXISTS (SELECT 1
                              FROM shipment_lines sl
                              JOIN shipments s ON s.store_id = sl.store_id AND s.id = sl.shipment_id
                             WHERE sl.store_id = l.store_id AND sl.order_id = l.order_id
                               AND sl.line_position = l.position AND s.status = 'delivered'))
          ORDER BY o.id DESC
          LIMIT 1",
    )
    .bind(store.as_uuid())
    .bind(customer.as_uuid())
    .bind(product.as_uuid())
    .fetch_optional(exec)
    .await?;
    Ok(row.map(|(id,)| OrderId::from_uuid(id)))
}

const COLUMNS: &str = "id, product_id, customer_id, order_id, rating, title, body, author_name, \
     status, reply, replied_at, moderated_at, created_at, updated_at";

#[derive(sqlx::FromRow)]
struct Row {
    id: Uuid,
    product_id: Uuid,
    customer_id: Uuid,
    order_id: Uuid,
    rating: i16,
    title: String,
    body: String,
    author_name: String,
    status: String,
    reply: Option<String>,
    replied_at: Option<DateTime<Utc>>,
    moderated_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

fn reply_of(reply: Option<String>, at: Option<DateTime<Utc>>) -> Option<StoreReply> {
    match (reply, at) {
        (Some(body), Some(replied_at)) => Some(StoreReply { body, replied_at }),
        _ => None,
    }
}

impl TryFrom<Row> for Review {
    type Error = sqlx::Error;

    fn try_from(r: Row) -> Result<Self, Self::Error> {
        let status = ReviewStatus::parse(&r.status)
            .ok_or_else(|| sqlx::Error::Decode(format!("bad review status {}", r.status).into()))?;
        Ok(Review {
            id: ReviewId::from_uuid(r.id),
            product_id: ProductId::from_uuid(r.product_id),
            customer_id: CustomerId::from_uuid(r.customer_id),
            order_id: OrderId::from_uuid(r.order_id),
            rating: r.rating,
            title: r.title,
            body: r.body,
            author_name: r.author_name,
            status,
            reply: reply_of(r.reply, r.replied_at),
            moderated_at: r.moderated_at,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

fn reviews(rows: Vec<Row>) -> Result<Vec<Review>, sqlx::Error> {
    rows.into_iter().map(Review::try_from).collect()
}

/// A new review, `pending`; `None` when the customer already reviewed the
/// product (whatever became of that review).
pub async fn insert(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    product: ProductId,
    customer: CustomerId,
    order: OrderId,
    author_name: &str,
    review: &ValidReview,
) -> Result<Option<Review>, sqlx::Error> {
    let row: Option<Row> = sqlx::query_as(&format!(
        "INSERT INTO reviews (store_id, id, product_id, customer_id, order_id, rating, title, body,
                              author_name)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
         ON CONFLICT ON CONSTRAINT reviews_once_per_customer DO NOTHING
         RETURNING {COLUMNS}"
    ))
    .bind(store.as_uuid())
    .bind(ReviewId::new().as_uuid())
    .bind(product.as_uuid())
    .bind(customer.as_uuid())
    .bind(order.as_uuid())
    .bind(i16::from(review.rating.get()))
    .bind(&review.title)
    .bind(&review.body)
    .bind(author_name)
    .fetch_optional(&mut **tx)
    .await?;
    row.map(Review::try_from).transpose()
}

/// One review.
pub async fn get<'e>(
    exec: impl PgExecutor<'e>,
    store: StoreId,
    id: ReviewId,
) -> Result<Option<Review>, sqlx::Error> {
    let row: Option<Row> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM reviews WHERE store_id = $1 AND id = $2"
    ))
    .bind(store.as_uuid())
    .bind(id.as_uuid())
    .fetch_optional(exec)
    .await?;
    row.map(Review::try_from).transpose()
}

/// Locks a review for a change to what it counts (moderation, deletion):
/// first its product's row `FOR KEY SHARE`, then the review `FOR UPDATE`.
/// A product's deletion locks the product before it cascades into its
/// reviews, so taking the product first here keeps the two from waiting on
/// each other in opposite orders (and the product stays while the rating
/// row is written).
pub async fn lock_counted(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    id: ReviewId,
) -> Result<Option<Review>, sqlx::Error> {
    let found: Option<(Uuid,)> = sqlx::query_as(
        "SELECT p.id FROM products p
          WHERE p.store_id = $1
            AND p.id = (SELECT product_id FROM reviews WHERE store_id = $1 AND id = $2)
            FOR KEY SHARE",
    )
    .bind(store.as_uuid())
    .bind(id.as_uuid())
    .fetch_optional(&mut **tx)
    .await?;
    if found.is_none() {
        return Ok(None);
    }
    lock(tx, store, id).await
}

/// Locks a review (`FOR UPDATE`) for a change that counts nothing (the
/// reply).
pub async fn lock(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    id: ReviewId,
) -> Result<Option<Review>, sqlx::Error> {
    let row: Option<Row> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM reviews WHERE store_id = $1 AND id = $2 FOR UPDATE"
    ))
    .bind(store.as_uuid())
    .bind(id.as_uuid())
    .fetch_optional(&mut **tx)
    .await?;
    row.map(Review::try_from).transpose()
}

/// Sets a locked review's status (the caller checked the transition).
pub async fn set_status(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    id: ReviewId,
    to: ReviewStatus,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE reviews SET status = $3, moderated_at = now(), updated_at = now()
          WHERE store_id = $1 AND id = $2",
    )
    .bind(store.as_uuid())
    .bind(id.as_uuid())
    .bind(to.as_str())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Sets (`Some`) or removes (`None`) the store's reply to a review.
pub async fn set_reply(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    id: ReviewId,
    reply: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE reviews SET reply = $3, replied_at = CASE WHEN $3::text IS NULL THEN NULL ELSE now() END,
                updated_at = now()
          WHERE store_id = $1 AND id = $2",
    )
    .bind(store.as_uuid())
    .bind(id.as_uuid())
    .bind(reply)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Deletes a review.
pub async fn delete(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    id: ReviewId,
) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM reviews WHERE store_id = $1 AND id = $2")
        .bind(store.as_uuid())
        .bind(id.as_uuid())
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Adds `delta` (from [`Histogram::delta`]) to a product's ratings row,
/// creating it first (at zero: a `CHECK` holds the proposed row of an
/// upsert before its conflict is seen, so a negative delta cannot be
/// inserted). A count that would go below zero fails its `CHECK`: the
/// deltas are wrong, and nothing is written.
pub async fn add_to_ratings(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    product: ProductId,
    delta: &Histogram,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO product_ratings (store_id, product_id) VALUES ($1, $2)
         ON CONFLICT (store_id, product_id) DO NOTHING",
    )
    .bind(store.as_uuid())
    .bind(product.as_uuid())
    .execute(&mut **tx)
    .await?;
    let [s1, s2, s3, s4, s5] = delta.0;
    sqlx::query(
        "UPDATE product_ratings SET
             stars_1 = stars_1 + $3, stars_2 = stars_2 + $4, stars_3 = stars_3 + $5,
             stars_4 = stars_4 + $6, stars_5 = stars_5 + $7, updated_at = now()
          WHERE store_id = $1 AND product_id = $2",
    )
    .bind(store.as_uuid())
    .bind(product.as_uuid())
    .bind(s1)
    .bind(s2)
    .bind(s3)
    .bind(s4)
    .bind(s5)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The histograms of `products` that have a ratings row.
pub async fn histograms<'e>(
    exec: impl PgExecutor<'e>,
    store: StoreId,
    products: &[ProductId],
) -> Result<HashMap<ProductId, Histogram>, sqlx::Error> {
    if products.is_empty() {
        return Ok(HashMap::new());
    }
    let ids = Ids::new(products.iter().map(ProductId::as_uuid));
    let sql = format!(
        "SELECT product_id, stars_1, stars_2, stars_3, stars_4, stars_5 FROM product_ratings
          WHERE store_id = $1 AND {}",
        ids.matches("product_id", 2)
    );
    let rows: Vec<(Uuid, i64, i64, i64, i64, i64)> = ids
        .bind_to(sqlx::query_as(&sql).bind(store.as_uuid()))
        .fetch_all(exec)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(id, a, b, c, d, e)| (ProductId::from_uuid(id), Histogram([a, b, c, d, e])))
        .collect())
}

/// Reviews newest first, as `filter` says (at most `filter.limit`).
pub async fn list<'e>(
    exec: impl PgExecutor<'e>,
    store: StoreId,
    filter: &Filter,
) -> Result<Vec<Review>, sqlx::Error> {
    let rows: Vec<Row> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM reviews
          WHERE store_id = $1
            AND ($2::text IS NULL OR status = $2)
            AND ($3::uuid IS NULL OR product_id = $3)
            AND ($4::smallint IS NULL OR rating = $4)
            AND ($5::uuid IS NULL OR id < $5)
          ORDER BY id DESC
          LIMIT $6"
    ))
    .bind(store.as_uuid())
    .bind(filter.status.map(ReviewStatus::as_str))
    .bind(filter.product.map(|p| p.as_uuid()))
    .bind(filter.rating.map(|s| i16::from(s.get())))
    .bind(filter.before.map(|r| r.as_uuid()))
    .bind(filter.limit)
    .fetch_all(exec)
    .await?;
    reviews(rows)
}

/// A product's published reviews newest first, of `rating` stars if given,
/// older than `before`; at most `limit`.
pub async fn published<'e>(
    exec: impl PgExecutor<'e>,
    store: StoreId,
    product: ProductId,
    rating: Option<Stars>,
    before: Option<ReviewId>,
    limit: i64,
) -> Result<Vec<PublicReview>, sqlx::Error> {
    #[derive(sqlx::FromRow)]
    struct Published {
        id: Uuid,
        rating: i16,
        title: String,
        body: String,
        author_name: String,
        reply: Option<String>,
        replied_at: Option<DateTime<Utc>>,
        created_at: DateTime<Utc>,
    }
    let rows: Vec<Published> = sqlx::query_as(
        "SELECT id, rating, title, body, author_name, reply, replied_at, created_at
           FROM reviews
          WHERE store_id = $1 AND product_id = $2 AND status = 'published'
            AND ($3::smallint IS NULL OR rating = $3)
            AND ($4::uuid IS NULL OR id < $4)
          ORDER BY id DESC
          LIMIT $5",
    )
    .bind(store.as_uuid())
    .bind(product.as_uuid())
    .bind(rating.map(|s| i16::from(s.get())))
    .bind(before.map(|r| r.as_uuid()))
    .bind(limit)
    .fetch_all(exec)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| PublicReview {
            id: ReviewId::from_uuid(r.id),
            rating: r.rating,
            title: r.title,
            body: r.body,
            author_name: r.author_name,
            verified_purchase: true,
            reply: reply_of(r.reply, r.replied_at),
            created_at: r.created_at,
        })
        .collect())
}
