//! The storefront's own reads: what its sitemap lists.

use chrono::{DateTime, Utc};
use mercato_tenants::StoreId;
use sqlx::PgPool;

/// The paths of the store's pages for search engines, with when each last
/// changed: active products, then collections, then categories, at most
/// `limit` in all.
pub async fn sitemap_entries(
    db: &PgPool,
    store: StoreId,
    limit: u32,
) -> Result<Vec<(String, DateTime<Utc>)>, sqlx::Error> {
    sqlx::query_as(
        "(SELECT '/products/' || id::text, updated_at FROM products
           WHERE store_id = $1 AND status = 'active' ORDER BY created_at DESC LIMIT $2)
         UNION ALL
         (SELECT '/collections/' || handle, updated_at FROM collections
           WHERE store_id = $1 ORDER BY handle LIMIT $2)
         UNION ALL
         (SELECT '/categories/' || handle, updated_at FROM categories
           WHERE store_id = $1 ORDER BY handle LIMIT $2)
         LIMIT $2",
    )
    .bind(store.as_uuid())
    .bind(i64::from(limit))
    .fetch_all(db)
    .await
}
