//! Who is calling the control plane.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use mercato_tenants::http::bearer_claims;
use mercato_tenants::{ApiError, Claims, ErrorCode, Role};

use crate::AppState;

fn claims_with(parts: &Parts, state: &AppState, allowed: &[Role]) -> Result<Claims, ApiError> {
    let claims = bearer_claims(parts, &state.keys)?.ok_or_else(|| {
        ApiError::new(
            ErrorCode::Unauthorized,
            "this endpoint needs a bearer token",
        )
    })?;
    if allowed.contains(&claims.role) {
        Ok(claims)
    } else {
        Err(ApiError::new(
            ErrorCode::Forbidden,
            "this endpoint is for operators",
        ))
    }
}

/// A platform operator.
pub struct Operator(pub Claims);

impl FromRequestParts<AppState> for Operator {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        claims_with(parts, state, &[Role::Operator]).map(Self)
    }
}

/// An operator or a platform process (routers reading the routing table).
pub struct Platform(pub Claims);

impl FromRequestParts<AppState> for Platform {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        claims_with(parts, state, &[Role::Operator, Role::Service]).map(Self)
    }
}
