//! Live moves of a store from one pod to another (ARCHITECTURE.md §7).
//!
//! The store's rows travel by Postgres logical replication: a publication
//! on the source with a row filter on `store_id` over every tenant table, a
//! subscription on the target. Once the copy is verified and the lag is
//! small, the cut-over holds the store's requests at the router, fences the
//! source, waits for a marker row written after the fence to arrive on the
//! target, compares what changed, and flips the routing table. The write
//! pause therefore scales with the changes since verification, not with the
//! store's size.
//!
//! A move is a persisted state machine ([`model::Phase`]); the runner
//! ([`runner`]) records each phase before working on it, and every step is
//! idempotent. Before the routing flip any failure, an operator's abort or a
//! restart during the hold rolls the move back to the source; after it the
//! move only goes forward.
//!
//! The mover reaches the pods' databases directly (each pod registers a
//! `database_url` for it) for replication and verification, and the pods'
//! internal API for state changes (the fence, hosting, Redis rebuild, purge).

pub mod compare;
pub mod model;
pub mod pg;
mod routes;
pub mod runner;
pub mod sql;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mercato_tenants::{JobId, MoveId};
use prometheus::{Histogram, HistogramOpts, IntCounter, IntCounterVec, Opts, Registry};
use serde::{Deserialize, Serialize};

pub use model::{Move, Phase, Reason, Status};
pub use routes::{abort_move, abortable, api, start, StartError};

/// The mover's timings. Defaults suit a production fleet; tests shorten them.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MoveSettings {
    /// Longest the router may hold a store's requests during a cut-over,
    /// in milliseconds. Past it the move rolls back and releases them. Keep
    /// it below the routers' own `hold_timeout_ms`.
    pub max_hold_ms: u64,
    /// Longest the initial copy may take, in milliseconds.
    pub copy_timeout_ms: u64,
    /// Tables copied at once (at most the target's
    /// `max_sync_workers_per_subscription`): more copies faster, fewer
    /// leaves more of the pods' CPU to the stores' live traffic. Measured
    /// on 2 cores under 200 writes/s (docs/benchmarks/moves.md): 3 copies
    /// 94,000-116,000 rows/s (median 109,000) with writes during the copy
    /// at p99 22-32 ms; 6 copied faster but let writes wait 0.1-1.4 s at
    /// p50 (measured before load reports stopped counting rows).
    pub copy_parallelism: usize,
    /// How long replication may take to catch up before the freeze, in
    /// milliseconds, before the move gives up.
    pub lag_deadline_ms: u64,
    /// A marker must cross from source to target within this many
    /// milliseconds before the store is frozen.
    pub catch_up_ms: u64,
    /// Rounds of the bulk verification before the copy is declared
    /// different from the source.
    pub verify_rounds: u32,
    /// How long the source keeps a moved store's rows before purging them,
    /// in seconds.
    pub purge_delay_secs: u64,
    /// Pause between two moves of a rebalance or a drain, in milliseconds.
    pub throttle_ms: u64,
    /// For tests of recovery: `crash_after_fence` stops the runner right
    /// after the fence as if the process died there; `wait_before_freeze`
    /// holds a move before its freeze until it is aborted. Empty: off. Only
    /// a build with the `failpoints` feature accepts one.
    pub failpoint: String,
}

impl Default for MoveSettings {
    fn default() -> Self {
        Self {
            max_hold_ms: 1_500,
            copy_timeout_ms: 30 * 60 * 1_000,
            copy_parallelism: 3,
            lag_deadline_ms: 60_000,
            catch_up_ms: 250,
            verify_rounds: 20,
            purge_delay_secs: 300,
            throttle_ms: 5_000,
            failpoint: String::new(),
        }
    }
}

/// Per-move figures, exported on `/metrics`.
#[derive(Clone)]
pub struct MoveMetrics {
    pub finished: IntCounterVec,
    pub pause_ms: Histogram,
    pub duration_secs: Histogram,
    pub rows: IntCounter,
    pub bytes: IntCounter,
}

impl MoveMetrics {
    pub fn new(registry: &Registry) -> Result<Self, prometheus::Error> {
        let finished = IntCounterVec::new(
            Opts::new(
                "control_plane_moves_total",
                "Store moves finished, by outcome",
            ),
            &["status"],
        )?;
        let pause_ms = Histogram::with_opts(
            HistogramOpts::new(
                "control_plane_move_pause_ms",
                "Write pause of a store move: first held request to release",
            )
            .buckets(vec![
                10.0, 25.0, 50.0, 100.0, 200.0, 300.0, 500.0, 1000.0, 2000.0,
            ]),
        )?;
        let duration_secs = Histogram::with_opts(
            HistogramOpts::new(
                "control_plane_move_duration_seconds",
                "Duration of a completed store move",
            )
            .buckets(vec![1.0, 5.0, 15.0, 60.0, 300.0, 1800.0, 7200.0]),
        )?;
        let rows = IntCounter::new(
            "control_plane_move_rows_total",
            "Rows copied by completed store moves",
        )?;
        let bytes = IntCounter::new(
            "control_plane_move_bytes_total",
            "Bytes copied by completed store moves",
        )?;
        registry.register(Box::new(finished.clone()))?;
        registry.register(Box::new(pause_ms.clone()))?;
        registry.register(Box::new(duration_secs.clone()))?;
        registry.register(Box::new(rows.clone()))?;
        registry.register(Box::new(bytes.clone()))?;
        Ok(Self {
            finished,
            pause_ms,
            duration_secs,
            rows,
            bytes,
        })
    }
}

/// The mover's shared parts: settings, metrics, and which moves this
/// process is driving (so a move or a job never has two runners here).
#[derive(Clone)]
pub struct Mover {
    pub settings: MoveSettings,
    pub metrics: MoveMetrics,
    driving: Arc<Mutex<HashSet<Driven>>>,
}

/// What a runner of this process drives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Driven {
    Move(MoveId),
    Job(JobId),
}

impl From<MoveId> for Driven {
    fn from(id: MoveId) -> Self {
        Self::Move(id)
    }
}

impl From<JobId> for Driven {
    fn from(id: JobId) -> Self {
        Self::Job(id)
    }
}

impl Mover {
    pub fn new(settings: MoveSettings, metrics: MoveMetrics) -> Self {
        Self {
            settings,
            metrics,
            driving: Arc::default(),
        }
    }

    /// Marks `id` (a move or a job) as driven by this process; false if it
    /// already is.
    pub(crate) fn claim(&self, id: impl Into<Driven>) -> bool {
        self.driving
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id.into())
    }

    pub(crate) fn release(&self, id: impl Into<Driven>) {
        self.driving
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&id.into());
    }

    /// Whether the test failpoint `name` is set (always false in a build
    /// without the `failpoints` feature).
    pub(crate) fn failpoint(&self, name: &str) -> bool {
        cfg!(feature = "failpoints") && self.settings.failpoint == name
    }

    pub fn max_hold(&self) -> Duration {
        Duration::from_millis(self.settings.max_hold_ms)
    }
}

/// Names of a move's publication, slot and subscription (one name for all
/// three): `mercato_move_<id>`.
pub fn replication_name(id: MoveId) -> String {
    format!("mercato_move_{}", id.as_uuid().simple())
}
