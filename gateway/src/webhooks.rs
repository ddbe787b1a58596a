//! Webhook delivery: each event is POSTed to its payment's `notify_url`,
//! signed, in a task of its own (the API answer never waits for it), and
//! retried with backoff until a 2xx or out of attempts. Every attempt
//! carries the same body (same event id) under a fresh signature, and the
//! `traceparent` kept with the payment, so the receiver continues the
//! trace of the checkout that made it.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use mercato_pod::payments::signature;
use mercato_pod::payments::wire::{event_type, GatewayEvent, PaymentObject, SIGNATURE_HEADER};
use mercato_tenants::trace::{TraceParent, TRACEPARENT_HEADER};

use super::memory::Counters;

/// Attempts per event.
pub const ATTEMPTS: u32 = 10;

/// The wait after failed attempt `n` (1-based); `None` after the last.
/// 0.5 s, 1 s, 2 s, 4 s, 8 s, then 10 s: ten attempts over about a minute.
pub fn retry_delay(failed_attempts: u32) -> Option<Duration> {
    if failed_attempts == 0 || failed_attempts >= ATTEMPTS {
        return None;
    }
    let ms = 500u64 << (failed_attempts - 1).min(5);
    Some(Duration::from_millis(ms.min(10_000)))
}

#[derive(Clone)]
pub struct Webhooks {
    http: reqwest::Client,
    secret: Arc<str>,
    counters: Arc<Counters>,
}

impl Webhooks {
    pub fn new(secret: &str, counters: Arc<Counters>) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Self {
            http,
            secret: secret.into(),
            counters,
        })
    }

    /// Creates the event for `payment`'s new state and delivers it in the
    /// background, in the trace `trace` (the payment's).
    pub fn emit(
        &self,
        notify_url: Option<&str>,
        payment: &PaymentObject,
        trace: Option<TraceParent>,
    ) {
        let Some(url) = notify_url else {
            return;
        };
        let event = GatewayEvent {
            id: format!("evt_{}", uuid::Uuid::now_v7().simple()),
            event_type: event_type(payment.payment.status).to_owned(),
            created: chrono::Utc::now().timestamp(),
            data: payment.clone(),
        };
        let body = match serde_json::to_vec(&event) {
            Ok(body) => body,
            Err(e) => {
                tracing::error!(error = %e, "cannot serialize a webhook event");
                return;
            }
        };
        self.counters.events.fetch_add(1, Ordering::Relaxed);
        tokio::spawn(self.clone().deliver(url.to_owned(), event.id, body, trace));
    }

    async fn deliver(
        self,
        url: String,
        event_id: String,
        body: Vec<u8>,
        trace: Option<TraceParent>,
    ) {
        let mut failed = 0;
        loop {
            self.counters
                .webhook_attempts
                .fetch_add(1, Ordering::Relaxed);
            let header = signature::sign(
                self.secret.as_bytes(),
                chrono::Utc::now().timestamp(),
                &body,
            );
            let mut request = self
                .http
                .post(&url)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .header(SIGNATURE_HEADER, header);
            if let Some(trace) = &trace {
                request = request.header(TRACEPARENT_HEADER, trace.header_value());
            }
            let outcome = request.body(body.clone()).send().await;
            match outcome {
                Ok(r) if r.status().is_success() => {
                    self.counters
                        .webhooks_delivered
                        .fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(event = %event_id, "webhook delivered");
                    return;
                }
                Ok(r) => {
                    tracing::info!(event = %event_id, status = r.status().as_u16(), "webhook refused")
                }
                Err(e) => tracing::info!(event = %event_id, error = %e, "webhook not delivered"),
            }
            failed += 1;
            match retry_delay(failed) {
                Some(wait) => tokio::time::sleep(mercato_tenants::backoff::jitter(wait)).await,
                None => {
                    tracing::warn!(event = %event_id, url = %url, "webhook given up after {ATTEMPTS} attempts");
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ten_attempts_over_about_a_minute() {
        let waits: Vec<Duration> = (1..ATTEMPTS + 2).map_while(retry_delay).collect();
        assert_eq!(waits.len() as u32, ATTEMPTS - 1);
        assert_eq!(waits[0], Duration::from_millis(500));
        assert_eq!(waits[1], Duration::from_millis(1000));
        assert_eq!(waits[4], Duration::from_millis(8000));
        assert_eq!(waits[8], Duration::from_millis(10_000));
        let total: Duration = waits.iter().sum();
        assert_eq!(total, Duration::from_millis(55_500));
        assert_eq!(retry_delay(0), None);
        assert_eq!(retry_delay(ATTEMPTS), None);
    }
}
