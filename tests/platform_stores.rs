//! The merchant's own pages on the platform domain, over HTTP through the
//! router as a browser without script uses them: the platform session the
//! sign-in opens, the stores page, and a store's name and custom domains
//! changed there (and by the operator API's `PATCH /v1/stores/{id}`),
//! reaching the storefront, the routing table, and a store in the middle
//! of a move.

mod common;

use std::time::Duration;

use common::web::{csrf, WebClient};
use common::{Stack, PLATFORM};
use reqwest::Method;
use serde_json::{json, Value};

async fn sign_up(stack: &Stack, email: &str, name: &str, handle: &str) -> Value {
    let r = stack
        .post(PLATFORM, "/v1/signup")
        .json(&json!({"email": email, "password": "correct horse battery",
            "store_name": name, "handle": handle}))
        .send()
        .await
        .expect("signup");
    assert_eq!(r.status(), 201);
    let body: Value = r.json().await.expect("json");
    body["store"].clone()
}

/// The text of the page's alert, if any.
fn alert(body: &str) -> String {
    body.split("role=\"alert\">")
        .nth(1)
        .and_then(|r| r.split('<').next())
        .unwrap_or_default()
        .to_owned()
}

/// The storefront's home page title at `host` through the router.
async fn home_title(stack: &Stack, host: &str) -> (u16, String) {
    let r = stack.get(host, "/").send().await.expect("home");
    let status = r.status().as_u16();
    let body = r.text().await.expect("body");
    let title = body
        .split("<title>")
        .nth(1)
        .and_then(|t| t.split("</title>").next())
        .unwrap_or_default()
        .to_owned();
    (status, title)
}

async fn operator_store(stack: &Stack, id: &str) -> Value {
    let r = stack
        .operator(Method::GET, &format!("/v1/stores/{id}"))
        .send()
        .await
        .expect("store");
    assert_eq!(r.status(), 200);
    r.json().await.expect("json")
}

#[tokio::test]
async fn the_owner_renames_the_store_and_manages_its_domains_on_the_platform() {
    let stack = Stack::start(1).await;
    let lamps = sign_up(&stack, "ada@example.com", "Lamps", "lamps").await;
    let eves = sign_up(&stack, "eve@example.com", "Eve's", "eves").await;
    let id = lamps["id"].as_str().expect("id").to_owned();
    let eve_id = eves["id"].as_str().expect("id").to_owned();
    let port = stack.router.addr.port();
    let mut platform = WebClient::new(&stack, &format!("{PLATFORM}:{port}"));
    let lamps_host = format!("lamps.{PLATFORM}");

    // Without a session the pages ask to sign in first, and go on after.
    let first = platform.get("/stores").await;
    assert_eq!(
        (first.status, first.location.as_str()),
        (303, "/login?next=/stores")
    );
    let form = platform.get("/login?next=/stores").await;
    assert!(
        form.body.contains("name=\"next\" value=\"&#x2f;stores\""),
        "{}",
        form.body
    );
    // `next` never leads to another site.
    let elsewhere = platform.get("/login?next=//evil.example/").await;
    assert!(!elsewhere.body.contains("name=\"next\""));
    let signed = platform
        .post(
            "/login",
            &[
                ("email", "ada@example.com"),
                ("password", "correct horse battery"),
                ("next", "/stores"),
            ],
        )
        .await;
    assert_eq!(
        (signed.status, signed.location.as_str()),
        (303, "/stores"),
        "{}",
        signed.body
    );
    let token = platform.cookie("mercato_platform").expect("session cookie");
    assert_eq!(token.len(), 64);

    let list = platform.get("/stores").await;
    assert_eq!(list.status, 200);
    assert!(list.body.contains("Lamps"), "{}", list.body);
    assert!(
        list.body.contains(&format!("href=\"/stores/{id}\"")),
        "{}",
        list.body
    );
    assert!(!list.body.contains("Eve"), "only the stores signed in to");
    // Another merchant's store, and no store at all, are the same 404.
    assert_eq!(platform.get(&format!("/stores/{eve_id}")).await.status, 404);
    assert_eq!(platform.get("/stores/not-a-store").await.status, 404);

    // The storefront's home page is cached under the old name first.
    let (status, before) = home_title(&stack, &lamps_host).await;
    assert_eq!(status, 200);
    assert!(before.contains("Lamps"), "{before}");

    let page = platform.get(&format!("/stores/{id}")).await;
    assert_eq!(page.status, 200);
    let token = csrf(&page.body);
    assert!(
        page.body.contains(&format!("lamps.{PLATFORM}")),
        "the platform domain is listed"
    );

    // Forms without the session's token, or from another site: 403.
    let forged = platform
        .post(&format!("/stores/{id}/name"), &[("name", "Owned")])
        .await;
    assert_eq!(forged.status, 403);
    let cross = platform
        .post_from(
            "http://evil.example",
            &format!("/stores/{id}/name"),
            &[("csrf", &token), ("name", "Owned")],
        )
        .await;
    assert_eq!(cross.status, 403);
    // Another merchant's store through a good form: 404, nothing changed.
    let theirs = platform
        .post(
            &format!("/stores/{eve_id}/name"),
            &[("csrf", &token), ("name", "Owned")],
        )
        .await;
    assert_eq!(theirs.status, 404);
    assert_eq!(operator_store(&stack, &eve_id).await["name"], "Eve's");

    // A name on two lines is refused and shown again.
    let bad = platform
        .post(
            &format!("/stores/{id}/name"),
            &[("csrf", &token), ("name", "Lamps\nand more")],
        )
        .await;
    assert_eq!(bad.status, 400, "{}", bad.body);
    assert!(
        alert(&bad.body).contains("one line"),
        "{}",
        alert(&bad.body)
    );
    let blank = platform
        .post(
            &format!("/stores/{id}/name"),
            &[("csrf", &token), ("name", "   ")],
        )
        .await;
    assert_eq!(blank.status, 400);

    let renamed = platform
        .post(
            &format!("/stores/{id}/name"),
            &[("csrf", &token), ("name", "  Lamps & Light <b> ")],
        )
        .await;
    assert_eq!(
        (renamed.status, renamed.location.as_str()),
        (303, format!("/stores/{id}?done=renamed").as_str()),
        "{}",
        renamed.body
    );
    let after = platform.get(&renamed.location).await;
    assert!(after.body.contains("The name is saved"));
    assert!(after.body.contains("value=\"Lamps &amp; Light &lt;b&gt;\""));
    assert_eq!(
        operator_store(&stack, &id).await["name"],
        "Lamps & Light <b>"
    );
    // The storefront says it at once: its cached page is not served.
    let (_, now) = home_title(&stack, &lamps_host).await;
    assert!(now.contains("Lamps &amp; Light &lt;b&gt;"), "{now}");

    // A custom domain, routed once the form answers.
    let added = platform
        .post(
            &format!("/stores/{id}/domains"),
            &[("csrf", &token), ("domain", "Shop.Lamps.Example")],
        )
        .await;
    assert_eq!(added.status, 303, "{}", added.body);
    let (status, title) = home_title(&stack, "shop.lamps.example").await;
    assert_eq!(status, 200);
    assert!(title.contains("Lamps &amp; Light"), "{title}");
    let shown = platform.get(&format!("/stores/{id}")).await;
    assert!(shown.body.contains("data-domain=\"shop.lamps.example\""));

    // Refusals, each in words on the page.
    let cases = [
        ("not a domain", 400),
        ("x.lamps.localhost", 422),
        ("shop.lamps.example", 409),
    ];
    for (domain, status) in cases {
        let r = platform
            .post(
                &format!("/stores/{id}/domains"),
                &[("csrf", &token), ("domain", domain)],
            )
            .await;
        assert_eq!(r.status, status, "{domain}: {}", r.body);
        assert!(!alert(&r.body).is_empty(), "{domain}");
        assert!(
            r.body.contains(&format!("value=\"{domain}\"")),
            "kept: {domain}"
        );
    }
    // A domain of another store is taken, whoever asks.
    let r = stack
        .operator(Method::POST, &format!("/v1/stores/{eve_id}/domains"))
        .json(&json!({"domain": "eve.example"}))
        .send()
        .await
        .expect("add");
    assert_eq!(r.status(), 201);
    let taken = platform
        .post(
            &format!("/stores/{id}/domains"),
            &[("csrf", &token), ("domain", "eve.example")],
        )
        .await;
    assert_eq!(taken.status, 409);
    // The platform domain stays.
    let kept = platform
        .post(
            &format!("/stores/{id}/domains/remove"),
            &[("csrf", &token), ("domain", &format!("lamps.{PLATFORM}"))],
        )
        .await;
    assert_eq!(kept.status, 422);

    // At most 20 of its own: the form is gone and a post is refused.
    for i in 1..20 {
        let r = stack
            .operator(Method::POST, &format!("/v1/stores/{id}/domains"))
            .json(&json!({"domain": format!("d{i}.lamps.example")}))
            .send()
            .await
            .expect("add");
        assert_eq!(r.status(), 201, "domain {i}");
    }
    let full = platform.get(&format!("/stores/{id}")).await;
    assert!(full.body.contains("at most 20 domains"), "{}", full.body);
    assert!(!full.body.contains("name=\"domain\" required"));
    let over = platform
        .post(
            &format!("/stores/{id}/domains"),
            &[("csrf", &token), ("domain", "d21.lamps.example")],
        )
        .await;
    assert_eq!(over.status, 422);

    // Removed: no longer routed.
    let removed = platform
        .post(
            &format!("/stores/{id}/domains/remove"),
            &[("csrf", &token), ("domain", "shop.lamps.example")],
        )
        .await;
    assert_eq!(removed.status, 303, "{}", removed.body);
    stack
        .eventually("the router forgets the domain", || async {
            let r = stack.get("shop.lamps.example", "/").send().await.ok()?;
            (r.status() == 404).then_some(())
        })
        .await;

    // The operator API renames through the same function.
    let r = stack
        .operator(Method::PATCH, &format!("/v1/stores/{id}"))
        .json(&json!({"name": "Lamps"}))
        .send()
        .await
        .expect("patch");
    assert_eq!(r.status(), 200);
    let (_, title) = home_title(&stack, &lamps_host).await;
    assert!(
        title.contains("Lamps") && !title.contains("Light"),
        "{title}"
    );
    let r = stack
        .operator(Method::PATCH, &format!("/v1/stores/{id}"))
        .json(&json!({"name": "Lamps\tLight"}))
        .send()
        .await
        .expect("patch");
    assert_eq!(r.status(), 400);

    // Signing out ends the session here and for any copy of the cookie.
    let old = platform.cookies.clone();
    let out = platform.post("/logout", &[("csrf", &token)]).await;
    assert_eq!(out.status, 303);
    assert_eq!(platform.get("/stores").await.status, 303);
    platform.cookies = old;
    assert_eq!(platform.get("/stores").await.status, 303, "the row is gone");
}

#[tokio::test]
async fn a_rename_during_a_move_ends_on_the_pod_that_serves_the_store() {
    let stack = Stack::start(2).await;
    let store = sign_up(&stack, "ada@example.com", "Round 0", "lamps").await;
    let id = store["id"].as_str().expect("id").to_owned();
    let host = format!("lamps.{PLATFORM}");
    // Renames land before, during and right after the move's cut-over.
    for (round, delay_ms) in [0u64, 30, 120, 400].into_iter().enumerate() {
        let on = operator_store(&stack, &id).await["pod_id"].clone();
        let pods: Vec<Value> = stack
            .operator(Method::GET, "/v1/pods")
            .send()
            .await
            .expect("pods")
            .json()
            .await
            .expect("json");
        let target = pods.iter().find(|p| p["id"] != on).expect("another pod")["id"].clone();
        let r = stack
            .operator(Method::POST, "/v1/moves")
            .json(&json!({"store_id": id, "target_pod_id": target}))
            .send()
            .await
            .expect("move");
        assert_eq!(r.status(), 202);
        let mv: Value = r.json().await.expect("json");
        tokio::time::sleep(Duration::from_millis(delay_ms)).await;
        let name = format!("Round {}", round + 1);
        let r = stack
            .operator(Method::PATCH, &format!("/v1/stores/{id}"))
            .json(&json!({ "name": name }))
            .send()
            .await
            .expect("rename");
        assert_eq!(r.status(), 200, "round {round}");
        let mv_id = mv["id"].as_str().expect("id").to_owned();
        let done = stack
            .eventually_within("the move finishes", Duration::from_secs(60), || async {
                let r = stack
                    .operator(Method::GET, &format!("/v1/moves/{mv_id}"))
                    .send()
                    .await
                    .ok()?;
                let mv: Value = r.json().await.ok()?;
                (mv["status"] != "running").then_some(mv)
            })
            .await;
        assert_eq!(done["status"], "completed", "round {round}: {done}");
        // Wherever the store is served now, it has the new name.
        let (status, title) = home_title(&stack, &host).await;
        assert_eq!(status, 200);
        assert!(title.contains(&name), "round {round}: {title}");
        assert_eq!(operator_store(&stack, &id).await["pod_id"], target);
    }
}
