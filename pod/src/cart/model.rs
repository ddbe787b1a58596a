//! The cart's rules as plain functions over plain data: guest tokens,
//! quantity limits, the guest-to-customer merge, and what changed since a
//! shopper added a line. No I/O here.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use hex::encode as to_hex;
use mercato_tenants::{CartId, Currency, CustomerId, Money, ProductId, VariantId};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::catalog::VariantSnapshot;
use crate::discounts::CartDiscounts;
use crate::inventory::Level;

/// Why the cart refuses something. The text is what the shopper is told;
/// the code it is served with is chosen in `cart/error.rs`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CartError {
    /// A guest token without the exact shape of one.
    #[error("malformed cart token")]
    MalformedToken,
    /// No active cart for the token or customer.
    #[error("cart not found")]
    NoCart,
    /// The cart has no line of the variant.
    #[error("cart line not found")]
    NoLine,
    /// A quantity to add of 0 or less, or a quantity to set below 0.
    #[error("quantity must be a whole number above 0")]
    InvalidQuantity,
    /// A line would hold more units than the per-line limit.
    #[error("a line holds at most {max} units")]
    TooManyUnits { max: i32 },
    /// A new line in a cart that has the most lines it may.
    #[error("a cart holds at most {max} lines")]
    TooManyLines { max: usize },
    /// No variant of that id in the store.
    #[error("no such variant in this store")]
    UnknownVariant,
    /// The variant's product is not for sale.
    #[error("this variant's product is not for sale")]
    NotForSale,
    /// The variant is priced in another currency than the cart.
    #[error("this variant is priced in {priced_in}, the cart in {cart}")]
    WrongCurrency { priced_in: Currency, cart: Currency },
}

const TOKEN_PREFIX: &str = "ct_";
const SECRET_LEN: usize = 32;

/// Decodes lower-case hex only, so a token has exactly one spelling.
fn from_hex(s: &str) -> Option<Vec<u8>> {
    if s.bytes().any(|b| b.is_ascii_uppercase()) {
        return None;
    }
    hex::decode(s).ok()
}

/// A guest's proof of owning a cart: `ct_<cart id, 32 hex>_<secret, 64 hex>`.
/// Only the sha256 of the secret is stored.
pub struct CartToken {
    cart: CartId,
    secret: [u8; SECRET_LEN],
}

impl std::fmt::Debug for CartToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CartToken")
            .field("cart", &self.cart)
            .finish_non_exhaustive()
    }
}

impl CartToken {
    /// A new token for `cart`: 32 bytes from the operating system's CSPRNG
    /// (two v4 UUIDs, 244 random bits).
    pub fn generate(cart: CartId) -> Self {
        let mut secret = [0u8; SECRET_LEN];
        secret[..16].copy_from_slice(Uuid::new_v4().as_bytes());
        secret[16..].copy_from_slice(Uuid::new_v4().as_bytes());
        Self { cart, secret }
    }

    /// Parses a token a client sent: [`CartError::MalformedToken`] unless it
    /// has the exact shape of one.
    pub fn parse(raw: &str) -> Result<Self, CartError> {
        let malformed = || CartError::MalformedToken;
        let rest = raw.strip_prefix(TOKEN_PREFIX).ok_or_else(malformed)?;
        let (id, secret) = rest.split_once('_').ok_or_else(malformed)?;
        if id.len() != 32 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(malformed());
        }
        let cart = CartId::from_uuid(Uuid::try_parse(id).map_err(|_| malformed())?);
        let secret: [u8; SECRET_LEN] = from_hex(secret)
            .and_then(|v| v.try_into().ok())
            .ok_or_else(malformed)?;
        Ok(Self { cart, secret })
    }

    pub fn cart(&self) -> CartId {
        self.cart
    }

    pub fn hash(&self) -> TokenHash {
        TokenHash(Sha256::digest(self.secret).into())
    }

    /// The token as the client keeps it.
    pub fn expose(&self) -> String {
        format!(
            "{TOKEN_PREFIX}{}_{}",
            self.cart.as_uuid().simple(),
            to_hex(self.secret)
        )
    }
}

/// The sha256 of a guest token's secret.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct TokenHash(pub [u8; 32]);

impl std::fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenHash(..)")
    }
}

impl TokenHash {
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        bytes.try_into().ok().map(Self)
    }

    /// Compares without an early exit.
    pub fn matches(&self, other: &TokenHash) -> bool {
        self.0
            .iter()
            .zip(other.0.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
    }
}

impl Serialize for TokenHash {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&to_hex(self.0))
    }
}

impl<'de> Deserialize<'de> for TokenHash {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        from_hex(&raw)
            .and_then(|v| Self::from_slice(&v))
            .ok_or_else(|| serde::de::Error::custom("bad token hash"))
    }
}

/// Whose cart it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Owner {
    Guest { token_hash: TokenHash },
    Customer { customer_id: CustomerId },
}

/// One variant in a cart, with what the shopper saw when adding it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Line {
    pub variant_id: VariantId,
    pub product_id: ProductId,
    pub sku: String,
    pub title: String,
    pub variant_title: String,
    pub quantity: i32,
    pub unit_price: Money,
    pub added_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Line {
    /// A line for `quantity` of the variant as it is now.
    pub fn from_snapshot(v: &VariantSnapshot, quantity: i32, now: DateTime<Utc>) -> Self {
        Self {
            variant_id: v.variant_id,
            product_id: v.product_id,
            sku: v.sku.clone(),
            title: v.product_title.clone(),
            variant_title: v.variant_title.clone(),
            quantity,
            unit_price: v.price,
            added_at: now,
            updated_at: now,
        }
    }
}

/// An active cart as Postgres holds it (and Redis copies it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CartRecord {
    pub id: CartId,
    pub owner: Owner,
    pub currency: Currency,
    /// Grows with every change.
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Discount codes entered, upper case, in the order entered.
    #[serde(default)]
    pub discount_codes: Vec<String>,
    /// A guest's email, once given (reminders, per-customer discount
    /// limits).
    #[serde(default)]
    pub email: Option<String>,
    /// In the order they were first added.
    #[serde(default, skip_serializing)]
    pub lines: Vec<Line>,
}

/// Orders lines as they are shown: oldest first.
pub fn sort_lines(lines: &mut [Line]) {
    lines.sort_by_key(|l| (l.added_at, l.variant_id));
}

/// The configured limits of one cart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_line_quantity: i32,
    pub max_lines: usize,
}

impl Limits {
    pub fn new(max_line_quantity: i64, max_lines: usize) -> Self {
        Self {
            max_line_quantity: max_line_quantity.clamp(1, i64::from(i32::MAX)) as i32,
            max_lines: max_lines.max(1),
        }
    }
}

fn too_many(limits: Limits) -> CartError {
    CartError::TooManyUnits {
        max: limits.max_line_quantity,
    }
}

/// Checks a quantity to add before anything is read: above 0.
pub fn check_add_quantity(quantity: i64) -> Result<(), CartError> {
    if quantity <= 0 {
        return Err(CartError::InvalidQuantity);
    }
    Ok(())
}

/// Adding `quantity` of `variant`: the line's new quantity (added to the
/// existing line of the same variant), or why not.
pub fn plan_add(
    lines: &[Line],
    variant: VariantId,
    quantity: i64,
    limits: Limits,
) -> Result<i32, CartError> {
    check_add_quantity(quantity)?;
    let existing = lines.iter().find(|l| l.variant_id == variant);
    if existing.is_none() && lines.len() >= limits.max_lines {
        return Err(CartError::TooManyLines {
            max: limits.max_lines,
        });
    }
    let total = existing
        .map_or(0, |l| i64::from(l.quantity))
        .saturating_add(quantity);
    if total > i64::from(limits.max_line_quantity) {
        return Err(too_many(limits));
    }
    i32::try_from(total).map_err(|_| too_many(limits))
}

/// What setting a line's quantity does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetQuantity {
    Set(i32),
    /// Quantity 0 removes the line.
    Remove,
}

/// Setting a line's quantity: 0 removes the line, below 0 is
/// [`CartError::InvalidQuantity`], above the per-line limit
/// [`CartError::TooManyUnits`].
pub fn plan_set(quantity: i64, limits: Limits) -> Result<SetQuantity, CartError> {
    match quantity {
        q if q < 0 => Err(CartError::InvalidQuantity),
        0 => Ok(SetQuantity::Remove),
        q if q > i64::from(limits.max_line_quantity) => Err(too_many(limits)),
        q => i32::try_from(q)
            .map(SetQuantity::Set)
            .map_err(|_| too_many(limits)),
    }
}

/// Whether the cart can take more of the variant as it is now: for sale,
/// and priced in the cart's currency.
pub fn purchasable(v: &VariantSnapshot, currency: Currency) -> Result<(), CartError> {
    if !v.purchasable {
        return Err(CartError::NotForSale);
    }
    if v.price.currency != currency {
        return Err(CartError::WrongCurrency {
            priced_in: v.price.currency,
            cart: currency,
        });
    }
    Ok(())
}

/// The outcome of merging a guest's lines into a customer's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Merged {
    pub lines: Vec<Line>,
    /// Variants whose summed quantity was cut to the per-line limit.
    pub capped: Vec<VariantId>,
    /// Guest lines left out because the cart was full.
    pub left_behind: Vec<VariantId>,
}

/// Merges `guest` lines into `customer` lines: the same variant adds up,
/// capped at the per-line limit, keeping the price and titles of whichever
/// line changed last; other guest lines are appended in order while the
/// cart has room.
pub fn merge_lines(customer: &[Line], guest: &[Line], limits: Limits) -> Merged {
    let mut lines: Vec<Line> = customer.to_vec();
    let mut capped = Vec::new();
    let mut left_behind = Vec::new();
    for g in guest {
        if let Some(c) = lines.iter_mut().find(|l| l.variant_id == g.variant_id) {
            let sum = i64::from(c.quantity) + i64::from(g.quantity);
            let max = i64::from(limits.max_line_quantity);
            if sum > max {
                capped.push(g.variant_id);
            }
            let quantity = sum.min(max) as i32;
            let added_at = c.added_at.min(g.added_at);
            if g.updated_at > c.updated_at {
                *c = g.clone();
            }
            c.quantity = quantity;
            c.added_at = added_at;
        } else if lines.len() < limits.max_lines {
            let mut g = g.clone();
            g.quantity = g.quantity.min(limits.max_line_quantity);
            lines.push(g);
        } else {
            left_behind.push(g.variant_id);
        }
    }
    sort_lines(&mut lines);
    Merged {
        lines,
        capped,
        left_behind,
    }
}

/// Something that changed about a line since the shopper added it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum LineIssue {
    /// The variant's price is not the one the shopper saw.
    PriceChanged { old: Money, new: Money },
    /// The variant was deleted, or its product is no longer active.
    Unavailable,
    /// Fewer units on hand than the line asks for.
    InsufficientStock { requested: i32, available: i32 },
}

/// One line as the shopper sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct CartLine {
    pub variant_id: VariantId,
    pub product_id: ProductId,
    pub sku: String,
    /// The product's title.
    pub title: String,
    pub variant_title: String,
    pub quantity: i32,
    /// The price the shopper saw when adding; the line keeps it.
    pub unit_price: Money,
    /// The variant's price now; null if the variant was deleted.
    pub current_price: Option<Money>,
    /// `unit_price` times `quantity`.
    pub line_total: Money,
    pub issues: Vec<LineIssue>,
}

/// A cart as the API returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Cart {
    pub id: CartId,
    pub currency: Currency,
    pub lines: Vec<CartLine>,
    /// Sum of the line totals (at the prices the shopper saw).
    pub subtotal: Money,
    /// Units over all lines.
    pub item_count: i64,
    /// Lines with at least one issue.
    pub issues_count: usize,
    pub updated_at: DateTime<Utc>,
    /// An untouched cart lives until then; every change extends it.
    pub expires_at: DateTime<Utc>,
    /// The discounts the cart gets now (at the catalog's prices now, as
    /// the checkout will price it) and the entered codes that do not
    /// apply, with why.
    pub discounts: CartDiscounts,
}

/// What changed since the shopper added `line`, given the variant as it is
/// now (`None`: deleted) and its stock.
pub fn line_issues(
    line: &Line,
    now: Option<&VariantSnapshot>,
    level: Option<Level>,
) -> Vec<LineIssue> {
    let Some(v) = now.filter(|v| v.purchasable) else {
        return vec![LineIssue::Unavailable];
    };
    let mut issues = Vec::new();
    if v.price != line.unit_price {
        issues.push(LineIssue::PriceChanged {
            old: line.unit_price,
            new: v.price,
        });
    }
    let available = level.unwrap_or(Level::NONE).available.max(0);
    if line.quantity > available {
        issues.push(LineIssue::InsufficientStock {
            requested: line.quantity,
            available,
        });
    }
    issues
}

/// The cart a shopper sees: each line checked against the catalog and stock
/// as they are now.
pub fn view(
    cart: &CartRecord,
    variants: &HashMap<VariantId, VariantSnapshot>,
    levels: &HashMap<VariantId, Level>,
    ttl_secs: u64,
) -> Cart {
    let mut subtotal: i64 = 0;
    let mut item_count: i64 = 0;
    let lines: Vec<CartLine> = cart
        .lines
        .iter()
        .map(|line| {
            let now = variants.get(&line.variant_id);
            let issues = line_issues(line, now, levels.get(&line.variant_id).copied());
            let total = line
                .unit_price
                .minor
                .saturating_mul(i64::from(line.quantity));
            if line.unit_price.currency == cart.currency {
                subtotal = subtotal.saturating_add(total);
            }
            item_count += i64::from(line.quantity);
            CartLine {
                variant_id: line.variant_id,
                product_id: now.map_or(line.product_id, |v| v.product_id),
                sku: now.map_or_else(|| line.sku.clone(), |v| v.sku.clone()),
                title: now.map_or_else(|| line.title.clone(), |v| v.product_title.clone()),
                variant_title: now
                    .map_or_else(|| line.variant_title.clone(), |v| v.variant_title.clone()),
                quantity: line.quantity,
                unit_price: line.unit_price,
                current_price: now.map(|v| v.price),
                line_total: Money::new(total, line.unit_price.currency),
                issues,
            }
        })
        .collect();
    // Capped at a century, so the arithmetic cannot overflow.
    let ttl = chrono::Duration::seconds(i64::try_from(ttl_secs.min(3_153_600_000)).unwrap_or(0));
    Cart {
        id: cart.id,
        currency: cart.currency,
        issues_count: lines.iter().filter(|l| !l.issues.is_empty()).count(),
        lines,
        subtotal: Money::new(subtotal, cart.currency),
        item_count,
        updated_at: cart.updated_at,
        expires_at: cart.updated_at + ttl,
        discounts: CartDiscounts::none(cart.currency, &cart.discount_codes),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const USD: Currency = Currency::USD;

    fn limits() -> Limits {
        Limits::new(10, 3)
    }

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + secs, 0).expect("valid time")
    }

    fn line(variant: VariantId, quantity: i32, price: i64, changed: i64) -> Line {
        Line {
            variant_id: variant,
            product_id: ProductId::from_uuid(Uuid::nil()),
            sku: format!("SKU-{price}"),
            title: "Tee".into(),
            variant_title: String::new(),
            quantity,
            unit_price: Money::new(price, USD),
            added_at: at(changed),
            updated_at: at(changed),
        }
    }

    fn snapshot(variant: VariantId, price: i64, purchasable: bool) -> VariantSnapshot {
        VariantSnapshot {
            variant_id: variant,
            product_id: ProductId::from_uuid(Uuid::nil()),
            product_title: "Tee".into(),
            variant_title: "M".into(),
            sku: "TEE-M".into(),
            price: Money::new(price, USD),
            purchasable,
        }
    }

    fn refusal(r: Result<impl std::fmt::Debug, CartError>) -> CartError {
        r.expect_err("an error")
    }

    #[test]
    fn tokens_round_trip_and_malformed_ones_are_refused() {
        let cart = CartId::new();
        let token = CartToken::generate(cart);
        let raw = token.expose();
        assert!(raw.starts_with("ct_"));
        assert_eq!(raw.len(), 3 + 32 + 1 + 64);
        let parsed = CartToken::parse(&raw).expect("parses");
        assert_eq!(parsed.cart(), cart);
        assert!(parsed.hash().matches(&token.hash()));
        assert!(!CartToken::generate(cart).hash().matches(&token.hash()));
        for bad in [
            "",
            "ct_",
            "xx_0190",
            &raw[..raw.len() - 1],
            &format!("{raw}0"),
            &raw.replace("ct_", "CT_"),
            &raw.to_uppercase(),
            &format!("ct_{}_{}", cart, "a".repeat(64)),
            &format!("ct_{}_{}", cart.as_uuid().simple(), "g".repeat(64)),
            // One spelling: upper-case hex is refused.
            &format!("ct_{}_{}", cart.as_uuid().simple(), "A".repeat(64)),
        ] {
            assert_eq!(
                CartToken::parse(bad).map(|_| ()).expect_err(bad),
                CartError::MalformedToken,
                "{bad}"
            );
        }
    }

    #[test]
    fn token_hash_serializes_as_hex() {
        let h = CartToken::generate(CartId::new()).hash();
        let json = serde_json::to_string(&h).expect("json");
        assert_eq!(json.len(), 66);
        let back: TokenHash = serde_json::from_str(&json).expect("back");
        assert!(back.matches(&h));
    }

    #[test]
    fn adding_checks_quantity_and_limits() {
        let (a, b, c, d) = (
            VariantId::new(),
            VariantId::new(),
            VariantId::new(),
            VariantId::new(),
        );
        let lines = vec![line(a, 4, 100, 0), line(b, 1, 100, 1)];
        let units = CartError::TooManyUnits { max: 10 };
        assert_eq!(plan_add(&lines, a, 6, limits()).expect("fits"), 10);
        assert_eq!(refusal(plan_add(&lines, a, 7, limits())), units);
        assert_eq!(plan_add(&lines, c, 10, limits()).expect("new line"), 10);
        assert_eq!(refusal(plan_add(&lines, c, 11, limits())), units);
        assert_eq!(
            refusal(plan_add(&lines, c, 0, limits())),
            CartError::InvalidQuantity
        );
        assert_eq!(
            refusal(plan_add(&lines, a, -1, limits())),
            CartError::InvalidQuantity
        );
        assert_eq!(refusal(plan_add(&lines, a, i64::MAX, limits())), units);
        let full = vec![line(a, 1, 1, 0), line(b, 1, 1, 1), line(c, 1, 1, 2)];
        assert_eq!(
            refusal(plan_add(&full, d, 1, limits())),
            CartError::TooManyLines { max: 3 }
        );
        assert_eq!(plan_add(&full, c, 1, limits()).expect("existing line"), 2);
    }

    #[test]
    fn setting_zero_removes_negative_is_refused() {
        assert_eq!(plan_set(0, limits()).expect("ok"), SetQuantity::Remove);
        assert_eq!(plan_set(10, limits()).expect("ok"), SetQuantity::Set(10));
        assert_eq!(refusal(plan_set(-1, limits())), CartError::InvalidQuantity);
        assert_eq!(
            refusal(plan_set(11, limits())),
            CartError::TooManyUnits { max: 10 }
        );
        assert_eq!(
            refusal(plan_set(i64::MAX, limits())),
            CartError::TooManyUnits { max: 10 }
        );
    }

    #[test]
    fn a_variant_is_purchasable_for_sale_and_in_the_carts_currency() {
        let v = VariantId::new();
        assert_eq!(purchasable(&snapshot(v, 100, true), USD), Ok(()));
        assert_eq!(
            purchasable(&snapshot(v, 100, false), USD),
            Err(CartError::NotForSale)
        );
        let eur = Currency::parse("EUR").expect("valid");
        assert_eq!(
            purchasable(&snapshot(v, 100, true), eur),
            Err(CartError::WrongCurrency {
                priced_in: USD,
                cart: eur
            })
        );
    }

    #[test]
    fn merge_adds_same_variants_capped_and_appends_the_rest_while_room() {
        let (a, b, c, d) = (
            VariantId::new(),
            VariantId::new(),
            VariantId::new(),
            VariantId::new(),
        );
        let customer = vec![line(a, 7, 100, 0), line(b, 2, 200, 1)];
        // a: 7 + 5 capped to 10; b: 2 + 3 = 5 and the guest's newer price
        // wins; c fits; d does not (3 lines at most).
        let guest = vec![
            line(a, 5, 100, 2),
            line(b, 3, 250, 3),
            line(c, 1, 300, 4),
            line(d, 1, 400, 5),
        ];
        let merged = merge_lines(&customer, &guest, limits());
        let got: Vec<(VariantId, i32, i64)> = merged
            .lines
            .iter()
            .map(|l| (l.variant_id, l.quantity, l.unit_price.minor))
            .collect();
        assert_eq!(got, vec![(a, 10, 100), (b, 5, 250), (c, 1, 300)]);
        assert_eq!(merged.capped, vec![a]);
        assert_eq!(merged.left_behind, vec![d]);
        // The merged line keeps its first added time, so its place.
        assert_eq!(merged.lines[1].added_at, at(1));
    }

    #[test]
    fn merge_into_an_empty_cart_copies_the_guest_lines() {
        let (a, b) = (VariantId::new(), VariantId::new());
        let guest = vec![line(a, 2, 100, 0), line(b, 1, 200, 1)];
        let merged = merge_lines(&[], &guest, limits());
        assert_eq!(merged.lines, guest);
        assert!(merged.capped.is_empty() && merged.left_behind.is_empty());
        // An older customer line keeps its own price.
        let customer = vec![line(a, 1, 90, 5)];
        let merged = merge_lines(&customer, &guest, limits());
        assert_eq!(
            (merged.lines[0].quantity, merged.lines[0].unit_price.minor),
            (3, 90)
        );
    }

    #[test]
    fn issues_report_price_availability_and_stock() {
        let v = VariantId::new();
        let l = line(v, 3, 100, 0);
        let stock = |available| Some(Level::new(available + 2, 2, 1));
        assert!(line_issues(&l, Some(&snapshot(v, 100, true)), stock(3)).is_empty());
        assert_eq!(
            line_issues(&l, Some(&snapshot(v, 120, true)), stock(2)),
            vec![
                LineIssue::PriceChanged {
                    old: Money::new(100, USD),
                    new: Money::new(120, USD)
                },
                LineIssue::InsufficientStock {
                    requested: 3,
                    available: 2
                }
            ]
        );
        assert_eq!(
            line_issues(&l, Some(&snapshot(v, 100, true)), None),
            vec![LineIssue::InsufficientStock {
                requested: 3,
                available: 0
            }]
        );
        assert_eq!(
            line_issues(&l, Some(&snapshot(v, 120, false)), stock(0)),
            vec![LineIssue::Unavailable]
        );
        assert_eq!(line_issues(&l, None, None), vec![LineIssue::Unavailable]);
    }

    #[test]
    fn view_keeps_the_seen_price_and_sums_it() {
        let (a, b) = (VariantId::new(), VariantId::new());
        let cart = CartRecord {
            id: CartId::new(),
            owner: Owner::Customer {
                customer_id: CustomerId::new(),
            },
            currency: USD,
            version: 3,
            created_at: at(0),
            updated_at: at(10),
            discount_codes: Vec::new(),
            email: None,
            lines: vec![line(a, 2, 150, 0), line(b, 1, 999, 1)],
        };
        let variants = HashMap::from([(a, snapshot(a, 200, true))]);
        let levels = HashMap::from([(a, Level::new(5, 0, 1))]);
        let v = view(&cart, &variants, &levels, 60);
        assert_eq!(v.subtotal, Money::new(2 * 150 + 999, USD));
        assert_eq!(v.item_count, 3);
        assert_eq!(v.issues_count, 2);
        assert_eq!(v.lines[0].line_total, Money::new(300, USD));
        assert_eq!(v.lines[0].current_price, Some(Money::new(200, USD)));
        assert_eq!(v.lines[0].variant_title, "M");
        assert_eq!(v.lines[1].current_price, None);
        assert_eq!(v.lines[1].issues, vec![LineIssue::Unavailable]);
        assert_eq!(v.expires_at, at(70));
    }
}
