//! The reports' pure part: a range of days grouped by day, week or month,
//! the figures derived from the rollups (net sales, average order value),
//! and the CSV of each report. No I/O.

use chrono::{Datelike, Duration, NaiveDate};
use mercato_tenants::Currency;
use serde::{Deserialize, Serialize};

/// Longest range a report covers, in days (five years).
pub const MAX_DAYS: i64 = 1830;

/// Most rows of a top list.
pub const MAX_TOP: i64 = 100;

/// How a sales report groups its days.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Period {
    #[default]
    Day,
    /// ISO weeks, Monday first.
    Week,
    Month,
}

impl Period {
    /// The first day of the period `day` is in.
    pub fn start(self, day: NaiveDate) -> NaiveDate {
        match self {
            Self::Day => day,
            Self::Week => day - Duration::days(i64::from(day.weekday().num_days_from_monday())),
            Self::Month => day.with_day(1).unwrap_or(day),
        }
    }
}

/// A checked range of store-local days, both ends included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    pub from: NaiveDate,
    pub to: NaiveDate,
}

impl Range {
    /// `from..=to`, or why not: in order and at most [`MAX_DAYS`] long.
    pub fn new(from: NaiveDate, to: NaiveDate) -> Result<Self, String> {
        if from > to {
            return Err("from must not be after to".to_owned());
        }
        if (to - from).num_days() + 1 > MAX_DAYS {
            return Err(format!("a report covers at most {MAX_DAYS} days"));
        }
        Ok(Self { from, to })
    }

    /// The whole calendar months inside the range, as `[start, end)`: the
    /// first day of the first whole month and the day after the last
    /// whole month. `start >= end` when there is none. The days before
    /// `start` and from `end` on are the range's partial months.
    pub fn whole_months(&self) -> (NaiveDate, NaiveDate) {
        let start = if self.from.day() == 1 {
            self.from
        } else {
            next_month(self.from)
        };
        let after = self.to + Duration::days(1);
        let end = if after.day() == 1 {
            after
        } else {
            Period::Month.start(self.to)
        };
        (start, end)
    }

    /// Where the days read apart from [`Self::whole_months`] end and start
    /// again: the range's days are `from..head_end` and `tail_start..=to`.
    /// Without a whole month, the head is the whole range and the tail is
    /// empty.
    pub fn day_edges(&self) -> (NaiveDate, NaiveDate) {
        let (start, end) = self.whole_months();
        if start < end {
            (start, end)
        } else {
            let after = self.to + Duration::days(1);
            (after, after)
        }
    }

    /// The 30 days that end with `today`.
    pub fn last_30_days(today: NaiveDate) -> Self {
        Self {
            from: today - Duration::days(29),
            to: today,
        }
    }
}

/// The first day of the month after `day`'s.
fn next_month(day: NaiveDate) -> NaiveDate {
    let first = Period::Month.start(day);
    first
        .checked_add_months(chrono::Months::new(1))
        .unwrap_or(first)
}

/// One day of `sales_daily`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Day {
    pub day: NaiveDate,
    pub orders: i64,
    pub units: i64,
    pub gross_minor: i64,
    pub discount_minor: i64,
    pub shipping_minor: i64,
    pub tax_minor: i64,
    pub total_minor: i64,
    pub refunded_minor: i64,
    pub cancelled_minor: i64,
}

/// A period's figures (amounts in the store currency's minor units).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Figures {
    /// Orders placed.
    pub orders: i64,
    /// Units in those orders.
    pub units: i64,
    /// Their lines at their prices, before discounts.
    pub gross_minor: i64,
    pub discount_minor: i64,
    pub shipping_minor: i64,
    pub tax_minor: i64,
    /// What the orders placed came to: gross − discounts + shipping + tax.
    pub total_minor: i64,
    /// Money given back in the period (returns, refunds, cancellations
    /// after payment), whenever its orders were placed.
    pub refunded_minor: i64,
    /// Totals of orders cancelled in the period before any money was taken.
    pub cancelled_minor: i64,
    /// total − refunded − cancelled.
    pub net_minor: i64,
    /// (gross − discounts) ÷ orders, rounded down; 0 without orders.
    pub average_order_minor: i64,
}

impl Figures {
    fn add(&mut self, d: &Day) {
        self.orders += d.orders;
        self.units += d.units;
        self.gross_minor += d.gross_minor;
        self.discount_minor += d.discount_minor;
        self.shipping_minor += d.shipping_minor;
        self.tax_minor += d.tax_minor;
        self.total_minor += d.total_minor;
        self.refunded_minor += d.refunded_minor;
        self.cancelled_minor += d.cancelled_minor;
        self.derive();
    }

    fn derive(&mut self) {
        self.net_minor = self.total_minor - self.refunded_minor - self.cancelled_minor;
        self.average_order_minor = if self.orders > 0 {
            (self.gross_minor - self.discount_minor).div_euclid(self.orders)
        } else {
            0
        };
    }
}

/// One period of a sales report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct PeriodFigures {
    /// Its first day within the report's range (store-local).
    pub start: NaiveDate,
    #[serde(flatten)]
    pub figures: Figures,
}

/// Every period of `range` by `by` (periods without sales included, at
/// zero), and the totals, from the days with sales (any order).
pub fn group(days: &[Day], range: Range, by: Period) -> (Vec<PeriodFigures>, Figures) {
    let mut periods: Vec<PeriodFigures> = Vec::new();
    let mut day = range.from;
    while day <= range.to {
        let start = by.start(day).max(range.from);
        if periods.last().map(|p| p.start) != Some(start) {
            periods.push(PeriodFigures {
                start,
                figures: Figures::default(),
            });
        }
        day += Duration::days(1);
    }
    let mut totals = Figures::default();
    for d in days
        .iter()
        .filter(|d| d.day >= range.from && d.day <= range.to)
    {
        let start = by.start(d.day).max(range.from);
        if let Ok(i) = periods.binary_search_by(|p| p.start.cmp(&start)) {
            periods[i].figures.add(d);
        }
        totals.add(d);
    }
    (periods, totals)
}

/// `minor` in the currency's major units, as a CSV cell (`-12.30`).
pub fn decimal(minor: i64, currency: Currency) -> String {
    let exp = currency.exponent();
    if exp == 0 {
        return minor.to_string();
    }
    let scale = 10i64.pow(exp);
    let sign = if minor < 0 { "-" } else { "" };
    let abs = minor.unsigned_abs();
    format!(
        "{sign}{}.{:0width$}",
        abs / scale as u64,
        abs % scale as u64,
        width = exp as usize
    )
}

/// A CSV cell: quoted when it holds a comma, a quote or a line break; a
/// leading `=`, `+`, `-` or `@` of a text cell is prefixed with `'` so a
/// spreadsheet never runs it as a formula.
pub fn cell(text: &str) -> String {
    let text = match text.chars().next() {
        Some('=' | '+' | '-' | '@') => format!("'{text}"),
        _ => text.to_owned(),
    };
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text
    }
}

/// The sales report as CSV: a header, a row per period, a totals row.
pub fn sales_csv(periods: &[PeriodFigures], totals: &Figures, currency: Currency) -> String {
    let mut out = String::from(
        "period_start,orders,units,gross_sales,discounts,returns_and_refunds,cancelled,net_sales,shipping,tax,total_sales,average_order_value\n",
    );
    let row = |out: &mut String, label: &str, f: &Figures| {
        let money = |m: i64| decimal(m, currency);
        out.push_str(&format!(
            "{label},{},{},{},{},{},{},{},{},{},{},{}\n",
            f.orders,
            f.units,
            money(f.gross_minor),
            money(f.discount_minor),
            money(f.refunded_minor),
            money(f.cancelled_minor),
            money(f.net_minor),
            money(f.shipping_minor),
            money(f.tax_minor),
            money(f.total_minor),
            money(f.average_order_minor),
        ));
    };
    for p in periods {
        row(&mut out, &p.start.to_string(), &p.figures);
    }
    row(&mut out, "total", totals);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().expect("date")
    }

    fn day(s: &str, orders: i64, gross: i64, refunded: i64) -> Day {
        Day {
            day: d(s),
            orders,
            units: orders,
            gross_minor: gross,
            total_minor: gross,
            refunded_minor: refunded,
            ..Day::default()
        }
    }

    #[test]
    fn weeks_start_on_monday_and_months_on_the_first() {
        assert_eq!(Period::Week.start(d("2026-12-06")), d("2026-11-30"));
        assert_eq!(Period::Week.start(d("2026-11-30")), d("2026-11-30"));
        assert_eq!(Period::Month.start(d("2026-12-31")), d("2026-12-01"));
        assert_eq!(Period::Day.start(d("2026-12-31")), d("2026-12-31"));
    }

    #[test]
    fn every_period_is_listed_and_the_totals_add_up() {
        let range = Range::new(d("2026-11-28"), d("2026-12-08")).expect("range");
        let days = [
            day("2026-11-27", 9, 900, 0), // before the range
            day("2026-11-28", 1, 1000, 0),
            day("2026-12-01", 2, 3001, 500),
            day("2026-12-08", 1, 100, 0),
        ];
        let (weeks, totals) = group(&days, range, Period::Week);
        let starts: Vec<String> = weeks.iter().map(|w| w.start.to_string()).collect();
        assert_eq!(starts, ["2026-11-28", "2026-11-30", "2026-12-07"]);
        assert_eq!(weeks[0].figures.orders, 1);
        assert_eq!(weeks[1].figures.net_minor, 2501);
        assert_eq!(weeks[1].figures.average_order_minor, 1500);
        assert_eq!(totals.orders, 4);
        assert_eq!(totals.net_minor, 4101 - 500);
        let (by_day, _) = group(&days, range, Period::Day);
        assert_eq!(by_day.len(), 11);
        assert_eq!(by_day.iter().map(|p| p.figures.orders).sum::<i64>(), 4);
        let (months, _) = group(&days, range, Period::Month);
        assert_eq!(months.len(), 2);
    }

    #[test]
    fn whole_months_leave_the_partial_ones_to_the_days() {
        let r = |a: &str, b: &str| Range::new(d(a), d(b)).expect("range");
        let months = |a: &str, b: &str| {
            let (s, e) = r(a, b).whole_months();
            (s.to_string(), e.to_string())
        };
        assert_eq!(
            months("2025-12-09", "2026-12-08"),
            ("2026-01-01".into(), "2026-12-01".into())
        );
        assert_eq!(
            months("2026-01-01", "2026-03-31"),
            ("2026-01-01".into(), "2026-04-01".into())
        );
        assert_eq!(
            months("2026-12-31", "2027-01-01"),
            ("2027-01-01".into(), "2027-01-01".into())
        );
        // Inside one month: none whole, every day in the head.
        let (s, e) = r("2026-02-03", "2026-02-20").whole_months();
        assert!(s >= e);
        let (head_end, tail_start) = r("2026-02-03", "2026-02-20").day_edges();
        assert_eq!((head_end, tail_start), (d("2026-02-21"), d("2026-02-21")));
        assert_eq!(
            r("2025-12-09", "2026-12-08").day_edges(),
            (d("2026-01-01"), d("2026-12-01"))
        );
    }

    #[test]
    fn ranges_are_in_order_and_bounded() {
        assert!(Range::new(d("2026-12-02"), d("2026-12-01")).is_err());
        assert!(Range::new(d("2020-01-01"), d("2024-12-31")).is_ok());
        assert!(Range::new(d("2020-01-01"), d("2025-01-06")).is_err());
    }

    #[test]
    fn money_cells_and_text_cells() {
        assert_eq!(decimal(-1230, Currency::USD), "-12.30");
        assert_eq!(decimal(5, Currency::USD), "0.05");
        assert_eq!(cell("a,b"), "\"a,b\"");
        assert_eq!(cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(cell("=HYPERLINK(1)"), "'=HYPERLINK(1)");
        assert_eq!(cell("plain"), "plain");
    }

    #[test]
    fn the_csv_has_a_row_per_period_and_a_total() {
        let range = Range::new(d("2026-12-01"), d("2026-12-02")).expect("range");
        let (rows, totals) = group(&[day("2026-12-02", 2, 2000, 0)], range, Period::Day);
        let csv = sales_csv(&rows, &totals, Currency::USD);
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines.len(), 4);
        assert!(lines[2].starts_with("2026-12-02,2,2,20.00,"));
        assert!(lines[3].starts_with("total,2,"));
    }
}
