//! Self-serve merchant signup on the platform domain: `POST /v1/signup`
//! creates a store (the same flow as `POST /v1/stores`) and its owner's
//! staff account on the pod, in the pod's hosting transaction, and answers
//! with an owner token. No authentication: anyone may sign up.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use mercato_tenants::error::ErrorBody;
use mercato_tenants::http::{ApiJson, ApiPath};
use mercato_tenants::openapi::{EmailAddress, StoreHandle};
use mercato_tenants::pod_api::{OwnerCredentials, OwnerSession};
use mercato_tenants::{ApiError, Currency, Email, ErrorCode, Handle, NameError, Password};
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::ControlError;
use crate::stores::{self, NewStore, Store};
use crate::AppState;

/// Signup, registered with its OpenAPI description.
pub fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::default()
        .routes(routes!(signup))
        .routes(routes!(handle_check))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct SignupRequest {
    #[schema(value_type = EmailAddress)]
    email: String,
    /// 10 to 128 characters, at least 5 different ones, not a common
    /// password.
    #[schema(min_length = 10, max_length = 128)]
    password: String,
    /// 1 to 200 characters, not only spaces.
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\u0000-\u0020\u007F-\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000][^\u0000-\u001F\u007F-\u009F]*$"
    )]
    store_name: String,
    /// The store's handle (`<handle>.<platform domain>`); by default a slug
    /// of the store name (`422` when the name makes none: choose a handle).
    #[serde(default)]
    #[schema(value_type = Option<StoreHandle>)]
    handle: Option<String>,
    #[serde(default)]
    currency: Option<Currency>,
}

#[derive(Serialize, utoipa::ToSchema)]
struct SignupResponse {
    store: Store,
    /// The store's admin on the web.
    admin_url: String,
    /// Where the store's admin API lives.
    api_url: String,
    /// An owner session token for the new store.
    token: String,
    /// Unix seconds.
    expires_at: i64,
}

/// Longest handle a slug is cut to (the handle rule allows 40).
const MAX_SLUG: usize = 40;

/// A handle made from a store name: lower-case ASCII letters and digits,
/// every other run of characters one `-`, no `-` at either end, at most 40
/// characters. Accents are dropped from common Latin letters.
pub fn slugify(name: &str) -> String {
    let mut slug = String::with_capacity(name.len());
    let mut dash = false;
    for c in name.chars().flat_map(char::to_lowercase) {
        let c = match c {
            'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' => 'a',
            'ç' => 'c',
            'è' | 'é' | 'ê' | 'ë' => 'e',
            'ì' | 'í' | 'î' | 'ï' => 'i',
            'ñ' => 'n',
            'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' => 'o',
            'ù' | 'ú' | 'û' | 'ü' => 'u',
            'ý' | 'ÿ' => 'y',
            other => other,
        };
        if c.is_ascii_alphanumeric() {
            if dash && !slug.is_empty() {
                slug.push('-');
            }
            dash = false;
            if slug.len() >= MAX_SLUG {
                break;
            }
            slug.push(c);
        } else if c != '\'' {
            dash = true;
        }
    }
    slug.truncate(MAX_SLUG);
    slug.trim_end_matches('-').to_owned()
}

fn invalid_handle(e: NameError) -> ApiError {
    ApiError::new(ErrorCode::InvalidHandle, e.to_string())
}

/// A merchant's signup, as the API and the signup page take it.
pub struct Signup<'a> {
    pub email: &'a str,
    pub password: &'a str,
    pub store_name: &'a str,
    pub handle: Option<&'a str>,
    pub currency: Option<Currency>,
}

/// A new store and its owner's first session.
pub struct SignedUp {
    pub store: Store,
    pub handle: Handle,
    pub owner: OwnerSession,
}

/// The checks of a signup, then the store with its owner's account (the
/// same flow as `POST /v1/stores`). One function for the API and the
/// signup page.
pub async fn sign_up(state: &AppState, req: Signup<'_>) -> Result<SignedUp, ControlError> {
    let email = Email::parse(req.email).map_err(|m| ApiError::new(ErrorCode::InvalidEmail, m))?;
    Password::parse(req.password).map_err(|m| ApiError::new(ErrorCode::WeakPassword, m))?;
    let name = mercato_tenants::text::store_name(req.store_name)
        .map_err(|e| ApiError::invalid(format!("store_name: {e}")))?;
    let handle = match req.handle {
        Some(raw) => Handle::parse(raw).map_err(invalid_handle)?,
        // A rule between two fields: a 422, as the document says.
        None => Handle::parse(&slugify(name)).map_err(|e| {
            ApiError::new(
                ErrorCode::Unprocessable,
                format!("no handle can be made from this store name ({e}); choose a handle"),
            )
        })?,
    };
    let (store, session) = stores::provision(
        state,
        NewStore {
            name,
            handle: handle.clone(),
            owner_email: email.as_str(),
            currency: req.currency.unwrap_or(Currency::USD),
            customs: Vec::new(),
            owner: Some(OwnerCredentials {
                email: email.as_str().to_owned(),
                password: req.password.to_owned(),
            }),
        },
    )
    .await?;
    let owner =
        session.ok_or_else(|| ApiError::internal("the pod hosted the store without its owner"))?;
    tracing::info!(store_id = %store.id, handle = %handle, "merchant signed up");
    Ok(SignedUp {
        store,
        handle,
        owner,
    })
}

/// Self-serve signup: creates a store and its owner's account, and answers
/// with an owner session token. No authentication.
#[utoipa::path(post, path = "/v1/signup", tag = "signup", request_body = SignupRequest,
    responses((status = 201, body = SignupResponse),
        (status = 409, description = "the handle is taken", body = ErrorBody),
        (status = 422, description = "the password is too weak (`weak_password`), or no handle is given and the store name makes none (`unprocessable`)", body = ErrorBody),
        (status = 429, description = "too many signups from this address (`rate_limited`)", body = ErrorBody),
        (status = 503, description = "no pod can take the store now", body = ErrorBody)))]
async fn signup(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<SignupRequest>,
) -> Result<(StatusCode, Json<SignupResponse>), ControlError> {
    let signed_up = sign_up(
        &state,
        Signup {
            email: &req.email,
            password: &req.password,
            store_name: &req.store_name,
            handle: req.handle.as_deref(),
            currency: req.currency,
        },
    )
    .await?;
    let origin = state.store_origin(&signed_up.handle);
    Ok((
        StatusCode::CREATED,
        Json(SignupResponse {
            admin_url: format!("{origin}/admin"),
            api_url: format!("{origin}/admin/api"),
            store: signed_up.store,
            token: signed_up.owner.session.token,
            expires_at: signed_up.owner.session.expires_at,
        }),
    ))
}

/// Whether a handle may be chosen for a new store now.
#[derive(Serialize, utoipa::ToSchema)]
pub struct HandleCheck {
    pub handle: String,
    pub available: bool,
    /// Why not, in words for the signup form; absent when available.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The check of `raw` as a new store's handle: well formed, not reserved,
/// not taken.
pub async fn check_handle(state: &AppState, raw: &str) -> Result<HandleCheck, ControlError> {
    let (available, reason) = match Handle::parse(raw) {
        Err(e) => (false, Some(e.to_string())),
        Ok(handle) => match stores::get_by_handle(&state.db, handle.as_str()).await? {
            Some(_) => (false, Some("this handle is taken".to_owned())),
            None => (true, None),
        },
    };
    Ok(HandleCheck {
        handle: raw.to_owned(),
        available,
        reason,
    })
}

/// Whether a handle is free for a new store (the signup form asks as the
/// merchant types). No authentication. A free handle can still be taken
/// before the signup: the signup's own check decides.
#[utoipa::path(get, path = "/v1/handles/{handle}", tag = "signup",
    params(("handle" = String, Path, description = "Any text up to 100 characters; the answer says whether it is a valid, free handle.", max_length = 100)),
    responses((status = 200, body = HandleCheck)))]
async fn handle_check(
    State(state): State<AppState>,
    ApiPath(raw): ApiPath<String>,
) -> Result<Json<HandleCheck>, ControlError> {
    if raw.chars().count() > 100 {
        return Err(ApiError::invalid("a handle is at most 100 characters").into());
    }
    Ok(Json(check_handle(&state, &raw).await?))
}

#[cfg(test)]
mod tests {
    use super::slugify;

    #[test]
    fn slugs_of_store_names() {
        assert_eq!(slugify("Ada's Fine Teas"), "adas-fine-teas");
        assert_eq!(slugify("  Café  Crème & Co. "), "cafe-creme-co");
        assert_eq!(slugify("Shop #1!!"), "shop-1");
        assert_eq!(slugify("---"), "");
        assert_eq!(slugify("日本の店"), "");
        let long = slugify(&"word ".repeat(20));
        assert!(long.len() <= 40 && !long.ends_with('-'), "{long}");
    }

    #[test]
    fn slugs_are_valid_handles_when_long_enough() {
        for name in ["Ada's Fine Teas", "Shop #1!!", &"abc-".repeat(30)] {
            let slug = slugify(name);
            assert!(
                mercato_tenants::Handle::parse(&slug).is_ok(),
                "{name} -> {slug}"
            );
        }
    }
}
