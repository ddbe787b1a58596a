//! The one place where the inventory's refusals ([`StockRefusal`],
//! [`LocationError`]) meet HTTP: the code each is served with. The message
//! is the refusal's own text.

use mercato_tenants::{ApiError, ErrorCode};

use super::model::{LocationError, StockRefusal};
use crate::error::PodError;

impl From<StockRefusal> for ApiError {
    fn from(r: StockRefusal) -> Self {
        let code = match r {
            StockRefusal::Negative => ErrorCode::NegativeStock,
            StockRefusal::BelowReserved { .. } => ErrorCode::StockReserved,
            // More than the most on hand after an adjustment: it depends on
            // the units there now.
            StockRefusal::TooMany => ErrorCode::Unprocessable,
        };
        ApiError::new(code, r.to_string())
    }
}

impl From<StockRefusal> for PodError {
    fn from(r: StockRefusal) -> Self {
        PodError::Api(r.into())
    }
}

impl From<LocationError> for ApiError {
    fn from(e: LocationError) -> Self {
        let code = match e {
            LocationError::InvalidCountry => ErrorCode::InvalidCountry,
            LocationError::TextLength { .. }
            | LocationError::PriorityOutOfRange
            | LocationError::InvalidCoordinates => ErrorCode::InvalidRequest,
            LocationError::Unknown(_) => ErrorCode::UnknownLocation,
            LocationError::LastActive => ErrorCode::LastActiveLocation,
            LocationError::UnpairedCoordinates => ErrorCode::Unprocessable,
        };
        ApiError::new(code, e.to_string())
    }
}

impl From<LocationError> for PodError {
    fn from(e: LocationError) -> Self {
        PodError::Api(e.into())
    }
}

#[cfg(test)]
mod tests {
    use mercato_tenants::LocationId;

    use super::*;

    #[test]
    fn stock_refusals_keep_their_codes_and_messages() {
        for (refusal, code, message) in [
            (
                StockRefusal::Negative,
                ErrorCode::NegativeStock,
                "units on hand cannot go below zero",
            ),
            (
                StockRefusal::BelowReserved { reserved: 3 },
                ErrorCode::StockReserved,
                "3 units are reserved by checkouts; on hand cannot go below that",
            ),
            (
                StockRefusal::TooMany,
                ErrorCode::Unprocessable,
                "on_hand cannot exceed 10000000",
            ),
        ] {
            assert_eq!(
                ApiError::from(refusal),
                ApiError::new(code, message),
                "{refusal:?}"
            );
        }
    }

    #[test]
    fn location_refusals_keep_their_codes_and_messages() {
        let id = LocationId::new();
        for (refusal, code, message) in [
            (
                LocationError::InvalidCountry,
                ErrorCode::InvalidCountry,
                "country must be an ISO 3166-1 alpha-2 code such as US or DE".to_owned(),
            ),
            (
                LocationError::TextLength {
                    field: "name",
                    min: 1,
                    max: 100,
                },
                ErrorCode::InvalidRequest,
                "name must be 1 to 100 characters".to_owned(),
            ),
            (
                LocationError::TextLength {
                    field: "postal_code",
                    min: 0,
                    max: 32,
                },
                ErrorCode::InvalidRequest,
                "postal_code must be at most 32 characters".to_owned(),
            ),
            (
                LocationError::PriorityOutOfRange,
                ErrorCode::InvalidRequest,
                "priority must be 0 to 1000000".to_owned(),
            ),
            (
                LocationError::Unknown(id),
                ErrorCode::UnknownLocation,
                format!("no location {id} in this store"),
            ),
            (
                LocationError::LastActive,
                ErrorCode::LastActiveLocation,
                "the store's last active location cannot be deactivated".to_owned(),
            ),
        ] {
            assert_eq!(
                ApiError::from(refusal.clone()),
                ApiError::new(code, message),
                "{refusal:?}"
            );
        }
        let pod = PodError::from(LocationError::LastActive);
        assert_eq!(pod.into_api().code.status().as_u16(), 409);
    }
}
