//! Shopper search endpoints: `GET /api/search`, `GET /api/search/suggest`
//! (their answers are computed in [`crate::search::response`]).

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use mercato_tenants::http::ApiQuery;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::PodError;
use crate::search::response::{self, SearchResponse, SortName, SuggestResponse};
use crate::state::AppState;
use crate::tenancy::TenantContext;

/// The search API, each route registered with its OpenAPI description.
pub fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::default()
        .routes(routes!(search))
        .routes(routes!(suggest))
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
    response::search_json(&state, tenant.store_id, tenant.currency, &pairs)
        .await
        .map(json)
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
    response::suggest_json(&state, tenant.store_id, &pairs)
        .await
        .map(json)
}

fn json(body: String) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}
