//! A small closed-loop load generator for the benchmarks: `connections`
//! clients each send one request at a time for a fixed duration; latencies
//! are recorded per request and summarized as percentiles.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

/// The numbers of one run.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub name: String,
    pub connections: usize,
    pub seconds: f64,
    pub requests: usize,
    pub errors: usize,
    pub per_second: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

/// The value at quantile `q` (0..=1) of sorted `samples`, nearest rank.
pub fn quantile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}

/// Runs `request` from `connections` concurrent loops for `duration`.
/// `request` returns whether the answer was the expected one; a wrong
/// answer counts as an error (and its latency is not recorded).
pub async fn run<F, Fut>(name: &str, connections: usize, duration: Duration, request: F) -> Report
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = bool> + Send,
{
    let (report, _) = drive(name, connections, Stop::After(duration), move |_| {
        let answer = request();
        async move { answer.await.then_some("ok") }
    })
    .await;
    report
}

/// Sends exactly `total` requests (request `i` gets its index) from
/// `connections` concurrent loops. `request` classifies each answer
/// (`Some(label)`, latency recorded) or calls it an error (`None`); the
/// counts per label come back with the report.
pub async fn run_count<F, Fut>(
    name: &str,
    connections: usize,
    total: usize,
    request: F,
) -> (Report, BTreeMap<&'static str, usize>)
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Option<&'static str>> + Send,
{
    drive(name, connections, Stop::Count(total), request).await
}

enum Stop {
    After(Duration),
    Count(usize),
}

async fn drive<F, Fut>(
    name: &str,
    connections: usize,
    stop: Stop,
    request: F,
) -> (Report, BTreeMap<&'static str, usize>)
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Option<&'static str>> + Send,
{
    let request = Arc::new(request);
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let (deadline, total) = match stop {
        Stop::After(d) => (Some(started + d), usize::MAX),
        Stop::Count(n) => (None, n),
    };
    let mut loops = Vec::with_capacity(connections);
    for _ in 0..connections {
        let request = request.clone();
        let next = next.clone();
        loops.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut labels: BTreeMap<&'static str, usize> = BTreeMap::new();
            let mut errors = 0usize;
            loop {
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    break;
                }
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total {
                    break;
                }
                let t = Instant::now();
                match request(i).await {
                    Some(label) => {
                        latencies.push(t.elapsed());
                        *labels.entry(label).or_default() += 1;
                    }
                    None => errors += 1,
                }
            }
            (latencies, labels, errors)
        }));
    }
    let mut all = Vec::new();
    let mut labels: BTreeMap<&'static str, usize> = BTreeMap::new();
    let mut errors = 0;
    for l in loops {
        if let Ok((latencies, counted, e)) = l.await {
            all.extend(latencies);
            for (k, v) in counted {
                *labels.entry(k).or_default() += v;
            }
            errors += e;
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.sort_unstable();
    let report = Report {
        name: name.to_owned(),
        connections,
        seconds: (elapsed * 10.0).round() / 10.0,
        requests: all.len(),
        errors,
        per_second: (all.len() as f64 / elapsed).round(),
        p50_ms: ms(quantile(&all, 0.50)),
        p90_ms: ms(quantile(&all, 0.90)),
        p99_ms: ms(quantile(&all, 0.99)),
        max_ms: ms(all.last().copied().unwrap_or_default()),
    };
    (report, labels)
}

/// A Markdown table of reports.
pub fn table(reports: &[Report]) -> String {
    let mut out = String::from(
        "| what | connections | requests | errors | req/s | p50 ms | p90 ms | p99 ms | max ms |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for r in reports {
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            r.name,
            r.connections,
            r.requests,
            r.errors,
            r.per_second,
            r.p50_ms,
            r.p90_ms,
            r.p99_ms,
            r.max_ms
        ));
    }
    out
}

/// Facts about the machine a benchmark ran on.
pub fn machine() -> String {
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    format!("{cores} cores ({cpu})")
}

/// The machine's load average (`1m 5m 15m`) as `/proc/loadavg` says it,
/// for a report's record of what else ran.
pub fn load_average() -> Option<String> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
}

/// A throwaway Postgres cluster (fsync off, 256 MB of shared buffers) in a
/// new temporary folder, for the benchmarks that need a database alone.
/// The folder goes when the returned guard drops; stop the cluster first.
pub async fn scratch_postgres(
) -> anyhow::Result<(tempfile::TempDir, mercato_devstack::local::PgCluster)> {
    use mercato_devstack::local::{free_port, Binaries, Durability, PgCluster};
    use std::os::unix::fs::PermissionsExt as _;
    let bins = Binaries::locate()?;
    let dir = tempfile::tempdir()?;
    // Postgres runs as its own user when we are root: it must reach the folder.
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))?;
    println!("starting postgres in {} ...", dir.path().display());
    let pg = PgCluster::start_with(
        &bins,
        &dir.path().join("pg"),
        free_port()?,
        Durability::Throwaway,
        &["shared_buffers=256MB"],
    )
    .await?;
    Ok((dir, pg))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_quantiles() {
        let s: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(quantile(&s, 0.5), Duration::from_millis(50));
        assert_eq!(quantile(&s, 0.99), Duration::from_millis(99));
        assert_eq!(quantile(&s, 1.0), Duration::from_millis(100));
        assert_eq!(quantile(&[], 0.5), Duration::ZERO);
        assert_eq!(quantile(&s[..1], 0.99), Duration::from_millis(1));
    }
}
