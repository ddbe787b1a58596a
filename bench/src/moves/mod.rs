//! `mercato bench move`: a live move of a generated store between two pods
//! while shoppers and staff write to it, on the whole platform started by
//! `mercato up --pods 2` (separate processes, each pod with its own
//! Postgres cluster and Redis).
//!
//! 1. A store is created through the control plane (its pod is the source,
//!    the other pod the target) and filled with about `--rows` rows across
//!    its tables, straight in the source's Postgres (set-based SQL).
//! 2. The floor: the same rows copied table after table with a plain
//!    `COPY (SELECT * ... WHERE store_id = ...) TO STDOUT` streamed into
//!    `COPY ... FROM STDIN` of a scratch database on the target's cluster.
//! 3. The move: `--writes-per-second` writes through the router (product
//!    creations, stock adjustments, carts and cart lines), `POST /v1/moves`
//!    after a few seconds, the move followed until it ends, the load kept
//!    up a few seconds more; then every acknowledged write is looked up in
//!    the target's database.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use chrono::Utc;
use futures::StreamExt as _;
use mercato_pod::seed;
use mercato_tenants::{quote_ident as ident, StoreId};
use serde_json::{json, Value};
use sqlx::postgres::{PgPoolCopyExt as _, PgPoolOptions};
use sqlx::{Connection as _, PgPool};
use uuid::Uuid;

mod load;
mod report;

use load::{drive, load_figures, lost_writes, LoadFigures, Lost, Writer};
use report::{
    latency_by_phase, move_log, per_second, phase_windows, report, sync_log, verdicts, Figures,
    Verdict,
};

#[derive(clap::Args, Debug, Clone)]
pub struct MoveArgs {
    /// Rows of the generated store across its tables (about: half catalog,
    /// half orders and what goes with them).
    #[arg(long, default_value_t = 1_000_000)]
    pub rows: u64,
    /// Writes per second through the router, before, during and after the
    /// move.
    #[arg(long, default_value_t = 200)]
    pub writes_per_second: u32,
    /// Seconds of load before the move starts, and again after it ends.
    #[arg(long, default_value_t = 5)]
    pub settle_secs: u64,
    /// First internal port of the platform under test.
    #[arg(long, default_value_t = 17600)]
    pub port_base: u16,
    /// Where the Markdown report goes.
    #[arg(long, default_value = "docs/benchmarks/moves.md")]
    pub out: PathBuf,
}

/// The control plane logs every move phase at `info`; the rest stays quiet.
const LOG_FILTER: &str = "warn,mercato_control_plane::moves=info";

/// How often the move is polled for its phase.
const POLL: Duration = Duration::from_millis(20);

/// The subject of the load's staff token: its stock adjustments carry it
/// as their actor.
const LOAD_ACTOR: &str = "bench-load";

/// `mercato bench move`.
pub async fn run(opts: MoveArgs) -> anyhow::Result<()> {
    let outcome = super::on_up(
        opts.port_base,
        2,
        &[("RUST_LOG", LOG_FILTER)],
        |router, data| {
            let opts = opts.clone();
            async move { measure(&router, &data, &opts).await }
        },
    )
    .await?;
    let text = report(&opts, &outcome);
    if let Some(dir) = opts.out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&opts.out, &text).with_context(|| format!("writing {}", opts.out.display()))?;
    for v in &outcome.verdicts() {
        println!(
            "{}: {} ({})",
            v.target,
            v.measured,
            if v.met { "met" } else { "NOT met" }
        );
    }
    println!("written to {}", opts.out.display());
    Ok(())
}

/// Everything the report shows.
struct Outcome {
    source: String,
    target: String,
    products: u32,
    orders: u32,
    generate_secs: f64,
    mix: Vec<(String, i64)>,
    floor: Floor,
    moved: Moved,
    load: LoadFigures,
    lost: Vec<Lost>,
    /// Writes by when they were sent: before the move, in each logged
    /// phase, after it.
    by_phase: Vec<PhaseLatency>,
}

/// The writes sent during one part of the run.
struct PhaseLatency {
    what: String,
    writes: usize,
    p99_ms: f64,
    max_ms: f64,
}

impl Outcome {
    fn total_rows(&self) -> i64 {
        self.mix.iter().map(|(_, n)| n).sum()
    }

    fn verdicts(&self) -> Vec<Verdict> {
        verdicts(&Figures {
            completed: self.moved.status == "completed",
            pause_ms: self.moved.pause_ms,
            copy_rows_per_sec: self.moved.copy_rows_per_sec(),
            floor_rows_per_sec: self.floor.rows_per_sec(),
            lost: self.lost.iter().map(Lost::missing).sum(),
        })
    }
}

/// The plain per-table copy.
struct Floor {
    seconds: f64,
    rows: u64,
    /// Table, rows, seconds.
    tables: Vec<(String, u64, f64)>,
}

impl Floor {
    fn rows_per_sec(&self) -> f64 {
        per_second(self.rows as f64, self.seconds)
    }
}

/// The move as it went.
struct Moved {
    id: String,
    status: String,
    error: Option<String>,
    rows_copied: i64,
    bytes_copied: i64,
    pause_ms: Option<i64>,
    duration_ms: Option<i64>,
    /// From `POST /v1/moves` to the first poll past `copying`.
    copy_secs: f64,
    /// Phases as polled: name and when first seen, since the POST.
    polled: Vec<(String, f64)>,
    /// Phases and events as the control plane logged them: name and
    /// seconds since the first.
    logged: Vec<(String, f64)>,
    /// When the first logged entry was, in seconds since the POST (same
    /// machine, same wall clock).
    logged_after_post: f64,
    /// Each table's initial copy as the target's Postgres logged it:
    /// table, start and end in seconds since the first start.
    syncs: Vec<(String, f64, f64)>,
}

impl Moved {
    fn copy_rows_per_sec(&self) -> f64 {
        per_second(self.rows_copied as f64, self.copy_secs)
    }
}

/// The database of pod `pod-<n>` as `mercato up` makes it in `data`:
/// cluster folder `pg-pod-<n>`, port `port_base + 10 + n`, database
/// `mercato`.
fn pod_database_url(
    data: &std::path::Path,
    port_base: u16,
    pod_name: &str,
    database: &str,
) -> Option<String> {
    let n: u16 = pod_name.strip_prefix("pod-")?.parse().ok()?;
    let port = port_base.checked_add(10)?.checked_add(n)?;
    Some(mercato_devstack::local::PgCluster::url_of(
        &data.join(format!("pg-pod-{n}")),
        port,
        database,
    ))
}

/// The platform as the operator and the benchmark's clients reach it.
#[derive(Clone)]
struct Platform {
    http: reqwest::Client,
    router: String,
    operator: String,
}

impl Platform {
    fn operator(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.router))
            .header("host", "localhost")
            .bearer_auth(&self.operator)
    }

    async fn json(r: reqwest::RequestBuilder) -> anyhow::Result<Value> {
        let r = r.send().await?;
        let status = r.status();
        let body: Value = r.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            bail!("{status}: {body}");
        }
        Ok(body)
    }

    /// Waits for `mercato up` to finish (its demo store has products).
    async fn connect(router: &str, data: &Path) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(256)
            .timeout(Duration::from_secs(60))
            .build()?;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(180);
        loop {
            let page = match http
                .get(format!("{router}/api/products?limit=1"))
                .header("host", "demo.localhost")
                .send()
                .await
            {
                Ok(r) if r.status().is_success() => r.json::<Value>().await.ok(),
                _ => None,
            };
            if page.is_some_and(|p| p["items"].get(0).is_some()) {
                break;
            }
            if tokio::time::Instant::now() > deadline {
                bail!("the platform did not come up within 180 s");
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        let operator = std::fs::read_to_string(data.join("operator.token"))
            .context("reading the operator token")?;
        Ok(Self {
            http,
            router: router.to_owned(),
            operator: operator.trim().to_owned(),
        })
    }
}

/// A store created for the benchmark, and where it lives.
struct BenchStore {
    id: StoreId,
    host: String,
    staff: String,
    source: (String, String),
    target: (String, String),
    target_id: Value,
}

async fn create_store(
    p: &Platform,
    data: &std::path::Path,
    port_base: u16,
) -> anyhow::Result<BenchStore> {
    let handle = "move-bench";
    let store = Platform::json(
        p.operator(reqwest::Method::POST, "/v1/stores")
            .json(&json!({"name": "Move Bench", "handle": handle,
                          "owner_email": "owner@move-bench.example"})),
    )
    .await
    .context("creating the store")?;
    let id: StoreId = store["id"]
        .as_str()
        .context("store without id")?
        .parse()
        .map_err(|e| anyhow::anyhow!("store id: {e:?}"))?;
    let token = Platform::json(
        p.operator(reqwest::Method::POST, &format!("/v1/stores/{id}/tokens"))
            .json(&json!({"role": "staff", "subject": LOAD_ACTOR})),
    )
    .await?;
    let staff = token["token"].as_str().context("no token")?.to_owned();
    let pods = Platform::json(p.operator(reqwest::Method::GET, "/v1/pods")).await?;
    let pods = pods.as_array().context("pods: not a list")?;
    let source = pods
        .iter()
        .find(|pod| pod["id"] == store["pod_id"])
        .context("the store's pod is not listed")?;
    let target = pods
        .iter()
        .find(|pod| pod["id"] != store["pod_id"])
        .context("no second pod")?;
    let place = |pod: &Value| -> anyhow::Result<(String, String)> {
        let name = pod["name"].as_str().context("pod without name")?.to_owned();
        let url = pod_database_url(data, port_base, &name, "mercato")
            .with_context(|| format!("pod {name} was not started by `mercato up`"))?;
        Ok((name, url))
    };
    let host = format!("{handle}.localhost");
    // The router learns of a new store within a second or so.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let r = p
            .http
            .get(format!("{}/admin/api/products?limit=1", p.router))
            .header("host", &host)
            .bearer_auth(&staff)
            .send()
            .await;
        if r.is_ok_and(|r| r.status().is_success()) {
            break;
        }
        if tokio::time::Instant::now() > deadline {
            bail!("the router did not route the new store within 30 s");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok(BenchStore {
        id,
        host,
        staff,
        source: place(source)?,
        target: place(target)?,
        target_id: target["id"].clone(),
    })
}

async fn measure(router: &str, data: &Path, opts: &MoveArgs) -> anyhow::Result<Outcome> {
    let platform = Platform::connect(router, data).await?;
    let store = create_store(&platform, data, opts.port_base).await?;
    println!(
        "store {} on {}, moving to {}",
        store.id, store.source.0, store.target.0
    );
    let source = PgPoolOptions::new()
        .max_connections(4)
        .connect(&store.source.1)
        .await
        .context("connecting to the source pod's database")?;

    // 1. The store's rows: about half catalog, half orders.
    let started = Instant::now();
    // A product brings about 13 to 19 rows (variants, stock, search, ...).
    let products = (opts.rows / 27).clamp(100, u32::MAX as u64) as u32;
    println!("generating {products} products ...");
    seed::catalog(&source, store.id, products).await?;
    let catalog: i64 = seed::store_rows(&source, store.id)
        .await?
        .iter()
        .map(|(_, n)| n)
        .sum();
    // An order brings about 15.5 rows (see `mercato_pod::seed::orders`).
    let orders = ((opts.rows as f64 - catalog as f64).max(0.0) / 15.5).round() as u32;
    println!("{catalog} catalog rows; generating {orders} orders ...");
    seed::orders(&source, store.id, orders).await?;
    let generate_secs = started.elapsed().as_secs_f64();
    let mix = seed::store_rows(&source, store.id).await?;
    let total: i64 = mix.iter().map(|(_, n)| n).sum();
    println!("{total} rows in {generate_secs:.1} s");

    // 2. The floor.
    let tables: Vec<String> = mix.iter().map(|(t, _)| t.clone()).collect();
    println!("floor: plain COPY of every table ...");
    let floor = copy_floor(&source, &store, &tables).await?;
    println!(
        "floor: {} rows in {:.2} s ({:.0} rows/s)",
        floor.rows,
        floor.seconds,
        floor.rows_per_sec()
    );

    // 3. The move under load.
    let variants: Vec<(Uuid,)> = sqlx::query_as(
        "SELECT v.id FROM variants v
           JOIN products p ON p.store_id = v.store_id AND p.id = v.product_id
           JOIN inventory_levels l ON l.store_id = v.store_id AND l.variant_id = v.id
          WHERE v.store_id = $1 AND p.status = 'active' AND l.on_hand > 0
          ORDER BY v.id LIMIT 1000",
    )
    .bind(store.id.as_uuid())
    .fetch_all(&source)
    .await?;
    source.close().await;
    let writer = Arc::new(Writer {
        http: platform.http.clone(),
        router: platform.router.clone(),
        host: store.host.clone(),
        staff: store.staff.clone(),
        variants: variants.into_iter().map(|(v,)| v).collect(),
        ledger: Mutex::default(),
        carts: Mutex::default(),
        reported: Mutex::new(0),
    });
    anyhow::ensure!(
        !writer.variants.is_empty(),
        "no variant in stock to write to"
    );
    let stop = Arc::new(AtomicBool::new(false));
    let load_started = Instant::now();
    let load = tokio::spawn(drive(
        writer.clone(),
        opts.writes_per_second.max(1),
        stop.clone(),
    ));
    let settle = Duration::from_secs(opts.settle_secs);
    tokio::time::sleep(settle).await;
    println!("moving ...");
    let moved = follow_move(&platform, &store, data).await;
    let move_window = moved.as_ref().map(|(_, w)| *w).ok();
    tokio::time::sleep(settle).await;
    stop.store(true, Ordering::Relaxed);
    let sent = load.await.context("the load generator failed")?;
    let load_secs = load_started.elapsed().as_secs_f64();
    let (moved, _) = moved?;
    let ledger = std::mem::take(&mut *writer.ledger.lock().expect("ledger lock"));
    let load = load_figures(&ledger, sent, load_secs, move_window);
    let by_phase = match move_window {
        Some((posted, ended)) => latency_by_phase(
            &ledger.samples,
            &phase_windows(&moved, load_started, posted, ended, Instant::now()),
        ),
        None => Vec::new(),
    };
    let lost = lost_writes(&store, &ledger).await?;
    Ok(Outcome {
        source: store.source.0,
        target: store.target.0,
        products,
        orders,
        generate_secs,
        mix,
        floor,
        moved,
        load,
        lost,
        by_phase,
    })
}

/// The floor: every table's rows of the store, one table after another,
/// `COPY ... TO STDOUT` on the source streamed into `COPY ... FROM STDIN`
/// of a fresh database with the pod schema on the target's cluster (where
/// the move writes too). Foreign keys are not checked on the way in
/// (`session_replication_role = replica`, as a subscription applies rows).
async fn copy_floor(
    source: &PgPool,
    store: &BenchStore,
    tables: &[String],
) -> anyhow::Result<Floor> {
    let cluster = |db: &str| {
        store
            .target
            .1
            .rsplit_once('/')
            .map(|(base, _)| format!("{base}/{db}"))
            .context("target database url")
    };
    let mut admin = sqlx::PgConnection::connect(&cluster("postgres")?).await?;
    sqlx::query("DROP DATABASE IF EXISTS bench_floor WITH (FORCE)")
        .execute(&mut admin)
        .await?;
    sqlx::query("CREATE DATABASE bench_floor")
        .execute(&mut admin)
        .await?;
    let scratch = PgPoolOptions::new()
        .max_connections(1)
        .connect(&cluster("bench_floor")?)
        .await?;
    seed::migrate(&scratch)
        .await
        .context("the pod schema in the scratch database")?;
    let mut conn = scratch.acquire().await?;
    sqlx::query("SET session_replication_role = replica")
        .execute(&mut *conn)
        .await?;
    let mut copied = Vec::with_capacity(tables.len());
    let started = Instant::now();
    for table in tables {
        let t0 = Instant::now();
        let quoted = ident(table);
        let columns = copied_columns(source, table).await?;
        let mut sink = conn
            .copy_in_raw(&format!("COPY {quoted} ({columns}) FROM STDIN"))
            .await?;
        let mut rows = source
            .copy_out_raw(&format!(
                "COPY (SELECT {columns} FROM {quoted} WHERE store_id = '{}') TO STDOUT",
                store.id
            ))
            .await?;
        while let Some(chunk) = rows.next().await {
            sink.send(chunk?).await?;
        }
        let n = sink.finish().await?;
        copied.push((table.clone(), n, t0.elapsed().as_secs_f64()));
    }
    let seconds = started.elapsed().as_secs_f64();
    drop(conn);
    scratch.close().await;
    sqlx::query("DROP DATABASE bench_floor WITH (FORCE)")
        .execute(&mut admin)
        .await?;
    admin.close().await?;
    Ok(Floor {
        seconds,
        rows: copied.iter().map(|(_, n, _)| n).sum(),
        tables: copied,
    })
}

/// The columns of `table` a copy carries, quoted, in table order: all but
/// generated ones, which the receiving side computes (as a subscriber
/// does).
async fn copied_columns(db: &PgPool, table: &str) -> anyhow::Result<String> {
    let columns: Vec<(String,)> = sqlx::query_as(
        "SELECT a.attname::text FROM pg_attribute a
          WHERE a.attrelid = (SELECT c.oid FROM pg_class c
                                JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public'
                               WHERE c.relname = $1)
            AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
          ORDER BY a.attnum",
    )
    .bind(table)
    .fetch_all(db)
    .await?;
    anyhow::ensure!(!columns.is_empty(), "table {table} has no columns");
    Ok(columns
        .iter()
        .map(|(c,)| ident(c))
        .collect::<Vec<_>>()
        .join(", "))
}

/// Starts the move, polls it every [`POLL`] until it ends, and reads its
/// phases from the control plane's log. Also returns when it ran (from the
/// POST to the poll that saw it end).
async fn follow_move(
    p: &Platform,
    store: &BenchStore,
    data: &Path,
) -> anyhow::Result<(Moved, (Instant, Instant))> {
    let posted = Instant::now();
    let posted_wall = Utc::now();
    let mv = Platform::json(
        p.operator(reqwest::Method::POST, "/v1/moves")
            .json(&json!({"store_id": store.id, "target_pod_id": store.target_id})),
    )
    .await
    .context("starting the move")?;
    let id = mv["id"].as_str().context("move without id")?.to_owned();
    let mut polled: Vec<(String, f64)> = Vec::new();
    let deadline = posted + Duration::from_secs(3600);
    let last = loop {
        let r = p
            .operator(reqwest::Method::GET, &format!("/v1/moves/{id}"))
            .send()
            .await;
        let seen = Instant::now();
        if let Ok(r) = r {
            if let Ok(mv) = r.json::<Value>().await {
                let phase = mv["phase"].as_str().unwrap_or("?").to_owned();
                if polled.last().is_none_or(|(p, _)| *p != phase) {
                    println!(
                        "  {:>7.2} s  {phase}  rows {}  lag {}",
                        (seen - posted).as_secs_f64(),
                        mv["rows_copied"],
                        mv["lag_bytes"]
                    );
                    polled.push((phase, (seen - posted).as_secs_f64()));
                }
                if mv["status"] != "running" {
                    break mv;
                }
            }
        }
        if seen > deadline {
            bail!("the move did not end within an hour");
        }
        tokio::time::sleep(POLL).await;
    };
    let ended = Instant::now();
    let copy_secs = polled
        .iter()
        .find(|(phase, _)| phase != "copying" && phase != "preflight")
        .map_or(0.0, |(_, at)| *at);
    let log =
        std::fs::read_to_string(data.join("logs").join("control-plane.log")).unwrap_or_default();
    let entries = move_log(&log, &id);
    let logged_after_post = entries.first().map_or(0.0, |(t0, _)| {
        (*t0 - posted_wall).num_microseconds().unwrap_or(0) as f64 / 1e6
    });
    let subscription = id
        .parse::<mercato_tenants::MoveId>()
        .map(mercato_control_plane::moves::replication_name)
        .unwrap_or_default();
    let pg_log = std::fs::read_to_string(data.join(format!("pg-{}.log", store.target.0)))
        .unwrap_or_default();
    let syncs = sync_log(&pg_log, &subscription);
    let logged = entries
        .first()
        .map(|(t0, _)| {
            entries
                .iter()
                .map(|(t, what)| {
                    (
                        what.clone(),
                        (*t - *t0).num_microseconds().unwrap_or(0) as f64 / 1e6,
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    Ok((
        Moved {
            id,
            status: last["status"].as_str().unwrap_or("?").to_owned(),
            error: last["error"].as_str().map(str::to_owned),
            rows_copied: last["rows_copied"].as_i64().unwrap_or(0),
            bytes_copied: last["bytes_copied"].as_i64().unwrap_or(0),
            pause_ms: last["pause_ms"].as_i64(),
            duration_ms: last["duration_ms"].as_i64(),
            copy_secs,
            polled,
            logged,
            logged_after_post,
            syncs,
        },
        (posted, ended),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pod_databases_follow_the_port_layout_of_up() {
        let data = std::path::Path::new("/nonexistent");
        assert_eq!(
            pod_database_url(data, 17600, "pod-2", "mercato").as_deref(),
            Some("postgres://mercato@127.0.0.1:17612/mercato")
        );
        assert_eq!(pod_database_url(data, 17600, "edge-1", "mercato"), None);
        assert_eq!(pod_database_url(data, 65530, "pod-9", "mercato"), None);
    }
}
