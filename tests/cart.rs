//! End-to-end tests of the cart, through the router on the store's domain,
//! against the pod's real Postgres and Redis.

mod common;

use common::shop::Shop;
use common::{error_code, refusal, status_of, Stack};
use mercato_devstack::local::{Binaries, Durability, RedisServer};
use mercato_tenants::{CartId, Claims, CustomerId, Role};
use reqwest::Method;
use serde_json::{json, Value};
use sqlx::Connection as _;

const GUEST_TTL: i64 = 7 * 24 * 3600;
const CUSTOMER_TTL: i64 = 30 * 24 * 3600;

async fn shop(stack: &Stack, handle: &str) -> Shop {
    Shop::open(stack, handle).await
}

/// Creates an active product with one variant and `on_hand` units; its
/// (product id, variant id).
async fn product(
    stack: &Stack,
    shop: &Shop,
    sku: &str,
    price: i64,
    on_hand: i32,
) -> (String, String) {
    shop.product(stack, sku, price, on_hand).await
}

/// A new guest cart: (token, cart).
async fn new_cart(stack: &Stack, shop: &Shop) -> (String, Value) {
    let r = stack
        .post(&shop.host, "/api/cart")
        .send()
        .await
        .expect("create");
    assert_eq!(r.status(), 201);
    let cookie = r
        .headers()
        .get("set-cookie")
        .expect("cookie set")
        .to_str()
        .expect("ascii")
        .to_owned();
    let body: Value = r.json().await.expect("json");
    let token = body["token"].as_str().expect("token").to_owned();
    assert!(
        cookie.starts_with(&format!("mercato_cart={token};")),
        "{cookie}"
    );
    (token, body["cart"].clone())
}

fn customer_token(stack: &Stack, shop: &Shop, customer: CustomerId) -> String {
    stack
        .keys
        .issue(&Claims::new(
            customer.to_string(),
            Role::Customer,
            Some(shop.id),
            common::now(),
            3600,
        ))
        .expect("token")
}

/// Who a cart request is from.
#[derive(Clone, Copy)]
enum As<'a> {
    Guest(&'a str),
    Customer(&'a str),
}

fn req(stack: &Stack, method: Method, host: &str, path: &str, who: As) -> reqwest::RequestBuilder {
    let r = stack.at(method, host, path);
    match who {
        As::Guest(token) => r.header("x-cart-token", token),
        As::Customer(bearer) => r.bearer_auth(bearer),
    }
}

async fn ok(r: reqwest::RequestBuilder) -> Value {
    let r = r.send().await.expect("request");
    let status = r.status();
    let body: Value = r.json().await.expect("json");
    assert_eq!(status, 200, "{body}");
    body
}

async fn get_cart(stack: &Stack, shop: &Shop, who: As<'_>) -> Value {
    ok(req(stack, Method::GET, &shop.host, "/api/cart", who)).await
}

async fn add(stack: &Stack, shop: &Shop, who: As<'_>, variant: &str, quantity: i64) -> Value {
    ok(req(stack, Method::POST, &shop.host, "/api/cart/lines", who)
        .json(&json!({"variant_id": variant, "quantity": quantity})))
    .await
}

async fn set(stack: &Stack, shop: &Shop, who: As<'_>, variant: &str, quantity: i64) -> Value {
    ok(req(
        stack,
        Method::PATCH,
        &shop.host,
        &format!("/api/cart/lines/{variant}"),
        who,
    )
    .json(&json!({"quantity": quantity})))
    .await
}

/// (variant id, quantity) of each line, in order.
fn lines(cart: &Value) -> Vec<(String, i64)> {
    cart["lines"]
        .as_array()
        .expect("lines")
        .iter()
        .map(|l| {
            (
                l["variant_id"].as_str().expect("variant").to_owned(),
                l["quantity"].as_i64().expect("quantity"),
            )
        })
        .collect()
}

fn subtotal(cart: &Value) -> i64 {
    assert_eq!(cart["subtotal"]["currency"], "USD");
    cart["subtotal"]["minor"].as_i64().expect("subtotal")
}

fn cart_id(cart: &Value) -> CartId {
    cart["id"].as_str().expect("id").parse().expect("cart id")
}

async fn pod_db(stack: &Stack, shop: &Shop) -> sqlx::PgConnection {
    let url = stack.pod_for(&shop.store).await.database_url.clone();
    sqlx::PgConnection::connect(&url).await.expect("pod db")
}

/// (variant id, quantity) of a cart's lines as Postgres holds them.
async fn stored_lines(db: &mut sqlx::PgConnection, cart: CartId) -> Vec<(String, i64)> {
    let rows: Vec<(uuid::Uuid, i32)> = sqlx::query_as(
        "SELECT variant_id, quantity FROM cart_lines WHERE cart_id = $1 ORDER BY added_at, variant_id",
    )
    .bind(cart.as_uuid())
    .fetch_all(db)
    .await
    .expect("lines");
    rows.into_iter()
        .map(|(v, q)| (v.to_string(), i64::from(q)))
        .collect()
}

async fn redis_conn(stack: &Stack, shop: &Shop) -> redis::aio::MultiplexedConnection {
    let url = stack.pod_for(&shop.store).await.redis.url();
    redis::Client::open(url)
        .expect("redis url")
        .get_multiplexed_async_connection()
        .await
        .expect("redis")
}

async fn ttl(conn: &mut redis::aio::MultiplexedConnection, key: &str) -> i64 {
    redis::cmd("TTL")
        .arg(key)
        .query_async(conn)
        .await
        .expect("ttl")
}

#[tokio::test]
async fn guest_adds_updates_removes_and_clears_with_exact_quantities_and_subtotal() {
    let stack = Stack::start(1).await;
    let shop = shop(&stack, "alpha").await;
    let (_, a) = product(&stack, &shop, "TEE", 1500, 10).await;
    let (_, b) = product(&stack, &shop, "MUG", 2500, 10).await;
    let (token, cart) = new_cart(&stack, &shop).await;
    let guest = As::Guest(&token);
    assert_eq!(lines(&cart), vec![]);
    assert_eq!(subtotal(&cart), 0);

    let cart = add(&stack, &shop, guest, &a, 2).await;
    assert_eq!(lines(&cart), vec![(a.clone(), 2)]);
    assert_eq!(subtotal(&cart), 3000);
    // Adding the same variant adds to its line.
    let cart = add(&stack, &shop, guest, &a, 1).await;
    assert_eq!(lines(&cart), vec![(a.clone(), 3)]);
    let cart = add(&stack, &shop, guest, &b, 1).await;
    assert_eq!(lines(&cart), vec![(a.clone(), 3), (b.clone(), 1)]);
    assert_eq!(subtotal(&cart), 3 * 1500 + 2500);
    let line = &cart["lines"][0];
    assert_eq!(line["sku"], "TEE");
    assert_eq!(line["title"], "Product TEE");
    assert_eq!(
        line["unit_price"],
        json!({"minor": 1500, "currency": "USD"})
    );
    assert_eq!(
        line["current_price"],
        json!({"minor": 1500, "currency": "USD"})
    );
    assert_eq!(
        line["line_total"],
        json!({"minor": 4500, "currency": "USD"})
    );
    assert_eq!(line["issues"], json!([]));
    assert_eq!(cart["issues_count"], 0);
    assert_eq!(cart["item_count"], 4);

    let cart = set(&stack, &shop, guest, &b, 4).await;
    assert_eq!(lines(&cart), vec![(a.clone(), 3), (b.clone(), 4)]);
    assert_eq!(subtotal(&cart), 3 * 1500 + 4 * 2500);
    let mut db = pod_db(&stack, &shop).await;
    assert_eq!(
        stored_lines(&mut db, cart_id(&cart)).await,
        vec![(a.clone(), 3), (b.clone(), 4)]
    );

    // The cookie works as well as the header.
    let by_cookie = ok(stack
        .get(&shop.host, "/api/cart")
        .header("cookie", format!("theme=dark; mercato_cart={token}")))
    .await;
    assert_eq!(by_cookie, cart);

    let cart = ok(req(
        &stack,
        Method::DELETE,
        &shop.host,
        &format!("/api/cart/lines/{a}"),
        guest,
    ))
    .await;
    assert_eq!(lines(&cart), vec![(b.clone(), 4)]);
    assert_eq!(subtotal(&cart), 10_000);
    // Setting 0 removes the line.
    let cart = set(&stack, &shop, guest, &b, 0).await;
    assert_eq!(lines(&cart), vec![]);
    assert_eq!(subtotal(&cart), 0);

    add(&stack, &shop, guest, &a, 5).await;
    let cart = add(&stack, &shop, guest, &b, 1).await;
    assert_eq!(subtotal(&cart), 5 * 1500 + 2500);
    let cart = ok(req(
        &stack,
        Method::DELETE,
        &shop.host,
        "/api/cart/lines",
        guest,
    ))
    .await;
    assert_eq!(lines(&cart), vec![]);
    assert_eq!(subtotal(&cart), 0);
    assert_eq!(get_cart(&stack, &shop, guest).await, cart);
    assert_eq!(stored_lines(&mut db, cart_id(&cart)).await, vec![]);

    // Concurrent adds to one cart take turns: none is lost.
    let adds = (0..8).map(|_| add(&stack, &shop, guest, &a, 1));
    futures::future::join_all(adds).await;
    let cart = get_cart(&stack, &shop, guest).await;
    assert_eq!(lines(&cart), vec![(a.clone(), 8)]);
    assert_eq!(
        stored_lines(&mut db, cart_id(&cart)).await,
        vec![(a.clone(), 8)]
    );
    stack.shutdown().await;
}

#[tokio::test]
async fn bad_input_gets_a_clear_4xx_and_leaves_the_cart_unchanged() {
    let stack = Stack::start(1).await;
    let alpha = shop(&stack, "alpha").await;
    let beta = shop(&stack, "beta").await;
    let (_, a) = product(&stack, &alpha, "TEE", 1500, 10).await;
    let (_, other_store) = product(&stack, &beta, "TEE", 1500, 10).await;
    let r = stack
        .post(&alpha.host, "/admin/api/products")
        .bearer_auth(&alpha.staff)
        .json(&json!({"title": "Draft", "status": "draft",
            "variants": [{"sku": "DRAFT", "price_minor": 100}]}))
        .send()
        .await
        .expect("draft");
    assert_eq!(r.status(), 201);
    let draft = r.json::<Value>().await.expect("json")["variants"][0]["id"]
        .as_str()
        .expect("id")
        .to_owned();

    let (token, _) = new_cart(&stack, &alpha).await;
    let guest = As::Guest(&token);
    let before = add(&stack, &alpha, guest, &a, 2).await;
    let unknown = uuid::Uuid::now_v7().to_string();
    let well_formed_unknown = format!("ct_{}_{}", uuid::Uuid::now_v7().simple(), "ab".repeat(32));
    let wrong_secret = format!(
        "{}{}",
        &token[..token.len() - 1],
        if token.ends_with('0') { '1' } else { '0' }
    );
    let path_a = format!("/api/cart/lines/{a}");
    let path_draft = format!("/api/cart/lines/{draft}");

    let add_body = |v: &str, q: Value| json!({"variant_id": v, "quantity": q});
    let cases: Vec<(&str, reqwest::RequestBuilder, u16, &str)> = vec![
        (
            "unknown variant",
            req(&stack, Method::POST, &alpha.host, "/api/cart/lines", guest)
                .json(&add_body(&unknown, json!(1))),
            422,
            "unknown_variant",
        ),
        (
            "another store's variant",
            req(&stack, Method::POST, &alpha.host, "/api/cart/lines", guest)
                .json(&add_body(&other_store, json!(1))),
            422,
            "unknown_variant",
        ),
        (
            "draft product",
            req(&stack, Method::POST, &alpha.host, "/api/cart/lines", guest)
                .json(&add_body(&draft, json!(1))),
            422,
            "variant_unavailable",
        ),
        (
            "quantity 0",
            req(&stack, Method::POST, &alpha.host, "/api/cart/lines", guest)
                .json(&add_body(&a, json!(0))),
            400,
            "invalid_quantity",
        ),
        (
            "negative quantity",
            req(&stack, Method::POST, &alpha.host, "/api/cart/lines", guest)
                .json(&add_body(&a, json!(-1))),
            400,
            "invalid_quantity",
        ),
        (
            "unknown variant and a quantity over the limit",
            req(&stack, Method::POST, &alpha.host, "/api/cart/lines", guest)
                .json(&add_body(&unknown, json!(100))),
            422,
            "unknown_variant",
        ),
        (
            "new line over the limit",
            req(&stack, Method::POST, &alpha.host, "/api/cart/lines", guest)
                .json(&add_body(&a, json!(100))),
            422,
            "line_limit_exceeded",
        ),
        (
            "existing line pushed over the limit (2 + 98)",
            req(&stack, Method::POST, &alpha.host, "/api/cart/lines", guest)
                .json(&add_body(&a, json!(98))),
            422,
            "line_limit_exceeded",
        ),
        (
            "quantity not a number",
            req(&stack, Method::POST, &alpha.host, "/api/cart/lines", guest)
                .json(&add_body(&a, json!("two"))),
            400,
            "invalid_json",
        ),
        (
            "malformed variant id",
            req(&stack, Method::POST, &alpha.host, "/api/cart/lines", guest)
                .json(&add_body("not-a-uuid", json!(1))),
            400,
            "invalid_id",
        ),
        (
            "patch negative",
            req(&stack, Method::PATCH, &alpha.host, &path_a, guest).json(&json!({"quantity": -1})),
            400,
            "invalid_quantity",
        ),
        (
            "patch over the limit",
            req(&stack, Method::PATCH, &alpha.host, &path_a, guest).json(&json!({"quantity": 100})),
            422,
            "line_limit_exceeded",
        ),
        (
            "patch a line not in the cart",
            req(&stack, Method::PATCH, &alpha.host, &path_draft, guest)
                .json(&json!({"quantity": 1})),
            404,
            "not_found",
        ),
        (
            "delete a line not in the cart",
            req(&stack, Method::DELETE, &alpha.host, &path_draft, guest),
            404,
            "not_found",
        ),
        (
            "patch a malformed variant id",
            req(
                &stack,
                Method::PATCH,
                &alpha.host,
                "/api/cart/lines/nope",
                guest,
            )
            .json(&json!({"quantity": 1})),
            400,
            "invalid_id",
        ),
        (
            "malformed token",
            req(
                &stack,
                Method::POST,
                &alpha.host,
                "/api/cart/lines",
                As::Guest("garbage"),
            )
            .json(&add_body(&a, json!(1))),
            400,
            "invalid_cart_token",
        ),
        (
            "token with a wrong secret",
            req(
                &stack,
                Method::POST,
                &alpha.host,
                "/api/cart/lines",
                As::Guest(&wrong_secret),
            )
            .json(&add_body(&a, json!(1))),
            404,
            "not_found",
        ),
        (
            "no token",
            stack
                .post(&alpha.host, "/api/cart/lines")
                .json(&add_body(&a, json!(1))),
            400,
            "invalid_cart_token",
        ),
        (
            "clear with an unknown token",
            req(
                &stack,
                Method::DELETE,
                &alpha.host,
                "/api/cart/lines",
                As::Guest(&well_formed_unknown),
            ),
            404,
            "not_found",
        ),
        (
            "the cart token of store alpha on store beta",
            req(&stack, Method::DELETE, &beta.host, "/api/cart/lines", guest),
            404,
            "not_found",
        ),
        (
            "reading it on store beta",
            req(&stack, Method::GET, &beta.host, "/api/cart", guest),
            404,
            "not_found",
        ),
    ];
    let mut db = pod_db(&stack, &alpha).await;
    for (what, request, status, code) in cases {
        let r = request.send().await.expect("request");
        assert_eq!(error_code(r).await, (status, code.to_owned()), "{what}");
        assert_eq!(get_cart(&stack, &alpha, guest).await, before, "{what}");
        assert_eq!(
            stored_lines(&mut db, cart_id(&before)).await,
            vec![(a.clone(), 2)],
            "{what}"
        );
    }

    // The line-count limit (100 by default): a cart already holding 100
    // lines (written straight to Postgres) refuses a 101st.
    let (full_token, full) = new_cart(&stack, &alpha).await;
    sqlx::query(
        "INSERT INTO cart_lines (store_id, cart_id, variant_id, product_id, sku, title, quantity,
                unit_price_minor, currency)
         SELECT $1, $2, gen_random_uuid(), gen_random_uuid(), 'X' || n, 'Gone', 1, 100, 'USD'
         FROM generate_series(1, 100) n",
    )
    .bind(alpha.id.as_uuid())
    .bind(cart_id(&full).as_uuid())
    .execute(&mut db)
    .await
    .expect("fill the cart");
    let r = req(
        &stack,
        Method::POST,
        &alpha.host,
        "/api/cart/lines",
        As::Guest(&full_token),
    )
    .json(&add_body(&a, json!(1)));
    assert_eq!(refusal(r).await, (422, "line_limit_exceeded".to_owned()));
    assert_eq!(stored_lines(&mut db, cart_id(&full)).await.len(), 100);
    stack.shutdown().await;
}

#[tokio::test]
async fn carts_live_in_redis_with_the_configured_ttl_and_are_rebuilt_from_postgres() {
    let stack = Stack::start(1).await;
    let shop = shop(&stack, "alpha").await;
    let (_, a) = product(&stack, &shop, "TEE", 1500, 10).await;
    let (token, _) = new_cart(&stack, &shop).await;
    let guest_cart = add(&stack, &shop, As::Guest(&token), &a, 2).await;
    let customer = CustomerId::new();
    let bearer = customer_token(&stack, &shop, customer);
    let created = ok(stack.post(&shop.host, "/api/cart").bearer_auth(&bearer)).await;
    assert_eq!(created["token"], Value::Null);
    let customer_cart = add(&stack, &shop, As::Customer(&bearer), &a, 3).await;
    assert_eq!(cart_id(&created["cart"]), cart_id(&customer_cart));

    let guest_key = mercato_pod::keys::guest_cart(shop.id, cart_id(&guest_cart));
    let customer_key = mercato_pod::keys::customer_cart(shop.id, customer);
    let mut redis = redis_conn(&stack, &shop).await;
    let t = ttl(&mut redis, &guest_key).await;
    assert!(t <= GUEST_TTL && t > GUEST_TTL - 60, "guest ttl {t}");
    let t = ttl(&mut redis, &customer_key).await;
    assert!(
        t <= CUSTOMER_TTL && t > CUSTOMER_TTL - 60,
        "customer ttl {t}"
    );

    // Reads come from the copy in Redis: a change made behind the pod's back
    // in Postgres is not seen...
    let mut db = pod_db(&stack, &shop).await;
    let changed = sqlx::query("UPDATE cart_lines SET quantity = 7 WHERE cart_id = $1")
        .bind(cart_id(&guest_cart).as_uuid())
        .execute(&mut db)
        .await
        .expect("update");
    assert_eq!(changed.rows_affected(), 1);
    assert_eq!(get_cart(&stack, &shop, As::Guest(&token)).await, guest_cart);

    // ...until the copy is gone, and the cart is rebuilt from Postgres.
    let () = redis::cmd("FLUSHALL")
        .query_async(&mut redis)
        .await
        .expect("flushall");
    let rebuilt = get_cart(&stack, &shop, As::Guest(&token)).await;
    assert_eq!(lines(&rebuilt), vec![(a.clone(), 7)]);
    assert_eq!(subtotal(&rebuilt), 7 * 1500);
    assert_eq!(
        get_cart(&stack, &shop, As::Customer(&bearer)).await,
        customer_cart
    );
    let t = ttl(&mut redis, &guest_key).await;
    assert!(
        t <= GUEST_TTL && t > GUEST_TTL - 60,
        "rebuilt guest ttl {t}"
    );
    let t = ttl(&mut redis, &customer_key).await;
    assert!(
        t <= CUSTOMER_TTL && t > CUSTOMER_TTL - 60,
        "rebuilt customer ttl {t}"
    );
    // A copy older than the cart in Postgres (as a write that could not
    // reach Redis leaves behind) is never served.
    let old: Vec<(String, String)> = redis::cmd("HGETALL")
        .arg(&guest_key)
        .query_async(&mut redis)
        .await
        .expect("hgetall");
    assert!(old.len() >= 4, "{old:?}");
    let newer = set(&stack, &shop, As::Guest(&token), &a, 5).await;
    let mut restore = redis::cmd("HSET");
    restore.arg(&guest_key);
    for (field, value) in &old {
        restore.arg(field).arg(value);
    }
    let _: i64 = restore.query_async(&mut redis).await.expect("restore");
    let seen = get_cart(&stack, &shop, As::Guest(&token)).await;
    assert_eq!(lines(&seen), vec![(a.clone(), 5)]);
    assert_eq!(seen, newer);
    // Every key of the store's carts carries the store's prefix.
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("*cart*")
        .query_async(&mut redis)
        .await
        .expect("keys");
    let mut keys_sorted = keys.clone();
    keys_sorted.sort();
    let mut expected = vec![guest_key.clone(), customer_key.clone()];
    expected.sort();
    assert_eq!(keys_sorted, expected);
    stack.shutdown().await;
}

#[tokio::test]
async fn price_stock_and_availability_changes_are_reported_per_line() {
    let stack = Stack::start(1).await;
    let shop = shop(&stack, "alpha").await;
    let (product_id, a) = product(&stack, &shop, "TEE", 1000, 10).await;
    let (token, _) = new_cart(&stack, &shop).await;
    let guest = As::Guest(&token);
    add(&stack, &shop, guest, &a, 3).await;

    let r = stack
        .at(
            Method::PUT,
            &shop.host,
            &format!("/admin/api/variants/{a}/stock"),
        )
        .bearer_auth(&shop.staff)
        .json(&json!({"on_hand": 2}));
    assert_eq!(status_of(r).await, 200);
    let cart = get_cart(&stack, &shop, guest).await;
    assert_eq!(
        cart["lines"][0]["issues"],
        json!([{"kind": "insufficient_stock", "requested": 3, "available": 2}])
    );
    assert_eq!(cart["issues_count"], 1);

    // No variant update endpoint yet: the price changes in the database.
    let mut db = pod_db(&stack, &shop).await;
    let changed = sqlx::query("UPDATE variants SET price_minor = 1200 WHERE id = $1")
        .bind(uuid::Uuid::parse_str(&a).expect("uuid"))
        .execute(&mut db)
        .await
        .expect("price");
    assert_eq!(changed.rows_affected(), 1);
    let cart = get_cart(&stack, &shop, guest).await;
    let line = &cart["lines"][0];
    assert_eq!(
        line["issues"],
        json!([
            {"kind": "price_changed", "old": {"minor": 1000, "currency": "USD"},
             "new": {"minor": 1200, "currency": "USD"}},
            {"kind": "insufficient_stock", "requested": 3, "available": 2}
        ])
    );
    // The line keeps the price the shopper saw.
    assert_eq!(line["unit_price"]["minor"], 1000);
    assert_eq!(line["current_price"]["minor"], 1200);
    assert_eq!(subtotal(&cart), 3000);
    assert_eq!(cart["issues_count"], 1);

    let r = stack
        .at(
            Method::PATCH,
            &shop.host,
            &format!("/admin/api/products/{product_id}"),
        )
        .bearer_auth(&shop.staff)
        .json(&json!({"status": "draft"}));
    assert_eq!(status_of(r).await, 200);
    let cart = get_cart(&stack, &shop, guest).await;
    assert_eq!(cart["lines"][0]["issues"], json!([{"kind": "unavailable"}]));
    let before = cart;
    let r = req(&stack, Method::POST, &shop.host, "/api/cart/lines", guest)
        .json(&json!({"variant_id": a, "quantity": 1}));
    assert_eq!(refusal(r).await, (422, "variant_unavailable".to_owned()));
    let r = req(
        &stack,
        Method::PATCH,
        &shop.host,
        &format!("/api/cart/lines/{a}"),
        guest,
    )
    .json(&json!({"quantity": 4}));
    assert_eq!(refusal(r).await, (422, "variant_unavailable".to_owned()));
    assert_eq!(get_cart(&stack, &shop, guest).await, before);
    // Fewer units of an unavailable variant are fine.
    let cart = set(&stack, &shop, guest, &a, 1).await;
    assert_eq!(lines(&cart), vec![(a.clone(), 1)]);
    assert_eq!(subtotal(&cart), 1000);

    // A deleted variant leaves its line, unavailable, with what was seen.
    sqlx::query("DELETE FROM products WHERE id = $1")
        .bind(uuid::Uuid::parse_str(&product_id).expect("uuid"))
        .execute(&mut db)
        .await
        .expect("delete");
    let cart = get_cart(&stack, &shop, guest).await;
    let line = &cart["lines"][0];
    assert_eq!(line["issues"], json!([{"kind": "unavailable"}]));
    assert_eq!(line["sku"], "TEE");
    assert_eq!(line["current_price"], Value::Null);
    stack.shutdown().await;
}

#[tokio::test]
async fn a_guest_cart_merges_into_the_customer_cart_once() {
    let stack = Stack::start(1).await;
    let shop = shop(&stack, "alpha").await;
    let (_, a) = product(&stack, &shop, "TEE", 1000, 500).await;
    let (_, b) = product(&stack, &shop, "MUG", 2000, 500).await;
    let (_, c) = product(&stack, &shop, "CAP", 3000, 500).await;
    let customer = CustomerId::new();
    let bearer = customer_token(&stack, &shop, customer);
    let me = As::Customer(&bearer);
    add(&stack, &shop, me, &a, 90).await;
    add(&stack, &shop, me, &b, 1).await;
    let (token, _) = new_cart(&stack, &shop).await;
    let guest = As::Guest(&token);
    add(&stack, &shop, guest, &a, 20).await;
    add(&stack, &shop, guest, &b, 2).await;
    let guest_cart = add(&stack, &shop, guest, &c, 2).await;

    // A guest cannot merge: it takes a customer token.
    let r = stack
        .post(&shop.host, "/api/cart/merge")
        .header("x-cart-token", &token);
    assert_eq!(refusal(r).await, (401, "unauthorized".to_owned()));

    let merge = || {
        stack
            .post(&shop.host, "/api/cart/merge")
            .bearer_auth(&bearer)
            .header("x-cart-token", &token)
    };
    let merged = ok(merge()).await;
    // a: 90 + 20 capped at 99; b: 1 + 2; c appended.
    assert_eq!(
        lines(&merged),
        vec![(a.clone(), 99), (b.clone(), 3), (c.clone(), 2)]
    );
    assert_eq!(subtotal(&merged), 99 * 1000 + 3 * 2000 + 2 * 3000);
    assert_eq!(get_cart(&stack, &shop, me).await, merged);

    let r = req(&stack, Method::GET, &shop.host, "/api/cart", guest);
    assert_eq!(refusal(r).await, (404, "not_found".to_owned()));
    // A retried merge finds nothing and adds nothing.
    let r = merge().send().await.expect("again");
    assert_eq!(error_code(r).await, (404, "not_found".to_owned()));
    assert_eq!(get_cart(&stack, &shop, me).await, merged);

    let mut db = pod_db(&stack, &shop).await;
    let (status, into): (String, Option<uuid::Uuid>) =
        sqlx::query_as("SELECT status, merged_into FROM carts WHERE id = $1")
            .bind(cart_id(&guest_cart).as_uuid())
            .fetch_one(&mut db)
            .await
            .expect("guest row");
    assert_eq!(
        (status.as_str(), into),
        ("merged", Some(cart_id(&merged).as_uuid()))
    );
    assert_eq!(
        stored_lines(&mut db, cart_id(&merged)).await,
        vec![(a.clone(), 99), (b.clone(), 3), (c.clone(), 2)]
    );
    let mut redis = redis_conn(&stack, &shop).await;
    let exists: i64 = redis::cmd("EXISTS")
        .arg(mercato_pod::keys::guest_cart(shop.id, cart_id(&guest_cart)))
        .query_async(&mut redis)
        .await
        .expect("exists");
    assert_eq!(exists, 0);

    // A merge needs a well-formed guest token.
    let r = stack
        .post(&shop.host, "/api/cart/merge")
        .bearer_auth(&bearer)
        .header("x-cart-token", "ct_nope");
    assert_eq!(refusal(r).await, (400, "invalid_cart_token".to_owned()));
    let r = stack
        .post(&shop.host, "/api/cart/merge")
        .bearer_auth(&bearer);
    assert_eq!(refusal(r).await, (400, "invalid_cart_token".to_owned()));
    assert_eq!(get_cart(&stack, &shop, me).await, merged);
    stack.shutdown().await;
}

#[tokio::test]
async fn the_cart_works_from_postgres_while_redis_is_down() {
    let mut stack = Stack::start(1).await;
    let shop = shop(&stack, "alpha").await;
    let (_, a) = product(&stack, &shop, "TEE", 1500, 10).await;
    let (_, b) = product(&stack, &shop, "MUG", 2500, 10).await;
    let (token, _) = new_cart(&stack, &shop).await;
    let guest = As::Guest(&token);
    add(&stack, &shop, guest, &a, 2).await;
    let bearer = customer_token(&stack, &shop, CustomerId::new());
    let me = As::Customer(&bearer);
    add(&stack, &shop, me, &b, 1).await;

    let port = stack.pods[0].redis.port();
    let mut redis = redis_conn(&stack, &shop).await;
    let _ = redis::cmd("SHUTDOWN")
        .arg("NOSAVE")
        .query_async::<()>(&mut redis)
        .await;
    let before = mercato_pod::cart::redis_fallbacks();

    let cart = get_cart(&stack, &shop, guest).await;
    assert_eq!(lines(&cart), vec![(a.clone(), 2)]);
    let cart = add(&stack, &shop, guest, &b, 3).await;
    assert_eq!(lines(&cart), vec![(a.clone(), 2), (b.clone(), 3)]);
    assert_eq!(subtotal(&cart), 2 * 1500 + 3 * 2500);
    let cart = get_cart(&stack, &shop, guest).await;
    assert_eq!(lines(&cart), vec![(a.clone(), 2), (b.clone(), 3)]);
    let mine = add(&stack, &shop, me, &b, 1).await;
    assert_eq!(lines(&mine), vec![(b.clone(), 2)]);
    let (fresh, _) = new_cart(&stack, &shop).await;
    assert_eq!(
        lines(&get_cart(&stack, &shop, As::Guest(&fresh)).await),
        vec![]
    );
    assert!(mercato_pod::cart::redis_fallbacks() > before);

    // Redis comes back empty (nothing was saved); the carts are rebuilt
    // from Postgres. Same folder: same password, as a restarted server has.
    let bins = Binaries::locate().expect("binaries");
    let dir = stack.pods[0].redis.dir().to_owned();
    let restarted = RedisServer::start(&bins, &dir, port, Durability::Throwaway)
        .await
        .expect("redis restarts");
    let old = std::mem::replace(&mut stack.pods[0].redis, restarted);
    old.stop().await;
    let key = mercato_pod::keys::guest_cart(shop.id, cart_id(&cart));
    stack
        .eventually("the guest cart is copied to redis again", || async {
            let now = get_cart(&stack, &shop, guest).await;
            assert_eq!(lines(&now), vec![(a.clone(), 2), (b.clone(), 3)]);
            let mut redis = redis_conn(&stack, &shop).await;
            let exists: i64 = redis::cmd("EXISTS")
                .arg(&key)
                .query_async(&mut redis)
                .await
                .ok()?;
            (exists == 1).then_some(())
        })
        .await;
    assert_eq!(
        lines(&get_cart(&stack, &shop, me).await),
        vec![(b.clone(), 2)]
    );
    stack.shutdown().await;
}
