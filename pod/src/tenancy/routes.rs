//! The pod's internal API, used by the control plane. Platform tokens only;
//! the router never forwards `/internal/` paths.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, put};
use axum::{Json, Router};
use mercato_tenants::http::{ApiJson, ApiPath};
use mercato_tenants::pod_api::{self, HostRequest, HostResponse, OwnerSession};
use mercato_tenants::{ApiError, ErrorCode, StoreId};

use super::{store, HostedStore};
use crate::accounts;
use crate::auth::Platform;
use crate::AppState;

pub fn internal_router() -> Router<AppState> {
    Router::new()
        .route(pod_api::STORES, get(list))
        .route(pod_api::STORE, put(host).delete(forget))
}

/// `PUT /internal/stores/{store_id}`: host a store here, or change its state;
/// with `owner`, also create the owner's staff account in one transaction.
async fn host(
    State(state): State<AppState>,
    _: Platform,
    ApiPath(store_id): ApiPath<StoreId>,
    ApiJson(req): ApiJson<HostRequest>,
) -> Result<Json<HostResponse>, ApiError> {
    let name = req.name.trim();
    if name.is_empty() || name.len() > 200 {
        return Err(ApiError::invalid("name must be 1 to 200 characters"));
    }
    let owner = match &req.owner {
        Some(o) => {
            let email = accounts::parse_email(&o.email)?;
            let password = accounts::parse_password(&o.password)?;
            Some((email, accounts::secrets::hash_password(password).await?))
        }
        None => None,
    };
    let mut tx = state.db.begin().await.map_err(ApiError::internal)?;
    let hosted = store::upsert(
        &mut *tx,
        store_id,
        &req.handle,
        name,
        req.currency,
        req.state,
    )
    .await
    .map_err(ApiError::internal)?;
    let owner = match owner {
        Some((email, hash)) => {
            let (staff_id, token) =
                accounts::create_owner(&state, &mut tx, store_id, &email, &hash).await?;
            Some(OwnerSession {
                staff_id,
                email: email.as_str().to_owned(),
                session: token,
            })
        }
        None => None,
    };
    tx.commit().await.map_err(ApiError::internal)?;
    state.hosted.put(hosted.clone());
    tracing::info!(store_id = %store_id, state = %hosted.state, with_owner = owner.is_some(), "store hosted");
    Ok(Json(HostResponse {
        store: hosted,
        owner,
    }))
}

/// `DELETE /internal/stores/{store_id}`: forget a store whose creation
/// failed, with its staff accounts. Refused (`409`) unless the store is
/// `provisioning` here; `204` if it is gone or was never here.
async fn forget(
    State(state): State<AppState>,
    _: Platform,
    ApiPath(store_id): ApiPath<StoreId>,
) -> Result<StatusCode, ApiError> {
    if store::forget(&state.db, store_id)
        .await
        .map_err(ApiError::internal)?
    {
        tracing::info!(store_id = %store_id, "provisioning store forgotten");
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::new(
            ErrorCode::Conflict,
            "only a store that is still provisioning can be forgotten",
        ))
    }
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
