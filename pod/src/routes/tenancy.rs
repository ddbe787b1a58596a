//! The pod's internal API, used by the control plane. Platform tokens only;
//! the router never forwards `/internal/` paths.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use mercato_tenants::http::{ApiJson, ApiPath};
use mercato_tenants::pod_api::{HostRequest, HostResponse, OwnerSession, RenameRequest};
use mercato_tenants::{ApiError, ErrorCode, StoreId};

use crate::accounts;
use crate::accounts::auth::Platform;
use crate::error::PodError;
use crate::state::AppState;
use crate::state::HostedStore;
use crate::tenancy::sql;

/// `PUT /internal/stores/{store_id}`: host a store here, or change its state;
/// with `owner`, also create the owner's staff account in one transaction.
pub async fn host(
    State(state): State<AppState>,
    _: Platform,
    ApiPath(store_id): ApiPath<StoreId>,
    ApiJson(req): ApiJson<HostRequest>,
) -> Result<Json<HostResponse>, PodError> {
    let name = mercato_tenants::text::store_name(&req.name).map_err(ApiError::invalid)?;
    let owner = match &req.owner {
        Some(o) => {
            let email = accounts::parse_email(&o.email)?;
            let password = accounts::parse_password(&o.password)?;
            Some((
                email,
                accounts::secrets::hash_password(&state.hashing, password).await?,
            ))
        }
        None => None,
    };
    let mut tx = state.db.begin().await.map_err(PodError::internal)?;
    let hosted = sql::upsert(
        &mut *tx,
        store_id,
        &req.handle,
        name,
        req.currency,
        req.state,
    )
    .await
    .map_err(PodError::internal)?;
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
    tx.commit().await.map_err(PodError::internal)?;
    state.hosted.put(hosted.clone());
    tracing::info!(store_id = %store_id, state = %hosted.state, with_owner = owner.is_some(), "store hosted");
    Ok(Json(HostResponse {
        store: hosted,
        owner,
    }))
}

/// `PUT /internal/stores/{store_id}/name`: the store's new name, its state
/// untouched (a rename during a move must not undo the move's fence). The
/// storefront's cached pages carry the name in their version
/// (`themes::for_store`), so they are not served with the old one.
pub async fn rename(
    State(state): State<AppState>,
    _: Platform,
    ApiPath(store_id): ApiPath<StoreId>,
    ApiJson(req): ApiJson<RenameRequest>,
) -> Result<Json<HostedStore>, PodError> {
    let name = mercato_tenants::text::store_name(&req.name).map_err(ApiError::invalid)?;
    let hosted = sql::rename(&state.db, store_id, name)
        .await
        .map_err(PodError::internal)?
        .ok_or_else(|| ApiError::not_found("store"))?;
    state.hosted.put(hosted.clone());
    tracing::info!(store_id = %store_id, "store renamed");
    Ok(Json(hosted))
}

/// `DELETE /internal/stores/{store_id}`: forget a store whose creation
/// failed, with its staff accounts. Refused (`409`) unless the store is
/// `provisioning` here; `204` if it is gone or was never here.
pub async fn forget(
    State(state): State<AppState>,
    _: Platform,
    ApiPath(store_id): ApiPath<StoreId>,
) -> Result<StatusCode, PodError> {
    if forget_provisioning(&state, store_id)
        .await
        .map_err(PodError::internal)?
    {
        tracing::info!(store_id = %store_id, "provisioning store forgotten");
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::new(
            ErrorCode::Conflict,
            "only a store that is still provisioning can be forgotten",
        )
        .into())
    }
}

/// Removes a store that never went live, with its accounts, in one
/// transaction. Only a `provisioning` store can be forgotten: `Ok(false)` if
/// the store is hosted in another state (nothing is deleted), `Ok(true)`
/// once it is gone (or was never here).
async fn forget_provisioning(state: &AppState, store_id: StoreId) -> Result<bool, sqlx::Error> {
    let mut tx = state.db.begin().await?;
    if !sql::lock_forgettable(&mut tx, store_id).await? {
        return Ok(false);
    }
    accounts::forget_store(&mut tx, store_id).await?;
    sql::delete(&mut tx, store_id).await?;
    tx.commit().await?;
    Ok(true)
}

/// `GET /internal/stores`.
pub async fn list(
    State(state): State<AppState>,
    _: Platform,
) -> Result<Json<Vec<HostedStore>>, PodError> {
    crate::state::hosted::list(&state.db)
        .await
        .map(Json)
        .map_err(PodError::internal)
}
