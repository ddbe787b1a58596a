//! Which stores this pod hosts, and the fence.
//!
//! A pod serves a store only while `hosted_stores` says `active`. Every
//! tenant route runs behind [`fence`], which answers any other store with
//! `421 store_not_here` before a handler runs. Writes check again inside
//! their own transaction with [`lock_active`] (opened by [`begin_write`]), which holds a share lock on the
//! store's row until commit: a state change (such as the fence of a move)
//! waits for in-flight writes, and writes after it see the new state.

pub(crate) mod sql;

use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use mercato_tenants::http::bearer_claims;
use mercato_tenants::{hop, ApiError, Currency, ErrorCode, StoreId, TenantState, STORE_HEADER};
use sqlx::{PgPool, Postgres, Transaction};

use crate::error::PodError;
use crate::state::AppState;

/// The store a request is for, placed in request extensions by [`fence`].
#[derive(Debug, Clone)]
pub struct TenantContext {
    pub store_id: StoreId,
    pub name: String,
    pub currency: Currency,
}

impl FromRequestParts<AppState> for TenantContext {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<TenantContext>()
            .cloned()
            .ok_or_else(|| ApiError::internal("tenant context missing: route not behind the fence"))
    }
}

/// `421 store_not_here`: the store is not served by this pod (now).
pub fn store_not_here(store: Option<StoreId>) -> ApiError {
    let what = store
        .map(|s| format!("store {s}"))
        .unwrap_or_else(|| "this store".into());
    ApiError::new(
        ErrorCode::StoreNotHere,
        format!("{what} is not served by this pod"),
    )
}

/// Middleware in front of every tenant route: resolves the store from the
/// router's header, refuses stores this pod does not serve (421), refuses
/// tokens of another store (403), and records the store in the span.
pub async fn fence(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    // Only a router holds the hop key: anything else reaching this port
    // does not get to name a store or a client address.
    let now = chrono::Utc::now().timestamp();
    if let Err(e) = hop::verify(
        state.config.hop_secret.as_bytes(),
        now,
        req.method(),
        req.uri(),
        req.headers(),
    ) {
        return ApiError::new(
            ErrorCode::InvalidSignature,
            format!("the request did not come through a router: {e}"),
        )
        .into_response();
    }
    let raw = match req.headers().get(STORE_HEADER).map(|v| v.to_str()) {
        Some(Ok(raw)) => raw,
        Some(Err(_)) => {
            return ApiError::new(ErrorCode::InvalidId, "malformed store id header").into_response()
        }
        None => return store_not_here(None).into_response(),
    };
    let store_id: StoreId = match raw.parse() {
        Ok(id) => id,
        Err(_) => {
            return ApiError::new(ErrorCode::InvalidId, "malformed store id header").into_response()
        }
    };
    let hosted = match state.hosted.get(store_id) {
        Some(h) if h.state == TenantState::Active => h,
        _ => return store_not_here(Some(store_id)).into_response(),
    };
    let (mut parts, body) = req.into_parts();
    match bearer_claims(&parts, &state.keys) {
        Ok(Some(claims)) if !claims.may_act_for(store_id) => {
            return ApiError::new(ErrorCode::Forbidden, "this token belongs to another store")
                .into_response()
        }
        Err(e) => return e.into_response(),
        Ok(_) => {}
    }
    tracing::Span::current().record("store_id", tracing::field::display(store_id));
    state.fleet.requests.record(store_id);
    parts.extensions.insert(TenantContext {
        store_id,
        name: hosted.name,
        currency: hosted.currency,
    });
    req = Request::from_parts(parts, body);
    next.run(req).await
}

/// Opens a write transaction on `store`: begins it and runs [`lock_active`]
/// first, as every tenant write must.
pub async fn begin_write(
    db: &PgPool,
    store: StoreId,
) -> Result<Transaction<'static, Postgres>, PodError> {
    let mut tx = db.begin().await?;
    lock_active(&mut tx, store).await?;
    Ok(tx)
}

/// Inside a write transaction: confirms the store is active on this pod and
/// holds a share lock on its `hosted_stores` row until the caller commits.
pub async fn lock_active(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
) -> Result<(), PodError> {
    if is_active_locked(tx, store).await? {
        Ok(())
    } else {
        Err(store_not_here(Some(store)).into())
    }
}

/// The fence itself, for every writer (handlers through [`lock_active`],
/// workers directly): whether the store is active here, holding a share
/// lock on its `hosted_stores` row until the transaction ends, so that a
/// state change (a move's fence) waits for this transaction and later ones
/// see it.
pub async fn is_active_locked(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
) -> Result<bool, sqlx::Error> {
    let state = sql::state_for_share(tx, store).await?;
    Ok(matches!(state, Some(s) if s == TenantState::Active.as_str()))
}
