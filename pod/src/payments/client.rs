//! [`HttpGateway`]: the PSP's HTTP API through one pooled client.

use std::time::Duration;

use anyhow::Context as _;
use mercato_tenants::trace::{TraceParent, TRACEPARENT_HEADER};
use reqwest::Method;
use serde::Serialize;

use super::wire::{
    AuthorizeBody, CaptureBody, ErrorBody, RefundBody, IDEMPOTENCY_HEADER, NOT_FOUND_CODE,
};
use super::{wire, AuthorizeRequest, BoxFuture, Gateway, GatewayError, Payment};

/// A PSP reached over HTTP (`Authorization: Bearer <api key>`).
#[derive(Clone)]
pub struct HttpGateway {
    http: reqwest::Client,
    /// Without a trailing slash.
    base: String,
    api_key: String,
}

impl std::fmt::Debug for HttpGateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpGateway")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

impl HttpGateway {
    /// `timeout` bounds each call end to end; a call that runs out of it is
    /// [`GatewayError::Unknown`].
    pub fn new(base_url: &str, api_key: &str, timeout: Duration) -> anyhow::Result<Self> {
        let url = reqwest::Url::parse(base_url)
            .with_context(|| format!("gateway url {base_url:?} is not a URL"))?;
        anyhow::ensure!(
            matches!(url.scheme(), "http" | "https"),
            "gateway url {base_url:?} must be http or https"
        );
        anyhow::ensure!(!api_key.is_empty(), "the gateway api key must be set");
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .pool_idle_timeout(Duration::from_secs(30))
            .build()
            .context("building the gateway http client")?;
        Ok(Self {
            http,
            base: base_url.trim_end_matches('/').to_owned(),
            api_key: api_key.to_owned(),
        })
    }

    fn url(&self, segments: &[&str]) -> String {
        let mut url = self.base.clone();
        for segment in segments {
            url.push('/');
            url.push_str(&encode_segment(segment));
        }
        url
    }

    /// One call; `Err` only when there is no complete answer.
    async fn send(
        &self,
        method: Method,
        segments: &[&str],
        key: Option<&str>,
        body: Option<&impl Serialize>,
    ) -> Result<(u16, bytes::Bytes), GatewayError> {
        let mut request = self
            .http
            .request(method, self.url(segments))
            .bearer_auth(&self.api_key);
        if let Some(key) = key {
            request = request.header(IDEMPOTENCY_HEADER, key);
        }
        // The gateway's span joins the checkout's trace.
        if let Some(parent) = TraceParent::current() {
            request = request.header(TRACEPARENT_HEADER, parent.header_value());
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.map_err(transport)?;
        let status = response.status().as_u16();
        let body = response.bytes().await.map_err(transport)?;
        Ok((status, body))
    }

    async fn payment_call(
        &self,
        segments: &[&str],
        key: &str,
        body: &impl Serialize,
    ) -> Result<Payment, GatewayError> {
        let (status, body) = self
            .send(Method::POST, segments, Some(key), Some(body))
            .await?;
        interpret(status, &body)
    }
}

/// A transport failure, with its causes (reqwest's own text is terse).
fn transport(e: reqwest::Error) -> GatewayError {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    GatewayError::Unknown(text)
}

/// Percent-encodes a path segment (ids and keys are the caller's strings).
fn encode_segment(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for b in segment.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// What an answer means: a payment, a refusal (402), a rejection (other
/// 4xx) or, for 408/429/5xx and unreadable success bodies, an unknown
/// outcome.
// `GatewayError` carries the refused payment by value: that is the
// contract's shape, and refusals are not a hot path.
#[allow(clippy::result_large_err)]
fn interpret(status: u16, body: &[u8]) -> Result<Payment, GatewayError> {
    match status {
        200..=299 => serde_json::from_slice::<Payment>(body).map_err(|e| {
            GatewayError::Unknown(format!("unreadable {status} answer from the gateway: {e}"))
        }),
        402 => match serde_json::from_slice::<Payment>(body) {
            Ok(payment) => Err(GatewayError::Refused {
                code: payment
                    .decline_code
                    .clone()
                    .unwrap_or_else(|| "declined".to_owned()),
                payment: Some(payment),
            }),
            Err(_) => Err(GatewayError::Refused {
                code: error_body(body).0,
                payment: None,
            }),
        },
        408 | 429 => Err(GatewayError::Unknown(format!(
            "the gateway answered {status}"
        ))),
        400..=499 => {
            let (code, message) = error_body(body);
            Err(GatewayError::Rejected {
                status,
                code,
                message,
            })
        }
        _ => Err(GatewayError::Unknown(format!(
            "the gateway answered {status}"
        ))),
    }
}

/// A card session from an answer; any refusal is `Rejected`, a 5xx or an
/// unreadable body `Unknown` (no money moves with a card session).
#[allow(clippy::result_large_err)]
fn card_session_answer(status: u16, body: &[u8]) -> Result<wire::CardSession, GatewayError> {
    match status {
        200..=299 => serde_json::from_slice(body).map_err(|e| {
            GatewayError::Unknown(format!("unreadable {status} answer from the gateway: {e}"))
        }),
        400..=499 if status != 408 && status != 429 => {
            let (code, message) = error_body(body);
            Err(GatewayError::Rejected {
                status,
                code,
                message,
            })
        }
        _ => Err(GatewayError::Unknown(format!(
            "the gateway answered {status}"
        ))),
    }
}

fn error_body(body: &[u8]) -> (String, String) {
    match serde_json::from_slice::<ErrorBody>(body) {
        Ok(e) => (e.error.code, e.error.message),
        Err(_) => (
            "unknown".to_owned(),
            String::from_utf8_lossy(body).chars().take(200).collect(),
        ),
    }
}

impl Gateway for HttpGateway {
    fn authorize<'a>(
        &'a self,
        req: &'a AuthorizeRequest,
    ) -> BoxFuture<'a, Result<Payment, GatewayError>> {
        Box::pin(async move {
            let body = AuthorizeBody {
                amount: req.amount,
                currency: req.currency.clone(),
                token: req.token.clone(),
                reference: req.reference.clone(),
                notify_url: req.notify_url.clone(),
                metadata: None,
            };
            self.payment_call(&["v1", "authorizations"], &req.key, &body)
                .await
        })
    }

    fn capture<'a>(
        &'a self,
        key: &'a str,
        payment_id: &'a str,
        amount: i64,
    ) -> BoxFuture<'a, Result<Payment, GatewayError>> {
        Box::pin(async move {
            let body = CaptureBody {
                amount: Some(amount),
            };
            self.payment_call(&["v1", "payments", payment_id, "capture"], key, &body)
                .await
        })
    }

    fn void<'a>(
        &'a self,
        key: &'a str,
        payment_id: &'a str,
    ) -> BoxFuture<'a, Result<Payment, GatewayError>> {
        Box::pin(async move {
            self.payment_call(
                &["v1", "payments", payment_id, "void"],
                key,
                &serde_json::json!({}),
            )
            .await
        })
    }

    fn refund<'a>(
        &'a self,
        key: &'a str,
        payment_id: &'a str,
        amount: i64,
    ) -> BoxFuture<'a, Result<Payment, GatewayError>> {
        Box::pin(async move {
            self.payment_call(
                &["v1", "payments", payment_id, "refunds"],
                key,
                &RefundBody { amount },
            )
            .await
        })
    }

    fn open_card_session<'a>(
        &'a self,
        return_url: &'a str,
    ) -> BoxFuture<'a, Result<wire::CardSession, GatewayError>> {
        Box::pin(async move {
            let body = wire::CardSessionBody {
                return_url: return_url.to_owned(),
            };
            let (status, body) = self
                .send(Method::POST, &["v1", "card_sessions"], None, Some(&body))
                .await?;
            card_session_answer(status, &body)
        })
    }

    fn card_session<'a>(
        &'a self,
        id: &'a str,
    ) -> BoxFuture<'a, Result<Option<wire::CardSession>, GatewayError>> {
        Box::pin(async move {
            let (status, body) = self
                .send(Method::GET, &["v1", "card_sessions", id], None, None::<&()>)
                .await?;
            if status == 404 && error_body(&body).0 == NOT_FOUND_CODE {
                return Ok(None);
            }
            card_session_answer(status, &body).map(Some)
        })
    }

    fn lookup<'a>(
        &'a self,
        authorize_key: &'a str,
    ) -> BoxFuture<'a, Result<Option<Payment>, GatewayError>> {
        Box::pin(async move {
            let (status, body) = self
                .send(
                    Method::GET,
                    &["v1", "authorizations", authorize_key],
                    None,
                    None::<&()>,
                )
                .await?;
            // Only the gateway's own "no such payment" means none: a 404 for
            // a wrong route must not read as "nothing was charged".
            if status == 404 && error_body(&body).0 == NOT_FOUND_CODE {
                return Ok(None);
            }
            match interpret(status, &body) {
                Ok(payment) => Ok(Some(payment)),
                Err(GatewayError::Refused { .. }) => Err(GatewayError::Unknown(format!(
                    "unexpected {status} answer to a lookup"
                ))),
                Err(e) => Err(e),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::payments::PaymentStatus;

    fn payment_json(status: &str, decline: Option<&str>) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({
            "id": "pay_1", "status": status, "amount": 1000, "currency": "USD",
            "captured_amount": 0, "refunded_amount": 0, "decline_code": decline,
            "reference": "chk_1", "idempotency_key": "k", "created": 1
        }))
        .expect("json")
    }

    #[test]
    fn success_is_a_payment() {
        let p = interpret(200, &payment_json("authorized", None)).expect("payment");
        assert_eq!(p.status, PaymentStatus::Authorized);
        assert_eq!(p.amount, 1000);
        assert_eq!(p.reference, "chk_1");
    }

    #[test]
    fn a_402_is_a_refusal_with_the_payment() {
        match interpret(402, &payment_json("declined", Some("insufficient_funds"))) {
            Err(GatewayError::Refused {
                code,
                payment: Some(p),
            }) => {
                assert_eq!(code, "insufficient_funds");
                assert_eq!(p.status, PaymentStatus::Declined);
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn other_4xx_are_rejections_with_the_code() {
        let body = br#"{"error":{"code":"invalid_state","message":"already captured"}}"#;
        match interpret(409, body) {
            Err(GatewayError::Rejected {
                status,
                code,
                message,
            }) => {
                assert_eq!(status, 409);
                assert_eq!(code, "invalid_state");
                assert_eq!(message, "already captured");
            }
            other => panic!("expected a rejection, got {other:?}"),
        }
        match interpret(400, b"not json") {
            Err(GatewayError::Rejected { code, .. }) => assert_eq!(code, "unknown"),
            other => panic!("expected a rejection, got {other:?}"),
        }
    }

    #[test]
    fn no_real_answer_is_unknown() {
        for status in [408, 429, 500, 502, 503, 504, 302] {
            assert!(
                matches!(interpret(status, b""), Err(GatewayError::Unknown(_))),
                "{status}"
            );
        }
        assert!(matches!(
            interpret(200, b"{\"truncated"),
            Err(GatewayError::Unknown(_))
        ));
    }

    #[test]
    fn path_segments_are_encoded() {
        assert_eq!(encode_segment("chk_01:authorize"), "chk_01%3Aauthorize");
        assert_eq!(encode_segment("a/b c"), "a%2Fb%20c");
        assert_eq!(encode_segment("pay_0193-x.y~z"), "pay_0193-x.y~z");
        let gw =
            HttpGateway::new("http://127.0.0.1:1/", "k", Duration::from_secs(1)).expect("client");
        assert_eq!(
            gw.url(&["v1", "authorizations", "k/1"]),
            "http://127.0.0.1:1/v1/authorizations/k%2F1"
        );
    }

    #[test]
    fn bad_settings_are_refused() {
        assert!(HttpGateway::new("not a url", "k", Duration::from_secs(1)).is_err());
        assert!(HttpGateway::new("ftp://x", "k", Duration::from_secs(1)).is_err());
        assert!(HttpGateway::new("http://x", "", Duration::from_secs(1)).is_err());
    }
}
