//! The merchant's admin on the web, on the store's domain under `/admin`
//! (the JSON API stays under `/admin/api`): server-rendered pages over the
//! same context functions as the API (there is no second write path), a
//! small stylesheet and one small script that only improves a page
//! (drag and drop of a product's images, the theme's live preview).
//!
//! - [`session`]: staff sign-in, the `mercato_admin` cookie (`HttpOnly`,
//!   `SameSite=Strict`, `Path=/admin`, `Secure` over HTTPS) and the CSRF
//!   token every form carries;
//! - [`pages`]: the dashboard, the orders and an order with its refund and
//!   cancel forms;
//! - [`staff`]: the store's staff (owner only);
//! - [`products`], [`product_edit`]: the products, a new product with its
//!   variants and starting stock, a product's page (details, variants,
//!   images, stock per location);
//! - [`collections`]: collections (manual and rule-based) and categories;
//! - [`customers`]: the customers and a customer's page;
//! - [`fulfilment`]: an order's shipments and returns, the returns page;
//! - [`discounts`]: discounts and their codes;
//! - [`settings`]: the settings index, locations, shipping and tax rates,
//!   returns policy, risk rules, mail;
//! - [`integrations`]: API keys and webhook endpoints (owner only);
//! - [`theme`]: the theme settings with a live preview;
//! - [`reset`]: staff password reset.
//!
//! Each page module holds its `TEMPLATES` and its `routes`, which
//! [`routes`] and [`engine`] gather.
//!
//! Why server-rendered HTML and no front-end framework: every page is one
//! request to the pod, works without script, is tested over HTTP and in
//! Chromium, and nothing needs a JavaScript build.

pub mod collections;
pub mod customers;
pub mod discounts;
pub mod fulfilment;
pub mod integrations;
pub mod pages;
pub mod product_edit;
pub mod products;
pub mod reports;
pub mod reset;
pub mod session;
pub mod settings;
pub mod staff;
pub mod theme;

use axum::extract::Path;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use utoipa_axum::router::OpenApiRouter;

use crate::state::AppState;
use crate::themes::engine::{content_addressed, Asset, Engine};

/// The admin's templates, compiled into the binary.
const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("templates/base.html")),
    ("login.html", include_str!("templates/login.html")),
    ("dashboard.html", include_str!("templates/dashboard.html")),
    ("orders.html", include_str!("templates/orders.html")),
    ("order.html", include_str!("templates/order.html")),
    ("error.html", include_str!("templates/error.html")),
    ("products.html", include_str!("templates/products.html")),
    (
        "product_new.html",
        include_str!("templates/product_new.html"),
    ),
    ("product.html", include_str!("templates/product.html")),
    ("customers.html", include_str!("templates/customers.html")),
    ("customer.html", include_str!("templates/customer.html")),
    ("staff.html", include_str!("templates/staff.html")),
    ("accept.html", include_str!("templates/accept.html")),
    ("handoff.html", include_str!("templates/handoff.html")),
    ("reset.html", include_str!("templates/reset.html")),
    (
        "reset_password.html",
        include_str!("templates/reset_password.html"),
    ),
];

/// Every template of the admin: the shared ones and each page module's.
fn all_templates() -> Vec<(&'static str, &'static str)> {
    [
        TEMPLATES,
        collections::TEMPLATES,
        discounts::TEMPLATES,
        fulfilment::TEMPLATES,
        integrations::TEMPLATES,
        reports::TEMPLATES,
        settings::TEMPLATES,
        theme::TEMPLATES,
    ]
    .concat()
}

/// The admin's templates, compiled once.
pub fn engine() -> &'static Engine {
    static ENGINE: std::sync::OnceLock<Engine> = std::sync::OnceLock::new();
    ENGINE.get_or_init(|| Engine::fixed(&all_templates()))
}

/// The admin's stylesheet, content-addressed under `/admin/assets/`.
pub fn stylesheet() -> &'static Asset {
    static CSS: std::sync::OnceLock<Asset> = std::sync::OnceLock::new();
    CSS.get_or_init(|| {
        content_addressed(
            "/admin/assets",
            "admin",
            "css",
            "text/css; charset=utf-8",
            mercato_tenants::forms::ADMIN_CSS,
        )
    })
}

/// The admin's script (drag and drop on the product page), under
/// `/admin/assets/`: every page works without it.
pub fn script() -> &'static Asset {
    static JS: std::sync::OnceLock<Asset> = std::sync::OnceLock::new();
    JS.get_or_init(|| {
        content_addressed(
            "/admin/assets",
            "admin",
            "js",
            "text/javascript; charset=utf-8",
            include_str!("templates/admin.js"),
        )
    })
}

async fn asset(Path(file): Path<String>) -> Response {
    match [stylesheet(), script()]
        .into_iter()
        .find(|a| a.path.rsplit('/').next() == Some(file.as_str()))
    {
        Some(a) => (
            [
                (header::CONTENT_TYPE, a.content_type),
                (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
            ],
            a.body.clone(),
        )
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// The admin's pages (HTML for browsers, not API: undocumented).
pub fn routes(router: OpenApiRouter<AppState>) -> OpenApiRouter<AppState> {
    let router = [
        collections::routes,
        discounts::routes,
        fulfilment::routes,
        integrations::routes,
        reports::routes,
        settings::routes,
        theme::routes,
    ]
    .into_iter()
    .fold(router, |router, add| add(router));
    router
        .route("/admin", get(pages::dashboard))
        .route("/admin/login", get(pages::login_page).post(pages::login))
        .route("/admin/logout", post(pages::logout))
        .route(
            "/admin/reset",
            get(reset::request_page).post(reset::request),
        )
        .route(
            "/admin/reset-password",
            get(reset::password_page).post(reset::reset_password),
        )
        .route("/admin/handoff", post(pages::handoff))
        .route("/admin/orders", get(pages::orders))
        .route("/admin/orders/{id}", get(pages::order))
        .route("/admin/orders/{id}/refund", post(pages::refund))
        .route("/admin/orders/{id}/cancel", post(pages::cancel))
        .route(
            "/admin/products",
            get(products::list).post(products::create),
        )
        .route("/admin/products/new", get(products::new_page))
        .route("/admin/products/{id}", get(products::show))
        .route("/admin/products/{id}/stock", post(products::set_stock))
        .route("/admin/products/{id}/edit", post(product_edit::edit))
        .route("/admin/products/{id}/delete", post(product_edit::delete))
        .route(
            "/admin/products/{id}/variants",
            post(product_edit::add_variant),
        )
        .route(
            "/admin/products/{id}/variants/{variant}",
            post(product_edit::save_variant),
        )
        .route(
            "/admin/products/{id}/variants/{variant}/delete",
            post(product_edit::remove_variant),
        )
        .route(
            "/admin/products/{id}/images/order",
            post(product_edit::order_images),
        )
        .route(
            "/admin/products/{id}/images/{image}/delete",
            post(product_edit::remove_image),
        )
        // The image's own limit (`media.max_bytes`) bounds the upload.
        .route(
            "/admin/products/{id}/images",
            post(products::upload_image).layer(axum::extract::DefaultBodyLimit::disable()),
        )
        .route("/admin/customers", get(customers::list))
        .route("/admin/customers/{id}", get(customers::show))
        .route("/admin/settings/staff", get(staff::show))
        .route("/admin/settings/staff/invite", post(staff::invite))
        .route("/admin/settings/staff/{id}/remove", post(staff::remove))
        .route(
            "/admin/invitations/accept",
            get(staff::accept_page).post(staff::accept),
        )
        .route("/admin/assets/{file}", get(asset))
}

/// A posted form's fields, as the page modules' unit tests write them.
#[cfg(test)]
pub(crate) fn test_form(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_admin_template_compiles() {
        let mut env = minijinja::Environment::new();
        for (name, source) in all_templates() {
            env.add_template(name, source)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }
}
