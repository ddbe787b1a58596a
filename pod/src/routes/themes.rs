//! The theme's settings and templates, for staff: `/admin/api/settings/theme`
//! and `/admin/api/theme/templates…`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use mercato_tenants::error::ErrorBody;
use mercato_tenants::http::{ApiJson, ApiPath};
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::accounts::auth::Staff;
use crate::error::PodError;
use crate::state::AppState;
use crate::tenancy::TenantContext;
use crate::themes::{self, Template, ThemeSettings};

/// The theme API, each route registered with its OpenAPI description.
pub fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::default()
        .routes(routes!(get_settings, put_settings))
        .routes(routes!(list_templates))
        .routes(routes!(get_template, put_template, delete_template))
}

/// The store's theme settings: colours, font, logo, home page sections,
/// header and footer links (the defaults until set).
#[utoipa::path(get, path = "/admin/api/settings/theme", tag = "settings",
    responses((status = 200, body = ThemeSettings), (status = 401, body = ErrorBody)))]
async fn get_settings(
    State(state): State<AppState>,
    tenant: TenantContext,
    _: Staff,
) -> Result<Json<ThemeSettings>, PodError> {
    Ok(Json(themes::settings(&state.db, tenant.store_id).await?))
}

/// Sets the store's theme settings, all at once (a field left out takes
/// its default). Colours are `#rrggbb`; links are paths of the store or
/// `https://` addresses; a value out of its bounds is `400
/// invalid_request`. The storefront shows them within two seconds.
#[utoipa::path(put, path = "/admin/api/settings/theme", tag = "settings",
    request_body = ThemeSettings,
    responses((status = 200, body = ThemeSettings), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody)))]
async fn put_settings(
    State(state): State<AppState>,
    tenant: TenantContext,
    _: Staff,
    ApiJson(body): ApiJson<ThemeSettings>,
) -> Result<Json<ThemeSettings>, PodError> {
    Ok(Json(
        themes::put_settings(&state, tenant.store_id, &body).await?,
    ))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct TemplateList {
    items: Vec<Template>,
}

/// The theme's templates, the store's own marked `overridden`.
#[utoipa::path(get, path = "/admin/api/theme/templates", tag = "settings",
    responses((status = 200, body = TemplateList), (status = 401, body = ErrorBody)))]
async fn list_templates(
    State(state): State<AppState>,
    tenant: TenantContext,
    _: Staff,
) -> Result<Json<TemplateList>, PodError> {
    Ok(Json(TemplateList {
        items: themes::templates(&state.db, tenant.store_id).await?,
    }))
}

/// A template with its source: the store's own, else the default theme's.
#[utoipa::path(get, path = "/admin/api/theme/templates/{name}", tag = "settings",
    params(("name" = String, Path, description = "a template of the theme, e.g. product.html", max_length = 64)),
    responses((status = 200, body = Template), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
async fn get_template(
    State(state): State<AppState>,
    tenant: TenantContext,
    _: Staff,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<Template>, PodError> {
    Ok(Json(
        themes::template(&state.db, tenant.store_id, &name).await?,
    ))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplateBody {
    /// Jinja syntax (the default theme's templates show what pages give
    /// them), at most 65,536 bytes, no control characters but tab and line
    /// breaks.
    #[schema(max_length = 65536)]
    source: String,
}

/// Saves the store's own template in place of the default theme's. It must
/// compile with the store's other templates (`422 invalid_template`, with
/// the line). It renders in the same sandbox as the default theme (bounded
/// work and output, only the values the page gives it); a render that
/// fails falls back to the default theme's template.
#[utoipa::path(put, path = "/admin/api/theme/templates/{name}", tag = "settings",
    params(("name" = String, Path, description = "a template of the theme, e.g. product.html", max_length = 64)),
    request_body = TemplateBody,
    responses((status = 200, body = Template), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, description = "invalid_template", body = ErrorBody)))]
async fn put_template(
    State(state): State<AppState>,
    tenant: TenantContext,
    _: Staff,
    ApiPath(name): ApiPath<String>,
    ApiJson(body): ApiJson<TemplateBody>,
) -> Result<Json<Template>, PodError> {
    Ok(Json(
        themes::put_template(&state, tenant.store_id, &name, &body.source).await?,
    ))
}

/// Puts the default theme's template back (`404` when the store has no
/// template of this name).
#[utoipa::path(delete, path = "/admin/api/theme/templates/{name}", tag = "settings",
    params(("name" = String, Path, description = "a template of the theme, e.g. product.html", max_length = 64)),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn delete_template(
    State(state): State<AppState>,
    tenant: TenantContext,
    _: Staff,
    ApiPath(name): ApiPath<String>,
) -> Result<StatusCode, PodError> {
    themes::delete_template(&state, tenant.store_id, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}
