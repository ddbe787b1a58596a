use serde::{Deserialize, Serialize};

/// Configuration of a router process.
#[derive(Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RouterConfig {
    /// The public listener for every store domain.
    pub listen: String,
    /// Where the control plane's API is.
    pub control_plane_url: String,
    /// The public keys whose tokens the router accepts for a store (it
    /// checks a token's store before forwarding); it holds no signing key.
    pub tokens: mercato_tenants::TokenConfig,
    /// A service token the control plane signed for routers (audience
    /// `control-plane`): the router reads the routing feed with it.
    pub control_plane_token: String,
    /// The key routers and pods alone share: the router signs every
    /// request it forwards to a pod with it (`x-mercato-hop`).
    pub hop_secret: String,
    /// Requests for this host (signup, operator API) go to the control plane.
    pub platform_domain: String,
    /// Serving threads, each with its own event loop, its own listener on
    /// the shared port (`SO_REUSEPORT`) and its own keep-alive connections
    /// to the pods, as nginx's worker processes; a request is served start
    /// to end on one thread. `0`: one per CPU core.
    pub workers: usize,
    /// Largest request body accepted, in bytes.
    pub body_limit: usize,
    /// Connecting to a pod may take this long, in milliseconds.
    pub connect_timeout_ms: u64,
    /// A pod's answer may take this long, in milliseconds.
    pub upstream_timeout_ms: u64,
    /// How long a request for a store being cut over is held, in milliseconds.
    pub hold_timeout_ms: u64,
    /// Long-poll wait of the routing table sync, in seconds.
    pub sync_wait_secs: u64,
    /// Requests in flight to one pod at most; the rest wait in its queue.
    /// Each in-flight request holds one pooled keep-alive connection, so
    /// this also bounds the connections a burst opens to a pod.
    pub pod_max_in_flight: usize,
    /// Requests waiting for one pod at most; beyond it the router sheds
    /// with `503 overloaded` and `Retry-After`.
    pub pod_queue: usize,
    /// How long a request may wait in a pod's queue, in milliseconds.
    pub pod_queue_timeout_ms: u64,
    /// Attempts to reach a pod when connecting fails (the request never
    /// reached it, so any method is safe to send again).
    pub connect_attempts: u32,
    /// After 5 failures in a row to reach a pod (connect or timeout), the
    /// router answers `503` at once for this long, in milliseconds, then
    /// lets one request through as a probe.
    pub pod_circuit_open_ms: u64,
    /// Rate limits per client address and per store.
    pub limits: crate::limits::LimitsConfig,
    /// The checkout waiting room ([`crate::waiting_room`]).
    pub waiting_room: crate::waiting_room::WaitingRoomConfig,
    /// Trace export (`[telemetry]`): read by the binary that sets up tracing.
    pub telemetry: mercato_tenants::TelemetryConfig,
}

impl Default for RouterConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            control_plane_url: "http://127.0.0.1:7400".into(),
            tokens: Default::default(),
            control_plane_token: String::new(),
            hop_secret: String::new(),
            platform_domain: "localhost".into(),
            workers: 0,
            body_limit: 10 * 1024 * 1024,
            connect_timeout_ms: 1_000,
            upstream_timeout_ms: 30_000,
            hold_timeout_ms: 2_000,
            sync_wait_secs: 20,
            pod_max_in_flight: 256,
            pod_queue: 4096,
            pod_queue_timeout_ms: 10_000,
            connect_attempts: 3,
            pod_circuit_open_ms: 2_000,
            limits: crate::limits::LimitsConfig::default(),
            waiting_room: crate::waiting_room::WaitingRoomConfig::default(),
            telemetry: Default::default(),
        }
    }
}

impl std::fmt::Debug for RouterConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RouterConfig")
            .field("listen", &self.listen)
            .field("control_plane_url", &self.control_plane_url)
            .field("platform_domain", &self.platform_domain)
            .field("telemetry", &self.telemetry)
            .finish_non_exhaustive()
    }
}
