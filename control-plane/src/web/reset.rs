//! The platform's "forgot your password" page, beside its sign-in: the
//! merchant gives an email; each active store it owns (oldest first, as
//! the sign-in finds them) is asked, through its pod's internal API
//! (`POST /internal/stores/{id}/staff-password-reset`), to mail its staff
//! member of that email a link to choose a new password on the store's own
//! admin (`/admin/reset-password`). The password lives in each store's
//! pod, so each store's is reset on its own.
//!
//! The answer is the same page whatever the email (no store, a store
//! whose pod is down, stores found): the pods are asked after it is
//! given, so neither its words nor its time tell who owns a store.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use mercato_tenants::forms::{field, posted_form};
use mercato_tenants::Email;
use minijinja::context;

use super::{html, page, render};
use crate::error::ControlError;
use crate::stores::{self, Store};
use crate::AppState;

/// Most stores one request asks (as the sign-in tries).
const MAX_STORES: i64 = 20;

pub fn routes() -> Router<AppState> {
    Router::new().route("/reset", get(reset_page).post(reset))
}

fn reset_form(
    status: StatusCode,
    email: &str,
    sent: bool,
    problem: Option<&str>,
) -> Result<Response, ControlError> {
    let title = if sent {
        "Check your email"
    } else {
        "Reset your password"
    };
    Ok(html(
        status,
        render(
            "reset.html",
            title,
            context! { nav => "login", email, sent, problem },
        )?,
    ))
}

/// `GET /reset`.
async fn reset_page() -> Response {
    page(reset_form(StatusCode::OK, "", false, None))
}

/// `POST /reset` (`email`): every active store the email owns is asked to
/// mail a reset link; `202` and the same page whether or not there is one.
async fn reset(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    page(
        async {
            let fields = posted_form(&headers, &body)?;
            let typed = field(&fields, "email").unwrap_or_default().to_owned();
            let email = match Email::parse(&typed) {
                Ok(email) => email,
                Err(problem) => {
                    return reset_form(
                        StatusCode::BAD_REQUEST,
                        &typed,
                        false,
                        Some(&mercato_tenants::forms::sentence(problem)),
                    );
                }
            };
            let owned = stores::owned_by(&state.db, email.as_str(), MAX_STORES).await?;
            if !owned.is_empty() {
                tokio::spawn(ask_stores(state.clone(), owned, email.as_str().to_owned()));
            }
            reset_form(StatusCode::ACCEPTED, &typed, true, None)
        }
        .await,
    )
}

/// Asks each store's pod to mail the reset link; a pod that does not
/// take it is logged (the merchant was answered already).
async fn ask_stores(state: AppState, owned: Vec<Store>, email: String) {
    let asks = owned.into_iter().map(|store| {
        let (state, email) = (&state, &email);
        async move {
            let asked = match stores::pod_url(&state.db, store.pod_id).await {
                Ok(Some(pod_url)) => state
                    .pods
                    .staff_password_reset(&pod_url, store.id, email)
                    .await
                    .map_err(|e| e.to_string()),
                Ok(None) => Err("the store's pod has no address".to_owned()),
                Err(e) => Err(e.to_string()),
            };
            if let Err(error) = asked {
                tracing::warn!(store_id = %store.id, %error, "a store's pod did not take a password reset");
            }
        }
    });
    futures::future::join_all(asks).await;
}
