//! Discounts for staff: define them (code or automatic), their codes one
//! by one or 10,000 at a time, and the codes as CSV. The handlers call
//! `discounts`'s functions, as the admin's discount pages do.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use mercato_tenants::http::{ApiJson, ApiPath, ApiQuery};
use mercato_tenants::{ApiError, DiscountId};
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::accounts::auth::Staff;
use crate::discounts::input::{BulkCodes, DiscountInput};
use crate::discounts::{self, CodeRow, DiscountView};
use crate::error::PodError;
use crate::paging;
use crate::state::AppState;
use crate::tenancy::TenantContext;

type ErrorBody = mercato_tenants::error::ErrorBody;

/// The discounts API, each route registered with its OpenAPI description.
pub fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_discounts, create_discount))
        .routes(routes!(get_discount, replace_discount, delete_discount))
        .routes(routes!(list_discount_codes, add_discount_code))
        .routes(routes!(add_bulk_discount_codes))
        .routes(routes!(export_discount_codes))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// 1 to 100, default 20.
    #[param(minimum = 1, maximum = 100)]
    limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    #[param(value_type = Option<uuid::Uuid>)]
    after: Option<String>,
}

fn cursor(raw: Option<&str>) -> Result<Option<uuid::Uuid>, ApiError> {
    raw.map(|c| {
        c.parse::<uuid::Uuid>()
            .map_err(|_| ApiError::invalid("after must be a cursor from next_cursor"))
    })
    .transpose()
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct DiscountPage {
    items: Vec<DiscountView>,
    next_cursor: Option<String>,
}

/// The store's discounts, newest first.
#[utoipa::path(get, path = "/admin/api/discounts", tag = "discounts",
    params(ListQuery),
    responses((status = 200, body = DiscountPage), (status = 400, body = ErrorBody)))]
async fn list_discounts(
    State(state): State<AppState>,
    tenant: TenantContext,
    _: Staff,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<DiscountPage>, PodError> {
    let limit = paging::page_limit(q.limit)?;
    let before = cursor(q.after.as_deref())?.map(DiscountId::from_uuid);
    let mut items =
        discounts::list(&state.db, tenant.store_id, before, i64::from(limit) + 1).await?;
    let next_cursor = paging::split_page(&mut items, limit as usize, |d| d.id.to_string());
    Ok(Json(DiscountPage { items, next_cursor }))
}

/// Creates a discount. Kinds (`kind.kind`): `order` (`value`: `{"type":
/// "percentage", "value": basis points}` or `{"type": "amount", "value":
/// minor units}`), `products` (`value` and `items`: `{products, variants,
/// collections}` ids), `free_shipping` (`countries`, `max_shipping_minor`)
/// and `buy_x_get_y` (`buy`, `buy_quantity`, `get`, `get_quantity`,
/// `percent_bp`, `max_per_order`). A code discount may name its first
/// code. Rules between fields (the value's range for its type, the end
/// after the start, an automatic discount without codes, at most 25
/// active automatic discounts) are `422 invalid_discount`.
#[utoipa::path(post, path = "/admin/api/discounts", tag = "discounts",
    request_body = DiscountInput,
    responses((status = 201, body = DiscountView),
        (status = 400, body = ErrorBody),
        (status = 409, description = "discount_code_taken", body = ErrorBody),
        (status = 422, description = "invalid_discount", body = ErrorBody)))]
async fn create_discount(
    State(state): State<AppState>,
    tenant: TenantContext,
    _: Staff,
    ApiJson(body): ApiJson<DiscountInput>,
) -> Result<(StatusCode, Json<DiscountView>), PodError> {
    let view = discounts::create(&state, tenant.store_id, body).await?;
    Ok((StatusCode::CREATED, Json(view)))
}

/// One discount.
#[utoipa::path(get, path = "/admin/api/discounts/{id}", tag = "discounts",
    params(("id" = DiscountId, Path, description = "discount id")),
    responses((status = 200, body = DiscountView), (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
async fn get_discount(
    State(state): State<AppState>,
    tenant: TenantContext,
    _: Staff,
    ApiPath(id): ApiPath<DiscountId>,
) -> Result<Json<DiscountView>, PodError> {
    Ok(Json(discounts::get(&state.db, tenant.store_id, id).await?))
}

/// Replaces a discount's definition (the same body as creating it, without
/// `code`; its method cannot change). Its codes and uses stay.
#[utoipa::path(put, path = "/admin/api/discounts/{id}", tag = "discounts",
    params(("id" = DiscountId, Path, description = "discount id")),
    request_body = DiscountInput,
    responses((status = 200, body = DiscountView), (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 422, description = "invalid_discount", body = ErrorBody)))]
async fn replace_discount(
    State(state): State<AppState>,
    tenant: TenantContext,
    _: Staff,
    ApiPath(id): ApiPath<DiscountId>,
    ApiJson(body): ApiJson<DiscountInput>,
) -> Result<Json<DiscountView>, PodError> {
    Ok(Json(
        discounts::replace(&state, tenant.store_id, id, body).await?,
    ))
}

/// Deletes a discount and its codes; orders keep their discount lines.
#[utoipa::path(delete, path = "/admin/api/discounts/{id}", tag = "discounts",
    params(("id" = DiscountId, Path, description = "discount id")),
    responses((status = 204), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn delete_discount(
    State(state): State<AppState>,
    tenant: TenantContext,
    _: Staff,
    ApiPath(id): ApiPath<DiscountId>,
) -> Result<StatusCode, PodError> {
    discounts::delete(&state, tenant.store_id, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct CodePage {
    items: Vec<CodeRow>,
    next_cursor: Option<String>,
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct CodesQuery {
    /// 1 to 1000, default 100.
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    #[param(value_type = Option<uuid::Uuid>)]
    after: Option<String>,
}

/// A discount's codes, in the order they were made, with their uses.
#[utoipa::path(get, path = "/admin/api/discounts/{id}/codes", tag = "discounts",
    params(("id" = DiscountId, Path, description = "discount id"), CodesQuery),
    responses((status = 200, body = CodePage), (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
async fn list_discount_codes(
    State(state): State<AppState>,
    tenant: TenantContext,
    _: Staff,
    ApiPath(id): ApiPath<DiscountId>,
    ApiQuery(q): ApiQuery<CodesQuery>,
) -> Result<Json<CodePage>, PodError> {
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::invalid("limit must be 1 to 1000").into());
    }
    let after = cursor(q.after.as_deref())?;
    let mut items =
        discounts::codes(&state.db, tenant.store_id, id, after, i64::from(limit) + 1).await?;
    let next_cursor = paging::split_page(&mut items, limit as usize, |c| c.id.to_string());
    Ok(Json(CodePage { items, next_cursor }))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCode {
    /// 3 to 64 letters, digits, `-` or `_`; unique in the store without
    /// case.
    #[schema(pattern = r"^[A-Za-z0-9_-]{3,64}$")]
    code: String,
    /// This code's own uses, besides the discount's limit.
    #[schema(minimum = 1, maximum = 1_000_000_000)]
    usage_limit: Option<u32>,
}

/// Adds a code to a code discount.
#[utoipa::path(post, path = "/admin/api/discounts/{id}/codes", tag = "discounts",
    params(("id" = DiscountId, Path, description = "discount id")),
    request_body = NewCode,
    responses((status = 201, body = CodeRow), (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "discount_code_taken", body = ErrorBody),
        (status = 422, description = "invalid_discount (an automatic discount, or 100,000 codes)", body = ErrorBody)))]
async fn add_discount_code(
    State(state): State<AppState>,
    tenant: TenantContext,
    _: Staff,
    ApiPath(id): ApiPath<DiscountId>,
    ApiJson(body): ApiJson<NewCode>,
) -> Result<(StatusCode, Json<CodeRow>), PodError> {
    let row = discounts::add_typed_code(&state, tenant.store_id, id, &body.code, body.usage_limit)
        .await?;
    Ok((StatusCode::CREATED, Json(row)))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct BulkCreated {
    /// How many codes were made.
    count: usize,
    codes: Vec<String>,
}

/// Generates up to 10,000 new random codes for a code discount in one
/// transaction (single-use unless `usage_limit` says otherwise); all or
/// none. The codes can be listed and exported as CSV later.
#[utoipa::path(post, path = "/admin/api/discounts/{id}/codes/bulk", tag = "discounts",
    params(("id" = DiscountId, Path, description = "discount id")),
    request_body = BulkCodes,
    responses((status = 201, body = BulkCreated), (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 422, description = "invalid_discount (an automatic discount, or past 100,000 codes)", body = ErrorBody)))]
async fn add_bulk_discount_codes(
    State(state): State<AppState>,
    tenant: TenantContext,
    _: Staff,
    ApiPath(id): ApiPath<DiscountId>,
    ApiJson(body): ApiJson<BulkCodes>,
) -> Result<(StatusCode, Json<BulkCreated>), PodError> {
    let codes = discounts::generate_codes(&state, tenant.store_id, id, body).await?;
    Ok((
        StatusCode::CREATED,
        Json(BulkCreated {
            count: codes.len(),
            codes,
        }),
    ))
}

/// Every code of a discount as CSV (`code,usage_limit,used_count,created_at`).
#[utoipa::path(get, path = "/admin/api/discounts/{id}/codes/export", tag = "discounts",
    params(("id" = DiscountId, Path, description = "discount id")),
    responses((status = 200, content_type = "text/csv", body = String),
        (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn export_discount_codes(
    State(state): State<AppState>,
    tenant: TenantContext,
    _: Staff,
    ApiPath(id): ApiPath<DiscountId>,
) -> Result<Response, PodError> {
    let csv = discounts::export_csv(&state.db, tenant.store_id, id).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"discount-{id}-codes.csv\""),
            ),
        ],
        csv,
    )
        .into_response())
}
