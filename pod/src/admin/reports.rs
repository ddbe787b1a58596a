//! The admin's reports page: sales over a range by day, week or month in
//! the store's time zone, the top products and customers, and the CSV of
//! each (downloaded with the admin's session); the owner changes the time
//! zone here. The same functions as `/admin/api/reports/...`
//! (`crate::reports`).

use axum::extract::State;
use axum::http::header::{self, HeaderMap};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use chrono::NaiveDate;
use mercato_tenants::forms::{field, see_other};
use mercato_tenants::http::ApiQuery;
use mercato_tenants::{ApiError, Money};
use minijinja::context;
use minijinja::value::Value;
use serde::Serialize;

use super::pages::{error_page, html, render, sign_in_first};
use super::session::MaybeAdmin;
use crate::error::PodError;
use crate::reports::model::{self, Figures, Period, Range};
use crate::reports::{self, TopKind};
use crate::state::AppState;
use crate::tenancy::TenantContext;

pub const TEMPLATES: &[(&str, &str)] = &[("reports.html", include_str!("templates/reports.html"))];

pub fn routes(
    router: utoipa_axum::router::OpenApiRouter<AppState>,
) -> utoipa_axum::router::OpenApiRouter<AppState> {
    use axum::routing::{get, post};
    router
        .route("/admin/reports", get(page))
        .route("/admin/reports/sales.csv", get(sales_csv))
        .route("/admin/reports/top.csv", get(top_csv))
        .route("/admin/reports/time-zone", post(time_zone))
}

/// The range and grouping a page or a download asks for.
struct Asked {
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
    by: Period,
}

fn asked(pairs: &[(String, String)]) -> Result<Asked, ApiError> {
    let date = |name: &str| -> Result<Option<NaiveDate>, ApiError> {
        match field(pairs, name).filter(|v| !v.is_empty()) {
            None => Ok(None),
            Some(v) => v
                .parse()
                .map(Some)
                .map_err(|_| ApiError::invalid(format!("{name} must be a date (YYYY-MM-DD)"))),
        }
    };
    let by = match field(pairs, "by").unwrap_or("day") {
        "" | "day" => Period::Day,
        "week" => Period::Week,
        "month" => Period::Month,
        _ => return Err(ApiError::invalid("by must be day, week or month")),
    };
    Ok(Asked {
        from: date("from")?,
        to: date("to")?,
        by,
    })
}

async fn range_of(state: &AppState, tenant: &TenantContext, a: &Asked) -> Result<Range, PodError> {
    reports::range(&state.db, tenant.store_id, a.from, a.to).await
}

/// A period's figures with its money formatted by the `money` filter.
#[derive(Serialize)]
struct Shown {
    label: String,
    orders: i64,
    units: i64,
    gross: Money,
    discounts: Money,
    refunded: Money,
    cancelled: Money,
    net: Money,
    shipping: Money,
    tax: Money,
    average: Money,
}

fn shown(label: String, f: &Figures, currency: mercato_tenants::Currency) -> Shown {
    let m = |minor| Money::new(minor, currency);
    Shown {
        label,
        orders: f.orders,
        units: f.units,
        gross: m(f.gross_minor),
        discounts: m(f.discount_minor),
        refunded: m(f.refunded_minor),
        cancelled: m(f.cancelled_minor),
        net: m(f.net_minor),
        shipping: m(f.shipping_minor),
        tax: m(f.tax_minor),
        average: m(f.average_order_minor),
    }
}

/// `GET /admin/reports[?from=&to=&by=]`.
async fn page(
    State(state): State<AppState>,
    tenant: TenantContext,
    MaybeAdmin(session): MaybeAdmin,
    ApiQuery(pairs): ApiQuery<Vec<(String, String)>>,
) -> Response {
    let Some(session) = session else {
        return sign_in_first("/admin/reports");
    };
    let result = async {
        let a = asked(&pairs)?;
        let range = range_of(&state, &tenant, &a).await?;
        let store = tenant.store_id;
        let sales = reports::sales(&state.db, store, tenant.currency, range, a.by).await?;
        let products =
            reports::top(&state.db, store, tenant.currency, range, TopKind::Products, 5).await?;
        let customers =
            reports::top(&state.db, store, tenant.currency, range, TopKind::Customers, 5).await?;
        let money = |minor| Money::new(minor, tenant.currency);
        let periods: Vec<Shown> = sales
            .periods
            .iter()
            .map(|p| shown(p.start.to_string(), &p.figures, tenant.currency))
            .collect();
        let top = |rows: &[reports::TopRow]| -> Vec<Value> {
            rows.iter()
                .map(|r| {
                    context! { name => r.name.clone(), count => r.count,
                               amount => Value::from_serialize(money(r.amount_minor)) }
                })
                .collect()
        };
        let by = match a.by {
            Period::Day => "day",
            Period::Week => "week",
            Period::Month => "month",
        };
        let query = format!("from={}&to={}&by={by}", range.from, range.to);
        let body = render(
            &tenant,
            Some(&session),
            "reports.html",
            "Reports",
            context! {
                nav => "reports",
                from => range.from.to_string(),
                to => range.to.to_string(),
                by,
                time_zone => sales.time_zone.clone(),
                totals => Value::from_serialize(shown("Total".to_owned(), &sales.totals, tenant.currency)),
                periods => Value::from_serialize(&periods),
                products => top(&products.rows),
                customers => top(&customers.rows),
                query,
                owner => session.is_owner(),
                saved => field(&pairs, "saved").is_some(),
            },
        )?;
        Ok::<_, PodError>(html(StatusCode::OK, body))
    }
    .await;
    result.unwrap_or_else(|e| error_page(&tenant, e))
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

/// `GET /admin/reports/sales.csv?from=&to=&by=`.
async fn sales_csv(
    State(state): State<AppState>,
    tenant: TenantContext,
    MaybeAdmin(session): MaybeAdmin,
    ApiQuery(pairs): ApiQuery<Vec<(String, String)>>,
) -> Response {
    if session.is_none() {
        return sign_in_first("/admin/reports");
    }
    let result = async {
        let a = asked(&pairs)?;
        let range = range_of(&state, &tenant, &a).await?;
        let r = reports::sales(&state.db, tenant.store_id, tenant.currency, range, a.by).await?;
        let body = model::sales_csv(&r.periods, &r.totals, r.currency);
        Ok::<_, PodError>(csv(&format!("sales-{}-{}", r.from, r.to), body))
    }
    .await;
    result.unwrap_or_else(|e| error_page(&tenant, e))
}

/// `GET /admin/reports/top.csv?kind=&from=&to=`: the 100 best.
async fn top_csv(
    State(state): State<AppState>,
    tenant: TenantContext,
    MaybeAdmin(session): MaybeAdmin,
    ApiQuery(pairs): ApiQuery<Vec<(String, String)>>,
) -> Response {
    if session.is_none() {
        return sign_in_first("/admin/reports");
    }
    let result = async {
        let kind = match field(&pairs, "kind").unwrap_or_default() {
            "products" => TopKind::Products,
            "variants" => TopKind::Variants,
            "customers" => TopKind::Customers,
            _ => {
                return Err(
                    ApiError::invalid("kind must be products, variants or customers").into(),
                )
            }
        };
        let a = asked(&pairs)?;
        let range = range_of(&state, &tenant, &a).await?;
        let r = reports::top(
            &state.db,
            tenant.store_id,
            tenant.currency,
            range,
            kind,
            model::MAX_TOP,
        )
        .await?;
        let name = format!(
            "top-{}-{}-{}",
            field(&pairs, "kind").unwrap_or_default(),
            r.from,
            r.to
        );
        Ok::<_, PodError>(csv(&name, reports::top_csv(&r)))
    }
    .await;
    result.unwrap_or_else(|e| error_page(&tenant, e))
}

/// `POST /admin/reports/time-zone` (`time_zone`): the owner's only.
async fn time_zone(
    State(state): State<AppState>,
    tenant: TenantContext,
    MaybeAdmin(session): MaybeAdmin,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(session) = session else {
        return sign_in_first("/admin/reports");
    };
    let result = async {
        let fields = session.form(&headers, &body)?;
        if !session.is_owner() {
            return Err(PodError::from(ApiError::new(
                mercato_tenants::ErrorCode::Forbidden,
                "only the store's owner changes its time zone",
            )));
        }
        let tz = field(&fields, "time_zone").unwrap_or_default();
        reports::set_time_zone(&state.db, tenant.store_id, tz).await?;
        Ok(see_other("/admin/reports?saved=1"))
    }
    .await;
    result.unwrap_or_else(|e| error_page(&tenant, e))
}
