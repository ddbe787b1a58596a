//! `mercato bench cache`: a cached product read through the router against
//! the router's own `/healthz`, at 64 connections, on the whole platform
//! started by `mercato up` (separate processes, as in production).

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context as _};
use serde_json::Value;

use super::loadgen::{self, Report};

#[derive(clap::Args, Debug, Clone)]
pub struct CacheArgs {
    #[arg(long, default_value_t = 64)]
    pub connections: usize,
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
    /// First internal port of the platform under test.
    #[arg(long, default_value_t = 17400)]
    pub port_base: u16,
    /// Where the Markdown report goes.
    #[arg(long, default_value = "docs/benchmarks/cache.md")]
    pub out: PathBuf,
}

/// `mercato bench cache`.
pub async fn run(opts: CacheArgs) -> anyhow::Result<()> {
    let reports = measure_platform(&opts).await?;
    print!("{}", loadgen::table(&reports));
    println!("written to {}", opts.out.display());
    Ok(())
}

async fn measure_platform(opts: &CacheArgs) -> anyhow::Result<Vec<Report>> {
    let reports = super::on_up(opts.port_base, 1, &[], |router, _| async move {
        measure(&router, opts).await
    })
    .await?;
    write_report(opts, &reports)?;
    Ok(reports)
}

async fn measure(router: &str, opts: &CacheArgs) -> anyhow::Result<Vec<Report>> {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(opts.connections)
        .timeout(Duration::from_secs(10))
        .build()?;
    let host = "demo.localhost";
    let deadline = tokio::time::Instant::now() + Duration::from_secs(180);
    let product = loop {
        if let Ok(r) = http
            .get(format!("{router}/api/products?limit=1"))
            .header("host", host)
            .send()
            .await
        {
            if r.status().is_success() {
                let page: Value = r.json().await?;
                if let Some(id) = page["items"][0]["id"].as_str() {
                    break id.to_owned();
                }
            }
        }
        if tokio::time::Instant::now() > deadline {
            bail!("the demo store did not come up within 180 s");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let product_url = format!("{router}/api/products/{product}");
    let health_url = format!("{router}/healthz");
    // Warm up connections and the cache.
    for _ in 0..200 {
        http.get(&product_url).header("host", host).send().await?;
        http.get(&health_url).send().await?;
    }
    let duration = Duration::from_secs(opts.seconds);
    let mut reports = Vec::new();
    {
        let http = http.clone();
        let url = health_url.clone();
        reports.push(
            loadgen::run("router /healthz", opts.connections, duration, move || {
                let req = http.get(&url).send();
                async move { matches!(req.await, Ok(r) if r.status().is_success()) }
            })
            .await,
        );
    }
    {
        // A request the router proxies and the pod answers without work
        // (a 404 from its fallback): the cost of the hop alone.
        let http = http.clone();
        let url = format!("{router}/no-such-page");
        reports.push(
            loadgen::run(
                "proxied 404 (router → pod, no work)",
                opts.connections,
                duration,
                move || {
                    let req = http.get(&url).header("host", host).send();
                    async move {
                        match req.await {
                            Ok(r) if r.status() == 404 => r.bytes().await.is_ok(),
                            _ => false,
                        }
                    }
                },
            )
            .await,
        );
    }
    {
        let http = http.clone();
        let url = product_url.clone();
        reports.push(
            loadgen::run(
                "cached product GET (router → pod → Redis)",
                opts.connections,
                duration,
                move || {
                    let req = http.get(&url).header("host", host).send();
                    async move {
                        match req.await {
                            Ok(r) if r.status().is_success() => r.bytes().await.is_ok(),
                            _ => false,
                        }
                    }
                },
            )
            .await,
        );
    }
    {
        let http = http.clone();
        let url = product_url.clone();
        let etag = http
            .get(&url)
            .header("host", host)
            .send()
            .await?
            .headers()
            .get("etag")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .context("no etag")?;
        reports.push(
            loadgen::run(
                "conditional product GET (304)",
                opts.connections,
                duration,
                move || {
                    let req = http
                        .get(&url)
                        .header("host", host)
                        .header("if-none-match", &etag)
                        .send();
                    async move { matches!(req.await, Ok(r) if r.status() == 304) }
                },
            )
            .await,
        );
    }
    // The demo store's first collection, for its page.
    let collections: Value = http
        .get(format!("{router}/api/collections?limit=1"))
        .header("host", host)
        .send()
        .await?
        .json()
        .await?;
    let collection = collections["items"][0]["handle"]
        .as_str()
        .context("the demo store has no collection")?
        .to_owned();
    // The storefront's pages of the same product, the home page and a
    // collection: whole HTML pages from the cache, as a shopper's browser
    // gets them.
    for (name, path) in [
        (
            "cached product page, HTML (router → pod → Redis)",
            format!("/products/{product}"),
        ),
        (
            "cached home page, HTML (router → pod → Redis)",
            "/".to_owned(),
        ),
        (
            "cached collection page, HTML (router → pod → Redis)",
            format!("/collections/{collection}"),
        ),
    ] {
        let http = http.clone();
        let url = format!("{router}{path}");
        for _ in 0..50 {
            http.get(&url).header("host", host).send().await?;
        }
        reports.push(
            loadgen::run(name, opts.connections, duration, move || {
                let req = http.get(&url).header("host", host).send();
                async move {
                    match req.await {
                        Ok(r) if r.status().is_success() => r.bytes().await.is_ok(),
                        _ => false,
                    }
                }
            })
            .await,
        );
    }
    Ok(reports)
}

fn write_report(opts: &CacheArgs, reports: &[Report]) -> anyhow::Result<()> {
    let health = &reports[0];
    let hop = &reports[1];
    let product = &reports[2];
    let page = &reports[4];
    let home = &reports[5];
    let collection = &reports[6];
    let ratio = |a: f64, b: f64| {
        if b > 0.0 {
            (a / b * 100.0).round() / 100.0
        } else {
            0.0
        }
    };
    let text = format!(
        "# Cached product reads vs `/healthz`\n\n\
         Generated by `scripts/bench.sh cache` (`mercato bench cache --connections {c} --seconds {s}`, release build) \
         on {machine}, {date}.\n\n\
         The whole platform runs as separate processes started by `mercato up` (control plane, one pod \
         with its Postgres 15 and redis-server, router). The load generator runs on the same machine and \
         competes with them for the same cores. `router /healthz` is answered by the router itself; \
         the product read goes router → pod → Redis (cached body + stock badges) → router.\n\n\
         {table}\n\
         - throughput ratio product / healthz: **{tput}**; p99 ratio product / healthz: **{p99}**\n\
         - throughput ratio product / proxied 404: **{tput_hop}**; p99 ratio: **{p99_hop}** \
         (what the cached read costs beyond the proxy hop)\n\
         - storefront pages against the cached JSON product read: product page **{page_ratio}**, \
         home page **{home_ratio}**, collection page **{collection_ratio}** of its throughput \
         (targets: 0.75 for the product page, issue 19; 0.9 for all three, issue 22); p99 ratio \
         product page / JSON: {page_p99}\n",
        c = opts.connections,
        s = opts.seconds,
        machine = loadgen::machine(),
        date = chrono::Utc::now().format("%Y-%m-%d"),
        table = loadgen::table(reports),
        tput = ratio(product.per_second, health.per_second),
        p99 = ratio(product.p99_ms, health.p99_ms),
        tput_hop = ratio(product.per_second, hop.per_second),
        p99_hop = ratio(product.p99_ms, hop.p99_ms),
        page_ratio = ratio(page.per_second, product.per_second),
        home_ratio = ratio(home.per_second, product.per_second),
        collection_ratio = ratio(collection.per_second, product.per_second),
        page_p99 = ratio(page.p99_ms, product.p99_ms),
    );
    if let Some(dir) = Path::new(&opts.out).parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&opts.out, text).with_context(|| format!("writing {}", opts.out.display()))?;
    Ok(())
}
