//! Test harness: a whole platform per test on loopback. One real Postgres
//! cluster (a fresh database per component) and one real `redis-server` per
//! pod, started as child processes on free ports; the control plane, pods
//! and router run in-process as the same `Application`s `main` starts,
//! bound to port 0. Everything is torn down when the test ends, so tests
//! run in parallel.

#![allow(dead_code)]

pub mod browser;
pub mod receiver;
pub mod shop;
pub mod web;

use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt as _;
use std::time::Duration;

use mercato_devstack::keys::PlatformKeys;
use mercato_devstack::local::{
    free_port, locate_tansu, Binaries, Durability, GatewayProcess, MailboxProcess, PgCluster,
    RedisServer, Tansu, TansuStorage,
};
use mercato_tenants::{Claims, Role};
use serde_json::{json, Value};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub const PLATFORM: &str = "localhost";

/// An in-process application and the means to stop it.
pub struct Running {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<anyhow::Result<()>>,
}

impl Running {
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match tokio::time::timeout(Duration::from_secs(30), &mut self.task).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(e))) => panic!("application failed: {e:#}"),
            Ok(Err(e)) => panic!("application panicked: {e}"),
            Err(_) => panic!("application did not stop within 30 s"),
        }
    }
}

macro_rules! spawn_app {
    ($app:expr) => {{
        let app = $app;
        let addr = app.local_addr();
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(app.run_until(async move {
            let _ = rx.await;
        }));
        Running {
            addr,
            stop: Some(tx),
            task,
        }
    }};
}

pub struct Pod {
    pub name: String,
    pub database_url: String,
    pub app: Running,
    pub redis: RedisServer,
    /// The pod's state, for tests that call a context's interface directly.
    pub state: mercato_pod::AppState,
}

/// A pod running as its own OS process (`mercato serve pod`), so that a
/// test can kill it for real, mid-request.
pub struct PodProcess {
    child: tokio::process::Child,
    pub port: u16,
    pub database_url: String,
    pub redis: RedisServer,
    env: Vec<(String, String)>,
    log: std::path::PathBuf,
}

impl PodProcess {
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    async fn spawn(
        port: u16,
        env: &[(String, String)],
        log: &std::path::Path,
    ) -> anyhow::Result<tokio::process::Child> {
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)?;
        let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_mercato"))
            .args(["serve", "pod"])
            .envs(env.iter().cloned())
            .env("RUST_LOG", "info")
            .stdin(std::process::Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .kill_on_drop(true)
            .spawn()?;
        let http = reqwest::Client::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(r) = http
                .get(format!("http://127.0.0.1:{port}/healthz"))
                .send()
                .await
            {
                if r.status().is_success() {
                    return Ok(child);
                }
            }
            if let Some(status) = child.try_wait()? {
                anyhow::bail!(
                    "pod process exited ({status}):\n{}",
                    mercato_devstack::local::tail(log)
                );
            }
            anyhow::ensure!(
                tokio::time::Instant::now() < deadline,
                "pod process did not answer within 30 s"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits for the process to exit on its own (a failpoint); its status.
    pub async fn wait_exit(&mut self) -> std::process::ExitStatus {
        tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .expect("the pod process exits")
            .expect("wait")
    }

    /// Starts the pod again on the same port, database and Redis, with
    /// `changes` to its environment (`MERCATO_POD_*` names).
    pub async fn restart(&mut self, changes: &[(&str, &str)]) {
        let _ = self.child.kill().await;
        for (k, v) in changes {
            self.env.retain(|(name, _)| name != k);
            self.env.push(((*k).to_owned(), (*v).to_owned()));
        }
        self.child = Self::spawn(self.port, &self.env, &self.log)
            .await
            .expect("pod process restarts");
    }

    pub fn log(&self) -> String {
        mercato_devstack::local::tail(&self.log)
    }
}

/// The stack's Kafka-API broker (one `tansu`), which a test may take away
/// and bring back on the same port.
///
/// Its storage is a SQLite file in the stack's temporary directory rather
/// than `memory://`: a restarted broker must keep its topics (and their
/// ids), messages and committed offsets like a real Kafka does. A broker
/// that forgets its topics under running clients answers their metadata
/// requests with nameless topics, which crashes librdkafka 2.12.
pub struct Kafka {
    broker: Tansu,
}

impl Kafka {
    /// Bootstrap servers, as pods and the control plane are given them.
    pub fn brokers(&self) -> String {
        self.broker.brokers()
    }

    /// Stops the broker; clients keep retrying until it is back.
    pub async fn stop(&mut self) {
        self.broker.stop().await;
    }

    /// Starts the broker again on its port, with what it held.
    pub async fn start(&mut self) {
        self.broker.restart().await.expect("tansu restarts");
    }
}

/// Sends the logs of the in-process control plane, pods and router to the
/// test's output, which the runner shows when the test fails: what
/// `RUST_LOG` asks for, or warnings and errors (a 500's cause, logged by
/// `ApiError::internal`, next to the failed assertion).
pub fn capture_logs() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_test_writer()
        .try_init();
}

pub struct Stack {
    pub http: reqwest::Client,
    pub kafka: Kafka,
    pub operator: String,
    /// The platform's signing keys (tests sign store sessions and
    /// platform tokens with them as the pods and the control plane would).
    pub keys: PlatformKeys,
    /// The router → pod hop key's seed.
    secret: String,
    pub cp_database_url: String,
    pub control_plane: Option<Running>,
    cp_addr: SocketAddr,
    pub pods: Vec<Pod>,
    pub router: Running,
    /// The test payment gateway, a child process.
    pub gateway: GatewayProcess,
    /// The mailbox every pod sends its mail to, a child process.
    pub mailbox: MailboxProcess,
    pg: PgCluster,
    _dir: tempfile::TempDir,
}

/// Starts a server on a free port, trying again on another port if one
/// was taken between choosing it and binding it.
async fn on_a_free_port<T, F, Fut>(what: &str, mut start: F) -> T
where
    F: FnMut(u16) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<T>>,
{
    let mut last = None;
    for _ in 0..3 {
        match start(free_port().expect("free port")).await {
            Ok(server) => return server,
            Err(e) => last = Some(e),
        }
    }
    panic!("{what} did not start: {:#}", last.expect("an error"));
}

/// The router → pod hop key of a stack whose token secret is `secret`: a
/// key of its own, as in a deployment.
pub fn hop_secret(secret: &str) -> String {
    format!("hop-{secret}")
}

/// The headers a router would add to a request for `store`, for tests that
/// call a pod directly.
pub fn hop_headers(
    stack: &Stack,
    method: reqwest::Method,
    path: &str,
    store: &str,
) -> reqwest::header::HeaderMap {
    mercato_tenants::hop::direct(
        hop_secret(stack.secret()).as_bytes(),
        &method,
        path,
        store.parse().expect("store id"),
    )
}

/// A Postgres cluster alone, in `dir`, for tests below the HTTP faces.
pub async fn bare_pg(dir: &std::path::Path) -> PgCluster {
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let bins = Binaries::locate().expect("postgres installed");
    start_pg(&bins, dir).await
}

async fn start_pg(bins: &Binaries, dir: &std::path::Path) -> PgCluster {
    on_a_free_port("postgres", |port| {
        let path = dir.join(format!("pg-{port}"));
        async move { PgCluster::start(bins, &path, port, Durability::Throwaway).await }
    })
    .await
}

/// How long the gateway's slow test card takes.
pub const GATEWAY_SLOW_MS: u64 = 1500;

async fn start_gateway(dir: &std::path::Path, otlp_endpoint: &str) -> GatewayProcess {
    let exe = std::path::Path::new(env!("CARGO_BIN_EXE_mercato"));
    let key = format!("sk_test_{}", uuid::Uuid::new_v4().simple());
    let secret = format!("whsec_{}", uuid::Uuid::new_v4().simple());
    on_a_free_port("test gateway", |port| {
        let log = dir.join(format!("gateway-{port}.log"));
        let (key, secret) = (key.clone(), secret.clone());
        async move {
            GatewayProcess::start(
                exe,
                port,
                &key,
                &secret,
                GATEWAY_SLOW_MS,
                Some(&log),
                otlp_endpoint,
            )
            .await
        }
    })
    .await
}

async fn start_mailbox(dir: &std::path::Path) -> MailboxProcess {
    let exe = std::path::Path::new(env!("CARGO_BIN_EXE_mercato"));
    on_a_free_port("mailbox", |smtp| {
        let log = dir.join(format!("mailbox-{smtp}.log"));
        async move {
            let http = free_port()?;
            MailboxProcess::start(exe, smtp, http, Some(&log)).await
        }
    })
    .await
}

/// The pods' `[webhooks]` in tests: receivers on loopback over plain
/// HTTP (as `mercato up` allows), quick polls and retries.
pub fn webhooks_config() -> mercato_pod::config::WebhooksConfig {
    mercato_pod::config::WebhooksConfig {
        poll_ms: 100,
        retry_base_ms: 100,
        retry_max_ms: 1_000,
        timeout_ms: 2_000,
        allow_http: true,
        allow_private_targets: true,
        ..Default::default()
    }
}

/// The pods' `[mail]` in tests: the stack's mailbox, quick polls and
/// retries.
pub fn mail_config(mailbox: &MailboxProcess) -> mercato_pod::config::MailConfig {
    mercato_pod::config::MailConfig {
        smtp_url: mailbox.smtp_url(),
        store_url: format!("http://{{handle}}.{PLATFORM}"),
        poll_ms: 100,
        abandoned_cart_poll_ms: 200,
        retry_base_ms: 100,
        retry_max_ms: 1_000,
        // A claimed mail's lease is 8 of these: a move's target takes over
        // a mail caught mid-send within the tests' waits.
        timeout_ms: 1_000,
        ..Default::default()
    }
}

async fn start_kafka(dir: &std::path::Path) -> Kafka {
    let bin = locate_tansu().expect("tansu installed (scripts/bootstrap.sh)");
    let broker = on_a_free_port("tansu", |port| {
        let bin = bin.clone();
        let log = dir.join(format!("tansu-{port}.log"));
        let storage = TansuStorage::Sqlite(dir.join(format!("tansu-{port}")));
        async move { Tansu::start(&bin, storage, port, &log).await }
    })
    .await;
    Kafka { broker }
}

async fn start_redis(bins: &Binaries, dir: &std::path::Path) -> RedisServer {
    on_a_free_port("redis", |port| {
        let path = dir.join(format!("redis-{port}"));
        async move { RedisServer::start(bins, &path, port, Durability::Throwaway).await }
    })
    .await
}

pub fn control_plane_config(
    listen: SocketAddr,
    database_url: &str,
    keys: &PlatformKeys,
) -> mercato_control_plane::ControlPlaneConfig {
    mercato_control_plane::ControlPlaneConfig {
        listen: listen.to_string(),
        database_url: database_url.to_owned(),
        tokens: keys.control_plane_tokens(),
        platform_domain: PLATFORM.into(),
        ..Default::default()
    }
}

impl Stack {
    /// Starts a platform with `pods` pods, all registered, and a router that
    /// has loaded the routing table.
    pub async fn start(pods: usize) -> Stack {
        Self::start_with(pods, |_| {}).await
    }

    /// [`Stack::start`] with each pod's configuration adjusted by
    /// `configure` (short timers, a feature off, ...).
    pub async fn start_with(pods: usize, configure: impl Fn(&mut mercato_pod::PodConfig)) -> Stack {
        Self::start_full(pods, configure, "").await
    }

    /// [`Stack::start`] whose spans go to the OTLP collector
    /// `otlp_endpoint`: the gateway process sends its own; the in-process
    /// control plane, pods and router trace through the test process's
    /// subscriber, which the test installs (`mercato::telemetry::init`).
    pub async fn start_exporting(pods: usize, otlp_endpoint: &str) -> Stack {
        Self::start_full(pods, |_| {}, otlp_endpoint).await
    }

    async fn start_full(
        pods: usize,
        configure: impl Fn(&mut mercato_pod::PodConfig),
        otlp_endpoint: &str,
    ) -> Stack {
        if otlp_endpoint.is_empty() {
            capture_logs();
        }
        let dir = tempfile::tempdir().expect("tempdir");
        // Postgres runs as an unprivileged user when tests run as root.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
            .expect("chmod");
        let bins = Binaries::locate().expect("postgres and redis-server installed");
        let pg = start_pg(&bins, dir.path()).await;
        let secret = format!(
            "{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        );
        let keys = PlatformKeys::generate().expect("keys");
        let operator = keys.operator_token("test", 3600).expect("token");
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("client");

        let gateway = start_gateway(dir.path(), otlp_endpoint).await;
        let mailbox = start_mailbox(dir.path()).await;
        let kafka = start_kafka(dir.path()).await;
        let cp_database_url = pg.create_database("control_plane").await.expect("cp db");
        let cp_app =
            mercato_control_plane::Application::build(mercato_control_plane::ControlPlaneConfig {
                kafka_brokers: Some(kafka.brokers()),
                ..control_plane_config(
                    "127.0.0.1:0".parse().expect("addr"),
                    &cp_database_url,
                    &keys,
                )
            })
            .await
            .expect("control plane starts");
        let control_plane = spawn_app!(cp_app);
        let cp_addr = control_plane.addr;

        let mut started = Vec::new();
        for i in 1..=pods {
            let name = format!("pod-{i}");
            let database_url = pg
                .create_database(&format!("pod_{i}"))
                .await
                .expect("pod db");
            let redis = start_redis(&bins, dir.path()).await;
            let mut config = mercato_pod::PodConfig {
                name: name.clone(),
                listen: "127.0.0.1:0".into(),
                database_url: database_url.clone(),
                redis_url: redis.url(),
                tokens: keys.pod_tokens(),
                hop_secret: hop_secret(&secret),
                db_pool_size: 8,
                media: mercato_pod::config::MediaConfig {
                    dir: dir.path().join("media").display().to_string(),
                    ..Default::default()
                },
                gateway: mercato_pod::config::GatewayConfig {
                    url: gateway.url(),
                    api_key: gateway.api_key().to_owned(),
                    webhook_secret: gateway.webhook_secret().to_owned(),
                    ..Default::default()
                },
                events: mercato_pod::config::EventsConfig {
                    kafka_brokers: Some(kafka.brokers()),
                    relay_backoff_max_ms: 1_000,
                    ..Default::default()
                },
                mail: mail_config(&mailbox),
                webhooks: webhooks_config(),
                // Tests check out many times with one email and one card,
                // which the risk screen would rightly send to review; it has
                // its own tests (tests/risk.rs, screening on).
                checkout: mercato_pod::config::CheckoutConfig {
                    risk_screening: false,
                    ..Default::default()
                },
                ..Default::default()
            };
            configure(&mut config);
            let app = mercato_pod::Application::build(config)
                .await
                .expect("pod starts");
            let state = app.state().clone();
            let app = spawn_app!(app);
            let r = http
                .post(format!("http://{cp_addr}/v1/pods"))
                .bearer_auth(&operator)
                .json(&json!({"name": name, "url": app.url(), "capacity": 100, "database_url": database_url}))
                .send()
                .await
                .expect("register pod");
            assert_eq!(
                r.status(),
                201,
                "registering {name}: {}",
                r.text().await.unwrap_or_default()
            );
            started.push(Pod {
                name,
                database_url,
                app,
                redis,
                state,
            });
        }

        let router_app = mercato_router::Application::build(mercato_router::RouterConfig {
            listen: "127.0.0.1:0".into(),
            control_plane_url: format!("http://{cp_addr}"),
            tokens: keys.router_tokens(),
            control_plane_token: keys.router_token(3600).expect("router token"),
            hop_secret: hop_secret(&secret),
            platform_domain: PLATFORM.into(),
            // Tests sign up and log in far more often than a person; the
            // limits have their own test.
            limits: mercato_router::limits::LimitsConfig {
                enabled: false,
                ..Default::default()
            },
            // Tests send hundreds of checkouts at once to test the pod's
            // stock and saga; the waiting room has its own test
            // (tests/checkout.rs, a router with a threshold of 1).
            waiting_room: mercato_router::waiting_room::WaitingRoomConfig {
                enabled: false,
                ..Default::default()
            },
            // The production default: on this 2-core machine two load
            // tests side by side (1,000 and 200 concurrent checkouts) have
            // kept a checkout past 10 s.
            upstream_timeout_ms: 30_000,
            sync_wait_secs: 5,
            ..Default::default()
        })
        .await
        .expect("router starts");
        let router = spawn_app!(router_app);
        let stack = Stack {
            http,
            kafka,
            operator,
            keys,
            secret,
            cp_database_url,
            control_plane: Some(control_plane),
            cp_addr,
            pods: started,
            router,
            gateway,
            mailbox,
            pg,
            _dir: dir,
        };
        stack
            .eventually("router loads the routing table", || async {
                let r = stack
                    .http
                    .get(format!("{}/readyz", stack.router.url()))
                    .send()
                    .await
                    .ok()?;
                r.status().is_success().then_some(())
            })
            .await;
        stack
    }

    /// Polls `probe` every 25 ms until it yields, for at most 15 s.
    pub async fn eventually<T, F, Fut>(&self, what: &str, probe: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Option<T>>,
    {
        self.eventually_within(what, Duration::from_secs(15), probe)
            .await
    }

    /// [`Stack::eventually`] with its own bound, for what waits on a
    /// reconnect's backoff (a restarted broker) on a busy machine.
    pub async fn eventually_within<T, F, Fut>(
        &self,
        what: &str,
        within: Duration,
        mut probe: F,
    ) -> T
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Option<T>>,
    {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if let Some(v) = probe().await {
                return v;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out waiting until {what}"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// The value of an unlabelled metric on the `/metrics` of the process at
    /// `base` (a URL); `None` if it cannot be read. Does not panic, so a test
    /// may call it while it holds something it must release.
    pub async fn metric(&self, base: &str, name: &str) -> Option<f64> {
        let text = self
            .http
            .get(format!("{base}/metrics"))
            .send()
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
    }

    /// A request through the router for `host`.
    pub fn at(&self, method: reqwest::Method, host: &str, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.router.url()))
            .header("host", host)
    }

    pub fn get(&self, host: &str, path: &str) -> reqwest::RequestBuilder {
        self.at(reqwest::Method::GET, host, path)
    }

    pub fn post(&self, host: &str, path: &str) -> reqwest::RequestBuilder {
        self.at(reqwest::Method::POST, host, path)
    }

    /// The control plane's operator API, reached through the router on the
    /// platform domain.
    pub fn operator(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.at(method, PLATFORM, path).bearer_auth(&self.operator)
    }

    /// Creates a store and waits until the router serves its domain.
    pub async fn create_store(&self, handle: &str) -> Value {
        let r = self
            .operator(reqwest::Method::POST, "/v1/stores")
            .json(&json!({"name": format!("Store {handle}"), "handle": handle, "owner_email": format!("owner@{handle}.example")}))
            .send()
            .await
            .expect("create store");
        assert_eq!(r.status(), 201, "creating {handle}");
        let store: Value = r.json().await.expect("json");
        let host = format!("{handle}.{PLATFORM}");
        self.eventually("the router routes the new store", || async {
            let r = self.get(&host, "/api/products").send().await.ok()?;
            (r.status() == 200).then_some(())
        })
        .await;
        store
    }

    pub fn staff_token(&self, store: &Value) -> String {
        let id = store["id"]
            .as_str()
            .expect("store id")
            .parse()
            .expect("uuid");
        self.keys
            .issue(&Claims::new("staff", Role::Staff, Some(id), now(), 3600))
            .expect("token")
    }

    /// Creates a product through the router as staff of the store at `host`.
    pub async fn create_product(
        &self,
        host: &str,
        token: &str,
        title: &str,
        sku: &str,
        price: i64,
    ) -> Value {
        let r = self
            .post(host, "/admin/api/products")
            .bearer_auth(token)
            .json(&json!({"title": title, "variants": [{"sku": sku, "price_minor": price}]}))
            .send()
            .await
            .expect("create product");
        assert_eq!(r.status(), 201, "creating {title}");
        r.json().await.expect("json")
    }

    /// The pod the control plane places `store` on now (it may have moved
    /// since `store` was read).
    pub async fn pod_for(&self, store: &Value) -> &Pod {
        let current: Option<Value> = match self
            .http
            .get(format!(
                "{}/v1/stores/{}",
                self.control_plane_url(),
                store["id"].as_str().unwrap_or_default()
            ))
            .bearer_auth(&self.operator)
            .send()
            .await
        {
            Ok(r) if r.status() == 200 => r.json().await.ok(),
            _ => None,
        };
        let pod_id = current
            .as_ref()
            .map(|s| &s["pod_id"])
            .unwrap_or(&store["pod_id"]);
        self.pod_by_id(pod_id).await
    }

    /// The stack's pod with the control plane's id `pod_id`.
    pub async fn pod_by_id(&self, pod_id: &Value) -> &Pod {
        let pods: Value = self
            .http
            .get(format!("{}/v1/pods", self.control_plane_url()))
            .bearer_auth(&self.operator)
            .send()
            .await
            .expect("list pods")
            .json()
            .await
            .expect("json");
        let pod = pods
            .as_array()
            .expect("array")
            .iter()
            .find(|p| &p["id"] == pod_id)
            .expect("pod listed");
        let url = pod["url"].as_str().expect("url");
        self.pods
            .iter()
            .find(|p| p.app.url() == url)
            .expect("the pod is in the stack")
    }

    /// Stops the Redis of pod `i` (the pod keeps running without it).
    pub async fn stop_pod_redis(&mut self, i: usize) {
        let client = redis::Client::open(self.pods[i].redis.url()).expect("redis url");
        let mut conn = client
            .get_multiplexed_async_connection()
            .await
            .expect("redis connection");
        let _ = redis::cmd("SHUTDOWN")
            .arg("NOSAVE")
            .query_async::<()>(&mut conn)
            .await;
    }

    pub async fn stop_control_plane(&mut self) {
        if let Some(cp) = self.control_plane.take() {
            cp.stop().await;
        }
    }

    /// Starts the control plane again on the address it had.
    pub async fn start_control_plane(&mut self) {
        self.start_control_plane_with(|_| {}).await
    }

    /// [`Stack::start_control_plane`] with its configuration adjusted.
    pub async fn start_control_plane_with(
        &mut self,
        configure: impl Fn(&mut mercato_control_plane::ControlPlaneConfig),
    ) {
        let mut config = mercato_control_plane::ControlPlaneConfig {
            kafka_brokers: Some(self.kafka.brokers()),
            ..control_plane_config(self.cp_addr, &self.cp_database_url, &self.keys)
        };
        configure(&mut config);
        let app = mercato_control_plane::Application::build(config)
            .await
            .expect("control plane restarts");
        self.control_plane = Some(spawn_app!(app));
    }

    /// The platform's token-signing secret (for extra routers in tests).
    /// The Postgres cluster every pod and the control plane use.
    pub fn pg(&self) -> &PgCluster {
        &self.pg
    }

    /// The seed of the router → pod hop key ([`hop_secret`]).
    pub fn secret(&self) -> &str {
        &self.secret
    }

    /// A routing-feed token for an extra router in a test.
    pub fn router_token(&self) -> String {
        self.keys.router_token(3600).expect("router token")
    }

    pub fn control_plane_url(&self) -> String {
        format!("http://{}", self.cp_addr)
    }

    pub async fn shutdown(mut self) {
        self.router.stop().await;
        for pod in self.pods.drain(..) {
            pod.app.stop().await;
            pod.redis.stop().await;
        }
        if let Some(cp) = self.control_plane.take() {
            cp.stop().await;
        }
        self.gateway.stop().await;
        self.mailbox.stop().await;
        self.pg.stop().await;
        self.kafka.stop().await;
    }

    /// Starts one more pod as its own process (database, Redis, gateway
    /// settings like the in-process pods, plus `extra` `MERCATO_POD_*`
    /// variables) and registers it with the control plane.
    pub async fn spawn_pod_process(&self, name: &str, extra: &[(&str, &str)]) -> PodProcess {
        let bins = Binaries::locate().expect("binaries");
        let database_url = self
            .pg
            .create_database(&name.replace('-', "_"))
            .await
            .expect("pod db");
        let redis = start_redis(&bins, self._dir.path()).await;
        let port = free_port().expect("port");
        let mut env: Vec<(String, String)> = [
            ("MERCATO_POD_NAME", name.to_owned()),
            ("MERCATO_POD_LISTEN", format!("127.0.0.1:{port}")),
            ("MERCATO_POD_DATABASE_URL", database_url.clone()),
            ("MERCATO_POD_REDIS_URL", redis.url()),
            (
                "MERCATO_POD_TOKENS__SIGNING_KEY",
                self.keys.pod_tokens().signing_key,
            ),
            ("MERCATO_POD_TOKENS__TRUSTED_KEYS", self.keys.trusted()),
            ("MERCATO_POD_HOP_SECRET", hop_secret(&self.secret)),
            ("MERCATO_POD_DB_POOL_SIZE", "8".to_owned()),
            ("MERCATO_POD_CHECKOUT__RISK_SCREENING", "false".to_owned()),
            (
                "MERCATO_POD_MEDIA__DIR",
                self._dir.path().join("media").display().to_string(),
            ),
            ("MERCATO_POD_GATEWAY__URL", self.gateway.url()),
            (
                "MERCATO_POD_GATEWAY__API_KEY",
                self.gateway.api_key().to_owned(),
            ),
            (
                "MERCATO_POD_GATEWAY__WEBHOOK_SECRET",
                self.gateway.webhook_secret().to_owned(),
            ),
            ("MERCATO_POD_MAIL__SMTP_URL", self.mailbox.smtp_url()),
            ("MERCATO_POD_MAIL__POLL_MS", "100".to_owned()),
            ("MERCATO_POD_WEBHOOKS__ALLOW_HTTP", "true".to_owned()),
            (
                "MERCATO_POD_WEBHOOKS__ALLOW_PRIVATE_TARGETS",
                "true".to_owned(),
            ),
            ("MERCATO_POD_WEBHOOKS__POLL_MS", "100".to_owned()),
            ("MERCATO_POD_WEBHOOKS__RETRY_BASE_MS", "100".to_owned()),
            ("MERCATO_POD_WEBHOOKS__RETRY_MAX_MS", "1000".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        env.extend(
            extra
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        let log = self._dir.path().join(format!("{name}.log"));
        let child = PodProcess::spawn(port, &env, &log)
            .await
            .expect("pod process starts");
        let pod = PodProcess {
            child,
            port,
            database_url,
            redis,
            env,
            log,
        };
        let r = self
            .http
            .post(format!("{}/v1/pods", self.control_plane_url()))
            .bearer_auth(&self.operator)
            .json(&json!({"name": name, "url": pod.url(), "capacity": 100, "database_url": pod.database_url}))
            .send()
            .await
            .expect("register pod");
        assert_eq!(r.status(), 201, "registering {name}");
        pod
    }

    /// The mails in the mailbox to `to`, oldest first (summaries: `id`,
    /// `to`, `subject`, `message_id`, ...).
    pub async fn mails_to(&self, to: &str) -> Vec<Value> {
        let list: Value = self
            .http
            .get(format!("{}/messages", self.mailbox.http_url()))
            .query(&[("to", to)])
            .send()
            .await
            .expect("mailbox list")
            .json()
            .await
            .expect("json");
        list["items"].as_array().cloned().unwrap_or_default()
    }

    /// One mail of the mailbox, whole: `headers`, `text`, `html`.
    pub async fn mail(&self, summary: &Value) -> Value {
        self.http
            .get(format!(
                "{}/messages/{}",
                self.mailbox.http_url(),
                summary["id"].as_str().expect("mail id")
            ))
            .send()
            .await
            .expect("mailbox message")
            .json()
            .await
            .expect("json")
    }

    /// The mails to `to` whose subject contains `subject`, oldest first.
    pub async fn mails_with(&self, to: &str, subject: &str) -> Vec<Value> {
        self.mails_to(to)
            .await
            .into_iter()
            .filter(|m| m["subject"].as_str().is_some_and(|s| s.contains(subject)))
            .collect()
    }

    /// Waits until `to` has `n` mails whose subject contains `subject`;
    /// them.
    pub async fn await_mails(&self, to: &str, subject: &str, n: usize) -> Vec<Value> {
        self.eventually(&format!("{n} mail(s) '{subject}' to {to}"), || async {
            let found = self.mails_with(to, subject).await;
            (found.len() >= n).then_some(found)
        })
        .await
    }

    /// A payment as the test gateway tells it.
    pub async fn gateway_payment(&self, payment: &str) -> Value {
        self.http
            .get(format!("{}/v1/payments/{payment}", self.gateway.url()))
            .bearer_auth(self.gateway.api_key())
            .send()
            .await
            .expect("payment")
            .json()
            .await
            .expect("json")
    }

    /// The test gateway's counters (authorizations, captures, voids, ...).
    pub async fn gateway_stats(&self) -> Value {
        self.http
            .get(format!("{}/v1/stats", self.gateway.url()))
            .bearer_auth(self.gateway.api_key())
            .send()
            .await
            .expect("gateway stats")
            .json()
            .await
            .expect("json")
    }
}

pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// The error code of a JSON error body.
pub async fn error_code(r: reqwest::Response) -> (u16, String) {
    let status = r.status().as_u16();
    let body: Value = r.json().await.unwrap_or(Value::Null);
    (
        status,
        body["error"]["code"]
            .as_str()
            .unwrap_or("<no code>")
            .to_owned(),
    )
}

/// Sends `req` and gives the status and error code of its answer
/// ([`error_code`]).
pub async fn refusal(req: reqwest::RequestBuilder) -> (u16, String) {
    error_code(req.send().await.expect("send")).await
}

/// Sends `req` and gives the status of its answer.
pub async fn status_of(req: reqwest::RequestBuilder) -> u16 {
    req.send().await.expect("send").status().as_u16()
}

/// The tokens of the `customer.confirmation_requested` mails to `email`
/// waiting in the pods' outboxes, newest first.
pub async fn confirmation_tokens(stack: &Stack, email: &str) -> Vec<String> {
    use sqlx::Connection as _;
    let mut tokens = Vec::new();
    for pod in &stack.pods {
        let mut conn = sqlx::PgConnection::connect(&pod.database_url)
            .await
            .expect("connect");
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT payload->>'token' FROM outbox
             WHERE type = 'customer.confirmation_requested' AND payload->>'email' = lower($1)
             ORDER BY id DESC",
        )
        .bind(email)
        .fetch_all(&mut conn)
        .await
        .expect("outbox");
        tokens.extend(rows.into_iter().map(|(t,)| t));
    }
    tokens
}

/// Registers a customer at `host` with `body` (`POST /api/customers`,
/// which answers `202`) and confirms the account with the token its mail
/// carries, as its owner would: the confirmation's answer (`201` and a
/// customer login), sent with the guest cart token `cart` if any.
pub async fn register_customer(
    stack: &Stack,
    host: &str,
    body: Value,
    cart: Option<&str>,
) -> reqwest::Response {
    let r = stack
        .post(host, "/api/customers")
        .json(&body)
        .send()
        .await
        .expect("register");
    assert_eq!(r.status(), 202, "registration is accepted");
    let email = body["email"].as_str().expect("email");
    let password = body["password"].as_str().expect("password");
    let mut last = None;
    // The same email may wait in another store of the stack: the token of
    // this store is the one its confirmation takes.
    for token in confirmation_tokens(stack, email).await {
        let mut confirm = stack
            .post(host, "/api/customers/confirm")
            .json(&json!({"token": token, "password": password}));
        if let Some(cart) = cart {
            confirm = confirm.header("x-cart-token", cart);
        }
        let r = confirm.send().await.expect("confirm");
        if r.status() != 400 {
            return r;
        }
        last = Some(r);
    }
    last.expect("a confirmation mail was recorded")
}
