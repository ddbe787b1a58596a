//! Inventory end to end: holds that never oversell (with and without the
//! Redis gate, with Redis stopped), their idempotent ends, locations and
//! priorities, the sweeper, the gate's seeding and reconciliation, and the
//! staff endpoints with their audit.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{error_code, refusal, Stack, PLATFORM};
use mercato_pod::inventory::{self, HoldLine, Level, PinOutcome, ReserveError, Shortage};
use mercato_pod::AppState;
use mercato_tenants::{HoldOwner, StoreId, VariantId};
use reqwest::Method;
use serde_json::{json, Value};
use uuid::Uuid;

const LONG: Duration = Duration::from_secs(900);

struct Shop {
    host: String,
    token: String,
    store: StoreId,
    state: AppState,
    redis_url: String,
}

async fn shop(stack: &Stack, handle: &str) -> Shop {
    let store = stack.create_store(handle).await;
    let pod = stack.pod_for(&store).await;
    Shop {
        host: format!("{handle}.{PLATFORM}"),
        token: stack.staff_token(&store),
        store: store["id"].as_str().expect("id").parse().expect("store id"),
        state: pod.state.clone(),
        redis_url: pod.redis.url(),
    }
}

/// A product with one variant holding `stock` units at the default
/// location.
async fn variant(stack: &Stack, shop: &Shop, sku: &str, stock: i32) -> VariantId {
    let r = stack
        .post(&shop.host, "/admin/api/products")
        .bearer_auth(&shop.token)
        .json(
            &json!({"title": format!("Product {sku}"), "status": "active",
            "variants": [{"sku": sku, "price_minor": 1000, "stock": stock}]}),
        )
        .send()
        .await
        .expect("create product");
    assert_eq!(r.status(), 201);
    let body: Value = r.json().await.expect("json");
    body["variants"][0]["id"]
        .as_str()
        .expect("variant id")
        .parse()
        .expect("variant id")
}

fn line(variant: VariantId, quantity: i32) -> HoldLine {
    HoldLine { variant, quantity }
}

async fn level(shop: &Shop, v: VariantId) -> Level {
    inventory::levels(&shop.state.db, shop.store, &[v])
        .await
        .expect("levels")[&v]
}

/// A count from the pod's database, for the store (`$1`) and `$2`.
async fn count(shop: &Shop, sql: &str, arg: Uuid) -> i64 {
    let (n,): (i64,) = sqlx::query_as(sql)
        .bind(shop.store.as_uuid())
        .bind(arg)
        .fetch_one(&shop.state.db)
        .await
        .expect("count");
    n
}

async fn active_holds(shop: &Shop, v: VariantId) -> i64 {
    count(
        shop,
        "SELECT count(*) FROM holds WHERE store_id = $1 AND variant_id = $2 AND status = 'active'",
        v.as_uuid(),
    )
    .await
}

async fn holds_of(shop: &Shop, owner: HoldOwner) -> i64 {
    count(
        shop,
        "SELECT count(*) FROM holds WHERE store_id = $1 AND owner = $2",
        owner.as_uuid(),
    )
    .await
}

async fn audit_rows(shop: &Shop, v: VariantId, reason: &str) -> i64 {
    let (n,): (i64,) = sqlx::query_as(
        "SELECT count(*) FROM stock_adjustments WHERE store_id = $1 AND variant_id = $2 AND reason = $3",
    )
    .bind(shop.store.as_uuid())
    .bind(v.as_uuid())
    .bind(reason)
    .fetch_one(&shop.state.db)
    .await
    .expect("count");
    n
}

async fn redis(shop: &Shop) -> redis::aio::MultiplexedConnection {
    redis::Client::open(shop.redis_url.as_str())
        .expect("redis url")
        .get_multiplexed_async_connection()
        .await
        .expect("redis")
}

/// The gate counter of a variant (`None`: missing).
async fn counter(shop: &Shop, v: VariantId) -> Option<i64> {
    redis::cmd("HGET")
        .arg(mercato_pod::keys::inventory_gate(shop.store, v))
        .arg("n")
        .query_async(&mut redis(shop).await)
        .await
        .expect("hget")
}

async fn set_counter(shop: &Shop, v: VariantId, n: i64) {
    let () = redis::cmd("HSET")
        .arg(mercato_pod::keys::inventory_gate(shop.store, v))
        .arg("n")
        .arg(n)
        .query_async::<i64>(&mut redis(shop).await)
        .await
        .map(|_| ())
        .expect("hset");
}

/// Adds or removes a variant from the store's set of gated variants.
async fn track(shop: &Shop, v: VariantId, tracked: bool) {
    let _: i64 = redis::cmd(if tracked { "SADD" } else { "SREM" })
        .arg(mercato_pod::keys::inventory_gated(shop.store))
        .arg(v.to_string())
        .query_async(&mut redis(shop).await)
        .await
        .expect("set");
}

/// `n` concurrent reservations of one unit each, by distinct owners:
/// the owners that got one.
async fn stampede(state: &AppState, store: StoreId, v: VariantId, n: usize) -> Vec<HoldOwner> {
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let state = state.clone();
            tokio::spawn(async move {
                let owner = HoldOwner::new();
                match inventory::reserve(&state, store, owner, &[line(v, 1)], LONG).await {
                    Ok(()) => Some(owner),
                    Err(ReserveError::OutOfStock(s)) => {
                        assert_eq!(s.len(), 1);
                        assert_eq!((s[0].variant_id, s[0].requested), (v, 1));
                        None
                    }
                    Err(ReserveError::Failed(e)) => panic!("reserve failed: {e}"),
                }
            })
        })
        .collect();
    let mut won = Vec::new();
    for t in tasks {
        if let Some(owner) = t.await.expect("task") {
            won.push(owner);
        }
    }
    won
}

async fn commit_all(shop: &Shop, owners: &[HoldOwner]) -> i64 {
    let tasks: Vec<_> = owners
        .iter()
        .map(|owner| {
            let (db, store, owner) = (shop.state.db.clone(), shop.store, *owner);
            tokio::spawn(async move {
                let mut tx = db.begin().await.expect("begin");
                assert_eq!(
                    inventory::pin(&mut tx, store, owner).await.expect("pin"),
                    PinOutcome::Pinned
                );
                let n = inventory::commit(&mut tx, store, owner)
                    .await
                    .expect("commit");
                tx.commit().await.expect("tx commit");
                n
            })
        })
        .collect();
    let mut total = 0;
    for t in tasks {
        total += t.await.expect("task");
    }
    total
}

#[tokio::test]
async fn two_hundred_reservations_for_fifty_units_take_exactly_fifty_gate_on_and_off() {
    let stack = Stack::start(1).await;
    let shop = shop(&stack, "rush").await;
    let mut gate_off = shop.state.clone();
    let mut config = (*shop.state.config).clone();
    config.inventory.gate = false;
    gate_off.config = Arc::new(config);

    for (sku, state) in [("GATED", &shop.state), ("UNGATED", &gate_off)] {
        let v = variant(&stack, &shop, sku, 50).await;
        let won = stampede(state, shop.store, v, 200).await;
        assert_eq!(won.len(), 50, "{sku}");
        assert_eq!(level(&shop, v).await, Level::new(50, 50, 5), "{sku}");
        assert_eq!(active_holds(&shop, v).await, 50);

        assert_eq!(commit_all(&shop, &won).await, 50);
        assert_eq!(level(&shop, v).await, Level::new(0, 0, 5), "{sku}");
        assert_eq!(active_holds(&shop, v).await, 0);
        assert_eq!(audit_rows(&shop, v, "order").await, 50);
        assert_eq!(audit_rows(&shop, v, "initial").await, 1);
        // The variant's total (what search reads) followed.
        let total = count(
            &shop,
            "SELECT on_hand::bigint FROM inventory_levels WHERE store_id = $1 AND variant_id = $2",
            v.as_uuid(),
        )
        .await;
        assert_eq!(total, 0);
    }
    // With the gate on, the surplus never reached Postgres' row: the
    // counter ran out (it is 0 now, as is the stock).
    let gated: Vec<(Uuid,)> =
        sqlx::query_as("SELECT v.id FROM variants v WHERE v.store_id = $1 AND v.sku = 'GATED'")
            .bind(shop.store.as_uuid())
            .fetch_all(&shop.state.db)
            .await
            .expect("variant");
    assert_eq!(
        counter(&shop, VariantId::from_uuid(gated[0].0)).await,
        Some(0)
    );
    stack.shutdown().await;
}

#[tokio::test]
async fn release_commit_and_restock_are_idempotent() {
    let stack = Stack::start(1).await;
    let shop = shop(&stack, "ends").await;
    let v = variant(&stack, &shop, "END", 10).await;
    let (a, b) = (HoldOwner::new(), HoldOwner::new());

    inventory::reserve(&shop.state, shop.store, a, &[line(v, 3)], LONG)
        .await
        .expect("reserve");
    assert_eq!(level(&shop, v).await, Level::new(10, 3, 5));
    // A second reserve for the same owner reserves nothing more.
    inventory::reserve(&shop.state, shop.store, a, &[line(v, 3)], LONG)
        .await
        .expect("reserve again");
    assert_eq!(level(&shop, v).await.reserved, 3);
    assert_eq!(
        inventory::release(&shop.state, shop.store, a)
            .await
            .expect("release"),
        3
    );
    assert_eq!(
        inventory::release(&shop.state, shop.store, a)
            .await
            .expect("release"),
        0
    );
    assert_eq!(level(&shop, v).await, Level::new(10, 0, 5));
    // Still idempotent after release: the owner's holds exist.
    inventory::reserve(&shop.state, shop.store, a, &[line(v, 3)], LONG)
        .await
        .expect("reserve after release");
    assert_eq!(level(&shop, v).await.reserved, 0);

    inventory::reserve(&shop.state, shop.store, b, &[line(v, 4)], LONG)
        .await
        .expect("reserve");
    let mut tx = shop.state.db.begin().await.expect("begin");
    assert_eq!(
        inventory::pin(&mut tx, shop.store, b).await.expect("pin"),
        PinOutcome::Pinned
    );
    assert_eq!(
        inventory::commit(&mut tx, shop.store, b)
            .await
            .expect("commit"),
        4
    );
    assert_eq!(
        inventory::commit(&mut tx, shop.store, b)
            .await
            .expect("commit"),
        0
    );
    tx.commit().await.expect("tx");
    assert_eq!(level(&shop, v).await, Level::new(6, 0, 5));
    // Releasing a committed checkout releases nothing.
    assert_eq!(
        inventory::release(&shop.state, shop.store, b)
            .await
            .expect("release"),
        0
    );

    let mut tx = shop.state.db.begin().await.expect("begin");
    assert_eq!(
        inventory::restock(&mut tx, shop.store, b, &[])
            .await
            .expect("restock"),
        4
    );
    assert_eq!(
        inventory::restock(&mut tx, shop.store, b, &[])
            .await
            .expect("restock"),
        0
    );
    tx.commit().await.expect("tx");
    inventory::refresh_gate(&shop.state, shop.store, &[v]).await;
    assert_eq!(level(&shop, v).await, Level::new(10, 0, 5));
    assert_eq!(counter(&shop, v).await, None, "refresh_gate drops it");

    // The audit: initial +10, order -4, order_cancelled +4 (reference b).
    let rows: Vec<(i32, i32, String, String, Option<Uuid>)> = sqlx::query_as(
        "SELECT delta, on_hand_after, reason, actor, reference FROM stock_adjustments
          WHERE store_id = $1 AND variant_id = $2 ORDER BY id",
    )
    .bind(shop.store.as_uuid())
    .bind(v.as_uuid())
    .fetch_all(&shop.state.db)
    .await
    .expect("audit");
    assert_eq!(
        rows,
        vec![
            (10, 10, "initial".into(), "system".into(), None),
            (-4, 6, "order".into(), "system".into(), Some(b.as_uuid())),
            (
                4,
                10,
                "order_cancelled".into(),
                "system".into(),
                Some(b.as_uuid())
            ),
        ]
    );
    let events = count(
        &shop,
        "SELECT count(*) FROM outbox WHERE store_id = $1 AND aggregate_id = $2
            AND type = 'inventory.level_changed'",
        v.as_uuid(),
    )
    .await;
    assert_eq!(events, 3);
    stack.shutdown().await;
}

async fn new_location(stack: &Stack, shop: &Shop, name: &str, priority: i32) -> Uuid {
    let r = stack
        .post(&shop.host, "/admin/api/locations")
        .bearer_auth(&shop.token)
        .json(&json!({"name": name, "priority": priority, "country": "US", "city": name}))
        .send()
        .await
        .expect("location");
    assert_eq!(r.status(), 201);
    let body: Value = r.json().await.expect("json");
    body["id"].as_str().expect("id").parse().expect("uuid")
}

async fn put_stock(stack: &Stack, shop: &Shop, v: VariantId, body: Value) -> reqwest::Response {
    stack
        .at(
            Method::PUT,
            &shop.host,
            &format!("/admin/api/variants/{v}/stock"),
        )
        .bearer_auth(&shop.token)
        .json(&body)
        .send()
        .await
        .expect("put stock")
}

async fn stock_of(stack: &Stack, shop: &Shop, v: VariantId) -> Value {
    let r = stack
        .get(&shop.host, &format!("/admin/api/variants/{v}/stock"))
        .bearer_auth(&shop.token)
        .send()
        .await
        .expect("stock");
    assert_eq!(r.status(), 200);
    r.json().await.expect("json")
}

/// (location name, on_hand, reserved) per location, in priority order.
fn per_location(stock: &Value) -> Vec<(String, i64, i64)> {
    stock["locations"]
        .as_array()
        .expect("locations")
        .iter()
        .map(|l| {
            (
                l["location_name"].as_str().expect("name").to_owned(),
                l["on_hand"].as_i64().expect("on_hand"),
                l["reserved"].as_i64().expect("reserved"),
            )
        })
        .collect()
}

#[tokio::test]
async fn reservations_split_over_active_locations_by_priority() {
    let stack = Stack::start(1).await;
    let shop = shop(&stack, "depots").await;
    let v = variant(&stack, &shop, "SPLIT", 2).await;
    // Created in another order than their priority.
    let west = new_location(&stack, &shop, "West", 20).await;
    let east = new_location(&stack, &shop, "East", 10).await;
    for (loc, n) in [(east, 3), (west, 5)] {
        let r = put_stock(
            &stack,
            &shop,
            v,
            json!({"on_hand": n, "location_id": loc, "reason": "received"}),
        )
        .await;
        assert_eq!(r.status(), 200);
    }
    assert_eq!(level(&shop, v).await, Level::new(10, 0, 5));

    let a = HoldOwner::new();
    inventory::reserve(&shop.state, shop.store, a, &[line(v, 4)], LONG)
        .await
        .expect("reserve");
    assert_eq!(
        per_location(&stock_of(&stack, &shop, v).await),
        vec![
            ("Default".into(), 2, 2),
            ("East".into(), 3, 2),
            ("West".into(), 5, 0)
        ]
    );
    assert_eq!(holds_of(&shop, a).await, 2);

    // East deactivated: its last unit is not sold; West is next.
    let r = stack
        .at(
            Method::PATCH,
            &shop.host,
            &format!("/admin/api/locations/{east}"),
        )
        .bearer_auth(&shop.token)
        .json(&json!({"active": false}))
        .send()
        .await
        .expect("patch");
    assert_eq!(r.status(), 200);
    let b = HoldOwner::new();
    inventory::reserve(&shop.state, shop.store, b, &[line(v, 5)], LONG)
        .await
        .expect("reserve west");
    let stock = stock_of(&stack, &shop, v).await;
    assert_eq!(
        per_location(&stock),
        vec![
            ("Default".into(), 2, 2),
            ("East".into(), 3, 2),
            ("West".into(), 5, 5)
        ]
    );
    // Totals count active locations only.
    assert_eq!(
        (
            stock["on_hand"].clone(),
            stock["reserved"].clone(),
            stock["available"].clone()
        ),
        (json!(7), json!(7), json!(0))
    );
    assert_eq!(stock["badge"], "sold_out");
    let c = HoldOwner::new();
    match inventory::reserve(&shop.state, shop.store, c, &[line(v, 1)], LONG).await {
        Err(ReserveError::OutOfStock(s)) => assert_eq!(
            s,
            vec![Shortage {
                variant_id: v,
                requested: 1,
                available: 0
            }]
        ),
        other => panic!("expected out of stock, got {other:?}"),
    }
    assert_eq!(holds_of(&shop, c).await, 0);

    // Two lines, one short: nothing is reserved for either.
    let w = variant(&stack, &shop, "PLENTY", 100).await;
    let d = HoldOwner::new();
    assert!(matches!(
        inventory::reserve(&shop.state, shop.store, d, &[line(w, 1), line(v, 1)], LONG).await,
        Err(ReserveError::OutOfStock(_))
    ));
    assert_eq!(level(&shop, w).await, Level::new(100, 0, 5));
    assert_eq!(holds_of(&shop, d).await, 0);
    stack.shutdown().await;
}

#[tokio::test]
async fn pin_after_expiry_reserves_again_or_reports_lost() {
    let stack = Stack::start(1).await;
    let shop = shop(&stack, "pins").await;
    let v = variant(&stack, &shop, "PIN", 3).await;
    let (a, b, c) = (HoldOwner::new(), HoldOwner::new(), HoldOwner::new());

    inventory::reserve(&shop.state, shop.store, a, &[line(v, 2)], Duration::ZERO)
        .await
        .expect("reserve");
    stack
        .eventually("a's hold is swept", || async {
            (level(&shop, v).await.reserved == 0).then_some(())
        })
        .await;
    let mut tx = shop.state.db.begin().await.expect("begin");
    assert_eq!(
        inventory::pin(&mut tx, shop.store, a).await.expect("pin"),
        PinOutcome::Pinned
    );
    tx.commit().await.expect("tx");
    assert_eq!(level(&shop, v).await, Level::new(3, 2, 5));
    let pinned = count(
        &shop,
        "SELECT count(*) FROM holds WHERE store_id = $1 AND owner = $2
            AND status = 'active' AND expires_at IS NULL",
        a.as_uuid(),
    )
    .await;
    assert_eq!(pinned, 1);

    // b's hold expires and c takes the last unit: b's units are lost.
    inventory::reserve(&shop.state, shop.store, b, &[line(v, 1)], Duration::ZERO)
        .await
        .expect("reserve b");
    stack
        .eventually("b's hold is swept", || async {
            (level(&shop, v).await.reserved == 2).then_some(())
        })
        .await;
    inventory::reserve(&shop.state, shop.store, c, &[line(v, 1)], LONG)
        .await
        .expect("reserve c");
    let mut tx = shop.state.db.begin().await.expect("begin");
    assert_eq!(
        inventory::pin(&mut tx, shop.store, b).await.expect("pin"),
        PinOutcome::Lost(vec![Shortage {
            variant_id: v,
            requested: 1,
            available: 0
        }])
    );
    tx.rollback().await.expect("rollback");
    assert_eq!(level(&shop, v).await, Level::new(3, 3, 5));
    let released = count(
        &shop,
        "SELECT count(*) FROM holds WHERE store_id = $1 AND owner = $2 AND status = 'released'",
        b.as_uuid(),
    )
    .await;
    assert_eq!(released, 1);
    stack.shutdown().await;
}

#[tokio::test]
async fn the_sweeper_returns_expired_holds_to_stock_and_the_gate() {
    let stack = Stack::start(1).await;
    let shop = shop(&stack, "sweep").await;
    let v = variant(&stack, &shop, "SWEEP", 5).await;
    let keep = HoldOwner::new();
    inventory::reserve(&shop.state, shop.store, keep, &[line(v, 1)], LONG)
        .await
        .expect("reserve");
    assert_eq!(counter(&shop, v).await, Some(4));
    let lapse = HoldOwner::new();
    inventory::reserve(
        &shop.state,
        shop.store,
        lapse,
        &[line(v, 2)],
        Duration::ZERO,
    )
    .await
    .expect("reserve");

    stack
        .eventually("the expired hold is released", || async {
            (level(&shop, v).await == Level::new(5, 1, 5)).then_some(())
        })
        .await;
    assert_eq!(active_holds(&shop, v).await, 1);
    let released = count(
        &shop,
        "SELECT count(*) FROM holds WHERE store_id = $1 AND owner = $2 AND status = 'released'",
        lapse.as_uuid(),
    )
    .await;
    assert_eq!(released, 1);
    stack
        .eventually("the units are back in the gate", || async {
            (counter(&shop, v).await == Some(4)).then_some(())
        })
        .await;
    stack.shutdown().await;
}

#[tokio::test]
async fn the_gate_rejects_early_reseeds_and_is_reconciled() {
    let stack = Stack::start(1).await;
    let shop = shop(&stack, "gate").await;
    let v = variant(&stack, &shop, "HOT", 5).await;
    let a = HoldOwner::new();
    inventory::reserve(&shop.state, shop.store, a, &[line(v, 1)], LONG)
        .await
        .expect("reserve");
    assert_eq!(
        counter(&shop, v).await,
        Some(4),
        "seeded from postgres, then admitted"
    );

    // A counter at 0 refuses without Postgres: no hold, nothing reserved,
    // although Postgres has 4 units. (Untracked meanwhile, so that the
    // background reconciliation leaves the corrupted counter alone.)
    track(&shop, v, false).await;
    set_counter(&shop, v, 0).await;
    let b = HoldOwner::new();
    match inventory::reserve(&shop.state, shop.store, b, &[line(v, 1)], LONG).await {
        Err(ReserveError::OutOfStock(s)) => assert_eq!(
            s,
            vec![Shortage {
                variant_id: v,
                requested: 1,
                available: 0
            }]
        ),
        other => panic!("expected a gate refusal, got {other:?}"),
    }
    assert_eq!(holds_of(&shop, b).await, 0);
    assert_eq!(level(&shop, v).await, Level::new(5, 1, 5));

    // Reconciliation repairs the corrupted counter.
    assert_eq!(
        inventory::reconcile_once(&shop.state)
            .await
            .expect("reconcile"),
        0
    );
    assert_eq!(
        counter(&shop, v).await,
        Some(0),
        "untracked counters are left alone"
    );
    track(&shop, v, true).await;
    inventory::reconcile_once(&shop.state)
        .await
        .expect("reconcile");
    assert_eq!(counter(&shop, v).await, Some(4));
    assert_eq!(
        inventory::reconcile_once(&shop.state)
            .await
            .expect("reconcile"),
        0
    );
    set_counter(&shop, v, 40).await;
    stack
        .eventually(
            "the background reconciliation repairs the counter",
            || async { (counter(&shop, v).await == Some(4)).then_some(()) },
        )
        .await;

    // Redis loses everything: the next reservation reseeds.
    let () = redis::cmd("FLUSHALL")
        .query_async(&mut redis(&shop).await)
        .await
        .expect("flushall");
    let c = HoldOwner::new();
    inventory::reserve(&shop.state, shop.store, c, &[line(v, 2)], LONG)
        .await
        .expect("reserve after flush");
    assert_eq!(counter(&shop, v).await, Some(2));
    let tracked: bool = redis::cmd("SISMEMBER")
        .arg(mercato_pod::keys::inventory_gated(shop.store))
        .arg(v.to_string())
        .query_async(&mut redis(&shop).await)
        .await
        .expect("sismember");
    assert!(tracked);
    assert_eq!(level(&shop, v).await, Level::new(5, 3, 5));

    // A staff edit drops the counter; it reseeds with the new truth.
    let r = put_stock(&stack, &shop, v, json!({"on_hand": 8})).await;
    assert_eq!(r.status(), 200);
    assert_eq!(counter(&shop, v).await, None);
    let d = HoldOwner::new();
    inventory::reserve(&shop.state, shop.store, d, &[line(v, 5)], LONG)
        .await
        .expect("reserve the rest");
    assert_eq!(counter(&shop, v).await, Some(0));
    assert_eq!(level(&shop, v).await, Level::new(8, 8, 5));
    stack.shutdown().await;
}

#[tokio::test]
async fn with_redis_stopped_reservations_stay_exact() {
    let mut stack = Stack::start(1).await;
    let shop = shop(&stack, "noredis").await;
    let v = variant(&stack, &shop, "COLD", 20).await;
    let pod = stack.pods.remove(0);
    pod.redis.stop().await;

    let won = stampede(&shop.state, shop.store, v, 60).await;
    assert_eq!(won.len(), 20);
    assert_eq!(level(&shop, v).await, Level::new(20, 20, 5));
    let mut released = 0;
    for owner in &won[..5] {
        released += inventory::release(&shop.state, shop.store, *owner)
            .await
            .expect("release");
    }
    assert_eq!(released, 5);
    assert_eq!(commit_all(&shop, &won[5..]).await, 15);
    assert_eq!(level(&shop, v).await, Level::new(5, 0, 5));
    assert_eq!(active_holds(&shop, v).await, 0);

    pod.app.stop().await;
    stack.shutdown().await;
}

#[tokio::test]
async fn staff_stock_endpoints_refuse_bad_input_and_audit_every_change() {
    let stack = Stack::start(1).await;
    let shop = shop(&stack, "staffinv").await;
    let other = self::shop(&stack, "otherinv").await;
    let v = variant(&stack, &shop, "AUD", 10).await;
    let foreign = new_location(&stack, &other, "Theirs", 0).await;

    // Locations: bad input.
    let long = "x".repeat(101);
    for (body, expected) in [
        (json!({"name": ""}), (400, "invalid_request")),
        (json!({"name": long}), (400, "invalid_request")),
        (
            json!({"name": "A", "country": "USA"}),
            (400, "invalid_country"),
        ),
        (
            json!({"name": "A", "country": "ZZ"}),
            (400, "invalid_country"),
        ),
        (
            json!({"name": "A", "priority": -1}),
            (400, "invalid_request"),
        ),
        (
            json!({"name": "A", "postal_code": "9".repeat(33)}),
            (400, "invalid_request"),
        ),
        (
            json!({"name": "A", "city": "c".repeat(256)}),
            (400, "invalid_request"),
        ),
        (json!({"name": "A", "colour": "red"}), (400, "invalid_json")),
        (
            json!({"name": "A", "latitude": 52.5}),
            (422, "unprocessable"),
        ),
        (
            json!({"name": "A", "latitude": 91.0, "longitude": 0.0}),
            (400, "invalid_request"),
        ),
        (
            json!({"name": "A", "latitude": 0.0, "longitude": -180.5}),
            (400, "invalid_request"),
        ),
    ] {
        let r = stack
            .post(&shop.host, "/admin/api/locations")
            .bearer_auth(&shop.token)
            .json(&body);
        assert_eq!(refusal(r).await, (expected.0, expected.1.into()), "{body}");
    }
    let r = stack
        .post(&shop.host, "/admin/api/locations")
        .json(&json!({"name": "A"}));
    assert_eq!(refusal(r).await.0, 401);
    let r = stack
        .post(&shop.host, "/admin/api/locations")
        .bearer_auth(&shop.token)
        .json(&json!({"name": " Backroom ", "country": "de", "line1": "Hauptstr. 1"}))
        .send()
        .await
        .expect("create");
    assert_eq!(r.status(), 201);
    let backroom: Value = r.json().await.expect("json");
    assert_eq!(
        (
            backroom["name"].clone(),
            backroom["country"].clone(),
            backroom["priority"].clone()
        ),
        (json!("Backroom"), json!("DE"), json!(0))
    );
    let backroom_id = backroom["id"].as_str().expect("id").to_owned();

    let r = stack
        .get(&shop.host, "/admin/api/locations")
        .bearer_auth(&shop.token)
        .send()
        .await
        .expect("list");
    let list: Value = r.json().await.expect("json");
    let names: Vec<&str> = list["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|l| l["name"].as_str().expect("name"))
        .collect();
    assert_eq!(names, vec!["Default", "Backroom"]);
    assert_eq!(list["items"][0]["is_default"], true);
    let default_id = list["items"][0]["id"].as_str().expect("id").to_owned();
    let r = stack
        .get(&shop.host, "/admin/api/locations?limit=1")
        .bearer_auth(&shop.token)
        .send()
        .await
        .expect("page");
    let page: Value = r.json().await.expect("json");
    assert_eq!(page["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(page["next_cursor"], json!(default_id));

    for path in [
        format!("/admin/api/locations/{}", Uuid::now_v7()),
        format!("/admin/api/locations/{foreign}"),
    ] {
        let r = stack.get(&shop.host, &path).bearer_auth(&shop.token);
        assert_eq!(refusal(r).await, (404, "not_found".into()), "{path}");
    }
    let r = stack
        .get(&shop.host, "/admin/api/locations/nope")
        .bearer_auth(&shop.token);
    assert_eq!(refusal(r).await, (400, "invalid_id".into()));
    let r = stack
        .at(
            Method::PATCH,
            &shop.host,
            &format!("/admin/api/locations/{foreign}"),
        )
        .bearer_auth(&shop.token)
        .json(&json!({"active": false}));
    assert_eq!(refusal(r).await, (404, "not_found".into()));

    // Stock: bad input.
    for (body, expected) in [
        (json!({"on_hand": -1}), (400, "invalid_request")),
        (json!({"on_hand": 10_000_001}), (400, "invalid_request")),
        (
            json!({"on_hand": 1, "low_stock_threshold": -1}),
            (400, "invalid_request"),
        ),
        (
            json!({"on_hand": 1, "location_id": Uuid::now_v7()}),
            (422, "unknown_location"),
        ),
        (
            json!({"on_hand": 1, "location_id": foreign}),
            (422, "unknown_location"),
        ),
        (
            json!({"on_hand": 1, "reason": "stolen"}),
            (400, "invalid_json"),
        ),
    ] {
        let r = put_stock(&stack, &shop, v, body.clone()).await;
        assert_eq!(
            error_code(r).await,
            (expected.0, expected.1.into()),
            "{body}"
        );
    }
    let r = put_stock(&stack, &shop, VariantId::new(), json!({"on_hand": 1})).await;
    assert_eq!(error_code(r).await, (404, "not_found".into()));
    let r = put_stock(&stack, &other, v, json!({"on_hand": 1})).await;
    assert_eq!(
        error_code(r).await,
        (404, "not_found".into()),
        "another store's variant"
    );

    let adjust = |body: Value| {
        stack
            .post(
                &shop.host,
                &format!("/admin/api/variants/{v}/stock/adjustments"),
            )
            .bearer_auth(&shop.token)
            .json(&body)
    };
    for (body, expected) in [
        (
            json!({"delta": -11, "reason": "damaged"}),
            (409, "negative_stock"),
        ),
        (
            json!({"delta": 0, "reason": "damaged"}),
            (400, "invalid_request"),
        ),
        (json!({"delta": 1}), (400, "invalid_json")),
        (
            json!({"delta": 1, "reason": "order"}),
            (400, "invalid_json"),
        ),
        (
            json!({"delta": 1, "reason": "received", "location_id": foreign}),
            (422, "unknown_location"),
        ),
    ] {
        assert_eq!(
            refusal(adjust(body.clone())).await,
            (expected.0, expected.1.into()),
            "{body}"
        );
    }

    // Reserved units bound what staff can take away.
    inventory::reserve(
        &shop.state,
        shop.store,
        HoldOwner::new(),
        &[line(v, 4)],
        LONG,
    )
    .await
    .expect("reserve");
    let r = put_stock(&stack, &shop, v, json!({"on_hand": 3})).await;
    assert_eq!(error_code(r).await, (409, "stock_reserved".into()));
    assert_eq!(
        refusal(adjust(json!({"delta": -7, "reason": "lost"}))).await,
        (409, "stock_reserved".into())
    );
    let r = adjust(json!({"delta": -6, "reason": "damaged"}))
        .send()
        .await
        .expect("adjust");
    assert_eq!(r.status(), 200);
    let stock: Value = r.json().await.expect("json");
    assert_eq!(
        (
            stock["on_hand"].clone(),
            stock["reserved"].clone(),
            stock["available"].clone(),
            stock["badge"].clone()
        ),
        (json!(4), json!(4), json!(0), json!("sold_out"))
    );
    let r = adjust(json!({"delta": 5, "reason": "received", "location_id": backroom_id}))
        .send()
        .await
        .expect("adjust");
    assert_eq!(r.status(), 200);
    let r = put_stock(
        &stack,
        &shop,
        v,
        json!({"on_hand": 6, "low_stock_threshold": 2}),
    )
    .await;
    assert_eq!(r.status(), 200);
    let stock: Value = r.json().await.expect("json");
    assert_eq!(
        (
            stock["on_hand"].clone(),
            stock["available"].clone(),
            stock["low_stock_threshold"].clone(),
            stock["badge"].clone()
        ),
        (json!(11), json!(7), json!(2), json!("in_stock"))
    );
    assert_eq!(
        per_location(&stock),
        vec![("Default".into(), 6, 4), ("Backroom".into(), 5, 0)]
    );

    // The last active location cannot be deactivated.
    let patch = |id: &str, body: Value| {
        stack
            .at(
                Method::PATCH,
                &shop.host,
                &format!("/admin/api/locations/{id}"),
            )
            .bearer_auth(&shop.token)
            .json(&body)
    };
    for (body, expected) in [
        (json!({"country": "XX"}), (400, "invalid_country")),
        (json!({"name": ""}), (400, "invalid_request")),
        (json!({"priority": 2_000_000}), (400, "invalid_request")),
        (json!({"longitude": 13.4}), (422, "unprocessable")),
    ] {
        assert_eq!(
            refusal(patch(&backroom_id, body.clone())).await,
            (expected.0, expected.1.into()),
            "{body}"
        );
    }
    // Coordinates are set together, and stay when other fields change.
    let (s, placed) = {
        let r = patch(
            &backroom_id,
            json!({"latitude": 52.52, "longitude": 13.405}),
        )
        .send()
        .await
        .expect("patch");
        (r.status().as_u16(), r.json::<Value>().await.expect("json"))
    };
    assert_eq!(s, 200, "{placed}");
    let r = patch(&backroom_id, json!({"city": "Berlin"}))
        .send()
        .await
        .expect("patch");
    let kept: Value = r.json().await.expect("json");
    assert_eq!(
        (
            kept["city"].clone(),
            kept["latitude"].clone(),
            kept["longitude"].clone()
        ),
        (json!("Berlin"), json!(52.52), json!(13.405))
    );
    let r = patch(&backroom_id, json!({"active": false}))
        .send()
        .await
        .expect("patch");
    assert_eq!(r.status(), 200);
    assert_eq!(
        refusal(patch(&default_id, json!({"active": false}))).await,
        (409, "last_active_location".into())
    );

    // The audit, newest first, paged.
    let path = format!("/admin/api/inventory/adjustments?variant_id={v}&limit=3");
    let r = stack
        .get(&shop.host, &path)
        .bearer_auth(&shop.token)
        .send()
        .await
        .expect("audit");
    assert_eq!(r.status(), 200);
    let page: Value = r.json().await.expect("json");
    let rows: Vec<(i64, i64, String, String)> = page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|a| {
            (
                a["delta"].as_i64().expect("delta"),
                a["on_hand_after"].as_i64().expect("after"),
                a["reason"].as_str().expect("reason").to_owned(),
                a["actor"].as_str().expect("actor").to_owned(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        vec![
            (2, 6, "correction".into(), "staff".into()),
            (5, 5, "received".into(), "staff".into()),
            (-6, 4, "damaged".into(), "staff".into()),
        ]
    );
    let cursor = page["next_cursor"].as_str().expect("cursor");
    let r = stack
        .get(&shop.host, &format!("{path}&after={cursor}"))
        .bearer_auth(&shop.token)
        .send()
        .await
        .expect("audit");
    let rest: Value = r.json().await.expect("json");
    assert_eq!(rest["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(rest["items"][0]["reason"], "initial");
    assert_eq!(rest["next_cursor"], Value::Null);
    let r = stack
        .get(
            &shop.host,
            &format!("/admin/api/inventory/adjustments?location_id={backroom_id}"),
        )
        .bearer_auth(&shop.token)
        .send()
        .await
        .expect("audit");
    let at_backroom: Value = r.json().await.expect("json");
    assert_eq!(at_backroom["items"].as_array().map(Vec::len), Some(1));
    for bad in [
        "limit=0",
        "limit=101",
        "after=nope",
        "variant_id=1",
        "colour=red",
    ] {
        let r = stack
            .get(
                &shop.host,
                &format!("/admin/api/inventory/adjustments?{bad}"),
            )
            .bearer_auth(&shop.token);
        assert_eq!(refusal(r).await.0, 400, "{bad}");
    }
    // One outbox event per audit row.
    let events = count(
        &shop,
        "SELECT count(*) FROM outbox WHERE store_id = $1 AND aggregate_id = $2
            AND type = 'inventory.level_changed'",
        v.as_uuid(),
    )
    .await;
    assert_eq!(events, 4);
    stack.shutdown().await;
}
