//! Builds the router from its config; `main` and the tests start it the
//! same way.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use mercato_tenants::http::HttpMetrics;
use mercato_tenants::{Domain, Party, TokenKeys};
use tokio::net::TcpListener;

use crate::gate::{Gates, Limits};
use crate::serve::Worker;
use crate::sync::{SharedTable, Syncer};
use crate::upstream::Upstreams;
use crate::RouterConfig;

/// Shared by every request of a serving thread as one `Arc` (cloning the
/// fields per request cost allocations: the key ring's map, the URLs).
/// Each thread has its own copy ([`RouterState::for_worker`]): the same
/// table, limits, gates and waiting room, its own connections to the pods.
#[derive(Clone)]
pub struct RouterState {
    pub table: SharedTable,
    pub syncer: Syncer,
    /// This thread's keep-alive connections to the pods.
    pub upstreams: Arc<Upstreams>,
    connect_timeout: Duration,
    max_in_flight_per_pod: usize,
    pub keys: TokenKeys,
    pub platform_domain: Domain,
    pub control_plane_url: String,
    pub body_limit: usize,
    pub upstream_timeout: Duration,
    pub hold_timeout: Duration,
    /// Admission per upstream ([`crate::gate`]).
    pub gates: Gates,
    /// Attempts to connect to an upstream before `503 pod_unavailable`.
    pub connect_attempts: u32,
    /// Signs the hop to a pod ([`mercato_tenants::hop`]).
    pub hop_key: std::sync::Arc<[u8]>,
    /// Rate limits ([`crate::limits`]).
    pub limiter: std::sync::Arc<crate::limits::Limiter>,
    /// The checkout waiting room ([`crate::waiting_room`]).
    pub waiting_room: std::sync::Arc<crate::waiting_room::WaitingRoom>,
    /// Writes refused while an upstream's database circuit is open
    /// ([`crate::gate`]).
    pub database_refusals: prometheus::IntCounter,
}

impl RouterState {
    /// A serving thread's state: everything shared but the pod connections,
    /// which belong to the thread's event loop.
    fn for_worker(&self) -> Self {
        Self {
            upstreams: Arc::new(Upstreams::new(
                self.connect_timeout,
                self.max_in_flight_per_pod,
            )),
            ..self.clone()
        }
    }
}

pub struct Application {
    /// The first listener; the other workers bind the same address.
    listener: TcpListener,
    workers: usize,
    metrics: HttpMetrics,
    state: Arc<RouterState>,
}

impl Application {
    pub async fn build(config: RouterConfig) -> anyhow::Result<Self> {
        anyhow::ensure!(
            !config.control_plane_token.is_empty(),
            "control_plane_token must be set (a service token the control plane signed for routers)"
        );
        anyhow::ensure!(!config.hop_secret.is_empty(), "hop_secret must be set");
        let platform_domain = Domain::parse(&config.platform_domain)
            .context("platform_domain is not a valid domain")?;
        // The router verifies tokens and signs none.
        let keys = TokenKeys::from_config(&config.tokens, Party::Pods, None).context("tokens")?;
        let syncer = Syncer::new(
            &config.control_plane_url,
            &config.control_plane_token,
            config.sync_wait_secs,
        )?;
        let metrics = HttpMetrics::new("router")?;
        let waiting_room = crate::waiting_room::WaitingRoom::new(
            config.waiting_room.clone(),
            config.hop_secret.as_bytes(),
            metrics.registry(),
        )?;
        let database_refusals = prometheus::IntCounter::new(
            "router_database_circuit_refusals_total",
            "writes refused at the router while their pod's database circuit was open",
        )?;
        metrics
            .registry()
            .register(Box::new(database_refusals.clone()))?;
        let state = Arc::new(RouterState {
            database_refusals,
            table: syncer.table.clone(),
            syncer,
            upstreams: Arc::new(Upstreams::new(
                Duration::from_millis(config.connect_timeout_ms),
                config.pod_max_in_flight,
            )),
            connect_timeout: Duration::from_millis(config.connect_timeout_ms),
            max_in_flight_per_pod: config.pod_max_in_flight,
            keys,
            platform_domain,
            control_plane_url: config.control_plane_url.trim_end_matches('/').to_owned(),
            body_limit: config.body_limit,
            upstream_timeout: Duration::from_millis(config.upstream_timeout_ms),
            hold_timeout: Duration::from_millis(config.hold_timeout_ms),
            gates: Gates::new(Limits {
                max_in_flight: config.pod_max_in_flight,
                queue: config.pod_queue,
                wait: Duration::from_millis(config.pod_queue_timeout_ms),
                open_for: Duration::from_millis(config.pod_circuit_open_ms),
            }),
            connect_attempts: config.connect_attempts.max(1),
            hop_key: config.hop_secret.as_bytes().into(),
            limiter: std::sync::Arc::new(crate::limits::Limiter::new(config.limits.clone())),
            waiting_room,
        });
        let workers = match config.workers {
            0 => std::thread::available_parallelism().map_or(1, usize::from),
            n => n,
        };
        let addr = tokio::net::lookup_host(&config.listen)
            .await
            .with_context(|| format!("resolving {}", config.listen))?
            .next()
            .with_context(|| format!("no address to bind in {}", config.listen))?;
        let listener = mercato_tenants::http::bind_socket(addr, workers > 1)
            .with_context(|| format!("binding {}", config.listen))?;
        tracing::info!(addr = %listener.local_addr()?, workers, "router listening");
        Ok(Self {
            listener,
            workers,
            metrics,
            state,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    pub fn state(&self) -> &RouterState {
        &self.state
    }

    /// Serves on `workers` threads, each a single-threaded runtime with its
    /// own listener, until `shutdown`; then each finishes its requests in
    /// flight. The routing sync runs on the calling runtime.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let sync = tokio::spawn(self.state.syncer.clone().run());
        let addr = self.listener.local_addr()?;
        let mut listeners = vec![self.listener.into_std()?];
        for _ in 1..self.workers {
            listeners.push(mercato_tenants::http::bind_socket(addr, true)?.into_std()?);
        }
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let (done, mut finished) = tokio::sync::mpsc::unbounded_channel();
        for (i, listener) in listeners.into_iter().enumerate() {
            let worker = Arc::new(Worker::new(
                Arc::new(self.state.for_worker()),
                self.metrics.clone(),
            ));
            let stopped = stopped.clone();
            let done = done.clone();
            std::thread::Builder::new()
                .name(format!("router-{i}"))
                .spawn(move || {
                    let served = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .context("starting a serving thread's runtime")
                        .and_then(|runtime| {
                            runtime.block_on(async move {
                                let listener = TcpListener::from_std(listener)?;
                                crate::serve::serve(listener, worker, stopped)
                                    .await
                                    .context("serving http")
                            })
                        });
                    let _ = done.send(served);
                })
                .context("starting a serving thread")?;
        }
        drop(done);
        // Until shutdown, or until a worker stops on its own (a failure).
        let early = tokio::select! {
            () = shutdown => None,
            first = finished.recv() => first,
        };
        stop.send_replace(true);
        let mut result = match early {
            Some(Err(e)) => Err(e),
            Some(Ok(())) => Err(anyhow::anyhow!("a serving thread stopped on its own")),
            None => Ok(()),
        };
        while let Some(served) = finished.recv().await {
            if result.is_ok() {
                result = served;
            }
        }
        sync.abort();
        result
    }
}
