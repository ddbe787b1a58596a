//! The SQL of `mail_deliveries` (the worker's claims and outcomes) and
//! `mail_settings` (a store's sender name and reply-to). Every statement
//! filters on store_id.

use mercato_tenants::{EventId, StoreId};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::{MailSettings, Outcome};

/// A delivery the worker took.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Claimed {
    pub event_id: EventId,
    /// Attempts so far, this one included.
    pub attempts: i32,
}

/// Gives up the store's deliveries older than `max_age_secs` that are not
/// sent yet (`expired`), and the ones whose worker died after writing the
/// message's end (`unknown`: the relay may have taken it, so never again).
pub async fn settle_lapsed(
    conn: &mut PgConnection,
    store: StoreId,
    max_age_secs: i64,
) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE mail_deliveries SET
             state = CASE WHEN state = 'sending' AND data_sent_at IS NOT NULL
                          THEN 'unknown' ELSE 'expired' END,
             finished_at = now(),
             last_error = CASE WHEN state = 'sending' AND data_sent_at IS NOT NULL
                               THEN 'the sender stopped after the message was written'
                               ELSE last_error END
          WHERE store_id = $1 AND state IN ('pending', 'sending') AND next_attempt_at <= now()
            AND ((state = 'sending' AND data_sent_at IS NOT NULL)
                 OR created_at < now() - make_interval(secs => $2))",
    )
    .bind(store.as_uuid())
    .bind(max_age_secs as f64)
    .execute(conn)
    .await?;
    Ok(done.rows_affected())
}

/// Takes up to `limit` of the store's due deliveries (pending ones whose
/// time came, and sending ones whose lease ran out before their message's
/// end was written), skipping rows others hold, and leases them for
/// `lease_ms`.
pub async fn claim(
    conn: &mut PgConnection,
    store: StoreId,
    limit: i64,
    lease_ms: i64,
) -> Result<Vec<Claimed>, sqlx::Error> {
    let rows: Vec<(Uuid, i32)> = sqlx::query_as(
        "UPDATE mail_deliveries d SET state = 'sending', attempts = d.attempts + 1,
                next_attempt_at = now() + make_interval(secs => $3)
          WHERE d.store_id = $1 AND d.event_id IN (
                SELECT event_id FROM mail_deliveries
                 WHERE store_id = $1 AND state IN ('pending', 'sending')
                   AND data_sent_at IS NULL AND next_attempt_at <= now()
                 ORDER BY next_attempt_at, event_id
                 LIMIT $2 FOR UPDATE SKIP LOCKED)
          RETURNING d.event_id, d.attempts",
    )
    .bind(store.as_uuid())
    .bind(limit)
    .bind(lease_ms as f64 / 1000.0)
    .fetch_all(conn)
    .await?;
    let mut claimed: Vec<Claimed> = rows
        .into_iter()
        .map(|(id, attempts)| Claimed {
            event_id: EventId::from_uuid(id),
            attempts,
        })
        .collect();
    claimed.sort_by_key(|c| c.event_id.as_uuid());
    Ok(claimed)
}

/// Records that the message's end is about to be written: from the
/// commit on, the delivery is never sent again. Whether the row was still
/// this worker's.
pub async fn mark_data_sent(
    conn: &mut PgConnection,
    store: StoreId,
    event: EventId,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE mail_deliveries SET data_sent_at = now()
          WHERE store_id = $1 AND event_id = $2 AND state = 'sending' AND data_sent_at IS NULL",
    )
    .bind(store.as_uuid())
    .bind(event.as_uuid())
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Records how a claimed delivery ended, or when to try it again.
pub async fn record(
    conn: &mut PgConnection,
    store: StoreId,
    event: EventId,
    outcome: &Outcome,
) -> Result<(), sqlx::Error> {
    let state = outcome.state();
    let (retry_ms, error) = match outcome {
        Outcome::Sent => (None, None),
        Outcome::Retry { after_ms, error } => (Some(*after_ms), Some(error.as_str())),
        Outcome::Failed(error) | Outcome::Unknown(error) | Outcome::Skipped(error) => {
            (None, Some(error.as_str()))
        }
    };
    let error: Option<String> = error.map(|e| e.chars().take(500).collect());
    sqlx::query(
        "UPDATE mail_deliveries SET state = $3, last_error = $5,
                next_attempt_at = CASE WHEN $4::bigint IS NULL THEN next_attempt_at
                                       ELSE now() + make_interval(secs => $4::bigint / 1000.0) END,
                data_sent_at = CASE WHEN $3 = 'pending' THEN NULL ELSE data_sent_at END,
                finished_at = CASE WHEN $3 = 'pending' THEN NULL ELSE now() END
          WHERE store_id = $1 AND event_id = $2 AND state = 'sending'",
    )
    .bind(store.as_uuid())
    .bind(event.as_uuid())
    .bind(state)
    .bind(retry_ms.map(|ms| ms as i64))
    .bind(error)
    .execute(conn)
    .await?;
    Ok(())
}

/// The store's sender name and reply-to address (both unset by default).
pub async fn settings(db: &PgPool, store: StoreId) -> Result<MailSettings, sqlx::Error> {
    let row: Option<(Option<String>, Option<String>, Option<i32>)> = sqlx::query_as(
        "SELECT sender_name, reply_to, abandoned_cart_hours FROM mail_settings WHERE store_id = $1",
    )
    .bind(store.as_uuid())
    .fetch_optional(db)
    .await?;
    let (sender_name, reply_to, abandoned_cart_hours) = row.unwrap_or_default();
    Ok(MailSettings {
        sender_name,
        reply_to,
        abandoned_cart_hours,
    })
}

/// Sets the store's mail settings; the caller commits.
pub async fn put_settings(
    conn: &mut PgConnection,
    store: StoreId,
    settings: &MailSettings,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO mail_settings (store_id, sender_name, reply_to, abandoned_cart_hours)
         VALUES ($1, $2, $3, $4)
         ON CONFLICT (store_id) DO UPDATE
            SET sender_name = EXCLUDED.sender_name, reply_to = EXCLUDED.reply_to,
                abandoned_cart_hours = EXCLUDED.abandoned_cart_hours, updated_at = now()",
    )
    .bind(store.as_uuid())
    .bind(settings.sender_name.as_deref())
    .bind(settings.reply_to.as_deref())
    .bind(settings.abandoned_cart_hours)
    .execute(conn)
    .await?;
    Ok(())
}

/// The stores that remind abandoned carts, with their hours.
pub async fn reminding_stores(db: &PgPool) -> Result<Vec<(StoreId, i32)>, sqlx::Error> {
    let rows: Vec<(uuid::Uuid, i32)> = sqlx::query_as(
        "SELECT store_id, abandoned_cart_hours FROM mail_settings
          WHERE abandoned_cart_hours IS NOT NULL",
    )
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(s, h)| (StoreId::from_uuid(s), h))
        .collect())
}
