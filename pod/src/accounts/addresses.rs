//! A customer's address book, for every face (the JSON API's
//! `/api/customers/me/addresses`, the storefront's account pages): at most
//! [`MAX_ADDRESSES`] addresses and at most one default; the first one saved
//! becomes the default. Another customer's address is `404`. Writes lock
//! the customer's row, so concurrent ones take turns and the limits hold.

use mercato_tenants::{AddressId, ApiError, CustomerId, ErrorCode, StoreId};
use sqlx::{PgPool, Postgres, Transaction};

use super::model::{Address, AddressFields, MAX_ADDRESSES};
use super::sql;
use crate::error::PodError;
use crate::state::AppState;
use crate::tenancy::begin_write;

/// The customer's addresses, oldest first.
pub async fn list(
    db: &PgPool,
    store: StoreId,
    customer: CustomerId,
) -> Result<Vec<Address>, PodError> {
    sql::addresses::list(db, store, customer, MAX_ADDRESSES)
        .await
        .map_err(PodError::internal)
}

async fn lock_customer(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    customer: CustomerId,
) -> Result<(), PodError> {
    let found = sql::addresses::lock_customer(&mut **tx, store, customer)
        .await
        .map_err(PodError::internal)?;
    found
        .then_some(())
        .ok_or_else(|| ApiError::not_found("customer").into())
}

/// Saves a new address (its fields validated here); the default if
/// `is_default` or if it is the first.
pub async fn add(
    state: &AppState,
    store: StoreId,
    customer: CustomerId,
    fields: AddressFields,
    is_default: bool,
) -> Result<Address, PodError> {
    let fields = fields.validate()?;
    let mut tx = begin_write(&state.db, store).await?;
    lock_customer(&mut tx, store, customer).await?;
    let count = sql::addresses::count(&mut *tx, store, customer)
        .await
        .map_err(PodError::internal)?;
    if count >= MAX_ADDRESSES {
        return Err(ApiError::new(
            ErrorCode::Unprocessable,
            format!("at most {MAX_ADDRESSES} addresses per customer"),
        )
        .into());
    }
    let is_default = is_default || count == 0;
    if is_default {
        sql::addresses::clear_default(&mut *tx, store, customer)
            .await
            .map_err(PodError::internal)?;
    }
    let address = sql::addresses::insert(&mut *tx, store, customer, &fields, is_default).await?;
    tx.commit().await.map_err(PodError::internal)?;
    Ok(address)
}

/// Rewrites the address `id` with what `change` makes of its fields and
/// default flag (the fields validated here).
pub async fn update(
    state: &AppState,
    store: StoreId,
    customer: CustomerId,
    id: AddressId,
    change: impl FnOnce(AddressFields, bool) -> (AddressFields, bool),
) -> Result<Address, PodError> {
    let mut tx = begin_write(&state.db, store).await?;
    lock_customer(&mut tx, store, customer).await?;
    let current = sql::addresses::get(&mut *tx, store, customer, id)
        .await
        .map_err(PodError::internal)?
        .ok_or_else(|| ApiError::not_found("address"))?;
    let (fields, is_default) = change(current.fields, current.is_default);
    let fields = fields.validate()?;
    if is_default && !current.is_default {
        sql::addresses::clear_default(&mut *tx, store, customer)
            .await
            .map_err(PodError::internal)?;
    }
    let address =
        sql::addresses::update(&mut *tx, store, customer, id, &fields, is_default).await?;
    tx.commit().await.map_err(PodError::internal)?;
    Ok(address)
}

/// Deletes the address `id`.
pub async fn remove(
    state: &AppState,
    store: StoreId,
    customer: CustomerId,
    id: AddressId,
) -> Result<(), PodError> {
    let mut tx = begin_write(&state.db, store).await?;
    let deleted = sql::addresses::delete(&mut *tx, store, customer, id)
        .await
        .map_err(PodError::internal)?;
    if !deleted {
        return Err(ApiError::not_found("address").into());
    }
    tx.commit().await.map_err(PodError::internal)?;
    Ok(())
}
