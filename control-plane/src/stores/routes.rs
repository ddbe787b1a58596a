//! Store endpoints of the operator API.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use mercato_tenants::error::ErrorBody;
use mercato_tenants::http::{ApiJson, ApiPath, ApiQuery};
use mercato_tenants::openapi::{EmailAddress, Hostname, StoreHandle};
use mercato_tenants::operator::StorePage;
use mercato_tenants::pod_api::{OwnerCredentials, OwnerSession, StoreTokenRequest};
use mercato_tenants::{
    ApiError, Currency, Domain, ErrorCode, Handle, IssuedToken, Role, RoutingChange, StoreId,
    TenantState,
};
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::details;
use super::sql::{self, Store};
use crate::auth::Operator;
use crate::error::ControlError;
use crate::placement::place;
use crate::{fleet, routing, AppState};

/// The stores API, each route registered with its OpenAPI description.
pub fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::default()
        .routes(routes!(list, create))
        .routes(routes!(show, rename))
        .routes(routes!(add_domain))
        .routes(routes!(remove_domain))
        .routes(routes!(issue_token))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct CreateStore {
    /// 1 to 200 characters, not only spaces.
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\u0000-\u0020\u007F-\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000][^\u0000-\u001F\u007F-\u009F]*$"
    )]
    name: String,
    #[schema(value_type = StoreHandle)]
    handle: String,
    #[schema(value_type = EmailAddress)]
    owner_email: String,
    #[serde(default)]
    currency: Option<Currency>,
    /// Custom domains, not under the platform domain.
    #[serde(default)]
    #[schema(max_items = 20, value_type = Vec<Hostname>)]
    domains: Vec<String>,
}

fn valid_email(email: &str) -> bool {
    let Some((local, host)) = email.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && email.len() <= 254
        && !email.contains(char::is_whitespace)
        && !host.contains('@')
        && Domain::parse(host)
            .map(|d| d.as_str().contains('.'))
            .unwrap_or(false)
}

fn parse_handle(raw: &str) -> Result<Handle, ApiError> {
    Handle::parse(raw).map_err(|e| ApiError::new(ErrorCode::InvalidHandle, e.to_string()))
}

/// Places a store on a pod, has the pod host it, then publishes it in the
/// routing table.
#[utoipa::path(post, path = "/v1/stores", tag = "stores", security(("bearer" = [])),
    request_body = CreateStore,
    responses((status = 201, body = Store), (status = 409, description = "the handle or a domain is taken", body = ErrorBody),
        (status = 422, description = "a domain under the platform's own, which stores get by handle only (`unprocessable`)", body = ErrorBody),
        (status = 503, description = "no pod can take the store now", body = ErrorBody)))]
async fn create(
    State(state): State<AppState>,
    _: Operator,
    ApiJson(req): ApiJson<CreateStore>,
) -> Result<(StatusCode, Json<Store>), ControlError> {
    let name = mercato_tenants::text::store_name(&req.name)
        .map_err(|e| ApiError::invalid(format!("name: {e}")))?;
    let handle = parse_handle(&req.handle)?;
    let email = req.owner_email.trim();
    if !valid_email(email) {
        return Err(ApiError::invalid("owner_email is not a valid email address").into());
    }
    let customs = req
        .domains
        .iter()
        .map(|d| details::parse_custom_domain(&state, d))
        .collect::<Result<Vec<_>, _>>()?;
    if customs.len() > 20 {
        return Err(ApiError::invalid("at most 20 custom domains at creation").into());
    }
    let (created, _) = provision(
        &state,
        NewStore {
            name,
            handle,
            owner_email: email,
            currency: req.currency.unwrap_or(Currency::USD),
            customs,
            owner: None,
        },
    )
    .await?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// A validated store to create.
pub struct NewStore<'a> {
    pub name: &'a str,
    pub handle: Handle,
    pub owner_email: &'a str,
    pub currency: Currency,
    pub customs: Vec<Domain>,
    /// With an owner account (self-serve signup): the pod creates it in the
    /// hosting transaction and returns its first session.
    pub owner: Option<OwnerCredentials>,
}

/// Creates a store: the handle and domains are reserved first (state
/// `provisioning`), the pod hosts it as `provisioning` (with the owner
/// account, if any) and then `active`, and the routing table publishes it.
/// If the pod cannot host the store, the pod is asked to forget it and the
/// reservation is removed, so nothing is left behind.
pub async fn provision(
    state: &AppState,
    new: NewStore<'_>,
) -> Result<(Store, Option<OwnerSession>), ControlError> {
    let NewStore {
        name,
        handle,
        owner_email: email,
        currency,
        customs,
        owner,
    } = new;
    let platform = state.platform_domain.store_subdomain(&handle);
    // 1. Reserve: choose a pod and record the store as provisioning. Locking
    //    the pod rows serialises placements, so capacity holds under races.
    let store_id = StoreId::new();
    let mut tx = state.db.begin().await.map_err(ApiError::internal)?;
    let urls: Vec<(Uuid, String)> =
        sqlx::query_as("SELECT id, url FROM pods ORDER BY id FOR UPDATE")
            .fetch_all(&mut *tx)
            .await?;
    let candidates = fleet::pod_loads(&mut *tx).await?;
    let pod = place(&candidates).ok_or_else(|| {
        ApiError::new(
            ErrorCode::NoPodAvailable,
            "no active pod has room for a new store",
        )
    })?;
    let pod_url = urls
        .into_iter()
        .find(|(id, _)| *id == pod.as_uuid())
        .map(|(_, url)| url)
        .unwrap_or_default();
    sqlx::query(
        "INSERT INTO stores (id, name, handle, owner_email, currency, pod_id, state) VALUES ($1, $2, $3, $4, $5, $6, 'provisioning')",
    )
    .bind(store_id.as_uuid())
    .bind(name)
    .bind(handle.as_str())
    .bind(email)
    .bind(currency.as_str())
    .bind(pod.as_uuid())
    .execute(&mut *tx)
    .await?;
    sql::insert_domain(&mut *tx, store_id, &platform, "platform").await?;
    for domain in &customs {
        sql::insert_domain(&mut *tx, store_id, domain, "custom").await?;
    }
    tx.commit().await?;

    // 2. Host it on the pod: provisioning first (with the owner account),
    //    then active. A store the pod holds as provisioning can be forgotten.
    let session = match state
        .pods
        .host_store(
            &pod_url,
            store_id,
            &handle,
            name,
            currency,
            TenantState::Provisioning,
            owner.as_ref(),
        )
        .await
    {
        Ok(session) => session,
        Err(e) => {
            tracing::error!(store_id = %store_id, pod_id = %pod, error = %e, "pod could not host the store");
            abandon(state, &pod_url, store_id, false).await;
            return Err(pod_failed().into());
        }
    };
    if let Err(e) = state
        .pods
        .host_store(
            &pod_url,
            store_id,
            &handle,
            name,
            currency,
            TenantState::Active,
            None,
        )
        .await
    {
        tracing::error!(store_id = %store_id, pod_id = %pod, error = %e, "pod could not activate the store");
        abandon(state, &pod_url, store_id, true).await;
        return Err(pod_failed().into());
    }
    // 3. Publish it.
    let mut changes = vec![RoutingChange::Store {
        store: store_id,
        pod,
        state: TenantState::Active,
    }];
    changes.push(RoutingChange::Domain {
        domain: platform,
        store: store_id,
    });
    changes.extend(customs.into_iter().map(|domain| RoutingChange::Domain {
        domain,
        store: store_id,
    }));
    let mut tx = state.db.begin().await.map_err(ApiError::internal)?;
    sqlx::query("UPDATE stores SET state = 'active', updated_at = now() WHERE id = $1")
        .bind(store_id.as_uuid())
        .execute(&mut *tx)
        .await?;
    let version = routing::record(&mut tx, &changes).await?;
    tx.commit().await?;
    state.routing_changed(version);
    tracing::info!(store_id = %store_id, pod_id = %pod, handle = %handle, "store created");

    let created = sql::get(&state.db, store_id)
        .await?
        .ok_or_else(|| ApiError::internal("store vanished"))?;
    Ok((created, session))
}

fn pod_failed() -> ApiError {
    ApiError::new(
        ErrorCode::PodUnavailable,
        "the chosen pod could not host the store; try again",
    )
}

/// Undoes a creation that failed at the pod: asks the pod to forget the
/// store (after setting it back to provisioning if it may have become
/// active), then removes the reservation. Failures are logged; the
/// reservation goes in any case.
async fn abandon(state: &AppState, pod_url: &str, store_id: StoreId, demote: bool) {
    let demoted = if demote {
        match sql::get(&state.db, store_id).await {
            Ok(Some(s)) => match Handle::parse(&s.handle) {
                Ok(handle) => state
                    .pods
                    .host_store(
                        pod_url,
                        store_id,
                        &handle,
                        &s.name,
                        s.currency,
                        TenantState::Provisioning,
                        None,
                    )
                    .await
                    .map(|_| ())
                    .map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            },
            Ok(None) => Err("reservation missing".into()),
            Err(e) => Err(e.to_string()),
        }
    } else {
        Ok(())
    };
    if let Err(e) = demoted {
        tracing::error!(store_id = %store_id, error = %e, "could not set a failed store back to provisioning on its pod");
    }
    if let Err(e) = state.pods.forget_store(pod_url, store_id).await {
        tracing::error!(store_id = %store_id, error = %e, "the pod could not forget a failed store");
    }
    if let Err(e) = sqlx::query("DELETE FROM stores WHERE id = $1")
        .bind(store_id.as_uuid())
        .execute(&state.db)
        .await
    {
        tracing::error!(store_id = %store_id, error = %e, "could not remove the reservation of a failed store");
    }
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// `next_cursor` of the previous page.
    after: Option<StoreId>,
    /// 1 to 500, default 50.
    #[param(minimum = 1, maximum = 500)]
    limit: Option<i64>,
    /// The store with this handle (the page then holds it or nothing).
    handle: Option<String>,
}

/// Stores in id order, a page at a time; or the one with a handle.
#[utoipa::path(get, path = "/v1/stores", tag = "stores", security(("bearer" = [])),
    params(ListQuery), responses((status = 200, body = StorePage)))]
async fn list(
    State(state): State<AppState>,
    _: Operator,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<StorePage>, ControlError> {
    if let Some(handle) = q.handle {
        let found = sql::get_by_handle(&state.db, &handle.to_ascii_lowercase()).await?;
        return Ok(Json(StorePage {
            items: found.into_iter().collect(),
            next_cursor: None,
        }));
    }
    let limit = q.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::invalid("limit must be 1 to 500").into());
    }
    let items = sql::list(&state.db, q.after, limit).await?;
    let next_cursor = (items.len() as i64 == limit)
        .then(|| items.last().map(|s| s.id))
        .flatten();
    Ok(Json(StorePage { items, next_cursor }))
}

async fn load(state: &AppState, id: StoreId) -> Result<Store, ControlError> {
    sql::get(&state.db, id)
        .await?
        .ok_or_else(|| ApiError::not_found("store").into())
}

/// One store, with its domains and latest load figures.
#[utoipa::path(get, path = "/v1/stores/{id}", tag = "stores", security(("bearer" = [])),
    params(("id" = StoreId, Path)), responses((status = 200, body = Store), (status = 404, body = ErrorBody)))]
async fn show(
    State(state): State<AppState>,
    _: Operator,
    ApiPath(id): ApiPath<StoreId>,
) -> Result<Json<Store>, ControlError> {
    load(&state, id).await.map(Json)
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct Rename {
    /// 1 to 200 characters, one line.
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\u0000-\u0020\u007F-\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000][^\u0000-\u001F\u007F-\u009F]*$"
    )]
    name: String,
}

/// Renames a store: saved here, then sent to the pods hosting it (the
/// storefront, the admin and the mails show it). The store's owner does
/// the same on the platform's pages.
#[utoipa::path(patch, path = "/v1/stores/{id}", tag = "stores", security(("bearer" = [])),
    params(("id" = StoreId, Path)), request_body = Rename,
    responses((status = 200, body = Store), (status = 404, body = ErrorBody),
        (status = 409, description = "the store is still being created", body = ErrorBody),
        (status = 503, description = "the name is saved but the store's pod did not take it yet; send it again", body = ErrorBody)))]
async fn rename(
    State(state): State<AppState>,
    _: Operator,
    ApiPath(id): ApiPath<StoreId>,
    ApiJson(req): ApiJson<Rename>,
) -> Result<Json<Store>, ControlError> {
    details::rename(&state, id, &req.name).await.map(Json)
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct AddDomain {
    /// Not under the platform domain.
    #[schema(value_type = Hostname)]
    domain: String,
}

/// Adds a custom domain, unique platform-wide, at most 20 a store.
#[utoipa::path(post, path = "/v1/stores/{id}/domains", tag = "stores", security(("bearer" = [])),
    params(("id" = StoreId, Path)), request_body = AddDomain,
    responses((status = 201, body = Store), (status = 404, body = ErrorBody),
        (status = 409, description = "the domain is taken, or the store is still being created", body = ErrorBody),
        (status = 422, description = "a domain under the platform's own, which stores get by handle only, or a 21st custom domain (`unprocessable`)", body = ErrorBody)))]
async fn add_domain(
    State(state): State<AppState>,
    _: Operator,
    ApiPath(id): ApiPath<StoreId>,
    ApiJson(req): ApiJson<AddDomain>,
) -> Result<(StatusCode, Json<Store>), ControlError> {
    let store = details::add_domain(&state, id, &req.domain).await?;
    Ok((StatusCode::CREATED, Json(store)))
}

/// Removes a custom domain (a store's platform domain stays).
#[utoipa::path(delete, path = "/v1/stores/{id}/domains/{domain}", tag = "stores", security(("bearer" = [])),
    params(("id" = StoreId, Path), ("domain" = Hostname, Path)),
    responses((status = 200, body = Store), (status = 404, body = ErrorBody),
        (status = 422, description = "the store's platform domain", body = ErrorBody)))]
async fn remove_domain(
    State(state): State<AppState>,
    _: Operator,
    ApiPath((id, raw)): ApiPath<(StoreId, String)>,
) -> Result<Json<Store>, ControlError> {
    details::remove_domain(&state, id, &raw).await.map(Json)
}

/// The roles a store token may have.
#[derive(Debug, Clone, Copy, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
enum StoreRole {
    Staff,
    Customer,
}

impl From<StoreRole> for Role {
    fn from(role: StoreRole) -> Self {
        match role {
            StoreRole::Staff => Role::Staff,
            StoreRole::Customer => Role::Customer,
        }
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct TokenRequest {
    role: StoreRole,
    /// Whom the token names (a customer's id for a customer token); by
    /// default `operator:<the operator's subject>`. 1 to 200 characters,
    /// no control characters.
    #[serde(default)]
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*$"
    )]
    subject: Option<String>,
    /// Lifetime in seconds, 60 to 30 days; default an hour.
    #[serde(default)]
    #[schema(minimum = 60, maximum = 2_592_000)]
    ttl_secs: Option<i64>,
}

/// A staff or customer token for a store, for operators acting on a
/// merchant's behalf and for automation. A staff token without a session
/// acts with the store owner's rights. The store's pod signs it: only pods
/// hold the key for store roles.
#[utoipa::path(post, path = "/v1/stores/{id}/tokens", tag = "stores", security(("bearer" = [])),
    params(("id" = StoreId, Path)), request_body = TokenRequest,
    responses((status = 201, body = IssuedToken), (status = 404, body = ErrorBody)))]
async fn issue_token(
    State(state): State<AppState>,
    Operator(op): Operator,
    ApiPath(id): ApiPath<StoreId>,
    ApiJson(req): ApiJson<TokenRequest>,
) -> Result<(StatusCode, Json<IssuedToken>), ControlError> {
    let request = StoreTokenRequest {
        role: Role::from(req.role),
        subject: req
            .subject
            .unwrap_or_else(|| format!("operator:{}", op.sub)),
        ttl_secs: req.ttl_secs.unwrap_or(3600),
    };
    // Checked here too, so a bad request is refused without a pod call.
    request
        .claims(id, chrono::Utc::now().timestamp())
        .map_err(ApiError::invalid)?;
    let store = load(&state, id).await?;
    let pod_url = sql::pod_url(&state.db, store.pod_id)
        .await?
        .ok_or_else(|| ApiError::not_found("pod"))?;
    let token = state
        .pods
        .store_token(&pod_url, id, &request)
        .await
        .map_err(|e| {
            tracing::warn!(store_id = %id, error = %e, "the store's pod did not sign a token");
            ApiError::new(
                ErrorCode::PodUnavailable,
                "the store's pod cannot sign a token now; try again",
            )
        })?;
    Ok((StatusCode::CREATED, Json(token)))
}

#[cfg(test)]
mod tests {
    use super::valid_email;

    #[test]
    fn emails() {
        assert!(valid_email("owner@example.com"));
        assert!(!valid_email("owner@localhost"));
        assert!(!valid_email("owner"));
        assert!(!valid_email("a b@example.com"));
        assert!(!valid_email("@example.com"));
        assert!(!valid_email("a@b@example.com"));
    }
}
