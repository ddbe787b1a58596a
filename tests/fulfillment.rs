//! Fulfillment end to end: the shipment lifecycle the database enforces,
//! where a paid order's shipments come from (the nearest locations that
//! have its stock), partial fulfilment, the order following its shipments,
//! and concurrent shipment writes on one order.

mod common;

use common::shop::*;
use common::Stack;
use mercato_pod::fulfillment::{self, state, ShipmentStatus};
use reqwest::Method;
use serde_json::{json, Value};
use uuid::Uuid;

/// The trigger's table is the Rust function's, and the trigger refuses what
/// the function refuses, even without the API.
#[tokio::test]
async fn the_database_enforces_the_shipment_lifecycle_of_the_code() {
    let stack = Stack::start(1).await;
    let shop = Shop::open(&stack, "lifecycle").await;
    // Stock makes the store's default location.
    shop.product(&stack, "SH-1", 1000, 3).await;
    let mut db = shop.db(&stack).await;

    let table = fulfillment::database_transitions(&mut db)
        .await
        .expect("table");
    let mut expected = Vec::new();
    for from in ShipmentStatus::ALL {
        for to in ShipmentStatus::ALL {
            if state::allowed(from, to) {
                expected.push((from.as_str().to_owned(), to.as_str().to_owned()));
            }
        }
    }
    expected.sort();
    assert_eq!(table, expected);

    let store = shop.id.as_uuid();
    let order = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO orders (store_id, id, number, checkout_id, email, status, currency,
             subtotal_minor, shipping_minor, tax_minor, total_minor, shipping_option,
             shipping_address, payment_id)
         VALUES ($1, $2, 1, $3, 'a@example.com', 'paid', 'EUR', 0, 0, 0, 0, '{}', '{}', 'pay')",
    )
    .bind(store)
    .bind(order)
    .bind(Uuid::now_v7())
    .execute(&mut db)
    .await
    .expect("order");
    let shipment = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO shipments (store_id, id, order_id, location_id)
         SELECT $1, $2, $3, id FROM locations WHERE store_id = $1 AND is_default",
    )
    .bind(store)
    .bind(shipment)
    .bind(order)
    .execute(&mut db)
    .await
    .expect("shipment");

    // Every request from every status: the database agrees with `allowed`.
    let set = |to: ShipmentStatus| {
        sqlx::query("UPDATE shipments SET status = $3 WHERE store_id = $1 AND id = $2")
            .bind(store)
            .bind(shipment)
            .bind(to.as_str())
    };
    for from in ShipmentStatus::ALL {
        for to in ShipmentStatus::ALL {
            if from == to {
                continue;
            }
            sqlx::raw_sql(&format!(
                "ALTER TABLE shipments DISABLE TRIGGER shipments_status_transition;
                 UPDATE shipments SET status = '{}' WHERE id = '{shipment}';
                 ALTER TABLE shipments ENABLE TRIGGER shipments_status_transition;",
                from.as_str()
            ))
            .execute(&mut db)
            .await
            .expect("reset");
            let result = set(to).execute(&mut db).await;
            match (state::allowed(from, to), result) {
                (true, Ok(_)) => {}
                (false, Err(e)) => assert!(
                    e.to_string().contains(&format!(
                        "cannot go from {} to {}",
                        from.as_str(),
                        to.as_str()
                    )),
                    "{e}"
                ),
                (allowed, result) => {
                    panic!("{from:?} -> {to:?}: code {allowed}, database {result:?}")
                }
            }
        }
    }
    stack.shutdown().await;
}

/// A location with an address; its id.
async fn location(
    stack: &Stack,
    shop: &Shop,
    name: &str,
    country: &str,
    region: &str,
    priority: i32,
) -> String {
    let r = stack
        .post(&shop.host, "/admin/api/locations")
        .bearer_auth(&shop.staff)
        .json(&json!({"name": name, "country": country, "region": region, "priority": priority}))
        .send()
        .await
        .expect("location");
    assert_eq!(r.status(), 201, "creating {name}");
    let body: Value = r.json().await.expect("json");
    body["id"].as_str().expect("id").to_owned()
}

/// Sets a variant's units on hand at a location.
async fn stock_at(stack: &Stack, shop: &Shop, variant: &str, location: &str, on_hand: i32) {
    let r = stack
        .at(
            Method::PUT,
            &shop.host,
            &format!("/admin/api/variants/{variant}/stock"),
        )
        .bearer_auth(&shop.staff)
        .json(&json!({"on_hand": on_hand, "location_id": location}));
    assert_eq!(
        common::status_of(r).await,
        200,
        "stock of {variant} at {location}"
    );
}

/// (on_hand, reserved) of a variant at one location.
async fn level(shop: &Shop, stack: &Stack, variant: &str, location: &str) -> (i32, i32) {
    let mut db = shop.db(stack).await;
    sqlx::query_as(
        "SELECT on_hand, reserved FROM stock_levels
          WHERE store_id = $1 AND variant_id = $2 AND location_id = $3",
    )
    .bind(shop.id.as_uuid())
    .bind(variant.parse::<Uuid>().expect("uuid"))
    .bind(location.parse::<Uuid>().expect("uuid"))
    .fetch_optional(&mut db)
    .await
    .expect("level")
    .unwrap_or((0, 0))
}

/// A paid order (guest checkout of `lines`, shipped to Springfield, IL,
/// US): the order as the checkout answered.
async fn paid_order(stack: &Stack, shop: &Shop, lines: &[(&str, i64)], key: &str) -> Value {
    let cart = shop.cart(stack, lines).await;
    let r = shop
        .checkout(stack, &cart, key, CARD_OK)
        .send()
        .await
        .expect("checkout");
    assert_eq!(r.status(), 201);
    let order: Value = r.json().await.expect("order");
    assert_eq!(order["status"], "paid", "{order}");
    order
}

fn staff(stack: &Stack, shop: &Shop, method: Method, path: &str) -> reqwest::RequestBuilder {
    stack.at(method, &shop.host, path).bearer_auth(&shop.staff)
}

async fn send(req: reqwest::RequestBuilder) -> (u16, Value) {
    let r = req.send().await.expect("send");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn shipments(stack: &Stack, shop: &Shop, order: &str) -> Vec<Value> {
    let (status, body) = send(staff(
        stack,
        shop,
        Method::GET,
        &format!("/admin/api/orders/{order}/shipments"),
    ))
    .await;
    assert_eq!(status, 200, "{body}");
    body.as_array().expect("array").clone()
}

/// (location, sorted (line position, units)) of each shipment, in order.
fn plan_of(shipments: &[Value]) -> Vec<(String, Vec<(i64, i64)>)> {
    shipments
        .iter()
        .map(|s| {
            let mut lines: Vec<(i64, i64)> = s["lines"]
                .as_array()
                .expect("lines")
                .iter()
                .map(|l| {
                    (
                        l["line_position"].as_i64().expect("position"),
                        l["quantity"].as_i64().expect("quantity"),
                    )
                })
                .collect();
            lines.sort();
            (
                s["location_id"].as_str().expect("location").to_owned(),
                lines,
            )
        })
        .collect()
}

fn step(to: &str) -> Value {
    json!({"status": to})
}

/// The two planning cases, with holds reserved by priority
/// elsewhere (so the commit moves them): a three-line order whose stock
/// sits in several warehouses ships in two shipments from the nearest
/// locations, an order one warehouse can serve ships from it alone even
/// when another is nearer for one line, and stock per location is exact
/// afterwards. Then the order follows its shipments through a partial
/// fulfilment, as staff and the shopper see it.
#[tokio::test]
async fn paid_orders_ship_from_the_nearest_locations_that_have_the_stock() {
    let stack = Stack::start(1).await;
    let shop = Shop::open(&stack, "warehouses").await;
    // The address is Springfield, IL, US. Reservations take stock by
    // priority (Paris first), the planner by nearness.
    let chicago = location(&stack, &shop, "Chicago", "US", "IL", 5).await;
    let austin = location(&stack, &shop, "Austin", "US", "TX", 5).await;
    let paris = location(&stack, &shop, "Paris", "FR", "IDF", 1).await;
    let (_, a) = shop.product(&stack, "WH-A", 1000, 0).await;
    let (_, b) = shop.product(&stack, "WH-B", 700, 0).await;
    let (_, c) = shop.product(&stack, "WH-C", 300, 0).await;
    let (_, d) = shop.product(&stack, "WH-D", 400, 0).await;
    let (_, e) = shop.product(&stack, "WH-E", 500, 0).await;
    for (variant, at, units) in [
        (&a, &chicago, 1),
        (&a, &paris, 5),
        (&b, &austin, 5),
        (&b, &paris, 5),
        (&c, &chicago, 2),
        (&d, &chicago, 3),
        (&d, &paris, 3),
        (&e, &paris, 3),
    ] {
        stock_at(&stack, &shop, variant, at, units).await;
    }

    // No location has all three lines; Chicago (same region) and Austin
    // (same country) cover them, so Paris, which has two lines and the
    // best priority, ships nothing.
    let split = paid_order(&stack, &shop, &[(&a, 1), (&b, 1), (&c, 1)], "wh-1").await;
    let split_id = split["id"].as_str().expect("id").to_owned();
    let plan = plan_of(&shipments(&stack, &shop, &split_id).await);
    assert_eq!(
        plan,
        vec![
            (chicago.clone(), vec![(0, 1), (2, 1)]),
            (austin.clone(), vec![(1, 1)])
        ],
        "Chicago first (same region), then Austin"
    );
    // Stock left where it ships from; nothing stays reserved.
    assert_eq!(level(&shop, &stack, &a, &chicago).await, (0, 0));
    assert_eq!(level(&shop, &stack, &a, &paris).await, (5, 0));
    assert_eq!(level(&shop, &stack, &b, &austin).await, (4, 0));
    assert_eq!(level(&shop, &stack, &b, &paris).await, (5, 0));
    assert_eq!(level(&shop, &stack, &c, &chicago).await, (1, 0));
    // The holds say where the units came from (a cancellation restocks
    // there).
    let held = shop
        .count(
            &stack,
            "SELECT count(*) FROM holds WHERE store_id = $1 AND status = 'committed'",
        )
        .await;
    assert_eq!(held, 3);

    // Paris has both lines; Chicago is nearer for D but lacks E: one
    // shipment, from Paris.
    let whole = paid_order(&stack, &shop, &[(&d, 1), (&e, 1)], "wh-2").await;
    let whole_id = whole["id"].as_str().expect("id").to_owned();
    assert_eq!(
        plan_of(&shipments(&stack, &shop, &whole_id).await),
        vec![(paris.clone(), vec![(0, 1), (1, 1)])]
    );
    assert_eq!(level(&shop, &stack, &d, &chicago).await, (3, 0));
    assert_eq!(level(&shop, &stack, &d, &paris).await, (2, 0));
    assert_eq!(level(&shop, &stack, &e, &paris).await, (2, 0));

    // Partial fulfilment: line 0 (A) leaves Chicago on its own first.
    let path = format!("/admin/api/orders/{split_id}/shipments");
    let (status, first) = send(staff(&stack, &shop, Method::POST, &path).json(&json!({
        "location_id": chicago, "lines": [{"line_position": 0, "quantity": 1}],
        "carrier": "UPS", "tracking_number": "1Z999", "tracking_url": "https://ups.example/1Z999"
    })))
    .await;
    assert_eq!(status, 201, "{first}");
    let first_id = first["id"].as_str().expect("id").to_owned();
    // Asking again for a unit that no longer waits is refused.
    assert_eq!(
        common::refusal(staff(&stack, &shop, Method::POST, &path).json(&json!({
            "location_id": chicago, "lines": [{"line_position": 0, "quantity": 1}]
        })))
        .await,
        (409, "units_not_pending".to_owned())
    );
    // Units wait at two locations: the location must be named.
    assert_eq!(
        common::refusal(staff(&stack, &shop, Method::POST, &path).json(&json!({
            "lines": [{"line_position": 2, "quantity": 1}]
        })))
        .await
        .0,
        400
    );
    let move_to = |shipment: &str, to: &str| {
        staff(
            &stack,
            &shop,
            Method::POST,
            &format!("{path}/{shipment}/status"),
        )
        .json(&step(to))
    };
    // pending -> delivered skips shipping: refused.
    assert_eq!(
        common::refusal(move_to(&first_id, "delivered")).await,
        (409, "invalid_transition".to_owned())
    );
    let (status, shipped) = send(move_to(&first_id, "shipped")).await;
    assert_eq!(
        (status, shipped["status"].as_str()),
        (200, Some("shipped")),
        "{shipped}"
    );
    assert_eq!(shipped["tracking_number"], "1Z999");
    let order_status = |id: String| {
        let stack = &stack;
        let shop = &shop;
        async move {
            let (_, o) = send(staff(
                stack,
                shop,
                Method::GET,
                &format!("/admin/api/orders/{id}"),
            ))
            .await;
            o["status"].as_str().expect("status").to_owned()
        }
    };
    assert_eq!(order_status(split_id.clone()).await, "partially_fulfilled");

    // The shopper sees shipments and tracking on the order.
    let link = split["confirmation_path"]
        .as_str()
        .expect("link")
        .to_owned();
    let (status, seen) = send(stack.get(&shop.host, &link)).await;
    assert_eq!(status, 200, "{seen}");
    assert_eq!(seen["status"], "partially_fulfilled");
    let tracked: Vec<&Value> = seen["shipments"]
        .as_array()
        .expect("shipments")
        .iter()
        .filter(|s| s["status"] == "shipped")
        .collect();
    assert_eq!(tracked.len(), 1);
    assert_eq!(tracked[0]["tracking_url"], "https://ups.example/1Z999");
    assert_eq!(tracked[0]["carrier"], "UPS");

    // Tracking is edited; bad tracking input is a 400.
    let (status, edited) = send(
        staff(&stack, &shop, Method::PATCH, &format!("{path}/{first_id}"))
            .json(&json!({"tracking_number": "1Z1000"})),
    )
    .await;
    assert_eq!(
        (status, edited["tracking_number"].as_str()),
        (200, Some("1Z1000"))
    );
    assert_eq!(edited["carrier"], "UPS");
    for bad in [
        json!({"tracking_url": "javascript:alert(1)"}),
        json!({"carrier": "x".repeat(101)}),
        json!({"tracking_url": "https://a b"}),
        json!({"status": "shipped"}),
    ] {
        let (code, _) = common::refusal(
            staff(&stack, &shop, Method::PATCH, &format!("{path}/{first_id}")).json(&bad),
        )
        .await;
        assert_eq!(code, 400, "{bad}");
    }

    // The rest ships: Chicago's remaining line gets a label, which is
    // cancelled (its unit waits again), then ships; Austin ships.
    let rest = shipments(&stack, &shop, &split_id).await;
    let waiting_chicago = rest
        .iter()
        .find(|s| s["status"] == "pending" && s["location_id"] == chicago.as_str())
        .expect("Chicago's rest")["id"]
        .as_str()
        .expect("id")
        .to_owned();
    // A pending shipment is not cancelled on its own.
    assert_eq!(
        common::refusal(move_to(&waiting_chicago, "cancelled"))
            .await
            .0,
        409
    );
    assert_eq!(
        send(move_to(&waiting_chicago, "label_created")).await.0,
        200
    );
    assert_eq!(send(move_to(&waiting_chicago, "cancelled")).await.0, 200);
    let after_cancel = shipments(&stack, &shop, &split_id).await;
    let again = after_cancel
        .iter()
        .find(|s| s["status"] == "pending" && s["location_id"] == chicago.as_str())
        .expect("the unit waits again");
    assert_eq!(plan_of(std::slice::from_ref(again))[0].1, vec![(2, 1)]);
    let again_id = again["id"].as_str().expect("id").to_owned();
    assert_eq!(send(move_to(&again_id, "shipped")).await.0, 200);
    assert_eq!(order_status(split_id.clone()).await, "partially_fulfilled");
    let austin_id = after_cancel
        .iter()
        .find(|s| s["location_id"] == austin.as_str())
        .expect("Austin")["id"]
        .as_str()
        .expect("id")
        .to_owned();
    assert_eq!(send(move_to(&austin_id, "shipped")).await.0, 200);
    assert_eq!(order_status(split_id.clone()).await, "fulfilled");
    // A shipped order is not cancelled.
    assert_eq!(
        common::refusal(
            staff(
                &stack,
                &shop,
                Method::POST,
                &format!("/admin/api/orders/{split_id}/cancel")
            )
            .json(&json!({}))
        )
        .await
        .0,
        409
    );
    for id in [&first_id, &again_id] {
        assert_eq!(send(move_to(id, "in_transit")).await.0, 200);
        assert_eq!(send(move_to(id, "delivered")).await.0, 200);
    }
    assert_eq!(order_status(split_id.clone()).await, "fulfilled");
    assert_eq!(send(move_to(&austin_id, "delivered")).await.0, 200);
    assert_eq!(order_status(split_id.clone()).await, "delivered");
    // Delivered is the shipment's end.
    assert_eq!(
        common::refusal(move_to(&austin_id, "in_transit")).await.0,
        409
    );

    // The order's history and events name each step once.
    let mut db = shop.db(&stack).await;
    let history: Vec<(String,)> = sqlx::query_as(
        "SELECT to_status FROM order_history WHERE store_id = $1 AND order_id = $2 ORDER BY id",
    )
    .bind(shop.id.as_uuid())
    .bind(split_id.parse::<Uuid>().expect("uuid"))
    .fetch_all(&mut db)
    .await
    .expect("history");
    let history: Vec<String> = history.into_iter().map(|(s,)| s).collect();
    assert_eq!(
        history,
        [
            "placed",
            "paid",
            "partially_fulfilled",
            "fulfilled",
            "delivered"
        ]
    );
    let events = shop
        .count(
            &stack,
            "SELECT count(*) FROM outbox WHERE store_id = $1 AND type = 'order.status_changed'",
        )
        .await;
    assert_eq!(events, 3);
    let fulfilled = shop
        .count(
            &stack,
            "SELECT count(*) FROM outbox WHERE store_id = $1 AND type = 'order.fulfilled'",
        )
        .await;
    assert_eq!(fulfilled, 1);
    // The shopper got a mail for each shipment that left (three) and each
    // that arrived (three), with the tracking staff gave.
    let number = split["number"].as_i64().expect("number");
    let shipped = stack
        .await_mails(
            "shopper@example.com",
            &format!("Order #{number} has shipped"),
            3,
        )
        .await;
    assert_eq!(shipped.len(), 3);
    let delivered = stack
        .await_mails(
            "shopper@example.com",
            &format!("Order #{number} was delivered"),
            3,
        )
        .await;
    assert_eq!(delivered.len(), 3);
    let mut tracked = false;
    for m in &shipped {
        let full = stack.mail(m).await;
        tracked |= full["text"]
            .as_str()
            .is_some_and(|t| t.contains("https://ups.example/1Z999"));
    }
    assert!(tracked, "a shipping mail carries the tracking link");
    // The tracking number changed after the first shipment left.
    let updated = stack
        .await_mails(
            "shopper@example.com",
            &format!("Tracking updated for order #{number}"),
            1,
        )
        .await;
    assert_eq!(updated.len(), 1);
    let full = stack.mail(&updated[0]).await;
    assert!(
        full["text"].as_str().is_some_and(|t| t.contains("1Z1000")),
        "{full}"
    );

    // Cancelling the Paris order cancels its pending shipment and puts
    // the stock back where it left.
    let (status, cancelled) = send(
        staff(
            &stack,
            &shop,
            Method::POST,
            &format!("/admin/api/orders/{whole_id}/cancel"),
        )
        .json(&json!({})),
    )
    .await;
    assert_eq!(
        (status, cancelled["status"].as_str()),
        (200, Some("cancelled")),
        "{cancelled}"
    );
    let left = shipments(&stack, &shop, &whole_id).await;
    assert!(left.iter().all(|s| s["status"] == "cancelled"), "{left:?}");
    assert_eq!(level(&shop, &stack, &d, &paris).await, (3, 0));
    assert_eq!(level(&shop, &stack, &e, &paris).await, (3, 0));
    assert_eq!(level(&shop, &stack, &d, &chicago).await, (3, 0));
    // A cancelled order's shipments do not move.
    assert_eq!(
        common::refusal(
            staff(
                &stack,
                &shop,
                Method::POST,
                &format!(
                    "/admin/api/orders/{whole_id}/shipments/{}/status",
                    left[0]["id"].as_str().expect("id")
                )
            )
            .json(&step("shipped"))
        )
        .await,
        (409, "invalid_transition".to_owned())
    );
    stack.shutdown().await;
}

/// Many staff writes at once on one order: splits of single units and
/// shipping the same shipment. Each unit ends in exactly one live
/// shipment, and a shipment ships once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_shipment_writes_never_ship_a_unit_twice() {
    let stack = Stack::start(1).await;
    let shop = Shop::open(&stack, "rushroom").await;
    let (_, a) = shop.product(&stack, "RUSH-A", 1000, 10).await;
    let order = paid_order(&stack, &shop, &[(&a, 6)], "rush-1").await;
    let id = order["id"].as_str().expect("id").to_owned();
    let path = format!("/admin/api/orders/{id}/shipments");

    // Twelve splits of one unit race for six units.
    let splits = (0..12).map(|_| {
        let req = staff(&stack, &shop, Method::POST, &path)
            .json(&json!({"lines": [{"line_position": 0, "quantity": 1}]}));
        async move { common::refusal(req).await }
    });
    let answers = futures::future::join_all(splits).await;
    let created = answers.iter().filter(|(s, _)| *s == 201).count();
    let refused = answers
        .iter()
        .filter(|a| **a == (409, "units_not_pending".to_owned()))
        .count();
    assert_eq!((created, refused), (6, 6), "{answers:?}");
    let now = shipments(&stack, &shop, &id).await;
    let live_units: i64 = now
        .iter()
        .filter(|s| s["status"] != "cancelled")
        .flat_map(|s| s["lines"].as_array().expect("lines").clone())
        .map(|l| l["quantity"].as_i64().expect("quantity"))
        .sum();
    assert_eq!(live_units, 6);
    assert_eq!(
        now.len(),
        6,
        "the emptied pending shipment is gone: {now:?}"
    );

    // Eight requests ship the same shipment: one moves it.
    let target = now[0]["id"].as_str().expect("id").to_owned();
    let ships = (0..8).map(|_| {
        let req = staff(
            &stack,
            &shop,
            Method::POST,
            &format!("{path}/{target}/status"),
        )
        .json(&step("shipped"));
        async move { common::refusal(req).await }
    });
    let answers = futures::future::join_all(ships).await;
    let moved = answers.iter().filter(|(s, _)| *s == 200).count();
    let refused = answers
        .iter()
        .filter(|a| **a == (409, "invalid_transition".to_owned()))
        .count();
    assert_eq!((moved, refused), (1, 7), "{answers:?}");

    // Shipping all the others at once: every one ships, the order is
    // fulfilled once.
    let rest: Vec<String> = now[1..]
        .iter()
        .map(|s| s["id"].as_str().expect("id").to_owned())
        .collect();
    let ships = rest.iter().map(|s| {
        let req = staff(&stack, &shop, Method::POST, &format!("{path}/{s}/status"))
            .json(&step("shipped"));
        async move { common::status_of(req).await }
    });
    let answers = futures::future::join_all(ships).await;
    assert!(answers.iter().all(|s| *s == 200), "{answers:?}");
    let (_, o) = send(staff(
        &stack,
        &shop,
        Method::GET,
        &format!("/admin/api/orders/{id}"),
    ))
    .await;
    assert_eq!(o["status"], "fulfilled");
    let fulfilled = shop
        .count(
            &stack,
            "SELECT count(*) FROM order_history WHERE store_id = $1 AND to_status IN ('partially_fulfilled', 'fulfilled')",
        )
        .await;
    assert_eq!(fulfilled, 2, "partially fulfilled once, fulfilled once");
    // The database refuses a unit in two live shipments even without
    // the API's lock.
    let mut db = shop.db(&stack).await;
    let err = sqlx::query(
        "UPDATE shipment_lines SET quantity = quantity + 1 WHERE store_id = $1 AND shipment_id = $2",
    )
    .bind(shop.id.as_uuid())
    .bind(target.parse::<Uuid>().expect("uuid"))
    .execute(&mut db)
    .await
    .expect_err("the trigger refuses");
    assert!(
        err.to_string()
            .contains("in shipments for 7 units and has 0 cancelled, ordered 6"),
        "{err}"
    );
    // Nor a cancelled unit that is in a live shipment.
    let err = sqlx::query(
        "UPDATE order_lines SET cancelled_quantity = 1 WHERE store_id = $1 AND order_id = $2",
    )
    .bind(shop.id.as_uuid())
    .bind(id.parse::<Uuid>().expect("uuid"))
    .execute(&mut db)
    .await
    .expect_err("the trigger refuses");
    assert!(
        err.to_string()
            .contains("in shipments for 6 units and has 1 cancelled, ordered 6"),
        "{err}"
    );
    stack.shutdown().await;
}

/// `POST /admin/api/orders/{id}/line-cancellations` as staff send it.
fn cancel_lines(stack: &Stack, shop: &Shop, order: &str, body: Value) -> reqwest::RequestBuilder {
    staff(
        stack,
        shop,
        Method::POST,
        &format!("/admin/api/orders/{order}/line-cancellations"),
    )
    .json(&body)
}

/// What cancelling `units` of an order refunds: the units' value and
/// their share (rounded down) of the tax, which the checkout took on goods
/// and shipping together.
fn owed(order: &Value, value: i64) -> i64 {
    let tax = order["tax_minor"].as_i64().expect("tax");
    let whole = order["subtotal_minor"].as_i64().expect("subtotal")
        + order["shipping_minor"].as_i64().expect("shipping");
    value + tax * value / whole
}

/// Staff cancel waiting units of a paid order before they ship: the units
/// leave its pending shipment and go back on hand where they waited (or
/// are written off), their price and share of tax are refunded through
/// the gateway, the order follows what is left, and the shopper is told.
/// Cancelling every unit left cancels the order with its shipping; a
/// later whole cancel never restocks a cancelled unit twice.
#[tokio::test]
async fn staff_cancel_waiting_units_which_go_back_to_stock_and_are_refunded() {
    let stack = Stack::start(1).await;
    let shop = Shop::open(&stack, "cancellines").await;
    let (_, a) = shop.product(&stack, "CL-A", 1000, 5).await;
    let (_, b) = shop.product(&stack, "CL-B", 700, 2).await;
    let o = paid_order(&stack, &shop, &[(&a, 3), (&b, 1)], "cl-1").await;
    let id = o["id"].as_str().expect("id").to_owned();
    let number = o["number"].as_i64().expect("number");
    assert_eq!(shop.stock(&stack, &a).await.0, 2);

    // Two of the three A's are cancelled and go back on the shelf.
    let (status, done) = send(cancel_lines(
        &stack,
        &shop,
        &id,
        json!({"lines": [{"line_position": 0, "quantity": 2}], "reason": "Only one left in the warehouse"}),
    ))
    .await;
    assert_eq!(status, 200, "{done}");
    let first = owed(&o, 2000);
    assert_eq!(done["refund"]["amount_minor"], first, "{done}");
    assert_eq!(done["refund"]["status"], "succeeded");
    assert_eq!(done["refund"]["cause"], "lines_cancelled");
    assert_eq!(done["order"]["status"], "paid");
    assert_eq!(done["order"]["refunded_minor"], first);
    assert_eq!(done["order"]["lines"][0]["cancelled_quantity"], 2);
    assert_eq!(done["order"]["lines"][1]["cancelled_quantity"], 0);
    assert_eq!(shop.stock(&stack, &a).await.0, 4);
    let waiting: Vec<(i64, i64)> = plan_of(&shipments(&stack, &shop, &id).await)
        .into_iter()
        .flat_map(|(_, lines)| lines)
        .collect();
    assert_eq!(waiting, vec![(0, 1), (1, 1)]);

    // No more than waits; bad input is a 400.
    assert_eq!(
        common::refusal(cancel_lines(
            &stack,
            &shop,
            &id,
            json!({"lines": [{"line_position": 0, "quantity": 2}]})
        ))
        .await,
        (409, "units_not_pending".to_owned())
    );
    for bad in [
        json!({"lines": []}),
        json!({"lines": [{"line_position": 0, "quantity": 0}]}),
        json!({"lines": [{"line_position": -1, "quantity": 1}]}),
        json!({"lines": [{"line_position": 0, "quantity": 1}], "reason": "x".repeat(501)}),
        json!({"lines": [{"line_position": 0, "quantity": 1}], "extra": 1}),
    ] {
        assert_eq!(
            common::refusal(cancel_lines(&stack, &shop, &id, bad.clone()))
                .await
                .0,
            400,
            "{bad}"
        );
    }

    // The last A ships; the B is cancelled and written off: every unit
    // left has shipped, so the order is fulfilled.
    let (status, shipped) = send(
        staff(
            &stack,
            &shop,
            Method::POST,
            &format!("/admin/api/orders/{id}/shipments"),
        )
        .json(&json!({"lines": [{"line_position": 0, "quantity": 1}], "status": "shipped"})),
    )
    .await;
    assert_eq!(status, 201, "{shipped}");
    let (status, done) = send(cancel_lines(
        &stack,
        &shop,
        &id,
        json!({"lines": [{"line_position": 1, "quantity": 1}], "restock": false}),
    ))
    .await;
    assert_eq!(status, 200, "{done}");
    let second = owed(&o, 2000 + 700) - first;
    assert_eq!(done["refund"]["amount_minor"], second);
    assert_eq!(done["order"]["status"], "fulfilled");
    assert_eq!(
        shop.stock(&stack, &b).await.0,
        1,
        "written off, not restocked"
    );
    assert_eq!(shop.at_gateway(&stack, &id).await.1, first + second);

    // The shopper hears of each cancellation, not of its refund twice; a
    // goodwill refund has its own mail.
    let mails = stack
        .await_mails(
            "shopper@example.com",
            &format!("Items cancelled from order #{number}"),
            2,
        )
        .await;
    let text = stack.mail(&mails[0]).await["text"]
        .as_str()
        .expect("text")
        .to_owned();
    assert!(
        text.contains("CL-A") && text.contains("Only one left"),
        "{text}"
    );
    let (status, _) = send(
        staff(
            &stack,
            &shop,
            Method::POST,
            &format!("/admin/api/orders/{id}/refunds"),
        )
        .header("idempotency-key", "goodwill-1")
        .json(&json!({"amount_minor": 100, "reason": "Sorry for the wait"})),
    )
    .await;
    assert_eq!(status, 201);
    stack
        .await_mails(
            "shopper@example.com",
            &format!("Refund issued for order #{number}"),
            1,
        )
        .await;
    let refunds_mailed = stack
        .mails_with("shopper@example.com", "Refund issued")
        .await
        .len();
    assert_eq!(refunds_mailed, 1, "only the goodwill refund's own mail");

    // Cancelling every unit left cancels the order and refunds all of it,
    // shipping included.
    let (_, c) = shop.product(&stack, "CL-C", 500, 4).await;
    let whole = paid_order(&stack, &shop, &[(&c, 2)], "cl-2").await;
    let whole_id = whole["id"].as_str().expect("id").to_owned();
    let (status, done) = send(cancel_lines(
        &stack,
        &shop,
        &whole_id,
        json!({"lines": [{"line_position": 0, "quantity": 2}]}),
    ))
    .await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(done["order"]["status"], "cancelled");
    assert_eq!(done["refund"]["amount_minor"], whole["total_minor"]);
    assert_eq!(shop.stock(&stack, &c).await.0, 4);
    let (captured, refunded) = shop.at_gateway(&stack, &whole_id).await;
    assert_eq!(captured, refunded);
    assert_eq!(
        common::refusal(cancel_lines(
            &stack,
            &shop,
            &whole_id,
            json!({"lines": [{"line_position": 0, "quantity": 1}]})
        ))
        .await,
        (409, "invalid_transition".to_owned())
    );
    stack
        .await_mails(
            "shopper@example.com",
            &format!("Order #{} cancelled", whole["number"]),
            1,
        )
        .await;

    // A unit cancelled before the whole order is cancelled with restock
    // goes back on the shelf once, not twice.
    let (_, d) = shop.product(&stack, "CL-D", 300, 3).await;
    let part = paid_order(&stack, &shop, &[(&d, 3)], "cl-3").await;
    let part_id = part["id"].as_str().expect("id").to_owned();
    let (status, _) = send(cancel_lines(
        &stack,
        &shop,
        &part_id,
        json!({"lines": [{"line_position": 0, "quantity": 1}]}),
    ))
    .await;
    assert_eq!(status, 200);
    let (status, cancelled) = send(
        staff(
            &stack,
            &shop,
            Method::POST,
            &format!("/admin/api/orders/{part_id}/cancel"),
        )
        .json(&json!({})),
    )
    .await;
    assert_eq!(status, 200, "{cancelled}");
    assert_eq!(shop.stock(&stack, &d).await.0, 3);
    assert_eq!(cancelled["refunded_minor"], part["total_minor"]);
    stack.shutdown().await;
}

/// Racing cancellations of one order's units cancel and refund each unit
/// once: of eight requests for one unit each of a four-unit line, four
/// succeed, the order ends cancelled with all of its money back and its
/// stock exact.
#[tokio::test]
async fn racing_line_cancellations_cancel_each_unit_once() {
    let stack = Stack::start(1).await;
    let shop = Shop::open(&stack, "cancelrace").await;
    let (_, a) = shop.product(&stack, "CR-A", 1000, 4).await;
    let o = paid_order(&stack, &shop, &[(&a, 4)], "cr-1").await;
    let id = o["id"].as_str().expect("id").to_owned();
    let answers = futures::future::join_all((0..8).map(|_| {
        send(cancel_lines(
            &stack,
            &shop,
            &id,
            json!({"lines": [{"line_position": 0, "quantity": 1}]}),
        ))
    }))
    .await;
    let mut codes: Vec<u16> = answers.iter().map(|(s, _)| *s).collect();
    codes.sort();
    assert_eq!(
        codes,
        vec![200, 200, 200, 200, 409, 409, 409, 409],
        "{answers:?}"
    );
    let (_, now) = send(staff(
        &stack,
        &shop,
        Method::GET,
        &format!("/admin/api/orders/{id}"),
    ))
    .await;
    assert_eq!(now["status"], "cancelled");
    assert_eq!(now["refunded_minor"], o["total_minor"]);
    assert_eq!(now["lines"][0]["cancelled_quantity"], 4);
    let (captured, refunded) = shop.at_gateway(&stack, &id).await;
    assert_eq!(
        (captured, refunded),
        (o["total_minor"].as_i64().expect("total"), captured)
    );
    assert_eq!(shop.stock(&stack, &a).await, (4, 0));
    stack.shutdown().await;
}
