//! The pod's HTTP faces, one file per context: handlers, their request and
//! response shapes and their OpenAPI descriptions, registered together by
//! each file's `api()` (`utoipa_axum::routes!`). They sit above every
//! context and above the pipelines that span contexts (`product_write`,
//! the checkout saga); nothing but `startup` imports them.

pub mod accounts;
pub mod cart;
pub mod catalog;
pub mod categories;
pub mod checkout;
pub mod collections;
pub mod discounts;
pub mod fleet;
pub mod fulfillment;
pub mod gift_cards;
pub mod inventory;
pub mod media;
pub mod notifications;
pub mod orders;
pub mod reports;
pub mod returns;
pub mod reviews;
pub mod risk;
pub mod search;
pub mod tenancy;
pub mod themes;
pub mod webhooks;

/// The `Idempotency-Key` header of a staff write that may be retried (a
/// refund, a gift card adjustment): required (`400
/// missing_idempotency_key`, the message saying it is unique per `what`),
/// 1 to 255 printable ASCII characters once trimmed (`400`).
pub(crate) fn idempotency_key(
    headers: &axum::http::HeaderMap,
    what: &str,
) -> Result<String, mercato_tenants::ApiError> {
    use mercato_tenants::{ApiError, ErrorCode};
    let key = match headers.get("idempotency-key").map(|v| v.to_str()) {
        None => {
            return Err(ApiError::new(
                ErrorCode::MissingIdempotencyKey,
                format!("send an Idempotency-Key header (unique per {what})"),
            ))
        }
        Some(Err(_)) => return Err(ApiError::invalid("Idempotency-Key must be printable ASCII")),
        Some(Ok(k)) => k.trim().to_owned(),
    };
    if key.is_empty() || key.len() > 255 || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ApiError::invalid(
            "Idempotency-Key must be 1 to 255 printable ASCII characters",
        ));
    }
    Ok(key)
}
