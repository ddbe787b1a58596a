//! Stores: creation (placement, hosting on a pod, routing), custom domains,
//! and store-scoped tokens for operators.

pub mod details;
mod routes;
mod sql;

pub use routes::{api, provision, NewStore};
pub use sql::{get, get_by_handle, owned_by, pod_url, search, Store, StoreDomain};
