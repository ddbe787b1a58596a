//! What a webhook is, pure: the topics a subscription names and the event
//! type each one carries ([`Topic`]), the URL it is sent to
//! ([`WebhookUrl`]), the body ([`body`]) and its signature ([`sign`]).

use std::fmt;

use hmac::{Hmac, Mac};
use mercato_tenants::events::EventType;
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// A webhook topic: the name merchants subscribe to, for one event type.
/// Events that hold a shopper's secret (password resets, confirmation and
/// invitation tokens) have no topic. The trigger `outbox_webhooks` (pod
/// migration `…21_webhooks.sql`, function `webhook_topic`) maps event
/// types the same way; tests/webhooks.rs holds the two to each other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
pub enum Topic {
    #[serde(rename = "orders/created")]
    OrdersCreated,
    #[serde(rename = "orders/updated")]
    OrdersUpdated,
    #[serde(rename = "orders/cancelled")]
    OrdersCancelled,
    #[serde(rename = "orders/paid")]
    OrdersPaid,
    #[serde(rename = "orders/fulfilled")]
    OrdersFulfilled,
    #[serde(rename = "orders/edited")]
    OrdersEdited,
    #[serde(rename = "fulfillments/update")]
    FulfillmentsUpdate,
    #[serde(rename = "refunds/created")]
    RefundsCreated,
    #[serde(rename = "products/update")]
    ProductsUpdate,
    #[serde(rename = "products/delete")]
    ProductsDelete,
    #[serde(rename = "inventory_levels/update")]
    InventoryLevelsUpdate,
    #[serde(rename = "customers/create")]
    CustomersCreate,
}

impl Topic {
    pub const ALL: [Topic; 12] = [
        Self::OrdersCreated,
        Self::OrdersUpdated,
        Self::OrdersCancelled,
        Self::OrdersPaid,
        Self::OrdersFulfilled,
        Self::OrdersEdited,
        Self::FulfillmentsUpdate,
        Self::RefundsCreated,
        Self::ProductsUpdate,
        Self::ProductsDelete,
        Self::InventoryLevelsUpdate,
        Self::CustomersCreate,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::OrdersCreated => "orders/created",
            Self::OrdersUpdated => "orders/updated",
            Self::OrdersCancelled => "orders/cancelled",
            Self::OrdersPaid => "orders/paid",
            Self::OrdersFulfilled => "orders/fulfilled",
            Self::OrdersEdited => "orders/edited",
            Self::FulfillmentsUpdate => "fulfillments/update",
            Self::RefundsCreated => "refunds/created",
            Self::ProductsUpdate => "products/update",
            Self::ProductsDelete => "products/delete",
            Self::InventoryLevelsUpdate => "inventory_levels/update",
            Self::CustomersCreate => "customers/create",
        }
    }

    /// The event type whose events the topic carries.
    pub const fn event_type(self) -> EventType {
        match self {
            Self::OrdersCreated => EventType::OrderPlaced,
            Self::OrdersUpdated => EventType::OrderStatusChanged,
            Self::OrdersCancelled => EventType::OrderCancelled,
            Self::OrdersPaid => EventType::PaymentCaptured,
            Self::OrdersFulfilled => EventType::OrderFulfilled,
            Self::OrdersEdited => EventType::LinesCancelled,
            Self::FulfillmentsUpdate => EventType::ShipmentUpdated,
            Self::RefundsCreated => EventType::PaymentRefunded,
            Self::ProductsUpdate => EventType::ProductChanged,
            Self::ProductsDelete => EventType::ProductDeleted,
            Self::InventoryLevelsUpdate => EventType::InventoryLevelChanged,
            Self::CustomersCreate => EventType::CustomerCreated,
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }

    /// The topic of `event_type`, if webhooks carry it.
    pub fn of(event_type: EventType) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.event_type() == event_type)
    }
}

impl fmt::Display for Topic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// At most this many characters in a webhook URL.
pub const MAX_URL_LEN: usize = 2048;

/// A webhook's address, checked once: an absolute `https` URL (`http` only
/// where the pod allows it), with a host, no credentials, no fragment, no
/// control characters, at most [`MAX_URL_LEN`] characters, and not an
/// address the pod refuses to call ([`super::target::refused`]) when the
/// host is an IP address or `localhost`. A name is checked again, on each
/// delivery, against what it resolves to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookUrl(reqwest::Url);

/// Which targets the pod may call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TargetPolicy {
    /// `http://` URLs (development only).
    pub allow_http: bool,
    /// Loopback, private and other internal addresses (development only).
    pub allow_private: bool,
}

/// Why a URL that points at a private, loopback or internal address is
/// refused, where the pod allows none.
pub const PRIVATE_TARGET: &str = "url must not point at a private, loopback or internal address";

impl WebhookUrl {
    pub fn parse(raw: &str, policy: TargetPolicy) -> Result<Self, &'static str> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Err("url is required");
        }
        if raw.chars().count() > MAX_URL_LEN {
            return Err("url must be at most 2048 characters");
        }
        if raw.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err("url must not contain spaces or control characters");
        }
        let url = reqwest::Url::parse(raw).map_err(|_| "url must be an absolute URL")?;
        // As stored: parsing may add a `/` after the host.
        if url.as_str().chars().count() > MAX_URL_LEN {
            return Err("url must be at most 2048 characters");
        }
        match url.scheme() {
            "https" => {}
            "http" if policy.allow_http => {}
            "http" => return Err("url must use https"),
            _ => return Err("url must be an https URL"),
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err("url must not carry credentials");
        }
        if url.fragment().is_some() {
            return Err("url must not have a fragment");
        }
        let host = url.host_str().ok_or("url must have a host")?;
        let literal = host.trim_start_matches('[').trim_end_matches(']');
        let refused = match literal.parse::<std::net::IpAddr>() {
            Ok(ip) => super::target::refused(ip).is_some(),
            Err(_) => {
                let name = host.trim_end_matches('.').to_ascii_lowercase();
                name == "localhost" || name.ends_with(".localhost")
            }
        };
        if refused && !policy.allow_private {
            return Err(PRIVATE_TARGET);
        }
        Ok(Self(url))
    }

    pub fn as_url(&self) -> &reqwest::Url {
        &self.0
    }

    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

/// The JSON body of a delivery: the event's envelope with its payload.
#[derive(Debug, Serialize)]
pub struct Body<'a> {
    /// The event's id, the same on every attempt and redelivery.
    pub id: uuid::Uuid,
    pub topic: &'a str,
    pub store_id: uuid::Uuid,
    pub occurred_at: chrono::DateTime<chrono::Utc>,
    /// The event's payload (docs/events.md), less [`WITHHELD`].
    pub data: &'a serde_json::Value,
}

/// Fields of an event's payload a webhook leaves out: shoppers' secrets
/// (`order.placed`'s `confirmation_path` holds a guest's order lookup
/// token), which a receiver run by a third party has no need for.
pub const WITHHELD: [&str; 2] = ["confirmation_path", "token"];

/// The payload a webhook carries: the event's, less [`WITHHELD`].
pub fn webhook_data(mut payload: serde_json::Value) -> serde_json::Value {
    if let Some(fields) = payload.as_object_mut() {
        for name in WITHHELD {
            fields.remove(name);
        }
    }
    payload
}

/// The `x-mercato-signature` of `body` sent at `timestamp` (unix seconds):
/// HMAC-SHA256 of `"{timestamp}.{body}"` under the subscription's secret,
/// lowercase hex.
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// Topics parsed from their names: at least one, each known, no repeats.
pub fn parse_topics(names: &[String]) -> Result<Vec<Topic>, String> {
    if names.is_empty() {
        return Err("topics must name at least one topic".into());
    }
    let mut topics = Vec::new();
    for name in names {
        let topic = Topic::parse(name.trim()).ok_or_else(|| {
            let known: Vec<&str> = Topic::ALL.iter().map(|t| t.as_str()).collect();
            format!("unknown topic {name:?} (known: {})", known.join(", "))
        })?;
        if !topics.contains(&topic) {
            topics.push(topic);
        }
    }
    Ok(topics)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROD: TargetPolicy = TargetPolicy {
        allow_http: false,
        allow_private: false,
    };
    const DEV: TargetPolicy = TargetPolicy {
        allow_http: true,
        allow_private: true,
    };

    #[test]
    fn topics_round_trip_and_cover_distinct_events() {
        for topic in Topic::ALL {
            assert_eq!(Topic::parse(topic.as_str()), Some(topic));
            assert_eq!(Topic::of(topic.event_type()), Some(topic));
        }
        assert_eq!(Topic::of(EventType::PasswordResetRequested), None);
        assert_eq!(Topic::of(EventType::StaffInvited), None);
        assert_eq!(Topic::of(EventType::StaffPasswordResetRequested), None);
        assert!(parse_topics(&[]).is_err());
        assert!(parse_topics(&["orders/nope".into()]).is_err());
        assert_eq!(
            parse_topics(&["orders/paid".into(), "orders/paid".into()]),
            Ok(vec![Topic::OrdersPaid])
        );
    }

    #[test]
    fn urls_are_https_with_a_public_host() {
        assert!(WebhookUrl::parse("https://hooks.example.com/in?x=1", PROD).is_ok());
        assert!(WebhookUrl::parse("http://hooks.example.com/in", PROD).is_err());
        assert!(WebhookUrl::parse("http://hooks.example.com/in", DEV).is_ok());
        assert!(WebhookUrl::parse("ftp://hooks.example.com/", DEV).is_err());
        assert!(WebhookUrl::parse("hooks.example.com/in", PROD).is_err());
        assert!(WebhookUrl::parse("https://u:p@hooks.example.com/", PROD).is_err());
        assert!(WebhookUrl::parse("https://hooks.example.com/a\nb", PROD).is_err());
        assert!(WebhookUrl::parse("https://hooks.example.com/a\u{7f}", PROD).is_err());
        assert!(WebhookUrl::parse("https://hooks.example.com/#x", PROD).is_err());
        let long = format!("https://hooks.example.com/{}", "a".repeat(MAX_URL_LEN));
        assert!(WebhookUrl::parse(&long, PROD).is_err());
        for internal in [
            "https://127.0.0.1/",
            "https://localhost:8443/",
            "https://api.localhost/",
            "https://10.1.2.3/",
            "https://169.254.169.254/latest/meta-data/",
            "https://[::1]/",
            "https://[fd00::1]/",
            "https://100.64.0.1/",
            "https://0.0.0.0/",
            "https://[::ffff:127.0.0.1]/",
        ] {
            assert!(WebhookUrl::parse(internal, PROD).is_err(), "{internal}");
            assert!(WebhookUrl::parse(internal, DEV).is_ok(), "{internal}");
        }
    }

    #[test]
    fn secrets_are_withheld() {
        let data = webhook_data(serde_json::json!({
            "number": 1001, "confirmation_path": "/api/orders/1001?token=abc"
        }));
        assert_eq!(data, serde_json::json!({"number": 1001}));
    }

    #[test]
    fn the_signature_is_hmac_sha256_of_timestamp_dot_body() {
        // The same as Python's
        // hmac.new(b"whsec_test", b'1700000000.{"a":1}', hashlib.sha256).hexdigest()
        assert_eq!(
            sign("whsec_test", 1_700_000_000, b"{\"a\":1}"),
            "38877139021993b830af32feea6e18a8da83eb2f6e49ee50bd9e4cf4ca4d3789"
        );
    }
}
