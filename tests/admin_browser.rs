//! The merchant's admin in a real headless Chromium (tests/common/browser.rs)
//! through the router on the store's domain: a staff member signs in, reads
//! the dashboard, finds an order, refunds it and sees the dashboard change,
//! then adds a product with two variants, sets its stock and finds it on
//! the storefront.
//! axe-core checks every page (no serious or critical violation); the
//! journey saves screenshots under docs/admin/.

mod common;

use common::browser::{store_url, Browser};
use common::shop::{Shop, CARD_OK};
use common::Stack;
use serde_json::Value;

#[tokio::test]
async fn a_staff_member_signs_in_refunds_an_order_and_adds_a_product_that_sells() {
    let (stack, b) = tokio::join!(Stack::start(1), Browser::desktop());
    // Ada signs up for a store (the owner) and hires Eve (staff).
    let shop = Shop::signed_up(
        &stack,
        "lampshop",
        "Lampshop",
        ("ada@lampshop.example", "correct horse battery"),
    )
    .await;
    let (_, variant) = shop.product(&stack, "LAMP", 4500, 20).await;
    let mut orders = Vec::new();
    for i in 0..3 {
        let cart = shop.cart(&stack, &[(variant.as_str(), 1 + i)]).await;
        let r = shop
            .checkout(&stack, &cart, &format!("k{i}"), CARD_OK)
            .send()
            .await
            .expect("checkout");
        assert_eq!(r.status(), 201);
        orders.push(r.json::<Value>().await.expect("json"));
    }
    shop.staff_member(&stack, "eve@lampshop.example", "eve's long password")
        .await;
    // The shopper opens an account: their guest orders become theirs.
    common::register_customer(
        &stack,
        &shop.host,
        serde_json::json!({"email": "shopper@example.com", "password": "shopper's long password",
            "first_name": "Ada", "last_name": "Shopper"}),
        None,
    )
    .await;

    // The invitation mail's page.
    b.goto(&store_url(
        &stack,
        &shop.host,
        "/admin/invitations/accept?token=x",
    ))
    .await;
    b.wait_for_text_in("h1", "Join the staff of Lampshop").await;
    b.assert_accessible("the invitation's page").await;

    b.goto(&store_url(&stack, &shop.host, "/admin")).await;
    b.wait_for_text_in("h1", "Sign in to Lampshop").await;
    b.screenshot("docs/admin/login-desktop.png").await;
    b.assert_accessible("the admin's sign-in page").await;
    b.fill("#email", "eve@lampshop.example").await;
    b.fill("#password", "eve's long password").await;
    b.click(".stack-form button[type=submit]").await;

    b.wait_for_text_in("h1", "Dashboard").await;
    b.wait_for_text_in("[data-orders-30]", "3").await;
    b.wait_for_text("3 orders to ship").await;
    b.wait_for("svg.chart").await;
    b.screenshot("docs/admin/dashboard-desktop.png").await;
    b.assert_accessible("the dashboard").await;
    let net_before = b.find("[data-net-30]").await.text().await.expect("text");

    b.click("nav a[href='/admin/orders']").await;
    b.wait_for_text_in("h1", "Orders").await;
    b.wait_for_text_in(".table", &format!("#{}", orders[2]["number"]))
        .await;
    b.screenshot("docs/admin/orders-desktop.png").await;
    b.assert_accessible("the orders").await;
    b.select("#status", "paid").await;
    b.click(".filter-form button[type=submit]").await;
    b.wait_until("the filter is in the address", || async {
        b.current_url().await.contains("status=paid").then_some(())
    })
    .await;

    let id = orders[2]["id"].as_str().expect("id");
    b.click(&format!(".table a[href='/admin/orders/{id}']"))
        .await;
    b.wait_for_text_in("h1", &format!("Order #{}", orders[2]["number"]))
        .await;
    b.screenshot("docs/admin/order-desktop.png").await;
    b.assert_accessible("an order").await;
    b.fill("#refund-reason", "Arrived broken").await;
    b.click(".refund-form button[type=submit]").await;
    b.wait_for_text("The order was refunded").await;
    b.wait_for_text_in("[data-order-status]", "refunded").await;
    b.wait_for_text_in(".history", "Arrived broken").await;
    b.assert_accessible("a refunded order").await;

    b.click("nav a[href='/admin']").await;
    b.wait_for_text_in("h1", "Dashboard").await;
    b.wait_until("the net sales drop by the refund", || async {
        let now = b.find("[data-net-30]").await.text().await.ok()?;
        (now != net_before).then_some(())
    })
    .await;
    let refunded = orders[2]["total_minor"].as_i64().expect("total");
    let total: i64 = orders
        .iter()
        .map(|o| o["total_minor"].as_i64().expect("total"))
        .sum();
    let net = total - refunded;
    assert_eq!(
        b.find("[data-net-30]").await.text().await.expect("text"),
        format!("${}.{:02}", net / 100, net % 100)
    );

    // A new product with two colours, its stock, and the storefront.
    b.click("nav a[href='/admin/products']").await;
    b.wait_for_text_in("h1", "Products").await;
    b.click("a[href='/admin/products/new']").await;
    b.wait_for_text_in("h1", "New product").await;
    b.fill("#title", "Desk lamp").await;
    b.fill("#description", "Warm light, brass arm.").await;
    b.fill("#price", "39.50").await;
    b.fill("#sku", "DESK").await;
    b.fill("#stock", "4").await;
    b.fill("#option_name", "Colour").await;
    b.fill("#option_values", "Black, White").await;
    b.select("#status", "active").await;
    b.screenshot("docs/admin/product-new-desktop.png").await;
    b.assert_accessible("the new product form").await;
    b.click(".product-form button[type=submit]").await;
    b.wait_for_text("The product was created").await;
    b.wait_for("input[data-sku='DESK-WHITE']").await;
    b.fill("input[data-sku='DESK-WHITE']", "11").await;
    b.click("form.stock-form:has(input[data-sku='DESK-WHITE']) button")
        .await;
    b.wait_for_text("The stock was saved").await;
    // A picture, chosen as a file.
    let picture = mercato_devstack::demo_art::picture(
        mercato_devstack::demo_art::Shape::Mug,
        [60, 60, 66],
        [236, 232, 224],
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("desk-lamp.png");
    std::fs::write(&file, picture).expect("picture");
    b.fill("#alt", "A black desk lamp").await;
    b.find("#image")
        .await
        .send_keys(file.to_str().expect("path"))
        .await
        .expect("choosing the file");
    b.click(".image-form button[type=submit]").await;
    b.wait_for_text("The image was added").await;
    b.wait_for(".image-list img[alt='A black desk lamp']").await;
    b.screenshot("docs/admin/product-desktop.png").await;
    b.assert_accessible("a product").await;
    b.click("nav a[href='/admin/products']").await;
    b.wait_for_text_in(".table", "Desk lamp").await;
    b.wait_for_text_in(".table", "15").await;
    b.screenshot("docs/admin/products-desktop.png").await;
    b.assert_accessible("the products").await;
    let id = b
        .find(".table a")
        .await
        .attr("href")
        .await
        .expect("href")
        .expect("a link")
        .trim_start_matches("/admin/products/")
        .to_owned();
    b.goto(&store_url(&stack, &shop.host, &format!("/products/{id}")))
        .await;
    b.wait_for_text_in("h1.product-title", "Desk lamp").await;
    b.wait_for_text_in("[data-price]", "$39.50").await;
    b.wait_for(".gallery-main img[alt='A black desk lamp']")
        .await;
    b.goto(&store_url(&stack, &shop.host, "/admin")).await;
    b.wait_for_text_in("h1", "Dashboard").await;

    // The customers, and the shopper's page with their orders.
    b.click("nav a[href='/admin/customers']").await;
    b.wait_for_text_in("h1", "Customers").await;
    b.wait_for_text_in(".table", "shopper@example.com").await;
    b.screenshot("docs/admin/customers-desktop.png").await;
    b.assert_accessible("the customers").await;
    b.click(".table a").await;
    b.wait_for_text_in("h1", "Ada Shopper").await;
    b.wait_for_text_in(".table", &format!("#{}", orders[0]["number"]))
        .await;
    b.screenshot("docs/admin/customer-desktop.png").await;
    b.assert_accessible("a customer").await;

    // The reports: the orders so far, by day and by month.
    b.click("nav a[href='/admin/reports']").await;
    b.wait_for_text_in("h1", "Reports").await;
    b.wait_for_text_in("[data-report-orders]", &orders.len().to_string())
        .await;
    b.select("#by", "month").await;
    b.click(".filter-form button[type=submit]").await;
    b.wait_for_text("Sales by month").await;
    b.screenshot("docs/admin/reports-desktop.png").await;
    b.assert_accessible("the reports").await;
    b.goto(&store_url(&stack, &shop.host, "/admin")).await;
    b.wait_for_text_in("h1", "Dashboard").await;

    // Eve may not manage the staff: no link, and the page refuses her.
    assert!(b
        .find_all("nav a[href='/admin/settings/staff']")
        .await
        .is_empty());
    b.goto(&store_url(&stack, &shop.host, "/admin/settings/staff"))
        .await;
    b.wait_for_text("Only the store's owner may manage its staff.")
        .await;
    b.assert_accessible("a refusal").await;
    b.goto(&store_url(&stack, &shop.host, "/admin")).await;
    b.click(".admin-header button[type=submit]").await;
    b.wait_for_text_in("h1", "Sign in to").await;

    // Ada, the owner, has the staff page: Eve is on it.
    b.fill("#email", "ada@lampshop.example").await;
    b.fill("#password", "correct horse battery").await;
    b.click(".stack-form button[type=submit]").await;
    b.wait_for_text_in("h1", "Dashboard").await;
    b.click("nav a[href='/admin/settings/staff']").await;
    b.wait_for_text_in(".members", "eve@lampshop.example").await;
    b.wait_for_text_in(".members", "ada@lampshop.example (you)")
        .await;
    b.screenshot("docs/admin/staff-desktop.png").await;
    b.assert_accessible("the staff page").await;
    b.click(".admin-header button[type=submit]").await;
    b.wait_for_text_in("h1", "Sign in to").await;
    b.close().await;
    stack.shutdown().await;
}
