//! The platform's pages in a real headless Chromium (tests/common/browser.rs)
//! through the router: a merchant reads the landing page, signs up on the
//! form (the handle checked as they type), lands in the new store's admin
//! on the store's domain, adds a product with two variants, stock and a
//! picture and finds it on the storefront; a shopper buys it in a second
//! browser; the merchant sees the order on the dashboard, refunds it and
//! sees the dashboard change; then signs out and signs in again from the
//! platform's sign-in page. axe-core checks every page; the journey saves
//! screenshots under docs/platform/.

mod common;

use common::browser::{store_url, Browser};
use common::{Stack, PLATFORM};

#[tokio::test]
async fn a_merchant_signs_up_lands_in_the_admin_and_signs_in_again_from_the_platform() {
    let (stack, b) = tokio::join!(Stack::start(1), Browser::desktop());
    // A store whose handle the merchant will try first.
    stack.create_store("teashop").await;

    b.goto(&store_url(&stack, PLATFORM, "/")).await;
    b.wait_for_text_in("h1", "Your shop").await;
    b.screenshot("docs/platform/landing-desktop.png").await;
    b.assert_accessible("the landing page").await;
    b.click(".hero-actions a[href='/signup']").await;
    b.wait_for_text_in("h1", "Create your store").await;

    b.fill("#email", "ada@teashop.example").await;
    b.fill("#password", "correct horse battery").await;
    b.fill("#store_name", "Tea Shop").await;
    // The handle made from the name is taken: the form says so as it goes.
    b.wait_for_text_in("#handle-status", "tea-shop is available")
        .await;
    b.fill("#handle", "teashop").await;
    b.wait_for_text_in("#handle-status", "teashop: this handle is taken")
        .await;
    b.fill("#handle", "adas-teas").await;
    b.wait_for_text_in("#handle-status", "adas-teas is available")
        .await;
    b.select("#currency", "EUR").await;
    b.screenshot("docs/platform/signup-desktop.png").await;
    b.assert_accessible("the signup form").await;
    b.click(".stack-form button[type=submit]").await;

    // Handed over to the new store's admin, on the store's own domain.
    b.wait_for_text_in("h1", "Dashboard").await;
    let url = b.current_url().await;
    assert!(
        url.starts_with(&format!("http://adas-teas.{PLATFORM}:")) && url.ends_with("/admin"),
        "{url}"
    );
    b.wait_for_text_in(".admin-brand", "Tea Shop").await;
    // The owner: the staff page is theirs.
    b.wait_for("nav a[href='/admin/settings/staff']").await;
    b.assert_accessible("the new store's dashboard").await;
    b.wait_for_text_in("[data-orders-30]", "0").await;

    // A product with two colours, stock for one, and a picture.
    b.click("nav a[href='/admin/products']").await;
    b.click("a[href='/admin/products/new']").await;
    b.wait_for_text_in("h1", "New product").await;
    b.fill("#title", "Tea tin").await;
    b.fill("#description", "Keeps leaves dry.\nHolds 100 g.")
        .await;
    b.fill("#price", "12.00").await;
    b.fill("#sku", "TIN").await;
    b.fill("#stock", "0").await;
    b.fill("#option_name", "Colour").await;
    b.fill("#option_values", "Green, Red").await;
    b.select("#status", "active").await;
    b.click(".product-form button[type=submit]").await;
    b.wait_for_text("The product was created").await;
    b.wait_for("input[data-sku='TIN-RED']").await;
    b.fill("input[data-sku='TIN-RED']", "5").await;
    b.click("form.stock-form:has(input[data-sku='TIN-RED']) button")
        .await;
    b.wait_for_text("The stock was saved").await;
    let picture = mercato_devstack::demo_art::picture(
        mercato_devstack::demo_art::Shape::Mug,
        [170, 40, 40],
        [236, 232, 224],
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("tea-tin.png");
    std::fs::write(&file, picture).expect("picture");
    b.fill("#alt", "A red tea tin").await;
    b.find("#image")
        .await
        .send_keys(file.to_str().expect("path"))
        .await
        .expect("choosing the file");
    b.click(".image-form button[type=submit]").await;
    b.wait_for_text("The image was added").await;
    let product = b
        .current_url()
        .await
        .rsplit('/')
        .next()
        .expect("the product's id")
        .split('?')
        .next()
        .expect("id")
        .to_owned();
    let product_page = store_url(
        &stack,
        &format!("adas-teas.{PLATFORM}"),
        &format!("/products/{product}"),
    );
    b.goto(&product_page).await;
    b.wait_for_text_in("h1.product-title", "Tea tin").await;
    b.wait_for(".gallery-main img[alt='A red tea tin']").await;

    // A shopper buys the red tin in a browser of their own.
    let shopper = Browser::desktop().await;
    shopper.goto(&product_page).await;
    shopper.select("select[name=option0]", "Red").await;
    shopper.fill("#quantity", "2").await;
    shopper.click("[data-add]").await;
    shopper
        .wait_until("the cart opens", || async {
            shopper.current_url().await.contains("/cart").then_some(())
        })
        .await;
    shopper.click(".cart-summary a[href='/checkout']").await;
    for (field, value) in [
        ("#email", "grace@example.com"),
        ("#name", "Grace Hopper"),
        ("#line1", "1 Harbour Road"),
        ("#city", "Arlington"),
        ("#region", "VA"),
        ("#postal_code", "22201"),
        ("#country", "US"),
    ] {
        shopper.fill(field, value).await;
    }
    shopper.click(".checkout-form button[type=submit]").await;
    shopper.wait_for("#card-number").await;
    shopper.fill("#card-number", "4242424242424242").await;
    shopper.fill("#card-exp", "12/30").await;
    shopper.fill("#card-cvc", "123").await;
    shopper.click("[data-pay]").await;
    shopper
        .wait_for_text_in("h1", "Thank you for your order")
        .await;
    shopper.close().await;

    // The merchant sees it arrive, refunds it, and the dashboard follows.
    b.goto(&store_url(
        &stack,
        &format!("adas-teas.{PLATFORM}"),
        "/admin",
    ))
    .await;
    b.wait_for_text_in("[data-orders-30]", "1").await;
    b.wait_for_text("1 order to ship").await;
    let net_before = b.find("[data-net-30]").await.text().await.expect("text");
    assert_ne!(net_before, "€0.00", "the order's sales count");
    b.click("nav a[href='/admin/orders']").await;
    b.wait_for_text_in(".table", "grace@example.com").await;
    b.click(".table a[href^='/admin/orders/']").await;
    b.wait_for_text_in(".table", "Tea tin").await;
    b.fill("#refund-reason", "Dented lid").await;
    b.click(".refund-form button[type=submit]").await;
    b.wait_for_text("The order was refunded").await;
    b.click("nav a[href='/admin']").await;
    b.wait_for_text_in("h1", "Dashboard").await;
    b.wait_for_text_in("[data-net-30]", "€0.00").await;
    b.click("nav form[action='/admin/logout'] button").await;
    b.wait_for_text_in("h1", "Sign in to Tea Shop").await;

    // Back through the platform's sign-in: one store, handed over at once.
    b.goto(&store_url(&stack, PLATFORM, "/login")).await;
    b.wait_for_text_in("h1", "Sign in to your store").await;
    b.fill("#email", "ada@teashop.example").await;
    b.fill("#password", "not my password").await;
    b.click(".stack-form button[type=submit]").await;
    b.wait_for_text_in("[role=alert]", "do not match").await;
    b.screenshot("docs/platform/login-desktop.png").await;
    b.assert_accessible("the sign-in page with its refusal")
        .await;
    b.fill("#password", "correct horse battery").await;
    b.click(".stack-form button[type=submit]").await;
    b.wait_for_text_in("h1", "Dashboard").await;
    assert!(b
        .current_url()
        .await
        .starts_with(&format!("http://adas-teas.{PLATFORM}:")));

    // The store's name and its own domain, on the platform's page the
    // admin's settings link to (the sign-in opened the platform session).
    b.click("nav a[href='/admin/settings']").await;
    b.wait_for_text_in("h1", "Settings").await;
    b.click("a[href*='/stores/']").await;
    b.wait_for_text_in("h2", "Store name").await;
    assert!(b
        .current_url()
        .await
        .starts_with(&format!("http://{PLATFORM}:")));
    b.fill("#name", "Ada's Teas").await;
    b.click("form[action$='/name'] button[type=submit]").await;
    b.wait_for_text("The name is saved").await;
    b.fill("#domain", "teas.example").await;
    b.click("form[action$='/domains'] button[type=submit]")
        .await;
    b.wait_for_text("The domain is added").await;
    b.wait_for("tr[data-domain='teas.example']").await;
    b.screenshot("docs/platform/store-desktop.png").await;
    b.assert_accessible("a store's name and domains").await;
    b.click("nav a[href='/stores']").await;
    b.wait_for_text_in("h1", "Your stores").await;
    b.wait_for_text_in("[data-store-name]", "Ada's Teas").await;
    b.screenshot("docs/platform/stores-desktop.png").await;
    b.assert_accessible("the merchant's stores").await;
    // The storefront says the new name.
    b.goto(&store_url(&stack, &format!("adas-teas.{PLATFORM}"), "/"))
        .await;
    b.wait_for_text("Ada's Teas").await;
    // Signing out of the platform.
    b.goto(&store_url(&stack, PLATFORM, "/stores")).await;
    b.click("nav form[action='/logout'] button").await;
    b.wait_for_text_in("h1", "Your shop").await;
    b.goto(&store_url(&stack, PLATFORM, "/stores")).await;
    b.wait_for_text_in("h1", "Sign in to your store").await;
    b.close().await;
    stack.shutdown().await;
}
