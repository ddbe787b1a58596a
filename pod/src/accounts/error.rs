//! The one place where accounts' refusals meet HTTP: the code a refused
//! field ([`InvalidField`]) is served with (the message is the refusal's
//! own text), the codes of a bad email or password, and the answer to a
//! refused login ([`LoginRejection`], with `Retry-After` when limited).

use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use mercato_tenants::{ApiError, Email, ErrorCode, Password};

use super::model::InvalidField;
use crate::error::PodError;

/// `400 invalid_request`, whatever is wrong with the field.
impl From<InvalidField> for ApiError {
    fn from(e: InvalidField) -> Self {
        ApiError::invalid(e.to_string())
    }
}

impl From<InvalidField> for PodError {
    fn from(e: InvalidField) -> Self {
        PodError::Api(e.into())
    }
}

/// Parses an email at the edge: `400 invalid_email`.
pub fn parse_email(raw: &str) -> Result<Email, ApiError> {
    Email::parse(raw).map_err(|m| ApiError::new(ErrorCode::InvalidEmail, m))
}

/// Parses a new password against the policy: `422 weak_password`.
pub fn parse_password(raw: &str) -> Result<Password, ApiError> {
    Password::parse(raw).map_err(|m| ApiError::new(ErrorCode::WeakPassword, m))
}

/// Why a login was refused. `Limited` carries the `Retry-After` seconds.
#[derive(Debug)]
pub enum LoginRejection {
    Error(ApiError),
    Limited { retry_after_secs: u64 },
}

impl From<ApiError> for LoginRejection {
    fn from(e: ApiError) -> Self {
        Self::Error(e)
    }
}

impl From<PodError> for LoginRejection {
    fn from(e: PodError) -> Self {
        Self::Error(e.into_api())
    }
}

impl IntoResponse for LoginRejection {
    fn into_response(self) -> Response {
        match self {
            Self::Error(e) => e.into_response(),
            Self::Limited { retry_after_secs } => {
                let mut response = ApiError::new(
                    ErrorCode::RateLimited,
                    format!("too many failed logins; try again in {retry_after_secs} seconds"),
                )
                .into_response();
                if let Ok(v) = HeaderValue::from_str(&retry_after_secs.to_string()) {
                    response.headers_mut().insert("retry-after", v);
                }
                response
            }
        }
    }
}

/// The answer to every failed login, whatever the reason: it does not tell
/// whether the email has an account.
pub fn invalid_credentials() -> ApiError {
    ApiError::new(
        ErrorCode::InvalidCredentials,
        "the email or password is not correct",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refused_fields_are_invalid_requests_with_their_old_messages() {
        for (refusal, message) in [
            (
                InvalidField::TooLong {
                    field: "line2",
                    max: 200,
                },
                "line2 must be at most 200 printable characters",
            ),
            (
                InvalidField::Length {
                    field: "name",
                    min: 1,
                    max: 100,
                },
                "name must be 1 to 100 printable characters",
            ),
            (
                InvalidField::Country,
                "country must be an ISO 3166-1 alpha-2 code such as FR",
            ),
            (
                InvalidField::Phone,
                "phone may hold digits, spaces and + - ( ) . only",
            ),
        ] {
            assert_eq!(
                ApiError::from(refusal.clone()),
                ApiError::new(ErrorCode::InvalidRequest, message),
                "{refusal:?}"
            );
        }
        let pod = PodError::from(InvalidField::Country);
        assert_eq!(pod.into_api().code, ErrorCode::InvalidRequest);
    }
}
