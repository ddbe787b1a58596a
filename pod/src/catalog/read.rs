//! Shopper reads of the catalog, through the cache.
//!
//! A product's body (without stock) is cached under its version; its stock
//! badges are cached apart for [`BADGE_TTL`] only, so a badge never lags
//! more than a few seconds while the body can stay until the next edit.
//! Responses carry an ETag and a short `Cache-Control`, so a CDN or a
//! browser can revalidate cheaply.

use std::time::Duration;

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use mercato_tenants::{ApiError, ProductId, StoreId, VariantId};
use sha2::{Digest, Sha256};

use super::model::{Product, ProductStatus};
use super::sql;
use crate::cache::Entry;
use crate::error::PodError;
use crate::inventory::{self, Badge};
use crate::keys;
use crate::state::AppState;

/// How long a product's view with its stock badges is cached.
pub const BADGE_TTL: Duration = Duration::from_secs(2);
/// What shoppers' browsers and CDNs are told. Together with [`BADGE_TTL`]
/// a badge is at most five seconds old.
pub const CACHE_CONTROL: &str = "public, max-age=3, stale-while-revalidate=30";

fn to_json(value: &impl serde::Serialize) -> Result<Bytes, PodError> {
    serde_json::to_vec(value)
        .map(Bytes::from)
        .map_err(PodError::internal)
}

/// The body of an active product as shoppers see it, without badges.
pub async fn product_body(
    state: &AppState,
    store: StoreId,
    product: ProductId,
) -> Result<Bytes, PodError> {
    let entry = Entry {
        kind: "product",
        key: keys::product_body(store, product),
        version_key: Some(keys::product_version(store, product)),
        ttl: Duration::from_secs(state.config.catalog.product_cache_ttl_secs),
    };
    state
        .cache
        .get_or_load(&entry, || async {
            let found = sql::get_product(&state.db, store, product, Some(ProductStatus::Active))
                .await?
                .ok_or_else(|| ApiError::not_found("product"))?;
            to_json(&found)
        })
        .await
}

/// An active product with the stock badge of each variant, as shoppers get
/// it. The whole view is cached for [`BADGE_TTL`] under the product's
/// version: a hit is one Redis round trip and no JSON work; an edit retires
/// it at once, a stock change within [`BADGE_TTL`]. Behind it, the body
/// without badges stays cached until the next edit.
pub async fn product_with_badges(
    state: &AppState,
    store: StoreId,
    product: ProductId,
) -> Result<Bytes, PodError> {
    let entry = Entry {
        kind: "product_view",
        key: keys::product_view(store, product),
        version_key: Some(keys::product_version(store, product)),
        ttl: BADGE_TTL,
    };
    state
        .cache
        .get_or_load(&entry, || async {
            let body = product_body(state, store, product).await?;
            let mut found: Product = serde_json::from_slice(&body).map_err(PodError::internal)?;
            let ids: Vec<VariantId> = found.variants.iter().map(|v| v.id).collect();
            let levels = inventory::levels(&state.db, store, &ids).await?;
            for v in &mut found.variants {
                v.availability = Some(levels.get(&v.id).map_or(Badge::SoldOut, |l| l.badge()));
            }
            to_json(&found)
        })
        .await
}

/// A page of active products, newest first, cached under the store's
/// catalog version.
pub async fn product_page(
    state: &AppState,
    store: StoreId,
    after: Option<ProductId>,
    limit: u32,
) -> Result<Bytes, PodError> {
    let query = format!(
        "{limit}:{}",
        after.map(|a| a.to_string()).unwrap_or_default()
    );
    catalog_cached(state, store, "products", &query, || async {
        let page =
            sql::list_products(&state.db, store, Some(ProductStatus::Active), after, limit).await?;
        to_json(&page)
    })
    .await
}

/// A shopper read of the store's catalog as a whole (a collection, a page
/// of a list, the category tree), cached under the store's catalog version:
/// any catalog edit in the store retires it. `query` names the read (its
/// parameters, user input included: it is hashed into the key).
pub async fn catalog_cached<F, Fut>(
    state: &AppState,
    store: StoreId,
    list: &str,
    query: &str,
    load: F,
) -> Result<Bytes, PodError>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<Bytes, PodError>>,
{
    let digest = Sha256::digest(query.as_bytes());
    let hashed = hex::encode(&digest[..16]);
    let entry = Entry {
        kind: "catalog_page",
        key: keys::catalog_page(store, list, &hashed),
        version_key: Some(keys::catalog_version(store)),
        ttl: Duration::from_secs(state.config.catalog.product_cache_ttl_secs),
    };
    state.cache.get_or_load(&entry, load).await
}

/// A shopper read through [`catalog_cached`], answered by [`respond`]:
/// on a miss, `load` gives the value the body serializes.
pub async fn cached_json<T, F, Fut>(
    state: &AppState,
    store: StoreId,
    headers: &HeaderMap,
    list: &str,
    query: &str,
    load: F,
) -> Result<Response, PodError>
where
    T: serde::Serialize,
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<T, PodError>>,
{
    let body = catalog_cached(state, store, list, query, || async {
        to_json(&load().await?)
    })
    .await?;
    Ok(respond(headers, body))
}

/// The strong ETag of a body.
pub fn etag(body: &[u8]) -> String {
    let digest = Sha256::digest(body);
    let hex = hex::encode(&digest[..16]);
    format!("\"{hex}\"")
}

/// Whether an `If-None-Match` header names `etag`.
pub fn matches(if_none_match: &str, etag: &str) -> bool {
    if_none_match.trim() == "*"
        || if_none_match
            .split(',')
            .map(|t| t.trim().trim_start_matches("W/"))
            .any(|t| t == etag)
}

/// A JSON body with its ETag and Cache-Control, or `304 Not Modified` if
/// the client already has it.
pub fn respond(headers: &HeaderMap, body: Bytes) -> Response {
    let tag = etag(&body);
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| matches(v, &tag));
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        ([(header::CONTENT_TYPE, "application/json")], body).into_response()
    };
    let h = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&tag) {
        h.insert(header::ETAG, v);
    }
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(CACHE_CONTROL),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etags_match_conditional_requests() {
        let tag = etag(b"{}");
        assert_eq!(tag.len(), 34);
        assert!(matches(&tag, &tag));
        assert!(matches(&format!("\"x\", W/{tag}"), &tag));
        assert!(matches("*", &tag));
        assert!(!matches("\"other\"", &tag));
        assert_ne!(etag(b"{}"), etag(b"[]"));
    }
}
