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
            Some("collections_store_handle_key") => {
                return ApiError::new(
                    ErrorCode::HandleTaken,
                    "a collection with this handle already exists in this store",
                )
            }
            Some("categories_store_handle_key") => {
                return ApiError::new(
                    ErrorCode::HandleTaken,
                    "a category with this handle already exists in this store",
                )
            }
            // Only reachable by races the handlers' own checks cannot see
            // (a category deleted while a product is filed under it).
            Some("categories_parent_fkey" | "product_categories_category_fkey") => {
                return ApiError::new(
                    ErrorCode::Conflict,
                    "the category changed meanwhile; try again",
                )
            }
            Some("staff_store_email_key") => {
                return ApiError::new(
                    ErrorCode::EmailTaken,
                    "this email is already a staff member of this store",
                )
            }
            Some("customers_store_email_key") => {
                return ApiError::new(
                    ErrorCode::EmailTaken,
                    "an account with this email already exists in this store",
                )
            }
            Some("carts_one_active_per_customer") => {
                return ApiError::new(
                    ErrorCode::Conflict,
                    "the customer's cart changed at the same time; retry",
                )
            }
            // Only reachable by a race the inventory's row locks rule out.
            Some("stock_levels_reserved_le_on_hand") => {
                return ApiError::new(
                    ErrorCode::StockReserved,
                    "units on hand cannot go below the units reserved by checkouts",
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
