//! The routing table's history and its publication to routers.
//!
//! Every change that moves a store or a domain is written as one numbered
//! version into `routing_log`, in the same transaction as the change itself
//! (see [`record`]). Routers long-poll `GET /v1/routing?since=V`: they get the
//! changes after V merged into one delta, a full snapshot when they have
//! nothing or the log cannot bridge the gap, or `204` when nothing changed
//! within the wait.

use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use mercato_tenants::http::ApiQuery;
use mercato_tenants::{
    ApiError, Domain, PodId, RoutingChange, RoutingTable, RoutingUpdate, StoreId, TenantState,
};
use serde::Deserialize;
use sqlx::{PgPool, Postgres, Transaction};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::auth::Platform;
use crate::error::ControlError;
use crate::AppState;

/// The routing feed, registered with its OpenAPI description.
pub fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::default().routes(routes!(poll))
}

/// Appends one version holding `changes`; the caller commits, then calls
/// [`AppState::routing_changed`]. Locking the head row serialises writers,
/// so versions are dense and commit in order.
pub async fn record(
    tx: &mut Transaction<'_, Postgres>,
    changes: &[RoutingChange],
) -> Result<u64, sqlx::Error> {
    let (version,): (i64,) =
        sqlx::query_as("UPDATE routing_head SET version = version + 1 RETURNING version")
            .fetch_one(&mut **tx)
            .await?;
    let json = serde_json::to_value(changes).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    sqlx::query("INSERT INTO routing_log (version, changes) VALUES ($1, $2)")
        .bind(version)
        .bind(json)
        .execute(&mut **tx)
        .await?;
    Ok(version as u64)
}

pub async fn head(db: &PgPool) -> Result<u64, sqlx::Error> {
    let (v,): (i64,) = sqlx::query_as("SELECT version FROM routing_head")
        .fetch_one(db)
        .await?;
    Ok(v as u64)
}

/// The whole table as of the current version, read in one snapshot.
pub async fn snapshot(db: &PgPool) -> Result<RoutingUpdate, sqlx::Error> {
    let mut tx = db.begin().await?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        .execute(&mut *tx)
        .await?;
    let (version,): (i64,) = sqlx::query_as("SELECT version FROM routing_head")
        .fetch_one(&mut *tx)
        .await?;
    let pods: Vec<(Uuid, String)> = sqlx::query_as("SELECT id, url FROM pods")
        .fetch_all(&mut *tx)
        .await?;
    let stores: Vec<(Uuid, Uuid, String)> =
        sqlx::query_as("SELECT id, pod_id, state FROM stores WHERE state <> 'provisioning'")
            .fetch_all(&mut *tx)
            .await?;
    let domains: Vec<(String, Uuid)> = sqlx::query_as(
        "SELECT d.domain, d.store_id FROM domains d JOIN stores s ON s.id = d.store_id WHERE s.state <> 'provisioning'",
    )
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    let mut changes = Vec::with_capacity(pods.len() + stores.len() + domains.len());
    changes.extend(pods.into_iter().map(|(id, url)| RoutingChange::Pod {
        pod: PodId::from_uuid(id),
        url,
    }));
    for (id, pod, state) in stores {
        let state: TenantState = state
            .parse()
            .map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
        changes.push(RoutingChange::Store {
            store: StoreId::from_uuid(id),
            pod: PodId::from_uuid(pod),
            state,
        });
    }
    for (domain, store) in domains {
        let domain = Domain::parse(&domain).map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
        changes.push(RoutingChange::Domain {
            domain,
            store: StoreId::from_uuid(store),
        });
    }
    // Normalise order through the table itself, so snapshots are stable.
    let mut table = RoutingTable::new();
    let update = RoutingUpdate {
        base: None,
        version: version as u64,
        changes,
    };
    table
        .apply(&update)
        .map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
    Ok(table.snapshot())
}

/// The changes after `since` as one delta, or `None` if the log no longer
/// reaches back that far.
async fn delta(db: &PgPool, since: u64, head: u64) -> Result<Option<RoutingUpdate>, sqlx::Error> {
    let rows: Vec<(i64, serde_json::Value)> =
        sqlx::query_as("SELECT version, changes FROM routing_log WHERE version > $1 AND version <= $2 ORDER BY version")
            .bind(since as i64)
            .bind(head as i64)
            .fetch_all(db)
            .await?;
    if rows.len() as u64 != head - since || rows.first().map(|r| r.0 as u64) != Some(since + 1) {
        return Ok(None);
    }
    let mut changes = Vec::new();
    for (_, json) in rows {
        let batch: Vec<RoutingChange> =
            serde_json::from_value(json).map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
        changes.extend(batch);
    }
    Ok(Some(RoutingUpdate {
        base: Some(since),
        version: head,
        changes,
    }))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct PollQuery {
    /// The version the caller has; 0 (the default) for a full snapshot.
    #[serde(default)]
    since: u64,
    /// Seconds to wait for a change (more than 60 counts as 60); 0 (the
    /// default) answers at once.
    #[serde(default)]
    #[param(maximum = 60)]
    wait: u64,
}

/// The routing table for routers: the changes after `since` merged into one
/// delta, a full snapshot when the caller has nothing or the log cannot
/// bridge the gap, or `204` when nothing changed within `wait` seconds.
#[utoipa::path(get, path = "/v1/routing", tag = "routing", security(("bearer" = [])),
    params(PollQuery),
    responses((status = 200, body = RoutingUpdate), (status = 204, description = "no change within the wait")))]
async fn poll(
    State(state): State<AppState>,
    _: Platform,
    ApiQuery(q): ApiQuery<PollQuery>,
) -> Result<Response, ControlError> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(q.wait.min(60));
    let mut notified = state.routing_watch();
    let mut stopping = state.stopping();
    loop {
        let head = head(&state.db).await.map_err(ApiError::internal)?;
        if q.since == 0 || q.since > head {
            return Ok(Json(snapshot(&state.db).await.map_err(ApiError::internal)?).into_response());
        }
        if q.since < head {
            let update = match delta(&state.db, q.since, head)
                .await
                .map_err(ApiError::internal)?
            {
                Some(d) => d,
                None => snapshot(&state.db).await.map_err(ApiError::internal)?,
            };
            return Ok(Json(update).into_response());
        }
        let now = tokio::time::Instant::now();
        if now >= deadline || *stopping.borrow() {
            return Ok(StatusCode::NO_CONTENT.into_response());
        }
        // Woken by this process's own commits at once; a sibling control
        // plane's commits are seen by re-reading the head every second.
        let nap = (deadline - now).min(Duration::from_secs(1));
        tokio::select! {
            _ = tokio::time::sleep(nap) => {}
            _ = notified.changed() => {}
            _ = stopping.changed() => {}
        }
    }
}
