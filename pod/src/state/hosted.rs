//! Which stores this pod hosts: an in-memory copy of `hosted_stores`, read
//! by the fence on every request.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// One row of `hosted_stores` (the pod's internal API shows it as is).
pub use mercato_tenants::pod_api::HostedStore;
use mercato_tenants::{Currency, StoreId, TenantState};
use sqlx::PgPool;

pub type Row = (uuid::Uuid, String, String, String, String);

pub fn from_row((id, handle, name, currency, state): Row) -> Result<HostedStore, sqlx::Error> {
    Ok(HostedStore {
        store_id: StoreId::from_uuid(id),
        handle,
        name,
        currency: Currency::parse(&currency).map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
        state: state
            .parse()
            .map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
    })
}

/// Every row of `hosted_stores`, by store id. The one statement on the
/// table outside `tenancy/sql.rs`: the copy reloads itself with it, and
/// `state` (foundation) imports no context.
pub async fn list(db: &PgPool) -> Result<Vec<HostedStore>, sqlx::Error> {
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT store_id, handle, name, currency, state FROM hosted_stores ORDER BY store_id",
    )
    .fetch_all(db)
    .await?;
    rows.into_iter().map(from_row).collect()
}

/// An in-memory copy of `hosted_stores`, updated by this process's own
/// writes and refreshed from Postgres every second (for sibling processes).
#[derive(Clone, Default)]
pub struct HostedStores {
    inner: Arc<RwLock<HashMap<StoreId, HostedStore>>>,
}

impl HostedStores {
    pub async fn load(db: &PgPool) -> Result<Self, sqlx::Error> {
        let hosted = Self::default();
        hosted.reload(db).await?;
        Ok(hosted)
    }

    async fn reload(&self, db: &PgPool) -> Result<(), sqlx::Error> {
        let all = list(db).await?;
        let map = all.into_iter().map(|s| (s.store_id, s)).collect();
        *self.inner.write().unwrap_or_else(|e| e.into_inner()) = map;
        Ok(())
    }

    pub fn get(&self, store: StoreId) -> Option<HostedStore> {
        self.inner
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&store)
            .cloned()
    }

    /// The stores in state `active` here (for background workers).
    pub fn active(&self) -> Vec<StoreId> {
        self.inner
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .filter(|h| h.state == TenantState::Active)
            .map(|h| h.store_id)
            .collect()
    }

    pub fn put(&self, hosted: HostedStore) {
        self.inner
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(hosted.store_id, hosted);
    }
}

/// Keeps the cache in step with Postgres.
pub async fn refresh_hosted(hosted: HostedStores, db: PgPool) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tick.tick().await;
        if let Err(e) = hosted.reload(&db).await {
            tracing::warn!(error = %e, "refreshing hosted stores failed");
        }
    }
}
