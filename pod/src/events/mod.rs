//! Events for others: the transactional outbox.
//!
//! A change that other parts of the platform care about (a password-reset
//! request to mail, later an order placed) is recorded here in the same
//! transaction as the change itself, so the event exists if and only if the
//! change committed. A relay publishes unpublished rows (key = store id).

use mercato_tenants::{EventId, StoreId};
use serde::Serialize;
use sqlx::{Postgres, Transaction};
use uuid::Uuid;

/// Records an event in the outbox; the caller commits.
pub async fn record(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    event_type: &str,
    aggregate_id: Uuid,
    payload: &impl Serialize,
) -> Result<EventId, sqlx::Error> {
    let id = EventId::new();
    let payload = serde_json::to_value(payload)
        .map_err(|e| sqlx::Error::Encode(format!("event payload: {e}").into()))?;
    sqlx::query(
        "INSERT INTO outbox (store_id, id, type, aggregate_id, payload) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(store.as_uuid())
    .bind(id.as_uuid())
    .bind(event_type)
    .bind(aggregate_id)
    .bind(payload)
    .execute(&mut **tx)
    .await?;
    Ok(id)
}
