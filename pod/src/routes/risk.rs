//! A store's risk settings for its owner: the thresholds the checkout's
//! risk screen decides with (`risk::model::RiskSettings`).

use axum::extract::State;
use axum::Json;
use mercato_tenants::http::ApiJson;
use mercato_tenants::{ApiError, ErrorCode};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::accounts::auth::Owner;
use crate::error::PodError;
use crate::risk::{self, RiskSettings, SettingsError};
use crate::state::AppState;
use crate::tenancy::{self, TenantContext};

type ErrorBody = mercato_tenants::error::ErrorBody;

/// The risk settings API, each route registered with its OpenAPI
/// description.
pub fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_risk_settings, put_risk_settings))
}

/// The store's risk settings (owner only): the thresholds its checkouts
/// are screened with; the defaults until the owner sets them.
#[utoipa::path(get, path = "/admin/api/settings/risk", tag = "settings",
    responses((status = 200, body = RiskSettings), (status = 403, body = ErrorBody)))]
async fn get_risk_settings(
    State(state): State<AppState>,
    tenant: TenantContext,
    _: Owner,
) -> Result<Json<RiskSettings>, PodError> {
    Ok(Json(risk::settings(&state.db, tenant.store_id).await?))
}

/// Sets the store's risk settings (owner only), all at once: a field left
/// out takes its default, `null` turns a threshold off. A value out of its
/// bounds is `400 invalid_request`; a review threshold not below its block
/// threshold is `422 invalid_risk_settings`. Domains and emails are kept
/// lower-cased, sorted, each once.
#[utoipa::path(put, path = "/admin/api/settings/risk", tag = "settings",
    request_body = RiskSettings,
    responses((status = 200, body = RiskSettings), (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn put_risk_settings(
    State(state): State<AppState>,
    tenant: TenantContext,
    _: Owner,
    ApiJson(body): ApiJson<RiskSettings>,
) -> Result<Json<RiskSettings>, PodError> {
    let settings = body.validated().map_err(|e| match e {
        SettingsError::OutOfBounds(m) => ApiError::invalid(m),
        SettingsError::Inconsistent(m) => ApiError::new(ErrorCode::InvalidRiskSettings, m),
    })?;
    let mut tx = tenancy::begin_write(&state.db, tenant.store_id).await?;
    risk::sql::put_settings(&mut tx, tenant.store_id, &settings).await?;
    tx.commit().await?;
    Ok(Json(settings))
}
