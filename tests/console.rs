//! The operator console (`/console` on the platform domain) over HTTP
//! through the router, as a browser without script uses it: the sign-in
//! with the operator token, the pods, the store search, a store moved by a
//! form (CSRF and `Origin` checked) and watched to the end, a refused move
//! shown on the store's page, a drain planned then started, and a move
//! aborted from its page. tests/console_browser.rs drives the same pages
//! in Chromium.

mod common;

use std::time::Duration;

use common::shop::Shop;
use common::web::{client, csrf, urlencode};
use common::Stack;
use reqwest::header::{CACHE_CONTROL, CONTENT_TYPE, COOKIE, LOCATION, ORIGIN, SET_COOKIE};
use reqwest::Method;
use serde_json::Value;

struct Page {
    status: u16,
    location: String,
    cookies: Vec<String>,
    cache: String,
    body: String,
}

async fn read(r: reqwest::Response) -> Page {
    let header = |name| {
        r.headers()
            .get(name)
            .map(|v: &reqwest::header::HeaderValue| v.to_str().expect("text").to_owned())
            .unwrap_or_default()
    };
    let (location, cache) = (header(LOCATION), header(CACHE_CONTROL));
    Page {
        status: r.status().as_u16(),
        location,
        cache,
        cookies: r
            .headers()
            .get_all(SET_COOKIE)
            .iter()
            .map(|v| v.to_str().expect("cookie").to_owned())
            .collect(),
        body: r.text().await.expect("body"),
    }
}

/// `GET path` on the platform domain with `cookie`.
async fn get(stack: &Stack, path: &str, cookie: &str) -> Page {
    let mut req = client()
        .get(format!("{}{path}", stack.router.url()))
        .header("host", common::PLATFORM);
    if !cookie.is_empty() {
        req = req.header(COOKIE, cookie);
    }
    read(req.send().await.expect("get")).await
}

/// The platform's origin as a browser on its pages sends it.
fn origin(stack: &Stack) -> String {
    format!("http://{}:{}", common::PLATFORM, stack.router.addr.port())
}

/// Posts `form` to `path` from `origin` with `cookie`.
async fn post(
    stack: &Stack,
    path: &str,
    cookie: &str,
    origin: &str,
    form: &[(&str, &str)],
) -> Page {
    let body = form
        .iter()
        .map(|(k, v)| format!("{}={}", urlencode(k), urlencode(v)))
        .collect::<Vec<_>>()
        .join("&");
    let mut req = client()
        .post(format!("{}{path}", stack.router.url()))
        .header("host", common::PLATFORM)
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(ORIGIN, origin)
        .body(body);
    if !cookie.is_empty() {
        req = req.header(COOKIE, cookie);
    }
    read(req.send().await.expect("post")).await
}

/// The operator API's view of `path`.
async fn api(stack: &Stack, path: &str) -> Value {
    let r = stack.operator(Method::GET, path).send().await.expect("api");
    assert_eq!(r.status(), 200, "GET {path}");
    r.json().await.expect("json")
}

/// Waits until the move `id` has finished; the move.
async fn finished_move(stack: &Stack, id: &str) -> Value {
    stack
        .eventually_within("the move finishes", Duration::from_secs(60), || async {
            let mv = api(stack, &format!("/v1/moves/{id}")).await;
            (mv["status"] != "running").then_some(mv)
        })
        .await
}

/// Signs in with the stack's operator token; the console's cookie.
async fn sign_in(stack: &Stack) -> String {
    let p = post(
        stack,
        "/console/login",
        "",
        &origin(stack),
        &[("token", &stack.operator)],
    )
    .await;
    assert_eq!((p.status, p.location.as_str()), (303, "/console"));
    let set = p
        .cookies
        .iter()
        .find(|c| c.starts_with("mercato_console="))
        .expect("the console's cookie");
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/console"] {
        assert!(set.contains(attribute), "{attribute} in {set}");
    }
    set.split(';').next().expect("name=value").to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_operator_signs_in_finds_a_store_and_moves_it_with_a_form() {
    let stack = Stack::start(2).await;
    let shop = Shop::open(&stack, "lamps").await;
    shop.product(&stack, "LAMP", 1500, 10).await;
    // A store whose name is markup: every page escapes it.
    let r = stack
        .operator(Method::POST, "/v1/stores")
        .json(
            &serde_json::json!({"name": "<b>Bold</b> lamps", "handle": "bold",
            "owner_email": "owner@bold.example"}),
        )
        .send()
        .await
        .expect("create store");
    assert_eq!(r.status(), 201);

    // Signed out: every page sends to the sign-in page.
    for path in [
        "/console",
        "/console/stores",
        "/console/jobs",
        &format!("/console/stores/{}", shop.id),
    ] {
        let p = get(&stack, path, "").await;
        assert_eq!(
            (p.status, p.location.as_str()),
            (303, "/console/login"),
            "{path}"
        );
    }
    let p = get(&stack, "/console/login", "").await;
    assert_eq!(p.status, 200);
    assert!(p.body.contains("<h1>Operator sign-in</h1>"));

    // A wrong token, and a token that is not an operator's, are refused.
    let staff = stack.staff_token(&shop.store);
    for token in ["not-a-token", staff.as_str()] {
        let p = post(
            &stack,
            "/console/login",
            "",
            &origin(&stack),
            &[("token", token)],
        )
        .await;
        assert_eq!(p.status, 401);
        assert!(
            p.body.contains("That is not a valid operator token"),
            "{}",
            p.body
        );
        assert!(p.cookies.is_empty());
    }
    let p = get(&stack, "/console", "mercato_console=forged").await;
    assert_eq!((p.status, p.location.as_str()), (303, "/console/login"));

    let cookie = sign_in(&stack).await;
    let p = get(&stack, "/console", &cookie).await;
    assert_eq!(p.status, 200);
    assert!(p.cache.contains("no-store"), "{}", p.cache);
    for pod in ["pod-1", "pod-2"] {
        assert!(p.body.contains(pod), "{pod} listed");
    }
    assert!(p.body.contains(" of 100 stores"), "{}", p.body);
    assert!(p
        .body
        .contains("<div class=\"bar\" aria-hidden=\"true\"><span style=\"width: "));

    // The search finds the store by a part of its handle; what merchants
    // typed is escaped.
    let p = get(&stack, "/console/stores?q=LAMP", &cookie).await;
    assert_eq!(p.status, 200);
    let link = format!("/console/stores/{}", shop.id);
    assert!(p.body.contains(&link), "{}", p.body);
    let p = get(&stack, "/console/stores", &cookie).await;
    assert!(p.body.contains(&link));
    assert!(
        p.body.contains("&lt;b&gt;Bold&lt;&#x2f;b&gt; lamps"),
        "escaped"
    );
    assert!(!p.body.contains("<b>Bold"), "escaped");
    let p = get(&stack, "/console/stores?q=nothing-like-this", &cookie).await;
    assert!(p.body.contains("No store matches"));

    let p = get(&stack, &link, &cookie).await;
    assert_eq!(p.status, 200);
    assert!(p.body.contains("Store lamps"));
    let token = csrf(&p.body);
    let source = shop.store["pod_id"].as_str().expect("pod").to_owned();
    let pods = api(&stack, "/v1/pods").await;
    let target = pods
        .as_array()
        .expect("pods")
        .iter()
        .find(|p| p["id"] != source.as_str())
        .expect("another pod")["id"]
        .as_str()
        .expect("id")
        .to_owned();
    assert!(p.body.contains(&format!("<option value=\"{target}\">")));
    assert!(!p.body.contains(&format!("<option value=\"{source}\">")));

    // A form without the session's token, or from another site, is refused.
    let move_path = format!("{link}/move");
    let here = origin(&stack);
    let p = post(&stack, &move_path, &cookie, &here, &[("target", &target)]).await;
    assert_eq!(p.status, 403);
    let p = post(
        &stack,
        &move_path,
        &cookie,
        &here,
        &[("csrf", "nope"), ("target", &target)],
    )
    .await;
    assert_eq!(p.status, 403);
    let p = post(
        &stack,
        &move_path,
        &cookie,
        "https://evil.example",
        &[("csrf", &token), ("target", &target)],
    )
    .await;
    assert_eq!(p.status, 403);
    let p = post(
        &stack,
        &move_path,
        "",
        &here,
        &[("csrf", &token), ("target", &target)],
    )
    .await;
    assert_eq!((p.status, p.location.as_str()), (303, "/console/login"));
    assert_eq!(
        api(&stack, &format!("/v1/moves?store_id={}", shop.id)).await["items"],
        serde_json::json!([]),
        "no move started"
    );

    // A refusal shows on the store's page: it is already on its pod.
    let p = post(
        &stack,
        &move_path,
        &cookie,
        &here,
        &[("csrf", &token), ("target", &source)],
    )
    .await;
    assert_eq!(p.status, 409);
    assert!(p
        .body
        .contains("<p class=\"notice notice-error\" role=\"alert\">"));
    assert!(p.body.contains("is already on pod"), "{}", p.body);

    // The move, to the other pod.
    let p = post(
        &stack,
        &move_path,
        &cookie,
        &here,
        &[("csrf", &token), ("target", &target)],
    )
    .await;
    assert_eq!(p.status, 303, "{}", p.body);
    let id = p
        .location
        .strip_prefix("/console/moves/")
        .expect("to the move's page")
        .to_owned();
    let page = get(&stack, &p.location, &cookie).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("data-live=") && page.body.contains("aria-live=\"polite\""));
    assert!(page.body.contains("<h1>Move of Store lamps</h1>"));
    let mv = finished_move(&stack, &id).await;
    assert_eq!(mv["status"], "completed", "{mv}");
    assert_eq!(mv["reason"], "operator");
    assert_eq!(mv["target_pod_id"], target.as_str());
    let page = get(&stack, &p.location, &cookie).await;
    assert!(
        page.body.contains("data-finished"),
        "a finished move stops the refresh"
    );
    assert!(page.body.contains("status-completed"));
    assert!(!page.body.contains("Abort the move"));
    // Past the switch nothing can be aborted: the page says why.
    let p = post(
        &stack,
        &format!("/console/moves/{id}/abort"),
        &cookie,
        &here,
        &[("csrf", &token)],
    )
    .await;
    assert_eq!(p.status, 409);
    assert!(p.body.contains("can no longer be aborted"), "{}", p.body);
    // The store serves from its new pod.
    let r = stack
        .get(&shop.host, "/api/products")
        .send()
        .await
        .expect("browse");
    assert_eq!(r.status(), 200);
    let store = api(&stack, &format!("/v1/stores/{}", shop.id)).await;
    assert_eq!(store["pod_id"], target.as_str());

    let p = get(&stack, "/console/jobs", &cookie).await;
    assert_eq!(p.status, 200);
    assert!(p.body.contains(&format!("/console/moves/{id}")));
    let p = get(&stack, "/console/rebalance?measure=stores", &cookie).await;
    assert_eq!(p.status, 200);
    assert!(p.body.contains("<h1>Rebalance plan</h1>"));
    let p = get(&stack, "/console/rebalance?measure=size", &cookie).await;
    assert_eq!(p.status, 400);

    // A drain: the plan first (nothing changes), then the job.
    let drain = format!("/console/pods/{target}/drain");
    let p = get(&stack, &drain, &cookie).await;
    assert_eq!(p.status, 200);
    assert!(p.body.contains("Start draining"));
    assert!(p.body.contains(&link), "the store goes back: {}", p.body);
    let pod = api(&stack, "/v1/pods").await;
    assert!(pod
        .as_array()
        .expect("pods")
        .iter()
        .all(|p| p["state"] == "active"));
    let p = post(
        &stack,
        &drain,
        &cookie,
        &here,
        &[("csrf", &token), ("pause", "0")],
    )
    .await;
    assert_eq!(p.status, 303, "{}", p.body);
    let job = p
        .location
        .strip_prefix("/console/jobs/")
        .expect("to the job's page")
        .to_owned();
    // One job at a time: a rebalance is refused while the drain runs.
    let refused = post(
        &stack,
        "/console/rebalance",
        &cookie,
        &here,
        &[("csrf", &token), ("measure", "stores")],
    )
    .await;
    assert_eq!(refused.status, 409, "{}", refused.body);
    assert!(refused.body.contains("is running"), "{}", refused.body);
    let page = get(&stack, &p.location, &cookie).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("data-live="));
    let done = stack
        .eventually_within("the drain finishes", Duration::from_secs(60), || async {
            let j = api(&stack, &format!("/v1/jobs/{job}")).await;
            (j["status"] != "running").then_some(j)
        })
        .await;
    assert_eq!(done["status"], "completed", "{done}");
    let page = get(&stack, &p.location, &cookie).await;
    assert!(page.body.contains("data-finished"));
    assert!(page.body.contains("status-completed"));
    let store = api(&stack, &format!("/v1/stores/{}", shop.id)).await;
    assert_eq!(store["pod_id"], source.as_str());
    let p = get(&stack, "/console", &cookie).await;
    assert!(
        p.body.contains("status-drained"),
        "the drained pod shows so"
    );

    // Signing out forgets the cookie.
    let p = post(
        &stack,
        "/console/logout",
        &cookie,
        &here,
        &[("csrf", &token)],
    )
    .await;
    assert_eq!((p.status, p.location.as_str()), (303, "/console/login"));
    assert!(p
        .cookies
        .iter()
        .any(|c| c.starts_with("mercato_console=;") && c.contains("Max-Age=0")));
    stack.shutdown().await;
}

/// A move held before its freeze (a failpoint) is aborted from its page:
/// it rolls back and the store stays where it was.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_running_move_is_aborted_from_its_page() {
    let mut stack = Stack::start(2).await;
    let shop = Shop::open(&stack, "restless").await;
    shop.product(&stack, "R-1", 1000, 7).await;
    stack.stop_control_plane().await;
    stack
        .start_control_plane_with(|c| c.moves.failpoint = "wait_before_freeze".into())
        .await;
    let cookie = sign_in(&stack).await;
    let link = format!("/console/stores/{}", shop.id);
    let p = get(&stack, &link, &cookie).await;
    let token = csrf(&p.body);
    let here = origin(&stack);
    // Placement chooses the target.
    let p = post(
        &stack,
        &format!("{link}/move"),
        &cookie,
        &here,
        &[("csrf", &token), ("target", "")],
    )
    .await;
    assert_eq!(p.status, 303, "{}", p.body);
    let id = p
        .location
        .strip_prefix("/console/moves/")
        .expect("to the move's page")
        .to_owned();
    stack
        .eventually("the move waits before its freeze", || async {
            (api(&stack, &format!("/v1/moves/{id}")).await["phase"] == "catching_up").then_some(())
        })
        .await;
    // The store's page links to the running move instead of the form.
    let p = get(&stack, &link, &cookie).await;
    assert!(p.body.contains("This store is moving now"));
    assert!(!p.body.contains("move-form"));
    let page = get(&stack, &format!("/console/moves/{id}"), &cookie).await;
    assert!(page.body.contains("Abort the move"));
    assert!(!page.body.contains("data-finished"));
    let p = post(
        &stack,
        &format!("/console/moves/{id}/abort"),
        &cookie,
        &here,
        &[("csrf", &token)],
    )
    .await;
    assert_eq!(
        (p.status, p.location.clone()),
        (303, format!("/console/moves/{id}"))
    );
    let mv = finished_move(&stack, &id).await;
    assert_eq!(mv["status"], "rolled_back", "{mv}");
    assert_eq!(mv["error"], "aborted by an operator");
    let page = get(&stack, &format!("/console/moves/{id}"), &cookie).await;
    assert!(page.body.contains("status-rolled_back"));
    assert!(page.body.contains("aborted by an operator"));
    let store = api(&stack, &format!("/v1/stores/{}", shop.id)).await;
    assert_eq!(store["pod_id"], shop.store["pod_id"]);
    stack.shutdown().await;
}
