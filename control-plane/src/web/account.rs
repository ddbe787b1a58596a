//! The merchant's own pages on the platform domain: the stores they signed
//! in to, and for each its name and its custom domains (what the store's
//! admin cannot change: the control plane keeps them, and a pod never
//! calls the control plane).
//!
//! **The platform session.** The platform's sign-in (and a signup) opens
//! one: a random token in the `mercato_platform` cookie (`HttpOnly`,
//! `SameSite=Lax`, `Path=/`, `Secure` over HTTPS), its SHA-256 in
//! `merchant_sessions` with the email and the stores whose pods accepted
//! the password, for [`LIFETIME_HOURS`]. Each request reads the row again
//! (signing out deletes it) and checks that the email still owns the store
//! it names; any other store is `404`, as if it did not exist. Every form
//! carries the session's CSRF token and is posted from the platform's own
//! pages (`Origin`). The changes go through `stores::details`, the same
//! functions as the operator API.

use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::header::SET_COOKIE;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use bytes::Bytes;
use mercato_tenants::forms::{csrf_token, field, see_other};
use mercato_tenants::{ApiError, Handle, StoreId, TenantState};
use minijinja::context;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::{checked_form, cookie, html, page, render, store_origin};
use crate::error::ControlError;
use crate::stores::details::{self, MAX_CUSTOM_DOMAINS};
use crate::stores::{self, Store};
use crate::AppState;

/// The cookie of a merchant's platform session.
pub const COOKIE: &str = "mercato_platform";

/// How long a platform session lasts.
pub const LIFETIME_HOURS: i64 = 12;

/// A merchant signed in on the platform.
pub struct MerchantSession {
    token_hash: Vec<u8>,
    pub email: String,
    stores: Vec<StoreId>,
    /// The token every form of this session carries.
    pub csrf: String,
}

impl MerchantSession {
    /// The posted form's fields, checked (`403`: another site, or not this
    /// session's CSRF token).
    fn form(&self, headers: &HeaderMap, body: &[u8]) -> Result<Vec<(String, String)>, ApiError> {
        checked_form(headers, body, &self.csrf)
    }

    /// The store `raw` names, if this session may manage it: one it signed
    /// in to, still owned by this email, not being created. `404`
    /// otherwise, the same for a store that does not exist.
    async fn store(&self, state: &AppState, raw: &str) -> Result<Store, ControlError> {
        let not_found = || ControlError::from(ApiError::not_found("store"));
        let id: StoreId = raw.parse().map_err(|_| not_found())?;
        if !self.stores.contains(&id) {
            return Err(not_found());
        }
        let store = stores::get(&state.db, id).await?.ok_or_else(not_found)?;
        if !store.owner_email.eq_ignore_ascii_case(&self.email)
            || store.state == TenantState::Provisioning
        {
            return Err(not_found());
        }
        Ok(store)
    }
}

fn hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// The session a cookie's token names, if it has not expired.
async fn session(state: &AppState, token: &str) -> Result<Option<MerchantSession>, sqlx::Error> {
    if token.len() != 64 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(None);
    }
    let token_hash = hash(token);
    let row: Option<(String, Vec<Uuid>)> = sqlx::query_as(
        "SELECT email, store_ids FROM merchant_sessions WHERE token_hash = $1 AND expires_at > now()",
    )
    .bind(&token_hash)
    .fetch_optional(&state.db)
    .await?;
    Ok(row.map(|(email, ids)| MerchantSession {
        token_hash,
        email,
        stores: ids.into_iter().map(StoreId::from_uuid).collect(),
        csrf: csrf_token("mercato-platform-csrf", token),
    }))
}

/// A request of the merchant's pages: the merchant signed in, if any.
pub struct MaybeMerchant(pub Option<MerchantSession>);

impl FromRequestParts<AppState> for MaybeMerchant {
    type Rejection = ControlError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        match cookie(&parts.headers, COOKIE) {
            Some(token) => Ok(Self(session(state, &token).await?)),
            None => Ok(Self(None)),
        }
    }
}

/// Opens a platform session for `email` over `stores` (each checked by
/// its pod already): the `Set-Cookie` value. Expired sessions go first.
pub async fn open(
    state: &AppState,
    email: &str,
    stores: &[StoreId],
) -> Result<HeaderValue, ControlError> {
    sqlx::query("DELETE FROM merchant_sessions WHERE expires_at < now()")
        .execute(&state.db)
        .await?;
    let token = format!("{}{}", Uuid::new_v4().simple(), Uuid::new_v4().simple());
    let ids: Vec<Uuid> = stores.iter().map(|s| s.as_uuid()).collect();
    sqlx::query(
        "INSERT INTO merchant_sessions (token_hash, email, store_ids, expires_at)
         VALUES ($1, $2, $3, now() + make_interval(hours => $4))",
    )
    .bind(hash(&token))
    .bind(email)
    .bind(&ids)
    .bind(LIFETIME_HOURS as i32)
    .execute(&state.db)
    .await?;
    session_cookie(state, &token, LIFETIME_HOURS * 3600)
}

fn session_cookie(
    state: &AppState,
    token: &str,
    max_age: i64,
) -> Result<HeaderValue, ControlError> {
    HeaderValue::from_str(&format!(
        "{COOKIE}={token}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Lax{}",
        if state.is_https() { "; Secure" } else { "" }
    ))
    .map_err(|e| ApiError::internal(e).into())
}

/// A page of a signed-in merchant: the frame's navigation and token.
fn frame(session: &MerchantSession, nav: &str) -> minijinja::Value {
    context! { merchant => true, csrf => session.csrf.clone(), nav => nav.to_owned() }
}

fn sign_in_first(next: &str) -> Response {
    see_other(&format!("/login?next={next}"))
}

/// A path the sign-in may go on to: one of these pages, nothing else
/// (never another site).
pub fn safe_next(next: &str) -> Option<&str> {
    let ok = (next == "/stores" || next.starts_with("/stores/"))
        && next.len() <= 100
        && next[1..]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'/');
    ok.then_some(next)
}

/// What the stores page shows of a store.
#[derive(Serialize)]
struct StoreCard {
    id: String,
    name: String,
    origin: String,
    customs: Vec<String>,
}

fn origin_of(state: &AppState, headers: &HeaderMap, store: &Store) -> Result<String, ControlError> {
    let handle = Handle::parse(&store.handle).map_err(ApiError::internal)?;
    Ok(store_origin(state, headers, &handle))
}

/// `GET /stores`: the stores of this session.
async fn list(
    State(state): State<AppState>,
    MaybeMerchant(session): MaybeMerchant,
    headers: HeaderMap,
) -> Response {
    let Some(session) = session else {
        return sign_in_first("/stores");
    };
    page(
        async {
            let mut cards = Vec::new();
            for id in &session.stores {
                let Ok(store) = session.store(&state, &id.to_string()).await else {
                    continue;
                };
                cards.push(StoreCard {
                    id: store.id.to_string(),
                    origin: origin_of(&state, &headers, &store)?,
                    customs: custom_domains(&store),
                    name: store.name,
                });
            }
            Ok(html(
                StatusCode::OK,
                render(
                    "stores.html",
                    "Your stores",
                    context! { email => session.email.clone(), stores => cards, ..frame(&session, "stores") },
                )?,
            ))
        }
        .await,
    )
}

fn custom_domains(store: &Store) -> Vec<String> {
    store
        .domains
        .iter()
        .filter(|d| d.kind == "custom")
        .map(|d| d.domain.clone())
        .collect()
}

/// What the settings page shows again after a refusal.
#[derive(Default)]
struct Typed {
    name: Option<String>,
    domain: String,
    problem: Option<String>,
    done: Option<&'static str>,
}

fn settings_page(
    state: &AppState,
    headers: &HeaderMap,
    session: &MerchantSession,
    store: &Store,
    status: StatusCode,
    typed: Typed,
) -> Result<Response, ControlError> {
    let handle = Handle::parse(&store.handle).map_err(ApiError::internal)?;
    Ok(html(
        status,
        render(
            "store_settings.html",
            &store.name,
            context! {
                store,
                origin => store_origin(state, headers, &handle),
                platform_host => state.platform_domain.store_subdomain(&handle),
                name => typed.name.unwrap_or_else(|| store.name.clone()),
                domain => typed.domain,
                problem => typed.problem,
                done => typed.done,
                customs => custom_domains(store).len(),
                max_customs => MAX_CUSTOM_DOMAINS,
                ..frame(session, "stores")
            },
        )?,
    ))
}

#[derive(Deserialize)]
struct Done {
    done: Option<String>,
}

/// `GET /stores/{id}`: the store's name and domains.
async fn show(
    State(state): State<AppState>,
    MaybeMerchant(session): MaybeMerchant,
    headers: HeaderMap,
    Path(raw): Path<String>,
    Query(q): Query<Done>,
) -> Response {
    let Some(session) = session else {
        return sign_in_first("/stores");
    };
    page(
        async {
            let store = session.store(&state, &raw).await?;
            let done = match q.done.as_deref() {
                Some("renamed") => Some("The name is saved. The storefront shows it now."),
                Some("added") => {
                    Some("The domain is added. Point its DNS at the platform, as below.")
                }
                Some("removed") => Some("The domain is removed."),
                _ => None,
            };
            settings_page(
                &state,
                &headers,
                &session,
                &store,
                StatusCode::OK,
                Typed {
                    done,
                    ..Typed::default()
                },
            )
        }
        .await,
    )
}

/// The change a settings form asks for.
enum Change {
    Rename,
    AddDomain,
    RemoveDomain,
}

/// `POST /stores/{id}/name`, `/stores/{id}/domains` and
/// `/stores/{id}/domains/remove`: the change through `stores::details`,
/// then back to the page; a refusal shows the page again with what was
/// typed and why.
async fn change(
    state: AppState,
    session: Option<MerchantSession>,
    headers: HeaderMap,
    raw: String,
    body: Bytes,
    change: Change,
) -> Response {
    let Some(session) = session else {
        return sign_in_first("/stores");
    };
    page(
        async {
            let store = session.store(&state, &raw).await?;
            let fields = session.form(&headers, &body)?;
            let value = |name: &str| field(&fields, name).unwrap_or_default().to_owned();
            let (result, typed, done) = match change {
                Change::Rename => {
                    let name = value("name");
                    let r = details::rename(&state, store.id, &name).await;
                    (
                        r,
                        Typed {
                            name: Some(name),
                            ..Typed::default()
                        },
                        "renamed",
                    )
                }
                Change::AddDomain => {
                    let domain = value("domain");
                    let r = details::add_domain(&state, store.id, &domain).await;
                    (
                        r,
                        Typed {
                            domain,
                            ..Typed::default()
                        },
                        "added",
                    )
                }
                Change::RemoveDomain => {
                    let r = details::remove_domain(&state, store.id, &value("domain")).await;
                    (r, Typed::default(), "removed")
                }
            };
            match result {
                Ok(_) => Ok(see_other(&format!("/stores/{}?done={done}", store.id))),
                Err(e) => {
                    let e = e.into_api();
                    let status = e.code.status();
                    if status.is_server_error() && status != StatusCode::SERVICE_UNAVAILABLE {
                        return Err(e.into());
                    }
                    // The page as it is now (a rename refused by a pod is
                    // saved here already).
                    let store = session.store(&state, &raw).await?;
                    settings_page(
                        &state,
                        &headers,
                        &session,
                        &store,
                        status,
                        Typed {
                            problem: Some(mercato_tenants::forms::sentence(&e.message)),
                            ..typed
                        },
                    )
                }
            }
        }
        .await,
    )
}

async fn rename(
    State(state): State<AppState>,
    MaybeMerchant(session): MaybeMerchant,
    headers: HeaderMap,
    Path(raw): Path<String>,
    body: Bytes,
) -> Response {
    change(state, session, headers, raw, body, Change::Rename).await
}

async fn add_domain(
    State(state): State<AppState>,
    MaybeMerchant(session): MaybeMerchant,
    headers: HeaderMap,
    Path(raw): Path<String>,
    body: Bytes,
) -> Response {
    change(state, session, headers, raw, body, Change::AddDomain).await
}

async fn remove_domain(
    State(state): State<AppState>,
    MaybeMerchant(session): MaybeMerchant,
    headers: HeaderMap,
    Path(raw): Path<String>,
    body: Bytes,
) -> Response {
    change(state, session, headers, raw, body, Change::RemoveDomain).await
}

/// `POST /logout`: ends the session (its row and the cookie).
async fn logout(
    State(state): State<AppState>,
    MaybeMerchant(session): MaybeMerchant,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(session) = session else {
        return see_other("/");
    };
    page(
        async {
            session.form(&headers, &body)?;
            sqlx::query("DELETE FROM merchant_sessions WHERE token_hash = $1")
                .bind(&session.token_hash)
                .execute(&state.db)
                .await?;
            let mut r = see_other("/");
            r.headers_mut()
                .append(SET_COOKIE, session_cookie(&state, "", 0)?);
            Ok(r)
        }
        .await,
    )
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/stores", get(list))
        .route("/stores/{id}", get(show))
        .route("/stores/{id}/name", post(rename))
        .route("/stores/{id}/domains", post(add_domain))
        .route("/stores/{id}/domains/remove", post(remove_domain))
        .route("/logout", post(logout))
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn the_sign_in_goes_on_only_to_the_stores_pages() {
        assert_eq!(safe_next("/stores"), Some("/stores"));
        let id = "/stores/0193c1f2-7c9e-7d35-a3c4-6f0e0b1d2e3f";
        assert_eq!(safe_next(id), Some(id));
        assert_eq!(safe_next("//evil.example/stores"), None);
        assert_eq!(safe_next("https://evil.example/stores"), None);
        assert_eq!(safe_next("/stores/../console"), None);
        assert_eq!(safe_next("/storesx"), None);
        assert_eq!(safe_next("/console"), None);
        assert_eq!(safe_next(""), None);
    }
}
