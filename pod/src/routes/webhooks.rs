//! A store's webhook subscriptions for its owner: create (the secret is
//! shown once), list, read, change, delete, rotate the secret; each
//! subscription's deliveries, and redelivery of one. The handlers call
//! `webhooks::subscriptions`, as the admin's webhooks pages do.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use mercato_tenants::http::{ApiJson, ApiPath, ApiQuery};
use mercato_tenants::{WebhookDeliveryId, WebhookId};
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::accounts::auth::Owner;
use crate::error::PodError;
use crate::state::AppState;
use crate::tenancy::TenantContext;
use crate::webhooks::model::Topic;
use crate::webhooks::subscriptions::{self, WebhookWithSecret};
use crate::webhooks::{Delivery, Subscription};

type ErrorBody = mercato_tenants::error::ErrorBody;

/// The webhooks API, each route registered with its OpenAPI description.
pub fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_webhooks, create_webhook))
        .routes(routes!(get_webhook, update_webhook, delete_webhook))
        .routes(routes!(rotate_webhook_secret))
        .routes(routes!(list_webhook_deliveries))
        .routes(routes!(redeliver_webhook))
}

/// A topic's name in request schemas: one of [`Topic::ALL`].
pub struct TopicName;

impl utoipa::PartialSchema for TopicName {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .enum_values(Some(Topic::ALL.iter().map(|t| t.as_str())))
            .into()
    }
}

impl utoipa::ToSchema for TopicName {}

/// A new subscription.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWebhook {
    /// Where events are POSTed: an absolute `https://` URL of a host name
    /// (at most 2048 characters as stored, where a `/` after a bare host is
    /// added; no credentials or fragment). A name of a
    /// private, loopback or internal address is refused (`422`) unless the
    /// pod allows private targets; `http://` and IP addresses only there.
    #[schema(
        max_length = 2047,
        pattern = r"^https://(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?::[1-9][0-9]{0,3})?(?:/[A-Za-z0-9._~!$&'()*+,;=:@/-]*)?(?:\?[A-Za-z0-9._~!$&'()*+,;=:@/?-]*)?$"
    )]
    url: String,
    /// At least one topic such as `orders/created` (docs/webhooks.md lists
    /// them); repeats count once.
    #[schema(value_type = Vec<TopicName>, min_items = 1)]
    topics: Vec<String>,
}

/// The store's webhook subscriptions.
#[utoipa::path(get, path = "/admin/api/webhooks", tag = "webhooks",
    responses((status = 200, body = Vec<Subscription>), (status = 403, body = ErrorBody)))]
async fn list_webhooks(
    State(state): State<AppState>,
    tenant: TenantContext,
    _: Owner,
) -> Result<Json<Vec<Subscription>>, PodError> {
    Ok(Json(subscriptions::list(&state.db, tenant.store_id).await?))
}

/// Subscribes a URL to topics (owner only); answers the secret its
/// deliveries are signed with, once.
#[utoipa::path(post, path = "/admin/api/webhooks", tag = "webhooks",
    request_body = CreateWebhook,
    responses((status = 201, body = WebhookWithSecret), (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 422, description = "A URL of a private, loopback or internal address (`unprocessable`)", body = ErrorBody)))]
async fn create_webhook(
    State(state): State<AppState>,
    tenant: TenantContext,
    _: Owner,
    ApiJson(body): ApiJson<CreateWebhook>,
) -> Result<(StatusCode, Json<WebhookWithSecret>), PodError> {
    let created = subscriptions::create(&state, tenant.store_id, &body.url, &body.topics).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// One subscription.
#[utoipa::path(get, path = "/admin/api/webhooks/{id}", tag = "webhooks",
    params(("id" = WebhookId, Path, description = "subscription id")),
    responses((status = 200, body = Subscription), (status = 404, body = ErrorBody)))]
async fn get_webhook(
    State(state): State<AppState>,
    tenant: TenantContext,
    _: Owner,
    ApiPath(id): ApiPath<WebhookId>,
) -> Result<Json<Subscription>, PodError> {
    Ok(Json(
        subscriptions::get(&state.db, tenant.store_id, id).await?,
    ))
}

/// What changes; a field left out stays.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateWebhook {
    /// As in [`CreateWebhook`].
    #[schema(
        max_length = 2047,
        pattern = r"^https://(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?::[1-9][0-9]{0,3})?(?:/[A-Za-z0-9._~!$&'()*+,;=:@/-]*)?(?:\?[A-Za-z0-9._~!$&'()*+,;=:@/?-]*)?$"
    )]
    url: Option<String>,
    /// At least one topic.
    #[schema(value_type = Option<Vec<TopicName>>, min_items = 1)]
    topics: Option<Vec<String>>,
    /// `true` enables it again (clearing its failures); `false` stops its
    /// deliveries.
    enabled: Option<bool>,
}

/// Changes a subscription's URL, topics or whether it is enabled.
#[utoipa::path(patch, path = "/admin/api/webhooks/{id}", tag = "webhooks",
    params(("id" = WebhookId, Path, description = "subscription id")),
    request_body = UpdateWebhook,
    responses((status = 200, body = Subscription), (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 422, description = "A URL of a private, loopback or internal address (`unprocessable`)", body = ErrorBody)))]
async fn update_webhook(
    State(state): State<AppState>,
    tenant: TenantContext,
    _: Owner,
    ApiPath(id): ApiPath<WebhookId>,
    ApiJson(body): ApiJson<UpdateWebhook>,
) -> Result<Json<Subscription>, PodError> {
    Ok(Json(
        subscriptions::update(
            &state,
            tenant.store_id,
            id,
            body.url.as_deref(),
            body.topics.as_deref(),
            body.enabled,
        )
        .await?,
    ))
}

/// Deletes a subscription with its deliveries.
#[utoipa::path(delete, path = "/admin/api/webhooks/{id}", tag = "webhooks",
    params(("id" = WebhookId, Path, description = "subscription id")),
    responses((status = 204), (status = 404, body = ErrorBody)))]
async fn delete_webhook(
    State(state): State<AppState>,
    tenant: TenantContext,
    _: Owner,
    ApiPath(id): ApiPath<WebhookId>,
) -> Result<StatusCode, PodError> {
    subscriptions::delete(&state, tenant.store_id, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Replaces a subscription's secret; answers the new one, once. Deliveries
/// from now on are signed with it.
#[utoipa::path(post, path = "/admin/api/webhooks/{id}/rotate-secret", tag = "webhooks",
    params(("id" = WebhookId, Path, description = "subscription id")),
    responses((status = 200, body = WebhookWithSecret), (status = 404, body = ErrorBody)))]
async fn rotate_webhook_secret(
    State(state): State<AppState>,
    tenant: TenantContext,
    _: Owner,
    ApiPath(id): ApiPath<WebhookId>,
) -> Result<Json<WebhookWithSecret>, PodError> {
    Ok(Json(
        subscriptions::rotate_secret(&state, tenant.store_id, id).await?,
    ))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct DeliveriesQuery {
    /// 1 to 200, default 50.
    #[param(minimum = 1, maximum = 200)]
    limit: Option<u32>,
}

/// A subscription's latest deliveries, newest first, each with its
/// attempts (status code, error, duration).
#[utoipa::path(get, path = "/admin/api/webhooks/{id}/deliveries", tag = "webhooks",
    params(("id" = WebhookId, Path, description = "subscription id"), DeliveriesQuery),
    responses((status = 200, body = Vec<Delivery>), (status = 404, body = ErrorBody)))]
async fn list_webhook_deliveries(
    State(state): State<AppState>,
    tenant: TenantContext,
    _: Owner,
    ApiPath(id): ApiPath<WebhookId>,
    ApiQuery(query): ApiQuery<DeliveriesQuery>,
) -> Result<Json<Vec<Delivery>>, PodError> {
    let limit = query.limit.unwrap_or(50);
    Ok(Json(
        subscriptions::deliveries(&state.db, tenant.store_id, id, limit).await?,
    ))
}

/// Sends a finished (delivered or dead) delivery again, with the same
/// event id; `409` while it is still pending.
#[utoipa::path(post, path = "/admin/api/webhooks/{id}/deliveries/{delivery_id}/redeliver",
    tag = "webhooks",
    params(("id" = WebhookId, Path, description = "subscription id"),
        ("delivery_id" = WebhookDeliveryId, Path, description = "delivery id")),
    responses((status = 202), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn redeliver_webhook(
    State(state): State<AppState>,
    tenant: TenantContext,
    _: Owner,
    ApiPath((id, delivery)): ApiPath<(WebhookId, WebhookDeliveryId)>,
) -> Result<StatusCode, PodError> {
    subscriptions::redeliver(&state, tenant.store_id, id, delivery).await?;
    Ok(StatusCode::ACCEPTED)
}
