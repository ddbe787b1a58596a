//! Token claims and their signing keys. Every token names a role and, for
//! roles inside a store, the store: a token of store A never authorizes
//! anything in store B.

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::{SessionId, StoreId};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// A shopper with an account in one store.
    Customer,
    /// A merchant's staff member in one store.
    Staff,
    /// A platform operator: any store, and the operator API.
    Operator,
    /// A platform process (router, control plane) talking to another.
    Service,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub role: Role,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store_id: Option<StoreId>,
    pub iat: i64,
    pub exp: i64,
    /// The login session this token belongs to. Pods mint tokens with one
    /// (logout revokes the session); platform-minted tokens have none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<SessionId>,
}

impl Claims {
    /// Claims for `role` valid from `now` (unix seconds) for `ttl_secs`.
    pub fn new(
        sub: impl Into<String>,
        role: Role,
        store_id: Option<StoreId>,
        now: i64,
        ttl_secs: i64,
    ) -> Self {
        Self {
            sub: sub.into(),
            role,
            store_id,
            iat: now,
            exp: now.saturating_add(ttl_secs),
            sid: None,
        }
    }

    /// The same claims, tied to the login session `sid`.
    pub fn with_session(mut self, sid: SessionId) -> Self {
        self.sid = Some(sid);
        self
    }

    /// Whether these claims may act inside `store` at all.
    pub fn may_act_for(&self, store: StoreId) -> bool {
        match self.role {
            Role::Operator | Role::Service => true,
            Role::Staff | Role::Customer => self.store_id == Some(store),
        }
    }

    /// Whether these claims may act as staff of `store`.
    pub fn is_staff_of(&self, store: StoreId) -> bool {
        match self.role {
            Role::Operator | Role::Service => true,
            Role::Staff => self.store_id == Some(store),
            Role::Customer => false,
        }
    }

    /// Whether these claims are a platform role (operator or service).
    pub fn is_platform(&self) -> bool {
        matches!(self.role, Role::Operator | Role::Service)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid")]
    Invalid,
    #[error("a token cannot be signed: {0}")]
    Signing(String),
}

/// HS256 keys shared by the platform's processes.
#[derive(Clone)]
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl std::fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenKeys(..)")
    }
}

impl TokenKeys {
    pub fn from_secret(secret: &[u8]) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 5;
        validation.set_required_spec_claims(&["exp", "sub"]);
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
        }
    }

    pub fn issue(&self, claims: &Claims) -> Result<String, TokenError> {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.encoding)
            .map_err(|e| TokenError::Signing(e.to_string()))
    }

    pub fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map(|data| data.claims)
            .map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => TokenError::Expired,
                _ => TokenError::Invalid,
            })
    }
}

/// A signed token and when it expires (unix seconds).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct IssuedToken {
    /// Send as `Authorization: Bearer <token>`.
    pub token: String,
    /// Unix seconds.
    pub expires_at: i64,
}

/// The bearer token of an `Authorization` header value, if it is one.
pub fn bearer(value: &str) -> Option<&str> {
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_900_000_000;

    fn now() -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(NOW)
    }

    #[test]
    fn tokens_round_trip_and_reject_other_keys() {
        let keys = TokenKeys::from_secret(b"secret-one-secret-one-secret-one");
        let other = TokenKeys::from_secret(b"secret-two-secret-two-secret-two");
        let store = StoreId::new();
        let claims = Claims::new("alice", Role::Staff, Some(store), now(), 3600);
        let token = keys.issue(&claims).expect("signs");
        assert_eq!(keys.verify(&token), Ok(claims));
        assert_eq!(other.verify(&token), Err(TokenError::Invalid));
        assert_eq!(keys.verify("garbage"), Err(TokenError::Invalid));
    }

    #[test]
    fn session_ids_round_trip_and_are_optional() {
        let keys = TokenKeys::from_secret(b"secret-one-secret-one-secret-one");
        let sid = SessionId::new();
        let claims =
            Claims::new("c", Role::Customer, Some(StoreId::new()), now(), 60).with_session(sid);
        let token = keys.issue(&claims).expect("signs");
        assert_eq!(keys.verify(&token).expect("valid").sid, Some(sid));
        let plain = keys
            .issue(&Claims::new("s", Role::Staff, None, now(), 60))
            .expect("signs");
        assert_eq!(keys.verify(&plain).expect("valid").sid, None);
    }

    #[test]
    fn expired_tokens_are_refused() {
        let keys = TokenKeys::from_secret(b"secret-one-secret-one-secret-one");
        let token = keys
            .issue(&Claims::new("bob", Role::Operator, None, now() - 7200, 60))
            .expect("signs");
        assert_eq!(keys.verify(&token), Err(TokenError::Expired));
    }

    #[test]
    fn store_scoping() {
        let (a, b) = (StoreId::new(), StoreId::new());
        let staff = Claims::new("s", Role::Staff, Some(a), NOW, 60);
        assert!(staff.may_act_for(a) && staff.is_staff_of(a));
        assert!(!staff.may_act_for(b) && !staff.is_staff_of(b));
        let customer = Claims::new("c", Role::Customer, Some(a), NOW, 60);
        assert!(customer.may_act_for(a) && !customer.is_staff_of(a));
        let op = Claims::new("o", Role::Operator, None, NOW, 60);
        assert!(op.may_act_for(b) && op.is_staff_of(b) && op.is_platform());
    }

    #[test]
    fn bearer_parsing() {
        assert_eq!(bearer("Bearer abc"), Some("abc"));
        assert_eq!(bearer("bearer  abc "), Some("abc"));
        assert_eq!(bearer("Basic abc"), None);
        assert_eq!(bearer("Bearer "), None);
    }
}
