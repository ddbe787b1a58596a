//! The store API's OpenAPI document: generated from the handlers, served by
//! every pod at `/openapi.json`, and committed as `docs/openapi.json` so a
//! reader (or a client generator) needs no running pod. The pod registers
//! each route with its description (`routes!`); the tests here hold the
//! router and the document to each other.

mod common;

use std::collections::BTreeSet;

use common::{Stack, PLATFORM};
use serde_json::Value;

fn generated() -> Value {
    serde_json::from_str(
        &mercato_pod::startup::api_doc()
            .to_json()
            .expect("the document serializes"),
    )
    .expect("json")
}

#[test]
fn the_committed_document_is_current() {
    let committed: Value = serde_json::from_str(include_str!("../docs/openapi.json"))
        .expect("docs/openapi.json is JSON");
    assert!(
        committed == generated(),
        "docs/openapi.json is stale: run `cargo run -q -- openapi > docs/openapi.json`"
    );
}

#[test]
fn every_context_is_documented() {
    let doc = generated();
    let paths = doc["paths"].as_object().expect("paths");
    for path in [
        "/api/products/{id}",
        "/admin/api/products/{id}/images",
        "/admin/api/variants/{id}/stock",
        "/api/collections/{handle}/products",
        "/api/categories",
        "/api/search",
        "/api/cart/lines",
        "/api/customers/login",
        "/admin/api/login",
        "/admin/api/api-keys",
        "/api/products/{id}/reviews",
        "/admin/api/reviews/{id}/status",
    ] {
        assert!(paths.contains_key(path), "{path} is not documented");
    }
    // Every operation names its responses, and query parameters are in the
    // query (not the path).
    for (path, item) in paths {
        for (method, op) in item.as_object().expect("item") {
            assert!(
                op["responses"].as_object().is_some_and(|r| !r.is_empty()),
                "{method} {path} has no responses"
            );
            for p in op["parameters"].as_array().into_iter().flatten() {
                if p["in"] == "path" {
                    let name = p["name"].as_str().expect("name");
                    assert!(
                        path.contains(&format!("{{{name}}}")),
                        "{method} {path}: `{name}` is not a path parameter"
                    );
                }
            }
        }
    }
}

/// A parameter is sent or left out; a fuzzer reading `null` as a value
/// would send the text `null` (an optional header once went out so).
#[test]
fn no_parameter_may_be_null() {
    for doc in [generated(), control_plane_doc()] {
        for (path, item) in doc["paths"].as_object().expect("paths") {
            for (method, op) in item.as_object().expect("item") {
                for p in op["parameters"].as_array().into_iter().flatten() {
                    let types = &p["schema"]["type"];
                    assert!(
                        !types
                            .as_array()
                            .is_some_and(|t| t.contains(&Value::from("null"))),
                        "{method} {path}: parameter {} may be null",
                        p["name"]
                    );
                }
            }
        }
    }
}

#[tokio::test]
async fn pods_serve_the_document_on_every_store_domain() {
    let stack = Stack::start(1).await;
    stack.create_store("docs").await;
    let r = stack
        .get(&format!("docs.{PLATFORM}"), "/openapi.json")
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 200);
    let served: Value = r.json().await.expect("json");
    assert_eq!(served, generated());
    stack.shutdown().await;
}

/// The paths the pod's router holds, read from its `Debug` form: axum has no
/// other way to list them. `the_router_holds_every_documented_path` checks
/// the reading against the document, so a change of that form fails the
/// tests instead of emptying them.
fn routed_paths() -> BTreeSet<String> {
    let (router, _) = mercato_pod::startup::routes().split_for_parts();
    paths_in_debug(&format!("{router:?}"))
}

/// The paths in an axum router's `Debug` form.
fn paths_in_debug(debug: &str) -> BTreeSet<String> {
    let mut paths = BTreeSet::new();
    let mut rest = debug;
    // The router's path table prints as `RouteId(7): "/api/cart"`.
    while let Some(at) = rest.find("RouteId(") {
        rest = rest[at + "RouteId(".len()..].trim_start_matches(|c: char| c.is_ascii_digit());
        if let Some(tail) = rest.strip_prefix("): \"") {
            let end = tail.find('"').expect("the path's closing quote");
            let path = &tail[..end];
            // axum's own entries for fallbacks and nesting.
            if !path.contains("__private__") {
                paths.insert(path.to_owned());
            }
            rest = &tail[end..];
        }
    }
    paths
}

/// Whether `path` is in the store API, which must be documented in full.
fn in_store_api(path: &str) -> bool {
    ["/api", "/admin/api"]
        .iter()
        .any(|root| path == *root || path.starts_with(&format!("{root}/")))
}

/// (method, path) of every documented operation, the method in lower case.
fn documented_operations() -> BTreeSet<(String, String)> {
    let doc = generated();
    let paths = doc["paths"].as_object().expect("paths");
    paths
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .expect("item")
                .keys()
                .map(move |method| (method.clone(), path.clone()))
        })
        .collect()
}

#[test]
fn the_router_holds_every_documented_path() {
    let routed = routed_paths();
    let doc = generated();
    let documented: BTreeSet<String> = doc["paths"]
        .as_object()
        .expect("paths")
        .keys()
        .cloned()
        .collect();
    let unrouted: Vec<&String> = documented.difference(&routed).collect();
    assert!(
        unrouted.is_empty(),
        "documented but not routed: {unrouted:?} (read {} paths from the router)",
        routed.len()
    );
    let undocumented: Vec<&String> = routed
        .difference(&documented)
        .filter(|path| in_store_api(path))
        .collect();
    assert!(
        undocumented.is_empty(),
        "routed under /api or /admin/api without an OpenAPI description: {undocumented:?}; \
         register the handler with `routes!` (pod/src/startup.rs, `app`)"
    );
}

/// Every (method, path) the pod answers under `/api` and `/admin/api` is a
/// documented operation, and every documented operation is answered: asked
/// with each method (path parameters filled with a nil id, no credentials,
/// no body), a route answers something else than the router's own 404
/// ("no such route") and 405. The handlers' answers (401, 404 "... not
/// found", 415, ...) all count as served.
#[tokio::test]
async fn the_router_serves_each_documented_operation_and_no_other() {
    let stack = Stack::start(1).await;
    stack.create_store("probe").await;
    let host = format!("probe.{PLATFORM}");
    let documented = documented_operations();
    let probed: BTreeSet<String> = routed_paths()
        .into_iter()
        .filter(|path| in_store_api(path))
        .chain(documented.iter().map(|(_, path)| path.clone()))
        .collect();
    let nil = "00000000-0000-0000-0000-000000000000";
    let mut served = BTreeSet::new();
    for path in &probed {
        let mut concrete = String::new();
        let mut rest = path.as_str();
        while let Some(open) = rest.find('{') {
            let close = open + rest[open..].find('}').expect("closing brace");
            concrete.push_str(&rest[..open]);
            concrete.push_str(nil);
            rest = &rest[close + 1..];
        }
        concrete.push_str(rest);
        for method in [
            reqwest::Method::GET,
            reqwest::Method::POST,
            reqwest::Method::PUT,
            reqwest::Method::PATCH,
            reqwest::Method::DELETE,
        ] {
            let r = stack
                .at(method.clone(), &host, &concrete)
                .send()
                .await
                .expect("send");
            let status = r.status();
            let body: Value = r.json().await.unwrap_or(Value::Null);
            let unrouted =
                status == 405 || (status == 404 && body["error"]["message"] == "no such route");
            if !unrouted {
                served.insert((method.as_str().to_lowercase(), path.clone()));
            }
        }
    }
    let undocumented: Vec<_> = served.difference(&documented).collect();
    let unserved: Vec<_> = documented.difference(&served).collect();
    assert!(
        undocumented.is_empty() && unserved.is_empty(),
        "served but not documented: {undocumented:?}; documented but not served: {unserved:?}"
    );
    stack.shutdown().await;
}

#[test]
fn every_reference_resolves() {
    assert_references_resolve(&generated());
    assert_references_resolve(&control_plane_doc());
}

fn assert_references_resolve(doc: &Value) {
    let schemas = doc["components"]["schemas"].as_object().expect("schemas");
    let text = doc.to_string();
    let dangling: Vec<&str> = text
        .split("\"#/components/schemas/")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .filter(|name| !schemas.contains_key(*name))
        .collect();
    assert!(dangling.is_empty(), "dangling references: {dangling:?}");
}

/// The control plane's document, as it serves it at `/openapi.json`.
fn control_plane_doc() -> Value {
    serde_json::from_str(
        &mercato_control_plane::startup::api_doc()
            .to_json()
            .expect("the document serializes"),
    )
    .expect("json")
}

/// The control plane registers its API as the pod does: every route under
/// `/v1` is documented and every documented path is routed.
#[test]
fn the_control_planes_routes_and_document_agree() {
    let (router, _) = mercato_control_plane::startup::routes().split_for_parts();
    let routed = paths_in_debug(&format!("{router:?}"));
    let doc = control_plane_doc();
    let documented: BTreeSet<String> = doc["paths"]
        .as_object()
        .expect("paths")
        .keys()
        .cloned()
        .collect();
    for path in [
        "/v1/signup",
        "/v1/stores",
        "/v1/pods",
        "/v1/moves",
        "/v1/jobs",
        "/v1/routing",
    ] {
        assert!(documented.contains(path), "{path} is not documented");
    }
    let unrouted: Vec<&String> = documented.difference(&routed).collect();
    assert!(
        unrouted.is_empty(),
        "documented but not routed: {unrouted:?} (read {} paths from the router)",
        routed.len()
    );
    let undocumented: Vec<&String> = routed
        .difference(&documented)
        .filter(|path| path.starts_with("/v1/"))
        .collect();
    assert!(
        undocumented.is_empty(),
        "routed under /v1 without an OpenAPI description: {undocumented:?}; register the \
         handler with `routes!` (control-plane/src/startup.rs, `routes`)"
    );
    // Operator endpoints say they need a token, and so may answer 401/403.
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("item") {
            // Signup and its handle check are for anyone.
            if path == "/v1/signup" || path == "/v1/handles/{handle}" {
                assert!(op.get("security").is_none(), "{path} needs no token");
                continue;
            }
            assert!(
                op["security"].is_array(),
                "{method} {path} names no security"
            );
            assert!(
                op["responses"]["401"].is_object() && op["responses"]["403"].is_object(),
                "{method} {path} does not document 401 and 403"
            );
        }
    }
}

#[tokio::test]
async fn the_control_plane_serves_its_document_on_the_platform_domain() {
    let stack = Stack::start(1).await;
    let r = stack
        .get(PLATFORM, "/openapi.json")
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 200);
    let served: Value = r.json().await.expect("json");
    assert_eq!(served, control_plane_doc());
    stack.shutdown().await;
}
