//! Customer registration that does not tell whether an email has an
//! account. Every registration is answered the same (`202`, nothing that
//! differs) after the same work (one argon2 hash, one transaction, one
//! event); what it did goes to the address's owner by mail only:
//!
//! - no account: a pending one, and `customer.confirmation_requested` with
//!   a one-time token;
//! - a pending account: the new password, names and token replace the old
//!   ones, and `customer.confirmation_requested` again;
//! - a confirmed account: nothing changes; `customer.account_exists_notice`
//!   tells the owner someone tried.
//!
//! A pending account cannot sign in. [`confirm`] takes the token *and* the
//! password chosen at registration (so a stranger who registered someone
//! else's address cannot have its owner confirm an account whose password
//! the stranger knows), confirms the account and signs it in. A password
//! reset also confirms a pending account (it proves the address).

use chrono::Utc;
use mercato_tenants::events::{AccountExistsNotice, CustomerConfirmationRequested, Event};
use mercato_tenants::{ApiError, CustomerId, Email, ErrorCode, Password, StoreId};

use super::error::invalid_credentials;
use super::model::{CustomerView, CONFIRMATION_TTL_SECS};
use super::sql::customers::NewCustomer;
use super::{secrets, sql};
use crate::error::PodError;
use crate::events;
use crate::state::AppState;
use crate::tenancy::begin_write;

/// A registration, parsed at the edge.
pub struct Registration {
    pub email: Email,
    pub password: Password,
    pub first_name: String,
    pub last_name: String,
    pub accepts_marketing: bool,
}

/// What a registration does, by the state of the email's account: never
/// told to the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Mail a confirmation token (a new or still pending account).
    Confirm,
    /// Mail a notice to the confirmed account's owner; change nothing.
    Notice,
}

/// The outcome for an account that is `None` (new), pending (`false`) or
/// confirmed (`true`).
pub fn outcome(confirmed: Option<bool>) -> Outcome {
    match confirmed {
        Some(true) => Outcome::Notice,
        None | Some(false) => Outcome::Confirm,
    }
}

/// Registers `reg` in `store` as the module's docs say. The caller answers
/// the same whatever happened.
pub async fn register(state: &AppState, store: StoreId, reg: Registration) -> Result<(), PodError> {
    // Hashed whatever the outcome, so that an existing account does not
    // answer faster.
    let hash = secrets::hash_password(&state.hashing, reg.password).await?;
    let token = secrets::random_token();
    let token_sha = secrets::sha256_hex(&token);
    let expires_at = Utc::now() + chrono::Duration::seconds(CONFIRMATION_TTL_SECS);
    let new = NewCustomer {
        id: CustomerId::new(),
        email: &reg.email,
        password_hash: &hash,
        first_name: &reg.first_name,
        last_name: &reg.last_name,
        accepts_marketing: reg.accepts_marketing,
    };
    let mut tx = begin_write(&state.db, store).await?;
    let inserted =
        sql::customers::insert_pending(&mut *tx, store, &new, &token_sha, expires_at).await?;
    let (customer, confirmed) = match inserted {
        Some(id) => (id, None),
        None => {
            let (id, confirmed) = sql::customers::lock_by_email(&mut *tx, store, &reg.email)
                .await?
                .ok_or_else(|| PodError::internal("a conflicting customer row vanished"))?;
            (id, Some(confirmed))
        }
    };
    let email = reg.email.as_str().to_owned();
    let event = match outcome(confirmed) {
        Outcome::Confirm => {
            if confirmed.is_some() {
                sql::customers::renew_pending(
                    &mut *tx, store, customer, &new, &token_sha, expires_at,
                )
                .await?;
            }
            Event::CustomerConfirmationRequested(CustomerConfirmationRequested {
                customer_id: customer,
                email,
                token,
                expires_at,
            })
        }
        Outcome::Notice => Event::AccountExistsNotice(AccountExistsNotice {
            customer_id: customer,
            email,
        }),
    };
    events::record(&mut tx, store, &event).await?;
    tx.commit().await?;
    Ok(())
}

/// Confirms the pending account of `token` when `password` is the one
/// chosen at its registration; the confirmed customer. `400 invalid_token`
/// for an unknown, used or expired token, `401 invalid_credentials` for
/// another password.
pub async fn confirm(
    state: &AppState,
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    store: StoreId,
    token: &str,
    password: String,
) -> Result<CustomerView, PodError> {
    let invalid = || {
        ApiError::new(
            ErrorCode::InvalidToken,
            "this confirmation token is unknown, used or expired",
        )
    };
    let token_sha = secrets::sha256_hex(token.trim());
    let (customer, hash) = sql::customers::pending_by_confirmation(&state.db, store, &token_sha)
        .await?
        .ok_or_else(invalid)?;
    if !secrets::verify_password(&state.hashing, password, Some(hash)).await? {
        return Err(invalid_credentials().into());
    }
    // Confirmed only if the token is still the one checked (a registration
    // meanwhile replaces it, and its password).
    let view = sql::customers::confirm(&mut **tx, store, customer, &token_sha)
        .await?
        .ok_or_else(invalid)?;
    events::record(
        tx,
        store,
        &Event::CustomerCreated(mercato_tenants::events::CustomerCreated {
            customer_id: view.id,
            email: view.email.clone(),
            first_name: view.first_name.clone(),
            last_name: view.last_name.clone(),
            accepts_marketing: view.accepts_marketing,
        }),
    )
    .await?;
    Ok(view)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_confirmed_account_gets_a_notice_instead_of_a_token() {
        assert_eq!(outcome(None), Outcome::Confirm);
        assert_eq!(outcome(Some(false)), Outcome::Confirm);
        assert_eq!(outcome(Some(true)), Outcome::Notice);
    }
}
