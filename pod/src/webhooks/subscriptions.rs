//! A store's subscriptions as its owner manages them: create (the secret
//! is answered once), change, delete, rotate the secret, read the
//! deliveries and send one again. `routes/webhooks.rs` (the JSON API) and
//! the admin's webhooks pages both call these, so both check the same
//! things and refuse with the same codes.

use mercato_tenants::{ApiError, ErrorCode, StoreId, WebhookDeliveryId, WebhookId};
use serde::Serialize;
use sqlx::PgPool;

use super::model::{parse_topics, TargetPolicy, WebhookUrl, PRIVATE_TARGET};
use super::sql::{self, Redelivered};
use super::{Delivery, Subscription};
use crate::accounts::secrets::random_token;
use crate::error::PodError;
use crate::state::AppState;
use crate::tenancy::begin_write;

/// Most deliveries one read lists.
pub const MAX_DELIVERIES: u32 = 200;

/// A subscription with its secret, shown only when it is made or rotated.
#[derive(Serialize, utoipa::ToSchema)]
pub struct WebhookWithSecret {
    #[serde(flatten)]
    pub subscription: Subscription,
    /// The key of `x-mercato-signature`: keep it, it is not shown again.
    pub secret: String,
}

/// Which targets this pod may call.
pub fn policy(state: &AppState) -> TargetPolicy {
    TargetPolicy {
        allow_http: state.config.webhooks.allow_http,
        allow_private: state.config.webhooks.allow_private_targets,
    }
}

/// A URL refused for where it points (a private, loopback or internal
/// address where the pod allows none) is `422`: the document cannot say
/// which names resolve where; any other refusal is `400`.
fn url_refusal(reason: &'static str) -> ApiError {
    if reason == PRIVATE_TARGET {
        ApiError::new(ErrorCode::Unprocessable, reason)
    } else {
        ApiError::invalid(reason)
    }
}

fn url(state: &AppState, raw: &str) -> Result<WebhookUrl, ApiError> {
    WebhookUrl::parse(raw, policy(state)).map_err(url_refusal)
}

fn not_found() -> PodError {
    ApiError::not_found("webhook").into()
}

/// A new secret: `whsec_` and 64 hex digits.
fn new_secret() -> String {
    format!("whsec_{}", random_token())
}

/// Subscribes `raw_url` to `topics` (their names); the answer holds the
/// secret, once.
pub async fn create(
    state: &AppState,
    store: StoreId,
    raw_url: &str,
    topics: &[String],
) -> Result<WebhookWithSecret, PodError> {
    let url = url(state, raw_url)?;
    let topics = parse_topics(topics).map_err(ApiError::invalid)?;
    let secret = new_secret();
    let mut tx = begin_write(&state.db, store).await?;
    let subscription = sql::create(&mut tx, store, &url, &topics, &secret).await?;
    tx.commit().await?;
    Ok(WebhookWithSecret {
        subscription,
        secret,
    })
}

/// The store's subscriptions, oldest first.
pub async fn list(db: &PgPool, store: StoreId) -> Result<Vec<Subscription>, PodError> {
    Ok(sql::list(db, store).await?)
}

/// One subscription (`404` when the store has none with this id).
pub async fn get(db: &PgPool, store: StoreId, id: WebhookId) -> Result<Subscription, PodError> {
    sql::get(db, store, id).await?.ok_or_else(not_found)
}

/// Changes what is given; a field left `None` stays. Enabling clears the
/// failures.
pub async fn update(
    state: &AppState,
    store: StoreId,
    id: WebhookId,
    raw_url: Option<&str>,
    topics: Option<&[String]>,
    enabled: Option<bool>,
) -> Result<Subscription, PodError> {
    let url = raw_url.map(|u| url(state, u)).transpose()?;
    let topics = topics
        .map(parse_topics)
        .transpose()
        .map_err(ApiError::invalid)?;
    let mut tx = begin_write(&state.db, store).await?;
    let updated = sql::update(&mut tx, store, id, url.as_ref(), topics.as_deref(), enabled)
        .await?
        .ok_or_else(not_found)?;
    tx.commit().await?;
    Ok(updated)
}

/// Deletes a subscription with its deliveries.
pub async fn delete(state: &AppState, store: StoreId, id: WebhookId) -> Result<(), PodError> {
    let mut tx = begin_write(&state.db, store).await?;
    if !sql::delete(&mut tx, store, id).await? {
        return Err(not_found());
    }
    tx.commit().await?;
    Ok(())
}

/// Replaces a subscription's secret; the answer holds the new one, once.
/// Deliveries from now on are signed with it.
pub async fn rotate_secret(
    state: &AppState,
    store: StoreId,
    id: WebhookId,
) -> Result<WebhookWithSecret, PodError> {
    let secret = new_secret();
    let mut tx = begin_write(&state.db, store).await?;
    if !sql::rotate_secret(&mut tx, store, id, &secret).await? {
        return Err(not_found());
    }
    tx.commit().await?;
    let subscription = get(&state.db, store, id).await?;
    Ok(WebhookWithSecret {
        subscription,
        secret,
    })
}

/// A subscription's latest `limit` (1 to [`MAX_DELIVERIES`]) deliveries,
/// newest first, each with its attempts.
pub async fn deliveries(
    db: &PgPool,
    store: StoreId,
    id: WebhookId,
    limit: u32,
) -> Result<Vec<Delivery>, PodError> {
    if !(1..=MAX_DELIVERIES).contains(&limit) {
        return Err(ApiError::invalid("limit must be 1 to 200").into());
    }
    get(db, store, id).await?;
    Ok(sql::deliveries(db, store, id, i64::from(limit)).await?)
}

/// Sends a finished (delivered or dead) delivery again, with the same
/// event id; `409` while it is still pending.
pub async fn redeliver(
    state: &AppState,
    store: StoreId,
    id: WebhookId,
    delivery: WebhookDeliveryId,
) -> Result<(), PodError> {
    let mut tx = begin_write(&state.db, store).await?;
    match sql::redeliver(&mut tx, store, id, delivery).await? {
        Redelivered::Queued => {
            tx.commit().await?;
            Ok(())
        }
        Redelivered::NotFound => Err(ApiError::not_found("delivery").into()),
        Redelivered::InFlight => Err(ApiError::new(
            ErrorCode::Conflict,
            "the delivery is still pending: it will be sent without asking",
        )
        .into()),
    }
}
