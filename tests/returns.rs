//! Returns and partial refunds end to end: staff's partial and goodwill
//! refunds (capped by what is left, even in parallel), the shopper's
//! return through approval, receipt, restock and refund, the refusals,
//! and a pod killed between the restock and the refund.

mod common;

use common::shop::{Shop, CARD_OK};
use common::{error_code, Stack};
use reqwest::Method;
use serde_json::{json, Value};

async fn send(req: reqwest::RequestBuilder) -> (u16, Value) {
    let r = req.send().await.expect("send");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn code(req: reqwest::RequestBuilder) -> (u16, String) {
    error_code(req.send().await.expect("send")).await
}

/// A paid guest order of `lines` (variant, units); its JSON (with
/// `confirmation_path`).
async fn order(stack: &Stack, shop: &Shop, lines: &[(&str, i64)], key: &str) -> Value {
    let token = shop.cart(stack, lines).await;
    let (status, order) = send(shop.checkout(stack, &token, key, CARD_OK)).await;
    assert_eq!(status, 201, "{order}");
    order
}

/// Gets a paid order delivered, as staff do today. The fulfillment work
/// (shipments) replaces this path: this is the one place to adapt.
async fn deliver_order(stack: &Stack, shop: &Shop, order: &Value) {
    shop.deliver(stack, order["id"].as_str().expect("id")).await;
}

fn staff(stack: &Stack, shop: &Shop, method: Method, path: &str) -> reqwest::RequestBuilder {
    stack.at(method, &shop.host, path).bearer_auth(&shop.staff)
}

fn refund(
    stack: &Stack,
    shop: &Shop,
    order: &Value,
    key: &str,
    amount: i64,
) -> reqwest::RequestBuilder {
    let id = order["id"].as_str().expect("id");
    staff(
        stack,
        shop,
        Method::POST,
        &format!("/admin/api/orders/{id}/refunds"),
    )
    .header("idempotency-key", key)
    .json(&json!({"amount_minor": amount, "reason": "goodwill"}))
}

/// The gateway's id of the order's payment.
async fn payment_id(stack: &Stack, shop: &Shop, order: &Value) -> String {
    shop.payment_id(stack, order["id"].as_str().expect("id"))
        .await
}

/// The order's payment at the gateway: (captured, refunded).
async fn at_gateway(stack: &Stack, shop: &Shop, order: &Value) -> (i64, i64) {
    shop.at_gateway(stack, order["id"].as_str().expect("id"))
        .await
}

/// The order as staff see it now.
async fn reread(stack: &Stack, shop: &Shop, order: &Value) -> Value {
    let id = order["id"].as_str().expect("id");
    let (status, o) = send(staff(
        stack,
        shop,
        Method::GET,
        &format!("/admin/api/orders/{id}"),
    ))
    .await;
    assert_eq!(status, 200);
    o
}

#[tokio::test]
async fn partial_refunds_then_the_rest_and_goodwill_is_capped_by_what_is_left() {
    let stack = Stack::start(1).await;
    let shop = Shop::open(&stack, "partial").await;
    let (_, variant) = shop.product(&stack, "PR-1", 1000, 10).await;
    let o = order(&stack, &shop, &[(&variant, 3)], "p1").await;
    assert_eq!(o["total_minor"], 3000);

    let (status, first) = send(refund(&stack, &shop, &o, "r1", 1000)).await;
    assert_eq!(
        (status, first["status"].as_str()),
        (201, Some("succeeded")),
        "{first}"
    );
    // The same key and body: the same refund, paid once.
    let (status, again) = send(refund(&stack, &shop, &o, "r1", 1000)).await;
    assert_eq!((status, &again["id"]), (201, &first["id"]));
    assert_eq!(
        code(refund(&stack, &shop, &o, "r1", 999)).await,
        (422, "idempotency_key_reused".into())
    );
    assert_eq!(
        code(refund(&stack, &shop, &o, "r2", 2001)).await,
        (409, "refund_too_large".into())
    );
    let id = o["id"].as_str().expect("id");
    let bad = staff(
        &stack,
        &shop,
        Method::POST,
        &format!("/admin/api/orders/{id}/refunds"),
    )
    .json(&json!({"amount_minor": 5}));
    assert_eq!(code(bad).await, (400, "missing_idempotency_key".into()));
    for body in [
        json!({"amount_minor": 0}),
        json!({"amount_minor": -5}),
        json!({"amount_minor": "x"}),
        json!({"amount_minor": 5, "extra": 1}),
        json!({"amount_minor": 5, "reason": "a\u{7}b"}),
    ] {
        let r = staff(
            &stack,
            &shop,
            Method::POST,
            &format!("/admin/api/orders/{id}/refunds"),
        )
        .header("idempotency-key", "bad")
        .json(&body);
        assert_eq!(code(r).await.0, 400, "{body}");
    }
    assert_eq!(reread(&stack, &shop, &o).await["status"], "paid");

    // The full refund gives back what is left, and no more.
    let (status, refunded) = send(
        staff(
            &stack,
            &shop,
            Method::POST,
            &format!("/admin/api/orders/{id}/refund"),
        )
        .json(&json!({"reason": "changed their mind"})),
    )
    .await;
    assert_eq!(status, 200, "{refunded}");
    assert_eq!(
        (
            refunded["status"].as_str(),
            refunded["refunded_minor"].as_i64()
        ),
        (Some("refunded"), Some(3000))
    );
    assert_eq!(at_gateway(&stack, &shop, &o).await, (3000, 3000));
    let (_, list) = send(staff(
        &stack,
        &shop,
        Method::GET,
        &format!("/admin/api/orders/{id}/refunds"),
    ))
    .await;
    let amounts: Vec<(i64, &str)> = list
        .as_array()
        .expect("refunds")
        .iter()
        .map(|r| {
            (
                r["amount_minor"].as_i64().expect("amount"),
                r["status"].as_str().expect("status"),
            )
        })
        .collect();
    assert_eq!(amounts, vec![(1000, "succeeded"), (2000, "succeeded")]);
    assert_eq!(
        code(refund(&stack, &shop, &o, "r3", 1)).await,
        (409, "refund_too_large".into())
    );
    let stats = stack.gateway_stats().await;
    assert_eq!(stats["refunds"], 2, "{stats}");
    stack.shutdown().await;
}

#[tokio::test]
async fn parallel_refunds_never_pass_the_capture() {
    let stack = Stack::start(1).await;
    let shop = Shop::open(&stack, "racing").await;
    let (_, variant) = shop.product(&stack, "PAR-1", 1000, 10).await;
    let o = order(&stack, &shop, &[(&variant, 3)], "par").await;
    // Twenty refunds of 400 at once on 3000: exactly seven fit.
    let answers = futures::future::join_all(
        (0..20).map(|i| send(refund(&stack, &shop, &o, &format!("k{i}"), 400))),
    )
    .await;
    let ok = answers.iter().filter(|(s, _)| *s == 201).count();
    let refused = answers
        .iter()
        .filter(|(s, b)| *s == 409 && b["error"]["code"] == "refund_too_large")
        .count();
    assert_eq!((ok, refused), (7, 13), "{answers:?}");
    let now = reread(&stack, &shop, &o).await;
    assert_eq!(now["refunded_minor"], 2800);
    assert_eq!(at_gateway(&stack, &shop, &o).await, (3000, 2800));
    assert_eq!(stack.gateway_stats().await["refunds"], 7);
    let mut db = shop.db(&stack).await;
    let (sum,): (i64,) = sqlx::query_as(
        "SELECT COALESCE(sum(amount_minor), 0)::bigint FROM refunds
          WHERE store_id = $1 AND status = 'succeeded'",
    )
    .bind(shop.id.as_uuid())
    .fetch_one(&mut db)
    .await
    .expect("sum");
    assert_eq!(sum, 2800);
    stack.shutdown().await;
}

/// The guest's returns path with the order's lookup token.
fn returns_path(order: &Value) -> String {
    let link = order["confirmation_path"].as_str().expect("link");
    let (path, token) = link.split_once("?token=").expect("token");
    format!("{path}/returns?token={token}")
}

fn open_return(stack: &Stack, shop: &Shop, order: &Value, lines: Value) -> reqwest::RequestBuilder {
    stack
        .post(&shop.host, &returns_path(order))
        .json(&json!({"lines": lines, "reason": "does not fit"}))
}

async fn act(stack: &Stack, shop: &Shop, id: &str, what: &str, body: Value) -> (u16, Value) {
    send(
        staff(
            stack,
            shop,
            Method::POST,
            &format!("/admin/api/returns/{id}/{what}"),
        )
        .json(&body),
    )
    .await
}

#[tokio::test]
async fn a_return_is_approved_received_restocked_and_refunded_with_its_share_of_tax_and_shipping() {
    let stack = Stack::start(1).await;
    let shop = Shop::open(&stack, "returns").await;
    let (_, shirt) = shop.product(&stack, "RET-SHIRT", 1000, 10).await;
    let (_, hat) = shop.product(&stack, "RET-HAT", 500, 10).await;
    for (path, body) in [
        (
            "/admin/api/shipping-rates",
            json!({"rates": [{"code": "standard", "name": "Standard", "price_minor": 500}]}),
        ),
        (
            "/admin/api/tax-rates",
            json!({"rates": [{"country": "US", "rate_bp": 1000}]}),
        ),
    ] {
        assert_eq!(
            common::status_of(staff(&stack, &shop, Method::PUT, path).json(&body)).await,
            200
        );
    }
    // 2 × 10.00 + 5.00, 5.00 shipping, 10 % tax on all: 33.00.
    let o = order(&stack, &shop, &[(&shirt, 2), (&hat, 1)], "ret").await;
    assert_eq!(
        (
            o["subtotal_minor"].as_i64(),
            o["shipping_minor"].as_i64(),
            o["tax_minor"].as_i64()
        ),
        (Some(2500), Some(500), Some(300))
    );
    assert_eq!(
        code(open_return(
            &stack,
            &shop,
            &o,
            json!([{"line": 0, "quantity": 1}])
        ))
        .await,
        (422, "return_not_allowed".into()),
        "not delivered yet"
    );
    deliver_order(&stack, &shop, &o).await;

    // The guest needs the order's token: without it, or with another, no.
    let number = o["number"].as_i64().expect("number");
    let bare = stack
        .post(&shop.host, &format!("/api/orders/{number}/returns"))
        .json(&json!({"lines": [{"line": 0, "quantity": 1}], "reason": "x"}));
    assert_eq!(code(bare).await.0, 400);
    let wrong = stack
        .post(
            &shop.host,
            &format!("/api/orders/{number}/returns?token={}", "0".repeat(64)),
        )
        .json(&json!({"lines": [{"line": 0, "quantity": 1}], "reason": "x"}));
    assert_eq!(code(wrong).await, (404, "not_found".into()));
    for lines in [
        json!([]),
        json!([{"line": 0, "quantity": 0}]),
        json!([{"line": 0, "quantity": -1}]),
        json!([{"line": 7, "quantity": 1}]),
        json!([{"line": 0, "quantity": 1}, {"line": 0, "quantity": 1}]),
    ] {
        assert_eq!(
            code(open_return(&stack, &shop, &o, lines.clone())).await.0,
            400,
            "{lines}"
        );
    }

    let (status, first) = send(open_return(
        &stack,
        &shop,
        &o,
        json!([{"line": 0, "quantity": 1}]),
    ))
    .await;
    assert_eq!(
        (status, first["status"].as_str()),
        (201, Some("requested")),
        "{first}"
    );
    // One shirt is in a return: two more cannot go back.
    assert_eq!(
        code(open_return(
            &stack,
            &shop,
            &o,
            json!([{"line": 0, "quantity": 2}])
        ))
        .await,
        (409, "return_too_large".into())
    );
    let first_id = first["id"].as_str().expect("id");
    assert_eq!(
        act(
            &stack,
            &shop,
            first_id,
            "receive",
            json!({"lines": [{"line": 0, "condition": "unopened", "restock": true}]})
        )
        .await
        .0,
        409,
        "not approved yet"
    );
    let (status, approved) = act(&stack, &shop, first_id, "approve", json!({})).await;
    assert_eq!(
        (status, approved["status"].as_str()),
        (200, Some("approved"))
    );
    assert_eq!(
        act(&stack, &shop, first_id, "approve", json!({})).await.0,
        409
    );
    assert_eq!(
        act(&stack, &shop, first_id, "receive", json!({"lines": []}))
            .await
            .0,
        400,
        "every line of the return, once"
    );
    let (status, done) = act(
        &stack,
        &shop,
        first_id,
        "receive",
        json!({"lines": [{"line": 0, "condition": "unopened", "restock": true}]}),
    )
    .await;
    assert_eq!(status, 200, "{done}");
    // 10.00 and its 10 % of the tax; no shipping before the last unit.
    assert_eq!(
        (
            done["status"].as_str(),
            done["refund_minor"].as_i64(),
            done["restocked"].as_bool()
        ),
        (Some("completed"), Some(1100), Some(true))
    );
    assert_eq!(
        shop.stock(&stack, &shirt).await,
        (9, 0),
        "the shirt is back"
    );

    // The rest: a shirt back to stock, a damaged hat not; the last unit
    // brings the shipping (and its tax) back too.
    let (status, second) = send(open_return(
        &stack,
        &shop,
        &o,
        json!([{"line": 0, "quantity": 1}, {"line": 1, "quantity": 1}]),
    ))
    .await;
    assert_eq!(status, 201, "{second}");
    let second_id = second["id"].as_str().expect("id");
    assert_eq!(
        act(&stack, &shop, second_id, "approve", json!({"note": "ok"}))
            .await
            .0,
        200
    );
    let (status, done) = act(
        &stack,
        &shop,
        second_id,
        "receive",
        json!({"lines": [
            {"line": 0, "condition": "opened", "restock": true},
            {"line": 1, "condition": "damaged", "restock": false}
        ]}),
    )
    .await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(done["refund_minor"], 1500 + 500 + 200);
    assert_eq!(shop.stock(&stack, &shirt).await, (10, 0));
    assert_eq!(
        shop.stock(&stack, &hat).await,
        (9, 0),
        "the damaged hat stays out"
    );
    let now = reread(&stack, &shop, &o).await;
    assert_eq!(
        (now["status"].as_str(), now["refunded_minor"].as_i64()),
        (Some("delivered"), Some(3300)),
        "returns leave the order's status alone"
    );
    assert_eq!(at_gateway(&stack, &shop, &o).await, (3300, 3300));
    assert_eq!(stack.gateway_stats().await["refunds"], 2);
    // Nothing is left to return.
    assert_eq!(
        code(open_return(
            &stack,
            &shop,
            &o,
            json!([{"line": 1, "quantity": 1}])
        ))
        .await,
        (409, "return_too_large".into())
    );
    // Refunding the order now gives nothing more back, and restocking it
    // puts none of the returned units on the shelf a second time (the
    // damaged hat stays out too).
    let id = o["id"].as_str().expect("id");
    let full = |restock: bool| {
        staff(
            &stack,
            &shop,
            Method::POST,
            &format!("/admin/api/orders/{id}/refund"),
        )
        .json(&json!({ "restock": restock }))
    };
    let (status, refunded) = send(full(true)).await;
    assert_eq!(
        (
            status,
            refunded["status"].as_str(),
            refunded["refunded_minor"].as_i64()
        ),
        (200, Some("refunded"), Some(3300)),
        "{refunded}"
    );
    assert_eq!(shop.stock(&stack, &shirt).await, (10, 0));
    assert_eq!(shop.stock(&stack, &hat).await, (9, 0));
    assert_eq!(stack.gateway_stats().await["refunds"], 2);
    // The shopper and staff see both; the events were recorded.
    let (status, mine) = send(stack.get(&shop.host, &returns_path(&o))).await;
    assert_eq!((status, mine.as_array().map(Vec::len)), (200, Some(2)));
    let (_, page) = send(staff(
        &stack,
        &shop,
        Method::GET,
        "/admin/api/returns?status=completed",
    ))
    .await;
    assert_eq!(page["items"].as_array().map(Vec::len), Some(2));
    let events = shop
        .count(
            &stack,
            "SELECT count(*) FROM outbox WHERE store_id = $1 AND type LIKE 'order.return_%'",
        )
        .await;
    assert_eq!(events, 8, "requested, approved, received, completed twice");
    let adjustments = shop
        .count(
            &stack,
            "SELECT count(*) FROM stock_adjustments WHERE store_id = $1 AND reason = 'returned'",
        )
        .await;
    assert_eq!(adjustments, 2);
    // The shopper was mailed: each return opened, approved and refunded.
    let number = o["number"].as_i64().expect("number");
    for what in ["opened", "approved", "refunded"] {
        let subject = format!("Return for order #{number} {what}");
        let mails = stack.await_mails("shopper@example.com", &subject, 2).await;
        assert_eq!(mails.len(), 2, "{subject}");
    }
    let refunded = stack
        .await_mails("shopper@example.com", "refunded", 2)
        .await;
    let mut bodies = Vec::new();
    for m in &refunded {
        bodies.push(stack.mail(m).await.to_string());
    }
    assert!(bodies.iter().any(|b| b.contains("$11.00")), "{bodies:?}");
    assert!(bodies.iter().any(|b| b.contains("$22.00")), "{bodies:?}");
    stack.shutdown().await;
}

#[tokio::test]
async fn returns_outside_the_window_are_refused_and_staff_reject_or_shoppers_cancel() {
    let stack = Stack::start(1).await;
    let shop = Shop::open(&stack, "window").await;
    let (_, variant) = shop.product(&stack, "WIN-1", 1000, 10).await;
    let o = order(&stack, &shop, &[(&variant, 2)], "win").await;
    deliver_order(&stack, &shop, &o).await;
    let (status, settings) = send(staff(
        &stack,
        &shop,
        Method::GET,
        "/admin/api/settings/returns",
    ))
    .await;
    assert_eq!(
        (status, settings),
        (
            200,
            json!({"window_days": 30, "shipping_refund": "when_all_returned"})
        )
    );
    for body in [
        json!({"window_days": -1, "shipping_refund": "never"}),
        json!({"window_days": 366, "shipping_refund": "never"}),
        json!({"window_days": 5, "shipping_refund": "sometimes"}),
        json!({"window_days": 5}),
    ] {
        let r = staff(&stack, &shop, Method::PUT, "/admin/api/settings/returns").json(&body);
        assert_eq!(code(r).await.0, 400, "{body}");
    }
    // A window of no days closed when the order was delivered.
    let closed = json!({"window_days": 0, "shipping_refund": "never"});
    let r = staff(&stack, &shop, Method::PUT, "/admin/api/settings/returns").json(&closed);
    assert_eq!(common::status_of(r).await, 200);
    assert_eq!(
        code(open_return(
            &stack,
            &shop,
            &o,
            json!([{"line": 0, "quantity": 1}])
        ))
        .await,
        (422, "return_not_allowed".into())
    );
    let open = json!({"window_days": 30, "shipping_refund": "never"});
    let r = staff(&stack, &shop, Method::PUT, "/admin/api/settings/returns").json(&open);
    assert_eq!(common::status_of(r).await, 200);

    // Rejected (with a reason) and cancelled returns give their units back.
    let (_, first) = send(open_return(
        &stack,
        &shop,
        &o,
        json!([{"line": 0, "quantity": 2}]),
    ))
    .await;
    let first_id = first["id"].as_str().expect("id");
    assert_eq!(
        act(&stack, &shop, first_id, "reject", json!({})).await.0,
        400,
        "say why"
    );
    let (status, rejected) = act(&stack, &shop, first_id, "reject", json!({"note": "worn"})).await;
    assert_eq!(
        (status, rejected["status"].as_str()),
        (200, Some("rejected"))
    );
    let (status, second) = send(open_return(
        &stack,
        &shop,
        &o,
        json!([{"line": 0, "quantity": 2}]),
    ))
    .await;
    assert_eq!(status, 201, "{second}");
    let cancel = returns_path(&o).replace(
        "/returns?",
        &format!("/returns/{}/cancel?", second["id"].as_str().expect("id")),
    );
    let (status, cancelled) = send(stack.post(&shop.host, &cancel)).await;
    assert_eq!(
        (status, cancelled["status"].as_str()),
        (200, Some("cancelled"))
    );
    assert_eq!(code(stack.post(&shop.host, &cancel)).await.0, 409);
    let (status, _) = send(open_return(
        &stack,
        &shop,
        &o,
        json!([{"line": 0, "quantity": 2}]),
    ))
    .await;
    assert_eq!(status, 201);
    for path in [
        "/admin/api/returns/not-a-uuid",
        "/admin/api/returns?status=lost",
        "/admin/api/returns?limit=0",
        "/admin/api/returns?after=x",
    ] {
        assert_eq!(
            code(staff(&stack, &shop, Method::GET, path)).await.0,
            400,
            "{path}"
        );
    }
    let unknown = format!("/admin/api/returns/{}", uuid::Uuid::now_v7());
    assert_eq!(
        code(staff(&stack, &shop, Method::GET, &unknown)).await.0,
        404
    );
    let anonymous = stack.get(&shop.host, "/admin/api/returns");
    assert_eq!(code(anonymous).await.0, 401);
    stack.shutdown().await;
}

#[tokio::test]
async fn a_pod_killed_between_the_restock_and_the_refund_completes_the_return_once() {
    let stack = Stack::start(0).await;
    let mut pod = stack
        .spawn_pod_process(
            "pod-returns",
            &[("MERCATO_POD_FAILPOINT", "crash_after_restock")],
        )
        .await;
    let mut shop = Shop::open(&stack, "crashret").await;
    shop.database_url = Some(pod.database_url.clone());
    let (_, variant) = shop.product(&stack, "CRR-1", 2000, 5).await;
    let o = order(&stack, &shop, &[(&variant, 2)], "crr").await;
    deliver_order(&stack, &shop, &o).await;
    let (status, opened) = send(open_return(
        &stack,
        &shop,
        &o,
        json!([{"line": 0, "quantity": 1}]),
    ))
    .await;
    assert_eq!(status, 201, "{opened}");
    let id = opened["id"].as_str().expect("id").to_owned();
    assert_eq!(act(&stack, &shop, &id, "approve", json!({})).await.0, 200);
    // The pod dies after the restock committed, before the gateway refund.
    let answer = staff(
        &stack,
        &shop,
        Method::POST,
        &format!("/admin/api/returns/{id}/receive"),
    )
    .json(&json!({"lines": [{"line": 0, "condition": "unopened", "restock": true}]}))
    .send()
    .await;
    assert!(
        !matches!(&answer, Ok(r) if r.status().is_success()),
        "{answer:?}"
    );
    let status = pod.wait_exit().await;
    assert!(
        !status.success(),
        "the failpoint aborts the process: {status}"
    );
    assert_eq!(
        shop.stock(&stack, &variant).await,
        (4, 0),
        "restocked before the crash"
    );
    assert_eq!(stack.gateway_stats().await["refunds"], 0);

    pod.restart(&[
        ("MERCATO_POD_FAILPOINT", ""),
        ("MERCATO_POD_CHECKOUT__STUCK_AFTER_MS", "300"),
        ("MERCATO_POD_CHECKOUT__RECOVERY_INTERVAL_MS", "100"),
    ])
    .await;
    stack
        .eventually("the recovery worker completes the return", || async {
            let done = shop
                .count(
                    &stack,
                    "SELECT count(*) FROM returns WHERE store_id = $1 AND status = 'completed'",
                )
                .await;
            (done == 1).then_some(())
        })
        .await;
    // Let the worker run a few more rounds: nothing happens twice.
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    assert_eq!(stack.gateway_stats().await["refunds"], 1);
    assert_eq!(at_gateway(&stack, &shop, &o).await, (4000, 2000));
    assert_eq!(shop.stock(&stack, &variant).await, (4, 0), "restocked once");
    let refunds = shop
        .count(
            &stack,
            "SELECT count(*) FROM refunds WHERE store_id = $1 AND status = 'succeeded' AND amount_minor = 2000",
        )
        .await;
    assert_eq!(refunds, 1);
    let now = reread(&stack, &shop, &o).await;
    assert_eq!(now["refunded_minor"], 2000);
    stack.shutdown().await;
}

#[tokio::test]
async fn a_customers_order_is_returned_by_that_customer_signed_in_only() {
    let stack = Stack::start(1).await;
    let shop = Shop::open(&stack, "custret").await;
    let (_, variant) = shop.product(&stack, "CUS-1", 1000, 10).await;
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
        .json(&json!({"variant_id": variant, "quantity": 2}));
    assert_eq!(common::status_of(r).await, 200);
    let (status, o) = send(
        stack
            .post(&shop.host, "/api/checkout")
            .bearer_auth(&ada)
            .header("idempotency-key", "ada-1")
            .json(&common::shop::checkout_body(CARD_OK)),
    )
    .await;
    assert_eq!(status, 201, "{o}");
    deliver_order(&stack, &shop, &o).await;
    let number = o["number"].as_i64().expect("number");
    let path = format!("/api/orders/{number}/returns");
    let body = json!({"lines": [{"line": 0, "quantity": 1}], "reason": "too big"});
    // Another customer: not found; the confirmation link without the
    // session: sign in.
    assert_eq!(
        code(stack.post(&shop.host, &path).bearer_auth(&bob).json(&body)).await,
        (404, "not_found".into())
    );
    assert_eq!(
        code(stack.post(&shop.host, &returns_path(&o)).json(&body)).await,
        (401, "unauthorized".into())
    );
    let (status, opened) = send(stack.post(&shop.host, &path).bearer_auth(&ada).json(&body)).await;
    assert_eq!(
        (status, opened["status"].as_str()),
        (201, Some("requested")),
        "{opened}"
    );
    let (status, mine) = send(stack.get(&shop.host, &path).bearer_auth(&ada)).await;
    assert_eq!((status, mine.as_array().map(Vec::len)), (200, Some(1)));
    let by = shop
        .count(
            &stack,
            "SELECT count(*) FROM returns WHERE store_id = $1 AND opened_by LIKE 'customer:%'",
        )
        .await;
    assert_eq!(by, 1);
    stack.shutdown().await;
}

#[tokio::test]
async fn a_refund_the_gateway_refuses_fails_and_gives_its_amount_back_to_the_order() {
    let stack = Stack::start(1).await;
    let shop = Shop::open(&stack, "refused").await;
    let (_, variant) = shop.product(&stack, "REF-1", 1000, 10).await;
    let o = order(&stack, &shop, &[(&variant, 3)], "rf").await;
    // Someone refunded most of the payment at the gateway itself, behind
    // the store's back: the gateway now refuses more than 500.
    let payment = payment_id(&stack, &shop, &o).await;
    let r = stack
        .http
        .post(format!(
            "{}/v1/payments/{payment}/refunds",
            stack.gateway.url()
        ))
        .bearer_auth(stack.gateway.api_key())
        .header("idempotency-key", "outside")
        .json(&json!({"amount": 2500}))
        .send()
        .await
        .expect("refund at the gateway");
    assert_eq!(r.status(), 200);
    let (status, failed) = send(refund(&stack, &shop, &o, "f1", 1000)).await;
    assert_eq!(
        (
            status,
            failed["status"].as_str(),
            failed["failure"].as_str()
        ),
        (201, Some("failed"), Some("amount_too_large")),
        "{failed}"
    );
    assert_eq!(
        reread(&stack, &shop, &o).await["refunded_minor"],
        0,
        "the amount went back to the order"
    );
    let (status, ok) = send(refund(&stack, &shop, &o, "f2", 500)).await;
    assert_eq!(
        (status, ok["status"].as_str()),
        (201, Some("succeeded")),
        "{ok}"
    );
    assert_eq!(reread(&stack, &shop, &o).await["refunded_minor"], 500);
    assert_eq!(at_gateway(&stack, &shop, &o).await, (3000, 3000));
    stack.shutdown().await;
}
