//! Store moves: `POST /v1/moves`, `GET /v1/moves[/{id}]`,
//! `POST /v1/moves/{id}/abort`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::wire_text;
use crate::{JobId, MoveId, PodId, StoreId};

/// The step a move is in. The runner records a phase before it works on it,
/// so after a restart the recorded phase is the one to redo (every step is
/// idempotent) or to undo.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Checks and the target's empty hosting record.
    Preflight,
    /// Publication, slot and subscription; the initial copy.
    Copying,
    /// The copy compared with the source, bucket by bucket, while live.
    Verifying,
    /// Waiting for replication lag to fall under the threshold.
    CatchingUp,
    /// The router holds the store's requests (the write pause starts).
    Frozen,
    /// The source refuses the store (421); the marker row is written.
    Fenced,
    /// The marker arrived on the target: every write has been applied.
    CaughtUp,
    /// Counts and checksums of what changed agree.
    Verified,
    /// The routing table points at the target (the point of no return).
    Switched,
    /// Replication objects dropped; the source's rows released for purging.
    CleaningUp,
    Done,
    /// Undoing everything back to the source.
    RollingBack,
}

impl Phase {
    /// The phases of a move that goes through, in order.
    pub const FORWARD: [Phase; 11] = [
        Self::Preflight,
        Self::Copying,
        Self::Verifying,
        Self::CatchingUp,
        Self::Frozen,
        Self::Fenced,
        Self::CaughtUp,
        Self::Verified,
        Self::Switched,
        Self::CleaningUp,
        Self::Done,
    ];

    /// Every phase: the forward path, then the way back.
    pub const ALL: [Phase; 12] = [
        Self::Preflight,
        Self::Copying,
        Self::Verifying,
        Self::CatchingUp,
        Self::Frozen,
        Self::Fenced,
        Self::CaughtUp,
        Self::Verified,
        Self::Switched,
        Self::CleaningUp,
        Self::Done,
        Self::RollingBack,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Preflight => "preflight",
            Self::Copying => "copying",
            Self::Verifying => "verifying",
            Self::CatchingUp => "catching_up",
            Self::Frozen => "frozen",
            Self::Fenced => "fenced",
            Self::CaughtUp => "caught_up",
            Self::Verified => "verified",
            Self::Switched => "switched",
            Self::CleaningUp => "cleaning_up",
            Self::Done => "done",
            Self::RollingBack => "rolling_back",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == s)
    }

    /// Whether the routing flip has happened: from here on a move only
    /// goes forward.
    pub fn past_switch(self) -> bool {
        matches!(self, Self::Switched | Self::CleaningUp | Self::Done)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Running,
    Completed,
    RolledBack,
    Failed,
}

impl Status {
    pub const ALL: [Status; 4] = [
        Self::Running,
        Self::Completed,
        Self::RolledBack,
        Self::Failed,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Completed => "completed",
            Self::RolledBack => "rolled_back",
            Self::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == s)
    }
}

/// Who asked for a move.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    Operator,
    Rebalance,
    Drain,
}

impl Reason {
    pub const ALL: [Reason; 3] = [Self::Operator, Self::Rebalance, Self::Drain];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Operator => "operator",
            Self::Rebalance => "rebalance",
            Self::Drain => "drain",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

wire_text!(Phase, "move phase");
wire_text!(Status, "move status");
wire_text!(Reason, "move reason");

/// A move as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Move {
    pub id: MoveId,
    pub store_id: StoreId,
    pub source_pod_id: PodId,
    pub target_pod_id: PodId,
    pub reason: Reason,
    /// The drain or rebalance this move is a step of.
    #[serde(default)]
    pub job_id: Option<JobId>,
    pub phase: Phase,
    pub status: Status,
    #[serde(default)]
    pub abort_requested: bool,
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub tables_total: i32,
    #[serde(default)]
    pub tables_ready: i32,
    #[serde(default)]
    pub rows_copied: i64,
    #[serde(default)]
    pub bytes_copied: i64,
    #[serde(default)]
    pub lag_bytes: Option<i64>,
    /// First held request to release, in milliseconds.
    #[serde(default)]
    pub pause_ms: Option<i64>,
    #[serde(default)]
    pub duration_ms: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[serde(default)]
    pub finished_at: Option<DateTime<Utc>>,
}

impl Move {
    pub fn is_running(&self) -> bool {
        self.status == Status::Running
    }
}

/// `GET /v1/moves`: newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MovePage {
    pub items: Vec<Move>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_forward_phases_are_in_order_and_every_phase_round_trips() {
        for w in Phase::FORWARD.windows(2) {
            assert!(w[0] < w[1], "{:?} before {:?}", w[0], w[1]);
        }
        assert_eq!(Phase::ALL[..Phase::FORWARD.len()], Phase::FORWARD);
        for p in Phase::ALL {
            assert_eq!(Phase::parse(p.as_str()), Some(p));
            assert_eq!(p.to_string().parse::<Phase>(), Ok(p));
            assert_eq!(
                serde_json::to_value(p).expect("json"),
                serde_json::json!(p.as_str())
            );
        }
        assert_eq!(Phase::parse("nope"), None);
        assert_eq!(format!("[{:<8}]", Phase::Done), "[done    ]");
    }

    #[test]
    fn statuses_and_reasons_round_trip() {
        for s in Status::ALL {
            assert_eq!(s.as_str().parse::<Status>(), Ok(s));
            assert_eq!(
                serde_json::to_value(s).expect("json"),
                serde_json::json!(s.as_str())
            );
        }
        for r in Reason::ALL {
            assert_eq!(r.as_str().parse::<Reason>(), Ok(r));
            assert_eq!(
                serde_json::to_value(r).expect("json"),
                serde_json::json!(r.as_str())
            );
        }
        let err = "paused".parse::<Status>().expect_err("unknown");
        assert_eq!(
            err.to_string(),
            "unknown move status `paused`: expected running, completed, rolled_back, failed"
        );
    }
}
