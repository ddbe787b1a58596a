//! The pure rules of gift cards: the code's format, what a card may pay,
//! what an issue or adjustment may ask, and the lookup limit. No I/O.

use chrono::{DateTime, Utc};
use mercato_tenants::{Currency, CustomerId, ErrorCode, GiftCardId, Money, OrderId};
use serde::Serialize;

use crate::orders::GiftCardTender;
use sha2::{Digest as _, Sha256};

/// The code's characters: capital letters and digits without the ones a
/// reader confuses (`0 O 1 I`): 32 characters, 5 bits each.
pub const ALPHABET: &[u8; 32] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";

/// Characters of a code: 16, so 80 random bits.
pub const CODE_LEN: usize = 16;

/// The largest amount a card is issued for, and the largest balance an
/// adjustment may leave, in minor units (100,000.00 of a two-decimal
/// currency).
pub const MAX_AMOUNT_MINOR: i64 = 10_000_000;

/// Longest note or reason, in characters.
pub const MAX_TEXT: usize = 500;

/// Lookups one client address may make per store in a window.
pub const LOOKUPS_PER_ADDRESS: u32 = 10;
/// Lookups a store answers in a window, every address together.
pub const LOOKUPS_PER_STORE: u32 = 300;
/// The lookup window, in seconds.
pub const LOOKUP_WINDOW_SECS: u64 = 60;

/// A gift card's code, normalised: 16 characters of [`ALPHABET`]. Shown
/// grouped by four (`ABCD-EFGH-JKLM-NPQR`); matched whatever the case,
/// dashes and spaces.
#[derive(Clone, PartialEq, Eq)]
pub struct Code(String);

impl std::fmt::Debug for Code {
    /// Only the last four: a code is a bearer secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Code(…{})", self.last4())
    }
}

impl Code {
    /// A new random code from 16 random bytes (5 bits of each used).
    pub fn from_random(bytes: [u8; CODE_LEN]) -> Self {
        Self(
            bytes
                .iter()
                .map(|b| ALPHABET[usize::from(b & 31)] as char)
                .collect(),
        )
    }

    /// A new code from the operating system's generator.
    pub fn generate() -> Self {
        use argon2::password_hash::rand_core::{OsRng, RngCore};
        let mut bytes = [0u8; CODE_LEN];
        OsRng.fill_bytes(&mut bytes);
        Self::from_random(bytes)
    }

    /// What a shopper typed, normalised; `None` when it cannot be a code
    /// (an unknown code and a malformed one are answered alike).
    pub fn parse(raw: &str) -> Option<Self> {
        if raw.len() > 64 {
            return None;
        }
        let code: String = raw
            .chars()
            .filter(|c| *c != '-' && *c != ' ')
            .map(|c| c.to_ascii_uppercase())
            .collect();
        (code.len() == CODE_LEN && code.bytes().all(|b| ALPHABET.contains(&b)))
            .then_some(Self(code))
    }

    /// The 16 characters, ungrouped (what `pending_code` keeps).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `ABCD-EFGH-JKLM-NPQR`.
    pub fn grouped(&self) -> String {
        self.0
            .as_bytes()
            .chunks(4)
            .map(|c| std::str::from_utf8(c).unwrap_or_default())
            .collect::<Vec<_>>()
            .join("-")
    }

    pub fn last4(&self) -> &str {
        &self.0[CODE_LEN - 4..]
    }

    /// What the database keeps.
    pub fn sha256(&self) -> [u8; 32] {
        Sha256::digest(self.0.as_bytes()).into()
    }
}

/// Where a card came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = GiftCardSource)]
pub enum Source {
    Staff,
    Order,
}

impl Source {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Staff => "staff",
            Self::Order => "order",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Staff, Self::Order]
            .into_iter()
            .find(|x| x.as_str() == s)
    }
}

/// A card as staff see it (never its code: only the last four).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct GiftCard {
    pub id: GiftCardId,
    /// The code's last four characters.
    pub last4: String,
    #[schema(value_type = String, example = "USD")]
    pub currency: Currency,
    pub initial_minor: i64,
    pub balance_minor: i64,
    pub expires_at: Option<DateTime<Utc>>,
    pub customer_id: Option<CustomerId>,
    pub disabled_at: Option<DateTime<Utc>>,
    pub source: Source,
    pub order_id: Option<OrderId>,
    pub note: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// What a card can do now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = GiftCardStatus)]
pub enum Status {
    /// Spendable (it may have no balance left).
    Active,
    Expired,
    Disabled,
}

impl Status {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Expired => "expired",
            Self::Disabled => "disabled",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Active, Self::Expired, Self::Disabled]
            .into_iter()
            .find(|x| x.as_str() == s)
    }
}

impl GiftCard {
    /// Disabled wins over expired.
    pub fn status(&self, now: DateTime<Utc>) -> Status {
        if self.disabled_at.is_some() {
            Status::Disabled
        } else if self.expires_at.is_some_and(|at| at <= now) {
            Status::Expired
        } else {
            Status::Active
        }
    }
}

/// Why a card does not pay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    NotFound,
    Expired,
    Disabled,
    CurrencyMismatch,
    Insufficient { balance_minor: i64 },
}

impl Refusal {
    pub const fn code(self) -> ErrorCode {
        match self {
            Self::NotFound => ErrorCode::GiftCardNotFound,
            Self::Expired => ErrorCode::GiftCardExpired,
            Self::Disabled => ErrorCode::GiftCardDisabled,
            Self::CurrencyMismatch => ErrorCode::GiftCardCurrencyMismatch,
            Self::Insufficient { .. } => ErrorCode::GiftCardInsufficient,
        }
    }

    pub fn message(self) -> String {
        match self {
            Self::NotFound => "no gift card has this code".into(),
            Self::Expired => "this gift card has expired".into(),
            Self::Disabled => "this gift card is disabled".into(),
            Self::CurrencyMismatch => "this gift card is in another currency".into(),
            Self::Insufficient { balance_minor } => {
                format!("this gift card has only {balance_minor} left")
            }
        }
    }
}

impl Refusal {
    /// What a shopper reads at checkout, the card named by its last four.
    pub fn at_checkout(self, last4: &str, currency: Currency) -> String {
        match self {
            Self::NotFound => "no gift card has this code".into(),
            Self::Expired => format!("the gift card ending {last4} has expired"),
            Self::Disabled => format!("the gift card ending {last4} is disabled"),
            Self::CurrencyMismatch => {
                format!("the gift card ending {last4} is in another currency")
            }
            Self::Insufficient { balance_minor } => format!(
                "the gift card ending {last4} has only {} left",
                mercato_tenants::money::format_money(Money {
                    minor: balance_minor,
                    currency,
                })
            ),
        }
    }
}

/// Whether `card` may pay `amount_minor` of `currency` at `now`: the
/// first refusal in the order disabled, expired, currency, balance.
pub fn may_pay(
    card: &GiftCard,
    currency: Currency,
    amount_minor: i64,
    now: DateTime<Utc>,
) -> Result<(), Refusal> {
    match card.status(now) {
        Status::Disabled => return Err(Refusal::Disabled),
        Status::Expired => return Err(Refusal::Expired),
        Status::Active => {}
    }
    if card.currency != currency {
        return Err(Refusal::CurrencyMismatch);
    }
    if amount_minor > card.balance_minor {
        return Err(Refusal::Insufficient {
            balance_minor: card.balance_minor,
        });
    }
    Ok(())
}

/// How much of `due_minor` a card of `balance_minor` pays: all of it or
/// its whole balance, whichever is less (never negative).
pub fn tender(balance_minor: i64, due_minor: i64) -> i64 {
    balance_minor.min(due_minor).max(0)
}

/// Most gift cards one checkout may name.
pub const MAX_PER_CHECKOUT: usize = 5;

/// How `cards` pay `due_minor` of `currency` at `now`, in the order the
/// shopper gave them: each its whole balance or what is still due,
/// whichever is less. A card named twice counts once; a card reached when
/// nothing is due any more is left out (not debited). Refused, with the
/// card, when one is disabled, expired, of another currency, or empty.
pub fn plan_tender(
    cards: &[GiftCard],
    currency: Currency,
    due_minor: i64,
    now: DateTime<Utc>,
) -> Result<Vec<GiftCardTender>, (GiftCardId, Refusal)> {
    let mut due = due_minor.max(0);
    let mut plan: Vec<GiftCardTender> = Vec::with_capacity(cards.len());
    for card in cards {
        if plan.iter().any(|t| t.gift_card_id == card.id) {
            continue;
        }
        // The card's state and currency first, then that it holds money.
        may_pay(card, currency, 0, now).map_err(|r| (card.id, r))?;
        if card.balance_minor < 1 {
            return Err((card.id, Refusal::Insufficient { balance_minor: 0 }));
        }
        let amount = tender(card.balance_minor, due);
        if amount == 0 {
            continue;
        }
        due -= amount;
        plan.push(GiftCardTender {
            gift_card_id: card.id,
            last4: card.last4.clone(),
            amount_minor: amount,
        });
    }
    Ok(plan)
}

/// What a credit against a debit may give back: what is asked, at most
/// what the debit took less what was credited against it before.
pub fn creditable(debited_minor: i64, credited_before_minor: i64, asked_minor: i64) -> i64 {
    asked_minor
        .min(debited_minor.saturating_sub(credited_before_minor))
        .max(0)
}

/// An amount to issue: 1 to [`MAX_AMOUNT_MINOR`].
pub fn check_amount(amount_minor: i64) -> Result<(), String> {
    if (1..=MAX_AMOUNT_MINOR).contains(&amount_minor) {
        Ok(())
    } else {
        Err(format!("amount_minor must be 1 to {MAX_AMOUNT_MINOR}"))
    }
}

/// A staff adjustment: not zero, at most [`MAX_AMOUNT_MINOR`] either way.
pub fn check_delta(delta_minor: i64) -> Result<(), String> {
    if delta_minor != 0 && delta_minor.unsigned_abs() <= MAX_AMOUNT_MINOR.unsigned_abs() {
        Ok(())
    } else {
        Err(format!(
            "delta_minor must be -{MAX_AMOUNT_MINOR} to {MAX_AMOUNT_MINOR}, not 0"
        ))
    }
}

/// A note or a reason: trimmed, 1 to [`MAX_TEXT`] characters, no control
/// characters but line breaks; blank is `None`.
pub fn text(field: &str, raw: Option<&str>) -> Result<Option<String>, String> {
    let Some(t) = raw.map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    if t.chars().count() > MAX_TEXT {
        return Err(format!("{field} must be at most {MAX_TEXT} characters"));
    }
    if t.chars().any(|c| c.is_control() && c != '\n') {
        return Err(format!("{field} must not contain control characters"));
    }
    Ok(Some(t.to_owned()))
}

/// An expiry must be in the future.
pub fn check_expiry(expires_at: DateTime<Utc>, now: DateTime<Utc>) -> Result<(), String> {
    if expires_at > now {
        Ok(())
    } else {
        Err("expires_at must be in the future".into())
    }
}

/// The lookup limit's counts in the current window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LookupCounts {
    /// Lookups of this client address, this one included.
    pub address: u32,
    /// Lookups of the store, this one included.
    pub store: u32,
    /// Seconds left of the window.
    pub window_left_secs: u64,
}

/// `Some(retry_after_secs)` when a lookup is over a limit.
pub fn lookup_limited(counts: LookupCounts) -> Option<u64> {
    (counts.address > LOOKUPS_PER_ADDRESS || counts.store > LOOKUPS_PER_STORE)
        .then(|| counts.window_left_secs.clamp(1, LOOKUP_WINDOW_SECS))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn card(balance: i64) -> GiftCard {
        let now = Utc::now();
        GiftCard {
            id: GiftCardId::new(),
            last4: "ABCD".into(),
            currency: Currency::USD,
            initial_minor: 5000,
            balance_minor: balance,
            expires_at: None,
            customer_id: None,
            disabled_at: None,
            source: Source::Staff,
            order_id: None,
            note: None,
            created_at: now,
            updated_at: now,
        }
    }

    #[test]
    fn codes_are_grouped_and_match_whatever_the_case_and_dashes() {
        let code = Code::from_random(*b"0123456789abcdef");
        assert_eq!(code.as_str().len(), CODE_LEN);
        let grouped = code.grouped();
        assert_eq!(grouped.len(), 19);
        assert_eq!(grouped.matches('-').count(), 3);
        assert_eq!(Code::parse(&grouped), Some(code.clone()));
        assert_eq!(Code::parse(&grouped.to_lowercase()), Some(code.clone()));
        assert_eq!(Code::parse(&grouped.replace('-', " ")), Some(code.clone()));
        assert_eq!(code.last4(), &code.as_str()[12..]);
        assert!(!format!("{code:?}").contains(&code.as_str()[..12]));
        assert_eq!(Code::parse("ABCD-EFGH-JKLM-NPQ"), None, "15 characters");
        assert_eq!(
            Code::parse("ABCD-EFGH-JKLM-NPQ0"),
            None,
            "0 is not in the alphabet"
        );
        assert_eq!(Code::parse("ABCD-EFGH-JKLM-NPQRS"), None);
        assert_eq!(Code::parse(&"A".repeat(100)), None);
        assert_eq!(Code::parse("ÄBCD-EFGH-JKLM-NPQR"), None);
    }

    #[test]
    fn a_card_pays_only_while_active_in_its_currency_within_its_balance() {
        let now = Utc::now();
        let c = card(1000);
        assert_eq!(may_pay(&c, Currency::USD, 1000, now), Ok(()));
        assert_eq!(
            may_pay(&c, Currency::USD, 1001, now),
            Err(Refusal::Insufficient {
                balance_minor: 1000
            })
        );
        let eur = Currency::parse("EUR").expect("EUR");
        assert_eq!(may_pay(&c, eur, 1, now), Err(Refusal::CurrencyMismatch));
        let expired = GiftCard {
            expires_at: Some(now),
            ..c.clone()
        };
        assert_eq!(
            may_pay(&expired, Currency::USD, 1, now),
            Err(Refusal::Expired)
        );
        let disabled = GiftCard {
            disabled_at: Some(now),
            ..expired
        };
        assert_eq!(disabled.status(now), Status::Disabled);
        assert_eq!(
            may_pay(&disabled, Currency::USD, 1, now),
            Err(Refusal::Disabled)
        );
    }

    #[test]
    fn a_tender_takes_cards_in_order_until_nothing_is_due() {
        let now = Utc::now();
        let (a, b, c) = (card(3000), card(5000), card(100));
        let plan = plan_tender(
            &[a.clone(), a.clone(), b.clone(), c.clone()],
            Currency::USD,
            6000,
            now,
        )
        .expect("plan");
        let paid: Vec<_> = plan
            .iter()
            .map(|t| (t.gift_card_id, t.amount_minor))
            .collect();
        assert_eq!(
            paid,
            vec![(a.id, 3000), (b.id, 3000)],
            "a once, c not needed"
        );
        let all = plan_tender(std::slice::from_ref(&a), Currency::USD, 1000, now).expect("plan");
        assert_eq!(all[0].amount_minor, 1000, "never more than is due");
        let empty = card(0);
        assert_eq!(
            plan_tender(&[a.clone(), empty.clone()], Currency::USD, 9000, now),
            Err((empty.id, Refusal::Insufficient { balance_minor: 0 }))
        );
        let expired = GiftCard {
            expires_at: Some(now),
            ..c
        };
        assert_eq!(
            plan_tender(std::slice::from_ref(&expired), Currency::USD, 9000, now),
            Err((expired.id, Refusal::Expired))
        );
        let eur = Currency::parse("EUR").expect("EUR");
        assert_eq!(
            plan_tender(std::slice::from_ref(&b), eur, 9000, now),
            Err((b.id, Refusal::CurrencyMismatch))
        );
    }

    #[test]
    fn the_lookup_limit_has_numbers() {
        let ok = LookupCounts {
            address: LOOKUPS_PER_ADDRESS,
            store: LOOKUPS_PER_STORE,
            window_left_secs: 30,
        };
        assert_eq!(lookup_limited(ok), None);
        assert_eq!(
            lookup_limited(LookupCounts {
                address: LOOKUPS_PER_ADDRESS + 1,
                ..ok
            }),
            Some(30)
        );
        assert_eq!(
            lookup_limited(LookupCounts {
                store: LOOKUPS_PER_STORE + 1,
                window_left_secs: 0,
                ..ok
            }),
            Some(1)
        );
    }

    #[test]
    fn inputs_have_limits() {
        assert!(check_amount(0).is_err());
        assert!(check_amount(MAX_AMOUNT_MINOR + 1).is_err());
        assert!(check_amount(MAX_AMOUNT_MINOR).is_ok());
        assert!(check_delta(0).is_err());
        assert!(check_delta(i64::MIN).is_err());
        assert!(check_delta(-MAX_AMOUNT_MINOR).is_ok());
        assert_eq!(text("note", Some("  ")), Ok(None));
        assert_eq!(
            text("note", Some(" hi\nthere ")),
            Ok(Some("hi\nthere".into()))
        );
        assert!(text("note", Some("a\u{7}")).is_err());
        assert!(text("note", Some(&"x".repeat(501))).is_err());
    }

    proptest! {
        #[test]
        fn every_random_code_parses_back(bytes in any::<[u8; 16]>()) {
            let code = Code::from_random(bytes);
            prop_assert_eq!(Code::parse(&code.grouped()), Some(code.clone()));
            prop_assert_eq!(Code::parse(code.as_str()), Some(code));
        }

        #[test]
        fn credits_against_a_debit_never_give_back_more_than_it_took(
            debited in 1i64..1_000_000,
            asks in proptest::collection::vec(0i64..2_000_000, 0..10),
        ) {
            let mut credited = 0;
            for ask in asks {
                let c = creditable(debited, credited, ask);
                prop_assert!(c >= 0 && c <= ask);
                credited += c;
                prop_assert!(credited <= debited);
            }
        }

        #[test]
        fn a_plan_pays_at_most_what_is_due_and_each_card_at_most_its_balance(
            balances in proptest::collection::vec(1i64..100_000, 0..6),
            due in 0i64..300_000,
        ) {
            let cards: Vec<_> = balances.iter().map(|b| card(*b)).collect();
            let plan = plan_tender(&cards, Currency::USD, due, Utc::now()).expect("plan");
            let paid: i64 = plan.iter().map(|t| t.amount_minor).sum();
            prop_assert_eq!(paid, due.min(balances.iter().sum()));
            for t in &plan {
                let c = cards.iter().find(|c| c.id == t.gift_card_id).expect("card");
                prop_assert!(t.amount_minor >= 1 && t.amount_minor <= c.balance_minor);
            }
        }

        #[test]
        fn a_tender_never_passes_the_balance_nor_the_due(balance in 0i64..10_000_000, due in -10i64..10_000_000) {
            let t = tender(balance, due);
            prop_assert!(t >= 0 && t <= balance && t <= due.max(0));
        }
    }
}
