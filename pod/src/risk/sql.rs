//! Every statement on `risk_attempts`, `risk_settings` and
//! `risk_assessments`; and, in [`screen_read`], the one read of `orders`
//! the decision needs (paid orders of the shopper before this checkout).
//! Every statement filters on `store_id`.

use mercato_tenants::{CheckoutId, StoreId};
use sqlx::{PgConnection, PgExecutor, PgPool};

use super::model::{Assessment, Counts, Outcome, Reason, RiskSettings};
use super::{AttemptOutcome, Keys};

/// Orders counted as "before" at most (the rule asks only whether there
/// was one).
const ORDERS_BEFORE_LIMIT: i64 = 10;

/// What [`screen_read`] finds.
#[derive(Debug, Clone)]
pub struct ScreenRead {
    pub settings: RiskSettings,
    /// The checkout's decision when it was screened before.
    pub earlier: Option<Assessment>,
    pub email: Counts,
    pub client: Counts,
    pub card: Counts,
    pub orders_before: u32,
}

type Row = (
    Option<serde_json::Value>,
    Option<String>,
    Option<i32>,
    Option<serde_json::Value>,
    i64,
    i64,
    i64,
    i64,
    i64,
    i64,
    i64,
);

/// In one statement: the store's settings, the checkout's earlier
/// decision, the attempts and declines of the last hour by email, client
/// address and card (other checkouts only), and the shopper's paid orders
/// before (by email or customer, up to [`ORDERS_BEFORE_LIMIT`]).
pub async fn screen_read(
    db: &PgPool,
    store: StoreId,
    checkout: CheckoutId,
    keys: &Keys,
    email: &str,
    customer: Option<uuid::Uuid>,
) -> Result<ScreenRead, sqlx::Error> {
    let row: Row = sqlx::query_as(
        "SELECT s.settings, a.outcome, a.score, a.reasons,
                e.attempts, e.declines, c.attempts, c.declines, k.attempts, k.declines, o.orders
           FROM (SELECT 1) AS one
           LEFT JOIN risk_settings s ON s.store_id = $1
           LEFT JOIN risk_assessments a ON a.store_id = $1 AND a.checkout_id = $2
          CROSS JOIN LATERAL (
                SELECT count(*) AS attempts, count(*) FILTER (WHERE outcome = 'declined') AS declines
                  FROM risk_attempts
                 WHERE store_id = $1 AND email_key = $3 AND at > now() - interval '1 hour'
                   AND checkout_id <> $2) e
          CROSS JOIN LATERAL (
                SELECT count(*) AS attempts, count(*) FILTER (WHERE outcome = 'declined') AS declines
                  FROM risk_attempts
                 WHERE store_id = $1 AND client_key = $4 AND at > now() - interval '1 hour'
                   AND checkout_id <> $2) c
          CROSS JOIN LATERAL (
                SELECT count(*) AS attempts, count(*) FILTER (WHERE outcome = 'declined') AS declines
                  FROM risk_attempts
                 WHERE store_id = $1 AND card_key = $5 AND at > now() - interval '1 hour'
                   AND checkout_id <> $2) k
          CROSS JOIN LATERAL (
                SELECT count(*) AS orders FROM (
                    (SELECT id FROM orders
                      WHERE store_id = $1 AND lower(email) = $6
                        AND checkout_id <> $2 AND captured_minor + gift_card_minor > 0
                      LIMIT $8)
                    UNION
                    (SELECT id FROM orders
                      WHERE store_id = $1 AND customer_id = $7
                        AND checkout_id <> $2 AND captured_minor + gift_card_minor > 0
                      LIMIT $8)) x) o",
    )
    .bind(store.as_uuid())
    .bind(checkout.as_uuid())
    .bind(keys.email.as_slice())
    .bind(keys.client.as_ref().map(|k| k.as_slice()))
    .bind(keys.card.as_ref().map(|k| k.as_slice()))
    .bind(email.to_lowercase())
    .bind(customer)
    .bind(ORDERS_BEFORE_LIMIT)
    .fetch_one(db)
    .await?;
    let (settings, outcome, score, reasons, ea, ed, ca, cd, ka, kd, orders) = row;
    let settings = match settings {
        Some(json) => serde_json::from_value(json).map_err(|e| sqlx::Error::Decode(e.into()))?,
        None => RiskSettings::default(),
    };
    let earlier = match (outcome, score, reasons) {
        (Some(outcome), Some(score), Some(reasons)) => Some(assessment(&outcome, score, reasons)?),
        _ => None,
    };
    let counts = |attempts: i64, declines: i64| Counts {
        attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
        declines: u32::try_from(declines).unwrap_or(u32::MAX),
    };
    Ok(ScreenRead {
        settings,
        earlier,
        email: counts(ea, ed),
        client: counts(ca, cd),
        card: counts(ka, kd),
        orders_before: u32::try_from(orders).unwrap_or(0),
    })
}

fn assessment(
    outcome: &str,
    score: i32,
    reasons: serde_json::Value,
) -> Result<Assessment, sqlx::Error> {
    let outcome = Outcome::parse(outcome)
        .ok_or_else(|| sqlx::Error::Decode(format!("unknown risk outcome {outcome:?}").into()))?;
    let reasons: Vec<Reason> =
        serde_json::from_value(reasons).map_err(|e| sqlx::Error::Decode(e.into()))?;
    Ok(Assessment {
        outcome,
        score: u32::try_from(score).unwrap_or(0),
        reasons,
    })
}

/// Records a checkout's attempt (again: its latest outcome wins); the
/// caller commits.
pub async fn record_attempt<'e>(
    exec: impl PgExecutor<'e>,
    store: StoreId,
    checkout: CheckoutId,
    keys: &Keys,
    outcome: AttemptOutcome,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO risk_attempts (store_id, checkout_id, email_key, client_key, card_key, outcome)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (store_id, checkout_id) DO UPDATE SET outcome = EXCLUDED.outcome",
    )
    .bind(store.as_uuid())
    .bind(checkout.as_uuid())
    .bind(keys.email.as_slice())
    .bind(keys.client.as_ref().map(|k| k.as_slice()))
    .bind(keys.card.as_ref().map(|k| k.as_slice()))
    .bind(outcome.as_str())
    .execute(exec)
    .await?;
    Ok(())
}

/// What [`keep`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kept {
    /// The decision and the attempt are written.
    New,
    /// The checkout had a decision already (a concurrent screen): nothing
    /// written; read it.
    Earlier,
    /// The store is not active here (the fence): nothing written.
    NotActive,
}

/// In one statement, so in one transaction and one round trip: the fence
/// (the store's `hosted_stores` row `FOR SHARE` while active, as
/// `tenancy::lock_active` takes it), the checkout's decision unless it has
/// one, and then its attempt with the decision's outcome.
pub async fn keep(
    db: &PgPool,
    store: StoreId,
    checkout: CheckoutId,
    assessment: &Assessment,
    keys: &Keys,
) -> Result<Kept, sqlx::Error> {
    let reasons =
        serde_json::to_value(&assessment.reasons).map_err(|e| sqlx::Error::Encode(e.into()))?;
    let (active, new): (bool, bool) = sqlx::query_as(
        "WITH fence AS (
             SELECT store_id FROM hosted_stores
              WHERE store_id = $1 AND state = 'active' FOR SHARE),
         new AS (
             INSERT INTO risk_assessments (store_id, checkout_id, outcome, score, reasons)
             SELECT store_id, $2, $3, $4, $5 FROM fence
             ON CONFLICT (store_id, checkout_id) DO NOTHING
             RETURNING store_id),
         attempt AS (
             INSERT INTO risk_attempts (store_id, checkout_id, email_key, client_key, card_key, outcome)
             SELECT store_id, $2, $6, $7, $8, $3 FROM new
             ON CONFLICT (store_id, checkout_id) DO UPDATE SET outcome = EXCLUDED.outcome)
         SELECT EXISTS (SELECT 1 FROM fence), EXISTS (SELECT 1 FROM new)",
    )
    .bind(store.as_uuid())
    .bind(checkout.as_uuid())
    .bind(assessment.outcome.as_str())
    .bind(i32::try_from(assessment.score).unwrap_or(i32::MAX))
    .bind(reasons)
    .bind(keys.email.as_slice())
    .bind(keys.client.as_ref().map(|k| k.as_slice()))
    .bind(keys.card.as_ref().map(|k| k.as_slice()))
    .fetch_one(db)
    .await?;
    Ok(match (active, new) {
        (false, _) => Kept::NotActive,
        (true, true) => Kept::New,
        (true, false) => Kept::Earlier,
    })
}

/// A checkout's decision, if it was screened.
pub async fn assessment_of(
    db: &PgPool,
    store: StoreId,
    checkout: CheckoutId,
) -> Result<Option<Assessment>, sqlx::Error> {
    let row: Option<(String, i32, serde_json::Value)> = sqlx::query_as(
        "SELECT outcome, score, reasons FROM risk_assessments
          WHERE store_id = $1 AND checkout_id = $2",
    )
    .bind(store.as_uuid())
    .bind(checkout.as_uuid())
    .fetch_optional(db)
    .await?;
    row.map(|(outcome, score, reasons)| assessment(&outcome, score, reasons))
        .transpose()
}

/// The decisions kept for `checkouts`, by checkout (one read for a list).
pub async fn assessments_of(
    db: &PgPool,
    store: StoreId,
    checkouts: &[CheckoutId],
) -> Result<std::collections::HashMap<CheckoutId, Assessment>, sqlx::Error> {
    let ids: Vec<uuid::Uuid> = checkouts.iter().map(|c| c.as_uuid()).collect();
    let rows: Vec<(uuid::Uuid, String, i32, serde_json::Value)> = sqlx::query_as(
        "SELECT checkout_id, outcome, score, reasons FROM risk_assessments
          WHERE store_id = $1 AND checkout_id = ANY($2)",
    )
    .bind(store.as_uuid())
    .bind(&ids)
    .fetch_all(db)
    .await?;
    rows.into_iter()
        .map(|(id, outcome, score, reasons)| {
            Ok((
                CheckoutId::from_uuid(id),
                assessment(&outcome, score, reasons)?,
            ))
        })
        .collect()
}

/// The store's settings (the defaults when it set none).
pub async fn settings(db: &PgPool, store: StoreId) -> Result<RiskSettings, sqlx::Error> {
    let row: Option<(serde_json::Value,)> =
        sqlx::query_as("SELECT settings FROM risk_settings WHERE store_id = $1")
            .bind(store.as_uuid())
            .fetch_optional(db)
            .await?;
    match row {
        Some((json,)) => serde_json::from_value(json).map_err(|e| sqlx::Error::Decode(e.into())),
        None => Ok(RiskSettings::default()),
    }
}

/// Sets the store's settings (validated by the caller); the caller commits.
pub async fn put_settings(
    conn: &mut PgConnection,
    store: StoreId,
    settings: &RiskSettings,
) -> Result<(), sqlx::Error> {
    let json = serde_json::to_value(settings).map_err(|e| sqlx::Error::Encode(e.into()))?;
    sqlx::query(
        "INSERT INTO risk_settings (store_id, settings) VALUES ($1, $2)
         ON CONFLICT (store_id) DO UPDATE SET settings = EXCLUDED.settings, updated_at = now()",
    )
    .bind(store.as_uuid())
    .bind(json)
    .execute(conn)
    .await?;
    Ok(())
}

/// Deletes up to `batch` of the store's attempts older than `older_than_secs`;
/// how many. The caller commits.
pub async fn prune(
    conn: &mut PgConnection,
    store: StoreId,
    older_than_secs: i64,
    batch: i64,
) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(
        "DELETE FROM risk_attempts
          WHERE store_id = $1 AND checkout_id IN (
                SELECT checkout_id FROM risk_attempts
                 WHERE store_id = $1 AND at < now() - make_interval(secs => $2)
                 LIMIT $3)",
    )
    .bind(store.as_uuid())
    .bind(older_than_secs as f64)
    .bind(batch)
    .execute(conn)
    .await?;
    Ok(done.rows_affected())
}
