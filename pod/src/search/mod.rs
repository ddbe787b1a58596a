//! Product search. (Being built: see the search helper's branch.)

use mercato_tenants::{ProductId, StoreId};
use sqlx::{Postgres, Transaction};

/// Brings the search documents of `products` up to date inside the caller's
/// transaction, so a saved product is searchable as soon as it commits.
pub async fn reindex(
    _tx: &mut Transaction<'_, Postgres>,
    _store: StoreId,
    _products: &[ProductId],
) -> Result<(), sqlx::Error> {
    Ok(())
}
