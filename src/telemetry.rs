//! Logs and traces of one process: the `tracing` subscriber every `mercato
//! serve ...` and `mercato gateway` process installs.
//!
//! Logs go to stdout (JSON with `MERCATO_LOG_FORMAT=json`), filtered by
//! `RUST_LOG` (default `info`). Spans go through the OpenTelemetry layer,
//! which gives each span its W3C trace context, so `traceparent` is passed
//! on to the next hop ([`mercato_tenants::trace`]) whether or not spans
//! are exported. With `telemetry.otlp_endpoint` set, spans (and the events
//! logged inside them) are batched on the tokio runtime and posted as
//! OTLP/JSON to `<endpoint>/v1/traces`, every span recorded whatever the
//! incoming flags say; without it no exporter runs, no span is recorded
//! (their ids are still made and passed on) and only spans, not events,
//! reach the layer. The `service.name` of the spans
//! is the process's (`mercato-pod`, ...). [`Telemetry::shutdown`] flushes
//! what is still batched. The router ([`init_edge`]) skips the layer when
//! it exports nothing and derives the next hop's `traceparent` from the
//! request's.

use anyhow::Context as _;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, WithExportConfig as _};
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use opentelemetry_sdk::Resource;
use tracing_subscriber::filter::{filter_fn, EnvFilter, LevelFilter};
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{Layer as _, Registry};

use mercato_tenants::TelemetryConfig;

/// The installed trace pipeline; [`Telemetry::shutdown`] before exit.
pub struct Telemetry {
    provider: SdkTracerProvider,
}

/// A boxed layer over the registry, so both log formats and both span
/// filters are one type (and the layers one `Vec`).
type BoxedLayer = Box<dyn tracing_subscriber::Layer<Registry> + Send + Sync>;

/// Installs the global subscriber of the process named `service`
/// (`mercato-pod`, `mercato-router`, ...). Must be called inside the tokio
/// runtime (the exporter runs on it). Fails if a subscriber is already
/// installed.
pub fn init(service: &'static str, config: &TelemetryConfig) -> anyhow::Result<Telemetry> {
    install(service, config, Contexts::Always)
}

/// [`init`] for the router, which makes one hop per request: without an
/// exporter it keeps no span contexts at all (no OpenTelemetry layer, whose
/// callbacks were ~5 % of the router's samples in a profile under load) and
/// derives the next
/// hop's context from the request's own
/// ([`mercato_tenants::trace::propagate_from`]).
pub fn init_edge(service: &'static str, config: &TelemetryConfig) -> anyhow::Result<Telemetry> {
    install(service, config, Contexts::WhenExporting)
}

/// When spans get an OpenTelemetry context.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Contexts {
    /// Always: their context is what a process passes on from inside a
    /// request (the pod to the gateway and into Kafka).
    Always,
    /// Only when they are exported.
    WhenExporting,
}

fn install(
    service: &'static str,
    config: &TelemetryConfig,
    contexts: Contexts,
) -> anyhow::Result<Telemetry> {
    let provider = provider(service, config)?;
    let exporting = config.endpoint().is_some();
    let otel = tracing_opentelemetry::layer()
        .with_tracer(provider.tracer(service))
        .with_threads(false)
        .with_tracked_inactivity(false);
    // Spans at info and above always (their context is what is passed on);
    // events only when they are exported, as the spans' events.
    let otel: Option<BoxedLayer> = if exporting {
        Some(otel.with_filter(LevelFilter::INFO).boxed())
    } else if contexts == Contexts::Always {
        Some(
            otel.with_filter(filter_fn(|meta| {
                meta.is_span() && *meta.level() <= tracing::Level::INFO
            }))
            .boxed(),
        )
    } else {
        None
    };
    tracing_subscriber::registry()
        .with(std::iter::once(log_layer()).chain(otel).collect::<Vec<_>>())
        .try_init()
        .context("installing the tracing subscriber")?;
    if let Some(endpoint) = config.endpoint() {
        tracing::info!(endpoint, "exporting spans over OTLP");
    }
    Ok(Telemetry { provider })
}

/// Logs to stderr, as `RUST_LOG` and `MERCATO_LOG_FORMAT` say.
fn log_layer() -> BoxedLayer {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let fmt = tracing_subscriber::fmt::layer();
    if std::env::var("MERCATO_LOG_FORMAT").as_deref() == Ok("json") {
        fmt.json()
            .flatten_event(true)
            .with_current_span(true)
            .with_filter(filter)
            .boxed()
    } else {
        fmt.with_filter(filter).boxed()
    }
}

fn provider(service: &'static str, config: &TelemetryConfig) -> anyhow::Result<SdkTracerProvider> {
    let resource = Resource::builder().with_service_name(service).build();
    // Not parent-based: a client's `traceparent` flags never turn recording
    // off (or on). Without an exporter nothing is recorded, but every span
    // still gets its ids, so the context is passed on.
    let sampler = if config.endpoint().is_some() {
        Sampler::AlwaysOn
    } else {
        Sampler::AlwaysOff
    };
    let mut builder = SdkTracerProvider::builder()
        .with_resource(resource)
        .with_sampler(sampler);
    if let Some(endpoint) = config.endpoint() {
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_protocol(Protocol::HttpJson)
            .with_endpoint(traces_url(endpoint))
            .build()
            .with_context(|| format!("the OTLP exporter to {endpoint}"))?;
        let batches = opentelemetry_sdk::trace::span_processor_with_async_runtime::BatchSpanProcessor::builder(
            exporter,
            opentelemetry_sdk::runtime::Tokio,
        )
        .build();
        builder = builder.with_span_processor(batches);
    }
    Ok(builder.build())
}

/// Where OTLP/HTTP takes spans, under a collector's base URL.
fn traces_url(endpoint: &str) -> String {
    format!("{}/v1/traces", endpoint.trim_end_matches('/'))
}

impl Telemetry {
    /// Sends what is batched now (tests read the spans of a request).
    pub async fn flush(&self) {
        let provider = self.provider.clone();
        // The SDK blocks until its batch task (on this runtime) answers.
        match tokio::task::spawn_blocking(move || provider.force_flush()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "flushing spans failed"),
            Err(e) => tracing::warn!(error = %e, "flushing spans panicked"),
        }
    }

    /// Flushes and stops the exporter.
    pub async fn shutdown(self) {
        let provider = self.provider;
        match tokio::task::spawn_blocking(move || provider.shutdown()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("stopping the span exporter: {e}"),
            Err(e) => eprintln!("stopping the span exporter panicked: {e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_go_under_v1_traces() {
        assert_eq!(
            traces_url("http://127.0.0.1:4318"),
            "http://127.0.0.1:4318/v1/traces"
        );
        assert_eq!(
            traces_url("http://collector:4318/"),
            "http://collector:4318/v1/traces"
        );
    }
}
