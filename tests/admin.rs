//! The merchant's admin on the web (`/admin` on the store's domain), over
//! HTTP through the router as a browser without script uses it: staff sign
//! in, read the dashboard (the same numbers as `GET /admin/api/dashboard`),
//! find orders and refund one with a form that carries the session's CSRF
//! token. tests/admin_browser.rs drives the same pages in Chromium.

mod common;

use common::shop::{Shop, CARD_OK};
use common::web::{client, csrf, urlencode};
use common::Stack;
use reqwest::header::{CONTENT_TYPE, COOKIE, LOCATION, ORIGIN, SET_COOKIE};
use serde_json::Value;

struct Page {
    status: u16,
    location: String,
    cookies: Vec<String>,
    body: String,
}

async fn read(r: reqwest::Response) -> Page {
    Page {
        status: r.status().as_u16(),
        location: r
            .headers()
            .get(LOCATION)
            .map(|v| v.to_str().expect("text").to_owned())
            .unwrap_or_default(),
        cookies: r
            .headers()
            .get_all(SET_COOKIE)
            .iter()
            .map(|v| v.to_str().expect("cookie").to_owned())
            .collect(),
        body: r.text().await.expect("body"),
    }
}

async fn get(stack: &Stack, host: &str, path: &str, cookie: &str) -> Page {
    read(
        client()
            .get(format!("{}{path}", stack.router.url()))
            .header("host", host)
            .header(COOKIE, cookie)
            .send()
            .await
            .expect("get"),
    )
    .await
}

async fn post(
    stack: &Stack,
    host: &str,
    path: &str,
    cookie: &str,
    origin: &str,
    form: &[(&str, &str)],
) -> Page {
    let body = form
        .iter()
        .map(|(k, v)| format!("{}={}", urlencode(k), urlencode(v)))
        .collect::<Vec<_>>()
        .join("&");
    read(
        client()
            .post(format!("{}{path}", stack.router.url()))
            .header("host", host)
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(ORIGIN, origin)
            .header(COOKIE, cookie)
            .body(body)
            .send()
            .await
            .expect("post"),
    )
    .await
}

async fn api_dashboard(stack: &Stack, shop: &Shop) -> Value {
    let r = stack
        .get(&shop.host, "/admin/api/dashboard")
        .bearer_auth(&shop.staff)
        .send()
        .await
        .expect("dashboard");
    assert_eq!(r.status(), 200);
    r.json().await.expect("json")
}

#[tokio::test]
async fn staff_sign_in_read_the_dashboard_refund_an_order_and_add_a_product_with_forms() {
    let stack = Stack::start(1).await;
    let shop = Shop::open(&stack, "backoffice").await;
    let other = Shop::open(&stack, "otherstore").await;
    let (_, variant) = shop.product(&stack, "LAMP-1", 4500, 10).await;
    let mut orders = Vec::new();
    for i in 0..2 {
        let cart = shop.cart(&stack, &[(variant.as_str(), 1 + i)]).await;
        let r = shop
            .checkout(&stack, &cart, &format!("k{i}"), CARD_OK)
            .send()
            .await
            .expect("checkout");
        assert_eq!(r.status(), 201);
        let placed: Value = r.json().await.expect("json");
        orders.push(placed);
    }
    let host = shop.host.as_str();
    let origin = format!("http://{host}");
    shop.staff_member(&stack, "bob@backoffice.example", "bob's long password")
        .await;

    // Signed out: every page asks to sign in first.
    let p = get(&stack, host, "/admin", "").await;
    assert_eq!(
        (p.status, p.location.as_str()),
        (303, "/admin/login?next=%2Fadmin")
    );
    let p = get(&stack, host, "/admin/orders", "").await;
    assert_eq!(p.status, 303);
    let p = get(&stack, host, "/admin/login?next=%2Fadmin", "").await;
    assert_eq!(p.status, 200);
    assert!(p.body.contains("Sign in to Store backoffice"), "{}", p.body);

    // A wrong password is told in words; the right one signs in.
    let login = |password: &'static str| {
        let (stack, host, origin) = (&stack, host, origin.clone());
        async move {
            post(
                stack,
                host,
                "/admin/login",
                "",
                &origin,
                &[
                    ("email", "bob@backoffice.example"),
                    ("password", password),
                    ("next", "/admin/orders"),
                ],
            )
            .await
        }
    };
    let p = login("not bob's password").await;
    assert_eq!(p.status, 401);
    assert!(
        p.body.contains("do not match a staff account"),
        "{}",
        p.body
    );
    let p = login("bob's long password").await;
    assert_eq!((p.status, p.location.as_str()), (303, "/admin/orders"));
    let session = p
        .cookies
        .iter()
        .find(|c| c.starts_with("mercato_admin="))
        .expect("a session cookie")
        .clone();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/admin"] {
        assert!(session.contains(attribute), "{session}");
    }
    let cookie = session.split(';').next().expect("pair").to_owned();

    // The dashboard: the API's numbers.
    let d = api_dashboard(&stack, &shop).await;
    assert_eq!(d["last_30_days"]["orders"], 2);
    assert_eq!(d["today_totals"]["orders"], 2);
    assert_eq!(d["days"].as_array().expect("days").len(), 30);
    assert_eq!(d["waiting"]["to_ship"], 2);
    let total: i64 = orders
        .iter()
        .map(|o| o["total_minor"].as_i64().expect("total"))
        .sum();
    assert_eq!(d["last_30_days"]["sales"]["minor"], total);
    assert_eq!(d["last_30_days"]["net"]["minor"], total);
    let money = |minor: i64| format!("${}.{:02}", minor / 100, minor % 100);
    let p = get(&stack, host, "/admin", &cookie).await;
    assert_eq!(p.status, 200);
    assert!(
        p.body.contains(&format!("data-net-30>{}<", money(total))),
        "{}",
        p.body
    );
    assert!(p.body.contains("data-orders-30>2<"));
    assert!(p.body.contains("2 orders to ship"));
    assert!(p.body.contains("<svg class=\"chart\""), "the chart");
    assert_eq!(p.body.matches("<rect").count(), 30);

    // The orders, filtered.
    let p = get(&stack, host, "/admin/orders", &cookie).await;
    for o in &orders {
        assert!(p.body.contains(&format!("#{}", o["number"])), "{}", p.body);
    }
    let p = get(&stack, host, "/admin/orders?status=refunded", &cookie).await;
    assert!(p.body.contains("No orders match"));
    let p = get(&stack, host, "/admin/orders?status=nonsense", &cookie).await;
    assert_eq!(p.status, 400);
    let p = get(&stack, host, "/admin/orders?email=not-an-email", &cookie).await;
    assert_eq!(p.status, 400);

    // An order, refunded through its form.
    let id = orders[1]["id"].as_str().expect("order id").to_owned();
    let path = format!("/admin/orders/{id}");
    let p = get(&stack, host, &path, &cookie).await;
    assert_eq!(p.status, 200);
    assert!(p.body.contains("Refund what is left"), "{}", p.body);
    let token = csrf(&p.body);
    let refund = format!("{path}/refund");
    let p = post(
        &stack,
        host,
        &refund,
        &cookie,
        &origin,
        &[("reason", "Broken")],
    )
    .await;
    assert_eq!(p.status, 403, "no CSRF token");
    let p = post(
        &stack,
        host,
        &refund,
        &cookie,
        &origin,
        &[("csrf", "0".repeat(32).as_str()), ("reason", "Broken")],
    )
    .await;
    assert_eq!(p.status, 403, "another session's token");
    let p = post(
        &stack,
        host,
        &refund,
        &cookie,
        "http://evil.example",
        &[("csrf", token.as_str()), ("reason", "Broken")],
    )
    .await;
    assert_eq!(p.status, 403, "a form from another site");
    let p = post(
        &stack,
        host,
        &refund,
        &cookie,
        &origin,
        &[("csrf", token.as_str()), ("reason", "Arrived broken")],
    )
    .await;
    assert_eq!(
        (p.status, p.location.clone()),
        (303, format!("{path}?done=refunded"))
    );
    let p = get(&stack, host, &p.location, &cookie).await;
    assert!(p.body.contains("The order was refunded"), "{}", p.body);
    assert!(p.body.contains("data-order-status>refunded<"));
    assert!(
        p.body.contains("Arrived broken"),
        "the history has the reason"
    );
    assert!(
        !p.body.contains("Refund what is left"),
        "nothing left to refund"
    );
    // Again: the order is refunded, the form is refused in words.
    let p = post(
        &stack,
        host,
        &refund,
        &cookie,
        &origin,
        &[("csrf", token.as_str())],
    )
    .await;
    assert_eq!(p.status, 409);
    assert!(p.body.contains("cannot become refunded"), "{}", p.body);

    // The dashboard follows.
    let refunded = orders[1]["total_minor"].as_i64().expect("total");
    let d = api_dashboard(&stack, &shop).await;
    assert_eq!(d["last_30_days"]["refunded"]["minor"], refunded);
    assert_eq!(d["last_30_days"]["net"]["minor"], total - refunded);
    let p = get(&stack, host, "/admin", &cookie).await;
    assert!(p
        .body
        .contains(&format!("data-net-30>{}<", money(total - refunded))));

    // A product with two sizes, from the form: a bad price is told in
    // words and the form keeps what was typed; then created, and its stock
    // set.
    let p = get(&stack, host, "/admin/products/new", &cookie).await;
    assert_eq!(p.status, 200);
    let mut form = vec![
        ("csrf", token.as_str()),
        ("title", "Desk lamp"),
        ("price", "twelve"),
        ("sku", "DESK"),
        ("option_name", "Colour"),
        ("option_values", "Black, White"),
        ("stock", "4"),
        ("status", "active"),
    ];
    let p = post(&stack, host, "/admin/products", &cookie, &origin, &form).await;
    assert_eq!(p.status, 400);
    assert!(p.body.contains("Enter the price as a number"), "{}", p.body);
    assert!(p.body.contains("value=\"Desk lamp\""));
    form[2] = ("price", "39.50");
    let p = post(&stack, host, "/admin/products", &cookie, &origin, &form).await;
    assert_eq!(p.status, 303, "{}", p.body);
    assert!(p.location.starts_with("/admin/products/") && p.location.ends_with("?done=created"));
    let product_path = p.location.split('?').next().expect("path").to_owned();
    let product_id = product_path
        .trim_start_matches("/admin/products/")
        .to_owned();
    let p = get(&stack, host, &p.location, &cookie).await;
    assert!(p.body.contains("The product was created"), "{}", p.body);
    assert!(p.body.contains("DESK-BLACK") && p.body.contains("DESK-WHITE"));
    let api: Value = stack
        .get(host, &format!("/admin/api/products/{product_id}"))
        .bearer_auth(&shop.staff)
        .send()
        .await
        .expect("product")
        .json()
        .await
        .expect("json");
    assert_eq!(api["status"], "active");
    assert_eq!(api["variants"][0]["price"]["minor"], 3950);
    assert_eq!(api["variants"][0]["title"], "Black");
    assert_eq!(api["variants"][1]["on_hand"], 4);
    let white = api["variants"][1]["id"]
        .as_str()
        .expect("variant")
        .to_owned();
    let stock_path = format!("{product_path}/stock");
    let p = post(
        &stack,
        host,
        &stock_path,
        &cookie,
        &origin,
        &[
            ("csrf", token.as_str()),
            ("variant_id", white.as_str()),
            ("on_hand", "-3"),
        ],
    )
    .await;
    assert_eq!(p.status, 400);
    let p = post(
        &stack,
        host,
        &stock_path,
        &cookie,
        &origin,
        &[
            ("csrf", token.as_str()),
            ("variant_id", variant.as_str()),
            ("on_hand", "9"),
        ],
    )
    .await;
    assert_eq!(p.status, 404, "another product's variant");
    let p = post(
        &stack,
        host,
        &stock_path,
        &cookie,
        &origin,
        &[
            ("csrf", token.as_str()),
            ("variant_id", white.as_str()),
            ("on_hand", "11"),
        ],
    )
    .await;
    assert_eq!(
        (p.status, p.location.clone()),
        (303, format!("{product_path}?done=stock"))
    );
    let (on_hand, _) = shop.stock(&stack, &white).await;
    assert_eq!(on_hand, 11);
    let p = get(&stack, host, "/admin/products", &cookie).await;
    assert!(
        p.body.contains("Desk lamp") && p.body.contains("Product LAMP-1"),
        "{}",
        p.body
    );
    // An image, uploaded as a browser sends a file.
    let png = mercato_devstack::demo_art::picture(
        mercato_devstack::demo_art::Shape::Mug,
        [200, 160, 40],
        [240, 240, 240],
    );
    let upload = |parts: Vec<(&'static str, Option<&'static str>, Vec<u8>)>, origin: String| {
        let boundary = "----mercato-test-boundary";
        let mut body = Vec::new();
        for (name, filename, bytes) in parts {
            body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
            match filename {
                Some(f) => body.extend_from_slice(
                    format!(
                        "Content-Disposition: form-data; name=\"{name}\"; filename=\"{f}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
                    )
                    .as_bytes(),
                ),
                None => body.extend_from_slice(
                    format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes(),
                ),
            }
            body.extend_from_slice(&bytes);
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
        let req = client()
            .post(format!("{}{product_path}/images", stack.router.url()))
            .header("host", host)
            .header(
                CONTENT_TYPE,
                format!("multipart/form-data; boundary={boundary}"),
            )
            .header(ORIGIN, origin)
            .header(COOKIE, cookie.clone())
            .body(body);
        async move { read(req.send().await.expect("upload")).await }
    };
    let p = upload(
        vec![
            ("alt", None, b"A lamp".to_vec()),
            ("image", Some("lamp.png"), png.clone()),
        ],
        origin.clone(),
    )
    .await;
    assert_eq!(p.status, 403, "no CSRF token");
    let p = upload(
        vec![
            ("csrf", None, token.as_bytes().to_vec()),
            ("image", Some("lamp.png"), png.clone()),
        ],
        "http://evil.example".into(),
    )
    .await;
    assert_eq!(p.status, 403, "from another site");
    let p = upload(
        vec![
            ("csrf", None, token.as_bytes().to_vec()),
            ("image", Some("notes.txt"), b"not a picture".to_vec()),
        ],
        origin.clone(),
    )
    .await;
    assert_eq!(p.status, 422);
    assert!(
        p.body.contains("not a PNG, JPEG, GIF or WebP image"),
        "{}",
        p.body
    );
    let p = upload(
        vec![
            ("csrf", None, token.as_bytes().to_vec()),
            ("alt", None, b"A desk lamp, black".to_vec()),
            ("image", Some("lamp.png"), png.clone()),
        ],
        origin.clone(),
    )
    .await;
    assert_eq!(
        (p.status, p.location.clone()),
        (303, format!("{product_path}?done=image"))
    );
    let p = get(&stack, host, &p.location, &cookie).await;
    assert!(
        p.body.contains("The image was added") && p.body.contains("alt=\"A desk lamp, black\"")
    );

    // It sells on the storefront.
    let page = stack
        .get(host, &format!("/products/{product_id}"))
        .send()
        .await
        .expect("storefront");
    assert_eq!(page.status(), 200);
    let page = page.text().await.expect("page");
    assert!(
        page.contains("Desk lamp") && page.contains("alt=\"A desk lamp, black\""),
        "{page}"
    );

    // Another store's admin does not know this session, nor do tokens that
    // are not a staff session of this store.
    let p = get(&stack, &other.host, "/admin", &cookie).await;
    assert_eq!(p.status, 303);
    let platform = format!("mercato_admin={}", shop.staff);
    let p = get(&stack, host, "/admin", &platform).await;
    assert_eq!(p.status, 303, "a token without a session is not a sign-in");

    // Signing out ends the session: the old cookie opens nothing.
    let p = post(
        &stack,
        host,
        "/admin/logout",
        &cookie,
        &origin,
        &[("csrf", token.as_str())],
    )
    .await;
    assert_eq!((p.status, p.location.as_str()), (303, "/admin/login"));
    assert!(p
        .cookies
        .iter()
        .any(|c| c.starts_with("mercato_admin=;") && c.contains("Max-Age=0")));
    let p = get(&stack, host, "/admin", &cookie).await;
    assert_eq!(p.status, 303);

    // A sign-in goes on to the admin only.
    let p = post(
        &stack,
        host,
        "/admin/login",
        "",
        &origin,
        &[
            ("email", "bob@backoffice.example"),
            ("password", "bob's long password"),
            ("next", "//evil.example/admin"),
        ],
    )
    .await;
    assert_eq!((p.status, p.location.as_str()), (303, "/admin"));

    stack.shutdown().await;
}

#[tokio::test]
async fn only_the_owner_manages_staff_and_the_server_refuses_what_the_page_hides() {
    let stack = Stack::start(1).await;
    let r = stack
        .at(reqwest::Method::POST, common::PLATFORM, "/v1/signup")
        .json(
            &serde_json::json!({"email": "ada@lamps.example", "password": "correct horse battery",
            "store_name": "Ada's Lamps"}),
        )
        .send()
        .await
        .expect("signup");
    assert_eq!(r.status(), 201);
    let created: Value = r.json().await.expect("json");
    let handle = created["store"]["handle"]
        .as_str()
        .expect("handle")
        .to_owned();
    let host = format!("{handle}.{}", common::PLATFORM);
    stack
        .eventually("the router routes the new store", || async {
            let r = stack.get(&host, "/api/products").send().await.ok()?;
            (r.status() == 200).then_some(())
        })
        .await;
    let origin = format!("http://{host}");
    let sign_in = |email: &'static str, password: &'static str| {
        let (stack, host, origin) = (&stack, host.clone(), origin.clone());
        async move {
            let p = post(
                stack,
                &host,
                "/admin/login",
                "",
                &origin,
                &[("email", email), ("password", password), ("next", "/admin")],
            )
            .await;
            assert_eq!(p.status, 303, "{email} signs in: {}", p.body);
            p.cookies
                .iter()
                .find(|c| c.starts_with("mercato_admin="))
                .and_then(|c| c.split(';').next())
                .expect("a session cookie")
                .to_owned()
        }
    };

    // The owner invites Bob from the staff page.
    let owner = sign_in("ada@lamps.example", "correct horse battery").await;
    let p = get(&stack, &host, "/admin", &owner).await;
    assert!(
        p.body.contains("href=\"/admin/settings/staff\""),
        "the owner's nav"
    );
    let p = get(&stack, &host, "/admin/settings/staff", &owner).await;
    assert_eq!(p.status, 200);
    assert!(p.body.contains("ada@lamps.example (you)"), "{}", p.body);
    let owner_csrf = csrf(&p.body);
    let p = post(
        &stack,
        &host,
        "/admin/settings/staff/invite",
        &owner,
        &origin,
        &[("csrf", owner_csrf.as_str()), ("email", "not an email")],
    )
    .await;
    assert_eq!(p.status, 400);
    let p = post(
        &stack,
        &host,
        "/admin/settings/staff/invite",
        &owner,
        &origin,
        &[
            ("csrf", owner_csrf.as_str()),
            ("email", "bob@lamps.example"),
        ],
    )
    .await;
    assert_eq!(
        (p.status, p.location.as_str()),
        (303, "/admin/settings/staff?done=invited")
    );
    let token: String = {
        use sqlx::Connection as _;
        let store = &created["store"];
        let mut db = sqlx::PgConnection::connect(&stack.pod_for(store).await.database_url)
            .await
            .expect("db");
        sqlx::query_scalar(
            "SELECT payload->>'token' FROM outbox WHERE type = 'staff.invited'
             AND payload->>'email' = 'bob@lamps.example'",
        )
        .fetch_one(&mut db)
        .await
        .expect("the invitation's mail")
    };
    // Bob follows the mail's link and joins with a password.
    let p = get(
        &stack,
        &host,
        &format!("/admin/invitations/accept?token={token}"),
        "",
    )
    .await;
    assert_eq!(p.status, 200);
    assert!(
        p.body.contains("Join the staff of Ada&#39;s Lamps"),
        "{}",
        p.body
    );
    let accept = |password: &'static str, token: String| {
        let (stack, host, origin) = (&stack, host.clone(), origin.clone());
        async move {
            post(
                stack,
                &host,
                "/admin/invitations/accept",
                "",
                &origin,
                &[("token", token.as_str()), ("password", password)],
            )
            .await
        }
    };
    let p = accept("short", token.clone()).await;
    assert_eq!(p.status, 422);
    let p = accept("bob's long password", "0".repeat(64)).await;
    assert_eq!(p.status, 400);
    assert!(p.body.contains("unknown, used or expired"));
    let p = accept("bob's long password", token.clone()).await;
    assert_eq!((p.status, p.location.as_str()), (303, "/admin"));
    let bob = p
        .cookies
        .iter()
        .find(|c| c.starts_with("mercato_admin="))
        .and_then(|c| c.split(';').next())
        .expect("Bob is signed in")
        .to_owned();
    let p = accept("bob's long password", token).await;
    assert_eq!(p.status, 400, "an invitation works once");

    // Bob is staff: no staff page, and its forms are refused when sent
    // without it.
    let p = get(&stack, &host, "/admin", &bob).await;
    assert_eq!(p.status, 200);
    assert!(
        !p.body.contains("href=\"/admin/settings/staff\""),
        "no staff link for staff"
    );
    let bob_csrf = csrf(&p.body);
    let p = get(&stack, &host, "/admin/settings/staff", &bob).await;
    assert_eq!(p.status, 403);
    assert!(
        p.body
            .contains("Only the store&#39;s owner may manage its staff."),
        "{}",
        p.body
    );
    let p = post(
        &stack,
        &host,
        "/admin/settings/staff/invite",
        &bob,
        &origin,
        &[
            ("csrf", bob_csrf.as_str()),
            ("email", "mallory@lamps.example"),
        ],
    )
    .await;
    assert_eq!(p.status, 403);
    let members = get(&stack, &host, "/admin/settings/staff", &owner)
        .await
        .body;
    let bob_id = members
        .split("/admin/settings/staff/")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .expect("bob's remove form")
        .to_owned();
    let p = post(
        &stack,
        &host,
        &format!("/admin/settings/staff/{bob_id}/remove"),
        &bob,
        &origin,
        &[("csrf", bob_csrf.as_str())],
    )
    .await;
    assert_eq!(p.status, 403, "staff cannot remove staff");

    // The owner removes Bob: his session ends at once.
    let p = post(
        &stack,
        &host,
        &format!("/admin/settings/staff/{bob_id}/remove"),
        &owner,
        &origin,
        &[("csrf", owner_csrf.as_str())],
    )
    .await;
    assert_eq!(
        (p.status, p.location.as_str()),
        (303, "/admin/settings/staff?done=removed")
    );
    let p = get(&stack, &host, "/admin", &bob).await;
    assert_eq!(p.status, 303, "Bob's session ended");
    let p = get(&stack, &host, "/admin/settings/staff?done=removed", &owner).await;
    assert!(
        p.body.contains("The staff member was removed") && !p.body.contains("bob@lamps.example")
    );

    stack.shutdown().await;
}
