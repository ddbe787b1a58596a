//! Holds: units reserved for a checkout, and their ends (released,
//! committed into a decrement, restocked).
//!
//! Lock order, everywhere: a checkout's hold rows first, then stock rows
//! sorted by (variant, location). Reservations lock only stock rows (and
//! insert new holds), so no two of these transactions wait on each other in
//! a cycle.

use std::collections::BTreeMap;
use std::time::Duration;

use mercato_tenants::{HoldId, HoldOwner, LocationId, StoreId, VariantId};
use sqlx::{Postgres, Transaction};
use uuid::Uuid;

use super::gate::{self, Admission};
use super::model::allocate;
use super::stock::{fence, record_change, Change};
use super::{HoldLine, PinOutcome, ReserveError, Shortage};
use crate::state::AppState;

/// A hold row as the functions here need it.
#[derive(Debug, Clone, Copy, sqlx::FromRow)]
pub(crate) struct HoldRow {
    pub id: Uuid,
    pub variant_id: Uuid,
    pub location_id: Uuid,
    pub quantity: i32,
}

impl HoldRow {
    fn variant(&self) -> VariantId {
        VariantId::from_uuid(self.variant_id)
    }
}

/// Lines merged per variant, sorted by variant id; non-positive
/// quantities dropped.
fn normalize(lines: &[HoldLine]) -> Vec<HoldLine> {
    let mut merged: BTreeMap<VariantId, i64> = BTreeMap::new();
    for l in lines.iter().filter(|l| l.quantity > 0) {
        *merged.entry(l.variant).or_default() += i64::from(l.quantity);
    }
    merged
        .into_iter()
        .map(|(variant, q)| HoldLine {
            variant,
            quantity: q.min(i64::from(i32::MAX)) as i32,
        })
        .collect()
}

async fn owner_has_holds<'e>(
    exec: impl sqlx::PgExecutor<'e>,
    store: StoreId,
    owner: HoldOwner,
) -> Result<bool, sqlx::Error> {
    let (found,): (bool,) =
        sqlx::query_as("SELECT EXISTS (SELECT 1 FROM holds WHERE store_id = $1 AND owner = $2)")
            .bind(store.as_uuid())
            .bind(owner.as_uuid())
            .fetch_one(exec)
            .await?;
    Ok(found)
}

/// Locks the variant's stock rows at active locations (in location id
/// order) and gives them by priority: (location, units available).
async fn lock_available(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    variant: VariantId,
) -> Result<Vec<(LocationId, i32)>, sqlx::Error> {
    let mut rows: Vec<(Uuid, i32, i32)> = sqlx::query_as(
        "SELECT s.location_id, l.priority, s.on_hand - s.reserved
           FROM stock_levels s
           JOIN locations l ON l.store_id = s.store_id AND l.id = s.location_id
          WHERE s.store_id = $1 AND s.variant_id = $2 AND l.active
          ORDER BY s.location_id
          FOR UPDATE OF s",
    )
    .bind(store.as_uuid())
    .bind(variant.as_uuid())
    .fetch_all(&mut **tx)
    .await?;
    rows.sort_by_key(|(id, priority, _)| (*priority, *id));
    Ok(rows
        .into_iter()
        .map(|(id, _, avail)| (LocationId::from_uuid(id), avail))
        .collect())
}

/// Plans the reservation of `lines` (sorted) under row locks: the parts
/// per (variant, location), or the shortages.
async fn plan(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    lines: &[HoldLine],
) -> Result<Result<Vec<(VariantId, LocationId, i32)>, Vec<Shortage>>, sqlx::Error> {
    let mut parts = Vec::new();
    let mut shortages = Vec::new();
    for line in lines {
        let available = lock_available(tx, store, line.variant).await?;
        match allocate(line.quantity, &available) {
            Some(split) => parts.extend(split.into_iter().map(|(l, q)| (line.variant, l, q))),
            None => shortages.push(Shortage {
                variant_id: line.variant,
                requested: line.quantity,
                available: available
                    .iter()
                    .map(|(_, a)| i64::from((*a).max(0)))
                    .sum::<i64>()
                    .min(i64::from(i32::MAX)) as i32,
            }),
        }
    }
    Ok(if shortages.is_empty() {
        Ok(parts)
    } else {
        Err(shortages)
    })
}

/// `reserved += q` where `on_hand - reserved >= q`; false if not.
async fn take(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    variant: VariantId,
    location: LocationId,
    quantity: i32,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE stock_levels SET reserved = reserved + $4, updated_at = now()
          WHERE store_id = $1 AND variant_id = $2 AND location_id = $3
            AND on_hand - reserved >= $4",
    )
    .bind(store.as_uuid())
    .bind(variant.as_uuid())
    .bind(location.as_uuid())
    .bind(quantity)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Takes the planned parts and inserts their holds.
async fn take_all(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    owner: HoldOwner,
    parts: &[(VariantId, LocationId, i32)],
    ttl: Option<Duration>,
) -> Result<(), sqlx::Error> {
    for &(variant, location, q) in parts {
        if !take(tx, store, variant, location, q).await? {
            // The rows are locked since the plan: this is a bug, not a race.
            return Err(sqlx::Error::Protocol(format!(
                "stock of {variant} at {location} changed under its lock"
            )));
        }
    }
    let ids: Vec<Uuid> = parts.iter().map(|_| HoldId::new().as_uuid()).collect();
    let variants: Vec<Uuid> = parts.iter().map(|p| p.0.as_uuid()).collect();
    let locations: Vec<Uuid> = parts.iter().map(|p| p.1.as_uuid()).collect();
    let quantities: Vec<i32> = parts.iter().map(|p| p.2).collect();
    sqlx::query(
        "INSERT INTO holds (store_id, id, owner, variant_id, location_id, quantity, status, expires_at)
         SELECT $1, h.id, $2, h.variant_id, h.location_id, h.quantity, 'active',
                CASE WHEN $7::float8 IS NULL THEN NULL ELSE now() + make_interval(secs => $7) END
           FROM unnest($3::uuid[], $4::uuid[], $5::uuid[], $6::int[])
                AS h(id, variant_id, location_id, quantity)",
    )
    .bind(store.as_uuid())
    .bind(owner.as_uuid())
    .bind(&ids)
    .bind(&variants)
    .bind(&locations)
    .bind(&quantities)
    .bind(ttl.map(|t| t.as_secs_f64()))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Reserves `lines` for `owner` (a checkout) for `ttl`: all or none.
/// Idempotent per owner: an owner that already has holds (in any state)
/// gets `Ok` without reserving again. See the module docs for the gate.
pub async fn reserve(
    state: &AppState,
    store: StoreId,
    owner: HoldOwner,
    lines: &[HoldLine],
    ttl: Duration,
) -> Result<(), ReserveError> {
    let lines = normalize(lines);
    if lines.is_empty() || owner_has_holds(&state.db, store, owner).await? {
        return Ok(());
    }
    let admitted = match gate::admit(state, store, &lines).await {
        Admission::Rejected(shortages) => return Err(ReserveError::OutOfStock(shortages)),
        Admission::Admitted(units) => units,
        Admission::Bypassed => Vec::new(),
    };
    let outcome = reserve_in_postgres(state, store, owner, &lines, ttl).await;
    if !matches!(outcome, Ok(true)) {
        gate::put_back(state, store, &admitted).await;
    }
    outcome.map(|_| ())
}

/// The Postgres half of [`reserve`]; `Ok(false)` if the owner had holds
/// already (a concurrent call won).
async fn reserve_in_postgres(
    state: &AppState,
    store: StoreId,
    owner: HoldOwner,
    lines: &[HoldLine],
    ttl: Duration,
) -> Result<bool, ReserveError> {
    let mut tx = state.db.begin().await?;
    fence(&mut tx, store).await?;
    // One reservation per owner at a time; then the check is final.
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1::text, 0))")
        .bind(owner.as_uuid())
        .execute(&mut *tx)
        .await?;
    if owner_has_holds(&mut *tx, store, owner).await? {
        return Ok(false);
    }
    let parts = match plan(&mut tx, store, lines).await? {
        Ok(parts) => parts,
        Err(shortages) => return Err(ReserveError::OutOfStock(shortages)),
    };
    take_all(&mut tx, store, owner, &parts, Some(ttl)).await?;
    tx.commit().await?;
    Ok(true)
}

/// Locks the owner's holds in `status`, sorted by (variant, location).
async fn lock_holds(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    owner: HoldOwner,
    status: &str,
) -> Result<Vec<HoldRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, variant_id, location_id, quantity FROM holds
          WHERE store_id = $1 AND owner = $2 AND status = $3
          ORDER BY variant_id, location_id, id
          FOR UPDATE",
    )
    .bind(store.as_uuid())
    .bind(owner.as_uuid())
    .bind(status)
    .fetch_all(&mut **tx)
    .await
}

async fn set_status(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    holds: &[HoldRow],
    status: &str,
) -> Result<(), sqlx::Error> {
    let ids: Vec<Uuid> = holds.iter().map(|h| h.id).collect();
    sqlx::query(
        "UPDATE holds SET status = $3, updated_at = now() WHERE store_id = $1 AND id = ANY($2)",
    )
    .bind(store.as_uuid())
    .bind(&ids)
    .bind(status)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Releases locked active holds: `reserved -= q` (rows in lock order), and
/// marks them released. Gives the units per variant, for the gate.
pub(crate) async fn release_rows(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    holds: &mut [HoldRow],
) -> Result<Vec<(VariantId, i32)>, sqlx::Error> {
    holds.sort_by_key(|h| (h.variant_id, h.location_id, h.id));
    for h in holds.iter() {
        sqlx::query(
            "UPDATE stock_levels SET reserved = reserved - $4, updated_at = now()
              WHERE store_id = $1 AND variant_id = $2 AND location_id = $3",
        )
        .bind(store.as_uuid())
        .bind(h.variant_id)
        .bind(h.location_id)
        .bind(h.quantity)
        .execute(&mut **tx)
        .await?;
    }
    set_status(tx, store, holds, "released").await?;
    Ok(holds.iter().map(|h| (h.variant(), h.quantity)).collect())
}

fn units(holds: &[HoldRow]) -> i64 {
    holds.iter().map(|h| i64::from(h.quantity)).sum()
}

/// Releases the owner's active holds; idempotent (a second call releases
/// nothing). Units go back into the gate after the commit. Returns the
/// units released.
pub async fn release(
    state: &AppState,
    store: StoreId,
    owner: HoldOwner,
) -> Result<i64, sqlx::Error> {
    let mut tx = state.db.begin().await?;
    fence(&mut tx, store).await?;
    let mut holds = lock_holds(&mut tx, store, owner, "active").await?;
    if holds.is_empty() {
        return Ok(0);
    }
    let back = release_rows(&mut tx, store, &mut holds).await?;
    tx.commit().await?;
    gate::put_back(state, store, &back).await;
    Ok(units(&holds))
}

/// Inside the caller's transaction (order creation): the owner's active
/// holds never expire from now on. Holds already released (expired and
/// swept) are reserved again here; if their units are gone, `Lost` and
/// nothing changed (the caller rolls back).
pub async fn pin(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    owner: HoldOwner,
) -> Result<PinOutcome, sqlx::Error> {
    // Active and released together: a sweeper holding an active one makes
    // this wait, then see it released.
    let rows: Vec<(Uuid, Uuid, Uuid, i32, String)> = sqlx::query_as(
        "SELECT id, variant_id, location_id, quantity, status FROM holds
          WHERE store_id = $1 AND owner = $2 AND status IN ('active', 'released')
          ORDER BY variant_id, location_id, id
          FOR UPDATE",
    )
    .bind(store.as_uuid())
    .bind(owner.as_uuid())
    .fetch_all(&mut **tx)
    .await?;
    let mut released: Vec<HoldRow> = rows
        .into_iter()
        .filter(|r| r.4 == "released")
        .map(|(id, variant_id, location_id, quantity, _)| HoldRow {
            id,
            variant_id,
            location_id,
            quantity,
        })
        .collect();
    if !released.is_empty() {
        let mut wanted: BTreeMap<VariantId, i64> = BTreeMap::new();
        for h in &released {
            *wanted.entry(h.variant()).or_default() += i64::from(h.quantity);
        }
        let lines: Vec<HoldLine> = wanted
            .into_iter()
            .map(|(variant, q)| HoldLine {
                variant,
                quantity: q.min(i64::from(i32::MAX)) as i32,
            })
            .collect();
        let parts = match plan(tx, store, &lines).await? {
            Ok(parts) => parts,
            Err(shortages) => return Ok(PinOutcome::Lost(shortages)),
        };
        released.sort_by_key(|h| h.id);
        let ids: Vec<Uuid> = released.iter().map(|h| h.id).collect();
        sqlx::query("DELETE FROM holds WHERE store_id = $1 AND id = ANY($2)")
            .bind(store.as_uuid())
            .bind(&ids)
            .execute(&mut **tx)
            .await?;
        take_all(tx, store, owner, &parts, None).await?;
    }
    sqlx::query(
        "UPDATE holds SET expires_at = NULL, updated_at = now()
          WHERE store_id = $1 AND owner = $2 AND status = 'active'",
    )
    .bind(store.as_uuid())
    .bind(owner.as_uuid())
    .execute(&mut **tx)
    .await?;
    Ok(PinOutcome::Pinned)
}

/// `on_hand += delta_on_hand, reserved += delta_reserved` at a stock row;
/// its (on_hand, reserved) after, or `None` if the row is gone (variant
/// deleted).
async fn move_stock(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    h: &HoldRow,
    delta_on_hand: i32,
    delta_reserved: i32,
) -> Result<Option<(i32, i32)>, sqlx::Error> {
    sqlx::query_as(
        "UPDATE stock_levels SET on_hand = on_hand + $4, reserved = reserved + $5, updated_at = now()
          WHERE store_id = $1 AND variant_id = $2 AND location_id = $3
          RETURNING on_hand, reserved",
    )
    .bind(store.as_uuid())
    .bind(h.variant_id)
    .bind(h.location_id)
    .bind(delta_on_hand)
    .bind(delta_reserved)
    .fetch_optional(&mut **tx)
    .await
}

/// Inside the caller's transaction: the owner's active holds become
/// decrements of stock (audit reason `order`, reference = owner).
/// Idempotent: committed holds are not active any more. Returns the units
/// committed.
pub async fn commit(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    owner: HoldOwner,
) -> Result<i64, sqlx::Error> {
    let holds = lock_holds(tx, store, owner, "active").await?;
    for h in &holds {
        if let Some((on_hand, reserved)) =
            move_stock(tx, store, h, -h.quantity, -h.quantity).await?
        {
            record_change(
                tx,
                store,
                &Change {
                    variant: h.variant(),
                    location: LocationId::from_uuid(h.location_id),
                    delta: -h.quantity,
                    on_hand_after: on_hand,
                    reserved_after: reserved,
                    reason: "order",
                    actor: "system",
                    reference: Some(owner.as_uuid()),
                },
            )
            .await?;
        }
    }
    if !holds.is_empty() {
        sqlx::query(
            "UPDATE holds SET status = 'committed', expires_at = NULL, updated_at = now()
              WHERE store_id = $1 AND id = ANY($2)",
        )
        .bind(store.as_uuid())
        .bind(holds.iter().map(|h| h.id).collect::<Vec<_>>())
        .execute(&mut **tx)
        .await?;
    }
    Ok(units(&holds))
}

/// Inside the caller's transaction: puts back what the owner's committed
/// holds took (`on_hand += q` where it was taken; audit reason
/// `order_cancelled`) and marks them restocked, so a second call does
/// nothing. The caller runs [`super::refresh_gate`] after its commit.
/// Returns the units put back.
pub async fn restock(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    owner: HoldOwner,
) -> Result<i64, sqlx::Error> {
    let holds = lock_holds(tx, store, owner, "committed").await?;
    for h in &holds {
        if let Some((on_hand, reserved)) = move_stock(tx, store, h, h.quantity, 0).await? {
            record_change(
                tx,
                store,
                &Change {
                    variant: h.variant(),
                    location: LocationId::from_uuid(h.location_id),
                    delta: h.quantity,
                    on_hand_after: on_hand,
                    reserved_after: reserved,
                    reason: "order_cancelled",
                    actor: "system",
                    reference: Some(owner.as_uuid()),
                },
            )
            .await?;
        }
    }
    if !holds.is_empty() {
        set_status(tx, store, &holds, "restocked").await?;
    }
    Ok(units(&holds))
}

/// Releases up to `batch` expired active holds of `store` (skipping holds
/// other transactions have locked), then puts their units back into the
/// gate. Returns how many holds were released.
pub(crate) async fn sweep_store(
    state: &AppState,
    store: StoreId,
    batch: i64,
) -> Result<usize, sqlx::Error> {
    let mut tx = state.db.begin().await?;
    fence(&mut tx, store).await?;
    let mut holds: Vec<HoldRow> = sqlx::query_as(
        "SELECT id, variant_id, location_id, quantity FROM holds
          WHERE store_id = $1 AND status = 'active' AND expires_at < now()
          ORDER BY expires_at
          LIMIT $2
          FOR UPDATE SKIP LOCKED",
    )
    .bind(store.as_uuid())
    .bind(batch)
    .fetch_all(&mut *tx)
    .await?;
    if holds.is_empty() {
        return Ok(0);
    }
    let back = release_rows(&mut tx, store, &mut holds).await?;
    tx.commit().await?;
    gate::put_back(state, store, &back).await;
    Ok(holds.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_merge_per_variant_in_id_order() {
        let (a, b) = (VariantId::new(), VariantId::new());
        let lines = [
            HoldLine {
                variant: b,
                quantity: 1,
            },
            HoldLine {
                variant: a,
                quantity: 2,
            },
            HoldLine {
                variant: b,
                quantity: 3,
            },
            HoldLine {
                variant: a,
                quantity: 0,
            },
        ];
        assert_eq!(
            normalize(&lines),
            vec![
                HoldLine {
                    variant: a,
                    quantity: 2
                },
                HoldLine {
                    variant: b,
                    quantity: 4
                }
            ]
        );
    }
}
