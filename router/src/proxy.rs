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

use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http_body_util::Full;
use mercato_tenants::backoff::Backoff;
use mercato_tenants::{hop, trace};

use crate::limits;
use crate::waiting_room::{self, TICKET_HEADER};
use mercato_tenants::http::bearer_claims;
use mercato_tenants::{ApiError, Domain, ErrorCode, Resolution, TenantState, STORE_HEADER};

use crate::RouterState;

pub type HttpClient = hyper_util::client::legacy::Client<
    hyper_util::client::legacy::connect::HttpConnector,
    Full<Bytes>,
>;

pub fn client(connect_timeout: Duration, max_idle_per_pod: usize) -> HttpClient {
    let mut connector = hyper_util::client::legacy::connect::HttpConnector::new();
    connector.set_connect_timeout(Some(connect_timeout));
    connector.set_nodelay(true);
    connector.set_keepalive(Some(Duration::from_secs(30)));
    hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        // Without a timer the pool never drops an idle connection.
        .pool_timer(hyper_util::rt::TokioTimer::new())
        .pool_idle_timeout(Duration::from_secs(60))
        .pool_max_idle_per_host(max_idle_per_pod)
        .build(connector)
}

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
fn host_of(req: &Request) -> Result<Domain, ApiError> {
    let mut hosts = req.headers().get_all(header::HOST).iter();
    let (first, second) = (hosts.next(), hosts.next());
    if second.is_some() {
        return Err(ApiError::invalid(
            "the request has more than one Host header",
        ));
    }
    let raw = match req.uri().authority() {
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
    let deadline = tokio::time::Instant::now() + state.hold_timeout;
    let mut changes = state.table.watch();
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
                if tokio::time::timeout_at(deadline, changes.changed())
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

/// The fallback of the router: every request that is not one of its own
/// endpoints.
pub async fn proxy(State(state): State<std::sync::Arc<RouterState>>, req: Request) -> Response {
    match forward(&state, req).await {
        Ok(response) => response,
        Err(e) => e.into_response(),
    }
}

async fn forward(state: &RouterState, req: Request) -> Result<Response, ApiError> {
    let host = host_of(&req)?;
    let target = resolve(state, &host).await?;
    if req.uri().path().starts_with("/internal/") {
        return Err(ApiError::new(ErrorCode::NotFound, "no such route"));
    }
    let (parts, body) = req.into_parts();
    let peer = parts
        .extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip());
    if let Err(wait) = limit(state, &target, &parts, peer) {
        return Ok(rate_limited(wait));
    }
    if let Target::Store(r) = &target {
        tracing::Span::current().record("store_id", tracing::field::display(r.store));
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
                Err(answer) => return Ok(*answer.0),
            }
        }
        _ => None,
    };
    let body = axum::body::to_bytes(body, state.body_limit)
        .await
        .map_err(|_| ApiError::new(ErrorCode::PayloadTooLarge, "the request body is too large"))?;
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/")
        .to_owned();
    let mut headers = forwarded_headers(&parts.headers, &host);
    // The next hop continues this request's span (or, with no spans
    // exported, the trace the client sent), never the client's span.
    trace::propagate_from(&parts.headers, &mut headers);
    // The router is the edge: the client address it saw replaces any the
    // client claimed (pods rate-limit logins by it).
    if let Some(peer) = peer {
        if let Ok(v) = HeaderValue::from_str(&peer.to_string()) {
            headers.insert(HeaderName::from_static("x-forwarded-for"), v);
        }
    }

    match target {
        Target::ControlPlane => {
            send(
                state,
                &state.control_plane_url,
                &parts.method,
                &path,
                &headers,
                body,
            )
            .await
        }
        Target::Store(first) => {
            let response = send_to_store(
                state,
                &first,
                &parts.method,
                &path,
                &mut headers,
                body.clone(),
            )
            .await?;
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
                    send_to_store(state, &again, &parts.method, &path, &mut headers, body).await
                }
                Target::ControlPlane => Ok(response),
            }
        }
    }
}

/// Counts the request against its client's budget for its class and its
/// store's budget; `429 rate_limited` (with `Retry-After`) when over.
fn limit(
    state: &RouterState,
    target: &Target,
    parts: &axum::http::request::Parts,
    peer: Option<std::net::IpAddr>,
) -> Result<(), Duration> {
    let now = tokio::time::Instant::now();
    let path = parts.uri.path();
    let platform = matches!(target, Target::ControlPlane);
    if let (Some(class), Some(peer)) = (limits::classify(&parts.method, path, platform), peer) {
        state.limiter.client(class, peer, now)?;
    }
    if let Target::Store(r) = target {
        state.limiter.store(r.store, now)?;
    }
    Ok(())
}

fn rate_limited(wait: Duration) -> Response {
    retry_after(wait, |secs| {
        ApiError::new(
            ErrorCode::RateLimited,
            format!("too many requests; retry in {secs} s"),
        )
    })
}

/// The error `make(secs)` answered with `Retry-After: secs`, `wait` rounded
/// up to whole seconds (at least 1).
fn retry_after(wait: Duration, make: impl FnOnce(u64) -> ApiError) -> Response {
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
    method: &axum::http::Method,
    path: &str,
    headers: &mut HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let url = route.pod_url.as_deref().ok_or_else(|| {
        ApiError::new(
            ErrorCode::PodUnavailable,
            "the store's pod is not known yet",
        )
    })?;
    let store = HeaderValue::from_str(&route.store.to_string()).map_err(ApiError::internal)?;
    headers.insert(HeaderName::from_static(STORE_HEADER), store);
    // Signed last, over the store, request line, request id and client
    // address as they leave: the pod believes nothing else.
    let target: Uri = path
        .parse()
        .map_err(|_| ApiError::invalid("malformed request path"))?;
    let hop = hop::sign_now(&state.hop_key, method, &target, headers);
    headers.insert(
        HeaderName::from_static(hop::HOP_HEADER),
        HeaderValue::from_str(&hop).map_err(ApiError::internal)?,
    );
    send(state, url, method, path, headers, body).await
}

/// The header names `Connection` lists: hop-by-hop as well (RFC 9110
/// 7.6.1), whatever they are called.
fn connection_named(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|name| name.trim().to_ascii_lowercase())
        .filter(|name| !name.is_empty())
        .collect()
}

/// Removes the hop-by-hop headers, fixed and `Connection`-named.
fn strip_hop_by_hop(headers: &mut HeaderMap) {
    for name in connection_named(headers) {
        headers.remove(name.as_str());
    }
    for name in HOP_BY_HOP {
        headers.remove(*name);
    }
}

fn forwarded_headers(incoming: &HeaderMap, host: &Domain) -> HeaderMap {
    let mut headers = HeaderMap::with_capacity(incoming.len() + 3);
    let named = connection_named(incoming);
    for (name, value) in incoming {
        if HOP_BY_HOP.contains(&name.as_str())
            || named.iter().any(|n| n == name.as_str())
            || name == STORE_HEADER
            || name.as_str() == hop::HOP_HEADER
            || name.as_str() == "x-forwarded-for"
            || name.as_str() == TICKET_HEADER
        {
            continue;
        }
        headers.append(name.clone(), value.clone());
    }
    if let Ok(v) = HeaderValue::from_str(host.as_str()) {
        headers.insert(HeaderName::from_static("x-forwarded-host"), v);
    }
    headers
}

async fn send(
    state: &RouterState,
    base: &str,
    method: &axum::http::Method,
    path: &str,
    headers: &HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let uri: Uri = format!("{base}{path}")
        .parse()
        .map_err(|_| ApiError::invalid("malformed request path"))?;
    let turn = state.gates.enter(base).await?;
    let write = !method.is_safe();
    if write {
        if let Err(wait) = turn.database_admits(tokio::time::Instant::now()) {
            state.database_refusals.inc();
            return Ok(database_refused(wait));
        }
    }
    let deadline = tokio::time::Instant::now() + state.upstream_timeout;
    let mut backoff = Backoff::new(Duration::from_millis(10), Duration::from_millis(200));
    let mut attempt = 1;
    loop {
        let mut upstream = hyper::Request::builder()
            .method(method.clone())
            .uri(uri.clone());
        if let Some(h) = upstream.headers_mut() {
            *h = headers.clone();
        }
        let upstream = upstream
            .body(Full::new(body.clone()))
            .map_err(ApiError::internal)?;
        let answer = tokio::time::timeout_at(deadline, state.client.request(upstream)).await;
        match answer {
            Ok(Ok(response)) => {
                turn.succeeded();
                let (mut parts, body) = response.into_parts();
                strip_hop_by_hop(&mut parts.headers);
                let body = if parts.status == StatusCode::SERVICE_UNAVAILABLE {
                    // Rare and small: read it for its error code.
                    let bytes = read_small(body).await;
                    let unavailable = error_code(&bytes) == Some("database_unavailable");
                    turn.database_answered(false, unavailable, tokio::time::Instant::now());
                    Body::from(bytes)
                } else {
                    let proved = write && parts.status.is_success();
                    turn.database_answered(proved, false, tokio::time::Instant::now());
                    Body::new(body)
                };
                return Ok(Response::from_parts(parts, body));
            }
            // Not connected: the pod never saw the request, so sending it
            // again cannot do anything twice.
            Ok(Err(e)) if e.is_connect() && attempt < state.connect_attempts => {
                tracing::info!(upstream = %base, attempt, error = %e, "connect failed; retrying");
                attempt += 1;
                tokio::time::sleep_until(
                    deadline.min(tokio::time::Instant::now() + backoff.next_delay()),
                )
                .await;
            }
            Ok(Err(e)) => {
                turn.failed();
                tracing::warn!(upstream = %base, attempt, error = %e, "upstream unreachable");
                return Err(ApiError::new(
                    ErrorCode::PodUnavailable,
                    "the store's pod is unavailable; retry shortly",
                ));
            }
            Err(_) => {
                turn.failed();
                tracing::warn!(upstream = %base, "upstream timed out");
                return Err(ApiError::new(
                    ErrorCode::UpstreamTimeout,
                    "the store's pod did not answer in time",
                ));
            }
        }
    }
}

/// A 503 body is a few hundred bytes of JSON; more than this is not ours.
const SMALL_BODY: usize = 16 * 1024;

/// The body, if it is at most [`SMALL_BODY`] and arrives whole; empty
/// otherwise (the client still gets the status and headers).
async fn read_small(body: hyper::body::Incoming) -> Bytes {
    use http_body_util::BodyExt as _;
    match http_body_util::Limited::new(body, SMALL_BODY)
        .collect()
        .await
    {
        Ok(collected) => collected.to_bytes(),
        Err(_) => Bytes::new(),
    }
}

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
fn database_refused(wait: Duration) -> Response {
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
        h.insert(STORE_HEADER, HeaderValue::from_static("forged"));
        h.insert("x-forwarded-for", HeaderValue::from_static("6.6.6.6"));
        let host = Domain::parse("shop.example").expect("domain");
        let out = forwarded_headers(&h, &host);
        assert!(out.get("x-secret-hop").is_none());
        assert!(out.get("x-other").is_none());
        assert!(out.get(header::CONNECTION).is_none());
        assert!(out.get(STORE_HEADER).is_none());
        assert!(out.get("x-forwarded-for").is_none());
        assert_eq!(out.get("x-kept").map(|v| v.as_bytes()), Some(&b"1"[..]));
        assert_eq!(
            out.get("x-forwarded-host").map(|v| v.as_bytes()),
            Some(&b"shop.example"[..])
        );
        let mut answer = h.clone();
        strip_hop_by_hop(&mut answer);
        assert!(answer.get("x-secret-hop").is_none() && answer.get("x-kept").is_some());
    }
}
