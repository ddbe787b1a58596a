//! The one place where the cart's refusals ([`CartError`]) meet HTTP: the
//! code each is served with. The message is the refusal's own text.

use mercato_tenants::{ApiError, ErrorCode};

use super::model::CartError;
use crate::error::PodError;

impl From<CartError> for ApiError {
    fn from(e: CartError) -> Self {
        let code = match e {
            CartError::MalformedToken => ErrorCode::InvalidCartToken,
            CartError::NoCart | CartError::NoLine => ErrorCode::NotFound,
            CartError::InvalidQuantity => ErrorCode::InvalidQuantity,
            CartError::TooManyUnits { .. } | CartError::TooManyLines { .. } => {
                ErrorCode::LineLimitExceeded
            }
            CartError::UnknownVariant => ErrorCode::UnknownVariant,
            CartError::NotForSale | CartError::WrongCurrency { .. } => {
                ErrorCode::VariantUnavailable
            }
        };
        ApiError::new(code, e.to_string())
    }
}

impl From<CartError> for PodError {
    fn from(e: CartError) -> Self {
        PodError::Api(e.into())
    }
}

#[cfg(test)]
mod tests {
    use mercato_tenants::Currency;

    use super::*;

    #[test]
    fn refusals_keep_their_codes_and_messages() {
        let eur = Currency::parse("EUR").expect("valid");
        for (refusal, code, message) in [
            (
                CartError::MalformedToken,
                ErrorCode::InvalidCartToken,
                "malformed cart token".to_owned(),
            ),
            (
                CartError::NoCart,
                ErrorCode::NotFound,
                ApiError::not_found("cart").message,
            ),
            (
                CartError::NoLine,
                ErrorCode::NotFound,
                ApiError::not_found("cart line").message,
            ),
            (
                CartError::InvalidQuantity,
                ErrorCode::InvalidQuantity,
                "quantity must be a whole number above 0".to_owned(),
            ),
            (
                CartError::TooManyUnits { max: 10 },
                ErrorCode::LineLimitExceeded,
                "a line holds at most 10 units".to_owned(),
            ),
            (
                CartError::TooManyLines { max: 3 },
                ErrorCode::LineLimitExceeded,
                "a cart holds at most 3 lines".to_owned(),
            ),
            (
                CartError::UnknownVariant,
                ErrorCode::UnknownVariant,
                "no such variant in this store".to_owned(),
            ),
            (
                CartError::NotForSale,
                ErrorCode::VariantUnavailable,
                "this variant's product is not for sale".to_owned(),
            ),
            (
                CartError::WrongCurrency {
                    priced_in: Currency::USD,
                    cart: eur,
                },
                ErrorCode::VariantUnavailable,
                "this variant is priced in USD, the cart in EUR".to_owned(),
            ),
        ] {
            assert_eq!(
                ApiError::from(refusal.clone()),
                ApiError::new(code, message),
                "{refusal:?}"
            );
        }
        let pod = PodError::from(CartError::TooManyLines { max: 3 });
        assert_eq!(pod.into_api().code, ErrorCode::LineLimitExceeded);
    }
}
