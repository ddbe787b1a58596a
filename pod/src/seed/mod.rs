//! Generated data written straight into a pod's Postgres, for load: a
//! realistic catalog ([`catalog`]) and past orders ([`orders`]), each in one
//! transaction of set-based statements that leave the rows the way the
//! contexts owning those tables would. `mercato seed-catalog` and the
//! benchmarks call it; nothing on the serving path does.

mod catalog;
mod orders;

pub use catalog::{catalog, Seeded};
pub use orders::orders;

use mercato_tenants::StoreId;
use sqlx::PgPool;

/// Applies the pod's migrations to `db`: a database filled without a pod
/// running on it.
pub use crate::db::migrate;

/// Hosts `store` (active) in this pod's database directly, without the
/// control plane; returns its handle.
pub async fn host_store(db: &PgPool, store: StoreId) -> anyhow::Result<String> {
    let handle = format!("bench-{}", &store.to_string()[..8]);
    sqlx::query(
        "INSERT INTO hosted_stores (store_id, handle, name, currency, state)
         VALUES ($1, $2, 'Bench Store', 'USD', 'active')",
    )
    .bind(store.as_uuid())
    .bind(&handle)
    .execute(db)
    .await?;
    Ok(handle)
}

/// The store's rows in every tenant table (every table with a `store_id`
/// column), by table name.
pub async fn store_rows(db: &PgPool, store: StoreId) -> anyhow::Result<Vec<(String, i64)>> {
    let tables: Vec<(String,)> = sqlx::query_as(mercato_tenants::TENANT_TABLES_SQL)
        .fetch_all(db)
        .await?;
    let mut counts = Vec::with_capacity(tables.len());
    for (table,) in tables {
        let (n,): (i64,) = sqlx::query_as(&format!(
            "SELECT count(*) FROM \"{}\" WHERE store_id = $1",
            table.replace('"', "\"\"")
        ))
        .bind(store.as_uuid())
        .fetch_one(db)
        .await?;
        counts.push((table, n));
    }
    Ok(counts)
}
