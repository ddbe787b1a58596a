//! The events the pods publish, declared once: every [`EventType`] with its
//! wire name and topic, one payload struct per event, the [`Event`] that
//! ties each type to its payload, and the [`Envelope`] a Kafka message
//! carries. The pod's producers build [`Event`]s (`mercato_pod::events::
//! record`), its relay wraps outbox rows in [`Envelope`]s, and consumers
//! (the control plane's analytics) read the same types.
//!
//! `docs/events.md` describes them; its event catalogue table is checked
//! against these types by this module's tests.
//!
//! Payload fields are only ever added, never renamed or retyped, and
//! readers ignore fields they do not know (no `deny_unknown_fields`): a
//! breaking change is a new event type.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use uuid::Uuid;

use crate::{
    CartId, CheckoutId, Currency, CustomerId, EventId, LocationId, OrderId, OrderStatus, ProductId,
    ProductStatus, ReviewId, ReviewStatus, ShipmentId, ShipmentStatus, StaffId, StoreId, VariantId,
    WebhookId,
};
use crate::{GiftCardId, RefundId, ReturnId};

/// The Kafka header that carries the event type, so consumers can filter
/// without parsing the value.
pub const TYPE_HEADER: &str = "type";

/// The Kafka topics events are published to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Topic {
    Orders,
    Payments,
    Inventory,
    Catalog,
    /// Staff and customer accounts; carries one-time tokens for the mailer.
    Accounts,
    /// Product reviews and their moderation.
    Reviews,
}

impl Topic {
    pub const ALL: [Topic; 6] = [
        Self::Orders,
        Self::Payments,
        Self::Inventory,
        Self::Catalog,
        Self::Accounts,
        Self::Reviews,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Orders => "order-events",
            Self::Payments => "payment-events",
            Self::Inventory => "inventory-events",
            Self::Catalog => "catalog-events",
            Self::Accounts => "account-events",
            Self::Reviews => "review-events",
        }
    }
}

impl fmt::Display for Topic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// What happened: `<context>.<what_happened>` on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventType {
    OrderPlaced,
    OrderStatusChanged,
    OrderCancelled,
    OrderRefunded,
    PaymentCaptured,
    PaymentVoided,
    PaymentRefunded,
    InventoryLevelChanged,
    ProductChanged,
    ProductDeleted,
    StaffInvited,
    PasswordResetRequested,
    CustomerConfirmationRequested,
    AccountExistsNotice,
    OrderFulfilled,
    ShipmentUpdated,
    ReviewCreated,
    ReviewPublished,
    ReviewRejected,
    CartAbandoned,
    CustomerCreated,
    WebhookDisabled,
    ReturnRequested,
    ReturnApproved,
    ReturnRejected,
    ReturnReceived,
    ReturnCompleted,
    LinesCancelled,
    RefundIssued,
    GiftCardIssued,
    StaffPasswordResetRequested,
}

impl EventType {
    pub const ALL: [EventType; 31] = [
        Self::OrderPlaced,
        Self::OrderStatusChanged,
        Self::OrderCancelled,
        Self::OrderRefunded,
        Self::PaymentCaptured,
        Self::PaymentVoided,
        Self::PaymentRefunded,
        Self::InventoryLevelChanged,
        Self::ProductChanged,
        Self::ProductDeleted,
        Self::StaffInvited,
        Self::PasswordResetRequested,
        Self::CustomerConfirmationRequested,
        Self::AccountExistsNotice,
        Self::OrderFulfilled,
        Self::ShipmentUpdated,
        Self::ReviewCreated,
        Self::ReviewPublished,
        Self::ReviewRejected,
        Self::CartAbandoned,
        Self::CustomerCreated,
        Self::WebhookDisabled,
        Self::ReturnRequested,
        Self::ReturnApproved,
        Self::ReturnRejected,
        Self::ReturnReceived,
        Self::ReturnCompleted,
        Self::LinesCancelled,
        Self::RefundIssued,
        Self::GiftCardIssued,
        Self::StaffPasswordResetRequested,
    ];

    /// The name on the wire (the envelope's `type`, the outbox's `type`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::OrderPlaced => "order.placed",
            Self::OrderStatusChanged => "order.status_changed",
            Self::OrderCancelled => "order.cancelled",
            Self::OrderRefunded => "order.refunded",
            Self::PaymentCaptured => "payment.captured",
            Self::PaymentVoided => "payment.voided",
            Self::PaymentRefunded => "payment.refunded",
            Self::InventoryLevelChanged => "inventory.level_changed",
            Self::ProductChanged => "catalog.product_changed",
            Self::ProductDeleted => "catalog.product_deleted",
            Self::StaffInvited => "staff.invited",
            Self::PasswordResetRequested => "customer.password_reset_requested",
            Self::CustomerConfirmationRequested => "customer.confirmation_requested",
            Self::AccountExistsNotice => "customer.account_exists_notice",
            Self::OrderFulfilled => "order.fulfilled",
            Self::ShipmentUpdated => "order.shipment_updated",
            Self::ReviewCreated => "review.created",
            Self::ReviewPublished => "review.published",
            Self::ReviewRejected => "review.rejected",
            Self::CartAbandoned => "cart.abandoned",
            Self::CustomerCreated => "customer.created",
            Self::WebhookDisabled => "staff.webhook_disabled",
            Self::ReturnRequested => "order.return_requested",
            Self::ReturnApproved => "order.return_approved",
            Self::ReturnRejected => "order.return_rejected",
            Self::ReturnReceived => "order.return_received",
            Self::ReturnCompleted => "order.return_completed",
            Self::LinesCancelled => "order.lines_cancelled",
            Self::RefundIssued => "order.refund_issued",
            Self::GiftCardIssued => "gift_card.issued",
            Self::StaffPasswordResetRequested => "staff.password_reset_requested",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }

    /// The topic it is published to.
    pub const fn topic(self) -> Topic {
        match self {
            Self::OrderPlaced
            | Self::OrderStatusChanged
            | Self::OrderCancelled
            | Self::OrderRefunded
            | Self::OrderFulfilled
            | Self::ShipmentUpdated => Topic::Orders,
            Self::PaymentCaptured | Self::PaymentVoided | Self::PaymentRefunded => Topic::Payments,
            Self::InventoryLevelChanged => Topic::Inventory,
            Self::ProductChanged | Self::ProductDeleted => Topic::Catalog,
            Self::StaffInvited
            | Self::PasswordResetRequested
            | Self::CustomerConfirmationRequested
            | Self::AccountExistsNotice
            | Self::CartAbandoned
            | Self::CustomerCreated
            | Self::WebhookDisabled => Topic::Accounts,
            Self::ReviewCreated | Self::ReviewPublished | Self::ReviewRejected => Topic::Reviews,
            Self::ReturnRequested
            | Self::ReturnApproved
            | Self::ReturnRejected
            | Self::ReturnReceived
            | Self::ReturnCompleted
            | Self::LinesCancelled
            | Self::RefundIssued => Topic::Orders,
            Self::GiftCardIssued | Self::StaffPasswordResetRequested => Topic::Accounts,
        }
    }

    /// What the envelope's `aggregate_id` names (see [`Event::aggregate_id`]).
    pub const fn aggregate(self) -> &'static str {
        match self {
            Self::OrderPlaced
            | Self::OrderStatusChanged
            | Self::OrderCancelled
            | Self::OrderRefunded
            | Self::PaymentCaptured
            | Self::PaymentRefunded
            | Self::OrderFulfilled
            | Self::ShipmentUpdated => "the order",
            Self::PaymentVoided => "the checkout",
            Self::InventoryLevelChanged => "the variant",
            Self::ProductChanged | Self::ProductDeleted => "the product",
            Self::StaffInvited => "the invitation",
            Self::PasswordResetRequested
            | Self::CustomerConfirmationRequested
            | Self::AccountExistsNotice => "the customer",
            Self::ReviewCreated | Self::ReviewPublished | Self::ReviewRejected => "the review",
            Self::CartAbandoned => "the cart",
            Self::CustomerCreated => "the customer",
            Self::WebhookDisabled => "the webhook subscription",
            Self::ReturnRequested
            | Self::ReturnApproved
            | Self::ReturnRejected
            | Self::ReturnReceived
            | Self::ReturnCompleted
            | Self::LinesCancelled
            | Self::RefundIssued => "the order",
            Self::GiftCardIssued => "the gift card",
            Self::StaffPasswordResetRequested => "the staff member",
        }
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// An event type this build does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown event type `{0}`")]
pub struct UnknownEventType(pub String);

impl FromStr for EventType {
    type Err = UnknownEventType;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s).ok_or_else(|| UnknownEventType(s.chars().take(64).collect()))
    }
}

impl Serialize for EventType {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for EventType {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        raw.parse().map_err(serde::de::Error::custom)
    }
}

/// `order.placed`: the checkout completed. Recorded in the transaction that
/// commits the stock and marks the order `paid`, after the capture.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderPlaced {
    pub order_id: OrderId,
    /// The store's human-readable order number (#1001, #1002, ...).
    pub number: i64,
    pub checkout_id: CheckoutId,
    /// `None` for a guest.
    pub customer_id: Option<CustomerId>,
    pub email: String,
    pub currency: Currency,
    pub subtotal_minor: i64,
    /// Off the lines by discounts (0 in events recorded before them).
    #[serde(default)]
    pub discount_minor: i64,
    /// The codes that applied, upper case.
    #[serde(default)]
    pub discount_codes: Vec<String>,
    /// What the shopper paid for shipping, after a shipping discount.
    pub shipping_minor: i64,
    pub tax_minor: i64,
    /// `subtotal_minor - discount_minor + shipping_minor + tax_minor`.
    pub total_minor: i64,
    /// What gift cards paid of the total (tender; the card paid the rest).
    /// 0 in events recorded before gift cards.
    #[serde(default)]
    pub gift_card_minor: i64,
    pub lines: Vec<OrderLine>,
    /// The order's page for the confirmation mail,
    /// `/api/orders/{number}?token=<lookup token>`: a secret (whoever holds
    /// it may read a guest's order). Absent from events recorded before it.
    #[serde(default)]
    pub confirmation_path: Option<String>,
}

/// One line of an [`OrderPlaced`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderLine {
    pub variant_id: VariantId,
    pub product_id: ProductId,
    pub sku: String,
    pub quantity: i32,
    pub unit_price_minor: i64,
    /// The discounts' share of the line (0 in events recorded before them).
    #[serde(default)]
    pub discount_minor: i64,
}

/// `order.status_changed`: staff moved an order along fulfilment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderStatusChanged {
    pub order_id: OrderId,
    pub number: i64,
    pub from: OrderStatus,
    pub to: OrderStatus,
}

/// `customer.created`: a shopper confirmed their registration; the account
/// exists from now on. Holds no secret (merchant webhooks carry it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerCreated {
    pub customer_id: CustomerId,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub accepts_marketing: bool,
}

/// `staff.webhook_disabled`: a merchant webhook subscription was turned
/// off after a run of failed deliveries; its owner is mailed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookDisabled {
    pub webhook_id: WebhookId,
    pub url: String,
    /// Why, as the subscription says (`disabled_reason`).
    pub reason: String,
    /// The store owner's address.
    pub owner_email: String,
}

/// `cart.abandoned`: a cart with lines and an email was left untouched for
/// the store's `abandoned_cart_hours`; its reminder mail comes from it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CartAbandoned {
    pub cart_id: CartId,
    /// `None` for a guest's cart.
    pub customer_id: Option<CustomerId>,
    pub email: String,
    pub currency: Currency,
    pub lines: Vec<AbandonedLine>,
    /// A guest's link back to the cart, `/cart/restore?token=<secret>`
    /// (whoever holds it gets a copy of the cart); `None` for a customer,
    /// whose cart waits at sign-in.
    pub restore_path: Option<String>,
}

/// One line of a [`CartAbandoned`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AbandonedLine {
    pub sku: String,
    pub title: String,
    pub quantity: i32,
    pub unit_price_minor: i64,
}

/// `order.fulfilled`: every unit of the order has shipped (recorded with
/// the `order.status_changed` that says so).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderFulfilled {
    pub order_id: OrderId,
    pub number: i64,
}

/// `order.shipment_updated`: a shipment of an order was created by staff,
/// moved along its lifecycle, or had its tracking changed. The shopper's
/// shipping and delivery mails come from it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShipmentUpdated {
    pub order_id: OrderId,
    pub number: i64,
    pub shipment_id: ShipmentId,
    /// What happened to it.
    pub change: ShipmentChange,
    pub status: ShipmentStatus,
    pub carrier: String,
    pub tracking_number: String,
    pub tracking_url: String,
    /// The order's email (where its mails go).
    pub email: String,
    pub lines: Vec<ShipmentUpdatedLine>,
}

/// What a [`ShipmentUpdated`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ShipmentChange {
    /// Staff created it (with a label, or shipped).
    Created,
    /// It moved to `status`.
    Moved,
    /// Its carrier or tracking changed; the status did not.
    Tracking,
}

/// Units of one order line in a [`ShipmentUpdated`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShipmentUpdatedLine {
    pub sku: String,
    pub title: String,
    pub quantity: i32,
}

/// `order.cancelled` and `order.refunded`: staff cancelled or refunded an
/// order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderGivenBack {
    pub order_id: OrderId,
    pub number: i64,
    pub refunded_minor: i64,
    pub restocked_units: i64,
    pub reason: Option<String>,
}

/// `payment.captured`, `payment.voided` and `payment.refunded`: money moved
/// at the payment gateway.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentChanged {
    /// `None` for a voided checkout that never made an order.
    pub order_id: Option<OrderId>,
    pub checkout_id: CheckoutId,
    /// The gateway's id (`pay_...`).
    pub payment_id: String,
    pub amount_minor: i64,
    pub currency: Currency,
}

/// `order.lines_cancelled`: staff cancelled units of a paid order before
/// they shipped; they were refunded (`refund_minor`, paid as its own
/// refund) and put back on the shelf or written off. When no unit of the
/// order is left, the order is cancelled with them (`order_cancelled`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinesCancelled {
    pub order_id: OrderId,
    pub number: i64,
    /// The order's email (where its mails go).
    pub email: String,
    pub currency: Currency,
    pub lines: Vec<CancelledLine>,
    /// The refund reserved for them (0: nothing was left to refund).
    pub refund_minor: i64,
    pub restocked_units: i64,
    pub order_cancelled: bool,
    pub reason: Option<String>,
}

/// Units of one order line in a [`LinesCancelled`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CancelledLine {
    /// The order line's position (0 first).
    pub line: i32,
    pub variant_id: VariantId,
    pub sku: String,
    pub title: String,
    pub quantity: i32,
}

/// Why money went back to the shopper.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefundCause {
    /// A return's refund.
    Return,
    /// Staff gave an amount back.
    Goodwill,
    /// Staff cancelled lines before they shipped.
    LinesCancelled,
    /// What was left of the order when it was cancelled.
    OrderCancelled,
    /// What was left of the order when it was refunded whole.
    OrderRefunded,
}

impl RefundCause {
    pub const ALL: [RefundCause; 5] = [
        Self::Return,
        Self::Goodwill,
        Self::LinesCancelled,
        Self::OrderCancelled,
        Self::OrderRefunded,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Return => "return",
            Self::Goodwill => "goodwill",
            Self::LinesCancelled => "lines_cancelled",
            Self::OrderCancelled => "order_cancelled",
            Self::OrderRefunded => "order_refunded",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

/// `order.refund_issued`: the gateway paid a refund of an order back (any
/// refund: `payment.refunded` says the same for the money's ledger; this
/// one says it for the shopper, with where the mail goes and why).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundIssued {
    pub order_id: OrderId,
    pub number: i64,
    pub email: String,
    pub currency: Currency,
    pub refund_id: RefundId,
    /// All of it: to gift cards and to the card together.
    pub amount_minor: i64,
    /// The part credited back to the gift cards that paid the order (0 in
    /// events recorded before gift cards).
    #[serde(default)]
    pub gift_card_minor: i64,
    pub cause: RefundCause,
    pub reason: Option<String>,
}

/// `gift_card.issued`: a gift card bought in an order was issued when the
/// order was paid (one per unit). Without its code: the mail that carries
/// it reads the code from the card, which forgets it once mailed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GiftCardIssued {
    pub gift_card_id: GiftCardId,
    pub order_id: OrderId,
    pub number: i64,
    pub customer_id: Option<CustomerId>,
    pub email: String,
    pub currency: Currency,
    pub amount_minor: i64,
    pub last4: String,
    pub expires_at: Option<DateTime<Utc>>,
}

/// `inventory.level_changed`: a stock level of a (variant, location)
/// changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LevelChanged {
    pub variant_id: VariantId,
    pub location_id: LocationId,
    pub on_hand: i32,
    pub reserved: i32,
    /// `on_hand - reserved`.
    pub available: i32,
    /// The change of `on_hand` (or of `reserved` for holds).
    pub delta: i32,
    pub reason: String,
}

/// `catalog.product_changed`: something of a product changed (its fields,
/// variants, stock, images, collections or categories).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductChanged {
    pub product_id: ProductId,
    pub status: ProductStatus,
}

/// `catalog.product_deleted`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductDeleted {
    pub product_id: ProductId,
}

/// `staff.invited`, with the one-time token for the invitation mail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StaffInvited {
    pub invitation_id: Uuid,
    pub store_id: StoreId,
    pub store_name: String,
    pub email: String,
    pub token: String,
    pub expires_at: DateTime<Utc>,
}

/// `customer.password_reset_requested`, with the one-time token for the
/// reset mail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PasswordResetRequested {
    pub customer_id: CustomerId,
    pub email: String,
    pub token: String,
    pub expires_at: DateTime<Utc>,
}

/// `staff.password_reset_requested`: an owner or staff member of the
/// store (`store_name`) asked to reset their password, on the store's
/// admin or the platform's page; with the one-time token for the reset
/// mail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StaffPasswordResetRequested {
    pub staff_id: StaffId,
    pub email: String,
    pub store_name: String,
    pub token: String,
    pub expires_at: DateTime<Utc>,
}

/// `customer.confirmation_requested`: a registration for an email without
/// a confirmed account; the one-time token for the mail that finishes it
/// (`POST /api/customers/confirm`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerConfirmationRequested {
    pub customer_id: CustomerId,
    pub email: String,
    pub token: String,
    pub expires_at: DateTime<Utc>,
}

/// `customer.account_exists_notice`: someone registered with the email of
/// an existing account. The mailer tells the address's owner (who may sign
/// in or reset the password); the one who registered was answered as for a
/// new account, so registration does not reveal who has an account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountExistsNotice {
    pub customer_id: CustomerId,
    pub email: String,
}

/// `review.created`: a customer reviewed a product they received. The review
/// waits for moderation (`pending`): it is neither shown nor counted yet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReviewCreated {
    pub review_id: ReviewId,
    pub product_id: ProductId,
    pub customer_id: CustomerId,
    /// The delivered order that made the customer eligible.
    pub order_id: OrderId,
    /// 1 to 5 stars.
    pub rating: i16,
}

/// `review.published` and `review.rejected`: staff moderated a review. A
/// published review is shown to shoppers and counted in its product's
/// rating; a rejected one is neither.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReviewModerated {
    pub review_id: ReviewId,
    pub product_id: ProductId,
    pub rating: i16,
    /// The status before (`pending`, or the other of published and
    /// rejected).
    pub from: ReviewStatus,
}

/// `order.return_requested`, `order.return_approved`,
/// `order.return_rejected`, `order.return_received` and
/// `order.return_completed`: a return of some of an
/// order's units moved on (see pod/src/returns).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReturnChanged {
    pub return_id: ReturnId,
    pub order_id: OrderId,
    pub number: i64,
    /// The order's email: where the shopper's mails about it go.
    pub email: String,
    pub currency: Currency,
    /// The shopper's reason.
    pub reason: String,
    /// Staff's note (approval, rejection), if any.
    pub note: Option<String>,
    pub lines: Vec<ReturnedLine>,
    /// The refund paid (`order.return_completed`; none when nothing was left to
    /// refund).
    pub refund_id: Option<RefundId>,
    pub refund_minor: Option<i64>,
}

/// One line of a [`ReturnChanged`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReturnedLine {
    /// The order line's position (0 first).
    pub line: i32,
    pub variant_id: VariantId,
    pub quantity: i32,
    /// `unopened`, `opened` or `damaged`, once received.
    pub condition: Option<String>,
    /// Whether the units went back to stock, once received.
    pub restock: Option<bool>,
}

/// An event: its type and its payload, which cannot disagree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    OrderPlaced(OrderPlaced),
    OrderStatusChanged(OrderStatusChanged),
    OrderCancelled(OrderGivenBack),
    OrderRefunded(OrderGivenBack),
    PaymentCaptured(PaymentChanged),
    PaymentVoided(PaymentChanged),
    PaymentRefunded(PaymentChanged),
    InventoryLevelChanged(LevelChanged),
    ProductChanged(ProductChanged),
    ProductDeleted(ProductDeleted),
    StaffInvited(StaffInvited),
    PasswordResetRequested(PasswordResetRequested),
    CustomerConfirmationRequested(CustomerConfirmationRequested),
    AccountExistsNotice(AccountExistsNotice),
    OrderFulfilled(OrderFulfilled),
    ShipmentUpdated(ShipmentUpdated),
    ReviewCreated(ReviewCreated),
    ReviewPublished(ReviewModerated),
    ReviewRejected(ReviewModerated),
    CartAbandoned(CartAbandoned),
    CustomerCreated(CustomerCreated),
    WebhookDisabled(WebhookDisabled),
    ReturnRequested(ReturnChanged),
    ReturnApproved(ReturnChanged),
    ReturnRejected(ReturnChanged),
    ReturnReceived(ReturnChanged),
    ReturnCompleted(ReturnChanged),
    LinesCancelled(LinesCancelled),
    RefundIssued(RefundIssued),
    GiftCardIssued(GiftCardIssued),
    StaffPasswordResetRequested(StaffPasswordResetRequested),
}

impl Event {
    pub fn event_type(&self) -> EventType {
        match self {
            Self::OrderPlaced(_) => EventType::OrderPlaced,
            Self::OrderStatusChanged(_) => EventType::OrderStatusChanged,
            Self::OrderCancelled(_) => EventType::OrderCancelled,
            Self::OrderRefunded(_) => EventType::OrderRefunded,
            Self::PaymentCaptured(_) => EventType::PaymentCaptured,
            Self::PaymentVoided(_) => EventType::PaymentVoided,
            Self::PaymentRefunded(_) => EventType::PaymentRefunded,
            Self::InventoryLevelChanged(_) => EventType::InventoryLevelChanged,
            Self::ProductChanged(_) => EventType::ProductChanged,
            Self::ProductDeleted(_) => EventType::ProductDeleted,
            Self::StaffInvited(_) => EventType::StaffInvited,
            Self::PasswordResetRequested(_) => EventType::PasswordResetRequested,
            Self::CustomerConfirmationRequested(_) => EventType::CustomerConfirmationRequested,
            Self::AccountExistsNotice(_) => EventType::AccountExistsNotice,
            Self::OrderFulfilled(_) => EventType::OrderFulfilled,
            Self::ShipmentUpdated(_) => EventType::ShipmentUpdated,
            Self::ReviewCreated(_) => EventType::ReviewCreated,
            Self::ReviewPublished(_) => EventType::ReviewPublished,
            Self::ReviewRejected(_) => EventType::ReviewRejected,
            Self::CartAbandoned(_) => EventType::CartAbandoned,
            Self::CustomerCreated(_) => EventType::CustomerCreated,
            Self::WebhookDisabled(_) => EventType::WebhookDisabled,
            Self::ReturnRequested(_) => EventType::ReturnRequested,
            Self::ReturnApproved(_) => EventType::ReturnApproved,
            Self::ReturnRejected(_) => EventType::ReturnRejected,
            Self::ReturnReceived(_) => EventType::ReturnReceived,
            Self::ReturnCompleted(_) => EventType::ReturnCompleted,
            Self::LinesCancelled(_) => EventType::LinesCancelled,
            Self::RefundIssued(_) => EventType::RefundIssued,
            Self::GiftCardIssued(_) => EventType::GiftCardIssued,
            Self::StaffPasswordResetRequested(_) => EventType::StaffPasswordResetRequested,
        }
    }

    /// The id of the thing that changed, as [`EventType::aggregate`] says.
    pub fn aggregate_id(&self) -> Uuid {
        match self {
            Self::OrderPlaced(e) => e.order_id.as_uuid(),
            Self::OrderStatusChanged(e) => e.order_id.as_uuid(),
            Self::OrderCancelled(e) | Self::OrderRefunded(e) => e.order_id.as_uuid(),
            // Captured and refunded money always belongs to an order.
            Self::PaymentCaptured(e) | Self::PaymentRefunded(e) => {
                e.order_id.map_or(e.checkout_id.as_uuid(), |o| o.as_uuid())
            }
            Self::PaymentVoided(e) => e.checkout_id.as_uuid(),
            Self::InventoryLevelChanged(e) => e.variant_id.as_uuid(),
            Self::ProductChanged(e) => e.product_id.as_uuid(),
            Self::ProductDeleted(e) => e.product_id.as_uuid(),
            Self::StaffInvited(e) => e.invitation_id,
            Self::PasswordResetRequested(e) => e.customer_id.as_uuid(),
            Self::CustomerConfirmationRequested(e) => e.customer_id.as_uuid(),
            Self::AccountExistsNotice(e) => e.customer_id.as_uuid(),
            Self::OrderFulfilled(e) => e.order_id.as_uuid(),
            Self::ShipmentUpdated(e) => e.order_id.as_uuid(),
            Self::ReviewCreated(e) => e.review_id.as_uuid(),
            Self::ReviewPublished(e) | Self::ReviewRejected(e) => e.review_id.as_uuid(),
            Self::CartAbandoned(e) => e.cart_id.as_uuid(),
            Self::CustomerCreated(e) => e.customer_id.as_uuid(),
            Self::WebhookDisabled(e) => e.webhook_id.as_uuid(),
            Self::ReturnRequested(e)
            | Self::ReturnApproved(e)
            | Self::ReturnRejected(e)
            | Self::ReturnReceived(e)
            | Self::ReturnCompleted(e) => e.order_id.as_uuid(),
            Self::LinesCancelled(e) => e.order_id.as_uuid(),
            Self::RefundIssued(e) => e.order_id.as_uuid(),
            Self::GiftCardIssued(e) => e.gift_card_id.as_uuid(),
            Self::StaffPasswordResetRequested(e) => e.staff_id.as_uuid(),
        }
    }

    /// The payload as JSON (the envelope's `payload`).
    pub fn payload(&self) -> Result<serde_json::Value, serde_json::Error> {
        match self {
            Self::OrderPlaced(e) => serde_json::to_value(e),
            Self::OrderStatusChanged(e) => serde_json::to_value(e),
            Self::OrderCancelled(e) | Self::OrderRefunded(e) => serde_json::to_value(e),
            Self::PaymentCaptured(e) | Self::PaymentVoided(e) | Self::PaymentRefunded(e) => {
                serde_json::to_value(e)
            }
            Self::InventoryLevelChanged(e) => serde_json::to_value(e),
            Self::ProductChanged(e) => serde_json::to_value(e),
            Self::ProductDeleted(e) => serde_json::to_value(e),
            Self::StaffInvited(e) => serde_json::to_value(e),
            Self::PasswordResetRequested(e) => serde_json::to_value(e),
            Self::CustomerConfirmationRequested(e) => serde_json::to_value(e),
            Self::AccountExistsNotice(e) => serde_json::to_value(e),
            Self::OrderFulfilled(e) => serde_json::to_value(e),
            Self::ShipmentUpdated(e) => serde_json::to_value(e),
            Self::ReviewCreated(e) => serde_json::to_value(e),
            Self::ReviewPublished(e) | Self::ReviewRejected(e) => serde_json::to_value(e),
            Self::CartAbandoned(e) => serde_json::to_value(e),
            Self::CustomerCreated(e) => serde_json::to_value(e),
            Self::WebhookDisabled(e) => serde_json::to_value(e),
            Self::ReturnRequested(e)
            | Self::ReturnApproved(e)
            | Self::ReturnRejected(e)
            | Self::ReturnReceived(e)
            | Self::ReturnCompleted(e) => serde_json::to_value(e),
            Self::LinesCancelled(e) => serde_json::to_value(e),
            Self::RefundIssued(e) => serde_json::to_value(e),
            Self::GiftCardIssued(e) => serde_json::to_value(e),
            Self::StaffPasswordResetRequested(e) => serde_json::to_value(e),
        }
    }

    /// Reads the payload of an event of type `event_type`.
    pub fn decode(
        event_type: EventType,
        payload: &serde_json::Value,
    ) -> Result<Self, serde_json::Error> {
        Ok(match event_type {
            EventType::OrderPlaced => Self::OrderPlaced(Deserialize::deserialize(payload)?),
            EventType::OrderStatusChanged => {
                Self::OrderStatusChanged(Deserialize::deserialize(payload)?)
            }
            EventType::OrderCancelled => Self::OrderCancelled(Deserialize::deserialize(payload)?),
            EventType::OrderRefunded => Self::OrderRefunded(Deserialize::deserialize(payload)?),
            EventType::PaymentCaptured => Self::PaymentCaptured(Deserialize::deserialize(payload)?),
            EventType::PaymentVoided => Self::PaymentVoided(Deserialize::deserialize(payload)?),
            EventType::PaymentRefunded => Self::PaymentRefunded(Deserialize::deserialize(payload)?),
            EventType::InventoryLevelChanged => {
                Self::InventoryLevelChanged(Deserialize::deserialize(payload)?)
            }
            EventType::ProductChanged => Self::ProductChanged(Deserialize::deserialize(payload)?),
            EventType::ProductDeleted => Self::ProductDeleted(Deserialize::deserialize(payload)?),
            EventType::StaffInvited => Self::StaffInvited(Deserialize::deserialize(payload)?),
            EventType::PasswordResetRequested => {
                Self::PasswordResetRequested(Deserialize::deserialize(payload)?)
            }
            EventType::CustomerConfirmationRequested => {
                Self::CustomerConfirmationRequested(Deserialize::deserialize(payload)?)
            }
            EventType::AccountExistsNotice => {
                Self::AccountExistsNotice(Deserialize::deserialize(payload)?)
            }
            EventType::OrderFulfilled => Self::OrderFulfilled(Deserialize::deserialize(payload)?),
            EventType::ShipmentUpdated => Self::ShipmentUpdated(Deserialize::deserialize(payload)?),
            EventType::ReviewCreated => Self::ReviewCreated(Deserialize::deserialize(payload)?),
            EventType::ReviewPublished => Self::ReviewPublished(Deserialize::deserialize(payload)?),
            EventType::ReviewRejected => Self::ReviewRejected(Deserialize::deserialize(payload)?),
            EventType::CartAbandoned => Self::CartAbandoned(Deserialize::deserialize(payload)?),
            EventType::CustomerCreated => Self::CustomerCreated(Deserialize::deserialize(payload)?),
            EventType::WebhookDisabled => Self::WebhookDisabled(Deserialize::deserialize(payload)?),
            EventType::ReturnRequested => Self::ReturnRequested(Deserialize::deserialize(payload)?),
            EventType::ReturnApproved => Self::ReturnApproved(Deserialize::deserialize(payload)?),
            EventType::ReturnRejected => Self::ReturnRejected(Deserialize::deserialize(payload)?),
            EventType::ReturnReceived => Self::ReturnReceived(Deserialize::deserialize(payload)?),
            EventType::ReturnCompleted => Self::ReturnCompleted(Deserialize::deserialize(payload)?),
            EventType::LinesCancelled => Self::LinesCancelled(Deserialize::deserialize(payload)?),
            EventType::RefundIssued => Self::RefundIssued(Deserialize::deserialize(payload)?),
            EventType::GiftCardIssued => Self::GiftCardIssued(Deserialize::deserialize(payload)?),
            EventType::StaffPasswordResetRequested => {
                Self::StaffPasswordResetRequested(Deserialize::deserialize(payload)?)
            }
        })
    }
}

/// What a Kafka message's value holds: one outbox row. The message's key is
/// the store id; its [`TYPE_HEADER`] is the event type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    /// Unique, time-ordered: the key consumers dedupe by.
    pub event_id: EventId,
    pub store_id: StoreId,
    #[serde(rename = "type")]
    pub event_type: EventType,
    pub aggregate_id: Uuid,
    /// When the recording transaction ran.
    pub occurred_at: DateTime<Utc>,
    /// The payload of `event_type`, as recorded; [`Envelope::event`] reads
    /// it.
    pub payload: serde_json::Value,
}

impl Envelope {
    /// The typed event this envelope carries.
    pub fn event(&self) -> Result<Event, serde_json::Error> {
        Event::decode(self.event_type, &self.payload)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use serde_json::{json, Value};

    use super::*;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(secs, 0).expect("valid time")
    }

    /// An event of every type, with every optional field set, so that its
    /// JSON shows every field.
    fn sample(event_type: EventType) -> Event {
        let order = OrderId::new();
        let checkout = CheckoutId::new();
        let given_back = OrderGivenBack {
            order_id: order,
            number: 1001,
            refunded_minor: 4680,
            restocked_units: 2,
            reason: Some("damaged".into()),
        };
        let payment = PaymentChanged {
            order_id: Some(order),
            checkout_id: checkout,
            payment_id: "pay_1".into(),
            amount_minor: 4680,
            currency: Currency::USD,
        };
        match event_type {
            EventType::OrderPlaced => Event::OrderPlaced(OrderPlaced {
                order_id: order,
                number: 1001,
                checkout_id: checkout,
                customer_id: Some(CustomerId::new()),
                email: "a@b.c".into(),
                currency: Currency::USD,
                subtotal_minor: 3800,
                discount_minor: 0,
                discount_codes: Vec::new(),
                shipping_minor: 500,
                tax_minor: 380,
                total_minor: 4680,
                gift_card_minor: 0,
                lines: vec![OrderLine {
                    variant_id: VariantId::new(),
                    product_id: ProductId::new(),
                    sku: "TEE-M".into(),
                    quantity: 2,
                    unit_price_minor: 1900,
                    discount_minor: 0,
                }],
                confirmation_path: Some("/api/orders/1001?token=secret".into()),
            }),
            EventType::OrderStatusChanged => Event::OrderStatusChanged(OrderStatusChanged {
                order_id: order,
                number: 1001,
                from: OrderStatus::Paid,
                to: OrderStatus::Fulfilled,
            }),
            EventType::OrderCancelled => Event::OrderCancelled(given_back),
            EventType::OrderRefunded => Event::OrderRefunded(given_back),
            EventType::PaymentCaptured => Event::PaymentCaptured(payment),
            EventType::PaymentVoided => Event::PaymentVoided(payment),
            EventType::PaymentRefunded => Event::PaymentRefunded(payment),
            EventType::InventoryLevelChanged => Event::InventoryLevelChanged(LevelChanged {
                variant_id: VariantId::new(),
                location_id: LocationId::new(),
                on_hand: 40,
                reserved: 3,
                available: 37,
                delta: -2,
                reason: "sold".into(),
            }),
            EventType::ProductChanged => Event::ProductChanged(ProductChanged {
                product_id: ProductId::new(),
                status: ProductStatus::Active,
            }),
            EventType::ProductDeleted => Event::ProductDeleted(ProductDeleted {
                product_id: ProductId::new(),
            }),
            EventType::StaffInvited => Event::StaffInvited(StaffInvited {
                invitation_id: Uuid::now_v7(),
                store_id: StoreId::new(),
                store_name: "Demo Store".into(),
                email: "new@staff.example".into(),
                token: "secret".into(),
                expires_at: at(1_700_000_000),
            }),
            EventType::PasswordResetRequested => {
                Event::PasswordResetRequested(PasswordResetRequested {
                    customer_id: CustomerId::new(),
                    email: "a@b.c".into(),
                    token: "secret".into(),
                    expires_at: at(1_700_000_000),
                })
            }
            EventType::CustomerConfirmationRequested => {
                Event::CustomerConfirmationRequested(CustomerConfirmationRequested {
                    customer_id: CustomerId::new(),
                    email: "a@b.c".into(),
                    token: "secret".into(),
                    expires_at: at(1_700_000_000),
                })
            }
            EventType::AccountExistsNotice => Event::AccountExistsNotice(AccountExistsNotice {
                customer_id: CustomerId::new(),
                email: "a@b.c".into(),
            }),
            EventType::OrderFulfilled => Event::OrderFulfilled(OrderFulfilled {
                order_id: order,
                number: 1001,
            }),
            EventType::ShipmentUpdated => Event::ShipmentUpdated(ShipmentUpdated {
                order_id: order,
                number: 1001,
                shipment_id: ShipmentId::new(),
                change: ShipmentChange::Moved,
                status: ShipmentStatus::Shipped,
                carrier: "UPS".into(),
                tracking_number: "1Z999".into(),
                tracking_url: "https://ups.example/1Z999".into(),
                email: "a@b.c".into(),
                lines: vec![ShipmentUpdatedLine {
                    sku: "TEE-M".into(),
                    title: "Tee".into(),
                    quantity: 2,
                }],
            }),
            EventType::ReviewCreated => Event::ReviewCreated(ReviewCreated {
                review_id: ReviewId::new(),
                product_id: ProductId::new(),
                customer_id: CustomerId::new(),
                order_id: order,
                rating: 4,
            }),
            EventType::ReviewPublished => Event::ReviewPublished(ReviewModerated {
                review_id: ReviewId::new(),
                product_id: ProductId::new(),
                rating: 4,
                from: ReviewStatus::Pending,
            }),
            EventType::ReviewRejected => Event::ReviewRejected(ReviewModerated {
                review_id: ReviewId::new(),
                product_id: ProductId::new(),
                rating: 1,
                from: ReviewStatus::Published,
            }),
            EventType::CustomerCreated => Event::CustomerCreated(CustomerCreated {
                customer_id: CustomerId::new(),
                email: "a@b.c".into(),
                first_name: "Ada".into(),
                last_name: "Lovelace".into(),
                accepts_marketing: true,
            }),
            EventType::WebhookDisabled => Event::WebhookDisabled(WebhookDisabled {
                webhook_id: WebhookId::new(),
                url: "https://hooks.example.com/in".into(),
                reason: "5 deliveries in a row failed; the last: 503".into(),
                owner_email: "owner@shop.example".into(),
            }),
            EventType::CartAbandoned => Event::CartAbandoned(CartAbandoned {
                cart_id: CartId::new(),
                customer_id: Some(CustomerId::new()),
                email: "a@b.c".into(),
                currency: Currency::USD,
                lines: vec![AbandonedLine {
                    sku: "TEE-M".into(),
                    title: "Tee".into(),
                    quantity: 1,
                    unit_price_minor: 1900,
                }],
                restore_path: Some("/cart/restore?token=secret".into()),
            }),
            EventType::ReturnRequested
            | EventType::ReturnApproved
            | EventType::ReturnRejected
            | EventType::ReturnReceived
            | EventType::ReturnCompleted => {
                let changed = ReturnChanged {
                    return_id: ReturnId::new(),
                    order_id: order,
                    number: 1001,
                    email: "a@b.c".into(),
                    currency: Currency::USD,
                    reason: "too small".into(),
                    note: Some("approved".into()),
                    lines: vec![ReturnedLine {
                        line: 0,
                        variant_id: VariantId::new(),
                        quantity: 1,
                        condition: Some("unopened".into()),
                        restock: Some(true),
                    }],
                    refund_id: Some(RefundId::new()),
                    refund_minor: Some(2090),
                };
                match event_type {
                    EventType::ReturnRequested => Event::ReturnRequested(changed),
                    EventType::ReturnApproved => Event::ReturnApproved(changed),
                    EventType::ReturnRejected => Event::ReturnRejected(changed),
                    EventType::ReturnReceived => Event::ReturnReceived(changed),
                    _ => Event::ReturnCompleted(changed),
                }
            }
            EventType::LinesCancelled => Event::LinesCancelled(LinesCancelled {
                order_id: order,
                number: 1001,
                email: "a@b.c".into(),
                currency: Currency::USD,
                lines: vec![CancelledLine {
                    line: 0,
                    variant_id: VariantId::new(),
                    sku: "TEE-M".into(),
                    title: "Tee".into(),
                    quantity: 1,
                }],
                refund_minor: 2090,
                restocked_units: 1,
                order_cancelled: false,
                reason: Some("out of stock at the warehouse".into()),
            }),
            EventType::RefundIssued => Event::RefundIssued(RefundIssued {
                order_id: order,
                number: 1001,
                email: "a@b.c".into(),
                currency: Currency::USD,
                refund_id: RefundId::new(),
                amount_minor: 500,
                gift_card_minor: 0,
                cause: RefundCause::Goodwill,
                reason: Some("late delivery".into()),
            }),
            EventType::GiftCardIssued => Event::GiftCardIssued(GiftCardIssued {
                gift_card_id: GiftCardId::new(),
                order_id: order,
                number: 1001,
                customer_id: Some(CustomerId::new()),
                email: "a@b.c".into(),
                currency: Currency::USD,
                amount_minor: 5000,
                last4: "QR7T".into(),
                expires_at: Some(at(1_800_000_000)),
            }),
            EventType::StaffPasswordResetRequested => {
                Event::StaffPasswordResetRequested(StaffPasswordResetRequested {
                    staff_id: StaffId::new(),
                    email: "owner@shop.example".into(),
                    store_name: "Demo Store".into(),
                    token: "secret".into(),
                    expires_at: at(1_700_000_000),
                })
            }
        }
    }

    /// The payload's field names, `lines[].sku` for the fields of a list's
    /// objects, in name order.
    fn fields(payload: &Value) -> Vec<String> {
        fn walk(prefix: &str, value: &Value, out: &mut BTreeSet<String>) {
            let Some(object) = value.as_object() else {
                return;
            };
            for (key, v) in object {
                let name = format!("{prefix}{key}");
                out.insert(name.clone());
                if let Some(first) = v.as_array().and_then(|a| a.first()) {
                    walk(&format!("{name}[]."), first, out);
                }
            }
        }
        let mut out = BTreeSet::new();
        walk("", payload, &mut out);
        out.into_iter().collect()
    }

    const BEGIN: &str = "<!-- event catalogue: generated from tenants/src/events.rs -->";
    const END: &str = "<!-- end of event catalogue -->";

    /// The catalogue table of `docs/events.md`, as the types say it is.
    fn catalogue() -> String {
        let mut out =
            String::from("| type | topic | aggregate | payload fields |\n|---|---|---|---|\n");
        for t in EventType::ALL {
            let payload = sample(t).payload().expect("serialises");
            let fields: Vec<String> = fields(&payload)
                .into_iter()
                .map(|f| format!("`{f}`"))
                .collect();
            out.push_str(&format!(
                "| `{t}` | `{}` | {} | {} |\n",
                t.topic(),
                t.aggregate(),
                fields.join(", ")
            ));
        }
        out
    }

    #[test]
    fn the_documented_catalogue_is_the_typed_one() {
        let doc = include_str!("../../docs/events.md");
        let expected = catalogue();
        let documented = doc
            .split_once(BEGIN)
            .and_then(|(_, rest)| rest.split_once(END))
            .map(|(table, _)| table.trim_start_matches('\n'));
        assert_eq!(
            documented,
            Some(expected.as_str()),
            "docs/events.md's event catalogue is stale; between\n{BEGIN}\nand\n{END}\nit should read:\n\n{expected}"
        );
        for t in EventType::ALL {
            assert!(
                doc.contains(&format!("**`{t}`**")),
                "docs/events.md does not describe {t}"
            );
        }
    }

    #[test]
    fn every_event_round_trips_through_its_envelope() {
        for t in EventType::ALL {
            let event = sample(t);
            assert_eq!(event.event_type(), t);
            let envelope = Envelope {
                event_id: EventId::new(),
                store_id: StoreId::new(),
                event_type: t,
                aggregate_id: event.aggregate_id(),
                occurred_at: at(1_700_000_000),
                payload: event.payload().expect("serialises"),
            };
            let json = serde_json::to_string(&envelope).expect("json");
            let back: Envelope = serde_json::from_str(&json).expect("parses");
            assert_eq!(back, envelope);
            assert_eq!(back.event().expect("its payload"), event);
        }
    }

    #[test]
    fn names_parse_and_topics_follow_the_type_prefix() {
        for t in EventType::ALL {
            assert_eq!(t.as_str().parse::<EventType>(), Ok(t));
            assert_eq!(serde_json::to_value(t).expect("json"), json!(t.as_str()));
            let (prefix, what) = t.as_str().split_once('.').expect("context.what");
            assert!(!what.is_empty() && what.chars().all(|c| c.is_ascii_lowercase() || c == '_'));
            let by_prefix = match prefix {
                "order" => Topic::Orders,
                "payment" => Topic::Payments,
                "inventory" => Topic::Inventory,
                "catalog" => Topic::Catalog,
                "review" => Topic::Reviews,
                _ => Topic::Accounts,
            };
            assert_eq!(t.topic(), by_prefix, "{t}");
        }
        assert!("orders.placed".parse::<EventType>().is_err());
        assert!(serde_json::from_value::<EventType>(json!("order")).is_err());
    }

    #[test]
    fn the_envelope_has_the_documented_fields() {
        let envelope = Envelope {
            event_id: EventId::new(),
            store_id: StoreId::new(),
            event_type: EventType::OrderPlaced,
            aggregate_id: Uuid::nil(),
            occurred_at: at(1_700_000_000),
            payload: json!({"order_id": Uuid::nil()}),
        };
        let json = serde_json::to_value(&envelope).expect("serializes");
        let keys: BTreeSet<&str> = json
            .as_object()
            .expect("object")
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys.into_iter().collect::<Vec<_>>(),
            [
                "aggregate_id",
                "event_id",
                "occurred_at",
                "payload",
                "store_id",
                "type"
            ]
        );
        assert_eq!(json["type"], "order.placed");
        assert_eq!(json["occurred_at"], "2023-11-14T22:13:20Z");
        // A known type whose payload is not its shape: the envelope reads,
        // the event does not.
        assert!(envelope.event().is_err());
    }

    #[test]
    fn payloads_keep_their_wire_shape() {
        let order = OrderId::new();
        let checkout = CheckoutId::new();
        let event = Event::PaymentVoided(PaymentChanged {
            order_id: None,
            checkout_id: checkout,
            payment_id: "pay_1".into(),
            amount_minor: 990,
            currency: Currency::parse("eur").expect("currency"),
        });
        assert_eq!(
            event.payload().expect("json"),
            json!({"order_id": null, "checkout_id": checkout, "payment_id": "pay_1",
                   "amount_minor": 990, "currency": "EUR"})
        );
        assert_eq!(event.aggregate_id(), checkout.as_uuid());
        let event = Event::OrderStatusChanged(OrderStatusChanged {
            order_id: order,
            number: 1001,
            from: OrderStatus::Paid,
            to: OrderStatus::Fulfilled,
        });
        assert_eq!(
            event.payload().expect("json"),
            json!({"order_id": order, "number": 1001, "from": "paid", "to": "fulfilled"})
        );
        assert_eq!(event.aggregate_id(), order.as_uuid());
    }
}
