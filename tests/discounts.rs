//! Discounts end to end, through the router: staff define them and their
//! codes (one by one, 10,000 at a time, exported as CSV); the cart shows
//! what applies and why a code does not, with stable codes; the order
//! carries discount lines allocated per line, so a refund of a line gives
//! back its discounted price; and usage limits hold exactly under
//! concurrency, with a failed checkout giving its use back and a retry
//! with the same Idempotency-Key counting once.

mod common;

use common::shop::*;
use common::{refusal, Stack};
use futures::stream::{self, StreamExt as _};
use reqwest::Method;
use serde_json::{json, Value};

async fn send(r: reqwest::RequestBuilder) -> (u16, Value) {
    let r = r.send().await.expect("request");
    let status = r.status().as_u16();
    let body = r.json().await.unwrap_or(Value::Null);
    (status, body)
}

fn staff(stack: &Stack, shop: &Shop, method: Method, path: &str) -> reqwest::RequestBuilder {
    stack.at(method, &shop.host, path).bearer_auth(&shop.staff)
}

/// Creates a discount; its id.
async fn discount(stack: &Stack, shop: &Shop, body: Value) -> String {
    let (status, d) =
        send(staff(stack, shop, Method::POST, "/admin/api/discounts").json(&body)).await;
    assert_eq!(status, 201, "{d}");
    d["id"].as_str().expect("id").to_owned()
}

fn percent_off_order(title: &str, code: Option<&str>, bp: u32) -> Value {
    let mut body = json!({
        "title": title,
        "method": if code.is_some() { "code" } else { "automatic" },
        "kind": {"kind": "order", "value": {"type": "percentage", "value": bp}},
    });
    if let Some(code) = code {
        body["code"] = json!(code);
    }
    body
}

/// Enters `code` in the guest cart `token`.
fn enter(stack: &Stack, shop: &Shop, token: &str, code: &str) -> reqwest::RequestBuilder {
    stack
        .post(&shop.host, "/api/cart/discount-codes")
        .header("x-cart-token", token)
        .json(&json!({ "code": code }))
}

async fn cart(stack: &Stack, shop: &Shop, token: &str) -> Value {
    let (status, c) = send(
        stack
            .get(&shop.host, "/api/cart")
            .header("x-cart-token", token),
    )
    .await;
    assert_eq!(status, 200, "{c}");
    c
}

/// A code applies in the cart and on the order, allocated over the lines;
/// cancelling a line refunds what it cost after the discount.
#[tokio::test]
async fn a_code_applies_in_the_cart_and_on_the_order_and_a_line_refunds_its_discounted_price() {
    let stack = Stack::start(1).await;
    let shop = Shop::open(&stack, "promo").await;
    let (_, a) = shop.product(&stack, "PROMO-A", 1000, 10).await;
    let (_, b) = shop.product(&stack, "PROMO-B", 500, 10).await;
    let id = discount(
        &stack,
        &shop,
        percent_off_order("Ten percent", Some("Save10"), 1000),
    )
    .await;

    // Staff's refusals: a code taken (without case), bad values.
    let taken = percent_off_order("Again", Some("SAVE10"), 500);
    assert_eq!(
        refusal(staff(&stack, &shop, Method::POST, "/admin/api/discounts").json(&taken)).await,
        (409, "discount_code_taken".into())
    );
    for (bad, status) in [
        (percent_off_order("Zero", Some("ZERO1"), 0), 422),
        (percent_off_order("Too much", Some("MUCH1"), 10_001), 422),
        (percent_off_order("Nul\u{0}title", Some("NUL11"), 100), 400),
        (percent_off_order("Automatic", None, 100), 201),
        (
            json!({"title": "x", "method": "code", "kind": {"kind": "nope"}}),
            400,
        ),
        (
            json!({"title": "x", "method": "code", "kind": {"kind": "order", "value": {"type": "percentage", "value": 5}}, "extra": 1}),
            400,
        ),
    ] {
        let (got, body) =
            send(staff(&stack, &shop, Method::POST, "/admin/api/discounts").json(&bad)).await;
        assert_eq!(got, status, "{bad} -> {body}");
        if status == 422 {
            assert_eq!(body["error"]["code"], "invalid_discount", "{body}");
        }
        if status == 201 {
            // Clean up: the automatic one would apply to every cart below.
            let gone = body["id"].as_str().expect("id");
            let r = staff(
                &stack,
                &shop,
                Method::DELETE,
                &format!("/admin/api/discounts/{gone}"),
            );
            assert_eq!(common::status_of(r).await, 204);
        }
    }

    // The cart: the code entered in any case, the discount explained.
    let token = shop.cart(&stack, &[(&a, 2), (&b, 1)]).await;
    assert_eq!(
        refusal(enter(&stack, &shop, &token, "NOPE-CODE")).await,
        (422, "unknown_discount_code".into())
    );
    assert_eq!(refusal(enter(&stack, &shop, &token, "a b")).await.0, 400);
    let (status, c) = send(enter(&stack, &shop, &token, "save10")).await;
    assert_eq!(status, 200, "{c}");
    assert_eq!(c["discounts"]["codes"], json!(["SAVE10"]));
    assert_eq!(c["discounts"]["applied"][0]["code"], "SAVE10", "{c}");
    assert_eq!(c["discounts"]["applied"][0]["amount_minor"], 250);
    assert_eq!(c["discounts"]["total"]["minor"], 250, "{c}");
    assert_eq!(c["discounts"]["refused"], json!([]));

    // The order: the discount allocated over the lines, taxed after.
    let (status, order) = send(shop.checkout(&stack, &token, "promo-1", CARD_OK)).await;
    assert_eq!(status, 201, "{order}");
    assert_eq!(order["subtotal_minor"], 2500);
    assert_eq!(order["discount_minor"], 250);
    assert_eq!(order["lines"][0]["discount_minor"], 200);
    assert_eq!(order["lines"][1]["discount_minor"], 50);
    assert_eq!(order["discounts"][0]["code"], "SAVE10");
    assert_eq!(order["discounts"][0]["discount_id"], json!(id));
    let (sub, ship, tax, total) = (
        order["subtotal_minor"].as_i64().expect("present"),
        order["shipping_minor"].as_i64().expect("present"),
        order["tax_minor"].as_i64().expect("present"),
        order["total_minor"].as_i64().expect("present"),
    );
    assert_eq!(total, sub - 250 + ship + tax);
    let oid = order["id"].as_str().expect("id").to_owned();
    let (captured, _) = shop.at_gateway(&stack, &oid).await;
    assert_eq!(captured, total, "the gateway took the discounted total");
    let (status, d) = send(staff(
        &stack,
        &shop,
        Method::GET,
        &format!("/admin/api/discounts/{id}"),
    ))
    .await;
    assert_eq!((status, &d["used_count"]), (200, &json!(1)), "{d}");

    // One A cancelled before it ships: its price less its share of the
    // discount (1000 - 100), with that value's share of the tax.
    let (status, done) = send(
        staff(
            &stack,
            &shop,
            Method::POST,
            &format!("/admin/api/orders/{oid}/line-cancellations"),
        )
        .json(&json!({"lines": [{"line_position": 0, "quantity": 1}]})),
    )
    .await;
    assert_eq!(status, 200, "{done}");
    let whole = sub - 250 + ship;
    assert_eq!(
        done["refund"]["amount_minor"],
        900 + tax * 900 / whole,
        "{done}"
    );

    // Staff replace the definition: disabled, the code no longer enters.
    let mut ended = percent_off_order("Ten percent (ended)", None, 1000);
    ended["method"] = json!("code");
    ended["status"] = json!("disabled");
    let (status, d) = send(
        staff(
            &stack,
            &shop,
            Method::PUT,
            &format!("/admin/api/discounts/{id}"),
        )
        .json(&ended),
    )
    .await;
    assert_eq!(
        (status, &d["status"], &d["title"]),
        (200, &json!("disabled"), &json!("Ten percent (ended)")),
        "{d}"
    );
    assert_eq!(d["codes_count"], 1);
    let later = shop.cart(&stack, &[(&a, 1)]).await;
    assert_eq!(
        refusal(enter(&stack, &shop, &later, "SAVE10")).await,
        (422, "unknown_discount_code".into())
    );
    ended["method"] = json!("automatic");
    assert_eq!(
        refusal(
            staff(
                &stack,
                &shop,
                Method::PUT,
                &format!("/admin/api/discounts/{id}")
            )
            .json(&ended)
        )
        .await,
        (422, "invalid_discount".into())
    );

    // The confirmation mail shows the discount.
    let mail = stack
        .await_mails("shopper@example.com", "confirmed", 1)
        .await
        .remove(0);
    let text = stack.mail(&mail).await;
    assert!(text.to_string().contains("SAVE10"), "{text}");
    stack.shutdown().await;
}

/// Why a code does not apply, as the cart shows it, with stable codes;
/// the best allowed combination is chosen; a checkout with a code that no
/// longer applies stops before anything is charged.
#[tokio::test]
async fn the_cart_explains_codes_that_do_not_apply_and_the_checkout_refuses_them() {
    let stack = Stack::start(1).await;
    let shop = Shop::open(&stack, "rules").await;
    let (_, a) = shop.product(&stack, "RULE-A", 2000, 10).await;
    let r = staff(&stack, &shop, Method::PUT, "/admin/api/shipping-rates").json(&json!({"rates": [
        {"code": "standard", "name": "Standard", "price_minor": 700}
    ]}));
    assert_eq!(common::status_of(r).await, 200);
    let mut minimum = percent_off_order("Big baskets", Some("BIG50"), 5000);
    minimum["min_subtotal_minor"] = json!(10_000);
    discount(&stack, &shop, minimum).await;
    let mut expired = percent_off_order("Last year", Some("OLD"), 1000);
    expired["ends_at"] = json!("2020-01-01T00:00:00Z");
    discount(&stack, &shop, expired).await;
    discount(&stack, &shop, percent_off_order("Five", Some("FIVE"), 500)).await;
    let mut fifteen = percent_off_order("Fifteen", Some("FIFTEEN"), 1500);
    fifteen["combines_with"] = json!({"shipping": true});
    discount(&stack, &shop, fifteen).await;
    let mut ship = json!({"title": "Free shipping", "method": "automatic",
        "kind": {"kind": "free_shipping", "countries": ["us"]},
        "combines_with": {"order": true, "product": true, "shipping": false}});
    ship["min_quantity"] = json!(1);
    discount(&stack, &shop, ship).await;

    let token = shop.cart(&stack, &[(&a, 1)]).await;
    for code in ["big50", "old", "five", "fifteen"] {
        assert_eq!(
            common::status_of(enter(&stack, &shop, &token, code)).await,
            200
        );
    }
    // A fifth code fits; a sixth is one too many.
    discount(&stack, &shop, percent_off_order("Tiny", Some("TINY"), 100)).await;
    discount(
        &stack,
        &shop,
        percent_off_order("Extra", Some("EXTRA"), 100),
    )
    .await;
    assert_eq!(
        common::status_of(enter(&stack, &shop, &token, "tiny")).await,
        200
    );
    assert_eq!(
        refusal(enter(&stack, &shop, &token, "extra")).await,
        (422, "discount_code_limit".into())
    );
    let c = cart(&stack, &shop, &token).await;
    let reasons: std::collections::BTreeMap<String, String> = c["discounts"]["refused"]
        .as_array()
        .expect("refused")
        .iter()
        .map(|r| {
            (
                r["code"].as_str().expect("present").to_owned(),
                r["reason"].as_str().expect("present").to_owned(),
            )
        })
        .collect();
    assert_eq!(reasons["BIG50"], "discount_minimum_not_met", "{c}");
    assert_eq!(reasons["OLD"], "discount_expired");
    assert_eq!(
        reasons["FIVE"], "discount_not_combinable",
        "the better one applies"
    );
    assert!(!reasons.contains_key("FIFTEEN"), "{c}");
    assert_eq!(c["discounts"]["applied"][0]["code"], "FIFTEEN");
    assert_eq!(c["discounts"]["applied"][0]["amount_minor"], 300);
    assert_eq!(
        c["discounts"]["at_checkout"][0]["title"], "Free shipping",
        "{c}"
    );
    let message = c["discounts"]["refused"]
        .as_array()
        .expect("present")
        .iter()
        .find(|r| r["code"] == "BIG50")
        .expect("present")["message"]
        .as_str()
        .expect("present")
        .to_owned();
    assert!(message.contains("$80.00"), "{message}");

    // The checkout refuses while an expired code is in the cart (a code
    // the cart holds too little for simply does not apply).
    let (status, body) = send(shop.checkout(&stack, &token, "rules-1", CARD_OK)).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "discount_not_applicable");
    assert!(
        body["error"]["message"]
            .as_str()
            .expect("present")
            .contains("OLD"),
        "{body}"
    );
    for (code, status) in [("OLD", 200), ("tiny", 200), ("EXTRA", 404)] {
        let r = stack
            .at(
                Method::DELETE,
                &shop.host,
                &format!("/api/cart/discount-codes/{code}"),
            )
            .header("x-cart-token", &token);
        assert_eq!(common::status_of(r).await, status, "{code}");
    }
    // FIFTEEN and free shipping together; nothing left that blocks.
    let (status, order) = send(shop.checkout(&stack, &token, "rules-2", CARD_OK)).await;
    assert_eq!(status, 201, "{order}");
    assert_eq!(order["discount_minor"], 300);
    assert_eq!(order["shipping_minor"], 0, "free shipping: {order}");
    assert_eq!(order["shipping_option"]["price_minor"], 700);
    assert_eq!(order["discounts"][1]["amount_minor"], 700);
    let titles: Vec<&str> = order["discounts"]
        .as_array()
        .expect("present")
        .iter()
        .map(|d| d["title"].as_str().expect("present"))
        .collect();
    assert_eq!(titles, vec!["Fifteen", "Free shipping"]);
    stack.shutdown().await;
}

/// 10,000 single-use codes in one call, listed and exported as CSV; one
/// of them works once.
#[tokio::test]
async fn ten_thousand_single_use_codes_are_made_in_one_call_and_exported() {
    let stack = Stack::start(1).await;
    let shop = Shop::open(&stack, "bulk").await;
    let (_, a) = shop.product(&stack, "BULK-A", 1000, 10).await;
    let id = discount(
        &stack,
        &shop,
        json!({"title": "Influencers", "method": "code",
               "kind": {"kind": "order", "value": {"type": "percentage", "value": 2000}}}),
    )
    .await;
    let (status, made) = send(
        staff(
            &stack,
            &shop,
            Method::POST,
            &format!("/admin/api/discounts/{id}/codes/bulk"),
        )
        .json(&json!({"count": 10_000, "prefix": "bf-", "length": 8})),
    )
    .await;
    assert_eq!(status, 201, "{made}");
    let codes: Vec<String> = made["codes"]
        .as_array()
        .expect("present")
        .iter()
        .map(|c| c.as_str().expect("present").to_owned())
        .collect();
    assert_eq!(codes.len(), 10_000);
    assert_eq!(
        codes.iter().collect::<std::collections::HashSet<_>>().len(),
        10_000
    );
    assert!(codes.iter().all(|c| c.starts_with("BF-") && c.len() == 11));
    let r = staff(
        &stack,
        &shop,
        Method::GET,
        &format!("/admin/api/discounts/{id}/codes/export"),
    )
    .send()
    .await
    .expect("export");
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"]
        .to_str()
        .expect("present")
        .starts_with("text/csv"));
    let csv = r.text().await.expect("csv");
    let rows: Vec<&str> = csv.lines().collect();
    assert_eq!(rows[0], "code,usage_limit,used_count,created_at");
    assert_eq!(rows.len(), 10_001);
    assert!(rows[1..].iter().all(|r| r.split(',').nth(1) == Some("1")));
    let (status, page) = send(staff(
        &stack,
        &shop,
        Method::GET,
        &format!("/admin/api/discounts/{id}/codes?limit=1000"),
    ))
    .await;
    assert_eq!(
        (status, page["items"].as_array().expect("present").len()),
        (200, 1000)
    );
    assert!(page["next_cursor"].is_string());
    assert_eq!(
        refusal(
            staff(
                &stack,
                &shop,
                Method::POST,
                &format!("/admin/api/discounts/{id}/codes/bulk")
            )
            .json(&json!({"count": 10_001}))
        )
        .await
        .0,
        400
    );

    // A single-use code: the first checkout uses it, the second is told.
    let code = codes[7].to_lowercase();
    let first = shop.cart(&stack, &[(&a, 1)]).await;
    let second = shop.cart(&stack, &[(&a, 1)]).await;
    for t in [&first, &second] {
        assert_eq!(common::status_of(enter(&stack, &shop, t, &code)).await, 200);
    }
    let (status, order) = send(shop.checkout(&stack, &first, "bulk-1", CARD_OK)).await;
    assert_eq!(
        (status, &order["discount_minor"]),
        (201, &json!(200)),
        "{order}"
    );
    let c = cart(&stack, &shop, &second).await;
    assert_eq!(
        c["discounts"]["refused"][0]["reason"], "discount_used_up",
        "{c}"
    );
    let (status, body) = send(shop.checkout(&stack, &second, "bulk-2", CARD_OK)).await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (409, &json!("discount_used_up")),
        "{body}"
    );
    stack.shutdown().await;
}

async fn used_count(stack: &Stack, shop: &Shop, id: &str) -> i64 {
    let (_, d) = send(staff(
        stack,
        shop,
        Method::GET,
        &format!("/admin/api/discounts/{id}"),
    ))
    .await;
    d["used_count"].as_i64().expect("used_count")
}

/// A code limited to 100 uses, raced by 1,000 checkouts through the
/// router, is used exactly 100 times: 100 orders carry it, the others are
/// told it is used up, and every counter agrees. A declined payment gives
/// its use back; a retry with the same Idempotency-Key counts once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_code_limited_to_100_uses_raced_by_1000_checkouts_is_used_exactly_100_times() {
    let stack = Stack::start(1).await;
    let shop = Shop::open(&stack, "race").await;
    let (_, a) = shop.product(&stack, "RACE-A", 1000, 2_000).await;
    let mut limited = percent_off_order("Flash", Some("FLASH"), 2500);
    limited["usage_limit"] = json!(100);
    let id = discount(&stack, &shop, limited).await;

    // A declined card: the use is counted, then given back.
    let declined = shop.cart(&stack, &[(&a, 1)]).await;
    assert_eq!(
        common::status_of(enter(&stack, &shop, &declined, "flash")).await,
        200
    );
    let (status, _) = send(shop.checkout(&stack, &declined, "declined", CARD_DECLINED)).await;
    assert_eq!(status, 402);
    assert_eq!(
        used_count(&stack, &shop, &id).await,
        0,
        "the failed checkout gave its use back"
    );
    assert_eq!(
        shop.count(
            &stack,
            "SELECT count(*) FROM discount_uses WHERE store_id = $1 AND released_at IS NOT NULL"
        )
        .await,
        1
    );

    // A retry with the same key counts once.
    let once = shop.cart(&stack, &[(&a, 1)]).await;
    assert_eq!(
        common::status_of(enter(&stack, &shop, &once, "FLASH")).await,
        200
    );
    let (s1, o1) = send(shop.checkout(&stack, &once, "once", CARD_OK)).await;
    let (s2, o2) = send(shop.checkout(&stack, &once, "once", CARD_OK)).await;
    assert_eq!((s1, s2), (201, 201));
    assert_eq!(o1["id"], o2["id"]);
    assert_eq!(used_count(&stack, &shop, &id).await, 1);

    // 1,000 carts, each with the code, checked out at once (64 at a time).
    let carts: Vec<String> = stream::iter(0..1000)
        .map(|_| {
            let (stack, shop, a) = (&stack, &shop, &a);
            async move {
                let t = shop.cart(stack, &[(a, 1)]).await;
                assert_eq!(
                    common::status_of(enter(stack, shop, &t, "flash")).await,
                    200
                );
                t
            }
        })
        .buffer_unordered(32)
        .collect()
        .await;
    let answers: Vec<(u16, Value)> = stream::iter(carts.iter().enumerate())
        .map(|(i, t)| send(shop.checkout(&stack, t, &format!("race-{i}"), CARD_OK)))
        .buffer_unordered(64)
        .collect()
        .await;
    let placed = answers.iter().filter(|(s, _)| *s == 201).count();
    let used_up = answers
        .iter()
        .filter(|(s, b)| *s == 409 && b["error"]["code"] == "discount_used_up")
        .count();
    let other: Vec<_> = answers
        .iter()
        .filter(|(s, b)| !(*s == 201 || (*s == 409 && b["error"]["code"] == "discount_used_up")))
        .collect();
    assert!(other.is_empty(), "unexpected answers: {other:?}");
    assert_eq!(placed, 99, "one use went to the retried checkout above");
    assert_eq!(used_up, 901);
    assert_eq!(used_count(&stack, &shop, &id).await, 100);
    assert_eq!(
        shop.count(&stack, "SELECT count(*) FROM orders WHERE store_id = $1 AND discount_minor > 0 AND status <> 'cancelled'").await,
        100
    );
    assert_eq!(
        shop.count(
            &stack,
            "SELECT count(*) FROM discount_uses WHERE store_id = $1 AND released_at IS NULL"
        )
        .await,
        100
    );
    assert_eq!(
        shop.count(
            &stack,
            "SELECT used_count::bigint FROM discounts WHERE store_id = $1"
        )
        .await,
        100
    );
    // Stock: only the placed orders took units; the refused ones hold none.
    assert_eq!(shop.stock(&stack, &a).await, (2_000 - 100, 0));
    stack.shutdown().await;
}
