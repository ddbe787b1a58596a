//! Maps named constraint violations to client errors, in one place.

use mercato_tenants::{ApiError, ErrorCode};

pub fn map_db_error(err: sqlx::Error) -> ApiError {
    if let sqlx::Error::Database(db) = &err {
        match db.constraint() {
            Some("stores_handle_key") => {
                return ApiError::new(
                    ErrorCode::HandleTaken,
                    "a store with this handle already exists",
                )
            }
            Some("domains_pkey") => {
                return ApiError::new(ErrorCode::DomainTaken, "this domain is already in use")
            }
            Some("pods_name_key") => {
                return ApiError::new(
                    ErrorCode::PodNameTaken,
                    "a pod with this name already exists",
                )
            }
            _ => {}
        }
    }
    ApiError::internal(err)
}
