//! Mail, end to end: pods send through the stack's mailbox (`mercato
//! mailbox`, a real SMTP server process) and the tests read what arrived
//! over its HTTP API, as a developer reads it in a browser.

mod common;

use common::shop::{Shop, CARD_DECLINED, CARD_OK};
use common::{register_customer, status_of, Stack};
use mercato_tenants::events::EventType;
use reqwest::Method;
use serde_json::{json, Value};

/// The store's mail deliveries by state.
async fn deliveries(stack: &Stack, shop: &Shop) -> Vec<(String, i32)> {
    let mut db = shop.db(stack).await;
    sqlx::query_as(
        "SELECT state, attempts FROM mail_deliveries WHERE store_id = $1 ORDER BY event_id",
    )
    .bind(shop.id.as_uuid())
    .fetch_all(&mut db)
    .await
    .expect("deliveries")
}

/// Waits until every delivery of the store is finished; their states.
async fn all_finished(stack: &Stack, shop: &Shop) -> Vec<(String, i32)> {
    stack
        .eventually("every mail delivery is finished", || async {
            let rows = deliveries(stack, shop).await;
            rows.iter()
                .all(|(state, _)| state != "pending" && state != "sending")
                .then_some(rows)
        })
        .await
}

/// The code the mail's text gives after "Or enter this code: ".
fn code_in(mail: &Value) -> String {
    let text = mail["text"].as_str().expect("text part");
    text.split("Or enter this code: ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .expect("a code in the mail")
        .to_owned()
}

async fn buy(stack: &Stack, shop: &Shop, variant: &str, key: &str) -> Value {
    let cart = shop.cart(stack, &[(variant, 2)]).await;
    let r = shop
        .checkout(stack, &cart, key, CARD_OK)
        .send()
        .await
        .expect("checkout");
    assert_eq!(r.status(), 201);
    r.json().await.expect("json")
}

#[tokio::test]
async fn a_checkout_mails_one_confirmation_with_the_store_name_and_the_total() {
    let stack = Stack::start(1).await;
    let shop = Shop::open(&stack, "noir").await;
    // The owner sets the store's sender name and reply-to.
    let r = stack
        .at(Method::PUT, &shop.host, "/admin/api/settings/mail")
        .bearer_auth(&shop.staff)
        .json(&json!({"sender_name": "Café Noir", "reply_to": "Owner@Noir.Example"}));
    assert_eq!(status_of(r).await, 200);
    let r = stack
        .at(Method::PUT, &shop.host, "/admin/api/settings/mail")
        .bearer_auth(&shop.staff)
        .json(&json!({"reply_to": "not an address"}));
    assert_eq!(common::refusal(r).await.0, 400);
    let settings: Value = stack
        .get(&shop.host, "/admin/api/settings/mail")
        .bearer_auth(&shop.staff)
        .send()
        .await
        .expect("settings")
        .json()
        .await
        .expect("json");
    assert_eq!(
        settings,
        json!({"sender_name": "Café Noir", "reply_to": "owner@noir.example",
               "abandoned_cart_hours": null})
    );

    let (_, variant) = shop.product(&stack, "TEE", 123_450, 10).await;
    let order = buy(&stack, &shop, &variant, "mail-1").await;
    let number = order["number"].as_i64().expect("number");
    let total = order["total_minor"].as_i64().expect("total");
    assert!(total > 100_000, "a total with a thousands separator");
    let subject = format!("Order #{number} confirmed");
    let mails = stack.await_mails("shopper@example.com", &subject, 1).await;
    let mail = stack.mail(&mails[0]).await;
    let header = |name: &str| {
        mail["headers"]
            .as_array()
            .expect("headers")
            .iter()
            .find(|h| h[0].as_str().is_some_and(|n| n.eq_ignore_ascii_case(name)))
            .and_then(|h| h[1].as_str())
            .unwrap_or_default()
            .to_owned()
    };
    assert_eq!(header("Subject"), format!("{subject} — Store noir"));
    assert!(
        header("From").starts_with("Café Noir <"),
        "{}",
        header("From")
    );
    assert_eq!(header("Reply-To"), "owner@noir.example");
    // The total in the store's currency formatting (USD), in both parts.
    let formatted = format!(
        "${},{:03}.{:02}",
        total / 100_000,
        (total / 100) % 1000,
        total % 100
    );
    let text = mail["text"].as_str().expect("text");
    let html = mail["html"].as_str().expect("html");
    assert!(text.contains(&formatted), "{formatted} in {text}");
    assert!(html.contains(&formatted));
    assert!(text.contains("Store noir"));
    // The status link works: the storefront's page of this order, and the
    // same token reads it from the API.
    let link = text
        .split_whitespace()
        .find(|w| w.contains(&format!("/orders/{number}?token=")))
        .expect("the order's link");
    let path = &link[link.find("/orders/").expect("path")..];
    let page = stack
        .get(&shop.host, path)
        .send()
        .await
        .expect("order page")
        .text()
        .await
        .expect("html");
    assert!(page.contains(&format!("Order #{number}")), "{page}");
    let seen: Value = stack
        .get(&shop.host, &format!("/api{path}"))
        .send()
        .await
        .expect("order")
        .json()
        .await
        .expect("json");
    assert_eq!(seen["number"], number);

    // Exactly one mail for the order, however many rounds the worker ran.
    let finished = all_finished(&stack, &shop).await;
    assert_eq!(finished, [("sent".to_owned(), 1)]);
    let again = buy(&stack, &shop, &variant, "mail-2").await;
    stack
        .await_mails(
            "shopper@example.com",
            &format!("Order #{} confirmed", again["number"]),
            1,
        )
        .await;
    all_finished(&stack, &shop).await;
    let orders: Vec<Value> = stack
        .mails_to("shopper@example.com")
        .await
        .into_iter()
        .filter(|m| {
            m["subject"]
                .as_str()
                .is_some_and(|s| s.starts_with("Order #"))
        })
        .collect();
    assert_eq!(orders.len(), 2, "{orders:?}");
    stack.shutdown().await;
}

#[tokio::test]
async fn account_mails_carry_tokens_that_work() {
    let stack = Stack::start(1).await;
    let shop = Shop::open(&stack, "tokens").await;
    let email = "cleo@tokens.example";
    let body = json!({"email": email, "password": "first password!", "first_name": "Cleo"});
    let r = register_customer(&stack, &shop.host, body.clone(), None).await;
    assert_eq!(r.status(), 201);
    stack.await_mails(email, "Confirm your email", 1).await;
    // Registering again tells the owner instead.
    let r = stack.post(&shop.host, "/api/customers").json(&body);
    assert_eq!(status_of(r).await, 202);
    stack
        .await_mails(email, "You already have an account", 1)
        .await;

    // A reset: the code in the mail sets a new password.
    let r = stack
        .post(&shop.host, "/api/customers/password-reset")
        .json(&json!({"email": email}));
    assert_eq!(status_of(r).await, 202);
    let mails = stack.await_mails(email, "Reset your password", 1).await;
    let mail = stack.mail(&mails[0]).await;
    let token = code_in(&mail);
    assert!(mail["html"]
        .as_str()
        .expect("html")
        .contains(&format!("/account/reset-password?token={token}")));
    // The link opens the storefront's form for the new password.
    let r = stack
        .get(
            &shop.host,
            &format!("/account/reset-password?token={token}"),
        )
        .send()
        .await
        .expect("reset page");
    assert_eq!(r.status(), 200);
    let page = r.text().await.expect("page");
    assert!(
        page.contains("Choose a new password") && page.contains(&format!("value=\"{token}\"")),
        "{page}"
    );
    let r = stack
        .post(&shop.host, "/api/customers/password-reset/confirm")
        .json(&json!({"token": token, "password": "second password!"}));
    assert_eq!(status_of(r).await, 204);
    let r = stack
        .post(&shop.host, "/api/customers/login")
        .json(&json!({"email": email, "password": "second password!"}));
    assert_eq!(status_of(r).await, 200);

    // A staff invitation: its code accepts it.
    let r = stack
        .post(&shop.host, "/admin/api/staff/invitations")
        .bearer_auth(&shop.staff)
        .json(&json!({"email": "bob@tokens.example"}));
    assert_eq!(status_of(r).await, 201);
    let mails = stack
        .await_mails("bob@tokens.example", "Join Store tokens", 1)
        .await;
    let token = code_in(&stack.mail(&mails[0]).await);
    let r = stack
        .post(&shop.host, "/admin/api/staff/invitations/accept")
        .json(&json!({"token": token, "password": "bob's long password"}));
    assert_eq!(status_of(r).await, 201);

    let finished = all_finished(&stack, &shop).await;
    assert!(finished.iter().all(|(s, _)| s == "sent"), "{finished:?}");
    assert_eq!(finished.len(), 4);
    assert_eq!(stack.mails_to(email).await.len(), 3);
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn with_the_mailbox_down_mails_are_retried_and_each_arrives_once_it_is_back() {
    let mut stack = Stack::start(1).await;
    let shop = Shop::open(&stack, "down").await;
    let (_, variant) = shop.product(&stack, "MUG", 1200, 20).await;
    stack.mailbox.kill().await;

    // Checkout and registration answer as ever while no mail can go.
    let mut numbers = Vec::new();
    for i in 0..3 {
        let order = buy(&stack, &shop, &variant, &format!("down-{i}")).await;
        numbers.push(order["number"].as_i64().expect("number"));
    }
    let r = stack
        .post(&shop.host, "/api/customers/password-reset")
        .json(&json!({"email": "nobody@down.example"}));
    assert_eq!(status_of(r).await, 202);
    let body = json!({"email": "dana@down.example", "password": "a long password!"});
    let r = stack.post(&shop.host, "/api/customers").json(&body);
    assert_eq!(status_of(r).await, 202);

    // Each waits and is tried again.
    stack
        .eventually("every mail was tried at least twice", || async {
            let rows = deliveries(&stack, &shop).await;
            (rows.len() == 4 && rows.iter().all(|(s, a)| s == "pending" && *a >= 2)).then_some(())
        })
        .await;

    stack.mailbox.restart().await.expect("the mailbox is back");
    let finished = all_finished(&stack, &shop).await;
    assert!(finished.iter().all(|(s, _)| s == "sent"), "{finished:?}");
    let mut all = stack.mails_to("shopper@example.com").await;
    all.extend(stack.mails_to("dana@down.example").await);
    let mut ids: Vec<&str> = all
        .iter()
        .map(|m| m["message_id"].as_str().expect("message id"))
        .collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(
        (all.len(), ids.len()),
        (4, 4),
        "one mail per event: {all:?}"
    );
    for n in numbers {
        let subject = format!("Order #{n} confirmed");
        assert_eq!(
            all.iter()
                .filter(|m| m["subject"]
                    .as_str()
                    .is_some_and(|s| s.starts_with(&subject)))
                .count(),
            1,
            "{subject}"
        );
    }
    stack.shutdown().await;
}

#[tokio::test]
async fn the_outbox_trigger_queues_exactly_the_mailed_events() {
    let stack = Stack::start(1).await;
    let mut db = sqlx::PgConnection::connect(&stack.pods[0].database_url)
        .await
        .expect("db");
    // Every trigger that queues mails (`outbox_mail`, and those later
    // migrations added for their events), together.
    let (definition,): (String,) = sqlx::query_as(
        "SELECT string_agg(pg_get_triggerdef(oid), ' ') FROM pg_trigger
          WHERE tgfoid = 'mail_enqueue'::regproc",
    )
    .fetch_one(&mut db)
    .await
    .expect("the triggers");
    for t in EventType::ALL {
        let queued = definition.contains(&format!("'{}'", t.as_str()));
        assert_eq!(
            queued,
            mercato_pod::notifications::model::MAILED.contains(&t),
            "{t}: the trigger and notifications::model::MAILED disagree"
        );
    }
    stack.shutdown().await;
}

/// Moves the cart `hours` into the past, as if that long had passed since
/// it was last touched (and reminded).
async fn backdate(stack: &Stack, shop: &Shop, cart_token: &str, hours: i32) {
    let id: uuid::Uuid = cart_token
        .strip_prefix("ct_")
        .and_then(|r| r.split('_').next())
        .and_then(|h| h.parse().ok())
        .expect("a cart id in the token");
    let mut db = shop.db(stack).await;
    sqlx::query(
        "UPDATE carts SET updated_at = updated_at - make_interval(hours => $3),
                reminded_at = reminded_at - make_interval(hours => $3)
          WHERE store_id = $1 AND id = $2",
    )
    .bind(shop.id.as_uuid())
    .bind(id)
    .bind(hours)
    .execute(&mut db)
    .await
    .expect("backdate");
}

/// A guest who left a cart with an email gets one reminder per idle spell,
/// whose link gives back a cart with the same lines; a cart without an
/// email, or at a store without reminders, gets none.
#[tokio::test]
async fn an_abandoned_cart_is_reminded_once_and_its_link_restores_it() {
    let stack = Stack::start(1).await;
    let shop = Shop::open(&stack, "leftbehind").await;
    let (_, tee) = shop.product(&stack, "LEFT-TEE", 1900, 10).await;
    let (_, cap) = shop.product(&stack, "LEFT-CAP", 900, 10).await;
    let settings = |body: Value| {
        stack
            .at(Method::PUT, &shop.host, "/admin/api/settings/mail")
            .bearer_auth(&shop.staff)
            .json(&body)
    };
    for bad in [0, 721] {
        assert_eq!(
            status_of(settings(json!({"abandoned_cart_hours": bad}))).await,
            400
        );
    }
    // Not reminding yet: a quiet cart with an email is left alone.
    let early = shop.cart(&stack, &[(&tee, 1)]).await;
    let email = |token: &str, address: &str| {
        stack
            .at(Method::PUT, &shop.host, "/api/cart/email")
            .header("x-cart-token", token)
            .json(&json!({"email": address}))
    };
    assert_eq!(status_of(email(&early, "early@example.com")).await, 204);
    assert_eq!(status_of(email(&early, "not-an-email")).await, 400);
    backdate(&stack, &shop, &early, 5).await;

    assert_eq!(
        status_of(settings(json!({"abandoned_cart_hours": 2}))).await,
        200
    );
    let cart = shop.cart(&stack, &[(&tee, 2), (&cap, 1)]).await;
    assert_eq!(status_of(email(&cart, "ada@example.com")).await, 204);
    let silent = shop.cart(&stack, &[(&cap, 1)]).await;
    backdate(&stack, &shop, &cart, 3).await;
    backdate(&stack, &shop, &silent, 3).await;
    // A guest who gave their email only to a checkout that failed (a
    // declined card) is reminded too: the checkout kept it on the cart.
    let declined = shop.cart(&stack, &[(&cap, 2)]).await;
    let r = shop
        .checkout(&stack, &declined, "left-declined", CARD_DECLINED)
        .send()
        .await
        .expect("checkout");
    assert_eq!(r.status(), 402);
    backdate(&stack, &shop, &declined, 3).await;
    let reminded = stack
        .await_mails("shopper@example.com", "is waiting", 1)
        .await;
    let text = stack.mail(&reminded[0]).await["text"]
        .as_str()
        .expect("text")
        .to_owned();
    assert!(text.contains("2 × Product LEFT-CAP"), "{text}");

    let mails = stack.await_mails("ada@example.com", "is waiting", 1).await;
    let mail = stack.mail(&mails[0]).await;
    let text = mail["text"].as_str().expect("text");
    assert!(text.contains("2 × Product LEFT-TEE"), "{text}");
    assert!(text.contains("$38.00"), "{text}");
    let token = text
        .split("/cart/restore?token=")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .expect("a restore link")
        .to_owned();
    // The earlier cart, quiet since before reminders began, is reminded too
    // (it is still within the window); the cart without an email is not.
    stack
        .await_mails("early@example.com", "is waiting", 1)
        .await;
    // The link's page on the storefront asks before it acts (a button that
    // posts), and the button brings the lines back in a new cart cookie.
    let page = stack
        .get(&shop.host, &format!("/cart/restore?token={token}"))
        .send()
        .await
        .expect("restore page")
        .text()
        .await
        .expect("html");
    assert!(page.contains("Bring back my cart"), "{page}");
    let clicked = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
        .post(format!("{}/cart/restore", stack.router.url()))
        .header("host", &shop.host)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("token={token}"))
        .send()
        .await
        .expect("restore button");
    assert_eq!(clicked.status(), 303);
    let cookie = clicked
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("mercato_cart="))
        .and_then(|v| v.split(';').next())
        .expect("a new cart's cookie")
        .to_owned();
    let cart_page = stack
        .get(&shop.host, "/cart")
        .header("cookie", &cookie)
        .send()
        .await
        .expect("cart")
        .text()
        .await
        .expect("html");
    assert!(cart_page.contains("Product LEFT-TEE"), "{cart_page}");
    let restore = |token: &str| {
        stack
            .post(&shop.host, "/api/cart/restore")
            .json(&json!({"token": token}))
    };
    let r = restore(&token).send().await.expect("restore");
    assert_eq!(r.status(), 201);
    let restored: Value = r.json().await.expect("json");
    let mut lines: Vec<(String, i64)> = restored["cart"]["lines"]
        .as_array()
        .expect("lines")
        .iter()
        .map(|l| {
            (
                l["sku"].as_str().expect("sku").to_owned(),
                l["quantity"].as_i64().expect("q"),
            )
        })
        .collect();
    lines.sort();
    assert_eq!(
        lines,
        vec![("LEFT-CAP".to_owned(), 1), ("LEFT-TEE".to_owned(), 2)]
    );
    assert_ne!(restored["token"].as_str(), Some(cart.as_str()));
    assert_eq!(status_of(restore("ct_nope")).await, 400);
    let unknown = format!("ct_{}_{}", uuid::Uuid::now_v7().simple(), "0".repeat(64));
    assert_eq!(status_of(restore(&unknown)).await, 404);

    // One reminder per idle spell: later sweeps leave it be...
    let reminders = |cart: String| {
        let (stack, shop) = (&stack, &shop);
        async move {
            let id = cart
                .strip_prefix("ct_")
                .and_then(|r| r.split('_').next())
                .expect("id")
                .to_owned();
            let mut db = shop.db(stack).await;
            let (n,): (i64,) = sqlx::query_as(
                "SELECT count(*) FROM outbox WHERE store_id = $1 AND type = 'cart.abandoned'
                   AND payload->>'cart_id' = $2",
            )
            .bind(shop.id.as_uuid())
            .bind(uuid::Uuid::parse_str(&id).expect("uuid").to_string())
            .fetch_one(&mut db)
            .await
            .expect("count");
            n
        }
    };
    assert_eq!(reminders(silent.clone()).await, 0, "no email, no reminder");
    tokio::time::sleep(std::time::Duration::from_millis(1_000)).await;
    assert_eq!(reminders(cart.clone()).await, 1);
    // ...until the shopper comes back and leaves again.
    let r = stack
        .post(&shop.host, "/api/cart/lines")
        .header("x-cart-token", &cart)
        .json(&json!({"variant_id": cap, "quantity": 1}));
    assert_eq!(status_of(r).await, 200);
    backdate(&stack, &shop, &cart, 3).await;
    stack.await_mails("ada@example.com", "is waiting", 2).await;
    assert_eq!(reminders(cart.clone()).await, 2);
    stack.shutdown().await;
}

use sqlx::Connection as _;
