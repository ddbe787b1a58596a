//! The checkout saga's driver: validate → reserve → authorize → create
//! order (pin stock) → capture → commit stock + `order.placed` → completed;
//! on failure, compensate (void or refund, cancel, release) → failed.
//!
//! [`drive`] reads the row, performs the next step and moves the row on
//! with a compare-and-set, until the checkout ends or waits on an unknown
//! gateway outcome. Every step is idempotent (gateway calls carry keys
//! derived from the checkout id; holds are owned by the checkout; the order
//! is unique per checkout), so the shopper's request, a gateway webhook and
//! the recovery worker may drive the same checkout at once: each step
//! happens once and exactly one of them makes each transition.

use std::time::Duration;

use axum::http::StatusCode;
use mercato_tenants::events::{Event, OrderLine, OrderPlaced, PaymentChanged};
use mercato_tenants::{ApiError, Currency, Email, ErrorCode, OrderId, StoreId};
use tracing::Instrument as _;

use super::compensation;
use super::model::{self, Failure, Quote, SagaState, Step, Wanted};
use super::sql::{self, Changes, Checkout};
use super::steps::{self, begin_step, gateway_key};
use super::CheckoutId;
use crate::cart::{self, CartRef};
use crate::error::PodError;
use crate::inventory::{self, HoldLine, PinOutcome, ReserveError};
use crate::orders::{self, OrderStatus};
use crate::payments::{AuthorizeRequest, GatewayError, Payment, PaymentStatus, KEY_REUSED};
use crate::product_write;
use crate::state::AppState;
use crate::{accounts, discounts, events, fulfillment, gift_cards, risk};

/// What the shopper asked for, already checked for shape.
pub struct Asked {
    pub cart: CartRef,
    pub email: Option<Email>,
    pub address: accounts::AddressFields,
    pub billing: Option<accounts::AddressFields>,
    pub shipping_option: String,
    pub expected_total: Option<i64>,
    /// Empty when none was sent (the gift cards must then pay it all).
    pub payment_token: String,
    /// Gift card codes as sent (checked for length only).
    pub gift_cards: Vec<String>,
}

/// Who is driving, which decides what a driver may do where the saga's
/// fate is open: only the shopper's request validates, reserves and
/// authorizes; the others look the truth up and finish or undo.
pub enum Mode<'a> {
    Request(&'a Asked),
    Recovery,
    /// A signed gateway event about this checkout's payment.
    Webhook(&'a Payment),
}

impl Mode<'_> {
    fn name(&self) -> &'static str {
        match self {
            Mode::Request(_) => "request",
            Mode::Recovery => "recovery",
            Mode::Webhook(_) => "webhook",
        }
    }
}

/// How many times a driver re-reads the row after losing a race before
/// giving up (each loss means another driver made progress).
const MAX_ROUNDS: usize = 32;

/// Pushes the checkout as far as it can go now and returns its row, in a
/// `checkout` span whose children are the steps taken (see [`step`]).
pub async fn drive(
    state: &AppState,
    store: StoreId,
    id: CheckoutId,
    mode: Mode<'_>,
) -> Result<Checkout, PodError> {
    let span = tracing::info_span!(
        "checkout",
        store_id = %store,
        checkout_id = %id,
        driver = mode.name(),
    );
    drive_rounds(state, store, id, mode).instrument(span).await
}

/// The span of one step of the saga, a child of the current `checkout`
/// span: where a checkout's time goes, step by step. Only the steps that
/// wait on something (the database, Redis, the gateway) get one.
fn step(name: &'static str, store: StoreId) -> tracing::Span {
    tracing::info_span!("checkout_step", otel.name = name, store_id = %store)
}

async fn drive_rounds(
    state: &AppState,
    store: StoreId,
    id: CheckoutId,
    mode: Mode<'_>,
) -> Result<Checkout, PodError> {
    for _ in 0..MAX_ROUNDS {
        let c = sql::get(&state.db, store, id, false)
            .await?
            .ok_or_else(|| ApiError::not_found("checkout"))?;
        let progressed = match c.state {
            // Waiting for staff (`approve_review` / `cancel_review`), or the
            // recovery worker once the review window passed.
            SagaState::Completed | SagaState::Failed | SagaState::Review => return Ok(c),
            SagaState::Started => started(state, store, &c, &mode).await?,
            SagaState::Reserved => {
                reserved(state, store, &c, &mode)
                    .instrument(step("checkout.authorize", store))
                    .await?
            }
            SagaState::Authorized => {
                create_order(state, store, &c)
                    .instrument(step("checkout.create_order", store))
                    .await?
            }
            SagaState::Ordered => capture(state, store, &c).await?,
            SagaState::Compensating => {
                compensation::compensate(state, store, &c)
                    .instrument(step("checkout.compensate", store))
                    .await?
            }
        };
        if !progressed {
            // Waiting on the gateway's answer: the row says where it stands.
            return sql::get(&state.db, store, id, false)
                .await?
                .ok_or_else(|| ApiError::not_found("checkout").into());
        }
    }
    Err(PodError::internal(format!(
        "checkout {id} did not settle after {MAX_ROUNDS} rounds ({})",
        mode.name()
    )))
}

/// Stops a checkout whose order is placed but not yet paid (the store
/// cancels it): the saga compensates (void, order cancelled, holds
/// released). False when the checkout was no longer between order and
/// capture (it completed meanwhile).
pub async fn cancel_before_capture(
    state: &AppState,
    store: StoreId,
    checkout: CheckoutId,
    reason: &str,
) -> Result<bool, PodError> {
    let failure = Failure::new(
        ErrorCode::Conflict,
        "the store cancelled this order before the payment was taken; nothing was charged",
    );
    let body = failure.body();
    let stopped = steps::advance(
        state,
        store,
        checkout,
        SagaState::Ordered,
        SagaState::Compensating,
        Changes {
            failure: Some(reason),
            outcome: Some((failure.status(), &body)),
            ..Default::default()
        },
    )
    .await?;
    if stopped {
        drive(state, store, checkout, Mode::Recovery).await?;
    }
    Ok(stopped)
}

/// Moves to `compensating` with the answer the shopper gets.
async fn fail(
    state: &AppState,
    store: StoreId,
    c: &Checkout,
    failure: &Failure,
) -> Result<bool, PodError> {
    settle(state, store, c, SagaState::Compensating, failure, &[]).await
}

/// [`fail`] after the gateway definitely refused the authorization: no
/// money is held, so compensation need not ask it. The decline counts in
/// the risk screen's velocity.
async fn declined(
    state: &AppState,
    store: StoreId,
    c: &Checkout,
    failure: &Failure,
    fingerprint: Option<&str>,
) -> Result<bool, PodError> {
    if let (true, Some(quote)) = (state.config.checkout.risk_screening, &c.quote) {
        let client = c.client_address.as_deref().unwrap_or("unknown");
        let keys = risk::keys(state, &quote.email, client, card_ref(c, fingerprint));
        let mut tx = crate::tenancy::begin_write(&state.db, store).await?;
        risk::record_attempt(&mut *tx, store, c.id, &keys, risk::AttemptOutcome::Declined).await?;
        tx.commit().await?;
    }
    settle(
        state,
        store,
        c,
        SagaState::Compensating,
        failure,
        &[Step::Declined],
    )
    .await
}

/// How the risk screen knows the checkout's card: the gateway's
/// fingerprint when it gave one, else the payment token.
fn card_ref<'a>(c: &'a Checkout, fingerprint: Option<&'a str>) -> risk::CardRef<'a> {
    match fingerprint.or(c.card_fingerprint.as_deref()) {
        Some(f) => risk::CardRef::Fingerprint(f),
        None => risk::CardRef::Token(&c.payment_token),
    }
}

/// Records the failure and the answer it gives, and moves from the
/// checkout's state to `to` (compare-and-set: a lost race leaves the row
/// to the winner).
async fn settle(
    state: &AppState,
    store: StoreId,
    c: &Checkout,
    to: SagaState,
    failure: &Failure,
    steps: &[Step],
) -> Result<bool, PodError> {
    let body = failure.body();
    steps::advance(
        state,
        store,
        c.id,
        c.state,
        to,
        Changes {
            steps,
            failure: Some(failure.code.as_str()),
            outcome: Some((failure.status(), &body)),
            ..Default::default()
        },
    )
    .await?;
    Ok(true)
}

/// Ends a checkout that holds nothing yet (refused while validating, or
/// out of stock: a reservation is all or nothing): straight to `failed`
/// with its answer, no compensation to run.
async fn end_before_work(
    state: &AppState,
    store: StoreId,
    c: &Checkout,
    failure: &Failure,
) -> Result<bool, PodError> {
    debug_assert_eq!(c.state, SagaState::Started);
    settle(state, store, c, SagaState::Failed, failure, &[]).await
}

/// Validate and reserve (the shopper's request only; anyone else finds a
/// checkout whose request died and undoes whatever it held).
async fn started(
    state: &AppState,
    store: StoreId,
    c: &Checkout,
    mode: &Mode<'_>,
) -> Result<bool, PodError> {
    let Mode::Request(asked) = mode else {
        return fail(state, store, c, &Failure::interrupted()).await;
    };
    let client = c.client_address.as_deref().unwrap_or("unknown");
    let quote = match validate(state, store, asked, client)
        .instrument(step("checkout.validate", store))
        .await
    {
        Ok(q) => q,
        Err(e) => match e.client_error() {
            Some(refused) => return end_before_work(state, store, c, &refused.into()).await,
            None => return Err(e),
        },
    };
    let lines: Vec<HoldLine> = quote
        .lines
        .iter()
        .map(|l| HoldLine {
            variant: l.variant_id,
            quantity: l.quantity,
        })
        .collect();
    let ttl = Duration::from_secs(state.config.inventory.hold_ttl_secs);
    let reserved = inventory::reserve(state, store, c.id.into(), &lines, ttl)
        .instrument(step("checkout.reserve", store))
        .await;
    match reserved {
        Ok(()) => {}
        Err(ReserveError::OutOfStock(short)) => {
            // All or nothing: nothing is held, nothing to undo.
            return end_before_work(state, store, c, &Failure::out_of_stock(short)).await;
        }
        Err(ReserveError::Failed(e)) => return Err(e),
    }
    let changes = Changes {
        // From here an authorization may exist: compensation asks.
        steps: &[Step::Reserve, Step::AuthorizeAttempted],
        quote: Some(&quote),
        ..Default::default()
    };
    if quote.discounts.is_empty() && quote.gift_cards.is_empty() {
        steps::advance(
            state,
            store,
            c.id,
            SagaState::Started,
            SagaState::Reserved,
            changes,
        )
        .await?;
        return Ok(true);
    }
    // The discounts' uses are counted and the gift cards debited in the
    // transaction that moves the checkout on: all or nothing. A limit
    // reached or a balance spent meanwhile fails the checkout
    // (compensation releases the stock just held).
    let Some((mut tx, _)) = begin_step(state, store, c.id, SagaState::Started).await? else {
        return Ok(true); // another driver got here first
    };
    let shopper = discounts::Shopper {
        customer: c.customer_id,
        email: Some(quote.email.clone()),
    };
    if let Err(used_up) = discounts::redeem(&mut tx, store, c.id, &shopper, &quote.discounts)
        .instrument(step("checkout.redeem", store))
        .await?
    {
        drop(tx);
        let label = used_up.code.unwrap_or(used_up.title);
        let failure = Failure::new(
            ErrorCode::DiscountUsedUp,
            format!("the discount {label} was used up while you checked out; nothing was charged"),
        );
        return fail(state, store, c, &failure).await;
    }
    let debited = gift_cards::debit_tender(&mut tx, store, c.id, quote.currency, &quote.gift_cards)
        .instrument(step("checkout.gift_cards", store))
        .await
        .map_err(PodError::from)?;
    if let Err((card, refusal)) = debited {
        // Spent by another checkout meanwhile: nothing of this
        // transaction stays.
        drop(tx);
        let last4 = quote
            .gift_cards
            .iter()
            .find(|t| t.gift_card_id == card)
            .map_or("", |t| t.last4.as_str());
        let failure = Failure::new(
            refusal.code(),
            format!(
                "{}; nothing was charged",
                refusal.at_checkout(last4, quote.currency)
            ),
        );
        return fail(state, store, c, &failure).await;
    }
    sql::advance(
        &mut *tx,
        store,
        c.id,
        SagaState::Started,
        SagaState::Reserved,
        changes,
    )
    .await?;
    tx.commit().await?;
    Ok(true)
}

/// The cart priced from the catalog as it is now, for the checkout
/// `asked` (its address, shipping option, email and the cart's discount
/// codes), as step 1 prices it: what a checkout page shows before the
/// shopper pays. Its gift cards are not read.
pub async fn price(state: &AppState, store: StoreId, asked: &Asked) -> Result<Quote, PodError> {
    let tenant = state
        .hosted
        .get(store)
        .ok_or_else(|| PodError::internal("checkout of a store not hosted here"))?;
    let cart = cart::for_checkout(state, store, &asked.cart).await?;
    let wanted: Vec<Wanted> = cart
        .lines
        .iter()
        .map(|l| Wanted {
            variant: l.variant_id,
            quantity: l.quantity,
        })
        .collect();
    let ids: Vec<_> = wanted.iter().map(|w| w.variant).collect();
    let variants = crate::catalog::variant_snapshots(&state.db, store, &ids).await?;
    let (shipping, taxes) = super::rates(&state.db, store).await?;
    let customer = match &asked.cart {
        CartRef::Customer(c) => Some(*c),
        CartRef::Guest(_) => None,
    };
    let email = match (&asked.email, &asked.cart) {
        (Some(e), _) => e.clone(),
        (None, CartRef::Customer(customer)) => {
            let raw = accounts::email_of(&state.db, store, *customer)
                .await?
                .ok_or_else(|| ApiError::new(ErrorCode::Unauthorized, "unknown customer"))?;
            Email::parse(&raw).map_err(PodError::internal)?
        }
        (None, CartRef::Guest(_)) => {
            return Err(ApiError::new(ErrorCode::InvalidEmail, "email is required").into())
        }
    };
    let shopper = discounts::Shopper {
        customer,
        email: Some(email.as_str().to_owned()),
    };
    let products: Vec<_> = variants.values().map(|v| v.product_id).collect();
    let offer =
        discounts::offer(&state.db, store, &cart.discount_codes, &shopper, &products).await?;
    let now = chrono::Utc::now();
    let mut quote = model::quote(
        &wanted,
        &variants,
        tenant.currency,
        &shipping,
        &taxes,
        model::Choices {
            address: &asked.address,
            option: &asked.shipping_option,
            email,
            expected_total: asked.expected_total,
            discounts: &offer,
            now,
        },
    )?;
    quote.billing_address = asked.billing.as_ref().map(model::address_json);
    Ok(quote)
}

/// Step 1: the cart priced from the catalog as it is now, and the gift
/// cards' share of it.
async fn validate(
    state: &AppState,
    store: StoreId,
    asked: &Asked,
    client: &str,
) -> Result<Quote, PodError> {
    let mut quote = price(state, store, asked).await?;
    let now = chrono::Utc::now();
    if !asked.gift_cards.is_empty() {
        let cards = tender_cards(state, store, &asked.gift_cards, client).await?;
        quote.gift_cards =
            gift_cards::model::plan_tender(&cards, quote.currency, quote.total_minor, now)
                .map_err(|(id, refusal)| {
                    let last4 = cards
                        .iter()
                        .find(|c| c.id == id)
                        .map_or("", |c| c.last4.as_str());
                    ApiError::new(refusal.code(), refusal.at_checkout(last4, quote.currency))
                })?;
    }
    if quote.card_minor() > 0 && asked.payment_token.is_empty() {
        let left = mercato_tenants::money::format_money(mercato_tenants::Money {
            minor: quote.card_minor(),
            currency: quote.currency,
        });
        return Err(ApiError::invalid(format!(
            "payment_token is required: {left} is left to pay by card"
        ))
        .into());
    }
    Ok(quote)
}

/// The cards a checkout's codes name, in the order given. A client (or
/// the store) over the limit of codes that named no card is refused
/// before any code is read; each code that names no card counts (see
/// `gift_cards::limit`).
async fn tender_cards(
    state: &AppState,
    store: StoreId,
    codes: &[String],
    client: &str,
) -> Result<Vec<gift_cards::GiftCard>, PodError> {
    let limited = |secs: u64| {
        ApiError::new(
            ErrorCode::RateLimited,
            format!("too many unknown gift card codes; try again in {secs} seconds"),
        )
    };
    if let Some(secs) = gift_cards::limit::checkout_limited(state, store, client).await {
        return Err(limited(secs).into());
    }
    let mut cards = Vec::with_capacity(codes.len());
    for code in codes {
        match gift_cards::find_by_code(&state.db, store, code).await? {
            Some(card) => cards.push(card),
            None => {
                if let Some(secs) =
                    gift_cards::limit::count_checkout_miss(state, store, client).await
                {
                    return Err(limited(secs).into());
                }
                return Err(ApiError::new(
                    ErrorCode::GiftCardNotFound,
                    "no gift card has this code",
                )
                .into());
            }
        }
    }
    Ok(cards)
}

/// Step 3: authorize (the shopper's request), or find out what the gateway
/// did for a request that is gone (everyone else).
async fn reserved(
    state: &AppState,
    store: StoreId,
    c: &Checkout,
    mode: &Mode<'_>,
) -> Result<bool, PodError> {
    let quote = c
        .quote
        .as_ref()
        .ok_or_else(|| PodError::internal("reserved checkout without a quote"))?;
    if quote.card_minor() == 0 {
        // The gift cards pay it all: there is nothing to authorize.
        return authorized(state, store, c, None).await;
    }
    let key = gateway_key(c.id, "authorize");
    let known = match mode {
        Mode::Request(_) => {
            let req = AuthorizeRequest {
                key: key.clone(),
                amount: quote.card_minor(),
                currency: quote.currency.as_str().to_owned(),
                token: c.payment_token.clone(),
                reference: c.id.to_string(),
                notify_url: Some(super::notify_url(state, store)),
            };
            let mut answer = state.payments.authorize(&req).await;
            if matches!(answer, Err(GatewayError::Unknown(_))) {
                // No answer: the gateway may or may not have acted. Ask it,
                // then retry with the same key (it will not charge twice).
                answer = match state.payments.lookup(&key).await {
                    Ok(Some(p)) => Ok(p),
                    Ok(None) | Err(_) => state.payments.authorize(&req).await,
                };
            }
            #[cfg(feature = "failpoints")]
            if state.config.failpoint == "crash_after_authorize" {
                tracing::error!(checkout = %c.id, "failpoint crash_after_authorize: aborting");
                std::process::abort();
            }
            match answer {
                Ok(p) => Some(p),
                // The key is this checkout's own, so another driver of it
                // used it first: its first pod, before a move (the
                // requests differ in where the gateway's webhooks go).
                // The payment under the key is the truth, as in recovery.
                Err(GatewayError::Rejected { code, .. }) if code == KEY_REUSED => {
                    match state.payments.lookup(&key).await {
                        Ok(found) => found,
                        Err(e) => {
                            tracing::warn!(checkout = %c.id, error = %e, "gateway lookup failed; will retry");
                            return Ok(false);
                        }
                    }
                }
                Err(GatewayError::Refused { code, payment }) => {
                    let fingerprint = payment.as_ref().and_then(|p| p.card_fingerprint.as_deref());
                    return declined(state, store, c, &Failure::declined(&code), fingerprint).await;
                }
                Err(GatewayError::Rejected { code, message, .. }) => {
                    let failure = Failure::new(
                        ErrorCode::PaymentFailed,
                        format!("the payment was refused ({code}): {message}"),
                    );
                    return declined(state, store, c, &failure, None).await;
                }
                Err(GatewayError::Unknown(why)) => {
                    tracing::warn!(checkout = %c.id, %why, "authorization outcome unknown; recovery will settle it");
                    return Ok(false);
                }
            }
        }
        Mode::Webhook(p) => Some((*p).clone()),
        Mode::Recovery => match state.payments.lookup(&key).await {
            Ok(found) => found,
            Err(e) => {
                tracing::warn!(checkout = %c.id, error = %e, "gateway lookup failed; will retry");
                return Ok(false);
            }
        },
    };
    match known {
        Some(p)
            if matches!(
                p.status,
                PaymentStatus::Authorized | PaymentStatus::Captured
            ) =>
        {
            authorized(state, store, c, Some(&p)).await
        }
        Some(p) if matches!(p.status, PaymentStatus::Declined | PaymentStatus::Failed) => {
            let failure = Failure::declined(p.decline_code.as_deref().unwrap_or("declined"));
            fail(state, store, c, &failure).await
        }
        Some(_) | None => {
            if matches!(mode, Mode::Webhook(_)) {
                return Ok(false);
            }
            fail(state, store, c, &Failure::interrupted()).await
        }
    }
}

/// Moves a reserved checkout on to `authorized`, with the payment the
/// gateway authorized (none when the gift cards pay it all).
async fn authorized(
    state: &AppState,
    store: StoreId,
    c: &Checkout,
    payment: Option<&Payment>,
) -> Result<bool, PodError> {
    steps::advance(
        state,
        store,
        c.id,
        SagaState::Reserved,
        SagaState::Authorized,
        Changes {
            steps: &[Step::Authorize],
            payment_id: payment.map(|p| p.id.as_str()),
            card_fingerprint: payment.and_then(|p| p.card_fingerprint.as_deref()),
            ..Default::default()
        },
    )
    .await?;
    Ok(true)
}

/// Step 4: the order, in one transaction with pinning the held stock and
/// retiring the cart.
async fn create_order(state: &AppState, store: StoreId, c: &Checkout) -> Result<bool, PodError> {
    let Some((mut tx, locked)) = begin_step(state, store, c.id, SagaState::Authorized).await?
    else {
        return Ok(true); // another driver got here first
    };
    let quote = locked
        .quote
        .as_ref()
        .ok_or_else(|| PodError::internal("authorized checkout without a quote"))?;
    let payment_id = locked.payment_id.as_deref();
    if payment_id.is_none() && quote.card_minor() > 0 {
        return Err(PodError::internal("authorized checkout without a payment"));
    }
    if !cart::convert(&mut tx, store, locked.cart_id).await? {
        drop(tx);
        let failure = Failure::new(
            ErrorCode::Conflict,
            "this cart was already checked out by another checkout; nothing was charged",
        );
        return fail(state, store, c, &failure).await;
    }
    match inventory::pin(&mut tx, store, c.id.into()).await? {
        PinOutcome::Pinned => {}
        PinOutcome::Lost(short) => {
            drop(tx);
            return fail(state, store, c, &Failure::out_of_stock(short)).await;
        }
    }
    let order = OrderId::new();
    sql::advance(
        &mut *tx,
        store,
        c.id,
        SagaState::Authorized,
        SagaState::Ordered,
        Changes {
            steps: &[Step::CreateOrder],
            order_id: Some(order),
            ..Default::default()
        },
    )
    .await?;
    if !quote.gift_cards.is_empty() {
        gift_cards::link_order(&mut tx, store, c.id, order).await?;
    }
    // Last: it takes the store's order-number counter until the commit.
    orders::insert(
        &mut tx,
        store,
        order,
        c.id,
        locked.customer_id,
        quote,
        payment_id,
    )
    .await?;
    tx.commit().await?;
    Ok(true)
}

/// Steps 5–7: capture, then [`commit`].
async fn capture(state: &AppState, store: StoreId, c: &Checkout) -> Result<bool, PodError> {
    let quote = c
        .quote
        .as_ref()
        .ok_or_else(|| PodError::internal("ordered checkout without a quote"))?;
    let payment_id = c.payment_id.as_deref();
    let order_id = c
        .order_id
        .ok_or_else(|| PodError::internal("ordered checkout without an order"))?;
    if state.config.checkout.risk_screening && !c.did(Step::ReviewApproved) {
        let assessment = screen(state, store, c, quote)
            .instrument(step("checkout.screen", store))
            .await?;
        match assessment.outcome {
            risk::Outcome::Allow => {}
            risk::Outcome::Review => return hold_for_review(state, store, c, order_id).await,
            risk::Outcome::Block => {
                let failure = Failure::new(
                    ErrorCode::PaymentDeclined,
                    "this payment could not be accepted; nothing was charged",
                );
                return fail(state, store, c, &failure).await;
            }
        }
    }
    let Some(payment_id) = payment_id.filter(|_| quote.card_minor() > 0) else {
        // The gift cards paid it all, debited when the stock was held.
        return commit(state, store, c, quote, order_id, None)
            .instrument(step("checkout.commit", store))
            .await;
    };
    let key = gateway_key(c.id, "capture");
    let answer = if cfg!(feature = "failpoints") && state.config.failpoint == "capture_unknown" {
        Err(GatewayError::Unknown("failpoint capture_unknown".into()))
    } else {
        state
            .payments
            .capture(&key, payment_id, quote.card_minor())
            .instrument(step("checkout.capture", store))
            .await
    };
    let captured = match answer {
        Ok(p) => p,
        Err(GatewayError::Unknown(why)) => {
            tracing::warn!(checkout = %c.id, %why, "capture outcome unknown; recovery will retry");
            return Ok(false);
        }
        Err(e) => {
            tracing::warn!(checkout = %c.id, error = %e, "capture refused; cancelling the order");
            let failure = Failure::new(
                ErrorCode::PaymentFailed,
                "the payment could not be captured; the order was cancelled and nothing was charged",
            );
            return fail(state, store, c, &failure).await;
        }
    };
    commit(
        state,
        store,
        c,
        quote,
        order_id,
        Some((payment_id, captured.captured_amount)),
    )
    .instrument(step("checkout.commit", store))
    .await
}

/// The risk screen of an authorized checkout (kept once per checkout: a
/// retried step gets the first decision).
async fn screen(
    state: &AppState,
    store: StoreId,
    c: &Checkout,
    quote: &Quote,
) -> Result<risk::Assessment, PodError> {
    let client = c.client_address.as_deref().unwrap_or("unknown");
    let keys = risk::keys(state, &quote.email, client, card_ref(c, None));
    let country = quote.shipping_address["country"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let billing_country = quote
        .billing_address
        .as_ref()
        .and_then(|a| a["country"].as_str())
        .map(str::to_owned);
    risk::screen(
        &state.db,
        store,
        &risk::ScreenInput {
            checkout: c.id,
            amount_minor: quote.total_minor,
            currency: quote.currency.as_str().to_owned(),
            email: quote.email.clone(),
            customer_id: c.customer_id.map(|id| id.as_uuid()),
            shipping_country: country,
            billing_country,
            keys,
        },
    )
    .await
}

/// Holds an ordered checkout for staff's review: the payment stays
/// authorized, the stock pinned, the order `placed`; the shopper is told
/// the order is placed and under review.
async fn hold_for_review(
    state: &AppState,
    store: StoreId,
    c: &Checkout,
    order_id: OrderId,
) -> Result<bool, PodError> {
    let mut conn = state.db.acquire().await?;
    let order = orders::get(&mut conn, store, order_id, false)
        .await?
        .ok_or_else(|| PodError::internal("ordered checkout without its order"))?;
    drop(conn);
    let mut body = serde_json::to_value(&order).map_err(PodError::internal)?;
    if let Some(fields) = body.as_object_mut() {
        fields.insert("review".into(), "pending".into());
    }
    steps::advance(
        state,
        store,
        c.id,
        SagaState::Ordered,
        SagaState::Review,
        Changes {
            outcome: Some((StatusCode::CREATED.as_u16(), &body)),
            ..Default::default()
        },
    )
    .await?;
    Ok(false)
}

/// Staff's decision on a checkout in review: approve (capture and finish
/// as any checkout) or cancel (void, order cancelled, stock released).
/// False when the checkout was not in review (decided already).
pub async fn decide_review(
    state: &AppState,
    store: StoreId,
    checkout: CheckoutId,
    approve: bool,
    reason: Option<&str>,
) -> Result<bool, PodError> {
    let moved = if approve {
        steps::advance(
            state,
            store,
            checkout,
            SagaState::Review,
            SagaState::Ordered,
            Changes {
                steps: &[Step::ReviewApproved],
                ..Default::default()
            },
        )
        .await?
    } else {
        let failure = Failure::new(
            ErrorCode::PaymentDeclined,
            "the store did not accept this order after review; nothing was charged",
        );
        let body = failure.body();
        steps::advance(
            state,
            store,
            checkout,
            SagaState::Review,
            SagaState::Compensating,
            Changes {
                failure: Some(reason.unwrap_or("review_cancelled")),
                outcome: Some((failure.status(), &body)),
                ..Default::default()
            },
        )
        .await?
    };
    if moved {
        drive(state, store, checkout, Mode::Recovery).await?;
    }
    Ok(moved)
}

/// In one transaction: commit the held stock, mark the order paid, write
/// `order.placed` and `payment.captured` (when the card paid: `captured`
/// is its payment and amount) to the outbox, and end the checkout with its
/// answer.
async fn commit(
    state: &AppState,
    store: StoreId,
    c: &Checkout,
    quote: &Quote,
    order_id: OrderId,
    captured: Option<(&str, i64)>,
) -> Result<bool, PodError> {
    let Some((mut tx, _)) = begin_step(state, store, c.id, SagaState::Ordered).await? else {
        return Ok(true); // another driver got here first
    };
    // The stock is committed at the locations that ship it, nearest to the
    // address first, and the plan is stored as pending shipments.
    let to = fulfillment::shipments::destination(&quote.shipping_address);
    fulfillment::shipments::plan_at_payment(&mut tx, store, order_id, c.id.into(), &to).await?;
    orders::set_status(
        &mut tx,
        store,
        order_id,
        OrderStatus::Placed,
        OrderStatus::Paid,
        "checkout",
        None,
    )
    .await?;
    let order = orders::record_capture(
        &mut tx,
        store,
        order_id,
        captured.map_or(0, |(_, amount)| amount),
        quote.gift_card_minor(),
        &quote.lines,
    )
    .await?;
    orders::count_sales(&mut tx, store, &quote.lines).await?;
    // The confirmation link's token: only its hash is kept on the order.
    let lookup = orders::lookup::LookupToken::parse(&crate::accounts::secrets::random_token())
        .ok_or_else(|| PodError::internal("a random token is not a lookup token"))?;
    orders::set_lookup_sha256(&mut tx, store, order_id, &lookup.sha256()).await?;
    let confirmation_path = orders::lookup::confirmation_path(order.number, &lookup);
    let currency = Currency::parse(&order.currency).map_err(PodError::internal)?;
    crate::gift_cards::issue_for_order(
        &mut tx,
        store,
        &crate::gift_cards::PaidOrder {
            id: order_id,
            number: order.number,
            currency,
            lines: &quote.lines,
            customer: order.customer_id,
            email: &order.email,
        },
    )
    .await?;
    let placed = OrderPlaced {
        order_id,
        number: order.number,
        checkout_id: c.id,
        customer_id: order.customer_id,
        email: order.email.clone(),
        currency,
        subtotal_minor: order.subtotal_minor,
        discount_minor: order.discount_minor,
        gift_card_minor: order.gift_card_minor,
        discount_codes: quote
            .discounts
            .iter()
            .filter_map(|d| d.code.clone())
            .collect(),
        shipping_minor: order.shipping_minor,
        tax_minor: order.tax_minor,
        total_minor: order.total_minor,
        lines: quote
            .lines
            .iter()
            .map(|l| OrderLine {
                variant_id: l.variant_id,
                product_id: l.product_id,
                sku: l.sku.clone(),
                quantity: l.quantity,
                unit_price_minor: l.unit_price_minor,
                discount_minor: l.discount_minor,
            })
            .collect(),
        confirmation_path: Some(confirmation_path.clone()),
    };
    let money = captured.map(|(payment_id, amount)| PaymentChanged {
        order_id: Some(order_id),
        checkout_id: c.id,
        payment_id: payment_id.to_owned(),
        amount_minor: amount,
        currency,
    });
    // The events keep this span's context: their messages' consumers
    // continue the trace from here.
    async {
        events::record(&mut tx, store, &Event::OrderPlaced(placed)).await?;
        if let Some(money) = money {
            events::record(&mut tx, store, &Event::PaymentCaptured(money)).await?;
        }
        Ok::<_, PodError>(())
    }
    .instrument(step("checkout.outbox", store))
    .await?;
    // The shopper's answer carries the link too (the checkout keeps it for
    // a replay, which only the cart's holder gets).
    let mut body = serde_json::to_value(&order).map_err(PodError::internal)?;
    if let Some(fields) = body.as_object_mut() {
        fields.insert("confirmation_path".into(), confirmation_path.into());
    }
    sql::advance(
        &mut *tx,
        store,
        c.id,
        SagaState::Ordered,
        SagaState::Completed,
        Changes {
            steps: &[Step::Capture],
            outcome: Some((StatusCode::CREATED.as_u16(), &body)),
            ..Default::default()
        },
    )
    .await?;
    tx.commit().await?;
    let products: Vec<_> = quote.lines.iter().map(|l| l.product_id).collect();
    product_write::invalidate(state, store, &products).await;
    Ok(true)
}
