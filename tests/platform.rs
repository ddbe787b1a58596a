//! The platform's own pages on the platform domain, over HTTP through the
//! router as a browser without script uses them: the landing page, the
//! handle check, signup with its refusals, the hand-over of the new
//! owner's session to the store's admin (and who may hand one over), and
//! the sign-in that finds a merchant's stores by email.
//! tests/platform_browser.rs drives the same pages in Chromium.

mod common;

use common::web::WebClient;
use common::{Stack, PLATFORM};
use serde_json::Value;

/// The hand-over forms of a page: (their action, their token).
fn handoffs(html: &str) -> Vec<(String, String)> {
    html.split("<form method=\"post\" action=\"")
        .skip(1)
        .filter_map(|rest| {
            let action = rest.split('"').next()?.replace("&#x2f;", "/");
            let token = rest
                .split("name=\"token\" value=\"")
                .nth(1)?
                .split('"')
                .next()?
                .to_owned();
            action
                .ends_with("/admin/handoff")
                .then_some((action, token))
        })
        .collect()
}

async fn handle_check(stack: &Stack, handle: &str) -> Value {
    let r = stack
        .get(PLATFORM, &format!("/v1/handles/{handle}"))
        .send()
        .await
        .expect("check");
    assert_eq!(r.status(), 200);
    r.json().await.expect("json")
}

#[tokio::test]
async fn a_merchant_signs_up_on_the_page_and_is_handed_over_to_the_new_stores_admin() {
    let stack = Stack::start(1).await;
    let port = stack.router.addr.port();
    let platform_origin = format!("http://{PLATFORM}:{port}");
    // Hosts with the port, as a browser names them (the pages link back
    // to the port the browser used).
    let mut platform = WebClient::new(&stack, &format!("{PLATFORM}:{port}"));

    let landing = platform.get("/").await;
    assert_eq!(landing.status, 200);
    assert!(
        landing.body.contains("href=\"/signup\""),
        "{}",
        landing.body
    );
    let form = platform.get("/signup").await;
    assert_eq!(form.status, 200);
    assert!(form
        .body
        .contains("<option value=\"USD\" selected>USD</option>"));

    // The handle check the form's script calls.
    let free = handle_check(&stack, "lampshop").await;
    assert_eq!(free["available"], true, "{free}");
    let bad = handle_check(&stack, "Lamp%20Shop").await;
    assert_eq!(bad["available"], false);
    assert!(
        bad["reason"].as_str().is_some_and(|r| !r.is_empty()),
        "{bad}"
    );
    let reserved = handle_check(&stack, "www").await;
    assert_eq!(reserved["available"], false, "{reserved}");

    // A weak password is refused on the form, which keeps what was typed.
    let weak = platform
        .post(
            "/signup",
            &[
                ("email", "ada@lampshop.example"),
                ("password", "short"),
                ("store_name", "Lampshop <b>"),
                ("handle", "lampshop"),
                ("currency", "EUR"),
            ],
        )
        .await;
    assert_eq!(weak.status, 422, "{}", weak.body);
    assert!(weak.body.contains("role=\"alert\""));
    assert!(
        weak.body.contains("value=\"Lampshop &lt;b&gt;\""),
        "escaped and kept"
    );
    assert!(weak
        .body
        .contains("<option value=\"EUR\" selected>EUR</option>"));
    assert!(!weak.body.contains("name=\"token\""));

    let done = platform
        .post(
            "/signup",
            &[
                ("email", "ada@lampshop.example"),
                ("password", "correct horse battery"),
                ("store_name", "Lampshop"),
                ("handle", "lampshop"),
                ("currency", "EUR"),
            ],
        )
        .await;
    assert_eq!(done.status, 200, "{}", done.body);
    let forms = handoffs(&done.body);
    assert_eq!(forms.len(), 1, "{}", done.body);
    let (action, token) = forms[0].clone();
    let store_host = format!("lampshop.{PLATFORM}");
    assert_eq!(action, format!("http://{store_host}:{port}/admin/handoff"));
    assert!(done.body.contains("data-autosubmit"));
    let taken = handle_check(&stack, "lampshop").await;
    assert_eq!(taken["available"], false);

    // The same handle again: refused on the form.
    let again = platform
        .post(
            "/signup",
            &[
                ("email", "bob@example.com"),
                ("password", "another long password"),
                ("store_name", "Lampshop"),
                ("handle", "lampshop"),
                ("currency", "USD"),
            ],
        )
        .await;
    assert_eq!(again.status, 409);
    assert!(
        again
            .body
            .contains("A store with this handle already exists."),
        "{}",
        again.body
    );

    // The store is routed (it may take the router a moment).
    stack
        .eventually("the router routes the new store", || async {
            let r = stack.get(&store_host, "/").send().await.ok()?;
            (r.status() == 200).then_some(())
        })
        .await;

    // Only the platform's pages may hand a session over, and only a real one.
    let mut store = WebClient::new(&stack, &format!("{store_host}:{port}"));
    let evil = store
        .post_from(
            "http://evil.example",
            "/admin/handoff",
            &[("token", &token)],
        )
        .await;
    assert_eq!(evil.status, 403);
    let own = store.post("/admin/handoff", &[("token", &token)]).await;
    assert_eq!(own.status, 403, "the store's own pages hand nothing over");
    let forged = store
        .post_from(
            &platform_origin,
            "/admin/handoff",
            &[("token", "not-a-token")],
        )
        .await;
    assert_eq!(forged.status, 401);
    assert!(store.cookie("mercato_admin").is_none());

    let welcome = store
        .post_from(&platform_origin, "/admin/handoff", &[("token", &token)])
        .await;
    assert_eq!(welcome.status, 200, "{}", welcome.body);
    assert!(welcome.body.contains("url=/admin"));
    assert_eq!(store.cookie("mercato_admin"), Some(token.as_str()));
    let dashboard = store.get("/admin").await;
    assert_eq!(dashboard.status, 200);
    assert!(dashboard.body.contains("Dashboard"), "{}", dashboard.body);
    assert!(
        dashboard.body.contains("href=\"/admin/settings/staff\""),
        "the owner"
    );
    // The store sells in the currency chosen on the form.
    let r = stack
        .operator(reqwest::Method::GET, "/v1/stores?limit=10")
        .send()
        .await
        .expect("stores");
    let stores: Value = r.json().await.expect("json");
    let created = stores["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|s| s["handle"] == "lampshop")
        .expect("the store")
        .clone();
    assert_eq!(created["currency"], "EUR");
    assert_eq!(created["owner_email"], "ada@lampshop.example");
}

#[tokio::test]
async fn the_platform_sign_in_finds_the_merchants_stores_by_email() {
    let stack = Stack::start(2).await;
    for (name, handle) in [("Lamps", "lamps"), ("Rugs", "rugs")] {
        let r = stack
            .at(reqwest::Method::POST, PLATFORM, "/v1/signup")
            .json(
                &serde_json::json!({"email": "Ada@Example.com", "password": "correct horse battery",
                "store_name": name, "handle": handle}),
            )
            .send()
            .await
            .expect("signup");
        assert_eq!(r.status(), 201);
        let body: Value = r.json().await.expect("json");
        assert!(body["admin_url"].as_str().expect("url").ends_with("/admin"));
        assert!(body["api_url"]
            .as_str()
            .expect("url")
            .ends_with("/admin/api"));
    }
    let r = stack
        .at(reqwest::Method::POST, PLATFORM, "/v1/signup")
        .json(
            &serde_json::json!({"email": "eve@example.com", "password": "another long password",
            "store_name": "Eve's", "handle": "eves"}),
        )
        .send()
        .await
        .expect("signup");
    assert_eq!(r.status(), 201);
    let port = stack.router.addr.port();
    let mut platform = WebClient::new(&stack, &format!("{PLATFORM}:{port}"));
    assert_eq!(platform.get("/login").await.status, 200);

    // Both of Ada's stores, whatever the letter case of the email; not Eve's.
    let found = platform
        .post(
            "/login",
            &[
                ("email", "ada@example.com"),
                ("password", "correct horse battery"),
            ],
        )
        .await;
    assert_eq!(found.status, 200, "{}", found.body);
    let forms = handoffs(&found.body);
    let actions: Vec<&str> = forms.iter().map(|(a, _)| a.as_str()).collect();
    assert_eq!(
        actions,
        [
            format!("http://lamps.{PLATFORM}:{port}/admin/handoff"),
            format!("http://rugs.{PLATFORM}:{port}/admin/handoff"),
        ],
        "{}",
        found.body
    );
    assert!(
        !found.body.contains("data-autosubmit"),
        "two stores: the merchant chooses"
    );
    // Each token opens its own store's admin, not the other's.
    let (rugs_action, rugs_token) = forms[1].clone();
    assert!(rugs_action.contains("rugs."));
    let mut lamps = WebClient::new(&stack, &format!("lamps.{PLATFORM}:{port}"));
    let platform_origin = format!("http://{PLATFORM}:{port}");
    let crossed = lamps
        .post_from(
            &platform_origin,
            "/admin/handoff",
            &[("token", &rugs_token)],
        )
        .await;
    assert_eq!(crossed.status, 401, "a token of another store");

    // A wrong password and an unknown email read the same.
    let wrong = platform
        .post(
            "/login",
            &[
                ("email", "ada@example.com"),
                ("password", "not the password"),
            ],
        )
        .await;
    let unknown = platform
        .post(
            "/login",
            &[
                ("email", "nobody@example.com"),
                ("password", "not the password"),
            ],
        )
        .await;
    assert_eq!(wrong.status, 401);
    assert_eq!(unknown.status, 401);
    let message = |body: &str| {
        body.split("role=\"alert\">")
            .nth(1)
            .and_then(|r| r.split('<').next())
            .unwrap_or_default()
            .to_owned()
    };
    assert_eq!(message(&wrong.body), message(&unknown.body));
    assert!(!message(&wrong.body).is_empty());

    // Eve's own store, alone: handed over at once.
    let eve = platform
        .post(
            "/login",
            &[
                ("email", "eve@example.com"),
                ("password", "another long password"),
            ],
        )
        .await;
    assert_eq!(eve.status, 200);
    assert_eq!(handoffs(&eve.body).len(), 1);
    assert!(eve.body.contains("data-autosubmit"));

    // A form from another site is refused.
    let r = platform
        .post_from(
            "http://evil.example",
            "/login",
            &[
                ("email", "eve@example.com"),
                ("password", "another long password"),
            ],
        )
        .await;
    assert_eq!(r.status, 403);
}
