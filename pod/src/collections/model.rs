//! Collection types, their validation, rule evaluation and list cursors.
//! Pure: no I/O. Input is parsed once, here, into types the rest of the
//! module trusts.

use std::collections::{BTreeSet, HashSet};

use chrono::{DateTime, Utc};
use mercato_tenants::{ApiError, CollectionId, ErrorCode, ProductId};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::catalog::Product;

/// Largest price a rule may name: 10^12 minor units, as for variants.
pub const MAX_RULE_PRICE: i64 = 1_000_000_000_000;
pub const MAX_CONDITIONS: usize = 20;
pub const MAX_RULE_TEXT: usize = 255;

/// A handle: a lower-case slug of 1 to 63 characters (`a-z`, `0-9`, single
/// hyphens between them), unique per store among collections (and,
/// separately, among categories).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct Slug(String);

impl Slug {
    pub fn parse(raw: &str) -> Result<Self, ApiError> {
        let ok = !raw.is_empty()
            && raw.len() <= 63
            && raw
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !raw.starts_with('-')
            && !raw.ends_with('-')
            && !raw.contains("--");
        if ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err(ApiError::new(
                ErrorCode::InvalidHandle,
                format!(
                    "handle `{}` must be 1 to 63 characters of a-z, 0-9 and single hyphens inside",
                    raw.chars().take(63).collect::<String>()
                ),
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

pub fn check_title(what: &str, title: &str) -> Result<(), ApiError> {
    if title.trim().is_empty() || title.len() > 255 {
        return Err(ApiError::invalid(format!(
            "{what} must be 1 to 255 characters"
        )));
    }
    Ok(())
}

fn check_description(description: &str) -> Result<(), ApiError> {
    if description.len() > 65_536 {
        return Err(ApiError::invalid("description must be at most 64 KiB"));
    }
    Ok(())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CollectionKind {
    /// Staff place products and choose their order.
    Manual,
    /// Membership follows the collection's rules.
    Rule,
}

impl CollectionKind {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Manual => "manual",
            Self::Rule => "rule",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Manual, Self::Rule]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

/// How a collection's products are listed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SortOrder {
    /// The order staff chose (rule members: by product id).
    Manual,
    /// Title, case-insensitive, A to Z.
    Title,
    /// Lowest variant price first.
    PriceAsc,
    /// Highest (lowest-variant) price first.
    PriceDesc,
    /// Most recently created first.
    Newest,
    /// Most units sold first.
    BestSelling,
}

impl SortOrder {
    pub const ALL: [SortOrder; 6] = [
        Self::Manual,
        Self::Title,
        Self::PriceAsc,
        Self::PriceDesc,
        Self::Newest,
        Self::BestSelling,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Manual => "manual",
            Self::Title => "title",
            Self::PriceAsc => "price_asc",
            Self::PriceDesc => "price_desc",
            Self::Newest => "newest",
            Self::BestSelling => "best_selling",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|o| o.as_str() == s)
    }

    /// Whether the sort key is an integer (else text).
    const fn numeric_key(self) -> bool {
        !matches!(self, Self::Title)
    }
}

/// Rules as they travel in JSON: `{"match": "all"|"any", "conditions":
/// [{"field", "op", "value"}]}`. Checked by [`Rules::parse`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleSet {
    /// `all`: every condition must hold; `any`: at least one.
    #[serde(rename = "match")]
    pub match_: String,
    /// 1 to 20 conditions.
    pub conditions: Vec<RuleCondition>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleCondition {
    /// `vendor`, `product_type`, `tag` or `price` (the lowest variant price,
    /// in minor units).
    pub field: String,
    /// Text fields: `equals`, `not_equals`, `contains`, `starts_with`
    /// (case-insensitive; for `tag`, "has a tag that ..."/"has no tag that
    /// equals"). `price`: `equals`, `greater_than`, `less_than`.
    pub op: String,
    /// A string for text fields, an integer for `price`.
    #[schema(value_type = Object)]
    pub value: serde_json::Value,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Match {
    All,
    Any,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextField {
    Vendor,
    ProductType,
    Tag,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextOp {
    Equals,
    NotEquals,
    Contains,
    StartsWith,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PriceOp {
    Equals,
    GreaterThan,
    LessThan,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Condition {
    Text {
        field: TextField,
        op: TextOp,
        /// As given, for display.
        value: String,
        /// Lower-cased, for matching.
        needle: String,
    },
    Price {
        op: PriceOp,
        minor: i64,
    },
}

/// Validated rules of a rule collection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rules {
    pub match_: Match,
    pub conditions: Vec<Condition>,
}

/// What rules look at in a product.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProductFacts {
    pub vendor: String,
    pub product_type: String,
    pub tags: Vec<String>,
    /// The lowest variant price; `None` for a product without variants,
    /// which no price condition matches.
    pub min_price: Option<i64>,
}

impl Rules {
    pub fn parse(raw: &RuleSet) -> Result<Self, ApiError> {
        let match_ = match raw.match_.as_str() {
            "all" => Match::All,
            "any" => Match::Any,
            other => {
                return Err(ApiError::invalid(format!(
                    "rules.match must be `all` or `any`, not `{other}`"
                )))
            }
        };
        if raw.conditions.is_empty() || raw.conditions.len() > MAX_CONDITIONS {
            return Err(ApiError::invalid(format!(
                "rules need 1 to {MAX_CONDITIONS} conditions"
            )));
        }
        let conditions = raw
            .conditions
            .iter()
            .enumerate()
            .map(|(i, c)| {
                parse_condition(c)
                    .map_err(|m| ApiError::invalid(format!("rules.conditions[{i}]: {m}")))
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { match_, conditions })
    }

    /// The JSON form, as stored and as shown.
    pub fn to_wire(&self) -> RuleSet {
        RuleSet {
            match_: match self.match_ {
                Match::All => "all",
                Match::Any => "any",
            }
            .to_owned(),
            conditions: self
                .conditions
                .iter()
                .map(|c| match c {
                    Condition::Text {
                        field, op, value, ..
                    } => RuleCondition {
                        field: match field {
                            TextField::Vendor => "vendor",
                            TextField::ProductType => "product_type",
                            TextField::Tag => "tag",
                        }
                        .to_owned(),
                        op: match op {
                            TextOp::Equals => "equals",
                            TextOp::NotEquals => "not_equals",
                            TextOp::Contains => "contains",
                            TextOp::StartsWith => "starts_with",
                        }
                        .to_owned(),
                        value: serde_json::Value::String(value.clone()),
                    },
                    Condition::Price { op, minor } => RuleCondition {
                        field: "price".to_owned(),
                        op: match op {
                            PriceOp::Equals => "equals",
                            PriceOp::GreaterThan => "greater_than",
                            PriceOp::LessThan => "less_than",
                        }
                        .to_owned(),
                        value: serde_json::Value::from(*minor),
                    },
                })
                .collect(),
        }
    }

    /// Whether a product with these facts belongs to the collection.
    pub fn matches(&self, product: &ProductFacts) -> bool {
        let mut each = self.conditions.iter().map(|c| c.holds(product));
        match self.match_ {
            Match::All => each.all(|b| b),
            Match::Any => each.any(|b| b),
        }
    }
}

fn parse_condition(c: &RuleCondition) -> Result<Condition, String> {
    let text_field = match c.field.as_str() {
        "vendor" => Some(TextField::Vendor),
        "product_type" => Some(TextField::ProductType),
        "tag" => Some(TextField::Tag),
        "price" => None,
        other => {
            return Err(format!(
                "field `{other}` is not one of vendor, product_type, tag, price"
            ))
        }
    };
    match text_field {
        Some(field) => {
            let op = match c.op.as_str() {
                "equals" => TextOp::Equals,
                "not_equals" => TextOp::NotEquals,
                "contains" => TextOp::Contains,
                "starts_with" => TextOp::StartsWith,
                other => {
                    return Err(format!(
                        "op `{other}` does not apply to `{}` (equals, not_equals, contains, starts_with)",
                        c.field
                    ))
                }
            };
            let value = c
                .value
                .as_str()
                .ok_or_else(|| format!("value for `{}` must be a string", c.field))?;
            if value.trim().is_empty() || value.chars().count() > MAX_RULE_TEXT {
                return Err(format!("value must be 1 to {MAX_RULE_TEXT} characters"));
            }
            Ok(Condition::Text {
                field,
                op,
                value: value.to_owned(),
                needle: value.to_lowercase(),
            })
        }
        None => {
            let op = match c.op.as_str() {
                "equals" => PriceOp::Equals,
                "greater_than" => PriceOp::GreaterThan,
                "less_than" => PriceOp::LessThan,
                other => {
                    return Err(format!(
                        "op `{other}` does not apply to `price` (equals, greater_than, less_than)"
                    ))
                }
            };
            let minor = c
                .value
                .as_i64()
                .filter(|m| (0..=MAX_RULE_PRICE).contains(m))
                .ok_or_else(|| {
                    format!(
                        "value for `price` must be an integer 0 to {MAX_RULE_PRICE} (minor units)"
                    )
                })?;
            Ok(Condition::Price { op, minor })
        }
    }
}

impl Condition {
    fn holds(&self, p: &ProductFacts) -> bool {
        match self {
            Condition::Text {
                field: TextField::Tag,
                op,
                needle,
                ..
            } => {
                let mut tags = p.tags.iter().map(|t| t.to_lowercase());
                match op {
                    TextOp::Equals => tags.any(|t| t == *needle),
                    TextOp::NotEquals => !tags.any(|t| t == *needle),
                    TextOp::Contains => tags.any(|t| t.contains(needle.as_str())),
                    TextOp::StartsWith => tags.any(|t| t.starts_with(needle.as_str())),
                }
            }
            Condition::Text {
                field, op, needle, ..
            } => {
                let hay = match field {
                    TextField::Vendor => &p.vendor,
                    _ => &p.product_type,
                }
                .to_lowercase();
                match op {
                    TextOp::Equals => hay == *needle,
                    TextOp::NotEquals => hay != *needle,
                    TextOp::Contains => hay.contains(needle.as_str()),
                    TextOp::StartsWith => hay.starts_with(needle.as_str()),
                }
            }
            Condition::Price { op, minor } => match p.min_price {
                None => false,
                Some(price) => match op {
                    PriceOp::Equals => price == *minor,
                    PriceOp::GreaterThan => price > *minor,
                    PriceOp::LessThan => price < *minor,
                },
            },
        }
    }
}

/// The (collection, product) pairs that should exist among `products`,
/// given every rule collection of the store.
pub fn rule_members(
    collections: &[(CollectionId, Rules)],
    products: &[(ProductId, ProductFacts)],
) -> Vec<(CollectionId, ProductId)> {
    collections
        .iter()
        .flat_map(|(c, rules)| {
            products
                .iter()
                .filter(|(_, facts)| rules.matches(facts))
                .map(move |(p, _)| (*c, *p))
        })
        .collect()
}

/// What to add to and remove from `current` to make it `wanted`, each in
/// id order.
pub fn membership_diff(
    current: &HashSet<ProductId>,
    wanted: &HashSet<ProductId>,
) -> (Vec<ProductId>, Vec<ProductId>) {
    let add: BTreeSet<ProductId> = wanted.difference(current).copied().collect();
    let remove: BTreeSet<ProductId> = current.difference(wanted).copied().collect();
    (add.into_iter().collect(), remove.into_iter().collect())
}

/// The products of `requested` to append, in request order, skipping
/// members already in and repeats.
pub fn to_append(current: &HashSet<ProductId>, requested: &[ProductId]) -> Vec<ProductId> {
    let mut seen = HashSet::new();
    requested
        .iter()
        .filter(|p| !current.contains(p) && seen.insert(**p))
        .copied()
        .collect()
}

/// A new order must name every current member exactly once, and nothing else.
pub fn check_order(current: &HashSet<ProductId>, order: &[ProductId]) -> Result<(), ApiError> {
    let mut seen = HashSet::new();
    for p in order {
        if !seen.insert(*p) {
            return Err(ApiError::new(
                ErrorCode::Unprocessable,
                format!("product {p} appears twice in the order"),
            ));
        }
        if !current.contains(p) {
            return Err(ApiError::new(
                ErrorCode::Unprocessable,
                format!("product {p} is not in the collection"),
            ));
        }
    }
    if seen.len() != current.len() {
        let mut missing: Vec<String> = current.difference(&seen).map(ToString::to_string).collect();
        missing.sort();
        return Err(ApiError::new(
            ErrorCode::Unprocessable,
            format!(
                "the order must list every member; missing: {}",
                missing.join(", ")
            ),
        ));
    }
    Ok(())
}

/// A position in a sorted list: the sort it belongs to, the sort key of the
/// last item seen and its id. Opaque to clients (hex).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub sort: SortOrder,
    /// An integer for numeric sorts, the lower-cased title for `title`.
    pub key: String,
    pub id: Uuid,
}

impl Cursor {
    pub fn encode(&self) -> String {
        let plain = format!("{}\n{}\n{}", self.sort.as_str(), self.id, self.key);
        plain.bytes().map(|b| format!("{b:02x}")).collect()
    }

    /// Decodes a cursor made by [`Cursor::encode`] for the same `sort`.
    pub fn decode(raw: &str, sort: SortOrder) -> Result<Self, ApiError> {
        let bad = || ApiError::invalid("after must be a cursor from next_cursor of the same sort");
        if raw.len() > 4096 {
            return Err(bad());
        }
        let nibble = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
        let bytes = raw
            .as_bytes()
            .chunks(2)
            .map(|pair| match pair {
                [high, low] => Some(nibble(*high)? << 4 | nibble(*low)?),
                _ => None,
            })
            .collect::<Option<Vec<u8>>>()
            .ok_or_else(bad)?;
        let plain = String::from_utf8(bytes).map_err(|_| bad())?;
        let mut parts = plain.splitn(3, '\n');
        let (Some(s), Some(id), Some(key)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(bad());
        };
        if SortOrder::parse(s) != Some(sort) {
            return Err(bad());
        }
        let id = Uuid::try_parse(id).map_err(|_| bad())?;
        if sort.numeric_key() && key.parse::<i64>().is_err() {
            return Err(bad());
        }
        Ok(Self {
            sort,
            key: key.to_owned(),
            id,
        })
    }
}

/// A collection as staff and shoppers see it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Collection {
    pub id: CollectionId,
    pub handle: String,
    pub title: String,
    pub description: String,
    pub kind: CollectionKind,
    /// Set for rule collections only.
    pub rules: Option<RuleSet>,
    pub sort_order: SortOrder,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// `POST /admin/api/collections`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCollection {
    /// Lower-case slug, 1 to 63 characters, unique in the store.
    pub handle: String,
    pub title: String,
    #[serde(default)]
    pub description: String,
    pub kind: CollectionKind,
    /// Required for `rule` collections, refused for `manual` ones.
    pub rules: Option<RuleSet>,
    /// Default: `manual` for manual collections, `newest` for rule ones.
    pub sort_order: Option<SortOrder>,
}

/// A [`NewCollection`] that passed validation.
#[derive(Debug)]
pub struct ValidCollection {
    pub handle: Slug,
    pub title: String,
    pub description: String,
    pub kind: CollectionKind,
    pub rules: Option<Rules>,
    pub sort_order: SortOrder,
}

impl NewCollection {
    pub fn validate(self) -> Result<ValidCollection, ApiError> {
        let handle = Slug::parse(&self.handle)?;
        check_title("title", &self.title)?;
        check_description(&self.description)?;
        let rules = match (self.kind, &self.rules) {
            (CollectionKind::Manual, None) => None,
            (CollectionKind::Manual, Some(_)) => {
                return Err(ApiError::invalid("a manual collection has no rules"))
            }
            (CollectionKind::Rule, Some(raw)) => Some(Rules::parse(raw)?),
            (CollectionKind::Rule, None) => {
                return Err(ApiError::invalid("a rule collection needs rules"))
            }
        };
        let sort_order = self.sort_order.unwrap_or(match self.kind {
            CollectionKind::Manual => SortOrder::Manual,
            CollectionKind::Rule => SortOrder::Newest,
        });
        Ok(ValidCollection {
            handle,
            title: self.title.trim().to_owned(),
            description: self.description,
            kind: self.kind,
            rules,
            sort_order,
        })
    }
}

/// `PATCH /admin/api/collections/{id}`: any of these fields. The kind
/// cannot change.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CollectionPatch {
    pub handle: Option<String>,
    pub title: Option<String>,
    pub description: Option<String>,
    /// Rule collections only; re-computes membership.
    pub rules: Option<RuleSet>,
    pub sort_order: Option<SortOrder>,
}

#[derive(Debug, Default)]
pub struct ValidPatch {
    pub handle: Option<Slug>,
    pub title: Option<String>,
    pub description: Option<String>,
    pub rules: Option<Rules>,
    pub sort_order: Option<SortOrder>,
}

impl CollectionPatch {
    pub fn validate(self) -> Result<ValidPatch, ApiError> {
        let handle = self.handle.as_deref().map(Slug::parse).transpose()?;
        if let Some(t) = &self.title {
            check_title("title", t)?;
        }
        if let Some(d) = &self.description {
            check_description(d)?;
        }
        let rules = self.rules.as_ref().map(Rules::parse).transpose()?;
        Ok(ValidPatch {
            handle,
            title: self.title.map(|t| t.trim().to_owned()),
            description: self.description,
            rules,
            sort_order: self.sort_order,
        })
    }
}

/// A page of collections, by handle.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CollectionPage {
    pub items: Vec<Collection>,
    /// Pass as `after` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// A page of products (full catalog products).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ProductPage {
    #[schema(value_type = Vec<Object>)]
    pub items: Vec<Product>,
    /// Pass as `after` (with the same `sort`) for the next page; `null` on
    /// the last page.
    pub next_cursor: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rules(v: serde_json::Value) -> Result<Rules, ApiError> {
        let raw: RuleSet = serde_json::from_value(v).expect("rule set shape");
        Rules::parse(&raw)
    }

    fn facts(vendor: &str, kind: &str, tags: &[&str], price: Option<i64>) -> ProductFacts {
        ProductFacts {
            vendor: vendor.into(),
            product_type: kind.into(),
            tags: tags.iter().map(|t| (*t).to_owned()).collect(),
            min_price: price,
        }
    }

    #[test]
    fn slugs() {
        for ok in ["a", "summer-sale", "x1-2y", &"a".repeat(63)] {
            assert!(Slug::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "Summer",
            "a_b",
            "-a",
            "a-",
            "a--b",
            "a b",
            "é",
            &"a".repeat(64),
        ] {
            let err = Slug::parse(bad).expect_err(bad);
            assert_eq!(err.code, ErrorCode::InvalidHandle);
        }
    }

    #[test]
    fn rule_validation() {
        assert!(rules(json!({"match": "all", "conditions": [
            {"field": "vendor", "op": "equals", "value": "Acme"},
            {"field": "price", "op": "less_than", "value": 1000},
            {"field": "tag", "op": "not_equals", "value": "sale"},
            {"field": "product_type", "op": "starts_with", "value": "Shi"}]}))
        .is_ok());
        let bad = [
            json!({"match": "some", "conditions": [{"field": "vendor", "op": "equals", "value": "A"}]}),
            json!({"match": "all", "conditions": []}),
            json!({"match": "all", "conditions": [{"field": "colour", "op": "equals", "value": "A"}]}),
            json!({"match": "all", "conditions": [{"field": "vendor", "op": "greater_than", "value": "A"}]}),
            json!({"match": "all", "conditions": [{"field": "price", "op": "contains", "value": 5}]}),
            json!({"match": "all", "conditions": [{"field": "price", "op": "equals", "value": "5"}]}),
            json!({"match": "all", "conditions": [{"field": "price", "op": "equals", "value": 1.5}]}),
            json!({"match": "all", "conditions": [{"field": "price", "op": "equals", "value": -1}]}),
            json!({"match": "all", "conditions": [{"field": "vendor", "op": "equals", "value": 5}]}),
            json!({"match": "all", "conditions": [{"field": "vendor", "op": "equals", "value": " "}]}),
        ];
        for b in bad {
            let err = rules(b.clone()).expect_err(&b.to_string());
            assert_eq!(err.code, ErrorCode::InvalidRequest, "{b}");
        }
        let many: Vec<_> = (0..21)
            .map(|_| json!({"field": "tag", "op": "equals", "value": "x"}))
            .collect();
        assert!(rules(json!({"match": "any", "conditions": many})).is_err());
    }

    #[test]
    fn rules_round_trip_through_json() {
        let v = json!({"match": "any", "conditions": [
            {"field": "vendor", "op": "contains", "value": "Ac"},
            {"field": "price", "op": "greater_than", "value": 10}]});
        let parsed = rules(v.clone()).expect("valid");
        assert_eq!(serde_json::to_value(parsed.to_wire()).expect("json"), v);
    }

    #[test]
    fn evaluation() {
        let acme_cheap = rules(json!({"match": "all", "conditions": [
            {"field": "vendor", "op": "equals", "value": "ACME"},
            {"field": "price", "op": "less_than", "value": 1000}]}))
        .expect("valid");
        assert!(acme_cheap.matches(&facts("Acme", "", &[], Some(999))));
        assert!(!acme_cheap.matches(&facts("Acme", "", &[], Some(1000))));
        assert!(!acme_cheap.matches(&facts("Acme Co", "", &[], Some(10))));
        assert!(!acme_cheap.matches(&facts("Acme", "", &[], None)));

        let any = rules(json!({"match": "any", "conditions": [
            {"field": "tag", "op": "equals", "value": "Sale"},
            {"field": "product_type", "op": "starts_with", "value": "shi"}]}))
        .expect("valid");
        assert!(any.matches(&facts("", "", &["new", "sale"], None)));
        assert!(any.matches(&facts("", "Shirts", &[], None)));
        assert!(!any.matches(&facts("", "Hats", &["sales"], None)));

        let no_tag = rules(json!({"match": "all", "conditions": [
            {"field": "tag", "op": "not_equals", "value": "hidden"}]}))
        .expect("valid");
        assert!(no_tag.matches(&facts("", "", &[], None)));
        assert!(no_tag.matches(&facts("", "", &["shown"], None)));
        assert!(!no_tag.matches(&facts("", "", &["a", "HIDDEN"], None)));

        let contains = rules(json!({"match": "all", "conditions": [
            {"field": "tag", "op": "contains", "value": "summ"},
            {"field": "vendor", "op": "not_equals", "value": "other"},
            {"field": "price", "op": "greater_than", "value": 5}]}))
        .expect("valid");
        assert!(contains.matches(&facts("acme", "", &["Summer24"], Some(6))));
        assert!(!contains.matches(&facts("Other", "", &["Summer24"], Some(6))));
        assert!(!contains.matches(&facts("acme", "", &["Summer24"], Some(5))));

        let equals_price = rules(json!({"match": "all", "conditions": [
            {"field": "price", "op": "equals", "value": 500}]}))
        .expect("valid");
        assert!(equals_price.matches(&facts("", "", &[], Some(500))));
        assert!(!equals_price.matches(&facts("", "", &[], Some(501))));
    }

    #[test]
    fn rule_members_pairs_each_collection_with_matching_products() {
        let c1 = CollectionId::new();
        let c2 = CollectionId::new();
        let (p1, p2) = (ProductId::new(), ProductId::new());
        let by_vendor = |v: &str| {
            rules(json!({"match": "all", "conditions": [{"field": "vendor", "op": "equals", "value": v}]}))
                .expect("valid")
        };
        let pairs = rule_members(
            &[(c1, by_vendor("a")), (c2, by_vendor("b"))],
            &[
                (p1, facts("a", "", &[], None)),
                (p2, facts("b", "", &[], None)),
            ],
        );
        assert_eq!(pairs, vec![(c1, p1), (c2, p2)]);
    }

    #[test]
    fn diffs_appends_and_orders() {
        let ids: Vec<ProductId> = (0..4).map(|_| ProductId::new()).collect();
        let current: HashSet<_> = [ids[0], ids[1]].into_iter().collect();
        let wanted: HashSet<_> = [ids[1], ids[2], ids[3]].into_iter().collect();
        assert_eq!(
            membership_diff(&current, &wanted),
            (vec![ids[2], ids[3]], vec![ids[0]])
        );
        assert_eq!(
            to_append(&current, &[ids[3], ids[0], ids[2], ids[3]]),
            vec![ids[3], ids[2]]
        );
        assert!(check_order(&current, &[ids[1], ids[0]]).is_ok());
        for bad in [
            vec![ids[1]],
            vec![ids[1], ids[0], ids[2]],
            vec![ids[1], ids[1]],
            vec![ids[0], ids[1], ids[1]],
        ] {
            assert_eq!(
                check_order(&current, &bad).expect_err("bad order").code,
                ErrorCode::Unprocessable
            );
        }
    }

    #[test]
    fn cursors() {
        let c = Cursor {
            sort: SortOrder::Title,
            key: "a title\nwith a newline".into(),
            id: Uuid::now_v7(),
        };
        let encoded = c.encode();
        assert!(encoded.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(
            Cursor::decode(&encoded, SortOrder::Title).expect("decodes"),
            c
        );
        // Another sort's cursor, garbage, a bad key: all refused.
        assert!(Cursor::decode(&encoded, SortOrder::Newest).is_err());
        assert!(Cursor::decode("zz", SortOrder::Title).is_err());
        assert!(Cursor::decode("abc", SortOrder::Title).is_err());
        assert!(Cursor::decode("", SortOrder::Title).is_err());
        let text_key = Cursor {
            sort: SortOrder::PriceAsc,
            key: "cheap".into(),
            id: Uuid::now_v7(),
        };
        assert!(Cursor::decode(&text_key.encode(), SortOrder::PriceAsc).is_err());
        let price = Cursor {
            sort: SortOrder::PriceAsc,
            key: "-5".into(),
            id: Uuid::now_v7(),
        };
        assert_eq!(
            Cursor::decode(&price.encode(), SortOrder::PriceAsc).expect("decodes"),
            price
        );
    }

    #[test]
    fn collection_validation() {
        let new = |v: serde_json::Value| serde_json::from_value::<NewCollection>(v).expect("shape");
        let manual = new(json!({"handle": "summer", "title": "Summer", "kind": "manual"}))
            .validate()
            .expect("valid");
        assert_eq!(manual.sort_order, SortOrder::Manual);
        let rule = new(json!({"handle": "acme", "title": "Acme", "kind": "rule",
            "rules": {"match": "all", "conditions": [{"field": "vendor", "op": "equals", "value": "Acme"}]}}))
        .validate()
        .expect("valid");
        assert_eq!(rule.sort_order, SortOrder::Newest);
        assert!(new(json!({"handle": "a", "title": "A", "kind": "rule"}))
            .validate()
            .is_err());
        assert!(new(json!({"handle": "a", "title": "A", "kind": "manual",
            "rules": {"match": "all", "conditions": []}}))
        .validate()
        .is_err());
        assert!(new(json!({"handle": "A", "title": "A", "kind": "manual"}))
            .validate()
            .is_err());
        assert!(new(json!({"handle": "a", "title": " ", "kind": "manual"}))
            .validate()
            .is_err());
    }
}
