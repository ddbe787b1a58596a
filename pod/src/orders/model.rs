//! What an order says, without I/O: the [`Order`] shoppers and staff see,
//! the priced lines, shipping and tax a checkout quoted ([`Quote`];
//! `checkout::model::quote` computes it) that the order keeps, and the
//! [`Filter`] of a list. The lifecycle is in [`super::state`].

use chrono::{DateTime, Utc};
use mercato_tenants::{
    CheckoutId, Currency, CustomerId, DiscountId, GiftCardId, LocationId, OrderId, ProductId,
    ShipmentId, ShipmentStatus, VariantId,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::state::OrderStatus;

/// An order as shoppers and staff see it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Order {
    pub id: OrderId,
    pub number: i64,
    /// The human-readable name, e.g. `#1001`.
    pub name: String,
    pub checkout_id: CheckoutId,
    pub status: OrderStatus,
    pub customer_id: Option<CustomerId>,
    pub email: String,
    pub currency: String,
    pub subtotal_minor: i64,
    /// Off the lines (their `discount_minor` add up to it); a shipping
    /// discount is in `shipping_minor` already.
    pub discount_minor: i64,
    /// The discounts applied, each with what it took off the lines and the
    /// shipping.
    pub discounts: Vec<AppliedDiscount>,
    pub shipping_minor: i64,
    pub tax_minor: i64,
    pub total_minor: i64,
    /// What gift cards paid of the total (tender: the total is the same),
    /// once the order is paid: 0 before, like `captured_minor` (an order
    /// held for review has its cards debited but is not paid yet).
    pub gift_card_minor: i64,
    /// What the card payment captured (`total_minor - gift_card_minor`
    /// once paid).
    pub captured_minor: i64,
    /// Given back so far, to gift cards and the card together; at most
    /// `captured_minor + gift_card_minor`.
    pub refunded_minor: i64,
    #[schema(value_type = Object)]
    pub shipping_option: serde_json::Value,
    #[schema(value_type = Object)]
    pub shipping_address: serde_json::Value,
    /// The card's billing address, when the shopper gave one.
    #[schema(value_type = Option<Object>)]
    pub billing_address: Option<serde_json::Value>,
    pub lines: Vec<QuoteLine>,
    pub cancel_reason: Option<String>,
    /// The gateway's payment; none when gift cards paid the whole total.
    #[serde(skip)]
    pub payment_id: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Its shipments, oldest (nearest location) first: present when one
    /// order is read, absent from lists.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shipments: Option<Vec<OrderShipment>>,
}

/// One shipment of an order: units of its lines leaving one location. The
/// fulfillment context plans and moves them.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct OrderShipment {
    pub id: ShipmentId,
    pub location_id: LocationId,
    pub status: ShipmentStatus,
    pub carrier: String,
    pub tracking_number: String,
    pub tracking_url: String,
    pub created_at: DateTime<Utc>,
    pub shipped_at: Option<DateTime<Utc>>,
    pub delivered_at: Option<DateTime<Utc>>,
    /// By order line.
    pub lines: Vec<OrderShipmentLine>,
}

/// Units of one order line in a shipment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct OrderShipmentLine {
    /// The line's index in the order's `lines`.
    pub line_position: i32,
    pub variant_id: VariantId,
    pub quantity: i32,
}

/// Which orders a list shows.
#[derive(Debug, Default)]
pub struct Filter {
    pub status: Option<OrderStatus>,
    pub customer: Option<CustomerId>,
    pub email: Option<String>,
    /// Newest first: orders with ids below this one.
    pub before: Option<Uuid>,
    /// Placed at or after this instant.
    pub placed_from: Option<DateTime<Utc>>,
    /// Placed before this instant.
    pub placed_until: Option<DateTime<Utc>>,
    pub limit: i64,
}

/// A span of time: its start (included) and its end (excluded), each open
/// when absent.
pub type Span = (Option<DateTime<Utc>>, Option<DateTime<Utc>>);

/// The instants a range of UTC days covers: from the start of `from` to
/// the end of `to` (both included), or `400` for a range that ends
/// before it starts or past the calendar.
pub fn day_range(
    from: Option<chrono::NaiveDate>,
    to: Option<chrono::NaiveDate>,
) -> Result<Span, mercato_tenants::ApiError> {
    if let (Some(f), Some(t)) = (from, to) {
        if t < f {
            return Err(mercato_tenants::ApiError::invalid(
                "the last day comes before the first",
            ));
        }
    }
    let start = |d: chrono::NaiveDate| d.and_hms_opt(0, 0, 0).map(|t| t.and_utc());
    let until = match to {
        None => None,
        Some(t) => Some(
            t.succ_opt()
                .and_then(start)
                .ok_or_else(|| mercato_tenants::ApiError::invalid("the last day is too late"))?,
        ),
    };
    Ok((from.and_then(start), until))
}

/// A line as it will be ordered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct QuoteLine {
    pub variant_id: VariantId,
    pub product_id: ProductId,
    pub sku: String,
    pub title: String,
    pub variant_title: String,
    pub quantity: i32,
    pub unit_price_minor: i64,
    /// Units staff cancelled before they shipped (refunded, not sent); 0
    /// in a quote.
    #[serde(default)]
    pub cancelled_quantity: i32,
    /// The discounts' share of this line, in minor units: the line costs
    /// `unit_price_minor * quantity - discount_minor`.
    #[serde(default)]
    pub discount_minor: i64,
}

/// The priced checkout: what the order will say.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Quote {
    pub currency: Currency,
    pub lines: Vec<QuoteLine>,
    pub subtotal_minor: i64,
    /// Off the lines, allocated over them.
    #[serde(default)]
    pub discount_minor: i64,
    /// Each discount applied (lines and shipping).
    #[serde(default)]
    pub discounts: Vec<AppliedDiscount>,
    pub shipping_minor: i64,
    pub tax_minor: i64,
    pub total_minor: i64,
    pub shipping_option: ShippingChoice,
    #[schema(value_type = Object)]
    pub shipping_address: serde_json::Value,
    pub email: String,
    /// Gift cards paying part of the total, in the order the shopper gave
    /// them; the card payment is asked for the rest ([`Quote::card_minor`]).
    #[serde(default)]
    pub gift_cards: Vec<GiftCardTender>,
    /// The billing address, when the shopper gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub billing_address: Option<serde_json::Value>,
}

impl Quote {
    /// What the gift cards pay.
    pub fn gift_card_minor(&self) -> i64 {
        self.gift_cards.iter().map(|g| g.amount_minor).sum()
    }

    /// What the card payment is asked for: the total less the gift cards.
    pub fn card_minor(&self) -> i64 {
        self.total_minor - self.gift_card_minor()
    }
}

/// A gift card paying part of a checkout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct GiftCardTender {
    pub gift_card_id: GiftCardId,
    /// The code's last four characters.
    pub last4: String,
    pub amount_minor: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ShippingChoice {
    pub code: String,
    pub name: String,
    pub price_minor: i64,
    pub tax_name: Option<String>,
    pub tax_rate_bp: i32,
}

/// A discount applied, as the cart and the order show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct AppliedDiscount {
    pub discount_id: DiscountId,
    pub title: String,
    /// The code entered; null for an automatic discount.
    pub code: Option<String>,
    pub class: DiscountClass,
    /// Off the lines and the shipping, in minor units.
    pub amount_minor: i64,
}

/// Which part of the price a discount takes from; what combinations name.
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
pub enum DiscountClass {
    Order,
    Product,
    Shipping,
}
