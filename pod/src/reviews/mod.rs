//! Product reviews: a customer who received a product rates it once (1 to
//! 5 stars, a title, a body); staff moderate each review (`pending` →
//! `published` or `rejected`, and back between those two) and may answer
//! it. Only published reviews are shown to shoppers and counted in the
//! product's rating, which product reads and search carry.
//!
//! - `model.rs` (pure): what a review may say, [`model::allowed`] (the
//!   moderation lifecycle), [`Histogram`] (what a review adds to its
//!   product's rating, and the [`Rating`] product reads show), the author's
//!   name, the views;
//! - `sql.rs`: every statement on `reviews` and `product_ratings`, and
//!   [`sql::delivered_order`], the one statement that says who may review
//!   (reading orders and shipments);
//! - this module: the steps a handler runs in its transaction, each with
//!   everything derived from it: [`create`] (and its event), [`moderate`]
//!   and [`delete`] (the product's `product_ratings` row by the review's
//!   delta, its search document, the event), [`reply`]; and the reads
//!   ([`ratings`] for the catalog, [`cached_page`] for shoppers' lists).
//!
//! A product's rating is kept, not counted: `product_ratings` changes only
//! in the transaction that changes what a review counts, by
//! [`Histogram::delta`], so a product read or a search reads one row. The
//! caller commits, then `product_write::invalidate`s the product (its
//! cached body carries the rating, its cached review pages the reviews);
//! search's cache follows its generation, which the reindex bumps.
//! HTTP: `routes/reviews.rs`.

pub mod model;
pub(crate) mod sql;

use std::collections::HashMap;
use std::time::Duration;

use bytes::Bytes;
use mercato_tenants::events::{Event, ReviewCreated, ReviewModerated};
use mercato_tenants::{ApiError, CustomerId, ErrorCode, OrderId, ProductId, ReviewId, StoreId};
use sha2::{Digest, Sha256};
use sqlx::{Postgres, Transaction};

pub use model::{
    Filter, Histogram, InvalidReview, NewReview, PublicReview, Rating, Review, ReviewStatus, Stars,
    ValidReview,
};

use crate::cache::Entry;
use crate::error::PodError;
use crate::state::AppState;
use crate::{events, keys, search};

/// `400 invalid_request`, saying what is wrong.
impl From<InvalidReview> for ApiError {
    fn from(e: InvalidReview) -> Self {
        ApiError::new(ErrorCode::InvalidRequest, e.to_string())
    }
}

impl From<InvalidReview> for PodError {
    fn from(e: InvalidReview) -> Self {
        PodError::Api(e.into())
    }
}

/// `403 review_not_allowed`: the customer has no delivered line of the
/// product.
pub fn not_allowed() -> ApiError {
    ApiError::new(
        ErrorCode::ReviewNotAllowed,
        "only a customer who received this product may review it: it needs a delivered order line of it",
    )
}

/// `409 already_reviewed`.
pub fn already_reviewed() -> ApiError {
    ApiError::new(
        ErrorCode::AlreadyReviewed,
        "you have already reviewed this product",
    )
}

fn not_found() -> ApiError {
    ApiError::not_found("review")
}

/// `409 invalid_transition`.
fn refused(from: ReviewStatus, to: ReviewStatus) -> ApiError {
    ApiError::new(
        ErrorCode::InvalidTransition,
        format!(
            "a review that is {} cannot become {}",
            from.as_str(),
            to.as_str()
        ),
    )
}

/// The delivered order that lets `customer` review `product`, if any
/// ([`sql::delivered_order`]).
pub async fn delivered_order<'e>(
    exec: impl sqlx::PgExecutor<'e>,
    store: StoreId,
    customer: CustomerId,
    product: ProductId,
) -> Result<Option<OrderId>, PodError> {
    Ok(sql::delivered_order(exec, store, customer, product).await?)
}

/// Writes a `pending` review of `product` by `customer`, who received it
/// with `order`, and records `review.created`; the caller checked the
/// product and commits. `409 already_reviewed` when the customer reviewed
/// the product before.
pub async fn create(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    product: ProductId,
    customer: CustomerId,
    order: OrderId,
    author_name: &str,
    review: &ValidReview,
) -> Result<Review, PodError> {
    let created = sql::insert(tx, store, product, customer, order, author_name, review)
        .await?
        .ok_or_else(already_reviewed)?;
    events::record(
        tx,
        store,
        &Event::ReviewCreated(ReviewCreated {
            review_id: created.id,
            product_id: product,
            customer_id: customer,
            order_id: order,
            rating: created.rating,
        }),
    )
    .await?;
    Ok(created)
}

/// Applies what a review's change from `before` to `after` does to its
/// product's rating, with the product's search document, in the caller's
/// transaction. Nothing when it counts the same.
async fn recount(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    product: ProductId,
    before: Option<(ReviewStatus, Stars)>,
    after: Option<(ReviewStatus, Stars)>,
) -> Result<(), PodError> {
    let delta = Histogram::delta(before, after);
    if delta.is_zero() {
        return Ok(());
    }
    sql::add_to_ratings(tx, store, product, &delta).await?;
    search::reindex(tx, store, &[product]).await?;
    Ok(())
}

fn stars_of(review: &Review) -> Result<Stars, PodError> {
    review.stars().ok_or_else(|| {
        PodError::internal(format!("review {} has {} stars", review.id, review.rating))
    })
}

/// Publishes or rejects a review (`to`, checked with [`model::allowed`]:
/// `409 invalid_transition` otherwise), with its product's rating and
/// search document, and records `review.published` / `review.rejected`.
/// The caller commits, then invalidates the product.
pub async fn moderate(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    id: ReviewId,
    to: ReviewStatus,
) -> Result<Review, PodError> {
    let to = model::moderation_target(to)?;
    let review = sql::lock_counted(tx, store, id)
        .await?
        .ok_or_else(not_found)?;
    if !model::allowed(review.status, to) {
        return Err(refused(review.status, to).into());
    }
    let stars = stars_of(&review)?;
    sql::set_status(tx, store, id, to).await?;
    recount(
        tx,
        store,
        review.product_id,
        Some((review.status, stars)),
        Some((to, stars)),
    )
    .await?;
    let moderated = ReviewModerated {
        review_id: id,
        product_id: review.product_id,
        rating: review.rating,
        from: review.status,
    };
    let event = match to {
        ReviewStatus::Published => Event::ReviewPublished(moderated),
        _ => Event::ReviewRejected(moderated),
    };
    events::record(tx, store, &event).await?;
    Ok(sql::get(&mut **tx, store, id)
        .await?
        .ok_or_else(not_found)?)
}

/// Sets, changes (`Some`, checked with [`model::check_reply`]) or removes
/// (`None`) the store's reply to a review. The caller commits, then
/// invalidates the product (a published review's page shows the reply).
pub async fn reply(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    id: ReviewId,
    reply: Option<&str>,
) -> Result<Review, PodError> {
    let reply = reply.map(model::check_reply).transpose()?;
    sql::lock(tx, store, id).await?.ok_or_else(not_found)?;
    sql::set_reply(tx, store, id, reply.as_deref()).await?;
    Ok(sql::get(&mut **tx, store, id)
        .await?
        .ok_or_else(not_found)?)
}

/// Deletes a review, taking it out of its product's rating; the customer
/// may then review the product again. Returns what was deleted. The caller
/// commits, then invalidates the product.
pub async fn delete(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    id: ReviewId,
) -> Result<Review, PodError> {
    let review = sql::lock_counted(tx, store, id)
        .await?
        .ok_or_else(not_found)?;
    let stars = stars_of(&review)?;
    sql::delete(tx, store, id).await?;
    recount(
        tx,
        store,
        review.product_id,
        Some((review.status, stars)),
        None,
    )
    .await?;
    Ok(review)
}

/// One review, for staff.
pub async fn get<'e>(
    exec: impl sqlx::PgExecutor<'e>,
    store: StoreId,
    id: ReviewId,
) -> Result<Option<Review>, sqlx::Error> {
    sql::get(exec, store, id).await
}

/// Reviews for staff, newest first, as `filter` says.
pub async fn list<'e>(
    exec: impl sqlx::PgExecutor<'e>,
    store: StoreId,
    filter: &Filter,
) -> Result<Vec<Review>, sqlx::Error> {
    sql::list(exec, store, filter).await
}

/// A product's published reviews for shoppers, newest first, of `rating`
/// stars if given, older than `before`; at most `limit`.
pub async fn published<'e>(
    exec: impl sqlx::PgExecutor<'e>,
    store: StoreId,
    product: ProductId,
    rating: Option<Stars>,
    before: Option<ReviewId>,
    limit: i64,
) -> Result<Vec<PublicReview>, sqlx::Error> {
    sql::published(exec, store, product, rating, before, limit).await
}

/// The rating of each of `products` (published reviews only); a product
/// without reviews is absent.
pub async fn ratings<'e>(
    exec: impl sqlx::PgExecutor<'e>,
    store: StoreId,
    products: &[ProductId],
) -> Result<HashMap<ProductId, Rating>, sqlx::Error> {
    Ok(sql::histograms(exec, store, products)
        .await?
        .into_iter()
        .map(|(p, h)| (p, h.rating()))
        .collect())
}

/// A shopper read of a product's reviews, cached under the product's
/// version (which every moderation, reply and deletion bumps, with every
/// catalog edit of the product); `query` names the page (its parameters,
/// hashed into the key), `load` builds its body on a miss.
pub async fn cached_page<F, Fut>(
    state: &AppState,
    store: StoreId,
    product: ProductId,
    query: &str,
    load: F,
) -> Result<Bytes, PodError>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<Bytes, PodError>>,
{
    let digest = Sha256::digest(query.as_bytes());
    let entry = Entry {
        kind: "reviews_page",
        key: keys::product_reviews(store, product, &hex::encode(&digest[..16])),
        version_key: Some(keys::product_version(store, product)),
        ttl: Duration::from_secs(state.config.catalog.product_cache_ttl_secs),
    };
    state.cache.get_or_load(&entry, load).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_keep_their_codes() {
        let api = ApiError::from(InvalidReview::Title { max: 200 });
        assert_eq!(api.code, ErrorCode::InvalidRequest);
        assert_eq!(api.message, "title must be 1 to 200 characters on one line");
        assert_eq!(not_allowed().code.status().as_u16(), 403);
        assert_eq!(already_reviewed().code.status().as_u16(), 409);
        let r = refused(ReviewStatus::Published, ReviewStatus::Published);
        assert_eq!(
            (r.code, r.message.as_str()),
            (
                ErrorCode::InvalidTransition,
                "a review that is published cannot become published"
            )
        );
    }
}
