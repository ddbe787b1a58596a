//! The SQL of `stock_levels` (but the holds' reservations, in `holds.rs`),
//! `stock_adjustments` and `inventory_levels`, and the levels every reader
//! of stock uses.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use mercato_tenants::{AdjustmentId, LocationId, StoreId, VariantId};
use sqlx::{PgExecutor, Postgres, Transaction};
use uuid::Uuid;

use crate::db::Ids;
use crate::inventory::model::{Adjustment, Change, Level};

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

/// Inserts the audit row of a change already applied to `stock_levels`.
pub(crate) async fn insert_adjustment(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    change: &Change<'_>,
) -> Result<(), sqlx::Error> {
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
    Ok(())
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

/// The variant's stock rows with their locations, by priority, then id:
/// (location, its name, active, on hand, reserved).
pub(crate) async fn rows_of_variant<'e>(
    exec: impl PgExecutor<'e>,
    store: StoreId,
    variant: VariantId,
) -> Result<Vec<(Uuid, String, bool, i32, i32)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT l.id, l.name, l.active, s.on_hand, s.reserved
           FROM stock_levels s JOIN locations l ON l.store_id = s.store_id AND l.id = s.location_id
          WHERE s.store_id = $1 AND s.variant_id = $2
          ORDER BY l.priority, l.id",
    )
    .bind(store.as_uuid())
    .bind(variant.as_uuid())
    .fetch_all(exec)
    .await
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
