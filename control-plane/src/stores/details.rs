//! What a store's owner (on the platform's pages) and an operator (on the
//! API) change about a store after it exists: its name and its custom
//! domains. One function each, for both faces.
//!
//! **A name lives in two places**: `stores.name` here (the console, the
//! sign-in's list) and `hosted_stores.name` on the pod (the storefront, the
//! admin, the mails). A rename commits here first, then tells the pods
//! that host the store now: its pod, and both pods of a move that is
//! running. A move reads the name when it hosts the store on a pod
//! ([`current_name`]), so whichever of a rename and a move's cut-over comes
//! last, the pod that serves the store ends with the new name. If a pod
//! does not answer, the rename is saved here and the answer says so
//! (`503`); sending the same name again finishes it.

use mercato_tenants::{ApiError, Domain, ErrorCode, RoutingChange, StoreId, TenantState};

use super::sql::{self, Store};
use crate::error::ControlError;
use crate::moves::{self, Status};
use crate::{routing, AppState};

/// Most custom domains a store may have.
pub const MAX_CUSTOM_DOMAINS: i64 = 20;

async fn load(state: &AppState, id: StoreId) -> Result<Store, ControlError> {
    sql::get(&state.db, id)
        .await?
        .ok_or_else(|| ApiError::not_found("store").into())
}

fn refuse_provisioning(store: &Store) -> Result<(), ControlError> {
    if store.state == TenantState::Provisioning {
        return Err(ApiError::new(ErrorCode::Conflict, "the store is still being created").into());
    }
    Ok(())
}

/// The store's name as the control plane has it now (a move sends it with
/// every hosting call, so a rename during the move is not undone).
pub async fn current_name(state: &AppState, id: StoreId) -> Result<String, sqlx::Error> {
    let (name,): (String,) = sqlx::query_as("SELECT name FROM stores WHERE id = $1")
        .bind(id.as_uuid())
        .fetch_one(&state.db)
        .await?;
    Ok(name)
}

/// Renames a store: checked ([`mercato_tenants::text::store_name`]),
/// saved, then sent to the pods hosting it.
pub async fn rename(state: &AppState, id: StoreId, raw: &str) -> Result<Store, ControlError> {
    let name = mercato_tenants::text::store_name(raw).map_err(ApiError::invalid)?;
    let store = load(state, id).await?;
    refuse_provisioning(&store)?;
    if store.name != name {
        sqlx::query("UPDATE stores SET name = $2, updated_at = now() WHERE id = $1")
            .bind(id.as_uuid())
            .bind(name)
            .execute(&state.db)
            .await?;
    }
    // Read after the commit: the pods that host the store from now on
    // read the new name themselves (see the module's note).
    let store = load(state, id).await?;
    let mut pods = vec![store.pod_id];
    let running = moves::sql::list(&state.db, Some(id), Some(Status::Running), 1).await?;
    for m in running {
        pods.extend([m.source_pod_id, m.target_pod_id]);
    }
    pods.sort();
    pods.dedup();
    for pod in pods {
        let Some(url) = sql::pod_url(&state.db, pod).await? else {
            continue;
        };
        match state.pods.rename_store(&url, id, name).await {
            Ok(()) => {}
            // A move's target that does not host the store yet: it will
            // read the name when it does.
            Err(crate::pod_client::PodCallError::Refused { status: 404, .. })
                if pod != store.pod_id => {}
            Err(e) => {
                tracing::warn!(store_id = %id, pod_id = %pod, error = %e, "a pod did not take the store's new name");
                return Err(ApiError::new(
                    ErrorCode::PodUnavailable,
                    "the new name is saved, but the store's pod did not take it yet; \
                     send it again in a moment",
                )
                .into());
            }
        }
    }
    Ok(store)
}

/// A custom domain: valid, with at least two labels, and not under the
/// platform domain (those are handed out by handle only).
pub fn parse_custom_domain(state: &AppState, raw: &str) -> Result<Domain, ControlError> {
    let domain = Domain::parse(raw.trim())
        .map_err(|e| ApiError::new(ErrorCode::InvalidDomain, e.to_string()))?;
    if !domain.as_str().contains('.') {
        return Err(ApiError::new(
            ErrorCode::InvalidDomain,
            "a custom domain needs at least two labels",
        )
        .into());
    }
    // Which names are the platform's depends on its configuration, not on
    // the request's shape: a 422, as the document says.
    if domain.is_within(&state.platform_domain) {
        return Err(ApiError::new(
            ErrorCode::Unprocessable,
            format!(
                "domains under {} are given by store handle",
                state.platform_domain
            ),
        )
        .into());
    }
    Ok(domain)
}

/// Adds a custom domain, unique platform-wide, at most
/// [`MAX_CUSTOM_DOMAINS`] a store; routed once this returns.
pub async fn add_domain(state: &AppState, id: StoreId, raw: &str) -> Result<Store, ControlError> {
    let domain = parse_custom_domain(state, raw)?;
    let store = load(state, id).await?;
    refuse_provisioning(&store)?;
    let mut tx = state.db.begin().await.map_err(ApiError::internal)?;
    // The store's row is locked so two additions cannot both pass the cap.
    sqlx::query("SELECT 1 FROM stores WHERE id = $1 FOR UPDATE")
        .bind(id.as_uuid())
        .execute(&mut *tx)
        .await?;
    let (customs,): (i64,) =
        sqlx::query_as("SELECT count(*) FROM domains WHERE store_id = $1 AND kind = 'custom'")
            .bind(id.as_uuid())
            .fetch_one(&mut *tx)
            .await?;
    if customs >= MAX_CUSTOM_DOMAINS {
        return Err(ApiError::new(
            ErrorCode::Unprocessable,
            format!("a store has at most {MAX_CUSTOM_DOMAINS} custom domains; remove one first"),
        )
        .into());
    }
    sql::insert_domain(&mut *tx, id, &domain, "custom").await?;
    let version = routing::record(&mut tx, &[RoutingChange::Domain { domain, store: id }]).await?;
    tx.commit().await?;
    state.routing_changed(version);
    load(state, id).await
}

/// Removes a custom domain of the store (its platform domain stays).
pub async fn remove_domain(
    state: &AppState,
    id: StoreId,
    raw: &str,
) -> Result<Store, ControlError> {
    let domain =
        Domain::parse(raw).map_err(|e| ApiError::new(ErrorCode::InvalidDomain, e.to_string()))?;
    let mut tx = state.db.begin().await.map_err(ApiError::internal)?;
    let kind: Option<(String,)> =
        sqlx::query_as("SELECT kind FROM domains WHERE domain = $1 AND store_id = $2 FOR UPDATE")
            .bind(domain.as_str())
            .bind(id.as_uuid())
            .fetch_optional(&mut *tx)
            .await?;
    match kind {
        None => return Err(ApiError::not_found("domain").into()),
        Some((k,)) if k == "platform" => {
            return Err(ApiError::new(
                ErrorCode::Unprocessable,
                "the platform domain of a store cannot be removed",
            )
            .into())
        }
        Some(_) => {}
    }
    sqlx::query("DELETE FROM domains WHERE domain = $1")
        .bind(domain.as_str())
        .execute(&mut *tx)
        .await?;
    let version = routing::record(&mut tx, &[RoutingChange::DomainRemoved { domain }]).await?;
    tx.commit().await?;
    state.routing_changed(version);
    load(state, id).await
}
