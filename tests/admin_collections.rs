//! Collections, categories and stock per location in the admin
//! (`/admin/collections`, `/admin/categories`, the product page's stock),
//! over HTTP through the router as a browser without script uses them:
//! each form's effect is read back through the JSON API, which the forms
//! share their writes with; refusals (bad input, other stores' ids, a form
//! without its token) are told in words with a 4xx. Then one walk through
//! the pages in Chromium, checked by axe-core, with screenshots under
//! docs/admin/.

mod common;

use common::browser::{store_url, Browser};
use common::shop::Shop;
use common::web::{csrf, Page, WebClient};
use common::Stack;
use reqwest::Method;
use serde_json::{json, Value};

/// A staff request of the JSON API, its status and body (`Null` if none).
async fn api(
    stack: &Stack,
    shop: &Shop,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut r = stack.at(method, &shop.host, path).bearer_auth(&shop.staff);
    if let Some(body) = body {
        r = r.json(&body);
    }
    let r = r.send().await.expect("api request");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// An active product with one variant per price, its vendor and tags: its id.
async fn product(stack: &Stack, shop: &Shop, title: &str, vendor: &str, price: i64) -> String {
    let sku: String = title
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '-'
            }
        })
        .collect();
    let (status, body) = api(
        stack,
        shop,
        Method::POST,
        "/admin/api/products",
        Some(json!({"title": title, "status": "active", "vendor": vendor,
            "variants": [{"sku": sku, "price_minor": price}]})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    body["id"].as_str().expect("id").to_owned()
}

/// A staff member (not the owner) signed in to the admin.
async fn signed_in<'a>(stack: &'a Stack, shop: &Shop, email: &str) -> WebClient<'a> {
    shop.staff_member(stack, email, "a long enough password")
        .await;
    let mut b = WebClient::new(stack, &shop.host);
    let p = b
        .post(
            "/admin/login",
            &[("email", email), ("password", "a long enough password")],
        )
        .await;
    assert_eq!(p.status, 303, "signed in");
    b
}

/// The titles of a collection's products, as the API lists them.
async fn members(stack: &Stack, shop: &Shop, collection: &str) -> Vec<String> {
    let (status, body) = api(
        stack,
        shop,
        Method::GET,
        &format!("/admin/api/collections/{collection}/products?limit=100"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|p| p["title"].as_str().expect("title").to_owned())
        .collect()
}

/// Posts a form of owned values.
async fn post_owned(b: &mut WebClient<'_>, path: &str, pairs: &[(&str, String)]) -> Page {
    let form: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
    b.post(path, &form).await
}

/// The id a `/admin/<what>/{id}?done=` redirect names.
fn id_in(location: &str, prefix: &str) -> String {
    location
        .strip_prefix(prefix)
        .and_then(|rest| rest.split('?').next())
        .unwrap_or_else(|| panic!("{location} is not under {prefix}"))
        .to_owned()
}

#[tokio::test]
async fn staff_make_manual_and_rule_collections_with_forms() {
    let stack = Stack::start(1).await;
    let shop = Shop::open(&stack, "colshop").await;
    let other = Shop::open(&stack, "othershop").await;
    let brass = product(&stack, &shop, "Brass lamp", "Acme", 4500).await;
    let desk = product(&stack, &shop, "Desk lamp", "Acme", 2500).await;
    let mug = product(&stack, &shop, "Mug", "Potter", 1200).await;
    let elsewhere = product(&stack, &other, "Other store's lamp", "Acme", 100).await;

    // Signed out: to the sign-in page, coming back after.
    let mut nobody = WebClient::new(&stack, &shop.host);
    let p = nobody.get("/admin/collections").await;
    assert_eq!(p.status, 303, "{}", p.body);
    assert!(
        p.location.starts_with("/admin/login?next="),
        "{}",
        p.location
    );

    // Any staff member may, as the API lets them.
    let mut b = signed_in(&stack, &shop, "bob@colshop.example").await;
    let p = b.get("/admin/collections").await;
    assert_eq!(p.status, 200);
    assert!(p.body.contains("No collection yet"), "{}", p.body);
    let token = csrf(&p.body);

    // Without the session's token, or from another site: refused.
    let manual = [
        ("title", "Lamps we love"),
        ("handle", ""),
        ("kind", "manual"),
        ("description", "Hand picked."),
    ];
    let p = b.post("/admin/collections", &manual).await;
    assert_eq!(p.status, 403);
    let mut with_token = vec![("csrf", token.as_str())];
    with_token.extend_from_slice(&manual);
    let p = b
        .post_from("http://evil.example", "/admin/collections", &with_token)
        .await;
    assert_eq!(p.status, 403);
    let (_, list) = api(&stack, &shop, Method::GET, "/admin/api/collections", None).await;
    assert_eq!(list["items"].as_array().expect("items").len(), 0);

    // Bad input is told in words, with what was typed.
    let p = b
        .post(
            "/admin/collections",
            &[
                ("csrf", &token),
                ("title", " "),
                ("handle", "lamps"),
                ("kind", "manual"),
                ("description", "Kept as typed"),
            ],
        )
        .await;
    assert_eq!(p.status, 400);
    assert!(
        p.body.contains("Title must be 1 to 255 characters."),
        "{}",
        p.body
    );
    assert!(p.body.contains("Kept as typed"));
    let p = b
        .post(
            "/admin/collections",
            &[
                ("csrf", &token),
                ("title", "Lamps"),
                ("handle", "Bad Handle"),
                ("kind", "manual"),
            ],
        )
        .await;
    assert_eq!(p.status, 400);
    assert!(p.body.contains("must be 1 to 63 characters"), "{}", p.body);
    let p = b
        .post(
            "/admin/collections",
            &[("csrf", &token), ("title", "Lamps"), ("kind", "sideways")],
        )
        .await;
    assert_eq!(p.status, 400);
    assert!(p.body.contains("manual or rule-based"), "{}", p.body);
    let long = "x".repeat(256);
    let p = b
        .post(
            "/admin/collections",
            &[
                ("csrf", &token),
                ("title", &long),
                ("handle", "long"),
                ("kind", "manual"),
            ],
        )
        .await;
    assert_eq!(p.status, 400);
    let p = b
        .post(
            "/admin/collections",
            &[("csrf", &token), ("title", "Bell\u{7}"), ("kind", "manual")],
        )
        .await;
    assert_eq!(p.status, 400, "a control character");

    // A manual collection, its handle made of its title.
    let p = b.post("/admin/collections", &with_token).await;
    assert_eq!(p.status, 303, "{}", p.body);
    assert!(p.location.ends_with("?done=created"), "{}", p.location);
    let lamps = id_in(&p.location, "/admin/collections/");
    let (status, c) = api(
        &stack,
        &shop,
        Method::GET,
        &format!("/admin/api/collections/{lamps}"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        (c["handle"].as_str(), c["kind"].as_str()),
        (Some("lamps-we-love"), Some("manual"))
    );
    assert_eq!(c["description"], "Hand picked.");
    let p = b.get(&p.location).await;
    assert!(p.body.contains("The collection was created."), "{}", p.body);
    assert!(p.body.contains("No product in this collection yet."));
    // The same handle again, rules on a manual one, none on a rule one.
    let p = b.post("/admin/collections", &with_token).await;
    assert_eq!(p.status, 409);
    assert!(
        p.body
            .contains("A collection with this handle already exists"),
        "{}",
        p.body
    );
    let rule_row = [
        ("rule_field_0", "vendor"),
        ("rule_op_0", "equals"),
        ("rule_value_0", "acme"),
    ];
    let mut manual_with_rules = vec![
        ("csrf", token.as_str()),
        ("title", "Odd"),
        ("kind", "manual"),
    ];
    manual_with_rules.extend_from_slice(&rule_row);
    let p = b.post("/admin/collections", &manual_with_rules).await;
    assert_eq!(p.status, 422);
    assert!(
        p.body.contains("A manual collection has no rules."),
        "{}",
        p.body
    );
    let p = b
        .post(
            "/admin/collections",
            &[
                ("csrf", &token),
                ("title", "Odd"),
                ("kind", "rule"),
                ("rule_value_0", ""),
            ],
        )
        .await;
    assert_eq!(p.status, 422);
    assert!(
        p.body.contains("A rule collection needs rules."),
        "{}",
        p.body
    );
    let p = b
        .post(
            "/admin/collections",
            &[
                ("csrf", &token),
                ("title", "Cheap"),
                ("kind", "rule"),
                ("rule_field_0", "price"),
                ("rule_op_0", "less_than"),
                ("rule_value_0", "cheap"),
            ],
        )
        .await;
    assert_eq!(p.status, 400);
    assert!(
        p.body
            .contains("Enter the price of condition 1 as a number"),
        "{}",
        p.body
    );

    // A rule collection: Acme's products under 30.00.
    let p = b
        .post(
            "/admin/collections",
            &[
                ("csrf", &token),
                ("title", "Acme under 30"),
                ("kind", "rule"),
                ("rule_match", "all"),
                ("rule_field_0", "vendor"),
                ("rule_op_0", "equals"),
                ("rule_value_0", "acme"),
                ("rule_field_2", "price"),
                ("rule_op_2", "less_than"),
                ("rule_value_2", "30.00"),
            ],
        )
        .await;
    assert_eq!(p.status, 303, "{}", p.body);
    let acme = id_in(&p.location, "/admin/collections/");
    assert_eq!(members(&stack, &shop, &acme).await, ["Desk lamp"]);
    let (_, c) = api(
        &stack,
        &shop,
        Method::GET,
        &format!("/admin/api/collections/{acme}"),
        None,
    )
    .await;
    assert_eq!(c["sort_order"], "newest");
    assert_eq!(
        c["rules"]["conditions"][1],
        json!({"field": "price", "op": "less_than", "value": 3000})
    );
    let page = format!("/admin/collections/{acme}");
    let p = b.get(&page).await;
    assert_eq!(p.status, 200);
    assert!(p.body.contains("data-member=\"Desk lamp\""), "{}", p.body);
    assert!(!p.body.contains("data-member=\"Brass lamp\""));
    assert!(
        p.body.contains("value=\"30.00\""),
        "the price rule shown to edit"
    );
    assert!(
        !p.body.contains("Add a product"),
        "a rule collection's products follow its rules"
    );
    // New rules: any of Acme's, or under 15.00.
    let p = b
        .post(
            &format!("{page}/rules"),
            &[
                ("csrf", &token),
                ("rule_match", "any"),
                ("rule_field_0", "vendor"),
                ("rule_op_0", "equals"),
                ("rule_value_0", "ACME"),
                ("rule_field_1", "price"),
                ("rule_op_1", "less_than"),
                ("rule_value_1", "15"),
            ],
        )
        .await;
    assert_eq!(
        (p.status, p.location.as_str()),
        (303, format!("{page}?done=rules").as_str())
    );
    let mut all = members(&stack, &shop, &acme).await;
    all.sort();
    assert_eq!(all, ["Brass lamp", "Desk lamp", "Mug"]);
    let p = b
        .post(
            &format!("{page}/rules"),
            &[
                ("csrf", &token),
                ("rule_field_0", "tag"),
                ("rule_op_0", "equals"),
                ("rule_value_0", "kept"),
                ("rule_field_1", "vendor"),
                ("rule_op_1", "greater_than"),
                ("rule_value_1", "Acme"),
            ],
        )
        .await;
    assert_eq!(p.status, 400);
    assert!(
        p.body
            .contains("Condition 2: Op `greater_than` does not apply"),
        "{}",
        p.body
    );
    assert!(p.body.contains("value=\"kept\""), "the rows as typed");
    let p = b
        .post(
            &format!("{page}/rules"),
            &[("csrf", &token), ("rule_match", "all")],
        )
        .await;
    assert_eq!(p.status, 400);
    assert!(
        p.body.contains("Rules need 1 to 20 conditions."),
        "{}",
        p.body
    );
    assert_eq!(
        members(&stack, &shop, &acme).await.len(),
        3,
        "refused rules change nothing"
    );
    // A rule collection's products are not added by hand, nor ordered.
    let p = b
        .post(
            &format!("{page}/products"),
            &[("csrf", &token), ("product_id", &brass)],
        )
        .await;
    assert_eq!(p.status, 422);
    assert!(p.body.contains("follow its rules"), "{}", p.body);
    let p = b
        .post(
            &format!("{page}/products/order"),
            &[("csrf", &token), ("move", &brass), ("to", "later")],
        )
        .await;
    assert_eq!(p.status, 422);

    // The manual collection: the products to add, narrowed by title.
    let page = format!("/admin/collections/{lamps}");
    let p = b.get(&page).await;
    for title in ["Brass lamp", "Desk lamp", "Mug"] {
        assert!(
            p.body.contains(&format!(">{title}</option>")),
            "{title} offered"
        );
    }
    assert!(
        !p.body.contains("Other store"),
        "only this store's products"
    );
    let p = b.get(&format!("{page}?q=LAMP")).await;
    assert!(p.body.contains(">Brass lamp</option>") && !p.body.contains(">Mug</option>"));
    let p = b.get(&format!("{page}?q=nothing-like-it")).await;
    assert!(p.body.contains("No other product"), "{}", p.body);
    for id in [&brass, &desk, &mug] {
        let p = b
            .post(
                &format!("{page}/products"),
                &[("csrf", &token), ("product_id", id)],
            )
            .await;
        assert_eq!(
            (p.status, p.location.as_str()),
            (303, format!("{page}?done=added").as_str())
        );
    }
    assert_eq!(
        members(&stack, &shop, &lamps).await,
        ["Brass lamp", "Desk lamp", "Mug"]
    );
    let p = b.get(&page).await;
    assert!(
        !p.body.contains(">Mug</option>"),
        "members are not offered again"
    );
    // Ids that are not, or not this store's products.
    for (bad, status) in [
        ("x", 422),
        (elsewhere.as_str(), 422),
        ("0190a0a0-0000-7000-8000-000000000000", 422),
        ("", 400),
    ] {
        let p = b
            .post(
                &format!("{page}/products"),
                &[("csrf", &token), ("product_id", bad)],
            )
            .await;
        assert_eq!(p.status, status, "adding {bad:?}: {}", p.body);
        assert!(p.body.contains("notice-error"), "told in words");
    }
    assert_eq!(members(&stack, &shop, &lamps).await.len(), 3);

    // Earlier and later: the whole new order, as the API takes it.
    let p = b
        .post(
            &format!("{page}/products/order"),
            &[("csrf", &token), ("move", &mug), ("to", "earlier")],
        )
        .await;
    assert_eq!(
        (p.status, p.location.as_str()),
        (303, format!("{page}?done=ordered").as_str())
    );
    assert_eq!(
        members(&stack, &shop, &lamps).await,
        ["Brass lamp", "Mug", "Desk lamp"]
    );
    let p = b
        .post(
            &format!("{page}/products/order"),
            &[("csrf", &token), ("move", &brass), ("to", "later")],
        )
        .await;
    assert_eq!(p.status, 303);
    assert_eq!(
        members(&stack, &shop, &lamps).await,
        ["Mug", "Brass lamp", "Desk lamp"]
    );
    let p = b
        .post(
            &format!("{page}/products/order"),
            &[("csrf", &token), ("move", &mug), ("to", "earlier")],
        )
        .await;
    assert_eq!(p.status, 422);
    assert!(p.body.contains("cannot move that way"), "{}", p.body);
    let p = b.get(&page).await;
    let (mug_at, brass_at) = (
        p.body.find("data-member=\"Mug\"").expect("mug"),
        p.body.find("data-member=\"Brass lamp\"").expect("brass"),
    );
    assert!(mug_at < brass_at, "the page lists them in order");

    // Taking one out.
    let p = b
        .post(
            &format!("{page}/products/{desk}/delete"),
            &[("csrf", &token)],
        )
        .await;
    assert_eq!(
        (p.status, p.location.as_str()),
        (303, format!("{page}?done=removed").as_str())
    );
    assert_eq!(members(&stack, &shop, &lamps).await, ["Mug", "Brass lamp"]);
    let p = b
        .post(
            &format!("{page}/products/{desk}/delete"),
            &[("csrf", &token)],
        )
        .await;
    assert_eq!(p.status, 404);
    assert!(
        p.body.contains("Product in this collection not found") || p.body.contains("not found"),
        "{}",
        p.body
    );

    // Details, as PATCH.
    let details = |title: &str, handle: &str, sort: &str| {
        vec![
            ("csrf", token.clone()),
            ("title", title.to_owned()),
            ("handle", handle.to_owned()),
            ("description", "Lamps, and a mug.".to_owned()),
            ("sort_order", sort.to_owned()),
        ]
    };
    let p = post_owned(
        &mut b,
        &format!("{page}/edit"),
        &details("Lamps and a mug", "lamps-and-a-mug", "title"),
    )
    .await;
    assert_eq!(
        (p.status, p.location.as_str()),
        (303, format!("{page}?done=saved").as_str())
    );
    let (_, c) = api(
        &stack,
        &shop,
        Method::GET,
        &format!("/admin/api/collections/{lamps}"),
        None,
    )
    .await;
    assert_eq!(
        (
            c["title"].as_str(),
            c["handle"].as_str(),
            c["sort_order"].as_str()
        ),
        (
            Some("Lamps and a mug"),
            Some("lamps-and-a-mug"),
            Some("title")
        )
    );
    let p = post_owned(
        &mut b,
        &format!("{page}/edit"),
        &details("Taken", "acme-under-30", "title"),
    )
    .await;
    assert_eq!(p.status, 409);
    assert!(p.body.contains("value=\"Taken\""), "the details as typed");
    let p = post_owned(
        &mut b,
        &format!("{page}/edit"),
        &details("Lamps", "lamps", "random"),
    )
    .await;
    assert_eq!(p.status, 400);
    let (_, c) = api(
        &stack,
        &shop,
        Method::GET,
        &format!("/admin/api/collections/{lamps}"),
        None,
    )
    .await;
    assert_eq!(
        c["title"], "Lamps and a mug",
        "refused edits change nothing"
    );

    // The list: each with its kind and how many products it holds.
    let p = b.get("/admin/collections").await;
    assert!(p.body.contains("rule-based"), "{}", p.body);
    let row = p
        .body
        .split("data-collection=\"acme-under-30\"")
        .nth(1)
        .expect("row");
    assert!(
        row.split("</tr>")
            .next()
            .expect("row")
            .contains("data-count>3<"),
        "{row}"
    );

    // Unknown, malformed and other stores' collections are not found.
    let (_, theirs) = api(
        &stack,
        &other,
        Method::POST,
        "/admin/api/collections",
        Some(json!({"title": "Theirs", "handle": "theirs", "kind": "manual"})),
    )
    .await;
    let theirs = theirs["id"].as_str().expect("id").to_owned();
    for path in [
        format!("/admin/collections/{theirs}"),
        "/admin/collections/not-an-id".to_owned(),
    ] {
        assert_eq!(b.get(&path).await.status, 404, "{path}");
    }
    let p = b
        .post(
            &format!("/admin/collections/{theirs}/delete"),
            &[("csrf", &token), ("confirm", "yes")],
        )
        .await;
    assert_eq!(p.status, 404);
    let (status, _) = api(
        &stack,
        &other,
        Method::GET,
        &format!("/admin/api/collections/{theirs}"),
        None,
    )
    .await;
    assert_eq!(status, 200, "another store's collection stays");

    // Deleting: only with the box ticked.
    let p = b.post(&format!("{page}/delete"), &[("csrf", &token)]).await;
    assert_eq!(p.status, 400);
    assert!(p.body.contains("Tick the box"), "{}", p.body);
    let p = b
        .post(
            &format!("{page}/delete"),
            &[("csrf", &token), ("confirm", "yes")],
        )
        .await;
    assert_eq!(
        (p.status, p.location.as_str()),
        (303, "/admin/collections?done=deleted")
    );
    let (status, _) = api(
        &stack,
        &shop,
        Method::GET,
        &format!("/admin/api/collections/{lamps}"),
        None,
    )
    .await;
    assert_eq!(status, 404);
    let (status, _) = api(
        &stack,
        &shop,
        Method::GET,
        &format!("/admin/api/products/{mug}"),
        None,
    )
    .await;
    assert_eq!(status, 200, "its products stay");
    stack.shutdown().await;
}

/// The category tree as (name, parent name) pairs, depth first.
async fn tree(stack: &Stack, shop: &Shop) -> Vec<(String, Option<String>)> {
    fn walk(nodes: &Value, parent: Option<&str>, out: &mut Vec<(String, Option<String>)>) {
        for n in nodes.as_array().expect("nodes") {
            let name = n["name"].as_str().expect("name");
            out.push((name.to_owned(), parent.map(str::to_owned)));
            walk(&n["children"], Some(name), out);
        }
    }
    let (status, body) = api(stack, shop, Method::GET, "/admin/api/categories", None).await;
    assert_eq!(status, 200);
    let mut out = Vec::new();
    walk(&body["categories"], None, &mut out);
    out
}

/// The id of the category named `name`.
async fn category(stack: &Stack, shop: &Shop, handle: &str) -> String {
    fn find(nodes: &Value, handle: &str) -> Option<String> {
        nodes.as_array()?.iter().find_map(|n| {
            if n["handle"] == handle {
                n["id"].as_str().map(str::to_owned)
            } else {
                find(&n["children"], handle)
            }
        })
    }
    let (_, body) = api(stack, shop, Method::GET, "/admin/api/categories", None).await;
    find(&body["categories"], handle).unwrap_or_else(|| panic!("no category {handle}"))
}

#[tokio::test]
async fn staff_shape_the_category_tree_with_forms() {
    let stack = Stack::start(1).await;
    let shop = Shop::open(&stack, "catshop").await;
    let other = Shop::open(&stack, "othercats").await;
    let lamp = product(&stack, &shop, "Reading lamp", "Acme", 3000).await;
    let mut b = signed_in(&stack, &shop, "cat@catshop.example").await;
    let p = b.get("/admin/categories").await;
    assert_eq!(p.status, 200);
    assert!(p.body.contains("No category yet"), "{}", p.body);
    let token = csrf(&p.body);
    let p = b.post("/admin/categories", &[("name", "Lighting")]).await;
    assert_eq!(p.status, 403, "without the session's token");

    // A root, then one under it and one under that; handles from names.
    let p = b
        .post(
            "/admin/categories",
            &[
                ("csrf", &token),
                ("name", "Lighting"),
                ("handle", ""),
                ("parent_id", ""),
            ],
        )
        .await;
    assert_eq!(p.status, 303, "{}", p.body);
    assert!(
        p.location.ends_with("&done=category_created"),
        "{}",
        p.location
    );
    let lighting = category(&stack, &shop, "lighting").await;
    let p = b
        .post(
            "/admin/categories",
            &[
                ("csrf", &token),
                ("name", "Lamps"),
                ("parent_id", &lighting),
                ("position", "2"),
            ],
        )
        .await;
    assert_eq!(p.status, 303, "{}", p.body);
    let lamps = category(&stack, &shop, "lamps").await;
    let p = b
        .post(
            "/admin/categories",
            &[
                ("csrf", &token),
                ("name", "Desk"),
                ("handle", "desk"),
                ("parent_id", &lamps),
            ],
        )
        .await;
    assert_eq!(p.status, 303, "{}", p.body);
    let desk = category(&stack, &shop, "desk").await;
    assert_eq!(
        tree(&stack, &shop).await,
        [
            ("Lighting".to_owned(), None),
            ("Lamps".to_owned(), Some("Lighting".to_owned())),
            ("Desk".to_owned(), Some("Lamps".to_owned())),
        ]
    );
    let p = b.get("/admin/categories").await;
    let (at_lighting, at_lamps) = (
        p.body.find("data-category=\"lighting\"").expect("lighting"),
        p.body.find("data-category=\"lamps\"").expect("lamps"),
    );
    assert!(
        at_lighting < at_lamps && p.body.contains("<ul><li data-category=\"lamps\""),
        "nested: {}",
        p.body
    );

    // Refusals, in words, with what was typed.
    let (_, theirs) = api(
        &stack,
        &other,
        Method::POST,
        "/admin/api/categories",
        Some(json!({"name": "Theirs", "handle": "theirs"})),
    )
    .await;
    let theirs = theirs["id"].as_str().expect("id").to_owned();
    for (form, status, words) in [
        (
            vec![("name", " "), ("handle", "blank")],
            400,
            "Name must be 1 to 255 characters.",
        ),
        (
            vec![("name", "Bulbs"), ("parent_id", "x")],
            400,
            "Choose a parent category from the list.",
        ),
        (
            vec![("name", "Bulbs"), ("parent_id", theirs.as_str())],
            422,
            "No such parent category",
        ),
        (
            vec![("name", "Bulbs"), ("position", "first")],
            400,
            "Enter the position as a whole number",
        ),
        (
            vec![("name", "Bulbs"), ("position", "-1")],
            400,
            "Position must be 0 to 1000000.",
        ),
        (
            vec![("name", "Bulbs"), ("handle", "lamps")],
            409,
            "A category with this handle already exists",
        ),
        (
            vec![("name", "Bulbs"), ("handle", "Bad_handle")],
            400,
            "must be 1 to 63 characters",
        ),
    ] {
        let mut posted = vec![("csrf", token.as_str())];
        posted.extend(form);
        let p = b.post("/admin/categories", &posted).await;
        assert_eq!(p.status, status, "{posted:?}: {}", p.body);
        assert!(p.body.contains(words), "{words}: {}", p.body);
    }
    assert_eq!(tree(&stack, &shop).await.len(), 3, "nothing was added");

    // The edit form, with the products filed under the category.
    let (status, _) = api(
        &stack,
        &shop,
        Method::PUT,
        &format!("/admin/api/products/{lamp}/categories"),
        Some(json!({"category_ids": [lamps]})),
    )
    .await;
    assert_eq!(status, 200);
    let p = b.get(&format!("/admin/categories?edit={lamps}")).await;
    assert_eq!(p.status, 200);
    assert!(
        p.body
            .contains(&format!("href=\"/admin/products/{lamp}\">Reading lamp<")),
        "{}",
        p.body
    );
    assert!(p.body.contains("1 product<"), "the count in the tree");
    let under = p
        .body
        .split("id=\"edit-parent\"")
        .nth(1)
        .and_then(|rest| rest.split("</select>").next())
        .expect("the edit form's parent list");
    assert!(
        under.contains(&format!("<option value=\"{lighting}\" selected")),
        "{under}"
    );
    assert!(
        !under.contains(&format!("<option value=\"{desk}\"")),
        "not under its own descendant: {under}"
    );
    assert!(
        !p.body.contains("category-delete-form"),
        "a category with products stays"
    );
    for path in [
        format!("/admin/categories?edit={theirs}"),
        "/admin/categories?edit=nope".to_owned(),
    ] {
        assert_eq!(b.get(&path).await.status, 404, "{path}");
    }

    // Moves the API refuses are refused here.
    let p = b
        .post(
            &format!("/admin/categories/{lighting}"),
            &[
                ("csrf", &token),
                ("name", "Lighting"),
                ("handle", "lighting"),
                ("parent_id", &desk),
                ("position", "0"),
            ],
        )
        .await;
    assert_eq!(p.status, 422);
    assert!(
        p.body
            .contains("cannot move under itself or one of its descendants"),
        "{}",
        p.body
    );
    // Renamed and moved to the top.
    let p = b
        .post(
            &format!("/admin/categories/{desk}"),
            &[
                ("csrf", &token),
                ("name", "Desk lamps"),
                ("handle", "desk-lamps"),
                ("parent_id", ""),
                ("position", "1"),
            ],
        )
        .await;
    assert_eq!(p.status, 303, "{}", p.body);
    let (status, _) = api(&stack, &shop, Method::GET, "/admin/api/categories", None).await;
    assert_eq!(status, 200);
    let now = tree(&stack, &shop).await;
    assert!(now.contains(&("Desk lamps".to_owned(), None)), "{now:?}");
    assert_eq!(category(&stack, &shop, "desk-lamps").await, desk);
    let p = b
        .post(
            &format!("/admin/categories/{theirs}"),
            &[("csrf", &token), ("name", "Mine"), ("handle", "mine")],
        )
        .await;
    assert_eq!(p.status, 404, "another store's category");

    // Deleting: a leaf without products only.
    let p = b
        .post(
            &format!("/admin/categories/{lamps}/delete"),
            &[("csrf", &token)],
        )
        .await;
    assert_eq!(p.status, 409);
    assert!(
        p.body
            .contains("The category has products; take them out first."),
        "{}",
        p.body
    );
    let p = b
        .post(
            &format!("/admin/categories/{lighting}/delete"),
            &[("csrf", &token)],
        )
        .await;
    assert_eq!(p.status, 409);
    assert!(p.body.contains("has sub-categories"), "{}", p.body);
    let p = b
        .post(
            &format!("/admin/categories/{desk}/delete"),
            &[("csrf", &token)],
        )
        .await;
    assert_eq!(
        (p.status, p.location.as_str()),
        (303, "/admin/categories?done=category_deleted")
    );
    assert_eq!(tree(&stack, &shop).await.len(), 2);
    let (status, _) = api(&stack, &other, Method::GET, "/admin/api/categories", None).await;
    assert_eq!(status, 200);
    assert_eq!(
        tree(&stack, &other).await.len(),
        1,
        "another store's tree is its own"
    );
    stack.shutdown().await;
}

/// A variant's units on hand per location name, as the API reads them.
async fn on_hand(stack: &Stack, shop: &Shop, variant: &str) -> Vec<(String, i64)> {
    let (status, body) = api(
        stack,
        shop,
        Method::GET,
        &format!("/admin/api/variants/{variant}/stock"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let mut out: Vec<(String, i64)> = body["locations"]
        .as_array()
        .expect("locations")
        .iter()
        .map(|l| {
            (
                l["location_name"].as_str().expect("name").to_owned(),
                l["on_hand"].as_i64().expect("n"),
            )
        })
        .collect();
    out.sort();
    out
}

async fn location(stack: &Stack, shop: &Shop, name: &str, priority: i32) -> String {
    let (status, body) = api(
        stack,
        shop,
        Method::POST,
        "/admin/api/locations",
        Some(json!({"name": name, "priority": priority, "country": "US", "city": name})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    body["id"].as_str().expect("id").to_owned()
}

#[tokio::test]
async fn staff_set_stock_per_location_on_the_product_page() {
    let stack = Stack::start(1).await;
    let shop = Shop::open(&stack, "stockshop").await;
    let other = Shop::open(&stack, "otherstock").await;
    let (product, variant) = shop.product(&stack, "LAMP", 4500, 5).await;
    let east = location(&stack, &shop, "East", 10).await;
    let west = location(&stack, &shop, "West", 20).await;
    let theirs = location(&stack, &other, "Theirs", 10).await;
    let mut b = signed_in(&stack, &shop, "stock@stockshop.example").await;
    let page = format!("/admin/products/{product}");
    let p = b.get(&page).await;
    assert_eq!(p.status, 200);
    for row in ["LAMP@Default", "LAMP@East", "LAMP@West"] {
        assert!(
            p.body.contains(&format!("data-stock=\"{row}\"")),
            "{row}: {}",
            p.body
        );
    }
    let token = csrf(&p.body);
    let stock = format!("{page}/stock");

    // Each location on its own, the default one without an id.
    for (at, n) in [(east.as_str(), "7"), (west.as_str(), "3"), ("", "9")] {
        let p = b
            .post(
                &stock,
                &[
                    ("csrf", &token),
                    ("variant_id", &variant),
                    ("location_id", at),
                    ("on_hand", n),
                ],
            )
            .await;
        assert_eq!(
            (p.status, p.location.as_str()),
            (303, format!("{page}?done=stock").as_str()),
            "{}",
            p.body
        );
    }
    assert_eq!(
        on_hand(&stack, &shop, &variant).await,
        [
            ("Default".to_owned(), 9),
            ("East".to_owned(), 7),
            ("West".to_owned(), 3)
        ]
    );
    let (_, api_product) = api(
        &stack,
        &shop,
        Method::GET,
        &format!("/admin/api/products/{product}"),
        None,
    )
    .await;
    assert_eq!(
        api_product["variants"][0]["on_hand"], 19,
        "the total over the locations"
    );
    let p = b.get(&format!("{page}?done=stock")).await;
    assert!(p.body.contains("The stock was saved."));
    let east_row = p
        .body
        .split("data-stock=\"LAMP@East\"")
        .nth(1)
        .expect("east row");
    assert!(
        east_row
            .split("</tr>")
            .next()
            .expect("row")
            .contains("value=\"7\""),
        "{east_row}"
    );
    assert!(
        p.body.contains("data-on-hand=\"LAMP\">19<"),
        "the variant's total"
    );

    // Locations that are not, or not this store's; bad numbers.
    for (at, n, status, words) in [
        ("nowhere", "1", 422, "Choose a location from the list."),
        (theirs.as_str(), "1", 422, "No location"),
        (
            "0190a0a0-0000-7000-8000-000000000000",
            "1",
            422,
            "No location",
        ),
        (
            east.as_str(),
            "-1",
            400,
            "Enter the units on hand as a whole number",
        ),
        (
            east.as_str(),
            "10000001",
            400,
            "Enter the units on hand as a whole number",
        ),
        (
            east.as_str(),
            "lots",
            400,
            "Enter the units on hand as a whole number",
        ),
    ] {
        let p = b
            .post(
                &stock,
                &[
                    ("csrf", &token),
                    ("variant_id", &variant),
                    ("location_id", at),
                    ("on_hand", n),
                ],
            )
            .await;
        assert_eq!(p.status, status, "{at} {n}: {}", p.body);
        assert!(
            p.body.to_lowercase().contains(&words.to_lowercase()),
            "{words}: {}",
            p.body
        );
    }
    let p = b
        .post(
            &stock,
            &[
                ("variant_id", &variant),
                ("location_id", &east),
                ("on_hand", "1"),
            ],
        )
        .await;
    assert_eq!(p.status, 403, "without the session's token");
    assert_eq!(
        on_hand(&stack, &shop, &variant).await,
        [
            ("Default".to_owned(), 9),
            ("East".to_owned(), 7),
            ("West".to_owned(), 3)
        ],
        "refusals change nothing"
    );
    stack.shutdown().await;
}

#[tokio::test]
async fn staff_walk_collections_categories_and_stock_in_chromium() {
    let (stack, b) = tokio::join!(Stack::start(1), Browser::desktop());
    let shop = Shop::open(&stack, "walkshop").await;
    let mut lamps = Vec::new();
    for (title, vendor, price) in [
        ("Brass desk lamp", "Acme", 4500),
        ("Reading lamp", "Acme", 3200),
        ("Enamel mug", "Potter", 1200),
        ("Linen shade", "Acme", 2400),
    ] {
        let id = product(&stack, &shop, title, vendor, price).await;
        if title.ends_with("lamp") {
            lamps.push(id);
        }
    }
    // A product with two colours, stocked at the default location.
    let (status, desk) = api(
        &stack,
        &shop,
        Method::POST,
        "/admin/api/products",
        Some(json!({"title": "Desk lamp", "status": "active",
            "options": [{"name": "Colour", "values": ["Black", "White"]}],
            "variants": [
                {"sku": "DESK-BLACK", "price_minor": 3900, "option_values": {"Colour": "Black"}, "stock": 12},
                {"sku": "DESK-WHITE", "price_minor": 3900, "option_values": {"Colour": "White"}, "stock": 5}
            ]})),
    )
    .await;
    assert_eq!(status, 201, "{desk}");
    let product_id = desk["id"].as_str().expect("id").to_owned();
    location(&stack, &shop, "Warehouse", 10).await;
    shop.staff_member(&stack, "walk@walkshop.example", "a long enough password")
        .await;

    b.goto(&store_url(&stack, &shop.host, "/admin/collections"))
        .await;
    b.wait_for_text_in("h1", "Sign in").await;
    b.fill("#email", "walk@walkshop.example").await;
    b.fill("#password", "a long enough password").await;
    b.click(".stack-form button[type=submit]").await;
    b.wait_for_text_in("h1", "Collections").await;

    // A rule-based collection, then a manual one.
    b.fill("#title", "Acme").await;
    b.click("#kind-rule").await;
    b.select("#rule-field-0", "vendor").await;
    b.select("#rule-op-0", "equals").await;
    b.fill("#rule-value-0", "Acme").await;
    b.click(".collection-form button[type=submit]").await;
    b.wait_for_text("The collection was created").await;
    b.wait_for(".members-table [data-member='Linen shade']")
        .await;
    b.assert_accessible("a rule-based collection").await;
    b.click("a[href='/admin/collections']").await;
    b.wait_for_text_in("h1", "Collections").await;
    b.fill("#title", "Desk favourites").await;
    b.fill("#description", "What we keep on our own desks.")
        .await;
    b.screenshot("docs/admin/collections-desktop.png").await;
    b.assert_accessible("the collections").await;
    b.click(".collection-form button[type=submit]").await;
    b.wait_for_text("The collection was created").await;
    for title in ["Brass desk lamp", "Enamel mug", "Reading lamp"] {
        let id = b
            .execute(
                "return [...document.querySelectorAll('#product_id option')]
                    .find(o => o.textContent === arguments[0]).value;",
                vec![json!(title)],
            )
            .await;
        b.select("#product_id", id.as_str().expect("an option"))
            .await;
        b.click(".add-product-form button[type=submit]").await;
        b.wait_for_text("The product was added").await;
        b.wait_for(&format!("[data-member='{title}']")).await;
    }
    b.click("[data-member='Reading lamp'] form:first-child button")
        .await;
    b.wait_for_text("The products were put in their new order")
        .await;
    let order: Value = b
        .execute(
            "return [...document.querySelectorAll('[data-member]')].map(r => r.dataset.member);",
            vec![],
        )
        .await;
    assert_eq!(
        order,
        json!(["Brass desk lamp", "Reading lamp", "Enamel mug"])
    );
    b.fill("#q", "shade").await;
    b.click("form[role=search] button[type=submit]").await;
    b.wait_for_text_in("label[for=product_id]", "shade").await;
    b.screenshot("docs/admin/collection-desktop.png").await;
    b.assert_accessible("a manual collection").await;

    // Categories.
    b.click("main a[href='/admin/collections']").await;
    b.wait_for_text_in("h1", "Collections").await;
    b.click("a[href='/admin/categories']").await;
    b.wait_for_text_in("h1", "Categories").await;
    for (name, parent) in [
        ("Lighting", ""),
        ("Lamps", "Lighting"),
        ("Shades", "Lighting"),
        ("Kitchen", ""),
    ] {
        b.fill("#name", name).await;
        if !parent.is_empty() {
            let id = b
                .execute(
                    "return [...document.querySelectorAll('#parent_id option')]
                        .find(o => o.textContent === arguments[0]).value;",
                    vec![json!(parent)],
                )
                .await;
            let id = id.as_str().expect("a parent");
            b.select("#parent_id", id).await;
        }
        b.click(".category-form button[type=submit]").await;
        b.wait_for_text("The category was created").await;
    }
    // Two lamps filed under "Lamps" (from their own pages, as the API does).
    let lamps_id = category(&stack, &shop, "lamps").await;
    for id in &lamps {
        let (status, _) = api(
            &stack,
            &shop,
            Method::PUT,
            &format!("/admin/api/products/{id}/categories"),
            Some(json!({"category_ids": [lamps_id]})),
        )
        .await;
        assert_eq!(status, 200);
    }
    b.click("[data-category='lamps'] > a").await;
    b.wait_for_text_in("#edit-heading", "Lamps").await;
    b.wait_for(".filed-list a").await;
    b.fill("#edit-name", "Desk lamps").await;
    b.click(".category-edit-form button[type=submit]").await;
    b.wait_for_text("The category was saved").await;
    b.wait_for_text_in("#edit-heading", "Desk lamps").await;
    b.screenshot("docs/admin/categories-desktop.png").await;
    b.assert_accessible("the categories").await;

    // A product's stock at each location.
    b.goto(&store_url(
        &stack,
        &shop.host,
        &format!("/admin/products/{product_id}"),
    ))
    .await;
    let warehouse = "[data-stock='DESK-WHITE@Warehouse']";
    b.wait_for(warehouse).await;
    b.fill(&format!("{warehouse} input[name=on_hand]"), "8")
        .await;
    b.click(&format!("{warehouse} button")).await;
    b.wait_for_text("The stock was saved").await;
    b.wait_for_text_in("[data-on-hand='DESK-WHITE']", "13")
        .await;
    b.execute(
        "document.getElementById('stock-heading').scrollIntoView();",
        vec![],
    )
    .await;
    b.screenshot("docs/admin/product-stock-desktop.png").await;
    b.assert_accessible("a product's stock per location").await;
    b.close().await;
    stack.shutdown().await;
}
