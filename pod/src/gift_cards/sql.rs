//! The SQL of `gift_cards` and `gift_card_transactions`. Every query
//! filters on store_id.

use chrono::{DateTime, Utc};
use mercato_tenants::{
    CheckoutId, Currency, CustomerId, EventId, GiftCardId, OrderId, RefundId, StoreId,
};
use serde::Serialize;
use sqlx::{PgConnection, PgExecutor};
use uuid::Uuid;

use super::model::{GiftCard, Source, Status};

const COLUMNS: &str = "id, last4, currency, initial_minor, balance_minor, expires_at, customer_id,
     disabled_at, source, order_id, note, created_at, updated_at";

#[derive(sqlx::FromRow)]
struct Row {
    id: Uuid,
    last4: String,
    currency: String,
    initial_minor: i64,
    balance_minor: i64,
    expires_at: Option<DateTime<Utc>>,
    customer_id: Option<Uuid>,
    disabled_at: Option<DateTime<Utc>>,
    source: String,
    order_id: Option<Uuid>,
    note: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

fn decode(what: &str, value: &str) -> sqlx::Error {
    sqlx::Error::Decode(format!("gift card {what} {value}").into())
}

impl TryFrom<Row> for GiftCard {
    type Error = sqlx::Error;
    fn try_from(r: Row) -> Result<Self, Self::Error> {
        Ok(GiftCard {
            id: GiftCardId::from_uuid(r.id),
            last4: r.last4,
            currency: Currency::parse(&r.currency).map_err(|_| decode("currency", &r.currency))?,
            initial_minor: r.initial_minor,
            balance_minor: r.balance_minor,
            expires_at: r.expires_at,
            customer_id: r.customer_id.map(CustomerId::from_uuid),
            disabled_at: r.disabled_at,
            source: Source::parse(&r.source).ok_or_else(|| decode("source", &r.source))?,
            order_id: r.order_id.map(OrderId::from_uuid),
            note: r.note,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

fn cards(rows: Vec<Row>) -> Result<Vec<GiftCard>, sqlx::Error> {
    rows.into_iter().map(GiftCard::try_from).collect()
}

/// A new card, with its `issue` row.
pub(crate) struct NewCard<'a> {
    pub id: GiftCardId,
    pub code_sha256: [u8; 32],
    pub last4: &'a str,
    pub currency: Currency,
    pub amount_minor: i64,
    pub expires_at: Option<DateTime<Utc>>,
    pub customer: Option<CustomerId>,
    pub source: Source,
    pub order: Option<(OrderId, i32)>,
    pub note: Option<&'a str>,
    /// A bought card's code until its mail is written, and that mail's
    /// event.
    pub pending: Option<(&'a str, EventId)>,
    pub actor: &'a str,
}

pub(crate) async fn insert(
    conn: &mut PgConnection,
    store: StoreId,
    new: &NewCard<'_>,
) -> Result<GiftCard, sqlx::Error> {
    let sql = format!(
        "INSERT INTO gift_cards (store_id, id, code_sha256, last4, currency, initial_minor,
             balance_minor, expires_at, customer_id, source, order_id, order_unit, note,
             pending_code, mail_event_id)
         VALUES ($1, $2, $3, $4, $5, $6, $6, $7, $8, $9, $10, $11, $12, $13, $14)
         RETURNING {COLUMNS}"
    );
    let row: Row = sqlx::query_as(&sql)
        .bind(store.as_uuid())
        .bind(new.id.as_uuid())
        .bind(new.code_sha256.as_slice())
        .bind(new.last4)
        .bind(new.currency.as_str())
        .bind(new.amount_minor)
        .bind(new.expires_at)
        .bind(new.customer.map(|c| c.as_uuid()))
        .bind(new.source.as_str())
        .bind(new.order.map(|o| o.0.as_uuid()))
        .bind(new.order.map(|o| o.1))
        .bind(new.note)
        .bind(new.pending.map(|p| p.0))
        .bind(new.pending.map(|p| p.1.as_uuid()))
        .fetch_one(&mut *conn)
        .await?;
    insert_transaction(
        conn,
        store,
        &NewTransaction {
            card: new.id,
            kind: Kind::Issue,
            amount_minor: new.amount_minor,
            balance_after: new.amount_minor,
            key: None,
            reverses_key: None,
            checkout: None,
            order: new.order.map(|o| o.0),
            refund: None,
            reason: None,
            actor: new.actor,
        },
    )
    .await?;
    row.try_into()
}

/// One card, locked `FOR UPDATE` when `lock`.
pub(crate) async fn get<'e>(
    exec: impl PgExecutor<'e>,
    store: StoreId,
    id: GiftCardId,
    lock: bool,
) -> Result<Option<GiftCard>, sqlx::Error> {
    let sql = format!(
        "SELECT {COLUMNS} FROM gift_cards WHERE store_id = $1 AND id = $2{}",
        if lock { " FOR UPDATE" } else { "" }
    );
    let row: Option<Row> = sqlx::query_as(&sql)
        .bind(store.as_uuid())
        .bind(id.as_uuid())
        .fetch_optional(exec)
        .await?;
    row.map(GiftCard::try_from).transpose()
}

/// The card whose code hashes to `sha256`.
pub(crate) async fn by_code<'e>(
    exec: impl PgExecutor<'e>,
    store: StoreId,
    sha256: &[u8; 32],
) -> Result<Option<GiftCard>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM gift_cards WHERE store_id = $1 AND code_sha256 = $2");
    let row: Option<Row> = sqlx::query_as(&sql)
        .bind(store.as_uuid())
        .bind(sha256.as_slice())
        .fetch_optional(exec)
        .await?;
    row.map(GiftCard::try_from).transpose()
}

/// A page of the store's cards, newest first, before `before`.
pub(crate) async fn list<'e>(
    exec: impl PgExecutor<'e>,
    store: StoreId,
    status: Option<Status>,
    customer: Option<CustomerId>,
    before: Option<GiftCardId>,
    limit: i64,
) -> Result<Vec<GiftCard>, sqlx::Error> {
    let sql = format!(
        "SELECT {COLUMNS} FROM gift_cards
          WHERE store_id = $1
            AND ($2::uuid IS NULL OR customer_id = $2)
            AND ($3::uuid IS NULL OR id < $3)
            AND CASE $4::text
                  WHEN 'disabled' THEN disabled_at IS NOT NULL
                  WHEN 'expired' THEN disabled_at IS NULL AND expires_at <= now()
                  WHEN 'active' THEN disabled_at IS NULL AND (expires_at IS NULL OR expires_at > now())
                  ELSE true END
          ORDER BY id DESC LIMIT $5"
    );
    let rows: Vec<Row> = sqlx::query_as(&sql)
        .bind(store.as_uuid())
        .bind(customer.map(|c| c.as_uuid()))
        .bind(before.map(|b| b.as_uuid()))
        .bind(status.map(Status::as_str))
        .bind(limit)
        .fetch_all(exec)
        .await?;
    cards(rows)
}

/// What a staff edit changes; `None` keeps. `Some(None)` clears.
pub(crate) struct Edit<'a> {
    pub note: Option<Option<&'a str>>,
    pub expires_at: Option<Option<DateTime<Utc>>>,
    pub customer: Option<Option<CustomerId>>,
    pub disabled: Option<bool>,
}

pub(crate) async fn update(
    conn: &mut PgConnection,
    store: StoreId,
    id: GiftCardId,
    edit: &Edit<'_>,
) -> Result<Option<GiftCard>, sqlx::Error> {
    let sql = format!(
        "UPDATE gift_cards SET
             note = CASE WHEN $3 THEN $4 ELSE note END,
             expires_at = CASE WHEN $5 THEN $6 ELSE expires_at END,
             customer_id = CASE WHEN $7 THEN $8 ELSE customer_id END,
             disabled_at = CASE WHEN $9::boolean IS NULL THEN disabled_at
                                WHEN $9 THEN coalesce(disabled_at, now())
                                ELSE NULL END,
             updated_at = now()
          WHERE store_id = $1 AND id = $2
          RETURNING {COLUMNS}"
    );
    let row: Option<Row> = sqlx::query_as(&sql)
        .bind(store.as_uuid())
        .bind(id.as_uuid())
        .bind(edit.note.is_some())
        .bind(edit.note.flatten())
        .bind(edit.expires_at.is_some())
        .bind(edit.expires_at.flatten())
        .bind(edit.customer.is_some())
        .bind(edit.customer.flatten().map(|c| c.as_uuid()))
        .bind(edit.disabled)
        .fetch_optional(conn)
        .await?;
    row.map(GiftCard::try_from).transpose()
}

/// Adds `delta` to the balance if it stays within `0..=max`: one
/// conditional statement, exact under concurrency (the row lock orders
/// racing ones and each sees the balance the one before left). The new
/// balance, or `None` when it would leave the range.
pub(crate) async fn change_balance(
    conn: &mut PgConnection,
    store: StoreId,
    id: GiftCardId,
    delta: i64,
    max: i64,
) -> Result<Option<i64>, sqlx::Error> {
    let row: Option<(i64,)> = sqlx::query_as(
        "UPDATE gift_cards SET balance_minor = balance_minor + $3, updated_at = now()
          WHERE store_id = $1 AND id = $2 AND balance_minor + $3 BETWEEN 0 AND $4
          RETURNING balance_minor",
    )
    .bind(store.as_uuid())
    .bind(id.as_uuid())
    .bind(delta)
    .bind(max)
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|(b,)| b))
}

/// A ledger row's kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = GiftCardTransactionKind)]
pub enum Kind {
    Issue,
    Debit,
    Credit,
    Adjust,
}

impl Kind {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Issue => "issue",
            Self::Debit => "debit",
            Self::Credit => "credit",
            Self::Adjust => "adjust",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        [Self::Issue, Self::Debit, Self::Credit, Self::Adjust]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

/// One row of a card's ledger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[schema(as = GiftCardTransaction)]
pub struct Transaction {
    #[schema(value_type = String, format = Uuid)]
    pub id: Uuid,
    pub kind: Kind,
    /// What the balance changed by (negative: taken).
    pub amount_minor: i64,
    pub balance_after: i64,
    #[schema(value_type = Option<String>, format = Uuid)]
    pub checkout_id: Option<CheckoutId>,
    #[schema(value_type = Option<String>, format = Uuid)]
    pub order_id: Option<OrderId>,
    #[schema(value_type = Option<String>, format = Uuid)]
    pub refund_id: Option<RefundId>,
    pub reason: Option<String>,
    /// `staff:<id>`, `checkout` or `system`.
    pub actor: String,
    pub created_at: DateTime<Utc>,
    /// The key that made it (not shown).
    #[serde(skip)]
    pub key: Option<String>,
}

#[derive(sqlx::FromRow)]
struct TxRow {
    id: Uuid,
    kind: String,
    amount_minor: i64,
    balance_after: i64,
    checkout_id: Option<Uuid>,
    order_id: Option<Uuid>,
    refund_id: Option<Uuid>,
    reason: Option<String>,
    actor: String,
    created_at: DateTime<Utc>,
    idempotency_key: Option<String>,
}

const TX_COLUMNS: &str = "id, kind, amount_minor, balance_after, checkout_id, order_id, refund_id,
     reason, actor, created_at, idempotency_key";

impl TryFrom<TxRow> for Transaction {
    type Error = sqlx::Error;
    fn try_from(r: TxRow) -> Result<Self, Self::Error> {
        Ok(Transaction {
            id: r.id,
            kind: Kind::parse(&r.kind).ok_or_else(|| decode("transaction kind", &r.kind))?,
            amount_minor: r.amount_minor,
            balance_after: r.balance_after,
            checkout_id: r.checkout_id.map(CheckoutId::from_uuid),
            order_id: r.order_id.map(OrderId::from_uuid),
            refund_id: r.refund_id.map(RefundId::from_uuid),
            reason: r.reason,
            actor: r.actor,
            created_at: r.created_at,
            key: r.idempotency_key,
        })
    }
}

pub(crate) struct NewTransaction<'a> {
    pub card: GiftCardId,
    pub kind: Kind,
    pub amount_minor: i64,
    pub balance_after: i64,
    pub key: Option<&'a str>,
    pub reverses_key: Option<&'a str>,
    pub checkout: Option<CheckoutId>,
    pub order: Option<OrderId>,
    pub refund: Option<RefundId>,
    pub reason: Option<&'a str>,
    pub actor: &'a str,
}

pub(crate) async fn insert_transaction(
    conn: &mut PgConnection,
    store: StoreId,
    new: &NewTransaction<'_>,
) -> Result<Transaction, sqlx::Error> {
    let sql = format!(
        "INSERT INTO gift_card_transactions (store_id, id, gift_card_id, kind, amount_minor,
             balance_after, idempotency_key, reverses_key, checkout_id, order_id, refund_id,
             reason, actor)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
         RETURNING {TX_COLUMNS}"
    );
    let row: TxRow = sqlx::query_as(&sql)
        .bind(store.as_uuid())
        .bind(Uuid::now_v7())
        .bind(new.card.as_uuid())
        .bind(new.kind.as_str())
        .bind(new.amount_minor)
        .bind(new.balance_after)
        .bind(new.key)
        .bind(new.reverses_key)
        .bind(new.checkout.map(|c| c.as_uuid()))
        .bind(new.order.map(|o| o.as_uuid()))
        .bind(new.refund.map(|r| r.as_uuid()))
        .bind(new.reason)
        .bind(new.actor)
        .fetch_one(conn)
        .await?;
    row.try_into()
}

/// The ledger row a key made on a card.
pub(crate) async fn by_key(
    conn: &mut PgConnection,
    store: StoreId,
    card: GiftCardId,
    key: &str,
) -> Result<Option<Transaction>, sqlx::Error> {
    let sql = format!(
        "SELECT {TX_COLUMNS} FROM gift_card_transactions
          WHERE store_id = $1 AND gift_card_id = $2 AND idempotency_key = $3"
    );
    let row: Option<TxRow> = sqlx::query_as(&sql)
        .bind(store.as_uuid())
        .bind(card.as_uuid())
        .bind(key)
        .fetch_optional(conn)
        .await?;
    row.map(Transaction::try_from).transpose()
}

/// What was credited back against the debit of `debit_key`.
pub(crate) async fn credited_against(
    conn: &mut PgConnection,
    store: StoreId,
    card: GiftCardId,
    debit_key: &str,
) -> Result<i64, sqlx::Error> {
    let (sum,): (Option<i64>,) = sqlx::query_as(
        "SELECT sum(amount_minor)::bigint FROM gift_card_transactions
          WHERE store_id = $1 AND gift_card_id = $2 AND kind = 'credit' AND reverses_key = $3",
    )
    .bind(store.as_uuid())
    .bind(card.as_uuid())
    .bind(debit_key)
    .fetch_one(conn)
    .await?;
    Ok(sum.unwrap_or(0))
}

/// A card's ledger, oldest first.
pub(crate) async fn transactions<'e>(
    exec: impl PgExecutor<'e>,
    store: StoreId,
    card: GiftCardId,
) -> Result<Vec<Transaction>, sqlx::Error> {
    let sql = format!(
        "SELECT {TX_COLUMNS} FROM gift_card_transactions
          WHERE store_id = $1 AND gift_card_id = $2 ORDER BY created_at, id"
    );
    let rows: Vec<TxRow> = sqlx::query_as(&sql)
        .bind(store.as_uuid())
        .bind(card.as_uuid())
        .fetch_all(exec)
        .await?;
    rows.into_iter().map(Transaction::try_from).collect()
}

/// The code a bought card keeps for the mail of `event` (until that mail
/// is written: then a trigger clears it).
pub async fn pending_code<'e>(
    exec: impl PgExecutor<'e>,
    store: StoreId,
    event: EventId,
) -> Result<Option<String>, sqlx::Error> {
    let row: Option<(Option<String>,)> = sqlx::query_as(
        "SELECT pending_code FROM gift_cards WHERE store_id = $1 AND mail_event_id = $2",
    )
    .bind(store.as_uuid())
    .bind(event.as_uuid())
    .fetch_optional(exec)
    .await?;
    Ok(row.and_then(|(c,)| c))
}

/// A checkout's debit of one card and what was credited back against it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CheckoutDebit {
    pub card: GiftCardId,
    pub key: String,
    pub debited_minor: i64,
    pub credited_minor: i64,
}

/// The debits a checkout made, by card id (the order locks are taken in).
pub(crate) async fn debits_of_checkout(
    conn: &mut PgConnection,
    store: StoreId,
    checkout: CheckoutId,
) -> Result<Vec<CheckoutDebit>, sqlx::Error> {
    let rows: Vec<(Uuid, String, i64, Option<i64>)> = sqlx::query_as(
        "SELECT d.gift_card_id, d.idempotency_key, -d.amount_minor,
                (SELECT sum(c.amount_minor)::bigint FROM gift_card_transactions c
                  WHERE c.store_id = d.store_id AND c.gift_card_id = d.gift_card_id
                    AND c.kind = 'credit' AND c.reverses_key = d.idempotency_key)
           FROM gift_card_transactions d
          WHERE d.store_id = $1 AND d.checkout_id = $2 AND d.kind = 'debit'
            AND d.idempotency_key IS NOT NULL
          ORDER BY d.gift_card_id",
    )
    .bind(store.as_uuid())
    .bind(checkout.as_uuid())
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(card, key, debited, credited)| CheckoutDebit {
            card: GiftCardId::from_uuid(card),
            key,
            debited_minor: debited,
            credited_minor: credited.unwrap_or(0),
        })
        .collect())
}

/// Names the order on a checkout's debits (made before the order existed).
pub(crate) async fn link_order(
    conn: &mut PgConnection,
    store: StoreId,
    checkout: CheckoutId,
    order: OrderId,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE gift_card_transactions SET order_id = $3
          WHERE store_id = $1 AND checkout_id = $2 AND order_id IS NULL",
    )
    .bind(store.as_uuid())
    .bind(checkout.as_uuid())
    .bind(order.as_uuid())
    .execute(conn)
    .await?;
    Ok(())
}
