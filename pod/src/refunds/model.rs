//! What a refund is and how much of an order may still be refunded (pure).

use chrono::{DateTime, Utc};
use mercato_tenants::events::RefundCause;
use mercato_tenants::{OrderId, RefundId, ReturnId};
use serde::{Deserialize, Serialize};

/// A refund's state: `pending` (reserved on the order, the gateway not yet
/// known to have paid), then `succeeded` or `failed` (the gateway refused;
/// the amount was given back to the order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RefundStatus {
    Pending,
    Succeeded,
    Failed,
}

impl RefundStatus {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Pending, Self::Succeeded, Self::Failed]
            .into_iter()
            .find(|v| v.as_str() == s)
    }
}

/// One refund of an order.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Refund {
    pub id: RefundId,
    pub order_id: OrderId,
    /// The return it pays for, if any.
    pub return_id: Option<ReturnId>,
    /// `return`, `goodwill`, `lines_cancelled`, `order_cancelled` or
    /// `order_refunded`.
    #[schema(value_type = String)]
    pub cause: RefundCause,
    /// All of it: to gift cards and to the card together.
    pub amount_minor: i64,
    /// The part credited back to the gift cards that paid the order (at
    /// once, when the refund was made); the rest goes to the card.
    pub gift_card_minor: i64,
    pub reason: Option<String>,
    pub status: RefundStatus,
    /// Why the gateway refused it (its error code), when `failed`.
    pub failure: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// How much a new refund asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ask {
    /// Exactly this (> 0), or refused.
    Exactly(i64),
    /// As much of this as is left (a return's refund: a goodwill refund
    /// before it may have taken part of the order).
    UpTo(i64),
    /// All that is left (the order refunded or cancelled).
    Rest,
}

/// Why a refund cannot be reserved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TooMuch {
    /// Asked `asked`, only `left` is refundable.
    Exceeds { asked: i64, left: i64 },
}

/// What a new refund reserves of an order with `captured` and `refunded`
/// (pending and succeeded refunds): `Ok(None)` when there is nothing to
/// pay (nothing left, or nothing asked).
pub fn reserve(ask: Ask, captured: i64, refunded: i64) -> Result<Option<i64>, TooMuch> {
    let left = (captured - refunded).max(0);
    let amount = match ask {
        Ask::Exactly(asked) if asked > left => return Err(TooMuch::Exceeds { asked, left }),
        Ask::Exactly(asked) => asked,
        Ask::UpTo(asked) => asked.clamp(0, left),
        Ask::Rest => left,
    };
    Ok((amount > 0).then_some(amount))
}

/// Where a refund of an order paid partly by gift cards goes first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Destination {
    /// Back to the gift cards until their part is given back, then the
    /// card (the default).
    #[default]
    GiftCardsFirst,
    /// Back to the card until its capture is given back, then the gift
    /// cards.
    CardFirst,
}

impl Destination {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::GiftCardsFirst => "gift_cards_first",
            Self::CardFirst => "card_first",
        }
    }
}

/// How a refund of `amount` splits between the gift cards (`gift_left`
/// of them still to give back) and the card (`card_left`): `(to gift
/// cards, to the card)`, each within what is left of it. `amount` is at
/// most `gift_left + card_left` ([`reserve`] holds it).
pub fn split(amount: i64, gift_left: i64, card_left: i64, to: Destination) -> (i64, i64) {
    let (gift_left, card_left) = (gift_left.max(0), card_left.max(0));
    let amount = amount.clamp(0, gift_left + card_left);
    match to {
        Destination::GiftCardsFirst => {
            let gift = amount.min(gift_left);
            (gift, amount - gift)
        }
        Destination::CardFirst => {
            let card = amount.min(card_left);
            (amount - card, card)
        }
    }
}

/// The gateway's idempotency key of a refund: the refund's own id, so a
/// retry (the request's, the recovery worker's) pays it once.
pub fn gateway_key(id: RefundId) -> String {
    format!("rfd_{}", id.as_uuid().simple())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn exact_asks_fit_or_are_refused_and_the_rest_is_what_is_left() {
        assert_eq!(reserve(Ask::Exactly(300), 1000, 0), Ok(Some(300)));
        assert_eq!(reserve(Ask::Exactly(700), 1000, 300), Ok(Some(700)));
        assert_eq!(
            reserve(Ask::Exactly(701), 1000, 300),
            Err(TooMuch::Exceeds {
                asked: 701,
                left: 700
            })
        );
        assert_eq!(reserve(Ask::UpTo(900), 1000, 300), Ok(Some(700)));
        assert_eq!(reserve(Ask::UpTo(0), 1000, 300), Ok(None));
        assert_eq!(reserve(Ask::Rest, 1000, 300), Ok(Some(700)));
        assert_eq!(reserve(Ask::Rest, 1000, 1000), Ok(None));
        assert_eq!(reserve(Ask::Rest, 0, 0), Ok(None));
    }

    #[test]
    fn statuses_keep_their_names() {
        for s in [
            RefundStatus::Pending,
            RefundStatus::Succeeded,
            RefundStatus::Failed,
        ] {
            assert_eq!(RefundStatus::parse(s.as_str()), Some(s));
        }
        assert_eq!(RefundStatus::parse("done"), None);
    }

    #[test]
    fn a_refund_goes_to_the_gift_cards_first_unless_the_merchant_says_card() {
        assert_eq!(
            split(500, 2000, 3000, Destination::GiftCardsFirst),
            (500, 0)
        );
        assert_eq!(
            split(2500, 2000, 3000, Destination::GiftCardsFirst),
            (2000, 500)
        );
        assert_eq!(split(2500, 2000, 3000, Destination::CardFirst), (0, 2500));
        assert_eq!(
            split(4000, 2000, 3000, Destination::CardFirst),
            (1000, 3000)
        );
        assert_eq!(split(100, 0, 3000, Destination::GiftCardsFirst), (0, 100));
    }

    proptest! {
        /// A split gives each side at most what is left of it and adds up.
        #[test]
        fn a_split_adds_up_within_both_sides(
            gift_left in 0i64..100_000,
            card_left in 0i64..100_000,
            asked in 0i64..200_000,
            card_first in any::<bool>(),
        ) {
            let to = if card_first { Destination::CardFirst } else { Destination::GiftCardsFirst };
            let amount = asked.min(gift_left + card_left);
            let (gift, card) = split(amount, gift_left, card_left, to);
            prop_assert_eq!(gift + card, amount);
            prop_assert!((0..=gift_left).contains(&gift));
            prop_assert!((0..=card_left).contains(&card));
        }

        /// Whatever is asked, in any order, refunds never pass the capture.
        #[test]
        fn refunds_never_pass_the_capture(
            captured in 0i64..100_000,
            asks in proptest::collection::vec((0u8..3, 0i64..60_000), 0..20),
        ) {
            let mut refunded = 0;
            for (kind, n) in asks {
                let ask = match kind {
                    0 => Ask::Exactly(n.max(1)),
                    1 => Ask::UpTo(n),
                    _ => Ask::Rest,
                };
                if let Ok(Some(amount)) = reserve(ask, captured, refunded) {
                    prop_assert!(amount > 0);
                    refunded += amount;
                }
                prop_assert!(refunded <= captured);
            }
        }
    }
}
