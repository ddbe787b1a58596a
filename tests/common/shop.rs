//! A store with products, carts and checkouts, for the buying tests.

#![allow(dead_code)]

use mercato_tenants::StoreId;
use reqwest::Method;
use serde_json::{json, Value};
use sqlx::Connection as _;

use super::{status_of, Stack, PLATFORM};

/// Test cards of the built-in test gateway (docs/payments.md).
pub const CARD_OK: &str = "tok_4242424242424242";
pub const CARD_DECLINED: &str = "tok_4000000000000002";
pub const CARD_NO_FUNDS: &str = "tok_4000000000009995";
pub const CARD_PROCESSING_ERROR: &str = "tok_4000000000000119";
pub const CARD_SLOW: &str = "tok_4000000000000077";
pub const CARD_LOST_RESPONSE: &str = "tok_4000000000000036";

/// A store with a staff token.
pub struct Shop {
    pub id: StoreId,
    pub host: String,
    pub staff: String,
    pub store: Value,
    /// The pod database, when the pod is not one of the stack's in-process
    /// pods (a pod process).
    pub database_url: Option<String>,
}

impl Shop {
    pub async fn open(stack: &Stack, handle: &str) -> Shop {
        let store = stack.create_store(handle).await;
        Shop {
            id: store["id"].as_str().expect("id").parse().expect("store id"),
            host: format!("{handle}.{PLATFORM}"),
            staff: stack.staff_token(&store),
            store,
            database_url: None,
        }
    }

    /// A store signed up for by its owner `email` with `password` (the
    /// shop's token is the owner's session), once the router routes it.
    pub async fn signed_up(
        stack: &Stack,
        handle: &str,
        name: &str,
        (email, password): (&str, &str),
    ) -> Shop {
        let r = stack
            .post(PLATFORM, "/v1/signup")
            .json(&json!({"email": email, "password": password,
                "store_name": name, "handle": handle}))
            .send()
            .await
            .expect("signup");
        assert_eq!(r.status(), 201, "signing up {handle}");
        let created: Value = r.json().await.expect("json");
        let shop = Shop {
            id: created["store"]["id"]
                .as_str()
                .expect("id")
                .parse()
                .expect("store id"),
            host: format!("{handle}.{PLATFORM}"),
            staff: created["token"].as_str().expect("token").to_owned(),
            store: created["store"].clone(),
            database_url: None,
        };
        stack
            .eventually("the router routes the new store", || async {
                let r = stack.get(&shop.host, "/api/products").send().await.ok()?;
                (r.status() == 200).then_some(())
            })
            .await;
        shop
    }

    /// The store's pod database.
    pub async fn db(&self, stack: &Stack) -> sqlx::PgConnection {
        let url = match &self.database_url {
            Some(url) => url.clone(),
            None => stack.pod_for(&self.store).await.database_url.clone(),
        };
        sqlx::PgConnection::connect(&url).await.expect("pod db")
    }

    /// An active product with one variant and `on_hand` units: (product id,
    /// variant id).
    pub async fn product(
        &self,
        stack: &Stack,
        sku: &str,
        price: i64,
        on_hand: i32,
    ) -> (String, String) {
        let p = stack
            .create_product(
                &self.host,
                &self.staff,
                &format!("Product {sku}"),
                sku,
                price,
            )
            .await;
        let variant = p["variants"][0]["id"].as_str().expect("variant").to_owned();
        let r = stack
            .at(
                Method::PUT,
                &self.host,
                &format!("/admin/api/variants/{variant}/stock"),
            )
            .bearer_auth(&self.staff)
            .json(&json!({"on_hand": on_hand}));
        assert_eq!(status_of(r).await, 200, "setting stock");
        (p["id"].as_str().expect("id").to_owned(), variant)
    }

    /// A guest cart holding `lines` (variant id, quantity); its token.
    pub async fn cart(&self, stack: &Stack, lines: &[(&str, i64)]) -> String {
        let r = stack
            .post(&self.host, "/api/cart")
            .send()
            .await
            .expect("create cart");
        assert_eq!(r.status(), 201);
        let body: Value = r.json().await.expect("json");
        let token = body["token"].as_str().expect("token").to_owned();
        for (variant, quantity) in lines {
            let r = stack
                .post(&self.host, "/api/cart/lines")
                .header("x-cart-token", &token)
                .json(&json!({"variant_id": variant, "quantity": quantity}));
            assert_eq!(status_of(r).await, 200, "adding to cart");
        }
        token
    }

    /// `n` guest carts of one unit of `variant` each; their tokens.
    pub async fn one_unit_carts(&self, stack: &Stack, variant: &str, n: usize) -> Vec<String> {
        let mut tokens = Vec::with_capacity(n);
        for _ in 0..n {
            tokens.push(self.cart(stack, &[(variant, 1)]).await);
        }
        tokens
    }

    /// A checkout request for the guest cart `token`.
    pub fn checkout(
        &self,
        stack: &Stack,
        token: &str,
        key: &str,
        card: &str,
    ) -> reqwest::RequestBuilder {
        self.checkout_with(stack, token, key, &checkout_body(card))
    }

    /// The guest checkout of cart `token` with key `key` and `body`.
    pub fn checkout_with(
        &self,
        stack: &Stack,
        token: &str,
        key: &str,
        body: &Value,
    ) -> reqwest::RequestBuilder {
        stack
            .post(&self.host, "/api/checkout")
            .header("x-cart-token", token)
            .header("idempotency-key", key)
            .json(body)
    }

    /// Counts rows of a query that returns one bigint.
    pub async fn count(&self, stack: &Stack, sql: &str) -> i64 {
        let mut db = self.db(stack).await;
        let (n,): (i64,) = sqlx::query_as(sql)
            .bind(self.id.as_uuid())
            .fetch_one(&mut db)
            .await
            .expect(sql);
        n
    }

    /// (on_hand, reserved) of a variant summed over locations.
    pub async fn stock(&self, stack: &Stack, variant: &str) -> (i64, i64) {
        let mut db = self.db(stack).await;
        let v: uuid::Uuid = variant.parse().expect("uuid");
        sqlx::query_as(
            "SELECT COALESCE(sum(on_hand), 0)::bigint, COALESCE(sum(reserved), 0)::bigint
             FROM stock_levels WHERE store_id = $1 AND variant_id = $2",
        )
        .bind(self.id.as_uuid())
        .bind(v)
        .fetch_one(&mut db)
        .await
        .expect("stock")
    }
}

impl Shop {
    /// The gateway's id of an order's payment.
    pub async fn payment_id(&self, stack: &Stack, order_id: &str) -> String {
        let mut db = self.db(stack).await;
        let id: uuid::Uuid = order_id.parse().expect("uuid");
        let (payment,): (String,) =
            sqlx::query_as("SELECT payment_id FROM orders WHERE store_id = $1 AND id = $2")
                .bind(self.id.as_uuid())
                .bind(id)
                .fetch_one(&mut db)
                .await
                .expect("payment id");
        payment
    }

    /// An order's payment at the gateway: (captured, refunded).
    pub async fn at_gateway(&self, stack: &Stack, order_id: &str) -> (i64, i64) {
        let payment = self.payment_id(stack, order_id).await;
        let p = stack.gateway_payment(&payment).await;
        (
            p["captured_amount"].as_i64().expect("captured"),
            p["refunded_amount"].as_i64().expect("refunded"),
        )
    }

    /// A staff member (not the owner) with a password: invited and
    /// accepted as the invitation mail asks.
    pub async fn staff_member(&self, stack: &Stack, email: &str, password: &str) {
        let r = stack
            .post(&self.host, "/admin/api/staff/invitations")
            .bearer_auth(&self.staff)
            .json(&json!({"email": email}));
        assert_eq!(status_of(r).await, 201);
        let token: String = {
            let mut db = self.db(stack).await;
            sqlx::query_scalar(
                "SELECT payload->>'token' FROM outbox WHERE store_id = $1 AND type = 'staff.invited'
                 ORDER BY id DESC LIMIT 1",
            )
            .bind(self.id.as_uuid())
            .fetch_one(&mut db)
            .await
            .expect("invitation")
        };
        let r = stack
            .post(&self.host, "/admin/api/staff/invitations/accept")
            .json(&json!({"token": token, "password": password}));
        assert_eq!(status_of(r).await, 201);
    }

    /// Delivers a paid order as staff would: every shipment that waits
    /// ships, then every shipment is marked delivered (the order follows:
    /// `fulfilled`, then `delivered`).
    pub async fn deliver(&self, stack: &Stack, order_id: &str) {
        let path = format!("/admin/api/orders/{order_id}/shipments");
        let r = stack
            .at(Method::GET, &self.host, &path)
            .bearer_auth(&self.staff)
            .send()
            .await
            .expect("shipments");
        assert_eq!(r.status(), 200, "listing shipments");
        let shipments: Vec<Value> = r.json().await.expect("json");
        for shipment in shipments.iter().filter(|s| s["status"] != "cancelled") {
            let id = shipment["id"].as_str().expect("shipment id");
            let mut steps = vec!["delivered"];
            if shipment["status"] != "shipped" && shipment["status"] != "in_transit" {
                steps.insert(0, "shipped");
            }
            for to in steps {
                let r = stack
                    .post(&self.host, &format!("{path}/{id}/status"))
                    .bearer_auth(&self.staff)
                    .json(&json!({"status": to}));
                assert_eq!(status_of(r).await, 200, "shipment {id} to {to}");
            }
        }
    }
}

pub fn checkout_body(card: &str) -> Value {
    json!({
        "email": "shopper@example.com",
        "shipping_address": {
            "name": "Ada Shopper", "line1": "1 Main St", "city": "Springfield",
            "region": "IL", "postal_code": "62701", "country": "US"
        },
        "shipping_option": "standard",
        "payment_token": card,
    })
}
