//! Locations (warehouses) of a store.

use chrono::{DateTime, Utc};
use mercato_tenants::{LocationId, StoreId};
use serde::{Deserialize, Serialize};
use sqlx::{PgExecutor, Postgres, Transaction};
use uuid::Uuid;

use crate::error::PodError;

use super::model::{check_deactivation, check_priority, parse_country, text_field, LocationError};

/// A location as staff see it.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Location {
    #[sqlx(try_from = "Uuid")]
    pub id: LocationId,
    pub name: String,
    pub line1: String,
    pub line2: String,
    pub city: String,
    pub region: String,
    pub postal_code: String,
    /// ISO 3166-1 alpha-2.
    pub country: Option<String>,
    /// Lower is tried first when stock is reserved.
    pub priority: i32,
    /// Inactive locations keep their stock but are never sold from.
    pub active: bool,
    /// The location stock goes to when none is named.
    pub is_default: bool,
    pub created_at: DateTime<Utc>,
}

const COLUMNS: &str =
    "id, name, line1, line2, city, region, postal_code, country, priority, active, is_default, created_at";

/// A new location.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewLocation {
    /// 1 to 100 characters.
    pub name: String,
    pub line1: Option<String>,
    pub line2: Option<String>,
    pub city: Option<String>,
    pub region: Option<String>,
    /// At most 32 characters.
    pub postal_code: Option<String>,
    /// ISO 3166-1 alpha-2, e.g. `US`.
    pub country: Option<String>,
    /// 0 (tried first, the default) to 1,000,000.
    pub priority: Option<i32>,
    pub active: Option<bool>,
}

/// Changes to a location; absent fields stay as they are. `active: false`
/// deactivates it (not the last active one).
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LocationPatch {
    pub name: Option<String>,
    pub line1: Option<String>,
    pub line2: Option<String>,
    pub city: Option<String>,
    pub region: Option<String>,
    pub postal_code: Option<String>,
    /// An ISO 3166-1 alpha-2 code, or `""` to clear it.
    pub country: Option<String>,
    pub priority: Option<i32>,
    pub active: Option<bool>,
}

/// A location's fields, validated.
struct Fields {
    name: String,
    line1: String,
    line2: String,
    city: String,
    region: String,
    postal_code: String,
    country: Option<String>,
    priority: i32,
    active: bool,
}

fn address(
    field: &'static str,
    raw: Option<&String>,
    max: usize,
) -> Result<Option<String>, LocationError> {
    raw.map(|r| text_field(field, r, 0, max)).transpose()
}

fn country(raw: Option<&String>) -> Result<Option<Option<String>>, LocationError> {
    raw.map(|c| {
        if c.trim().is_empty() {
            Ok(None)
        } else {
            parse_country(c).map(Some)
        }
    })
    .transpose()
}

impl NewLocation {
    fn validate(&self) -> Result<Fields, LocationError> {
        Ok(Fields {
            name: text_field("name", &self.name, 1, 100)?,
            line1: address("line1", self.line1.as_ref(), 255)?.unwrap_or_default(),
            line2: address("line2", self.line2.as_ref(), 255)?.unwrap_or_default(),
            city: address("city", self.city.as_ref(), 255)?.unwrap_or_default(),
            region: address("region", self.region.as_ref(), 255)?.unwrap_or_default(),
            postal_code: address("postal_code", self.postal_code.as_ref(), 32)?.unwrap_or_default(),
            country: country(self.country.as_ref())?.flatten(),
            priority: self.priority.map(check_priority).transpose()?.unwrap_or(0),
            active: self.active.unwrap_or(true),
        })
    }
}

impl LocationPatch {
    fn apply(&self, current: &Location) -> Result<Fields, LocationError> {
        Ok(Fields {
            name: match &self.name {
                Some(n) => text_field("name", n, 1, 100)?,
                None => current.name.clone(),
            },
            line1: address("line1", self.line1.as_ref(), 255)?
                .unwrap_or_else(|| current.line1.clone()),
            line2: address("line2", self.line2.as_ref(), 255)?
                .unwrap_or_else(|| current.line2.clone()),
            city: address("city", self.city.as_ref(), 255)?.unwrap_or_else(|| current.city.clone()),
            region: address("region", self.region.as_ref(), 255)?
                .unwrap_or_else(|| current.region.clone()),
            postal_code: address("postal_code", self.postal_code.as_ref(), 32)?
                .unwrap_or_else(|| current.postal_code.clone()),
            country: country(self.country.as_ref())?.unwrap_or_else(|| current.country.clone()),
            priority: self
                .priority
                .map(check_priority)
                .transpose()?
                .unwrap_or(current.priority),
            active: self.active.unwrap_or(current.active),
        })
    }
}

/// `422 unknown_location`.
pub(crate) fn unknown(location: LocationId) -> LocationError {
    LocationError::Unknown(location)
}

/// The store's default location, created (race-free: one default per store
/// by a unique index) the first time it is needed.
pub async fn ensure_default_location(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
) -> Result<LocationId, sqlx::Error> {
    let found: Option<(Uuid,)> =
        sqlx::query_as("SELECT id FROM locations WHERE store_id = $1 AND is_default")
            .bind(store.as_uuid())
            .fetch_optional(&mut **tx)
            .await?;
    if let Some((id,)) = found {
        return Ok(LocationId::from_uuid(id));
    }
    sqlx::query(
        "INSERT INTO locations (store_id, id, name, priority, is_default)
         VALUES ($1, $2, 'Default', 0, true)
         ON CONFLICT (store_id) WHERE is_default DO NOTHING",
    )
    .bind(store.as_uuid())
    .bind(LocationId::new().as_uuid())
    .execute(&mut **tx)
    .await?;
    let (id,): (Uuid,) =
        sqlx::query_as("SELECT id FROM locations WHERE store_id = $1 AND is_default")
            .bind(store.as_uuid())
            .fetch_one(&mut **tx)
            .await?;
    Ok(LocationId::from_uuid(id))
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

pub(crate) async fn create(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    new: &NewLocation,
) -> Result<Location, PodError> {
    let f = new.validate()?;
    ensure_default_location(tx, store)
        .await
        .map_err(PodError::Db)?;
    Ok(sqlx::query_as(&format!(
        "INSERT INTO locations (store_id, id, name, line1, line2, city, region, postal_code,
                                country, priority, active)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
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
    .fetch_one(&mut **tx)
    .await?)
}

/// Applies `patch`; `None` if the location is not the store's. All of the
/// store's locations are locked first, so two deactivations cannot leave
/// the store with none active.
pub(crate) async fn update(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    location: LocationId,
    patch: &LocationPatch,
) -> Result<Option<Location>, PodError> {
    let all: Vec<Location> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM locations WHERE store_id = $1 ORDER BY id FOR UPDATE"
    ))
    .bind(store.as_uuid())
    .fetch_all(&mut **tx)
    .await
    .map_err(PodError::Db)?;
    let Some(current) = all.iter().find(|l| l.id == location) else {
        return Ok(None);
    };
    let f = patch.apply(current)?;
    check_deactivation(
        current.active,
        f.active,
        all.iter().any(|l| l.id != location && l.active),
    )?;
    Ok(sqlx::query_as(&format!(
        "UPDATE locations SET name = $3, line1 = $4, line2 = $5, city = $6, region = $7,
                postal_code = $8, country = $9, priority = $10, active = $11, updated_at = now()
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
    .fetch_one(&mut **tx)
    .await
    .map(Some)?)
}
