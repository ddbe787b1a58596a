//! Read-through cache of response bodies in Redis (cache-aside), keyed per
//! store.
//!
//! - **Versioned keys.** Each cached body is stored with the version of the
//!   thing it shows (a product, or the store's whole catalog for lists).
//!   An edit bumps the version after its commit; a reader compares the two
//!   in one round trip (`MGET`), so a body computed from data older than the
//!   edit is never served, even if a slow reader writes it back after the
//!   bump.
//! - **Coalescing.** Concurrent misses for the same key in this process
//!   share one load (one database read).
//! - **Redis down.** Reads go to Postgres and `mercato_cache_fallback_total`
//!   says so; after a Redis error Redis rests for a second (see
//!   [`Redis`]) rather than every request paying a connection timeout.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use mercato_tenants::ApiError;
use prometheus::{IntCounterVec, Opts, Registry};
use tokio::sync::OnceCell;

use crate::error::PodError;
use crate::redis_handle::Redis;

/// A load in flight; waiters share its result, a client error or the
/// opaque internal one (logged once, by the load that failed).
type Flight = Arc<OnceCell<Result<Bytes, ApiError>>>;

#[derive(Clone)]
pub struct Cache {
    redis: Redis,
    flights: Arc<Mutex<HashMap<String, Flight>>>,
    metrics: CacheMetrics,
}

#[derive(Clone)]
struct CacheMetrics {
    /// hit | miss | coalesced | fallback, by kind of entry.
    lookups: IntCounterVec,
    /// Loads from the database, by kind.
    loads: IntCounterVec,
    redis_errors: IntCounterVec,
}

impl CacheMetrics {
    fn new(registry: &Registry) -> Result<Self, prometheus::Error> {
        let lookups = IntCounterVec::new(
            Opts::new("cache_lookups_total", "Cache lookups by outcome"),
            &["kind", "outcome"],
        )?;
        let loads = IntCounterVec::new(
            Opts::new("cache_loads_total", "Database loads behind the cache"),
            &["kind"],
        )?;
        let redis_errors = IntCounterVec::new(
            Opts::new("cache_redis_errors_total", "Redis errors seen by the cache"),
            &["op"],
        )?;
        registry.register(Box::new(lookups.clone()))?;
        registry.register(Box::new(loads.clone()))?;
        registry.register(Box::new(redis_errors.clone()))?;
        Ok(Self {
            lookups,
            loads,
            redis_errors,
        })
    }
}

/// One cache entry: where its body lives, which version key guards it, and
/// how long it may stay.
pub struct Entry {
    pub kind: &'static str,
    pub key: String,
    /// `None`: the entry is only bounded by its TTL (e.g. the stock badge).
    pub version_key: Option<String>,
    pub ttl: Duration,
}

impl Cache {
    pub fn new(redis: Redis, registry: &Registry) -> Result<Self, prometheus::Error> {
        Ok(Self {
            redis,
            flights: Arc::default(),
            metrics: CacheMetrics::new(registry)?,
        })
    }

    fn count(&self, kind: &str, outcome: &str) {
        self.metrics
            .lookups
            .with_label_values(&[kind, outcome])
            .inc();
    }

    fn redis_failed(&self, op: &str, err: &redis::RedisError) {
        tracing::warn!(error = %err, op, "redis error in the cache; serving from postgres");
        self.metrics.redis_errors.with_label_values(&[op]).inc();
        self.redis.failed();
    }

    /// The cached body of `entry`, or the result of `load` (stored for the
    /// next reader). Loads of the same key and version are coalesced.
    pub async fn get_or_load<F, Fut>(&self, entry: &Entry, load: F) -> Result<Bytes, PodError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Bytes, PodError>>,
    {
        let cached = if self.redis.usable() {
            match self.lookup(entry).await {
                Ok(found) => Some(found),
                Err(e) => {
                    self.redis_failed("get", &e);
                    None
                }
            }
        } else {
            None
        };
        let version = match cached {
            Some(Lookup::Hit(body)) => {
                self.count(entry.kind, "hit");
                return Ok(body);
            }
            Some(Lookup::Miss { version }) => {
                self.count(entry.kind, "miss");
                Some(version)
            }
            None => {
                self.count(entry.kind, "fallback");
                None
            }
        };
        let flight_key = format!("{}#{}", entry.key, version.as_deref().unwrap_or("-"));
        let (flight, leader) = {
            let mut flights = self.flights.lock().unwrap_or_else(|e| e.into_inner());
            match flights.get(&flight_key) {
                Some(f) => (f.clone(), None),
                None => {
                    let f: Flight = Arc::default();
                    flights.insert(flight_key.clone(), f.clone());
                    let leader = Leader {
                        flights: &self.flights,
                        key: flight_key,
                        flight: f.clone(),
                    };
                    (f, Some(leader))
                }
            }
        };
        if leader.is_none() {
            self.count(entry.kind, "coalesced");
        }
        let result = flight
            .get_or_init(|| async {
                self.metrics.loads.with_label_values(&[entry.kind]).inc();
                let body = load().await.map_err(PodError::into_api)?;
                if let Some(version) = &version {
                    if let Err(e) = self.store(entry, version, &body).await {
                        self.redis_failed("set", &e);
                    }
                }
                Ok(body)
            })
            .await
            .clone();
        result.map_err(PodError::Api)
    }

    async fn lookup(&self, entry: &Entry) -> Result<Lookup, redis::RedisError> {
        let mut conn = self.redis.connection().await?;
        let (version, body): (Option<String>, Option<Vec<u8>>) = match &entry.version_key {
            Some(vk) => {
                redis::cmd("MGET")
                    .arg(vk)
                    .arg(&entry.key)
                    .query_async(&mut conn)
                    .await?
            }
            None => (
                None,
                redis::cmd("GET")
                    .arg(&entry.key)
                    .query_async(&mut conn)
                    .await?,
            ),
        };
        let version = version.unwrap_or_else(|| "0".into());
        Ok(match body.and_then(|b| split_versioned(&b, &version)) {
            Some(body) => Lookup::Hit(body),
            None => Lookup::Miss { version },
        })
    }

    async fn store(
        &self,
        entry: &Entry,
        version: &str,
        body: &Bytes,
    ) -> Result<(), redis::RedisError> {
        let mut conn = self.redis.connection().await?;
        let mut value = Vec::with_capacity(version.len() + 1 + body.len());
        value.extend_from_slice(version.as_bytes());
        value.push(b'\n');
        value.extend_from_slice(body);
        redis::cmd("SET")
            .arg(&entry.key)
            .arg(value)
            .arg("EX")
            .arg(entry.ttl.as_secs().max(1))
            .query_async::<()>(&mut conn)
            .await
    }

    /// After a commit: moves the given versions on, so every body cached
    /// before is ignored. Retries in the background if Redis is unreachable
    /// (a missed bump would serve stale bodies until their TTL).
    pub async fn bump(&self, version_keys: Vec<String>) {
        if version_keys.is_empty() {
            return;
        }
        if let Err(e) = self.try_bump(&version_keys).await {
            self.redis_failed("bump", &e);
            let this = self.clone();
            tokio::spawn(async move {
                for attempt in 1..=10u32 {
                    tokio::time::sleep(Duration::from_millis(200 * u64::from(attempt))).await;
                    match this.try_bump(&version_keys).await {
                        Ok(()) => return,
                        Err(e) if attempt == 10 => {
                            tracing::error!(error = %e, "cache invalidation lost; entries expire by TTL")
                        }
                        Err(_) => {}
                    }
                }
            });
        }
    }

    async fn try_bump(&self, version_keys: &[String]) -> Result<(), redis::RedisError> {
        let mut conn = self.redis.connection().await?;
        let mut pipe = redis::pipe();
        for key in version_keys {
            pipe.cmd("INCR").arg(key).ignore();
        }
        pipe.query_async::<()>(&mut conn).await
    }
}

/// The request that started a flight. However it ends (finished, or
/// dropped because its client went away) the flight leaves the table, so
/// the next miss loads again. Waiters still holding the flight finish it
/// among themselves (`OnceCell` hands the load to the next one).
struct Leader<'a> {
    flights: &'a Mutex<HashMap<String, Flight>>,
    key: String,
    flight: Flight,
}

impl Drop for Leader<'_> {
    fn drop(&mut self) {
        let mut flights = self.flights.lock().unwrap_or_else(|e| e.into_inner());
        // Only our own flight: a newer one may have taken the key.
        if flights
            .get(&self.key)
            .is_some_and(|f| Arc::ptr_eq(f, &self.flight))
        {
            flights.remove(&self.key);
        }
    }
}

enum Lookup {
    Hit(Bytes),
    Miss { version: String },
}

/// The body of a stored value `<version>\n<body>` if its version is
/// `current`.
fn split_versioned(stored: &[u8], current: &str) -> Option<Bytes> {
    let newline = stored.iter().position(|b| *b == b'\n')?;
    (&stored[..newline] == current.as_bytes())
        .then(|| Bytes::copy_from_slice(&stored[newline + 1..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> Entry {
        Entry {
            kind: "product",
            key: "store:p".into(),
            version_key: None,
            ttl: Duration::from_secs(60),
        }
    }

    async fn answer(body: &'static str) -> Result<Bytes, PodError> {
        Ok(Bytes::from_static(body.as_bytes()))
    }

    /// A first load cancelled halfway (its client went away) must not
    /// leave its flight behind: a later miss loads again instead of
    /// getting the flight's old result forever.
    #[tokio::test]
    async fn a_cancelled_first_load_does_not_pin_its_result() {
        // No Redis at this address: every read falls back to loading.
        let redis = Redis::new("redis://127.0.0.1:1/").expect("redis handle");
        let cache = Cache::new(redis, &Registry::new()).expect("cache");
        let started = Arc::new(tokio::sync::Notify::new());
        let first = tokio::spawn({
            let (cache, started) = (cache.clone(), started.clone());
            async move {
                cache
                    .get_or_load(&entry(), || async move {
                        started.notify_one();
                        std::future::pending::<Result<Bytes, PodError>>().await
                    })
                    .await
            }
        });
        started.notified().await;
        first.abort();
        assert!(first.await.expect_err("aborted").is_cancelled());
        let second = cache.get_or_load(&entry(), || answer("v2")).await;
        assert_eq!(second.expect("loads"), Bytes::from_static(b"v2"));
        let third = cache.get_or_load(&entry(), || answer("v3")).await;
        assert_eq!(
            third.expect("loads"),
            Bytes::from_static(b"v3"),
            "a finished flight is not served to later misses"
        );
        assert!(cache.flights.lock().expect("lock").is_empty());
    }

    #[test]
    fn only_bodies_of_the_current_version_are_served() {
        assert_eq!(
            split_versioned(b"3\n{\"a\":1}", "3"),
            Some(Bytes::from_static(b"{\"a\":1}"))
        );
        assert_eq!(split_versioned(b"3\n{\"a\":1}", "4"), None);
        assert_eq!(split_versioned(b"13\nx", "3"), None);
        assert_eq!(split_versioned(b"garbage", "0"), None);
        assert_eq!(split_versioned(b"0\n", "0"), Some(Bytes::new()));
    }
}
