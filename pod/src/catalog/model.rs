//! Catalog types and their validation. Input is parsed once, here, into
//! types the rest of the pod trusts.

use chrono::{DateTime, Utc};
use mercato_tenants::{ApiError, Money, ProductId, VariantId};
use serde::{Deserialize, Deserializer, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProductStatus {
    Draft,
    Active,
    Archived,
}

impl ProductStatus {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::Active => "active",
            Self::Archived => "archived",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Draft, Self::Active, Self::Archived]
            .into_iter()
            .find(|v| v.as_str() == s)
    }
}

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

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewVariant {
    pub sku: Sku,
    #[serde(default)]
    pub title: String,
    pub price_minor: i64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewProduct {
    pub title: String,
    #[serde(default)]
    pub description: String,
    #[serde(default = "default_status")]
    pub status: ProductStatus,
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

impl NewProduct {
    /// Checks what the types alone cannot.
    pub fn validate(&self) -> Result<(), ApiError> {
        check_title(&self.title)?;
        check_description(&self.description)?;
        if self.variants.is_empty() || self.variants.len() > MAX_VARIANTS {
            return Err(ApiError::invalid(format!(
                "a product needs 1 to {MAX_VARIANTS} variants"
            )));
        }
        let mut skus = std::collections::HashSet::new();
        for v in &self.variants {
            if !(0..=MAX_PRICE_MINOR).contains(&v.price_minor) {
                return Err(ApiError::invalid(format!(
                    "price_minor must be 0 to {MAX_PRICE_MINOR}"
                )));
            }
            if v.title.len() > 255 {
                return Err(ApiError::invalid(
                    "variant title must be at most 255 characters",
                ));
            }
            if !skus.insert(v.sku.as_str()) {
                return Err(ApiError::invalid(format!(
                    "SKU `{}` appears twice",
                    v.sku.as_str()
                )));
            }
        }
        Ok(())
    }
}

/// A partial update of a product's own fields.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProductPatch {
    pub title: Option<String>,
    pub description: Option<String>,
    pub status: Option<ProductStatus>,
}

impl ProductPatch {
    pub fn validate(&self) -> Result<(), ApiError> {
        if let Some(t) = &self.title {
            check_title(t)?;
        }
        if let Some(d) = &self.description {
            check_description(d)?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Variant {
    pub id: VariantId,
    pub sku: String,
    pub title: String,
    pub price: Money,
    pub position: i32,
}

#[derive(Debug, Clone, Serialize)]
pub struct Product {
    pub id: ProductId,
    pub title: String,
    pub description: String,
    pub status: ProductStatus,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub variants: Vec<Variant>,
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
        assert!(ok.validate().is_ok());
        assert_eq!(ok.status, ProductStatus::Active);

        let dup = product(serde_json::json!({"title": "Tee", "variants": [
            {"sku": "A", "price_minor": 1}, {"sku": "A", "price_minor": 2}]}))
        .expect("parses");
        assert!(dup.validate().is_err());

        let negative = product(
            serde_json::json!({"title": "Tee", "variants": [{"sku": "A", "price_minor": -1}]}),
        )
        .expect("parses");
        assert!(negative.validate().is_err());

        let none = product(serde_json::json!({"title": "Tee", "variants": []})).expect("parses");
        assert!(none.validate().is_err());

        assert!(product(
            serde_json::json!({"title": "Tee", "variants": [{"sku": "bad sku", "price_minor": 1}]})
        )
        .is_err());
        assert!(product(serde_json::json!({"title": "Tee", "bogus": 1, "variants": []})).is_err());
    }
}
