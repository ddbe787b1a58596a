//! Discounts (issue 18): codes shoppers enter and automatic discounts,
//! what they take off a cart and which of them apply together.
//!
//! - `model.rs` (pure): the kinds, conditions and combinations, and
//!   [`model::decide`], which picks the allowed combination that saves the
//!   shopper most and allocates it over the lines.
//!
//! The tables, the staff API, the cart's view of its discounts and the
//! checkout's exact usage counting come next on top of this model.

pub mod model;
