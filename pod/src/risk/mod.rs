//! Risk screening (issue 18 part 3): before capture, the checkout is
//! scored from the store's rules and thresholds and allowed, sent to
//! review (authorized, not captured) or blocked.
//!
//! - `model.rs` (pure, property-tested): [`RiskSettings`] (the merchant's
//!   thresholds, each with its default and bound), [`Signals`],
//!   [`decide`] → [`Assessment`] with stable [`ReasonCode`]s, the built-in
//!   disposable email domains;
//! - `sql.rs`: `risk_attempts` (the velocity record), `risk_settings`,
//!   `risk_assessments`, and the one read [`screen`] makes;
//! - this module: the velocity keys ([`Keys`]), [`record_attempt`],
//!   [`screen`], the settings' reads and writes, and the prune worker
//!   ([`spawn_prune_worker`]).
//!
//! **Velocity.** Every checkout that reaches the gateway leaves one
//! `risk_attempts` row: the saga records a declined authorization with
//! [`record_attempt`], and [`screen`] records the screened one with its
//! decision in the transaction that keeps the decision. A screen counts the
//! other checkouts' rows of the last hour by email, client address and card
//! and adds the checkout itself as an attempt. Rows are keyed by HMAC-SHA256
//! ([`Keys::derive`], keyed with a secret every pod shares: the gateway's
//! API key) so no email, address or card is kept in clear.
//!
//! **The card.** The gateway's card fingerprint when it gives one (the test
//! gateway does: `card_fingerprint` in the payment, the same for every
//! token of one card number, like a real PSP's); otherwise the payment
//! token, hashed: that only links checkouts that reuse one token (a saved
//! card, the test gateway's magic tokens), not a card tokenized afresh.
//!
//! **The client address** is the router's `x-forwarded-for`
//! (`accounts::rate_limit::client_address`); `unknown` counts as no key.
//!
//! **One read.** [`screen`] reads the settings, the earlier decision, the
//! three velocity counts and the shopper's paid orders before in one
//! statement (so the settings need no cache), decides, and writes the
//! decision and the attempt in one statement that takes the store's fence
//! like `tenancy::begin_write` (two round trips in all). A repeated screen of
//! one checkout (a retried saga step) answers the decision kept the first
//! time.
//!
//! The HTTP face of the settings is `routes/risk.rs`.

pub mod model;
pub mod sql;

use hmac::{Hmac, Mac};
use mercato_tenants::{CheckoutId, StoreId};
use sha2::Sha256;
use sqlx::{PgExecutor, PgPool};
use tokio::task::JoinHandle;
use tracing::Instrument as _;

pub use model::{
    decide, Assessment, Counts, MismatchRule, Outcome, Reason, ReasonCode, RiskSettings,
    SettingsError, Signals, VelocityLimits,
};

use crate::error::PodError;
use crate::periodic::{spawn_every, store_span};
use crate::state::AppState;

/// Attempts older than this are pruned (only the last hour is counted).
pub const KEEP_ATTEMPTS_SECS: i64 = 24 * 3600;
/// How often the prune runs.
pub const PRUNE_INTERVAL_MS: u64 = 10 * 60 * 1000;
/// Rows deleted per prune transaction.
const PRUNE_BATCH: i64 = 5_000;

/// A card as the velocity record knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CardRef<'a> {
    /// The gateway's fingerprint of the card number.
    Fingerprint(&'a str),
    /// The payment token, when the gateway gives no fingerprint.
    Token(&'a str),
}

/// A checkout's velocity keys: HMAC-SHA256 of the lower-cased email, of the
/// client address (none when unknown) and of the card (none when empty).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keys {
    pub email: [u8; 32],
    pub client: Option<[u8; 32]>,
    pub card: Option<[u8; 32]>,
}

impl Keys {
    /// The keys, with `secret` (shared by every pod a store may move to).
    pub fn derive(secret: &[u8], email: &str, client_address: &str, card: CardRef<'_>) -> Self {
        let mac = |label: &[u8], value: &[u8]| -> [u8; 32] {
            // HMAC takes a key of any length.
            let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret)
                .unwrap_or_else(|_| unreachable!("hmac accepts any key length"));
            mac.update(label);
            mac.update(&[0]);
            mac.update(value);
            mac.finalize().into_bytes().into()
        };
        let client = client_address.trim();
        let card = match card {
            CardRef::Fingerprint(f) if !f.is_empty() => {
                Some(mac(b"card-fingerprint", f.as_bytes()))
            }
            CardRef::Token(t) if !t.is_empty() => Some(mac(b"card-token", t.as_bytes())),
            _ => None,
        };
        Self {
            email: mac(b"email", email.trim().to_lowercase().as_bytes()),
            client: (!client.is_empty() && client != "unknown")
                .then(|| mac(b"client", client.as_bytes())),
            card,
        }
    }
}

/// A checkout's keys under the secret every pod of the fleet shares (the
/// gateway's API key, which the card tokens belong to): what the saga
/// passes to [`record_attempt`] and [`screen`]. `client_address` is
/// `accounts::rate_limit::client_address` of the shopper's request (keep it
/// with the checkout to screen in recovery).
pub fn keys(state: &AppState, email: &str, client_address: &str, card: CardRef<'_>) -> Keys {
    Keys::derive(
        state.config.gateway.api_key.as_bytes(),
        email,
        client_address,
        card,
    )
}

/// What a `risk_attempts` row says of its checkout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptOutcome {
    /// The gateway declined (or failed) the authorization.
    Declined,
    /// Authorized and screened: the decision.
    Screened(Outcome),
}

impl AttemptOutcome {
    pub const fn as_str(self) -> &'static str {
        match self {
            AttemptOutcome::Declined => "declined",
            AttemptOutcome::Screened(o) => o.as_str(),
        }
    }
}

/// Records a checkout's attempt (the saga: a declined authorization); the
/// caller commits when `exec` is a transaction. Recording one checkout
/// again keeps one row with the latest outcome.
pub async fn record_attempt<'e>(
    exec: impl PgExecutor<'e>,
    store: StoreId,
    checkout: CheckoutId,
    keys: &Keys,
    outcome: AttemptOutcome,
) -> Result<(), PodError> {
    sql::record_attempt(exec, store, checkout, keys, outcome).await?;
    Ok(())
}

/// What the checkout tells the screen.
#[derive(Debug, Clone)]
pub struct ScreenInput {
    pub checkout: CheckoutId,
    /// The order's total, minor units of the store's currency.
    pub amount_minor: i64,
    pub currency: String,
    /// The checkout's email.
    pub email: String,
    /// The signed-in customer, if any.
    pub customer_id: Option<uuid::Uuid>,
    /// ISO 3166-1 alpha-2.
    pub shipping_country: String,
    pub billing_country: Option<String>,
    pub keys: Keys,
}

/// Screens a checkout (see the module's docs): one read, [`decide`], and
/// one write (the fence, the decision and the attempt in one statement).
pub async fn screen(
    db: &PgPool,
    store: StoreId,
    input: &ScreenInput,
) -> Result<Assessment, PodError> {
    let read = sql::screen_read(
        db,
        store,
        input.checkout,
        &input.keys,
        &input.email,
        input.customer_id,
    )
    .await?;
    if let Some(earlier) = read.earlier {
        return Ok(earlier);
    }
    let this_one = |c: Counts| Counts {
        attempts: c.attempts.saturating_add(1),
        declines: c.declines,
    };
    let signals = Signals {
        amount_minor: input.amount_minor,
        currency: input.currency.clone(),
        email: input.email.to_lowercase(),
        customer_id: input.customer_id,
        orders_before: read.orders_before,
        shipping_country: input.shipping_country.clone(),
        billing_country: input.billing_country.clone(),
        email_counts: this_one(read.email),
        client_counts: if input.keys.client.is_some() {
            this_one(read.client)
        } else {
            Counts::default()
        },
        card_counts: if input.keys.card.is_some() {
            this_one(read.card)
        } else {
            Counts::default()
        },
    };
    let decided = decide(&read.settings, &signals);
    match sql::keep(db, store, input.checkout, &decided, &input.keys).await? {
        sql::Kept::New => Ok(decided),
        sql::Kept::NotActive => Err(crate::tenancy::store_not_here(Some(store)).into()),
        sql::Kept::Earlier => sql::assessment_of(db, store, input.checkout)
            .await?
            .ok_or_else(|| PodError::internal("a kept risk assessment is gone")),
    }
}

/// A checkout's decision, if it was screened.
/// The decisions kept for `checkouts`, by checkout, in one read.
pub async fn assessments_of(
    db: &PgPool,
    store: StoreId,
    checkouts: &[CheckoutId],
) -> Result<std::collections::HashMap<CheckoutId, Assessment>, PodError> {
    Ok(sql::assessments_of(db, store, checkouts).await?)
}

pub async fn assessment_of(
    db: &PgPool,
    store: StoreId,
    checkout: CheckoutId,
) -> Result<Option<Assessment>, PodError> {
    Ok(sql::assessment_of(db, store, checkout).await?)
}

/// The store's settings (the defaults when it set none).
pub async fn settings(db: &PgPool, store: StoreId) -> Result<RiskSettings, PodError> {
    Ok(sql::settings(db, store).await?)
}

/// Checks and sets the store's settings, all at once (`PUT
/// /admin/api/settings/risk`): a value out of its bounds is `400
/// invalid_request`, a review threshold not below its block threshold
/// `422 invalid_risk_settings`. The settings as kept (normalized).
pub async fn put_settings(
    db: &PgPool,
    store: StoreId,
    settings: RiskSettings,
) -> Result<RiskSettings, PodError> {
    let settings = settings.validated().map_err(|e| match e {
        SettingsError::OutOfBounds(m) => mercato_tenants::ApiError::invalid(m),
        SettingsError::Inconsistent(m) => {
            mercato_tenants::ApiError::new(mercato_tenants::ErrorCode::InvalidRiskSettings, m)
        }
    })?;
    let mut tx = crate::tenancy::begin_write(db, store).await?;
    sql::put_settings(&mut tx, store, &settings).await?;
    tx.commit().await?;
    Ok(settings)
}

/// Deletes the store's attempts older than `older_than_secs`, in fenced
/// batches; how many.
pub async fn prune_store(
    db: &PgPool,
    store: StoreId,
    older_than_secs: i64,
) -> Result<u64, PodError> {
    let mut total = 0;
    loop {
        let mut tx = db.begin().await?;
        // Deleting writes: the fence like every writer, so a store fenced
        // for a move is left alone.
        if !crate::tenancy::is_active_locked(&mut tx, store).await? {
            return Ok(total);
        }
        let done = sql::prune(&mut tx, store, older_than_secs, PRUNE_BATCH).await?;
        tx.commit().await?;
        total += done;
        if done < PRUNE_BATCH as u64 {
            return Ok(total);
        }
    }
}

/// Prunes every active store's attempts older than [`KEEP_ATTEMPTS_SECS`]
/// every [`PRUNE_INTERVAL_MS`].
pub fn spawn_prune_worker(state: AppState) -> JoinHandle<()> {
    spawn_every(
        "risk_prune",
        PRUNE_INTERVAL_MS,
        "pruning risk attempts failed",
        move || {
            let state = state.clone();
            async move {
                for store in state.hosted.active() {
                    let span = store_span("risk_prune", store);
                    match prune_store(&state.db, store, KEEP_ATTEMPTS_SECS)
                        .instrument(span.clone())
                        .await
                    {
                        Ok(0) => {}
                        Ok(n) => {
                            let _in = span.entered();
                            tracing::debug!(rows = n, "pruned risk attempts");
                        }
                        Err(e) => {
                            let _in = span.entered();
                            tracing::warn!(error = %e, "pruning risk attempts failed");
                        }
                    }
                    tokio::task::yield_now().await;
                }
                Ok::<(), PodError>(())
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_keyed_case_blind_by_email_and_absent_when_unknown() {
        let a = Keys::derive(
            b"k1",
            "Ann@Example.com ",
            "10.0.0.1",
            CardRef::Fingerprint("fp_1"),
        );
        let b = Keys::derive(
            b"k1",
            "ann@example.com",
            "10.0.0.1",
            CardRef::Fingerprint("fp_1"),
        );
        assert_eq!(a, b);
        let other_secret = Keys::derive(
            b"k2",
            "ann@example.com",
            "10.0.0.1",
            CardRef::Fingerprint("fp_1"),
        );
        assert_ne!(a.email, other_secret.email);
        let token = Keys::derive(b"k1", "ann@example.com", "unknown", CardRef::Token("fp_1"));
        assert_ne!(token.card, a.card, "a token never passes for a fingerprint");
        assert_eq!(token.client, None);
        let none = Keys::derive(b"k1", "ann@example.com", "", CardRef::Token(""));
        assert_eq!((none.client, none.card), (None, None));
        assert_ne!(a.email, a.client.expect("client"), "each key has its label");
    }
}
