//! The storefront: every store's own website on its domain, server
//! rendered from the theme's templates on the same data and the same rules
//! as the JSON API (the pages call the contexts; there is no second write
//! path).
//!
//! - `theme/`: the default theme's templates, CSS and script (compiled
//!   into the binary by [`crate::themes::engine`], which renders them with
//!   the store's settings and the merchant's own templates);
//! - [`view`]: what templates are given, built by pure functions;
//! - [`pages`]: the shared pages (home, product, lists, sitemap), cached
//!   whole with ETags;
//! - [`cart`]: the cart page and its forms, per shopper.
//!
//! Pages work without script: forms post and redirect. The theme's small
//! script improves them (the variant picker follows the chosen options,
//! suggestions as you type, the cart count in the header).

pub mod account;
pub mod cart;
pub mod checkout;
pub mod orders;
pub mod pages;
pub mod shopper;
mod sql;

pub mod view;

use axum::routing::{get, post};
use utoipa_axum::router::OpenApiRouter;

use crate::state::AppState;

/// The cookie the page script reads the cart's item count from (not
/// `HttpOnly`: it holds nothing but a number).
pub const CART_COUNT_COOKIE: &str = "mercato_cart_count";

/// The storefront's routes, served undocumented (HTML for browsers, not
/// API): `/`, `/products/{id}`, `/collections/{handle}`,
/// `/categories/{handle}`, `/search`, `/cart` and its forms, `/checkout`
/// and its steps, `/orders/{number}`, the theme's
/// `/assets/`, `/robots.txt` and `/sitemap.xml`.
pub fn routes(router: OpenApiRouter<AppState>) -> OpenApiRouter<AppState> {
    router
        .route("/", get(pages::home))
        .route("/products/{id}", get(pages::product))
        .route("/collections/{handle}", get(pages::collection_page))
        .route("/categories/{handle}", get(pages::category_page))
        .route("/search", get(pages::search_page))
        .route("/cart", get(cart::show))
        .route("/cart/add", post(cart::add))
        .route("/cart/update", post(cart::update))
        .route("/cart/remove", post(cart::remove))
        .route("/cart/discount", post(cart::add_code))
        .route("/cart/discount/remove", post(cart::remove_code))
        .route("/cart/restore", get(cart::restore_page).post(cart::restore))
        .route(
            "/checkout",
            get(checkout::information).post(checkout::submit_information),
        )
        .route("/checkout/review", get(checkout::review))
        .route("/checkout/complete", get(checkout::complete))
        .route("/checkout/gift-card", post(checkout::add_gift_card))
        .route(
            "/checkout/gift-card/remove",
            post(checkout::remove_gift_card),
        )
        .route("/checkout/place", post(checkout::place_without_card))
        .route("/orders/{number}", get(orders::order))
        .route("/orders/{number}/returns", post(orders::open_return))
        .route("/account", get(account::overview))
        .route(
            "/account/login",
            get(account::login_page).post(account::login),
        )
        .route("/account/logout", post(account::logout))
        .route(
            "/account/register",
            get(account::register_page).post(account::register),
        )
        .route(
            "/account/confirm",
            get(account::confirm_page).post(account::confirm),
        )
        .route(
            "/account/reset",
            get(account::reset_request_page).post(account::reset_request),
        )
        .route(
            "/account/reset-password",
            get(account::reset_page).post(account::reset),
        )
        .route("/account/profile", post(account::update_profile))
        .route(
            "/account/addresses",
            get(account::addresses_list).post(account::address_add),
        )
        .route(
            "/account/addresses/{id}/delete",
            post(account::address_delete),
        )
        .route(
            "/account/addresses/{id}/default",
            post(account::address_default),
        )
        .route("/assets/{file}", get(pages::asset))
        .route("/robots.txt", get(pages::robots))
        .route("/sitemap.xml", get(pages::sitemap))
}
