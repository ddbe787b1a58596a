//! Categories: a tree per store (`parent_id` null for roots) that products
//! are filed under, several each. Shoppers see the whole tree and, for a
//! category, the active products in it or in any category below it.
//!
//! Changes to the tree's shape (create, move, delete) take turns through a
//! per-store advisory lock held until commit, so the cycle and leaf checks
//! made inside the transaction still hold when it commits.

pub(crate) mod model;
pub(crate) mod sql;

use mercato_tenants::{ApiError, ErrorCode, StoreId};
use sqlx::PgPool;

pub use model::{Category, CategoryNode, CategoryTree, InvalidCategory, TreeRefusal};

use crate::catalog::{self, ProductStatus};
use crate::collections::{Cursor, ProductPage, SortOrder};
use crate::error::PodError;

// Categories' refusals as the client sees them: the one place where they
// meet error codes. The message is the refusal's own text.

/// A bad handle as collections answer it (`400 invalid_handle`), anything
/// else `400 invalid_request`.
impl From<InvalidCategory> for ApiError {
    fn from(e: InvalidCategory) -> Self {
        match e {
            InvalidCategory::Handle(e) => e.into(),
            e => ApiError::new(ErrorCode::InvalidRequest, e.to_string()),
        }
    }
}

/// `422 unprocessable`.
impl From<TreeRefusal> for ApiError {
    fn from(e: TreeRefusal) -> Self {
        ApiError::new(ErrorCode::Unprocessable, e.to_string())
    }
}

impl From<InvalidCategory> for PodError {
    fn from(e: InvalidCategory) -> Self {
        PodError::Api(e.into())
    }
}

impl From<TreeRefusal> for PodError {
    fn from(e: TreeRefusal) -> Self {
        PodError::Api(e.into())
    }
}

/// The store's whole category tree.
pub async fn tree(db: &PgPool, store: StoreId) -> Result<CategoryTree, PodError> {
    let all = sql::all(db, store).await?;
    Ok(CategoryTree {
        categories: model::build_tree(all),
    })
}

/// One category, by handle (`404` if there is none).
pub async fn category_by_handle(
    db: &PgPool,
    store: StoreId,
    handle: &str,
) -> Result<Category, PodError> {
    sql::get_by_handle(db, store, handle)
        .await?
        .ok_or_else(|| ApiError::not_found("category").into())
}

/// One page of the active products in the category `handle` or below it,
/// newest first. Bad cursors are `400 invalid_request`, unknown handles `404`.
pub async fn category_page(
    db: &PgPool,
    store: StoreId,
    handle: &str,
    after: Option<&str>,
    limit: u32,
) -> Result<ProductPage, PodError> {
    let category = sql::get_by_handle(db, store, handle)
        .await?
        .ok_or_else(|| ApiError::not_found("category"))?;
    let cursor = after
        .map(|a| Cursor::decode(a, SortOrder::Newest))
        .transpose()?;
    let (ids, next) = sql::subtree_products(db, store, category.id, cursor.as_ref(), limit).await?;
    let items = catalog::get_products(db, store, &ids, Some(ProductStatus::Active)).await?;
    Ok(ProductPage {
        items,
        next_cursor: next.map(|c| c.encode()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collections::InvalidHandle;
    use mercato_tenants::CategoryId;

    #[test]
    fn refusals_keep_their_codes_and_messages() {
        let parent = CategoryId::new();
        let cases: [(ApiError, ErrorCode, String); 5] = [
            (
                InvalidCategory::Handle(InvalidHandle("Bad".into())).into(),
                ErrorCode::InvalidHandle,
                "handle `Bad` must be 1 to 63 characters of a-z, 0-9 and single hyphens inside"
                    .into(),
            ),
            (
                InvalidCategory::Position { max: 1_000_000 }.into(),
                ErrorCode::InvalidRequest,
                "position must be 0 to 1000000".into(),
            ),
            (
                TreeRefusal::UnknownParent(parent).into(),
                ErrorCode::Unprocessable,
                format!("no such parent category: {parent}"),
            ),
            (
                TreeRefusal::TooDeep { max: 8 }.into(),
                ErrorCode::Unprocessable,
                "the category tree is at most 8 levels deep".into(),
            ),
            (
                TreeRefusal::UnderItself.into(),
                ErrorCode::Unprocessable,
                "a category cannot move under itself or one of its descendants".into(),
            ),
        ];
        for (api, code, message) in cases {
            assert_eq!((api.code, api.message), (code, message));
        }
        let pod = PodError::from(InvalidCategory::Name { max: 255 }).into_api();
        assert_eq!(
            (pod.code, pod.message.as_str()),
            (
                ErrorCode::InvalidRequest,
                "name must be 1 to 255 characters"
            )
        );
    }
}
