//! The store API's OpenAPI document: generated from the handlers, served by
//! every pod at `/openapi.json`, and committed as `docs/openapi.json` so a
//! reader (or a client generator) needs no running pod.

mod common;

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
