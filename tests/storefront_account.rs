//! The customer's account on the storefront, over HTTP through the router,
//! as a browser without script uses it: register and confirm by the mailed
//! link, sign in (the guest cart comes along), buy signed in, find the
//! order in the account, keep addresses, send items back, sign out, and
//! reset a forgotten password. (tests/storefront.rs drives a real
//! Chromium through the same pages.)

mod common;

use common::shop::Shop;
use common::web::{client, urlencode, Page, WebClient as Browser};
use common::Stack;
use reqwest::header::{CONTENT_TYPE, COOKIE, LOCATION, ORIGIN};

/// The `action` of the form with `class`.
fn form_action(html: &str, class: &str) -> String {
    let at = html
        .find(&format!("class=\"{class}\""))
        .unwrap_or_else(|| panic!("no {class} form in {html}"));
    let start = html[..at].rfind("<form").expect("a form tag");
    html[start..at]
        .split("action=\"")
        .nth(1)
        .and_then(|a| a.split('"').next())
        .expect("an action")
        .replace("&amp;", "&")
}

/// The newest token of the outbox's `kind` events for `email`.
async fn mailed_token(shop: &Shop, stack: &Stack, kind: &str, email: &str) -> String {
    let mut db = shop.db(stack).await;
    sqlx::query_scalar(
        "SELECT payload->>'token' FROM outbox
         WHERE store_id = $1 AND type = $2 AND payload->>'email' = $3 ORDER BY id DESC LIMIT 1",
    )
    .bind(shop.id.as_uuid())
    .bind(kind)
    .bind(email)
    .fetch_one(&mut db)
    .await
    .expect("a mailed token")
}

/// Pays on the gateway's card form (the pod never sees the card) and comes
/// back to the store: the answer of `/checkout/complete`.
async fn pay(b: &mut Browser<'_>, pay_url: &str) -> Page {
    let r = client()
        .post(pay_url)
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body("number=4242424242424242&exp=12%2F30&cvc=123")
        .send()
        .await
        .expect("pay");
    assert_eq!(r.status(), 303);
    let back = r.headers()[LOCATION].to_str().expect("text").to_owned();
    let path = back
        .split_once("://")
        .and_then(|(_, rest)| rest.split_once('/'))
        .map(|(_, p)| format!("/{p}"))
        .expect("an absolute return URL");
    b.get(&path).await
}

#[tokio::test]
async fn a_customer_registers_buys_signed_in_and_keeps_an_account() {
    let stack = Stack::start(1).await;
    let shop = Shop::open(&stack, "accounts").await;
    let other = Shop::open(&stack, "elsewhere").await;
    let (_, variant) = shop.product(&stack, "SHIRT-1", 4000, 10).await;
    let variant = variant.as_str();
    let mut b = Browser::new(&stack, &shop.host);

    // Before she has an account, Grace bought as a guest (and so did
    // someone else).
    let mut guest_numbers = Vec::new();
    for (i, buyer) in ["GRACE@example.com", "someone@example.com"]
        .iter()
        .enumerate()
    {
        let token = shop.cart(&stack, &[(variant, 1)]).await;
        let mut body = common::shop::checkout_body(common::shop::CARD_OK);
        body["email"] = (*buyer).into();
        let r = shop
            .checkout_with(&stack, &token, &format!("guest-{i}"), &body)
            .send()
            .await
            .expect("checkout");
        assert_eq!(r.status(), 201, "a guest order");
        let placed: serde_json::Value = r.json().await.expect("json");
        guest_numbers.push(placed["number"].as_i64().expect("number"));
    }

    // A guest with a cart; the account asks to sign in first.
    let p = b.post("/cart/add", &[("variant_id", variant)]).await;
    assert_eq!(p.status, 303);
    assert!(b.cookie("mercato_cart").is_some());
    let p = b.get("/account").await;
    assert_eq!(
        (p.status, p.location.as_str()),
        (303, "/account/login?next=%2Faccount")
    );
    let p = b.get("/account/login?next=%2Faccount").await;
    assert_eq!(p.status, 200);
    assert!(p.body.contains("Forgot your password?"), "{}", p.body);

    // Every form page of the account shows.
    for (path, heading) in [
        ("/account/register", "Create an account"),
        ("/account/reset", "Reset your password"),
        ("/account/reset-password?token=x", "Choose a new password"),
        ("/account/confirm?token=x", "Confirm your account"),
    ] {
        let p = b.get(path).await;
        assert_eq!(p.status, 200, "{path}: {}", p.body);
        assert!(p.body.contains(&format!("<h1>{heading}</h1>")), "{path}");
    }

    // Registration: refused in words, then "check your mail", the same for
    // an email that has an account already.
    let email = "grace@example.com";
    let p = b
        .post(
            "/account/register",
            &[
                ("email", email),
                ("password", "short"),
                ("first_name", "Grace"),
            ],
        )
        .await;
    assert_eq!(p.status, 422);
    assert!(p.body.contains("Password must"), "{}", p.body);
    assert!(
        p.body.contains("value=\"Grace\""),
        "the form keeps what was typed"
    );
    let p = b
        .post(
            "/account/register",
            &[
                ("email", email),
                ("password", "correct horse battery"),
                ("first_name", "Grace"),
                ("last_name", "Hopper"),
            ],
        )
        .await;
    assert_eq!(p.status, 202);
    assert!(p.body.contains("Check your email"), "{}", p.body);

    // The mail's link asks for the password before it acts.
    let token = mailed_token(&shop, &stack, "customer.confirmation_requested", email).await;
    let p = b.get(&format!("/account/confirm?token={token}")).await;
    assert_eq!(p.status, 200);
    assert!(p.body.contains("Confirm and sign in"));
    let p = b
        .post(
            "/account/confirm",
            &[("token", &token), ("password", "not the password")],
        )
        .await;
    assert_eq!(p.status, 401);
    assert!(p.body.contains("not the password you chose"), "{}", p.body);
    let r = client()
        .post(format!("{}/account/confirm", stack.router.url()))
        .header("host", &shop.host)
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(COOKIE, b.cookie_header())
        .body(format!(
            "token={token}&password={}",
            urlencode("correct horse battery")
        ))
        .send()
        .await
        .expect("confirm");
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()[LOCATION], "/account?welcome=1");
    let set = b.keep(&r);
    let session = set
        .iter()
        .find(|c| c.starts_with("mercato_session="))
        .expect("a session cookie");
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(session.contains(attribute), "{session}");
    }
    assert!(
        set.iter().any(|c| c.starts_with("mercato_cart_count=1")),
        "the guest's cart came along: {set:?}"
    );

    // Signed in: the account, and the cart the guest filled.
    let p = b.get("/account?welcome=1").await;
    assert_eq!(p.status, 200);
    assert!(p.body.contains("Your account is confirmed"), "{}", p.body);
    // The confirmation proved her address: her guest order is hers now,
    // someone else's is not.
    assert!(
        p.body.contains(&format!("#{}", guest_numbers[0])),
        "{}",
        p.body
    );
    assert!(!p.body.contains(&format!("#{}", guest_numbers[1])));
    assert!(p.body.contains("value=\"Hopper\""));
    let p = b.get("/cart").await;
    assert!(p.body.contains("Product SHIRT-1"), "{}", p.body);

    // The checkout knows who is buying; the address is saved on the way.
    let p = b.get("/checkout").await;
    assert!(
        p.body
            .contains("Signed in as <strong>grace@example.com</strong>"),
        "{}",
        p.body
    );
    let address = [
        ("name", "Grace Hopper"),
        ("line1", "1 Navy Yard"),
        ("city", "Arlington"),
        ("region", "VA"),
        ("postal_code", "22202"),
        ("country", "us"),
        ("save_address", "1"),
    ];
    let p = b.post("/checkout", &address).await;
    assert_eq!(p.status, 303, "{}", p.body);
    let p = b.get(&p.location.clone()).await;
    assert_eq!(p.status, 200);
    let p = pay(&mut b, &form_action(&p.body, "card-form")).await;
    assert_eq!(p.status, 303, "{}", p.body);
    assert!(p.location.starts_with("/orders/"), "{}", p.location);
    let p = b.get(&p.location.clone()).await;
    assert!(p.body.contains("Thank you for your order"), "{}", p.body);
    assert!(p.body.contains("grace@example.com"));

    // The order is in the account, and its page needs no token there.
    let p = b.get("/account").await;
    let number: i64 = shop
        .count(&stack, "SELECT max(number) FROM orders WHERE store_id = $1")
        .await;
    assert!(p.body.contains(&format!("#{number}")), "{}", p.body);
    assert!(p.body.contains(">paid<"), "{}", p.body);
    assert!(p.body.contains("1 Navy Yard"), "the default address");
    let p = b.get(&format!("/orders/{number}")).await;
    assert_eq!(p.status, 200);
    assert!(p.body.contains(&format!("Order #{number}")), "{}", p.body);
    assert!(!p.body.contains("Thank you"));

    // A customer's order: a stranger is sent to sign in, another customer
    // does not find it, and another store does not know the session.
    let mut stranger = Browser::new(&stack, &shop.host);
    let p = stranger.get(&format!("/orders/{number}")).await;
    assert_eq!(p.status, 303);
    assert!(
        p.location.starts_with("/account/login?next="),
        "{}",
        p.location
    );
    let p = stranger
        .get(&format!("/orders/{number}?token={}", "a".repeat(64)))
        .await;
    assert_eq!(p.status, 404);
    let mut elsewhere = Browser::new(&stack, &other.host);
    elsewhere.cookies = b.cookies.clone();
    let p = elsewhere.get("/account").await;
    assert_eq!(p.status, 303, "another store's session is nobody here");

    // The address book: the checkout's address, another one made the
    // default, a bad one refused in words, one deleted.
    let p = b.get("/account/addresses").await;
    assert!(p.body.contains("1 Navy Yard"), "{}", p.body);
    assert!(p.body.contains("Default"));
    let p = b
        .post(
            "/account/addresses",
            &[
                ("name", "Grace Hopper"),
                ("line1", "2 Harbor Rd"),
                ("city", "Boston"),
                ("country", ""),
            ],
        )
        .await;
    assert!(p.status == 400 || p.status == 422, "{}", p.status);
    assert!(p.body.contains("country"), "{}", p.body);
    assert!(
        p.body.contains("value=\"2 Harbor Rd\""),
        "the form keeps what was typed"
    );
    let p = b
        .post(
            "/account/addresses",
            &[
                ("name", "Grace Hopper"),
                ("line1", "2 Harbor Rd"),
                ("city", "Boston"),
                ("country", "US"),
                ("is_default", "1"),
            ],
        )
        .await;
    assert_eq!((p.status, p.location.as_str()), (303, "/account/addresses"));
    let mut db = shop.db(&stack).await;
    let book: Vec<(uuid::Uuid, String, bool)> = sqlx::query_as(
        "SELECT id, line1, is_default FROM customer_addresses WHERE store_id = $1 ORDER BY created_at",
    )
    .bind(shop.id.as_uuid())
    .fetch_all(&mut db)
    .await
    .expect("book");
    assert_eq!(
        book.iter()
            .map(|(_, l, d)| (l.as_str(), *d))
            .collect::<Vec<_>>(),
        vec![("1 Navy Yard", false), ("2 Harbor Rd", true)]
    );
    let p = b
        .post(&format!("/account/addresses/{}/default", book[0].0), &[])
        .await;
    assert_eq!(p.status, 303);
    let p = b
        .post(&format!("/account/addresses/{}/delete", book[1].0), &[])
        .await;
    assert_eq!(p.status, 303);
    let p = b.get("/account/addresses").await;
    assert!(!p.body.contains("2 Harbor Rd") && p.body.contains("1 Navy Yard"));
    // Another customer's address is nobody's here.
    let p = stranger
        .post(&format!("/account/addresses/{}/delete", book[0].0), &[])
        .await;
    assert_eq!(p.status, 303);
    assert!(p.location.starts_with("/account/login"));

    // The profile.
    let p = b
        .post(
            "/account/profile",
            &[
                ("first_name", "Amazing"),
                ("last_name", "Grace"),
                ("phone", "+1 555 0100"),
            ],
        )
        .await;
    assert_eq!((p.status, p.location.as_str()), (303, "/account?saved=1"));
    let p = b.get("/account?saved=1").await;
    assert!(p.body.contains("value=\"Amazing\"") && p.body.contains("saved"));
    let p = b
        .post("/account/profile", &[("first_name", "a\u{7}b")])
        .await;
    assert_eq!(p.status, 400, "a control character");

    // Delivered, some of it goes back.
    let order_id: uuid::Uuid =
        sqlx::query_scalar("SELECT id FROM orders WHERE store_id = $1 AND number = $2")
            .bind(shop.id.as_uuid())
            .bind(number)
            .fetch_one(&mut db)
            .await
            .expect("order");
    shop.deliver(&stack, &order_id.to_string()).await;
    let p = b.get(&format!("/orders/{number}")).await;
    assert!(p.body.contains("Send items back"), "{}", p.body);
    let path = format!("/orders/{number}/returns");
    let p = b
        .post(&path, &[("qty.0", "0"), ("reason", "Too big")])
        .await;
    assert_eq!(p.status, 422);
    assert!(p.body.contains("Choose how many"), "{}", p.body);
    let p = b
        .post(&path, &[("qty.0", "1"), ("reason", "Too big")])
        .await;
    assert_eq!(p.status, 303, "{}", p.body);
    let p = b.get(&p.location.clone()).await;
    assert!(
        p.body.contains("Your return request has been sent"),
        "{}",
        p.body
    );
    assert!(p.body.contains("requested") && p.body.contains("1 × Product SHIRT-1"));
    let p = stranger
        .post(&path, &[("qty.0", "1"), ("reason", "Mine now")])
        .await;
    assert_eq!(p.status, 303, "a stranger is sent to sign in");
    let returns = shop
        .count(&stack, "SELECT count(*) FROM returns WHERE store_id = $1")
        .await;
    assert_eq!(returns, 1);

    // Signing out ends the session: its cookie opens nothing any more.
    let kept = b.cookies.clone();
    let p = b.post("/account/logout", &[]).await;
    assert_eq!((p.status, p.location.as_str()), (303, "/"));
    assert!(b.cookie("mercato_session").is_none());
    b.cookies = kept;
    let p = b.get("/account").await;
    assert_eq!(p.status, 303, "the old session cookie is revoked");

    // A forgotten password: the same answer for every email, a link that
    // works once, and signing in with the new password.
    let mut b = Browser::new(&stack, &shop.host);
    let p = b
        .post("/account/reset", &[("email", "nobody@example.com")])
        .await;
    assert_eq!(p.status, 202);
    assert!(p
        .body
        .contains("If <strong>nobody@example.com</strong> has an account"));
    let p = b.post("/account/reset", &[("email", email)]).await;
    assert_eq!(p.status, 202);
    let token = mailed_token(&shop, &stack, "customer.password_reset_requested", email).await;
    let p = b
        .get(&format!("/account/reset-password?token={token}"))
        .await;
    assert!(p.body.contains("Choose a new password"));
    let p = b
        .post(
            "/account/reset-password",
            &[("token", &token), ("password", "short")],
        )
        .await;
    assert_eq!(p.status, 422);
    let p = b
        .post(
            "/account/reset-password",
            &[("token", &token), ("password", "a brand new passphrase")],
        )
        .await;
    assert_eq!(
        (p.status, p.location.as_str()),
        (303, "/account/login?reset=done")
    );
    let p = b
        .post(
            "/account/reset-password",
            &[("token", &token), ("password", "a second new passphrase")],
        )
        .await;
    assert_eq!(p.status, 400);
    assert!(p.body.contains("expired or was already used"));
    let p = b
        .post(
            "/account/login",
            &[
                ("email", email),
                ("password", "correct horse battery"),
                ("next", "/account"),
            ],
        )
        .await;
    assert_eq!(p.status, 401);
    assert!(p.body.contains("do not match"), "{}", p.body);
    // A sign-in goes on to this site only.
    let p = b
        .post(
            "/account/login",
            &[
                ("email", email),
                ("password", "a brand new passphrase"),
                ("next", "//evil.example/"),
            ],
        )
        .await;
    assert_eq!((p.status, p.location.as_str()), (303, "/account"));
    assert!(b.cookie("mercato_session").is_some());

    // A form from another site is refused, signed in or not.
    let r = client()
        .post(format!("{}/account/logout", stack.router.url()))
        .header("host", &shop.host)
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(ORIGIN, "http://evil.example")
        .header(COOKIE, b.cookie_header())
        .body("")
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 403);
    let p = b.get("/account").await;
    assert_eq!(p.status, 200, "still signed in");

    // The session cookie is not a credential for the JSON API.
    let r = stack
        .get(&shop.host, "/api/customers/me")
        .header(COOKIE, b.cookie_header())
        .send()
        .await
        .expect("me");
    assert_eq!(r.status(), 401);

    stack.shutdown().await;
}
