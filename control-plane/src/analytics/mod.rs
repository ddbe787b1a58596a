//! Analytics: per-store sales (orders and revenue per currency) counted from
//! the `order.placed` events the pods' outbox relays publish to Kafka.
//!
//! The [`consumer`] reads `order-events` in the consumer group
//! `control-plane-analytics`. Kafka delivers at least once, so each event is
//! applied in one transaction with the record of its id in
//! `processed_events`: a second delivery finds the id and changes nothing.
//! The Kafka offset is committed only after that transaction.
//!
//! Operators read the result at `GET /v1/stores/{id}/sales`.

pub mod consumer;

use axum::extract::State;
use axum::Json;
use chrono::{DateTime, Utc};
use mercato_tenants::events::{Envelope, Event, EventType, Topic};
use mercato_tenants::http::ApiPath;
use mercato_tenants::{ApiError, Currency, StoreId};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::auth::Operator;
use crate::error::ControlError;
use crate::AppState;

/// The consumer's name in `processed_events` and its Kafka consumer group.
pub const CONSUMER: &str = "control-plane-analytics";
/// The topic it reads.
pub const TOPIC: &str = Topic::Orders.as_str();

/// One order placed, as counted in a store's sales.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sale {
    pub event_id: Uuid,
    pub store_id: StoreId,
    pub currency: Currency,
    pub total_minor: i64,
    pub placed_at: DateTime<Utc>,
}

/// Why a message was skipped without effect.
#[derive(Debug, thiserror::Error)]
pub enum Malformed {
    #[error("not an event envelope: {0}")]
    Envelope(serde_json::Error),
    #[error("order.placed {event_id} with a bad payload: {cause}")]
    Payload {
        event_id: Uuid,
        cause: serde_json::Error,
    },
    #[error("order.placed {event_id} with a negative total")]
    NegativeTotal { event_id: Uuid },
}

/// A message on `order-events` read as the envelope of an event.
pub fn envelope_of(message: &[u8]) -> Result<Envelope, Malformed> {
    serde_json::from_slice(message).map_err(Malformed::Envelope)
}

/// What an event on `order-events` means for sales: a [`Sale`] for
/// `order.placed`, nothing for the other order events.
pub fn sale_in(envelope: &Envelope) -> Result<Option<Sale>, Malformed> {
    if envelope.event_type != EventType::OrderPlaced {
        return Ok(None);
    }
    let event_id = envelope.event_id.as_uuid();
    let Event::OrderPlaced(placed) = envelope
        .event()
        .map_err(|cause| Malformed::Payload { event_id, cause })?
    else {
        return Ok(None);
    };
    if placed.total_minor < 0 {
        return Err(Malformed::NegativeTotal { event_id });
    }
    Ok(Some(Sale {
        event_id,
        store_id: envelope.store_id,
        currency: placed.currency,
        total_minor: placed.total_minor,
        placed_at: envelope.occurred_at,
    }))
}

/// Counts `sale` unless this consumer already did: `true` if it was new.
pub async fn apply(db: &PgPool, sale: &Sale) -> Result<bool, sqlx::Error> {
    let mut tx = db.begin().await?;
    let new = sqlx::query(
        "INSERT INTO processed_events (consumer, event_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
    )
    .bind(CONSUMER)
    .bind(sale.event_id)
    .execute(&mut *tx)
    .await?
    .rows_affected()
        == 1;
    if new {
        sqlx::query(
            "INSERT INTO store_sales (store_id, currency, orders, revenue_minor, last_order_at) \
             VALUES ($1, $2, 1, $3, $4) \
             ON CONFLICT (store_id, currency) DO UPDATE SET \
               orders = store_sales.orders + 1, \
               revenue_minor = store_sales.revenue_minor + EXCLUDED.revenue_minor, \
               last_order_at = GREATEST(store_sales.last_order_at, EXCLUDED.last_order_at)",
        )
        .bind(sale.store_id.as_uuid())
        .bind(sale.currency.as_str())
        .bind(sale.total_minor)
        .bind(sale.placed_at)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(new)
}

/// Revenue in one currency, in minor units.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct Revenue {
    pub currency: String,
    pub minor: i64,
}

/// A store's sales so far.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StoreSales {
    pub store_id: StoreId,
    pub orders: i64,
    /// Per currency, ordered by currency code.
    pub revenue: Vec<Revenue>,
    pub last_order_at: Option<DateTime<Utc>>,
}

/// Sales, registered with its OpenAPI description.
pub fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::default().routes(routes!(sales))
}

/// A store's orders and revenue per currency, counted from its
/// `order.placed` events.
#[utoipa::path(get, path = "/v1/stores/{id}/sales", tag = "stores", security(("bearer" = [])),
    params(("id" = StoreId, Path)),
    responses((status = 200, body = StoreSales), (status = 404, body = mercato_tenants::error::ErrorBody)))]
async fn sales(
    State(state): State<AppState>,
    _: Operator,
    ApiPath(id): ApiPath<StoreId>,
) -> Result<Json<StoreSales>, ControlError> {
    crate::stores::get(&state.db, id)
        .await?
        .ok_or_else(|| ApiError::not_found("store"))?;
    let rows: Vec<(String, i64, i64, DateTime<Utc>)> = sqlx::query_as(
        "SELECT currency, orders, revenue_minor, last_order_at FROM store_sales \
         WHERE store_id = $1 ORDER BY currency",
    )
    .bind(id.as_uuid())
    .fetch_all(&state.db)
    .await?;
    Ok(Json(StoreSales {
        store_id: id,
        orders: rows.iter().map(|r| r.1).sum(),
        last_order_at: rows.iter().map(|r| r.3).max(),
        revenue: rows
            .into_iter()
            .map(|(currency, _, minor, _)| Revenue { currency, minor })
            .collect(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// What the consumer makes of a message.
    fn sale_of(message: &[u8]) -> Result<Option<Sale>, Malformed> {
        sale_in(&envelope_of(message)?)
    }

    fn envelope(event_type: &str, payload: serde_json::Value) -> Vec<u8> {
        serde_json::to_vec(&json!({
            "event_id": "0193a0a0-0000-7000-8000-000000000001",
            "store_id": "0193a0a0-0000-7000-8000-0000000000aa",
            "type": event_type,
            "aggregate_id": "0193a0a0-0000-7000-8000-0000000000bb",
            "occurred_at": "2026-11-21T10:00:00Z",
            "payload": payload,
        }))
        .expect("json")
    }

    #[test]
    fn order_placed_is_a_sale_in_its_currency() {
        let payload = json!({
            "order_id": "0193a0a0-0000-7000-8000-0000000000bb", "number": 1001,
            "checkout_id": "0193a0a0-0000-7000-8000-0000000000cc", "customer_id": null,
            "email": "a@b.c", "currency": "eur", "subtotal_minor": 1000, "shipping_minor": 500,
            "tax_minor": 200, "total_minor": 1700, "lines": []
        });
        let sale = sale_of(&envelope("order.placed", payload))
            .expect("well formed")
            .expect("a sale");
        assert_eq!(sale.currency.as_str(), "EUR");
        assert_eq!(sale.total_minor, 1700);
        assert_eq!(
            sale.event_id.to_string(),
            "0193a0a0-0000-7000-8000-000000000001"
        );
        assert_eq!(
            sale.store_id.to_string(),
            "0193a0a0-0000-7000-8000-0000000000aa"
        );
        assert_eq!(sale.placed_at.to_rfc3339(), "2026-11-21T10:00:00+00:00");
    }

    #[test]
    fn other_order_events_are_not_sales() {
        let payload = json!({"order_id": "0193a0a0-0000-7000-8000-0000000000bb", "number": 1001, "from": "placed", "to": "paid"});
        assert!(sale_of(&envelope("order.status_changed", payload))
            .expect("well formed")
            .is_none());
    }

    #[test]
    fn malformed_messages_are_refused() {
        assert!(matches!(sale_of(b"not json"), Err(Malformed::Envelope(_))));
        assert!(matches!(
            sale_of(&envelope("order.placed", json!({"currency": "USD"}))),
            Err(Malformed::Payload { .. })
        ));
        let placed = |currency: &str, total_minor: i64| {
            json!({
                "order_id": "0193a0a0-0000-7000-8000-0000000000bb", "number": 1001,
                "checkout_id": "0193a0a0-0000-7000-8000-0000000000cc", "customer_id": null,
                "email": "a@b.c", "currency": currency, "subtotal_minor": total_minor,
                "shipping_minor": 0, "tax_minor": 0, "total_minor": total_minor, "lines": []
            })
        };
        assert!(matches!(
            sale_of(&envelope("order.placed", placed("US", 1))),
            Err(Malformed::Payload { .. })
        ));
        assert!(matches!(
            sale_of(&envelope("order.placed", placed("USD", -1))),
            Err(Malformed::NegativeTotal { .. })
        ));
        // A type this build does not know is not an envelope it can read.
        assert!(matches!(
            sale_of(&envelope("order.teleported", json!({}))),
            Err(Malformed::Envelope(_))
        ));
    }
}
