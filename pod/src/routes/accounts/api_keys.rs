//! API keys for integrations (owner only): create (the key is shown this
//! once), list, revoke. The admin's API keys page shares
//! `accounts::api_keys`'s functions with these handlers.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use mercato_tenants::http::{ApiJson, ApiPath, ApiQuery};
use mercato_tenants::ApiKeyId;
use serde::{Deserialize, Serialize};

use crate::accounts::api_keys::{self, CreatedApiKey};
use crate::accounts::auth::Owner;
use crate::accounts::model::ApiKey;
use crate::error::PodError;
use crate::paging::{full_page_cursor, page_limit};
use crate::state::AppState;
use crate::tenancy::TenantContext;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewApiKey {
    /// What the key is for, 1 to 100 characters, not only white space
    /// (stored trimmed).
    #[schema(
        max_length = 100,
        pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*[^\u0000-\u0020\u007F-\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000][^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$"
    )]
    name: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ApiKeyPage {
    items: Vec<ApiKey>,
    next_cursor: Option<ApiKeyId>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PageQuery {
    limit: Option<i64>,
    after: Option<ApiKeyId>,
}

/// Creates a key (owner only).
#[utoipa::path(post, path = "/admin/api/api-keys", tag = "api keys",
    request_body = NewApiKey,
    responses((status = 201, body = CreatedApiKey), (status = 403, body = mercato_tenants::error::ErrorBody)))]
pub(super) async fn create(
    State(state): State<AppState>,
    tenant: TenantContext,
    _: Owner,
    ApiJson(req): ApiJson<NewApiKey>,
) -> Result<(StatusCode, Json<CreatedApiKey>), PodError> {
    let created = api_keys::create(&state.db, tenant.store_id, &req.name).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// The store's keys that are not revoked (owner only).
#[utoipa::path(get, path = "/admin/api/api-keys", tag = "api keys",
    params(("limit" = Option<i64>, Query, description = "1 to 100, default 20", minimum = 1, maximum = 100),
        ("after" = Option<ApiKeyId>, Query, description = "cursor")),
    responses((status = 200, body = ApiKeyPage), (status = 403, body = mercato_tenants::error::ErrorBody)))]
pub(super) async fn list(
    State(state): State<AppState>,
    tenant: TenantContext,
    _: Owner,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> Result<Json<ApiKeyPage>, PodError> {
    let limit = page_limit(q.limit)?;
    let items = api_keys::list(&state.db, tenant.store_id, q.after, limit).await?;
    let next_cursor = full_page_cursor(&items, limit, |k| k.id);
    Ok(Json(ApiKeyPage { items, next_cursor }))
}

/// Revokes a key (owner only); it stops working at once.
#[utoipa::path(delete, path = "/admin/api/api-keys/{id}", tag = "api keys",
    params(("id" = ApiKeyId, Path, description = "key id")),
    responses((status = 204), (status = 404, body = mercato_tenants::error::ErrorBody)))]
pub(super) async fn revoke(
    State(state): State<AppState>,
    tenant: TenantContext,
    _: Owner,
    ApiPath(id): ApiPath<ApiKeyId>,
) -> Result<StatusCode, PodError> {
    api_keys::revoke(&state.db, tenant.store_id, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
