//! Catalog endpoints: staff under `/admin/api`, shoppers under `/api`.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Json;
use mercato_tenants::error::ErrorBody;
use mercato_tenants::http::{ApiJson, ApiPath, ApiQuery};
use mercato_tenants::{ApiError, ErrorCode, MediaId, ProductId, VariantId};
use serde::Deserialize;
use utoipa::OpenApi as _;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::accounts::auth::Staff;
use crate::catalog::model::{
    NewProduct, NewVariant, Product, ProductPatch, ProductStatus, VariantPatch,
};
use crate::catalog::read;
use crate::catalog::sql::{self, Page};
use crate::error::PodError;
use crate::paging::page_limit;
use crate::product_write;
use crate::state::AppState;
use crate::tenancy::TenantContext;

/// The catalog API, each route registered with its OpenAPI description.
pub fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(Extra::openapi())
        .routes(routes!(shop_list))
        .routes(routes!(shop_get))
        .routes(routes!(admin_list, create))
        .routes(routes!(admin_get, update, remove))
        .routes(routes!(add_variant))
        .routes(routes!(update_variant, remove_variant))
        .routes(routes!(upload_image))
        .routes(routes!(remove_image))
        .routes(routes!(order_images))
}

/// What the document says beyond the routes' own descriptions: the
/// catalog tag's description (the routes carry the tag).
#[derive(utoipa::OpenApi)]
#[openapi(tags((name = "catalog", description = "Products, variants and images")))]
struct Extra;

/// A page of products.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
struct ProductPage {
    items: Vec<Product>,
    next_cursor: Option<String>,
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(super) struct ListQuery {
    /// 1 to 100, default 20.
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page (a product id).
    #[param(value_type = Option<uuid::Uuid>)]
    pub after: Option<String>,
    /// Draft, active or archived.
    #[param(value_type = Option<ProductStatus>)]
    pub status: Option<String>,
}

/// [`ListQuery`] as shoppers send it: they see active products only.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(super) struct ShopListQuery {
    /// 1 to 100, default 20.
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page (a product id).
    #[param(value_type = Option<uuid::Uuid>)]
    pub after: Option<String>,
}

pub(super) struct ListArgs {
    pub limit: u32,
    pub after: Option<ProductId>,
}

pub(super) fn list_args(limit: Option<u32>, after: Option<&str>) -> Result<ListArgs, ApiError> {
    let limit = page_limit(limit)?;
    let after = after
        .map(|a| {
            a.parse::<ProductId>()
                .map_err(|_| ApiError::invalid("after must be a cursor from next_cursor"))
        })
        .transpose()?;
    Ok(ListArgs { limit, after })
}

/// Active products, newest first (cached).
#[utoipa::path(get, path = "/api/products", tag = "catalog", params(ShopListQuery),
    responses((status = 200, body = ProductPage), (status = 400, body = ErrorBody)))]
async fn shop_list(
    State(state): State<AppState>,
    tenant: TenantContext,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<ShopListQuery>,
) -> Result<Response, PodError> {
    let args = list_args(q.limit, q.after.as_deref())?;
    let body = read::product_page(&state, tenant.store_id, args.after, args.limit).await?;
    Ok(read::respond(&headers, body))
}

/// One active product with fresh stock badges (cached; ETag).
#[utoipa::path(get, path = "/api/products/{id}", tag = "catalog",
    params(("id" = ProductId, Path, description = "product id")),
    responses((status = 200, body = Product), (status = 304), (status = 404, body = ErrorBody)))]
async fn shop_get(
    State(state): State<AppState>,
    tenant: TenantContext,
    headers: HeaderMap,
    ApiPath(id): ApiPath<ProductId>,
) -> Result<Response, PodError> {
    let body = read::product_with_badges(&state, tenant.store_id, id).await?;
    Ok(read::respond(&headers, body))
}

use crate::product_write::{staff_product, with_stock};

/// Every product, any status, newest first.
#[utoipa::path(get, path = "/admin/api/products", tag = "catalog", params(ListQuery),
    responses((status = 200, body = ProductPage), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
async fn admin_list(
    State(state): State<AppState>,
    tenant: TenantContext,
    _: Staff,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<Page<Product>>, PodError> {
    let status = q
        .status
        .as_deref()
        .map(|s| {
            ProductStatus::parse(s)
                .ok_or_else(|| ApiError::invalid("status must be draft, active or archived"))
        })
        .transpose()?;
    let args = list_args(q.limit, q.after.as_deref())?;
    let page =
        sql::list_products(&state.db, tenant.store_id, status, args.after, args.limit).await?;
    Ok(Json(Page {
        items: with_stock(&state, tenant.store_id, page.items).await?,
        next_cursor: page.next_cursor,
    }))
}

/// One product, any status, with units on hand.
#[utoipa::path(get, path = "/admin/api/products/{id}", tag = "catalog",
    params(("id" = ProductId, Path, description = "product id")),
    responses((status = 200, body = Product), (status = 404, body = ErrorBody)))]
async fn admin_get(
    State(state): State<AppState>,
    tenant: TenantContext,
    _: Staff,
    ApiPath(id): ApiPath<ProductId>,
) -> Result<Json<Product>, PodError> {
    staff_product(&state, tenant.store_id, id).await.map(Json)
}

/// Creates a product with its variants (and their starting stock).
#[utoipa::path(post, path = "/admin/api/products", tag = "catalog", request_body = NewProduct,
    responses((status = 201, body = Product), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, description = "A rule between fields: an option or value named twice, option values that do not fit the options, two variants with one SKU or one combination, a compare-at price below the price (`unprocessable`)", body = ErrorBody)))]
async fn create(
    State(state): State<AppState>,
    tenant: TenantContext,
    _: Staff,
    ApiJson(mut new): ApiJson<NewProduct>,
) -> Result<(StatusCode, Json<Product>), PodError> {
    let id = product_write::create(&state, tenant.store_id, tenant.currency, &mut new).await?;
    Ok((
        StatusCode::CREATED,
        Json(staff_product(&state, tenant.store_id, id).await?),
    ))
}

/// Updates a product's own fields (options only if every variant still fits).
#[utoipa::path(patch, path = "/admin/api/products/{id}", tag = "catalog", request_body = ProductPatch,
    params(("id" = ProductId, Path, description = "product id")),
    responses((status = 200, body = Product), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, description = "An option or value named twice, or options a variant no longer fits (`unprocessable`)", body = ErrorBody)))]
async fn update(
    State(state): State<AppState>,
    tenant: TenantContext,
    _: Staff,
    ApiPath(id): ApiPath<ProductId>,
    ApiJson(mut patch): ApiJson<ProductPatch>,
) -> Result<Json<Product>, PodError> {
    product_write::update(&state, tenant.store_id, id, &mut patch).await?;
    staff_product(&state, tenant.store_id, id).await.map(Json)
}

/// Deletes a product with its variants, stock and images.
#[utoipa::path(delete, path = "/admin/api/products/{id}", tag = "catalog",
    params(("id" = ProductId, Path, description = "product id")),
    responses((status = 204), (status = 404, body = ErrorBody)))]
async fn remove(
    State(state): State<AppState>,
    tenant: TenantContext,
    _: Staff,
    ApiPath(id): ApiPath<ProductId>,
) -> Result<StatusCode, PodError> {
    product_write::delete(&state, tenant.store_id, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Adds a variant to a product.
#[utoipa::path(post, path = "/admin/api/products/{id}/variants", tag = "catalog", request_body = NewVariant,
    params(("id" = ProductId, Path, description = "product id")),
    responses((status = 201, body = Product), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, description = "Option values that do not fit the product's options or repeat another variant's, or a compare-at price below the price (`unprocessable`)", body = ErrorBody)))]
async fn add_variant(
    State(state): State<AppState>,
    tenant: TenantContext,
    _: Staff,
    ApiPath(id): ApiPath<ProductId>,
    ApiJson(mut new): ApiJson<NewVariant>,
) -> Result<(StatusCode, Json<Product>), PodError> {
    product_write::add_variant(
        &state,
        tenant.store_id,
        tenant.currency,
        id,
        &mut new,
        false,
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(staff_product(&state, tenant.store_id, id).await?),
    ))
}

/// Updates one variant: price, compare-at price, SKU, weight, options, attributes.
#[utoipa::path(patch, path = "/admin/api/variants/{id}", tag = "catalog", request_body = VariantPatch,
    params(("id" = VariantId, Path, description = "variant id")),
    responses((status = 200, body = Product), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, description = "A compare-at price below the price (new or current), or option values that do not fit the product's options or repeat another variant's (`unprocessable`)", body = ErrorBody)))]
async fn update_variant(
    State(state): State<AppState>,
    tenant: TenantContext,
    _: Staff,
    ApiPath(variant): ApiPath<VariantId>,
    ApiJson(patch): ApiJson<VariantPatch>,
) -> Result<Json<Product>, PodError> {
    let product = product_write::update_variant(&state, tenant.store_id, variant, &patch).await?;
    staff_product(&state, tenant.store_id, product)
        .await
        .map(Json)
}

/// Deletes a variant; a product keeps at least one.
#[utoipa::path(delete, path = "/admin/api/variants/{id}", tag = "catalog",
    params(("id" = VariantId, Path, description = "variant id")),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn remove_variant(
    State(state): State<AppState>,
    tenant: TenantContext,
    _: Staff,
    ApiPath(variant): ApiPath<VariantId>,
) -> Result<StatusCode, PodError> {
    product_write::remove_variant(&state, tenant.store_id, variant).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct ImageQuery {
    /// Alternative text for the image, at most 512 characters.
    #[param(max_length = 512)]
    alt: Option<String>,
}

/// Uploads an image (the raw bytes as the body: PNG, JPEG, GIF or WebP) and
/// appends it to the product. Its URL is content-addressed.
#[utoipa::path(post, path = "/admin/api/products/{id}/images", tag = "catalog",
    params(("id" = ProductId, Path, description = "product id"), ImageQuery),
    request_body(content = Vec<u8>, content_type = "image/*"),
    responses((status = 201, body = Product), (status = 400, body = ErrorBody), (status = 413, body = ErrorBody),
        (status = 422, description = "The body is empty, or its bytes are not a PNG, JPEG, GIF or WebP image (`invalid_image`)", body = ErrorBody)))]
async fn upload_image(
    State(state): State<AppState>,
    tenant: TenantContext,
    _: Staff,
    ApiPath(id): ApiPath<ProductId>,
    ApiQuery(q): ApiQuery<ImageQuery>,
    body: Body,
) -> Result<(StatusCode, Json<Product>), PodError> {
    let alt = q.alt.unwrap_or_default();
    if alt.chars().count() > 512 {
        return Err(ApiError::invalid("alt must be at most 512 characters").into());
    }
    let bytes = axum::body::to_bytes(body, state.config.media.max_bytes)
        .await
        .map_err(|_| {
            ApiError::new(
                ErrorCode::PayloadTooLarge,
                format!("an image is at most {} bytes", state.config.media.max_bytes),
            )
        })?;
    product_write::add_image(&state, tenant.store_id, id, bytes, alt.trim()).await?;
    Ok((
        StatusCode::CREATED,
        Json(staff_product(&state, tenant.store_id, id).await?),
    ))
}

/// Removes an image from a product.
#[utoipa::path(delete, path = "/admin/api/products/{id}/images/{image_id}", tag = "catalog",
    params(("id" = ProductId, Path, description = "product id"), ("image_id" = uuid::Uuid, Path, description = "image id")),
    responses((status = 204), (status = 404, body = ErrorBody)))]
async fn remove_image(
    State(state): State<AppState>,
    tenant: TenantContext,
    _: Staff,
    ApiPath((id, image)): ApiPath<(ProductId, MediaId)>,
) -> Result<StatusCode, PodError> {
    product_write::remove_image(&state, tenant.store_id, id, image).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The new order of a product's images.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct ImageOrder {
    /// Every image of the product, each once, first shown first.
    #[schema(max_items = 100)]
    image_ids: Vec<MediaId>,
}

/// Puts a product's images in a new order (the first is the product's
/// main image).
#[utoipa::path(put, path = "/admin/api/products/{id}/images/order", tag = "catalog", request_body = ImageOrder,
    params(("id" = ProductId, Path, description = "product id")),
    responses((status = 200, body = Product), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, description = "The list is not every image of the product, each once (`unprocessable`)", body = ErrorBody)))]
async fn order_images(
    State(state): State<AppState>,
    tenant: TenantContext,
    _: Staff,
    ApiPath(id): ApiPath<ProductId>,
    ApiJson(order): ApiJson<ImageOrder>,
) -> Result<Json<Product>, PodError> {
    product_write::order_images(&state, tenant.store_id, id, &order.image_ids).await?;
    staff_product(&state, tenant.store_id, id).await.map(Json)
}
