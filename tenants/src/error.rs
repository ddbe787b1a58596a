//! The error-code catalogue: every code a client can see, its HTTP status,
//! and the one JSON shape every Mercato process answers errors with:
//! `{"error":{"code":"...","message":"...","request_id":"..."}}`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

macro_rules! catalogue {
    ($($variant:ident => ($code:literal, $status:ident)),+ $(,)?) => {
        /// Every error code a client can receive.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ErrorCode { $($variant),+ }

        impl ErrorCode {
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant),+];

            /// The stable machine-readable code.
            pub const fn as_str(self) -> &'static str {
                match self { $(ErrorCode::$variant => $code),+ }
            }

            /// The HTTP status this code is served with.
            pub const fn status(self) -> StatusCode {
                match self { $(ErrorCode::$variant => StatusCode::$status),+ }
            }
        }
    };
}

catalogue! {
    InvalidJson => ("invalid_json", BAD_REQUEST),
    InvalidText => ("invalid_text", BAD_REQUEST),
    InvalidRequest => ("invalid_request", BAD_REQUEST),
    InvalidId => ("invalid_id", BAD_REQUEST),
    InvalidDomain => ("invalid_domain", BAD_REQUEST),
    InvalidHandle => ("invalid_handle", BAD_REQUEST),
    InvalidEmail => ("invalid_email", BAD_REQUEST),
    InvalidToken => ("invalid_token", BAD_REQUEST),
    InvalidCartToken => ("invalid_cart_token", BAD_REQUEST),
    InvalidQuantity => ("invalid_quantity", BAD_REQUEST),
    InvalidImage => ("invalid_image", UNPROCESSABLE_ENTITY),
    InvalidCountry => ("invalid_country", BAD_REQUEST),
    MissingIdempotencyKey => ("missing_idempotency_key", BAD_REQUEST),
    InvalidSignature => ("invalid_signature", BAD_REQUEST),
    MissingHost => ("missing_host", BAD_REQUEST),
    InvalidQueueTicket => ("invalid_queue_ticket", BAD_REQUEST),
    QueueTicketExpired => ("queue_ticket_expired", BAD_REQUEST),
    Unauthorized => ("unauthorized", UNAUTHORIZED),
    TokenExpired => ("token_expired", UNAUTHORIZED),
    InvalidCredentials => ("invalid_credentials", UNAUTHORIZED),
    PaymentDeclined => ("payment_declined", PAYMENT_REQUIRED),
    PaymentFailed => ("payment_failed", PAYMENT_REQUIRED),
    Forbidden => ("forbidden", FORBIDDEN),
    QueueTicketWrongStore => ("queue_ticket_wrong_store", FORBIDDEN),
    QueueTicketUsed => ("queue_ticket_used", FORBIDDEN),
    ReviewNotAllowed => ("review_not_allowed", FORBIDDEN),
    NotFound => ("not_found", NOT_FOUND),
    UnknownStore => ("unknown_store", NOT_FOUND),
    MethodNotAllowed => ("method_not_allowed", METHOD_NOT_ALLOWED),
    HandleTaken => ("handle_taken", CONFLICT),
    DomainTaken => ("domain_taken", CONFLICT),
    PodNameTaken => ("pod_name_taken", CONFLICT),
    SkuTaken => ("sku_taken", CONFLICT),
    EmailTaken => ("email_taken", CONFLICT),
    Conflict => ("conflict", CONFLICT),
    StockReserved => ("stock_reserved", CONFLICT),
    NegativeStock => ("negative_stock", CONFLICT),
    LastActiveLocation => ("last_active_location", CONFLICT),
    OutOfStock => ("out_of_stock", CONFLICT),
    PriceChanged => ("price_changed", CONFLICT),
    InvalidTransition => ("invalid_transition", CONFLICT),
    CheckoutPending => ("checkout_pending", CONFLICT),
    CheckoutInterrupted => ("checkout_interrupted", CONFLICT),
    MoveInProgress => ("move_in_progress", CONFLICT),
    AlreadyOnPod => ("already_on_pod", CONFLICT),
    MoveFinished => ("move_finished", CONFLICT),
    NoTargetPod => ("no_target_pod", CONFLICT),
    FleetJobRunning => ("fleet_job_running", CONFLICT),
    UnitsNotPending => ("units_not_pending", CONFLICT),
    AlreadyReviewed => ("already_reviewed", CONFLICT),
    PayloadTooLarge => ("payload_too_large", PAYLOAD_TOO_LARGE),
    UnsupportedMediaType => ("unsupported_media_type", UNSUPPORTED_MEDIA_TYPE),
    StoreNotHere => ("store_not_here", MISDIRECTED_REQUEST),
    Unprocessable => ("unprocessable", UNPROCESSABLE_ENTITY),
    WeakPassword => ("weak_password", UNPROCESSABLE_ENTITY),
    UnknownVariant => ("unknown_variant", UNPROCESSABLE_ENTITY),
    VariantUnavailable => ("variant_unavailable", UNPROCESSABLE_ENTITY),
    LineLimitExceeded => ("line_limit_exceeded", UNPROCESSABLE_ENTITY),
    UnknownLocation => ("unknown_location", UNPROCESSABLE_ENTITY),
    IdempotencyKeyReused => ("idempotency_key_reused", UNPROCESSABLE_ENTITY),
    EmptyCart => ("empty_cart", UNPROCESSABLE_ENTITY),
    ShippingUnavailable => ("shipping_unavailable", UNPROCESSABLE_ENTITY),
    PodNotMovable => ("pod_not_movable", UNPROCESSABLE_ENTITY),
    MovePreflightFailed => ("move_preflight_failed", UNPROCESSABLE_ENTITY),
    RateLimited => ("rate_limited", TOO_MANY_REQUESTS),
    Internal => ("internal", INTERNAL_SERVER_ERROR),
    PodUnavailable => ("pod_unavailable", SERVICE_UNAVAILABLE),
    UpstreamTimeout => ("upstream_timeout", GATEWAY_TIMEOUT),
    NoPodAvailable => ("no_pod_available", SERVICE_UNAVAILABLE),
    NotReady => ("not_ready", SERVICE_UNAVAILABLE),
    StoreUnavailable => ("store_unavailable", SERVICE_UNAVAILABLE),
    Overloaded => ("overloaded", SERVICE_UNAVAILABLE),
    Queued => ("queued", SERVICE_UNAVAILABLE),
    DatabaseUnavailable => ("database_unavailable", SERVICE_UNAVAILABLE),
    InvalidTemplate => ("invalid_template", UNPROCESSABLE_ENTITY),
    // A dependency of one feature is down for a moment (the payment
    // gateway for a card form, Redis for a checkout draft).
    ServiceUnavailable => ("service_unavailable", SERVICE_UNAVAILABLE),
    RefundTooLarge => ("refund_too_large", CONFLICT),
    ReturnNotAllowed => ("return_not_allowed", UNPROCESSABLE_ENTITY),
    ReturnTooLarge => ("return_too_large", CONFLICT),
    InvalidDiscount => ("invalid_discount", UNPROCESSABLE_ENTITY),
    DiscountCodeTaken => ("discount_code_taken", CONFLICT),
    UnknownDiscountCode => ("unknown_discount_code", UNPROCESSABLE_ENTITY),
    DiscountCodeLimit => ("discount_code_limit", UNPROCESSABLE_ENTITY),
    DiscountNotApplicable => ("discount_not_applicable", CONFLICT),
    DiscountUsedUp => ("discount_used_up", CONFLICT),
    InvalidRiskSettings => ("invalid_risk_settings", UNPROCESSABLE_ENTITY),
    GiftCardNotFound => ("gift_card_not_found", NOT_FOUND),
    GiftCardExpired => ("gift_card_expired", UNPROCESSABLE_ENTITY),
    GiftCardDisabled => ("gift_card_disabled", UNPROCESSABLE_ENTITY),
    GiftCardInsufficient => ("gift_card_insufficient", CONFLICT),
    GiftCardCurrencyMismatch => ("gift_card_currency_mismatch", UNPROCESSABLE_ENTITY),
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The JSON body of every error, for the OpenAPI documents.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// A stable machine-readable code, e.g. `sku_taken`.
    pub code: String,
    /// A human-readable explanation.
    pub message: String,
    /// Quote this when reporting a problem.
    pub request_id: Option<String>,
}

/// An error as a client sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    /// An opaque 500. The cause is logged here, in the caller's span, and
    /// never sent to the client.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::new(
            ErrorCode::Internal,
            "internal error; quote the request id when reporting it",
        )
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(ErrorCode::NotFound, format!("{what} not found"))
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidRequest, message)
    }

    /// The JSON body, with the request id if known.
    pub fn body(&self, request_id: Option<&str>) -> String {
        #[derive(Serialize)]
        struct Inner<'a> {
            code: &'a str,
            message: &'a str,
            request_id: Option<&'a str>,
        }
        #[derive(Serialize)]
        struct Outer<'a> {
            error: Inner<'a>,
        }
        serde_json::to_string(&Outer {
            error: Inner {
                code: self.code.as_str(),
                message: &self.message,
                request_id,
            },
        })
        .unwrap_or_else(|_| {
            String::from(r#"{"error":{"code":"internal","message":"","request_id":null}}"#)
        })
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for ApiError {}

impl IntoResponse for ApiError {
    /// Renders without a request id; the request-id layer, which knows it,
    /// renders the body again on the way out (see [`crate::http::request_id`]).
    fn into_response(self) -> Response {
        let mut response = (
            self.code.status(),
            [(axum::http::header::CONTENT_TYPE, "application/json")],
            self.body(None),
        )
            .into_response();
        // Every 503 is temporary by definition; say when to come back.
        if self.code.status() == StatusCode::SERVICE_UNAVAILABLE {
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from_static("1"),
            );
        }
        response.extensions_mut().insert(self);
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn codes_are_unique_and_statuses_are_errors() {
        let mut seen = HashSet::new();
        for code in ErrorCode::ALL {
            assert!(seen.insert(code.as_str()), "duplicate code {code}");
            assert!(code.status().is_client_error() || code.status().is_server_error());
        }
        assert_eq!(ErrorCode::StoreNotHere.status().as_u16(), 421);
        assert_eq!(ErrorCode::UnknownStore.status().as_u16(), 404);
    }

    #[test]
    fn body_shape() {
        let err = ApiError::new(ErrorCode::UnknownStore, "no store at x.example");
        let body: serde_json::Value = serde_json::from_str(&err.body(Some("r-1"))).expect("json");
        assert_eq!(body["error"]["code"], "unknown_store");
        assert_eq!(body["error"]["message"], "no store at x.example");
        assert_eq!(body["error"]["request_id"], "r-1");
    }
}
