//! The one place where the checkout's refusals ([`CheckoutError`],
//! [`RateError`]) meet HTTP: the code each is served with (the message is
//! the refusal's own text); and where a client error becomes a saga's
//! [`Failure`] (a code and its data until the answer is recorded).

use mercato_tenants::{ApiError, ErrorCode};

use super::model::{CheckoutError, Failure};
use super::rates::RateError;
use crate::discounts::model::Refusal;
use crate::error::PodError;

impl From<CheckoutError> for ApiError {
    fn from(e: CheckoutError) -> Self {
        let code = match e {
            CheckoutError::MissingIdempotencyKey => ErrorCode::MissingIdempotencyKey,
            CheckoutError::BadIdempotencyKey { .. }
            | CheckoutError::Address(_)
            | CheckoutError::LineTotalOutOfRange
            | CheckoutError::OrderTotalOutOfRange => ErrorCode::InvalidRequest,
            CheckoutError::EmptyCart => ErrorCode::EmptyCart,
            CheckoutError::VariantGone { .. }
            | CheckoutError::NotForSale { .. }
            | CheckoutError::WrongCurrency { .. } => ErrorCode::VariantUnavailable,
            CheckoutError::NoShipping { .. } => ErrorCode::ShippingUnavailable,
            CheckoutError::PriceChanged { .. } => ErrorCode::PriceChanged,
            CheckoutError::Discount {
                refusal: Some(Refusal::UsedUp | Refusal::UsedUpByShopper),
                ..
            } => ErrorCode::DiscountUsedUp,
            CheckoutError::Discount { .. } => ErrorCode::DiscountNotApplicable,
        };
        ApiError::new(code, e.to_string())
    }
}

impl From<CheckoutError> for PodError {
    fn from(e: CheckoutError) -> Self {
        PodError::Api(e.into())
    }
}

/// A rate table's shape is a `400 invalid_request`; a code, or a country
/// and region, given twice (a rule the document cannot state) is a `422
/// unprocessable`.
impl From<RateError> for ApiError {
    fn from(e: RateError) -> Self {
        let code = match e {
            RateError::DuplicateCode { .. } | RateError::DuplicateTaxRate { .. } => {
                ErrorCode::Unprocessable
            }
            _ => ErrorCode::InvalidRequest,
        };
        ApiError::new(code, e.to_string())
    }
}

impl From<RateError> for PodError {
    fn from(e: RateError) -> Self {
        PodError::Api(e.into())
    }
}

impl From<ApiError> for Failure {
    fn from(e: ApiError) -> Self {
        Self::new(e.code, e.message)
    }
}

#[cfg(test)]
mod tests {
    use mercato_tenants::{Currency, VariantId};

    use super::*;
    use crate::accounts::InvalidField;

    #[test]
    fn checkout_refusals_keep_their_codes_and_messages() {
        let variant = VariantId::new();
        let eur = Currency::parse("EUR").expect("valid");
        for (refusal, code, message) in [
            (
                CheckoutError::MissingIdempotencyKey,
                ErrorCode::MissingIdempotencyKey,
                "send an Idempotency-Key header (a unique value per checkout attempt, reused on retries)".to_owned(),
            ),
            (
                CheckoutError::BadIdempotencyKey { max: 255 },
                ErrorCode::InvalidRequest,
                "Idempotency-Key must be 1 to 255 printable ASCII characters".to_owned(),
            ),
            (
                CheckoutError::EmptyCart,
                ErrorCode::EmptyCart,
                "the cart is empty".to_owned(),
            ),
            (
                CheckoutError::VariantGone { variant },
                ErrorCode::VariantUnavailable,
                format!("variant {variant} is no longer sold; remove it from the cart"),
            ),
            (
                CheckoutError::NotForSale { sku: "TEE-M".into() },
                ErrorCode::VariantUnavailable,
                "TEE-M is not available; remove it from the cart".to_owned(),
            ),
            (
                CheckoutError::WrongCurrency {
                    sku: "TEE-M".into(),
                    priced_in: eur,
                    store: Currency::USD,
                },
                ErrorCode::VariantUnavailable,
                "TEE-M is priced in EUR, the store sells in USD".to_owned(),
            ),
            (
                CheckoutError::LineTotalOutOfRange,
                ErrorCode::InvalidRequest,
                "line total out of range".to_owned(),
            ),
            (
                CheckoutError::OrderTotalOutOfRange,
                ErrorCode::InvalidRequest,
                "order total out of range".to_owned(),
            ),
            (
                CheckoutError::NoShipping {
                    option: "express".into(),
                    country: "FR".into(),
                },
                ErrorCode::ShippingUnavailable,
                "shipping option `express` does not ship to FR; see GET /api/shipping-options"
                    .to_owned(),
            ),
            (
                CheckoutError::PriceChanged {
                    total: 630,
                    expected: 1,
                },
                ErrorCode::PriceChanged,
                "the total is now 630 (you were shown 1); review the cart and try again".to_owned(),
            ),
            (
                CheckoutError::Address(InvalidField::Country),
                ErrorCode::InvalidRequest,
                "country must be an ISO 3166-1 alpha-2 code such as FR".to_owned(),
            ),
            (
                CheckoutError::Address(InvalidField::Length {
                    field: "city",
                    min: 1,
                    max: 100,
                }),
                ErrorCode::InvalidRequest,
                "city must be 1 to 100 printable characters".to_owned(),
            ),
        ] {
            assert_eq!(
                ApiError::from(refusal.clone()),
                ApiError::new(code, message),
                "{refusal:?}"
            );
        }
    }

    #[test]
    fn rate_refusals_keep_their_messages_and_repeats_are_unprocessable() {
        for (refusal, message) in [
            (
                RateError::TooManyShippingRates { max: 50 },
                "at most 50 shipping rates",
            ),
            (
                RateError::BadCode,
                "code must be 1 to 40 lower-case letters, digits, - or _",
            ),
            (
                RateError::DuplicateCode { code: "x".into() },
                "code x appears twice",
            ),
            (RateError::BadName, "name must be 1 to 100 characters"),
            (
                RateError::AmountOutOfRange,
                "price_minor and free_over_minor must be 0 to 100000000000",
            ),
            (
                RateError::BadCountry { raw: "USA".into() },
                "`USA` is not an ISO 3166-1 alpha-2 country code",
            ),
            (
                RateError::TooManyTaxRates { max: 500 },
                "at most 500 tax rates",
            ),
            (
                RateError::RegionTooLong { max: 10 },
                "region must be at most 10 characters",
            ),
            (RateError::RateOutOfRange, "rate_bp must be 0 to 10000"),
            (
                RateError::DuplicateTaxRate {
                    country: "US".into(),
                    region: "CA".into(),
                },
                "US CA appears twice",
            ),
        ] {
            let code = match refusal {
                RateError::DuplicateCode { .. } | RateError::DuplicateTaxRate { .. } => {
                    ErrorCode::Unprocessable
                }
                _ => ErrorCode::InvalidRequest,
            };
            assert_eq!(
                ApiError::from(refusal.clone()),
                ApiError::new(code, message),
                "{refusal:?}"
            );
        }
    }

    #[test]
    fn a_refusal_reaches_the_saga_as_a_failure_with_its_code() {
        let pod = PodError::from(CheckoutError::EmptyCart);
        let failure = Failure::from(pod.client_error().expect("a client error"));
        assert_eq!(failure.code, ErrorCode::EmptyCart);
        assert_eq!(failure.status(), 422);
        assert_eq!(failure.body()["error"]["message"], "the cart is empty");
    }
}
