//! Calls to a pod's internal API, authenticated with a short-lived service
//! token. Only the control plane's own operations use it, never a shopper's
//! request path.

use std::time::Duration;

use mercato_tenants::{Claims, Currency, Handle, Role, StoreId, TenantState, TokenKeys};
use serde::{Deserialize, Serialize};
use serde_json::json;

#[derive(Clone)]
pub struct PodClient {
    http: reqwest::Client,
    keys: TokenKeys,
}

#[derive(Debug, thiserror::Error)]
pub enum PodCallError {
    #[error("pod unreachable: {0}")]
    Unreachable(#[from] reqwest::Error),
    #[error("pod answered {status}: {body}")]
    Refused { status: u16, body: String },
    #[error("cannot sign a service token: {0}")]
    Token(#[from] mercato_tenants::TokenError),
}

/// The merchant's owner account, sent with the hosting call of a self-serve
/// signup. The pod hashes the password; it travels only over this call.
#[derive(Serialize)]
pub struct OwnerCredentials<'a> {
    pub email: &'a str,
    pub password: &'a str,
}

/// The owner's first session, minted by the pod.
#[derive(Debug, Clone, Deserialize)]
pub struct OwnerSession {
    pub token: String,
    pub expires_at: i64,
}

#[derive(Deserialize)]
struct HostResponse {
    #[serde(default)]
    owner: Option<OwnerSession>,
}

impl PodClient {
    pub fn new(keys: TokenKeys, timeout: Duration) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(Duration::from_secs(2))
            .build()?;
        Ok(Self { http, keys })
    }

    fn token(&self) -> Result<String, mercato_tenants::TokenError> {
        let now = chrono::Utc::now().timestamp();
        self.keys
            .issue(&Claims::new("control-plane", Role::Service, None, now, 300))
    }

    /// Asks a pod to host a store in `state` (idempotent on the pod's side
    /// without `owner`). With `owner`, the pod also creates the owner's
    /// staff account in the same transaction and returns its session.
    #[allow(clippy::too_many_arguments)]
    pub async fn host_store(
        &self,
        pod_url: &str,
        store: StoreId,
        handle: &Handle,
        name: &str,
        currency: Currency,
        state: TenantState,
        owner: Option<&OwnerCredentials<'_>>,
    ) -> Result<Option<OwnerSession>, PodCallError> {
        let url = format!("{}/internal/stores/{store}", pod_url.trim_end_matches('/'));
        let mut body =
            json!({"handle": handle, "name": name, "currency": currency, "state": state});
        if let Some(owner) = owner {
            body["owner"] = json!(owner);
        }
        let response = self
            .http
            .put(url)
            .bearer_auth(self.token()?)
            .json(&body)
            .send()
            .await?;
        let status = response.status();
        if status.is_success() {
            let hosted: HostResponse = response.json().await?;
            return Ok(hosted.owner);
        }
        let body = response.text().await.unwrap_or_default();
        Err(PodCallError::Refused {
            status: status.as_u16(),
            body: body.chars().take(500).collect(),
        })
    }
}

impl PodClient {
    /// Asks a pod to forget a store whose creation failed (the pod refuses
    /// unless the store is still `provisioning` there).
    pub async fn forget_store(&self, pod_url: &str, store: StoreId) -> Result<(), PodCallError> {
        let url = format!("{}/internal/stores/{store}", pod_url.trim_end_matches('/'));
        let response = self
            .http
            .delete(url)
            .bearer_auth(self.token()?)
            .send()
            .await?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let body = response.text().await.unwrap_or_default();
        Err(PodCallError::Refused {
            status: status.as_u16(),
            body: body.chars().take(500).collect(),
        })
    }
}

/// What a pod reports about the stores it serves (`GET /internal/load`).
#[derive(Debug, Clone, Deserialize)]
pub struct PodLoadReport {
    /// The pod's own name.
    pub pod: String,
    pub stores: Vec<StoreLoadReport>,
}

/// One store's figures on a pod.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct StoreLoadReport {
    pub store_id: StoreId,
    pub rows: i64,
    pub bytes: i64,
    pub orders_last_hour: i64,
    pub requests_per_minute: i64,
}

#[derive(Deserialize)]
struct RebuildResponse {
    deleted_keys: u64,
}

impl PodClient {
    async fn refused(response: reqwest::Response) -> PodCallError {
        let status = response.status().as_u16();
        let body = response.text().await.unwrap_or_default();
        PodCallError::Refused {
            status,
            body: body.chars().take(500).collect(),
        }
    }

    /// The per-store figures of a pod.
    pub async fn load(&self, pod_url: &str) -> Result<PodLoadReport, PodCallError> {
        let url = format!("{}/internal/load", pod_url.trim_end_matches('/'));
        let response = self.http.get(url).bearer_auth(self.token()?).send().await?;
        if response.status().is_success() {
            return Ok(response.json().await?);
        }
        Err(Self::refused(response).await)
    }

    /// Asks a pod to drop every Redis key of a store it hosts, so that
    /// Redis-derived state is rebuilt from its Postgres; the number of keys
    /// deleted.
    pub async fn rebuild_store(&self, pod_url: &str, store: StoreId) -> Result<u64, PodCallError> {
        let url = format!(
            "{}/internal/stores/{store}/rebuild",
            pod_url.trim_end_matches('/')
        );
        let response = self
            .http
            .post(url)
            .bearer_auth(self.token()?)
            .send()
            .await?;
        if response.status().is_success() {
            let rebuilt: RebuildResponse = response.json().await?;
            return Ok(rebuilt.deleted_keys);
        }
        Err(Self::refused(response).await)
    }

    /// Lets a pod purge the rows of a store moved away from it, after
    /// `purge_after_secs` (the pod refuses unless the store is `moved_out`
    /// there).
    pub async fn release_store(
        &self,
        pod_url: &str,
        store: StoreId,
        purge_after_secs: u64,
    ) -> Result<(), PodCallError> {
        let url = format!(
            "{}/internal/stores/{store}/release",
            pod_url.trim_end_matches('/')
        );
        let response = self
            .http
            .post(url)
            .bearer_auth(self.token()?)
            .json(&json!({ "purge_after_secs": purge_after_secs }))
            .send()
            .await?;
        if response.status().is_success() {
            return Ok(());
        }
        Err(Self::refused(response).await)
    }
}
