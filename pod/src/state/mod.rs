//! What every handler and worker shares, cheap to clone: the pool, the
//! Redis handle, the clients, the configuration and the in-process figures.
//! Imports no context: the contexts import it.

mod fleet;
mod hashing;
pub mod hosted;
mod metrics;
mod requests;

use std::sync::Arc;

use mercato_tenants::TokenKeys;
use sqlx::PgPool;

pub use self::fleet::{Fleet, StoreSizes, TableSizes};
pub use self::hashing::HashPool;
pub use self::hosted::{refresh_hosted, HostedStore, HostedStores};
pub use self::metrics::GateMetrics;

use crate::cache::Cache;
use crate::config::PodConfig;
use crate::media::MediaStore;
use crate::payments::Gateway;
use crate::redis_handle::Redis;

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
    pub gate_metrics: GateMetrics,
    /// How the payment gateway reaches this pod, without a trailing slash.
    pub public_url: Arc<str>,
    pub fleet: Fleet,
    /// The bounded pool password hashes run on.
    pub hashing: HashPool,
}
