//! Payments: the gateway the checkout saga talks to.
//!
//! [`Gateway`] is what a payment service provider (PSP) does for us:
//! authorize, capture, void, refund, and look up an authorization by the
//! idempotency key it was made with. Every call carries an idempotency key
//! derived from the checkout, so a retry after a timeout never moves money
//! twice. [`HttpGateway`] speaks the PSP's HTTP API (the built-in test
//! gateway, `mercato gateway`, or a real provider with the same shape).
//!
//! The wire types ([`wire`]) are shared with the test gateway's server, so
//! both sides read and write the same JSON; [`signature`] signs and verifies
//! webhook bodies (`Mercato-Signature` header).
//!
//! The one rule callers must follow: [`GatewayError::Unknown`] means the
//! outcome is NOT known (the PSP may have charged). Never treat it as a
//! decline; ask [`Gateway::lookup`] with the same key, or retry the call
//! with the same key, to learn the truth.

mod client;
pub use mercato_tenants::signature;
pub mod wire;

pub use client::HttpGateway;
pub use signature::SignatureError;
pub use wire::{Payment, PaymentStatus, WebhookEvent};

/// A boxed future, so [`Gateway`] stays object safe (`Arc<dyn Gateway>`).
pub type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

/// An authorization: reserve `amount` on the card behind `token`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizeRequest {
    /// Idempotency key: the same key and request give the same payment.
    pub key: String,
    /// Minor units, > 0.
    pub amount: i64,
    /// ISO 4217 code, e.g. `USD`.
    pub currency: String,
    /// A card token (`tok_...`) from the PSP's tokenization.
    pub token: String,
    /// Ours, e.g. the checkout id; echoed in the payment and its webhooks.
    pub reference: String,
    /// Where the PSP posts this payment's webhook events.
    pub notify_url: Option<String>,
}

/// The PSP's refusal of a request that reuses an idempotency key with
/// different parameters.
pub const KEY_REUSED: &str = "idempotency_key_reused";

/// Why a gateway call did not give a payment.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// The PSP answered: no money moved (declined / failed). `payment` is its record.
    #[error("payment refused: {code}")]
    Refused {
        code: String,
        payment: Option<Payment>,
    },
    /// The PSP answered 4xx for a bad request (bad token, invalid state, ...).
    #[error("gateway rejected the request: {code}")]
    Rejected {
        status: u16,
        code: String,
        message: String,
    },
    /// No answer (timeout, connection dropped, 5xx): the outcome is UNKNOWN; look it up by key.
    #[error("gateway outcome unknown: {0}")]
    Unknown(String),
}

/// A payment service provider.
pub trait Gateway: Send + Sync + 'static {
    fn authorize<'a>(
        &'a self,
        req: &'a AuthorizeRequest,
    ) -> BoxFuture<'a, Result<Payment, GatewayError>>;
    /// Captures `amount` (at most the authorized amount) of an authorization.
    fn capture<'a>(
        &'a self,
        key: &'a str,
        payment_id: &'a str,
        amount: i64,
    ) -> BoxFuture<'a, Result<Payment, GatewayError>>;
    /// Releases an authorization that was not captured.
    fn void<'a>(
        &'a self,
        key: &'a str,
        payment_id: &'a str,
    ) -> BoxFuture<'a, Result<Payment, GatewayError>>;
    /// Gives back `amount` (at most captured minus refunded) of a capture.
    fn refund<'a>(
        &'a self,
        key: &'a str,
        payment_id: &'a str,
        amount: i64,
    ) -> BoxFuture<'a, Result<Payment, GatewayError>>;
    /// The payment an authorize call with this idempotency key created, if any.
    fn lookup<'a>(
        &'a self,
        authorize_key: &'a str,
    ) -> BoxFuture<'a, Result<Option<Payment>, GatewayError>>;
    /// A card session whose form sends the shopper back to `return_url`:
    /// the card goes from the shopper's browser to the PSP, the pod only
    /// ever sees the token (read with [`Gateway::card_session`]).
    fn open_card_session<'a>(
        &'a self,
        return_url: &'a str,
    ) -> BoxFuture<'a, Result<wire::CardSession, GatewayError>>;
    /// A card session by id; `None` if the PSP has none.
    fn card_session<'a>(
        &'a self,
        id: &'a str,
    ) -> BoxFuture<'a, Result<Option<wire::CardSession>, GatewayError>>;
}
