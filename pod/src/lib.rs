//! A Mercato pod: one complete commerce stack with its own Postgres and its
//! own Redis, serving the stores it hosts.
//!
//! A module per bounded context; each owns its tables, SQL and types, and
//! its HTTP face is in [`routes`] (docs/ARCHITECTURE.md, "Inside the pod"):
//! - [`tenancy`]: which stores this pod hosts, and the fence (`421
//!   store_not_here`) that guards every tenant request;
//! - [`catalog`]: products and variants;
//! - [`storefront`]: the shopper-facing HTML pages.

pub mod accounts;
pub mod admin;
pub mod cache;
pub mod cancellation;
pub mod cart;
pub mod catalog;
pub mod categories;
pub mod category_write;
pub mod checkout;
pub mod collection_write;
pub mod collections;
pub mod config;
pub mod dashboard;
pub mod db;
pub mod discounts;
pub mod error;
pub mod events;
pub mod fleet;
pub mod fulfillment;
pub mod gift_cards;
pub mod give_back;
pub mod inventory;
pub mod keys;
pub mod media;
pub mod notifications;
pub mod orders;
pub mod paging;
pub mod payments;
pub mod periodic;
pub mod product_write;
pub mod redis_handle;
pub mod refunds;
pub mod reports;
pub mod returns;
pub mod reviews;
pub mod risk;
pub mod routes;
pub mod search;
pub mod seed;
pub mod startup;
pub mod state;
pub mod stock_write;
pub mod storefront;
pub mod tenancy;
pub mod themes;
pub mod webhooks;

pub use config::PodConfig;
pub use error::{PodError, Result};
pub use startup::Application;
pub use state::AppState;
