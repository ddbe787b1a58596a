//! Catalog types and their validation. Input is parsed once, here, into
//! types the rest of the pod trusts.

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, Utc};
pub use mercato_tenants::ProductStatus;
use mercato_tenants::{ApiError, MediaId, Money, ProductId, VariantId};
use serde::{Deserialize, Deserializer, Serialize};

use crate::inventory::Badge;

/// A stock-keeping unit: 1 to 64 printable characters, no white space.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Sku(String);

impl Sku {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let sku = raw.trim();
        if sku.is_empty() || sku.len() > 64 || !sku.chars().all(|c| c.is_ascii_graphic()) {
            return Err(format!(
                "SKU `{}` must be 1 to 64 printable ASCII characters without spaces",
                sku.chars().take(64).collect::<String>()
            ));
        }
        Ok(Self(sku.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for Sku {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        Sku::parse(&raw).map_err(serde::de::Error::custom)
    }
}

/// Largest price accepted: 10^12 minor units.
pub const MAX_PRICE_MINOR: i64 = 1_000_000_000_000;
pub const MAX_VARIANTS: usize = 100;
pub const MAX_OPTIONS: usize = 3;
pub const MAX_OPTION_VALUES: usize = 100;
pub const MAX_TAGS: usize = 50;
pub const MAX_ATTRIBUTES: usize = 50;
pub const MAX_WEIGHT_GRAMS: i32 = 1_000_000_000;

/// An option shoppers choose between, such as Size: S, M, L.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProductOption {
    pub name: String,
    pub values: Vec<String>,
}

/// One value per product option: `{"Size": "M", "Colour": "Red"}`.
pub type OptionValues = BTreeMap<String, String>;
/// Free-form merchant attributes of a variant: `{"material": "cotton"}`.
pub type Attributes = BTreeMap<String, String>;

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewVariant {
    #[schema(value_type = String, example = "TEE-RED-M")]
    pub sku: Sku,
    #[serde(default)]
    pub title: String,
    /// Price in minor units of the store's currency.
    pub price_minor: i64,
    /// The "was" price, at least the price.
    pub compare_at_minor: Option<i64>,
    #[serde(default)]
    pub weight_grams: i32,
    #[serde(default)]
    pub option_values: OptionValues,
    #[serde(default)]
    pub attributes: Attributes,
    /// Units on hand to start with (default 0).
    pub stock: Option<i32>,
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewProduct {
    pub title: String,
    #[serde(default)]
    pub description: String,
    #[serde(default = "default_status")]
    pub status: ProductStatus,
    #[serde(default)]
    pub vendor: String,
    #[serde(default)]
    pub product_type: String,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub options: Vec<ProductOption>,
    pub variants: Vec<NewVariant>,
}

fn default_status() -> ProductStatus {
    ProductStatus::Active
}

fn check_title(title: &str) -> Result<(), ApiError> {
    if title.trim().is_empty() || title.len() > 255 {
        return Err(ApiError::invalid("title must be 1 to 255 characters"));
    }
    Ok(())
}

fn check_description(description: &str) -> Result<(), ApiError> {
    if description.len() > 65_536 {
        return Err(ApiError::invalid("description must be at most 64 KiB"));
    }
    Ok(())
}

fn check_label(what: &str, value: &str, max: usize) -> Result<(), ApiError> {
    if value.len() > max || value.chars().any(char::is_control) {
        return Err(ApiError::invalid(format!(
            "{what} must be at most {max} characters, without control characters"
        )));
    }
    Ok(())
}

fn check_nonempty_label(what: &str, value: &str, max: usize) -> Result<(), ApiError> {
    if value.trim().is_empty() {
        return Err(ApiError::invalid(format!("{what} must not be empty")));
    }
    check_label(what, value, max)
}

/// Trims tags, drops duplicates (ignoring case) and checks their number
/// and length. Tags keep the merchant's spelling.
pub fn normalize_tags(tags: &[String]) -> Result<Vec<String>, ApiError> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for tag in tags {
        let tag = tag.trim();
        check_nonempty_label("a tag", tag, 64)?;
        if seen.insert(tag.to_lowercase()) {
            out.push(tag.to_owned());
        }
    }
    if out.len() > MAX_TAGS {
        return Err(ApiError::invalid(format!("at most {MAX_TAGS} tags")));
    }
    Ok(out)
}

/// Checks a product's options: at most three, named uniquely, each with
/// 1 to 100 distinct values.
pub fn check_options(options: &[ProductOption]) -> Result<(), ApiError> {
    if options.len() > MAX_OPTIONS {
        return Err(ApiError::invalid(format!(
            "a product has at most {MAX_OPTIONS} options"
        )));
    }
    let mut names = HashSet::new();
    for option in options {
        check_nonempty_label("an option name", &option.name, 64)?;
        if !names.insert(option.name.to_lowercase()) {
            return Err(ApiError::invalid(format!(
                "option `{}` appears twice",
                option.name
            )));
        }
        if option.values.is_empty() || option.values.len() > MAX_OPTION_VALUES {
            return Err(ApiError::invalid(format!(
                "option `{}` needs 1 to {MAX_OPTION_VALUES} values",
                option.name
            )));
        }
        let mut values = HashSet::new();
        for value in &option.values {
            check_nonempty_label("an option value", value, 64)?;
            if !values.insert(value.to_lowercase()) {
                return Err(ApiError::invalid(format!(
                    "value `{value}` appears twice in option `{}`",
                    option.name
                )));
            }
        }
    }
    Ok(())
}

/// Checks that every variant names exactly one listed value per option, and
/// that no two variants name the same combination.
pub fn check_variant_options<'a>(
    options: &[ProductOption],
    variants: impl IntoIterator<Item = &'a OptionValues>,
) -> Result<(), ApiError> {
    let mut combinations = HashSet::new();
    for values in variants {
        if values.len() != options.len() {
            return Err(ApiError::invalid(
                "each variant must give exactly one value for each of the product's options",
            ));
        }
        for option in options {
            match values.get(&option.name) {
                Some(v) if option.values.contains(v) => {}
                Some(v) => {
                    return Err(ApiError::invalid(format!(
                        "`{v}` is not a value of option `{}`",
                        option.name
                    )))
                }
                None => {
                    return Err(ApiError::invalid(format!(
                        "a variant has no value for option `{}`",
                        option.name
                    )))
                }
            }
        }
        if !options.is_empty() && !combinations.insert(values.clone()) {
            return Err(ApiError::invalid(
                "two variants have the same option values",
            ));
        }
    }
    Ok(())
}

fn check_price(price_minor: i64, compare_at_minor: Option<i64>) -> Result<(), ApiError> {
    if !(0..=MAX_PRICE_MINOR).contains(&price_minor) {
        return Err(ApiError::invalid(format!(
            "price_minor must be 0 to {MAX_PRICE_MINOR}"
        )));
    }
    if let Some(compare_at) = compare_at_minor {
        if !(price_minor..=MAX_PRICE_MINOR).contains(&compare_at) {
            return Err(ApiError::invalid(
                "compare_at_minor must be at least the price",
            ));
        }
    }
    Ok(())
}

fn check_attributes(attributes: &Attributes) -> Result<(), ApiError> {
    if attributes.len() > MAX_ATTRIBUTES {
        return Err(ApiError::invalid(format!(
            "at most {MAX_ATTRIBUTES} attributes"
        )));
    }
    for (k, v) in attributes {
        check_nonempty_label("an attribute name", k, 64)?;
        check_label("an attribute value", v, 1024)?;
    }
    Ok(())
}

fn check_weight(weight_grams: i32) -> Result<(), ApiError> {
    if !(0..=MAX_WEIGHT_GRAMS).contains(&weight_grams) {
        return Err(ApiError::invalid(format!(
            "weight_grams must be 0 to {MAX_WEIGHT_GRAMS}"
        )));
    }
    Ok(())
}

impl NewVariant {
    /// Checks what the types alone cannot, except option values (which need
    /// the product's options).
    pub fn validate(&self) -> Result<(), ApiError> {
        check_price(self.price_minor, self.compare_at_minor)?;
        check_label("variant title", &self.title, 255)?;
        check_weight(self.weight_grams)?;
        check_attributes(&self.attributes)?;
        if matches!(self.stock, Some(s) if !(0..=10_000_000).contains(&s)) {
            return Err(ApiError::invalid("stock must be 0 to 10000000"));
        }
        Ok(())
    }
}

impl NewProduct {
    /// Checks what the types alone cannot, and normalizes tags.
    pub fn validate(&mut self) -> Result<(), ApiError> {
        check_title(&self.title)?;
        check_description(&self.description)?;
        check_label("vendor", &self.vendor, 255)?;
        check_label("product_type", &self.product_type, 255)?;
        self.tags = normalize_tags(&self.tags)?;
        check_options(&self.options)?;
        if self.variants.is_empty() || self.variants.len() > MAX_VARIANTS {
            return Err(ApiError::invalid(format!(
                "a product needs 1 to {MAX_VARIANTS} variants"
            )));
        }
        let mut skus = HashSet::new();
        for v in &self.variants {
            v.validate()?;
            if !skus.insert(v.sku.as_str()) {
                return Err(ApiError::invalid(format!(
                    "SKU `{}` appears twice",
                    v.sku.as_str()
                )));
            }
        }
        check_variant_options(
            &self.options,
            self.variants.iter().map(|v| &v.option_values),
        )
    }
}

/// Deserializes a field that may be absent (keep), `null` (clear) or a
/// value (set) into `Option<Option<T>>`.
fn nullable<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// A partial update of a product's own fields.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProductPatch {
    pub title: Option<String>,
    pub description: Option<String>,
    pub status: Option<ProductStatus>,
    pub vendor: Option<String>,
    pub product_type: Option<String>,
    pub tags: Option<Vec<String>>,
    /// New options; every existing variant must still fit them.
    pub options: Option<Vec<ProductOption>>,
}

impl ProductPatch {
    pub fn validate(&mut self) -> Result<(), ApiError> {
        if let Some(t) = &self.title {
            check_title(t)?;
        }
        if let Some(d) = &self.description {
            check_description(d)?;
        }
        if let Some(v) = &self.vendor {
            check_label("vendor", v, 255)?;
        }
        if let Some(t) = &self.product_type {
            check_label("product_type", t, 255)?;
        }
        if let Some(tags) = &self.tags {
            self.tags = Some(normalize_tags(tags)?);
        }
        if let Some(options) = &self.options {
            check_options(options)?;
        }
        Ok(())
    }
}

/// A partial update of one variant.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VariantPatch {
    #[schema(value_type = Option<String>)]
    pub sku: Option<Sku>,
    pub title: Option<String>,
    pub price_minor: Option<i64>,
    /// `null` clears the compare-at price.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<i64>)]
    pub compare_at_minor: Option<Option<i64>>,
    pub weight_grams: Option<i32>,
    pub option_values: Option<OptionValues>,
    pub attributes: Option<Attributes>,
}

impl VariantPatch {
    /// Checks the patch applied to `current`, the variant as it is.
    pub fn validate(&self, current: &Variant) -> Result<(), ApiError> {
        let price = self.price_minor.unwrap_or(current.price.minor);
        let compare_at = match self.compare_at_minor {
            Some(c) => c,
            None => current.compare_at_price.map(|m| m.minor),
        };
        check_price(price, compare_at)?;
        if let Some(t) = &self.title {
            check_label("variant title", t, 255)?;
        }
        if let Some(w) = self.weight_grams {
            check_weight(w)?;
        }
        if let Some(a) = &self.attributes {
            check_attributes(a)?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Variant {
    #[schema(value_type = String, format = Uuid)]
    pub id: VariantId,
    pub sku: String,
    pub title: String,
    pub price: Money,
    pub compare_at_price: Option<Money>,
    pub weight_grams: i32,
    pub option_values: OptionValues,
    pub attributes: Attributes,
    pub position: i32,
    /// Shoppers: in stock, low or sold out (fresh within seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub availability: Option<Badge>,
    /// Staff: units on hand.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_hand: Option<i32>,
}

/// A product image. Its URL names the content (sha256), so it can be
/// cached forever.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Image {
    #[schema(value_type = String, format = Uuid)]
    pub id: MediaId,
    pub url: String,
    pub alt: String,
    pub content_type: String,
    pub byte_size: i32,
    pub position: i32,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Product {
    #[schema(value_type = String, format = Uuid)]
    pub id: ProductId,
    pub title: String,
    pub description: String,
    pub status: ProductStatus,
    pub vendor: String,
    pub product_type: String,
    pub tags: Vec<String>,
    pub options: Vec<ProductOption>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub variants: Vec<Variant>,
    pub images: Vec<Image>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn product(json: serde_json::Value) -> Result<NewProduct, String> {
        serde_json::from_value::<NewProduct>(json).map_err(|e| e.to_string())
    }

    #[test]
    fn skus() {
        assert!(Sku::parse("TEE-RED-M").is_ok());
        assert!(Sku::parse("").is_err());
        assert!(Sku::parse("has space").is_err());
        assert!(Sku::parse(&"x".repeat(65)).is_err());
    }

    #[test]
    fn product_validation() {
        let ok = product(
            serde_json::json!({"title": "Tee", "variants": [{"sku": "A", "price_minor": 100}]}),
        )
        .expect("parses");
        let mut ok = ok;
        assert!(ok.validate().is_ok());
        assert_eq!(ok.status, ProductStatus::Active);

        let mut dup = product(serde_json::json!({"title": "Tee", "variants": [
            {"sku": "A", "price_minor": 1}, {"sku": "A", "price_minor": 2}]}))
        .expect("parses");
        assert!(dup.validate().is_err());

        let mut negative = product(
            serde_json::json!({"title": "Tee", "variants": [{"sku": "A", "price_minor": -1}]}),
        )
        .expect("parses");
        assert!(negative.validate().is_err());

        let mut none =
            product(serde_json::json!({"title": "Tee", "variants": []})).expect("parses");
        assert!(none.validate().is_err());

        assert!(product(
            serde_json::json!({"title": "Tee", "variants": [{"sku": "bad sku", "price_minor": 1}]})
        )
        .is_err());
        assert!(product(serde_json::json!({"title": "Tee", "bogus": 1, "variants": []})).is_err());
    }

    fn sized(sizes: &[&str]) -> Vec<ProductOption> {
        vec![ProductOption {
            name: "Size".into(),
            values: sizes.iter().map(|s| s.to_string()).collect(),
        }]
    }

    fn values(pairs: &[(&str, &str)]) -> OptionValues {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn variant_options_must_match_the_product() {
        let options = sized(&["S", "M"]);
        assert!(check_variant_options(
            &options,
            [&values(&[("Size", "S")]), &values(&[("Size", "M")])]
        )
        .is_ok());
        // a value that is not listed
        assert!(check_variant_options(&options, [&values(&[("Size", "XL")])]).is_err());
        // a missing option, an extra option
        assert!(check_variant_options(&options, [&values(&[])]).is_err());
        assert!(
            check_variant_options(&options, [&values(&[("Size", "S"), ("Colour", "Red")])])
                .is_err()
        );
        // the same combination twice
        assert!(check_variant_options(
            &options,
            [&values(&[("Size", "S")]), &values(&[("Size", "S")])]
        )
        .is_err());
        // no options: variants carry no values
        assert!(check_variant_options(&[], [&values(&[]), &values(&[])]).is_ok());
    }

    #[test]
    fn options_and_tags() {
        assert!(check_options(&sized(&["S", "M"])).is_ok());
        assert!(check_options(&sized(&[])).is_err());
        assert!(check_options(&sized(&["S", "s"])).is_err());
        let four: Vec<ProductOption> = ["a", "b", "c", "d"]
            .iter()
            .map(|n| ProductOption {
                name: n.to_string(),
                values: vec!["x".into()],
            })
            .collect();
        assert!(check_options(&four).is_err());
        let tags =
            normalize_tags(&[" Summer ".into(), "summer".into(), "Sale".into()]).expect("ok");
        assert_eq!(tags, vec!["Summer".to_string(), "Sale".to_string()]);
        assert!(normalize_tags(&["".into()]).is_err());
    }

    #[test]
    fn compare_at_is_at_least_the_price() {
        assert!(check_price(100, Some(150)).is_ok());
        assert!(check_price(100, Some(100)).is_ok());
        assert!(check_price(100, Some(99)).is_err());
        assert!(check_price(100, None).is_ok());
    }
}
