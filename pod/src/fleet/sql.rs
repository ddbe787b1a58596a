//! The fleet's SQL: which stores are served here and how busy they are,
//! the schema's tenant tables and foreign keys, and the statements of the
//! purge. Unlike other contexts' SQL, some of it runs on every tenant
//! table (table names come from the schema, quoted with [`quote_ident`]);
//! those statements are not kept prepared where they run once a sweep.

use chrono::{DateTime, Utc};
use mercato_tenants::{StoreId, TenantState};
use sqlx::{PgExecutor, PgPool, Postgres, Transaction};
use uuid::Uuid;

use super::purge::ForeignKey;
use super::quote_ident;

/// The tenant tables of this pod's schema ([`mercato_tenants::TENANT_TABLES_SQL`]).
pub async fn tenant_tables<'e>(exec: impl PgExecutor<'e>) -> Result<Vec<String>, sqlx::Error> {
    let rows: Vec<(String,)> = sqlx::query_as(mercato_tenants::TENANT_TABLES_SQL)
        .fetch_all(exec)
        .await?;
    Ok(rows.into_iter().map(|(t,)| t).collect())
}

/// The state of a store hosted here, `None` when it is not.
pub async fn hosted_state(db: &PgPool, store: StoreId) -> Result<Option<String>, sqlx::Error> {
    let hosted: Option<(String,)> =
        sqlx::query_as("SELECT state FROM hosted_stores WHERE store_id = $1")
            .bind(store.as_uuid())
            .fetch_optional(db)
            .await?;
    Ok(hosted.map(|(s,)| s))
}

/// Sets the purge time of a `moved_out` store to `secs` seconds from now;
/// that time, or `None` when the store is not `moved_out` here.
pub async fn release(
    db: &PgPool,
    store: StoreId,
    secs: f64,
) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
    let released: Option<(DateTime<Utc>,)> = sqlx::query_as(
        "UPDATE hosted_stores SET purge_after = now() + make_interval(secs => $2), updated_at = now() \
         WHERE store_id = $1 AND state = $3 RETURNING purge_after",
    )
    .bind(store.as_uuid())
    .bind(secs)
    .bind(TenantState::MovedOut.as_str())
    .fetch_optional(db)
    .await?;
    Ok(released.map(|(at,)| at))
}

// --- The load report and the size sweep.

/// The stores in state `active` or `frozen` here, ordered by store id.
pub async fn served_stores(db: &PgPool) -> Result<Vec<Uuid>, sqlx::Error> {
    let served: Vec<(Uuid,)> = sqlx::query_as(
        "SELECT store_id FROM hosted_stores WHERE state = ANY($1) ORDER BY store_id",
    )
    .bind(vec![
        TenantState::Active.as_str(),
        TenantState::Frozen.as_str(),
    ])
    .fetch_all(db)
    .await?;
    Ok(served.into_iter().map(|(id,)| id).collect())
}

/// Orders created in the last hour, per store of `stores` (stores without
/// any are left out).
pub async fn orders_last_hour(
    db: &PgPool,
    stores: &[Uuid],
) -> Result<Vec<(Uuid, i64)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT store_id, count(*)::bigint FROM orders \
         WHERE store_id = ANY($1) AND created_at > now() - interval '1 hour' \
         GROUP BY store_id",
    )
    .bind(stores)
    .fetch_all(db)
    .await
}

/// Rows and bytes per store in `table`: `(store, rows, bytes)`.
pub async fn table_sizes(db: &PgPool, table: &str) -> Result<Vec<(Uuid, i64, i64)>, sqlx::Error> {
    let sql = format!(
        "SELECT t.store_id, count(*)::bigint, coalesce(sum(pg_column_size(t.*)), 0)::bigint \
         FROM {} t GROUP BY t.store_id",
        quote_ident(table)
    );
    // Not kept prepared: one statement per table, run once a sweep, would
    // only push the request path's statements out of the connection's cache.
    sqlx::query_as(&sql).persistent(false).fetch_all(db).await
}

// --- The purge.

/// The stores `moved_out` here whose purge time has come, the longest due
/// first.
pub async fn due_stores(db: &PgPool) -> Result<Vec<StoreId>, sqlx::Error> {
    let due: Vec<(Uuid,)> = sqlx::query_as(
        "SELECT store_id FROM hosted_stores \
         WHERE state = $1 AND purge_after <= now() ORDER BY purge_after, store_id",
    )
    .bind(TenantState::MovedOut.as_str())
    .fetch_all(db)
    .await?;
    Ok(due
        .into_iter()
        .map(|(id,)| StoreId::from_uuid(id))
        .collect())
}

/// The foreign keys of the public schema.
pub async fn foreign_keys(db: &PgPool) -> Result<Vec<ForeignKey>, sqlx::Error> {
    let rows: Vec<(String, String, Vec<String>, Vec<String>)> = sqlx::query_as(
        "SELECT ch.relname::text, pa.relname::text,
            ARRAY(SELECT a.attname::text FROM unnest(c.conkey) WITH ORDINALITY k(n, i)
                  JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n ORDER BY k.i),
            ARRAY(SELECT a.attname::text FROM unnest(c.confkey) WITH ORDINALITY k(n, i)
                  JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.n ORDER BY k.i)
         FROM pg_constraint c
         JOIN pg_class ch ON ch.oid = c.conrelid
         JOIN pg_class pa ON pa.oid = c.confrelid
         JOIN pg_namespace n ON n.oid = c.connamespace
         WHERE c.contype = 'f' AND n.nspname = 'public'
         ORDER BY c.conname",
    )
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(
            |(child, parent, child_columns, parent_columns)| ForeignKey {
                child,
                parent,
                child_columns,
                parent_columns,
            },
        )
        .collect())
}

/// How [`still_due`] locks the store's `hosted_stores` row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowLock {
    /// `FOR SHARE`: for each batch; a state change waits for it.
    Share,
    /// `FOR UPDATE`: before the row itself is deleted.
    Update,
}

impl RowLock {
    fn sql(self) -> &'static str {
        match self {
            RowLock::Share => "FOR SHARE",
            RowLock::Update => "FOR UPDATE",
        }
    }
}

/// Locks the store's `hosted_stores` row (as `lock` says) and says whether
/// it is still `moved_out` and due for purging.
pub async fn still_due(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    lock: RowLock,
) -> Result<bool, sqlx::Error> {
    let due: Option<(bool,)> = sqlx::query_as(&format!(
        "SELECT state = $2 AND purge_after IS NOT NULL AND purge_after <= now() \
         FROM hosted_stores WHERE store_id = $1 {}",
        lock.sql()
    ))
    .bind(store.as_uuid())
    .bind(TenantState::MovedOut.as_str())
    .fetch_optional(&mut **tx)
    .await?;
    Ok(matches!(due, Some((true,))))
}

/// Drops the change capture a move of the store left behind, so that the
/// purge's deletes are not recorded.
pub async fn forget_capture(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT move_capture.forget($1)")
        .bind(store.as_uuid())
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// One batch delete built by [`batch_delete_sql`] for the store, at most
/// `batch` rows; how many rows went.
pub async fn delete_batch(
    tx: &mut Transaction<'_, Postgres>,
    sql: &str,
    store: StoreId,
    batch: i64,
) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query(sql)
        .bind(store.as_uuid())
        .bind(batch)
        .execute(&mut **tx)
        .await?
        .rows_affected())
}

/// One batch of deletes from `table` for store `$1`, at most `$2` rows.
/// With self-references (a tree), only rows no other row points at are
/// taken, so the tree is deleted from its leaves up.
pub fn batch_delete_sql(table: &str, self_refs: &[&ForeignKey]) -> String {
    let t = quote_ident(table);
    let mut pick = format!("SELECT x.ctid FROM {t} x WHERE x.store_id = $1");
    for fk in self_refs {
        let joins: Vec<String> = fk
            .child_columns
            .iter()
            .zip(&fk.parent_columns)
            .map(|(c, p)| format!("y.{} = x.{}", quote_ident(c), quote_ident(p)))
            .collect();
        pick.push_str(&format!(
            " AND NOT EXISTS (SELECT 1 FROM {t} y WHERE {} AND y.ctid <> x.ctid)",
            joins.join(" AND ")
        ));
    }
    format!("DELETE FROM {t} WHERE ctid = ANY(ARRAY({pick} LIMIT $2))")
}

/// The store's rows left in `table`.
pub async fn rows_left(db: &PgPool, table: &str, store: StoreId) -> Result<i64, sqlx::Error> {
    let (left,): (i64,) = sqlx::query_as(&format!(
        "SELECT count(*)::bigint FROM {} WHERE store_id = $1",
        quote_ident(table)
    ))
    .bind(store.as_uuid())
    .fetch_one(db)
    .await?;
    Ok(left)
}

/// Deletes the store's `hosted_stores` row, last of the purge.
pub async fn forget_hosted(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM hosted_stores WHERE store_id = $1")
        .bind(store.as_uuid())
        .execute(&mut **tx)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_table_is_deleted_by_ctid_in_batches() {
        assert_eq!(
            batch_delete_sql("orders", &[]),
            "DELETE FROM \"orders\" WHERE ctid = ANY(ARRAY(SELECT x.ctid FROM \"orders\" x \
             WHERE x.store_id = $1 LIMIT $2))"
        );
    }

    #[test]
    fn a_tree_is_deleted_from_its_leaves() {
        let parent = ForeignKey {
            child: "categories".into(),
            parent: "categories".into(),
            child_columns: vec!["store_id".into(), "parent_id".into()],
            parent_columns: vec!["store_id".into(), "id".into()],
        };
        assert_eq!(
            batch_delete_sql("categories", &[&parent]),
            "DELETE FROM \"categories\" WHERE ctid = ANY(ARRAY(SELECT x.ctid FROM \"categories\" x \
             WHERE x.store_id = $1 AND NOT EXISTS (SELECT 1 FROM \"categories\" y \
             WHERE y.\"store_id\" = x.\"store_id\" AND y.\"parent_id\" = x.\"id\" \
             AND y.ctid <> x.ctid) LIMIT $2))"
        );
    }
}
