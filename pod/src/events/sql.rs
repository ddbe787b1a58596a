//! The SQL of `outbox`: the inserts of [`super::record`] and
//! [`super::record_many`], and the relay's reads, store lock and marks.
//! Every query but the relay's look over all stores filters on store_id.

use chrono::{DateTime, Utc};
use mercato_tenants::events::EventType;
use mercato_tenants::{EventId, StoreId};
use sqlx::{PgConnection, PgPool, Postgres, Transaction};
use uuid::Uuid;

/// Inserts one outbox row; the caller commits.
pub(crate) async fn insert(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    id: EventId,
    event_type: EventType,
    aggregate_id: Uuid,
    payload: &serde_json::Value,
    traceparent: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO outbox (store_id, id, type, aggregate_id, payload, traceparent) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(store.as_uuid())
    .bind(id.as_uuid())
    .bind(event_type.as_str())
    .bind(aggregate_id)
    .bind(payload)
    .bind(traceparent)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Inserts several outbox rows of one store in one statement, the i-th
/// row from the i-th element of each slice, all with one `traceparent`;
/// the caller commits.
pub(crate) async fn insert_many(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    ids: &[Uuid],
    types: &[&str],
    aggregates: &[Uuid],
    payloads: &[serde_json::Value],
    traceparent: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO outbox (store_id, id, type, aggregate_id, payload, traceparent) \
         SELECT $1, id, type, aggregate_id, payload, $6 \
         FROM unnest($2::uuid[], $3::text[], $4::uuid[], $5::jsonb[]) AS e(id, type, aggregate_id, payload)",
    )
    .bind(store.as_uuid())
    .bind(ids)
    .bind(types)
    .bind(aggregates)
    .bind(payloads)
    .bind(traceparent)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Up to `limit` stores with unpublished rows.
pub(crate) async fn stores_with_pending(
    db: &PgPool,
    limit: i64,
) -> Result<Vec<StoreId>, sqlx::Error> {
    let stores: Vec<(Uuid,)> =
        sqlx::query_as("SELECT DISTINCT store_id FROM outbox WHERE published_at IS NULL LIMIT $1")
            .bind(limit)
            .fetch_all(db)
            .await?;
    Ok(stores
        .into_iter()
        .map(|(store,)| StoreId::from_uuid(store))
        .collect())
}

/// Unpublished rows of every store.
pub(crate) async fn pending_count(db: &PgPool) -> Result<i64, sqlx::Error> {
    let (pending,): (i64,) =
        sqlx::query_as("SELECT count(*) FROM outbox WHERE published_at IS NULL")
            .fetch_one(db)
            .await?;
    Ok(pending)
}

/// Takes the store's relay lock for the transaction, if no other
/// transaction holds it: whether it was taken.
pub(crate) async fn try_lock_store(
    conn: &mut PgConnection,
    store: StoreId,
) -> Result<bool, sqlx::Error> {
    let (mine,): (bool,) = sqlx::query_as(
        "SELECT pg_try_advisory_xact_lock(hashtextextended('mercato.outbox:' || $1::text, 0))",
    )
    .bind(store.as_uuid())
    .fetch_one(conn)
    .await?;
    Ok(mine)
}

/// One unpublished outbox row.
#[derive(sqlx::FromRow)]
pub(crate) struct OutboxRow {
    pub id: Uuid,
    #[sqlx(rename = "type")]
    pub event_type: String,
    pub aggregate_id: Uuid,
    pub occurred_at: DateTime<Utc>,
    pub payload: serde_json::Value,
    pub traceparent: Option<String>,
}

/// Claims the store's next `limit` unpublished rows in id order, skipping
/// rows other transactions hold.
pub(crate) async fn claim_batch(
    conn: &mut PgConnection,
    store: StoreId,
    limit: i64,
) -> Result<Vec<OutboxRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, type, aggregate_id, occurred_at, payload, traceparent FROM outbox \
         WHERE store_id = $1 AND published_at IS NULL \
         ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED",
    )
    .bind(store.as_uuid())
    .bind(limit)
    .fetch_all(conn)
    .await
}

/// Marks the store's rows `ids` published.
pub(crate) async fn mark_published(
    conn: &mut PgConnection,
    store: StoreId,
    ids: &[Uuid],
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE outbox SET published_at = now() WHERE store_id = $1 AND id = ANY($2)")
        .bind(store.as_uuid())
        .bind(ids)
        .execute(conn)
        .await?;
    Ok(())
}

/// The type and payload of the store's event `id`, as recorded.
pub(crate) async fn type_and_payload(
    db: &PgPool,
    store: StoreId,
    id: EventId,
) -> Result<Option<(String, serde_json::Value)>, sqlx::Error> {
    sqlx::query_as("SELECT type, payload FROM outbox WHERE store_id = $1 AND id = $2")
        .bind(store.as_uuid())
        .bind(id.as_uuid())
        .fetch_optional(db)
        .await
}
