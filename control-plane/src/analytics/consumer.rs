//! The Kafka side of analytics: reads `order-events`, applies each sale
//! once ([`super::apply`]) and commits the offset after the effect. Each
//! message is handled in a span that continues the trace its
//! `traceparent` header carries (the request that recorded the event).

use std::future::Future;
use std::time::Duration;

use mercato_tenants::backoff::Backoff;
use prometheus::{IntCounterVec, Opts, Registry};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{CommitMode, Consumer as _, StreamConsumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{BorrowedMessage, Headers as _, Message as _};
use sqlx::PgPool;
use tracing::Instrument as _;

use mercato_tenants::trace::{self, TRACEPARENT_HEADER};

use super::{apply, envelope_of, sale_in, CONSUMER, TOPIC};

const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// `mercato_analytics_events_total{outcome}`: applied, duplicate, ignored
/// (not a sale), malformed; and `mercato_analytics_errors_total{kind}`.
#[derive(Clone)]
pub struct ConsumerMetrics {
    events: IntCounterVec,
    errors: IntCounterVec,
}

impl ConsumerMetrics {
    pub fn new(registry: &Registry) -> Result<Self, prometheus::Error> {
        let events = IntCounterVec::new(
            Opts::new(
                "analytics_events_total",
                "Order events read by the analytics consumer, by outcome",
            ),
            &["outcome"],
        )?;
        let errors = IntCounterVec::new(
            Opts::new(
                "analytics_errors_total",
                "Analytics consumer failures, by what failed",
            ),
            &["kind"],
        )?;
        registry.register(Box::new(events.clone()))?;
        registry.register(Box::new(errors.clone()))?;
        Ok(Self { events, errors })
    }
}

/// Consumes until `shutdown` completes.
pub async fn run(
    db: PgPool,
    brokers: String,
    metrics: ConsumerMetrics,
    shutdown: impl Future<Output = ()>,
) {
    tokio::select! {
        () = shutdown => {}
        () = consume_forever(&db, &brokers, &metrics) => {}
    }
    tracing::info!("analytics consumer stopped");
}

async fn consume_forever(db: &PgPool, brokers: &str, metrics: &ConsumerMetrics) {
    let mut backoff = Backoff::new(FIRST_BACKOFF, MAX_BACKOFF);
    let consumer = loop {
        match connect(brokers).await {
            Ok(consumer) => break consumer,
            Err(e) => {
                metrics.errors.with_label_values(&["kafka"]).inc();
                tracing::warn!(error = %e, "analytics consumer cannot start; retrying");
                tokio::time::sleep(backoff.next_delay()).await;
            }
        }
    };
    tracing::info!(
        topic = TOPIC,
        group = CONSUMER,
        "analytics consumer started"
    );
    loop {
        let message = match consumer.recv().await {
            Ok(message) => message,
            Err(e) => {
                // librdkafka reconnects and rejoins the group by itself.
                metrics.errors.with_label_values(&["kafka"]).inc();
                tracing::warn!(error = %e, "analytics consumer: kafka error");
                tokio::time::sleep(FIRST_BACKOFF).await;
                continue;
            }
        };
        let span = message_span(&message);
        handle(db, metrics, &consumer, &message)
            .instrument(span)
            .await;
    }
}

/// The span a message is handled in: a child of the span that recorded
/// its event (the message's `traceparent`, read as a request's is), else
/// the root of a trace of its own. Its store and event type are recorded
/// once the envelope is read.
fn message_span(message: &BorrowedMessage<'_>) -> tracing::Span {
    let span = tracing::info_span!(
        "analytics.consume",
        component = "control-plane",
        topic = TOPIC,
        partition = message.partition(),
        offset = message.offset(),
        event_type = tracing::field::Empty,
        store_id = tracing::field::Empty,
    );
    let carried = message
        .headers()
        .into_iter()
        .flat_map(|headers| headers.iter())
        .filter(|header| header.key == TRACEPARENT_HEADER)
        .map(|header| header.value.unwrap_or_default());
    trace::continue_from(&span, carried);
    span
}

/// Applies one message's sale, if it is one, then commits its offset.
async fn handle(
    db: &PgPool,
    metrics: &ConsumerMetrics,
    consumer: &StreamConsumer,
    message: &BorrowedMessage<'_>,
) {
    let read = envelope_of(message.payload().unwrap_or_default()).and_then(|envelope| {
        let span = tracing::Span::current();
        span.record("store_id", tracing::field::display(envelope.store_id));
        span.record("event_type", envelope.event_type.as_str());
        sale_in(&envelope)
    });
    let outcome = match read {
        Ok(None) => "ignored",
        Err(e) => {
            // Skipped: a message that cannot be read never will be.
            tracing::error!(error = %e, partition = message.partition(), offset = message.offset(), "analytics consumer skips a malformed message");
            "malformed"
        }
        Ok(Some(sale)) => {
            let mut backoff = Backoff::new(FIRST_BACKOFF, MAX_BACKOFF);
            loop {
                match apply(db, &sale).await {
                    Ok(true) => break "applied",
                    Ok(false) => break "duplicate",
                    Err(e) => {
                        metrics.errors.with_label_values(&["database"]).inc();
                        tracing::warn!(error = %e, event_id = %sale.event_id, "analytics consumer cannot apply a sale; retrying");
                        tokio::time::sleep(backoff.next_delay()).await;
                    }
                }
            }
        }
    };
    metrics.events.with_label_values(&[outcome]).inc();
    // After the effect committed: a crash before this commit only
    // means the message is read again, and applied once.
    if let Err(e) = consumer.commit_message(message, CommitMode::Async) {
        metrics.errors.with_label_values(&["kafka"]).inc();
        tracing::warn!(error = %e, "analytics consumer cannot commit its offset");
    }
}

/// A consumer subscribed to the topic, which is created if missing.
async fn connect(brokers: &str) -> Result<StreamConsumer, KafkaError> {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("client.id", "mercato-control-plane-admin")
        .create()?;
    let topic = NewTopic::new(TOPIC, 3, TopicReplication::Fixed(1));
    let options = AdminOptions::new().request_timeout(Some(Duration::from_secs(5)));
    for result in admin.create_topics([&topic], &options).await? {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((_, code)) => return Err(KafkaError::AdminOp(code)),
        }
    }
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("client.id", "mercato-control-plane-analytics")
        .set("group.id", CONSUMER)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        // A broker that came back is found soon, and so are its topics.
        .set("reconnect.backoff.ms", "100")
        .set("reconnect.backoff.max.ms", "1000")
        .set("topic.metadata.refresh.interval.ms", "5000")
        .create()?;
    consumer.subscribe(&[TOPIC])?;
    Ok(consumer)
}
