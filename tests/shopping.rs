//! A shopper's journey across contexts: browse, fill a guest cart, sign in
//! and find the guest cart merged into the account's cart.

mod common;

use common::{error_code, Stack, PLATFORM};
use serde_json::{json, Value};

fn quantities(cart: &Value) -> Vec<(String, i64)> {
    let mut q: Vec<(String, i64)> = cart["lines"]
        .as_array()
        .expect("lines")
        .iter()
        .map(|l| {
            (
                l["sku"].as_str().expect("sku").to_owned(),
                l["quantity"].as_i64().expect("quantity"),
            )
        })
        .collect();
    q.sort();
    q
}

#[tokio::test]
async fn signing_in_merges_the_guest_cart_into_the_customers_cart() {
    let stack = Stack::start(1).await;
    let store = stack.create_store("journey").await;
    let host = format!("journey.{PLATFORM}");
    let staff = stack.staff_token(&store);
    let tee = stack
        .create_product(&host, &staff, "Tee", "TEE", 2000)
        .await;
    let mug = stack.create_product(&host, &staff, "Mug", "MUG", 900).await;
    let tee_v = tee["variants"][0]["id"]
        .as_str()
        .expect("variant")
        .to_owned();
    let mug_v = mug["variants"][0]["id"]
        .as_str()
        .expect("variant")
        .to_owned();

    // An account with one tee in its cart.
    let r = stack
        .post(&host, "/api/customers")
        .json(&json!({"email": "ada@example.com", "password": "correct horse battery"}))
        .send()
        .await
        .expect("register");
    assert_eq!(r.status(), 201);
    let account: Value = r.json().await.expect("json");
    let customer = account["token"].as_str().expect("token").to_owned();
    let r = stack
        .post(&host, "/api/cart/lines")
        .bearer_auth(&customer)
        .json(&json!({"variant_id": tee_v, "quantity": 1}))
        .send()
        .await
        .expect("add");
    assert_eq!(r.status(), 200);
    let r = stack
        .post(&host, "/api/customers/logout")
        .bearer_auth(&customer)
        .send()
        .await
        .expect("logout");
    assert_eq!(r.status(), 204);

    // As a guest: two tees and a mug.
    let r = stack.post(&host, "/api/cart").send().await.expect("cart");
    assert_eq!(r.status(), 201);
    let guest: Value = r.json().await.expect("json");
    let token = guest["token"].as_str().expect("token").to_owned();
    for (variant, quantity) in [(&tee_v, 2), (&mug_v, 1)] {
        let r = stack
            .post(&host, "/api/cart/lines")
            .header("x-cart-token", &token)
            .json(&json!({"variant_id": variant, "quantity": quantity}))
            .send()
            .await
            .expect("add");
        assert_eq!(r.status(), 200);
    }

    // Signing in with the guest cart merges it, line by line.
    let r = stack
        .post(&host, "/api/customers/login")
        .header("x-cart-token", &token)
        .json(&json!({"email": "ada@example.com", "password": "correct horse battery"}))
        .send()
        .await
        .expect("login");
    assert_eq!(r.status(), 200);
    let login: Value = r.json().await.expect("json");
    let expected = vec![("MUG".to_string(), 1), ("TEE".to_string(), 3)];
    assert_eq!(quantities(&login["cart"]), expected);
    let customer = login["token"].as_str().expect("token").to_owned();
    let cart: Value = stack
        .get(&host, "/api/cart")
        .bearer_auth(&customer)
        .send()
        .await
        .expect("cart")
        .json()
        .await
        .expect("json");
    assert_eq!(quantities(&cart), expected);
    assert_eq!(cart["subtotal"]["minor"], 3 * 2000 + 900);

    // The guest cart is retired; signing in again with it changes nothing.
    let r = stack
        .get(&host, "/api/cart")
        .header("x-cart-token", &token)
        .send()
        .await
        .expect("cart");
    assert_eq!(error_code(r).await, (404, "not_found".into()));
    let r = stack
        .post(&host, "/api/customers/login")
        .header("x-cart-token", &token)
        .json(&json!({"email": "ada@example.com", "password": "correct horse battery"}))
        .send()
        .await
        .expect("login");
    assert_eq!(r.status(), 200);
    let again: Value = r.json().await.expect("json");
    assert!(again.get("cart").is_none(), "nothing merged twice");
    let cart: Value = stack
        .get(&host, "/api/cart")
        .bearer_auth(again["token"].as_str().expect("token"))
        .send()
        .await
        .expect("cart")
        .json()
        .await
        .expect("json");
    assert_eq!(quantities(&cart), expected);

    // Registering with a guest cart merges it too.
    let r = stack.post(&host, "/api/cart").send().await.expect("cart");
    let guest: Value = r.json().await.expect("json");
    let token = guest["token"].as_str().expect("token").to_owned();
    stack
        .post(&host, "/api/cart/lines")
        .header("x-cart-token", &token)
        .json(&json!({"variant_id": mug_v, "quantity": 4}))
        .send()
        .await
        .expect("add");
    let r = stack
        .post(&host, "/api/customers")
        .header("x-cart-token", &token)
        .json(&json!({"email": "grace@example.com", "password": "another good passphrase"}))
        .send()
        .await
        .expect("register");
    assert_eq!(r.status(), 201);
    let grace: Value = r.json().await.expect("json");
    assert_eq!(quantities(&grace["cart"]), vec![("MUG".to_string(), 4)]);
    stack.shutdown().await;
}
