//! The report of `mercato bench move`: the Markdown page, the targets'
//! verdicts, and the logs read to place the move's phases in time.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::load::Lost;
use super::{MoveArgs, Moved, Outcome, PhaseLatency, POLL};
use crate::loadgen;

pub(super) fn per_second(n: f64, secs: f64) -> f64 {
    if secs > 0.0 {
        n / secs
    } else {
        0.0
    }
}

/// The figures the targets are about.
pub(super) struct Figures {
    pub(super) completed: bool,
    pub(super) pause_ms: Option<i64>,
    pub(super) copy_rows_per_sec: f64,
    pub(super) floor_rows_per_sec: f64,
    pub(super) lost: i64,
}

#[derive(Debug, PartialEq)]
pub(super) struct Verdict {
    pub(super) target: &'static str,
    pub(super) measured: String,
    pub(super) met: bool,
}

/// The targets: pause under 300 ms, copy at least 100,000 rows/s
/// and within 1.5x of the floor, zero lost writes (of a completed move).
pub(super) fn verdicts(f: &Figures) -> Vec<Verdict> {
    let ratio = if f.copy_rows_per_sec > 0.0 {
        f.floor_rows_per_sec / f.copy_rows_per_sec
    } else {
        f64::INFINITY
    };
    vec![
        Verdict {
            target: "write pause < 300 ms",
            measured: f
                .pause_ms
                .map_or_else(|| "none recorded".into(), |p| format!("{p} ms")),
            met: f.pause_ms.is_some_and(|p| p < 300),
        },
        Verdict {
            target: "copy ≥ 100,000 rows/s",
            measured: format!("{} rows/s", thousands(f.copy_rows_per_sec.round() as i64)),
            met: f.copy_rows_per_sec >= 100_000.0,
        },
        Verdict {
            target: "copy within 1.5× of the floor",
            measured: format!(
                "{ratio:.2}× the floor's time (the floor: {} rows/s)",
                thousands(f.floor_rows_per_sec.round() as i64)
            ),
            met: ratio <= 1.5,
        },
        Verdict {
            target: "zero lost writes",
            measured: if f.completed {
                format!("{} lost", f.lost)
            } else {
                "the move did not complete".into()
            },
            met: f.completed && f.lost == 0,
        },
    ]
}

/// `1234567` as `1,234,567` (the CLI's [`count`](mercato_ops::render::count),
/// signed).
fn thousands(n: i64) -> String {
    let out = mercato_ops::render::count(n.unsigned_abs());
    if n < 0 {
        format!("-{out}")
    } else {
        out
    }
}

/// The lines of the control plane's JSON log about move `id`: the phases
/// it entered (`phase`) and its other events (their message), with their
/// times, in log order.
pub(super) fn move_log(log: &str, id: &str) -> Vec<(DateTime<Utc>, String)> {
    log.lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|v| v["move_id"].as_str() == Some(id))
        .filter_map(|v| {
            let at: DateTime<Utc> = v["timestamp"].as_str()?.parse().ok()?;
            let what = v["phase"]
                .as_str()
                .or_else(|| v["message"].as_str())?
                .to_owned();
            Some((at, what))
        })
        .collect()
}

pub(super) fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e4).round() / 10.0
}

/// The parts of the run: before the move, each phase the control plane
/// logged (placed on the client's clock by the POST), after the move.
pub(super) fn phase_windows(
    moved: &Moved,
    load_started: Instant,
    posted: Instant,
    ended: Instant,
    load_ended: Instant,
) -> Vec<(String, Instant, Instant)> {
    let at =
        |secs: f64| posted + Duration::from_secs_f64((moved.logged_after_post + secs).max(0.0));
    let mut windows = vec![("before the move".to_owned(), load_started, posted)];
    for (i, (what, from)) in moved.logged.iter().enumerate() {
        let to = moved.logged.get(i + 1).map_or(ended, |(_, next)| at(*next));
        windows.push((what.clone(), at(*from), to.max(at(*from))));
    }
    windows.push(("after the move".to_owned(), ended, load_ended));
    windows
}

/// Latency of the writes sent in each window.
pub(super) fn latency_by_phase(
    samples: &[(Instant, Duration)],
    windows: &[(String, Instant, Instant)],
) -> Vec<PhaseLatency> {
    windows
        .iter()
        .map(|(what, from, to)| {
            let mut took: Vec<Duration> = samples
                .iter()
                .filter(|(sent, _)| sent >= from && sent < to)
                .map(|(_, d)| *d)
                .collect();
            took.sort_unstable();
            PhaseLatency {
                what: what.clone(),
                writes: took.len(),
                p99_ms: ms(loadgen::quantile(&took, 0.99)),
                max_ms: ms(took.last().copied().unwrap_or_default()),
            }
        })
        .collect()
}

/// Each table's initial copy (table synchronization) of `subscription`,
/// from the Postgres log of the target (lines starting with a
/// `%Y-%m-%d %H:%M:%S%.3f` time): table, start and end in seconds since
/// the first start, by start.
pub(super) fn sync_log(log: &str, subscription: &str) -> Vec<(String, f64, f64)> {
    let needle = format!("subscription \"{subscription}\", table \"");
    let mut started: BTreeMap<String, chrono::NaiveDateTime> = BTreeMap::new();
    let mut spans = Vec::new();
    for line in log.lines() {
        let Some((_, rest)) = line.split_once(&needle) else {
            continue;
        };
        let Some((table, event)) = rest.split_once('"') else {
            continue;
        };
        let Some(at) = line
            .get(..23)
            .and_then(|t| chrono::NaiveDateTime::parse_from_str(t, "%Y-%m-%d %H:%M:%S%.3f").ok())
        else {
            continue;
        };
        if event.contains("has started") {
            started.insert(table.to_owned(), at);
        } else if event.contains("has finished") {
            if let Some(from) = started.get(table) {
                spans.push((table.to_owned(), *from, at));
            }
        }
    }
    let Some(first) = spans.iter().map(|(_, from, _)| *from).min() else {
        return Vec::new();
    };
    let secs = |t: chrono::NaiveDateTime| (t - first).num_milliseconds() as f64 / 1000.0;
    let mut out: Vec<(String, f64, f64)> = spans
        .into_iter()
        .map(|(t, from, to)| (t, secs(from), secs(to)))
        .collect();
    out.sort_by(|a, b| a.1.total_cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
    out
}

pub(super) fn report(opts: &MoveArgs, o: &Outcome) -> String {
    let total = o.total_rows();
    let mut mix = String::from("| table | rows |\n|---|---:|\n");
    for (table, n) in o.mix.iter().filter(|(_, n)| *n > 0) {
        mix.push_str(&format!("| {table} | {} |\n", thousands(*n)));
    }
    let empty: Vec<&str> = o
        .mix
        .iter()
        .filter(|(_, n)| *n == 0)
        .map(|(t, _)| t.as_str())
        .collect();
    mix.push_str(&format!("| **total** | **{}** |\n", thousands(total)));
    let m = &o.moved;
    let l = &o.load;
    let errors = if l.errors.is_empty() {
        "none".to_owned()
    } else {
        l.errors
            .iter()
            .map(|(k, v)| format!("{v} × {k}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let lost_total: i64 = o.lost.iter().map(Lost::missing).sum();
    let lost_detail = o
        .lost
        .iter()
        .map(|x| {
            format!(
                "{} {} of {}",
                x.what,
                thousands(x.on_target),
                thousands(x.acknowledged)
            )
        })
        .collect::<Vec<_>>()
        .join(", ");
    let results = format!(
        "| figure | value | how it is measured |\n|---|---:|---|\n\
         | rows copied | {rows} | the move's `rows_copied`: the store's rows on the target once the bulk copy is verified (the generated rows plus the load's writes until then) |\n\
         | bytes copied | {bytes} MB | the move's `bytes_copied` (sum of `pg_column_size` of those rows) |\n\
         | copy time | {copy:.2} s | from sending `POST /v1/moves` to the first poll of `GET /v1/moves/{{id}}` (every {poll} ms) that shows the move past `copying`: the target's hosting record, publication, slot, subscription and every table's initial copy |\n\
         | **copy rate** | **{rate} rows/s** | rows copied / copy time |\n\
         | floor | {floor:.2} s, **{frate} rows/s** | {frows} rows by a plain per-table `COPY (SELECT * FROM t WHERE store_id = …) TO STDOUT` streamed into `COPY t FROM STDIN` (sqlx `copy_out_raw` → `copy_in_raw`), one table after another, into a fresh database with the pod schema on the target's cluster, foreign keys and triggers off (`session_replication_role = replica`, as a subscription applies rows), generated columns computed on the way in |\n\
         | **write pause** | **{pause}** | the move's `pause_ms`: from the freeze (the router starts holding the store's requests) to the routing flip that releases them to the target, as the runner records it |\n\
         | total move time | {total_s} | the move's `duration_ms`: created to finished (copy, verification, catch-up, cut-over, clean-up) |\n\
         | outcome | {status} | the move's `status`{error} |\n\
         | writes | {sent} sent in {lsecs:.1} s ({wps:.0}/s), {acked} acknowledged | products created, stock adjusted, carts created, cart lines added, through the router, open loop |\n\
         | write errors | {errors} | any answer other than the expected 2xx, or no answer (421s the router retries are invisible here) |\n\
         | write latency during the move | p50 {dp50} ms, p99 {dp99} ms, **max {dmax} ms** | the {during} writes sent between the POST and the end of the move, client side (send to answer) |\n\
         | write latency, whole run | p50 {p50} ms, p99 {p99} ms, max {max} ms | every write |\n\
         | **lost writes** | **{lost}** | acknowledged writes missing from the target's database afterwards: {lost_detail} |\n",
        rows = thousands(m.rows_copied),
        bytes = m.bytes_copied / 1_000_000,
        copy = m.copy_secs,
        poll = POLL.as_millis(),
        rate = thousands(m.copy_rows_per_sec().round() as i64),
        floor = o.floor.seconds,
        frate = thousands(o.floor.rows_per_sec().round() as i64),
        frows = thousands(o.floor.rows as i64),
        pause = m.pause_ms.map_or_else(|| "none".into(), |p| format!("{p} ms")),
        total_s = m
            .duration_ms
            .map_or_else(|| "?".into(), |d| format!("{:.1} s", d as f64 / 1000.0)),
        status = m.status,
        error = m
            .error
            .as_deref()
            .map(|e| format!(": {e}"))
            .unwrap_or_default(),
        sent = thousands(l.sent as i64),
        lsecs = l.seconds,
        acked = thousands(l.acknowledged as i64),
        wps = per_second(l.sent as f64, l.seconds),
        dp50 = l.during_p50_ms,
        dp99 = l.during_p99_ms,
        dmax = l.during_max_ms,
        during = thousands(l.during as i64),
        p50 = l.p50_ms,
        p99 = l.p99_ms,
        max = l.max_ms,
        lost = lost_total,
    );
    let mut targets = String::from("| target | measured | met? |\n|---|---|---|\n");
    for v in o.verdicts() {
        targets.push_str(&format!(
            "| {} | {} | {} |\n",
            v.target,
            v.measured,
            if v.met { "**met**" } else { "**not met**" }
        ));
    }
    let mut timeline = String::from(
        "| phase or event | at s | lasted s | writes sent | their p99 ms | their max ms |\n\
         |---|---:|---:|---:|---:|---:|\n",
    );
    let latency = |what: &str| {
        o.by_phase.iter().find(|p| p.what == what).map_or_else(
            || " | | ".to_owned(),
            |p| format!("{} | {} | {}", p.writes, p.p99_ms, p.max_ms),
        )
    };
    timeline.push_str(&format!(
        "| before the move | | | {} |\n",
        latency("before the move")
    ));
    for (i, (what, at)) in m.logged.iter().enumerate() {
        let lasted = m
            .logged
            .get(i + 1)
            .map_or_else(String::new, |(_, next)| format!("{:.3}", next - at));
        let sent = o.by_phase.get(i + 1).map_or_else(
            || " | | ".to_owned(),
            |p| format!("{} | {} | {}", p.writes, p.p99_ms, p.max_ms),
        );
        timeline.push_str(&format!("| {what} | {at:.3} | {lasted} | {sent} |\n"));
    }
    timeline.push_str(&format!(
        "| after the move | | | {} |\n",
        latency("after the move")
    ));
    let rows_of = |table: &str| {
        o.mix
            .iter()
            .find(|(t, _)| t == table)
            .map_or(0, |(_, n)| *n)
    };
    let mut syncs =
        String::from("| table | rows | started at s | took s |\n|---|---:|---:|---:|\n");
    for (t, from, to) in &m.syncs {
        syncs.push_str(&format!(
            "| {t} | {} | {from:.2} | {:.2} |\n",
            thousands(rows_of(t)),
            to - from
        ));
    }
    let sync_summary = match m
        .syncs
        .iter()
        .max_by(|a, b| (a.2 - a.1).total_cmp(&(b.2 - b.1)))
    {
        Some((slowest, from, to)) => {
            let others_done = m
                .syncs
                .iter()
                .filter(|(t, _, _)| t != slowest)
                .map(|(_, _, end)| *end)
                .fold(0.0, f64::max);
            let others_rows = total - rows_of(slowest);
            format!(
                "All tables but {slowest} were copied {others_done:.1} s after the first sync started \
                 ({} rows, {} rows/s); {slowest} ({} rows) took {:.1} s, from {from:.1} s to {to:.1} s.\n\n",
                thousands(others_rows),
                thousands(per_second(others_rows as f64, others_done).round() as i64),
                thousands(rows_of(slowest)),
                to - from,
            )
        }
        None => "(no table synchronization found in the target's Postgres log)\n\n".to_owned(),
    };
    let floor_summary = match o.floor.tables.iter().max_by(|a, b| a.2.total_cmp(&b.2)) {
        Some((slowest, n, secs)) => {
            let rest = o.floor.rows.saturating_sub(*n);
            let rest_secs = o.floor.seconds - secs;
            format!(
                "The floor spends {secs:.1} of its {:.1} s on {slowest} ({} rows); the other {} rows take \
                 {rest_secs:.1} s ({} rows/s).\n\n",
                o.floor.seconds,
                thousands(*n as i64),
                thousands(rest as i64),
                thousands(per_second(rest as f64, rest_secs).round() as i64),
            )
        }
        None => String::new(),
    };
    let polled = m
        .polled
        .iter()
        .map(|(p, at)| format!("{p} {at:.2} s"))
        .collect::<Vec<_>>()
        .join(" → ");
    let mut floor_tables = String::from("| table | rows | s | rows/s |\n|---|---:|---:|---:|\n");
    for (t, n, s) in o.floor.tables.iter().filter(|(_, n, _)| *n > 0) {
        floor_tables.push_str(&format!(
            "| {t} | {} | {s:.2} | {} |\n",
            thousands(*n as i64),
            thousands(per_second(*n as f64, *s).round() as i64)
        ));
    }
    format!(
        "# Live store move: copy rate, write pause, lost writes\n\n\
         Generated by `scripts/bench.sh move` (`mercato bench move --rows {rows_arg} --writes-per-second {wps_arg}`, \
         release build) on {machine}, {date}.\n\n\
         The whole platform runs as separate processes started by `mercato up --pods 2`: router, control \
         plane, two pods each with its own Postgres 15 cluster (fsync on, `wal_level=logical`) and \
         redis-server, the test payment gateway and the tansu Kafka-API broker. The load generator and \
         the floor copy run in the benchmark process; everything shares the same {cores} cores.\n\n\
         ## The store\n\n\
         A store created through the control plane landed on {source}; the move takes it to {target}. \
         It was filled straight in {source}'s Postgres with set-based SQL (`mercato_pod::seed::catalog` and \
         `orders`): {products} products with their variants, stock, collections, categories and \
         search documents, and {orders} past orders with their customers, carts, checkouts, lines, \
         history, holds, stock adjustments, published outbox events and webhooks ({gen:.0} s). \
         Rows per table, counted with `count(*) … WHERE store_id = $1` over every table with a \
         `store_id` column (empty: {empty}):\n\n\
         {mix}\n\
         ## Results\n\n\
         {wps_arg} writes/s through the router: {settle} s before the move, during it, and {settle} s \
         after it.\n\n\
         {results}\n\
         ## Targets\n\n\
         {targets}\n\
         ## Where the time goes\n\n\
         Move `{id}`, its phases as the control plane logged them (its own clock, from the first entry), \
         with the writes sent during each (client side, sent to answered):\n\n\
         {timeline}\n\
         As polled: {polled}.\n\n\
         The copy, table by table, as the target's Postgres logged its table synchronizations \
         ({parallelism} at once, the control plane's `moves.copy_parallelism`; GIN tables first, \
         then the largest):\n\n\
         {syncs}\n\
         {sync_summary}\
         The floor, per table:\n\n\
         {floor_tables}\n\
         {floor_summary}\
         {notes}",
        parallelism = copy_parallelism(),
        rows_arg = opts.rows,
        wps_arg = opts.writes_per_second,
        machine = loadgen::machine(),
        date = Utc::now().format("%Y-%m-%d"),
        cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0),
        source = o.source,
        target = o.target,
        products = thousands(i64::from(o.products)),
        orders = thousands(i64::from(o.orders)),
        gen = o.generate_secs,
        empty = if empty.is_empty() {
            "none".to_owned()
        } else {
            empty.join(", ")
        },
        settle = opts.settle_secs,
        notes = NOTES,
        id = m.id,
    )
}

/// The copy parallelism the control plane runs with: its default, or the
/// variable that overrides it for `mercato up`.
fn copy_parallelism() -> usize {
    std::env::var("MERCATO_CONTROL_PLANE_MOVES__COPY_PARALLELISM")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| mercato_control_plane::moves::MoveSettings::default().copy_parallelism)
}

/// What the numbers mean, from looking at runs of this benchmark (the
/// separate measurements were made on the data a 1,000,000-row run left,
/// kept with `MERCATO_BENCH_KEEP=1`).
const NOTES: &str = "## Reading the numbers\n\n\
- The move's copy is Postgres logical replication: one table-sync worker per table runs its own filtered \
`COPY` on the source and applies it on the target, then the subscription streams what changed since. The \
control plane hands the subscription its tables a few at a time (`moves.copy_parallelism` large ones, by \
growing the publication and refreshing the subscription): tables with GIN indexes first, then the largest, so \
that no long copy starts last and runs on alone; small tables (under 10,000 rows) all at the start, so their \
workers' start-ups overlap the large copies instead of trailing them. The control plane looks at the \
subscription every 20 ms and hands over the next large table as soon as one has all its rows in (state \
`f`), while that table's worker still catches up: the gap between one copy's end and the next one's start \
went from 60 to 140 ms to next to nothing. The floor does the same reads and writes from one process, one \
table at a time, with none of the replication machinery, and without the write load.\n\
- **Copy rate.** `search_documents` (one row per product) is the slowest table in both: every row feeds four \
GIN indexes (full text, two trigram, facets). They batch inserts in a pending list (`fastupdate = on`, pod \
migration `…13`) whose limit is 256 kB for the pod's own sessions, to keep searches quick, and Postgres' \
default 4 MB for the subscription's workers and the floor; the mover merges what is left \
(`gin_clean_pending_list`) when the copy ends, inside the copy time above. Measured separately with 40,000 \
documents, a plain COPY takes 13.9 s with `fastupdate = off`, 3.7 s at 256 kB and 2.7 s at 4 MB. On two \
cores the copy is CPU-bound: the source's and the target's Postgres, both pods, the router and the load \
generator share them.\n\
- **Copy parallelism against live traffic.** More tables at once copies faster but starves the stores' \
live traffic on a small machine. Measured here over several runs, before the changes in the next point: 6 \
at once copied 96,000 to 102,000 rows/s while writes sent during the copy waited 0.1 to 1.4 s at p50 and \
2.4 to 4.7 s at p99 (the open-loop load outran the pod); 3 at once (the default) copied 88,000 to 94,000 \
rows/s with writes at p50 about 10 ms and p99 140 to 300 ms; 4 copied no faster than 3. With them, 3 at \
once copied 94,000 to 116,000 rows/s in nine runs (median 109,000; eight of the nine above 100,000) with \
writes during the copy at p99 22 to 32 ms; 2 at once copied 104,000 to 119,000 in four runs, no \
different within the noise. Run `MERCATO_CONTROL_PLANE_MOVES__COPY_PARALLELISM=6 \
scripts/bench.sh move --out docs/benchmarks/moves-parallel6.md` for the other side of the trade; pods \
with more cores than this machine can take a higher setting.\n\
- **What the rest of the machine costs the copy.** The copy gets what the stores' own traffic and the \
pods' background work leave of the two cores: with the load at 1 write/s (`--writes-per-second 1`) the \
same copy ran at 171,539 rows/s. Three things took more than they needed, measured with per-process CPU \
from `/proc` and `pg_stat_statements` on the source: (1) each pod's load report counted and sized every \
row of every store on each pull of the control plane (every 15 s): about 1.5 s of database time a pull \
on this pod, landing in most copies. Rows and bytes now come from a background sweep, one table at a time \
and at most 5 % busy (`fleet.size_sweep_busy_percent`), which the report only reads. (2) Postgres planned the \
write path's statements that take a list of ids (`= ANY($2)`, the search-document rebuild among them) \
again on every call: 4.5 s of planning in 30 s of the run, 0.15 of a core. A single id is now bound as a \
scalar, whose generic plan each connection keeps: 0.7 s in 30 s. The rebuild's generic plan takes 2.4 ms a \
call, as its custom plans did. (3) The control plane's 100 ms poll between copies, above. The mover also \
`ANALYZE`s the target's tables once the copy is in, so that the store's first requests there are not \
planned from statistics taken before a million rows arrived (with a forced generic plan, that once made \
the rebuild take 66 to 80 ms instead of about 2 ms).\n\
- **Write pause.** During the freeze the runner compares only the rows whose keys the source's change \
capture recorded since before the bulk verification (`move_capture`, pod migration `…12`), a few hundred \
at 200 writes/s, so the pause no longer grows with the store; the bulk copy was compared bucket by bucket \
before the freeze, live (the `verifying` phase above, which reads the whole store on both sides).\n\
- **Latency.** Writes sent during the freeze are held until the flip and then answered by the target, \
which answers slowly for a moment after the switch (see the writes sent in `cleaning_up` and after the \
move): it is probably busy with the million rows it has just taken in (autovacuum, cold caches) on the \
same cores; not traced per request. So a client sees a longer stall than `pause_ms`, which ends at the \
routing flip.\n\
- **Noise.** The machine's two cores are shared with other work, so runs differ by about 10 % in copy \
rate and by tens of milliseconds in pause.\n";

#[cfg(test)]
mod tests {
    use super::*;

    fn figures() -> Figures {
        Figures {
            completed: true,
            pause_ms: Some(120),
            copy_rows_per_sec: 150_000.0,
            floor_rows_per_sec: 200_000.0,
            lost: 0,
        }
    }

    #[test]
    fn every_target_met() {
        let v = verdicts(&figures());
        assert_eq!(v.len(), 4);
        assert!(v.iter().all(|v| v.met), "{v:?}");
        assert_eq!(v[0].measured, "120 ms");
        assert_eq!(v[1].measured, "150,000 rows/s");
        assert_eq!(
            v[2].measured,
            "1.33× the floor's time (the floor: 200,000 rows/s)"
        );
        assert_eq!(v[3].measured, "0 lost");
    }

    #[test]
    fn each_target_can_be_missed() {
        let met = |f: Figures| verdicts(&f).iter().map(|v| v.met).collect::<Vec<_>>();
        assert_eq!(
            met(Figures {
                pause_ms: Some(300),
                ..figures()
            }),
            [false, true, true, true]
        );
        assert_eq!(
            met(Figures {
                pause_ms: None,
                ..figures()
            }),
            [false, true, true, true]
        );
        assert_eq!(
            met(Figures {
                copy_rows_per_sec: 99_999.0,
                floor_rows_per_sec: 120_000.0,
                ..figures()
            }),
            [true, false, true, true]
        );
        assert_eq!(
            met(Figures {
                floor_rows_per_sec: 225_001.0,
                ..figures()
            }),
            [true, true, false, true]
        );
        assert_eq!(
            met(Figures {
                lost: 1,
                ..figures()
            }),
            [true, true, true, false]
        );
        let failed = verdicts(&Figures {
            completed: false,
            ..figures()
        });
        assert!(!failed[3].met);
        assert_eq!(failed[3].measured, "the move did not complete");
        let nothing = verdicts(&Figures {
            copy_rows_per_sec: 0.0,
            ..figures()
        });
        assert!(!nothing[1].met && !nothing[2].met);
    }

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(thousands(-12_345), "-12,345");
    }

    #[test]
    fn the_move_log_keeps_one_moves_phases_and_events_in_order() {
        let id = "0193a0c0-0000-7000-8000-000000000001";
        let log = format!(
            "{{\"timestamp\":\"2026-01-02T10:00:00.000000Z\",\"level\":\"INFO\",\"message\":\"move phase\",\"move_id\":\"{id}\",\"phase\":\"copying\"}}\n\
             {{\"timestamp\":\"2026-01-02T10:00:00.500000Z\",\"level\":\"INFO\",\"message\":\"move phase\",\"move_id\":\"other\",\"phase\":\"copying\"}}\n\
             not json at all\n\
             {{\"timestamp\":\"2026-01-02T10:00:04.250000Z\",\"level\":\"INFO\",\"message\":\"move phase\",\"move_id\":\"{id}\",\"phase\":\"verifying\"}}\n\
             {{\"timestamp\":\"2026-01-02T10:00:09.000000Z\",\"level\":\"INFO\",\"message\":\"store switched to its new pod\",\"move_id\":\"{id}\",\"pause_ms\":80}}\n"
        );
        let entries = move_log(&log, id);
        let names: Vec<&str> = entries.iter().map(|(_, w)| w.as_str()).collect();
        assert_eq!(
            names,
            ["copying", "verifying", "store switched to its new pod"]
        );
        assert_eq!(
            (entries[1].0 - entries[0].0).num_milliseconds(),
            4_250,
            "times come from the log"
        );
        assert!(move_log("", id).is_empty());
    }

    #[test]
    fn table_syncs_are_read_from_the_targets_postgres_log() {
        let sub = "mercato_move_0193a0c0000070008000000000000001";
        let log = format!(
            "2026-11-21 12:35:42.958 UTC [1] LOG:  logical replication table synchronization worker for subscription \"{sub}\", table \"carts\" has started\n\
             2026-11-21 12:35:43.000 UTC [2] LOG:  logical replication table synchronization worker for subscription \"other\", table \"carts\" has started\n\
             2026-11-21 12:35:43.458 UTC [3] LOG:  logical replication table synchronization worker for subscription \"{sub}\", table \"api_keys\" has started\n\
             2026-11-21 12:35:44.208 UTC [1] LOG:  logical replication table synchronization worker for subscription \"{sub}\", table \"carts\" has finished\n\
             2026-11-21 12:35:44.000 UTC [4] LOG:  checkpoint starting: time\n\
             2026-11-21 12:35:45.958 UTC [3] LOG:  logical replication table synchronization worker for subscription \"{sub}\", table \"api_keys\" has finished\n"
        );
        assert_eq!(
            sync_log(&log, sub),
            vec![
                ("carts".to_owned(), 0.0, 1.25),
                ("api_keys".to_owned(), 0.5, 3.0)
            ]
        );
        assert!(sync_log(&log, "mercato_move_none").is_empty());
    }
}
