//! What a move does inside the pods' Postgres databases: the pre-flight
//! checks, the publication, slot and subscription of logical replication,
//! the marker row, the verification queries and the clean-up.
//!
//! Every operation is idempotent (it checks the catalog before creating or
//! dropping), so a step repeated after a control-plane restart is harmless.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Context as _;
use mercato_tenants::{StoreId, TENANT_TABLES_SQL};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions as _, Executor as _, PgPool};
use uuid::Uuid;

/// Buckets of the bulk verification: a table's rows are grouped by their
/// hash, so a difference narrows down to a bucket.
pub const BUCKETS: i64 = 64;

/// Tables that move but are not compared: markers are written by the move
/// itself, on the source only, while the comparison runs.
const NOT_VERIFIED: &[&str] = &["move_markers"];

/// A connection pool to one pod's database, with session settings that make
/// a row's text form identical on both sides of a move.
#[derive(Clone)]
pub struct PodDb {
    pub pool: PgPool,
    pub url: String,
}

/// Quotes an identifier taken from the catalog.
fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Quotes a string literal (for DDL, which takes no parameters).
fn literal(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

/// One table's figures for one store, as compared between source and target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Figures {
    pub rows: i64,
    /// Sum of the row hashes, as text (a numeric, exact).
    pub checksum: String,
}

/// Replication objects a move makes, by catalog.
#[derive(Clone, Copy)]
enum Catalog {
    Publication,
    Slot,
    Subscription,
}

impl Catalog {
    fn lookup(self) -> &'static str {
        match self {
            Self::Publication => "SELECT 1 FROM pg_publication WHERE pubname = $1",
            Self::Slot => "SELECT 1 FROM pg_replication_slots WHERE slot_name = $1",
            Self::Subscription => "SELECT 1 FROM pg_subscription WHERE subname = $1",
        }
    }
}

impl PodDb {
    /// Whether the replication object `name` exists here.
    async fn exists(&self, catalog: Catalog, name: &str) -> sqlx::Result<bool> {
        let found: Option<(i32,)> = sqlx::query_as(catalog.lookup())
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        Ok(found.is_some())
    }

    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        let options: PgConnectOptions = url
            .parse()
            .with_context(|| "the pod's database_url is not a Postgres URL".to_string())?;
        let options = options
            .options([
                ("TimeZone", "UTC"),
                ("DateStyle", "ISO"),
                ("extra_float_digits", "3"),
                ("IntervalStyle", "postgres"),
            ])
            .log_statements(tracing::log::LevelFilter::Debug);
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(options)
            .await
            .context("connecting to the pod's database")?;
        Ok(Self {
            pool,
            url: url.to_owned(),
        })
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// The tenant tables of this pod's schema.
    pub async fn tenant_tables(&self) -> sqlx::Result<Vec<String>> {
        let rows: Vec<(String,)> = sqlx::query_as(TENANT_TABLES_SQL)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.into_iter().map(|(t,)| t).collect())
    }

    /// The primary key columns of each table, in key order. A table without
    /// one is absent from the map.
    pub async fn primary_keys(
        &self,
        tables: &[String],
    ) -> sqlx::Result<BTreeMap<String, Vec<String>>> {
        let rows: Vec<(String, Vec<String>)> = sqlx::query_as(
            "SELECT c.relname::text,
                    array_agg(a.attname::text ORDER BY k.ord)
               FROM pg_index i
               JOIN pg_class c ON c.oid = i.indrelid
               JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public'
               CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
               JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum
              WHERE i.indisprimary AND c.relname = ANY($1)
              GROUP BY c.relname",
        )
        .bind(tables)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().collect())
    }

    pub async fn wal_level(&self) -> sqlx::Result<String> {
        let (level,): (String,) = sqlx::query_as("SHOW wal_level")
            .fetch_one(&self.pool)
            .await?;
        Ok(level)
    }

    /// The publication of one store's rows of `tables` (row filter on
    /// `store_id`, Postgres 15+); tables it lacks are added.
    pub async fn ensure_publication(
        &self,
        name: &str,
        tables: &[String],
        store: StoreId,
    ) -> sqlx::Result<()> {
        let filter = format!("WHERE (store_id = {}::uuid)", literal(&store.to_string()));
        let exists = self.exists(Catalog::Publication, name).await?;
        let published = self.published_tables(name).await?;
        let list: Vec<String> = tables
            .iter()
            .filter(|t| !published.contains(*t))
            .map(|t| format!("{} {filter}", ident(t)))
            .collect();
        if list.is_empty() {
            return Ok(());
        }
        let ddl = if exists {
            format!(
                "ALTER PUBLICATION {} ADD TABLE {}",
                ident(name),
                list.join(", ")
            )
        } else {
            format!(
                "CREATE PUBLICATION {} FOR TABLE {}",
                ident(name),
                list.join(", ")
            )
        };
        self.pool.execute(ddl.as_str()).await.map(|_| ())
    }

    /// The tables of the publication `name` (none when it does not exist).
    pub async fn published_tables(&self, name: &str) -> sqlx::Result<Vec<String>> {
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT tablename::text FROM pg_publication_tables
              WHERE pubname = $1 AND schemaname = 'public'",
        )
        .bind(name)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(|(t,)| t).collect())
    }

    /// What the copy of each of `tables` costs, as far as the catalog
    /// tells: whether it has a GIN index, and its estimated rows (all
    /// stores').
    pub async fn copy_costs(&self, tables: &[String]) -> sqlx::Result<Vec<super::model::CopyCost>> {
        let rows: Vec<(String, bool, f64)> = sqlx::query_as(
            "SELECT c.relname::text,
                    EXISTS (SELECT 1 FROM pg_index i
                              JOIN pg_class ic ON ic.oid = i.indexrelid
                              JOIN pg_am am ON am.oid = ic.relam AND am.amname = 'gin'
                             WHERE i.indrelid = c.oid),
                    -- Never analyzed: guess from its size (80 rows a page).
                    CASE WHEN c.reltuples >= 0 THEN c.reltuples::float8
                         ELSE c.relpages::float8 * 80 END
               FROM pg_class c
               JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public'
              WHERE c.relname = ANY($1)",
        )
        .bind(tables)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(table, gin, rows)| super::model::CopyCost { table, gin, rows })
            .collect())
    }

    /// How many tables a subscription copies at once (this pod is the
    /// subscriber).
    pub async fn sync_workers(&self) -> sqlx::Result<usize> {
        let (workers,): (String,) = sqlx::query_as("SHOW max_sync_workers_per_subscription")
            .fetch_one(&self.pool)
            .await?;
        Ok(workers.parse().unwrap_or(2))
    }

    /// The logical replication slot the subscription streams from. Made
    /// here rather than by `CREATE SUBSCRIPTION`, which would wait forever
    /// when both databases live in one cluster.
    pub async fn ensure_slot(&self, name: &str) -> sqlx::Result<()> {
        if !self.exists(Catalog::Slot, name).await? {
            sqlx::query("SELECT pg_create_logical_replication_slot($1, 'pgoutput')")
                .bind(name)
                .execute(&self.pool)
                .await?;
        }
        Ok(())
    }

    /// WAL the subscriber has not yet confirmed, in bytes.
    pub async fn lag_bytes(&self, slot: &str) -> sqlx::Result<Option<i64>> {
        let lag: Option<(Option<i64>,)> = sqlx::query_as(
            "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::bigint
               FROM pg_replication_slots WHERE slot_name = $1",
        )
        .bind(slot)
        .fetch_optional(&self.pool)
        .await?;
        Ok(lag.and_then(|(l,)| l))
    }

    pub async fn drop_publication(&self, name: &str) -> sqlx::Result<()> {
        let ddl = format!("DROP PUBLICATION IF EXISTS {}", ident(name));
        self.pool.execute(ddl.as_str()).await.map(|_| ())
    }

    /// Drops the slot, first ending a walsender still attached to it.
    pub async fn drop_slot(&self, name: &str) -> sqlx::Result<()> {
        for _ in 0..50 {
            let slot: Option<(Option<i32>,)> =
                sqlx::query_as("SELECT active_pid FROM pg_replication_slots WHERE slot_name = $1")
                    .bind(name)
                    .fetch_optional(&self.pool)
                    .await?;
            match slot {
                None => return Ok(()),
                Some((Some(pid),)) => {
                    sqlx::query("SELECT pg_terminate_backend($1)")
                        .bind(pid)
                        .execute(&self.pool)
                        .await?;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Some((None,)) => {
                    match sqlx::query("SELECT pg_drop_replication_slot($1)")
                        .bind(name)
                        .execute(&self.pool)
                        .await
                    {
                        Ok(_) => return Ok(()),
                        // Taken again between the check and the drop.
                        Err(e) if is_in_use(&e) => {
                            tokio::time::sleep(Duration::from_millis(100)).await
                        }
                        Err(e) => return Err(e),
                    }
                }
            }
        }
        Err(sqlx::Error::Protocol(format!(
            "replication slot {name} stayed in use"
        )))
    }

    /// Writes the marker of a move (on the source, after the fence).
    pub async fn write_marker(&self, store: StoreId, marker: Uuid) -> sqlx::Result<()> {
        // Flushed at commit even where commits are asynchronous: the
        // walsender only sends flushed WAL, and the marker flushes every
        // write before it along with itself.
        let mut tx = self.pool.begin().await?;
        sqlx::query("SET LOCAL synchronous_commit = on")
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO move_markers (store_id, move_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        )
        .bind(store.as_uuid())
        .bind(marker)
        .execute(&mut *tx)
        .await?;
        tx.commit().await
    }

    /// Whether the marker has arrived (on the target).
    pub async fn has_marker(&self, store: StoreId, marker: Uuid) -> sqlx::Result<bool> {
        let found: Option<(i32,)> =
            sqlx::query_as("SELECT 1 FROM move_markers WHERE store_id = $1 AND move_id = $2")
                .bind(store.as_uuid())
                .bind(marker)
                .fetch_optional(&self.pool)
                .await?;
        Ok(found.is_some())
    }

    /// The subscription that copies and then streams the store's rows from
    /// the source's publication and slot.
    pub async fn ensure_subscription(
        &self,
        name: &str,
        source_url: &str,
        publication: &str,
    ) -> sqlx::Result<()> {
        if self.exists(Catalog::Subscription, name).await? {
            return Ok(());
        }
        let ddl = format!(
            "CREATE SUBSCRIPTION {} CONNECTION {} PUBLICATION {} \
             WITH (create_slot = false, slot_name = {}, copy_data = true, enabled = true)",
            ident(name),
            literal(source_url),
            ident(publication),
            literal(name),
        );
        self.pool.execute(ddl.as_str()).await.map(|_| ())
    }

    /// Merges the pending lists of the GIN indexes of `tables` into the
    /// indexes (a copy fills them with the default limit of its session).
    pub async fn merge_gin_pending(&self, tables: &[String]) -> sqlx::Result<()> {
        sqlx::query(
            "SELECT gin_clean_pending_list(i.indexrelid)
               FROM pg_index i
               JOIN pg_class ic ON ic.oid = i.indexrelid
               JOIN pg_am am ON am.oid = ic.relam AND am.amname = 'gin'
               JOIN pg_class c ON c.oid = i.indrelid
               JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public'
              WHERE c.relname = ANY($1)",
        )
        .bind(tables)
        .fetch_all(&self.pool)
        .await
        .map(|_| ())
    }

    /// Makes the subscription take up the tables added to its publication
    /// (their initial copies start).
    pub async fn refresh_subscription(&self, name: &str) -> sqlx::Result<()> {
        let ddl = format!("ALTER SUBSCRIPTION {} REFRESH PUBLICATION", ident(name));
        self.pool.execute(ddl.as_str()).await.map(|_| ())
    }

    /// Tables of the subscription whose initial copy is not done yet.
    pub async fn not_ready_tables(&self, name: &str) -> sqlx::Result<Vec<String>> {
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT c.relname::text
               FROM pg_subscription s
               JOIN pg_subscription_rel r ON r.srsubid = s.oid
               JOIN pg_class c ON c.oid = r.srrelid
              WHERE s.subname = $1 AND r.srsubstate <> 'r'",
        )
        .bind(name)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(|(t,)| t).collect())
    }

    /// Tables of the subscription whose initial copy is done (`ready`), and
    /// all of its tables.
    pub async fn subscription_progress(&self, name: &str) -> sqlx::Result<(i64, i64)> {
        let (ready, total): (i64, i64) = sqlx::query_as(
            "SELECT count(*) FILTER (WHERE r.srsubstate = 'r'), count(*)
               FROM pg_subscription s JOIN pg_subscription_rel r ON r.srsubid = s.oid
              WHERE s.subname = $1",
        )
        .bind(name)
        .fetch_one(&self.pool)
        .await?;
        Ok((ready, total))
    }

    /// Drops the subscription without touching the source's slot (the
    /// mover drops that itself, also when the source is unreachable).
    pub async fn drop_subscription(&self, name: &str) -> sqlx::Result<()> {
        if !self.exists(Catalog::Subscription, name).await? {
            return Ok(());
        }
        let name = ident(name);
        self.pool
            .execute(format!("ALTER SUBSCRIPTION {name} DISABLE").as_str())
            .await?;
        self.pool
            .execute(format!("ALTER SUBSCRIPTION {name} SET (slot_name = NONE)").as_str())
            .await?;
        self.pool
            .execute(format!("DROP SUBSCRIPTION IF EXISTS {name}").as_str())
            .await
            .map(|_| ())
    }

    /// Rows and bytes of the store in `tables`.
    pub async fn size(&self, tables: &[String], store: StoreId) -> sqlx::Result<(i64, i64)> {
        let mut rows = 0;
        let mut bytes = 0;
        for table in tables {
            let (r, b): (i64, Option<i64>) = sqlx::query_as(&format!(
                "SELECT count(*), sum(pg_column_size(t.*))::bigint FROM {} t WHERE store_id = $1",
                ident(table)
            ))
            .bind(store.as_uuid())
            .fetch_one(&self.pool)
            .await?;
            rows += r;
            bytes += b.unwrap_or(0);
        }
        Ok((rows, bytes))
    }

    /// Deletes the store's rows from `tables`, in batches (a rolled-back
    /// move's partial copy on the target, or leftovers of an earlier stay).
    pub async fn delete_store_rows(
        &self,
        tables: &[String],
        store: StoreId,
        batch: i64,
    ) -> sqlx::Result<u64> {
        let mut deleted = 0;
        for table in tables {
            let t = ident(table);
            loop {
                // Foreign keys between tenant tables would make the order
                // of tables matter; replica mode skips their triggers, as
                // the subscription's own apply does.
                let mut tx = self.pool.begin().await?;
                sqlx::query("SET LOCAL session_replication_role = replica")
                    .execute(&mut *tx)
                    .await?;
                let done = sqlx::query(&format!(
                    "DELETE FROM {t} WHERE ctid = ANY(ARRAY(SELECT ctid FROM {t} WHERE store_id = $1 LIMIT $2))"
                ))
                .bind(store.as_uuid())
                .bind(batch)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                tx.commit().await?;
                deleted += done;
                if done == 0 {
                    break;
                }
            }
        }
        Ok(deleted)
    }

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
        move_id: Uuid,
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
        .bind(move_id)
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
    pub async fn capturing(&self, store: StoreId, move_id: Uuid) -> sqlx::Result<bool> {
        let found: Option<(i32,)> = sqlx::query_as(
            "SELECT 1 FROM move_capture.stores WHERE store_id = $1 AND move_id = $2",
        )
        .bind(store.as_uuid())
        .bind(move_id)
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
        let join = key_join(key);
        let table = ident(table);
        let (rows, checksum): (i64, Option<String>) = sqlx::query_as(&format!(
            "SELECT count(t.*), sum(hashtextextended(t::text, 0)::numeric)::text
               FROM jsonb_populate_recordset(NULL::{table}, $2) k
               JOIN {table} t ON {join}
              WHERE t.store_id = $1"
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
}

impl PodDb {
    /// The text form of the store's rows in `table` with the given keys,
    /// by key (the rows behind a failed [`PodDb::rows_by_keys`]).
    pub async fn row_texts(
        &self,
        table: &str,
        key: &[String],
        store: StoreId,
        keys: &serde_json::Value,
    ) -> sqlx::Result<BTreeMap<String, String>> {
        let join = key_join(key);
        let pk = key
            .iter()
            .map(|c| format!("{}, t.{}", literal(c), ident(c)))
            .collect::<Vec<_>>()
            .join(", ");
        let table = ident(table);
        let rows: Vec<(String, String)> = sqlx::query_as(&format!(
            "SELECT jsonb_build_object({pk})::text, t::text
               FROM jsonb_populate_recordset(NULL::{table}, $2) k
               JOIN {table} t ON {join}
              WHERE t.store_id = $1"
        ))
        .bind(store.as_uuid())
        .bind(keys)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().collect())
    }
}

/// Joins a table `t` to a key set `k` on the primary key columns `key`.
fn key_join(key: &[String]) -> String {
    key.iter()
        .map(|c| format!("t.{c} = k.{c}", c = ident(c)))
        .collect::<Vec<_>>()
        .join(" AND ")
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

fn is_in_use(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.code().as_deref() == Some("55006"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(ident("orders"), "\"orders\"");
        assert_eq!(ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(literal("it's"), "'it''s'");
    }

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
