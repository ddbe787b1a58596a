//! The pod's internal API, used by the control plane. Platform tokens only;
//! the router never forwards `/internal/` paths.

use axum::extract::State;
use axum::routing::{get, put};
use axum::{Json, Router};
use mercato_tenants::http::{ApiJson, ApiPath};
use mercato_tenants::{ApiError, Currency, Handle, StoreId, TenantState};
use serde::Deserialize;

use super::{store, HostedStore};
use crate::auth::Platform;
use crate::AppState;

pub fn internal_router() -> Router<AppState> {
    Router::new()
        .route("/internal/stores", get(list))
        .route("/internal/stores/{store_id}", put(host))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HostRequest {
    handle: Handle,
    name: String,
    #[serde(default = "usd")]
    currency: Currency,
    #[serde(default = "active")]
    state: TenantState,
}

fn usd() -> Currency {
    Currency::USD
}

fn active() -> TenantState {
    TenantState::Active
}

/// `PUT /internal/stores/{store_id}`: host a store here, or change its state.
async fn host(
    State(state): State<AppState>,
    _: Platform,
    ApiPath(store_id): ApiPath<StoreId>,
    ApiJson(req): ApiJson<HostRequest>,
) -> Result<Json<HostedStore>, ApiError> {
    let name = req.name.trim();
    if name.is_empty() || name.len() > 200 {
        return Err(ApiError::invalid("name must be 1 to 200 characters"));
    }
    let hosted = store::upsert(
        &state.db,
        store_id,
        &req.handle,
        name,
        req.currency,
        req.state,
    )
    .await
    .map_err(ApiError::internal)?;
    state.hosted.put(hosted.clone());
    tracing::info!(store_id = %store_id, state = %hosted.state, "store hosted");
    Ok(Json(hosted))
}

/// `GET /internal/stores`.
async fn list(
    State(state): State<AppState>,
    _: Platform,
) -> Result<Json<Vec<HostedStore>>, ApiError> {
    store::list(&state.db)
        .await
        .map(Json)
        .map_err(ApiError::internal)
}
