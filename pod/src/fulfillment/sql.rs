//! Every statement of the fulfillment context: `shipments` and
//! `shipment_lines`. Writers hold the order's row lock (taken by
//! `orders::get(.., for_update)`) before any of these.

use chrono::{DateTime, Utc};
use mercato_tenants::{LocationId, OrderId, ShipmentId, ShipmentStatus, StoreId, VariantId};
use sqlx::{PgExecutor, Postgres, Transaction};
use uuid::Uuid;

use super::progress::Units;
use crate::orders::{OrderShipment, OrderShipmentLine};

/// Statuses as the database knows them, for the test that checks the
/// trigger's table against [`super::state::allowed`].
pub async fn database_transitions<'e>(
    exec: impl PgExecutor<'e>,
) -> Result<Vec<(String, String)>, sqlx::Error> {
    sqlx::query_as("SELECT from_status, to_status FROM shipment_transitions ORDER BY 1, 2")
        .fetch_all(exec)
        .await
}

/// Inserts a shipment of the order from `location` in `status` (pending,
/// label_created or shipped) with `lines` (by order line position; the
/// variant comes from the order line).
pub(crate) async fn insert(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    order: OrderId,
    location: LocationId,
    status: ShipmentStatus,
    lines: &[Units],
    tracking: &Tracking,
) -> Result<ShipmentId, sqlx::Error> {
    let shipment = ShipmentId::new();
    sqlx::query(
        "INSERT INTO shipments (store_id, id, order_id, location_id, carrier, tracking_number,
                                tracking_url, status, shipped_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, CASE WHEN $8 = 'shipped' THEN now() END)",
    )
    .bind(store.as_uuid())
    .bind(shipment.as_uuid())
    .bind(order.as_uuid())
    .bind(location.as_uuid())
    .bind(tracking.carrier.as_deref().unwrap_or(""))
    .bind(tracking.number.as_deref().unwrap_or(""))
    .bind(tracking.url.as_deref().unwrap_or(""))
    .bind(status.as_str())
    .execute(&mut **tx)
    .await?;
    add_lines(tx, store, order, shipment, lines).await?;
    Ok(shipment)
}

/// Adds units of order lines to a shipment (summed with what it has).
pub(crate) async fn add_lines(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    order: OrderId,
    shipment: ShipmentId,
    lines: &[Units],
) -> Result<(), sqlx::Error> {
    let positions: Vec<i32> = lines.iter().map(|u| u.line).collect();
    let quantities: Vec<i32> = lines.iter().map(|u| u.quantity).collect();
    sqlx::query(
        "INSERT INTO shipment_lines AS sl
                (store_id, shipment_id, order_id, line_position, variant_id, quantity)
         SELECT $1, $2, $3, l.position, l.variant_id, u.quantity
           FROM unnest($4::int[], $5::int[]) AS u(position, quantity)
           JOIN order_lines l ON l.store_id = $1 AND l.order_id = $3 AND l.position = u.position
         ON CONFLICT (store_id, shipment_id, line_position)
         DO UPDATE SET quantity = sl.quantity + EXCLUDED.quantity",
    )
    .bind(store.as_uuid())
    .bind(shipment.as_uuid())
    .bind(order.as_uuid())
    .bind(&positions)
    .bind(&quantities)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Takes units of a line out of a shipment, dropping the line when none
/// are left.
pub(crate) async fn remove_units(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    shipment: ShipmentId,
    units: Units,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "DELETE FROM shipment_lines
          WHERE store_id = $1 AND shipment_id = $2 AND line_position = $3 AND quantity = $4",
    )
    .bind(store.as_uuid())
    .bind(shipment.as_uuid())
    .bind(units.line)
    .bind(units.quantity)
    .execute(&mut **tx)
    .await?;
    sqlx::query(
        "UPDATE shipment_lines SET quantity = quantity - $4
          WHERE store_id = $1 AND shipment_id = $2 AND line_position = $3 AND quantity > $4",
    )
    .bind(store.as_uuid())
    .bind(shipment.as_uuid())
    .bind(units.line)
    .bind(units.quantity)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Deletes the order's pending shipments that carry nothing any more.
pub(crate) async fn delete_empty_pending(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    order: OrderId,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "DELETE FROM shipments s
          WHERE s.store_id = $1 AND s.order_id = $2 AND s.status = 'pending'
            AND NOT EXISTS (SELECT 1 FROM shipment_lines l
                             WHERE l.store_id = s.store_id AND l.shipment_id = s.id)",
    )
    .bind(store.as_uuid())
    .bind(order.as_uuid())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Carrier and tracking of a shipment; `None` leaves a field as it is.
#[derive(Debug, Default, Clone)]
pub struct Tracking {
    pub carrier: Option<String>,
    pub number: Option<String>,
    pub url: Option<String>,
}

/// Sets the fields of `tracking` that are given.
pub(crate) async fn set_tracking(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    shipment: ShipmentId,
    tracking: &Tracking,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE shipments SET carrier = coalesce($3, carrier),
                tracking_number = coalesce($4, tracking_number),
                tracking_url = coalesce($5, tracking_url), updated_at = now()
          WHERE store_id = $1 AND id = $2",
    )
    .bind(store.as_uuid())
    .bind(shipment.as_uuid())
    .bind(tracking.carrier.as_deref())
    .bind(tracking.number.as_deref())
    .bind(tracking.url.as_deref())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Moves a shipment from `from` to `to` (the trigger checks the move),
/// stamping when it left and arrived.
pub(crate) async fn set_status(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    shipment: ShipmentId,
    from: ShipmentStatus,
    to: ShipmentStatus,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE shipments SET status = $4, updated_at = now(),
                shipped_at = CASE WHEN $4 IN ('shipped', 'in_transit', 'delivered')
                                  THEN coalesce(shipped_at, now()) ELSE shipped_at END,
                delivered_at = CASE WHEN $4 = 'delivered' THEN now() ELSE delivered_at END
          WHERE store_id = $1 AND id = $2 AND status = $3",
    )
    .bind(store.as_uuid())
    .bind(shipment.as_uuid())
    .bind(from.as_str())
    .bind(to.as_str())
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Cancels every shipment of the order whose units have not left (the
/// order itself is cancelled or refunded).
pub(crate) async fn cancel_waiting(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    order: OrderId,
) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE shipments SET status = 'cancelled', updated_at = now()
          WHERE store_id = $1 AND order_id = $2 AND status IN ('pending', 'label_created')",
    )
    .bind(store.as_uuid())
    .bind(order.as_uuid())
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected())
}

#[derive(sqlx::FromRow)]
struct ShipmentRow {
    id: Uuid,
    location_id: Uuid,
    status: String,
    carrier: String,
    tracking_number: String,
    tracking_url: String,
    created_at: DateTime<Utc>,
    shipped_at: Option<DateTime<Utc>>,
    delivered_at: Option<DateTime<Utc>>,
}

/// The order's shipments, oldest first; `for_update` locks them (the
/// caller holds the order's lock already).
pub async fn of_order(
    conn: &mut sqlx::PgConnection,
    store: StoreId,
    order: OrderId,
    for_update: bool,
) -> Result<Vec<OrderShipment>, sqlx::Error> {
    let sql = format!(
        "SELECT id, location_id, status, carrier, tracking_number, tracking_url, created_at,
                shipped_at, delivered_at
           FROM shipments WHERE store_id = $1 AND order_id = $2 ORDER BY id{}",
        if for_update { " FOR UPDATE" } else { "" }
    );
    let rows: Vec<ShipmentRow> = sqlx::query_as(&sql)
        .bind(store.as_uuid())
        .bind(order.as_uuid())
        .fetch_all(&mut *conn)
        .await?;
    let lines: Vec<(Uuid, i32, Uuid, i32)> = sqlx::query_as(
        "SELECT shipment_id, line_position, variant_id, quantity FROM shipment_lines
          WHERE store_id = $1 AND order_id = $2 ORDER BY shipment_id, line_position",
    )
    .bind(store.as_uuid())
    .bind(order.as_uuid())
    .fetch_all(&mut *conn)
    .await?;
    rows.into_iter()
        .map(|r| {
            let status = ShipmentStatus::parse(&r.status).ok_or_else(|| {
                sqlx::Error::Decode(format!("shipment status {}", r.status).into())
            })?;
            Ok(OrderShipment {
                id: ShipmentId::from_uuid(r.id),
                location_id: LocationId::from_uuid(r.location_id),
                status,
                carrier: r.carrier,
                tracking_number: r.tracking_number,
                tracking_url: r.tracking_url,
                created_at: r.created_at,
                shipped_at: r.shipped_at,
                delivered_at: r.delivered_at,
                lines: lines
                    .iter()
                    .filter(|l| l.0 == r.id)
                    .map(|l| OrderShipmentLine {
                        line_position: l.1,
                        variant_id: VariantId::from_uuid(l.2),
                        quantity: l.3,
                    })
                    .collect(),
            })
        })
        .collect()
}
