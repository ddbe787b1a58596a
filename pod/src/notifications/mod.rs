//! Mail to shoppers and staff: order confirmations, password resets,
//! email confirmations, account-exists notices and staff invitations.
//!
//! The worker reads the pod's own events, not Kafka: each event that
//! mails someone ([`model::MAILED`]) gets a `mail_deliveries` row in the
//! event's own transaction (a trigger on `outbox`), and
//! [`spawn_worker`] sends the due ones through the SMTP relay of
//! `[mail] smtp_url`. That row is the dedupe record of its event and moves
//! with the store, so a mail is sent at most once per event, whichever pod
//! holds the store; a relay that is down is retried with backoff, and
//! nothing in a request waits for mail. See `workers.rs` for the steps and
//! docs/ARCHITECTURE.md ("Mail") for why the outbox and not Kafka.
//!
//! - `model.rs`: which events mail, and the templates (text and HTML,
//!   the store's name, money in the store's currency), pure;
//! - `smtp.rs`: the SMTP client and the MIME message;
//! - `sql.rs`: `mail_deliveries` and `mail_settings`;
//! - `workers.rs`: the worker;
//! - the settings' HTTP face is `routes/notifications.rs`.

pub mod model;
pub mod smtp;
pub mod sql;
mod workers;

use serde::Serialize;

pub use workers::{spawn_worker, Mailer};

/// A store's face in its mails (`GET/PUT /admin/api/settings/mail`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct MailSettings {
    /// The name mails are from; `null`: the store's name.
    pub sender_name: Option<String>,
    /// Where replies go; `null`: nowhere (the pod's from address takes
    /// none).
    pub reply_to: Option<String>,
    /// Hours a cart with lines and an email stays untouched before its
    /// shopper is reminded of it (1 to 720); `null`: no reminders.
    pub abandoned_cart_hours: Option<i32>,
}

impl MailSettings {
    /// Validated settings: a sender name of 1 to 100 characters without
    /// line breaks or tabs (blank: unset), a reply-to that is an email
    /// address (blank: unset).
    pub fn parse(
        sender_name: Option<&str>,
        reply_to: Option<&str>,
        abandoned_cart_hours: Option<i32>,
    ) -> Result<Self, &'static str> {
        if abandoned_cart_hours.is_some_and(|h| !(1..=720).contains(&h)) {
            return Err("abandoned_cart_hours must be 1 to 720 (or null: no reminders)");
        }
        let sender_name = match sender_name.map(str::trim).filter(|s| !s.is_empty()) {
            Some(name) if name.chars().count() > 100 => {
                return Err("sender_name must be at most 100 characters")
            }
            Some(name) if name.chars().any(char::is_control) => {
                return Err("sender_name must be one line")
            }
            name => name.map(str::to_owned),
        };
        let reply_to = match reply_to.map(str::trim).filter(|s| !s.is_empty()) {
            Some(raw) => Some(
                mercato_tenants::account::Email::parse(raw)
                    .map_err(|_| "reply_to must look like name@example.com")?
                    .as_str()
                    .to_owned(),
            ),
            None => None,
        };
        Ok(Self {
            sender_name,
            reply_to,
            abandoned_cart_hours,
        })
    }
}

/// Checks and sets the store's mail settings (`PUT
/// /admin/api/settings/mail`): a blank field is unset; the settings as
/// kept.
pub async fn put_settings(
    db: &sqlx::PgPool,
    store: mercato_tenants::StoreId,
    sender_name: Option<&str>,
    reply_to: Option<&str>,
    abandoned_cart_hours: Option<i32>,
) -> Result<MailSettings, crate::error::PodError> {
    let settings = MailSettings::parse(sender_name, reply_to, abandoned_cart_hours)
        .map_err(mercato_tenants::ApiError::invalid)?;
    let mut tx = crate::tenancy::begin_write(db, store).await?;
    sql::put_settings(&mut tx, store, &settings).await?;
    tx.commit().await?;
    Ok(settings)
}

/// How one attempt at a delivery ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The relay took it.
    Sent,
    /// Not taken; try again after `after_ms`.
    Retry { after_ms: u64, error: String },
    /// Refused for good (`5xx`).
    Failed(String),
    /// Maybe taken (the connection died after the message's end): never
    /// sent again.
    Unknown(String),
    /// Nothing to send (an event this build cannot read).
    Skipped(String),
}

impl Outcome {
    /// The delivery's state after it (`mail_deliveries.state`).
    pub fn state(&self) -> &'static str {
        match self {
            Self::Sent => "sent",
            Self::Retry { .. } => "pending",
            Self::Failed(_) => "failed",
            Self::Unknown(_) => "unknown",
            Self::Skipped(_) => "skipped",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_are_parsed_once() {
        assert_eq!(
            MailSettings::parse(Some("  Noir  "), Some(" Owner@Noir.Test "), Some(24)),
            Ok(MailSettings {
                sender_name: Some("Noir".into()),
                reply_to: Some("owner@noir.test".into()),
                abandoned_cart_hours: Some(24),
            })
        );
        assert_eq!(
            MailSettings::parse(Some(" "), None, None),
            Ok(MailSettings::default())
        );
        assert!(MailSettings::parse(Some("a\nb"), None, None).is_err());
        assert!(MailSettings::parse(Some(&"x".repeat(101)), None, None).is_err());
        assert!(MailSettings::parse(None, Some("nobody"), None).is_err());
        for hours in [0, 721, -1] {
            assert!(
                MailSettings::parse(None, None, Some(hours)).is_err(),
                "{hours}"
            );
        }
    }
}
