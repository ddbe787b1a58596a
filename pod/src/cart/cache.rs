//! The Redis copy of a cart: one hash per cart, written after every commit
//! with a TTL. Fields: `id` (cart id), `v` (version), `cart` (the cart's
//! own fields as JSON) and `l:<variant id>` (a line as JSON).
//!
//! A copy is only ever replaced by a newer version of the same cart (a Lua
//! script compares), so a slow writer cannot put back an older state.

use std::collections::HashMap;
use std::sync::LazyLock;

use redis::AsyncCommands as _;

use super::model::{sort_lines, CartRecord, Line};
use crate::redis_handle::Redis;

const PUT: &str = r"
local id = redis.call('HGET', KEYS[1], 'id')
local v = redis.call('HGET', KEYS[1], 'v')
if id == ARGV[1] and v and tonumber(v) >= tonumber(ARGV[2]) then
  return 0
end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], unpack(ARGV, 4))
redis.call('EXPIRE', KEYS[1], ARGV[3])
return 1
";

static SCRIPT: LazyLock<redis::Script> = LazyLock::new(|| redis::Script::new(PUT));

/// Why a copy could not be used.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("undecodable cart copy: {0}")]
    Decode(#[from] serde_json::Error),
}

/// The copy under `key`, if there is one.
pub async fn get(redis: &Redis, key: &str) -> Result<Option<CartRecord>, CacheError> {
    let mut conn = redis.connection().await?;
    let fields: HashMap<String, String> = conn.hgetall(key).await?;
    let Some(header) = fields.get("cart") else {
        return Ok(None);
    };
    let mut cart: CartRecord = serde_json::from_str(header)?;
    let mut lines = fields
        .iter()
        .filter(|(k, _)| k.starts_with("l:"))
        .map(|(_, v)| serde_json::from_str::<Line>(v))
        .collect::<Result<Vec<_>, _>>()?;
    sort_lines(&mut lines);
    cart.lines = lines;
    Ok(Some(cart))
}

/// Writes `cart` under `key` with a TTL, unless the copy there is as new.
pub async fn put(
    redis: &Redis,
    key: &str,
    cart: &CartRecord,
    ttl_secs: u64,
) -> Result<(), CacheError> {
    let mut invocation = SCRIPT.key(key);
    invocation
        .arg(cart.id.to_string())
        .arg(cart.version)
        .arg(ttl_secs.max(1))
        .arg("id")
        .arg(cart.id.to_string())
        .arg("v")
        .arg(cart.version)
        .arg("cart")
        .arg(serde_json::to_string(cart)?);
    for line in &cart.lines {
        invocation
            .arg(format!("l:{}", line.variant_id))
            .arg(serde_json::to_string(line)?);
    }
    let mut conn = redis.connection().await?;
    let _: i64 = invocation.invoke_async(&mut conn).await?;
    Ok(())
}

/// Drops the copy under `key`.
pub async fn delete(redis: &Redis, key: &str) -> Result<(), CacheError> {
    let mut conn = redis.connection().await?;
    let _: i64 = conn.del(key).await?;
    Ok(())
}
