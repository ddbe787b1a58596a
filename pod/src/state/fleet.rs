//! The fleet's in-process figures: requests per store (counted by the
//! fence), the size sweep's latest rows and bytes, and the purge metric.
//! Read by the load report, written by the fence and the fleet's workers.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};

use chrono::{DateTime, Utc};
use prometheus::{IntCounter, Registry};
use uuid::Uuid;

use super::requests::RequestCounter;

/// The fleet's in-process state: the request counter, the size sweep's
/// figures and the purge metric.
#[derive(Clone)]
pub struct Fleet {
    pub requests: RequestCounter,
    pub sizes: StoreSizes,
    /// `mercato_pod_purged_rows_total` (the registry adds the prefix).
    pub purged_rows: IntCounter,
}

impl Fleet {
    pub fn new(registry: &Registry) -> Result<Self, prometheus::Error> {
        let purged_rows = IntCounter::new(
            "pod_purged_rows_total",
            "Rows of moved-out stores deleted by the purge worker",
        )?;
        registry.register(Box::new(purged_rows.clone()))?;
        Ok(Self {
            requests: RequestCounter::new(),
            sizes: StoreSizes::default(),
            purged_rows,
        })
    }
}

/// One table's rows and bytes per store, and when they were counted.
#[derive(Debug, Clone)]
pub struct TableSizes {
    pub measured_at: DateTime<Utc>,
    pub stores: HashMap<Uuid, (i64, i64)>,
}

/// The size sweep's latest figures, per tenant table and store; shared by
/// the sweep (writer) and the load report (reader).
#[derive(Clone, Default)]
pub struct StoreSizes(Arc<RwLock<Sizes>>);

#[derive(Default)]
struct Sizes {
    /// The tenant tables, as the latest sweep found them.
    tables: Vec<String>,
    measured: BTreeMap<String, TableSizes>,
}

impl StoreSizes {
    /// Rows and bytes of `store` summed over the measured tables.
    pub fn of(&self, store: Uuid) -> (i64, i64) {
        let sizes = self.0.read().unwrap_or_else(|e| e.into_inner());
        sizes
            .measured
            .values()
            .filter_map(|t| t.stores.get(&store))
            .fold((0, 0), |(r, b), (rows, bytes)| (r + rows, b + bytes))
    }

    /// When the oldest figure was taken, once every tenant table has one.
    pub fn as_of(&self) -> Option<DateTime<Utc>> {
        let sizes = self.0.read().unwrap_or_else(|e| e.into_inner());
        sizes
            .tables
            .iter()
            .map(|t| sizes.measured.get(t).map(|s| s.measured_at))
            .collect::<Option<Vec<_>>>()?
            .into_iter()
            .min()
    }

    pub fn set(&self, table: &str, sizes: TableSizes) {
        let mut all = self.0.write().unwrap_or_else(|e| e.into_inner());
        all.measured.insert(table.to_owned(), sizes);
    }

    /// The tenant tables a sweep is about to measure: figures of tables no
    /// longer among them are forgotten.
    pub fn set_tables(&self, tables: &[String]) {
        let mut sizes = self.0.write().unwrap_or_else(|e| e.into_inner());
        sizes.measured.retain(|t, _| tables.contains(t));
        sizes.tables = tables.to_vec();
    }
}
