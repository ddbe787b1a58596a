//! `mercato mailbox`: the built-in mail sink for development and tests, a
//! process of its own like the test payment gateway. It is a real SMTP
//! server (the pods send to it as to any mail relay) that keeps what it
//! receives in memory, the newest `--max-messages`, and shows it over HTTP:
//!
//! - `GET /messages[?to=<address>]`: the messages, oldest first (JSON);
//! - `GET /messages/{id}`: one, with its headers and its text and HTML
//!   parts decoded;
//! - `DELETE /messages`: forget them all;
//! - `GET /`: a page to read them in a browser.
//!
//! [`smtp`] is the conversation (pure), `server.rs` its network loop,
//! [`message`] takes a message apart, `store.rs` keeps them. It delivers
//! nothing anywhere: a developer's shoppers never get a mail by mistake.

pub mod message;
mod routes;
mod server;
pub mod smtp;
mod store;

use std::future::Future;
use std::net::SocketAddr;

use anyhow::Context as _;
use axum::Router;
use mercato_tenants::http::{finish, HttpMetrics};
use tokio::net::TcpListener;

use self::smtp::Limits;
use self::store::Store;

/// `mercato mailbox` settings (flags or `MERCATO_MAILBOX_*`).
#[derive(clap::Args, Clone, Debug)]
pub struct MailboxArgs {
    /// Where the SMTP server listens; port 0 picks a free one.
    #[arg(
        long,
        env = "MERCATO_MAILBOX_SMTP_LISTEN",
        default_value = "127.0.0.1:7425"
    )]
    pub smtp_listen: String,
    /// Where the HTTP API and the reading page listen.
    #[arg(
        long,
        env = "MERCATO_MAILBOX_HTTP_LISTEN",
        default_value = "127.0.0.1:7426"
    )]
    pub http_listen: String,
    /// Messages kept; past it the oldest go.
    #[arg(long, env = "MERCATO_MAILBOX_MAX_MESSAGES", default_value_t = 1000)]
    pub max_messages: usize,
    /// The largest message accepted, in bytes (`552` beyond).
    #[arg(long, env = "MERCATO_MAILBOX_MAX_MESSAGE_BYTES", default_value_t = 10 * 1024 * 1024)]
    pub max_message_bytes: usize,
    /// Recipients of one message (`452` beyond).
    #[arg(long, env = "MERCATO_MAILBOX_MAX_RECIPIENTS", default_value_t = 100)]
    pub max_recipients: usize,
}

/// The mailbox, bound and ready to serve.
pub struct MailboxServer {
    smtp: TcpListener,
    http: TcpListener,
    router: Router,
    store: Store,
    limits: Limits,
}

impl MailboxServer {
    pub async fn bind(args: MailboxArgs) -> anyhow::Result<Self> {
        anyhow::ensure!(args.max_recipients > 0, "max_recipients must be positive");
        let store = Store::new(args.max_messages);
        let router = finish(
            routes::router(store.clone()),
            HttpMetrics::new("mailbox")?,
            64 * 1024,
        );
        let smtp = mercato_tenants::http::bind(&args.smtp_listen)
            .await
            .with_context(|| format!("binding {}", args.smtp_listen))?;
        let http = mercato_tenants::http::bind(&args.http_listen)
            .await
            .with_context(|| format!("binding {}", args.http_listen))?;
        tracing::info!(smtp = %smtp.local_addr()?, http = %http.local_addr()?, "mailbox listening");
        Ok(Self {
            smtp,
            http,
            router,
            store,
            limits: Limits {
                max_message_bytes: args.max_message_bytes,
                max_recipients: args.max_recipients,
            },
        })
    }

    pub fn smtp_addr(&self) -> SocketAddr {
        self.smtp
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    pub fn http_addr(&self) -> SocketAddr {
        self.http
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    /// Serves SMTP and HTTP until `shutdown` completes.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let smtp = tokio::spawn(server::accept_loop(
            self.smtp,
            self.store,
            "mailbox.mercato.localhost".into(),
            self.limits,
        ));
        let served = axum::serve(self.http, self.router)
            .with_graceful_shutdown(shutdown)
            .await;
        smtp.abort();
        served.context("serving http")
    }
}
