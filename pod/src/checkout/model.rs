//! Checkout decisions without I/O: the request and its fingerprint, the
//! saga's states, and the priced quote an order is made from (shipping and
//! tax from the store's rate tables, [`super::rates`]).

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use mercato_tenants::{Currency, Email, ErrorCode, VariantId};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::rates::{rates_for, shipping_price, tax_on, tax_rate_for, ShippingRate, TaxRate};
use crate::accounts::{AddressFields, InvalidField};
use crate::catalog::VariantSnapshot;
use crate::discounts::model::Refusal;
use crate::discounts::{describe, Offer, PricedLine};
use crate::inventory::Shortage;
pub use crate::orders::{Quote, QuoteLine, ShippingChoice};
use crate::payments::PaymentStatus;

/// Longest Idempotency-Key accepted.
pub const MAX_KEY_LEN: usize = 255;

/// Why a checkout is refused before anything is recorded or reserved. The
/// text is what the shopper is told; the code it is served with is chosen
/// in `checkout/error.rs`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckoutError {
    /// No Idempotency-Key, or a blank one.
    #[error(
        "send an Idempotency-Key header (a unique value per checkout attempt, reused on retries)"
    )]
    MissingIdempotencyKey,
    /// An Idempotency-Key too long or with other than printable ASCII.
    #[error("Idempotency-Key must be 1 to {max} printable ASCII characters")]
    BadIdempotencyKey { max: usize },
    /// Nothing to buy.
    #[error("the cart is empty")]
    EmptyCart,
    /// A line's variant is gone from the catalog.
    #[error("variant {variant} is no longer sold; remove it from the cart")]
    VariantGone { variant: VariantId },
    /// A line's variant is not for sale.
    #[error("{sku} is not available; remove it from the cart")]
    NotForSale { sku: String },
    /// A line's variant is priced in another currency than the store's.
    #[error("{sku} is priced in {priced_in}, the store sells in {store}")]
    WrongCurrency {
        sku: String,
        priced_in: Currency,
        store: Currency,
    },
    /// A line's price times its quantity does not fit.
    #[error("line total out of range")]
    LineTotalOutOfRange,
    /// The subtotal is above [`MAX_AMOUNT`].
    #[error("order total out of range")]
    OrderTotalOutOfRange,
    /// The chosen shipping option does not ship to the address's country.
    #[error(
        "shipping option `{option}` does not ship to {country}; see GET /api/shipping-options"
    )]
    NoShipping { option: String, country: String },
    /// The total is not the one the shopper was shown.
    #[error("the total is now {total} (you were shown {expected}); review the cart and try again")]
    PriceChanged { total: i64, expected: i64 },
    /// The shipping address breaks the accounts context's address rules.
    #[error(transparent)]
    Address(InvalidField),
    /// A code in the cart does not apply (any more): `refusal` says why.
    /// `refusal` is `None` for a code no active discount has any more.
    #[error("discount code {code}: {message}; remove it from the cart")]
    Discount {
        code: String,
        refusal: Option<Refusal>,
        message: String,
    },
}

/// The shopper's checkout request.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckoutRequest {
    /// Where the receipt goes. A signed-in customer may leave it out to use
    /// the account's address.
    #[schema(value_type = Option<mercato_tenants::openapi::EmailAddress>)]
    pub email: Option<String>,
    pub shipping_address: AddressInput,
    /// The card's billing address, when the shopper gives one (the risk
    /// screen compares its country with the shipping address's); the order
    /// keeps it.
    pub billing_address: Option<AddressInput>,
    /// A code from `GET /api/shipping-options` (`422 shipping_unavailable`
    /// for one that does not ship there).
    #[schema(min_length = 1, max_length = 40, pattern = r"^[a-z0-9][a-z0-9_-]*$")]
    pub shipping_option: String,
    /// A payment token from the payment gateway (test mode: `tok_<card
    /// number>`), 1 to 255 printable ASCII characters. Required unless
    /// nothing is left to pay by card (the gift cards pay the whole total,
    /// or it is 0).
    #[schema(pattern = r"^[!-~]{1,255}$")]
    pub payment_token: Option<String>,
    /// Gift card codes paying part of the total, in this order (each its
    /// balance or what is still due); the card payment is asked for the
    /// rest. At most 5, each up to 64 characters (`ABCD-EFGH-JKLM-NPQR`,
    /// any case, dashes and spaces ignored).
    #[serde(default)]
    #[schema(value_type = Vec<mercato_tenants::openapi::GiftCardCodeText>, max_items = 5)]
    pub gift_cards: Vec<String>,
    /// The total the shopper was shown, in minor units (0 to
    /// 100,000,000,000); when given and the total differs now, the checkout
    /// stops with `price_changed`.
    #[schema(minimum = 0, maximum = 100_000_000_000_i64)]
    pub expected_total_minor: Option<i64>,
}

/// A shipping address in a checkout.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddressInput {
    /// Recipient, 1 to 100 characters (white space around text fields is
    /// trimmed; no control characters).
    #[schema(
        max_length = 100,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\u0000-\u0020\u007F-\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000][^\u0000-\u001F\u007F-\u009F]*$"
    )]
    pub name: String,
    /// 1 to 200 characters.
    #[schema(
        max_length = 200,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\u0000-\u0020\u007F-\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000][^\u0000-\u001F\u007F-\u009F]*$"
    )]
    pub line1: String,
    /// At most 200 characters.
    #[schema(max_length = 200, pattern = r"^[^\u0000-\u001F\u007F-\u009F]*$")]
    pub line2: Option<String>,
    /// 1 to 100 characters.
    #[schema(
        max_length = 100,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\u0000-\u0020\u007F-\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000][^\u0000-\u001F\u007F-\u009F]*$"
    )]
    pub city: String,
    /// At most 100 characters.
    #[schema(max_length = 100, pattern = r"^[^\u0000-\u001F\u007F-\u009F]*$")]
    pub region: Option<String>,
    /// At most 20 characters.
    #[schema(max_length = 20, pattern = r"^[^\u0000-\u001F\u007F-\u009F]*$")]
    pub postal_code: Option<String>,
    /// ISO 3166-1 alpha-2, e.g. `FR` (either case).
    #[schema(
        pattern = r"^[\u0009\u000A\u000D\u0020\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]*[A-Za-z]{2}[\u0009\u000A\u000D\u0020\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]*$"
    )]
    pub country: String,
    /// Digits, spaces and `+-().`, at most 32 characters.
    #[schema(max_length = 32, pattern = r"^[0-9 +().-]*$")]
    pub phone: Option<String>,
}

impl AddressInput {
    /// Checked by the accounts context's address rules; their refusal is
    /// [`CheckoutError::Address`].
    pub fn validate(&self) -> Result<AddressFields, CheckoutError> {
        AddressFields {
            name: self.name.clone(),
            line1: self.line1.clone(),
            line2: self.line2.clone().unwrap_or_default(),
            city: self.city.clone(),
            region: self.region.clone().unwrap_or_default(),
            postal_code: self.postal_code.clone().unwrap_or_default(),
            country: self.country.clone(),
            phone: self.phone.clone().unwrap_or_default(),
        }
        .validate()
        .map_err(CheckoutError::Address)
    }
}

/// Checks an Idempotency-Key header value.
pub fn idempotency_key(raw: Option<&str>) -> Result<String, CheckoutError> {
    let key = raw.map(str::trim).unwrap_or_default();
    if key.is_empty() {
        return Err(CheckoutError::MissingIdempotencyKey);
    }
    if key.len() > MAX_KEY_LEN || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(CheckoutError::BadIdempotencyKey { max: MAX_KEY_LEN });
    }
    Ok(key.to_owned())
}

/// The request's fingerprint: who asks (the cart) and what they ask for.
/// A retry with the same key must carry the same fingerprint.
pub fn request_hash(cart_identity: &str, request: &serde_json::Value) -> [u8; 32] {
    // serde_json's maps are ordered by key, so equal JSON hashes equal.
    let mut h = Sha256::new();
    h.update(cart_identity.as_bytes());
    h.update([0]);
    h.update(request.to_string().as_bytes());
    h.finalize().into()
}

/// Where a checkout's saga stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SagaState {
    /// Recorded; nothing reserved yet.
    Started,
    /// Stock held.
    Reserved,
    /// Payment authorized.
    Authorized,
    /// Order created (stock pinned), payment not yet captured.
    Ordered,
    /// The risk screen sent it to review: authorized, ordered, not
    /// captured, until staff approve (capture) or cancel (undo).
    Review,
    /// Captured, stock committed, `order.placed` in the outbox.
    Completed,
    /// Undoing the steps done.
    Compensating,
    /// Ended without an order.
    Failed,
}

impl SagaState {
    pub fn as_str(self) -> &'static str {
        match self {
            SagaState::Started => "started",
            SagaState::Reserved => "reserved",
            SagaState::Authorized => "authorized",
            SagaState::Ordered => "ordered",
            SagaState::Review => "review",
            SagaState::Completed => "completed",
            SagaState::Compensating => "compensating",
            SagaState::Failed => "failed",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [
            SagaState::Started,
            SagaState::Reserved,
            SagaState::Authorized,
            SagaState::Ordered,
            SagaState::Review,
            SagaState::Completed,
            SagaState::Compensating,
            SagaState::Failed,
        ]
        .into_iter()
        .find(|s| s.as_str() == raw)
    }

    pub fn is_final(self) -> bool {
        matches!(self, SagaState::Completed | SagaState::Failed)
    }
}

/// A step of the saga, recorded once done (the row's `steps`): what
/// compensation must undo, and what a driver may skip.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Stock held for the checkout.
    Reserve,
    /// An authorization was asked for: money may be held from here on.
    AuthorizeAttempted,
    /// The gateway definitely refused the authorization: no money held.
    Declined,
    /// The payment is authorized.
    Authorize,
    /// The order exists.
    CreateOrder,
    /// The payment is captured.
    Capture,
    /// Everything done was undone.
    Compensate,
    /// Staff approved a checkout in review: capture without screening it
    /// again.
    ReviewApproved,
}

impl Step {
    pub const ALL: [Step; 8] = [
        Step::Reserve,
        Step::AuthorizeAttempted,
        Step::Declined,
        Step::Authorize,
        Step::CreateOrder,
        Step::Capture,
        Step::Compensate,
        Step::ReviewApproved,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Step::Reserve => "reserve",
            Step::AuthorizeAttempted => "authorize_attempted",
            Step::Declined => "declined",
            Step::Authorize => "authorize",
            Step::CreateOrder => "create_order",
            Step::Capture => "capture",
            Step::Compensate => "compensate",
            Step::ReviewApproved => "review_approved",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == raw)
    }
}

/// Why a checkout failed: an error code and its data, rendered into the
/// shopper's answer only where the answer is recorded ([`Failure::body`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub code: ErrorCode,
    pub message: String,
    /// The lines short of stock, for `out_of_stock`.
    pub shortages: Option<Vec<Shortage>>,
}

impl Failure {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            shortages: None,
        }
    }

    /// Not enough stock for `lines` (all or nothing: nothing is held).
    pub fn out_of_stock(lines: Vec<Shortage>) -> Self {
        let what: Vec<String> = lines
            .iter()
            .map(|s| {
                format!(
                    "{}: {} wanted, {} available",
                    s.variant_id, s.requested, s.available
                )
            })
            .collect();
        Self {
            code: ErrorCode::OutOfStock,
            message: format!("not enough stock: {}", what.join("; ")),
            shortages: Some(lines),
        }
    }

    /// The gateway's decline code as the shopper's failure.
    pub fn declined(decline_code: &str) -> Self {
        match decline_code {
            "processing_error" => Self::new(
                ErrorCode::PaymentFailed,
                "the payment provider could not process the card; nothing was charged. Try again",
            ),
            other => Self::new(
                ErrorCode::PaymentDeclined,
                format!("the card was declined ({other}); nothing was charged"),
            ),
        }
    }

    /// The checkout was interrupted before it could pay (its request died).
    pub fn interrupted() -> Self {
        Self::new(
            ErrorCode::CheckoutInterrupted,
            "the checkout was interrupted before payment; start again with a new Idempotency-Key",
        )
    }

    /// The HTTP status of the answer.
    pub fn status(&self) -> u16 {
        self.code.status().as_u16()
    }

    /// The answer's body, as recorded for replays: the error shape every
    /// Mercato process answers with, plus the short lines.
    pub fn body(&self) -> serde_json::Value {
        let mut err = serde_json::json!({"code": self.code.as_str(), "message": self.message});
        if let Some(lines) = &self.shortages {
            err["lines"] = serde_json::json!(lines);
        }
        serde_json::json!({ "error": err })
    }
}

/// What a signed payment event does to the checkout it is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookAction {
    /// Nothing: the checkout completed, holds no money the event could be
    /// about, or has not asked for money yet.
    Ignore,
    /// Money arrived for a checkout that ended (or is ending) without an
    /// order: give it back; drive the checkout on if it is still
    /// compensating.
    ReturnMoney { then_drive: bool },
    /// A driver moved the checkout moments ago: let it finish (`409
    /// checkout_pending`; the gateway retries later).
    Pending,
    /// Drive the checkout with the event's payment.
    Drive,
}

/// The webhook decision: the checkout's state and the payment's status
/// decide; `driver_recent` says whether a driver moved the checkout within
/// `checkout.webhook_drive_after_ms`.
pub fn on_payment_event(
    state: SagaState,
    payment: PaymentStatus,
    driver_recent: bool,
) -> WebhookAction {
    let money_held = matches!(payment, PaymentStatus::Authorized | PaymentStatus::Captured);
    match state {
        // In review, staff decide; the payment stays authorized till then.
        SagaState::Completed | SagaState::Started | SagaState::Review => WebhookAction::Ignore,
        SagaState::Compensating | SagaState::Failed if money_held => WebhookAction::ReturnMoney {
            then_drive: state == SagaState::Compensating,
        },
        SagaState::Compensating | SagaState::Failed => WebhookAction::Ignore,
        SagaState::Reserved | SagaState::Authorized | SagaState::Ordered if driver_recent => {
            WebhookAction::Pending
        }
        SagaState::Reserved | SagaState::Authorized | SagaState::Ordered => WebhookAction::Drive,
    }
}

/// Largest amount in any money field, in minor units.
pub const MAX_AMOUNT: i64 = 100_000_000_000;

/// What the shopper chose: where, how, who, and the total they saw.
pub struct Choices<'a> {
    pub address: &'a AddressFields,
    pub option: &'a str,
    pub email: Email,
    pub expected_total: Option<i64>,
    /// The discounts to weigh (the store's automatic ones and the cart's
    /// codes) and when.
    pub discounts: &'a Offer,
    pub now: DateTime<Utc>,
}

/// A cart line to price: variant and quantity.
#[derive(Debug, Clone, Copy)]
pub struct Wanted {
    pub variant: VariantId,
    pub quantity: i32,
}

/// Prices a checkout from the catalog as it is now (authoritative prices,
/// never the prices the cart remembers). Refuses unknown or unavailable
/// variants, a currency other than the store's, an option that does not
/// ship there, and a total that differs from the one the shopper saw.
pub fn quote(
    wanted: &[Wanted],
    variants: &HashMap<VariantId, VariantSnapshot>,
    currency: Currency,
    shipping: &[ShippingRate],
    taxes: &[TaxRate],
    choices: Choices<'_>,
) -> Result<Quote, CheckoutError> {
    let Choices {
        address,
        option,
        email,
        expected_total,
        discounts,
        now,
    } = choices;
    if wanted.is_empty() {
        return Err(CheckoutError::EmptyCart);
    }
    let mut lines = Vec::with_capacity(wanted.len());
    let mut subtotal: i64 = 0;
    for w in wanted {
        let v = variants
            .get(&w.variant)
            .ok_or(CheckoutError::VariantGone { variant: w.variant })?;
        if !v.purchasable {
            return Err(CheckoutError::NotForSale { sku: v.sku.clone() });
        }
        if v.price.currency != currency {
            return Err(CheckoutError::WrongCurrency {
                sku: v.sku.clone(),
                priced_in: v.price.currency,
                store: currency,
            });
        }
        let line_total = v
            .price
            .minor
            .checked_mul(i64::from(w.quantity))
            .ok_or(CheckoutError::LineTotalOutOfRange)?;
        subtotal = subtotal
            .checked_add(line_total)
            .filter(|s| *s <= MAX_AMOUNT)
            .ok_or(CheckoutError::OrderTotalOutOfRange)?;
        lines.push(QuoteLine {
            variant_id: v.variant_id,
            product_id: v.product_id,
            sku: v.sku.clone(),
            title: v.product_title.clone(),
            variant_title: v.variant_title.clone(),
            quantity: w.quantity,
            unit_price_minor: v.price.minor,
            cancelled_quantity: 0,
            discount_minor: 0,
        });
    }
    let rate = rates_for(shipping, &address.country)
        .into_iter()
        .find(|r| r.code == option)
        .ok_or_else(|| CheckoutError::NoShipping {
            option: option.to_owned(),
            country: address.country.clone(),
        })?;
    let rate_price = shipping_price(rate, subtotal);
    // Discounts: product, then order (allocated over the lines), then
    // shipping. An entered code that does not apply stops the checkout:
    // the shopper would pay more than the cart showed.
    let priced: Vec<PricedLine> = lines
        .iter()
        .map(|l| PricedLine {
            variant_id: l.variant_id,
            product_id: l.product_id,
            quantity: u32::try_from(l.quantity).unwrap_or(0),
            unit_price_minor: l.unit_price_minor,
        })
        .collect();
    let view = discounts.view(&priced, Some((address.country.clone(), rate_price)), now);
    let decision = discounts.decide(&view);
    if let Some((code, refusal)) = discounts.blocking(&decision) {
        let message = match &refusal {
            Some(r) => describe(r, currency, |_| String::new()),
            None => "no active discount has this code".to_owned(),
        };
        return Err(CheckoutError::Discount {
            code,
            refusal,
            message,
        });
    }
    let per_line = decision.per_line(lines.len());
    for (line, off) in lines.iter_mut().zip(&per_line) {
        line.discount_minor = *off;
    }
    let discount_minor: i64 = per_line.iter().sum();
    let shipping_off: i64 = decision.applied.iter().map(|a| a.shipping_minor).sum();
    let shipping_minor = rate_price - shipping_off;
    let tax = tax_rate_for(taxes, &address.country, &address.region);
    let rate_bp = tax.map(|t| t.rate_bp).unwrap_or(0);
    let tax_minor = tax_on(subtotal - discount_minor + shipping_minor, rate_bp);
    let total_minor = subtotal - discount_minor + shipping_minor + tax_minor;
    if let Some(expected) = expected_total {
        if expected != total_minor {
            return Err(CheckoutError::PriceChanged {
                total: total_minor,
                expected,
            });
        }
    }
    Ok(Quote {
        currency,
        discounts: discounts.lines(&decision),
        lines,
        subtotal_minor: subtotal,
        discount_minor,
        shipping_minor,
        tax_minor,
        total_minor,
        shipping_option: ShippingChoice {
            code: rate.code.clone(),
            name: rate.name.clone(),
            price_minor: rate_price,
            tax_name: tax.map(|t| t.name.clone()),
            tax_rate_bp: rate_bp,
        },
        shipping_address: address_json(address),
        email: email.as_str().to_owned(),
        // Tender, not price: the saga adds them once the cards are read.
        gift_cards: Vec::new(),
        billing_address: None,
    })
}

pub fn address_json(a: &AddressFields) -> serde_json::Value {
    serde_json::json!({
        "name": a.name, "line1": a.line1, "line2": a.line2, "city": a.city,
        "region": a.region, "postal_code": a.postal_code, "country": a.country, "phone": a.phone,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkout::rates::{validate_shipping, validate_tax};
    use mercato_tenants::{Money, ProductId};

    fn snapshot(price: i64, purchasable: bool) -> VariantSnapshot {
        VariantSnapshot {
            variant_id: VariantId::new(),
            product_id: ProductId::new(),
            product_title: "Tee".into(),
            variant_title: "M".into(),
            sku: "TEE-M".into(),
            price: Money {
                minor: price,
                currency: Currency::USD,
            },
            purchasable,
        }
    }

    fn address(country: &str, region: &str) -> AddressFields {
        AddressFields {
            name: "A".into(),
            line1: "1 Main St".into(),
            line2: String::new(),
            city: "Town".into(),
            region: region.into(),
            postal_code: "1".into(),
            country: country.into(),
            phone: String::new(),
        }
    }

    fn rates() -> (Vec<ShippingRate>, Vec<TaxRate>) {
        let shipping = validate_shipping(vec![
            ShippingRate {
                code: "standard".into(),
                name: "Standard".into(),
                price_minor: 500,
                free_over_minor: Some(10_000),
                countries: vec![],
            },
            ShippingRate {
                code: "express".into(),
                name: "Express".into(),
                price_minor: 1500,
                free_over_minor: None,
                countries: vec!["us".into()],
            },
        ])
        .expect("valid");
        let taxes = validate_tax(vec![
            TaxRate {
                country: "US".into(),
                region: String::new(),
                rate_bp: 500,
                name: "Sales tax".into(),
            },
            TaxRate {
                country: "US".into(),
                region: "ca".into(),
                rate_bp: 825,
                name: "CA tax".into(),
            },
        ])
        .expect("valid");
        (shipping, taxes)
    }

    fn price(
        lines: &[(VariantSnapshot, i32)],
        country: &str,
        region: &str,
        option: &str,
        expected: Option<i64>,
    ) -> Result<Quote, CheckoutError> {
        let (shipping, taxes) = rates();
        let wanted: Vec<Wanted> = lines
            .iter()
            .map(|(v, q)| Wanted {
                variant: v.variant_id,
                quantity: *q,
            })
            .collect();
        let variants = lines
            .iter()
            .map(|(v, _)| (v.variant_id, v.clone()))
            .collect();
        let none = Offer::default();
        quote(
            &wanted,
            &variants,
            Currency::USD,
            &shipping,
            &taxes,
            Choices {
                address: &address(country, region),
                option,
                email: Email::parse("a@b.co").expect("email"),
                expected_total: expected,
                discounts: &none,
                now: Utc::now(),
            },
        )
    }

    #[test]
    fn a_discount_is_allocated_over_the_lines_and_taxed_after() {
        use crate::discounts::model::{Candidate, CombinesWith, Conditions, Discount, Kind, Value};
        let (shipping, taxes) = rates();
        let (a, b) = (snapshot(1000, true), snapshot(500, true));
        let wanted = [
            Wanted {
                variant: a.variant_id,
                quantity: 2,
            },
            Wanted {
                variant: b.variant_id,
                quantity: 1,
            },
        ];
        let variants = [a, b].into_iter().map(|v| (v.variant_id, v)).collect();
        let id = mercato_tenants::DiscountId::new();
        let offer = Offer {
            candidates: vec![Candidate {
                discount: Discount {
                    id,
                    title: "Ten off".into(),
                    code: Some("TEN".into()),
                    kind: Kind::Order {
                        value: Value::Percentage(1000),
                    },
                    conditions: Conditions::default(),
                    combines_with: CombinesWith::default(),
                },
                used: 0,
                used_by_shopper: 0,
            }],
            codes: [(id, "TEN".to_owned())].into(),
            entered: vec!["TEN".into()],
            ..Offer::default()
        };
        let us = address("US", "CA");
        let q = quote(
            &wanted,
            &variants,
            Currency::USD,
            &shipping,
            &taxes,
            Choices {
                address: &us,
                option: "standard",
                email: Email::parse("a@b.co").expect("email"),
                expected_total: None,
                discounts: &offer,
                now: Utc::now(),
            },
        )
        .expect("quote");
        assert_eq!(q.subtotal_minor, 2500);
        assert_eq!(q.discount_minor, 250);
        assert_eq!(
            q.lines.iter().map(|l| l.discount_minor).collect::<Vec<_>>(),
            vec![200, 50]
        );
        assert_eq!(q.discounts.len(), 1);
        assert_eq!(q.discounts[0].code.as_deref(), Some("TEN"));
        let taxed = tax_on(2250 + q.shipping_minor, q.shipping_option.tax_rate_bp);
        assert_eq!(q.tax_minor, taxed);
        assert_eq!(q.total_minor, 2250 + q.shipping_minor + taxed);
        // The same code used up: the checkout stops, the shopper is told.
        let mut used = offer.clone();
        used.candidates[0].discount.conditions.usage_limit = Some(1);
        used.candidates[0].used = 1;
        let refused = quote(
            &wanted,
            &variants,
            Currency::USD,
            &shipping,
            &taxes,
            Choices {
                address: &us,
                option: "standard",
                email: Email::parse("a@b.co").expect("email"),
                expected_total: None,
                discounts: &used,
                now: Utc::now(),
            },
        );
        assert!(matches!(
            refused,
            Err(CheckoutError::Discount {
                refusal: Some(crate::discounts::model::Refusal::UsedUp),
                ..
            })
        ));
    }

    #[test]
    fn totals_in_minor_units_with_shipping_and_regional_tax() {
        let q = price(&[(snapshot(1999, true), 3)], "US", "CA", "express", None).expect("quote");
        assert_eq!(q.subtotal_minor, 5997);
        assert_eq!(q.shipping_minor, 1500);
        // 8.25 % of 74.97 = 6.185025 → 6.19
        assert_eq!(q.tax_minor, 619);
        assert_eq!(q.total_minor, 5997 + 1500 + 619);
        assert_eq!(q.shipping_option.tax_rate_bp, 825);
        let q = price(&[(snapshot(1999, true), 3)], "US", "NY", "standard", None).expect("quote");
        assert_eq!((q.shipping_minor, q.tax_minor), (500, 325));
        let q = price(&[(snapshot(5000, true), 2)], "FR", "", "standard", None).expect("quote");
        assert_eq!(
            (q.shipping_minor, q.tax_minor, q.total_minor),
            (0, 0, 10_000)
        );
    }

    #[test]
    fn refusals() {
        let refusal = |r: Result<Quote, CheckoutError>| r.expect_err("refused");
        assert_eq!(
            refusal(price(&[], "US", "", "standard", None)),
            CheckoutError::EmptyCart
        );
        assert_eq!(
            refusal(price(
                &[(snapshot(100, false), 1)],
                "US",
                "",
                "standard",
                None
            )),
            CheckoutError::NotForSale {
                sku: "TEE-M".into()
            }
        );
        assert_eq!(
            refusal(price(
                &[(snapshot(100, true), 1)],
                "FR",
                "",
                "express",
                None
            )),
            CheckoutError::NoShipping {
                option: "express".into(),
                country: "FR".into()
            }
        );
        assert_eq!(
            refusal(price(&[(snapshot(100, true), 1)], "US", "", "pigeon", None)),
            CheckoutError::NoShipping {
                option: "pigeon".into(),
                country: "US".into()
            }
        );
        assert_eq!(
            refusal(price(
                &[(snapshot(100, true), 1)],
                "US",
                "",
                "standard",
                Some(1)
            )),
            CheckoutError::PriceChanged {
                total: 630,
                expected: 1
            }
        );
        assert!(price(&[(snapshot(100, true), 1)], "US", "", "standard", Some(630)).is_ok());
        assert_eq!(
            refusal(price(
                &[(snapshot(MAX_AMOUNT, true), 2)],
                "US",
                "",
                "standard",
                None
            )),
            CheckoutError::OrderTotalOutOfRange
        );
        assert_eq!(
            refusal(price(
                &[(snapshot(i64::MAX, true), 2)],
                "US",
                "",
                "standard",
                None
            )),
            CheckoutError::LineTotalOutOfRange
        );
    }

    #[test]
    fn a_variant_gone_or_in_another_currency_is_refused() {
        let (shipping, taxes) = rates();
        let us = address("US", "");
        let none = Offer::default();
        let choices = || Choices {
            address: &us,
            option: "standard",
            email: Email::parse("a@b.co").expect("email"),
            expected_total: None,
            discounts: &none,
            now: Utc::now(),
        };
        let gone = VariantId::new();
        let wanted = [Wanted {
            variant: gone,
            quantity: 1,
        }];
        assert_eq!(
            quote(
                &wanted,
                &HashMap::new(),
                Currency::USD,
                &shipping,
                &taxes,
                choices()
            ),
            Err(CheckoutError::VariantGone { variant: gone })
        );
        let v = snapshot(100, true);
        let wanted = [Wanted {
            variant: v.variant_id,
            quantity: 1,
        }];
        let eur = Currency::parse("EUR").expect("valid");
        assert_eq!(
            quote(
                &wanted,
                &HashMap::from([(v.variant_id, v)]),
                eur,
                &shipping,
                &taxes,
                choices()
            ),
            Err(CheckoutError::WrongCurrency {
                sku: "TEE-M".into(),
                priced_in: Currency::USD,
                store: eur
            })
        );
    }

    #[test]
    fn keys_and_fingerprints() {
        assert_eq!(
            idempotency_key(None),
            Err(CheckoutError::MissingIdempotencyKey)
        );
        assert_eq!(
            idempotency_key(Some("  ")),
            Err(CheckoutError::MissingIdempotencyKey)
        );
        let bad = Err(CheckoutError::BadIdempotencyKey { max: 255 });
        assert_eq!(idempotency_key(Some(&"k".repeat(256))), bad);
        assert_eq!(idempotency_key(Some("a b")), bad);
        assert_eq!(
            idempotency_key(Some(&"k".repeat(255))).map(|k| k.len()),
            Ok(255)
        );
        assert_eq!(idempotency_key(Some(" k-1 ")).expect("ok"), "k-1");
        let a: serde_json::Value = serde_json::from_str(r#"{"a":1,"b":2}"#).expect("json");
        let b: serde_json::Value = serde_json::from_str(r#"{"b":2,"a":1}"#).expect("json");
        assert_eq!(request_hash("cart", &a), request_hash("cart", &b));
        assert_ne!(request_hash("cart", &a), request_hash("other", &a));
    }

    const SAGA_STATES: [SagaState; 7] = [
        SagaState::Started,
        SagaState::Reserved,
        SagaState::Authorized,
        SagaState::Ordered,
        SagaState::Completed,
        SagaState::Compensating,
        SagaState::Failed,
    ];

    const PAYMENT_STATUSES: [PaymentStatus; 7] = [
        PaymentStatus::Authorized,
        PaymentStatus::Declined,
        PaymentStatus::Failed,
        PaymentStatus::Captured,
        PaymentStatus::Voided,
        PaymentStatus::PartiallyRefunded,
        PaymentStatus::Refunded,
    ];

    proptest::proptest! {
        /// Money is given back only by a checkout that will never have an
        /// order; a checkout in flight is driven (or left to its driver),
        /// never refunded behind its back; a completed one is never touched.
        #[test]
        fn a_payment_event_never_undoes_an_order_nor_keeps_stray_money(
            state in proptest::sample::select(SAGA_STATES.to_vec()),
            payment in proptest::sample::select(PAYMENT_STATUSES.to_vec()),
            driver_recent in proptest::bool::ANY,
        ) {
            let action = on_payment_event(state, payment, driver_recent);
            let money_held = matches!(payment, PaymentStatus::Authorized | PaymentStatus::Captured);
            let in_flight = matches!(
                state,
                SagaState::Reserved | SagaState::Authorized | SagaState::Ordered
            );
            let ended_without_order = matches!(state, SagaState::Compensating | SagaState::Failed);
            // Stray money always goes back, and only from a checkout ending without an order.
            proptest::prop_assert_eq!(
                matches!(action, WebhookAction::ReturnMoney { .. }),
                money_held && ended_without_order
            );
            if let WebhookAction::ReturnMoney { then_drive } = action {
                proptest::prop_assert_eq!(then_drive, state == SagaState::Compensating);
            }
            // Only a checkout in flight is driven or waited for, and its
            // driver is never raced.
            proptest::prop_assert_eq!(
                matches!(action, WebhookAction::Drive | WebhookAction::Pending),
                in_flight
            );
            if in_flight {
                proptest::prop_assert_eq!(action == WebhookAction::Pending, driver_recent);
            }
            if matches!(state, SagaState::Completed | SagaState::Started) {
                proptest::prop_assert_eq!(action, WebhookAction::Ignore);
            }
        }
    }

    #[test]
    fn steps_and_failures_keep_their_wire_names() {
        for step in Step::ALL {
            assert_eq!(Step::parse(step.as_str()), Some(step));
        }
        assert_eq!(Step::AuthorizeAttempted.as_str(), "authorize_attempted");
        let short = Failure::out_of_stock(vec![Shortage {
            variant_id: VariantId::new(),
            requested: 3,
            available: 1,
        }]);
        assert_eq!(short.status(), 409);
        let body = short.body();
        assert_eq!(body["error"]["code"], "out_of_stock");
        assert_eq!(body["error"]["lines"][0]["requested"], 3);
        let declined = Failure::declined("insufficient_funds");
        assert_eq!(
            (declined.code, declined.status()),
            (ErrorCode::PaymentDeclined, 402)
        );
        assert_eq!(
            Failure::declined("processing_error").code,
            ErrorCode::PaymentFailed
        );
    }
}
