//! A store's mail settings for staff: the sender name and the reply-to
//! address of its mails.

use axum::extract::State;
use axum::Json;
use mercato_tenants::http::ApiJson;
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::accounts::auth::{Owner, Staff};
use crate::error::PodError;
use crate::notifications::{sql, MailSettings};
use crate::state::AppState;
use crate::tenancy::TenantContext;

type ErrorBody = mercato_tenants::error::ErrorBody;

/// The mail settings API, each route registered with its OpenAPI
/// description.
pub fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_mail_settings, put_mail_settings))
}

/// The new settings; a field left out or blank is unset.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MailSettingsBody {
    /// The name the store's mails are from (1 to 100 characters, one
    /// line); unset: the store's name.
    #[schema(max_length = 100, pattern = r"^[^\u0000-\u001F\u007F-\u009F]*$")]
    sender_name: Option<String>,
    /// Where replies to the store's mails go, an email address; unset:
    /// nowhere.
    #[schema(
        max_length = 254,
        pattern = r"^(?:|[!-?A-~]{1,64}@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)$"
    )]
    reply_to: Option<String>,
    /// Hours a cart with lines and an email stays untouched before its
    /// shopper gets a reminder (1 to 720); unset: no reminders.
    #[schema(minimum = 1, maximum = 720)]
    abandoned_cart_hours: Option<i32>,
}

/// The store's mail settings.
#[utoipa::path(get, path = "/admin/api/settings/mail", tag = "settings",
    responses((status = 200, body = MailSettings)))]
async fn get_mail_settings(
    State(state): State<AppState>,
    tenant: TenantContext,
    _: Staff,
) -> Result<Json<MailSettings>, PodError> {
    Ok(Json(sql::settings(&state.db, tenant.store_id).await?))
}

/// Sets the store's mail settings (owner only): the sender name shown on
/// its mails and the address replies go to.
#[utoipa::path(put, path = "/admin/api/settings/mail", tag = "settings",
    request_body = MailSettingsBody,
    responses((status = 200, body = MailSettings), (status = 400, body = ErrorBody)))]
async fn put_mail_settings(
    State(state): State<AppState>,
    tenant: TenantContext,
    _: Owner,
    ApiJson(body): ApiJson<MailSettingsBody>,
) -> Result<Json<MailSettings>, PodError> {
    Ok(Json(
        crate::notifications::put_settings(
            &state.db,
            tenant.store_id,
            body.sender_name.as_deref(),
            body.reply_to.as_deref(),
            body.abandoned_cart_hours,
        )
        .await?,
    ))
}
