//! The router → pod hop, signed. A pod serves a store's request only when
//! it carries `x-mercato-hop: t=<unix seconds>,v1=<hex>`: an HMAC-SHA256,
//! under a key the pods share with the routers only (not the token signing
//! secret), of the store id, method, path and query, request id and client
//! address the router forwards. Whoever reaches a pod's port directly
//! cannot pick a store (`x-mercato-store-id`) or a client address
//! (`x-forwarded-for`, which the login limits count by); a captured hop is
//! good for [`TOLERANCE_SECS`] and only for that exact request line.

use axum::http::{HeaderMap, HeaderValue, Method, Uri};

use crate::signature::{self, SignatureError};
use crate::{StoreId, STORE_HEADER};

pub const HOP_HEADER: &str = "x-mercato-hop";
pub const CLIENT_HEADER: &str = "x-forwarded-for";
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// How far a hop's timestamp may be from the pod's clock.
pub const TOLERANCE_SECS: i64 = 30;

/// The signed text: one field per line, in a fixed order.
fn canonical(method: &Method, uri: &Uri, headers: &HeaderMap) -> Vec<u8> {
    let header = |name: &str| headers.get(name).map(|v| v.as_bytes()).unwrap_or_default();
    let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let mut text = Vec::with_capacity(160);
    for field in [
        header(STORE_HEADER),
        method.as_str().as_bytes(),
        path.as_bytes(),
        header(REQUEST_ID_HEADER),
        header(CLIENT_HEADER),
    ] {
        text.extend_from_slice(field);
        text.push(b'\n');
    }
    text
}

/// The `x-mercato-hop` value for a request about to be forwarded with
/// `headers` (the store, request id and client address already set).
pub fn sign(key: &[u8], now: i64, method: &Method, uri: &Uri, headers: &HeaderMap) -> String {
    signature::sign(key, now, &canonical(method, uri, headers))
}

/// [`sign`] at the current time.
pub fn sign_now(key: &[u8], method: &Method, uri: &Uri, headers: &HeaderMap) -> String {
    sign(key, chrono::Utc::now().timestamp(), method, uri, headers)
}

/// Checks a received request's hop.
pub fn verify(
    key: &[u8],
    now: i64,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
) -> Result<(), SignatureError> {
    let hop = headers
        .get(HOP_HEADER)
        .and_then(|v| v.to_str().ok())
        .ok_or(SignatureError::Malformed)?;
    signature::verify(
        key,
        hop,
        &canonical(method, uri, headers),
        now,
        TOLERANCE_SECS,
    )
}

/// The headers of a request sent straight to a pod by a holder of the hop
/// key (the benchmarks, the tests): the store, a fresh request id and the
/// hop, signed now. No client address.
pub fn direct(key: &[u8], method: &Method, path_and_query: &str, store: StoreId) -> HeaderMap {
    let mut headers = HeaderMap::new();
    let value = |s: &str| HeaderValue::from_str(s).unwrap_or(HeaderValue::from_static(""));
    headers.insert(STORE_HEADER, value(&store.to_string()));
    headers.insert(REQUEST_ID_HEADER, value(&uuid::Uuid::now_v7().to_string()));
    let uri: Uri = path_and_query
        .parse()
        .unwrap_or_else(|_| Uri::from_static("/"));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let hop = sign(key, now, method, &uri, &headers);
    headers.insert(HOP_HEADER, value(&hop));
    headers
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> (Method, Uri, HeaderMap) {
        let mut h = HeaderMap::new();
        h.insert(
            STORE_HEADER,
            HeaderValue::from_static("0190f0aa-0000-7000-8000-000000000001"),
        );
        h.insert(REQUEST_ID_HEADER, HeaderValue::from_static("req-1"));
        h.insert(CLIENT_HEADER, HeaderValue::from_static("203.0.113.9"));
        (
            Method::POST,
            "/api/customers/login?x=1".parse().expect("uri"),
            h,
        )
    }

    #[test]
    fn a_signed_hop_verifies_and_any_changed_field_does_not() {
        let key = b"hop-key";
        let (method, uri, mut headers) = request();
        let hop = sign(key, 1_000, &method, &uri, &headers);
        headers.insert(HOP_HEADER, HeaderValue::from_str(&hop).expect("header"));
        assert_eq!(verify(key, 1_010, &method, &uri, &headers), Ok(()));
        assert_eq!(
            verify(b"other-key", 1_010, &method, &uri, &headers),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(key, 1_000 + TOLERANCE_SECS + 1, &method, &uri, &headers),
            Err(SignatureError::Expired)
        );
        assert_eq!(
            verify(key, 1_010, &Method::DELETE, &uri, &headers),
            Err(SignatureError::Mismatch)
        );
        let other_path: Uri = "/api/customers/login?x=2".parse().expect("uri");
        assert_eq!(
            verify(key, 1_010, &method, &other_path, &headers),
            Err(SignatureError::Mismatch)
        );
        for (name, value) in [
            (STORE_HEADER, "0190f0aa-0000-7000-8000-000000000002"),
            (CLIENT_HEADER, "198.51.100.1"),
            (REQUEST_ID_HEADER, "req-2"),
        ] {
            let mut forged = headers.clone();
            forged.insert(name, HeaderValue::from_static(value));
            assert_eq!(
                verify(key, 1_010, &method, &uri, &forged),
                Err(SignatureError::Mismatch),
                "{name}"
            );
        }
        let direct = direct(key, &Method::GET, "/api/products?limit=1", StoreId::new());
        let listed: Uri = "/api/products?limit=1".parse().expect("uri");
        assert_eq!(
            verify(
                key,
                chrono::Utc::now().timestamp(),
                &Method::GET,
                &listed,
                &direct
            ),
            Ok(())
        );
        headers.remove(HOP_HEADER);
        assert_eq!(
            verify(key, 1_010, &method, &uri, &headers),
            Err(SignatureError::Malformed)
        );
    }
}
