//! End-to-end tests of the test payment gateway: the real `mercato gateway`
//! process on a free port, driven through the pod's `HttpGateway` client
//! (and raw HTTP for bad input), with webhooks received by a small server
//! in the test.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use common::error_code;
use mercato_devstack::local::{free_port, GatewayProcess};
use mercato_pod::payments::wire::{Stats, SIGNATURE_HEADER};
use mercato_pod::payments::{
    signature, AuthorizeRequest, Gateway, GatewayError, HttpGateway, Payment, PaymentStatus,
    SignatureError, WebhookEvent,
};
use serde_json::{json, Value};

const API_KEY: &str = "sk_test_gateway_tests";
const SECRET: &str = "whsec_gateway_tests";

const SUCCESS: &str = "4242424242424242";
const DECLINED: &str = "4000000000000002";
const INSUFFICIENT_FUNDS: &str = "4000000000009995";
const PROCESSING_ERROR: &str = "4000000000000119";
const SLOW: &str = "4000000000000077";
const RESPONSE_LOST: &str = "4000000000000036";

/// The gateway process on a free port (another port if one was taken).
async fn start_gateway(slow_ms: u64) -> GatewayProcess {
    let exe = std::path::Path::new(env!("CARGO_BIN_EXE_mercato"));
    let mut last = None;
    for _ in 0..3 {
        let port = free_port().expect("free port");
        match GatewayProcess::start(exe, port, API_KEY, SECRET, slow_ms, None, "").await {
            Ok(gateway) => return gateway,
            Err(e) => last = Some(e),
        }
    }
    panic!("the gateway did not start: {:#}", last.expect("an error"));
}

fn client(gateway: &GatewayProcess, timeout: Duration) -> HttpGateway {
    HttpGateway::new(&gateway.url(), API_KEY, timeout).expect("client")
}

fn authorization(key: &str, amount: i64, card: &str, notify: Option<&str>) -> AuthorizeRequest {
    AuthorizeRequest {
        key: key.to_owned(),
        amount,
        currency: "USD".into(),
        token: format!("tok_{card}"),
        reference: format!("ref-{key}"),
        notify_url: notify.map(str::to_owned),
    }
}

/// A raw request to the gateway with the right API key.
fn raw(gateway: &GatewayProcess, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
    reqwest::Client::new()
        .request(method, format!("{}{path}", gateway.url()))
        .bearer_auth(API_KEY)
}

async fn stats(gateway: &GatewayProcess) -> Stats {
    raw(gateway, reqwest::Method::GET, "/v1/stats")
        .send()
        .await
        .expect("stats")
        .json()
        .await
        .expect("stats json")
}

fn refused_code(result: Result<Payment, GatewayError>) -> (String, Option<Payment>) {
    match result {
        Err(GatewayError::Refused { code, payment }) => (code, payment),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

fn rejected(result: Result<Payment, GatewayError>) -> (u16, String) {
    match result {
        Err(GatewayError::Rejected { status, code, .. }) => (status, code),
        other => panic!("expected a rejection, got {other:?}"),
    }
}

fn is_unknown<T: std::fmt::Debug>(result: &Result<T, GatewayError>) -> bool {
    matches!(result, Err(GatewayError::Unknown(_)))
}

/// One webhook delivery as the receiver saw it.
#[derive(Debug, Clone)]
struct Delivery {
    signature: String,
    body: Bytes,
}

impl Delivery {
    fn event(&self) -> WebhookEvent {
        serde_json::from_slice(&self.body).expect("a webhook event")
    }
}

/// A webhook endpoint that answers 500 to its first `fail_first` requests.
#[derive(Default)]
struct Receiver {
    fail_first: AtomicUsize,
    seen: Mutex<Vec<Delivery>>,
}

impl Receiver {
    fn deliveries(&self) -> Vec<Delivery> {
        self.seen.lock().expect("lock").clone()
    }

    /// Waits until `enough` holds for the deliveries (30 s at most).
    async fn until(&self, what: &str, enough: impl Fn(&[Delivery]) -> bool) -> Vec<Delivery> {
        for _ in 0..300 {
            let seen = self.deliveries();
            if enough(&seen) {
                return seen;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{what}: got {:?}", self.deliveries());
    }
}

async fn receive(State(rx): State<Arc<Receiver>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    rx.seen.lock().expect("lock").push(Delivery {
        signature: headers
            .get(SIGNATURE_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned(),
        body,
    });
    let failing = rx
        .fail_first
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    if failing {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::NO_CONTENT
    }
}

/// Starts a receiver; gives it and its URL.
async fn receiver(fail_first: usize) -> (Arc<Receiver>, String) {
    let rx = Arc::new(Receiver {
        fail_first: AtomicUsize::new(fail_first),
        ..Default::default()
    });
    let app = axum::Router::new()
        .route("/hooks", axum::routing::post(receive))
        .with_state(rx.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/hooks", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (rx, url)
}

#[tokio::test]
async fn each_test_card_ends_as_documented_and_the_psp_agrees() {
    let gateway = start_gateway(3000).await;
    let gw = client(&gateway, Duration::from_secs(10));

    let ok = gw
        .authorize(&authorization("ok", 1250, SUCCESS, None))
        .await
        .expect("authorized");
    assert_eq!(ok.status, PaymentStatus::Authorized);
    assert_eq!(
        (ok.amount, ok.captured_amount, ok.refunded_amount),
        (1250, 0, 0)
    );
    assert_eq!(ok.currency, "USD");
    assert_eq!(ok.reference, "ref-ok");
    assert_eq!(ok.decline_code, None);
    assert!(ok.id.starts_with("pay_"), "{}", ok.id);
    assert_eq!(gw.lookup("ok").await.expect("lookup"), Some(ok.clone()));

    for (key, card, code, status) in [
        (
            "declined",
            DECLINED,
            "card_declined",
            PaymentStatus::Declined,
        ),
        (
            "poor",
            INSUFFICIENT_FUNDS,
            "insufficient_funds",
            PaymentStatus::Declined,
        ),
        (
            "broken",
            PROCESSING_ERROR,
            "processing_error",
            PaymentStatus::Failed,
        ),
    ] {
        let (got, payment) = refused_code(gw.authorize(&authorization(key, 900, card, None)).await);
        assert_eq!(got, code);
        let payment = payment.expect("the refused payment");
        assert_eq!(payment.status, status);
        assert_eq!(payment.decline_code.as_deref(), Some(code));
        assert_eq!(payment.captured_amount, 0);
        let found = gw.lookup(key).await.expect("lookup").expect("recorded");
        assert_eq!(found, payment);
        // A refused payment cannot be captured.
        assert_eq!(
            rejected(gw.capture(&format!("{key}-cap"), &payment.id, 900).await),
            (409, "invalid_state".to_owned())
        );
    }

    // A token made from card details works like the magic token.
    let token: Value = raw(&gateway, reqwest::Method::POST, "/v1/tokens")
        .json(&json!({"number": "4000 0000 0000 0002", "exp_month": 12, "exp_year": 2099, "cvc": "123"}))
        .send()
        .await
        .expect("tokenize")
        .json()
        .await
        .expect("token json");
    assert_eq!(token["last4"], "0002");
    let tok = token["id"].as_str().expect("token id");
    assert!(tok.starts_with("tok_"));
    let mut by_token = authorization("by-token", 300, SUCCESS, None);
    by_token.token = tok.to_owned();
    assert_eq!(
        refused_code(gw.authorize(&by_token).await).0,
        "card_declined"
    );

    assert_eq!(gw.lookup("never-used").await.expect("lookup"), None);
    let counted = stats(&gateway).await;
    assert_eq!(counted.authorizations, 5);
    assert_eq!(counted.tokens, 1);
    assert_eq!(counted.captures, 0);
    gateway.stop().await;
}

#[tokio::test]
async fn capture_void_and_refund_follow_the_state_machine() {
    let gateway = start_gateway(3000).await;
    let gw = client(&gateway, Duration::from_secs(10));

    let p = gw
        .authorize(&authorization("a1", 1000, SUCCESS, None))
        .await
        .expect("authorized");
    assert_eq!(
        rejected(gw.capture("c0", &p.id, 1001).await),
        (400, "amount_too_large".to_owned())
    );
    let captured = gw.capture("c1", &p.id, 600).await.expect("captured");
    assert_eq!(captured.status, PaymentStatus::Captured);
    assert_eq!((captured.amount, captured.captured_amount), (1000, 600));
    // The same capture again is a replay, not a second capture.
    assert_eq!(
        gw.capture("c1", &p.id, 600).await.expect("replay"),
        captured
    );
    assert_eq!(
        rejected(gw.capture("c1", &p.id, 500).await),
        (422, "idempotency_key_reused".to_owned())
    );
    assert_eq!(
        rejected(gw.capture("c2", &p.id, 100).await),
        (409, "invalid_state".to_owned())
    );
    assert_eq!(
        rejected(gw.void("v1", &p.id).await),
        (409, "invalid_state".to_owned())
    );
    assert_eq!(
        rejected(gw.refund("r0", &p.id, 601).await),
        (400, "amount_too_large".to_owned())
    );
    let part = gw.refund("r1", &p.id, 200).await.expect("refunded");
    assert_eq!(part.status, PaymentStatus::PartiallyRefunded);
    assert_eq!(part.refunded_amount, 200);
    assert_eq!(
        rejected(gw.refund("r2", &p.id, 401).await),
        (400, "amount_too_large".to_owned())
    );
    let all = gw.refund("r3", &p.id, 400).await.expect("refunded");
    assert_eq!(all.status, PaymentStatus::Refunded);
    assert_eq!((all.captured_amount, all.refunded_amount), (600, 600));
    // A refund's key as a real PSP's: the same key and body answer the
    // first answer again (no second refund), another body is refused.
    assert_eq!(gw.refund("r1", &p.id, 200).await.expect("replay"), part);
    assert_eq!(
        rejected(gw.refund("r1", &p.id, 300).await),
        (422, "idempotency_key_reused".to_owned())
    );
    assert_eq!(
        rejected(gw.refund("r4", &p.id, 1).await),
        (409, "invalid_state".to_owned())
    );
    let read: Payment = raw(
        &gateway,
        reqwest::Method::GET,
        &format!("/v1/payments/{}", p.id),
    )
    .send()
    .await
    .expect("get")
    .json()
    .await
    .expect("payment json");
    assert_eq!(read, all);

    let q = gw
        .authorize(&authorization("a2", 500, SUCCESS, None))
        .await
        .expect("authorized");
    let voided = gw.void("v2", &q.id).await.expect("voided");
    assert_eq!(voided.status, PaymentStatus::Voided);
    assert_eq!(voided.captured_amount, 0);
    assert_eq!(gw.void("v2", &q.id).await.expect("replay"), voided);
    assert_eq!(
        rejected(gw.capture("c3", &q.id, 500).await),
        (409, "invalid_state".to_owned())
    );
    assert_eq!(
        rejected(gw.refund("r5", &q.id, 1).await),
        (409, "invalid_state".to_owned())
    );
    assert_eq!(
        rejected(gw.capture("c4", "pay_nope", 1).await),
        (404, "no_such_payment".to_owned())
    );

    let counted = stats(&gateway).await;
    assert_eq!(
        (
            counted.authorizations,
            counted.captures,
            counted.voids,
            counted.refunds
        ),
        (2, 1, 1, 2)
    );
    gateway.stop().await;
}

#[tokio::test]
async fn one_key_sent_twenty_times_at_once_makes_one_payment() {
    // The slow card keeps the first request in flight while the others
    // arrive, so they must wait for it rather than start their own.
    let gateway = start_gateway(500).await;
    let gw = Arc::new(client(&gateway, Duration::from_secs(10)));
    let calls = (0..20).map(|_| {
        let gw = gw.clone();
        tokio::spawn(async move { gw.authorize(&authorization("same", 4200, SLOW, None)).await })
    });
    let results = futures::future::join_all(calls).await;
    let ids: std::collections::HashSet<String> = results
        .into_iter()
        .map(|r| r.expect("task").expect("authorized").id)
        .collect();
    assert_eq!(ids.len(), 1);
    assert_eq!(stats(&gateway).await.authorizations, 1);
    let listed: Value = raw(
        &gateway,
        reqwest::Method::GET,
        "/v1/payments?reference=ref-same",
    )
    .send()
    .await
    .expect("list")
    .json()
    .await
    .expect("list json");
    assert_eq!(listed["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(listed["items"][0]["idempotency_key"], "same");

    let (status, code) = rejected(gw.authorize(&authorization("same", 4201, SLOW, None)).await);
    assert_eq!((status, code.as_str()), (422, "idempotency_key_reused"));
    assert_eq!(stats(&gateway).await.authorizations, 1);
    gateway.stop().await;
}

#[tokio::test]
async fn a_slow_psp_past_the_timeout_is_unknown_and_the_lookup_finds_it() {
    let gateway = start_gateway(1500).await;
    let impatient = client(&gateway, Duration::from_millis(200));
    let patient = client(&gateway, Duration::from_secs(10));

    let first = impatient
        .authorize(&authorization("slow", 700, SLOW, None))
        .await;
    assert!(is_unknown(&first), "{first:?}");
    // The lookup waits for the authorization still in flight.
    let found = patient
        .lookup("slow")
        .await
        .expect("lookup")
        .expect("the authorization happened");
    assert_eq!(found.status, PaymentStatus::Authorized);
    assert_eq!(found.amount, 700);
    // Retrying with the same key gives the same payment, not a second one.
    let again = patient
        .authorize(&authorization("slow", 700, SLOW, None))
        .await
        .expect("replayed");
    assert_eq!(again, found);
    assert_eq!(stats(&gateway).await.authorizations, 1);
    gateway.stop().await;
}

#[tokio::test]
async fn a_lost_response_is_unknown_but_the_charge_happened() {
    let gateway = start_gateway(3000).await;
    let gw = client(&gateway, Duration::from_secs(10));
    let (hooks, url) = receiver(0).await;

    let lost = gw
        .authorize(&authorization("lost", 990, RESPONSE_LOST, Some(&url)))
        .await;
    assert!(is_unknown(&lost), "{lost:?}");
    // Not even a status line came back: raw HTTP sees a transport error.
    let raw_lost = raw(&gateway, reqwest::Method::POST, "/v1/authorizations")
        .header("Idempotency-Key", "lost-raw")
        .json(&json!({"amount": 5, "currency": "USD", "token": format!("tok_{RESPONSE_LOST}"), "reference": "raw"}))
        .send()
        .await;
    assert!(raw_lost.is_err(), "{raw_lost:?}");

    let found = gw
        .lookup("lost")
        .await
        .expect("lookup")
        .expect("the charge is recorded");
    assert_eq!(found.status, PaymentStatus::Authorized);
    assert_eq!(found.amount, 990);
    // A retry with the same key is answered this time, with the same payment.
    assert_eq!(
        gw.authorize(&authorization("lost", 990, RESPONSE_LOST, Some(&url)))
            .await
            .expect("replayed"),
        found
    );
    let seen = hooks
        .until("the authorized webhook", |d| !d.is_empty())
        .await;
    let event = seen[0].event();
    assert_eq!(event.event_type, "payment.authorized");
    assert_eq!(event.data, found);
    assert_eq!(stats(&gateway).await.authorizations, 2);
    gateway.stop().await;
}

#[tokio::test]
async fn webhooks_are_signed_and_retried_with_the_same_event_id() {
    let gateway = start_gateway(3000).await;
    let gw = client(&gateway, Duration::from_secs(10));
    let (hooks, url) = receiver(2).await;

    let p = gw
        .authorize(&authorization("hooked", 1500, SUCCESS, Some(&url)))
        .await
        .expect("authorized");
    let seen = hooks.until("three attempts", |d| d.len() >= 3).await;
    assert_eq!(seen.len(), 3);
    let first = seen[0].event();
    assert!(first.id.starts_with("evt_"), "{}", first.id);
    assert_eq!(first.event_type, "payment.authorized");
    assert_eq!(first.data, p);
    let now = common::now();
    for delivery in &seen {
        assert_eq!(delivery.event().id, first.id);
        assert_eq!(
            signature::verify(
                SECRET.as_bytes(),
                &delivery.signature,
                &delivery.body,
                now,
                300
            ),
            Ok(())
        );
        assert_eq!(
            signature::verify(b"other", &delivery.signature, &delivery.body, now, 300),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            signature::verify(
                SECRET.as_bytes(),
                &delivery.signature,
                &delivery.body,
                now + 3600,
                300
            ),
            Err(SignatureError::Expired)
        );
    }

    let captured = gw
        .capture("hooked-cap", &p.id, 1500)
        .await
        .expect("captured");
    let seen = hooks
        .until("the captured event", |d| {
            d.iter().any(|d| d.event().event_type == "payment.captured")
        })
        .await;
    let event = seen
        .iter()
        .map(Delivery::event)
        .find(|e| e.event_type == "payment.captured")
        .expect("captured event");
    assert_ne!(event.id, first.id);
    assert_eq!(event.data, captured);
    // The gateway counts a delivery once the receiver's answer is back.
    let mut counted = stats(&gateway).await;
    for _ in 0..100 {
        if counted.webhooks_delivered == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        counted = stats(&gateway).await;
    }
    assert_eq!(counted.events, 2);
    assert_eq!(counted.webhook_attempts, 4);
    assert_eq!(counted.webhooks_delivered, 2);
    gateway.stop().await;
}

#[tokio::test]
async fn a_dead_gateway_is_an_unknown_outcome() {
    let gateway = start_gateway(3000).await;
    let gw = client(&gateway, Duration::from_secs(5));
    let p = gw
        .authorize(&authorization("before", 100, SUCCESS, None))
        .await
        .expect("authorized");
    gateway.kill().await;
    let after = gw
        .authorize(&authorization("after", 100, SUCCESS, None))
        .await;
    assert!(is_unknown(&after), "{after:?}");
    let capture = gw.capture("cap", &p.id, 100).await;
    assert!(is_unknown(&capture), "{capture:?}");
    let lookup = gw.lookup("before").await;
    assert!(is_unknown(&lookup), "{lookup:?}");
}

#[tokio::test]
async fn bad_input_gets_exact_error_codes() {
    let gateway = start_gateway(3000).await;
    let url = gateway.url();
    let http = reqwest::Client::new();
    let post = |path: &str| raw(&gateway, reqwest::Method::POST, path);
    let authorize = |key: &str, body: Value| {
        post("/v1/authorizations")
            .header("Idempotency-Key", key)
            .json(&body)
    };
    let good = json!({"amount": 100, "currency": "USD", "token": format!("tok_{SUCCESS}"), "reference": "r"});
    let with = |field: &str, value: Value| {
        let mut body = good.clone();
        body[field] = value;
        body
    };
    async fn code(req: reqwest::RequestBuilder) -> (u16, String) {
        error_code(req.send().await.expect("send")).await
    }

    let unauthenticated = http
        .post(format!("{url}/v1/authorizations"))
        .header("Idempotency-Key", "k")
        .json(&good);
    assert_eq!(code(unauthenticated).await, (401, "unauthorized".into()));
    let wrong_key = http
        .get(format!("{url}/v1/stats"))
        .bearer_auth("sk_test_wrong");
    assert_eq!(code(wrong_key).await, (401, "unauthorized".into()));
    let no_key = post("/v1/authorizations").json(&good);
    assert_eq!(code(no_key).await, (400, "missing_idempotency_key".into()));
    let bad_json = post("/v1/authorizations")
        .header("Idempotency-Key", "k")
        .header("content-type", "application/json")
        .body("{\"amount\": ");
    assert_eq!(code(bad_json).await, (400, "invalid_json".into()));
    for (field, value, expected) in [
        ("amount", json!(0), "invalid_amount"),
        ("amount", json!(-5), "invalid_amount"),
        ("amount", json!("100"), "invalid_request"),
        ("currency", json!("US"), "invalid_currency"),
        ("currency", json!("US1"), "invalid_currency"),
        ("token", json!("tok_nope"), "invalid_token"),
        ("token", json!("tok_4242424242424241"), "invalid_token"),
        ("reference", json!(""), "invalid_request"),
        ("notify_url", json!("not a url"), "invalid_request"),
        ("surprise", json!(1), "invalid_request"),
    ] {
        assert_eq!(
            code(authorize("k", with(field, value.clone()))).await,
            (400, expected.into()),
            "{field} = {value}"
        );
    }
    // Nothing above claimed the key: it still authorizes.
    let ok = authorize("k", good.clone()).send().await.expect("send");
    assert_eq!(ok.status(), 200);
    // A decline is a 402 carrying the payment.
    let declined = authorize("d", with("token", json!(format!("tok_{DECLINED}"))))
        .send()
        .await
        .expect("send");
    assert_eq!(declined.status(), 402);
    let declined: Value = declined.json().await.expect("json");
    assert_eq!(declined["status"], "declined");
    assert_eq!(declined["decline_code"], "card_declined");

    for (body, expected) in [
        (
            json!({"number": "4242424242424241", "exp_month": 12, "exp_year": 2099, "cvc": "123"}),
            "invalid_card_number",
        ),
        (
            json!({"number": SUCCESS, "exp_month": 1, "exp_year": 2001, "cvc": "123"}),
            "invalid_expiry",
        ),
        (
            json!({"number": SUCCESS, "exp_month": 13, "exp_year": 2099, "cvc": "123"}),
            "invalid_expiry",
        ),
        (
            json!({"number": SUCCESS, "exp_month": 12, "exp_year": 2099, "cvc": "12"}),
            "invalid_cvc",
        ),
        (json!({"number": SUCCESS}), "invalid_request"),
    ] {
        assert_eq!(
            code(post("/v1/tokens").json(&body)).await,
            (400, expected.into()),
            "{body}"
        );
    }

    let refund_zero = post("/v1/payments/pay_x/refunds")
        .header("Idempotency-Key", "r")
        .json(&json!({"amount": 0}));
    assert_eq!(code(refund_zero).await, (400, "invalid_amount".into()));
    let capture_no_key = post("/v1/payments/pay_x/capture").json(&json!({}));
    assert_eq!(
        code(capture_no_key).await,
        (400, "missing_idempotency_key".into())
    );
    let missing = raw(&gateway, reqwest::Method::GET, "/v1/payments/pay_x");
    assert_eq!(code(missing).await, (404, "no_such_payment".into()));
    let missing = raw(&gateway, reqwest::Method::GET, "/v1/authorizations/nope");
    assert_eq!(code(missing).await, (404, "no_such_payment".into()));
    let no_route = raw(&gateway, reqwest::Method::GET, "/v1/nothing");
    assert_eq!(code(no_route).await, (404, "not_found".into()));
    let no_reference = raw(&gateway, reqwest::Method::GET, "/v1/payments");
    assert_eq!(code(no_reference).await, (400, "invalid_request".into()));

    assert_eq!(stats(&gateway).await.authorizations, 2);
    gateway.stop().await;
}
