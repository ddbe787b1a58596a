//! Events for others: the transactional outbox and its relay to Kafka.
//!
//! A change that other parts of the platform care about (a password-reset
//! request to mail, an order placed, a product changed) is recorded here in
//! the same transaction as the change itself, so the event exists if and only
//! if the change committed. The [`Relay`] publishes unpublished rows to Kafka
//! (key = store id, one topic per kind of event: [`EventType::topic`];
//! headers `type` and, when the event was recorded inside a trace,
//! `traceparent`) and marks them published; delivery is at least once, so consumers dedupe by
//! `event_id`. The events, their payloads and the envelope are declared in
//! [`mercato_tenants::events`] and documented in `docs/events.md`.
//!
//! - this module: [`record`] and [`record_many`], what producers call in
//!   their own transaction, and [`read`], for the mail worker;
//! - [`sql`]: every statement on `outbox` (the inserts, the relay's reads,
//!   store lock and marks);
//! - `relay.rs`: the worker, [`Relay`] (its settings and metrics), run by
//!   `startup` when `events.kafka_brokers` is set. The events context has
//!   no HTTP face and no pure model beyond the declarations in `tenants`.

mod relay;
pub(crate) mod sql;

use std::sync::LazyLock;

use mercato_tenants::events::{Event, EventType};
use mercato_tenants::{EventId, StoreId, TraceParent};
use sqlx::{Postgres, Transaction};
use tokio::sync::Notify;
use uuid::Uuid;

pub use relay::{Relay, RelayMetrics, RelaySettings};

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

/// The trace context of the work recording an event, kept with it for the
/// relay to send on (the message's `traceparent` header).
fn trace_context() -> Option<String> {
    TraceParent::current().map(|t| t.to_string())
}

fn payload_of(event: &Event) -> Result<serde_json::Value, sqlx::Error> {
    event
        .payload()
        .map_err(|e| sqlx::Error::Encode(format!("{} payload: {e}", event.event_type()).into()))
}

/// Records an event in the outbox; the caller commits.
pub async fn record(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    event: &Event,
) -> Result<EventId, sqlx::Error> {
    let payload = payload_of(event)?;
    insert(
        tx,
        store,
        event.event_type(),
        event.aggregate_id(),
        &payload,
    )
    .await
}

/// Records `payload` under `event_type` without checking that it is that
/// event's payload. Only for tests of the relay, which publishes whatever
/// the outbox holds; producers use [`record`].
#[doc(hidden)]
pub async fn record_unchecked(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    event_type: EventType,
    aggregate_id: Uuid,
    payload: &serde_json::Value,
) -> Result<EventId, sqlx::Error> {
    insert(tx, store, event_type, aggregate_id, payload).await
}

async fn insert(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    event_type: EventType,
    aggregate_id: Uuid,
    payload: &serde_json::Value,
) -> Result<EventId, sqlx::Error> {
    let id = EventId::new();
    let traceparent = trace_context();
    sql::insert(
        tx,
        store,
        id,
        event_type,
        aggregate_id,
        payload,
        traceparent.as_deref(),
    )
    .await?;
    recorded().notify_waiters();
    Ok(id)
}

/// An event of the store as recorded, for the consumers inside the pod
/// (the mail worker): `None` when there is no such row; an error when its
/// type or payload is not one this build reads.
pub async fn read(
    db: &sqlx::PgPool,
    store: StoreId,
    id: EventId,
) -> Result<Option<Result<Event, String>>, sqlx::Error> {
    let Some((event_type, payload)) = sql::type_and_payload(db, store, id).await? else {
        return Ok(None);
    };
    Ok(Some(
        event_type
            .parse::<EventType>()
            .map_err(|e| e.to_string())
            .and_then(|t| Event::decode(t, &payload).map_err(|e| format!("{t} payload: {e}"))),
    ))
}

/// Records several events of one store in one statement, in the order
/// given (their ids increase in that order); the caller commits.
pub async fn record_many(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    events: &[Event],
) -> Result<Vec<EventId>, sqlx::Error> {
    if events.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<EventId> = events.iter().map(|_| EventId::new()).collect();
    let uuids: Vec<Uuid> = ids.iter().map(EventId::as_uuid).collect();
    let types: Vec<&str> = events.iter().map(|e| e.event_type().as_str()).collect();
    let aggregates: Vec<Uuid> = events.iter().map(Event::aggregate_id).collect();
    let payloads: Vec<serde_json::Value> =
        events.iter().map(payload_of).collect::<Result<_, _>>()?;
    let traceparent = trace_context();
    sql::insert_many(
        tx,
        store,
        &uuids,
        &types,
        &aggregates,
        &payloads,
        traceparent.as_deref(),
    )
    .await?;
    recorded().notify_waiters();
    Ok(ids)
}
