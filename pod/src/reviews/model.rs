//! The reviews' rules, without I/O: what a review may say ([`NewReview`]),
//! the moderation lifecycle ([`allowed`]), what a review adds to its
//! product's rating ([`Histogram::of`], [`Histogram::delta`]) and how the
//! rating reads ([`Rating`], [`average_centi`]), and the views staff and
//! shoppers get.

use chrono::{DateTime, Utc};
use mercato_tenants::{CustomerId, OrderId, ProductId, ReviewId};
use serde::{Deserialize, Serialize};

pub use mercato_tenants::ReviewStatus;

/// Longest title, in characters.
pub const MAX_TITLE: usize = 200;
/// Longest body, in characters.
pub const MAX_BODY: usize = 5000;
/// Longest reply of the store, in characters.
pub const MAX_REPLY: usize = 5000;
/// Longest first name kept in an author's name, in characters.
const MAX_FIRST_NAME: usize = 100;

/// Why a review (or a reply, or a moderation) is refused as written. The
/// message is what the client reads.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidReview {
    #[error("rating must be a whole number of stars, 1 to 5")]
    Rating,
    #[error("title must be 1 to {max} characters on one line")]
    Title { max: usize },
    #[error("body must be at most {max} characters, without control characters")]
    Body { max: usize },
    #[error("reply must be 1 to {max} characters, without control characters")]
    Reply { max: usize },
    /// A moderation to a status staff cannot choose.
    #[error("status must be published or rejected")]
    Target,
}

/// 1 to 5 stars.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Stars(u8);

impl Stars {
    pub fn new(n: i64) -> Option<Self> {
        u8::try_from(n)
            .ok()
            .filter(|n| (1..=5).contains(n))
            .map(Self)
    }

    pub const fn get(self) -> u8 {
        self.0
    }

    /// Its place in a [`Histogram`] (one star first).
    const fn index(self) -> usize {
        self.0 as usize - 1
    }
}

/// A review as a customer writes it (`POST /api/products/{id}/reviews`).
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewReview {
    /// 1 to 5 stars.
    #[schema(minimum = 1, maximum = 5)]
    pub rating: i64,
    /// One line, 1 to 200 characters (trimmed).
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\u0000-\u0020\u007F-\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000][^\u0000-\u001F\u007F-\u009F]*$"
    )]
    pub title: String,
    /// At most 5000 characters; may hold line breaks.
    #[serde(default)]
    #[schema(max_length = 5000)]
    pub body: String,
}

/// A [`NewReview`] that passed [`NewReview::validate`]: trimmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidReview {
    pub rating: Stars,
    pub title: String,
    pub body: String,
}

/// Control characters other than line breaks and tabs (the API's JSON
/// extractor already refuses them; this keeps the rule where it is used).
fn has_stray_control(s: &str) -> bool {
    s.chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
}

impl NewReview {
    pub fn validate(&self) -> Result<ValidReview, InvalidReview> {
        let rating = Stars::new(self.rating).ok_or(InvalidReview::Rating)?;
        let title = self.title.trim();
        let n = title.chars().count();
        if n == 0 || n > MAX_TITLE || title.chars().any(char::is_control) {
            return Err(InvalidReview::Title { max: MAX_TITLE });
        }
        let body = self.body.trim();
        if body.chars().count() > MAX_BODY || has_stray_control(body) {
            return Err(InvalidReview::Body { max: MAX_BODY });
        }
        Ok(ValidReview {
            rating,
            title: title.to_owned(),
            body: body.to_owned(),
        })
    }
}

/// The store's reply, trimmed: 1 to [`MAX_REPLY`] characters.
pub fn check_reply(raw: &str) -> Result<String, InvalidReview> {
    let reply = raw.trim();
    let n = reply.chars().count();
    if n == 0 || n > MAX_REPLY || has_stray_control(reply) {
        return Err(InvalidReview::Reply { max: MAX_REPLY });
    }
    Ok(reply.to_owned())
}

/// Where staff may send a review: published or rejected, never back to
/// pending.
pub fn moderation_target(to: ReviewStatus) -> Result<ReviewStatus, InvalidReview> {
    match to {
        ReviewStatus::Pending => Err(InvalidReview::Target),
        other => Ok(other),
    }
}

/// Whether a review may go from `from` to `to`: staff publish or reject a
/// pending review, and may change their mind (published to rejected and
/// back); nothing returns to pending, nothing "moves" to where it is. The
/// only place this rule lives in Rust; the database refuses a return to
/// pending (trigger `reviews_status_transition`).
pub fn allowed(from: ReviewStatus, to: ReviewStatus) -> bool {
    use ReviewStatus::*;
    matches!(
        (from, to),
        (Pending, Published | Rejected) | (Published, Rejected) | (Rejected, Published)
    )
}

/// What a shopper sees as a review's author: the first name and the
/// initial of the last ("Ada L."), the first name alone, or "Customer".
pub fn author_name(first: &str, last: &str) -> String {
    let first: String = first.trim().chars().take(MAX_FIRST_NAME).collect();
    let initial = last.trim().chars().next().filter(|c| c.is_alphanumeric());
    match (first.is_empty(), initial) {
        (false, Some(i)) => format!("{first} {}.", i.to_uppercase()),
        (false, None) => first,
        (true, _) => "Customer".to_owned(),
    }
}

/// Published reviews of a product by stars: `[one star, ..., five stars]`.
/// Pending and rejected reviews count nowhere.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Histogram(pub [i64; 5]);

impl Histogram {
    /// What one review adds: one at its stars when published, else nothing.
    pub fn of(status: ReviewStatus, stars: Stars) -> Self {
        let mut h = Self::default();
        if status == ReviewStatus::Published {
            h.0[stars.index()] = 1;
        }
        h
    }

    /// The change to its product's histogram when a review goes from
    /// `before` to `after` (`None`: the review does not exist, before its
    /// creation or after its deletion). Adding it to the histogram of the
    /// product's reviews before gives the histogram after.
    pub fn delta(
        before: Option<(ReviewStatus, Stars)>,
        after: Option<(ReviewStatus, Stars)>,
    ) -> Self {
        let of =
            |r: Option<(ReviewStatus, Stars)>| r.map_or(Self::default(), |(s, n)| Self::of(s, n));
        of(after).minus(of(before))
    }

    pub fn plus(self, other: Self) -> Self {
        let mut out = self;
        for (o, x) in out.0.iter_mut().zip(other.0) {
            *o += x;
        }
        out
    }

    pub fn minus(self, other: Self) -> Self {
        let mut out = self;
        for (o, x) in out.0.iter_mut().zip(other.0) {
            *o -= x;
        }
        out
    }

    pub fn is_zero(&self) -> bool {
        self.0.iter().all(|n| *n == 0)
    }

    /// How many reviews.
    pub fn count(&self) -> i64 {
        self.0.iter().sum()
    }

    /// Their stars added up.
    pub fn total(&self) -> i64 {
        self.0.iter().zip(1..).map(|(n, stars)| n * stars).sum()
    }

    pub fn rating(&self) -> Rating {
        let count = self.count();
        Rating {
            average: average(average_centi(self.total(), count), count),
            count,
            histogram: self.0.to_vec(),
        }
    }
}

/// The average of `n` ratings adding up to `total`, in hundredths, rounded
/// half up (13 / 3 = 4.333... is 433; 9 / 2 = 4.5 is 450); 0 without
/// ratings. The SQL function `rating_centi` (migration
/// `20261227000024_reviews.sql`) is the same rule for search.
pub fn average_centi(total: i64, n: i64) -> i64 {
    if n <= 0 {
        return 0;
    }
    (200 * total + n) / (2 * n)
}

/// An average in hundredths as the number shoppers read (4.33), `None`
/// without ratings.
pub fn average(centi: i64, count: i64) -> Option<f64> {
    (count > 0).then(|| centi as f64 / 100.0)
}

/// A product's rating from its published reviews, as product reads carry
/// it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Rating {
    /// The mean of the published ratings, 1 to 5, rounded half up to two
    /// decimals; `null` without published reviews.
    pub average: Option<f64>,
    /// How many published reviews.
    pub count: i64,
    /// Published reviews per star: `[one star, two, three, four, five
    /// stars]`.
    #[schema(min_items = 5, max_items = 5)]
    pub histogram: Vec<i64>,
}

impl Default for Rating {
    fn default() -> Self {
        Histogram::default().rating()
    }
}

/// The store's answer to a review.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct StoreReply {
    pub body: String,
    /// When it was written or last changed.
    pub replied_at: DateTime<Utc>,
}

/// A review as staff see it, and as its author gets it when written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Review {
    pub id: ReviewId,
    pub product_id: ProductId,
    pub customer_id: CustomerId,
    /// The delivered order that made the customer eligible.
    pub order_id: OrderId,
    /// 1 to 5 stars.
    pub rating: i16,
    pub title: String,
    pub body: String,
    /// What shoppers see as the author ("Ada L.").
    pub author_name: String,
    pub status: ReviewStatus,
    pub reply: Option<StoreReply>,
    /// When staff last published or rejected it.
    pub moderated_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Review {
    pub fn stars(&self) -> Option<Stars> {
        Stars::new(i64::from(self.rating))
    }
}

/// A published review as shoppers see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct PublicReview {
    pub id: ReviewId,
    /// 1 to 5 stars.
    pub rating: i16,
    pub title: String,
    pub body: String,
    pub author_name: String,
    /// The author received the product (every review does: only customers
    /// with a delivered order line may write one).
    pub verified_purchase: bool,
    pub reply: Option<StoreReply>,
    pub created_at: DateTime<Utc>,
}

/// Which reviews a staff list shows, newest first.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub status: Option<ReviewStatus>,
    pub product: Option<ProductId>,
    pub rating: Option<Stars>,
    /// Reviews older than this one (its id).
    pub before: Option<ReviewId>,
    /// Rows to read (a page and one more).
    pub limit: i64,
}

#[cfg(test)]
mod tests {
    use super::ReviewStatus::*;
    use super::*;
    use proptest::prelude::*;

    fn stars(n: i64) -> Stars {
        Stars::new(n).expect("1 to 5")
    }

    fn review(json: serde_json::Value) -> Result<ValidReview, InvalidReview> {
        serde_json::from_value::<NewReview>(json)
            .expect("parses")
            .validate()
    }

    #[test]
    fn reviews_need_a_rating_of_one_to_five_and_a_one_line_title() {
        let ok = review(
            serde_json::json!({"rating": 5, "title": "  Great  ", "body": " Fits.\nWarm. "}),
        )
        .expect("valid");
        assert_eq!(
            ok,
            ValidReview {
                rating: stars(5),
                title: "Great".into(),
                body: "Fits.\nWarm.".into()
            }
        );
        assert!(review(serde_json::json!({"rating": 1, "title": "ok"})).is_ok());
        for bad in [0, 6, -1, 1000] {
            assert_eq!(
                review(serde_json::json!({"rating": bad, "title": "t"})),
                Err(InvalidReview::Rating)
            );
        }
        for title in ["", "   ", "two\nlines", "tab\there", &"x".repeat(201)] {
            assert_eq!(
                review(serde_json::json!({"rating": 3, "title": title})),
                Err(InvalidReview::Title { max: 200 }),
                "{title:?}"
            );
        }
        assert!(review(serde_json::json!({"rating": 3, "title": "é".repeat(200)})).is_ok());
        assert_eq!(
            review(serde_json::json!({"rating": 3, "title": "t", "body": "b".repeat(5001)})),
            Err(InvalidReview::Body { max: 5000 })
        );
        assert_eq!(
            review(serde_json::json!({"rating": 3, "title": "t", "body": "bell\u{7}"})),
            Err(InvalidReview::Body { max: 5000 })
        );
        assert!(serde_json::from_value::<NewReview>(
            serde_json::json!({"rating": 3, "title": "t", "stars": 5})
        )
        .is_err());
        assert_eq!(
            InvalidReview::Rating.to_string(),
            "rating must be a whole number of stars, 1 to 5"
        );
    }

    #[test]
    fn replies_are_trimmed_and_bounded() {
        assert_eq!(check_reply("  Thanks!\n "), Ok("Thanks!".into()));
        assert_eq!(check_reply(" "), Err(InvalidReview::Reply { max: 5000 }));
        assert_eq!(
            check_reply(&"r".repeat(5001)),
            Err(InvalidReview::Reply { max: 5000 })
        );
    }

    #[test]
    fn authors_show_a_first_name_and_an_initial() {
        assert_eq!(author_name("Ada", "Lovelace"), "Ada L.");
        assert_eq!(author_name(" Ada ", "  lovelace"), "Ada L.");
        assert_eq!(author_name("Ada", ""), "Ada");
        assert_eq!(author_name("", "Lovelace"), "Customer");
        assert_eq!(author_name(" ", " "), "Customer");
        assert_eq!(author_name(&"a".repeat(150), "b").chars().count(), 103);
    }

    #[test]
    fn staff_publish_or_reject_and_nothing_returns_to_pending() {
        for s in ReviewStatus::ALL {
            assert!(!allowed(s, s), "{s:?} to itself");
            assert!(!allowed(s, Pending), "{s:?} back to pending");
        }
        assert!(allowed(Pending, Published));
        assert!(allowed(Pending, Rejected));
        assert!(allowed(Published, Rejected));
        assert!(allowed(Rejected, Published));
        assert_eq!(moderation_target(Pending), Err(InvalidReview::Target));
        assert_eq!(moderation_target(Rejected), Ok(Rejected));
    }

    #[test]
    fn averages_round_half_up_to_hundredths() {
        assert_eq!(average_centi(0, 0), 0);
        assert_eq!(average_centi(13, 3), 433);
        assert_eq!(average_centi(14, 3), 467);
        assert_eq!(average_centi(9, 2), 450);
        // 1.005 exactly: half up.
        assert_eq!(average_centi(201, 200), 101);
        assert_eq!(average_centi(5, 1), 500);
        let r = Histogram([0, 0, 1, 1, 1]).rating();
        assert_eq!((r.average, r.count), (Some(4.0), 3));
        let r = Histogram([1, 0, 0, 1, 1]).rating();
        assert_eq!(r.average, Some(3.33));
        assert_eq!(
            serde_json::to_value(&r).expect("json"),
            serde_json::json!({"average": 3.33, "count": 3, "histogram": [1, 0, 0, 1, 1]})
        );
        assert_eq!(
            serde_json::to_value(Rating::default()).expect("json"),
            serde_json::json!({"average": null, "count": 0, "histogram": [0, 0, 0, 0, 0]})
        );
        assert_eq!(average(433, 3), Some(4.33));
        assert_eq!(average(0, 0), None);
    }

    /// A step of a review's life, as the API allows or refuses it.
    #[derive(Debug, Clone)]
    enum Step {
        Create {
            product: usize,
            customer: usize,
            stars: i64,
        },
        Moderate {
            pick: usize,
            to: ReviewStatus,
        },
        Delete {
            pick: usize,
        },
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            (0..3usize, 0..4usize, 1..=5i64).prop_map(|(product, customer, stars)| Step::Create {
                product,
                customer,
                stars
            }),
            (0..16usize, prop::sample::select(ReviewStatus::ALL.to_vec()))
                .prop_map(|(pick, to)| Step::Moderate { pick, to }),
            (0..16usize).prop_map(|pick| Step::Delete { pick }),
        ]
    }

    proptest! {
        /// Any sequence of creations, moderations and deletions, each
        /// refused as the API refuses it (a second review of a product by a
        /// customer, a transition `allowed` refuses) and each applying only
        /// its delta to its product's histogram: every product's histogram
        /// is always exactly its published reviews counted again, never
        /// negative, and its average within 1 to 5.
        #[test]
        fn histograms_kept_by_deltas_equal_a_recount(steps in prop::collection::vec(step(), 0..60)) {
            // (product, customer, stars, status) of each review alive.
            let mut reviews: Vec<(usize, usize, Stars, ReviewStatus)> = Vec::new();
            let mut kept = [Histogram::default(); 3];
            for s in steps {
                match s {
                    Step::Create { product, customer, stars: n } => {
                        if reviews.iter().any(|r| r.0 == product && r.1 == customer) {
                            continue; // already reviewed
                        }
                        let n = stars(n);
                        kept[product] = kept[product].plus(Histogram::delta(None, Some((Pending, n))));
                        reviews.push((product, customer, n, Pending));
                    }
                    Step::Moderate { pick, to } => {
                        let Some(r) = (!reviews.is_empty()).then(|| pick % reviews.len()) else { continue };
                        let (product, _, n, from) = reviews[r];
                        if !allowed(from, to) {
                            continue;
                        }
                        kept[product] = kept[product].plus(Histogram::delta(Some((from, n)), Some((to, n))));
                        reviews[r].3 = to;
                    }
                    Step::Delete { pick } => {
                        let Some(r) = (!reviews.is_empty()).then(|| pick % reviews.len()) else { continue };
                        let (product, _, n, status) = reviews.remove(r);
                        kept[product] = kept[product].plus(Histogram::delta(Some((status, n)), None));
                    }
                }
                for (product, h) in kept.iter().enumerate() {
                    let recount = reviews
                        .iter()
                        .filter(|r| r.0 == product)
                        .fold(Histogram::default(), |acc, r| acc.plus(Histogram::of(r.3, r.2)));
                    prop_assert_eq!(*h, recount);
                    prop_assert!(h.0.iter().all(|n| *n >= 0));
                    let rating = h.rating();
                    prop_assert_eq!(rating.count, reviews.iter().filter(|r| r.0 == product && r.3 == Published).count() as i64);
                    match rating.average {
                        None => prop_assert_eq!(rating.count, 0),
                        Some(a) => prop_assert!((1.0..=5.0).contains(&a), "{a}"),
                    }
                }
            }
        }

        /// The rounded average is the exact one within half a hundredth,
        /// rounding up on the half.
        #[test]
        fn the_average_is_the_mean_rounded_half_up(h in prop::array::uniform5(0..1000i64)) {
            let h = Histogram(h);
            let (total, n) = (h.total(), h.count());
            prop_assume!(n > 0);
            let centi = average_centi(total, n);
            // centi/100 - 1/200 <= total/n < centi/100 + 1/200
            prop_assert!((2 * centi - 1) * n <= 200 * total);
            prop_assert!(200 * total < (2 * centi + 1) * n);
            prop_assert!((100..=500).contains(&centi));
        }
    }
}
