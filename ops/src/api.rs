//! The control plane's operator API as the CLI reads it. Fields added by
//! newer control planes default when absent, so the CLI works against an
//! older one; unknown fields are ignored.

use chrono::{DateTime, Utc};
use mercato_tenants::{PodId, StoreId};
use serde::Deserialize;
use uuid::Uuid;

#[derive(Debug, Clone, Deserialize)]
pub struct Pod {
    pub id: PodId,
    pub name: String,
    pub url: String,
    pub capacity: u64,
    #[serde(default)]
    pub capacity_bytes: Option<u64>,
    #[serde(default)]
    pub capacity_orders_per_hour: Option<u64>,
    pub state: String,
    #[serde(default)]
    pub stores: u64,
    #[serde(default)]
    pub bytes: u64,
    #[serde(default)]
    pub rows: u64,
    #[serde(default)]
    pub orders_last_hour: u64,
    #[serde(default)]
    pub requests_per_minute: u64,
    #[serde(default)]
    pub created_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct StoreDomain {
    pub domain: String,
    pub kind: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct StoreLoad {
    #[serde(default)]
    pub rows: u64,
    #[serde(default)]
    pub bytes: u64,
    #[serde(default)]
    pub orders_last_hour: u64,
    #[serde(default)]
    pub requests_per_minute: u64,
    #[serde(default)]
    pub reported_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub sizes_as_of: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Store {
    pub id: StoreId,
    pub name: String,
    pub handle: String,
    pub owner_email: String,
    pub currency: String,
    pub pod_id: PodId,
    pub state: String,
    pub created_at: DateTime<Utc>,
    #[serde(default)]
    pub domains: Vec<StoreDomain>,
    #[serde(default)]
    pub load: Option<StoreLoad>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct StorePage {
    pub items: Vec<Store>,
    #[serde(default)]
    pub next_cursor: Option<StoreId>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Move {
    pub id: Uuid,
    pub store_id: StoreId,
    pub source_pod_id: PodId,
    pub target_pod_id: PodId,
    #[serde(default)]
    pub reason: String,
    pub phase: String,
    pub status: String,
    #[serde(default)]
    pub abort_requested: bool,
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub tables_total: u64,
    #[serde(default)]
    pub tables_ready: u64,
    #[serde(default)]
    pub rows_copied: u64,
    #[serde(default)]
    pub bytes_copied: u64,
    #[serde(default)]
    pub lag_bytes: Option<u64>,
    #[serde(default)]
    pub pause_ms: Option<u64>,
    #[serde(default)]
    pub duration_ms: Option<u64>,
    pub created_at: DateTime<Utc>,
    #[serde(default)]
    pub updated_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub finished_at: Option<DateTime<Utc>>,
}

impl Move {
    pub fn is_running(&self) -> bool {
        self.status == "running"
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct MovePage {
    pub items: Vec<Move>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct PlannedMove {
    pub store_id: StoreId,
    pub from_pod_id: PodId,
    pub to_pod_id: PodId,
    #[serde(default)]
    pub amount: f64,
}

/// A rebalance plan; `rebalance apply` answers with the job running it.
#[derive(Debug, Clone, Deserialize)]
pub struct Plan {
    pub measure: String,
    #[serde(default)]
    pub mean: f64,
    /// The tolerated deviation from the mean, as a fraction (0.1 = ±10 %).
    #[serde(default)]
    pub band: f64,
    #[serde(default)]
    pub balanced: bool,
    #[serde(default)]
    pub moves: Vec<PlannedMove>,
    #[serde(default)]
    pub job: Option<Job>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Drain {
    pub pod: Pod,
    #[serde(default)]
    pub moves: Vec<PlannedMove>,
    /// None when the pod was empty and is drained already.
    #[serde(default)]
    pub job: Option<Job>,
}

/// One planned move of a job and what became of it.
#[derive(Debug, Clone, Deserialize)]
pub struct JobStep {
    pub store_id: StoreId,
    pub from_pod_id: PodId,
    pub to_pod_id: PodId,
    #[serde(default)]
    pub move_id: Option<Uuid>,
    /// pending, moving, completed, rolled_back, failed or skipped.
    pub outcome: String,
    #[serde(default)]
    pub error: Option<String>,
}

/// A drain or a rebalance the control plane runs one move at a time.
#[derive(Debug, Clone, Deserialize)]
pub struct Job {
    pub id: Uuid,
    pub kind: String,
    pub status: String,
    pub steps: Vec<JobStep>,
    pub next_step: usize,
    #[serde(default)]
    pub error: Option<String>,
}
