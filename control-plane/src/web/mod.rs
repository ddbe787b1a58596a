//! The platform's own pages, on the platform domain: server-rendered HTML
//! over the same functions as the JSON API (there is no second write path),
//! in the admin's look (`mercato_tenants::forms::ADMIN_CSS`).
//!
//! - [`merchant`]: the landing page, the signup form (its handle checked
//!   as the merchant types, by `GET /v1/handles/{handle}`), and the sign-in
//!   that finds a merchant's stores by email; both hand the merchant's new
//!   session over to the store's admin on the store's domain;
//! - [`console`]: the operator console under `/console`, behind the
//!   operator token (kept in an `HttpOnly`, `SameSite=Strict` cookie).
//!
//! Templates and assets are compiled in; the one script (`platform.js`)
//! only improves pages that work without it.

pub mod account;
pub mod console;
pub mod merchant;
pub mod reset;

use axum::extract::Path;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use minijinja::value::Value;
use minijinja::{context, Environment};
use sha2::{Digest, Sha256};

use crate::error::ControlError;
use crate::AppState;

pub use mercato_tenants::forms::html;

/// The platform's templates, compiled into the binary.
const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("templates/base.html")),
    ("error.html", include_str!("templates/error.html")),
    ("landing.html", include_str!("templates/landing.html")),
    ("signup.html", include_str!("templates/signup.html")),
    ("handoff.html", include_str!("templates/handoff.html")),
    ("login.html", include_str!("templates/login.html")),
    ("reset.html", include_str!("templates/reset.html")),
    ("stores.html", include_str!("templates/stores.html")),
    (
        "store_settings.html",
        include_str!("templates/store_settings.html"),
    ),
    (
        "console_login.html",
        include_str!("templates/console_login.html"),
    ),
    (
        "console_pods.html",
        include_str!("templates/console_pods.html"),
    ),
    (
        "console_stores.html",
        include_str!("templates/console_stores.html"),
    ),
    (
        "console_store.html",
        include_str!("templates/console_store.html"),
    ),
    (
        "console_moves_table.html",
        include_str!("templates/console_moves_table.html"),
    ),
    (
        "console_move.html",
        include_str!("templates/console_move.html"),
    ),
    (
        "console_jobs.html",
        include_str!("templates/console_jobs.html"),
    ),
    (
        "console_job.html",
        include_str!("templates/console_job.html"),
    ),
    (
        "console_plan.html",
        include_str!("templates/console_plan.html"),
    ),
];

/// The platform's templates, compiled once. HTML autoescaping is on for
/// every template (their names end in `.html`).
fn environment() -> &'static Environment<'static> {
    static ENV: std::sync::OnceLock<Environment<'static>> = std::sync::OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        for (name, source) in TEMPLATES {
            // Compiled by the tests: a failure here is a bug, shown at the
            // first page rather than hidden.
            if let Err(e) = env.add_template(name, source) {
                tracing::error!(template = name, error = %e, "a platform template does not compile");
            }
        }
        env
    })
}

/// A content-addressed asset: served for a year, immutable.
pub struct Asset {
    pub path: String,
    content_type: &'static str,
    body: &'static str,
}

impl Asset {
    fn new(stem: &str, ext: &str, content_type: &'static str, body: &'static str) -> Self {
        let digest = Sha256::digest(body.as_bytes());
        Self {
            path: format!("/assets/{stem}-{}.{ext}", hex::encode(&digest[..8])),
            content_type,
            body,
        }
    }
}

/// The stylesheet and the script of the platform's pages.
pub fn assets() -> &'static [Asset; 2] {
    static ASSETS: std::sync::OnceLock<[Asset; 2]> = std::sync::OnceLock::new();
    ASSETS.get_or_init(|| {
        [
            Asset::new(
                "platform",
                "css",
                "text/css; charset=utf-8",
                mercato_tenants::forms::ADMIN_CSS,
            ),
            Asset::new(
                "platform",
                "js",
                "text/javascript; charset=utf-8",
                include_str!("templates/platform.js"),
            ),
        ]
    })
}

async fn asset(Path(file): Path<String>) -> Response {
    match assets()
        .iter()
        .find(|a| a.path.rsplit('/').next() == Some(file.as_str()))
    {
        Some(a) => (
            [
                (header::CONTENT_TYPE, a.content_type),
                (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
            ],
            a.body,
        )
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// Renders `template` in the platform's frame: `title`, the assets, and
/// `extra` (which must set `console` for the console's pages).
pub fn render(template: &str, title: &str, extra: Value) -> Result<String, ControlError> {
    let [css, js] = assets();
    let ctx = context! {
        title => title.to_owned(),
        css => css.path.clone(),
        js => js.path.clone(),
        ..extra
    };
    environment()
        .get_template(template)
        .and_then(|t| t.render(ctx))
        .map_err(|e| {
            ControlError::Api(mercato_tenants::ApiError::internal(format!(
                "platform template {template} failed: {e:#}"
            )))
        })
}

/// The error page for `err`, with its status. A server error says only
/// that something went wrong (it is logged at the edge).
pub fn error_page(err: ControlError) -> Response {
    let err = err.into_api();
    let status = err.code.status();
    let message = if status.is_server_error() {
        tracing::error!(error = %err.message, "a platform page failed");
        "Something went wrong on our side. Please try again in a moment.".to_owned()
    } else {
        mercato_tenants::forms::sentence(&err.message)
    };
    let body = render(
        "error.html",
        "Error",
        context! { status => status.as_u16(), message },
    )
    .unwrap_or_else(|_| format!("<!doctype html><title>{status}</title><h1>{status}</h1>"));
    html(status, body)
}

/// A page's result as its answer: the page, or the error page.
pub fn page(result: Result<Response, ControlError>) -> Response {
    result.unwrap_or_else(error_page)
}

/// The origin of a store's platform subdomain as the browser that asked
/// for this page reaches it: the platform's scheme, and the port the
/// browser named (the router says which, `x-forwarded-port`), else the
/// configured one.
pub fn store_origin(
    state: &AppState,
    headers: &HeaderMap,
    handle: &mercato_tenants::Handle,
) -> String {
    let port = headers
        .get("x-forwarded-port")
        .and_then(|v| v.to_str().ok())
        .and_then(|p| p.parse::<u16>().ok());
    match port {
        Some(80 | 443) => state.store_origin_with_port(handle, ""),
        Some(p) => state.store_origin_with_port(handle, &format!(":{p}")),
        None => state.store_origin(handle),
    }
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

/// A posted form's fields, checked: from this site, well formed, carrying
/// the session's CSRF token `csrf` (`403` otherwise).
pub fn checked_form(
    headers: &HeaderMap,
    body: &[u8],
    csrf: &str,
) -> Result<Vec<(String, String)>, mercato_tenants::ApiError> {
    use subtle::ConstantTimeEq;
    let fields = mercato_tenants::forms::posted_form(headers, body)?;
    let sent = mercato_tenants::forms::field(&fields, "csrf").unwrap_or_default();
    if bool::from(sent.as_bytes().ct_eq(csrf.as_bytes())) {
        Ok(fields)
    } else {
        Err(mercato_tenants::ApiError::new(
            mercato_tenants::ErrorCode::Forbidden,
            "this form has expired; reload the page and try again",
        ))
    }
}

/// The platform's pages (HTML for browsers, not API: undocumented).
pub fn routes() -> Router<AppState> {
    merchant::routes()
        .merge(account::routes())
        .merge(console::routes())
        .merge(reset::routes())
        .route("/assets/{file}", get(asset))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_platform_template_compiles() {
        let mut env = Environment::new();
        for (name, source) in TEMPLATES {
            env.add_template(name, source)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }

    #[test]
    fn the_cookie_is_found_among_others() {
        let mut h = HeaderMap::new();
        h.append(
            axum::http::header::COOKIE,
            axum::http::HeaderValue::from_static("a=1; mercato_console=tok; b=2"),
        );
        assert_eq!(cookie(&h, "mercato_console").as_deref(), Some("tok"));
        assert_eq!(cookie(&h, "c"), None);
    }

    #[test]
    fn assets_are_content_addressed() {
        let [css, js] = assets();
        assert!(css.path.starts_with("/assets/platform-") && css.path.ends_with(".css"));
        assert!(js.path.starts_with("/assets/platform-") && js.path.ends_with(".js"));
    }
}
