//! `GET /media/{file}`: a store's images, on the store's domain.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use mercato_tenants::http::ApiPath;
use mercato_tenants::ApiError;

use crate::error::PodError;
use crate::media::{parse_file_name, IMMUTABLE};
use crate::state::AppState;
use crate::tenancy::TenantContext;

/// `GET /media/{sha256}.{ext}`: an image of the store, cacheable forever.
pub async fn serve(
    State(state): State<AppState>,
    tenant: TenantContext,
    ApiPath(file): ApiPath<String>,
) -> Result<Response, PodError> {
    let kind = parse_file_name(&file).ok_or_else(|| ApiError::not_found("image"))?;
    let bytes = state
        .media
        .get(tenant.store_id, &file)
        .await
        .map_err(PodError::internal)?
        .ok_or_else(|| ApiError::not_found("image"))?;
    Ok((
        [
            (header::CONTENT_TYPE, kind.content_type()),
            (header::CACHE_CONTROL, IMMUTABLE),
        ],
        bytes,
    )
        .into_response())
}
