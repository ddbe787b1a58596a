//! Every statement of the fulfillment context.

use mercato_tenants::{HoldOwner, OrderId, ShipmentId, StoreId};
use sqlx::{PgExecutor, Postgres, Transaction};
use uuid::Uuid;

/// Statuses as the database knows them, for the test that checks the
/// trigger's table against [`super::state::allowed`].
pub async fn database_transitions<'e>(
    exec: impl PgExecutor<'e>,
) -> Result<Vec<(String, String)>, sqlx::Error> {
    sqlx::query_as("SELECT from_status, to_status FROM shipment_transitions ORDER BY 1, 2")
        .fetch_all(exec)
        .await
}

/// Inside the caller's transaction, once the owner's holds are committed:
/// a pending shipment per location the holds took stock from, carrying the
/// order lines' units held there. Order lines have distinct variants (a
/// cart has one line per variant). Returns the shipments made.
pub async fn insert_from_holds(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    order: OrderId,
    owner: HoldOwner,
) -> Result<usize, sqlx::Error> {
    let locations: Vec<(Uuid,)> = sqlx::query_as(
        "SELECT DISTINCT location_id FROM holds
          WHERE store_id = $1 AND owner = $2 AND status = 'committed'
          ORDER BY location_id",
    )
    .bind(store.as_uuid())
    .bind(owner.as_uuid())
    .fetch_all(&mut **tx)
    .await?;
    for (location,) in &locations {
        let shipment = ShipmentId::new();
        sqlx::query(
            "INSERT INTO shipments (store_id, id, order_id, location_id) VALUES ($1, $2, $3, $4)",
        )
        .bind(store.as_uuid())
        .bind(shipment.as_uuid())
        .bind(order.as_uuid())
        .bind(location)
        .execute(&mut **tx)
        .await?;
        sqlx::query(
            "INSERT INTO shipment_lines
                    (store_id, shipment_id, order_id, line_position, variant_id, quantity)
             SELECT $1, $2, $3, l.position, l.variant_id, h.quantity
               FROM (SELECT variant_id, sum(quantity)::int AS quantity FROM holds
                      WHERE store_id = $1 AND owner = $4 AND status = 'committed'
                        AND location_id = $5
                      GROUP BY variant_id) h
               JOIN order_lines l
                 ON l.store_id = $1 AND l.order_id = $3 AND l.variant_id = h.variant_id",
        )
        .bind(store.as_uuid())
        .bind(shipment.as_uuid())
        .bind(order.as_uuid())
        .bind(owner.as_uuid())
        .bind(location)
        .execute(&mut **tx)
        .await?;
    }
    Ok(locations.len())
}

/// One shipment as staff see it.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Shipment {
    pub id: ShipmentId,
    pub location_id: mercato_tenants::LocationId,
    pub status: super::ShipmentStatus,
    pub carrier: String,
    pub tracking_number: String,
    pub tracking_url: String,
    /// By order line.
    pub lines: Vec<ShipmentLine>,
}

/// Units of one order line in a shipment.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ShipmentLine {
    pub line_position: i32,
    pub variant_id: mercato_tenants::VariantId,
    pub quantity: i32,
}

/// The order's shipments, oldest first.
pub async fn of_order(
    conn: &mut sqlx::PgConnection,
    store: StoreId,
    order: OrderId,
) -> Result<Vec<Shipment>, sqlx::Error> {
    type Row = (Uuid, Uuid, String, String, String, String);
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT id, location_id, status, carrier, tracking_number, tracking_url FROM shipments
          WHERE store_id = $1 AND order_id = $2 ORDER BY id",
    )
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
        .map(
            |(id, location, status, carrier, tracking_number, tracking_url)| {
                let status = super::ShipmentStatus::parse(&status).ok_or_else(|| {
                    sqlx::Error::Decode(format!("shipment status {status}").into())
                })?;
                Ok(Shipment {
                    id: ShipmentId::from_uuid(id),
                    location_id: location.into(),
                    status,
                    carrier,
                    tracking_number,
                    tracking_url,
                    lines: lines
                        .iter()
                        .filter(|l| l.0 == id)
                        .map(|l| ShipmentLine {
                            line_position: l.1,
                            variant_id: l.2.into(),
                            quantity: l.3,
                        })
                        .collect(),
                })
            },
        )
        .collect()
}
