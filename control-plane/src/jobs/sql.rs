//! The `fleet_jobs` table, and the registry reads a job's runner needs.

use chrono::{DateTime, Utc};
use mercato_tenants::{JobId, PodId, PodState};
use sqlx::PgExecutor;
use uuid::Uuid;

use super::{Job, JobStatus, Kind, Step};
use crate::rebalance::{Measure, PlannedMove};

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
