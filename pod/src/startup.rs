//! Builds the pod from its config; `main` and the tests start it the same way.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::Router;
use mercato_tenants::http::{finish, HttpMetrics};
use mercato_tenants::{pod_api, ApiError, ErrorCode, Party, TokenKeys};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use tokio::net::TcpListener;
use utoipa_axum::router::OpenApiRouter;

use crate::cache::Cache;
use crate::config::PodConfig;
use crate::events::{Relay, RelayMetrics, RelaySettings};
use crate::media::MediaStore;
use crate::notifications::{self, Mailer};
use crate::payments::HttpGateway;
use crate::redis_handle::Redis;
use crate::state::{refresh_hosted, AppState, Fleet, GateMetrics, HashPool, HostedStores};
use crate::webhooks;
use crate::{checkout, fleet, inventory, routes, storefront, tenancy};

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
    /// The mail worker's relay, when `mail.smtp_url` is set.
    mailer: Option<Mailer>,
}

impl Application {
    /// Connects to Postgres (applying migrations) and Redis, loads the hosted
    /// stores and binds the listener.
    pub async fn build(config: PodConfig) -> anyhow::Result<Self> {
        let keys = TokenKeys::from_config(&config.tokens, Party::Pods, Some(Party::Pods))
            .context("tokens")?;
        anyhow::ensure!(!config.hop_secret.is_empty(), "hop_secret must be set");
        anyhow::ensure!(
            cfg!(feature = "failpoints") || config.failpoint.is_empty(),
            "failpoint `{}` is set, but this build has no failpoints (feature `failpoints`)",
            config.failpoint
        );
        let options: PgConnectOptions = config
            .database_url
            .parse()
            .context("parsing the pod database url")?;
        let db = PgPoolOptions::new()
            .max_connections(config.db_pool_size)
            .acquire_timeout(Duration::from_millis(config.db_acquire_timeout_ms))
            // Ping a pooled connection before use, inside the acquire
            // timeout: a hung database is found there, not mid-request.
            .test_before_acquire(true)
            .connect_with(options.options([("gin_pending_list_limit", GIN_PENDING_LIST_LIMIT)]))
            .await
            .context("connecting to the pod database")?;
        crate::db::migrate(&db).await?;
        let redis = Redis::new(&config.redis_url)?;
        if let Err(e) = redis.ping().await {
            tracing::warn!(error = %e, "redis is not reachable at start; serving from postgres");
        }
        let hosted = HostedStores::load(&db)
            .await
            .context("loading hosted stores")?;
        let metrics = HttpMetrics::new("pod")?;
        let cache = Cache::new(redis.clone(), metrics.registry())?;
        crate::periodic::register_metrics(metrics.registry())?;
        let media = MediaStore::from_config(&config.media)?;
        let listener = mercato_tenants::http::bind(&config.listen)
            .await
            .with_context(|| format!("binding {}", config.listen))?;
        let public_url = match config.public_url.trim_end_matches('/') {
            "" => format!("http://{}", listener.local_addr()?),
            url => url.to_owned(),
        };
        let payments = HttpGateway::new(
            &config.gateway.url,
            &config.gateway.api_key,
            Duration::from_millis(config.gateway.timeout_ms),
        )
        .context("configuring the payment gateway")?;
        let gate_metrics = GateMetrics::new(metrics.registry())?;
        let relay = match RelaySettings::from_config(&config.events) {
            Some(settings) => Some(Relay::new(
                db.clone(),
                settings,
                RelayMetrics::new(metrics.registry())?,
            )),
            None => {
                tracing::warn!("no events.kafka_brokers configured: events stay in the outbox");
                None
            }
        };
        let mailer = Mailer::from_config(&config.mail, &config.name)?;
        if mailer.is_none() {
            tracing::warn!(
                "no mail.smtp_url configured: no mail is sent (deliveries wait in mail_deliveries)"
            );
        }
        let state = AppState {
            db,
            redis,
            keys,
            hosted,
            config: Arc::new(config.clone()),
            cache,
            media,
            payments: Arc::new(payments),
            gate_metrics,
            public_url: public_url.into(),
            fleet: Fleet::new(metrics.registry())?,
            hashing: HashPool::new(
                metrics.registry(),
                config.accounts.hash_concurrency,
                config.accounts.hash_queue,
            )?,
        };
        let router = router(state.clone(), metrics, config.body_limit);
        tracing::info!(pod = %config.name, addr = %listener.local_addr()?, "pod listening");
        Ok(Self {
            listener,
            router,
            state,
            relay,
            mailer,
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
        let refresher = tokio::spawn(refresh_hosted(
            self.state.hosted.clone(),
            self.state.db.clone(),
        ));
        let inventory_workers = inventory::spawn_workers(self.state.clone());
        let recovery = tokio::spawn(checkout::recover(self.state.clone()));
        let returns_recovery = tokio::spawn(crate::returns::recover(self.state.clone()));
        let purge = fleet::spawn_purge_worker(self.state.clone());
        let sizes = fleet::spawn_size_sweep(self.state.clone());
        let risk_prune = crate::risk::spawn_prune_worker(self.state.clone());
        let mail = self
            .mailer
            .map(|mailer| notifications::spawn_worker(self.state.clone(), mailer));
        let hooks = self.state.config.webhooks.enabled.then(|| {
            webhooks::spawn_worker(
                self.state.clone(),
                webhooks::Sender::new(&self.state.config.webhooks),
            )
        });
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
        returns_recovery.abort();
        purge.abort();
        sizes.abort();
        risk_prune.abort();
        if let Some(mail) = mail {
            mail.abort();
        }
        if let Some(hooks) = hooks {
            hooks.abort();
        }
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
    let fence = axum::middleware::from_fn_with_state(state.clone(), tenancy::fence);
    let (app, doc) = app(|store| store.route_layer(fence)).split_for_parts();
    let doc = Arc::new(finish_doc(doc));
    let app = app
        .route("/openapi.json", get(move || openapi(doc.clone())))
        .with_state(state);
    finish(app, metrics, body_limit)
}

/// The pod's routes as [`Application`] serves them, less the tenancy fence,
/// `/openapi.json` and what `finish` adds (`/healthz`, `/metrics`, the
/// layers): the source of [`api_doc`], and of the test that holds the
/// router and the document to each other (tests/openapi.rs).
pub fn routes() -> OpenApiRouter<AppState> {
    app(|store| store)
}

/// Every route, registered in one place. The store API is registered with
/// `routes!` (in `routes::*::api`), which takes a route
/// and its OpenAPI description from one `#[utoipa::path]`, so the document
/// cannot leave a route out or name one that is not served. The plain
/// `.route`s here are served undocumented on purpose, each for the reason
/// given; so are `/openapi.json` (the document itself, added by [`router`])
/// and `/healthz`, `/metrics` (every process's, added by `finish`). None may
/// be under `/api` or `/admin/api` (tests/openapi.rs). `fence` wraps the
/// routes that serve one store.
fn app(
    fence: impl FnOnce(OpenApiRouter<AppState>) -> OpenApiRouter<AppState>,
) -> OpenApiRouter<AppState> {
    let store = OpenApiRouter::default()
        .merge(routes::catalog::api())
        .merge(routes::accounts::api())
        .merge(routes::cart::api())
        .merge(routes::inventory::api())
        .merge(routes::collections::api())
        .merge(routes::categories::api())
        .merge(routes::search::api())
        .merge(routes::checkout::api())
        .merge(routes::orders::api())
        .merge(routes::reports::api())
        .merge(routes::fulfillment::api())
        .merge(routes::notifications::api())
        .merge(routes::webhooks::api())
        .merge(routes::reviews::api())
        .merge(routes::returns::api())
        .merge(routes::discounts::api())
        .merge(routes::risk::api())
        .merge(routes::gift_cards::api())
        .merge(routes::themes::api())
        // Undocumented: image files, at the URLs the product JSON gives.
        .route("/media/{file}", get(routes::media::serve));
    // Undocumented: the storefront's and the admin's HTML pages, for
    // browsers.
    let store = crate::admin::routes(storefront::routes(store));
    OpenApiRouter::with_openapi(doc_head())
        .merge(fence(store))
        // Documented, outside the fence: the store is in the path and the
        // gateway's signature is the authentication.
        .merge(routes::checkout::webhook_api())
        // Undocumented: the control plane's internal API (`pod_api`,
        // platform tokens only, never forwarded by the router).
        .route(pod_api::STORES, get(routes::tenancy::list))
        .route(
            pod_api::STORE,
            put(routes::tenancy::host).delete(routes::tenancy::forget),
        )
        .route(pod_api::STORE_NAME, put(routes::tenancy::rename))
        .route(pod_api::LOAD, get(routes::fleet::load_report))
        .route(pod_api::REBUILD, post(routes::fleet::rebuild))
        .route(pod_api::RELEASE, post(routes::fleet::release))
        .route(pod_api::TOKENS, post(routes::fleet::issue_store_token))
        .route(pod_api::STAFF_LOGIN, post(routes::fleet::staff_login))
        .route(
            pod_api::STAFF_PASSWORD_RESET,
            post(routes::fleet::staff_password_reset),
        )
        // Undocumented: the readiness probe of the orchestrator.
        .route("/readyz", get(readyz))
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

/// The pod's API as an OpenAPI 3.1 document, generated from the handlers
/// registered with it.
pub fn api_doc() -> utoipa::openapi::OpenApi {
    finish_doc(routes().into_openapi())
}

/// Adds what every operation shares: the extractors' refusals, and the
/// router's token check and rate limit, which apply on every route of a
/// store's domain.
fn finish_doc(mut doc: utoipa::openapi::OpenApi) -> utoipa::openapi::OpenApi {
    mercato_tenants::openapi::add_common_answers(
        &mut doc,
        mercato_tenants::openapi::Tokens::CheckedOnEveryRoute,
    );
    doc
}

/// The document before any route: its title and description.
fn doc_head() -> utoipa::openapi::OpenApi {
    utoipa::openapi::OpenApiBuilder::new()
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
        .build()
}

/// `GET /openapi.json`: the document split from the routes served.
async fn openapi(doc: Arc<utoipa::openapi::OpenApi>) -> Response {
    axum::Json(&*doc).into_response()
}
