//! Who is calling: extractors over the verified bearer token (or, for
//! integrations, an `X-Api-Key`).
//!
//! Tokens minted by a pod at login carry a session id (`sid`); they are
//! honoured only while the session is open (logout, removal of a staff
//! member and a password reset revoke it). Tokens without a session id can
//! only be minted by the platform (operators, the control plane, the test
//! harness); a staff one acts with owner rights.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use mercato_tenants::http::bearer_claims;
use mercato_tenants::{ApiError, ApiKeyId, Claims, CustomerId, ErrorCode, Role, StaffId, StoreId};

use crate::accounts::{api_keys, sql, StaffRole};
use crate::error::PodError;
use crate::state::AppState;
use crate::tenancy::TenantContext;

fn required_claims(parts: &Parts, state: &AppState) -> Result<Claims, ApiError> {
    bearer_claims(parts, &state.keys)?.ok_or_else(|| {
        ApiError::new(
            ErrorCode::Unauthorized,
            "this endpoint needs a bearer token",
        )
    })
}

fn tenant_of(parts: &Parts) -> Result<StoreId, PodError> {
    parts
        .extensions
        .get::<TenantContext>()
        .map(|t| t.store_id)
        .ok_or_else(|| PodError::internal("account extractor used outside the tenant fence"))
}

fn session_ended() -> ApiError {
    ApiError::new(
        ErrorCode::Unauthorized,
        "this session has ended; sign in again",
    )
}

/// How a staff caller proved who they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StaffCredential {
    /// A platform-minted token (operator, service, or a staff token without
    /// a session): owner rights.
    Platform,
    /// A staff member's login session.
    Member { id: StaffId, role: StaffRole },
    /// An integration's API key: staff rights, never owner.
    ApiKey(ApiKeyId),
}

/// A staff caller of the request's store, with how they authenticated.
pub struct StaffActor {
    pub claims: Claims,
    pub credential: StaffCredential,
}

impl StaffActor {
    pub fn is_owner(&self) -> bool {
        match self.credential {
            StaffCredential::Platform => true,
            StaffCredential::Member { role, .. } => role == StaffRole::Owner,
            StaffCredential::ApiKey(_) => false,
        }
    }
}

impl FromRequestParts<AppState> for StaffActor {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let store = tenant_of(parts)?;
        let has_bearer = parts
            .headers
            .contains_key(axum::http::header::AUTHORIZATION);
        if !has_bearer {
            if let Some(key) = parts.headers.get(api_keys::HEADER) {
                let key = key.to_str().map_err(|_| invalid_key())?;
                let id = api_keys::authenticate(&state.db, store, key.trim())
                    .await
                    .map_err(PodError::Db)?
                    .ok_or_else(invalid_key)?;
                let now = chrono::Utc::now().timestamp();
                let claims =
                    Claims::new(format!("api_key:{id}"), Role::Staff, Some(store), now, 60);
                return Ok(Self {
                    claims,
                    credential: StaffCredential::ApiKey(id),
                });
            }
        }
        let claims = required_claims(parts, state)?;
        if !claims.is_staff_of(store) {
            return Err(ApiError::new(
                ErrorCode::Forbidden,
                "this token is not for staff of this store",
            ));
        }
        let credential = match (claims.role, claims.sid) {
            (Role::Staff, Some(sid)) => {
                let id: StaffId = claims
                    .sub
                    .parse()
                    .map_err(|_| ApiError::new(ErrorCode::Unauthorized, "malformed staff token"))?;
                let role = sql::sessions::staff_session(&state.db, store, sid, id.as_uuid())
                    .await
                    .map_err(PodError::Db)?
                    .ok_or_else(session_ended)?;
                StaffCredential::Member { id, role }
            }
            _ => StaffCredential::Platform,
        };
        Ok(Self { claims, credential })
    }
}

fn invalid_key() -> ApiError {
    ApiError::new(ErrorCode::Unauthorized, "this API key is not valid")
}

/// A staff member (or operator, or API key) of the request's store.
pub struct Staff(pub Claims);

impl FromRequestParts<AppState> for Staff {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        StaffActor::from_request_parts(parts, state)
            .await
            .map(|a| Self(a.claims))
    }
}

/// The owner of the request's store (or a platform token): managing staff
/// and API keys. Other staff get `403 forbidden`.
pub struct Owner(pub Claims);

impl FromRequestParts<AppState> for Owner {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let actor = StaffActor::from_request_parts(parts, state).await?;
        if actor.is_owner() {
            Ok(Self(actor.claims))
        } else {
            Err(ApiError::new(
                ErrorCode::Forbidden,
                "only the store's owner may do this",
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
/// customer id; a token with a session id works while the session is open.
pub struct Customer {
    pub id: CustomerId,
    pub claims: Claims,
}

impl FromRequestParts<AppState> for Customer {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let tenant = tenant_of(parts)?;
        let claims = required_claims(parts, state)?;
        if claims.role != Role::Customer || claims.store_id != Some(tenant) {
            return Err(ApiError::new(
                ErrorCode::Forbidden,
                "this endpoint needs a customer token of this store",
            ));
        }
        let id: CustomerId = claims
            .sub
            .parse()
            .map_err(|_| ApiError::new(ErrorCode::Unauthorized, "malformed customer token"))?;
        if let Some(sid) = claims.sid {
            let open =
                crate::accounts::sessions::is_customer_session_open(&state.db, tenant, sid, id)
                    .await?;
            if !open {
                return Err(session_ended());
            }
        }
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
