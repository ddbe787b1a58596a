//! The SQL of password resets: `customer_password_resets` and
//! `staff_password_resets`, two tables of one shape (the account's id, the
//! token's sha256, its expiry, when it was used), so one statement each,
//! told apart by [`ResetOf`].

use chrono::{DateTime, Utc};
use mercato_tenants::StoreId;
use sqlx::PgExecutor;
use uuid::Uuid;

use crate::accounts::model::Subject;

/// Whose password a reset sets, and so which table keeps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ResetOf {
    Customer,
    Staff,
}

impl ResetOf {
    fn table(self) -> &'static str {
        match self {
            Self::Customer => "customer_password_resets",
            Self::Staff => "staff_password_resets",
        }
    }

    fn account_column(self) -> &'static str {
        match self {
            Self::Customer => "customer_id",
            Self::Staff => "staff_id",
        }
    }

    /// The account `id` of this kind, as its sessions name it.
    fn subject(self, id: Uuid) -> Subject {
        match self {
            Self::Customer => Subject::Customer(id),
            Self::Staff => Subject::Staff(id),
        }
    }

    fn of(subject: Subject) -> Self {
        match subject {
            Subject::Customer(_) => Self::Customer,
            Subject::Staff(_) => Self::Staff,
        }
    }
}

/// Records a password reset of `account`; only the sha256 of its token is
/// kept.
pub(crate) async fn insert<'e>(
    exec: impl PgExecutor<'e>,
    store: StoreId,
    account: Subject,
    token_sha256: &str,
    expires_at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let of = ResetOf::of(account);
    sqlx::query(&format!(
        "INSERT INTO {} (store_id, id, {}, token_sha256, expires_at) VALUES ($1, $2, $3, $4, $5)",
        of.table(),
        of.account_column()
    ))
    .bind(store.as_uuid())
    .bind(Uuid::now_v7())
    .bind(account.id())
    .bind(token_sha256)
    .bind(expires_at)
    .execute(exec)
    .await?;
    Ok(())
}

/// The reset of this token hash, if neither used nor expired, locked: its
/// id and whose password it sets.
pub(crate) async fn lock_open<'e>(
    exec: impl PgExecutor<'e>,
    store: StoreId,
    of: ResetOf,
    token_sha256: &str,
) -> Result<Option<(Uuid, Subject)>, sqlx::Error> {
    let row: Option<(Uuid, Uuid)> = sqlx::query_as(&format!(
        "SELECT id, {} FROM {}
         WHERE store_id = $1 AND token_sha256 = $2 AND used_at IS NULL AND expires_at > now()
         FOR UPDATE",
        of.account_column(),
        of.table()
    ))
    .bind(store.as_uuid())
    .bind(token_sha256)
    .fetch_optional(exec)
    .await?;
    Ok(row.map(|(reset, account)| (reset, of.subject(account))))
}

pub(crate) async fn mark_used<'e>(
    exec: impl PgExecutor<'e>,
    store: StoreId,
    of: ResetOf,
    reset: Uuid,
) -> Result<(), sqlx::Error> {
    sqlx::query(&format!(
        "UPDATE {} SET used_at = now() WHERE store_id = $1 AND id = $2",
        of.table()
    ))
    .bind(store.as_uuid())
    .bind(reset)
    .execute(exec)
    .await?;
    Ok(())
}
