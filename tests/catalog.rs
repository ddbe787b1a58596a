//! End-to-end tests of the catalog: options and variants, images, and the
//! cached shopper reads (hits, coalesced misses, invalidation, ETags, stock
//! badges, Redis down). Real Postgres and Redis, through the router.

mod common;

use common::{error_code, refusal, status_of, Stack, PLATFORM};
use reqwest::Method;
use serde_json::{json, Value};
use sqlx::Connection as _;

fn tee() -> Value {
    json!({
        "title": "Linen tee",
        "description": "Breathable.",
        "vendor": "Acme",
        "product_type": "Shirt",
        "tags": ["summer", "Linen", "summer"],
        "options": [{"name": "Size", "values": ["S", "M"]}, {"name": "Colour", "values": ["Red"]}],
        "variants": [
            {"sku": "TEE-S", "price_minor": 2500, "compare_at_minor": 3000, "weight_grams": 180,
             "option_values": {"Size": "S", "Colour": "Red"}, "attributes": {"material": "linen"}, "stock": 10},
            {"sku": "TEE-M", "price_minor": 2600,
             "option_values": {"Size": "M", "Colour": "Red"}, "stock": 2}
        ]
    })
}

/// A counter of the pod's `/metrics`, summed over label sets that contain
/// every one of `labels`.
async fn metric(stack: &Stack, pod_url: &str, name: &str, labels: &[&str]) -> f64 {
    let text = stack
        .http
        .get(format!("{pod_url}/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    text.lines()
        .filter(|l| l.starts_with(name) && labels.iter().all(|lab| l.contains(lab)))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

async fn setup(stack: &Stack, handle: &str) -> (String, String, Value) {
    let store = stack.create_store(handle).await;
    let host = format!("{handle}.{PLATFORM}");
    let token = stack.staff_token(&store);
    (host, token, store)
}

async fn create(stack: &Stack, host: &str, token: &str, body: &Value) -> reqwest::Response {
    stack
        .post(host, "/admin/api/products")
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .expect("request")
}

/// Creates [`tee`]: `201` and the product.
async fn create_tee(stack: &Stack, host: &str, token: &str) -> Value {
    let r = create(stack, host, token, &tee()).await;
    assert_eq!(r.status(), 201);
    r.json().await.expect("json")
}

#[tokio::test]
async fn staff_build_products_with_options_and_shoppers_see_them_with_badges() {
    let stack = Stack::start(1).await;
    let (host, token, _) = setup(&stack, "tees").await;

    let r = create(&stack, &host, &token, &tee()).await;
    assert_eq!(r.status(), 201);
    let p: Value = r.json().await.expect("json");
    assert_eq!(p["vendor"], "Acme");
    assert_eq!(
        p["tags"],
        json!(["summer", "Linen"]),
        "tags deduplicated ignoring case"
    );
    assert_eq!(p["options"][0]["values"], json!(["S", "M"]));
    assert_eq!(
        p["variants"][0]["compare_at_price"],
        json!({"minor": 3000, "currency": "USD"})
    );
    assert_eq!(p["variants"][0]["weight_grams"], 180);
    assert_eq!(p["variants"][0]["attributes"]["material"], "linen");
    assert_eq!(p["variants"][0]["on_hand"], 10, "staff see units on hand");
    assert_eq!(p["variants"][1]["on_hand"], 2);
    let id = p["id"].as_str().expect("id").to_owned();

    let shop: Value = stack
        .get(&host, &format!("/api/products/{id}"))
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(shop["variants"][0]["availability"], "in_stock");
    assert_eq!(shop["variants"][1]["availability"], "low");
    assert!(
        shop["variants"][0].get("on_hand").is_none(),
        "shoppers never see stock numbers"
    );

    // A draft is invisible to shoppers.
    let mut draft = tee();
    draft["status"] = json!("draft");
    draft["variants"][0]["sku"] = json!("D-S");
    draft["variants"][1]["sku"] = json!("D-M");
    let d: Value = create(&stack, &host, &token, &draft)
        .await
        .json()
        .await
        .expect("json");
    let r = stack.get(
        &host,
        &format!("/api/products/{}", d["id"].as_str().expect("id")),
    );
    assert_eq!(refusal(r).await, (404, "not_found".into()));
    let list: Value = stack
        .get(&host, "/api/products")
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    assert_eq!(list["items"].as_array().expect("items").len(), 1);

    // Bad input: each a 4xx with a code, nothing written.
    let mut bad_option = tee();
    bad_option["variants"][1]["option_values"]["Size"] = json!("XL");
    let mut missing_option = tee();
    missing_option["variants"][1]["option_values"] = json!({"Size": "M"});
    let mut same_combination = tee();
    same_combination["variants"][1]["option_values"] = json!({"Size": "S", "Colour": "Red"});
    let mut cheap_compare = tee();
    cheap_compare["variants"][0]["compare_at_minor"] = json!(100);
    let mut unknown_field = tee();
    unknown_field["colour"] = json!("red");
    let mut negative_weight = tee();
    negative_weight["variants"][0]["weight_grams"] = json!(-1);
    for (body, expected) in [
        (bad_option, (422, "unprocessable")),
        (missing_option, (422, "unprocessable")),
        (same_combination, (422, "unprocessable")),
        (cheap_compare, (422, "unprocessable")),
        (unknown_field, (400, "invalid_json")),
        (negative_weight, (400, "invalid_request")),
        (tee(), (409, "sku_taken")),
    ] {
        let r = create(&stack, &host, &token, &body).await;
        assert_eq!(error_code(r).await, (expected.0, expected.1.to_string()));
    }
    let all: Value = stack
        .get(&host, "/admin/api/products")
        .bearer_auth(&token)
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    assert_eq!(
        all["items"].as_array().expect("items").len(),
        2,
        "no bad product was written"
    );

    // Staff-only endpoints refuse shoppers.
    let r = create(&stack, &host, "", &tee()).await;
    assert_eq!(error_code(r).await.0, 401);
    stack.shutdown().await;
}

#[tokio::test]
async fn variants_change_and_shoppers_see_each_change_at_once() {
    let stack = Stack::start(1).await;
    let (host, token, _) = setup(&stack, "vary").await;
    let p = create_tee(&stack, &host, &token).await;
    let id = p["id"].as_str().expect("id").to_owned();
    let small = p["variants"][0]["id"].as_str().expect("variant").to_owned();
    let path = format!("/api/products/{id}");
    let shop = |path: String| {
        let stack = &stack;
        let host = host.clone();
        async move {
            stack
                .get(&host, &path)
                .send()
                .await
                .expect("get")
                .json::<Value>()
                .await
                .expect("json")
        }
    };
    // Warm the cache, then change the price: the next read shows it.
    assert_eq!(
        shop(path.clone()).await["variants"][0]["price"]["minor"],
        2500
    );
    assert_eq!(
        shop(path.clone()).await["variants"][0]["price"]["minor"],
        2500
    );
    let r = stack
        .at(
            Method::PATCH,
            &host,
            &format!("/admin/api/variants/{small}"),
        )
        .bearer_auth(&token)
        .json(&json!({"price_minor": 2200, "compare_at_minor": null}));
    assert_eq!(status_of(r).await, 200);
    let after = shop(path.clone()).await;
    assert_eq!(after["variants"][0]["price"]["minor"], 2200);
    assert!(
        after["variants"][0]["compare_at_price"].is_null(),
        "null clears compare-at"
    );

    // Title edit shows at once too.
    let r = stack
        .at(Method::PATCH, &host, &format!("/admin/api/products/{id}"))
        .bearer_auth(&token)
        .json(&json!({"title": "Linen tee II"}));
    assert_eq!(status_of(r).await, 200);
    assert_eq!(shop(path.clone()).await["title"], "Linen tee II");

    // Add a variant: its option combination must be new and valid.
    let add = |body: Value| {
        stack
            .post(&host, &format!("/admin/api/products/{id}/variants"))
            .bearer_auth(&token)
            .json(&body)
            .send()
    };
    let r = add(
        json!({"sku": "TEE-S2", "price_minor": 1, "option_values": {"Size": "S", "Colour": "Red"}}),
    )
    .await
    .expect("add");
    assert_eq!(error_code(r).await, (422, "unprocessable".into()));
    let r = add(
        json!({"sku": "TEE-M", "price_minor": 1, "option_values": {"Size": "M", "Colour": "Red"}}),
    )
    .await
    .expect("add");
    assert_eq!(
        error_code(r).await,
        (422, "unprocessable".into()),
        "combination taken"
    );
    // Options can grow: then the new combination is allowed.
    let r = stack
        .at(Method::PATCH, &host, &format!("/admin/api/products/{id}"))
        .bearer_auth(&token)
        .json(&json!({"options": [{"name": "Size", "values": ["S", "M", "L"]}, {"name": "Colour", "values": ["Red"]}]}));
    assert_eq!(status_of(r).await, 200);
    // ...but not shrink under an existing variant.
    let r = stack
        .at(Method::PATCH, &host, &format!("/admin/api/products/{id}"))
        .bearer_auth(&token)
        .json(&json!({"options": [{"name": "Size", "values": ["S"]}, {"name": "Colour", "values": ["Red"]}]}));
    assert_eq!(refusal(r).await, (422, "unprocessable".into()));
    let r = add(json!({"sku": "TEE-L", "price_minor": 2700, "option_values": {"Size": "L", "Colour": "Red"}})).await.expect("add");
    assert_eq!(r.status(), 201);
    assert_eq!(
        shop(path.clone()).await["variants"]
            .as_array()
            .expect("variants")
            .len(),
        3
    );

    // Delete variants down to one; the last one stays.
    let variants: Vec<String> = shop(path.clone()).await["variants"]
        .as_array()
        .expect("variants")
        .iter()
        .map(|v| v["id"].as_str().expect("id").to_owned())
        .collect();
    for v in &variants[..2] {
        let r = stack
            .at(Method::DELETE, &host, &format!("/admin/api/variants/{v}"))
            .bearer_auth(&token);
        assert_eq!(status_of(r).await, 204);
    }
    let r = stack
        .at(
            Method::DELETE,
            &host,
            &format!("/admin/api/variants/{}", variants[2]),
        )
        .bearer_auth(&token);
    assert_eq!(refusal(r).await, (409, "conflict".into()));
    assert_eq!(
        shop(path.clone()).await["variants"]
            .as_array()
            .expect("variants")
            .len(),
        1
    );

    // Deleting the product: gone for shoppers at once.
    let r = stack
        .at(Method::DELETE, &host, &format!("/admin/api/products/{id}"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("delete");
    assert_eq!(r.status(), 204);
    let r = stack.get(&host, &path).send().await.expect("get");
    assert_eq!(error_code(r).await, (404, "not_found".into()));
    stack.shutdown().await;
}

const PNG: &[u8] =
    b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89";

#[tokio::test]
async fn images_are_stored_content_addressed_and_served_cacheable_forever() {
    let stack = Stack::start(1).await;
    let (host, token, _) = setup(&stack, "pics").await;
    let (other_host, other_token, _) = setup(&stack, "other").await;
    let p = create_tee(&stack, &host, &token).await;
    let id = p["id"].as_str().expect("id").to_owned();
    let upload = |host: &str, token: &str, id: &str, bytes: &'static [u8]| {
        stack
            .post(host, &format!("/admin/api/products/{id}/images?alt=Front"))
            .bearer_auth(token.to_owned())
            .header("content-type", "image/png")
            .body(bytes)
            .send()
    };
    let r = upload(&host, &token, &id, PNG).await.expect("upload");
    assert_eq!(r.status(), 201);
    let p: Value = r.json().await.expect("json");
    let image = &p["images"][0];
    let url = image["url"].as_str().expect("url").to_owned();
    assert!(url.starts_with("/media/") && url.ends_with(".png"), "{url}");
    assert_eq!(image["alt"], "Front");
    assert_eq!(image["byte_size"], PNG.len());

    let r = stack.get(&host, &url).send().await.expect("media");
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    assert_eq!(r.headers()["content-type"], "image/png");
    assert_eq!(r.bytes().await.expect("bytes").as_ref(), PNG);
    // The same bytes get the same URL; another store cannot read them.
    let again: Value = upload(&host, &token, &id, PNG)
        .await
        .expect("upload")
        .json()
        .await
        .expect("json");
    assert_eq!(again["images"][1]["url"], url.as_str());
    let r = stack.get(&other_host, &url).send().await.expect("media");
    assert_eq!(error_code(r).await, (404, "not_found".into()));

    // Shoppers see the image on the product.
    let shop: Value = stack
        .get(&host, &format!("/api/products/{id}"))
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(shop["images"].as_array().expect("images").len(), 2);

    // Not an image, empty, another store's product, traversal.
    let r = upload(&host, &token, &id, b"<svg onload=alert(1)>")
        .await
        .expect("upload");
    assert_eq!(error_code(r).await, (422, "invalid_image".into()));
    let r = upload(&host, &token, &id, b"").await.expect("upload");
    assert_eq!(error_code(r).await, (422, "invalid_image".into()));
    let r = upload(&other_host, &other_token, &id, PNG)
        .await
        .expect("upload");
    assert_eq!(error_code(r).await, (404, "not_found".into()));
    let r = stack.get(&host, "/media/..%2F..%2Fetc%2Fpasswd");
    assert_eq!(refusal(r).await, (404, "not_found".into()));
    // Too large (the pod's default limit is 8 MiB).
    let big: &'static [u8] = Box::leak(
        [PNG, &vec![0u8; 9 * 1024 * 1024]]
            .concat()
            .into_boxed_slice(),
    );
    let r = upload(&host, &token, &id, big).await.expect("upload");
    assert_eq!(error_code(r).await.0, 413);

    // Removing an image.
    let image_id = shop["images"][0]["id"].as_str().expect("id");
    let r = stack
        .at(
            Method::DELETE,
            &host,
            &format!("/admin/api/products/{id}/images/{image_id}"),
        )
        .bearer_auth(&token);
    assert_eq!(status_of(r).await, 204);
    let shop: Value = stack
        .get(&host, &format!("/api/products/{id}"))
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(shop["images"].as_array().expect("images").len(), 1);
    stack.shutdown().await;
}

#[tokio::test]
async fn product_reads_hit_the_cache_revalidate_by_etag_and_badges_follow_stock() {
    let stack = Stack::start(1).await;
    let (host, token, store) = setup(&stack, "cached").await;
    let pod_url = stack.pod_for(&store).await.app.url();
    let p = create_tee(&stack, &host, &token).await;
    let id = p["id"].as_str().expect("id").to_owned();
    let small = p["variants"][0]["id"].as_str().expect("variant").to_owned();
    let path = format!("/api/products/{id}");

    let first = stack.get(&host, &path).send().await.expect("get");
    assert_eq!(first.status(), 200);
    let etag = first.headers()["etag"].to_str().expect("etag").to_owned();
    assert!(first.headers()["cache-control"]
        .to_str()
        .expect("cc")
        .starts_with("public, max-age="));
    let hits = metric(
        &stack,
        &pod_url,
        "mercato_cache_lookups_total",
        &["kind=\"product", "outcome=\"hit\""],
    )
    .await;
    let loads = metric(
        &stack,
        &pod_url,
        "mercato_cache_loads_total",
        &["kind=\"product\""],
    )
    .await;
    let second = stack.get(&host, &path).send().await.expect("get");
    assert_eq!(second.headers()["etag"].to_str().expect("etag"), etag);
    assert_eq!(
        metric(
            &stack,
            &pod_url,
            "mercato_cache_lookups_total",
            &["kind=\"product", "outcome=\"hit\""]
        )
        .await,
        hits + 1.0,
        "one hit: the view (or, had it expired, the body behind it)"
    );
    assert_eq!(
        metric(
            &stack,
            &pod_url,
            "mercato_cache_loads_total",
            &["kind=\"product\""]
        )
        .await,
        loads,
        "the product body is not read from the database again"
    );

    let r = stack.get(&host, &path).header("if-none-match", &etag);
    assert_eq!(status_of(r).await, 304);

    // Stock drops to zero: the badge follows within seconds; the ETag changes.
    let r = stack
        .at(
            Method::PUT,
            &host,
            &format!("/admin/api/variants/{small}/stock"),
        )
        .bearer_auth(&token)
        .json(&json!({"on_hand": 0}));
    assert_eq!(status_of(r).await, 200);
    let sold_out = stack
        .eventually("the badge says sold out", || async {
            let r = stack.get(&host, &path).send().await.ok()?;
            let body: Value = r.json().await.ok()?;
            (body["variants"][0]["availability"] == "sold_out").then_some(body)
        })
        .await;
    assert_eq!(sold_out["variants"][1]["availability"], "low");
    let r = stack
        .get(&host, &path)
        .header("if-none-match", &etag)
        .send()
        .await
        .expect("get");
    assert_eq!(
        r.status(),
        200,
        "a changed body does not match the old ETag"
    );

    // Bad stock input.
    let r = stack
        .at(
            Method::PUT,
            &host,
            &format!("/admin/api/variants/{small}/stock"),
        )
        .bearer_auth(&token)
        .json(&json!({"on_hand": -1}));
    assert_eq!(refusal(r).await, (400, "invalid_request".into()));
    let r = stack
        .at(
            Method::PUT,
            &host,
            &format!("/admin/api/variants/{}/stock", uuid::Uuid::now_v7()),
        )
        .bearer_auth(&token)
        .json(&json!({"on_hand": 1}));
    assert_eq!(refusal(r).await, (404, "not_found".into()));
    stack.shutdown().await;
}

#[tokio::test]
async fn concurrent_misses_share_one_database_read() {
    let stack = Stack::start(1).await;
    let (host, token, store) = setup(&stack, "herd").await;
    let pod = stack.pod_for(&store).await;
    let pod_url = pod.app.url();
    let p = create_tee(&stack, &host, &token).await;
    let path = format!("/api/products/{}", p["id"].as_str().expect("id"));

    // Hold the products table so the first load waits; every other request
    // for the same product arrives while it does.
    let mut conn = sqlx::PgConnection::connect(&pod.database_url)
        .await
        .expect("connect");
    let mut tx = conn.begin().await.expect("begin");
    sqlx::query("LOCK TABLE products IN ACCESS EXCLUSIVE MODE")
        .execute(&mut *tx)
        .await
        .expect("lock");
    let loads = metric(
        &stack,
        &pod_url,
        "mercato_cache_loads_total",
        &["kind=\"product\""],
    )
    .await;
    let coalesced = metric(
        &stack,
        &pod_url,
        "mercato_cache_lookups_total",
        &["kind=\"product_view\"", "outcome=\"coalesced\""],
    )
    .await;
    let requests: Vec<_> = (0..16)
        .map(|_| tokio::spawn(stack.get(&host, &path).send()))
        .collect();
    stack
        .eventually("15 requests wait on the first one's load", || async {
            let now = metric(
                &stack,
                &pod_url,
                "mercato_cache_lookups_total",
                &["kind=\"product_view\"", "outcome=\"coalesced\""],
            )
            .await;
            (now - coalesced >= 15.0).then_some(())
        })
        .await;
    let waiting: (i64,) = sqlx::query_as(
        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%FROM products%'",
    )
    .fetch_one(&mut sqlx::PgConnection::connect(&pod.database_url).await.expect("connect"))
    .await
    .expect("count");
    assert_eq!(waiting.0, 1, "one database read waits, not sixteen");
    tx.rollback().await.expect("release");
    for r in requests {
        let r = r.await.expect("join").expect("response");
        assert_eq!(r.status(), 200);
    }
    assert_eq!(
        metric(
            &stack,
            &pod_url,
            "mercato_cache_loads_total",
            &["kind=\"product\""]
        )
        .await,
        loads + 1.0
    );
    stack.shutdown().await;
}

#[tokio::test]
async fn reads_work_from_postgres_while_redis_is_down() {
    let stack = Stack::start(1).await;
    let (host, token, store) = setup(&stack, "noredis").await;
    let pod = stack.pod_for(&store).await;
    let pod_url = pod.app.url();
    let p = create_tee(&stack, &host, &token).await;
    let id = p["id"].as_str().expect("id").to_owned();
    let path = format!("/api/products/{id}");
    assert_eq!(
        stack.get(&host, &path).send().await.expect("get").status(),
        200
    );

    let client = redis::Client::open(pod.redis.url()).expect("client");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("connect");
    let _ = redis::cmd("SHUTDOWN")
        .arg("NOSAVE")
        .query_async::<()>(&mut conn)
        .await;

    // Still served, and an edit made meanwhile is visible.
    let r = stack
        .at(Method::PATCH, &host, &format!("/admin/api/products/{id}"))
        .bearer_auth(&token)
        .json(&json!({"title": "Served from Postgres"}))
        .send()
        .await
        .expect("patch");
    assert_eq!(r.status(), 200);
    let r = stack.get(&host, &path).send().await.expect("get");
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["title"], "Served from Postgres");
    assert_eq!(body["variants"][0]["availability"], "in_stock");
    assert!(
        metric(
            &stack,
            &pod_url,
            "mercato_cache_lookups_total",
            &["outcome=\"fallback\""]
        )
        .await
            >= 1.0
    );
    let list = stack
        .get(&host, "/api/products")
        .send()
        .await
        .expect("list");
    assert_eq!(list.status(), 200);
    stack.shutdown().await;
}

/// Built without the `s3` feature, the pod refuses an S3 media store when
/// it starts instead of failing on the first upload.
#[cfg(not(feature = "s3"))]
#[test]
fn an_s3_media_store_needs_the_s3_feature() {
    let config = mercato_pod::config::MediaConfig {
        store: "s3".into(),
        s3: mercato_pod::config::S3Config {
            bucket: "images".into(),
            ..Default::default()
        },
        ..Default::default()
    };
    match mercato_pod::media::MediaStore::from_config(&config) {
        Ok(_) => panic!("an s3 media store without the s3 feature"),
        Err(e) => assert!(e.to_string().contains("--features s3"), "{e}"),
    }
}

#[tokio::test]
async fn control_characters_are_refused_with_400_not_stored_or_500() {
    let stack = Stack::start(1).await;
    let (host, token, _) = setup(&stack, "controls").await;
    // A NUL in a title used to reach Postgres and answer 500.
    for title in [
        "Tee\u{0}",
        "Bell\u{7}",
        "Esc\u{1b}[31m",
        "C1\u{85}",
        "Del\u{7f}",
    ] {
        let r = create(
            &stack,
            &host,
            &token,
            &json!({"title": title, "variants": [{"sku": "CTRL-1", "price_minor": 100}]}),
        )
        .await;
        assert_eq!(
            error_code(r).await,
            (400, "invalid_text".into()),
            "{title:?}"
        );
    }
    // Lines and tabs in a description are text, not controls.
    let r = create(
        &stack,
        &host,
        &token,
        &json!({"title": "Tee", "description": "line one\n\tline two\r\n",
                "variants": [{"sku": "CTRL-2", "price_minor": 100}]}),
    )
    .await;
    assert_eq!(r.status(), 201);
    // Query strings and paths, percent-encoded or not.
    for path in [
        "/api/search/suggest?q=%00",
        "/api/search?q=tee%0A",
        "/api/products?after=%C2%85",
        "/api/collections/sale%00/products",
    ] {
        let r = stack.get(&host, path);
        assert_eq!(refusal(r).await, (400, "invalid_text".into()), "{path}");
    }
    // Nothing was stored.
    let page: Value = stack
        .get(&host, "/api/products")
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    assert_eq!(page["items"].as_array().map(Vec::len), Some(1));
    stack.shutdown().await;
}
