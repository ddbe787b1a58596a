//! Builds the pod from its config; `main` and the tests start it the same way.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use mercato_tenants::http::{finish, HttpMetrics};
use mercato_tenants::{ApiError, ErrorCode, TokenKeys};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;
use tokio::net::TcpListener;

use crate::cache::Cache;
use crate::events::{Relay, RelayMetrics, RelaySettings};
use crate::media::MediaStore;
use crate::payments::{Gateway, HttpGateway};
use crate::tenancy::HostedStores;
use crate::{
    accounts, cart, catalog, categories, checkout, collections, fleet, inventory, media, orders,
    storefront, tenancy, PodConfig,
};

/// Everything a request handler may need, cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub db: PgPool,
    pub redis: Redis,
    pub keys: TokenKeys,
    pub hosted: HostedStores,
    pub config: Arc<PodConfig>,
    pub cache: Cache,
    pub media: MediaStore,
    /// The payment gateway (PSP).
    pub payments: Arc<dyn Gateway>,
    pub gate_metrics: inventory::GateMetrics,
    /// How the payment gateway reaches this pod, without a trailing slash.
    pub public_url: Arc<str>,
    pub fleet: fleet::Fleet,
}

/// The pod's Redis: connected lazily and re-connected after failures, so the
/// pod starts and serves from Postgres while Redis is down.
///
/// After a failure Redis is left alone for [`Redis::REST`]: every user (the
/// cache, carts, search, login counters) goes straight to its fallback
/// instead of each request paying a connection timeout.
#[derive(Clone)]
pub struct Redis {
    client: redis::Client,
    conn: Arc<tokio::sync::Mutex<Option<redis::aio::ConnectionManager>>>,
    resting_until: Arc<std::sync::Mutex<Option<Instant>>>,
}

impl Redis {
    /// How long Redis is left alone after a failure.
    pub const REST: Duration = Duration::from_secs(1);

    pub fn new(url: &str) -> anyhow::Result<Self> {
        let client = redis::Client::open(url).context("invalid redis url")?;
        Ok(Self {
            client,
            conn: Arc::new(tokio::sync::Mutex::new(None)),
            resting_until: Arc::default(),
        })
    }

    /// Whether Redis may be tried now (it is not resting after a failure).
    pub fn usable(&self) -> bool {
        let until = self.resting_until.lock().unwrap_or_else(|e| e.into_inner());
        !matches!(*until, Some(t) if Instant::now() < t)
    }

    /// Reports a failed Redis call: Redis rests for [`Redis::REST`].
    pub fn failed(&self) {
        *self.resting_until.lock().unwrap_or_else(|e| e.into_inner()) =
            Some(Instant::now() + Self::REST);
    }

    /// A connection; an error at once while Redis rests, or if it cannot be
    /// reached within a second (it then rests).
    pub async fn connection(&self) -> Result<redis::aio::ConnectionManager, redis::RedisError> {
        if !self.usable() {
            return Err(redis::RedisError::from((
                redis::ErrorKind::IoError,
                "redis is resting after a failure",
            )));
        }
        let mut guard = self.conn.lock().await;
        if let Some(conn) = guard.as_ref() {
            return Ok(conn.clone());
        }
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Duration::from_secs(1))
            .set_response_timeout(Duration::from_secs(1))
            .set_number_of_retries(1);
        let conn = self
            .client
            .get_connection_manager_with_config(config)
            .await
            .inspect_err(|_| self.failed())?;
        *guard = Some(conn.clone());
        Ok(conn)
    }

    pub async fn ping(&self) -> Result<(), redis::RedisError> {
        let mut conn = self.connection().await?;
        redis::cmd("PING")
            .query_async::<String>(&mut conn)
            .await
            .map(|_| ())
    }
}

/// The pending list of a GIN index (`fastupdate`, pod migration `…13`) at
/// which this pod's writes merge it: small, so that searches never scan
/// much of it. Other sessions keep Postgres' default (4 MB): a store
/// moving in is copied by a subscription, whose inserts batch into larger
/// merges, and the mover merges what is left once the copy is done.
const GIN_PENDING_LIST_LIMIT: &str = "256kB";

pub struct Application {
    listener: TcpListener,
    router: Router,
    state: AppState,
    /// The outbox relay, when Kafka is configured.
    relay: Option<Relay>,
}

impl Application {
    /// Connects to Postgres (applying migrations) and Redis, loads the hosted
    /// stores and binds the listener.
    pub async fn build(config: PodConfig) -> anyhow::Result<Self> {
        anyhow::ensure!(!config.jwt_secret.is_empty(), "jwt_secret must be set");
        let options: PgConnectOptions = config
            .database_url
            .parse()
            .context("parsing the pod database url")?;
        let db = PgPoolOptions::new()
            .max_connections(config.db_pool_size)
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(options.options([("gin_pending_list_limit", GIN_PENDING_LIST_LIMIT)]))
            .await
            .context("connecting to the pod database")?;
        sqlx::migrate!("../migrations/pod")
            .run(&db)
            .await
            .context("applying pod migrations")?;
        let redis = Redis::new(&config.redis_url)?;
        if let Err(e) = redis.ping().await {
            tracing::warn!(error = %e, "redis is not reachable at start; serving from postgres");
        }
        let hosted = HostedStores::load(&db)
            .await
            .context("loading hosted stores")?;
        let metrics = HttpMetrics::new("pod")?;
        let cache = Cache::new(redis.clone(), metrics.registry())?;
        let media = MediaStore::from_config(&config)?;
        let listener = TcpListener::bind(&config.listen)
            .await
            .with_context(|| format!("binding {}", config.listen))?;
        let public_url = match config.public_url.trim_end_matches('/') {
            "" => format!("http://{}", listener.local_addr()?),
            url => url.to_owned(),
        };
        let payments = HttpGateway::new(
            &config.gateway_url,
            &config.gateway_api_key,
            Duration::from_millis(config.gateway_timeout_ms),
        )
        .context("configuring the payment gateway")?;
        let gate_metrics = inventory::GateMetrics::new(metrics.registry())?;
        let relay = match RelaySettings::from_config(&config) {
            Some(settings) => Some(Relay::new(
                db.clone(),
                settings,
                RelayMetrics::new(metrics.registry())?,
            )),
            None => {
                tracing::warn!("no kafka_brokers configured: events stay in the outbox");
                None
            }
        };
        let state = AppState {
            db,
            redis,
            keys: TokenKeys::from_secret(config.jwt_secret.as_bytes()),
            hosted,
            config: Arc::new(config.clone()),
            cache,
            media,
            payments: Arc::new(payments),
            gate_metrics,
            public_url: public_url.into(),
            fleet: fleet::Fleet::new(metrics.registry())?,
        };
        let router = router(state.clone(), metrics, config.body_limit);
        tracing::info!(pod = %config.name, addr = %listener.local_addr()?, "pod listening");
        Ok(Self {
            listener,
            router,
            state,
            relay,
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

    /// Serves until `shutdown` completes, then drains in-flight requests.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let refresher = tokio::spawn(tenancy::refresh_hosted(
            self.state.hosted.clone(),
            self.state.db.clone(),
        ));
        let inventory_workers = inventory::spawn_workers(self.state.clone());
        let recovery = tokio::spawn(checkout::recover(self.state.clone()));
        let purge = fleet::spawn_purge_worker(self.state.clone());
        let sizes = fleet::spawn_size_sweep(self.state.clone());
        let (stop_relay, relay_stopped) = tokio::sync::oneshot::channel::<()>();
        let relay = self.relay.map(|relay| {
            tokio::spawn(relay.run(async move {
                let _ = relay_stopped.await;
            }))
        });
        let served = axum::serve(self.listener, self.router)
            .with_graceful_shutdown(shutdown)
            .await;
        refresher.abort();
        drop(inventory_workers);
        recovery.abort();
        purge.abort();
        sizes.abort();
        let _ = stop_relay.send(());
        if let Some(relay) = relay {
            if let Err(e) = relay.await {
                tracing::error!(error = %e, "outbox relay task failed");
            }
        }
        self.state.db.close().await;
        served.context("serving http")
    }
}

fn router(state: AppState, metrics: HttpMetrics, body_limit: usize) -> Router {
    let tenant_routes = Router::new()
        .merge(catalog::router())
        .merge(accounts::router())
        .merge(cart::router())
        .merge(inventory::router())
        .merge(media::router())
        .merge(collections::router())
        .merge(categories::router())
        .merge(crate::search::router())
        .merge(storefront::router())
        .merge(checkout::router())
        .merge(orders::router())
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            tenancy::fence,
        ));
    let app = Router::new()
        .merge(tenant_routes)
        .merge(tenancy::internal_router())
        .merge(fleet::internal_router())
        .merge(checkout::webhook_router())
        .route("/readyz", get(readyz))
        .route("/openapi.json", get(openapi))
        .with_state(state);
    finish(app, metrics, body_limit)
}

/// `GET /readyz`: Postgres and Redis both answer.
async fn readyz(State(state): State<AppState>) -> Response {
    let pg = tokio::time::timeout(
        Duration::from_secs(1),
        sqlx::query("SELECT 1").execute(&state.db),
    )
    .await;
    let pg_ok = matches!(pg, Ok(Ok(_)));
    let redis_ok = matches!(
        tokio::time::timeout(Duration::from_secs(1), state.redis.ping()).await,
        Ok(Ok(()))
    );
    if pg_ok && redis_ok {
        axum::Json(serde_json::json!({"status": "ready", "postgres": "ok", "redis": "ok"}))
            .into_response()
    } else {
        let down: Vec<&str> = [
            (!pg_ok).then_some("postgres"),
            (!redis_ok).then_some("redis"),
        ]
        .into_iter()
        .flatten()
        .collect();
        ApiError::new(
            ErrorCode::NotReady,
            format!("not ready: {} unreachable", down.join(", ")),
        )
        .into_response()
    }
}

/// The pod's API as an OpenAPI 3.1 document, generated from the handlers.
pub fn api_doc() -> utoipa::openapi::OpenApi {
    use utoipa::OpenApi as _;
    let mut doc = utoipa::openapi::OpenApiBuilder::new()
        .info(
            utoipa::openapi::InfoBuilder::new()
                .title("Mercato store API")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(
                    "Served on each store's own domain. Shopper endpoints under /api, \
                     staff endpoints under /admin/api (bearer token of a staff member).",
                ))
                .build(),
        )
        .build();
    let parts: Vec<utoipa::openapi::OpenApi> = vec![
        catalog::ApiDoc::openapi(),
        inventory::ApiDoc::openapi(),
        checkout::ApiDoc::openapi(),
        orders::ApiDoc::openapi(),
        collections::ApiDoc::openapi(),
        categories::ApiDoc::openapi(),
        accounts::ApiDoc::openapi(),
        cart::ApiDoc::openapi(),
        crate::search::ApiDoc::openapi(),
    ];
    for part in parts {
        doc.merge(part);
    }
    doc
}

/// `GET /openapi.json`.
async fn openapi() -> Response {
    axum::Json(api_doc()).into_response()
}
