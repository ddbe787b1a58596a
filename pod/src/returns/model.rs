//! The rules of returns (pure, no I/O): the lifecycle, which units a
//! shopper may still send back, and what a return refunds.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

/// A return's lifecycle:
///
/// ```text
/// requested --approve--> approved --receive--> received --> completed
///     |  \--reject--> rejected                      \--> refund_failed
///     \--cancel (the shopper)--> cancelled
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReturnStatus {
    Requested,
    Approved,
    Rejected,
    Cancelled,
    Received,
    Completed,
    RefundFailed,
}

impl ReturnStatus {
    pub const ALL: [ReturnStatus; 7] = [
        Self::Requested,
        Self::Approved,
        Self::Rejected,
        Self::Cancelled,
        Self::Received,
        Self::Completed,
        Self::RefundFailed,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Requested => "requested",
            Self::Approved => "approved",
            Self::Rejected => "rejected",
            Self::Cancelled => "cancelled",
            Self::Received => "received",
            Self::Completed => "completed",
            Self::RefundFailed => "refund_failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }

    /// Whether its units still count as returned (or on their way back):
    /// they cannot be returned again.
    pub const fn holds_units(self) -> bool {
        !matches!(self, Self::Rejected | Self::Cancelled)
    }
}

/// Whether a return may go from `from` to `to`; the only place this rule
/// lives.
pub fn allowed(from: ReturnStatus, to: ReturnStatus) -> bool {
    use ReturnStatus::*;
    matches!(
        (from, to),
        (Requested, Approved | Rejected | Cancelled)
            | (Approved, Received)
            | (Received, Completed | RefundFailed)
    )
}

/// The state a returned unit comes back in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Condition {
    Unopened,
    Opened,
    Damaged,
}

impl Condition {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Unopened => "unopened",
            Self::Opened => "opened",
            Self::Damaged => "damaged",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Unopened, Self::Opened, Self::Damaged]
            .into_iter()
            .find(|v| v.as_str() == s)
    }
}

/// Whether a return refunds the order's shipping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ShippingRefund {
    /// Never.
    Never,
    /// With the return that brings back the order's last unit.
    WhenAllReturned,
}

impl ShippingRefund {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Never => "never",
            Self::WhenAllReturned => "when_all_returned",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Never, Self::WhenAllReturned]
            .into_iter()
            .find(|v| v.as_str() == s)
    }
}

/// A store's return policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ReturnSettings {
    /// Days after delivery a shopper may open a return (0 to 365).
    #[schema(minimum = 0, maximum = 365)]
    pub window_days: i32,
    pub shipping_refund: ShippingRefund,
}

/// The longest return window, in days.
pub const MAX_WINDOW_DAYS: i32 = 365;

impl Default for ReturnSettings {
    fn default() -> Self {
        Self {
            window_days: 30,
            shipping_refund: ShippingRefund::WhenAllReturned,
        }
    }
}

/// The most lines one return may name; an order has at most this many.
pub const MAX_LINES: usize = 100;

/// What of an order arrived, and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered {
    /// Units delivered, by order line.
    pub units: Vec<i64>,
    /// When the (last) delivery happened; `None`: nothing delivered.
    pub at: Option<DateTime<Utc>>,
}

/// Why a shopper's return is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Nothing was asked for.
    NoLines,
    /// A line was named twice.
    DuplicateLine(usize),
    /// No such line on the order.
    UnknownLine(usize),
    /// Quantity under 1.
    BadQuantity(usize),
    /// Nothing of the order was delivered yet.
    NotDelivered,
    /// The window closed (the last day it was open).
    WindowClosed(DateTime<Utc>),
    /// More units than delivered and not already returned.
    TooMany { line: usize, left: i64 },
}

/// Checks a return of `asked` (order line, units) on an order whose lines
/// were `delivered`, with `returned` units per line already in returns that
/// hold units (open or done), at `now` under `settings`.
pub fn check_return(
    asked: &[(usize, i64)],
    delivered: &Delivered,
    returned: &[i64],
    now: DateTime<Utc>,
    settings: &ReturnSettings,
) -> Result<(), Refusal> {
    if asked.is_empty() {
        return Err(Refusal::NoLines);
    }
    let mut seen = std::collections::BTreeSet::new();
    for &(line, quantity) in asked {
        if !seen.insert(line) {
            return Err(Refusal::DuplicateLine(line));
        }
        if line >= delivered.units.len() {
            return Err(Refusal::UnknownLine(line));
        }
        if quantity < 1 {
            return Err(Refusal::BadQuantity(line));
        }
    }
    let Some(at) = delivered.at else {
        return Err(Refusal::NotDelivered);
    };
    let closes = at + Duration::days(i64::from(settings.window_days));
    if now > closes {
        return Err(Refusal::WindowClosed(closes));
    }
    for &(line, quantity) in asked {
        let left = delivered.units[line] - returned.get(line).copied().unwrap_or(0);
        if quantity > left {
            return Err(Refusal::TooMany {
                line,
                left: left.max(0),
            });
        }
    }
    Ok(())
}

/// An order's money as a return's refund needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderMoney {
    /// (unit price, units) by order line.
    pub lines: Vec<(i64, i64)>,
    /// The discounts' share of each line (missing: none). `u` of a line's
    /// `n` units carry `floor(share * u / n)` of it, counted over all the
    /// units refunded so far, so the parts add up to the share exactly
    /// once every unit came back.
    pub line_discounts: Vec<i64>,
    pub shipping_minor: i64,
    pub tax_minor: i64,
}

/// What a return refunds, in minor units.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Breakdown {
    pub items_minor: i64,
    pub tax_minor: i64,
    pub shipping_minor: i64,
    pub total_minor: i64,
}

fn value(money: &OrderMoney, units: &[i64]) -> i64 {
    money
        .lines
        .iter()
        .enumerate()
        .map(|(i, (price, bought))| {
            let u = units.get(i).copied().unwrap_or(0).clamp(0, *bought);
            let share = money.line_discounts.get(i).copied().unwrap_or(0);
            let off = if *bought > 0 {
                i64::try_from(i128::from(share) * i128::from(u) / i128::from(*bought))
                    .unwrap_or(share)
            } else {
                0
            };
            price * u - off
        })
        .sum()
}

/// The order's tax that goods worth `part` of `whole` carry, rounded down.
fn tax_share(tax: i64, part: i64, whole: i64) -> i64 {
    if whole <= 0 {
        return 0;
    }
    let share = i128::from(tax) * i128::from(part.clamp(0, whole)) / i128::from(whole);
    i64::try_from(share).unwrap_or(tax)
}

/// The refund of a return of `now` units per line, after returns of
/// `before` units per line were refunded: the lines' prices, their share of
/// the order's tax and the shipping by `rule` (with its share of the tax:
/// the checkout taxes goods and shipping together).
///
/// The tax of a return is the share of everything refunded so far minus
/// the share of what was refunded before, each rounded down: over any
/// sequence of returns the tax refunded is the share of all that came
/// back, never more than the order's tax, and all of it once everything,
/// shipping included, was refunded.
pub fn refund_for(
    money: &OrderMoney,
    before: &[i64],
    now: &[i64],
    rule: ShippingRefund,
) -> Breakdown {
    let all: Vec<i64> = (0..money.lines.len())
        .map(|i| before.get(i).copied().unwrap_or(0) + now.get(i).copied().unwrap_or(0))
        .collect();
    let everything: Vec<i64> = money.lines.iter().map(|(_, bought)| *bought).collect();
    let complete = |units: &[i64]| {
        everything
            .iter()
            .enumerate()
            .all(|(i, bought)| units.get(i).copied().unwrap_or(0) >= *bought)
    };
    let shipping_of = |units: &[i64]| match rule {
        ShippingRefund::WhenAllReturned if complete(units) => money.shipping_minor,
        _ => 0,
    };
    let base = |units: &[i64]| value(money, units) + shipping_of(units);
    let whole = value(money, &everything) + money.shipping_minor;
    let items_minor = value(money, &all) - value(money, before);
    let shipping_minor = shipping_of(&all) - shipping_of(before);
    let tax_minor = tax_share(money.tax_minor, base(&all), whole)
        - tax_share(money.tax_minor, base(before), whole);
    Breakdown {
        items_minor,
        tax_minor,
        shipping_minor,
        total_minor: items_minor + tax_minor + shipping_minor,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn at(day: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + day * 86_400, 0).expect("time")
    }

    #[test]
    fn the_lifecycle_goes_one_way() {
        use ReturnStatus::*;
        assert!(allowed(Requested, Approved));
        assert!(allowed(Requested, Rejected));
        assert!(allowed(Requested, Cancelled));
        assert!(allowed(Approved, Received));
        assert!(allowed(Received, Completed));
        assert!(!allowed(Requested, Received));
        assert!(!allowed(Approved, Cancelled));
        for end in [Rejected, Cancelled, Completed, RefundFailed] {
            assert!(ReturnStatus::ALL.iter().all(|to| !allowed(end, *to)));
        }
        for s in ReturnStatus::ALL {
            assert_eq!(ReturnStatus::parse(s.as_str()), Some(s));
            assert!(!allowed(s, s));
        }
        assert!(!Rejected.holds_units() && !Cancelled.holds_units());
        assert!(Requested.holds_units() && Completed.holds_units());
    }

    #[test]
    fn returns_are_checked_against_delivery_window_and_what_is_left() {
        let settings = ReturnSettings::default();
        let delivered = Delivered {
            units: vec![2, 1],
            at: Some(at(0)),
        };
        let ok = |asked: &[(usize, i64)], returned: &[i64], now| {
            check_return(asked, &delivered, returned, now, &settings)
        };
        assert_eq!(ok(&[(0, 2), (1, 1)], &[0, 0], at(30)), Ok(()));
        assert_eq!(ok(&[], &[0, 0], at(1)), Err(Refusal::NoLines));
        assert_eq!(
            ok(&[(0, 1), (0, 1)], &[0, 0], at(1)),
            Err(Refusal::DuplicateLine(0))
        );
        assert_eq!(ok(&[(2, 1)], &[0, 0], at(1)), Err(Refusal::UnknownLine(2)));
        assert_eq!(ok(&[(1, 0)], &[0, 0], at(1)), Err(Refusal::BadQuantity(1)));
        assert_eq!(
            ok(&[(0, 1)], &[0, 0], at(31)),
            Err(Refusal::WindowClosed(at(30)))
        );
        assert_eq!(
            ok(&[(0, 2)], &[1, 0], at(1)),
            Err(Refusal::TooMany { line: 0, left: 1 })
        );
        let nothing = Delivered {
            units: vec![0, 0],
            at: None,
        };
        assert_eq!(
            check_return(&[(0, 1)], &nothing, &[0, 0], at(1), &settings),
            Err(Refusal::NotDelivered)
        );
    }

    #[test]
    fn a_return_refunds_prices_tax_share_and_shipping_by_rule() {
        // Two shirts at 1000 and a hat at 500, 500 shipping; 10% tax.
        let money = OrderMoney {
            lines: vec![(1000, 2), (500, 1)],
            line_discounts: Vec::new(),
            shipping_minor: 500,
            tax_minor: 300,
        };
        let one_shirt = refund_for(&money, &[0, 0], &[1, 0], ShippingRefund::WhenAllReturned);
        assert_eq!(
            one_shirt,
            Breakdown {
                items_minor: 1000,
                tax_minor: 100,
                shipping_minor: 0,
                total_minor: 1100
            }
        );
        let rest = refund_for(&money, &[1, 0], &[1, 1], ShippingRefund::WhenAllReturned);
        assert_eq!(
            rest,
            Breakdown {
                items_minor: 1500,
                tax_minor: 200,
                shipping_minor: 500,
                total_minor: 2200
            }
        );
        let never = refund_for(&money, &[1, 0], &[1, 1], ShippingRefund::Never);
        assert_eq!(never.shipping_minor, 0);
        assert_eq!(never.total_minor, 1650);
        // A third of a cent each time: rounded down, never over the tax.
        let odd = OrderMoney {
            lines: vec![(100, 3)],
            line_discounts: Vec::new(),
            shipping_minor: 0,
            tax_minor: 10,
        };
        let taxes: Vec<i64> = (0..3)
            .map(|i| refund_for(&odd, &[i], &[1], ShippingRefund::Never).tax_minor)
            .collect();
        assert_eq!(taxes, vec![3, 3, 4]);
    }

    fn order() -> impl Strategy<Value = OrderMoney> {
        (
            proptest::collection::vec((0i64..50_000, 1i64..6, 0i64..=10_000), 1..6),
            0i64..5_000,
            0i64..20_000,
        )
            .prop_map(|(lines, shipping_minor, tax_minor)| {
                // A discount's share of each line: 0 to all of it.
                let line_discounts: Vec<i64> =
                    lines.iter().map(|(p, q, bp)| p * q * bp / 10_000).collect();
                let goods: i64 = lines.iter().map(|(p, q, _)| p * q).sum::<i64>()
                    - line_discounts.iter().sum::<i64>();
                let lines: Vec<(i64, i64)> = lines.into_iter().map(|(p, q, _)| (p, q)).collect();
                // Tax is a rate of goods and shipping: none on nothing.
                let free = shipping_minor == 0 && goods == 0;
                OrderMoney {
                    lines,
                    line_discounts,
                    shipping_minor,
                    tax_minor: if free { 0 } else { tax_minor },
                }
            })
    }

    proptest! {
        /// However the units come back, in however many returns, the
        /// refunds never pass the order's total, and once every unit is
        /// back (shipping refunded with the last) they are exactly it.
        #[test]
        fn refunds_over_any_returns_add_up_to_at_most_the_total(
            money in order(),
            picks in proptest::collection::vec((0usize..6, 1i64..4), 0..30),
            rule in prop_oneof![Just(ShippingRefund::Never), Just(ShippingRefund::WhenAllReturned)],
        ) {
            let n = money.lines.len();
            let total: i64 = money.lines.iter().map(|(p, q)| p * q).sum::<i64>()
                - money.line_discounts.iter().sum::<i64>()
                + money.tax_minor + money.shipping_minor;
            let mut before = vec![0i64; n];
            let mut refunded = Breakdown::default();
            for (line, units) in picks {
                let line = line % n;
                let left = money.lines[line].1 - before[line];
                let units = units.min(left);
                if units == 0 {
                    continue;
                }
                let mut now = vec![0i64; n];
                now[line] = units;
                let r = refund_for(&money, &before, &now, rule);
                prop_assert!(r.items_minor >= 0 && r.tax_minor >= 0 && r.shipping_minor >= 0);
                prop_assert_eq!(r.total_minor, r.items_minor + r.tax_minor + r.shipping_minor);
                refunded.items_minor += r.items_minor;
                refunded.tax_minor += r.tax_minor;
                refunded.shipping_minor += r.shipping_minor;
                refunded.total_minor += r.total_minor;
                before[line] += units;
                prop_assert!(refunded.tax_minor <= money.tax_minor);
                prop_assert!(refunded.total_minor <= total);
            }
            let rest: Vec<i64> = (0..n).map(|i| money.lines[i].1 - before[i]).collect();
            let last = refund_for(&money, &before, &rest, rule);
            let all = refunded.total_minor + last.total_minor;
            if rule == ShippingRefund::WhenAllReturned {
                prop_assert_eq!(all, total);
            } else {
                let goods = total - money.tax_minor - money.shipping_minor;
                let tax = tax_share(money.tax_minor, goods, goods + money.shipping_minor);
                prop_assert_eq!(all, goods + tax);
            }
        }
    }
}
