//! The PSP's JSON, in one place: the test gateway's server writes these and
//! [`super::HttpGateway`] reads them. Documented in `docs/payments.md`.

use serde::{Deserialize, Serialize};

/// Header carrying the idempotency key of every money-moving call.
pub const IDEMPOTENCY_HEADER: &str = "Idempotency-Key";
/// Header carrying a webhook's signature (see [`super::signature`]).
pub const SIGNATURE_HEADER: &str = "Mercato-Signature";
/// The error code of a 404 for a payment id or authorization key the PSP
/// does not know (as opposed to a route that does not exist).
pub const NOT_FOUND_CODE: &str = "no_such_payment";

/// Where a payment stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PaymentStatus {
    /// Money reserved on the card; capture or void it.
    Authorized,
    /// The issuer said no (`decline_code` says why); no money moved.
    Declined,
    /// The PSP could not process it; no money moved.
    Failed,
    /// Money taken (`captured_amount`).
    Captured,
    /// The authorization was released; no money moved.
    Voided,
    /// Part of the capture was given back.
    PartiallyRefunded,
    /// All of the capture was given back.
    Refunded,
}

/// A payment as the PSP reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payment {
    /// `pay_...`
    pub id: String,
    pub status: PaymentStatus,
    /// Authorized amount, minor units.
    pub amount: i64,
    pub currency: String,
    pub captured_amount: i64,
    pub refunded_amount: i64,
    /// Why it was declined or failed (`card_declined`, `insufficient_funds`,
    /// `processing_error`); `None` otherwise.
    pub decline_code: Option<String>,
    /// The caller's reference given at authorization (e.g. the checkout id).
    pub reference: String,
    /// The PSP's fingerprint of the card number (`fp_...`): the same for
    /// every token of one card, for this merchant account; what the risk
    /// screen counts a card's attempts by. `None` when the PSP gives none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub card_fingerprint: Option<String>,
}

/// The full payment object on the wire: [`Payment`] plus bookkeeping
/// fields. Readers that only need a [`Payment`] ignore the rest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PaymentObject {
    #[serde(flatten)]
    pub payment: Payment,
    /// The `Idempotency-Key` of the authorization that created it.
    pub idempotency_key: String,
    /// Unix seconds.
    pub created: i64,
    /// Free-form metadata given at authorization.
    #[serde(default)]
    pub metadata: Option<serde_json::Value>,
}

/// A webhook event as the PSP sends it (`data` is the full payment object).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GatewayEvent {
    /// `evt_...`; a retried delivery carries the same id.
    pub id: String,
    /// `payment.authorized`, `payment.declined`, `payment.failed`,
    /// `payment.captured`, `payment.voided`, `payment.refunded`.
    #[serde(rename = "type")]
    pub event_type: String,
    /// Unix seconds.
    pub created: i64,
    pub data: PaymentObject,
}

/// A webhook event as the pod reads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookEvent {
    pub id: String,
    #[serde(rename = "type")]
    pub event_type: String,
    pub created: i64,
    pub data: Payment,
}

/// The event type for a payment that just reached `status`.
pub fn event_type(status: PaymentStatus) -> &'static str {
    match status {
        PaymentStatus::Authorized => "payment.authorized",
        PaymentStatus::Declined => "payment.declined",
        PaymentStatus::Failed => "payment.failed",
        PaymentStatus::Captured => "payment.captured",
        PaymentStatus::Voided => "payment.voided",
        PaymentStatus::PartiallyRefunded | PaymentStatus::Refunded => "payment.refunded",
    }
}

/// Every PSP error: `{"error": {"code": "...", "message": "..."}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDetail {
    pub code: String,
    pub message: String,
}

/// `POST /v1/tokens`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    pub number: String,
    pub exp_month: u32,
    pub exp_year: i32,
    pub cvc: String,
}

/// The answer to `POST /v1/tokens`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Token {
    /// `tok_...`
    pub id: String,
    /// Last four digits of the card.
    pub last4: String,
}

/// `POST /v1/card_sessions`: a place for one card, entered by the shopper
/// on the PSP's side (the card form posts to the PSP, never to the pod).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CardSessionBody {
    /// Where the PSP sends the shopper's browser once the card is
    /// entered (or refused), with `session=<id>` added to its query.
    pub return_url: String,
}

/// A card session: `open` until a card is entered, then `complete` with
/// its token; `expired` 30 minutes after it was made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardSession {
    /// `cs_...`
    pub id: String,
    pub status: String,
    /// Where the card form posts, on the PSP's public address
    /// (`/pay/cs_...`).
    pub pay_path: String,
    /// The token of the card entered (`complete` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last4: Option<String>,
    /// Why the last card entered was refused (`invalid_number`,
    /// `expired_card`, `invalid_cvc`...), while still `open`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub card_error: Option<ErrorDetail>,
}

/// `POST /v1/authorizations`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthorizeBody {
    pub amount: i64,
    pub currency: String,
    pub token: String,
    pub reference: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<serde_json::Value>,
}

/// `POST /v1/payments/{id}/capture`; no amount captures all.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaptureBody {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<i64>,
}

/// `POST /v1/payments/{id}/refunds`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefundBody {
    pub amount: i64,
}

/// `GET /v1/payments?reference=...`: the payments made with a reference.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PaymentList {
    pub items: Vec<PaymentObject>,
}

/// `GET /v1/stats`: the test gateway's counters since it started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Stats {
    /// Authorizations processed (one per distinct idempotency key), of any
    /// outcome.
    pub authorizations: u64,
    pub captures: u64,
    pub voids: u64,
    pub refunds: u64,
    pub tokens: u64,
    /// Webhook events created (each delivered until a 2xx or out of tries).
    pub events: u64,
    /// Delivery attempts, retries included.
    pub webhook_attempts: u64,
    /// Events acknowledged with a 2xx.
    pub webhooks_delivered: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object() -> PaymentObject {
        PaymentObject {
            payment: Payment {
                id: "pay_1".into(),
                status: PaymentStatus::PartiallyRefunded,
                amount: 500,
                currency: "USD".into(),
                captured_amount: 400,
                refunded_amount: 100,
                decline_code: None,
                reference: "chk_1".into(),
                card_fingerprint: Some("fp_1".into()),
            },
            idempotency_key: "k1".into(),
            created: 1_700_000_000,
            metadata: Some(serde_json::json!({"order": 7})),
        }
    }

    #[test]
    fn the_payment_object_is_flat_and_reads_as_a_payment() {
        let json = serde_json::to_value(object()).expect("serializes");
        assert_eq!(json["status"], "partially_refunded");
        assert_eq!(json["idempotency_key"], "k1");
        assert_eq!(json["decline_code"], serde_json::Value::Null);
        let payment: Payment = serde_json::from_value(json.clone()).expect("reads");
        assert_eq!(payment, object().payment);
        let back: PaymentObject = serde_json::from_value(json).expect("round trip");
        assert_eq!(back, object());
    }

    #[test]
    fn a_sent_event_reads_as_a_webhook_event() {
        let sent = GatewayEvent {
            id: "evt_1".into(),
            event_type: event_type(PaymentStatus::Captured).into(),
            created: 1_700_000_001,
            data: object(),
        };
        let body = serde_json::to_vec(&sent).expect("serializes");
        let read: WebhookEvent = serde_json::from_slice(&body).expect("reads");
        assert_eq!(read.id, "evt_1");
        assert_eq!(read.event_type, "payment.captured");
        assert_eq!(read.created, 1_700_000_001);
        assert_eq!(read.data, object().payment);
    }

    #[test]
    fn refunds_of_either_size_are_one_event_type() {
        assert_eq!(event_type(PaymentStatus::Refunded), "payment.refunded");
        assert_eq!(
            event_type(PaymentStatus::PartiallyRefunded),
            "payment.refunded"
        );
        assert_eq!(event_type(PaymentStatus::Declined), "payment.declined");
    }
}
