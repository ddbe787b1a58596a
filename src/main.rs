use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// Every process of the binary allocates with mimalloc (see Cargo.toml).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
use mercato_tenants::{Party, Role, SigningKey, StoreId};

/// Mercato: a pod-sharded, multi-tenant commerce platform.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start the whole platform on loopback: Postgres and Redis per pod, the
    /// control plane, two pods, the router and a demo store.
    Up {
        /// Where clusters, logs and the signing secret live.
        #[arg(long, default_value = ".mercato", env = "MERCATO_DATA_DIR")]
        data_dir: PathBuf,
        /// The router's public address.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        /// First internal port: control plane, then pods; Postgres at +10,
        /// Redis at +20, test gateway +30, Kafka +31, mailbox SMTP +32 and
        /// HTTP +33.
        #[arg(long, default_value_t = 7400)]
        port_base: u16,
        /// Stores get `<handle>.<platform-domain>`.
        #[arg(long, default_value = "localhost")]
        platform_domain: String,
        /// How many pods.
        #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..=9))]
        pods: u16,
        /// An OTLP/HTTP collector (e.g. `http://127.0.0.1:4318`) every
        /// process sends its spans to.
        #[arg(long, env = "MERCATO_OTLP_ENDPOINT", default_value = "")]
        otlp_endpoint: String,
    },
    /// Run one process of the platform.
    Serve {
        #[command(subcommand)]
        process: Process,
        /// TOML file with settings (environment variables override it).
        #[arg(long, global = true)]
        config: Option<PathBuf>,
        /// Allow development settings such as the built-in signing secret.
        #[arg(long, global = true)]
        dev: bool,
    },
    /// Fill a store with a generated catalog, straight in a pod's Postgres.
    SeedCatalog(mercato_bench::SeedArgs),
    /// Benchmarks on a throwaway platform; results go to docs/benchmarks/.
    #[command(subcommand)]
    Bench(mercato_bench::Bench),
    /// The built-in TEST payment gateway (a PSP's test mode; state in
    /// memory). See docs/payments.md.
    Gateway(mercato_gateway::GatewayArgs),
    /// The built-in mail sink: an SMTP server that keeps what it receives
    /// (in memory) and shows it over HTTP. `up` starts one; see the README.
    Mailbox(mercato_mailbox::MailboxArgs),
    /// Print the store API's OpenAPI document (what pods serve at
    /// `/openapi.json`; committed as docs/openapi.json).
    Openapi {
        /// The control plane's API instead (served at `/openapi.json` on
        /// the platform domain).
        #[arg(long)]
        control_plane: bool,
    },
    /// Print a signed token (needs MERCATO_SIGNING_KEY: a control-plane key
    /// for operator and service tokens, a pods key for staff and customer).
    Token {
        #[arg(long, value_enum)]
        role: TokenRole,
        /// Who accepts it (repeatable); default: pods, and the control
        /// plane too for operators. A router's routing-feed token is
        /// `--role service --audience control-plane`.
        #[arg(long, value_enum)]
        audience: Vec<TokenAudience>,
        /// The store, for staff and customer tokens.
        #[arg(long)]
        store: Option<StoreId>,
        #[arg(long, default_value = "cli")]
        subject: String,
        #[arg(long, default_value_t = 3600)]
        ttl_secs: i64,
    },
    /// Make a new signing key: prints its secret form (a process's
    /// `tokens.signing_key`, or MERCATO_SIGNING_KEY) and its public form (an
    /// entry of `tokens.trusted_keys`). See docs/operations.md, "Keys".
    Keys {
        #[arg(long, value_enum)]
        party: TokenAudience,
        /// The key id, e.g. `pods-2026-12`.
        #[arg(long)]
        kid: String,
    },
    /// The fleet's pods: list, add, drain (operator API).
    Pods(mercato_ops::PodsArgs),
    /// Stores: list, show, create, move to another pod (operator API).
    Stores(mercato_ops::StoresArgs),
    /// Store moves: list, show, abort (operator API).
    Moves(mercato_ops::MovesArgs),
    /// Plan or apply moves that even out the pods' load (operator API).
    Rebalance(mercato_ops::RebalanceArgs),
}

#[derive(Subcommand)]
enum Process {
    /// The edge router.
    Router,
    /// One pod.
    Pod,
    /// The control plane.
    ControlPlane,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum TokenAudience {
    ControlPlane,
    Pods,
}

impl From<TokenAudience> for Party {
    fn from(a: TokenAudience) -> Self {
        match a {
            TokenAudience::ControlPlane => Party::ControlPlane,
            TokenAudience::Pods => Party::Pods,
        }
    }
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum TokenRole {
    Customer,
    Staff,
    Operator,
    Service,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    // `serve` and `gateway` set up logs and traces from their settings
    // (`mercato::serve`); these log without exporting spans.
    let _logs = match cli.command {
        Command::SeedCatalog(_) | Command::Keys { .. } => {
            match mercato::telemetry::init("mercato", &Default::default()) {
                Ok(telemetry) => Some(telemetry),
                Err(e) => {
                    eprintln!("error: {e:#}");
                    return std::process::ExitCode::FAILURE;
                }
            }
        }
        _ => None,
    };
    match run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        // Already on screen (a move's report).
        Err(e) if e.is::<mercato_ops::Reported>() => std::process::ExitCode::FAILURE,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Up {
            data_dir,
            listen,
            port_base,
            platform_domain,
            pods,
            otlp_endpoint,
        } => {
            let opts = mercato_devstack::up::UpOptions {
                data_dir,
                listen,
                port_base,
                platform_domain,
                pods,
                otlp_endpoint,
            };
            mercato_devstack::up::run(opts, mercato::serve::shutdown_signal()).await
        }
        Command::Serve {
            process,
            config,
            dev,
        } => {
            let file = config.as_deref();
            match process {
                Process::Router => mercato::serve::router(file, dev).await,
                Process::Pod => mercato::serve::pod(file, dev).await,
                Process::ControlPlane => mercato::serve::control_plane(file, dev).await,
            }
        }
        Command::Openapi { control_plane } => {
            let doc = if control_plane {
                mercato_control_plane::startup::api_doc()
            } else {
                mercato_pod::startup::api_doc()
            };
            println!("{}", doc.to_pretty_json()?);
            Ok(())
        }
        Command::Gateway(args) => mercato::serve::gateway(args).await,
        Command::Mailbox(args) => mercato::serve::mailbox(args).await,
        Command::SeedCatalog(args) => mercato_bench::seed_catalog(args).await,
        Command::Bench(mercato_bench::Bench::Search(args)) => {
            mercato_bench::search::run(args).await
        }
        Command::Bench(mercato_bench::Bench::Cache(args)) => mercato_bench::cache::run(args).await,
        Command::Bench(mercato_bench::Bench::Checkout(args)) => {
            mercato_bench::checkout::run(args).await
        }
        Command::Bench(mercato_bench::Bench::Move(args)) => mercato_bench::moves::run(args).await,
        Command::Bench(mercato_bench::Bench::Edge(args)) => mercato_bench::edge::run(args).await,
        Command::Bench(mercato_bench::Bench::Risk(args)) => mercato_bench::risk::run(args).await,
        Command::Bench(mercato_bench::Bench::Reports(args)) => {
            mercato_bench::reports::run(args).await
        }
        Command::Keys { party, kid } => {
            let (key, secret) = SigningKey::generate(party.into(), &kid)?;
            println!("signing_key = {secret:?}");
            println!("trusted_key = {:?}", key.public_entry());
            Ok(())
        }
        Command::Token {
            role,
            audience,
            store,
            subject,
            ttl_secs,
        } => {
            let role = match role {
                TokenRole::Customer => Role::Customer,
                TokenRole::Staff => Role::Staff,
                TokenRole::Operator => Role::Operator,
                TokenRole::Service => Role::Service,
            };
            if matches!(role, Role::Customer | Role::Staff) && store.is_none() {
                anyhow::bail!("staff and customer tokens need --store");
            }
            let audience: Vec<Party> = audience.into_iter().map(Party::from).collect();
            let audience = (!audience.is_empty()).then_some(audience.as_slice());
            println!(
                "{}",
                mercato_ops::mint_token(role, store, &subject, ttl_secs, audience)?
            );
            Ok(())
        }
        Command::Pods(args) => mercato_ops::pods(args).await,
        Command::Stores(args) => mercato_ops::stores(args).await,
        Command::Moves(args) => mercato_ops::moves(args).await,
        Command::Rebalance(args) => mercato_ops::rebalance(args).await,
    }
}
