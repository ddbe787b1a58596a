//! The store's customers as staff see them: the list, newest first,
//! searched by email or name, and one customer with their addresses. For
//! `GET /admin/api/customers` and the admin's customer pages.

use chrono::{DateTime, Utc};
use mercato_tenants::{CustomerId, StoreId};
use serde::Serialize;
use sqlx::PgPool;
use uuid::Uuid;

use super::model::Address;
use crate::error::PodError;

/// A customer as staff see them.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct StaffCustomer {
    pub id: CustomerId,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub phone: String,
    pub accepts_marketing: bool,
    /// Whether the customer confirmed their email (a pending account
    /// cannot sign in yet).
    pub confirmed: bool,
    pub created_at: DateTime<Utc>,
}

/// One customer with their address book.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CustomerDetail {
    #[serde(flatten)]
    pub customer: StaffCustomer,
    pub addresses: Vec<Address>,
}

type Row = (
    Uuid,
    String,
    String,
    String,
    String,
    bool,
    bool,
    DateTime<Utc>,
);

const SELECT: &str = "SELECT id, email, first_name, last_name, phone, accepts_marketing,
        confirmed_at IS NOT NULL, created_at FROM customers";

fn customer(
    (id, email, first_name, last_name, phone, accepts_marketing, confirmed, created_at): Row,
) -> StaffCustomer {
    StaffCustomer {
        id: CustomerId::from_uuid(id),
        email,
        first_name,
        last_name,
        phone,
        accepts_marketing,
        confirmed,
        created_at,
    }
}

/// `q` as a `LIKE` pattern that matches it anywhere, its wildcards as text.
fn contains(q: &str) -> String {
    format!("%{}%", mercato_tenants::text::like_escape(q))
}

/// Customers newest first (ids below `before`), those whose email or name
/// contains `q` (any letter case) when it is given; at most `limit`.
pub async fn list(
    db: &PgPool,
    store: StoreId,
    q: Option<&str>,
    before: Option<CustomerId>,
    limit: i64,
) -> Result<Vec<StaffCustomer>, PodError> {
    let rows: Vec<Row> = sqlx::query_as(&format!(
        "{SELECT} WHERE store_id = $1 AND ($2::uuid IS NULL OR id < $2)
           AND ($3::text IS NULL OR email ILIKE $3 OR first_name ILIKE $3 OR last_name ILIKE $3
                OR (first_name || ' ' || last_name) ILIKE $3)
         ORDER BY id DESC LIMIT $4"
    ))
    .bind(store.as_uuid())
    .bind(before.map(|b| b.as_uuid()))
    .bind(q.map(contains))
    .bind(limit)
    .fetch_all(db)
    .await
    .map_err(PodError::internal)?;
    Ok(rows.into_iter().map(customer).collect())
}

/// One customer with their addresses, if the store has them.
pub async fn get(
    db: &PgPool,
    store: StoreId,
    id: CustomerId,
) -> Result<Option<CustomerDetail>, PodError> {
    let row: Option<Row> = sqlx::query_as(&format!("{SELECT} WHERE store_id = $1 AND id = $2"))
        .bind(store.as_uuid())
        .bind(id.as_uuid())
        .fetch_optional(db)
        .await
        .map_err(PodError::internal)?;
    let Some(row) = row else {
        return Ok(None);
    };
    let addresses = super::addresses::list(db, store, id).await?;
    Ok(Some(CustomerDetail {
        customer: customer(row),
        addresses,
    }))
}

#[cfg(test)]
mod tests {
    use super::contains;

    #[test]
    fn a_search_matches_its_text_only() {
        assert_eq!(contains("ada"), "%ada%");
        assert_eq!(contains("100%_"), "%100\\%\\_%");
        assert_eq!(contains("a\\b"), "%a\\\\b%");
    }
}
