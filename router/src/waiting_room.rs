//! The checkout waiting room at the edge (the flash-sale queue): when a
//! store has `max_in_flight_per_store` checkouts in flight through this
//! router, the next checkout is answered at once with `503 queued`, a
//! `Retry-After`, and a signed first-come-first-served ticket
//! (`x-mercato-queue-ticket`, also in the body with its `position` and
//! `estimated_wait_ms`). The client sends the same checkout again with the
//! ticket after that wait; when its turn has come it goes in ahead of
//! newcomers. Browsing is never queued: only `POST /api/checkout` is.
//!
//! The decisions are [`crate::waiting`]'s; this module keeps one room per
//! store, verifies tickets, counts, and renders the answers.
//!
//! Several routers: tickets are signed with a key derived from the shared
//! `hop_secret`, so every router accepts every router's tickets, but each
//! router keeps its own rooms and counts its own checkouts in flight (the
//! fleet admits up to `routers × max_in_flight_per_store` at once). A
//! ticket taken to another router is admitted there when a slot is free,
//! else queued there afresh; behind a balancer that keeps a client on one
//! router the order is exactly first come, first served.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::header::{self, HeaderMap, HeaderValue};
use axum::http::Method;
use axum::response::{IntoResponse, Response};
use mercato_tenants::{ApiError, ErrorCode, StoreId};
use prometheus::{IntCounter, IntCounterVec, IntGauge, Opts, Registry};
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::waiting::{self, At, Decision, Room, RoomLimits, Ticket, TicketError};

/// The header a queued checkout's ticket travels in, both ways.
pub const TICKET_HEADER: &str = "x-mercato-queue-ticket";

/// `[waiting_room]` in the router's config.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WaitingRoomConfig {
    /// Off: every checkout goes straight to the pod's admission gate.
    pub enabled: bool,
    /// Checkouts of one store in flight through this router at most.
    pub max_in_flight_per_store: u32,
    /// How long a slot is held for a ticket whose turn came, in
    /// milliseconds; a holder back later queues again.
    pub call_grace_ms: u64,
    /// How long a ticket is valid, in seconds.
    pub ticket_ttl_secs: u64,
}

impl Default for WaitingRoomConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            // A pod's checkout runs on its Postgres pool (a few dozen
            // connections) and one hot row: more at once only waits there.
            max_in_flight_per_store: 32,
            call_grace_ms: 10_000,
            ticket_ttl_secs: 900,
        }
    }
}

/// Whether a request completes a checkout (the only one queued).
pub fn is_checkout(method: &Method, path: &str) -> bool {
    method == Method::POST && path.split('?').next() == Some("/api/checkout")
}

/// Rooms kept at most before idle ones are swept.
const SWEEP_ABOVE: usize = 10_000;

pub struct WaitingRoom {
    config: WaitingRoomConfig,
    limits: RoomLimits,
    key: [u8; 32],
    rooms: Mutex<HashMap<StoreId, Room>>,
    metrics: Metrics,
}

struct Metrics {
    queued: IntCounter,
    admitted: IntCounterVec,
    refused: IntCounterVec,
    queue_length: IntGauge,
    in_flight: IntGauge,
}

impl Metrics {
    fn new(registry: &Registry) -> Result<Self, prometheus::Error> {
        let queued = IntCounter::new(
            "waiting_room_queued_total",
            "checkouts answered with a new queue ticket",
        )?;
        let admitted = IntCounterVec::new(
            Opts::new("waiting_room_admitted_total", "checkouts let through"),
            &["via"],
        )?;
        let refused = IntCounterVec::new(
            Opts::new("waiting_room_refused_total", "queue tickets refused"),
            &["reason"],
        )?;
        let queue_length = IntGauge::new(
            "waiting_room_queue_length",
            "tickets waiting for their turn, all stores",
        )?;
        let in_flight = IntGauge::new(
            "waiting_room_in_flight",
            "checkouts in flight through the waiting room, all stores",
        )?;
        registry.register(Box::new(queued.clone()))?;
        registry.register(Box::new(admitted.clone()))?;
        registry.register(Box::new(refused.clone()))?;
        registry.register(Box::new(queue_length.clone()))?;
        registry.register(Box::new(in_flight.clone()))?;
        Ok(Self {
            queued,
            admitted,
            refused,
            queue_length,
            in_flight,
        })
    }
}

/// The router's answer to a checkout it does not let through (boxed: a
/// response is large, and this is the uncommon path).
#[derive(Debug)]
pub struct Answer(pub Box<Response>);

impl Answer {
    fn new(response: Response) -> Self {
        Self(Box::new(response))
    }
}

/// A checkout's place in flight; the slot frees when it drops.
pub struct Pass {
    held: Option<(Arc<WaitingRoom>, StoreId, Instant)>,
}

impl Drop for Pass {
    fn drop(&mut self) {
        if let Some((room, store, started)) = self.held.take() {
            room.done(store, started.elapsed());
        }
    }
}

fn now() -> At {
    let unix_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    At {
        mono: Instant::now(),
        unix_ms,
    }
}

impl WaitingRoom {
    pub fn new(
        config: WaitingRoomConfig,
        hop_secret: &[u8],
        registry: &Registry,
    ) -> Result<Arc<Self>, prometheus::Error> {
        let limits = RoomLimits {
            max_in_flight: config.max_in_flight_per_store.max(1),
            call_grace: Duration::from_millis(config.call_grace_ms),
            ticket_ttl: Duration::from_secs(config.ticket_ttl_secs),
        };
        Ok(Arc::new(Self {
            config,
            limits,
            key: waiting::ticket_key(hop_secret),
            rooms: Mutex::default(),
            metrics: Metrics::new(registry)?,
        }))
    }

    /// Lets a checkout for `store` through (`Ok`, hold the pass until it
    /// is answered) or answers it here: queued, or its ticket refused.
    pub fn enter(self: &Arc<Self>, store: StoreId, headers: &HeaderMap) -> Result<Pass, Answer> {
        if !self.config.enabled {
            return Ok(Pass { held: None });
        }
        let at = now();
        let ticket = match headers.get(TICKET_HEADER) {
            None => None,
            Some(raw) => {
                let raw = raw
                    .to_str()
                    .map_err(|_| Answer::new(self.refuse(TicketError::Invalid)))?;
                Some(
                    Ticket::verify(&self.key, raw.trim(), store, at.unix_ms)
                        .map_err(|e| Answer::new(self.refuse(e)))?,
                )
            }
        };
        let decision = self.with_room(store, at, |room| room.arrive(ticket, at));
        match decision {
            Decision::Admit { with_ticket } => {
                let via = if with_ticket { "ticket" } else { "direct" };
                self.metrics.admitted.with_label_values(&[via]).inc();
                Ok(Pass {
                    held: Some((self.clone(), store, at.mono)),
                })
            }
            Decision::Queued {
                ticket,
                position,
                wait,
                new,
            } => {
                if new {
                    self.metrics.queued.inc();
                }
                Err(Answer::new(self.queued(&ticket, position, wait, headers)))
            }
            Decision::Refused(e) => Err(Answer::new(self.refuse(e))),
        }
    }

    fn done(&self, store: StoreId, took: Duration) {
        let at = now();
        self.with_room(store, at, |room| room.done(took, at));
    }

    /// Runs `f` on the store's room (made on first use) and keeps the
    /// gauges in step; drops the room once it is idle.
    fn with_room<T>(&self, store: StoreId, at: At, f: impl FnOnce(&mut Room) -> T) -> T {
        let mut rooms = self.rooms.lock().unwrap_or_else(|e| e.into_inner());
        if rooms.len() >= SWEEP_ABOVE && !rooms.contains_key(&store) {
            rooms.retain(|_, room| {
                room.tick(at);
                !room.is_idle()
            });
        }
        let limits = self.limits;
        let room = rooms
            .entry(store)
            .or_insert_with(|| Room::new(store, room_id(), limits));
        let (waiting, in_flight) = (room.waiting(), room.in_flight());
        let out = f(room);
        self.metrics
            .queue_length
            .add(room.waiting() as i64 - waiting as i64);
        self.metrics
            .in_flight
            .add(i64::from(room.in_flight()) - i64::from(in_flight));
        if room.is_idle() {
            rooms.remove(&store);
        }
        out
    }

    fn refuse(&self, e: TicketError) -> Response {
        let (code, reason) = match e {
            TicketError::Invalid => (ErrorCode::InvalidQueueTicket, "invalid"),
            TicketError::Expired => (ErrorCode::QueueTicketExpired, "expired"),
            TicketError::OtherStore => (ErrorCode::QueueTicketWrongStore, "other_store"),
            TicketError::Used => (ErrorCode::QueueTicketUsed, "used"),
        };
        self.metrics.refused.with_label_values(&[reason]).inc();
        ApiError::new(code, e.to_string()).into_response()
    }

    /// `503 queued` with `Retry-After`, the ticket in a header and in the
    /// body beside the usual error fields.
    fn queued(
        &self,
        ticket: &Ticket,
        position: u64,
        wait: Duration,
        headers: &HeaderMap,
    ) -> Response {
        let encoded = ticket.encode(&self.key);
        let wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX);
        let request_id = headers
            .get(mercato_tenants::hop::REQUEST_ID_HEADER)
            .and_then(|v| v.to_str().ok());
        let body = serde_json::json!({
            "error": {
                "code": ErrorCode::Queued.as_str(),
                "message": format!(
                    "the store is busy checking out; you are number {position} in line. \
                     Send the same checkout again with header {TICKET_HEADER} after the wait"
                ),
                "request_id": request_id,
            },
            "queue": {
                "ticket": encoded,
                "position": position,
                "estimated_wait_ms": wait_ms,
            },
        });
        let mut response = (
            ErrorCode::Queued.status(),
            [(header::CONTENT_TYPE, "application/json")],
            body.to_string(),
        )
            .into_response();
        let secs = wait.as_secs_f64().ceil().max(1.0) as u64;
        let h = response.headers_mut();
        h.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        if let Ok(v) = HeaderValue::from_str(&encoded) {
            h.insert(TICKET_HEADER, v);
        }
        response
    }
}

/// A room's id: random, so a new room (after an idle one was dropped, or
/// in a restarted router) never takes an old ticket for one of its own.
fn room_id() -> u64 {
    uuid::Uuid::new_v4().as_u64_pair().0
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;

    #[test]
    fn only_the_checkout_itself_is_queued() {
        assert!(is_checkout(&Method::POST, "/api/checkout"));
        assert!(is_checkout(&Method::POST, "/api/checkout?x=1"));
        assert!(!is_checkout(&Method::GET, "/api/checkout"));
        assert!(!is_checkout(&Method::GET, "/api/checkouts/abc"));
        assert!(!is_checkout(&Method::POST, "/api/cart/lines"));
        assert!(!is_checkout(&Method::GET, "/api/products/tee"));
        assert!(!is_checkout(&Method::POST, "/api/checkout/webhook"));
    }

    fn header(ticket: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(TICKET_HEADER, HeaderValue::from_str(ticket).expect("value"));
        h
    }

    async fn queued_ticket(r: Box<Response>) -> (String, serde_json::Value) {
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(r.headers().get(header::RETRY_AFTER).is_some());
        let ticket = r.headers()[TICKET_HEADER]
            .to_str()
            .expect("text")
            .to_owned();
        let body = axum::body::to_bytes(r.into_body(), 1 << 16)
            .await
            .expect("body");
        let body: serde_json::Value = serde_json::from_slice(&body).expect("json");
        assert_eq!(body["error"]["code"], "queued");
        assert_eq!(body["queue"]["ticket"], ticket.as_str());
        (ticket, body)
    }

    #[tokio::test]
    async fn routers_sharing_the_secret_accept_each_others_tickets_and_rooms_clean_up() {
        let config = WaitingRoomConfig {
            max_in_flight_per_store: 1,
            ..Default::default()
        };
        let a = WaitingRoom::new(config.clone(), b"hop", &Registry::new()).expect("room");
        let b = WaitingRoom::new(config.clone(), b"hop", &Registry::new()).expect("room");
        let stranger = WaitingRoom::new(config, b"other", &Registry::new()).expect("room");
        let store = StoreId::new();
        let first = a.enter(store, &HeaderMap::new()).expect("admitted");
        let (ticket, body) = queued_ticket(
            a.enter(store, &HeaderMap::new())
                .map(|_| ())
                .expect_err("queued")
                .0,
        )
        .await;
        assert_eq!(body["queue"]["position"], 1);
        let refused = stranger
            .enter(store, &header(&ticket))
            .map(|_| ())
            .expect_err("forged")
            .0;
        assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
        let other_store = a
            .enter(StoreId::new(), &header(&ticket))
            .map(|_| ())
            .expect_err("other store")
            .0;
        assert_eq!(other_store.status(), StatusCode::FORBIDDEN);
        // Router b has a free slot: it takes a's ticket, once.
        let at_b = b.enter(store, &header(&ticket)).expect("admitted at b");
        let again = b
            .enter(store, &header(&ticket))
            .map(|_| ())
            .expect_err("used")
            .0;
        assert_eq!(again.status(), StatusCode::FORBIDDEN);
        drop((first, at_b));
        assert_eq!(a.metrics.in_flight.get(), 0);
        assert_eq!(b.metrics.in_flight.get(), 0);
        // Each router remembers the tickets it took, not the others' (no
        // shared state on the request path): a still holds the turn.
        // a still waits for its ticket's holder (called, slot held).
        assert_eq!(a.rooms.lock().expect("lock").len(), 1);
        let _second = a.enter(store, &header(&ticket)).expect("its turn at a");
        assert_eq!(a.metrics.queue_length.get(), 0);
    }
}
