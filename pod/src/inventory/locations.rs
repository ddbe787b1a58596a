//! Locations (warehouses) of a store: the default one made when first
//! needed, staff's creations and changes. The types and their validation
//! are in `model.rs`, the statements in `sql/locations.rs`.

use mercato_tenants::{ApiError, LocationId, StoreId};
use sqlx::{Postgres, Transaction};

use super::model::{check_deactivation, Location, LocationPatch, NewLocation};
use super::sql::{locations as sql, stock as stock_sql};
use crate::error::PodError;
use crate::state::AppState;
use crate::tenancy;

/// Every location of the store, by id, the default one made if it has
/// none yet.
pub async fn all(state: &AppState, store: StoreId) -> Result<Vec<Location>, PodError> {
    let mut tx = tenancy::begin_write(&state.db, store).await?;
    ensure_default_location(&mut tx, store).await?;
    tx.commit().await?;
    Ok(sql::all(&state.db, store).await?)
}

/// Adds a location to the store (`POST /admin/api/locations`).
pub async fn add(
    state: &AppState,
    store: StoreId,
    new: &NewLocation,
) -> Result<Location, PodError> {
    let mut tx = tenancy::begin_write(&state.db, store).await?;
    let location = create(&mut tx, store, new).await?;
    tx.commit().await?;
    Ok(location)
}

/// Changes one of the store's locations (`PATCH
/// /admin/api/locations/{id}`; `404` for another store's). When `active`
/// is given, what can be sold changes for every variant stocked there.
pub async fn change(
    state: &AppState,
    store: StoreId,
    location: LocationId,
    patch: &LocationPatch,
) -> Result<Location, PodError> {
    let mut tx = tenancy::begin_write(&state.db, store).await?;
    let changed = update(&mut tx, store, location, patch)
        .await?
        .ok_or_else(|| ApiError::not_found("location"))?;
    tx.commit().await?;
    if patch.active.is_some() {
        let variants = stock_sql::variants_at(&state.db, store, location).await?;
        super::refresh_gate(state, store, &variants).await;
    }
    Ok(changed)
}

/// The store's default location, created (race-free: one default per store
/// by a unique index) the first time it is needed.
pub async fn ensure_default_location(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
) -> Result<LocationId, sqlx::Error> {
    if let Some(id) = sql::default_location(tx, store).await? {
        return Ok(id);
    }
    sql::insert_default(tx, store).await?;
    sql::default_location(tx, store)
        .await?
        .ok_or(sqlx::Error::RowNotFound)
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
    Ok(sql::insert(tx, store, &f).await?)
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
    let all = sql::lock_all(tx, store).await.map_err(PodError::Db)?;
    let Some(current) = all.iter().find(|l| l.id == location) else {
        return Ok(None);
    };
    let f = patch.apply(current)?;
    check_deactivation(
        current.active,
        f.active,
        all.iter().any(|l| l.id != location && l.active),
    )?;
    Ok(sql::update(tx, store, location, &f).await.map(Some)?)
}
