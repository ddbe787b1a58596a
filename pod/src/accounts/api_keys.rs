//! API keys for integrations: a non-owner staff credential sent as
//! `X-Api-Key`. The key is shown once at creation; only its sha256 is kept.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use mercato_tenants::http::{ApiJson, ApiPath, ApiQuery};
use mercato_tenants::{ApiError, ApiKeyId, StoreId};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use uuid::Uuid;

use super::auth::Owner;
use super::secrets;
use crate::error::PodError;
use crate::paging::{full_page_cursor, page_limit};
use crate::state::AppState;
use crate::tenancy::{begin_write, TenantContext};

/// The header integrations send their key in.
pub const HEADER: &str = "x-api-key";
/// Every key starts with this.
const KEY_PREFIX: &str = "mk_";
/// How often `last_used_at` is written at most.
const TOUCH_EVERY_SECS: i64 = 60;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewApiKey {
    /// What the key is for, 1 to 100 characters.
    name: String,
}

/// A new key: `key` is shown this once.
#[derive(Serialize, utoipa::ToSchema)]
pub struct CreatedApiKey {
    id: ApiKeyId,
    name: String,
    prefix: String,
    key: String,
    created_at: DateTime<Utc>,
}

/// A key as listed: no secret.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ApiKey {
    id: ApiKeyId,
    name: String,
    prefix: String,
    created_at: DateTime<Utc>,
    last_used_at: Option<DateTime<Utc>>,
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

/// The key behind `X-Api-Key` in `store`, if it exists and is not revoked.
/// Records the use at most once a minute.
pub async fn authenticate(
    db: &PgPool,
    store: StoreId,
    key: &str,
) -> Result<Option<ApiKeyId>, sqlx::Error> {
    if !key.starts_with(KEY_PREFIX) || key.len() > 128 {
        return Ok(None);
    }
    let row: Option<(Uuid, Option<DateTime<Utc>>)> = sqlx::query_as(
        "SELECT id, last_used_at FROM api_keys
         WHERE store_id = $1 AND key_sha256 = $2 AND revoked_at IS NULL",
    )
    .bind(store.as_uuid())
    .bind(secrets::sha256_hex(key))
    .fetch_optional(db)
    .await?;
    let Some((id, last_used)) = row else {
        return Ok(None);
    };
    let stale = last_used
        .map(|t| (Utc::now() - t).num_seconds() >= TOUCH_EVERY_SECS)
        .unwrap_or(true);
    if stale {
        sqlx::query(
            "UPDATE api_keys SET last_used_at = now()
             WHERE store_id = $1 AND id = $2
               AND (last_used_at IS NULL OR last_used_at < now() - make_interval(secs => $3))",
        )
        .bind(store.as_uuid())
        .bind(id)
        .bind(TOUCH_EVERY_SECS as f64)
        .execute(db)
        .await?;
    }
    Ok(Some(ApiKeyId::from_uuid(id)))
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
    let name = req.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(ApiError::invalid("name must be 1 to 100 characters").into());
    }
    let key = format!("{KEY_PREFIX}{}", secrets::random_token());
    let prefix: String = key.chars().take(KEY_PREFIX.len() + 8).collect();
    let id = ApiKeyId::new();
    let mut tx = begin_write(&state.db, tenant.store_id).await?;
    let (created_at,): (DateTime<Utc>,) = sqlx::query_as(
        "INSERT INTO api_keys (store_id, id, name, prefix, key_sha256) VALUES ($1, $2, $3, $4, $5)
         RETURNING created_at",
    )
    .bind(tenant.store_id.as_uuid())
    .bind(id.as_uuid())
    .bind(name)
    .bind(&prefix)
    .bind(secrets::sha256_hex(&key))
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await.map_err(PodError::internal)?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedApiKey {
            id,
            name: name.to_owned(),
            prefix,
            key,
            created_at,
        }),
    ))
}

/// The store's keys that are not revoked (owner only).
#[utoipa::path(get, path = "/admin/api/api-keys", tag = "api keys",
    params(("limit" = Option<i64>, Query, description = "1 to 100, default 20"),
        ("after" = Option<ApiKeyId>, Query, description = "cursor")),
    responses((status = 200, body = ApiKeyPage), (status = 403, body = mercato_tenants::error::ErrorBody)))]
pub(super) async fn list(
    State(state): State<AppState>,
    tenant: TenantContext,
    _: Owner,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> Result<Json<ApiKeyPage>, PodError> {
    let limit = page_limit(q.limit)?;
    type Row = (Uuid, String, String, DateTime<Utc>, Option<DateTime<Utc>>);
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT id, name, prefix, created_at, last_used_at FROM api_keys
         WHERE store_id = $1 AND revoked_at IS NULL AND ($2::uuid IS NULL OR id > $2)
         ORDER BY id LIMIT $3",
    )
    .bind(tenant.store_id.as_uuid())
    .bind(q.after.map(|a| a.as_uuid()))
    .bind(limit)
    .fetch_all(&state.db)
    .await
    .map_err(PodError::internal)?;
    let items: Vec<ApiKey> = rows
        .into_iter()
        .map(|(id, name, prefix, created_at, last_used_at)| ApiKey {
            id: ApiKeyId::from_uuid(id),
            name,
            prefix,
            created_at,
            last_used_at,
        })
        .collect();
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
    let mut tx = begin_write(&state.db, tenant.store_id).await?;
    let done = sqlx::query(
        "UPDATE api_keys SET revoked_at = now() WHERE store_id = $1 AND id = $2 AND revoked_at IS NULL",
    )
    .bind(tenant.store_id.as_uuid())
    .bind(id.as_uuid())
    .execute(&mut *tx)
    .await
    .map_err(PodError::internal)?;
    if done.rows_affected() == 0 {
        return Err(ApiError::not_found("api key").into());
    }
    tx.commit().await.map_err(PodError::internal)?;
    Ok(StatusCode::NO_CONTENT)
}
