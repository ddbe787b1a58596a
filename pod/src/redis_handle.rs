//! The pod's Redis handle, shared by every context that keeps data in
//! Redis (the cache, carts, search, login counters, the inventory gate).

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;

/// The pod's Redis: connected lazily and re-connected after failures, so the
/// pod starts and serves from Postgres while Redis is down.
///
/// After a failure Redis is left alone for [`Redis::REST`]: every user (the
/// cache, carts, search, login counters) goes straight to its fallback
/// instead of each request paying a connection timeout.
#[derive(Clone)]
pub struct Redis {
    client: redis::Client,
    conn: Arc<tokio::sync::Mutex<Option<redis::aio::ConnectionManager>>>,
    resting_until: Arc<std::sync::Mutex<Option<Instant>>>,
}

impl Redis {
    /// How long Redis is left alone after a failure.
    pub const REST: Duration = Duration::from_secs(1);

    pub fn new(url: &str) -> anyhow::Result<Self> {
        let client = redis::Client::open(url).context("invalid redis url")?;
        Ok(Self {
            client,
            conn: Arc::new(tokio::sync::Mutex::new(None)),
            resting_until: Arc::default(),
        })
    }

    /// Whether Redis may be tried now (it is not resting after a failure).
    pub fn usable(&self) -> bool {
        let until = self.resting_until.lock().unwrap_or_else(|e| e.into_inner());
        !matches!(*until, Some(t) if Instant::now() < t)
    }

    /// Reports a failed Redis call: Redis rests for [`Redis::REST`].
    pub fn failed(&self) {
        *self.resting_until.lock().unwrap_or_else(|e| e.into_inner()) =
            Some(Instant::now() + Self::REST);
    }

    /// A connection; an error at once while Redis rests, or if it cannot be
    /// reached within a second (it then rests).
    pub async fn connection(&self) -> Result<redis::aio::ConnectionManager, redis::RedisError> {
        if !self.usable() {
            return Err(redis::RedisError::from((
                redis::ErrorKind::IoError,
                "redis is resting after a failure",
            )));
        }
        let mut guard = self.conn.lock().await;
        if let Some(conn) = guard.as_ref() {
            return Ok(conn.clone());
        }
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Duration::from_secs(1))
            .set_response_timeout(Duration::from_secs(1))
            .set_number_of_retries(1);
        let conn = self
            .client
            .get_connection_manager_with_config(config)
            .await
            .inspect_err(|_| self.failed())?;
        *guard = Some(conn.clone());
        Ok(conn)
    }

    pub async fn ping(&self) -> Result<(), redis::RedisError> {
        let mut conn = self.connection().await?;
        redis::cmd("PING")
            .query_async::<String>(&mut conn)
            .await
            .map(|_| ())
    }
}
