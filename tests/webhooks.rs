//! Merchant webhooks, end to end: a receiver in the test (axum on a
//! loopback port) that can be taken down and brought back, a real stack
//! whose pods deliver to it.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::receiver::{Received, Receiver};
use common::shop::{Shop, CARD_OK};
use common::{status_of, Stack};
use hmac::{Hmac, Mac};
use mercato_pod::webhooks::model::Topic;
use mercato_tenants::events::EventType;
use reqwest::Method;
use serde_json::{json, Value};
use sha2::Sha256;

fn verify(secret: &str, r: &Received) -> bool {
    let timestamp = &r.headers["x-mercato-timestamp"];
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("key");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(&r.body);
    let sig = hex::decode(&r.headers["x-mercato-signature"]).expect("hex signature");
    mac.verify_slice(&sig).is_ok()
}

fn body_of(r: &Received) -> Value {
    serde_json::from_slice(&r.body).expect("json body")
}

async fn buy(stack: &Stack, shop: &Shop, variant: &str, key: &str) {
    let cart = shop.cart(stack, &[(variant, 1)]).await;
    let r = shop
        .checkout(stack, &cart, key, CARD_OK)
        .send()
        .await
        .expect("checkout");
    assert_eq!(r.status(), 201);
}

async fn get_json(stack: &Stack, shop: &Shop, path: &str) -> Value {
    let r = stack
        .get(&shop.host, path)
        .bearer_auth(&shop.staff)
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 200, "{path}");
    r.json().await.expect("json")
}

/// The ids of the store's outbox events of `types`.
async fn events_of(stack: &Stack, shop: &Shop, types: &[&str]) -> BTreeSet<String> {
    let rows: Vec<(uuid::Uuid,)> =
        sqlx::query_as("SELECT id FROM outbox WHERE store_id = $1 AND type = ANY($2)")
            .bind(shop.id.as_uuid())
            .bind(types)
            .fetch_all(&mut shop.db(stack).await)
            .await
            .expect("outbox");
    rows.into_iter().map(|(id,)| id.to_string()).collect()
}

#[tokio::test]
async fn every_event_arrives_signed_once_the_receiver_is_back() {
    let stack = Stack::start(1).await;
    let shop = Shop::open(&stack, "hooks").await;
    let mut receiver = Receiver::start().await;

    // The trigger's topic of each event type is the code's.
    let mut db = shop.db(&stack).await;
    for event_type in EventType::ALL {
        let (topic,): (Option<String>,) = sqlx::query_as("SELECT webhook_topic($1)")
            .bind(event_type.as_str())
            .fetch_one(&mut db)
            .await
            .expect("webhook_topic");
        assert_eq!(
            topic.as_deref(),
            Topic::of(event_type).map(Topic::as_str),
            "{event_type:?}"
        );
    }

    // Owner only, validated, the secret shown once.
    let r = stack
        .post(&shop.host, "/admin/api/webhooks")
        .bearer_auth(&shop.staff)
        .json(&json!({"url": receiver.url(), "topics": ["orders/nope"]}));
    assert_eq!(common::refusal(r).await.0, 400);
    let r = stack
        .post(&shop.host, "/admin/api/webhooks")
        .bearer_auth(&shop.staff)
        .json(&json!({"url": "http://a\u{1}b/", "topics": ["orders/created"]}));
    assert_eq!(common::refusal(r).await.0, 400);
    let topics = [
        "orders/created",
        "orders/paid",
        "products/update",
        "inventory_levels/update",
    ];
    let created: Value = stack
        .post(&shop.host, "/admin/api/webhooks")
        .bearer_auth(&shop.staff)
        .json(&json!({"url": receiver.url(), "topics": topics}))
        .send()
        .await
        .expect("create")
        .json()
        .await
        .expect("json");
    let secret = created["secret"].as_str().expect("secret").to_owned();
    assert!(secret.starts_with("whsec_"), "{created}");
    let id = created["id"].as_str().expect("id").to_owned();
    let listed = get_json(&stack, &shop, "/admin/api/webhooks").await;
    assert_eq!(listed.as_array().map(Vec::len), Some(1));
    assert!(
        listed[0].get("secret").is_none(),
        "the secret is shown once"
    );

    // Up: a product's events arrive.
    let (_, variant) = shop.product(&stack, "HOOK", 2_500, 10).await;
    stack
        .eventually("the product's events arrive", || async {
            (!receiver.received().is_empty()).then_some(())
        })
        .await;

    // Down: orders are placed, deliveries fail and are retried.
    receiver.down().await;
    for i in 0..3 {
        buy(&stack, &shop, &variant, &format!("hook-{i}")).await;
    }
    let path = format!("/admin/api/webhooks/{id}/deliveries");
    stack
        .eventually("deliveries fail while the receiver is down", || async {
            let deliveries = get_json(&stack, &shop, &path).await;
            deliveries
                .as_array()
                .expect("deliveries")
                .iter()
                .any(|d| {
                    d["state"] == "pending"
                        && d["attempts"].as_array().is_some_and(|a| {
                            a.len() >= 2 && a.iter().all(|a| a["status_code"].is_null())
                        })
                })
                .then_some(())
        })
        .await;

    // Back: every event arrives, with its original id.
    receiver.up().await;
    let types: Vec<&str> = topics
        .iter()
        .map(|t| Topic::parse(t).expect("topic").event_type().as_str())
        .collect();
    let expected = events_of(&stack, &shop, &types).await;
    assert!(
        expected.len() >= 5,
        "products, stock and 3 orders: {expected:?}"
    );
    stack
        .eventually("every event arrives", || async {
            let got: BTreeSet<String> = receiver
                .received()
                .iter()
                .map(|r| r.headers["x-mercato-event-id"].clone())
                .collect();
            (got == expected).then_some(())
        })
        .await;
    // The receiver may have an event before its attempt is recorded.
    let deliveries: Vec<Value> = stack
        .eventually("every delivery is recorded delivered", || async {
            let deliveries = get_json(&stack, &shop, &path).await;
            let deliveries = deliveries.as_array().expect("deliveries").clone();
            deliveries
                .iter()
                .all(|d| d["state"] == "delivered")
                .then_some(deliveries)
        })
        .await;
    assert_eq!(deliveries.len(), expected.len());

    // Each request is signed with the secret and says what it carries.
    let received = receiver.received();
    for r in &received {
        assert!(verify(&secret, r), "signature of {:?}", r.headers);
        assert!(!verify("whsec_other", r));
        let body = body_of(r);
        assert_eq!(
            body["id"].as_str(),
            Some(r.headers["x-mercato-event-id"].as_str())
        );
        assert_eq!(
            body["topic"].as_str(),
            Some(r.headers["x-mercato-topic"].as_str())
        );
        assert_eq!(r.headers["x-mercato-store-id"], shop.id.to_string());
        assert!(body["data"].is_object());
        assert!(
            body["data"].get("confirmation_path").is_none(),
            "no shopper secret"
        );
    }
    // Duplicates (a lease that ran out mid-send) carry the same id and
    // body; at least once, never a new id.
    let mut bodies: BTreeMap<String, Value> = BTreeMap::new();
    for r in &received {
        let body = body_of(r);
        let id = body["id"].as_str().expect("id").to_owned();
        if let Some(before) = bodies.insert(id, body.clone()) {
            assert_eq!(before, body, "a duplicate is the same event");
        }
    }

    // A redelivery sends the same event again.
    let one = deliveries[0]["id"].as_str().expect("delivery id");
    let event = deliveries[0]["event_id"]
        .as_str()
        .expect("event id")
        .to_owned();
    let before = received.len();
    let r = stack.post(
        &shop.host,
        &format!("/admin/api/webhooks/{id}/deliveries/{one}/redeliver"),
    );
    assert_eq!(status_of(r.bearer_auth(&shop.staff)).await, 202);
    stack
        .eventually("the redelivery arrives", || async {
            let received = receiver.received();
            (received.len() > before
                && received[before..]
                    .iter()
                    .any(|r| r.headers["x-mercato-event-id"] == event))
            .then_some(())
        })
        .await;

    // Patch, rotate, delete.
    let r = stack
        .at(
            Method::PATCH,
            &shop.host,
            &format!("/admin/api/webhooks/{id}"),
        )
        .bearer_auth(&shop.staff)
        .json(&json!({"topics": ["orders/cancelled"], "enabled": false}));
    assert_eq!(status_of(r).await, 200);
    let got = get_json(&stack, &shop, &format!("/admin/api/webhooks/{id}")).await;
    assert_eq!(got["topics"], json!(["orders/cancelled"]));
    assert_eq!(got["enabled"], false);
    let rotated: Value = stack
        .post(
            &shop.host,
            &format!("/admin/api/webhooks/{id}/rotate-secret"),
        )
        .bearer_auth(&shop.staff)
        .send()
        .await
        .expect("rotate")
        .json()
        .await
        .expect("json");
    assert_ne!(rotated["secret"].as_str(), Some(secret.as_str()));
    let r = stack
        .at(
            Method::DELETE,
            &shop.host,
            &format!("/admin/api/webhooks/{id}"),
        )
        .bearer_auth(&shop.staff);
    assert_eq!(status_of(r).await, 204);
    let (left,): (i64,) =
        sqlx::query_as("SELECT count(*) FROM webhook_deliveries WHERE store_id = $1")
            .bind(shop.id.as_uuid())
            .fetch_one(&mut db)
            .await
            .expect("count");
    assert_eq!(left, 0, "a deleted subscription's deliveries go with it");
    stack.shutdown().await;
}

#[tokio::test]
async fn outside_dev_mode_internal_targets_are_refused() {
    let stack = Stack::start_with(1, |c| {
        c.webhooks.allow_http = false;
        c.webhooks.allow_private_targets = false;
        c.webhooks.max_age_secs = 1;
        c.webhooks.disable_after = 2;
    })
    .await;
    let shop = Shop::open(&stack, "ssrf").await;
    for url in [
        "https://127.0.0.1/hooks",
        "https://localhost/hooks",
        "https://10.0.0.5/hooks",
        "https://192.168.1.1/hooks",
        "https://169.254.169.254/latest/meta-data/",
        "https://100.64.0.1/",
        "https://[::1]/",
        "https://[fd00::1]/",
        "http://hooks.example.com/",
    ] {
        let r = stack
            .post(&shop.host, "/admin/api/webhooks")
            .bearer_auth(&shop.staff)
            .json(&json!({"url": url, "topics": ["products/update"]}));
        // Where a URL points is no shape the document can state: 422; the
        // scheme is (400).
        let expected = if url.starts_with("http://") { 400 } else { 422 };
        assert_eq!(common::refusal(r).await.0, expected, "{url}");
    }
    // A subscription whose address turns internal after it was made (here
    // written straight into the table) is refused again at delivery, and
    // given up deliveries disable it, saying why.
    let r = stack
        .post(&shop.host, "/admin/api/webhooks")
        .bearer_auth(&shop.staff)
        .json(&json!({"url": "https://hooks.example.com/in", "topics": ["products/update"]}));
    assert_eq!(status_of(r).await, 201);
    let mut db = shop.db(&stack).await;
    // The operator made this store, so it has no owner account yet (a
    // signup makes one): give it one, to be told.
    sqlx::query(
        "INSERT INTO staff (store_id, id, email, password_hash, role)
         VALUES ($1, $2, 'owner@ssrf.example', 'not a hash', 'owner')",
    )
    .bind(shop.id.as_uuid())
    .bind(uuid::Uuid::now_v7())
    .execute(&mut db)
    .await
    .expect("owner");
    sqlx::query(
        "UPDATE webhook_subscriptions SET url = 'https://127.0.0.1:9/in' WHERE store_id = $1",
    )
    .bind(shop.id.as_uuid())
    .execute(&mut db)
    .await
    .expect("update");
    shop.product(&stack, "SSRF-1", 100, 1).await;
    shop.product(&stack, "SSRF-2", 100, 1).await;
    let disabled: Value = stack
        .eventually("the subscription is disabled", || async {
            let list = get_json(&stack, &shop, "/admin/api/webhooks").await;
            (list[0]["enabled"] == false).then(|| list[0].clone())
        })
        .await;
    let reason = disabled["disabled_reason"].as_str().expect("reason");
    assert!(reason.contains("2 deliveries in a row failed"), "{reason}");
    assert!(reason.contains("loopback"), "{reason}");
    let (refused,): (i64,) = sqlx::query_as(
        "SELECT count(*) FROM webhook_attempts
          WHERE store_id = $1 AND status_code IS NULL AND error LIKE '%loopback%'",
    )
    .bind(shop.id.as_uuid())
    .fetch_one(&mut db)
    .await
    .expect("attempts");
    assert!(refused >= 2, "every attempt was refused before connecting");
    // The owner hears of it.
    let mails = stack
        .await_mails(
            "owner@ssrf.example",
            "webhook of Store ssrf was turned off",
            1,
        )
        .await;
    let mail = stack.mail(&mails[0]).await;
    let text = mail["text"].as_str().expect("text");
    assert!(text.contains("https://127.0.0.1:9/in"), "{text}");
    assert!(text.contains("2 deliveries in a row failed"), "{text}");
    stack.shutdown().await;
}

/// The topics of an order's second half and of new customers: a customer
/// confirms (`customers/create`), the order ships whole (`fulfillments/update`,
/// `orders/fulfilled`), and a goodwill refund is paid (`refunds/created`).
#[tokio::test]
async fn fulfilment_refund_and_customer_topics_arrive() {
    let stack = Stack::start(1).await;
    let shop = Shop::open(&stack, "hooked-after").await;
    let receiver = Receiver::start().await;
    let topics = [
        "customers/create",
        "fulfillments/update",
        "orders/fulfilled",
        "refunds/created",
    ];
    let r = stack
        .post(&shop.host, "/admin/api/webhooks")
        .bearer_auth(&shop.staff)
        .json(&json!({"url": receiver.url(), "topics": topics}));
    assert_eq!(status_of(r).await, 201);

    let body = json!({"email": "hooked@example.com", "password": "correct horse battery",
                      "first_name": "Hu", "last_name": "Ked"});
    let r = common::register_customer(&stack, &shop.host, body, None).await;
    assert_eq!(r.status(), 201);
    let (_, variant) = shop.product(&stack, "HOOKED", 2_000, 5).await;
    let cart = shop.cart(&stack, &[(&variant, 1)]).await;
    let order: Value = shop
        .checkout(&stack, &cart, "hooked-1", CARD_OK)
        .send()
        .await
        .expect("checkout")
        .json()
        .await
        .expect("json");
    let id = order["id"].as_str().expect("id");
    shop.deliver(&stack, id).await;
    let r = stack
        .post(&shop.host, &format!("/admin/api/orders/{id}/refunds"))
        .bearer_auth(&shop.staff)
        .header("idempotency-key", "hooked-goodwill")
        .json(&json!({"amount_minor": 250, "reason": "late"}));
    assert_eq!(status_of(r).await, 201);

    // shipped, delivered: two shipment updates; one of each other topic.
    let by_topic = stack
        .eventually("every topic arrives", || async {
            let mut by_topic: BTreeMap<String, Vec<Value>> = BTreeMap::new();
            for r in receiver.received() {
                let body = body_of(&r);
                by_topic
                    .entry(body["topic"].as_str().expect("topic").to_owned())
                    .or_default()
                    .push(body);
            }
            let counts: Vec<usize> = topics
                .iter()
                .map(|t| by_topic.get(*t).map_or(0, Vec::len))
                .collect();
            (counts == [1, 2, 1, 1]).then_some(by_topic)
        })
        .await;
    assert_eq!(
        by_topic["customers/create"][0]["data"]["email"],
        "hooked@example.com"
    );
    assert_eq!(by_topic["refunds/created"][0]["data"]["amount_minor"], 250);
    assert_eq!(by_topic["orders/fulfilled"][0]["data"]["order_id"], id);
    let statuses: BTreeSet<&str> = by_topic["fulfillments/update"]
        .iter()
        .map(|b| b["data"]["status"].as_str().expect("status"))
        .collect();
    assert_eq!(statuses, BTreeSet::from(["delivered", "shipped"]));
    stack.shutdown().await;
}
