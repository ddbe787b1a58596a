//! Events for others: the transactional outbox and its relay to Kafka.
//!
//! A change that other parts of the platform care about (a password-reset
//! request to mail, an order placed, a product changed) is recorded here in
//! the same transaction as the change itself, so the event exists if and only
//! if the change committed. The [`Relay`] publishes unpublished rows to Kafka
//! (key = store id, one topic per kind of event: [`topic_for`]) and marks
//! them published; delivery is at least once, so consumers dedupe by
//! `event_id`. The envelope, topics and every payload are documented in
//! `docs/events.md`.

mod relay;

use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use mercato_tenants::{EventId, StoreId};
use serde::{Deserialize, Serialize};
use sqlx::{Postgres, Transaction};
use tokio::sync::Notify;
use uuid::Uuid;

pub use relay::{Relay, RelayMetrics, RelaySettings};

/// Every topic the relay publishes to.
pub const TOPICS: [&str; 5] = [
    "order-events",
    "payment-events",
    "inventory-events",
    "catalog-events",
    "account-events",
];

/// The topic of an event type, by its prefix: `order.` → `order-events`,
/// `payment.` → `payment-events`, `inventory.` → `inventory-events`,
/// `catalog.` → `catalog-events`; everything else (`staff.`, `customer.`
/// ...) → `account-events`.
pub fn topic_for(event_type: &str) -> &'static str {
    match event_type.split_once('.').map(|(prefix, _)| prefix) {
        Some("order") => "order-events",
        Some("payment") => "payment-events",
        Some("inventory") => "inventory-events",
        Some("catalog") => "catalog-events",
        _ => "account-events",
    }
}

/// What a Kafka message's value holds: one outbox row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    pub event_id: EventId,
    pub store_id: StoreId,
    #[serde(rename = "type")]
    pub event_type: String,
    pub aggregate_id: Uuid,
    pub occurred_at: DateTime<Utc>,
    pub payload: serde_json::Value,
}

/// Woken (before the commit) whenever an event is recorded in this process,
/// so the relay looks again shortly instead of at its next poll.
///
/// Not `pg_notify`: a transaction that notifies holds a database-wide lock
/// through its commit, which would serialise every checkout's commit (and
/// its WAL flush) behind the others.
static RECORDED: LazyLock<Notify> = LazyLock::new(Notify::new);

fn recorded() -> &'static Notify {
    &RECORDED
}

/// An event to record with [`record_many`].
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub event_type: &'static str,
    pub aggregate_id: Uuid,
    pub payload: serde_json::Value,
}

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
    recorded().notify_waiters();
    Ok(id)
}

/// Records several events of one store in one statement, in the order
/// given (their ids increase in that order); the caller commits.
pub async fn record_many(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    events: &[NewEvent],
) -> Result<Vec<EventId>, sqlx::Error> {
    if events.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<EventId> = events.iter().map(|_| EventId::new()).collect();
    let uuids: Vec<Uuid> = ids.iter().map(EventId::as_uuid).collect();
    let types: Vec<&str> = events.iter().map(|e| e.event_type).collect();
    let aggregates: Vec<Uuid> = events.iter().map(|e| e.aggregate_id).collect();
    let payloads: Vec<serde_json::Value> = events.iter().map(|e| e.payload.clone()).collect();
    sqlx::query(
        "INSERT INTO outbox (store_id, id, type, aggregate_id, payload) \
         SELECT $1, id, type, aggregate_id, payload \
         FROM unnest($2::uuid[], $3::text[], $4::uuid[], $5::jsonb[]) AS e(id, type, aggregate_id, payload)",
    )
    .bind(store.as_uuid())
    .bind(&uuids)
    .bind(&types)
    .bind(&aggregates)
    .bind(&payloads)
    .execute(&mut **tx)
    .await?;
    recorded().notify_waiters();
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_follow_the_type_prefix() {
        assert_eq!(topic_for("order.placed"), "order-events");
        assert_eq!(topic_for("order.status_changed"), "order-events");
        assert_eq!(topic_for("payment.captured"), "payment-events");
        assert_eq!(topic_for("inventory.level_changed"), "inventory-events");
        assert_eq!(topic_for("catalog.product_deleted"), "catalog-events");
        assert_eq!(topic_for("staff.invited"), "account-events");
        assert_eq!(
            topic_for("customer.password_reset_requested"),
            "account-events"
        );
        // A prefix must be a whole word before the dot.
        assert_eq!(topic_for("orders.placed"), "account-events");
        assert_eq!(topic_for("order"), "account-events");
        for event_type in ["order.x", "payment.x", "inventory.x", "catalog.x", "x.y"] {
            assert!(TOPICS.contains(&topic_for(event_type)));
        }
    }

    #[test]
    fn the_envelope_has_the_documented_fields() {
        let envelope = Envelope {
            event_id: EventId::new(),
            store_id: StoreId::new(),
            event_type: "order.placed".into(),
            aggregate_id: Uuid::nil(),
            occurred_at: DateTime::from_timestamp(1_700_000_000, 0).expect("valid time"),
            payload: serde_json::json!({"order_id": Uuid::nil()}),
        };
        let json = serde_json::to_value(&envelope).expect("serializes");
        let mut keys: Vec<&str> = json
            .as_object()
            .expect("object")
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "aggregate_id",
                "event_id",
                "occurred_at",
                "payload",
                "store_id",
                "type"
            ]
        );
        assert_eq!(json["occurred_at"], "2023-11-14T22:13:20Z");
        let back: Envelope = serde_json::from_value(json).expect("parses back");
        assert_eq!(back, envelope);
    }
}
