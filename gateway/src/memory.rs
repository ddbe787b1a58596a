//! The gateway's memory: payments, tokens and idempotency keys. Nothing is
//! persisted: a restart is a sandbox reset.
//!
//! Idempotency: a key is claimed with the request's fingerprint before any
//! work. The first request's work runs in a task of its own (it completes
//! even if that client goes away) and publishes its reply; the same key
//! with the same request waits for and gets that reply, with another
//! request it is refused (`idempotency_key_reused`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use axum::body::Bytes;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use mercato_pod::payments::wire::{AuthorizeBody, CaptureBody, PaymentObject, RefundBody, Stats};
use mercato_tenants::TraceParent;
use tokio::sync::watch;

/// What a request asked for; the same key must always ask for the same.
#[derive(Debug, Clone, PartialEq)]
pub enum Fingerprint {
    Authorize(AuthorizeBody),
    Capture(String, CaptureBody),
    Void(String),
    Refund(String, RefundBody),
}

/// A finished answer, replayed to every request with the same key.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: StatusCode,
    pub body: Bytes,
}

impl Reply {
    pub fn json(status: StatusCode, value: &impl serde::Serialize) -> Self {
        match serde_json::to_vec(value) {
            Ok(body) => Self {
                status,
                body: body.into(),
            },
            Err(e) => {
                tracing::error!(error = %e, "cannot serialize a reply");
                Self {
                    status: StatusCode::INTERNAL_SERVER_ERROR,
                    body: Bytes::from_static(
                        br#"{"error":{"code":"internal","message":"internal error"}}"#,
                    ),
                }
            }
        }
    }
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        (
            self.status,
            [(axum::http::header::CONTENT_TYPE, "application/json")],
            self.body,
        )
            .into_response()
    }
}

struct Slot {
    fingerprint: Fingerprint,
    reply: watch::Receiver<Option<Reply>>,
}

/// A claimed key.
pub enum Claim {
    /// This request does the work and publishes its reply here.
    First(watch::Sender<Option<Reply>>),
    /// Another request with the same key and body did or does it.
    Replay(watch::Receiver<Option<Reply>>),
    /// The key was used for another request.
    Reused,
}

/// A payment, where its events go, and the trace they continue.
#[derive(Debug, Clone)]
pub struct Record {
    pub object: PaymentObject,
    pub notify_url: Option<String>,
    /// The trace context of the gateway's span of the authorization that
    /// made the payment (a child of the caller's, when it sent one): every
    /// webhook about the payment carries it, so the receiver's handling is
    /// in the trace of the checkout that paid.
    pub trace: Option<TraceParent>,
}

#[derive(Default)]
struct Inner {
    payments: HashMap<String, Record>,
    /// Authorization idempotency key → payment id.
    by_key: HashMap<String, String>,
    /// Token id → card number.
    tokens: HashMap<String, String>,
    keys: HashMap<String, Slot>,
}

#[derive(Default)]
pub struct Counters {
    pub authorizations: AtomicU64,
    pub captures: AtomicU64,
    pub voids: AtomicU64,
    pub refunds: AtomicU64,
    pub tokens: AtomicU64,
    pub events: AtomicU64,
    pub webhook_attempts: AtomicU64,
    pub webhooks_delivered: AtomicU64,
}

impl Counters {
    pub fn snapshot(&self) -> Stats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        Stats {
            authorizations: get(&self.authorizations),
            captures: get(&self.captures),
            voids: get(&self.voids),
            refunds: get(&self.refunds),
            tokens: get(&self.tokens),
            events: get(&self.events),
            webhook_attempts: get(&self.webhook_attempts),
            webhooks_delivered: get(&self.webhooks_delivered),
        }
    }
}

#[derive(Default)]
pub struct Memory {
    inner: Mutex<Inner>,
}

impl Memory {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn claim(&self, key: &str, fingerprint: Fingerprint) -> Claim {
        let mut inner = self.lock();
        match inner.keys.get(key) {
            Some(slot) if slot.fingerprint == fingerprint => Claim::Replay(slot.reply.clone()),
            Some(_) => Claim::Reused,
            None => {
                let (tx, rx) = watch::channel(None);
                inner.keys.insert(
                    key.to_owned(),
                    Slot {
                        fingerprint,
                        reply: rx,
                    },
                );
                Claim::First(tx)
            }
        }
    }

    /// The pending or finished reply of the authorization made with `key`.
    pub fn authorization_reply(&self, key: &str) -> Option<watch::Receiver<Option<Reply>>> {
        let inner = self.lock();
        let slot = inner.keys.get(key)?;
        matches!(slot.fingerprint, Fingerprint::Authorize(_)).then(|| slot.reply.clone())
    }

    pub fn add_token(&self, id: String, number: String) {
        self.lock().tokens.insert(id, number);
    }

    pub fn token_number(&self, id: &str) -> Option<String> {
        self.lock().tokens.get(id).cloned()
    }

    /// Records a new payment made by the authorization with `key`.
    pub fn insert(&self, key: &str, record: Record) {
        let mut inner = self.lock();
        let id = record.object.payment.id.clone();
        inner.by_key.insert(key.to_owned(), id.clone());
        inner.payments.insert(id, record);
    }

    pub fn get(&self, id: &str) -> Option<Record> {
        self.lock().payments.get(id).cloned()
    }

    pub fn by_key(&self, key: &str) -> Option<Record> {
        let inner = self.lock();
        let id = inner.by_key.get(key)?;
        inner.payments.get(id).cloned()
    }

    pub fn by_reference(&self, reference: &str) -> Vec<PaymentObject> {
        let mut found: Vec<PaymentObject> = self
            .lock()
            .payments
            .values()
            .filter(|r| r.object.payment.reference == reference)
            .map(|r| r.object.clone())
            .collect();
        // Ids are UUIDv7: creation order.
        found.sort_by(|a, b| a.payment.id.cmp(&b.payment.id));
        found
    }

    /// Applies `change` to payment `id` atomically; `None` if there is no
    /// such payment.
    pub fn update<T>(
        &self,
        id: &str,
        change: impl FnOnce(&PaymentObject) -> Result<PaymentObject, T>,
    ) -> Option<Result<Record, T>> {
        let mut inner = self.lock();
        let record = inner.payments.get_mut(id)?;
        Some(change(&record.object).map(|object| {
            record.object = object;
            record.clone()
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn authorize(amount: i64) -> Fingerprint {
        Fingerprint::Authorize(AuthorizeBody {
            amount,
            currency: "USD".into(),
            token: "tok_4242424242424242".into(),
            reference: "r".into(),
            notify_url: None,
            metadata: None,
        })
    }

    #[test]
    fn a_key_is_claimed_once_and_replayed_for_the_same_request_only() {
        let store = Memory::default();
        assert!(matches!(store.claim("k", authorize(100)), Claim::First(_)));
        assert!(matches!(store.claim("k", authorize(100)), Claim::Replay(_)));
        assert!(matches!(store.claim("k", authorize(101)), Claim::Reused));
        assert!(matches!(
            store.claim("k", Fingerprint::Void("pay_1".into())),
            Claim::Reused
        ));
        assert!(store.authorization_reply("k").is_some());
        assert!(matches!(
            store.claim("v", Fingerprint::Void("pay_1".into())),
            Claim::First(_)
        ));
        assert!(store.authorization_reply("v").is_none());
        assert!(store.authorization_reply("nope").is_none());
    }
}
