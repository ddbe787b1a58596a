//! Stock and location endpoints for staff.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use mercato_tenants::http::{ApiJson, ApiPath, ApiQuery};
use mercato_tenants::{AdjustmentId, ApiError, LocationId, VariantId};
use serde::{Deserialize, Serialize};
use utoipa::OpenApi as _;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::accounts::auth::Staff;
use crate::catalog;
use crate::error::PodError;
use crate::inventory::model::{
    Adjustment, Location, LocationPatch, NewLocation, StaffReason, StockOp, VariantStock,
};
use crate::inventory::sql::{locations as location_sql, stock as stock_sql};
use crate::inventory::{locations, model, stock};
use crate::paging::{page_limit, split_page};
use crate::state::AppState;
use crate::tenancy::{self, TenantContext};

/// The inventory API, each route registered with its OpenAPI description.
pub fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(Extra::openapi())
        .routes(routes!(create_location, list_locations))
        .routes(routes!(get_location, update_location))
        .routes(routes!(get_stock, set_stock))
        .routes(routes!(adjust_stock))
        .routes(routes!(list_adjustments))
}

/// Schemas the document lists though no route's signature reaches them (a
/// variant's summed stock, and the lines of an `out_of_stock` error); `routes!`
/// collects the rest from the handlers.
#[derive(utoipa::OpenApi)]
#[openapi(components(schemas(crate::inventory::Level, crate::inventory::Shortage)))]
struct Extra;

type ErrorBody = mercato_tenants::error::ErrorBody;

/// A page of locations, by id.
#[derive(Serialize, utoipa::ToSchema)]
pub struct LocationPage {
    items: Vec<Location>,
    next_cursor: Option<LocationId>,
}

/// A page of the stock audit, newest first.
#[derive(Serialize, utoipa::ToSchema)]
pub struct AdjustmentPage {
    items: Vec<Adjustment>,
    next_cursor: Option<AdjustmentId>,
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct LocationQuery {
    /// 1 to 100, default 20.
    #[param(minimum = 1, maximum = 100)]
    limit: Option<i64>,
    /// `next_cursor` of the previous page.
    after: Option<LocationId>,
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct AdjustmentQuery {
    /// Only changes of this variant.
    variant_id: Option<VariantId>,
    /// Only changes at this location.
    location_id: Option<LocationId>,
    /// 1 to 100, default 20.
    #[param(minimum = 1, maximum = 100)]
    limit: Option<i64>,
    /// `next_cursor` of the previous page.
    after: Option<AdjustmentId>,
}

/// A new stock level for one variant at one location.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StockUpdate {
    /// Units on hand, 0 to 10,000,000; never below the units reserved.
    #[schema(minimum = 0, maximum = 10_000_000)]
    on_hand: i32,
    /// At or below this many available units the badge says `low`; 0 to
    /// 1,000,000.
    #[schema(minimum = 0, maximum = 1_000_000)]
    low_stock_threshold: Option<i32>,
    /// Default: the store's default location.
    location_id: Option<LocationId>,
    /// Default: `correction`.
    reason: Option<StaffReason>,
}

/// A relative change of stock at one location.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StockAdjustment {
    /// Units to add (negative: remove): -10,000,000 to 10,000,000, not 0.
    #[schema(schema_with = delta_schema)]
    delta: i32,
    reason: StaffReason,
    /// Default: the store's default location.
    location_id: Option<LocationId>,
}

/// A stock adjustment's `delta`: -10,000,000 to -1, or 1 to 10,000,000.
fn delta_schema() -> utoipa::openapi::schema::Schema {
    use utoipa::openapi::schema::{OneOfBuilder, Type};
    use utoipa::openapi::ObjectBuilder;
    let range = |min: i32, max: i32| {
        ObjectBuilder::new()
            .schema_type(Type::Integer)
            .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
                utoipa::openapi::KnownFormat::Int32,
            )))
            .minimum(Some(min))
            .maximum(Some(max))
    };
    OneOfBuilder::new()
        .item(range(-10_000_000, -1))
        .item(range(1, 10_000_000))
        .description(Some(
            "Units to add (negative: remove): -10,000,000 to 10,000,000, not 0.",
        ))
        .into()
}

/// Creates a location.
#[utoipa::path(post, path = "/admin/api/locations", tag = "inventory",
    request_body = NewLocation,
    responses((status = 201, body = Location), (status = 400, body = ErrorBody),
        (status = 422, description = "Only one of latitude and longitude (`unprocessable`)", body = ErrorBody)))]
async fn create_location(
    State(state): State<AppState>,
    tenant: TenantContext,
    _: Staff,
    ApiJson(new): ApiJson<NewLocation>,
) -> Result<(StatusCode, Json<Location>), PodError> {
    let location = locations::add(&state, tenant.store_id, &new).await?;
    Ok((StatusCode::CREATED, Json(location)))
}

/// The store's locations, by id (the default one included).
#[utoipa::path(get, path = "/admin/api/locations", tag = "inventory",
    params(LocationQuery),
    responses((status = 200, body = LocationPage), (status = 400, body = ErrorBody)))]
async fn list_locations(
    State(state): State<AppState>,
    tenant: TenantContext,
    _: Staff,
    ApiQuery(q): ApiQuery<LocationQuery>,
) -> Result<Json<LocationPage>, PodError> {
    let limit = page_limit(q.limit)?;
    let mut tx = tenancy::begin_write(&state.db, tenant.store_id).await?;
    locations::ensure_default_location(&mut tx, tenant.store_id).await?;
    tx.commit().await?;
    let mut items = location_sql::list(&state.db, tenant.store_id, q.after, limit + 1).await?;
    let next_cursor = split_page(&mut items, limit as usize, |l| l.id);
    Ok(Json(LocationPage { items, next_cursor }))
}

/// One location.
#[utoipa::path(get, path = "/admin/api/locations/{id}", tag = "inventory",
    params(("id" = LocationId, Path, description = "location id")),
    responses((status = 200, body = Location), (status = 404, body = ErrorBody)))]
async fn get_location(
    State(state): State<AppState>,
    tenant: TenantContext,
    _: Staff,
    ApiPath(id): ApiPath<LocationId>,
) -> Result<Json<Location>, PodError> {
    location_sql::get(&state.db, tenant.store_id, id)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found("location").into())
}

/// Changes a location; `active: false` deactivates it (409
/// `last_active_location` for the store's last active one).
#[utoipa::path(patch, path = "/admin/api/locations/{id}", tag = "inventory",
    params(("id" = LocationId, Path, description = "location id")),
    request_body = LocationPatch,
    responses((status = 200, body = Location), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody),
        (status = 422, description = "Only one of latitude and longitude (`unprocessable`)", body = ErrorBody)))]
async fn update_location(
    State(state): State<AppState>,
    tenant: TenantContext,
    _: Staff,
    ApiPath(id): ApiPath<LocationId>,
    ApiJson(patch): ApiJson<LocationPatch>,
) -> Result<Json<Location>, PodError> {
    Ok(Json(
        locations::change(&state, tenant.store_id, id, &patch).await?,
    ))
}

/// A variant's stock per location, with totals over active locations.
#[utoipa::path(get, path = "/admin/api/variants/{id}/stock", tag = "inventory",
    params(("id" = VariantId, Path, description = "variant id")),
    responses((status = 200, body = VariantStock), (status = 404, body = ErrorBody)))]
async fn get_stock(
    State(state): State<AppState>,
    tenant: TenantContext,
    _: Staff,
    ApiPath(variant): ApiPath<VariantId>,
) -> Result<Json<VariantStock>, PodError> {
    catalog::product_of_variant(&state.db, tenant.store_id, variant)
        .await?
        .ok_or_else(|| ApiError::not_found("variant"))?;
    Ok(Json(
        stock::variant_stock(&state.db, tenant.store_id, variant).await?,
    ))
}

fn check_threshold(t: Option<i32>) -> Result<(), ApiError> {
    if matches!(t, Some(t) if !(0..=1_000_000).contains(&t)) {
        return Err(ApiError::invalid(
            "low_stock_threshold must be 0 to 1000000",
        ));
    }
    Ok(())
}

/// Sets the units on hand of a variant at a location (default: the
/// store's default location).
#[utoipa::path(put, path = "/admin/api/variants/{id}/stock", tag = "inventory",
    params(("id" = VariantId, Path, description = "variant id")),
    request_body = StockUpdate,
    responses((status = 200, body = VariantStock), (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
async fn set_stock(
    State(state): State<AppState>,
    tenant: TenantContext,
    Staff(claims): Staff,
    ApiPath(variant): ApiPath<VariantId>,
    ApiJson(update): ApiJson<StockUpdate>,
) -> Result<Json<VariantStock>, PodError> {
    if !(0..=model::MAX_ON_HAND).contains(&update.on_hand) {
        return Err(ApiError::invalid("on_hand must be 0 to 10000000").into());
    }
    check_threshold(update.low_stock_threshold)?;
    let reason = update.reason.unwrap_or(StaffReason::Correction);
    crate::stock_write::change_stock(
        &state,
        tenant.store_id,
        crate::stock_write::StaffChange {
            variant,
            location: update.location_id,
            op: StockOp::Set(update.on_hand),
            reason: reason.as_str(),
            actor: &claims.sub,
            low_stock_threshold: update.low_stock_threshold,
        },
    )
    .await
    .map(Json)
}

/// Adds or removes units of a variant at a location.
#[utoipa::path(post, path = "/admin/api/variants/{id}/stock/adjustments", tag = "inventory",
    params(("id" = VariantId, Path, description = "variant id")),
    request_body = StockAdjustment,
    responses((status = 200, body = VariantStock), (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
async fn adjust_stock(
    State(state): State<AppState>,
    tenant: TenantContext,
    Staff(claims): Staff,
    ApiPath(variant): ApiPath<VariantId>,
    ApiJson(adjustment): ApiJson<StockAdjustment>,
) -> Result<Json<VariantStock>, PodError> {
    if adjustment.delta == 0 || adjustment.delta.unsigned_abs() > 10_000_000 {
        return Err(ApiError::invalid("delta must be -10000000 to 10000000 and not 0").into());
    }
    crate::stock_write::change_stock(
        &state,
        tenant.store_id,
        crate::stock_write::StaffChange {
            variant,
            location: adjustment.location_id,
            op: StockOp::Adjust(adjustment.delta),
            reason: adjustment.reason.as_str(),
            actor: &claims.sub,
            low_stock_threshold: None,
        },
    )
    .await
    .map(Json)
}

/// The stock audit: every change of units on hand, newest first.
#[utoipa::path(get, path = "/admin/api/inventory/adjustments", tag = "inventory",
    params(AdjustmentQuery),
    responses((status = 200, body = AdjustmentPage), (status = 400, body = ErrorBody)))]
async fn list_adjustments(
    State(state): State<AppState>,
    tenant: TenantContext,
    _: Staff,
    ApiQuery(q): ApiQuery<AdjustmentQuery>,
) -> Result<Json<AdjustmentPage>, PodError> {
    let limit = page_limit(q.limit)?;
    let mut items = stock_sql::adjustments(
        &state.db,
        tenant.store_id,
        q.variant_id,
        q.location_id,
        q.after,
        limit + 1,
    )
    .await?;
    let next_cursor = split_page(&mut items, limit as usize, |a| a.id);
    Ok(Json(AdjustmentPage { items, next_cursor }))
}
