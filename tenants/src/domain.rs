//! Validated names that come from the outside: hostnames and store handles.
//! Parsed once at the edge; the inside of the system never re-checks.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("a domain must be 1 to 253 characters")]
    DomainLength,
    #[error("domain label `{0}` must be 1 to 63 characters of a-z, 0-9 and inner hyphens")]
    DomainLabel(String),
    #[error("a handle must be 3 to 40 characters of a-z, 0-9 and inner hyphens")]
    Handle,
    #[error("the handle `{0}` is reserved")]
    ReservedHandle(String),
}

/// A normalised hostname: lower case, no trailing dot, no port.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, utoipa::ToSchema)]
#[serde(transparent)]
#[schema(value_type = String, example = "shop.example.com")]
pub struct Domain(String);

impl Domain {
    pub fn parse(raw: &str) -> Result<Self, NameError> {
        let name = raw.trim().trim_end_matches('.').to_ascii_lowercase();
        if name.is_empty() || name.len() > 253 {
            return Err(NameError::DomainLength);
        }
        for label in name.split('.') {
            if !valid_label(label, 63) {
                return Err(NameError::DomainLabel(label.chars().take(63).collect()));
            }
        }
        Ok(Self(name))
    }

    /// The host of an HTTP `Host` header value: the port, if any, is dropped.
    pub fn from_host_header(value: &str) -> Result<Self, NameError> {
        let host = match value.rsplit_once(':') {
            Some((host, port)) if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => {
                host
            }
            _ => value,
        };
        Self::parse(host)
    }

    /// `<handle>.<self>`: the platform domain every store gets.
    pub fn store_subdomain(&self, handle: &Handle) -> Domain {
        Domain(format!("{}.{}", handle.as_str(), self.0))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether this domain is `parent` itself or lies below it.
    pub fn is_within(&self, parent: &Domain) -> bool {
        self.0 == parent.0
            || (self.0.len() > parent.0.len()
                && self.0.ends_with(parent.0.as_str())
                && self.0.as_bytes()[self.0.len() - parent.0.len() - 1] == b'.')
    }
}

impl<'de> Deserialize<'de> for Domain {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        Domain::parse(&raw).map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for Domain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Domain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Domain({})", self.0)
    }
}

/// A store's handle: the first label of its platform domain.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct Handle(String);

/// Handles that would shadow platform hosts.
const RESERVED_HANDLES: &[&str] = &[
    "www", "api", "admin", "app", "mail", "ops", "status", "static", "cdn", "assets", "internal",
    "control", "router", "pod", "mercato",
];

impl Handle {
    pub fn parse(raw: &str) -> Result<Self, NameError> {
        let handle = raw.trim().to_ascii_lowercase();
        if handle.len() < 3 || !valid_label(&handle, 40) {
            return Err(NameError::Handle);
        }
        if RESERVED_HANDLES.contains(&handle.as_str()) {
            return Err(NameError::ReservedHandle(handle));
        }
        Ok(Self(handle))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for Handle {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        Handle::parse(&raw).map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Handle({})", self.0)
    }
}

fn valid_label(label: &str, max: usize) -> bool {
    !label.is_empty()
        && label.len() <= max
        && label
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !label.starts_with('-')
        && !label.ends_with('-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_are_normalised() {
        let d = Domain::parse(" Shop.Example.COM. ").expect("valid");
        assert_eq!(d.as_str(), "shop.example.com");
        assert_eq!(
            Domain::from_host_header("Demo.localhost:8080")
                .expect("valid")
                .as_str(),
            "demo.localhost"
        );
        assert_eq!(
            Domain::from_host_header("localhost")
                .expect("valid")
                .as_str(),
            "localhost"
        );
    }

    #[test]
    fn bad_domains_are_rejected() {
        for bad in [
            "",
            "a..b",
            "-a.com",
            "a-.com",
            "sh op.com",
            "a_b.com",
            "ex%41.com",
            &"a".repeat(64),
        ] {
            assert!(Domain::parse(bad).is_err(), "{bad:?} should be rejected");
        }
        assert!(Domain::from_host_header("[::1]:80").is_err());
    }

    #[test]
    fn subdomains_and_containment() {
        let platform = Domain::parse("localhost").expect("valid");
        let handle = Handle::parse("Demo").expect("valid");
        let store = platform.store_subdomain(&handle);
        assert_eq!(store.as_str(), "demo.localhost");
        assert!(store.is_within(&platform));
        assert!(platform.is_within(&platform));
        assert!(!Domain::parse("evillocalhost")
            .expect("valid")
            .is_within(&platform));
    }

    #[test]
    fn handles() {
        assert!(Handle::parse("ab").is_err());
        assert!(Handle::parse("my-shop").is_ok());
        assert!(Handle::parse("my.shop").is_err());
        assert_eq!(
            Handle::parse("admin"),
            Err(NameError::ReservedHandle("admin".into()))
        );
    }
}
