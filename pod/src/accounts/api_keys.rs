//! API keys for integrations: a non-owner staff credential sent as
//! `X-Api-Key`. The key is shown once at creation; only its sha256 is kept.

use chrono::Utc;
use mercato_tenants::{ApiKeyId, StoreId};
use sqlx::PgPool;

use super::{secrets, sql};

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
