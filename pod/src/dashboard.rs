//! The store's dashboard, for every face (`GET /admin/api/dashboard`, the
//! admin's home page): sales, orders and average order value today and
//! over the last 30 days, a day-by-day series, and what waits for staff
//! (orders to ship, returns to decide, checkouts held for a risk review).
//!
//! Days are UTC days (stores have no time zone yet). Sales are the totals
//! of the orders placed (cancelled ones left out), refunds what has been
//! paid back of them; net is sales less refunds. The 30 days are read from
//! the orders of those days (index `orders_by_created`), not from a rollup.
//!
//! A pipeline above orders, returns and checkout; only the faces call it.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use mercato_tenants::{Currency, Money, StoreId};
use serde::Serialize;

use crate::error::PodError;
use crate::orders::OrderStatus;
use crate::state::AppState;

/// Days in the series.
pub const DAYS: i64 = 30;

/// One day's sales.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Day {
    #[schema(value_type = String, format = Date)]
    pub date: NaiveDate,
    pub orders: i64,
    pub sales: Money,
    pub refunded: Money,
}

/// Sales over a span of days.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Totals {
    pub orders: i64,
    pub sales: Money,
    pub refunded: Money,
    /// Sales less refunds.
    pub net: Money,
    /// Sales per order, rounded down; zero without orders.
    pub average_order: Money,
}

/// What waits for staff.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Waiting {
    /// Paid or partly shipped orders.
    pub to_ship: i64,
    /// Returns the shopper asked for, not decided yet.
    pub returns_to_decide: i64,
    /// Checkouts held for a risk review.
    pub risk_reviews: i64,
}

/// The dashboard.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Dashboard {
    #[schema(value_type = String, format = Date)]
    pub today: NaiveDate,
    pub today_totals: Totals,
    /// The last 30 days, today included.
    pub last_30_days: Totals,
    /// Each of the last 30 days, oldest first (days without orders too).
    pub days: Vec<Day>,
    pub waiting: Waiting,
}

/// The totals of `days`.
pub fn totals(days: &[Day], currency: Currency) -> Totals {
    let orders: i64 = days.iter().map(|d| d.orders).sum();
    let sales: i64 = days.iter().map(|d| d.sales.minor).sum();
    let refunded: i64 = days.iter().map(|d| d.refunded.minor).sum();
    Totals {
        orders,
        sales: Money::new(sales, currency),
        refunded: Money::new(refunded, currency),
        net: Money::new(sales - refunded, currency),
        average_order: Money::new(if orders > 0 { sales / orders } else { 0 }, currency),
    }
}

/// Every day of the [`DAYS`] ending `today`, oldest first, from the days
/// that had orders (`(date, orders, sales, refunded)`).
pub fn series(
    today: NaiveDate,
    with_orders: &[(NaiveDate, i64, i64, i64)],
    currency: Currency,
) -> Vec<Day> {
    (0..DAYS)
        .rev()
        .map(|back| {
            let date = today - Duration::days(back);
            let found = with_orders.iter().find(|(d, ..)| *d == date);
            let (orders, sales, refunded) = found.map_or((0, 0, 0), |(_, o, s, r)| (*o, *s, *r));
            Day {
                date,
                orders,
                sales: Money::new(sales, currency),
                refunded: Money::new(refunded, currency),
            }
        })
        .collect()
}

/// The dashboard of `store` at `now`.
pub async fn of_store(
    state: &AppState,
    store: StoreId,
    currency: Currency,
    now: DateTime<Utc>,
) -> Result<Dashboard, PodError> {
    let today = now.date_naive();
    let since = (today - Duration::days(DAYS - 1))
        .and_hms_opt(0, 0, 0)
        .map(|t| t.and_utc())
        .ok_or_else(|| PodError::internal("no midnight"))?;
    let mut conn = state.db.acquire().await?;
    let rows = crate::orders::daily_sales(&mut conn, store, since).await?;
    let to_ship = crate::orders::count_in(
        &mut conn,
        store,
        &[OrderStatus::Paid, OrderStatus::PartiallyFulfilled],
    )
    .await?;
    drop(conn);
    let returns_to_decide = crate::returns::count_requested(state, store).await?;
    let risk_reviews = crate::checkout::count_in_review(state, store).await?;
    let days = series(today, &rows, currency);
    Ok(Dashboard {
        today,
        today_totals: totals(&days[days.len() - 1..], currency),
        last_30_days: totals(&days, currency),
        days,
        waiting: Waiting {
            to_ship,
            returns_to_decide,
            risk_reviews,
        },
    })
}

/// The series as an SVG bar chart of sales per day (`width` × `height`
/// user units), each bar titled with its day and amount for screen
/// readers and hover. Only numbers and formatted money go into it.
pub fn chart_svg(days: &[Day], width: u32, height: u32) -> String {
    let max = days.iter().map(|d| d.sales.minor).max().unwrap_or(0).max(1);
    let n = days.len().max(1) as f64;
    let slot = f64::from(width) / n;
    let bar = (slot * 0.7).max(1.0);
    let plot = f64::from(height) - 4.0;
    let mut svg = format!(
        "<svg class=\"chart\" viewBox=\"0 0 {width} {height}\" role=\"img\" \
         aria-label=\"Sales per day, last {} days\" preserveAspectRatio=\"none\">",
        days.len()
    );
    for (i, d) in days.iter().enumerate() {
        let h = (d.sales.minor as f64 / max as f64 * plot).max(if d.sales.minor > 0 {
            1.0
        } else {
            0.0
        });
        let x = i as f64 * slot + (slot - bar) / 2.0;
        let y = f64::from(height) - h;
        svg.push_str(&format!(
            "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{bar:.1}\" height=\"{h:.1}\"><title>{}: {} ({} orders)</title></rect>",
            d.date.format("%b %-d"),
            mercato_tenants::text::escape_html(&mercato_tenants::money::format_money(d.sales)),
            d.orders
        ));
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 12, d).expect("date")
    }

    #[test]
    fn the_series_has_every_day_and_the_totals_add_up() {
        let usd = Currency::parse("USD").expect("usd");
        let rows = [(date(1), 2, 5000, 1000), (date(7), 1, 2500, 0)];
        let days = series(date(7), &rows, usd);
        assert_eq!(days.len(), 30);
        assert_eq!(days[29].date, date(7));
        assert_eq!(days[0].date, date(7) - Duration::days(29));
        assert_eq!(days[23].date, date(1));
        assert_eq!(days[23].orders, 2);
        assert_eq!(days.iter().filter(|d| d.orders == 0).count(), 28);
        let t = totals(&days, usd);
        assert_eq!(t.orders, 3);
        assert_eq!(t.sales.minor, 7500);
        assert_eq!(t.net.minor, 6500);
        assert_eq!(t.average_order.minor, 2500);
        let today = totals(&days[29..], usd);
        assert_eq!((today.orders, today.sales.minor), (1, 2500));
        let none = totals(&series(date(7), &[], usd), usd);
        assert_eq!((none.orders, none.average_order.minor), (0, 0));
    }

    #[test]
    fn the_chart_has_a_bar_per_day_scaled_to_the_best() {
        let usd = Currency::parse("USD").expect("usd");
        let days = series(date(7), &[(date(6), 1, 100, 0), (date(7), 2, 200, 0)], usd);
        let svg = chart_svg(&days, 300, 100);
        assert_eq!(svg.matches("<rect").count(), 30);
        assert!(
            svg.contains("height=\"96.0\""),
            "the best day fills the plot"
        );
        assert!(
            svg.contains("height=\"48.0\""),
            "half the sales, half the bar"
        );
        assert!(svg.contains("Dec 7: $2.00 (2 orders)"), "{svg}");
    }
}
