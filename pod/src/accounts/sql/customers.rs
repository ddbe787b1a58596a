//! The SQL of `customers` (their password resets: `resets.rs`). A customer is
//! pending (`confirmed_at` null, a `confirmation_sha256`) from registration
//! until confirmed; a pending account cannot sign in.

use chrono::{DateTime, Utc};
use mercato_tenants::{CustomerId, Email, StoreId};
use sqlx::{PgExecutor, PgPool};
use uuid::Uuid;

use crate::accounts::model::CustomerView;

const SELECT_CUSTOMER: &str =
    "SELECT id, email, first_name, last_name, phone, accepts_marketing, created_at FROM customers";

type CustomerRow = (Uuid, String, String, String, String, bool, DateTime<Utc>);

fn view(
    (id, email, first_name, last_name, phone, accepts_marketing, created_at): CustomerRow,
) -> CustomerView {
    CustomerView {
        id: CustomerId::from_uuid(id),
        email,
        first_name,
        last_name,
        phone,
        accepts_marketing,
        created_at,
    }
}

pub(crate) async fn get<'e>(
    exec: impl PgExecutor<'e>,
    store: StoreId,
    id: CustomerId,
) -> Result<Option<CustomerView>, sqlx::Error> {
    let row: Option<CustomerRow> = sqlx::query_as(&format!(
        "{SELECT_CUSTOMER} WHERE store_id = $1 AND id = $2"
    ))
    .bind(store.as_uuid())
    .bind(id.as_uuid())
    .fetch_optional(exec)
    .await?;
    Ok(row.map(view))
}

/// The confirmed customer with this email, and its password hash.
pub(crate) async fn find_by_email(
    db: &PgPool,
    store: StoreId,
    email: &Email,
) -> Result<Option<(CustomerView, String)>, sqlx::Error> {
    type WithHash = (
        Uuid,
        String,
        String,
        String,
        String,
        bool,
        DateTime<Utc>,
        String,
    );
    let row: Option<WithHash> =
        sqlx::query_as(
            "SELECT id, email, first_name, last_name, phone, accepts_marketing, created_at, password_hash
             FROM customers WHERE store_id = $1 AND email = $2 AND confirmed_at IS NOT NULL",
        )
        .bind(store.as_uuid())
        .bind(email.as_str())
        .fetch_optional(db)
        .await?;
    Ok(row.map(|(id, email, f, l, p, m, c, hash)| (view((id, email, f, l, p, m, c)), hash)))
}

/// A registration's row.
pub(crate) struct NewCustomer<'a> {
    pub id: CustomerId,
    pub email: &'a Email,
    pub password_hash: &'a str,
    pub first_name: &'a str,
    pub last_name: &'a str,
    pub accepts_marketing: bool,
}

/// A pending account for `new`, waiting for the token of this hash; `None`
/// if the email already has an account (pending or confirmed), which is
/// left alone.
pub(crate) async fn insert_pending<'e>(
    exec: impl PgExecutor<'e>,
    store: StoreId,
    new: &NewCustomer<'_>,
    confirmation_sha256: &str,
    expires_at: DateTime<Utc>,
) -> Result<Option<CustomerId>, sqlx::Error> {
    let row: Option<(Uuid,)> = sqlx::query_as(
        "INSERT INTO customers (store_id, id, email, password_hash, first_name, last_name,
             accepts_marketing, confirmation_sha256, confirmation_expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
         ON CONFLICT ON CONSTRAINT customers_store_email_key DO NOTHING
         RETURNING id",
    )
    .bind(store.as_uuid())
    .bind(new.id.as_uuid())
    .bind(new.email.as_str())
    .bind(new.password_hash)
    .bind(new.first_name)
    .bind(new.last_name)
    .bind(new.accepts_marketing)
    .bind(confirmation_sha256)
    .bind(expires_at)
    .fetch_optional(exec)
    .await?;
    Ok(row.map(|(id,)| CustomerId::from_uuid(id)))
}

/// The account of this email, locked: its id and whether it is confirmed.
pub(crate) async fn lock_by_email<'e>(
    exec: impl PgExecutor<'e>,
    store: StoreId,
    email: &Email,
) -> Result<Option<(CustomerId, bool)>, sqlx::Error> {
    let row: Option<(Uuid, bool)> = sqlx::query_as(
        "SELECT id, confirmed_at IS NOT NULL FROM customers
         WHERE store_id = $1 AND email = $2 FOR UPDATE",
    )
    .bind(store.as_uuid())
    .bind(email.as_str())
    .fetch_optional(exec)
    .await?;
    Ok(row.map(|(id, confirmed)| (CustomerId::from_uuid(id), confirmed)))
}

/// A pending account registered again: the latest registration's password,
/// names and token replace the earlier ones (only the holder of the address
/// can confirm, and only with the password of the registration it
/// confirms).
pub(crate) async fn renew_pending<'e>(
    exec: impl PgExecutor<'e>,
    store: StoreId,
    id: CustomerId,
    new: &NewCustomer<'_>,
    confirmation_sha256: &str,
    expires_at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE customers SET password_hash = $3, first_name = $4, last_name = $5,
             accepts_marketing = $6, confirmation_sha256 = $7, confirmation_expires_at = $8,
             updated_at = now()
         WHERE store_id = $1 AND id = $2 AND confirmed_at IS NULL",
    )
    .bind(store.as_uuid())
    .bind(id.as_uuid())
    .bind(new.password_hash)
    .bind(new.first_name)
    .bind(new.last_name)
    .bind(new.accepts_marketing)
    .bind(confirmation_sha256)
    .bind(expires_at)
    .execute(exec)
    .await?;
    Ok(())
}

/// The pending account waiting for the token of this hash (not expired):
/// its id and password hash.
pub(crate) async fn pending_by_confirmation<'e>(
    exec: impl PgExecutor<'e>,
    store: StoreId,
    confirmation_sha256: &str,
) -> Result<Option<(CustomerId, String)>, sqlx::Error> {
    let row: Option<(Uuid, String)> = sqlx::query_as(
        "SELECT id, password_hash FROM customers
         WHERE store_id = $1 AND confirmation_sha256 = $2 AND confirmed_at IS NULL
           AND confirmation_expires_at > now()",
    )
    .bind(store.as_uuid())
    .bind(confirmation_sha256)
    .fetch_optional(exec)
    .await?;
    Ok(row.map(|(id, hash)| (CustomerId::from_uuid(id), hash)))
}

/// Confirms the pending account `id` if it still waits for the token of
/// this hash; the confirmed profile, or `None`.
pub(crate) async fn confirm<'e>(
    exec: impl PgExecutor<'e>,
    store: StoreId,
    id: CustomerId,
    confirmation_sha256: &str,
) -> Result<Option<CustomerView>, sqlx::Error> {
    let row: Option<CustomerRow> = sqlx::query_as(
        "UPDATE customers SET confirmed_at = now(), confirmation_sha256 = NULL,
             confirmation_expires_at = NULL, updated_at = now()
         WHERE store_id = $1 AND id = $2 AND confirmation_sha256 = $3 AND confirmed_at IS NULL
           AND confirmation_expires_at > now()
         RETURNING id, email, first_name, last_name, phone, accepts_marketing, created_at",
    )
    .bind(store.as_uuid())
    .bind(id.as_uuid())
    .bind(confirmation_sha256)
    .fetch_optional(exec)
    .await?;
    Ok(row.map(view))
}

/// Changes to a profile; `None` keeps the field.
pub(crate) struct ProfileChange {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub phone: Option<String>,
    pub accepts_marketing: Option<bool>,
}

/// Applies `change`; the profile after, or `None` if there is no such
/// customer.
pub(crate) async fn update_profile<'e>(
    exec: impl PgExecutor<'e>,
    store: StoreId,
    id: CustomerId,
    change: ProfileChange,
) -> Result<Option<CustomerView>, sqlx::Error> {
    let row: Option<CustomerRow> = sqlx::query_as(
        "UPDATE customers SET
            first_name = COALESCE($3, first_name),
            last_name = COALESCE($4, last_name),
            phone = COALESCE($5, phone),
            accepts_marketing = COALESCE($6, accepts_marketing),
            updated_at = now()
         WHERE store_id = $1 AND id = $2
         RETURNING id, email, first_name, last_name, phone, accepts_marketing, created_at",
    )
    .bind(store.as_uuid())
    .bind(id.as_uuid())
    .bind(change.first_name)
    .bind(change.last_name)
    .bind(change.phone)
    .bind(change.accepts_marketing)
    .fetch_optional(exec)
    .await?;
    Ok(row.map(view))
}

/// The id of the customer with this email.
pub(crate) async fn id_by_email<'e>(
    exec: impl PgExecutor<'e>,
    store: StoreId,
    email: &Email,
) -> Result<Option<Uuid>, sqlx::Error> {
    let customer: Option<(Uuid,)> =
        sqlx::query_as("SELECT id FROM customers WHERE store_id = $1 AND email = $2")
            .bind(store.as_uuid())
            .bind(email.as_str())
            .fetch_optional(exec)
            .await?;
    Ok(customer.map(|(id,)| id))
}

/// Sets the customer's password hash; whether there is such a customer.
/// A reset proves the address, so a pending account is confirmed by it.
pub(crate) async fn set_password<'e>(
    exec: impl PgExecutor<'e>,
    store: StoreId,
    customer: Uuid,
    password_hash: &str,
) -> Result<bool, sqlx::Error> {
    let updated = sqlx::query(
        "UPDATE customers SET password_hash = $3, updated_at = now(),
             confirmed_at = COALESCE(confirmed_at, now()), confirmation_sha256 = NULL,
             confirmation_expires_at = NULL
         WHERE store_id = $1 AND id = $2",
    )
    .bind(store.as_uuid())
    .bind(customer)
    .bind(password_hash)
    .execute(exec)
    .await?;
    Ok(updated.rows_affected() == 1)
}

/// The email address of a customer of the store, if the account exists.
pub async fn email_of<'e>(
    exec: impl PgExecutor<'e>,
    store: StoreId,
    customer: CustomerId,
) -> Result<Option<String>, sqlx::Error> {
    let row: Option<(String,)> =
        sqlx::query_as("SELECT email FROM customers WHERE store_id = $1 AND id = $2")
            .bind(store.as_uuid())
            .bind(customer.as_uuid())
            .fetch_optional(exec)
            .await?;
    Ok(row.map(|(e,)| e))
}
