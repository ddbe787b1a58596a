//! A staff member's forgotten password: `/admin/reset` asks for the email
//! and answers the same whether or not it is a staff member's (as `POST
//! /admin/api/password-reset`); the mail's link opens
//! `/admin/reset-password?token=`, which sets the new password once (as
//! `POST /admin/api/password-reset/confirm`: every session of the member
//! ends) and goes on to the sign-in page. No session is needed, so no
//! CSRF token: the forms are checked as the sign-in's are (same site,
//! well formed), and what they change is proven by the mailed token.

use axum::extract::State;
use axum::http::header::SET_COOKIE;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use bytes::Bytes;
use mercato_tenants::forms::{field, html, posted_form, see_other};
use mercato_tenants::http::ApiQuery;
use mercato_tenants::ErrorCode;
use minijinja::context;

use super::pages::{error_page, render};
use super::session::signed_out_cookie;
use crate::accounts::{parse_email, parse_password, passwords};
use crate::error::PodError;
use crate::state::AppState;
use crate::tenancy::TenantContext;

/// Where a reset ends: the sign-in page, which says the password changed.
const DONE: &str = "/admin/login?reset=done";

/// `GET /admin/reset`: asks for the email to send a reset link to.
pub async fn request_page(tenant: TenantContext) -> Response {
    match render(
        &tenant,
        None,
        "reset.html",
        "Reset your password",
        context! {},
    ) {
        Ok(body) => html(StatusCode::OK, body),
        Err(e) => error_page(&tenant, e),
    }
}

/// `POST /admin/reset` (`email`): `202` and the same page whether or not
/// the email is a staff member's of this store; a malformed email is
/// refused on the form.
pub async fn request(
    State(state): State<AppState>,
    tenant: TenantContext,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let result = async {
        let fields = posted_form(&headers, &body)?;
        let email = field(&fields, "email").unwrap_or_default().to_owned();
        let done = match parse_email(&email) {
            Ok(parsed) => passwords::request_staff(&state, tenant.store_id, &parsed).await,
            Err(e) => Err(e.into()),
        };
        let (status, ctx) = match done {
            Ok(()) => (StatusCode::ACCEPTED, context! { sent => true }),
            Err(e) => {
                let Some(refused) = e.client_error() else {
                    return Err(e);
                };
                let problem = mercato_tenants::forms::sentence(&refused.message);
                (refused.code.status(), context! { email, problem })
            }
        };
        let title = if status == StatusCode::ACCEPTED {
            "Check your email"
        } else {
            "Reset your password"
        };
        Ok::<_, PodError>(html(
            status,
            render(&tenant, None, "reset.html", title, ctx)?,
        ))
    }
    .await;
    result.unwrap_or_else(|e| error_page(&tenant, e))
}

/// `GET /admin/reset-password?token=`: the reset mail's link; a form for
/// the new password (nothing changes until it is sent).
pub async fn password_page(
    tenant: TenantContext,
    ApiQuery(pairs): ApiQuery<Vec<(String, String)>>,
) -> Response {
    let token = field(&pairs, "token").unwrap_or_default().to_owned();
    match render(
        &tenant,
        None,
        "reset_password.html",
        "Choose a new password",
        context! { token },
    ) {
        Ok(body) => html(StatusCode::OK, body),
        Err(e) => error_page(&tenant, e),
    }
}

/// `POST /admin/reset-password` (`token`, `password`): sets the new
/// password, signs the member out everywhere (this browser's admin cookie
/// too), then to the sign-in page.
pub async fn reset_password(
    State(state): State<AppState>,
    tenant: TenantContext,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let result = async {
        let fields = posted_form(&headers, &body)?;
        let token = field(&fields, "token").unwrap_or_default().to_owned();
        let done = match parse_password(field(&fields, "password").unwrap_or_default()) {
            Ok(password) => passwords::reset_staff(&state, tenant.store_id, &token, password).await,
            Err(e) => Err(e.into()),
        };
        let e = match done {
            Ok(()) => {
                let mut r = see_other(DONE);
                r.headers_mut()
                    .append(SET_COOKIE, signed_out_cookie(&state, &tenant));
                return Ok(r);
            }
            Err(e) => e,
        };
        let Some(refused) = e.client_error() else {
            return Err(e);
        };
        let problem = if refused.code == ErrorCode::InvalidToken {
            "This link has expired or was already used. Ask for a new one.".to_owned()
        } else {
            mercato_tenants::forms::sentence(&refused.message)
        };
        let expired = refused.code == ErrorCode::InvalidToken;
        Ok::<_, PodError>(html(
            refused.code.status(),
            render(
                &tenant,
                None,
                "reset_password.html",
                "Choose a new password",
                context! { token, problem, expired },
            )?,
        ))
    }
    .await;
    result.unwrap_or_else(|e| error_page(&tenant, e))
}
