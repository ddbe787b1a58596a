//! End-to-end tests of events: the outbox relay publishing to a real
//! Kafka-API broker (tansu), Kafka going away and coming back, several
//! relays on one database, and the control plane's deduping sales consumer.
//!
//! Kafka is read back whole: every partition of every event topic from its
//! start to the high watermark taken once the outbox is empty, so counts are
//! exact.

mod common;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use common::{error_code, Stack, PLATFORM};
use mercato_pod::events::{self, Relay, RelayMetrics, RelaySettings};
use mercato_tenants::events::{EventType, Topic};
use mercato_tenants::StoreId;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer as _};
use rdkafka::message::{Headers as _, Message as _};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer as _};
use rdkafka::{Offset, TopicPartitionList};
use reqwest::Method;
use serde_json::{json, Value};
use sqlx::PgPool;
use uuid::Uuid;

/// One message read back from Kafka.
#[derive(Debug, Clone)]
struct Received {
    topic: String,
    partition: i32,
    offset: i64,
    key: String,
    type_header: String,
    envelope: Value,
}

impl Received {
    fn event_id(&self) -> Uuid {
        self.envelope["event_id"]
            .as_str()
            .expect("event_id")
            .parse()
            .expect("uuid")
    }
}

/// Every message in `topics`: each partition is read from its start up to
/// an end marker this reader writes into it first (the broker's high
/// watermarks are not to be trusted).
async fn read_all(brokers: String, topics: &[&str]) -> Vec<Received> {
    let topics: Vec<String> = topics.iter().map(|t| t.to_string()).collect();
    tokio::task::spawn_blocking(move || read_all_blocking(&brokers, &topics))
        .await
        .expect("reader")
}

const END_MARKER: &str = "test.end";

fn read_all_blocking(brokers: &str, topics: &[String]) -> Vec<Received> {
    let timeout = Duration::from_secs(10);
    let marker = Uuid::new_v4().to_string();
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", format!("test-reader-{marker}"))
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .expect("producer");
    let mut assignment = TopicPartitionList::new();
    let mut open: HashSet<(String, i32)> = HashSet::new();
    for topic in topics {
        let metadata = consumer
            .fetch_metadata(Some(topic), timeout)
            .expect("metadata");
        for partition in metadata.topics().iter().flat_map(|t| t.partitions()) {
            producer
                .send(
                    BaseRecord::to(topic)
                        .partition(partition.id())
                        .key(END_MARKER)
                        .payload(&marker),
                )
                .expect("end marker queued");
            assignment
                .add_partition_offset(topic, partition.id(), Offset::Beginning)
                .expect("assign");
            open.insert((topic.clone(), partition.id()));
        }
    }
    producer.flush(timeout).expect("end markers written");
    let mut out = Vec::new();
    if open.is_empty() {
        return out;
    }
    consumer.assign(&assignment).expect("assign");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !open.is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out reading kafka; still to read: {open:?}"
        );
        let Some(message) = consumer.poll(Duration::from_millis(100)) else {
            continue;
        };
        let message = match message {
            Ok(m) => m,
            Err(e) => {
                eprintln!("reading kafka: {e}");
                continue;
            }
        };
        let place = (message.topic().to_owned(), message.partition());
        if !open.contains(&place) {
            continue;
        }
        if message.key() == Some(END_MARKER.as_bytes()) {
            if message.payload() == Some(marker.as_bytes()) {
                open.remove(&place);
            }
            continue;
        }
        let headers = message.headers().expect("headers");
        let type_header = headers
            .iter()
            .find(|h| h.key == "type")
            .and_then(|h| h.value)
            .map(|v| String::from_utf8(v.to_vec()).expect("utf-8"))
            .expect("a type header");
        out.push(Received {
            topic: place.0.clone(),
            partition: place.1,
            offset: message.offset(),
            key: String::from_utf8(message.key().expect("key").to_vec()).expect("utf-8"),
            type_header,
            envelope: serde_json::from_slice(message.payload().expect("payload")).expect("json"),
        });
    }
    out
}

/// An outbox row as the pod's database holds it.
#[derive(Debug, Clone, sqlx::FromRow)]
struct OutboxRow {
    store_id: Uuid,
    id: Uuid,
    #[sqlx(rename = "type")]
    event_type: String,
    aggregate_id: Uuid,
    occurred_at: chrono::DateTime<chrono::Utc>,
    payload: Value,
}

async fn outbox_rows(db: &PgPool, stores: &[Uuid]) -> Vec<OutboxRow> {
    sqlx::query_as(
        "SELECT store_id, id, type, aggregate_id, occurred_at, payload FROM outbox \
         WHERE store_id = ANY($1) ORDER BY store_id, id",
    )
    .bind(stores)
    .fetch_all(db)
    .await
    .expect("outbox rows")
}

async fn pending(db: &PgPool) -> i64 {
    let (n,): (i64,) = sqlx::query_as("SELECT count(*) FROM outbox WHERE published_at IS NULL")
        .fetch_one(db)
        .await
        .expect("pending");
    n
}

async fn wait_until_published(stack: &Stack, db: &PgPool) {
    stack
        .eventually("the outbox is published", || async {
            (pending(db).await == 0).then_some(())
        })
        .await;
}

fn store_id(store: &Value) -> Uuid {
    store["id"].as_str().expect("id").parse().expect("uuid")
}

/// Records one event in its own transaction.
async fn record(db: &PgPool, store: Uuid, event_type: &str, payload: Value) -> Uuid {
    let mut tx = db.begin().await.expect("begin");
    let id = events::record_unchecked(
        &mut tx,
        StoreId::from_uuid(store),
        event_type.parse().expect("a known type"),
        Uuid::now_v7(),
        &payload,
    )
    .await
    .expect("record");
    tx.commit().await.expect("commit");
    id.as_uuid()
}

/// An `order.placed` payload as the checkout writes it.
fn order_placed(number: i64, currency: &str, total_minor: i64) -> Value {
    json!({
        "order_id": Uuid::now_v7(), "number": number, "checkout_id": Uuid::now_v7(),
        "customer_id": null, "email": "shopper@example.com", "currency": currency,
        "subtotal_minor": total_minor, "shipping_minor": 0, "tax_minor": 0,
        "total_minor": total_minor,
        "lines": [{"variant_id": Uuid::now_v7(), "product_id": Uuid::now_v7(), "sku": "SKU-1",
                   "quantity": 1, "unit_price_minor": total_minor}]
    })
}

/// An unlabelled metric of the process at `base_url`, 0 when absent.
async fn metric(stack: &Stack, base_url: &str, sample: &str) -> f64 {
    stack.metric(base_url, sample).await.unwrap_or(0.0)
}

/// Each row in Kafka exactly once, on its topic, keyed by its store, with
/// the documented envelope; a store's events in id order on their topic.
fn assert_published_once(rows: &[OutboxRow], received: &[Received]) {
    let mut by_id: HashMap<Uuid, Vec<&Received>> = HashMap::new();
    for r in received {
        by_id.entry(r.event_id()).or_default().push(r);
    }
    assert_eq!(
        received.len(),
        rows.len(),
        "as many messages as outbox rows"
    );
    for row in rows {
        let copies = by_id.get(&row.id).map(Vec::as_slice).unwrap_or_default();
        assert_eq!(
            copies.len(),
            1,
            "event {} ({}) published once",
            row.id,
            row.event_type
        );
        let message = copies[0];
        let event_type: EventType = row.event_type.parse().expect("a known type");
        assert_eq!(message.topic, event_type.topic().as_str());
        assert_eq!(message.key, row.store_id.to_string());
        assert_eq!(message.type_header, row.event_type);
        assert_eq!(
            message.envelope,
            json!({
                "event_id": row.id,
                "store_id": row.store_id,
                "type": row.event_type,
                "aggregate_id": row.aggregate_id,
                "occurred_at": row.occurred_at,
                "payload": row.payload,
            })
        );
    }
    // Per (store, topic): one partition, offsets in event id order.
    let mut streams: BTreeMap<(String, String), Vec<&Received>> = BTreeMap::new();
    for r in received {
        streams
            .entry((r.key.clone(), r.topic.clone()))
            .or_default()
            .push(r);
    }
    for ((store, topic), mut stream) in streams {
        let partitions: std::collections::BTreeSet<i32> =
            stream.iter().map(|r| r.partition).collect();
        assert_eq!(
            partitions.len(),
            1,
            "store {store} on one partition of {topic}"
        );
        stream.sort_by_key(|r| r.offset);
        let ids: Vec<Uuid> = stream.iter().map(|r| r.event_id()).collect();
        let mut sorted = ids.clone();
        sorted.sort();
        assert_eq!(ids, sorted, "store {store}'s events on {topic} in order");
    }
}

#[tokio::test]
async fn the_relay_publishes_every_event_once_in_order_with_its_envelope() {
    let stack = Stack::start(1).await;
    let a = stack.create_store("relay-a").await;
    let b = stack.create_store("relay-b").await;
    let db = PgPool::connect(&stack.pod_for(&a).await.database_url)
        .await
        .expect("pod db");
    let (sa, sb) = (store_id(&a), store_id(&b));
    // Events of every kind, interleaved between the two stores.
    let kinds = [
        "order.placed",
        "payment.captured",
        "inventory.level_changed",
        "catalog.product_changed",
        "staff.invited",
        "customer.password_reset_requested",
    ];
    for i in 0..30 {
        let store = if i % 2 == 0 { sa } else { sb };
        record(&db, store, kinds[i % kinds.len()], json!({"n": i})).await;
    }
    // A product created and deleted through the API records its catalog
    // events in the same transactions.
    let host = format!("relay-a.{PLATFORM}");
    let token = stack.staff_token(&a);
    let product = stack
        .create_product(&host, &token, "Mug", "MUG-1", 1200)
        .await;
    let product_id = product["id"].as_str().expect("product id").to_owned();
    let r = stack
        .at(
            Method::DELETE,
            &host,
            &format!("/admin/api/products/{product_id}"),
        )
        .bearer_auth(&token)
        .send()
        .await
        .expect("delete");
    assert_eq!(r.status(), 204);

    wait_until_published(&stack, &db).await;
    let rows = outbox_rows(&db, &[sa, sb]).await;
    let received = read_all(stack.kafka.brokers(), &Topic::ALL.map(Topic::as_str)).await;
    assert_published_once(&rows, &received);

    let catalog: Vec<(&str, &Value)> = rows
        .iter()
        .filter(|r| {
            r.event_type.starts_with("catalog.") && r.aggregate_id.to_string() == product_id
        })
        .map(|r| (r.event_type.as_str(), &r.payload))
        .collect();
    assert_eq!(
        catalog,
        [
            (
                "catalog.product_changed",
                &json!({"product_id": product_id, "status": product["status"]})
            ),
            (
                "catalog.product_deleted",
                &json!({"product_id": product_id})
            ),
        ]
    );
    let published = metric(
        &stack,
        &stack.pods[0].app.url(),
        "mercato_outbox_published_total{topic=\"order-events\"}",
    )
    .await;
    assert_eq!(published, 5.0, "order.placed is every sixth of 30 events");
    assert_eq!(
        metric(&stack, &stack.pods[0].app.url(), "mercato_outbox_pending").await,
        0.0
    );
    stack.shutdown().await;
}

#[tokio::test]
async fn with_kafka_down_writes_succeed_and_every_event_arrives_once_after_it_returns() {
    let mut stack = Stack::start(1).await;
    let store = stack.create_store("outage").await;
    let sid = store_id(&store);
    let db = PgPool::connect(&stack.pod_for(&store).await.database_url)
        .await
        .expect("pod db");
    let pod_url = stack.pods[0].app.url();
    wait_until_published(&stack, &db).await;
    let before: Vec<Uuid> = outbox_rows(&db, &[sid])
        .await
        .iter()
        .map(|r| r.id)
        .collect();

    stack.kafka.stop().await;
    let host = format!("outage.{PLATFORM}");
    let token = stack.staff_token(&store);
    stack
        .create_product(&host, &token, "Tote", "TOTE-1", 2400)
        .await;
    let mut expected_total = 0;
    for n in 0..6 {
        let total = 1000 + n * 100;
        expected_total += total;
        record(
            &db,
            sid,
            "order.placed",
            order_placed(1001 + n, "USD", total),
        )
        .await;
    }
    // The relay tried and failed, and nothing was lost or marked sent.
    stack
        .eventually("the relay fails while kafka is down", || async {
            (metric(
                &stack,
                &pod_url,
                "mercato_outbox_relay_errors_total{kind=\"kafka\"}",
            )
            .await
                >= 1.0)
                .then_some(())
        })
        .await;
    let during: Vec<OutboxRow> = outbox_rows(&db, &[sid])
        .await
        .into_iter()
        .filter(|r| !before.contains(&r.id))
        .collect();
    let waiting: Vec<Uuid> = sqlx::query_as::<_, (Uuid,)>(
        "SELECT id FROM outbox WHERE store_id = $1 AND published_at IS NULL ORDER BY id",
    )
    .bind(sid)
    .fetch_all(&db)
    .await
    .expect("pending rows")
    .into_iter()
    .map(|(id,)| id)
    .collect();
    assert_eq!(
        waiting,
        during.iter().map(|r| r.id).collect::<Vec<_>>(),
        "every event recorded while kafka was down waits"
    );
    let kinds: Vec<&str> = during.iter().map(|r| r.event_type.as_str()).collect();
    assert_eq!(kinds.iter().filter(|k| **k == "order.placed").count(), 6);
    assert_eq!(
        kinds
            .iter()
            .filter(|k| **k == "catalog.product_changed")
            .count(),
        1
    );

    stack.kafka.start().await;
    wait_until_published(&stack, &db).await;
    // Everything, from before and during the outage, once each.
    let received = read_all(stack.kafka.brokers(), &Topic::ALL.map(Topic::as_str)).await;
    assert_published_once(&outbox_rows(&db, &[sid]).await, &received);

    let sales: Value = stack
        .eventually("the sales consumer counts the orders", || async {
            let r = stack
                .operator(Method::GET, &format!("/v1/stores/{sid}/sales"))
                .send()
                .await
                .ok()?;
            let body: Value = r.json().await.ok()?;
            (body["orders"] == 6).then_some(body)
        })
        .await;
    assert_eq!(
        sales["revenue"],
        json!([{"currency": "USD", "minor": expected_total}])
    );
    stack.shutdown().await;
}

#[tokio::test]
async fn the_sales_consumer_counts_each_order_once_when_events_are_published_twice() {
    let stack = Stack::start(1).await;
    let store = stack.create_store("sales").await;
    let other = stack.create_store("quiet").await;
    let sid = store_id(&store);
    let db = PgPool::connect(&stack.pod_for(&store).await.database_url)
        .await
        .expect("pod db");
    let mut orders = Vec::new();
    for (n, (currency, total)) in [("USD", 1500), ("USD", 2500), ("EUR", 990), ("USD", 100)]
        .into_iter()
        .enumerate()
    {
        orders.push(
            record(
                &db,
                sid,
                "order.placed",
                order_placed(1001 + n as i64, currency, total),
            )
            .await,
        );
    }
    // Not a sale: read and ignored.
    record(
        &db,
        sid,
        "order.status_changed",
        json!({"order_id": Uuid::now_v7(), "number": 1001, "from": "placed", "to": "paid"}),
    )
    .await;
    let sales_path = format!("/v1/stores/{sid}/sales");
    let expected = json!({
        "store_id": sid,
        "orders": 4,
        "revenue": [{"currency": "EUR", "minor": 990}, {"currency": "USD", "minor": 4100}],
    });
    let first: Value = stack
        .eventually("the sales consumer counts the orders", || async {
            let body: Value = stack
                .operator(Method::GET, &sales_path)
                .send()
                .await
                .ok()?
                .json()
                .await
                .ok()?;
            (body["orders"] == 4).then_some(body)
        })
        .await;
    assert_eq!(first["store_id"], expected["store_id"]);
    assert_eq!(first["revenue"], expected["revenue"]);
    let (last_occurred,): (chrono::DateTime<chrono::Utc>,) = sqlx::query_as(
        "SELECT max(occurred_at) FROM outbox WHERE store_id = $1 AND type = 'order.placed'",
    )
    .bind(sid)
    .fetch_one(&db)
    .await
    .expect("last order");
    let last_order_at: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(first["last_order_at"].clone()).expect("a time");
    assert_eq!(last_order_at, last_occurred);

    // Publish every event again: Kafka now holds each order twice.
    wait_until_published(&stack, &db).await;
    let cp_url = stack.control_plane_url();
    stack
        .eventually("the consumer read the first copies", || async {
            (metric(
                &stack,
                &cp_url,
                "mercato_analytics_events_total{outcome=\"applied\"}",
            )
            .await
                == 4.0)
                .then_some(())
        })
        .await;
    sqlx::query("UPDATE outbox SET published_at = NULL WHERE store_id = $1")
        .bind(sid)
        .execute(&db)
        .await
        .expect("republish");
    wait_until_published(&stack, &db).await;
    let copies = read_all(stack.kafka.brokers(), &["order-events"]).await;
    for id in &orders {
        assert_eq!(
            copies.iter().filter(|r| r.event_id() == *id).count(),
            2,
            "order event {id} is in kafka twice"
        );
    }
    stack
        .eventually("the consumer read the second copies", || async {
            (metric(
                &stack,
                &cp_url,
                "mercato_analytics_events_total{outcome=\"duplicate\"}",
            )
            .await
                == 4.0)
                .then_some(())
        })
        .await;
    let again: Value = stack
        .operator(Method::GET, &sales_path)
        .send()
        .await
        .expect("sales")
        .json()
        .await
        .expect("json");
    assert_eq!(again, first, "duplicates change nothing");
    stack
        .eventually("the status change is read twice and ignored", || async {
            (metric(
                &stack,
                &cp_url,
                "mercato_analytics_events_total{outcome=\"ignored\"}",
            )
            .await
                == 2.0)
                .then_some(())
        })
        .await;

    // A store without orders, an unknown store, and a non-operator.
    let quiet: Value = stack
        .operator(
            Method::GET,
            &format!("/v1/stores/{}/sales", store_id(&other)),
        )
        .send()
        .await
        .expect("sales")
        .json()
        .await
        .expect("json");
    assert_eq!(
        quiet,
        json!({"store_id": store_id(&other), "orders": 0, "revenue": [], "last_order_at": null})
    );
    let r = stack
        .operator(Method::GET, &format!("/v1/stores/{}/sales", Uuid::now_v7()))
        .send()
        .await
        .expect("unknown store");
    assert_eq!(error_code(r).await, (404, "not_found".to_string()));
    let r = stack
        .at(Method::GET, PLATFORM, &sales_path)
        .bearer_auth(stack.staff_token(&store))
        .send()
        .await
        .expect("staff");
    // A store session is not meant for the control plane (`aud`).
    assert_eq!(error_code(r).await, (401, "unauthorized".to_string()));
    stack.shutdown().await;
}

#[tokio::test]
async fn several_relays_on_one_database_publish_each_event_once_in_order() {
    let stack = Stack::start(1).await;
    let mut stores = Vec::new();
    for handle in ["many-a", "many-b", "many-c"] {
        stores.push(store_id(&stack.create_store(handle).await));
    }
    let database_url = stack.pods[0].database_url.clone();
    let db = PgPool::connect(&database_url).await.expect("pod db");
    wait_until_published(&stack, &db).await;

    // Two more relays (three with the pod's own), small batches so that
    // they contend for the same stores.
    let mut stops = Vec::new();
    let mut relays = Vec::new();
    for _ in 0..2 {
        let pool = PgPool::connect(&database_url).await.expect("relay db");
        let relay = Relay::new(
            pool,
            RelaySettings {
                brokers: stack.kafka.brokers(),
                batch_size: 7,
                poll: Duration::from_millis(20),
                backoff_max: Duration::from_millis(500),
                delivery_timeout: Duration::from_secs(5),
                topic_partitions: 3,
            },
            RelayMetrics::new(&prometheus::Registry::new()).expect("metrics"),
        );
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        stops.push(stop);
        relays.push(tokio::spawn(relay.run(async move {
            let _ = stopped.await;
        })));
    }

    // One writer per store, all at once; each writes its events one
    // transaction after another (so id order is commit order).
    let writers: Vec<_> = stores
        .iter()
        .map(|&store| {
            let db = db.clone();
            tokio::spawn(async move {
                for i in 0..60 {
                    let kind = [
                        "order.placed",
                        "inventory.level_changed",
                        "catalog.product_changed",
                    ][i % 3];
                    record(&db, store, kind, json!({"i": i})).await;
                }
            })
        })
        .collect();
    for writer in writers {
        writer.await.expect("writer");
    }
    wait_until_published(&stack, &db).await;
    for stop in stops {
        let _ = stop.send(());
    }
    for relay in relays {
        relay.await.expect("relay stops");
    }
    let rows = outbox_rows(&db, &stores).await;
    assert_eq!(rows.len(), 180);
    let received = read_all(stack.kafka.brokers(), &Topic::ALL.map(Topic::as_str)).await;
    assert_published_once(&rows, &received);
    stack.shutdown().await;
}
