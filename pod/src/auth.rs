//! Who is calling: extractors over the verified bearer token.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use mercato_tenants::http::bearer_claims;
use mercato_tenants::{ApiError, Claims, ErrorCode};

use crate::tenancy::TenantContext;
use crate::AppState;

fn required_claims(parts: &Parts, state: &AppState) -> Result<Claims, ApiError> {
    bearer_claims(parts, &state.keys)?.ok_or_else(|| {
        ApiError::new(
            ErrorCode::Unauthorized,
            "this endpoint needs a bearer token",
        )
    })
}

/// A staff member (or operator) of the request's store.
pub struct Staff(pub Claims);

impl FromRequestParts<AppState> for Staff {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let tenant = parts
            .extensions
            .get::<TenantContext>()
            .ok_or_else(|| ApiError::internal("staff extractor used outside the tenant fence"))?
            .store_id;
        let claims = required_claims(parts, state)?;
        if claims.is_staff_of(tenant) {
            Ok(Self(claims))
        } else {
            Err(ApiError::new(
                ErrorCode::Forbidden,
                "this token is not for staff of this store",
            ))
        }
    }
}

/// A platform process or operator: the internal API.
pub struct Platform(pub Claims);

impl FromRequestParts<AppState> for Platform {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let claims = required_claims(parts, state)?;
        if claims.is_platform() {
            Ok(Self(claims))
        } else {
            Err(ApiError::new(
                ErrorCode::Forbidden,
                "this endpoint is for the platform only",
            ))
        }
    }
}

/// A signed-in customer of the request's store. The token's subject is the
/// customer id.
pub struct Customer {
    pub id: mercato_tenants::CustomerId,
    pub claims: Claims,
}

impl FromRequestParts<AppState> for Customer {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let tenant = parts
            .extensions
            .get::<TenantContext>()
            .ok_or_else(|| ApiError::internal("customer extractor used outside the tenant fence"))?
            .store_id;
        let claims = required_claims(parts, state)?;
        if claims.role != mercato_tenants::Role::Customer || claims.store_id != Some(tenant) {
            return Err(ApiError::new(
                ErrorCode::Forbidden,
                "this endpoint needs a customer token of this store",
            ));
        }
        let id = claims
            .sub
            .parse()
            .map_err(|_| ApiError::new(ErrorCode::Unauthorized, "malformed customer token"))?;
        Ok(Self { id, claims })
    }
}

/// A customer if the request carries a customer token, else a guest.
pub struct MaybeCustomer(pub Option<Customer>);

impl FromRequestParts<AppState> for MaybeCustomer {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if parts
            .headers
            .contains_key(axum::http::header::AUTHORIZATION)
        {
            Customer::from_request_parts(parts, state)
                .await
                .map(|c| Self(Some(c)))
        } else {
            Ok(Self(None))
        }
    }
}
