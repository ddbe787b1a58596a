//! `mercato bench risk`: the checkout's risk screen. The pure decision
//! (`risk::decide`) alone, in-process; then `risk::screen` (one read of
//! settings, velocity and orders before, the decision, one write of the
//! fence, the decision and the attempt) against a throwaway Postgres with
//! `--rows` attempt rows preloaded across `--stores` stores (the last 24
//! hours, hot and cold keys) and one store with a seeded catalog and past
//! orders, at 1 and 16 concurrent callers. Results go to a Markdown report.

use std::fmt::Write as _;
use std::hint::black_box;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use mercato_devstack::local::PgCluster;
use mercato_pod::risk::{self, Counts, Keys, RiskSettings, ScreenInput, Signals};
use mercato_pod::seed;
use mercato_tenants::{CheckoutId, StoreId};
use sqlx::postgres::PgPoolOptions;
use sqlx::PgPool;

use crate::loadgen::{load_average, machine, quantile, scratch_postgres};

#[derive(clap::Args, Debug, Clone)]
pub struct RiskArgs {
    /// Attempt rows to preload, spread over the stores and the last 24 h.
    #[arg(long, default_value_t = 1_000_000)]
    pub rows: u32,
    /// Stores the rows belong to.
    #[arg(long, default_value_t = 100)]
    pub stores: u32,
    /// Past orders of the screened store (its catalog is seeded first).
    #[arg(long, default_value_t = 20_000)]
    pub orders: u32,
    /// Screens per concurrency level.
    #[arg(long, default_value_t = 4_000)]
    pub screens: usize,
    /// Calls of `decide` alone.
    #[arg(long, default_value_t = 1_000_000)]
    pub decisions: usize,
    /// Where to write the report.
    #[arg(long, default_value = "docs/benchmarks/risk.md")]
    pub out: PathBuf,
    /// The machine's load average when the run started (read, not set).
    #[arg(skip)]
    pub load: Option<String>,
}

struct Level {
    callers: usize,
    screens: usize,
    seconds: f64,
    p50: Duration,
    p99: Duration,
    max: Duration,
    outcomes: [usize; 3],
}

/// `mercato bench risk`.
pub async fn run(mut args: RiskArgs) -> anyhow::Result<()> {
    args.load = load_average();
    let decide_ns = time_decide(args.decisions);
    println!("decide: {decide_ns:.0} ns per call");
    let (_dir, pg) = scratch_postgres().await?;
    let outcome = measure(&args, &pg, decide_ns).await;
    pg.stop().await;
    outcome
}

/// Nanoseconds per `decide`, over signals that fire none, some and many
/// rules.
fn time_decide(n: usize) -> f64 {
    let settings = RiskSettings {
        extra_disposable_domains: vec!["burner.example".into(), "spam.example".into()],
        allow_customer_ids: (0..50).map(uuid::Uuid::from_u128).collect(),
        ..RiskSettings::default()
    }
    .validated()
    .unwrap_or_default();
    let emails = [
        "ann@example.com",
        "bob@mailinator.com",
        "cy@sub.burner.example",
        "di@shop.example.org",
    ];
    let signals: Vec<Signals> = (0..64u32)
        .map(|i| Signals {
            amount_minor: i64::from(i) * 7_000,
            currency: "USD".into(),
            email: emails[i as usize % emails.len()].into(),
            customer_id: (i % 3 == 0).then(|| uuid::Uuid::from_u128(u128::from(i))),
            orders_before: i % 2,
            shipping_country: "US".into(),
            billing_country: Some(if i % 5 == 0 { "FR" } else { "US" }.into()),
            email_counts: Counts {
                attempts: i % 20,
                declines: i % 9,
            },
            client_counts: Counts {
                attempts: i % 45,
                declines: i % 17,
            },
            card_counts: Counts {
                attempts: i % 13,
                declines: i % 7,
            },
        })
        .collect();
    for s in &signals {
        black_box(risk::decide(&settings, s));
    }
    let started = Instant::now();
    for i in 0..n {
        black_box(risk::decide(
            black_box(&settings),
            black_box(&signals[i % signals.len()]),
        ));
    }
    started.elapsed().as_nanos() as f64 / n.max(1) as f64
}

async fn measure(args: &RiskArgs, pg: &PgCluster, decide_ns: f64) -> anyhow::Result<()> {
    let url = pg.create_database("pod").await?;
    let db = PgPoolOptions::new()
        .max_connections(20)
        .connect(&url)
        .await
        .context("connecting to the bench database")?;
    seed::migrate(&db).await?;
    let mut stores = Vec::new();
    for _ in 0..args.stores.max(1) {
        let s = StoreId::new();
        seed::host_store(&db, s).await?;
        stores.push(s);
    }
    let screened = stores[0];
    println!(
        "seeding a catalog and {} orders for the screened store ...",
        args.orders
    );
    seed::catalog(&db, screened, 500).await?;
    seed::orders(&db, screened, args.orders).await?;
    println!(
        "loading {} attempt rows over {} stores ...",
        args.rows,
        stores.len()
    );
    let started = Instant::now();
    load_attempts(&db, &stores, args.rows).await?;
    sqlx::query("VACUUM ANALYZE risk_attempts")
        .execute(&db)
        .await?;
    sqlx::query("VACUUM ANALYZE orders").execute(&db).await?;
    println!("loaded in {:.1} s", started.elapsed().as_secs_f64());

    let samples = Arc::new(sample_inputs(&db, screened).await?);
    let mut levels = Vec::new();
    // A warm-up pass (plans, caches), not reported.
    screen_level(&db, screened, &samples, 1, 200).await?;
    // Where one screen's time goes, one caller: a bare round trip (the
    // machine's floor), the one read alone.
    let mut floor = Vec::new();
    let mut read = Vec::new();
    for (k, input) in samples.iter().cycle().take(args.screens).enumerate() {
        let t = Instant::now();
        sqlx::query("SELECT 1").execute(&db).await?;
        floor.push(t.elapsed());
        let t = Instant::now();
        risk::sql::screen_read(
            &db,
            screened,
            CheckoutId::new(),
            &input.keys,
            &input.email,
            input.customer_id,
        )
        .await?;
        read.push(t.elapsed());
        black_box(k);
    }
    floor.sort();
    read.sort();
    let parts = [
        (
            "`SELECT 1` (a round trip)",
            quantile(&floor, 0.5),
            quantile(&floor, 0.99),
        ),
        (
            "the read alone",
            quantile(&read, 0.5),
            quantile(&read, 0.99),
        ),
    ];
    for (what, p50, p99) in &parts {
        println!("{what}: p50 {:.2} ms, p99 {:.2} ms", ms(*p50), ms(*p99));
    }
    for callers in [1, 16] {
        let level = screen_level(&db, screened, &samples, callers, args.screens).await?;
        println!(
            "screen, {callers} callers: p50 {:.2} ms, p99 {:.2} ms, {:.0}/s",
            ms(level.p50),
            ms(level.p99),
            level.screens as f64 / level.seconds
        );
        levels.push(level);
    }
    let report = report(args, decide_ns, &parts, &levels);
    if let Some(parent) = args.out.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(&args.out, report)?;
    println!("wrote {}", args.out.display());
    db.close().await;
    Ok(())
}

/// `rows` attempts over `stores` in the last 24 hours: per store, keys
/// drawn from pools (a few hot keys with many rows, a long tail), one in
/// ten declined.
async fn load_attempts(db: &PgPool, stores: &[StoreId], rows: u32) -> anyhow::Result<()> {
    let ids: Vec<uuid::Uuid> = stores.iter().map(|s| s.as_uuid()).collect();
    let per_store = (rows as usize / ids.len()).max(1) as i32;
    for chunk in ids.chunks(10) {
        sqlx::query(
            "INSERT INTO risk_attempts (store_id, checkout_id, email_key, client_key, card_key, outcome, at)
             SELECT s, gen_random_uuid(),
                    sha256(convert_to(s::text || 'e' || (floor(power(random(), 3) * 3000))::int, 'UTF8')),
                    sha256(convert_to(s::text || 'c' || (floor(power(random(), 3) * 800))::int, 'UTF8')),
                    sha256(convert_to(s::text || 'k' || (floor(power(random(), 3) * 4000))::int, 'UTF8')),
                    CASE WHEN random() < 0.1 THEN 'declined' ELSE 'allow' END,
                    now() - random() * interval '24 hours'
               FROM unnest($1::uuid[]) AS s, generate_series(1, $2)",
        )
        .bind(chunk)
        .bind(per_store)
        .execute(db)
        .await?;
    }
    Ok(())
}

/// A row's email, client and card keys.
type KeyRow = (Vec<u8>, Option<Vec<u8>>, Option<Vec<u8>>);

/// Screen inputs for `store`: the keys of its hottest and of random rows,
/// half with the emails of past orders, half with new ones.
async fn sample_inputs(db: &PgPool, store: StoreId) -> anyhow::Result<Vec<ScreenInput>> {
    let keys: Vec<KeyRow> = sqlx::query_as(
        "(SELECT email_key, client_key, card_key FROM risk_attempts
           WHERE store_id = $1 ORDER BY random() LIMIT 900)
         UNION ALL
         (SELECT sha256(convert_to($1::text || 'e0', 'UTF8')), sha256(convert_to($1::text || 'c0', 'UTF8')),
                 sha256(convert_to($1::text || 'k0', 'UTF8'))
            FROM generate_series(1, 100))",
    )
    .bind(store.as_uuid())
    .fetch_all(db)
    .await?;
    let emails: Vec<(String,)> =
        sqlx::query_as("SELECT DISTINCT lower(email) FROM orders WHERE store_id = $1 LIMIT 500")
            .bind(store.as_uuid())
            .fetch_all(db)
            .await?;
    let arr = |v: Vec<u8>| -> [u8; 32] { v.try_into().unwrap_or([0; 32]) };
    Ok(keys
        .into_iter()
        .enumerate()
        .map(|(i, (email, client, card))| {
            let address = match emails.get(i % emails.len().max(1)) {
                Some((e,)) if i % 2 == 0 => e.clone(),
                _ => format!("new{i}@example.com"),
            };
            ScreenInput {
                checkout: CheckoutId::new(),
                amount_minor: 1_000 + (i as i64 * 997) % 300_000,
                currency: "USD".into(),
                email: address,
                customer_id: None,
                shipping_country: "US".into(),
                billing_country: Some(if i % 7 == 0 { "CA" } else { "US" }.into()),
                keys: Keys {
                    email: arr(email),
                    client: client.map(arr),
                    card: card.map(arr),
                },
            }
        })
        .collect())
}

async fn screen_level(
    db: &PgPool,
    store: StoreId,
    samples: &Arc<Vec<ScreenInput>>,
    callers: usize,
    screens: usize,
) -> anyhow::Result<Level> {
    let per_caller = screens.div_ceil(callers);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..callers {
        let (db, samples) = (db.clone(), samples.clone());
        tasks.push(tokio::spawn(async move {
            let mut times = Vec::with_capacity(per_caller);
            let mut outcomes = [0usize; 3];
            for k in 0..per_caller {
                let mut input = samples[(c * 7919 + k) % samples.len()].clone();
                input.checkout = CheckoutId::new();
                let t = Instant::now();
                let a = risk::screen(&db, store, &input).await?;
                times.push(t.elapsed());
                outcomes[a.outcome as usize] += 1;
            }
            anyhow::Ok((times, outcomes))
        }));
    }
    let mut times = Vec::new();
    let mut outcomes = [0usize; 3];
    for task in tasks {
        let (t, o) = task.await??;
        times.extend(t);
        for (sum, n) in outcomes.iter_mut().zip(o) {
            *sum += n;
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    times.sort();
    Ok(Level {
        callers,
        screens: times.len(),
        seconds,
        p50: quantile(&times, 0.50),
        p99: quantile(&times, 0.99),
        max: times.last().copied().unwrap_or_default(),
        outcomes,
    })
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn report(
    args: &RiskArgs,
    decide_ns: f64,
    parts: &[(&str, Duration, Duration)],
    levels: &[Level],
) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# Risk screening\n");
    let _ = writeln!(
        out,
        "`mercato bench risk --rows {} --stores {} --orders {} --screens {}` ({} build), {}; load average before the run {} (other work on the same cores).\n",
        args.rows,
        args.stores,
        args.orders,
        args.screens,
        if cfg!(debug_assertions) { "debug" } else { "release" },
        machine(),
        args.load.as_deref().unwrap_or("unknown"),
    );
    let _ = writeln!(
        out,
        "Target (issue 18 part 3): the decision runs in well under 5 ms of the checkout's time.\n"
    );
    let _ = writeln!(out, "## `decide` alone\n");
    let _ = writeln!(
        out,
        "{decide_ns:.0} ns per call ({} calls over 64 signal sets firing none to many rules; default settings with 2 extra disposable domains and 50 allow-listed customers).\n",
        args.decisions
    );
    let _ = writeln!(out, "## `screen` against Postgres\n");
    let _ = writeln!(
        out,
        "One read (settings, the checkout's earlier decision, attempts and declines of the last hour by email, client address and card, paid orders before) and one write (the fence, the decision and the attempt in one statement). {} attempt rows over {} stores in the last 24 h preloaded (keys drawn so a few are hot), the screened store with {} past orders; a throwaway cluster (fsync off, as the other benchmarks' clusters), the caller in the same process on the same machine, each caller on its own pooled connection.\n",
        args.rows, args.stores, args.orders
    );
    let _ = writeln!(out, "One caller, {} each:\n", args.screens);
    let _ = writeln!(out, "| what | p50 ms | p99 ms |");
    let _ = writeln!(out, "|---|---|---|");
    for (what, p50, p99) in parts {
        let _ = writeln!(out, "| {what} | {:.2} | {:.2} |", ms(*p50), ms(*p99));
    }
    let _ = writeln!(out, "\nThe whole screen (read, decide, write):\n");
    let _ = writeln!(
        out,
        "| callers | screens | p50 ms | p99 ms | max ms | screens/s | allow / review / block |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|");
    for l in levels {
        let _ = writeln!(
            out,
            "| {} | {} | {:.2} | {:.2} | {:.2} | {:.0} | {} / {} / {} |",
            l.callers,
            l.screens,
            ms(l.p50),
            ms(l.p99),
            ms(l.max),
            l.screens as f64 / l.seconds,
            l.outcomes[0],
            l.outcomes[1],
            l.outcomes[2]
        );
    }
    out
}
