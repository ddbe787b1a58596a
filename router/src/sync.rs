//! Keeps the router's routing table in step with the control plane: a
//! long-poll for the versions after ours, applied in order; a full snapshot
//! whenever a delta does not fit. Failures back off and retry; the last good
//! table keeps serving meanwhile.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use mercato_tenants::backoff::Backoff;
use mercato_tenants::{RoutingError, RoutingTable, RoutingUpdate};
use tokio::sync::watch;

/// The table and a signal that it changed.
#[derive(Clone)]
pub struct SharedTable {
    table: Arc<RwLock<RoutingTable>>,
    changed: watch::Sender<u64>,
    loaded: Arc<std::sync::atomic::AtomicBool>,
}

impl Default for SharedTable {
    fn default() -> Self {
        Self {
            table: Arc::default(),
            changed: watch::channel(0).0,
            loaded: Arc::default(),
        }
    }
}

impl SharedTable {
    pub fn read<T>(&self, f: impl FnOnce(&RoutingTable) -> T) -> T {
        f(&self.table.read().unwrap_or_else(|e| e.into_inner()))
    }

    pub fn version(&self) -> u64 {
        self.read(RoutingTable::version)
    }

    /// Whether a table has been received from the control plane at all.
    pub fn loaded(&self) -> bool {
        self.loaded.load(std::sync::atomic::Ordering::Acquire)
    }

    pub fn watch(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    /// Applies an update unless the table already has that version.
    fn apply(&self, update: &RoutingUpdate) -> Result<(), RoutingError> {
        let version = {
            let mut table = self.table.write().unwrap_or_else(|e| e.into_inner());
            if update.version <= table.version() && update.base.is_some() {
                return Ok(());
            }
            table.apply(update)?;
            table.version()
        };
        self.loaded
            .store(true, std::sync::atomic::Ordering::Release);
        self.changed.send_replace(version);
        Ok(())
    }
}

#[derive(Clone)]
pub struct Syncer {
    http: reqwest::Client,
    url: String,
    /// The service token the control plane signed for this router.
    token: Arc<str>,
    pub table: SharedTable,
    wait: u64,
    unknown: Arc<UnknownHosts>,
    /// The runtime the syncer was made on: every fetch runs there, so the
    /// HTTP client's pooled connections live on one runtime whichever
    /// serving worker ([`crate::startup`]) asked for a refresh.
    home: Option<tokio::runtime::Handle>,
}

/// A host is unknown for [`UNKNOWN_TTL`] after a refresh did not find it.
const UNKNOWN_TTL: Duration = Duration::from_secs(2);
/// At most one refresh for unknown hosts per this interval (100 a second).
const REFRESH_INTERVAL: Duration = Duration::from_millis(10);
/// Remembered unknown hosts, at most; beyond, the memory starts over.
const UNKNOWN_MAX: usize = 10_000;

/// Read-your-writes for new stores and domains: the control plane answers
/// a signup once the routing change is committed, but this router learns
/// of it by long-poll, a few milliseconds later. A request for a host the
/// table does not know asks the control plane once before `404`: one
/// refresh at a time, shared by every request that arrived before it
/// started, at most 100 a second; a host still unknown afterwards is
/// answered from memory for 2 s, so random hosts cannot flood the control
/// plane.
struct UnknownHosts {
    /// When the last refresh started.
    refresh: tokio::sync::Mutex<Option<tokio::time::Instant>>,
    misses: std::sync::Mutex<std::collections::HashMap<String, tokio::time::Instant>>,
}

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("control plane unreachable: {0}")]
    Http(#[from] reqwest::Error),
    #[error("control plane answered {0}")]
    Status(u16),
    #[error("the routing sync's runtime is shutting down")]
    Stopped,
}

impl Syncer {
    pub fn new(control_plane_url: &str, token: &str, wait: u64) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(1))
            .build()?;
        Ok(Self {
            http,
            url: control_plane_url.trim_end_matches('/').to_owned(),
            token: token.into(),
            table: SharedTable::default(),
            wait,
            unknown: Arc::new(UnknownHosts {
                refresh: tokio::sync::Mutex::new(None),
                misses: std::sync::Mutex::default(),
            }),
            home: tokio::runtime::Handle::try_current().ok(),
        })
    }

    /// For a host the table does not know: whether the table may have
    /// learnt it now (look again), after at most one refresh.
    pub async fn refresh_for_unknown(&self, host: &str) -> bool {
        let arrived = tokio::time::Instant::now();
        {
            let misses = self
                .unknown
                .misses
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            if misses
                .get(host)
                .is_some_and(|at| at.elapsed() < UNKNOWN_TTL)
            {
                return false;
            }
        }
        let mut last = self.unknown.refresh.lock().await;
        if last.is_some_and(|started| started >= arrived) {
            // A refresh that started after this request arrived is done.
            return true;
        }
        if let Some(started) = *last {
            tokio::time::sleep_until(started + REFRESH_INTERVAL).await;
        }
        *last = Some(tokio::time::Instant::now());
        match self.sync_once(0).await {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(error = %e, "refresh for an unknown host failed");
                false
            }
        }
    }

    /// Remembers that `host` was still unknown after a refresh.
    pub fn still_unknown(&self, host: &str) {
        let mut misses = self
            .unknown
            .misses
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if misses.len() >= UNKNOWN_MAX {
            misses.clear();
        }
        misses.insert(host.to_owned(), tokio::time::Instant::now());
    }

    /// One fetch of the versions after `since`, waiting up to `wait` seconds
    /// for one. `Ok(None)` when nothing changed.
    async fn fetch(&self, since: u64, wait: u64) -> Result<Option<RoutingUpdate>, SyncError> {
        let response = self
            .http
            .get(format!("{}/v1/routing", self.url))
            .query(&[("since", since), ("wait", wait)])
            .bearer_auth(&*self.token)
            .timeout(Duration::from_secs(wait + 5))
            .send()
            .await?;
        match response.status().as_u16() {
            204 => Ok(None),
            200 => Ok(Some(response.json().await?)),
            other => Err(SyncError::Status(other)),
        }
    }

    /// Fetches and applies what is new, once, falling back to a snapshot
    /// when a delta does not fit our version. Runs on the syncer's home
    /// runtime.
    pub async fn sync_once(&self, wait: u64) -> Result<(), SyncError> {
        match &self.home {
            Some(home) => {
                let this = self.clone();
                home.spawn(async move { this.fetch_and_apply(wait).await })
                    .await
                    .map_err(|_| SyncError::Stopped)?
            }
            None => self.fetch_and_apply(wait).await,
        }
    }

    async fn fetch_and_apply(&self, wait: u64) -> Result<(), SyncError> {
        let since = self.table.version();
        if let Some(update) = self.fetch(since, wait).await? {
            if let Err(e) = self.table.apply(&update) {
                tracing::info!(error = %e, "routing delta does not fit; fetching a snapshot");
                if let Some(snapshot) = self.fetch(0, 0).await? {
                    self.table
                        .apply(&snapshot)
                        .map_err(|_| SyncError::Status(200))?;
                }
            }
        }
        Ok(())
    }

    /// Follows the control plane forever.
    pub async fn run(self) {
        // Jittered, so a fleet of routers does not come back to a
        // restarted control plane as one wave.
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(2));
        loop {
            match self.fetch_and_apply(self.wait).await {
                Ok(()) => backoff.reset(),
                Err(e) => {
                    tracing::warn!(error = %e, version = self.table.version(), "routing sync failed; serving the last table");
                    tokio::time::sleep(backoff.next_delay()).await;
                }
            }
        }
    }
}
