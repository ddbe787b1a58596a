//! Gift cards (issue 18): money of a store that a code spends. Staff issue
//! cards (`routes/gift_cards.rs`), shoppers buy them as products (one card
//! per unit, issued by [`issue_for_order`] in the checkout's commit
//! transaction, its code mailed) and look their balance up by code
//! ([`lookup`], rate-limited); the checkout spends them as tender with
//! [`debit`] and gives back with [`credit`].
//!
//! **The code is a bearer secret, shown once.** 16 characters of an
//! alphabet without look-alikes (`model::Code`), shown `ABCD-EFGH-JKLM-NPQR`
//! and matched whatever the case and dashes. The database keeps its sha256
//! (unique per store) and its last four. A staff-issued code is answered
//! once, by the request that made it. A bought card's code must reach its
//! buyer by mail, which the worker renders later from the event: the event
//! (`gift_card.issued`, outbox, Kafka) carries no code; the card keeps it
//! in `pending_code` with the event's id (`mail_event_id`), the mail worker
//! reads it from there ([`sql::pending_code`]), and a trigger on
//! `mail_deliveries` clears it as soon as the mail is written to the relay
//! or given up. So the code is never in the outbox, on Kafka or in a
//! webhook, and not in plain text once mailed.
//!
//! **A balance is its ledger.** Every change is a `gift_card_transactions`
//! row in the same transaction (`issue`, `debit`, `credit`, `adjust`), and
//! the deferred trigger `gift_card_balance_is_ledger` refuses a commit
//! where a card's balance is not the sum of its rows.
//!
//! **Never spent twice.** Each primitive runs in the caller's
//! transaction, locks the card's row, then changes the balance with one
//! conditional statement (`sql::change_balance`: the balance stays within
//! `0..=max`), so two checkouts racing for the last of a balance are
//! ordered: one wins, the other gets `gift_card_insufficient` with the
//! balance left. Each is idempotent by its key (unique per card): a
//! repeated key returns the first result and moves nothing; the same key
//! with another amount is `422 idempotency_key_reused`.
//!
//! **Credits.** A credit names the debit it gives back (`debit_key`):
//! the credits against one debit never add up to more than it took
//! (`model::creditable`; what is asked beyond is not credited and the
//! answer says how much was). Credits go to the card whatever its state
//! (expired or disabled cards keep their money; staff may enable or extend
//! them). Adjustments (staff) move a balance either way within
//! `0..=MAX_AMOUNT_MINOR`, on any card.
//!
//! `model.rs` is pure (code, rules, limits); `sql.rs` every statement on
//! the two tables; `limit.rs` the lookup limit (Redis, with an in-process
//! fallback).

pub mod limit;
pub mod model;
pub mod sql;

use chrono::{DateTime, Utc};
use mercato_tenants::events::{Event, GiftCardIssued};
use mercato_tenants::{
    ApiError, CheckoutId, Currency, CustomerId, ErrorCode, GiftCardId, OrderId, RefundId, StoreId,
};
use sqlx::{PgExecutor, Postgres, Transaction as Tx};

pub use model::{Code, GiftCard, Refusal, Source, Status};
pub use sql::{Kind, Transaction};

use crate::error::PodError;
use crate::orders::QuoteLine;

/// Why a primitive refused.
#[derive(Debug, thiserror::Error)]
pub enum GiftCardError {
    /// The card does not pay (or does not exist).
    #[error("{}", .0.message())]
    Refused(Refusal),
    /// The key made another change of this card.
    #[error("this key was used for another change of this gift card")]
    KeyReused,
    /// An adjustment would leave more than [`model::MAX_AMOUNT_MINOR`].
    #[error("the balance would pass {}", model::MAX_AMOUNT_MINOR)]
    AboveMax,
    /// A bad argument (an amount below 1, a credit without its debit).
    #[error("{0}")]
    Invalid(&'static str),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

impl From<GiftCardError> for PodError {
    fn from(e: GiftCardError) -> Self {
        match e {
            GiftCardError::Refused(r) => ApiError::new(r.code(), r.message()).into(),
            GiftCardError::KeyReused => ApiError::new(
                ErrorCode::IdempotencyKeyReused,
                "this Idempotency-Key was used for another change of this gift card",
            )
            .into(),
            GiftCardError::AboveMax => ApiError::new(
                ErrorCode::Conflict,
                format!(
                    "the balance would pass the maximum of {}",
                    model::MAX_AMOUNT_MINOR
                ),
            )
            .into(),
            GiftCardError::Invalid(why) => ApiError::invalid(why).into(),
            GiftCardError::Db(e) => e.into(),
        }
    }
}

/// The card a shopper's code names; `None` for a malformed code as for an
/// unknown one.
pub async fn find_by_code<'e>(
    exec: impl PgExecutor<'e>,
    store: StoreId,
    code: &str,
) -> Result<Option<GiftCard>, sqlx::Error> {
    match Code::parse(code) {
        Some(code) => sql::by_code(exec, store, &code.sha256()).await,
        None => Ok(None),
    }
}

/// One card, without its ledger.
pub async fn get<'e>(
    exec: impl PgExecutor<'e>,
    store: StoreId,
    id: GiftCardId,
) -> Result<Option<GiftCard>, sqlx::Error> {
    sql::get(exec, store, id, false).await
}

/// A card staff issue.
pub struct Issue<'a> {
    pub currency: Currency,
    pub amount_minor: i64,
    pub expires_at: Option<DateTime<Utc>>,
    pub customer: Option<CustomerId>,
    pub note: Option<&'a str>,
    /// `staff:<id>`.
    pub actor: &'a str,
}

/// Issues a card in the caller's transaction; its code is returned here
/// and never again.
pub async fn issue(
    tx: &mut Tx<'static, Postgres>,
    store: StoreId,
    issue: &Issue<'_>,
) -> Result<(GiftCard, Code), GiftCardError> {
    model::check_amount(issue.amount_minor)
        .map_err(|_| GiftCardError::Invalid("the amount is out of range"))?;
    let code = Code::generate();
    let card = sql::insert(
        tx,
        store,
        &sql::NewCard {
            id: GiftCardId::new(),
            code_sha256: code.sha256(),
            last4: code.last4(),
            currency: issue.currency,
            amount_minor: issue.amount_minor,
            expires_at: issue.expires_at,
            customer: issue.customer,
            source: Source::Staff,
            order: None,
            note: issue.note,
            pending: None,
            actor: issue.actor,
        },
    )
    .await?;
    Ok((card, code))
}

/// A debit of a card at a checkout.
pub struct Debit<'a> {
    pub amount_minor: i64,
    /// The checkout's currency: a card of another is refused.
    pub currency: Currency,
    /// Unique per card and debit, e.g. `chk_<checkout>_gc`.
    pub key: &'a str,
    pub checkout: Option<CheckoutId>,
    pub order: Option<OrderId>,
}

/// What a debit took.
#[derive(Debug, Clone)]
pub struct Debited {
    pub transaction: Transaction,
    /// The balance after it.
    pub balance_minor: i64,
    /// The key's debit was made before: nothing more was taken now.
    pub again: bool,
}

/// Takes `amount_minor` from the card in the caller's transaction (see
/// the module's docs): refused when the card is unknown, disabled,
/// expired, of another currency, or holds less (`Insufficient` with its
/// balance).
pub async fn debit(
    tx: &mut Tx<'static, Postgres>,
    store: StoreId,
    card: GiftCardId,
    debit: &Debit<'_>,
) -> Result<Debited, GiftCardError> {
    if debit.amount_minor < 1 {
        return Err(GiftCardError::Invalid("a debit takes at least 1"));
    }
    let found = sql::get(&mut **tx, store, card, true)
        .await?
        .ok_or(GiftCardError::Refused(Refusal::NotFound))?;
    if let Some(t) = sql::by_key(tx, store, card, debit.key).await? {
        if t.kind != Kind::Debit || t.amount_minor != -debit.amount_minor {
            return Err(GiftCardError::KeyReused);
        }
        return Ok(Debited {
            balance_minor: found.balance_minor,
            transaction: t,
            again: true,
        });
    }
    model::may_pay(&found, debit.currency, debit.amount_minor, Utc::now())
        .map_err(GiftCardError::Refused)?;
    let Some(balance) = sql::change_balance(tx, store, card, -debit.amount_minor, i64::MAX).await?
    else {
        return Err(GiftCardError::Refused(Refusal::Insufficient {
            balance_minor: found.balance_minor,
        }));
    };
    let transaction = sql::insert_transaction(
        tx,
        store,
        &sql::NewTransaction {
            card,
            kind: Kind::Debit,
            amount_minor: -debit.amount_minor,
            balance_after: balance,
            key: Some(debit.key),
            reverses_key: None,
            checkout: debit.checkout,
            order: debit.order,
            refund: None,
            reason: None,
            actor: "checkout",
        },
    )
    .await?;
    Ok(Debited {
        transaction,
        balance_minor: balance,
        again: false,
    })
}

/// A credit back to a card.
pub struct Credit<'a> {
    /// What to give back; at most what is left of the debit.
    pub amount_minor: i64,
    /// The key of the debit it gives back.
    pub debit_key: &'a str,
    /// This credit's own key (unique per card), e.g. `chk_<id>_gc_void` or
    /// `refund_<id>`.
    pub key: &'a str,
    pub checkout: Option<CheckoutId>,
    pub order: Option<OrderId>,
    pub refund: Option<RefundId>,
    pub reason: Option<&'a str>,
}

/// What a credit gave back.
#[derive(Debug, Clone)]
pub struct Credited {
    /// Given back now (0: the debit was given back whole before).
    pub amount_minor: i64,
    pub balance_minor: i64,
    /// The key's credit was made before: nothing more was given now.
    pub again: bool,
}

/// Gives back to the card at most what is left of the debit `debit_key`
/// (see the module's docs), in the caller's transaction.
pub async fn credit(
    tx: &mut Tx<'static, Postgres>,
    store: StoreId,
    card: GiftCardId,
    credit: &Credit<'_>,
) -> Result<Credited, GiftCardError> {
    if credit.amount_minor < 1 {
        return Err(GiftCardError::Invalid("a credit gives at least 1"));
    }
    let found = sql::get(&mut **tx, store, card, true)
        .await?
        .ok_or(GiftCardError::Refused(Refusal::NotFound))?;
    if let Some(t) = sql::by_key(tx, store, card, credit.key).await? {
        if t.kind != Kind::Credit {
            return Err(GiftCardError::KeyReused);
        }
        return Ok(Credited {
            amount_minor: t.amount_minor,
            balance_minor: found.balance_minor,
            again: true,
        });
    }
    let debited = match sql::by_key(tx, store, card, credit.debit_key).await? {
        Some(t) if t.kind == Kind::Debit => -t.amount_minor,
        _ => return Err(GiftCardError::Invalid("no debit of this card has that key")),
    };
    let before = sql::credited_against(tx, store, card, credit.debit_key).await?;
    let amount = model::creditable(debited, before, credit.amount_minor);
    if amount == 0 {
        return Ok(Credited {
            amount_minor: 0,
            balance_minor: found.balance_minor,
            again: false,
        });
    }
    let balance = sql::change_balance(tx, store, card, amount, i64::MAX)
        .await?
        .ok_or(GiftCardError::Invalid(
            "the balance cannot take this credit",
        ))?;
    sql::insert_transaction(
        tx,
        store,
        &sql::NewTransaction {
            card,
            kind: Kind::Credit,
            amount_minor: amount,
            balance_after: balance,
            key: Some(credit.key),
            reverses_key: Some(credit.debit_key),
            checkout: credit.checkout,
            order: credit.order,
            refund: credit.refund,
            reason: credit.reason,
            actor: "system",
        },
    )
    .await?;
    Ok(Credited {
        amount_minor: amount,
        balance_minor: balance,
        again: false,
    })
}

/// A staff adjustment.
pub struct Adjust<'a> {
    pub delta_minor: i64,
    /// The request's Idempotency-Key.
    pub key: &'a str,
    pub reason: Option<&'a str>,
    pub actor: &'a str,
}

/// Moves a card's balance by `delta_minor` (staff), within
/// `0..=MAX_AMOUNT_MINOR`; the ledger row and whether the key made it
/// before. A staff key lives apart from the checkout's (`staff:<key>`).
pub async fn adjust(
    tx: &mut Tx<'static, Postgres>,
    store: StoreId,
    card: GiftCardId,
    adjust: &Adjust<'_>,
) -> Result<(Transaction, bool), GiftCardError> {
    model::check_delta(adjust.delta_minor)
        .map_err(|_| GiftCardError::Invalid("delta_minor is out of range"))?;
    let key = format!("staff:{}", adjust.key);
    let found = sql::get(&mut **tx, store, card, true)
        .await?
        .ok_or(GiftCardError::Refused(Refusal::NotFound))?;
    if let Some(t) = sql::by_key(tx, store, card, &key).await? {
        if t.kind != Kind::Adjust
            || t.amount_minor != adjust.delta_minor
            || t.reason.as_deref() != adjust.reason
        {
            return Err(GiftCardError::KeyReused);
        }
        return Ok((t, true));
    }
    let Some(balance) =
        sql::change_balance(tx, store, card, adjust.delta_minor, model::MAX_AMOUNT_MINOR).await?
    else {
        return Err(if adjust.delta_minor < 0 {
            GiftCardError::Refused(Refusal::Insufficient {
                balance_minor: found.balance_minor,
            })
        } else {
            GiftCardError::AboveMax
        });
    };
    let t = sql::insert_transaction(
        tx,
        store,
        &sql::NewTransaction {
            card,
            kind: Kind::Adjust,
            amount_minor: adjust.delta_minor,
            balance_after: balance,
            key: Some(&key),
            reverses_key: None,
            checkout: None,
            order: None,
            refund: None,
            reason: adjust.reason,
            actor: adjust.actor,
        },
    )
    .await?;
    Ok((t, false))
}

/// A paid order, as [`issue_for_order`] needs it.
pub struct PaidOrder<'a> {
    pub id: OrderId,
    pub number: i64,
    pub currency: Currency,
    pub lines: &'a [QuoteLine],
    pub customer: Option<CustomerId>,
    pub email: &'a str,
}

/// In the checkout's commit transaction: one card per unit of the order's
/// gift card products, of the line's unit price, each with its
/// `gift_card.issued` event (which mails the code; see the module's docs).
/// Once per order: `(order, unit)` is unique, so a second call issues
/// nothing. How many were issued.
pub async fn issue_for_order(
    tx: &mut Tx<'static, Postgres>,
    store: StoreId,
    order: &PaidOrder<'_>,
) -> Result<usize, PodError> {
    let products: Vec<_> = order.lines.iter().map(|l| l.product_id).collect();
    let gift = crate::catalog::gift_card_products(&mut **tx, store, &products).await?;
    if gift.is_empty() {
        return Ok(0);
    }
    let (mut unit, mut count) = (0i32, 0usize);
    for line in order.lines.iter().filter(|l| gift.contains(&l.product_id)) {
        for _ in 0..line.quantity.max(0) {
            let amount = line.unit_price_minor;
            unit += 1;
            if model::check_amount(amount).is_err() {
                // A free or too dear gift card product issues nothing.
                tracing::warn!(order = %order.id, amount, "gift card unit out of range; not issued");
                continue;
            }
            let code = Code::generate();
            let id = GiftCardId::new();
            // The event first (it carries no code), then the card that
            // keeps the code for that event's mail.
            let issued = GiftCardIssued {
                gift_card_id: id,
                order_id: order.id,
                number: order.number,
                customer_id: order.customer,
                email: order.email.to_owned(),
                currency: order.currency,
                amount_minor: amount,
                last4: code.last4().to_owned(),
                expires_at: None,
            };
            let event_id = crate::events::record(tx, store, &Event::GiftCardIssued(issued)).await?;
            sql::insert(
                tx,
                store,
                &sql::NewCard {
                    id,
                    code_sha256: code.sha256(),
                    last4: code.last4(),
                    currency: order.currency,
                    amount_minor: amount,
                    expires_at: None,
                    customer: order.customer,
                    source: Source::Order,
                    order: Some((order.id, unit - 1)),
                    note: None,
                    pending: Some((code.as_str(), event_id)),
                    actor: "checkout",
                },
            )
            .await?;
            count += 1;
        }
    }
    Ok(count)
}

/// The key of a checkout's debit of each of its cards.
fn checkout_debit_key(checkout: CheckoutId) -> String {
    format!("chk_{}_gc", checkout.as_uuid().simple())
}

/// The checkout's tender, in the transaction that moves it to `reserved`:
/// each card debited what the quote says, locked in id order (two
/// checkouts naming the same cards never wait on each other in a cycle).
/// A card that holds less now than when the checkout was priced (or was
/// disabled meanwhile) refuses, named with its refusal (`Ok(Err(..))`);
/// the caller then drops the transaction, so no card of the checkout is
/// debited.
pub async fn debit_tender(
    tx: &mut Tx<'static, Postgres>,
    store: StoreId,
    checkout: CheckoutId,
    currency: Currency,
    tender: &[crate::orders::GiftCardTender],
) -> Result<Result<(), (GiftCardId, Refusal)>, GiftCardError> {
    let key = checkout_debit_key(checkout);
    let mut sorted: Vec<_> = tender.iter().collect();
    sorted.sort_by_key(|t| t.gift_card_id);
    for t in sorted {
        let debited = debit(
            tx,
            store,
            t.gift_card_id,
            &Debit {
                amount_minor: t.amount_minor,
                currency,
                key: &key,
                checkout: Some(checkout),
                order: None,
            },
        )
        .await;
        match debited {
            Ok(_) => {}
            Err(GiftCardError::Refused(r)) => return Ok(Err((t.gift_card_id, r))),
            Err(e) => return Err(e),
        }
    }
    Ok(Ok(()))
}

/// Names the order on the checkout's debits, in the order's transaction.
pub async fn link_order(
    tx: &mut Tx<'static, Postgres>,
    store: StoreId,
    checkout: CheckoutId,
    order: OrderId,
) -> Result<(), sqlx::Error> {
    sql::link_order(tx, store, checkout, order).await
}

/// A checkout's debits of its gift cards, read once, with what was
/// credited against each (by card id, the order locks are taken in).
pub struct Debits(Vec<sql::CheckoutDebit>);

impl Debits {
    /// What of them has not been given back yet.
    pub fn left(&self) -> i64 {
        self.0
            .iter()
            .map(|d| (d.debited_minor - d.credited_minor).max(0))
            .sum()
    }
}

/// The checkout's debits (none for a checkout without gift cards).
pub async fn debits_of(
    tx: &mut Tx<'static, Postgres>,
    store: StoreId,
    checkout: CheckoutId,
) -> Result<Debits, sqlx::Error> {
    Ok(Debits(sql::debits_of_checkout(tx, store, checkout).await?))
}

/// A failed checkout's compensation, in its transaction: what is left of
/// each of its debits goes back to the card (key `chk_<id>_gc_back`, so a
/// repeated compensation gives nothing twice). A checkout that debited
/// nothing gives back nothing. What was given back.
pub async fn give_back_checkout(
    tx: &mut Tx<'static, Postgres>,
    store: StoreId,
    checkout: CheckoutId,
) -> Result<i64, GiftCardError> {
    let debits = debits_of(tx, store, checkout).await?;
    let back = format!("{}_back", checkout_debit_key(checkout));
    let credit = Credit {
        amount_minor: i64::MAX,
        debit_key: "",
        key: &back,
        checkout: Some(checkout),
        order: None,
        refund: None,
        reason: Some("checkout failed"),
    };
    credit_debits(tx, store, &debits, &credit).await
}

/// Credits up to `credit.amount_minor` over `debits` in card id order,
/// each at most what is left of it, with `credit`'s key and references
/// (its `debit_key` is each debit's). What was credited.
async fn credit_debits(
    tx: &mut Tx<'static, Postgres>,
    store: StoreId,
    debits: &Debits,
    credit: &Credit<'_>,
) -> Result<i64, GiftCardError> {
    let mut due = credit.amount_minor;
    for d in &debits.0 {
        let take = (d.debited_minor - d.credited_minor).min(due);
        if take < 1 {
            continue;
        }
        let credited = self::credit(
            tx,
            store,
            d.card,
            &Credit {
                amount_minor: take,
                debit_key: &d.key,
                ..*credit
            },
        )
        .await?;
        due -= credited.amount_minor;
        if due == 0 {
            break;
        }
    }
    Ok(credit.amount_minor - due)
}

/// A refund's gift card part, in the refund's reservation transaction:
/// `amount_minor` credited over the checkout's `debits` (read by the
/// caller with [`debits_of`] in this transaction) in card id order, each
/// at most what is left of it (key `rfd_<refund>`). What was credited
/// (less than asked only when less is left).
pub async fn refund_tender(
    tx: &mut Tx<'static, Postgres>,
    store: StoreId,
    debits: &Debits,
    order: OrderId,
    refund: RefundId,
    amount_minor: i64,
) -> Result<i64, GiftCardError> {
    let key = format!("rfd_{}", refund.as_uuid().simple());
    let credit = Credit {
        amount_minor,
        debit_key: "",
        key: &key,
        checkout: None,
        order: Some(order),
        refund: Some(refund),
        reason: Some("refund"),
    };
    credit_debits(tx, store, debits, &credit).await
}
