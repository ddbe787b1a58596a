//! Risk screening (issue 18 part 3): the settings API (owner only,
//! validated) and `risk::screen` against the pod's database (velocity by
//! email, client address and card within the hour, the store's settings,
//! orders before, one decision per checkout, the prune).

mod common;

use common::shop::{Shop, CARD_OK};
use common::{refusal, status_of, Stack};
use mercato_pod::risk::{self, CardRef, Keys, Outcome, ReasonCode, ScreenInput};
use mercato_tenants::CheckoutId;
use reqwest::Method;
use serde_json::{json, Value};

const SETTINGS: &str = "/admin/api/settings/risk";

async fn json_of(r: reqwest::RequestBuilder, status: u16) -> Value {
    let r = r.send().await.expect("send");
    let got = r.status().as_u16();
    let body: Value = r.json().await.unwrap_or(Value::Null);
    assert_eq!(got, status, "unexpected status, body: {body}");
    body
}

/// A staff member who is not the owner: invited by the owner, signed in.
async fn plain_staff(stack: &Stack, shop: &Shop) -> String {
    let r = stack
        .post(&shop.host, "/admin/api/staff/invitations")
        .bearer_auth(&shop.staff)
        .json(&json!({"email": "clerk@risk.example"}));
    json_of(r, 201).await;
    let (token,): (Value,) = sqlx::query_as(
        "SELECT payload FROM outbox WHERE store_id = $1 AND type = 'staff.invited' ORDER BY id DESC LIMIT 1",
    )
    .bind(shop.id.as_uuid())
    .fetch_one(&mut shop.db(stack).await)
    .await
    .expect("invitation event");
    let token = token["token"].as_str().expect("token").to_owned();
    let password = "a clerk's long password";
    let r = stack
        .post(&shop.host, "/admin/api/staff/invitations/accept")
        .json(&json!({"token": token, "password": password}));
    json_of(r, 201).await;
    let r = stack
        .post(&shop.host, "/admin/api/login")
        .json(&json!({"email": "clerk@risk.example", "password": password}));
    let login = json_of(r, 200).await;
    assert_eq!(login["staff"]["role"], "staff");
    login["token"].as_str().expect("token").to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_owner_reads_and_sets_the_risk_settings_and_nonsense_is_refused() {
    let stack = Stack::start(1).await;
    let shop = Shop::open(&stack, "riskset").await;
    let get = || stack.get(&shop.host, SETTINGS).bearer_auth(&shop.staff);
    let put = |body: Value| {
        stack
            .at(Method::PUT, &shop.host, SETTINGS)
            .bearer_auth(&shop.staff)
            .json(&body)
    };
    let defaults = json_of(get(), 200).await;
    assert_eq!(defaults["review_amount_minor"], 200_000);
    assert_eq!(defaults["block_amount_minor"], Value::Null);
    assert_eq!(defaults["card"]["review_declines"], 3);
    assert_eq!(defaults["country_mismatch"], "review");
    assert_eq!(defaults["disposable_email"], true);

    let customer = "0190f0e0-0000-7000-8000-000000000001";
    let set = json_of(
        put(json!({
            "review_amount_minor": 10_000, "block_amount_minor": 90_000,
            "card": {"review_attempts": 3, "block_attempts": null,
                     "review_declines": 2, "block_declines": 4},
            "country_mismatch": "ignore",
            "extra_disposable_domains": ["Burner.Example", "burner.example", "a.example"],
            "allow_customer_ids": [customer],
            "allow_emails": ["VIP@Example.com"],
        })),
        200,
    )
    .await;
    assert_eq!(
        set["extra_disposable_domains"],
        json!(["a.example", "burner.example"])
    );
    assert_eq!(set["allow_emails"], json!(["vip@example.com"]));
    assert_eq!(set["card"]["block_attempts"], Value::Null);
    assert_eq!(set["email"], defaults["email"], "left out: the default");
    assert_eq!(json_of(get(), 200).await, set);

    for (body, code) in [
        (json!({"surprise": 1}), "invalid_json"),
        (json!({"review_amount_minor": 0}), "invalid_request"),
        (
            json!({"review_amount_minor": 1_000_000_000_001_i64}),
            "invalid_request",
        ),
        (
            json!({"card": {"review_attempts": 10_001}}),
            "invalid_request",
        ),
        (json!({"card": {"review_attempts": -1}}), "invalid_json"),
        (
            json!({"extra_disposable_domains": ["not a domain"]}),
            "invalid_request",
        ),
        (json!({"allow_emails": ["nobody"]}), "invalid_request"),
        (json!({"allow_customer_ids": ["nope"]}), "invalid_json"),
        (json!({"country_mismatch": "maybe"}), "invalid_json"),
    ] {
        let (status, got) = refusal(put(body.clone())).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(got, code, "{body}");
    }
    for body in [
        json!({"review_amount_minor": 90_000, "block_amount_minor": 90_000}),
        json!({"email": {"review_attempts": 20, "block_attempts": 10,
                         "review_declines": null, "block_declines": null}}),
    ] {
        assert_eq!(
            refusal(put(body.clone())).await,
            (422, "invalid_risk_settings".into()),
            "{body}"
        );
    }
    assert_eq!(json_of(get(), 200).await, set, "refusals change nothing");
    assert_eq!(
        json_of(put(json!({})), 200).await,
        defaults,
        "{{}}: the defaults"
    );

    // Staff who are not the owner may neither read nor change them.
    let clerk = plain_staff(&stack, &shop).await;
    assert_eq!(
        refusal(stack.get(&shop.host, SETTINGS).bearer_auth(&clerk)).await,
        (403, "forbidden".into())
    );
    assert_eq!(
        refusal(
            stack
                .at(Method::PUT, &shop.host, SETTINGS)
                .bearer_auth(&clerk)
                .json(&json!({}))
        )
        .await,
        (403, "forbidden".into())
    );
    assert_eq!(status_of(stack.get(&shop.host, SETTINGS)).await, 401);
}

fn keys(email: &str, client: &str, card: &str) -> Keys {
    Keys::derive(b"test-secret", email, client, CardRef::Fingerprint(card))
}

fn input(email: &str, amount_minor: i64, keys: Keys) -> ScreenInput {
    ScreenInput {
        checkout: CheckoutId::new(),
        amount_minor,
        currency: "USD".into(),
        email: email.into(),
        customer_id: None,
        shipping_country: "US".into(),
        billing_country: Some("US".into()),
        keys,
    }
}

fn codes(a: &risk::Assessment) -> Vec<ReasonCode> {
    a.reasons.iter().map(|r| r.code).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn screening_counts_the_last_hour_by_email_client_and_card() {
    let stack = Stack::start(1).await;
    let shop = Shop::open(&stack, "riskvel").await;
    let other = Shop::open(&stack, "riskother").await;
    let db = &stack.pod_for(&shop.store).await.state.db;

    // A first checkout: nothing known, allowed, kept with its attempt.
    let first = input(
        "ann@example.com",
        5_000,
        keys("ann@example.com", "10.0.0.1", "fp_a"),
    );
    let a = risk::screen(db, shop.id, &first).await.expect("screen");
    assert_eq!(a.outcome, Outcome::Allow, "{a:?}");
    assert!(a.reasons.is_empty());

    // Two declines of the same card under other emails and addresses, and
    // the same in another store (which never counts here).
    for (i, store) in [
        (0, shop.id),
        (1, shop.id),
        (2, other.id),
        (3, other.id),
        (4, other.id),
    ] {
        let email = format!("thief{i}@example.com");
        risk::record_attempt(
            db,
            store,
            CheckoutId::new(),
            &keys(&email, &format!("10.0.1.{i}"), "fp_a"),
            risk::AttemptOutcome::Declined,
        )
        .await
        .expect("record");
    }
    // Card: 3 attempts before, 2 declines: review at 4 attempts (this one
    // included); declines not yet (3).
    let second = input(
        "bob@example.com",
        5_000,
        keys("bob@example.com", "10.0.0.2", "fp_a"),
    );
    let b = risk::screen(db, shop.id, &second).await.expect("screen");
    assert_eq!(b.outcome, Outcome::Review, "{b:?}");
    assert_eq!(codes(&b), [ReasonCode::CardAttempts]);
    assert_eq!(b.reasons[0].observed, Some(4));

    // One more decline: the card is at 3 declines too. The second checkout,
    // screened again, keeps its first decision.
    risk::record_attempt(
        db,
        shop.id,
        CheckoutId::new(),
        &keys("thief9@example.com", "10.0.1.9", "fp_a"),
        risk::AttemptOutcome::Declined,
    )
    .await
    .expect("record");
    assert_eq!(risk::screen(db, shop.id, &second).await.expect("again"), b);
    let third = input(
        "cy@example.com",
        5_000,
        keys("cy@example.com", "10.0.0.3", "fp_a"),
    );
    let c = risk::screen(db, shop.id, &third).await.expect("screen");
    assert_eq!(
        codes(&c),
        [ReasonCode::CardAttempts, ReasonCode::CardDeclines],
        "{c:?}"
    );

    // The store's settings decide: block at 3 declines of a card.
    let r = stack
        .at(Method::PUT, &shop.host, SETTINGS)
        .bearer_auth(&shop.staff)
        .json(
            &json!({"card": {"review_attempts": null, "block_attempts": null,
                               "review_declines": 2, "block_declines": 3}}),
        );
    assert_eq!(status_of(r).await, 200);
    let fourth = input(
        "di@example.com",
        5_000,
        keys("di@example.com", "10.0.0.4", "fp_a"),
    );
    let d = risk::screen(db, shop.id, &fourth).await.expect("screen");
    assert_eq!(d.outcome, Outcome::Block, "{d:?}");
    assert_eq!(codes(&d), [ReasonCode::CardDeclines]);

    // By email and by client address, whatever the card.
    for i in 0..4 {
        let k = keys("eve@example.com", "10.9.9.9", &format!("fp_e{i}"));
        let e = risk::screen(db, shop.id, &input("eve@example.com", 5_000, k))
            .await
            .expect("screen");
        assert_eq!(codes(&e), [], "attempt {}", i + 1);
    }
    let k = keys("EVE@example.com", "10.9.9.9", "fp_e9");
    let e = risk::screen(db, shop.id, &input("EVE@example.com", 5_000, k))
        .await
        .expect("screen");
    assert_eq!(codes(&e), [ReasonCode::EmailAttempts], "the 5th, any case");

    // The first order of an email at 500.00 or more is reviewed; after a
    // paid order of that email it is not.
    let big = |checkout_email: &str| {
        input(
            checkout_email,
            60_000,
            keys(checkout_email, "10.0.0.8", &format!("fp_{checkout_email}")),
        )
    };
    let f = risk::screen(db, shop.id, &big("shopper@example.com"))
        .await
        .expect("screen");
    assert_eq!(codes(&f), [ReasonCode::FirstOrderAmount]);
    let (_, variant) = shop.product(&stack, "RISK-1", 1_000, 5).await;
    let cart = shop.cart(&stack, &[(&variant, 1)]).await;
    assert_eq!(
        status_of(shop.checkout(&stack, &cart, "risk-order", CARD_OK)).await,
        201
    );
    let g = risk::screen(db, shop.id, &big("Shopper@Example.com"))
        .await
        .expect("screen");
    assert_eq!(g.outcome, Outcome::Allow, "{g:?}");

    // Every screen kept its decision.
    assert_eq!(
        shop.count(
            &stack,
            &format!(
                "SELECT count(*) FROM risk_assessments WHERE store_id = '{}'",
                shop.id
            )
        )
        .await,
        11
    );
    assert_eq!(
        risk::assessment_of(db, shop.id, fourth.checkout)
            .await
            .expect("read"),
        Some(d)
    );

    // An hour later the card's history no longer counts, and the prune
    // takes rows older than a day, store by store.
    let mut conn = shop.db(&stack).await;
    sqlx::query("UPDATE risk_attempts SET at = now() - interval '2 hours' WHERE store_id = $1")
        .bind(shop.id.as_uuid())
        .execute(&mut conn)
        .await
        .expect("backdate");
    let fifth = input(
        "fay@example.com",
        5_000,
        keys("fay@example.com", "10.0.0.5", "fp_a"),
    );
    assert_eq!(
        risk::screen(db, shop.id, &fifth)
            .await
            .expect("screen")
            .outcome,
        Outcome::Allow
    );
    sqlx::query(
        "UPDATE risk_attempts SET at = now() - interval '25 hours'
          WHERE store_id = ANY($1) AND checkout_id <> $2",
    )
    .bind(vec![shop.id.as_uuid(), other.id.as_uuid()])
    .bind(fifth.checkout.as_uuid())
    .execute(&mut conn)
    .await
    .expect("backdate");
    let pruned = risk::prune_store(db, shop.id, risk::KEEP_ATTEMPTS_SECS)
        .await
        .expect("prune");
    assert_eq!(pruned, 14);
    let left = |store: mercato_tenants::StoreId| {
        format!("SELECT count(*) FROM risk_attempts WHERE store_id = '{store}'")
    };
    assert_eq!(shop.count(&stack, &left(shop.id)).await, 1);
    assert_eq!(
        shop.count(&stack, &left(other.id)).await,
        3,
        "another store's rows stay"
    );
}

/// A stack whose checkouts are screened, with `window_secs` for staff to
/// decide a review.
async fn screened(window_secs: u64) -> Stack {
    Stack::start_with(1, move |c| {
        c.checkout.risk_screening = true;
        c.checkout.review_window_secs = window_secs;
        c.checkout.recovery_interval_ms = 200;
    })
    .await
}

/// Reviews from 10.00, blocks from 50.00; no other rule fires.
async fn amount_rules(stack: &Stack, shop: &Shop) {
    let r = stack
        .at(Method::PUT, &shop.host, SETTINGS)
        .bearer_auth(&shop.staff)
        .json(
            &json!({"review_amount_minor": 1_000, "block_amount_minor": 5_000,
                      "first_order_amount_minor": null, "country_mismatch": "ignore"}),
        );
    assert_eq!(status_of(r).await, 200);
}

async fn send(r: reqwest::RequestBuilder) -> (u16, Value) {
    let r = r.send().await.expect("request");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// The screen decides before capture: a small order is captured at once; a
/// larger one waits in review (authorized, placed, stock pinned) until
/// staff approve (captured, paid) or cancel (voided, cancelled, stock
/// back); a too-large one is blocked (voided, nothing charged).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_screen_allows_reviews_or_blocks_before_capture_and_staff_decide_reviews() {
    let stack = screened(3600).await;
    let shop = Shop::open(&stack, "screened").await;
    amount_rules(&stack, &shop).await;
    let (_, cheap) = shop.product(&stack, "SCR-CHEAP", 500, 10).await;
    let (_, dear) = shop.product(&stack, "SCR-DEAR", 2_000, 10).await;
    let (_, dearest) = shop.product(&stack, "SCR-GOLD", 9_000, 10).await;

    let t = shop.cart(&stack, &[(&cheap, 1)]).await;
    let (status, order) = send(shop.checkout(&stack, &t, "allow", CARD_OK)).await;
    assert_eq!((status, &order["status"]), (201, &json!("paid")), "{order}");

    // Review: placed, authorized, not captured; in the queue with why.
    let t = shop.cart(&stack, &[(&dear, 1)]).await;
    let (status, held) = send(shop.checkout(&stack, &t, "review-1", CARD_OK)).await;
    assert_eq!(status, 201, "{held}");
    assert_eq!(
        (&held["status"], &held["review"]),
        (&json!("placed"), &json!("pending"))
    );
    let id = held["id"].as_str().expect("id").to_owned();
    assert_eq!(
        shop.at_gateway(&stack, &id).await,
        (0, 0),
        "nothing captured"
    );
    assert_eq!(shop.stock(&stack, &dear).await, (10, 1), "the unit is held");
    let (status, queue) = send(
        stack
            .get(&shop.host, "/admin/api/risk/reviews")
            .bearer_auth(&shop.staff),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(queue.as_array().map(Vec::len), Some(1), "{queue}");
    assert_eq!(queue[0]["order_id"], json!(id));
    assert_eq!(queue[0]["assessment"]["outcome"], "review");
    assert_eq!(
        queue[0]["assessment"]["reasons"][0]["code"], "high_amount",
        "{queue}"
    );
    // A replay of the shopper's key answers the same.
    let (status, again) = send(shop.checkout(&stack, &t, "review-1", CARD_OK)).await;
    assert_eq!((status, &again["id"]), (201, &held["id"]));

    // Approved: captured and paid.
    let decide = |order: &str, decision: &str| {
        stack
            .post(&shop.host, &format!("/admin/api/orders/{order}/review"))
            .bearer_auth(&shop.staff)
            .json(&json!({ "decision": decision }))
    };
    let (status, paid) = send(decide(&id, "approve")).await;
    assert_eq!((status, &paid["status"]), (200, &json!("paid")), "{paid}");
    assert_eq!(
        shop.at_gateway(&stack, &id).await.0,
        2_000
            + paid["tax_minor"].as_i64().expect("tax")
            + paid["shipping_minor"].as_i64().expect("shipping")
    );
    assert_eq!(shop.stock(&stack, &dear).await, (9, 0));
    assert_eq!(
        refusal(decide(&id, "cancel")).await,
        (409, "invalid_transition".into())
    );

    // Cancelled: voided, order cancelled, the unit back.
    let t = shop.cart(&stack, &[(&dear, 1)]).await;
    let (_, held) = send(shop.checkout(&stack, &t, "review-2", CARD_OK)).await;
    let id = held["id"].as_str().expect("id").to_owned();
    let (status, cancelled) = send(decide(&id, "cancel")).await;
    assert_eq!(
        (status, &cancelled["status"]),
        (200, &json!("cancelled")),
        "{cancelled}"
    );
    assert_eq!(shop.stock(&stack, &dear).await, (9, 0));
    let payment = shop.payment_id(&stack, &id).await;
    assert_eq!(stack.gateway_payment(&payment).await["status"], "voided");

    // Blocked: declined, nothing held or charged.
    let t = shop.cart(&stack, &[(&dearest, 1)]).await;
    let (status, body) = send(shop.checkout(&stack, &t, "block", CARD_OK)).await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (402, &json!("payment_declined")),
        "{body}"
    );
    assert_eq!(shop.stock(&stack, &dearest).await, (10, 0));

    // A billing country other than the shipping one goes to review when
    // the store says so; the order keeps the billing address, the
    // checkout the gateway's fingerprint of the card.
    let r = stack
        .at(Method::PUT, &shop.host, SETTINGS)
        .bearer_auth(&shop.staff)
        .json(
            &json!({"review_amount_minor": 1_000, "block_amount_minor": 5_000,
                      "first_order_amount_minor": null, "country_mismatch": "review"}),
        );
    assert_eq!(status_of(r).await, 200);
    let t = shop.cart(&stack, &[(&cheap, 1)]).await;
    let mut body = common::shop::checkout_body(CARD_OK);
    body["billing_address"] = json!({"name": "Ada Shopper", "line1": "1 rue de la Paix",
        "city": "Paris", "postal_code": "75002", "country": "FR"});
    let (status, held) = send(shop.checkout_with(&stack, &t, "billing-fr", &body)).await;
    assert_eq!(
        (status, &held["review"]),
        (201, &json!("pending")),
        "{held}"
    );
    assert_eq!(held["billing_address"]["country"], "FR", "{held}");
    let (_, queue) = send(
        stack
            .get(&shop.host, "/admin/api/risk/reviews")
            .bearer_auth(&shop.staff),
    )
    .await;
    let reasons: Vec<&str> = queue
        .as_array()
        .expect("queue")
        .iter()
        .filter(|r| r["order_id"] == held["id"])
        .flat_map(|r| r["assessment"]["reasons"].as_array().expect("reasons"))
        .filter_map(|r| r["code"].as_str())
        .collect();
    // (Its velocity rules fire too by now: five checkouts of one shopper.)
    assert!(reasons.contains(&"country_mismatch"), "{queue}");
    let fingerprinted = shop
        .count(
            &stack,
            "SELECT count(*) FROM checkouts WHERE store_id = $1 AND card_fingerprint LIKE 'fp_%'",
        )
        .await;
    assert!(
        fingerprinted >= 4,
        "every authorized checkout keeps its card's fingerprint"
    );
    stack.shutdown().await;
}

/// A review nobody decided within the window is cancelled by the recovery
/// worker: the authorization voided, the stock released, the gift card
/// that paid part of it given back; while in review, nothing of the order
/// is refundable (it is not paid).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_undecided_review_is_voided_when_its_window_passes() {
    let stack = screened(1).await;
    let shop = Shop::open(&stack, "lapsed").await;
    amount_rules(&stack, &shop).await;
    let (_, dear) = shop.product(&stack, "LAPSE-1", 2_000, 3).await;
    let (status, card) = send(
        stack
            .post(&shop.host, "/admin/api/gift-cards")
            .bearer_auth(&shop.staff)
            .json(&json!({"amount_minor": 700})),
    )
    .await;
    assert_eq!(status, 201, "{card}");
    let t = shop.cart(&stack, &[(&dear, 1)]).await;
    let mut body = common::shop::checkout_body(CARD_OK);
    body["gift_cards"] = json!([card["code"]]);
    let (status, held) = send(shop.checkout_with(&stack, &t, "lapse", &body)).await;
    assert_eq!(
        (status, &held["review"]),
        (201, &json!("pending")),
        "{held}"
    );
    assert_eq!(held["gift_card_minor"], 0, "not paid yet: {held}");
    let id = held["id"].as_str().expect("id").to_owned();
    let card_path = format!("/admin/api/gift-cards/{}", card["id"].as_str().expect("id"));
    let balance = || async {
        let (_, c) = send(stack.get(&shop.host, &card_path).bearer_auth(&shop.staff)).await;
        c["balance_minor"].as_i64().expect("balance")
    };
    assert_eq!(balance().await, 0, "debited with the reservation");
    assert_eq!(
        refusal(
            stack
                .post(&shop.host, &format!("/admin/api/orders/{id}/refunds"))
                .bearer_auth(&shop.staff)
                .header("idempotency-key", "too-early")
                .json(&json!({"amount_minor": 100}))
        )
        .await,
        (409, "refund_too_large".into())
    );
    stack
        .eventually("the lapsed review is cancelled", || async {
            let n = shop
                .count(&stack, &format!("SELECT count(*) FROM orders WHERE store_id = $1 AND id = '{id}' AND status = 'cancelled'"))
                .await;
            (n == 1).then_some(())
        })
        .await;
    assert_eq!(shop.stock(&stack, &dear).await, (3, 0));
    let payment = shop.payment_id(&stack, &id).await;
    assert_eq!(stack.gateway_payment(&payment).await["status"], "voided");
    assert_eq!(balance().await, 700, "the gift card got its money back");
    stack.shutdown().await;
}
