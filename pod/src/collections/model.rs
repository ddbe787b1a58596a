//! Collection types, their validation, membership arithmetic and list
//! cursors (rules are in `rules.rs`). Pure: no I/O. Input is parsed once,
//! here, into types the rest of the module trusts. Refusals are small
//! error types of their own ([`InvalidCollection`], [`InvalidHandle`],
//! [`InvalidOrder`], [`BadCursor`]); `collections/mod.rs` maps them to
//! HTTP errors.

use std::collections::{BTreeSet, HashSet};

use chrono::{DateTime, Utc};
use mercato_tenants::{CollectionId, ProductId};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::catalog::Product;

pub use super::rules::{InvalidRules, ProductFacts, RuleSet, Rules};

/// Longest title, in characters (as the column's check counts them).
pub const MAX_TITLE: usize = 255;
/// Longest description, in characters.
pub const MAX_DESCRIPTION: usize = 65_536;

/// A string that is not a [`Slug`]: its first 63 characters.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("handle `{0}` must be 1 to 63 characters of a-z, 0-9 and single hyphens inside")]
pub struct InvalidHandle(pub String);

/// Why a new collection or a change to one is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidCollection {
    #[error(transparent)]
    Handle(#[from] InvalidHandle),
    /// The field (`title`) is blank or longer than `max`.
    #[error("{field} must be 1 to {max} characters")]
    Title { field: &'static str, max: usize },
    #[error("description must be at most 65536 characters")]
    DescriptionTooLong,
    #[error("a manual collection has no rules")]
    RulesOnManual,
    #[error("a rule collection needs rules")]
    NoRules,
    #[error(transparent)]
    Rules(#[from] InvalidRules),
}

/// Why a new order of a manual collection's members is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidOrder {
    #[error("product {0} appears twice in the order")]
    Repeated(ProductId),
    #[error("product {0} is not in the collection")]
    NotAMember(ProductId),
    /// Members the order leaves out, in id order.
    #[error("the order must list every member; missing: {}", join(.0))]
    Missing(Vec<ProductId>),
}

fn join(ids: &[ProductId]) -> String {
    ids.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// A list cursor that is not one [`Cursor::encode`] made for the sort asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("after must be a cursor from next_cursor of the same sort")]
pub struct BadCursor;

/// A handle: a lower-case slug of 1 to 63 characters (`a-z`, `0-9`, single
/// hyphens between them), unique per store among collections (and,
/// separately, among categories).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct Slug(String);

impl Slug {
    pub fn parse(raw: &str) -> Result<Self, InvalidHandle> {
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
            Err(InvalidHandle(raw.chars().take(63).collect()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

pub fn check_title(field: &'static str, title: &str) -> Result<(), InvalidCollection> {
    if title.trim().is_empty() || title.chars().count() > MAX_TITLE {
        return Err(InvalidCollection::Title {
            field,
            max: MAX_TITLE,
        });
    }
    Ok(())
}

fn check_description(description: &str) -> Result<(), InvalidCollection> {
    if description.chars().count() > MAX_DESCRIPTION {
        return Err(InvalidCollection::DescriptionTooLong);
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
pub fn check_order(current: &HashSet<ProductId>, order: &[ProductId]) -> Result<(), InvalidOrder> {
    let mut seen = HashSet::new();
    for p in order {
        if !seen.insert(*p) {
            return Err(InvalidOrder::Repeated(*p));
        }
        if !current.contains(p) {
            return Err(InvalidOrder::NotAMember(*p));
        }
    }
    if seen.len() != current.len() {
        // Id order is the order of their text (fixed-width lower-case hex).
        let missing: BTreeSet<ProductId> = current.difference(&seen).copied().collect();
        return Err(InvalidOrder::Missing(missing.into_iter().collect()));
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
        hex::encode(plain.as_bytes())
    }

    /// Decodes a cursor made by [`Cursor::encode`] for the same `sort`.
    pub fn decode(raw: &str, sort: SortOrder) -> Result<Self, BadCursor> {
        if raw.len() > 4096 {
            return Err(BadCursor);
        }
        let bytes = hex::decode(raw).map_err(|_| BadCursor)?;
        let plain = String::from_utf8(bytes).map_err(|_| BadCursor)?;
        let mut parts = plain.splitn(3, '\n');
        let (Some(s), Some(id), Some(key)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(BadCursor);
        };
        if SortOrder::parse(s) != Some(sort) {
            return Err(BadCursor);
        }
        let id = Uuid::try_parse(id).map_err(|_| BadCursor)?;
        if sort.numeric_key() && key.parse::<i64>().is_err() {
            return Err(BadCursor);
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
    #[schema(min_length = 1, max_length = 63, pattern = r"^[a-z0-9]+(-[a-z0-9]+)*$")]
    pub handle: String,
    /// 1 to 255 characters, not only white space (stored trimmed).
    #[schema(
        max_length = 255,
        pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*[^\u0000-\u0020\u007F-\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000][^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$"
    )]
    pub title: String,
    /// At most 65,536 characters.
    #[serde(default)]
    #[schema(max_length = 65_536)]
    pub description: String,
    pub kind: CollectionKind,
    /// Required for `rule` collections, refused for `manual` ones (`422`).
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
    pub fn validate(self) -> Result<ValidCollection, InvalidCollection> {
        let handle = Slug::parse(&self.handle)?;
        check_title("title", &self.title)?;
        check_description(&self.description)?;
        let rules = match (self.kind, &self.rules) {
            (CollectionKind::Manual, None) => None,
            (CollectionKind::Manual, Some(_)) => return Err(InvalidCollection::RulesOnManual),
            (CollectionKind::Rule, Some(raw)) => Some(Rules::parse(raw)?),
            (CollectionKind::Rule, None) => return Err(InvalidCollection::NoRules),
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
    /// Lower-case slug, 1 to 63 characters, unique in the store.
    #[schema(min_length = 1, max_length = 63, pattern = r"^[a-z0-9]+(-[a-z0-9]+)*$")]
    pub handle: Option<String>,
    /// 1 to 255 characters, not only white space (stored trimmed).
    #[schema(
        max_length = 255,
        pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*[^\u0000-\u0020\u007F-\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000][^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$"
    )]
    pub title: Option<String>,
    /// At most 65,536 characters.
    #[schema(max_length = 65_536)]
    pub description: Option<String>,
    /// Rule collections only (`422` for a manual one); re-computes
    /// membership.
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
    pub fn validate(self) -> Result<ValidPatch, InvalidCollection> {
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
            assert_eq!(err, InvalidHandle(bad.chars().take(63).collect()));
        }
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
        for (bad, refusal) in [
            (vec![ids[1]], InvalidOrder::Missing(vec![ids[0]])),
            (
                vec![ids[1], ids[0], ids[2]],
                InvalidOrder::NotAMember(ids[2]),
            ),
            (vec![ids[1], ids[1]], InvalidOrder::Repeated(ids[1])),
            (vec![ids[0], ids[1], ids[1]], InvalidOrder::Repeated(ids[1])),
        ] {
            assert_eq!(check_order(&current, &bad), Err(refusal));
        }
        // Missing members are listed in the order of their text.
        let mut all: Vec<ProductId> = (0..5).map(|_| ProductId::new()).collect();
        let members: HashSet<_> = all.iter().copied().collect();
        let Err(InvalidOrder::Missing(missing)) = check_order(&members, &[]) else {
            panic!("missing members");
        };
        all.sort_by_key(ToString::to_string);
        assert_eq!(missing, all);
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
        assert_eq!(Cursor::decode(&encoded, SortOrder::Newest), Err(BadCursor));
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
        let refusal = |v| new(v).validate().expect_err("refused");
        assert_eq!(
            refusal(json!({"handle": "a", "title": "A", "kind": "rule"})),
            InvalidCollection::NoRules
        );
        assert_eq!(
            refusal(json!({"handle": "a", "title": "A", "kind": "manual",
            "rules": {"match": "all", "conditions": []}})),
            InvalidCollection::RulesOnManual
        );
        assert_eq!(
            refusal(json!({"handle": "A", "title": "A", "kind": "manual"})),
            InvalidCollection::Handle(InvalidHandle("A".into()))
        );
        assert_eq!(
            refusal(json!({"handle": "a", "title": " ", "kind": "manual"})),
            InvalidCollection::Title {
                field: "title",
                max: MAX_TITLE
            }
        );
        assert!(matches!(
            refusal(json!({"handle": "a", "title": "A", "kind": "rule",
                "rules": {"match": "all", "conditions": []}})),
            InvalidCollection::Rules(InvalidRules::ConditionCount { .. })
        ));
    }
}
