//! The load report: per-store figures of the stores served here.
//!
//! Rows and bytes per store come from the size sweep ([`StoreSizes`]): a
//! background task that measures one tenant table at a time and pauses
//! between tables, so that measuring never costs more than a set share of
//! one core, however large the pod. A report reads what the sweep last
//! measured (`sizes_as_of` says when the oldest figure was taken) and costs
//! the same on an empty pod as on one with a billion rows. Counting every
//! row on every report took about 1.5 s of database time per million rows
//! (measured under the move benchmark's write load), every
//! `load_poll_interval_ms` (15 s): a tenth of a core on a pod of a million
//! rows, all of one on a pod of ten million.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use chrono::Utc;
pub use mercato_tenants::pod_api::{LoadReport, StoreLoad};
use mercato_tenants::StoreId;
use sqlx::PgPool;
use tokio::task::JoinHandle;
use uuid::Uuid;

use super::sql;
use crate::periodic::spawn_every;
use crate::state::AppState;
use crate::state::TableSizes;

/// How long to rest after a measurement that took `took` so that measuring
/// is busy at most `busy_percent` of the time (1 to 100).
pub fn pause_after(took: Duration, busy_percent: u32) -> Duration {
    let busy = busy_percent.clamp(1, 100);
    took * (100 - busy) / busy
}

/// Counts the rows and bytes of every store in `table`.
async fn measure(db: &PgPool, table: &str) -> Result<TableSizes, sqlx::Error> {
    let rows = sql::table_sizes(db, table).await?;
    Ok(TableSizes {
        measured_at: Utc::now(),
        stores: rows
            .into_iter()
            .map(|(store, rows, bytes)| (store, (rows, bytes)))
            .collect(),
    })
}

/// Measures every tenant table once, resting after each table as
/// `fleet.size_sweep_busy_percent` asks.
pub async fn sweep_once(state: &AppState) -> Result<(), sqlx::Error> {
    let tables = sql::tenant_tables(&state.db).await?;
    state.fleet.sizes.set_tables(&tables);
    for table in &tables {
        let started = Instant::now();
        let sizes = measure(&state.db, table).await?;
        state.fleet.sizes.set(table, sizes);
        tokio::time::sleep(pause_after(
            started.elapsed(),
            state.config.fleet.size_sweep_busy_percent,
        ))
        .await;
    }
    Ok(())
}

/// Runs [`sweep_once`] from startup on, a new sweep starting at most every
/// `fleet.size_sweep_interval_ms`, until aborted.
pub fn spawn_size_sweep(state: AppState) -> JoinHandle<()> {
    spawn_every(
        "size_sweep",
        state.config.fleet.size_sweep_interval_ms,
        "measuring the stores' sizes failed",
        move || {
            let state = state.clone();
            async move { sweep_once(&state).await }
        },
    )
}

/// The figures of every store in state `active` or `frozen` here, ordered
/// by store id.
pub async fn report(state: &AppState) -> Result<LoadReport, sqlx::Error> {
    let db = &state.db;
    let sizes = &state.fleet.sizes;
    let ids = sql::served_stores(db).await?;
    let mut loads: HashMap<Uuid, StoreLoad> = ids
        .iter()
        .map(|id| {
            let (rows, bytes) = sizes.of(*id);
            (
                *id,
                StoreLoad {
                    store_id: StoreId::from_uuid(*id),
                    rows,
                    bytes,
                    ..StoreLoad::default()
                },
            )
        })
        .collect();
    let sizes_as_of = sizes.as_of();
    if !ids.is_empty() {
        for (store, count) in sql::orders_last_hour(db, &ids).await? {
            if let Some(load) = loads.get_mut(&store) {
                load.orders_last_hour = count;
            }
        }
    }
    for (store, count) in state.fleet.requests.per_minute() {
        if let Some(load) = loads.get_mut(&store.as_uuid()) {
            load.requests_per_minute = i64::try_from(count).unwrap_or(i64::MAX);
        }
    }
    let mut stores: Vec<StoreLoad> = loads.into_values().collect();
    stores.sort_by_key(|s| s.store_id.as_uuid());
    Ok(LoadReport {
        pod: state.config.name.clone(),
        sizes_as_of,
        stores,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::StoreSizes;

    #[test]
    fn the_pause_keeps_the_sweep_within_its_share() {
        let took = Duration::from_millis(30);
        assert_eq!(pause_after(took, 5), Duration::from_millis(570));
        assert_eq!(pause_after(took, 50), took);
        assert_eq!(pause_after(took, 100), Duration::ZERO);
        // Out of range: at least 1 %, at most 100 %.
        assert_eq!(pause_after(took, 0), took * 99);
        assert_eq!(pause_after(took, 250), Duration::ZERO);
    }

    #[test]
    fn sizes_add_up_per_store_and_date_from_the_oldest_table() {
        let sizes = StoreSizes::default();
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        let early = Utc::now() - chrono::Duration::seconds(30);
        let late = Utc::now();
        sizes.set(
            "products",
            TableSizes {
                measured_at: late,
                stores: HashMap::from([(a, (3, 300)), (b, (1, 100))]),
            },
        );
        sizes.set(
            "variants",
            TableSizes {
                measured_at: early,
                stores: HashMap::from([(a, (6, 420))]),
            },
        );
        assert_eq!(sizes.of(a), (9, 720));
        assert_eq!(sizes.of(b), (1, 100));
        assert_eq!(sizes.of(Uuid::now_v7()), (0, 0));
        let tables = |t: &[&str]| t.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        sizes.set_tables(&tables(&["products", "variants"]));
        assert_eq!(sizes.as_of(), Some(early));
        // A table not measured yet: no date at all.
        sizes.set_tables(&tables(&["products", "variants", "carts"]));
        assert_eq!(sizes.as_of(), None);
        sizes.set_tables(&tables(&["products"]));
        assert_eq!(sizes.of(a), (3, 300));
    }
}
