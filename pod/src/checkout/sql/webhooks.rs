//! The `webhook_events` table: the payment events a store has handled, so a
//! redelivered event is answered without being handled twice.

use mercato_tenants::StoreId;
use sqlx::PgExecutor;

/// Whether the store has handled the gateway's event `id`.
pub async fn seen<'e>(
    exec: impl PgExecutor<'e>,
    store: StoreId,
    id: &str,
) -> Result<bool, sqlx::Error> {
    let row: Option<(String,)> =
        sqlx::query_as("SELECT id FROM webhook_events WHERE store_id = $1 AND id = $2")
            .bind(store.as_uuid())
            .bind(id)
            .fetch_optional(exec)
            .await?;
    Ok(row.is_some())
}

/// Records the event as handled (a second record of it is a no-op).
pub async fn record<'e>(
    exec: impl PgExecutor<'e>,
    store: StoreId,
    id: &str,
    event_type: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO webhook_events (store_id, id, type) VALUES ($1, $2, $3)
         ON CONFLICT DO NOTHING",
    )
    .bind(store.as_uuid())
    .bind(id)
    .bind(event_type)
    .execute(exec)
    .await?;
    Ok(())
}
