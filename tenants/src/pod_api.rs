//! The pod's internal API, declared once: its paths and the bodies of its
//! requests and answers. The pod serves these types
//! (`mercato_pod::tenancy::routes`, `mercato_pod::fleet::routes`) and the
//! control plane's `PodClient` sends and reads the same ones. Platform
//! tokens only; the router never forwards `/internal/` paths.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{Claims, Currency, Handle, IssuedToken, Role, StaffId, StoreId, TenantState};

/// `GET`: every store hosted here ([`HostedStore`]s).
pub const STORES: &str = "/internal/stores";
/// `PUT` ([`HostRequest`] → [`HostResponse`]): host a store or change its
/// state. `DELETE`: forget a store still `provisioning` here.
pub const STORE: &str = "/internal/stores/{store_id}";
/// `PUT` ([`RenameRequest`] → [`HostedStore`]): the store's new name, in
/// whatever state it is hosted here (a store moving keeps its state);
/// `404` if it is not hosted here.
pub const STORE_NAME: &str = "/internal/stores/{store_id}/name";
/// `GET`: the figures of every store served here ([`LoadReport`]).
pub const LOAD: &str = "/internal/load";
/// `POST` (→ [`Rebuilt`]): drop every Redis key of a store hosted here.
pub const REBUILD: &str = "/internal/stores/{store_id}/rebuild";
/// `POST` ([`ReleaseRequest`] → [`Released`]): let the rows of a store
/// moved away be purged.
pub const RELEASE: &str = "/internal/stores/{store_id}/release";

/// `POST` ([`StoreTokenRequest`] → [`IssuedToken`]): a staff or customer
/// token for a store hosted here. Only pods sign store roles, so the
/// control plane's operator endpoint for store tokens asks the store's pod.
pub const TOKENS: &str = "/internal/stores/{store_id}/tokens";

/// `POST` ([`StaffLoginRequest`] → [`IssuedToken`]): a staff member's
/// sign-in on the platform's own page (the merchant finds their stores by
/// email there): the pod checks the password under its own login limits
/// and opens a session, as its admin's sign-in does. `401
/// invalid_credentials`, `429 rate_limited`.
pub const STAFF_LOGIN: &str = "/internal/stores/{store_id}/staff-login";

/// `POST` ([`StaffPasswordResetRequest`] → `202`): a password reset asked
/// on the platform's page for a store the email owns: the pod mails its
/// staff member of that email a reset link to the store's admin, as its
/// admin's own reset page does, and answers the same whether or not there
/// is one. `409` unless the store is active there.
pub const STAFF_PASSWORD_RESET: &str = "/internal/stores/{store_id}/staff-password-reset";

/// One of the paths above with its `{store_id}` filled in.
pub fn path(template: &str, store: StoreId) -> String {
    template.replace("{store_id}", &store.to_string())
}

/// `PUT /internal/stores/{store_id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostRequest {
    pub handle: Handle,
    pub name: String,
    #[serde(default = "usd")]
    pub currency: Currency,
    #[serde(default = "active")]
    pub state: TenantState,
    /// The merchant's owner account, made in the same transaction as the
    /// hosting (self-serve signup). The password is hashed by the pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<OwnerCredentials>,
}

fn usd() -> Currency {
    Currency::USD
}

fn active() -> TenantState {
    TenantState::Active
}

/// `PUT /internal/stores/{store_id}/name`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RenameRequest {
    pub name: String,
}

/// The owner account sent with the hosting call of a self-serve signup; the
/// password travels only over this call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OwnerCredentials {
    pub email: String,
    pub password: String,
}

/// A store as the pod hosts it (`hosted_stores`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostedStore {
    pub store_id: StoreId,
    pub handle: String,
    pub name: String,
    pub currency: Currency,
    pub state: TenantState,
}

/// The answer to [`HostRequest`]: the store as hosted, and the owner's
/// account with a first session when one was asked for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostResponse {
    #[serde(flatten)]
    pub store: HostedStore,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<OwnerSession>,
}

/// The owner account made at hosting time, with its first session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OwnerSession {
    pub staff_id: StaffId,
    pub email: String,
    #[serde(flatten)]
    pub session: IssuedToken,
}

/// `POST /internal/stores/{store_id}/staff-login`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaffLoginRequest {
    pub email: String,
    pub password: String,
    /// The address the platform's page was posted from (the pod's
    /// per-address login limit counts it).
    pub client_address: String,
}

/// `POST /internal/stores/{store_id}/staff-password-reset`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaffPasswordResetRequest {
    pub email: String,
}

/// `POST /internal/stores/{store_id}/tokens`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreTokenRequest {
    pub role: Role,
    pub subject: String,
    pub ttl_secs: i64,
}

impl StoreTokenRequest {
    /// Longest lifetime of a store token made this way (30 days).
    pub const MAX_TTL_SECS: i64 = 30 * 86_400;

    /// The claims to sign for `store` at `now`, or why not: a store role,
    /// a subject of 1 to 200 printable characters, a lifetime of one
    /// minute to [`Self::MAX_TTL_SECS`].
    pub fn claims(&self, store: StoreId, now: i64) -> Result<Claims, &'static str> {
        if !matches!(self.role, Role::Staff | Role::Customer) {
            return Err("store tokens are for staff or customer roles");
        }
        if !(60..=Self::MAX_TTL_SECS).contains(&self.ttl_secs) {
            return Err("ttl_secs must be 60 to 2592000");
        }
        let subject_ok = !self.subject.is_empty()
            && self.subject.chars().count() <= 200
            && !self.subject.chars().any(char::is_control);
        if !subject_ok {
            return Err("subject must be 1 to 200 characters without control characters");
        }
        Ok(Claims::new(
            self.subject.clone(),
            self.role,
            Some(store),
            now,
            self.ttl_secs,
        ))
    }
}

/// What a pod reports about the stores it serves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoadReport {
    /// The pod's own name.
    pub pod: String,
    /// When the oldest of the row and byte figures was measured; `None`
    /// until the pod's size sweep has measured every tenant table once
    /// (the figures are zero until then).
    #[serde(default)]
    pub sizes_as_of: Option<DateTime<Utc>>,
    pub stores: Vec<StoreLoad>,
}

/// One store's figures on a pod.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoreLoad {
    pub store_id: StoreId,
    /// Rows over every tenant table, as the size sweep last counted them.
    pub rows: i64,
    /// Their size on disk (`pg_column_size` of each row).
    pub bytes: i64,
    pub orders_last_hour: i64,
    /// Requests the fence admitted in the last minute.
    pub requests_per_minute: i64,
}

/// The answer to a rebuild.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rebuilt {
    pub deleted_keys: u64,
}

/// `POST /internal/stores/{store_id}/release`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReleaseRequest {
    pub purge_after_secs: u64,
}

/// The answer to a release: from when the store's rows may be purged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Released {
    pub store_id: StoreId,
    pub purge_after: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn paths_name_the_store() {
        let store = StoreId::new();
        assert_eq!(path(STORE, store), format!("/internal/stores/{store}"));
        assert_eq!(
            path(RELEASE, store),
            format!("/internal/stores/{store}/release")
        );
        assert_eq!(path(LOAD, store), "/internal/load");
    }

    #[test]
    fn a_host_request_without_owner_omits_it_and_defaults_apply() {
        let req = HostRequest {
            handle: Handle::parse("acme").expect("handle"),
            name: "Acme".into(),
            currency: Currency::USD,
            state: TenantState::Provisioning,
            owner: None,
        };
        let json = serde_json::to_value(&req).expect("json");
        assert_eq!(
            json,
            json!({"handle": "acme", "name": "Acme", "currency": "USD", "state": "provisioning"})
        );
        let minimal: HostRequest =
            serde_json::from_value(json!({"handle": "acme", "name": "Acme"})).expect("parses");
        assert_eq!(
            (minimal.currency, minimal.state),
            (Currency::USD, TenantState::Active)
        );
        assert!(serde_json::from_value::<HostRequest>(json!({
            "handle": "acme", "name": "Acme", "colour": "red"
        }))
        .is_err());
    }

    #[test]
    fn the_owner_session_is_flat_beside_the_store() {
        let store = StoreId::new();
        let staff = StaffId::new();
        let answer = HostResponse {
            store: HostedStore {
                store_id: store,
                handle: "acme".into(),
                name: "Acme".into(),
                currency: Currency::USD,
                state: TenantState::Active,
            },
            owner: Some(OwnerSession {
                staff_id: staff,
                email: "o@acme.test".into(),
                session: IssuedToken {
                    token: "t".into(),
                    expires_at: 1,
                },
            }),
        };
        let json = serde_json::to_value(&answer).expect("json");
        assert_eq!(
            json,
            json!({"store_id": store, "handle": "acme", "name": "Acme", "currency": "USD",
                   "state": "active",
                   "owner": {"staff_id": staff, "email": "o@acme.test", "token": "t", "expires_at": 1}})
        );
        let back: HostResponse = serde_json::from_value(json).expect("parses");
        assert_eq!(back, answer);
    }
}
