//! The `checkouts` table: one row per saga. Every change of state is a
//! compare-and-set on the current state, so any number of drivers (the
//! shopper's request, a webhook, the recovery worker) can push the same
//! checkout and exactly one wins each step.

use chrono::{DateTime, Utc};
use mercato_tenants::{CartId, CheckoutId, CustomerId, OrderId, StoreId};
use sqlx::types::Json;
use sqlx::{PgExecutor, Postgres, Transaction};
use uuid::Uuid;

use super::model::{Quote, SagaState, Step};

/// A checkout row.
#[derive(Debug, Clone)]
pub struct Checkout {
    pub id: CheckoutId,
    pub request_hash: Vec<u8>,
    pub cart_id: CartId,
    pub customer_id: Option<CustomerId>,
    pub state: SagaState,
    pub steps: Vec<Step>,
    pub quote: Option<Quote>,
    pub payment_token: String,
    pub payment_id: Option<String>,
    pub order_id: Option<OrderId>,
    pub failure: Option<String>,
    pub outcome: Option<(u16, serde_json::Value)>,
    /// When a driver last moved it (or the recovery worker claimed it).
    pub updated_at: DateTime<Utc>,
}

impl Checkout {
    pub fn did(&self, step: Step) -> bool {
        self.steps.contains(&step)
    }
}

const COLUMNS: &str = "id, request_hash, cart_id, customer_id, state, steps, quote,
    payment_token, payment_id, order_id, failure, outcome_status, outcome, updated_at";

#[derive(sqlx::FromRow)]
struct Row {
    id: Uuid,
    request_hash: Vec<u8>,
    cart_id: Uuid,
    customer_id: Option<Uuid>,
    state: String,
    steps: Vec<String>,
    quote: Option<Json<Quote>>,
    payment_token: String,
    payment_id: Option<String>,
    order_id: Option<Uuid>,
    failure: Option<String>,
    outcome_status: Option<i16>,
    outcome: Option<serde_json::Value>,
    updated_at: DateTime<Utc>,
}

impl Row {
    fn into_checkout(self) -> Result<Checkout, sqlx::Error> {
        let state = SagaState::parse(&self.state)
            .ok_or_else(|| sqlx::Error::Decode(format!("checkout state {}", self.state).into()))?;
        let steps = self
            .steps
            .iter()
            .map(|raw| {
                Step::parse(raw)
                    .ok_or_else(|| sqlx::Error::Decode(format!("checkout step {raw}").into()))
            })
            .collect::<Result<_, _>>()?;
        Ok(Checkout {
            id: CheckoutId::from_uuid(self.id),
            request_hash: self.request_hash,
            cart_id: CartId::from_uuid(self.cart_id),
            customer_id: self.customer_id.map(CustomerId::from_uuid),
            state,
            steps,
            quote: self.quote.map(|q| q.0),
            payment_token: self.payment_token,
            payment_id: self.payment_id,
            order_id: self.order_id.map(OrderId::from_uuid),
            failure: self.failure,
            outcome: match (self.outcome_status, self.outcome) {
                (Some(s), Some(body)) => Some((u16::try_from(s).unwrap_or(500), body)),
                _ => None,
            },
            updated_at: self.updated_at,
        })
    }
}

/// What a new checkout row records before any work.
pub struct NewCheckout<'a> {
    pub id: CheckoutId,
    pub key: &'a str,
    pub request_hash: &'a [u8],
    pub cart_id: CartId,
    pub customer_id: Option<CustomerId>,
    pub payment_token: &'a str,
}

/// Records the checkout under its idempotency key; false if the key is
/// already taken (the caller then reads that checkout).
pub async fn insert<'e>(
    exec: impl PgExecutor<'e>,
    store: StoreId,
    new: &NewCheckout<'_>,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "INSERT INTO checkouts (store_id, id, idempotency_key, request_hash, cart_id, customer_id,
             state, payment_token, steps)
         VALUES ($1, $2, $3, $4, $5, $6, 'started', $7, '{}')
         ON CONFLICT (store_id, idempotency_key) DO NOTHING",
    )
    .bind(store.as_uuid())
    .bind(new.id.as_uuid())
    .bind(new.key)
    .bind(new.request_hash)
    .bind(new.cart_id.as_uuid())
    .bind(new.customer_id.map(|c| c.as_uuid()))
    .bind(new.payment_token)
    .execute(exec)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn by_key<'e>(
    exec: impl PgExecutor<'e>,
    store: StoreId,
    key: &str,
) -> Result<Option<Checkout>, sqlx::Error> {
    let sql =
        format!("SELECT {COLUMNS} FROM checkouts WHERE store_id = $1 AND idempotency_key = $2");
    let row: Option<Row> = sqlx::query_as(&sql)
        .bind(store.as_uuid())
        .bind(key)
        .fetch_optional(exec)
        .await?;
    row.map(Row::into_checkout).transpose()
}

/// One checkout; `for_update` locks its row until the transaction ends.
pub async fn get<'e>(
    exec: impl PgExecutor<'e>,
    store: StoreId,
    id: CheckoutId,
    for_update: bool,
) -> Result<Option<Checkout>, sqlx::Error> {
    let sql = format!(
        "SELECT {COLUMNS} FROM checkouts WHERE store_id = $1 AND id = $2{}",
        if for_update { " FOR UPDATE" } else { "" }
    );
    let row: Option<Row> = sqlx::query_as(&sql)
        .bind(store.as_uuid())
        .bind(id.as_uuid())
        .fetch_optional(exec)
        .await?;
    row.map(Row::into_checkout).transpose()
}

/// The fields a transition may set besides the state.
#[derive(Default)]
pub struct Changes<'a> {
    /// Steps to add to the steps done (each once).
    pub steps: &'a [Step],
    pub quote: Option<&'a Quote>,
    pub payment_id: Option<&'a str>,
    pub order_id: Option<OrderId>,
    /// The failure's code (`failure` column).
    pub failure: Option<&'a str>,
    /// The answer recorded for the shopper (and replays): status and body.
    pub outcome: Option<(u16, &'a serde_json::Value)>,
}

/// Compare-and-set: moves the checkout from `from` to `to` (with
/// `changes`) if it is still in `from`. False when another driver moved it.
pub async fn advance<'e>(
    exec: impl PgExecutor<'e>,
    store: StoreId,
    id: CheckoutId,
    from: SagaState,
    to: SagaState,
    changes: Changes<'_>,
) -> Result<bool, sqlx::Error> {
    let quote = changes
        .quote
        .map(serde_json::to_value)
        .transpose()
        .map_err(|e| sqlx::Error::Encode(e.to_string().into()))?;
    let done = sqlx::query(
        "UPDATE checkouts SET
             state = $4,
             steps = steps || ARRAY(SELECT s FROM unnest($5::text[]) AS s
                                    WHERE NOT s = ANY(steps)),
             quote = COALESCE($6, quote),
             payment_id = COALESCE($7, payment_id),
             order_id = COALESCE($8, order_id),
             failure = COALESCE($9, failure),
             outcome_status = COALESCE($10, outcome_status),
             outcome = COALESCE($11, outcome),
             updated_at = now()
         WHERE store_id = $1 AND id = $2 AND state = $3",
    )
    .bind(store.as_uuid())
    .bind(id.as_uuid())
    .bind(from.as_str())
    .bind(to.as_str())
    .bind(changes.steps.iter().map(|s| s.as_str()).collect::<Vec<_>>())
    .bind(quote)
    .bind(changes.payment_id)
    .bind(changes.order_id.map(|o| o.as_uuid()))
    .bind(changes.failure)
    .bind(changes.outcome.map(|(s, _)| s as i16))
    .bind(changes.outcome.map(|(_, b)| b))
    .execute(exec)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Claims up to `limit` unfinished checkouts of `store` untouched for
/// `stuck_after_ms`, touching them so that other workers skip them for as
/// long again.
pub async fn claim_stuck(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    stuck_after_ms: i64,
    limit: i64,
) -> Result<Vec<CheckoutId>, sqlx::Error> {
    let ids: Vec<(Uuid,)> = sqlx::query_as(
        "UPDATE checkouts SET updated_at = now(), attempts = attempts + 1
         WHERE store_id = $1 AND id IN (
             SELECT id FROM checkouts
             WHERE store_id = $1 AND state NOT IN ('completed', 'failed')
               AND updated_at < now() - $2 * interval '1 millisecond'
             ORDER BY updated_at LIMIT $3
             FOR UPDATE SKIP LOCKED)
         RETURNING id",
    )
    .bind(store.as_uuid())
    .bind(stuck_after_ms as f64)
    .bind(limit)
    .fetch_all(&mut **tx)
    .await?;
    Ok(ids
        .into_iter()
        .map(|(id,)| CheckoutId::from_uuid(id))
        .collect())
}
