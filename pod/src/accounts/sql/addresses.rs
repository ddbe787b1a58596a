//! The SQL of `customer_addresses` (and the customer row lock that makes
//! one customer's address writes take turns).

use chrono::{DateTime, Utc};
use mercato_tenants::{AddressId, CustomerId, StoreId};
use sqlx::postgres::PgArguments;
use sqlx::query::QueryAs;
use sqlx::{PgExecutor, PgPool, Postgres};
use uuid::Uuid;

use crate::accounts::model::{Address, AddressFields};

const COLUMNS: &str =
    "id, name, line1, line2, city, region, postal_code, country, phone, is_default, created_at";

#[derive(sqlx::FromRow)]
struct Row {
    id: Uuid,
    name: String,
    line1: String,
    line2: String,
    city: String,
    region: String,
    postal_code: String,
    country: String,
    phone: String,
    is_default: bool,
    created_at: DateTime<Utc>,
}

impl Row {
    fn fields(&self) -> AddressFields {
        AddressFields {
            name: self.name.clone(),
            line1: self.line1.clone(),
            line2: self.line2.clone(),
            city: self.city.clone(),
            region: self.region.clone(),
            postal_code: self.postal_code.clone(),
            country: self.country.clone(),
            phone: self.phone.clone(),
        }
    }

    fn address(self) -> Address {
        Address {
            id: AddressId::from_uuid(self.id),
            name: self.name,
            line1: self.line1,
            line2: self.line2,
            city: self.city,
            region: self.region,
            postal_code: self.postal_code,
            country: self.country.trim().to_owned(),
            phone: self.phone,
            is_default: self.is_default,
            created_at: self.created_at,
        }
    }
}

/// Binds the fields, name to phone in column order, as the next
/// parameters of `query`.
fn bind_fields<'q, O>(
    fields: &'q AddressFields,
    query: QueryAs<'q, Postgres, O, PgArguments>,
) -> QueryAs<'q, Postgres, O, PgArguments> {
    query
        .bind(&fields.name)
        .bind(&fields.line1)
        .bind(&fields.line2)
        .bind(&fields.city)
        .bind(&fields.region)
        .bind(&fields.postal_code)
        .bind(&fields.country)
        .bind(&fields.phone)
}

/// The customer's addresses, oldest first, at most `limit`.
pub(crate) async fn list(
    db: &PgPool,
    store: StoreId,
    customer: CustomerId,
    limit: i64,
) -> Result<Vec<Address>, sqlx::Error> {
    let rows: Vec<Row> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM customer_addresses WHERE store_id = $1 AND customer_id = $2 ORDER BY id LIMIT $3"
    ))
    .bind(store.as_uuid())
    .bind(customer.as_uuid())
    .bind(limit)
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(Row::address).collect())
}

/// Locks the customer's row; whether the customer exists.
pub(crate) async fn lock_customer<'e>(
    exec: impl PgExecutor<'e>,
    store: StoreId,
    customer: CustomerId,
) -> Result<bool, sqlx::Error> {
    let found: Option<(Uuid,)> =
        sqlx::query_as("SELECT id FROM customers WHERE store_id = $1 AND id = $2 FOR UPDATE")
            .bind(store.as_uuid())
            .bind(customer.as_uuid())
            .fetch_optional(exec)
            .await?;
    Ok(found.is_some())
}

/// How many addresses the customer keeps.
pub(crate) async fn count<'e>(
    exec: impl PgExecutor<'e>,
    store: StoreId,
    customer: CustomerId,
) -> Result<i64, sqlx::Error> {
    let (count,): (i64,) = sqlx::query_as(
        "SELECT count(*) FROM customer_addresses WHERE store_id = $1 AND customer_id = $2",
    )
    .bind(store.as_uuid())
    .bind(customer.as_uuid())
    .fetch_one(exec)
    .await?;
    Ok(count)
}

/// Leaves the customer without a default address.
pub(crate) async fn clear_default<'e>(
    exec: impl PgExecutor<'e>,
    store: StoreId,
    customer: CustomerId,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE customer_addresses SET is_default = false, updated_at = now()
         WHERE store_id = $1 AND customer_id = $2 AND is_default",
    )
    .bind(store.as_uuid())
    .bind(customer.as_uuid())
    .execute(exec)
    .await
    .map(|_| ())
}

/// Inserts an address (fields validated).
pub(crate) async fn insert<'e>(
    exec: impl PgExecutor<'e>,
    store: StoreId,
    customer: CustomerId,
    fields: &AddressFields,
    is_default: bool,
) -> Result<Address, sqlx::Error> {
    let sql = format!(
        "INSERT INTO customer_addresses
            (store_id, id, customer_id, name, line1, line2, city, region, postal_code, country, phone, is_default)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
         RETURNING {COLUMNS}"
    );
    let insert = sqlx::query_as(&sql)
        .bind(store.as_uuid())
        .bind(AddressId::new().as_uuid())
        .bind(customer.as_uuid());
    let row: Row = bind_fields(fields, insert)
        .bind(is_default)
        .fetch_one(exec)
        .await?;
    Ok(row.address())
}

/// An address as stored: its text (not yet validated again) and whether
/// it is the default.
pub(crate) struct Stored {
    pub fields: AddressFields,
    pub is_default: bool,
}

/// The customer's address `id`.
pub(crate) async fn get<'e>(
    exec: impl PgExecutor<'e>,
    store: StoreId,
    customer: CustomerId,
    id: AddressId,
) -> Result<Option<Stored>, sqlx::Error> {
    let current: Option<Row> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM customer_addresses WHERE store_id = $1 AND customer_id = $2 AND id = $3"
    ))
    .bind(store.as_uuid())
    .bind(customer.as_uuid())
    .bind(id.as_uuid())
    .fetch_optional(exec)
    .await?;
    Ok(current.map(|row| Stored {
        fields: row.fields(),
        is_default: row.is_default,
    }))
}

/// Rewrites the customer's address `id` (fields validated).
pub(crate) async fn update<'e>(
    exec: impl PgExecutor<'e>,
    store: StoreId,
    customer: CustomerId,
    id: AddressId,
    fields: &AddressFields,
    is_default: bool,
) -> Result<Address, sqlx::Error> {
    let sql = format!(
        "UPDATE customer_addresses SET name = $4, line1 = $5, line2 = $6, city = $7, region = $8,
            postal_code = $9, country = $10, phone = $11, is_default = $12, updated_at = now()
         WHERE store_id = $1 AND customer_id = $2 AND id = $3
         RETURNING {COLUMNS}"
    );
    let update = sqlx::query_as(&sql)
        .bind(store.as_uuid())
        .bind(customer.as_uuid())
        .bind(id.as_uuid());
    let row: Row = bind_fields(fields, update)
        .bind(is_default)
        .fetch_one(exec)
        .await?;
    Ok(row.address())
}

/// Deletes the customer's address `id`; whether it was there.
pub(crate) async fn delete<'e>(
    exec: impl PgExecutor<'e>,
    store: StoreId,
    customer: CustomerId,
    id: AddressId,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "DELETE FROM customer_addresses WHERE store_id = $1 AND customer_id = $2 AND id = $3",
    )
    .bind(store.as_uuid())
    .bind(customer.as_uuid())
    .bind(id.as_uuid())
    .execute(exec)
    .await?;
    Ok(done.rows_affected() > 0)
}
