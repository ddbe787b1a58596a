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

pub mod load;
pub mod purge;
pub mod redis_keys;

pub use load::spawn_size_sweep;
pub use mercato_tenants::quote_ident;
pub use purge::spawn_purge_worker;

/// The tenant tables of this pod's schema ([`mercato_tenants::TENANT_TABLES_SQL`]).
pub async fn tenant_tables<'e>(
    exec: impl sqlx::PgExecutor<'e>,
) -> Result<Vec<String>, sqlx::Error> {
    let rows: Vec<(String,)> = sqlx::query_as(mercato_tenants::TENANT_TABLES_SQL)
        .fetch_all(exec)
        .await?;
    Ok(rows.into_iter().map(|(t,)| t).collect())
}
