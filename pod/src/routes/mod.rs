//! The pod's HTTP faces, one file per context: handlers, their request and
//! response shapes and their OpenAPI descriptions, registered together by
//! each file's `api()` (`utoipa_axum::routes!`). They sit above every
//! context and above the pipelines that span contexts (`product_write`,
//! the checkout saga); nothing but `startup` imports them.

pub mod accounts;
pub mod cart;
pub mod catalog;
pub mod categories;
pub mod checkout;
pub mod collections;
pub mod discounts;
pub mod fleet;
pub mod fulfillment;
pub mod gift_cards;
pub mod inventory;
pub mod media;
pub mod notifications;
pub mod orders;
pub mod returns;
pub mod reviews;
pub mod risk;
pub mod search;
pub mod tenancy;
pub mod webhooks;
