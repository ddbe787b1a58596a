//! The fleet: pods register with a name, an internal URL and a capacity.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use mercato_tenants::http::{ApiJson, ApiPath};
pub use mercato_tenants::operator::Pod;
use mercato_tenants::{ApiError, PodId, PodState, RoutingChange};
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::auth::Operator;
use crate::error::ControlError;
use crate::{routing, AppState};
use mercato_tenants::error::ErrorBody;

/// The pods API, each route registered with its OpenAPI description.
pub fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::default()
        .routes(routes!(list, register))
        .routes(routes!(update))
}

#[derive(sqlx::FromRow)]
struct PodRow {
    id: Uuid,
    name: String,
    url: String,
    capacity: i32,
    capacity_bytes: i64,
    capacity_orders_per_hour: i64,
    state: String,
    stores: i64,
    rows: i64,
    bytes: i64,
    orders_last_hour: i64,
    requests_per_minute: i64,
    movable: bool,
    created_at: DateTime<Utc>,
}

impl TryFrom<PodRow> for Pod {
    type Error = sqlx::Error;
    fn try_from(r: PodRow) -> Result<Self, Self::Error> {
        Ok(Pod {
            id: PodId::from_uuid(r.id),
            state: r
                .state
                .parse()
                .map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
            name: r.name,
            url: r.url,
            capacity: r.capacity,
            capacity_bytes: r.capacity_bytes,
            capacity_orders_per_hour: r.capacity_orders_per_hour,
            stores: r.stores,
            rows: r.rows,
            bytes: r.bytes,
            orders_last_hour: r.orders_last_hour,
            requests_per_minute: r.requests_per_minute,
            movable: r.movable,
            created_at: r.created_at,
        })
    }
}

const SELECT_PODS: &str = "SELECT p.id, p.name, p.url, p.capacity, p.capacity_bytes,
        p.capacity_orders_per_hour, p.state, p.created_at, p.database_url IS NOT NULL AS movable,
        (SELECT count(*) FROM stores s WHERE s.pod_id = p.id) AS stores,
        COALESCE(l.rows, 0) AS rows, COALESCE(l.bytes, 0) AS bytes,
        COALESCE(l.orders, 0) AS orders_last_hour, COALESCE(l.requests, 0) AS requests_per_minute
    FROM pods p
    LEFT JOIN LATERAL (
        SELECT sum(sl.rows)::bigint AS rows, sum(sl.bytes)::bigint AS bytes,
               sum(sl.orders_last_hour)::bigint AS orders, sum(sl.requests_per_minute)::bigint AS requests
          FROM store_loads sl JOIN stores s ON s.id = sl.store_id AND s.pod_id = p.id
    ) l ON true";

pub async fn list_pods<'e>(exec: impl sqlx::PgExecutor<'e>) -> Result<Vec<Pod>, sqlx::Error> {
    let rows: Vec<PodRow> = sqlx::query_as(&format!("{SELECT_PODS} ORDER BY p.name"))
        .fetch_all(exec)
        .await?;
    rows.into_iter().map(Pod::try_from).collect()
}

pub(crate) async fn get_pod(db: &sqlx::PgPool, id: PodId) -> Result<Option<Pod>, sqlx::Error> {
    let row: Option<PodRow> = sqlx::query_as(&format!("{SELECT_PODS} WHERE p.id = $1"))
        .bind(id.as_uuid())
        .fetch_optional(db)
        .await?;
    row.map(Pod::try_from).transpose()
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct RegisterPod {
    #[schema(pattern = "^[A-Za-z0-9_-]{1,63}$")]
    name: String,
    /// The pod's internal base URL.
    #[schema(pattern = "^https?://[^\\s]+$", max_length = 2048)]
    url: String,
    /// How many stores it may hold.
    #[schema(minimum = 1, maximum = 1_000_000)]
    capacity: i32,
    /// Where the mover reaches the pod's Postgres (publish, subscribe).
    #[serde(default)]
    #[schema(pattern = "^postgres(ql)?://", max_length = 2048)]
    database_url: Option<String>,
    #[serde(default)]
    #[schema(minimum = 1)]
    capacity_bytes: Option<i64>,
    #[serde(default)]
    #[schema(minimum = 1)]
    capacity_orders_per_hour: Option<i64>,
}

fn valid_name(name: &str) -> bool {
    (1..=63).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn valid_url(url: &str) -> bool {
    (url.starts_with("http://") || url.starts_with("https://"))
        && url.len() <= 2048
        && !url.contains(char::is_whitespace)
}

/// Registers a pod. A name already registered with the same URL and
/// capacity answers with the existing pod (idempotent re-run).
#[utoipa::path(post, path = "/v1/pods", tag = "pods", security(("bearer" = [])),
    request_body = RegisterPod,
    responses((status = 201, body = Pod), (status = 200, description = "already registered", body = Pod),
        (status = 409, body = ErrorBody)))]
async fn register(
    State(state): State<AppState>,
    _: Operator,
    ApiJson(req): ApiJson<RegisterPod>,
) -> Result<(StatusCode, Json<Pod>), ControlError> {
    if !valid_name(&req.name) {
        return Err(ApiError::invalid(
            "name must be 1 to 63 characters of letters, digits, - and _",
        )
        .into());
    }
    if !valid_url(&req.url) {
        return Err(ApiError::invalid("url must be an http(s) URL").into());
    }
    if !(1..=1_000_000).contains(&req.capacity) {
        return Err(ApiError::invalid("capacity must be 1 to 1000000 stores").into());
    }
    if let Some(db) = &req.database_url {
        if !(db.starts_with("postgres://") || db.starts_with("postgresql://")) || db.len() > 2048 {
            return Err(ApiError::invalid("database_url must be a postgres:// URL").into());
        }
    }
    if matches!(req.capacity_bytes, Some(c) if c <= 0)
        || matches!(req.capacity_orders_per_hour, Some(c) if c <= 0)
    {
        return Err(ApiError::invalid("capacities must be positive").into());
    }
    let url = req.url.trim_end_matches('/').to_owned();
    let existing = list_pods(&state.db)
        .await?
        .into_iter()
        .find(|p| p.name == req.name);
    if let Some(pod) = existing {
        if pod.url == url
            && pod.capacity == req.capacity
            && pod.movable == req.database_url.is_some()
        {
            return Ok((StatusCode::OK, Json(pod)));
        }
    }
    let id = PodId::new();
    let mut tx = state.db.begin().await.map_err(ApiError::internal)?;
    sqlx::query(
        "INSERT INTO pods (id, name, url, capacity, state, database_url, capacity_bytes, capacity_orders_per_hour)
         VALUES ($1, $2, $3, $4, 'active', $5, COALESCE($6, 107374182400), COALESCE($7, 100000))",
    )
    .bind(id.as_uuid())
    .bind(&req.name)
    .bind(&url)
    .bind(req.capacity)
    .bind(&req.database_url)
    .bind(req.capacity_bytes)
    .bind(req.capacity_orders_per_hour)
    .execute(&mut *tx)
    .await?;
    let version = routing::record(&mut tx, &[RoutingChange::Pod { pod: id, url }]).await?;
    tx.commit().await?;
    state.routing_changed(version);
    tracing::info!(pod_id = %id, name = %req.name, "pod registered");
    let pod = get_pod(&state.db, id)
        .await?
        .ok_or_else(|| ApiError::internal("pod vanished"))?;
    Ok((StatusCode::CREATED, Json(pod)))
}

/// Every pod, by name, with its stores' latest load figures.
#[utoipa::path(get, path = "/v1/pods", tag = "pods", security(("bearer" = [])),
    responses((status = 200, body = Vec<Pod>)))]
async fn list(State(state): State<AppState>, _: Operator) -> Result<Json<Vec<Pod>>, ControlError> {
    Ok(Json(list_pods(&state.db).await?))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct UpdatePod {
    state: Option<PodState>,
    #[schema(minimum = 1, maximum = 1_000_000)]
    capacity: Option<i32>,
}

/// Marks a pod draining, drained or active again, or changes its capacity.
#[utoipa::path(patch, path = "/v1/pods/{id}", tag = "pods", security(("bearer" = [])),
    params(("id" = PodId, Path)), request_body = UpdatePod,
    responses((status = 200, body = Pod), (status = 404, body = ErrorBody)))]
async fn update(
    State(state): State<AppState>,
    _: Operator,
    ApiPath(id): ApiPath<PodId>,
    ApiJson(req): ApiJson<UpdatePod>,
) -> Result<Json<Pod>, ControlError> {
    if let Some(c) = req.capacity {
        if !(1..=1_000_000).contains(&c) {
            return Err(ApiError::invalid("capacity must be 1 to 1000000 stores").into());
        }
    }
    let updated = sqlx::query(
        "UPDATE pods SET state = COALESCE($2, state), capacity = COALESCE($3, capacity), updated_at = now() WHERE id = $1",
    )
    .bind(id.as_uuid())
    .bind(req.state.map(PodState::as_str))
    .bind(req.capacity)
    .execute(&state.db)
    .await?;
    if updated.rows_affected() == 0 {
        return Err(ApiError::not_found("pod").into());
    }
    get_pod(&state.db, id)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found("pod").into())
}
