//! Operator tools for load: `mercato seed-catalog` fills a store with a
//! realistic catalog straight in a pod's Postgres (set-based SQL, not HTTP
//! calls; the SQL is the pod's, [`mercato_pod::seed`]), and
//! `mercato bench ...` drives real load against a throwaway platform and
//! writes the results to `docs/benchmarks/`.
//!
//! Not tests: nothing here runs in CI.

pub mod cache;
pub mod checkout;
pub mod edge;
pub mod loadgen;
pub mod moves;
pub mod reports;
pub mod risk;
pub mod search;

use std::path::PathBuf;

use anyhow::Context as _;
use mercato_pod::seed;
use mercato_tenants::StoreId;
use sqlx::postgres::PgPoolOptions;

/// Runs `measure(router_url, data_dir)` against a whole platform of `pods`
/// pods started by `mercato up` (separate processes, as in production) on a
/// fresh data folder, with `env` added to its processes' environment; stops
/// it after.
pub async fn on_up<T, F, Fut>(
    port_base: u16,
    pods: u16,
    env: &[(&str, &str)],
    measure: F,
) -> anyhow::Result<T>
where
    F: FnOnce(String, PathBuf) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<T>>,
{
    let mut data = tempfile::tempdir()?;
    if std::env::var_os("MERCATO_BENCH_KEEP").is_some() {
        // Keep the platform's data and logs for a look afterwards.
        data.disable_cleanup(true);
        eprintln!("platform data and logs kept in {}", data.path().display());
    }
    let router_port = mercato_devstack::local::free_port()?;
    let exe = std::env::current_exe()?;
    let mut up = tokio::process::Command::new(&exe)
        .arg("up")
        .arg("--data-dir")
        .arg(data.path())
        .args(["--listen", &format!("127.0.0.1:{router_port}")])
        .args(["--port-base", &port_base.to_string()])
        .args([
            "--pods",
            &pods.to_string(),
            "--platform-domain",
            "localhost",
        ])
        .env("RUST_LOG", "warn")
        .envs(env.iter().copied())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .context("starting mercato up")?;
    let result = measure(
        format!("http://127.0.0.1:{router_port}"),
        data.path().to_owned(),
    )
    .await;
    if let Some(pid) = up.id() {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
    }
    let _ = tokio::time::timeout(std::time::Duration::from_secs(30), up.wait()).await;
    result
}

#[derive(clap::Args, Debug, Clone)]
pub struct SeedArgs {
    /// The pod's database (migrations are applied if missing).
    #[arg(long, env = "MERCATO_POD_DATABASE_URL")]
    pub database_url: String,
    /// The store to fill; by default a new store `bench-<n>` is hosted
    /// (active) in this pod's database.
    #[arg(long)]
    pub store: Option<StoreId>,
    /// How many products.
    #[arg(long, default_value_t = 100_000)]
    pub products: u32,
}

#[derive(clap::Subcommand, Debug, Clone)]
pub enum Bench {
    /// Search latency and throughput on a seeded catalog, on a throwaway
    /// Postgres, Redis and pod started on free ports.
    Search(search::SearchArgs),
    /// A cached product read through the router against the router's
    /// `/healthz`, on a platform started with `mercato up`.
    Cache(cache::CacheArgs),
    /// A flash sale (Redis gate on and off) and checkout throughput, on a
    /// platform started with `mercato up`.
    Checkout(checkout::CheckoutArgs),
    /// A live move of a generated store between two pods under a write
    /// load, beside a plain per-table COPY of the same rows, on a platform
    /// started with `mercato up`.
    Move(moves::MoveArgs),
    /// The router's numbers: a flash sale through the waiting room, a
    /// cached read direct / through nginx / through the router, and the
    /// cost of rate limits and hop signing, on a platform started with
    /// `mercato up`.
    Edge(edge::EdgeArgs),
    /// The checkout's risk screen: the decision alone, and the screen
    /// against a throwaway Postgres with a million attempt rows, at 1 and
    /// 16 concurrent callers.
    Risk(risk::RiskArgs),
    /// Merchant reports over a store with a million past orders: a year's
    /// sales by day, week and month, and the top lists.
    Reports(reports::ReportsArgs),
}

#[derive(clap::Args, Debug, Clone)]
pub struct BenchOut {
    /// Where to write the Markdown report.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// `mercato seed-catalog`.
pub async fn seed_catalog(args: SeedArgs) -> anyhow::Result<()> {
    let db = PgPoolOptions::new()
        .max_connections(2)
        .connect(&args.database_url)
        .await
        .context("connecting to the pod database")?;
    seed::migrate(&db).await?;
    let store = match args.store {
        Some(s) => s,
        None => {
            let s = StoreId::new();
            let handle = seed::host_store(&db, s).await?;
            println!("hosted store {s} ({handle}) in this pod's database");
            s
        }
    };
    let summary = seed::catalog(&db, store, args.products).await?;
    println!("{summary}");
    Ok(())
}
