//! The admin's integrations settings, the owner's alone as their API is
//! (`/admin/api/api-keys` and `/admin/api/webhooks` take the `Owner`
//! extractor): other staff get `403` on every page and form here, and the
//! settings index links them to none of it.
//!
//! - API keys (`/admin/settings/api-keys`): the keys not revoked (name,
//!   prefix, when made and last used), a form for a new one, revocation
//!   (a box to tick first); through `accounts::api_keys`.
//! - Webhooks (`/admin/settings/webhooks`, and an endpoint's page
//!   `/admin/settings/webhooks/{id}`): the endpoints, a new one (URL and
//!   topics), an endpoint's URL, topics and whether it is enabled, its
//!   secret rotated, its removal, its latest deliveries each with a
//!   "send again" button; through `webhooks::subscriptions`.
//!
//! A secret (a new API key, an endpoint's signing secret, made or rotated)
//! is shown once, in the answer to the form that made it, a page that is
//! `Cache-Control: private, no-store`: never in an address, a redirect or
//! a notice that comes back.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use bytes::Bytes;
use mercato_tenants::http::ApiQuery;
use mercato_tenants::{ApiError, ApiKeyId, ErrorCode, WebhookDeliveryId, WebhookId};
use minijinja::context;
use minijinja::value::Value;
use utoipa_axum::router::OpenApiRouter;

use super::pages::{error_page, html, render, sign_in_first};
use super::session::{AdminSession, MaybeAdmin};
use crate::accounts::api_keys::{self, CreatedApiKey};
use crate::error::PodError;
use crate::state::AppState;
use crate::tenancy::TenantContext;
use crate::webhooks::model::Topic;
use crate::webhooks::subscriptions::{self, WebhookWithSecret};
use crate::webhooks::{Delivery, DeliveryState, Subscription};
use mercato_tenants::forms::{field, see_other, sentence};

/// This module's templates, added to the admin's engine.
pub const TEMPLATES: &[(&str, &str)] = &[
    ("api_keys.html", include_str!("templates/api_keys.html")),
    ("webhooks.html", include_str!("templates/webhooks.html")),
    (
        "webhooks_topics.html",
        include_str!("templates/webhooks_topics.html"),
    ),
    (
        "webhooks_endpoint.html",
        include_str!("templates/webhooks_endpoint.html"),
    ),
];

/// This module's pages.
pub fn routes(router: OpenApiRouter<AppState>) -> OpenApiRouter<AppState> {
    router
        .route(
            "/admin/settings/api-keys",
            get(api_keys_page).post(create_key),
        )
        .route("/admin/settings/api-keys/{id}/revoke", post(revoke_key))
        .route(
            "/admin/settings/webhooks",
            get(webhooks_page).post(create_endpoint),
        )
        .route(
            "/admin/settings/webhooks/{id}",
            get(endpoint_page).post(edit_endpoint),
        )
        .route("/admin/settings/webhooks/{id}/rotate", post(rotate_secret))
        .route(
            "/admin/settings/webhooks/{id}/delete",
            post(delete_endpoint),
        )
        .route(
            "/admin/settings/webhooks/{id}/deliveries/{delivery}/redeliver",
            post(redeliver),
        )
}

/// API keys listed on the page (the API's largest page).
const KEYS: i64 = 100;
/// Deliveries shown on an endpoint's page (the API's default).
const DELIVERIES: u32 = 50;

/// `403` unless the session is the owner's, as the API's `Owner` is.
fn owner_only(session: &AdminSession) -> Result<(), PodError> {
    if session.is_owner() {
        Ok(())
    } else {
        Err(ApiError::new(
            ErrorCode::Forbidden,
            "only the store's owner may manage its API keys and webhooks",
        )
        .into())
    }
}

/// A refusal to show on the form's page in words, with its status; any
/// other error (a server error, or a `404`: nothing to show it on) is the
/// error page.
fn shown(e: PodError) -> Result<ApiError, PodError> {
    match e.client_error() {
        Some(r) if r.code.status() != StatusCode::NOT_FOUND => Ok(r),
        _ => Err(e),
    }
}

fn when(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// An owner's page: signed in (else to the sign-in page, back to `back`),
/// the owner's (`403`), then `show`.
async fn owner_page(
    tenant: &TenantContext,
    session: Option<AdminSession>,
    back: &str,
    show: impl AsyncFnOnce(AdminSession) -> Result<Response, PodError>,
) -> Response {
    let Some(session) = session else {
        return sign_in_first(back);
    };
    let result = async {
        owner_only(&session)?;
        show(session).await
    }
    .await;
    result.unwrap_or_else(|e| error_page(tenant, e))
}

/// An owner's form: signed in, the form checked (same site, this
/// session's CSRF token), the owner's (`403`), then `act` with its fields.
async fn owner_form(
    tenant: &TenantContext,
    session: Option<AdminSession>,
    back: &str,
    headers: &HeaderMap,
    body: &[u8],
    act: impl AsyncFnOnce(AdminSession, Vec<(String, String)>) -> Result<Response, PodError>,
) -> Response {
    let Some(session) = session else {
        return sign_in_first(back);
    };
    let result = async {
        let fields = session.form(headers, body)?;
        owner_only(&session)?;
        act(session, fields).await
    }
    .await;
    result.unwrap_or_else(|e| error_page(tenant, e))
}

fn confirmed(fields: &[(String, String)]) -> bool {
    field(fields, "confirm") == Some("yes")
}

// API keys.

/// What the API keys page shows besides the keys.
#[derive(Default)]
struct KeysView {
    notice: Option<&'static str>,
    problem: Option<String>,
    /// The name typed in a refused form.
    name: String,
    /// A key just made: its one showing.
    created: Option<CreatedApiKey>,
}

async fn keys_page(
    state: &AppState,
    tenant: &TenantContext,
    session: &AdminSession,
    status: StatusCode,
    view: KeysView,
) -> Result<Response, PodError> {
    let keys = api_keys::list(&state.db, tenant.store_id, None, KEYS).await?;
    let rows: Vec<_> = keys
        .iter()
        .map(|k| {
            context! {
                id => k.id.to_string(),
                name => k.name.clone(),
                prefix => k.prefix.clone(),
                created => when(k.created_at),
                last_used => k.last_used_at.map(when),
            }
        })
        .collect();
    let created = view.created.map(|c| {
        context! { name => c.name, prefix => c.prefix, key => c.key }
    });
    let body = render(
        tenant,
        Some(session),
        "api_keys.html",
        "API keys",
        context! {
            nav => "settings",
            keys => rows,
            more => keys.len() as i64 >= KEYS,
            notice => view.notice,
            problem => view.problem,
            name => view.name,
            created,
        },
    )?;
    Ok(html(status, body))
}

/// `GET /admin/settings/api-keys`: the keys, as `GET /admin/api/api-keys`.
pub async fn api_keys_page(
    State(state): State<AppState>,
    tenant: TenantContext,
    MaybeAdmin(session): MaybeAdmin,
    ApiQuery(pairs): ApiQuery<Vec<(String, String)>>,
) -> Response {
    let notice = match field(&pairs, "done") {
        Some("revoked") => Some("The key was revoked: it no longer works."),
        _ => None,
    };
    owner_page(
        &tenant,
        session,
        "/admin/settings/api-keys",
        async |session| {
            let view = KeysView {
                notice,
                ..KeysView::default()
            };
            keys_page(&state, &tenant, &session, StatusCode::OK, view).await
        },
    )
    .await
}

/// `POST /admin/settings/api-keys` (`name`): a new key, as `POST
/// /admin/api/api-keys`. The answer is the page with the key on it, once
/// (`201`); a refusal keeps the name typed.
pub async fn create_key(
    State(state): State<AppState>,
    tenant: TenantContext,
    MaybeAdmin(session): MaybeAdmin,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    owner_form(
        &tenant,
        session,
        "/admin/settings/api-keys",
        &headers,
        &body,
        async |session, fields| {
            let name = field(&fields, "name").unwrap_or_default().to_owned();
            let (status, view) = match api_keys::create(&state.db, tenant.store_id, &name).await {
                Ok(created) => (
                    StatusCode::CREATED,
                    KeysView {
                        created: Some(created),
                        ..KeysView::default()
                    },
                ),
                Err(e) => {
                    let r = shown(e)?;
                    let problem = if r.code == ErrorCode::InvalidRequest {
                        "Name the key with 1 to 100 characters.".to_owned()
                    } else {
                        sentence(&r.message)
                    };
                    (
                        r.code.status(),
                        KeysView {
                            problem: Some(problem),
                            name,
                            ..KeysView::default()
                        },
                    )
                }
            };
            keys_page(&state, &tenant, &session, status, view).await
        },
    )
    .await
}

/// `POST /admin/settings/api-keys/{id}/revoke` (`confirm`): as `DELETE
/// /admin/api/api-keys/{id}`.
pub async fn revoke_key(
    State(state): State<AppState>,
    tenant: TenantContext,
    MaybeAdmin(session): MaybeAdmin,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    owner_form(
        &tenant,
        session,
        "/admin/settings/api-keys",
        &headers,
        &body,
        async |session, fields| {
            let id: ApiKeyId = id
                .parse()
                .map_err(|_| PodError::from(ApiError::not_found("api key")))?;
            if !confirmed(&fields) {
                let view = KeysView {
                    problem: Some("Tick the box to confirm that the key stops working.".to_owned()),
                    ..KeysView::default()
                };
                return keys_page(&state, &tenant, &session, StatusCode::BAD_REQUEST, view).await;
            }
            api_keys::revoke(&state.db, tenant.store_id, id).await?;
            Ok(see_other("/admin/settings/api-keys?done=revoked"))
        },
    )
    .await
}

// Webhooks.

/// What a topic's events are, in words.
fn topic_words(topic: Topic) -> &'static str {
    match topic {
        Topic::OrdersCreated => "An order is placed",
        Topic::OrdersUpdated => "An order's status changes",
        Topic::OrdersCancelled => "An order is cancelled",
        Topic::OrdersPaid => "An order's payment is captured",
        Topic::OrdersFulfilled => "An order is fulfilled",
        Topic::OrdersEdited => "Lines of an order are cancelled",
        Topic::FulfillmentsUpdate => "A shipment changes",
        Topic::RefundsCreated => "A payment is refunded",
        Topic::ProductsUpdate => "A product is created or changed",
        Topic::ProductsDelete => "A product is deleted",
        Topic::InventoryLevelsUpdate => "Stock on hand changes",
        Topic::CustomersCreate => "A customer opens an account",
    }
}

/// The topics as checkboxes, those in `checked` ticked.
fn topic_boxes(checked: &[String]) -> Vec<Value> {
    Topic::ALL
        .iter()
        .enumerate()
        .map(|(i, t)| {
            context! {
                n => i,
                name => t.as_str(),
                words => topic_words(*t),
                checked => checked.iter().any(|c| c == t.as_str()),
            }
        })
        .collect()
}

/// Every value of a repeated field (`topics`).
fn all_of(fields: &[(String, String)], name: &str) -> Vec<String> {
    fields
        .iter()
        .filter(|(k, _)| k == name)
        .map(|(_, v)| v.trim().to_owned())
        .collect()
}

fn names(topics: &[Topic]) -> Vec<String> {
    topics.iter().map(|t| t.as_str().to_owned()).collect()
}

/// What a new-endpoint form held, shown again when it is refused.
#[derive(Default)]
struct EndpointForm {
    url: String,
    topics: Vec<String>,
}

async fn endpoints_page(
    state: &AppState,
    tenant: &TenantContext,
    session: &AdminSession,
    status: StatusCode,
    notice: Option<&'static str>,
    problem: Option<String>,
    form: EndpointForm,
) -> Result<Response, PodError> {
    let endpoints = subscriptions::list(&state.db, tenant.store_id).await?;
    let rows: Vec<_> = endpoints
        .iter()
        .map(|s| {
            context! {
                id => s.id.to_string(),
                url => s.url.clone(),
                topics => names(&s.topics),
                enabled => s.enabled,
                failures => s.consecutive_failures,
                disabled_reason => s.disabled_reason.clone(),
            }
        })
        .collect();
    let body = render(
        tenant,
        Some(session),
        "webhooks.html",
        "Webhooks",
        context! {
            nav => "settings",
            endpoints => rows,
            notice,
            problem,
            url => form.url,
            topics => topic_boxes(&form.topics),
        },
    )?;
    Ok(html(status, body))
}

/// `GET /admin/settings/webhooks`: the endpoints, as `GET
/// /admin/api/webhooks`, and a form for a new one.
pub async fn webhooks_page(
    State(state): State<AppState>,
    tenant: TenantContext,
    MaybeAdmin(session): MaybeAdmin,
    ApiQuery(pairs): ApiQuery<Vec<(String, String)>>,
) -> Response {
    let notice = match field(&pairs, "done") {
        Some("deleted") => Some("The endpoint was deleted with its deliveries."),
        _ => None,
    };
    owner_page(
        &tenant,
        session,
        "/admin/settings/webhooks",
        async |session| {
            endpoints_page(
                &state,
                &tenant,
                &session,
                StatusCode::OK,
                notice,
                None,
                EndpointForm::default(),
            )
            .await
        },
    )
    .await
}

/// What an endpoint's page shows besides the endpoint.
#[derive(Default)]
struct EndpointView {
    notice: Option<&'static str>,
    problem: Option<String>,
    /// The details form as typed, when it was refused.
    typed: Option<(String, Vec<String>, bool)>,
    /// The signing secret just made or rotated: its one showing.
    secret: Option<String>,
}

fn delivery_row(d: &Delivery) -> Value {
    context! {
        id => d.id.to_string(),
        topic => d.topic.clone(),
        state => d.state.as_str(),
        created => when(d.created_at),
        attempts => d.attempt_count,
        response => d.last_status,
        error => d.last_error.clone(),
        finished => matches!(d.state, DeliveryState::Delivered | DeliveryState::Dead),
    }
}

async fn endpoint(
    state: &AppState,
    tenant: &TenantContext,
    session: &AdminSession,
    subscription: Subscription,
    status: StatusCode,
    view: EndpointView,
) -> Result<Response, PodError> {
    let deliveries =
        subscriptions::deliveries(&state.db, tenant.store_id, subscription.id, DELIVERIES).await?;
    let (url, topics, enabled) = view.typed.unwrap_or_else(|| {
        (
            subscription.url.clone(),
            names(&subscription.topics),
            subscription.enabled,
        )
    });
    let body = render(
        tenant,
        Some(session),
        "webhooks_endpoint.html",
        "Webhook endpoint",
        context! {
            nav => "settings",
            notice => view.notice,
            problem => view.problem,
            secret => view.secret,
            endpoint => context! {
                id => subscription.id.to_string(),
                url => subscription.url.clone(),
                enabled => subscription.enabled,
                failures => subscription.consecutive_failures,
                disabled_reason => subscription.disabled_reason.clone(),
                disabled_at => subscription.disabled_at.map(when),
                created => when(subscription.created_at),
            },
            url,
            enabled,
            topics => topic_boxes(&topics),
            deliveries => deliveries.iter().map(delivery_row).collect::<Vec<_>>(),
        },
    )?;
    Ok(html(status, body))
}

fn endpoint_id(raw: &str) -> Result<WebhookId, PodError> {
    raw.parse()
        .map_err(|_| PodError::from(ApiError::not_found("webhook")))
}

async fn endpoint_by_id(
    state: &AppState,
    tenant: &TenantContext,
    session: &AdminSession,
    id: WebhookId,
    status: StatusCode,
    view: EndpointView,
) -> Result<Response, PodError> {
    let subscription = subscriptions::get(&state.db, tenant.store_id, id).await?;
    endpoint(state, tenant, session, subscription, status, view).await
}

/// `POST /admin/settings/webhooks` (`url`, `topics`): a new endpoint, as
/// `POST /admin/api/webhooks`. The answer is the endpoint's page with its
/// signing secret, once (`201`); a refusal keeps what was typed.
pub async fn create_endpoint(
    State(state): State<AppState>,
    tenant: TenantContext,
    MaybeAdmin(session): MaybeAdmin,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    owner_form(
        &tenant,
        session,
        "/admin/settings/webhooks",
        &headers,
        &body,
        async |session, fields| {
            let url = field(&fields, "url").unwrap_or_default().to_owned();
            let topics = all_of(&fields, "topics");
            match subscriptions::create(&state, tenant.store_id, &url, &topics).await {
                Ok(WebhookWithSecret {
                    subscription,
                    secret,
                }) => {
                    let view = EndpointView {
                        secret: Some(secret),
                        ..EndpointView::default()
                    };
                    endpoint(
                        &state,
                        &tenant,
                        &session,
                        subscription,
                        StatusCode::CREATED,
                        view,
                    )
                    .await
                }
                Err(e) => {
                    let r = shown(e)?;
                    endpoints_page(
                        &state,
                        &tenant,
                        &session,
                        r.code.status(),
                        None,
                        Some(sentence(&r.message)),
                        EndpointForm { url, topics },
                    )
                    .await
                }
            }
        },
    )
    .await
}

/// `GET /admin/settings/webhooks/{id}`: an endpoint, as `GET
/// /admin/api/webhooks/{id}`, with its latest deliveries (`GET
/// .../deliveries`).
pub async fn endpoint_page(
    State(state): State<AppState>,
    tenant: TenantContext,
    MaybeAdmin(session): MaybeAdmin,
    Path(id): Path<String>,
    ApiQuery(pairs): ApiQuery<Vec<(String, String)>>,
) -> Response {
    let notice = match field(&pairs, "done") {
        Some("saved") => Some("The endpoint was saved."),
        Some("redelivered") => Some("The delivery will be sent again in a moment."),
        _ => None,
    };
    owner_page(
        &tenant,
        session,
        &format!("/admin/settings/webhooks/{id}"),
        async |session| {
            let view = EndpointView {
                notice,
                ..EndpointView::default()
            };
            endpoint_by_id(
                &state,
                &tenant,
                &session,
                endpoint_id(&id)?,
                StatusCode::OK,
                view,
            )
            .await
        },
    )
    .await
}

/// `POST /admin/settings/webhooks/{id}` (`url`, `topics`, `enabled`): as
/// `PATCH /admin/api/webhooks/{id}`. Whether it is enabled is sent only
/// when the box changed it (enabling clears the failures).
pub async fn edit_endpoint(
    State(state): State<AppState>,
    tenant: TenantContext,
    MaybeAdmin(session): MaybeAdmin,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let back = format!("/admin/settings/webhooks/{id}");
    owner_form(
        &tenant,
        session,
        &back,
        &headers,
        &body,
        async |session, fields| {
            let id = endpoint_id(&id)?;
            let now = subscriptions::get(&state.db, tenant.store_id, id).await?;
            let url = field(&fields, "url").unwrap_or_default().to_owned();
            let topics = all_of(&fields, "topics");
            let enabled = field(&fields, "enabled") == Some("yes");
            let change = (enabled != now.enabled).then_some(enabled);
            match subscriptions::update(
                &state,
                tenant.store_id,
                id,
                Some(&url),
                Some(&topics),
                change,
            )
            .await
            {
                Ok(_) => Ok(see_other(&format!("{back}?done=saved"))),
                Err(e) => {
                    let r = shown(e)?;
                    let view = EndpointView {
                        problem: Some(sentence(&r.message)),
                        typed: Some((url, topics, enabled)),
                        ..EndpointView::default()
                    };
                    endpoint(&state, &tenant, &session, now, r.code.status(), view).await
                }
            }
        },
    )
    .await
}

/// `POST /admin/settings/webhooks/{id}/rotate` (`confirm`): a new signing
/// secret, as `POST /admin/api/webhooks/{id}/rotate-secret`; the answer
/// is the endpoint's page with it, once.
pub async fn rotate_secret(
    State(state): State<AppState>,
    tenant: TenantContext,
    MaybeAdmin(session): MaybeAdmin,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    owner_form(
        &tenant,
        session,
        &format!("/admin/settings/webhooks/{id}"),
        &headers,
        &body,
        async |session, fields| {
            let id = endpoint_id(&id)?;
            if !confirmed(&fields) {
                let view = EndpointView {
                    problem: Some(
                        "Tick the box to confirm that the old secret stops working.".to_owned(),
                    ),
                    ..EndpointView::default()
                };
                return endpoint_by_id(
                    &state,
                    &tenant,
                    &session,
                    id,
                    StatusCode::BAD_REQUEST,
                    view,
                )
                .await;
            }
            let rotated = subscriptions::rotate_secret(&state, tenant.store_id, id).await?;
            let view = EndpointView {
                notice: Some("The secret was replaced: deliveries are signed with the new one."),
                secret: Some(rotated.secret),
                ..EndpointView::default()
            };
            endpoint(
                &state,
                &tenant,
                &session,
                rotated.subscription,
                StatusCode::OK,
                view,
            )
            .await
        },
    )
    .await
}

/// `POST /admin/settings/webhooks/{id}/delete` (`confirm`): as `DELETE
/// /admin/api/webhooks/{id}`.
pub async fn delete_endpoint(
    State(state): State<AppState>,
    tenant: TenantContext,
    MaybeAdmin(session): MaybeAdmin,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    owner_form(
        &tenant,
        session,
        &format!("/admin/settings/webhooks/{id}"),
        &headers,
        &body,
        async |session, fields| {
            let id = endpoint_id(&id)?;
            if !confirmed(&fields) {
                let view = EndpointView {
                    problem: Some(
                        "Tick the box to confirm that the endpoint goes with its deliveries."
                            .to_owned(),
                    ),
                    ..EndpointView::default()
                };
                return endpoint_by_id(
                    &state,
                    &tenant,
                    &session,
                    id,
                    StatusCode::BAD_REQUEST,
                    view,
                )
                .await;
            }
            subscriptions::delete(&state, tenant.store_id, id).await?;
            Ok(see_other("/admin/settings/webhooks?done=deleted"))
        },
    )
    .await
}

/// `POST /admin/settings/webhooks/{id}/deliveries/{delivery}/redeliver`:
/// as `POST /admin/api/webhooks/{id}/deliveries/{delivery}/redeliver`
/// (`409` while the delivery is still pending, told on the page).
pub async fn redeliver(
    State(state): State<AppState>,
    tenant: TenantContext,
    MaybeAdmin(session): MaybeAdmin,
    Path((id, delivery)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let back = format!("/admin/settings/webhooks/{id}");
    owner_form(
        &tenant,
        session,
        &back,
        &headers,
        &body,
        async |session, _| {
            let id = endpoint_id(&id)?;
            let delivery: WebhookDeliveryId = delivery
                .parse()
                .map_err(|_| PodError::from(ApiError::not_found("delivery")))?;
            match subscriptions::redeliver(&state, tenant.store_id, id, delivery).await {
                Ok(()) => Ok(see_other(&format!("{back}?done=redelivered"))),
                Err(e) => {
                    let r = shown(e)?;
                    let view = EndpointView {
                        problem: Some(sentence(&r.message)),
                        ..EndpointView::default()
                    };
                    endpoint_by_id(&state, &tenant, &session, id, r.code.status(), view).await
                }
            }
        },
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_topic_is_offered_once_with_its_words() {
        let boxes = topic_boxes(&["orders/paid".to_owned()]);
        assert_eq!(boxes.len(), Topic::ALL.len());
        let ticked: Vec<String> = boxes
            .iter()
            .filter(|b| b.get_attr("checked").is_ok_and(|c| c.is_true()))
            .map(|b| b.get_attr("name").expect("name").to_string())
            .collect();
        assert_eq!(ticked, ["orders/paid"]);
        let words: std::collections::HashSet<_> =
            Topic::ALL.iter().map(|t| topic_words(*t)).collect();
        assert_eq!(words.len(), Topic::ALL.len(), "each topic in its own words");
    }
}
