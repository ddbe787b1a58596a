use serde::{Deserialize, Serialize};

/// Configuration of the control plane process.
#[derive(Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ControlPlaneConfig {
    /// Address to listen on; port 0 picks a free one.
    pub listen: String,
    /// The control plane's own Postgres.
    pub database_url: String,
    /// The control plane's signing key (operator and service tokens) and
    /// the public keys accepted on its API (its own, and older ones while
    /// a rotation overlaps).
    pub tokens: mercato_tenants::TokenConfig,
    /// Every store gets `<handle>.<platform_domain>`.
    pub platform_domain: String,
    /// Largest request body accepted, in bytes.
    pub body_limit: usize,
    /// How long a call to a pod's internal API may take, in milliseconds.
    pub pod_timeout_ms: u64,
    /// Scheme of the public URLs the control plane hands out (a new
    /// store's admin URL): `https` behind a TLS edge, `http` locally.
    pub public_scheme: String,
    /// Port of those URLs; 0 for the scheme's default.
    pub public_port: u16,
    /// Kafka bootstrap servers (`host:port,...`) the analytics consumer
    /// reads `order-events` from. Empty (`None`): no consumer runs.
    #[serde(with = "empty_is_none")]
    pub kafka_brokers: Option<String>,
    /// Timings of live store moves.
    pub moves: crate::moves::MoveSettings,
    /// How often each pod's load report is pulled, in milliseconds; 0
    /// turns the periodic pull off (`POST /v1/loads/collect` still works).
    pub load_poll_interval_ms: u64,
    /// Trace export (`[telemetry]`): read by the binary that sets up tracing.
    pub telemetry: mercato_tenants::TelemetryConfig,
}

/// An optional setting that is the empty string when unset, so that it has
/// a default in the layered config and an empty variable turns it off.
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

impl Default for ControlPlaneConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:7400".into(),
            database_url: "postgres://mercato@127.0.0.1:7410/mercato".into(),
            tokens: Default::default(),
            platform_domain: "localhost".into(),
            body_limit: 256 * 1024,
            pod_timeout_ms: 5_000,
            public_scheme: "http".into(),
            public_port: 0,
            kafka_brokers: None,
            moves: crate::moves::MoveSettings::default(),
            load_poll_interval_ms: 15_000,
            telemetry: Default::default(),
        }
    }
}

impl std::fmt::Debug for ControlPlaneConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControlPlaneConfig")
            .field("listen", &self.listen)
            .field("platform_domain", &self.platform_domain)
            .field("kafka_brokers", &self.kafka_brokers)
            .field("telemetry", &self.telemetry)
            .finish_non_exhaustive()
    }
}
