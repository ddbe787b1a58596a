//! `/v1/moves`: start, follow and abort moves.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use mercato_tenants::error::ErrorBody;
use mercato_tenants::http::{ApiJson, ApiPath, ApiQuery};
use mercato_tenants::operator::moves::MovePage;
use mercato_tenants::{ApiError, ErrorCode, JobId, MoveId, PodId, PodState, StoreId, TenantState};
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::model::{Move, Reason, Status};
use super::pg::PodDb;
use super::runner::{self, pod_endpoint, PodEndpoint};
use super::sql;
use crate::auth::Operator;
use crate::error::ControlError;
use crate::placement::{place_store, Capacity};
use crate::{fleet, stores, AppState};

/// The moves API, each route registered with its OpenAPI description.
pub fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::default()
        .routes(routes!(list, create))
        .routes(routes!(show))
        .routes(routes!(abort))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct CreateMove {
    store_id: StoreId,
    /// By default the pod placement picks.
    #[serde(default)]
    target_pod_id: Option<PodId>,
}

/// Why a move could not start, as the API reports it.
pub type StartError = ControlError;

fn preflight_failed(message: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::MovePreflightFailed, message)
}

fn not_movable(pod: &PodEndpoint, why: &str) -> ApiError {
    ApiError::new(ErrorCode::PodNotMovable, format!("pod {} {why}", pod.name))
}

/// Checks a move and starts it: the store is active and not moving, the
/// target is another active pod (chosen by placement when `target` is
/// `None`), both pods' databases are reachable, logical replication is on,
/// both have the same tenant tables and each has a primary key. `job`: the
/// drain or rebalance the move is a step of.
pub async fn start(
    state: &AppState,
    store_id: StoreId,
    target: Option<PodId>,
    reason: Reason,
    job: Option<JobId>,
) -> Result<Move, StartError> {
    let store = stores::get(&state.db, store_id)
        .await?
        .ok_or_else(|| ApiError::not_found("store"))?;
    let running = sql::list(&state.db, Some(store_id), Some(Status::Running), 1).await?;
    if let Some(m) = running.first() {
        return Err(ApiError::new(
            ErrorCode::MoveInProgress,
            format!("store {store_id} is already moving (move {})", m.id),
        )
        .into());
    }
    if store.state != TenantState::Active {
        return Err(ApiError::new(
            ErrorCode::Conflict,
            format!("store {store_id} is {}, not active", store.state),
        )
        .into());
    }
    let target = match target {
        Some(t) if t == store.pod_id => {
            return Err(ApiError::new(
                ErrorCode::AlreadyOnPod,
                format!("store {store_id} is already on pod {t}"),
            )
            .into())
        }
        Some(t) => t,
        None => {
            let pods = fleet::pod_loads(&state.db).await?;
            // A store without a report yet needs only its slot.
            let need = fleet::store_loads(&state.db)
                .await?
                .into_iter()
                .find(|s| s.store == store_id)
                .map(|s| s.need())
                .unwrap_or(Capacity {
                    stores: 1,
                    bytes: 0,
                    orders_per_hour: 0,
                });
            place_store(&pods, &need, Some(store.pod_id)).ok_or_else(|| {
                // The operator asked for what this fleet cannot do: a
                // refusal, not an outage (found by scripts/fuzz.sh).
                ApiError::new(
                    ErrorCode::NoTargetPod,
                    "no other active pod has room for this store",
                )
            })?
        }
    };
    let source = pod_endpoint(&state.db, store.pod_id)
        .await?
        .ok_or_else(|| ApiError::internal("the store's pod is missing"))?;
    let target_pod = pod_endpoint(&state.db, target)
        .await?
        .ok_or_else(|| ApiError::not_found("pod"))?;
    if target_pod.state != PodState::Active.as_str() {
        return Err(not_movable(&target_pod, &format!("is {}", target_pod.state)).into());
    }
    let tables = preflight(&source, &target_pod).await?;
    let id = MoveId::new();
    let new = sql::NewMove {
        id,
        store: store_id,
        source: source.id,
        target,
        reason,
        job,
        tables_total: tables as i32,
    };
    sql::insert(&state.db, &new).await?;
    tracing::info!(move_id = %id, store_id = %store_id, from = %source.name, to = %target_pod.name, reason = reason.as_str(), "move started");
    runner::spawn(state.clone(), id, false);
    sql::get(&state.db, id)
        .await?
        .ok_or_else(|| ApiError::internal("move vanished").into())
}

/// The checks that need the pods' databases; returns the number of tenant
/// tables that will move.
async fn preflight(source: &PodEndpoint, target: &PodEndpoint) -> Result<usize, ControlError> {
    let urls = [source, target].map(|p| {
        p.database_url
            .clone()
            .ok_or_else(|| not_movable(p, "was registered without a database_url"))
    });
    let [src_url, dst_url] = urls;
    let (src_url, dst_url) = (src_url?, dst_url?);
    let unreachable = |pod: &PodEndpoint| {
        let name = pod.name.clone();
        move |e: anyhow::Error| {
            tracing::warn!(pod = %name, error = format!("{e:#}"), "move pre-flight: database unreachable");
            ApiError::new(
                ErrorCode::PodUnavailable,
                format!("the database of pod {name} is unreachable"),
            )
        }
    };
    let src = PodDb::connect(&src_url)
        .await
        .map_err(unreachable(source))?;
    let dst = PodDb::connect(&dst_url).await.map_err(unreachable(target));
    let dst = match dst {
        Ok(d) => d,
        Err(e) => {
            src.close().await;
            return Err(e.into());
        }
    };
    let checked = check_schemas(&src, &dst, source).await;
    src.close().await;
    dst.close().await;
    checked
}

async fn check_schemas(
    src: &PodDb,
    dst: &PodDb,
    source: &PodEndpoint,
) -> Result<usize, ControlError> {
    let level = src.wal_level().await.map_err(ApiError::internal)?;
    if level != "logical" {
        return Err(preflight_failed(format!(
            "pod {} runs with wal_level={level}; moves need wal_level=logical",
            source.name
        ))
        .into());
    }
    let tables = src.tenant_tables().await.map_err(ApiError::internal)?;
    let theirs = dst.tenant_tables().await.map_err(ApiError::internal)?;
    if tables != theirs {
        let only_here: Vec<&String> = tables.iter().filter(|t| !theirs.contains(t)).collect();
        let only_there: Vec<&String> = theirs.iter().filter(|t| !tables.contains(t)).collect();
        return Err(preflight_failed(format!(
            "the pods' schemas differ (only on the source: {only_here:?}; only on the target: {only_there:?}); migrate both first"
        )).into());
    }
    let keys = src
        .primary_keys(&tables)
        .await
        .map_err(ApiError::internal)?;
    let missing: Vec<&str> = tables
        .iter()
        .filter(|t| !keys.contains_key(*t))
        .map(String::as_str)
        .collect();
    if !missing.is_empty() {
        return Err(preflight_failed(format!(
            "tenant table(s) without a primary key: {}; logical replication cannot apply updates and deletes to them, so the store cannot move",
            missing.join(", ")
        )).into());
    }
    // The freeze checks only what the source's capture recorded.
    let triggers = src
        .capture_triggers(&tables)
        .await
        .map_err(ApiError::internal)?;
    let uncaptured: Vec<&str> = tables
        .iter()
        .filter(|t| triggers.get(*t) != keys.get(*t))
        .map(String::as_str)
        .collect();
    if !uncaptured.is_empty() {
        return Err(preflight_failed(format!(
            "tenant table(s) without the move_capture trigger over their primary key on pod {}: {}; the migration that creates a tenant table must call move_capture.install('<table>')",
            source.name,
            uncaptured.join(", ")
        )).into());
    }
    Ok(tables.len())
}

/// Starts moving a store to another pod while it keeps selling.
#[utoipa::path(post, path = "/v1/moves", tag = "moves", security(("bearer" = [])),
    request_body = CreateMove,
    responses((status = 202, body = Move), (status = 404, body = ErrorBody),
        (status = 409, description = "the store is moving or already on the target, or no other \
            pod has room (`move_in_progress`, `already_on_pod`, `no_target_pod`, ...)", body = ErrorBody),
        (status = 422, description = "a pod's database is not ready for a move \
            (`move_preflight_failed`, `pod_not_movable`)", body = ErrorBody)))]
async fn create(
    State(state): State<AppState>,
    _: Operator,
    ApiJson(req): ApiJson<CreateMove>,
) -> Result<(StatusCode, Json<Move>), ControlError> {
    let mv = start(
        &state,
        req.store_id,
        req.target_pod_id,
        Reason::Operator,
        None,
    )
    .await?;
    Ok((StatusCode::ACCEPTED, Json(mv)))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    store_id: Option<StoreId>,
    #[param(value_type = Option<Status>)]
    status: Option<String>,
    /// 1 to 500, default 50.
    #[param(minimum = 1, maximum = 500)]
    limit: Option<i64>,
}

/// Moves, newest first.
#[utoipa::path(get, path = "/v1/moves", tag = "moves", security(("bearer" = [])),
    params(ListQuery), responses((status = 200, body = MovePage)))]
async fn list(
    State(state): State<AppState>,
    _: Operator,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<MovePage>, ControlError> {
    let status = match q.status.as_deref() {
        None => None,
        Some(s) => Some(Status::parse(s).ok_or_else(|| {
            ApiError::invalid("status must be running, completed, rolled_back or failed")
        })?),
    };
    let limit = q.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::invalid("limit must be 1 to 500").into());
    }
    let items = sql::list(&state.db, q.store_id, status, limit).await?;
    Ok(Json(MovePage { items }))
}

/// One move and how far it got.
#[utoipa::path(get, path = "/v1/moves/{id}", tag = "moves", security(("bearer" = [])),
    params(("id" = MoveId, Path)), responses((status = 200, body = Move), (status = 404, body = ErrorBody)))]
async fn show(
    State(state): State<AppState>,
    _: Operator,
    ApiPath(id): ApiPath<MoveId>,
) -> Result<Json<Move>, ControlError> {
    sql::get(&state.db, id)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found("move").into())
}

/// Asks for a move to be rolled back at the runner's next check (a move
/// past the routing flip can no longer be aborted).
#[utoipa::path(post, path = "/v1/moves/{id}/abort", tag = "moves", security(("bearer" = [])),
    params(("id" = MoveId, Path)),
    responses((status = 202, body = Move), (status = 404, body = ErrorBody),
        (status = 409, description = "the move has finished (`move_finished`)", body = ErrorBody)))]
async fn abort(
    State(state): State<AppState>,
    _: Operator,
    ApiPath(id): ApiPath<MoveId>,
) -> Result<(StatusCode, Json<Move>), ControlError> {
    let mv = abort_move(&state, id).await?;
    Ok((StatusCode::ACCEPTED, Json(mv)))
}

/// Whether an operator may still abort `mv`: it is running and has not
/// flipped the routing yet.
pub fn abortable(mv: &Move) -> bool {
    mv.status == Status::Running && !mv.phase.past_switch()
}

/// Asks move `id` to roll back at the runner's next check: refused
/// (`409 move_finished`) once the move has finished or is past the routing
/// flip. `POST /v1/moves/{id}/abort` and the console's Abort button.
pub async fn abort_move(state: &AppState, id: MoveId) -> Result<Move, ControlError> {
    let mv = sql::get(&state.db, id)
        .await?
        .ok_or_else(|| ApiError::not_found("move"))?;
    if !abortable(&mv) {
        return Err(ApiError::new(
            ErrorCode::MoveFinished,
            format!(
                "move {id} is {} and can no longer be aborted",
                mv.status.as_str()
            ),
        )
        .into());
    }
    if !sql::request_abort(&state.db, id).await? {
        return Err(
            ApiError::new(ErrorCode::MoveFinished, format!("move {id} has finished")).into(),
        );
    }
    tracing::info!(move_id = %id, "move abort requested");
    sql::get(&state.db, id)
        .await?
        .ok_or_else(|| ApiError::not_found("move").into())
}
