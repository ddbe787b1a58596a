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
            .finish_non_exhaustive()
    }
}
