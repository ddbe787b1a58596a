//! The SQL of `locations`.

use mercato_tenants::{LocationId, StoreId};
use sqlx::{PgExecutor, Postgres, Transaction};
use uuid::Uuid;

use crate::inventory::model::{Fields, Location};

const COLUMNS: &str =
    "id, name, line1, line2, city, region, postal_code, country, latitude, longitude, priority, active,
     is_default, created_at";

/// The store's default location, if it has one.
pub(crate) async fn default_location(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
) -> Result<Option<LocationId>, sqlx::Error> {
    let found: Option<(Uuid,)> =
        sqlx::query_as("SELECT id FROM locations WHERE store_id = $1 AND is_default")
            .bind(store.as_uuid())
            .fetch_optional(&mut **tx)
            .await?;
    Ok(found.map(|(id,)| LocationId::from_uuid(id)))
}

/// Inserts the store's default location unless it has one (one default
/// per store, by a unique index).
pub(crate) async fn insert_default(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO locations (store_id, id, name, priority, is_default)
         VALUES ($1, $2, 'Default', 0, true)
         ON CONFLICT (store_id) WHERE is_default DO NOTHING",
    )
    .bind(store.as_uuid())
    .bind(LocationId::new().as_uuid())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Whether the location is the store's.
pub(crate) async fn exists<'e>(
    exec: impl PgExecutor<'e>,
    store: StoreId,
    location: LocationId,
) -> Result<bool, sqlx::Error> {
    let found: Option<(i32,)> =
        sqlx::query_as("SELECT 1 FROM locations WHERE store_id = $1 AND id = $2")
            .bind(store.as_uuid())
            .bind(location.as_uuid())
            .fetch_optional(exec)
            .await?;
    Ok(found.is_some())
}

pub(crate) async fn get<'e>(
    exec: impl PgExecutor<'e>,
    store: StoreId,
    location: LocationId,
) -> Result<Option<Location>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM locations WHERE store_id = $1 AND id = $2"
    ))
    .bind(store.as_uuid())
    .bind(location.as_uuid())
    .fetch_optional(exec)
    .await
}

/// Locations by id, `limit` after the cursor.
pub(crate) async fn list(
    db: &sqlx::PgPool,
    store: StoreId,
    after: Option<LocationId>,
    limit: i64,
) -> Result<Vec<Location>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM locations
          WHERE store_id = $1 AND ($2::uuid IS NULL OR id > $2)
          ORDER BY id LIMIT $3"
    ))
    .bind(store.as_uuid())
    .bind(after.map(|a| a.as_uuid()))
    .bind(limit)
    .fetch_all(db)
    .await
}

/// Every location of the store, by id.
pub(crate) async fn all<'e>(
    exec: impl PgExecutor<'e>,
    store: StoreId,
) -> Result<Vec<Location>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM locations WHERE store_id = $1 ORDER BY id"
    ))
    .bind(store.as_uuid())
    .fetch_all(exec)
    .await
}

/// Every location of the store, by id, locked.
pub(crate) async fn lock_all(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
) -> Result<Vec<Location>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM locations WHERE store_id = $1 ORDER BY id FOR UPDATE"
    ))
    .bind(store.as_uuid())
    .fetch_all(&mut **tx)
    .await
}

pub(crate) async fn insert(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    f: &Fields,
) -> Result<Location, sqlx::Error> {
    sqlx::query_as(&format!(
        "INSERT INTO locations (store_id, id, name, line1, line2, city, region, postal_code,
                                country, priority, active, latitude, longitude)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
         RETURNING {COLUMNS}"
    ))
    .bind(store.as_uuid())
    .bind(LocationId::new().as_uuid())
    .bind(&f.name)
    .bind(&f.line1)
    .bind(&f.line2)
    .bind(&f.city)
    .bind(&f.region)
    .bind(&f.postal_code)
    .bind(&f.country)
    .bind(f.priority)
    .bind(f.active)
    .bind(f.coordinates.map(|c| c.latitude()))
    .bind(f.coordinates.map(|c| c.longitude()))
    .fetch_one(&mut **tx)
    .await
}

pub(crate) async fn update(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    location: LocationId,
    f: &Fields,
) -> Result<Location, sqlx::Error> {
    sqlx::query_as(&format!(
        "UPDATE locations SET name = $3, line1 = $4, line2 = $5, city = $6, region = $7,
                postal_code = $8, country = $9, priority = $10, active = $11,
                latitude = $12, longitude = $13, updated_at = now()
          WHERE store_id = $1 AND id = $2
          RETURNING {COLUMNS}"
    ))
    .bind(store.as_uuid())
    .bind(location.as_uuid())
    .bind(&f.name)
    .bind(&f.line1)
    .bind(&f.line2)
    .bind(&f.city)
    .bind(&f.region)
    .bind(&f.postal_code)
    .bind(&f.country)
    .bind(f.priority)
    .bind(f.active)
    .bind(f.coordinates.map(|c| c.latitude()))
    .bind(f.coordinates.map(|c| c.longitude()))
    .fetch_one(&mut **tx)
    .await
}
