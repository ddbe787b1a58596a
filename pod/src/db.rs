//! Postgres helpers shared by the pod's contexts.

use mercato_tenants::{ApiError, ErrorCode};

/// Maps a named constraint violation to a client error, everything else to
/// an opaque 500. The one place where constraint names meet error codes.
pub fn map_db_error(err: sqlx::Error) -> ApiError {
    if let sqlx::Error::Database(db) = &err {
        match db.constraint() {
            Some("variants_store_sku_key") => {
                return ApiError::new(
                    ErrorCode::SkuTaken,
                    "a variant with this SKU already exists in this store",
                )
            }
            Some("carts_one_active_per_customer") => {
                return ApiError::new(
                    ErrorCode::Conflict,
                    "the customer's cart changed at the same time; retry",
                )
            }
            Some(name) if db.is_check_violation() => {
                return ApiError::new(
                    ErrorCode::InvalidRequest,
                    format!("a value is out of range ({name})"),
                )
            }
            _ => {}
        }
    }
    ApiError::internal(err)
}
