//! Stock endpoints for staff.

use axum::extract::State;
use axum::routing::put;
use axum::{Json, Router};
use mercato_tenants::http::{ApiJson, ApiPath};
use mercato_tenants::{ApiError, VariantId};
use serde::Deserialize;

use super::Level;
use crate::auth::Staff;
use crate::catalog;
use crate::db::map_db_error;
use crate::tenancy::TenantContext;
use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/admin/api/variants/{id}/stock", put(set_stock))
}

#[derive(utoipa::OpenApi)]
#[openapi(
    paths(set_stock),
    components(schemas(StockUpdate, Level, super::Badge))
)]
pub struct ApiDoc;

/// A new stock level for one variant.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StockUpdate {
    /// Units on hand, 0 to 10,000,000.
    on_hand: i32,
    /// At or below this many units the badge says `low`.
    low_stock_threshold: Option<i32>,
}

/// Sets the units on hand of a variant.
#[utoipa::path(put, path = "/admin/api/variants/{id}/stock", tag = "inventory",
    params(("id" = VariantId, Path, description = "variant id")),
    request_body = StockUpdate,
    responses((status = 200, body = Level), (status = 404, body = mercato_tenants::error::ErrorBody)))]
async fn set_stock(
    State(state): State<AppState>,
    tenant: TenantContext,
    _: Staff,
    ApiPath(variant): ApiPath<VariantId>,
    ApiJson(update): ApiJson<StockUpdate>,
) -> Result<Json<Level>, ApiError> {
    if !(0..=10_000_000).contains(&update.on_hand) {
        return Err(ApiError::invalid("on_hand must be 0 to 10000000"));
    }
    if matches!(update.low_stock_threshold, Some(t) if !(0..=1_000_000).contains(&t)) {
        return Err(ApiError::invalid(
            "low_stock_threshold must be 0 to 1000000",
        ));
    }
    let mut tx = catalog::begin_product_write(&state.db, tenant.store_id).await?;
    let product = catalog::product_of_variant(&mut *tx, tenant.store_id, variant)
        .await
        .map_err(map_db_error)?
        .ok_or_else(|| ApiError::not_found("variant"))?;
    let level = super::set_level(
        &mut *tx,
        tenant.store_id,
        variant,
        update.on_hand,
        update.low_stock_threshold,
    )
    .await
    .map_err(map_db_error)?;
    catalog::commit_change(&state, tx, tenant.store_id, &[product]).await?;
    Ok(Json(level))
}
