//! The `checkouts` table: one row per saga. Every change of state is a
//! compare-and-set on the current state, so any number of drivers (the
//! shopper's request, a webhook, the recovery worker) can push the same
//! checkout and exactly one wins each step.

use chrono::{DateTime, Utc};
use mercato_tenants::{CartId, CheckoutId, CustomerId, OrderId, StoreId};
use sqlx::types::Json;
use sqlx::{PgExecutor, Postgres, Transaction};
use uuid::Uuid;

use crate::checkout::model::{Quote, SagaState, Step};

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
    /// The gateway's fingerprint of the card it authorized, if it gives one
    /// (what the risk screen counts the card by).
    pub card_fingerprint: Option<String>,
    pub order_id: Option<OrderId>,
    pub failure: Option<String>,
    pub outcome: Option<(u16, serde_json::Value)>,
    /// When a driver last moved it (or the recovery worker claimed it).
    pub updated_at: DateTime<Utc>,
    /// A guest checkout's cart token secret, hashed (sha256).
    pub cart_secret_hash: Option<Vec<u8>>,
    /// Where the shopper's request came from (the router's
    /// `x-forwarded-for`), for the risk screen.
    pub client_address: Option<String>,
}

impl Checkout {
    pub fn did(&self, step: Step) -> bool {
        self.steps.contains(&step)
    }
}

const COLUMNS: &str = "id, request_hash, cart_id, customer_id, state, steps, quote,
    payment_token, payment_id, order_id, failure, outcome_status, outcome, updated_at,
    cart_secret_hash, client_address, card_fingerprint";

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
    cart_secret_hash: Option<Vec<u8>>,
    client_address: Option<String>,
    card_fingerprint: Option<String>,
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
            card_fingerprint: self.card_fingerprint,
            order_id: self.order_id.map(OrderId::from_uuid),
            failure: self.failure,
            outcome: match (self.outcome_status, self.outcome) {
                (Some(s), Some(body)) => Some((u16::try_from(s).unwrap_or(500), body)),
                _ => None,
            },
            updated_at: self.updated_at,
            cart_secret_hash: self.cart_secret_hash,
            client_address: self.client_address,
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
    /// A guest's cart token secret, hashed.
    pub cart_secret_hash: Option<&'a [u8]>,
    pub client_address: Option<&'a str>,
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
             state, payment_token, steps, cart_secret_hash, client_address)
         VALUES ($1, $2, $3, $4, $5, $6, 'started', $7, '{}', $8, $9)
         ON CONFLICT (store_id, idempotency_key) DO NOTHING",
    )
    .bind(store.as_uuid())
    .bind(new.id.as_uuid())
    .bind(new.key)
    .bind(new.request_hash)
    .bind(new.cart_id.as_uuid())
    .bind(new.customer_id.map(|c| c.as_uuid()))
    .bind(new.payment_token)
    .bind(new.cart_secret_hash)
    .bind(new.client_address)
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
    pub card_fingerprint: Option<&'a str>,
    pub order_id: Option<OrderId>,
    /// The failure's code (`failure` column).
    pub failure: Option<&'a str>,
    /// The answer recorded for the shopper (and replays): status and body.
    pub outcome: Option<(u16, &'a serde_json::Value)>,
}

/// What a compare-and-set did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Advanced {
    /// The checkout moved to its new state.
    Moved,
    /// Another driver moved it first.
    Lost,
    /// The store is not active here (fenced for a move): nothing written.
    NotHere,
}

const SET_CHANGES: &str = "state = $4,
     steps = steps || ARRAY(SELECT s FROM unnest($5::text[]) AS s WHERE NOT s = ANY(steps)),
     quote = COALESCE($6, quote),
     payment_id = COALESCE($7, payment_id),
     order_id = COALESCE($8, order_id),
     failure = COALESCE($9, failure),
     outcome_status = COALESCE($10, outcome_status),
     outcome = COALESCE($11, outcome),
     card_fingerprint = COALESCE($12, card_fingerprint),
     updated_at = now()";

/// Binds `$4..$12` of a transition.
fn bind_changes<'q, O>(
    query: sqlx::query::QueryAs<'q, Postgres, O, sqlx::postgres::PgArguments>,
    to: SagaState,
    changes: &Changes<'q>,
    quote: Option<serde_json::Value>,
) -> sqlx::query::QueryAs<'q, Postgres, O, sqlx::postgres::PgArguments> {
    query
        .bind(to.as_str())
        .bind(changes.steps.iter().map(|s| s.as_str()).collect::<Vec<_>>())
        .bind(quote)
        .bind(changes.payment_id)
        .bind(changes.order_id.map(|o| o.as_uuid()))
        .bind(changes.failure)
        .bind(changes.outcome.map(|(s, _)| s as i16))
        .bind(changes.outcome.map(|(_, b)| b))
        .bind(changes.card_fingerprint)
}

fn quote_value(changes: &Changes<'_>) -> Result<Option<serde_json::Value>, sqlx::Error> {
    changes
        .quote
        .map(serde_json::to_value)
        .transpose()
        .map_err(|e| sqlx::Error::Encode(e.to_string().into()))
}

/// Compare-and-set inside the caller's transaction, which holds the fence:
/// moves the checkout from `from` to `to` (with `changes`) if it is still
/// in `from`. False when another driver moved it.
pub async fn advance<'e>(
    exec: impl PgExecutor<'e>,
    store: StoreId,
    id: CheckoutId,
    from: SagaState,
    to: SagaState,
    changes: Changes<'_>,
) -> Result<bool, sqlx::Error> {
    let quote = quote_value(&changes)?;
    let sql = format!(
        "UPDATE checkouts SET {SET_CHANGES}
         WHERE store_id = $1 AND id = $2 AND state = $3 RETURNING 1"
    );
    let query = sqlx::query_as::<_, (i32,)>(&sql)
        .bind(store.as_uuid())
        .bind(id.as_uuid())
        .bind(from.as_str());
    let moved = bind_changes(query, to, &changes, quote)
        .fetch_optional(exec)
        .await?;
    Ok(moved.is_some())
}

/// [`advance`] behind the fence in one statement: it holds the store's
/// `hosted_stores` row shared (as every tenant write does) and writes only
/// while the store is `active` here, so that no checkout row changes after
/// a move fenced the store. One round trip instead of a transaction's four.
pub async fn advance_fenced<'e>(
    exec: impl PgExecutor<'e>,
    store: StoreId,
    id: CheckoutId,
    from: SagaState,
    to: SagaState,
    changes: Changes<'_>,
) -> Result<Advanced, sqlx::Error> {
    let quote = quote_value(&changes)?;
    let sql = format!(
        "WITH fence AS (SELECT state FROM hosted_stores WHERE store_id = $1 FOR SHARE),
              moved AS (UPDATE checkouts SET {SET_CHANGES}
                         WHERE store_id = $1 AND id = $2 AND state = $3
                           AND (SELECT state FROM fence) = 'active'
                         RETURNING 1)
         SELECT (SELECT state FROM fence), (SELECT count(*) FROM moved)"
    );
    let query = sqlx::query_as::<_, (Option<String>, i64)>(&sql)
        .bind(store.as_uuid())
        .bind(id.as_uuid())
        .bind(from.as_str());
    let (state, moved) = bind_changes(query, to, &changes, quote)
        .fetch_one(exec)
        .await?;
    Ok(match (state.as_deref(), moved) {
        (Some("active"), 1) => Advanced::Moved,
        (Some("active"), _) => Advanced::Lost,
        _ => Advanced::NotHere,
    })
}

/// Up to `limit` checkouts of `store` in review for longer than
/// `window_secs` (staff did not decide: the recovery worker cancels them).
pub async fn overdue_reviews(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    window_secs: i64,
    limit: i64,
) -> Result<Vec<CheckoutId>, sqlx::Error> {
    let ids: Vec<(Uuid,)> = sqlx::query_as(
        "SELECT id FROM checkouts
          WHERE store_id = $1 AND state = 'review'
            AND updated_at < now() - $2 * interval '1 second'
          ORDER BY updated_at LIMIT $3
          FOR UPDATE SKIP LOCKED",
    )
    .bind(store.as_uuid())
    .bind(window_secs as f64)
    .bind(limit)
    .fetch_all(&mut **tx)
    .await?;
    Ok(ids
        .into_iter()
        .map(|(id,)| CheckoutId::from_uuid(id))
        .collect())
}

/// A page of the store's checkouts in review, oldest first.
pub async fn in_review<'e>(
    exec: impl PgExecutor<'e>,
    store: StoreId,
    limit: i64,
) -> Result<Vec<Checkout>, sqlx::Error> {
    let rows: Vec<Row> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM checkouts
          WHERE store_id = $1 AND state = 'review' ORDER BY updated_at LIMIT $2"
    ))
    .bind(store.as_uuid())
    .bind(limit)
    .fetch_all(exec)
    .await?;
    rows.into_iter().map(Row::into_checkout).collect()
}

/// How many of the store's checkouts wait for a risk review.
pub async fn count_in_review<'e>(
    exec: impl PgExecutor<'e>,
    store: StoreId,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT count(*) FROM checkouts WHERE store_id = $1 AND state = 'review'")
        .bind(store.as_uuid())
        .fetch_one(exec)
        .await
}

/// The checkout an order was made by.
pub async fn of_order<'e>(
    exec: impl PgExecutor<'e>,
    store: StoreId,
    order: OrderId,
) -> Result<Option<Checkout>, sqlx::Error> {
    let row: Option<Row> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM checkouts WHERE store_id = $1 AND order_id = $2"
    ))
    .bind(store.as_uuid())
    .bind(order.as_uuid())
    .fetch_optional(exec)
    .await?;
    row.map(Row::into_checkout).transpose()
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
             WHERE store_id = $1 AND state NOT IN ('completed', 'failed', 'review')
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
