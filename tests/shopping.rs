//! A shopper's journey across contexts: browse, fill a guest cart, sign in
//! and find the guest cart merged into the account's cart.

mod common;

use common::{refusal, status_of, Stack, PLATFORM};
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

/// Staff of one store, over the API.
struct Admin<'a> {
    stack: &'a Stack,
    host: &'a str,
    token: &'a str,
}

impl Admin<'_> {
    /// Sends a request with a JSON body; the answer must have `status`.
    async fn send(&self, method: reqwest::Method, path: &str, body: Value, status: u16) -> Value {
        let r = self
            .stack
            .at(method, self.host, path)
            .bearer_auth(self.token)
            .json(&body)
            .send()
            .await
            .expect("send");
        assert_eq!(r.status().as_u16(), status, "{path}");
        r.json().await.expect("json")
    }
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
    let r = common::register_customer(
        &stack,
        &host,
        json!({"email": "ada@example.com", "password": "correct horse battery"}),
        None,
    )
    .await;
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
            .json(&json!({"variant_id": variant, "quantity": quantity}));
        assert_eq!(status_of(r).await, 200);
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
    let r = stack.get(&host, "/api/cart").header("x-cart-token", &token);
    assert_eq!(refusal(r).await, (404, "not_found".into()));
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
    let r = common::register_customer(
        &stack,
        &host,
        json!({"email": "grace@example.com", "password": "another good passphrase"}),
        Some(&token),
    )
    .await;
    assert_eq!(r.status(), 201);
    let grace: Value = r.json().await.expect("json");
    assert_eq!(quantities(&grace["cart"]), vec![("MUG".to_string(), 4)]);
    stack.shutdown().await;
}

/// Staff file products in categories and collections through the API; a
/// shopper's search follows every change at once, including a category
/// moving to another branch of the tree and a product added to a
/// rule-based collection by its vendor.
#[tokio::test]
async fn search_follows_categories_and_collections_as_staff_change_them() {
    let stack = Stack::start(1).await;
    let store = stack.create_store("merch").await;
    let host = format!("merch.{PLATFORM}");
    let staff = stack.staff_token(&store);
    let admin = Admin {
        stack: &stack,
        host: &host,
        token: &staff,
    };
    let post = reqwest::Method::POST;
    let clothing = admin
        .send(
            post.clone(),
            "/admin/api/categories",
            json!({"handle": "clothing", "name": "Clothing"}),
            201,
        )
        .await;
    let sale = admin
        .send(
            post.clone(),
            "/admin/api/categories",
            json!({"handle": "sale", "name": "Sale"}),
            201,
        )
        .await;
    let shirts = admin
        .send(
            post.clone(),
            "/admin/api/categories",
            json!({"handle": "shirts", "name": "Shirts", "parent_id": clothing["id"]}),
            201,
        )
        .await;
    let acme = admin.send(post.clone(), "/admin/api/collections", json!({
        "handle": "acme", "title": "Acme", "kind": "rule",
        "rules": {"match": "all", "conditions": [{"field": "vendor", "op": "equals", "value": "Acme"}]}
    }), 201).await;
    let shirt = admin.send(post, "/admin/api/products", json!({
        "title": "Oxford shirt", "vendor": "Acme", "variants": [{"sku": "OX-1", "price_minor": 5000}]
    }), 201).await;
    let shirt_id = shirt["id"].as_str().expect("id");
    admin
        .send(
            reqwest::Method::PUT,
            &format!("/admin/api/products/{shirt_id}/categories"),
            json!({"category_ids": [shirts["id"]]}),
            200,
        )
        .await;

    let total = |query: String| {
        let stack = &stack;
        let host = host.clone();
        async move {
            let r = stack
                .get(&host, &format!("/api/search?{query}"))
                .send()
                .await
                .expect("search");
            assert_eq!(r.status(), 200, "{query}");
            r.json::<Value>().await.expect("json")["total"]
                .as_i64()
                .expect("total")
        }
    };
    let id = |v: &Value| v["id"].as_str().expect("id").to_owned();
    assert_eq!(
        total(format!("category={}", id(&clothing))).await,
        1,
        "a parent category includes its children"
    );
    assert_eq!(total(format!("category={}", id(&sale))).await, 0);
    assert_eq!(
        total(format!("collection={}", id(&acme))).await,
        1,
        "the new product joined the rule collection"
    );

    // Move Shirts under Sale: the product follows at once.
    admin
        .send(
            reqwest::Method::PATCH,
            &format!("/admin/api/categories/{}", id(&shirts)),
            json!({"parent_id": sale["id"]}),
            200,
        )
        .await;
    assert_eq!(total(format!("category={}", id(&clothing))).await, 0);
    assert_eq!(total(format!("category={}", id(&sale))).await, 1);

    // A vendor change takes it out of the rule collection.
    admin
        .send(
            reqwest::Method::PATCH,
            &format!("/admin/api/products/{shirt_id}"),
            json!({"vendor": "Other"}),
            200,
        )
        .await;
    assert_eq!(total(format!("collection={}", id(&acme))).await, 0);
    let members: Value = stack
        .get(&host, "/api/collections/acme/products")
        .send()
        .await
        .expect("collection")
        .json()
        .await
        .expect("json");
    assert_eq!(members["items"].as_array().expect("items").len(), 0);
    stack.shutdown().await;
}
