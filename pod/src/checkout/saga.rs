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

use mercato_tenants::events::{Event, OrderLine, OrderPlaced, PaymentChanged};
use mercato_tenants::{ApiError, Currency, Email, ErrorCode, OrderId, StoreId};
use serde_json::{json, Value};

use super::compensation;
use super::model::{self, Quote, SagaState, Wanted};
use super::store::{self, Changes, Checkout};
use super::CheckoutId;
use crate::cart::{self, CartRef};
use crate::db::map_db_error;
use crate::inventory::{self, HoldLine, PinOutcome, ReserveError, Shortage};
use crate::orders::{self, OrderStatus};
use crate::payments::{AuthorizeRequest, GatewayError, Payment, PaymentStatus};
use crate::tenancy::lock_active;
use crate::{accounts, events, AppState};

/// What the shopper asked for, already checked for shape.
pub struct Asked {
    pub cart: CartRef,
    pub email: Option<Email>,
    pub address: accounts::addresses::AddressFields,
    pub shipping_option: String,
    pub expected_total: Option<i64>,
    pub payment_token: String,
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

/// Idempotency keys of the gateway calls, derived from the checkout.
pub fn gateway_key(checkout: CheckoutId, call: &str) -> String {
    format!("chk_{}_{call}", checkout.as_uuid().simple())
}

/// The error body of a failed checkout.
pub fn failure_body(code: ErrorCode, message: &str, lines: Option<&[Shortage]>) -> Value {
    let mut err = json!({"code": code.as_str(), "message": message});
    if let Some(lines) = lines {
        err["lines"] = json!(lines);
    }
    json!({ "error": err })
}

fn shortage_message(lines: &[Shortage]) -> String {
    let what: Vec<String> = lines
        .iter()
        .map(|s| {
            format!(
                "{}: {} wanted, {} available",
                s.variant_id, s.requested, s.available
            )
        })
        .collect();
    format!("not enough stock: {}", what.join("; "))
}

fn decline_failure(code: &str) -> (ErrorCode, String) {
    match code {
        "processing_error" => (
            ErrorCode::PaymentFailed,
            "the payment provider could not process the card; nothing was charged. Try again"
                .into(),
        ),
        other => (
            ErrorCode::PaymentDeclined,
            format!("the card was declined ({other}); nothing was charged"),
        ),
    }
}

/// How many times a driver re-reads the row after losing a race before
/// giving up (each loss means another driver made progress).
const MAX_ROUNDS: usize = 32;

/// Pushes the checkout as far as it can go now and returns its row.
pub async fn drive(
    state: &AppState,
    store: StoreId,
    id: CheckoutId,
    mode: Mode<'_>,
) -> Result<Checkout, ApiError> {
    for _ in 0..MAX_ROUNDS {
        let c = store::get(&state.db, store, id, false)
            .await
            .map_err(map_db_error)?
            .ok_or_else(|| ApiError::not_found("checkout"))?;
        let progressed = match c.state {
            SagaState::Completed | SagaState::Failed => return Ok(c),
            SagaState::Started => started(state, store, &c, &mode).await?,
            SagaState::Reserved => reserved(state, store, &c, &mode).await?,
            SagaState::Authorized => create_order(state, store, &c).await?,
            SagaState::Ordered => capture(state, store, &c).await?,
            SagaState::Compensating => compensation::compensate(state, store, &c).await?,
        };
        if !progressed {
            // Waiting on the gateway's answer: the row says where it stands.
            return store::get(&state.db, store, id, false)
                .await
                .map_err(map_db_error)?
                .ok_or_else(|| ApiError::not_found("checkout"));
        }
    }
    Err(ApiError::internal(format!(
        "checkout {id} did not settle after {MAX_ROUNDS} rounds ({})",
        mode.name()
    )))
}

/// Moves to `compensating` with the answer the shopper gets.
async fn fail(
    state: &AppState,
    store: StoreId,
    c: &Checkout,
    status: u16,
    body: &Value,
) -> Result<bool, ApiError> {
    settle(state, store, c, SagaState::Compensating, status, body, &[]).await
}

/// [`fail`] after the gateway definitely refused the authorization: no
/// money is held, so compensation need not ask it.
async fn declined(
    state: &AppState,
    store: StoreId,
    c: &Checkout,
    body: &Value,
) -> Result<bool, ApiError> {
    settle(
        state,
        store,
        c,
        SagaState::Compensating,
        402,
        body,
        &["declined"],
    )
    .await
}

/// Records the failure's answer and moves from the checkout's state to
/// `to` (compare-and-set: a lost race leaves the row to the winner).
async fn settle(
    state: &AppState,
    store: StoreId,
    c: &Checkout,
    to: SagaState,
    status: u16,
    body: &Value,
    steps: &[&str],
) -> Result<bool, ApiError> {
    let code = body["error"]["code"]
        .as_str()
        .unwrap_or("internal")
        .to_owned();
    store::advance(
        &state.db,
        store,
        c.id,
        c.state,
        to,
        Changes {
            steps,
            failure: Some(&code),
            outcome: Some((status, body)),
            ..Default::default()
        },
    )
    .await
    .map_err(map_db_error)?;
    Ok(true)
}

async fn fail_with(
    state: &AppState,
    store: StoreId,
    c: &Checkout,
    err: &ApiError,
) -> Result<bool, ApiError> {
    let body = failure_body(err.code, &err.message, None);
    fail(state, store, c, err.code.status().as_u16(), &body).await
}

/// Ends a checkout that holds nothing yet (refused while validating, or
/// out of stock: a reservation is all or nothing): straight to `failed`
/// with its answer, no compensation to run.
async fn end_before_work(
    state: &AppState,
    store: StoreId,
    c: &Checkout,
    status: u16,
    body: &Value,
) -> Result<bool, ApiError> {
    debug_assert_eq!(c.state, SagaState::Started);
    settle(state, store, c, SagaState::Failed, status, body, &[]).await
}

/// Validate and reserve (the shopper's request only; anyone else finds a
/// checkout whose request died and undoes whatever it held).
async fn started(
    state: &AppState,
    store: StoreId,
    c: &Checkout,
    mode: &Mode<'_>,
) -> Result<bool, ApiError> {
    let Mode::Request(asked) = mode else {
        let err = ApiError::new(
            ErrorCode::CheckoutInterrupted,
            "the checkout was interrupted before payment; start again with a new Idempotency-Key",
        );
        return fail_with(state, store, c, &err).await;
    };
    let quote = match validate(state, store, asked).await {
        Ok(q) => q,
        Err(e) if e.code == ErrorCode::Internal => return Err(e),
        Err(e) => {
            let body = failure_body(e.code, &e.message, None);
            return end_before_work(state, store, c, e.code.status().as_u16(), &body).await;
        }
    };
    let lines: Vec<HoldLine> = quote
        .lines
        .iter()
        .map(|l| HoldLine {
            variant: l.variant_id,
            quantity: l.quantity,
        })
        .collect();
    let ttl = Duration::from_secs(state.config.hold_ttl_secs);
    match inventory::reserve(state, store, c.id.as_uuid(), &lines, ttl).await {
        Ok(()) => {}
        Err(ReserveError::OutOfStock(short)) => {
            let body = failure_body(
                ErrorCode::OutOfStock,
                &shortage_message(&short),
                Some(&short),
            );
            // All or nothing: nothing is held, nothing to undo.
            return end_before_work(state, store, c, 409, &body).await;
        }
        Err(ReserveError::Db(e)) => return Err(map_db_error(e)),
    }
    store::advance(
        &state.db,
        store,
        c.id,
        SagaState::Started,
        SagaState::Reserved,
        Changes {
            // From here an authorization may exist: compensation asks.
            steps: &["reserve", "authorize_attempted"],
            quote: Some(&quote),
            ..Default::default()
        },
    )
    .await
    .map_err(map_db_error)?;
    Ok(true)
}

/// Step 1: the cart priced from the catalog as it is now.
async fn validate(state: &AppState, store: StoreId, asked: &Asked) -> Result<Quote, ApiError> {
    let tenant = state
        .hosted
        .get(store)
        .ok_or_else(|| ApiError::internal("checkout of a store not hosted here"))?;
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
    let variants = crate::catalog::variant_snapshots(&state.db, store, &ids)
        .await
        .map_err(map_db_error)?;
    let (shipping, taxes) = super::rates(&state.db, store).await?;
    let email = match (&asked.email, &asked.cart) {
        (Some(e), _) => e.clone(),
        (None, CartRef::Customer(customer)) => {
            let raw = accounts::customers::email_of(&state.db, store, *customer)
                .await
                .map_err(map_db_error)?
                .ok_or_else(|| ApiError::new(ErrorCode::Unauthorized, "unknown customer"))?;
            Email::parse(&raw).map_err(ApiError::internal)?
        }
        (None, CartRef::Guest(_)) => {
            return Err(ApiError::new(ErrorCode::InvalidEmail, "email is required"))
        }
    };
    model::quote(
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
        },
    )
}

/// Step 3: authorize (the shopper's request), or find out what the gateway
/// did for a request that is gone (everyone else).
async fn reserved(
    state: &AppState,
    store: StoreId,
    c: &Checkout,
    mode: &Mode<'_>,
) -> Result<bool, ApiError> {
    let key = gateway_key(c.id, "authorize");
    let known = match mode {
        Mode::Request(_) => {
            let quote = c
                .quote
                .as_ref()
                .ok_or_else(|| ApiError::internal("reserved checkout without a quote"))?;
            let req = AuthorizeRequest {
                key: key.clone(),
                amount: quote.total_minor,
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
            if state.config.failpoint == "crash_after_authorize" {
                tracing::error!(checkout = %c.id, "failpoint crash_after_authorize: aborting");
                std::process::abort();
            }
            match answer {
                Ok(p) => Some(p),
                Err(GatewayError::Refused { code, .. }) => {
                    let (code, message) = decline_failure(&code);
                    let body = failure_body(code, &message, None);
                    return declined(state, store, c, &body).await;
                }
                Err(GatewayError::Rejected { code, message, .. }) => {
                    let body = failure_body(
                        ErrorCode::PaymentFailed,
                        &format!("the payment was refused ({code}): {message}"),
                        None,
                    );
                    return declined(state, store, c, &body).await;
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
            store::advance(
                &state.db,
                store,
                c.id,
                SagaState::Reserved,
                SagaState::Authorized,
                Changes {
                    steps: &["authorize"],
                    payment_id: Some(&p.id),
                    ..Default::default()
                },
            )
            .await
            .map_err(map_db_error)?;
            Ok(true)
        }
        Some(p) if matches!(p.status, PaymentStatus::Declined | PaymentStatus::Failed) => {
            let (code, message) = decline_failure(p.decline_code.as_deref().unwrap_or("declined"));
            fail(state, store, c, 402, &failure_body(code, &message, None)).await
        }
        Some(_) | None => {
            if matches!(mode, Mode::Webhook(_)) {
                return Ok(false);
            }
            let err = ApiError::new(
                ErrorCode::CheckoutInterrupted,
                "the checkout was interrupted before payment; start again with a new Idempotency-Key",
            );
            fail_with(state, store, c, &err).await
        }
    }
}

/// Opens a step's transaction: the store fenced and the checkout row
/// locked, if the checkout is still in `expected` (None: another driver
/// moved it on).
pub(super) async fn begin_step(
    state: &AppState,
    store: StoreId,
    id: CheckoutId,
    expected: SagaState,
) -> Result<Option<(sqlx::Transaction<'static, sqlx::Postgres>, Checkout)>, ApiError> {
    let mut tx = state.db.begin().await.map_err(map_db_error)?;
    lock_active(&mut tx, store).await?;
    let locked = store::get(&mut *tx, store, id, true)
        .await
        .map_err(map_db_error)?
        .ok_or_else(|| ApiError::not_found("checkout"))?;
    Ok((locked.state == expected).then_some((tx, locked)))
}

/// Step 4: the order, in one transaction with pinning the held stock and
/// retiring the cart.
async fn create_order(state: &AppState, store: StoreId, c: &Checkout) -> Result<bool, ApiError> {
    let Some((mut tx, locked)) = begin_step(state, store, c.id, SagaState::Authorized).await?
    else {
        return Ok(true); // another driver got here first
    };
    let quote = locked
        .quote
        .as_ref()
        .ok_or_else(|| ApiError::internal("authorized checkout without a quote"))?;
    let payment_id = locked
        .payment_id
        .as_deref()
        .ok_or_else(|| ApiError::internal("authorized checkout without a payment"))?;
    if !cart::convert(&mut tx, store, locked.cart_id)
        .await
        .map_err(map_db_error)?
    {
        drop(tx);
        let err = ApiError::new(
            ErrorCode::Conflict,
            "this cart was already checked out by another checkout; nothing was charged",
        );
        return fail_with(state, store, c, &err).await;
    }
    match inventory::pin(&mut tx, store, c.id.as_uuid())
        .await
        .map_err(map_db_error)?
    {
        PinOutcome::Pinned => {}
        PinOutcome::Lost(short) => {
            drop(tx);
            let body = failure_body(
                ErrorCode::OutOfStock,
                &shortage_message(&short),
                Some(&short),
            );
            return fail(state, store, c, 409, &body).await;
        }
    }
    let order = OrderId::new();
    store::advance(
        &mut *tx,
        store,
        c.id,
        SagaState::Authorized,
        SagaState::Ordered,
        Changes {
            steps: &["create_order"],
            order_id: Some(order),
            ..Default::default()
        },
    )
    .await
    .map_err(map_db_error)?;
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
    .await
    .map_err(map_db_error)?;
    tx.commit().await.map_err(map_db_error)?;
    Ok(true)
}

/// Steps 5–7: capture, then in one transaction commit the held stock, mark
/// the order paid, write `order.placed` and `payment.captured`, and end the
/// checkout with its answer.
async fn capture(state: &AppState, store: StoreId, c: &Checkout) -> Result<bool, ApiError> {
    let quote = c
        .quote
        .as_ref()
        .ok_or_else(|| ApiError::internal("ordered checkout without a quote"))?;
    let payment_id = c
        .payment_id
        .as_deref()
        .ok_or_else(|| ApiError::internal("ordered checkout without a payment"))?;
    let order_id = c
        .order_id
        .ok_or_else(|| ApiError::internal("ordered checkout without an order"))?;
    let key = gateway_key(c.id, "capture");
    let answer = if state.config.failpoint == "capture_unknown" {
        Err(GatewayError::Unknown("failpoint capture_unknown".into()))
    } else {
        state
            .payments
            .capture(&key, payment_id, quote.total_minor)
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
            let body = failure_body(
                ErrorCode::PaymentFailed,
                "the payment could not be captured; the order was cancelled and nothing was charged",
                None,
            );
            return fail(state, store, c, 402, &body).await;
        }
    };
    let Some((mut tx, _)) = begin_step(state, store, c.id, SagaState::Ordered).await? else {
        return Ok(true); // another driver got here first
    };
    inventory::commit(&mut tx, store, c.id.as_uuid())
        .await
        .map_err(map_db_error)?;
    orders::set_status(
        &mut tx,
        store,
        order_id,
        OrderStatus::Placed,
        OrderStatus::Paid,
        "checkout",
        None,
    )
    .await
    .map_err(map_db_error)?;
    let order = orders::record_capture(
        &mut tx,
        store,
        order_id,
        captured.captured_amount,
        &quote.lines,
    )
    .await
    .map_err(map_db_error)?;
    orders::count_sales(&mut tx, store, &quote.lines)
        .await
        .map_err(map_db_error)?;
    let currency = Currency::parse(&order.currency).map_err(ApiError::internal)?;
    let placed = OrderPlaced {
        order_id,
        number: order.number,
        checkout_id: c.id,
        customer_id: order.customer_id,
        email: order.email.clone(),
        currency,
        subtotal_minor: order.subtotal_minor,
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
            })
            .collect(),
    };
    events::record(&mut tx, store, &Event::OrderPlaced(placed))
        .await
        .map_err(map_db_error)?;
    let money = PaymentChanged {
        order_id: Some(order_id),
        checkout_id: c.id,
        payment_id: payment_id.to_owned(),
        amount_minor: captured.captured_amount,
        currency,
    };
    events::record(&mut tx, store, &Event::PaymentCaptured(money))
        .await
        .map_err(map_db_error)?;
    let body = serde_json::to_value(&order).map_err(ApiError::internal)?;
    store::advance(
        &mut *tx,
        store,
        c.id,
        SagaState::Ordered,
        SagaState::Completed,
        Changes {
            steps: &["capture"],
            outcome: Some((201, &body)),
            ..Default::default()
        },
    )
    .await
    .map_err(map_db_error)?;
    tx.commit().await.map_err(map_db_error)?;
    let products: Vec<_> = quote.lines.iter().map(|l| l.product_id).collect();
    crate::catalog::invalidate(state, store, &products).await;
    Ok(true)
}
