//! The fleet's load, read from the registry (`pods`, `stores`) and the
//! latest figures the pods reported (`store_loads`), in the shapes placement
//! and the rebalance planner take.

use mercato_tenants::{PodId, PodState, StoreId};
use uuid::Uuid;

use crate::placement::{Capacity, PodLoad};
use crate::rebalance::StoreLoad;

/// A count or figure from Postgres (non-negative by CHECK) as `u64`.
fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

/// Every pod with its capacity (`capacity`, `capacity_bytes`,
/// `capacity_orders_per_hour`) and usage: stores = the count of `stores`
/// rows on the pod (in any state: a store being provisioned holds its slot),
/// bytes and orders per hour = the sums of the `store_loads` rows the pod
/// reported (`orders_last_hour`). By pod id.
pub async fn pod_loads<'e>(exec: impl sqlx::PgExecutor<'e>) -> Result<Vec<PodLoad>, sqlx::Error> {
    let rows: Vec<PodLoadRow> = sqlx::query_as(
        "SELECT p.id, p.state, p.capacity, p.capacity_bytes, p.capacity_orders_per_hour,
                (SELECT count(*) FROM stores s WHERE s.pod_id = p.id) AS stores,
                COALESCE(l.bytes, 0)::bigint AS bytes,
                COALESCE(l.orders, 0)::bigint AS orders
         FROM pods p
         LEFT JOIN (SELECT pod_id, sum(bytes) AS bytes, sum(orders_last_hour) AS orders
                    FROM store_loads GROUP BY pod_id) l ON l.pod_id = p.id
         ORDER BY p.id",
    )
    .fetch_all(exec)
    .await?;
    rows.into_iter()
        .map(|row| {
            let state: PodState = row
                .state
                .parse()
                .map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
            Ok(PodLoad {
                pod: PodId::from_uuid(row.id),
                state,
                capacity: Capacity {
                    stores: count(i64::from(row.capacity)),
                    bytes: count(row.capacity_bytes),
                    orders_per_hour: count(row.capacity_orders_per_hour),
                },
                used: Capacity {
                    stores: count(row.stores),
                    bytes: count(row.bytes),
                    orders_per_hour: count(row.orders),
                },
            })
        })
        .collect()
}

#[derive(sqlx::FromRow)]
struct PodLoadRow {
    id: Uuid,
    state: String,
    capacity: i32,
    capacity_bytes: i64,
    capacity_orders_per_hour: i64,
    stores: i64,
    bytes: i64,
    orders: i64,
}

/// One [`StoreLoad`] per store (any state), on the pod the registry places
/// it (`stores.pod_id`), with its latest reported figures; a store without a
/// report yet counts as empty. By store id.
pub async fn store_loads<'e>(
    exec: impl sqlx::PgExecutor<'e>,
) -> Result<Vec<StoreLoad>, sqlx::Error> {
    let rows: Vec<(Uuid, Uuid, i64, i64, i64)> = sqlx::query_as(
        "SELECT s.id, s.pod_id,
                COALESCE(l.rows, 0), COALESCE(l.bytes, 0), COALESCE(l.orders_last_hour, 0)
         FROM stores s
         LEFT JOIN store_loads l ON l.store_id = s.id
         ORDER BY s.id",
    )
    .fetch_all(exec)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(store, pod, rows, bytes, orders)| StoreLoad {
            store: StoreId::from_uuid(store),
            pod: PodId::from_uuid(pod),
            rows: count(rows),
            bytes: count(bytes),
            orders_per_hour: count(orders),
        })
        .collect())
}
