//! Orders: what a completed checkout leaves behind, their lifecycle, the
//! customer's history, the guest lookup and staff management (whose
//! handlers are in `routes/orders.rs`).
//!
//! - [`model`]: the [`Order`], the [`Quote`] it was made from, the list
//!   [`Filter`] (pure);
//! - [`lookup`]: who may see an order looked up by number (pure): a
//!   guest's by the lookup token of its confirmation link, a registered
//!   customer's only by that customer;
//! - [`state`]: the lifecycle as one pure function, [`state::allowed`],
//!   mirrored by a database trigger;
//! - [`sql`]: every statement on the orders' tables.
//!
//! Orders are created only by the checkout saga (in the transaction that
//! pins the stock); every status change goes through [`set_status`], which
//! the database double-checks against `order_transitions`.

pub mod lookup;
pub(crate) mod model;
pub(crate) mod sql;
pub mod state;

pub use model::{
    AppliedDiscount, DiscountClass, Filter, GiftCardTender, Order, OrderShipment,
    OrderShipmentLine, Quote, QuoteLine, ShippingChoice,
};
pub use sql::{
    by_number, count_sales, database_transitions, get, insert, list, lookup_sha256, placed_before,
    record_capture, record_refund, set_lookup_sha256, set_status,
};
pub use state::OrderStatus;
