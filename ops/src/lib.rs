//! Operator commands (`mercato pods|stores|moves|rebalance ...`): a client of
//! the control plane's operator API. Requests and polling live here, the
//! wire types in [`api`], and everything printed in [`render`].

pub mod api;
pub mod client;
pub mod render;

mod follow;

use std::io::IsTerminal as _;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{Args, Subcommand};
use mercato_tenants::MoveId;
use mercato_tenants::{Claims, Party, Role, SigningKey, StoreId};
use serde_json::{json, Value};

use api::{Measure, Move, MovePage, MoveStatus, Plan, Pod, Store, StorePage};
use client::{decode, is_transient, ApiFailure, Client};
use follow::{apply, conclude, drain, follow};
use render::Names;

/// How often a followed move is polled.
const MOVE_POLL: Duration = Duration::from_millis(200);
/// How often a drain or rebalance job is polled between its moves.
const FLEET_POLL: Duration = Duration::from_millis(500);
/// Without a phase change, a plain progress line at most this often.
const PLAIN_EVERY: Duration = Duration::from_secs(2);
/// How long a followed move may go without an answer from the control
/// plane (a restart) before the command gives up.
const UNREACHABLE_FOR: Duration = Duration::from_secs(60);
/// Lifetime of a token minted from MERCATO_SIGNING_KEY for one command.
const MINTED_TTL_SECS: i64 = 15 * 60;

/// Signs a token with MERCATO_SIGNING_KEY (what `mercato token` prints, and
/// what operator commands use when given no token): a control-plane key
/// signs operator and service tokens, a pods key staff and customer ones.
/// `audience` overrides the role's default audience.
pub fn mint_token(
    role: Role,
    store: Option<StoreId>,
    subject: &str,
    ttl_secs: i64,
    audience: Option<&[Party]>,
) -> anyhow::Result<String> {
    let key = std::env::var("MERCATO_SIGNING_KEY").map_err(|_| {
        anyhow::anyhow!("set MERCATO_SIGNING_KEY (for `up`, it is in <data-dir>/control-plane.key)")
    })?;
    let key = SigningKey::parse(&key).map_err(|e| anyhow::anyhow!("MERCATO_SIGNING_KEY: {e}"))?;
    let mut claims = Claims::new(
        subject,
        role,
        store,
        chrono::Utc::now().timestamp(),
        ttl_secs,
    );
    if let Some(audience) = audience {
        claims = claims.for_audience(audience);
    }
    Ok(key.sign(&claims)?)
}

/// A command whose failure is already on screen (a move's report): the
/// process exits with status 1 without printing it again.
#[derive(Debug)]
pub struct Reported;

impl std::fmt::Display for Reported {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the command failed (reported above)")
    }
}

impl std::error::Error for Reported {}

/// Options of every operator command.
#[derive(Args, Debug, Clone)]
pub struct Connection {
    /// The control plane's URL.
    #[arg(
        long,
        global = true,
        env = "MERCATO_CONTROL_PLANE_URL",
        default_value = "http://127.0.0.1:7400"
    )]
    pub control_plane: String,
    /// An operator token; without one, a 15-minute token is signed with
    /// MERCATO_SIGNING_KEY (the control plane's key).
    #[arg(long, global = true, env = "MERCATO_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Print the API's JSON instead of tables and reports.
    #[arg(long, global = true)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct PodsArgs {
    #[command(flatten)]
    pub connection: Connection,
    #[command(subcommand)]
    pub command: PodsCommand,
}

#[derive(Subcommand, Debug)]
pub enum PodsCommand {
    /// The fleet with each pod's load.
    List,
    /// Register a pod.
    Add {
        name: String,
        /// The pod's internal URL.
        #[arg(long)]
        url: String,
        /// How many stores it may hold.
        #[arg(long)]
        capacity: u32,
        /// Where the mover reaches the pod's Postgres.
        #[arg(long)]
        database_url: Option<String>,
        #[arg(long)]
        capacity_bytes: Option<u64>,
        #[arg(long)]
        capacity_orders_per_hour: Option<u64>,
    },
    /// Move every store off a pod, following until it is drained.
    Drain {
        /// Pod name or id.
        pod: String,
        /// Pause between moves (the control plane's default when absent).
        #[arg(long)]
        throttle_ms: Option<u64>,
    },
}

#[derive(Args, Debug)]
pub struct StoresArgs {
    #[command(flatten)]
    pub connection: Connection,
    #[command(subcommand)]
    pub command: StoresCommand,
}

#[derive(Subcommand, Debug)]
pub enum StoresCommand {
    /// Stores, oldest first.
    List {
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..=500))]
        limit: Option<u32>,
        /// Continue after this store id (a previous page's last).
        #[arg(long)]
        after: Option<StoreId>,
    },
    /// One store.
    Show {
        /// Handle or id.
        store: String,
    },
    /// Create a store; the control plane places it on a pod.
    Create {
        #[arg(long)]
        name: String,
        #[arg(long)]
        handle: String,
        #[arg(long)]
        owner_email: String,
        /// ISO 4217 code (default USD).
        #[arg(long)]
        currency: Option<String>,
        /// A custom domain; repeat for several.
        #[arg(long = "domain")]
        domains: Vec<String>,
    },
    /// Move a store live to another pod and follow the move.
    Move {
        /// Handle or id.
        store: String,
        /// Pod name or id (default: the one with the most headroom).
        #[arg(long)]
        to: Option<String>,
        /// Start the move and return at once.
        #[arg(long)]
        no_follow: bool,
    },
}

#[derive(Args, Debug)]
pub struct MovesArgs {
    #[command(flatten)]
    pub connection: Connection,
    #[command(subcommand)]
    pub command: MovesCommand,
}

/// An argument that is one of a wire enum's `names` (listed in `--help`),
/// parsed into the enum itself.
fn one_of<T>(names: impl IntoIterator<Item = &'static str>) -> impl TypedValueParser<Value = T>
where
    T: std::str::FromStr + Clone + Send + Sync + 'static,
    T::Err: std::error::Error + Send + Sync + 'static,
{
    PossibleValuesParser::new(names).try_map(|name| name.parse::<T>())
}

#[derive(Subcommand, Debug)]
pub enum MovesCommand {
    /// Moves, newest first.
    List {
        /// Handle or id.
        #[arg(long)]
        store: Option<String>,
        #[arg(long, value_parser = one_of::<MoveStatus>(MoveStatus::ALL.map(MoveStatus::as_str)))]
        status: Option<MoveStatus>,
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..=500))]
        limit: Option<u32>,
    },
    /// One move.
    Show { id: MoveId },
    /// Ask a running move to roll back to its source.
    Abort { id: MoveId },
}

#[derive(Args, Debug)]
pub struct RebalanceArgs {
    #[command(flatten)]
    pub connection: Connection,
    #[command(subcommand)]
    pub command: RebalanceCommand,
}

#[derive(Subcommand, Debug)]
pub enum RebalanceCommand {
    /// The moves that would bring every active pod within the band.
    Plan {
        #[arg(long, value_parser = one_of::<Measure>(Measure::ALL.map(Measure::as_str)))]
        measure: Option<Measure>,
    },
    /// Plan and run the moves one at a time, following each.
    Apply {
        #[arg(long, value_parser = one_of::<Measure>(Measure::ALL.map(Measure::as_str)))]
        measure: Option<Measure>,
        /// Pause between moves.
        #[arg(long)]
        throttle_ms: Option<u64>,
    },
}

/// What every command works with.
struct Ctx {
    client: Client,
    json: bool,
    tty: bool,
}

impl Ctx {
    fn new(c: &Connection) -> anyhow::Result<Self> {
        let token = match &c.token {
            Some(t) if !t.trim().is_empty() => t.trim().to_owned(),
            _ => mint_token(Role::Operator, None, "cli", MINTED_TTL_SECS, None)
                .context("no --token or MERCATO_TOKEN")?,
        };
        Ok(Self {
            client: Client::new(&c.control_plane, token)?,
            json: c.json,
            tty: std::io::stdout().is_terminal(),
        })
    }

    /// A GET that rides out a control plane restart (for up to
    /// [`UNREACHABLE_FOR`]), for commands that poll.
    async fn get_patiently(&self, path: &str, query: &[(&str, String)]) -> anyhow::Result<Value> {
        let start = Instant::now();
        loop {
            match self.client.get(path, query).await {
                Err(e) if is_transient(&e) && start.elapsed() < UNREACHABLE_FOR => {
                    tokio::time::sleep(FLEET_POLL).await;
                }
                other => return other,
            }
        }
    }

    async fn pods(&self) -> anyhow::Result<Vec<Pod>> {
        decode("pod list", self.client.get("/v1/pods", &[]).await?)
    }

    /// A pod by name or id.
    async fn pod(&self, key: &str) -> anyhow::Result<(Pod, Vec<Pod>)> {
        let pods = self.pods().await?;
        let found = pods
            .iter()
            .find(|p| p.name == key || p.id.to_string().eq_ignore_ascii_case(key))
            .cloned()
            .ok_or_else(|| ApiFailure::not_found(format!("no pod named {key}")))?;
        Ok((found, pods))
    }

    /// A store by handle or id, as the API's JSON and decoded.
    async fn store(&self, key: &str) -> anyhow::Result<(Value, Store)> {
        let value = match key.parse::<StoreId>() {
            Ok(id) => self.client.get(&format!("/v1/stores/{id}"), &[]).await?,
            Err(_) => {
                let page = self
                    .client
                    .get("/v1/stores", &[("handle", key.to_owned())])
                    .await?;
                page.get("items")
                    .and_then(|items| items.get(0))
                    .cloned()
                    .ok_or_else(|| ApiFailure::not_found(format!("no store with handle {key}")))?
            }
        };
        let store = decode("store", value.clone())?;
        Ok((value, store))
    }

    /// Adds the handles of `stores` not yet named (best effort: a store that
    /// cannot be read keeps its id).
    async fn name_stores(&self, names: &mut Names, stores: impl IntoIterator<Item = StoreId>) {
        for id in stores {
            if names.stores.contains_key(&id) {
                continue;
            }
            if let Ok(v) = self.client.get(&format!("/v1/stores/{id}"), &[]).await {
                if let Ok(s) = decode::<Store>("store", v) {
                    names.stores.insert(id, s.handle);
                }
            }
        }
    }

    async fn names(&self, stores: impl IntoIterator<Item = StoreId>) -> anyhow::Result<Names> {
        let mut names = Names::with_pods(&self.pods().await?);
        self.name_stores(&mut names, stores).await;
        Ok(names)
    }
}

fn print_json(v: &Value) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

pub async fn pods(args: PodsArgs) -> anyhow::Result<()> {
    let ctx = Ctx::new(&args.connection)?;
    match args.command {
        PodsCommand::List => {
            let v = ctx.client.get("/v1/pods", &[]).await?;
            if ctx.json {
                return print_json(&v);
            }
            let pods: Vec<Pod> = decode("pod list", v)?;
            print!("{}", render::pods_table(&pods));
            Ok(())
        }
        PodsCommand::Add {
            name,
            url,
            capacity,
            database_url,
            capacity_bytes,
            capacity_orders_per_hour,
        } => {
            let mut body = json!({"name": name, "url": url, "capacity": capacity});
            if let Some(v) = database_url {
                body["database_url"] = json!(v);
            }
            if let Some(v) = capacity_bytes {
                body["capacity_bytes"] = json!(v);
            }
            if let Some(v) = capacity_orders_per_hour {
                body["capacity_orders_per_hour"] = json!(v);
            }
            let (status, v) = ctx.client.post("/v1/pods", &body).await?;
            if ctx.json {
                return print_json(&v);
            }
            let pod: Pod = decode("pod", v)?;
            let verb = if status == reqwest::StatusCode::CREATED {
                "registered"
            } else {
                "already registered:"
            };
            println!(
                "{verb} pod {} ({}) at {}, capacity {} stores",
                pod.name, pod.id, pod.url, pod.capacity
            );
            Ok(())
        }
        PodsCommand::Drain { pod, throttle_ms } => drain(&ctx, &pod, throttle_ms).await,
    }
}

pub async fn stores(args: StoresArgs) -> anyhow::Result<()> {
    let ctx = Ctx::new(&args.connection)?;
    match args.command {
        StoresCommand::List { limit, after } => {
            let mut q = Vec::new();
            if let Some(l) = limit {
                q.push(("limit", l.to_string()));
            }
            if let Some(a) = after {
                q.push(("after", a.to_string()));
            }
            let v = ctx.client.get("/v1/stores", &q).await?;
            if ctx.json {
                return print_json(&v);
            }
            let page: StorePage = decode("store list", v)?;
            let names = ctx.names([]).await?;
            print!("{}", render::stores_table(&page.items, &names));
            if let Some(next) = page.next_cursor {
                println!("more: --after {next}");
            }
            Ok(())
        }
        StoresCommand::Show { store } => {
            let (v, store) = ctx.store(&store).await?;
            if ctx.json {
                return print_json(&v);
            }
            let names = ctx.names([]).await?;
            print!("{}", render::store_details(&store, &names));
            Ok(())
        }
        StoresCommand::Create {
            name,
            handle,
            owner_email,
            currency,
            domains,
        } => {
            let mut body = json!({"name": name, "handle": handle, "owner_email": owner_email});
            if let Some(c) = currency {
                body["currency"] = json!(c.to_ascii_uppercase());
            }
            if !domains.is_empty() {
                body["domains"] = json!(domains);
            }
            let (_, v) = ctx.client.post("/v1/stores", &body).await?;
            if ctx.json {
                return print_json(&v);
            }
            let store: Store = decode("store", v)?;
            let names = ctx.names([]).await?;
            println!(
                "created store {} on {}",
                store.handle,
                names.pod(store.pod_id)
            );
            print!("{}", render::store_details(&store, &names));
            Ok(())
        }
        StoresCommand::Move {
            store,
            to,
            no_follow,
        } => {
            let (_, store) = ctx.store(&store).await?;
            let pods = ctx.pods().await?;
            let mut body = json!({"store_id": store.id});
            if let Some(to) = to {
                let target = pods
                    .iter()
                    .find(|p| p.name == to || p.id.to_string().eq_ignore_ascii_case(&to))
                    .ok_or_else(|| ApiFailure::not_found(format!("no pod named {to}")))?;
                body["target_pod_id"] = json!(target.id);
            }
            let (_, v) = ctx.client.post("/v1/moves", &body).await?;
            let started: Move = decode("move", v.clone())?;
            let mut names = Names::with_pods(&pods);
            names.stores.insert(store.id, store.handle.clone());
            if no_follow {
                if ctx.json {
                    return print_json(&v);
                }
                println!(
                    "move {} started: {} from {} to {}",
                    started.id,
                    store.handle,
                    names.pod(started.source_pod_id),
                    names.pod(started.target_pod_id)
                );
                return Ok(());
            }
            if !ctx.json {
                println!(
                    "moving {} from {} to {} (move {})",
                    store.handle,
                    names.pod(started.source_pod_id),
                    names.pod(started.target_pod_id),
                    started.id
                );
            }
            let (v, finished) = follow(&ctx, &started).await?;
            conclude(&ctx, &v, &finished, &names)
        }
    }
}

pub async fn moves(args: MovesArgs) -> anyhow::Result<()> {
    let ctx = Ctx::new(&args.connection)?;
    match args.command {
        MovesCommand::List {
            store,
            status,
            limit,
        } => {
            let mut q = Vec::new();
            if let Some(store) = store {
                let (_, s) = ctx.store(&store).await?;
                q.push(("store_id", s.id.to_string()));
            }
            if let Some(s) = status {
                q.push(("status", s.as_str().to_owned()));
            }
            if let Some(l) = limit {
                q.push(("limit", l.to_string()));
            }
            let v = ctx.client.get("/v1/moves", &q).await?;
            if ctx.json {
                return print_json(&v);
            }
            let page: MovePage = decode("move list", v)?;
            if page.items.is_empty() {
                println!("no moves");
                return Ok(());
            }
            let names = ctx.names(page.items.iter().map(|m| m.store_id)).await?;
            print!("{}", render::moves_table(&page.items, &names));
            Ok(())
        }
        MovesCommand::Show { id } => {
            let v = ctx.client.get(&format!("/v1/moves/{id}"), &[]).await?;
            if ctx.json {
                return print_json(&v);
            }
            let m: Move = decode("move", v)?;
            let names = ctx.names([m.store_id]).await?;
            print!("{}", render::move_details(&m, &names));
            Ok(())
        }
        MovesCommand::Abort { id } => {
            let (_, v) = ctx
                .client
                .post(&format!("/v1/moves/{id}/abort"), &json!({}))
                .await?;
            if ctx.json {
                return print_json(&v);
            }
            let m: Move = decode("move", v)?;
            println!(
                "abort requested for move {} (phase {}); it rolls back to its source",
                m.id, m.phase
            );
            Ok(())
        }
    }
}

pub async fn rebalance(args: RebalanceArgs) -> anyhow::Result<()> {
    let ctx = Ctx::new(&args.connection)?;
    match args.command {
        RebalanceCommand::Plan { measure } => {
            let q: Vec<(&str, String)> = measure
                .map(|m| ("measure", m.as_str().to_owned()))
                .into_iter()
                .collect();
            let v = ctx.client.get("/v1/rebalance/plan", &q).await?;
            if ctx.json {
                return print_json(&v);
            }
            let plan: Plan = decode("plan", v)?;
            let names = ctx.names(plan.moves.iter().map(|m| m.store_id)).await?;
            print!("{}", render::plan(&plan, &names));
            Ok(())
        }
        RebalanceCommand::Apply {
            measure,
            throttle_ms,
        } => apply(&ctx, measure, throttle_ms).await,
    }
}
