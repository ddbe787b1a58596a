//! Stock rows, the audit of every change of units on hand, and staff's own
//! changes.

use chrono::{DateTime, Utc};
use mercato_tenants::events::{Event, LevelChanged};
use mercato_tenants::{AdjustmentId, LocationId, StoreId, VariantId};
use serde::Serialize;
use sqlx::{PgExecutor, Postgres, Transaction};
use uuid::Uuid;

use super::locations;
use super::{Badge, Level};

/// Inside a write transaction: confirms the store is active on this pod
/// ([`crate::tenancy::is_active_locked`]), with the database's own error
/// type.
pub(crate) async fn fence(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
) -> Result<(), sqlx::Error> {
    if crate::tenancy::is_active_locked(tx, store).await? {
        Ok(())
    } else {
        Err(sqlx::Error::Protocol(format!(
            "store {store} is not active on this pod"
        )))
    }
}

/// One change of units on hand at a location, as recorded.
pub(crate) struct Change<'a> {
    pub variant: VariantId,
    pub location: LocationId,
    pub delta: i32,
    pub on_hand_after: i32,
    pub reserved_after: i32,
    pub reason: &'a str,
    pub actor: &'a str,
    pub reference: Option<Uuid>,
}

/// Records a change already applied to `stock_levels`: the audit row, the
/// variant's total on hand in `inventory_levels`, and the outbox event.
pub(crate) async fn record_change(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    change: &Change<'_>,
) -> Result<i32, sqlx::Error> {
    sqlx::query(
        "INSERT INTO stock_adjustments (store_id, id, variant_id, location_id, delta,
                                        on_hand_after, reason, actor, reference)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(store.as_uuid())
    .bind(AdjustmentId::new().as_uuid())
    .bind(change.variant.as_uuid())
    .bind(change.location.as_uuid())
    .bind(change.delta)
    .bind(change.on_hand_after)
    .bind(change.reason)
    .bind(change.actor)
    .bind(change.reference)
    .execute(&mut **tx)
    .await?;
    let total = add_to_total(tx, store, change.variant, change.delta, None).await?;
    crate::events::record(
        tx,
        store,
        &Event::InventoryLevelChanged(LevelChanged {
            variant_id: change.variant,
            location_id: change.location,
            on_hand: change.on_hand_after,
            reserved: change.reserved_after,
            available: change.on_hand_after - change.reserved_after,
            delta: change.delta,
            reason: change.reason.to_owned(),
        }),
    )
    .await?;
    Ok(total)
}

/// Keeps `inventory_levels` (the low-stock threshold, and the total on
/// hand over all locations that search reads) in step; the new total.
pub(crate) async fn add_to_total(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    variant: VariantId,
    delta: i32,
    low_stock_threshold: Option<i32>,
) -> Result<i32, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO inventory_levels (store_id, variant_id, on_hand, low_stock_threshold)
         VALUES ($1, $2, GREATEST($3, 0), COALESCE($4, 5))
         ON CONFLICT (store_id, variant_id) DO UPDATE
            SET on_hand = GREATEST(inventory_levels.on_hand + $3, 0),
                low_stock_threshold = COALESCE($4, inventory_levels.low_stock_threshold),
                updated_at = now()
         RETURNING on_hand",
    )
    .bind(store.as_uuid())
    .bind(variant.as_uuid())
    .bind(delta)
    .bind(low_stock_threshold)
    .fetch_one(&mut **tx)
    .await
}

/// Whether `variant` counts as in stock for search: units on hand over
/// all locations (`inventory_levels`, as `search::reindex` reads it).
pub(crate) async fn in_stock(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    variant: VariantId,
) -> Result<bool, sqlx::Error> {
    let on_hand: Option<i32> = sqlx::query_scalar(
        "SELECT on_hand FROM inventory_levels WHERE store_id = $1 AND variant_id = $2",
    )
    .bind(store.as_uuid())
    .bind(variant.as_uuid())
    .fetch_optional(&mut **tx)
    .await?;
    Ok(on_hand.unwrap_or(0) > 0)
}

/// Locks the stock row of (variant, location), creating it empty first if
/// needed; gives its (on_hand, reserved).
pub(crate) async fn lock_row(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    variant: VariantId,
    location: LocationId,
) -> Result<(i32, i32), sqlx::Error> {
    sqlx::query(
        "INSERT INTO stock_levels (store_id, variant_id, location_id) VALUES ($1, $2, $3)
         ON CONFLICT DO NOTHING",
    )
    .bind(store.as_uuid())
    .bind(variant.as_uuid())
    .bind(location.as_uuid())
    .execute(&mut **tx)
    .await?;
    sqlx::query_as(
        "SELECT on_hand, reserved FROM stock_levels
         WHERE store_id = $1 AND variant_id = $2 AND location_id = $3 FOR UPDATE",
    )
    .bind(store.as_uuid())
    .bind(variant.as_uuid())
    .bind(location.as_uuid())
    .fetch_one(&mut **tx)
    .await
}

pub(crate) async fn write_on_hand(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    variant: VariantId,
    location: LocationId,
    on_hand: i32,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE stock_levels SET on_hand = $4, updated_at = now()
         WHERE store_id = $1 AND variant_id = $2 AND location_id = $3",
    )
    .bind(store.as_uuid())
    .bind(variant.as_uuid())
    .bind(location.as_uuid())
    .bind(on_hand)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The stock a new variant starts with, at the store's default location;
/// the caller (the catalog) commits.
pub async fn initial_stock(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    variant: VariantId,
    on_hand: i32,
) -> Result<(), sqlx::Error> {
    let location = locations::ensure_default_location(tx, store).await?;
    let (current, reserved) = lock_row(tx, store, variant, location).await?;
    if on_hand == current {
        return add_to_total(tx, store, variant, 0, None).await.map(|_| ());
    }
    write_on_hand(tx, store, variant, location, on_hand).await?;
    record_change(
        tx,
        store,
        &Change {
            variant,
            location,
            delta: on_hand - current,
            on_hand_after: on_hand,
            reserved_after: reserved,
            reason: "initial",
            actor: "system",
            reference: None,
        },
    )
    .await
    .map(|_| ())
}

/// One location's stock of a variant.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LocationStock {
    pub location_id: LocationId,
    pub location_name: String,
    /// Stock at an inactive location is not sold and not in the totals.
    pub active: bool,
    pub on_hand: i32,
    pub reserved: i32,
    pub available: i32,
}

/// A variant's stock: totals over active locations, and each location.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct VariantStock {
    pub variant_id: VariantId,
    pub on_hand: i32,
    pub reserved: i32,
    pub available: i32,
    pub low_stock_threshold: i32,
    pub badge: Badge,
    /// By priority, then id.
    pub locations: Vec<LocationStock>,
}

/// The stock of `variant` (known to be in the store).
pub(crate) async fn variant_stock<'e>(
    exec: impl PgExecutor<'e> + Copy,
    store: StoreId,
    variant: VariantId,
) -> Result<VariantStock, sqlx::Error> {
    let rows: Vec<(Uuid, String, bool, i32, i32)> = sqlx::query_as(
        "SELECT l.id, l.name, l.active, s.on_hand, s.reserved
           FROM stock_levels s JOIN locations l ON l.store_id = s.store_id AND l.id = s.location_id
          WHERE s.store_id = $1 AND s.variant_id = $2
          ORDER BY l.priority, l.id",
    )
    .bind(store.as_uuid())
    .bind(variant.as_uuid())
    .fetch_all(exec)
    .await?;
    let level = super::levels(exec, store, &[variant])
        .await?
        .remove(&variant)
        .unwrap_or(Level::NONE);
    Ok(VariantStock {
        variant_id: variant,
        on_hand: level.on_hand,
        reserved: level.reserved,
        available: level.available,
        low_stock_threshold: level.low_stock_threshold,
        badge: level.badge(),
        locations: rows
            .into_iter()
            .map(|(id, name, active, on_hand, reserved)| LocationStock {
                location_id: LocationId::from_uuid(id),
                location_name: name,
                active,
                on_hand,
                reserved,
                available: on_hand - reserved,
            })
            .collect(),
    })
}

/// The variants with a stock row at `location`.
pub(crate) async fn variants_at(
    db: &sqlx::PgPool,
    store: StoreId,
    location: LocationId,
) -> Result<Vec<VariantId>, sqlx::Error> {
    let rows: Vec<(Uuid,)> = sqlx::query_as(
        "SELECT variant_id FROM stock_levels WHERE store_id = $1 AND location_id = $2",
    )
    .bind(store.as_uuid())
    .bind(location.as_uuid())
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(v,)| VariantId::from_uuid(v))
        .collect())
}

/// One row of the stock audit.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Adjustment {
    pub id: AdjustmentId,
    pub variant_id: VariantId,
    pub location_id: LocationId,
    pub delta: i32,
    pub on_hand_after: i32,
    pub reason: String,
    /// A staff id, or `system`.
    pub actor: String,
    /// The checkout behind an `order` or `order_cancelled` change.
    pub reference: Option<Uuid>,
    pub created_at: DateTime<Utc>,
}

/// Audit rows, newest first, `limit` of them after the cursor `after`.
pub(crate) async fn adjustments(
    db: &sqlx::PgPool,
    store: StoreId,
    variant: Option<VariantId>,
    location: Option<LocationId>,
    after: Option<AdjustmentId>,
    limit: i64,
) -> Result<Vec<Adjustment>, sqlx::Error> {
    type Row = (
        Uuid,
        Uuid,
        Uuid,
        i32,
        i32,
        String,
        String,
        Option<Uuid>,
        DateTime<Utc>,
    );
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT id, variant_id, location_id, delta, on_hand_after, reason, actor, reference, created_at
           FROM stock_adjustments
          WHERE store_id = $1
            AND ($2::uuid IS NULL OR variant_id = $2)
            AND ($3::uuid IS NULL OR location_id = $3)
            AND ($4::uuid IS NULL OR id < $4)
          ORDER BY id DESC
          LIMIT $5",
    )
    .bind(store.as_uuid())
    .bind(variant.map(|v| v.as_uuid()))
    .bind(location.map(|l| l.as_uuid()))
    .bind(after.map(|a| a.as_uuid()))
    .bind(limit)
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(
            |(
                id,
                variant_id,
                location_id,
                delta,
                on_hand_after,
                reason,
                actor,
                reference,
                created_at,
            )| {
                Adjustment {
                    id: AdjustmentId::from_uuid(id),
                    variant_id: VariantId::from_uuid(variant_id),
                    location_id: LocationId::from_uuid(location_id),
                    delta,
                    on_hand_after,
                    reason,
                    actor,
                    reference,
                    created_at,
                }
            },
        )
        .collect())
}
