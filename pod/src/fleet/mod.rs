//! The pod's part in running the fleet: what it reports about the stores it
//! serves, and how it lets go of a store that moved away.
//!
//! - [`requests`]: requests per store in the last minute, counted by the
//!   tenancy fence for every request it admits.
//! - `GET /internal/load` ([`load`]): rows, bytes, orders in the last hour
//!   and requests per minute of every store served here; the control plane
//!   pulls it periodically. Rows and bytes come from the size sweep, which
//!   measures one table at a time in the background at a bounded share of
//!   one core.
//! - `POST /internal/stores/{id}/rebuild`: forgets every Redis key of a
//!   store. Everything a store keeps in Redis is derived from Postgres
//!   (inventory gate counters are re-seeded when missing, cached bodies and
//!   searches refill, cart copies are rebuilt, login-failure counters only
//!   restart their window), so a store that arrives by a move starts from
//!   a clean slate rather than from what an earlier stay left behind.
//! - `POST /internal/stores/{id}/release` and the [`purge`] worker: once
//!   the routing points elsewhere, a `moved_out` store's rows are deleted
//!   here in short batches after `purge_after`, then its Redis keys, then
//!   its `hosted_stores` row. A store that became active again is never
//!   purged: every batch re-checks its state under a lock.
//! - `sql`: every statement of the above; `load.rs` and `purge.rs` keep
//!   the workers' control flow (batches, locks, pauses, logging).

pub mod load;
pub mod purge;
pub mod redis_keys;
pub(crate) mod sql;

pub use load::spawn_size_sweep;
pub use mercato_tenants::quote_ident;
pub use purge::spawn_purge_worker;
pub use sql::tenant_tables;
