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

    /// `pod_url` joined with an internal API path.
    fn url(pod_url: &str, path: &str) -> String {
        format!("{}{path}", pod_url.trim_end_matches('/'))
    }

    /// Sends a call with a fresh service token; a non-2xx answer becomes
    /// [`PodCallError::Refused`] with the start of its body.
    async fn send(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, PodCallError> {
        let response = request.bearer_auth(self.token()?).send().await?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let body = response.text().await.unwrap_or_default();
        Err(PodCallError::Refused {
            status: status.as_u16(),
            body: body.chars().take(500).collect(),
        })
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
        let url = Self::url(pod_url, &format!("/internal/stores/{store}"));
        let mut body =
            json!({"handle": handle, "name": name, "currency": currency, "state": state});
        if let Some(owner) = owner {
            body["owner"] = json!(owner);
        }
        let hosted: HostResponse = self
            .send(self.http.put(url).json(&body))
            .await?
            .json()
            .await?;
        Ok(hosted.owner)
    }

    /// Asks a pod to forget a store whose creation failed (the pod refuses
    /// unless the store is still `provisioning` there).
    pub async fn forget_store(&self, pod_url: &str, store: StoreId) -> Result<(), PodCallError> {
        let url = Self::url(pod_url, &format!("/internal/stores/{store}"));
        self.send(self.http.delete(url)).await.map(|_| ())
    }

    /// The per-store figures of a pod.
    pub async fn load(&self, pod_url: &str) -> Result<PodLoadReport, PodCallError> {
        let url = Self::url(pod_url, "/internal/load");
        Ok(self.send(self.http.get(url)).await?.json().await?)
    }

    /// Asks a pod to drop every Redis key of a store it hosts, so that
    /// Redis-derived state is rebuilt from its Postgres; the number of keys
    /// deleted.
    pub async fn rebuild_store(&self, pod_url: &str, store: StoreId) -> Result<u64, PodCallError> {
        let url = Self::url(pod_url, &format!("/internal/stores/{store}/rebuild"));
        let rebuilt: RebuildResponse = self.send(self.http.post(url)).await?.json().await?;
        Ok(rebuilt.deleted_keys)
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
        let url = Self::url(pod_url, &format!("/internal/stores/{store}/release"));
        let body = json!({ "purge_after_secs": purge_after_secs });
        self.send(self.http.post(url).json(&body)).await.map(|_| ())
    }
}

/// What a pod reports about the stores it serves (`GET /internal/load`).
#[derive(Debug, Clone, Deserialize)]
pub struct PodLoadReport {
    /// The pod's own name.
    pub pod: String,
    /// When the oldest of its row and byte figures was measured.
    #[serde(default)]
    pub sizes_as_of: Option<chrono::DateTime<chrono::Utc>>,
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
