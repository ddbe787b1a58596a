//! The webhook worker: for each store active on this pod, claim a due
//! delivery, POST its event, record the attempt.
//!
//! 1. **claim** (fenced transaction, `tenancy::is_active_locked`): one due
//!    row of an enabled subscription taken `FOR UPDATE SKIP LOCKED` and
//!    leased (`sending`, `next_attempt_at` = the lease's end);
//! 2. **send**: the body is the event's envelope ([`model::Body`]), signed
//!    ([`model::sign`]); the host is resolved and every address it has is
//!    checked ([`target::resolve`]), and the request goes to that address
//!    (pinned with reqwest's `resolve`, redirects not followed);
//! 3. **record** (fenced): the attempt in `webhook_attempts`; a 2xx is
//!    `delivered`; anything else is `pending` again after a doubling,
//!    jittered wait, or `dead` once the next try would fall after
//!    `max_age_secs` from the event (or its redelivery). A delivery given
//!    up counts towards disabling its subscription (`disable_after`).
//!
//! A pod dying after 2 leaves a row sent again once its lease ends: a
//! receiver may see an event twice, always with the same id (at least
//! once). Recording checks the lease is still this attempt's, so a late
//! worker cannot overwrite a newer one.

use std::time::{Duration, Instant};

use mercato_tenants::backoff::{self, jitter};
use mercato_tenants::StoreId;
use tokio::task::JoinHandle;
use tracing::Instrument as _;

use super::model::{self, Body};
use super::sql::{self, AttemptRecord, Claimed};
use super::{target, DeliveryState};
use crate::config::WebhooksConfig;
use crate::error::PodError;
use crate::periodic::{spawn_every, store_span};
use crate::state::AppState;
use crate::tenancy;

/// Deliveries one store sends per round before the next store's turn.
const PER_STORE_ROUND: usize = 50;

/// The settings of the worker.
#[derive(Clone, Debug)]
pub struct Sender {
    config: WebhooksConfig,
}

impl Sender {
    pub fn new(config: &WebhooksConfig) -> Self {
        Self {
            config: config.clone(),
        }
    }

    fn timeout(&self) -> Duration {
        Duration::from_millis(self.config.timeout_ms.max(100))
    }

    /// The lease of a claimed row: longer than resolving and the POST.
    fn lease_ms(&self) -> i64 {
        (self.config.timeout_ms.max(100) * 3) as i64
    }

    /// The wait before attempt `attempts + 1`: doubling from
    /// `retry_base_ms` up to `retry_max_ms`, jittered.
    fn retry_after_ms(&self, attempts: i32) -> u64 {
        let base = Duration::from_millis(self.config.retry_base_ms.max(10));
        let max = Duration::from_millis(self.config.retry_max_ms);
        let attempt = attempts.saturating_sub(1).max(0) as u32;
        jitter(backoff::window(base, max, attempt)).as_millis() as u64
    }
}

/// Runs the worker every `webhooks.poll_ms`.
pub fn spawn_worker(state: AppState, sender: Sender) -> JoinHandle<()> {
    spawn_every(
        "webhooks",
        sender.config.poll_ms,
        "webhook round failed",
        move || {
            let (state, sender) = (state.clone(), sender.clone());
            async move {
                for store in state.hosted.active() {
                    let span = store_span("webhooks", store);
                    if let Err(e) = send_store(&state, &sender, store)
                        .instrument(span.clone())
                        .await
                    {
                        let _in = span.entered();
                        tracing::warn!(error = %e, "webhook round failed");
                    }
                }
                Ok::<(), PodError>(())
            }
        },
    )
}

/// Sends the store's due deliveries, up to [`PER_STORE_ROUND`].
async fn send_store(state: &AppState, sender: &Sender, store: StoreId) -> Result<(), PodError> {
    for _ in 0..PER_STORE_ROUND {
        let Some(claimed) = claim(state, sender, store).await? else {
            return Ok(());
        };
        if !deliver(state, sender, store, claimed).await? {
            return Ok(());
        }
    }
    Ok(())
}

async fn claim(
    state: &AppState,
    sender: &Sender,
    store: StoreId,
) -> Result<Option<Claimed>, PodError> {
    let mut tx = state.db.begin().await?;
    if !tenancy::is_active_locked(&mut tx, store).await? {
        return Ok(None);
    }
    let claimed = sql::claim(&mut tx, store, 1, sender.lease_ms()).await?;
    tx.commit().await?;
    Ok(claimed.into_iter().next())
}

/// What one POST came to.
struct Sent {
    status: Option<u16>,
    error: Option<String>,
}

/// Sends one claimed delivery and records it; whether the store's round
/// goes on (false: fenced).
async fn deliver(
    state: &AppState,
    sender: &Sender,
    store: StoreId,
    claimed: Claimed,
) -> Result<bool, PodError> {
    let started = Instant::now();
    let sent = match sql::event(&state.db, store, claimed.event_id()).await? {
        None => Sent {
            status: None,
            error: Some("the event is not in the outbox".into()),
        },
        Some((occurred_at, payload)) => {
            let payload = model::webhook_data(payload);
            let body = Body {
                id: claimed.event_id,
                topic: &claimed.topic,
                store_id: store.as_uuid(),
                occurred_at,
                data: &payload,
            };
            let body = serde_json::to_vec(&body).map_err(PodError::internal)?;
            post(sender, store, &claimed, body).await
        }
    };
    let duration_ms = started.elapsed().as_millis() as i64;
    let delivered = sent.status.is_some_and(|s| (200..300).contains(&s));
    let (state_after, retry_after_ms) = if delivered {
        (DeliveryState::Delivered, None)
    } else {
        let after = sender.retry_after_ms(claimed.attempts);
        let give_up_at =
            claimed.retry_from + chrono::Duration::seconds(sender.config.max_age_secs as i64);
        let next = chrono::Utc::now() + chrono::Duration::milliseconds(after as i64);
        if next > give_up_at {
            (DeliveryState::Dead, None)
        } else {
            (DeliveryState::Pending, Some(after))
        }
    };
    let error = match (&sent.error, sent.status) {
        (Some(e), _) => Some(e.clone()),
        (None, Some(s)) if !delivered => Some(format!("answered {s}")),
        _ => None,
    };
    match state_after {
        DeliveryState::Delivered => tracing::info!(
            delivery_id = %claimed.delivery_id(), event_id = %claimed.event_id,
            topic = %claimed.topic, attempts = claimed.attempts, "webhook delivered"),
        DeliveryState::Pending => tracing::warn!(
            delivery_id = %claimed.delivery_id(), event_id = %claimed.event_id,
            topic = %claimed.topic, attempts = claimed.attempts, status = ?sent.status,
            error = ?error, retry_in_ms = ?retry_after_ms, "webhook not delivered; will retry"),
        _ => tracing::warn!(
            delivery_id = %claimed.delivery_id(), event_id = %claimed.event_id,
            topic = %claimed.topic, attempts = claimed.attempts, status = ?sent.status,
            error = ?error, "webhook not delivered; given up"),
    }
    let record = AttemptRecord {
        status_code: sent.status,
        error,
        duration_ms,
        retry_after_ms,
        state: state_after,
    };
    let mut tx = state.db.begin().await?;
    if !tenancy::is_active_locked(&mut tx, store).await? {
        return Ok(false);
    }
    match sql::record(
        &mut tx,
        store,
        &claimed,
        &record,
        sender.config.disable_after,
    )
    .await?
    {
        sql::Recorded::Lost => {}
        sql::Recorded::Kept(disabled) => {
            if let Some(off) = disabled {
                tracing::warn!(subscription = %claimed.subscription_id, reason = %off.reason, "webhook subscription disabled");
                if let Some(owner_email) = off.owner_email {
                    crate::events::record(
                        &mut tx,
                        store,
                        &mercato_tenants::events::Event::WebhookDisabled(
                            mercato_tenants::events::WebhookDisabled {
                                webhook_id: mercato_tenants::WebhookId::from_uuid(
                                    claimed.subscription_id,
                                ),
                                url: off.url,
                                reason: off.reason,
                                owner_email,
                            },
                        ),
                    )
                    .await?;
                }
            }
            tx.commit().await?;
        }
    }
    Ok(true)
}

/// POSTs `body` to the subscription's URL, at the address checked.
async fn post(sender: &Sender, store: StoreId, claimed: &Claimed, body: Vec<u8>) -> Sent {
    let failed = |error: String| Sent {
        status: None,
        error: Some(error),
    };
    let url = match reqwest::Url::parse(&claimed.url) {
        Ok(url) => url,
        Err(e) => return failed(format!("bad url: {e}")),
    };
    let (Some(host), Some(port)) = (url.host_str(), url.port_or_known_default()) else {
        return failed("the url has no host".into());
    };
    let allow_private = sender.config.allow_private_targets;
    let addr =
        match tokio::time::timeout(sender.timeout(), target::resolve(host, port, allow_private))
            .await
        {
            Ok(Ok(addr)) => addr,
            Ok(Err(e)) => return failed(e.to_string()),
            Err(_) => return failed(format!("resolving {host} timed out")),
        };
    let client = match reqwest::Client::builder()
        .resolve(host.trim_start_matches('[').trim_end_matches(']'), addr)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(sender.timeout())
        .no_proxy()
        .build()
    {
        Ok(client) => client,
        Err(e) => return failed(format!("http client: {e}")),
    };
    let timestamp = chrono::Utc::now().timestamp();
    let signature = model::sign(&claimed.secret, timestamp, &body);
    let sent = client
        .post(url)
        .header("content-type", "application/json")
        .header("user-agent", "Mercato-Webhooks/1")
        .header("x-mercato-event-id", claimed.event_id.to_string())
        .header("x-mercato-delivery-id", claimed.id.to_string())
        .header("x-mercato-topic", &claimed.topic)
        .header("x-mercato-store-id", store.to_string())
        .header("x-mercato-timestamp", timestamp.to_string())
        .header("x-mercato-signature", signature)
        .body(body)
        .send()
        .await;
    match sent {
        Ok(response) => Sent {
            status: Some(response.status().as_u16()),
            error: None,
        },
        Err(e) => failed(format!("no answer: {e}")),
    }
}
