//! Inventory decisions as plain functions over plain data: how a quantity
//! is split over locations, whether a change of stock is allowed, what a
//! valid location looks like; and the inventory's plain data itself (lines
//! to reserve, shortages, levels and badges, locations, the stock views
//! and the audit rows staff read).

use chrono::{DateTime, Utc};
use mercato_tenants::{AdjustmentId, LocationId, VariantId};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Most units on hand at one location.
pub const MAX_ON_HAND: i32 = 10_000_000;

/// Splits `requested` units over locations, tried in the given order (the
/// caller sorts them by priority), taking as much as each has available.
/// `None` when they do not have enough together.
pub fn allocate(requested: i32, available: &[(LocationId, i32)]) -> Option<Vec<(LocationId, i32)>> {
    let mut left = requested;
    let mut parts = Vec::new();
    for &(location, avail) in available {
        if left == 0 {
            break;
        }
        let take = avail.max(0).min(left);
        if take > 0 {
            parts.push((location, take));
            left -= take;
        }
    }
    (left == 0 && requested > 0).then_some(parts)
}

/// A staff change of the units on hand at one location.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StockOp {
    /// Sets the units on hand.
    Set(i32),
    /// Adds (or with a negative delta removes) units.
    Adjust(i32),
}

/// Why a change of stock is refused. The text is what staff are told; the
/// code it is served with is chosen in `inventory/error.rs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum StockRefusal {
    /// The result would be below zero.
    #[error("units on hand cannot go below zero")]
    Negative,
    /// The result would be below the units reserved by holds.
    #[error("{reserved} units are reserved by checkouts; on hand cannot go below that")]
    BelowReserved { reserved: i32 },
    /// The result would be above [`MAX_ON_HAND`].
    #[error("on_hand cannot exceed {MAX_ON_HAND}")]
    TooMany,
}

/// The new units on hand and the delta of `op` at a location holding
/// `on_hand` units of which `reserved` are held.
pub fn apply(on_hand: i32, reserved: i32, op: StockOp) -> Result<(i32, i32), StockRefusal> {
    let new = match op {
        StockOp::Set(n) => i64::from(n),
        StockOp::Adjust(d) => i64::from(on_hand) + i64::from(d),
    };
    if new < 0 {
        return Err(StockRefusal::Negative);
    }
    if new < i64::from(reserved) {
        return Err(StockRefusal::BelowReserved { reserved });
    }
    if new > i64::from(MAX_ON_HAND) {
        return Err(StockRefusal::TooMany);
    }
    let new = new as i32;
    Ok((new, new - on_hand))
}

/// The reasons staff may give for a change of stock. The system's own
/// reasons (`initial`, `order`, `order_cancelled`) are not among them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StaffReason {
    Received,
    Correction,
    Damaged,
    Lost,
    Returned,
    Other,
}

impl StaffReason {
    pub fn as_str(self) -> &'static str {
        match self {
            StaffReason::Received => "received",
            StaffReason::Correction => "correction",
            StaffReason::Damaged => "damaged",
            StaffReason::Lost => "lost",
            StaffReason::Returned => "returned",
            StaffReason::Other => "other",
        }
    }
}

/// ISO 3166-1 alpha-2 codes (from the tz database's `iso3166.tab`).
const COUNTRIES: &str = "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI \
    BJ BL BM BN BO BQ BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY \
    CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN \
    GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH \
    KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO \
    MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL \
    PM PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV \
    SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN \
    VU WF WS YE YT ZA ZM ZW";

/// Why a location, or a location named for a change of stock, is refused.
/// The text is what staff are told; the code it is served with is chosen
/// in `inventory/error.rs`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LocationError {
    /// Not an ISO 3166-1 alpha-2 code.
    #[error("country must be an ISO 3166-1 alpha-2 code such as US or DE")]
    InvalidCountry,
    /// A text field shorter than `min` or longer than `max` characters.
    #[error("{}", text_length(.field, *.min, *.max))]
    TextLength {
        field: &'static str,
        min: usize,
        max: usize,
    },
    /// Latitude or longitude out of range.
    #[error("latitude (-90 to 90) and longitude (-180 to 180) are given together")]
    InvalidCoordinates,
    /// Only one of latitude and longitude.
    #[error("latitude and longitude are given together")]
    UnpairedCoordinates,
    /// A priority outside 0 to [`MAX_PRIORITY`].
    #[error("priority must be 0 to {MAX_PRIORITY}")]
    PriorityOutOfRange,
    /// No location of that id in the store.
    #[error("no location {0} in this store")]
    Unknown(LocationId),
    /// Deactivating the store's only active location.
    #[error("the store's last active location cannot be deactivated")]
    LastActive,
}

fn text_length(field: &str, min: usize, max: usize) -> String {
    if min > 0 {
        format!("{field} must be {min} to {max} characters")
    } else {
        format!("{field} must be at most {max} characters")
    }
}

/// A country code, upper-cased; [`LocationError::InvalidCountry`] unless it
/// is an ISO 3166-1 alpha-2 code.
pub fn parse_country(raw: &str) -> Result<String, LocationError> {
    let code = raw.trim().to_ascii_uppercase();
    if code.len() == 2 && COUNTRIES.split_whitespace().any(|c| c == code) {
        Ok(code)
    } else {
        Err(LocationError::InvalidCountry)
    }
}

/// A trimmed text field of at most `max` characters (`min` at least).
pub fn text_field(
    field: &'static str,
    raw: &str,
    min: usize,
    max: usize,
) -> Result<String, LocationError> {
    let value = raw.trim();
    let len = value.chars().count();
    if len < min || len > max {
        return Err(LocationError::TextLength { field, min, max });
    }
    Ok(value.to_owned())
}

/// Lowest priority a location may have (tried last).
pub const MAX_PRIORITY: i32 = 1_000_000;

/// Location priorities: 0 (tried first) to [`MAX_PRIORITY`].
pub fn check_priority(priority: i32) -> Result<i32, LocationError> {
    if (0..=MAX_PRIORITY).contains(&priority) {
        Ok(priority)
    } else {
        Err(LocationError::PriorityOutOfRange)
    }
}

/// Whether a location may become inactive: not when it is active and no
/// other location of the store is.
pub fn check_deactivation(
    active_now: bool,
    active_after: bool,
    others_active: bool,
) -> Result<(), LocationError> {
    if active_now && !active_after && !others_active {
        return Err(LocationError::LastActive);
    }
    Ok(())
}

/// One line to reserve: units of a variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HoldLine {
    pub variant: VariantId,
    pub quantity: i32,
}

/// A line that cannot be reserved in full.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Shortage {
    pub variant_id: VariantId,
    pub requested: i32,
    pub available: i32,
}

/// What [`super::pin`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PinOutcome {
    Pinned,
    /// Some holds had expired and their units are gone; nothing changed.
    Lost(Vec<Shortage>),
}

/// What a shopper is told about a variant's stock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Badge {
    InStock,
    Low,
    SoldOut,
}

/// A variant's stock, summed over its store's active locations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Level {
    pub on_hand: i32,
    /// Units held for checkouts.
    pub reserved: i32,
    /// `on_hand - reserved`: what can still be sold.
    pub available: i32,
    pub low_stock_threshold: i32,
}

impl Level {
    pub const DEFAULT_LOW_STOCK_THRESHOLD: i32 = 5;

    pub const NONE: Level = Level {
        on_hand: 0,
        reserved: 0,
        available: 0,
        low_stock_threshold: Self::DEFAULT_LOW_STOCK_THRESHOLD,
    };

    pub fn new(on_hand: i32, reserved: i32, low_stock_threshold: i32) -> Level {
        Level {
            on_hand,
            reserved,
            available: on_hand - reserved,
            low_stock_threshold,
        }
    }

    pub fn badge(self) -> Badge {
        if self.available <= 0 {
            Badge::SoldOut
        } else if self.available <= self.low_stock_threshold {
            Badge::Low
        } else {
            Badge::InStock
        }
    }
}

/// One change of units on hand at a location, as recorded.
pub(crate) struct Change<'a> {
    pub variant: VariantId,
    pub location: LocationId,
    pub delta: i32,
    pub on_hand_after: i32,
    pub reserved_after: i32,
    pub reason: &'a str,
    pub actor: &'a str,
    pub reference: Option<Uuid>,
}

/// One location's stock of a variant.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LocationStock {
    pub location_id: LocationId,
    pub location_name: String,
    /// Stock at an inactive location is not sold and not in the totals.
    pub active: bool,
    pub on_hand: i32,
    pub reserved: i32,
    pub available: i32,
}

/// A variant's stock: totals over active locations, and each location.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct VariantStock {
    pub variant_id: VariantId,
    pub on_hand: i32,
    pub reserved: i32,
    pub available: i32,
    pub low_stock_threshold: i32,
    pub badge: Badge,
    /// By priority, then id.
    pub locations: Vec<LocationStock>,
}

/// One row of the stock audit.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Adjustment {
    pub id: AdjustmentId,
    pub variant_id: VariantId,
    pub location_id: LocationId,
    pub delta: i32,
    pub on_hand_after: i32,
    pub reason: String,
    /// A staff id, or `system`.
    pub actor: String,
    /// The checkout behind an `order` or `order_cancelled` change.
    pub reference: Option<Uuid>,
    pub created_at: DateTime<Utc>,
}

/// A location as staff see it.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Location {
    #[sqlx(try_from = "Uuid")]
    pub id: LocationId,
    pub name: String,
    pub line1: String,
    pub line2: String,
    pub city: String,
    pub region: String,
    pub postal_code: String,
    /// ISO 3166-1 alpha-2.
    pub country: Option<String>,
    /// Degrees, -90 to 90; set with `longitude` or not at all.
    pub latitude: Option<f64>,
    /// Degrees, -180 to 180.
    pub longitude: Option<f64>,
    /// Lower is tried first when stock is reserved, and ships first among
    /// equally near locations.
    pub priority: i32,
    /// Inactive locations keep their stock but are never sold from.
    pub active: bool,
    /// The location stock goes to when none is named.
    pub is_default: bool,
    pub created_at: DateTime<Utc>,
}

/// A new location.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewLocation {
    /// 1 to 100 characters (white space around text fields is trimmed).
    #[schema(
        max_length = 100,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\u0000-\u0020\u007F-\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000][^\u0000-\u001F\u007F-\u009F]*$"
    )]
    pub name: String,
    /// At most 255 characters.
    #[schema(max_length = 255, pattern = r"^[^\u0000-\u001F\u007F-\u009F]*$")]
    pub line1: Option<String>,
    /// At most 255 characters.
    #[schema(max_length = 255, pattern = r"^[^\u0000-\u001F\u007F-\u009F]*$")]
    pub line2: Option<String>,
    /// At most 255 characters.
    #[schema(max_length = 255, pattern = r"^[^\u0000-\u001F\u007F-\u009F]*$")]
    pub city: Option<String>,
    /// At most 255 characters.
    #[schema(max_length = 255, pattern = r"^[^\u0000-\u001F\u007F-\u009F]*$")]
    pub region: Option<String>,
    /// At most 32 characters.
    #[schema(max_length = 32, pattern = r"^[^\u0000-\u001F\u007F-\u009F]*$")]
    pub postal_code: Option<String>,
    /// ISO 3166-1 alpha-2, e.g. `US`; `""` for none.
    #[schema(schema_with = country_schema)]
    pub country: Option<String>,
    /// Degrees, -90 to 90; with `longitude` or not at all (`422` when only
    /// one is given). Used to ship from the nearest location.
    #[schema(minimum = -90, maximum = 90)]
    pub latitude: Option<f64>,
    /// Degrees, -180 to 180; with `latitude`.
    #[schema(minimum = -180, maximum = 180)]
    pub longitude: Option<f64>,
    /// 0 (tried first, the default) to 1,000,000.
    #[schema(minimum = 0, maximum = 1_000_000)]
    pub priority: Option<i32>,
    pub active: Option<bool>,
}

/// Changes to a location; absent fields stay as they are. `active: false`
/// deactivates it (not the last active one).
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LocationPatch {
    /// As in [`NewLocation`].
    #[schema(
        max_length = 100,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\u0000-\u0020\u007F-\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000][^\u0000-\u001F\u007F-\u009F]*$"
    )]
    pub name: Option<String>,
    #[schema(max_length = 255, pattern = r"^[^\u0000-\u001F\u007F-\u009F]*$")]
    pub line1: Option<String>,
    #[schema(max_length = 255, pattern = r"^[^\u0000-\u001F\u007F-\u009F]*$")]
    pub line2: Option<String>,
    #[schema(max_length = 255, pattern = r"^[^\u0000-\u001F\u007F-\u009F]*$")]
    pub city: Option<String>,
    #[schema(max_length = 255, pattern = r"^[^\u0000-\u001F\u007F-\u009F]*$")]
    pub region: Option<String>,
    #[schema(max_length = 32, pattern = r"^[^\u0000-\u001F\u007F-\u009F]*$")]
    pub postal_code: Option<String>,
    /// An ISO 3166-1 alpha-2 code, or `""` to clear it.
    #[schema(schema_with = country_schema)]
    pub country: Option<String>,
    /// Replaces the coordinates; given with `longitude` (both or neither,
    /// `422` when only one is given).
    #[schema(minimum = -90, maximum = 90)]
    pub latitude: Option<f64>,
    /// Replaces the coordinates; given with `latitude`.
    #[schema(minimum = -180, maximum = 180)]
    pub longitude: Option<f64>,
    #[schema(minimum = 0, maximum = 1_000_000)]
    pub priority: Option<i32>,
    pub active: Option<bool>,
}

/// A location's `country` as [`parse_country`] takes it: one of the ISO
/// 3166-1 alpha-2 codes, `""` (none) or `null` (left as it is).
fn country_schema() -> utoipa::openapi::Object {
    use utoipa::openapi::{schema::SchemaType, ObjectBuilder, Type};
    let codes = COUNTRIES.split_whitespace().map(serde_json::Value::from);
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
        .enum_values(Some(
            [serde_json::Value::Null, serde_json::Value::from("")]
                .into_iter()
                .chain(codes),
        ))
        .description(Some("ISO 3166-1 alpha-2, e.g. `US`; `\"\"` for none."))
        .build()
}

/// A location's fields, validated.
pub(crate) struct Fields {
    pub name: String,
    pub line1: String,
    pub line2: String,
    pub city: String,
    pub region: String,
    pub postal_code: String,
    pub country: Option<String>,
    pub coordinates: Option<Coordinates>,
    pub priority: i32,
    pub active: bool,
}

fn address(
    field: &'static str,
    raw: Option<&String>,
    max: usize,
) -> Result<Option<String>, LocationError> {
    raw.map(|r| text_field(field, r, 0, max)).transpose()
}

fn country(raw: Option<&String>) -> Result<Option<Option<String>>, LocationError> {
    raw.map(|c| {
        if c.trim().is_empty() {
            Ok(None)
        } else {
            parse_country(c).map(Some)
        }
    })
    .transpose()
}

/// A point on the earth, in degrees; its range is checked once, here.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Coordinates {
    latitude: f64,
    longitude: f64,
}

impl Coordinates {
    /// `None` unless latitude is within ±90 and longitude within ±180.
    pub fn new(latitude: f64, longitude: f64) -> Option<Coordinates> {
        ((-90.0..=90.0).contains(&latitude) && (-180.0..=180.0).contains(&longitude)).then_some(
            Coordinates {
                latitude,
                longitude,
            },
        )
    }

    pub fn latitude(self) -> f64 {
        self.latitude
    }

    pub fn longitude(self) -> f64 {
        self.longitude
    }

    /// Great-circle distance in kilometres (haversine).
    pub fn distance_km(self, other: Coordinates) -> f64 {
        const EARTH_RADIUS_KM: f64 = 6371.0;
        let (phi1, phi2) = (self.latitude.to_radians(), other.latitude.to_radians());
        let dphi = phi2 - phi1;
        let dlambda = (other.longitude - self.longitude).to_radians();
        let a =
            (dphi / 2.0).sin().powi(2) + phi1.cos() * phi2.cos() * (dlambda / 2.0).sin().powi(2);
        2.0 * EARTH_RADIUS_KM * a.sqrt().min(1.0).asin()
    }
}

impl Location {
    /// Where the location is, when staff said.
    pub fn coordinates(&self) -> Option<Coordinates> {
        Coordinates::new(self.latitude?, self.longitude?)
    }
}

/// Both or neither, each in range.
fn coordinates(
    latitude: Option<f64>,
    longitude: Option<f64>,
) -> Result<Option<Coordinates>, LocationError> {
    match (latitude, longitude) {
        (None, None) => Ok(None),
        (Some(lat), Some(lon)) => Coordinates::new(lat, lon)
            .map(Some)
            .ok_or(LocationError::InvalidCoordinates),
        _ => Err(LocationError::UnpairedCoordinates),
    }
}

impl NewLocation {
    pub(crate) fn validate(&self) -> Result<Fields, LocationError> {
        Ok(Fields {
            name: text_field("name", &self.name, 1, 100)?,
            line1: address("line1", self.line1.as_ref(), 255)?.unwrap_or_default(),
            line2: address("line2", self.line2.as_ref(), 255)?.unwrap_or_default(),
            city: address("city", self.city.as_ref(), 255)?.unwrap_or_default(),
            region: address("region", self.region.as_ref(), 255)?.unwrap_or_default(),
            postal_code: address("postal_code", self.postal_code.as_ref(), 32)?.unwrap_or_default(),
            country: country(self.country.as_ref())?.flatten(),
            coordinates: coordinates(self.latitude, self.longitude)?,
            priority: self.priority.map(check_priority).transpose()?.unwrap_or(0),
            active: self.active.unwrap_or(true),
        })
    }
}

impl LocationPatch {
    pub(crate) fn apply(&self, current: &Location) -> Result<Fields, LocationError> {
        Ok(Fields {
            name: match &self.name {
                Some(n) => text_field("name", n, 1, 100)?,
                None => current.name.clone(),
            },
            line1: address("line1", self.line1.as_ref(), 255)?
                .unwrap_or_else(|| current.line1.clone()),
            line2: address("line2", self.line2.as_ref(), 255)?
                .unwrap_or_else(|| current.line2.clone()),
            city: address("city", self.city.as_ref(), 255)?.unwrap_or_else(|| current.city.clone()),
            region: address("region", self.region.as_ref(), 255)?
                .unwrap_or_else(|| current.region.clone()),
            postal_code: address("postal_code", self.postal_code.as_ref(), 32)?
                .unwrap_or_else(|| current.postal_code.clone()),
            country: country(self.country.as_ref())?.unwrap_or_else(|| current.country.clone()),
            coordinates: coordinates(self.latitude, self.longitude)?
                .or_else(|| current.coordinates()),
            priority: self
                .priority
                .map(check_priority)
                .transpose()?
                .unwrap_or(current.priority),
            active: self.active.unwrap_or(current.active),
        })
    }
}

/// `422 unknown_location`.
pub(crate) fn unknown(location: LocationId) -> LocationError {
    LocationError::Unknown(location)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocation_takes_locations_in_order_and_splits() {
        let (a, b, c) = (LocationId::new(), LocationId::new(), LocationId::new());
        let locs = [(a, 2), (b, 0), (c, 5)];
        assert_eq!(allocate(1, &locs), Some(vec![(a, 1)]));
        assert_eq!(allocate(2, &locs), Some(vec![(a, 2)]));
        assert_eq!(allocate(4, &locs), Some(vec![(a, 2), (c, 2)]));
        assert_eq!(allocate(7, &locs), Some(vec![(a, 2), (c, 5)]));
        assert_eq!(allocate(8, &locs), None);
        assert_eq!(allocate(0, &locs), None);
        assert_eq!(allocate(1, &[]), None);
        assert_eq!(allocate(1, &[(a, -3), (b, 1)]), Some(vec![(b, 1)]));
    }

    #[test]
    fn changes_never_go_below_zero_or_reserved() {
        assert_eq!(apply(10, 3, StockOp::Set(4)), Ok((4, -6)));
        assert_eq!(apply(10, 3, StockOp::Set(3)), Ok((3, -7)));
        assert_eq!(
            apply(10, 3, StockOp::Set(2)),
            Err(StockRefusal::BelowReserved { reserved: 3 })
        );
        assert_eq!(apply(10, 3, StockOp::Adjust(5)), Ok((15, 5)));
        assert_eq!(apply(10, 3, StockOp::Adjust(-7)), Ok((3, -7)));
        assert_eq!(
            apply(10, 3, StockOp::Adjust(-8)),
            Err(StockRefusal::BelowReserved { reserved: 3 })
        );
        assert_eq!(
            apply(10, 0, StockOp::Adjust(-11)),
            Err(StockRefusal::Negative)
        );
        assert_eq!(apply(0, 0, StockOp::Set(-1)), Err(StockRefusal::Negative));
        assert_eq!(
            apply(MAX_ON_HAND, 0, StockOp::Adjust(1)),
            Err(StockRefusal::TooMany)
        );
        assert_eq!(
            apply(1, 0, StockOp::Adjust(i32::MAX)),
            Err(StockRefusal::TooMany)
        );
    }

    #[test]
    fn countries_are_iso_alpha_2() {
        assert_eq!(parse_country("us").ok(), Some("US".into()));
        assert_eq!(parse_country(" DE ").ok(), Some("DE".into()));
        for bad in ["USA", "ZZ", "", "1X", "U"] {
            assert_eq!(
                parse_country(bad),
                Err(LocationError::InvalidCountry),
                "{bad}"
            );
        }
        assert_eq!(COUNTRIES.split_whitespace().count(), 249);
    }

    #[test]
    fn text_fields_are_trimmed_and_bounded() {
        assert_eq!(
            text_field("name", "  Depot ", 1, 5).ok(),
            Some("Depot".into())
        );
        let name = Err(LocationError::TextLength {
            field: "name",
            min: 1,
            max: 5,
        });
        assert_eq!(text_field("name", "   ", 1, 5), name);
        assert_eq!(text_field("name", "abcdef", 1, 5), name);
        assert_eq!(text_field("line2", "", 0, 5).ok(), Some(String::new()));
        assert_eq!(check_priority(-1), Err(LocationError::PriorityOutOfRange));
        assert_eq!(
            check_priority(1_000_001),
            Err(LocationError::PriorityOutOfRange)
        );
        assert_eq!(check_priority(7).ok(), Some(7));
    }

    #[test]
    fn only_the_last_active_location_cannot_be_deactivated() {
        assert_eq!(
            check_deactivation(true, false, false),
            Err(LocationError::LastActive)
        );
        assert_eq!(check_deactivation(true, false, true), Ok(()));
        assert_eq!(check_deactivation(false, false, false), Ok(()));
        assert_eq!(check_deactivation(true, true, false), Ok(()));
    }

    #[test]
    fn badges_follow_available_units() {
        let at = |on_hand, reserved| Level::new(on_hand, reserved, 3);
        assert_eq!(at(0, 0).badge(), Badge::SoldOut);
        assert_eq!(at(1, 0).badge(), Badge::Low);
        assert_eq!(at(3, 0).badge(), Badge::Low);
        assert_eq!(at(4, 0).badge(), Badge::InStock);
        assert_eq!(at(10, 7).badge(), Badge::Low);
        assert_eq!(at(10, 10).badge(), Badge::SoldOut);
        assert_eq!(at(10, 10).available, 0);
        assert_eq!(Level::NONE.badge(), Badge::SoldOut);
    }
}
