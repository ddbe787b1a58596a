//! The storefront's pages: each handler reads through the same context
//! functions and caches as the JSON API, builds a view ([`super::view`])
//! and renders it with the theme.
//!
//! Product, collection, category, search and home pages are the same for
//! every shopper (the cart count in the header is filled in by the page's
//! script from a cookie), so whole pages are cached and served with an
//! ETag, invalidated by the writes that retire the JSON reads:
//! - the home page and collection, category and search pages: the store's
//!   catalog version and search generation;
//! - a product page: the product's version, and for its stock badges
//!   [`read::BADGE_TTL`].
//!
//! The cart page and its forms are per shopper and never cached.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use mercato_tenants::http::ApiQuery;
use mercato_tenants::{ApiError, ErrorCode, ProductId, StoreId};
use minijinja::context;
use minijinja::value::Value;
use serde::Serialize;

use super::view::{self, Card, PageMeta, ProductView};
use crate::cache::Entry;
use crate::catalog::{read, Product, ProductStatus};
use crate::error::PodError;
use crate::keys;
use crate::search::response::{self as search, SearchResponse};
use crate::state::AppState;
use crate::tenancy::TenantContext;
use crate::themes::{self, StoreTheme};

/// Products on the home page.
const HOME_PRODUCTS: u32 = 12;
/// Products per page of a list.
const LIST_PAGE: u32 = 24;
/// Collections linked from the header and the home page.
const NAV_COLLECTIONS: u32 = 8;
/// Reviews shown on a product page.
const PAGE_REVIEWS: i64 = 10;

/// The store's address as shoppers reach it (`https://shop.example`), for
/// canonical URLs and sitemaps: the platform's store URL with the store's
/// handle, as its mails link to it.
pub fn store_url(state: &AppState, store: StoreId) -> String {
    let handle = state
        .hosted
        .get(store)
        .map(|h| h.handle)
        .unwrap_or_default();
    state
        .config
        .mail
        .store_url
        .replace("{handle}", &handle)
        .trim_end_matches('/')
        .to_owned()
}

/// The platform's own address (where the owner changes the store's name
/// and domains) as the browser that asked reaches it: on a store's
/// platform subdomain (`<handle>.<platform domain>[:port]`), the same
/// scheme and port without the handle's label; elsewhere (a custom
/// domain), the configured store address without it
/// (`http://{handle}.localhost:8080` gives `http://localhost:8080`).
pub fn platform_url(state: &AppState, headers: &axum::http::HeaderMap) -> String {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    platform_url_for(
        &state.config.mail.store_url,
        &state.config.platform_domain,
        header("x-forwarded-host"),
        header("x-forwarded-port"),
    )
}

/// [`platform_url`] from the configured store address, the platform
/// domain, and the host and port the router was asked for (pure).
fn platform_url_for(
    configured: &str,
    platform_domain: &str,
    host: Option<&str>,
    port: Option<&str>,
) -> String {
    let scheme = configured.split_once("://").map_or("http", |(s, _)| s);
    let domain = platform_domain.to_ascii_lowercase();
    let host = host.unwrap_or_default().to_ascii_lowercase();
    let on_subdomain = host
        .strip_suffix(domain.as_str())
        .and_then(|rest| rest.strip_suffix('.'))
        .is_some_and(|label| !label.is_empty() && !label.contains('.'));
    if on_subdomain {
        return match port {
            Some(p) if p != "80" && p != "443" && p.bytes().all(|b| b.is_ascii_digit()) => {
                format!("{scheme}://{domain}:{p}")
            }
            _ => format!("{scheme}://{domain}"),
        };
    }
    configured
        .replace("{handle}.", "")
        .trim_end_matches('/')
        .to_owned()
}

#[cfg(test)]
mod platform_url_tests {
    #[test]
    fn the_platform_is_the_store_subdomain_without_its_label() {
        let cases = [
            (
                Some("teas.localhost"),
                Some("41234"),
                "http://localhost:41234",
            ),
            (Some("teas.localhost"), None, "http://localhost"),
            (Some("TEAS.LOCALHOST"), Some("443"), "http://localhost"),
            (
                Some("shop.teas.example"),
                Some("41234"),
                "http://localhost:8080",
            ),
            (Some("a.b.localhost"), Some("1"), "http://localhost:8080"),
            (Some("localhost"), None, "http://localhost:8080"),
            (None, None, "http://localhost:8080"),
        ];
        for (host, port, want) in cases {
            let got =
                super::platform_url_for("http://{handle}.localhost:8080", "localhost", host, port);
            assert_eq!(got, want, "{host:?} {port:?}");
        }
    }
}

/// A link in the header: a collection.
#[derive(Serialize, serde::Deserialize, Clone)]
struct NavLink {
    handle: String,
    title: String,
}

/// What every page is rendered with.
pub(super) struct Frame {
    store: StoreId,
    name: String,
    base: String,
    nav: Vec<NavLink>,
    pub(super) theme: Arc<StoreTheme>,
}

impl Frame {
    /// The store's theme and, when its settings name no header links, its
    /// first collections for the header.
    async fn load(
        state: &AppState,
        tenant: &TenantContext,
        theme: Arc<StoreTheme>,
    ) -> Result<Self, PodError> {
        let store = tenant.store_id;
        let nav = if theme.settings.header_links.is_empty() {
            collections(state, store).await?
        } else {
            Vec::new()
        };
        Ok(Self {
            store,
            name: tenant.name.clone(),
            base: store_url(state, store),
            nav,
            theme,
        })
    }

    /// A page without the catalog's links (an error page must not depend
    /// on the reads that may have failed); the default theme if the
    /// store's cannot be read.
    pub(super) fn bare(state: &AppState, tenant: &TenantContext, theme: Arc<StoreTheme>) -> Self {
        Self {
            store: tenant.store_id,
            name: tenant.name.clone(),
            base: store_url(state, tenant.store_id),
            nav: Vec::new(),
            theme,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub(super) fn render(
        &self,
        template: &str,
        page: PageMeta,
        extra: Value,
    ) -> Result<String, PodError> {
        let [css, js] = themes::engine::assets();
        let settings = &self.theme.settings;
        let links: Vec<view::LinkView> = if settings.header_links.is_empty() {
            self.nav
                .iter()
                .map(|c| view::LinkView {
                    label: c.title.clone(),
                    url: format!("/collections/{}", c.handle),
                })
                .collect()
        } else {
            settings
                .header_links
                .iter()
                .map(view::LinkView::from)
                .collect()
        };
        let ctx = context! {
            store => context! { name => self.name.clone(), id => self.store.to_string() },
            assets => context! { css => css.path.clone(), js => js.path.clone() },
            nav => Value::from_serialize(&self.nav),
            theme => context! {
                colours => Value::from_serialize(&settings.colours),
                font => settings.font.stack(),
                logo_url => settings.logo_url.clone(),
                header_links => Value::from_serialize(&links),
                footer_links => Value::from_serialize(settings.footer_links.iter().map(view::LinkView::from).collect::<Vec<_>>()),
            },
            page => Value::from_serialize(&page),
            ..extra
        };
        self.theme.render(self.store, template, ctx).map_err(|e| {
            PodError::internal(format!("storefront template {template} failed: {e:#}"))
        })
    }
}

/// The store's first collections (cached under the catalog version).
async fn collections(state: &AppState, store: StoreId) -> Result<Vec<NavLink>, PodError> {
    let body = read::catalog_cached(state, store, "storefront_nav", "", || async {
        let page = crate::collections::sql::list(&state.db, store, None, NAV_COLLECTIONS).await?;
        let links: Vec<NavLink> = page
            .items
            .into_iter()
            .map(|c| NavLink {
                handle: c.handle,
                title: c.title,
            })
            .collect();
        serde_json::to_vec(&links)
            .map(Bytes::from)
            .map_err(PodError::internal)
    })
    .await?;
    serde_json::from_slice(&body).map_err(PodError::internal)
}

/// An HTML body with its ETag (`304` when the browser has it).
fn html(headers: &HeaderMap, body: Bytes, cache_control: &'static str) -> Response {
    let tag = read::etag(&body);
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| read::matches(v, &tag));
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], body).into_response()
    };
    let h = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&tag) {
        h.insert(header::ETAG, v);
    }
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(cache_control),
    );
    response
}

/// A page shared by every shopper.
fn shared(headers: &HeaderMap, body: Bytes) -> Response {
    html(headers, body, read::CACHE_CONTROL)
}

/// A page of one shopper's (`template` at `path`, titled `title`): the
/// store's theme, never indexed; the caller answers it with [`private`].
pub(super) async fn shoppers_page(
    state: &AppState,
    tenant: &TenantContext,
    template: &str,
    title: &str,
    path: &str,
    extra: Value,
) -> Result<String, PodError> {
    let theme = themes::for_store(&state.db, tenant.store_id, &tenant.name).await?;
    let frame = Frame::bare(state, tenant, theme);
    let meta = PageMeta {
        title: format!("{title} – {}", tenant.name),
        description: title.to_owned(),
        canonical: frame.url(path),
        noindex: true,
        ..PageMeta::default()
    };
    frame.render(template, meta, extra)
}

/// A page of one shopper's (the cart): never stored by a shared cache.
pub(super) fn private(body: String) -> Response {
    let mut response = ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], body).into_response();
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    response
}

/// The error page for `err`, with its status: a shopper sees what went
/// wrong in words and a way back, never a JSON body.
pub(super) fn error_page(state: &AppState, tenant: &TenantContext, err: PodError) -> Response {
    let err = err.into_api();
    let status = err.code.status();
    let (title, message) = match status {
        StatusCode::NOT_FOUND => (
            "Page not found".to_owned(),
            "The page you were looking for does not exist, or is no longer for sale.".to_owned(),
        ),
        s if s.is_client_error() => ("That did not work".to_owned(), err.message.clone()),
        _ => (
            "Something went wrong".to_owned(),
            "We could not show this page just now. Please try again in a moment.".to_owned(),
        ),
    };
    // No I/O here: the theme this process has, else the default.
    let frame = Frame::bare(state, tenant, themes::kept_or_default(tenant.store_id));
    let page = PageMeta {
        title: format!("{title} – {}", frame.name),
        description: title.clone(),
        canonical: frame.url("/"),
        noindex: true,
        ..PageMeta::default()
    };
    let body = frame
        .render(
            "error.html",
            page,
            context! { error => context! { status => status.as_u16(), title, message } },
        )
        .unwrap_or_else(|_| {
            format!(
                "<!doctype html><title>{}</title><h1>{}</h1>",
                status.as_u16(),
                status.as_u16()
            )
        });
    let mut response = private(body);
    *response.status_mut() = status;
    if status == StatusCode::SERVICE_UNAVAILABLE || status == StatusCode::TOO_MANY_REQUESTS {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("2"));
    }
    response
}

/// Answers `result`, or its error as a page.
fn or_error_page(
    state: &AppState,
    tenant: &TenantContext,
    result: Result<Response, PodError>,
) -> Response {
    result.unwrap_or_else(|e| error_page(state, tenant, e))
}

/// `GET /`: the home page.
pub async fn home(
    State(state): State<AppState>,
    tenant: TenantContext,
    headers: HeaderMap,
) -> Response {
    let result = async {
        let store = tenant.store_id;
        let theme = themes::for_store(&state.db, store, &tenant.name).await?;
        // One Redis round trip on a hit: the page's parts are read on a
        // miss only.
        let version = theme.version.clone();
        let body = read::catalog_cached(&state, store, "storefront_home", &version, || {
            home_page(&state, &tenant, theme.clone())
        })
        .await?;
        Ok(shared(&headers, body))
    }
    .await;
    or_error_page(&state, &tenant, result)
}

/// The home page as it would look with `settings`, a draft of the
/// store's theme settings (checked by the caller): the store's templates
/// and catalog, nothing saved, nothing cached. The admin's live preview.
pub async fn home_preview(
    state: &AppState,
    tenant: &TenantContext,
    settings: themes::ThemeSettings,
) -> Result<String, PodError> {
    let theme = themes::for_store(&state.db, tenant.store_id, &tenant.name).await?;
    let draft = Arc::new(theme.with_settings(settings));
    let page = home_page(state, tenant, draft).await?;
    String::from_utf8(page.to_vec()).map_err(PodError::internal)
}

/// The home page rendered with `theme`.
async fn home_page(
    state: &AppState,
    tenant: &TenantContext,
    theme: Arc<StoreTheme>,
) -> Result<Bytes, PodError> {
    let store = tenant.store_id;
    let frame = Frame::load(state, tenant, theme.clone()).await?;
    let home = &theme.settings.home;
    let cards: Vec<Card> = if home.show_new_arrivals {
        crate::catalog::list_products(
            &state.db,
            store,
            Some(ProductStatus::Active),
            None,
            HOME_PRODUCTS,
        )
        .await?
        .items
        .iter()
        .filter_map(Card::of)
        .collect()
    } else {
        Vec::new()
    };
    // The featured collections in the owner's order (those that
    // exist), else the store's first ones.
    let featured: Vec<NavLink> = if home.featured_collections.is_empty() {
        collections(state, store).await?
    } else {
        let mut found = Vec::new();
        for handle in &home.featured_collections {
            if let Ok(c) = crate::collections::collection_by_handle(&state.db, store, handle).await
            {
                found.push(NavLink {
                    handle: c.handle,
                    title: c.title,
                });
            }
        }
        found
    };
    let page = PageMeta {
        title: frame.name.clone(),
        description: format!("Shop {} online.", frame.name),
        canonical: frame.url("/"),
        json_ld: Some(view::script_json(&serde_json::json!({
            "@context": "https://schema.org",
            "@type": "WebSite",
            "name": frame.name,
            "url": frame.url("/"),
            "potentialAction": {
                "@type": "SearchAction",
                "target": frame.url("/search?q={query}"),
                "query-input": "required name=query",
            },
        }))),
        ..PageMeta::default()
    };
    let extra = context! { home => context! {
        heading => if home.heading.is_empty() { frame.name.clone() } else { home.heading.clone() },
        tagline => home.tagline.clone(),
        collections => Value::from_serialize(&featured),
        show_new_arrivals => home.show_new_arrivals,
        products => Value::from_serialize(&cards),
    }};
    frame.render("home.html", page, extra).map(Bytes::from)
}

/// `GET /products/{id}`: a product page, with stock badges and reviews.
pub async fn product(
    State(state): State<AppState>,
    tenant: TenantContext,
    headers: HeaderMap,
    Path(raw): Path<String>,
) -> Response {
    let result = async {
        let id: ProductId = raw.parse().map_err(|_| ApiError::not_found("product"))?;
        let store = tenant.store_id;
        let theme = themes::for_store(&state.db, store, &tenant.name).await?;
        let entry = Entry {
            kind: "storefront_product",
            key: keys::storefront_page(store, &format!("product:{id}:{}", theme.version)),
            version_key: Some(keys::product_version(store, id)),
            ttl: read::BADGE_TTL,
        };
        let body = state
            .cache
            .get_or_load(&entry, || async {
                let frame = Frame::load(&state, &tenant, theme.clone()).await?;
                let json = read::product_with_badges(&state, store, id).await?;
                let product: Product = serde_json::from_slice(&json).map_err(PodError::internal)?;
                let reviews = if product.rating.count > 0 {
                    crate::reviews::published(&state.db, store, id, None, None, PAGE_REVIEWS)
                        .await?
                } else {
                    Vec::new()
                };
                let view = ProductView::of(&product, &reviews)
                    .ok_or_else(|| ApiError::not_found("product"))?;
                let url = frame.url(&format!("/products/{id}"));
                let page = PageMeta {
                    title: format!("{} – {}", product.title, frame.name),
                    description: match view::meta_description(&product.description) {
                        d if d.is_empty() => format!("{} at {}", product.title, frame.name),
                        d => d,
                    },
                    canonical: url.clone(),
                    og_type: Some("product"),
                    image: product.images.first().map(|i| i.url.clone()),
                    json_ld: Some(view::product_json_ld(&product, &url)),
                    noindex: false,
                };
                frame
                    .render(
                        "product.html",
                        page,
                        context! { product => Value::from_serialize(&view) },
                    )
                    .map(Bytes::from)
            })
            .await?;
        Ok(shared(&headers, body))
    }
    .await;
    or_error_page(&state, &tenant, result)
}

/// The search sorts a list page offers, with their labels.
const SORTS: &[(&str, &str)] = &[
    ("relevance", "Relevance"),
    ("newest", "Newest"),
    ("price_asc", "Price, low to high"),
    ("price_desc", "Price, high to low"),
    ("best_selling", "Best selling"),
    ("rating", "Top rated"),
];

/// Query parameters a list page passes on to the search (filters, sort,
/// cursor), as the shopper sent them.
const LIST_PARAMS: &[&str] = &[
    "q",
    "vendor",
    "type",
    "tag",
    "option",
    "price_min",
    "price_max",
    "in_stock",
    "min_rating",
    "sort",
    "after",
    "collection",
    "category",
];

/// What a list page lists: the whole store (search), a collection, or a
/// category.
enum Scope {
    Search,
    Collection(crate::collections::Collection),
    Category(crate::categories::Category),
}

/// A facet on a list page.
#[derive(Serialize)]
struct FacetView {
    title: String,
    param: &'static str,
    values: Vec<FacetValueView>,
}

#[derive(Serialize)]
struct FacetValueView {
    value: String,
    label: String,
    count: i64,
    checked: bool,
}

#[derive(Serialize)]
struct Hidden {
    name: String,
    value: String,
}

#[derive(Serialize)]
struct SortView {
    value: &'static str,
    label: &'static str,
    selected: bool,
}

/// A URL of the list page with `pairs` as its query.
fn with_query(path: &str, pairs: &[(String, String)]) -> String {
    if pairs.is_empty() {
        return path.to_owned();
    }
    let query = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .finish();
    format!("{path}?{query}")
}

fn facets_of(found: &SearchResponse, chosen: &[(String, String)], scope: &Scope) -> Vec<FacetView> {
    let is_chosen = |param: &str, value: &str| chosen.iter().any(|(k, v)| k == param && v == value);
    let plain = |title: &str, param: &'static str, values: &[search::FacetValue]| FacetView {
        title: title.to_owned(),
        param,
        values: values
            .iter()
            .map(|v| FacetValueView {
                value: v.value.clone(),
                label: v.label.clone().unwrap_or_else(|| v.value.clone()),
                count: v.count,
                checked: is_chosen(param, &v.value),
            })
            .collect(),
    };
    let f = &found.facets;
    let mut out = Vec::new();
    if !matches!(scope, Scope::Collection(_)) && !f.collection.is_empty() {
        out.push(plain("Collection", "collection", &f.collection));
    }
    if !matches!(scope, Scope::Category(_)) && !f.category.is_empty() {
        out.push(plain("Category", "category", &f.category));
    }
    if !f.product_type.is_empty() {
        out.push(plain("Product type", "type", &f.product_type));
    }
    if !f.vendor.is_empty() {
        out.push(plain("Brand", "vendor", &f.vendor));
    }
    for (name, values) in &f.option {
        out.push(FacetView {
            title: name.clone(),
            param: "option",
            values: values
                .iter()
                .map(|v| {
                    let value = format!("{name}:{}", v.value);
                    FacetValueView {
                        checked: is_chosen("option", &value),
                        value,
                        label: v.value.clone(),
                        count: v.count,
                    }
                })
                .collect(),
        });
    }
    if f.in_stock.in_stock > 0 && f.in_stock.sold_out > 0 {
        out.push(FacetView {
            title: "Availability".to_owned(),
            param: "in_stock",
            values: vec![FacetValueView {
                value: "true".to_owned(),
                label: "In stock".to_owned(),
                count: f.in_stock.in_stock,
                checked: is_chosen("in_stock", "true"),
            }],
        });
    }
    out.retain(|facet| !facet.values.is_empty());
    out
}

/// A list page: search results, or a collection's or category's products,
/// with facets, a sort and a next page.
async fn list_page(
    state: &AppState,
    tenant: &TenantContext,
    scope: Scope,
    sent: Vec<(String, String)>,
) -> Result<String, PodError> {
    let store = tenant.store_id;
    let theme = themes::for_store(&state.db, store, &tenant.name).await?;
    let frame = &Frame::load(state, tenant, theme).await?;
    // Only the parameters a list page knows go on (and into the cache key).
    let mut pairs: Vec<(String, String)> = sent
        .into_iter()
        .filter(|(k, v)| LIST_PARAMS.contains(&k.as_str()) && !v.trim().is_empty())
        .filter(|(k, _)| {
            !matches!(
                (&scope, k.as_str()),
                (Scope::Collection(_), "collection") | (Scope::Category(_), "category")
            )
        })
        .collect();
    let (path, heading, description, scope_pair) = match &scope {
        Scope::Search => {
            let q = pairs.iter().find(|(k, _)| k == "q").map(|(_, v)| v.clone());
            let heading = match &q {
                Some(q) => format!("Results for “{q}”"),
                None => "All products".to_owned(),
            };
            ("/search".to_owned(), heading, String::new(), None)
        }
        Scope::Collection(c) => (
            format!("/collections/{}", c.handle),
            c.title.clone(),
            c.description.clone(),
            Some(("collection".to_owned(), c.id.to_string())),
        ),
        Scope::Category(c) => (
            format!("/categories/{}", c.handle),
            c.name.clone(),
            String::new(),
            Some(("category".to_owned(), c.id.to_string())),
        ),
    };
    let mut query = pairs.clone();
    query.extend(scope_pair.clone());
    query.push(("limit".to_owned(), LIST_PAGE.to_string()));
    let digest = search::digest(&format!(
        "storefront|{}|{path}|{query:?}",
        frame.theme.version
    ));
    let frame_name = frame.name.clone();
    search::cached(state, store, &digest, || async {
        let json = search::search_json(state, store, tenant.currency, &query).await?;
        let found: SearchResponse = serde_json::from_str(&json).map_err(PodError::internal)?;
        let ids: Vec<ProductId> = found.items.iter().map(|i| i.id).collect();
        let mut products =
            crate::catalog::get_products(&state.db, store, &ids, Some(ProductStatus::Active))
                .await?;
        let mut cards = Vec::with_capacity(ids.len());
        for item in &found.items {
            if let Some(i) = products.iter().position(|p| p.id == item.id) {
                let p = products.swap_remove(i);
                if let Some(mut card) = Card::of(&p) {
                    card.sold_out = !item.in_stock;
                    cards.push(card);
                }
            }
        }
        let facets = facets_of(&found, &pairs, &scope);
        let sort_now = pairs
            .iter()
            .find(|(k, _)| k == "sort")
            .map(|(_, v)| v.clone());
        let has_q = pairs.iter().any(|(k, _)| k == "q");
        let sorts: Vec<SortView> = SORTS
            .iter()
            .filter(|(v, _)| has_q || *v != "relevance")
            .map(|&(value, label)| SortView {
                value,
                label,
                selected: sort_now.as_deref() == Some(value),
            })
            .collect();
        let next = found.next_cursor.as_ref().map(|cursor| {
            let mut next: Vec<(String, String)> = pairs
                .iter()
                .filter(|(k, _)| k != "after")
                .cloned()
                .collect();
            next.push(("after".to_owned(), cursor.clone()));
            with_query(&path, &next)
        });
        let keep = |drop: &[&str]| -> Vec<Hidden> {
            pairs
                .iter()
                .filter(|(k, _)| !drop.contains(&k.as_str()))
                .map(|(k, v)| Hidden {
                    name: k.clone(),
                    value: v.clone(),
                })
                .collect()
        };
        // The facet form sends the facets anew; the sort form keeps them.
        let facet_params = [
            "vendor",
            "type",
            "tag",
            "option",
            "in_stock",
            "collection",
            "category",
            "after",
        ];
        let hidden = keep(&facet_params);
        let sort_hidden = keep(&["sort", "after"]);
        let filtered = pairs
            .iter()
            .any(|(k, _)| facet_params.contains(&k.as_str()) && k != "after");
        let clear = filtered.then(|| {
            with_query(
                &path,
                &keep(&facet_params)
                    .into_iter()
                    .map(|h| (h.name, h.value))
                    .collect::<Vec<_>>(),
            )
        });
        pairs.retain(|(k, _)| k != "after");
        let canonical = frame.url(&with_query(&path, &pairs));
        let page = PageMeta {
            title: format!("{heading} – {frame_name}"),
            description: if description.is_empty() {
                format!("{heading} at {frame_name}")
            } else {
                view::meta_description(&description)
            },
            canonical,
            // Search results are not pages for search engines.
            noindex: matches!(scope, Scope::Search),
            ..PageMeta::default()
        };
        let list = context! {
            heading,
            description,
            corrected => found.corrected_query.clone(),
            total => found.total,
            items => Value::from_serialize(&cards),
            facets => Value::from_serialize(&facets),
            hidden => Value::from_serialize(&hidden),
            sort_hidden => Value::from_serialize(&sort_hidden),
            sorts => Value::from_serialize(&sorts),
            action => path.clone(),
            next,
            clear,
            empty => "No products match. Try fewer filters or other words.",
        };
        let q = pairs.iter().find(|(k, _)| k == "q").map(|(_, v)| v.clone());
        frame.render("list.html", page, context! { list, query => q })
    })
    .await
}

/// `GET /search`: search results with facets.
pub async fn search_page(
    State(state): State<AppState>,
    tenant: TenantContext,
    headers: HeaderMap,
    ApiQuery(pairs): ApiQuery<Vec<(String, String)>>,
) -> Response {
    let result = async {
        let body = list_page(&state, &tenant, Scope::Search, pairs).await?;
        Ok(shared(&headers, Bytes::from(body)))
    }
    .await;
    or_error_page(&state, &tenant, result)
}

/// `GET /collections/{handle}`: a collection's products.
pub async fn collection_page(
    State(state): State<AppState>,
    tenant: TenantContext,
    headers: HeaderMap,
    Path(handle): Path<String>,
    ApiQuery(pairs): ApiQuery<Vec<(String, String)>>,
) -> Response {
    let result = async {
        let collection =
            crate::collections::collection_by_handle(&state.db, tenant.store_id, &handle).await?;
        let scope = Scope::Collection(collection);
        let body = list_page(&state, &tenant, scope, pairs).await?;
        Ok(shared(&headers, Bytes::from(body)))
    }
    .await;
    or_error_page(&state, &tenant, result)
}

/// `GET /categories/{handle}`: a category's products (its subcategories'
/// included).
pub async fn category_page(
    State(state): State<AppState>,
    tenant: TenantContext,
    headers: HeaderMap,
    Path(handle): Path<String>,
    ApiQuery(pairs): ApiQuery<Vec<(String, String)>>,
) -> Response {
    let result = async {
        let category =
            crate::categories::category_by_handle(&state.db, tenant.store_id, &handle).await?;
        let body = list_page(&state, &tenant, Scope::Category(category), pairs).await?;
        Ok(shared(&headers, Bytes::from(body)))
    }
    .await;
    or_error_page(&state, &tenant, result)
}

/// `GET /assets/{file}`: the theme's CSS and script, content-addressed:
/// cached for a year, never revalidated.
pub async fn asset(Path(file): Path<String>) -> Response {
    match themes::engine::asset(&format!("/assets/{file}")) {
        Some(asset) => (
            [
                (header::CONTENT_TYPE, asset.content_type),
                (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
            ],
            asset.body.clone(),
        )
            .into_response(),
        None => ApiError::new(ErrorCode::NotFound, "no such asset").into_response(),
    }
}

/// `GET /robots.txt`: everything may be crawled but the cart, the search
/// results and the API; the sitemap says where the pages are.
pub async fn robots(State(state): State<AppState>, tenant: TenantContext) -> Response {
    let base = store_url(&state, tenant.store_id);
    let body = format!(
        "User-agent: *\nDisallow: /cart\nDisallow: /search\nDisallow: /api/\nDisallow: /admin/\n\nSitemap: {base}/sitemap.xml\n"
    );
    (
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        body,
    )
        .into_response()
}

/// Most URLs in one sitemap (the protocol's limit).
const SITEMAP_URLS: u32 = 50_000;

/// `GET /sitemap.xml`: the home page, every active product, collection and
/// category (cached under the catalog version).
pub async fn sitemap(
    State(state): State<AppState>,
    tenant: TenantContext,
    headers: HeaderMap,
) -> Response {
    let store = tenant.store_id;
    let result = async {
        let body = read::catalog_cached(&state, store, "storefront_sitemap", "", || async {
            let base = store_url(&state, store);
            let entries = super::sql::sitemap_entries(&state.db, store, SITEMAP_URLS).await?;
            let mut xml = String::from(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<urlset xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\">\n",
            );
            let mut url = |path: &str, lastmod: Option<chrono::DateTime<chrono::Utc>>| {
                xml.push_str("<url><loc>");
                xml.push_str(&mercato_tenants::text::escape_html(&format!("{base}{path}")));
                xml.push_str("</loc>");
                if let Some(at) = lastmod {
                    xml.push_str(&format!("<lastmod>{}</lastmod>", at.format("%Y-%m-%d")));
                }
                xml.push_str("</url>\n");
            };
            url("/", None);
            for (path, at) in &entries {
                url(path, Some(*at));
            }
            xml.push_str("</urlset>\n");
            Ok(Bytes::from(xml))
        })
        .await?;
        let mut response = shared(&headers, body);
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/xml; charset=utf-8"),
        );
        Ok(response)
    }
    .await;
    result.unwrap_or_else(|e: PodError| e.into_response())
}

/// How long a shopper's cart count cookie lives: as long as a guest cart.
pub(super) fn count_cookie(count: i64, max_age: Duration) -> HeaderValue {
    let value = format!(
        "{}={count}; Path=/; Max-Age={}; SameSite=Lax",
        super::CART_COUNT_COOKIE,
        max_age.as_secs()
    );
    HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static("x=0"))
}
