//! `mercato bench edge`: the router's numbers from issue 16, on the whole
//! platform started by `mercato up` (separate processes).
//!
//! 1. A flash sale of `--shoppers` shoppers at once on one SKU through the
//!    router, every shopper following its waiting-room ticket: the answers
//!    by kind (only 201, 409 out_of_stock, 402 expected), the share queued
//!    and the time to admission.
//! 2. A cached product read at `--connections` connections: straight to
//!    the pod, through nginx (`proxy_pass`, upstream keep-alive) and
//!    through the router. The pod serves only router-signed requests: the
//!    direct and nginx clients send a hop signed by the benchmark with the
//!    platform's hop key (re-signed every few seconds, within the pod's
//!    30 s window), which nginx passes on unchanged; nginx thus signs
//!    nothing, resolves no host and checks no token.
//! 3. The router with its rate limits on and off (two router processes of
//!    the same platform, measured in alternation), and the per-request cost
//!    of the hop signature and of the limiter measured in-process: a router
//!    cannot forward unsigned (pods refuse it), so signing is not switched
//!    off end to end.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use mercato_tenants::{hop, StoreId};
use serde_json::Value;

use super::checkout::{self, CheckoutArgs, Platform, QueuedFlash};
use super::loadgen::{self, quantile, Report};

#[derive(clap::Args, Debug, Clone)]
pub struct EdgeArgs {
    /// Shoppers in the flash sale, all at once.
    #[arg(long, default_value_t = 2_000)]
    pub shoppers: usize,
    /// Units of the flash-sale SKU.
    #[arg(long, default_value_t = 100)]
    pub units: i64,
    /// Connections of the read runs.
    #[arg(long, default_value_t = 64)]
    pub connections: usize,
    /// Seconds of each read run.
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
    /// Rounds of the read runs (each target once per round, in turn).
    #[arg(long, default_value_t = 2)]
    pub rounds: usize,
    /// The nginx binary (Debian's `nginx-light`; `scripts/bench.sh edge`
    /// installs it). Without one the nginx row is left out.
    #[arg(long, default_value = "/usr/sbin/nginx")]
    pub nginx: PathBuf,
    /// A note on the machine's state for the report (e.g. other builds).
    #[arg(long, default_value = "")]
    pub note: String,
    /// First internal port of the platform under test.
    #[arg(long, default_value_t = 17600)]
    pub port_base: u16,
    #[arg(long, default_value = "docs/benchmarks/edge.md")]
    pub out: PathBuf,
}

/// `mercato bench edge`.
pub async fn run(opts: EdgeArgs) -> anyhow::Result<()> {
    let command = std::env::args().collect::<Vec<_>>().join(" ");
    let (flash, reads, micro) = super::on_up(opts.port_base, 1, &[], |router, data| {
        let opts = opts.clone();
        async move {
            let checkout_opts = CheckoutArgs {
                clients: opts.connections,
                attempts: 0,
                units: opts.units,
                throughput_clients: opts.connections,
                orders: 0,
                skus: 0,
                port_base: opts.port_base,
                out: PathBuf::new(),
                throughput_only: false,
                flash_only: false,
                discounts: false,
                discounts_out: PathBuf::new(),
                rounds: 1,
            };
            let p = checkout::connect(&router, &data, &checkout_opts).await?;
            let reads = reads(&p, &data, &opts).await?;
            eprintln!("flash sale: {} shoppers ...", opts.shoppers);
            let flash = checkout::flash_sale_queued(&p, opts.shoppers, opts.units).await?;
            Ok((flash, reads, micro()))
        }
    })
    .await?;
    let text = report(&opts, &command, &flash, &reads, &micro);
    if let Some(dir) = Path::new(&opts.out).parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&opts.out, &text).with_context(|| format!("writing {}", opts.out.display()))?;
    print!("{text}");
    println!("written to {}", opts.out.display());
    Ok(())
}

/// The read runs, by target; each target's runs in round order.
struct Reads {
    rows: Vec<(&'static str, Vec<Report>)>,
    /// CPU time of the proxy's processes per request, in µs, by target and
    /// round (none for direct reads).
    cpu: Vec<(&'static str, Vec<f64>)>,
    nginx: Option<String>,
}

impl Reads {
    fn mean(&self, name: &str) -> Option<f64> {
        let runs = &self.rows.iter().find(|(n, _)| *n == name)?.1;
        (!runs.is_empty())
            .then(|| runs.iter().map(|r| r.per_second).sum::<f64>() / runs.len() as f64)
    }

    fn cpu_mean(&self, name: &str) -> Option<f64> {
        let runs = &self.cpu.iter().find(|(n, _)| *n == name)?.1;
        (!runs.is_empty()).then(|| runs.iter().sum::<f64>() / runs.len() as f64)
    }
}

/// CPU time (user and system, every thread) of process `pid` and of its
/// children (nginx's workers), in seconds, from `/proc`. Throughput on a
/// machine the load generator and the pod share moves with what else runs;
/// CPU per request of the proxy itself much less.
fn cpu_seconds(pid: u32) -> f64 {
    let tick = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .unwrap_or(100) as f64;
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0.0;
    };
    let mut ticks = 0u64;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(id) = name.to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // `pid (comm) state ppid ...`: comm may hold spaces, so count from ')'.
        let Some((_, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let ppid = fields.get(1).and_then(|f| f.parse::<u32>().ok());
        if id != pid && ppid != Some(pid) {
            continue;
        }
        let field = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok());
        ticks += field(11).unwrap_or(0) + field(12).unwrap_or(0);
    }
    ticks as f64 / tick
}

/// Hop headers for a fixed request, signed again every few seconds.
struct Signed {
    key: Vec<u8>,
    path: String,
    store: StoreId,
    current: Mutex<(Instant, reqwest::header::HeaderMap)>,
}

impl Signed {
    fn new(key: Vec<u8>, path: String, store: StoreId) -> Arc<Self> {
        let headers = hop::direct(&key, &reqwest::Method::GET, &path, store);
        Arc::new(Self {
            key,
            path,
            store,
            current: Mutex::new((Instant::now(), headers)),
        })
    }

    fn headers(&self) -> reqwest::header::HeaderMap {
        let mut current = self.current.lock().unwrap_or_else(|e| e.into_inner());
        if current.0.elapsed() > Duration::from_secs(5) {
            *current = (
                Instant::now(),
                hop::direct(&self.key, &reqwest::Method::GET, &self.path, self.store),
            );
        }
        current.1.clone()
    }
}

async fn reads(p: &Platform, data: &Path, opts: &EdgeArgs) -> anyhow::Result<Reads> {
    let page: Value = p
        .at(reqwest::Method::GET, "/api/products?limit=1")
        .send()
        .await?
        .json()
        .await?;
    let product = page["items"][0]["id"]
        .as_str()
        .context("the demo store has no product")?
        .to_owned();
    let path = format!("/api/products/{product}");
    let store: StoreId = p.store.parse().context("store id")?;
    let hop_key = std::fs::read_to_string(data.join("hop.key")).context("reading hop.key")?;
    let keys = mercato_devstack::keys::PlatformKeys::load(data).context("the platform's keys")?;
    let feed_token = keys.router_token(86_400)?;
    let pods: Value = p
        .http
        .get(format!("{}/v1/pods", p.router))
        .header("host", "localhost")
        .bearer_auth(&p.operator)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let pod_url = pods["items"][0]["url"]
        .as_str()
        .or_else(|| pods[0]["url"].as_str())
        .with_context(|| format!("no pod url in {pods}"))?
        .trim_end_matches('/')
        .to_owned();
    let signed = Signed::new(hop_key.trim().as_bytes().to_vec(), path.clone(), store);

    // Two more routers of the same platform, alike but for the limits.
    let cp = format!("http://127.0.0.1:{}", opts.port_base);
    let trusted = keys.trusted();
    let limited = Router::spawn(&cp, &trusted, &feed_token, hop_key.trim(), true).await?;
    let unlimited = Router::spawn(&cp, &trusted, &feed_token, hop_key.trim(), false).await?;
    let nginx = if opts.nginx.exists() {
        Some(Nginx::start(&opts.nginx, &pod_url).await?)
    } else {
        eprintln!(
            "no nginx at {}: the nginx row is left out",
            opts.nginx.display()
        );
        None
    };

    enum Via {
        Signed(String),
        Host(String),
    }
    // Each target with the process whose CPU is the proxy's.
    let mut targets: Vec<(&'static str, Via, Option<u32>)> = vec![
        (
            "direct to the pod (signed hop)",
            Via::Signed(pod_url.clone()),
            None,
        ),
        (
            "router, limits on",
            Via::Host(limited.url.clone()),
            limited.child.id(),
        ),
        (
            "router, limits off",
            Via::Host(unlimited.url.clone()),
            unlimited.child.id(),
        ),
    ];
    if let Some(n) = &nginx {
        targets.insert(
            1,
            (
                "nginx → pod (signed hop)",
                Via::Signed(n.url.clone()),
                n.child.id(),
            ),
        );
    }
    let mut rows: Vec<(&'static str, Vec<Report>)> =
        targets.iter().map(|(n, _, _)| (*n, Vec::new())).collect();
    let mut cpu: Vec<(&'static str, Vec<f64>)> = targets
        .iter()
        .filter(|(_, _, pid)| pid.is_some())
        .map(|(n, _, _)| (*n, Vec::new()))
        .collect();
    let duration = Duration::from_secs(opts.seconds);
    for round in 0..opts.rounds {
        for (i, (name, via, pid)) in targets.iter().enumerate() {
            let http = reqwest::Client::builder()
                .pool_max_idle_per_host(opts.connections)
                .timeout(Duration::from_secs(10))
                .build()?;
            let (url, host, signed) = match via {
                Via::Signed(base) => (format!("{base}{path}"), None, Some(signed.clone())),
                Via::Host(base) => (format!("{base}{path}"), Some(p.host.clone()), None),
            };
            let request = move || {
                let mut r = http.get(&url);
                if let Some(h) = &host {
                    r = r.header("host", h);
                }
                if let Some(s) = &signed {
                    r = r.headers(s.headers());
                }
                let r = r.send();
                async move {
                    match r.await {
                        Ok(r) if r.status().is_success() => r.bytes().await.is_ok(),
                        Ok(r) => {
                            eprintln!("read answered {}", r.status());
                            false
                        }
                        Err(_) => false,
                    }
                }
            };
            // Warm up the connections and the cache.
            for _ in 0..100 {
                request().await;
            }
            let cpu_before = pid.map(cpu_seconds);
            let report = loadgen::run(
                &format!("{name} (round {})", round + 1),
                opts.connections,
                duration,
                request,
            )
            .await;
            if let (Some(pid), Some(before)) = (pid, cpu_before) {
                let used = cpu_seconds(*pid) - before;
                let per_request = used * 1e6 / report.requests.max(1) as f64;
                eprintln!("{name}: {per_request:.1} µs of CPU per request");
                if let Some((_, runs)) = cpu.iter_mut().find(|(n, _)| n == name) {
                    runs.push(per_request);
                }
            }
            eprintln!(
                "{}: {} req/s, p99 {} ms",
                report.name, report.per_second, report.p99_ms
            );
            rows[i].1.push(report);
        }
    }
    let nginx_version = nginx.as_ref().map(|n| n.version.clone());
    drop(nginx);
    drop((limited, unlimited));
    Ok(Reads {
        rows,
        cpu,
        nginx: nginx_version,
    })
}

/// A router process of the platform under test.
struct Router {
    url: String,
    child: tokio::process::Child,
}

impl Router {
    /// A router of the platform: it trusts the platform's public keys and
    /// reads the routing feed with `feed_token`.
    async fn spawn(
        cp: &str,
        trusted_keys: &str,
        feed_token: &str,
        hop_key: &str,
        limits: bool,
    ) -> anyhow::Result<Self> {
        let port = mercato_devstack::local::free_port()?;
        let child = tokio::process::Command::new(std::env::current_exe()?)
            .args(["serve", "router"])
            .env("RUST_LOG", "warn")
            .env("MERCATO_ROUTER_LISTEN", format!("127.0.0.1:{port}"))
            .env("MERCATO_ROUTER_CONTROL_PLANE_URL", cp)
            .env("MERCATO_ROUTER_TOKENS__TRUSTED_KEYS", trusted_keys)
            .env("MERCATO_ROUTER_CONTROL_PLANE_TOKEN", feed_token)
            .env("MERCATO_ROUTER_HOP_SECRET", hop_key)
            .env("MERCATO_ROUTER_PLATFORM_DOMAIN", "localhost")
            .env("MERCATO_ROUTER_LIMITS__ENABLED", limits.to_string())
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .context("starting a router")?;
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ready = reqwest::get(format!("{url}/readyz"))
                .await
                .is_ok_and(|r| r.status().is_success());
            if ready {
                return Ok(Self { url, child });
            }
            if Instant::now() > deadline {
                bail!("the router on port {port} was not ready within 30 s");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// nginx in front of the pod: `proxy_pass` to an upstream with keep-alive.
struct Nginx {
    url: String,
    version: String,
    child: tokio::process::Child,
    _dir: tempfile::TempDir,
}

impl Nginx {
    async fn start(bin: &Path, pod_url: &str) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let port = mercato_devstack::local::free_port()?;
        let upstream = pod_url
            .strip_prefix("http://")
            .context("the pod url is not http://")?;
        let d = dir.path().display();
        let conf = format!(
            "worker_processes auto;\n\
             pid {d}/nginx.pid;\n\
             error_log {d}/error.log warn;\n\
             daemon off;\n\
             events {{ worker_connections 4096; }}\n\
             http {{\n\
               access_log off;\n\
               client_body_temp_path {d}/body;\n\
               proxy_temp_path {d}/proxy;\n\
               upstream pod {{ server {upstream}; keepalive 64; }}\n\
               server {{\n\
                 listen 127.0.0.1:{port} backlog=4096;\n\
                 location / {{\n\
                   proxy_pass http://pod;\n\
                   proxy_http_version 1.1;\n\
                   proxy_set_header Connection \"\";\n\
                 }}\n\
               }}\n\
             }}\n"
        );
        std::fs::write(dir.path().join("nginx.conf"), conf)?;
        let version = std::process::Command::new(bin)
            .arg("-v")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stderr).trim().to_owned())
            .unwrap_or_default();
        let child = tokio::process::Command::new(bin)
            .arg("-p")
            .arg(dir.path())
            .arg("-c")
            .arg(dir.path().join("nginx.conf"))
            .arg("-e")
            .arg(dir.path().join("error.log"))
            .stdin(std::process::Stdio::null())
            // Not killed on drop: a SIGKILL to the master leaves its
            // workers running; `Drop` sends SIGQUIT and waits.
            .spawn()
            .context("starting nginx")?;
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(10);
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            if Instant::now() > deadline {
                let log = std::fs::read_to_string(dir.path().join("error.log")).unwrap_or_default();
                bail!("nginx did not listen within 10 s: {log}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(Self {
            url,
            version,
            child,
            _dir: dir,
        })
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // SIGQUIT: the master stops its workers too (a SIGKILL would leave
        // them running).
        if let Some(pid) = self.child.id() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid as i32),
                nix::sys::signal::Signal::SIGQUIT,
            );
            // The master exits after its workers (a few ms when idle).
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline && !matches!(self.child.try_wait(), Ok(Some(_))) {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

/// Per-request costs of the router's own checks, measured in-process.
struct Micro {
    sign_ns: f64,
    limits_ns: f64,
}

fn micro() -> Micro {
    const N: u32 = 200_000;
    let key = b"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    let store = StoreId::new();
    let method = reqwest::Method::GET;
    let uri: axum::http::Uri = "/api/products/0190f0aa-0000-7000-8000-000000000001"
        .parse()
        .expect("a valid uri");
    let headers = hop::direct(key, &method, "/", store);
    let started = Instant::now();
    let mut len = 0;
    for _ in 0..N {
        len += hop::sign_now(key, &method, &uri, &headers).len();
    }
    let sign_ns = started.elapsed().as_nanos() as f64 / f64::from(N);
    std::hint::black_box(len);
    let limiter = mercato_router::limits::Limiter::new(Default::default());
    let client: std::net::IpAddr = "203.0.113.7".parse().expect("an address");
    let started = Instant::now();
    for _ in 0..N {
        let now = tokio::time::Instant::now();
        // A product read: no client class, the store's budget.
        let _ = mercato_router::limits::classify(&method, uri.path(), false)
            .map(|class| limiter.client(class, client, now));
        let _ = limiter.store(store, now);
    }
    let limits_ns = started.elapsed().as_nanos() as f64 / f64::from(N);
    Micro { sign_ns, limits_ns }
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e4).round() / 10.0
}

fn report(
    opts: &EdgeArgs,
    command: &str,
    flash: &QueuedFlash,
    reads: &Reads,
    micro: &Micro,
) -> String {
    let mut answers = String::new();
    for (kind, n) in &flash.answers {
        answers.push_str(&format!("| {kind} | {n} |\n"));
    }
    let share = |n: usize| (n as f64 / flash.shoppers.max(1) as f64 * 1000.0).round() / 10.0;
    let mut all_runs = Vec::new();
    let mut means = String::from(
        "| what | mean req/s over rounds | proxy's CPU per request, µs |\n|---|---:|---:|\n",
    );
    for (name, runs) in &reads.rows {
        all_runs.extend(runs.iter().cloned());
        means.push_str(&format!(
            "| {name} | {} | {} |\n",
            reads
                .mean(name)
                .map_or("-".into(), |m| m.round().to_string()),
            reads
                .cpu_mean(name)
                .map_or("-".into(), |c| format!("{c:.1}")),
        ));
    }
    let pct = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => format!("{:+.1} %", (a / b - 1.0) * 100.0),
        _ => "-".into(),
    };
    let router_on = reads.mean("router, limits on");
    let router_off = reads.mean("router, limits off");
    let nginx = reads.mean("nginx → pod (signed hop)");
    let cpu_vs_nginx = pct(
        reads.cpu_mean("router, limits on"),
        reads.cpu_mean("nginx → pod (signed hop)"),
    );
    let direct = reads.mean("direct to the pod (signed hop)");
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    let checks_share = router_on.map_or(0.0, |rps| {
        rps * (micro.sign_ns + micro.limits_ns) / (cores * 1e9) * 100.0
    });
    format!(
        "# Edge: waiting room, router vs nginx, cost of limits and signing\n\n\
         Generated by `scripts/bench.sh edge` (`{command}`, release build) on {machine}, {date}. {note}\n\n\
         The platform runs as separate processes started by `mercato up` (control plane, one pod with \
         its Postgres 15 and redis-server, test gateway, Kafka-API broker, router); the load generator \
         runs on the same machine and competes with them for the same cores.\n\n\
         ## Flash sale through the waiting room\n\n\
         {shoppers} shoppers at once (each its own guest cart of one unit and Idempotency-Key) on one \
         SKU of {units} units, through the router with the default waiting room \
         (`max_in_flight_per_store` 32). A shopper answered `503 queued` waits `estimated_wait_ms` \
         (clamped to 50 ms – 5 s) and sends the same checkout again with its ticket, until a final \
         answer.\n\n\
         | final answer | shoppers |\n|---|---:|\n{answers}\n\
         - answers other than 201, 409 out_of_stock, 402 (or a ticket on the way): **{unexpected}**\n\
         - shoppers queued at least once: **{queued} ({queued_share} %)**; queued answers in all: {queued_answers}\n\
         - time to admission (first request → the request let through), all shoppers: p50 {a50} ms, \
           p99 **{a99} ms**, max {amax} ms; queued shoppers only: p50 {q50} ms, p99 {q99} ms\n\
         - time to the final answer: p50 {f50} ms, p99 {f99} ms; the whole sale {wall} s\n\
         - on hand after: {on_hand} (of {units})\n\n\
         ## Cached product read: direct, nginx, router\n\n\
         `GET /api/products/{{id}}` of the demo store (a cached body) at {c} connections, {s} s per run, \
         {rounds} rounds in turn. Direct and nginx: the client sends a hop signed with the platform's hop \
         key (re-signed every 5 s), nginx ({nginx_version}) passes it on with `proxy_pass` to an upstream \
         with `keepalive 64`, HTTP/1.1. The router resolves the host, checks for a token, applies its \
         limits, signs the hop and forwards over its pooled keep-alive connections.\n\n\
         {table}\n{means}\n\
         - router (limits on) vs nginx: **{vs_nginx}**; router vs direct: {vs_direct}; nginx vs direct: {nginx_vs_direct}\n\
         - the proxy's own CPU per request (its processes' user + system time over the run, from \
           `/proc`; less moved by what else runs than throughput): router (limits on) vs nginx **{cpu_vs_nginx}**\n\n\
         ## Cost of rate limiting and signing\n\n\
         - router with limits on vs off (two router processes, measured in turn): **{limits_pct}** throughput\n\
         - in-process, per request: hop signature (HMAC-SHA256 over store, method, path, request id, \
           client) {sign_ns} ns; limiter (classify + store bucket) {limits_ns} ns. At the router's \
           {router_rps} req/s that is **{checks_share} %** of {cores} cores.\n\
         - signing cannot be switched off end to end: a pod refuses an unsigned request (that is the point), \
           so the signature's share is computed from its measured cost, not from a run without it.\n",
        machine = loadgen::machine(),
        date = chrono::Utc::now().format("%Y-%m-%d"),
        note = opts.note,
        shoppers = flash.shoppers,
        units = flash.units,
        unexpected = flash.unexpected(),
        queued = flash.queued,
        queued_share = share(flash.queued),
        queued_answers = flash.queued_answers,
        a50 = ms(quantile(&flash.to_admission, 0.5)),
        a99 = ms(quantile(&flash.to_admission, 0.99)),
        amax = ms(flash.to_admission.last().copied().unwrap_or_default()),
        q50 = ms(quantile(&flash.queued_to_admission, 0.5)),
        q99 = ms(quantile(&flash.queued_to_admission, 0.99)),
        f50 = ms(quantile(&flash.to_answer, 0.5)),
        f99 = ms(quantile(&flash.to_answer, 0.99)),
        wall = (flash.wall.as_secs_f64() * 10.0).round() / 10.0,
        on_hand = flash.on_hand_after,
        c = opts.connections,
        s = opts.seconds,
        rounds = opts.rounds,
        nginx_version = reads.nginx.as_deref().unwrap_or("not installed"),
        table = loadgen::table(&all_runs),
        vs_nginx = pct(router_on, nginx),
        vs_direct = pct(router_on, direct),
        nginx_vs_direct = pct(nginx, direct),
        limits_pct = pct(router_on, router_off),
        sign_ns = micro.sign_ns.round(),
        limits_ns = micro.limits_ns.round(),
        router_rps = router_on.map_or(0.0, f64::round),
        checks_share = (checks_share * 100.0).round() / 100.0,
    )
}
