//! Comparing a move's copy with its source: the bulk verification by hash
//! buckets (live, before the freeze) and the change capture, whose
//! recorded keys are all the freeze compares.

use std::collections::BTreeMap;
use std::time::Duration;

use mercato_tenants::{MoveId, StoreId};

use super::pg::{ident, literal, PodDb};

/// Buckets of the bulk verification: a table's rows are grouped by their
/// hash, so a difference narrows down to a bucket.
pub const BUCKETS: i64 = 64;

/// Tables that move but are not compared: markers are written by the move
/// itself, on the source only, while the comparison runs.
const NOT_VERIFIED: &[&str] = &["move_markers"];

/// One table's figures for one store, as compared between source and target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Figures {
    pub rows: i64,
    /// Sum of the row hashes, as text (a numeric, exact).
    pub checksum: String,
}

impl PodDb {
    /// Row count and checksum per hash bucket of the store's rows in
    /// `table`.
    pub async fn buckets(
        &self,
        table: &str,
        store: StoreId,
    ) -> sqlx::Result<BTreeMap<i64, Figures>> {
        let rows: Vec<(i64, i64, String)> = sqlx::query_as(&format!(
            "SELECT h & {mask}, count(*), sum(h::numeric)::text
               FROM (SELECT hashtextextended(t::text, 0) AS h FROM {} t WHERE store_id = $1) x
              GROUP BY 1",
            ident(table),
            mask = BUCKETS - 1
        ))
        .bind(store.as_uuid())
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(b, rows, checksum)| (b, Figures { rows, checksum }))
            .collect())
    }

    /// On the source: starts recording the keys of the rows the store
    /// changes (the `move_capture` trigger of every tenant table), from
    /// nothing. Returns once every transaction that could have written
    /// before the capture started has ended, so each write committed from
    /// then on is either recorded or was already there for the bulk
    /// verification to see.
    pub async fn start_capture(
        &self,
        store: StoreId,
        move_id: MoveId,
        deadline: tokio::time::Instant,
    ) -> anyhow::Result<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM move_capture.changes WHERE store_id = $1")
            .bind(store.as_uuid())
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO move_capture.stores (store_id, move_id) VALUES ($1, $2)
             ON CONFLICT (store_id) DO UPDATE SET move_id = $2, started_at = now()",
        )
        .bind(store.as_uuid())
        .bind(move_id.as_uuid())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        // Transactions with an id below `after` may have written before the
        // capture row was visible; the oldest running one tells.
        let (after,): (i64,) =
            sqlx::query_as("SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint")
                .fetch_one(&self.pool)
                .await?;
        loop {
            let (oldest,): (i64,) =
                sqlx::query_as("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint")
                    .fetch_one(&self.pool)
                    .await?;
            if oldest >= after {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                anyhow::bail!(
                    "transactions older than the change capture still run on the source (transaction {oldest})"
                );
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// On the source: whether the store's changes are being recorded for
    /// the move `move_id`.
    pub async fn capturing(&self, store: StoreId, move_id: MoveId) -> sqlx::Result<bool> {
        let found: Option<(i32,)> = sqlx::query_as(
            "SELECT 1 FROM move_capture.stores WHERE store_id = $1 AND move_id = $2",
        )
        .bind(store.as_uuid())
        .bind(move_id.as_uuid())
        .fetch_optional(&self.pool)
        .await?;
        Ok(found.is_some())
    }

    /// On the source: stops recording the store's changes and forgets them.
    pub async fn stop_capture(&self, store: StoreId) -> sqlx::Result<()> {
        sqlx::query("SELECT move_capture.forget($1)")
            .bind(store.as_uuid())
            .execute(&self.pool)
            .await
            .map(|_| ())
    }

    /// On the source: the primary keys (JSON objects) of the rows the
    /// store changed since its capture started, by table.
    pub async fn changed_keys(
        &self,
        store: StoreId,
    ) -> sqlx::Result<BTreeMap<String, serde_json::Value>> {
        let rows: Vec<(String, serde_json::Value)> = sqlx::query_as(
            "SELECT table_name, jsonb_agg(key) FROM move_capture.changes
              WHERE store_id = $1 GROUP BY table_name",
        )
        .bind(store.as_uuid())
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().collect())
    }

    /// The tables among `tables` whose `move_capture` trigger is enabled,
    /// with its arguments (the key columns it records).
    pub async fn capture_triggers(
        &self,
        tables: &[String],
    ) -> sqlx::Result<BTreeMap<String, Vec<String>>> {
        let rows: Vec<(String, Vec<u8>)> = sqlx::query_as(
            "SELECT c.relname::text, t.tgargs
               FROM pg_trigger t
               JOIN pg_class c ON c.oid = t.tgrelid
               JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public'
              WHERE t.tgname = 'move_capture' AND t.tgenabled IN ('O', 'A')
                AND c.relname = ANY($1)",
        )
        .bind(tables)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(table, args)| (table, trigger_args(&args)))
            .collect())
    }

    /// The count and checksum of the store's rows in `table` with the given
    /// primary keys (a JSON array of objects of the key columns).
    pub async fn rows_by_keys(
        &self,
        table: &str,
        key: &[String],
        store: StoreId,
        keys: &serde_json::Value,
    ) -> sqlx::Result<Figures> {
        let rows_by_key = keyed_rows(table, key);
        let (rows, checksum): (i64, Option<String>) = sqlx::query_as(&format!(
            "SELECT count(t.*), sum(hashtextextended(t::text, 0)::numeric)::text {rows_by_key}"
        ))
        .bind(store.as_uuid())
        .bind(keys)
        .fetch_one(&self.pool)
        .await?;
        Ok(Figures {
            rows,
            checksum: checksum.unwrap_or_else(|| "0".into()),
        })
    }

    /// The text form of the store's rows in `table` with the given keys,
    /// by key (the rows behind a failed [`PodDb::rows_by_keys`]).
    pub async fn row_texts(
        &self,
        table: &str,
        key: &[String],
        store: StoreId,
        keys: &serde_json::Value,
    ) -> sqlx::Result<BTreeMap<String, String>> {
        let rows_by_key = keyed_rows(table, key);
        let pk = key
            .iter()
            .map(|c| format!("{}, t.{}", literal(c), ident(c)))
            .collect::<Vec<_>>()
            .join(", ");
        let rows: Vec<(String, String)> = sqlx::query_as(&format!(
            "SELECT jsonb_build_object({pk})::text, t::text {rows_by_key}"
        ))
        .bind(store.as_uuid())
        .bind(keys)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().collect())
    }
}

/// The FROM clause of the store's (`$1`) rows `t` of `table` whose primary
/// key columns `key` are among the JSON key objects `$2` (`k`).
fn keyed_rows(table: &str, key: &[String]) -> String {
    let join = key
        .iter()
        .map(|c| format!("t.{c} = k.{c}", c = ident(c)))
        .collect::<Vec<_>>()
        .join(" AND ");
    let table = ident(table);
    format!(
        "FROM jsonb_populate_recordset(NULL::{table}, $2) k JOIN {table} t ON {join} \
         WHERE t.store_id = $1"
    )
}

/// A trigger's arguments as `pg_trigger.tgargs` stores them: each ends
/// with a NUL byte.
fn trigger_args(raw: &[u8]) -> Vec<String> {
    raw.split(|b| *b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect()
}

/// Tables compared by verification.
pub fn verified_tables(tables: &[String]) -> Vec<String> {
    tables
        .iter()
        .filter(|t| !NOT_VERIFIED.contains(&t.as_str()))
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trigger_arguments() {
        assert_eq!(
            trigger_args(b"store_id\0id\0"),
            vec!["store_id".to_string(), "id".to_string()]
        );
        assert!(trigger_args(b"").is_empty());
    }

    #[test]
    fn markers_are_not_compared() {
        let tables = vec!["orders".to_string(), "move_markers".to_string()];
        assert_eq!(verified_tables(&tables), vec!["orders".to_string()]);
    }
}
