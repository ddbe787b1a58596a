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

use common::browser::{store_url, AxeViolation, Browser};
use common::shop::Shop;
use common::Stack;
use fantoccini::key::Key;
use serde_json::{json, Value};

/// Axe-core's serious and critical findings on the page, printed.
fn report(page: &str, violations: &[AxeViolation]) {
    println!("axe on {page}: {} serious/critical", violations.len());
    for v in violations {
        println!("  {v}");
    }
}

/// Fails the test if axe-core finds a serious or critical violation on the
/// page the browser is on.
async fn assert_accessible(browser: &Browser, page: &str) {
    let violations = browser.axe().await;
    report(page, &violations);
    assert!(
        violations.is_empty(),
        "axe-core finds serious or critical violations on {page} ({}):\n{}",
        browser.current_url().await,
        violations
            .iter()
            .map(|v| format!("  {v}"))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// A PNG of `width`×`height` RGB pixels, `pixel(x, y)` each: zlib's stored
/// (uncompressed) blocks, so that it needs no image crate.
fn png(width: u32, height: u32, pixel: impl Fn(u32, u32) -> [u8; 3]) -> Vec<u8> {
    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = !0u32;
        for &b in bytes {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }
    fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
        out.extend_from_slice(&u32::try_from(data.len()).expect("chunk").to_be_bytes());
        let start = out.len();
        out.extend_from_slice(kind);
        out.extend_from_slice(data);
        let crc = crc32(&out[start..]);
        out.extend_from_slice(&crc.to_be_bytes());
    }
    // Scanlines, each after its filter byte (0: none).
    let mut raw = Vec::new();
    for y in 0..height {
        raw.push(0);
        for x in 0..width {
            raw.extend_from_slice(&pixel(x, y));
        }
    }
    let mut zlib = vec![0x78, 0x01];
    let blocks: Vec<&[u8]> = raw.chunks(0xFFFF).collect();
    for (i, block) in blocks.iter().enumerate() {
        zlib.push(u8::from(i + 1 == blocks.len()));
        let len = u16::try_from(block.len()).expect("block");
        zlib.extend_from_slice(&len.to_le_bytes());
        zlib.extend_from_slice(&(!len).to_le_bytes());
        zlib.extend_from_slice(block);
    }
    let (mut a, mut b) = (1u32, 0u32);
    for &byte in &raw {
        a = (a + u32::from(byte)) % 65_521;
        b = (b + a) % 65_521;
    }
    zlib.extend_from_slice(&((b << 16) | a).to_be_bytes());

    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut header = Vec::new();
    header.extend_from_slice(&width.to_be_bytes());
    header.extend_from_slice(&height.to_be_bytes());
    // 8 bits a channel, RGB, deflate, adaptive filters, not interlaced.
    header.extend_from_slice(&[8, 2, 0, 0, 0]);
    chunk(&mut out, b"IHDR", &header);
    chunk(&mut out, b"IDAT", &zlib);
    chunk(&mut out, b"IEND", &[]);
    out
}

/// A product shot: a soft `background` with a round `object` in the middle
/// and its shadow beneath.
fn product_shot(background: [u8; 3], object: [u8; 3]) -> Vec<u8> {
    const SIZE: u32 = 360;
    let centre = f64::from(SIZE) / 2.0;
    png(SIZE, SIZE, |x, y| {
        let (fx, fy) = (f64::from(x) - centre, f64::from(y) - centre);
        let shade =
            |c: [u8; 3], by: f64| c.map(|v| (f64::from(v) * by).round().clamp(0.0, 255.0) as u8);
        if fx.hypot(fy + 10.0) < 100.0 {
            // Lit from the top left.
            shade(object, (1.0 - (fx + fy) / 900.0).clamp(0.75, 1.2))
        } else if (fx / 110.0).powi(2) + ((fy - 112.0) / 14.0).powi(2) < 1.0 {
            shade(background, 0.85)
        } else {
            // A gentle vertical gradient.
            shade(background, 1.0 - f64::from(y) / f64::from(SIZE) * 0.08)
        }
    })
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

/// `handle`'s store: a tee with two sizes and three other products, each
/// with an image, a "Summer linen" collection and a "Kitchen" category.
async fn linens(stack: &Stack, handle: &str) -> Linens {
    let shop = Shop::open(stack, handle).await;
    let products = [
        (
            json!({
                "title": "Linen tee",
                "description": "Washed linen, cut loose.\n\nBreathes on the hottest days.",
                "vendor": "Acme",
                "product_type": "Shirt",
                "options": [{"name": "Size", "values": ["S", "M"]}],
                "variants": [
                    {"sku": "TEE-S", "title": "S", "price_minor": 2500, "compare_at_minor": 3000,
                     "option_values": {"Size": "S"}, "stock": 10},
                    {"sku": "TEE-M", "title": "M", "price_minor": 2600, "option_values": {"Size": "M"}, "stock": 5}
                ]
            }),
            product_shot([0xE6, 0xEC, 0xF5], [0x4A, 0x6F, 0xA5]),
        ),
        (
            json!({
                "title": "Linen apron",
                "description": "Heavy linen with deep pockets.",
                "vendor": "Fieldhouse",
                "product_type": "Kitchen",
                "variants": [{"sku": "APRON", "price_minor": 3400, "stock": 8}]
            }),
            product_shot([0xF3, 0xEE, 0xE4], [0xB9, 0x8B, 0x5E]),
        ),
        (
            json!({
                "title": "Linen napkins, set of 4",
                "description": "Soft from the first wash.",
                "vendor": "Fieldhouse",
                "product_type": "Kitchen",
                "variants": [{"sku": "NAPKINS", "price_minor": 1800, "compare_at_minor": 2400, "stock": 12}]
            }),
            product_shot([0xEA, 0xF1, 0xE8], [0x6E, 0x8F, 0x65]),
        ),
        (
            json!({
                "title": "Copper kettle",
                "description": "Hammered copper, brass handle.",
                "vendor": "Fieldhouse",
                "product_type": "Kitchen",
                "variants": [{"sku": "KETTLE", "price_minor": 8900, "stock": 3}]
            }),
            product_shot([0xF6, 0xEC, 0xE6], [0xB8, 0x73, 0x33]),
        ),
    ];
    let mut ids = Vec::new();
    for (body, image) in products {
        let p = admin_post(stack, &shop, "/admin/api/products", &body).await;
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
                "description": "Light layers and table linen for long evenings."}),
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
        &json!({"handle": "kitchen", "name": "Kitchen"}),
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
    for (field, value) in [
        ("#email", "ada@example.com"),
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
    let stack = Stack::start(1).await;
    let store = linens(&stack, "linens").await;
    let shop = &store.shop;
    let b = Browser::desktop().await;

    // The home page: the collection and the new arrivals, with images.
    b.goto(&store_url(&stack, &shop.host, "/")).await;
    b.wait_for_text("New arrivals").await;
    b.wait_for_text_in(".collection-list", "Summer linen").await;
    for title in ["Linen tee", "Linen apron", "Copper kettle"] {
        b.wait_for_text_in(".grid", title).await;
    }
    b.wait_for(".grid img[alt='Linen tee']").await;
    b.screenshot("docs/storefront/home-desktop.png").await;
    assert_accessible(&b, "the home page (desktop)").await;

    // A collection from the home page.
    b.click("a.collection-tile[href='/collections/summer-linen']")
        .await;
    b.wait_for_text_in("h1", "Summer linen").await;
    b.wait_for_text("3 products").await;
    assert_accessible(&b, "a collection page (desktop)").await;
    // A category page (what the category facet and links lead to).
    b.goto(&store_url(&stack, &shop.host, "/categories/kitchen"))
        .await;
    b.wait_for_text_in("h1", "Kitchen").await;
    b.wait_for_text_in(".grid", "Copper kettle").await;
    assert_accessible(&b, "a category page (desktop)").await;

    // The header's search box.
    b.fill("#site-search", "linen").await;
    b.click(".search-form button[type=submit]").await;
    wait_for_url(&b, "/search?q=linen").await;
    b.wait_for_text_in("h1", "Results for “linen”").await;
    b.wait_for_text("3 products").await;
    b.wait_for(".facet-form").await;
    b.screenshot("docs/storefront/search-desktop.png").await;
    assert_accessible(&b, "the search page (desktop)").await;

    // A facet: the Acme brand alone.
    b.click(".facet-form input[name=vendor][value=Acme]").await;
    b.click(".facet-form button[type=submit]").await;
    wait_for_url(&b, "vendor=Acme").await;
    b.wait_for_text("1 product").await;
    assert!(
        b.find_all(".grid .card").await.len() == 1,
        "one product left"
    );
    assert!(b
        .find(".facet-form input[name=vendor][value=Acme]")
        .await
        .is_selected()
        .await
        .expect("checked"));
    assert!(!b.text().await.contains("Copper kettle"));
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
    b.screenshot("docs/storefront/product-desktop.png").await;
    assert_accessible(&b, "a product page (desktop)").await;
    b.click("[data-add]").await;

    // The cart: two of M, then three.
    wait_for_url(&b, "/cart").await;
    b.wait_for_text_in(".cart-line", "Linen tee").await;
    b.wait_for_text_in(".cart-line", "M").await;
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
    b.screenshot("docs/storefront/cart-desktop.png").await;
    assert_accessible(&b, "the cart (desktop)").await;

    // Checkout: the address, then shipping and payment.
    b.click(".cart-summary a[href='/checkout']").await;
    wait_for_url(&b, "/checkout").await;
    b.wait_for_text_in(".checkout-summary", "3 × Linen tee (M)")
        .await;
    fill_address(&b).await;
    b.screenshot("docs/storefront/checkout-desktop.png").await;
    assert_accessible(&b, "the checkout's information step (desktop)").await;
    b.click(".checkout-form button[type=submit]").await;
    wait_for_url(&b, "/checkout/review?d=").await;
    b.wait_for_text_in(".review-box", "Ada Lovelace, 12 Orchard Lane, Apt 4")
        .await;
    b.wait_for_text("Standard shipping").await;
    b.wait_for_text_in("[data-pay]", "Pay $").await;
    fill_card(&b, "4242424242424242").await;
    b.screenshot("docs/storefront/review-desktop.png").await;
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
    b.screenshot("docs/storefront/order-desktop.png").await;
    assert_accessible(&b, "an order page (desktop)").await;
    assert_eq!(orders(&stack, shop).await, 1);

    b.close().await;
    stack.shutdown().await;
}

#[tokio::test]
async fn a_declined_card_is_shown_on_the_review_page_and_nothing_is_ordered() {
    let stack = Stack::start(1).await;
    let store = linens(&stack, "declines").await;
    let shop = &store.shop;
    let b = Browser::desktop().await;

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
    b.screenshot("docs/storefront/review-declined-desktop.png")
        .await;
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
    let stack = Stack::start(1).await;
    let store = linens(&stack, "phoneshop").await;
    let shop = &store.shop;
    let b = Browser::phone().await;

    b.goto(&store_url(&stack, &shop.host, "/")).await;
    b.wait_for_text_in(".grid", "Linen tee").await;
    b.wait_for(".grid img[alt='Linen tee']").await;
    // Nothing is wider than the phone.
    let overflow = b
        .execute(
            "return document.documentElement.scrollWidth - window.innerWidth;",
            vec![],
        )
        .await;
    assert_eq!(overflow, 0, "the home page scrolls sideways on a phone");
    b.screenshot("docs/storefront/home-phone.png").await;
    assert_accessible(&b, "the home page (phone)").await;

    b.click(&format!(
        ".grid a.card-link[href='/products/{}']",
        store.tee
    ))
    .await;
    b.wait_for_text_in("h1.product-title", "Linen tee").await;
    choose(&b, "M", 1).await;
    b.wait_for_text_in("[data-price]", "$26.00").await;
    b.screenshot("docs/storefront/product-phone.png").await;
    assert_accessible(&b, "a product page (phone)").await;
    b.click("[data-add]").await;

    wait_for_url(&b, "/cart").await;
    b.wait_for_text_in(".cart-line", "$26.00").await;
    b.wait_for_text_in("[data-cart-count]", "(1)").await;
    b.screenshot("docs/storefront/cart-phone.png").await;
    assert_accessible(&b, "the cart (phone)").await;

    b.click(".cart-summary a[href='/checkout']").await;
    fill_address(&b).await;
    assert_accessible(&b, "the checkout's information step (phone)").await;
    b.click(".checkout-form button[type=submit]").await;
    wait_for_url(&b, "/checkout/review?d=").await;
    b.wait_for_text("Standard shipping").await;
    fill_card(&b, "4242424242424242").await;
    b.screenshot("docs/storefront/review-phone.png").await;
    assert_accessible(&b, "the checkout's review step (phone)").await;
    b.click("[data-pay]").await;

    b.wait_for_text_in("h1", "Thank you for your order").await;
    assert_eq!(text_of(&b, "[data-order-status]").await, "paid");
    assert_accessible(&b, "an order page (phone)").await;
    assert_eq!(orders(&stack, shop).await, 1);

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
    report("the harness page", &violations);
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
