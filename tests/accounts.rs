//! End-to-end tests of accounts: merchant signup, staff and their
//! invitations, API keys, customers and their addresses, sessions, password
//! reset and login rate limits, through the router.

mod common;

use std::sync::{Arc, Mutex};

use common::{error_code, refusal, status_of, Stack, PLATFORM};
use reqwest::Method;
use serde_json::{json, Value};
use sqlx::Connection as _;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

const OWNER_PASSWORD: &str = "correct horse battery";

async fn pg(database_url: &str) -> sqlx::PgConnection {
    sqlx::PgConnection::connect(database_url)
        .await
        .expect("connect")
}

async fn count(database_url: &str, sql: &str) -> i64 {
    let (n,): (i64,) = sqlx::query_as(sql)
        .fetch_one(&mut pg(database_url).await)
        .await
        .expect("count");
    n
}

/// The payloads of the outbox events of `kind`, oldest first.
async fn outbox(database_url: &str, kind: &str) -> Vec<Value> {
    sqlx::query_as::<_, (Value,)>("SELECT payload FROM outbox WHERE type = $1 ORDER BY id")
        .bind(kind)
        .fetch_all(&mut pg(database_url).await)
        .await
        .expect("outbox")
        .into_iter()
        .map(|(v,)| v)
        .collect()
}

async fn json_of(r: reqwest::Response, status: u16) -> Value {
    let got = r.status().as_u16();
    let body: Value = r.json().await.unwrap_or(Value::Null);
    assert_eq!(got, status, "unexpected status, body: {body}");
    body
}

/// Waits until the router sends `host` to its store.
async fn routed(stack: &Stack, host: &str) {
    stack
        .eventually("the router routes the new store", || async {
            let r = stack.get(host, "/api/products").send().await.ok()?;
            (r.status() == 200).then_some(())
        })
        .await;
}

async fn signup(stack: &Stack, body: Value) -> reqwest::Response {
    stack
        .at(Method::POST, PLATFORM, "/v1/signup")
        .json(&body)
        .send()
        .await
        .expect("signup")
}

async fn staff_login(stack: &Stack, host: &str, email: &str, password: &str) -> reqwest::Response {
    stack
        .post(host, "/admin/api/login")
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .expect("login")
}

async fn customer_login(
    stack: &Stack,
    host: &str,
    email: &str,
    password: &str,
) -> reqwest::Response {
    stack
        .post(host, "/api/customers/login")
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .expect("login")
}

/// Registers and confirms a customer: the login the confirmation answers.
async fn register(stack: &Stack, host: &str, email: &str, password: &str) -> Value {
    let body = json!({"email": email, "password": password, "first_name": "Ada"});
    json_of(
        common::register_customer(stack, host, body, None).await,
        201,
    )
    .await
}

fn product(sku: &str) -> Value {
    json!({"title": format!("Tea {sku}"), "variants": [{"sku": sku, "price_minor": 900}]})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_merchant_signs_up_and_the_owner_manages_staff_and_api_keys() {
    let stack = Stack::start(1).await;

    // Bad input at signup.
    let base = json!({"email": "ada@teas.example", "password": OWNER_PASSWORD, "store_name": "Ada's Fine Teas"});
    let mut weak = base.clone();
    weak["password"] = json!("short");
    assert_eq!(
        error_code(signup(&stack, weak).await).await,
        (422, "weak_password".into())
    );
    let mut bad_email = base.clone();
    bad_email["email"] = json!("ada");
    assert_eq!(
        error_code(signup(&stack, bad_email).await).await,
        (400, "invalid_email".into())
    );
    let mut bad_handle = base.clone();
    bad_handle["handle"] = json!("a b");
    assert_eq!(
        error_code(signup(&stack, bad_handle).await).await,
        (400, "invalid_handle".into())
    );

    // Signup: the handle is a slug of the name; the answer has an owner token.
    let created = json_of(signup(&stack, base.clone()).await, 201).await;
    let store = created["store"].clone();
    assert_eq!(store["handle"], "adas-fine-teas");
    assert_eq!(store["state"], "active");
    assert_eq!(store["owner_email"], "ada@teas.example");
    let host = format!("adas-fine-teas.{PLATFORM}");
    assert_eq!(created["admin_url"], format!("http://{host}/admin"));
    assert_eq!(created["api_url"], format!("http://{host}/admin/api"));
    let signup_token = created["token"].as_str().expect("token").to_owned();
    assert!(created["expires_at"].as_i64().expect("expires_at") > common::now());
    assert_eq!(
        error_code(signup(&stack, base.clone()).await).await,
        (409, "handle_taken".into())
    );
    routed(&stack, &host).await;

    // The owner works with the signup token and by logging in.
    stack
        .create_product(&host, &signup_token, "Sencha", "SEN-1", 1200)
        .await;
    let login = json_of(
        staff_login(&stack, &host, "Ada@Teas.example", OWNER_PASSWORD).await,
        200,
    )
    .await;
    assert_eq!(login["staff"]["role"], "owner");
    assert_eq!(login["staff"]["email"], "ada@teas.example");
    let owner_id = login["staff"]["id"].as_str().expect("id").to_owned();
    let owner = login["token"].as_str().expect("token").to_owned();
    stack
        .create_product(&host, &owner, "Matcha", "MAT-1", 2400)
        .await;
    let pod = stack.pod_for(&store).await;
    assert_eq!(
        count(&pod.database_url, "SELECT count(*) FROM staff").await,
        1
    );

    // Invite Bob; the token reaches the mailer through the outbox only.
    let r = stack
        .post(&host, "/admin/api/staff/invitations")
        .bearer_auth(&owner)
        .json(&json!({"email": "bob@teas.example"}))
        .send()
        .await
        .expect("invite");
    let invitation = json_of(r, 201).await;
    assert_eq!(invitation["email"], "bob@teas.example");
    let events = outbox(&pod.database_url, "staff.invited").await;
    assert_eq!(events.len(), 1);
    let invite_token = events[0]["token"].as_str().expect("token").to_owned();
    assert_eq!(events[0]["email"], "bob@teas.example");
    assert_eq!(
        count(
            &pod.database_url,
            &format!(
                "SELECT count(*) FROM staff_invitations WHERE token_sha256 = '{invite_token}'"
            )
        )
        .await,
        0,
        "the token itself is not stored"
    );
    let accept = |token: String, password: &'static str| {
        stack
            .post(&host, "/admin/api/staff/invitations/accept")
            .json(&json!({"token": token, "password": password}))
            .send()
    };
    assert_eq!(
        error_code(accept(invite_token.clone(), "short").await.expect("accept")).await,
        (422, "weak_password".into())
    );
    assert_eq!(
        error_code(
            accept("0".repeat(64), "bob's long password")
                .await
                .expect("accept")
        )
        .await,
        (400, "invalid_token".into())
    );
    let bob = json_of(
        accept(invite_token.clone(), "bob's long password")
            .await
            .expect("accept"),
        201,
    )
    .await;
    assert_eq!(bob["staff"]["role"], "staff");
    let bob_id = bob["staff"]["id"].as_str().expect("id").to_owned();
    assert_eq!(
        error_code(
            accept(invite_token, "bob's long password")
                .await
                .expect("accept")
        )
        .await,
        (400, "invalid_token".into()),
        "an invitation works once"
    );
    let bob = json_of(
        staff_login(&stack, &host, "bob@teas.example", "bob's long password").await,
        200,
    )
    .await["token"]
        .as_str()
        .expect("token")
        .to_owned();
    let staff_list = json_of(
        stack
            .get(&host, "/admin/api/staff")
            .bearer_auth(&bob)
            .send()
            .await
            .expect("list"),
        200,
    )
    .await;
    assert_eq!(staff_list["items"].as_array().expect("items").len(), 2);

    // Bob is staff, not owner.
    stack
        .create_product(&host, &bob, "Hojicha", "HOJ-1", 1800)
        .await;
    let remove_owner = format!("/admin/api/staff/{owner_id}");
    for (method, path, body) in [
        (
            Method::POST,
            "/admin/api/staff/invitations",
            Some(json!({"email": "eve@teas.example"})),
        ),
        (
            Method::POST,
            "/admin/api/api-keys",
            Some(json!({"name": "mine"})),
        ),
        (Method::DELETE, remove_owner.as_str(), None),
    ] {
        let mut r = stack.at(method, &host, path).bearer_auth(&bob);
        if let Some(body) = body {
            r = r.json(&body);
        }
        assert_eq!(refusal(r).await, (403, "forbidden".into()), "{path}");
    }

    // The owner cannot be removed; Bob can, and his token stops working.
    let r = stack
        .at(Method::DELETE, &host, &remove_owner)
        .bearer_auth(&owner);
    assert_eq!(refusal(r).await, (409, "conflict".into()));
    let r = stack
        .at(Method::DELETE, &host, &format!("/admin/api/staff/{bob_id}"))
        .bearer_auth(&owner)
        .send()
        .await
        .expect("delete");
    assert_eq!(r.status(), 204);
    let r = stack.get(&host, "/admin/api/staff").bearer_auth(&bob);
    assert_eq!(refusal(r).await, (401, "unauthorized".into()));
    let r = staff_login(&stack, &host, "bob@teas.example", "bob's long password").await;
    assert_eq!(error_code(r).await, (401, "invalid_credentials".into()));

    // API keys: shown once, act as staff, never as owner, only in their store.
    let key = json_of(
        stack
            .post(&host, "/admin/api/api-keys")
            .bearer_auth(&owner)
            .json(&json!({"name": "erp"}))
            .send()
            .await
            .expect("key"),
        201,
    )
    .await;
    let secret = key["key"].as_str().expect("key").to_owned();
    assert!(secret.starts_with("mk_") && secret.len() == 67, "{secret}");
    assert_eq!(key["prefix"].as_str(), Some(&secret[..11]));
    let listed = json_of(
        stack
            .get(&host, "/admin/api/api-keys")
            .bearer_auth(&owner)
            .send()
            .await
            .expect("list"),
        200,
    )
    .await;
    assert_eq!(listed["items"].as_array().expect("items").len(), 1);
    assert!(listed["items"][0].get("key").is_none());
    let r = stack
        .post(&host, "/admin/api/products")
        .header("x-api-key", &secret)
        .json(&product("KEY-1"));
    assert_eq!(status_of(r).await, 201);
    let (last_used,): (Option<chrono::DateTime<chrono::Utc>>,) =
        sqlx::query_as("SELECT last_used_at FROM api_keys")
            .fetch_one(&mut pg(&pod.database_url).await)
            .await
            .expect("key row");
    assert!(last_used.is_some(), "a use is recorded");
    let r = stack
        .post(&host, "/admin/api/api-keys")
        .header("x-api-key", &secret)
        .json(&json!({"name": "escalate"}));
    assert_eq!(refusal(r).await, (403, "forbidden".into()));
    let other = stack.create_store("beta").await;
    let other_host = format!("beta.{PLATFORM}");
    let r = stack
        .post(&other_host, "/admin/api/products")
        .header("x-api-key", &secret)
        .json(&product("KEY-2"));
    assert_eq!(refusal(r).await, (401, "unauthorized".into()));
    let r = stack
        .at(
            Method::DELETE,
            &host,
            &format!("/admin/api/api-keys/{}", key["id"].as_str().expect("id")),
        )
        .bearer_auth(&owner);
    assert_eq!(status_of(r).await, 204);
    for k in [secret.as_str(), "mk_0000", "garbage"] {
        let r = stack
            .post(&host, "/admin/api/products")
            .header("x-api-key", k)
            .json(&product("KEY-3"));
        assert_eq!(refusal(r).await, (401, "unauthorized".into()), "{k}");
    }

    // A platform-minted staff token (no session) keeps owner rights.
    let r = stack
        .post(&other_host, "/admin/api/api-keys")
        .bearer_auth(stack.staff_token(&other))
        .json(&json!({"name": "ops"}));
    assert_eq!(status_of(r).await, 201);

    // Logout ends the session; the signup session is another one.
    let r = stack
        .post(&host, "/admin/api/logout")
        .bearer_auth(&owner)
        .send()
        .await
        .expect("logout");
    assert_eq!(r.status(), 204);
    let r = stack.get(&host, "/admin/api/staff").bearer_auth(&owner);
    assert_eq!(refusal(r).await, (401, "unauthorized".into()));
    let r = stack
        .get(&host, "/admin/api/staff")
        .bearer_auth(&signup_token);
    assert_eq!(status_of(r).await, 200);

    stack.shutdown().await;
}

/// Requests recorded by [`lossy_pod`]: (method, status the real pod gave).
type Seen = Arc<Mutex<Vec<(String, u16)>>>;

/// A stand-in pod in front of a real one: it forwards every request, but
/// answers a `PUT` with `502` after the real pod has done the work (an
/// answer lost on the way back). Other answers pass through.
async fn lossy_pod(real: String, seen: Seen) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let http = reqwest::Client::new();
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let (http, real, seen) = (http.clone(), real.clone(), seen.clone());
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                let head_end = loop {
                    let n = sock.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        break i + 4;
                    }
                };
                let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
                let mut lines = head.split("\r\n");
                let mut first = lines.next().unwrap_or("").split(' ');
                let method = first.next().unwrap_or("").to_owned();
                let path = first.next().unwrap_or("/").to_owned();
                let mut length = 0usize;
                let mut auth = String::new();
                for line in lines {
                    if let Some((k, v)) = line.split_once(':') {
                        match k.trim().to_ascii_lowercase().as_str() {
                            "content-length" => length = v.trim().parse().unwrap_or(0),
                            "authorization" => auth = v.trim().to_owned(),
                            _ => {}
                        }
                    }
                }
                while buf.len() < head_end + length {
                    let n = sock.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        break;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                }
                let body = buf[head_end..].to_vec();
                let response = http
                    .request(method.parse().expect("method"), format!("{real}{path}"))
                    .header("authorization", auth)
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await
                    .expect("real pod answers");
                let status = response.status().as_u16();
                let text = response.text().await.unwrap_or_default();
                seen.lock().expect("lock").push((method.clone(), status));
                let (status, text) = if method == "PUT" {
                    (502, String::new())
                } else {
                    (status, text)
                };
                let reply = format!(
                    "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{text}",
                    text.len()
                );
                let _ = sock.write_all(reply.as_bytes()).await;
                let _ = sock.shutdown().await;
            });
        }
    });
    format!("http://{addr}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signup_that_fails_half_way_leaves_nothing_behind() {
    let stack = Stack::start(1).await;
    let pod = &stack.pods[0];
    let pods = json_of(
        stack
            .operator(Method::GET, "/v1/pods")
            .send()
            .await
            .expect("pods"),
        200,
    )
    .await;
    let pod1 = pods[0]["id"].as_str().expect("id").to_owned();

    // Only the lossy stand-in (in front of pod-1) takes new stores.
    let seen: Seen = Arc::default();
    let lossy = lossy_pod(pod.app.url(), seen.clone()).await;
    let r = stack
        .operator(Method::POST, "/v1/pods")
        .json(&json!({"name": "lossy", "url": lossy, "capacity": 10}))
        .send()
        .await
        .expect("register");
    assert_eq!(r.status(), 201);
    let r = stack
        .operator(Method::PATCH, &format!("/v1/pods/{pod1}"))
        .json(&json!({"state": "draining"}))
        .send()
        .await
        .expect("drain");
    assert!(r.status().is_success());

    let r = signup(
        &stack,
        json!({"email": "ada@teas.example", "password": OWNER_PASSWORD, "store_name": "Lost Teas"}),
    )
    .await;
    assert_eq!(error_code(r).await, (503, "pod_unavailable".into()));
    // The pod hosted the store with its owner, lost the answer, and was
    // asked to forget it.
    assert_eq!(
        seen.lock().expect("lock").clone(),
        vec![("PUT".to_owned(), 200), ("DELETE".to_owned(), 204)]
    );
    assert_eq!(
        count(&stack.cp_database_url, "SELECT count(*) FROM stores").await,
        0
    );
    assert_eq!(
        count(&stack.cp_database_url, "SELECT count(*) FROM domains").await,
        0
    );
    for table in ["hosted_stores", "staff", "sessions"] {
        assert_eq!(
            count(&pod.database_url, &format!("SELECT count(*) FROM {table}")).await,
            0,
            "{table} on the pod"
        );
    }

    // The handle is free again once a healthy pod takes stores.
    let r = stack
        .operator(Method::PATCH, &format!("/v1/pods/{pod1}"))
        .json(&json!({"state": "active"}))
        .send()
        .await
        .expect("activate");
    assert!(r.status().is_success());
    let r = stack
        .operator(
            Method::PATCH,
            &format!("/v1/pods/{}", pods_id(&stack, "lossy").await),
        )
        .json(&json!({"state": "draining"}))
        .send()
        .await
        .expect("drain");
    assert!(r.status().is_success());
    let created = json_of(
        signup(
            &stack,
            json!({"email": "ada@teas.example", "password": OWNER_PASSWORD, "store_name": "Lost Teas"}),
        )
        .await,
        201,
    )
    .await;
    let host = format!("lost-teas.{PLATFORM}");
    routed(&stack, &host).await;
    let r = staff_login(&stack, &host, "ada@teas.example", OWNER_PASSWORD).await;
    assert_eq!(r.status(), 200);

    // A live store cannot be forgotten through the internal API.
    let r = stack
        .http
        .delete(format!(
            "{}/internal/stores/{}",
            pod.app.url(),
            created["store"]["id"].as_str().expect("id")
        ))
        .bearer_auth(&stack.operator);
    assert_eq!(refusal(r).await, (409, "conflict".into()));
    assert_eq!(
        count(&pod.database_url, "SELECT count(*) FROM staff").await,
        1
    );

    stack.shutdown().await;
}

async fn pods_id(stack: &Stack, name: &str) -> String {
    let pods = json_of(
        stack
            .operator(Method::GET, "/v1/pods")
            .send()
            .await
            .expect("pods"),
        200,
    )
    .await;
    pods.as_array()
        .expect("pods")
        .iter()
        .find(|p| p["name"] == name)
        .and_then(|p| p["id"].as_str())
        .expect("pod listed")
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn customers_have_one_account_per_store_and_sessions_end_at_logout() {
    let stack = Stack::start(1).await;
    stack.create_store("alpha").await;
    stack.create_store("beta").await;
    let (alpha, beta) = (format!("alpha.{PLATFORM}"), format!("beta.{PLATFORM}"));

    // Bad input.
    let bad = |body: Value| stack.post(&alpha, "/api/customers").json(&body).send();
    let cases = [
        (
            json!({"email": "nope", "password": OWNER_PASSWORD}),
            (400, "invalid_email"),
        ),
        (
            json!({"email": "c@x.example", "password": "short"}),
            (422, "weak_password"),
        ),
        (json!({"email": "c@x.example"}), (400, "invalid_json")),
        (
            json!({"email": "c@x.example", "password": OWNER_PASSWORD, "admin": true}),
            (400, "invalid_json"),
        ),
        (
            json!({"email": "c@x.example", "password": OWNER_PASSWORD, "first_name": "x".repeat(101)}),
            (400, "invalid_request"),
        ),
    ];
    for (body, (status, code)) in cases {
        let r = bad(body.clone()).await.expect("register");
        assert_eq!(error_code(r).await, (status, code.to_owned()), "{body}");
    }

    // The same email in two stores: two accounts, two passwords.
    let a = register(&stack, &alpha, "Cleo@X.example", "alpha password one").await;
    let b = register(&stack, &beta, "cleo@x.example", "beta password two").await;
    assert_eq!(a["customer"]["email"], "cleo@x.example");
    assert_eq!(a["customer"]["first_name"], "Ada");
    assert_ne!(a["customer"]["id"], b["customer"]["id"]);
    // Registering a taken email is answered as a new one, changes nothing
    // (the owner is told by mail).
    let r = stack
        .post(&alpha, "/api/customers")
        .json(&json!({"email": "cleo@x.example", "password": "another password"}));
    assert_eq!(status_of(r).await, 202);
    assert_eq!(
        customer_login(&stack, &alpha, "cleo@x.example", "alpha password one")
            .await
            .status(),
        200
    );
    assert_eq!(
        customer_login(&stack, &beta, "cleo@x.example", "beta password two")
            .await
            .status(),
        200
    );
    let r = customer_login(&stack, &alpha, "cleo@x.example", "beta password two").await;
    assert_eq!(error_code(r).await, (401, "invalid_credentials".into()));

    // Unknown email and wrong password are indistinguishable.
    let unknown = customer_login(&stack, &alpha, "nobody@x.example", "alpha password one").await;
    let wrong = customer_login(&stack, &alpha, "cleo@x.example", "wrong password!").await;
    let (u_status, w_status) = (unknown.status(), wrong.status());
    let u: Value = unknown.json().await.expect("json");
    let w: Value = wrong.json().await.expect("json");
    assert_eq!(u_status, 401);
    assert_eq!(u_status, w_status);
    assert_eq!(u["error"]["code"], "invalid_credentials");
    assert_eq!(u["error"]["code"], w["error"]["code"]);
    assert_eq!(u["error"]["message"], w["error"]["message"]);
    let r = customer_login(&stack, &alpha, "not an email", "whatever pass").await;
    assert_eq!(error_code(r).await, (400, "invalid_email".into()));

    // Profile, then logout ends the session.
    let login = json_of(
        customer_login(&stack, &alpha, "cleo@x.example", "alpha password one").await,
        200,
    )
    .await;
    let token = login["token"].as_str().expect("token").to_owned();
    let me = json_of(
        stack
            .at(Method::PATCH, &alpha, "/api/customers/me")
            .bearer_auth(&token)
            .json(&json!({"last_name": "Patra", "phone": "+33 1 23 45 67 89", "accepts_marketing": true}))
            .send()
            .await
            .expect("patch"),
        200,
    )
    .await;
    assert_eq!(me["first_name"], "Ada");
    assert_eq!(me["last_name"], "Patra");
    assert_eq!(me["accepts_marketing"], true);
    let r = stack
        .at(Method::PATCH, &alpha, "/api/customers/me")
        .bearer_auth(&token)
        .json(&json!({"phone": "call me maybe"}));
    assert_eq!(refusal(r).await, (400, "invalid_request".into()));
    let r = stack.get(&beta, "/api/customers/me").bearer_auth(&token);
    assert_eq!(refusal(r).await, (403, "forbidden".into()));
    let r = stack
        .post(&alpha, "/api/customers/logout")
        .bearer_auth(&token)
        .send()
        .await
        .expect("logout");
    assert_eq!(r.status(), 204);
    let r = stack.get(&alpha, "/api/customers/me").bearer_auth(&token);
    assert_eq!(refusal(r).await, (401, "unauthorized".into()));
    let r = stack.get(&alpha, "/api/customers/me");
    assert_eq!(refusal(r).await, (401, "unauthorized".into()));

    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn addresses_and_password_reset() {
    let stack = Stack::start(1).await;
    let store = stack.create_store("gamma").await;
    let host = format!("gamma.{PLATFORM}");
    let pod = stack.pod_for(&store).await;
    let cleo = register(&stack, &host, "cleo@x.example", "first password!").await;
    let cleo_token = cleo["token"].as_str().expect("token").to_owned();
    let dan = register(&stack, &host, "dan@x.example", "dan's password").await;
    let dan_token = dan["token"].as_str().expect("token").to_owned();

    // Addresses.
    let address = json!({"name": "Cleo", "line1": "1 Rue de Rivoli", "city": "Paris", "postal_code": "75001", "country": "fr"});
    let add = |token: &str, body: &Value| {
        stack
            .post(&host, "/api/customers/me/addresses")
            .bearer_auth(token)
            .json(body)
            .send()
    };
    let home = json_of(add(&cleo_token, &address).await.expect("add"), 201).await;
    assert_eq!(home["country"], "FR");
    assert_eq!(home["is_default"], true, "the first address is the default");
    let mut office = address.clone();
    office["line1"] = json!("2 Avenue Foch");
    office["is_default"] = json!(true);
    let office = json_of(add(&cleo_token, &office).await.expect("add"), 201).await;
    for (field, value) in [
        ("country", json!("FRA")),
        ("name", json!("")),
        ("line1", json!("x".repeat(201))),
        ("postal_code", json!("x".repeat(21))),
    ] {
        let mut bad = address.clone();
        bad[field] = value;
        let r = add(&cleo_token, &bad).await.expect("add");
        assert_eq!(
            error_code(r).await,
            (400, "invalid_request".into()),
            "{field}"
        );
    }
    let r = add(&cleo_token, &json!({"name": "x"})).await.expect("add");
    assert_eq!(error_code(r).await, (400, "invalid_json".into()));
    let list = json_of(
        stack
            .get(&host, "/api/customers/me/addresses")
            .bearer_auth(&cleo_token)
            .send()
            .await
            .expect("list"),
        200,
    )
    .await;
    let items = list["items"].as_array().expect("items");
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["is_default"], false);
    assert_eq!(items[1]["is_default"], true);
    let home_path = format!(
        "/api/customers/me/addresses/{}",
        home["id"].as_str().expect("id")
    );
    let patched = json_of(
        stack
            .at(Method::PATCH, &host, &home_path)
            .bearer_auth(&cleo_token)
            .json(&json!({"line2": "Apt 4", "country": "be"}))
            .send()
            .await
            .expect("patch"),
        200,
    )
    .await;
    assert_eq!(patched["line2"], "Apt 4");
    assert_eq!(patched["country"], "BE");
    assert_eq!(patched["line1"], "1 Rue de Rivoli");
    let r = stack
        .at(Method::PATCH, &host, &home_path)
        .bearer_auth(&cleo_token)
        .json(&json!({"country": "Belgium"}));
    assert_eq!(refusal(r).await, (400, "invalid_request".into()));
    // Dan cannot see, change or delete Cleo's address.
    let r = stack
        .at(Method::PATCH, &host, &home_path)
        .bearer_auth(&dan_token)
        .json(&json!({"line2": "mine now"}));
    assert_eq!(refusal(r).await, (404, "not_found".into()));
    let r = stack
        .at(Method::DELETE, &host, &home_path)
        .bearer_auth(&dan_token);
    assert_eq!(refusal(r).await, (404, "not_found".into()));
    let dans = json_of(
        stack
            .get(&host, "/api/customers/me/addresses")
            .bearer_auth(&dan_token)
            .send()
            .await
            .expect("list"),
        200,
    )
    .await;
    assert_eq!(dans["items"].as_array().expect("items").len(), 0);
    let r = stack
        .at(Method::DELETE, &host, &home_path)
        .bearer_auth(&cleo_token)
        .send()
        .await
        .expect("delete");
    assert_eq!(r.status(), 204);
    let r = stack
        .at(Method::DELETE, &host, &home_path)
        .bearer_auth(&cleo_token);
    assert_eq!(refusal(r).await, (404, "not_found".into()));
    let r = stack
        .at(
            Method::PATCH,
            &host,
            "/api/customers/me/addresses/not-an-id",
        )
        .bearer_auth(&cleo_token)
        .json(&json!({}));
    assert_eq!(refusal(r).await, (400, "invalid_id".into()));
    assert_eq!(
        count(
            &pod.database_url,
            &format!(
                "SELECT count(*) FROM customer_addresses WHERE id = '{}'",
                office["id"].as_str().expect("id")
            )
        )
        .await,
        1
    );

    // Password reset: 202 whatever the email; the token goes to the outbox.
    let reset = |email: &str| {
        stack
            .post(&host, "/api/customers/password-reset")
            .json(&json!({"email": email}))
            .send()
    };
    assert_eq!(
        reset("nobody@x.example").await.expect("reset").status(),
        202
    );
    assert_eq!(reset("cleo@x.example").await.expect("reset").status(), 202);
    let events = outbox(&pod.database_url, "customer.password_reset_requested").await;
    assert_eq!(events.len(), 1, "only the existing account gets a mail");
    assert_eq!(events[0]["email"], "cleo@x.example");
    assert_eq!(events[0]["customer_id"], cleo["customer"]["id"]);
    let token = events[0]["token"].as_str().expect("token").to_owned();
    let confirm = |token: &str, password: &str| {
        stack
            .post(&host, "/api/customers/password-reset/confirm")
            .json(&json!({"token": token, "password": password}))
            .send()
    };
    let r = confirm(&token, "short").await.expect("confirm");
    assert_eq!(error_code(r).await, (422, "weak_password".into()));
    let r = confirm("not-the-token", "second password!")
        .await
        .expect("confirm");
    assert_eq!(error_code(r).await, (400, "invalid_token".into()));
    assert_eq!(
        confirm(&token, "second password!")
            .await
            .expect("confirm")
            .status(),
        204
    );
    let r = confirm(&token, "third password!!").await.expect("confirm");
    assert_eq!(
        error_code(r).await,
        (400, "invalid_token".into()),
        "once only"
    );
    let r = customer_login(&stack, &host, "cleo@x.example", "first password!").await;
    assert_eq!(error_code(r).await, (401, "invalid_credentials".into()));
    assert_eq!(
        customer_login(&stack, &host, "cleo@x.example", "second password!")
            .await
            .status(),
        200
    );
    // The reset signed Cleo out everywhere; Dan is untouched.
    let r = stack
        .get(&host, "/api/customers/me")
        .bearer_auth(&cleo_token);
    assert_eq!(refusal(r).await, (401, "unauthorized".into()));
    let r = stack
        .get(&host, "/api/customers/me")
        .bearer_auth(&dan_token);
    assert_eq!(status_of(r).await, 200);

    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_login_failures_from_one_client_are_rate_limited_even_with_the_right_password() {
    let stack = Stack::start(1).await;
    stack.create_store("delta").await;
    let host = format!("delta.{PLATFORM}");
    register(&stack, &host, "cleo@x.example", "right password!").await;
    register(&stack, &host, "dan@x.example", "dan's password").await;

    // The default limit: 5 failures per account from one client.
    for i in 0..5 {
        let r = customer_login(&stack, &host, "cleo@x.example", "wrong password!").await;
        assert_eq!(
            error_code(r).await,
            (401, "invalid_credentials".into()),
            "attempt {i}"
        );
    }
    let r = customer_login(&stack, &host, "cleo@x.example", "right password!").await;
    let retry_after: u64 = r
        .headers()
        .get("retry-after")
        .expect("retry-after")
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!(
        (1..=30).contains(&retry_after),
        "the first wait: {retry_after}"
    );
    assert_eq!(error_code(r).await, (429, "rate_limited".into()));
    // Another account from the same address is not limited.
    assert_eq!(
        customer_login(&stack, &host, "dan@x.example", "dan's password")
            .await
            .status(),
        200
    );
    // Unknown accounts count too, and staff logins are limited the same way.
    for _ in 0..5 {
        let r = staff_login(&stack, &host, "ghost@x.example", "some password").await;
        assert_eq!(error_code(r).await, (401, "invalid_credentials".into()));
    }
    let r = staff_login(&stack, &host, "ghost@x.example", "some password").await;
    assert!(r.headers().contains_key("retry-after"));
    assert_eq!(error_code(r).await, (429, "rate_limited".into()));
    stack.shutdown().await;
}

/// A login sent straight to the store's pod as a router forwards it from a
/// client at `address` (the hop signs the address, so only then is it
/// believed).
async fn login_from(
    stack: &Stack,
    store: &Value,
    path: &str,
    address: &str,
    email: &str,
    password: &str,
) -> reqwest::Response {
    use mercato_tenants::hop;
    let pod = stack.pod_for(store).await;
    let mut headers = reqwest::header::HeaderMap::new();
    let value = |s: &str| reqwest::header::HeaderValue::from_str(s).expect("header");
    headers.insert(
        mercato_tenants::STORE_HEADER,
        value(store["id"].as_str().expect("id")),
    );
    headers.insert(
        hop::REQUEST_ID_HEADER,
        value(&uuid::Uuid::now_v7().to_string()),
    );
    headers.insert(hop::CLIENT_HEADER, value(address));
    let key = common::hop_secret(stack.secret());
    let uri: axum::http::Uri = path.parse().expect("uri");
    let signed = hop::sign_now(key.as_bytes(), &Method::POST, &uri, &headers);
    headers.insert(hop::HOP_HEADER, value(&signed));
    stack
        .http
        .post(format!("{}{path}", pod.app.url()))
        .headers(headers)
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .expect("login")
}

fn retry_after(r: &reqwest::Response) -> u64 {
    r.headers()
        .get("retry-after")
        .expect("retry-after")
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stranger_guessing_the_owners_password_is_slowed_and_the_owner_still_signs_in() {
    let stack = Stack::start(1).await;
    let body = json!({"email": "ada@teas.example", "password": OWNER_PASSWORD, "store_name": "Guarded Teas"});
    let created = json_of(signup(&stack, body).await, 201).await;
    let store = created["store"].clone();
    let login = "/admin/api/login";
    let (stranger, owner) = ("203.0.113.7", "198.51.100.2");

    for i in 0..5 {
        let r = login_from(
            &stack,
            &store,
            login,
            stranger,
            "ada@teas.example",
            "guess!guess!",
        )
        .await;
        assert_eq!(
            error_code(r).await,
            (401, "invalid_credentials".into()),
            "attempt {i}"
        );
    }
    // The stranger now waits, even with the right password.
    let r = login_from(
        &stack,
        &store,
        login,
        stranger,
        "ada@teas.example",
        OWNER_PASSWORD,
    )
    .await;
    assert!((1..=30).contains(&retry_after(&r)));
    assert_eq!(error_code(r).await, (429, "rate_limited".into()));
    // The owner, from another address, signs in.
    let r = login_from(
        &stack,
        &store,
        login,
        owner,
        "ada@teas.example",
        OWNER_PASSWORD,
    )
    .await;
    let signed_in = json_of(r, 200).await;
    assert_eq!(signed_in["staff"]["role"], "owner");
    // And the stranger is still held back.
    let r = login_from(
        &stack,
        &store,
        login,
        stranger,
        "ada@teas.example",
        OWNER_PASSWORD,
    )
    .await;
    assert_eq!(error_code(r).await, (429, "rate_limited".into()));
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_flood_is_shed_with_503_and_never_hashes_past_the_bound() {
    let stack = Stack::start_with(1, |c| {
        c.accounts.hash_concurrency = 1;
        c.accounts.hash_queue = 1;
    })
    .await;
    let body = json!({"email": "ada@teas.example", "password": OWNER_PASSWORD, "store_name": "Flooded Teas"});
    let created = json_of(signup(&stack, body).await, 201).await;
    let store = created["store"].clone();

    // 48 logins at once, each from its own address (so no login limit
    // applies): right, wrong and unknown.
    let attempts = (0..48).map(|i| {
        let (stack, store) = (&stack, &store);
        async move {
            let address = format!("192.0.2.{i}");
            let (email, password) = match i % 3 {
                0 => ("ada@teas.example", OWNER_PASSWORD),
                1 => ("ada@teas.example", "not the password"),
                _ => ("nobody@teas.example", "not the password"),
            };
            let r = login_from(stack, store, "/admin/api/login", &address, email, password).await;
            let retry = r.headers().get("retry-after").cloned();
            let (status, code) = error_code(r).await;
            (status, code, retry)
        }
    });
    let answers = futures::future::join_all(attempts).await;
    let mut shed = 0;
    for (status, code, retry) in &answers {
        assert!([200, 401, 429, 503].contains(status), "{status} {code}");
        if *status == 503 {
            shed += 1;
            assert_eq!(code, "overloaded");
            assert_eq!(retry.as_ref().map(|v| v.as_bytes()), Some(&b"1"[..]));
        }
    }
    assert!(
        shed > 0,
        "48 logins at once on one slot and a queue of one shed some"
    );
    // Once the flood is over the owner signs in.
    let r = login_from(
        &stack,
        &store,
        "/admin/api/login",
        "192.0.2.200",
        "ada@teas.example",
        OWNER_PASSWORD,
    )
    .await;
    assert_eq!(r.status().as_u16(), 200);

    let pod = stack.pod_for(&store).await.app.url();
    let peak = stack
        .metric(&pod, "mercato_password_hashes_in_flight_max")
        .await;
    assert_eq!(peak, Some(1.0), "never more than one hash at once");
    let counted = stack
        .metric(&pod, "mercato_password_hashes_shed_total")
        .await;
    assert_eq!(counted, Some(f64::from(shed)));
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registration_answers_the_same_whether_or_not_the_email_has_an_account() {
    let stack = Stack::start(1).await;
    let store = stack.create_store("kappa").await;
    let host = format!("kappa.{PLATFORM}");
    let db = stack.pod_for(&store).await.database_url.clone();
    register(&stack, &host, "cleo@x.example", "cleo's password").await;

    let attempt = |email: &str| {
        stack
            .post(&host, "/api/customers")
            .json(
                &json!({"email": email, "password": "a stranger's password", "first_name": "Eve"}),
            )
            .send()
    };
    let taken = attempt("Cleo@X.example").await.expect("register");
    let fresh = attempt("dora@x.example").await.expect("register");
    let (taken_status, fresh_status) = (taken.status(), fresh.status());
    let taken_body = taken.text().await.expect("body");
    let fresh_body = fresh.text().await.expect("body");
    assert_eq!(taken_status, 202);
    assert_eq!(fresh_status, taken_status);
    assert_eq!(fresh_body, taken_body, "nothing tells the two apart");
    assert_eq!(
        serde_json::from_str::<Value>(&taken_body).expect("json"),
        json!({"status": "confirmation_sent"})
    );

    // The owner of the taken address is told; nothing else changed.
    let notices = outbox(&db, "customer.account_exists_notice").await;
    assert_eq!(notices.len(), 1);
    assert_eq!(notices[0]["email"], "cleo@x.example");
    assert_eq!(
        common::confirmation_tokens(&stack, "cleo@x.example")
            .await
            .len(),
        1
    );
    assert_eq!(
        customer_login(&stack, &host, "cleo@x.example", "cleo's password")
            .await
            .status(),
        200
    );
    let r = customer_login(&stack, &host, "cleo@x.example", "a stranger's password").await;
    assert_eq!(error_code(r).await, (401, "invalid_credentials".into()));

    // The new address: pending until confirmed, with the token and the
    // password of the registration.
    let r = customer_login(&stack, &host, "dora@x.example", "a stranger's password").await;
    assert_eq!(error_code(r).await, (401, "invalid_credentials".into()));
    let first = common::confirmation_tokens(&stack, "dora@x.example").await;
    assert_eq!(first.len(), 1);
    // Registered again while pending: the new password and token replace
    // the old ones.
    let r = stack
        .post(&host, "/api/customers")
        .json(&json!({"email": "dora@x.example", "password": "dora's own password"}));
    assert_eq!(status_of(r).await, 202);
    let tokens = common::confirmation_tokens(&stack, "dora@x.example").await;
    assert_eq!(tokens.len(), 2);
    let confirm = |token: &str, password: &str| {
        stack
            .post(&host, "/api/customers/confirm")
            .json(&json!({"token": token, "password": password}))
    };
    let r = confirm(&first[0], "a stranger's password");
    assert_eq!(refusal(r).await, (400, "invalid_token".into()), "replaced");
    let r = confirm(&tokens[0], "a stranger's password");
    assert_eq!(refusal(r).await, (401, "invalid_credentials".into()));
    let r = confirm("not-a-token", "dora's own password");
    assert_eq!(refusal(r).await, (400, "invalid_token".into()));
    let login = json_of(
        confirm(&tokens[0], "dora's own password")
            .send()
            .await
            .expect("confirm"),
        201,
    )
    .await;
    assert_eq!(login["customer"]["email"], "dora@x.example");
    let r = stack
        .get(&host, "/api/customers/me")
        .bearer_auth(login["token"].as_str().expect("token"));
    assert_eq!(status_of(r).await, 200);
    let r = confirm(&tokens[0], "dora's own password");
    assert_eq!(refusal(r).await, (400, "invalid_token".into()), "once only");
    assert_eq!(
        customer_login(&stack, &host, "dora@x.example", "dora's own password")
            .await
            .status(),
        200
    );
    stack.shutdown().await;
}
