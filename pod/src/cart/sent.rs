//! The guest cart token a request sends: the `X-Cart-Token` header, else
//! the `mercato_cart` cookie.

use axum::extract::FromRequestParts;
use axum::http::header::COOKIE;
use axum::http::request::Parts;
use axum::http::HeaderMap;
use mercato_tenants::ApiError;

use super::model::CartError;

pub const TOKEN_HEADER: &str = "x-cart-token";
pub const TOKEN_COOKIE: &str = "mercato_cart";

/// The guest cart token of a request, as sent (parsed later, so that a
/// customer's request is not refused for a stale cookie).
pub struct SentToken(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for SentToken {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(sent_token(&parts.headers)?))
    }
}

/// The `X-Cart-Token` header, else the `mercato_cart` cookie.
fn sent_token(headers: &HeaderMap) -> Result<Option<String>, CartError> {
    if let Some(value) = headers.get(TOKEN_HEADER) {
        return value
            .to_str()
            .map(|v| Some(v.trim().to_owned()))
            .map_err(|_| CartError::MalformedToken);
    }
    Ok(cookie(headers, TOKEN_COOKIE))
}

/// The value of the request's cookie `name`, if it sent one.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers.get_all(COOKIE).iter().find_map(|value| {
        value.to_str().ok()?.split(';').find_map(|pair| {
            let (n, v) = pair.trim().split_once('=')?;
            (n == name).then(|| v.trim_matches('"').to_owned())
        })
    })
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    #[test]
    fn token_comes_from_the_header_else_the_cookie() {
        let mut h = HeaderMap::new();
        assert_eq!(sent_token(&h).expect("ok"), None);
        h.insert(
            COOKIE,
            HeaderValue::from_static("a=1; mercato_cart=ct_x; b=2"),
        );
        assert_eq!(sent_token(&h).expect("ok").as_deref(), Some("ct_x"));
        h.insert(TOKEN_HEADER, HeaderValue::from_static("ct_y"));
        assert_eq!(sent_token(&h).expect("ok").as_deref(), Some("ct_y"));
        let mut h = HeaderMap::new();
        h.insert(COOKIE, HeaderValue::from_static("mercato_cartx=1"));
        assert_eq!(sent_token(&h).expect("ok"), None);
    }
}
