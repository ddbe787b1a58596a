//! The SQL of the accounts' tables, a file per topic. Every query filters
//! on store_id. Functions return `sqlx::Error`: the caller chooses whether
//! a failure is internal or a named constraint's client error.

pub(crate) mod addresses;
pub(crate) mod api_keys;
pub(crate) mod customers;
pub(crate) mod resets;
pub(crate) mod sessions;
pub(crate) mod staff;

use mercato_tenants::StoreId;
use sqlx::{Postgres, Transaction};

/// Forgets the accounts of a store that never went live (a failed
/// creation): staff with their invitations and password resets, API keys,
/// sessions, and customers with theirs.
pub async fn forget_store(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
) -> Result<(), sqlx::Error> {
    for table in [
        "sessions",
        "staff_invitations",
        "api_keys",
        "staff_password_resets",
        "staff",
        "customer_password_resets",
        "customer_addresses",
        "customers",
    ] {
        sqlx::query(&format!("DELETE FROM {table} WHERE store_id = $1"))
            .bind(store.as_uuid())
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}
