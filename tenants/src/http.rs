//! HTTP plumbing every Mercato process shares: request ids and the request
//! span, Prometheus metrics by route template, health endpoints, JSON and
//! path extractors whose rejections speak the error catalogue. Shapes
//! requests and responses only; the processes own their sockets.

use std::time::Instant;

use axum::body::Body;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, MatchedPath, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry, TextEncoder,
};
use serde::de::DeserializeOwned;
use tracing::Instrument;

use crate::{ApiError, ErrorCode, REQUEST_ID_HEADER};

/// The request id of the current request, set by [`request_id`].
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// Accepts a caller's request id if it is short printable ASCII, otherwise
/// makes a new one. The id goes into a span (with `store_id` left for the
/// tenant layer to fill), the response header, and every error body. The
/// span is named by the process's `component` and continues the trace of
/// a valid `traceparent` ([`crate::trace`]); without one it starts a trace.
pub async fn request_id(
    State(component): State<&'static str>,
    mut req: Request,
    next: Next,
) -> Response {
    let id = accepted_request_id(req.headers())
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
    if let Ok(value) = HeaderValue::from_str(&id) {
        req.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    req.extensions_mut().insert(RequestId(id.clone()));
    let span = tracing::info_span!(
        "request",
        component,
        request_id = %id,
        method = %req.method(),
        route = tracing::field::Empty,
        store_id = tracing::field::Empty,
    );
    crate::trace::continue_from(
        &span,
        req.headers()
            .get_all(crate::trace::TRACEPARENT_HEADER)
            .iter()
            .map(HeaderValue::as_bytes),
    );
    let mut response = next.run(req).instrument(span).await;
    render_error(&mut response, &id);
    if let Ok(value) = HeaderValue::from_str(&id) {
        stamp_answer(&mut response, value);
    }
    response
}

/// The caller's request id, if it sent one that is short printable ASCII
/// (the only kind [`request_id`] keeps).
pub fn accepted_request_id(headers: &axum::http::HeaderMap) -> Option<&str> {
    headers
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_graphic()))
}

/// An error answer (an [`ApiError`] in its extensions, as
/// `ApiError::into_response` leaves it) gets its body again, with the
/// request id.
pub fn render_error(response: &mut Response, id: &str) {
    if let Some(err) = response.extensions_mut().remove::<ApiError>() {
        *response.body_mut() = Body::from(err.body(Some(id)));
        response
            .headers_mut()
            .remove(axum::http::header::CONTENT_LENGTH);
    }
}

/// Every answer carries its request id. A `413` also closes the
/// connection: the rest of the body was never read, so the connection
/// cannot carry another request; without saying so, a pooled client (the
/// router) would send its next request into a closing connection.
pub fn stamp_answer<B>(response: &mut axum::http::Response<B>, id: HeaderValue) {
    response.headers_mut().insert(REQUEST_ID_HEADER, id);
    if response.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
        response.headers_mut().insert(
            axum::http::header::CONNECTION,
            HeaderValue::from_static("close"),
        );
    }
}

/// Request counters and latency histograms labelled by route template,
/// method and status class only (bounded label values).
#[derive(Clone)]
pub struct HttpMetrics {
    component: &'static str,
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    unmatched: &'static str,
}

impl HttpMetrics {
    /// Registers the HTTP metrics of the process `component`.
    pub fn new(component: &'static str) -> Result<Self, prometheus::Error> {
        let registry = Registry::new_custom(Some("mercato".into()), None)?;
        let requests = IntCounterVec::new(
            Opts::new("http_requests_total", "HTTP requests served")
                .const_label("component", component),
            &["route", "method", "status"],
        )?;
        let latency = HistogramVec::new(
            HistogramOpts::new("http_request_duration_seconds", "HTTP request latency")
                .const_label("component", component)
                .buckets(vec![
                    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                ]),
            &["route", "method"],
        )?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(latency.clone()))?;
        Ok(Self {
            component,
            registry,
            requests,
            latency,
            unmatched: "unmatched",
        })
    }

    /// The route label of requests that match no route template (for a
    /// process whose fallback does real work, like the router's proxy).
    pub fn with_unmatched_label(mut self, label: &'static str) -> Self {
        self.unmatched = label;
        self
    }

    /// The process these metrics are of (`pod`, `router`, ...).
    pub fn component(&self) -> &'static str {
        self.component
    }

    /// The registry, for a process to add its own metrics to.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    pub fn observe(&self, route: &str, method: &str, status: StatusCode, started: Instant) {
        let (_, class) = status_class(status);
        self.requests
            .with_label_values(&[route, method, class])
            .inc();
        self.latency
            .with_label_values(&[route, method])
            .observe(started.elapsed().as_secs_f64());
    }

    /// The metrics of `route` with their label values looked up once per
    /// method and status class, then kept: for a process whose one route
    /// serves nearly every request (the router's proxy), which would
    /// otherwise hash its labels and take the vectors' locks twice a
    /// request.
    pub fn route(&self, route: &'static str) -> RouteMetrics {
        RouteMetrics {
            route,
            metrics: self.clone(),
            methods: Default::default(),
        }
    }

    /// The Prometheus text exposition of every registered metric: this
    /// process's registry and the default one (process-wide counters).
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        let encoder = TextEncoder::new();
        let mut families = self.registry.gather();
        families.extend(prometheus::gather());
        if let Err(e) = encoder.encode(&families, &mut buf) {
            tracing::warn!(error = %e, "metrics encoding failed");
        }
        String::from_utf8(buf).unwrap_or_default()
    }
}

/// The methods [`RouteMetrics`] keeps handles for; others are looked up.
const KEPT_METHODS: [axum::http::Method; 7] = [
    axum::http::Method::GET,
    axum::http::Method::HEAD,
    axum::http::Method::POST,
    axum::http::Method::PUT,
    axum::http::Method::PATCH,
    axum::http::Method::DELETE,
    axum::http::Method::OPTIONS,
];

/// One route's metrics ([`HttpMetrics::route`]). A series appears once it
/// is first observed, as with [`HttpMetrics::observe`].
#[derive(Clone)]
pub struct RouteMetrics {
    route: &'static str,
    metrics: HttpMetrics,
    /// By [`KEPT_METHODS`] index: requests by status class, latency.
    methods: std::sync::Arc<[MethodMetrics; KEPT_METHODS.len()]>,
}

#[derive(Default)]
struct MethodMetrics {
    requests: [std::sync::OnceLock<prometheus::IntCounter>; 5],
    latency: std::sync::OnceLock<prometheus::Histogram>,
}

impl RouteMetrics {
    pub fn observe(&self, method: &axum::http::Method, status: StatusCode, started: Instant) {
        let Some(i) = KEPT_METHODS.iter().position(|m| m == method) else {
            return self
                .metrics
                .observe(self.route, method.as_str(), status, started);
        };
        let (class, label) = status_class(status);
        let kept = &self.methods[i];
        kept.requests[class]
            .get_or_init(|| {
                self.metrics
                    .requests
                    .with_label_values(&[self.route, method.as_str(), label])
            })
            .inc();
        kept.latency
            .get_or_init(|| {
                self.metrics
                    .latency
                    .with_label_values(&[self.route, method.as_str()])
            })
            .observe(started.elapsed().as_secs_f64());
    }
}

/// The index and label of a status's class (`2xx`, ...).
fn status_class(status: StatusCode) -> (usize, &'static str) {
    match status.as_u16() {
        100..=199 => (0, "1xx"),
        200..=299 => (1, "2xx"),
        300..=399 => (2, "3xx"),
        400..=499 => (3, "4xx"),
        _ => (4, "5xx"),
    }
}

/// Middleware: records the request under its route template.
pub async fn track(State(metrics): State<HttpMetrics>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = match req.extensions().get::<MatchedPath>() {
        Some(path) => path.as_str().to_owned(),
        None => metrics.unmatched.to_owned(),
    };
    tracing::Span::current().record("route", route.as_str());
    let method = req.method().as_str().to_owned();
    let response = next.run(req).await;
    metrics.observe(&route, &method, response.status(), started);
    response
}

/// `GET /metrics`.
pub async fn metrics(State(metrics): State<HttpMetrics>) -> Response {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        metrics.render(),
    )
        .into_response()
}

/// `GET /healthz`: the process is up.
pub async fn healthz() -> Response {
    (
        StatusCode::OK,
        axum::Json(serde_json::json!({"status": "ok"})),
    )
        .into_response()
}

/// Answer for routes that do not exist.
pub async fn not_found() -> ApiError {
    ApiError::new(ErrorCode::NotFound, "no such route")
}

/// `/metrics` and `/healthz`, served by every process.
pub fn ops_routes<S: Clone + Send + Sync + 'static>(metrics: HttpMetrics) -> Router<S> {
    Router::new()
        .route("/metrics", axum::routing::get(self::metrics))
        .route("/healthz", axum::routing::get(healthz))
        .with_state(metrics)
}

/// The layers every process wraps its routes in: metrics by route, the body
/// limit, a panic catcher, and the request id (outermost, so every answer
/// carries it).
pub fn layers(router: Router, metrics: HttpMetrics, body_limit: usize) -> Router {
    let component = metrics.component();
    router
        .layer(axum::middleware::from_fn_with_state(body_limit, read_body))
        .layer(axum::middleware::from_fn_with_state(metrics, track))
        .layer(axum::extract::DefaultBodyLimit::max(body_limit))
        .layer(axum::middleware::from_fn(catch_panic))
        .layer(axum::middleware::from_fn_with_state(component, request_id))
}

/// Reads a request's whole body before anything answers it, when it says
/// it is at most `limit` bytes long. A request refused before its body is
/// read (no hop signature, no token, a wrong path) would otherwise leave
/// the body on the wire, and hyper closes such a keep-alive connection
/// without saying so: a router that had pooled it loses the next request
/// it sends there. Longer bodies, and bodies of no declared length, go on
/// as they came: their handlers read them under their own limits (an
/// image's is larger than `limit`), and a refusal closes the connection.
pub async fn read_body(
    axum::extract::State(limit): axum::extract::State<usize>,
    req: Request,
    next: Next,
) -> Response {
    use axum::body::HttpBody as _;
    use http_body_util::BodyExt as _;
    if req.body().is_end_stream() {
        return next.run(req).await;
    }
    let declared = req
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_none_or(|n| n > limit as u64) {
        return next.run(req).await;
    }
    let (parts, body) = req.into_parts();
    match http_body_util::Limited::new(body, limit).collect().await {
        Ok(collected) => {
            let body = axum::body::Body::from(collected.to_bytes());
            next.run(Request::from_parts(parts, body)).await
        }
        Err(e)
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            ApiError::new(ErrorCode::PayloadTooLarge, "the request body is too large")
                .into_response()
        }
        Err(_) => ApiError::invalid("the request body could not be read").into_response(),
    }
}

/// A handler that panics answers `500 internal` with the request id, like
/// any other failure. Without this the connection drops, and the router in
/// front reports the pod as unavailable.
pub async fn catch_panic(req: Request, next: Next) -> Response {
    use futures::FutureExt as _;
    match std::panic::AssertUnwindSafe(next.run(req))
        .catch_unwind()
        .await
    {
        Ok(response) => response,
        Err(panic) => ApiError::internal(format!("handler panicked: {}", panic_message(&*panic)))
            .into_response(),
    }
}

/// The message of a caught panic, when it has one.
pub fn panic_message(panic: &(dyn std::any::Any + Send)) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)")
}

/// A process's routes with the ops routes, JSON 404/405 answers and the
/// shared layers. `/readyz` is the process's own, since only it knows its
/// dependencies.
pub fn finish(router: Router, metrics: HttpMetrics, body_limit: usize) -> Router {
    let router = router
        .merge(ops_routes(metrics.clone()))
        .fallback(not_found)
        .method_not_allowed_fallback(|| async {
            ApiError::new(ErrorCode::MethodNotAllowed, "method not allowed here")
        });
    layers(router, metrics, body_limit)
}

/// A JSON body whose rejections are catalogue errors (400 `invalid_json`,
/// 400 `invalid_text` for a control character in a string, 413
/// `payload_too_large`, 415 `unsupported_media_type`).
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !json_content_type(req.headers()) {
            return Err(json_rejection(JsonRejection::MissingJsonContentType(
                Default::default(),
            )));
        }
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|e| json_rejection(JsonRejection::BytesRejection(e)))?;
        let value = from_json::<T>(&bytes)?;
        if let Some(c) = crate::text::control_in_json(&bytes) {
            return Err(control_character(c));
        }
        Ok(Self(value))
    }
}

/// `bytes` as a `T`; a body that does not deserialize as sent is tried once
/// more with its integral numbers written as integers (`64.0` as `64`,
/// [`crate::json::integral_numbers`]), as the documents' `integer` allows.
/// If that fails too, the error is the body's as sent.
fn from_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let error = match axum::Json::<T>::from_bytes(bytes) {
        Ok(axum::Json(value)) => return Ok(value),
        Err(error) => error,
    };
    crate::json::integral_numbers(bytes)
        .and_then(|rewritten| axum::Json::<T>::from_bytes(&rewritten).ok())
        .map(|axum::Json(value)| value)
        .ok_or_else(|| json_rejection(error))
}

/// `application/json` or any `application/*+json`, as axum's own check.
fn json_content_type(headers: &axum::http::HeaderMap) -> bool {
    let Some(value) = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || essence
            .strip_prefix("application/")
            .is_some_and(|subtype| subtype.ends_with("+json"))
}

fn control_character(c: u32) -> ApiError {
    ApiError::new(
        ErrorCode::InvalidText,
        format!(
            "control character {} is not allowed in text",
            crate::text::describe(c)
        ),
    )
}

/// Refuses a request whose path or query string holds a control character
/// once percent-decoded.
fn check_url(parts: &Parts) -> Result<(), ApiError> {
    let uri = &parts.uri;
    [Some(uri.path()), uri.query()]
        .into_iter()
        .flatten()
        .find_map(crate::text::control_in_url)
        .map_or(Ok(()), |c| Err(control_character(c)))
}

fn json_rejection(rejection: JsonRejection) -> ApiError {
    match rejection {
        JsonRejection::MissingJsonContentType(_) => ApiError::new(
            ErrorCode::UnsupportedMediaType,
            "expected a body with content-type application/json",
        ),
        JsonRejection::BytesRejection(_) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            ApiError::new(ErrorCode::PayloadTooLarge, "the request body is too large")
        }
        JsonRejection::JsonDataError(e) => ApiError::new(ErrorCode::InvalidJson, e.body_text()),
        other => ApiError::new(ErrorCode::InvalidJson, other.body_text()),
    }
}

/// Path parameters whose rejections are 400 `invalid_id`.
pub struct ApiPath<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        check_url(parts)?;
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(v)| Self(v))
            .map_err(|e: PathRejection| ApiError::new(ErrorCode::InvalidId, e.body_text()))
    }
}

/// Query parameters whose rejections are 400 `invalid_request`.
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        check_url(parts)?;
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Query(v)| Self(v))
            .map_err(|e: QueryRejection| ApiError::new(ErrorCode::InvalidRequest, e.body_text()))
    }
}

/// The verified claims of the request's bearer token, if it has one.
/// `Err` when a token is present but not valid.
pub fn bearer_claims(
    parts: &Parts,
    keys: &crate::TokenKeys,
) -> Result<Option<crate::Claims>, ApiError> {
    let Some(value) = parts.headers.get(axum::http::header::AUTHORIZATION) else {
        return Ok(None);
    };
    let token = value
        .to_str()
        .ok()
        .and_then(crate::claims::bearer)
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::Unauthorized,
                "expected `Authorization: Bearer <token>`",
            )
        })?;
    keys.verify(token).map(Some).map_err(|e| match e {
        crate::TokenError::Expired => {
            ApiError::new(ErrorCode::TokenExpired, "the token has expired")
        }
        _ => ApiError::new(ErrorCode::Unauthorized, "the token is not valid"),
    })
}

/// Connections a listener lets wait for `accept` (Linux caps it at
/// `net.core.somaxconn`, 4096 by default). Tokio's own `bind` asks for
/// 1,024, which a flash-sale burst through several routers can overflow.
pub const LISTEN_BACKLOG: u32 = 4096;

/// Binds `addr` (`host:port`) with [`LISTEN_BACKLOG`].
pub async fn bind(addr: &str) -> std::io::Result<tokio::net::TcpListener> {
    let addr = tokio::net::lookup_host(addr).await?.next().ok_or_else(|| {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, "no address to bind")
    })?;
    bind_socket(addr, false)
}

/// Binds `addr` with [`LISTEN_BACKLOG`]; with `shared`, `SO_REUSEPORT` lets
/// more listeners of this process bind the same address, and the kernel
/// spreads new connections over them (one per serving thread). Linux lets
/// only the same user share a port.
pub fn bind_socket(
    addr: std::net::SocketAddr,
    shared: bool,
) -> std::io::Result<tokio::net::TcpListener> {
    let socket = match addr {
        std::net::SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        std::net::SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    socket.set_reuseaddr(true)?;
    if shared {
        socket.set_reuseport(true)?;
    }
    socket.set_nodelay(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// `raw` when it can be a client's address (1 to 64 printable ASCII
/// characters, trimmed), else `unknown`.
pub fn clean_address(raw: &str) -> &str {
    let raw = raw.trim();
    if !raw.is_empty() && raw.len() <= 64 && raw.bytes().all(|b| b.is_ascii_graphic()) {
        raw
    } else {
        "unknown"
    }
}

/// The client address the router saw, from `x-forwarded-for` (the router
/// overwrites any value the client sent), or `unknown`.
pub fn client_address(headers: &axum::http::HeaderMap) -> String {
    headers
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .map_or("unknown", clean_address)
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Page {
        limit: u32,
        offset: Option<i64>,
    }

    #[test]
    fn json_integers_may_be_written_with_a_zero_fraction() {
        let page = |json: &str| from_json::<Page>(json.as_bytes());
        let expected = Page {
            limit: 64,
            offset: Some(-100),
        };
        assert_eq!(page(r#"{"limit":64.0,"offset":-1e2}"#).ok(), Some(expected));
        let message = |json: &str| page(json).expect_err(json).body(None);
        let fraction = message(r#"{"limit":64.5}"#);
        assert!(fraction.contains("invalid_json"), "{fraction}");
        assert!(
            fraction.contains("64.5"),
            "the error of the body as sent: {fraction}"
        );
        let unknown = message(r#"{"extra":1,"limit":64.0}"#);
        assert!(unknown.contains("unknown field `extra`"), "{unknown}");
        assert!(page(r#"{"limit":1e300}"#).is_err());
    }

    #[tokio::test]
    async fn a_panicking_handler_answers_500_with_the_request_id() {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let app = Router::new().route(
            "/boom",
            axum::routing::get(|| async {
                if std::hint::black_box(true) {
                    panic!("boom");
                }
                "unreachable"
            }),
        );
        let app = finish(app, HttpMetrics::new("test").expect("metrics"), 1024);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(listener, app).await });
        let mut conn = tokio::net::TcpStream::connect(addr).await.expect("connect");
        conn.write_all(
            b"GET /boom HTTP/1.1\r\nHost: x\r\nx-request-id: req-1\r\nConnection: close\r\n\r\n",
        )
        .await
        .expect("write");
        let mut answer = String::new();
        conn.read_to_string(&mut answer).await.expect("read");
        assert!(answer.starts_with("HTTP/1.1 500"), "{answer}");
        assert!(answer.contains(r#""code":"internal""#), "{answer}");
        assert!(answer.contains(r#""request_id":"req-1""#), "{answer}");
    }
}
