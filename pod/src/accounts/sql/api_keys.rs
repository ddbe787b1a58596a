//! The SQL of `api_keys`.

use chrono::{DateTime, Utc};
use mercato_tenants::{ApiKeyId, StoreId};
use sqlx::{PgExecutor, PgPool};
use uuid::Uuid;

use crate::accounts::model::ApiKey;

/// The key with this sha256, if not revoked: its id and last use.
pub(crate) async fn find_active(
    db: &PgPool,
    store: StoreId,
    key_sha256: &str,
) -> Result<Option<(Uuid, Option<DateTime<Utc>>)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, last_used_at FROM api_keys
         WHERE store_id = $1 AND key_sha256 = $2 AND revoked_at IS NULL",
    )
    .bind(store.as_uuid())
    .bind(key_sha256)
    .fetch_optional(db)
    .await
}

/// Sets `last_used_at` unless it is less than `every_secs` old.
pub(crate) async fn touch(
    db: &PgPool,
    store: StoreId,
    id: Uuid,
    every_secs: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE api_keys SET last_used_at = now()
         WHERE store_id = $1 AND id = $2
           AND (last_used_at IS NULL OR last_used_at < now() - make_interval(secs => $3))",
    )
    .bind(store.as_uuid())
    .bind(id)
    .bind(every_secs as f64)
    .execute(db)
    .await?;
    Ok(())
}

/// Inserts a key (only its sha256); its creation time.
pub(crate) async fn insert<'e>(
    exec: impl PgExecutor<'e>,
    store: StoreId,
    id: ApiKeyId,
    name: &str,
    prefix: &str,
    key_sha256: &str,
) -> Result<DateTime<Utc>, sqlx::Error> {
    let (created_at,): (DateTime<Utc>,) = sqlx::query_as(
        "INSERT INTO api_keys (store_id, id, name, prefix, key_sha256) VALUES ($1, $2, $3, $4, $5)
         RETURNING created_at",
    )
    .bind(store.as_uuid())
    .bind(id.as_uuid())
    .bind(name)
    .bind(prefix)
    .bind(key_sha256)
    .fetch_one(exec)
    .await?;
    Ok(created_at)
}

/// Keys not revoked, by id, `limit` after the cursor.
pub(crate) async fn list(
    db: &PgPool,
    store: StoreId,
    after: Option<ApiKeyId>,
    limit: i64,
) -> Result<Vec<ApiKey>, sqlx::Error> {
    type Row = (Uuid, String, String, DateTime<Utc>, Option<DateTime<Utc>>);
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT id, name, prefix, created_at, last_used_at FROM api_keys
         WHERE store_id = $1 AND revoked_at IS NULL AND ($2::uuid IS NULL OR id > $2)
         ORDER BY id LIMIT $3",
    )
    .bind(store.as_uuid())
    .bind(after.map(|a| a.as_uuid()))
    .bind(limit)
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, name, prefix, created_at, last_used_at)| ApiKey {
            id: ApiKeyId::from_uuid(id),
            name,
            prefix,
            created_at,
            last_used_at,
        })
        .collect())
}

/// Revokes a key; whether it was there (and not yet revoked).
pub(crate) async fn revoke<'e>(
    exec: impl PgExecutor<'e>,
    store: StoreId,
    id: ApiKeyId,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE api_keys SET revoked_at = now() WHERE store_id = $1 AND id = $2 AND revoked_at IS NULL",
    )
    .bind(store.as_uuid())
    .bind(id.as_uuid())
    .execute(exec)
    .await?;
    Ok(done.rows_affected() > 0)
}
