//! The admin's staff page (owner only, as `/admin/api/staff/invitations`
//! and `DELETE /admin/api/staff/{id}` are): the members, an invitation
//! form, and removal. Other staff get `403` on the page and on its forms,
//! whether or not they reach them through it.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use bytes::Bytes;
use mercato_tenants::http::ApiQuery;
use mercato_tenants::{ApiError, ErrorCode, StaffId};
use minijinja::context;

use super::pages::{error_page, html, render, sign_in_first};
use super::session::{AdminSession, MaybeAdmin};
use crate::accounts::team;
use crate::error::PodError;
use crate::state::AppState;
use crate::tenancy::TenantContext;
use mercato_tenants::forms::{field, see_other};

/// Members shown (a store's staff is small; the API pages further).
const MEMBERS: i64 = 100;

/// The session if it is the owner's; `403` otherwise.
fn owner_only(session: &AdminSession) -> Result<(), PodError> {
    if session.is_owner() {
        Ok(())
    } else {
        Err(ApiError::new(
            ErrorCode::Forbidden,
            "only the store's owner may manage its staff",
        )
        .into())
    }
}

async fn page(
    state: &AppState,
    tenant: &TenantContext,
    session: &AdminSession,
    status: StatusCode,
    notice: Option<String>,
    problem: Option<String>,
) -> Result<Response, PodError> {
    let members = team::members(&state.db, tenant.store_id, None, MEMBERS).await?;
    let rows: Vec<_> = members
        .iter()
        .map(|m| {
            context! {
                id => m.id.to_string(),
                email => m.email.clone(),
                role => m.role.as_str(),
                since => m.created_at.format("%Y-%m-%d").to_string(),
                you => m.id == session.id,
            }
        })
        .collect();
    let body = render(
        tenant,
        Some(session),
        "staff.html",
        "Staff",
        context! { nav => "staff", members => rows, notice, problem },
    )?;
    Ok(html(status, body))
}

/// `GET /admin/settings/staff`.
pub async fn show(
    State(state): State<AppState>,
    tenant: TenantContext,
    MaybeAdmin(session): MaybeAdmin,
    ApiQuery(pairs): ApiQuery<Vec<(String, String)>>,
) -> Response {
    let Some(session) = session else {
        return sign_in_first("/admin/settings/staff");
    };
    let notice = match field(&pairs, "done") {
        Some("invited") => Some("The invitation was sent.".to_owned()),
        Some("removed") => Some("The staff member was removed.".to_owned()),
        _ => None,
    };
    let result = async {
        owner_only(&session)?;
        page(&state, &tenant, &session, StatusCode::OK, notice, None).await
    }
    .await;
    result.unwrap_or_else(|e| error_page(&tenant, e))
}

/// `POST /admin/settings/staff/invite` (`email`).
pub async fn invite(
    State(state): State<AppState>,
    tenant: TenantContext,
    MaybeAdmin(session): MaybeAdmin,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(session) = session else {
        return sign_in_first("/admin/settings/staff");
    };
    let result = async {
        let fields = session.form(&headers, &body)?;
        owner_only(&session)?;
        let email = field(&fields, "email").unwrap_or_default();
        let by = session.claims.sub.clone();
        match team::invite(&state, tenant.store_id, &tenant.name, email, &by).await {
            Ok(_) => Ok(see_other("/admin/settings/staff?done=invited")),
            Err(e) => match e.client_error() {
                Some(r) => {
                    page(
                        &state,
                        &tenant,
                        &session,
                        r.code.status(),
                        None,
                        Some(r.message),
                    )
                    .await
                }
                None => Err(e),
            },
        }
    }
    .await;
    result.unwrap_or_else(|e| error_page(&tenant, e))
}

/// `POST /admin/settings/staff/{id}/remove`.
pub async fn remove(
    State(state): State<AppState>,
    tenant: TenantContext,
    MaybeAdmin(session): MaybeAdmin,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(session) = session else {
        return sign_in_first("/admin/settings/staff");
    };
    let result = async {
        session.form(&headers, &body)?;
        owner_only(&session)?;
        let id: StaffId = id
            .parse()
            .map_err(|_| PodError::from(ApiError::not_found("staff member")))?;
        match team::remove(&state, tenant.store_id, id).await {
            Ok(()) => Ok(see_other("/admin/settings/staff?done=removed")),
            Err(e) => match e.client_error() {
                Some(r) => {
                    page(
                        &state,
                        &tenant,
                        &session,
                        r.code.status(),
                        None,
                        Some(r.message),
                    )
                    .await
                }
                None => Err(e),
            },
        }
    }
    .await;
    result.unwrap_or_else(|e| error_page(&tenant, e))
}

/// `GET /admin/invitations/accept?token=`: the invitation mail's link; a
/// form for the new member's password (nothing changes until it is sent).
pub async fn accept_page(
    tenant: TenantContext,
    ApiQuery(pairs): ApiQuery<Vec<(String, String)>>,
) -> Response {
    let token = field(&pairs, "token").unwrap_or_default().to_owned();
    match render(
        &tenant,
        None,
        "accept.html",
        "Join the staff",
        context! { token },
    ) {
        Ok(body) => html(StatusCode::OK, body),
        Err(e) => error_page(&tenant, e),
    }
}

/// `POST /admin/invitations/accept` (`token`, `password`): the staff
/// account (as `POST /admin/api/staff/invitations/accept`), signed in.
pub async fn accept(
    State(state): State<AppState>,
    tenant: TenantContext,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let result = async {
        let fields = mercato_tenants::forms::posted_form(&headers, &body)?;
        let token = field(&fields, "token").unwrap_or_default().to_owned();
        let password = field(&fields, "password").unwrap_or_default();
        match team::accept(&state, tenant.store_id, &token, password).await {
            Ok(login) => {
                let mut r = see_other("/admin");
                r.headers_mut().append(
                    axum::http::header::SET_COOKIE,
                    super::session::session_cookie(&state, &tenant, &login.token, login.expires_at)?,
                );
                Ok(r)
            }
            Err(e) => match e.client_error() {
                Some(r) => {
                    let problem = if r.code == ErrorCode::InvalidToken {
                        "This invitation is unknown, used or expired. Ask the store's owner for a new one.".to_owned()
                    } else {
                        mercato_tenants::forms::sentence(&r.message)
                    };
                    let body = render(
                        &tenant,
                        None,
                        "accept.html",
                        "Join the staff",
                        context! { token, problem },
                    )?;
                    Ok(html(r.code.status(), body))
                }
                None => Err(e),
            },
        }
    }
    .await;
    result.unwrap_or_else(|e| error_page(&tenant, e))
}
