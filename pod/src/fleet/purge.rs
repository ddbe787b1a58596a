//! The purge of stores that moved away: after `purge_after`, a `moved_out`
//! store's rows are deleted from every tenant table in short batches (one
//! transaction each, children before the tables they reference), then its
//! Redis keys, then its `hosted_stores` row.
//!
//! Each batch first locks the store's `hosted_stores` row and checks it is
//! still `moved_out` and due: hosting the store again (a move back) changes
//! the state and clears `purge_after`, and waits for the batch in flight,
//! so no row of a store served here is ever deleted.

use std::collections::{BTreeSet, HashMap};

use anyhow::Context as _;
use mercato_tenants::StoreId;
use sqlx::PgPool;
use tokio::task::JoinHandle;

use super::redis_keys;
use super::sql::{self, batch_delete_sql, still_due, RowLock};
use crate::periodic::spawn_every;
use crate::state::AppState;

/// A foreign key between two tables of the schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForeignKey {
    /// The referencing table.
    pub child: String,
    /// The referenced table.
    pub parent: String,
    pub child_columns: Vec<String>,
    pub parent_columns: Vec<String>,
}

/// The order to empty `tables` in: a table comes after every other table
/// that references it, so deleting a batch never leaves a dangling
/// reference (nor cascades into a table not yet purged). Ties by name;
/// tables on a cycle come last, by name.
pub fn purge_order(tables: &[String], fks: &[ForeignKey]) -> Vec<String> {
    let known: BTreeSet<&str> = tables.iter().map(String::as_str).collect();
    // For each table, the other tables that reference it and are not yet
    // emptied.
    let mut referenced_by: HashMap<&str, BTreeSet<&str>> =
        known.iter().map(|t| (*t, BTreeSet::new())).collect();
    for fk in fks {
        if fk.child != fk.parent && known.contains(fk.child.as_str()) {
            if let Some(children) = referenced_by.get_mut(fk.parent.as_str()) {
                children.insert(fk.child.as_str());
            }
        }
    }
    let mut order: Vec<String> = Vec::with_capacity(known.len());
    let mut left: BTreeSet<&str> = known;
    loop {
        let ready = left
            .iter()
            .find(|t| referenced_by.get(**t).is_none_or(BTreeSet::is_empty))
            .copied();
        let Some(table) = ready else { break };
        left.remove(table);
        for children in referenced_by.values_mut() {
            children.remove(table);
        }
        order.push(table.to_owned());
    }
    order.extend(left.into_iter().map(str::to_owned));
    order
}

/// What a purge of one store came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Rows, Redis keys and the `hosted_stores` row are gone.
    Purged { rows: u64, keys: u64 },
    /// The store is no longer `moved_out` and due (moved back, or its
    /// release was withdrawn): the purge stopped.
    Kept { rows: u64 },
}

/// Each tenant table, in [`purge_order`], with its batch delete.
async fn plan(db: &PgPool) -> Result<Vec<(String, String)>, sqlx::Error> {
    let tables = sql::tenant_tables(db).await?;
    let fks = sql::foreign_keys(db).await?;
    Ok(purge_order(&tables, &fks)
        .into_iter()
        .map(|table| {
            let self_refs: Vec<&ForeignKey> = fks
                .iter()
                .filter(|fk| fk.child == table && fk.parent == table)
                .collect();
            let sql = batch_delete_sql(&table, &self_refs);
            (table, sql)
        })
        .collect())
}

/// Purges one store, batch by batch, unless it stops being due.
pub async fn purge_store(state: &AppState, store: StoreId) -> anyhow::Result<Outcome> {
    let batch = state.config.fleet.purge_batch_rows.max(1);
    let mut purged: u64 = 0;
    // A change capture the mover left behind would record every purged row.
    let mut tx = state.db.begin().await?;
    if !still_due(&mut tx, store, RowLock::Share).await? {
        return Ok(Outcome::Kept { rows: 0 });
    }
    sql::forget_capture(&mut tx, store).await?;
    tx.commit().await?;
    for (table, delete) in plan(&state.db).await.context("planning the purge")? {
        let mut from_table: u64 = 0;
        loop {
            let mut tx = state.db.begin().await?;
            if !still_due(&mut tx, store, RowLock::Share).await? {
                tracing::info!(store_id = %store, rows = purged, "purge stopped: the store is no longer moved out and due");
                return Ok(Outcome::Kept { rows: purged });
            }
            let n = sql::delete_batch(&mut tx, &delete, store, batch)
                .await
                .with_context(|| format!("deleting a batch from {table}"))?;
            tx.commit().await?;
            if n == 0 {
                break;
            }
            from_table += n;
            purged += n;
            state.fleet.purged_rows.inc_by(n);
        }
        let left = sql::rows_left(&state.db, &table, store).await?;
        anyhow::ensure!(
            left == 0,
            "{left} rows of {table} could not be purged (rows that reference each other in a cycle?)"
        );
        if from_table > 0 {
            tracing::info!(store_id = %store, table = %table, rows = from_table, "purged rows of a moved-out store");
        }
    }
    let keys = redis_keys::delete_store_keys(&state.redis, store)
        .await
        .context("deleting the store's redis keys")?;
    let mut tx = state.db.begin().await?;
    if !still_due(&mut tx, store, RowLock::Update).await? {
        tracing::info!(store_id = %store, rows = purged, "purge stopped before forgetting the store: no longer moved out and due");
        return Ok(Outcome::Kept { rows: purged });
    }
    sql::forget_hosted(&mut tx, store).await?;
    tx.commit().await?;
    tracing::info!(store_id = %store, rows = purged, redis_keys = keys, "moved-out store purged");
    Ok(Outcome::Purged { rows: purged, keys })
}

/// Purges every store that is due now; how many were purged.
pub async fn purge_once(state: &AppState) -> anyhow::Result<usize> {
    let due = sql::due_stores(&state.db).await?;
    let mut done = 0;
    for store in due {
        match purge_store(state, store).await {
            Ok(Outcome::Purged { .. }) => done += 1,
            Ok(Outcome::Kept { .. }) => {}
            Err(e) => {
                tracing::error!(store_id = %store, error = format!("{e:#}"), "purging a moved-out store failed; trying again later")
            }
        }
    }
    Ok(done)
}

/// Runs [`purge_once`] every `fleet.purge_interval_ms` until aborted.
pub fn spawn_purge_worker(state: AppState) -> JoinHandle<()> {
    spawn_every(
        "purge",
        state.config.fleet.purge_interval_ms,
        "looking for stores to purge failed",
        move || {
            let state = state.clone();
            async move { purge_once(&state).await }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fk(child: &str, parent: &str, cols: &[(&str, &str)]) -> ForeignKey {
        ForeignKey {
            child: child.into(),
            parent: parent.into(),
            child_columns: cols.iter().map(|(c, _)| (*c).into()).collect(),
            parent_columns: cols.iter().map(|(_, p)| (*p).into()).collect(),
        }
    }

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn children_are_emptied_before_the_tables_they_reference() {
        let tables = names(&[
            "categories",
            "locations",
            "product_categories",
            "products",
            "stock_levels",
            "variants",
        ]);
        let fks = vec![
            fk(
                "categories",
                "categories",
                &[("store_id", "store_id"), ("parent_id", "id")],
            ),
            fk("product_categories", "categories", &[("category_id", "id")]),
            fk("product_categories", "products", &[("product_id", "id")]),
            fk("variants", "products", &[("product_id", "id")]),
            fk("stock_levels", "variants", &[("variant_id", "id")]),
            fk("stock_levels", "locations", &[("location_id", "id")]),
        ];
        let order = purge_order(&tables, &fks);
        let at = |t: &str| order.iter().position(|x| x == t).expect("listed");
        assert_eq!(order.len(), tables.len());
        for f in &fks {
            if f.child != f.parent {
                assert!(
                    at(&f.child) < at(&f.parent),
                    "{} before {}",
                    f.child,
                    f.parent
                );
            }
        }
        assert_eq!(
            order,
            names(&[
                "product_categories",
                "categories",
                "stock_levels",
                "locations",
                "variants",
                "products"
            ])
        );
    }

    #[test]
    fn keys_to_tables_outside_the_list_do_not_matter() {
        let tables = names(&["b", "a"]);
        let fks = vec![
            fk("outside", "a", &[("x", "id")]),
            fk("b", "elsewhere", &[("y", "id")]),
        ];
        assert_eq!(purge_order(&tables, &fks), names(&["a", "b"]));
    }

    #[test]
    fn a_cycle_goes_last_by_name() {
        let tables = names(&["x", "b", "a", "c"]);
        let fks = vec![
            fk("a", "b", &[("b", "id")]),
            fk("b", "a", &[("a", "id")]),
            fk("c", "x", &[("x", "id")]),
        ];
        assert_eq!(purge_order(&tables, &fks), names(&["c", "x", "a", "b"]));
    }
}
