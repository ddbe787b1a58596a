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

impl PodClient {
    async fn call(
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

    /// Asks a pod to drop a store's Redis state, which it rebuilds from
    /// Postgres on demand. Returns the number of keys deleted.
    pub async fn rebuild_store(&self, pod_url: &str, store: StoreId) -> Result<u64, PodCallError> {
        #[derive(Deserialize)]
        struct Rebuilt {
            deleted_keys: u64,
        }
        let url = format!(
            "{}/internal/stores/{store}/rebuild",
            pod_url.trim_end_matches('/')
        );
        let rebuilt: Rebuilt = self.call(self.http.post(url)).await?.json().await?;
        Ok(rebuilt.deleted_keys)
    }

    /// Lets a pod purge a moved-out store's rows after `purge_after_secs`.
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
        self.call(
            self.http
                .post(url)
                .json(&json!({ "purge_after_secs": purge_after_secs })),
        )
        .await
        .map(|_| ())
    }
}
