//! End-to-end tests of the storefront's pages in a real headless Chromium
//! (tests/common/browser.rs), through the router on the store's own domain,
//! as shoppers see them on a desktop and on a phone: from the home page
//! through search, filters, a product, the cart and checkout to the order,
//! with the gateway's card form and its test cards.
//!
//! Every page a journey visits is checked with axe-core and must have no
//! serious or critical violation. The journeys save screenshots of each
//! kind of page under docs/storefront/.

mod common;

use common::browser::{store_url, Browser};
use common::shop::Shop;
use common::Stack;
use fantoccini::key::Key;
use mercato_devstack::demo_art::{picture, Shape};
use serde_json::{json, Value};
use std::future::Future;

/// Fails the test if axe-core finds a serious or critical violation on the
/// page the browser is on.
async fn assert_accessible(browser: &Browser, page: &str) {
    browser.assert_accessible(page).await;
}

/// The store the journeys shop at, and what is in it.
struct Linens {
    shop: Shop,
    /// The tee, in S and M (M has 5 units).
    tee: String,
}

async fn admin_post(stack: &Stack, shop: &Shop, path: &str, body: &Value) -> Value {
    let r = stack
        .post(&shop.host, path)
        .bearer_auth(&shop.staff)
        .json(body)
        .send()
        .await
        .expect("request");
    let status = r.status();
    let body: Value = r.json().await.expect("json");
    assert!(status.is_success(), "POST {path}: {status} {body}");
    body
}

/// The products' pictures, drawn as the demo store's are (in the order of
/// [`linens`]' products): (shape, colour, background).
const PICTURES: [(Shape, [u8; 3], [u8; 3]); 4] = [
    (Shape::Tee, [38, 70, 120], [226, 232, 240]),
    (Shape::Tote, [214, 196, 160], [240, 236, 226]),
    (Shape::Notebook, [150, 52, 60], [240, 228, 226]),
    (Shape::Mug, [244, 242, 238], [205, 214, 222]),
];

/// A stack with `handle`'s store (see [`linens`]) and `browser`, started
/// side by side while the pictures are drawn.
async fn open(handle: &str, browser: impl Future<Output = Browser>) -> (Stack, Linens, Browser) {
    let drawing: Vec<_> = PICTURES
        .into_iter()
        .map(|(shape, colour, background)| {
            tokio::task::spawn_blocking(move || picture(shape, colour, background))
        })
        .collect();
    let (stack, browser) = tokio::join!(Stack::start(1), browser);
    let mut pictures = Vec::with_capacity(drawing.len());
    for p in drawing {
        pictures.push(p.await.expect("drawing a picture"));
    }
    let store = linens(&stack, handle, pictures).await;
    (stack, store, browser)
}

/// `handle`'s store: a tee with two sizes and three other products, each
/// with its picture, a "Summer linen" collection of the three linen things
/// and a "Gifts" category.
async fn linens(stack: &Stack, handle: &str, pictures: Vec<Vec<u8>>) -> Linens {
    let shop = Shop::open(stack, handle).await;
    let products = [
        json!({
            "title": "Linen tee",
            "description": "Washed linen, cut loose.\n\nBreathes on the hottest days.",
            "vendor": "Acme",
            "product_type": "Shirt",
            "options": [{"name": "Size", "values": ["S", "M"]}],
            "variants": [
                {"sku": "TEE-S", "title": "S", "price_minor": 2500, "compare_at_minor": 3000,
                 "option_values": {"Size": "S"}, "stock": 10},
                {"sku": "TEE-M", "title": "M", "price_minor": 2600,
                 "option_values": {"Size": "M"}, "stock": 5}
            ]
        }),
        json!({
            "title": "Linen tote",
            "description": "Heavy linen with a deep inside pocket.",
            "vendor": "Fieldhouse",
            "product_type": "Bags",
            "variants": [{"sku": "TOTE", "price_minor": 3400, "stock": 8}]
        }),
        json!({
            "title": "Linen notebook",
            "description": "A5, dot grid, bound in linen.",
            "vendor": "Fieldhouse",
            "product_type": "Stationery",
            "variants": [{"sku": "NOTEBOOK", "price_minor": 1800, "compare_at_minor": 2400, "stock": 12}]
        }),
        json!({
            "title": "Stoneware mug",
            "description": "Hand-glazed, holds 350 ml.",
            "vendor": "Fieldhouse",
            "product_type": "Kitchen",
            "variants": [{"sku": "MUG", "price_minor": 1500, "stock": 3}]
        }),
    ];
    let mut ids = Vec::new();
    for (body, image) in products.iter().zip(pictures) {
        let p = admin_post(stack, &shop, "/admin/api/products", body).await;
        let id = p["id"].as_str().expect("id").to_owned();
        let alt = body["title"].as_str().expect("title");
        let r = stack
            .post(&shop.host, &format!("/admin/api/products/{id}/images"))
            .query(&[("alt", alt)])
            .bearer_auth(&shop.staff)
            .header("content-type", "image/png")
            .body(image)
            .send()
            .await
            .expect("upload");
        assert_eq!(r.status(), 201, "uploading an image");
        ids.push(id);
    }
    let collection = admin_post(
        stack,
        &shop,
        "/admin/api/collections",
        &json!({"handle": "summer-linen", "title": "Summer linen", "kind": "manual",
                "description": "Linen to wear, to carry and to write in."}),
    )
    .await;
    let collection = collection["id"].as_str().expect("collection id");
    admin_post(
        stack,
        &shop,
        &format!("/admin/api/collections/{collection}/products"),
        &json!({"product_ids": [ids[0], ids[1], ids[2]]}),
    )
    .await;
    let category = admin_post(
        stack,
        &shop,
        "/admin/api/categories",
        &json!({"handle": "gifts", "name": "Gifts"}),
    )
    .await;
    let category = category["id"].as_str().expect("category id");
    for id in &ids[1..] {
        let r = stack
            .at(
                reqwest::Method::PUT,
                &shop.host,
                &format!("/admin/api/products/{id}/categories"),
            )
            .bearer_auth(&shop.staff)
            .json(&json!({"category_ids": [category]}))
            .send()
            .await
            .expect("filing");
        assert_eq!(r.status(), 200, "filing a product in a category");
    }
    Linens {
        tee: ids[0].clone(),
        shop,
    }
}

/// Saves a screenshot of the page's top as docs/storefront/{name}.png.
async fn shot(browser: &Browser, name: &str) {
    shot_at(browser, name, None).await;
}

/// Saves a screenshot as docs/storefront/{name}.png, of the page's top or
/// with the element matching `css` in the middle, once the pictures in
/// view have loaded (none broken), without a focus ring or a caret.
async fn shot_at(browser: &Browser, name: &str, css: Option<&str>) {
    browser
        .execute(
            "if (document.activeElement) document.activeElement.blur();
             const at = arguments[0] && document.querySelector(arguments[0]);
             if (at) at.scrollIntoView({ block: 'center' }); else window.scrollTo(0, 0);",
            vec![json!(css)],
        )
        .await;
    browser
        .wait_until("the pictures in view have loaded", || async {
            browser
                .client()
                .execute(
                    "return Array.from(document.images)
                       .filter((i) => i.getBoundingClientRect().top < window.innerHeight)
                       .every((i) => i.complete && i.naturalWidth > 0);",
                    vec![],
                )
                .await
                .ok()?
                .as_bool()?
                .then_some(())
        })
        .await;
    browser
        .screenshot(format!("docs/storefront/{name}.png"))
        .await;
}

/// Fails the test if the page is wider than the browser's window (it would
/// scroll sideways on a phone).
async fn assert_fits(browser: &Browser, page: &str) {
    let overflow = browser
        .execute(
            "return document.documentElement.scrollWidth - window.innerWidth;",
            vec![],
        )
        .await;
    assert_eq!(overflow, 0, "{page} is wider than the window");
}

/// The store's orders, from its pod's database.
async fn orders(stack: &Stack, shop: &Shop) -> i64 {
    shop.count(stack, "SELECT count(*) FROM orders WHERE store_id = $1")
        .await
}

/// The text of the displayed element matching `css`.
async fn text_of(browser: &Browser, css: &str) -> String {
    browser
        .wait_for(css)
        .await
        .text()
        .await
        .unwrap_or_else(|e| panic!("the text of '{css}': {e}"))
}

/// The value of the input matching `css`.
async fn value_of(browser: &Browser, css: &str) -> String {
    browser
        .wait_for(css)
        .await
        .prop("value")
        .await
        .unwrap_or_else(|e| panic!("the value of '{css}': {e}"))
        .unwrap_or_default()
}

/// Waits until the page's address contains `part` (after a form or link
/// took the browser elsewhere).
async fn wait_for_url(browser: &Browser, part: &str) {
    browser
        .wait_until(&format!("the address contains '{part}'"), || async {
            browser.current_url().await.contains(part).then_some(())
        })
        .await;
}

/// On the product page: picks `size` and sets the quantity.
async fn choose(browser: &Browser, size: &str, quantity: u32) {
    browser.select("select[name=option0]", size).await;
    browser.fill("#quantity", &quantity.to_string()).await;
}

/// On the checkout's first step: the shopper's contact and address.
async fn fill_address(browser: &Browser) {
    browser.fill("#email", "ada@example.com").await;
    fill_address_only(browser).await;
}

/// On the checkout's first step, signed in (the account gives the email):
/// the address.
async fn fill_address_only(browser: &Browser) {
    for (field, value) in [
        ("#name", "Ada Lovelace"),
        ("#line1", "12 Orchard Lane"),
        ("#line2", "Apt 4"),
        ("#city", "Springfield"),
        ("#region", "IL"),
        ("#postal_code", "62701"),
        ("#country", "US"),
        ("#phone", "+1 217 555 0100"),
    ] {
        browser.fill(field, value).await;
    }
}

/// On the review page: the card form, filled with `number`.
async fn fill_card(browser: &Browser, number: &str) {
    browser.fill("#card-number", number).await;
    browser.fill("#card-exp", "12/30").await;
    browser.fill("#card-cvc", "123").await;
}

/// Selects what the input matching `css` holds and types `value` over it,
/// then leaves it with Tab, as a shopper changes a quantity.
async fn type_over(browser: &Browser, css: &str, value: &str) {
    let input = browser.wait_for(css).await;
    input
        .send_keys(&(Key::Control + "a"))
        .await
        .unwrap_or_else(|e| panic!("selecting '{css}': {e}"));
    input
        .send_keys(&format!("{}{value}{}", Key::Null, Key::Tab))
        .await
        .unwrap_or_else(|e| panic!("typing into '{css}': {e}"));
}

#[tokio::test]
async fn a_shopper_searches_filters_and_buys_on_a_desktop() {
    let (stack, store, b) = open("linens", Browser::desktop()).await;
    let shop = &store.shop;
    // Ada has an account at this store (made and confirmed as its mail
    // asks); she signs in on the way to paying.
    let r = common::register_customer(
        &stack,
        &shop.host,
        json!({"email": "ada@example.com", "password": "analytical engine", "first_name": "Ada"}),
        None,
    )
    .await;
    assert_eq!(r.status(), 201, "Ada's account is confirmed");

    // The home page: the collection and the new arrivals, with images.
    b.goto(&store_url(&stack, &shop.host, "/")).await;
    b.wait_for_text("New arrivals").await;
    b.wait_for_text_in(".collection-list", "Summer linen").await;
    for title in ["Linen tee", "Linen tote", "Stoneware mug"] {
        b.wait_for_text_in(".grid", title).await;
    }
    b.wait_for(".grid img[alt='Linen tee']").await;
    shot(&b, "home-desktop").await;
    assert_accessible(&b, "the home page (desktop)").await;

    // A collection from the home page.
    b.click("a.collection-tile[href='/collections/summer-linen']")
        .await;
    b.wait_for_text_in("h1", "Summer linen").await;
    b.wait_for_text("3 products").await;
    assert_accessible(&b, "a collection page (desktop)").await;
    // A category page (what the category facet and links lead to).
    b.goto(&store_url(&stack, &shop.host, "/categories/gifts"))
        .await;
    b.wait_for_text_in("h1", "Gifts").await;
    b.wait_for_text_in(".grid", "Stoneware mug").await;
    assert_accessible(&b, "a category page (desktop)").await;

    // The header's search box, which suggests as the shopper types.
    b.fill("#site-search", "linen").await;
    b.wait_for_text_in("#suggestions", "Linen tee").await;
    b.click(".search-form button[type=submit]").await;
    wait_for_url(&b, "/search?q=linen").await;
    b.wait_for_text_in("h1", "Results for “linen”").await;
    b.wait_for_text("3 products").await;
    b.wait_for(".facet-form").await;
    shot(&b, "search-desktop").await;
    assert_accessible(&b, "the search page (desktop)").await;

    // A facet: the Acme brand alone.
    b.click(".facet-form input[name=vendor][value=Acme]").await;
    b.click(".facet-form button[type=submit]").await;
    wait_for_url(&b, "vendor=Acme").await;
    b.wait_for_text("1 product").await;
    assert_eq!(b.find_all(".grid .card").await.len(), 1, "one product left");
    assert!(b
        .find(".facet-form input[name=vendor][value=Acme]")
        .await
        .is_selected()
        .await
        .expect("checked"));
    assert!(!b.text().await.contains("Linen tote"));
    assert_accessible(&b, "the search page with a filter (desktop)").await;

    // The product: size M, two of them.
    b.click(&format!(
        ".grid a.card-link[href='/products/{}']",
        store.tee
    ))
    .await;
    b.wait_for_text_in("h1.product-title", "Linen tee").await;
    b.wait_for(".gallery-main img[alt='Linen tee']").await;
    assert_eq!(text_of(&b, "[data-price]").await, "$25.00", "S first");
    choose(&b, "M", 2).await;
    // The picker follows the choice: M's price, no sale.
    b.wait_for_text_in("[data-price]", "$26.00").await;
    assert!(!b
        .find("[data-compare-at]")
        .await
        .is_displayed()
        .await
        .expect("shown"));
    shot(&b, "product-desktop").await;
    assert_accessible(&b, "a product page (desktop)").await;
    b.click("[data-add]").await;

    // The cart: two of M, then three.
    wait_for_url(&b, "/cart").await;
    b.wait_for_text_in(".cart-line", "Linen tee").await;
    assert_eq!(text_of(&b, ".cart-line .variant-title").await, "M");
    assert_eq!(value_of(&b, "input.qty").await, "2");
    b.wait_for_text_in(".cart-line", "$52.00").await;
    b.wait_for_text_in("[data-cart-count]", "(2)").await;
    // With script, the quantities submit themselves.
    let update = b.find("button[form=cart-form]").await;
    assert!(!update.is_displayed().await.expect("shown"));
    type_over(&b, "input.qty", "3").await;
    b.wait_for_text_in(".cart-line", "$78.00").await;
    assert_eq!(value_of(&b, "input.qty").await, "3");
    b.wait_for_text_in("[data-cart-count]", "(3)").await;
    b.wait_for_text_in(".totals", "$78.00").await;
    shot(&b, "cart-desktop").await;
    assert_accessible(&b, "the cart (desktop)").await;

    // Checkout, where Ada signs in: the cart she filled as a guest comes
    // along, and the checkout knows her email.
    b.click(".cart-summary a[href='/checkout']").await;
    wait_for_url(&b, "/checkout").await;
    b.click("a[href='/account/login?next=/checkout']").await;
    wait_for_url(&b, "/account/login").await;
    b.wait_for_text_in("h1", "Sign in").await;
    shot(&b, "login-desktop").await;
    assert_accessible(&b, "the sign-in page (desktop)").await;
    b.fill("#email", "ada@example.com").await;
    b.fill("#password", "a wrong password").await;
    b.click(".account-form button[type=submit]").await;
    b.wait_for_text("do not match an account").await;
    assert_accessible(&b, "the sign-in page with an error (desktop)").await;
    b.fill("#password", "analytical engine").await;
    b.click(".account-form button[type=submit]").await;
    b.wait_for_text("Signed in as").await;
    assert!(b.current_url().await.ends_with("/checkout"));
    b.wait_for_text_in(".signed-in-as", "ada@example.com").await;
    b.wait_for_text_in(".checkout-summary", "3 × Linen tee (M)")
        .await;
    fill_address_only(&b).await;
    shot(&b, "checkout-desktop").await;
    assert_accessible(&b, "the checkout's information step (desktop)").await;
    b.click(".checkout-form button[type=submit]").await;
    wait_for_url(&b, "/checkout/review?d=").await;
    b.wait_for_text_in(".review-box", "Ada Lovelace, 12 Orchard Lane, Apt 4")
        .await;
    b.wait_for_text("Standard shipping").await;
    b.wait_for_text_in("[data-pay]", "Pay $").await;
    fill_card(&b, "4242424242424242").await;
    shot(&b, "review-desktop").await;
    assert_accessible(&b, "the checkout's review step (desktop)").await;
    let total = text_of(&b, "[data-total]").await;
    assert!(
        text_of(&b, "[data-pay]").await.ends_with(&total),
        "the button pays the total shown"
    );
    assert_eq!(orders(&stack, shop).await, 0);
    b.click("[data-pay]").await;

    // The gateway takes the card and sends the shopper back: the order.
    b.wait_for_text_in("h1", "Thank you for your order").await;
    wait_for_url(&b, "?token=").await;
    assert_eq!(text_of(&b, "[data-order-status]").await, "paid");
    b.wait_for_text_in(".checkout-summary", "3 × Linen tee (M)")
        .await;
    b.wait_for_text_in(".checkout-summary", &total).await;
    b.wait_for_text("ada@example.com").await;
    // The cart is spent.
    assert_eq!(text_of(&b, ".cart-link").await, "Cart");
    shot(&b, "order-desktop").await;
    assert_accessible(&b, "an order page (desktop)").await;
    assert_eq!(orders(&stack, shop).await, 1);

    // Ada finds the order in her account, with the address it went to.
    let number = shop
        .count(&stack, "SELECT max(number) FROM orders WHERE store_id = $1")
        .await;
    b.click(".account-link").await;
    wait_for_url(&b, "/account").await;
    b.wait_for_text_in(".orders-table", &format!("#{number}"))
        .await;
    b.wait_for_text_in(".orders-table", &total).await;
    b.wait_for_text_in(".account-side", "12 Orchard Lane").await;
    shot(&b, "account-desktop").await;
    assert_accessible(&b, "the account (desktop)").await;
    b.click(&format!(".orders-table a[href='/orders/{number}']"))
        .await;
    b.wait_for_text_in("h1", &format!("Order #{number}")).await;
    assert_accessible(&b, "an order page from the account (desktop)").await;
    b.goto(&store_url(&stack, &shop.host, "/account/addresses"))
        .await;
    b.wait_for_text_in(".address-list", "12 Orchard Lane").await;
    assert_accessible(&b, "the address book (desktop)").await;
    // Signed out, the account asks to sign in again.
    b.click(".account-nav button[type=submit]").await;
    b.wait_for_text("New arrivals").await;
    b.goto(&store_url(&stack, &shop.host, "/account")).await;
    b.wait_for_text_in("h1", "Sign in").await;

    b.close().await;
    stack.shutdown().await;
}

#[tokio::test]
async fn a_declined_card_is_shown_on_the_review_page_and_nothing_is_ordered() {
    let (stack, store, b) = open("declines", Browser::desktop()).await;
    let shop = &store.shop;

    b.goto(&store_url(
        &stack,
        &shop.host,
        &format!("/products/{}", store.tee),
    ))
    .await;
    choose(&b, "M", 1).await;
    b.click("[data-add]").await;
    wait_for_url(&b, "/cart").await;
    b.click(".cart-summary a[href='/checkout']").await;
    fill_address(&b).await;
    b.click(".checkout-form button[type=submit]").await;
    wait_for_url(&b, "/checkout/review?d=").await;
    fill_card(&b, "4000000000000002").await;
    b.click("[data-pay]").await;

    // Back on the review page, with why, and the card form to try again.
    let notice = b.wait_for_text_in("[data-problem]", "declined").await;
    let said = notice.text().await.expect("text");
    assert!(
        !said.contains("card_declined"),
        "the shopper is not shown the API's codes: {said}"
    );
    assert_eq!(
        notice.attr("role").await.expect("role").as_deref(),
        Some("alert")
    );
    wait_for_url(&b, "/checkout/review?d=").await;
    b.wait_for("[data-pay]").await;
    assert_eq!(value_of(&b, "#card-number").await, "", "no card kept");
    b.wait_for_text_in(".checkout-summary", "1 × Linen tee (M)")
        .await;
    b.wait_for_text_in("[data-cart-count]", "(1)").await;
    shot(&b, "review-declined-desktop").await;
    assert_accessible(&b, "the review step after a declined card (desktop)").await;
    assert_eq!(orders(&stack, shop).await, 0, "nothing is ordered");

    // A page that is not there is a page too, and an accessible one.
    b.goto(&store_url(&stack, &shop.host, "/products/none-such"))
        .await;
    b.wait_for_text("Page not found").await;
    assert_accessible(&b, "the page-not-found page (desktop)").await;

    b.close().await;
    stack.shutdown().await;
}

#[tokio::test]
async fn a_shopper_buys_on_a_phone() {
    let (stack, store, b) = open("phoneshop", Browser::phone()).await;
    let shop = &store.shop;

    b.goto(&store_url(&stack, &shop.host, "/")).await;
    b.wait_for_text_in(".grid", "Linen tee").await;
    b.wait_for(".grid img[alt='Linen tee']").await;
    assert_fits(&b, "the home page").await;
    shot(&b, "home-phone").await;
    assert_accessible(&b, "the home page (phone)").await;

    b.click(&format!(
        ".grid a.card-link[href='/products/{}']",
        store.tee
    ))
    .await;
    b.wait_for_text_in("h1.product-title", "Linen tee").await;
    choose(&b, "M", 1).await;
    b.wait_for_text_in("[data-price]", "$26.00").await;
    assert_fits(&b, "the product page").await;
    shot(&b, "product-phone").await;
    assert_accessible(&b, "a product page (phone)").await;
    b.click("[data-add]").await;

    wait_for_url(&b, "/cart").await;
    b.wait_for_text_in(".cart-line", "$26.00").await;
    b.wait_for_text_in("[data-cart-count]", "(1)").await;
    assert_fits(&b, "the cart").await;
    shot(&b, "cart-phone").await;
    assert_accessible(&b, "the cart (phone)").await;

    b.click(".cart-summary a[href='/checkout']").await;
    fill_address(&b).await;
    assert_fits(&b, "the checkout's information step").await;
    assert_accessible(&b, "the checkout's information step (phone)").await;
    b.click(".checkout-form button[type=submit]").await;
    wait_for_url(&b, "/checkout/review?d=").await;
    b.wait_for_text("Standard shipping").await;
    fill_card(&b, "4242424242424242").await;
    assert_fits(&b, "the review step").await;
    shot_at(&b, "review-phone", Some(".card-form")).await;
    assert_accessible(&b, "the checkout's review step (phone)").await;
    b.click("[data-pay]").await;

    b.wait_for_text_in("h1", "Thank you for your order").await;
    assert_eq!(text_of(&b, "[data-order-status]").await, "paid");
    assert_fits(&b, "the order page").await;
    assert_accessible(&b, "an order page (phone)").await;
    assert_eq!(orders(&stack, shop).await, 1);

    // The account's forms fit a phone too.
    for (path, heading) in [
        ("/account/register", "Create an account"),
        ("/account/reset", "Reset your password"),
        ("/account/reset-password?token=x", "Choose a new password"),
        ("/account/confirm?token=x", "Confirm your account"),
        ("/account/login", "Sign in"),
    ] {
        b.goto(&store_url(&stack, &shop.host, path)).await;
        b.wait_for_text_in("h1", heading).await;
        assert_fits(&b, path).await;
        assert_accessible(&b, &format!("{path} (phone)")).await;
    }
    shot(&b, "login-phone").await;

    b.close().await;
    stack.shutdown().await;
}

/// `html` as a `data:` URL.
fn data_url(html: &str) -> String {
    let mut url = String::from("data:text/html;charset=utf-8,");
    for b in html.bytes() {
        if b.is_ascii_alphanumeric() {
            url.push(char::from(b));
        } else {
            url.push_str(&format!("%{b:02X}"));
        }
    }
    url
}

/// The harness itself, on a page of its own (no stack): typing, clicking,
/// waiting for text, and axe-core finding what it must.
#[tokio::test]
async fn the_browser_types_clicks_and_finds_accessibility_violations() {
    let page = data_url(
        r#"<!doctype html><html lang="en"><head><title>Harness</title></head><body><main>
        <h1>Harness</h1><img src="missing.png"><input id="q">
        <button id="go" onclick="setTimeout(() => {
          document.getElementById('out').textContent = 'Hello ' + document.getElementById('q').value;
        }, 100)">Greet</button><p id="out"></p></main></body></html>"#,
    );
    let browser = Browser::desktop().await;
    browser.goto(&page).await;
    browser.fill("#q", "Ada").await;
    browser.click("#go").await;
    browser.wait_for_text_in("#out", "Hello Ada").await;

    let violations = browser.axe().await;
    let ids: Vec<&str> = violations.iter().map(|v| v.id.as_str()).collect();
    assert!(ids.contains(&"image-alt"), "{ids:?}");
    assert!(ids.contains(&"label"), "{ids:?}");
    let img = violations
        .iter()
        .find(|v| v.id == "image-alt")
        .expect("image-alt");
    assert_eq!(img.impact, "critical");
    assert_eq!(img.targets, ["img"]);
    browser.close().await;
}
