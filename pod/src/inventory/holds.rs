//! Holds: units reserved for a checkout, and their ends (released,
//! committed into a decrement, restocked). Each statement is in
//! `sql/holds.rs`; this module orders them.
//!
//! Lock order, everywhere: a checkout's hold rows first, then stock rows
//! sorted by (variant, location). Reservations lock only stock rows (and
//! insert new holds), so no two of these transactions wait on each other in
//! a cycle.

use std::collections::BTreeMap;
use std::time::Duration;

use mercato_tenants::{HoldOwner, LocationId, StoreId, VariantId};
use sqlx::{Postgres, Transaction};
use uuid::Uuid;

use super::gate::{self, Admission};
use super::model::{allocate, Change, HoldLine, PinOutcome, Shortage};
use super::sql::holds::{self as sql, HoldRow};
use super::stock::record_change;
use crate::error::PodError;
use crate::state::AppState;
use crate::tenancy::lock_active;

/// Why [`reserve`] reserved nothing.
#[derive(Debug)]
pub enum ReserveError {
    OutOfStock(Vec<Shortage>),
    /// The database failed, or the store is no longer active here (a
    /// move's fence: `421 store_not_here`, which the router retries).
    Failed(PodError),
}

impl From<sqlx::Error> for ReserveError {
    fn from(e: sqlx::Error) -> Self {
        ReserveError::Failed(e.into())
    }
}

impl From<PodError> for ReserveError {
    fn from(e: PodError) -> Self {
        ReserveError::Failed(e)
    }
}

impl std::fmt::Display for ReserveError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReserveError::OutOfStock(s) => write!(f, "out of stock: {} line(s) short", s.len()),
            ReserveError::Failed(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for ReserveError {}

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
        let available = sql::lock_available(tx, store, line.variant).await?;
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

/// Takes the planned parts and inserts their holds.
async fn take_all(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    owner: HoldOwner,
    parts: &[(VariantId, LocationId, i32)],
    ttl: Option<Duration>,
) -> Result<(), sqlx::Error> {
    for &(variant, location, q) in parts {
        if !sql::take(tx, store, variant, location, q).await? {
            // The rows are locked since the plan: this is a bug, not a race.
            return Err(sqlx::Error::Protocol(format!(
                "stock of {variant} at {location} changed under its lock"
            )));
        }
    }
    sql::insert(tx, store, owner, parts, ttl, "active").await
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
    if lines.is_empty() || sql::owner_has_holds(&state.db, store, owner).await? {
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
    lock_active(&mut tx, store).await?;
    // One reservation per owner at a time; then the check is final.
    sql::lock_owner(&mut tx, owner).await?;
    if sql::owner_has_holds(&mut *tx, store, owner).await? {
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

/// Releases locked active holds: `reserved -= q` (rows in lock order), and
/// marks them released. Gives the units per variant, for the gate.
pub(crate) async fn release_rows(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    holds: &mut [HoldRow],
) -> Result<Vec<(VariantId, i32)>, sqlx::Error> {
    holds.sort_by_key(|h| (h.variant_id, h.location_id, h.id));
    for h in holds.iter() {
        sql::unreserve(tx, store, h).await?;
    }
    sql::set_status(tx, store, holds, "released").await?;
    Ok(holds.iter().map(|h| (h.variant(), h.quantity)).collect())
}

fn units(holds: &[HoldRow]) -> i64 {
    holds.iter().map(|h| i64::from(h.quantity)).sum()
}

/// Releases the owner's active holds; idempotent (a second call releases
/// nothing). Units go back into the gate after the commit. Returns the
/// units released.
pub async fn release(state: &AppState, store: StoreId, owner: HoldOwner) -> Result<i64, PodError> {
    let mut tx = state.db.begin().await?;
    lock_active(&mut tx, store).await?;
    let mut holds = sql::lock_of_owner(&mut tx, store, owner, "active").await?;
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
    let rows = sql::lock_active_and_released(tx, store, owner).await?;
    let mut released: Vec<HoldRow> = rows
        .into_iter()
        .filter(|(_, status)| status == "released")
        .map(|(hold, _)| hold)
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
        sql::delete(tx, store, &ids).await?;
        take_all(tx, store, owner, &parts, None).await?;
    }
    sql::unexpire_active(tx, store, owner).await?;
    Ok(PinOutcome::Pinned)
}

/// What a commit may take stock from: every location of the store that
/// is active or holds some of the owner's units, and per (variant,
/// location) the units the owner could have there: what is available
/// plus what the owner itself holds there.
#[derive(Debug, Clone)]
pub struct Takeable {
    pub locations: Vec<super::Location>,
    /// The owner's held units, per variant (what the commit must take).
    pub wanted: BTreeMap<VariantId, i32>,
    /// (variant, location) -> units the owner may take there.
    pub units: BTreeMap<(VariantId, LocationId), i32>,
    /// Where the holds are: a valid choice whatever else is chosen.
    pub held: Vec<(VariantId, LocationId, i32)>,
}

impl Takeable {
    /// Whether `parts` take exactly the wanted units, each part from a
    /// location that has it.
    fn admits(&self, parts: &[(VariantId, LocationId, i32)]) -> bool {
        let mut per_variant: BTreeMap<VariantId, i64> = BTreeMap::new();
        let mut per_row: BTreeMap<(VariantId, LocationId), i64> = BTreeMap::new();
        for &(variant, location, q) in parts {
            if q <= 0 {
                return false;
            }
            *per_variant.entry(variant).or_default() += i64::from(q);
            *per_row.entry((variant, location)).or_default() += i64::from(q);
        }
        let wanted: BTreeMap<VariantId, i64> = self
            .wanted
            .iter()
            .map(|(v, q)| (*v, i64::from(*q)))
            .collect();
        per_variant == wanted
            && per_row
                .iter()
                .all(|(row, q)| self.units.get(row).is_some_and(|has| i64::from(*has) >= *q))
    }
}

/// Inside the caller's transaction: the owner's active holds become
/// decrements of stock (audit reason `order`, reference = owner) at the
/// locations `route` chooses: it sees [`Takeable`] and gives (variant,
/// location, units) parts. A choice that does not take exactly the held
/// units from rows that have them is ignored, and the holds' own
/// locations are used (so a wrong router can never oversell). When the
/// choice moves units, the hold's reservation is given back where it was
/// and the units are taken where they ship. Idempotent: committed holds
/// are not active any more. Returns the parts committed.
///
/// Locks: the owner's hold rows, then every stock row of its variants
/// sorted by (variant, location) — the module's lock order.
pub async fn commit_routed(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    owner: HoldOwner,
    route: impl FnOnce(&Takeable) -> Vec<(VariantId, LocationId, i32)>,
) -> Result<Vec<(VariantId, LocationId, i32)>, sqlx::Error> {
    let holds = sql::lock_of_owner(tx, store, owner, "active").await?;
    if holds.is_empty() {
        return Ok(Vec::new());
    }
    let mut variants: Vec<VariantId> = holds.iter().map(HoldRow::variant).collect();
    variants.dedup();
    let rows = sql::lock_levels(tx, store, &variants).await?;
    let locations = super::sql::locations::all(&mut **tx, store).await?;
    let held: Vec<(VariantId, LocationId, i32)> = holds
        .iter()
        .map(|h| {
            (
                h.variant(),
                LocationId::from_uuid(h.location_id),
                h.quantity,
            )
        })
        .collect();
    let mut wanted: BTreeMap<VariantId, i32> = BTreeMap::new();
    let mut own: BTreeMap<(VariantId, LocationId), i32> = BTreeMap::new();
    for &(v, l, q) in &held {
        *wanted.entry(v).or_default() += q;
        *own.entry((v, l)).or_default() += q;
    }
    let active: std::collections::BTreeSet<LocationId> = locations
        .iter()
        .filter(|l| l.active)
        .map(|l| l.id)
        .collect();
    let units = rows
        .iter()
        .filter(|(v, l, _, _)| active.contains(l) || own.contains_key(&(*v, *l)))
        .map(|&(v, l, on_hand, reserved)| {
            let mine = own.get(&(v, l)).copied().unwrap_or(0);
            ((v, l), (on_hand - reserved).max(0) + mine)
        })
        .collect();
    let takeable = Takeable {
        locations: locations
            .into_iter()
            .filter(|l| l.active || own.keys().any(|(_, at)| *at == l.id))
            .collect(),
        wanted,
        units,
        held,
    };
    let mut parts = route(&takeable);
    if !takeable.admits(&parts) {
        tracing::warn!(%store, owner = %owner.as_uuid(), "commit route refused; committing where the holds are");
        parts = takeable.held.clone();
    }
    // One part per row, in lock order.
    let mut merged: BTreeMap<(VariantId, LocationId), i32> = BTreeMap::new();
    for &(v, l, q) in &parts {
        *merged.entry((v, l)).or_default() += q;
    }
    let parts: Vec<(VariantId, LocationId, i32)> =
        merged.into_iter().map(|((v, l), q)| (v, l, q)).collect();
    for h in &holds {
        sql::unreserve(tx, store, h).await?;
    }
    for &(variant, location, q) in &parts {
        move_on_hand(tx, store, owner, (variant, location), -q, "order").await?;
    }
    let ids: Vec<Uuid> = holds.iter().map(|h| h.id).collect();
    sql::delete(tx, store, &ids).await?;
    sql::insert(tx, store, owner, &parts, None, "committed").await?;
    Ok(parts)
}

/// [`commit_routed`] where the holds are: returns the units committed.
pub async fn commit(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    owner: HoldOwner,
) -> Result<i64, sqlx::Error> {
    let parts = commit_routed(tx, store, owner, |t| t.held.clone()).await?;
    Ok(parts.iter().map(|p| i64::from(p.2)).sum())
}

/// Inside the caller's transaction: puts back what the owner's committed
/// holds took (`on_hand += q` where it was taken; audit reason
/// `order_cancelled`), but for `back`: units per variant that came back
/// another way already (through a return), which are not put back twice.
/// Marks the holds restocked, so a second call does nothing. The caller
/// runs [`super::refresh_gate`] after its commit. Returns the units put
/// back.
pub async fn restock(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    owner: HoldOwner,
    back: &[(VariantId, i64)],
) -> Result<i64, sqlx::Error> {
    let holds = sql::lock_of_owner(tx, store, owner, "committed").await?;
    let mut already: BTreeMap<VariantId, i64> = BTreeMap::new();
    for &(v, q) in back {
        *already.entry(v).or_default() += q.max(0);
    }
    let mut put = 0i64;
    for h in &holds {
        let skip = already.get_mut(&h.variant()).map_or(0, |left| {
            let s = (*left).min(i64::from(h.quantity));
            *left -= s;
            s
        });
        let q = h.quantity - i32::try_from(skip).unwrap_or(h.quantity);
        if q == 0 {
            continue;
        }
        put += i64::from(q);
        move_on_hand(
            tx,
            store,
            owner,
            (h.variant(), LocationId::from_uuid(h.location_id)),
            q,
            "order_cancelled",
        )
        .await?;
    }
    if !holds.is_empty() {
        sql::set_status(tx, store, &holds, "restocked").await?;
    }
    Ok(put)
}

/// Inside the caller's transaction: `quantity` units of `variant` that the
/// owner's committed holds took at `location` are no longer the order's
/// (staff cancelled them before they shipped). The committed holds there
/// give them up, so a later [`restock`] of the order cannot put them back
/// a second time; with `put_back` they return on hand there (audit reason
/// `line_cancelled`, kept as a `restocked` hold), else they are written
/// off. Never more than the holds have. Returns the units put back.
///
/// Locks: the owner's committed holds, then the stock row.
pub async fn uncommit(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    owner: HoldOwner,
    variant: VariantId,
    location: LocationId,
    quantity: i32,
    put_back: bool,
) -> Result<i64, sqlx::Error> {
    let holds = sql::lock_of_owner(tx, store, owner, "committed").await?;
    let mut left = quantity.max(0);
    for h in holds
        .iter()
        .filter(|h| h.variant() == variant && LocationId::from_uuid(h.location_id) == location)
    {
        if left == 0 {
            break;
        }
        let q = left.min(h.quantity);
        if q == h.quantity {
            sql::delete(tx, store, &[h.id]).await?;
        } else {
            sql::shrink(tx, store, h.id, q).await?;
        }
        left -= q;
    }
    let given_up = quantity.max(0) - left;
    if !put_back || given_up == 0 {
        return Ok(0);
    }
    let part = [(variant, location, given_up)];
    sql::insert(tx, store, owner, &part, None, "restocked").await?;
    let moved = move_on_hand(
        tx,
        store,
        owner,
        (variant, location),
        given_up,
        "line_cancelled",
    )
    .await?;
    Ok(if moved { i64::from(given_up) } else { 0 })
}

/// `on_hand += delta` at a stock row, audited as the system's `reason`
/// with the owner as reference; false when the row is gone (variant
/// deleted).
async fn move_on_hand(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    owner: HoldOwner,
    (variant, location): (VariantId, LocationId),
    delta: i32,
    reason: &'static str,
) -> Result<bool, sqlx::Error> {
    let Some((on_hand, reserved)) = sql::move_stock(tx, store, variant, location, delta, 0).await?
    else {
        return Ok(false);
    };
    record_change(
        tx,
        store,
        &Change {
            variant,
            location,
            delta,
            on_hand_after: on_hand,
            reserved_after: reserved,
            reason,
            actor: "system",
            reference: Some(owner.as_uuid()),
        },
    )
    .await?;
    Ok(true)
}

/// Releases up to `batch` expired active holds of `store` (skipping holds
/// other transactions have locked), then puts their units back into the
/// gate. Returns how many holds were released.
pub(crate) async fn sweep_store(
    state: &AppState,
    store: StoreId,
    batch: i64,
) -> Result<usize, PodError> {
    let mut tx = state.db.begin().await?;
    lock_active(&mut tx, store).await?;
    let mut holds = sql::lock_expired(&mut tx, store, batch).await?;
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
