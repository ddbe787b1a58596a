//! The SQL of `customers` and `customer_password_resets`.

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

/// The customer with this email, and its password hash.
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
             FROM customers WHERE store_id = $1 AND email = $2",
        )
        .bind(store.as_uuid())
        .bind(email.as_str())
        .fetch_optional(db)
        .await?;
    Ok(row.map(|(id, email, f, l, p, m, c, hash)| (view((id, email, f, l, p, m, c)), hash)))
}

/// A new customer's row; the unique email becomes `409 email_taken`
/// (`error::constraint_error`).
pub(crate) struct NewCustomer<'a> {
    pub id: CustomerId,
    pub email: &'a Email,
    pub password_hash: &'a str,
    pub first_name: &'a str,
    pub last_name: &'a str,
    pub accepts_marketing: bool,
}

pub(crate) async fn insert<'e>(
    exec: impl PgExecutor<'e>,
    store: StoreId,
    new: &NewCustomer<'_>,
) -> Result<CustomerView, sqlx::Error> {
    let row: CustomerRow = sqlx::query_as(
        "INSERT INTO customers (store_id, id, email, password_hash, first_name, last_name, accepts_marketing)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         RETURNING id, email, first_name, last_name, phone, accepts_marketing, created_at",
    )
    .bind(store.as_uuid())
    .bind(new.id.as_uuid())
    .bind(new.email.as_str())
    .bind(new.password_hash)
    .bind(new.first_name)
    .bind(new.last_name)
    .bind(new.accepts_marketing)
    .fetch_one(exec)
    .await?;
    Ok(view(row))
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

/// Sets the customer's password hash.
pub(crate) async fn set_password<'e>(
    exec: impl PgExecutor<'e>,
    store: StoreId,
    customer: Uuid,
    password_hash: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE customers SET password_hash = $3, updated_at = now() WHERE store_id = $1 AND id = $2",
    )
    .bind(store.as_uuid())
    .bind(customer)
    .bind(password_hash)
    .execute(exec)
    .await?;
    Ok(())
}

/// Records a password reset; only the sha256 of its token is kept.
pub(crate) async fn insert_password_reset<'e>(
    exec: impl PgExecutor<'e>,
    store: StoreId,
    customer: Uuid,
    token_sha256: &str,
    expires_at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO customer_password_resets (store_id, id, customer_id, token_sha256, expires_at)
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(store.as_uuid())
    .bind(Uuid::now_v7())
    .bind(customer)
    .bind(token_sha256)
    .bind(expires_at)
    .execute(exec)
    .await?;
    Ok(())
}

/// The reset of this token hash, if neither used nor expired, locked: its
/// id and customer.
pub(crate) async fn lock_open_password_reset<'e>(
    exec: impl PgExecutor<'e>,
    store: StoreId,
    token_sha256: &str,
) -> Result<Option<(Uuid, Uuid)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, customer_id FROM customer_password_resets
         WHERE store_id = $1 AND token_sha256 = $2 AND used_at IS NULL AND expires_at > now()
         FOR UPDATE",
    )
    .bind(store.as_uuid())
    .bind(token_sha256)
    .fetch_optional(exec)
    .await
}

pub(crate) async fn mark_password_reset_used<'e>(
    exec: impl PgExecutor<'e>,
    store: StoreId,
    reset: Uuid,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE customer_password_resets SET used_at = now() WHERE store_id = $1 AND id = $2",
    )
    .bind(store.as_uuid())
    .bind(reset)
    .execute(exec)
    .await?;
    Ok(())
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
