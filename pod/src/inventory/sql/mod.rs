//! The inventory's SQL, a file per topic: [`holds`] (holds and the
//! reservations they make), [`stock`] (stock rows, the audit, the totals,
//! the levels readers use), [`locations`]. Every query filters on
//! store_id; each function is one statement (two for `stock::lock_row`:
//! create the row if missing, then lock it), so the order of statements in
//! a transaction is the one the callers in `holds.rs`, `stock.rs` and
//! `locations.rs` write.

pub(crate) mod holds;
pub(crate) mod locations;
pub(crate) mod stock;
