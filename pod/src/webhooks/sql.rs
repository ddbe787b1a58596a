//! The SQL of `webhook_subscriptions`, `webhook_deliveries` and
//! `webhook_attempts`. Every statement filters on store_id.

use chrono::{DateTime, Utc};
use mercato_tenants::{EventId, StoreId, WebhookDeliveryId, WebhookId};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::model::{Topic, WebhookUrl};
use super::{Attempt, Delivery, DeliveryState, Subscription};

#[derive(sqlx::FromRow)]
struct SubscriptionRow {
    id: Uuid,
    url: String,
    topics: Vec<String>,
    enabled: bool,
    consecutive_failures: i32,
    disabled_reason: Option<String>,
    disabled_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<SubscriptionRow> for Subscription {
    fn from(r: SubscriptionRow) -> Self {
        Self {
            id: WebhookId::from_uuid(r.id),
            url: r.url,
            topics: r.topics.iter().filter_map(|t| Topic::parse(t)).collect(),
            enabled: r.enabled,
            consecutive_failures: r.consecutive_failures,
            disabled_reason: r.disabled_reason,
            disabled_at: r.disabled_at,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

const SUBSCRIPTION: &str = "id, url, topics, enabled, consecutive_failures, disabled_reason, \
                            disabled_at, created_at, updated_at";

fn names(topics: &[Topic]) -> Vec<&'static str> {
    topics.iter().map(|t| t.as_str()).collect()
}

/// Creates a subscription; the caller commits.
pub async fn create(
    conn: &mut PgConnection,
    store: StoreId,
    url: &WebhookUrl,
    topics: &[Topic],
    secret: &str,
) -> Result<Subscription, sqlx::Error> {
    let row: SubscriptionRow = sqlx::query_as(&format!(
        "INSERT INTO webhook_subscriptions (store_id, id, url, topics, secret)
         VALUES ($1, $2, $3, $4, $5) RETURNING {SUBSCRIPTION}"
    ))
    .bind(store.as_uuid())
    .bind(WebhookId::new().as_uuid())
    .bind(url.as_str())
    .bind(names(topics))
    .bind(secret)
    .fetch_one(conn)
    .await?;
    Ok(row.into())
}

/// The store's subscriptions, oldest first.
pub async fn list(db: &PgPool, store: StoreId) -> Result<Vec<Subscription>, sqlx::Error> {
    let rows: Vec<SubscriptionRow> = sqlx::query_as(&format!(
        "SELECT {SUBSCRIPTION} FROM webhook_subscriptions WHERE store_id = $1 ORDER BY id"
    ))
    .bind(store.as_uuid())
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(Into::into).collect())
}

pub async fn get(
    db: &PgPool,
    store: StoreId,
    id: WebhookId,
) -> Result<Option<Subscription>, sqlx::Error> {
    let row: Option<SubscriptionRow> = sqlx::query_as(&format!(
        "SELECT {SUBSCRIPTION} FROM webhook_subscriptions WHERE store_id = $1 AND id = $2"
    ))
    .bind(store.as_uuid())
    .bind(id.as_uuid())
    .fetch_optional(db)
    .await?;
    Ok(row.map(Into::into))
}

/// Changes what is given; enabling clears the failures and why it was
/// disabled. The caller commits.
pub async fn update(
    conn: &mut PgConnection,
    store: StoreId,
    id: WebhookId,
    url: Option<&WebhookUrl>,
    topics: Option<&[Topic]>,
    enabled: Option<bool>,
) -> Result<Option<Subscription>, sqlx::Error> {
    let row: Option<SubscriptionRow> = sqlx::query_as(&format!(
        "UPDATE webhook_subscriptions SET
             url = coalesce($3, url),
             topics = coalesce($4, topics),
             enabled = coalesce($5, enabled),
             consecutive_failures = CASE WHEN $5 THEN 0 ELSE consecutive_failures END,
             disabled_reason = CASE WHEN $5 THEN NULL
                                    WHEN $5 = false AND enabled THEN 'disabled by staff'
                                    ELSE disabled_reason END,
             disabled_at = CASE WHEN $5 THEN NULL
                                WHEN $5 = false AND enabled THEN now()
                                ELSE disabled_at END,
             updated_at = now()
          WHERE store_id = $1 AND id = $2 RETURNING {SUBSCRIPTION}"
    ))
    .bind(store.as_uuid())
    .bind(id.as_uuid())
    .bind(url.map(WebhookUrl::as_str))
    .bind(topics.map(names))
    .bind(enabled)
    .fetch_optional(conn)
    .await?;
    Ok(row.map(Into::into))
}

/// Deletes a subscription with its deliveries and their log; whether it
/// existed. The caller commits.
pub async fn delete(
    conn: &mut PgConnection,
    store: StoreId,
    id: WebhookId,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("DELETE FROM webhook_subscriptions WHERE store_id = $1 AND id = $2")
        .bind(store.as_uuid())
        .bind(id.as_uuid())
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Replaces the secret; whether the subscription exists. The caller
/// commits.
pub async fn rotate_secret(
    conn: &mut PgConnection,
    store: StoreId,
    id: WebhookId,
    secret: &str,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE webhook_subscriptions SET secret = $3, updated_at = now()
          WHERE store_id = $1 AND id = $2",
    )
    .bind(store.as_uuid())
    .bind(id.as_uuid())
    .bind(secret)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// A delivery the worker took, with what it needs to send it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Claimed {
    pub id: Uuid,
    pub subscription_id: Uuid,
    pub event_id: Uuid,
    pub topic: String,
    /// Attempts so far, this one included.
    pub attempts: i32,
    pub retry_from: DateTime<Utc>,
    pub url: String,
    pub secret: String,
}

impl Claimed {
    pub fn delivery_id(&self) -> WebhookDeliveryId {
        WebhookDeliveryId::from_uuid(self.id)
    }

    pub fn event_id(&self) -> EventId {
        EventId::from_uuid(self.event_id)
    }
}

/// Takes up to `limit` of the store's due deliveries of enabled
/// subscriptions (pending ones whose time came, sending ones whose lease
/// ran out), skipping rows others hold, and leases them for `lease_ms`.
pub async fn claim(
    conn: &mut PgConnection,
    store: StoreId,
    limit: i64,
    lease_ms: i64,
) -> Result<Vec<Claimed>, sqlx::Error> {
    let mut claimed: Vec<Claimed> = sqlx::query_as(
        "WITH due AS (
             SELECT d.id FROM webhook_deliveries d
               JOIN webhook_subscriptions s ON s.store_id = d.store_id AND s.id = d.subscription_id
              WHERE d.store_id = $1 AND d.state IN ('pending', 'sending')
                AND d.next_attempt_at <= now() AND s.enabled
              ORDER BY d.next_attempt_at, d.id
              LIMIT $2 FOR UPDATE OF d SKIP LOCKED)
         UPDATE webhook_deliveries d SET state = 'sending', attempts = d.attempts + 1,
                next_attempt_at = now() + make_interval(secs => $3)
           FROM due, webhook_subscriptions s
          WHERE d.store_id = $1 AND d.id = due.id
            AND s.store_id = d.store_id AND s.id = d.subscription_id
          RETURNING d.id, d.subscription_id, d.event_id, d.topic, d.attempts, d.retry_from,
                    s.url, s.secret",
    )
    .bind(store.as_uuid())
    .bind(limit)
    .bind(lease_ms as f64 / 1000.0)
    .fetch_all(conn)
    .await?;
    claimed.sort_by_key(|c| c.id);
    Ok(claimed)
}

/// The event a delivery carries: its type, when it happened, its payload.
pub async fn event(
    db: &PgPool,
    store: StoreId,
    event: EventId,
) -> Result<Option<(DateTime<Utc>, serde_json::Value)>, sqlx::Error> {
    sqlx::query_as("SELECT occurred_at, payload FROM outbox WHERE store_id = $1 AND id = $2")
        .bind(store.as_uuid())
        .bind(event.as_uuid())
        .fetch_optional(db)
        .await
}

/// How one attempt ended, for the log and the row.
#[derive(Debug, Clone)]
pub struct AttemptRecord {
    pub status_code: Option<u16>,
    pub error: Option<String>,
    pub duration_ms: i64,
    /// `Some(ms)`: pending again after `ms`; `None`: finished with `state`.
    pub retry_after_ms: Option<u64>,
    pub state: DeliveryState,
}

/// A subscription this attempt turned off, and whom to tell.
#[derive(Debug, Clone)]
pub struct JustDisabled {
    pub url: String,
    pub reason: String,
    /// The store owner's address; `None` if the store has no owner.
    pub owner_email: Option<String>,
}

/// What [`record`] did.
#[derive(Debug)]
pub enum Recorded {
    /// The row was no longer this worker's: nothing written.
    Lost,
    /// Written; `Some` when the subscription was disabled by it.
    Kept(Option<JustDisabled>),
}

/// Records an attempt of a claimed delivery: its log line, the row's new
/// state, and the subscription's run of failures (a delivery given up adds
/// one, and at `disable_after` disables it, saying why; a delivery made
/// clears it). The caller commits.
pub async fn record(
    conn: &mut PgConnection,
    store: StoreId,
    claimed: &Claimed,
    attempt: &AttemptRecord,
    disable_after: u32,
) -> Result<Recorded, sqlx::Error> {
    let error: Option<String> = attempt
        .error
        .as_deref()
        .map(|e| e.chars().take(500).collect());
    let done = sqlx::query(
        "UPDATE webhook_deliveries SET state = $3, last_status = $4, last_error = $5,
                next_attempt_at = CASE WHEN $6::bigint IS NULL THEN next_attempt_at
                                       ELSE now() + make_interval(secs => $6::bigint / 1000.0) END,
                finished_at = CASE WHEN $3 = 'pending' THEN NULL ELSE now() END
          WHERE store_id = $1 AND id = $2 AND state = 'sending' AND attempts = $7",
    )
    .bind(store.as_uuid())
    .bind(claimed.id)
    .bind(attempt.state.as_str())
    .bind(attempt.status_code.map(i32::from))
    .bind(error.as_deref())
    .bind(attempt.retry_after_ms.map(|ms| ms as i64))
    .bind(claimed.attempts)
    .execute(&mut *conn)
    .await?;
    if done.rows_affected() != 1 {
        return Ok(Recorded::Lost);
    }
    sqlx::query(
        "INSERT INTO webhook_attempts
             (store_id, delivery_id, attempt, status_code, error, duration_ms)
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
    )
    .bind(store.as_uuid())
    .bind(claimed.id)
    .bind(claimed.attempts)
    .bind(attempt.status_code.map(i32::from))
    .bind(error.as_deref())
    .bind(attempt.duration_ms.clamp(0, i64::from(i32::MAX)) as i32)
    .execute(&mut *conn)
    .await?;
    match attempt.state {
        DeliveryState::Delivered => {
            sqlx::query(
                "UPDATE webhook_subscriptions SET consecutive_failures = 0
                  WHERE store_id = $1 AND id = $2 AND consecutive_failures <> 0",
            )
            .bind(store.as_uuid())
            .bind(claimed.subscription_id)
            .execute(&mut *conn)
            .await?;
        }
        DeliveryState::Dead => {
            let turned_off: Option<(String, String)> = sqlx::query_as(
                "UPDATE webhook_subscriptions SET consecutive_failures = consecutive_failures + 1,
                        enabled = CASE WHEN $3 > 0 AND consecutive_failures + 1 >= $3 THEN false
                                       ELSE enabled END,
                        disabled_at = CASE WHEN enabled AND $3 > 0 AND consecutive_failures + 1 >= $3
                                           THEN now() ELSE disabled_at END,
                        disabled_reason = CASE
                            WHEN enabled AND $3 > 0 AND consecutive_failures + 1 >= $3
                            THEN left(format('%s deliveries in a row failed; the last: %s',
                                             consecutive_failures + 1, $4), 600)
                            ELSE disabled_reason END
                  WHERE store_id = $1 AND id = $2
                 RETURNING url, disabled_reason,
                           -- Turned off by this statement: now() is the time
                           -- of its transaction, older for an earlier disable.
                           NOT enabled AND disabled_at = now() AS just_disabled",
            )
            .bind(store.as_uuid())
            .bind(claimed.subscription_id)
            .bind(disable_after as i32)
            .bind(error.as_deref().unwrap_or("no answer"))
            .fetch_optional(&mut *conn)
            .await?
            .and_then(|(url, reason, just): (String, Option<String>, Option<bool>)| {
                just.unwrap_or(false).then(|| (url, reason.unwrap_or_default()))
            });
            if let Some((url, reason)) = turned_off {
                let owner_email: Option<(String,)> = sqlx::query_as(
                    "SELECT email FROM staff
                      WHERE store_id = $1 AND role = 'owner' AND disabled_at IS NULL
                      ORDER BY created_at LIMIT 1",
                )
                .bind(store.as_uuid())
                .fetch_optional(&mut *conn)
                .await?;
                return Ok(Recorded::Kept(Some(JustDisabled {
                    url,
                    reason,
                    owner_email: owner_email.map(|(e,)| e),
                })));
            }
        }
        DeliveryState::Pending | DeliveryState::Sending => {}
    }
    Ok(Recorded::Kept(None))
}

#[derive(sqlx::FromRow)]
struct DeliveryRow {
    id: Uuid,
    event_id: Uuid,
    topic: String,
    state: String,
    attempts: i32,
    next_attempt_at: DateTime<Utc>,
    created_at: DateTime<Utc>,
    finished_at: Option<DateTime<Utc>>,
    last_status: Option<i32>,
    last_error: Option<String>,
}

#[derive(sqlx::FromRow)]
struct AttemptRow {
    delivery_id: Uuid,
    attempt: i32,
    at: DateTime<Utc>,
    status_code: Option<i32>,
    error: Option<String>,
    duration_ms: i32,
}

/// The subscription's latest `limit` deliveries with their attempts,
/// newest first.
pub async fn deliveries(
    db: &PgPool,
    store: StoreId,
    subscription: WebhookId,
    limit: i64,
) -> Result<Vec<Delivery>, sqlx::Error> {
    let rows: Vec<DeliveryRow> = sqlx::query_as(
        "SELECT id, event_id, topic, state, attempts, next_attempt_at, created_at, finished_at,
                last_status, last_error
           FROM webhook_deliveries WHERE store_id = $1 AND subscription_id = $2
          ORDER BY created_at DESC, id DESC LIMIT $3",
    )
    .bind(store.as_uuid())
    .bind(subscription.as_uuid())
    .bind(limit)
    .fetch_all(db)
    .await?;
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    let attempts: Vec<AttemptRow> = sqlx::query_as(
        "SELECT delivery_id, attempt, at, status_code, error, duration_ms
           FROM webhook_attempts WHERE store_id = $1 AND delivery_id = ANY($2)
          ORDER BY delivery_id, attempt",
    )
    .bind(store.as_uuid())
    .bind(&ids)
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| Delivery {
            id: WebhookDeliveryId::from_uuid(r.id),
            event_id: EventId::from_uuid(r.event_id),
            topic: r.topic,
            state: DeliveryState::parse(&r.state),
            attempts: attempts
                .iter()
                .filter(|a| a.delivery_id == r.id)
                .map(|a| Attempt {
                    attempt: a.attempt,
                    at: a.at,
                    status_code: a.status_code,
                    error: a.error.clone(),
                    duration_ms: a.duration_ms,
                })
                .collect(),
            attempt_count: r.attempts,
            next_attempt_at: matches!(r.state.as_str(), "pending" | "sending")
                .then_some(r.next_attempt_at),
            created_at: r.created_at,
            finished_at: r.finished_at,
            last_status: r.last_status,
            last_error: r.last_error,
        })
        .collect())
}

/// What a redelivery found.
#[derive(Debug, PartialEq, Eq)]
pub enum Redelivered {
    Queued,
    NotFound,
    /// Still under way: it will be sent without asking.
    InFlight,
}

/// Puts a finished delivery back in the queue, due now, with the same
/// event; its retries start over. The caller commits.
pub async fn redeliver(
    conn: &mut PgConnection,
    store: StoreId,
    subscription: WebhookId,
    delivery: WebhookDeliveryId,
) -> Result<Redelivered, sqlx::Error> {
    let state: Option<(String,)> = sqlx::query_as(
        "SELECT state FROM webhook_deliveries
          WHERE store_id = $1 AND subscription_id = $2 AND id = $3 FOR UPDATE",
    )
    .bind(store.as_uuid())
    .bind(subscription.as_uuid())
    .bind(delivery.as_uuid())
    .fetch_optional(&mut *conn)
    .await?;
    match state.as_ref().map(|(s,)| s.as_str()) {
        None => return Ok(Redelivered::NotFound),
        Some("pending" | "sending") => return Ok(Redelivered::InFlight),
        Some(_) => {}
    }
    sqlx::query(
        "UPDATE webhook_deliveries SET state = 'pending', next_attempt_at = now(),
                retry_from = now(), finished_at = NULL
          WHERE store_id = $1 AND id = $2",
    )
    .bind(store.as_uuid())
    .bind(delivery.as_uuid())
    .execute(conn)
    .await?;
    Ok(Redelivered::Queued)
}
