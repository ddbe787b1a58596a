//! The SQL of `refunds`. Every query filters on store_id.

use chrono::{DateTime, Utc};
use mercato_tenants::events::RefundCause;
use mercato_tenants::{OrderId, RefundId, ReturnId, StoreId};
use sqlx::{Postgres, Transaction};
use uuid::Uuid;

use super::model::{Refund, RefundStatus};

const COLUMNS: &str =
    "id, order_id, return_id, cause, amount_minor, gift_card_minor, reason, status, failure,
     created_at, updated_at";

#[derive(sqlx::FromRow)]
struct Row {
    id: Uuid,
    order_id: Uuid,
    return_id: Option<Uuid>,
    cause: String,
    amount_minor: i64,
    gift_card_minor: i64,
    reason: Option<String>,
    status: String,
    failure: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl TryFrom<Row> for Refund {
    type Error = sqlx::Error;
    fn try_from(r: Row) -> Result<Self, Self::Error> {
        let status = RefundStatus::parse(&r.status)
            .ok_or_else(|| sqlx::Error::Decode(format!("refund status {}", r.status).into()))?;
        let cause = RefundCause::parse(&r.cause)
            .ok_or_else(|| sqlx::Error::Decode(format!("refund cause {}", r.cause).into()))?;
        Ok(Refund {
            id: RefundId::from_uuid(r.id),
            order_id: OrderId::from_uuid(r.order_id),
            return_id: r.return_id.map(ReturnId::from_uuid),
            cause,
            amount_minor: r.amount_minor,
            gift_card_minor: r.gift_card_minor,
            reason: r.reason,
            status,
            failure: r.failure,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

/// A new refund row, `pending`.
pub(crate) struct NewRow<'a> {
    pub id: RefundId,
    pub order: OrderId,
    pub return_id: Option<ReturnId>,
    pub cause: RefundCause,
    pub amount_minor: i64,
    /// The part credited to gift cards.
    pub gift_card_minor: i64,
    pub reason: Option<&'a str>,
    pub actor: &'a str,
    pub key: Option<(&'a str, &'a [u8])>,
}

pub(crate) async fn insert(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    new: &NewRow<'_>,
) -> Result<Refund, sqlx::Error> {
    let sql = format!(
        "INSERT INTO refunds (store_id, id, order_id, return_id, amount_minor, reason, actor,
             idempotency_key, request_hash, cause, gift_card_minor)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING {COLUMNS}"
    );
    let row: Row = sqlx::query_as(&sql)
        .bind(store.as_uuid())
        .bind(new.id.as_uuid())
        .bind(new.order.as_uuid())
        .bind(new.return_id.map(|r| r.as_uuid()))
        .bind(new.amount_minor)
        .bind(new.reason)
        .bind(new.actor)
        .bind(new.key.map(|k| k.0))
        .bind(new.key.map(|k| k.1))
        .bind(new.cause.as_str())
        .bind(new.gift_card_minor)
        .fetch_one(&mut **tx)
        .await?;
    row.try_into()
}

/// The refund made on `order` with staff's Idempotency-Key `key`, and the
/// hash of what that request asked.
pub(crate) async fn by_key(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    order: OrderId,
    key: &str,
) -> Result<Option<(Refund, Vec<u8>)>, sqlx::Error> {
    let found: Option<(Uuid, Option<Vec<u8>>)> = sqlx::query_as(
        "SELECT id, request_hash FROM refunds
          WHERE store_id = $1 AND order_id = $2 AND idempotency_key = $3",
    )
    .bind(store.as_uuid())
    .bind(order.as_uuid())
    .bind(key)
    .fetch_optional(&mut **tx)
    .await?;
    let Some((id, hash)) = found else {
        return Ok(None);
    };
    let refund = get(tx, store, RefundId::from_uuid(id), false)
        .await?
        .ok_or(sqlx::Error::RowNotFound)?;
    Ok(Some((refund, hash.unwrap_or_default())))
}

/// One refund; `for_update` locks its row.
pub(crate) async fn get(
    conn: &mut sqlx::PgConnection,
    store: StoreId,
    id: RefundId,
    for_update: bool,
) -> Result<Option<Refund>, sqlx::Error> {
    let sql = format!(
        "SELECT {COLUMNS} FROM refunds WHERE store_id = $1 AND id = $2{}",
        if for_update { " FOR UPDATE" } else { "" }
    );
    let row: Option<Row> = sqlx::query_as(&sql)
        .bind(store.as_uuid())
        .bind(id.as_uuid())
        .fetch_optional(&mut *conn)
        .await?;
    row.map(TryInto::try_into).transpose()
}

/// The order's refunds, oldest first (at most `limit`).
pub(crate) async fn of_order(
    conn: &mut sqlx::PgConnection,
    store: StoreId,
    order: OrderId,
    limit: i64,
) -> Result<Vec<Refund>, sqlx::Error> {
    let sql = format!(
        "SELECT {COLUMNS} FROM refunds WHERE store_id = $1 AND order_id = $2 ORDER BY id LIMIT $3"
    );
    let rows: Vec<Row> = sqlx::query_as(&sql)
        .bind(store.as_uuid())
        .bind(order.as_uuid())
        .bind(limit)
        .fetch_all(&mut *conn)
        .await?;
    rows.into_iter().map(TryInto::try_into).collect()
}

/// The order's pending refunds.
pub(crate) async fn pending_of_order(
    conn: &mut sqlx::PgConnection,
    store: StoreId,
    order: OrderId,
) -> Result<Vec<RefundId>, sqlx::Error> {
    let ids: Vec<Uuid> = sqlx::query_scalar(
        "SELECT id FROM refunds WHERE store_id = $1 AND order_id = $2 AND status = 'pending'
          ORDER BY id",
    )
    .bind(store.as_uuid())
    .bind(order.as_uuid())
    .fetch_all(&mut *conn)
    .await?;
    Ok(ids.into_iter().map(RefundId::from_uuid).collect())
}

/// Moves a pending refund to `to` (with the gateway's refusal code when
/// failed); false if it was not pending any more.
pub(crate) async fn settle(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    id: RefundId,
    to: RefundStatus,
    failure: Option<&str>,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE refunds SET status = $3, failure = $4, updated_at = now()
          WHERE store_id = $1 AND id = $2 AND status = 'pending'",
    )
    .bind(store.as_uuid())
    .bind(id.as_uuid())
    .bind(to.as_str())
    .bind(failure.map(|f| f.chars().take(200).collect::<String>()))
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Claims up to `limit` refunds pending for longer than `older_than_ms`
/// (skipping those another worker holds) and marks them touched.
pub(crate) async fn claim_stuck(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    older_than_ms: i64,
    limit: i64,
) -> Result<Vec<RefundId>, sqlx::Error> {
    let ids: Vec<Uuid> = sqlx::query_scalar(
        "UPDATE refunds SET updated_at = now(), attempts = attempts + 1
          WHERE store_id = $1 AND id IN (
              SELECT id FROM refunds
               WHERE store_id = $1 AND status = 'pending'
                 AND updated_at < now() - $2 * interval '1 millisecond'
               ORDER BY updated_at LIMIT $3 FOR UPDATE SKIP LOCKED)
          RETURNING id",
    )
    .bind(store.as_uuid())
    .bind(older_than_ms as f64)
    .bind(limit)
    .fetch_all(&mut **tx)
    .await?;
    Ok(ids.into_iter().map(RefundId::from_uuid).collect())
}
