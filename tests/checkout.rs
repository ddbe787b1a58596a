//! End-to-end tests of buying: the checkout saga against the real test
//! gateway process, Postgres and Redis, through the router. Outcomes are
//! exact: order counts, stock, holds, gateway calls.

mod common;

use common::shop::*;
use common::{error_code, Stack};
use futures::future::join_all;
use reqwest::Method;
use serde_json::{json, Value};

async fn send(r: reqwest::RequestBuilder) -> (u16, Value) {
    let r = r.send().await.expect("request");
    let status = r.status().as_u16();
    let body = r.json().await.unwrap_or(Value::Null);
    (status, body)
}

/// Sends one signed `payment.captured` event for the shop's first order
/// twice, as a gateway retrying would; both answers.
async fn replay_webhook(stack: &Stack, shop: &Shop) -> (u16, u16) {
    let mut db = shop.db(stack).await;
    let (payment,): (String,) =
        sqlx::query_as("SELECT payment_id FROM orders WHERE store_id = $1 ORDER BY number LIMIT 1")
            .bind(shop.id.as_uuid())
            .fetch_one(&mut db)
            .await
            .expect("an order");
    let data = stack.gateway_payment(&payment).await;
    let body = json!({"id": "evt_replayed_by_test", "type": "payment.captured", "created": common::now(), "data": data})
        .to_string();
    let url = format!(
        "{}/webhooks/payments/{}",
        stack.pod_for(&shop.store).await.app.url(),
        shop.id
    );
    let mut statuses = Vec::new();
    for _ in 0..2 {
        let sig = mercato_pod::payments::signature::sign(
            stack.gateway.webhook_secret().as_bytes(),
            common::now(),
            body.as_bytes(),
        );
        let r = stack
            .http
            .post(&url)
            .header("mercato-signature", sig)
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await
            .expect("webhook");
        statuses.push(r.status().as_u16());
    }
    (statuses[0], statuses[1])
}

/// Checks out every cart at once with the good card, key `<prefix>-<i>`.
async fn checkout_all(
    stack: &Stack,
    shop: &Shop,
    carts: &[String],
    prefix: &str,
) -> Vec<(u16, Value)> {
    join_all(
        carts
            .iter()
            .enumerate()
            .map(|(i, t)| send(shop.checkout(stack, t, &format!("{prefix}-{i}"), CARD_OK))),
    )
    .await
}

const ACTIVE_HOLDS: &str = "SELECT count(*) FROM holds WHERE store_id = $1 AND status = 'active'";
const ORDERS: &str = "SELECT count(*) FROM orders WHERE store_id = $1";

#[tokio::test]
async fn two_hundred_checkouts_for_fifty_units_make_exactly_fifty_orders() {
    let stack = Stack::start(1).await;
    let shop = Shop::open(&stack, "flash").await;
    let (_, variant) = shop.product(&stack, "HOT-1", 2500, 50).await;
    let carts = shop.one_unit_carts(&stack, &variant, 200).await;
    let answers = checkout_all(&stack, &shop, &carts, "flash").await;
    let placed: Vec<&Value> = answers
        .iter()
        .filter(|(s, _)| *s == 201)
        .map(|(_, b)| b)
        .collect();
    let sold_out = answers
        .iter()
        .filter(|(s, b)| *s == 409 && b["error"]["code"] == "out_of_stock")
        .count();
    assert_eq!(
        placed.len(),
        50,
        "{:?}",
        answers.iter().find(|(s, _)| *s != 201 && *s != 409)
    );
    let others: Vec<String> = answers
        .iter()
        .filter(|(s, b)| *s != 201 && !(*s == 409 && b["error"]["code"] == "out_of_stock"))
        .map(|(s, b)| format!("{s} {}", b["error"]["code"]))
        .collect();
    assert_eq!(sold_out, 150, "the other answers: {others:?}");
    let mut numbers: Vec<i64> = placed
        .iter()
        .map(|b| b["number"].as_i64().expect("number"))
        .collect();
    numbers.sort();
    assert_eq!(numbers, (1001..=1050).collect::<Vec<_>>());
    assert!(placed
        .iter()
        .all(|b| b["status"] == "paid" && b["total_minor"] == 2500));
    assert_eq!(shop.stock(&stack, &variant).await, (0, 0));
    assert_eq!(shop.count(&stack, ORDERS).await, 50);
    assert_eq!(shop.count(&stack, ACTIVE_HOLDS).await, 0);
    assert_eq!(
        shop.count(&stack, "SELECT count(*) FROM stock_levels WHERE store_id = $1 AND (on_hand < 0 OR reserved < 0)").await,
        0
    );
    assert_eq!(
        shop.count(
            &stack,
            "SELECT count(*) FROM checkouts WHERE store_id = $1 AND state = 'completed'"
        )
        .await,
        50
    );
    assert_eq!(
        shop.count(
            &stack,
            "SELECT count(*) FROM checkouts WHERE store_id = $1 AND state = 'failed'"
        )
        .await,
        150
    );
    assert_eq!(
        shop.count(
            &stack,
            "SELECT count(*) FROM outbox WHERE store_id = $1 AND type = 'order.placed'"
        )
        .await,
        50
    );
    stack.shutdown().await;
}

#[tokio::test]
async fn one_key_sent_twenty_times_at_once_makes_one_order_one_authorization_one_capture() {
    let stack = Stack::start(1).await;
    let shop = Shop::open(&stack, "twenty").await;
    let (_, variant) = shop.product(&stack, "ONE-1", 1000, 10).await;
    let token = shop.cart(&stack, &[(&variant, 2)]).await;
    let answers =
        join_all((0..20).map(|_| send(shop.checkout(&stack, &token, "same-key", CARD_OK)))).await;
    let first = &answers[0].1;
    for (status, body) in &answers {
        assert_eq!(*status, 201, "{body}");
        assert_eq!(body["id"], first["id"]);
    }
    assert_eq!(shop.count(&stack, ORDERS).await, 1);
    assert_eq!(shop.stock(&stack, &variant).await, (8, 0));
    let stats = stack.gateway_stats().await;
    assert_eq!(stats["authorizations"], 1, "{stats}");
    assert_eq!(stats["captures"], 1, "{stats}");
    // The same key with another body is refused, and changes nothing.
    let mut other = checkout_body(CARD_OK);
    other["shipping_option"] = json!("express");
    let r = stack
        .post(&shop.host, "/api/checkout")
        .header("x-cart-token", &token)
        .header("idempotency-key", "same-key")
        .json(&other);
    assert_eq!(
        error_code(r.send().await.expect("send")).await,
        (422, "idempotency_key_reused".into())
    );
    // Later retries still get the first answer.
    let (status, again) = send(shop.checkout(&stack, &token, "same-key", CARD_OK)).await;
    assert_eq!((status, &again["id"]), (201, &first["id"]));
    assert_eq!(shop.count(&stack, ORDERS).await, 1);
    stack.shutdown().await;
}

#[tokio::test]
async fn the_gateway_webhook_racing_the_shopper_makes_one_order() {
    // Webhooks drive at once, never waiting for the shopper's request.
    let stack = Stack::start_with(1, |cfg| cfg.checkout.webhook_drive_after_ms = 0).await;
    let shop = Shop::open(&stack, "race").await;
    let (_, variant) = shop.product(&stack, "RACE-1", 700, 100).await;
    // With the lost-response card the shopper's request learns the outcome
    // by looking it up while the gateway's webhook drives the same
    // checkout; with the plain card the webhook lands right after the
    // answer. Either way: one order per checkout.
    let tokens = shop.one_unit_carts(&stack, &variant, 10).await;
    let answers = join_all(tokens.iter().enumerate().map(|(i, t)| {
        let card = if i % 2 == 0 {
            CARD_LOST_RESPONSE
        } else {
            CARD_OK
        };
        send(shop.checkout(&stack, t, &format!("race-{i}"), card))
    }))
    .await;
    for (status, body) in &answers {
        assert_eq!(*status, 201, "{body}");
    }
    // Every webhook handled (authorized + captured per checkout), none
    // making a second order.
    stack
        .eventually("the gateway delivered every webhook", || async {
            let n = shop
                .count(
                    &stack,
                    "SELECT count(*) FROM webhook_events WHERE store_id = $1",
                )
                .await;
            (n >= 20).then_some(())
        })
        .await;
    assert_eq!(shop.count(&stack, ORDERS).await, 10);
    assert_eq!(
        shop.count(&stack, "SELECT count(*) FROM outbox WHERE store_id = $1 AND type IN ('order.placed', 'payment.captured')").await,
        20,
        "one order.placed and one payment.captured per checkout"
    );
    assert_eq!(shop.stock(&stack, &variant).await, (90, 0));
    let stats = stack.gateway_stats().await;
    assert_eq!(stats["authorizations"], 10, "{stats}");
    assert_eq!(stats["captures"], 10, "{stats}");
    assert_eq!(stats["voids"], 0, "{stats}");
    // A webhook replayed by hand is deduplicated: same answer, no effect.
    let before = shop
        .count(
            &stack,
            "SELECT count(*) FROM webhook_events WHERE store_id = $1",
        )
        .await;
    assert_eq!(replay_webhook(&stack, &shop).await, (200, 200));
    assert_eq!(shop.count(&stack, ORDERS).await, 10);
    assert_eq!(
        shop.count(
            &stack,
            "SELECT count(*) FROM webhook_events WHERE store_id = $1"
        )
        .await,
        before + 1
    );
    // A forged one is refused.
    let r = stack
        .http
        .post(format!(
            "{}/webhooks/payments/{}",
            stack.pod_for(&shop.store).await.app.url(),
            shop.id
        ))
        .header("mercato-signature", "t=1,v1=00")
        .body("{}")
        .send()
        .await
        .expect("send");
    assert_eq!(error_code(r).await, (400, "invalid_signature".into()));
    stack.shutdown().await;
}

#[tokio::test]
async fn declines_failures_slow_and_lost_responses_each_end_consistent() {
    let stack = Stack::start(1).await;
    let shop = Shop::open(&stack, "cards").await;
    let (_, variant) = shop.product(&stack, "CARD-1", 1500, 10).await;
    for (i, (card, status, code)) in [
        (CARD_DECLINED, 402, "payment_declined"),
        (CARD_NO_FUNDS, 402, "payment_declined"),
        (CARD_PROCESSING_ERROR, 402, "payment_failed"),
    ]
    .into_iter()
    .enumerate()
    {
        let token = shop.cart(&stack, &[(&variant, 3)]).await;
        let (got, body) = send(shop.checkout(&stack, &token, &format!("bad-{i}"), card)).await;
        assert_eq!(
            (got, body["error"]["code"].as_str().unwrap_or("")),
            (status, code),
            "{card}: {body}"
        );
        // Holds released, nothing sold, the cart still there to retry.
        assert_eq!(shop.stock(&stack, &variant).await, (10, 0), "{card}");
        let r = stack
            .get(&shop.host, "/api/cart")
            .header("x-cart-token", &token);
        assert_eq!(common::status_of(r).await, 200);
    }
    assert_eq!(shop.count(&stack, ORDERS).await, 0);
    assert_eq!(shop.count(&stack, ACTIVE_HOLDS).await, 0);
    let slow = shop.cart(&stack, &[(&variant, 2)]).await;
    let lost = shop.cart(&stack, &[(&variant, 2)]).await;
    let (a, b) = tokio::join!(
        send(shop.checkout(&stack, &slow, "slow", CARD_SLOW)),
        send(shop.checkout(&stack, &lost, "lost", CARD_LOST_RESPONSE)),
    );
    assert_eq!(a.0, 201, "{}", a.1);
    assert_eq!(b.0, 201, "{}", b.1);
    assert_eq!(shop.count(&stack, ORDERS).await, 2);
    assert_eq!(shop.stock(&stack, &variant).await, (6, 0));
    let stats = stack.gateway_stats().await;
    assert_eq!(stats["captures"], 2, "{stats}");
    stack.shutdown().await;
}

#[tokio::test]
async fn a_pod_killed_between_authorize_and_order_is_settled_by_recovery() {
    let stack = Stack::start(0).await;
    let mut pod = stack
        .spawn_pod_process(
            "pod-crash",
            &[("MERCATO_POD_FAILPOINT", "crash_after_authorize")],
        )
        .await;
    let mut shop = Shop::open(&stack, "crash").await;
    shop.database_url = Some(pod.database_url.clone());
    let (_, variant) = shop.product(&stack, "CR-1", 3000, 5).await;
    let token = shop.cart(&stack, &[(&variant, 1)]).await;
    // The pod dies after the gateway authorized, before any order.
    let answer = shop
        .checkout(&stack, &token, "crash-1", CARD_OK)
        .send()
        .await;
    assert!(!matches!(&answer, Ok(r) if r.status() == 201), "{answer:?}");
    let status = pod.wait_exit().await;
    assert!(
        !status.success(),
        "the failpoint aborts the process: {status}"
    );
    let stats = stack.gateway_stats().await;
    assert_eq!(
        (stats["authorizations"].as_u64(), stats["captures"].as_u64()),
        (Some(1), Some(0)),
        "{stats}"
    );
    assert_eq!(shop.count(&stack, ORDERS).await, 0);
    assert_eq!(
        shop.stock(&stack, &variant).await,
        (5, 1),
        "the hold outlives the crash"
    );
    // After a restart the recovery worker settles it one way or the other.
    // (The restarted pod refuses the gateway's webhooks, whose retries
    // would otherwise race the worker to the same end: this is about the
    // worker.)
    pod.restart(&[
        ("MERCATO_POD_FAILPOINT", ""),
        (
            "MERCATO_POD_GATEWAY__WEBHOOK_SECRET",
            "not-the-gateways-secret",
        ),
        ("MERCATO_POD_CHECKOUT__STUCK_AFTER_MS", "300"),
        ("MERCATO_POD_CHECKOUT__RECOVERY_INTERVAL_MS", "100"),
    ])
    .await;
    stack
        .eventually("the checkout is settled", || async {
            let open = shop
                .count(&stack, "SELECT count(*) FROM checkouts WHERE store_id = $1 AND state NOT IN ('completed', 'failed')")
                .await;
            (open == 0).then_some(())
        })
        .await;
    let stats = stack.gateway_stats().await;
    let orders = shop.count(&stack, ORDERS).await;
    let captures = stats["captures"].as_u64().unwrap_or(99);
    let voids = stats["voids"].as_u64().unwrap_or(99);
    match orders {
        // Forward: order + capture, stock committed, nothing voided.
        1 => {
            assert_eq!((captures, voids), (1, 0), "{stats}");
            assert_eq!(shop.stock(&stack, &variant).await, (4, 0));
            let paid = shop
                .count(
                    &stack,
                    "SELECT count(*) FROM orders WHERE store_id = $1 AND status = 'paid'",
                )
                .await;
            assert_eq!(paid, 1);
        }
        // Back: void + release, no capture.
        0 => {
            assert_eq!((captures, voids), (0, 1), "{stats}");
            assert_eq!(shop.stock(&stack, &variant).await, (5, 0));
        }
        n => panic!("{n} orders for one checkout"),
    }
    assert_eq!(shop.count(&stack, ACTIVE_HOLDS).await, 0);
    assert_eq!(
        shop.count(
            &stack,
            "SELECT count(*) FROM checkouts WHERE store_id = $1 AND attempts > 0"
        )
        .await,
        1,
        "claimed by the recovery worker"
    );
    assert_eq!(
        shop.count(
            &stack,
            "SELECT count(*) FROM webhook_events WHERE store_id = $1"
        )
        .await,
        0
    );
    // A retry with the key gets the settled answer.
    let (status, body) = send(shop.checkout(&stack, &token, "crash-1", CARD_OK)).await;
    assert_eq!(
        status,
        if orders == 1 { 201 } else { 409 },
        "{body}\n{}",
        pod.log()
    );
    drop(pod);
    stack.shutdown().await;
}

#[tokio::test]
async fn an_abandoned_checkouts_hold_expires_and_the_stock_returns() {
    let stack = Stack::start_with(1, |cfg| cfg.inventory.hold_sweep_interval_ms = 100).await;
    let shop = Shop::open(&stack, "abandon").await;
    let (_, variant) = shop.product(&stack, "ABN-1", 900, 5).await;
    let pod = stack.pod_for(&shop.store).await;
    let owner = mercato_tenants::HoldOwner::new();
    let lines = [mercato_pod::inventory::HoldLine {
        variant: variant.parse().expect("variant"),
        quantity: 4,
    }];
    assert!(mercato_pod::inventory::reserve(
        &pod.state,
        shop.id,
        owner,
        &lines,
        std::time::Duration::from_secs(1)
    )
    .await
    .is_ok());
    assert_eq!(shop.stock(&stack, &variant).await, (5, 4));
    // Meanwhile only one unit is left to buy.
    let token = shop.cart(&stack, &[(&variant, 2)]).await;
    let (status, body) = send(shop.checkout(&stack, &token, "while-held", CARD_OK)).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("out_of_stock")),
        "{body}"
    );
    assert_eq!(body["error"]["lines"][0]["available"], 1);
    stack
        .eventually("the sweeper releases the expired hold", || async {
            (shop.stock(&stack, &variant).await == (5, 0)).then_some(())
        })
        .await;
    assert_eq!(
        shop.count(
            &stack,
            "SELECT count(*) FROM holds WHERE store_id = $1 AND status = 'released'"
        )
        .await,
        1
    );
    let token = shop.cart(&stack, &[(&variant, 5)]).await;
    let (status, body) = send(shop.checkout(&stack, &token, "after-expiry", CARD_OK)).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(shop.stock(&stack, &variant).await, (0, 0));
    stack.shutdown().await;
}

#[tokio::test]
async fn with_redis_stopped_checkout_is_still_exact() {
    let mut stack = Stack::start(1).await;
    let shop = Shop::open(&stack, "noredis").await;
    let (_, variant) = shop.product(&stack, "NR-1", 1200, 10).await;
    let carts = shop.one_unit_carts(&stack, &variant, 25).await;
    stack.stop_pod_redis(0).await;
    let answers = checkout_all(&stack, &shop, &carts, "nr").await;
    assert_eq!(answers.iter().filter(|(s, _)| *s == 201).count(), 10);
    assert_eq!(answers.iter().filter(|(s, _)| *s == 409).count(), 15);
    assert_eq!(shop.stock(&stack, &variant).await, (0, 0));
    assert_eq!(shop.count(&stack, ORDERS).await, 10);
    assert_eq!(shop.count(&stack, ACTIVE_HOLDS).await, 0);
    stack.shutdown().await;
}

#[tokio::test]
async fn bad_checkout_input_gets_a_clear_4xx_and_changes_nothing() {
    let stack = Stack::start(1).await;
    let shop = Shop::open(&stack, "badin").await;
    let (_, variant) = shop.product(&stack, "BAD-1", 1000, 5).await;
    let token = shop.cart(&stack, &[(&variant, 1)]).await;
    let post = |body: Value, key: Option<&str>| {
        let r = stack
            .post(&shop.host, "/api/checkout")
            .header("x-cart-token", &token)
            .json(&body);
        match key {
            Some(k) => r.header("idempotency-key", k),
            None => r,
        }
    };
    let code =
        |r: reqwest::RequestBuilder| async move { error_code(r.send().await.expect("send")).await };
    let good = checkout_body(CARD_OK);
    assert_eq!(
        code(post(good.clone(), None)).await,
        (400, "missing_idempotency_key".into())
    );
    assert_eq!(
        code(post(good.clone(), Some(&"k".repeat(300)))).await,
        (400, "invalid_request".into())
    );
    // Shape errors (nothing recorded), then the checkout's own verdicts
    // (recorded under their key): (field, value, status, code).
    let cases = [
        ("/email", json!("not-an-email"), 400, "invalid_email"),
        (
            "/shipping_address/country",
            json!("USA"),
            400,
            "invalid_request",
        ),
        ("/surprise", json!(1), 400, "invalid_request"),
        ("/payment_token", json!(""), 400, "invalid_request"),
        (
            "/shipping_option",
            json!("pigeon"),
            422,
            "shipping_unavailable",
        ),
        ("/expected_total_minor", json!(1), 409, "price_changed"),
        (
            "/payment_token",
            json!("tok_nonsense"),
            402,
            "payment_failed",
        ),
    ];
    for (i, (field, value, status, want)) in cases.into_iter().enumerate() {
        let mut b = good.clone();
        let (parent, name) = field.rsplit_once('/').expect("a pointer");
        b.pointer_mut(if parent.is_empty() { "" } else { parent })
            .and_then(Value::as_object_mut)
            .expect("an object")
            .insert(name.to_owned(), value);
        let got = code(post(b, Some(&format!("b{i}")))).await;
        assert_eq!(got, (status, want.to_owned()), "{field}");
    }
    // No cart token at all.
    let r = stack
        .post(&shop.host, "/api/checkout")
        .header("idempotency-key", "b8")
        .json(&good);
    assert_eq!(code(r).await, (400, "invalid_cart_token".into()));
    // An empty cart.
    let empty = shop.cart(&stack, &[]).await;
    let r = shop.checkout(&stack, &empty, "b9", CARD_OK);
    assert_eq!(code(r).await, (422, "empty_cart".into()));
    assert_eq!(shop.count(&stack, ORDERS).await, 0);
    assert_eq!(shop.stock(&stack, &variant).await, (5, 0));
    assert_eq!(shop.count(&stack, ACTIVE_HOLDS).await, 0);
    // After all that the cart still checks out.
    let (status, body) = send(shop.checkout(&stack, &token, "good", CARD_OK)).await;
    assert_eq!(status, 201, "{body}");
    // And a second checkout of the converted cart finds no cart.
    let (status, _) = send(shop.checkout(&stack, &token, "good-again", CARD_OK)).await;
    assert_eq!(status, 404);
    stack.shutdown().await;
}

#[tokio::test]
async fn shipping_and_tax_come_from_the_stores_rate_tables() {
    let stack = Stack::start(1).await;
    let shop = Shop::open(&stack, "rates").await;
    let (_, variant) = shop.product(&stack, "RT-1", 1999, 10).await;
    let put = |path: &str, body: Value| {
        stack
            .at(Method::PUT, &shop.host, path)
            .bearer_auth(&shop.staff)
            .json(&body)
    };
    let r = put(
        "/admin/api/shipping-rates",
        json!({"rates": [
            {"code": "standard", "name": "Standard", "price_minor": 500, "free_over_minor": 10000},
            {"code": "express", "name": "Express", "price_minor": 1500, "countries": ["US"]}
        ]}),
    );
    assert_eq!(common::status_of(r).await, 200);
    let r = put(
        "/admin/api/tax-rates",
        json!({"rates": [
            {"country": "US", "rate_bp": 500},
            {"country": "US", "region": "IL", "rate_bp": 825, "name": "IL sales tax"}
        ]}),
    );
    assert_eq!(common::status_of(r).await, 200);
    let r = put(
        "/admin/api/tax-rates",
        json!({"rates": [{"country": "US", "rate_bp": 10001}]}),
    );
    assert_eq!(
        error_code(r.send().await.expect("send")).await,
        (400, "invalid_request".into())
    );
    let (_, options) = send(stack.get(
        &shop.host,
        "/api/shipping-options?country=FR&subtotal_minor=20000",
    ))
    .await;
    assert_eq!(
        options,
        json!([{"code": "standard", "name": "Standard", "price_minor": 0}])
    );
    let token = shop.cart(&stack, &[(&variant, 3)]).await;
    let mut body = checkout_body(CARD_OK);
    body["shipping_option"] = json!("express");
    body["expected_total_minor"] = json!(5997 + 1500 + 619);
    let r = stack
        .post(&shop.host, "/api/checkout")
        .header("x-cart-token", &token)
        .header("idempotency-key", "rated")
        .json(&body);
    let (status, order) = send(r).await;
    assert_eq!(status, 201, "{order}");
    assert_eq!(
        (
            order["subtotal_minor"].as_i64(),
            order["shipping_minor"].as_i64(),
            order["tax_minor"].as_i64(),
            order["total_minor"].as_i64()
        ),
        (Some(5997), Some(1500), Some(619), Some(8116))
    );
    assert_eq!(order["name"], "#1001");
    stack.shutdown().await;
}

#[tokio::test]
async fn orders_history_guest_lookup_staff_fulfilment_and_cancellation() {
    let stack = Stack::start(1).await;
    let shop = Shop::open(&stack, "orders").await;
    let (_, variant) = shop.product(&stack, "ORD-1", 1000, 20).await;
    let mut placed = Vec::new();
    for i in 0..3 {
        let token = shop.cart(&stack, &[(&variant, 2)]).await;
        let (status, order) = send(shop.checkout(&stack, &token, &format!("o-{i}"), CARD_OK)).await;
        assert_eq!(status, 201, "{order}");
        placed.push(order);
    }
    assert_eq!(shop.stock(&stack, &variant).await, (14, 0));
    // A signed-in customer buys from their own cart and sees their history.
    let customer = |id: mercato_tenants::CustomerId| {
        stack
            .keys
            .issue(&mercato_tenants::Claims::new(
                id.to_string(),
                mercato_tenants::Role::Customer,
                Some(shop.id),
                common::now(),
                3600,
            ))
            .expect("token")
    };
    let ada = customer(mercato_tenants::CustomerId::new());
    let bob = customer(mercato_tenants::CustomerId::new());
    let r = stack
        .post(&shop.host, "/api/cart/lines")
        .bearer_auth(&ada)
        .json(&json!({"variant_id": variant, "quantity": 1}));
    assert_eq!(common::status_of(r).await, 200);
    let r = stack
        .post(&shop.host, "/api/checkout")
        .bearer_auth(&ada)
        .header("idempotency-key", "ada-1")
        .json(&checkout_body(CARD_OK));
    let (status, adas) = send(r).await;
    assert_eq!(
        (status, adas["number"].as_i64()),
        (201, Some(1004)),
        "{adas}"
    );
    let (_, history) = send(stack.get(&shop.host, "/api/orders").bearer_auth(&ada)).await;
    assert_eq!(history["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(history["items"][0]["id"], adas["id"]);
    let (_, none) = send(stack.get(&shop.host, "/api/orders").bearer_auth(&bob)).await;
    assert_eq!(none["items"].as_array().map(Vec::len), Some(0));
    assert_eq!(
        send(stack.get(&shop.host, "/api/orders/1004").bearer_auth(&ada))
            .await
            .0,
        200
    );
    assert_eq!(
        send(stack.get(&shop.host, "/api/orders/1004").bearer_auth(&bob))
            .await
            .0,
        404
    );
    assert_eq!(
        error_code(
            stack
                .get(&shop.host, "/api/orders")
                .send()
                .await
                .expect("send")
        )
        .await
        .0,
        401
    );
    // Guest lookup: the number and the token of the confirmation link that
    // the checkout answered; anything else 404.
    let link = |o: &Value| o["confirmation_path"].as_str().expect("link").to_owned();
    let guest_link = link(&placed[1]);
    let (_, token) = guest_link.split_once("?token=").expect("a token");
    assert_eq!(token.len(), 64);
    let (status, found) = send(stack.get(&shop.host, &guest_link)).await;
    assert_eq!((status, &found["id"]), (200, &placed[1]["id"]));
    for path in [
        format!("/api/orders/1002?token={}", "0".repeat(64)),
        format!("/api/orders/1001?token={token}"),
        format!("/api/orders/9999?token={token}"),
    ] {
        assert_eq!(
            error_code(stack.get(&shop.host, &path).send().await.expect("send")).await,
            (404, "not_found".into()),
            "{path}"
        );
    }
    // The number and email no longer find an order.
    for path in [
        "/api/orders/1002?email=shopper@example.com",
        "/api/orders/1002",
        "/api/orders/1002?token=short",
        "/api/orders/abc?token=00",
    ] {
        let (status, _) = error_code(stack.get(&shop.host, path).send().await.expect("send")).await;
        assert_eq!(status, 400, "{path}");
    }
    // A registered customer's order: its link alone asks to sign in, another
    // customer does not see it, its customer does.
    let adas_link = link(&adas);
    assert_eq!(
        error_code(
            stack
                .get(&shop.host, &adas_link)
                .send()
                .await
                .expect("send")
        )
        .await,
        (401, "unauthorized".into())
    );
    assert_ne!(
        send(stack.get(&shop.host, &adas_link).bearer_auth(&bob))
            .await
            .0,
        200
    );
    let (status, found) = send(stack.get(&shop.host, &adas_link).bearer_auth(&ada)).await;
    assert_eq!((status, &found["id"]), (200, &adas["id"]));
    // Staff list and filter.
    let staff = |m: Method, path: &str| stack.at(m, &shop.host, path).bearer_auth(&shop.staff);
    let (_, page) = send(staff(Method::GET, "/admin/api/orders?limit=3")).await;
    assert_eq!(page["items"].as_array().map(Vec::len), Some(3));
    assert_eq!(page["items"][0]["number"], 1004);
    let cursor = page["next_cursor"].as_str().expect("cursor").to_owned();
    let (_, rest) = send(staff(
        Method::GET,
        &format!("/admin/api/orders?limit=3&after={cursor}"),
    ))
    .await;
    assert_eq!(rest["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(rest["items"][0]["number"], 1001);
    let id = |o: &Value| o["id"].as_str().expect("id").to_owned();
    // Fulfilment follows the order's shipment: illegal jumps refused by
    // the state machine.
    let first = id(&placed[0]);
    let (_, planned) = send(staff(
        Method::GET,
        &format!("/admin/api/orders/{first}/shipments"),
    ))
    .await;
    let shipment = planned[0]["id"]
        .as_str()
        .expect("a planned shipment")
        .to_owned();
    let status = |to: &str| {
        staff(
            Method::POST,
            &format!("/admin/api/orders/{first}/shipments/{shipment}/status"),
        )
        .json(&json!({"status": to}))
    };
    assert_eq!(
        error_code(status("delivered").send().await.expect("send")).await,
        (409, "invalid_transition".into())
    );
    assert_eq!(send(status("shipped")).await.0, 200);
    let (_, filtered) = send(staff(Method::GET, "/admin/api/orders?status=fulfilled")).await;
    assert_eq!(filtered["items"].as_array().map(Vec::len), Some(1));
    // A shipped order cannot be cancelled, only refunded.
    let (code, _) = error_code(
        staff(Method::POST, &format!("/admin/api/orders/{first}/cancel"))
            .json(&json!({}))
            .send()
            .await
            .expect("send"),
    )
    .await;
    assert_eq!(code, 409);
    // Cancel a paid order: refunded at the gateway, stock back.
    let second = id(&placed[1]);
    let (s, cancelled) = send(
        staff(Method::POST, &format!("/admin/api/orders/{second}/cancel"))
            .json(&json!({"reason": "customer asked"})),
    )
    .await;
    assert_eq!(s, 200, "{cancelled}");
    assert_eq!(
        (
            cancelled["status"].as_str(),
            cancelled["refunded_minor"].as_i64()
        ),
        (Some("cancelled"), Some(2000))
    );
    assert_eq!(shop.stock(&stack, &variant).await, (15, 0));
    // Cancelling twice is refused and restocks nothing more.
    let (code, _) = error_code(
        staff(Method::POST, &format!("/admin/api/orders/{second}/cancel"))
            .json(&json!({}))
            .send()
            .await
            .expect("send"),
    )
    .await;
    assert_eq!(code, 409);
    assert_eq!(shop.stock(&stack, &variant).await, (15, 0));
    let stats = stack.gateway_stats().await;
    assert_eq!(stats["refunds"], 1, "{stats}");
    // The database refuses an illegal transition even without the API.
    let mut db = shop.db(&stack).await;
    let err =
        sqlx::query("UPDATE orders SET status = 'placed' WHERE store_id = $1 AND number = 1002")
            .bind(shop.id.as_uuid())
            .execute(&mut db)
            .await
            .expect_err("refused");
    assert!(
        err.to_string()
            .contains("cannot go from cancelled to placed"),
        "{err}"
    );
    // The database's table is the Rust function's.
    let table = mercato_pod::orders::database_transitions(&mut db)
        .await
        .expect("table");
    let mut expected = Vec::new();
    for from in mercato_pod::orders::OrderStatus::ALL {
        for to in mercato_pod::orders::OrderStatus::ALL {
            if mercato_pod::orders::state::allowed(from, to) {
                expected.push((from.as_str().to_owned(), to.as_str().to_owned()));
            }
        }
    }
    expected.sort();
    assert_eq!(table, expected);
    stack.shutdown().await;
}

#[tokio::test]
async fn with_kafka_stopped_checkouts_succeed_and_each_order_event_is_counted_once_after() {
    let mut stack = Stack::start(1).await;
    let shop = Shop::open(&stack, "nokafka").await;
    let (_, variant) = shop.product(&stack, "NK-1", 1250, 10).await;
    let carts = shop.one_unit_carts(&stack, &variant, 5).await;
    stack.kafka.stop().await;
    for (i, token) in carts.iter().enumerate() {
        let (status, body) = send(shop.checkout(&stack, token, &format!("nk-{i}"), CARD_OK)).await;
        assert_eq!(status, 201, "{body}");
    }
    let waiting = "SELECT count(*) FROM outbox WHERE store_id = $1 AND type = 'order.placed' AND published_at IS NULL";
    assert_eq!(
        shop.count(&stack, waiting).await,
        5,
        "the events wait in the outbox"
    );
    stack.kafka.start().await;
    let sales_of = |stack: &Stack| {
        let path = format!("/v1/stores/{}/sales", shop.id);
        let req = stack.operator(Method::GET, &path);
        async move {
            let r = req.send().await.ok()?;
            r.json::<Value>().await.ok()
        }
    };
    let sales = stack
        // The consumer reconnects to the restarted broker with backoff: at
        // a load average of 8 that took more than 15 s once.
        .eventually_within(
            "the sales consumer counts the five orders",
            std::time::Duration::from_secs(60),
            || async { sales_of(&stack).await.filter(|s| s["orders"] == 5) },
        )
        .await;
    // 5 × (12.50 + free shipping, no tax configured).
    assert_eq!(
        sales["revenue"],
        json!([{"currency": "USD", "minor": 6250}])
    );
    assert_eq!(shop.count(&stack, waiting).await, 0);
    // Published again (a relay that crashed before marking them sent):
    // the consumer dedupes by event id.
    let mut db = shop.db(&stack).await;
    sqlx::query(
        "UPDATE outbox SET published_at = NULL WHERE store_id = $1 AND type = 'order.placed'",
    )
    .bind(shop.id.as_uuid())
    .execute(&mut db)
    .await
    .expect("republish");
    stack
        .eventually("the relay publishes them again", || async {
            (shop.count(&stack, waiting).await == 0).then_some(())
        })
        .await;
    // One more real order after the duplicates proves the consumer has
    // read past them.
    let token = shop.cart(&stack, &[(&variant, 1)]).await;
    assert_eq!(
        send(shop.checkout(&stack, &token, "nk-last", CARD_OK))
            .await
            .0,
        201
    );
    let sales = stack
        .eventually("the sales consumer counts the sixth order", || async {
            sales_of(&stack).await.filter(|s| s["orders"] != 5)
        })
        .await;
    assert_eq!(sales["orders"], 6);
    assert_eq!(
        sales["revenue"],
        json!([{"currency": "USD", "minor": 7500}])
    );
    stack.shutdown().await;
}

#[tokio::test]
async fn staff_cancelling_an_order_awaiting_capture_voids_it_and_releases_the_stock() {
    // The gateway's capture answer never arrives: the order stays placed.
    let stack = Stack::start_with(1, |cfg| cfg.failpoint = "capture_unknown".into()).await;
    let shop = Shop::open(&stack, "awaiting").await;
    let (_, variant) = shop.product(&stack, "AW-1", 2000, 5).await;
    let token = shop.cart(&stack, &[(&variant, 2)]).await;
    let (status, pending) = send(shop.checkout(&stack, &token, "aw-1", CARD_OK)).await;
    assert_eq!(
        (status, pending["state"].as_str()),
        (202, Some("ordered")),
        "{pending}"
    );
    assert_eq!(shop.stock(&stack, &variant).await, (5, 2));
    let staff = |m: Method, path: &str| stack.at(m, &shop.host, path).bearer_auth(&shop.staff);
    let (_, placed) = send(staff(Method::GET, "/admin/api/orders?status=placed")).await;
    let id = placed["items"][0]["id"]
        .as_str()
        .expect("a placed order")
        .to_owned();
    let (status, cancelled) = send(
        staff(Method::POST, &format!("/admin/api/orders/{id}/cancel"))
            .json(&json!({"reason": "fraud check"})),
    )
    .await;
    assert_eq!(status, 200, "{cancelled}");
    assert_eq!(cancelled["status"], "cancelled");
    assert_eq!(cancelled["cancel_reason"], "fraud check");
    let stats = stack.gateway_stats().await;
    assert_eq!(
        (stats["voids"].as_u64(), stats["captures"].as_u64()),
        (Some(1), Some(0)),
        "{stats}"
    );
    assert_eq!(shop.stock(&stack, &variant).await, (5, 0));
    assert_eq!(shop.count(&stack, ACTIVE_HOLDS).await, 0);
    let events = "SELECT count(*) FROM outbox WHERE store_id = $1 AND type IN ('order.placed', 'payment.voided')";
    assert_eq!(shop.count(&stack, events).await, 1, "payment.voided only");
    // The shopper's retry learns the end.
    let (status, body) = send(shop.checkout(&stack, &token, "aw-1", CARD_OK)).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("conflict")),
        "{body}"
    );
    stack.shutdown().await;
}

/// The recovery worker writes (it claims stuck checkouts), so it honours the
/// fence like every writer: a store fenced for a move since the worker
/// listed the active stores is left alone, so nothing is written on a
/// move's source after its fence.
#[tokio::test]
async fn recovery_leaves_a_fenced_store_alone() {
    let stack = Stack::start(1).await;
    let shop = Shop::open(&stack, "fenced").await;
    let (_, variant) = shop.product(&stack, "FE-1", 1000, 5).await;
    let token = shop.cart(&stack, &[(&variant, 1)]).await;
    let (status, body) = send(shop.checkout(&stack, &token, "fenced-1", CARD_DECLINED)).await;
    assert_eq!(status, 402, "{body}");
    // The checkout looks abandoned mid-way, long ago; the store is fenced.
    let mut db = shop.db(&stack).await;
    for sql in [
        "UPDATE checkouts SET state = 'compensating', updated_at = now() - interval '1 hour' WHERE store_id = $1",
        "UPDATE hosted_stores SET state = 'moved_out' WHERE store_id = $1",
    ] {
        let done = sqlx::query(sql)
            .bind(shop.id.as_uuid())
            .execute(&mut db)
            .await
            .expect(sql);
        assert_eq!(done.rows_affected(), 1, "{sql}");
    }
    let pod = stack.pod_for(&shop.store).await;
    mercato_pod::checkout::recover_store(&pod.state, shop.id)
        .await
        .expect("recovery round");
    const CLAIMED: &str = "SELECT count(*) FROM checkouts WHERE store_id = $1 AND attempts > 0";
    assert_eq!(shop.count(&stack, CLAIMED).await, 0, "fenced: not claimed");
    // Active again, the same round claims it.
    sqlx::query("UPDATE hosted_stores SET state = 'active' WHERE store_id = $1")
        .bind(shop.id.as_uuid())
        .execute(&mut db)
        .await
        .expect("activate");
    mercato_pod::checkout::recover_store(&pod.state, shop.id)
        .await
        .expect("recovery round");
    assert_eq!(shop.count(&stack, CLAIMED).await, 1, "active: claimed");
    stack.shutdown().await;
}

#[tokio::test]
async fn a_guest_checkout_answers_only_to_the_cart_tokens_secret() {
    let stack = Stack::start(1).await;
    let shop = Shop::open(&stack, "secret").await;
    let (_, variant) = shop.product(&stack, "SEC-1", 1200, 5).await;
    let token = shop.cart(&stack, &[(&variant, 1)]).await;
    let (status, order) = send(shop.checkout(&stack, &token, "sec-key", CARD_OK)).await;
    assert_eq!(status, 201, "{order}");
    // The cart id is the token's clear part; the secret after it is the
    // proof. Same cart id, another secret: a stranger who saw the id.
    let (cart_part, _secret) = token.rsplit_once('_').expect("ct_<cart>_<secret>");
    let forged = format!("{cart_part}_{}", "0".repeat(64));
    let (status, body) = send(shop.checkout(&stack, &forged, "sec-key", CARD_OK)).await;
    assert_eq!(
        status, 404,
        "a replay with a forged secret learns nothing: {body}"
    );
    assert_eq!(body["error"]["code"], "not_found");
    assert!(!body.to_string().contains("@"), "no email leaks: {body}");
    // The status page: the owner sees it, the forger does not.
    let (_, replayed) = send(shop.checkout(&stack, &token, "sec-key", CARD_OK)).await;
    assert_eq!(
        replayed["id"], order["id"],
        "the owner's replay gets the order"
    );
    let mut db = shop.db(&stack).await;
    let (checkout,): (uuid::Uuid,) = sqlx::query_as(
        "SELECT id FROM checkouts WHERE store_id = $1 AND idempotency_key = 'sec-key'",
    )
    .bind(shop.id.as_uuid())
    .fetch_one(&mut db)
    .await
    .expect("checkout row");
    let path = format!("/api/checkouts/{checkout}");
    let owner = stack.get(&shop.host, &path).header("x-cart-token", &token);
    assert_eq!(send(owner).await.0, 200);
    let stranger = stack.get(&shop.host, &path).header("x-cart-token", &forged);
    assert_eq!(send(stranger).await.0, 404);
    stack.shutdown().await;
}

/// A router of the stack's platform with the checkout waiting room set to
/// `max_in_flight` per store; its URL and the means to stop it.
async fn router_with_waiting_room(
    stack: &Stack,
    max_in_flight: u32,
) -> (String, tokio::sync::oneshot::Sender<()>) {
    let app = mercato_router::Application::build(mercato_router::RouterConfig {
        listen: "127.0.0.1:0".into(),
        control_plane_url: stack.control_plane_url(),
        tokens: stack.keys.router_tokens(),
        control_plane_token: stack.router_token(),
        hop_secret: common::hop_secret(stack.secret()),
        platform_domain: common::PLATFORM.into(),
        limits: mercato_router::limits::LimitsConfig {
            enabled: false,
            ..Default::default()
        },
        waiting_room: mercato_router::waiting_room::WaitingRoomConfig {
            max_in_flight_per_store: max_in_flight,
            ..Default::default()
        },
        ..Default::default()
    })
    .await
    .expect("router");
    let url = format!("http://{}", app.local_addr());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(app.run_until(async move {
        let _ = stopped.await;
    }));
    (url, stop)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_store_queues_checkouts_with_tickets_served_in_turn_and_never_queues_browsing() {
    const TICKET: &str = "x-mercato-queue-ticket";
    let stack = Stack::start(1).await;
    let shop = Shop::open(&stack, "queue").await;
    let other = Shop::open(&stack, "elsewhere").await;
    let (product, variant) = shop.product(&stack, "QUEUE-1", 1_000, 10).await;
    let carts = shop.one_unit_carts(&stack, &variant, 3).await;
    let (router, stop) = router_with_waiting_room(&stack, 1).await;
    let checkout = |token: &str, key: &str, card: &str, ticket: Option<&str>| {
        let mut r = stack
            .http
            .post(format!("{router}/api/checkout"))
            .header("host", &shop.host)
            .header("x-cart-token", token)
            .header("idempotency-key", key)
            .json(&checkout_body(card));
        if let Some(t) = ticket {
            r = r.header(TICKET, t);
        }
        r
    };
    let queued = |r: reqwest::Response| async move {
        assert_eq!(r.status(), 503);
        let retry_after: u64 = r.headers()["retry-after"]
            .to_str()
            .expect("text")
            .parse()
            .expect("seconds");
        assert!(retry_after >= 1);
        let header = r.headers()[TICKET].to_str().expect("text").to_owned();
        let body: Value = r.json().await.expect("json");
        assert_eq!(body["error"]["code"], "queued", "{body}");
        assert_eq!(body["queue"]["ticket"], header.as_str());
        assert!(body["queue"]["estimated_wait_ms"].as_u64().expect("wait") > 0);
        (
            header,
            body["queue"]["position"].as_u64().expect("position"),
        )
    };

    // The first checkout pays with the gateway's slow card: it stays in
    // flight at the router for the gateway's delay.
    let first = tokio::spawn(send(checkout(&carts[0], "q-first", CARD_SLOW, None)));
    stack
        .eventually("the slow checkout is in flight", || async {
            (stack
                .metric(&router, "mercato_waiting_room_in_flight")
                .await?
                == 1.0)
                .then_some(())
        })
        .await;
    let (ticket, position) = queued(
        checkout(&carts[1], "q-second", CARD_OK, None)
            .send()
            .await
            .expect("send"),
    )
    .await;
    assert_eq!(position, 1);
    // Browsing and the cart are never queued, whatever the checkouts do.
    for path in [
        "/api/products".to_owned(),
        format!("/api/products/{product}"),
    ] {
        let r = stack
            .http
            .get(format!("{router}{path}"))
            .header("host", &shop.host);
        assert_eq!(common::status_of(r).await, 200, "{path}");
    }
    let r = stack
        .http
        .get(format!("{router}/api/cart"))
        .header("host", &shop.host)
        .header("x-cart-token", &carts[2]);
    assert_eq!(common::status_of(r).await, 200);
    // A newcomer does not go before the ticket holder.
    let (later, _) = queued(
        checkout(&carts[2], "q-third", CARD_OK, None)
            .send()
            .await
            .expect("send"),
    )
    .await;
    assert_ne!(later, ticket);

    // Bad tickets are refused with a clear code, and cost no place.
    let (head, tag) = ticket.rsplit_once('.').expect("signed");
    let flipped = if tag.starts_with('0') { "1" } else { "0" };
    let forged = format!("{head}.{flipped}{}", &tag[1..]);
    for bad in [forged.as_str(), "not-a-ticket", ""] {
        let r = checkout(&carts[1], "q-second", CARD_OK, Some(bad));
        assert_eq!(
            common::refusal(r).await,
            (400, "invalid_queue_ticket".into()),
            "{bad:?}"
        );
    }
    let r = stack
        .http
        .post(format!("{router}/api/checkout"))
        .header("host", &other.host)
        .header(TICKET, &ticket)
        .json(&checkout_body(CARD_OK));
    assert_eq!(
        common::refusal(r).await,
        (403, "queue_ticket_wrong_store".into())
    );

    let (status, body) = first.await.expect("task");
    assert_eq!(status, 201, "{body}");
    // The slot that freed is the ticket holder's.
    let (status, body) = send(checkout(&carts[1], "q-second", CARD_OK, Some(&ticket))).await;
    assert_eq!(status, 201, "{body}");
    let r = checkout(&carts[1], "q-second", CARD_OK, Some(&ticket));
    assert_eq!(common::refusal(r).await, (403, "queue_ticket_used".into()));
    // The newcomer's turn comes next.
    let (status, body) = send(checkout(&carts[2], "q-third", CARD_OK, Some(&later))).await;
    assert_eq!(status, 201, "{body}");

    assert_eq!(
        stack
            .metric(&router, "mercato_waiting_room_queued_total")
            .await,
        Some(2.0)
    );
    assert_eq!(
        stack
            .metric(&router, "mercato_waiting_room_queue_length")
            .await,
        Some(0.0)
    );
    assert_eq!(shop.count(&stack, ORDERS).await, 3);
    let _ = stop.send(());
    stack.shutdown().await;
}
