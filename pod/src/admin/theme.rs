//! The theme's settings page, `/admin/settings/theme`: colours, font,
//! logo (one of the store's images, or an address), the home page's
//! sections, header and footer links; saved all at once as `PUT
//! /admin/api/settings/theme` saves them ([`themes::put_settings`], the
//! same checks), by any staff member, as the API allows.
//!
//! Beside the form, a live preview: the storefront's home page rendered by
//! the storefront itself with the form's unsaved settings
//! ([`crate::storefront::pages::home_preview`]: nothing saved, nothing
//! cached), in a frame of this page only. The form's "Preview" button
//! posts to `/admin/settings/theme/preview` into the frame (no script
//! needed); the admin's script does the same as the form changes.

use axum::extract::State;
use axum::http::header::{CONTENT_SECURITY_POLICY, X_FRAME_OPTIONS};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::Response;
use axum::routing::get;
use bytes::Bytes;
use mercato_tenants::forms::{field, see_other, sentence};
use mercato_tenants::http::ApiQuery;
use mercato_tenants::{ApiError, ErrorCode};
use minijinja::context;
use minijinja::value::Value;
use utoipa_axum::router::OpenApiRouter;

use super::pages::{error_page, html, render, sign_in_first};
use super::session::{AdminSession, MaybeAdmin};
use crate::error::PodError;
use crate::state::AppState;
use crate::tenancy::TenantContext;
use crate::themes::model::{Font, Link, MAX_FOOTER_LINKS, MAX_HEADER_LINKS};
use crate::themes::{self, ThemeSettings};

/// This module's templates, added to the admin's engine.
pub const TEMPLATES: &[(&str, &str)] = &[("theme.html", include_str!("templates/theme.html"))];

/// This module's pages.
pub fn routes(router: OpenApiRouter<AppState>) -> OpenApiRouter<AppState> {
    router
        .route("/admin/settings/theme", get(show).post(save))
        .route(
            "/admin/settings/theme/preview",
            get(preview_saved).post(preview),
        )
}

/// Empty link rows the form offers after the links there are.
const SPARE_LINKS: usize = 3;
/// The store's images offered as the logo, newest products first.
const LOGO_CHOICES: usize = 24;

const FONTS: [(Font, &str, &str); 4] = [
    (Font::System, "system", "The device's own (sans-serif)"),
    (Font::Serif, "serif", "Serif"),
    (Font::Rounded, "rounded", "Rounded"),
    (Font::Mono, "mono", "Monospace"),
];

/// The settings a form describes, unchecked (what was typed, to show
/// again), and the first thing that cannot even be read.
struct Draft {
    settings: ThemeSettings,
    unreadable: Option<ApiError>,
}

/// The links of the rows `<prefix>_label_<i>`, `<prefix>_url_<i>` (rows
/// left blank are skipped; one row too many is kept for the check to
/// refuse).
fn links_of(fields: &[(String, String)], prefix: &str, max: usize) -> Vec<Link> {
    (0..=max)
        .map(|i| Link {
            label: field(fields, &format!("{prefix}_label_{i}"))
                .unwrap_or_default()
                .to_owned(),
            url: field(fields, &format!("{prefix}_url_{i}"))
                .unwrap_or_default()
                .to_owned(),
        })
        .filter(|l| !l.label.is_empty() || !l.url.is_empty())
        .collect()
}

/// The theme settings form's fields as settings.
fn draft_of(fields: &[(String, String)]) -> Draft {
    let get = |name: &str| field(fields, name).unwrap_or_default().to_owned();
    let mut unreadable = None;
    let font = match FONTS.iter().find(|(_, value, _)| *value == get("font")) {
        Some((font, _, _)) => *font,
        None => {
            unreadable = Some(ApiError::invalid("choose a font from the list"));
            Font::default()
        }
    };
    let logo_url = match get("logo").as_str() {
        "" | "none" => None,
        "other" => Some(get("logo_other")).filter(|u| !u.is_empty()),
        picked => Some(picked.to_owned()),
    };
    let settings = ThemeSettings {
        colours: themes::model::Colours {
            accent: get("accent"),
            text: get("text_colour"),
            background: get("background"),
        },
        font,
        logo_url,
        home: themes::model::Home {
            heading: get("heading"),
            tagline: get("tagline"),
            featured_collections: get("featured")
                .split(',')
                .map(|h| h.trim().to_owned())
                .filter(|h| !h.is_empty())
                .collect(),
            show_new_arrivals: field(fields, "show_new_arrivals").is_some(),
        },
        header_links: links_of(fields, "header", MAX_HEADER_LINKS),
        footer_links: links_of(fields, "footer", MAX_FOOTER_LINKS),
    };
    Draft {
        settings,
        unreadable,
    }
}

/// A refusal of the settings in the form's words: `header_links[0].url
/// must be…` is "Header link 1's address must be…".
fn in_words(message: &str) -> String {
    let mut m = message.to_owned();
    for (prefix, what) in [
        ("header_links", "header link"),
        ("footer_links", "footer link"),
    ] {
        while let Some(at) = m.find(&format!("{prefix}[")) {
            let rest = &m[at + prefix.len() + 1..];
            let Some((index, tail)) = rest.split_once(']') else {
                break;
            };
            let Ok(i) = index.parse::<usize>() else {
                break;
            };
            let part = match tail {
                t if t.starts_with(".label") => ("'s label", ".label".len()),
                t if t.starts_with(".url") => ("'s address", ".url".len()),
                _ => ("", 0),
            };
            let tail = &tail[part.1..];
            m = format!("{}{what} {}{}{tail}", &m[..at], i + 1, part.0);
        }
        m = m.replace(prefix, &format!("{what}s"));
    }
    for (name, words) in [
        ("colours.accent", "the accent colour"),
        ("colours.text", "the text colour"),
        ("colours.background", "the background colour"),
        ("logo_url", "the logo's address"),
        ("home.heading", "the heading"),
        ("home.tagline", "the tagline"),
        ("home.featured_collections", "featured collections"),
    ] {
        m = m.replace(name, words);
    }
    sentence(&m)
}

/// A link row of the form.
fn link_rows(links: &[Link], max: usize) -> Vec<Value> {
    let rows = (links.len() + SPARE_LINKS).min(max).max(links.len());
    (0..rows)
        .map(|i| {
            let l = links.get(i);
            context! {
                index => i,
                number => i + 1,
                label => l.map(|l| l.label.clone()).unwrap_or_default(),
                url => l.map(|l| l.url.clone()).unwrap_or_default(),
            }
        })
        .collect()
}

/// The settings page showing `settings` (saved, or as typed in a refused
/// form).
async fn page(
    state: &AppState,
    tenant: &TenantContext,
    session: &AdminSession,
    settings: &ThemeSettings,
    status: StatusCode,
    notice: Option<String>,
    problem: Option<String>,
) -> Result<Response, PodError> {
    let store = tenant.store_id;
    let products = crate::catalog::list_products(&state.db, store, None, None, 50).await?;
    let mut images: Vec<Value> = Vec::new();
    let mut urls: Vec<String> = Vec::new();
    for p in &products.items {
        for i in &p.images {
            if urls.len() < LOGO_CHOICES && !urls.contains(&i.url) {
                urls.push(i.url.clone());
                images.push(context! {
                    index => images.len(),
                    url => i.url.clone(),
                    alt => if i.alt.is_empty() { p.title.clone() } else { i.alt.clone() },
                    product => p.title.clone(),
                    checked => settings.logo_url.as_deref() == Some(i.url.as_str()),
                });
            }
        }
    }
    let logo_other = settings
        .logo_url
        .clone()
        .filter(|u| !urls.contains(u))
        .unwrap_or_default();
    let collections = crate::collections::sql::list(&state.db, store, None, 50).await?;
    let collections: Vec<Value> = collections
        .items
        .iter()
        .map(|c| context! { handle => c.handle.clone(), title => c.title.clone() })
        .collect();
    let fonts: Vec<Value> = FONTS
        .iter()
        .map(|(font, value, label)| {
            context! { value, label, selected => *font == settings.font }
        })
        .collect();
    let body = render(
        tenant,
        Some(session),
        "theme.html",
        "Theme",
        context! {
            nav => "settings",
            notice,
            problem,
            s => Value::from_serialize(settings),
            fonts,
            images,
            logo_none => settings.logo_url.is_none(),
            logo_other,
            featured => settings.home.featured_collections.join(", "),
            collections,
            header_rows => link_rows(&settings.header_links, MAX_HEADER_LINKS),
            footer_rows => link_rows(&settings.footer_links, MAX_FOOTER_LINKS),
            max_header => MAX_HEADER_LINKS,
            max_footer => MAX_FOOTER_LINKS,
        },
    )?;
    Ok(html(status, body))
}

/// `GET /admin/settings/theme`: the form with the saved settings (as `GET
/// /admin/api/settings/theme`) and the preview.
pub async fn show(
    State(state): State<AppState>,
    tenant: TenantContext,
    MaybeAdmin(session): MaybeAdmin,
    ApiQuery(pairs): ApiQuery<Vec<(String, String)>>,
) -> Response {
    let Some(session) = session else {
        return sign_in_first("/admin/settings/theme");
    };
    let notice = (field(&pairs, "done") == Some("saved"))
        .then(|| "The theme was saved; the storefront shows it now.".to_owned());
    let result = async {
        let settings = themes::settings(&state.db, tenant.store_id).await?;
        page(
            &state,
            &tenant,
            &session,
            &settings,
            StatusCode::OK,
            notice,
            None,
        )
        .await
    }
    .await;
    result.unwrap_or_else(|e| error_page(&tenant, e))
}

/// `POST /admin/settings/theme`: saves the form's settings, as `PUT
/// /admin/api/settings/theme` (the same checks; a field the form leaves
/// empty takes no default: it is what the form says).
pub async fn save(
    State(state): State<AppState>,
    tenant: TenantContext,
    MaybeAdmin(session): MaybeAdmin,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(session) = session else {
        return sign_in_first("/admin/settings/theme");
    };
    let result = async {
        let fields = session.form(&headers, &body)?;
        let draft = draft_of(&fields);
        let refusal = match draft.unreadable {
            Some(r) => r,
            None => match themes::put_settings(&state, tenant.store_id, &draft.settings).await {
                Ok(_) => return Ok(see_other("/admin/settings/theme?done=saved")),
                Err(e) => match e.client_error() {
                    Some(r) if r.code.status().is_client_error() => r,
                    _ => return Err(e),
                },
            },
        };
        page(
            &state,
            &tenant,
            &session,
            &draft.settings,
            refusal.code.status(),
            None,
            Some(in_words(&refusal.message)),
        )
        .await
    }
    .await;
    result.unwrap_or_else(|e| error_page(&tenant, e))
}

/// `response` framed by pages of this site only (the theme page's
/// preview), never stored.
fn framed_here(mut response: Response) -> Response {
    let h = response.headers_mut();
    h.insert(X_FRAME_OPTIONS, HeaderValue::from_static("SAMEORIGIN"));
    h.insert(
        CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("frame-ancestors 'self'"),
    );
    h.insert(
        HeaderName::from_static("x-robots-tag"),
        HeaderValue::from_static("noindex"),
    );
    response
}

/// The preview of `settings`, or what is wrong with them, as a page for
/// the frame.
async fn preview_of(
    state: &AppState,
    tenant: &TenantContext,
    settings: Result<ThemeSettings, PodError>,
) -> Response {
    let result = async {
        let settings = settings?;
        let page = crate::storefront::pages::home_preview(state, tenant, settings).await?;
        Ok::<_, PodError>(html(StatusCode::OK, page))
    }
    .await;
    framed_here(result.unwrap_or_else(|e| match e.client_error() {
        Some(r) if r.code.status().is_client_error() => {
            let message = in_words(&r.message);
            error_page(tenant, ApiError::new(r.code, message).into())
        }
        _ => error_page(tenant, e),
    }))
}

fn signed_out() -> PodError {
    ApiError::new(
        ErrorCode::Unauthorized,
        "sign in to the admin again to see the preview",
    )
    .into()
}

/// `GET /admin/settings/theme/preview`: the home page with the saved
/// settings (the frame's first page).
pub async fn preview_saved(
    State(state): State<AppState>,
    tenant: TenantContext,
    MaybeAdmin(session): MaybeAdmin,
) -> Response {
    let settings = match session {
        Some(_) => themes::settings(&state.db, tenant.store_id).await,
        None => Err(signed_out()),
    };
    preview_of(&state, &tenant, settings).await
}

/// `POST /admin/settings/theme/preview` (the settings form's fields): the
/// home page with the form's settings, checked as a save checks them,
/// never saved.
pub async fn preview(
    State(state): State<AppState>,
    tenant: TenantContext,
    MaybeAdmin(session): MaybeAdmin,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let settings = match session {
        None => Err(signed_out()),
        Some(session) => session
            .form(&headers, &body)
            .map_err(PodError::from)
            .and_then(|fields| {
                let draft = draft_of(&fields);
                match draft.unreadable {
                    Some(r) => Err(r.into()),
                    None => themes::checked(&draft.settings).map_err(PodError::from),
                }
            }),
    };
    preview_of(&state, &tenant, settings).await
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::admin::test_form as form;

    #[test]
    fn a_form_reads_as_the_apis_settings() {
        let d = draft_of(&form(&[
            ("accent", "#112233"),
            ("text_colour", "#000000"),
            ("background", "#ffffff"),
            ("font", "serif"),
            ("logo", "other"),
            ("logo_other", "/media/a.png"),
            ("heading", "Hi"),
            ("featured", "sale, new-in ,"),
            ("header_label_0", "Sale"),
            ("header_url_0", "/collections/sale"),
            ("header_label_1", ""),
            ("header_url_1", ""),
            ("header_label_2", "Blog"),
            ("header_url_2", "https://blog.example"),
        ]));
        assert!(d.unreadable.is_none());
        let s = d.settings;
        assert_eq!(s.font, Font::Serif);
        assert_eq!(s.logo_url.as_deref(), Some("/media/a.png"));
        assert_eq!(s.home.featured_collections, vec!["sale", "new-in"]);
        assert!(!s.home.show_new_arrivals, "an unticked box");
        assert_eq!(s.header_links.len(), 2, "the blank row is skipped");
        assert_eq!(s.header_links[1].label, "Blog");
        assert!(s.footer_links.is_empty());
        assert!(draft_of(&form(&[("font", "comic")])).unreadable.is_some());
        assert!(draft_of(&form(&[("font", "mono"), ("logo", "none")]))
            .settings
            .logo_url
            .is_none());
    }

    #[test]
    fn refusals_name_the_forms_fields() {
        assert_eq!(
            in_words(
                "header_links[1].url must be a path of the store (/...) or an https:// address"
            ),
            "Header link 2's address must be a path of the store (/...) or an https:// address."
        );
        assert_eq!(
            in_words("colours.accent must be #rrggbb"),
            "The accent colour must be #rrggbb."
        );
        assert_eq!(
            in_words("at most 20 footer_links"),
            "At most 20 footer links."
        );
    }
}
