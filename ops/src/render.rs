//! What the operator commands print: tables, details, progress lines and
//! reports. Pure functions over the API's types, so every format is tested
//! on JSON samples.

use std::collections::HashMap;

use mercato_tenants::{PodId, StoreId};

use super::api::{Measure, Move, MoveStatus, Phase, Plan, Pod, Store};

/// The phases of a move that goes through, in order; the progress bar is
/// the phase's index over their count.
pub const PHASES: &[Phase] = &Phase::FORWARD;

const BAR_WIDTH: usize = 20;

/// Pod names and store handles, for showing ids the way operators know them.
#[derive(Debug, Default, Clone)]
pub struct Names {
    pub pods: HashMap<PodId, String>,
    pub stores: HashMap<StoreId, String>,
}

impl Names {
    pub fn with_pods(pods: &[Pod]) -> Self {
        Self {
            pods: pods.iter().map(|p| (p.id, p.name.clone())).collect(),
            stores: HashMap::new(),
        }
    }

    pub fn pod(&self, id: PodId) -> String {
        self.pods
            .get(&id)
            .cloned()
            .unwrap_or_else(|| id.to_string())
    }

    pub fn store(&self, id: StoreId) -> String {
        self.stores
            .get(&id)
            .cloned()
            .unwrap_or_else(|| id.to_string())
    }
}

/// A figure of the API (signed there, as the database keeps it) as the
/// count it is; a negative one, which the control plane never sends, as 0.
fn unsigned(n: impl TryInto<u64>) -> u64 {
    n.try_into().unwrap_or(0)
}

/// `120431` → `120,431`.
pub fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Decimal units with one decimal: `4096` → `4.1 KB`, `512` → `512 B`.
pub fn bytes(n: u64) -> String {
    const UNITS: &[&str] = &["KB", "MB", "GB", "TB", "PB"];
    if n < 1000 {
        return format!("{n} B");
    }
    let mut value = n as f64 / 1000.0;
    let mut unit = 0;
    while value >= 999.95 && unit + 1 < UNITS.len() {
        value /= 1000.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// `87` → `87 ms`, `4200` → `4.2 s`, `125000` → `2 min 5 s`.
pub fn millis(ms: u64) -> String {
    if ms < 1000 {
        format!("{ms} ms")
    } else if ms < 60_000 {
        format!("{:.1} s", ms as f64 / 1000.0)
    } else {
        let secs = ms / 1000;
        format!("{} min {} s", secs / 60, secs % 60)
    }
}

/// The first 8 hex digits of an id and an ellipsis, for progress lines.
pub fn short_id(id: impl std::fmt::Display) -> String {
    let s = id.to_string();
    format!("{}…", s.get(..8).unwrap_or(&s))
}

/// Left-aligned columns two spaces apart, a header row first; no trailing
/// spaces.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(cell.chars().count());
            }
        }
    }
    let line = |cells: Vec<&str>| {
        let mut out = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i > 0 {
                out.push_str("  ");
            }
            out.push_str(cell);
            let pad = widths[i].saturating_sub(cell.chars().count());
            out.extend(std::iter::repeat_n(' ', pad));
        }
        out.trim_end().to_owned()
    };
    let mut out = line(headers.to_vec());
    out.push('\n');
    for row in rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
        out.push('\n');
    }
    out
}

pub fn pods_table(pods: &[Pod]) -> String {
    let rows: Vec<Vec<String>> = pods
        .iter()
        .map(|p| {
            vec![
                p.name.clone(),
                p.state.to_string(),
                count(unsigned(p.stores)),
                count(unsigned(p.capacity)),
                bytes(unsigned(p.bytes)),
                count(unsigned(p.orders_last_hour)),
                count(unsigned(p.requests_per_minute)),
                p.url.clone(),
            ]
        })
        .collect();
    table(
        &[
            "NAME", "STATE", "STORES", "CAPACITY", "BYTES", "ORDERS/H", "REQ/MIN", "URL",
        ],
        &rows,
    )
}

pub fn stores_table(stores: &[Store], names: &Names) -> String {
    let rows: Vec<Vec<String>> = stores
        .iter()
        .map(|s| {
            let load = s.load.as_ref();
            vec![
                s.handle.clone(),
                s.name.clone(),
                names.pod(s.pod_id),
                s.state.to_string(),
                load.map_or_else(|| "-".into(), |l| bytes(unsigned(l.bytes))),
                load.map_or_else(|| "-".into(), |l| count(unsigned(l.orders_last_hour))),
                s.id.to_string(),
            ]
        })
        .collect();
    table(
        &["HANDLE", "NAME", "POD", "STATE", "BYTES", "ORDERS/H", "ID"],
        &rows,
    )
}

/// `key: value` lines with the values aligned.
fn details(fields: &[(&str, String)]) -> String {
    let width = fields.iter().map(|(k, _)| k.len()).max().unwrap_or(0) + 1;
    fields
        .iter()
        .map(|(k, v)| format!("{:<width$} {v}\n", format!("{k}:")))
        .collect()
}

pub fn store_details(s: &Store, names: &Names) -> String {
    let domains = s
        .domains
        .iter()
        .map(|d| format!("{} ({})", d.domain, d.kind))
        .collect::<Vec<_>>()
        .join(", ");
    let load = match &s.load {
        None => "not reported yet".to_owned(),
        Some(l) => format!(
            "{} rows, {}, {} orders/h, {} req/min (reported {}){}",
            count(unsigned(l.rows)),
            bytes(unsigned(l.bytes)),
            count(unsigned(l.orders_last_hour)),
            count(unsigned(l.requests_per_minute)),
            l.reported_at.to_rfc3339(),
            l.sizes_as_of
                .map(|t| format!(" (rows and bytes as of {})", t.to_rfc3339()))
                .unwrap_or_default()
        ),
    };
    details(&[
        ("id", s.id.to_string()),
        ("handle", s.handle.clone()),
        ("name", s.name.clone()),
        ("owner", s.owner_email.clone()),
        ("currency", s.currency.to_string()),
        ("pod", names.pod(s.pod_id)),
        ("state", s.state.to_string()),
        ("created", s.created_at.to_rfc3339()),
        ("domains", domains),
        ("load", load),
    ])
}

fn opt_ms(v: Option<i64>) -> String {
    v.map_or_else(|| "-".into(), |ms| millis(unsigned(ms)))
}

pub fn moves_table(moves: &[Move], names: &Names) -> String {
    let rows: Vec<Vec<String>> = moves
        .iter()
        .map(|m| {
            vec![
                m.id.to_string(),
                names.store(m.store_id),
                names.pod(m.source_pod_id),
                names.pod(m.target_pod_id),
                m.reason.to_string(),
                m.status.to_string(),
                m.phase.to_string(),
                count(unsigned(m.rows_copied)),
                opt_ms(m.pause_ms),
                opt_ms(m.duration_ms),
                m.created_at.to_rfc3339(),
            ]
        })
        .collect();
    table(
        &[
            "ID", "STORE", "FROM", "TO", "REASON", "STATUS", "PHASE", "ROWS", "PAUSE", "TOOK",
            "CREATED",
        ],
        &rows,
    )
}

pub fn move_details(m: &Move, names: &Names) -> String {
    details(&[
        ("id", m.id.to_string()),
        ("store", names.store(m.store_id)),
        ("from", names.pod(m.source_pod_id)),
        ("to", names.pod(m.target_pod_id)),
        ("reason", m.reason.to_string()),
        ("status", m.status.to_string()),
        ("phase", m.phase.to_string()),
        (
            "abort",
            if m.abort_requested { "requested" } else { "no" }.into(),
        ),
        ("tables", format!("{}/{}", m.tables_ready, m.tables_total)),
        (
            "copied",
            format!(
                "{} rows ({})",
                count(unsigned(m.rows_copied)),
                bytes(unsigned(m.bytes_copied))
            ),
        ),
        (
            "lag",
            m.lag_bytes
                .map_or_else(|| "-".into(), |l| bytes(unsigned(l))),
        ),
        ("pause", opt_ms(m.pause_ms)),
        ("took", opt_ms(m.duration_ms)),
        ("error", m.error.clone().unwrap_or_else(|| "-".into())),
        ("created", m.created_at.to_rfc3339()),
        (
            "finished",
            m.finished_at.map_or_else(|| "-".into(), |t| t.to_rfc3339()),
        ),
    ])
}

/// The bar of a move's phase: empty at `preflight`, full at `done`; a phase
/// outside the forward path (`rolling_back`) keeps it empty.
pub fn bar(phase: Phase) -> String {
    let filled = PHASES
        .iter()
        .position(|p| *p == phase)
        .map_or(0, |i| i * BAR_WIDTH / (PHASES.len() - 1));
    format!("[{}{}]", "#".repeat(filled), ".".repeat(BAR_WIDTH - filled))
}

/// The redrawn progress line on a terminal (without the carriage return).
pub fn progress_bar(m: &Move) -> String {
    format!(
        "{} {:<12} tables {}/{}  rows {}  lag {}",
        bar(m.phase),
        m.phase,
        m.tables_ready,
        m.tables_total,
        count(unsigned(m.rows_copied)),
        m.lag_bytes
            .map_or_else(|| "-".into(), |l| bytes(unsigned(l)))
    )
}

/// The progress line when stdout is not a terminal.
pub fn progress_plain(m: &Move) -> String {
    format!(
        "move {} phase={} tables={}/{} rows={} lag_bytes={}",
        short_id(m.id),
        m.phase,
        m.tables_ready,
        m.tables_total,
        m.rows_copied,
        m.lag_bytes.map_or_else(|| "-".into(), |l| l.to_string())
    )
}

/// The last line of a followed move, and whether it completed.
pub fn report(m: &Move, names: &Names) -> (String, bool) {
    match m.status {
        MoveStatus::Completed => (
            format!(
                "moved {} from {} to {}: pause {}, {} rows ({}), took {}",
                names.store(m.store_id),
                names.pod(m.source_pod_id),
                names.pod(m.target_pod_id),
                opt_ms(m.pause_ms),
                count(unsigned(m.rows_copied)),
                bytes(unsigned(m.bytes_copied)),
                opt_ms(m.duration_ms),
            ),
            true,
        ),
        status => {
            let what = match status {
                MoveStatus::RolledBack => "rolled back",
                other => other.as_str(),
            };
            let why = match (&m.error, m.abort_requested) {
                (Some(e), _) => e.clone(),
                (None, true) => "aborted by the operator".into(),
                (None, false) => "no error recorded".into(),
            };
            (format!("move {} {what}: {why}", m.id), false)
        }
    }
}

/// An amount in a measure's units; a count that is not whole (a mean, a
/// band's bound) keeps one decimal.
pub fn amount(measure: Measure, value: f64) -> String {
    let value = value.max(0.0);
    let whole = value.round() as u64;
    let number = if (value - value.round()).abs() < 0.05 {
        count(whole)
    } else {
        format!("{value:.1}")
    };
    match measure {
        Measure::Bytes => bytes(whole),
        Measure::Rows => format!("{number} rows"),
        Measure::Orders => format!("{number} orders/h"),
        Measure::Stores if number == "1" => "1 store".into(),
        Measure::Stores => format!("{number} stores"),
    }
}

/// `±10 % (1.8 MB .. 2.2 MB)`: the band as a percentage of the mean and
/// its bounds.
fn band(plan: &Plan) -> String {
    let half = plan.mean * plan.band;
    format!(
        "±{} % ({} .. {})",
        (plan.band * 1000.0).round() / 10.0,
        amount(plan.measure, plan.mean - half),
        amount(plan.measure, plan.mean + half)
    )
}

/// A rebalancing plan: its measure, mean and band, then each move or
/// `balanced: no moves`.
pub fn plan(plan: &Plan, names: &Names) -> String {
    let mut out = format!(
        "measure: {}\nmean:    {}\nband:    {}\n",
        plan.measure,
        amount(plan.measure, plan.mean),
        band(plan)
    );
    if plan.moves.is_empty() {
        out.push_str("balanced: no moves\n");
        return out;
    }
    let rows: Vec<Vec<String>> = plan
        .moves
        .iter()
        .map(|m| {
            vec![
                names.store(m.store_id),
                names.pod(m.from_pod_id),
                names.pod(m.to_pod_id),
                amount(plan.measure, m.amount as f64),
            ]
        })
        .collect();
    let n = plan.moves.len();
    out.push_str(&format!("{n} move{}:\n", if n == 1 { "" } else { "s" }));
    out.push_str(&table(&["STORE", "FROM", "TO", "AMOUNT"], &rows));
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const STORE: &str = "0190a1b2-0000-7000-8000-000000000001";
    const POD_A: &str = "0190a1b2-0000-7000-8000-00000000000a";
    const POD_B: &str = "0190a1b2-0000-7000-8000-00000000000b";
    const MOVE: &str = "0190a1b2-c3d4-7000-8000-000000000099";

    fn names() -> Names {
        let mut n = Names::default();
        n.pods.insert(POD_A.parse().expect("id"), "pod-1".into());
        n.pods.insert(POD_B.parse().expect("id"), "pod-2".into());
        n.stores.insert(STORE.parse().expect("id"), "acme".into());
        n
    }

    fn sample_move(changes: serde_json::Value) -> Move {
        let mut m = json!({
            "id": MOVE,
            "store_id": STORE,
            "source_pod_id": POD_A,
            "target_pod_id": POD_B,
            "reason": "operator",
            "phase": "copying",
            "status": "running",
            "abort_requested": false,
            "error": null,
            "tables_total": 27,
            "tables_ready": 12,
            "rows_copied": 120431,
            "bytes_copied": 12_345_678,
            "lag_bytes": 4096,
            "pause_ms": null,
            "duration_ms": null,
            "created_at": "2026-11-21T10:00:00Z",
            "updated_at": "2026-11-21T10:00:01Z",
            "finished_at": null
        });
        if let (Some(m), Some(c)) = (m.as_object_mut(), changes.as_object()) {
            for (k, v) in c {
                m.insert(k.clone(), v.clone());
            }
        }
        serde_json::from_value(m).expect("move sample")
    }

    #[test]
    fn counts_get_thousands_separators() {
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(1000), "1,000");
        assert_eq!(count(120431), "120,431");
        assert_eq!(count(1234567), "1,234,567");
    }

    #[test]
    fn bytes_use_decimal_units_with_one_decimal() {
        assert_eq!(bytes(0), "0 B");
        assert_eq!(bytes(999), "999 B");
        assert_eq!(bytes(1000), "1.0 KB");
        assert_eq!(bytes(4096), "4.1 KB");
        assert_eq!(bytes(12_345_678), "12.3 MB");
        assert_eq!(bytes(999_999), "1.0 MB");
        assert_eq!(bytes(107_374_182_400), "107.4 GB");
    }

    #[test]
    fn durations() {
        assert_eq!(millis(87), "87 ms");
        assert_eq!(millis(4200), "4.2 s");
        assert_eq!(millis(125_000), "2 min 5 s");
    }

    #[test]
    fn tables_align_columns_without_trailing_spaces() {
        let t = table(
            &["NAME", "STATE", "URL"],
            &[
                vec!["pod-1".into(), "active".into(), "http://a".into()],
                vec!["p".into(), "draining".into(), "".into()],
            ],
        );
        assert_eq!(
            t,
            "NAME   STATE     URL\n\
             pod-1  active    http://a\n\
             p      draining\n"
        );
    }

    #[test]
    fn pods_table_tolerates_a_control_plane_without_load_fields() {
        let pods: Vec<Pod> = serde_json::from_value(json!([
            {"id": POD_A, "name": "pod-1", "url": "http://127.0.0.1:7401", "capacity": 100,
             "state": "active", "stores": 3, "created_at": "2026-11-21T10:00:00Z"},
            {"id": POD_B, "name": "pod-2", "url": "http://127.0.0.1:7402", "capacity": 100,
             "capacity_bytes": 107374182400u64, "capacity_orders_per_hour": 100000,
             "state": "draining", "stores": 12, "bytes": 12345678, "rows": 5000,
             "orders_last_hour": 1234, "requests_per_minute": 56,
             "created_at": "2026-11-21T10:00:00Z"}
        ]))
        .expect("sample");
        assert_eq!(
            pods_table(&pods),
            "NAME   STATE     STORES  CAPACITY  BYTES    ORDERS/H  REQ/MIN  URL\n\
             pod-1  active    3       100       0 B      0         0        http://127.0.0.1:7401\n\
             pod-2  draining  12      100       12.3 MB  1,234     56       http://127.0.0.1:7402\n"
        );
    }

    #[test]
    fn store_details_show_pod_names_domains_and_load() {
        let store: Store = serde_json::from_value(json!({
            "id": STORE, "name": "Acme", "handle": "acme", "owner_email": "o@acme.test",
            "currency": "EUR", "pod_id": POD_A, "state": "active",
            "created_at": "2026-11-21T10:00:00Z",
            "domains": [{"domain": "acme.localhost", "kind": "platform"},
                        {"domain": "shop.acme.test", "kind": "custom"}],
            "load": {"rows": 1500, "bytes": 2_500_000, "orders_last_hour": 7,
                     "requests_per_minute": 30, "reported_at": "2026-11-21T11:00:00Z",
                     "sizes_as_of": "2026-11-21T10:59:00Z"}
        }))
        .expect("sample");
        assert_eq!(
            store_details(&store, &names()),
            format!(
                "id:       {STORE}\n\
                 handle:   acme\n\
                 name:     Acme\n\
                 owner:    o@acme.test\n\
                 currency: EUR\n\
                 pod:      pod-1\n\
                 state:    active\n\
                 created:  2026-11-21T10:00:00+00:00\n\
                 domains:  acme.localhost (platform), shop.acme.test (custom)\n\
                 load:     1,500 rows, 2.5 MB, 7 orders/h, 30 req/min (reported 2026-11-21T11:00:00+00:00) (rows and bytes as of 2026-11-21T10:59:00+00:00)\n"
            )
        );
    }

    #[test]
    fn progress_lines_for_a_copying_move() {
        let m = sample_move(json!({}));
        assert_eq!(
            progress_bar(&m),
            "[##..................] copying      tables 12/27  rows 120,431  lag 4.1 KB"
        );
        assert_eq!(
            progress_plain(&m),
            "move 0190a1b2… phase=copying tables=12/27 rows=120431 lag_bytes=4096"
        );
        let m = sample_move(json!({"phase": "rolling_back", "lag_bytes": null}));
        assert_eq!(
            progress_bar(&m),
            "[....................] rolling_back tables 12/27  rows 120,431  lag -"
        );
        assert_eq!(
            progress_plain(&m),
            "move 0190a1b2… phase=rolling_back tables=12/27 rows=120431 lag_bytes=-"
        );
    }

    #[test]
    fn the_bar_fills_with_the_phases() {
        assert_eq!(bar(Phase::Preflight), format!("[{}]", ".".repeat(20)));
        assert_eq!(
            bar(Phase::Frozen),
            format!("[{}{}]", "#".repeat(8), ".".repeat(12))
        );
        assert_eq!(bar(Phase::Done), format!("[{}]", "#".repeat(20)));
        assert_eq!(bar(Phase::RollingBack), format!("[{}]", ".".repeat(20)));
    }

    #[test]
    fn report_of_a_completed_move() {
        let m = sample_move(json!({
            "phase": "done", "status": "completed", "pause_ms": 87, "duration_ms": 4200,
            "finished_at": "2026-11-21T10:00:04Z"
        }));
        assert_eq!(
            report(&m, &names()),
            (
                "moved acme from pod-1 to pod-2: pause 87 ms, 120,431 rows (12.3 MB), took 4.2 s"
                    .to_owned(),
                true
            )
        );
    }

    #[test]
    fn report_of_a_rolled_back_or_failed_move() {
        let m = sample_move(json!({
            "phase": "rolling_back", "status": "rolled_back",
            "error": "lag did not converge within 60 s"
        }));
        assert_eq!(
            report(&m, &names()),
            (
                format!("move {MOVE} rolled back: lag did not converge within 60 s"),
                false
            )
        );
        let m = sample_move(json!({"status": "rolled_back", "abort_requested": true}));
        assert_eq!(
            report(&m, &names()).0,
            format!("move {MOVE} rolled back: aborted by the operator")
        );
        let m = sample_move(json!({"status": "failed", "error": "target pod unreachable"}));
        assert_eq!(
            report(&m, &names()),
            (format!("move {MOVE} failed: target pod unreachable"), false)
        );
    }

    #[test]
    fn moves_table_and_details_use_names() {
        let m = sample_move(json!({
            "phase": "done", "status": "completed", "pause_ms": 87, "duration_ms": 4200,
            "finished_at": "2026-11-21T10:00:04Z"
        }));
        let t = moves_table(std::slice::from_ref(&m), &names());
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(
            lines[1].split_whitespace().collect::<Vec<_>>(),
            [
                MOVE,
                "acme",
                "pod-1",
                "pod-2",
                "operator",
                "completed",
                "done",
                "120,431",
                "87",
                "ms",
                "4.2",
                "s",
                "2026-11-21T10:00:00+00:00"
            ]
        );
        let d = move_details(&m, &names());
        assert!(d.contains("\ntables:   12/27\n"), "{d}");
        assert!(d.contains("\ncopied:   120,431 rows (12.3 MB)\n"), "{d}");
        assert!(d.contains("\nlag:      4.1 KB\n"), "{d}");
    }

    #[test]
    fn an_empty_plan_is_balanced() {
        let p: Plan = serde_json::from_value(json!({
            "measure": "bytes", "mean": 2_000_000.0, "band": 0.1,
            "balanced": true, "moves": []
        }))
        .expect("sample");
        assert_eq!(
            plan(&p, &names()),
            "measure: bytes\n\
             mean:    2.0 MB\n\
             band:    ±10 % (1.8 MB .. 2.2 MB)\n\
             balanced: no moves\n"
        );
    }

    #[test]
    fn a_plan_lists_its_moves() {
        let p: Plan = serde_json::from_value(json!({
            "measure": "stores", "mean": 2, "band": 0.1,
            "balanced": false,
            "moves": [{"store_id": STORE, "from_pod_id": POD_A, "to_pod_id": POD_B, "amount": 1}]
        }))
        .expect("sample");
        assert_eq!(
            plan(&p, &names()),
            "measure: stores\n\
             mean:    2 stores\n\
             band:    ±10 % (1.8 stores .. 2.2 stores)\n\
             1 move:\n\
             STORE  FROM   TO     AMOUNT\n\
             acme   pod-1  pod-2  1 store\n"
        );
    }
}
