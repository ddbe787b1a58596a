//! What staff send to define a discount and its codes, and the rules it is
//! checked by, pure: a definition either becomes a [`Definition`] or is
//! refused with a message naming the field (`422 invalid_discount`).

use std::collections::HashSet;

use argon2::password_hash::rand_core::{OsRng, RngCore};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::model::{CombinesWith, Conditions, Customers, Items, Kind, Value, FULL_BP};

/// The largest money amount a discount names, in minor units.
pub const MAX_MINOR: i64 = 100_000_000_000;
/// Most ids in one list of items (products, variants, collections) or
/// customers.
pub const MAX_IDS: usize = 100;
/// Most countries a free-shipping discount names.
pub const MAX_COUNTRIES: usize = 250;
/// Most codes one request generates.
pub const MAX_BULK: u32 = 10_000;
/// Most codes a discount has.
pub const MAX_CODES: i64 = 100_000;
/// Most automatic discounts a store keeps active (each cart is checked
/// against all of them).
pub const MAX_AUTOMATIC: i64 = 25;
/// Largest usage limit and quantity.
pub const MAX_COUNT: u32 = 1_000_000_000;

/// How a discount is triggered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// Shoppers enter one of its codes.
    Code,
    /// Every cart that meets its conditions gets it.
    Automatic,
}

impl Method {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Code => "code",
            Self::Automatic => "automatic",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "code" => Some(Self::Code),
            "automatic" => Some(Self::Automatic),
            _ => None,
        }
    }
}

/// Whether a discount is in force.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    #[default]
    Active,
    Disabled,
}

impl Status {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Disabled => "disabled",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "active" => Some(Self::Active),
            "disabled" => Some(Self::Disabled),
            _ => None,
        }
    }
}

/// A discount as staff define it (create, and replace with `PUT`).
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DiscountInput {
    /// Shown to shoppers in the cart and on the order: 1 to 200
    /// characters, no control characters.
    #[schema(
        max_length = 200,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\u0000-\u0020\u007F-\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000][^\u0000-\u001F\u007F-\u009F]*$"
    )]
    pub title: String,
    /// `code` (shoppers enter a code) or `automatic`. Fixed once created.
    pub method: Method,
    /// For `code`: its first code, 3 to 64 letters, digits, `-` or `_`
    /// (matched without case); more with `POST .../codes`.
    #[schema(pattern = r"^[A-Za-z0-9_-]{3,64}$")]
    pub code: Option<String>,
    /// What it takes off: `{"kind": "order" | "products" | "free_shipping" |
    /// "buy_x_get_y", ...}`.
    #[schema(value_type = Object)]
    pub kind: Kind,
    /// The subtotal the cart must reach, in minor units.
    #[schema(minimum = 0, maximum = 100_000_000_000_i64)]
    pub min_subtotal_minor: Option<i64>,
    /// The units the cart must hold.
    #[schema(minimum = 1, maximum = 1_000_000_000)]
    pub min_quantity: Option<u32>,
    pub starts_at: Option<DateTime<Utc>>,
    /// After `starts_at`.
    pub ends_at: Option<DateTime<Utc>>,
    /// `{"type": "anyone"}` (the default), `{"type": "signed_in"}` or
    /// `{"type": "only", "ids": [customer ids]}`.
    #[schema(value_type = Option<Object>)]
    pub customers: Option<Customers>,
    /// Only a shopper's first order.
    #[serde(default)]
    pub first_order_only: bool,
    /// Uses over every code and shopper.
    #[schema(minimum = 1, maximum = 1_000_000_000)]
    pub usage_limit: Option<u32>,
    /// Uses per customer (by customer id; by email for guests).
    #[schema(minimum = 1, maximum = 1_000_000_000)]
    pub per_customer_limit: Option<u32>,
    /// The classes it applies together with (none by default).
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub combines_with: CombinesWith,
    #[serde(default)]
    pub status: Status,
}

/// A checked definition, ready to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Definition {
    pub title: String,
    pub method: Method,
    pub code: Option<CodeKey>,
    pub kind: Kind,
    pub conditions: Conditions,
    pub combines_with: CombinesWith,
    pub status: Status,
}

/// Why a definition is refused: the message names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub String);

fn invalid(msg: impl Into<String>) -> Invalid {
    Invalid(msg.into())
}

fn text(field: &str, raw: &str, max: usize) -> Result<String, Invalid> {
    let t = raw.trim();
    if t.is_empty() || t.chars().count() > max || t.chars().any(char::is_control) {
        return Err(invalid(format!(
            "{field} must be 1 to {max} characters, not only white space, without control characters"
        )));
    }
    Ok(t.to_owned())
}

fn value(v: Value, field: &str) -> Result<Value, Invalid> {
    match v {
        Value::Percentage(bp) if (1..=FULL_BP).contains(&bp) => Ok(v),
        Value::Percentage(_) => Err(invalid(format!(
            "{field}: a percentage is 1 to 10000 basis points (0.01 % to 100 %)"
        ))),
        Value::Amount(a) if (1..=MAX_MINOR).contains(&a) => Ok(v),
        Value::Amount(_) => Err(invalid(format!(
            "{field}: an amount is 1 to 100000000000 minor units"
        ))),
    }
}

fn items(i: &Items, field: &str) -> Result<(), Invalid> {
    if i.is_empty() {
        return Err(invalid(format!(
            "{field} names no products, variants or collections"
        )));
    }
    let unique = |n: usize, set: usize| n == set;
    let ok = i.products.len() <= MAX_IDS
        && i.variants.len() <= MAX_IDS
        && i.collections.len() <= MAX_IDS
        && unique(
            i.products.len(),
            i.products.iter().collect::<HashSet<_>>().len(),
        )
        && unique(
            i.variants.len(),
            i.variants.iter().collect::<HashSet<_>>().len(),
        )
        && unique(
            i.collections.len(),
            i.collections.iter().collect::<HashSet<_>>().len(),
        );
    if ok {
        Ok(())
    } else {
        Err(invalid(format!(
            "{field}: at most {MAX_IDS} ids per list, each once"
        )))
    }
}

fn kind(k: Kind) -> Result<Kind, Invalid> {
    match k {
        Kind::Order { value: v } => Ok(Kind::Order {
            value: value(v, "kind.value")?,
        }),
        Kind::Products { value: v, items: i } => {
            items(&i, "kind.items")?;
            Ok(Kind::Products {
                value: value(v, "kind.value")?,
                items: i,
            })
        }
        Kind::FreeShipping {
            countries,
            max_shipping_minor,
        } => {
            if countries.len() > MAX_COUNTRIES {
                return Err(invalid("kind.countries: at most 250"));
            }
            let mut seen = HashSet::new();
            let mut out = Vec::with_capacity(countries.len());
            for c in countries {
                let c = c.trim().to_ascii_uppercase();
                if c.len() != 2
                    || !c.bytes().all(|b| b.is_ascii_uppercase())
                    || !seen.insert(c.clone())
                {
                    return Err(invalid(
                        "kind.countries: ISO 3166-1 alpha-2 codes such as FR, each once",
                    ));
                }
                out.push(c);
            }
            if max_shipping_minor.is_some_and(|m| !(0..=MAX_MINOR).contains(&m)) {
                return Err(invalid(
                    "kind.max_shipping_minor: 0 to 100000000000 minor units",
                ));
            }
            Ok(Kind::FreeShipping {
                countries: out,
                max_shipping_minor,
            })
        }
        Kind::BuyXGetY {
            buy,
            buy_quantity,
            get,
            get_quantity,
            percent_bp,
            max_per_order,
        } => {
            items(&buy, "kind.buy")?;
            items(&get, "kind.get")?;
            if !(1..=100).contains(&buy_quantity) || !(1..=100).contains(&get_quantity) {
                return Err(invalid("kind.buy_quantity and kind.get_quantity: 1 to 100"));
            }
            if !(1..=FULL_BP).contains(&percent_bp) {
                return Err(invalid(
                    "kind.percent_bp: 1 to 10000 basis points (10000: free)",
                ));
            }
            if max_per_order.is_some_and(|m| !(1..=1_000).contains(&m)) {
                return Err(invalid("kind.max_per_order: 1 to 1000"));
            }
            Ok(Kind::BuyXGetY {
                buy,
                buy_quantity,
                get,
                get_quantity,
                percent_bp,
                max_per_order,
            })
        }
    }
}

impl DiscountInput {
    pub fn validate(self) -> Result<Definition, Invalid> {
        let title = text("title", &self.title, 200)?;
        let code = match (self.method, &self.code) {
            (Method::Automatic, Some(_)) => {
                return Err(invalid("code: an automatic discount has no codes"))
            }
            (_, Some(raw)) => Some(CodeKey::parse(raw).map_err(|e| invalid(format!("code: {e}")))?),
            (_, None) => None,
        };
        let kind = kind(self.kind)?;
        if self
            .min_subtotal_minor
            .is_some_and(|m| !(0..=MAX_MINOR).contains(&m))
        {
            return Err(invalid("min_subtotal_minor: 0 to 100000000000"));
        }
        let count = |n: Option<u32>, field: &str| match n {
            Some(v) if !(1..=MAX_COUNT).contains(&v) => {
                Err(invalid(format!("{field}: 1 to {MAX_COUNT}")))
            }
            _ => Ok(n),
        };
        let min_quantity = count(self.min_quantity, "min_quantity")?;
        let usage_limit = count(self.usage_limit, "usage_limit")?;
        let per_customer_limit = count(self.per_customer_limit, "per_customer_limit")?;
        if let (Some(s), Some(e)) = (self.starts_at, self.ends_at) {
            if e <= s {
                return Err(invalid("ends_at must be after starts_at"));
            }
        }
        let customers = self.customers.unwrap_or_default();
        if let Customers::Only(ids) = &customers {
            if ids.is_empty()
                || ids.len() > MAX_IDS
                || ids.iter().collect::<HashSet<_>>().len() != ids.len()
            {
                return Err(invalid(format!(
                    "customers.ids: 1 to {MAX_IDS} customer ids, each once"
                )));
            }
        }
        Ok(Definition {
            title,
            method: self.method,
            code,
            kind,
            conditions: Conditions {
                min_subtotal_minor: self.min_subtotal_minor,
                min_quantity,
                starts_at: self.starts_at,
                ends_at: self.ends_at,
                customers,
                first_order_only: self.first_order_only,
                usage_limit,
                per_customer_limit,
            },
            combines_with: self.combines_with,
            status: self.status,
        })
    }
}

/// A code as it is matched: 3 to 64 letters, digits, `-` or `_`, in
/// upper case (shoppers' codes match without case).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct CodeKey(String);

impl CodeKey {
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let t = raw.trim();
        if !(3..=64).contains(&t.len())
            || !t
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err("a code is 3 to 64 letters, digits, '-' or '_'");
        }
        Ok(Self(t.to_ascii_uppercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Letters and digits no one misreads (no 0/O, 1/I/L).
const ALPHABET: &[u8] = b"ABCDEFGHJKMNPQRSTUVWXYZ23456789";

/// A request for many single-use codes.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkCodes {
    /// How many, 1 to 10,000.
    #[schema(minimum = 1, maximum = 10_000)]
    pub count: u32,
    /// Put before each code, 0 to 20 letters, digits, `-` or `_`.
    #[schema(pattern = r"^[A-Za-z0-9_-]{0,20}$")]
    pub prefix: Option<String>,
    /// Random characters after the prefix, 8 to 20 (default 10).
    #[schema(minimum = 8, maximum = 20)]
    pub length: Option<u32>,
    /// Uses of each code, 1 to 1,000,000,000 (default 1: single-use).
    #[schema(minimum = 1, maximum = 1_000_000_000)]
    pub usage_limit: Option<u32>,
}

/// A checked [`BulkCodes`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bulk {
    pub count: u32,
    pub prefix: String,
    pub length: usize,
    pub usage_limit: u32,
}

impl BulkCodes {
    pub fn validate(self) -> Result<Bulk, Invalid> {
        if !(1..=MAX_BULK).contains(&self.count) {
            return Err(invalid("count: 1 to 10000"));
        }
        let prefix = self.prefix.unwrap_or_default().trim().to_ascii_uppercase();
        if prefix.len() > 20
            || !prefix
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(invalid("prefix: 0 to 20 letters, digits, '-' or '_'"));
        }
        let length = self.length.unwrap_or(10);
        if !(8..=20).contains(&length) {
            return Err(invalid("length: 8 to 20"));
        }
        let usage_limit = self.usage_limit.unwrap_or(1);
        if !(1..=MAX_COUNT).contains(&usage_limit) {
            return Err(invalid("usage_limit: 1 to 1000000000"));
        }
        Ok(Bulk {
            count: self.count,
            prefix,
            length: length as usize,
            usage_limit,
        })
    }
}

/// `bulk.count` distinct random codes (`prefix` then `length` characters
/// of [`ALPHABET`]: at 8 characters, 31^8 ≈ 8.5 · 10^11 codes, so a
/// guess is hopeless and a clash with a stored code rare; the store
/// refuses clashes and the caller draws again).
pub fn generate(bulk: &Bulk) -> Vec<CodeKey> {
    // Bytes from the OS's generator; those at or above the largest
    // multiple of the alphabet's size are skipped, so every character is
    // equally likely.
    let limit = (256 / ALPHABET.len() * ALPHABET.len()) as u8;
    let mut pool = [0u8; 256];
    let mut at = pool.len();
    let mut next = || loop {
        if at == pool.len() {
            OsRng.fill_bytes(&mut pool);
            at = 0;
        }
        let b = pool[at];
        at += 1;
        if b < limit {
            return char::from(ALPHABET[usize::from(b) % ALPHABET.len()]);
        }
    };
    let mut seen = HashSet::with_capacity(bulk.count as usize);
    while seen.len() < bulk.count as usize {
        let mut code = bulk.prefix.clone();
        for _ in 0..bulk.length {
            code.push(next());
        }
        seen.insert(code);
    }
    seen.into_iter().map(CodeKey).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(v: Value) -> DiscountInput {
        DiscountInput {
            title: " Summer ".into(),
            method: Method::Code,
            code: Some("summer-10".into()),
            kind: Kind::Order { value: v },
            min_subtotal_minor: None,
            min_quantity: None,
            starts_at: None,
            ends_at: None,
            customers: None,
            first_order_only: false,
            usage_limit: Some(100),
            per_customer_limit: None,
            combines_with: CombinesWith::default(),
            status: Status::Active,
        }
    }

    #[test]
    fn a_definition_is_checked_field_by_field() {
        let d = order(Value::Percentage(1000)).validate().expect("valid");
        assert_eq!(d.title, "Summer");
        assert_eq!(d.code.as_ref().map(CodeKey::as_str), Some("SUMMER-10"));
        assert!(order(Value::Percentage(0)).validate().is_err());
        assert!(order(Value::Percentage(10_001)).validate().is_err());
        assert!(order(Value::Amount(0)).validate().is_err());
        let mut bad = order(Value::Amount(500));
        bad.title = "a\u{0}b".into();
        assert!(bad.validate().is_err());
        let mut auto = order(Value::Amount(500));
        auto.method = Method::Automatic;
        assert!(
            auto.validate().is_err(),
            "an automatic discount has no code"
        );
        let mut window = order(Value::Amount(500));
        window.starts_at = Some(Utc::now());
        window.ends_at = window.starts_at;
        assert!(window.validate().is_err());
        let mut limit = order(Value::Amount(500));
        limit.usage_limit = Some(0);
        assert!(limit.validate().is_err());
        let products = DiscountInput {
            kind: Kind::Products {
                value: Value::Percentage(500),
                items: Items::default(),
            },
            ..order(Value::Amount(1))
        };
        assert!(products.validate().is_err(), "items must name something");
    }

    #[test]
    fn codes_match_without_case_and_refuse_odd_characters() {
        assert_eq!(
            CodeKey::parse(" save10 ").expect("valid").as_str(),
            "SAVE10"
        );
        for bad in ["ab", "a b c", "ÄBC", "x\u{0}yz", &"a".repeat(65)] {
            assert!(CodeKey::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn bulk_codes_are_distinct_and_well_formed() {
        let bulk = BulkCodes {
            count: 10_000,
            prefix: Some("bf-".into()),
            length: Some(8),
            usage_limit: None,
        }
        .validate()
        .expect("valid");
        assert_eq!(bulk.usage_limit, 1, "single-use by default");
        let codes = generate(&bulk);
        assert_eq!(codes.len(), 10_000);
        assert_eq!(codes.iter().collect::<HashSet<_>>().len(), 10_000);
        for c in &codes {
            assert!(c.as_str().starts_with("BF-") && c.as_str().len() == 11);
            assert_eq!(CodeKey::parse(c.as_str()).as_ref(), Ok(c));
        }
        assert!(BulkCodes {
            count: 10_001,
            prefix: None,
            length: None,
            usage_limit: None
        }
        .validate()
        .is_err());
    }
}
