//! Load reports: the control plane pulls each pod's per-store figures
//! (`GET /internal/load`) every `load_poll_interval_ms` and keeps the
//! latest per store in `store_loads`, the input of placement by headroom
//! and of rebalancing.
//!
//! Only the pod the control plane places a store on speaks for it: during
//! a move both pods report the store, and the source's figures are
//! ignored. Stores the control plane does not know are ignored too.
//!
//! Operators (and the CLI) can collect at once: `POST /v1/loads/collect`.

use std::future::Future;
use std::time::Duration;

use axum::extract::State;
use axum::Json;
use mercato_tenants::pod_api::{LoadReport, StoreLoad};
use serde::Serialize;
use sqlx::PgPool;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::auth::Operator;
use crate::error::ControlError;
use crate::AppState;
use mercato_tenants::ApiError;

/// Load collection, registered with its OpenAPI description.
pub fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::default().routes(routes!(collect))
}

#[derive(Serialize, utoipa::ToSchema)]
struct Collected {
    /// How many stores' figures were recorded.
    stores: usize,
}

/// Pulls every pod's load report now (a pod that fails is skipped).
#[utoipa::path(post, path = "/v1/loads/collect", tag = "pods", security(("bearer" = [])),
    responses((status = 200, body = Collected)))]
async fn collect(
    State(state): State<AppState>,
    _: Operator,
) -> Result<Json<Collected>, ControlError> {
    let stores = collect_once(&state)
        .await
        .map_err(|e| ApiError::internal(format!("{e:#}")))?;
    Ok(Json(Collected { stores }))
}

/// Pulls the load report of every pod (a pod that fails is logged and
/// skipped) and records the figures of the stores placed on the pod that
/// reported them; the number of stores recorded.
pub async fn collect_once(state: &AppState) -> anyhow::Result<usize> {
    let pods: Vec<(Uuid, String, String)> =
        sqlx::query_as("SELECT id, name, url FROM pods ORDER BY name")
            .fetch_all(&state.db)
            .await?;
    let mut recorded = 0;
    for (pod_id, name, url) in pods {
        let report = match state.pods.load(&url).await {
            Ok(report) => report,
            Err(e) => {
                tracing::warn!(pod = %name, error = %e, "pod load report failed; skipped");
                continue;
            }
        };
        if report.pod != name {
            tracing::warn!(pod = %name, reported_as = %report.pod, "pod reports under another name");
        }
        let n = record(&state.db, pod_id, &report).await?;
        tracing::debug!(pod = %name, stores = n, "pod load recorded");
        recorded += n;
    }
    Ok(recorded)
}

/// Upserts the figures `pod` reported for the stores placed on it; the
/// number of rows written.
async fn record(db: &PgPool, pod: Uuid, report: &LoadReport) -> Result<usize, sqlx::Error> {
    let stores = &report.stores;
    if stores.is_empty() {
        return Ok(0);
    }
    let ids: Vec<Uuid> = stores.iter().map(|s| s.store_id.as_uuid()).collect();
    let column =
        |f: fn(&StoreLoad) -> i64| -> Vec<i64> { stores.iter().map(|s| f(s).max(0)).collect() };
    let written = sqlx::query(
        "INSERT INTO store_loads
            (store_id, pod_id, rows, bytes, orders_last_hour, requests_per_minute, reported_at,
             sizes_as_of)
         SELECT r.store_id, $1, r.rows, r.bytes, r.orders, r.requests, now(), $7
         FROM unnest($2::uuid[], $3::bigint[], $4::bigint[], $5::bigint[], $6::bigint[])
              AS r(store_id, rows, bytes, orders, requests)
         JOIN stores s ON s.id = r.store_id AND s.pod_id = $1
         ON CONFLICT (store_id) DO UPDATE SET
            pod_id = EXCLUDED.pod_id, rows = EXCLUDED.rows, bytes = EXCLUDED.bytes,
            orders_last_hour = EXCLUDED.orders_last_hour,
            requests_per_minute = EXCLUDED.requests_per_minute,
            reported_at = EXCLUDED.reported_at, sizes_as_of = EXCLUDED.sizes_as_of",
    )
    .bind(pod)
    .bind(&ids)
    .bind(column(|s| s.rows))
    .bind(column(|s| s.bytes))
    .bind(column(|s| s.orders_last_hour))
    .bind(column(|s| s.requests_per_minute))
    .bind(report.sizes_as_of)
    .execute(db)
    .await?
    .rows_affected();
    Ok(usize::try_from(written).unwrap_or(usize::MAX))
}

/// Collects every `interval` until `stop` completes.
pub async fn run(state: AppState, interval: Duration, stop: impl Future<Output = ()>) {
    let poll = async {
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(e) = collect_once(&state).await {
                tracing::warn!(
                    error = format!("{e:#}"),
                    "collecting pod load reports failed"
                );
            }
        }
    };
    tokio::select! {
        () = stop => {}
        () = poll => {}
    }
}
