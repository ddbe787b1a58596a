//! The proxy: resolve the host, check the token, forward to the pod (or to
//! the control plane for the platform domain), retry once on `421`.
//!
//! Each pod gets a bounded number of requests in flight, each on a pooled
//! keep-alive connection, and a bounded queue in front of them
//! ([`crate::gate`]): a flash-sale burst waits its turn instead of opening
//! a thousand connections at once, and is shed with `503 overloaded` and
//! `Retry-After` only when the queue is full. A failed connect never
//! reached the pod, so it is tried again (any method) with jittered
//! backoff.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use axum::http::uri::PathAndQuery;
use axum::http::{Method, Request, StatusCode, Uri};
use axum::response::IntoResponse;
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::body::{Body as _, Incoming};
use mercato_tenants::backoff::Backoff;
use mercato_tenants::{hop, trace};

use crate::limits;
use crate::serve::{Answer, ResponseBody};
use crate::upstream::{SendError, Upstream};
use crate::waiting_room::{self, TICKET_HEADER};
use mercato_tenants::http::bearer_claims;
use mercato_tenants::{ApiError, Domain, ErrorCode, Resolution, TenantState, STORE_HEADER};

use crate::RouterState;

/// Headers that describe one hop, never forwarded.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
];

enum Target {
    ControlPlane,
    Store(Resolution),
}

/// The host a request is for: the authority of an absolute-form target
/// (`GET http://shop.example/ HTTP/1.1`), which RFC 9112 says wins over
/// `Host`, else the one `Host` header. Two `Host` headers are refused: a
/// cache or a firewall in front may have read the other one.
fn host_of(uri: &Uri, headers: &HeaderMap) -> Result<Domain, ApiError> {
    let mut hosts = headers.get_all(header::HOST).iter();
    let (first, second) = (hosts.next(), hosts.next());
    if second.is_some() {
        return Err(ApiError::invalid(
            "the request has more than one Host header",
        ));
    }
    let raw = match uri.authority() {
        Some(authority) => authority.as_str(),
        None => first
            .ok_or_else(|| ApiError::new(ErrorCode::MissingHost, "the request has no Host header"))?
            .to_str()
            .map_err(|_| ApiError::invalid("the Host header is not text"))?,
    };
    Domain::from_host_header(raw)
        .map_err(|_| ApiError::new(ErrorCode::UnknownStore, "no store at this host"))
}

/// Waits while the store is frozen for a cut-over, up to the hold bound.
async fn resolve(state: &RouterState, host: &Domain) -> Result<Target, ApiError> {
    if *host == state.platform_domain {
        return Ok(Target::ControlPlane);
    }
    let mut hold: Option<(tokio::time::Instant, tokio::sync::watch::Receiver<u64>)> = None;
    let mut refreshed = false;
    loop {
        let found = state.table.read(|t| t.resolve(host));
        match found {
            // A store created a moment ago: ask once before saying no.
            None if !refreshed && state.syncer.refresh_for_unknown(host.as_str()).await => {
                refreshed = true;
            }
            None => {
                if refreshed {
                    state.syncer.still_unknown(host.as_str());
                }
                return Err(ApiError::new(
                    ErrorCode::UnknownStore,
                    format!("no store at {host}"),
                ));
            }
            Some(r) if r.state == TenantState::Frozen => {
                // Watched from the first sight of the freeze on, and read
                // again once watching, so no change goes unseen.
                let Some((deadline, changes)) = &mut hold else {
                    hold = Some((
                        tokio::time::Instant::now() + state.hold_timeout,
                        state.table.watch(),
                    ));
                    continue;
                };
                if tokio::time::timeout_at(*deadline, changes.changed())
                    .await
                    .is_err()
                {
                    return Err(ApiError::new(
                        ErrorCode::StoreUnavailable,
                        "the store is being moved; retry shortly",
                    ));
                }
            }
            Some(r) => return Ok(Target::Store(r)),
        }
    }
}

/// Every request that is not one of the router's own endpoints: resolve
/// the host, apply the limits, the token check and the waiting room, and
/// send it on. `span` is the request's (its `store_id` is filled here).
pub async fn forward(
    state: &RouterState,
    req: Request<Incoming>,
    peer: IpAddr,
    span: &tracing::Span,
) -> Result<Answer, ApiError> {
    let host = host_of(req.uri(), req.headers())?;
    let port = port_of(req.uri(), req.headers());
    let target = resolve(state, &host).await?;
    if req.uri().path().starts_with("/internal/") {
        return Err(ApiError::new(ErrorCode::NotFound, "no such route"));
    }
    let (parts, body) = req.into_parts();
    if let Err(wait) = limit(state, &target, &parts, peer) {
        return Ok(local(rate_limited(wait)));
    }
    if let Target::Store(r) = &target {
        span.record("store_id", tracing::field::display(r.store));
        // Tokens are checked here and again by the pod.
        let claims = bearer_claims(&parts, &state.keys)?;
        if matches!(&claims, Some(c) if !c.may_act_for(r.store)) {
            return Err(ApiError::new(
                ErrorCode::Forbidden,
                "this token belongs to another store",
            ));
        }
    }
    // A checkout may have to wait its turn; the pass is its slot until the
    // pod has answered (or the client went away).
    let _pass = match &target {
        Target::Store(r) if waiting_room::is_checkout(&parts.method, parts.uri.path()) => {
            match state.waiting_room.enter(r.store, &parts.headers) {
                Ok(pass) => Some(pass),
                Err(answer) => return Ok(local(*answer.0)),
            }
        }
        _ => None,
    };
    let body = read_body(body, state.body_limit).await?;
    // The request line as it goes on: origin form, whatever the client sent.
    let path = match parts.uri.authority() {
        None => parts.uri,
        Some(_) => Uri::from(
            parts
                .uri
                .path_and_query()
                .cloned()
                .unwrap_or_else(|| PathAndQuery::from_static("/")),
        ),
    };
    let mut headers = parts.headers;
    forwarded_headers(&mut headers, &host, port, peer);

    match target {
        Target::ControlPlane => {
            let upstream = upstream(state, &state.control_plane_url)?;
            let target = upstream_target(&upstream, &path)?;
            send(state, &upstream, &parts.method, target, headers, body).await
        }
        Target::Store(first) => {
            // Kept for a second try should the pod answer 421 (rare: the
            // store just moved); the answer consumes the request.
            let retry = headers.clone();
            let response =
                send_to_store(state, &first, &parts.method, &path, headers, body.clone()).await?;
            if response.status() != StatusCode::MISDIRECTED_REQUEST {
                return Ok(response);
            }
            // The pod no longer serves this store: our table is stale.
            // Refresh it and try once more where it now says.
            tracing::info!(store_id = %first.store, "pod answered 421; refreshing the routing table");
            if let Err(e) = state.syncer.sync_once(0).await {
                tracing::warn!(error = %e, "refresh after 421 failed");
                return Ok(response);
            }
            match resolve(state, &host).await? {
                Target::Store(again) => {
                    send_to_store(state, &again, &parts.method, &path, retry, body).await
                }
                Target::ControlPlane => Ok(response),
            }
        }
    }
}

/// A response the router makes itself.
fn local(response: axum::response::Response) -> Answer {
    response.map(ResponseBody::Local)
}

/// The request's body, whole, up to `limit` bytes (`413` beyond): a body
/// is sent again if the pod answers `421`. A request without one (most:
/// reads) costs nothing here.
async fn read_body(body: Incoming, limit: usize) -> Result<Bytes, ApiError> {
    if body.is_end_stream() {
        return Ok(Bytes::new());
    }
    http_body_util::Limited::new(body, limit)
        .collect()
        .await
        .map(|collected| collected.to_bytes())
        .map_err(|_| ApiError::new(ErrorCode::PayloadTooLarge, "the request body is too large"))
}

/// This thread's connections to the upstream at `base`.
fn upstream(state: &RouterState, base: &str) -> Result<Arc<Upstream>, ApiError> {
    state
        .upstreams
        .get(base, &state.gates)
        .ok_or_else(|| ApiError::internal(format!("upstream {base} is not an http:// URL")))
}

/// The request target at `upstream` (its base URL's path, if any, first).
fn upstream_target(upstream: &Upstream, path: &Uri) -> Result<Uri, ApiError> {
    match upstream.prefix() {
        None => Ok(path.clone()),
        Some(_) => {
            let path = path.path_and_query().map_or("/", PathAndQuery::as_str);
            upstream
                .target(path)
                .map_err(|_| ApiError::invalid("malformed request path"))
        }
    }
}

/// Counts the request against its client's budget for its class and its
/// store's budget; `429 rate_limited` (with `Retry-After`) when over.
fn limit(
    state: &RouterState,
    target: &Target,
    parts: &axum::http::request::Parts,
    peer: IpAddr,
) -> Result<(), Duration> {
    let now = tokio::time::Instant::now();
    let path = parts.uri.path();
    let platform = matches!(target, Target::ControlPlane);
    if let Some(class) = limits::classify(&parts.method, path, platform) {
        state.limiter.client(class, peer, now)?;
    }
    if let Target::Store(r) = target {
        state.limiter.store(r.store, now)?;
    }
    Ok(())
}

fn rate_limited(wait: Duration) -> axum::response::Response {
    retry_after(wait, |secs| {
        ApiError::new(
            ErrorCode::RateLimited,
            format!("too many requests; retry in {secs} s"),
        )
    })
}

/// The error `make(secs)` answered with `Retry-After: secs`, `wait` rounded
/// up to whole seconds (at least 1).
fn retry_after(wait: Duration, make: impl FnOnce(u64) -> ApiError) -> axum::response::Response {
    let secs = wait.as_secs_f64().ceil().max(1.0) as u64;
    let mut response = make(secs).into_response();
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    response
}

async fn send_to_store(
    state: &RouterState,
    route: &Resolution,
    method: &Method,
    path: &Uri,
    mut headers: HeaderMap,
    body: Bytes,
) -> Result<Answer, ApiError> {
    let url = route.pod_url.as_deref().ok_or_else(|| {
        ApiError::new(
            ErrorCode::PodUnavailable,
            "the store's pod is not known yet",
        )
    })?;
    let upstream = upstream(state, url)?;
    headers.insert(
        HeaderName::from_static(STORE_HEADER),
        header_value(route.store).map_err(ApiError::internal)?,
    );
    // Signed last, over the store, request line, request id and client
    // address as they leave: the pod believes nothing else.
    let hop = hop::sign_now(&state.hop_key, method, path, &headers);
    headers.insert(
        HeaderName::from_static(hop::HOP_HEADER),
        HeaderValue::from_str(&hop).map_err(ApiError::internal)?,
    );
    let target = upstream_target(&upstream, path)?;
    send(state, &upstream, method, target, headers, body).await
}

/// `value` written as a header value, without a `String` on the way.
fn header_value(value: impl std::fmt::Display) -> Result<HeaderValue, std::io::Error> {
    use std::io::Write as _;
    const ROOM: usize = 64;
    let mut buf = [0u8; ROOM];
    let mut rest = &mut buf[..];
    write!(rest, "{value}")?;
    let written = ROOM - rest.len();
    HeaderValue::from_bytes(&buf[..written])
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}

/// Whether `name` is hop-by-hop: fixed, or listed in `Connection` (RFC
/// 9110 7.6.1), whatever it is called.
fn is_hop_by_hop(name: &HeaderName, connection: &[HeaderValue]) -> bool {
    HOP_BY_HOP.contains(&name.as_str())
        || connection
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|listed| listed.trim().eq_ignore_ascii_case(name.as_str()))
}

/// Removes the hop-by-hop headers, fixed and `Connection`-named. The
/// common message (no `Connection` header naming others) costs one
/// lookup per fixed name.
fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let connection: Vec<HeaderValue> = match headers.get(header::CONNECTION) {
        None => Vec::new(),
        Some(_) => headers
            .get_all(header::CONNECTION)
            .iter()
            .cloned()
            .collect(),
    };
    if connection.is_empty() {
        for name in HOP_BY_HOP {
            headers.remove(*name);
        }
    } else {
        let named: Vec<HeaderName> = headers
            .keys()
            .filter(|name| is_hop_by_hop(name, &connection))
            .cloned()
            .collect();
        for name in named {
            headers.remove(name);
        }
    }
}

/// Turns the client's headers into the ones the upstream gets, in place:
/// the hop-by-hop ones and whatever only the router may set (the store,
/// the hop signature, the client address, the queue ticket) go; the host
/// the client asked for, the client address the router saw (replacing any
/// the client claimed: pods rate-limit logins by it) and the trace context
/// come in.
/// The port the client named with the host (`shop.example:8080`), if
/// any: the pod builds links back to the shopper's own address from it
/// (a card form's return URL).
fn port_of(uri: &Uri, headers: &HeaderMap) -> Option<u16> {
    let raw = match uri.authority() {
        Some(authority) => authority.as_str(),
        None => headers.get(header::HOST)?.to_str().ok()?,
    };
    let (_, port) = raw.rsplit_once(':')?;
    port.parse().ok()
}

fn forwarded_headers(headers: &mut HeaderMap, host: &Domain, port: Option<u16>, peer: IpAddr) {
    // The next hop continues this request's span (or, with no spans
    // exported, the trace the client sent), never the client's span.
    let mut received = HeaderMap::new();
    for value in headers.get_all(trace::TRACEPARENT_HEADER) {
        received.append(trace::TRACEPARENT_HEADER, value.clone());
    }
    strip_hop_by_hop(headers);
    for name in [STORE_HEADER, hop::HOP_HEADER, TICKET_HEADER] {
        headers.remove(name);
    }
    if let Ok(v) = HeaderValue::from_str(host.as_str()) {
        headers.insert(HeaderName::from_static("x-forwarded-host"), v);
    }
    headers.remove("x-forwarded-port");
    if let Some(port) = port {
        headers.insert(
            HeaderName::from_static("x-forwarded-port"),
            HeaderValue::from(port),
        );
    }
    trace::propagate_from(&received, headers);
    if let Ok(v) = header_value(peer) {
        headers.insert(HeaderName::from_static("x-forwarded-for"), v);
    }
}

async fn send(
    state: &RouterState,
    upstream: &Arc<Upstream>,
    method: &Method,
    target: Uri,
    mut headers: HeaderMap,
    body: Bytes,
) -> Result<Answer, ApiError> {
    let turn = upstream.gate.enter().await?;
    let write = !method.is_safe();
    if write {
        if let Err(wait) = turn.database_admits(tokio::time::Instant::now()) {
            state.database_refusals.inc();
            return Ok(local(database_refused(wait)));
        }
    }
    headers.insert(header::HOST, upstream.host().clone());
    let mut request = Request::new(Full::new(body));
    *request.method_mut() = method.clone();
    *request.uri_mut() = target;
    *request.headers_mut() = headers;
    let deadline = tokio::time::Instant::now() + state.upstream_timeout;
    let mut backoff = Backoff::new(Duration::from_millis(10), Duration::from_millis(200));
    let mut attempt = 1;
    loop {
        let answer = tokio::time::timeout_at(deadline, upstream.send(request)).await;
        match answer {
            Ok(Ok(response)) => {
                turn.succeeded();
                let (mut parts, body) = response.into_parts();
                strip_hop_by_hop(&mut parts.headers);
                let body = if parts.status == StatusCode::SERVICE_UNAVAILABLE {
                    // Rare and small: read it for its error code.
                    let bytes = body.read_small(SMALL_BODY).await.unwrap_or_default();
                    let unavailable = error_code(&bytes) == Some("database_unavailable");
                    turn.database_answered(false, unavailable, tokio::time::Instant::now());
                    ResponseBody::Local(axum::body::Body::from(bytes))
                } else {
                    let proved = write && parts.status.is_success();
                    turn.database_answered(proved, false, tokio::time::Instant::now());
                    ResponseBody::Upstream(body)
                };
                return Ok(Answer::from_parts(parts, body));
            }
            // Not connected: the pod never saw the request, so sending it
            // again cannot do anything twice.
            Ok(Err(SendError::NotConnected(unsent))) if attempt < state.connect_attempts => {
                tracing::info!(upstream = %upstream.authority(), attempt, error = %unsent.error, "connect failed; retrying");
                attempt += 1;
                request = unsent.request;
                tokio::time::sleep_until(
                    deadline.min(tokio::time::Instant::now() + backoff.next_delay()),
                )
                .await;
            }
            Ok(Err(e)) => {
                turn.failed();
                tracing::warn!(upstream = %upstream.authority(), attempt, error = %e, "upstream unreachable");
                return Err(ApiError::new(
                    ErrorCode::PodUnavailable,
                    "the store's pod is unavailable; retry shortly",
                ));
            }
            Err(_) => {
                turn.failed();
                tracing::warn!(upstream = %upstream.authority(), "upstream timed out");
                return Err(ApiError::new(
                    ErrorCode::UpstreamTimeout,
                    "the store's pod did not answer in time",
                ));
            }
        }
    }
}

/// A 503 body is a few hundred bytes of JSON; more than this is not ours
/// (the client still gets the status and headers).
const SMALL_BODY: usize = 16 * 1024;

/// The `error.code` of an error answer's body.
fn error_code(body: &[u8]) -> Option<&str> {
    #[derive(serde::Deserialize)]
    struct Answer<'a> {
        #[serde(borrow)]
        error: Inner<'a>,
    }
    #[derive(serde::Deserialize)]
    struct Inner<'a> {
        code: &'a str,
    }
    serde_json::from_slice::<Answer>(body)
        .ok()
        .map(|a| a.error.code)
}

/// A write refused at the router while the upstream's database circuit is
/// open, with the window's rest as `Retry-After`.
fn database_refused(wait: Duration) -> axum::response::Response {
    retry_after(wait, |secs| {
        ApiError::new(
            ErrorCode::DatabaseUnavailable,
            format!("the store's database is not answering; retry in {secs} s"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_code_is_read_from_an_error_body_only() {
        let body = br#"{"error":{"code":"database_unavailable","message":"m","request_id":"r"}}"#;
        assert_eq!(error_code(body), Some("database_unavailable"));
        assert_eq!(error_code(b"<html>busy</html>"), None);
        assert_eq!(error_code(br#"{"code":"database_unavailable"}"#), None);
        assert_eq!(error_code(b""), None);
    }

    #[test]
    fn connection_named_headers_are_hop_by_hop() {
        let mut h = HeaderMap::new();
        h.append(
            header::CONNECTION,
            HeaderValue::from_static("keep-alive, X-Secret-Hop"),
        );
        h.append(header::CONNECTION, HeaderValue::from_static("x-other"));
        h.insert("x-secret-hop", HeaderValue::from_static("1"));
        h.insert("x-other", HeaderValue::from_static("1"));
        h.insert("x-kept", HeaderValue::from_static("1"));
        h.insert(header::HOST, HeaderValue::from_static("shop.example"));
        h.insert(STORE_HEADER, HeaderValue::from_static("forged"));
        h.insert(hop::HOP_HEADER, HeaderValue::from_static("forged"));
        h.insert(TICKET_HEADER, HeaderValue::from_static("forged"));
        h.insert("x-forwarded-for", HeaderValue::from_static("6.6.6.6"));
        let answer = h.clone();
        let host = Domain::parse("shop.example").expect("domain");
        let peer: IpAddr = "203.0.113.9".parse().expect("ip");
        let mut out = h;
        forwarded_headers(&mut out, &host, Some(8080), peer);
        for gone in [
            "x-secret-hop",
            "x-other",
            "connection",
            "host",
            STORE_HEADER,
            hop::HOP_HEADER,
            TICKET_HEADER,
        ] {
            assert!(out.get(gone).is_none(), "{gone}");
        }
        assert_eq!(out.get("x-kept").map(|v| v.as_bytes()), Some(&b"1"[..]));
        assert_eq!(
            out.get_all("x-forwarded-for")
                .iter()
                .map(|v| v.as_bytes())
                .collect::<Vec<_>>(),
            [&b"203.0.113.9"[..]],
            "the address the router saw, only"
        );
        assert_eq!(
            out.get("x-forwarded-host").map(|v| v.as_bytes()),
            Some(&b"shop.example"[..])
        );
        assert_eq!(
            out.get("x-forwarded-port").map(|v| v.as_bytes()),
            Some(&b"8080"[..])
        );
        assert!(out.get(trace::TRACEPARENT_HEADER).is_some());
        let mut answer = answer;
        strip_hop_by_hop(&mut answer);
        assert!(answer.get("x-secret-hop").is_none() && answer.get("x-other").is_none());
        assert!(answer.get("x-kept").is_some() && answer.get(header::CONNECTION).is_none());
        let mut plain = HeaderMap::new();
        plain.insert("x-kept", HeaderValue::from_static("1"));
        plain.insert(
            header::TRANSFER_ENCODING,
            HeaderValue::from_static("chunked"),
        );
        strip_hop_by_hop(&mut plain);
        assert_eq!(plain.len(), 1, "only the fixed hop-by-hop headers go");
    }

    #[test]
    fn the_host_is_the_absolute_targets_else_the_one_host_header() {
        let host = |target: &str, hosts: &[&'static str]| {
            let uri: Uri = target.parse().expect("uri");
            let mut h = HeaderMap::new();
            for v in hosts {
                h.append(header::HOST, HeaderValue::from_static(v));
            }
            host_of(&uri, &h)
                .map(|d| d.as_str().to_owned())
                .map_err(|e| e.code)
        };
        assert_eq!(host("/", &["Shop.Example:8080"]), Ok("shop.example".into()));
        assert_eq!(
            host("http://other.example/x", &["shop.example"]),
            Ok("other.example".into())
        );
        assert_eq!(host("/", &[]), Err(ErrorCode::MissingHost));
        assert_eq!(
            host("/", &["a.example", "b.example"]),
            Err(ErrorCode::InvalidRequest)
        );
    }

    #[test]
    fn a_header_value_is_written_as_displayed() {
        let v6: IpAddr = "2001:db8::1".parse().expect("ip");
        assert_eq!(header_value(v6).expect("value"), "2001:db8::1");
        let id = mercato_tenants::StoreId::new();
        assert_eq!(header_value(id).expect("value"), id.to_string().as_str());
    }
}
