//! SQL of `hosted_stores`.

use mercato_tenants::{Currency, Handle, StoreId, TenantState};
use sqlx::{Postgres, Transaction};

use crate::state::hosted::{from_row, HostedStore, Row};

/// The stores hosted here `active`, for the workers' rounds.
pub async fn active_stores(db: &sqlx::PgPool) -> Result<Vec<StoreId>, sqlx::Error> {
    let rows: Vec<(uuid::Uuid,)> =
        sqlx::query_as("SELECT store_id FROM hosted_stores WHERE state = 'active'")
            .fetch_all(db)
            .await?;
    Ok(rows
        .into_iter()
        .map(|(id,)| StoreId::from_uuid(id))
        .collect())
}

/// Renames a store hosted here, in any state; `None` if it is not here.
pub async fn rename<'e>(
    db: impl sqlx::PgExecutor<'e>,
    store: StoreId,
    name: &str,
) -> Result<Option<HostedStore>, sqlx::Error> {
    let row: Option<Row> = sqlx::query_as(
        "UPDATE hosted_stores SET name = $2, updated_at = now() WHERE store_id = $1
         RETURNING store_id, handle, name, currency, state",
    )
    .bind(store.as_uuid())
    .bind(name)
    .fetch_optional(db)
    .await?;
    row.map(from_row).transpose()
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

/// Inside the transaction that forgets a store that never went live: locks
/// its row and says whether it may be forgotten (it is `provisioning`, or
/// not here at all).
pub async fn lock_forgettable(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
) -> Result<bool, sqlx::Error> {
    let state: Option<(String,)> =
        sqlx::query_as("SELECT state FROM hosted_stores WHERE store_id = $1 FOR UPDATE")
            .bind(store.as_uuid())
            .fetch_optional(&mut **tx)
            .await?;
    Ok(!matches!(&state, Some((s,)) if s != TenantState::Provisioning.as_str()))
}

/// Deletes the store's `hosted_stores` row.
pub async fn delete(tx: &mut Transaction<'_, Postgres>, store: StoreId) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM hosted_stores WHERE store_id = $1")
        .bind(store.as_uuid())
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// The store's state here (`None` when it is not hosted here), holding a
/// share lock on its row until the transaction ends: the fence
/// ([`super::is_active_locked`]).
pub async fn state_for_share(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
) -> Result<Option<String>, sqlx::Error> {
    let state: Option<(String,)> =
        sqlx::query_as("SELECT state FROM hosted_stores WHERE store_id = $1 FOR SHARE")
            .bind(store.as_uuid())
            .fetch_optional(&mut **tx)
            .await?;
    Ok(state.map(|(s,)| s))
}
