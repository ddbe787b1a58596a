//! Review endpoints: a signed-in customer reviews a product they received,
//! shoppers read a product's published reviews, staff moderate, answer and
//! delete them.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Json;
use bytes::Bytes;
use mercato_tenants::error::ErrorBody;
use mercato_tenants::http::{ApiJson, ApiPath, ApiQuery};
use mercato_tenants::{ApiError, ProductId, ReviewId, StoreId};
use serde::{Deserialize, Serialize};
use utoipa::OpenApi as _;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::accounts::auth::{Customer, Staff};
use crate::catalog::read;
use crate::catalog::ProductStatus;
use crate::error::PodError;
use crate::reviews::model::author_name;
use crate::reviews::{self, Filter, NewReview, PublicReview, Review, ReviewStatus, Stars};
use crate::state::AppState;
use crate::tenancy::{begin_write, TenantContext};
use crate::{accounts, catalog, paging, product_write};

/// The reviews API, each route registered with its OpenAPI description.
pub fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(Extra::openapi())
        .routes(routes!(product_reviews, create_review))
        .routes(routes!(list_reviews))
        .routes(routes!(get_review, delete_review))
        .routes(routes!(moderate_review))
        .routes(routes!(reply_to_review, delete_reply))
}

/// The reviews tag's description (the routes carry the tag).
#[derive(utoipa::OpenApi)]
#[openapi(tags((name = "reviews", description = "Product reviews: written by customers who received the product, moderated by staff")))]
struct Extra;

/// A page of a product's published reviews, newest first.
#[derive(Serialize, utoipa::ToSchema)]
pub struct PublicReviewPage {
    items: Vec<PublicReview>,
    /// Pass as `after` for the next page; null on the last page.
    next_cursor: Option<String>,
}

/// A page of reviews for staff, newest first.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ReviewPage {
    items: Vec<Review>,
    /// Pass as `after` for the next page; null on the last page.
    next_cursor: Option<String>,
}

fn stars(rating: Option<i64>) -> Result<Option<Stars>, ApiError> {
    rating
        .map(|n| Stars::new(n).ok_or_else(|| ApiError::invalid("rating must be 1 to 5")))
        .transpose()
}

fn cursor(after: Option<&str>) -> Result<Option<ReviewId>, ApiError> {
    after
        .map(|a| {
            a.parse::<ReviewId>()
                .map_err(|_| ApiError::invalid("after must be a cursor from next_cursor"))
        })
        .transpose()
}

fn no_product() -> ApiError {
    ApiError::not_found("product")
}

/// Whether `product` is an active product of the store (shoppers see no
/// other).
async fn is_active<'e>(
    exec: impl sqlx::PgExecutor<'e>,
    store: StoreId,
    product: ProductId,
) -> Result<bool, PodError> {
    let statuses = catalog::statuses(exec, store, &[product]).await?;
    Ok(statuses.get(&product.as_uuid()) == Some(&ProductStatus::Active))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct ProductReviewsQuery {
    /// Only reviews of this many stars.
    #[param(minimum = 1, maximum = 5)]
    rating: Option<i64>,
    /// 1 to 100, default 20.
    #[param(minimum = 1, maximum = 100)]
    limit: Option<u32>,
    /// The `next_cursor` of the previous page (a review id).
    #[param(value_type = Option<uuid::Uuid>)]
    after: Option<String>,
}

/// An active product's published reviews, newest first, with the store's
/// replies (cached; ETag). The product's `rating` (in its read) counts
/// them.
#[utoipa::path(get, path = "/api/products/{id}/reviews", tag = "reviews",
    params(("id" = ProductId, Path, description = "product id"), ProductReviewsQuery),
    responses((status = 200, body = PublicReviewPage), (status = 304),
        (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn product_reviews(
    State(state): State<AppState>,
    tenant: TenantContext,
    headers: HeaderMap,
    ApiPath(id): ApiPath<ProductId>,
    ApiQuery(q): ApiQuery<ProductReviewsQuery>,
) -> Result<Response, PodError> {
    let rating = stars(q.rating)?;
    let limit = paging::page_limit(q.limit)?;
    let after = cursor(q.after.as_deref())?;
    let store = tenant.store_id;
    let query = format!(
        "{}:{}:{limit}",
        rating.map(|s| s.get()).unwrap_or(0),
        after.map(|a| a.to_string()).unwrap_or_default()
    );
    let body = reviews::cached_page(&state, store, id, &query, || async {
        if !is_active(&state.db, store, id).await? {
            return Err(no_product().into());
        }
        let mut items =
            reviews::published(&state.db, store, id, rating, after, i64::from(limit) + 1).await?;
        let next_cursor = paging::split_page(&mut items, limit as usize, |r| r.id.to_string());
        serde_json::to_vec(&PublicReviewPage { items, next_cursor })
            .map(Bytes::from)
            .map_err(PodError::internal)
    })
    .await?;
    Ok(read::respond(&headers, body))
}

/// Reviews a product, once: the signed-in customer must have received it
/// (an order of theirs with a line of it that is delivered, the order or
/// the line's shipment). The review waits for moderation (`pending`): it is
/// shown and counted once staff publish it.
#[utoipa::path(post, path = "/api/products/{id}/reviews", tag = "reviews",
    params(("id" = ProductId, Path, description = "product id")),
    request_body = NewReview,
    responses((status = 201, body = Review),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, description = "review_not_allowed: no delivered order line of this product (or not a customer token)", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "already_reviewed", body = ErrorBody)))]
async fn create_review(
    State(state): State<AppState>,
    tenant: TenantContext,
    customer: Customer,
    ApiPath(id): ApiPath<ProductId>,
    ApiJson(body): ApiJson<NewReview>,
) -> Result<(StatusCode, Json<Review>), PodError> {
    let review = body.validate()?;
    let store = tenant.store_id;
    let mut tx = begin_write(&state.db, store).await?;
    if !is_active(&mut *tx, store, id).await? {
        return Err(no_product().into());
    }
    let order = reviews::delivered_order(&mut *tx, store, customer.id, id)
        .await?
        .ok_or_else(reviews::not_allowed)?;
    let author = match accounts::customer_profile(&mut *tx, store, customer.id).await? {
        Some(c) => author_name(&c.first_name, &c.last_name),
        None => author_name("", ""),
    };
    let created = reviews::create(&mut tx, store, id, customer.id, order, &author, &review).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(created)))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    /// `pending` (the moderation queue), `published` or `rejected`.
    #[param(value_type = Option<ReviewStatus>)]
    status: Option<String>,
    product_id: Option<ProductId>,
    /// Only reviews of this many stars.
    #[param(minimum = 1, maximum = 5)]
    rating: Option<i64>,
    /// 1 to 100, default 20.
    #[param(minimum = 1, maximum = 100)]
    limit: Option<u32>,
    /// The `next_cursor` of the previous page (a review id).
    #[param(value_type = Option<uuid::Uuid>)]
    after: Option<String>,
}

/// The store's reviews, newest first, filtered by status, product or
/// rating.
#[utoipa::path(get, path = "/admin/api/reviews", tag = "reviews",
    params(ListQuery),
    responses((status = 200, body = ReviewPage), (status = 400, body = ErrorBody)))]
async fn list_reviews(
    State(state): State<AppState>,
    tenant: TenantContext,
    _: Staff,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<ReviewPage>, PodError> {
    let status = q
        .status
        .as_deref()
        .map(|s| {
            ReviewStatus::parse(s)
                .ok_or_else(|| ApiError::invalid("status must be pending, published or rejected"))
        })
        .transpose()?;
    let limit = paging::page_limit(q.limit)?;
    let filter = Filter {
        status,
        product: q.product_id,
        rating: stars(q.rating)?,
        before: cursor(q.after.as_deref())?,
        limit: i64::from(limit) + 1,
    };
    let mut items = reviews::list(&state.db, tenant.store_id, &filter).await?;
    let next_cursor = paging::split_page(&mut items, limit as usize, |r| r.id.to_string());
    Ok(Json(ReviewPage { items, next_cursor }))
}

/// One review.
#[utoipa::path(get, path = "/admin/api/reviews/{id}", tag = "reviews",
    params(("id" = ReviewId, Path, description = "review id")),
    responses((status = 200, body = Review), (status = 404, body = ErrorBody)))]
async fn get_review(
    State(state): State<AppState>,
    tenant: TenantContext,
    _: Staff,
    ApiPath(id): ApiPath<ReviewId>,
) -> Result<Json<Review>, PodError> {
    reviews::get(&state.db, tenant.store_id, id)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found("review").into())
}

/// Deletes a review; a published one leaves its product's rating. Its
/// customer may then review the product again (a rejected review, kept,
/// does not allow that).
#[utoipa::path(delete, path = "/admin/api/reviews/{id}", tag = "reviews",
    params(("id" = ReviewId, Path, description = "review id")),
    responses((status = 204), (status = 404, body = ErrorBody)))]
async fn delete_review(
    State(state): State<AppState>,
    tenant: TenantContext,
    _: Staff,
    ApiPath(id): ApiPath<ReviewId>,
) -> Result<StatusCode, PodError> {
    let store = tenant.store_id;
    let mut tx = begin_write(&state.db, store).await?;
    let deleted = reviews::delete(&mut tx, store, id).await?;
    tx.commit().await?;
    product_write::invalidate(&state, store, &[deleted.product_id]).await;
    Ok(StatusCode::NO_CONTENT)
}

/// A moderation decision.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Moderation {
    pub status: Decision,
}

/// Where staff send a review: `published` (shown and counted) or
/// `rejected` (neither). Nothing goes back to `pending`.
#[derive(Debug, Clone, Copy, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Published,
    Rejected,
}

impl From<Decision> for ReviewStatus {
    fn from(d: Decision) -> Self {
        match d {
            Decision::Published => ReviewStatus::Published,
            Decision::Rejected => ReviewStatus::Rejected,
        }
    }
}

/// Publishes or rejects a review: pending → published or rejected, and
/// published ↔ rejected. The product's rating, its search document and its
/// cached reads follow at once.
#[utoipa::path(post, path = "/admin/api/reviews/{id}/status", tag = "reviews",
    params(("id" = ReviewId, Path, description = "review id")),
    request_body = Moderation,
    responses((status = 200, body = Review), (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "invalid_transition", body = ErrorBody)))]
async fn moderate_review(
    State(state): State<AppState>,
    tenant: TenantContext,
    _: Staff,
    ApiPath(id): ApiPath<ReviewId>,
    ApiJson(change): ApiJson<Moderation>,
) -> Result<Json<Review>, PodError> {
    let store = tenant.store_id;
    let mut tx = begin_write(&state.db, store).await?;
    let review = reviews::moderate(&mut tx, store, id, change.status.into()).await?;
    tx.commit().await?;
    product_write::invalidate(&state, store, &[review.product_id]).await;
    Ok(Json(review))
}

/// The store's answer to a review.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplyBody {
    /// 1 to 5000 characters (trimmed).
    #[schema(
        min_length = 1,
        max_length = 5000,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\u0000-\u0020\u007F-\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000][^\u0000-\u001F\u007F-\u009F]*$"
    )]
    pub body: String,
}

/// Answers a review, or changes the answer; shoppers see it under the
/// review once it is published.
#[utoipa::path(put, path = "/admin/api/reviews/{id}/reply", tag = "reviews",
    params(("id" = ReviewId, Path, description = "review id")),
    request_body = ReplyBody,
    responses((status = 200, body = Review), (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
async fn reply_to_review(
    State(state): State<AppState>,
    tenant: TenantContext,
    _: Staff,
    ApiPath(id): ApiPath<ReviewId>,
    ApiJson(body): ApiJson<ReplyBody>,
) -> Result<Json<Review>, PodError> {
    set_reply(&state, tenant.store_id, id, Some(&body.body)).await
}

/// Removes the store's answer to a review.
#[utoipa::path(delete, path = "/admin/api/reviews/{id}/reply", tag = "reviews",
    params(("id" = ReviewId, Path, description = "review id")),
    responses((status = 200, body = Review), (status = 404, body = ErrorBody)))]
async fn delete_reply(
    State(state): State<AppState>,
    tenant: TenantContext,
    _: Staff,
    ApiPath(id): ApiPath<ReviewId>,
) -> Result<Json<Review>, PodError> {
    set_reply(&state, tenant.store_id, id, None).await
}

async fn set_reply(
    state: &AppState,
    store: StoreId,
    id: ReviewId,
    reply: Option<&str>,
) -> Result<Json<Review>, PodError> {
    let mut tx = begin_write(&state.db, store).await?;
    let review = reviews::reply(&mut tx, store, id, reply).await?;
    tx.commit().await?;
    product_write::invalidate(state, store, &[review.product_id]).await;
    Ok(Json(review))
}
