//! Editing a product in the admin (`/admin/products/{id}` on the store's
//! domain), over HTTP through the router as a browser without script uses
//! it: details, a variant's price and SKU, a new variant with a new option
//! value, removing a variant, putting images in order and removing one,
//! deleting the product. Each form's effect is read back through the JSON
//! API, which the forms share their writes with.

mod common;

use common::shop::Shop;
use common::web::{csrf, WebClient};
use common::Stack;
use serde_json::Value;

async fn api_product(stack: &Stack, shop: &Shop, id: &str) -> (u16, Value) {
    let r = stack
        .get(&shop.host, &format!("/admin/api/products/{id}"))
        .bearer_auth(&shop.staff)
        .send()
        .await
        .expect("product");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn upload(stack: &Stack, shop: &Shop, id: &str, alt: &str, colour: [u8; 3]) {
    let picture = mercato_devstack::demo_art::picture(
        mercato_devstack::demo_art::Shape::Mug,
        colour,
        [236, 232, 224],
    );
    let r = stack
        .post(
            &shop.host,
            &format!("/admin/api/products/{id}/images?alt={alt}"),
        )
        .bearer_auth(&shop.staff)
        .header("content-type", "image/png")
        .body(picture)
        .send()
        .await
        .expect("upload");
    assert_eq!(r.status(), 201);
}

fn image_ids(product: &Value) -> Vec<String> {
    product["images"]
        .as_array()
        .expect("images")
        .iter()
        .map(|i| i["id"].as_str().expect("id").to_owned())
        .collect()
}

#[tokio::test]
async fn staff_edit_a_product_its_variants_and_images_with_forms() {
    let stack = Stack::start(1).await;
    let shop = Shop::open(&stack, "editshop").await;
    let r = stack
        .post(&shop.host, "/admin/api/products")
        .bearer_auth(&shop.staff)
        .json(&serde_json::json!({
        "title": "Mug", "status": "draft",
        "options": [{"name": "Colour", "values": ["Black", "White"]}],
        "variants": [
            {"sku": "MUG-BLACK", "price_minor": 1200, "option_values": {"Colour": "Black"}},
            {"sku": "MUG-WHITE", "price_minor": 1200, "option_values": {"Colour": "White"}}
        ]}))
        .send()
        .await
        .expect("create");
    assert_eq!(r.status(), 201);
    let created: Value = r.json().await.expect("json");
    let id = created["id"].as_str().expect("id").to_owned();
    let black = created["variants"][0]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let white = created["variants"][1]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    shop.staff_member(&stack, "bob@editshop.example", "bob's long password")
        .await;

    let mut b = WebClient::new(&stack, &shop.host);
    let p = b
        .post(
            "/admin/login",
            &[
                ("email", "bob@editshop.example"),
                ("password", "bob's long password"),
                ("next", "/admin/products"),
            ],
        )
        .await;
    assert_eq!(p.status, 303);
    let page = format!("/admin/products/{id}");
    let p = b.get(&page).await;
    assert_eq!(p.status, 200);
    assert!(p.body.contains("value=\"12.00\""), "prices shown to edit");
    let token = csrf(&p.body);

    // A form without the session's token changes nothing.
    let p = b
        .post(
            &format!("{page}/edit"),
            &[("title", "Hijacked"), ("status", "active")],
        )
        .await;
    assert_eq!(p.status, 403);

    // Details.
    let p = b
        .post(
            &format!("{page}/edit"),
            &[
                ("csrf", &token),
                ("title", "Enamel mug"),
                ("description", "Holds 350 ml."),
                ("status", "active"),
                ("vendor", "Tinware Co"),
                ("product_type", "Mugs"),
                ("tags", "enamel, camping"),
            ],
        )
        .await;
    assert_eq!(
        (p.status, p.location.as_str()),
        (303, &*format!("{page}?done=saved"))
    );
    let (_, product) = api_product(&stack, &shop, &id).await;
    assert_eq!(product["title"], "Enamel mug");
    assert_eq!(product["status"], "active");
    assert_eq!(product["vendor"], "Tinware Co");
    assert_eq!(product["tags"], serde_json::json!(["enamel", "camping"]));
    // A refusal is told on the page, in words, and changes nothing.
    let p = b
        .post(
            &format!("{page}/edit"),
            &[("csrf", &token), ("title", "  "), ("status", "active")],
        )
        .await;
    assert_eq!(p.status, 400, "{}", p.body);
    assert!(p.body.contains("role=\"alert\""));
    assert_eq!(
        api_product(&stack, &shop, &id).await.1["title"],
        "Enamel mug"
    );

    // A variant's price, compare-at price and SKU.
    let p = b
        .post(
            &format!("{page}/variants/{black}"),
            &[
                ("csrf", &token),
                ("sku", "MUG-BLK"),
                ("price", "14.50"),
                ("compare_at", "18"),
            ],
        )
        .await;
    assert_eq!(p.status, 303, "{}", p.body);
    let (_, product) = api_product(&stack, &shop, &id).await;
    let v = &product["variants"][0];
    assert_eq!(v["sku"], "MUG-BLK");
    assert_eq!(v["price"]["minor"], 1450);
    assert_eq!(v["compare_at_price"]["minor"], 1800);
    // A compare-at price below the price: the API's rule, on the page.
    let p = b
        .post(
            &format!("{page}/variants/{black}"),
            &[
                ("csrf", &token),
                ("sku", "MUG-BLK"),
                ("price", "20"),
                ("compare_at", "18"),
            ],
        )
        .await;
    assert_eq!(p.status, 422, "{}", p.body);

    // A new variant with a colour the option did not list yet.
    let p = b
        .post(
            &format!("{page}/variants"),
            &[
                ("csrf", &token),
                ("option_0", "Green"),
                ("sku", "MUG-GREEN"),
                ("price", "13"),
                ("stock", "5"),
            ],
        )
        .await;
    assert_eq!(p.status, 303, "{}", p.body);
    let (_, product) = api_product(&stack, &shop, &id).await;
    assert_eq!(
        product["options"][0]["values"],
        serde_json::json!(["Black", "White", "Green"])
    );
    let green = product["variants"]
        .as_array()
        .expect("variants")
        .iter()
        .find(|v| v["sku"] == "MUG-GREEN")
        .expect("the new variant")
        .clone();
    assert_eq!(green["title"], "Green");
    assert_eq!(green["on_hand"], 5);
    // The same colour again: two variants cannot share their options.
    let p = b
        .post(
            &format!("{page}/variants"),
            &[
                ("csrf", &token),
                ("option_0", "Green"),
                ("sku", "MUG-G2"),
                ("price", "13"),
            ],
        )
        .await;
    assert_eq!(p.status, 422, "{}", p.body);

    // Removing a variant.
    let p = b
        .post(
            &format!("{page}/variants/{white}/delete"),
            &[("csrf", &token)],
        )
        .await;
    assert_eq!(p.status, 303);
    let (_, product) = api_product(&stack, &shop, &id).await;
    assert_eq!(product["variants"].as_array().expect("variants").len(), 2);
    // Another store's variant is not this product's.
    let other = Shop::open(&stack, "othershop").await;
    let (_, foreign) = other.product(&stack, "OTHER", 100, 1).await;
    let p = b
        .post(
            &format!("{page}/variants/{foreign}/delete"),
            &[("csrf", &token)],
        )
        .await;
    assert_eq!(p.status, 404);

    // Images: three, put in order by the buttons and by a whole order.
    upload(&stack, &shop, &id, "first", [20, 20, 20]).await;
    upload(&stack, &shop, &id, "second", [200, 30, 30]).await;
    upload(&stack, &shop, &id, "third", [30, 30, 200]).await;
    let (_, product) = api_product(&stack, &shop, &id).await;
    let ids = image_ids(&product);
    let p = b
        .post(
            &format!("{page}/images/order"),
            &[("csrf", &token), ("move", &ids[2]), ("to", "earlier")],
        )
        .await;
    assert_eq!(p.status, 303);
    let (_, product) = api_product(&stack, &shop, &id).await;
    assert_eq!(
        image_ids(&product),
        [ids[0].clone(), ids[2].clone(), ids[1].clone()]
    );
    let p = b
        .post(
            &format!("{page}/images/order"),
            &[("csrf", &token), ("move", &ids[0]), ("to", "earlier")],
        )
        .await;
    assert_eq!(p.status, 400, "the first cannot go earlier");
    let whole = format!("{},{},{}", ids[1], ids[0], ids[2]);
    let p = b
        .post(
            &format!("{page}/images/order"),
            &[("csrf", &token), ("order", &whole)],
        )
        .await;
    assert_eq!(p.status, 303);
    let (_, product) = api_product(&stack, &shop, &id).await;
    assert_eq!(
        image_ids(&product),
        [ids[1].clone(), ids[0].clone(), ids[2].clone()]
    );
    assert_eq!(product["images"][0]["alt"], "second");
    // An order that leaves an image out is refused.
    let partial = format!("{},{}", ids[1], ids[0]);
    let p = b
        .post(
            &format!("{page}/images/order"),
            &[("csrf", &token), ("order", &partial)],
        )
        .await;
    assert_eq!(p.status, 422);
    // The API's own order endpoint agrees.
    let r = stack
        .at(
            reqwest::Method::PUT,
            &shop.host,
            &format!("/admin/api/products/{id}/images/order"),
        )
        .bearer_auth(&shop.staff)
        .json(&serde_json::json!({"image_ids": [&ids[2], &ids[1], &ids[0]]}))
        .send()
        .await
        .expect("order");
    assert_eq!(r.status(), 200);
    let p = b
        .post(
            &format!("{page}/images/{}/delete", ids[1]),
            &[("csrf", &token)],
        )
        .await;
    assert_eq!(p.status, 303);
    let (_, product) = api_product(&stack, &shop, &id).await;
    assert_eq!(image_ids(&product), [ids[2].clone(), ids[0].clone()]);

    // The list finds it by a part of its title, in any letter case.
    let found = b.get("/admin/products?q=ENAMEL").await;
    assert!(found
        .body
        .contains(&format!("href=\"/admin/products/{id}\"")));
    let none = b.get("/admin/products?q=teapot").await;
    assert!(!none
        .body
        .contains(&format!("href=\"/admin/products/{id}\"")));
    let odd = b.get("/admin/products?q=100%25_").await;
    assert_eq!(odd.status, 200, "LIKE's wildcards are only text");

    // Deleting needs the box ticked, then the product is gone.
    let p = b.post(&format!("{page}/delete"), &[("csrf", &token)]).await;
    assert_eq!(p.status, 400);
    let p = b
        .post(
            &format!("{page}/delete"),
            &[("csrf", &token), ("confirm", "yes")],
        )
        .await;
    assert_eq!(
        (p.status, p.location.as_str()),
        (303, "/admin/products?done=deleted")
    );
    assert_eq!(api_product(&stack, &shop, &id).await.0, 404);
    stack.shutdown().await;
}

#[tokio::test]
async fn staff_find_customers_with_their_orders_and_filter_orders_by_day() {
    let stack = Stack::start(1).await;
    let shop = Shop::open(&stack, "peopleshop").await;
    let (_, variant) = shop.product(&stack, "CUP", 900, 20).await;
    // Ada buys twice as a guest, then opens an account: the orders are hers.
    for i in 0..2 {
        let cart = shop.cart(&stack, &[(variant.as_str(), 1)]).await;
        let mut body = common::shop::checkout_body(common::shop::CARD_OK);
        body["email"] = "ada.lovelace@example.com".into();
        let r = shop
            .checkout_with(&stack, &cart, &format!("ada-{i}"), &body)
            .send()
            .await
            .expect("checkout");
        assert_eq!(r.status(), 201);
    }
    let r = common::register_customer(
        &stack,
        &shop.host,
        serde_json::json!({"email": "ada.lovelace@example.com", "password": "correct horse battery",
            "first_name": "Ada", "last_name": "Lovelace"}),
        None,
    )
    .await;
    assert_eq!(r.status(), 201);
    let ada: Value = r.json().await.expect("json");
    let ada_id = ada["customer"]["id"].as_str().expect("id").to_owned();
    common::register_customer(
        &stack,
        &shop.host,
        serde_json::json!({"email": "grace@example.com", "password": "another long password",
            "first_name": "Grace", "last_name": "Hopper"}),
        None,
    )
    .await;

    // The API: search by name or email, one customer with addresses.
    let list = |q: &'static str| {
        let (stack, shop) = (&stack, &shop);
        async move {
            let r = stack
                .get(&shop.host, &format!("/admin/api/customers?{q}"))
                .bearer_auth(&shop.staff)
                .send()
                .await
                .expect("customers");
            assert_eq!(r.status(), 200);
            r.json::<Value>().await.expect("json")
        }
    };
    let all = list("limit=1").await;
    assert_eq!(all["items"].as_array().expect("items").len(), 1);
    assert_eq!(
        all["items"][0]["email"], "grace@example.com",
        "newest first"
    );
    let next = all["next_cursor"].as_str().expect("a next page").to_owned();
    let r = stack
        .get(
            &shop.host,
            &format!("/admin/api/customers?limit=1&after={next}"),
        )
        .bearer_auth(&shop.staff)
        .send()
        .await
        .expect("page 2");
    let page2: Value = r.json().await.expect("json");
    assert_eq!(page2["items"][0]["email"], "ada.lovelace@example.com");
    let found = list("q=LOVELACE").await;
    assert_eq!(found["items"].as_array().expect("items").len(), 1);
    assert_eq!(found["items"][0]["confirmed"], true);
    let found = list("q=ada%20love").await;
    assert_eq!(
        found["items"].as_array().expect("items").len(),
        1,
        "first and last name"
    );
    assert_eq!(
        list("q=%25").await["items"]
            .as_array()
            .expect("items")
            .len(),
        0
    );
    let r = stack
        .get(&shop.host, &format!("/admin/api/customers/{ada_id}"))
        .bearer_auth(&shop.staff)
        .send()
        .await
        .expect("customer");
    assert_eq!(r.status(), 200);
    let detail: Value = r.json().await.expect("json");
    assert_eq!(detail["first_name"], "Ada");
    assert!(detail["addresses"].is_array());
    // A customer of another store is not this store's.
    let other = Shop::open(&stack, "otherpeople").await;
    let r = stack
        .get(&other.host, &format!("/admin/api/customers/{ada_id}"))
        .bearer_auth(&other.staff)
        .send()
        .await
        .expect("customer");
    assert_eq!(r.status(), 404);
    let r = stack
        .get(&shop.host, "/admin/api/customers")
        .bearer_auth(&other.staff)
        .send()
        .await
        .expect("customers");
    assert_eq!(r.status(), 403, "another store's staff");

    // The orders list by the day they were placed.
    let today = chrono::Utc::now().date_naive();
    let tomorrow = today.succ_opt().expect("tomorrow");
    let orders = |q: String| {
        let (stack, shop) = (&stack, &shop);
        async move {
            let r = stack
                .get(&shop.host, &format!("/admin/api/orders?{q}"))
                .bearer_auth(&shop.staff)
                .send()
                .await
                .expect("orders");
            (
                r.status().as_u16(),
                r.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };
    let (status, placed_today) = orders(format!("placed_from={today}&placed_to={today}")).await;
    assert_eq!(status, 200);
    assert_eq!(placed_today["items"].as_array().expect("items").len(), 2);
    let (_, none) = orders(format!("placed_from={tomorrow}")).await;
    assert_eq!(none["items"].as_array().expect("items").len(), 0);
    let (status, _) = orders(format!("placed_from={tomorrow}&placed_to={today}")).await;
    assert_eq!(status, 400);
    let (_, hers) = orders(format!("customer_id={ada_id}")).await;
    assert_eq!(hers["items"].as_array().expect("items").len(), 2);

    // The admin's pages show the same.
    shop.staff_member(&stack, "bob@peopleshop.example", "bob's long password")
        .await;
    let mut b = WebClient::new(&stack, &shop.host);
    let p = b
        .post(
            "/admin/login",
            &[
                ("email", "bob@peopleshop.example"),
                ("password", "bob's long password"),
                ("next", "/admin/customers"),
            ],
        )
        .await;
    assert_eq!((p.status, p.location.as_str()), (303, "/admin/customers"));
    let p = b.get("/admin/customers?q=grace").await;
    assert_eq!(p.status, 200);
    assert!(p.body.contains("grace@example.com") && !p.body.contains("ada.lovelace"));
    let p = b.get(&format!("/admin/customers/{ada_id}")).await;
    assert_eq!(p.status, 200);
    assert!(p.body.contains("<h1>Ada Lovelace</h1>"), "{}", p.body);
    assert_eq!(p.body.matches("href=\"/admin/orders/").count(), 2);
    let p = b.get("/admin/customers/not-an-id").await;
    assert_eq!(p.status, 404);
    let p = b
        .get(&format!("/admin/orders?from={today}&to={today}"))
        .await;
    assert_eq!(p.body.matches("href=\"/admin/orders/").count(), 2);
    let p = b.get(&format!("/admin/orders?from={tomorrow}")).await;
    assert_eq!(p.body.matches("href=\"/admin/orders/").count(), 0);
    let p = b.get("/admin/orders?from=yesterday").await;
    assert_eq!(p.status, 400);
    stack.shutdown().await;
}
