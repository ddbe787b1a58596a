//! `mercato bench reports`: merchant reports over a store with many past
//! orders. A throwaway Postgres, the pod's migrations, a catalog and
//! `--orders` past orders seeded the way checkout leaves them (one a
//! minute back from now, so a million orders cover about two years; the
//! rollups are written by the same triggers as a live checkout's), then
//! each report over the last 365 days, one caller, timed as the admin API
//! runs it (`mercato_pod::reports`). Results go to a Markdown report.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use chrono::Duration as Days;
use mercato_devstack::local::PgCluster;
use mercato_pod::reports::model::{Period, Range};
use mercato_pod::reports::{self, TopKind};
use mercato_pod::seed;
use mercato_tenants::{Currency, StoreId};
use sqlx::postgres::PgPoolOptions;

use crate::loadgen::{load_average, machine, quantile, scratch_postgres};

#[derive(clap::Args, Debug, Clone)]
pub struct ReportsArgs {
    /// Past orders of the store (its catalog of 500 products is seeded
    /// first).
    #[arg(long, default_value_t = 1_000_000)]
    pub orders: u32,
    /// Runs of each report.
    #[arg(long, default_value_t = 200)]
    pub runs: usize,
    /// Where to write the report.
    #[arg(long, default_value = "docs/benchmarks/reports.md")]
    pub out: PathBuf,
}

struct Timed {
    what: &'static str,
    p50: Duration,
    p99: Duration,
    max: Duration,
    rows: usize,
}

/// `mercato bench reports`.
pub async fn run(args: ReportsArgs) -> anyhow::Result<()> {
    let load = load_average();
    let (_dir, pg) = scratch_postgres().await?;
    let outcome = measure(&args, &pg, load).await;
    pg.stop().await;
    outcome
}

async fn measure(args: &ReportsArgs, pg: &PgCluster, load: Option<String>) -> anyhow::Result<()> {
    let url = pg.create_database("pod").await?;
    let db = PgPoolOptions::new()
        .max_connections(4)
        .connect(&url)
        .await
        .context("connecting to the bench database")?;
    seed::migrate(&db).await?;
    let store = StoreId::new();
    seed::host_store(&db, store).await?;
    seed::catalog(&db, store, 500).await?;
    println!("seeding {} orders ...", args.orders);
    let started = Instant::now();
    seed::orders(&db, store, args.orders).await?;
    let seeding = started.elapsed();
    println!("seeded in {:.1} s", seeding.as_secs_f64());
    for table in [
        "orders",
        "sales_daily",
        "variant_sales_daily",
        "customer_sales_daily",
    ] {
        sqlx::query(&format!("VACUUM ANALYZE {table}"))
            .execute(&db)
            .await?;
    }
    let rollup_rows: (i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM sales_daily), (SELECT count(*) FROM variant_sales_daily),
                (SELECT count(*) FROM customer_sales_daily)",
    )
    .fetch_one(&db)
    .await?;
    let today = reports::today(&db, store).await?;
    let year = Range::new(today - Days::days(364), today).map_err(anyhow::Error::msg)?;
    let mut timed = Vec::new();
    for (what, by) in [
        ("sales by day, 365 days", Period::Day),
        ("sales by week, 365 days", Period::Week),
        ("sales by month, 365 days", Period::Month),
    ] {
        let mut samples = Vec::with_capacity(args.runs);
        let mut rows = 0;
        for _ in 0..args.runs + 5 {
            let t = Instant::now();
            let r = reports::sales(&db, store, Currency::USD, year, by).await?;
            samples.push(t.elapsed());
            rows = r.periods.len();
        }
        timed.push(summary(what, &mut samples[5..].to_vec(), rows));
    }
    for (what, kind) in [
        ("top 10 products, 365 days", TopKind::Products),
        ("top 10 variants, 365 days", TopKind::Variants),
        ("top 10 customers, 365 days", TopKind::Customers),
    ] {
        let mut samples = Vec::with_capacity(args.runs);
        let mut rows = 0;
        for _ in 0..args.runs + 5 {
            let t = Instant::now();
            let r = reports::top(&db, store, Currency::USD, year, kind, 10).await?;
            samples.push(t.elapsed());
            rows = r.rows.len();
        }
        timed.push(summary(what, &mut samples[5..].to_vec(), rows));
    }
    let (orders_in_year,): (i64,) = sqlx::query_as(
        "SELECT count(*) FROM orders WHERE created_at > now() - interval '365 days'",
    )
    .fetch_one(&db)
    .await?;
    let out = report(args, load, seeding, rollup_rows, orders_in_year, &timed);
    if let Some(parent) = args.out.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(&args.out, &out)?;
    println!("{out}");
    println!("written to {}", args.out.display());
    Ok(())
}

fn summary(what: &'static str, samples: &mut [Duration], rows: usize) -> Timed {
    samples.sort();
    Timed {
        what,
        p50: quantile(samples, 0.5),
        p99: quantile(samples, 0.99),
        max: samples.last().copied().unwrap_or_default(),
        rows,
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn report(
    args: &ReportsArgs,
    load: Option<String>,
    seeding: Duration,
    (days, variant_days, customer_days): (i64, i64, i64),
    orders_in_year: i64,
    timed: &[Timed],
) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# Merchant reports\n");
    let _ = writeln!(
        out,
        "`mercato bench reports --orders {} --runs {}` ({} build), {}; load average before the run {}.\n",
        args.orders,
        args.runs,
        if cfg!(debug_assertions) { "debug" } else { "release" },
        machine(),
        load.as_deref().unwrap_or("unknown"),
    );
    let _ = writeln!(
        out,
        "Target (issue 21 part 2): a year's report on a store with a million orders answers in under 100 ms.\n"
    );
    let _ = writeln!(
        out,
        "One store with a catalog of 500 products and {} past orders seeded as checkout leaves them (one a minute back from now; {} of them in the last 365 days), through the same triggers that keep the rollups for a live checkout: {:.0} s to seed. The rollups then hold {} day rows, {} variant-day rows and {} customer-day rows. A throwaway cluster (fsync off), one caller in the same process, each report run {} times after 5 warm-up runs, timed around `mercato_pod::reports::{{sales, top}}` as the admin API calls them (the HTTP layer adds the same few hundred microseconds to every request).\n",
        args.orders,
        orders_in_year,
        seeding.as_secs_f64(),
        days,
        variant_days,
        customer_days,
        args.runs,
    );
    let _ = writeln!(out, "| report | rows | p50 ms | p99 ms | max ms |");
    let _ = writeln!(out, "|---|---:|---:|---:|---:|");
    for t in timed {
        let _ = writeln!(
            out,
            "| {} | {} | {:.2} | {:.2} | {:.2} |",
            t.what,
            t.rows,
            ms(t.p50),
            ms(t.p99),
            ms(t.max)
        );
    }
    out
}
