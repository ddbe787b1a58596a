//! The pod's part in running the fleet: load reports (and their collection
//! by the control plane), the rebuild of a store's Redis state, and the
//! purge of a store that moved away.

mod common;

use std::collections::BTreeMap;

use common::shop::{Shop, CARD_OK};
use common::{error_code, now, refusal, status_of, Pod, Stack};
use mercato_tenants::{Claims, Role, StoreId};
use reqwest::Method;
use serde_json::{json, Value};
use sqlx::Connection as _;
use uuid::Uuid;

/// A platform service token, as the control plane mints them.
fn service_token(stack: &Stack) -> String {
    stack
        .keys
        .issue(&Claims::new("test", Role::Service, None, now(), 300))
        .expect("token")
}

/// A call to a pod's internal API with a service token.
fn internal(stack: &Stack, pod: &Pod, method: Method, path: &str) -> reqwest::RequestBuilder {
    stack
        .http
        .request(method, format!("{}{path}", pod.app.url()))
        .bearer_auth(service_token(stack))
}

/// The store's rows in every tenant table of the pod, by table (tables
/// without any are left out).
async fn tenant_rows(pod: &Pod, store: StoreId) -> BTreeMap<String, i64> {
    let mut db = sqlx::PgConnection::connect(&pod.database_url)
        .await
        .expect("pod db");
    let tables: Vec<(String,)> = sqlx::query_as(mercato_tenants::TENANT_TABLES_SQL)
        .fetch_all(&mut db)
        .await
        .expect("tenant tables");
    assert!(tables.len() > 20, "the pod has its tenant tables");
    let mut rows = BTreeMap::new();
    for (table,) in tables {
        let (n,): (i64,) = sqlx::query_as(&format!(
            "SELECT count(*)::bigint FROM \"{table}\" WHERE store_id = $1"
        ))
        .bind(store.as_uuid())
        .fetch_one(&mut db)
        .await
        .expect("count");
        if n > 0 {
            rows.insert(table, n);
        }
    }
    rows
}

fn total(rows: &BTreeMap<String, i64>) -> i64 {
    rows.values().sum()
}

/// The store's `hosted_stores` row on the pod: (state, purge_after is set).
async fn hosted(pod: &Pod, store: StoreId) -> Option<(String, bool)> {
    let mut db = sqlx::PgConnection::connect(&pod.database_url)
        .await
        .expect("pod db");
    sqlx::query_as("SELECT state, purge_after IS NOT NULL FROM hosted_stores WHERE store_id = $1")
        .bind(store.as_uuid())
        .fetch_optional(&mut db)
        .await
        .expect("hosted store")
}

async fn redis(pod: &Pod) -> redis::aio::MultiplexedConnection {
    redis::Client::open(pod.redis.url())
        .expect("redis url")
        .get_multiplexed_async_connection()
        .await
        .expect("redis")
}

/// Every Redis key of `store` on the pod, sorted.
async fn store_keys(pod: &Pod, store: StoreId) -> Vec<String> {
    let mut conn = redis(pod).await;
    let pattern = format!("{}*", mercato_pod::keys::store_prefix(store));
    let mut cursor: u64 = 0;
    let mut keys = Vec::new();
    loop {
        let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(&pattern)
            .arg("COUNT")
            .arg(1000)
            .query_async(&mut conn)
            .await
            .expect("scan");
        keys.extend(batch);
        if next == 0 {
            break;
        }
        cursor = next;
    }
    keys.sort();
    keys.dedup();
    keys
}

/// The store's keys that cannot expire while a test runs (no TTL, or one
/// longer than a minute): what "intact" compares, since short-lived keys
/// (a product view's stock badge lives 2 s) may go on their own.
async fn lasting_keys(pod: &Pod, store: StoreId) -> Vec<String> {
    let mut conn = redis(pod).await;
    let mut lasting = Vec::new();
    for key in store_keys(pod, store).await {
        let ttl: i64 = redis::cmd("TTL")
            .arg(&key)
            .query_async(&mut conn)
            .await
            .expect("ttl");
        if ttl == -1 || ttl > 60 {
            lasting.push(key);
        }
    }
    lasting
}

/// Changes the store's state on the pod (`PUT /internal/stores/{id}`).
async fn set_state(stack: &Stack, pod: &Pod, shop: &Shop, state: &str) {
    let handle = shop.host.split('.').next().expect("handle");
    let r = internal(
        stack,
        pod,
        Method::PUT,
        &format!("/internal/stores/{}", shop.id),
    )
    .json(&json!({"handle": handle, "name": format!("Store {handle}"), "state": state}));
    assert_eq!(status_of(r).await, 200, "hosting {handle} as {state}");
}

fn release(stack: &Stack, pod: &Pod, store: StoreId, secs: u64) -> reqwest::RequestBuilder {
    internal(
        stack,
        pod,
        Method::POST,
        &format!("/internal/stores/{store}/release"),
    )
    .json(&json!({ "purge_after_secs": secs }))
}

/// `GET /internal/load` of the pod.
async fn load(stack: &Stack, pod: &Pod) -> Value {
    let r = internal(stack, pod, Method::GET, "/internal/load")
        .send()
        .await
        .expect("load");
    assert_eq!(r.status(), 200);
    r.json().await.expect("json")
}

fn store_in(report: &Value, store: StoreId) -> &Value {
    report["stores"]
        .as_array()
        .expect("stores")
        .iter()
        .find(|s| s["store_id"] == store.to_string())
        .unwrap_or_else(|| panic!("store {store} is in the report: {report}"))
}

/// A product page viewed by a shopper (fills the product cache).
async fn view(stack: &Stack, shop: &Shop, product: &str) {
    let r = stack.get(&shop.host, &format!("/api/products/{product}"));
    assert_eq!(status_of(r).await, 200, "viewing {product}");
}

/// A category tree (a root and a child) with `product` in the child.
async fn categorise(stack: &Stack, shop: &Shop, product: &str) {
    let r = stack
        .post(&shop.host, "/admin/api/categories")
        .bearer_auth(&shop.staff)
        .json(&json!({"handle": "root", "name": "Root"}))
        .send()
        .await
        .expect("create category");
    assert_eq!(r.status(), 201);
    let root: Value = r.json().await.expect("json");
    let r = stack
        .post(&shop.host, "/admin/api/categories")
        .bearer_auth(&shop.staff)
        .json(&json!({"handle": "child", "name": "Child", "parent_id": root["id"]}))
        .send()
        .await
        .expect("create category");
    assert_eq!(r.status(), 201);
    let child: Value = r.json().await.expect("json");
    let r = stack
        .at(
            Method::PUT,
            &shop.host,
            &format!("/admin/api/products/{product}/categories"),
        )
        .bearer_auth(&shop.staff)
        .json(&json!({"category_ids": [child["id"]]}));
    assert_eq!(status_of(r).await, 200, "categorising {product}");
}

/// The rows of `store` in the report equal its rows counted in the pod's
/// tables, and nothing changed them while the report was read.
async fn report_matching_counts(stack: &Stack, pod: &Pod, stores: &[StoreId]) -> (Value, Vec<i64>) {
    stack
        .eventually("a report matches the counted rows", || async {
            let mut before = Vec::new();
            for store in stores {
                before.push(total(&tenant_rows(pod, *store).await));
            }
            let report = load(stack, pod).await;
            let mut after = Vec::new();
            for store in stores {
                after.push(total(&tenant_rows(pod, *store).await));
            }
            let reported: Vec<i64> = stores
                .iter()
                .map(|s| store_in(&report, *s)["rows"].as_i64().expect("rows"))
                .collect();
            (before == after && reported == after).then_some((report, after))
        })
        .await
}

#[tokio::test]
async fn pods_report_exact_rows_and_requests_per_store_and_the_control_plane_records_them() {
    // Sweeps back to back, so the figures catch up with the writes quickly.
    let stack = Stack::start_with(1, |c| {
        c.fleet.size_sweep_interval_ms = 20;
        c.fleet.size_sweep_busy_percent = 100;
    })
    .await;
    let a = Shop::open(&stack, "loada").await;
    let b = Shop::open(&stack, "loadb").await;
    for i in 0..3 {
        a.product(&stack, &format!("A-{i}"), 1000, 5).await;
    }
    b.product(&stack, "B-0", 500, 2).await;
    const BROWSES: u64 = 12;
    for _ in 0..BROWSES {
        assert_eq!(status_of(stack.get(&a.host, "/api/products")).await, 200);
    }
    let pod = stack.pod_for(&a.store).await;

    // Only platform tokens may read it.
    let r = stack.http.get(format!("{}/internal/load", pod.app.url()));
    assert_eq!(refusal(r).await, (401, "unauthorized".into()));
    let r = stack
        .http
        .get(format!("{}/internal/load", pod.app.url()))
        .bearer_auth(&a.staff);
    assert_eq!(refusal(r).await, (403, "forbidden".into()));

    // Exact rows per store, once a sweep has measured them: counted before
    // and after the report, which must agree with both (background work
    // may still add rows; then the next round decides).
    let (report, rows) = report_matching_counts(&stack, pod, &[a.id, b.id]).await;
    let (rows_a, rows_b) = (rows[0], rows[1]);
    assert_eq!(report["pod"], pod.name.as_str());
    assert_eq!(report["stores"].as_array().expect("stores").len(), 2);
    let as_of: chrono::DateTime<chrono::Utc> = report["sizes_as_of"]
        .as_str()
        .expect("sizes_as_of once a sweep is done")
        .parse()
        .expect("a time");
    assert!(as_of <= chrono::Utc::now(), "{as_of}");
    let la = store_in(&report, a.id);
    let lb = store_in(&report, b.id);
    assert!(rows_a > rows_b && rows_b > 0, "{rows_a} {rows_b}");
    assert!(la["bytes"].as_i64().expect("bytes") > lb["bytes"].as_i64().expect("bytes"));
    assert!(lb["bytes"].as_i64().expect("bytes") > 0);
    assert_eq!(la["orders_last_hour"], 0);
    let rpm_a = la["requests_per_minute"].as_u64().expect("rpm");
    assert!(
        rpm_a >= BROWSES + 3,
        "browses and product creations: {rpm_a}"
    );

    // An order counts in the last hour, at once (not a swept figure).
    let (_, variant) = a.product(&stack, "A-buy", 700, 3).await;
    let token = a.cart(&stack, &[(&variant, 1)]).await;
    assert_eq!(
        status_of(a.checkout(&stack, &token, "load-1", CARD_OK)).await,
        201
    );
    let report = load(&stack, pod).await;
    assert_eq!(store_in(&report, a.id)["orders_last_hour"], 1);
    assert_eq!(store_in(&report, b.id)["orders_last_hour"], 0);

    // The control plane collects: both stores, the figures of this pod.
    let recorded = stack
        .eventually("the collected rows match the counted ones", || async {
            let (_, rows) = report_matching_counts(&stack, pod, &[a.id, b.id]).await;
            let r = stack.operator(Method::POST, "/v1/loads/collect");
            let r = r.send().await.expect("collect");
            assert_eq!(r.status(), 200);
            assert_eq!(r.json::<Value>().await.expect("json"), json!({"stores": 2}));
            let mut cp = sqlx::PgConnection::connect(&stack.cp_database_url)
                .await
                .expect("cp db");
            let recorded: Vec<(Uuid, Uuid, i64, i64, i64, i64)> = sqlx::query_as(
                "SELECT store_id, pod_id, rows, bytes, orders_last_hour, requests_per_minute \
                 FROM store_loads ORDER BY rows DESC",
            )
            .fetch_all(&mut cp)
            .await
            .expect("store loads");
            (recorded.len() == 2 && (recorded[0].2, recorded[1].2) == (rows[0], rows[1]))
                .then_some(recorded)
        })
        .await;
    let pod_id: Uuid = a.store["pod_id"]
        .as_str()
        .expect("pod")
        .parse()
        .expect("uuid");
    assert_eq!(recorded[0].0, a.id.as_uuid());
    assert_eq!(recorded[1].0, b.id.as_uuid());
    assert!(recorded.iter().all(|r| r.1 == pod_id));
    assert!(recorded[0].3 > recorded[1].3 && recorded[1].3 > 0);
    assert_eq!((recorded[0].4, recorded[1].4), (1, 0));
    assert!(recorded[0].5 >= (BROWSES + 3) as i64);
    // The store API shows them, with when the pod measured the sizes.
    let r = stack
        .operator(Method::GET, &format!("/v1/stores/{}", a.id))
        .send()
        .await
        .expect("store");
    assert_eq!(r.status(), 200);
    let shown: Value = r.json().await.expect("json");
    assert_eq!(shown["load"]["rows"], recorded[0].2, "{shown}");
    assert_eq!(shown["load"]["bytes"], recorded[0].3);
    assert_eq!(shown["load"]["orders_last_hour"], 1);
    assert!(shown["load"]["reported_at"].is_string(), "{shown}");
    assert!(shown["load"]["sizes_as_of"].is_string(), "{shown}");

    // Operators only.
    let r = stack
        .post(common::PLATFORM, "/v1/loads/collect")
        .bearer_auth(stack.router_token());
    assert_eq!(refusal(r).await, (403, "forbidden".into()));
    stack.shutdown().await;
}

#[tokio::test]
async fn a_load_report_reads_the_last_sweep_and_counts_no_rows_itself() {
    // One sweep at startup, the next an hour later.
    let stack = Stack::start_with(1, |c| c.fleet.size_sweep_interval_ms = 3_600_000).await;
    let pod = &stack.pods[0];
    let first = stack
        .eventually("the startup sweep is done", || async {
            let report = load(&stack, pod).await;
            report["sizes_as_of"].as_str().map(str::to_owned)
        })
        .await;
    let a = Shop::open(&stack, "sweepa").await;
    a.product(&stack, "S-0", 1000, 5).await;
    assert!(total(&tenant_rows(pod, a.id).await) > 0);
    for _ in 0..3 {
        let report = load(&stack, pod).await;
        let la = store_in(&report, a.id);
        assert_eq!(
            (&la["rows"], &la["bytes"]),
            (&json!(0), &json!(0)),
            "{report}"
        );
        assert_eq!(report["sizes_as_of"], first.as_str());
    }
    stack.shutdown().await;
}

#[tokio::test]
async fn a_rebuild_drops_exactly_the_stores_redis_keys_and_stock_comes_back_from_postgres() {
    // No reconciliation: it would repair the stale counter set below.
    let stack = Stack::start_with(1, |c| c.inventory.reconcile_interval_ms = 3_600_000).await;
    let a = Shop::open(&stack, "rebuilda").await;
    let b = Shop::open(&stack, "rebuildb").await;
    let (pa, va) = a.product(&stack, "RA", 1000, 5).await;
    let (pb, vb) = b.product(&stack, "RB", 1000, 5).await;
    for (shop, product, variant, key) in [(&a, &pa, &va, "ra-1"), (&b, &pb, &vb, "rb-1")] {
        view(&stack, shop, product).await;
        let token = shop.cart(&stack, &[(variant, 1)]).await;
        assert_eq!(
            status_of(shop.checkout(&stack, &token, key, CARD_OK)).await,
            201
        );
    }
    let pod = stack.pod_for(&a.store).await;
    let gate = |shop: &Shop, v: &str| {
        mercato_pod::keys::inventory_gate(shop.id, v.parse().expect("variant id"))
    };
    let keys_a = store_keys(pod, a.id).await;
    let keys_b = lasting_keys(pod, b.id).await;
    assert!(keys_a.contains(&gate(&a, &va)), "{keys_a:?}");
    assert!(keys_b.contains(&gate(&b, &vb)), "{keys_b:?}");
    assert!(
        keys_a.len() >= 3,
        "gate counter, its set, cached product: {keys_a:?}"
    );

    // Stale state from an earlier stay: A's counter says sold out.
    let _: i64 = redis::cmd("HSET")
        .arg(gate(&a, &va))
        .arg("n")
        .arg(0)
        .query_async(&mut redis(pod).await)
        .await
        .expect("hset");
    let token = a.cart(&stack, &[(&va, 1)]).await;
    assert_eq!(
        refusal(a.checkout(&stack, &token, "ra-stale", CARD_OK)).await,
        (409, "out_of_stock".into()),
        "the stale counter refuses"
    );

    // Platform tokens only; a store not hosted here is refused.
    let path = format!("/internal/stores/{}/rebuild", a.id);
    let r = stack
        .http
        .post(format!("{}{path}", pod.app.url()))
        .bearer_auth(&a.staff);
    assert_eq!(refusal(r).await, (403, "forbidden".into()));
    let r = internal(
        &stack,
        pod,
        Method::POST,
        &format!("/internal/stores/{}/rebuild", StoreId::new()),
    );
    assert_eq!(refusal(r).await, (409, "conflict".into()));

    let keys_a = store_keys(pod, a.id).await;
    let r = internal(&stack, pod, Method::POST, &path)
        .send()
        .await
        .expect("rebuild");
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.expect("json");
    assert_eq!(body, json!({"deleted_keys": keys_a.len()}));
    assert_eq!(store_keys(pod, a.id).await, Vec::<String>::new());
    assert_eq!(
        lasting_keys(pod, b.id).await,
        keys_b,
        "the other store's keys are intact"
    );

    // The counter is re-seeded from Postgres: 5 units, 1 sold, 1 more now.
    assert_eq!(
        status_of(a.checkout(&stack, &token, "ra-2", CARD_OK)).await,
        201
    );
    let (on_hand, reserved) = a.stock(&stack, &va).await;
    assert_eq!(on_hand - reserved, 3);
    let n: Option<i64> = redis::cmd("HGET")
        .arg(gate(&a, &va))
        .arg("n")
        .query_async(&mut redis(pod).await)
        .await
        .expect("hget");
    assert_eq!(n, Some(3));
    view(&stack, &a, &pa).await;
    stack.shutdown().await;
}

#[tokio::test]
async fn a_released_store_is_purged_and_no_store_served_or_unreleased_loses_a_row() {
    let stack = Stack::start_with(1, |c| {
        c.fleet.purge_interval_ms = 50;
        c.fleet.purge_batch_rows = 3;
    })
    .await;
    let gone = Shop::open(&stack, "purged").await;
    let other = Shop::open(&stack, "other").await;
    let kept = Shop::open(&stack, "unreleased").await;
    let back = Shop::open(&stack, "movedback").await;
    for shop in [&gone, &other, &kept, &back] {
        let mut first = None;
        for i in 0..4 {
            let (product, variant) = shop.product(&stack, &format!("P-{i}"), 900, 4).await;
            first.get_or_insert((product, variant));
        }
        let (product, variant) = first.expect("a product");
        categorise(&stack, shop, &product).await;
        view(&stack, shop, &product).await;
        let token = shop.cart(&stack, &[(&variant, 1)]).await;
        assert_eq!(
            status_of(shop.checkout(&stack, &token, "buy", CARD_OK)).await,
            201
        );
        // A gift card with a ledger of two rows (the purge empties the
        // ledger before its cards).
        let r = stack
            .post(&shop.host, "/admin/api/gift-cards")
            .bearer_auth(&shop.staff)
            .json(&json!({"amount_minor": 1000}))
            .send()
            .await
            .expect("gift card");
        assert_eq!(r.status(), 201);
        let card: Value = r.json().await.expect("json");
        let r = stack
            .post(
                &shop.host,
                &format!(
                    "/admin/api/gift-cards/{}/adjustments",
                    card["id"].as_str().expect("id")
                ),
            )
            .bearer_auth(&shop.staff)
            .header("idempotency-key", "purge-me")
            .json(&json!({"delta_minor": -1}));
        assert_eq!(status_of(r).await, 201);
    }
    let pod = stack.pod_for(&gone.store).await;
    // The gateway's two webhooks per checkout land on their own; the row
    // snapshots below are taken once they have.
    for shop in [&gone, &other, &kept, &back] {
        stack
            .eventually("the checkout's webhooks arrive", || async {
                let rows = tenant_rows(pod, shop.id).await;
                (rows.get("webhook_events") == Some(&2)).then_some(())
            })
            .await;
    }

    // Release is only for a store moved out of this pod.
    assert_eq!(
        refusal(release(&stack, pod, other.id, 0)).await,
        (409, "conflict".into())
    );
    assert_eq!(
        refusal(release(&stack, pod, StoreId::new(), 0)).await,
        (409, "conflict".into())
    );
    let r = internal(
        &stack,
        pod,
        Method::POST,
        &format!("/internal/stores/{}/release", other.id),
    )
    .json(&json!({"purge_after_secs": -1}));
    assert_eq!(refusal(r).await, (400, "invalid_json".into()));

    // Moved out and never released: kept.
    set_state(&stack, pod, &kept, "moved_out").await;
    // Released, then served here again: the release is withdrawn.
    set_state(&stack, pod, &back, "moved_out").await;
    let r = release(&stack, pod, back.id, 3600);
    assert_eq!(status_of(r).await, 200);
    assert_eq!(hosted(pod, back.id).await, Some(("moved_out".into(), true)));
    set_state(&stack, pod, &back, "active").await;
    assert_eq!(hosted(pod, back.id).await, Some(("active".into(), false)));
    set_state(&stack, pod, &back, "moved_out").await;
    assert_eq!(
        hosted(pod, back.id).await,
        Some(("moved_out".into(), false))
    );

    let rows_other = tenant_rows(pod, other.id).await;
    let rows_kept = tenant_rows(pod, kept.id).await;
    let rows_back = tenant_rows(pod, back.id).await;
    let keys_other = lasting_keys(pod, other.id).await;
    let rows_gone = tenant_rows(pod, gone.id).await;
    assert!(
        [
            "products",
            "variants",
            "categories",
            "product_categories",
            "orders"
        ]
        .iter()
        .all(|t| rows_gone.contains_key(*t)),
        "{rows_gone:?}"
    );
    assert!(rows_gone["products"] > 3, "more rows than one batch");
    assert!(!store_keys(pod, gone.id).await.is_empty());
    let purged_before = pod.state.fleet.purged_rows.get();

    set_state(&stack, pod, &gone, "moved_out").await;
    // Late requests are refused, as for any store moved out.
    let (status, code) = error_code(
        stack
            .get(&gone.host, "/api/products")
            .send()
            .await
            .expect("get"),
    )
    .await;
    assert_eq!((status, code.as_str()), (421, "store_not_here"));
    let r = release(&stack, pod, gone.id, 0)
        .send()
        .await
        .expect("release");
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["store_id"], gone.id.to_string());

    stack
        .eventually("the released store is purged", || async {
            hosted(pod, gone.id).await.is_none().then_some(())
        })
        .await;
    assert_eq!(tenant_rows(pod, gone.id).await, BTreeMap::new());
    assert_eq!(store_keys(pod, gone.id).await, Vec::<String>::new());
    assert_eq!(
        pod.state.fleet.purged_rows.get() - purged_before,
        u64::try_from(total(&rows_gone)).expect("rows")
    );

    // Nobody else lost anything.
    assert_eq!(tenant_rows(pod, other.id).await, rows_other);
    assert_eq!(tenant_rows(pod, kept.id).await, rows_kept);
    assert_eq!(tenant_rows(pod, back.id).await, rows_back);
    assert_eq!(lasting_keys(pod, other.id).await, keys_other);
    assert_eq!(
        hosted(pod, kept.id).await,
        Some(("moved_out".into(), false))
    );
    assert_eq!(
        hosted(pod, back.id).await,
        Some(("moved_out".into(), false))
    );
    assert_eq!(hosted(pod, other.id).await, Some(("active".into(), false)));
    assert_eq!(
        status_of(stack.get(&other.host, "/api/products")).await,
        200
    );
    stack.shutdown().await;
}

#[tokio::test]
async fn a_store_served_again_is_not_purged_even_once_due() {
    let stack = Stack::start_with(1, |c| c.fleet.purge_interval_ms = 3_600_000).await;
    let shop = Shop::open(&stack, "due").await;
    shop.product(&stack, "D-1", 900, 4).await;
    let pod = stack.pod_for(&shop.store).await;
    let rows = tenant_rows(pod, shop.id).await;
    set_state(&stack, pod, &shop, "moved_out").await;
    assert_eq!(status_of(release(&stack, pod, shop.id, 0)).await, 200);
    set_state(&stack, pod, &shop, "active").await;
    let outcome = mercato_pod::fleet::purge::purge_store(&pod.state, shop.id)
        .await
        .expect("purge");
    assert_eq!(
        outcome,
        mercato_pod::fleet::purge::Outcome::Kept { rows: 0 }
    );
    assert_eq!(tenant_rows(pod, shop.id).await, rows);
    assert_eq!(hosted(pod, shop.id).await, Some(("active".into(), false)));

    // Made due by hand while active (no release can do that): still kept.
    let mut db = sqlx::PgConnection::connect(&pod.database_url)
        .await
        .expect("pod db");
    sqlx::query("UPDATE hosted_stores SET purge_after = now() WHERE store_id = $1")
        .bind(shop.id.as_uuid())
        .execute(&mut db)
        .await
        .expect("update");
    assert_eq!(
        mercato_pod::fleet::purge::purge_once(&pod.state)
            .await
            .expect("purge"),
        0
    );
    assert_eq!(tenant_rows(pod, shop.id).await, rows);
    assert_eq!(status_of(stack.get(&shop.host, "/api/products")).await, 200);
    stack.shutdown().await;
}
