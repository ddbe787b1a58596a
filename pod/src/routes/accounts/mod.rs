//! Accounts endpoints: staff logins and password resets, members and
//! invitations and the API keys under `/admin/api` ([`staff`],
//! [`api_keys`]); customers, their
//! profile, password resets and addresses under `/api/customers`
//! ([`customers`], [`addresses`]). Who is calling is the extractors'
//! business (`accounts::auth`); the accounts' SQL and rules are in
//! `accounts/`.

mod addresses;
mod api_keys;
mod customers;
mod directory;
mod staff;

use utoipa::OpenApi as _;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::accounts::IssuedToken;
use crate::state::AppState;

/// The accounts API (staff, API keys, customers and their addresses), each
/// route registered once with its OpenAPI description.
pub fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(Extra::openapi())
        .routes(routes!(staff::login))
        .routes(routes!(staff::logout))
        .routes(routes!(staff::request_password_reset))
        .routes(routes!(staff::confirm_password_reset))
        .routes(routes!(staff::list))
        .routes(routes!(directory::list))
        .routes(routes!(directory::show))
        .routes(routes!(staff::remove))
        .routes(routes!(staff::invite))
        .routes(routes!(staff::accept))
        .routes(routes!(api_keys::list, api_keys::create))
        .routes(routes!(api_keys::revoke))
        .routes(routes!(customers::register))
        .routes(routes!(customers::confirm))
        .routes(routes!(customers::login))
        .routes(routes!(customers::logout))
        .routes(routes!(customers::me, customers::update_me))
        .routes(routes!(customers::request_password_reset))
        .routes(routes!(customers::confirm_password_reset))
        .routes(routes!(addresses::list, addresses::create))
        .routes(routes!(addresses::update, addresses::remove))
}

/// Schemas the document lists though no route's signature reaches them (the
/// token that logins carry); `routes!` collects the rest from the handlers.
#[derive(utoipa::OpenApi)]
#[openapi(components(schemas(IssuedToken)))]
struct Extra;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_account_route_is_documented() {
        let doc = api().into_openapi();
        for path in [
            "/admin/api/login",
            "/admin/api/logout",
            "/admin/api/password-reset",
            "/admin/api/password-reset/confirm",
            "/admin/api/staff",
            "/admin/api/staff/{id}",
            "/admin/api/staff/invitations",
            "/admin/api/staff/invitations/accept",
            "/admin/api/api-keys",
            "/admin/api/api-keys/{id}",
            "/api/customers",
            "/api/customers/confirm",
            "/api/customers/login",
            "/api/customers/logout",
            "/api/customers/me",
            "/api/customers/password-reset",
            "/api/customers/password-reset/confirm",
            "/api/customers/me/addresses",
            "/api/customers/me/addresses/{id}",
        ] {
            assert!(doc.paths.paths.contains_key(path), "{path} undocumented");
        }
    }
}
