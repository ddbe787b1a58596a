//! The merchant's pages on the platform domain: the landing page, signup,
//! and the sign-in that finds a merchant's stores by email.
//!
//! Both open the merchant's platform session (`account`: the stores'
//! names and domains) and end on the hand-over page: a form that posts the
//! merchant's new owner session to `POST /admin/handoff` on the store's own
//! domain (sent at once by the page's script, or by a click without it).
//! The store's admin takes it only from a page of the platform's domain,
//! sets its own cookie, and the merchant is in the admin. The token rides
//! in a form body, never in a URL (no log, no `Referer` carries it).

use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::header::SET_COOKIE;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use mercato_tenants::forms::{field, posted_form, see_other};
use mercato_tenants::pod_api::StaffLoginRequest;
use mercato_tenants::{ApiError, Currency, ErrorCode};
use minijinja::context;
use serde::{Deserialize, Serialize};

use super::{account, html, page, render, store_origin};
use crate::error::ControlError;
use crate::pod_client::PodCallError;
use crate::signup::{sign_up, Signup};
use crate::stores::{self, Store};
use crate::AppState;

/// Most stores one sign-in tries (an owner's stores, oldest first).
const MAX_STORES: i64 = 20;

/// The longest a sign-in waits for the pods' answers.
const SIGN_IN_WAIT: Duration = Duration::from_secs(10);

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(landing))
        .route("/signup", get(signup_page).post(signup))
        .route("/login", get(login_page).post(login))
}

/// `GET /`: what Mercato is, and the way in.
async fn landing() -> Response {
    page(
        render("landing.html", "Open commerce, sharded", context! {})
            .map(|b| html(StatusCode::OK, b)),
    )
}

/// What the signup form shows again after a refusal (never the password).
#[derive(Serialize, Default)]
struct SignupForm {
    email: String,
    store_name: String,
    handle: String,
    currency: String,
}

fn signup_form(
    state: &AppState,
    status: StatusCode,
    form: &SignupForm,
    problem: Option<String>,
) -> Result<Response, ControlError> {
    let currencies: Vec<&str> = Currency::codes().collect();
    Ok(html(
        status,
        render(
            "signup.html",
            "Create your store",
            context! {
                nav => "signup",
                form,
                problem,
                currencies,
                platform_domain => state.platform_domain.as_str(),
            },
        )?,
    ))
}

/// `GET /signup`.
async fn signup_page(State(state): State<AppState>) -> Response {
    page(signup_form(
        &state,
        StatusCode::OK,
        &SignupForm {
            currency: "USD".to_owned(),
            ..Default::default()
        },
        None,
    ))
}

/// `POST /signup` (`email`, `password`, `store_name`, `handle`,
/// `currency`): the same signup as `POST /v1/signup`; on success the
/// hand-over to the new store's admin.
async fn signup(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    page(
        async {
            let fields = posted_form(&headers, &body)?;
            let value = |name: &str| field(&fields, name).unwrap_or_default().to_owned();
            let form = SignupForm {
                email: value("email"),
                store_name: value("store_name"),
                handle: value("handle").to_ascii_lowercase(),
                currency: value("currency"),
            };
            let currency = match Currency::parse(&form.currency) {
                Ok(c) => c,
                Err(e) => {
                    return signup_form(
                        &state,
                        StatusCode::BAD_REQUEST,
                        &form,
                        Some(e.to_string()),
                    );
                }
            };
            let password = value("password");
            let result = sign_up(
                &state,
                Signup {
                    email: &form.email,
                    password: &password,
                    store_name: &form.store_name,
                    handle: Some(form.handle.as_str()).filter(|h| !h.is_empty()),
                    currency: Some(currency),
                },
            )
            .await;
            match result {
                Ok(done) => {
                    let cookie =
                        account::open(&state, &done.store.owner_email, &[done.store.id]).await?;
                    let mut r = handoff(
                        &[Entry {
                            name: done.store.name.clone(),
                            origin: store_origin(&state, &headers, &done.handle),
                            token: done.owner.session.token,
                        }],
                        true,
                    )?;
                    r.headers_mut().append(SET_COOKIE, cookie);
                    Ok(r)
                }
                Err(ControlError::Api(e)) if !e.code.status().is_server_error() => signup_form(
                    &state,
                    e.code.status(),
                    &form,
                    Some(mercato_tenants::forms::sentence(&e.message)),
                ),
                Err(e) => Err(e),
            }
        }
        .await,
    )
}

/// A store the browser is about to be signed in to.
#[derive(Serialize)]
struct Entry {
    name: String,
    origin: String,
    token: String,
}

/// The hand-over page: one form per store, each posting its session to
/// the store's admin. `new_store`: just created (the page says so).
fn handoff(stores: &[Entry], new_store: bool) -> Result<Response, ControlError> {
    let title = if new_store {
        "Your store is ready"
    } else {
        "Your stores"
    };
    Ok(html(
        StatusCode::OK,
        render(
            "handoff.html",
            title,
            context! { stores, new_store, auto => stores.len() == 1 },
        )?,
    ))
}

fn login_form(
    status: StatusCode,
    email: &str,
    next: Option<&str>,
    problem: Option<&str>,
) -> Result<Response, ControlError> {
    Ok(html(
        status,
        render(
            "login.html",
            "Sign in",
            context! { nav => "login", email, next, problem },
        )?,
    ))
}

#[derive(Deserialize)]
struct Next {
    next: Option<String>,
}

/// `GET /login` (`next`: one of the merchant's platform pages to go on
/// to, instead of the hand-over to the stores' admins).
async fn login_page(Query(q): Query<Next>) -> Response {
    let next = q.next.as_deref().and_then(account::safe_next);
    page(login_form(StatusCode::OK, "", next, None))
}

/// `POST /login` (`email`, `password`): the stores this email owns, each
/// asked (its pod checks the password under its login limits); the stores
/// that accepted are handed over. The answer is the same for an unknown
/// email and a wrong password.
async fn login(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    page(
        async {
            let fields = posted_form(&headers, &body)?;
            let email = field(&fields, "email").unwrap_or_default().to_owned();
            let password = field(&fields, "password").unwrap_or_default().to_owned();
            let next = field(&fields, "next").and_then(account::safe_next);
            if email.is_empty() || password.is_empty() || email.len() > 254 || password.len() > 1024
            {
                return login_form(
                    StatusCode::BAD_REQUEST,
                    &email,
                    next,
                    Some("Enter your email and your password."),
                );
            }
            let client = mercato_tenants::http::client_address(&headers);
            let owned = stores::owned_by(&state.db, &email, MAX_STORES).await?;
            let tries = owned.into_iter().map(|store| {
                let state = state.clone();
                let request = StaffLoginRequest {
                    email: email.clone(),
                    password: password.clone(),
                    client_address: client.clone(),
                };
                async move {
                    let outcome = try_store(&state, &store, &request).await;
                    (store, outcome)
                }
            });
            let outcomes = tokio::time::timeout(SIGN_IN_WAIT, futures::future::join_all(tries))
                .await
                .map_err(|_| {
                    ApiError::new(
                        ErrorCode::PodUnavailable,
                        "your stores did not answer in time; please try again",
                    )
                })?;
            let mut entries = Vec::new();
            let mut accepted = Vec::new();
            let mut limited = false;
            for (store, outcome) in outcomes {
                match outcome {
                    Ok(token) => {
                        accepted.push(store.id);
                        let handle = mercato_tenants::Handle::parse(&store.handle)
                            .map_err(ApiError::internal)?;
                        entries.push(Entry {
                            name: store.name,
                            origin: store_origin(&state, &headers, &handle),
                            token,
                        });
                    }
                    Err(Refusal::Limited) => limited = true,
                    Err(Refusal::Wrong) => {}
                    Err(Refusal::Down(e)) => {
                        tracing::warn!(store_id = %store.id, error = %e, "a store's pod did not take a sign-in");
                    }
                }
            }
            if !entries.is_empty() {
                let cookie = account::open(&state, &email, &accepted).await?;
                let mut r = match next {
                    Some(next) => see_other(next),
                    None => handoff(&entries, false)?,
                };
                r.headers_mut().append(SET_COOKIE, cookie);
                return Ok(r);
            }
            if limited {
                return login_form(
                    StatusCode::TOO_MANY_REQUESTS,
                    &email,
                    next,
                    Some("Too many tries. Please wait a few minutes and try again."),
                );
            }
            login_form(
                StatusCode::UNAUTHORIZED,
                &email,
                next,
                Some("That email and password do not match a store owner's account."),
            )
        }
        .await,
    )
}

/// Why a store did not take a sign-in.
enum Refusal {
    Wrong,
    Limited,
    Down(String),
}

async fn try_store(
    state: &AppState,
    store: &Store,
    request: &StaffLoginRequest,
) -> Result<String, Refusal> {
    let pod_url = stores::pod_url(&state.db, store.pod_id)
        .await
        .map_err(|e| Refusal::Down(e.to_string()))?
        .unwrap_or_default();
    match state.pods.staff_login(&pod_url, store.id, request).await {
        Ok(issued) => Ok(issued.token),
        Err(PodCallError::Refused { status: 401, .. }) => Err(Refusal::Wrong),
        Err(PodCallError::Refused { status: 429, .. }) => Err(Refusal::Limited),
        Err(e) => Err(Refusal::Down(e.to_string())),
    }
}
