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
    day_range, AppliedDiscount, DiscountClass, Filter, GiftCardTender, Order, OrderShipment,
    OrderShipmentLine, Quote, QuoteLine, ShippingChoice,
};
pub use sql::{
    attach_guest_orders, by_number, count_in, count_sales, daily_sales, database_transitions, get,
    history_of, insert, list, lookup_sha256, placed_before, record_capture, record_refund,
    set_lookup_sha256, set_status, HistoryEntry,
};
pub use state::OrderStatus;

use mercato_tenants::{ApiError, CustomerId, ErrorCode, StoreId};

use crate::error::PodError;
use lookup::{Access, LookupToken};

/// The order numbered `number` as a shopper may see it, by the rules of
/// [`lookup::access`]: a guest's with its lookup `token`, a registered
/// customer's only for that customer `signed_in`. A customer's order with
/// its token but without the session is `401` (sign in); anything else is
/// `404`, whether or not the order exists. Every face that shows or acts
/// on an order for a shopper (the JSON API's lookup and returns, the
/// storefront's order page) goes through here.
pub async fn for_shopper(
    conn: &mut sqlx::PgConnection,
    store: StoreId,
    number: i64,
    signed_in: Option<CustomerId>,
    token: Option<&LookupToken>,
) -> Result<Order, PodError> {
    let not_found = || ApiError::not_found("order");
    let order = by_number(conn, store, number)
        .await?
        .ok_or_else(not_found)?;
    let token_matches = match token {
        Some(t) => t.matches(lookup_sha256(conn, store, order.id).await?.as_deref()),
        None => false,
    };
    match lookup::access(order.customer_id, signed_in, token_matches) {
        Access::Show => Ok(order),
        Access::SignIn => Err(ApiError::new(
            ErrorCode::Unauthorized,
            "this order belongs to a customer account; sign in to see it",
        )
        .into()),
        Access::Hidden => Err(not_found().into()),
    }
}

/// The order's statuses, oldest first: who changed it and why.
pub async fn history(
    state: &crate::state::AppState,
    store: StoreId,
    order: mercato_tenants::OrderId,
) -> Result<Vec<HistoryEntry>, PodError> {
    let mut conn = state.db.acquire().await?;
    Ok(history_of(&mut conn, store, order).await?)
}
