//! Search answers as the API serves them (and the storefront renders):
//! the shapes of `GET /api/search` and `/api/search/suggest`, computed and
//! cached in Redis under the store's search generation.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::OnceLock;

use mercato_tenants::{Currency, Money, ProductId, StoreId};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use uuid::Uuid;

use super::query::{parse_search, parse_suggest, price_bucket, Sort, PRICE_EDGES};
use super::sql::{self, Counts, Hit};
use crate::error::PodError;
use crate::keys;
use crate::state::AppState;

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
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
pub struct SearchItem {
    pub id: ProductId,
    pub title: String,
    pub vendor: String,
    pub product_type: String,
    /// The lowest variant price: what price filters and sorts use.
    pub price_min: Money,
    pub price_max: Money,
    /// Some variant has units on hand.
    pub in_stock: bool,
    /// Its published reviews' average and count.
    pub rating: RatingSummary,
}

/// A facet value and how many products have it.
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
pub struct FacetValue {
    /// What to pass back as the filter value (an id for collections and
    /// categories).
    pub value: String,
    /// A collection's title or a category's name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    pub count: i64,
}

/// Products whose lowest price is in `[min, max)`; `max` is null for the
/// last bucket.
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
pub struct PriceBucket {
    pub min: i64,
    pub max: Option<i64>,
    pub count: i64,
}

#[derive(Serialize, Deserialize, utoipa::ToSchema)]
pub struct StockCounts {
    #[serde(rename = "true")]
    pub in_stock: i64,
    #[serde(rename = "false")]
    pub sold_out: i64,
}

/// Counts over the results, each facet with the other facets' filters
/// applied but not its own (so choosing one vendor still lists the others).
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
pub struct Facets {
    pub vendor: Vec<FacetValue>,
    pub product_type: Vec<FacetValue>,
    pub tag: Vec<FacetValue>,
    /// Per option name (`Size`), its values; filter with `option=Size:M`.
    pub option: BTreeMap<String, Vec<FacetValue>>,
    pub collection: Vec<FacetValue>,
    /// Counts include products of descendant categories.
    pub category: Vec<FacetValue>,
    pub price: Vec<PriceBucket>,
    pub in_stock: StockCounts,
}

#[derive(Serialize, Deserialize, utoipa::ToSchema)]
pub struct SearchResponse {
    pub items: Vec<SearchItem>,
    pub facets: Facets,
    /// Products matching the query and every filter.
    pub total: i64,
    /// Pass as `after` for the next page; null on the last page.
    pub next_cursor: Option<String>,
    /// Set when misspelled words of `q` were corrected to find results.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub corrected_query: Option<String>,
}

#[derive(Serialize, Deserialize, utoipa::ToSchema)]
pub struct Suggestion {
    pub product_id: ProductId,
    pub title: String,
}

#[derive(Serialize, Deserialize, utoipa::ToSchema)]
pub struct SuggestResponse {
    pub suggestions: Vec<Suggestion>,
}

/// A product's rating in a search result: its average and count.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RatingSummary {
    /// As in a product's `rating`: two decimals, `null` without reviews.
    pub average: Option<f64>,
    pub count: i64,
}

impl RatingSummary {
    /// From the search document's average in hundredths (rounded half up
    /// by the reviews' own rule when the document was written).
    pub fn new(centi: i64, count: i64) -> Self {
        Self {
            average: (count > 0).then(|| centi as f64 / 100.0),
            count,
        }
    }
}

/// The body of `GET /api/search` for the query `pairs` (cached).
pub async fn search_json(
    state: &AppState,
    store_id: StoreId,
    currency: Currency,
    pairs: &[(String, String)],
) -> Result<String, PodError> {
    let params = parse_search(pairs)?;
    let digest = digest(&format!("search|{currency}|{params:?}"));
    cached(state, store_id, &digest, || async {
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
        let facets = facets(state, store_id, &counts).await?;
        let response = SearchResponse {
            items: hits
                .into_iter()
                .map(|h: Hit| SearchItem {
                    id: h.id,
                    title: h.title,
                    vendor: h.vendor,
                    product_type: h.product_type,
                    price_min: Money::new(h.price_min, currency),
                    price_max: Money::new(h.price_max, currency),
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

/// The body of `GET /api/search/suggest` for the query `pairs` (cached).
pub async fn suggest_json(
    state: &AppState,
    store_id: StoreId,
    pairs: &[(String, String)],
) -> Result<String, PodError> {
    let q = parse_suggest(pairs)?;
    let digest = digest(&format!("suggest|{q}"));
    cached(state, store_id, &digest, || async {
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

pub fn digest(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

/// A body from the Redis cache of the store's current search generation
/// (under `digest`, which names the query), or computed and stored. Redis
/// trouble only costs the cache. Any read that shows search results (the
/// storefront's pages too) is cached here, so a catalog write retires it.
pub async fn cached<F, Fut>(
    state: &AppState,
    store_id: StoreId,
    digest: &str,
    compute: F,
) -> Result<String, PodError>
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
            Ok(Some(body)) => return Ok(body),
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
    Ok(body)
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
