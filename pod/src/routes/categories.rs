//! Category endpoints: staff under `/admin/api`, shoppers under `/api`.

use std::collections::HashSet;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Json;
use mercato_tenants::http::{ApiJson, ApiPath, ApiQuery};
use mercato_tenants::{ApiError, CategoryId, ProductId};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::accounts::auth::Staff;
use crate::catalog::{self, read};
use crate::categories::model::{
    Category, CategoryIds, CategoryPatch, CategoryTree, NewCategory, ProductCategories,
};
use crate::categories::sql;
use crate::category_write;
use crate::collections::ProductPage;
use crate::error::PodError;
use crate::paging::{page_limit, PageQuery};
use crate::product_write;
use crate::state::AppState;
use crate::tenancy::TenantContext;

/// Most categories one product may be filed under.
const MAX_PER_PRODUCT: usize = 100;

/// The categories API, each route registered with its OpenAPI description.
pub fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::default()
        .routes(routes!(shop_tree))
        .routes(routes!(shop_products))
        .routes(routes!(admin_tree, create))
        .routes(routes!(update, remove))
        .routes(routes!(product_categories, set_product_categories))
}

/// The whole category tree, siblings by position then name.
#[utoipa::path(get, path = "/api/categories", tag = "categories",
    responses((status = 200, body = CategoryTree)))]
async fn shop_tree(
    State(state): State<AppState>,
    tenant: TenantContext,
    headers: HeaderMap,
) -> Result<Response, PodError> {
    let store = tenant.store_id;
    read::cached_json(&state, store, &headers, "category_tree", "", || {
        crate::categories::tree(&state.db, store)
    })
    .await
}

/// Active products in a category or any category below it, newest first.
#[utoipa::path(get, path = "/api/categories/{handle}/products", tag = "categories",
    params(("handle" = String, Path, description = "category handle"), PageQuery),
    responses((status = 200, body = ProductPage), (status = 400, body = mercato_tenants::error::ErrorBody),
        (status = 404, body = mercato_tenants::error::ErrorBody)))]
async fn shop_products(
    State(state): State<AppState>,
    tenant: TenantContext,
    headers: HeaderMap,
    ApiPath(handle): ApiPath<String>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> Result<Response, PodError> {
    let limit = page_limit(q.limit)?;
    let store = tenant.store_id;
    let query = format!("{handle}\n{limit}\n{}", q.after.as_deref().unwrap_or(""));
    read::cached_json(&state, store, &headers, "category_products", &query, || {
        crate::categories::category_page(&state.db, store, &handle, q.after.as_deref(), limit)
    })
    .await
}

/// The whole category tree, with ids, for staff.
#[utoipa::path(get, path = "/admin/api/categories", tag = "categories",
    responses((status = 200, body = CategoryTree)))]
async fn admin_tree(
    State(state): State<AppState>,
    tenant: TenantContext,
    _: Staff,
) -> Result<Json<CategoryTree>, PodError> {
    crate::categories::tree(&state.db, tenant.store_id)
        .await
        .map(Json)
}

/// Creates a category, a root or under `parent_id`.
#[utoipa::path(post, path = "/admin/api/categories", tag = "categories",
    request_body = NewCategory,
    responses((status = 201, body = Category), (status = 400, body = mercato_tenants::error::ErrorBody),
        (status = 409, description = "handle_taken", body = mercato_tenants::error::ErrorBody),
        (status = 422, description = "unknown parent, or too deep", body = mercato_tenants::error::ErrorBody)))]
async fn create(
    State(state): State<AppState>,
    tenant: TenantContext,
    _: Staff,
    ApiJson(new): ApiJson<NewCategory>,
) -> Result<(StatusCode, Json<Category>), PodError> {
    let category = category_write::create(&state, tenant.store_id, new).await?;
    Ok((StatusCode::CREATED, Json(category)))
}

/// Renames, re-handles, re-positions or moves a category. A move under
/// itself or one of its descendants is `422 unprocessable`.
#[utoipa::path(patch, path = "/admin/api/categories/{id}", tag = "categories",
    params(("id" = CategoryId, Path, description = "category id")),
    request_body = CategoryPatch,
    responses((status = 200, body = Category), (status = 400, body = mercato_tenants::error::ErrorBody),
        (status = 404, body = mercato_tenants::error::ErrorBody),
        (status = 409, description = "handle_taken", body = mercato_tenants::error::ErrorBody),
        (status = 422, description = "a cycle, an unknown parent, or too deep", body = mercato_tenants::error::ErrorBody)))]
async fn update(
    State(state): State<AppState>,
    tenant: TenantContext,
    _: Staff,
    ApiPath(id): ApiPath<CategoryId>,
    ApiJson(patch): ApiJson<CategoryPatch>,
) -> Result<Json<Category>, PodError> {
    category_write::update(&state, tenant.store_id, id, patch)
        .await
        .map(Json)
}

/// Deletes a category: only a leaf with no products (else `409 conflict`).
#[utoipa::path(delete, path = "/admin/api/categories/{id}", tag = "categories",
    params(("id" = CategoryId, Path, description = "category id")),
    responses((status = 204), (status = 404, body = mercato_tenants::error::ErrorBody),
        (status = 409, description = "has sub-categories or products", body = mercato_tenants::error::ErrorBody)))]
async fn remove(
    State(state): State<AppState>,
    tenant: TenantContext,
    _: Staff,
    ApiPath(id): ApiPath<CategoryId>,
) -> Result<StatusCode, PodError> {
    category_write::delete(&state, tenant.store_id, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The categories a product is filed under.
#[utoipa::path(get, path = "/admin/api/products/{id}/categories", tag = "categories",
    params(("id" = ProductId, Path, description = "product id")),
    responses((status = 200, body = ProductCategories), (status = 404, body = mercato_tenants::error::ErrorBody)))]
async fn product_categories(
    State(state): State<AppState>,
    tenant: TenantContext,
    _: Staff,
    ApiPath(product): ApiPath<ProductId>,
) -> Result<Json<ProductCategories>, PodError> {
    let store = tenant.store_id;
    // A read: no transaction, no row lock.
    catalog::get_product(&state.db, store, product, None)
        .await?
        .ok_or_else(|| ApiError::not_found("product"))?;
    let categories = sql::of_product(&state.db, store, product).await?;
    Ok(Json(ProductCategories {
        product_id: product,
        categories,
    }))
}

/// Replaces the categories a product is filed under. Unknown category ids
/// are `422 unprocessable`.
#[utoipa::path(put, path = "/admin/api/products/{id}/categories", tag = "categories",
    params(("id" = ProductId, Path, description = "product id")),
    request_body = CategoryIds,
    responses((status = 200, body = ProductCategories), (status = 400, body = mercato_tenants::error::ErrorBody),
        (status = 404, body = mercato_tenants::error::ErrorBody),
        (status = 422, description = "unknown category ids", body = mercato_tenants::error::ErrorBody)))]
async fn set_product_categories(
    State(state): State<AppState>,
    tenant: TenantContext,
    _: Staff,
    ApiPath(product): ApiPath<ProductId>,
    ApiJson(body): ApiJson<CategoryIds>,
) -> Result<Json<ProductCategories>, PodError> {
    let wanted: Vec<CategoryId> = {
        let mut seen = HashSet::new();
        body.category_ids
            .iter()
            .filter(|c| seen.insert(**c))
            .copied()
            .collect()
    };
    if wanted.len() > MAX_PER_PRODUCT {
        return Err(ApiError::invalid(format!(
            "a product may be in at most {MAX_PER_PRODUCT} categories"
        ))
        .into());
    }
    let store = tenant.store_id;
    let mut tx = product_write::begin(&state.db, store).await?;
    if !catalog::existing_products(&mut *tx, store, &[product])
        .await?
        .contains(&product)
    {
        return Err(ApiError::not_found("product").into());
    }
    let known = sql::existing(&mut tx, store, &wanted).await?;
    catalog::require_known("categories", &wanted, &known)?;
    sql::set_product_categories(&mut tx, store, product, &wanted).await?;
    product_write::after_change(&state, &mut tx, store, &[product]).await?;
    let categories = sql::of_product(&mut *tx, store, product).await?;
    product_write::commit(&state, tx, store, &[product]).await?;
    Ok(Json(ProductCategories {
        product_id: product,
        categories,
    }))
}
