//! A serving thread's HTTP/1.1 server: accepts connections on its listener
//! and serves each request start to end.
//!
//! Plain `hyper` with one function per request rather than an axum
//! `Router` with tower layers: the router has three endpoints of its own
//! and one that does the work (the proxy), and what the shared layers
//! ([`mercato_tenants::http::layers`]) do for every process is done here
//! once, inline: the request id and the request span, a caught panic as
//! `500`, the error body with the request id, metrics by route. Routing,
//! four middleware layers and the boxing between them were a measured part
//! of the router's CPU per request.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::http::{header, HeaderValue, Method, Request, Response};
use axum::response::IntoResponse as _;
use bytes::Bytes;
use futures::FutureExt as _;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper_util::rt::TokioIo;
use mercato_tenants::http::{self, HttpMetrics, RouteMetrics};
use mercato_tenants::{ApiError, ErrorCode, REQUEST_ID_HEADER};
use tokio::net::TcpListener;
use tracing::Instrument as _;

use crate::upstream::PooledBody;
use crate::RouterState;

/// A response of the router: an upstream's answer streamed through, or
/// one the router made.
pub type Answer = Response<ResponseBody>;

pub enum ResponseBody {
    Upstream(PooledBody),
    Local(axum::body::Body),
}

/// The route label of everything the proxy serves.
const PROXY_ROUTE: &str = "proxy";

/// What a request is for, by its path alone (any host).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    Healthz,
    Readyz,
    Metrics,
    Proxy,
}

impl Route {
    fn of(path: &str) -> Self {
        match path {
            "/healthz" => Self::Healthz,
            "/readyz" => Self::Readyz,
            "/metrics" => Self::Metrics,
            _ => Self::Proxy,
        }
    }

    /// The `route` label and span field: the path template, or `proxy`.
    fn label(self) -> &'static str {
        match self {
            Self::Healthz => "/healthz",
            Self::Readyz => "/readyz",
            Self::Metrics => "/metrics",
            Self::Proxy => PROXY_ROUTE,
        }
    }
}

/// What one serving thread serves with.
pub struct Worker {
    state: Arc<RouterState>,
    metrics: HttpMetrics,
    /// By [`Route`]: metrics with their labels resolved once.
    routes: [RouteMetrics; 4],
}

impl Worker {
    pub fn new(state: Arc<RouterState>, metrics: HttpMetrics) -> Self {
        let routes = [Route::Healthz, Route::Readyz, Route::Metrics, Route::Proxy]
            .map(|route| metrics.route(route.label()));
        Self {
            state,
            metrics,
            routes,
        }
    }

    fn route_metrics(&self, route: Route) -> &RouteMetrics {
        &self.routes[route as usize]
    }

    /// One request, start to end: what the shared layers do for the other
    /// processes, around [`Worker::route`].
    async fn serve(self: Arc<Self>, mut req: Request<Incoming>, peer: SocketAddr) -> Answer {
        let started = Instant::now();
        let id = match http::accepted_request_id(req.headers()) {
            Some(_) => req.headers()[REQUEST_ID_HEADER].clone(),
            None => new_request_id(),
        };
        // One id goes on, whatever the client sent.
        req.headers_mut().insert(REQUEST_ID_HEADER, id.clone());
        let id_text = id.to_str().unwrap_or_default();
        let route = Route::of(req.uri().path());
        let method = req.method().clone();
        let span = tracing::info_span!(
            "request",
            component = "router",
            request_id = id_text,
            method = %method,
            route = route.label(),
            store_id = tracing::field::Empty,
        );
        if !span.is_disabled() {
            // The span continues the client's trace, if it sent one.
            mercato_tenants::trace::continue_from(
                &span,
                req.headers()
                    .get_all(mercato_tenants::trace::TRACEPARENT_HEADER)
                    .iter()
                    .map(HeaderValue::as_bytes),
            );
        }
        let handled =
            std::panic::AssertUnwindSafe(self.route(route, req, peer, &span)).catch_unwind();
        // No subscriber wants the span (the usual case under load): no
        // entering and leaving it on every poll.
        let handled = if span.is_disabled() {
            handled.await
        } else {
            handled.instrument(span.clone()).await
        };
        let mut response = match handled {
            Ok(response) => response,
            Err(panic) => {
                let _entered = span.enter();
                let message = mercato_tenants::http::panic_message(&*panic);
                ApiError::internal(format!("handler panicked: {message}"))
                    .into_response()
                    .map(ResponseBody::Local)
            }
        };
        if let Some(err) = response.extensions_mut().remove::<ApiError>() {
            *response.body_mut() = ResponseBody::Local(err.body(Some(id_text)).into());
            response.headers_mut().remove(header::CONTENT_LENGTH);
        }
        http::stamp_answer(&mut response, id);
        self.route_metrics(route)
            .observe(&method, response.status(), started);
        response
    }

    async fn route(
        &self,
        route: Route,
        req: Request<Incoming>,
        peer: SocketAddr,
        span: &tracing::Span,
    ) -> Answer {
        let answered = match route {
            Route::Proxy => crate::proxy::forward(&self.state, req, peer.ip(), span).await,
            _ if !matches!(*req.method(), Method::GET | Method::HEAD) => {
                let mut refused =
                    ApiError::new(ErrorCode::MethodNotAllowed, "method not allowed here")
                        .into_response();
                refused
                    .headers_mut()
                    .insert(header::ALLOW, HeaderValue::from_static("GET,HEAD"));
                Ok(refused.map(ResponseBody::Local))
            }
            Route::Healthz => Ok(http::healthz().await.map(ResponseBody::Local)),
            Route::Readyz => Ok(readyz(&self.state).map(ResponseBody::Local)),
            Route::Metrics => Ok(self.metrics_for(&req).map(ResponseBody::Local)),
        };
        answered.unwrap_or_else(|e| e.into_response().map(ResponseBody::Local))
    }

    /// The router's `/metrics` (request counts and waiting-room gauges of
    /// every store) is the operator's: it answers only to a request
    /// addressed to the router by its IP address, as a scraper sends it,
    /// and is `404` on any domain (a store's or the platform's), so no
    /// shopper reads it.
    fn metrics_for(&self, req: &Request<Incoming>) -> axum::response::Response {
        if addressed_by_ip(req.uri(), req.headers()) {
            (
                [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
                self.metrics.render(),
            )
                .into_response()
        } else {
            ApiError::new(ErrorCode::NotFound, "no such route").into_response()
        }
    }
}

/// A new request id (a UUIDv7, time-ordered), written without a `String`.
fn new_request_id() -> HeaderValue {
    let mut buf = uuid::Uuid::encode_buffer();
    let text = uuid::Uuid::now_v7().hyphenated().encode_lower(&mut buf);
    HeaderValue::from_str(text).expect("a uuid is ASCII")
}

/// Whether the request's host (an absolute target's authority, else the
/// `Host` header) is an IP address, with or without a port.
fn addressed_by_ip(uri: &axum::http::Uri, headers: &axum::http::HeaderMap) -> bool {
    let authority: Option<axum::http::uri::Authority> = match uri.authority() {
        Some(authority) => Some(authority.clone()),
        None => headers
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .and_then(|h| h.parse().ok()),
    };
    authority.is_some_and(|a| {
        let host = a.host();
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        host.parse::<std::net::IpAddr>().is_ok()
    })
}

/// `GET /readyz`: ready once a routing table has been loaded.
fn readyz(state: &RouterState) -> axum::response::Response {
    let version = state.table.version();
    if state.table.loaded() {
        axum::Json(serde_json::json!({"status": "ready", "routing_version": version}))
            .into_response()
    } else {
        ApiError::new(ErrorCode::NotReady, "no routing table loaded yet").into_response()
    }
}

/// Accepts and serves connections until `stop` says so; then stops
/// accepting, lets each connection finish the request it is serving, and
/// returns once all are closed.
pub async fn serve(
    listener: TcpListener,
    worker: Arc<Worker>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> std::io::Result<()> {
    // Every connection holds a receiver; `closed` is when the last is gone.
    let (closing, closing_seen) = tokio::sync::watch::channel(false);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: wait a moment
                    // rather than spin.
                    tracing::error!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
            },
            // A dropped sender (the caller gone) stops too.
            () = async { let _ = stop.wait_for(|stop| *stop).await; } => break,
        };
        let worker = worker.clone();
        let mut closing = closing_seen.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let worker = worker.clone();
                async move { Ok::<_, Infallible>(worker.serve(req, peer).await) }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service);
            let mut conn = std::pin::pin!(conn);
            let served = tokio::select! {
                served = conn.as_mut() => served,
                () = async { let _ = closing.wait_for(|closing| *closing).await; } => {
                    conn.as_mut().graceful_shutdown();
                    conn.await
                }
            };
            if let Err(e) = served {
                tracing::debug!(error = %e, "connection ended");
            }
        });
    }
    drop(listener);
    drop(closing_seen);
    closing.send_replace(true);
    closing.closed().await;
    Ok(())
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        match self.get_mut() {
            Self::Upstream(body) => Pin::new(body).poll_frame(cx).map_err(Into::into),
            Self::Local(body) => Pin::new(body).poll_frame(cx).map_err(Into::into),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Self::Upstream(body) => body.is_end_stream(),
            Self::Local(body) => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Self::Upstream(body) => body.size_hint(),
            Self::Local(body) => body.size_hint(),
        }
    }
}

impl From<axum::body::Body> for ResponseBody {
    fn from(body: axum::body::Body) -> Self {
        Self::Local(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn by_ip(target: &str, host: Option<&'static str>) -> bool {
        let uri: axum::http::Uri = target.parse().expect("uri");
        let mut headers = axum::http::HeaderMap::new();
        if let Some(host) = host {
            headers.insert(header::HOST, HeaderValue::from_static(host));
        }
        addressed_by_ip(&uri, &headers)
    }

    #[test]
    fn only_an_ip_address_reaches_the_metrics() {
        assert!(by_ip("/metrics", Some("127.0.0.1:8080")));
        assert!(by_ip("/metrics", Some("10.0.0.7")));
        assert!(by_ip("/metrics", Some("[::1]:8080")));
        assert!(!by_ip("/metrics", Some("shop.example")));
        assert!(!by_ip("/metrics", Some("localhost:8080")));
        assert!(!by_ip("/metrics", Some("127.0.0.1.nip.io")));
        assert!(!by_ip("/metrics", None));
        // An absolute target's authority wins over Host.
        assert!(!by_ip("http://shop.example/metrics", Some("127.0.0.1")));
    }

    #[test]
    fn the_router_serves_three_paths_itself_and_proxies_the_rest() {
        assert_eq!(Route::of("/healthz"), Route::Healthz);
        assert_eq!(Route::of("/readyz"), Route::Readyz);
        assert_eq!(Route::of("/metrics"), Route::Metrics);
        for path in ["/", "/healthz/", "/metrics/x", "/api/products/1"] {
            assert_eq!(Route::of(path), Route::Proxy, "{path}");
        }
    }

    #[test]
    fn a_new_request_id_is_a_uuid() {
        let id = new_request_id();
        let text = id.to_str().expect("ascii");
        assert!(uuid::Uuid::parse_str(text).is_ok(), "{text}");
        assert!(http::accepted_request_id(&{
            let mut h = axum::http::HeaderMap::new();
            h.insert(REQUEST_ID_HEADER, id.clone());
            h
        })
        .is_some());
    }
}
