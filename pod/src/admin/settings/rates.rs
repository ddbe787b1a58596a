//! The shipping and tax rate tables, each shown as a table of inputs and
//! sent as a whole (blank rows to fill, a "remove" box per row: no script
//! needed), replaced through `checkout::put_shipping_rates` and
//! `put_tax_rates` as `PUT /admin/api/shipping-rates` and
//! `/admin/api/tax-rates` do, with their checks; any staff member may, as
//! there.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use bytes::Bytes;
use mercato_tenants::forms::see_other;
use mercato_tenants::http::ApiQuery;
use mercato_tenants::Currency;
use minijinja::context;
use minijinja::value::Value;
use serde::Serialize;

use super::super::pages::{error_page, html, render, sign_in_first};
use super::super::products::{amount_input, parse_amount};
use super::super::session::{AdminSession, MaybeAdmin};
use super::{notice, refusal, table_form, unreadable};
use crate::checkout::rates::{ShippingRate, TaxRate};
use crate::error::PodError;
use crate::state::AppState;
use crate::tenancy::TenantContext;

const SHIPPING: &str = "/admin/settings/shipping";
const TAXES: &str = "/admin/settings/taxes";

/// Blank rows a table offers to fill.
const BLANK_ROWS: usize = 3;

/// The rows of a posted table: its fields named `<key>_<row>`, by row,
/// each value trimmed. Other fields (`csrf`) are not rows'.
fn posted_rows(fields: &[(String, String)]) -> BTreeMap<usize, BTreeMap<String, String>> {
    let mut rows: BTreeMap<usize, BTreeMap<String, String>> = BTreeMap::new();
    for (name, value) in fields {
        let Some((key, row)) = name.rsplit_once('_') else {
            continue;
        };
        let Ok(row) = row.parse::<usize>() else {
            continue;
        };
        rows.entry(row)
            .or_default()
            .insert(key.to_owned(), value.trim().to_owned());
    }
    rows
}

/// A row's value for `key` (empty when not sent).
fn cell(row: &BTreeMap<String, String>, key: &str) -> String {
    row.get(key).cloned().unwrap_or_default()
}

/// `rows` with blank rows after them, [`BLANK_ROWS`] blank in all.
fn with_blanks<R: Default>(mut rows: Vec<R>, blank: impl Fn(&R) -> bool) -> Vec<R> {
    let blanks = rows.iter().filter(|r| blank(r)).count();
    rows.extend((blanks..BLANK_ROWS).map(|_| R::default()));
    rows
}

/// A shipping rate's row as typed (or as the rate stands).
#[derive(Serialize, Default)]
struct ShippingRow {
    code: String,
    name: String,
    price: String,
    free_over: String,
    countries: String,
    remove: bool,
}

impl ShippingRow {
    fn of(rate: &ShippingRate, currency: Currency) -> Self {
        Self {
            code: rate.code.clone(),
            name: rate.name.clone(),
            price: amount_input(rate.price_minor, currency),
            free_over: rate
                .free_over_minor
                .map(|m| amount_input(m, currency))
                .unwrap_or_default(),
            countries: rate.countries.join(", "),
            remove: false,
        }
    }

    fn posted(row: &BTreeMap<String, String>) -> Self {
        Self {
            code: cell(row, "code"),
            name: cell(row, "name"),
            price: cell(row, "price"),
            free_over: cell(row, "free_over"),
            countries: cell(row, "countries"),
            remove: row.contains_key("remove"),
        }
    }

    fn is_blank(&self) -> bool {
        [
            &self.code,
            &self.name,
            &self.price,
            &self.free_over,
            &self.countries,
        ]
        .iter()
        .all(|v| v.is_empty())
    }

    /// The rate this row describes (row `n`, counted from 1), or what in
    /// it is not a number, in words.
    fn rate(&self, n: usize, currency: Currency) -> Result<ShippingRate, String> {
        let price = parse_amount(&self.price, currency)
            .ok_or_else(|| format!("Rate {n}: enter the price as a number, such as 5.00."))?;
        let free_over_minor = match self.free_over.as_str() {
            "" => None,
            raw => Some(parse_amount(raw, currency).ok_or_else(|| {
                format!(
                    "Rate {n}: enter the amount it is free from as a number, or leave it empty."
                )
            })?),
        };
        Ok(ShippingRate {
            code: self.code.clone(),
            name: self.name.clone(),
            price_minor: price,
            free_over_minor,
            countries: self
                .countries
                .split([',', ' '])
                .filter(|c| !c.is_empty())
                .map(str::to_owned)
                .collect(),
        })
    }
}

async fn shipping_page(
    state: &AppState,
    tenant: &TenantContext,
    session: &AdminSession,
    status: StatusCode,
    notice: Option<String>,
    problem: Option<String>,
    typed: Option<Vec<ShippingRow>>,
) -> Result<Response, PodError> {
    let rows = match typed {
        Some(rows) => rows,
        None => {
            let (rates, _) = crate::checkout::rates(&state.db, tenant.store_id).await?;
            rates
                .iter()
                .map(|r| ShippingRow::of(r, tenant.currency))
                .collect()
        }
    };
    let rows = with_blanks(rows, ShippingRow::is_blank);
    let body = render(
        tenant,
        Some(session),
        "settings_shipping.html",
        "Shipping rates",
        context! {
            nav => "settings",
            rows => Value::from_serialize(&rows),
            currency => tenant.currency.as_str().to_owned(),
            notice,
            problem,
        },
    )?;
    Ok(html(status, body))
}

/// `GET /admin/settings/shipping`.
pub async fn shipping(
    State(state): State<AppState>,
    tenant: TenantContext,
    MaybeAdmin(session): MaybeAdmin,
    ApiQuery(pairs): ApiQuery<Vec<(String, String)>>,
) -> Response {
    let Some(session) = session else {
        return sign_in_first(SHIPPING);
    };
    let notice = notice(&pairs, &[("saved", "The shipping rates were saved.")]);
    shipping_page(
        &state,
        &tenant,
        &session,
        StatusCode::OK,
        notice,
        None,
        None,
    )
    .await
    .unwrap_or_else(|e| error_page(&tenant, e))
}

/// `POST /admin/settings/shipping` (`code_<n>`, `name_<n>`, `price_<n>`,
/// `free_over_<n>`, `countries_<n>`, `remove_<n>`): the whole table, as
/// `PUT /admin/api/shipping-rates`. Blank rows and rows to remove are left
/// out; an empty table is the built-in free standard shipping.
pub async fn save_shipping(
    State(state): State<AppState>,
    tenant: TenantContext,
    MaybeAdmin(session): MaybeAdmin,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(session) = session else {
        return sign_in_first(SHIPPING);
    };
    let result = async {
        let fields = table_form(&session, &headers, &body)?;
        let typed: Vec<ShippingRow> = posted_rows(&fields)
            .values()
            .map(ShippingRow::posted)
            .collect();
        let kept: Result<Vec<ShippingRate>, String> = typed
            .iter()
            .enumerate()
            .filter(|(_, r)| !r.remove && !r.is_blank())
            .map(|(i, r)| r.rate(i + 1, tenant.currency))
            .collect();
        let (status, problem) = match kept {
            Err(problem) => unreadable(problem),
            Ok(rates) => {
                match crate::checkout::put_shipping_rates(&state.db, tenant.store_id, rates).await {
                    Ok(_) => return Ok(see_other(&format!("{SHIPPING}?done=saved"))),
                    Err(e) => refusal(e)?,
                }
            }
        };
        shipping_page(
            &state,
            &tenant,
            &session,
            status,
            None,
            Some(problem),
            Some(typed),
        )
        .await
    }
    .await;
    result.unwrap_or_else(|e| error_page(&tenant, e))
}

/// A tax rate's row as typed (or as the rate stands).
#[derive(Serialize, Default)]
struct TaxRow {
    country: String,
    region: String,
    /// A percentage (`8.25`).
    rate: String,
    name: String,
    remove: bool,
}

/// Basis points as a percentage (`825` is `8.25`).
fn percent(bp: i32) -> String {
    match (bp / 100, bp % 100) {
        (whole, 0) => whole.to_string(),
        (whole, part) if part % 10 == 0 => format!("{whole}.{}", part / 10),
        (whole, part) => format!("{whole}.{part:02}"),
    }
}

/// A percentage with at most two decimals (`8.25`, `20`) in basis points.
fn basis_points(raw: &str) -> Option<i32> {
    let raw = raw.trim().trim_end_matches('%').trim_end();
    let (whole, fraction) = raw.split_once('.').unwrap_or((raw, ""));
    if whole.is_empty()
        || whole.len() > 6
        || fraction.len() > 2
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || !fraction.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let fraction: i32 = format!("{fraction:0<2}").parse().ok()?;
    whole
        .parse::<i32>()
        .ok()?
        .checked_mul(100)?
        .checked_add(fraction)
}

impl TaxRow {
    fn of(rate: &TaxRate) -> Self {
        Self {
            country: rate.country.clone(),
            region: rate.region.clone(),
            rate: percent(rate.rate_bp),
            name: rate.name.clone(),
            remove: false,
        }
    }

    fn posted(row: &BTreeMap<String, String>) -> Self {
        Self {
            country: cell(row, "country"),
            region: cell(row, "region"),
            rate: cell(row, "rate"),
            name: cell(row, "name"),
            remove: row.contains_key("remove"),
        }
    }

    fn is_blank(&self) -> bool {
        [&self.country, &self.region, &self.rate, &self.name]
            .iter()
            .all(|v| v.is_empty())
    }

    /// The rate this row describes (row `n`, counted from 1; a blank name
    /// is the API's default, `Tax`), or what in it is not a percentage.
    fn rate(&self, n: usize) -> Result<TaxRate, String> {
        let rate_bp = basis_points(&self.rate)
            .filter(|bp| *bp <= 10_000)
            .ok_or_else(|| {
                format!("Rate {n}: enter a percentage from 0 to 100 with at most two decimals, such as 8.25.")
            })?;
        Ok(TaxRate {
            country: self.country.clone(),
            region: self.region.clone(),
            rate_bp,
            name: if self.name.is_empty() {
                "Tax".to_owned()
            } else {
                self.name.clone()
            },
        })
    }
}

async fn taxes_page(
    state: &AppState,
    tenant: &TenantContext,
    session: &AdminSession,
    status: StatusCode,
    notice: Option<String>,
    problem: Option<String>,
    typed: Option<Vec<TaxRow>>,
) -> Result<Response, PodError> {
    let rows = match typed {
        Some(rows) => rows,
        None => {
            let (_, rates) = crate::checkout::rates(&state.db, tenant.store_id).await?;
            rates.iter().map(TaxRow::of).collect()
        }
    };
    let rows = with_blanks(rows, TaxRow::is_blank);
    let body = render(
        tenant,
        Some(session),
        "settings_taxes.html",
        "Tax rates",
        context! {
            nav => "settings",
            rows => Value::from_serialize(&rows),
            notice,
            problem,
        },
    )?;
    Ok(html(status, body))
}

/// `GET /admin/settings/taxes`.
pub async fn taxes(
    State(state): State<AppState>,
    tenant: TenantContext,
    MaybeAdmin(session): MaybeAdmin,
    ApiQuery(pairs): ApiQuery<Vec<(String, String)>>,
) -> Response {
    let Some(session) = session else {
        return sign_in_first(TAXES);
    };
    let notice = notice(&pairs, &[("saved", "The tax rates were saved.")]);
    taxes_page(
        &state,
        &tenant,
        &session,
        StatusCode::OK,
        notice,
        None,
        None,
    )
    .await
    .unwrap_or_else(|e| error_page(&tenant, e))
}

/// `POST /admin/settings/taxes` (`country_<n>`, `region_<n>`, `rate_<n>`
/// as a percentage, `name_<n>`, `remove_<n>`): the whole table, as `PUT
/// /admin/api/tax-rates`. Blank rows and rows to remove are left out.
pub async fn save_taxes(
    State(state): State<AppState>,
    tenant: TenantContext,
    MaybeAdmin(session): MaybeAdmin,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(session) = session else {
        return sign_in_first(TAXES);
    };
    let result = async {
        let fields = table_form(&session, &headers, &body)?;
        let typed: Vec<TaxRow> = posted_rows(&fields).values().map(TaxRow::posted).collect();
        let kept: Result<Vec<TaxRate>, String> = typed
            .iter()
            .enumerate()
            .filter(|(_, r)| !r.remove && !r.is_blank())
            .map(|(i, r)| r.rate(i + 1))
            .collect();
        let (status, problem) = match kept {
            Err(problem) => unreadable(problem),
            Ok(rates) => {
                match crate::checkout::put_tax_rates(&state.db, tenant.store_id, rates).await {
                    Ok(_) => return Ok(see_other(&format!("{TAXES}?done=saved"))),
                    Err(e) => refusal(e)?,
                }
            }
        };
        taxes_page(
            &state,
            &tenant,
            &session,
            status,
            None,
            Some(problem),
            Some(typed),
        )
        .await
    }
    .await;
    result.unwrap_or_else(|e| error_page(&tenant, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages_and_basis_points_go_both_ways() {
        for (bp, shown) in [
            (825, "8.25"),
            (2000, "20"),
            (50, "0.5"),
            (0, "0"),
            (10_000, "100"),
        ] {
            assert_eq!(percent(bp), shown);
            assert_eq!(basis_points(shown), Some(bp), "{shown}");
        }
        assert_eq!(basis_points("7.5 %"), Some(750));
        for bad in ["", ".5", "8.255", "-1", "1e2", "eight", "8,25"] {
            assert_eq!(basis_points(bad), None, "{bad}");
        }
    }

    #[test]
    fn rows_are_read_by_their_number_and_blank_ones_offered() {
        let fields: Vec<(String, String)> = [
            ("csrf", "x"),
            ("code_1", " b "),
            ("free_over_1", "10"),
            ("code_0", "a"),
            ("remove_0", "yes"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        let rows: Vec<ShippingRow> = posted_rows(&fields)
            .values()
            .map(ShippingRow::posted)
            .collect();
        assert_eq!(rows.len(), 2);
        assert!(rows[0].remove && rows[0].code == "a");
        assert_eq!(
            (rows[1].code.as_str(), rows[1].free_over.as_str()),
            ("b", "10")
        );
        assert_eq!(
            with_blanks(rows, ShippingRow::is_blank).len(),
            2 + BLANK_ROWS
        );
    }
}
