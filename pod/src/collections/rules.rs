//! Rule-based collections: the rules as they travel in JSON, their
//! validation into [`Rules`], and their evaluation against a product's
//! facts. Pure: no I/O. Refusals are [`InvalidRules`].

use mercato_tenants::{CollectionId, ProductId};
use serde::{Deserialize, Serialize};

/// Largest price a rule may name: 10^12 minor units, as for variants.
pub const MAX_RULE_PRICE: i64 = 1_000_000_000_000;
pub const MAX_CONDITIONS: usize = 20;
pub const MAX_RULE_TEXT: usize = 255;

/// Why rules are refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidRules {
    /// `match` is neither `all` nor `any`.
    #[error("rules.match must be `all` or `any`, not `{0}`")]
    Match(String),
    #[error("rules need 1 to {max} conditions")]
    ConditionCount { max: usize },
    /// The condition at `index` (from 0) is refused.
    #[error("rules.conditions[{index}]: {problem}")]
    Condition { index: usize, problem: BadCondition },
}

/// What is wrong with one condition.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadCondition {
    #[error("field `{0}` is not one of vendor, product_type, tag, price")]
    UnknownField(String),
    #[error("op `{op}` does not apply to `{field}` (equals, not_equals, contains, starts_with)")]
    TextOp { field: String, op: String },
    #[error("value for `{field}` must be a string")]
    TextValueNotString { field: String },
    #[error("value must be 1 to {max} characters")]
    TextValueLength { max: usize },
    #[error("op `{0}` does not apply to `price` (equals, greater_than, less_than)")]
    PriceOp(String),
    #[error("value for `price` must be an integer 0 to {max} (minor units)")]
    PriceValue { max: i64 },
}

/// Rules as they travel in JSON: `{"match": "all"|"any", "conditions":
/// [{"field", "op", "value"}]}`. Checked by [`Rules::parse`]; the document
/// says the same rules ([`RuleSet::schema`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSet {
    /// `all`: every condition must hold; `any`: at least one.
    #[serde(rename = "match")]
    pub match_: String,
    /// 1 to 20 conditions.
    pub conditions: Vec<RuleCondition>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
    pub value: serde_json::Value,
}

/// The rules [`Rules::parse`] takes, as a schema: `match` one of two
/// words, 1 to [`MAX_CONDITIONS`] conditions, each a text condition or a
/// price condition.
impl utoipa::PartialSchema for RuleSet {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{AdditionalProperties, ArrayBuilder, OneOfBuilder, Type};
        use utoipa::openapi::ObjectBuilder;
        let words = |words: &[&str]| {
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some(words.iter().copied()))
        };
        let condition = |fields: &[&str], ops: &[&str], value: ObjectBuilder| {
            ObjectBuilder::new()
                .schema_type(Type::Object)
                .property("field", words(fields))
                .property("op", words(ops))
                .property("value", value)
                .required("field")
                .required("op")
                .required("value")
                .additional_properties(Some(AdditionalProperties::FreeForm(false)))
        };
        let text = condition(
            &["vendor", "product_type", "tag"],
            &["equals", "not_equals", "contains", "starts_with"],
            ObjectBuilder::new()
                .schema_type(Type::String)
                .max_length(Some(MAX_RULE_TEXT))
                .pattern(Some(NONBLANK_TEXT)),
        )
        .description(Some(
            "Case-insensitive; for `tag`, \"has a tag that ...\" (`not_equals`: \"has no tag \
             that equals\"). The value: 1 to 255 characters, not only white space.",
        ));
        let price = condition(
            &["price"],
            &["equals", "greater_than", "less_than"],
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .minimum(Some(0))
                .maximum(Some(MAX_RULE_PRICE)),
        )
        .description(Some(
            "The lowest variant price, in minor units (0 to 10^12).",
        ));
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .property(
                "match",
                words(&["all", "any"]).description(Some(
                    "`all`: every condition must hold; `any`: at least one.",
                )),
            )
            .property(
                "conditions",
                ArrayBuilder::new()
                    .items(OneOfBuilder::new().item(text).item(price))
                    .min_items(Some(1))
                    .max_items(Some(MAX_CONDITIONS)),
            )
            .required("match")
            .required("conditions")
            .additional_properties(Some(AdditionalProperties::FreeForm(false)))
            .description(Some("A rule collection's rules."))
            .into()
    }
}

impl utoipa::ToSchema for RuleSet {}

/// Text of a text condition: not only white space, no control character
/// but tab, line feed and carriage return.
const NONBLANK_TEXT: &str = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*[^\u0000-\u0020\u007F-\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000][^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$";

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
    pub fn parse(raw: &RuleSet) -> Result<Self, InvalidRules> {
        let match_ = match raw.match_.as_str() {
            "all" => Match::All,
            "any" => Match::Any,
            other => return Err(InvalidRules::Match(other.to_owned())),
        };
        if raw.conditions.is_empty() || raw.conditions.len() > MAX_CONDITIONS {
            return Err(InvalidRules::ConditionCount {
                max: MAX_CONDITIONS,
            });
        }
        let conditions = raw
            .conditions
            .iter()
            .enumerate()
            .map(|(index, c)| {
                parse_condition(c).map_err(|problem| InvalidRules::Condition { index, problem })
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

fn parse_condition(c: &RuleCondition) -> Result<Condition, BadCondition> {
    let text_field = match c.field.as_str() {
        "vendor" => Some(TextField::Vendor),
        "product_type" => Some(TextField::ProductType),
        "tag" => Some(TextField::Tag),
        "price" => None,
        other => return Err(BadCondition::UnknownField(other.to_owned())),
    };
    match text_field {
        Some(field) => {
            let op = match c.op.as_str() {
                "equals" => TextOp::Equals,
                "not_equals" => TextOp::NotEquals,
                "contains" => TextOp::Contains,
                "starts_with" => TextOp::StartsWith,
                other => {
                    return Err(BadCondition::TextOp {
                        field: c.field.clone(),
                        op: other.to_owned(),
                    })
                }
            };
            let value = c
                .value
                .as_str()
                .ok_or_else(|| BadCondition::TextValueNotString {
                    field: c.field.clone(),
                })?;
            if value.trim().is_empty() || value.chars().count() > MAX_RULE_TEXT {
                return Err(BadCondition::TextValueLength { max: MAX_RULE_TEXT });
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
                other => return Err(BadCondition::PriceOp(other.to_owned())),
            };
            // `5.0` and `5e0` are the integer 5, as JSON Schema counts.
            let minor = c
                .value
                .as_i64()
                .or_else(|| {
                    c.value
                        .as_f64()
                        .filter(|f| f.fract() == 0.0 && (0.0..=MAX_RULE_PRICE as f64).contains(f))
                        .map(|f| f as i64)
                })
                .filter(|m| (0..=MAX_RULE_PRICE).contains(m))
                .ok_or(BadCondition::PriceValue {
                    max: MAX_RULE_PRICE,
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rules(v: serde_json::Value) -> Result<Rules, InvalidRules> {
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
    fn rule_validation() {
        assert!(rules(json!({"match": "all", "conditions": [
            {"field": "vendor", "op": "equals", "value": "Acme"},
            {"field": "price", "op": "less_than", "value": 1000},
            {"field": "tag", "op": "not_equals", "value": "sale"},
            {"field": "product_type", "op": "starts_with", "value": "Shi"}]}))
        .is_ok());
        let condition = |problem| InvalidRules::Condition { index: 0, problem };
        let price = BadCondition::PriceValue {
            max: MAX_RULE_PRICE,
        };
        let bad = [
            (
                json!({"match": "some", "conditions": [{"field": "vendor", "op": "equals", "value": "A"}]}),
                InvalidRules::Match("some".into()),
            ),
            (
                json!({"match": "all", "conditions": []}),
                InvalidRules::ConditionCount {
                    max: MAX_CONDITIONS,
                },
            ),
            (
                json!({"match": "all", "conditions": [{"field": "colour", "op": "equals", "value": "A"}]}),
                condition(BadCondition::UnknownField("colour".into())),
            ),
            (
                json!({"match": "all", "conditions": [{"field": "vendor", "op": "greater_than", "value": "A"}]}),
                condition(BadCondition::TextOp {
                    field: "vendor".into(),
                    op: "greater_than".into(),
                }),
            ),
            (
                json!({"match": "all", "conditions": [{"field": "price", "op": "contains", "value": 5}]}),
                condition(BadCondition::PriceOp("contains".into())),
            ),
            (
                json!({"match": "all", "conditions": [{"field": "price", "op": "equals", "value": "5"}]}),
                condition(price.clone()),
            ),
            (
                json!({"match": "all", "conditions": [{"field": "price", "op": "equals", "value": 1.5}]}),
                condition(price.clone()),
            ),
            (
                json!({"match": "all", "conditions": [{"field": "price", "op": "equals", "value": -1}]}),
                condition(price),
            ),
            (
                json!({"match": "all", "conditions": [{"field": "vendor", "op": "equals", "value": 5}]}),
                condition(BadCondition::TextValueNotString {
                    field: "vendor".into(),
                }),
            ),
            (
                json!({"match": "all", "conditions": [{"field": "vendor", "op": "equals", "value": " "}]}),
                condition(BadCondition::TextValueLength { max: MAX_RULE_TEXT }),
            ),
        ];
        for (b, refusal) in bad {
            assert_eq!(rules(b.clone()), Err(refusal), "{b}");
        }
        let many: Vec<_> = (0..21)
            .map(|_| json!({"field": "tag", "op": "equals", "value": "x"}))
            .collect();
        assert!(rules(json!({"match": "any", "conditions": many})).is_err());
        let second = rules(json!({"match": "any", "conditions": [
            {"field": "tag", "op": "equals", "value": "x"},
            {"field": "tag", "op": "equals", "value": ""}]}))
        .expect_err("blank value");
        assert_eq!(
            second.to_string(),
            "rules.conditions[1]: value must be 1 to 255 characters"
        );
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
}
