//! Fleet jobs: a drain (every store off one pod) or a rebalance (the moves
//! of a [`rebalance::plan`](crate::rebalance::plan)), run as a persisted
//! plan of store moves, one move at a time with a pause between two.
//!
//! A job records its steps (the planned moves, each with its move id and
//! outcome once known) and the index of the next step; the runner
//! ([`runner`]) records a step's move before waiting on it, so a restarted
//! control plane finds the move again (moves carry their `job_id`) and
//! waits for it rather than starting a second one. One job runs at a time
//! across the fleet. A step that cannot start (the store moved since the
//! plan, the target is gone) is skipped with the reason and the job goes
//! on; a move that rolls back does not stop the job either. What the job
//! does next is a pure function of its record ([`next`], [`wrap_up`]).

mod routes;
pub mod runner;
pub mod sql;

pub use mercato_tenants::operator::jobs::{Job, JobStatus, Kind, Outcome, Step};
use mercato_tenants::PodState;

pub use routes::{api, apply_rebalance, cancel_job, current_plan, plan_drain, start_drain, BAND};

/// What a running job does next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// Run the step at this index.
    Run(usize),
    /// Every step has run: settle the result ([`wrap_up`]).
    WrapUp,
    /// Stop now, with this status and reason.
    Stop(JobStatus, String),
}

/// The next thing a running job does, given (for a drain) the current
/// state of its pod: an operator's cancel, or a drain whose pod is no
/// longer draining (re-activated, or gone), stops it before the next step.
pub fn next(job: &Job, pod_state: Option<PodState>) -> Next {
    if job.cancel_requested {
        return Next::Stop(JobStatus::Cancelled, "cancelled by an operator".into());
    }
    if job.kind == Kind::Drain && pod_state != Some(PodState::Draining) {
        let why = match pod_state {
            Some(s) => format!("the pod is {s}, no longer draining"),
            None => "the pod is gone".into(),
        };
        return Next::Stop(JobStatus::Cancelled, why);
    }
    if job.next_step < job.steps.len() {
        Next::Run(job.next_step)
    } else {
        Next::WrapUp
    }
}

/// The end of a job whose steps have all run. A drain is complete when no
/// store is left on its pod (`stores_left`; stores created on it after the
/// plan count too), a rebalance when every move completed.
pub fn wrap_up(job: &Job, stores_left: i64) -> (JobStatus, Option<String>) {
    let done = job
        .steps
        .iter()
        .filter(|s| s.outcome == Outcome::Completed)
        .count();
    let not_done = job.steps.len() - done;
    match job.kind {
        Kind::Drain if stores_left == 0 => (JobStatus::Completed, None),
        Kind::Drain => (
            JobStatus::Failed,
            Some(format!(
                "{stores_left} store{} still on the pod ({not_done} of {} planned move{} did not complete); the pod stays draining: run the drain again",
                if stores_left == 1 { " is" } else { "s are" },
                job.steps.len(),
                if job.steps.len() == 1 { "" } else { "s" },
            )),
        ),
        Kind::Rebalance if not_done == 0 => (JobStatus::Completed, None),
        Kind::Rebalance => (
            JobStatus::Failed,
            Some(format!(
                "{not_done} of {} planned moves did not complete",
                job.steps.len()
            )),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use mercato_tenants::{JobId, PodId, StoreId};
    use uuid::Uuid;

    use crate::rebalance::{Measure, PlannedMove};

    fn planned(n: u128) -> PlannedMove {
        PlannedMove {
            store_id: StoreId::from_uuid(Uuid::from_u128(n)),
            from_pod_id: PodId::from_uuid(Uuid::from_u128(100)),
            to_pod_id: PodId::from_uuid(Uuid::from_u128(200)),
            amount: 10,
        }
    }

    fn job(kind: Kind, outcomes: &[Outcome], next_step: usize) -> Job {
        Job {
            id: JobId::from_uuid(Uuid::from_u128(1)),
            kind,
            pod_id: (kind == Kind::Drain).then(|| PodId::from_uuid(Uuid::from_u128(100))),
            measure: Measure::Bytes,
            throttle_ms: 0,
            steps: outcomes
                .iter()
                .enumerate()
                .map(|(i, o)| Step {
                    outcome: *o,
                    ..Step::pending(planned(i as u128))
                })
                .collect(),
            next_step,
            status: JobStatus::Running,
            cancel_requested: false,
            error: None,
            created_at: Utc::now(),
            updated_at: Utc::now(),
            finished_at: None,
        }
    }

    #[test]
    fn a_job_runs_its_steps_in_order_then_wraps_up() {
        use Outcome::*;
        let j = job(Kind::Rebalance, &[Completed, Pending, Pending], 1);
        assert_eq!(next(&j, None), Next::Run(1));
        let j = job(Kind::Rebalance, &[Completed, Completed], 2);
        assert_eq!(next(&j, None), Next::WrapUp);
        let j = job(Kind::Drain, &[Pending], 0);
        assert_eq!(next(&j, Some(PodState::Draining)), Next::Run(0));
    }

    #[test]
    fn a_cancel_or_a_pod_no_longer_draining_stops_the_job() {
        let mut j = job(Kind::Rebalance, &[Outcome::Pending], 0);
        j.cancel_requested = true;
        assert!(matches!(
            next(&j, None),
            Next::Stop(JobStatus::Cancelled, _)
        ));
        let j = job(Kind::Drain, &[Outcome::Pending], 0);
        assert_eq!(
            next(&j, Some(PodState::Active)),
            Next::Stop(
                JobStatus::Cancelled,
                "the pod is active, no longer draining".into()
            )
        );
        assert_eq!(
            next(&j, None),
            Next::Stop(JobStatus::Cancelled, "the pod is gone".into())
        );
    }

    #[test]
    fn a_drain_completes_only_when_its_pod_is_empty() {
        use Outcome::*;
        let j = job(Kind::Drain, &[Completed, Completed], 2);
        assert_eq!(wrap_up(&j, 0), (JobStatus::Completed, None));
        // A store placed on the pod before it was marked draining.
        let (status, error) = wrap_up(&j, 1);
        assert_eq!(status, JobStatus::Failed);
        assert_eq!(
            error.as_deref(),
            Some("1 store is still on the pod (0 of 2 planned moves did not complete); the pod stays draining: run the drain again")
        );
        let j = job(Kind::Drain, &[Completed, RolledBack, Skipped], 3);
        assert_eq!(
            wrap_up(&j, 2).1.as_deref(),
            Some("2 stores are still on the pod (2 of 3 planned moves did not complete); the pod stays draining: run the drain again")
        );
    }

    #[test]
    fn a_rebalance_completes_only_when_every_move_did() {
        use Outcome::*;
        assert_eq!(
            wrap_up(&job(Kind::Rebalance, &[Completed, Completed], 2), 0),
            (JobStatus::Completed, None)
        );
        assert_eq!(
            wrap_up(&job(Kind::Rebalance, &[Completed, Failed, Skipped], 3), 0),
            (
                JobStatus::Failed,
                Some("2 of 3 planned moves did not complete".into())
            )
        );
    }

    #[test]
    fn a_step_reads_back_as_written() {
        let step = Step {
            move_id: Some(mercato_tenants::MoveId::from_uuid(Uuid::from_u128(7))),
            outcome: Outcome::RolledBack,
            error: Some("lag did not converge".into()),
            ..Step::pending(planned(3))
        };
        let json = serde_json::to_value(&step).expect("serializes");
        assert_eq!(json["outcome"], "rolled_back");
        assert_eq!(json["amount"], 10);
        let back: Step = serde_json::from_value(json).expect("deserializes");
        assert_eq!(back, step);
    }
}
