//! What a search asks for, parsed once from the query string, and the pure
//! rules around it: words of `q`, cursors, spelling correction, price
//! buckets. No I/O here. Refusals are [`InvalidSearch`]; `search/mod.rs`
//! maps them to HTTP errors.

use chrono::{DateTime, Utc};
use mercato_tenants::{CategoryId, CollectionId, ProductId};

/// Longest `q` accepted, in characters.
pub const MAX_Q_CHARS: usize = 200;
/// Most values of one repeatable filter (`tag`, `option`, ...).
pub const MAX_FILTER_VALUES: usize = 20;
/// Longest filter value, in characters.
const MAX_VALUE_LEN: usize = 255;
/// Most words of `q` that take part in the text match.
const MAX_WORDS: usize = 8;
/// Largest price a filter may name: 10^12 minor units.
const MAX_PRICE: i64 = 1_000_000_000_000;
/// Most results per page.
const MAX_LIMIT: u32 = 100;

/// Why a search's query string is refused. `param` names the query
/// parameter at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidSearch {
    /// A parameter that may be given once was given again.
    #[error("{param} may be given once")]
    Repeated { param: String },
    /// A name that is no parameter (its first 40 characters).
    #[error("unknown parameter `{0}`")]
    UnknownParam(String),
    #[error("sort must be relevance, price_asc, price_desc, newest, best_selling or rating")]
    Sort,
    #[error("limit must be 1 to {max}")]
    Limit { max: u32 },
    /// `after` is not a cursor from `next_cursor`.
    #[error("after must be a cursor from next_cursor")]
    Cursor,
    /// `after` is a cursor of another sort order than the one asked.
    #[error("after belongs to another sort order")]
    CursorSort,
    /// A `collection` or `category` that is not an id.
    #[error("{param} must be an id")]
    Id { param: &'static str },
    /// A blank filter value, or one longer than `max` bytes.
    #[error("{param} must be 1 to {max} characters")]
    ValueLength { param: &'static str, max: usize },
    #[error("at most {max} values of {param}")]
    TooManyValues { param: &'static str, max: usize },
    #[error("option must look like Size:M")]
    Option,
    /// `price_min` or `price_max` is not a whole number 0 to 10^12.
    #[error("{param} must be a whole number of minor units, 0 to 10^12")]
    Price { param: &'static str },
    #[error("price_min must not exceed price_max")]
    PriceRange,
    #[error("in_stock must be true or false")]
    InStock,
    #[error("min_rating must be a whole number of stars, 1 to 5")]
    MinRating,
    #[error("q must be at most {max} characters")]
    QTooLong { max: usize },
    #[error("q is required")]
    QMissing,
    /// A suggestion's `q`, trimmed, is empty or longer than `max`.
    #[error("q must be 1 to {max} characters")]
    QLength { max: usize },
}

/// Lower edges of the price facet's buckets, in minor units; the last bucket
/// has no upper edge. The SQL function `search_tokens` (migration
/// `20261121000007_search_speed.sql`) buckets with the same edges.
pub const PRICE_EDGES: [i64; 7] = [0, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000];

/// Facet groups whose tokens key `search_facet_pairs` (the SQL function
/// `search_pair_filters`, migration `20261121000008_search_pairs.sql`,
/// must list the same).
pub const PAIR_GROUPS: [&str; 5] = ["vendor", "type", "tag", "col", "cat"];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Sort {
    Relevance,
    PriceAsc,
    PriceDesc,
    Newest,
    BestSelling,
    /// Highest average rating first, then most reviews (products without
    /// reviews last).
    Rating,
}

impl Sort {
    pub const fn as_str(self) -> &'static str {
        match self {
            Sort::Relevance => "relevance",
            Sort::PriceAsc => "price_asc",
            Sort::PriceDesc => "price_desc",
            Sort::Newest => "newest",
            Sort::BestSelling => "best_selling",
            Sort::Rating => "rating",
        }
    }

    pub const ALL: [Sort; 6] = [
        Sort::Relevance,
        Sort::PriceAsc,
        Sort::PriceDesc,
        Sort::Newest,
        Sort::BestSelling,
        Sort::Rating,
    ];

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// Filters; values of one kind are alternatives (OR), kinds combine (AND).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Filters {
    pub collections: Vec<CollectionId>,
    pub categories: Vec<CategoryId>,
    pub vendors: Vec<String>,
    pub types: Vec<String>,
    pub tags: Vec<String>,
    /// `(option name, value)`, e.g. `("Size", "M")`.
    pub options: Vec<(String, String)>,
    pub price_min: Option<i64>,
    pub price_max: Option<i64>,
    pub in_stock: Option<bool>,
    /// Products whose average rating (as shown, to two decimals) is at
    /// least this many stars, 1 to 5.
    pub min_rating: Option<u8>,
}

/// One facet group a filter constrains: the documents it lets through, and
/// which facet's counts must ignore it (disjunctive faceting).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Constraint {
    /// The document has at least one of these facet tokens.
    AnyToken {
        group: String,
        tokens: Vec<String>,
    },
    Price {
        min: Option<i64>,
        max: Option<i64>,
    },
    InStock(bool),
    /// An average rating of at least this many stars. No facet counts by
    /// rating: a product it lets through counts as usual, one it stops
    /// counts nowhere.
    MinRating(u8),
}

/// The lowest `rating_key` (a search document's average in hundredths
/// above 32 bits of its review count, migration
/// `20261227000024_reviews.sql`) of an average of at least `stars`.
pub fn rating_key_floor(stars: u8) -> i64 {
    (i64::from(stars) * 100) << 32
}

impl Constraint {
    /// The facet group name, as `search_documents` tokens carry it.
    pub fn group(&self) -> &str {
        match self {
            Constraint::AnyToken { group, .. } => group,
            Constraint::Price { .. } => "price",
            Constraint::InStock(_) => "stock",
            Constraint::MinRating(_) => "rating",
        }
    }

    /// How the facet tokens of this constraint's group start (see the SQL
    /// function `search_tokens`): `tag:`, `opt:Size=`, `~p:`, `~s:`.
    pub fn prefix(&self) -> String {
        match self {
            Constraint::AnyToken { group, .. } if group.starts_with("opt:") => format!("{group}="),
            Constraint::AnyToken { group, .. } => format!("{group}:"),
            Constraint::Price { .. } => "~p:".to_owned(),
            Constraint::InStock(_) => "~s:".to_owned(),
            // No facet token starts so: stopped documents count nowhere.
            Constraint::MinRating(_) => "~r:".to_owned(),
        }
    }

    /// The one facet token this constraint asks for, when it keys
    /// `search_facet_pairs` (a single value of a [`PAIR_GROUPS`] group):
    /// counts under this filter alone are then precomputed.
    pub fn pair_token(&self) -> Option<&str> {
        match self {
            Constraint::AnyToken { group, tokens }
                if tokens.len() == 1 && PAIR_GROUPS.contains(&group.as_str()) =>
            {
                tokens.first().map(String::as_str)
            }
            _ => None,
        }
    }

    /// Whether this constraint lets every document through when the
    /// store's active prices span `[lo, hi]` (`None` when it has none): a
    /// price range covering them all filters nothing.
    pub fn passes_all(&self, lo: Option<i64>, hi: Option<i64>) -> bool {
        match (self, lo, hi) {
            (Constraint::Price { .. }, None, _) | (Constraint::Price { .. }, _, None) => true,
            (Constraint::Price { min, max }, Some(lo), Some(hi)) => {
                min.is_none_or(|m| m <= lo) && max.is_none_or(|m| m >= hi)
            }
            _ => false,
        }
    }
}

impl Filters {
    /// The filters as facet-group constraints, in a stable order.
    pub fn constraints(&self) -> Vec<Constraint> {
        let mut out = Vec::new();
        let mut tokens = |group: &str, prefix: &str, values: Vec<String>| {
            if !values.is_empty() {
                out.push(Constraint::AnyToken {
                    group: group.to_owned(),
                    tokens: values.into_iter().map(|v| format!("{prefix}{v}")).collect(),
                });
            }
        };
        tokens("vendor", "vendor:", self.vendors.clone());
        tokens("type", "type:", self.types.clone());
        tokens("tag", "tag:", self.tags.clone());
        tokens(
            "col",
            "col:",
            self.collections.iter().map(|c| c.to_string()).collect(),
        );
        tokens(
            "cat",
            "cat:",
            self.categories.iter().map(|c| c.to_string()).collect(),
        );
        let mut names: Vec<&str> = Vec::new();
        for (name, _) in &self.options {
            if !names.contains(&name.as_str()) {
                names.push(name);
            }
        }
        for name in names {
            let values = self
                .options
                .iter()
                .filter(|(n, _)| n == name)
                .map(|(_, v)| format!("{name}={v}"))
                .collect();
            tokens(&format!("opt:{name}"), "opt:", values);
        }
        if self.price_min.is_some() || self.price_max.is_some() {
            out.push(Constraint::Price {
                min: self.price_min,
                max: self.price_max,
            });
        }
        if let Some(b) = self.in_stock {
            out.push(Constraint::InStock(b));
        }
        if let Some(stars) = self.min_rating {
            out.push(Constraint::MinRating(stars));
        }
        out
    }
}

/// Where a page starts: after the product with this sort key and id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cursor {
    pub sort: Sort,
    /// The sort key: a price, units sold, microseconds since the epoch, a
    /// `rating_key`, or the bits of an `f32` relevance score.
    pub key: i64,
    pub id: ProductId,
}

impl Cursor {
    /// Opaque to clients: hex of `sort.key.id`.
    pub fn encode(&self) -> String {
        let raw = format!("{}.{}.{}", self.sort.as_str(), self.key, self.id);
        hex::encode(raw.as_bytes())
    }

    pub fn decode(s: &str) -> Option<Self> {
        if s.len() > 256 {
            return None;
        }
        let raw = String::from_utf8(hex::decode(s).ok()?).ok()?;
        let mut parts = raw.splitn(3, '.');
        let sort = Sort::parse(parts.next()?)?;
        let key = parts.next()?.parse().ok()?;
        let id = parts.next()?.parse().ok()?;
        let cursor = Self { sort, key, id };
        // A crafted key may be no time at all: refused here, not by the query.
        if sort == Sort::Newest && cursor.time_of().is_none() {
            return None;
        }
        Some(cursor)
    }

    pub fn rank(score: f32) -> i64 {
        i64::from(score.to_bits())
    }

    pub fn rank_of(&self) -> f32 {
        f32::from_bits(self.key as u32)
    }

    pub fn time(at: DateTime<Utc>) -> i64 {
        at.timestamp_micros()
    }

    pub fn time_of(&self) -> Option<DateTime<Utc>> {
        DateTime::from_timestamp_micros(self.key)
    }
}

/// A parsed `GET /api/search`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SearchParams {
    /// The words of `q`, lower-cased, letters and digits only.
    pub words: Vec<String>,
    pub filters: Filters,
    pub sort: Sort,
    pub limit: u32,
    pub after: Option<Cursor>,
}

fn push_value(
    list: &mut Vec<String>,
    param: &'static str,
    value: &str,
) -> Result<(), InvalidSearch> {
    let value = value.trim();
    if value.is_empty() || value.chars().count() > MAX_VALUE_LEN {
        return Err(InvalidSearch::ValueLength {
            param,
            max: MAX_VALUE_LEN,
        });
    }
    push_checked(list, param, value.to_owned())
}

fn push_checked<T: PartialEq>(
    list: &mut Vec<T>,
    param: &'static str,
    value: T,
) -> Result<(), InvalidSearch> {
    if list.len() >= MAX_FILTER_VALUES {
        return Err(InvalidSearch::TooManyValues {
            param,
            max: MAX_FILTER_VALUES,
        });
    }
    if !list.contains(&value) {
        list.push(value);
    }
    Ok(())
}

fn parse_price(param: &'static str, raw: &str) -> Result<i64, InvalidSearch> {
    raw.parse::<i64>()
        .ok()
        .filter(|p| (0..=MAX_PRICE).contains(p))
        .ok_or(InvalidSearch::Price { param })
}

fn parse_id<T: std::str::FromStr>(param: &'static str, raw: &str) -> Result<T, InvalidSearch> {
    raw.parse().map_err(|_| InvalidSearch::Id { param })
}

fn parse_q(raw: &str) -> Result<Vec<String>, InvalidSearch> {
    if raw.chars().count() > MAX_Q_CHARS {
        return Err(InvalidSearch::QTooLong { max: MAX_Q_CHARS });
    }
    Ok(words(raw))
}

/// The first 40 characters of an unknown parameter's name.
fn unknown_param(name: &str) -> InvalidSearch {
    InvalidSearch::UnknownParam(name.chars().take(40).collect())
}

/// The words of a query: runs of letters and digits, lower-cased, at most
/// [`MAX_WORDS`].
pub fn words(q: &str) -> Vec<String> {
    q.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .take(MAX_WORDS)
        .collect()
}

/// Parses the query string of `GET /api/search`; every parameter may be
/// given once except the repeatable filters.
pub fn parse_search(pairs: &[(String, String)]) -> Result<SearchParams, InvalidSearch> {
    let mut q = None;
    let mut filters = Filters::default();
    let mut sort = None;
    let mut limit = None;
    let mut after = None;
    let mut seen: Vec<&str> = Vec::new();
    for (name, value) in pairs {
        let once = [
            "q",
            "sort",
            "limit",
            "after",
            "price_min",
            "price_max",
            "in_stock",
            "min_rating",
        ];
        if once.contains(&name.as_str()) {
            if seen.contains(&name.as_str()) {
                return Err(InvalidSearch::Repeated {
                    param: name.clone(),
                });
            }
            seen.push(name);
        }
        match name.as_str() {
            "q" => q = Some(parse_q(value)?),
            "sort" => sort = Some(Sort::parse(value).ok_or(InvalidSearch::Sort)?),
            "limit" => {
                limit = Some(
                    value
                        .parse::<u32>()
                        .ok()
                        .filter(|l| (1..=MAX_LIMIT).contains(l))
                        .ok_or(InvalidSearch::Limit { max: MAX_LIMIT })?,
                )
            }
            "after" => after = Some(Cursor::decode(value).ok_or(InvalidSearch::Cursor)?),
            "collection" => {
                let id = parse_id("collection", value)?;
                push_checked(&mut filters.collections, "collection", id)?
            }
            "category" => {
                let id = parse_id("category", value)?;
                push_checked(&mut filters.categories, "category", id)?
            }
            "vendor" => push_value(&mut filters.vendors, "vendor", value)?,
            "type" => push_value(&mut filters.types, "type", value)?,
            "tag" => push_value(&mut filters.tags, "tag", value)?,
            "option" => {
                let (n, v) = value
                    .split_once(':')
                    .map(|(n, v)| (n.trim(), v.trim()))
                    .filter(|(n, v)| !n.is_empty() && !v.is_empty())
                    .filter(|(n, v)| {
                        n.chars().count() + v.chars().count() <= MAX_VALUE_LEN && !n.contains('=')
                    })
                    .ok_or(InvalidSearch::Option)?;
                push_checked(&mut filters.options, "option", (n.to_owned(), v.to_owned()))?
            }
            "price_min" => filters.price_min = Some(parse_price("price_min", value)?),
            "price_max" => filters.price_max = Some(parse_price("price_max", value)?),
            "in_stock" => {
                filters.in_stock = Some(match value.as_str() {
                    "true" => true,
                    "false" => false,
                    _ => return Err(InvalidSearch::InStock),
                })
            }
            "min_rating" => {
                filters.min_rating = Some(
                    value
                        .parse::<u8>()
                        .ok()
                        .filter(|n| (1..=5).contains(n))
                        .ok_or(InvalidSearch::MinRating)?,
                )
            }
            other => return Err(unknown_param(other)),
        }
    }
    if let (Some(lo), Some(hi)) = (filters.price_min, filters.price_max) {
        if lo > hi {
            return Err(InvalidSearch::PriceRange);
        }
    }
    let words = q.unwrap_or_default();
    // Relevance needs words to rank by; without them it means newest.
    let sort = match sort {
        Some(Sort::Relevance) | None if words.is_empty() => Sort::Newest,
        Some(s) => s,
        None => Sort::Relevance,
    };
    if let Some(c) = &after {
        if c.sort != sort {
            return Err(InvalidSearch::CursorSort);
        }
    }
    Ok(SearchParams {
        words,
        filters,
        sort,
        limit: limit.unwrap_or(20),
        after,
    })
}

/// Parses `GET /api/search/suggest?q=`: the query, trimmed, 1 to 200
/// characters, lower-cased.
pub fn parse_suggest(pairs: &[(String, String)]) -> Result<String, InvalidSearch> {
    let mut q = None;
    for (name, value) in pairs {
        match name.as_str() {
            "q" if q.is_none() => q = Some(value.trim().to_lowercase()),
            "q" => {
                return Err(InvalidSearch::Repeated {
                    param: "q".to_owned(),
                })
            }
            other => return Err(unknown_param(other)),
        }
    }
    let q = q.ok_or(InvalidSearch::QMissing)?;
    let n = q.chars().count();
    if n == 0 || n > MAX_Q_CHARS {
        return Err(InvalidSearch::QLength { max: MAX_Q_CHARS });
    }
    Ok(q)
}

/// Edit distance with adjacent transpositions (optimal string alignment),
/// over characters.
pub fn edit_distance(a: &str, b: &str) -> usize {
    strsim::osa_distance(a, b)
}

/// The closest known word to a misspelled `word`: at most one edit for
/// words up to 5 characters, two for longer ones, none for words under 3.
/// Candidates come best-first by trigram similarity; that order breaks ties.
pub fn correct(word: &str, candidates: &[String]) -> Option<String> {
    let len = word.chars().count();
    let budget = match len {
        0..=2 => return None,
        3..=5 => 1,
        _ => 2,
    };
    candidates
        .iter()
        .map(|c| (edit_distance(word, c), c))
        .filter(|(d, _)| (1..=budget).contains(d))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c.clone())
}

/// The `[min, max)` range of price bucket `i` (0-based); `max` is `None`
/// for the last.
pub fn price_bucket(i: usize) -> Option<(i64, Option<i64>)> {
    let min = *PRICE_EDGES.get(i)?;
    Some((min, PRICE_EDGES.get(i + 1).copied()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(q: &[(&str, &str)]) -> Vec<(String, String)> {
        q.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    fn refusal(r: Result<SearchParams, InvalidSearch>) -> InvalidSearch {
        r.expect_err("an error")
    }

    #[test]
    fn defaults_depend_on_q() {
        let p = parse_search(&pairs(&[])).expect("ok");
        assert_eq!((p.sort, p.limit, p.words.len()), (Sort::Newest, 20, 0));
        let p = parse_search(&pairs(&[("q", "Blue  T-Shirt")])).expect("ok");
        assert_eq!(p.sort, Sort::Relevance);
        assert_eq!(p.words, vec!["blue", "t", "shirt"]);
        let p = parse_search(&pairs(&[("sort", "relevance")])).expect("ok");
        assert_eq!(p.sort, Sort::Newest);
    }

    #[test]
    fn filters_group_into_constraints() {
        let p = parse_search(&pairs(&[
            ("tag", "summer"),
            ("tag", "sale"),
            ("option", "Size:M"),
            ("option", "Colour: Red"),
            ("option", "Size:L"),
            ("vendor", "Acme"),
            ("price_max", "5000"),
            ("in_stock", "true"),
        ]))
        .expect("ok");
        let c = p.filters.constraints();
        let groups: Vec<&str> = c.iter().map(Constraint::group).collect();
        assert_eq!(
            groups,
            vec!["vendor", "tag", "opt:Size", "opt:Colour", "price", "stock"]
        );
        assert_eq!(
            c[2],
            Constraint::AnyToken {
                group: "opt:Size".into(),
                tokens: vec!["opt:Size=M".into(), "opt:Size=L".into()]
            }
        );
        assert_eq!(
            c[1],
            Constraint::AnyToken {
                group: "tag".into(),
                tokens: vec!["tag:summer".into(), "tag:sale".into()]
            }
        );
    }

    #[test]
    fn constraints_know_their_token_prefix_and_when_they_filter_nothing() {
        let p = parse_search(&pairs(&[
            ("tag", "summer"),
            ("option", "Size:M"),
            ("price_min", "100"),
            ("price_max", "900"),
            ("in_stock", "true"),
        ]))
        .expect("ok");
        let c = p.filters.constraints();
        let prefixes: Vec<String> = c.iter().map(Constraint::prefix).collect();
        assert_eq!(prefixes, vec!["tag:", "opt:Size=", "~p:", "~s:"]);
        let price = &c[2];
        assert!(price.passes_all(Some(100), Some(900)));
        assert!(price.passes_all(Some(150), Some(800)));
        assert!(!price.passes_all(Some(99), Some(800)));
        assert!(!price.passes_all(Some(150), Some(901)));
        assert!(price.passes_all(None, None));
        assert!(!c[0].passes_all(Some(0), Some(1)));
        assert!(!c[3].passes_all(None, None));
        let open = Constraint::Price {
            min: None,
            max: Some(5),
        };
        assert!(open.passes_all(Some(0), Some(5)));
        assert!(!open.passes_all(Some(0), Some(6)));
    }

    #[test]
    fn only_single_values_of_browse_groups_key_pair_counts() {
        let f = |q: &[(&str, &str)]| {
            parse_search(&pairs(q))
                .expect("valid")
                .filters
                .constraints()
        };
        assert_eq!(
            f(&[("vendor", "Acme")])[0].pair_token(),
            Some("vendor:Acme")
        );
        assert_eq!(f(&[("tag", "summer")])[0].pair_token(), Some("tag:summer"));
        let cat = CategoryId::new();
        let with_cat = f(&[("category", &cat.to_string())]);
        assert_eq!(
            with_cat[0].pair_token(),
            Some(format!("cat:{cat}").as_str())
        );
        assert_eq!(f(&[("vendor", "A"), ("vendor", "B")])[0].pair_token(), None);
        assert_eq!(f(&[("option", "Size:M")])[0].pair_token(), None);
        assert_eq!(f(&[("in_stock", "true")])[0].pair_token(), None);
        assert_eq!(f(&[("price_min", "10")])[0].pair_token(), None);
    }

    #[test]
    fn bad_params_are_refused_with_what_is_wrong() {
        let limit = InvalidSearch::Limit { max: 100 };
        let price_min = InvalidSearch::Price { param: "price_min" };
        for (bad, wrong) in [
            (vec![("limit", "0")], limit.clone()),
            (vec![("limit", "101")], limit.clone()),
            (vec![("limit", "x")], limit),
            (vec![("sort", "cheapest")], InvalidSearch::Sort),
            (vec![("price_min", "1.50")], price_min.clone()),
            (vec![("price_min", "-1")], price_min),
            (
                vec![("price_min", "500"), ("price_max", "100")],
                InvalidSearch::PriceRange,
            ),
            (vec![("in_stock", "yes")], InvalidSearch::InStock),
            (vec![("min_rating", "0")], InvalidSearch::MinRating),
            (vec![("min_rating", "6")], InvalidSearch::MinRating),
            (vec![("min_rating", "4.5")], InvalidSearch::MinRating),
            (vec![("min_rating", "-1")], InvalidSearch::MinRating),
            (
                vec![("min_rating", "3"), ("min_rating", "4")],
                InvalidSearch::Repeated {
                    param: "min_rating".into(),
                },
            ),
            (vec![("option", "Size")], InvalidSearch::Option),
            (vec![("after", "zz")], InvalidSearch::Cursor),
            (vec![("after", "6869")], InvalidSearch::Cursor),
            (
                vec![("bogus", "1")],
                InvalidSearch::UnknownParam("bogus".into()),
            ),
            (
                vec![("q", "a"), ("q", "b")],
                InvalidSearch::Repeated { param: "q".into() },
            ),
            (
                vec![("tag", " ")],
                InvalidSearch::ValueLength {
                    param: "tag",
                    max: 255,
                },
            ),
        ] {
            assert_eq!(refusal(parse_search(&pairs(&bad))), wrong, "{bad:?}");
        }
        let long = "x".repeat(201);
        assert_eq!(
            refusal(parse_search(&pairs(&[("q", &long)]))),
            InvalidSearch::QTooLong { max: MAX_Q_CHARS }
        );
        assert_eq!(
            refusal(parse_search(&pairs(&[("collection", "nope")]))),
            InvalidSearch::Id {
                param: "collection"
            }
        );
        assert_eq!(
            refusal(parse_search(&pairs(&[("category", "123")]))),
            InvalidSearch::Id { param: "category" }
        );
        let tags: Vec<(String, String)> = (0..=MAX_FILTER_VALUES)
            .map(|i| ("tag".to_owned(), format!("t{i}")))
            .collect();
        assert_eq!(
            refusal(parse_search(&tags)),
            InvalidSearch::TooManyValues {
                param: "tag",
                max: MAX_FILTER_VALUES
            }
        );
        let name = "y".repeat(50);
        assert_eq!(
            refusal(parse_search(&pairs(&[(&name, "1")]))),
            InvalidSearch::UnknownParam("y".repeat(40))
        );
    }

    #[test]
    fn cursors_round_trip_and_are_bound_to_their_sort() {
        let c = Cursor {
            sort: Sort::Relevance,
            key: Cursor::rank(0.607_927_1),
            id: ProductId::new(),
        };
        let back = Cursor::decode(&c.encode()).expect("decodes");
        assert_eq!(back, c);
        assert_eq!(back.rank_of(), 0.607_927_1);
        let enc = c.encode();
        let r = parse_search(&pairs(&[("q", "x"), ("sort", "newest"), ("after", &enc)]));
        assert_eq!(refusal(r), InvalidSearch::CursorSort);
        let ok = parse_search(&pairs(&[("q", "x"), ("after", &enc)])).expect("ok");
        assert_eq!(ok.after, Some(c));
        let now = Utc::now();
        let t = Cursor {
            sort: Sort::Newest,
            key: Cursor::time(now),
            id: ProductId::new(),
        };
        assert_eq!(
            t.time_of().map(|t| t.timestamp_micros()),
            Some(now.timestamp_micros())
        );
        let beyond = Cursor { key: i64::MAX, ..t };
        assert_eq!(Cursor::decode(&beyond.encode()), None, "no time");
    }

    #[test]
    fn corrections_take_the_closest_word_within_budget() {
        let c: Vec<String> = ["short", "shirt", "shirts", "skirt"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(edit_distance("shrit", "shirt"), 1);
        assert_eq!(edit_distance("shrit", "short"), 2);
        assert_eq!(correct("shrit", &c).as_deref(), Some("shirt"));
        assert_eq!(correct("skrit", &c).as_deref(), Some("skirt"));
        assert_eq!(correct("xyzzy", &c), None);
        assert_eq!(correct("sh", &c), None);
        let long: Vec<String> = vec!["sweater".into()];
        assert_eq!(correct("sweatre", &long).as_deref(), Some("sweater"));
        assert_eq!(correct("swaetre", &long).as_deref(), Some("sweater"));
    }

    #[test]
    fn suggest_needs_a_short_q() {
        assert_eq!(parse_suggest(&pairs(&[("q", " Shi ")])).expect("ok"), "shi");
        assert_eq!(parse_suggest(&pairs(&[])), Err(InvalidSearch::QMissing));
        assert_eq!(
            parse_suggest(&pairs(&[("q", "  ")])),
            Err(InvalidSearch::QLength { max: MAX_Q_CHARS })
        );
        assert_eq!(
            parse_suggest(&pairs(&[("q", "a"), ("limit", "3")])),
            Err(InvalidSearch::UnknownParam("limit".into()))
        );
        assert_eq!(
            parse_suggest(&pairs(&[("q", "a"), ("q", "b")])),
            Err(InvalidSearch::Repeated { param: "q".into() })
        );
    }

    /// The sort key of a product with `count` reviews averaging `centi`
    /// hundredths: `rating_key` as the database computes it.
    fn rating_key(centi: i64, count: i64) -> i64 {
        (centi << 32) + count.min(i64::from(u32::MAX))
    }

    #[test]
    fn ratings_sort_by_average_then_count_and_filter_by_a_floor() {
        let p = parse_search(&pairs(&[("sort", "rating"), ("min_rating", "4")])).expect("ok");
        assert_eq!((p.sort, p.filters.min_rating), (Sort::Rating, Some(4)));
        let c = p.filters.constraints();
        assert_eq!(c, vec![Constraint::MinRating(4)]);
        assert_eq!((c[0].group(), c[0].prefix().as_str()), ("rating", "~r:"));
        assert_eq!(c[0].pair_token(), None);
        assert!(!c[0].passes_all(Some(0), Some(1)));
        // A higher average always sorts first, whatever the counts; then
        // more reviews; no reviews is lowest.
        assert!(rating_key(433, 1) > rating_key(432, 4_000_000_000));
        assert!(rating_key(433, 7) > rating_key(433, 6));
        assert!(rating_key(100, 1) > rating_key(0, 0));
        assert_eq!(rating_key(0, 0), 0);
        // The floor of n stars admits exactly averages of n.00 and more.
        assert!(rating_key(400, 1) >= rating_key_floor(4));
        assert!(rating_key(399, u32::MAX.into()) < rating_key_floor(4));
        assert!(rating_key(100, 1) >= rating_key_floor(1));
        let c = Cursor {
            sort: Sort::Rating,
            key: rating_key(467, 3),
            id: ProductId::new(),
        };
        assert_eq!(Cursor::decode(&c.encode()), Some(c));
    }

    #[test]
    fn price_buckets_cover_everything() {
        assert_eq!(price_bucket(0), Some((0, Some(1_000))));
        assert_eq!(price_bucket(6), Some((50_000, None)));
        assert_eq!(price_bucket(7), None);
    }
}
