//! The SQL of `holds` and of the reservations they make in `stock_levels`.
//! The lock order (`holds.rs`) is the callers' to keep: each function here
//! is one statement.

use std::time::Duration;

use mercato_tenants::{HoldId, HoldOwner, LocationId, StoreId, VariantId};
use sqlx::{Postgres, Transaction};
use uuid::Uuid;

/// A hold row as the functions here need it.
#[derive(Debug, Clone, Copy, sqlx::FromRow)]
pub(crate) struct HoldRow {
    pub id: Uuid,
    pub variant_id: Uuid,
    pub location_id: Uuid,
    pub quantity: i32,
}

impl HoldRow {
    pub fn variant(&self) -> VariantId {
        VariantId::from_uuid(self.variant_id)
    }
}

/// Whether the owner has holds, in any state.
pub(crate) async fn owner_has_holds<'e>(
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

/// Takes the owner's reservation lock for the transaction: one
/// reservation per owner at a time.
pub(crate) async fn lock_owner(
    tx: &mut Transaction<'_, Postgres>,
    owner: HoldOwner,
) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1::text, 0))")
        .bind(owner.as_uuid())
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Locks the variant's stock rows at active locations (in location id
/// order) and gives them by priority: (location, units available).
pub(crate) async fn lock_available(
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

/// `reserved += q` where `on_hand - reserved >= q`; false if not.
pub(crate) async fn take(
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

/// Inserts a hold of the owner in `status` (`active` or `committed`) for
/// each part (variant, location, units), expiring after `ttl` (never with
/// `None`).
pub(crate) async fn insert(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    owner: HoldOwner,
    parts: &[(VariantId, LocationId, i32)],
    ttl: Option<Duration>,
    status: &str,
) -> Result<(), sqlx::Error> {
    let ids: Vec<Uuid> = parts.iter().map(|_| HoldId::new().as_uuid()).collect();
    let variants: Vec<Uuid> = parts.iter().map(|p| p.0.as_uuid()).collect();
    let locations: Vec<Uuid> = parts.iter().map(|p| p.1.as_uuid()).collect();
    let quantities: Vec<i32> = parts.iter().map(|p| p.2).collect();
    sqlx::query(
        "INSERT INTO holds (store_id, id, owner, variant_id, location_id, quantity, status, expires_at)
         SELECT $1, h.id, $2, h.variant_id, h.location_id, h.quantity, $8,
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
    .bind(status)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Locks the owner's holds in `status`, sorted by (variant, location).
pub(crate) async fn lock_of_owner(
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

/// Locks the owner's active and released holds together, sorted by
/// (variant, location): each row and its status.
pub(crate) async fn lock_active_and_released(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    owner: HoldOwner,
) -> Result<Vec<(HoldRow, String)>, sqlx::Error> {
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
    Ok(rows
        .into_iter()
        .map(|(id, variant_id, location_id, quantity, status)| {
            (
                HoldRow {
                    id,
                    variant_id,
                    location_id,
                    quantity,
                },
                status,
            )
        })
        .collect())
}

/// Locks up to `batch` expired active holds of the store, the oldest
/// expiry first, skipping holds other transactions have locked.
pub(crate) async fn lock_expired(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    batch: i64,
) -> Result<Vec<HoldRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, variant_id, location_id, quantity FROM holds
          WHERE store_id = $1 AND status = 'active' AND expires_at < now()
          ORDER BY expires_at
          LIMIT $2
          FOR UPDATE SKIP LOCKED",
    )
    .bind(store.as_uuid())
    .bind(batch)
    .fetch_all(&mut **tx)
    .await
}

pub(crate) async fn set_status(
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

/// The owner's active holds never expire from now on.
pub(crate) async fn unexpire_active(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    owner: HoldOwner,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE holds SET expires_at = NULL, updated_at = now()
          WHERE store_id = $1 AND owner = $2 AND status = 'active'",
    )
    .bind(store.as_uuid())
    .bind(owner.as_uuid())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

pub(crate) async fn delete(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    ids: &[Uuid],
) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM holds WHERE store_id = $1 AND id = ANY($2)")
        .bind(store.as_uuid())
        .bind(ids)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// A hold gives up `by` of its units (fewer than it has).
pub(crate) async fn shrink(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    id: Uuid,
    by: i32,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE holds SET quantity = quantity - $3, updated_at = now()
          WHERE store_id = $1 AND id = $2",
    )
    .bind(store.as_uuid())
    .bind(id)
    .bind(by)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// `reserved -= q` at the hold's stock row: its units are free again.
pub(crate) async fn unreserve(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    h: &HoldRow,
) -> Result<(), sqlx::Error> {
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
    Ok(())
}

/// Locks every stock row of `variants` (sorted), in (variant, location)
/// order: (variant, location, on_hand, reserved).
pub(crate) async fn lock_levels(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    variants: &[VariantId],
) -> Result<Vec<(VariantId, LocationId, i32, i32)>, sqlx::Error> {
    let ids: Vec<Uuid> = variants.iter().map(|v| v.as_uuid()).collect();
    let rows: Vec<(Uuid, Uuid, i32, i32)> = sqlx::query_as(
        "SELECT variant_id, location_id, on_hand, reserved FROM stock_levels
          WHERE store_id = $1 AND variant_id = ANY($2)
          ORDER BY variant_id, location_id
          FOR UPDATE",
    )
    .bind(store.as_uuid())
    .bind(&ids)
    .fetch_all(&mut **tx)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(v, l, on_hand, reserved)| {
            (
                VariantId::from_uuid(v),
                LocationId::from_uuid(l),
                on_hand,
                reserved,
            )
        })
        .collect())
}

/// `on_hand += delta_on_hand, reserved += delta_reserved` at a stock row;
/// its (on_hand, reserved) after, or `None` if the row is gone (variant
/// deleted).
pub(crate) async fn move_stock(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    variant: VariantId,
    location: LocationId,
    delta_on_hand: i32,
    delta_reserved: i32,
) -> Result<Option<(i32, i32)>, sqlx::Error> {
    sqlx::query_as(
        "UPDATE stock_levels SET on_hand = on_hand + $4, reserved = reserved + $5, updated_at = now()
          WHERE store_id = $1 AND variant_id = $2 AND location_id = $3
          RETURNING on_hand, reserved",
    )
    .bind(store.as_uuid())
    .bind(variant.as_uuid())
    .bind(location.as_uuid())
    .bind(delta_on_hand)
    .bind(delta_reserved)
    .fetch_optional(&mut **tx)
    .await
}
