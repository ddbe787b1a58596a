//! `mercato gateway`: the built-in TEST payment gateway, a process of its
//! own that behaves like a real PSP's test mode, so the checkout meets real
//! network faults (timeouts, dropped connections, a dead PSP).
//!
//! - card tokens and test cards ([`cards`]): success, decline, insufficient
//!   funds, processing error, slow, and "charged but the response was lost";
//! - authorize / capture / void / refund, idempotent on `Idempotency-Key`,
//!   with the payment state machine in [`ledger`];
//! - HMAC-signed webhooks for every outcome, retried ([`webhooks`]).
//!
//! State is in memory only: a restart is a sandbox reset. The wire format
//! is `mercato_pod::payments::wire`, shared with the pod's client; the API
//! is documented in `docs/payments.md`.

pub mod cards;
pub mod ledger;
mod memory;
mod routes;
pub mod sessions;
pub mod severable;
pub mod webhooks;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use axum::Router;
use mercato_tenants::http::{finish, HttpMetrics};
use tokio::net::TcpListener;

use self::memory::Counters;
use self::severable::{Connection, SeverableListener};

/// Largest request body, in bytes.
const BODY_LIMIT: usize = 64 * 1024;

/// `mercato gateway` settings (flags or `MERCATO_GATEWAY_*`).
#[derive(clap::Args, Clone)]
pub struct GatewayArgs {
    /// Address to listen on; port 0 picks a free one.
    #[arg(long, env = "MERCATO_GATEWAY_LISTEN", default_value = "127.0.0.1:7430")]
    pub listen: String,
    /// The key clients send as `Authorization: Bearer <key>`.
    #[arg(long, env = "MERCATO_GATEWAY_API_KEY", hide_env_values = true)]
    pub api_key: String,
    /// The secret webhooks are signed with.
    #[arg(long, env = "MERCATO_GATEWAY_WEBHOOK_SECRET", hide_env_values = true)]
    pub webhook_secret: String,
    /// How long the slow test card (4000000000000077) takes.
    #[arg(long, env = "MERCATO_GATEWAY_SLOW_MS", default_value_t = 3000)]
    pub slow_ms: u64,
    /// Base URL of an OTLP/HTTP collector to send spans to (see
    /// docs/operations.md, "Telemetry"); empty: none.
    #[arg(long, env = "MERCATO_GATEWAY_OTLP_ENDPOINT", default_value = "")]
    pub otlp_endpoint: String,
}

/// The test gateway, bound and ready to serve.
pub struct GatewayServer {
    listener: SeverableListener,
    router: Router,
    addr: SocketAddr,
}

impl GatewayServer {
    pub async fn bind(args: GatewayArgs) -> anyhow::Result<Self> {
        anyhow::ensure!(!args.api_key.is_empty(), "the api key must not be empty");
        anyhow::ensure!(
            !args.webhook_secret.is_empty(),
            "the webhook secret must not be empty"
        );
        let counters = Arc::new(Counters::default());
        let gw = routes::Gw {
            memory: Arc::default(),
            sessions: Arc::default(),
            hooks: webhooks::Webhooks::new(&args.webhook_secret, counters.clone())?,
            counters,
            api_key: args.api_key.as_str().into(),
            slow: Duration::from_millis(args.slow_ms),
        };
        let router = finish(routes::router(gw), HttpMetrics::new("gateway")?, BODY_LIMIT);
        let tcp = TcpListener::bind(&args.listen)
            .await
            .with_context(|| format!("binding {}", args.listen))?;
        let addr = tcp.local_addr()?;
        tracing::info!(%addr, "test gateway listening");
        Ok(Self {
            listener: SeverableListener::new(tcp),
            router,
            addr,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves until `shutdown` completes.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        axum::serve(
            self.listener,
            self.router
                .into_make_service_with_connect_info::<Connection>(),
        )
        .with_graceful_shutdown(shutdown)
        .await
        .context("serving http")
    }
}
