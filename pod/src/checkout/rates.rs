//! A store's shipping and tax rate tables, without I/O: validation, the
//! options for a destination, and the amounts they charge.

use serde::{Deserialize, Serialize};

use super::model::MAX_AMOUNT;

/// Why a rate table is refused. The text is what staff are told; the code
/// it is served with is chosen in `checkout/error.rs`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RateError {
    /// More shipping rates than [`MAX_RATES`].
    #[error("at most {max} shipping rates")]
    TooManyShippingRates { max: usize },
    /// A shipping code not of lower-case letters, digits, `-` and `_`.
    #[error("code must be 1 to {MAX_CODE_LEN} lower-case letters, digits, - or _")]
    BadCode,
    /// Two shipping rates with one code.
    #[error("code {code} appears twice")]
    DuplicateCode { code: String },
    /// A name blank or too long.
    #[error("name must be 1 to {MAX_NAME_LEN} characters")]
    BadName,
    /// A price or free-over amount below 0 or above [`MAX_AMOUNT`].
    #[error("price_minor and free_over_minor must be 0 to {MAX_AMOUNT}")]
    AmountOutOfRange,
    /// Not an ISO 3166-1 alpha-2 code.
    #[error("`{raw}` is not an ISO 3166-1 alpha-2 country code")]
    BadCountry { raw: String },
    /// More tax rates than [`MAX_TAX_RATES`].
    #[error("at most {max} tax rates")]
    TooManyTaxRates { max: usize },
    /// A region code too long.
    #[error("region must be at most {max} characters")]
    RegionTooLong { max: usize },
    /// A tax rate below 0 or above 100 %.
    #[error("rate_bp must be 0 to {MAX_RATE_BP}")]
    RateOutOfRange,
    /// Two tax rates for one country and region.
    #[error("{country} {region} appears twice")]
    DuplicateTaxRate { country: String, region: String },
}

/// Longest shipping code.
const MAX_CODE_LEN: usize = 40;
/// Longest rate name, in characters.
const MAX_NAME_LEN: usize = 100;
/// Most tax rates in one table.
pub const MAX_TAX_RATES: usize = 500;
/// Longest tax region code.
const MAX_REGION_LEN: usize = 10;
/// Highest tax rate: 100 %.
const MAX_RATE_BP: i32 = 10_000;

/// One shipping rate of a store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ShippingRate {
    /// Lower-case letters, digits, `-` and `_` (not first); 1 to 40
    /// characters; unique in the table (`422` when repeated).
    #[schema(min_length = 1, max_length = 40, pattern = r"^[a-z0-9][a-z0-9_-]*$")]
    pub code: String,
    /// 1 to 100 characters, not only white space (stored trimmed).
    #[schema(
        max_length = 100,
        pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*[^\u0000-\u0020\u007F-\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000][^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$"
    )]
    pub name: String,
    /// 0 to 100,000,000,000 minor units.
    #[schema(minimum = 0, maximum = 100_000_000_000_i64)]
    pub price_minor: i64,
    /// Free when the subtotal is at least this much (0 to 100,000,000,000).
    #[serde(default)]
    #[schema(minimum = 0, maximum = 100_000_000_000_i64)]
    pub free_over_minor: Option<i64>,
    /// ISO 3166-1 alpha-2 codes (either case, white space around them
    /// trimmed) this rate ships to; empty: everywhere.
    #[serde(default)]
    #[schema(value_type = Vec<CountryCode>)]
    pub countries: Vec<String>,
}

/// An ISO 3166-1 alpha-2 country code such as `FR`, either case; white
/// space around it is trimmed. (Documentation only: rates keep it a string.)
pub struct CountryCode;

impl utoipa::PartialSchema for CountryCode {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .pattern(Some(r"^[\u0009\u000A\u000D\u0020\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]*[A-Za-z]{2}[\u0009\u000A\u000D\u0020\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]*$"))
            .into()
    }
}

impl utoipa::ToSchema for CountryCode {}

/// What a store with no rate table offers.
pub fn default_shipping() -> Vec<ShippingRate> {
    vec![ShippingRate {
        code: "standard".into(),
        name: "Standard shipping".into(),
        price_minor: 0,
        free_over_minor: None,
        countries: Vec::new(),
    }]
}

/// Most rates in one table.
pub const MAX_RATES: usize = 50;

/// Checks a whole shipping rate table (codes unique, fields in range) and
/// normalizes country codes.
pub fn validate_shipping(rates: Vec<ShippingRate>) -> Result<Vec<ShippingRate>, RateError> {
    if rates.len() > MAX_RATES {
        return Err(RateError::TooManyShippingRates { max: MAX_RATES });
    }
    let mut seen = std::collections::HashSet::new();
    rates
        .into_iter()
        .map(|mut r| {
            let code_ok = !r.code.is_empty()
                && r.code.len() <= MAX_CODE_LEN
                && r.code.bytes().enumerate().all(|(i, b)| {
                    b.is_ascii_lowercase()
                        || b.is_ascii_digit()
                        || (i > 0 && (b == b'-' || b == b'_'))
                });
            if !code_ok {
                return Err(RateError::BadCode);
            }
            if !seen.insert(r.code.clone()) {
                return Err(RateError::DuplicateCode { code: r.code });
            }
            r.name = name(&r.name)?;
            if !(0..=MAX_AMOUNT).contains(&r.price_minor)
                || matches!(r.free_over_minor, Some(f) if !(0..=MAX_AMOUNT).contains(&f))
            {
                return Err(RateError::AmountOutOfRange);
            }
            r.countries = r
                .countries
                .iter()
                .map(|c| country(c))
                .collect::<Result<_, _>>()?;
            Ok(r)
        })
        .collect()
}

fn country(raw: &str) -> Result<String, RateError> {
    let c = raw.trim().to_ascii_uppercase();
    if c.len() == 2 && c.bytes().all(|b| b.is_ascii_uppercase()) {
        Ok(c)
    } else {
        Err(RateError::BadCountry {
            raw: raw.to_owned(),
        })
    }
}

/// A rate's name, trimmed: 1 to [`MAX_NAME_LEN`] characters.
fn name(raw: &str) -> Result<String, RateError> {
    let name = raw.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME_LEN {
        return Err(RateError::BadName);
    }
    Ok(name.to_owned())
}

/// One tax rate of a store, in basis points (825 = 8.25 %).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TaxRate {
    #[schema(value_type = CountryCode)]
    pub country: String,
    /// A region code within the country (e.g. `CA`), at most 10 characters
    /// (white space around it trimmed); empty or absent: the whole country.
    /// One rate per country and region (`422` when repeated).
    #[serde(default)]
    #[schema(max_length = 10, pattern = r"^[^\u0000-\u001F\u007F-\u009F]*$")]
    pub region: String,
    /// 0 to 10,000 (100 %).
    #[schema(minimum = 0, maximum = 10_000)]
    pub rate_bp: i32,
    /// 1 to 100 characters, not only white space (stored trimmed); default
    /// `Tax`.
    #[serde(default = "tax_name")]
    #[schema(
        max_length = 100,
        pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*[^\u0000-\u0020\u007F-\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000][^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$"
    )]
    pub name: String,
}

fn tax_name() -> String {
    "Tax".into()
}

/// Checks a whole tax rate table (one rate per country and region, fields
/// in range) and normalizes country and region codes.
pub fn validate_tax(rates: Vec<TaxRate>) -> Result<Vec<TaxRate>, RateError> {
    if rates.len() > MAX_TAX_RATES {
        return Err(RateError::TooManyTaxRates { max: MAX_TAX_RATES });
    }
    let mut seen = std::collections::HashSet::new();
    rates
        .into_iter()
        .map(|mut r| {
            r.country = country(&r.country)?;
            r.region = r.region.trim().to_ascii_uppercase();
            if r.region.chars().count() > MAX_REGION_LEN {
                return Err(RateError::RegionTooLong {
                    max: MAX_REGION_LEN,
                });
            }
            if !(0..=MAX_RATE_BP).contains(&r.rate_bp) {
                return Err(RateError::RateOutOfRange);
            }
            r.name = name(&r.name)?;
            if !seen.insert((r.country.clone(), r.region.clone())) {
                return Err(RateError::DuplicateTaxRate {
                    country: r.country,
                    region: r.region,
                });
            }
            Ok(r)
        })
        .collect()
}

/// The rate for a destination: the region's, else the country's, else none.
pub fn tax_rate_for<'a>(rates: &'a [TaxRate], country: &str, region: &str) -> Option<&'a TaxRate> {
    let region = region.trim().to_ascii_uppercase();
    rates
        .iter()
        .find(|r| r.country == country && !r.region.is_empty() && r.region == region)
        .or_else(|| {
            rates
                .iter()
                .find(|r| r.country == country && r.region.is_empty())
        })
}

/// Tax on `amount` at `rate_bp`, rounded half up to the minor unit.
pub fn tax_on(amount: i64, rate_bp: i32) -> i64 {
    (i128::from(amount) * i128::from(rate_bp) + 5_000)
        .div_euclid(10_000)
        .try_into()
        .unwrap_or(i64::MAX)
}

/// A shipping rate's price for a subtotal.
pub fn shipping_price(rate: &ShippingRate, subtotal: i64) -> i64 {
    match rate.free_over_minor {
        Some(free) if subtotal >= free => 0,
        _ => rate.price_minor,
    }
}

/// The rates that ship to `country`.
pub fn rates_for<'a>(rates: &'a [ShippingRate], country: &str) -> Vec<&'a ShippingRate> {
    rates
        .iter()
        .filter(|r| r.countries.is_empty() || r.countries.iter().any(|c| c == country))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tax_rounds_half_up() {
        assert_eq!(tax_on(100, 825), 8);
        assert_eq!(tax_on(200, 25), 1);
        assert_eq!(tax_on(199, 25), 0);
        assert_eq!(tax_on(0, 10_000), 0);
        assert_eq!(tax_on(12_345, 10_000), 12_345);
    }

    #[test]
    fn rate_tables_are_checked() {
        let bad_code = ShippingRate {
            code: "-x".into(),
            name: "X".into(),
            price_minor: 0,
            free_over_minor: None,
            countries: vec![],
        };
        assert_eq!(
            validate_shipping(vec![bad_code.clone()]),
            Err(RateError::BadCode)
        );
        let ok = ShippingRate {
            code: "x".into(),
            ..bad_code
        };
        assert_eq!(
            validate_shipping(vec![ok.clone(), ok.clone()]),
            Err(RateError::DuplicateCode { code: "x".into() })
        );
        assert_eq!(
            validate_shipping(vec![ShippingRate {
                price_minor: -1,
                ..ok.clone()
            }]),
            Err(RateError::AmountOutOfRange)
        );
        assert_eq!(
            validate_shipping(vec![ShippingRate {
                name: "  ".into(),
                ..ok.clone()
            }]),
            Err(RateError::BadName)
        );
        assert_eq!(
            validate_shipping(vec![ShippingRate {
                countries: vec!["USA".into()],
                ..ok.clone()
            }]),
            Err(RateError::BadCountry { raw: "USA".into() })
        );
        assert_eq!(
            validate_shipping(vec![ok; MAX_RATES + 1]),
            Err(RateError::TooManyShippingRates { max: 50 })
        );
        let t = TaxRate {
            country: "US".into(),
            region: String::new(),
            rate_bp: 10_001,
            name: "T".into(),
        };
        assert_eq!(
            validate_tax(vec![t.clone()]),
            Err(RateError::RateOutOfRange)
        );
        assert_eq!(
            validate_tax(vec![TaxRate {
                region: "x".repeat(11),
                ..t.clone()
            }]),
            Err(RateError::RegionTooLong { max: 10 })
        );
        let t = TaxRate {
            rate_bp: 1,
            region: " ca".into(),
            ..t
        };
        assert_eq!(
            validate_tax(vec![t.clone(), t]),
            Err(RateError::DuplicateTaxRate {
                country: "US".into(),
                region: "CA".into()
            })
        );
    }
}
