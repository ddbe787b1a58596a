//! End-to-end tests of the storefront's pages over HTTP, through the router
//! on the store's domain, as a browser without script uses them: forms post
//! and redirect. (tests/storefront.rs drives a real Chromium.)

mod common;

use common::shop::Shop;
use common::Stack;
use reqwest::header::{CONTENT_TYPE, COOKIE, ETAG, IF_NONE_MATCH, LOCATION, ORIGIN, SET_COOKIE};
use serde_json::{json, Value};

/// A product with two sizes, of which M has 2 units.
fn tee(title: &str, description: &str) -> Value {
    json!({
        "title": title,
        "description": description,
        "vendor": "Acme",
        "product_type": "Shirt",
        "options": [{"name": "Size", "values": ["S", "M"]}],
        "variants": [
            {"sku": "TEE-S", "price_minor": 2500, "compare_at_minor": 3000,
             "option_values": {"Size": "S"}, "stock": 10},
            {"sku": "TEE-M", "price_minor": 2600, "option_values": {"Size": "M"}, "stock": 2}
        ]
    })
}

async fn create(stack: &Stack, shop: &Shop, body: &Value) -> Value {
    let r = stack
        .post(&shop.host, "/admin/api/products")
        .bearer_auth(&shop.staff)
        .json(body)
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), 201);
    r.json().await.expect("json")
}

async fn page(stack: &Stack, host: &str, path: &str) -> (u16, String) {
    let r = stack.get(host, path).send().await.expect("request");
    let status = r.status().as_u16();
    let ct = r
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = r.text().await.expect("body");
    if path.starts_with('/') && !path.ends_with(".xml") && !path.ends_with(".txt") {
        assert!(ct.starts_with("text/html"), "{path}: {ct}");
    }
    (status, body)
}

/// A client that shows redirects instead of following them.
fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// Posts a form the way a browser does, with the cart cookie if any.
async fn post_form(
    stack: &Stack,
    host: &str,
    path: &str,
    cookie: Option<&str>,
    form: &[(&str, &str)],
) -> reqwest::Response {
    let body = form
        .iter()
        .map(|(k, v)| format!("{}={}", urlencode(k), urlencode(v)))
        .collect::<Vec<_>>()
        .join("&");
    let mut req = no_redirects()
        .post(format!("{}{path}", stack.router.url()))
        .header("host", host)
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(ORIGIN, format!("http://{host}"))
        .body(body);
    if let Some(c) = cookie {
        req = req.header(COOKIE, c);
    }
    req.send().await.expect("post")
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// The `name=value` of the response's cookie `name`.
fn cookie(r: &reqwest::Response, name: &str) -> Option<String> {
    r.headers().get_all(SET_COOKIE).iter().find_map(|v| {
        let v = v.to_str().ok()?;
        let pair = v.split(';').next()?;
        pair.starts_with(&format!("{name}="))
            .then(|| pair.to_owned())
    })
}

async fn cart_page(stack: &Stack, host: &str, cookie: &str) -> String {
    let r = stack
        .get(host, "/cart")
        .header(COOKIE, cookie)
        .send()
        .await
        .expect("cart");
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["cache-control"],
        "private, no-store",
        "a shopper's cart is never stored by a shared cache"
    );
    r.text().await.expect("body")
}

#[tokio::test]
async fn a_shopper_fills_a_cart_with_forms_alone() {
    let stack = Stack::start(1).await;
    let shop = Shop::open(&stack, "formshop").await;
    let product = create(
        &stack,
        &shop,
        &tee("Linen tee", "Breathable.\n\nMade to last."),
    )
    .await;
    let id = product["id"].as_str().expect("id");
    let m = product["variants"][1]["id"].as_str().expect("M");

    // The product page offers the sizes, the price and the sale price.
    let (status, html) = page(&stack, &shop.host, &format!("/products/{id}")).await;
    assert_eq!(status, 200);
    assert!(
        html.contains("<h1 class=\"product-title\">Linen tee</h1>"),
        "{html}"
    );
    assert!(html.contains("name=\"option0\""), "a Size picker");
    assert!(
        html.contains(">M<") || html.contains(">M ("),
        "the M option"
    );
    assert!(
        html.contains("$25.00") && html.contains("$30.00"),
        "price and compare-at"
    );
    assert!(
        html.contains("<p>Made to last.</p>"),
        "paragraphs of the description"
    );

    // Adding by option (no variant id needed, as the form without script
    // posts it): a cart is made, its cookie set, and the shopper sent on.
    let r = post_form(
        &stack,
        &shop.host,
        "/cart/add",
        None,
        &[("product_id", id), ("option0", "M"), ("quantity", "2")],
    )
    .await;
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()[LOCATION], "/cart");
    let cart = cookie(&r, "mercato_cart").expect("the cart's cookie");
    assert_eq!(
        cookie(&r, "mercato_cart_count").as_deref(),
        Some("mercato_cart_count=2")
    );
    let html = cart_page(&stack, &shop.host, &cart).await;
    assert!(
        html.contains("Linen tee") && html.contains("$52.00"),
        "{html}"
    );

    // More than there is: the cart says so on the line.
    let r = post_form(
        &stack,
        &shop.host,
        "/cart/update",
        Some(&cart),
        &[(&format!("qty.{m}"), "3")],
    )
    .await;
    assert_eq!(r.status(), 303);
    let html = cart_page(&stack, &shop.host, &cart).await;
    assert!(html.contains("Only 2 left"), "{html}");
    assert!(html.contains("$78.00"));

    // A code that is not the store's: the cart page again, with why.
    let r = post_form(
        &stack,
        &shop.host,
        "/cart/discount",
        Some(&cart),
        &[("code", "NOPE10")],
    )
    .await;
    assert_eq!(r.status(), 422);
    let html = r.text().await.expect("body");
    assert!(html.contains("notice-error"), "{html}");

    // A combination that is not sold.
    let r = post_form(
        &stack,
        &shop.host,
        "/cart/add",
        Some(&cart),
        &[("product_id", id), ("option0", "XL")],
    )
    .await;
    assert_eq!(r.status(), 422);

    // Removing the line empties the cart.
    let r = post_form(
        &stack,
        &shop.host,
        "/cart/remove",
        Some(&cart),
        &[("variant_id", m)],
    )
    .await;
    assert_eq!(r.status(), 303);
    assert_eq!(
        cookie(&r, "mercato_cart_count").as_deref(),
        Some("mercato_cart_count=0")
    );
    let html = cart_page(&stack, &shop.host, &cart).await;
    assert!(html.contains("Your cart is empty"), "{html}");

    stack.shutdown().await;
}

#[tokio::test]
async fn pages_escape_what_merchants_write_and_refuse_bad_input() {
    let stack = Stack::start(1).await;
    let shop = Shop::open(&stack, "escapes").await;
    let evil = "<script>alert(1)</script>Tee";
    let product = create(
        &stack,
        &shop,
        &tee(evil, "</script><img src=x onerror=alert(2)> & more"),
    )
    .await;
    let id = product["id"].as_str().expect("id");
    for path in [
        "/".to_owned(),
        format!("/products/{id}"),
        "/search?q=Tee".to_owned(),
    ] {
        let (status, html) = page(&stack, &shop.host, &path).await;
        assert_eq!(status, 200, "{path}");
        assert!(!html.contains("<script>alert"), "{path}: unescaped title");
        assert!(
            !html.contains("<img src=x"),
            "{path}: unescaped description"
        );
        assert!(html.contains("&lt;script&gt;alert(1)"), "{path}: {html}");
    }
    // Inside the JSON-LD and the picker's JSON, `<` is written `\u003c`.
    let (_, html) = page(&stack, &shop.host, &format!("/products/{id}")).await;
    assert!(html.contains("\\u003cscript\\u003ealert(1)"), "{html}");

    // Unknown pages are pages, with the status.
    let (status, html) = page(
        &stack,
        &shop.host,
        "/products/00000000-0000-7000-8000-000000000000",
    )
    .await;
    assert_eq!(status, 404);
    assert!(html.contains("Page not found"));
    let (status, _) = page(&stack, &shop.host, "/products/not-an-id").await;
    assert_eq!(status, 404);
    let (status, _) = page(&stack, &shop.host, "/collections/none-such").await;
    assert_eq!(status, 404);

    // Control characters, other sites' forms and other bodies are refused.
    let r = stack
        .get(&shop.host, "/search?q=%00")
        .send()
        .await
        .expect("search");
    assert_eq!(r.status(), 400);
    let r = post_form(
        &stack,
        &shop.host,
        "/cart/add",
        None,
        &[("product_id", id), ("option0", "S\u{0}")],
    )
    .await;
    assert_eq!(r.status(), 400);
    let r = no_redirects()
        .post(format!("{}/cart/add", stack.router.url()))
        .header("host", &shop.host)
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(ORIGIN, "https://evil.example")
        .body(format!("product_id={id}&option0=S"))
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 403);
    let r = no_redirects()
        .post(format!("{}/cart/add", stack.router.url()))
        .header("host", &shop.host)
        .header(CONTENT_TYPE, "application/json")
        .body("{}")
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 415);

    stack.shutdown().await;
}

#[tokio::test]
async fn pages_are_cached_with_etags_and_told_to_search_engines() {
    let stack = Stack::start(1).await;
    let shop = Shop::open(&stack, "seoshop").await;
    let product = create(&stack, &shop, &tee("Canvas tote", "Carries everything.")).await;
    let id = product["id"].as_str().expect("id");
    let path = format!("/products/{id}");

    let (_, html) = page(&stack, &shop.host, &path).await;
    assert!(html.contains("<title>Canvas tote – "), "a title per page");
    assert!(
        html.contains(&format!("/products/{id}\">")),
        "a canonical URL"
    );
    assert!(html.contains("property=\"og:title\" content=\"Canvas tote"));
    assert!(html.contains("\"@type\":\"Product\""), "JSON-LD");
    assert!(html.contains("\"priceCurrency\":\"USD\""));

    // An ETag, and 304 for a browser that has the page.
    let r = stack.get(&shop.host, &path).send().await.expect("page");
    let tag = r.headers()[ETAG].clone();
    let r = stack
        .get(&shop.host, &path)
        .header(IF_NONE_MATCH, tag.clone())
        .send()
        .await
        .expect("page");
    assert_eq!(r.status(), 304);

    // An edit retires the cached page at once.
    let r = stack
        .at(
            reqwest::Method::PATCH,
            &shop.host,
            &format!("/admin/api/products/{id}"),
        )
        .bearer_auth(&shop.staff)
        .json(&json!({"title": "Canvas tote, large"}))
        .send()
        .await
        .expect("patch");
    assert_eq!(r.status(), 200);
    let r = stack
        .get(&shop.host, &path)
        .header(IF_NONE_MATCH, tag)
        .send()
        .await
        .expect("page");
    assert_eq!(r.status(), 200);
    assert!(r.text().await.expect("body").contains("Canvas tote, large"));

    // robots.txt points at the sitemap, which lists the product.
    let (status, robots) = page(&stack, &shop.host, "/robots.txt").await;
    assert_eq!(status, 200);
    assert!(robots.contains("Sitemap: ") && robots.contains("/sitemap.xml"));
    assert!(robots.contains("Disallow: /cart"));
    let (status, sitemap) = page(&stack, &shop.host, "/sitemap.xml").await;
    assert_eq!(status, 200);
    assert!(
        sitemap.contains(&format!("/products/{id}</loc>")),
        "{sitemap}"
    );

    // The theme's assets are content-addressed and immutable.
    let css = html
        .split("href=\"/assets/")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("a stylesheet");
    let r = stack
        .get(&shop.host, &format!("/assets/{css}"))
        .send()
        .await
        .expect("css");
    assert_eq!(r.status(), 200);
    assert!(r.headers()["cache-control"]
        .to_str()
        .expect("text")
        .contains("immutable"));

    stack.shutdown().await;
}

/// The `action` of the form with `class`.
fn form_action(html: &str, class: &str) -> String {
    let at = html
        .find(&format!("class=\"{class}\""))
        .unwrap_or_else(|| panic!("no {class} form in {html}"));
    let start = html[..at].rfind("<form").expect("a form tag");
    let tag = &html[start..at];
    tag.split("action=\"")
        .nth(1)
        .and_then(|a| a.split('"').next())
        .expect("an action")
        .to_owned()
}

/// Where a `303` sends the browser.
fn location(r: &reqwest::Response) -> String {
    r.headers()[LOCATION].to_str().expect("text").to_owned()
}

async fn get_with_cookie(stack: &Stack, host: &str, path: &str, cookie: &str) -> reqwest::Response {
    no_redirects()
        .get(format!("{}{path}", stack.router.url()))
        .header("host", host)
        .header(COOKIE, cookie)
        .send()
        .await
        .expect("get")
}

/// Posts the card form to the gateway (as the shopper's browser does: the
/// pod never sees it) and follows the gateway's redirect back to the store
/// through the router: the answer of `/checkout/complete`.
async fn pay(
    stack: &Stack,
    host: &str,
    cookie: &str,
    pay_url: &str,
    number: &str,
) -> reqwest::Response {
    assert!(
        pay_url.starts_with(&stack.gateway.url()),
        "the card form posts to the gateway: {pay_url}"
    );
    let r = no_redirects()
        .post(pay_url)
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(format!("number={}&exp=12%2F{}&cvc=123", number, 30))
        .send()
        .await
        .expect("pay");
    assert_eq!(r.status(), 303);
    let back = location(&r);
    let path = back
        .split_once("://")
        .and_then(|(_, rest)| rest.split_once('/'))
        .map(|(_, p)| format!("/{p}"))
        .expect("an absolute return URL");
    assert!(
        back.contains(host),
        "back to the store's own address: {back}"
    );
    get_with_cookie(stack, host, &path, cookie).await
}

#[tokio::test]
async fn a_shopper_checks_out_with_forms_and_the_gateways_card_form() {
    let stack = Stack::start(1).await;
    let shop = Shop::open(&stack, "payshop").await;
    let product = create(&stack, &shop, &tee("Wool socks", "Warm.")).await;
    let id = product["id"].as_str().expect("id");
    let r = post_form(
        &stack,
        &shop.host,
        "/cart/add",
        None,
        &[("product_id", id), ("option0", "S"), ("quantity", "2")],
    )
    .await;
    let cart = cookie(&r, "mercato_cart").expect("cart");

    // Step 1: a bad address is answered on the page, a good one goes on.
    let address = [
        ("email", "ada@example.com"),
        ("name", "Ada Lovelace"),
        ("line1", "12 St James's Square"),
        ("city", "London"),
        ("postal_code", "SW1Y 4JH"),
        ("country", "gb"),
    ];
    let mut bad = address.to_vec();
    bad[0] = ("email", "not-an-email");
    let r = post_form(&stack, &shop.host, "/checkout", Some(&cart), &bad).await;
    assert_eq!(r.status(), 422);
    assert!(r.text().await.expect("body").contains("Email"));
    let r = post_form(&stack, &shop.host, "/checkout", Some(&cart), &address).await;
    assert_eq!(r.status(), 303);
    let review = location(&r);
    assert!(review.starts_with("/checkout/review?d="), "{review}");
    // The draft is the cart's: another browser cannot read it.
    let r = stack.get(&shop.host, &review).send().await.expect("review");
    assert!(
        !r.text().await.expect("body").contains("Ada Lovelace"),
        "no cart, no address"
    );

    // Step 2: shipping, the total, and a card form that posts elsewhere.
    let r = get_with_cookie(&stack, &shop.host, &review, &cart).await;
    assert_eq!(r.status(), 200);
    let html = r.text().await.expect("body");
    assert!(
        html.contains("Standard shipping") && html.contains("Pay $50.00"),
        "{html}"
    );
    assert!(html.contains("Ada Lovelace"));
    let pay_url = form_action(&html, "card-form");

    // A declined card: back to the review, with why, and nothing placed.
    let r = pay(&stack, &shop.host, &cart, &pay_url, "4000000000000002").await;
    assert_eq!(r.status(), 303);
    let back = location(&r);
    assert!(back.starts_with("/checkout/review?d="), "{back}");
    let html = get_with_cookie(&stack, &shop.host, &back, &cart)
        .await
        .text()
        .await
        .expect("body");
    assert!(html.contains("declined"), "{html}");

    // A card number that is not one: the gateway says so, the shop shows it.
    let pay_url = form_action(&html, "card-form");
    let r = pay(&stack, &shop.host, &cart, &pay_url, "1234").await;
    let html = get_with_cookie(&stack, &shop.host, &location(&r), &cart)
        .await
        .text()
        .await
        .expect("body");
    assert!(html.contains("Your card was not accepted"), "{html}");

    // A good card: the order, and its page.
    let pay_url = form_action(&html, "card-form");
    let r = pay(&stack, &shop.host, &cart, &pay_url, "4242424242424242").await;
    assert_eq!(r.status(), 303);
    let order_path = location(&r);
    assert!(order_path.starts_with("/orders/"), "{order_path}");
    assert_eq!(
        cookie(&r, "mercato_cart_count").as_deref(),
        Some("mercato_cart_count=0")
    );
    let (status, html) = page(&stack, &shop.host, &order_path).await;
    assert_eq!(status, 200);
    assert!(
        html.contains("Thank you for your order") && html.contains("$50.00"),
        "{html}"
    );
    assert!(
        html.contains("Wool socks") && html.contains("paid"),
        "{html}"
    );
    // Without the token, nobody sees it.
    let number = order_path
        .trim_start_matches("/orders/")
        .split('?')
        .next()
        .expect("number");
    let (status, _) = page(
        &stack,
        &shop.host,
        &format!("/orders/{number}?token={}", "0".repeat(64)),
    )
    .await;
    assert_eq!(status, 404);

    // One order, one capture: the gateway took the good card once.
    let mut db = shop.db(&stack).await;
    let orders: i64 = sqlx::query_scalar("SELECT count(*) FROM orders WHERE store_id = $1")
        .bind(shop.id.as_uuid())
        .fetch_one(&mut db)
        .await
        .expect("count");
    assert_eq!(orders, 1);

    stack.shutdown().await;
}

#[tokio::test]
async fn the_owner_themes_the_store_and_a_broken_template_never_breaks_a_page() {
    let stack = Stack::start(1).await;
    let shop = Shop::open(&stack, "themed").await;
    let other = Shop::open(&stack, "plain").await;
    let product = create(&stack, &shop, &tee("<b>Bold</b> tee", "Plain.")).await;
    let id = product["id"].as_str().expect("id");
    let r = stack
        .post(&shop.host, "/admin/api/collections")
        .bearer_auth(&shop.staff)
        .json(&json!({"handle": "sale", "title": "On sale", "kind": "manual"}))
        .send()
        .await
        .expect("collection");
    assert_eq!(r.status(), 201);
    let admin = |method: reqwest::Method, path: &str| {
        stack.at(method, &shop.host, path).bearer_auth(&shop.staff)
    };

    // Settings: the defaults, then the owner's, shown on the next page.
    let r = admin(reqwest::Method::GET, "/admin/api/settings/theme")
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 200);
    let defaults: Value = r.json().await.expect("json");
    assert_eq!(defaults["colours"]["accent"], "#1f4b99");
    let r = stack.get(&shop.host, "/").send().await.expect("home");
    let etag = r.headers()[ETAG].clone();
    let settings = json!({
        "colours": {"accent": "#AA3300", "text": "#111111", "background": "#fffdf8"},
        "font": "serif",
        "home": {"heading": "Autumn <sale>", "tagline": "Warm things.", "featured_collections": ["sale"], "show_new_arrivals": false},
        "header_links": [{"label": "Sale", "url": "/collections/sale"}],
        "footer_links": [{"label": "Our blog", "url": "https://blog.example/"}]
    });
    let r = admin(reqwest::Method::PUT, "/admin/api/settings/theme")
        .json(&settings)
        .send()
        .await
        .expect("put");
    assert_eq!(r.status(), 200);
    let saved: Value = r.json().await.expect("json");
    assert_eq!(saved["colours"]["accent"], "#aa3300", "normalized");
    let r = stack
        .get(&shop.host, "/")
        .header(IF_NONE_MATCH, etag)
        .send()
        .await
        .expect("home");
    assert_eq!(r.status(), 200, "a settings change retires the cached page");
    let html = r.text().await.expect("body");
    assert!(html.contains("--accent: #aa3300"), "{html}");
    assert!(html.contains("<h1>Autumn &lt;sale&gt;</h1>"));
    assert!(html.contains("href=\"/collections/sale\">Sale</a>"));
    assert!(html.contains("href=\"https://blog.example/\">Our blog</a>"));
    assert!(html.contains("On sale"), "the featured collection");
    assert!(!html.contains("New arrivals"), "new arrivals turned off");
    // Not another store's.
    let (_, plain) = page(&stack, &other.host, "/").await;
    assert!(!plain.contains("#aa3300") && plain.contains("New arrivals"));

    // Refused settings.
    for bad in [
        json!({"colours": {"accent": "red"}}),
        json!({"header_links": [{"label": "x", "url": "javascript:alert(1)"}]}),
        json!({"logo_url": "//evil.example/logo.png"}),
        json!({"home": {"tagline": "a\u{7}b"}}),
    ] {
        let r = admin(reqwest::Method::PUT, "/admin/api/settings/theme")
            .json(&bad)
            .send()
            .await
            .expect("put");
        assert_eq!(r.status(), 400, "{bad}");
    }
    let r = stack
        .at(
            reqwest::Method::PUT,
            &shop.host,
            "/admin/api/settings/theme",
        )
        .json(&settings)
        .send()
        .await
        .expect("put");
    assert_eq!(r.status(), 401, "staff only");

    // A merchant's template: used, and escaped like the default theme.
    let path = format!("/products/{id}");
    let mine = "{% extends \"base.html\" %}{% block main %}<h1 class=\"mine\">{{ product.title }}</h1>{% endblock %}";
    let r = admin(
        reqwest::Method::PUT,
        "/admin/api/theme/templates/product.html",
    )
    .json(&json!({"source": mine}))
    .send()
    .await
    .expect("put");
    assert_eq!(r.status(), 200);
    let (status, html) = page(&stack, &shop.host, &path).await;
    assert_eq!(status, 200);
    assert!(
        html.contains("<h1 class=\"mine\">&lt;b&gt;Bold&lt;/b&gt; tee</h1>"),
        "{html}"
    );
    let r = admin(reqwest::Method::GET, "/admin/api/theme/templates")
        .send()
        .await
        .expect("list");
    let list: Value = r.json().await.expect("json");
    let product_tpl = list["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|t| t["name"] == "product.html")
        .expect("listed");
    assert_eq!(product_tpl["overridden"], true);

    // One that does not compile is refused with its line.
    let r = admin(
        reqwest::Method::PUT,
        "/admin/api/theme/templates/product.html",
    )
    .json(&json!({"source": "<p>\n{% for x in %}"}))
    .send()
    .await
    .expect("put");
    assert_eq!(r.status(), 422);
    let err: Value = r.json().await.expect("json");
    assert_eq!(err["error"]["code"], "invalid_template");
    assert!(
        err["error"]["message"]
            .as_str()
            .expect("message")
            .contains("line 2"),
        "{err}"
    );
    let r = admin(reqwest::Method::PUT, "/admin/api/theme/templates/nope.html")
        .json(&json!({"source": "x"}))
        .send()
        .await
        .expect("put");
    assert_eq!(r.status(), 404);

    // One that compiles but runs away: the page falls back to the default
    // theme's template instead of failing.
    let runaway =
        "{% for a in range(100000) %}{% for b in range(100000) %}x{% endfor %}{% endfor %}";
    let r = admin(
        reqwest::Method::PUT,
        "/admin/api/theme/templates/product.html",
    )
    .json(&json!({"source": runaway}))
    .send()
    .await
    .expect("put");
    assert_eq!(r.status(), 200);
    let (status, html) = page(&stack, &shop.host, &path).await;
    assert_eq!(status, 200);
    assert!(
        html.contains("<h1 class=\"product-title\">"),
        "the default template: {html}"
    );

    // Deleting it puts the default back.
    let r = admin(
        reqwest::Method::DELETE,
        "/admin/api/theme/templates/product.html",
    )
    .send()
    .await
    .expect("delete");
    assert_eq!(r.status(), 204);
    let r = admin(
        reqwest::Method::DELETE,
        "/admin/api/theme/templates/product.html",
    )
    .send()
    .await
    .expect("delete");
    assert_eq!(r.status(), 404);
    let r = admin(
        reqwest::Method::GET,
        "/admin/api/theme/templates/product.html",
    )
    .send()
    .await
    .expect("get");
    let tpl: Value = r.json().await.expect("json");
    assert_eq!(tpl["overridden"], false);
    assert!(
        tpl["source"]
            .as_str()
            .expect("source")
            .contains("add-to-cart"),
        "the default's source"
    );

    stack.shutdown().await;
}

async fn gift_card(stack: &Stack, shop: &Shop, amount: i64) -> String {
    let r = stack
        .post(&shop.host, "/admin/api/gift-cards")
        .bearer_auth(&shop.staff)
        .json(&json!({"amount_minor": amount}))
        .send()
        .await
        .expect("gift card");
    assert_eq!(r.status(), 201);
    let card: Value = r.json().await.expect("json");
    card["code"].as_str().expect("code").to_owned()
}

/// A cart of two S tees ($50.00) through the information step: the cart
/// cookie and the review page's path.
async fn to_review(stack: &Stack, shop: &Shop, product: &str) -> (String, String) {
    let r = post_form(
        stack,
        &shop.host,
        "/cart/add",
        None,
        &[("product_id", product), ("option0", "S"), ("quantity", "2")],
    )
    .await;
    let cart = cookie(&r, "mercato_cart").expect("cart");
    let address = [
        ("email", "gc@example.com"),
        ("name", "Gift Card"),
        ("line1", "1 Main St"),
        ("city", "Springfield"),
        ("country", "US"),
    ];
    let r = post_form(stack, &shop.host, "/checkout", Some(&cart), &address).await;
    assert_eq!(r.status(), 303);
    (cart, location(&r))
}

/// The value of the hidden field `name` in the form with `class`.
fn hidden(html: &str, class: &str, name: &str) -> String {
    let at = html.find(&format!("class=\"{class}\"")).expect("the form");
    let form = &html[at..at + html[at..].find("</form>").expect("its end")];
    form.split(&format!("name=\"{name}\" value=\""))
        .nth(1)
        .and_then(|v| v.split('"').next())
        .expect("the field")
        .to_owned()
}

#[tokio::test]
async fn gift_cards_pay_part_or_all_of_a_storefront_order() {
    let stack = Stack::start(1).await;
    let shop = Shop::open(&stack, "gcshop").await;
    let product = create(&stack, &shop, &tee("Gift tee", "Giftable.")).await;
    let id = product["id"].as_str().expect("id");

    // Part: a $20.00 card, the card form asks for the rest.
    let twenty = gift_card(&stack, &shop, 2000).await;
    let (cart, review) = to_review(&stack, &shop, id).await;
    let d = review.split("d=").nth(1).expect("draft").to_owned();
    let r = post_form(
        &stack,
        &shop.host,
        "/checkout/gift-card",
        Some(&cart),
        &[("d", &d), ("shipping", "standard"), ("code", "NOT-A-CARD")],
    )
    .await;
    assert_eq!(r.status(), 303);
    let html = get_with_cookie(&stack, &shop.host, &location(&r), &cart)
        .await
        .text()
        .await
        .expect("body");
    assert!(html.contains("not one of ours"), "{html}");
    let r = post_form(
        &stack,
        &shop.host,
        "/checkout/gift-card",
        Some(&cart),
        &[
            ("d", &d),
            ("shipping", "standard"),
            ("code", &twenty.to_lowercase()),
        ],
    )
    .await;
    let html = get_with_cookie(&stack, &shop.host, &location(&r), &cart)
        .await
        .text()
        .await
        .expect("body");
    assert!(
        html.contains("-$20.00") && html.contains("Pay $30.00"),
        "{html}"
    );
    let r = pay(
        &stack,
        &shop.host,
        &cart,
        &form_action(&html, "card-form"),
        "4242424242424242",
    )
    .await;
    let order_path = location(&r);
    assert!(order_path.starts_with("/orders/"), "{order_path}");
    let number: i64 = order_path
        .trim_start_matches("/orders/")
        .split('?')
        .next()
        .expect("n")
        .parse()
        .expect("number");
    let mut db = shop.db(&stack).await;
    let (gift, captured): (i64, i64) = sqlx::query_as(
        "SELECT gift_card_minor, captured_minor FROM orders WHERE store_id = $1 AND number = $2",
    )
    .bind(shop.id.as_uuid())
    .bind(number)
    .fetch_one(&mut db)
    .await
    .expect("order");
    assert_eq!((gift, captured), (2000, 3000));

    // All: a $100.00 card pays the whole order; no card form, a button.
    let hundred = gift_card(&stack, &shop, 10_000).await;
    let (cart, review) = to_review(&stack, &shop, id).await;
    let d = review.split("d=").nth(1).expect("draft").to_owned();
    let r = post_form(
        &stack,
        &shop.host,
        "/checkout/gift-card",
        Some(&cart),
        &[("d", &d), ("shipping", "standard"), ("code", &hundred)],
    )
    .await;
    let html = get_with_cookie(&stack, &shop.host, &location(&r), &cart)
        .await
        .text()
        .await
        .expect("body");
    assert!(
        !html.contains("class=\"card-form\""),
        "no card needed: {html}"
    );
    let fields: Vec<(String, String)> = ["d", "shipping", "total", "attempt"]
        .iter()
        .map(|f| (f.to_string(), hidden(&html, "place-form", f)))
        .collect();
    let form: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let r = post_form(&stack, &shop.host, "/checkout/place", Some(&cart), &form).await;
    assert_eq!(r.status(), 303);
    assert!(location(&r).starts_with("/orders/"), "{}", location(&r));
    // A second click of the same form replays the same order.
    let again = post_form(&stack, &shop.host, "/checkout/place", Some(&cart), &form).await;
    assert!(matches!(again.status().as_u16(), 303), "{}", again.status());
    let balance: i64 = sqlx::query_scalar(
        "SELECT balance_minor FROM gift_cards WHERE store_id = $1 AND last4 = $2",
    )
    .bind(shop.id.as_uuid())
    .bind(&hundred[hundred.len() - 4..])
    .fetch_one(&mut db)
    .await
    .expect("card");
    assert_eq!(balance, 5000, "the card paid $50.00, once");

    stack.shutdown().await;
}

#[tokio::test]
async fn while_redis_is_down_pages_answer_and_checkout_asks_to_try_again() {
    let stack = Stack::start(1).await;
    let shop = Shop::open(&stack, "noredis").await;
    let product = create(&stack, &shop, &tee("Rain tee", "Dry.")).await;
    let id = product["id"].as_str().expect("id");
    let r = post_form(
        &stack,
        &shop.host,
        "/cart/add",
        None,
        &[("product_id", id), ("option0", "S")],
    )
    .await;
    let cart = cookie(&r, "mercato_cart").expect("cart");

    let url = stack.pod_for(&shop.store).await.redis.url();
    let mut redis = redis::Client::open(url)
        .expect("redis url")
        .get_multiplexed_async_connection()
        .await
        .expect("redis");
    let _ = redis::cmd("SHUTDOWN")
        .arg("NOSAVE")
        .query_async::<()>(&mut redis)
        .await;

    // The catalog's pages and the cart come from Postgres.
    for path in ["/", &format!("/products/{id}"), "/search?q=rain"] {
        let (status, html) = page(&stack, &shop.host, path).await;
        assert_eq!(status, 200, "{path}");
        assert!(html.contains("Rain tee"), "{path}: {html}");
    }
    let html = cart_page(&stack, &shop.host, &cart).await;
    assert!(html.contains("Rain tee"), "{html}");
    // The checkout keeps its drafts in Redis: a page that says to try
    // again in a moment (503 with Retry-After), never a 500.
    let r = post_form(
        &stack,
        &shop.host,
        "/checkout",
        Some(&cart),
        &[
            ("email", "rain@example.com"),
            ("name", "Rain Shopper"),
            ("line1", "1 Wet Lane"),
            ("city", "Seattle"),
            ("country", "US"),
        ],
    )
    .await;
    assert_eq!(r.status(), 503);
    assert!(r.headers().contains_key("retry-after"));
    let html = r.text().await.expect("body");
    assert!(html.contains("try again"), "{html}");

    stack.shutdown().await;
}
