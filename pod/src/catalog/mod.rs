//! The catalog: products and their variants. The variant is the unit of
//! price and stock; its SKU is unique within a store.
//!
//! Staff write through `/admin/api/products`; shoppers read active products
//! through `/api/products`.

pub(crate) mod model;
pub mod read;
pub(crate) mod sql;

use mercato_tenants::{ApiError, ErrorCode};

pub use model::{
    require_known, Image, InvalidProduct, NewProduct, NewVariant, Product, ProductOption,
    ProductPatch, ProductStatus, Sku, UnknownIds, Variant, VariantPatch,
};
pub use sql::{
    existing_products, get_product, get_products, gift_card_products, insert_product,
    list_products, product_of_variant, statuses, variant_snapshots, Page, VariantSnapshot,
};

use crate::error::PodError;

// The catalog's refusals as the client sees them: the one place where they
// meet error codes. The message is the refusal's own text.

/// `400 invalid_request` for a field out of its bounds (the document
/// states them); `422 unprocessable` for a rule between fields or against
/// the product as it is, which a schema cannot state: a repeat, a
/// compare-at price below the price, option values that do not fit the
/// options.
impl From<InvalidProduct> for ApiError {
    fn from(e: InvalidProduct) -> Self {
        let code = if e.is_between_fields() {
            ErrorCode::Unprocessable
        } else {
            ErrorCode::InvalidRequest
        };
        ApiError::new(code, e.to_string())
    }
}

/// `422 unprocessable`, naming the unknown ids.
impl From<UnknownIds> for ApiError {
    fn from(e: UnknownIds) -> Self {
        ApiError::new(ErrorCode::Unprocessable, e.to_string())
    }
}

impl From<InvalidProduct> for PodError {
    fn from(e: InvalidProduct) -> Self {
        PodError::Api(e.into())
    }
}

impl From<UnknownIds> for PodError {
    fn from(e: UnknownIds) -> Self {
        PodError::Api(e.into())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn require_known_names_each_unknown_id_once_in_order() {
        let known: HashSet<u32> = [1, 2].into_iter().collect();
        assert!(require_known("things", &[2, 1, 2], &known).is_ok());
        let err = require_known("things", &[9, 1, 3, 9], &known).expect_err("unknown ids");
        let err = ApiError::from(err);
        assert_eq!(err.code, ErrorCode::Unprocessable);
        assert_eq!(err.message, "no such things in this store: 3, 9");
    }

    #[test]
    fn refusals_keep_their_codes_and_messages() {
        let cases = [
            (
                InvalidProduct::Title { max: 255 },
                "title must be 1 to 255 characters",
            ),
            (
                InvalidProduct::Text {
                    field: "an attribute value",
                    max: 1024,
                },
                "an attribute value must be at most 1024 characters, without control characters",
            ),
            (
                InvalidProduct::UnknownOptionValue {
                    option: "Size".into(),
                    value: "XL".into(),
                },
                "`XL` is not a value of option `Size`",
            ),
            (
                InvalidProduct::PriceOutOfRange {
                    max: model::MAX_PRICE_MINOR,
                },
                "price_minor must be 0 to 1000000000000",
            ),
            (
                InvalidProduct::StockOutOfRange {
                    max: model::MAX_INITIAL_STOCK,
                },
                "stock must be 0 to 10000000",
            ),
            (
                InvalidProduct::DuplicateSku { sku: "A".into() },
                "SKU `A` appears twice",
            ),
        ];
        for (refusal, message) in cases {
            let between = refusal.is_between_fields();
            let api = ApiError::from(refusal);
            let (code, status) = if between {
                (ErrorCode::Unprocessable, 422)
            } else {
                (ErrorCode::InvalidRequest, 400)
            };
            assert_eq!(api.code, code, "{message}");
            assert_eq!(api.code.status().as_u16(), status);
            assert_eq!(api.message, message);
        }
        let pod = PodError::from(InvalidProduct::DuplicateCombination);
        assert_eq!(pod.into_api().code, ErrorCode::Unprocessable);
        let pod = PodError::from(InvalidProduct::Title { max: 255 });
        assert_eq!(pod.into_api().code, ErrorCode::InvalidRequest);
    }
}
