//! A serving thread's keep-alive connections to its upstreams (the pods,
//! the control plane): per upstream, a stack of idle HTTP/1.1 connections.
//!
//! Written by hand over `hyper::client::conn::http1` rather than taken from
//! hyper_util's pooled client: a thread's pool is only ever touched by that
//! thread, so it needs no shared pool with its locks, waiters and connector
//! service, nor a parse of a full URL per request; that client was a
//! measured part of the router's CPU per request. What it did that still
//! matters is kept: `TCP_NODELAY`, TCP keep-alive, a connect timeout, idle
//! connections closed after a minute, a request that a closing connection
//! refused before writing it sent again on another.
//!
//! A connection goes back on the stack when the answer's body has been read
//! to its end ([`PooledBody`]); an answer dropped half read takes its
//! connection with it (the rest of the body is still on the wire).

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::http::{HeaderValue, Request, Response};
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::time::Instant;

use crate::gate::{GateHandle, Gates};

/// How long a connection may sit idle in the pool.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// A serving thread's upstreams, by base URL, made on first use.
pub struct Upstreams {
    by_url: Mutex<HashMap<Arc<str>, Arc<Upstream>>>,
    connect_timeout: Duration,
    max_idle: usize,
}

/// One upstream: where to connect, its gate and its idle connections.
pub struct Upstream {
    /// `host:port`, to connect to and as the `Host` header.
    authority: String,
    host: HeaderValue,
    /// The base URL's path (empty for `http://host:port`), put before each
    /// request's path.
    prefix: String,
    pub gate: GateHandle,
    idle: Mutex<Vec<Idle>>,
    connect_timeout: Duration,
    max_idle: usize,
}

struct Idle {
    conn: SendRequest<Full<Bytes>>,
    since: Instant,
}

/// Why a request did not get an answer.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// No connection could be made: the upstream never saw the request,
    /// which comes back to be sent again.
    #[error("{}", .0.error)]
    NotConnected(Box<Unsent>),
    #[error("{0}")]
    Http(#[from] hyper::Error),
}

/// A request no connection could be made for.
#[derive(Debug)]
pub struct Unsent {
    pub request: Request<Full<Bytes>>,
    pub error: ConnectError,
}

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("connecting to {0}: {1}")]
    Io(String, std::io::Error),
    #[error("connecting to {0}: timed out")]
    Timeout(String),
    #[error("handshake with {0}: {1}")]
    Handshake(String, hyper::Error),
}

impl Upstreams {
    pub fn new(connect_timeout: Duration, max_idle: usize) -> Self {
        Self {
            by_url: Mutex::default(),
            connect_timeout,
            max_idle,
        }
    }

    /// The upstream at `base` (`http://host:port`, maybe with a path),
    /// `None` when it is not a plain `http` URL.
    pub fn get(&self, base: &str, gates: &Gates) -> Option<Arc<Upstream>> {
        let mut by_url = self.by_url.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(upstream) = by_url.get(base) {
            return Some(upstream.clone());
        }
        let uri: axum::http::Uri = base.parse().ok()?;
        if uri.scheme_str() != Some("http") {
            return None;
        }
        let authority = uri.authority()?;
        let authority = match authority.port() {
            Some(_) => authority.as_str().to_owned(),
            None => format!("{}:80", authority.as_str()),
        };
        let upstream = Arc::new(Upstream {
            host: HeaderValue::from_str(uri.authority()?.as_str()).ok()?,
            authority,
            prefix: uri.path().trim_end_matches('/').to_owned(),
            gate: gates.handle(base),
            idle: Mutex::default(),
            connect_timeout: self.connect_timeout,
            max_idle: self.max_idle,
        });
        by_url.insert(base.into(), upstream.clone());
        Some(upstream)
    }
}

impl Upstream {
    /// `host:port`.
    pub fn authority(&self) -> &str {
        &self.authority
    }

    /// The base URL's path, if it has one.
    pub fn prefix(&self) -> Option<&str> {
        Some(self.prefix.as_str()).filter(|p| !p.is_empty())
    }

    /// The `Host` header of requests to this upstream.
    pub fn host(&self) -> &HeaderValue {
        &self.host
    }

    /// The request target for `path_and_query` (the base URL's path
    /// before it, if it has one).
    pub fn target(&self, path_and_query: &str) -> Result<axum::http::Uri, axum::http::Error> {
        if self.prefix.is_empty() {
            Ok(axum::http::Uri::try_from(path_and_query)?)
        } else {
            Ok(axum::http::Uri::try_from(format!(
                "{}{path_and_query}",
                self.prefix
            ))?)
        }
    }

    /// Sends `request` on an idle connection, or a new one. A request a
    /// pooled connection refused unsent (it was closing) goes on the next.
    /// The answer's body gives the connection back once read.
    ///
    /// A request that may be sent twice ([`replayable`]) keeps a copy while
    /// it rides a pooled connection: when the upstream closed that
    /// connection under it (an idle connection closed as the request
    /// arrived, so no answer came), it goes again once, on a new
    /// connection. Any other request's failure is the caller's to report.
    pub async fn send(
        self: &Arc<Self>,
        mut request: Request<Full<Bytes>>,
    ) -> Result<Response<PooledBody>, SendError> {
        let mut fresh_only = false;
        loop {
            let idle = if fresh_only {
                None
            } else {
                self.take_idle().await
            };
            let (mut conn, pooled) = match idle {
                Some(conn) => (conn, true),
                None => match self.connect().await {
                    Ok(conn) => (conn, false),
                    Err(error) => {
                        return Err(SendError::NotConnected(Box::new(Unsent { request, error })))
                    }
                },
            };
            let again = (pooled && replayable(&request)).then(|| copy(&request));
            match conn.try_send_request(request).await {
                Ok(response) => {
                    let (parts, body) = response.into_parts();
                    let body = PooledBody {
                        body,
                        ended: false,
                        back: Some((conn, self.clone())),
                    };
                    return Ok(Response::from_parts(parts, body));
                }
                Err(mut refused) if pooled => match refused.take_message() {
                    Some(unsent) => request = unsent,
                    None => {
                        let error = refused.into_error();
                        match again {
                            Some(copy) if error.is_incomplete_message() || error.is_canceled() => {
                                tracing::debug!(%error, "pooled connection closed under a request; sending it again");
                                request = copy;
                                fresh_only = true;
                            }
                            _ => return Err(error.into()),
                        }
                    }
                },
                Err(refused) => return Err(refused.into_error().into()),
            }
        }
    }

    /// The most recently used idle connection that is still open and
    /// ready; stale ones on the way are dropped.
    async fn take_idle(&self) -> Option<SendRequest<Full<Bytes>>> {
        loop {
            let idle = {
                let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
                // The oldest is at the bottom: one that idled too long goes.
                if idle
                    .first()
                    .is_some_and(|oldest| oldest.since.elapsed() > IDLE_TIMEOUT)
                {
                    idle.remove(0);
                }
                idle.pop()?
            };
            let mut conn = idle.conn;
            if conn.is_closed() {
                continue;
            }
            // Ready at once unless its last answer was put back a moment
            // before the connection's task saw it end.
            if conn.ready().await.is_ok() {
                return Some(conn);
            }
        }
    }

    async fn connect(&self) -> Result<SendRequest<Full<Bytes>>, ConnectError> {
        let connecting = tokio::net::TcpStream::connect(self.authority.as_str());
        let stream = tokio::time::timeout(self.connect_timeout, connecting)
            .await
            .map_err(|_| ConnectError::Timeout(self.authority.clone()))?
            .map_err(|e| ConnectError::Io(self.authority.clone(), e))?;
        let keepalive = socket2::TcpKeepalive::new().with_time(Duration::from_secs(30));
        let tuned = stream
            .set_nodelay(true)
            .and_then(|()| socket2::SockRef::from(&stream).set_tcp_keepalive(&keepalive));
        if let Err(e) = tuned {
            tracing::debug!(error = %e, "upstream socket options not set");
        }
        let (conn, driver) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| ConnectError::Handshake(self.authority.clone(), e))?;
        tokio::spawn(async move {
            if let Err(e) = driver.await {
                tracing::debug!(error = %e, "upstream connection closed");
            }
        });
        Ok(conn)
    }

    fn give_back(&self, conn: SendRequest<Full<Bytes>>) {
        if conn.is_closed() {
            return;
        }
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < self.max_idle {
            idle.push(Idle {
                conn,
                since: Instant::now(),
            });
        }
    }
}

/// Whether a request may be sent a second time when its first sending got
/// no answer: an idempotent method (RFC 9110 9.2.2), or a request that
/// carries its own `Idempotency-Key` (the pod answers a repeat with the
/// first answer).
pub fn replayable<B>(request: &Request<B>) -> bool {
    use axum::http::Method;
    matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS | Method::PUT | Method::DELETE | Method::TRACE
    ) || request.headers().contains_key("idempotency-key")
}

fn copy(request: &Request<Full<Bytes>>) -> Request<Full<Bytes>> {
    let mut again = Request::new(request.body().clone());
    *again.method_mut() = request.method().clone();
    *again.uri_mut() = request.uri().clone();
    *again.version_mut() = request.version();
    *again.headers_mut() = request.headers().clone();
    again
}

/// An upstream answer's body; read to its end, it puts its connection back
/// in the pool.
pub struct PooledBody {
    body: Incoming,
    ended: bool,
    back: Option<(SendRequest<Full<Bytes>>, Arc<Upstream>)>,
}

impl PooledBody {
    /// The body read whole if it is at most `limit` bytes, else `None`
    /// (and the connection is not reused).
    pub async fn read_small(mut self, limit: usize) -> Option<Bytes> {
        use http_body_util::BodyExt as _;
        // Read through `self`: read whole, it ends and goes back to the pool.
        let read = http_body_util::Limited::new(&mut self, limit)
            .collect()
            .await;
        read.ok().map(|collected| collected.to_bytes())
    }
}

impl Body for PooledBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let polled = Pin::new(&mut self.body).poll_frame(cx);
        if let Poll::Ready(None) = polled {
            self.ended = true;
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.ended || self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

impl Drop for PooledBody {
    fn drop(&mut self) {
        if let Some((conn, upstream)) = self.back.take() {
            if self.is_end_stream() {
                upstream.give_back(conn);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gate::Limits;
    use http_body_util::BodyExt as _;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    /// An upstream that answers the first request of each connection with
    /// keep-alive, then closes the connection when the next request
    /// arrives, without a word: a server closing an idle connection just
    /// as a request comes. Counts the requests it read.
    async fn closing_upstream() -> (String, Arc<std::sync::atomic::AtomicUsize>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let seen = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = seen.clone();
        tokio::spawn(async move {
            loop {
                let Ok((mut socket, _)) = listener.accept().await else {
                    return;
                };
                let counter = counter.clone();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 4096];
                    let mut answered = false;
                    loop {
                        let n = socket.read(&mut buf).await.unwrap_or(0);
                        if n == 0 {
                            return;
                        }
                        counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        if answered {
                            return; // closed under the second request
                        }
                        answered = true;
                        let _ = socket
                            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                            .await;
                    }
                });
            }
        });
        (format!("http://{addr}"), seen)
    }

    fn request(method: axum::http::Method, key: Option<&str>) -> Request<Full<Bytes>> {
        let mut r = Request::new(Full::new(Bytes::from_static(b"{}")));
        *r.method_mut() = method;
        *r.uri_mut() = "/x".parse().expect("uri");
        r.headers_mut()
            .insert("host", HeaderValue::from_static("pod"));
        if let Some(k) = key {
            r.headers_mut()
                .insert("idempotency-key", HeaderValue::from_str(k).expect("key"));
        }
        r
    }

    async fn answer(upstream: &Arc<Upstream>, r: Request<Full<Bytes>>) -> Result<u16, String> {
        match upstream.send(r).await {
            Ok(response) => {
                let status = response.status().as_u16();
                // Read to the end: the connection goes back to the pool.
                response
                    .into_body()
                    .collect()
                    .await
                    .map_err(|e| e.to_string())?;
                Ok(status)
            }
            Err(e) => Err(e.to_string()),
        }
    }

    #[tokio::test]
    async fn a_replayable_request_goes_again_when_its_pooled_connection_closes_under_it() {
        let (base, seen) = closing_upstream().await;
        let gates = Gates::new(Limits {
            max_in_flight: 8,
            queue: 8,
            wait: Duration::from_secs(5),
            open_for: Duration::from_secs(2),
        });
        let upstreams = Upstreams::new(Duration::from_secs(2), 4);
        let upstream = upstreams.get(&base, &gates).expect("upstream");
        use axum::http::Method;
        // Each pair: the first opens a connection that goes back to the
        // pool, the second rides it and finds it closed.
        for (method, key, expected) in [
            (Method::GET, None, Ok(200)),
            (Method::PUT, None, Ok(200)),
            (Method::POST, Some("k-1"), Ok(200)),
            (Method::POST, None, Err(())),
        ] {
            assert_eq!(answer(&upstream, request(Method::GET, None)).await, Ok(200));
            let got = answer(&upstream, request(method.clone(), key)).await;
            assert_eq!(got.map_err(|_| ()), expected, "{method} with key {key:?}");
        }
        // The upstream read more requests than it answered: the retries.
        assert!(seen.load(std::sync::atomic::Ordering::SeqCst) > 8);
    }
}
