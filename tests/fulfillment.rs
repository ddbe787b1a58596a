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
