use serde::{Deserialize, Serialize};

/// Configuration of one pod process.
#[derive(Clone, Serialize, Deserialize)]
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
    /// Shared secret that signs platform tokens.
    pub jwt_secret: String,
    /// Largest request body accepted, in bytes.
    pub body_limit: usize,
    /// Connections in the Postgres pool.
    pub db_pool_size: u32,
    /// Where product images go: `local` (a directory) or `s3` (any
    /// S3-compatible object store).
    pub media_store: String,
    /// Directory of the `local` media store.
    pub media_dir: String,
    /// Public URL prefix of media objects. Empty: the pod serves them itself
    /// under `/media/` on the store's domain.
    pub media_url_base: String,
    pub s3_bucket: String,
    /// Endpoint of an S3-compatible service; empty for AWS.
    pub s3_endpoint: String,
    pub s3_region: String,
    pub s3_access_key_id: String,
    pub s3_secret_access_key: String,
    /// Largest image accepted, in bytes.
    pub media_max_bytes: usize,
    /// How long a guest cart lives in Redis after its last change.
    pub cart_guest_ttl_secs: u64,
    /// How long a customer's cart lives in Redis after its last change.
    pub cart_customer_ttl_secs: u64,
    /// Largest quantity of one line in a cart.
    pub cart_max_line_quantity: i64,
    /// Most lines in one cart.
    pub cart_max_lines: usize,
    /// Lifetime of a staff login token.
    pub staff_token_ttl_secs: i64,
    /// Lifetime of a customer login token.
    pub customer_token_ttl_secs: i64,
    /// Failed logins allowed per account per window before 429.
    pub login_failures_per_account: u32,
    /// Failed logins allowed per client address per window before 429.
    pub login_failures_per_address: u32,
    /// The rate-limit window for logins.
    pub login_window_secs: u64,
    /// How long product bodies stay in the Redis cache (edits invalidate
    /// them at once; this only bounds memory).
    pub product_cache_ttl_secs: u64,
    /// The payment gateway's API (the test gateway, `mercato gateway`, in
    /// development).
    pub gateway_url: String,
    /// Bearer key for the gateway's API.
    pub gateway_api_key: String,
    /// Secret the gateway signs its webhooks with.
    pub gateway_webhook_secret: String,
    /// How long one gateway call may take before its outcome is unknown.
    pub gateway_timeout_ms: u64,
    /// The Redis hot-SKU gate in front of reservations (off: every
    /// reservation goes to Postgres).
    pub inventory_gate: bool,
    /// How often gate counters are reconciled with Postgres.
    pub inventory_reconcile_interval_ms: u64,
    /// How often expired holds are released.
    pub hold_sweep_interval_ms: u64,
    /// How long a checkout's hold lasts unless its order pins it.
    pub hold_ttl_secs: u64,
    /// How the payment gateway reaches this pod (webhooks); empty: the
    /// address it listens on.
    pub public_url: String,
    /// A checkout nobody moved for this long is settled by the recovery
    /// worker.
    pub checkout_stuck_after_ms: u64,
    /// How often the recovery worker looks for stuck checkouts.
    pub checkout_recovery_interval_ms: u64,
    /// A gateway webhook about a checkout that a driver moved less than
    /// this long ago is answered `409 checkout_pending` (the gateway retries
    /// later) instead of racing that driver; 0 always drives at once.
    pub webhook_drive_after_ms: u64,
    /// Fault injection for tests: `crash_after_authorize` aborts the process
    /// right after a payment is authorized; `capture_unknown` acts as if the
    /// gateway never answered a capture. Empty in production.
    pub failpoint: String,
    /// Kafka bootstrap servers (`host:port,...`) the outbox relay publishes
    /// to. Empty (`None`): no relay runs and events wait in the outbox.
    #[serde(with = "empty_is_none")]
    pub kafka_brokers: Option<String>,
    /// Partitions of each event topic when the relay creates it.
    pub kafka_topic_partitions: i32,
    /// How long the producer tries to deliver an event before the relay
    /// gives up on the batch and backs off, in milliseconds.
    pub kafka_delivery_timeout_ms: u64,
    /// Outbox rows published per store per transaction.
    pub relay_batch_size: i64,
    /// How often the relay looks for unpublished rows when nothing woke it
    /// (rows committed by another pod process on the same database).
    pub relay_poll_ms: u64,
    /// Longest wait between attempts while Kafka fails (the wait doubles
    /// from 100 ms up to this).
    pub relay_backoff_max_ms: u64,
    /// How often the purge worker looks for moved-out stores due for
    /// purging, in milliseconds.
    pub purge_interval_ms: u64,
    /// Rows deleted per transaction when purging a moved-out store.
    pub purge_batch_rows: i64,
    /// How often a sweep of the stores' sizes (rows and bytes per store,
    /// for the load report) starts, at most, in milliseconds.
    pub size_sweep_interval_ms: u64,
    /// The share of its time (1 to 100 %) the size sweep may spend
    /// measuring: after each table it rests long enough to stay under it.
    pub size_sweep_busy_percent: u32,
}

/// An optional setting that is the empty string when unset, so that it has
/// a default in the layered config and `MERCATO_POD_KAFKA_BROKERS=` (empty)
/// turns it off.
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

/// The payment gateway credentials a pod has by default: fine for a local
/// test gateway, refused by `mercato serve pod` unless `--dev` is given.
pub const DEV_GATEWAY_API_KEY: &str = "sk_test_mercato_dev";
pub const DEV_GATEWAY_WEBHOOK_SECRET: &str = "whsec_mercato_dev";

impl PodConfig {
    /// Whether the gateway credentials are still the built-in development
    /// ones (anyone could forge webhooks signed with them).
    pub fn uses_dev_gateway_keys(&self) -> bool {
        self.gateway_api_key == DEV_GATEWAY_API_KEY
            || self.gateway_webhook_secret == DEV_GATEWAY_WEBHOOK_SECRET
    }
}

impl Default for PodConfig {
    fn default() -> Self {
        Self {
            name: "pod-1".into(),
            listen: "127.0.0.1:7401".into(),
            database_url: "postgres://mercato@127.0.0.1:7411/mercato".into(),
            redis_url: "redis://127.0.0.1:7421/".into(),
            jwt_secret: String::new(),
            body_limit: 1024 * 1024,
            db_pool_size: 16,
            media_store: "local".into(),
            media_dir: "media".into(),
            media_url_base: String::new(),
            s3_bucket: String::new(),
            s3_endpoint: String::new(),
            s3_region: "us-east-1".into(),
            s3_access_key_id: String::new(),
            s3_secret_access_key: String::new(),
            media_max_bytes: 8 * 1024 * 1024,
            cart_guest_ttl_secs: 7 * 24 * 3600,
            cart_customer_ttl_secs: 30 * 24 * 3600,
            cart_max_line_quantity: 99,
            cart_max_lines: 100,
            staff_token_ttl_secs: 12 * 3600,
            customer_token_ttl_secs: 30 * 24 * 3600,
            login_failures_per_account: 5,
            login_failures_per_address: 50,
            login_window_secs: 15 * 60,
            product_cache_ttl_secs: 3600,
            gateway_url: "http://127.0.0.1:7430".into(),
            gateway_api_key: DEV_GATEWAY_API_KEY.into(),
            gateway_webhook_secret: DEV_GATEWAY_WEBHOOK_SECRET.into(),
            gateway_timeout_ms: 10_000,
            inventory_gate: true,
            inventory_reconcile_interval_ms: 5000,
            hold_sweep_interval_ms: 1000,
            hold_ttl_secs: 900,
            public_url: String::new(),
            checkout_stuck_after_ms: 60_000,
            checkout_recovery_interval_ms: 2_000,
            webhook_drive_after_ms: 1_000,
            failpoint: String::new(),
            kafka_brokers: None,
            kafka_topic_partitions: 3,
            kafka_delivery_timeout_ms: 5_000,
            relay_batch_size: 200,
            relay_poll_ms: 500,
            relay_backoff_max_ms: 5_000,
            purge_interval_ms: 5_000,
            purge_batch_rows: 5_000,
            size_sweep_interval_ms: 60_000,
            size_sweep_busy_percent: 5,
        }
    }
}

impl std::fmt::Debug for PodConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PodConfig")
            .field("name", &self.name)
            .field("listen", &self.listen)
            .field("redis_url", &self.redis_url)
            .field("body_limit", &self.body_limit)
            .field("media_store", &self.media_store)
            .field("media_dir", &self.media_dir)
            .field("gateway_url", &self.gateway_url)
            .field("gateway_timeout_ms", &self.gateway_timeout_ms)
            .field("kafka_brokers", &self.kafka_brokers)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_gateway_keys_are_recognised() {
        let mut c = PodConfig::default();
        assert!(c.uses_dev_gateway_keys());
        c.gateway_api_key = "sk_live_x".into();
        assert!(
            c.uses_dev_gateway_keys(),
            "the webhook secret is still the dev one"
        );
        c.gateway_webhook_secret = "whsec_x".into();
        assert!(!c.uses_dev_gateway_keys());
    }

    #[test]
    fn kafka_brokers_is_off_when_empty() {
        let defaults = serde_json::to_value(PodConfig::default()).expect("serializes");
        assert_eq!(defaults["kafka_brokers"], "");
        let back: PodConfig = serde_json::from_value(defaults).expect("parses");
        assert_eq!(back.kafka_brokers, None);
        let on: PodConfig =
            serde_json::from_value(serde_json::json!({"kafka_brokers": "127.0.0.1:9092"}))
                .expect("parses");
        assert_eq!(on.kafka_brokers.as_deref(), Some("127.0.0.1:9092"));
        let blank: PodConfig =
            serde_json::from_value(serde_json::json!({"kafka_brokers": "  "})).expect("parses");
        assert_eq!(blank.kafka_brokers, None);
    }

    #[test]
    fn the_relay_runs_only_with_brokers_and_sane_settings() {
        assert!(crate::events::RelaySettings::from_config(&PodConfig::default()).is_none());
        let settings = crate::events::RelaySettings::from_config(&PodConfig {
            kafka_brokers: Some("k:9092".into()),
            relay_batch_size: 0,
            relay_backoff_max_ms: 0,
            kafka_topic_partitions: 0,
            ..PodConfig::default()
        })
        .expect("a relay");
        assert_eq!(settings.brokers, "k:9092");
        assert_eq!(settings.batch_size, 1);
        assert_eq!(settings.topic_partitions, 1);
        assert_eq!(settings.backoff_max, std::time::Duration::from_millis(100));
    }
}
