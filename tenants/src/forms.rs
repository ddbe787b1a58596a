//! HTML forms as Mercato's web pages post them (the storefront's, the
//! admin's, the platform's): checked before any handler reads them,
//! answered with `303 See Other` so a reload never posts twice; and the
//! headers every private page is sent with.

use crate::{ApiError, ErrorCode};
use axum::http::header;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// The stylesheet of the merchant's admin and the platform's own pages
/// (signup, sign-in, the operator console): one look for every page a
/// merchant or an operator works in.
pub const ADMIN_CSS: &str = include_str!("../assets/admin.css");

/// The CSRF token of a browser session whose secret is `session` (a
/// cookie no script and no other site can read), for the forms of one
/// face (`purpose`): not guessable without the cookie, and the same for
/// every page of the session.
pub fn csrf_token(purpose: &str, session: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(&Sha256::digest(format!("{purpose}|{session}").as_bytes())[..16])
}

/// Largest form body, in bytes: a cart of 100 lines' quantities fits.
const FORM_LIMIT: usize = 16 * 1024;
/// Most fields in one form.
const FORM_FIELDS: usize = 120;

/// A posted form's fields, checked: URL-encoded, at most [`FORM_LIMIT`]
/// bytes and [`FORM_FIELDS`] fields, no control characters (`400`).
pub fn form_fields(headers: &HeaderMap, body: &[u8]) -> Result<Vec<(String, String)>, ApiError> {
    form_fields_within(headers, body, FORM_LIMIT, FORM_FIELDS)
}

/// [`form_fields`] for a form larger than most (a whole table of rows):
/// at most `max_bytes` bytes and `max_fields` fields.
pub fn form_fields_within(
    headers: &HeaderMap,
    body: &[u8],
    max_bytes: usize,
    max_fields: usize,
) -> Result<Vec<(String, String)>, ApiError> {
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(';').next().is_some_and(|t| {
                t.trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            })
        });
    if !is_form {
        return Err(ApiError::new(
            ErrorCode::UnsupportedMediaType,
            "send the form as application/x-www-form-urlencoded",
        ));
    }
    if body.len() > max_bytes {
        return Err(ApiError::new(
            ErrorCode::PayloadTooLarge,
            "the form is too large",
        ));
    }
    let text = std::str::from_utf8(body).map_err(|_| ApiError::invalid("the form is not UTF-8"))?;
    let fields: Vec<(String, String)> = form_urlencoded::parse(text.as_bytes())
        .into_owned()
        .collect();
    if fields.len() > max_fields {
        return Err(ApiError::invalid("the form has too many fields"));
    }
    // The rule of a JSON body's strings: a textarea's lines pass.
    if let Some(c) = fields.iter().find_map(|(k, v)| {
        crate::text::control_in_text(k).or_else(|| crate::text::control_in_text(v))
    }) {
        return Err(ApiError::invalid(format!(
            "the form contains a control character ({})",
            crate::text::describe(c)
        )));
    }
    Ok(fields)
}

/// A form as this site's pages post it: from this site ([`same_site`]),
/// checked ([`form_fields`]).
pub fn posted_form(headers: &HeaderMap, body: &[u8]) -> Result<Vec<(String, String)>, ApiError> {
    same_site(headers)?;
    form_fields(headers, body)
}

/// `403` for a form posted from another site: its `Origin` names another
/// host than the one the shopper is on.
pub fn same_site(headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return Ok(());
    };
    let here = headers
        .get("x-forwarded-host")
        .or_else(|| headers.get(header::HOST))
        .and_then(|v| v.to_str().ok())
        .map(host_of);
    match (origin_host(origin), here) {
        (Some(o), Some(h)) if o == h => Ok(()),
        _ => Err(ApiError::new(
            ErrorCode::Forbidden,
            "this form was sent from another site",
        )),
    }
}

/// `403` unless the form was posted from a page on `domain` (its `Origin`
/// names that host): for the one form a page of another site may post
/// (the platform's pages handing a merchant over to a store's admin).
pub fn posted_from(headers: &HeaderMap, domain: &str) -> Result<(), ApiError> {
    match headers.get(header::ORIGIN).and_then(origin_host) {
        Some(o) if o == domain.to_ascii_lowercase() => Ok(()),
        _ => Err(ApiError::new(
            ErrorCode::Forbidden,
            "this form was not sent from the platform's pages",
        )),
    }
}

/// The host an `Origin` header names, lower-case, without its port.
fn origin_host(origin: &HeaderValue) -> Option<String> {
    origin
        .to_str()
        .ok()?
        .split_once("://")
        .map(|(_, rest)| host_of(rest.trim_end_matches('/')))
}

/// `authority` without its port, lower-case.
fn host_of(authority: &str) -> String {
    authority
        .rsplit_once(':')
        .filter(|(_, port)| port.bytes().all(|b| b.is_ascii_digit()))
        .map_or(authority, |(host, _)| host)
        .to_ascii_lowercase()
}

/// A private HTML page: nobody caches it, no other site frames it.
pub fn html(status: StatusCode, body: String) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "private, no-store"),
            (header::X_FRAME_OPTIONS, "DENY"),
        ],
        body,
    )
        .into_response()
}

/// A form field's value, trimmed.
pub fn field<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.trim())
}

pub fn see_other(to: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        response.headers_mut().insert(header::LOCATION, v);
    }
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// `s` percent-encoded for a query string or a form.
pub fn urlencode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// An API refusal's message as a page shows it: a sentence, capitalized
/// and ending with a full stop.
pub fn sentence(message: &str) -> String {
    let mut m = message.trim().to_owned();
    if let Some(first) = m.get_mut(0..1) {
        first.make_ascii_uppercase();
    }
    if !m.ends_with(['.', '!', '?']) {
        m.push('.');
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn a_handed_over_form_must_come_from_the_named_site() {
        let from = |origin: &'static str| headers(&[("origin", origin)]);
        assert!(posted_from(&from("http://localhost:8080"), "localhost").is_ok());
        assert!(posted_from(&from("https://Platform.example"), "platform.example").is_ok());
        assert!(posted_from(&from("http://evil.example"), "localhost").is_err());
        assert!(posted_from(&from("null"), "localhost").is_err());
        assert!(posted_from(&headers(&[]), "localhost").is_err());
    }

    #[test]
    fn a_form_from_another_site_is_refused() {
        let here = [("x-forwarded-host", "shop.localhost")];
        assert!(
            same_site(&headers(&here)).is_ok(),
            "no Origin: a plain form post"
        );
        let mut ok = here.to_vec();
        ok.push(("origin", "http://shop.localhost:8080"));
        assert!(same_site(&headers(&ok)).is_ok());
        let mut evil = here.to_vec();
        evil.push(("origin", "https://evil.example"));
        assert!(same_site(&headers(&evil)).is_err());
        let mut null = here.to_vec();
        null.push(("origin", "null"));
        assert!(
            same_site(&headers(&null)).is_err(),
            "an opaque origin is not this site"
        );
    }

    #[test]
    fn forms_are_checked() {
        let form = headers(&[(
            "content-type",
            "application/x-www-form-urlencoded; charset=utf-8",
        )]);
        let fields = form_fields(&form, b"quantity=2&option0=Red+Wine&x=%C3%A9").expect("a form");
        assert_eq!(fields[1], ("option0".to_owned(), "Red Wine".to_owned()));
        assert_eq!(fields[2].1, "é");
        assert!(form_fields(&form, b"q=%00").is_err(), "NUL");
        assert!(form_fields(&form, b"q=a%1Bb").is_err(), "escape");
        assert!(form_fields(&form, b"q=%C2%85").is_err(), "C1 next line");
        assert!(form_fields(&form, b"q%7F=a").is_err(), "DEL in a name");
        // A textarea's lines pass, as in a JSON body's strings.
        let lines = form_fields(&form, b"description=one%0D%0Atwo%09three").expect("lines");
        assert_eq!(lines[0].1, "one\r\ntwo\tthree");
        let json = headers(&[("content-type", "application/json")]);
        assert!(form_fields(&json, b"{}").is_err());
        let many = "a=1&".repeat(FORM_FIELDS + 1);
        assert!(form_fields(&form, many.as_bytes()).is_err());
    }
}
