//! Builds the control plane from its config; `main` and the tests start it
//! the same way.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use mercato_tenants::http::{finish, HttpMetrics};
use mercato_tenants::openapi::{add_common_answers, Tokens};
use mercato_tenants::{ApiError, Domain, ErrorCode, Handle, Party, TokenKeys};
use sqlx::postgres::PgPoolOptions;
use sqlx::PgPool;
use tokio::net::TcpListener;
use tokio::sync::watch;
use utoipa_axum::router::OpenApiRouter;

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
        self.store_origin_with_port(handle, &self.public_port)
    }

    /// [`Self::store_origin`] with another port part (`""` or `":8080"`).
    pub fn store_origin_with_port(&self, handle: &Handle, port: &str) -> String {
        format!(
            "{}://{}{port}",
            self.public_scheme,
            self.platform_domain.store_subdomain(handle),
        )
    }

    /// Whether the platform's pages are served over HTTPS (their cookies
    /// are then `Secure`).
    pub fn is_https(&self) -> bool {
        self.public_scheme == "https"
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
        let (app, doc) = routes().split_for_parts();
        let doc = Arc::new(finish_doc(doc));
        let app = app
            .merge(crate::web::routes())
            .route("/openapi.json", get(move || openapi(doc.clone())))
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

/// Every route of the control plane, registered in one place. The API is
/// registered with `routes!` (each module's `api()`), which takes a route
/// and its OpenAPI description from one `#[utoipa::path]`, so the document
/// cannot leave a route out or name one that is not served. `/readyz` is
/// served undocumented (the orchestrator's probe); so are `/openapi.json`
/// (the document itself) and `/healthz`, `/metrics` (every process's,
/// added by `finish`). Everything under `/v1` is documented
/// (tests/openapi.rs).
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(doc_head())
        .merge(pods::api())
        .merge(stores::api())
        .merge(signup::api())
        .merge(routing::api())
        .merge(analytics::api())
        .merge(moves::api())
        .merge(jobs::api())
        .merge(loads::api())
        // Undocumented: the readiness probe of the orchestrator.
        .route("/readyz", get(readyz))
}

/// The control plane's API as an OpenAPI 3.1 document, as served at
/// `/openapi.json`.
pub fn api_doc() -> utoipa::openapi::OpenApi {
    finish_doc(routes().into_openapi())
}

/// Adds what every operation shares (the extractors' and the token
/// check's refusals).
fn finish_doc(mut doc: utoipa::openapi::OpenApi) -> utoipa::openapi::OpenApi {
    add_common_answers(&mut doc, Tokens::CheckedWhereRequired);
    doc
}

/// The document before any route: its title and description.
fn doc_head() -> utoipa::openapi::OpenApi {
    utoipa::openapi::OpenApiBuilder::new()
        .info(
            utoipa::openapi::InfoBuilder::new()
                .title("Mercato control plane API")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(
                    "Served on the platform domain. Self-serve signup needs no token; \
                     the operator API (pods, stores, moves, jobs) needs an operator's \
                     bearer token, the routing feed an operator's or a platform \
                     service's.",
                ))
                .build(),
        )
        .build()
}

/// `GET /openapi.json`: the document split from the routes served.
async fn openapi(doc: Arc<utoipa::openapi::OpenApi>) -> Response {
    axum::Json(&*doc).into_response()
}
