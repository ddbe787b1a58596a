//! The admin's settings: an index of the sections (each linked only for
//! the roles its API allows) with the store's details as the pod knows
//! them, and the pages of the sections this module holds:
//!
//! - [`locations`]: the store's locations, added and changed as `POST
//!   /admin/api/locations` and `PATCH /admin/api/locations/{id}` do
//!   (`inventory::locations::add` and `change`);
//! - [`rates`]: the shipping and tax rate tables, each edited as a whole
//!   table as `PUT /admin/api/shipping-rates` and `/admin/api/tax-rates`
//!   replace them (`checkout::put_shipping_rates`, `put_tax_rates`);
//! - [`policies`]: the return policy, the risk rules and the mail
//!   settings, as `PUT /admin/api/settings/returns`, `/risk` and `/mail`
//!   (`returns::put_settings`, `risk::put_settings`,
//!   `notifications::put_settings`).
//!
//! Every page mirrors its API's roles: any staff member reads and writes
//! locations and rate tables; the return policy and the mail settings are
//! read by any staff member and changed by the owner only; the risk rules
//! are the owner's alone. A refused form is shown again as typed, with the
//! API's refusal in words and its status.

mod locations;
mod policies;
mod rates;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::get;
use mercato_tenants::forms::{field, form_fields_within, same_site, sentence};
use mercato_tenants::{ApiError, ErrorCode};
use minijinja::context;
use utoipa_axum::router::OpenApiRouter;

use super::pages::{error_page, html, render, sign_in_first};
use super::session::{AdminSession, MaybeAdmin};
use crate::error::PodError;
use crate::state::AppState;
use crate::tenancy::TenantContext;

/// This module's templates, added to the admin's engine.
pub const TEMPLATES: &[(&str, &str)] = &[
    ("settings.html", include_str!("templates/settings.html")),
    (
        "settings_locations.html",
        include_str!("templates/settings_locations.html"),
    ),
    (
        "settings_location.html",
        include_str!("templates/settings_location.html"),
    ),
    (
        "settings_location_fields.html",
        include_str!("templates/settings_location_fields.html"),
    ),
    (
        "settings_shipping.html",
        include_str!("templates/settings_shipping.html"),
    ),
    (
        "settings_taxes.html",
        include_str!("templates/settings_taxes.html"),
    ),
    (
        "settings_returns.html",
        include_str!("templates/settings_returns.html"),
    ),
    (
        "settings_risk.html",
        include_str!("templates/settings_risk.html"),
    ),
    (
        "settings_mail.html",
        include_str!("templates/settings_mail.html"),
    ),
];

/// This module's pages.
pub fn routes(router: OpenApiRouter<AppState>) -> OpenApiRouter<AppState> {
    router
        .route("/admin/settings", get(index))
        .route(
            "/admin/settings/locations",
            get(locations::list).post(locations::create),
        )
        .route(
            "/admin/settings/locations/{id}",
            get(locations::show).post(locations::save),
        )
        .route(
            "/admin/settings/shipping",
            get(rates::shipping).post(rates::save_shipping),
        )
        .route(
            "/admin/settings/taxes",
            get(rates::taxes).post(rates::save_taxes),
        )
        .route(
            "/admin/settings/returns",
            get(policies::returns).post(policies::save_returns),
        )
        .route(
            "/admin/settings/risk",
            get(policies::risk).post(policies::save_risk),
        )
        .route(
            "/admin/settings/mail",
            get(policies::mail).post(policies::save_mail),
        )
}

/// Who may open a section of the settings (as its API allows).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Who {
    Staff,
    Owner,
}

/// A section of the settings as the index lists it.
struct Section {
    title: &'static str,
    path: &'static str,
    what: &'static str,
    /// Who may read it.
    read: Who,
    /// Who may change it.
    write: Who,
}

/// The settings' sections, in the index's order.
const SECTIONS: &[Section] = &[
    Section {
        title: "Locations",
        path: "/admin/settings/locations",
        what: "The places that hold stock, the order stock is taken from them, which are active.",
        read: Who::Staff,
        write: Who::Staff,
    },
    Section {
        title: "Shipping rates",
        path: "/admin/settings/shipping",
        what: "What shipping costs, to which countries, and from what order subtotal it is free.",
        read: Who::Staff,
        write: Who::Staff,
    },
    Section {
        title: "Tax rates",
        path: "/admin/settings/taxes",
        what: "The tax charged per country, and per region within a country.",
        read: Who::Staff,
        write: Who::Staff,
    },
    Section {
        title: "Returns policy",
        path: "/admin/settings/returns",
        what: "How many days shoppers have to return an order, and whether its shipping is refunded.",
        read: Who::Staff,
        write: Who::Owner,
    },
    Section {
        title: "Risk rules",
        path: "/admin/settings/risk",
        what: "Which checkouts are held for a review or blocked: amounts, attempts, declines, disposable emails.",
        read: Who::Owner,
        write: Who::Owner,
    },
    Section {
        title: "Mail",
        path: "/admin/settings/mail",
        what: "The name the store's mails are from, where replies go, and reminders of abandoned carts.",
        read: Who::Staff,
        write: Who::Owner,
    },
    Section {
        title: "Staff",
        path: "/admin/settings/staff",
        what: "Who runs the store with you: invitations and removals.",
        read: Who::Owner,
        write: Who::Owner,
    },
    Section {
        title: "API keys",
        path: "/admin/settings/api-keys",
        what: "Keys for integrations that call the store's API.",
        read: Who::Owner,
        write: Who::Owner,
    },
    Section {
        title: "Webhooks",
        path: "/admin/settings/webhooks",
        what: "Addresses told of the store's events as they happen.",
        read: Who::Owner,
        write: Who::Owner,
    },
    Section {
        title: "Theme",
        path: "/admin/settings/theme",
        what: "The storefront's look: colours, fonts, logo and templates.",
        read: Who::Staff,
        write: Who::Staff,
    },
];

fn allowed(session: &AdminSession, who: Who) -> bool {
    who == Who::Staff || session.is_owner()
}

/// `GET /admin/settings`: the sections this member may open, and the
/// store's details (read-only: the platform keeps them).
pub async fn index(
    State(state): State<AppState>,
    tenant: TenantContext,
    MaybeAdmin(session): MaybeAdmin,
    headers: axum::http::HeaderMap,
) -> Response {
    let Some(session) = session else {
        return sign_in_first("/admin/settings");
    };
    let sections: Vec<_> = SECTIONS
        .iter()
        .filter(|s| allowed(&session, s.read))
        .map(|s| {
            context! {
                title => s.title,
                path => s.path,
                what => s.what,
                read_only => !allowed(&session, s.write),
            }
        })
        .collect();
    let hosted = state.hosted.get(tenant.store_id);
    let store = context! {
        name => tenant.name.clone(),
        handle => hosted.map(|h| h.handle),
        url => crate::storefront::pages::store_url(&state, tenant.store_id),
        platform => format!(
            "{}/stores/{}",
            crate::storefront::pages::platform_url(&state, &headers),
            tenant.store_id
        ),
        owner => session.is_owner(),
        currency => tenant.currency.as_str().to_owned(),
    };
    match render(
        &tenant,
        Some(&session),
        "settings.html",
        "Settings",
        context! { nav => "settings", sections, details => store },
    ) {
        Ok(body) => html(StatusCode::OK, body),
        Err(e) => error_page(&tenant, e),
    }
}

/// Largest table form, in bytes: a whole tax table (500 rates) or the risk
/// rules with long allow-lists fit; the pod's body limit stays the bound.
const TABLE_FORM_BYTES: usize = 512 * 1024;
/// Most fields in a table form: 500 tax rates and blank rows, five fields
/// each.
const TABLE_FORM_FIELDS: usize = 3_000;

/// A posted table form's fields: as [`AdminSession::form`] checks them
/// (from this site, well formed, this session's CSRF token), with room for
/// a whole rate table.
fn table_form(
    session: &AdminSession,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Vec<(String, String)>, ApiError> {
    same_site(headers)?;
    let fields = form_fields_within(headers, body, TABLE_FORM_BYTES, TABLE_FORM_FIELDS)?;
    session.check_csrf(field(&fields, "csrf").unwrap_or_default())?;
    Ok(fields)
}

/// `403` unless the session is the owner's, as the API's `Owner` answers.
fn owner_only(session: &AdminSession) -> Result<(), PodError> {
    if session.is_owner() {
        Ok(())
    } else {
        Err(ApiError::new(ErrorCode::Forbidden, "only the store's owner may do this").into())
    }
}

/// A write's client error as its form's page shows it (the API's status,
/// its message as a sentence); any other error goes on to the error page.
fn refusal(e: PodError) -> Result<(StatusCode, String), PodError> {
    match e.client_error() {
        Some(r) if r.code.status().is_client_error() => Ok((r.code.status(), sentence(&r.message))),
        _ => Err(e),
    }
}

/// A refusal of the page's own reading of a form (a number that is not
/// one): `400`, as the API answers a body it cannot read.
fn unreadable(problem: String) -> (StatusCode, String) {
    (StatusCode::BAD_REQUEST, problem)
}

/// The notice a `?done=` names, from the page's own list.
fn notice(pairs: &[(String, String)], notices: &[(&str, &str)]) -> Option<String> {
    let done = field(pairs, "done")?;
    notices
        .iter()
        .find(|(key, _)| *key == done)
        .map(|(_, text)| (*text).to_owned())
}
