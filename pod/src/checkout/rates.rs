//! A store's shipping and tax rate tables, without I/O: validation, the
//! options for a destination, and the amounts they charge.

use mercato_tenants::ApiError;
use serde::{Deserialize, Serialize};

use super::model::MAX_AMOUNT;

/// One shipping rate of a store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ShippingRate {
    /// Lower-case letters, digits, `-` and `_`; 1 to 40 characters.
    pub code: String,
    pub name: String,
    pub price_minor: i64,
    /// Free when the subtotal is at least this much.
    #[serde(default)]
    pub free_over_minor: Option<i64>,
    /// ISO country codes this rate ships to; empty: everywhere.
    #[serde(default)]
    pub countries: Vec<String>,
}

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
pub fn validate_shipping(rates: Vec<ShippingRate>) -> Result<Vec<ShippingRate>, ApiError> {
    if rates.len() > MAX_RATES {
        return Err(ApiError::invalid(format!(
            "at most {MAX_RATES} shipping rates"
        )));
    }
    let mut seen = std::collections::HashSet::new();
    rates
        .into_iter()
        .map(|mut r| {
            let code_ok = !r.code.is_empty()
                && r.code.len() <= 40
                && r.code.bytes().enumerate().all(|(i, b)| {
                    b.is_ascii_lowercase()
                        || b.is_ascii_digit()
                        || (i > 0 && (b == b'-' || b == b'_'))
                });
            if !code_ok {
                return Err(ApiError::invalid(
                    "code must be 1 to 40 lower-case letters, digits, - or _",
                ));
            }
            if !seen.insert(r.code.clone()) {
                return Err(ApiError::invalid(format!("code {} appears twice", r.code)));
            }
            r.name = r.name.trim().to_owned();
            if r.name.is_empty() || r.name.chars().count() > 100 {
                return Err(ApiError::invalid("name must be 1 to 100 characters"));
            }
            if !(0..=MAX_AMOUNT).contains(&r.price_minor)
                || matches!(r.free_over_minor, Some(f) if !(0..=MAX_AMOUNT).contains(&f))
            {
                return Err(ApiError::invalid(
                    "price_minor and free_over_minor must be 0 to 100000000000",
                ));
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

fn country(raw: &str) -> Result<String, ApiError> {
    let c = raw.trim().to_ascii_uppercase();
    if c.len() == 2 && c.bytes().all(|b| b.is_ascii_uppercase()) {
        Ok(c)
    } else {
        Err(ApiError::invalid(format!(
            "`{raw}` is not an ISO 3166-1 alpha-2 country code"
        )))
    }
}

/// One tax rate of a store, in basis points (825 = 8.25 %).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TaxRate {
    pub country: String,
    /// A region code within the country (e.g. `CA`); empty or absent: the
    /// whole country.
    #[serde(default)]
    pub region: String,
    pub rate_bp: i32,
    #[serde(default = "tax_name")]
    pub name: String,
}

fn tax_name() -> String {
    "Tax".into()
}

pub fn validate_tax(rates: Vec<TaxRate>) -> Result<Vec<TaxRate>, ApiError> {
    if rates.len() > 500 {
        return Err(ApiError::invalid("at most 500 tax rates"));
    }
    let mut seen = std::collections::HashSet::new();
    rates
        .into_iter()
        .map(|mut r| {
            r.country = country(&r.country)?;
            r.region = r.region.trim().to_ascii_uppercase();
            if r.region.len() > 10 {
                return Err(ApiError::invalid("region must be at most 10 characters"));
            }
            if !(0..=10_000).contains(&r.rate_bp) {
                return Err(ApiError::invalid("rate_bp must be 0 to 10000"));
            }
            r.name = r.name.trim().to_owned();
            if r.name.is_empty() || r.name.chars().count() > 100 {
                return Err(ApiError::invalid("name must be 1 to 100 characters"));
            }
            if !seen.insert((r.country.clone(), r.region.clone())) {
                return Err(ApiError::invalid(format!(
                    "{} {} appears twice",
                    r.country, r.region
                )));
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
        assert!(validate_shipping(vec![bad_code.clone()]).is_err());
        let ok = ShippingRate {
            code: "x".into(),
            ..bad_code
        };
        assert!(validate_shipping(vec![ok.clone(), ok.clone()]).is_err());
        assert!(validate_shipping(vec![ShippingRate {
            price_minor: -1,
            ..ok.clone()
        }])
        .is_err());
        assert!(validate_shipping(vec![ShippingRate {
            countries: vec!["USA".into()],
            ..ok
        }])
        .is_err());
        let t = TaxRate {
            country: "US".into(),
            region: String::new(),
            rate_bp: 10_001,
            name: "T".into(),
        };
        assert!(validate_tax(vec![t.clone()]).is_err());
        let t = TaxRate { rate_bp: 1, ..t };
        assert!(validate_tax(vec![t.clone(), t]).is_err());
    }
}
