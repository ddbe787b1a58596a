//! Logging in, for staff and customers alike: the rate limit first
//! ([`start_login`]), then one password check whatever the email
//! ([`check_login`]), then a session ([`open_staff_session`],
//! [`open_customer_session`]). A customer's login also takes in the guest
//! cart the shopper brought ([`merge_guest_cart`]).

use mercato_tenants::{ApiError, Email, StoreId};
use sqlx::{Postgres, Transaction};

use super::error::{invalid_credentials, parse_email, LoginRejection};
use super::model::{CustomerLogin, CustomerView, StaffLogin, StaffMember, Subject};
use super::{rate_limit, secrets, sessions, sql};
use crate::cart::SentToken;
use crate::error::PodError;
use crate::state::AppState;
use crate::tenancy::begin_write;

/// Longest password accepted at login (longer is refused before hashing).
const MAX_LOGIN_PASSWORD: usize = 1024;

/// The guarded part of every login, after `start_login` applied the rate
/// limit: one argon2 verification (against a dummy hash when `account` is
/// `None`), then the counters. Returns the account's value when the
/// password matches.
pub async fn check_login<T>(
    state: &AppState,
    attempt: &rate_limit::Attempt,
    password: String,
    account: Option<(T, String)>,
) -> Result<T, LoginRejection> {
    if password.len() > MAX_LOGIN_PASSWORD {
        return Err(ApiError::invalid("password is too long").into());
    }
    let (value, hash) = match account {
        Some((v, h)) => (Some(v), Some(h)),
        None => (None, None),
    };
    if secrets::verify_password(&state.hashing, password, hash).await? {
        if let Some(v) = value {
            rate_limit::record_success(state, attempt).await;
            return Ok(v);
        }
    }
    rate_limit::record_failure(state, attempt).await;
    Err(invalid_credentials().into())
}

/// Refuses the attempt with `429` if a counter is over its limit.
pub async fn enforce_limit(
    state: &AppState,
    attempt: &rate_limit::Attempt,
) -> Result<(), LoginRejection> {
    match rate_limit::check(state, attempt).await {
        rate_limit::Decision::Allow => Ok(()),
        rate_limit::Decision::Block { retry_after_secs } => {
            Err(LoginRejection::Limited { retry_after_secs })
        }
    }
}

/// The front of every login: the email parsed, and the attempt it counts
/// against for `kind` of account, refused by [`enforce_limit`] when over
/// the limit.
pub async fn start_login(
    state: &AppState,
    store: StoreId,
    kind: &str,
    email: &str,
    client_address: &str,
) -> Result<(Email, rate_limit::Attempt), LoginRejection> {
    let email = parse_email(email)?;
    let attempt = rate_limit::Attempt::new(store, kind, email.as_str(), client_address);
    enforce_limit(state, &attempt).await?;
    Ok((email, attempt))
}

/// Opens a session for `member` in a write transaction.
pub async fn open_staff_session(
    state: &AppState,
    store: StoreId,
    member: StaffMember,
    tx: &mut Transaction<'_, Postgres>,
) -> Result<StaffLogin, PodError> {
    let token = sessions::open(
        state,
        tx,
        store,
        Subject::Staff(member.id.as_uuid()),
        state.config.accounts.staff_token_ttl_secs,
    )
    .await?;
    Ok(StaffLogin {
        token: token.token,
        expires_at: token.expires_at,
        staff: member,
    })
}

/// Opens a session for `customer` in a write transaction.
pub async fn open_customer_session(
    state: &AppState,
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    customer: CustomerView,
) -> Result<CustomerLogin, PodError> {
    let token = sessions::open(
        state,
        tx,
        store,
        Subject::Customer(customer.id.as_uuid()),
        state.config.accounts.customer_token_ttl_secs,
    )
    .await?;
    Ok(CustomerLogin {
        token: token.token,
        expires_at: token.expires_at,
        customer,
        cart: None,
    })
}

/// The login of a customer: rate limit, password check, a new session.
/// Other steps of a login (such as merging a guest cart) extend this.
pub async fn login_customer(
    state: &AppState,
    store: StoreId,
    email: &str,
    password: String,
    client_address: &str,
) -> Result<CustomerLogin, LoginRejection> {
    let (email, attempt) = start_login(state, store, "customer", email, client_address).await?;
    let found = sql::customers::find_by_email(&state.db, store, &email)
        .await
        .map_err(PodError::Db)?;
    let customer = check_login(state, &attempt, password, found).await?;
    let mut tx = begin_write(&state.db, store).await?;
    let login = open_customer_session(state, &mut tx, store, customer).await?;
    tx.commit().await.map_err(PodError::Db)?;
    Ok(login)
}

/// Merges the guest cart a shopper brought to a login or a registration
/// into the customer's cart. The login stands even if there is nothing to
/// merge (no token, an unknown or already merged cart): it is logged.
pub async fn merge_guest_cart(
    state: &AppState,
    store: StoreId,
    guest: SentToken,
    login: &mut CustomerLogin,
) {
    let Some(token) = guest.0 else { return };
    match crate::cart::merge_on_login(state, store, &token, login.customer.id).await {
        Ok(cart) => login.cart = Some(cart),
        Err(e) => tracing::info!(error = %e, "guest cart not merged"),
    }
}

/// The confirmation of a registration ([`super::registration::confirm`])
/// and the customer's first session, in one transaction, with the guest
/// cart the shopper brought merged in. The confirmation proves the email:
/// the guest orders placed with it become the customer's (they show in the
/// account, and only to the customer signed in).
pub async fn confirm_customer(
    state: &AppState,
    store: StoreId,
    token: &str,
    password: String,
    guest: SentToken,
) -> Result<CustomerLogin, PodError> {
    let mut tx = begin_write(&state.db, store).await?;
    let customer = super::registration::confirm(state, &mut tx, store, token, password).await?;
    let given =
        crate::orders::attach_guest_orders(&mut *tx, store, customer.id, &customer.email).await?;
    if given > 0 {
        tracing::info!(
            orders = given,
            "guest orders given to the confirmed account"
        );
    }
    let mut login = open_customer_session(state, &mut tx, store, customer).await?;
    tx.commit().await?;
    merge_guest_cart(state, store, guest, &mut login).await;
    Ok(login)
}

/// The login of a staff member: rate limit, password check, a new session.
pub async fn login_staff(
    state: &AppState,
    store: StoreId,
    email: &str,
    password: String,
    client_address: &str,
) -> Result<StaffLogin, LoginRejection> {
    let (email, attempt) = start_login(state, store, "staff", email, client_address).await?;
    let found = sql::staff::find_by_email(&state.db, store, &email)
        .await
        .map_err(PodError::Db)?;
    let member = check_login(state, &attempt, password, found).await?;
    let mut tx = begin_write(&state.db, store).await?;
    let login = open_staff_session(state, store, member, &mut tx).await?;
    tx.commit().await.map_err(PodError::Db)?;
    Ok(login)
}
