//! Token claims. Every token names a role and, for roles inside a store,
//! the store: a token of store A never authorizes anything in store B. It
//! also names who signed it (`iss`) and who may accept it (`aud`); the keys
//! that sign and verify are in [`crate::keys`].

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

/// A side of the platform that signs tokens or accepts them: the `iss`
/// and `aud` of a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Party {
    /// The control plane: signs operator and service tokens; accepts
    /// tokens on the operator API and the routing feed.
    ControlPlane,
    /// The pods: sign their stores' staff and customer sessions; accept
    /// tokens on the store APIs and the internal API.
    Pods,
}

impl Party {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::ControlPlane => "control-plane",
            Self::Pods => "pods",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "control-plane" => Some(Self::ControlPlane),
            "pods" => Some(Self::Pods),
            _ => None,
        }
    }

    /// Whether this party may sign tokens of `role`: the control plane
    /// signs the platform's roles, the pods sign their stores' sessions.
    /// A pod's key can never make an operator.
    pub const fn signs(self, role: Role) -> bool {
        match self {
            Self::ControlPlane => matches!(role, Role::Operator | Role::Service),
            Self::Pods => matches!(role, Role::Staff | Role::Customer),
        }
    }
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
    /// Who signed the token; set by the signing key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<Party>,
    /// Who may accept the token.
    #[serde(default)]
    pub aud: Vec<Party>,
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
            iss: None,
            aud: Self::default_audience(role),
        }
    }

    /// Who accepts a token of `role` unless said otherwise: store sessions
    /// and service calls go to pods; an operator's token works on the
    /// operator API and in every store.
    pub fn default_audience(role: Role) -> Vec<Party> {
        match role {
            Role::Customer | Role::Staff | Role::Service => vec![Party::Pods],
            Role::Operator => vec![Party::ControlPlane, Party::Pods],
        }
    }

    /// The same claims, accepted only by `aud`.
    pub fn for_audience(mut self, aud: &[Party]) -> Self {
        self.aud = aud.to_vec();
        self
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
