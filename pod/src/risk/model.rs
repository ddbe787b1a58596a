//! The risk decision, pure: no I/O, property-tested here.
//!
//! [`decide`] scores one checkout from the store's [`RiskSettings`] and the
//! checkout's [`Signals`] and answers an [`Assessment`]: [`Outcome::Allow`]
//! (capture), [`Outcome::Review`] (keep the authorization, let staff
//! decide) or [`Outcome::Block`] (void). Every rule that fires adds a
//! [`Reason`] with a stable [`ReasonCode`] and the level it asks for; the
//! outcome is the highest level asked, and the score adds
//! [`REVIEW_POINTS`] per review reason and [`BLOCK_POINTS`] per block
//! reason (a number to sort a review queue by, not what decides).
//!
//! The rules, each with its setting (`null` turns a threshold off):
//! - the order's amount at or above `review_amount_minor` /
//!   `block_amount_minor` (`high_amount`);
//! - per email, per client address and per card fingerprint, attempts in
//!   the last hour (this one included) and declines in the last hour at or
//!   above their review / block thresholds (`email_attempts`,
//!   `email_declines`, `client_attempts`, ..., `card_declines`);
//! - a billing country that is not the shipping country
//!   (`country_mismatch`, review or ignore);
//! - no paid order before and an amount at or above
//!   `first_order_amount_minor` (`first_order_amount`, review);
//! - an email at a disposable domain, built in ([`DISPOSABLE_DOMAINS`]) or
//!   the store's own (`disposable_email`, review).
//!
//! **The allow-list.** A signed-in customer whose id, or whose email, is on
//! the store's allow-list is never blocked: a finding that would block
//! them sends the order to review instead (a stolen account on the list
//! still meets a human), and a finding that would only review them is
//! let through (`allow_listed` is added to the reasons whenever the list
//! changed the outcome). A guest is never allow-listed by email: anyone can
//! type one.
//!
//! The rules are monotone: the outcome never gets milder when the amount or
//! any velocity count grows (the property tests below hold this).
//!
//! Amounts are minor units of the store's currency (the checkout's
//! currency is the store's).

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

/// The most an amount threshold may be: the gateway's largest amount.
pub const MAX_AMOUNT_MINOR: i64 = 1_000_000_000_000;
/// The most a velocity threshold may be (per hour).
pub const MAX_COUNT: u32 = 10_000;
/// The most extra disposable domains a store may list.
pub const MAX_EXTRA_DOMAINS: usize = 500;
/// The most customer ids, and the most emails, on a store's allow-list.
pub const MAX_ALLOW_LISTED: usize = 1_000;
/// Score of one reason that asks for review.
pub const REVIEW_POINTS: u32 = 30;
/// Score of one reason that asks to block.
pub const BLOCK_POINTS: u32 = 100;

/// The built-in disposable email domains (see the file's header for where
/// the list comes from).
pub const DISPOSABLE_DOMAINS: &str = include_str!("disposable_domains.txt");

/// What to do with a checkout. Ordered: `Allow < Review < Block`.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Capture the payment.
    Allow,
    /// Keep the authorization uncaptured; staff approve or cancel.
    Review,
    /// Void the authorization; the checkout fails.
    Block,
}

impl Outcome {
    pub const fn as_str(self) -> &'static str {
        match self {
            Outcome::Allow => "allow",
            Outcome::Review => "review",
            Outcome::Block => "block",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "allow" => Some(Outcome::Allow),
            "review" => Some(Outcome::Review),
            "block" => Some(Outcome::Block),
            _ => None,
        }
    }
}

/// Why a rule fired: a stable code (staff tools and tests match on it).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ReasonCode {
    HighAmount,
    EmailAttempts,
    EmailDeclines,
    ClientAttempts,
    ClientDeclines,
    CardAttempts,
    CardDeclines,
    CountryMismatch,
    FirstOrderAmount,
    DisposableEmail,
    /// The allow-list softened the outcome (block to review, review to
    /// allow); the other reasons say what it softened.
    AllowListed,
}

/// One rule that fired.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Reason {
    pub code: ReasonCode,
    /// What this rule asked for (`allow` only for `allow_listed`).
    pub level: Outcome,
    /// The value the rule saw (an amount, a count), when it has one.
    pub observed: Option<i64>,
    /// The threshold it was compared with, when it has one.
    pub threshold: Option<i64>,
}

/// The decision on one checkout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Assessment {
    pub outcome: Outcome,
    /// [`REVIEW_POINTS`] per review reason plus [`BLOCK_POINTS`] per block
    /// reason: higher is riskier; to sort by, not what decides.
    pub score: u32,
    /// Every rule that fired, in a fixed order.
    pub reasons: Vec<Reason>,
}

/// What a billing country that is not the shipping country does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MismatchRule {
    Review,
    Ignore,
}

/// Velocity thresholds for one key (an email, a client address or a card):
/// counts in the last hour at or above a threshold review or block; `null`
/// (or left out of the object) turns that threshold off. Each is 1 to
/// 10,000, and a review threshold must be below its block threshold when
/// both are set (`422`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VelocityLimits {
    /// Checkout attempts in the last hour, this one included, that send
    /// the order to review.
    #[schema(minimum = 1, maximum = 10000)]
    pub review_attempts: Option<u32>,
    /// Checkout attempts in the last hour, this one included, that block
    /// the order.
    #[schema(minimum = 1, maximum = 10000)]
    pub block_attempts: Option<u32>,
    /// Declined payments in the last hour that send the order to review.
    #[schema(minimum = 1, maximum = 10000)]
    pub review_declines: Option<u32>,
    /// Declined payments in the last hour that block the order.
    #[schema(minimum = 1, maximum = 10000)]
    pub block_declines: Option<u32>,
}

impl VelocityLimits {
    const fn new(
        review_attempts: u32,
        block_attempts: u32,
        review_declines: u32,
        block_declines: u32,
    ) -> Self {
        Self {
            review_attempts: Some(review_attempts),
            block_attempts: Some(block_attempts),
            review_declines: Some(review_declines),
            block_declines: Some(block_declines),
        }
    }
}

/// A domain name in a request (for the OpenAPI documents).
pub struct DomainItem;

impl utoipa::PartialSchema for DomainItem {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .max_length(Some(253))
            .pattern(Some(DOMAIN_PATTERN))
            .description(Some(
                "a domain name such as `mail.example`, at most 253 characters",
            ))
            .into()
    }
}

impl utoipa::ToSchema for DomainItem {}

/// An email address in a request (for the OpenAPI documents).
pub struct EmailItem;

impl utoipa::PartialSchema for EmailItem {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .max_length(Some(254))
            .pattern(Some(EMAIL_PATTERN))
            .description(Some("an email address, matched without case"))
            .into()
    }
}

impl utoipa::ToSchema for EmailItem {}

const DOMAIN_PATTERN: &str = r"^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$";
const EMAIL_PATTERN: &str = r"^[!-?A-~]{1,64}@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$";

/// A store's risk thresholds (`GET/PUT /admin/api/settings/risk`). A field
/// left out of a `PUT` takes its default; `null` turns a threshold off.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct RiskSettings {
    /// An order total (minor units) at or above this goes to review.
    /// Default 200,000 (2,000.00 in a two-decimal currency); 1 to 10^12.
    #[schema(minimum = 1, maximum = 1000000000000_i64)]
    pub review_amount_minor: Option<i64>,
    /// An order total at or above this is blocked. Default off; 1 to
    /// 10^12, above `review_amount_minor` when both are set.
    #[schema(minimum = 1, maximum = 1000000000000_i64)]
    pub block_amount_minor: Option<i64>,
    /// Per email (lower-cased). Default: review at 5 attempts or 3
    /// declines an hour, block at 15 attempts or 8 declines.
    pub email: VelocityLimits,
    /// Per client address (the router's `x-forwarded-for`; many shoppers
    /// may share one). Default: review at 10 attempts or 5 declines,
    /// block at 40 attempts or 15 declines.
    pub client: VelocityLimits,
    /// Per card (the gateway's fingerprint). Default: review at 4 attempts
    /// or 3 declines, block at 12 attempts or 6 declines.
    pub card: VelocityLimits,
    /// A billing country other than the shipping country. Default `review`.
    pub country_mismatch: MismatchRule,
    /// A shopper's first paid order at or above this total goes to review.
    /// Default 50,000; 1 to 10^12.
    #[schema(minimum = 1, maximum = 1000000000000_i64)]
    pub first_order_amount_minor: Option<i64>,
    /// Whether an email at a disposable domain goes to review. Default
    /// `true`.
    pub disposable_email: bool,
    /// The store's own disposable domains, besides the built-in list (a
    /// domain matches itself and its subdomains). At most 500.
    #[schema(value_type = Vec<DomainItem>, max_items = 500)]
    pub extra_disposable_domains: Vec<String>,
    /// Customers never blocked (see the allow-list rule). At most 1,000.
    #[schema(max_items = 1000)]
    pub allow_customer_ids: Vec<uuid::Uuid>,
    /// Emails of signed-in customers never blocked. At most 1,000.
    #[schema(value_type = Vec<EmailItem>, max_items = 1000)]
    pub allow_emails: Vec<String>,
}

impl Default for RiskSettings {
    fn default() -> Self {
        Self {
            review_amount_minor: Some(200_000),
            block_amount_minor: None,
            email: VelocityLimits::new(5, 15, 3, 8),
            client: VelocityLimits::new(10, 40, 5, 15),
            card: VelocityLimits::new(4, 12, 3, 6),
            country_mismatch: MismatchRule::Review,
            first_order_amount_minor: Some(50_000),
            disposable_email: true,
            extra_disposable_domains: Vec::new(),
            allow_customer_ids: Vec::new(),
            allow_emails: Vec::new(),
        }
    }
}

/// Why settings were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingsError {
    /// A value out of its documented bounds, or not a domain or an email
    /// (a request the documents already refuse: `400`).
    #[error("{0}")]
    OutOfBounds(String),
    /// A rule between fields: a review threshold not below its block
    /// threshold (`422`).
    #[error("{0}")]
    Inconsistent(String),
}

impl RiskSettings {
    /// Checks every bound and rule, and normalizes: domains and emails
    /// lower-cased, trimmed, sorted and without repeats.
    pub fn validated(mut self) -> Result<Self, SettingsError> {
        let amounts = [
            ("review_amount_minor", self.review_amount_minor),
            ("block_amount_minor", self.block_amount_minor),
            ("first_order_amount_minor", self.first_order_amount_minor),
        ];
        for (field, value) in amounts {
            if value.is_some_and(|v| !(1..=MAX_AMOUNT_MINOR).contains(&v)) {
                return Err(SettingsError::OutOfBounds(format!(
                    "{field} must be 1 to {MAX_AMOUNT_MINOR} (or null: off)"
                )));
            }
        }
        ordered(
            "review_amount_minor",
            self.review_amount_minor,
            "block_amount_minor",
            self.block_amount_minor,
        )?;
        for (key, limits) in [
            ("email", &self.email),
            ("client", &self.client),
            ("card", &self.card),
        ] {
            let counts = [
                ("review_attempts", limits.review_attempts),
                ("block_attempts", limits.block_attempts),
                ("review_declines", limits.review_declines),
                ("block_declines", limits.block_declines),
            ];
            for (field, value) in counts {
                if value.is_some_and(|v| !(1..=MAX_COUNT).contains(&v)) {
                    return Err(SettingsError::OutOfBounds(format!(
                        "{key}.{field} must be 1 to {MAX_COUNT} (or null: off)"
                    )));
                }
            }
            ordered(
                &format!("{key}.review_attempts"),
                limits.review_attempts,
                &format!("{key}.block_attempts"),
                limits.block_attempts,
            )?;
            ordered(
                &format!("{key}.review_declines"),
                limits.review_declines,
                &format!("{key}.block_declines"),
                limits.block_declines,
            )?;
        }
        if self.extra_disposable_domains.len() > MAX_EXTRA_DOMAINS {
            return Err(SettingsError::OutOfBounds(format!(
                "extra_disposable_domains holds at most {MAX_EXTRA_DOMAINS} domains"
            )));
        }
        if self.allow_customer_ids.len() > MAX_ALLOW_LISTED
            || self.allow_emails.len() > MAX_ALLOW_LISTED
        {
            return Err(SettingsError::OutOfBounds(format!(
                "allow_customer_ids and allow_emails hold at most {MAX_ALLOW_LISTED} entries each"
            )));
        }
        let mut domains = BTreeSet::new();
        for raw in &self.extra_disposable_domains {
            let domain = raw.to_ascii_lowercase();
            if !is_domain(&domain) {
                return Err(SettingsError::OutOfBounds(
                    "extra_disposable_domains must be domain names such as mail.example".into(),
                ));
            }
            domains.insert(domain);
        }
        self.extra_disposable_domains = domains.into_iter().collect();
        let mut emails = BTreeSet::new();
        for raw in &self.allow_emails {
            let email = mercato_tenants::account::Email::parse(raw)
                .ok()
                .filter(|_| is_email_shape(raw))
                .ok_or_else(|| {
                    SettingsError::OutOfBounds(
                        "allow_emails must be email addresses such as name@example.com".into(),
                    )
                })?;
            emails.insert(email.as_str().to_owned());
        }
        self.allow_emails = emails.into_iter().collect();
        let ids: BTreeSet<uuid::Uuid> = self.allow_customer_ids.iter().copied().collect();
        self.allow_customer_ids = ids.into_iter().collect();
        Ok(self)
    }
}

/// `review` must be below `block` when both are set.
fn ordered<T: PartialOrd + std::fmt::Display>(
    review_field: &str,
    review: Option<T>,
    block_field: &str,
    block: Option<T>,
) -> Result<(), SettingsError> {
    match (review, block) {
        (Some(r), Some(b)) if r >= b => Err(SettingsError::Inconsistent(format!(
            "{review_field} ({r}) must be below {block_field} ({b})"
        ))),
        _ => Ok(()),
    }
}

/// A domain name as [`DOMAIN_PATTERN`] says: at least two labels of 1 to
/// 63 letters, digits and inner hyphens, at most 253 characters.
fn is_domain(domain: &str) -> bool {
    domain.len() <= 253
        && domain.split('.').count() >= 2
        && domain.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// An email as [`EMAIL_PATTERN`] says (the local part printable ASCII but
/// `@`, the domain a domain name).
fn is_email_shape(raw: &str) -> bool {
    let Some((local, domain)) = raw.split_once('@') else {
        return false;
    };
    raw.len() <= 254
        && (1..=64).contains(&local.len())
        && local
            .bytes()
            .all(|b| (b'!'..=b'~').contains(&b) && b != b'@')
        && is_domain(domain)
}

/// Velocity counts for one key in the last hour.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Checkout attempts, this one included.
    pub attempts: u32,
    /// Declined payments.
    pub declines: u32,
}

/// What the decision looks at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signals {
    /// The order's total, minor units of `currency`.
    pub amount_minor: i64,
    /// ISO 4217 (the store's currency).
    pub currency: String,
    /// The checkout's email, lower-cased.
    pub email: String,
    /// The signed-in customer, if any.
    pub customer_id: Option<uuid::Uuid>,
    /// Paid orders of this customer or email before this one.
    pub orders_before: u32,
    /// ISO 3166-1 alpha-2.
    pub shipping_country: String,
    /// ISO 3166-1 alpha-2, when the checkout has a billing address (or the
    /// gateway knows the card's country).
    pub billing_country: Option<String>,
    pub email_counts: Counts,
    pub client_counts: Counts,
    pub card_counts: Counts,
}

/// The level a value asks for against its two thresholds.
fn level<T: PartialOrd>(value: T, review: Option<T>, block: Option<T>) -> Outcome {
    if block.as_ref().is_some_and(|b| value >= *b) {
        Outcome::Block
    } else if review.as_ref().is_some_and(|r| value >= *r) {
        Outcome::Review
    } else {
        Outcome::Allow
    }
}

/// Whether `email`'s domain, or a parent of it, is disposable for this
/// store.
pub fn is_disposable(settings: &RiskSettings, email: &str) -> bool {
    let Some((_, domain)) = email.rsplit_once('@') else {
        return false;
    };
    let domain = domain.to_ascii_lowercase();
    let mut candidate = domain.as_str();
    loop {
        if builtin_disposable(candidate)
            || settings
                .extra_disposable_domains
                .binary_search_by(|d| d.as_str().cmp(candidate))
                .is_ok()
        {
            return true;
        }
        match candidate.split_once('.') {
            Some((_, parent)) if parent.contains('.') => candidate = parent,
            _ => return false,
        }
    }
}

fn builtin_disposable(domain: &str) -> bool {
    static SET: std::sync::LazyLock<std::collections::HashSet<&'static str>> =
        std::sync::LazyLock::new(|| {
            DISPOSABLE_DOMAINS
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .collect()
        });
    SET.contains(domain)
}

/// Whether the checkout's customer is on the store's allow-list (a guest
/// never is).
pub fn is_allow_listed(settings: &RiskSettings, signals: &Signals) -> bool {
    let Some(customer) = signals.customer_id else {
        return false;
    };
    settings.allow_customer_ids.contains(&customer)
        || settings
            .allow_emails
            .binary_search_by(|e| e.as_str().cmp(&signals.email.to_ascii_lowercase()))
            .is_ok()
}

/// The decision on one checkout (see the module's docs).
pub fn decide(settings: &RiskSettings, signals: &Signals) -> Assessment {
    let mut reasons = Vec::new();
    let mut fire = |code, level: Outcome, observed: Option<i64>, threshold: Option<i64>| {
        if level > Outcome::Allow {
            reasons.push(Reason {
                code,
                level,
                observed,
                threshold,
            });
        }
    };
    let amount = signals.amount_minor;
    let amount_level = level(
        amount,
        settings.review_amount_minor,
        settings.block_amount_minor,
    );
    let amount_threshold = match amount_level {
        Outcome::Block => settings.block_amount_minor,
        _ => settings.review_amount_minor,
    };
    fire(
        ReasonCode::HighAmount,
        amount_level,
        Some(amount),
        amount_threshold,
    );
    let keys = [
        (
            ReasonCode::EmailAttempts,
            ReasonCode::EmailDeclines,
            &settings.email,
            signals.email_counts,
        ),
        (
            ReasonCode::ClientAttempts,
            ReasonCode::ClientDeclines,
            &settings.client,
            signals.client_counts,
        ),
        (
            ReasonCode::CardAttempts,
            ReasonCode::CardDeclines,
            &settings.card,
            signals.card_counts,
        ),
    ];
    for (attempts_code, declines_code, limits, counts) in keys {
        let rules = [
            (
                attempts_code,
                counts.attempts,
                limits.review_attempts,
                limits.block_attempts,
            ),
            (
                declines_code,
                counts.declines,
                limits.review_declines,
                limits.block_declines,
            ),
        ];
        for (code, value, review, block) in rules {
            let at = level(value, review, block);
            let threshold = match at {
                Outcome::Block => block,
                _ => review,
            };
            fire(code, at, Some(value.into()), threshold.map(i64::from));
        }
    }
    if settings.country_mismatch == MismatchRule::Review {
        if let Some(billing) = &signals.billing_country {
            if !billing.eq_ignore_ascii_case(&signals.shipping_country) {
                fire(ReasonCode::CountryMismatch, Outcome::Review, None, None);
            }
        }
    }
    if signals.orders_before == 0 {
        let at = level(amount, settings.first_order_amount_minor, None);
        fire(
            ReasonCode::FirstOrderAmount,
            at,
            Some(amount),
            settings.first_order_amount_minor,
        );
    }
    if settings.disposable_email && is_disposable(settings, &signals.email) {
        fire(ReasonCode::DisposableEmail, Outcome::Review, None, None);
    }
    let score = reasons
        .iter()
        .map(|r| match r.level {
            Outcome::Block => BLOCK_POINTS,
            Outcome::Review => REVIEW_POINTS,
            Outcome::Allow => 0,
        })
        .sum();
    let found = reasons
        .iter()
        .map(|r| r.level)
        .max()
        .unwrap_or(Outcome::Allow);
    let outcome = if found > Outcome::Allow && is_allow_listed(settings, signals) {
        let softened = match found {
            Outcome::Block => Outcome::Review,
            _ => Outcome::Allow,
        };
        reasons.push(Reason {
            code: ReasonCode::AllowListed,
            level: softened,
            observed: None,
            threshold: None,
        });
        softened
    } else {
        found
    };
    Assessment {
        outcome,
        score,
        reasons,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn signals() -> Signals {
        Signals {
            amount_minor: 5_000,
            currency: "USD".into(),
            email: "ann@example.com".into(),
            customer_id: None,
            orders_before: 3,
            shipping_country: "US".into(),
            billing_country: Some("US".into()),
            email_counts: Counts {
                attempts: 1,
                declines: 0,
            },
            client_counts: Counts {
                attempts: 1,
                declines: 0,
            },
            card_counts: Counts {
                attempts: 1,
                declines: 0,
            },
        }
    }

    fn codes(a: &Assessment) -> Vec<ReasonCode> {
        a.reasons.iter().map(|r| r.code).collect()
    }

    #[test]
    fn an_ordinary_checkout_is_allowed_with_no_reasons() {
        let a = decide(&RiskSettings::default(), &signals());
        assert_eq!(a.outcome, Outcome::Allow);
        assert_eq!(a.score, 0);
        assert!(a.reasons.is_empty());
    }

    #[test]
    fn each_rule_fires_with_its_code() {
        let settings = RiskSettings {
            block_amount_minor: Some(1_000_000),
            ..RiskSettings::default()
        };
        let mut s = signals();
        s.amount_minor = 200_000;
        let a = decide(&settings, &s);
        assert_eq!(codes(&a), [ReasonCode::HighAmount]);
        assert_eq!(a.outcome, Outcome::Review);
        assert_eq!(a.reasons[0].threshold, Some(200_000));
        s.amount_minor = 1_000_000;
        let a = decide(&settings, &s);
        assert_eq!(a.outcome, Outcome::Block);
        assert_eq!(a.reasons[0].threshold, Some(1_000_000));
        assert_eq!(a.score, BLOCK_POINTS);

        let mut s = signals();
        s.card_counts.declines = 6;
        s.email_counts.attempts = 5;
        let a = decide(&RiskSettings::default(), &s);
        assert_eq!(
            codes(&a),
            [ReasonCode::EmailAttempts, ReasonCode::CardDeclines]
        );
        assert_eq!(a.outcome, Outcome::Block);
        assert_eq!(a.score, REVIEW_POINTS + BLOCK_POINTS);

        let mut s = signals();
        s.billing_country = Some("fr".into());
        assert_eq!(
            codes(&decide(&RiskSettings::default(), &s)),
            [ReasonCode::CountryMismatch]
        );
        let ignore = RiskSettings {
            country_mismatch: MismatchRule::Ignore,
            ..RiskSettings::default()
        };
        assert_eq!(decide(&ignore, &s).outcome, Outcome::Allow);
        s.billing_country = Some("us".into());
        assert_eq!(decide(&RiskSettings::default(), &s).outcome, Outcome::Allow);

        let mut s = signals();
        s.orders_before = 0;
        s.amount_minor = 50_000;
        assert_eq!(
            codes(&decide(&RiskSettings::default(), &s)),
            [ReasonCode::FirstOrderAmount]
        );
        s.amount_minor = 49_999;
        assert_eq!(decide(&RiskSettings::default(), &s).outcome, Outcome::Allow);
    }

    #[test]
    fn disposable_domains_match_themselves_and_their_subdomains() {
        let settings = RiskSettings {
            extra_disposable_domains: vec!["burner.example".into()],
            ..RiskSettings::default()
        };
        for email in [
            "x@mailinator.com",
            "x@MAILINATOR.COM",
            "x@eu.mailinator.com",
            "x@yopmail.fr",
            "x@burner.example",
            "x@a.b.burner.example",
        ] {
            assert!(is_disposable(&settings, email), "{email}");
        }
        for email in ["x@example.com", "x@com", "x@mailinator.com.evil", "nobody"] {
            assert!(!is_disposable(&settings, email), "{email}");
        }
        let mut s = signals();
        s.email = "x@guerrillamail.com".into();
        assert_eq!(codes(&decide(&settings, &s)), [ReasonCode::DisposableEmail]);
        let off = RiskSettings {
            disposable_email: false,
            ..settings
        };
        assert_eq!(decide(&off, &s).outcome, Outcome::Allow);
    }

    #[test]
    fn the_builtin_list_is_lower_case_domains_without_repeats() {
        let mut seen = BTreeSet::new();
        for line in DISPOSABLE_DOMAINS.lines().filter(|l| !l.starts_with('#')) {
            assert!(is_domain(line), "{line:?}");
            assert_eq!(line, line.to_ascii_lowercase());
            assert!(seen.insert(line), "{line} twice");
        }
        assert!(seen.len() >= 300, "{}", seen.len());
    }

    #[test]
    fn the_allow_list_softens_block_to_review_and_review_to_allow() {
        let customer = uuid::Uuid::from_u128(7);
        let settings = RiskSettings {
            allow_customer_ids: vec![customer],
            allow_emails: vec!["vip@example.com".into()],
            ..RiskSettings::default()
        };
        let mut s = signals();
        s.customer_id = Some(customer);
        s.card_counts.declines = 50;
        let a = decide(&settings, &s);
        assert_eq!(a.outcome, Outcome::Review);
        assert_eq!(
            codes(&a),
            [ReasonCode::CardDeclines, ReasonCode::AllowListed]
        );
        s.card_counts.declines = 3;
        assert_eq!(decide(&settings, &s).outcome, Outcome::Allow);

        // By email: only signed in, never a guest who types it.
        let mut s = signals();
        s.email = "vip@example.com".into();
        s.amount_minor = 300_000;
        assert_eq!(decide(&settings, &s).outcome, Outcome::Review);
        s.customer_id = Some(uuid::Uuid::from_u128(8));
        assert_eq!(decide(&settings, &s).outcome, Outcome::Allow);
    }

    #[test]
    fn validation_refuses_nonsense_and_normalizes_lists() {
        assert!(RiskSettings::default().validated().is_ok());
        let bad = [
            RiskSettings {
                review_amount_minor: Some(0),
                ..RiskSettings::default()
            },
            RiskSettings {
                first_order_amount_minor: Some(MAX_AMOUNT_MINOR + 1),
                ..RiskSettings::default()
            },
            RiskSettings {
                card: VelocityLimits {
                    review_attempts: Some(MAX_COUNT + 1),
                    block_attempts: None,
                    review_declines: None,
                    block_declines: None,
                },
                ..RiskSettings::default()
            },
            RiskSettings {
                extra_disposable_domains: vec!["not a domain".into()],
                ..RiskSettings::default()
            },
            RiskSettings {
                extra_disposable_domains: vec!["com".into()],
                ..RiskSettings::default()
            },
            RiskSettings {
                allow_emails: vec!["nobody".into()],
                ..RiskSettings::default()
            },
            RiskSettings {
                allow_customer_ids: vec![uuid::Uuid::nil(); MAX_ALLOW_LISTED + 1],
                ..RiskSettings::default()
            },
        ];
        for settings in bad {
            assert!(
                matches!(
                    settings.clone().validated(),
                    Err(SettingsError::OutOfBounds(_))
                ),
                "{settings:?}"
            );
        }
        let inconsistent = [
            RiskSettings {
                review_amount_minor: Some(500),
                block_amount_minor: Some(400),
                ..RiskSettings::default()
            },
            RiskSettings {
                review_amount_minor: Some(500),
                block_amount_minor: Some(500),
                ..RiskSettings::default()
            },
            RiskSettings {
                email: VelocityLimits::new(5, 15, 9, 8),
                ..RiskSettings::default()
            },
            RiskSettings {
                client: VelocityLimits::new(50, 40, 5, 15),
                ..RiskSettings::default()
            },
        ];
        for settings in inconsistent {
            assert!(
                matches!(
                    settings.clone().validated(),
                    Err(SettingsError::Inconsistent(_))
                ),
                "{settings:?}"
            );
        }
        let normalized = RiskSettings {
            extra_disposable_domains: vec![
                "B.example".into(),
                "a.example".into(),
                "b.EXAMPLE".into(),
            ],
            allow_emails: vec!["Ann@Example.com".into(), "ann@example.com".into()],
            ..RiskSettings::default()
        }
        .validated()
        .expect("valid");
        assert_eq!(
            normalized.extra_disposable_domains,
            ["a.example", "b.example"]
        );
        assert_eq!(normalized.allow_emails, ["ann@example.com"]);
    }

    #[test]
    fn settings_read_with_defaults_for_what_is_left_out() {
        let read: RiskSettings =
            serde_json::from_str(r#"{"block_amount_minor": 900000, "review_amount_minor": null}"#)
                .expect("reads");
        assert_eq!(read.block_amount_minor, Some(900_000));
        assert_eq!(read.review_amount_minor, None);
        assert_eq!(read.email, RiskSettings::default().email);
        assert!(serde_json::from_str::<RiskSettings>(r#"{"nope": 1}"#).is_err());
        let back: RiskSettings =
            serde_json::from_value(serde_json::to_value(RiskSettings::default()).expect("json"))
                .expect("round trip");
        assert_eq!(back, RiskSettings::default());
    }

    fn threshold_pair(max: i64) -> impl Strategy<Value = (Option<i64>, Option<i64>)> {
        (proptest::option::of(1..=max), proptest::option::of(1..=max)).prop_map(|(a, b)| {
            match (a, b) {
                (Some(a), Some(b)) if a == b => (Some(a), None),
                (Some(a), Some(b)) => (Some(a.min(b)), Some(a.max(b))),
                other => other,
            }
        })
    }

    fn limits() -> impl Strategy<Value = VelocityLimits> {
        (threshold_pair(30), threshold_pair(30)).prop_map(|((ra, ba), (rd, bd))| {
            let c = |v: Option<i64>| v.map(|v| v as u32);
            VelocityLimits {
                review_attempts: c(ra),
                block_attempts: c(ba),
                review_declines: c(rd),
                block_declines: c(bd),
            }
        })
    }

    prop_compose! {
        fn settings()(
            (review_amount_minor, block_amount_minor) in threshold_pair(100_000),
            email in limits(),
            client in limits(),
            card in limits(),
            mismatch in any::<bool>(),
            first_order_amount_minor in proptest::option::of(1i64..=100_000),
            disposable_email in any::<bool>(),
            allow in proptest::collection::vec(0u128..4, 0..3),
        ) -> RiskSettings {
            RiskSettings {
                review_amount_minor,
                block_amount_minor,
                email,
                client,
                card,
                country_mismatch: if mismatch { MismatchRule::Review } else { MismatchRule::Ignore },
                first_order_amount_minor,
                disposable_email,
                extra_disposable_domains: vec!["burner.example".into()],
                allow_customer_ids: allow.into_iter().map(uuid::Uuid::from_u128).collect(),
                allow_emails: vec!["vip@example.com".into()],
            }
            .validated()
            .expect("generated settings are valid")
        }
    }

    fn counts() -> impl Strategy<Value = Counts> {
        (1u32..40, 0u32..40).prop_map(|(attempts, declines)| Counts { attempts, declines })
    }

    prop_compose! {
        fn any_signals()(
            amount_minor in 1i64..200_000,
            email in prop::sample::select(vec!["ann@example.com", "vip@example.com", "x@mailinator.com", "y@burner.example"]),
            customer in proptest::option::of(0u128..6),
            orders_before in 0u32..3,
            billing in proptest::option::of(prop::sample::select(vec!["US", "FR"])),
            email_counts in counts(),
            client_counts in counts(),
            card_counts in counts(),
        ) -> Signals {
            Signals {
                amount_minor,
                currency: "USD".into(),
                email: email.into(),
                customer_id: customer.map(uuid::Uuid::from_u128),
                orders_before,
                shipping_country: "US".into(),
                billing_country: billing.map(str::to_owned),
                email_counts,
                client_counts,
                card_counts,
            }
        }
    }

    /// Every way to make one signal larger.
    fn grow(s: &Signals, which: usize, by: u32) -> Signals {
        let mut g = s.clone();
        match which {
            0 => g.amount_minor += i64::from(by) * 1_000,
            1 => g.email_counts.attempts += by,
            2 => g.email_counts.declines += by,
            3 => g.client_counts.attempts += by,
            4 => g.client_counts.declines += by,
            5 => g.card_counts.attempts += by,
            _ => g.card_counts.declines += by,
        }
        g
    }

    proptest! {
        #[test]
        fn the_outcome_never_gets_milder_as_amount_or_velocity_grows(
            settings in settings(),
            s in any_signals(),
            which in 0usize..7,
            by in 1u32..30,
        ) {
            let before = decide(&settings, &s);
            let after = decide(&settings, &grow(&s, which, by));
            prop_assert!(after.outcome >= before.outcome, "{before:?} then {after:?}");
            prop_assert!(after.score >= before.score, "{before:?} then {after:?}");
        }

        #[test]
        fn an_allow_listed_customer_is_never_blocked(
            settings in settings(),
            mut s in any_signals(),
            pick in 0usize..2,
        ) {
            if pick == 0 {
                let Some(&id) = settings.allow_customer_ids.first() else { return Ok(()); };
                s.customer_id = Some(id);
            } else {
                s.customer_id = Some(uuid::Uuid::from_u128(99));
                s.email = "vip@example.com".into();
            }
            let a = decide(&settings, &s);
            prop_assert!(a.outcome < Outcome::Block, "{a:?}");
        }

        #[test]
        fn the_outcome_is_the_highest_level_asked_unless_allow_listed(
            settings in settings(),
            s in any_signals(),
        ) {
            let a = decide(&settings, &s);
            let highest = a.reasons.iter().filter(|r| r.code != ReasonCode::AllowListed)
                .map(|r| r.level).max().unwrap_or(Outcome::Allow);
            if is_allow_listed(&settings, &s) {
                prop_assert!(a.outcome <= highest);
            } else {
                prop_assert_eq!(a.outcome, highest);
            }
        }

        #[test]
        fn a_review_threshold_not_below_its_block_threshold_is_refused(
            review in 1i64..1_000, block in 1i64..1_000,
        ) {
            let settings = RiskSettings {
                review_amount_minor: Some(review),
                block_amount_minor: Some(block),
                card: VelocityLimits {
                    review_declines: Some(review as u32),
                    block_declines: Some(block as u32),
                    ..RiskSettings::default().card
                },
                ..RiskSettings::default()
            };
            let valid = settings.validated();
            prop_assert_eq!(valid.is_ok(), review < block);
        }
    }
}
