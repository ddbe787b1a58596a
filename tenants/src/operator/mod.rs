//! The control plane's operator API, declared once: the states, steps and
//! answers the control plane serialises and the operator CLI (`mercato
//! pods|stores|moves|rebalance`) reads. A field added here reaches both; a
//! state renamed or removed fails to compile wherever it is still used.
//!
//! Fields a newer control plane added carry `#[serde(default)]` where a
//! default makes sense, so the CLI still reads an older control plane's
//! answers.

pub mod jobs;
pub mod moves;
pub mod rebalance;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{Currency, PodId, PodState, StoreId, TenantState};

/// A pod of the fleet, with the sums of its stores' latest load reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Pod {
    pub id: PodId,
    pub name: String,
    pub url: String,
    pub capacity: i32,
    #[serde(default)]
    pub capacity_bytes: i64,
    #[serde(default)]
    pub capacity_orders_per_hour: i64,
    pub state: PodState,
    #[serde(default)]
    pub stores: i64,
    /// Sums of the latest load reports of the pod's stores.
    #[serde(default)]
    pub rows: i64,
    #[serde(default)]
    pub bytes: i64,
    #[serde(default)]
    pub orders_last_hour: i64,
    #[serde(default)]
    pub requests_per_minute: i64,
    /// Whether the pod was registered with a database URL, which moves
    /// need.
    #[serde(default)]
    pub movable: bool,
    pub created_at: DateTime<Utc>,
}

/// A domain of a store: its `platform` subdomain or a `custom` one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StoreDomain {
    pub domain: String,
    pub kind: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Store {
    pub id: StoreId,
    pub name: String,
    pub handle: String,
    pub owner_email: String,
    pub currency: Currency,
    pub pod_id: PodId,
    pub state: TenantState,
    pub created_at: DateTime<Utc>,
    #[serde(default)]
    pub domains: Vec<StoreDomain>,
    /// The latest figures its pod reported; `None` until one did.
    #[serde(default)]
    pub load: Option<StoreLoad>,
}

/// A store's figures as its pod last reported them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StoreLoad {
    #[serde(default)]
    pub rows: i64,
    #[serde(default)]
    pub bytes: i64,
    #[serde(default)]
    pub orders_last_hour: i64,
    #[serde(default)]
    pub requests_per_minute: i64,
    pub reported_at: DateTime<Utc>,
    /// When the pod measured the rows and bytes (its size sweep runs in
    /// the background).
    #[serde(default)]
    pub sizes_as_of: Option<DateTime<Utc>>,
}

/// `GET /v1/stores`: a page of stores in id order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StorePage {
    pub items: Vec<Store>,
    /// Where the next page starts (`?after=`), if there is one.
    #[serde(default)]
    pub next_cursor: Option<StoreId>,
}

/// Text for an enum's wire name that honours width and alignment
/// (`{:<12}`), and its parse error.
macro_rules! wire_text {
    ($ty:ty, $what:literal) => {
        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.pad(self.as_str())
            }
        }

        impl std::str::FromStr for $ty {
            type Err = $crate::operator::Unknown;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s).ok_or_else(|| $crate::operator::Unknown {
                    what: $what,
                    value: s.chars().take(64).collect(),
                    expected: Self::ALL.map(Self::as_str).join(", "),
                })
            }
        }
    };
}
pub(crate) use wire_text;

/// A name that is none of a wire enum's values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} `{value}`: expected {expected}")]
pub struct Unknown {
    pub what: &'static str,
    pub value: String,
    pub expected: String,
}
