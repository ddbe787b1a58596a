//! Who is shopping: a customer signed in on the storefront, else a guest
//! with (or without) a cart.
//!
//! A sign-in on the storefront opens the same login session as `POST
//! /api/customers/login` and keeps its token in the `mercato_session`
//! cookie: `HttpOnly` (no script reads it), `SameSite=Lax` (another site's
//! form does not carry it), `Secure` when the store is served over HTTPS.
//! The cookie is honoured by the storefront's pages only, never by the
//! JSON API (which takes bearer tokens, so a cookie cannot make a request
//! to it on the shopper's behalf). Signing out, a password reset or the
//! token's expiry ends it: the shopper is a guest again.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::HeaderValue;
use axum::response::Response;
use mercato_tenants::{Claims, CustomerId, Role};

use super::pages::{error_page, store_url};
use crate::accounts::CustomerLogin;
use crate::cart::sent::{cookie, TOKEN_COOKIE};
use crate::cart::{CartRef, CartToken};
use crate::error::PodError;
use crate::state::AppState;
use crate::tenancy::TenantContext;

/// The cookie that carries a signed-in customer's session token.
pub const SESSION_COOKIE: &str = "mercato_session";

/// A customer signed in on the storefront.
pub struct SignedIn {
    pub id: CustomerId,
    pub claims: Claims,
}

/// The shopper of a storefront request.
pub struct Shopper {
    pub customer: Option<SignedIn>,
    /// The guest cart cookie, as sent.
    guest: Option<String>,
}

impl Shopper {
    /// The cart the shopper's pages show and change: the customer's when
    /// signed in, else the guest cart the cookie names (if well formed).
    pub fn cart(&self) -> Option<CartRef> {
        match &self.customer {
            Some(c) => Some(CartRef::Customer(c.id)),
            None => self
                .guest
                .as_deref()
                .and_then(|raw| CartToken::parse(raw).ok())
                .map(CartRef::Guest),
        }
    }

    /// The guest cart cookie, as sent (merged into the customer's cart at
    /// sign-in).
    pub fn guest_token(&self) -> Option<String> {
        self.guest.clone()
    }

    pub fn customer_id(&self) -> Option<CustomerId> {
        self.customer.as_ref().map(|c| c.id)
    }
}

/// The customer whose session `token` names, if it is a valid customer
/// token of `tenant`'s store whose session is still open.
async fn signed_in(
    state: &AppState,
    tenant: &TenantContext,
    token: &str,
) -> Result<Option<SignedIn>, PodError> {
    let Ok(claims) = state.keys.verify(token) else {
        return Ok(None);
    };
    if claims.role != Role::Customer || claims.store_id != Some(tenant.store_id) {
        return Ok(None);
    }
    let (Ok(id), Some(sid)) = (claims.sub.parse::<CustomerId>(), claims.sid) else {
        return Ok(None);
    };
    let open =
        crate::accounts::sessions::is_customer_session_open(&state.db, tenant.store_id, sid, id)
            .await?;
    Ok(open.then_some(SignedIn { id, claims }))
}

impl FromRequestParts<AppState> for Shopper {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let guest = cookie(&parts.headers, TOKEN_COOKIE);
        let Some(token) = cookie(&parts.headers, SESSION_COOKIE) else {
            return Ok(Self {
                customer: None,
                guest,
            });
        };
        let Some(tenant) = parts.extensions.get::<TenantContext>().cloned() else {
            return Err(axum::response::IntoResponse::into_response(
                PodError::internal("the storefront's shopper outside the tenant fence"),
            ));
        };
        match signed_in(state, &tenant, &token).await {
            Ok(customer) => Ok(Self { customer, guest }),
            Err(e) => Err(error_page(state, &tenant, e)),
        }
    }
}

/// Whether the store is served over HTTPS (its cookies are then `Secure`).
fn secure(state: &AppState, tenant: &TenantContext) -> &'static str {
    if store_url(state, tenant.store_id).starts_with("https://") {
        "; Secure"
    } else {
        ""
    }
}

/// The cookie that signs the browser in with `token`, for as long as the
/// token lives.
pub fn session_cookie(
    state: &AppState,
    tenant: &TenantContext,
    login: &CustomerLogin,
) -> Result<HeaderValue, PodError> {
    let max_age = (login.expires_at - chrono::Utc::now().timestamp()).max(0);
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Lax{}",
        login.token,
        secure(state, tenant)
    ))
    .map_err(PodError::internal)
}

/// The cookie that signs the browser out.
pub fn signed_out_cookie(state: &AppState, tenant: &TenantContext) -> HeaderValue {
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax{}",
        secure(state, tenant)
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("mercato_session=; Path=/; Max-Age=0"))
}
