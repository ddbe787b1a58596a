//! Stock rows, the audit of every change of units on hand, and staff's own
//! changes. Each statement is in `sql/stock.rs`; this module orders them.

use mercato_tenants::events::{Event, LevelChanged};
use mercato_tenants::{LocationId, StoreId, VariantId};
use sqlx::{PgExecutor, Postgres, Transaction};

use super::locations;
use super::model::{Change, Level, LocationStock, VariantStock};
use super::sql::stock as sql;

/// Records a change already applied to `stock_levels`: the audit row, the
/// variant's total on hand in `inventory_levels`, and the outbox event.
pub(crate) async fn record_change(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    change: &Change<'_>,
) -> Result<i32, sqlx::Error> {
    sql::insert_adjustment(tx, store, change).await?;
    let total = sql::add_to_total(tx, store, change.variant, change.delta, None).await?;
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

/// The stock a new variant starts with, at the store's default location;
/// the caller (the catalog) commits.
pub async fn initial_stock(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    variant: VariantId,
    on_hand: i32,
) -> Result<(), sqlx::Error> {
    let location = locations::ensure_default_location(tx, store).await?;
    let (current, reserved) = sql::lock_row(tx, store, variant, location).await?;
    if on_hand == current {
        return sql::add_to_total(tx, store, variant, 0, None)
            .await
            .map(|_| ());
    }
    sql::write_on_hand(tx, store, variant, location, on_hand).await?;
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

/// The stock of `variant` (known to be in the store).
pub(crate) async fn variant_stock<'e>(
    exec: impl PgExecutor<'e> + Copy,
    store: StoreId,
    variant: VariantId,
) -> Result<VariantStock, sqlx::Error> {
    let rows = sql::rows_of_variant(exec, store, variant).await?;
    let level = sql::levels(exec, store, &[variant])
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

/// Inside the caller's transaction: `quantity` units of `variant` come back
/// to `location` (or the store's default location) from a return: on hand
/// goes up, audited with reason `returned` and the return as reference.
/// A deleted variant takes nothing back (false). The caller runs
/// [`super::refresh_gate`] after its commit.
pub async fn put_back(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    variant: VariantId,
    location: Option<LocationId>,
    quantity: i32,
    reference: uuid::Uuid,
) -> Result<bool, sqlx::Error> {
    if quantity <= 0
        || sql::rows_of_variant(&mut **tx, store, variant)
            .await?
            .is_empty()
    {
        return Ok(false);
    }
    let location = match location {
        Some(l) => l,
        None => locations::ensure_default_location(tx, store).await?,
    };
    let (current, reserved) = sql::lock_row(tx, store, variant, location).await?;
    let on_hand = current + quantity;
    sql::write_on_hand(tx, store, variant, location, on_hand).await?;
    record_change(
        tx,
        store,
        &Change {
            variant,
            location,
            delta: quantity,
            on_hand_after: on_hand,
            reserved_after: reserved,
            reason: "returned",
            actor: "system",
            reference: Some(reference),
        },
    )
    .await?;
    Ok(true)
}
