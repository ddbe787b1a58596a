//! Password reset of customers and of staff, for every face (customers:
//! the JSON API's `/api/customers/password-reset`, the storefront's reset
//! pages; staff: `/admin/api/password-reset`, the admin's reset pages, the
//! platform's page through the pod's internal API): a request mails a
//! one-time token (answered the same whether or not the email has an
//! account); the token sets a new password once and signs the account out
//! everywhere. Both kinds of account go through the same steps
//! ([`record`], [`set_with_token`]); only the account looked up and the
//! event differ.

use chrono::{DateTime, Utc};
use mercato_tenants::events::{Event, PasswordResetRequested, StaffPasswordResetRequested};
use mercato_tenants::{ApiError, CustomerId, Email, ErrorCode, Password, StaffId, StoreId};
use sqlx::{Postgres, Transaction};

use super::model::{Subject, RESET_TTL_SECS};
use super::sql::resets::{self, ResetOf};
use super::{secrets, sql};
use crate::error::PodError;
use crate::events;
use crate::state::AppState;
use crate::tenancy::begin_write;

/// Records a reset for the customer account of `email`, if there is one:
/// a `customer.password_reset_requested` event carries a token valid for
/// [`RESET_TTL_SECS`]. Nothing tells the caller whether there was.
pub async fn request(state: &AppState, store: StoreId, email: &Email) -> Result<(), PodError> {
    let mut tx = begin_write(&state.db, store).await?;
    let customer = sql::customers::id_by_email(&mut *tx, store, email)
        .await
        .map_err(PodError::internal)?;
    if let Some(customer) = customer {
        let (token, expires_at) = record(&mut tx, store, Subject::Customer(customer)).await?;
        let requested = PasswordResetRequested {
            customer_id: CustomerId::from_uuid(customer),
            email: email.as_str().to_owned(),
            token,
            expires_at,
        };
        events::record(&mut tx, store, &Event::PasswordResetRequested(requested))
            .await
            .map_err(PodError::internal)?;
    }
    tx.commit().await.map_err(PodError::internal)?;
    Ok(())
}

/// Records a reset for the enabled staff member (owner or staff) of
/// `email`, if there is one: a `staff.password_reset_requested` event
/// carries a token valid for [`RESET_TTL_SECS`] and the store's name.
/// Nothing tells the caller whether there was.
pub async fn request_staff(
    state: &AppState,
    store: StoreId,
    email: &Email,
) -> Result<(), PodError> {
    let mut tx = begin_write(&state.db, store).await?;
    let member = sql::staff::id_by_email(&mut *tx, store, email)
        .await
        .map_err(PodError::internal)?;
    if let Some(member) = member {
        let (token, expires_at) = record(&mut tx, store, Subject::Staff(member)).await?;
        let requested = StaffPasswordResetRequested {
            staff_id: StaffId::from_uuid(member),
            email: email.as_str().to_owned(),
            store_name: state.hosted.get(store).map(|h| h.name).unwrap_or_default(),
            token,
            expires_at,
        };
        events::record(
            &mut tx,
            store,
            &Event::StaffPasswordResetRequested(requested),
        )
        .await
        .map_err(PodError::internal)?;
    }
    tx.commit().await.map_err(PodError::internal)?;
    Ok(())
}

/// Sets a customer's `password` with the reset `token` (once), and ends
/// every session of the customer. `400 invalid_token` for an unknown,
/// used or expired token.
pub async fn reset(
    state: &AppState,
    store: StoreId,
    token: &str,
    password: Password,
) -> Result<(), PodError> {
    set_with_token(state, store, ResetOf::Customer, token, password).await
}

/// Sets a staff member's `password` with the reset `token` (once), and
/// ends every session of the member. `400 invalid_token` for an unknown,
/// used or expired token, or a member removed since.
pub async fn reset_staff(
    state: &AppState,
    store: StoreId,
    token: &str,
    password: Password,
) -> Result<(), PodError> {
    set_with_token(state, store, ResetOf::Staff, token, password).await
}

/// A new reset of `account`, in the request's transaction: its token (for
/// the event, never stored) and when it expires.
async fn record(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    account: Subject,
) -> Result<(String, DateTime<Utc>), PodError> {
    let token = secrets::random_token();
    let expires_at = Utc::now() + chrono::Duration::seconds(RESET_TTL_SECS);
    resets::insert(
        &mut **tx,
        store,
        account,
        &secrets::sha256_hex(&token),
        expires_at,
    )
    .await
    .map_err(PodError::internal)?;
    Ok((token, expires_at))
}

/// The one way a reset token sets a password, for either kind of account:
/// the open reset locked, marked used, the password set, every session of
/// the account revoked, in one transaction.
async fn set_with_token(
    state: &AppState,
    store: StoreId,
    of: ResetOf,
    token: &str,
    password: Password,
) -> Result<(), PodError> {
    let invalid = || {
        ApiError::new(
            ErrorCode::InvalidToken,
            "this reset token is unknown, used or expired",
        )
    };
    let hash = secrets::hash_password(&state.hashing, password).await?;
    let mut tx = begin_write(&state.db, store).await?;
    let open = resets::lock_open(&mut *tx, store, of, &secrets::sha256_hex(token.trim()))
        .await
        .map_err(PodError::internal)?;
    let (reset, account) = open.ok_or_else(invalid)?;
    resets::mark_used(&mut *tx, store, of, reset)
        .await
        .map_err(PodError::internal)?;
    let set = match account {
        Subject::Customer(id) => sql::customers::set_password(&mut *tx, store, id, &hash).await,
        Subject::Staff(id) => sql::staff::set_password(&mut *tx, store, id, &hash).await,
    }
    .map_err(PodError::internal)?;
    if !set {
        // A member removed after asking: the reset is not used, nothing
        // changes (the transaction rolls back).
        return Err(invalid().into());
    }
    sql::sessions::revoke_all(&mut *tx, store, account)
        .await
        .map_err(PodError::internal)?;
    tx.commit().await.map_err(PodError::internal)?;
    Ok(())
}
