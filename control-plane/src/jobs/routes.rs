//! `/v1/pods/{id}/drain`, `/v1/rebalance/*` and `/v1/jobs`: plan drains and
//! rebalances, run them as jobs, follow and cancel them.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use mercato_tenants::error::ErrorBody;
use mercato_tenants::http::{ApiJson, ApiPath, ApiQuery};
use mercato_tenants::operator::jobs::{Applied, Drain, JobPage};
use mercato_tenants::{ApiError, ErrorCode, JobId, PodId};
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{runner, Job, Kind};
use crate::auth::Operator;
use crate::error::ControlError;
use crate::pods::get_pod;
use crate::rebalance::{self, DrainError, Measure, Plan, PlannedMove};
use crate::{fleet, AppState};

/// Every active pod within ±10 % of the mean.
pub const BAND: f64 = 0.10;

/// The longest pause an operator may ask for between two moves: an hour.
const MAX_THROTTLE_MS: u64 = 3_600_000;

/// The fleet jobs API, each route registered with its OpenAPI description.
pub fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::default()
        .routes(routes!(drain))
        .routes(routes!(plan))
        .routes(routes!(apply))
        .routes(routes!(list))
        .routes(routes!(show))
        .routes(routes!(cancel))
}

fn measure(name: Option<&str>) -> Result<Measure, ApiError> {
    name.map_or(Ok(Measure::default()), |m| {
        m.parse()
            .map_err(|e: mercato_tenants::operator::Unknown| ApiError::invalid(e.to_string()))
    })
}

fn throttle(state: &AppState, ms: Option<u64>) -> Result<u64, ControlError> {
    match ms {
        None => Ok(state.mover.settings.throttle_ms),
        Some(ms) if ms <= MAX_THROTTLE_MS => Ok(ms),
        Some(_) => {
            Err(ApiError::invalid(format!("throttle_ms must be 0 to {MAX_THROTTLE_MS}")).into())
        }
    }
}

fn job_running(job: &Job) -> ApiError {
    let what = match (job.kind, job.pod_id) {
        (Kind::Drain, Some(pod)) => format!("a drain of pod {pod}"),
        _ => "a rebalance".into(),
    };
    ApiError::new(
        ErrorCode::FleetJobRunning,
        format!(
            "{what} is running (job {}); wait for it or cancel it",
            job.id
        ),
    )
}

/// Creates a job and starts it; a job started meanwhile answers 409.
async fn create_job(
    tx: &mut sqlx::PgConnection,
    kind: Kind,
    pod: Option<PodId>,
    measure: Measure,
    throttle_ms: u64,
    moves: &[PlannedMove],
) -> Result<JobId, ControlError> {
    let id = JobId::new();
    super::sql::insert(&mut *tx, id, kind, pod, measure, throttle_ms, moves).await?;
    tracing::info!(job_id = %id, kind = kind.as_str(), moves = moves.len(), "fleet job created");
    Ok(id)
}

async fn load_job(state: &AppState, id: JobId) -> Result<Job, ControlError> {
    super::sql::get(&state.db, id)
        .await?
        .ok_or_else(|| ApiError::not_found("job").into())
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct DrainRequest {
    /// Pause between two moves, in milliseconds (at most an hour).
    #[serde(default)]
    #[schema(maximum = 3_600_000)]
    throttle_ms: Option<u64>,
}

/// `POST /v1/pods/{id}/drain {throttle_ms?}`: marks the pod draining (no
/// new store is placed on it) and moves every store on it to the pods
/// placement picks, one at a time; the pod becomes `drained` once empty.
/// A pod already empty is drained at once (200). Asking again while its
/// drain runs answers that drain.
#[utoipa::path(post, path = "/v1/pods/{id}/drain", tag = "jobs", security(("bearer" = [])),
    params(("id" = PodId, Path)), request_body = DrainRequest,
    responses((status = 202, body = Drain), (status = 200, description = "the pod was empty and is drained", body = Drain),
        (status = 404, body = ErrorBody),
        (status = 409, description = "another drain or rebalance is running (`fleet_job_running`), \
            or the other pods cannot take the stores", body = ErrorBody),
        (status = 503, description = "no active pod has room for one of its stores (`no_pod_available`)",
            body = ErrorBody)))]
async fn drain(
    State(state): State<AppState>,
    _: Operator,
    ApiPath(id): ApiPath<PodId>,
    ApiJson(req): ApiJson<DrainRequest>,
) -> Result<(StatusCode, Json<Drain>), ControlError> {
    let drain = start_drain(&state, id, req.throttle_ms).await?;
    let status = if drain.job.is_some() {
        StatusCode::ACCEPTED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(drain)))
}

/// The moves that would empty pod `id`: each of its stores to the pod
/// placement picks, over the fleet's loads as `conn` reads them. The plan
/// `POST /v1/pods/{id}/drain` runs, and the one the console shows first.
pub async fn plan_drain(
    conn: &mut sqlx::PgConnection,
    id: PodId,
) -> Result<Vec<PlannedMove>, ControlError> {
    let pods = fleet::pod_loads(&mut *conn).await?;
    let stores = fleet::store_loads(&mut *conn).await?;
    rebalance::drain(&pods, &stores, id).map_err(|e| {
        match e {
            DrainError::NoRoom(store) => ApiError::new(
                ErrorCode::NoPodAvailable,
                format!("no active pod has room for store {store}; add a pod or raise capacities, then drain again"),
            ),
            DrainError::UnknownPod => ApiError::not_found("pod"),
        }
        .into()
    })
}

/// Marks pod `id` draining and starts the job that moves its stores off
/// ([`plan_drain`]), `throttle_ms` apart (the mover's default when
/// `None`); an empty pod is drained at once (no job). While the pod's
/// drain runs, answers that drain. `POST /v1/pods/{id}/drain` and the
/// console's "Start draining".
pub async fn start_drain(
    state: &AppState,
    id: PodId,
    throttle_ms: Option<u64>,
) -> Result<Drain, ControlError> {
    let throttle_ms = throttle(state, throttle_ms)?;
    let pod = get_pod(&state.db, id)
        .await?
        .ok_or_else(|| ApiError::not_found("pod"))?;
    if let Some(job) = super::sql::running(&state.db).await? {
        if job.kind == Kind::Drain && job.pod_id == Some(id) {
            let moves = job.steps.iter().map(|s| s.planned.clone()).collect();
            return Ok(Drain {
                pod,
                moves,
                job: Some(job),
            });
        }
        return Err(job_running(&job).into());
    }
    let mut tx = state.db.begin().await.map_err(ApiError::internal)?;
    // Draining first, under the pod's lock: placement takes every pod's
    // lock and skips draining pods, so no store lands here once we plan.
    sqlx::query("UPDATE pods SET state = 'draining', updated_at = now() WHERE id = $1")
        .bind(id.as_uuid())
        .execute(&mut *tx)
        .await?;
    let moves = plan_drain(&mut tx, id).await?;
    let job = if moves.is_empty() {
        sqlx::query("UPDATE pods SET state = 'drained', updated_at = now() WHERE id = $1")
            .bind(id.as_uuid())
            .execute(&mut *tx)
            .await?;
        None
    } else {
        Some(
            create_job(
                &mut tx,
                Kind::Drain,
                Some(id),
                Measure::Bytes,
                throttle_ms,
                &moves,
            )
            .await?,
        )
    };
    tx.commit().await?;
    tracing::info!(pod_id = %id, name = %pod.name, moves = moves.len(), "pod drain started");
    let job = match job {
        Some(job_id) => {
            runner::spawn(state.clone(), job_id);
            Some(load_job(state, job_id).await?)
        }
        None => None,
    };
    let pod = get_pod(&state.db, id)
        .await?
        .ok_or_else(|| ApiError::not_found("pod"))?;
    Ok(Drain { pod, moves, job })
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct PlanQuery {
    /// What to even out; `bytes` by default.
    #[param(value_type = Option<Measure>)]
    measure: Option<String>,
}

/// The rebalance plan for `measure` from the latest load reports: what
/// `GET /v1/rebalance/plan` answers and `POST /v1/rebalance/apply` runs.
pub async fn current_plan(state: &AppState, measure: Measure) -> Result<Plan, ControlError> {
    let pods = fleet::pod_loads(&state.db).await?;
    let stores = fleet::store_loads(&state.db).await?;
    Ok(rebalance::plan(&pods, &stores, measure, BAND))
}

/// `GET /v1/rebalance/plan?measure=bytes|rows|orders|stores`: the moves
/// that would bring every active pod within ±10 % of the mean, from the
/// latest load reports. Changes nothing.
#[utoipa::path(get, path = "/v1/rebalance/plan", tag = "jobs", security(("bearer" = [])),
    params(PlanQuery), responses((status = 200, body = Plan)))]
async fn plan(
    State(state): State<AppState>,
    _: Operator,
    ApiQuery(q): ApiQuery<PlanQuery>,
) -> Result<Json<Plan>, ControlError> {
    let measure = measure(q.measure.as_deref())?;
    current_plan(&state, measure).await.map(Json)
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct ApplyRequest {
    /// What to even out; `bytes` by default.
    #[serde(default)]
    #[schema(value_type = Option<Measure>)]
    measure: Option<String>,
    /// Pause between two moves, in milliseconds (at most an hour).
    #[serde(default)]
    #[schema(maximum = 3_600_000)]
    throttle_ms: Option<u64>,
}

/// `POST /v1/rebalance/apply {measure?, throttle_ms?}`: plans as
/// `GET /v1/rebalance/plan` does and runs the moves as a job, one at a
/// time, `throttle_ms` apart (202). A balanced fleet gets no job (200).
#[utoipa::path(post, path = "/v1/rebalance/apply", tag = "jobs", security(("bearer" = [])),
    request_body = ApplyRequest,
    responses((status = 202, body = Applied), (status = 200, description = "the fleet is balanced: no job", body = Applied),
        (status = 409, description = "another drain or rebalance is running (`fleet_job_running`)", body = ErrorBody)))]
async fn apply(
    State(state): State<AppState>,
    _: Operator,
    ApiJson(req): ApiJson<ApplyRequest>,
) -> Result<(StatusCode, Json<Applied>), ControlError> {
    let measure = measure(req.measure.as_deref())?;
    let applied = apply_rebalance(&state, measure, req.throttle_ms).await?;
    let status = if applied.job.is_some() {
        StatusCode::ACCEPTED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(applied)))
}

/// Plans as [`current_plan`] does and runs the moves as a job, one at a
/// time, `throttle_ms` apart (the mover's default when `None`); a balanced
/// fleet gets no job. `409 fleet_job_running` while another job runs.
/// `POST /v1/rebalance/apply` and the console's "Apply this plan".
pub async fn apply_rebalance(
    state: &AppState,
    measure: Measure,
    throttle_ms: Option<u64>,
) -> Result<Applied, ControlError> {
    let throttle_ms = throttle(state, throttle_ms)?;
    if let Some(job) = super::sql::running(&state.db).await? {
        return Err(job_running(&job).into());
    }
    let plan = current_plan(state, measure).await?;
    if plan.moves.is_empty() {
        return Ok(Applied { plan, job: None });
    }
    let mut conn = state.db.acquire().await.map_err(ApiError::internal)?;
    let id = create_job(
        &mut conn,
        Kind::Rebalance,
        None,
        measure,
        throttle_ms,
        &plan.moves,
    )
    .await?;
    drop(conn);
    runner::spawn(state.clone(), id);
    let job = load_job(state, id).await?;
    Ok(Applied {
        plan,
        job: Some(job),
    })
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// 1 to 200, default 20.
    #[param(minimum = 1, maximum = 200)]
    limit: Option<i64>,
}

/// Drains and rebalances, newest first.
#[utoipa::path(get, path = "/v1/jobs", tag = "jobs", security(("bearer" = [])),
    params(ListQuery), responses((status = 200, body = JobPage)))]
async fn list(
    State(state): State<AppState>,
    _: Operator,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<JobPage>, ControlError> {
    let limit = q.limit.unwrap_or(20);
    if !(1..=200).contains(&limit) {
        return Err(ApiError::invalid("limit must be 1 to 200").into());
    }
    let items = super::sql::list(&state.db, limit).await?;
    Ok(Json(JobPage { items }))
}

/// One job and its steps.
#[utoipa::path(get, path = "/v1/jobs/{id}", tag = "jobs", security(("bearer" = [])),
    params(("id" = JobId, Path)), responses((status = 200, body = Job), (status = 404, body = ErrorBody)))]
async fn show(
    State(state): State<AppState>,
    _: Operator,
    ApiPath(id): ApiPath<JobId>,
) -> Result<Json<Job>, ControlError> {
    load_job(&state, id).await.map(Json)
}

/// `POST /v1/jobs/{id}/cancel`: the job stops before its next move (a move
/// already running goes on; abort it with `POST /v1/moves/{id}/abort`). A
/// drained pod stays draining until re-activated with `PATCH /v1/pods/{id}`.
#[utoipa::path(post, path = "/v1/jobs/{id}/cancel", tag = "jobs", security(("bearer" = [])),
    params(("id" = JobId, Path)),
    responses((status = 202, body = Job), (status = 404, body = ErrorBody),
        (status = 409, description = "the job has finished", body = ErrorBody)))]
async fn cancel(
    State(state): State<AppState>,
    _: Operator,
    ApiPath(id): ApiPath<JobId>,
) -> Result<(StatusCode, Json<Job>), ControlError> {
    cancel_job(&state, id)
        .await
        .map(|j| (StatusCode::ACCEPTED, Json(j)))
}

/// Asks job `id` to stop before its next move (`409` once it has
/// finished). `POST /v1/jobs/{id}/cancel` and the console's Cancel button.
pub async fn cancel_job(state: &AppState, id: JobId) -> Result<Job, ControlError> {
    if !super::sql::request_cancel(&state.db, id).await? {
        let job = load_job(state, id).await?;
        return Err(ApiError::new(
            ErrorCode::Conflict,
            format!("job {id} has finished ({})", job.status.as_str()),
        )
        .into());
    }
    tracing::info!(job_id = %id, "fleet job cancel requested");
    load_job(state, id).await
}
