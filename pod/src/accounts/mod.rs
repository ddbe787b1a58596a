//! Accounts: who may act in a store.
//!
//! - staff of a store: logins, invitations, removal; the owner account is
//!   made when the store is hosted ([`create_owner`]);
//! - API keys for integrations ([`api_keys`]), a non-owner staff credential;
//! - customers (shoppers) with their addresses and password resets: one
//!   account per (store, email), pending until its address is confirmed;
//!   registration answers the same whether or not the email has an account
//!   ([`registration`]);
//! - login sessions ([`sessions`]): tokens carry a session id, logout
//!   revokes it;
//! - login rate limits ([`rate_limit`]), a pure decision over counters in
//!   Redis (or in process while Redis is down).
//!
//! Passwords are argon2id, hashed off the runtime; one-time tokens and API
//! keys are random and stored as sha256 only ([`secrets`]).
//!
//! Where to look: `model.rs` (pure: roles, the views, the address and
//! profile rules), `sql/` (every statement, a file per topic), `error.rs`
//! (refusals as HTTP codes, the one place), `login.rs` (the login flow),
//! [`auth`] (the extractors every face uses), [`sessions`], [`api_keys`],
//! [`rate_limit`], [`registration`], [`secrets`]. The HTTP handlers are in `routes/accounts/`.

pub mod addresses;
pub mod api_keys;
pub mod auth;
pub mod directory;
mod error;
pub(crate) mod login;
pub(crate) mod model;
pub mod passwords;
pub mod rate_limit;
pub mod registration;
pub mod secrets;
pub mod sessions;
pub(crate) mod sql;
pub mod team;

use mercato_tenants::{Email, StoreId};
use sqlx::{Postgres, Transaction};

pub use error::{invalid_credentials, parse_email, parse_password, LoginRejection};
pub use login::{check_login, enforce_limit, login_customer, start_login};
pub use model::{AddressFields, CustomerLogin, CustomerView, InvalidField, StaffMember, StaffRole};
pub use sessions::IssuedToken;
pub use sql::customers::email_of;
pub use sql::forget_store;

use crate::error::PodError;
use crate::state::AppState;

/// A customer's profile, if the account exists (a platform-minted customer
/// token may name none).
pub async fn customer_profile<'e>(
    exec: impl sqlx::PgExecutor<'e>,
    store: StoreId,
    customer: mercato_tenants::CustomerId,
) -> Result<Option<CustomerView>, sqlx::Error> {
    sql::customers::get(exec, store, customer).await
}

/// Changes a customer's profile: absent fields stay as they are; names at
/// most 100 characters and the phone at most 32 (digits, spaces and
/// `+-().`), no control characters, stored trimmed.
pub async fn update_profile(
    state: &AppState,
    store: StoreId,
    customer: mercato_tenants::CustomerId,
    first_name: Option<String>,
    last_name: Option<String>,
    phone: Option<String>,
    accepts_marketing: Option<bool>,
) -> Result<CustomerView, PodError> {
    let change = sql::customers::ProfileChange {
        first_name: model::text("first_name", first_name, 100)?,
        last_name: model::text("last_name", last_name, 100)?,
        phone: model::phone(phone)?,
        accepts_marketing,
    };
    let mut tx = crate::tenancy::begin_write(&state.db, store).await?;
    let updated = sql::customers::update_profile(&mut *tx, store, customer, change)
        .await?
        .ok_or_else(|| mercato_tenants::ApiError::not_found("customer"))?;
    tx.commit().await.map_err(PodError::internal)?;
    Ok(updated)
}

/// The owner account of a store being hosted, made in the hosting
/// transaction, with a first session. Returns the owner's token.
pub async fn create_owner(
    state: &AppState,
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    email: &Email,
    password_hash: &str,
) -> Result<(mercato_tenants::StaffId, IssuedToken), PodError> {
    let id = sql::staff::insert(&mut **tx, store, email, password_hash, StaffRole::Owner).await?;
    let token = sessions::open(
        state,
        tx,
        store,
        model::Subject::Staff(id.as_uuid()),
        state.config.accounts.staff_token_ttl_secs,
    )
    .await?;
    Ok((id, token))
}
