//! The fleet's internal endpoints, for the control plane. Platform tokens
//! only; the router never forwards `/internal/` paths.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::Utc;
use mercato_tenants::http::{ApiJson, ApiPath};
use mercato_tenants::pod_api::{
    LoadReport, Rebuilt, ReleaseRequest, Released, StaffLoginRequest, StaffPasswordResetRequest,
    StoreTokenRequest,
};
use mercato_tenants::{ApiError, ErrorCode, IssuedToken, StoreId, TenantState};

use crate::accounts::auth::Platform;
use crate::accounts::{login, parse_email, passwords, LoginRejection};
use crate::error::PodError;
use crate::fleet::{load, redis_keys, sql};
use crate::state::AppState;

/// The longest delay a release may set before the purge (ten years).
const MAX_PURGE_AFTER_SECS: u64 = 10 * 365 * 24 * 3600;

/// `GET /internal/load`: the figures of every store served here.
pub async fn load_report(
    State(state): State<AppState>,
    _: Platform,
) -> Result<Json<LoadReport>, PodError> {
    load::report(&state)
        .await
        .map(Json)
        .map_err(PodError::internal)
}

/// `POST /internal/stores/{store_id}/rebuild`: deletes every Redis key of
/// a store hosted here; Redis-derived state is then rebuilt from Postgres
/// on demand (gate counters re-seeded, caches refilled, cart copies
/// rewritten). `409` unless the store is hosted here; `503` while Redis is
/// unreachable.
pub async fn rebuild(
    State(state): State<AppState>,
    _: Platform,
    ApiPath(store_id): ApiPath<StoreId>,
) -> Result<Json<Rebuilt>, PodError> {
    let hosted = sql::hosted_state(&state.db, store_id)
        .await
        .map_err(PodError::internal)?;
    if hosted.is_none() {
        return Err(ApiError::new(
            ErrorCode::Conflict,
            format!("store {store_id} is not hosted on this pod"),
        )
        .into());
    }
    let deleted_keys = redis_keys::delete_store_keys(&state.redis, store_id)
        .await
        .map_err(|e| {
            tracing::warn!(store_id = %store_id, error = %e, "rebuilding a store's redis state failed");
            ApiError::new(ErrorCode::NotReady, "redis is unreachable; try again")
        })?;
    tracing::info!(store_id = %store_id, deleted_keys, "store's redis state dropped for rebuild");
    Ok(Json(Rebuilt { deleted_keys }))
}

/// `POST /internal/stores/{store_id}/release`: the store's rows here may be
/// purged `purge_after_secs` from now. Only for a store `moved_out` here
/// (`409` otherwise).
pub async fn release(
    State(state): State<AppState>,
    _: Platform,
    ApiPath(store_id): ApiPath<StoreId>,
    ApiJson(req): ApiJson<ReleaseRequest>,
) -> Result<Json<Released>, PodError> {
    if req.purge_after_secs > MAX_PURGE_AFTER_SECS {
        return Err(ApiError::invalid(format!(
            "purge_after_secs must be at most {MAX_PURGE_AFTER_SECS}"
        ))
        .into());
    }
    // At most ten years in seconds: exact as a double.
    let secs = req.purge_after_secs as f64;
    let released = sql::release(&state.db, store_id, secs)
        .await
        .map_err(PodError::internal)?;
    let purge_after = released.ok_or_else(|| {
        ApiError::new(
            ErrorCode::Conflict,
            format!("store {store_id} is not moved out of this pod"),
        )
    })?;
    tracing::info!(store_id = %store_id, %purge_after, "moved-out store released for purging");
    Ok(Json(Released {
        store_id,
        purge_after,
    }))
}

/// `POST /internal/stores/{store_id}/tokens`: a staff or customer token for
/// a store served here, signed with the pods' key (the control plane's
/// operator endpoint for store tokens lands here). `409` unless the store
/// is active or frozen here.
pub async fn issue_store_token(
    State(state): State<AppState>,
    _: Platform,
    ApiPath(store_id): ApiPath<StoreId>,
    ApiJson(req): ApiJson<StoreTokenRequest>,
) -> Result<(StatusCode, Json<IssuedToken>), PodError> {
    let claims = req
        .claims(store_id, Utc::now().timestamp())
        .map_err(ApiError::invalid)?;
    let served = state
        .hosted
        .get(store_id)
        .is_some_and(|h| matches!(h.state, TenantState::Active | TenantState::Frozen));
    if !served {
        return Err(ApiError::new(
            ErrorCode::Conflict,
            format!("store {store_id} is not served by this pod"),
        )
        .into());
    }
    let token = state.keys.issue(&claims).map_err(PodError::internal)?;
    Ok((
        StatusCode::CREATED,
        Json(IssuedToken {
            token,
            expires_at: claims.exp,
        }),
    ))
}

/// `POST /internal/stores/{store_id}/staff-login`: a staff member signing
/// in on the platform's page, checked as the admin's own sign-in is (the
/// same login limits, by the address the platform saw). `409` unless the
/// store is active here.
pub async fn staff_login(
    State(state): State<AppState>,
    _: Platform,
    ApiPath(store_id): ApiPath<StoreId>,
    ApiJson(req): ApiJson<StaffLoginRequest>,
) -> Result<Json<IssuedToken>, LoginRejection> {
    let active = state
        .hosted
        .get(store_id)
        .is_some_and(|h| h.state == TenantState::Active);
    if !active {
        return Err(ApiError::new(
            ErrorCode::Conflict,
            format!("store {store_id} is not active on this pod"),
        )
        .into());
    }
    let address = mercato_tenants::http::clean_address(&req.client_address);
    let signed_in = login::login_staff(&state, store_id, &req.email, req.password, address).await?;
    Ok(Json(IssuedToken {
        token: signed_in.token,
        expires_at: signed_in.expires_at,
    }))
}

/// `POST /internal/stores/{store_id}/staff-password-reset`: a password
/// reset asked on the platform's page, as the admin's own reset page asks
/// it (`accounts::passwords::request_staff`): `202` whether or not the
/// email is a staff member's. `409` unless the store is active here.
pub async fn staff_password_reset(
    State(state): State<AppState>,
    _: Platform,
    ApiPath(store_id): ApiPath<StoreId>,
    ApiJson(req): ApiJson<StaffPasswordResetRequest>,
) -> Result<StatusCode, PodError> {
    let active = state
        .hosted
        .get(store_id)
        .is_some_and(|h| h.state == TenantState::Active);
    if !active {
        return Err(ApiError::new(
            ErrorCode::Conflict,
            format!("store {store_id} is not active on this pod"),
        )
        .into());
    }
    let email = parse_email(&req.email)?;
    passwords::request_staff(&state, store_id, &email).await?;
    Ok(StatusCode::ACCEPTED)
}
