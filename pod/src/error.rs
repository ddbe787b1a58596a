//! The pod's error type: what a handler, a context function or a worker
//! step returns. `?` works on every fallible call inside the pod: a
//! database error converts by `From`, a client error ([`ApiError`]) is one
//! variant.
//!
//! Errors are not logged where they are made. An internal error is logged
//! once, where it is handled: at the HTTP edge ([`IntoResponse`], inside the
//! request span, which carries the request id and the store), or by the
//! worker that decides to retry (inside its own span with the store id).
//! The client sees the code and message of a client error, and an opaque
//! `500 internal` for anything else.

use axum::response::{IntoResponse, Response};
use mercato_tenants::{ApiError, ErrorCode};

/// A failure anywhere in the pod.
#[derive(Debug, thiserror::Error)]
pub enum PodError {
    /// A refusal the client is told about, with its code.
    #[error(transparent)]
    Api(#[from] ApiError),
    /// A database error: a named constraint becomes a client error
    /// ([`constraint_error`]); anything else is internal.
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    /// A Redis error where nothing falls back (most Redis users do).
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    /// Anything else that should not have happened.
    #[error("{0}")]
    Internal(String),
}

/// What most functions of the pod return.
pub type Result<T, E = PodError> = std::result::Result<T, E>;

impl PodError {
    /// An internal error with its cause, for the log (never the client).
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        Self::Internal(cause.to_string())
    }

    /// The client error this is, if it is one (a named constraint included).
    pub fn client_error(&self) -> Option<ApiError> {
        match self {
            Self::Api(e) if e.code != ErrorCode::Internal => Some(e.clone()),
            Self::Db(sqlx::Error::PoolTimedOut) => Some(database_unavailable()),
            Self::Db(e) => constraint_error(e),
            _ => None,
        }
    }

    /// What the client is told: the client error, or an opaque internal
    /// error, logged here (the one place it is handled).
    pub fn into_api(self) -> ApiError {
        if let Some(client) = self.client_error() {
            return client;
        }
        match self {
            // Already logged where it was made (`ApiError::internal`).
            Self::Api(e) => e,
            other => ApiError::internal(other),
        }
    }
}

impl From<PodError> for ApiError {
    fn from(e: PodError) -> Self {
        e.into_api()
    }
}

impl IntoResponse for PodError {
    fn into_response(self) -> Response {
        self.into_api().into_response()
    }
}

/// A named constraint's violation as the client error it means; `None` for
/// any other database error. The one place where constraint names meet
/// error codes.
///
/// (See also [`database_unavailable`].)
pub fn constraint_error(err: &sqlx::Error) -> Option<ApiError> {
    let sqlx::Error::Database(db) = err else {
        return None;
    };
    let (code, message) = match db.constraint()? {
        "variants_store_sku_key" => (
            ErrorCode::SkuTaken,
            "a variant with this SKU already exists in this store".to_owned(),
        ),
        "collections_store_handle_key" => (
            ErrorCode::HandleTaken,
            "a collection with this handle already exists in this store".to_owned(),
        ),
        "categories_store_handle_key" => (
            ErrorCode::HandleTaken,
            "a category with this handle already exists in this store".to_owned(),
        ),
        // Only reachable by races the handlers' own checks cannot see (a
        // category deleted while a product is filed under it).
        "categories_parent_fkey" | "product_categories_category_fkey" => (
            ErrorCode::Conflict,
            "the category changed meanwhile; try again".to_owned(),
        ),
        // Only reachable by a product deleted while a review of it is
        // written (the handler found it active a moment before).
        "reviews_product_fkey" => (ErrorCode::NotFound, "product not found".to_owned()),
        "staff_store_email_key" => (
            ErrorCode::EmailTaken,
            "this email is already a staff member of this store".to_owned(),
        ),
        "customers_store_email_key" => (
            ErrorCode::EmailTaken,
            "an account with this email already exists in this store".to_owned(),
        ),
        "carts_one_active_per_customer" => (
            ErrorCode::Conflict,
            "the customer's cart changed at the same time; retry".to_owned(),
        ),
        // Only reachable by a race the inventory's row locks rule out.
        "stock_levels_reserved_le_on_hand" => (
            ErrorCode::StockReserved,
            "units on hand cannot go below the units reserved by checkouts".to_owned(),
        ),
        name if db.is_check_violation() => (
            ErrorCode::InvalidRequest,
            format!("a value is out of range ({name})"),
        ),
        _ => return None,
    };
    Some(ApiError::new(code, message))
}

/// No database connection within the pool's acquire timeout: the database
/// is down, hung or saturated. The shopper gets a quick, clear `503` with
/// `Retry-After` rather than a request that hangs as long as the database
/// does.
fn database_unavailable() -> ApiError {
    tracing::warn!("no database connection within the acquire timeout");
    ApiError::new(
        ErrorCode::DatabaseUnavailable,
        "the store's database is not answering; retry shortly",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_errors_pass_through_and_others_are_opaque() {
        let refused = PodError::from(ApiError::new(ErrorCode::OutOfStock, "none left"));
        assert_eq!(refused.into_api().code, ErrorCode::OutOfStock);
        let broken = PodError::from(sqlx::Error::RowNotFound);
        assert!(broken.client_error().is_none());
        let api = broken.into_api();
        assert_eq!(api.code, ErrorCode::Internal);
        assert!(
            !api.message.contains("no rows"),
            "the cause stays in the log"
        );
        let odd = PodError::internal("a checkout did not settle");
        assert_eq!(odd.into_api().code, ErrorCode::Internal);
    }
}
