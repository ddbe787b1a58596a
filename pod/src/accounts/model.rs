//! Accounts without I/O: staff roles, whom a session is for, the views of
//! staff members, customers, addresses and API keys as the API shows them,
//! and the rules a profile's and an address's text follow. A refusal is an
//! [`InvalidField`]; the code it is served with is chosen in `error.rs`.

use chrono::{DateTime, Utc};
use mercato_tenants::{AddressId, ApiKeyId, CustomerId, Role, StaffId};
use serde::Serialize;
use uuid::Uuid;

/// Most addresses one customer may keep.
pub const MAX_ADDRESSES: i64 = 50;

/// How long an invitation can be accepted.
pub const INVITATION_TTL_SECS: i64 = 7 * 24 * 3600;

/// How long a password-reset token works.
pub const RESET_TTL_SECS: i64 = 3600;

/// How long the token that confirms a registration is valid.
pub const CONFIRMATION_TTL_SECS: i64 = 24 * 3600;

/// A staff member's rights in the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StaffRole {
    /// The merchant who signed up: manages staff and API keys.
    Owner,
    Staff,
}

impl StaffRole {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Owner => "owner",
            Self::Staff => "staff",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "owner" => Some(Self::Owner),
            "staff" => Some(Self::Staff),
            _ => None,
        }
    }
}

/// Who a session belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    Staff(Uuid),
    Customer(Uuid),
}

impl Subject {
    /// The `subject_kind` of its session rows.
    pub fn kind(self) -> &'static str {
        match self {
            Subject::Staff(_) => "staff",
            Subject::Customer(_) => "customer",
        }
    }

    pub fn id(self) -> Uuid {
        match self {
            Subject::Staff(id) | Subject::Customer(id) => id,
        }
    }

    /// The role its tokens carry.
    pub fn role(self) -> Role {
        match self {
            Subject::Staff(_) => Role::Staff,
            Subject::Customer(_) => Role::Customer,
        }
    }
}

/// A staff member as others see it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct StaffMember {
    pub id: StaffId,
    pub email: String,
    pub role: StaffRole,
    pub created_at: DateTime<Utc>,
}

/// A staff login: the token and who it is for.
#[derive(Serialize, utoipa::ToSchema)]
pub struct StaffLogin {
    pub(crate) token: String,
    /// Unix seconds.
    pub(crate) expires_at: i64,
    pub(crate) staff: StaffMember,
}

/// A customer's own profile.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CustomerView {
    pub id: CustomerId,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub phone: String,
    pub accepts_marketing: bool,
    pub created_at: DateTime<Utc>,
}

/// A customer session: the token and the profile.
#[derive(Serialize, utoipa::ToSchema)]
pub struct CustomerLogin {
    pub token: String,
    /// Unix seconds.
    pub expires_at: i64,
    pub customer: CustomerView,
    /// The customer's cart after the guest cart sent with the login (in
    /// `X-Cart-Token` or the `mercato_cart` cookie) was merged into it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cart: Option<crate::cart::Cart>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Address {
    pub(crate) id: AddressId,
    pub(crate) name: String,
    pub(crate) line1: String,
    pub(crate) line2: String,
    pub(crate) city: String,
    pub(crate) region: String,
    pub(crate) postal_code: String,
    pub(crate) country: String,
    pub(crate) phone: String,
    pub(crate) is_default: bool,
    pub(crate) created_at: DateTime<Utc>,
}

impl Address {
    /// The address's fields, as saved.
    pub fn fields(&self) -> AddressFields {
        AddressFields {
            name: self.name.clone(),
            line1: self.line1.clone(),
            line2: self.line2.clone(),
            city: self.city.clone(),
            region: self.region.clone(),
            postal_code: self.postal_code.clone(),
            country: self.country.clone(),
            phone: self.phone.clone(),
        }
    }
}

/// A key as listed: no secret.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ApiKey {
    pub(crate) id: ApiKeyId,
    pub(crate) name: String,
    pub(crate) prefix: String,
    pub(crate) created_at: DateTime<Utc>,
    pub(crate) last_used_at: Option<DateTime<Utc>>,
}

/// Why a profile's or an address's text was refused. The text is what the
/// client is told.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidField {
    /// An optional field too long, or with control characters.
    #[error("{field} must be at most {max} printable characters")]
    TooLong { field: &'static str, max: usize },
    /// A required field empty, too long, or with control characters.
    #[error("{field} must be {min} to {max} printable characters")]
    Length {
        field: &'static str,
        min: usize,
        max: usize,
    },
    /// Not two letters.
    #[error("country must be an ISO 3166-1 alpha-2 code such as FR")]
    Country,
    /// A character a phone number does not hold.
    #[error("phone may hold digits, spaces and + - ( ) . only")]
    Phone,
}

/// A profile text field: trimmed, at most `max` characters.
pub fn text(
    field: &'static str,
    value: Option<String>,
    max: usize,
) -> Result<Option<String>, InvalidField> {
    match value {
        None => Ok(None),
        Some(v) => {
            let v = v.trim().to_owned();
            if v.chars().count() > max || v.chars().any(char::is_control) {
                Err(InvalidField::TooLong { field, max })
            } else {
                Ok(Some(v))
            }
        }
    }
}

/// A phone number: digits, spaces and `+-().`, at most 32 characters.
pub fn phone(value: Option<String>) -> Result<Option<String>, InvalidField> {
    let value = text("phone", value, 32)?;
    if let Some(p) = &value {
        if !p
            .chars()
            .all(|c| c.is_ascii_digit() || " +-().".contains(c))
        {
            return Err(InvalidField::Phone);
        }
    }
    Ok(value)
}

/// The text of an address, validated by [`AddressFields::validate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressFields {
    pub name: String,
    pub line1: String,
    pub line2: String,
    pub city: String,
    pub region: String,
    pub postal_code: String,
    pub country: String,
    pub phone: String,
}

impl AddressFields {
    /// Trims every field, upper-cases the country, and checks lengths.
    pub fn validate(self) -> Result<Self, InvalidField> {
        fn field(
            name: &'static str,
            value: String,
            min: usize,
            max: usize,
        ) -> Result<String, InvalidField> {
            let v = value.trim().to_owned();
            let n = v.chars().count();
            if n < min || n > max || v.chars().any(char::is_control) {
                return Err(if min == 0 {
                    InvalidField::TooLong { field: name, max }
                } else {
                    InvalidField::Length {
                        field: name,
                        min,
                        max,
                    }
                });
            }
            Ok(v)
        }
        let country = self.country.trim().to_ascii_uppercase();
        if country.len() != 2 || !country.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(InvalidField::Country);
        }
        let phone = phone(Some(self.phone))?.unwrap_or_default();
        Ok(Self {
            name: field("name", self.name, 1, 100)?,
            line1: field("line1", self.line1, 1, 200)?,
            line2: field("line2", self.line2, 0, 200)?,
            city: field("city", self.city, 1, 100)?,
            region: field("region", self.region, 0, 100)?,
            postal_code: field("postal_code", self.postal_code, 0, 20)?,
            country,
            phone,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_round_trip() {
        for role in [StaffRole::Owner, StaffRole::Staff] {
            assert_eq!(StaffRole::parse(role.as_str()), Some(role));
        }
        assert_eq!(StaffRole::parse("admin"), None);
    }

    #[test]
    fn profile_fields_are_trimmed_and_bounded() {
        assert_eq!(
            text("first_name", Some("  Ada ".into()), 100).expect("ok"),
            Some("Ada".into())
        );
        assert!(text("first_name", Some("x".repeat(101)), 100).is_err());
        assert!(text("first_name", Some("a\u{0}b".into()), 100).is_err());
        assert_eq!(
            phone(Some("+44 (20) 7946-0958".into())).expect("ok"),
            Some("+44 (20) 7946-0958".into())
        );
        assert!(phone(Some("call me".into())).is_err());
    }

    fn sample() -> AddressFields {
        AddressFields {
            name: " Ada Lovelace ".into(),
            line1: "12 St James's Square".into(),
            line2: String::new(),
            city: "London".into(),
            region: String::new(),
            postal_code: "SW1Y 4JH".into(),
            country: "gb".into(),
            phone: String::new(),
        }
    }

    #[test]
    fn a_valid_address_is_trimmed_and_its_country_upper_cased() {
        let v = sample().validate().expect("valid");
        assert_eq!(v.name, "Ada Lovelace");
        assert_eq!(v.country, "GB");
    }

    #[test]
    fn bad_fields_are_refused() {
        for (bad, refusal) in [
            (
                AddressFields {
                    name: "  ".into(),
                    ..sample()
                },
                InvalidField::Length {
                    field: "name",
                    min: 1,
                    max: 100,
                },
            ),
            (
                AddressFields {
                    line1: "x".repeat(201),
                    ..sample()
                },
                InvalidField::Length {
                    field: "line1",
                    min: 1,
                    max: 200,
                },
            ),
            (
                AddressFields {
                    city: String::new(),
                    ..sample()
                },
                InvalidField::Length {
                    field: "city",
                    min: 1,
                    max: 100,
                },
            ),
            (
                AddressFields {
                    country: "GBR".into(),
                    ..sample()
                },
                InvalidField::Country,
            ),
            (
                AddressFields {
                    country: "1A".into(),
                    ..sample()
                },
                InvalidField::Country,
            ),
            (
                AddressFields {
                    postal_code: "x".repeat(21),
                    ..sample()
                },
                InvalidField::TooLong {
                    field: "postal_code",
                    max: 20,
                },
            ),
            (
                AddressFields {
                    phone: "not a phone".into(),
                    ..sample()
                },
                InvalidField::Phone,
            ),
        ] {
            assert_eq!(bad.clone().validate(), Err(refusal), "{bad:?}");
        }
    }
}
