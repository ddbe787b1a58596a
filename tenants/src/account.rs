//! Account credentials, validated once at the edge: an [`Email`] is trimmed
//! and lower-cased, a [`Password`] meets the platform's policy. Shared by the
//! control plane (merchant signup) and the pods (staff and customers).

use std::fmt;

use serde::{Deserialize, Deserializer};

/// An e-mail address, trimmed and lower-cased: the login name of staff and
/// customers. Deliberately permissive (one `@`, a dot in the domain, no
/// spaces); the only real check of an address is a mail that arrives.
#[derive(Clone, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let email = raw.trim().to_lowercase();
        let Some((local, domain)) = email.split_once('@') else {
            return Err("email must look like name@example.com");
        };
        let valid = !local.is_empty()
            && email.len() <= 254
            && local.len() <= 64
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains('@')
            && !email.chars().any(|c| c.is_whitespace() || c.is_control());
        if valid {
            Ok(Self(email))
        } else {
            Err("email must look like name@example.com")
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Email({})", self.0)
    }
}

impl<'de> Deserialize<'de> for Email {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        Email::parse(&raw).map_err(serde::de::Error::custom)
    }
}

/// Passwords that meet the length rule but that every attacker tries first.
const COMMON: &[&str] = &[
    "password",
    "password1",
    "password12",
    "password123",
    "passw0rd",
    "qwerty",
    "qwertyuiop",
    "1234567890",
    "12345678901",
    "123456789012",
    "0123456789",
    "letmein",
    "iloveyou",
    "welcome",
    "welcome1",
    "admin",
    "administrator",
    "abc123",
    "abcdefghij",
    "monkey",
    "dragon",
    "football",
    "baseball",
    "sunshine",
    "princess",
    "trustno1",
    "changeme",
];

/// A password that meets the policy: 10 to 128 characters, at least 5
/// distinct characters, not a well-known password. Never printed.
#[derive(Clone)]
pub struct Password(String);

impl Password {
    pub const MIN_CHARS: usize = 10;
    pub const MAX_CHARS: usize = 128;

    /// Checks the policy; the error is the reason, fit for the client.
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let chars = raw.chars().count();
        if chars < Self::MIN_CHARS {
            return Err("password must be at least 10 characters");
        }
        if chars > Self::MAX_CHARS {
            return Err("password must be at most 128 characters");
        }
        let distinct: std::collections::HashSet<char> = raw.chars().collect();
        if distinct.len() < 5 {
            return Err("password must use at least 5 different characters");
        }
        let lower = raw.to_lowercase();
        if COMMON.iter().any(|c| {
            lower == *c || lower.trim_end_matches(|c: char| c.is_ascii_digit() || c == '!') == *c
        }) {
            return Err("password is too common");
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalised() {
        let e = Email::parse("  Ada@Example.COM ").expect("valid");
        assert_eq!(e.as_str(), "ada@example.com");
        for bad in [
            "",
            "ada",
            "@example.com",
            "ada@",
            "ada@example",
            "a da@example.com",
            "a@b@c.com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn password_policy() {
        assert!(Password::parse("correct horse battery").is_ok());
        assert!(Password::parse("short1!").is_err());
        assert!(Password::parse("aaaaaaaaaaaaaa").is_err());
        assert!(Password::parse("Password123").is_err());
        assert!(Password::parse("qwertyuiop!!").is_err());
        assert!(Password::parse(&"x1y2z3w4v5".repeat(13)).is_err());
        assert_eq!(
            format!(
                "{:?}",
                Password::parse("correct horse battery").expect("ok")
            ),
            "Password(***)"
        );
    }
}
