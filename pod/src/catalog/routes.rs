//! Catalog endpoints: staff under `/admin/api`, shoppers under `/api`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use mercato_tenants::http::{ApiJson, ApiPath, ApiQuery};
use mercato_tenants::{ApiError, ProductId};
use serde::Deserialize;

use super::model::{NewProduct, Product, ProductPatch, ProductStatus};
use super::store::{self, Page};
use crate::auth::Staff;
use crate::db::map_db_error;
use crate::tenancy::{lock_active, TenantContext};
use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/products", get(shop_list))
        .route("/api/products/{id}", get(shop_get))
        .route("/admin/api/products", get(admin_list).post(create))
        .route("/admin/api/products/{id}", get(admin_get).patch(update))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    limit: Option<u32>,
    after: Option<String>,
    status: Option<String>,
}

struct ListArgs {
    limit: u32,
    after: Option<ProductId>,
}

fn list_args(q: &ListQuery) -> Result<ListArgs, ApiError> {
    let limit = q.limit.unwrap_or(20);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::invalid("limit must be 1 to 100"));
    }
    let after = q
        .after
        .as_deref()
        .map(|a| {
            a.parse::<ProductId>()
                .map_err(|_| ApiError::invalid("after must be a cursor from next_cursor"))
        })
        .transpose()?;
    Ok(ListArgs { limit, after })
}

async fn list(
    state: &AppState,
    tenant: &TenantContext,
    status: Option<ProductStatus>,
    q: &ListQuery,
) -> Result<Json<Page<Product>>, ApiError> {
    let args = list_args(q)?;
    store::list_products(&state.db, tenant.store_id, status, args.after, args.limit)
        .await
        .map(Json)
        .map_err(map_db_error)
}

/// `GET /api/products`: active products, newest first.
async fn shop_list(
    State(state): State<AppState>,
    tenant: TenantContext,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<Page<Product>>, ApiError> {
    if q.status.is_some() {
        return Err(ApiError::invalid("shoppers see active products only"));
    }
    list(&state, &tenant, Some(ProductStatus::Active), &q).await
}

/// `GET /api/products/{id}`: one active product.
async fn shop_get(
    State(state): State<AppState>,
    tenant: TenantContext,
    ApiPath(id): ApiPath<ProductId>,
) -> Result<Json<Product>, ApiError> {
    store::get_product(&state.db, tenant.store_id, id, Some(ProductStatus::Active))
        .await
        .map_err(map_db_error)?
        .map(Json)
        .ok_or_else(|| ApiError::not_found("product"))
}

/// `GET /admin/api/products?status=`: every product, any status.
async fn admin_list(
    State(state): State<AppState>,
    tenant: TenantContext,
    _: Staff,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<Page<Product>>, ApiError> {
    let status = q
        .status
        .as_deref()
        .map(|s| {
            ProductStatus::parse(s)
                .ok_or_else(|| ApiError::invalid("status must be draft, active or archived"))
        })
        .transpose()?;
    list(&state, &tenant, status, &q).await
}

/// `GET /admin/api/products/{id}`.
async fn admin_get(
    State(state): State<AppState>,
    tenant: TenantContext,
    _: Staff,
    ApiPath(id): ApiPath<ProductId>,
) -> Result<Json<Product>, ApiError> {
    store::get_product(&state.db, tenant.store_id, id, None)
        .await
        .map_err(map_db_error)?
        .map(Json)
        .ok_or_else(|| ApiError::not_found("product"))
}

/// `POST /admin/api/products`: a product with its variants, in one transaction.
async fn create(
    State(state): State<AppState>,
    tenant: TenantContext,
    _: Staff,
    ApiJson(new): ApiJson<NewProduct>,
) -> Result<(StatusCode, Json<Product>), ApiError> {
    new.validate()?;
    let mut tx = state.db.begin().await.map_err(ApiError::internal)?;
    lock_active(&mut tx, tenant.store_id).await?;
    let id = store::insert_product(&mut tx, tenant.store_id, tenant.currency, &new)
        .await
        .map_err(map_db_error)?;
    super::after_change(&state, &mut tx, tenant.store_id, &[id]).await?;
    tx.commit().await.map_err(map_db_error)?;
    let product = store::get_product(&state.db, tenant.store_id, id, None)
        .await
        .map_err(map_db_error)?
        .ok_or_else(|| ApiError::internal("product vanished after insert"))?;
    tracing::info!(product_id = %id, "product created");
    Ok((StatusCode::CREATED, Json(product)))
}

/// `PATCH /admin/api/products/{id}`: title, description, status.
async fn update(
    State(state): State<AppState>,
    tenant: TenantContext,
    _: Staff,
    ApiPath(id): ApiPath<ProductId>,
    ApiJson(patch): ApiJson<ProductPatch>,
) -> Result<Json<Product>, ApiError> {
    patch.validate()?;
    let mut tx = state.db.begin().await.map_err(ApiError::internal)?;
    lock_active(&mut tx, tenant.store_id).await?;
    if !store::update_product(&mut tx, tenant.store_id, id, &patch)
        .await
        .map_err(map_db_error)?
    {
        return Err(ApiError::not_found("product"));
    }
    super::after_change(&state, &mut tx, tenant.store_id, &[id]).await?;
    tx.commit().await.map_err(map_db_error)?;
    store::get_product(&state.db, tenant.store_id, id, None)
        .await
        .map_err(map_db_error)?
        .map(Json)
        .ok_or_else(|| ApiError::not_found("product"))
}
