//! Login rate limits, decided per client so that a stranger guessing an
//! account's password slows only himself, never the account's owner.
//!
//! Three counters of failed logins, each living `login_window_secs` after
//! its last failure:
//! - per (store, account, client address): past `login_failures_per_client`
//!   that client waits before its next try;
//! - per (store, client address), whatever the account: past
//!   `login_failures_per_address` that address waits (one client trying
//!   many accounts);
//! - per (store, account) from every address: past
//!   `login_failures_per_account` clients that never signed in to the
//!   account wait (a guessing attack spread over many addresses), while a
//!   client that did sign in to it lately (a "known client") is not slowed.
//!   A brand-new client of the owner's may be slowed during such an attack;
//!   that is the price of the ceiling.
//!
//! The wait grows with the failures: `login_delay_base_secs` at the limit,
//! doubling with each failure past it, capped at `login_delay_max_secs`
//! ([`wait_secs`]). Refused attempts are answered `429 rate_limited` with
//! `Retry-After` before the password is looked at, and do not count. A
//! success forgets that client's failures on the account and marks it
//! known.
//!
//! Counters live in Redis. If Redis cannot be reached, an in-process map
//! stands in (per process, so the limit is looser, never absent): a login
//! never fails because Redis is down. [`decide`] is pure.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant};

use axum::http::request::Parts;
use mercato_tenants::StoreId;

use crate::keys;
use crate::state::AppState;

/// A counter's failures and the time of the last one (unix seconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Count {
    pub failures: u32,
    pub last_failure: i64,
}

/// What the counters of one attempt say.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counts {
    /// This account from this client address.
    pub client: Count,
    /// This client address, any account.
    pub address: Count,
    /// This account, every address.
    pub account: Count,
    /// This client signed in to this account lately.
    pub known_client: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    pub per_client: u32,
    pub per_address: u32,
    pub per_account: u32,
    pub base_delay_secs: u64,
    pub max_delay_secs: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allow,
    /// Refuse; the client may try again after this many seconds.
    Block {
        retry_after_secs: u64,
    },
}

/// The wait a counter imposes after its last failure: none below `limit`,
/// then the base delay, doubling with each failure past the limit, capped.
pub fn wait_secs(failures: u32, limit: u32, policy: &Policy) -> u64 {
    let limit = limit.max(1);
    if failures < limit {
        return 0;
    }
    let doublings = (failures - limit).min(62);
    policy
        .base_delay_secs
        .max(1)
        .saturating_mul(1u64 << doublings)
        .min(policy.max_delay_secs.max(1))
}

/// The limit decision at `now` (unix seconds), before the password is
/// looked at.
pub fn decide(now: i64, counts: Counts, policy: &Policy) -> Decision {
    let left = |c: Count, limit: u32| {
        let elapsed = u64::try_from(now.saturating_sub(c.last_failure)).unwrap_or(0);
        wait_secs(c.failures, limit, policy).saturating_sub(elapsed)
    };
    let mut retry =
        left(counts.client, policy.per_client).max(left(counts.address, policy.per_address));
    if !counts.known_client {
        retry = retry.max(left(counts.account, policy.per_account));
    }
    if retry == 0 {
        Decision::Allow
    } else {
        Decision::Block {
            retry_after_secs: retry,
        }
    }
}

/// The client address the router saw (it overwrites any value the client
/// sent), or `unknown`.
pub fn client_address(parts: &Parts) -> String {
    mercato_tenants::http::client_address(&parts.headers)
}

/// Extractor of [`client_address`].
pub struct ClientAddress(pub String);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for ClientAddress {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(client_address(parts)))
    }
}

/// Who is logging in: the counters that apply.
pub struct Attempt {
    client_key: String,
    address_key: String,
    account_key: String,
    known_key: String,
}

impl Attempt {
    pub fn new(store: StoreId, kind: &str, email: &str, address: &str) -> Self {
        Self {
            client_key: keys::login_failures_by_client(store, kind, email, address),
            address_key: keys::login_failures_by_address(store, address),
            account_key: keys::login_failures_by_account(store, kind, email),
            known_key: keys::login_known_client(store, kind, email, address),
        }
    }

    fn failure_keys(&self) -> [&str; 3] {
        [&self.client_key, &self.address_key, &self.account_key]
    }
}

pub fn policy(state: &AppState) -> Policy {
    let c = &state.config.accounts;
    Policy {
        per_client: c.login_failures_per_client,
        per_address: c.login_failures_per_address,
        per_account: c.login_failures_per_account,
        base_delay_secs: c.login_delay_base_secs,
        max_delay_secs: c.login_delay_max_secs,
    }
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Whether this attempt may go on to check the password.
pub async fn check(state: &AppState, attempt: &Attempt) -> Decision {
    let counts = match read_redis(state, attempt).await {
        Ok(counts) => counts,
        Err(e) => {
            tracing::warn!(error = %e, "redis unavailable for login limits; counting in process");
            local_counts(attempt)
        }
    };
    decide(now(), counts, &policy(state))
}

/// Counts a failed attempt against the three counters.
pub async fn record_failure(state: &AppState, attempt: &Attempt) {
    let window = state.config.accounts.login_window_secs.max(1);
    let now = now();
    if let Err(e) = incr_redis(state, attempt, now, window).await {
        tracing::warn!(error = %e, "redis unavailable for login limits; counting in process");
        for key in attempt.failure_keys() {
            local_incr(key, now, window);
        }
    }
}

/// After a successful login this client's failures on the account are
/// forgotten and the client is known to the account (the address and
/// account counters keep running).
pub async fn record_success(state: &AppState, attempt: &Attempt) {
    let known_secs = state.config.accounts.login_known_client_secs.max(1);
    local_clear(&attempt.client_key);
    local_mark_known(&attempt.known_key, known_secs);
    if let Ok(mut conn) = state.redis.connection().await {
        let done: Result<(), redis::RedisError> = redis::pipe()
            .del(&attempt.client_key)
            .ignore()
            .cmd("SET")
            .arg(&attempt.known_key)
            .arg(1)
            .arg("EX")
            .arg(known_secs)
            .ignore()
            .query_async(&mut conn)
            .await;
        if let Err(e) = done {
            tracing::warn!(error = %e, "recording a successful login failed");
        }
    }
}

async fn read_redis(state: &AppState, attempt: &Attempt) -> Result<Counts, redis::RedisError> {
    let mut conn = state.redis.connection().await?;
    type Fields = (Option<u32>, Option<i64>);
    let (client, address, account, known): (Fields, Fields, Fields, bool) = redis::pipe()
        .hget(&attempt.client_key, &["n", "t"])
        .hget(&attempt.address_key, &["n", "t"])
        .hget(&attempt.account_key, &["n", "t"])
        .exists(&attempt.known_key)
        .query_async(&mut conn)
        .await
        .inspect_err(|_| state.redis.failed())?;
    let count = |(n, t): Fields| Count {
        failures: n.unwrap_or(0),
        last_failure: t.unwrap_or(0),
    };
    Ok(Counts {
        client: count(client),
        address: count(address),
        account: count(account),
        known_client: known,
    })
}

async fn incr_redis(
    state: &AppState,
    attempt: &Attempt,
    now: i64,
    window: u64,
) -> Result<(), redis::RedisError> {
    let mut conn = state.redis.connection().await?;
    // One MULTI, so a counter never exists without its expiry; each failure
    // pushes the expiry back.
    let mut pipe = redis::pipe();
    pipe.atomic();
    for key in attempt.failure_keys() {
        pipe.hincr(key, "n", 1)
            .ignore()
            .hset(key, "t", now)
            .ignore()
            .expire(key, i64::try_from(window).unwrap_or(i64::MAX))
            .ignore();
    }
    pipe.query_async::<()>(&mut conn)
        .await
        .inspect_err(|_| state.redis.failed())
}

/// The fallback counters: key -> (failures, last failure, expiry).
static LOCAL: LazyLock<Mutex<HashMap<String, (Count, Instant)>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

fn local_read(key: &str) -> Count {
    let map = LOCAL.lock().unwrap_or_else(|e| e.into_inner());
    match map.get(key) {
        Some((count, end)) if *end > Instant::now() => *count,
        _ => Count::default(),
    }
}

fn local_counts(attempt: &Attempt) -> Counts {
    Counts {
        client: local_read(&attempt.client_key),
        address: local_read(&attempt.address_key),
        account: local_read(&attempt.account_key),
        known_client: local_read(&attempt.known_key).failures > 0,
    }
}

fn local_incr(key: &str, now: i64, window: u64) {
    let mut map = LOCAL.lock().unwrap_or_else(|e| e.into_inner());
    let at = Instant::now();
    if map.len() > 100_000 {
        map.retain(|_, (_, end)| *end > at);
    }
    let entry = map.entry(key.to_owned()).or_insert((Count::default(), at));
    if entry.1 <= at {
        entry.0 = Count::default();
    }
    entry.0.failures = entry.0.failures.saturating_add(1);
    entry.0.last_failure = now;
    entry.1 = at + Duration::from_secs(window);
}

/// Marks a known client in the fallback map (a count of one).
fn local_mark_known(key: &str, secs: u64) {
    let mut map = LOCAL.lock().unwrap_or_else(|e| e.into_inner());
    let known = Count {
        failures: 1,
        last_failure: 0,
    };
    map.insert(
        key.to_owned(),
        (known, Instant::now() + Duration::from_secs(secs)),
    );
}

fn local_clear(key: &str) {
    LOCAL.lock().unwrap_or_else(|e| e.into_inner()).remove(key);
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const POLICY: Policy = Policy {
        per_client: 5,
        per_address: 50,
        per_account: 100,
        base_delay_secs: 30,
        max_delay_secs: 900,
    };
    const NOW: i64 = 1_000_000;

    fn count(failures: u32, secs_ago: i64) -> Count {
        Count {
            failures,
            last_failure: NOW - secs_ago,
        }
    }

    fn block(secs: u64) -> Decision {
        Decision::Block {
            retry_after_secs: secs,
        }
    }

    #[test]
    fn under_every_limit_is_allowed() {
        assert_eq!(decide(NOW, Counts::default(), &POLICY), Decision::Allow);
        let counts = Counts {
            client: count(4, 0),
            address: count(49, 0),
            account: count(99, 0),
            known_client: false,
        };
        assert_eq!(decide(NOW, counts, &POLICY), Decision::Allow);
    }

    #[test]
    fn the_wait_doubles_past_the_limit_up_to_the_cap() {
        let waits: Vec<u64> = (4..=12).map(|n| wait_secs(n, 5, &POLICY)).collect();
        assert_eq!(waits, [0, 30, 60, 120, 240, 480, 900, 900, 900]);
        assert_eq!(wait_secs(u32::MAX, 5, &POLICY), 900);
    }

    #[test]
    fn a_client_over_its_limit_waits_what_is_left_of_its_delay() {
        let counts = Counts {
            client: count(6, 20),
            ..Default::default()
        };
        assert_eq!(decide(NOW, counts, &POLICY), block(40));
        // Once the delay has passed the client may try again.
        let counts = Counts {
            client: count(6, 60),
            ..Default::default()
        };
        assert_eq!(decide(NOW, counts, &POLICY), Decision::Allow);
    }

    #[test]
    fn an_address_over_its_limit_waits_for_any_account() {
        let counts = Counts {
            address: count(50, 10),
            ..Default::default()
        };
        assert_eq!(decide(NOW, counts, &POLICY), block(20));
    }

    #[test]
    fn the_account_ceiling_slows_only_clients_the_account_does_not_know() {
        let attacked = Counts {
            account: count(100, 0),
            ..Default::default()
        };
        assert_eq!(decide(NOW, attacked, &POLICY), block(30));
        let owner = Counts {
            known_client: true,
            ..attacked
        };
        assert_eq!(decide(NOW, owner, &POLICY), Decision::Allow);
    }

    fn any_count() -> impl Strategy<Value = Count> {
        (0u32..400, 0i64..2_000).prop_map(|(n, ago)| count(n, ago))
    }

    proptest! {
        /// A stranger's failures (on the account from his address, and on
        /// his address) never hold back another client that knows the
        /// account, and no wait is longer than the cap.
        #[test]
        fn strangers_never_hold_back_the_owner(
            stranger_client in any_count(),
            stranger_address in any_count(),
            account in any_count(),
            owner_client in 0u32..5,
        ) {
            let stranger = Counts {
                client: stranger_client,
                address: stranger_address,
                account,
                known_client: false,
            };
            if let Decision::Block { retry_after_secs } = decide(NOW, stranger, &POLICY) {
                prop_assert!((1..=POLICY.max_delay_secs).contains(&retry_after_secs));
            }
            // The owner's own counters: a few typos, the shared account count.
            let owner = Counts {
                client: count(owner_client, 0),
                address: count(owner_client, 0),
                account,
                known_client: true,
            };
            prop_assert_eq!(decide(NOW, owner, &POLICY), Decision::Allow);
        }

        /// More failures never shorten the wait.
        #[test]
        fn the_wait_never_shrinks_with_more_failures(n in 0u32..1_000, limit in 1u32..100) {
            prop_assert!(wait_secs(n + 1, limit, &POLICY) >= wait_secs(n, limit, &POLICY));
        }
    }

    #[test]
    fn local_counters_count_and_forget() {
        let key = format!("test:{}", uuid::Uuid::now_v7());
        assert_eq!(local_read(&key), Count::default());
        local_incr(&key, NOW, 60);
        local_incr(&key, NOW + 1, 60);
        assert_eq!(
            local_read(&key),
            Count {
                failures: 2,
                last_failure: NOW + 1
            }
        );
        local_clear(&key);
        assert_eq!(local_read(&key).failures, 0);
    }
}
