//! What a move does inside the pods' Postgres databases: the pre-flight
//! checks, the publication, slot and subscription of logical replication,
//! the marker row and the clean-up (the comparisons of source and target
//! are in [`super::compare`]).
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

/// A connection pool to one pod's database, with session settings that make
/// a row's text form identical on both sides of a move.
#[derive(Clone)]
pub struct PodDb {
    pub pool: PgPool,
    pub url: String,
}

/// Quotes an identifier taken from the catalog.
pub(super) use mercato_tenants::quote_ident as ident;

/// Quotes a string literal (for DDL, which takes no parameters).
pub(super) fn literal(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

/// Replication objects a move makes, by catalog.
#[derive(Clone, Copy)]
enum Catalog {
    Slot,
    Subscription,
}

impl Catalog {
    fn lookup(self) -> &'static str {
        match self {
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

    /// Publishes one store's rows of `adding` (row filter on `store_id`,
    /// Postgres 15+): creates the publication when `published` (its
    /// tables, [`PodDb::published_tables`]) is empty, else adds to it.
    pub async fn publish(
        &self,
        name: &str,
        published: &[String],
        adding: &[String],
        store: StoreId,
    ) -> sqlx::Result<()> {
        if adding.is_empty() {
            return Ok(());
        }
        let filter = format!("WHERE (store_id = {}::uuid)", literal(&store.to_string()));
        let list: Vec<String> = adding
            .iter()
            .map(|t| format!("{} {filter}", ident(t)))
            .collect();
        let ddl = if published.is_empty() {
            format!("CREATE PUBLICATION {} FOR TABLE ", ident(name))
        } else {
            format!("ALTER PUBLICATION {} ADD TABLE ", ident(name))
        };
        self.pool
            .execute(format!("{ddl}{}", list.join(", ")).as_str())
            .await
            .map(|_| ())
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

    /// Refreshes the planner's statistics of `tables`. A copy can bring a
    /// table from a few rows to millions; until autovacuum gets to it the
    /// planner would plan the moved store's first requests here from the
    /// old figures.
    pub async fn analyze(&self, tables: &[String]) -> sqlx::Result<()> {
        if tables.is_empty() {
            return Ok(());
        }
        let list: Vec<String> = tables.iter().map(|t| ident(t)).collect();
        self.pool
            .execute(format!("ANALYZE {}", list.join(", ")).as_str())
            .await
            .map(|_| ())
    }

    /// Makes the subscription take up the tables added to its publication
    /// (their initial copies start).
    pub async fn refresh_subscription(&self, name: &str) -> sqlx::Result<()> {
        let ddl = format!("ALTER SUBSCRIPTION {} REFRESH PUBLICATION", ident(name));
        self.pool.execute(ddl.as_str()).await.map(|_| ())
    }

    /// The tables of the subscription `name`; none when it does not exist.
    pub async fn subscription_tables(&self, name: &str) -> sqlx::Result<Vec<SubscribedTable>> {
        sqlx::query_as(
            "SELECT c.relname::text AS table, r.srsubstate IN ('f', 's', 'r') AS copied,
                    r.srsubstate = 'r' AS ready
               FROM pg_subscription s
               JOIN pg_subscription_rel r ON r.srsubid = s.oid
               JOIN pg_class c ON c.oid = r.srrelid
              WHERE s.subname = $1",
        )
        .bind(name)
        .fetch_all(&self.pool)
        .await
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
}

fn is_in_use(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.code().as_deref() == Some("55006"))
}

/// A table of a subscription and how far its initial copy is.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SubscribedTable {
    pub table: String,
    /// Its rows are all in (states `f`, `s` and `r`): what is left is its
    /// table-sync worker catching up with the changes made meanwhile.
    pub copied: bool,
    /// The subscription's own worker applies its changes (state `r`).
    pub ready: bool,
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
}
