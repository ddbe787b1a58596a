//! The catalog: products and their variants. The variant is the unit of
//! price and stock; its SKU is unique within a store.
//!
//! Staff write through `/admin/api/products`; shoppers read active products
//! through `/api/products`.

pub(crate) mod model;
pub mod read;
pub(crate) mod sql;

use std::collections::{BTreeSet, HashSet};
use std::fmt::Display;
use std::hash::Hash;

use mercato_tenants::{ApiError, ErrorCode};

pub use model::{
    Image, NewProduct, NewVariant, Product, ProductOption, ProductPatch, ProductStatus, Sku,
    Variant, VariantPatch,
};
pub use sql::{
    existing_products, get_product, get_products, insert_product, list_products,
    product_of_variant, statuses, variant_snapshots, Page, VariantSnapshot,
};

/// `422 unprocessable` naming (sorted, once each) the ids of `wanted` that
/// are not `known` in the store: `what` says what they are.
pub fn require_known<T>(what: &str, wanted: &[T], known: &HashSet<T>) -> Result<(), ApiError>
where
    T: Eq + Hash + Display,
{
    let unknown: BTreeSet<String> = wanted
        .iter()
        .filter(|id| !known.contains(id))
        .map(ToString::to_string)
        .collect();
    if unknown.is_empty() {
        return Ok(());
    }
    Err(ApiError::new(
        ErrorCode::Unprocessable,
        format!(
            "no such {what} in this store: {}",
            unknown.into_iter().collect::<Vec<_>>().join(", ")
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn require_known_names_each_unknown_id_once_in_order() {
        let known: HashSet<u32> = [1, 2].into_iter().collect();
        assert!(require_known("things", &[2, 1, 2], &known).is_ok());
        let err = require_known("things", &[9, 1, 3, 9], &known).expect_err("unknown ids");
        assert_eq!(err.code, ErrorCode::Unprocessable);
        assert_eq!(err.message, "no such things in this store: 3, 9");
    }
}
