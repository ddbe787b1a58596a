//! Figures as the console's pages show them: counts, bytes, durations,
//! times, a bar's width, a plan's figures per pod; and the pause a job's
//! form asks for. Pure.

use chrono::{DateTime, Utc};
use mercato_tenants::forms::field;
use mercato_tenants::operator::rebalance::{Measure, PlannedMove};
use mercato_tenants::operator::Pod;
use mercato_tenants::{ApiError, PodId};

/// A pod's load shows red above this share of its capacity.
pub const HIGH_PERCENT: i64 = 85;
/// The longest pause between two moves of a job an operator may ask for,
/// in seconds (the API's `throttle_ms` bound).
pub const MAX_PAUSE_SECS: u64 = 3600;

/// `120431` → `120,431`.
pub fn count(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    if n < 0 {
        out.push('-');
    }
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Decimal units with one decimal, as the operator CLI prints them:
/// `512` → `512 B`, `4096` → `4.1 KB`, `107374182400` → `107.4 GB`.
pub fn bytes(n: i64) -> String {
    const UNITS: &[&str] = &["KB", "MB", "GB", "TB", "PB", "EB"];
    if n.unsigned_abs() < 1000 {
        return format!("{n} B");
    }
    let mut value = n as f64 / 1000.0;
    let mut unit = 0;
    while value.abs() >= 999.95 && unit + 1 < UNITS.len() {
        value /= 1000.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// `87` → `87 ms`, `4200` → `4.2 s`, `125000` → `2 min 5 s`.
pub fn millis(ms: i64) -> String {
    let ms = ms.max(0);
    if ms < 1000 {
        format!("{ms} ms")
    } else if ms < 60_000 {
        format!("{:.1} s", ms as f64 / 1000.0)
    } else {
        let secs = ms / 1000;
        format!("{} min {} s", secs / 60, secs % 60)
    }
}

/// A time as pages show it: UTC, to the second.
pub fn when(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// How full `used` of `capacity` is, in whole percent from 0 to 100 (the
/// width of a bar): rounded, capped at 100; a pod without capacity is full
/// as soon as it holds anything.
pub fn percent(used: i64, capacity: i64) -> i64 {
    let used = used.max(0);
    if capacity <= 0 {
        return if used > 0 { 100 } else { 0 };
    }
    let p = (i128::from(used) * 100 + i128::from(capacity) / 2) / i128::from(capacity);
    i64::try_from(p.min(100)).unwrap_or(100)
}

/// Whether `used` is above [`HIGH_PERCENT`] of `capacity` (exactly, not
/// as rounded for the bar).
pub fn is_high(used: i64, capacity: i64) -> bool {
    i128::from(used.max(0)) * 100 > i128::from(capacity.max(0)) * i128::from(HIGH_PERCENT)
}

/// `amount` of `measure`, in its unit.
pub fn amount(measure: Measure, amount: i64) -> String {
    match measure {
        Measure::Bytes => bytes(amount),
        Measure::Rows => format!("{} rows", count(amount)),
        Measure::Orders => format!("{} orders/h", count(amount)),
        Measure::Stores if amount == 1 => "1 store".to_owned(),
        Measure::Stores => format!("{} stores", count(amount)),
    }
}

/// The mean of a measure over the pods: bytes as bytes, the others to
/// one decimal where they are not whole (`0.5 stores`).
pub fn mean_amount(measure: Measure, mean: f64) -> String {
    let whole = mean.round();
    if measure == Measure::Bytes || (mean - whole).abs() < 0.05 {
        return amount(measure, whole as i64);
    }
    let unit = match measure {
        Measure::Rows => "rows",
        Measure::Orders => "orders/h",
        Measure::Bytes | Measure::Stores => "stores",
    };
    format!("{mean:.1} {unit}")
}

/// What a measure evens out, in words.
pub(super) fn measure_words(measure: Measure) -> &'static str {
    match measure {
        Measure::Bytes => "data on disk",
        Measure::Rows => "rows",
        Measure::Orders => "orders in the last hour",
        Measure::Stores => "number of stores",
    }
}

/// A pod's figure of `measure`.
pub(super) fn pod_figure(pod: &Pod, measure: Measure) -> i64 {
    match measure {
        Measure::Bytes => pod.bytes,
        Measure::Rows => pod.rows,
        Measure::Orders => pod.orders_last_hour,
        Measure::Stores => pod.stores,
    }
}

/// Each pod's figure of `measure` now and once `moves` have run.
pub fn after_moves(
    pods: &[Pod],
    moves: &[PlannedMove],
    measure: Measure,
) -> Vec<(PodId, i64, i64)> {
    pods.iter()
        .map(|p| {
            let before = pod_figure(p, measure);
            let delta: i64 = moves
                .iter()
                .map(|m| {
                    let a = i64::try_from(m.amount).unwrap_or(i64::MAX);
                    match (m.from_pod_id == p.id, m.to_pod_id == p.id) {
                        (true, false) => -a,
                        (false, true) => a,
                        _ => 0,
                    }
                })
                .fold(0i64, i64::saturating_add);
            (p.id, before, before.saturating_add(delta))
        })
        .collect()
}

/// The pause between two moves of a job, from the form's `pause` field in
/// seconds; `None` (the default) when left empty.
pub(super) fn pause_ms(fields: &[(String, String)]) -> Result<Option<u64>, ApiError> {
    match field(fields, "pause").unwrap_or_default() {
        "" => Ok(None),
        s => s
            .parse::<u64>()
            .ok()
            .filter(|s| *s <= MAX_PAUSE_SECS)
            .map(|s| Some(s * 1000))
            .ok_or_else(|| {
                ApiError::invalid(format!(
                    "the pause between moves must be a whole number of seconds from 0 to {MAX_PAUSE_SECS}"
                ))
            }),
    }
}
