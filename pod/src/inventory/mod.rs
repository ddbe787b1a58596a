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
//! order ([`pin`], [`commit`]: a decrement of on hand and reserved), and a
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

mod error;
pub(crate) mod gate;
pub(crate) mod holds;
pub(crate) mod locations;
pub(crate) mod model;
pub(crate) mod stock;
pub(crate) mod workers;

use std::collections::HashMap;

use mercato_tenants::{StoreId, VariantId};
use serde::{Deserialize, Serialize};
use sqlx::PgExecutor;
use uuid::Uuid;

use crate::db::Ids;

pub use gate::refresh_gate;
pub use holds::{commit, pin, release, reserve};
pub use locations::{ensure_default_location, Location};
pub use model::{allocate, StaffReason};
pub use stock::initial_stock;
pub use workers::{reconcile_once, spawn_workers, sweep_once, Workers};

/// One line to reserve: units of a variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HoldLine {
    pub variant: VariantId,
    pub quantity: i32,
}

/// A line that cannot be reserved in full.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Shortage {
    pub variant_id: VariantId,
    pub requested: i32,
    pub available: i32,
}

/// Why [`reserve`] reserved nothing.
#[derive(Debug)]
pub enum ReserveError {
    OutOfStock(Vec<Shortage>),
    Db(sqlx::Error),
}

impl From<sqlx::Error> for ReserveError {
    fn from(e: sqlx::Error) -> Self {
        ReserveError::Db(e)
    }
}

impl std::fmt::Display for ReserveError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReserveError::OutOfStock(s) => write!(f, "out of stock: {} line(s) short", s.len()),
            ReserveError::Db(e) => write!(f, "database: {e}"),
        }
    }
}

impl std::error::Error for ReserveError {}

/// What [`pin`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PinOutcome {
    Pinned,
    /// Some holds had expired and their units are gone; nothing changed.
    Lost(Vec<Shortage>),
}

pub use holds::restock;

/// What a shopper is told about a variant's stock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Badge {
    InStock,
    Low,
    SoldOut,
}

/// A variant's stock, summed over its store's active locations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Level {
    pub on_hand: i32,
    /// Units held for checkouts.
    pub reserved: i32,
    /// `on_hand - reserved`: what can still be sold.
    pub available: i32,
    pub low_stock_threshold: i32,
}

impl Level {
    pub const DEFAULT_LOW_STOCK_THRESHOLD: i32 = 5;

    pub const NONE: Level = Level {
        on_hand: 0,
        reserved: 0,
        available: 0,
        low_stock_threshold: Self::DEFAULT_LOW_STOCK_THRESHOLD,
    };

    pub fn new(on_hand: i32, reserved: i32, low_stock_threshold: i32) -> Level {
        Level {
            on_hand,
            reserved,
            available: on_hand - reserved,
            low_stock_threshold,
        }
    }

    pub fn badge(self) -> Badge {
        if self.available <= 0 {
            Badge::SoldOut
        } else if self.available <= self.low_stock_threshold {
            Badge::Low
        } else {
            Badge::InStock
        }
    }
}

/// Levels of `variants`, summed over the store's active locations; a
/// variant without stock rows has none.
pub async fn levels<'e>(
    exec: impl PgExecutor<'e>,
    store: StoreId,
    variants: &[VariantId],
) -> Result<HashMap<VariantId, Level>, sqlx::Error> {
    let ids = Ids::new(variants.iter().map(VariantId::as_uuid));
    let sql = format!(
        "SELECT v.id,
                COALESCE(SUM(s.on_hand) FILTER (WHERE l.active), 0)::bigint,
                COALESCE(SUM(s.reserved) FILTER (WHERE l.active), 0)::bigint,
                il.low_stock_threshold
           FROM {} AS v(id)
           LEFT JOIN inventory_levels il ON il.store_id = $1 AND il.variant_id = v.id
           LEFT JOIN stock_levels s ON s.store_id = $1 AND s.variant_id = v.id
           LEFT JOIN locations l ON l.store_id = $1 AND l.id = s.location_id
          GROUP BY v.id, il.low_stock_threshold",
        ids.rows(2)
    );
    let rows: Vec<(Uuid, i64, i64, Option<i32>)> = ids
        .bind_to(sqlx::query_as(&sql).bind(store.as_uuid()))
        .fetch_all(exec)
        .await?;
    let clamp = |n: i64| n.clamp(0, i64::from(i32::MAX)) as i32;
    let mut out: HashMap<VariantId, Level> = variants.iter().map(|v| (*v, Level::NONE)).collect();
    for (id, on_hand, reserved, threshold) in rows {
        out.insert(
            VariantId::from_uuid(id),
            Level::new(
                clamp(on_hand),
                clamp(reserved),
                threshold.unwrap_or(Level::DEFAULT_LOW_STOCK_THRESHOLD),
            ),
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn badges_follow_available_units() {
        let at = |on_hand, reserved| Level::new(on_hand, reserved, 3);
        assert_eq!(at(0, 0).badge(), Badge::SoldOut);
        assert_eq!(at(1, 0).badge(), Badge::Low);
        assert_eq!(at(3, 0).badge(), Badge::Low);
        assert_eq!(at(4, 0).badge(), Badge::InStock);
        assert_eq!(at(10, 7).badge(), Badge::Low);
        assert_eq!(at(10, 10).badge(), Badge::SoldOut);
        assert_eq!(at(10, 10).available, 0);
        assert_eq!(Level::NONE.badge(), Badge::SoldOut);
    }
}
