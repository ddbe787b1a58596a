//! The operator console in a real headless Chromium (tests/common/browser.rs)
//! through the router on the platform domain: an operator signs in with
//! the operator token, reads the pods, finds a store, moves it to the other
//! pod while shoppers keep checking out, and watches the move's page update
//! itself until it completes; then plans a rebalance and drains a pod,
//! watching the job. Every checkout succeeds, some during the move, and
//! every order is read from the new pod.
//! axe-core checks every page type (no serious or critical violation); the
//! journey saves screenshots under docs/console/.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use common::browser::{store_url, Browser};
use common::shop::{checkout_body, Shop, CARD_OK};
use common::Stack;
use reqwest::Method;
use serde_json::{json, Value};

/// One checkout of the loop: when it was sent and answered, and how.
struct Attempt {
    sent: DateTime<Utc>,
    answered: DateTime<Utc>,
    outcome: Result<String, String>,
}

/// A guest buys one `variant` through the router: a cart, a line, a
/// checkout; the order's id, or what went wrong.
async fn buy_one(stack: &Stack, shop: &Shop, variant: &str, key: &str) -> Result<String, String> {
    let r = stack
        .post(&shop.host, "/api/cart")
        .send()
        .await
        .map_err(|e| format!("cart: {e}"))?;
    if r.status() != 201 {
        return Err(format!("cart: {}", r.status()));
    }
    let cart: Value = r.json().await.map_err(|e| format!("cart: {e}"))?;
    let token = cart["token"].as_str().unwrap_or_default().to_owned();
    let r = stack
        .post(&shop.host, "/api/cart/lines")
        .header("x-cart-token", &token)
        .json(&json!({"variant_id": variant, "quantity": 1}))
        .send()
        .await
        .map_err(|e| format!("line: {e}"))?;
    if r.status() != 200 {
        return Err(format!("line: {}", r.status()));
    }
    let r = shop
        .checkout_with(stack, &token, key, &checkout_body(CARD_OK))
        .send()
        .await
        .map_err(|e| format!("checkout: {e}"))?;
    let status = r.status();
    let body: Value = r.json().await.unwrap_or(Value::Null);
    if status != 201 {
        return Err(format!("checkout: {status} {body}"));
    }
    Ok(body["id"].as_str().unwrap_or_default().to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_operator_moves_a_selling_store_and_watches_it_live() {
    let (stack, mut b) = tokio::join!(Stack::start(2), Browser::desktop());
    let stack = Arc::new(stack);
    let shop = Arc::new(Shop::open(&stack, "lanterns").await);
    let (_, variant) = shop.product(&stack, "LANTERN", 2500, 10_000).await;
    shop.product(&stack, "WICK", 300, 100).await;
    let source = shop.store["pod_id"].as_str().expect("pod").to_owned();
    let pods: Value = stack
        .operator(Method::GET, "/v1/pods")
        .send()
        .await
        .expect("pods")
        .json()
        .await
        .expect("json");
    let target = pods
        .as_array()
        .expect("pods")
        .iter()
        .find(|p| p["id"] != source.as_str())
        .expect("another pod")
        .clone();
    let target_id = target["id"].as_str().expect("id").to_owned();
    let console = |path: &str| store_url(&stack, common::PLATFORM, path);

    // Shoppers check out, one after another, until told to stop.
    let stop = Arc::new(AtomicBool::new(false));
    let shoppers = tokio::spawn({
        let (stack, shop, stop) = (stack.clone(), shop.clone(), stop.clone());
        async move {
            let mut attempts = Vec::new();
            let mut n = 0;
            while !stop.load(Ordering::SeqCst) {
                n += 1;
                let sent = Utc::now();
                let outcome = buy_one(&stack, &shop, &variant, &format!("loop-{n}")).await;
                attempts.push(Attempt {
                    sent,
                    answered: Utc::now(),
                    outcome,
                });
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            attempts
        }
    });

    // Signed out, the console asks for the token.
    b.goto(&console("/console")).await;
    b.wait_for_text_in("h1", "Operator sign-in").await;
    b.assert_accessible("the console's sign-in").await;
    b.fill("#token", "not a token").await;
    b.click(".stack-form button[type=submit]").await;
    b.wait_for_text("That is not a valid operator token").await;
    b.assert_accessible("a refused sign-in").await;
    b.fill("#token", &stack.operator).await;
    b.click(".stack-form button[type=submit]").await;

    // The pods, with their load.
    b.wait_for_text_in("h1", "Pods").await;
    b.wait_for_text_in(".table", "pod-2").await;
    b.wait_for_text_in(".table", "of 100 stores").await;
    b.screenshot("docs/console/pods.png").await;
    b.assert_accessible("the pods").await;

    // The store, found by search.
    b.click("nav a[href='/console/stores']").await;
    b.wait_for_text_in("h1", "Stores").await;
    b.fill("#q", "lantern").await;
    b.click(".filter-form button[type=submit]").await;
    b.wait_for_text_in(".table", "owner@lanterns.example").await;
    b.screenshot("docs/console/stores.png").await;
    b.assert_accessible("the stores").await;
    b.click(&format!(".table a[href='/console/stores/{}']", shop.id))
        .await;
    b.wait_for_text_in("h1", "Store lanterns").await;
    b.select("#target", &target_id).await;
    b.screenshot("docs/console/store.png").await;
    b.assert_accessible("a store").await;

    // The move, while the shoppers buy; its page updates itself.
    b.click(".move-form button[type=submit]").await;
    b.wait_for_text_in("h1", "Move of Store lanterns").await;
    let move_id = b
        .current_url()
        .await
        .rsplit('/')
        .next()
        .expect("the move's id")
        .to_owned();
    b.assert_accessible("a running move").await;
    b.set_timeout(Duration::from_secs(90));
    b.wait_for_text_in("[data-live]", "completed").await;
    b.set_timeout(common::browser::DEFAULT_TIMEOUT);
    b.wait_for("[data-live][data-finished]").await;
    b.wait_for_gone("[data-live-controls] button").await;
    b.screenshot("docs/console/move.png").await;
    b.assert_accessible("a completed move").await;

    // The shoppers stop: every checkout went through, some during the move.
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::SeqCst);
    let attempts = shoppers.await.expect("the shoppers' task");
    let mv: Value = stack
        .operator(Method::GET, &format!("/v1/moves/{move_id}"))
        .send()
        .await
        .expect("move")
        .json()
        .await
        .expect("json");
    assert_eq!(mv["status"], "completed", "{mv}");
    assert_eq!(mv["target_pod_id"], target_id.as_str());
    let started: DateTime<Utc> = mv["created_at"]
        .as_str()
        .expect("created")
        .parse()
        .expect("time");
    let finished: DateTime<Utc> = mv["finished_at"]
        .as_str()
        .expect("finished")
        .parse()
        .expect("time");
    let failed: Vec<String> = attempts
        .iter()
        .filter_map(|a| {
            a.outcome
                .as_ref()
                .err()
                .map(|e| format!("{e} (sent {}, answered {})", a.sent, a.answered))
        })
        .collect();
    assert!(
        failed.is_empty(),
        "{} of {} checkouts failed: {failed:?}",
        failed.len(),
        attempts.len()
    );
    let during = attempts
        .iter()
        .filter(|a| a.sent >= started && a.answered <= finished)
        .count();
    println!(
        "{} checkouts, {during} of them during the move ({} ms, a write pause of {} ms)",
        attempts.len(),
        mv["duration_ms"],
        mv["pause_ms"]
    );
    assert!(during >= 3, "only {during} checkouts ran during the move");
    assert!(
        attempts.iter().any(|a| a.answered > finished),
        "checkouts after the move"
    );

    // Every order is on the new pod and reads through the router.
    let orders: Vec<uuid::Uuid> = attempts
        .iter()
        .filter_map(|a| a.outcome.as_ref().ok())
        .map(|id| id.parse().expect("order id"))
        .collect();
    let on_target = stack.pod_by_id(&target["id"]).await;
    let mut db = <sqlx::PgConnection as sqlx::Connection>::connect(&on_target.database_url)
        .await
        .expect("target db");
    let (found,): (i64,) =
        sqlx::query_as("SELECT count(*) FROM orders WHERE store_id = $1 AND id = ANY($2)")
            .bind(shop.id.as_uuid())
            .bind(&orders)
            .fetch_one(&mut db)
            .await
            .expect("orders");
    assert_eq!(found, orders.len() as i64, "every order is on the new pod");
    for id in &orders {
        let r = stack
            .get(&shop.host, &format!("/admin/api/orders/{id}"))
            .bearer_auth(&shop.staff)
            .send()
            .await
            .expect("order");
        assert_eq!(r.status(), 200, "order {id}");
    }

    // The jobs page lists the move; a rebalance is planned, not applied.
    b.click("nav a[href='/console/jobs']").await;
    b.wait_for_text_in("h1", "Moves and jobs").await;
    b.wait_for(&format!(".table a[href='/console/moves/{move_id}']"))
        .await;
    b.screenshot("docs/console/jobs.png").await;
    b.assert_accessible("the moves and jobs").await;
    b.select("#measure", "stores").await;
    b.click(".filter-form button[type=submit]").await;
    b.wait_for_text_in("h1", "Rebalance plan").await;
    b.wait_for_text("The pods before and after").await;
    b.screenshot("docs/console/plan.png").await;
    b.assert_accessible("a rebalance plan").await;

    // The store's new pod is drained: the plan first, then the job, live.
    b.click("nav a[href='/console']").await;
    b.wait_for_text_in("h1", "Pods").await;
    b.click(&format!("a[href='/console/pods/{target_id}/drain']"))
        .await;
    b.wait_for_text_in(
        "h1",
        &format!("Drain {}", target["name"].as_str().expect("name")),
    )
    .await;
    b.wait_for_text_in(".table", "Store lanterns").await;
    b.screenshot("docs/console/drain.png").await;
    b.assert_accessible("a drain plan").await;
    b.fill("#pause", "0").await;
    b.click(".run-form button[type=submit]").await;
    b.wait_for_text_in("h1", "Drain of").await;
    b.assert_accessible("a running job").await;
    b.set_timeout(Duration::from_secs(90));
    b.wait_for_text_in("[data-live]", "1 of 1 steps done").await;
    b.wait_for("[data-live][data-finished]").await;
    b.set_timeout(common::browser::DEFAULT_TIMEOUT);
    b.wait_for_text_in("[data-live]", "completed").await;
    b.screenshot("docs/console/job.png").await;
    b.assert_accessible("a finished job").await;
    let store: Value = stack
        .operator(Method::GET, &format!("/v1/stores/{}", shop.id))
        .send()
        .await
        .expect("store")
        .json()
        .await
        .expect("json");
    assert_eq!(store["pod_id"], source.as_str(), "the drain moved it back");

    b.click(".admin-header button[type=submit]").await;
    b.wait_for_text_in("h1", "Operator sign-in").await;
    b.close().await;
    drop(shop);
    let stack = Arc::try_unwrap(stack).unwrap_or_else(|_| panic!("the shoppers' task has ended"));
    stack.shutdown().await;
}
