//! The limit of gift card lookups by code: per (store, client address)
//! and per store, each a fixed window of `model::LOOKUP_WINDOW_SECS`
//! counting every lookup, found or not (a guesser learns nothing from
//! which ones count). Over either, `429 rate_limited` with `Retry-After`
//! (the rest of the window). Counters live in Redis; when it cannot be
//! reached an in-process map stands in (per process: looser, never
//! absent), as for logins (`accounts::rate_limit`).

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant};

use mercato_tenants::StoreId;

use super::model::{self, LookupCounts, LOOKUP_WINDOW_SECS};
use crate::keys;
use crate::state::AppState;

/// Counts this lookup; `Some(retry_after_secs)` when it is over a limit.
pub async fn count_lookup(state: &AppState, store: StoreId, address: &str) -> Option<u64> {
    let address_key = keys::gift_card_lookups_by_address(store, address);
    let store_key = keys::gift_card_lookups(store);
    let counts = match count_redis(state, &address_key, &store_key).await {
        Ok(counts) => counts,
        Err(e) => {
            tracing::warn!(error = %e, "redis unavailable for gift card lookup limits; counting in process");
            count_local(&address_key, &store_key)
        }
    };
    model::lookup_limited(counts)
}

async fn count_redis(
    state: &AppState,
    address_key: &str,
    store_key: &str,
) -> Result<LookupCounts, redis::RedisError> {
    let mut conn = state.redis.connection().await?;
    let window = LOOKUP_WINDOW_SECS as i64;
    // One MULTI: a counter never exists without its expiry, and the
    // window starts with the first lookup in it.
    let (address, ttl, store): (u32, i64, u32) = redis::pipe()
        .atomic()
        .cmd("SET")
        .arg(address_key)
        .arg(0)
        .arg("EX")
        .arg(window)
        .arg("NX")
        .ignore()
        .incr(address_key, 1)
        .ttl(address_key)
        .cmd("SET")
        .arg(store_key)
        .arg(0)
        .arg("EX")
        .arg(window)
        .arg("NX")
        .ignore()
        .incr(store_key, 1)
        .query_async(&mut conn)
        .await
        .inspect_err(|_| state.redis.failed())?;
    Ok(LookupCounts {
        address,
        store,
        window_left_secs: u64::try_from(ttl).unwrap_or(LOOKUP_WINDOW_SECS),
    })
}

/// The fallback counters: key -> (count, end of window).
static LOCAL: LazyLock<Mutex<HashMap<String, (u32, Instant)>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

fn count_local(address_key: &str, store_key: &str) -> LookupCounts {
    let mut map = LOCAL.lock().unwrap_or_else(|e| e.into_inner());
    let now = Instant::now();
    if map.len() > 100_000 {
        map.retain(|_, (_, end)| *end > now);
    }
    let mut bump = |key: &str| {
        let entry = map
            .entry(key.to_owned())
            .or_insert((0, now + Duration::from_secs(LOOKUP_WINDOW_SECS)));
        if entry.1 <= now {
            *entry = (0, now + Duration::from_secs(LOOKUP_WINDOW_SECS));
        }
        entry.0 = entry.0.saturating_add(1);
        *entry
    };
    let (address, end) = bump(address_key);
    let (store, _) = bump(store_key);
    LookupCounts {
        address,
        store,
        window_left_secs: end.saturating_duration_since(now).as_secs(),
    }
}
