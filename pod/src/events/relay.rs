//! The outbox relay: publishes unpublished outbox rows to Kafka and marks
//! them published.
//!
//! One store at a time, a batch at a time, in id order (ids are UUIDv7, so
//! the order the events were recorded): the batch's transaction takes the
//! store's relay lock (a transaction-scoped advisory lock, so of several pod
//! processes on one database exactly one publishes a store's events at a
//! time, which keeps them in order), claims the rows `FOR UPDATE SKIP
//! LOCKED`, hands every row to the idempotent producer, waits for every
//! delivery report and then sets `published_at` on the rows delivered, all
//! before it commits. A failed delivery ends the batch at that row (the rows
//! after it wait, so a store's order is kept) and the relay backs off; the
//! rows are tried again when Kafka answers. Kafka being down never fails a
//! write: rows wait in the outbox.
//!
//! Delivery is at least once: a batch delivered whose commit then fails is
//! published again, so consumers dedupe by event id.

use std::future::Future;
use std::time::Duration;

use futures::StreamExt as _;
use mercato_tenants::backoff::Backoff;
use mercato_tenants::events::{Envelope, EventType, Topic, TYPE_HEADER};
use mercato_tenants::trace::{TraceParent, TRACEPARENT_HEADER};
use mercato_tenants::{EventId, StoreId};
use prometheus::{IntCounterVec, IntGauge, Opts, Registry};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer as _};
use sqlx::PgPool;
use uuid::Uuid;

use super::{recorded, sql};
use crate::config::EventsConfig;

/// How long the relay waits after being woken, so the transaction that
/// recorded the event has committed (and its neighbours join the batch).
const WAKE_DELAY: Duration = Duration::from_millis(20);
/// The first wait after a failure; it doubles up to the configured maximum.
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
/// Stores looked at per round; the rest come in the next round.
const STORES_PER_ROUND: i64 = 1000;
/// Stores published at once (each holds a database connection while its
/// batch is delivered).
const STORES_AT_ONCE: usize = 4;

/// What the relay needs from the pod's config.
#[derive(Debug, Clone)]
pub struct RelaySettings {
    pub brokers: String,
    pub batch_size: i64,
    pub poll: Duration,
    pub backoff_max: Duration,
    pub delivery_timeout: Duration,
    pub topic_partitions: i32,
}

impl RelaySettings {
    /// `None` when no Kafka is configured: no relay runs.
    pub fn from_config(config: &EventsConfig) -> Option<Self> {
        let brokers = config.kafka_brokers.clone()?;
        Some(Self {
            brokers,
            batch_size: config.relay_batch_size.clamp(1, 10_000),
            poll: Duration::from_millis(config.relay_poll_ms.max(10)),
            backoff_max: Duration::from_millis(config.relay_backoff_max_ms).max(FIRST_BACKOFF),
            delivery_timeout: Duration::from_millis(config.delivery_timeout_ms.max(100)),
            topic_partitions: config.topic_partitions.max(1),
        })
    }
}

/// The relay's Prometheus metrics.
#[derive(Clone)]
pub struct RelayMetrics {
    /// `mercato_outbox_published_total{topic}`.
    published: IntCounterVec,
    /// `mercato_outbox_pending`: unpublished rows at the last look.
    pending: IntGauge,
    /// `mercato_outbox_relay_errors_total{kind}`: `kafka` or `database`.
    errors: IntCounterVec,
}

impl RelayMetrics {
    pub fn new(registry: &Registry) -> Result<Self, prometheus::Error> {
        let published = IntCounterVec::new(
            Opts::new("outbox_published_total", "Outbox events published to Kafka"),
            &["topic"],
        )?;
        let pending = IntGauge::new(
            "outbox_pending",
            "Outbox events not yet published, at the relay's last look",
        )?;
        let errors = IntCounterVec::new(
            Opts::new(
                "outbox_relay_errors_total",
                "Failed relay attempts, by what failed",
            ),
            &["kind"],
        )?;
        registry.register(Box::new(published.clone()))?;
        registry.register(Box::new(pending.clone()))?;
        registry.register(Box::new(errors.clone()))?;
        Ok(Self {
            published,
            pending,
            errors,
        })
    }
}

#[derive(Debug, thiserror::Error)]
enum RelayError {
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("kafka: {0}")]
    Kafka(#[from] KafkaError),
    #[error("kafka: topic {topic}: {code}")]
    Topic {
        topic: String,
        code: RDKafkaErrorCode,
    },
    #[error("event {event} of store {store} was not delivered: {cause}")]
    Delivery {
        store: StoreId,
        event: EventId,
        cause: KafkaError,
    },
    #[error("event {event} of store {store}: its delivery was cancelled")]
    Cancelled { store: StoreId, event: EventId },
}

impl RelayError {
    fn kind(&self) -> &'static str {
        match self {
            Self::Database(_) => "database",
            _ => "kafka",
        }
    }
}

/// The relay of one pod process (tests run several on one database).
pub struct Relay {
    db: PgPool,
    settings: RelaySettings,
    metrics: RelayMetrics,
    /// Made when first needed, dropped after a fatal error.
    producer: Option<FutureProducer>,
    /// Whether the topics were created since the producer was made or
    /// Kafka last failed (a broker that lost its state needs them again).
    topics_ready: bool,
}

impl Relay {
    pub fn new(db: PgPool, settings: RelaySettings, metrics: RelayMetrics) -> Self {
        Self {
            db,
            settings,
            metrics,
            producer: None,
            topics_ready: false,
        }
    }

    /// Publishes until `shutdown` completes. An unfinished batch is rolled
    /// back (its rows are published again later).
    pub async fn run(mut self, shutdown: impl Future<Output = ()>) {
        tokio::select! {
            () = shutdown => {}
            () = self.relay_forever() => {}
        }
        tracing::info!("outbox relay stopped");
    }

    async fn relay_forever(&mut self) {
        let mut backoff = Backoff::new(FIRST_BACKOFF, self.settings.backoff_max);
        loop {
            // Listen before looking, so an event recorded during the round
            // wakes the next one.
            let woken = recorded().notified();
            tokio::pin!(woken);
            woken.as_mut().enable();
            match self.round().await {
                Ok(true) => {
                    backoff.reset();
                    continue;
                }
                Ok(false) => backoff.reset(),
                Err(e) => {
                    self.metrics.errors.with_label_values(&[e.kind()]).inc();
                    let wait = backoff.next_delay();
                    tracing::warn!(error = %e, retry_in_ms = wait.as_millis() as u64, "outbox relay failed; retrying");
                    if matches!(e, RelayError::Database(_)) {
                        // Kafka is not to blame: keep its state.
                    } else {
                        self.after_kafka_failure();
                    }
                    tokio::time::sleep(wait).await;
                    continue;
                }
            }
            tokio::select! {
                () = &mut woken => tokio::time::sleep(WAKE_DELAY).await,
                () = tokio::time::sleep(self.settings.poll) => {}
            }
        }
    }

    fn after_kafka_failure(&mut self) {
        self.topics_ready = false;
        if let Some((code, reason)) = self
            .producer
            .as_ref()
            .and_then(|p| p.client().fatal_error())
        {
            tracing::warn!(%code, %reason, "kafka producer failed fatally; making a new one");
            self.producer = None;
        }
    }

    /// One batch for each store with unpublished rows. `Ok(true)` when some
    /// store has more rows waiting.
    async fn round(&mut self) -> Result<bool, RelayError> {
        let stores = sql::stores_with_pending(&self.db, STORES_PER_ROUND).await?;
        let pending = sql::pending_count(&self.db).await?;
        self.metrics.pending.set(pending);
        if stores.is_empty() {
            return Ok(false);
        }
        self.ensure_topics().await?;
        let producer = self.producer()?;
        let mut more = stores.len() as i64 == STORES_PER_ROUND;
        let this = &*self;
        let outcomes: Vec<Result<usize, RelayError>> = futures::stream::iter(stores)
            .map(|store| this.publish_batch(&producer, store))
            .buffer_unordered(STORES_AT_ONCE)
            .collect()
            .await;
        for outcome in outcomes {
            more |= outcome? == self.settings.batch_size as usize;
        }
        Ok(more)
    }

    fn producer(&mut self) -> Result<FutureProducer, KafkaError> {
        if let Some(producer) = &self.producer {
            return Ok(producer.clone());
        }
        let producer: FutureProducer = ClientConfig::new()
            .set("bootstrap.servers", &self.settings.brokers)
            .set("client.id", "mercato-pod-relay")
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set(
                "message.timeout.ms",
                self.settings.delivery_timeout.as_millis().to_string(),
            )
            // A batch is handed over whole and then awaited: little to
            // gain from waiting for more.
            .set("linger.ms", "1")
            // Find a broker that came back soon, not after librdkafka's
            // default ten seconds.
            .set("reconnect.backoff.ms", "100")
            .set("reconnect.backoff.max.ms", "1000")
            .create()?;
        self.producer = Some(producer.clone());
        Ok(producer)
    }

    /// Creates the event topics unless they exist.
    async fn ensure_topics(&mut self) -> Result<(), RelayError> {
        if self.topics_ready {
            return Ok(());
        }
        let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
            .set("bootstrap.servers", &self.settings.brokers)
            .set("client.id", "mercato-pod-relay-admin")
            .create()?;
        let topics: Vec<NewTopic<'_>> = Topic::ALL
            .iter()
            .map(|t| {
                NewTopic::new(
                    t.as_str(),
                    self.settings.topic_partitions,
                    TopicReplication::Fixed(1),
                )
            })
            .collect();
        let options = AdminOptions::new().request_timeout(Some(self.settings.delivery_timeout));
        for result in admin.create_topics(&topics, &options).await? {
            match result {
                Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err((topic, code)) => return Err(RelayError::Topic { topic, code }),
            }
        }
        self.topics_ready = true;
        Ok(())
    }

    /// Publishes the store's next batch; how many rows it published.
    async fn publish_batch(
        &self,
        producer: &FutureProducer,
        store: StoreId,
    ) -> Result<usize, RelayError> {
        let mut tx = self.db.begin().await?;
        // One relay per store at a time (the lock ends with the
        // transaction); another relay that holds it publishes this store.
        if !sql::try_lock_store(&mut tx, store).await? {
            return Ok(0);
        }
        // The fence: a store moved away (or being moved) is not published
        // from here; its outbox went with it. The share lock makes a move's
        // fence wait for this batch, so no mark lands after the fence.
        if !crate::tenancy::is_active_locked(&mut tx, store).await? {
            return Ok(0);
        }
        let rows = sql::claim_batch(&mut tx, store, self.settings.batch_size).await?;
        if rows.is_empty() {
            return Ok(0);
        }
        let key = store.to_string();
        let mut in_flight = Vec::with_capacity(rows.len());
        let mut failure = None;
        for row in &rows {
            let event_type: EventType = row
                .event_type
                .parse()
                .map_err(|e| sqlx::Error::Decode(format!("outbox row {}: {e}", row.id).into()))?;
            let topic = event_type.topic().as_str();
            let envelope = Envelope {
                event_id: EventId::from_uuid(row.id),
                store_id: store,
                event_type,
                aggregate_id: row.aggregate_id,
                occurred_at: row.occurred_at,
                payload: row.payload.clone(),
            };
            let value = serde_json::to_vec(&envelope)
                .map_err(|e| sqlx::Error::Decode(format!("outbox row {}: {e}", row.id).into()))?;
            let mut headers = OwnedHeaders::new().insert(Header {
                key: TYPE_HEADER,
                value: Some(event_type.as_str()),
            });
            // The trace of the request that recorded the event, re-read
            // strictly (rows come from other pods too, after a move).
            let traceparent = row
                .traceparent
                .as_deref()
                .and_then(TraceParent::parse)
                .map(|t| t.to_string());
            if let Some(traceparent) = &traceparent {
                headers = headers.insert(Header {
                    key: TRACEPARENT_HEADER,
                    value: Some(traceparent.as_str()),
                });
            }
            let record = FutureRecord::to(topic)
                .key(&key)
                .payload(&value)
                .headers(headers);
            match producer.send_result(record) {
                Ok(delivery) => in_flight.push((row.id, topic, delivery)),
                Err((cause, _)) => {
                    // Queue full or the like: what is in flight is still
                    // delivered in order; the rest waits for the next batch.
                    failure = Some(RelayError::Delivery {
                        store,
                        event: EventId::from_uuid(row.id),
                        cause,
                    });
                    break;
                }
            }
        }
        let mut delivered: Vec<Uuid> = Vec::with_capacity(in_flight.len());
        let mut topics: Vec<&'static str> = Vec::with_capacity(in_flight.len());
        for (id, topic, delivery) in in_flight {
            // Every report is awaited even after a failure: the producer
            // must not be left with messages that outlive this batch.
            let outcome = delivery.await;
            if failure.is_some() {
                continue;
            }
            match outcome {
                Ok(Ok(_)) => {
                    delivered.push(id);
                    topics.push(topic);
                }
                Ok(Err((cause, _))) => {
                    failure = Some(RelayError::Delivery {
                        store,
                        event: EventId::from_uuid(id),
                        cause,
                    })
                }
                Err(_) => {
                    failure = Some(RelayError::Cancelled {
                        store,
                        event: EventId::from_uuid(id),
                    })
                }
            }
        }
        if !delivered.is_empty() {
            sql::mark_published(&mut tx, store, &delivered).await?;
        }
        tx.commit().await?;
        for topic in topics {
            self.metrics.published.with_label_values(&[topic]).inc();
        }
        match failure {
            Some(e) => Err(e),
            None => Ok(delivered.len()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_relay_runs_only_with_brokers_and_sane_settings() {
        assert!(RelaySettings::from_config(&EventsConfig::default()).is_none());
        let settings = RelaySettings::from_config(&EventsConfig {
            kafka_brokers: Some("k:9092".into()),
            relay_batch_size: 0,
            relay_backoff_max_ms: 0,
            topic_partitions: 0,
            ..EventsConfig::default()
        })
        .expect("a relay");
        assert_eq!(settings.brokers, "k:9092");
        assert_eq!(settings.batch_size, 1);
        assert_eq!(settings.topic_partitions, 1);
        assert_eq!(settings.backoff_max, std::time::Duration::from_millis(100));
    }
}
