//! The admin's API keys, webhooks and discounts (`/admin/settings/api-keys`,
//! `/admin/settings/webhooks`, `/admin/discounts` on the store's domain),
//! over HTTP through the router as a browser without script uses them.
//! Each form's effect is read back through the JSON API it shares its
//! writes with: a key made on the page works as an `X-Api-Key` until it is
//! revoked there; an endpoint's secret shown once signs its deliveries, a
//! delivery sent again arrives again; a code made on the page takes its
//! discount off a shopper's cart. Secrets are shown once, in the answer to
//! the form, never again and never cached. Bad input is refused in words
//! with a 4xx and changes nothing; staff who are not the owner are refused
//! the keys and webhooks as the API refuses them. One browser test walks
//! the pages in Chromium with axe-core and saves their screenshots.

mod common;

use common::browser::{store_url, Browser};
use common::receiver::{Received, Receiver};
use common::shop::Shop;
use common::web::{csrf, WebClient};
use common::{status_of, Stack};
use hmac::{Hmac, Mac};
use reqwest::header::{CACHE_CONTROL, CONTENT_TYPE, COOKIE, ORIGIN};
use serde_json::{json, Value};
use sha2::Sha256;

const OWNER: (&str, &str) = ("ada@hooks.example", "correct horse battery");
const STAFF: (&str, &str) = ("bob@hooks.example", "bob's long password");

/// A store signed up for by its owner (the shop's token is the owner's
/// session), with Bob on its staff.
async fn open_store(stack: &Stack, handle: &str) -> Shop {
    let shop = Shop::signed_up(stack, handle, "Hook Lamps", OWNER).await;
    shop.staff_member(stack, STAFF.0, STAFF.1).await;
    shop
}

async fn sign_in<'a>(stack: &'a Stack, shop: &Shop, who: (&str, &str)) -> WebClient<'a> {
    let mut b = WebClient::new(stack, &shop.host);
    let p = b
        .post(
            "/admin/login",
            &[("email", who.0), ("password", who.1), ("next", "/admin")],
        )
        .await;
    assert_eq!(p.status, 303, "{} signs in: {}", who.0, p.body);
    b
}

/// `GET path` of the JSON API with the owner's token: (status, body).
async fn api(stack: &Stack, shop: &Shop, path: &str) -> (u16, Value) {
    let r = stack
        .get(&shop.host, path)
        .bearer_auth(&shop.staff)
        .send()
        .await
        .expect(path);
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// The page shows a refusal in words (an alert).
fn refused_with(body: &str, words: &str) {
    assert!(body.contains("role=\"alert\""), "an alert: {body}");
    assert!(body.contains(words), "{words:?} on the page: {body}");
}

/// The value of the page's `data-secret` field: a secret shown once.
fn secret_on(body: &str) -> String {
    let input = body
        .split("data-secret")
        .next()
        .and_then(|before| before.rsplit("<input").next())
        .expect("a secret field");
    input
        .split("value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the secret's value")
        .to_owned()
}

/// A form posted as [`WebClient::post`] does, with the answer's headers:
/// (status, `Cache-Control`, body).
async fn post_raw(b: &WebClient<'_>, path: &str, form: &[(&str, &str)]) -> (u16, String, String) {
    let body = form
        .iter()
        .map(|(k, v)| {
            format!(
                "{}={}",
                common::web::urlencode(k),
                common::web::urlencode(v)
            )
        })
        .collect::<Vec<_>>()
        .join("&");
    let r = common::web::client()
        .post(format!("{}{path}", b.stack.router.url()))
        .header("host", &b.host)
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(ORIGIN, format!("http://{}", b.host))
        .header(COOKIE, b.cookie_header())
        .body(body)
        .send()
        .await
        .expect("post");
    let status = r.status().as_u16();
    let cache = r
        .headers()
        .get(CACHE_CONTROL)
        .map(|v| v.to_str().expect("text").to_owned())
        .unwrap_or_default();
    (status, cache, r.text().await.expect("body"))
}

/// `GET /admin/api/products` with `key` as the integration sends it.
async fn with_key(stack: &Stack, shop: &Shop, path: &str, key: &str) -> u16 {
    status_of(stack.get(&shop.host, path).header("x-api-key", key)).await
}

#[tokio::test]
async fn the_owner_makes_an_api_key_that_is_shown_once_and_works_until_it_is_revoked() {
    let stack = Stack::start(1).await;
    let shop = open_store(&stack, "keyshop").await;

    // Signed out: to the sign-in page, back here after.
    let mut nobody = WebClient::new(&stack, &shop.host);
    let p = nobody.get("/admin/settings/api-keys").await;
    assert_eq!(p.status, 303);
    assert!(
        p.location.starts_with("/admin/login?next="),
        "{}",
        p.location
    );

    let mut owner = sign_in(&stack, &shop, OWNER).await;
    let p = owner.get("/admin/settings/api-keys").await;
    assert_eq!(p.status, 200, "{}", p.body);
    assert!(p.body.contains("No keys yet"));
    let token = csrf(&p.body);

    // A form without the session's token, and names the API refuses.
    let p = owner
        .post("/admin/settings/api-keys", &[("name", "Sync")])
        .await;
    assert_eq!(p.status, 403);
    let p = owner
        .post(
            "/admin/settings/api-keys",
            &[("csrf", &token), ("name", "  ")],
        )
        .await;
    assert_eq!(p.status, 400);
    refused_with(&p.body, "Name the key with 1 to 100 characters.");
    let long = "k".repeat(101);
    let p = owner
        .post(
            "/admin/settings/api-keys",
            &[("csrf", &token), ("name", &long)],
        )
        .await;
    assert_eq!(p.status, 400);
    assert!(
        p.body.contains(&format!("value=\"{long}\"")),
        "kept as typed"
    );
    let p = owner
        .post(
            "/admin/settings/api-keys",
            &[("csrf", &token), ("name", "a\u{1}b")],
        )
        .await;
    assert_eq!(p.status, 400, "control characters");
    let (_, keys) = api(&stack, &shop, "/admin/api/api-keys").await;
    assert_eq!(keys["items"], json!([]), "nothing made");

    // The key, once, in the answer to the form, never cached.
    let (status, cache, body) = post_raw(
        &owner,
        "/admin/settings/api-keys",
        &[("csrf", &token), ("name", "Warehouse sync")],
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert!(cache.contains("no-store"), "{cache}");
    assert!(body.contains("it will not be shown again"));
    let key = secret_on(&body);
    assert!(key.starts_with("mk_") && key.len() > 40, "{key}");
    let (_, keys) = api(&stack, &shop, "/admin/api/api-keys").await;
    let listed = &keys["items"][0];
    assert_eq!(listed["name"], "Warehouse sync");
    let prefix = listed["prefix"].as_str().expect("prefix");
    assert!(key.starts_with(prefix));
    let id = listed["id"].as_str().expect("id").to_owned();
    let p = owner.get("/admin/settings/api-keys").await;
    assert!(p.body.contains(prefix) && p.body.contains("Warehouse sync"));
    assert!(!p.body.contains(&key), "never shown again");
    assert!(p.body.contains(">never<"), "not used yet");

    // It works on the API as staff, never as the owner.
    assert_eq!(
        with_key(&stack, &shop, "/admin/api/products", &key).await,
        200
    );
    assert_eq!(
        with_key(&stack, &shop, "/admin/api/api-keys", &key).await,
        403
    );
    let p = owner.get("/admin/settings/api-keys").await;
    assert!(!p.body.contains(">never<"), "its last use is shown");

    // Revoking takes a ticked box; an unknown key is not found.
    let revoke = format!("/admin/settings/api-keys/{id}/revoke");
    let p = owner.post(&revoke, &[("csrf", &token)]).await;
    assert_eq!(p.status, 400);
    refused_with(&p.body, "Tick the box");
    assert_eq!(
        with_key(&stack, &shop, "/admin/api/products", &key).await,
        200
    );
    for unknown in [
        "/admin/settings/api-keys/nope/revoke".to_owned(),
        format!("/admin/settings/api-keys/{}/revoke", uuid::Uuid::new_v4()),
    ] {
        let p = owner
            .post(&unknown, &[("csrf", &token), ("confirm", "yes")])
            .await;
        assert_eq!(p.status, 404, "{unknown}");
    }

    // Bob is staff, not the owner: refused the page and its forms, and
    // no link leads him there.
    let mut bob = sign_in(&stack, &shop, STAFF).await;
    let p = bob.get("/admin/settings/api-keys").await;
    assert_eq!(p.status, 403);
    assert!(
        p.body
            .contains("Only the store&#39;s owner may manage its API keys and webhooks."),
        "{}",
        p.body
    );
    let p = bob.get("/admin/settings").await;
    assert!(!p.body.contains("href=\"/admin/settings/api-keys\""));
    let bob_token = csrf(&bob.get("/admin").await.body);
    let p = bob
        .post(
            "/admin/settings/api-keys",
            &[("csrf", &bob_token), ("name", "Bob's key")],
        )
        .await;
    assert_eq!(p.status, 403);
    assert!(!p.body.contains("mk_"));
    let p = bob
        .post(&revoke, &[("csrf", &bob_token), ("confirm", "yes")])
        .await;
    assert_eq!(p.status, 403);
    assert_eq!(
        with_key(&stack, &shop, "/admin/api/products", &key).await,
        200,
        "Bob revoked nothing"
    );
    let (_, keys) = api(&stack, &shop, "/admin/api/api-keys").await;
    assert_eq!(keys["items"].as_array().map(Vec::len), Some(1));

    // The owner revokes it: it stops working at once.
    let p = owner
        .post(&revoke, &[("csrf", &token), ("confirm", "yes")])
        .await;
    assert_eq!(
        (p.status, p.location.as_str()),
        (303, "/admin/settings/api-keys?done=revoked")
    );
    assert_eq!(
        with_key(&stack, &shop, "/admin/api/products", &key).await,
        401
    );
    let p = owner.get(&p.location).await;
    assert!(p.body.contains("The key was revoked"));
    assert!(p.body.contains("No keys yet"));
    let p = owner
        .post(&revoke, &[("csrf", &token), ("confirm", "yes")])
        .await;
    assert_eq!(p.status, 404, "revoked already");

    stack.shutdown().await;
}

fn signed_with(secret: &str, r: &Received) -> bool {
    let timestamp = &r.headers["x-mercato-timestamp"];
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("key");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(&r.body);
    let sig = hex::decode(&r.headers["x-mercato-signature"]).expect("hex signature");
    mac.verify_slice(&sig).is_ok()
}

/// The deliveries the receiver got of events about `product` (its id).
fn about(receiver: &Receiver, product: &Value) -> Vec<Received> {
    let id = product["id"].as_str().expect("product id");
    receiver
        .received()
        .into_iter()
        .filter(|r| String::from_utf8_lossy(&r.body).contains(id))
        .collect()
}

#[tokio::test]
async fn the_owner_adds_edits_rotates_redelivers_and_deletes_a_webhook_endpoint() {
    let stack = Stack::start(1).await;
    let shop = open_store(&stack, "hookshop").await;
    let receiver = Receiver::start().await;
    let mut owner = sign_in(&stack, &shop, OWNER).await;
    let p = owner.get("/admin/settings/webhooks").await;
    assert_eq!(p.status, 200, "{}", p.body);
    assert!(p.body.contains("No endpoints yet"));
    assert!(p.body.contains("value=\"products/update\""), "the topics");
    let token = csrf(&p.body);

    // Refusals keep what was typed and make nothing.
    let p = owner
        .post(
            "/admin/settings/webhooks",
            &[
                ("csrf", &token),
                ("url", "ftp://example.com/x"),
                ("topics", "orders/paid"),
            ],
        )
        .await;
    assert_eq!(p.status, 400);
    refused_with(&p.body, "Url must be an https URL.");
    assert!(p.body.contains("value=\"ftp://example.com/x\""));
    assert!(p
        .body
        .contains("name=\"topics\" type=\"checkbox\" value=\"orders/paid\" checked"));
    let p = owner
        .post(
            "/admin/settings/webhooks",
            &[("csrf", &token), ("url", &receiver.url())],
        )
        .await;
    assert_eq!(p.status, 400);
    refused_with(&p.body, "at least one topic");
    let p = owner
        .post(
            "/admin/settings/webhooks",
            &[
                ("csrf", &token),
                ("url", &receiver.url()),
                ("topics", "orders/nope"),
            ],
        )
        .await;
    assert_eq!(p.status, 400);
    assert_eq!(api(&stack, &shop, "/admin/api/webhooks").await.1, json!([]));

    // The endpoint, with its secret once, in the answer to the form.
    let (status, cache, body) = post_raw(
        &owner,
        "/admin/settings/webhooks",
        &[
            ("csrf", &token),
            ("url", &receiver.url()),
            ("topics", "products/update"),
        ],
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert!(cache.contains("no-store"), "{cache}");
    assert!(body.contains("it will not be shown again"));
    let secret = secret_on(&body);
    assert!(secret.starts_with("whsec_"), "{secret}");
    let (_, listed) = api(&stack, &shop, "/admin/api/webhooks").await;
    let id = listed[0]["id"].as_str().expect("id").to_owned();
    assert_eq!(listed[0]["url"], receiver.url());
    assert_eq!(listed[0]["topics"], json!(["products/update"]));
    let page = format!("/admin/settings/webhooks/{id}");
    let p = owner.get(&page).await;
    assert_eq!(p.status, 200);
    assert!(!p.body.contains(&secret), "never shown again");
    let p = owner.get("/admin/settings/webhooks").await;
    assert!(p.body.contains(&format!("href=\"{page}\"")));

    // Its deliveries are signed with the secret the page showed.
    let brass = stack
        .create_product(&shop.host, &shop.staff, "Brass lamp", "BRASS", 4200)
        .await;
    let first = stack
        .eventually("the product's event arrives", || async {
            about(&receiver, &brass).into_iter().next()
        })
        .await;
    assert!(signed_with(&secret, &first));

    // Edit: more topics, then disabled; no topic at all is refused.
    let p = owner
        .post(
            &page,
            &[
                ("csrf", &token),
                ("url", &receiver.url()),
                ("topics", "products/update"),
                ("topics", "orders/created"),
            ],
        )
        .await;
    assert_eq!(
        (p.status, p.location.as_str()),
        (303, &*format!("{page}?done=saved"))
    );
    let (_, hook) = api(&stack, &shop, &format!("/admin/api/webhooks/{id}")).await;
    assert_eq!(hook["topics"], json!(["products/update", "orders/created"]));
    assert_eq!(hook["enabled"], false, "the box was not ticked");
    assert_eq!(hook["disabled_reason"], "disabled by staff");
    let p = owner
        .post(
            &page,
            &[
                ("csrf", &token),
                ("url", "https://hooks.example.com/in"),
                ("enabled", "yes"),
            ],
        )
        .await;
    assert_eq!(p.status, 400);
    refused_with(&p.body, "at least one topic");
    assert!(p.body.contains("value=\"https://hooks.example.com/in\""));
    let p = owner
        .post(
            &page,
            &[
                ("csrf", &token),
                ("url", &receiver.url()),
                ("topics", "products/update"),
                ("enabled", "yes"),
            ],
        )
        .await;
    assert_eq!(p.status, 303);
    let (_, hook) = api(&stack, &shop, &format!("/admin/api/webhooks/{id}")).await;
    assert_eq!(hook["enabled"], true);
    assert_eq!(hook["topics"], json!(["products/update"]));
    assert_eq!(hook["url"], receiver.url());

    // A new secret takes a ticked box; it is shown once and signs what
    // follows.
    let rotate = format!("{page}/rotate");
    let p = owner.post(&rotate, &[("csrf", &token)]).await;
    assert_eq!(p.status, 400);
    refused_with(&p.body, "Tick the box");
    let (status, cache, body) =
        post_raw(&owner, &rotate, &[("csrf", &token), ("confirm", "yes")]).await;
    assert_eq!(status, 200, "{body}");
    assert!(cache.contains("no-store"));
    let rotated = secret_on(&body);
    assert!(rotated.starts_with("whsec_") && rotated != secret);
    let copper = stack
        .create_product(&shop.host, &shop.staff, "Copper lamp", "COPPER", 5200)
        .await;
    let second = stack
        .eventually("the next event arrives", || async {
            about(&receiver, &copper).into_iter().next()
        })
        .await;
    assert!(signed_with(&rotated, &second) && !signed_with(&secret, &second));

    // The deliveries, each sent again on a button.
    let delivered = stack
        .eventually("the deliveries are done", || async {
            let (_, d) = api(
                &stack,
                &shop,
                &format!("/admin/api/webhooks/{id}/deliveries"),
            )
            .await;
            let all = d.as_array()?.clone();
            (all.len() >= 2 && all.iter().all(|x| x["state"] == "delivered")).then_some(all)
        })
        .await;
    let first_delivery = delivered
        .iter()
        .find(|d| d["event_id"] == first.headers["x-mercato-event-id"].as_str())
        .expect("the first delivery");
    let delivery = first_delivery["id"].as_str().expect("id");
    let p = owner.get(&page).await;
    assert!(p.body.contains(&format!("data-delivery=\"{delivery}\"")));
    assert!(p.body.contains("HTTP 200"), "the receiver's answer");
    let redeliver = format!("{page}/deliveries/{delivery}/redeliver");
    assert!(p.body.contains(&format!("action=\"{redeliver}\"")));
    let p = owner.post(&redeliver, &[("csrf", &token)]).await;
    assert_eq!(
        (p.status, p.location.as_str()),
        (303, &*format!("{page}?done=redelivered"))
    );
    stack
        .eventually("the delivery arrives again", || async {
            let again = receiver
                .received()
                .iter()
                .filter(|r| {
                    r.headers.get("x-mercato-event-id") == first.headers.get("x-mercato-event-id")
                })
                .count();
            (again == 2).then_some(())
        })
        .await;
    stack
        .eventually("the API counts the second attempt", || async {
            let (_, d) = api(
                &stack,
                &shop,
                &format!("/admin/api/webhooks/{id}/deliveries"),
            )
            .await;
            let again = d.as_array()?.iter().find(|x| x["id"] == delivery)?.clone();
            (again["attempt_count"] == 2 && again["state"] == "delivered").then_some(())
        })
        .await;
    for unknown in [
        format!("{page}/deliveries/{}/redeliver", uuid::Uuid::new_v4()),
        format!("{page}/deliveries/nope/redeliver"),
        format!("/admin/settings/webhooks/{}", uuid::Uuid::new_v4()),
    ] {
        let p = owner.post(&unknown, &[("csrf", &token)]).await;
        assert_eq!(p.status, 404, "{unknown}");
    }

    // Bob is staff, not the owner: refused every page and form.
    let mut bob = sign_in(&stack, &shop, STAFF).await;
    let bob_token = csrf(&bob.get("/admin").await.body);
    assert_eq!(bob.get("/admin/settings/webhooks").await.status, 403);
    assert_eq!(bob.get(&page).await.status, 403);
    for (path, form) in [
        (
            "/admin/settings/webhooks".to_owned(),
            vec![("url", receiver.url()), ("topics", "orders/paid".into())],
        ),
        (rotate.clone(), vec![("confirm", "yes".into())]),
        (format!("{page}/delete"), vec![("confirm", "yes".into())]),
        (redeliver.clone(), vec![]),
    ] {
        let mut fields: Vec<(&str, &str)> = vec![("csrf", &bob_token)];
        fields.extend(form.iter().map(|(k, v)| (*k, v.as_str())));
        let p = bob.post(&path, &fields).await;
        assert_eq!(p.status, 403, "{path}");
        assert!(!p.body.contains("whsec_"), "{path}");
    }
    assert_eq!(
        api(&stack, &shop, "/admin/api/webhooks")
            .await
            .1
            .as_array()
            .map(Vec::len),
        Some(1)
    );

    // Deleting takes a ticked box.
    let delete = format!("{page}/delete");
    let p = owner.post(&delete, &[("csrf", &token)]).await;
    assert_eq!(p.status, 400);
    refused_with(&p.body, "Tick the box");
    let p = owner
        .post(&delete, &[("csrf", &token), ("confirm", "yes")])
        .await;
    assert_eq!(
        (p.status, p.location.as_str()),
        (303, "/admin/settings/webhooks?done=deleted")
    );
    assert_eq!(
        api(&stack, &shop, &format!("/admin/api/webhooks/{id}"))
            .await
            .0,
        404
    );
    assert_eq!(owner.get(&page).await.status, 404);

    stack.shutdown().await;
}

/// `GET path` of the discounts API as staff: the body (200 expected).
async fn discount_api(stack: &Stack, shop: &Shop, path: &str) -> Value {
    let (status, body) = api(stack, shop, path).await;
    assert_eq!(status, 200, "{path}: {body}");
    body
}

#[tokio::test]
async fn staff_define_discounts_and_their_codes_and_a_code_made_on_the_page_applies_to_a_cart() {
    let stack = Stack::start(1).await;
    let shop = open_store(&stack, "promoshop").await;
    let other = Shop::open(&stack, "otherpromo").await;
    let (product, variant) = shop.product(&stack, "LAMP", 1000, 20).await;
    let theirs = stack
        .post(&other.host, "/admin/api/discounts")
        .bearer_auth(&other.staff)
        .json(&json!({"title": "Theirs", "method": "automatic",
            "kind": {"kind": "order", "value": {"type": "percentage", "value": 500}}}))
        .send()
        .await
        .expect("their discount")
        .json::<Value>()
        .await
        .expect("json");
    let theirs = theirs["id"].as_str().expect("id").to_owned();

    // Discounts are any staff member's, as the API's are: Bob's here.
    let mut nobody = WebClient::new(&stack, &shop.host);
    assert_eq!(nobody.get("/admin/discounts").await.status, 303);
    let mut b = sign_in(&stack, &shop, STAFF).await;
    let p = b.get("/admin").await;
    assert!(p.body.contains("href=\"/admin/discounts\""), "the nav");
    let p = b.get("/admin/discounts").await;
    assert_eq!(p.status, 200, "{}", p.body);
    assert!(p.body.contains("No discounts yet"));
    let p = b.get("/admin/discounts/new?kind=order").await;
    assert_eq!(p.status, 200, "{}", p.body);
    let token = csrf(&p.body);
    let spring = [
        ("title", "Spring sale"),
        ("method", "code"),
        ("code", "spring10"),
        ("kind", "order"),
        ("value_type", "percentage"),
        ("value", "10"),
        ("min_subtotal", "5"),
        ("usage_limit", "100"),
        ("customers", "anyone"),
        ("combines_shipping", "yes"),
        ("status", "active"),
    ];
    let with = |changes: &[(&'static str, &'static str)]| {
        let mut form: Vec<(&str, &str)> = spring
            .iter()
            .filter(|(k, _)| !changes.iter().any(|(c, _)| c == k))
            .copied()
            .collect();
        form.extend(changes.iter().filter(|(_, v)| !v.is_empty()).copied());
        form.push(("csrf", &token));
        form
    };

    // Refusals: the page's own (not a number) and the API's (a rule), in
    // words, the form as typed; nothing is made.
    let p = b.post("/admin/discounts", &spring).await;
    assert_eq!(p.status, 403, "no CSRF token");
    let p = b.post("/admin/discounts", &with(&[("value", "ten")])).await;
    assert_eq!(p.status, 400);
    refused_with(&p.body, "Enter the percentage off as a number");
    assert!(p.body.contains("value=\"Spring sale\""), "kept as typed");
    let p = b.post("/admin/discounts", &with(&[("value", "0")])).await;
    assert_eq!(p.status, 422, "the API's rule");
    refused_with(&p.body, "basis points");
    let p = b
        .post("/admin/discounts", &with(&[("code", "no spaces")]))
        .await;
    assert_eq!(p.status, 422);
    let p = b
        .post(
            "/admin/discounts",
            &with(&[
                ("customers", "only"),
                ("customer_list", "nobody@example.com"),
            ]),
        )
        .await;
    assert_eq!(p.status, 400);
    refused_with(
        &p.body,
        "No customer of the store has the email nobody@example.com.",
    );
    let p = b
        .post(
            "/admin/discounts",
            &with(&[
                ("starts_at", "2030-01-02T00:00"),
                ("ends_at", "2030-01-01T00:00"),
            ]),
        )
        .await;
    assert_eq!(p.status, 422);
    refused_with(&p.body, "must be after starts_at");
    let listed = discount_api(&stack, &shop, "/admin/api/discounts").await;
    assert_eq!(listed["items"], json!([]));

    // A code discount.
    let p = b.post("/admin/discounts", &with(&[])).await;
    assert_eq!(p.status, 303, "{}", p.body);
    let id = p
        .location
        .strip_prefix("/admin/discounts/")
        .and_then(|rest| rest.strip_suffix("?done=created"))
        .expect("to the discount's page")
        .to_owned();
    let d = discount_api(&stack, &shop, &format!("/admin/api/discounts/{id}")).await;
    assert_eq!(d["method"], "code");
    assert_eq!(
        d["kind"],
        json!({"kind": "order", "value": {"type": "percentage", "value": 1000}})
    );
    assert_eq!(d["min_subtotal_minor"], 500);
    assert_eq!(d["usage_limit"], 100);
    assert_eq!(
        d["combines_with"],
        json!({"order": false, "product": false, "shipping": true})
    );
    assert_eq!(d["codes_count"], 1);
    let page = format!("/admin/discounts/{id}");
    let p = b.get(&p.location).await;
    assert!(p.body.contains("The discount was created"));
    assert!(p.body.contains("10 % off the order"));
    assert!(p.body.contains("<code>SPRING10</code>"));
    assert!(p.body.contains("value=\"5.00\""), "the subtotal to edit");

    // Codes: one, taken without case, many, and the CSV.
    let p = b
        .post(
            &format!("{page}/codes"),
            &[("csrf", &token), ("code", "Spring10")],
        )
        .await;
    assert_eq!(p.status, 409);
    refused_with(&p.body, "is taken");
    assert!(p.body.contains("value=\"Spring10\""));
    let p = b
        .post(
            &format!("{page}/codes"),
            &[("csrf", &token), ("code", "x"), ("code_limit", "3")],
        )
        .await;
    assert_eq!(p.status, 400);
    let p = b
        .post(
            &format!("{page}/codes"),
            &[("csrf", &token), ("code", "extra-5"), ("code_limit", "3")],
        )
        .await;
    assert_eq!(
        (p.status, p.location.as_str()),
        (303, &*format!("{page}?done=code_added"))
    );
    for (count, status) in [("0", 400), ("10001", 400), ("many", 400)] {
        let p = b
            .post(
                &format!("{page}/codes/bulk"),
                &[("csrf", &token), ("count", count)],
            )
            .await;
        assert_eq!(p.status, status, "{count}");
        assert!(p.body.contains("role=\"alert\""), "{count}");
    }
    let p = b
        .post(
            &format!("{page}/codes/bulk"),
            &[
                ("csrf", &token),
                ("count", "25"),
                ("prefix", "vip-"),
                ("length", "8"),
            ],
        )
        .await;
    assert_eq!(
        (p.status, p.location.as_str()),
        (303, &*format!("{page}?done=generated"))
    );
    let codes = discount_api(&stack, &shop, &format!("/admin/api/discounts/{id}/codes")).await;
    let codes = codes["items"].as_array().expect("codes").clone();
    assert_eq!(codes.len(), 27);
    let extra = codes
        .iter()
        .find(|c| c["code"] == "EXTRA-5")
        .expect("EXTRA-5");
    assert_eq!(extra["usage_limit"], 3);
    let vip: Vec<&str> = codes
        .iter()
        .filter_map(|c| c["code"].as_str())
        .filter(|c| c.starts_with("VIP-"))
        .collect();
    assert_eq!(vip.len(), 25);
    assert!(vip.iter().all(|c| c.len() == 12));
    let r = common::web::client()
        .get(format!("{}{page}/codes.csv", stack.router.url()))
        .header("host", &shop.host)
        .header(COOKIE, b.cookie_header())
        .send()
        .await
        .expect("csv");
    assert_eq!(r.status(), 200);
    assert!(r.headers()[CONTENT_TYPE]
        .to_str()
        .expect("type")
        .starts_with("text/csv"));
    let csv = r.text().await.expect("csv");
    assert_eq!(csv.lines().count(), 28, "{csv}");
    assert!(csv.starts_with("code,usage_limit,used_count,created_at\n"));
    assert!(vip.iter().all(|c| csv.contains(&format!("{c},1,0,"))));
    assert_eq!(nobody.get(&format!("{page}/codes.csv")).await.status, 303);

    // Edit: 15 % off, no minimum; a code made on the page takes it off a
    // shopper's cart.
    let p = b
        .post(
            &page,
            &[
                ("csrf", &token),
                ("title", "Spring sale"),
                ("kind", "order"),
                ("value_type", "percentage"),
                ("value", "15"),
                ("customers", "anyone"),
                ("status", "active"),
            ],
        )
        .await;
    assert_eq!(
        (p.status, p.location.as_str()),
        (303, &*format!("{page}?done=saved"))
    );
    let d = discount_api(&stack, &shop, &format!("/admin/api/discounts/{id}")).await;
    assert_eq!(d["kind"]["value"]["value"], 1500);
    assert_eq!(d["min_subtotal_minor"], Value::Null);
    assert_eq!(d["usage_limit"], Value::Null);
    assert_eq!(d["codes_count"], 27, "its codes stay");
    let cart = shop.cart(&stack, &[(variant.as_str(), 2)]).await;
    let r = stack
        .post(&shop.host, "/api/cart/discount-codes")
        .header("x-cart-token", &cart)
        .json(&json!({"code": vip[0].to_lowercase()}))
        .send()
        .await
        .expect("enter the code");
    assert_eq!(r.status(), 200);
    let c: Value = r.json().await.expect("cart");
    assert_eq!(c["discounts"]["applied"][0]["amount_minor"], 300, "{c}");
    // A refused edit changes nothing and keeps what was typed.
    let p = b
        .post(
            &page,
            &[
                ("csrf", &token),
                ("title", "Spring sale"),
                ("kind", "order"),
                ("value_type", "amount"),
                ("value", "2.5.0"),
            ],
        )
        .await;
    assert_eq!(p.status, 400);
    refused_with(&p.body, "Enter the amount off");
    assert!(p.body.contains("value=\"2.5.0\""));
    let d = discount_api(&stack, &shop, &format!("/admin/api/discounts/{id}")).await;
    assert_eq!(d["kind"]["value"]["value"], 1500);

    // An automatic buy-one-get-one for signed-in shoppers, its kind and
    // conditions read back; products chosen from the store's.
    let p = b.get("/admin/discounts/new?kind=buy_x_get_y").await;
    assert!(p.body.contains(&format!(
        "<option value=\"{product}\">Product LAMP</option>"
    )));
    let p = b
        .post(
            "/admin/discounts",
            &[
                ("csrf", &token),
                ("title", "Lamp for a lamp"),
                ("method", "automatic"),
                ("kind", "buy_x_get_y"),
                ("buy_products", &product),
                ("buy_quantity", "1"),
                ("get_variants", &variant),
                ("get_quantity", "1"),
                ("get_percent", "100"),
                ("max_per_order", "2"),
                ("customers", "signed_in"),
                ("first_order_only", "yes"),
                ("per_customer_limit", "1"),
                ("starts_at", "2030-01-01T09:30"),
                ("status", "disabled"),
            ],
        )
        .await;
    assert_eq!(p.status, 303, "{}", p.body);
    let bogo = p
        .location
        .strip_prefix("/admin/discounts/")
        .and_then(|rest| rest.strip_suffix("?done=created"))
        .expect("its page")
        .to_owned();
    let d = discount_api(&stack, &shop, &format!("/admin/api/discounts/{bogo}")).await;
    assert_eq!(d["method"], "automatic");
    assert_eq!(
        d["kind"],
        json!({"kind": "buy_x_get_y",
            "buy": {"products": [product], "variants": [], "collections": []}, "buy_quantity": 1,
            "get": {"products": [], "variants": [variant], "collections": []}, "get_quantity": 1,
            "percent_bp": 10000, "max_per_order": 2})
    );
    assert_eq!(d["customers"], json!({"type": "signed_in"}));
    assert_eq!(d["first_order_only"], true);
    assert_eq!(d["per_customer_limit"], 1);
    assert_eq!(d["starts_at"], "2030-01-01T09:30:00Z");
    assert_eq!(d["status"], "disabled");
    let p = b.get(&format!("/admin/discounts/{bogo}")).await;
    assert!(p.body.contains("An automatic discount has no codes"));
    assert!(p.body.contains("Buy 1, get 1 free"));
    assert!(p
        .body
        .contains(&format!("<option value=\"{variant}\" selected>")));
    assert!(p.body.contains("value=\"2030-01-01T09:30\""));
    let p = b
        .post(
            &format!("/admin/discounts/{bogo}/codes"),
            &[("csrf", &token), ("code", "BOGO-1")],
        )
        .await;
    assert_eq!(p.status, 422, "an automatic discount has no codes");

    // Free shipping to two countries, for named customers.
    common::register_customer(
        &stack,
        &shop.host,
        json!({"email": "cy@example.com", "password": "cy's long password",
            "first_name": "Cy", "last_name": "Shopper"}),
        None,
    )
    .await;
    let p = b
        .post(
            "/admin/discounts",
            &[
                ("csrf", &token),
                ("title", "Ships free"),
                ("method", "code"),
                ("code", "SHIPFREE"),
                ("kind", "free_shipping"),
                ("countries", "us, ca"),
                ("max_shipping", "20"),
                ("customers", "only"),
                ("customer_list", "CY@example.com"),
            ],
        )
        .await;
    assert_eq!(p.status, 303, "{}", p.body);
    let ships = discount_api(&stack, &shop, "/admin/api/discounts").await["items"][0].clone();
    assert_eq!(
        ships["kind"],
        json!({"kind": "free_shipping", "countries": ["US", "CA"], "max_shipping_minor": 2000})
    );
    assert_eq!(ships["customers"]["type"], "only");
    let p = b
        .get(&format!(
            "/admin/discounts/{}",
            ships["id"].as_str().expect("id")
        ))
        .await;
    assert!(
        p.body.contains("cy@example.com"),
        "customers shown by email"
    );

    // The list, and ids that are not this store's.
    let p = b.get("/admin/discounts").await;
    for title in ["Spring sale", "Lamp for a lamp", "Ships free"] {
        assert!(p.body.contains(title), "{title}");
    }
    assert!(p.body.contains("27 codes"));
    for path in [
        format!("/admin/discounts/{theirs}"),
        format!("/admin/discounts/{}", uuid::Uuid::new_v4()),
        "/admin/discounts/nope".to_owned(),
        format!("/admin/discounts/{theirs}/codes.csv"),
    ] {
        assert_eq!(b.get(&path).await.status, 404, "{path}");
    }
    let p = b
        .post(
            &format!("/admin/discounts/{theirs}/delete"),
            &[("csrf", &token), ("confirm", "yes")],
        )
        .await;
    assert_eq!(p.status, 404);
    assert_eq!(
        status_of(
            stack
                .get(&other.host, &format!("/admin/api/discounts/{theirs}"))
                .bearer_auth(&other.staff)
        )
        .await,
        200,
        "theirs stays"
    );

    // Deleting takes a ticked box.
    let p = b
        .post(
            &format!("/admin/discounts/{bogo}/delete"),
            &[("csrf", &token)],
        )
        .await;
    assert_eq!(p.status, 400);
    refused_with(&p.body, "Tick the box");
    let p = b
        .post(
            &format!("/admin/discounts/{bogo}/delete"),
            &[("csrf", &token), ("confirm", "yes")],
        )
        .await;
    assert_eq!(
        (p.status, p.location.as_str()),
        (303, "/admin/discounts?done=deleted")
    );
    assert_eq!(
        api(&stack, &shop, &format!("/admin/api/discounts/{bogo}"))
            .await
            .0,
        404
    );

    stack.shutdown().await;
}

#[tokio::test]
async fn the_owner_walks_the_keys_webhooks_and_discounts_pages_in_a_browser() {
    let (stack, b) = tokio::join!(Stack::start(1), Browser::desktop());
    let shop = open_store(&stack, "hooklamps").await;
    let receiver = Receiver::start().await;
    let (lamp, _) = shop.product(&stack, "DESK", 3900, 10).await;

    b.goto(&store_url(&stack, &shop.host, "/admin/login")).await;
    b.fill("#email", OWNER.0).await;
    b.fill("#password", OWNER.1).await;
    b.click(".stack-form button[type=submit]").await;
    b.wait_for_text_in("h1", "Dashboard").await;

    // API keys: one made, its key shown once.
    b.goto(&store_url(&stack, &shop.host, "/admin/settings/api-keys"))
        .await;
    b.wait_for_text_in("h1", "API keys").await;
    b.fill("#key-name", "Warehouse sync").await;
    b.click(".new-key-form button[type=submit]").await;
    b.wait_for_text("it will not be shown again").await;
    let key = b
        .find("#new-key")
        .await
        .prop("value")
        .await
        .expect("value")
        .expect("a key");
    assert!(key.starts_with("mk_"));
    b.screenshot("docs/admin/api-keys-desktop.png").await;
    b.assert_accessible("the API keys, with a new key").await;

    // Webhooks: an endpoint, its secret, its deliveries.
    b.goto(&store_url(&stack, &shop.host, "/admin/settings/webhooks"))
        .await;
    b.wait_for_text_in("h1", "Webhooks").await;
    b.fill("#url", &receiver.url()).await;
    for topic in [
        "orders/created",
        "products/update",
        "inventory_levels/update",
    ] {
        b.click(&format!("input[name=topics][value='{topic}']"))
            .await;
    }
    b.click(".new-endpoint-form button[type=submit]").await;
    b.wait_for_text_in("h1", "Webhook endpoint").await;
    b.wait_for("#secret").await;
    b.assert_accessible("a new endpoint, with its secret").await;
    let floor = stack
        .create_product(&shop.host, &shop.staff, "Floor lamp", "FLOOR", 12900)
        .await;
    stack
        .eventually("the endpoint gets the event", || async {
            (!about(&receiver, &floor).is_empty()).then_some(())
        })
        .await;
    let id = stack
        .eventually("the delivery is recorded as delivered", || async {
            let (_, hooks) = api(&stack, &shop, "/admin/api/webhooks").await;
            let id = hooks[0]["id"].as_str()?.to_owned();
            let (_, d) = api(
                &stack,
                &shop,
                &format!("/admin/api/webhooks/{id}/deliveries"),
            )
            .await;
            d.as_array()?
                .iter()
                .any(|x| x["state"] == "delivered")
                .then_some(id)
        })
        .await;
    b.goto(&store_url(
        &stack,
        &shop.host,
        &format!("/admin/settings/webhooks/{id}"),
    ))
    .await;
    b.wait_for_text_in(".deliveries", "HTTP 200").await;
    b.screenshot("docs/admin/webhook-desktop.png").await;
    b.assert_accessible("an endpoint with its deliveries").await;
    b.click(".redeliver-form button[type=submit]").await;
    b.wait_for_text("The delivery will be sent again").await;
    b.click("a[href='/admin/settings/webhooks']").await;
    b.wait_for_text_in(".endpoints", &receiver.url()).await;
    b.screenshot("docs/admin/webhooks-desktop.png").await;
    b.assert_accessible("the webhooks").await;

    // Discounts: a new one of each richer kind checked, one made with
    // codes.
    b.click("nav a[href='/admin/discounts']").await;
    b.wait_for_text_in("h1", "Discounts").await;
    b.assert_accessible("no discounts yet").await;
    b.click("a[href='/admin/discounts/new']").await;
    b.wait_for_text_in("h1", "New discount").await;
    b.click("a[href='/admin/discounts/new?kind=buy_x_get_y']")
        .await;
    b.wait_for("#buy-products").await;
    b.assert_accessible("a new buy X get Y discount").await;
    b.click("a[href='/admin/discounts/new?kind=order']").await;
    b.wait_for("#d-value").await;
    b.fill("#d-title", "Spring sale").await;
    b.fill("#d-code", "SPRING10").await;
    b.fill("#d-value", "10").await;
    b.fill("#d-min-subtotal", "25").await;
    b.fill("#d-usage-limit", "500").await;
    b.click("#d-with-shipping").await;
    b.click(".discount-form button[type=submit]").await;
    b.wait_for_text("The discount was created").await;
    b.fill("#bulk-count", "12").await;
    b.fill("#bulk-prefix", "VIP-").await;
    b.click(".bulk-form button[type=submit]").await;
    b.wait_for_text("The codes were made").await;
    b.wait_for_text_in("[data-codes-count]", "13").await;
    b.screenshot("docs/admin/discount-desktop.png").await;
    b.assert_accessible("a discount with its codes").await;
    for body in [
        json!({"title": "Free shipping over $50", "method": "automatic", "min_subtotal_minor": 5000,
            "kind": {"kind": "free_shipping", "countries": ["US", "CA"]}}),
        json!({"title": "Two lamps, a third free", "method": "automatic", "status": "disabled",
            "starts_at": "2030-06-01T00:00:00Z", "ends_at": "2030-06-30T00:00:00Z",
            "kind": {"kind": "buy_x_get_y", "buy": {"products": [lamp]}, "buy_quantity": 2,
                "get": {"products": [lamp]}, "get_quantity": 1, "percent_bp": 10000}}),
    ] {
        let r = stack
            .post(&shop.host, "/admin/api/discounts")
            .bearer_auth(&shop.staff)
            .json(&body);
        assert_eq!(status_of(r).await, 201, "{body}");
    }
    b.click("a[href='/admin/discounts']").await;
    b.wait_for_text_in(".discounts", "Two lamps, a third free")
        .await;
    b.screenshot("docs/admin/discounts-desktop.png").await;
    b.assert_accessible("the discounts").await;

    b.close().await;
    stack.shutdown().await;
}
