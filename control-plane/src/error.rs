//! The control plane's error type: `?` works on every database call, a
//! client error ([`ApiError`]) is one variant. An internal error is logged
//! once, at the HTTP edge (inside the request span), never shown.

use axum::response::{IntoResponse, Response};
use mercato_tenants::{ApiError, ErrorCode};

/// A failure of a control-plane handler or the functions it calls.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// A refusal the client is told about, with its code.
    #[error(transparent)]
    Api(#[from] ApiError),
    /// A database error: a named constraint becomes a client error
    /// ([`constraint_error`]); anything else is internal.
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
}

impl ControlError {
    /// What the client is told: the client error, or an opaque internal
    /// error, logged here (the one place it is handled).
    pub fn into_api(self) -> ApiError {
        match self {
            Self::Api(e) => e,
            Self::Db(e) => constraint_error(&e).unwrap_or_else(|| ApiError::internal(e)),
        }
    }
}

impl From<ControlError> for ApiError {
    fn from(e: ControlError) -> Self {
        e.into_api()
    }
}

impl IntoResponse for ControlError {
    fn into_response(self) -> Response {
        self.into_api().into_response()
    }
}

/// A named constraint's violation as the client error it means; `None` for
/// any other database error. The one place where the control plane's
/// constraint names meet error codes.
pub fn constraint_error(err: &sqlx::Error) -> Option<ApiError> {
    let sqlx::Error::Database(db) = err else {
        return None;
    };
    let (code, message) = match db.constraint()? {
        "stores_handle_key" => (
            ErrorCode::HandleTaken,
            "a store with this handle already exists",
        ),
        "domains_pkey" => (ErrorCode::DomainTaken, "this domain is already in use"),
        "pods_name_key" => (
            ErrorCode::PodNameTaken,
            "a pod with this name already exists",
        ),
        // Races the handlers' own checks cannot see: a second move of the
        // store, a second fleet job, started at the same moment.
        "moves_one_running_per_store" => (ErrorCode::MoveInProgress, "the store is already moving"),
        crate::jobs::sql::ONE_RUNNING => (
            ErrorCode::FleetJobRunning,
            "another drain or rebalance has just started",
        ),
        _ => return None,
    };
    Some(ApiError::new(code, message))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_errors_pass_through_and_database_errors_are_opaque() {
        let refused = ControlError::from(ApiError::new(ErrorCode::Conflict, "no"));
        assert_eq!(refused.into_api().code, ErrorCode::Conflict);
        let broken = ControlError::from(sqlx::Error::RowNotFound).into_api();
        assert_eq!(broken.code, ErrorCode::Internal);
        assert!(!broken.message.contains("no rows"));
    }
}
