//! Staff signed in to the admin: the `mercato_admin` cookie holds the token
//! of a staff login session (the same session as `POST /admin/api/login`),
//! `HttpOnly` (no script reads it), `SameSite=Strict` (no other site's
//! link or form carries it), `Path=/admin`, `Secure` when the store is
//! served over HTTPS. Every form carries a CSRF token derived from the
//! session's token, checked on every post with the form's `Origin`.
//! Signing out, removing the member or disabling them ends the session.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use mercato_tenants::{ApiError, Claims, ErrorCode, Role, StaffId};
use subtle::ConstantTimeEq;

use crate::accounts::StaffRole;
use crate::cart::sent::cookie;
use crate::error::PodError;
use crate::state::AppState;
use crate::tenancy::TenantContext;
use mercato_tenants::forms::{field, posted_form};

/// The cookie of a staff member's admin session.
pub const COOKIE: &str = "mercato_admin";

/// A staff member signed in to the admin of the request's store.
pub struct AdminSession {
    pub id: StaffId,
    pub role: StaffRole,
    pub claims: Claims,
    /// The token every form of this session carries.
    pub csrf: String,
}

impl AdminSession {
    pub fn is_owner(&self) -> bool {
        self.role == StaffRole::Owner
    }

    /// `actor` of the audit trail, as the API writes it.
    pub fn actor(&self) -> String {
        format!("staff:{}", self.claims.sub)
    }

    /// The posted form's fields, checked: from this site, well formed
    /// ([`posted_form`]), carrying this session's CSRF token (`403`).
    pub fn form(
        &self,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<Vec<(String, String)>, ApiError> {
        let fields = posted_form(headers, body)?;
        self.check_csrf(field(&fields, "csrf").unwrap_or_default())?;
        Ok(fields)
    }

    /// `403` unless `sent` is this session's CSRF token.
    pub fn check_csrf(&self, sent: &str) -> Result<(), ApiError> {
        if bool::from(sent.as_bytes().ct_eq(self.csrf.as_bytes())) {
            Ok(())
        } else {
            Err(ApiError::new(
                ErrorCode::Forbidden,
                "this form has expired; reload the page and try again",
            ))
        }
    }
}

/// The CSRF token of the admin session whose token is `token`.
fn csrf_of(token: &str) -> String {
    mercato_tenants::forms::csrf_token("mercato-admin-csrf", token)
}

/// The staff member the admin cookie names, if its session is open.
pub(super) async fn signed_in(
    state: &AppState,
    tenant: &TenantContext,
    token: &str,
) -> Result<Option<AdminSession>, PodError> {
    let Ok(claims) = state.keys.verify(token) else {
        return Ok(None);
    };
    if claims.role != Role::Staff || claims.store_id != Some(tenant.store_id) {
        return Ok(None);
    }
    let (Ok(id), Some(sid)) = (claims.sub.parse::<StaffId>(), claims.sid) else {
        return Ok(None);
    };
    let role = crate::accounts::sessions::staff_role(&state.db, tenant.store_id, sid, id).await?;
    Ok(role.map(|role| AdminSession {
        id,
        role,
        claims,
        csrf: csrf_of(token),
    }))
}

/// A request of the admin: the staff member signed in, if any.
pub struct MaybeAdmin(pub Option<AdminSession>);

impl FromRequestParts<AppState> for MaybeAdmin {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Some(token) = cookie(&parts.headers, COOKIE) else {
            return Ok(Self(None));
        };
        let Some(tenant) = parts.extensions.get::<TenantContext>().cloned() else {
            return Err(PodError::internal("the admin outside the tenant fence").into_response());
        };
        signed_in(state, &tenant, &token)
            .await
            .map(Self)
            .map_err(|e| super::pages::error_page(&tenant, e))
    }
}

fn secure(state: &AppState, tenant: &TenantContext) -> &'static str {
    if crate::storefront::pages::store_url(state, tenant.store_id).starts_with("https://") {
        "; Secure"
    } else {
        ""
    }
}

/// The cookie that signs the browser in to the admin with `token`.
pub fn session_cookie(
    state: &AppState,
    tenant: &TenantContext,
    token: &str,
    expires_at: i64,
) -> Result<HeaderValue, PodError> {
    let max_age = (expires_at - chrono::Utc::now().timestamp()).max(0);
    HeaderValue::from_str(&format!(
        "{COOKIE}={token}; Path=/admin; Max-Age={max_age}; HttpOnly; SameSite=Strict{}",
        secure(state, tenant)
    ))
    .map_err(PodError::internal)
}

/// The cookie that signs the browser out of the admin.
pub fn signed_out_cookie(state: &AppState, tenant: &TenantContext) -> HeaderValue {
    HeaderValue::from_str(&format!(
        "{COOKIE}=; Path=/admin; Max-Age=0; HttpOnly; SameSite=Strict{}",
        secure(state, tenant)
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("mercato_admin=; Path=/admin; Max-Age=0"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_csrf_token_is_the_sessions_own() {
        assert_eq!(csrf_of("a"), csrf_of("a"));
        assert_ne!(csrf_of("a"), csrf_of("b"));
        assert_eq!(csrf_of("a").len(), 32);
    }
}
