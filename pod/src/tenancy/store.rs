//! SQL of `hosted_stores`.

pub use mercato_tenants::pod_api::HostedStore;
use mercato_tenants::{Currency, Handle, StoreId, TenantState};
use sqlx::PgPool;

type Row = (uuid::Uuid, String, String, String, String);

fn from_row((id, handle, name, currency, state): Row) -> Result<HostedStore, sqlx::Error> {
    Ok(HostedStore {
        store_id: StoreId::from_uuid(id),
        handle,
        name,
        currency: Currency::parse(&currency).map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
        state: state
            .parse()
            .map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
    })
}

pub async fn list(db: &PgPool) -> Result<Vec<HostedStore>, sqlx::Error> {
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT store_id, handle, name, currency, state FROM hosted_stores ORDER BY store_id",
    )
    .fetch_all(db)
    .await?;
    rows.into_iter().map(from_row).collect()
}

/// Hosts a store here (or updates its name and state). Idempotent. Any
/// state but `moved_out` clears `purge_after`: a store served here again
/// (moved back) is never purged.
pub async fn upsert<'e>(
    db: impl sqlx::PgExecutor<'e>,
    store: StoreId,
    handle: &Handle,
    name: &str,
    currency: Currency,
    state: TenantState,
) -> Result<HostedStore, sqlx::Error> {
    let row: Row = sqlx::query_as(
        "INSERT INTO hosted_stores (store_id, handle, name, currency, state) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (store_id) DO UPDATE
            SET handle = EXCLUDED.handle, name = EXCLUDED.name, currency = EXCLUDED.currency,
                state = EXCLUDED.state, updated_at = now(),
                purge_after = CASE WHEN EXCLUDED.state = 'moved_out'
                                   THEN hosted_stores.purge_after END
         RETURNING store_id, handle, name, currency, state",
    )
    .bind(store.as_uuid())
    .bind(handle.as_str())
    .bind(name)
    .bind(currency.as_str())
    .bind(state.as_str())
    .fetch_one(db)
    .await?;
    from_row(row)
}

/// Removes a store that never went live, with its accounts, in one
/// transaction. Only a `provisioning` store can be forgotten: `Ok(false)` if
/// the store is hosted in another state (nothing is deleted), `Ok(true)`
/// once it is gone (or was never here).
pub async fn forget(db: &PgPool, store: StoreId) -> Result<bool, sqlx::Error> {
    let mut tx = db.begin().await?;
    let state: Option<(String,)> =
        sqlx::query_as("SELECT state FROM hosted_stores WHERE store_id = $1 FOR UPDATE")
            .bind(store.as_uuid())
            .fetch_optional(&mut *tx)
            .await?;
    if matches!(&state, Some((s,)) if s != TenantState::Provisioning.as_str()) {
        return Ok(false);
    }
    crate::accounts::forget_store(&mut tx, store).await?;
    sqlx::query("DELETE FROM hosted_stores WHERE store_id = $1")
        .bind(store.as_uuid())
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(true)
}
