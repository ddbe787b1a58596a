//! The load report: per-store figures of the stores served here.

use std::collections::HashMap;

use mercato_tenants::{StoreId, TenantState};
use serde::Serialize;
use sqlx::PgPool;
use uuid::Uuid;

use super::{quote_ident, tenant_tables, RequestCounter};

/// What this pod reports to the control plane.
#[derive(Debug, Serialize)]
pub struct LoadReport {
    pub pod: String,
    pub stores: Vec<StoreLoad>,
}

/// One store's figures.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct StoreLoad {
    pub store_id: StoreId,
    /// Rows over every tenant table.
    pub rows: i64,
    /// Their size on disk (`pg_column_size` of each row).
    pub bytes: i64,
    pub orders_last_hour: i64,
    /// Requests the fence admitted in the last minute.
    pub requests_per_minute: i64,
}

/// The figures of every store in state `active` or `frozen` here, ordered
/// by store id.
pub async fn report(
    db: &PgPool,
    pod: &str,
    requests: &RequestCounter,
) -> Result<LoadReport, sqlx::Error> {
    let served: Vec<(Uuid,)> = sqlx::query_as(
        "SELECT store_id FROM hosted_stores WHERE state = ANY($1) ORDER BY store_id",
    )
    .bind(vec![
        TenantState::Active.as_str(),
        TenantState::Frozen.as_str(),
    ])
    .fetch_all(db)
    .await?;
    let ids: Vec<Uuid> = served.into_iter().map(|(id,)| id).collect();
    let mut loads: HashMap<Uuid, StoreLoad> = ids
        .iter()
        .map(|id| {
            (
                *id,
                StoreLoad {
                    store_id: StoreId::from_uuid(*id),
                    ..StoreLoad::default()
                },
            )
        })
        .collect();
    if !ids.is_empty() {
        for table in tenant_tables(db).await? {
            let sql = format!(
                "SELECT t.store_id, count(*)::bigint, coalesce(sum(pg_column_size(t.*)), 0)::bigint \
                 FROM {} t WHERE t.store_id = ANY($1) GROUP BY t.store_id",
                quote_ident(&table)
            );
            let rows: Vec<(Uuid, i64, i64)> = sqlx::query_as(&sql).bind(&ids).fetch_all(db).await?;
            for (store, count, bytes) in rows {
                if let Some(load) = loads.get_mut(&store) {
                    load.rows += count;
                    load.bytes += bytes;
                }
            }
        }
        let orders: Vec<(Uuid, i64)> = sqlx::query_as(
            "SELECT store_id, count(*)::bigint FROM orders \
             WHERE store_id = ANY($1) AND created_at > now() - interval '1 hour' \
             GROUP BY store_id",
        )
        .bind(&ids)
        .fetch_all(db)
        .await?;
        for (store, count) in orders {
            if let Some(load) = loads.get_mut(&store) {
                load.orders_last_hour = count;
            }
        }
    }
    for (store, count) in requests.per_minute() {
        if let Some(load) = loads.get_mut(&store.as_uuid()) {
            load.requests_per_minute = i64::try_from(count).unwrap_or(i64::MAX);
        }
    }
    let mut stores: Vec<StoreLoad> = loads.into_values().collect();
    stores.sort_by_key(|s| s.store_id.as_uuid());
    Ok(LoadReport {
        pod: pod.to_owned(),
        stores,
    })
}
