//! Merchant reports: sales over time by day, week or month in the store's
//! time zone, and the top products, variants and customers, each also as
//! CSV.
//!
//! The numbers come from rollups (`sales_daily`, `variant_sales_daily`,
//! `customer_sales_daily`) that database triggers keep in the same
//! transactions as the orders' own writes (migration
//! `20261229000034_reports.sql` says what a day counts), so a report
//! reads at most a row per day of its range and never scans the orders.
//! A change of the store's time zone counts every day again, once, in the
//! new zone ([`set_time_zone`]). The pure part (grouping, derived figures,
//! CSV) is [`model`].

pub mod model;

use chrono::NaiveDate;
use mercato_tenants::{ApiError, Currency, ProductId, StoreId, VariantId};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use uuid::Uuid;

use crate::error::PodError;
use crate::tenancy::begin_write;
use model::{Day, Figures, Period, PeriodFigures, Range};

/// The store's time zone (an IANA name; `UTC` until the owner sets one).
pub async fn time_zone(db: &PgPool, store: StoreId) -> Result<String, PodError> {
    let tz: Option<(String,)> =
        sqlx::query_as("SELECT time_zone FROM store_time_zones WHERE store_id = $1")
            .bind(store.as_uuid())
            .fetch_optional(db)
            .await?;
    Ok(tz.map_or_else(|| "UTC".to_owned(), |(t,)| t))
}

/// Sets the store's time zone and counts every day of its rollups again
/// in it, in one transaction: `400` for what cannot be a zone's name (1 to
/// 64 of `A-Z a-z 0-9 _ + - /`), `422` for a name Postgres does not know.
pub async fn set_time_zone(db: &PgPool, store: StoreId, raw: &str) -> Result<String, PodError> {
    let raw = raw.trim();
    let shaped = !raw.is_empty()
        && raw.len() <= 64
        && raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'+' | b'-' | b'/'));
    if !shaped {
        return Err(ApiError::invalid(
            "time_zone must be a time zone name such as Europe/Paris or America/New_York",
        )
        .into());
    }
    let known: Option<(String,)> =
        sqlx::query_as("SELECT name FROM pg_timezone_names WHERE name = $1")
            .bind(raw)
            .fetch_optional(db)
            .await?;
    let Some((name,)) = known else {
        return Err(ApiError::new(
            mercato_tenants::ErrorCode::Unprocessable,
            format!("{raw} is not a time zone we know; try a name such as Europe/Paris"),
        )
        .into());
    };
    let mut tx = begin_write(db, store).await?;
    sqlx::query(
        "INSERT INTO store_time_zones (store_id, time_zone) VALUES ($1, $2)
         ON CONFLICT (store_id) DO UPDATE SET time_zone = EXCLUDED.time_zone, updated_at = now()",
    )
    .bind(store.as_uuid())
    .bind(&name)
    .execute(&mut *tx)
    .await?;
    sqlx::query("SELECT report_rebuild($1)")
        .bind(store.as_uuid())
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(name)
}

/// Today in the store's time zone.
pub async fn today(db: &PgPool, store: StoreId) -> Result<NaiveDate, PodError> {
    let (day,): (NaiveDate,) = sqlx::query_as("SELECT report_day($1, now())")
        .bind(store.as_uuid())
        .fetch_one(db)
        .await?;
    Ok(day)
}

/// The range `from..=to` asked for, with the defaults: the 30 days that
/// end with `to`, `to` today in the store's zone. `400` for a range
/// [`Range::new`] refuses.
pub async fn range(
    db: &PgPool,
    store: StoreId,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
) -> Result<Range, PodError> {
    let range = match (from, to) {
        (Some(from), Some(to)) => Range::new(from, to),
        (None, Some(to)) => Ok(Range::last_30_days(to)),
        (Some(from), None) => Range::new(from, today(db, store).await?),
        (None, None) => Ok(Range::last_30_days(today(db, store).await?)),
    };
    range.map_err(|e| ApiError::invalid(e).into())
}

/// A sales report.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SalesReport {
    pub currency: Currency,
    /// The days are this zone's.
    pub time_zone: String,
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub by: Period,
    /// Every period of the range, oldest first (zero when nothing sold).
    pub periods: Vec<PeriodFigures>,
    pub totals: Figures,
}

type DayRow = (NaiveDate, i64, i64, i64, i64, i64, i64, i64, i64, i64);

/// Sales over `range` by `by`.
pub async fn sales(
    db: &PgPool,
    store: StoreId,
    currency: Currency,
    range: Range,
    by: Period,
) -> Result<SalesReport, PodError> {
    let rows: Vec<DayRow> = sqlx::query_as(
        "SELECT day, orders, units, gross_minor, discount_minor, shipping_minor, tax_minor,
                total_minor, refunded_minor, cancelled_minor
           FROM sales_daily WHERE store_id = $1 AND day BETWEEN $2 AND $3 ORDER BY day",
    )
    .bind(store.as_uuid())
    .bind(range.from)
    .bind(range.to)
    .fetch_all(db)
    .await?;
    let days: Vec<Day> = rows
        .into_iter()
        .map(|r| Day {
            day: r.0,
            orders: r.1,
            units: r.2,
            gross_minor: r.3,
            discount_minor: r.4,
            shipping_minor: r.5,
            tax_minor: r.6,
            total_minor: r.7,
            refunded_minor: r.8,
            cancelled_minor: r.9,
        })
        .collect();
    let (periods, totals) = model::group(&days, range, by);
    Ok(SalesReport {
        currency,
        time_zone: time_zone(db, store).await?,
        from: range.from,
        to: range.to,
        by,
        periods,
        totals,
    })
}

/// What a top list ranks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TopKind {
    Products,
    Variants,
    Customers,
}

/// One row of a top list.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TopRow {
    /// A product's or variant's id, or a customer's email (lower case).
    pub key: String,
    /// The product's title (with the variant's and its SKU for a
    /// variant), or the email; "(deleted)" for what is gone.
    pub name: String,
    /// Units (products and variants) or orders (customers).
    pub count: i64,
    /// Sales after discounts (products, variants) or order totals
    /// (customers), in minor units.
    pub amount_minor: i64,
}

/// A top list.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TopReport {
    pub currency: Currency,
    pub time_zone: String,
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub kind: TopKind,
    /// Best first (by amount, then count).
    pub rows: Vec<TopRow>,
}

/// The `limit` best of `kind` over `range`.
pub async fn top(
    db: &PgPool,
    store: StoreId,
    currency: Currency,
    range: Range,
    kind: TopKind,
    limit: i64,
) -> Result<TopReport, PodError> {
    let rows = match kind {
        TopKind::Customers => {
            let found: Vec<(String, i64, i64)> = sqlx::query_as(
                "SELECT email, sum(orders)::bigint, sum(total_minor)::bigint
                   FROM customer_sales_daily
                  WHERE store_id = $1 AND day BETWEEN $2 AND $3
                  GROUP BY email ORDER BY 3 DESC, 2 DESC, email LIMIT $4",
            )
            .bind(store.as_uuid())
            .bind(range.from)
            .bind(range.to)
            .bind(limit)
            .fetch_all(db)
            .await?;
            found
                .into_iter()
                .map(|(email, count, amount)| TopRow {
                    key: email.clone(),
                    name: email,
                    count,
                    amount_minor: amount,
                })
                .collect()
        }
        TopKind::Products | TopKind::Variants => {
            let (key, group) = if kind == TopKind::Products {
                ("product_id", "product_id")
            } else {
                ("variant_id", "variant_id, product_id")
            };
            // Whole months from the monthly rollup; the partial months'
            // days from the daily one, each edge its own index range.
            let (months_from, months_until) = range.whole_months();
            let (head_end, tail_start) = range.day_edges();
            let found: Vec<(Uuid, Uuid, i64, i64)> = sqlx::query_as(&format!(
                "WITH parts AS (
                     SELECT variant_id, product_id, units, gross_minor - discount_minor AS amount
                       FROM variant_sales_daily
                      WHERE store_id = $1 AND day >= $2 AND day < $4
                     UNION ALL
                     SELECT variant_id, product_id, units, gross_minor - discount_minor
                       FROM variant_sales_daily
                      WHERE store_id = $1 AND day >= $5 AND day <= $3
                     UNION ALL
                     SELECT variant_id, product_id, units, gross_minor - discount_minor
                       FROM variant_sales_monthly
                      WHERE store_id = $1 AND month >= $6 AND month < $7)
                 SELECT {key}, product_id, sum(units)::bigint, sum(amount)::bigint
                   FROM parts GROUP BY {group} ORDER BY 4 DESC, 3 DESC, {key} LIMIT $8"
            ))
            .bind(store.as_uuid())
            .bind(range.from)
            .bind(range.to)
            .bind(head_end)
            .bind(tail_start)
            .bind(months_from)
            .bind(months_until)
            .bind(limit)
            .fetch_all(db)
            .await?;
            let ids: Vec<ProductId> = found.iter().map(|r| ProductId::from_uuid(r.1)).collect();
            let products = crate::catalog::get_products(db, store, &ids, None).await?;
            found
                .into_iter()
                .map(|(id, product, count, amount)| {
                    let p = products.iter().find(|p| p.id.as_uuid() == product);
                    let name = match (kind, p) {
                        (_, None) => "(deleted)".to_owned(),
                        (TopKind::Products, Some(p)) => p.title.clone(),
                        (_, Some(p)) => {
                            let vid = VariantId::from_uuid(id);
                            match p.variants.iter().find(|v| v.id == vid) {
                                Some(v) if v.title.is_empty() => {
                                    format!("{} ({})", p.title, v.sku)
                                }
                                Some(v) => format!("{} – {} ({})", p.title, v.title, v.sku),
                                None => format!("{} (deleted variant)", p.title),
                            }
                        }
                    };
                    TopRow {
                        key: id.to_string(),
                        name,
                        count,
                        amount_minor: amount,
                    }
                })
                .collect()
        }
    };
    Ok(TopReport {
        currency,
        time_zone: time_zone(db, store).await?,
        from: range.from,
        to: range.to,
        kind,
        rows,
    })
}

/// A top list as CSV.
pub fn top_csv(report: &TopReport) -> String {
    let (count, amount) = match report.kind {
        TopKind::Customers => ("orders", "total_sales"),
        _ => ("units", "net_sales"),
    };
    let mut out = format!("key,name,{count},{amount}\n");
    for r in &report.rows {
        out.push_str(&format!(
            "{},{},{},{}\n",
            model::cell(&r.key),
            model::cell(&r.name),
            r.count,
            model::decimal(r.amount_minor, report.currency)
        ));
    }
    out
}
