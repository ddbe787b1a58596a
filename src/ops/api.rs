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

    pub fn completed(&self) -> bool {
        self.status == "completed"
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

#[derive(Debug, Clone, Deserialize)]
pub struct Plan {
    pub measure: String,
    #[serde(default)]
    pub mean: f64,
    /// The half-width of the band around the mean, in the measure's units
    /// (a number), or its bounds (`[low, high]` or `{low, high}`).
    #[serde(default)]
    pub band: serde_json::Value,
    #[serde(default)]
    pub balanced: bool,
    #[serde(default)]
    pub moves: Vec<PlannedMove>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Drain {
    pub pod: Pod,
    #[serde(default)]
    pub moves: Vec<PlannedMove>,
}
