//! Merchant webhooks: a store's subscriptions (a URL and topics) and the
//! delivery of its events to them, signed, at least once.
//!
//! Like mail (`notifications`), the worker reads the pod's own events, not
//! Kafka: each event of a subscribed topic gets a `webhook_deliveries` row
//! per subscription in the event's own transaction (the trigger
//! `outbox_webhooks`), and [`spawn_worker`] POSTs the due ones. The rows
//! move with the store, so no event is lost or queued twice when it moves.
//! See `workers.rs` for the steps, docs/webhooks.md for what a receiver
//! gets and how it checks the signature.
//!
//! - `model.rs`: topics, URLs, the body and its signature, pure;
//! - `target.rs`: the addresses a webhook may not reach (SSRF), and the
//!   resolution a delivery is pinned to;
//! - `sql.rs`: the three tables;
//! - [`subscriptions`]: the owner's operations, for the API and the admin;
//! - `workers.rs`: the worker;
//! - the HTTP face is `routes/webhooks.rs`.

pub mod model;
pub mod sql;
pub mod subscriptions;
pub mod target;
mod workers;

use chrono::{DateTime, Utc};
use mercato_tenants::{EventId, WebhookDeliveryId, WebhookId};
use serde::Serialize;

pub use workers::{spawn_worker, Sender};

/// A subscription as staff see it (never its secret).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Subscription {
    pub id: WebhookId,
    pub url: String,
    pub topics: Vec<model::Topic>,
    /// Whether events are delivered; a disabled subscription queues
    /// nothing and its queued deliveries wait.
    pub enabled: bool,
    /// Deliveries given up in a row.
    pub consecutive_failures: i32,
    /// Why it was disabled (by staff, or after too many failures).
    pub disabled_reason: Option<String>,
    pub disabled_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Where a delivery is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    /// Waiting for its (next) attempt.
    Pending,
    /// An attempt is under way.
    Sending,
    /// Answered with a 2xx.
    Delivered,
    /// Given up (`webhooks.max_age_secs` passed): only a redelivery sends
    /// it again.
    Dead,
}

impl DeliveryState {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Sending => "sending",
            Self::Delivered => "delivered",
            Self::Dead => "dead",
        }
    }

    fn parse(s: &str) -> Self {
        match s {
            "sending" => Self::Sending,
            "delivered" => Self::Delivered,
            "dead" => Self::Dead,
            _ => Self::Pending,
        }
    }
}

/// One attempt at a delivery.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Attempt {
    pub attempt: i32,
    pub at: DateTime<Utc>,
    /// The receiver's status; `null` when it did not answer.
    pub status_code: Option<i32>,
    pub error: Option<String>,
    pub duration_ms: i32,
}

/// One event for one subscription, with its attempts.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Delivery {
    pub id: WebhookDeliveryId,
    /// The event's id: the `id` of the body and `x-mercato-event-id`, the
    /// same on every attempt and redelivery.
    pub event_id: EventId,
    pub topic: String,
    pub state: DeliveryState,
    pub attempt_count: i32,
    /// When the next attempt is due, while pending.
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub last_status: Option<i32>,
    pub last_error: Option<String>,
    pub attempts: Vec<Attempt>,
}
