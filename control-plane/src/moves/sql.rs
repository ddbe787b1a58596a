//! The `moves` table: a move's persisted record, read and written.

use chrono::{DateTime, Utc};
use mercato_tenants::{JobId, MoveId, PodId, StoreId};
use sqlx::PgExecutor;
use uuid::Uuid;

use super::model::{Move, Phase, Reason, Status};

#[derive(sqlx::FromRow)]
struct Row {
    id: Uuid,
    store_id: Uuid,
    source_pod: Uuid,
    target_pod: Uuid,
    reason: String,
    job_id: Option<Uuid>,
    phase: String,
    status: String,
    abort_requested: bool,
    error: Option<String>,
    tables_total: i32,
    tables_ready: i32,
    rows_copied: i64,
    bytes_copied: i64,
    lag_bytes: Option<i64>,
    pause_ms: Option<i64>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    finished_at: Option<DateTime<Utc>>,
}

fn decode(what: &str, value: &str) -> sqlx::Error {
    sqlx::Error::Decode(format!("unknown move {what} `{value}`").into())
}

impl TryFrom<Row> for Move {
    type Error = sqlx::Error;
    fn try_from(r: Row) -> Result<Self, sqlx::Error> {
        Ok(Move {
            id: MoveId::from_uuid(r.id),
            store_id: StoreId::from_uuid(r.store_id),
            source_pod_id: PodId::from_uuid(r.source_pod),
            target_pod_id: PodId::from_uuid(r.target_pod),
            phase: Phase::parse(&r.phase).ok_or_else(|| decode("phase", &r.phase))?,
            status: Status::parse(&r.status).ok_or_else(|| decode("status", &r.status))?,
            reason: Reason::parse(&r.reason).ok_or_else(|| decode("reason", &r.reason))?,
            job_id: r.job_id.map(JobId::from_uuid),
            abort_requested: r.abort_requested,
            error: r.error,
            tables_total: r.tables_total,
            tables_ready: r.tables_ready,
            rows_copied: r.rows_copied,
            bytes_copied: r.bytes_copied,
            lag_bytes: r.lag_bytes,
            pause_ms: r.pause_ms,
            duration_ms: r.finished_at.map(|f| (f - r.created_at).num_milliseconds()),
            created_at: r.created_at,
            updated_at: r.updated_at,
            finished_at: r.finished_at,
        })
    }
}

const SELECT: &str =
    "SELECT id, store_id, source_pod, target_pod, reason, job_id, phase, status, abort_requested, error,
        tables_total, tables_ready, rows_copied, bytes_copied, lag_bytes, pause_ms,
        created_at, updated_at, finished_at
   FROM moves";

pub async fn get<'e>(db: impl PgExecutor<'e>, id: MoveId) -> Result<Option<Move>, sqlx::Error> {
    let row: Option<Row> = sqlx::query_as(&format!("{SELECT} WHERE id = $1"))
        .bind(id.as_uuid())
        .fetch_optional(db)
        .await?;
    row.map(Move::try_from).transpose()
}

pub async fn list<'e>(
    db: impl PgExecutor<'e>,
    store: Option<StoreId>,
    status: Option<Status>,
    limit: i64,
) -> Result<Vec<Move>, sqlx::Error> {
    let rows: Vec<Row> = sqlx::query_as(&format!(
        "{SELECT} WHERE ($1::uuid IS NULL OR store_id = $1) AND ($2::text IS NULL OR status = $2)
          ORDER BY created_at DESC, id DESC LIMIT $3"
    ))
    .bind(store.map(|s| s.as_uuid()))
    .bind(status.map(Status::as_str))
    .bind(limit)
    .fetch_all(db)
    .await?;
    rows.into_iter().map(Move::try_from).collect()
}

/// The latest move of `store` made as a step of `job`.
pub async fn latest_of_job<'e>(
    db: impl PgExecutor<'e>,
    job: JobId,
    store: StoreId,
) -> Result<Option<Move>, sqlx::Error> {
    let row: Option<Row> = sqlx::query_as(&format!(
        "{SELECT} WHERE job_id = $1 AND store_id = $2 ORDER BY created_at DESC, id DESC LIMIT 1"
    ))
    .bind(job.as_uuid())
    .bind(store.as_uuid())
    .fetch_optional(db)
    .await?;
    row.map(Move::try_from).transpose()
}

pub async fn running_ids<'e>(db: impl PgExecutor<'e>) -> Result<Vec<MoveId>, sqlx::Error> {
    let rows: Vec<(Uuid,)> =
        sqlx::query_as("SELECT id FROM moves WHERE status = 'running' ORDER BY created_at")
            .fetch_all(db)
            .await?;
    Ok(rows
        .into_iter()
        .map(|(id,)| MoveId::from_uuid(id))
        .collect())
}

/// A move about to start.
pub struct NewMove {
    pub id: MoveId,
    pub store: StoreId,
    pub source: PodId,
    pub target: PodId,
    pub reason: Reason,
    /// The drain or rebalance it is a step of.
    pub job: Option<JobId>,
    pub tables_total: i32,
}

pub async fn insert<'e>(db: impl PgExecutor<'e>, m: &NewMove) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO moves (id, store_id, source_pod, target_pod, reason, job_id, phase, status, tables_total)
         VALUES ($1, $2, $3, $4, $5, $6, 'copying', 'running', $7)",
    )
    .bind(m.id.as_uuid())
    .bind(m.store.as_uuid())
    .bind(m.source.as_uuid())
    .bind(m.target.as_uuid())
    .bind(m.reason.as_str())
    .bind(m.job.map(|j| j.as_uuid()))
    .bind(m.tables_total)
    .execute(db)
    .await
    .map(|_| ())
}

pub async fn set_phase<'e>(db: impl PgExecutor<'e>, id: MoveId, phase: Phase) -> sqlx::Result<()> {
    sqlx::query("UPDATE moves SET phase = $2, updated_at = now() WHERE id = $1")
        .bind(id.as_uuid())
        .bind(phase.as_str())
        .execute(db)
        .await
        .map(|_| ())
}

/// Progress figures shown while a move runs.
pub async fn set_progress<'e>(
    db: impl PgExecutor<'e>,
    id: MoveId,
    tables_ready: i64,
    rows_copied: Option<i64>,
    bytes_copied: Option<i64>,
    lag_bytes: Option<i64>,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE moves SET tables_ready = $2, rows_copied = COALESCE($3, rows_copied),
                bytes_copied = COALESCE($4, bytes_copied), lag_bytes = $5, updated_at = now()
          WHERE id = $1",
    )
    .bind(id.as_uuid())
    .bind(tables_ready as i32)
    .bind(rows_copied)
    .bind(bytes_copied)
    .bind(lag_bytes)
    .execute(db)
    .await
    .map(|_| ())
}

pub async fn abort_requested<'e>(db: impl PgExecutor<'e>, id: MoveId) -> sqlx::Result<bool> {
    let (flag,): (bool,) = sqlx::query_as("SELECT abort_requested FROM moves WHERE id = $1")
        .bind(id.as_uuid())
        .fetch_one(db)
        .await?;
    Ok(flag)
}

/// Asks a running move to stop; `false` when it is not running.
pub async fn request_abort<'e>(db: impl PgExecutor<'e>, id: MoveId) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE moves SET abort_requested = true, updated_at = now() WHERE id = $1 AND status = 'running'",
    )
    .bind(id.as_uuid())
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn finish<'e>(
    db: impl PgExecutor<'e>,
    id: MoveId,
    status: Status,
    phase: Phase,
    error: Option<&str>,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE moves SET status = $2, phase = $3, error = COALESCE($4, error), lag_bytes = NULL,
                finished_at = now(), updated_at = now()
          WHERE id = $1",
    )
    .bind(id.as_uuid())
    .bind(status.as_str())
    .bind(phase.as_str())
    .bind(error)
    .execute(db)
    .await
    .map(|_| ())
}

/// Records the failure that sends a move back, before the rollback runs.
pub async fn set_error<'e>(db: impl PgExecutor<'e>, id: MoveId, error: &str) -> sqlx::Result<()> {
    sqlx::query("UPDATE moves SET error = COALESCE(error, $2), updated_at = now() WHERE id = $1")
        .bind(id.as_uuid())
        .bind(error)
        .execute(db)
        .await
        .map(|_| ())
}
