//! Money as integer minor units with a currency. Never floats.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};

/// An ISO 4217 currency code: three upper-case letters.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(into = "String")]
pub struct Currency([u8; 3]);

/// In the OpenAPI documents: one of the codes [`Currency::parse`] accepts.
impl utoipa::PartialSchema for Currency {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .description(Some("An ISO 4217 currency code: three upper-case letters."))
            .enum_values(Some(ISO_4217.iter().map(|(code, _)| *code)))
            .examples(["USD"])
            .into()
    }
}

impl utoipa::ToSchema for Currency {}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not an ISO 4217 currency code")]
pub struct InvalidCurrency(pub String);

/// ISO 4217 (list one, 2025): the active currencies a store can sell in,
/// with their minor units. Funds codes (BOV, CLF, USN, ...), precious
/// metals, SDRs and the testing codes (XTS, XXX) are left out: nobody
/// prices a T-shirt in them. Sorted by code.
const ISO_4217: &[(&str, u8)] = &[
    ("AED", 2),
    ("AFN", 2),
    ("ALL", 2),
    ("AMD", 2),
    ("ANG", 2),
    ("AOA", 2),
    ("ARS", 2),
    ("AUD", 2),
    ("AWG", 2),
    ("AZN", 2),
    ("BAM", 2),
    ("BBD", 2),
    ("BDT", 2),
    ("BGN", 2),
    ("BHD", 3),
    ("BIF", 0),
    ("BMD", 2),
    ("BND", 2),
    ("BOB", 2),
    ("BRL", 2),
    ("BSD", 2),
    ("BTN", 2),
    ("BWP", 2),
    ("BYN", 2),
    ("BZD", 2),
    ("CAD", 2),
    ("CDF", 2),
    ("CHF", 2),
    ("CLP", 0),
    ("CNY", 2),
    ("COP", 2),
    ("CRC", 2),
    ("CUP", 2),
    ("CVE", 2),
    ("CZK", 2),
    ("DJF", 0),
    ("DKK", 2),
    ("DOP", 2),
    ("DZD", 2),
    ("EGP", 2),
    ("ERN", 2),
    ("ETB", 2),
    ("EUR", 2),
    ("FJD", 2),
    ("FKP", 2),
    ("GBP", 2),
    ("GEL", 2),
    ("GHS", 2),
    ("GIP", 2),
    ("GMD", 2),
    ("GNF", 0),
    ("GTQ", 2),
    ("GYD", 2),
    ("HKD", 2),
    ("HNL", 2),
    ("HTG", 2),
    ("HUF", 2),
    ("IDR", 2),
    ("ILS", 2),
    ("INR", 2),
    ("IQD", 3),
    ("IRR", 2),
    ("ISK", 0),
    ("JMD", 2),
    ("JOD", 3),
    ("JPY", 0),
    ("KES", 2),
    ("KGS", 2),
    ("KHR", 2),
    ("KMF", 0),
    ("KPW", 2),
    ("KRW", 0),
    ("KWD", 3),
    ("KYD", 2),
    ("KZT", 2),
    ("LAK", 2),
    ("LBP", 2),
    ("LKR", 2),
    ("LRD", 2),
    ("LSL", 2),
    ("LYD", 3),
    ("MAD", 2),
    ("MDL", 2),
    ("MGA", 2),
    ("MKD", 2),
    ("MMK", 2),
    ("MNT", 2),
    ("MOP", 2),
    ("MRU", 2),
    ("MUR", 2),
    ("MVR", 2),
    ("MWK", 2),
    ("MXN", 2),
    ("MYR", 2),
    ("MZN", 2),
    ("NAD", 2),
    ("NGN", 2),
    ("NIO", 2),
    ("NOK", 2),
    ("NPR", 2),
    ("NZD", 2),
    ("OMR", 3),
    ("PAB", 2),
    ("PEN", 2),
    ("PGK", 2),
    ("PHP", 2),
    ("PKR", 2),
    ("PLN", 2),
    ("PYG", 0),
    ("QAR", 2),
    ("RON", 2),
    ("RSD", 2),
    ("RUB", 2),
    ("RWF", 0),
    ("SAR", 2),
    ("SBD", 2),
    ("SCR", 2),
    ("SDG", 2),
    ("SEK", 2),
    ("SGD", 2),
    ("SHP", 2),
    ("SLE", 2),
    ("SOS", 2),
    ("SRD", 2),
    ("SSP", 2),
    ("STN", 2),
    ("SVC", 2),
    ("SYP", 2),
    ("SZL", 2),
    ("THB", 2),
    ("TJS", 2),
    ("TMT", 2),
    ("TND", 3),
    ("TOP", 2),
    ("TRY", 2),
    ("TTD", 2),
    ("TWD", 2),
    ("TZS", 2),
    ("UAH", 2),
    ("UGX", 0),
    ("USD", 2),
    ("UYU", 2),
    ("UZS", 2),
    ("VED", 2),
    ("VES", 2),
    ("VND", 0),
    ("VUV", 0),
    ("WST", 2),
    ("XAF", 0),
    ("XCD", 2),
    ("XCG", 2),
    ("XOF", 0),
    ("XPF", 0),
    ("YER", 2),
    ("ZAR", 2),
    ("ZMW", 2),
    ("ZWG", 2),
];

impl Currency {
    pub const USD: Currency = Currency(*b"USD");

    /// Every code a store can sell in, sorted (a signup form's choices).
    pub fn codes() -> impl Iterator<Item = &'static str> {
        ISO_4217.iter().map(|(code, _)| *code)
    }

    /// An active ISO 4217 code, in any letter case.
    pub fn parse(raw: &str) -> Result<Self, InvalidCurrency> {
        let bytes = raw.trim().as_bytes();
        let code = match bytes {
            [a, b, c] if bytes.iter().all(u8::is_ascii_alphabetic) => [
                a.to_ascii_uppercase(),
                b.to_ascii_uppercase(),
                c.to_ascii_uppercase(),
            ],
            _ => return Err(InvalidCurrency(raw.chars().take(16).collect())),
        };
        match Self::entry(&code) {
            Some(_) => Ok(Self(code)),
            None => Err(InvalidCurrency(raw.chars().take(16).collect())),
        }
    }

    fn entry(code: &[u8; 3]) -> Option<&'static (&'static str, u8)> {
        ISO_4217
            .binary_search_by(|(c, _)| c.as_bytes().cmp(code.as_slice()))
            .ok()
            .map(|i| &ISO_4217[i])
    }

    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or("XXX")
    }

    /// Digits after the decimal point: ISO 4217's minor units.
    pub fn exponent(&self) -> u32 {
        Self::entry(&self.0).map_or(2, |(_, e)| u32::from(*e))
    }
}

impl From<Currency> for String {
    fn from(c: Currency) -> Self {
        c.as_str().to_owned()
    }
}

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        Currency::parse(&raw).map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Currency({})", self.as_str())
    }
}

/// An amount in minor units (cents) of a currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Money {
    pub minor: i64,
    pub currency: Currency,
}

impl Money {
    pub const fn new(minor: i64, currency: Currency) -> Self {
        Self { minor, currency }
    }
}

impl fmt::Display for Money {
    /// `12.50 USD`; exact, with no float on the way.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let exp = self.currency.exponent();
        let sign = if self.minor < 0 { "-" } else { "" };
        let abs = self.minor.unsigned_abs();
        if exp == 0 {
            return write!(f, "{sign}{abs} {}", self.currency);
        }
        let scale = 10u64.pow(exp);
        write!(
            f,
            "{sign}{}.{:0width$} {}",
            abs / scale,
            abs % scale,
            self.currency,
            width = exp as usize
        )
    }
}

/// The symbol written before an amount of `currency`, for the currencies
/// whose symbol is unambiguous; the others are written `1,234.50 CHF`.
fn symbol(currency: Currency) -> Option<&'static str> {
    Some(match currency.as_str() {
        "USD" => "$",
        "EUR" => "€",
        "GBP" => "£",
        "JPY" => "¥",
        "INR" => "₹",
        "KRW" => "₩",
        "ILS" => "₪",
        "NGN" => "₦",
        "VND" => "₫",
        "CAD" => "CA$",
        "AUD" => "A$",
        "NZD" => "NZ$",
        "HKD" => "HK$",
        "MXN" => "MX$",
        "BRL" => "R$",
        _ => return None,
    })
}

/// An amount as a shopper reads it: `$1,234.50`, `¥1,500`, `-€0.05`,
/// `1,234.500 KWD`; the currency's own minor units, exact (no float).
pub fn format_money(money: Money) -> String {
    let exp = money.currency.exponent();
    let abs = money.minor.unsigned_abs();
    let scale = 10u64.pow(exp);
    let whole = abs / scale;
    let mut digits = whole.to_string();
    let mut grouped = String::new();
    while digits.len() > 3 {
        let tail = digits.split_off(digits.len() - 3);
        grouped = format!(",{tail}{grouped}");
    }
    grouped = format!("{digits}{grouped}");
    if exp > 0 {
        let _ = std::fmt::Write::write_fmt(
            &mut grouped,
            format_args!(".{:0width$}", abs % scale, width = exp as usize),
        );
    }
    let sign = if money.minor < 0 { "-" } else { "" };
    match symbol(money.currency) {
        Some(symbol) => format!("{sign}{symbol}{grouped}"),
        None => format!("{sign}{grouped} {}", money.currency),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn currencies() {
        assert_eq!(Currency::parse("eur").expect("valid").as_str(), "EUR");
        assert!(Currency::parse("EURO").is_err());
        assert!(Currency::parse("E1R").is_err());
        assert!(Currency::parse("ÉUR").is_err());
        assert!(Currency::parse("ZZZ").is_err(), "not a currency");
        assert!(Currency::parse("XTS").is_err(), "the testing code");
    }

    #[test]
    fn minor_units_follow_iso_4217() {
        let exp = |c: &str| Currency::parse(c).expect(c).exponent();
        for zero in [
            "JPY", "KRW", "UGX", "XOF", "XAF", "PYG", "RWF", "VND", "ISK", "CLP",
        ] {
            assert_eq!(exp(zero), 0, "{zero}");
        }
        for three in ["IQD", "LYD", "BHD", "KWD", "OMR", "JOD", "TND"] {
            assert_eq!(exp(three), 3, "{three}");
        }
        for two in ["USD", "EUR", "GBP", "HUF", "IDR", "INR"] {
            assert_eq!(exp(two), 2, "{two}");
        }
        assert!(
            ISO_4217.windows(2).all(|w| w[0].0 < w[1].0),
            "sorted, no duplicates"
        );
    }

    #[test]
    fn display_is_exact() {
        let usd = Currency::USD;
        assert_eq!(Money::new(1250, usd).to_string(), "12.50 USD");
        assert_eq!(Money::new(-5, usd).to_string(), "-0.05 USD");
        assert_eq!(
            Money::new(i64::MIN, usd).to_string(),
            "-92233720368547758.08 USD"
        );
        assert_eq!(
            Money::new(500, Currency::parse("JPY").expect("valid")).to_string(),
            "500 JPY"
        );
    }
}
