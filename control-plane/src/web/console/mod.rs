//! The operator console, under `/console` on the platform domain: the
//! fleet's pods with their load against capacity, the stores, a store's
//! page, and moves, drains and rebalances started from the page (the plan
//! shown first) and watched live.
//!
//! Behind the operator token: the sign-in page takes it once and keeps it
//! in the `mercato_console` cookie (`HttpOnly`, `SameSite=Strict`,
//! `Path=/console`, `Secure` over HTTPS), for as long as the token lives.
//! Each request checks the token again, as the API does with a bearer
//! token. Every form carries a CSRF token derived from the cookie and is
//! posted from the platform's own pages (`Origin`).

pub mod figures;
pub mod pages;

use axum::extract::{FromRequestParts, State};
use axum::http::header::SET_COOKIE;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use bytes::Bytes;
use mercato_tenants::forms::{csrf_token, field, posted_form, see_other};
use mercato_tenants::{ApiError, Claims, Role};
use minijinja::context;

use super::{checked_form, cookie, html, page, render};
use crate::error::ControlError;
use crate::AppState;

/// The cookie of an operator's console session.
pub const COOKIE: &str = "mercato_console";

/// An operator signed in to the console.
pub struct OperatorSession {
    pub claims: Claims,
    /// The token every form of this session carries.
    pub csrf: String,
}

impl OperatorSession {
    /// The posted form's fields, checked: from this site, well formed,
    /// carrying this session's CSRF token (`403`).
    pub fn form(
        &self,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<Vec<(String, String)>, ApiError> {
        checked_form(headers, body, &self.csrf)
    }
}

/// The operator the console cookie names, if its token is an operator's
/// and has not expired.
fn signed_in(state: &AppState, token: &str) -> Option<OperatorSession> {
    let claims = state.keys.verify(token).ok()?;
    (claims.role == Role::Operator).then(|| OperatorSession {
        claims,
        csrf: csrf_token("mercato-console-csrf", token),
    })
}

/// A request of the console: the operator signed in, if any.
pub struct MaybeOperator(pub Option<OperatorSession>);

impl FromRequestParts<AppState> for MaybeOperator {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(Self(
            cookie(&parts.headers, COOKIE).and_then(|token| signed_in(state, &token)),
        ))
    }
}

fn session_cookie(state: &AppState, token: &str, expires_at: i64) -> Result<HeaderValue, ApiError> {
    let max_age = (expires_at - chrono::Utc::now().timestamp()).max(0);
    HeaderValue::from_str(&format!(
        "{COOKIE}={token}; Path=/console; Max-Age={max_age}; HttpOnly; SameSite=Strict{}",
        if state.is_https() { "; Secure" } else { "" }
    ))
    .map_err(|_| ApiError::invalid("the token is not a token"))
}

fn signed_out_cookie(state: &AppState) -> HeaderValue {
    HeaderValue::from_str(&format!(
        "{COOKIE}=; Path=/console; Max-Age=0; HttpOnly; SameSite=Strict{}",
        if state.is_https() { "; Secure" } else { "" }
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("mercato_console=; Path=/console; Max-Age=0"))
}

/// To the console's sign-in page.
pub fn sign_in_first() -> Response {
    see_other("/console/login")
}

/// The console's frame for `render`: the session's CSRF token and the
/// navigation entry `nav`.
pub fn frame(session: &OperatorSession, nav: &str) -> minijinja::Value {
    context! { console => true, signed_in => true, csrf => session.csrf.clone(), nav => nav.to_owned() }
}

/// `GET /console/login`.
async fn login_page(MaybeOperator(session): MaybeOperator) -> Response {
    if session.is_some() {
        return see_other("/console");
    }
    page(login_form(StatusCode::OK, None))
}

fn login_form(status: StatusCode, problem: Option<&str>) -> Result<Response, ControlError> {
    Ok(html(
        status,
        render(
            "console_login.html",
            "Operator sign-in",
            context! { console => true, problem },
        )?,
    ))
}

/// Longest operator token taken (a signed JWT is far shorter).
const MAX_TOKEN: usize = 4096;

/// `POST /console/login` (`token`): an operator's token, checked, kept in
/// the console's cookie.
async fn login(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    page(
        async {
            let fields = posted_form(&headers, &body)?;
            let token = field(&fields, "token").unwrap_or_default();
            let session = (token.len() <= MAX_TOKEN && !token.contains([';', ',', ' ']))
                .then(|| signed_in(&state, token))
                .flatten();
            let Some(session) = session else {
                return login_form(
                    StatusCode::UNAUTHORIZED,
                    Some("That is not a valid operator token (or it has expired)."),
                );
            };
            let mut r = see_other("/console");
            r.headers_mut().append(
                SET_COOKIE,
                session_cookie(&state, token, session.claims.exp)?,
            );
            Ok(r)
        }
        .await,
    )
}

/// `POST /console/logout`: forgets the cookie.
async fn logout(
    State(state): State<AppState>,
    MaybeOperator(session): MaybeOperator,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(session) = session else {
        return sign_in_first();
    };
    page(
        async {
            session.form(&headers, &body)?;
            let mut r = see_other("/console/login");
            r.headers_mut()
                .append(SET_COOKIE, signed_out_cookie(&state));
            Ok(r)
        }
        .await,
    )
}

/// The console's routes.
pub fn routes() -> Router<AppState> {
    pages::routes()
        .route("/console/login", get(login_page).post(login))
        .route("/console/logout", post(logout))
}
