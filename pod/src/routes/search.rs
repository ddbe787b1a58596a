//! Shopper search endpoints: `GET /api/search`, `GET /api/search/suggest`.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::OnceLock;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use mercato_tenants::http::ApiQuery;
use mercato_tenants::{Money, ProductId, StoreId};
use serde::Serialize;
use sha2::{Digest as _, Sha256};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::error::PodError;
use crate::keys;
use crate::reviews::RatingSummary;
use crate::search::query::{parse_search, parse_suggest, price_bucket, Sort, PRICE_EDGES};
use crate::search::sql::{self, Counts, Hit};
use crate::state::AppState;
use crate::tenancy::TenantContext;

/// How long a cached response lives. Entries never go stale (a catalog
/// write moves the store to a new generation); this only bounds memory.
const CACHE_TTL_SECS: u64 = 300;
/// Most values listed per facet.
const FACET_VALUES: usize = 50;
/// Searches computed at once per process (cache hits do not count): one per
/// core. Uncached searches are CPU-bound in Postgres on the same cores;
/// more at once only share them, lengthening every one, while each holds a
/// pooled connection the cheap requests (cache lookups, carts) then wait
/// for. Waiting searches hold none.
fn slots() -> &'static tokio::sync::Semaphore {
    static SLOTS: OnceLock<tokio::sync::Semaphore> = OnceLock::new();
    SLOTS.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        tokio::sync::Semaphore::new(cores.clamp(1, 16))
    })
}

/// The search API, each route registered with its OpenAPI description.
pub fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::default()
        .routes(routes!(search))
        .routes(routes!(suggest))
}

/// A search's `sort`, in the document: one of [`Sort::ALL`].
pub struct SortName;

impl utoipa::PartialSchema for SortName {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .enum_values(Some(Sort::ALL.iter().map(|s| s.as_str())))
            .into()
    }
}

impl utoipa::ToSchema for SortName {}

/// One active product matching a search.
#[derive(Serialize, utoipa::ToSchema)]
pub struct SearchItem {
    id: ProductId,
    title: String,
    vendor: String,
    product_type: String,
    /// The lowest variant price: what price filters and sorts use.
    price_min: Money,
    price_max: Money,
    /// Some variant has units on hand.
    in_stock: bool,
    /// Its published reviews' average and count.
    rating: RatingSummary,
}

/// A facet value and how many products have it.
#[derive(Serialize, utoipa::ToSchema)]
pub struct FacetValue {
    /// What to pass back as the filter value (an id for collections and
    /// categories).
    value: String,
    /// A collection's title or a category's name.
    #[serde(skip_serializing_if = "Option::is_none")]
    label: Option<String>,
    count: i64,
}

/// Products whose lowest price is in `[min, max)`; `max` is null for the
/// last bucket.
#[derive(Serialize, utoipa::ToSchema)]
pub struct PriceBucket {
    min: i64,
    max: Option<i64>,
    count: i64,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct StockCounts {
    #[serde(rename = "true")]
    in_stock: i64,
    #[serde(rename = "false")]
    sold_out: i64,
}

/// Counts over the results, each facet with the other facets' filters
/// applied but not its own (so choosing one vendor still lists the others).
#[derive(Serialize, utoipa::ToSchema)]
pub struct Facets {
    vendor: Vec<FacetValue>,
    product_type: Vec<FacetValue>,
    tag: Vec<FacetValue>,
    /// Per option name (`Size`), its values; filter with `option=Size:M`.
    option: BTreeMap<String, Vec<FacetValue>>,
    collection: Vec<FacetValue>,
    /// Counts include products of descendant categories.
    category: Vec<FacetValue>,
    price: Vec<PriceBucket>,
    in_stock: StockCounts,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct SearchResponse {
    items: Vec<SearchItem>,
    facets: Facets,
    /// Products matching the query and every filter.
    total: i64,
    /// Pass as `after` for the next page; null on the last page.
    next_cursor: Option<String>,
    /// Set when misspelled words of `q` were corrected to find results.
    #[serde(skip_serializing_if = "Option::is_none")]
    corrected_query: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Suggestion {
    product_id: ProductId,
    title: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct SuggestResponse {
    suggestions: Vec<Suggestion>,
}

/// Searches the store's active products.
///
/// `q` matches words of titles (ranked highest), vendors, types, tags, SKUs,
/// option values and descriptions; its last word also as a prefix. When
/// nothing matches, misspelled words are corrected (`shrit` finds `shirt`),
/// then trigram similarity is tried. Repeated values of one filter are
/// alternatives; different filters all apply.
#[utoipa::path(get, path = "/api/search", tag = "search",
    params(
        ("q" = Option<String>, Query, description = "words, at most 200 characters", max_length = 200),
        ("collection" = Option<mercato_tenants::CollectionId>, Query, description = "collection id (repeatable)"),
        ("category" = Option<mercato_tenants::CategoryId>, Query, description = "category id, descendants included (repeatable)"),
        ("vendor" = Option<String>, Query, description = "1 to 255 characters, not only white space (repeatable, up to 20 times)", max_length = 255, pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\u0000-\u0020\u007F-\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000][^\u0000-\u001F\u007F-\u009F]*$"),
        ("type" = Option<String>, Query, description = "product type, 1 to 255 characters, not only white space (repeatable, up to 20 times)", max_length = 255, pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\u0000-\u0020\u007F-\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000][^\u0000-\u001F\u007F-\u009F]*$"),
        ("tag" = Option<String>, Query, description = "1 to 255 characters, not only white space (repeatable, up to 20 times)", max_length = 255, pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\u0000-\u0020\u007F-\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000][^\u0000-\u001F\u007F-\u009F]*$"),
        ("option" = Option<String>, Query, description = "`Name:Value`, e.g. `Size:M`: a name without `:` or `=` and a value, neither blank, 255 characters together (repeatable, up to 20 times)", max_length = 256, pattern = r"^[^:=\u0000-\u001F\u007F-\u009F]*[^:=\u0000-\u0020\u007F-\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000][^:=\u0000-\u001F\u007F-\u009F]*:[^\u0000-\u001F\u007F-\u009F]*[^\u0000-\u0020\u007F-\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000][^\u0000-\u001F\u007F-\u009F]*$"),
        ("price_min" = Option<i64>, Query, description = "minor units, inclusive", minimum = 0, maximum = 1_000_000_000_000_i64),
        ("price_max" = Option<i64>, Query, description = "minor units, inclusive, not below price_min", minimum = 0, maximum = 1_000_000_000_000_i64),
        ("in_stock" = Option<bool>, Query),
        ("min_rating" = Option<u8>, Query, description = "products whose average rating (two decimals) is at least this many stars", minimum = 1, maximum = 5),
        ("sort" = inline(Option<SortName>), Query, description = "relevance (default with q), price_asc, price_desc, newest (default without q), best_selling, rating (highest average first, then most reviews)"),
        ("limit" = Option<u32>, Query, description = "1 to 100, default 20", minimum = 1, maximum = 100),
        ("after" = Option<String>, Query, description = "next_cursor of the previous page with the same sort (`400` for any other value)", max_length = 256, pattern = r"^(?:[0-9a-fA-F]{2})+$"),
    ),
    responses((status = 200, body = SearchResponse),
        (status = 400, description = "A malformed query, `after` not a `next_cursor` of this sort, or `price_min` above `price_max` (`invalid_request`)", body = mercato_tenants::error::ErrorBody)))]
async fn search(
    State(state): State<AppState>,
    tenant: TenantContext,
    ApiQuery(pairs): ApiQuery<Vec<(String, String)>>,
) -> Result<Response, PodError> {
    let params = parse_search(&pairs)?;
    let digest = digest(&format!("search|{}|{params:?}", tenant.currency));
    let store_id = tenant.store_id;
    cached(&state, store_id, &digest, || async {
        let _slot = slots().acquire().await.map_err(PodError::internal)?;
        let db = &state.db;
        let (hits, next, counts, corrected) = if params.words.is_empty() {
            let (hits, next) = sql::page(db, store_id, &sql::TextMatch::All, &params).await?;
            let counts = sql::browse_counts(db, store_id, &params).await?;
            (hits, next, counts, None)
        } else {
            let (found, corrected) = sql::search_words(db, store_id, &params).await?;
            (found.hits, found.next, found.counts, corrected)
        };
        let facets = facets(&state, store_id, &counts).await?;
        let response = SearchResponse {
            items: hits
                .into_iter()
                .map(|h: Hit| SearchItem {
                    id: h.id,
                    title: h.title,
                    vendor: h.vendor,
                    product_type: h.product_type,
                    price_min: Money::new(h.price_min, tenant.currency),
                    price_max: Money::new(h.price_max, tenant.currency),
                    in_stock: h.in_stock,
                    rating: RatingSummary::new(h.rating_centi, h.rating_count),
                })
                .collect(),
            facets,
            total: counts.total,
            next_cursor: next.map(|c| c.encode()),
            corrected_query: corrected.map(|w| w.join(" ")),
        };
        serde_json::to_string(&response).map_err(PodError::internal)
    })
    .await
}

/// Up to 10 product titles for a search box, as the shopper types.
#[utoipa::path(get, path = "/api/search/suggest", tag = "search",
    params(("q" = String, Query, description = "what was typed so far, 1 to 200 characters", min_length = 1, max_length = 200, pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\u0000-\u0020\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$")),
    responses((status = 200, body = SuggestResponse), (status = 400, body = mercato_tenants::error::ErrorBody)))]
async fn suggest(
    State(state): State<AppState>,
    tenant: TenantContext,
    ApiQuery(pairs): ApiQuery<Vec<(String, String)>>,
) -> Result<Response, PodError> {
    let q = parse_suggest(&pairs)?;
    let digest = digest(&format!("suggest|{q}"));
    let store_id = tenant.store_id;
    cached(&state, store_id, &digest, || async {
        let _slot = slots().acquire().await.map_err(PodError::internal)?;
        let rows = sql::suggest(&state.db, store_id, &q).await?;
        let response = SuggestResponse {
            suggestions: rows
                .into_iter()
                .map(|(product_id, title)| Suggestion { product_id, title })
                .collect(),
        };
        serde_json::to_string(&response).map_err(PodError::internal)
    })
    .await
}

fn digest(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

fn json(body: String) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// Serves a response body from the Redis cache of the store's current
/// search generation, or computes and stores it. Redis trouble only costs
/// the cache.
async fn cached<F, Fut>(
    state: &AppState,
    store_id: StoreId,
    digest: &str,
    compute: F,
) -> Result<Response, PodError>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<String, PodError>>,
{
    let generation = sql::generation(&state.db, store_id).await?;
    let key = keys::search_cache(store_id, generation, digest);
    let mut conn = match state.redis.connection().await {
        Ok(c) => Some(c),
        Err(e) => {
            tracing::warn!(error = %e, "search cache unavailable");
            None
        }
    };
    if let Some(c) = conn.as_mut() {
        match redis::cmd("GET")
            .arg(&key)
            .query_async::<Option<String>>(c)
            .await
        {
            Ok(Some(body)) => return Ok(json(body)),
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(error = %e, "search cache read failed");
                state.redis.failed();
                conn = None;
            }
        }
    }
    let body = compute().await?;
    if let Some(c) = conn.as_mut() {
        if let Err(e) = redis::cmd("SET")
            .arg(&key)
            .arg(&body)
            .arg("EX")
            .arg(CACHE_TTL_SECS)
            .query_async::<()>(c)
            .await
        {
            tracing::warn!(error = %e, "search cache write failed");
            state.redis.failed();
        }
    }
    Ok(json(body))
}

fn sorted(mut values: Vec<FacetValue>) -> Vec<FacetValue> {
    values.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.value.cmp(&b.value)));
    values.truncate(FACET_VALUES);
    values
}

/// Shapes facet token counts into the response's facets.
async fn facets(state: &AppState, store_id: StoreId, counts: &Counts) -> Result<Facets, PodError> {
    let mut vendor = Vec::new();
    let mut product_type = Vec::new();
    let mut tag = Vec::new();
    let mut option: BTreeMap<String, Vec<FacetValue>> = BTreeMap::new();
    let mut collection = Vec::new();
    let mut category = Vec::new();
    let value = |v: &str, count: i64| FacetValue {
        value: v.to_owned(),
        label: None,
        count,
    };
    for (token, &count) in &counts.tokens {
        let Some((kind, rest)) = token.split_once(':') else {
            continue;
        };
        match kind {
            "vendor" => vendor.push(value(rest, count)),
            "type" => product_type.push(value(rest, count)),
            "tag" => tag.push(value(rest, count)),
            "col" => collection.push(value(rest, count)),
            "cat" => category.push(value(rest, count)),
            "opt" => {
                if let Some((name, v)) = rest.split_once('=') {
                    option
                        .entry(name.to_owned())
                        .or_default()
                        .push(value(v, count));
                }
            }
            _ => {}
        }
    }
    let (collection, category) = (sorted(collection), sorted(category));
    let ids = |list: &[FacetValue]| -> Vec<Uuid> {
        list.iter().filter_map(|f| f.value.parse().ok()).collect()
    };
    let labels = sql::labels(&state.db, store_id, &ids(&collection), &ids(&category)).await?;
    let labelled = |list: Vec<FacetValue>| -> Vec<FacetValue> {
        list.into_iter()
            .map(|mut f| {
                f.label = f
                    .value
                    .parse::<Uuid>()
                    .ok()
                    .and_then(|id| labels.get(&id).cloned());
                f
            })
            .collect()
    };
    let price = (0..PRICE_EDGES.len())
        .filter_map(|i| {
            price_bucket(i).map(|(min, max)| PriceBucket {
                min,
                max,
                count: counts.price.get(&i).copied().unwrap_or(0),
            })
        })
        .collect();
    Ok(Facets {
        vendor: sorted(vendor),
        product_type: sorted(product_type),
        tag: sorted(tag),
        option: option.into_iter().map(|(k, v)| (k, sorted(v))).collect(),
        collection: labelled(collection),
        category: labelled(category),
        price,
        in_stock: StockCounts {
            in_stock: counts.in_stock,
            sold_out: counts.out_of_stock,
        },
    })
}
