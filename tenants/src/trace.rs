//! W3C trace context: the `traceparent` header every hop carries (router →
//! pod → payment gateway → the gateway's webhooks back to the pod, and the
//! pod's Kafka messages → their consumers), parsed strictly and written
//! back, and the glue that ties it to the current `tracing` span through
//! the OpenTelemetry layer the binary installs. Every receiver, HTTP or
//! Kafka, reads what it was sent with [`continue_from`].
//!
//! A `traceparent` is `00-<trace id>-<parent id>-<flags>`: version `00`, 32
//! and 16 lowercase hex digits (neither all zeros), two hex digits of flags
//! (bit 0: sampled). Anything else, a second header included, is ignored:
//! the request starts a new trace and is served as usual. A client's trace
//! context is believed for tracing only; nothing else reads it.
//!
//! Without the OpenTelemetry layer (the in-process applications of most
//! tests) spans have no trace context: nothing is continued and nothing is
//! sent on.

use axum::http::{HeaderMap, HeaderValue};
use opentelemetry::trace::{
    SpanContext, SpanId, TraceContextExt as _, TraceFlags, TraceId, TraceState,
};
use serde::{Deserialize, Serialize};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

/// The W3C trace context header.
pub const TRACEPARENT_HEADER: &str = "traceparent";
/// Its companion, vendor data that Mercato neither reads nor sends on.
pub const TRACESTATE_HEADER: &str = "tracestate";

/// A parsed `traceparent`: the trace, the span that sent it, its flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TraceParent {
    trace_id: [u8; 16],
    parent_id: [u8; 8],
    flags: u8,
}

impl TraceParent {
    /// A trace context of the span `parent_id` in trace `trace_id`; `None`
    /// if either is all zeros (invalid in W3C).
    pub fn new(trace_id: [u8; 16], parent_id: [u8; 8], sampled: bool) -> Option<Self> {
        (trace_id != [0; 16] && parent_id != [0; 8]).then_some(Self {
            trace_id,
            parent_id,
            flags: u8::from(sampled),
        })
    }

    /// Strictly: version `00`, lowercase hex, exactly 55 characters.
    pub fn parse(text: &str) -> Option<Self> {
        let mut fields = text.split('-');
        let (version, trace, parent, flags) = (
            fields.next()?,
            fields.next()?,
            fields.next()?,
            fields.next()?,
        );
        if fields.next().is_some() || version != "00" {
            return None;
        }
        let trace_id = lower_hex::<16>(trace)?;
        let parent_id = lower_hex::<8>(parent)?;
        let [flags] = lower_hex::<1>(flags)?;
        Self::new(trace_id, parent_id, false).map(|p| Self { flags, ..p })
    }

    /// The one `traceparent` of `headers`, if it parses; two are ignored.
    pub fn from_headers(headers: &HeaderMap) -> Option<Self> {
        Self::from_values(
            headers
                .get_all(TRACEPARENT_HEADER)
                .iter()
                .map(HeaderValue::as_bytes),
        )
    }

    /// The context carried by `values`, the values of every `traceparent`
    /// header of one message (an HTTP request's, a Kafka record's): one
    /// that parses; none, two or more, or one that does not parse, `None`.
    /// The single reading of a carried context, whatever the transport.
    pub fn from_values<'a>(values: impl IntoIterator<Item = &'a [u8]>) -> Option<Self> {
        let mut values = values.into_iter();
        let (first, second) = (values.next()?, values.next());
        if second.is_some() {
            return None;
        }
        Self::parse(std::str::from_utf8(first).ok()?)
    }

    pub fn trace_id(&self) -> [u8; 16] {
        self.trace_id
    }

    pub fn parent_id(&self) -> [u8; 8] {
        self.parent_id
    }

    /// The trace id as the 32 hex digits OTLP/JSON and the header use.
    pub fn trace_id_hex(&self) -> String {
        hex::encode(self.trace_id)
    }

    pub fn sampled(&self) -> bool {
        self.flags & 1 == 1
    }

    /// The trace context of `span`, if it has one (the OpenTelemetry layer
    /// is installed and the span is enabled).
    pub fn of_span(span: &tracing::Span) -> Option<Self> {
        let cx = span.context();
        let context = cx.span().span_context().clone();
        context.is_valid().then(|| Self {
            trace_id: context.trace_id().to_bytes(),
            parent_id: context.span_id().to_bytes(),
            flags: context.trace_flags().to_u8(),
        })
    }

    /// The trace context of the current span: what a call made now sends.
    pub fn current() -> Option<Self> {
        Self::of_span(&tracing::Span::current())
    }

    /// Makes `span` a child of the remote span `self` names. Call before the
    /// span is first entered; does nothing without the layer.
    pub fn adopt(&self, span: &tracing::Span) {
        let remote = SpanContext::new(
            TraceId::from_bytes(self.trace_id),
            SpanId::from_bytes(self.parent_id),
            TraceFlags::new(self.flags),
            true,
            TraceState::default(),
        );
        if let Err(e) =
            span.set_parent(opentelemetry::Context::new().with_remote_span_context(remote))
        {
            tracing::debug!(error = %e, "trace context not adopted");
        }
    }

    /// The header value.
    pub fn header_value(&self) -> HeaderValue {
        HeaderValue::from_str(&self.to_string()).expect("a traceparent is ASCII")
    }
}

impl std::fmt::Display for TraceParent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "00-{}-{}-{:02x}",
            hex::encode(self.trace_id),
            hex::encode(self.parent_id),
            self.flags
        )
    }
}

/// `text` as exactly `N` bytes written in lowercase hex (W3C refuses
/// uppercase).
fn lower_hex<const N: usize>(text: &str) -> Option<[u8; N]> {
    if text.len() != 2 * N || !text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return None;
    }
    let mut out = [0; N];
    hex::decode_to_slice(text, &mut out).ok()?;
    Some(out)
}

/// Makes `span` continue the trace a received message carries (`values`:
/// its `traceparent` headers' values, as [`TraceParent::from_values`] reads
/// them), or start one if it carries none that is valid. What every
/// receiver does, an HTTP request's span and a Kafka record's alike; call
/// before the span is first entered. The context continued, if any.
pub fn continue_from<'a>(
    span: &tracing::Span,
    values: impl IntoIterator<Item = &'a [u8]>,
) -> Option<TraceParent> {
    let parent = TraceParent::from_values(values)?;
    parent.adopt(span);
    Some(parent)
}

/// Replaces whatever trace context `headers` carry with the current span's
/// (none when there is none): what every outgoing call does, so a hop
/// never forwards a context it did not make.
pub fn propagate(headers: &mut HeaderMap) {
    headers.remove(TRACEPARENT_HEADER);
    headers.remove(TRACESTATE_HEADER);
    if let Some(current) = TraceParent::current() {
        headers.insert(TRACEPARENT_HEADER, current.header_value());
    }
}

/// What a process that makes exactly one hop per request (the router)
/// sends on when it keeps no spans of its own: the current span's context
/// if it has one (spans are exported), else a child of the context the
/// request came with (same trace, a new random parent id, its flags), else
/// a new trace. Either way the next hop continues one trace per request,
/// without the OpenTelemetry layer's work on every request.
pub fn propagate_from(incoming: &HeaderMap, headers: &mut HeaderMap) {
    headers.remove(TRACEPARENT_HEADER);
    headers.remove(TRACESTATE_HEADER);
    let next = TraceParent::current().unwrap_or_else(|| {
        let fresh = uuid::Uuid::new_v4().into_bytes();
        let mut parent_id = [0; 8];
        parent_id.copy_from_slice(&fresh[..8]);
        match TraceParent::from_headers(incoming) {
            Some(received) => TraceParent {
                parent_id,
                ..received
            },
            None => TraceParent {
                trace_id: uuid::Uuid::new_v4().into_bytes(),
                parent_id,
                flags: 0,
            },
        }
    });
    headers.insert(TRACEPARENT_HEADER, next.header_value());
}

/// Tracing settings of a process (`[telemetry]`; e.g.
/// `MERCATO_POD_TELEMETRY__OTLP_ENDPOINT`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TelemetryConfig {
    /// Base URL of an OTLP/HTTP collector (`http://collector:4318`); spans
    /// are posted as JSON to `<endpoint>/v1/traces`. Empty: no exporter
    /// runs, trace context is still passed on.
    pub otlp_endpoint: String,
}

impl TelemetryConfig {
    /// The collector, when one is set.
    pub fn endpoint(&self) -> Option<&str> {
        Some(self.otlp_endpoint.trim()).filter(|e| !e.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hop_without_spans_continues_the_received_trace_or_starts_one() {
        // No OpenTelemetry layer here: the current span has no context.
        let mut incoming = HeaderMap::new();
        incoming.insert(TRACEPARENT_HEADER, HeaderValue::from_static(GOOD));
        incoming.insert(TRACESTATE_HEADER, HeaderValue::from_static("k=v"));
        let mut out = incoming.clone();
        propagate_from(&incoming, &mut out);
        let received = TraceParent::parse(GOOD).expect("good");
        let sent = TraceParent::from_headers(&out).expect("a traceparent is sent");
        assert_eq!(sent.trace_id(), received.trace_id(), "the same trace");
        assert_ne!(sent.parent_id(), received.parent_id(), "a new parent id");
        assert_eq!(sent.sampled(), received.sampled());
        assert!(out.get(TRACESTATE_HEADER).is_none());

        let mut out = HeaderMap::new();
        propagate_from(&HeaderMap::new(), &mut out);
        let first = TraceParent::from_headers(&out).expect("a new trace");
        propagate_from(&HeaderMap::new(), &mut out);
        let second = TraceParent::from_headers(&out).expect("a new trace");
        assert_ne!(
            first.trace_id(),
            second.trace_id(),
            "each request its own trace"
        );
        assert_eq!(out.get_all(TRACEPARENT_HEADER).iter().count(), 1);
    }

    const GOOD: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn a_w3c_example_parses_and_prints_back() {
        let p = TraceParent::parse(GOOD).expect("parses");
        assert_eq!(p.trace_id_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(hex::encode(p.parent_id()), "00f067aa0ba902b7");
        assert!(p.sampled());
        assert_eq!(p.to_string(), GOOD);
        let unsampled = TraceParent::parse(&GOOD.replace("-01", "-00")).expect("parses");
        assert!(!unsampled.sampled());
    }

    #[test]
    fn anything_but_the_strict_form_is_ignored() {
        for bad in [
            "",
            "00",
            // Other versions, and ff which is never valid.
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            // All-zero ids.
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            // Uppercase, wrong lengths, non-hex, extra fields, spaces.
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1",
            "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-00",
            " 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0x",
            "00-+bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ] {
            assert_eq!(TraceParent::parse(bad), None, "{bad:?} was accepted");
        }
    }

    #[test]
    fn one_header_is_read_and_two_are_ignored() {
        let mut headers = HeaderMap::new();
        assert_eq!(TraceParent::from_headers(&headers), None);
        headers.insert(TRACEPARENT_HEADER, HeaderValue::from_static(GOOD));
        assert!(TraceParent::from_headers(&headers).is_some());
        headers.append(TRACEPARENT_HEADER, HeaderValue::from_static(GOOD));
        assert_eq!(TraceParent::from_headers(&headers), None);
    }

    #[test]
    fn a_record_s_values_are_read_like_headers() {
        let none: [&[u8]; 0] = [];
        assert_eq!(TraceParent::from_values(none), None);
        let one = TraceParent::from_values([GOOD.as_bytes()]).expect("one valid value");
        assert_eq!(Some(one), TraceParent::parse(GOOD));
        assert_eq!(
            TraceParent::from_values([GOOD.as_bytes(), GOOD.as_bytes()]),
            None
        );
        // A Kafka header without a value, or with bytes that are not text.
        assert_eq!(TraceParent::from_values([&b""[..]]), None);
        assert_eq!(TraceParent::from_values([&b"\xff00"[..]]), None);
    }

    #[test]
    fn without_the_layer_nothing_is_sent_on() {
        let mut headers = HeaderMap::new();
        headers.insert(TRACEPARENT_HEADER, HeaderValue::from_static(GOOD));
        headers.insert(TRACESTATE_HEADER, HeaderValue::from_static("k=v"));
        let span = tracing::info_span!("request");
        TraceParent::parse(GOOD).expect("parses").adopt(&span);
        let _in = span.enter();
        propagate(&mut headers);
        assert!(headers.is_empty());
        assert_eq!(TraceParent::current(), None);
    }

    #[test]
    fn new_refuses_zero_ids() {
        assert!(TraceParent::new([0; 16], [1; 8], true).is_none());
        assert!(TraceParent::new([1; 16], [0; 8], true).is_none());
        let p = TraceParent::new([0xab; 16], [0xcd; 8], false).expect("valid");
        assert_eq!(TraceParent::parse(&p.to_string()), Some(p));
    }

    #[test]
    fn the_endpoint_is_off_when_blank() {
        assert_eq!(TelemetryConfig::default().endpoint(), None);
        let c = TelemetryConfig {
            otlp_endpoint: "  ".into(),
        };
        assert_eq!(c.endpoint(), None);
        let c = TelemetryConfig {
            otlp_endpoint: "http://127.0.0.1:4318".into(),
        };
        assert_eq!(c.endpoint(), Some("http://127.0.0.1:4318"));
    }
}

#[cfg(test)]
mod with_the_layer {
    use super::*;
    use opentelemetry::trace::noop::NoopTracer;
    use tracing_subscriber::layer::SubscriberExt as _;

    /// The no-op tracer keeps a remote parent's context as its span's, so
    /// what a span adopted is what it sends on.
    #[test]
    fn an_adopted_context_is_what_the_next_hop_gets() {
        let subscriber = tracing_subscriber::registry()
            .with(tracing_opentelemetry::layer().with_tracer(NoopTracer::new()));
        tracing::subscriber::with_default(subscriber, || {
            let incoming =
                TraceParent::parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
                    .expect("parses");
            let span = tracing::info_span!("request");
            incoming.adopt(&span);
            let _in = span.enter();
            let mut headers = HeaderMap::new();
            headers.insert(TRACESTATE_HEADER, HeaderValue::from_static("k=v"));
            propagate(&mut headers);
            assert_eq!(TraceParent::from_headers(&headers), Some(incoming));
            assert!(headers.get(TRACESTATE_HEADER).is_none());
        });
    }

    /// A record's `traceparent` makes the span that handles it that
    /// context's child; without one the span's trace is its own.
    #[test]
    fn a_consumer_continues_the_trace_a_record_carries() {
        let subscriber = tracing_subscriber::registry()
            .with(tracing_opentelemetry::layer().with_tracer(NoopTracer::new()));
        tracing::subscriber::with_default(subscriber, || {
            let sent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
            let span = tracing::info_span!("message");
            let continued = continue_from(&span, [sent.as_bytes()]);
            assert_eq!(continued, TraceParent::parse(sent));
            assert_eq!(TraceParent::of_span(&span), continued);
            let fresh = tracing::info_span!("message");
            assert_eq!(continue_from(&fresh, [&b"garbage"[..]]), None);
            assert_ne!(
                TraceParent::of_span(&fresh).map(|t| t.trace_id_hex()),
                continued.map(|t| t.trace_id_hex())
            );
        });
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn every_valid_context_prints_and_parses_back(
            trace in any::<[u8; 16]>(),
            parent in any::<[u8; 8]>(),
            sampled in any::<bool>(),
        ) {
            if let Some(p) = TraceParent::new(trace, parent, sampled) {
                prop_assert_eq!(TraceParent::parse(&p.to_string()), Some(p));
            }
        }

        #[test]
        fn no_text_makes_the_parser_panic(text in "\\PC{0,64}") {
            let _ = TraceParent::parse(&text);
        }
    }
}
