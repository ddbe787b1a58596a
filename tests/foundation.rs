//! End-to-end tests of the foundation: real Postgres and Redis processes,
//! the control plane, pods and router talking over loopback.

mod common;

use std::time::{Duration, Instant};

use common::{error_code, hop_headers, refusal, status_of, Stack, PLATFORM};
use mercato_tenants::{Claims, Role};
use reqwest::Method;
use serde_json::{json, Value};
use sqlx::Connection as _;

async fn count_products(database_url: &str) -> i64 {
    let mut conn = sqlx::PgConnection::connect(database_url)
        .await
        .expect("connect");
    let (n,): (i64,) = sqlx::query_as("SELECT count(*) FROM products")
        .fetch_one(&mut conn)
        .await
        .expect("count");
    n
}

async fn titles(stack: &Stack, host: &str) -> Vec<String> {
    let page: Value = stack
        .get(host, "/api/products")
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    let mut titles: Vec<String> = page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|p| p["title"].as_str().expect("title").to_owned())
        .collect();
    titles.sort();
    titles
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stores_land_on_different_pods_and_each_domain_serves_only_its_own_products() {
    let stack = Stack::start(2).await;
    let alpha = stack.create_store("alpha").await;
    let beta = stack.create_store("beta").await;
    assert_ne!(
        alpha["pod_id"], beta["pod_id"],
        "placement spreads stores over pods"
    );

    let (a_host, b_host) = (format!("alpha.{PLATFORM}"), format!("beta.{PLATFORM}"));
    let (a_staff, b_staff) = (stack.staff_token(&alpha), stack.staff_token(&beta));
    // The same SKU in two stores is two different variants.
    let a_product = stack
        .create_product(&a_host, &a_staff, "Alpha Tee", "TEE-1", 1500)
        .await;
    stack
        .create_product(&b_host, &b_staff, "Beta Tee", "TEE-1", 2500)
        .await;
    stack
        .create_product(&a_host, &a_staff, "Alpha Mug", "MUG-1", 900)
        .await;

    assert_eq!(
        titles(&stack, &a_host).await,
        vec!["Alpha Mug", "Alpha Tee"]
    );
    assert_eq!(titles(&stack, &b_host).await, vec!["Beta Tee"]);
    assert_eq!(
        a_product["variants"][0]["price"],
        json!({"minor": 1500, "currency": "USD"})
    );

    // Alpha's product id means nothing on beta's domain.
    let id = a_product["id"].as_str().expect("id");
    let r = stack.get(&b_host, &format!("/api/products/{id}"));
    assert_eq!(refusal(r).await, (404, "not_found".into()));
    let r = stack.get(&a_host, &format!("/api/products/{id}"));
    assert_eq!(status_of(r).await, 200);

    // A token of store A never authorizes anything in store B.
    let r = stack
        .post(&b_host, "/admin/api/products")
        .bearer_auth(&a_staff)
        .json(&json!({"title": "Intruder", "variants": [{"sku": "X", "price_minor": 1}]}));
    assert_eq!(refusal(r).await, (403, "forbidden".into()));
    assert_eq!(titles(&stack, &b_host).await, vec!["Beta Tee"]);

    // A SKU is unique within a store.
    let r = stack
        .post(&a_host, "/admin/api/products")
        .bearer_auth(&a_staff)
        .json(&json!({"title": "Dup", "variants": [{"sku": "TEE-1", "price_minor": 1}]}));
    assert_eq!(refusal(r).await, (409, "sku_taken".into()));

    // Each pod holds only its own store's rows.
    let a_pod = stack.pod_for(&alpha).await;
    let b_pod = stack.pod_for(&beta).await;
    assert_eq!(count_products(&a_pod.database_url).await, 2);
    assert_eq!(count_products(&b_pod.database_url).await, 1);

    // The storefront page renders the store's products, escaped.
    let html = stack
        .get(&a_host, "/")
        .send()
        .await
        .expect("home")
        .text()
        .await
        .expect("text");
    assert!(html.contains("Alpha Tee") && !html.contains("Beta Tee"));
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_domains_get_404_and_custom_domains_route_while_they_exist() {
    let stack = Stack::start(1).await;
    let r = stack.get("nowhere.localhost", "/");
    assert_eq!(refusal(r).await, (404, "unknown_store".into()));
    let r = stack.get("shop.example.com", "/api/products");
    assert_eq!(refusal(r).await, (404, "unknown_store".into()));

    let store = stack.create_store("gamma").await;
    let id = store["id"].as_str().expect("id");
    let r = stack
        .operator(Method::POST, &format!("/v1/stores/{id}/domains"))
        .json(&json!({"domain": "Shop.Example.com"}));
    assert_eq!(status_of(r).await, 201);
    stack
        .eventually("the custom domain routes", || async {
            let r = stack
                .get("shop.example.com", "/api/products")
                .send()
                .await
                .ok()?;
            (r.status() == 200).then_some(())
        })
        .await;

    // Domains and handles are unique across the platform.
    let other = stack.create_store("delta").await;
    let other_id = other["id"].as_str().expect("id");
    let r = stack
        .operator(Method::POST, &format!("/v1/stores/{other_id}/domains"))
        .json(&json!({"domain": "shop.example.com"}));
    assert_eq!(refusal(r).await, (409, "domain_taken".into()));
    let r = stack
        .operator(Method::POST, "/v1/stores")
        .json(&json!({"name": "Again", "handle": "gamma", "owner_email": "x@gamma.example"}));
    assert_eq!(refusal(r).await, (409, "handle_taken".into()));
    // The platform domain of a store is not removable; a custom one is.
    let r = stack.operator(
        Method::DELETE,
        &format!("/v1/stores/{id}/domains/gamma.localhost"),
    );
    assert_eq!(refusal(r).await, (422, "unprocessable".into()));
    let r = stack.operator(
        Method::DELETE,
        &format!("/v1/stores/{id}/domains/shop.example.com"),
    );
    assert_eq!(status_of(r).await, 200);
    stack
        .eventually("the removed domain stops routing", || async {
            let r = stack
                .get("shop.example.com", "/api/products")
                .send()
                .await
                .ok()?;
            (r.status() == 404).then_some(())
        })
        .await;
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_sent_straight_to_the_wrong_pod_gets_421_and_writes_nothing() {
    let stack = Stack::start(2).await;
    let store = stack.create_store("epsilon").await;
    let staff = stack.staff_token(&store);
    let home = stack.pod_for(&store).await;
    let wrong = stack
        .pods
        .iter()
        .find(|p| p.name != home.name)
        .expect("a second pod");
    let id = store["id"].as_str().expect("id");

    let signed = |method: Method, path: &str| hop_headers(&stack, method, path, id);
    let r = stack
        .http
        .post(format!("{}/admin/api/products", wrong.app.url()))
        .headers(signed(Method::POST, "/admin/api/products"))
        .bearer_auth(&staff)
        .json(&json!({"title": "Misdirected", "variants": [{"sku": "M-1", "price_minor": 100}]}));
    assert_eq!(refusal(r).await, (421, "store_not_here".into()));
    let r = stack
        .http
        .get(format!("{}/api/products", wrong.app.url()))
        .headers(signed(Method::GET, "/api/products"));
    assert_eq!(refusal(r).await, (421, "store_not_here".into()));
    assert_eq!(count_products(&wrong.database_url).await, 0);
    assert_eq!(count_products(&home.database_url).await, 0);

    // The right pod, asked the same way, serves it.
    let r = stack
        .http
        .post(format!("{}/admin/api/products", home.app.url()))
        .headers(signed(Method::POST, "/admin/api/products"))
        .bearer_auth(&staff)
        .json(&json!({"title": "Direct", "variants": [{"sku": "M-1", "price_minor": 100}]}));
    assert_eq!(status_of(r).await, 201);
    assert_eq!(count_products(&home.database_url).await, 1);
    assert_eq!(count_products(&wrong.database_url).await, 0);
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pod_serves_only_requests_a_router_signed() {
    let stack = Stack::start(1).await;
    let store = stack.create_store("omicron").await;
    let staff = stack.staff_token(&store);
    let pod = stack.pod_for(&store).await;
    let id = store["id"].as_str().expect("id");
    let product = json!({"title": "Forged", "variants": [{"sku": "F-1", "price_minor": 100}]});
    // Naming the store, as the router does, is not enough without the hop.
    let r = stack
        .http
        .post(format!("{}/admin/api/products", pod.app.url()))
        .header(mercato_tenants::STORE_HEADER, id)
        .bearer_auth(&staff)
        .json(&product);
    assert_eq!(refusal(r).await, (400, "invalid_signature".into()));
    // A hop signed with another key, or for another request line.
    let forged = mercato_tenants::hop::direct(
        b"not-the-hop-key",
        &Method::POST,
        "/admin/api/products",
        id.parse().expect("id"),
    );
    let r = stack
        .http
        .post(format!("{}/admin/api/products", pod.app.url()))
        .headers(forged)
        .bearer_auth(&staff)
        .json(&product);
    assert_eq!(refusal(r).await, (400, "invalid_signature".into()));
    let r = stack
        .http
        .post(format!("{}/admin/api/products", pod.app.url()))
        .headers(hop_headers(&stack, Method::GET, "/api/products", id))
        .bearer_auth(&staff)
        .json(&product);
    assert_eq!(refusal(r).await, (400, "invalid_signature".into()));
    // A client address added to a signed hop is not believed either.
    let mut spoofed = hop_headers(&stack, Method::GET, "/api/products", id);
    spoofed.insert("x-forwarded-for", "203.0.113.7".parse().expect("header"));
    let r = stack
        .http
        .get(format!("{}/api/products", pod.app.url()))
        .headers(spoofed);
    assert_eq!(refusal(r).await, (400, "invalid_signature".into()));
    assert_eq!(count_products(&pod.database_url).await, 0);
    // Through the router it is served.
    let r = stack
        .post(&format!("omicron.{PLATFORM}"), "/admin/api/products")
        .bearer_auth(&staff)
        .json(&product);
    assert_eq!(status_of(r).await, 201);
    stack.shutdown().await;
}

/// A token signed by `key` (a signing key's text form) exactly as given,
/// bypassing the refusal of roles the key's party does not sign: what a
/// thief of that key could make.
fn forge(key: &str, kid: &str, claims: &serde_json::Value) -> String {
    use base64::Engine as _;
    let der = base64::engine::general_purpose::STANDARD
        .decode(key.rsplit(':').next().expect("material"))
        .expect("base64");
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
    header.kid = Some(kid.into());
    jsonwebtoken::encode(
        &header,
        claims,
        &jsonwebtoken::EncodingKey::from_ed_der(&der),
    )
    .expect("encodes")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_issuer_signs_only_its_own_tokens_and_each_side_accepts_only_its_own() {
    let stack = Stack::start(1).await;
    let store = stack.create_store("upsilon").await;
    let id = store["id"].as_str().expect("id");
    let host = format!("upsilon.{PLATFORM}");
    let now = common::now();
    let list = |token: &str| {
        stack
            .get(&host, "/admin/api/products")
            .bearer_auth(token.to_owned())
    };
    let pods_list = |token: &str| {
        stack
            .at(Method::GET, PLATFORM, "/v1/pods")
            .bearer_auth(token.to_owned())
    };

    // The operator's token (control plane key) works in a store and on the
    // operator API; a staff token made through the operator API is signed
    // by the store's pod and works in the store.
    assert_eq!(status_of(list(&stack.operator)).await, 200);
    let r = stack
        .operator(Method::POST, &format!("/v1/stores/{id}/tokens"))
        .json(&json!({"role": "staff", "ttl_secs": 600}))
        .send()
        .await
        .expect("token");
    assert_eq!(r.status(), 201);
    let staff: Value = r.json().await.expect("json");
    let staff = staff["token"].as_str().expect("token").to_owned();
    assert_eq!(status_of(list(&staff)).await, 200);
    assert_eq!(
        refusal(pods_list(&staff)).await,
        (401, "unauthorized".into())
    );
    for bad in [
        json!({"role": "operator"}),
        json!({"role": "staff", "ttl_secs": 10}),
    ] {
        let r = stack
            .operator(Method::POST, &format!("/v1/stores/{id}/tokens"))
            .json(&bad);
        assert_eq!(refusal(r).await.0, 400, "{bad}");
    }

    // A thief of the pods' key cannot make an operator, whichever issuer
    // the forged token names.
    let pods_key = stack.keys.pod_tokens().signing_key;
    for iss in ["pods", "control-plane"] {
        let forged = forge(
            &pods_key,
            stack.keys.pods.kid(),
            &json!({"sub": "thief", "role": "operator", "iat": now, "exp": now + 600,
                    "iss": iss, "aud": ["control-plane", "pods"]}),
        );
        assert_eq!(
            refusal(pods_list(&forged)).await,
            (401, "unauthorized".into()),
            "{iss}"
        );
        assert_eq!(
            refusal(list(&forged)).await,
            (401, "unauthorized".into()),
            "{iss}"
        );
    }
    // Nor can the control plane's key make a store session.
    let forged = forge(
        stack.keys.control_plane_secret(),
        stack.keys.control_plane.kid(),
        &json!({"sub": "s", "role": "staff", "store_id": id, "iat": now, "exp": now + 600,
                "iss": "control-plane", "aud": ["pods"]}),
    );
    assert_eq!(refusal(list(&forged)).await, (401, "unauthorized".into()));

    // Audiences: the router's routing-feed token opens no store, and a
    // service token for pods opens no operator API.
    assert_eq!(
        refusal(list(&stack.router_token())).await,
        (401, "unauthorized".into())
    );
    let service = stack
        .keys
        .issue(&Claims::new("cp", Role::Service, None, now, 600))
        .expect("token");
    assert_eq!(
        refusal(pods_list(&service)).await,
        (401, "unauthorized".into())
    );

    // A key the platform does not trust, under a trusted key id.
    let stranger = mercato_devstack::keys::PlatformKeys::generate().expect("keys");
    let token = stranger.operator_token("o", 600).expect("token");
    assert_eq!(refusal(list(&token)).await, (401, "unauthorized".into()));
    assert_eq!(
        refusal(pods_list(&token)).await,
        (401, "unauthorized".into())
    );
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_router_keeps_serving_without_the_control_plane_and_catches_up_when_it_returns() {
    let mut stack = Stack::start(1).await;
    let store = stack.create_store("zeta").await;
    let host = format!("zeta.{PLATFORM}");
    stack
        .create_product(&host, &stack.staff_token(&store), "Zeta Tee", "Z-1", 100)
        .await;

    stack.stop_control_plane().await;
    for _ in 0..20 {
        let r = stack.get(&host, "/api/products").send().await.expect("get");
        assert_eq!(
            r.status(),
            200,
            "served from the last table while the control plane is down"
        );
    }
    assert_eq!(titles(&stack, &host).await, vec!["Zeta Tee"]);
    // The operator API itself is unavailable meanwhile, and says so.
    let r = stack.operator(Method::GET, "/v1/stores");
    assert_eq!(refusal(r).await, (503, "pod_unavailable".into()));

    stack.start_control_plane().await;
    let r = stack
        .http
        .post(format!("{}/v1/stores", stack.control_plane_url()))
        .bearer_auth(&stack.operator)
        .json(&json!({"name": "Eta", "handle": "eta", "owner_email": "o@eta.example"}));
    assert_eq!(status_of(r).await, 201);
    let created = Instant::now();
    stack
        .eventually("the router picks up the new store", || async {
            let r = stack
                .get("eta.localhost", "/api/products")
                .send()
                .await
                .ok()?;
            (r.status() == 200).then_some(())
        })
        .await;
    // Reported, not asserted: tests do not judge wall-clock time.
    eprintln!(
        "new store routable {:?} after creation (control plane restarted)",
        created.elapsed()
    );
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_clear_4xx_codes() {
    let stack = Stack::start(1).await;
    let store = stack.create_store("theta").await;
    let host = format!("theta.{PLATFORM}");
    let staff = stack.staff_token(&store);
    let post = |body: String| {
        stack
            .post(&host, "/admin/api/products")
            .bearer_auth(&staff)
            .header("content-type", "application/json")
            .body(body)
    };

    let r = post("{not json".into()).send().await.expect("post");
    assert_eq!(error_code(r).await, (400, "invalid_json".into()));
    let r =
        post(json!({"title": "x", "variants": [{"sku": "A", "price_minor": "ten"}]}).to_string())
            .send()
            .await
            .expect("post");
    assert_eq!(error_code(r).await, (400, "invalid_json".into()));
    let r = post(json!({"title": "x", "variants": [{"sku": "A", "price_minor": -1}]}).to_string());
    assert_eq!(refusal(r).await, (400, "invalid_request".into()));
    let r = post(json!({"title": "", "variants": [{"sku": "A", "price_minor": 1}]}).to_string());
    assert_eq!(refusal(r).await, (400, "invalid_request".into()));
    let big = format!(
        "{{\"title\": \"{}\", \"variants\": []}}",
        "x".repeat(2 * 1024 * 1024)
    );
    let r = post(big).send().await.expect("post");
    assert_eq!(error_code(r).await, (413, "payload_too_large".into()));
    let r = stack
        .post(&host, "/admin/api/products")
        .bearer_auth(&staff)
        .body("{}");
    assert_eq!(refusal(r).await, (415, "unsupported_media_type".into()));
    let r = stack.post(&host, "/admin/api/products").json(&json!({}));
    assert_eq!(refusal(r).await, (401, "unauthorized".into()));
    let r = stack
        .post(&host, "/admin/api/products")
        .bearer_auth("not.a.token")
        .json(&json!({}));
    assert_eq!(refusal(r).await, (401, "unauthorized".into()));
    let r = stack.get(&host, "/api/products/not-a-uuid");
    assert_eq!(refusal(r).await, (400, "invalid_id".into()));
    let r = stack.get(&host, "/api/products?limit=0");
    assert_eq!(refusal(r).await, (400, "invalid_request".into()));
    let r = stack.get(&host, "/api/products?after=garbage");
    assert_eq!(refusal(r).await, (400, "invalid_request".into()));
    let r = stack.get(&host, "/internal/stores");
    assert_eq!(refusal(r).await, (404, "not_found".into()));
    let r = stack.at(Method::DELETE, &host, "/api/products");
    assert_eq!(refusal(r).await, (405, "method_not_allowed".into()));

    // Operator API.
    let r = stack.operator(Method::GET, "/v1/stores/12345");
    assert_eq!(refusal(r).await, (400, "invalid_id".into()));
    let r = stack
        .operator(Method::POST, "/v1/stores")
        .json(&json!({"name": "x", "handle": "a b", "owner_email": "o@x.example"}));
    assert_eq!(refusal(r).await, (400, "invalid_handle".into()));
    let r = stack
        .operator(Method::POST, "/v1/stores")
        .json(&json!({"name": "x", "handle": "okay", "owner_email": "nope"}));
    assert_eq!(refusal(r).await, (400, "invalid_request".into()));
    // A store session is not meant for the control plane at all.
    let r = stack
        .at(Method::GET, PLATFORM, "/v1/stores")
        .bearer_auth(&staff);
    assert_eq!(refusal(r).await, (401, "unauthorized".into()));
    let id = store["id"].as_str().expect("id");
    let r = stack
        .operator(Method::POST, &format!("/v1/stores/{id}/domains"))
        .json(&json!({"domain": "bad_domain!"}));
    assert_eq!(refusal(r).await, (400, "invalid_domain".into()));
    let r = stack
        .operator(Method::POST, &format!("/v1/stores/{id}/domains"))
        .json(&json!({"domain": "other.localhost"}));
    assert_eq!(refusal(r).await, (422, "unprocessable".into()));

    // Nothing above wrote a product, and the process answered every time.
    let page: Value = stack
        .get(&host, "/admin/api/products")
        .bearer_auth(&staff)
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(page["items"], json!([]));
    // The router's metrics answer by its address, never on a domain.
    let metrics = stack
        .http
        .get(format!("{}/metrics", stack.router.url()))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(metrics.contains("mercato_http_requests_total"));
    for on in [host.as_str(), PLATFORM] {
        let r = stack.get(on, "/metrics").send().await.expect("metrics");
        assert_eq!(error_code(r).await, (404, "not_found".into()), "{on}");
    }
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_pod_is_a_quick_503() {
    let mut stack = Stack::start(1).await;
    let store = stack.create_store("iota").await;
    let _ = store;
    let pod = stack.pods.pop().expect("pod");
    pod.app.stop().await;
    let r = stack
        .get("iota.localhost", "/api/products")
        .send()
        .await
        .expect("send");
    assert_eq!(
        r.headers().get("retry-after").map(|v| v.as_bytes()),
        Some(&b"1"[..]),
        "a 503 says when to come back"
    );
    assert_eq!(error_code(r).await, (503, "pod_unavailable".into()));
    pod.redis.stop().await;
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mercato_up_on_an_empty_data_folder_answers_on_the_storefront_url() {
    use tokio::io::AsyncBufReadExt as _;
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .expect("chmod");
    let router_port = mercato_devstack::local::free_port().expect("port");
    // A block of internal ports unlikely to be in use: below the kernel's
    // ephemeral range (32768 and up), where the other tests' free ports and
    // outgoing connections come from.
    let base = 10_000 + (std::process::id() % 1_000) as u16 * 20;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_mercato"))
        .args([
            "up",
            "--listen",
            &format!("127.0.0.1:{router_port}"),
            "--port-base",
            &base.to_string(),
        ])
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn mercato up");
    let mut lines = tokio::io::BufReader::new(child.stdout.take().expect("stdout")).lines();
    let url = tokio::time::timeout(Duration::from_secs(180), async {
        while let Some(line) = lines.next_line().await.expect("read") {
            eprintln!("up: {line}");
            if let Some(url) = line.trim().strip_prefix("storefront:") {
                return url.trim().to_owned();
            }
        }
        panic!("mercato up exited without printing the storefront URL");
    })
    .await
    .expect("mercato up printed the storefront URL");
    assert_eq!(url, format!("http://demo.localhost:{router_port}/"));

    let http = reqwest::Client::new();
    let r = http
        .get(format!("http://127.0.0.1:{router_port}/"))
        .header("host", format!("demo.localhost:{router_port}"))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 200);
    let html = r.text().await.expect("text");
    assert!(
        html.contains("Demo Store") && html.contains("Classic Tee"),
        "{html}"
    );

    // Ctrl-C / SIGTERM stops every child and exits cleanly.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id().expect("pid") as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .expect("signal");
    let status = tokio::time::timeout(Duration::from_secs(60), child.wait())
        .await
        .expect("up stops")
        .expect("status");
    assert!(status.success(), "up exited with {status}");
    let refused = http
        .get(format!("http://127.0.0.1:{router_port}/healthz"))
        .send()
        .await;
    assert!(refused.is_err(), "the router stopped with up");
}

#[tokio::test]
async fn two_pods_starting_together_on_one_database_both_migrate() {
    // A migration builds an index CONCURRENTLY, which waits for every other
    // session's transaction; a second migrator blocked in a lock call is one,
    // and Postgres killed one of the two as a deadlock.
    let dir = tempfile::tempdir().expect("tempdir");
    let pg = common::bare_pg(dir.path()).await;
    let url = pg.create_database("shared").await.expect("db");
    let pool = || async {
        sqlx::postgres::PgPoolOptions::new()
            .max_connections(2)
            .connect(&url)
            .await
            .expect("pool")
    };
    let (a, b) = (pool().await, pool().await);
    let (first, second) = tokio::join!(mercato_pod::db::migrate(&a), mercato_pod::db::migrate(&b));
    first.expect("first migrator");
    second.expect("second migrator");
    let (applied,): (i64,) = sqlx::query_as("SELECT count(*) FROM _sqlx_migrations WHERE success")
        .fetch_one(&a)
        .await
        .expect("count");
    let files = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/pod"))
        .expect("migrations")
        .count();
    assert_eq!(applied, files as i64);
    pg.stop().await;
}

/// Sends `request` as raw bytes to the router; the status of its answer.
async fn raw_status(stack: &Stack, request: &str) -> u16 {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut conn = tokio::net::TcpStream::connect(stack.router.addr)
        .await
        .expect("connect");
    conn.write_all(request.as_bytes()).await.expect("write");
    let mut answer = vec![0u8; 64];
    let n = conn.read(&mut answer).await.expect("read");
    let head = String::from_utf8_lossy(&answer[..n]).into_owned();
    head.split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in {head:?}"))
}

#[tokio::test]
async fn the_router_reads_one_host_and_prefers_an_absolute_target() {
    let stack = Stack::start(1).await;
    stack.create_store("kappa").await;
    let host = format!("kappa.{PLATFORM}");
    let plain = format!("GET /api/products HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    assert_eq!(raw_status(&stack, &plain).await, 200);
    // Two Host lines: a cache in front may have keyed on the other one.
    let twice = format!(
        "GET /api/products HTTP/1.1\r\nHost: {host}\r\nHost: other.{PLATFORM}\r\nConnection: close\r\n\r\n"
    );
    assert_eq!(raw_status(&stack, &twice).await, 400);
    // An absolute-form target names the host; Host is ignored (RFC 9112).
    let absolute = format!(
        "GET http://{host}/api/products HTTP/1.1\r\nHost: nobody.{PLATFORM}\r\nConnection: close\r\n\r\n"
    );
    assert_eq!(raw_status(&stack, &absolute).await, 200);
    let absolute_unknown = format!(
        "GET http://nobody.{PLATFORM}/api/products HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    );
    assert_eq!(raw_status(&stack, &absolute_unknown).await, 404);
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_database_answers_a_quick_503_and_cached_reads_go_on() {
    let stack = Stack::start_with(1, |cfg| cfg.db_acquire_timeout_ms = 500).await;
    let store = stack.create_store("lambda").await;
    let host = format!("lambda.{PLATFORM}");
    let token = stack.staff_token(&store);
    let product = stack
        .create_product(&host, &token, "Lamp", "LAMP-1", 2500)
        .await;
    let path = format!("/api/products/{}", product["id"].as_str().expect("id"));
    // Read once so the body is in the cache.
    assert_eq!(status_of(stack.get(&host, &path)).await, 200);
    stack.pg().freeze();
    let write = stack
        .post(&host, "/admin/api/products")
        .bearer_auth(&token)
        .json(&json!({"title": "Shade", "variants": [{"sku": "SHADE-1", "price_minor": 900}]}))
        .send()
        .await
        .expect("send");
    let retry_after = write.headers().get("retry-after").cloned();
    let refused = error_code(write).await;
    let cached = status_of(stack.get(&host, &path)).await;
    // Four more such answers in a row trip the router's database circuit
    // for this pod: the next write is refused at the router, not sent.
    let mut more = Vec::new();
    for i in 0..5 {
        let r = stack
            .post(&host, "/admin/api/products")
            .bearer_auth(&token)
            .json(&json!({"title": "Shade", "variants": [{"sku": format!("SHADE-X{i}"), "price_minor": 900}]}))
            .send()
            .await
            .expect("send");
        more.push(error_code(r).await);
    }
    let refusals_at_router = router_database_refusals(&stack).await;
    // A read still goes to the pod (which may serve it from its cache).
    let _ = stack.get(&host, &path).send().await;
    let refusals_after_read = router_database_refusals(&stack).await;
    stack.pg().thaw();
    assert_eq!(refused, (503, "database_unavailable".into()));
    assert_eq!(retry_after.as_ref().map(|v| v.as_bytes()), Some(&b"1"[..]));
    assert_eq!(cached, 200, "cached reads do not need the database");
    assert!(
        more.iter()
            .all(|a| *a == (503, "database_unavailable".into())),
        "{more:?}"
    );
    assert_eq!(
        refusals_at_router,
        Some(1),
        "the fifth failure in a row opened the circuit"
    );
    assert_eq!(
        refusals_after_read,
        Some(1),
        "reads still go through an open circuit"
    );
    // Back to normal once the database answers again.
    stack
        .eventually("writes work again", || async {
            let r = stack
                .post(&host, "/admin/api/products")
                .bearer_auth(&token)
                .json(&json!({"title": "Shade", "variants": [{"sku": "SHADE-2", "price_minor": 900}]}))
                .send()
                .await
                .ok()?;
            (r.status() == 201).then_some(())
        })
        .await;
    stack.shutdown().await;
}

/// The router's count of writes it refused for an open database circuit.
/// (Called while Postgres is frozen: it does not panic, so the test thaws
/// it before asserting.)
async fn router_database_refusals(stack: &Stack) -> Option<u64> {
    stack
        .metric(
            &stack.router.url(),
            "mercato_router_database_circuit_refusals_total",
        )
        .await
        .map(|v| v as u64)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_store_is_served_by_every_router_as_soon_as_signup_answers() {
    let stack = Stack::start(1).await;
    // A second router: it learns of new stores by its own long-poll.
    let second = mercato_router::Application::build(mercato_router::RouterConfig {
        listen: "127.0.0.1:0".into(),
        control_plane_url: stack.control_plane_url(),
        tokens: stack.keys.router_tokens(),
        control_plane_token: stack.router_token(),
        hop_secret: common::hop_secret(stack.secret()),
        platform_domain: PLATFORM.into(),
        ..Default::default()
    })
    .await
    .expect("router");
    let second_addr = second.local_addr();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(second.run_until(async move {
        let _ = stopped.await;
    }));
    for i in 0..20 {
        let handle = format!("fresh{i}");
        // Signup through one router, first write through the other.
        let r = stack
            .at(Method::POST, PLATFORM, "/v1/signup")
            .json(&json!({"email": format!("owner{i}@example.com"), "password": "correct horse battery",
                          "store_name": format!("Fresh {i}"), "handle": handle}))
            .send()
            .await
            .expect("signup");
        assert_eq!(r.status(), 201);
        let body: Value = r.json().await.expect("json");
        let token = body["token"].as_str().expect("token").to_owned();
        let (router, other) = if i % 2 == 0 {
            (format!("http://{second_addr}"), "the second router")
        } else {
            (stack.router.url(), "the first router")
        };
        let r = stack
            .http
            .post(format!("{router}/admin/api/products"))
            .header("host", format!("{handle}.{PLATFORM}"))
            .bearer_auth(&token)
            .json(&json!({"title": "First", "variants": [{"sku": "FIRST-1", "price_minor": 100}]}))
            .send()
            .await
            .expect("write");
        assert_eq!(r.status(), 201, "store {i} through {other}");
    }
    // Unknown hosts are still 404, and asking again is answered from
    // memory (not another refresh).
    for _ in 0..3 {
        let r = stack
            .http
            .get(format!("http://{second_addr}/api/products"))
            .header("host", format!("nobody.{PLATFORM}"));
        assert_eq!(refusal(r).await, (404, "unknown_store".into()));
    }
    let _ = stop.send(());
    let _ = task.await;
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_router_rate_limits_repeated_logins_and_signups_with_retry_after() {
    let stack = Stack::start(1).await;
    stack.create_store("sigma").await;
    // The default bursts, refilled so slowly that a slow machine cannot
    // earn a token back while the test runs (the default 30 a minute
    // gives one back every 2 s).
    let mut limits = mercato_router::limits::LimitsConfig::default();
    limits.login.per_minute = 0.01;
    limits.signup.per_minute = 0.01;
    let limited = mercato_router::Application::build(mercato_router::RouterConfig {
        listen: "127.0.0.1:0".into(),
        control_plane_url: stack.control_plane_url(),
        tokens: stack.keys.router_tokens(),
        control_plane_token: stack.router_token(),
        hop_secret: common::hop_secret(stack.secret()),
        platform_domain: PLATFORM.into(),
        limits,
        ..Default::default()
    })
    .await
    .expect("router");
    let addr = limited.local_addr();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(limited.run_until(async move {
        let _ = stopped.await;
    }));
    // Another account each time: the pod's own per-account limit stays
    // out of it.
    let login = |i: usize| {
        stack
            .http
            .post(format!("http://{addr}/api/customers/login"))
            .header("host", format!("sigma.{PLATFORM}"))
            .json(&json!({"email": format!("nobody{i}@example.com"), "password": "wrong password here"}))
    };
    // The default login budget lets a burst of 10 through (each refused
    // by the pod as bad credentials), then the router refuses.
    for i in 0..10 {
        assert_eq!(refusal(login(i)).await.0, 401);
    }
    let r = login(10).send().await.expect("send");
    let retry_after: u64 = r
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok()?.parse().ok())
        .expect("a Retry-After in seconds");
    assert!(retry_after >= 1);
    assert_eq!(error_code(r).await, (429, "rate_limited".into()));
    // Browsing the same store from the same address is not limited.
    let r = stack
        .http
        .get(format!("http://{addr}/api/products"))
        .header("host", format!("sigma.{PLATFORM}"));
    assert_eq!(status_of(r).await, 200);
    // Signups on the platform domain have their own budget (burst 5).
    let signup =
        |i: usize| {
            stack
            .http
            .post(format!("http://{addr}/v1/signup"))
            .header("host", PLATFORM)
            .json(&json!({"email": format!("s{i}@example.com"), "password": "correct horse battery",
                          "store_name": format!("Limited {i}"), "handle": format!("limited{i}")}))
        };
    for i in 0..5 {
        assert_eq!(status_of(signup(i)).await, 201);
    }
    assert_eq!(refusal(signup(5)).await, (429, "rate_limited".into()));
    let _ = stop.send(());
    let _ = task.await;
    stack.shutdown().await;
}

/// A request refused before its body is read (here: not signed by a
/// router) leaves its keep-alive connection usable: the pod reads the body
/// anyway, so the next request on the same connection is answered. A pod
/// that closed such connections silently made the router lose the next
/// request sent on its pooled connection (`503 pod_unavailable`).
#[tokio::test]
async fn a_connection_stays_usable_after_a_request_refused_before_its_body_was_read() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let stack = Stack::start(1).await;
    let addr = stack.pods[0].app.addr.to_string();
    let mut socket = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect");
    let body = "x".repeat(200_000);
    let first = format!(
        "POST /admin/api/products HTTP/1.1\r\nHost: {addr}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    socket.write_all(first.as_bytes()).await.expect("write");
    // The refusal, then the next request on the same connection.
    let mut seen = Vec::new();
    let mut buf = [0u8; 8192];
    let answered =
        |seen: &[u8], n: usize| String::from_utf8_lossy(seen).matches("HTTP/1.1 ").count() >= n;
    while !answered(&seen, 1) {
        let n = socket.read(&mut buf).await.expect("read");
        assert!(n > 0, "closed before answering");
        seen.extend_from_slice(&buf[..n]);
    }
    let head = String::from_utf8_lossy(&seen).to_lowercase();
    assert!(!head.contains("connection: close"), "{head}");
    socket
        .write_all(format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes())
        .await
        .expect("write the second request");
    while !answered(&seen, 2) {
        let n = tokio::time::timeout(Duration::from_secs(5), socket.read(&mut buf))
            .await
            .expect("an answer in time")
            .expect("read");
        assert!(
            n > 0,
            "the pod closed the connection: {}",
            String::from_utf8_lossy(&seen)
        );
        seen.extend_from_slice(&buf[..n]);
    }
    stack.shutdown().await;
}
