//! Fleet jobs (a drain or a rebalance run one move at a time):
//! `POST /v1/pods/{id}/drain`, `POST /v1/rebalance/apply`,
//! `GET /v1/jobs[/{id}]`, `POST /v1/jobs/{id}/cancel`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::moves::Status as MoveStatus;
use super::rebalance::{Measure, Plan, PlannedMove};
use super::{wire_text, Pod};
use crate::{JobId, MoveId, PodId};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Drain,
    Rebalance,
}

impl Kind {
    pub const ALL: [Kind; 2] = [Self::Drain, Self::Rebalance];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Drain => "drain",
            Self::Rebalance => "rebalance",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    Running,
    Completed,
    Failed,
    Cancelled,
}

impl JobStatus {
    pub const ALL: [JobStatus; 4] = [
        Self::Running,
        Self::Completed,
        Self::Failed,
        Self::Cancelled,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// Where a step stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Not started.
    Pending,
    /// Its move is running.
    Moving,
    Completed,
    RolledBack,
    Failed,
    /// No move was started; `error` says why.
    Skipped,
}

impl Outcome {
    pub const ALL: [Outcome; 6] = [
        Self::Pending,
        Self::Moving,
        Self::Completed,
        Self::RolledBack,
        Self::Failed,
        Self::Skipped,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Moving => "moving",
            Self::Completed => "completed",
            Self::RolledBack => "rolled_back",
            Self::Failed => "failed",
            Self::Skipped => "skipped",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|o| o.as_str() == s)
    }

    /// The outcome a move's status means for its step.
    pub fn of(status: MoveStatus) -> Self {
        match status {
            MoveStatus::Running => Self::Moving,
            MoveStatus::Completed => Self::Completed,
            MoveStatus::RolledBack => Self::RolledBack,
            MoveStatus::Failed => Self::Failed,
        }
    }
}

wire_text!(Kind, "job kind");
wire_text!(JobStatus, "job status");
wire_text!(Outcome, "step outcome");

/// One planned move and what became of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Step {
    #[serde(flatten)]
    pub planned: PlannedMove,
    #[serde(default)]
    pub move_id: Option<MoveId>,
    pub outcome: Outcome,
    #[serde(default)]
    pub error: Option<String>,
}

impl Step {
    pub fn pending(planned: PlannedMove) -> Self {
        Self {
            planned,
            move_id: None,
            outcome: Outcome::Pending,
            error: None,
        }
    }
}

/// A job as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Job {
    pub id: JobId,
    pub kind: Kind,
    /// The pod a drain empties.
    #[serde(default)]
    pub pod_id: Option<PodId>,
    #[serde(default)]
    pub measure: Measure,
    #[serde(default)]
    pub throttle_ms: u64,
    pub steps: Vec<Step>,
    /// The index of the first step not finished yet.
    pub next_step: usize,
    pub status: JobStatus,
    #[serde(default)]
    pub cancel_requested: bool,
    #[serde(default)]
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[serde(default)]
    pub finished_at: Option<DateTime<Utc>>,
}

/// `GET /v1/jobs`: newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct JobPage {
    pub items: Vec<Job>,
}

/// The answer to a drain: the pod (now draining, or drained when it was
/// empty), the moves planned and the job running them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Drain {
    pub pod: Pod,
    #[serde(default)]
    pub moves: Vec<PlannedMove>,
    /// `None` when the pod was empty and is drained already.
    #[serde(default)]
    pub job: Option<Job>,
}

/// The answer to `POST /v1/rebalance/apply`: the plan and the job running
/// it (`None` for a balanced fleet).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Applied {
    #[serde(flatten)]
    pub plan: Plan,
    #[serde(default)]
    pub job: Option<Job>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_names_round_trip() {
        for k in Kind::ALL {
            assert_eq!(k.as_str().parse::<Kind>(), Ok(k));
            assert_eq!(
                serde_json::to_value(k).expect("json"),
                serde_json::json!(k.as_str())
            );
        }
        for s in JobStatus::ALL {
            assert_eq!(s.as_str().parse::<JobStatus>(), Ok(s));
            assert_eq!(
                serde_json::to_value(s).expect("json"),
                serde_json::json!(s.as_str())
            );
        }
        for o in Outcome::ALL {
            assert_eq!(o.as_str().parse::<Outcome>(), Ok(o));
            assert_eq!(
                serde_json::to_value(o).expect("json"),
                serde_json::json!(o.as_str())
            );
        }
    }

    #[test]
    fn a_step_is_its_planned_move_and_what_became_of_it() {
        let planned = PlannedMove {
            store_id: crate::StoreId::new(),
            from_pod_id: PodId::new(),
            to_pod_id: PodId::new(),
            amount: 7,
        };
        let step = Step::pending(planned.clone());
        let json = serde_json::to_value(&step).expect("json");
        assert_eq!(
            json,
            serde_json::json!({
                "store_id": planned.store_id, "from_pod_id": planned.from_pod_id,
                "to_pod_id": planned.to_pod_id, "amount": 7,
                "move_id": null, "outcome": "pending", "error": null
            })
        );
        assert_eq!(serde_json::from_value::<Step>(json).expect("parses"), step);
    }
}
