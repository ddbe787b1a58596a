//! Checkout's SQL, a file per table: [`checkouts`] (one row per saga, its
//! compare-and-set transitions), [`rates`] (the store's shipping and tax
//! tables), [`webhooks`] (payment events seen). Every query filters on
//! store_id; the callers own the transactions.

pub mod checkouts;
pub mod rates;
pub mod webhooks;

pub use checkouts::*;
