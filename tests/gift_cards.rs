//! Gift cards end to end: staff issue a card whose code is shown once and
//! kept only as a hash, shoppers look it up (any case, any dashes) within
//! a limit, staff adjustments are idempotent and never take a balance
//! below zero, the checkout's primitives are exact when debits race, and a
//! gift card product bought issues a card per unit whose code is mailed
//! and then forgotten.

mod common;

use common::shop::{Shop, CARD_OK};
use common::{error_code, Stack};
use mercato_pod::gift_cards::{self, Credit, Debit, GiftCardError, Refusal};
use mercato_tenants::{Currency, GiftCardId};
use reqwest::Method;
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};
use sqlx::Connection as _;

async fn send(req: reqwest::RequestBuilder) -> (u16, Value) {
    let r = req.send().await.expect("send");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn code(req: reqwest::RequestBuilder) -> (u16, String) {
    error_code(req.send().await.expect("send")).await
}

fn staff(stack: &Stack, shop: &Shop, method: Method, path: &str) -> reqwest::RequestBuilder {
    stack.at(method, &shop.host, path).bearer_auth(&shop.staff)
}

fn lookup(stack: &Stack, shop: &Shop, code: &str) -> reqwest::RequestBuilder {
    stack
        .post(&shop.host, "/api/gift-cards/lookup")
        .json(&json!({ "code": code }))
}

/// Issues a card of `amount`; its JSON with the code.
async fn issue(stack: &Stack, shop: &Shop, amount: i64) -> Value {
    let (status, card) = send(
        staff(stack, shop, Method::POST, "/admin/api/gift-cards")
            .json(&json!({"amount_minor": amount, "note": "for a good customer"})),
    )
    .await;
    assert_eq!(status, 201, "{card}");
    card
}

/// The store's rows of `gift_cards` and `gift_card_transactions` as text,
/// for looking for a code in them.
async fn rows_as_text(shop: &Shop, stack: &Stack) -> String {
    let mut db = shop.db(stack).await;
    let (text,): (Option<String>,) = sqlx::query_as(
        "SELECT string_agg(t, ' ') FROM (
             SELECT row_to_json(c)::text AS t FROM gift_cards c WHERE store_id = $1
             UNION ALL
             SELECT row_to_json(g)::text FROM gift_card_transactions g WHERE store_id = $1) x",
    )
    .bind(shop.id.as_uuid())
    .fetch_one(&mut db)
    .await
    .expect("rows");
    text.unwrap_or_default()
}

#[tokio::test]
async fn staff_issue_cards_whose_codes_are_shown_once_and_lookups_are_limited() {
    let stack = Stack::start(1).await;
    let shop = Shop::open(&stack, "gifts").await;

    let card = issue(&stack, &shop, 5000).await;
    let shown = card["code"].as_str().expect("code").to_owned();
    assert_eq!(shown.len(), 19, "{shown}");
    assert_eq!(shown.matches('-').count(), 3);
    let plain = shown.replace('-', "");
    assert_eq!(card["last4"], plain[12..]);
    assert_eq!(card["balance_minor"], 5000);
    assert_eq!(card["currency"], "USD");
    assert_eq!(card["status"], "active");
    assert_eq!(card["source"], "staff");
    let id = card["id"].as_str().expect("id").to_owned();

    // Stored as its sha256 only: the code is in no row.
    let mut db = shop.db(&stack).await;
    let (sha, pending): (Vec<u8>, Option<String>) =
        sqlx::query_as("SELECT code_sha256, pending_code FROM gift_cards WHERE store_id = $1")
            .bind(shop.id.as_uuid())
            .fetch_one(&mut db)
            .await
            .expect("card row");
    assert_eq!(sha, Sha256::digest(plain.as_bytes()).to_vec());
    assert_eq!(pending, None);
    let text = rows_as_text(&shop, &stack).await;
    assert!(!text.contains(&plain) && !text.contains(&shown));

    // Never shown again: not in the card, nor in the list.
    let (status, detail) = send(staff(
        &stack,
        &shop,
        Method::GET,
        &format!("/admin/api/gift-cards/{id}"),
    ))
    .await;
    assert_eq!(status, 200);
    assert!(detail.get("code").is_none(), "{detail}");
    assert!(!detail.to_string().contains(&plain));
    let ledger = detail["transactions"].as_array().expect("transactions");
    assert_eq!(ledger.len(), 1);
    assert_eq!(ledger[0]["kind"], "issue");
    assert_eq!(ledger[0]["amount_minor"], 5000);
    let (status, page) = send(staff(&stack, &shop, Method::GET, "/admin/api/gift-cards")).await;
    assert_eq!(status, 200);
    assert_eq!(page["items"][0]["id"], id.as_str());
    assert!(!page.to_string().contains(&plain));
    let (_, disabled) = send(staff(
        &stack,
        &shop,
        Method::GET,
        "/admin/api/gift-cards?status=disabled",
    ))
    .await;
    assert_eq!(disabled["items"], json!([]));

    // Staff's refusals.
    for (body, status, code_) in [
        (json!({"amount_minor": 0}), 400, "invalid_request"),
        (json!({"amount_minor": 10_000_001}), 400, "invalid_request"),
        (
            json!({"amount_minor": 100, "currency": "EUR"}),
            422,
            "gift_card_currency_mismatch",
        ),
        (
            json!({"amount_minor": 100, "expires_at": "2001-01-01T00:00:00Z"}),
            422,
            "unprocessable",
        ),
        (
            json!({"amount_minor": 100, "customer_id": uuid::Uuid::now_v7()}),
            422,
            "unprocessable",
        ),
        (
            json!({"amount_minor": 100, "note": "a\u{7}b"}),
            400,
            "invalid_text",
        ),
        (
            json!({"amount_minor": 100, "code": "ABCD"}),
            400,
            "invalid_json",
        ),
    ] {
        let got =
            code(staff(&stack, &shop, Method::POST, "/admin/api/gift-cards").json(&body)).await;
        assert_eq!(got, (status, code_.to_owned()), "{body}");
    }
    let got = code(
        stack
            .post(&shop.host, "/admin/api/gift-cards")
            .json(&json!({"amount_minor": 1})),
    )
    .await;
    assert_eq!(got.0, 401);

    // Looked up whatever the case and dashes; unknown and malformed codes
    // answer alike. Every lookup counts.
    let mut lookups = 0;
    for typed in [
        plain.to_lowercase(),
        shown.clone(),
        format!(" {} ", shown.replace('-', " ")),
    ] {
        let (status, balance) = send(lookup(&stack, &shop, &typed)).await;
        lookups += 1;
        assert_eq!(status, 200, "{typed}: {balance}");
        assert_eq!(balance["balance_minor"], 5000);
        assert_eq!(balance["currency"], "USD");
        assert_eq!(balance["last4"], plain[12..]);
        assert_eq!(balance["status"], "active");
    }
    let unknown = if plain.starts_with('A') {
        "BBBB-BBBB-BBBB-BBBB"
    } else {
        "AAAA-AAAA-AAAA-AAAA"
    };
    let mut answers = Vec::new();
    for typed in [unknown, "not a code", "0000-0000-0000-0000"] {
        let r = lookup(&stack, &shop, typed).send().await.expect("lookup");
        lookups += 1;
        let status = r.status().as_u16();
        let body: Value = r.json().await.expect("json");
        answers.push((
            status,
            body["error"]["code"].clone(),
            body["error"]["message"].clone(),
        ));
    }
    assert!(answers.iter().all(|a| *a == answers[0]), "{answers:?}");
    assert_eq!(answers[0].0, 404);
    assert_eq!(answers[0].1, "gift_card_not_found");

    // Ten a minute per client address: the eleventh is refused, even with
    // the right code, and told when to come back.
    while lookups < 10 {
        assert_eq!(send(lookup(&stack, &shop, &shown)).await.0, 200);
        lookups += 1;
    }
    let r = lookup(&stack, &shop, &shown).send().await.expect("lookup");
    assert_eq!(r.status().as_u16(), 429);
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!((1..=60).contains(&retry), "{retry}");
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["error"]["code"], "rate_limited");
    // Another store's shoppers are not held back.
    let other = Shop::open(&stack, "other-gifts").await;
    assert_eq!(
        code(lookup(&stack, &other, &shown)).await,
        (404, "gift_card_not_found".into())
    );

    // Disabled, then enabled again; an expiry in the future.
    let path = format!("/admin/api/gift-cards/{id}");
    let (status, card) = send(
        staff(&stack, &shop, Method::PATCH, &path).json(&json!({"disabled": true, "note": null})),
    )
    .await;
    assert_eq!(status, 200, "{card}");
    assert_eq!(card["status"], "disabled");
    assert_eq!(card["note"], Value::Null);
    let (_, card) = send(
        staff(&stack, &shop, Method::PATCH, &path)
            .json(&json!({"disabled": false, "expires_at": "2099-01-01T00:00:00Z"})),
    )
    .await;
    assert_eq!(card["status"], "active");
    assert_eq!(card["expires_at"], "2099-01-01T00:00:00Z");
    assert_eq!(
        code(
            staff(&stack, &shop, Method::PATCH, &path)
                .json(&json!({"expires_at": "2001-01-01T00:00:00Z"}))
        )
        .await,
        (422, "unprocessable".into())
    );
    assert_eq!(
        code(
            staff(
                &stack,
                &shop,
                Method::PATCH,
                "/admin/api/gift-cards/0190a4a0-0000-7000-8000-000000000000"
            )
            .json(&json!({"disabled": true}))
        )
        .await,
        (404, "gift_card_not_found".into())
    );
    stack.shutdown().await;
}

#[tokio::test]
async fn adjustments_are_idempotent_and_racing_debits_never_spend_a_balance_twice() {
    let stack = Stack::start(1).await;
    let shop = Shop::open(&stack, "ledger").await;
    let card = issue(&stack, &shop, 1000).await;
    let id = card["id"].as_str().expect("id").to_owned();
    let path = format!("/admin/api/gift-cards/{id}/adjustments");
    let adjust = |key: &str, body: Value| {
        staff(&stack, &shop, Method::POST, &path)
            .header("idempotency-key", key)
            .json(&body)
    };

    let (status, first) = send(adjust(
        "k1",
        json!({"delta_minor": -300, "reason": "damaged"}),
    ))
    .await;
    assert_eq!(status, 201, "{first}");
    assert_eq!(first["gift_card"]["balance_minor"], 700);
    assert_eq!(first["transaction"]["balance_after"], 700);
    let (status, again) = send(adjust(
        "k1",
        json!({"delta_minor": -300, "reason": "damaged"}),
    ))
    .await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["transaction"]["id"], first["transaction"]["id"]);
    assert_eq!(
        again["gift_card"]["balance_minor"], 700,
        "nothing taken twice"
    );
    assert_eq!(
        code(adjust("k1", json!({"delta_minor": -200}))).await,
        (422, "idempotency_key_reused".into())
    );
    assert_eq!(
        code(staff(&stack, &shop, Method::POST, &path).json(&json!({"delta_minor": 5}))).await,
        (400, "missing_idempotency_key".into())
    );
    assert_eq!(code(adjust("k2", json!({"delta_minor": 0}))).await.0, 400);
    assert_eq!(
        code(adjust("k3", json!({"delta_minor": 10_000_000}))).await,
        (409, "conflict".into())
    );

    // Twenty concurrent adjustments of -100 from 700: seven win, the rest
    // are told the balance is short; it never goes below zero.
    let mut tasks = Vec::new();
    for i in 0..20 {
        let req = stack
            .at(Method::POST, &shop.host, &path)
            .bearer_auth(&shop.staff)
            .header("idempotency-key", format!("race-{i}"))
            .json(&json!({"delta_minor": -100}));
        tasks.push(tokio::spawn(async move { code(req).await.0 }));
    }
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.expect("task"));
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        7,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 409).count(),
        13,
        "{statuses:?}"
    );

    // The checkout's primitives, in their own transactions: a card of
    // 1000, ten debits of 300 racing: three win, seven are told 100 is left.
    let url = stack.pod_for(&shop.store).await.database_url.clone();
    let pool = sqlx::PgPool::connect(&url).await.expect("pool");
    let card = issue(&stack, &shop, 1000).await;
    let card_id: GiftCardId = card["id"].as_str().expect("id").parse().expect("id");
    let store = shop.id;
    let mut tasks = Vec::new();
    for i in 0..10 {
        let pool = pool.clone();
        tasks.push(tokio::spawn(async move {
            let mut tx = pool.begin().await.expect("tx");
            let key = format!("chk_{i}_gc");
            let debited = gift_cards::debit(
                &mut tx,
                store,
                card_id,
                &Debit {
                    amount_minor: 300,
                    currency: Currency::USD,
                    key: &key,
                    checkout: None,
                    order: None,
                },
            )
            .await;
            tx.commit().await.expect("commit");
            debited
        }));
    }
    let (mut won, mut short) = (0, 0);
    for t in tasks {
        match t.await.expect("task") {
            Ok(d) => {
                assert!(!d.again);
                won += 1;
            }
            Err(GiftCardError::Refused(Refusal::Insufficient { balance_minor })) => {
                assert_eq!(balance_minor, 100);
                short += 1;
            }
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!((won, short), (3, 7));

    // A key debits once; a credit gives back at most what its debit took;
    // other currencies and disabled cards do not pay.
    let mut tx = pool.begin().await.expect("tx");
    // The first debit that won, whichever it was.
    let mut won_key = None;
    for i in 0..10 {
        let key = format!("chk_{i}_gc");
        let row: Option<(i64,)> = sqlx::query_as(
            "SELECT amount_minor FROM gift_card_transactions WHERE store_id = $1 AND gift_card_id = $2 AND idempotency_key = $3",
        )
        .bind(store.as_uuid())
        .bind(card_id.as_uuid())
        .bind(&key)
        .fetch_optional(&mut *tx)
        .await
        .expect("row");
        if row.is_some() {
            won_key = Some(key);
            break;
        }
    }
    let won_key = won_key.expect("a debit won");
    let won_key = won_key.as_str();
    let again = gift_cards::debit(
        &mut tx,
        store,
        card_id,
        &Debit {
            amount_minor: 300,
            currency: Currency::USD,
            key: won_key,
            checkout: None,
            order: None,
        },
    )
    .await;
    let again = match again {
        Ok(d) => d,
        Err(e) => panic!("{e}"),
    };
    assert!(again.again);
    assert_eq!(again.balance_minor, 100);
    let c = gift_cards::credit(&mut tx, store, card_id, &credit("void-1", won_key, 500))
        .await
        .map_err(|e| e.to_string())
        .expect("credit");
    assert_eq!(
        (c.amount_minor, c.balance_minor),
        (300, 400),
        "capped at the debit"
    );
    let c = gift_cards::credit(&mut tx, store, card_id, &credit("void-2", won_key, 100))
        .await
        .map_err(|e| e.to_string())
        .expect("credit");
    assert_eq!(c.amount_minor, 0, "nothing left of that debit to give back");
    let c = gift_cards::credit(&mut tx, store, card_id, &credit("void-1", won_key, 500))
        .await
        .map_err(|e| e.to_string())
        .expect("credit");
    assert!(c.again);
    assert_eq!(c.balance_minor, 400);
    let eur = Currency::parse("EUR").expect("EUR");
    let refused = gift_cards::debit(
        &mut tx,
        store,
        card_id,
        &Debit {
            amount_minor: 1,
            currency: eur,
            key: "eur",
            checkout: None,
            order: None,
        },
    )
    .await;
    assert!(matches!(
        refused,
        Err(GiftCardError::Refused(Refusal::CurrencyMismatch))
    ));
    tx.commit().await.expect("commit");
    let r = staff(
        &stack,
        &shop,
        Method::PATCH,
        &format!("/admin/api/gift-cards/{card_id}"),
    )
    .json(&json!({"disabled": true}));
    assert_eq!(common::status_of(r).await, 200);
    let mut tx = pool.begin().await.expect("tx");
    let refused = gift_cards::debit(
        &mut tx,
        store,
        card_id,
        &Debit {
            amount_minor: 1,
            currency: Currency::USD,
            key: "disabled",
            checkout: None,
            order: None,
        },
    )
    .await;
    assert!(matches!(
        refused,
        Err(GiftCardError::Refused(Refusal::Disabled))
    ));
    drop(tx);

    // The balance is the ledger's sum, for every card, and the database
    // refuses a balance changed without its row.
    let mut db = shop.db(&stack).await;
    let (off,): (i64,) = sqlx::query_as(
        "SELECT count(*) FROM gift_cards c WHERE store_id = $1 AND balance_minor <>
             (SELECT sum(amount_minor) FROM gift_card_transactions t
               WHERE t.store_id = c.store_id AND t.gift_card_id = c.id)",
    )
    .bind(store.as_uuid())
    .fetch_one(&mut db)
    .await
    .expect("sums");
    assert_eq!(off, 0);
    let (balances,): (Vec<i64>,) = sqlx::query_as(
        "SELECT array_agg(balance_minor ORDER BY id) FROM gift_cards WHERE store_id = $1",
    )
    .bind(store.as_uuid())
    .fetch_one(&mut db)
    .await
    .expect("balances");
    assert_eq!(balances, vec![0, 400]);
    let mut tx = db.begin().await.expect("tx");
    sqlx::query("UPDATE gift_cards SET balance_minor = balance_minor + 1 WHERE store_id = $1")
        .bind(store.as_uuid())
        .execute(&mut *tx)
        .await
        .expect("update");
    let err = tx.commit().await.expect_err("the ledger disagrees");
    assert!(err.to_string().contains("ledger"), "{err}");
    pool.close().await;
    stack.shutdown().await;
}

fn credit<'a>(key: &'a str, debit_key: &'a str, amount: i64) -> Credit<'a> {
    Credit {
        amount_minor: amount,
        debit_key,
        key,
        checkout: None,
        order: None,
        refund: None,
        reason: None,
    }
}

#[tokio::test]
async fn a_gift_card_product_bought_issues_a_card_per_unit_and_mails_its_code_once() {
    let stack = Stack::start(1).await;
    let shop = Shop::open(&stack, "giftshop").await;
    let (status, product) = send(
        staff(&stack, &shop, Method::POST, "/admin/api/products").json(&json!({
            "title": "Gift card", "gift_card": true,
            "variants": [{"sku": "GIFT-25", "price_minor": 2500}]
        })),
    )
    .await;
    assert_eq!(status, 201, "{product}");
    assert_eq!(product["gift_card"], true);
    let variant = product["variants"][0]["id"]
        .as_str()
        .expect("variant")
        .to_owned();
    let r = staff(
        &stack,
        &shop,
        Method::PUT,
        &format!("/admin/api/variants/{variant}/stock"),
    )
    .json(&json!({"on_hand": 100}));
    assert_eq!(common::status_of(r).await, 200);
    let (_, plain) = shop.product(&stack, "TEE", 1500, 10).await;

    let token = shop.cart(&stack, &[(&variant, 2), (&plain, 1)]).await;
    let (status, order) = send(shop.checkout(&stack, &token, "buy-gifts", CARD_OK)).await;
    assert_eq!(status, 201, "{order}");

    // Two cards of 2500, the order's, in its currency.
    let mut db = shop.db(&stack).await;
    let cards: Vec<(i64, String, Option<uuid::Uuid>)> = sqlx::query_as(
        "SELECT balance_minor, source, order_id FROM gift_cards WHERE store_id = $1",
    )
    .bind(shop.id.as_uuid())
    .fetch_all(&mut db)
    .await
    .expect("cards");
    assert_eq!(cards.len(), 2, "{cards:?}");
    let order_id: uuid::Uuid = order["id"].as_str().expect("id").parse().expect("uuid");
    for (balance, source, of) in &cards {
        assert_eq!(
            (*balance, source.as_str(), *of),
            (2500, "order", Some(order_id))
        );
    }

    // Each code is mailed once to the buyer and works.
    let mails = stack
        .await_mails("shopper@example.com", "Your gift card", 2)
        .await;
    assert_eq!(mails.len(), 2);
    let mut codes = Vec::new();
    for summary in &mails {
        let mail = stack.mail(summary).await;
        let text = mail["text"].as_str().expect("text");
        let code = text
            .split_whitespace()
            .find(|w| w.len() == 19 && w.matches('-').count() == 3)
            .unwrap_or_else(|| panic!("a code in {text}"))
            .to_owned();
        codes.push(code);
    }
    codes.sort();
    codes.dedup();
    assert_eq!(codes.len(), 2, "two different codes");
    for c in &codes {
        let (status, balance) = send(lookup(&stack, &shop, c)).await;
        assert_eq!(status, 200, "{balance}");
        assert_eq!(balance["balance_minor"], 2500);
    }

    // Never in the outbox (so never on Kafka nor in a webhook), and
    // forgotten by the card once its mail went out.
    let (outbox,): (Option<String>,) =
        sqlx::query_as("SELECT string_agg(payload::text, ' ') FROM outbox WHERE store_id = $1")
            .bind(shop.id.as_uuid())
            .fetch_one(&mut db)
            .await
            .expect("outbox");
    let outbox = outbox.unwrap_or_default();
    assert!(outbox.contains("gift_card_id"), "the events are there");
    let pending: i64 = stack
        .eventually("codes forgotten", || {
            let shop = &shop;
            let stack = &stack;
            async move {
                let n = shop
                    .count(stack, &format!(
                        "SELECT count(*) FROM gift_cards WHERE store_id = '{}' AND pending_code IS NOT NULL",
                        shop.id
                    ))
                    .await;
                (n == 0).then_some(n)
            }
        })
        .await;
    assert_eq!(pending, 0);
    let text = rows_as_text(&shop, &stack).await;
    for c in &codes {
        let plain = c.replace('-', "");
        assert!(!outbox.contains(&plain), "a code in the outbox");
        assert!(!text.contains(&plain), "a code kept after its mail");
    }
    // The flag is staff's to change; a product no longer sold as a gift
    // card issues none.
    let product_path = format!(
        "/admin/api/products/{}",
        product["id"].as_str().expect("id")
    );
    let (status, changed) =
        send(staff(&stack, &shop, Method::PATCH, &product_path).json(&json!({"gift_card": false})))
            .await;
    assert_eq!(status, 200, "{changed}");
    let (_, shown) = send(stack.get(&shop.host, &product_path.replace("/admin", ""))).await;
    assert_eq!(shown["gift_card"], false, "{shown}");
    let token = shop.cart(&stack, &[(&variant, 1)]).await;
    assert_eq!(
        send(shop.checkout(&stack, &token, "not-a-gift", CARD_OK))
            .await
            .0,
        201
    );
    assert_eq!(
        shop.count(
            &stack,
            &format!(
                "SELECT count(*) FROM gift_cards WHERE store_id = '{}'",
                shop.id
            )
        )
        .await,
        2
    );
    // Once: no third mail shows up.
    assert_eq!(
        stack
            .mails_with("shopper@example.com", "Your gift card")
            .await
            .len(),
        2
    );
    stack.shutdown().await;
}

/// A checkout's request paying with `cards` (codes) and `card` (a payment
/// token, or none).
fn pay_with(
    stack: &Stack,
    shop: &Shop,
    cart: &str,
    key: &str,
    cards: &[&str],
    card: Option<&str>,
) -> reqwest::RequestBuilder {
    let mut body = common::shop::checkout_body(CARD_OK);
    match card {
        Some(token) => body["payment_token"] = json!(token),
        None => {
            body.as_object_mut().expect("body").remove("payment_token");
        }
    }
    body["gift_cards"] = json!(cards);
    shop.checkout_with(stack, cart, key, &body)
}

/// The balance a code holds now.
async fn balance(stack: &Stack, shop: &Shop, id: &str) -> i64 {
    let (status, card) = send(staff(
        stack,
        shop,
        Method::GET,
        &format!("/admin/api/gift-cards/{id}"),
    ))
    .await;
    assert_eq!(status, 200, "{card}");
    card["balance_minor"].as_i64().expect("balance")
}

fn field(v: &Value, name: &str) -> String {
    v[name]
        .as_str()
        .unwrap_or_else(|| panic!("{name} in {v}"))
        .to_owned()
}

async fn refund(stack: &Stack, shop: &Shop, order: &str, key: &str, body: Value) -> Value {
    let (status, refund) = send(
        staff(
            stack,
            shop,
            Method::POST,
            &format!("/admin/api/orders/{order}/refunds"),
        )
        .header("idempotency-key", key)
        .json(&body),
    )
    .await;
    assert_eq!(status, 201, "{refund}");
    assert_eq!(refund["status"], "succeeded", "{refund}");
    refund
}

#[tokio::test]
async fn gift_cards_pay_first_the_card_pays_the_rest_and_refunds_go_back_to_the_cards_first() {
    let stack = Stack::start(1).await;
    let shop = Shop::open(&stack, "tender").await;
    let (_, tee) = shop.product(&stack, "TEE", 1500, 10).await;
    let (a, b) = (
        issue(&stack, &shop, 1000).await,
        issue(&stack, &shop, 500).await,
    );
    let (a_id, b_id) = (field(&a, "id"), field(&b, "id"));

    let cart = shop.cart(&stack, &[(&tee, 2)]).await;
    // Any case, any dashes; a card named twice pays once.
    let a_typed = field(&a, "code").to_lowercase().replace('-', " ");
    let (status, order) = send(pay_with(
        &stack,
        &shop,
        &cart,
        "tender-1",
        &[&a_typed, &field(&b, "code"), &field(&a, "code")],
        Some(CARD_OK),
    ))
    .await;
    assert_eq!(status, 201, "{order}");
    let total = order["total_minor"].as_i64().expect("total");
    assert!(total > 1500, "{order}");
    assert_eq!(order["gift_card_minor"], 1500, "{order}");
    assert_eq!(
        order["captured_minor"],
        total - 1500,
        "the card paid the rest"
    );
    let order_id = field(&order, "id");
    assert_eq!(
        shop.at_gateway(&stack, &order_id).await,
        (total - 1500, 0),
        "the gateway was asked for the rest only"
    );
    assert_eq!(balance(&stack, &shop, &a_id).await, 0);
    assert_eq!(balance(&stack, &shop, &b_id).await, 0);
    // The ledger names the checkout and the order on each debit.
    let linked = shop
        .count(
            &stack,
            &format!(
                "SELECT count(*) FROM gift_card_transactions WHERE store_id = $1
                  AND kind = 'debit' AND order_id = '{order_id}' AND checkout_id IS NOT NULL"
            ),
        )
        .await;
    assert_eq!(linked, 2);

    // A refund goes to the gift cards first, at once, without the gateway.
    let r = refund(&stack, &shop, &order_id, "r1", json!({"amount_minor": 700})).await;
    assert_eq!(
        (r["amount_minor"].as_i64(), r["gift_card_minor"].as_i64()),
        (Some(700), Some(700))
    );
    let cards_now = balance(&stack, &shop, &a_id).await + balance(&stack, &shop, &b_id).await;
    assert_eq!(cards_now, 700);
    assert_eq!(shop.at_gateway(&stack, &order_id).await, (total - 1500, 0));
    // As the merchant chooses: this one to the card first.
    let r = refund(
        &stack,
        &shop,
        &order_id,
        "r2",
        json!({"amount_minor": 1000, "to": "card_first"}),
    )
    .await;
    assert_eq!(r["gift_card_minor"], 0, "{r}");
    assert_eq!(
        shop.at_gateway(&stack, &order_id).await,
        (total - 1500, 1000)
    );
    // The rest: the gift cards' 800 left, then the card's.
    let rest = total - 1700;
    let r = refund(
        &stack,
        &shop,
        &order_id,
        "r3",
        json!({"amount_minor": rest}),
    )
    .await;
    assert_eq!(r["gift_card_minor"], 800, "{r}");
    assert_eq!(
        balance(&stack, &shop, &a_id).await,
        1000,
        "each card got back what it paid"
    );
    assert_eq!(balance(&stack, &shop, &b_id).await, 500);
    assert_eq!(
        shop.at_gateway(&stack, &order_id).await,
        (total - 1500, total - 1500),
        "the card got back all it paid"
    );
    // Nothing is left: not a cent more to either.
    let (status, err) = code(
        staff(
            &stack,
            &shop,
            Method::POST,
            &format!("/admin/api/orders/{order_id}/refunds"),
        )
        .header("idempotency-key", "r4")
        .json(&json!({"amount_minor": 1})),
    )
    .await;
    assert_eq!((status, err.as_str()), (409, "refund_too_large"));
    let (status, shown) = send(staff(
        &stack,
        &shop,
        Method::GET,
        &format!("/admin/api/orders/{order_id}"),
    ))
    .await;
    assert_eq!(status, 200);
    assert_eq!(shown["refunded_minor"], total, "{shown}");
    stack.shutdown().await;
}

#[tokio::test]
async fn gift_cards_alone_need_no_card_and_a_failed_checkout_gives_every_cent_back() {
    let stack = Stack::start(1).await;
    let shop = Shop::open(&stack, "tenderall").await;
    let (_, tee) = shop.product(&stack, "TEE", 1500, 10).await;
    let big = issue(&stack, &shop, 100_000).await;
    let small = issue(&stack, &shop, 500).await;
    let (big_id, small_id) = (field(&big, "id"), field(&small, "id"));

    // Paid whole by a gift card: no payment token, no gateway.
    let cart = shop.cart(&stack, &[(&tee, 1)]).await;
    let (status, order) = send(pay_with(
        &stack,
        &shop,
        &cart,
        "all-1",
        &[&field(&big, "code")],
        None,
    ))
    .await;
    assert_eq!(status, 201, "{order}");
    let total = order["total_minor"].as_i64().expect("total");
    assert_eq!(order["gift_card_minor"], total);
    assert_eq!(order["captured_minor"], 0);
    assert_eq!(order["status"], "paid");
    assert_eq!(balance(&stack, &shop, &big_id).await, 100_000 - total);
    // Cancelled by staff: all of it back to the card, at once.
    let order_id = field(&order, "id");
    let (status, cancelled) = send(
        staff(
            &stack,
            &shop,
            Method::POST,
            &format!("/admin/api/orders/{order_id}/cancel"),
        )
        .json(&json!({"reason": "customer asked"})),
    )
    .await;
    assert_eq!(status, 200, "{cancelled}");
    assert_eq!(cancelled["refunded_minor"], total, "{cancelled}");
    assert_eq!(balance(&stack, &shop, &big_id).await, 100_000);

    // The card is declined after the gift card was debited: compensation
    // credits it back, the stock is released.
    let stock_before = shop.stock(&stack, &tee).await;
    let cart = shop.cart(&stack, &[(&tee, 1)]).await;
    let (status, body) = send(pay_with(
        &stack,
        &shop,
        &cart,
        "declined-1",
        &[&field(&small, "code")],
        Some(common::shop::CARD_DECLINED),
    ))
    .await;
    assert_eq!(status, 402, "{body}");
    assert_eq!(balance(&stack, &shop, &small_id).await, 500);
    let ledger = shop
        .count(
            &stack,
            &format!(
                "SELECT count(*) FROM gift_card_transactions WHERE store_id = $1
                  AND gift_card_id = '{small_id}' AND kind IN ('debit', 'credit')"
            ),
        )
        .await;
    assert_eq!(ledger, 2, "one debit, one credit of it");
    assert_eq!(
        shop.stock(&stack, &tee).await,
        stock_before,
        "the unit is free again"
    );
    // A retry of the same request: the same answer, nothing moves again.
    let (status, again) = send(pay_with(
        &stack,
        &shop,
        &cart,
        "declined-1",
        &[&field(&small, "code")],
        Some(common::shop::CARD_DECLINED),
    ))
    .await;
    assert_eq!((status, &again), (402, &body));
    assert_eq!(balance(&stack, &shop, &small_id).await, 500);

    // The gift card does not cover it and there is no card: refused, nothing moves.
    let (status, err) = code(pay_with(
        &stack,
        &shop,
        &cart,
        "short-1",
        &[&field(&small, "code")],
        None,
    ))
    .await;
    assert_eq!((status, err.as_str()), (400, "invalid_request"));
    // Refusals name the card: an expired or unknown one stops the checkout.
    let (status, err) = code(pay_with(
        &stack,
        &shop,
        &cart,
        "unknown-1",
        &["ABCD-EFGH-JKLM-NPQR"],
        Some(CARD_OK),
    ))
    .await;
    assert_eq!((status, err.as_str()), (404, "gift_card_not_found"));
    assert_eq!(balance(&stack, &shop, &small_id).await, 500);
    // Codes that name no card are limited per client: past the limit even
    // a good code is not read (a guess learns nothing).
    let mut last = (0, String::new());
    for i in 0..gift_cards::model::LOOKUPS_PER_ADDRESS {
        last = code(pay_with(
            &stack,
            &shop,
            &cart,
            &format!("guess-{i}"),
            &["ABCD-EFGH-JKLM-NPQ2"],
            Some(CARD_OK),
        ))
        .await;
    }
    assert_eq!((last.0, last.1.as_str()), (429, "rate_limited"));
    let (status, err) = code(pay_with(
        &stack,
        &shop,
        &cart,
        "good-late",
        &[&field(&small, "code")],
        Some(CARD_OK),
    ))
    .await;
    assert_eq!((status, err.as_str()), (429, "rate_limited"));
    assert_eq!(balance(&stack, &shop, &small_id).await, 500);
    stack.shutdown().await;
}

#[tokio::test]
async fn two_checkouts_racing_for_a_cards_last_balance_one_wins_the_other_is_told_what_is_left() {
    let stack = Stack::start(1).await;
    let shop = Shop::open(&stack, "tenderrace").await;
    let (_, tee) = shop.product(&stack, "TEE", 1500, 100).await;
    for round in 0..8 {
        let card = issue(&stack, &shop, 1200).await;
        let (id, code) = (field(&card, "id"), field(&card, "code"));
        let carts = [
            shop.cart(&stack, &[(&tee, 1)]).await,
            shop.cart(&stack, &[(&tee, 1)]).await,
        ];
        let (one, two) = tokio::join!(
            send(pay_with(
                &stack,
                &shop,
                &carts[0],
                &format!("race-{round}-a"),
                &[&code],
                Some(CARD_OK)
            )),
            send(pay_with(
                &stack,
                &shop,
                &carts[1],
                &format!("race-{round}-b"),
                &[&code],
                Some(CARD_OK)
            )),
        );
        let mut answers = [one, two];
        answers.sort_by_key(|(status, _)| *status);
        let [(won, order), (lost, refused)] = answers;
        assert_eq!(
            (won, lost),
            (201, 409),
            "round {round}: {order} / {refused}"
        );
        assert_eq!(order["gift_card_minor"], 1200);
        assert_eq!(
            refused["error"]["code"], "gift_card_insufficient",
            "{refused}"
        );
        let message = refused["error"]["message"].as_str().expect("message");
        assert!(
            message.contains(&format!("ending {} has only $0.00 left", &code[15..])),
            "{message}"
        );
        assert_eq!(balance(&stack, &shop, &id).await, 0);
        // One debit, never given back; the ledger is the balance.
        let debits = shop
            .count(
                &stack,
                &format!(
                    "SELECT count(*) FROM gift_card_transactions WHERE store_id = $1
                      AND gift_card_id = '{id}' AND kind <> 'issue'"
                ),
            )
            .await;
        assert_eq!(debits, 1, "round {round}");
    }
    assert_eq!(shop.stock(&stack, &tee).await, (92, 0), "8 sold, none held");
    stack.shutdown().await;
}
