//! The proxy: resolve the host, check the token, forward to the pod (or to
//! the control plane for the platform domain), retry once on `421`.

use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http_body_util::Full;
use mercato_tenants::http::bearer_claims;
use mercato_tenants::{ApiError, Domain, ErrorCode, Resolution, TenantState, STORE_HEADER};

use crate::RouterState;

pub type HttpClient = hyper_util::client::legacy::Client<
    hyper_util::client::legacy::connect::HttpConnector,
    Full<Bytes>,
>;

pub fn client(connect_timeout: Duration) -> HttpClient {
    let mut connector = hyper_util::client::legacy::connect::HttpConnector::new();
    connector.set_connect_timeout(Some(connect_timeout));
    connector.set_nodelay(true);
    hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(60))
        .pool_max_idle_per_host(512)
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

fn host_of(req: &Request) -> Result<Domain, ApiError> {
    let raw = req
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .or_else(|| req.uri().authority().map(|a| a.as_str()))
        .ok_or_else(|| ApiError::new(ErrorCode::MissingHost, "the request has no Host header"))?;
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
    loop {
        let found = state.table.read(|t| t.resolve(host));
        match found {
            None => {
                return Err(ApiError::new(
                    ErrorCode::UnknownStore,
                    format!("no store at {host}"),
                ))
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
pub async fn proxy(State(state): State<RouterState>, req: Request) -> Response {
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
    if let Target::Store(r) = &target {
        // Tokens are checked here and again by the pod.
        let claims = bearer_claims(&parts, &state.keys)?;
        if matches!(&claims, Some(c) if !c.may_act_for(r.store)) {
            return Err(ApiError::new(
                ErrorCode::Forbidden,
                "this token belongs to another store",
            ));
        }
    }
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
    // The router is the edge: the client address it saw replaces any the
    // client claimed (pods rate-limit logins by it).
    if let Some(peer) = parts
        .extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
    {
        if let Ok(v) = HeaderValue::from_str(&peer.0.ip().to_string()) {
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
                headers,
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
    send(state, url, method, path, headers.clone(), body).await
}

fn forwarded_headers(incoming: &HeaderMap, host: &Domain) -> HeaderMap {
    let mut headers = HeaderMap::with_capacity(incoming.len() + 3);
    for (name, value) in incoming {
        if HOP_BY_HOP.contains(&name.as_str())
            || name == STORE_HEADER
            || name.as_str() == "x-forwarded-for"
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
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let uri: Uri = format!("{base}{path}")
        .parse()
        .map_err(|_| ApiError::invalid("malformed request path"))?;
    let mut upstream = hyper::Request::builder().method(method.clone()).uri(uri);
    if let Some(h) = upstream.headers_mut() {
        *h = headers;
    }
    let upstream = upstream.body(Full::new(body)).map_err(ApiError::internal)?;
    let answer = tokio::time::timeout(state.upstream_timeout, state.client.request(upstream)).await;
    match answer {
        Ok(Ok(response)) => {
            let (mut parts, body) = response.into_parts();
            for name in HOP_BY_HOP {
                parts.headers.remove(*name);
            }
            Ok(Response::from_parts(parts, Body::new(body)))
        }
        Ok(Err(e)) => {
            tracing::warn!(upstream = %base, error = %e, "upstream unreachable");
            Err(ApiError::new(
                ErrorCode::PodUnavailable,
                "the store's pod is unavailable; retry shortly",
            ))
        }
        Err(_) => {
            tracing::warn!(upstream = %base, "upstream timed out");
            Err(ApiError::new(
                ErrorCode::UpstreamTimeout,
                "the store's pod did not answer in time",
            ))
        }
    }
}
