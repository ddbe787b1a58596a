//! Password reset, for every face (the JSON API's
//! `/api/customers/password-reset`, the storefront's reset pages): a
//! request mails a one-time token (answered the same whether or not the
//! email has an account); the token sets a new password once and signs the
//! customer out everywhere.

use chrono::Utc;
use mercato_tenants::events::{Event, PasswordResetRequested};
use mercato_tenants::{ApiError, CustomerId, Email, ErrorCode, Password, StoreId};

use super::model::{Subject, RESET_TTL_SECS};
use super::{secrets, sql};
use crate::error::PodError;
use crate::events;
use crate::state::AppState;
use crate::tenancy::begin_write;

/// Records a reset for the account of `email`, if there is one: a
/// `customer.password_reset_requested` event carries a token valid for
/// [`RESET_TTL_SECS`]. Nothing tells the caller whether there was.
pub async fn request(state: &AppState, store: StoreId, email: &Email) -> Result<(), PodError> {
    let mut tx = begin_write(&state.db, store).await?;
    let customer = sql::customers::id_by_email(&mut *tx, store, email)
        .await
        .map_err(PodError::internal)?;
    if let Some(customer) = customer {
        let token = secrets::random_token();
        let expires_at = Utc::now() + chrono::Duration::seconds(RESET_TTL_SECS);
        sql::customers::insert_password_reset(
            &mut *tx,
            store,
            customer,
            &secrets::sha256_hex(&token),
            expires_at,
        )
        .await
        .map_err(PodError::internal)?;
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

/// Sets `password` with the reset `token` (once), and ends every session
/// of the customer. `400 invalid_token` for an unknown, used or expired
/// token.
pub async fn reset(
    state: &AppState,
    store: StoreId,
    token: &str,
    password: Password,
) -> Result<(), PodError> {
    let hash = secrets::hash_password(&state.hashing, password).await?;
    let mut tx = begin_write(&state.db, store).await?;
    let reset = sql::customers::lock_open_password_reset(
        &mut *tx,
        store,
        &secrets::sha256_hex(token.trim()),
    )
    .await
    .map_err(PodError::internal)?;
    let (reset, customer) = reset.ok_or_else(|| {
        ApiError::new(
            ErrorCode::InvalidToken,
            "this reset token is unknown, used or expired",
        )
    })?;
    sql::customers::mark_password_reset_used(&mut *tx, store, reset)
        .await
        .map_err(PodError::internal)?;
    sql::customers::set_password(&mut *tx, store, customer, &hash)
        .await
        .map_err(PodError::internal)?;
    sql::sessions::revoke_all(&mut *tx, store, Subject::Customer(customer))
        .await
        .map_err(PodError::internal)?;
    tx.commit().await.map_err(PodError::internal)?;
    Ok(())
}
