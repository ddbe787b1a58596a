//! Stores: creation (placement, hosting on a pod, routing), custom domains,
//! and store-scoped tokens for operators.

mod routes;
mod store;

pub use routes::{provision, router, NewStore};
pub use store::{get, Store, StoreDomain};
