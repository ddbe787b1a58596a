//! End-to-end test of tracing: one guest checkout through the router is one
//! trace on an OTLP receiver inside this test (router span → pod span →
//! the saga's `checkout` span and its steps → payment gateway span; the
//! gateway's webhook → the pod's handling of it; the `order.placed`
//! message, whose `traceparent` header names the outbox step → the control
//! plane's consumption of it), with `store_id` on the router's span and on
//! every span of the pod and the control plane. A client's valid
//! `traceparent` is continued, a malformed one starts a new trace and is
//! otherwise harmless.
//!
//! The router, pods and control plane run in this process, so their spans
//! go through the subscriber installed here (`mercato::telemetry`, as
//! `main` installs it, service `mercato-test`); the gateway is a process of
//! its own (service `mercato-gateway`). Spans tell their process by the
//! request span's `component`.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::routing::post;
use common::shop::{Shop, CARD_OK};
use common::Stack;
use mercato_tenants::events::EventType;
use mercato_tenants::TraceParent;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer as _};
use rdkafka::message::{Headers as _, Message as _};
use rdkafka::{Offset, TopicPartitionList};
use serde_json::Value;

/// One span as OTLP/JSON gives it, with its process's `service.name`.
#[derive(Debug, Clone)]
struct Span {
    service: String,
    trace_id: String,
    span_id: String,
    parent_span_id: String,
    name: String,
    attributes: Value,
}

impl Span {
    /// A string attribute.
    fn attr(&self, key: &str) -> Option<String> {
        let value = self
            .attributes
            .as_array()?
            .iter()
            .find(|kv| kv["key"] == key)?;
        string_in(&value["value"])
    }
}

/// The string an OTLP `AnyValue` holds.
fn string_in(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Object(fields) => fields.values().find_map(string_in),
        _ => None,
    }
}

/// A bare OTLP/HTTP receiver: every `POST /v1/traces` body, parsed.
#[derive(Clone, Default)]
struct Receiver {
    bodies: Arc<Mutex<Vec<Value>>>,
}

impl Receiver {
    async fn start(&self) -> String {
        let bodies = self.bodies.clone();
        let app = axum::Router::new().route(
            "/v1/traces",
            post(move |body: axum::body::Bytes| {
                let bodies = bodies.clone();
                async move {
                    let parsed: Value = serde_json::from_slice(&body).expect("OTLP/JSON");
                    bodies.lock().expect("lock").push(parsed);
                    axum::Json(serde_json::json!({}))
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            axum::serve(listener, app).await.expect("receiver");
        });
        format!("http://{addr}")
    }

    fn spans(&self) -> Vec<Span> {
        let bodies = self.bodies.lock().expect("lock");
        let mut out = Vec::new();
        for body in bodies.iter() {
            for resource in body["resourceSpans"].as_array().into_iter().flatten() {
                let service = resource["resource"]["attributes"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find(|kv| kv["key"] == "service.name")
                    .and_then(|kv| string_in(&kv["value"]))
                    .unwrap_or_default();
                for scope in resource["scopeSpans"].as_array().into_iter().flatten() {
                    for span in scope["spans"].as_array().into_iter().flatten() {
                        let text = |key: &str| span[key].as_str().unwrap_or("").to_owned();
                        out.push(Span {
                            service: service.clone(),
                            trace_id: text("traceId"),
                            span_id: text("spanId"),
                            parent_span_id: text("parentSpanId"),
                            name: text("name"),
                            attributes: span["attributes"].clone(),
                        });
                    }
                }
            }
        }
        out
    }

    /// The request span of `component` with request id `request_id`.
    fn request_span(&self, component: &str, request_id: &str) -> Option<Span> {
        self.spans().into_iter().find(|s| {
            s.name == "request"
                && s.attr("component").as_deref() == Some(component)
                && s.attr("request_id").as_deref() == Some(request_id)
        })
    }
}

/// The `traceparent` header of the `order.placed` message of `store`.
fn order_placed_traceparent(brokers: &str, store: &str) -> Option<String> {
    let topic = EventType::OrderPlaced.topic().as_str();
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", format!("telemetry-{}", uuid::Uuid::new_v4()))
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let metadata = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .expect("metadata");
    let mut assignment = TopicPartitionList::new();
    for partition in metadata.topics().iter().flat_map(|t| t.partitions()) {
        assignment
            .add_partition_offset(topic, partition.id(), Offset::Beginning)
            .expect("assign");
    }
    consumer.assign(&assignment).expect("assign");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while std::time::Instant::now() < deadline {
        let Some(Ok(message)) = consumer.poll(Duration::from_millis(100)) else {
            continue;
        };
        if message.key() != Some(store.as_bytes()) {
            continue;
        }
        let headers = message.headers().expect("headers");
        let header = |name: &str| {
            headers
                .iter()
                .find(|h| h.key == name)
                .and_then(|h| h.value)
                .map(|v| String::from_utf8(v.to_vec()).expect("utf-8"))
        };
        if header("type").as_deref() == Some("order.placed") {
            return header("traceparent");
        }
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_checkout_is_one_trace_from_the_router_to_the_gateway_and_kafka() {
    let receiver = Receiver::default();
    let endpoint = receiver.start().await;
    let telemetry = mercato::telemetry::init(
        "mercato-test",
        &mercato_tenants::TelemetryConfig {
            otlp_endpoint: endpoint.clone(),
        },
    )
    .expect("telemetry");
    let stack = Stack::start_exporting(1, &endpoint).await;
    let shop = Shop::open(&stack, "traced").await;
    let (_, variant) = shop.product(&stack, "TR-1", 1500, 5).await;
    let cart = shop.cart(&stack, &[(&variant, 1)]).await;

    let request_id = uuid::Uuid::new_v4().to_string();
    let r = shop
        .checkout(&stack, &cart, "traced-checkout-1", CARD_OK)
        .header("x-request-id", &request_id)
        .send()
        .await
        .expect("checkout");
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap_or_default());

    // A client's traceparent is continued; a malformed one starts a trace
    // of its own and changes nothing else.
    let client = TraceParent::parse("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
        .expect("parses");
    let continued_id = uuid::Uuid::new_v4().to_string();
    let r = stack
        .get(&shop.host, "/api/products")
        .header("traceparent", client.to_string())
        .header("x-request-id", &continued_id)
        .send()
        .await
        .expect("products");
    assert_eq!(r.status(), 200);
    let malformed_id = uuid::Uuid::new_v4().to_string();
    let r = stack
        .get(&shop.host, "/api/products")
        .header(
            "traceparent",
            "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01",
        )
        .header("x-request-id", &malformed_id)
        .send()
        .await
        .expect("products");
    assert_eq!(r.status(), 200);

    telemetry.flush().await;
    let router = stack
        .eventually("the router's span of the checkout arrives", || async {
            receiver.request_span("router", &request_id)
        })
        .await;
    let trace = router.trace_id.clone();
    let store = shop.id.to_string();
    assert_eq!(router.attr("store_id").as_deref(), Some(store.as_str()));
    assert!(
        router.parent_span_id.is_empty(),
        "the router starts the trace: {router:?}"
    );

    let pod = receiver
        .request_span("pod", &request_id)
        .expect("the pod's span of the checkout");
    assert_eq!(
        pod.trace_id, trace,
        "the pod's span is in the router's trace"
    );
    assert_eq!(
        pod.parent_span_id, router.span_id,
        "the pod's span is the router span's child"
    );
    let in_trace = |name: &str| -> Vec<Span> {
        receiver
            .spans()
            .into_iter()
            .filter(|s| s.trace_id == trace && s.name == name)
            .collect()
    };

    // The saga's steps are children of its `checkout` span, which is the
    // checkout request's child.
    let saga = in_trace("checkout")
        .into_iter()
        .find(|s| s.parent_span_id == pod.span_id)
        .expect("the saga's span under the checkout request");
    assert_eq!(saga.attr("driver").as_deref(), Some("request"));
    let steps: Vec<Span> = receiver
        .spans()
        .into_iter()
        .filter(|s| s.trace_id == trace && s.parent_span_id == saga.span_id)
        .collect();
    let step_names: Vec<&str> = steps.iter().map(|s| s.name.as_str()).collect();
    for step in [
        "checkout.validate",
        "checkout.reserve",
        "checkout.authorize",
        "checkout.create_order",
        "checkout.capture",
        "checkout.commit",
    ] {
        assert!(
            step_names.contains(&step),
            "no {step} span under the checkout: {step_names:?}"
        );
    }
    let commit = steps
        .iter()
        .find(|s| s.name == "checkout.commit")
        .expect("commit");
    let outbox = in_trace("checkout.outbox")
        .into_iter()
        .find(|s| s.parent_span_id == commit.span_id)
        .expect("the outbox write under the commit");

    // The message carries the outbox step's context.
    let brokers = stack.kafka.brokers();
    let sent = tokio::task::spawn_blocking({
        let store = store.clone();
        move || order_placed_traceparent(&brokers, &store)
    })
    .await
    .expect("reader")
    .expect("the order.placed message carries a traceparent");
    let sent = TraceParent::parse(&sent).expect("a valid traceparent");
    assert_eq!(
        sent.trace_id_hex(),
        trace,
        "the message is in the checkout's trace"
    );
    assert_eq!(hex::encode(sent.parent_id()), outbox.span_id);

    // The control plane handles the message in the checkout's trace, as a
    // child of the span that wrote it.
    let consumed = stack
        .eventually(
            "the control plane's span of the order.placed message arrives",
            || async {
                telemetry.flush().await;
                in_trace("analytics.consume")
                    .into_iter()
                    .find(|s| s.attr("event_type").as_deref() == Some("order.placed"))
            },
        )
        .await;
    assert_eq!(consumed.parent_span_id, outbox.span_id);
    assert_eq!(consumed.attr("store_id").as_deref(), Some(store.as_str()));

    // The gateway exports on its own schedule (batches every 5 s).
    let gateway = stack
        .eventually("the gateway's spans of the checkout arrive", || async {
            let spans: Vec<Span> = receiver
                .spans()
                .into_iter()
                .filter(|s| s.service == "mercato-gateway" && s.trace_id == trace)
                .collect();
            (!spans.is_empty()).then_some(spans)
        })
        .await;
    let gateway_ids: Vec<&str> = gateway.iter().map(|s| s.span_id.as_str()).collect();

    // The gateway's webhook about the payment continues the trace from the
    // gateway's span of the authorization; the pod handles it in the store.
    let webhook = stack
        .eventually(
            "the pod's span of the gateway's webhook arrives",
            || async {
                telemetry.flush().await;
                in_trace("request").into_iter().find(|s| {
                    s.attr("component").as_deref() == Some("pod")
                        && s.attr("route").as_deref() == Some("/webhooks/payments/{store}")
                })
            },
        )
        .await;
    assert!(
        gateway_ids.contains(&webhook.parent_span_id.as_str()),
        "the webhook's span is no gateway span's child: {webhook:?}"
    );
    assert_eq!(webhook.attr("store_id").as_deref(), Some(store.as_str()));

    // Everything the pod and the control plane did for this checkout is in
    // the store, and every gateway span answers a pod span.
    telemetry.flush().await;
    let pod_spans: Vec<Span> = receiver
        .spans()
        .into_iter()
        .filter(|s| {
            s.trace_id == trace && s.service == "mercato-test" && s.span_id != router.span_id
        })
        .collect();
    assert!(pod_spans.len() > steps.len());
    for span in &pod_spans {
        assert_eq!(
            span.attr("store_id").as_deref(),
            Some(store.as_str()),
            "a pod span without the store: {span:?}"
        );
    }
    let pod_ids: Vec<&str> = pod_spans.iter().map(|s| s.span_id.as_str()).collect();
    for span in &gateway {
        assert_eq!(span.attr("component").as_deref(), Some("gateway"));
        assert!(
            pod_ids.contains(&span.parent_span_id.as_str()),
            "a gateway span whose parent is no pod span: {span:?}"
        );
    }

    let continued = receiver
        .request_span("router", &continued_id)
        .expect("the continued request's span");
    assert_eq!(continued.trace_id, client.trace_id_hex());
    assert_eq!(continued.parent_span_id, hex::encode(client.parent_id()));
    let fresh = receiver
        .request_span("router", &malformed_id)
        .expect("the malformed request's span");
    assert_ne!(fresh.trace_id, "0af7651916cd43dd8448eb211c80319c");
    assert!(fresh.parent_span_id.is_empty());
    let fresh_pod = receiver
        .request_span("pod", &malformed_id)
        .expect("the malformed request's pod span");
    assert_eq!(fresh_pod.trace_id, fresh.trace_id);

    stack.shutdown().await;
    telemetry.shutdown().await;
}
