//! The mail worker: for each store active on this pod, claim a due
//! delivery, render its event, send it, record the outcome.
//!
//! Every write takes the store's fence (`tenancy::is_active_locked`), so a
//! store being moved away is left alone mid-send and its target finishes
//! the work from the rows it received:
//!
//! 1. **claim** (one transaction): lapsed rows settled (`expired`, or
//!    `unknown` when a dead worker had written a message's end), then one
//!    due row taken `FOR UPDATE SKIP LOCKED` and leased (`sending`);
//! 2. **stage**: connect, `EHLO`, `MAIL`, `RCPT`, `DATA`, the message but
//!    its final dot. Refused here, nothing was sent: a `4xx` or an
//!    unreachable relay is retried with backoff (and the store's round
//!    ends, the relay being down), a `5xx` is `failed`;
//! 3. **mark** (one transaction): `data_sent_at`. If the fence or the
//!    lease is gone, hang up instead: the relay drops the message;
//! 4. **finish**: the dot, the verdict; **record** it (one transaction).
//!
//! A pod dying between 3 and 4 leaves a row that is never sent again
//! (`unknown` once its lease ends); dying before 3, one that is sent again
//! after its lease. So a mail goes out at most once per event, and a mail
//! the relay never took is not lost.

use std::time::Duration;

use mercato_tenants::backoff::{self, jitter};
use mercato_tenants::StoreId;
use tokio::task::JoinHandle;
use tracing::Instrument as _;

use super::model::{self, StoreFace};
use super::smtp::{self, Envelope, Refused, Relay, Verdict};
use super::sql::{self, Claimed};
use super::Outcome;
use crate::config::MailConfig;
use crate::error::PodError;
use crate::periodic::{spawn_every, store_span};
use crate::state::AppState;
use crate::{events, tenancy};

/// Mails one store sends per round before the next store's turn.
const PER_STORE_ROUND: usize = 50;

/// The relay and the settings of the worker.
#[derive(Clone, Debug)]
pub struct Mailer {
    relay: Relay,
    config: MailConfig,
}

impl Mailer {
    /// `None` when no relay is configured (no mail is sent); an error when
    /// the configuration is wrong.
    pub fn from_config(config: &MailConfig, helo: &str) -> Result<Option<Self>, smtp::BadUrl> {
        if config.smtp_url.trim().is_empty() {
            return Ok(None);
        }
        let relay = Relay::from_url(
            config.smtp_url.trim(),
            helo,
            Duration::from_millis(config.timeout_ms.max(100)),
        )?;
        Ok(Some(Self {
            relay,
            config: config.clone(),
        }))
    }

    /// The lease of a claimed row: longer than the whole SMTP conversation
    /// (six steps, each bounded by the timeout).
    fn lease_ms(&self) -> i64 {
        (self.config.timeout_ms.max(100) * 8) as i64
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

/// Abandoned carts one store reminds per sweep.
const REMINDERS_PER_SWEEP: i64 = 100;

/// Records the reminders of the stores that send them
/// (`cart::abandoned`); their mails go out with the next rounds.
async fn remind(state: &AppState) -> Result<(), PodError> {
    let active = state.hosted.active();
    for (store, hours) in sql::reminding_stores(&state.db).await? {
        if !active.contains(&store) {
            continue;
        }
        let span = store_span("abandoned carts", store);
        match crate::cart::abandoned::remind_store(state, store, hours, REMINDERS_PER_SWEEP)
            .instrument(span.clone())
            .await
        {
            Ok(0) => {}
            Ok(n) => tracing::info!(parent: &span, reminded = n, "abandoned carts reminded"),
            Err(e) => tracing::warn!(parent: &span, error = %e, "abandoned cart sweep failed"),
        }
    }
    Ok(())
}

/// Runs the worker every `mail.poll_ms`, and the abandoned-cart sweep every
/// `mail.abandoned_cart_poll_ms`.
pub fn spawn_worker(state: AppState, mailer: Mailer) -> JoinHandle<()> {
    let last_sweep = std::sync::Arc::new(std::sync::Mutex::new(None::<std::time::Instant>));
    spawn_every(
        "mail",
        mailer.config.poll_ms,
        "mail round failed",
        move || {
            let (state, mailer) = (state.clone(), mailer.clone());
            let last_sweep = last_sweep.clone();
            async move {
                let every = Duration::from_millis(mailer.config.abandoned_cart_poll_ms.max(100));
                let due = {
                    let mut last = last_sweep.lock().unwrap_or_else(|e| e.into_inner());
                    let due = last.is_none_or(|at| at.elapsed() >= every);
                    if due {
                        *last = Some(std::time::Instant::now());
                    }
                    due
                };
                if due {
                    remind(&state).await?;
                }
                for store in state.hosted.active() {
                    let span = store_span("mail", store);
                    if let Err(e) = send_store(&state, &mailer, store)
                        .instrument(span.clone())
                        .await
                    {
                        let _in = span.entered();
                        tracing::warn!(error = %e, "mail round failed");
                    }
                }
                Ok::<(), PodError>(())
            }
        },
    )
}

/// What became of one claimed delivery, for the store's round.
enum Step {
    Done,
    /// The relay is unreachable or busy: the store's other mails wait.
    RelayDown,
    /// The store is no longer active here (or the row was taken over).
    Fenced,
}

/// Sends the store's due mails, up to [`PER_STORE_ROUND`].
async fn send_store(state: &AppState, mailer: &Mailer, store: StoreId) -> Result<(), PodError> {
    for _ in 0..PER_STORE_ROUND {
        let Some(claimed) = claim(state, mailer, store).await? else {
            return Ok(());
        };
        match deliver(state, mailer, store, claimed).await? {
            Step::Done => {}
            Step::RelayDown | Step::Fenced => return Ok(()),
        }
    }
    Ok(())
}

async fn claim(
    state: &AppState,
    mailer: &Mailer,
    store: StoreId,
) -> Result<Option<Claimed>, PodError> {
    let mut tx = state.db.begin().await?;
    if !tenancy::is_active_locked(&mut tx, store).await? {
        return Ok(None);
    }
    let lapsed = sql::settle_lapsed(&mut tx, store, mailer.config.max_age_secs as i64).await?;
    if lapsed > 0 {
        tracing::warn!(
            lapsed,
            "mail deliveries given up (too old, or maybe sent by a worker that died)"
        );
    }
    let claimed = sql::claim(&mut tx, store, 1, mailer.lease_ms()).await?;
    tx.commit().await?;
    Ok(claimed.into_iter().next())
}

async fn deliver(
    state: &AppState,
    mailer: &Mailer,
    store: StoreId,
    claimed: Claimed,
) -> Result<Step, PodError> {
    let event_id = claimed.event_id;
    let Some(hosted) = state.hosted.get(store) else {
        return Ok(Step::Fenced);
    };
    let settings = sql::settings(&state.db, store).await?;
    let face = StoreFace {
        name: hosted.name.clone(),
        url: mailer
            .config
            .store_url
            .replace("{handle}", &hosted.handle)
            .trim_end_matches('/')
            .to_owned(),
    };
    let rendered = match events::read(&state.db, store, event_id).await? {
        None => Err("the event is not in the outbox".to_owned()),
        Some(Err(unreadable)) => Err(unreadable),
        // A bought gift card's code is not in its event: the card keeps
        // it for this mail (cleared by a trigger once the mail is written).
        Some(Ok(mercato_tenants::events::Event::GiftCardIssued(issued))) => {
            match crate::gift_cards::sql::pending_code(&state.db, store, event_id).await? {
                Some(code) => Ok((
                    mercato_tenants::events::EventType::GiftCardIssued,
                    model::render_gift_card(&face, &issued, &grouped(&code)),
                )),
                None => Err("the gift card's code is no longer kept".to_owned()),
            }
        }
        Some(Ok(event)) => model::render(&face, &event)
            .map(|mail| (event.event_type(), mail))
            .ok_or_else(|| format!("{} mails nobody", event.event_type())),
    };
    let (kind, mail) = match rendered {
        Ok(rendered) => rendered,
        Err(why) => {
            return record(state, store, event_id, Outcome::Skipped(why)).await;
        }
    };
    let sender_name = settings.sender_name.as_deref().unwrap_or(&hosted.name);
    let message = smtp::compose(
        &Envelope {
            from_address: &mailer.config.from_address,
            sender_name,
            reply_to: settings.reply_to.as_deref(),
            event_id: event_id.as_uuid(),
            date: chrono::Utc::now(),
        },
        &mail,
    );
    let retry = |error: String| Outcome::Retry {
        after_ms: mailer.retry_after_ms(claimed.attempts),
        error,
    };
    let outcome = match mailer
        .relay
        .stage(&mailer.config.from_address, &mail.to, &message)
        .await
    {
        Err(Refused::Transient(e)) => retry(e),
        Err(Refused::Permanent(e)) => Outcome::Failed(e),
        Ok(staged) => {
            let mut tx = state.db.begin().await?;
            let ours = tenancy::is_active_locked(&mut tx, store).await?
                && sql::mark_data_sent(&mut tx, store, event_id).await?;
            if !ours {
                drop(tx);
                staged.abandon().await;
                return Ok(Step::Fenced);
            }
            tx.commit().await?;
            match staged.finish().await {
                Verdict::Taken => Outcome::Sent,
                Verdict::Refused(Refused::Transient(e)) => retry(e),
                Verdict::Refused(Refused::Permanent(e)) => Outcome::Failed(e),
                Verdict::Unknown(e) => Outcome::Unknown(e),
            }
        }
    };
    match &outcome {
        Outcome::Sent => {
            tracing::info!(event_id = %event_id, kind = %kind, attempts = claimed.attempts, "mail sent")
        }
        Outcome::Retry { after_ms, error } => {
            tracing::warn!(event_id = %event_id, kind = %kind, attempts = claimed.attempts, retry_in_ms = after_ms, error = %error, "mail not taken by the relay; will retry")
        }
        Outcome::Failed(error) | Outcome::Unknown(error) | Outcome::Skipped(error) => {
            tracing::warn!(event_id = %event_id, kind = %kind, error = %error, outcome = outcome.state(), "mail not sent; given up")
        }
    }
    let relay_down = matches!(outcome, Outcome::Retry { .. });
    match record(state, store, event_id, outcome).await? {
        Step::Done if relay_down => Ok(Step::RelayDown),
        step => Ok(step),
    }
}

/// A kept gift card code as its holder reads it (`ABCD-EFGH-...`).
fn grouped(code: &str) -> String {
    crate::gift_cards::Code::parse(code)
        .map(|c| c.grouped())
        .unwrap_or_else(|| code.to_owned())
}

/// Records `outcome` under the fence.
async fn record(
    state: &AppState,
    store: StoreId,
    event_id: mercato_tenants::EventId,
    outcome: Outcome,
) -> Result<Step, PodError> {
    let mut tx = state.db.begin().await?;
    if !tenancy::is_active_locked(&mut tx, store).await? {
        return Ok(Step::Fenced);
    }
    sql::record(&mut tx, store, event_id, &outcome).await?;
    tx.commit().await?;
    Ok(Step::Done)
}
