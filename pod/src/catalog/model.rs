//! Catalog types and their validation. Input is parsed once, here, into
//! types the rest of the pod trusts. Pure: no I/O. Refusals are
//! [`InvalidProduct`] (and [`UnknownIds`]); `catalog/mod.rs` maps them to
//! HTTP errors.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fmt::Display;
use std::hash::Hash;

use chrono::{DateTime, Utc};
pub use mercato_tenants::ProductStatus;
use mercato_tenants::{MediaId, Money, ProductId, VariantId};
use serde::{Deserialize, Deserializer, Serialize};

use crate::inventory::Badge;
use crate::reviews::Rating;

/// A stock-keeping unit: 1 to 64 printable characters, no white space.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Sku(String);

/// A string that is not a [`Sku`]: its first 64 characters, trimmed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("SKU `{0}` must be 1 to 64 printable ASCII characters without spaces")]
pub struct InvalidSku(pub String);

impl Sku {
    pub fn parse(raw: &str) -> Result<Self, InvalidSku> {
        let sku = raw.trim();
        if sku.is_empty() || sku.len() > 64 || !sku.chars().all(|c| c.is_ascii_graphic()) {
            return Err(InvalidSku(sku.chars().take(64).collect()));
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
/// Most units on hand a new variant may start with.
pub const MAX_INITIAL_STOCK: i32 = 10_000_000;
/// Longest product title, in bytes.
pub const MAX_TITLE: usize = 255;
/// Longest product description, in characters.
pub const MAX_DESCRIPTION: usize = 65_536;

/// Why a product, a variant or a change to either is refused. Every one is
/// the client's mistake; the text says what to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidProduct {
    #[error("title must be 1 to {max} characters")]
    Title { max: usize },
    #[error("description must be at most 65536 characters")]
    DescriptionTooLong,
    /// A text field (`field` names it, with its article where the message
    /// needs one: "a tag") longer than `max` or with control characters.
    #[error("{field} must be at most {max} characters, without control characters")]
    Text { field: &'static str, max: usize },
    #[error("{field} must not be empty")]
    Empty { field: &'static str },
    #[error("at most {max} tags")]
    TooManyTags { max: usize },
    #[error("a product has at most {max} options")]
    TooManyOptions { max: usize },
    #[error("option `{option}` appears twice")]
    DuplicateOption { option: String },
    #[error("option `{option}` needs 1 to {max} values")]
    OptionValueCount { option: String, max: usize },
    #[error("value `{value}` appears twice in option `{option}`")]
    DuplicateOptionValue { option: String, value: String },
    /// A variant names more or fewer options than the product has.
    #[error("each variant must give exactly one value for each of the product's options")]
    OptionCountMismatch,
    #[error("`{value}` is not a value of option `{option}`")]
    UnknownOptionValue { option: String, value: String },
    #[error("a variant has no value for option `{option}`")]
    MissingOptionValue { option: String },
    #[error("two variants have the same option values")]
    DuplicateCombination,
    #[error("price_minor must be 0 to {max}")]
    PriceOutOfRange { max: i64 },
    /// The compare-at price is below the price (or above the largest price).
    #[error("compare_at_minor must be at least the price")]
    CompareAtBelowPrice,
    #[error("at most {max} attributes")]
    TooManyAttributes { max: usize },
    #[error("weight_grams must be 0 to {max}")]
    WeightOutOfRange { max: i32 },
    #[error("stock must be 0 to {max}")]
    StockOutOfRange { max: i32 },
    #[error("a product needs 1 to {max} variants")]
    VariantCount { max: usize },
    #[error("SKU `{sku}` appears twice")]
    DuplicateSku { sku: String },
}

impl InvalidProduct {
    /// A rule between fields, or against the product as it is, rather
    /// than a field out of its own bounds.
    pub fn is_between_fields(&self) -> bool {
        matches!(
            self,
            Self::DuplicateOption { .. }
                | Self::DuplicateOptionValue { .. }
                | Self::OptionCountMismatch
                | Self::UnknownOptionValue { .. }
                | Self::MissingOptionValue { .. }
                | Self::DuplicateCombination
                | Self::CompareAtBelowPrice
                | Self::DuplicateSku { .. }
        )
    }
}

/// Ids a request names that the store does not have: `what` they are, and
/// each unknown one once, in order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no such {what} in this store: {}", .ids.join(", "))]
pub struct UnknownIds {
    pub what: &'static str,
    pub ids: Vec<String>,
}

/// [`UnknownIds`] naming the ids of `wanted` that are not `known` in the
/// store (sorted, once each); `what` says what they are.
pub fn require_known<T>(
    what: &'static str,
    wanted: &[T],
    known: &HashSet<T>,
) -> Result<(), UnknownIds>
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
    Err(UnknownIds {
        what,
        ids: unknown.into_iter().collect(),
    })
}

/// A tag, an option's name or one of its values: 1 to 64 characters, not
/// only white space, no control characters (white space around it is
/// trimmed).
const NONBLANK_LABEL: &str = r"^[^\u0000-\u001F\u007F-\u009F]*[^\u0000-\u0020\u007F-\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000][^\u0000-\u001F\u007F-\u009F]*$";

/// A tag of a product, as [`normalize_tags`] takes it (in request schemas).
pub struct Tag;

/// A label's schema: [`NONBLANK_LABEL`], at most 64 characters.
fn label_schema(description: &str) -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .max_length(Some(64))
        .pattern(Some(NONBLANK_LABEL))
        .description(Some(description))
        .into()
}

impl utoipa::PartialSchema for Tag {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        label_schema(
            "1 to 64 characters, not only white space, no control characters \
             (trimmed; repeats, ignoring case, are dropped)",
        )
    }
}

impl utoipa::ToSchema for Tag {}

/// An option's name or value, as [`check_options`] takes it (in request
/// schemas).
pub struct OptionLabel;

impl utoipa::PartialSchema for OptionLabel {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        label_schema("1 to 64 characters, not only white space, no control characters")
    }
}

impl utoipa::ToSchema for OptionLabel {}

/// An option shoppers choose between, such as Size: S, M, L. Names are
/// unique and values unique within their option, ignoring case (`422`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProductOption {
    #[schema(value_type = OptionLabel)]
    pub name: String,
    /// 1 to 100 values.
    #[schema(value_type = Vec<OptionLabel>, min_items = 1, max_items = 100)]
    pub values: Vec<String>,
}

/// One value per product option: `{"Size": "M", "Colour": "Red"}`.
pub type OptionValues = BTreeMap<String, String>;
/// Free-form merchant attributes of a variant: `{"material": "cotton"}`.
pub type Attributes = BTreeMap<String, String>;

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewVariant {
    /// 1 to 64 printable ASCII characters, no spaces (white space around
    /// it is trimmed); unique in the store (`409`) and in the request
    /// (`422`).
    #[schema(value_type = String, example = "TEE-RED-M", pattern = r"^[\u0009\u000A\u000D\u0020\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]*[!-~]{1,64}[\u0009\u000A\u000D\u0020\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]*$")]
    pub sku: Sku,
    /// At most 255 characters, no control characters.
    #[serde(default)]
    #[schema(max_length = 255, pattern = r"^[^\u0000-\u001F\u007F-\u009F]*$")]
    pub title: String,
    /// Price in minor units of the store's currency, 0 to 10^12.
    #[schema(minimum = 0, maximum = 1_000_000_000_000_i64)]
    pub price_minor: i64,
    /// The "was" price, at least the price (`422` when below it), at most
    /// 10^12.
    #[schema(minimum = 0, maximum = 1_000_000_000_000_i64)]
    pub compare_at_minor: Option<i64>,
    /// 0 to 1,000,000,000.
    #[serde(default)]
    #[schema(minimum = 0, maximum = 1_000_000_000)]
    pub weight_grams: i32,
    /// One value of each of the product's options, by option name (`422`
    /// when one is missing, extra or not among the option's values).
    #[serde(default)]
    #[schema(schema_with = new_option_values_schema)]
    pub option_values: OptionValues,
    #[serde(default)]
    #[schema(schema_with = new_attributes_schema)]
    pub attributes: Attributes,
    /// Units on hand to start with (default 0), at most 10,000,000.
    #[schema(minimum = 0, maximum = 10_000_000)]
    pub stock: Option<i32>,
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewProduct {
    /// 1 to 255 characters, not only white space.
    #[schema(
        max_length = 255,
        pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*[^\u0000-\u0020\u007F-\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000][^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$"
    )]
    pub title: String,
    /// At most 65,536 characters.
    #[serde(default)]
    #[schema(max_length = 65_536)]
    pub description: String,
    #[serde(default = "default_status")]
    pub status: ProductStatus,
    /// At most 255 characters, no control characters.
    #[serde(default)]
    #[schema(max_length = 255, pattern = r"^[^\u0000-\u001F\u007F-\u009F]*$")]
    pub vendor: String,
    /// At most 255 characters, no control characters.
    #[serde(default)]
    #[schema(max_length = 255, pattern = r"^[^\u0000-\u001F\u007F-\u009F]*$")]
    pub product_type: String,
    /// At most 50.
    #[serde(default)]
    #[schema(value_type = Vec<Tag>, max_items = 50)]
    pub tags: Vec<String>,
    /// At most 3.
    #[serde(default)]
    #[schema(max_items = 3)]
    pub options: Vec<ProductOption>,
    /// 1 to 100; no two with the same option values (`422`).
    #[schema(min_items = 1, max_items = 100)]
    pub variants: Vec<NewVariant>,
    /// Sold as a gift card: each unit paid issues a card of its price
    /// (mailed to the buyer). Its stock and shipping are a product's like
    /// any other.
    #[serde(default)]
    pub gift_card: bool,
}

fn default_status() -> ProductStatus {
    ProductStatus::Active
}

fn check_title(title: &str) -> Result<(), InvalidProduct> {
    if title.trim().is_empty() || title.chars().count() > MAX_TITLE {
        return Err(InvalidProduct::Title { max: MAX_TITLE });
    }
    Ok(())
}

fn check_description(description: &str) -> Result<(), InvalidProduct> {
    if description.chars().count() > MAX_DESCRIPTION {
        return Err(InvalidProduct::DescriptionTooLong);
    }
    Ok(())
}

fn check_label(field: &'static str, value: &str, max: usize) -> Result<(), InvalidProduct> {
    if value.chars().count() > max || value.chars().any(char::is_control) {
        return Err(InvalidProduct::Text { field, max });
    }
    Ok(())
}

fn check_nonempty_label(
    field: &'static str,
    value: &str,
    max: usize,
) -> Result<(), InvalidProduct> {
    if value.trim().is_empty() {
        return Err(InvalidProduct::Empty { field });
    }
    check_label(field, value, max)
}

/// Trims tags, drops duplicates (ignoring case) and checks their number
/// and length. Tags keep the merchant's spelling.
pub fn normalize_tags(tags: &[String]) -> Result<Vec<String>, InvalidProduct> {
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
        return Err(InvalidProduct::TooManyTags { max: MAX_TAGS });
    }
    Ok(out)
}

/// Checks a product's options: at most three, named uniquely, each with
/// 1 to 100 distinct values.
pub fn check_options(options: &[ProductOption]) -> Result<(), InvalidProduct> {
    if options.len() > MAX_OPTIONS {
        return Err(InvalidProduct::TooManyOptions { max: MAX_OPTIONS });
    }
    let mut names = HashSet::new();
    for option in options {
        check_nonempty_label("an option name", &option.name, 64)?;
        if !names.insert(option.name.to_lowercase()) {
            return Err(InvalidProduct::DuplicateOption {
                option: option.name.clone(),
            });
        }
        if option.values.is_empty() || option.values.len() > MAX_OPTION_VALUES {
            return Err(InvalidProduct::OptionValueCount {
                option: option.name.clone(),
                max: MAX_OPTION_VALUES,
            });
        }
        let mut values = HashSet::new();
        for value in &option.values {
            check_nonempty_label("an option value", value, 64)?;
            if !values.insert(value.to_lowercase()) {
                return Err(InvalidProduct::DuplicateOptionValue {
                    option: option.name.clone(),
                    value: value.clone(),
                });
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
) -> Result<(), InvalidProduct> {
    let mut combinations = HashSet::new();
    for values in variants {
        if values.len() != options.len() {
            return Err(InvalidProduct::OptionCountMismatch);
        }
        for option in options {
            match values.get(&option.name) {
                Some(v) if option.values.contains(v) => {}
                Some(v) => {
                    return Err(InvalidProduct::UnknownOptionValue {
                        option: option.name.clone(),
                        value: v.clone(),
                    })
                }
                None => {
                    return Err(InvalidProduct::MissingOptionValue {
                        option: option.name.clone(),
                    })
                }
            }
        }
        if !options.is_empty() && !combinations.insert(values.clone()) {
            return Err(InvalidProduct::DuplicateCombination);
        }
    }
    Ok(())
}

fn check_price(price_minor: i64, compare_at_minor: Option<i64>) -> Result<(), InvalidProduct> {
    if !(0..=MAX_PRICE_MINOR).contains(&price_minor) {
        return Err(InvalidProduct::PriceOutOfRange {
            max: MAX_PRICE_MINOR,
        });
    }
    if let Some(compare_at) = compare_at_minor {
        if !(price_minor..=MAX_PRICE_MINOR).contains(&compare_at) {
            return Err(InvalidProduct::CompareAtBelowPrice);
        }
    }
    Ok(())
}

fn check_attributes(attributes: &Attributes) -> Result<(), InvalidProduct> {
    if attributes.len() > MAX_ATTRIBUTES {
        return Err(InvalidProduct::TooManyAttributes {
            max: MAX_ATTRIBUTES,
        });
    }
    for (k, v) in attributes {
        check_nonempty_label("an attribute name", k, 64)?;
        check_label("an attribute value", v, 1024)?;
    }
    Ok(())
}

fn check_weight(weight_grams: i32) -> Result<(), InvalidProduct> {
    if !(0..=MAX_WEIGHT_GRAMS).contains(&weight_grams) {
        return Err(InvalidProduct::WeightOutOfRange {
            max: MAX_WEIGHT_GRAMS,
        });
    }
    Ok(())
}

/// A variant's title when it is given none: its option values in the
/// product's option order, joined by " / " ("M / Blue"); empty for a
/// product without options.
pub fn derived_title(options: &[ProductOption], values: &OptionValues) -> String {
    options
        .iter()
        .filter_map(|o| values.get(&o.name).map(String::as_str))
        .collect::<Vec<_>>()
        .join(" / ")
}

impl NewVariant {
    /// Gives the variant its [`derived_title`] if it has no title (after the
    /// option values are checked against `options`).
    pub fn title_from_options(&mut self, options: &[ProductOption]) {
        if self.title.trim().is_empty() {
            self.title = derived_title(options, &self.option_values);
        }
    }

    /// Checks what the types alone cannot, except option values (which need
    /// the product's options).
    pub fn validate(&self) -> Result<(), InvalidProduct> {
        check_price(self.price_minor, self.compare_at_minor)?;
        check_label("variant title", &self.title, 255)?;
        check_weight(self.weight_grams)?;
        check_attributes(&self.attributes)?;
        if matches!(self.stock, Some(s) if !(0..=MAX_INITIAL_STOCK).contains(&s)) {
            return Err(InvalidProduct::StockOutOfRange {
                max: MAX_INITIAL_STOCK,
            });
        }
        Ok(())
    }
}

impl NewProduct {
    /// Checks what the types alone cannot, and normalizes tags.
    pub fn validate(&mut self) -> Result<(), InvalidProduct> {
        check_title(&self.title)?;
        check_description(&self.description)?;
        check_label("vendor", &self.vendor, 255)?;
        check_label("product_type", &self.product_type, 255)?;
        self.tags = normalize_tags(&self.tags)?;
        check_options(&self.options)?;
        if self.variants.is_empty() || self.variants.len() > MAX_VARIANTS {
            return Err(InvalidProduct::VariantCount { max: MAX_VARIANTS });
        }
        let mut skus = HashSet::new();
        for v in &self.variants {
            v.validate()?;
            if !skus.insert(v.sku.as_str()) {
                return Err(InvalidProduct::DuplicateSku {
                    sku: v.sku.as_str().to_owned(),
                });
            }
        }
        check_variant_options(
            &self.options,
            self.variants.iter().map(|v| &v.option_values),
        )?;
        for v in &mut self.variants {
            v.title_from_options(&self.options);
        }
        Ok(())
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
    /// 1 to 255 characters, not only white space.
    #[schema(
        max_length = 255,
        pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*[^\u0000-\u0020\u007F-\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000][^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$"
    )]
    pub title: Option<String>,
    /// At most 65,536 characters.
    #[schema(max_length = 65_536)]
    pub description: Option<String>,
    pub status: Option<ProductStatus>,
    /// At most 255 characters, no control characters.
    #[schema(max_length = 255, pattern = r"^[^\u0000-\u001F\u007F-\u009F]*$")]
    pub vendor: Option<String>,
    /// At most 255 characters, no control characters.
    #[schema(max_length = 255, pattern = r"^[^\u0000-\u001F\u007F-\u009F]*$")]
    pub product_type: Option<String>,
    /// At most 50.
    #[schema(value_type = Option<Vec<Tag>>, max_items = 50)]
    pub tags: Option<Vec<String>>,
    /// New options, at most 3; every existing variant must still fit them
    /// (`422`).
    #[schema(max_items = 3)]
    pub options: Option<Vec<ProductOption>>,
    /// Whether it is sold as a gift card.
    pub gift_card: Option<bool>,
}

impl ProductPatch {
    pub fn validate(&mut self) -> Result<(), InvalidProduct> {
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
    /// 1 to 64 printable ASCII characters, no spaces (white space around
    /// it is trimmed); unique in the store.
    #[schema(value_type = Option<String>, pattern = r"^[\u0009\u000A\u000D\u0020\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]*[!-~]{1,64}[\u0009\u000A\u000D\u0020\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]*$")]
    pub sku: Option<Sku>,
    /// At most 255 characters, no control characters.
    #[schema(max_length = 255, pattern = r"^[^\u0000-\u001F\u007F-\u009F]*$")]
    pub title: Option<String>,
    /// 0 to 10^12 minor units; at most the compare-at price, if any.
    #[schema(minimum = 0, maximum = 1_000_000_000_000_i64)]
    pub price_minor: Option<i64>,
    /// `null` clears the compare-at price; else the price to 10^12.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<i64>, minimum = 0, maximum = 1_000_000_000_000_i64)]
    pub compare_at_minor: Option<Option<i64>>,
    /// 0 to 1,000,000,000.
    #[schema(minimum = 0, maximum = 1_000_000_000)]
    pub weight_grams: Option<i32>,
    /// One value of each of the product's options (`422` when they do not
    /// fit them).
    #[schema(schema_with = option_values_schema)]
    pub option_values: Option<OptionValues>,
    #[schema(schema_with = attributes_schema)]
    pub attributes: Option<Attributes>,
}

/// [`Attributes`] as [`check_attributes`] takes them: at most 50; names
/// not blank, at most 64 characters; values at most 1,024 characters; no
/// control characters in either. `null` (as absent) leaves them as they are.
fn attributes_schema() -> utoipa::openapi::Object {
    attributes_object(true)
}

/// [`Attributes`] of a new variant: as [`attributes_schema`], not `null`.
fn new_attributes_schema() -> utoipa::openapi::Object {
    attributes_object(false)
}

/// [`OptionValues`] in a variant patch: option names to values, neither
/// with control characters; `null` (as absent) leaves them as they are.
fn option_values_schema() -> utoipa::openapi::Object {
    option_values_object(true)
}

/// [`OptionValues`] of a new variant.
fn new_option_values_schema() -> utoipa::openapi::Object {
    option_values_object(false)
}

fn option_values_object(nullable: bool) -> utoipa::openapi::Object {
    use utoipa::openapi::{schema::SchemaType, ObjectBuilder, Type};
    let text = || {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .max_length(Some(64))
            .pattern(Some(NONBLANK_LABEL))
    };
    let types = if nullable {
        SchemaType::from_iter([Type::Object, Type::Null])
    } else {
        SchemaType::Type(Type::Object)
    };
    ObjectBuilder::new()
        .schema_type(types)
        .max_properties(Some(MAX_OPTIONS))
        .property_names(Some(text()))
        .additional_properties(Some(text()))
        .description(Some(
            "One value of each of the product's options: `{\"Size\": \"M\"}`.",
        ))
        .build()
}

fn attributes_object(nullable: bool) -> utoipa::openapi::Object {
    use utoipa::openapi::{schema::SchemaType, ObjectBuilder, Type};
    let types = if nullable {
        SchemaType::from_iter([Type::Object, Type::Null])
    } else {
        SchemaType::Type(Type::Object)
    };
    let text = |max: usize, pattern: &str| {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .max_length(Some(max))
            .pattern(Some(pattern))
    };
    ObjectBuilder::new()
        .schema_type(types)
        .max_properties(Some(MAX_ATTRIBUTES))
        .property_names(Some(text(
            64,
            r"^[^\u0000-\u001F\u007F-\u009F]*[^\u0000-\u0020\u007F-\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000][^\u0000-\u001F\u007F-\u009F]*$",
        )))
        .additional_properties(Some(text(1024, r"^[^\u0000-\u001F\u007F-\u009F]*$")))
        .description(Some("Free-form merchant attributes: `{\"material\": \"cotton\"}`."))
        .build()
}

impl VariantPatch {
    /// Checks the patch applied to `current`, the variant as it is.
    pub fn validate(&self, current: &Variant) -> Result<(), InvalidProduct> {
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
    /// Its published reviews: average, count and per-star counts.
    #[serde(default)]
    pub rating: Rating,
    /// Sold as a gift card: each unit paid issues one of its price.
    #[serde(default)]
    pub gift_card: bool,
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
        assert_eq!(
            Sku::parse(" has space ").expect_err("space"),
            InvalidSku("has space".into())
        );
        assert!(Sku::parse(&"x".repeat(65)).is_err());
        assert_eq!(
            InvalidSku("a b".into()).to_string(),
            "SKU `a b` must be 1 to 64 printable ASCII characters without spaces"
        );
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
        assert_eq!(
            dup.validate(),
            Err(InvalidProduct::DuplicateSku { sku: "A".into() })
        );

        let mut negative = product(
            serde_json::json!({"title": "Tee", "variants": [{"sku": "A", "price_minor": -1}]}),
        )
        .expect("parses");
        assert_eq!(
            negative.validate(),
            Err(InvalidProduct::PriceOutOfRange {
                max: MAX_PRICE_MINOR
            })
        );

        let mut none =
            product(serde_json::json!({"title": "Tee", "variants": []})).expect("parses");
        assert_eq!(
            none.validate(),
            Err(InvalidProduct::VariantCount { max: MAX_VARIANTS })
        );

        let mut untitled = product(
            serde_json::json!({"title": " ", "variants": [{"sku": "A", "price_minor": 1}]}),
        )
        .expect("parses");
        assert_eq!(
            untitled.validate(),
            Err(InvalidProduct::Title { max: MAX_TITLE })
        );

        let mut stocked = product(serde_json::json!({"title": "Tee", "vendor": "a\u{7}b",
            "variants": [{"sku": "A", "price_minor": 1, "stock": 10_000_001}]}))
        .expect("parses");
        assert_eq!(
            stocked.validate(),
            Err(InvalidProduct::Text {
                field: "vendor",
                max: 255
            })
        );
        stocked.vendor.clear();
        assert_eq!(
            stocked.validate(),
            Err(InvalidProduct::StockOutOfRange {
                max: MAX_INITIAL_STOCK
            })
        );

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
        assert_eq!(
            check_variant_options(&options, [&values(&[("Size", "XL")])]),
            Err(InvalidProduct::UnknownOptionValue {
                option: "Size".into(),
                value: "XL".into()
            })
        );
        // a missing option, an extra option
        assert_eq!(
            check_variant_options(&options, [&values(&[])]),
            Err(InvalidProduct::OptionCountMismatch)
        );
        assert_eq!(
            check_variant_options(&options, [&values(&[("Size", "S"), ("Colour", "Red")])]),
            Err(InvalidProduct::OptionCountMismatch)
        );
        assert_eq!(
            check_variant_options(&options, [&values(&[("Colour", "Red")])]),
            Err(InvalidProduct::MissingOptionValue {
                option: "Size".into()
            })
        );
        // the same combination twice
        assert_eq!(
            check_variant_options(
                &options,
                [&values(&[("Size", "S")]), &values(&[("Size", "S")])]
            ),
            Err(InvalidProduct::DuplicateCombination)
        );
        // no options: variants carry no values
        assert!(check_variant_options(&[], [&values(&[]), &values(&[])]).is_ok());
    }

    #[test]
    fn a_variant_without_a_title_is_named_by_its_options_in_their_order() {
        let mut p = product(serde_json::json!({"title": "Tee",
            "options": [{"name": "Size", "values": ["S", "M"]}, {"name": "Colour", "values": ["Red"]}],
            "variants": [
                {"sku": "A", "price_minor": 1, "option_values": {"Colour": "Red", "Size": "M"}},
                {"sku": "B", "price_minor": 1, "title": "Named", "option_values": {"Colour": "Red", "Size": "S"}}
            ]}))
        .expect("parses");
        p.validate().expect("valid");
        assert_eq!(p.variants[0].title, "M / Red");
        assert_eq!(p.variants[1].title, "Named");
        let mut plain = product(
            serde_json::json!({"title": "Mug", "variants": [{"sku": "C", "price_minor": 1}]}),
        )
        .expect("parses");
        plain.validate().expect("valid");
        assert_eq!(plain.variants[0].title, "");
    }

    #[test]
    fn options_and_tags() {
        assert!(check_options(&sized(&["S", "M"])).is_ok());
        assert_eq!(
            check_options(&sized(&[])),
            Err(InvalidProduct::OptionValueCount {
                option: "Size".into(),
                max: MAX_OPTION_VALUES
            })
        );
        assert_eq!(
            check_options(&sized(&["S", "s"])),
            Err(InvalidProduct::DuplicateOptionValue {
                option: "Size".into(),
                value: "s".into()
            })
        );
        let four: Vec<ProductOption> = ["a", "b", "c", "d"]
            .iter()
            .map(|n| ProductOption {
                name: n.to_string(),
                values: vec!["x".into()],
            })
            .collect();
        assert_eq!(
            check_options(&four),
            Err(InvalidProduct::TooManyOptions { max: MAX_OPTIONS })
        );
        let tags =
            normalize_tags(&[" Summer ".into(), "summer".into(), "Sale".into()]).expect("ok");
        assert_eq!(tags, vec!["Summer".to_string(), "Sale".to_string()]);
        assert_eq!(
            normalize_tags(&[" ".into()]),
            Err(InvalidProduct::Empty { field: "a tag" })
        );
        let many: Vec<String> = (0..=MAX_TAGS).map(|i| format!("t{i}")).collect();
        assert_eq!(
            normalize_tags(&many),
            Err(InvalidProduct::TooManyTags { max: MAX_TAGS })
        );
    }

    #[test]
    fn compare_at_is_at_least_the_price() {
        assert!(check_price(100, Some(150)).is_ok());
        assert!(check_price(100, Some(100)).is_ok());
        assert_eq!(
            check_price(100, Some(99)),
            Err(InvalidProduct::CompareAtBelowPrice)
        );
        assert!(check_price(100, None).is_ok());
    }

    #[test]
    fn require_known_lists_unknown_ids_sorted_once() {
        let known: HashSet<u32> = [1, 2].into_iter().collect();
        assert_eq!(require_known("things", &[2, 1], &known), Ok(()));
        assert_eq!(
            require_known("things", &[9, 1, 3, 9], &known),
            Err(UnknownIds {
                what: "things",
                ids: vec!["3".into(), "9".into()]
            })
        );
    }
}
