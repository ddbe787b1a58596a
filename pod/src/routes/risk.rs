//! A store's risk settings for its owner: the thresholds the checkout's
//! risk screen decides with (`risk::model::RiskSettings`).

use axum::extract::State;
use axum::Json;
use mercato_tenants::http::ApiJson;
use mercato_tenants::{ApiError, ErrorCode};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::accounts::auth::Owner;
use crate::error::PodError;
use crate::risk::{self, RiskSettings};
use crate::state::AppState;
use crate::tenancy::TenantContext;

type ErrorBody = mercato_tenants::error::ErrorBody;

/// The risk settings API, each route registered with its OpenAPI
/// description.
pub fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_risk_settings, put_risk_settings))
        .routes(routes!(list_risk_reviews))
        .routes(routes!(decide_risk_review))
}

/// A checkout waiting for staff's decision.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct RiskReview {
    pub checkout_id: mercato_tenants::CheckoutId,
    pub order_id: Option<mercato_tenants::OrderId>,
    pub email: String,
    pub total_minor: i64,
    pub currency: String,
    /// The screen's decision and why (null if it was not kept).
    pub assessment: Option<risk::Assessment>,
    /// Since when it waits.
    pub since: chrono::DateTime<chrono::Utc>,
}

/// The review queue: checkouts the risk screen sent to review (payment
/// authorized, order placed, nothing captured), oldest first, at most 200.
/// Approve or cancel each with `POST /admin/api/orders/{id}/review`.
#[utoipa::path(get, path = "/admin/api/risk/reviews", tag = "settings",
    responses((status = 200, body = Vec<RiskReview>), (status = 403, body = ErrorBody)))]
async fn list_risk_reviews(
    State(state): State<AppState>,
    tenant: TenantContext,
    _: crate::accounts::auth::Staff,
) -> Result<Json<Vec<RiskReview>>, PodError> {
    let store = tenant.store_id;
    let waiting = crate::checkout::in_review(&state, store, 200).await?;
    let ids: Vec<_> = waiting.iter().map(|c| c.id).collect();
    let mut assessments = risk::assessments_of(&state.db, store, &ids).await?;
    let mut out = Vec::with_capacity(waiting.len());
    for c in waiting {
        let assessment = assessments.remove(&c.id);
        let (email, total_minor, currency) = c.quote.as_ref().map_or_else(
            || (String::new(), 0, String::new()),
            |q| {
                (
                    q.email.clone(),
                    q.total_minor,
                    q.currency.as_str().to_owned(),
                )
            },
        );
        out.push(RiskReview {
            checkout_id: c.id,
            order_id: c.order_id,
            email,
            total_minor,
            currency,
            assessment,
            since: c.updated_at,
        });
    }
    Ok(Json(out))
}

#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReviewDecision {
    /// Capture the payment; the order goes on as any paid order.
    Approve,
    /// Void the authorization, cancel the order, release the stock.
    Cancel,
}

#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecideReview {
    pub decision: ReviewDecision,
}

/// Staff's decision on an order in review. `409 invalid_transition` when
/// its checkout is not in review (decided already, or never sent there).
#[utoipa::path(post, path = "/admin/api/orders/{id}/review", tag = "orders",
    params(("id" = mercato_tenants::OrderId, Path, description = "order id")),
    request_body = DecideReview,
    responses((status = 200, body = crate::orders::Order), (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "invalid_transition", body = ErrorBody)))]
async fn decide_risk_review(
    State(state): State<AppState>,
    tenant: TenantContext,
    _: crate::accounts::auth::Staff,
    mercato_tenants::http::ApiPath(id): mercato_tenants::http::ApiPath<mercato_tenants::OrderId>,
    ApiJson(body): ApiJson<DecideReview>,
) -> Result<Json<crate::orders::Order>, PodError> {
    let store = tenant.store_id;
    let checkout = crate::checkout::of_order(&state, store, id)
        .await?
        .ok_or_else(|| ApiError::not_found("order"))?;
    let approve = matches!(body.decision, ReviewDecision::Approve);
    if !crate::checkout::saga::decide_review(&state, store, checkout.id, approve, None).await? {
        return Err(ApiError::new(
            ErrorCode::InvalidTransition,
            "this order is not waiting for a review decision",
        )
        .into());
    }
    let mut conn = state.db.acquire().await?;
    let order = crate::orders::get(&mut conn, store, id, false)
        .await?
        .ok_or_else(|| ApiError::not_found("order"))?;
    Ok(Json(order))
}

/// The store's risk settings (owner only): the thresholds its checkouts
/// are screened with; the defaults until the owner sets them.
#[utoipa::path(get, path = "/admin/api/settings/risk", tag = "settings",
    responses((status = 200, body = RiskSettings), (status = 403, body = ErrorBody)))]
async fn get_risk_settings(
    State(state): State<AppState>,
    tenant: TenantContext,
    _: Owner,
) -> Result<Json<RiskSettings>, PodError> {
    Ok(Json(risk::settings(&state.db, tenant.store_id).await?))
}

/// Sets the store's risk settings (owner only), all at once: a field left
/// out takes its default, `null` turns a threshold off. A value out of its
/// bounds is `400 invalid_request`; a review threshold not below its block
/// threshold is `422 invalid_risk_settings`. Domains and emails are kept
/// lower-cased, sorted, each once.
#[utoipa::path(put, path = "/admin/api/settings/risk", tag = "settings",
    request_body = RiskSettings,
    responses((status = 200, body = RiskSettings), (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn put_risk_settings(
    State(state): State<AppState>,
    tenant: TenantContext,
    _: Owner,
    ApiJson(body): ApiJson<RiskSettings>,
) -> Result<Json<RiskSettings>, PodError> {
    Ok(Json(
        risk::put_settings(&state.db, tenant.store_id, body).await?,
    ))
}
