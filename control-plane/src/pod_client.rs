//! Calls to a pod's internal API, authenticated with a short-lived service
//! token. Only the control plane's own operations use it, never a shopper's
//! request path.

use std::time::Duration;

use mercato_tenants::pod_api::{
    self, HostRequest, HostResponse, LoadReport, OwnerCredentials, OwnerSession, Rebuilt,
    ReleaseRequest, StaffLoginRequest, StaffPasswordResetRequest, StoreTokenRequest,
};
use mercato_tenants::{
    Claims, Currency, Handle, IssuedToken, Role, StoreId, TenantState, TokenKeys,
};

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
        owner: Option<&OwnerCredentials>,
    ) -> Result<Option<OwnerSession>, PodCallError> {
        let url = Self::url(pod_url, &pod_api::path(pod_api::STORE, store));
        let body = HostRequest {
            handle: handle.clone(),
            name: name.to_owned(),
            currency,
            state,
            owner: owner.cloned(),
        };
        let hosted: HostResponse = self
            .send(self.http.put(url).json(&body))
            .await?
            .json()
            .await?;
        Ok(hosted.owner)
    }

    /// Gives a store hosted on the pod its new name, its state untouched.
    pub async fn rename_store(
        &self,
        pod_url: &str,
        store: StoreId,
        name: &str,
    ) -> Result<(), PodCallError> {
        let url = Self::url(pod_url, &pod_api::path(pod_api::STORE_NAME, store));
        let body = pod_api::RenameRequest {
            name: name.to_owned(),
        };
        self.send(self.http.put(url).json(&body)).await.map(|_| ())
    }

    /// Asks a pod to forget a store whose creation failed (the pod refuses
    /// unless the store is still `provisioning` there).
    pub async fn forget_store(&self, pod_url: &str, store: StoreId) -> Result<(), PodCallError> {
        let url = Self::url(pod_url, &pod_api::path(pod_api::STORE, store));
        self.send(self.http.delete(url)).await.map(|_| ())
    }

    /// The per-store figures of a pod.
    pub async fn load(&self, pod_url: &str) -> Result<LoadReport, PodCallError> {
        let url = Self::url(pod_url, pod_api::LOAD);
        Ok(self.send(self.http.get(url)).await?.json().await?)
    }

    /// Asks a pod to drop every Redis key of a store it hosts, so that
    /// Redis-derived state is rebuilt from its Postgres; the number of keys
    /// deleted.
    pub async fn rebuild_store(&self, pod_url: &str, store: StoreId) -> Result<u64, PodCallError> {
        let url = Self::url(pod_url, &pod_api::path(pod_api::REBUILD, store));
        let rebuilt: Rebuilt = self.send(self.http.post(url)).await?.json().await?;
        Ok(rebuilt.deleted_keys)
    }

    /// A staff or customer token for a store the pod serves, signed by the
    /// pod (the control plane signs no store roles).
    pub async fn store_token(
        &self,
        pod_url: &str,
        store: StoreId,
        request: &StoreTokenRequest,
    ) -> Result<IssuedToken, PodCallError> {
        let url = Self::url(pod_url, &pod_api::path(pod_api::TOKENS, store));
        Ok(self
            .send(self.http.post(url).json(request))
            .await?
            .json()
            .await?)
    }

    /// A staff member's sign-in to a store the pod serves, checked by the
    /// pod (its password, its login limits): their new session.
    pub async fn staff_login(
        &self,
        pod_url: &str,
        store: StoreId,
        request: &StaffLoginRequest,
    ) -> Result<IssuedToken, PodCallError> {
        let url = Self::url(pod_url, &pod_api::path(pod_api::STAFF_LOGIN, store));
        Ok(self
            .send(self.http.post(url).json(request))
            .await?
            .json()
            .await?)
    }

    /// Asks the pod of a store to mail its staff member of `email` a
    /// password-reset link to the store's admin; the pod answers the same
    /// whether or not there is such a member.
    pub async fn staff_password_reset(
        &self,
        pod_url: &str,
        store: StoreId,
        email: &str,
    ) -> Result<(), PodCallError> {
        let url = Self::url(
            pod_url,
            &pod_api::path(pod_api::STAFF_PASSWORD_RESET, store),
        );
        let body = StaffPasswordResetRequest {
            email: email.to_owned(),
        };
        self.send(self.http.post(url).json(&body)).await.map(|_| ())
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
        let url = Self::url(pod_url, &pod_api::path(pod_api::RELEASE, store));
        let body = ReleaseRequest { purge_after_secs };
        self.send(self.http.post(url).json(&body)).await.map(|_| ())
    }
}
