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

use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use chrono::{DateTime, Utc};
use futures::StreamExt as _;
use mercato_tenants::{quote_ident as ident, StoreId};
use serde_json::{json, Value};
use sqlx::postgres::{PgPoolCopyExt as _, PgPoolOptions};
use sqlx::{Connection as _, PgPool};
use uuid::Uuid;

use super::loadgen;

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

/// The write load as the clients saw it.
struct LoadFigures {
    sent: u64,
    acknowledged: u64,
    seconds: f64,
    /// Non-2xx answers and transport failures, by write and status.
    errors: BTreeMap<String, usize>,
    /// Writes sent while the move ran, and their latencies.
    during: usize,
    during_p50_ms: f64,
    during_p99_ms: f64,
    during_max_ms: f64,
    /// All writes.
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
}

/// Acknowledged writes of one kind, and how many the target has.
struct Lost {
    what: &'static str,
    acknowledged: i64,
    on_target: i64,
}

impl Lost {
    fn missing(&self) -> i64 {
        (self.acknowledged - self.on_target).max(0)
    }
}

fn per_second(n: f64, secs: f64) -> f64 {
    if secs > 0.0 {
        n / secs
    } else {
        0.0
    }
}

/// The figures the targets are about.
struct Figures {
    completed: bool,
    pause_ms: Option<i64>,
    copy_rows_per_sec: f64,
    floor_rows_per_sec: f64,
    lost: i64,
}

#[derive(Debug, PartialEq)]
struct Verdict {
    target: &'static str,
    measured: String,
    met: bool,
}

/// The targets: pause under 300 ms, copy at least 100,000 rows/s
/// and within 1.5x of the floor, zero lost writes (of a completed move).
fn verdicts(f: &Figures) -> Vec<Verdict> {
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
                "{ratio:.2}× slower than the floor ({} rows/s)",
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

/// `1234567` as `1,234,567` (the CLI's [`count`](crate::ops::render::count),
/// signed).
fn thousands(n: i64) -> String {
    let out = crate::ops::render::count(n.unsigned_abs());
    if n < 0 {
        format!("-{out}")
    } else {
        out
    }
}

/// The lines of the control plane's JSON log about move `id`: the phases
/// it entered (`phase`) and its other events (their message), with their
/// times, in log order.
fn move_log(log: &str, id: &str) -> Vec<(DateTime<Utc>, String)> {
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

/// The database of pod `pod-<n>` as `mercato up` makes it: cluster port
/// `port_base + 10 + n`, database `mercato`.
fn pod_database_url(port_base: u16, pod_name: &str, database: &str) -> Option<String> {
    let n: u16 = pod_name.strip_prefix("pod-")?.parse().ok()?;
    let port = port_base.checked_add(10)?.checked_add(n)?;
    Some(format!("postgres://mercato@127.0.0.1:{port}/{database}"))
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

async fn create_store(p: &Platform, port_base: u16) -> anyhow::Result<BenchStore> {
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
        let url = pod_database_url(port_base, &name, "mercato")
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
    let store = create_store(&platform, opts.port_base).await?;
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
    super::seed(&source, store.id, products).await?;
    let catalog: i64 = super::store_rows(&source, store.id)
        .await?
        .iter()
        .map(|(_, n)| n)
        .sum();
    // An order brings about 15.5 rows (see seed_orders).
    let orders = ((opts.rows as f64 - catalog as f64).max(0.0) / 15.5).round() as u32;
    println!("{catalog} catalog rows; generating {orders} orders ...");
    super::seed_orders(&source, store.id, orders).await?;
    let generate_secs = started.elapsed().as_secs_f64();
    let mix = super::store_rows(&source, store.id).await?;
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
    sqlx::migrate!("./migrations/pod")
        .run(&scratch)
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
        .parse::<Uuid>()
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

/// What the writers saw.
#[derive(Default)]
struct Ledger {
    products: Vec<Uuid>,
    carts: Vec<Uuid>,
    /// Cart and variant of each acknowledged line.
    lines: Vec<(Uuid, Uuid)>,
    adjustments: i64,
    acknowledged: u64,
    errors: BTreeMap<String, usize>,
    /// When each write was sent, and how long its answer took (answered
    /// or not).
    samples: Vec<(Instant, Duration)>,
}

/// Sends the store's writes through the router.
struct Writer {
    http: reqwest::Client,
    router: String,
    host: String,
    staff: String,
    /// Active variants in stock: stock adjustments and cart lines.
    variants: Vec<Uuid>,
    ledger: Mutex<Ledger>,
    /// Acknowledged carts waiting for their line, with their tokens.
    carts: Mutex<VecDeque<(Uuid, String)>>,
    /// Error bodies printed so far.
    reported: Mutex<usize>,
}

impl Writer {
    fn at(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.router))
            .header("host", &self.host)
    }

    fn note(&self, f: impl FnOnce(&mut Ledger)) {
        f(&mut self.ledger.lock().expect("ledger lock"));
    }

    /// The answer's body if its status is `want`; otherwise the failure
    /// is counted under `what` and its status.
    async fn send(&self, what: &str, r: reqwest::RequestBuilder, want: u16) -> Option<Value> {
        let failure = match r.send().await {
            Ok(r) if r.status().as_u16() == want => {
                return Some(r.json().await.unwrap_or(Value::Null))
            }
            Ok(r) => {
                let label = format!("{what} {}", r.status().as_u16());
                let body = r.text().await.unwrap_or_default();
                (label, body)
            }
            Err(e) => (format!("{what}: transport"), e.to_string()),
        };
        let first = {
            let mut n = self.reported.lock().expect("report lock");
            *n += 1;
            *n <= 10
        };
        if first {
            eprintln!(
                "write failed: {} {}",
                failure.0,
                failure.1.chars().take(300).collect::<String>()
            );
        }
        self.note(|l| *l.errors.entry(failure.0).or_default() += 1);
        None
    }

    /// Write `i`: in turn a product creation (staff), a stock adjustment
    /// (staff), a new cart (shopper) and a line in an earlier cart
    /// (shopper; an adjustment when no cart is waiting).
    async fn write(self: Arc<Self>, i: u64) {
        let sent = Instant::now();
        let variant = self.variants[(i / 4) as usize % self.variants.len()];
        let acked = match i % 4 {
            0 => self.create_product(i).await,
            2 => self.create_cart().await,
            3 => {
                let waiting = self.carts.lock().expect("carts lock").pop_front();
                match waiting {
                    Some((cart, token)) => self.add_line(cart, &token, variant).await,
                    None => self.adjust(variant).await,
                }
            }
            _ => self.adjust(variant).await,
        };
        let took = sent.elapsed();
        self.note(|l| {
            l.samples.push((sent, took));
            l.acknowledged += u64::from(acked);
        });
    }

    async fn create_product(&self, i: u64) -> bool {
        let body = json!({"title": format!("Load {i}"), "status": "active",
                          "variants": [{"sku": format!("LOAD-{i}"), "price_minor": 500}]});
        let r = self
            .at(reqwest::Method::POST, "/admin/api/products")
            .bearer_auth(&self.staff)
            .json(&body);
        let Some(product) = self.send("product", r, 201).await else {
            return false;
        };
        match product["id"].as_str().and_then(|s| s.parse().ok()) {
            Some(id) => {
                self.note(|l| l.products.push(id));
                true
            }
            None => false,
        }
    }

    async fn adjust(&self, variant: Uuid) -> bool {
        let r = self
            .at(
                reqwest::Method::POST,
                &format!("/admin/api/variants/{variant}/stock/adjustments"),
            )
            .bearer_auth(&self.staff)
            .json(&json!({"delta": 1, "reason": "received"}));
        let acked = self.send("stock", r, 200).await.is_some();
        if acked {
            self.note(|l| l.adjustments += 1);
        }
        acked
    }

    async fn create_cart(&self) -> bool {
        let r = self.at(reqwest::Method::POST, "/api/cart");
        let Some(body) = self.send("cart", r, 201).await else {
            return false;
        };
        let id = body["cart"]["id"].as_str().and_then(|s| s.parse().ok());
        let token = body["token"].as_str().map(str::to_owned);
        match (id, token) {
            (Some(id), Some(token)) => {
                self.note(|l| l.carts.push(id));
                self.carts
                    .lock()
                    .expect("carts lock")
                    .push_back((id, token));
                true
            }
            _ => false,
        }
    }

    async fn add_line(&self, cart: Uuid, token: &str, variant: Uuid) -> bool {
        let r = self
            .at(reqwest::Method::POST, "/api/cart/lines")
            .header("x-cart-token", token)
            .json(&json!({"variant_id": variant, "quantity": 1}));
        let acked = self.send("cart line", r, 200).await.is_some();
        if acked {
            self.note(|l| l.lines.push((cart, variant)));
        }
        acked
    }
}

/// Sends `rate` writes a second (open loop: a slow answer does not delay
/// the next write) until `stop`; waits for the answers. Returns how many
/// were sent.
async fn drive(writer: Arc<Writer>, rate: u32, stop: Arc<AtomicBool>) -> u64 {
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(rate)));
    let mut writes = tokio::task::JoinSet::new();
    let mut sent = 0u64;
    while !stop.load(Ordering::Relaxed) {
        tick.tick().await;
        writes.spawn(writer.clone().write(sent));
        sent += 1;
        while writes.try_join_next().is_some() {}
    }
    while writes.join_next().await.is_some() {}
    sent
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e4).round() / 10.0
}

/// The parts of the run: before the move, each phase the control plane
/// logged (placed on the client's clock by the POST), after the move.
fn phase_windows(
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
fn latency_by_phase(
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
fn sync_log(log: &str, subscription: &str) -> Vec<(String, f64, f64)> {
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

fn load_figures(
    ledger: &Ledger,
    sent: u64,
    seconds: f64,
    window: Option<(Instant, Instant)>,
) -> LoadFigures {
    let mut all: Vec<Duration> = ledger.samples.iter().map(|(_, d)| *d).collect();
    all.sort_unstable();
    let mut during: Vec<Duration> = ledger
        .samples
        .iter()
        .filter(|(at, _)| window.is_some_and(|(from, to)| *at >= from && *at <= to))
        .map(|(_, d)| *d)
        .collect();
    during.sort_unstable();
    LoadFigures {
        sent,
        acknowledged: ledger.acknowledged,
        seconds,
        errors: ledger.errors.clone(),
        during: during.len(),
        during_p50_ms: ms(loadgen::quantile(&during, 0.5)),
        during_p99_ms: ms(loadgen::quantile(&during, 0.99)),
        during_max_ms: ms(during.last().copied().unwrap_or_default()),
        p50_ms: ms(loadgen::quantile(&all, 0.5)),
        p99_ms: ms(loadgen::quantile(&all, 0.99)),
        max_ms: ms(all.last().copied().unwrap_or_default()),
    }
}

/// Every acknowledged write looked up in the target pod's database.
async fn lost_writes(store: &BenchStore, ledger: &Ledger) -> anyhow::Result<Vec<Lost>> {
    let mut db = sqlx::PgConnection::connect(&store.target.1).await?;
    let s = store.id.as_uuid();
    let mut lost = Vec::new();
    for (what, table, ids) in [
        ("products", "products", &ledger.products),
        ("carts", "carts", &ledger.carts),
    ] {
        let (found,): (i64,) = sqlx::query_as(&format!(
            "SELECT count(*) FROM {table} WHERE store_id = $1 AND id = ANY($2)"
        ))
        .bind(s)
        .bind(ids)
        .fetch_one(&mut db)
        .await?;
        lost.push(Lost {
            what,
            acknowledged: ids.len() as i64,
            on_target: found,
        });
    }
    let (carts, variants): (Vec<Uuid>, Vec<Uuid>) = ledger.lines.iter().copied().unzip();
    let (lines,): (i64,) = sqlx::query_as(
        "SELECT count(*) FROM cart_lines
          WHERE store_id = $1 AND (cart_id, variant_id) IN (SELECT * FROM unnest($2::uuid[], $3::uuid[]))",
    )
    .bind(s)
    .bind(&carts)
    .bind(&variants)
    .fetch_one(&mut db)
    .await?;
    lost.push(Lost {
        what: "cart lines",
        acknowledged: ledger.lines.len() as i64,
        on_target: lines,
    });
    // The generated store has no adjustments by the load's actor, and each
    // acknowledged adjustment wrote exactly one.
    let (adjustments,): (i64,) =
        sqlx::query_as("SELECT count(*) FROM stock_adjustments WHERE store_id = $1 AND actor = $2")
            .bind(s)
            .bind(LOAD_ACTOR)
            .fetch_one(&mut db)
            .await?;
    lost.push(Lost {
        what: "stock adjustments",
        acknowledged: ledger.adjustments,
        on_target: adjustments,
    });
    db.close().await?;
    Ok(lost)
}

fn report(opts: &MoveArgs, o: &Outcome) -> String {
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
         It was filled straight in {source}'s Postgres with set-based SQL (`mercato::bench::seed` and \
         `seed_orders`): {products} products with their variants, stock, collections, categories and \
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

/// What the numbers mean, from looking at runs of this benchmark (the
/// separate measurements were made on the data a 1,000,000-row run left,
/// kept with `MERCATO_BENCH_KEEP=1`).
/// The copy parallelism the control plane runs with: its default, or the
/// variable that overrides it for `mercato up`.
fn copy_parallelism() -> usize {
    std::env::var("MERCATO_CONTROL_PLANE_MOVES__COPY_PARALLELISM")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| mercato_control_plane::moves::MoveSettings::default().copy_parallelism)
}

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
and at most 5 % busy (`size_sweep_busy_percent`), which the report only reads. (2) Postgres planned the \
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
            "1.33× slower than the floor (200,000 rows/s)"
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

    #[test]
    fn pod_databases_follow_the_port_layout_of_up() {
        assert_eq!(
            pod_database_url(17600, "pod-2", "mercato").as_deref(),
            Some("postgres://mercato@127.0.0.1:17612/mercato")
        );
        assert_eq!(pod_database_url(17600, "edge-1", "mercato"), None);
        assert_eq!(pod_database_url(65530, "pod-9", "mercato"), None);
    }

    #[test]
    fn lost_counts_only_missing_writes() {
        let l = Lost {
            what: "products",
            acknowledged: 10,
            on_target: 12,
        };
        assert_eq!(l.missing(), 0, "unacknowledged writes that landed");
        let l = Lost {
            what: "products",
            acknowledged: 10,
            on_target: 7,
        };
        assert_eq!(l.missing(), 3);
    }
}
