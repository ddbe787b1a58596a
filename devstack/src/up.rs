//! `mercato up`: the whole platform on loopback, nothing installed as a
//! service. A Postgres cluster for the control plane and for each pod
//! (`initdb` into the data folder), a `redis-server` per pod, the test
//! payment gateway, the mailbox (`mercato mailbox`, where every mail the
//! stores send lands), a `tansu` Kafka-API broker (SQLite storage in the data
//! folder, so events survive a restart), the control plane, the pods and
//! the router as child processes, the pods registered and a demo store with
//! products. A second `up` reuses the data.

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{bail, Context as _};
use serde_json::{json, Value};
use tokio::process::{Child, Command};

use crate::local::{
    locate_tansu, stop_child, tail, Binaries, Durability, GatewayProcess, MailboxProcess,
    PgCluster, RedisServer, Tansu, TansuStorage,
};

#[derive(Debug, Clone)]
pub struct UpOptions {
    pub data_dir: PathBuf,
    /// The router's public listener.
    pub listen: SocketAddr,
    /// First of the internal ports (control plane, pods, Postgres at +10,
    /// Redis at +20, the test gateway at +30, Kafka at +31, the mailbox's
    /// SMTP at +32 and HTTP at +33).
    pub port_base: u16,
    pub platform_domain: String,
    pub pods: u16,
    /// The OTLP/HTTP collector every process sends its spans to; empty:
    /// none.
    pub otlp_endpoint: String,
}

/// A child `mercato serve ...` process with its log file.
struct Service {
    name: String,
    child: Child,
    log: PathBuf,
}

impl Service {
    fn spawn(
        exe: &Path,
        what: &str,
        name: &str,
        env: &[(String, String)],
        logs: &Path,
    ) -> anyhow::Result<Self> {
        let log = logs.join(format!("{name}.log"));
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)?;
        let mut cmd = Command::new(exe);
        cmd.args(["serve", what])
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()),
            )
            .env("MERCATO_LOG_FORMAT", "json")
            .stdin(Stdio::null())
            .stdout(Stdio::from(file.try_clone()?))
            .stderr(Stdio::from(file))
            .kill_on_drop(true);
        let child = cmd.spawn().with_context(|| format!("starting {name}"))?;
        Ok(Self {
            name: name.to_owned(),
            child,
            log,
        })
    }

    /// Polls `url` until it answers 200, failing early if the child died.
    async fn wait_ready(&mut self, http: &reqwest::Client, url: &str) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(r) = http.get(url).timeout(Duration::from_secs(1)).send().await {
                if r.status().is_success() {
                    return Ok(());
                }
            }
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "{} exited ({status}); its log {} ends with:\n{}",
                    self.name,
                    self.log.display(),
                    tail(&self.log)
                );
            }
            if tokio::time::Instant::now() > deadline {
                bail!(
                    "{} was not ready within 60 s; see {}",
                    self.name,
                    self.log.display()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn stop(mut self) {
        stop_child(
            &mut self.child,
            nix::sys::signal::Signal::SIGTERM,
            Duration::from_secs(15),
        )
        .await;
    }
}

/// The secret kept in `data/<file>`, made (random, `0600`) the first time.
fn stored_secret(data: &Path, file: &str) -> anyhow::Result<String> {
    let path = data.join(file);
    if let Ok(s) = std::fs::read_to_string(&path) {
        if s.trim().len() >= 32 {
            return Ok(s.trim().to_owned());
        }
    }
    let s = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    crate::local::write_private(&path, &s)?;
    Ok(s)
}

fn env(prefix: &str, pairs: &[(&str, String)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (format!("{prefix}{}", k.to_ascii_uppercase()), v.clone()))
        .collect()
}

/// Starts the platform, then keeps it up until `shutdown` completes (or a
/// service dies), and stops it.
pub async fn run(opts: UpOptions, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    let bins = Binaries::locate()?;
    let tansu = locate_tansu()?;
    let exe = std::env::current_exe().context("locating the mercato binary")?;
    let data = &opts.data_dir;
    let logs = data.join("logs");
    std::fs::create_dir_all(&logs).with_context(|| format!("creating {}", logs.display()))?;
    let data = std::fs::canonicalize(data)?;
    // One signing key per issuer: the control plane's (operator and
    // service tokens) and the pods' (store sessions); the router has none.
    let keys = crate::keys::PlatformKeys::load(&data)?;
    // The router → pod hop key: routers and pods only, never the control
    // plane or a token holder.
    let hop_secret = stored_secret(&data, "hop.key")?;
    let base = opts.port_base;
    let port = |offset: u16| -> anyhow::Result<u16> {
        base.checked_add(offset).context("port_base too high")
    };

    println!("starting postgres and redis in {} ...", data.display());
    let cp_pg = PgCluster::start(
        &bins,
        &data.join("pg-control-plane"),
        port(10)?,
        Durability::Durable,
    )
    .await?;
    let mut pod_pgs = Vec::new();
    let mut redises = Vec::new();
    for i in 1..=opts.pods {
        pod_pgs.push(
            PgCluster::start(
                &bins,
                &data.join(format!("pg-pod-{i}")),
                port(10 + i)?,
                Durability::Durable,
            )
            .await?,
        );
        redises.push(
            RedisServer::start(
                &bins,
                &data.join(format!("redis-pod-{i}")),
                port(20 + i)?,
                Durability::Durable,
            )
            .await?,
        );
    }

    println!("starting the kafka broker (tansu) ...");
    let mut kafka = Tansu::start(
        &tansu,
        TansuStorage::Sqlite(data.join("kafka")),
        port(31)?,
        &logs.join("kafka.log"),
    )
    .await?;
    // The gateway keeps its payments in memory, so fresh keys each run are
    // as good as stored ones.
    let gateway = GatewayProcess::start(
        &exe,
        port(30)?,
        &format!("sk_test_{}", uuid::Uuid::new_v4().simple()),
        &format!("whsec_{}", uuid::Uuid::new_v4().simple()),
        3000,
        Some(&logs.join("gateway.log")),
        &opts.otlp_endpoint,
    )
    .await;
    // The mailbox keeps its mail in memory: a restart starts it empty.
    let mailbox = match gateway {
        Ok(gateway) => {
            match MailboxProcess::start(&exe, port(32)?, port(33)?, Some(&logs.join("mailbox.log")))
                .await
            {
                Ok(mailbox) => Ok((gateway, mailbox)),
                Err(e) => {
                    gateway.stop().await;
                    Err(e)
                }
            }
        }
        Err(e) => Err(e),
    };
    let outcome = match mailbox {
        Ok((gateway, mailbox)) => {
            let outcome = run_services(
                &opts,
                &exe,
                &logs,
                &keys,
                &hop_secret,
                &cp_pg,
                &pod_pgs,
                &redises,
                &gateway,
                &mailbox,
                &kafka,
                shutdown,
            )
            .await;
            gateway.stop().await;
            mailbox.stop().await;
            outcome
        }
        Err(e) => Err(e),
    };

    // Pods are stopped by now: nothing publishes any more.
    kafka.stop().await;
    for pg in pod_pgs {
        pg.stop().await;
    }
    cp_pg.stop().await;
    for r in redises {
        r.stop().await;
    }
    outcome
}

#[allow(clippy::too_many_arguments)]
async fn run_services(
    opts: &UpOptions,
    exe: &Path,
    logs: &Path,
    keys: &crate::keys::PlatformKeys,
    hop_secret: &str,
    cp_pg: &PgCluster,
    pod_pgs: &[PgCluster],
    redises: &[RedisServer],
    gateway: &GatewayProcess,
    mailbox: &MailboxProcess,
    kafka: &Tansu,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    let base = opts.port_base;
    let mut services: Vec<Service> = Vec::new();
    let started = start_services(
        opts,
        exe,
        logs,
        keys,
        hop_secret,
        cp_pg,
        pod_pgs,
        redises,
        gateway,
        mailbox,
        kafka,
        &http,
        &mut services,
    )
    .await;
    let result = match started {
        Ok(()) => {
            let router_port = opts.listen.port();
            let shown = |host: &str| {
                if router_port == 80 {
                    format!("http://{host}/")
                } else {
                    format!("http://{host}:{router_port}/")
                }
            };
            println!();
            println!("mercato is up.");
            println!(
                "  storefront:   {}",
                shown(&format!("demo.{}", opts.platform_domain))
            );
            println!(
                "  mail:         {}/  (every mail the stores send lands here)",
                mailbox.http_url()
            );
            println!(
                "  operator API: {}v1/stores  (bearer token in {})",
                shown(&opts.platform_domain),
                opts.data_dir.join("operator.token").display()
            );
            println!(
                "  control plane {}, pods {}..{}, test gateway {}, kafka {}, logs in {}",
                base,
                base + 1,
                base + opts.pods,
                base + 30,
                kafka.brokers(),
                logs.display()
            );
            println!("press Ctrl-C to stop.");
            wait_for_stop(&mut services, shutdown).await
        }
        Err(e) => Err(e),
    };
    // Router first, control plane last.
    while let Some(service) = services.pop() {
        service.stop().await;
    }
    result
}

#[allow(clippy::too_many_arguments)]
async fn start_services(
    opts: &UpOptions,
    exe: &Path,
    logs: &Path,
    keys: &crate::keys::PlatformKeys,
    hop_secret: &str,
    cp_pg: &PgCluster,
    pod_pgs: &[PgCluster],
    redises: &[RedisServer],
    gateway: &GatewayProcess,
    mailbox: &MailboxProcess,
    kafka: &Tansu,
    http: &reqwest::Client,
    services: &mut Vec<Service>,
) -> anyhow::Result<()> {
    let base = opts.port_base;
    let cp_url = format!("http://127.0.0.1:{base}");
    let cp_db = cp_pg.create_database("mercato").await?;
    let mut cp = Service::spawn(
        exe,
        "control-plane",
        "control-plane",
        &env(
            "MERCATO_CONTROL_PLANE_",
            &[
                ("listen", format!("127.0.0.1:{base}")),
                ("database_url", cp_db),
                (
                    "tokens__signing_key",
                    keys.control_plane_secret().to_owned(),
                ),
                ("platform_domain", opts.platform_domain.clone()),
                ("public_port", opts.listen.port().to_string()),
                ("kafka_brokers", kafka.brokers()),
                ("telemetry__otlp_endpoint", opts.otlp_endpoint.clone()),
            ],
        ),
        logs,
    )?;
    cp.wait_ready(http, &format!("{cp_url}/readyz")).await?;
    services.push(cp);

    let store_url = if opts.listen.port() == 80 {
        format!("http://{{handle}}.{}", opts.platform_domain)
    } else {
        format!(
            "http://{{handle}}.{}:{}",
            opts.platform_domain,
            opts.listen.port()
        )
    };
    // Where a developer reads the mail, beside the operator token.
    crate::local::write_private(
        &opts.data_dir.join("mailbox.url"),
        &format!("{}/\n", mailbox.http_url()),
    )?;
    let mut pod_urls = Vec::new();
    for (i, (pg, redis)) in pod_pgs.iter().zip(redises).enumerate() {
        let n = i as u16 + 1;
        let name = format!("pod-{n}");
        let url = format!("http://127.0.0.1:{}", base + n);
        let db = pg.create_database("mercato").await?;
        let mut pod = Service::spawn(
            exe,
            "pod",
            &name,
            &env(
                "MERCATO_POD_",
                &[
                    ("name", name.clone()),
                    ("listen", format!("127.0.0.1:{}", base + n)),
                    ("database_url", db.clone()),
                    ("redis_url", redis.url()),
                    ("tokens__signing_key", keys.pod_tokens().signing_key),
                    ("tokens__trusted_keys", keys.trusted()),
                    ("hop_secret", hop_secret.to_owned()),
                    ("platform_domain", opts.platform_domain.clone()),
                    ("gateway__url", gateway.url()),
                    ("gateway__api_key", gateway.api_key().to_owned()),
                    (
                        "gateway__webhook_secret",
                        gateway.webhook_secret().to_owned(),
                    ),
                    ("events__kafka_brokers", kafka.brokers()),
                    // One directory for every pod's images: keys start with
                    // the store id, and a moved store keeps its images.
                    (
                        "media__dir",
                        opts.data_dir.join("media").display().to_string(),
                    ),
                    ("telemetry__otlp_endpoint", opts.otlp_endpoint.clone()),
                    // Every mail goes to the mailbox; its links lead to
                    // the stores through the router.
                    ("mail__smtp_url", mailbox.smtp_url()),
                    ("mail__store_url", store_url.clone()),
                    // A developer's webhook receiver runs on this machine,
                    // over plain HTTP.
                    ("webhooks__allow_http", "true".to_owned()),
                    ("webhooks__allow_private_targets", "true".to_owned()),
                ],
            ),
            logs,
        )?;
        pod.wait_ready(http, &format!("{url}/readyz")).await?;
        services.push(pod);
        pod_urls.push((name, url, db));
    }

    let router_url = format!("http://{}", opts.listen);
    // The router reads the routing feed with a token the control plane's
    // key signed; `up` makes a new one at every start.
    let router_token = keys.router_token(365 * 86_400)?;
    let mut router = Service::spawn(
        exe,
        "router",
        "router",
        &env(
            "MERCATO_ROUTER_",
            &[
                ("listen", opts.listen.to_string()),
                ("control_plane_url", cp_url.clone()),
                ("tokens__trusted_keys", keys.trusted()),
                ("control_plane_token", router_token),
                ("hop_secret", hop_secret.to_owned()),
                ("platform_domain", opts.platform_domain.clone()),
                ("telemetry__otlp_endpoint", opts.otlp_endpoint.clone()),
            ],
        ),
        logs,
    )?;
    router
        .wait_ready(http, &format!("{router_url}/healthz"))
        .await?;
    services.push(router);

    let operator = keys.operator_token("up", 30 * 86_400)?;
    crate::local::write_private(&opts.data_dir.join("operator.token"), &operator)?;
    for (name, url, db) in &pod_urls {
        let r = http
            .post(format!("{cp_url}/v1/pods"))
            .bearer_auth(&operator)
            .json(&json!({"name": name, "url": url, "capacity": 1000, "database_url": db}))
            .send()
            .await?;
        if !r.status().is_success() {
            bail!(
                "registering {name} failed: {}",
                r.text().await.unwrap_or_default()
            );
        }
    }
    seed_demo(http, &cp_url, &router_url, &operator, &opts.platform_domain).await
}

/// The demo store and its products, created once.
async fn seed_demo(
    http: &reqwest::Client,
    cp: &str,
    router: &str,
    operator: &str,
    platform: &str,
) -> anyhow::Result<()> {
    let found: Value = http
        .get(format!("{cp}/v1/stores?handle=demo"))
        .bearer_auth(operator)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let store = match found["items"].get(0) {
        Some(store) => store.clone(),
        None => {
            let r = http
                .post(format!("{cp}/v1/stores"))
                .bearer_auth(operator)
                .json(&json!({"name": "Demo Store", "handle": "demo", "owner_email": "owner@demo.example"}))
                .send()
                .await?;
            if !r.status().is_success() {
                bail!(
                    "creating the demo store failed: {}",
                    r.text().await.unwrap_or_default()
                );
            }
            r.json().await?
        }
    };
    let id = store["id"].as_str().context("store without id")?;
    let token: Value = http
        .post(format!("{cp}/v1/stores/{id}/tokens"))
        .bearer_auth(operator)
        .json(&json!({"role": "staff", "subject": "demo-seed"}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let staff = token["token"].as_str().context("no token")?;
    let host = format!("demo.{platform}");
    // The router learns of a new store within a second.
    let mut existing = None;
    for _ in 0..50 {
        let r = http
            .get(format!("{router}/admin/api/products?limit=1"))
            .header("host", &host)
            .bearer_auth(staff)
            .send()
            .await?;
        if r.status().is_success() {
            existing = Some(r.json::<Value>().await?);
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let existing = existing.context("the router did not route the demo store")?;
    if existing["items"].as_array().is_some_and(|a| !a.is_empty()) {
        return Ok(());
    }
    use crate::demo_art::{picture, Shape};
    // Each product: its JSON, its picture (shape, colour, background) and
    // the collections it is in.
    type DemoProduct = (Value, Shape, [u8; 3], [u8; 3], &'static [&'static str]);
    let products: Vec<DemoProduct> = vec![
        (
            json!({
                "title": "Classic Tee", "description": "Soft, heavyweight cotton tee with a relaxed fit.\n\nPre-shrunk, garment-dyed, made to be worn for years.", "vendor": "Mercato Goods",
                "product_type": "Apparel", "tags": ["cotton", "bestseller"],
                "options": [{"name": "Size", "values": ["S", "M", "L"]}],
                "variants": [
                    {"sku": "TEE-S", "title": "Small", "price_minor": 1900, "option_values": {"Size": "S"}, "stock": 25},
                    {"sku": "TEE-M", "title": "Medium", "price_minor": 1900, "option_values": {"Size": "M"}, "stock": 40},
                    {"sku": "TEE-L", "title": "Large", "price_minor": 2100, "compare_at_minor": 2500, "option_values": {"Size": "L"}, "stock": 3}
                ]
            }),
            Shape::Tee,
            [38, 70, 120],
            [226, 232, 240],
            &["apparel", "bestsellers"],
        ),
        (
            json!({
                "title": "Canvas Tote", "description": "A sturdy 12 oz canvas tote that carries everything: groceries, books, the beach.", "vendor": "Mercato Goods",
                "product_type": "Bags", "tags": ["canvas"],
                "variants": [{"sku": "TOTE", "price_minor": 2400, "weight_grams": 300, "stock": 12}]
            }),
            Shape::Tote,
            [214, 196, 160],
            [240, 236, 226],
            &["bestsellers"],
        ),
        (
            json!({
                "title": "Ceramic Mug", "description": "Hand-glazed stoneware mug. Holds 350 ml; safe in the dishwasher and the microwave.", "vendor": "Kiln & Co",
                "product_type": "Kitchen", "tags": ["ceramic", "gift"],
                "options": [{"name": "Colour", "values": ["White", "Black"]}],
                "variants": [
                    {"sku": "MUG-WHT", "title": "White", "price_minor": 1200, "option_values": {"Colour": "White"}, "stock": 30},
                    {"sku": "MUG-BLK", "title": "Black", "price_minor": 1200, "option_values": {"Colour": "Black"}, "stock": 0}
                ]
            }),
            Shape::Mug,
            [244, 242, 238],
            [205, 214, 222],
            &["gifts", "home"],
        ),
        (
            json!({
                "title": "Sticker Pack", "description": "Five weatherproof vinyl stickers for laptops, bottles and notebooks.", "vendor": "Kiln & Co",
                "product_type": "Stationery", "tags": ["gift"],
                "variants": [{"sku": "STICKERS", "price_minor": 500, "stock": 200}]
            }),
            Shape::Stickers,
            [226, 96, 72],
            [246, 236, 222],
            &["gifts"],
        ),
        (
            json!({
                "title": "Washed Cap", "description": "Six-panel cotton cap, washed for a broken-in feel, with an adjustable brass buckle.", "vendor": "Mercato Goods",
                "product_type": "Apparel", "tags": ["cotton"],
                "options": [{"name": "Colour", "values": ["Olive", "Navy"]}],
                "variants": [
                    {"sku": "CAP-OLV", "title": "Olive", "price_minor": 2800, "option_values": {"Colour": "Olive"}, "stock": 15},
                    {"sku": "CAP-NVY", "title": "Navy", "price_minor": 2800, "option_values": {"Colour": "Navy"}, "stock": 9}
                ]
            }),
            Shape::Cap,
            [104, 112, 72],
            [232, 230, 218],
            &["apparel"],
        ),
        (
            json!({
                "title": "Steel Water Bottle", "description": "Double-walled stainless steel: cold for 24 hours, hot for 12. 750 ml.", "vendor": "Trail Supply",
                "product_type": "Outdoor", "tags": ["steel", "bestseller"],
                "variants": [{"sku": "BOTTLE-750", "price_minor": 3200, "compare_at_minor": 3800, "weight_grams": 420, "stock": 22}]
            }),
            Shape::Bottle,
            [40, 128, 120],
            [220, 236, 232],
            &["bestsellers", "home"],
        ),
        (
            json!({
                "title": "Dot Grid Notebook", "description": "A5, 192 pages of 100 gsm paper with a dot grid, lay-flat binding and a cloth cover.", "vendor": "Kiln & Co",
                "product_type": "Stationery", "tags": ["paper", "gift"],
                "variants": [{"sku": "NOTEBOOK-A5", "price_minor": 1800, "weight_grams": 350, "stock": 40}]
            }),
            Shape::Notebook,
            [150, 52, 60],
            [240, 228, 226],
            &["gifts"],
        ),
        (
            json!({
                "title": "Soy Candle", "description": "Cedar and bergamot, hand-poured soy wax in a reusable tin. About 40 hours.", "vendor": "Kiln & Co",
                "product_type": "Home", "tags": ["gift"],
                "variants": [{"sku": "CANDLE-CEDAR", "price_minor": 2200, "weight_grams": 280, "stock": 4}]
            }),
            Shape::Candle,
            [236, 224, 204],
            [214, 204, 190],
            &["gifts", "home"],
        ),
    ];
    let collections = [
        (
            "bestsellers",
            "Bestsellers",
            "What everyone is buying this season.",
        ),
        ("apparel", "Apparel", "Tees and caps in heavyweight cotton."),
        ("gifts", "Gifts", "Small things that make someone's day."),
        ("home", "Home", "For the kitchen, the desk and the shelf."),
    ];
    let mut ids: Vec<(String, &[&str])> = Vec::new();
    for (product, shape, colour, background, member_of) in &products {
        let created: Value = http
            .post(format!("{router}/admin/api/products"))
            .header("host", &host)
            .bearer_auth(staff)
            .json(product)
            .send()
            .await?
            .error_for_status()
            .with_context(|| format!("creating demo product {}", product["title"]))?
            .json()
            .await?;
        let id = created["id"].as_str().context("a product id")?.to_owned();
        let alt = product["title"].as_str().unwrap_or("Product photo");
        http.post(format!("{router}/admin/api/products/{id}/images"))
            .query(&[("alt", alt)])
            .header("host", &host)
            .bearer_auth(staff)
            .header("content-type", "image/png")
            .body(picture(*shape, *colour, *background))
            .send()
            .await?
            .error_for_status()
            .with_context(|| format!("uploading the picture of {alt}"))?;
        ids.push((id, member_of));
    }
    for (handle, title, description) in collections {
        let created: Value = http
            .post(format!("{router}/admin/api/collections"))
            .header("host", &host)
            .bearer_auth(staff)
            .json(&json!({"handle": handle, "title": title, "description": description, "kind": "manual"}))
            .send()
            .await?
            .error_for_status()
            .with_context(|| format!("creating the demo collection {handle}"))?
            .json()
            .await?;
        let cid = created["id"].as_str().context("a collection id")?;
        let members: Vec<&str> = ids
            .iter()
            .filter(|(_, of)| of.contains(&handle))
            .map(|(id, _)| id.as_str())
            .collect();
        http.post(format!("{router}/admin/api/collections/{cid}/products"))
            .header("host", &host)
            .bearer_auth(staff)
            .json(&json!({"product_ids": members}))
            .send()
            .await?
            .error_for_status()
            .with_context(|| format!("filling the demo collection {handle}"))?;
    }
    Ok(())
}

/// Until `stop` completes, or until a service dies (which stops everything).
async fn wait_for_stop(
    services: &mut [Service],
    stop: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = &mut stop => return Ok(()),
            _ = tokio::time::sleep(Duration::from_millis(500)) => {
                for s in services.iter_mut() {
                    if let Some(status) = s.child.try_wait()? {
                        bail!("{} exited ({status}); its log {} ends with:\n{}", s.name, s.log.display(), tail(&s.log));
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod secret_tests {
    use std::os::unix::fs::PermissionsExt as _;

    #[test]
    fn secrets_are_written_owner_only_even_over_an_open_file() {
        let dir = std::env::temp_dir().join(format!("mercato-secret-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("operator.token");
        std::fs::write(&path, "old").expect("old file");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        crate::local::write_private(&path, "token").expect("write");
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "token");
        std::fs::remove_dir_all(&dir).expect("clean");
    }
}
