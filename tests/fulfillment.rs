//! Fulfillment end to end: the shipment lifecycle the database enforces,
//! and where shipments come from.

mod common;

use common::shop::*;
use common::Stack;
use mercato_pod::fulfillment::{self, state, ShipmentStatus};
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

/// A paid order gets a pending shipment per location its stock was
/// committed at, carrying each line's units.
#[tokio::test]
async fn a_paid_order_has_pending_shipments_where_its_stock_left() {
    let stack = Stack::start(1).await;
    let shop = Shop::open(&stack, "shipsoon").await;
    let (_, a) = shop.product(&stack, "SP-A", 1000, 5).await;
    let (_, b) = shop.product(&stack, "SP-B", 500, 1).await;
    let cart = shop.cart(&stack, &[(&a, 2), (&b, 1)]).await;
    let r = shop
        .checkout(&stack, &cart, "ship-1", CARD_OK)
        .send()
        .await
        .expect("checkout");
    assert_eq!(r.status(), 201);
    let order: serde_json::Value = r.json().await.expect("order");
    assert_eq!(shop.stock(&stack, &a).await, (3, 0));
    // Staff see the plan.
    let r = stack
        .at(
            reqwest::Method::GET,
            &shop.host,
            &format!(
                "/admin/api/orders/{}/shipments",
                order["id"].as_str().expect("id")
            ),
        )
        .bearer_auth(&shop.staff)
        .send()
        .await
        .expect("shipments");
    assert_eq!(r.status(), 200);
    let listed: serde_json::Value = r.json().await.expect("json");
    let listed = listed.as_array().expect("array");
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["status"], "pending");
    let units: i64 = listed[0]["lines"]
        .as_array()
        .expect("lines")
        .iter()
        .map(|l| l["quantity"].as_i64().expect("quantity"))
        .sum();
    assert_eq!(units, 3);
    let mut db = shop.db(&stack).await;
    let rows: Vec<(String, bool, String, i32)> = sqlx::query_as(
        "SELECT s.status, loc.is_default, l.variant_id::text, l.quantity
           FROM shipments s
           JOIN locations loc ON loc.store_id = s.store_id AND loc.id = s.location_id
           JOIN shipment_lines l ON l.store_id = s.store_id AND l.shipment_id = s.id
          WHERE s.store_id = $1
          ORDER BY l.line_position",
    )
    .bind(shop.id.as_uuid())
    .fetch_all(&mut db)
    .await
    .expect("shipments");
    let mut expected = vec![
        ("pending".to_owned(), true, a.clone(), 2),
        ("pending".to_owned(), true, b.clone(), 1),
    ];
    let mut got = rows.clone();
    got.sort_by(|x, y| x.2.cmp(&y.2));
    expected.sort_by(|x, y| x.2.cmp(&y.2));
    assert_eq!(got, expected);
    let shipments: (i64,) = sqlx::query_as("SELECT count(*) FROM shipments WHERE store_id = $1")
        .bind(shop.id.as_uuid())
        .fetch_one(&mut db)
        .await
        .expect("count");
    assert_eq!(shipments.0, 1);
    stack.shutdown().await;
}
