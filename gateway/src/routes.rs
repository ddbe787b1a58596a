//! The gateway's HTTP API (see `docs/payments.md`).

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{ConnectInfo, Path, Query, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::Datelike as _;
use mercato_pod::payments::wire::{
    AuthorizeBody, CaptureBody, CardSession, CardSessionBody, ErrorBody, ErrorDetail, PaymentList,
    PaymentObject, RefundBody, Stats, Token, TokenRequest, IDEMPOTENCY_HEADER, NOT_FOUND_CODE,
};
use mercato_pod::payments::{Payment, PaymentStatus};
use mercato_tenants::TraceParent;
use serde::de::DeserializeOwned;
use tokio::sync::watch;

use super::cards::{self, Behaviour};
use super::ledger::{self, Refusal};
use super::memory::{Claim, Counters, Fingerprint, Memory, Record, Reply};
use super::sessions::{self, Sessions};
use super::severable::Connection;
use super::webhooks::Webhooks;

/// Largest amount accepted, in minor units.
const MAX_AMOUNT: i64 = 1_000_000_000_000;
/// Longest idempotency key or reference.
const MAX_KEY_LEN: usize = 255;

#[derive(Clone)]
pub struct Gw {
    pub memory: Arc<Memory>,
    pub counters: Arc<Counters>,
    pub hooks: Webhooks,
    pub api_key: Arc<str>,
    /// Card sessions (the card form's transparent redirect).
    pub sessions: Arc<Sessions>,
    /// How long the slow test card takes.
    pub slow: Duration,
}

pub fn router(gw: Gw) -> Router {
    Router::new()
        .route("/v1/tokens", post(create_token))
        .route("/v1/authorizations", post(authorize))
        .route("/v1/authorizations/{key}", get(lookup))
        .route("/v1/payments", get(list))
        .route("/v1/payments/{id}", get(get_payment))
        .route("/v1/payments/{id}/capture", post(capture))
        .route("/v1/payments/{id}/void", post(void))
        .route("/v1/payments/{id}/refunds", post(refund))
        .route("/v1/stats", get(stats))
        .route("/v1/card_sessions", post(open_card_session))
        .route("/v1/card_sessions/{id}", get(get_card_session))
        .route_layer(axum::middleware::from_fn_with_state(
            gw.clone(),
            require_key,
        ))
        // The shopper's browser posts the card form here: no key (the
        // session is the authority), never JSON.
        .route("/pay/{id}", post(pay))
        .route("/readyz", get(mercato_tenants::http::healthz))
        .with_state(gw)
}

/// An error answer: `{"error": {"code", "message"}}`.
#[derive(Debug)]
pub struct GwError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl GwError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    fn bad(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    fn no_such_payment(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            NOT_FOUND_CODE,
            format!("no payment {what}"),
        )
    }

    fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error",
        )
    }

    fn reply(self) -> Reply {
        Reply::json(
            self.status,
            &ErrorBody {
                error: ErrorDetail {
                    code: self.code.to_owned(),
                    message: self.message,
                },
            },
        )
    }
}

impl From<Refusal> for GwError {
    fn from(r: Refusal) -> Self {
        Self::new(
            StatusCode::from_u16(r.status).unwrap_or(StatusCode::CONFLICT),
            r.code,
            r.message,
        )
    }
}

impl IntoResponse for GwError {
    fn into_response(self) -> Response {
        self.reply().into_response()
    }
}

/// Every `/v1` route needs `Authorization: Bearer <api key>`.
async fn require_key(State(gw): State<Gw>, req: Request, next: Next) -> Response {
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if !given.is_some_and(|k| same(k.as_bytes(), gw.api_key.as_bytes())) {
        return GwError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "a valid api key is required: Authorization: Bearer <key>",
        )
        .into_response();
    }
    next.run(req).await
}

/// Equality whose time does not depend on where the inputs differ.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, GwError> {
    serde_json::from_slice(body).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => GwError::bad("invalid_request", e.to_string()),
        _ => GwError::bad("invalid_json", format!("the body is not valid JSON: {e}")),
    })
}

/// An empty body reads as the default request.
fn parse_or_default<T: DeserializeOwned + Default>(body: &[u8]) -> Result<T, GwError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    parse(body)
}

fn idempotency_key(headers: &HeaderMap) -> Result<String, GwError> {
    let value = headers.get(IDEMPOTENCY_HEADER).ok_or_else(|| {
        GwError::bad(
            "missing_idempotency_key",
            "this call needs an Idempotency-Key header",
        )
    })?;
    match value.to_str() {
        Ok(key) if !key.is_empty() && key.len() <= MAX_KEY_LEN => Ok(key.to_owned()),
        _ => Err(GwError::bad(
            "invalid_idempotency_key",
            format!("the Idempotency-Key must be 1 to {MAX_KEY_LEN} visible ASCII characters"),
        )),
    }
}

fn check_amount(amount: i64) -> Result<(), GwError> {
    if amount <= 0 || amount > MAX_AMOUNT {
        return Err(GwError::bad(
            "invalid_amount",
            format!("amount must be a whole number of minor units from 1 to {MAX_AMOUNT}"),
        ));
    }
    Ok(())
}

fn check_currency(currency: &str) -> Result<String, GwError> {
    if currency.len() != 3 || !currency.bytes().all(|b| b.is_ascii_alphabetic()) {
        return Err(GwError::bad(
            "invalid_currency",
            "currency must be a three-letter ISO 4217 code",
        ));
    }
    Ok(currency.to_ascii_uppercase())
}

fn check_authorize(req: &AuthorizeBody) -> Result<String, GwError> {
    check_amount(req.amount)?;
    let currency = check_currency(&req.currency)?;
    if req.reference.trim().is_empty() || req.reference.len() > MAX_KEY_LEN {
        return Err(GwError::bad(
            "invalid_request",
            format!("reference must be 1 to {MAX_KEY_LEN} characters"),
        ));
    }
    if let Some(url) = &req.notify_url {
        let ok = reqwest::Url::parse(url).is_ok_and(|u| matches!(u.scheme(), "http" | "https"));
        if !ok {
            return Err(GwError::bad(
                "invalid_request",
                "notify_url must be an http(s) URL",
            ));
        }
    }
    if req.metadata.as_ref().is_some_and(|m| !m.is_object()) {
        return Err(GwError::bad(
            "invalid_request",
            "metadata must be a JSON object",
        ));
    }
    Ok(currency)
}

/// Waits for a claimed key's reply.
async fn wait(mut rx: watch::Receiver<Option<Reply>>) -> Result<Reply, GwError> {
    let reply = rx
        .wait_for(Option::is_some)
        .await
        .map_err(|_| GwError::internal())?;
    reply.clone().ok_or_else(GwError::internal)
}

/// Runs `work` once per idempotency key: the first request with `key` runs
/// it (in its own task, so it completes even if the client leaves), the
/// same request again gets its reply, another request with `key` is 422.
/// Also says whether this request was the first.
async fn once(
    gw: &Gw,
    key: &str,
    fingerprint: Fingerprint,
    work: impl Future<Output = Reply> + Send + 'static,
) -> Result<(Reply, bool), GwError> {
    match gw.memory.claim(key, fingerprint) {
        Claim::Reused => Err(GwError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "idempotency_key_reused",
            "this Idempotency-Key was used with another request",
        )),
        Claim::First(tx) => {
            let rx = tx.subscribe();
            tokio::spawn(async move {
                let reply = work.await;
                tx.send_replace(Some(reply));
            });
            Ok((wait(rx).await?, true))
        }
        Claim::Replay(rx) => Ok((wait(rx).await?, false)),
    }
}

fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::now_v7().simple())
}

impl Gw {
    /// Makes the payment; `trace` is the authorization request's context,
    /// kept with it for its webhooks.
    async fn authorize_now(
        self,
        key: String,
        req: AuthorizeBody,
        currency: String,
        behaviour: Behaviour,
        fingerprint: String,
        trace: Option<TraceParent>,
    ) -> Reply {
        if behaviour == Behaviour::Slow {
            tokio::time::sleep(self.slow).await;
        }
        let (status, decline_code) = match behaviour {
            Behaviour::Authorize | Behaviour::Slow | Behaviour::LoseResponse => {
                (PaymentStatus::Authorized, None)
            }
            Behaviour::Decline(code) => (PaymentStatus::Declined, Some(code.to_owned())),
            Behaviour::Fail(code) => (PaymentStatus::Failed, Some(code.to_owned())),
        };
        let object = PaymentObject {
            payment: Payment {
                id: new_id("pay"),
                status,
                amount: req.amount,
                currency,
                captured_amount: 0,
                refunded_amount: 0,
                decline_code,
                reference: req.reference,
                card_fingerprint: Some(fingerprint),
            },
            idempotency_key: key.clone(),
            created: chrono::Utc::now().timestamp(),
            metadata: req.metadata,
        };
        self.memory.insert(
            &key,
            Record {
                object: object.clone(),
                notify_url: req.notify_url.clone(),
                trace,
            },
        );
        self.counters.authorizations.fetch_add(1, Ordering::Relaxed);
        self.hooks.emit(req.notify_url.as_deref(), &object, trace);
        tracing::debug!(payment = %object.payment.id, status = ledger::status_name(status), "authorization");
        let http = if status == PaymentStatus::Authorized {
            StatusCode::OK
        } else {
            StatusCode::PAYMENT_REQUIRED
        };
        Reply::json(http, &object)
    }

    /// Moves payment `id` on with `step`, counting it in `counter`.
    fn change(
        &self,
        id: &str,
        counter: fn(&Counters) -> &AtomicU64,
        step: impl FnOnce(&Payment) -> Result<Payment, Refusal>,
    ) -> Reply {
        let outcome = self.memory.update(id, |object| {
            step(&object.payment).map(|payment| PaymentObject {
                payment,
                ..object.clone()
            })
        });
        match outcome {
            None => GwError::no_such_payment(id).reply(),
            Some(Err(refusal)) => GwError::from(refusal).reply(),
            Some(Ok(record)) => {
                counter(&self.counters).fetch_add(1, Ordering::Relaxed);
                self.hooks
                    .emit(record.notify_url.as_deref(), &record.object, record.trace);
                Reply::json(StatusCode::OK, &record.object)
            }
        }
    }
}

/// `POST /v1/tokens`.
async fn create_token(State(gw): State<Gw>, body: Bytes) -> Result<Json<Token>, GwError> {
    let req: TokenRequest = parse(&body)?;
    let today = chrono::Utc::now();
    let number = cards::check_card(&req, today.year(), today.month())
        .map_err(|(code, message)| GwError::bad(code, message))?;
    let last4 = number[number.len() - 4..].to_owned();
    let id = format!("tok_{}", uuid::Uuid::new_v4().simple());
    gw.memory.add_token(id.clone(), number);
    gw.counters.tokens.fetch_add(1, Ordering::Relaxed);
    Ok(Json(Token { id, last4 }))
}

/// `POST /v1/card_sessions`.
async fn open_card_session(
    State(gw): State<Gw>,
    body: Bytes,
) -> Result<Json<CardSession>, GwError> {
    let req: CardSessionBody = parse(&body)?;
    if !sessions::valid_return_url(&req.return_url) {
        return Err(GwError::bad(
            "invalid_request",
            "return_url must be an absolute http(s) URL of printable characters, without a fragment, at most 2048 bytes",
        ));
    }
    Ok(Json(gw.sessions.open(req.return_url)))
}

/// `GET /v1/card_sessions/{id}`.
async fn get_card_session(
    State(gw): State<Gw>,
    Path(id): Path<String>,
) -> Result<Json<CardSession>, GwError> {
    gw.sessions.get(&id).map(Json).ok_or_else(|| {
        GwError::new(
            StatusCode::NOT_FOUND,
            NOT_FOUND_CODE,
            "no such card session",
        )
    })
}

/// `POST /pay/{id}`: the card form of a session, posted by the shopper's
/// browser (`number`, `exp` as `MM/YY` or `exp_month` and `exp_year`,
/// `cvc`). The card is checked as `POST /v1/tokens` checks it; either way
/// the browser goes back (`303`) to the session's return URL, where the
/// merchant reads the session. An unknown session is a plain `404` page.
async fn pay(State(gw): State<Gw>, Path(id): Path<String>, body: Bytes) -> Response {
    let Some(back) = gw.sessions.return_to(&id) else {
        return (
            StatusCode::NOT_FOUND,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            "<!doctype html><title>Payment session not found</title><h1>This payment page has expired</h1><p>Go back to the shop and try again.</p>",
        )
            .into_response();
    };
    let fields: HashMap<String, String> = form_urlencoded::parse(&body).into_owned().collect();
    let field = |name: &str| {
        fields
            .get(name)
            .map(|v| v.trim().to_owned())
            .unwrap_or_default()
    };
    let (exp_month, exp_year) = match fields.get("exp") {
        Some(exp) => {
            let (m, y) = exp.trim().split_once('/').unwrap_or((exp.trim(), ""));
            let y: i32 = y.trim().parse().unwrap_or(0);
            (
                m.trim().parse().unwrap_or(0),
                if (0..100).contains(&y) { 2000 + y } else { y },
            )
        }
        None => (
            field("exp_month").parse().unwrap_or(0),
            field("exp_year").parse().unwrap_or(0),
        ),
    };
    let card = TokenRequest {
        number: field("number")
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '-')
            .collect(),
        exp_month,
        exp_year,
        cvc: field("cvc"),
    };
    let today = chrono::Utc::now();
    match cards::check_card(&card, today.year(), today.month()) {
        Ok(number) => {
            let last4 = number[number.len() - 4..].to_owned();
            let token = format!("tok_{}", uuid::Uuid::new_v4().simple());
            gw.memory.add_token(token.clone(), number);
            gw.counters.tokens.fetch_add(1, Ordering::Relaxed);
            gw.sessions.complete(&id, token, last4);
        }
        Err((code, message)) => gw.sessions.refuse(&id, code, message),
    }
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = header::HeaderValue::from_str(&back) {
        response.headers_mut().insert(header::LOCATION, v);
    }
    response
}

/// `POST /v1/authorizations`.
async fn authorize(
    State(gw): State<Gw>,
    ConnectInfo(connection): ConnectInfo<Connection>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Reply, GwError> {
    let key = idempotency_key(&headers)?;
    let req: AuthorizeBody = parse(&body)?;
    let currency = check_authorize(&req)?;
    let number = gw
        .memory
        .token_number(&req.token)
        .or_else(|| cards::magic_token(&req.token).map(str::to_owned))
        .ok_or_else(|| GwError::bad("invalid_token", "no such card token"))?;
    let behaviour = cards::behaviour(&number);
    let fingerprint = cards::fingerprint(gw.api_key.as_bytes(), &number);
    // The work runs in a task of its own, outside this request's span.
    let trace = TraceParent::current();
    let work = gw.clone().authorize_now(
        key.clone(),
        req.clone(),
        currency,
        behaviour,
        fingerprint,
        trace,
    );
    let (reply, first) = once(&gw, &key, Fingerprint::Authorize(req), work).await?;
    if first && behaviour == Behaviour::LoseResponse {
        tracing::info!("dropping the connection instead of answering (test card)");
        connection.sever();
    }
    Ok(reply)
}

/// `POST /v1/payments/{id}/capture`.
async fn capture(
    State(gw): State<Gw>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Reply, GwError> {
    let key = idempotency_key(&headers)?;
    let req: CaptureBody = parse_or_default(&body)?;
    if let Some(amount) = req.amount {
        check_amount(amount)?;
    }
    let (worker, target, amount) = (gw.clone(), id.clone(), req.amount);
    let work =
        async move { worker.change(&target, |c| &c.captures, |p| ledger::capture(p, amount)) };
    Ok(once(&gw, &key, Fingerprint::Capture(id, req), work)
        .await?
        .0)
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct VoidBody {}

/// `POST /v1/payments/{id}/void`.
async fn void(
    State(gw): State<Gw>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Reply, GwError> {
    let key = idempotency_key(&headers)?;
    let VoidBody {} = parse_or_default(&body)?;
    let (worker, target) = (gw.clone(), id.clone());
    let work = async move { worker.change(&target, |c| &c.voids, ledger::void) };
    Ok(once(&gw, &key, Fingerprint::Void(id), work).await?.0)
}

/// `POST /v1/payments/{id}/refunds`.
async fn refund(
    State(gw): State<Gw>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Reply, GwError> {
    let key = idempotency_key(&headers)?;
    let req: RefundBody = parse(&body)?;
    check_amount(req.amount)?;
    let (worker, target, amount) = (gw.clone(), id.clone(), req.amount);
    let work = async move { worker.change(&target, |c| &c.refunds, |p| ledger::refund(p, amount)) };
    Ok(once(&gw, &key, Fingerprint::Refund(id, req), work).await?.0)
}

/// `GET /v1/payments/{id}`.
async fn get_payment(State(gw): State<Gw>, Path(id): Path<String>) -> Result<Reply, GwError> {
    let record = gw
        .memory
        .get(&id)
        .ok_or_else(|| GwError::no_such_payment(&id))?;
    Ok(Reply::json(StatusCode::OK, &record.object))
}

/// `GET /v1/authorizations/{key}`: the payment the authorization with this
/// idempotency key made; waits while that authorization is still running.
async fn lookup(State(gw): State<Gw>, Path(key): Path<String>) -> Result<Reply, GwError> {
    let pending = gw
        .memory
        .authorization_reply(&key)
        .ok_or_else(|| GwError::no_such_payment(&format!("for key {key}")))?;
    wait(pending).await?;
    let record = gw
        .memory
        .by_key(&key)
        .ok_or_else(|| GwError::no_such_payment(&format!("for key {key}")))?;
    Ok(Reply::json(StatusCode::OK, &record.object))
}

/// `GET /v1/payments?reference=...`.
async fn list(
    State(gw): State<Gw>,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<Json<PaymentList>, GwError> {
    let Ok(Query(query)) = query else {
        return Err(GwError::bad("invalid_request", "malformed query string"));
    };
    let reference = query
        .get("reference")
        .ok_or_else(|| GwError::bad("invalid_request", "give ?reference=..."))?;
    Ok(Json(PaymentList {
        items: gw.memory.by_reference(reference),
    }))
}

/// `GET /v1/stats`: test-mode counters.
async fn stats(State(gw): State<Gw>) -> Json<Stats> {
    Json(gw.counters.snapshot())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_compare_whole() {
        assert!(same(b"sk_test", b"sk_test"));
        assert!(!same(b"sk_test", b"sk_tesx"));
        assert!(!same(b"sk_test", b"sk_test2"));
        assert!(!same(b"", b"x"));
    }

    #[test]
    fn authorization_requests_are_checked() {
        let ok = AuthorizeBody {
            amount: 100,
            currency: "usd".into(),
            token: "tok_x".into(),
            reference: "chk_1".into(),
            notify_url: Some("http://127.0.0.1:9/hook".into()),
            metadata: Some(serde_json::json!({"a": 1})),
        };
        assert_eq!(check_authorize(&ok).expect("valid"), "USD");
        let code = |b: AuthorizeBody| check_authorize(&b).map_err(|e| e.code);
        assert_eq!(
            code(AuthorizeBody {
                amount: 0,
                ..ok.clone()
            }),
            Err("invalid_amount")
        );
        assert_eq!(
            code(AuthorizeBody {
                currency: "US".into(),
                ..ok.clone()
            }),
            Err("invalid_currency")
        );
        assert_eq!(
            code(AuthorizeBody {
                currency: "U$D".into(),
                ..ok.clone()
            }),
            Err("invalid_currency")
        );
        assert_eq!(
            code(AuthorizeBody {
                reference: " ".into(),
                ..ok.clone()
            }),
            Err("invalid_request")
        );
        assert_eq!(
            code(AuthorizeBody {
                notify_url: Some("ftp://x".into()),
                ..ok.clone()
            }),
            Err("invalid_request")
        );
        assert_eq!(
            code(AuthorizeBody {
                metadata: Some(serde_json::json!([1])),
                ..ok
            }),
            Err("invalid_request")
        );
    }

    #[test]
    fn bodies_are_json_then_shape() {
        assert_eq!(
            parse::<RefundBody>(b"{").map_err(|e| e.code).err(),
            Some("invalid_json")
        );
        assert_eq!(
            parse::<RefundBody>(br#"{"amount": "x"}"#)
                .map_err(|e| e.code)
                .err(),
            Some("invalid_request")
        );
        assert_eq!(
            parse::<RefundBody>(br#"{"amount": 1, "extra": 2}"#)
                .map_err(|e| e.code)
                .err(),
            Some("invalid_request")
        );
        assert_eq!(
            parse_or_default::<CaptureBody>(b" ").expect("empty"),
            CaptureBody::default()
        );
    }
}
