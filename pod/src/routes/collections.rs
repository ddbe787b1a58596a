//! Collection endpoints: staff under `/admin/api/collections`, shoppers
//! under `/api/collections`.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Json;
use mercato_tenants::http::{ApiJson, ApiPath, ApiQuery};
use mercato_tenants::{ApiError, CollectionId, ProductId, StoreId};
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::accounts::auth::Staff;
use crate::catalog::read;
use crate::collection_write;
use crate::collections::model::{
    Collection, CollectionPage, CollectionPatch, NewCollection, ProductPage, Slug, SortOrder,
};
use crate::collections::{products_page, sql};
use crate::error::PodError;
use crate::paging::page_limit;
use crate::state::AppState;
use crate::tenancy::TenantContext;

/// The collections API, each route registered with its OpenAPI description.
pub fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::default()
        .routes(routes!(shop_list))
        .routes(routes!(shop_get))
        .routes(routes!(shop_products))
        .routes(routes!(admin_list, create))
        .routes(routes!(admin_get, update, remove))
        .routes(routes!(admin_products, add_products))
        .routes(routes!(reorder_products))
        .routes(routes!(remove_product))
}

/// `?sort=&limit=&after=` of a list of a collection's products.
#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ProductsQuery {
    /// Default: the collection's `sort_order`.
    sort: Option<SortOrder>,
    /// 1 to 100, default 20.
    #[param(minimum = 1, maximum = 100)]
    limit: Option<u32>,
    /// `next_cursor` of the previous page with the same sort.
    after: Option<String>,
}

/// Product ids, in the order that matters.
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProductIds {
    /// At most 10,000: every member of the collection, once.
    #[schema(max_items = 10_000)]
    product_ids: Vec<ProductId>,
}

/// Products to add to a manual collection, in order.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProductsToAdd {
    /// 1 to 250.
    #[schema(min_items = 1, max_items = 250)]
    product_ids: Vec<ProductId>,
}

/// The products a request added, in their new order.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Added {
    added: Vec<ProductId>,
}

/// `?limit=&after=` of the list of collections.
#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// 1 to 100, default 20.
    #[param(minimum = 1, maximum = 100)]
    limit: Option<u32>,
    /// The `next_cursor` of the previous page (a collection's handle).
    #[param(min_length = 1, max_length = 63, pattern = r"^[a-z0-9]+(-[a-z0-9]+)*$")]
    after: Option<String>,
}

async fn list(
    state: &AppState,
    store: StoreId,
    q: &ListQuery,
) -> Result<Json<CollectionPage>, PodError> {
    let limit = page_limit(q.limit)?;
    let after = q
        .after
        .as_deref()
        .map(|a| {
            Slug::parse(a).map_err(|_| ApiError::invalid("after must be a cursor from next_cursor"))
        })
        .transpose()?;
    Ok(Json(
        sql::list(&state.db, store, after.as_ref(), limit).await?,
    ))
}

/// Lists the store's collections by handle.
#[utoipa::path(get, path = "/api/collections", tag = "collections",
    params(ListQuery),
    responses((status = 200, body = CollectionPage), (status = 400, body = mercato_tenants::error::ErrorBody)))]
async fn shop_list(
    State(state): State<AppState>,
    tenant: TenantContext,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<CollectionPage>, PodError> {
    list(&state, tenant.store_id, &q).await
}

/// One collection, by handle.
#[utoipa::path(get, path = "/api/collections/{handle}", tag = "collections",
    params(("handle" = String, Path, description = "collection handle", max_length = 255)),
    responses((status = 200, body = Collection), (status = 404, body = mercato_tenants::error::ErrorBody)))]
async fn shop_get(
    State(state): State<AppState>,
    tenant: TenantContext,
    headers: HeaderMap,
    ApiPath(handle): ApiPath<String>,
) -> Result<Response, PodError> {
    let store = tenant.store_id;
    read::cached_json(&state, store, &headers, "collection", &handle, || {
        crate::collections::collection_by_handle(&state.db, store, &handle)
    })
    .await
}

/// A collection's active products, in the collection's sort order unless
/// `sort` says otherwise. Ties are broken by product id.
#[utoipa::path(get, path = "/api/collections/{handle}/products", tag = "collections",
    params(("handle" = String, Path, description = "collection handle", max_length = 255), ProductsQuery),
    responses((status = 200, body = ProductPage), (status = 400, body = mercato_tenants::error::ErrorBody),
        (status = 404, body = mercato_tenants::error::ErrorBody)))]
async fn shop_products(
    State(state): State<AppState>,
    tenant: TenantContext,
    headers: HeaderMap,
    ApiPath(handle): ApiPath<String>,
    ApiQuery(q): ApiQuery<ProductsQuery>,
) -> Result<Response, PodError> {
    let limit = page_limit(q.limit)?;
    let store = tenant.store_id;
    let query = format!(
        "{handle}\n{:?}\n{limit}\n{}",
        q.sort,
        q.after.as_deref().unwrap_or("")
    );
    read::cached_json(
        &state,
        store,
        &headers,
        "collection_products",
        &query,
        || {
            crate::collections::collection_page(
                &state.db,
                store,
                &handle,
                q.sort,
                q.after.as_deref(),
                limit,
            )
        },
    )
    .await
}

/// Lists the store's collections by handle.
#[utoipa::path(get, path = "/admin/api/collections", tag = "collections",
    params(ListQuery),
    responses((status = 200, body = CollectionPage), (status = 400, body = mercato_tenants::error::ErrorBody)))]
async fn admin_list(
    State(state): State<AppState>,
    tenant: TenantContext,
    _: Staff,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<CollectionPage>, PodError> {
    list(&state, tenant.store_id, &q).await
}

/// Creates a collection. A rule collection's members are computed at once.
#[utoipa::path(post, path = "/admin/api/collections", tag = "collections",
    request_body = NewCollection,
    responses((status = 201, body = Collection), (status = 400, body = mercato_tenants::error::ErrorBody),
        (status = 409, description = "handle_taken", body = mercato_tenants::error::ErrorBody),
        (status = 422, description = "Rules for a manual collection, or none for a rule one (`unprocessable`)", body = mercato_tenants::error::ErrorBody)))]
async fn create(
    State(state): State<AppState>,
    tenant: TenantContext,
    _: Staff,
    ApiJson(new): ApiJson<NewCollection>,
) -> Result<(StatusCode, Json<Collection>), PodError> {
    let collection = collection_write::create(&state, tenant.store_id, new).await?;
    Ok((StatusCode::CREATED, Json(collection)))
}

/// One collection, with its rules.
#[utoipa::path(get, path = "/admin/api/collections/{id}", tag = "collections",
    params(("id" = CollectionId, Path, description = "collection id")),
    responses((status = 200, body = Collection), (status = 404, body = mercato_tenants::error::ErrorBody)))]
async fn admin_get(
    State(state): State<AppState>,
    tenant: TenantContext,
    _: Staff,
    ApiPath(id): ApiPath<CollectionId>,
) -> Result<Json<Collection>, PodError> {
    sql::get(&state.db, tenant.store_id, id)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found("collection").into())
}

/// Changes a collection's fields. New rules (rule collections only)
/// re-compute its members.
#[utoipa::path(patch, path = "/admin/api/collections/{id}", tag = "collections",
    params(("id" = CollectionId, Path, description = "collection id")),
    request_body = CollectionPatch,
    responses((status = 200, body = Collection), (status = 400, body = mercato_tenants::error::ErrorBody),
        (status = 404, body = mercato_tenants::error::ErrorBody),
        (status = 409, description = "handle_taken", body = mercato_tenants::error::ErrorBody),
        (status = 422, description = "rules for a manual collection", body = mercato_tenants::error::ErrorBody)))]
async fn update(
    State(state): State<AppState>,
    tenant: TenantContext,
    _: Staff,
    ApiPath(id): ApiPath<CollectionId>,
    ApiJson(patch): ApiJson<CollectionPatch>,
) -> Result<Json<Collection>, PodError> {
    collection_write::update(&state, tenant.store_id, id, patch)
        .await
        .map(Json)
}

/// Deletes a collection (its products stay).
#[utoipa::path(delete, path = "/admin/api/collections/{id}", tag = "collections",
    params(("id" = CollectionId, Path, description = "collection id")),
    responses((status = 204), (status = 404, body = mercato_tenants::error::ErrorBody)))]
async fn remove(
    State(state): State<AppState>,
    tenant: TenantContext,
    _: Staff,
    ApiPath(id): ApiPath<CollectionId>,
) -> Result<StatusCode, PodError> {
    collection_write::delete(&state, tenant.store_id, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A collection's products of any status, in the collection's sort order
/// unless `sort` says otherwise.
#[utoipa::path(get, path = "/admin/api/collections/{id}/products", tag = "collections",
    params(("id" = CollectionId, Path, description = "collection id"), ProductsQuery),
    responses((status = 200, body = ProductPage), (status = 400, body = mercato_tenants::error::ErrorBody),
        (status = 404, body = mercato_tenants::error::ErrorBody)))]
async fn admin_products(
    State(state): State<AppState>,
    tenant: TenantContext,
    _: Staff,
    ApiPath(id): ApiPath<CollectionId>,
    ApiQuery(q): ApiQuery<ProductsQuery>,
) -> Result<Json<ProductPage>, PodError> {
    let limit = page_limit(q.limit)?;
    let collection = sql::get(&state.db, tenant.store_id, id)
        .await?
        .ok_or_else(|| ApiError::not_found("collection"))?;
    products_page(
        &state.db,
        tenant.store_id,
        id,
        None,
        q.sort.unwrap_or(collection.sort_order),
        q.after.as_deref(),
        limit,
    )
    .await
    .map(Json)
}

/// Appends products to a manual collection, in the given order; products
/// already in it are left where they are.
#[utoipa::path(post, path = "/admin/api/collections/{id}/products", tag = "collections",
    params(("id" = CollectionId, Path, description = "collection id")),
    request_body = ProductsToAdd,
    responses((status = 200, body = Added), (status = 400, body = mercato_tenants::error::ErrorBody),
        (status = 404, body = mercato_tenants::error::ErrorBody),
        (status = 422, description = "unknown product ids, or a rule collection", body = mercato_tenants::error::ErrorBody)))]
async fn add_products(
    State(state): State<AppState>,
    tenant: TenantContext,
    _: Staff,
    ApiPath(id): ApiPath<CollectionId>,
    ApiJson(body): ApiJson<ProductsToAdd>,
) -> Result<Json<Added>, PodError> {
    let added =
        collection_write::add_products(&state, tenant.store_id, id, &body.product_ids).await?;
    Ok(Json(Added { added }))
}

/// Sets the manual order of a manual collection: `product_ids` must list
/// every member exactly once.
#[utoipa::path(put, path = "/admin/api/collections/{id}/products/order", tag = "collections",
    params(("id" = CollectionId, Path, description = "collection id")),
    request_body = ProductIds,
    responses((status = 200, body = ProductIds), (status = 400, body = mercato_tenants::error::ErrorBody),
        (status = 404, body = mercato_tenants::error::ErrorBody),
        (status = 422, description = "not exactly the members, or a rule collection", body = mercato_tenants::error::ErrorBody)))]
async fn reorder_products(
    State(state): State<AppState>,
    tenant: TenantContext,
    _: Staff,
    ApiPath(id): ApiPath<CollectionId>,
    ApiJson(body): ApiJson<ProductIds>,
) -> Result<Json<ProductIds>, PodError> {
    collection_write::set_order(&state, tenant.store_id, id, &body.product_ids).await?;
    Ok(Json(body))
}

/// Takes a product out of a manual collection.
#[utoipa::path(delete, path = "/admin/api/collections/{id}/products/{product_id}", tag = "collections",
    params(("id" = CollectionId, Path, description = "collection id"),
        ("product_id" = ProductId, Path, description = "product id")),
    responses((status = 204), (status = 404, body = mercato_tenants::error::ErrorBody),
        (status = 422, description = "a rule collection", body = mercato_tenants::error::ErrorBody)))]
async fn remove_product(
    State(state): State<AppState>,
    tenant: TenantContext,
    _: Staff,
    ApiPath((id, product)): ApiPath<(CollectionId, ProductId)>,
) -> Result<StatusCode, PodError> {
    collection_write::remove_product(&state, tenant.store_id, id, product).await?;
    Ok(StatusCode::NO_CONTENT)
}
