//! Login rate limits. Failed logins are counted per (store, account email)
//! and per (store, client address) within a window; once either count
//! reaches its limit, every attempt is refused with `429` until that
//! counter's window ends, even one with the right password.
//!
//! Counters live in Redis. If Redis cannot be reached, an in-process map
//! stands in (per process, so the limit is looser, never absent): a login
//! never fails because Redis is down.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant};

use axum::http::request::Parts;
use mercato_tenants::StoreId;

use crate::keys;
use crate::state::AppState;

/// A counter's current value and the seconds left in its window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Count {
    pub failures: u32,
    pub ttl_secs: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub per_account: u32,
    pub per_address: u32,
    pub window_secs: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allow,
    /// Refuse; the client may try again after this many seconds.
    Block {
        retry_after_secs: u64,
    },
}

/// The limit decision, before the password is looked at.
pub fn decide(account: Count, address: Count, limits: Limits) -> Decision {
    let over = |c: Count, limit: u32| c.failures >= limit;
    let retry = |c: Count| c.ttl_secs.clamp(1, limits.window_secs.max(1));
    match (
        over(account, limits.per_account),
        over(address, limits.per_address),
    ) {
        (false, false) => Decision::Allow,
        (true, false) => Decision::Block {
            retry_after_secs: retry(account),
        },
        (false, true) => Decision::Block {
            retry_after_secs: retry(address),
        },
        (true, true) => Decision::Block {
            retry_after_secs: retry(account).max(retry(address)),
        },
    }
}

/// The client address the router saw (it overwrites any value the client
/// sent), or `unknown`.
pub fn client_address(parts: &Parts) -> String {
    parts
        .headers
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .map(str::trim)
        .filter(|v| !v.is_empty() && v.len() <= 64 && v.bytes().all(|b| b.is_ascii_graphic()))
        .unwrap_or("unknown")
        .to_owned()
}

/// Extractor of [`client_address`].
pub struct ClientAddress(pub String);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for ClientAddress {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(client_address(parts)))
    }
}

/// Who is logging in: the two counters that apply.
pub struct Attempt {
    account_key: String,
    address_key: String,
}

impl Attempt {
    pub fn new(store: StoreId, kind: &str, email: &str, address: &str) -> Self {
        Self {
            account_key: keys::login_failures_by_account(store, kind, email),
            address_key: keys::login_failures_by_address(store, address),
        }
    }
}

pub fn limits(state: &AppState) -> Limits {
    Limits {
        per_account: state.config.accounts.login_failures_per_account,
        per_address: state.config.accounts.login_failures_per_address,
        window_secs: state.config.accounts.login_window_secs,
    }
}

/// Whether this attempt may go on to check the password.
pub async fn check(state: &AppState, attempt: &Attempt) -> Decision {
    let limits = limits(state);
    let (account, address) = match read_redis(state, attempt).await {
        Ok(counts) => counts,
        Err(e) => {
            tracing::warn!(error = %e, "redis unavailable for login limits; counting in process");
            (
                local_read(&attempt.account_key),
                local_read(&attempt.address_key),
            )
        }
    };
    decide(account, address, limits)
}

/// Counts a failed attempt against both counters.
pub async fn record_failure(state: &AppState, attempt: &Attempt) {
    let window = state.config.accounts.login_window_secs.max(1);
    if let Err(e) = incr_redis(state, attempt, window).await {
        tracing::warn!(error = %e, "redis unavailable for login limits; counting in process");
        local_incr(&attempt.account_key, window);
        local_incr(&attempt.address_key, window);
    }
}

/// After a successful login the account's failures are forgotten (the
/// address counter keeps running).
pub async fn record_success(state: &AppState, attempt: &Attempt) {
    local_clear(&attempt.account_key);
    if let Ok(mut conn) = state.redis.connection().await {
        let cleared: Result<(), redis::RedisError> = redis::cmd("DEL")
            .arg(&attempt.account_key)
            .query_async(&mut conn)
            .await;
        if let Err(e) = cleared {
            tracing::warn!(error = %e, "clearing login failures failed");
        }
    }
}

async fn read_redis(
    state: &AppState,
    attempt: &Attempt,
) -> Result<(Count, Count), redis::RedisError> {
    let mut conn = state.redis.connection().await?;
    let (a, a_ttl, b, b_ttl): (Option<u32>, i64, Option<u32>, i64) = redis::pipe()
        .get(&attempt.account_key)
        .ttl(&attempt.account_key)
        .get(&attempt.address_key)
        .ttl(&attempt.address_key)
        .query_async(&mut conn)
        .await
        .inspect_err(|_| state.redis.failed())?;
    let count = |n: Option<u32>, ttl: i64| Count {
        failures: n.unwrap_or(0),
        ttl_secs: ttl.max(0) as u64,
    };
    Ok((count(a, a_ttl), count(b, b_ttl)))
}

async fn incr_redis(
    state: &AppState,
    attempt: &Attempt,
    window: u64,
) -> Result<(), redis::RedisError> {
    let mut conn = state.redis.connection().await?;
    // SET NX EX starts a window only if none runs; INCR counts in it. One
    // MULTI, so a counter never exists without its expiry.
    let mut pipe = redis::pipe();
    pipe.atomic();
    for key in [&attempt.account_key, &attempt.address_key] {
        pipe.cmd("SET")
            .arg(key)
            .arg(0)
            .arg("EX")
            .arg(window)
            .arg("NX")
            .ignore()
            .incr(key, 1)
            .ignore();
    }
    pipe.query_async::<()>(&mut conn)
        .await
        .inspect_err(|_| state.redis.failed())
}

/// The fallback counters: key -> (failures, window end).
static LOCAL: LazyLock<Mutex<HashMap<String, (u32, Instant)>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

fn local_read(key: &str) -> Count {
    let map = LOCAL.lock().unwrap_or_else(|e| e.into_inner());
    let now = Instant::now();
    match map.get(key) {
        Some((n, end)) if *end > now => Count {
            failures: *n,
            ttl_secs: end.duration_since(now).as_secs().max(1),
        },
        _ => Count::default(),
    }
}

fn local_incr(key: &str, window: u64) {
    let mut map = LOCAL.lock().unwrap_or_else(|e| e.into_inner());
    let now = Instant::now();
    if map.len() > 100_000 {
        map.retain(|_, (_, end)| *end > now);
    }
    let entry = map
        .entry(key.to_owned())
        .or_insert((0, now + Duration::from_secs(window)));
    if entry.1 <= now {
        *entry = (0, now + Duration::from_secs(window));
    }
    entry.0 = entry.0.saturating_add(1);
}

fn local_clear(key: &str) {
    LOCAL.lock().unwrap_or_else(|e| e.into_inner()).remove(key);
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        per_account: 5,
        per_address: 50,
        window_secs: 900,
    };

    fn count(failures: u32, ttl_secs: u64) -> Count {
        Count { failures, ttl_secs }
    }

    #[test]
    fn under_both_limits_is_allowed() {
        assert_eq!(decide(count(0, 0), count(0, 0), LIMITS), Decision::Allow);
        assert_eq!(decide(count(4, 10), count(49, 10), LIMITS), Decision::Allow);
    }

    #[test]
    fn reaching_the_account_limit_blocks_until_its_window_ends() {
        assert_eq!(
            decide(count(5, 120), count(5, 600), LIMITS),
            Decision::Block {
                retry_after_secs: 120
            }
        );
    }

    #[test]
    fn reaching_the_address_limit_blocks_any_account() {
        assert_eq!(
            decide(count(0, 0), count(50, 30), LIMITS),
            Decision::Block {
                retry_after_secs: 30
            }
        );
    }

    #[test]
    fn both_over_waits_for_the_later_window_and_retry_is_at_least_a_second() {
        assert_eq!(
            decide(count(9, 100), count(60, 700), LIMITS),
            Decision::Block {
                retry_after_secs: 700
            }
        );
        // A counter without a ttl (should not happen) still says retry later.
        assert_eq!(
            decide(count(5, 0), count(0, 0), LIMITS),
            Decision::Block {
                retry_after_secs: 1
            }
        );
    }

    #[test]
    fn local_counters_count_within_their_window() {
        let key = format!("test:{}", uuid::Uuid::now_v7());
        assert_eq!(local_read(&key), Count::default());
        local_incr(&key, 60);
        local_incr(&key, 60);
        let c = local_read(&key);
        assert_eq!(c.failures, 2);
        assert!(c.ttl_secs >= 1 && c.ttl_secs <= 60);
        local_clear(&key);
        assert_eq!(local_read(&key).failures, 0);
    }
}
