//! Report endpoints (staff): sales over time and the top products,
//! variants and customers, as JSON or CSV; the store's time zone, which
//! the reports' days are in (read by staff, set by the owner).

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::NaiveDate;
use mercato_tenants::error::ErrorBody;
use mercato_tenants::http::{ApiJson, ApiQuery};
use mercato_tenants::ApiError;
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::accounts::auth::{Owner, Staff};
use crate::error::PodError;
use crate::reports::model::{self, Period, Range};
use crate::reports::{self, SalesReport, TopKind, TopReport};
use crate::state::AppState;
use crate::tenancy::TenantContext;

pub fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::default()
        .routes(routes!(sales))
        .routes(routes!(sales_csv))
        .routes(routes!(top))
        .routes(routes!(top_csv))
        .routes(routes!(get_time_zone, put_time_zone))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct SalesQuery {
    /// First day (the store's time zone); default 29 days before `to`.
    from: Option<NaiveDate>,
    /// Last day, included; default today. At most 1830 days after `from`.
    to: Option<NaiveDate>,
    /// `day` (default), `week` (Monday first) or `month`.
    by: Option<Period>,
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct TopQuery {
    /// `products`, `variants` or `customers`.
    kind: TopKind,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
    /// 1 to 100, default 10.
    #[param(minimum = 1, maximum = 100)]
    limit: Option<i64>,
}

async fn range(
    state: &AppState,
    tenant: &TenantContext,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
) -> Result<Range, PodError> {
    reports::range(&state.db, tenant.store_id, from, to).await
}

async fn sales_report(
    state: &AppState,
    tenant: &TenantContext,
    q: SalesQuery,
) -> Result<SalesReport, PodError> {
    let range = range(state, tenant, q.from, q.to).await?;
    reports::sales(
        &state.db,
        tenant.store_id,
        tenant.currency,
        range,
        q.by.unwrap_or_default(),
    )
    .await
}

/// Sales over time: a row per day, week or month of the range (zero when
/// nothing sold) and the totals. Orders count on the day they were placed;
/// money given back on the day it was given back (docs/reports.md).
#[utoipa::path(get, path = "/admin/api/reports/sales", tag = "reports",
    params(SalesQuery),
    responses((status = 200, body = SalesReport), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody)))]
async fn sales(
    State(state): State<AppState>,
    tenant: TenantContext,
    _: Staff,
    ApiQuery(q): ApiQuery<SalesQuery>,
) -> Result<Json<SalesReport>, PodError> {
    Ok(Json(sales_report(&state, &tenant, q).await?))
}

fn csv(name: &str, body: String) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}.csv\""),
            ),
        ],
        body,
    )
        .into_response()
}

/// The sales report as CSV (amounts in major units; a totals row last).
#[utoipa::path(get, path = "/admin/api/reports/sales.csv", tag = "reports",
    params(SalesQuery),
    responses((status = 200, content_type = "text/csv", body = String),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
async fn sales_csv(
    State(state): State<AppState>,
    tenant: TenantContext,
    _: Staff,
    ApiQuery(q): ApiQuery<SalesQuery>,
) -> Result<Response, PodError> {
    let report = sales_report(&state, &tenant, q).await?;
    let body = model::sales_csv(&report.periods, &report.totals, report.currency);
    Ok(csv(&format!("sales-{}-{}", report.from, report.to), body))
}

async fn top_report(
    state: &AppState,
    tenant: &TenantContext,
    q: TopQuery,
) -> Result<TopReport, PodError> {
    let limit = q.limit.unwrap_or(10);
    if !(1..=model::MAX_TOP).contains(&limit) {
        return Err(ApiError::invalid("limit must be 1 to 100").into());
    }
    let range = range(state, tenant, q.from, q.to).await?;
    reports::top(
        &state.db,
        tenant.store_id,
        tenant.currency,
        range,
        q.kind,
        limit,
    )
    .await
}

/// The best products, variants or customers of the range: by sales after
/// discounts (products, variants) or order totals (customers).
#[utoipa::path(get, path = "/admin/api/reports/top", tag = "reports",
    params(TopQuery),
    responses((status = 200, body = TopReport), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody)))]
async fn top(
    State(state): State<AppState>,
    tenant: TenantContext,
    _: Staff,
    ApiQuery(q): ApiQuery<TopQuery>,
) -> Result<Json<TopReport>, PodError> {
    Ok(Json(top_report(&state, &tenant, q).await?))
}

/// A top list as CSV.
#[utoipa::path(get, path = "/admin/api/reports/top.csv", tag = "reports",
    params(TopQuery),
    responses((status = 200, content_type = "text/csv", body = String),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
async fn top_csv(
    State(state): State<AppState>,
    tenant: TenantContext,
    _: Staff,
    ApiQuery(q): ApiQuery<TopQuery>,
) -> Result<Response, PodError> {
    let report = top_report(&state, &tenant, q).await?;
    let name = format!(
        "top-{}-{}-{}",
        serde_json::to_value(report.kind)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default(),
        report.from,
        report.to
    );
    Ok(csv(&name, reports::top_csv(&report)))
}

/// The store's time zone.
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct TimeZone {
    /// An IANA time zone name (`Europe/Paris`); `UTC` until set.
    #[schema(
        min_length = 1,
        max_length = 64,
        pattern = r"^[A-Za-z0-9_+/-]+$",
        example = "Europe/Paris"
    )]
    time_zone: String,
}

/// The store's time zone: the days of its reports.
#[utoipa::path(get, path = "/admin/api/settings/time-zone", tag = "reports",
    responses((status = 200, body = TimeZone), (status = 401, body = ErrorBody)))]
async fn get_time_zone(
    State(state): State<AppState>,
    tenant: TenantContext,
    _: Staff,
) -> Result<Json<TimeZone>, PodError> {
    Ok(Json(TimeZone {
        time_zone: reports::time_zone(&state.db, tenant.store_id).await?,
    }))
}

/// Sets the store's time zone (owner only). Every day of the reports is
/// counted again in the new zone, once.
#[utoipa::path(put, path = "/admin/api/settings/time-zone", tag = "reports",
    request_body = TimeZone,
    responses((status = 200, body = TimeZone), (status = 400, description = "not shaped like a time zone's name", body = ErrorBody),
        (status = 422, description = "a name Postgres does not know as a time zone", body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn put_time_zone(
    State(state): State<AppState>,
    tenant: TenantContext,
    _: Owner,
    ApiJson(req): ApiJson<TimeZone>,
) -> Result<Json<TimeZone>, PodError> {
    Ok(Json(TimeZone {
        time_zone: reports::set_time_zone(&state.db, tenant.store_id, &req.time_zone).await?,
    }))
}
