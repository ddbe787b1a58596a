//! Inventory: locations, units per (variant, location), holds for
//! checkouts, the audit of every change, and the Redis gate in front of
//! hot SKUs. This module is the only one that writes `locations`,
//! `stock_levels`, `stock_adjustments`, `holds` and `inventory_levels`.
//!
//! # Postgres is the judge
//!
//! A reservation ([`reserve`]) is one transaction: the stock rows of each
//! line are locked (sorted by variant, then location, so two reservations
//! never deadlock), the quantity is split over the store's active
//! locations in priority order, and each part is a conditional
//! `UPDATE stock_levels SET reserved = reserved + n WHERE on_hand -
//! reserved >= n` plus a hold row with an expiry. All lines or none. The
//! table's `CHECK (reserved <= on_hand)` and `on_hand >= 0` back this up:
//! no code path can oversell. Holds end one of three ways: released
//! ([`release`], or the sweeper once expired), pinned then committed by an
//! order ([`pin`], [`commit_routed`]: a decrement of on hand and reserved,
//! at the locations the order ships from), and a
//! committed hold can be restocked when its order is cancelled
//! ([`restock`]). Every change of on hand writes a `stock_adjustments` row
//! and an `inventory.level_changed` outbox event in the same transaction.
//!
//! # The hot-SKU gate
//!
//! A Redis hash per variant (`n`: units believed available, `v`: a version
//! bumped by every admit and put-back) sits in front of Postgres. One Lua
//! script admits all lines of a reservation or none: it only ever rejects
//! early, so a flash sale's surplus is refused without reaching the row.
//! A missing counter is seeded from Postgres (`available` summed over
//! active locations) with a create-if-missing script. Releases put units
//! back (only into an existing counter); staff edits and restocks delete
//! it ([`refresh_gate`]) so it reseeds.
//!
//! Call `C` the counter, `P` Postgres' available units, `I` units admitted
//! by the gate whose transaction has not ended, `R` units released in
//! Postgres not yet put back. Admits (`C -= q, I += q`), reservations
//! (`P -= q, I -= q`), failed reservations' put-backs (`C += q, I -= q`),
//! releases (`P += q, R += q`) and their put-backs (`C += q, R -= q`) all
//! keep `C = P - I - R`. An overestimate of that is harmless (Postgres
//! still refuses); an underestimate would refuse sales that could happen.
//!
//! Reconciliation (every `inventory.reconcile_interval_ms`, for the
//! variants each store's tracked set names) reads `(n, v)`, then `P`, then
//! sets `n := P` only if `v` is unchanged (compare-and-set in Lua). With
//! `v` unchanged no admit or put-back happened in between, and every
//! Postgres change in that window is paired with one of `I` or `R`, so
//! `P - I - R` was constant: the new `n = P_read = (P - I - R) + I + R` is
//! never below the target. Without the version, a release committed after
//! the read of `P` and put back before the write would be overwritten into
//! an underestimate. Drift the gate cannot see (a put-back lost while
//! Redis failed, a seed read just before a concurrent release) is an
//! underestimate the next round repairs; pinned re-reservations bypass the
//! gate and only overestimate. With Redis down or `inventory.gate = false`
//! reservations go straight to Postgres.
//!
//! # Where to look
//!
//! `model.rs` (pure: allocation, stock and location rules, the types),
//! `sql/` (every statement: `holds.rs`, `stock.rs`, `locations.rs`),
//! `holds.rs` (reserve, pin, commit, release, restock, the sweep),
//! `stock.rs` (the audit and outbox of every change, initial stock),
//! `locations.rs`, `gate.rs` (the Redis gate), `workers.rs` (sweeper,
//! reconciliation), `error.rs` (refusals as HTTP codes). The staff
//! handlers are in `routes/inventory.rs`.

mod error;
pub(crate) mod gate;
pub(crate) mod holds;
pub(crate) mod locations;
pub(crate) mod model;
pub(crate) mod sql;
pub(crate) mod stock;
pub(crate) mod workers;

pub use gate::refresh_gate;
pub use holds::{
    commit, commit_routed, pin, release, reserve, restock, uncommit, ReserveError, Takeable,
};
pub use locations::ensure_default_location;
pub use model::{allocate, Badge, HoldLine, Level, Location, PinOutcome, Shortage, StaffReason};
pub use sql::stock::levels;
pub use stock::{initial_stock, put_back};
pub use workers::{reconcile_once, spawn_workers, sweep_once, Workers};
