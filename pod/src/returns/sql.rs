//! The SQL of `returns`, `return_lines` and `return_settings`. Every query
//! filters on store_id.

use chrono::{DateTime, Utc};
use mercato_tenants::{Currency, OrderId, RefundId, ReturnId, StoreId, VariantId};
use serde::Serialize;
use sqlx::{PgExecutor, Postgres, Transaction};
use uuid::Uuid;

use super::model::{Condition, ReturnSettings, ReturnStatus, ShippingRefund};

/// A return as staff and its shopper see it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Return {
    pub id: ReturnId,
    pub order_id: OrderId,
    /// The order's number (#1001 is 1001).
    pub order_number: i64,
    pub status: ReturnStatus,
    /// The shopper's reason.
    pub reason: String,
    /// Staff's note on approval or rejection.
    pub note: Option<String>,
    pub lines: Vec<ReturnLine>,
    /// Whether the received units that go back to stock are back (and the
    /// refund reserved).
    pub restocked: bool,
    /// The refund paying for it, once received.
    pub refund_id: Option<RefundId>,
    pub refund_minor: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The order's email and currency, for the return's events.
    #[serde(skip)]
    pub(crate) email: String,
    #[serde(skip)]
    pub(crate) currency: Currency,
}

/// Units of one order line in a return.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ReturnLine {
    /// The order line's position in the order's `lines` (0 first).
    pub line: i32,
    pub variant_id: VariantId,
    pub quantity: i32,
    /// Set on receipt.
    pub condition: Option<Condition>,
    /// Set on receipt: whether the units go back to stock.
    pub restock: Option<bool>,
}

const COLUMNS: &str = "r.id, r.order_id, o.number, r.status, r.reason, r.note, r.restocked,
    r.refund_id, r.refund_minor, r.created_at, r.updated_at, o.email, o.currency";

#[derive(sqlx::FromRow)]
struct Row {
    id: Uuid,
    order_id: Uuid,
    number: i64,
    status: String,
    reason: String,
    note: Option<String>,
    restocked: bool,
    refund_id: Option<Uuid>,
    refund_minor: Option<i64>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    email: String,
    currency: String,
}

type LineRow = (Uuid, i32, Uuid, i32, Option<String>, Option<bool>);

async fn with_lines(
    conn: &mut sqlx::PgConnection,
    store: StoreId,
    rows: Vec<Row>,
) -> Result<Vec<Return>, sqlx::Error> {
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    let lines: Vec<LineRow> = sqlx::query_as(
        "SELECT return_id, line_position, variant_id, quantity, condition, restock
           FROM return_lines WHERE store_id = $1 AND return_id = ANY($2)
          ORDER BY return_id, line_position",
    )
    .bind(store.as_uuid())
    .bind(&ids)
    .fetch_all(&mut *conn)
    .await?;
    rows.into_iter()
        .map(|r| {
            let status = ReturnStatus::parse(&r.status)
                .ok_or_else(|| sqlx::Error::Decode(format!("return status {}", r.status).into()))?;
            let currency = Currency::parse(&r.currency)
                .map_err(|e| sqlx::Error::Decode(format!("order currency: {e}").into()))?;
            Ok(Return {
                id: ReturnId::from_uuid(r.id),
                order_id: OrderId::from_uuid(r.order_id),
                order_number: r.number,
                status,
                reason: r.reason,
                note: r.note,
                lines: lines
                    .iter()
                    .filter(|l| l.0 == r.id)
                    .map(|l| ReturnLine {
                        line: l.1,
                        variant_id: VariantId::from_uuid(l.2),
                        quantity: l.3,
                        condition: l.4.as_deref().and_then(Condition::parse),
                        restock: l.5,
                    })
                    .collect(),
                restocked: r.restocked,
                refund_id: r.refund_id.map(RefundId::from_uuid),
                refund_minor: r.refund_minor,
                created_at: r.created_at,
                updated_at: r.updated_at,
                email: r.email,
                currency,
            })
        })
        .collect()
}

/// One return; `for_update` locks its row.
pub(crate) async fn get(
    conn: &mut sqlx::PgConnection,
    store: StoreId,
    id: ReturnId,
    for_update: bool,
) -> Result<Option<Return>, sqlx::Error> {
    let sql = format!(
        "SELECT {COLUMNS} FROM returns r JOIN orders o ON o.store_id = r.store_id AND o.id = r.order_id
          WHERE r.store_id = $1 AND r.id = $2{}",
        if for_update { " FOR UPDATE OF r" } else { "" }
    );
    let row: Option<Row> = sqlx::query_as(&sql)
        .bind(store.as_uuid())
        .bind(id.as_uuid())
        .fetch_optional(&mut *conn)
        .await?;
    match row {
        None => Ok(None),
        Some(r) => Ok(with_lines(conn, store, vec![r]).await?.pop()),
    }
}

/// A page of returns, newest first: of one order, or in one status.
pub(crate) async fn list(
    conn: &mut sqlx::PgConnection,
    store: StoreId,
    order: Option<OrderId>,
    status: Option<ReturnStatus>,
    before: Option<Uuid>,
    limit: i64,
) -> Result<Vec<Return>, sqlx::Error> {
    let sql = format!(
        "SELECT {COLUMNS} FROM returns r JOIN orders o ON o.store_id = r.store_id AND o.id = r.order_id
          WHERE r.store_id = $1
            AND ($2::uuid IS NULL OR r.order_id = $2)
            AND ($3::text IS NULL OR r.status = $3)
            AND ($4::uuid IS NULL OR r.id < $4)
          ORDER BY r.id DESC LIMIT $5"
    );
    let rows: Vec<Row> = sqlx::query_as(&sql)
        .bind(store.as_uuid())
        .bind(order.map(|o| o.as_uuid()))
        .bind(status.map(ReturnStatus::as_str))
        .bind(before)
        .bind(limit)
        .fetch_all(&mut *conn)
        .await?;
    with_lines(conn, store, rows).await
}

/// Inserts a `requested` return with its lines: (order line, variant,
/// units).
pub(crate) async fn insert(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    id: ReturnId,
    order: OrderId,
    reason: &str,
    opened_by: &str,
    lines: &[(i32, VariantId, i32)],
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO returns (store_id, id, order_id, reason, opened_by) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(store.as_uuid())
    .bind(id.as_uuid())
    .bind(order.as_uuid())
    .bind(reason)
    .bind(opened_by)
    .execute(&mut **tx)
    .await?;
    let positions: Vec<i32> = lines.iter().map(|l| l.0).collect();
    let variants: Vec<Uuid> = lines.iter().map(|l| l.1.as_uuid()).collect();
    let quantities: Vec<i32> = lines.iter().map(|l| l.2).collect();
    sqlx::query(
        "INSERT INTO return_lines (store_id, return_id, order_id, line_position, variant_id, quantity)
         SELECT $1, $2, $3, * FROM unnest($4::int[], $5::uuid[], $6::int[])",
    )
    .bind(store.as_uuid())
    .bind(id.as_uuid())
    .bind(order.as_uuid())
    .bind(&positions)
    .bind(&variants)
    .bind(&quantities)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Units per order line in the order's returns that hold units (every
/// status but rejected and cancelled), but `except`; or, with
/// `refunded_only`, in those whose refund was reserved.
pub(crate) async fn units_returned(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    order: OrderId,
    except: Option<ReturnId>,
    refunded_only: bool,
) -> Result<Vec<(i32, i64)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT l.line_position, sum(l.quantity)::bigint
           FROM return_lines l
           JOIN returns r ON r.store_id = l.store_id AND r.id = l.return_id
          WHERE l.store_id = $1 AND l.order_id = $2
            AND r.status NOT IN ('rejected', 'cancelled')
            AND ($3::uuid IS NULL OR r.id <> $3)
            AND (NOT $4 OR r.restocked)
          GROUP BY l.line_position",
    )
    .bind(store.as_uuid())
    .bind(order.as_uuid())
    .bind(except.map(|e| e.as_uuid()))
    .bind(refunded_only)
    .fetch_all(&mut **tx)
    .await
}

/// Moves a return from `from` to `to` (with staff's note when given);
/// false if it was not in `from` any more.
pub(crate) async fn set_status(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    id: ReturnId,
    from: ReturnStatus,
    to: ReturnStatus,
    note: Option<&str>,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE returns SET status = $4, note = COALESCE($5, note), updated_at = now()
          WHERE store_id = $1 AND id = $2 AND status = $3",
    )
    .bind(store.as_uuid())
    .bind(id.as_uuid())
    .bind(from.as_str())
    .bind(to.as_str())
    .bind(note)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Records what staff found on receipt: (order line, condition, restock).
pub(crate) async fn set_received(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    id: ReturnId,
    lines: &[(i32, Condition, bool)],
) -> Result<(), sqlx::Error> {
    let positions: Vec<i32> = lines.iter().map(|l| l.0).collect();
    let conditions: Vec<&str> = lines.iter().map(|l| l.1.as_str()).collect();
    let restock: Vec<bool> = lines.iter().map(|l| l.2).collect();
    sqlx::query(
        "UPDATE return_lines l SET condition = t.c, restock = t.r
           FROM unnest($3::int[], $4::text[], $5::bool[]) AS t(p, c, r)
          WHERE l.store_id = $1 AND l.return_id = $2 AND l.line_position = t.p",
    )
    .bind(store.as_uuid())
    .bind(id.as_uuid())
    .bind(&positions)
    .bind(&conditions)
    .bind(&restock)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The saga's marker: the units are back and the refund reserved.
pub(crate) async fn mark_restocked(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    id: ReturnId,
    refund: Option<RefundId>,
    refund_minor: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE returns SET restocked = true, refund_id = $3, refund_minor = $4, updated_at = now()
          WHERE store_id = $1 AND id = $2",
    )
    .bind(store.as_uuid())
    .bind(id.as_uuid())
    .bind(refund.map(|r| r.as_uuid()))
    .bind(refund_minor)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Claims up to `limit` returns left `received` for longer than
/// `older_than_ms` (skipping those another worker holds), marking them
/// touched.
pub(crate) async fn claim_stuck(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    older_than_ms: i64,
    limit: i64,
) -> Result<Vec<ReturnId>, sqlx::Error> {
    let ids: Vec<Uuid> = sqlx::query_scalar(
        "UPDATE returns SET updated_at = now()
          WHERE store_id = $1 AND id IN (
              SELECT id FROM returns
               WHERE store_id = $1 AND status = 'received'
                 AND updated_at < now() - $2 * interval '1 millisecond'
               ORDER BY updated_at LIMIT $3 FOR UPDATE SKIP LOCKED)
          RETURNING id",
    )
    .bind(store.as_uuid())
    .bind(older_than_ms as f64)
    .bind(limit)
    .fetch_all(&mut **tx)
    .await?;
    Ok(ids.into_iter().map(ReturnId::from_uuid).collect())
}

/// The store's return policy (the defaults when it set none).
pub(crate) async fn settings<'e>(
    exec: impl PgExecutor<'e>,
    store: StoreId,
) -> Result<ReturnSettings, sqlx::Error> {
    let row: Option<(i32, String)> = sqlx::query_as(
        "SELECT window_days, shipping_refund FROM return_settings WHERE store_id = $1",
    )
    .bind(store.as_uuid())
    .fetch_optional(exec)
    .await?;
    Ok(match row {
        None => ReturnSettings::default(),
        Some((window_days, rule)) => ReturnSettings {
            window_days,
            shipping_refund: ShippingRefund::parse(&rule).ok_or_else(|| {
                sqlx::Error::Decode(format!("shipping refund rule {rule}").into())
            })?,
        },
    })
}

pub(crate) async fn put_settings(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    settings: &ReturnSettings,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO return_settings (store_id, window_days, shipping_refund) VALUES ($1, $2, $3)
         ON CONFLICT (store_id) DO UPDATE
            SET window_days = EXCLUDED.window_days, shipping_refund = EXCLUDED.shipping_refund,
                updated_at = now()",
    )
    .bind(store.as_uuid())
    .bind(settings.window_days)
    .bind(settings.shipping_refund.as_str())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Per variant, the units of the order that came back through its
/// received returns (restocked or written off).
pub(crate) async fn units_back<'e>(
    exec: impl PgExecutor<'e>,
    store: StoreId,
    order: OrderId,
) -> Result<Vec<(VariantId, i64)>, sqlx::Error> {
    let rows: Vec<(Uuid, i64)> = sqlx::query_as(
        "SELECT l.variant_id, sum(l.quantity)::bigint FROM returns r
           JOIN return_lines l ON l.store_id = r.store_id AND l.return_id = r.id
          WHERE r.store_id = $1 AND r.order_id = $2 AND r.restocked
          GROUP BY l.variant_id",
    )
    .bind(store.as_uuid())
    .bind(order.as_uuid())
    .fetch_all(exec)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(v, q)| (VariantId::from_uuid(v), q))
        .collect())
}

/// How many of the store's returns are in `status`.
pub async fn count_in<'e>(
    exec: impl sqlx::PgExecutor<'e>,
    store: StoreId,
    status: ReturnStatus,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT count(*) FROM returns WHERE store_id = $1 AND status = $2")
        .bind(store.as_uuid())
        .bind(status.as_str())
        .fetch_one(exec)
        .await
}
