//! End-to-end tests of collections (manual and rule-based) and the category
//! tree, through the router against real Postgres and Redis.

mod common;

use std::collections::HashSet;

use common::{error_code, Stack, PLATFORM};
use reqwest::Method;
use serde_json::{json, Value};
use sqlx::PgPool;
use uuid::Uuid;

/// A store under test: its domain, a staff token and its pod's database.
struct Shop {
    host: String,
    token: String,
    db: PgPool,
}

async fn shop(stack: &Stack, handle: &str) -> Shop {
    let store = stack.create_store(handle).await;
    let db = PgPool::connect(&stack.pod_for(&store).await.database_url)
        .await
        .expect("connect to the pod database");
    Shop {
        host: format!("{handle}.{PLATFORM}"),
        token: stack.staff_token(&store),
        db,
    }
}

/// A staff request.
fn admin(stack: &Stack, shop: &Shop, method: Method, path: &str) -> reqwest::RequestBuilder {
    stack.at(method, &shop.host, path).bearer_auth(&shop.token)
}

/// Sends, asserts the status, returns the JSON body (`Null` if none).
async fn expect(req: reqwest::RequestBuilder, status: u16) -> Value {
    let r = req.send().await.expect("request");
    let got = r.status().as_u16();
    let text = r.text().await.expect("body");
    assert_eq!(got, status, "unexpected status; body: {text}");
    if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).expect("json body")
    }
}

/// Sends, asserts the status and error code.
async fn expect_error(req: reqwest::RequestBuilder, status: u16, code: &str) {
    let (got_status, got_code) = error_code(req.send().await.expect("request")).await;
    assert_eq!((got_status, got_code.as_str()), (status, code));
}

/// Creates a product with one variant per price; returns its id.
async fn product(stack: &Stack, shop: &Shop, title: &str, prices: &[i64], status: &str) -> String {
    let variants: Vec<Value> = prices
        .iter()
        .map(|p| json!({"sku": format!("SKU-{}", Uuid::new_v4().simple()), "price_minor": p}))
        .collect();
    let p = expect(
        admin(stack, shop, Method::POST, "/admin/api/products")
            .json(&json!({"title": title, "status": status, "variants": variants})),
        201,
    )
    .await;
    p["id"].as_str().expect("product id").to_owned()
}

async fn set_vendor(shop: &Shop, product: &str, vendor: &str) {
    sqlx::query("UPDATE products SET vendor = $2 WHERE id = $1")
        .bind(Uuid::parse_str(product).expect("uuid"))
        .bind(vendor)
        .execute(&shop.db)
        .await
        .expect("set vendor");
}

/// A catalog write on the product (its stock), which runs
/// `catalog::after_change` for it.
async fn touch(stack: &Stack, shop: &Shop, product: &str) {
    let p = expect(
        admin(
            stack,
            shop,
            Method::GET,
            &format!("/admin/api/products/{product}"),
        ),
        200,
    )
    .await;
    let variant = p["variants"][0]["id"].as_str().expect("variant id");
    expect(
        admin(
            stack,
            shop,
            Method::PUT,
            &format!("/admin/api/variants/{variant}/stock"),
        )
        .json(&json!({"on_hand": 7})),
        200,
    )
    .await;
}

async fn create_collection(stack: &Stack, shop: &Shop, body: Value) -> String {
    let c = expect(
        admin(stack, shop, Method::POST, "/admin/api/collections").json(&body),
        201,
    )
    .await;
    c["id"].as_str().expect("collection id").to_owned()
}

fn ids(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|p| p["id"].as_str().expect("id").to_owned())
        .collect()
}

/// Follows `next_cursor` from the first page of `path` (which already has
/// a query string) to the last; returns every id in order and the number
/// of pages.
async fn walk(stack: &Stack, host: &str, path: &str) -> (Vec<String>, usize) {
    let mut all = Vec::new();
    let mut pages = 0;
    let mut after: Option<String> = None;
    loop {
        let url = match &after {
            Some(c) => format!("{path}&after={c}"),
            None => path.to_owned(),
        };
        let page = expect(stack.get(host, &url), 200).await;
        pages += 1;
        all.extend(ids(&page));
        match page["next_cursor"].as_str() {
            Some(c) => after = Some(c.to_owned()),
            None => return (all, pages),
        }
        assert!(pages <= 50, "pagination does not end");
    }
}

/// The shopper's view of a collection's products, one big page.
async fn members(stack: &Stack, shop: &Shop, handle: &str) -> Vec<String> {
    ids(&expect(
        stack.get(
            &shop.host,
            &format!("/api/collections/{handle}/products?limit=100"),
        ),
        200,
    )
    .await)
}

/// Owned copies, to compare with lists of ids.
fn v(ids: &[&String]) -> Vec<String> {
    ids.iter().map(|id| (*id).clone()).collect()
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manual_collection_keeps_the_order_staff_give_it() {
    let stack = Stack::start(1).await;
    let s = shop(&stack, "manual").await;
    let a = product(&stack, &s, "A", &[100], "active").await;
    let b = product(&stack, &s, "B", &[200], "active").await;
    let c = product(&stack, &s, "C", &[300], "active").await;
    let draft = product(&stack, &s, "Draft", &[400], "draft").await;
    let id = create_collection(
        &stack,
        &s,
        json!({"handle": "picks", "title": "Staff picks", "kind": "manual"}),
    )
    .await;
    let products = format!("/admin/api/collections/{id}/products");

    let added = expect(
        admin(&stack, &s, Method::POST, &products).json(&json!({"product_ids": [b, a]})),
        200,
    )
    .await;
    assert_eq!(added, json!({"added": [b, a]}));
    // Already-in products and repeats are skipped; new ones go to the end.
    let added = expect(
        admin(&stack, &s, Method::POST, &products).json(&json!({"product_ids": [a, c, draft, c]})),
        200,
    )
    .await;
    assert_eq!(added, json!({"added": [c, draft]}));
    assert_eq!(members(&stack, &s, "picks").await, v(&[&b, &a, &c]));
    // Staff see the draft too, in place.
    let staff_view = expect(
        admin(&stack, &s, Method::GET, &format!("{products}?limit=100")),
        200,
    )
    .await;
    assert_eq!(ids(&staff_view), v(&[&b, &a, &c, &draft]));

    let order = format!("{products}/order");
    expect(
        admin(&stack, &s, Method::PUT, &order).json(&json!({"product_ids": [c, draft, b, a]})),
        200,
    )
    .await;
    assert_eq!(members(&stack, &s, "picks").await, v(&[&c, &b, &a]));
    // An order must be exactly the members.
    for bad in [
        json!([c, b, a]),
        json!([c, draft, b, a, a]),
        json!([c, draft, b, a, Uuid::now_v7()]),
    ] {
        expect_error(
            admin(&stack, &s, Method::PUT, &order).json(&json!({"product_ids": bad})),
            422,
            "unprocessable",
        )
        .await;
    }

    expect(
        admin(&stack, &s, Method::DELETE, &format!("{products}/{b}")),
        204,
    )
    .await;
    assert_eq!(members(&stack, &s, "picks").await, v(&[&c, &a]));
    expect_error(
        admin(&stack, &s, Method::DELETE, &format!("{products}/{b}")),
        404,
        "not_found",
    )
    .await;
    // A re-added product goes to the end.
    expect(
        admin(&stack, &s, Method::POST, &products).json(&json!({"product_ids": [b]})),
        200,
    )
    .await;
    assert_eq!(members(&stack, &s, "picks").await, v(&[&c, &a, &b]));

    // A product can be in many collections.
    let other = create_collection(
        &stack,
        &s,
        json!({"handle": "gifts", "title": "Gifts", "kind": "manual", "sort_order": "title"}),
    )
    .await;
    expect(
        admin(
            &stack,
            &s,
            Method::POST,
            &format!("/admin/api/collections/{other}/products"),
        )
        .json(&json!({"product_ids": [c, a]})),
        200,
    )
    .await;
    assert_eq!(members(&stack, &s, "gifts").await, v(&[&a, &c]));
    assert_eq!(members(&stack, &s, "picks").await, v(&[&c, &a, &b]));

    // Unknown product ids are named in a 422 and nothing is added.
    let unknown = Uuid::now_v7().to_string();
    let r = admin(&stack, &s, Method::POST, &products)
        .json(&json!({"product_ids": [a, unknown]}))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), 422);
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["error"]["code"], "unprocessable");
    assert!(body["error"]["message"]
        .as_str()
        .expect("message")
        .contains(&unknown));
    let (rows,): (i64,) =
        sqlx::query_as("SELECT count(*) FROM collection_products WHERE collection_id = $1")
            .bind(Uuid::parse_str(&id).expect("uuid"))
            .fetch_one(&s.db)
            .await
            .expect("count");
    assert_eq!(rows, 4);

    // Deleting a collection leaves its products alone.
    expect(
        admin(
            &stack,
            &s,
            Method::DELETE,
            &format!("/admin/api/collections/{id}"),
        ),
        204,
    )
    .await;
    expect_error(
        stack.get(&s.host, "/api/collections/picks"),
        404,
        "not_found",
    )
    .await;
    expect(stack.get(&s.host, &format!("/api/products/{a}")), 200).await;
    assert_eq!(members(&stack, &s, "gifts").await, v(&[&a, &c]));
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rule_collection_membership_follows_products_and_rules() {
    let stack = Stack::start(1).await;
    let s = shop(&stack, "rules").await;
    let cheap_acme = product(&stack, &s, "Cheap Acme", &[1500, 500], "active").await;
    let dear_acme = product(&stack, &s, "Dear Acme", &[1500], "active").await;
    let cheap_other = product(&stack, &s, "Cheap Other", &[100], "active").await;
    let draft_acme = product(&stack, &s, "Draft Acme", &[10], "draft").await;
    for p in [&cheap_acme, &dear_acme, &draft_acme] {
        set_vendor(&s, p, "Acme").await;
    }
    set_vendor(&s, &cheap_other, "Other").await;

    // Vendor equals (case-insensitive) AND lowest price below 1000.
    let rules = json!({"match": "all", "conditions": [
        {"field": "vendor", "op": "equals", "value": "ACME"},
        {"field": "price", "op": "less_than", "value": 1000}]});
    let id = create_collection(
        &stack,
        &s,
        json!({"handle": "acme-deals", "title": "Acme deals", "kind": "rule", "rules": rules,
               "sort_order": "title"}),
    )
    .await;
    assert_eq!(members(&stack, &s, "acme-deals").await, v(&[&cheap_acme]));
    let collection = expect(
        admin(
            &stack,
            &s,
            Method::GET,
            &format!("/admin/api/collections/{id}"),
        ),
        200,
    )
    .await;
    assert_eq!(collection["rules"], rules);
    assert_eq!(collection["kind"], "rule");
    // The draft is a member, but only staff see it.
    let staff_view = expect(
        admin(
            &stack,
            &s,
            Method::GET,
            &format!("/admin/api/collections/{id}/products"),
        ),
        200,
    )
    .await;
    assert_eq!(ids(&staff_view), v(&[&cheap_acme, &draft_acme]));

    // A product edit that makes one match, and one that makes another not.
    set_vendor(&s, &cheap_other, "acme").await;
    touch(&stack, &s, &cheap_other).await;
    assert_eq!(
        members(&stack, &s, "acme-deals").await,
        v(&[&cheap_acme, &cheap_other])
    );
    set_vendor(&s, &cheap_acme, "Acme Industries").await;
    touch(&stack, &s, &cheap_acme).await;
    assert_eq!(members(&stack, &s, "acme-deals").await, v(&[&cheap_other]));

    // A new matching product joins as soon as a catalog write commits it.
    let fresh = product(&stack, &s, "Fresh Acme", &[999], "active").await;
    set_vendor(&s, &fresh, "Acme").await;
    touch(&stack, &s, &fresh).await;
    assert_eq!(
        members(&stack, &s, "acme-deals").await,
        v(&[&cheap_other, &fresh])
    );

    // New rules re-materialize the whole membership.
    let any = json!({"match": "any", "conditions": [
        {"field": "vendor", "op": "starts_with", "value": "acme ind"},
        {"field": "price", "op": "greater_than", "value": 1000}]});
    let updated = expect(
        admin(
            &stack,
            &s,
            Method::PATCH,
            &format!("/admin/api/collections/{id}"),
        )
        .json(&json!({"rules": any})),
        200,
    )
    .await;
    assert_eq!(updated["rules"], any);
    assert_eq!(
        members(&stack, &s, "acme-deals").await,
        v(&[&cheap_acme, &dear_acme])
    );
    let (rows,): (i64,) =
        sqlx::query_as("SELECT count(*) FROM collection_products WHERE collection_id = $1")
            .bind(Uuid::parse_str(&id).expect("uuid"))
            .fetch_one(&s.db)
            .await
            .expect("count");
    assert_eq!(rows, 2);

    // Staff cannot place products in a rule collection by hand.
    let products = format!("/admin/api/collections/{id}/products");
    expect_error(
        admin(&stack, &s, Method::POST, &products).json(&json!({"product_ids": [fresh]})),
        422,
        "unprocessable",
    )
    .await;
    expect_error(
        admin(
            &stack,
            &s,
            Method::DELETE,
            &format!("{products}/{dear_acme}"),
        ),
        422,
        "unprocessable",
    )
    .await;
    expect_error(
        admin(&stack, &s, Method::PUT, &format!("{products}/order"))
            .json(&json!({"product_ids": [dear_acme, cheap_acme]})),
        422,
        "unprocessable",
    )
    .await;
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_sort_order_gives_the_exact_sequence_and_pages_visit_each_product_once() {
    let stack = Stack::start(1).await;
    let s = shop(&stack, "sorts").await;
    // title, prices (lowest counts), units sold (None: no row), creation second.
    let specs: [(&str, &[i64], Option<i64>, i64); 5] = [
        ("banana", &[500], Some(3), 2),
        ("Apple", &[300], None, 1),
        ("cherry", &[700, 500], Some(10), 4),
        ("apple", &[900, 1200], Some(3), 4),
        ("date", &[100], Some(0), 0),
    ];
    let mut p = Vec::new();
    for (title, prices, sold, second) in specs {
        let id = product(&stack, &s, title, prices, "active").await;
        let uuid = Uuid::parse_str(&id).expect("uuid");
        sqlx::query(
            "UPDATE products SET created_at = timestamptz '2026-01-01 00:00:00+00' + $2 * interval '1 second'
             WHERE id = $1",
        )
        .bind(uuid)
        .bind(second as f64)
        .execute(&s.db)
        .await
        .expect("set created_at");
        if let Some(units) = sold {
            sqlx::query(
                "INSERT INTO product_sales (store_id, product_id, units_sold)
                 SELECT store_id, id, $2 FROM products WHERE id = $1",
            )
            .bind(uuid)
            .bind(units)
            .execute(&s.db)
            .await
            .expect("set sales");
        }
        p.push(id);
    }
    let draft = product(&stack, &s, "aaa draft", &[1], "draft").await;
    let id = create_collection(
        &stack,
        &s,
        json!({"handle": "all", "title": "All", "kind": "manual"}),
    )
    .await;
    expect(
        admin(
            &stack,
            &s,
            Method::POST,
            &format!("/admin/api/collections/{id}/products"),
        )
        .json(&json!({"product_ids": [p[3], p[0], draft, p[4], p[1], p[2]]})),
        200,
    )
    .await;

    // Ties are broken by product id: ascending, except for newest.
    let asc = |a: &String, b: &String| sorted(vec![a.clone(), b.clone()]);
    let desc = |a: &String, b: &String| {
        let mut v = asc(a, b);
        v.reverse();
        v
    };
    let cat = |parts: Vec<Vec<String>>| parts.concat();
    let one = |x: &String| vec![x.clone()];
    let expected: Vec<(&str, Vec<String>)> = vec![
        (
            "manual",
            cat(vec![
                one(&p[3]),
                one(&p[0]),
                one(&p[4]),
                one(&p[1]),
                one(&p[2]),
            ]),
        ),
        (
            "title",
            cat(vec![asc(&p[1], &p[3]), one(&p[0]), one(&p[2]), one(&p[4])]),
        ),
        (
            "price_asc",
            cat(vec![one(&p[4]), one(&p[1]), asc(&p[0], &p[2]), one(&p[3])]),
        ),
        (
            "price_desc",
            cat(vec![one(&p[3]), asc(&p[0], &p[2]), one(&p[1]), one(&p[4])]),
        ),
        (
            "newest",
            cat(vec![desc(&p[2], &p[3]), one(&p[0]), one(&p[1]), one(&p[4])]),
        ),
        (
            "best_selling",
            cat(vec![one(&p[2]), asc(&p[0], &p[3]), asc(&p[1], &p[4])]),
        ),
    ];
    for (sort, want) in &expected {
        for limit in [1usize, 2, 3, 100] {
            let (got, pages) = walk(
                &stack,
                &s.host,
                &format!("/api/collections/all/products?sort={sort}&limit={limit}"),
            )
            .await;
            assert_eq!(&got, want, "sort {sort}, limit {limit}");
            assert_eq!(
                pages,
                want.len().div_ceil(limit),
                "sort {sort}, limit {limit}"
            );
            assert_eq!(got.iter().collect::<HashSet<_>>().len(), 5);
        }
    }
    // Without `sort`, the collection's own order.
    let (got, _) = walk(&stack, &s.host, "/api/collections/all/products?limit=2").await;
    assert_eq!(got, expected[0].1);
    expect(
        admin(
            &stack,
            &s,
            Method::PATCH,
            &format!("/admin/api/collections/{id}"),
        )
        .json(&json!({"sort_order": "best_selling"})),
        200,
    )
    .await;
    let (got, _) = walk(&stack, &s.host, "/api/collections/all/products?limit=2").await;
    assert_eq!(got, expected[5].1);

    // Bad cursors, limits and sorts are 400s.
    let first = expect(
        stack.get(&s.host, "/api/collections/all/products?sort=title&limit=1"),
        200,
    )
    .await;
    let title_cursor = first["next_cursor"].as_str().expect("cursor");
    for bad in [
        format!("/api/collections/all/products?sort=price_asc&after={title_cursor}"),
        "/api/collections/all/products?after=zz".to_owned(),
        "/api/collections/all/products?after=6869".to_owned(),
        "/api/collections/all/products?limit=0".to_owned(),
        "/api/collections/all/products?limit=101".to_owned(),
        "/api/collections/all/products?sort=cheapest".to_owned(),
        "/api/collections?after=NOT-A-HANDLE".to_owned(),
    ] {
        expect_error(stack.get(&s.host, &bad), 400, "invalid_request").await;
    }
    expect_error(
        stack.get(&s.host, "/api/collections/nope/products"),
        404,
        "not_found",
    )
    .await;
    stack.shutdown().await;
}

async fn create_category(stack: &Stack, shop: &Shop, body: Value) -> String {
    let c = expect(
        admin(stack, shop, Method::POST, "/admin/api/categories").json(&body),
        201,
    )
    .await;
    c["id"].as_str().expect("category id").to_owned()
}

/// The tree as `handle[child,child]` text, in order.
fn shape(nodes: &Value) -> String {
    nodes
        .as_array()
        .expect("nodes")
        .iter()
        .map(|n| {
            let children = shape(&n["children"]);
            let handle = n["handle"].as_str().expect("handle");
            if children.is_empty() {
                handle.to_owned()
            } else {
                format!("{handle}[{children}]")
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn categories_form_a_tree_without_cycles_and_list_products_below_them() {
    let stack = Stack::start(1).await;
    let s = shop(&stack, "cats").await;
    let clothing = create_category(
        &stack,
        &s,
        json!({"handle": "clothing", "name": "Clothing", "position": 1}),
    )
    .await;
    let accessories = create_category(
        &stack,
        &s,
        json!({"handle": "accessories", "name": "Accessories", "position": 1}),
    )
    .await;
    let shirts = create_category(
        &stack,
        &s,
        json!({"handle": "shirts", "name": "Shirts", "parent_id": clothing}),
    )
    .await;
    let tees = create_category(
        &stack,
        &s,
        json!({"handle": "tees", "name": "Tees", "parent_id": shirts}),
    )
    .await;
    create_category(
        &stack,
        &s,
        json!({"handle": "hats", "name": "Hats", "parent_id": clothing, "position": 0}),
    )
    .await;
    let tree = expect(stack.get(&s.host, "/api/categories"), 200).await;
    // Same position: by name.
    assert_eq!(
        shape(&tree["categories"]),
        "accessories,clothing[hats,shirts[tees]]"
    );

    // Under itself or a descendant: refused, nothing moves.
    for target in [&clothing, &shirts, &tees] {
        expect_error(
            admin(
                &stack,
                &s,
                Method::PATCH,
                &format!("/admin/api/categories/{clothing}"),
            )
            .json(&json!({"parent_id": target})),
            422,
            "unprocessable",
        )
        .await;
    }
    expect_error(
        admin(
            &stack,
            &s,
            Method::PATCH,
            &format!("/admin/api/categories/{shirts}"),
        )
        .json(&json!({"parent_id": Uuid::now_v7()})),
        422,
        "unprocessable",
    )
    .await;
    // A real move, a rename, and back to the root.
    let moved = expect(
        admin(
            &stack,
            &s,
            Method::PATCH,
            &format!("/admin/api/categories/{shirts}"),
        )
        .json(&json!({"parent_id": accessories, "name": "Shirts & tops"})),
        200,
    )
    .await;
    assert_eq!(moved["parent_id"], json!(accessories));
    assert_eq!(moved["name"], "Shirts & tops");
    let tree = expect(stack.get(&s.host, "/api/categories"), 200).await;
    assert_eq!(
        shape(&tree["categories"]),
        "accessories[shirts[tees]],clothing[hats]"
    );
    expect(
        admin(
            &stack,
            &s,
            Method::PATCH,
            &format!("/admin/api/categories/{accessories}"),
        )
        .json(&json!({"position": 5})),
        200,
    )
    .await;
    expect(
        admin(
            &stack,
            &s,
            Method::PATCH,
            &format!("/admin/api/categories/{shirts}"),
        )
        .json(&json!({"parent_id": clothing})),
        200,
    )
    .await;
    let tree = expect(admin(&stack, &s, Method::GET, "/admin/api/categories"), 200).await;
    assert_eq!(
        shape(&tree["categories"]),
        "clothing[hats,shirts[tees]],accessories"
    );

    // Products, filed by staff; a category lists its descendants' too.
    let tee = product(&stack, &s, "Tee", &[100], "active").await;
    let shirt = product(&stack, &s, "Shirt", &[200], "active").await;
    let belt = product(&stack, &s, "Belt", &[300], "active").await;
    let draft_tee = product(&stack, &s, "Draft tee", &[400], "draft").await;
    let file = |product: String, categories: Value| {
        admin(
            &stack,
            &s,
            Method::PUT,
            &format!("/admin/api/products/{product}/categories"),
        )
        .json(&json!({"category_ids": categories}))
    };
    let filed = expect(file(tee.clone(), json!([tees, tees])), 200).await;
    assert_eq!(filed["categories"][0]["handle"], "tees");
    assert_eq!(filed["categories"].as_array().map(Vec::len), Some(1));
    expect(file(shirt.clone(), json!([shirts, clothing])), 200).await;
    expect(file(belt.clone(), json!([accessories])), 200).await;
    expect(file(draft_tee.clone(), json!([tees])), 200).await;
    expect_error(
        file(tee.clone(), json!([tees, Uuid::now_v7()])),
        422,
        "unprocessable",
    )
    .await;
    expect_error(
        file(Uuid::now_v7().to_string(), json!([tees])),
        404,
        "not_found",
    )
    .await;

    let listed = |handle: &str| {
        let path = format!("/api/categories/{handle}/products?limit=1");
        let stack = &stack;
        let host = s.host.clone();
        async move { walk(stack, &host, &path).await.0 }
    };
    // Newest first: shirt was created after tee.
    assert_eq!(listed("clothing").await, v(&[&shirt, &tee]));
    assert_eq!(listed("shirts").await, v(&[&shirt, &tee]));
    assert_eq!(listed("tees").await, v(&[&tee]));
    assert_eq!(listed("accessories").await, v(&[&belt]));
    assert_eq!(listed("hats").await, Vec::<String>::new());

    // Only an empty leaf can go.
    let delete = |id: &str| {
        admin(
            &stack,
            &s,
            Method::DELETE,
            &format!("/admin/api/categories/{id}"),
        )
    };
    expect_error(delete(&clothing), 409, "conflict").await;
    expect_error(delete(&tees), 409, "conflict").await;
    expect(file(tee.clone(), json!([])), 200).await;
    expect(file(draft_tee.clone(), json!([shirts])), 200).await;
    expect(delete(&tees), 204).await;
    expect_error(delete(&tees), 404, "not_found").await;
    let tree = expect(stack.get(&s.host, "/api/categories"), 200).await;
    assert_eq!(
        shape(&tree["categories"]),
        "clothing[hats,shirts],accessories"
    );
    assert_eq!(listed("clothing").await, v(&[&shirt]));

    // Handles: unique and well-formed.
    expect_error(
        admin(&stack, &s, Method::POST, "/admin/api/categories")
            .json(&json!({"handle": "hats", "name": "Hats again"})),
        409,
        "handle_taken",
    )
    .await;
    expect_error(
        admin(&stack, &s, Method::POST, "/admin/api/categories")
            .json(&json!({"handle": "Big Hats", "name": "Hats"})),
        400,
        "invalid_handle",
    )
    .await;
    expect_error(
        stack.get(&s.host, "/api/categories/clothing/products?after=xyz"),
        400,
        "invalid_request",
    )
    .await;
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stores_are_independent_and_bad_input_gets_clear_4xx() {
    let stack = Stack::start(1).await;
    let a = shop(&stack, "shop-a").await;
    let b = shop(&stack, "shop-b").await;
    let a_product = product(&stack, &a, "A thing", &[100], "active").await;
    let b_product = product(&stack, &b, "B thing", &[100], "active").await;
    let a_sale = create_collection(
        &stack,
        &a,
        json!({"handle": "sale", "title": "A sale", "kind": "manual"}),
    )
    .await;
    let b_sale = create_collection(
        &stack,
        &b,
        json!({"handle": "sale", "title": "B sale", "kind": "manual"}),
    )
    .await;
    expect(
        admin(
            &stack,
            &a,
            Method::POST,
            &format!("/admin/api/collections/{a_sale}/products"),
        )
        .json(&json!({"product_ids": [a_product]})),
        200,
    )
    .await;
    expect(
        admin(
            &stack,
            &b,
            Method::POST,
            &format!("/admin/api/collections/{b_sale}/products"),
        )
        .json(&json!({"product_ids": [b_product]})),
        200,
    )
    .await;
    // Each domain serves its own.
    let got = expect(stack.get(&a.host, "/api/collections/sale"), 200).await;
    assert_eq!(got["title"], "A sale");
    assert_eq!(members(&stack, &a, "sale").await, v(&[&a_product]));
    assert_eq!(members(&stack, &b, "sale").await, v(&[&b_product]));
    let listed = expect(stack.get(&b.host, "/api/collections"), 200).await;
    assert_eq!(listed["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(listed["items"][0]["id"], json!(b_sale));
    // Another store's product or collection does not exist here.
    expect_error(
        admin(
            &stack,
            &a,
            Method::POST,
            &format!("/admin/api/collections/{a_sale}/products"),
        )
        .json(&json!({"product_ids": [b_product]})),
        422,
        "unprocessable",
    )
    .await;
    expect_error(
        admin(
            &stack,
            &a,
            Method::GET,
            &format!("/admin/api/collections/{b_sale}"),
        ),
        404,
        "not_found",
    )
    .await;
    // Another store's staff token is refused.
    expect_error(
        stack
            .at(Method::GET, &a.host, "/admin/api/collections")
            .bearer_auth(&b.token),
        403,
        "forbidden",
    )
    .await;
    expect_error(
        stack.get(&a.host, "/admin/api/collections"),
        401,
        "unauthorized",
    )
    .await;

    // Bad input.
    let post = |body: Value| admin(&stack, &a, Method::POST, "/admin/api/collections").json(&body);
    let rule = |cond: Value| {
        json!({"handle": "r", "title": "R", "kind": "rule",
               "rules": {"match": "all", "conditions": [cond]}})
    };
    expect_error(
        post(json!({"handle": "sale", "title": "Again", "kind": "manual"})),
        409,
        "handle_taken",
    )
    .await;
    for handle in ["Sale", "big sale", "-sale", ""] {
        expect_error(
            post(json!({"handle": handle, "title": "T", "kind": "manual"})),
            400,
            "invalid_handle",
        )
        .await;
    }
    for cond in [
        json!({"field": "colour", "op": "equals", "value": "red"}),
        json!({"field": "vendor", "op": "less_than", "value": "x"}),
        json!({"field": "price", "op": "contains", "value": 5}),
        json!({"field": "price", "op": "less_than", "value": "cheap"}),
        json!({"field": "tag", "op": "equals", "value": 7}),
    ] {
        expect_error(post(rule(cond)), 400, "invalid_request").await;
    }
    expect_error(
        post(json!({"handle": "r", "title": "R", "kind": "rule"})),
        422,
        "unprocessable",
    )
    .await;
    expect_error(
        post(json!({"handle": "r", "title": "R", "kind": "magic"})),
        400,
        "invalid_json",
    )
    .await;
    expect_error(
        admin(
            &stack,
            &a,
            Method::PATCH,
            &format!("/admin/api/collections/{a_sale}"),
        )
        .json(&json!({"rules": {"match": "all", "conditions": [
                {"field": "vendor", "op": "equals", "value": "x"}]}})),
        422,
        "unprocessable",
    )
    .await;
    expect_error(
        admin(
            &stack,
            &a,
            Method::POST,
            "/admin/api/collections/not-an-id/products",
        )
        .json(&json!({"product_ids": [a_product]})),
        400,
        "invalid_id",
    )
    .await;
    expect_error(
        admin(
            &stack,
            &a,
            Method::POST,
            &format!("/admin/api/collections/{a_sale}/products"),
        )
        .json(&json!({"product_ids": []})),
        400,
        "invalid_request",
    )
    .await;
    // The OpenAPI document describes the new endpoints.
    let doc = expect(stack.get(&a.host, "/openapi.json"), 200).await;
    for path in [
        "/api/collections/{handle}/products",
        "/admin/api/collections/{id}/products/order",
        "/api/categories/{handle}/products",
        "/admin/api/products/{id}/categories",
    ] {
        assert!(doc["paths"].get(path).is_some(), "{path} documented");
    }
    assert!(doc["components"]["schemas"].get("CategoryNode").is_some());

    // Nothing from the failed attempts was written.
    let (n,): (i64,) = sqlx::query_as("SELECT count(*) FROM collections")
        .fetch_one(&a.db)
        .await
        .expect("count");
    assert_eq!(n, 2, "one collection per store on this pod");
    stack.shutdown().await;
}
