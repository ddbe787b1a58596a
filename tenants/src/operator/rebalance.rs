//! Rebalancing plans: `GET /v1/rebalance/plan`.

use serde::{Deserialize, Serialize};

use super::wire_text;
use crate::{PodId, StoreId};

/// What a rebalance evens out across the active pods.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Measure {
    /// Bytes on disk, as reported by the pods.
    #[default]
    Bytes,
    /// Rows across the store's tables.
    Rows,
    /// Orders in the last hour.
    Orders,
    /// The number of stores.
    Stores,
}

impl Measure {
    pub const ALL: [Measure; 4] = [Self::Bytes, Self::Rows, Self::Orders, Self::Stores];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Bytes => "bytes",
            Self::Rows => "rows",
            Self::Orders => "orders",
            Self::Stores => "stores",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.as_str() == s)
    }
}

wire_text!(Measure, "measure");

/// One proposed move; `amount` is how much of the plan's measure it carries
/// (bytes for a drain).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PlannedMove {
    pub store_id: StoreId,
    pub from_pod_id: PodId,
    pub to_pod_id: PodId,
    #[serde(default)]
    pub amount: u64,
}

/// A rebalance plan: the moves, in the order to run them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Plan {
    pub measure: Measure,
    /// The mean of the measure over the active pods.
    #[serde(default)]
    pub mean: f64,
    /// The tolerated deviation from the mean, as a fraction (0.10 = ±10 %).
    #[serde(default)]
    pub band: f64,
    /// Whether every active pod is within the band once the plan has run.
    #[serde(default)]
    pub balanced: bool,
    #[serde(default)]
    pub moves: Vec<PlannedMove>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measures_round_trip_and_bytes_is_the_default() {
        for m in Measure::ALL {
            assert_eq!(m.as_str().parse::<Measure>(), Ok(m));
            assert_eq!(
                serde_json::to_value(m).expect("json"),
                serde_json::json!(m.as_str())
            );
        }
        assert_eq!(Measure::default(), Measure::Bytes);
        assert_eq!(
            "size".parse::<Measure>().map_err(|e| e.to_string()),
            Err("unknown measure `size`: expected bytes, rows, orders, stores".into())
        );
    }
}
