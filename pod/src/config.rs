//! The configuration of one pod process: a few process-wide settings at the
//! top, then a section per context (`[cart]`, `[checkout]`, ...), each read
//! by its own context only.
//!
//! In a TOML file a section is a table (`[cart]` then `max_lines = 50`); in
//! the environment a double underscore reaches into it
//! (`MERCATO_POD_CART__MAX_LINES=50`, `MERCATO_POD_MEDIA__S3__BUCKET=img`).
//! Every section refuses keys it does not know, and a key left out keeps its
//! default.

use serde::{Deserialize, Serialize};

/// Configuration of one pod process.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PodConfig {
    /// The pod's name, as registered with the control plane.
    pub name: String,
    /// Address to listen on; port 0 picks a free one.
    pub listen: String,
    /// The pod's own Postgres.
    pub database_url: String,
    /// The pod's own Redis.
    pub redis_url: String,
    /// The pods' signing key (store sessions) and the public keys accepted
    /// (the control plane's, for operator and service tokens).
    pub tokens: mercato_tenants::TokenConfig,
    /// The key routers and pods alone share: a store request is served only
    /// when the router signed it with this key (`x-mercato-hop`).
    pub hop_secret: String,
    /// Largest request body accepted, in bytes.
    pub body_limit: usize,
    /// Connections in the Postgres pool.
    pub db_pool_size: u32,
    /// How long a request waits for a database connection (including the
    /// health check of a pooled one) before `503 database_unavailable`, in
    /// milliseconds. A hung database fails fast instead of hanging shoppers.
    pub db_acquire_timeout_ms: u64,
    /// How the payment gateway reaches this pod (webhooks); empty: the
    /// address it listens on.
    pub public_url: String,
    /// The platform's domain, where merchants sign up and sign in: the
    /// only site whose pages may hand a signed-in merchant over to a
    /// store's admin (`POST /admin/handoff`).
    pub platform_domain: String,
    /// Fault injection for tests: `crash_after_authorize` aborts the process
    /// right after a payment is authorized; `capture_unknown` acts as if the
    /// gateway never answered a capture. Empty in production.
    pub failpoint: String,
    /// Product images (`media`).
    pub media: MediaConfig,
    /// Carts (`cart`).
    pub cart: CartConfig,
    /// Logins and their tokens (`accounts`).
    pub accounts: AccountsConfig,
    /// Products (`catalog`).
    pub catalog: CatalogConfig,
    /// The payment gateway the pod calls (`payments`, `checkout`).
    pub gateway: GatewayConfig,
    /// Stock, the hot-SKU gate and holds (`inventory`).
    pub inventory: InventoryConfig,
    /// The checkout saga and its recovery (`checkout`).
    pub checkout: CheckoutConfig,
    /// The outbox relay to Kafka (`events`).
    pub events: EventsConfig,
    /// Background work for the fleet: the size sweep and the purge of
    /// moved-out stores (`fleet`).
    pub fleet: FleetConfig,
    /// Mail to shoppers and staff (`notifications`).
    pub mail: MailConfig,
    /// Merchant webhooks (`webhooks`).
    pub webhooks: WebhooksConfig,
    /// Trace export (`telemetry`): read by the binary that sets up tracing.
    pub telemetry: mercato_tenants::TelemetryConfig,
}

impl Default for PodConfig {
    fn default() -> Self {
        Self {
            name: "pod-1".into(),
            listen: "127.0.0.1:7401".into(),
            database_url: "postgres://mercato@127.0.0.1:7411/mercato".into(),
            redis_url: "redis://127.0.0.1:7421/".into(),
            tokens: Default::default(),
            hop_secret: String::new(),
            body_limit: 1024 * 1024,
            db_pool_size: 16,
            db_acquire_timeout_ms: 2_000,
            public_url: String::new(),
            platform_domain: "localhost".into(),
            failpoint: String::new(),
            media: MediaConfig::default(),
            cart: CartConfig::default(),
            accounts: AccountsConfig::default(),
            catalog: CatalogConfig::default(),
            gateway: GatewayConfig::default(),
            inventory: InventoryConfig::default(),
            checkout: CheckoutConfig::default(),
            events: EventsConfig::default(),
            fleet: FleetConfig::default(),
            mail: MailConfig::default(),
            webhooks: WebhooksConfig::default(),
            telemetry: Default::default(),
        }
    }
}

impl std::fmt::Debug for PodConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PodConfig")
            .field("name", &self.name)
            .field("listen", &self.listen)
            .field("database_url", &redact_url_password(&self.database_url))
            .field("redis_url", &redact_url_password(&self.redis_url))
            .field("tokens", &self.tokens)
            .field("hop_secret", &Redacted(&self.hop_secret))
            .field("body_limit", &self.body_limit)
            .field("db_pool_size", &self.db_pool_size)
            .field("public_url", &self.public_url)
            .field("failpoint", &self.failpoint)
            .field("media", &self.media)
            .field("cart", &self.cart)
            .field("accounts", &self.accounts)
            .field("catalog", &self.catalog)
            .field("gateway", &self.gateway)
            .field("inventory", &self.inventory)
            .field("checkout", &self.checkout)
            .field("events", &self.events)
            .field("fleet", &self.fleet)
            .field("mail", &self.mail)
            .field("webhooks", &self.webhooks)
            .field("telemetry", &self.telemetry)
            .finish()
    }
}

/// `[mail]`: the SMTP relay the notification worker sends through
/// (`notifications`). Without `smtp_url` no mail is sent: the deliveries
/// wait in `mail_deliveries` and the pod says so in its log at start.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MailConfig {
    /// `smtp://host[:port]` (port 25 when left out): a relay on a trusted
    /// network, plain SMTP (no TLS, no login). Empty: no mail is sent.
    pub smtp_url: String,
    /// The address every mail comes from; a store's sender name is shown
    /// with it and its reply-to address is set beside it.
    pub from_address: String,
    /// A store's address in the links of its mails: `{handle}` becomes the
    /// store's handle.
    pub store_url: String,
    /// How often the worker looks for mail to send, in milliseconds.
    pub poll_ms: u64,
    /// How often the worker looks for abandoned carts to remind (stores
    /// that set `abandoned_cart_hours`), in milliseconds.
    pub abandoned_cart_poll_ms: u64,
    /// The first wait before a mail the relay did not take is tried again;
    /// it doubles with each attempt up to `retry_max_ms`.
    pub retry_base_ms: u64,
    pub retry_max_ms: u64,
    /// How long one SMTP step (connect, each command) may take.
    pub timeout_ms: u64,
    /// A mail not sent within this long after its event is given up
    /// (`expired`): a reset link a day old is no use to anyone.
    pub max_age_secs: u64,
}

impl Default for MailConfig {
    fn default() -> Self {
        Self {
            smtp_url: String::new(),
            from_address: "no-reply@mercato.localhost".into(),
            store_url: "http://{handle}.localhost:8080".into(),
            poll_ms: 1_000,
            abandoned_cart_poll_ms: 60_000,
            retry_base_ms: 1_000,
            retry_max_ms: 5 * 60 * 1_000,
            timeout_ms: 10_000,
            max_age_secs: 24 * 3600,
        }
    }
}

/// `[webhooks]`: how the webhook worker sends (`webhooks`).
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebhooksConfig {
    /// Whether the worker runs on this pod.
    pub enabled: bool,
    /// How often the worker looks for deliveries due, in milliseconds.
    pub poll_ms: u64,
    /// The first wait before a failed delivery is tried again; it doubles
    /// with each attempt up to `retry_max_ms`, jittered.
    pub retry_base_ms: u64,
    pub retry_max_ms: u64,
    /// How long one POST may take (connect to the end of the answer).
    pub timeout_ms: u64,
    /// A delivery not answered with a 2xx within this long after its event
    /// (or its redelivery) is given up (`dead`).
    pub max_age_secs: u64,
    /// A subscription is disabled after this many deliveries in a row are
    /// given up; 0: never.
    pub disable_after: u32,
    /// Development only: `http://` URLs.
    pub allow_http: bool,
    /// Development only: loopback, private, link-local and other internal
    /// addresses (refused otherwise, when a subscription is made and again
    /// at each delivery, against what the host resolves to).
    pub allow_private_targets: bool,
}

impl Default for WebhooksConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            poll_ms: 1_000,
            retry_base_ms: 5_000,
            retry_max_ms: 60 * 60 * 1_000,
            timeout_ms: 10_000,
            max_age_secs: 24 * 3600,
            disable_after: 5,
            allow_http: false,
            allow_private_targets: false,
        }
    }
}

/// `[media]`: where product images go.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MediaConfig {
    /// Where product images go: `local` (a directory) or `s3` (any
    /// S3-compatible object store).
    pub store: String,
    /// Directory of the `local` media store.
    pub dir: String,
    /// Public URL prefix of media objects. Empty: the pod serves them itself
    /// under `/media/` on the store's domain.
    pub url_base: String,
    /// Largest image accepted, in bytes.
    pub max_bytes: usize,
    /// The bucket of the `s3` media store.
    pub s3: S3Config,
}

impl Default for MediaConfig {
    fn default() -> Self {
        Self {
            store: "local".into(),
            dir: "media".into(),
            url_base: String::new(),
            max_bytes: 8 * 1024 * 1024,
            s3: S3Config::default(),
        }
    }
}

/// `[media.s3]`: the bucket of the `s3` media store.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct S3Config {
    /// The bucket images are written to.
    pub bucket: String,
    /// Endpoint of an S3-compatible service; empty for AWS.
    pub endpoint: String,
    /// The bucket's region.
    pub region: String,
    /// Access key id of the credentials that write to the bucket.
    pub access_key_id: String,
    /// Secret access key of those credentials.
    pub secret_access_key: String,
}

impl Default for S3Config {
    fn default() -> Self {
        Self {
            bucket: String::new(),
            endpoint: String::new(),
            region: "us-east-1".into(),
            access_key_id: String::new(),
            secret_access_key: String::new(),
        }
    }
}

impl std::fmt::Debug for S3Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Config")
            .field("bucket", &self.bucket)
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &Redacted(&self.secret_access_key))
            .finish()
    }
}

/// `[cart]`: limits and lifetimes of carts.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CartConfig {
    /// How long a guest cart lives in Redis after its last change.
    pub guest_ttl_secs: u64,
    /// How long a customer's cart lives in Redis after its last change.
    pub customer_ttl_secs: u64,
    /// Largest quantity of one line in a cart.
    pub max_line_quantity: i64,
    /// Most lines in one cart.
    pub max_lines: usize,
}

impl Default for CartConfig {
    fn default() -> Self {
        Self {
            guest_ttl_secs: 7 * 24 * 3600,
            customer_ttl_secs: 30 * 24 * 3600,
            max_line_quantity: 99,
            max_lines: 100,
        }
    }
}

/// `[accounts]`: login tokens, the login limits and the password hasher.
///
/// Login limits (see `accounts::rate_limit`): failures are counted per
/// (account, client address) and per client address; past its limit a
/// counter makes that client wait, `login_delay_base_secs` doubling with
/// each further failure up to `login_delay_max_secs`. The per-account count
/// over every client only slows clients that never signed in to the account
/// (a spread-out guessing attack), never a client that did: the owner keeps
/// signing in while a stranger is locked out.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AccountsConfig {
    /// Lifetime of a staff login token.
    pub staff_token_ttl_secs: i64,
    /// Lifetime of a customer login token.
    pub customer_token_ttl_secs: i64,
    /// Failed logins to one account from one client address before that
    /// client waits.
    pub login_failures_per_client: u32,
    /// Failed logins from one client address, whatever the account, before
    /// it waits.
    pub login_failures_per_address: u32,
    /// Failed logins to one account from every address before clients that
    /// never signed in to it wait (clients that did are not slowed).
    pub login_failures_per_account: u32,
    /// The first wait past a limit; it doubles with each further failure.
    pub login_delay_base_secs: u64,
    /// The longest wait.
    pub login_delay_max_secs: u64,
    /// How long failure counters live after the last failure.
    pub login_window_secs: u64,
    /// How long a client that signed in to an account stays known to it.
    pub login_known_client_secs: u64,
    /// Password hashes (argon2, ~19 MiB each) computed at once; default: the
    /// number of cores.
    pub hash_concurrency: usize,
    /// Hashes waiting for a slot before more are refused with `503
    /// overloaded`.
    pub hash_queue: usize,
}

impl Default for AccountsConfig {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Self {
            staff_token_ttl_secs: 12 * 3600,
            customer_token_ttl_secs: 30 * 24 * 3600,
            login_failures_per_client: 5,
            login_failures_per_address: 50,
            login_failures_per_account: 100,
            login_delay_base_secs: 30,
            login_delay_max_secs: 15 * 60,
            login_window_secs: 24 * 3600,
            login_known_client_secs: 90 * 24 * 3600,
            hash_concurrency: cores,
            hash_queue: 4 * cores,
        }
    }
}

/// `[catalog]`: the product cache.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CatalogConfig {
    /// How long product bodies stay in the Redis cache (edits invalidate
    /// them at once; this only bounds memory).
    pub product_cache_ttl_secs: u64,
}

impl Default for CatalogConfig {
    fn default() -> Self {
        Self {
            product_cache_ttl_secs: 3600,
        }
    }
}

/// The payment gateway credentials a pod has by default: fine for a local
/// test gateway, refused by `mercato serve pod` unless `--dev` is given.
pub const DEV_GATEWAY_API_KEY: &str = "sk_test_mercato_dev";
pub const DEV_GATEWAY_WEBHOOK_SECRET: &str = "whsec_mercato_dev";

/// `[gateway]`: the payment gateway (PSP) the pod calls and that sends it
/// webhooks.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GatewayConfig {
    /// The payment gateway's API (the test gateway, `mercato gateway`, in
    /// development).
    pub url: String,
    /// Bearer key for the gateway's API.
    pub api_key: String,
    /// Secret the gateway signs its webhooks with.
    pub webhook_secret: String,
    /// How long one gateway call may take before its outcome is unknown.
    pub timeout_ms: u64,
    /// Where shoppers' browsers reach the gateway (the storefront's card
    /// form posts there); empty: `url`.
    pub browser_url: String,
}

impl GatewayConfig {
    /// The gateway's address for browsers, without a trailing slash.
    pub fn browser_base(&self) -> &str {
        let url = if self.browser_url.is_empty() {
            &self.url
        } else {
            &self.browser_url
        };
        url.trim_end_matches('/')
    }

    /// Whether the credentials are still the built-in development ones
    /// (anyone could forge webhooks signed with them).
    pub fn uses_dev_keys(&self) -> bool {
        self.api_key == DEV_GATEWAY_API_KEY || self.webhook_secret == DEV_GATEWAY_WEBHOOK_SECRET
    }
}

impl Default for GatewayConfig {
    fn default() -> Self {
        Self {
            url: "http://127.0.0.1:7430".into(),
            api_key: DEV_GATEWAY_API_KEY.into(),
            webhook_secret: DEV_GATEWAY_WEBHOOK_SECRET.into(),
            timeout_ms: 10_000,
            browser_url: String::new(),
        }
    }
}

impl std::fmt::Debug for GatewayConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatewayConfig")
            .field("url", &self.url)
            .field("api_key", &Redacted(&self.api_key))
            .field("webhook_secret", &Redacted(&self.webhook_secret))
            .field("timeout_ms", &self.timeout_ms)
            .field("browser_url", &self.browser_url)
            .finish()
    }
}

/// `[inventory]`: the hot-SKU gate and holds.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct InventoryConfig {
    /// The Redis hot-SKU gate in front of reservations (off: every
    /// reservation goes to Postgres).
    pub gate: bool,
    /// How often gate counters are reconciled with Postgres.
    pub reconcile_interval_ms: u64,
    /// How often expired holds are released.
    pub hold_sweep_interval_ms: u64,
    /// How long a checkout's hold lasts unless its order pins it.
    pub hold_ttl_secs: u64,
}

impl Default for InventoryConfig {
    fn default() -> Self {
        Self {
            gate: true,
            reconcile_interval_ms: 5000,
            hold_sweep_interval_ms: 1000,
            hold_ttl_secs: 900,
        }
    }
}

/// `[checkout]`: the checkout saga's recovery and webhook handling.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CheckoutConfig {
    /// A checkout nobody moved for this long is settled by the recovery
    /// worker.
    pub stuck_after_ms: u64,
    /// How often the recovery worker looks for stuck checkouts.
    pub recovery_interval_ms: u64,
    /// A gateway webhook about a checkout that a driver moved less than
    /// this long ago is answered `409 checkout_pending` (the gateway retries
    /// later) instead of racing that driver; 0 always drives at once.
    pub webhook_drive_after_ms: u64,
    /// Screen each checkout for risk before capture (the store's risk
    /// settings decide allow, review or block).
    pub risk_screening: bool,
    /// A checkout in review that staff did not decide within this long is
    /// cancelled by the recovery worker (its authorization voided, its
    /// stock released) before the gateway's authorization lapses (7 days
    /// for the test gateway, like the card networks' usual window).
    pub review_window_secs: u64,
}

impl Default for CheckoutConfig {
    fn default() -> Self {
        Self {
            stuck_after_ms: 60_000,
            recovery_interval_ms: 2_000,
            webhook_drive_after_ms: 1_000,
            risk_screening: true,
            review_window_secs: 6 * 24 * 3600,
        }
    }
}

/// `[events]`: the outbox relay that publishes events to Kafka.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EventsConfig {
    /// Kafka bootstrap servers (`host:port,...`) the outbox relay publishes
    /// to. Empty (`None`): no relay runs and events wait in the outbox.
    #[serde(with = "empty_is_none")]
    pub kafka_brokers: Option<String>,
    /// Partitions of each event topic when the relay creates it.
    pub topic_partitions: i32,
    /// How long the producer tries to deliver an event before the relay
    /// gives up on the batch and backs off, in milliseconds.
    pub delivery_timeout_ms: u64,
    /// Outbox rows published per store per transaction.
    pub relay_batch_size: i64,
    /// How often the relay looks for unpublished rows when nothing woke it
    /// (rows committed by another pod process on the same database).
    pub relay_poll_ms: u64,
    /// Longest wait between attempts while Kafka fails (the wait doubles
    /// from 100 ms up to this).
    pub relay_backoff_max_ms: u64,
}

impl Default for EventsConfig {
    fn default() -> Self {
        Self {
            kafka_brokers: None,
            topic_partitions: 3,
            delivery_timeout_ms: 5_000,
            relay_batch_size: 200,
            relay_poll_ms: 500,
            relay_backoff_max_ms: 5_000,
        }
    }
}

/// `[fleet]`: the pod's background work for the fleet.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FleetConfig {
    /// How often a sweep of the stores' sizes (rows and bytes per store,
    /// for the load report) starts, at most, in milliseconds.
    pub size_sweep_interval_ms: u64,
    /// The share of its time (1 to 100 %) the size sweep may spend
    /// measuring: after each table it rests long enough to stay under it.
    pub size_sweep_busy_percent: u32,
    /// How often the purge worker looks for moved-out stores due for
    /// purging, in milliseconds.
    pub purge_interval_ms: u64,
    /// Rows deleted per transaction when purging a moved-out store.
    pub purge_batch_rows: i64,
}

impl Default for FleetConfig {
    fn default() -> Self {
        Self {
            size_sweep_interval_ms: 60_000,
            size_sweep_busy_percent: 5,
            purge_interval_ms: 5_000,
            purge_batch_rows: 5_000,
        }
    }
}

/// An optional setting that is the empty string when unset, so that it has
/// a default in the layered config and `MERCATO_POD_EVENTS__KAFKA_BROKERS=`
/// (empty) turns it off.
mod empty_is_none {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &Option<String>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(value.as_deref().unwrap_or(""))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
        let value = String::deserialize(d)?;
        Ok(Some(value).filter(|v| !v.trim().is_empty()))
    }
}

/// A secret in `Debug` output: whether it is set, never its value.
struct Redacted<'a>(&'a str);

impl std::fmt::Debug for Redacted<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_empty() {
            "\"\""
        } else {
            "<redacted>"
        })
    }
}

/// A URL with the password of its user info (`scheme://user:password@host`)
/// replaced, for logs.
fn redact_url_password(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return url.to_owned();
    };
    let rest = &url[scheme_end..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else {
        return url.to_owned();
    };
    match rest[..at].find(':') {
        Some(colon) => format!(
            "{}{}:<redacted>{}",
            &url[..scheme_end],
            &rest[..colon],
            &rest[at..]
        ),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_defaults_round_trip() {
        let defaults = PodConfig::default();
        let value = serde_json::to_value(&defaults).expect("serializes");
        let back: PodConfig = serde_json::from_value(value).expect("parses");
        assert_eq!(back, defaults);
        // Nothing set at all is the defaults too, section by section.
        let empty: PodConfig = serde_json::from_value(json!({})).expect("parses");
        assert_eq!(empty, defaults);
        let empty_sections: PodConfig =
            serde_json::from_value(json!({"cart": {}, "media": {"s3": {}}})).expect("parses");
        assert_eq!(empty_sections, defaults);
    }

    #[test]
    fn a_nested_setting_reaches_its_section_and_nothing_else() {
        // What `MERCATO_POD_CART__MAX_LINES=5` and
        // `MERCATO_POD_MEDIA__S3__BUCKET=img` become in the loader.
        let c: PodConfig = serde_json::from_value(json!({
            "cart": {"max_lines": 5},
            "media": {"s3": {"bucket": "img"}},
        }))
        .expect("parses");
        assert_eq!(
            c.cart,
            CartConfig {
                max_lines: 5,
                ..CartConfig::default()
            }
        );
        assert_eq!(c.media.s3.bucket, "img");
        assert_eq!(c.media.s3.region, "us-east-1");
        assert_eq!(c.media.store, "local");
        assert_eq!(
            c,
            PodConfig {
                cart: c.cart.clone(),
                media: c.media.clone(),
                ..PodConfig::default()
            }
        );
    }

    #[test]
    fn unknown_and_old_flat_keys_are_refused() {
        for bad in [
            json!({"cart": {"max_line": 5}}),
            json!({"media": {"s3": {"secret": "x"}}}),
            json!({"gateway": {"gateway_url": "http://x"}}),
            // The names from before the sections.
            json!({"cart_max_lines": 5}),
            json!({"gateway_api_key": "x"}),
            json!({"kafka_brokers": "k:9092"}),
        ] {
            assert!(
                serde_json::from_value::<PodConfig>(bad.clone()).is_err(),
                "{bad} was accepted"
            );
        }
    }

    #[test]
    fn debug_output_shows_no_secret() {
        let c = PodConfig {
            database_url: "postgres://mercato:pg-pass@db:5432/mercato".into(),
            redis_url: "redis://:redis-pass@cache:6379/".into(),
            tokens: mercato_tenants::TokenConfig {
                signing_key: "pods:pods-1:c2lnbmluZy1rZXktdmFsdWU=".into(),
                trusted_keys: String::new(),
            },
            gateway: GatewayConfig {
                api_key: "sk_live_secret".into(),
                webhook_secret: "whsec_live_secret".into(),
                ..GatewayConfig::default()
            },
            media: MediaConfig {
                s3: S3Config {
                    secret_access_key: "s3-secret-value".into(),
                    ..S3Config::default()
                },
                ..MediaConfig::default()
            },
            ..PodConfig::default()
        };
        let shown = format!("{c:?}");
        for secret in [
            "pg-pass",
            "redis-pass",
            "c2lnbmluZy1rZXktdmFsdWU",
            "sk_live_secret",
            "whsec_live_secret",
            "s3-secret-value",
        ] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
        assert!(shown.contains("postgres://mercato:<redacted>@db:5432/mercato"));
        assert!(shown.contains("max_lines: 100"), "{shown}");
        assert_eq!(
            redact_url_password("postgres://mercato@127.0.0.1:7411/mercato"),
            "postgres://mercato@127.0.0.1:7411/mercato"
        );
    }

    #[test]
    fn the_built_in_gateway_keys_are_recognised() {
        let mut c = GatewayConfig::default();
        assert!(c.uses_dev_keys());
        c.api_key = "sk_live_x".into();
        assert!(c.uses_dev_keys(), "the webhook secret is still the dev one");
        c.webhook_secret = "whsec_x".into();
        assert!(!c.uses_dev_keys());
    }

    #[test]
    fn kafka_brokers_is_off_when_empty() {
        let defaults = serde_json::to_value(PodConfig::default()).expect("serializes");
        assert_eq!(defaults["events"]["kafka_brokers"], "");
        let back: PodConfig = serde_json::from_value(defaults).expect("parses");
        assert_eq!(back.events.kafka_brokers, None);
        let on: EventsConfig =
            serde_json::from_value(json!({"kafka_brokers": "127.0.0.1:9092"})).expect("parses");
        assert_eq!(on.kafka_brokers.as_deref(), Some("127.0.0.1:9092"));
        let blank: EventsConfig =
            serde_json::from_value(json!({"kafka_brokers": "  "})).expect("parses");
        assert_eq!(blank.kafka_brokers, None);
    }
}
