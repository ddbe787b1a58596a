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

use chrono::{DateTime, Utc};
pub use mercato_tenants::operator::jobs::{Job, JobStatus, Kind, Outcome, Step};
use mercato_tenants::{JobId, PodId, PodState};
use sqlx::PgExecutor;
use uuid::Uuid;

use crate::rebalance::{Measure, PlannedMove};

pub use routes::router;

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

#[derive(sqlx::FromRow)]
struct Row {
    id: Uuid,
    kind: String,
    pod_id: Option<Uuid>,
    measure: String,
    throttle_ms: i64,
    steps: sqlx::types::Json<Vec<Step>>,
    next_step: i32,
    status: String,
    cancel_requested: bool,
    error: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    finished_at: Option<DateTime<Utc>>,
}

fn decode(what: &str, value: &str) -> sqlx::Error {
    sqlx::Error::Decode(format!("unknown job {what} `{value}`").into())
}

impl TryFrom<Row> for Job {
    type Error = sqlx::Error;
    fn try_from(r: Row) -> Result<Self, sqlx::Error> {
        let kind = Kind::parse(&r.kind).ok_or_else(|| decode("kind", &r.kind))?;
        let status = JobStatus::parse(&r.status).ok_or_else(|| decode("status", &r.status))?;
        Ok(Job {
            id: JobId::from_uuid(r.id),
            kind,
            pod_id: r.pod_id.map(PodId::from_uuid),
            measure: r
                .measure
                .parse()
                .map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
            throttle_ms: u64::try_from(r.throttle_ms).unwrap_or(0),
            steps: r.steps.0,
            next_step: usize::try_from(r.next_step).unwrap_or(0),
            status,
            cancel_requested: r.cancel_requested,
            error: r.error,
            created_at: r.created_at,
            updated_at: r.updated_at,
            finished_at: r.finished_at,
        })
    }
}

const SELECT: &str = "SELECT id, kind, pod_id, measure, throttle_ms, steps, next_step, status,
        cancel_requested, error, created_at, updated_at, finished_at
   FROM fleet_jobs";

pub async fn get<'e>(db: impl PgExecutor<'e>, id: JobId) -> Result<Option<Job>, sqlx::Error> {
    let row: Option<Row> = sqlx::query_as(&format!("{SELECT} WHERE id = $1"))
        .bind(id.as_uuid())
        .fetch_optional(db)
        .await?;
    row.map(Job::try_from).transpose()
}

/// The running job, if any (there is at most one).
pub async fn running<'e>(db: impl PgExecutor<'e>) -> Result<Option<Job>, sqlx::Error> {
    let row: Option<Row> = sqlx::query_as(&format!("{SELECT} WHERE status = 'running'"))
        .fetch_optional(db)
        .await?;
    row.map(Job::try_from).transpose()
}

/// The newest jobs first.
pub async fn list<'e>(db: impl PgExecutor<'e>, limit: i64) -> Result<Vec<Job>, sqlx::Error> {
    let rows: Vec<Row> = sqlx::query_as(&format!(
        "{SELECT} ORDER BY created_at DESC, id DESC LIMIT $1"
    ))
    .bind(limit)
    .fetch_all(db)
    .await?;
    rows.into_iter().map(Job::try_from).collect()
}

/// The unique index that keeps one job running at a time.
pub const ONE_RUNNING: &str = "fleet_jobs_one_running";

pub async fn insert<'e>(
    db: impl PgExecutor<'e>,
    id: JobId,
    kind: Kind,
    pod: Option<PodId>,
    measure: Measure,
    throttle_ms: u64,
    moves: &[PlannedMove],
) -> Result<(), sqlx::Error> {
    let steps: Vec<Step> = moves.iter().cloned().map(Step::pending).collect();
    sqlx::query(
        "INSERT INTO fleet_jobs (id, kind, pod_id, measure, throttle_ms, steps)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(id.as_uuid())
    .bind(kind.as_str())
    .bind(pod.map(|p| p.as_uuid()))
    .bind(measure.as_str())
    .bind(i64::try_from(throttle_ms).unwrap_or(i64::MAX))
    .bind(sqlx::types::Json(steps))
    .execute(db)
    .await
    .map(|_| ())
}

/// Records step `index` as it now stands; with `done`, moves the job on to
/// the next step. Only while the job is at that step: a late write of an
/// earlier step changes nothing.
pub async fn record_step<'e>(
    db: impl PgExecutor<'e>,
    id: JobId,
    index: usize,
    step: &Step,
    done: bool,
) -> Result<bool, sqlx::Error> {
    let index = i32::try_from(index).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    let updated = sqlx::query(
        "UPDATE fleet_jobs
            SET steps = jsonb_set(steps, ARRAY[$2::text], $3),
                next_step = next_step + CASE WHEN $4 THEN 1 ELSE 0 END,
                updated_at = now()
          WHERE id = $1 AND next_step = $2 AND status = 'running'",
    )
    .bind(id.as_uuid())
    .bind(index)
    .bind(sqlx::types::Json(step))
    .bind(done)
    .execute(db)
    .await?;
    Ok(updated.rows_affected() == 1)
}

pub async fn finish<'e>(
    db: impl PgExecutor<'e>,
    id: JobId,
    status: JobStatus,
    error: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE fleet_jobs SET status = $2, error = $3, updated_at = now(), finished_at = now()
          WHERE id = $1 AND status = 'running'",
    )
    .bind(id.as_uuid())
    .bind(status.as_str())
    .bind(error)
    .execute(db)
    .await
    .map(|_| ())
}

/// Asks a running job to stop before its next step; false when it is not
/// running.
pub async fn request_cancel<'e>(db: impl PgExecutor<'e>, id: JobId) -> Result<bool, sqlx::Error> {
    let updated = sqlx::query(
        "UPDATE fleet_jobs SET cancel_requested = true, updated_at = now()
          WHERE id = $1 AND status = 'running'",
    )
    .bind(id.as_uuid())
    .execute(db)
    .await?;
    Ok(updated.rows_affected() == 1)
}

/// How many stores the registry places on `pod`, in any state.
pub async fn stores_on<'e>(db: impl PgExecutor<'e>, pod: PodId) -> Result<i64, sqlx::Error> {
    let (n,): (i64,) = sqlx::query_as("SELECT count(*) FROM stores WHERE pod_id = $1")
        .bind(pod.as_uuid())
        .fetch_one(db)
        .await?;
    Ok(n)
}

/// The state of `pod`, if it exists.
pub async fn pod_state<'e>(
    db: impl PgExecutor<'e>,
    pod: PodId,
) -> Result<Option<PodState>, sqlx::Error> {
    let row: Option<(String,)> = sqlx::query_as("SELECT state FROM pods WHERE id = $1")
        .bind(pod.as_uuid())
        .fetch_optional(db)
        .await?;
    row.map(|(s,)| s.parse().map_err(|e| sqlx::Error::Decode(Box::new(e))))
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;
    use mercato_tenants::StoreId;

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
