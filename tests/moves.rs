//! Live store moves between pods: under load through the router, with a
//! stale router, across control-plane restarts and aborts, and with the
//! stores that stay put unaffected.

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::shop::Shop;
use common::{error_code, Stack};
use reqwest::Method;
use serde_json::{json, Value};
use sqlx::Connection as _;

/// Moves `shop` to the stack's pod `target` and waits for the move to end;
/// the final move.
async fn move_and_wait(stack: &Stack, shop: &Shop, target: &Value) -> Value {
    let r = stack
        .operator(Method::POST, "/v1/moves")
        .json(&json!({"store_id": shop.id, "target_pod_id": target["id"]}))
        .send()
        .await
        .expect("start move");
    assert_eq!(r.status(), 202, "{}", r.text().await.unwrap_or_default());
    let mv: Value = r.json().await.expect("json");
    wait_finished(stack, mv["id"].as_str().expect("id")).await
}

async fn get_move(stack: &Stack, id: &str) -> Value {
    stack
        .operator(Method::GET, &format!("/v1/moves/{id}"))
        .send()
        .await
        .expect("get move")
        .json()
        .await
        .expect("json")
}

async fn wait_finished(stack: &Stack, id: &str) -> Value {
    stack
        .eventually("the move finishes", || async {
            let mv = get_move(stack, id).await;
            (mv["status"] != "running").then_some(mv)
        })
        .await
}

async fn wait_phase(stack: &Stack, id: &str, phase: &str) {
    stack
        .eventually(&format!("the move reaches {phase}"), || async {
            (get_move(stack, id).await["phase"] == phase).then_some(())
        })
        .await;
}

async fn pods(stack: &Stack) -> Vec<Value> {
    stack
        .operator(Method::GET, "/v1/pods")
        .send()
        .await
        .expect("pods")
        .json()
        .await
        .expect("json")
}

/// The registered pod that is not `pod_id`.
async fn other_pod(stack: &Stack, pod_id: &Value) -> Value {
    pods(stack)
        .await
        .into_iter()
        .find(|p| &p["id"] != pod_id)
        .expect("a second pod")
}

async fn connect(url: &str) -> sqlx::PgConnection {
    sqlx::PgConnection::connect(url).await.expect("pod db")
}

async fn tenant_tables(db: &mut sqlx::PgConnection) -> Vec<String> {
    let rows: Vec<(String,)> = sqlx::query_as(mercato_tenants::TENANT_TABLES_SQL)
        .fetch_all(db)
        .await
        .expect("tables");
    rows.into_iter().map(|(t,)| t).collect()
}

/// Rows of `store` over every tenant table of a pod database.
async fn store_rows(url: &str, store: mercato_tenants::StoreId) -> i64 {
    let mut db = connect(url).await;
    let mut total = 0;
    for table in tenant_tables(&mut db).await {
        total += rows_of(&mut db, &table, store).await;
    }
    total
}

/// Rows of `store` in `table`.
async fn rows_of(db: &mut sqlx::PgConnection, table: &str, store: mercato_tenants::StoreId) -> i64 {
    let (n,): (i64,) = sqlx::query_as(&format!(
        "SELECT count(*) FROM \"{table}\" WHERE store_id = $1"
    ))
    .bind(store.as_uuid())
    .fetch_one(db)
    .await
    .expect("count");
    n
}

/// How many of `ids` (uuids) are rows of `store` in `table`.
async fn rows_with_ids(
    db: &mut sqlx::PgConnection,
    table: &str,
    store: mercato_tenants::StoreId,
    ids: &[String],
) -> i64 {
    let ids: Vec<uuid::Uuid> = ids.iter().map(|i| i.parse().expect("uuid")).collect();
    let (found,): (i64,) = sqlx::query_as(&format!(
        "SELECT count(*) FROM \"{table}\" WHERE store_id = $1 AND id = ANY($2)"
    ))
    .bind(store.as_uuid())
    .bind(&ids)
    .fetch_one(db)
    .await
    .expect(table);
    found
}

/// Publications, slots and subscriptions left by moves in a pod database,
/// and change captures with what they recorded.
async fn replication_objects(url: &str) -> i64 {
    let mut db = connect(url).await;
    let (n,): (i64,) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM pg_publication WHERE pubname LIKE 'mercato_move_%')
              + (SELECT count(*) FROM pg_replication_slots WHERE slot_name LIKE 'mercato_move_%')
              + (SELECT count(*) FROM pg_subscription WHERE subname LIKE 'mercato_move_%')
              + (SELECT count(*) FROM move_capture.stores)
              + (SELECT count(*) FROM move_capture.changes)",
    )
    .fetch_one(&mut db)
    .await
    .expect("replication objects");
    n
}

async fn hosted_state(url: &str, store: mercato_tenants::StoreId) -> Option<String> {
    let mut db = connect(url).await;
    sqlx::query_as::<_, (String,)>("SELECT state FROM hosted_stores WHERE store_id = $1")
        .bind(store.as_uuid())
        .fetch_optional(&mut db)
        .await
        .expect("hosted state")
        .map(|(s,)| s)
}

/// What the writers saw: acknowledged writes and failures.
#[derive(Default)]
struct Ledger {
    products: Vec<String>,
    adjustments: i64,
    carts: Vec<String>,
    orders: Vec<String>,
    checkout_refusals: Vec<String>,
    failures: Vec<String>,
    bystander_requests: u64,
}

type Shared = Arc<Mutex<Ledger>>;

fn note(ledger: &Shared, f: impl FnOnce(&mut Ledger)) {
    f(&mut ledger.lock().expect("ledger"));
}

/// The body of an acknowledged write (`expect`, or any 2xx when `None`);
/// anything else is noted as a failure of `what`.
async fn acked(
    ledger: &Shared,
    what: &str,
    r: reqwest::Result<reqwest::Response>,
    expect: Option<u16>,
) -> Option<Value> {
    match r {
        Ok(r) if expect.map_or(r.status().is_success(), |e| r.status() == e) => {
            Some(r.json().await.unwrap_or(Value::Null))
        }
        Ok(r) => {
            let status = r.status();
            let text = r.text().await.unwrap_or_default();
            note(ledger, |l| {
                l.failures.push(format!("{what} {status}: {text}"))
            });
            None
        }
        Err(e) => {
            note(ledger, |l| l.failures.push(format!("{what}: {e}")));
            None
        }
    }
}

/// Writers through the router until `stop`: catalog edits, stock changes
/// and carts on `shop`, checkouts of the prepared carts, and reads and
/// writes on the bystander stores.
fn spawn_load(
    stack: Arc<Stack>,
    shop: Arc<Shop>,
    variant: String,
    checkout_carts: Vec<String>,
    bystanders: Vec<(Arc<Shop>, String)>,
    stop: Arc<AtomicBool>,
    ledger: Shared,
) -> Vec<tokio::task::JoinHandle<()>> {
    let mut tasks = Vec::new();
    let seq = Arc::new(AtomicU64::new(0));
    for _ in 0..2 {
        let (stack, shop, stop, ledger, seq) = (
            stack.clone(),
            shop.clone(),
            stop.clone(),
            ledger.clone(),
            seq.clone(),
        );
        tasks.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let n = seq.fetch_add(1, Ordering::Relaxed);
                let body = json!({"title": format!("Load {n}"), "variants": [{"sku": format!("LOAD-{n}"), "price_minor": 500}]});
                let r = stack
                    .post(&shop.host, "/admin/api/products")
                    .bearer_auth(&shop.staff)
                    .json(&body)
                    .send()
                    .await;
                if let Some(body) = acked(&ledger, "product", r, Some(201)).await {
                    let id = body["id"].as_str().expect("id").to_owned();
                    note(&ledger, |l| l.products.push(id));
                }
            }
        }));
    }
    {
        let (stack, shop, stop, ledger, variant) = (
            stack.clone(),
            shop.clone(),
            stop.clone(),
            ledger.clone(),
            variant.clone(),
        );
        tasks.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let r = stack
                    .post(
                        &shop.host,
                        &format!("/admin/api/variants/{variant}/stock/adjustments"),
                    )
                    .bearer_auth(&shop.staff)
                    .json(&json!({"delta": 1, "reason": "received"}))
                    .send()
                    .await;
                if acked(&ledger, "stock", r, None).await.is_some() {
                    note(&ledger, |l| l.adjustments += 1);
                }
            }
        }));
    }
    {
        let (stack, shop, stop, ledger) =
            (stack.clone(), shop.clone(), stop.clone(), ledger.clone());
        tasks.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let r = stack.post(&shop.host, "/api/cart").send().await;
                if let Some(body) = acked(&ledger, "cart", r, Some(201)).await {
                    let id = body["cart"]["id"].as_str().expect("cart id").to_owned();
                    note(&ledger, |l| l.carts.push(id));
                }
            }
        }));
    }
    {
        let (stack, shop, stop, ledger) =
            (stack.clone(), shop.clone(), stop.clone(), ledger.clone());
        tasks.push(tokio::spawn(async move {
            for (i, token) in checkout_carts.iter().enumerate() {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let r = shop
                    .checkout(&stack, token, &format!("move-{i}"), common::shop::CARD_OK)
                    .send()
                    .await;
                match r {
                    Ok(r) if r.status() == 201 => {
                        let body: Value = r.json().await.expect("json");
                        let id = body["id"].as_str().expect("order id").to_owned();
                        note(&ledger, |l| l.orders.push(id));
                    }
                    Ok(r) => {
                        let (status, code) = error_code(r).await;
                        note(&ledger, |l| {
                            l.checkout_refusals.push(format!("{status} {code}"))
                        });
                    }
                    Err(e) => note(&ledger, |l| l.failures.push(format!("checkout: {e}"))),
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }));
    }
    for (other, other_variant) in bystanders {
        let (stack, stop, ledger) = (stack.clone(), stop.clone(), ledger.clone());
        tasks.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let read = stack.get(&other.host, "/api/products").send().await;
                let write = stack
                    .post(
                        &other.host,
                        &format!("/admin/api/variants/{other_variant}/stock/adjustments"),
                    )
                    .bearer_auth(&other.staff)
                    .json(&json!({"delta": 1, "reason": "received"}))
                    .send()
                    .await;
                for (what, r) in [("bystander read", read), ("bystander write", write)] {
                    if acked(&ledger, what, r, None).await.is_some() {
                        note(&ledger, |l| l.bystander_requests += 1);
                    }
                }
            }
        }));
    }
    tasks
}

/// The tables an order's second half writes (issue 17), a staff member's
/// password reset (issue 20), and the reports' rollups and time zone
/// (issue 21).
const AFTER_THE_ORDER: [&str; 24] = [
    "discounts",
    "discount_codes",
    "discount_shopper_uses",
    "discount_uses",
    "shipments",
    "shipment_lines",
    "reviews",
    "product_ratings",
    "returns",
    "return_lines",
    "refunds",
    "webhook_subscriptions",
    "mail_deliveries",
    "risk_settings",
    "gift_cards",
    "gift_card_transactions",
    "theme_settings",
    "theme_templates",
    "staff_password_resets",
    "store_time_zones",
    "sales_daily",
    "variant_sales_daily",
    "variant_sales_monthly",
    "customer_sales_daily",
];

/// A signed-in customer buys, gets the order delivered, reviews it,
/// opens a return, gets a goodwill refund, staff issue and adjust a gift
/// card, and a new staff member asks for a password reset: rows in every
/// table of
/// [`AFTER_THE_ORDER`] but the webhooks'.
async fn after_the_order(stack: &Stack, shop: &Shop) {
    let (product, variant) = shop.product(stack, "AFTER-1", 2500, 5).await;
    let body = json!({"email": "mover@example.com", "password": "correct horse battery",
                      "first_name": "Mo", "last_name": "Ver"});
    let r = common::register_customer(stack, &shop.host, body, None).await;
    assert_eq!(r.status(), 201, "confirming the customer");
    let login: Value = r.json().await.expect("json");
    let token = login["token"].as_str().expect("token").to_owned();
    let r = stack
        .post(&shop.host, "/api/cart/lines")
        .bearer_auth(&token)
        .json(&json!({"variant_id": variant, "quantity": 2}));
    assert_eq!(common::status_of(r).await, 200);
    // A code with limits, used by this order: its counts move too.
    let r = stack
        .post(&shop.host, "/admin/api/discounts")
        .bearer_auth(&shop.staff)
        .json(
            &json!({"title": "Movers", "method": "code", "code": "MOVE5",
                      "kind": {"kind": "order", "value": {"type": "amount", "value": 500}},
                      "usage_limit": 10, "per_customer_limit": 1}),
        );
    assert_eq!(common::status_of(r).await, 201, "discount");
    let r = stack
        .post(&shop.host, "/api/cart/discount-codes")
        .bearer_auth(&token)
        .json(&json!({"code": "move5"}));
    assert_eq!(common::status_of(r).await, 200, "code in the cart");
    // A gift card pays part of it (its debit, with the checkout's id).
    let r = stack
        .post(&shop.host, "/admin/api/gift-cards")
        .bearer_auth(&shop.staff)
        .json(&json!({"amount_minor": 4321, "note": "moves"}))
        .send()
        .await
        .expect("gift card");
    assert_eq!(r.status(), 201, "gift card");
    let card: Value = r.json().await.expect("json");
    let mut body = common::shop::checkout_body(common::shop::CARD_OK);
    body["gift_cards"] = json!([card["code"]]);
    let r = stack
        .post(&shop.host, "/api/checkout")
        .bearer_auth(&token)
        .header("idempotency-key", "after-the-order")
        .json(&body)
        .send()
        .await
        .expect("checkout");
    assert_eq!(r.status(), 201);
    let order: Value = r.json().await.expect("order");
    let id = order["id"].as_str().expect("id");
    shop.deliver(stack, id).await;
    let r = stack
        .post(&shop.host, &format!("/api/products/{product}/reviews"))
        .bearer_auth(&token)
        .json(&json!({"rating": 5, "title": "Moves well", "body": "Still here after the move."}))
        .send()
        .await
        .expect("review");
    assert_eq!(r.status(), 201, "review");
    let review: Value = r.json().await.expect("json");
    let r = stack
        .post(
            &shop.host,
            &format!(
                "/admin/api/reviews/{}/status",
                review["id"].as_str().expect("id")
            ),
        )
        .bearer_auth(&shop.staff)
        .json(&json!({"status": "published"}));
    assert_eq!(common::status_of(r).await, 200, "publishing the review");
    let number = order["number"].as_i64().expect("number");
    let r = stack
        .post(&shop.host, &format!("/api/orders/{number}/returns"))
        .bearer_auth(&token)
        .json(&json!({"lines": [{"line": 0, "quantity": 1}], "reason": "too big"}));
    assert_eq!(common::status_of(r).await, 201, "return");
    let r = stack
        .post(&shop.host, &format!("/admin/api/orders/{id}/refunds"))
        .bearer_auth(&shop.staff)
        .header("idempotency-key", "after-the-order-goodwill")
        .json(&json!({"amount_minor": 300, "reason": "late"}));
    assert_eq!(common::status_of(r).await, 201, "goodwill refund");
    let r = stack
        .at(Method::PUT, &shop.host, "/admin/api/settings/risk")
        .bearer_auth(&shop.staff)
        .json(&json!({"block_amount_minor": 5_000_000}));
    assert_eq!(common::status_of(r).await, 200, "risk settings");
    // The gift card that paid part of the order, credited by the goodwill
    // refund, then adjusted by staff: every kind of ledger row moves.
    let r = stack
        .post(
            &shop.host,
            &format!(
                "/admin/api/gift-cards/{}/adjustments",
                card["id"].as_str().expect("id")
            ),
        )
        .bearer_auth(&shop.staff)
        .header("idempotency-key", "after-the-order-gift-card")
        .json(&json!({"delta_minor": -21}));
    assert_eq!(common::status_of(r).await, 201, "gift card adjustment");
    // The storefront's theme: its settings and a template of its own.
    let r = stack
        .at(Method::PUT, &shop.host, "/admin/api/settings/theme")
        .bearer_auth(&shop.staff)
        .json(&json!({"colours": {"accent": "#aa3300"}}));
    assert_eq!(common::status_of(r).await, 200, "theme settings");
    let r = stack
        .at(Method::PUT, &shop.host, "/admin/api/theme/templates/error.html")
        .bearer_auth(&shop.staff)
        .json(&json!({"source": "{% extends \"base.html\" %}{% block main %}<h1>Moved away</h1>{% endblock %}"}));
    assert_eq!(common::status_of(r).await, 200, "a template of its own");
    // A staff member (invited, joined) who forgot their password.
    let r = stack
        .post(&shop.host, "/admin/api/staff/invitations")
        .bearer_auth(&shop.staff)
        .json(&json!({"email": "helper@mover.example"}));
    assert_eq!(common::status_of(r).await, 201, "invitation");
    let invitation: String = sqlx::query_scalar(
        "SELECT payload->>'token' FROM outbox
          WHERE store_id = $1 AND type = 'staff.invited' ORDER BY id DESC LIMIT 1",
    )
    .bind(shop.id.as_uuid())
    .fetch_one(&mut shop.db(stack).await)
    .await
    .expect("the invitation's token");
    let r = stack
        .post(&shop.host, "/admin/api/staff/invitations/accept")
        .json(&json!({"token": invitation, "password": "helper's long password"}));
    assert_eq!(common::status_of(r).await, 201, "joining");
    let r = stack
        .post(&shop.host, "/admin/api/password-reset")
        .json(&json!({"email": "helper@mover.example"}));
    assert_eq!(common::status_of(r).await, 202, "staff password reset");
    // The reports' days in the store's own zone (their rollups hold the
    // orders above).
    let r = stack
        .at(Method::PUT, &shop.host, "/admin/api/settings/time-zone")
        .bearer_auth(&shop.staff)
        .json(&json!({"time_zone": "Europe/Paris"}));
    assert_eq!(common::status_of(r).await, 200, "time zone");
}

/// The store's rows per table of [`AFTER_THE_ORDER`] in a pod database.
async fn after_the_order_rows(url: &str, store: mercato_tenants::StoreId) -> Vec<(String, i64)> {
    let mut db = connect(url).await;
    let mut out = Vec::new();
    for table in AFTER_THE_ORDER {
        out.push((table.to_owned(), rows_of(&mut db, table, store).await));
    }
    out
}

/// Tests 1 and 4: a store moves while writers work through the router.
/// Every acknowledged write is on the target, the source took no write
/// after its fence, checkouts end consistent, and the stores that stay put
/// on both pods answer every request throughout.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_store_moves_under_load_without_losing_a_write() {
    let stack = Stack::start_with(2, |c| {
        c.checkout.stuck_after_ms = 2_000;
        c.checkout.recovery_interval_ms = 300;
    })
    .await;
    let shop = Shop::open(&stack, "mover").await;
    let calm_one = Shop::open(&stack, "calm-one").await;
    let calm_two = Shop::open(&stack, "calm-two").await;
    let source_id = shop.store["pod_id"].clone();
    let target = other_pod(&stack, &source_id).await;
    let source_url = stack.pod_by_id(&source_id).await.database_url.clone();
    let target_url = stack.pod_by_id(&target["id"]).await.database_url.clone();
    let mut bystanders = Vec::new();
    let mut bystander_pods = std::collections::BTreeSet::new();
    for other in [calm_one, calm_two] {
        bystander_pods.insert(other.store["pod_id"].to_string());
        let (_, v) = other
            .product(&stack, &format!("CALM-{}", other.id), 900, 5)
            .await;
        bystanders.push((Arc::new(other), v));
    }
    assert_eq!(bystander_pods.len(), 2, "a bystander store on each pod");

    // Webhooks move with the store: a subscription made on the source
    // gets every event, whichever pod delivers it.
    let receiver = common::receiver::Receiver::start().await;
    let r = stack
        .post(&shop.host, "/admin/api/webhooks")
        .bearer_auth(&shop.staff)
        .json(&json!({"url": receiver.url(), "topics": ["orders/created", "products/update"]}));
    assert_eq!(common::status_of(r).await, 201);

    // A store with shipments, a review, a return, refunds and mail moves
    // with all of them.
    after_the_order(&stack, &shop).await;
    let (_, stocked) = shop.product(&stack, "STOCKED", 1200, 1_000).await;
    let (_, sold) = shop.product(&stack, "SOLD", 2500, 100).await;
    let checkout_carts = shop.one_unit_carts(&stack, &sold, 40).await;

    let stack = Arc::new(stack);
    let shop = Arc::new(shop);
    let stop = Arc::new(AtomicBool::new(false));
    let ledger: Shared = Arc::default();
    let tasks = spawn_load(
        stack.clone(),
        shop.clone(),
        stocked.clone(),
        checkout_carts,
        bystanders.clone(),
        stop.clone(),
        ledger.clone(),
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mv = move_and_wait(&stack, &shop, &target).await;
    // Writers go on against the target for a while.
    tokio::time::sleep(Duration::from_millis(700)).await;
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await.expect("writer");
    }
    assert_eq!(mv["status"], "completed", "{mv}");
    assert!(mv["pause_ms"].as_i64().expect("pause recorded") >= 0);
    assert!(mv["rows_copied"].as_i64().expect("rows") > 0);
    let ledger = std::mem::take(&mut *ledger.lock().expect("ledger"));
    assert!(
        ledger.failures.is_empty(),
        "failed requests: {:?}",
        ledger.failures
    );
    assert!(ledger.products.len() > 10 && ledger.adjustments > 10 && !ledger.carts.is_empty());
    assert!(ledger.bystander_requests > 10);

    // The routing and the pods agree that the store lives on the target.
    let store: Value = stack
        .operator(Method::GET, &format!("/v1/stores/{}", shop.id))
        .send()
        .await
        .expect("store")
        .json()
        .await
        .expect("json");
    assert_eq!(store["pod_id"], target["id"]);
    assert_eq!(store["state"], "active");
    assert_eq!(
        hosted_state(&target_url, shop.id).await.as_deref(),
        Some("active")
    );
    assert_eq!(
        hosted_state(&source_url, shop.id).await.as_deref(),
        Some("moved_out")
    );
    assert_eq!(replication_objects(&source_url).await, 0);
    assert_eq!(replication_objects(&target_url).await, 0);

    // Zero lost writes: every acknowledged write is on the target.
    let mut db = connect(&target_url).await;
    for (table, ids) in [("products", &ledger.products), ("carts", &ledger.carts)] {
        assert_eq!(
            rows_with_ids(&mut db, table, shop.id, ids).await,
            ids.len() as i64,
            "acknowledged {table} on the target"
        );
    }
    // Every row of the order's second half is on the target, as on the
    // source (checkouts go on after the move: the target has their
    // shipments and mail too).
    let moved = after_the_order_rows(&target_url, shop.id).await;
    let left = after_the_order_rows(&source_url, shop.id).await;
    for ((table, on_target), (_, on_source)) in moved.iter().zip(&left) {
        assert!(*on_source > 0, "{table} has rows to move");
        if matches!(
            table.as_str(),
            "shipments"
                | "shipment_lines"
                | "mail_deliveries"
                | "sales_daily"
                | "variant_sales_daily"
                | "variant_sales_monthly"
                | "customer_sales_daily"
        ) {
            assert!(on_target >= on_source, "{table}: {on_target} < {on_source}");
        } else {
            assert_eq!(on_target, on_source, "{table}");
        }
    }
    // The reports' rollups on the target count every order and every cent
    // given back exactly once: copied, never counted again by the target's
    // triggers, and kept by the writes after the switch.
    {
        let mut db = connect(&target_url).await;
        let (rolled, counted): ((i64, i64, i64), (i64, i64, i64)) = (
            sqlx::query_as(
                "SELECT coalesce(sum(orders), 0)::bigint, coalesce(sum(total_minor), 0)::bigint,
                        coalesce(sum(refunded_minor), 0)::bigint
                   FROM sales_daily WHERE store_id = $1",
            )
            .bind(shop.id.as_uuid())
            .fetch_one(&mut db)
            .await
            .expect("rollups"),
            sqlx::query_as(
                "SELECT count(*), coalesce(sum(total_minor), 0)::bigint,
                        coalesce(sum(refunded_minor), 0)::bigint
                   FROM orders WHERE store_id = $1",
            )
            .bind(shop.id.as_uuid())
            .fetch_one(&mut db)
            .await
            .expect("orders"),
        );
        assert_eq!(
            rolled, counted,
            "the rollups agree with the orders on the target"
        );
    }
    // Not a cent of gift card money lost: balances and the ledger agree on
    // the target, and with the source.
    let store_id = shop.id;
    let money = |url: String| async move {
        let mut db = connect(&url).await;
        let (balances, ledger): (i64, i64) = sqlx::query_as(
            "SELECT (SELECT coalesce(sum(balance_minor), 0)::bigint FROM gift_cards WHERE store_id = $1),
                    (SELECT coalesce(sum(amount_minor), 0)::bigint FROM gift_card_transactions
                      WHERE store_id = $1)",
        )
        .bind(store_id.as_uuid())
        .fetch_one(&mut db)
        .await
        .expect("gift card money");
        (balances, ledger)
    };
    let (on_target, on_source) = (
        money(target_url.clone()).await,
        money(source_url.clone()).await,
    );
    assert_eq!(on_target, on_source);
    assert_eq!(on_target.0, on_target.1, "balances are the ledger");
    assert!(on_target.0 > 0);
    // Nothing was written on the source after the fence: no row of the
    // store there is younger than the move's last marker.
    let mut src = connect(&source_url).await;
    for table in tenant_tables(&mut src).await {
        let (late,): (i64,) = sqlx::query_as(&format!(
            "SELECT count(*) FROM \"{table}\" t
              WHERE t.store_id = $1 AND age(t.xmin) < (
                  SELECT min(age(m.xmin)) FROM move_markers m WHERE m.store_id = $1)"
        ))
        .bind(shop.id.as_uuid())
        .fetch_one(&mut src)
        .await
        .expect("late rows");
        assert_eq!(
            late, 0,
            "rows written on the source after the fence in {table}"
        );
    }
    let variant_id: uuid::Uuid = stocked.parse().expect("uuid");
    let mut audit = Vec::new();
    for url in [&source_url, &target_url] {
        let (n,): (i64,) = sqlx::query_as(
            "SELECT count(*) FROM stock_adjustments WHERE store_id = $1 AND variant_id = $2",
        )
        .bind(shop.id.as_uuid())
        .bind(variant_id)
        .fetch_one(&mut connect(url).await)
        .await
        .expect("audit");
        audit.push(n);
    }
    let (on_hand, reserved) = shop.stock(&stack, &stocked).await;
    assert_eq!(
        (on_hand, reserved),
        (1_000 + ledger.adjustments, 0),
        "audit rows on source, target: {audit:?}"
    );

    // Checkouts in flight end consistent on the target: each one completed
    // (a paid order) or failed (nothing held), and stock adds up.
    stack
        .eventually("every checkout settles", || async {
            let (open,): (i64,) = sqlx::query_as(
                "SELECT count(*) FROM checkouts WHERE store_id = $1 AND state NOT IN ('completed', 'failed')",
            )
            .bind(shop.id.as_uuid())
            .fetch_one(&mut connect(&target_url).await)
            .await
            .expect("checkouts");
            (open == 0).then_some(())
        })
        .await;
    let (paid,): (i64,) =
        sqlx::query_as("SELECT count(*) FROM orders WHERE store_id = $1 AND status = 'paid'")
            .bind(shop.id.as_uuid())
            .fetch_one(&mut db)
            .await
            .expect("orders");
    let order_ids: Vec<uuid::Uuid> = ledger
        .orders
        .iter()
        .map(|o| o.parse().expect("uuid"))
        .collect();
    let (acked_paid,): (i64,) = sqlx::query_as(
        "SELECT count(*) FROM orders WHERE store_id = $1 AND status = 'paid' AND id = ANY($2)",
    )
    .bind(shop.id.as_uuid())
    .bind(&order_ids)
    .fetch_one(&mut db)
    .await
    .expect("orders");
    assert_eq!(
        acked_paid,
        order_ids.len() as i64,
        "every 201 checkout has its paid order"
    );
    // A move is invisible to shoppers: no checkout is refused by a server
    // error (a refusal for the stock is an answer; a 5xx is a defect).
    let server_errors: Vec<&String> = ledger
        .checkout_refusals
        .iter()
        .filter(|r| r.starts_with('5'))
        .collect();
    assert!(
        server_errors.is_empty(),
        "checkouts refused by a server error: {server_errors:?}"
    );
    // Mail moves with the store: each paid order's confirmation has its
    // delivery row on the target, and the mailbox holds exactly one mail
    // per order, whichever pod sent it (the rows of deliveries under way at
    // the fence are finished by the target).
    let (queued,): (i64,) = sqlx::query_as(
        "SELECT count(*) FROM mail_deliveries d
           JOIN outbox o ON o.store_id = d.store_id AND o.id = d.event_id
          WHERE d.store_id = $1 AND o.type = 'order.placed'",
    )
    .bind(shop.id.as_uuid())
    .fetch_one(&mut db)
    .await
    .expect("deliveries");
    // Paid, whatever became of it since (the after-the-order one was
    // delivered).
    let (ever_paid,): (i64,) = sqlx::query_as(
        "SELECT count(*) FROM orders WHERE store_id = $1 AND status NOT IN ('placed', 'cancelled')",
    )
    .bind(shop.id.as_uuid())
    .fetch_one(&mut db)
    .await
    .expect("orders");
    assert_eq!(queued, ever_paid, "a confirmation queued per paid order");
    stack
        .eventually("the moved store's mails are all finished", || async {
            let (open,): (i64,) = sqlx::query_as(
                "SELECT count(*) FROM mail_deliveries
                  WHERE store_id = $1 AND state IN ('pending', 'sending')",
            )
            .bind(shop.id.as_uuid())
            .fetch_one(&mut connect(&target_url).await)
            .await
            .expect("deliveries");
            (open == 0).then_some(())
        })
        .await;
    let numbers: Vec<(i64,)> =
        sqlx::query_as("SELECT number FROM orders WHERE store_id = $1 AND status = 'paid'")
            .bind(shop.id.as_uuid())
            .fetch_all(&mut db)
            .await
            .expect("orders");
    let mails = stack.mails_to("shopper@example.com").await;
    for (number,) in numbers {
        let subject = format!("Order #{number} confirmed");
        let sent = mails
            .iter()
            .filter(|m| {
                m["subject"]
                    .as_str()
                    .is_some_and(|s| s.starts_with(&subject))
            })
            .count();
        assert_eq!(sent, 1, "{subject}");
    }
    let (on_hand, reserved) = shop.stock(&stack, &sold).await;
    assert_eq!(
        (on_hand, reserved),
        (100 - paid, 0),
        "refusals: {:?}",
        ledger.checkout_refusals
    );
    // Every webhook event has its delivery row on the target, and the
    // receiver got each one (some maybe twice, across the fence), none
    // that is not the store's.
    let hooked: Vec<(uuid::Uuid,)> = sqlx::query_as(
        "SELECT o.id FROM outbox o
          WHERE o.store_id = $1 AND o.type IN ('order.placed', 'catalog.product_changed')",
    )
    .bind(shop.id.as_uuid())
    .fetch_all(&mut db)
    .await
    .expect("outbox");
    let hooked: std::collections::BTreeSet<String> =
        hooked.into_iter().map(|(id,)| id.to_string()).collect();
    let (queued,): (i64,) =
        sqlx::query_as("SELECT count(*) FROM webhook_deliveries WHERE store_id = $1")
            .bind(shop.id.as_uuid())
            .fetch_one(&mut db)
            .await
            .expect("deliveries");
    assert_eq!(
        queued,
        hooked.len() as i64,
        "a delivery per event, on the target"
    );
    stack
        .eventually("every webhook event arrives", || async {
            (receiver.event_ids() == hooked).then_some(())
        })
        .await;

    Arc::try_unwrap(stack)
        .ok()
        .expect("one owner")
        .shutdown()
        .await;
}

/// No publication, slot or subscription of a move is left on either pod,
/// the target holds nothing of the store, and the store serves from the
/// source through the router again.
async fn assert_back_on_source(stack: &Stack, shop: &Shop, source_url: &str, target_url: &str) {
    assert_eq!(replication_objects(source_url).await, 0);
    assert_eq!(replication_objects(target_url).await, 0);
    assert_eq!(store_rows(target_url, shop.id).await, 0);
    assert_eq!(hosted_state(target_url, shop.id).await, None);
    assert_eq!(
        hosted_state(source_url, shop.id).await.as_deref(),
        Some("active")
    );
    let store: Value = stack
        .operator(Method::GET, &format!("/v1/stores/{}", shop.id))
        .send()
        .await
        .expect("store")
        .json()
        .await
        .expect("json");
    assert_eq!(
        (&store["pod_id"], &store["state"]),
        (&shop.store["pod_id"], &json!("active"))
    );
    stack
        .eventually("the store takes writes on the source again", || async {
            let r = stack
                .post(&shop.host, "/admin/api/products")
                .bearer_auth(&shop.staff)
                .json(&json!({"title": "After", "variants": [{"sku": format!("AFTER-{}", uuid::Uuid::new_v4()), "price_minor": 100}]}))
                .send()
                .await
                .ok()?;
            (r.status() == 201).then_some(())
        })
        .await;
}

async fn start_move(stack: &Stack, shop: &Shop, target: &Value) -> String {
    let r = stack
        .operator(Method::POST, "/v1/moves")
        .json(&json!({"store_id": shop.id, "target_pod_id": target["id"]}))
        .send()
        .await
        .expect("start move");
    assert_eq!(r.status(), 202, "{}", r.text().await.unwrap_or_default());
    let mv: Value = r.json().await.expect("json");
    mv["id"].as_str().expect("id").to_owned()
}

/// The source pod's database, the other pod and its database.
async fn both_ends(stack: &Stack, shop: &Shop) -> (String, Value, String) {
    let source_url = stack
        .pod_by_id(&shop.store["pod_id"])
        .await
        .database_url
        .clone();
    let target = other_pod(stack, &shop.store["pod_id"]).await;
    let target_url = stack.pod_by_id(&target["id"]).await.database_url.clone();
    (source_url, target, target_url)
}

/// A move of `shop` to `target` under a control plane that holds it before
/// its freeze (`catching_up`) until it is aborted or the control plane
/// restarts; its id.
async fn held_before_freeze(stack: &mut Stack, shop: &Shop, target: &Value) -> String {
    stack.stop_control_plane().await;
    stack
        .start_control_plane_with(|c| c.moves.failpoint = "wait_before_freeze".into())
        .await;
    let id = start_move(stack, shop, target).await;
    wait_phase(stack, &id, "catching_up").await;
    id
}

/// Test 3: an aborted move and a move whose control plane died after the
/// fence both end with the store serving on its source and nothing left
/// behind; a move interrupted before its freeze resumes after a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn moves_survive_aborts_and_control_plane_restarts() {
    let mut stack = Stack::start(2).await;
    let shop = Shop::open(&stack, "restless").await;
    shop.product(&stack, "R-1", 1000, 7).await;
    let (source_url, target, target_url) = both_ends(&stack, &shop).await;

    // Held before its freeze, then aborted by the operator.
    let id = held_before_freeze(&mut stack, &shop, &target).await;
    // A second move of the same store is refused while this one runs.
    let (status, code) = error_code(
        stack
            .operator(Method::POST, "/v1/moves")
            .json(&json!({"store_id": shop.id, "target_pod_id": target["id"]}))
            .send()
            .await
            .expect("second move"),
    )
    .await;
    assert_eq!((status, code.as_str()), (409, "move_in_progress"));
    let r = stack
        .operator(Method::POST, &format!("/v1/moves/{id}/abort"))
        .send()
        .await
        .expect("abort");
    assert_eq!(r.status(), 202);
    let mv = wait_finished(&stack, &id).await;
    assert_eq!(mv["status"], "rolled_back", "{mv}");
    assert_eq!(mv["error"], "aborted by an operator");
    assert_back_on_source(&stack, &shop, &source_url, &target_url).await;
    let (status, code) = error_code(
        stack
            .operator(Method::POST, &format!("/v1/moves/{id}/abort"))
            .send()
            .await
            .expect("abort again"),
    )
    .await;
    assert_eq!((status, code.as_str()), (409, "move_finished"));

    // The control plane dies right after the fence: the store is frozen
    // and fenced; the next control plane rolls the move back.
    stack.stop_control_plane().await;
    stack
        .start_control_plane_with(|c| c.moves.failpoint = "crash_after_fence".into())
        .await;
    let id = start_move(&stack, &shop, &target).await;
    wait_phase(&stack, &id, "fenced").await;
    assert_eq!(
        hosted_state(&source_url, shop.id).await.as_deref(),
        Some("moved_out")
    );
    stack.stop_control_plane().await;
    stack.start_control_plane().await;
    let mv = wait_finished(&stack, &id).await;
    assert_eq!(mv["status"], "rolled_back", "{mv}");
    assert_back_on_source(&stack, &shop, &source_url, &target_url).await;

    // Killed before the freeze (held there by the failpoint): the next
    // control plane resumes the move and completes it.
    let id = held_before_freeze(&mut stack, &shop, &target).await;
    stack.stop_control_plane().await;
    stack.start_control_plane().await;
    let mv = wait_finished(&stack, &id).await;
    assert_eq!(mv["status"], "completed", "{mv}");
    assert_eq!(replication_objects(&source_url).await, 0);
    assert_eq!(replication_objects(&target_url).await, 0);
    assert_eq!(
        hosted_state(&target_url, shop.id).await.as_deref(),
        Some("active")
    );
    let r = stack
        .get(&shop.host, "/api/products")
        .send()
        .await
        .expect("browse");
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.expect("json");
    assert!(body["items"].as_array().expect("items").len() >= 3);
    stack.shutdown().await;
}

/// The freeze compares every row the store changed since the bulk
/// verification: a changed row that differs on the target (altered there,
/// as a lost or wrong apply would leave it) rolls the move back.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_freeze_catches_a_changed_row_that_differs() {
    let mut stack = Stack::start(2).await;
    let shop = Shop::open(&stack, "watched").await;
    shop.product(&stack, "W-1", 1000, 3).await;
    let (source_url, target, target_url) = both_ends(&stack, &shop).await;
    let id = held_before_freeze(&mut stack, &shop, &target).await;

    // A write after the bulk verification: the source's capture records it.
    let (product, _) = shop.product(&stack, "W-2", 2000, 5).await;
    let mut src = connect(&source_url).await;
    let recorded: Vec<(String, Value)> = sqlx::query_as(
        "SELECT table_name, key FROM move_capture.changes
          WHERE store_id = $1 AND table_name = 'products'",
    )
    .bind(shop.id.as_uuid())
    .fetch_all(&mut src)
    .await
    .expect("changes");
    assert_eq!(
        recorded,
        vec![(
            "products".to_string(),
            json!({"store_id": shop.id, "id": product})
        )]
    );
    let url = target_url.clone();
    let wanted = vec![product.clone()];
    stack
        .eventually("the new product reaches the target", || {
            let (url, wanted) = (url.clone(), wanted.clone());
            async move {
                let mut db = connect(&url).await;
                (rows_with_ids(&mut db, "products", shop.id, &wanted).await == 1).then_some(())
            }
        })
        .await;
    let mut dst = connect(&target_url).await;
    let altered =
        sqlx::query("UPDATE products SET title = 'Altered' WHERE store_id = $1 AND id = $2")
            .bind(shop.id.as_uuid())
            .bind(product.parse::<uuid::Uuid>().expect("uuid"))
            .execute(&mut dst)
            .await
            .expect("alter");
    assert_eq!(altered.rows_affected(), 1);

    // Resumed without the failpoint, the move freezes, finds the row and
    // rolls back.
    stack.stop_control_plane().await;
    stack.start_control_plane().await;
    let mv = wait_finished(&stack, &id).await;
    assert_eq!(mv["status"], "rolled_back", "{mv}");
    let error = mv["error"].as_str().expect("error");
    assert!(
        error.starts_with("products: the 1 rows changed since verification differ"),
        "{error}"
    );
    assert_back_on_source(&stack, &shop, &source_url, &target_url).await;
    stack.shutdown().await;
}

/// Clear refusals: an unknown store or pod, the pod the store is on, a pod
/// registered without a database, tenant tables a move cannot carry.
#[tokio::test]
async fn moves_refuse_what_cannot_move() {
    let stack = Stack::start(2).await;
    let shop = Shop::open(&stack, "steady").await;
    let here = shop.store["pod_id"].clone();
    let st = &stack;
    let refuse = |body: Value| async move {
        error_code(
            st.operator(Method::POST, "/v1/moves")
                .json(&body)
                .send()
                .await
                .expect("move"),
        )
        .await
    };
    let unknown = uuid::Uuid::now_v7().to_string();
    assert_eq!(
        refuse(json!({"store_id": unknown})).await,
        (404, "not_found".into())
    );
    assert_eq!(
        refuse(json!({"store_id": shop.id, "target_pod_id": unknown})).await,
        (404, "not_found".into())
    );
    assert_eq!(
        refuse(json!({"store_id": shop.id, "target_pod_id": here})).await,
        (409, "already_on_pod".into())
    );
    assert_eq!(refuse(json!({"store_id": "nope"})).await.0, 400);
    let r = stack
        .operator(Method::POST, "/v1/pods")
        .json(&json!({"name": "no-db", "url": "http://127.0.0.1:9", "capacity": 5}))
        .send()
        .await
        .expect("register");
    assert_eq!(r.status(), 201);
    let bare: Value = r.json().await.expect("json");
    assert_eq!(
        refuse(json!({"store_id": shop.id, "target_pod_id": bare["id"]})).await,
        (422, "pod_not_movable".into())
    );
    // A tenant table without a primary key, then one without the capture
    // trigger, on both pods.
    let mut dbs = Vec::new();
    for pod in pods(&stack).await {
        if pod["id"] != bare["id"] {
            dbs.push(connect(&stack.pod_by_id(&pod["id"]).await.database_url).await);
        }
    }
    let refusal = |body: Value| async move {
        let r = st
            .operator(Method::POST, "/v1/moves")
            .json(&body)
            .send()
            .await
            .expect("move");
        let status = r.status().as_u16();
        let body: Value = r.json().await.expect("json");
        (
            status,
            body["error"]["code"].clone(),
            body["error"]["message"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        )
    };
    for db in dbs.iter_mut() {
        sqlx::query(
            "CREATE TABLE gift_notes (store_id uuid NOT NULL, id uuid NOT NULL, note text)",
        )
        .execute(&mut *db)
        .await
        .expect("create");
    }
    let (status, code, message) = refusal(json!({"store_id": shop.id})).await;
    assert_eq!((status, code), (422, json!("move_preflight_failed")));
    assert!(
        message.contains("without a primary key: gift_notes"),
        "{message}"
    );
    for db in dbs.iter_mut() {
        sqlx::query("ALTER TABLE gift_notes ADD PRIMARY KEY (store_id, id)")
            .execute(&mut *db)
            .await
            .expect("key");
    }
    let (status, code, message) = refusal(json!({"store_id": shop.id})).await;
    assert_eq!((status, code), (422, json!("move_preflight_failed")));
    assert!(
        message.contains("without the move_capture trigger over their primary key")
            && message.ends_with("gift_notes; the migration that creates a tenant table must call move_capture.install('<table>')"),
        "{message}"
    );
    for db in dbs.iter_mut() {
        sqlx::query("DROP TABLE gift_notes")
            .execute(&mut *db)
            .await
            .expect("drop");
    }
    assert_eq!(
        error_code(
            stack
                .operator(Method::GET, &format!("/v1/moves/{unknown}"))
                .send()
                .await
                .expect("get")
        )
        .await,
        (404, "not_found".into())
    );
    stack.shutdown().await;
}

/// A stand-in for the network between one router and the control plane:
/// while `blind`, routing long-polls hang (the router misses every update);
/// immediate fetches pass, and are counted.
#[derive(Clone)]
struct Partition {
    control_plane: String,
    http: reqwest::Client,
    blind: Arc<AtomicBool>,
    fetched_while_blind: Arc<AtomicU64>,
}

async fn partitioned(
    axum::extract::State(p): axum::extract::State<Partition>,
    req: axum::extract::Request,
) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    let query = req.uri().query().unwrap_or("").to_owned();
    if p.blind.load(Ordering::SeqCst) {
        if !query.contains("wait=0") {
            std::future::pending::<()>().await;
        }
        p.fetched_while_blind.fetch_add(1, Ordering::SeqCst);
    }
    let mut upstream = p
        .http
        .get(format!("{}{}?{query}", p.control_plane, req.uri().path()));
    if let Some(auth) = req.headers().get("authorization") {
        upstream = upstream.header("authorization", auth.clone());
    }
    match upstream.send().await {
        Ok(r) => {
            let status = r.status().as_u16();
            let body = r.bytes().await.unwrap_or_default();
            (
                axum::http::StatusCode::from_u16(status).expect("status"),
                [("content-type", "application/json")],
                body,
            )
                .into_response()
        }
        Err(_) => axum::http::StatusCode::BAD_GATEWAY.into_response(),
    }
}

/// Test 2: a router that missed the routing update sends a write to the
/// source, which answers 421; the router refreshes its table and the write
/// lands on the target.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stale_router_is_sent_to_the_target() {
    let stack = Stack::start(2).await;
    let shop = Shop::open(&stack, "wanderer").await;
    shop.product(&stack, "W-1", 1000, 3).await;
    let (source_url, target, target_url) = both_ends(&stack, &shop).await;

    let partition = Partition {
        control_plane: stack.control_plane_url(),
        http: reqwest::Client::new(),
        blind: Arc::default(),
        fetched_while_blind: Arc::default(),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let proxy_addr = listener.local_addr().expect("addr");
    let app = axum::Router::new()
        .fallback(partitioned)
        .with_state(partition.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let stale = mercato_router::Application::build(mercato_router::RouterConfig {
        listen: "127.0.0.1:0".into(),
        control_plane_url: format!("http://{proxy_addr}"),
        tokens: stack.keys.router_tokens(),
        control_plane_token: stack.router_token(),
        hop_secret: common::hop_secret(stack.secret()),
        platform_domain: common::PLATFORM.into(),
        sync_wait_secs: 1,
        ..Default::default()
    })
    .await
    .expect("router");
    let stale_addr = stale.local_addr();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let stale_task = tokio::spawn(stale.run_until(async move {
        let _ = stop_rx.await;
    }));
    let via_stale = |path: &str| {
        stack
            .http
            .post(format!("http://{stale_addr}{path}"))
            .header("host", &shop.host)
    };
    stack
        .eventually("the second router serves the store", || async {
            let r = stack
                .http
                .get(format!("http://{stale_addr}/api/products"))
                .header("host", &shop.host)
                .send()
                .await
                .ok()?;
            (r.status() == 200).then_some(())
        })
        .await;

    // The second router stops hearing about changes; its last long-poll
    // (one second) runs out first.
    partition.blind.store(true, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let mv = move_and_wait(&stack, &shop, &target).await;
    assert_eq!(mv["status"], "completed", "{mv}");
    assert_eq!(partition.fetched_while_blind.load(Ordering::SeqCst), 0);

    let r = via_stale("/admin/api/products")
        .bearer_auth(&shop.staff)
        .json(&json!({"title": "Late", "variants": [{"sku": "LATE-1", "price_minor": 100}]}))
        .send()
        .await
        .expect("write through the stale router");
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap_or_default());
    let created: Value = r.json().await.expect("json");
    // The refresh was the router's answer to the source's 421.
    assert_eq!(partition.fetched_while_blind.load(Ordering::SeqCst), 1);
    let id: uuid::Uuid = created["id"].as_str().expect("id").parse().expect("uuid");
    let count = |url: String| async move {
        let (n,): (i64,) = sqlx::query_as("SELECT count(*) FROM products WHERE id = $1")
            .bind(id)
            .fetch_one(&mut connect(&url).await)
            .await
            .expect("count");
        n
    };
    assert_eq!(count(target_url.clone()).await, 1, "on the target");
    assert_eq!(count(source_url.clone()).await, 0, "not on the source");
    let _ = stop_tx.send(());
    let _ = stale_task.await;
    stack.shutdown().await;
}

/// A move on a fleet with no other pod is the operator's request that
/// cannot be met, `409 no_target_pod`, not an outage: it answered
/// `503 no_pod_available` until scripts/fuzz.sh found it.
#[tokio::test]
async fn a_move_with_nowhere_to_go_is_a_conflict_not_a_server_error() {
    let stack = Stack::start(1).await;
    let store = stack.create_store("alone").await;
    let r = stack
        .operator(Method::POST, "/v1/moves")
        .json(&json!({"store_id": store["id"]}))
        .send()
        .await
        .expect("move");
    assert_eq!(error_code(r).await, (409, "no_target_pod".into()));
    stack.shutdown().await;
}
