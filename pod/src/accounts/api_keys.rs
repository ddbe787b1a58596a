//! API keys for integrations: a non-owner staff credential sent as
//! `X-Api-Key`. The key is shown once at creation; only its sha256 is kept.
//! Made, listed and revoked by the owner, through [`create`], [`list`] and
//! [`revoke`] (`/admin/api/api-keys` and the admin's API keys page).

use chrono::{DateTime, Utc};
use mercato_tenants::{ApiError, ApiKeyId, StoreId};
use serde::Serialize;
use sqlx::PgPool;

use super::model::ApiKey;
use super::{secrets, sql};
use crate::error::PodError;
use crate::tenancy::begin_write;

/// The header integrations send their key in.
pub const HEADER: &str = "x-api-key";
/// Every key starts with this.
const KEY_PREFIX: &str = "mk_";
/// How often `last_used_at` is written at most.
const TOUCH_EVERY_SECS: i64 = 60;

/// A new key and its prefix (what listings show of it).
pub fn new_key() -> (String, String) {
    let key = format!("{KEY_PREFIX}{}", secrets::random_token());
    let prefix: String = key.chars().take(KEY_PREFIX.len() + 8).collect();
    (key, prefix)
}

/// Most characters in a key's name.
pub const MAX_NAME: usize = 100;

/// A new key: `key` is shown this once.
#[derive(Serialize, utoipa::ToSchema)]
pub struct CreatedApiKey {
    pub id: ApiKeyId,
    pub name: String,
    pub prefix: String,
    pub key: String,
    pub created_at: DateTime<Utc>,
}

/// Makes a key named `name` (trimmed, 1 to [`MAX_NAME`] characters); the
/// answer holds the key, which is never shown again.
pub async fn create(db: &PgPool, store: StoreId, name: &str) -> Result<CreatedApiKey, PodError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME {
        return Err(ApiError::invalid("name must be 1 to 100 characters").into());
    }
    let (key, prefix) = new_key();
    let id = ApiKeyId::new();
    let mut tx = begin_write(db, store).await?;
    let created_at = sql::api_keys::insert(
        &mut *tx,
        store,
        id,
        name,
        &prefix,
        &secrets::sha256_hex(&key),
    )
    .await
    .map_err(PodError::internal)?;
    tx.commit().await.map_err(PodError::internal)?;
    Ok(CreatedApiKey {
        id,
        name: name.to_owned(),
        prefix,
        key,
        created_at,
    })
}

/// The keys not revoked, by id, at most `limit` after the cursor.
pub async fn list(
    db: &PgPool,
    store: StoreId,
    after: Option<ApiKeyId>,
    limit: i64,
) -> Result<Vec<ApiKey>, PodError> {
    sql::api_keys::list(db, store, after, limit)
        .await
        .map_err(PodError::internal)
}

/// Revokes a key: it stops working at once. `404` when the store has no
/// such key, or it is revoked already.
pub async fn revoke(db: &PgPool, store: StoreId, id: ApiKeyId) -> Result<(), PodError> {
    let mut tx = begin_write(db, store).await?;
    let revoked = sql::api_keys::revoke(&mut *tx, store, id)
        .await
        .map_err(PodError::internal)?;
    if !revoked {
        return Err(ApiError::not_found("api key").into());
    }
    tx.commit().await.map_err(PodError::internal)?;
    Ok(())
}

/// The key behind `X-Api-Key` in `store`, if it exists and is not revoked.
/// Records the use at most once a minute.
pub async fn authenticate(
    db: &PgPool,
    store: StoreId,
    key: &str,
) -> Result<Option<ApiKeyId>, sqlx::Error> {
    if !key.starts_with(KEY_PREFIX) || key.len() > 128 {
        return Ok(None);
    }
    let row = sql::api_keys::find_active(db, store, &secrets::sha256_hex(key)).await?;
    let Some((id, last_used)) = row else {
        return Ok(None);
    };
    let stale = last_used
        .map(|t| (Utc::now() - t).num_seconds() >= TOUCH_EVERY_SECS)
        .unwrap_or(true);
    if stale {
        sql::api_keys::touch(db, store, id, TOUCH_EVERY_SECS).await?;
    }
    Ok(Some(ApiKeyId::from_uuid(id)))
}
