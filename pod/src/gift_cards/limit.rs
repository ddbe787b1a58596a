//! The limit of gift card lookups by code: per (store, client address)
//! and per store, each a fixed window of `model::LOOKUP_WINDOW_SECS`
//! counting every lookup, found or not (a guesser learns nothing from
//! which ones count). Over either, `429 rate_limited` with `Retry-After`
//! (the rest of the window). Counters live in Redis; when it cannot be
//! reached an in-process map stands in (per process: looser, never
//! absent), as for logins (`accounts::rate_limit`).
//!
//! A checkout naming gift cards is a lookup too, but a flash sale of
//! shoppers paying with their own cards must not trip a store-wide limit:
//! there only the codes that name no card count (a guesser's misses, with
//! the same numbers and their own counters), and a client over the limit
//! is refused before its codes are read, hit or miss alike, so a guess
//! past the limit learns nothing.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant};

use mercato_tenants::StoreId;

use super::model::{self, LookupCounts, LOOKUP_WINDOW_SECS};
use crate::keys;
use crate::state::AppState;

/// Counts this lookup; `Some(retry_after_secs)` when it is over a limit.
pub async fn count_lookup(state: &AppState, store: StoreId, address: &str) -> Option<u64> {
    count(
        state,
        &keys::gift_card_lookups_by_address(store, address),
        &keys::gift_card_lookups(store),
    )
    .await
}

/// Counts a checkout's code that named no card; `Some(retry_after_secs)`
/// when the client or the store is now over a limit.
pub async fn count_checkout_miss(state: &AppState, store: StoreId, address: &str) -> Option<u64> {
    count(
        state,
        &keys::gift_card_misses_by_address(store, address),
        &keys::gift_card_misses(store),
    )
    .await
}

/// `Some(retry_after_secs)` when a checkout's codes must not be read: the
/// client or the store is over the limit of misses (counts nothing).
pub async fn checkout_limited(state: &AppState, store: StoreId, address: &str) -> Option<u64> {
    let address_key = keys::gift_card_misses_by_address(store, address);
    let store_key = keys::gift_card_misses(store);
    let counts = match peek_redis(state, &address_key, &store_key).await {
        Ok(counts) => counts,
        Err(_) => peek_local(&address_key, &store_key),
    };
    model::lookup_limited(LookupCounts {
        // Over the limit once the next one would be.
        address: counts.address.saturating_add(1),
        store: counts.store.saturating_add(1),
        ..counts
    })
}

async fn count(state: &AppState, address_key: &str, store_key: &str) -> Option<u64> {
    let counts = match count_redis(state, address_key, store_key).await {
        Ok(counts) => counts,
        Err(e) => {
            tracing::warn!(error = %e, "redis unavailable for gift card lookup limits; counting in process");
            count_local(address_key, store_key)
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

async fn peek_redis(
    state: &AppState,
    address_key: &str,
    store_key: &str,
) -> Result<LookupCounts, redis::RedisError> {
    let mut conn = state.redis.connection().await?;
    let (address, ttl, store): (Option<u32>, i64, Option<u32>) = redis::pipe()
        .get(address_key)
        .ttl(address_key)
        .get(store_key)
        .query_async(&mut conn)
        .await
        .inspect_err(|_| state.redis.failed())?;
    Ok(LookupCounts {
        address: address.unwrap_or(0),
        store: store.unwrap_or(0),
        window_left_secs: u64::try_from(ttl).unwrap_or(LOOKUP_WINDOW_SECS),
    })
}

fn peek_local(address_key: &str, store_key: &str) -> LookupCounts {
    let map = LOCAL.lock().unwrap_or_else(|e| e.into_inner());
    let now = Instant::now();
    let read = |key: &str| match map.get(key) {
        Some((n, end)) if *end > now => (*n, end.saturating_duration_since(now).as_secs()),
        _ => (0, LOOKUP_WINDOW_SECS),
    };
    let (address, left) = read(address_key);
    let (store, _) = read(store_key);
    LookupCounts {
        address,
        store,
        window_left_secs: left,
    }
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
