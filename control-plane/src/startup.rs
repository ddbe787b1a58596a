//! Builds the control plane from its config; `main` and the tests start it
//! the same way.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context as _;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use mercato_tenants::http::{finish, HttpMetrics};
use mercato_tenants::{ApiError, Domain, ErrorCode, Handle, Party, TokenKeys};
use sqlx::postgres::PgPoolOptions;
use sqlx::PgPool;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::analytics::consumer::ConsumerMetrics;
use crate::moves::{MoveMetrics, Mover};
use crate::pod_client::PodClient;
use crate::{analytics, jobs, loads, moves, pods, routing, signup, stores, ControlPlaneConfig};

#[derive(Clone)]
pub struct AppState {
    pub db: PgPool,
    pub keys: TokenKeys,
    pub platform_domain: Domain,
    pub pods: PodClient,
    pub mover: Mover,
    /// `scheme` and `:port` (empty for the default) of public URLs.
    public_scheme: String,
    public_port: String,
    routing_tx: watch::Sender<u64>,
    stopping: watch::Sender<bool>,
}

impl AppState {
    /// The public origin of a store's platform domain, e.g.
    /// `https://acme.example.com`.
    pub fn store_origin(&self, handle: &Handle) -> String {
        format!(
            "{}://{}{}",
            self.public_scheme,
            self.platform_domain.store_subdomain(handle),
            self.public_port
        )
    }

    /// Wakes the routing long-polls after a committed change.
    pub fn routing_changed(&self, version: u64) {
        self.routing_tx.send_if_modified(|v| {
            let newer = version > *v;
            if newer {
                *v = version;
            }
            newer
        });
    }

    pub fn routing_watch(&self) -> watch::Receiver<u64> {
        self.routing_tx.subscribe()
    }

    /// Flips to `true` when the process starts shutting down, so long-polls
    /// answer at once instead of holding the graceful shutdown.
    pub fn stopping(&self) -> watch::Receiver<bool> {
        self.stopping.subscribe()
    }
}

pub struct Application {
    listener: TcpListener,
    router: Router,
    state: AppState,
    /// The analytics consumer's brokers and metrics, when Kafka is
    /// configured.
    analytics: Option<(String, ConsumerMetrics)>,
    /// How often pods' load reports are pulled (`None`: never).
    load_poll: Option<Duration>,
}

impl Application {
    pub async fn build(config: ControlPlaneConfig) -> anyhow::Result<Self> {
        let keys = TokenKeys::from_config(
            &config.tokens,
            Party::ControlPlane,
            Some(Party::ControlPlane),
        )
        .context("tokens")?;
        anyhow::ensure!(
            cfg!(feature = "failpoints") || config.moves.failpoint.is_empty(),
            "moves.failpoint `{}` is set, but this build has no failpoints (feature `failpoints`)",
            config.moves.failpoint
        );
        let platform_domain = Domain::parse(&config.platform_domain)
            .context("platform_domain is not a valid domain")?;
        let db = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(5))
            .connect(&config.database_url)
            .await
            .context("connecting to the control plane database")?;
        sqlx::migrate!("../migrations/control-plane")
            .run(&db)
            .await
            .context("applying control plane migrations")?;
        let pods = PodClient::new(keys.clone(), Duration::from_millis(config.pod_timeout_ms))?;
        let version = routing::head(&db).await?;
        let (routing_tx, _) = watch::channel(version);
        let (stopping, _) = watch::channel(false);
        let metrics = HttpMetrics::new("control_plane")?;
        let mover = Mover::new(config.moves.clone(), MoveMetrics::new(metrics.registry())?);
        let state = AppState {
            db,
            keys,
            platform_domain,
            pods,
            mover,
            public_scheme: config.public_scheme.clone(),
            public_port: match config.public_port {
                0 => String::new(),
                port => format!(":{port}"),
            },
            routing_tx,
            stopping,
        };
        let analytics = match &config.kafka_brokers {
            Some(brokers) => Some((brokers.clone(), ConsumerMetrics::new(metrics.registry())?)),
            None => {
                tracing::warn!("no kafka_brokers configured: store sales are not counted");
                None
            }
        };
        let app = Router::new()
            .merge(pods::router())
            .merge(stores::router())
            .merge(signup::router())
            .merge(routing::router())
            .merge(analytics::router())
            .merge(moves::router())
            .merge(jobs::router())
            .merge(loads::router())
            .route("/readyz", get(readyz))
            .with_state(state.clone());
        let router = finish(app, metrics, config.body_limit);
        let listener = mercato_tenants::http::bind(&config.listen)
            .await
            .with_context(|| format!("binding {}", config.listen))?;
        tracing::info!(addr = %listener.local_addr()?, "control plane listening");
        Ok(Self {
            listener,
            router,
            state,
            analytics,
            load_poll: (config.load_poll_interval_ms > 0)
                .then(|| Duration::from_millis(config.load_poll_interval_ms)),
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let stopping = self.state.stopping.clone();
        let shutdown = async move {
            shutdown.await;
            stopping.send_replace(true);
        };
        let (stop_consumer, consumer_stopped) = tokio::sync::oneshot::channel::<()>();
        let consumer = self.analytics.map(|(brokers, metrics)| {
            tokio::spawn(analytics::consumer::run(
                self.state.db.clone(),
                brokers,
                metrics,
                async move {
                    let _ = consumer_stopped.await;
                },
            ))
        });
        if let Err(e) = moves::runner::resume_all(&self.state).await {
            tracing::error!(
                error = format!("{e:#}"),
                "could not resume the moves left running"
            );
        }
        if let Err(e) = jobs::runner::resume_all(&self.state).await {
            tracing::error!(
                error = format!("{e:#}"),
                "could not resume the drain or rebalance left running"
            );
        }
        let (stop_loads, loads_stopped) = tokio::sync::oneshot::channel::<()>();
        let collector = self.load_poll.map(|every| {
            tokio::spawn(loads::run(self.state.clone(), every, async move {
                let _ = loads_stopped.await;
            }))
        });
        let served = axum::serve(self.listener, self.router)
            .with_graceful_shutdown(shutdown)
            .await;
        let _ = stop_consumer.send(());
        let _ = stop_loads.send(());
        if let Some(collector) = collector {
            if let Err(e) = collector.await {
                tracing::error!(error = %e, "load collector task failed");
            }
        }
        if let Some(consumer) = consumer {
            if let Err(e) = consumer.await {
                tracing::error!(error = %e, "analytics consumer task failed");
            }
        }
        self.state.db.close().await;
        served.context("serving http")
    }
}

async fn readyz(State(state): State<AppState>) -> Response {
    match tokio::time::timeout(
        Duration::from_secs(1),
        sqlx::query("SELECT 1").execute(&state.db),
    )
    .await
    {
        Ok(Ok(_)) => {
            axum::Json(serde_json::json!({"status": "ready", "postgres": "ok"})).into_response()
        }
        _ => ApiError::new(ErrorCode::NotReady, "not ready: postgres unreachable").into_response(),
    }
}
