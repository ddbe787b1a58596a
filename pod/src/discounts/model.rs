//! What discounts a cart gets, pure: no I/O, property-tested here.
//!
//! A [`Discount`] is a code a shopper enters (matched without case) or an
//! automatic one. Its [`Kind`] says what it takes off: a percentage or an
//! amount off the order, off chosen items (products, variants,
//! collections), free shipping, or buy X get Y. Its [`Conditions`] say when
//! it applies. Its class ([`Class`]: order, product, shipping) and what it
//! [`CombinesWith`] decide which discounts may apply together: two apply
//! together only when each allows the other's class.
//!
//! [`decide`] takes the cart as the checkout prices it ([`CartView`]) and
//! the candidates (the automatic discounts and the codes entered, with
//! their uses so far), refuses those whose conditions fail with a stable
//! [`Refusal`], and applies the allowed combination that saves the shopper
//! most. Product discounts apply first, line by line; order discounts then
//! apply to what the lines cost after them, allocated back over the lines
//! in proportion (largest remainder, so the parts add up exactly: a return
//! refunds the discounted price of its line); shipping discounts apply to
//! the shipping price. No discount takes a line, the order or the shipping
//! below zero.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use mercato_tenants::{CollectionId, CustomerId, DiscountId, ProductId, VariantId};
use serde::{Deserialize, Serialize};

/// 100 % in basis points.
pub const FULL_BP: u32 = 10_000;
/// The most candidates [`decide`] weighs together exactly; more (a store
/// with many automatic discounts) keep the most valuable alone first.
pub const MAX_EXACT: usize = 12;

pub use crate::orders::DiscountClass as Class;

/// The classes a discount may apply together with (each `false` when not
/// named).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CombinesWith {
    pub order: bool,
    pub product: bool,
    pub shipping: bool,
}

impl CombinesWith {
    pub const fn allows(self, class: Class) -> bool {
        match class {
            Class::Order => self.order,
            Class::Product => self.product,
            Class::Shipping => self.shipping,
        }
    }
}

/// How much comes off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type", content = "value")]
pub enum Value {
    /// Basis points of the price, 1 to 10,000 (100 %).
    Percentage(u32),
    /// Minor units of the store's currency.
    Amount(i64),
}

/// Which items a discount is about: any line whose product, variant or one
/// of whose collections is named.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Items {
    #[serde(default)]
    pub products: Vec<ProductId>,
    #[serde(default)]
    pub variants: Vec<VariantId>,
    #[serde(default)]
    pub collections: Vec<CollectionId>,
}

impl Items {
    pub fn matches(&self, line: &LineView) -> bool {
        self.products.contains(&line.product_id)
            || self.variants.contains(&line.variant_id)
            || line
                .collections
                .iter()
                .any(|c| self.collections.contains(c))
    }

    pub fn is_empty(&self) -> bool {
        self.products.is_empty() && self.variants.is_empty() && self.collections.is_empty()
    }
}

/// What a discount takes off.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Kind {
    /// Off the order: what its lines cost after product discounts.
    Order { value: Value },
    /// Off each matching line: a percentage of it, or an amount off each
    /// of its units.
    Products { value: Value, items: Items },
    /// The shipping price, for addresses in `countries` (any when empty)
    /// and shipping prices up to `max_shipping_minor`.
    FreeShipping {
        #[serde(default)]
        countries: Vec<String>,
        max_shipping_minor: Option<i64>,
    },
    /// For every `buy_quantity` units of `buy`, `get_quantity` units of
    /// `get` (other units, the cheapest first) at `percent_bp` off, at
    /// most `max_per_order` times per order.
    BuyXGetY {
        buy: Items,
        buy_quantity: u32,
        get: Items,
        get_quantity: u32,
        percent_bp: u32,
        max_per_order: Option<u32>,
    },
}

impl Kind {
    pub const fn class(&self) -> Class {
        match self {
            Self::Order { .. } => Class::Order,
            Self::Products { .. } | Self::BuyXGetY { .. } => Class::Product,
            Self::FreeShipping { .. } => Class::Shipping,
        }
    }
}

/// Who may use a discount.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type", content = "ids")]
pub enum Customers {
    #[default]
    Anyone,
    /// Signed-in customers only.
    SignedIn,
    /// These customers only (signed in).
    Only(Vec<CustomerId>),
}

/// When a discount applies.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conditions {
    pub min_subtotal_minor: Option<i64>,
    pub min_quantity: Option<u32>,
    pub starts_at: Option<DateTime<Utc>>,
    pub ends_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub customers: Customers,
    /// Only a shopper's first order (no order before by this customer, or
    /// by this email for a guest).
    #[serde(default)]
    pub first_order_only: bool,
    /// Uses over all shoppers.
    pub usage_limit: Option<u32>,
    /// Uses per customer (by customer id, or by email for a guest).
    pub per_customer_limit: Option<u32>,
}

/// A discount as the decision needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discount {
    pub id: DiscountId,
    pub title: String,
    /// `None`: automatic.
    pub code: Option<String>,
    pub kind: Kind,
    pub conditions: Conditions,
    pub combines_with: CombinesWith,
}

/// One priced line of the cart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineView {
    pub variant_id: VariantId,
    pub product_id: ProductId,
    pub collections: Vec<CollectionId>,
    pub quantity: u32,
    pub unit_price_minor: i64,
}

impl LineView {
    fn total(&self) -> i64 {
        self.unit_price_minor * i64::from(self.quantity)
    }
}

/// Who is buying.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Shopper {
    pub customer: Option<CustomerId>,
    /// Orders placed before by this customer (or email, for a guest).
    pub orders_before: u32,
}

/// The cart as the checkout prices it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CartView {
    pub lines: Vec<LineView>,
    /// (country, price) once a shipping option is chosen.
    pub shipping: Option<(String, i64)>,
    pub shopper: Shopper,
    pub now: DateTime<Utc>,
}

impl CartView {
    pub fn subtotal(&self) -> i64 {
        self.lines.iter().map(LineView::total).sum()
    }

    pub fn units(&self) -> u32 {
        self.lines.iter().map(|l| l.quantity).sum()
    }
}

/// A discount that may apply, with its uses so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub discount: Discount,
    /// Uses by everyone.
    pub used: u32,
    /// Uses by this shopper.
    pub used_by_shopper: u32,
}

/// Why a discount does not apply; each has a stable code
/// ([`Refusal::code`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "code")]
pub enum Refusal {
    NotStarted,
    Expired,
    /// The subtotal needs `missing_minor` more.
    MinimumNotMet {
        missing_minor: i64,
    },
    /// The cart needs `missing` more units.
    MinimumQuantityNotMet {
        missing: u32,
    },
    UsedUp,
    UsedUpByShopper,
    SignInRequired,
    CustomerNotEligible,
    FirstOrderOnly,
    /// No line of the cart is one it is about.
    NoEligibleItems,
    /// Free shipping for other countries or cheaper shipping, or no
    /// shipping chosen yet.
    ShippingNotEligible,
    /// It does not combine with a discount that saves more.
    NotCombinable {
        with: DiscountId,
    },
}

impl Refusal {
    pub const fn code(&self) -> &'static str {
        match self {
            Self::NotStarted => "discount_not_started",
            Self::Expired => "discount_expired",
            Self::MinimumNotMet { .. } => "discount_minimum_not_met",
            Self::MinimumQuantityNotMet { .. } => "discount_minimum_quantity_not_met",
            Self::UsedUp => "discount_used_up",
            Self::UsedUpByShopper => "discount_used_up_by_shopper",
            Self::SignInRequired => "discount_sign_in_required",
            Self::CustomerNotEligible => "discount_customer_not_eligible",
            Self::FirstOrderOnly => "discount_first_order_only",
            Self::NoEligibleItems => "discount_no_eligible_items",
            Self::ShippingNotEligible => "discount_shipping_not_eligible",
            Self::NotCombinable { .. } => "discount_not_combinable",
        }
    }
}

/// A discount applied to the cart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    pub id: DiscountId,
    pub class: Class,
    /// Off the lines, by line (same order as the cart's lines).
    pub lines_minor: Vec<i64>,
    /// Off the shipping price.
    pub shipping_minor: i64,
}

impl Applied {
    pub fn total(&self) -> i64 {
        self.lines_minor.iter().sum::<i64>() + self.shipping_minor
    }
}

/// What [`decide`] chose.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Decision {
    /// In the order they apply: product, then order, then shipping.
    pub applied: Vec<Applied>,
    pub refused: Vec<(DiscountId, Refusal)>,
    /// Free shipping whose conditions hold while no shipping is chosen
    /// (a cart): it is weighed at checkout, with the shipping price.
    pub at_checkout: Vec<DiscountId>,
}

impl Decision {
    /// Off the lines and the shipping together.
    pub fn total(&self) -> i64 {
        self.applied.iter().map(Applied::total).sum()
    }

    /// Off each line, over every applied discount.
    pub fn per_line(&self, lines: usize) -> Vec<i64> {
        let mut out = vec![0; lines];
        for a in &self.applied {
            for (slot, off) in out.iter_mut().zip(&a.lines_minor) {
                *slot += off;
            }
        }
        out
    }
}

/// `bp` basis points of `amount`, rounded half up.
fn percent_of(amount: i64, bp: u32) -> i64 {
    let bp = i128::from(bp.min(FULL_BP));
    let v = (i128::from(amount.max(0)) * bp + i128::from(FULL_BP) / 2) / i128::from(FULL_BP);
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// Splits `amount` over `weights` in proportion, by largest remainder: the
/// parts add up to `amount` exactly and none passes its weight (when
/// `amount` does not pass their sum).
pub fn allocate(amount: i64, weights: &[i64]) -> Vec<i64> {
    let whole: i128 = weights.iter().map(|w| i128::from((*w).max(0))).sum();
    if whole == 0 || amount <= 0 {
        return vec![0; weights.len()];
    }
    let amount = i128::from(amount).min(whole);
    let mut parts: Vec<i128> = Vec::with_capacity(weights.len());
    let mut rests: Vec<(i128, usize)> = Vec::with_capacity(weights.len());
    for (i, w) in weights.iter().enumerate() {
        let exact = amount * i128::from((*w).max(0));
        parts.push(exact / whole);
        rests.push((exact % whole, i));
    }
    let mut left = amount - parts.iter().sum::<i128>();
    // Largest remainder first; ties to the earlier line.
    rests.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    for (_, i) in rests {
        if left == 0 {
            break;
        }
        if parts[i] < i128::from(weights[i].max(0)) {
            parts[i] += 1;
            left -= 1;
        }
    }
    parts
        .into_iter()
        .map(|p| i64::try_from(p).unwrap_or(0))
        .collect()
}

/// Whether a discount's own conditions hold for the cart (not the
/// combinations): `Err` with the first that fails.
pub fn check(c: &Candidate, cart: &CartView) -> Result<(), Refusal> {
    let cond = &c.discount.conditions;
    if cond.starts_at.is_some_and(|t| cart.now < t) {
        return Err(Refusal::NotStarted);
    }
    if cond.ends_at.is_some_and(|t| cart.now >= t) {
        return Err(Refusal::Expired);
    }
    match &cond.customers {
        Customers::Anyone => {}
        Customers::SignedIn if cart.shopper.customer.is_none() => {
            return Err(Refusal::SignInRequired)
        }
        Customers::SignedIn => {}
        Customers::Only(ids) => match cart.shopper.customer {
            None => return Err(Refusal::SignInRequired),
            Some(id) if !ids.contains(&id) => return Err(Refusal::CustomerNotEligible),
            Some(_) => {}
        },
    }
    if cond.first_order_only && cart.shopper.orders_before > 0 {
        return Err(Refusal::FirstOrderOnly);
    }
    if cond.usage_limit.is_some_and(|n| c.used >= n) {
        return Err(Refusal::UsedUp);
    }
    if cond
        .per_customer_limit
        .is_some_and(|n| c.used_by_shopper >= n)
    {
        return Err(Refusal::UsedUpByShopper);
    }
    if let Some(min) = cond.min_subtotal_minor {
        let subtotal = cart.subtotal();
        if subtotal < min {
            return Err(Refusal::MinimumNotMet {
                missing_minor: min - subtotal,
            });
        }
    }
    if let Some(min) = cond.min_quantity {
        let units = cart.units();
        if units < min {
            return Err(Refusal::MinimumQuantityNotMet {
                missing: min - units,
            });
        }
    }
    match &c.discount.kind {
        Kind::Products { items, .. } if !cart.lines.iter().any(|l| items.matches(l)) => {
            Err(Refusal::NoEligibleItems)
        }
        Kind::BuyXGetY { buy, get, .. }
            if !cart.lines.iter().any(|l| buy.matches(l))
                || !cart.lines.iter().any(|l| get.matches(l)) =>
        {
            Err(Refusal::NoEligibleItems)
        }
        Kind::FreeShipping {
            countries,
            max_shipping_minor,
        } => match &cart.shipping {
            // No shipping chosen yet (a cart): it may apply at checkout.
            None => Ok(()),
            Some((country, price))
                if (countries.is_empty() || countries.iter().any(|c| c == country))
                    && max_shipping_minor.is_none_or(|max| *price <= max) =>
            {
                Ok(())
            }
            Some(_) => Err(Refusal::ShippingNotEligible),
        },
        _ => Ok(()),
    }
}

/// Buy X get Y on lines that cost `left` (per line, after the product
/// discounts before it): what comes off each line.
fn buy_x_get_y(kind: &Kind, cart: &CartView, left: &[i64]) -> Vec<i64> {
    let Kind::BuyXGetY {
        buy,
        buy_quantity,
        get,
        get_quantity,
        percent_bp,
        max_per_order,
    } = kind
    else {
        return vec![0; cart.lines.len()];
    };
    // Every unit, at what it costs now: (price, line).
    let mut units: Vec<(i64, usize)> = Vec::new();
    for (i, l) in cart.lines.iter().enumerate() {
        // The line's price over its units, the odd minor units first.
        let q = i64::from(l.quantity);
        if q == 0 {
            continue;
        }
        let (base, odd) = (left[i].max(0) / q, left[i].max(0) % q);
        units.extend((0..q).map(|u| (base + i64::from(u < odd), i)));
    }
    let mut used = vec![false; units.len()];
    // Buyers pay for the dearest units they qualify with, the cheapest
    // ones come off.
    let mut buyers: Vec<usize> = (0..units.len())
        .filter(|&u| buy.matches(&cart.lines[units[u].1]))
        .collect();
    buyers.sort_by(|a, b| units[*b].0.cmp(&units[*a].0).then(a.cmp(b)));
    let mut gets: Vec<usize> = (0..units.len())
        .filter(|&u| get.matches(&cart.lines[units[u].1]))
        .collect();
    gets.sort_by(|a, b| units[*a].0.cmp(&units[*b].0).then(a.cmp(b)));
    let mut off = vec![0i64; cart.lines.len()];
    let mut times = 0u32;
    let (bq, gq) = (*buy_quantity as usize, *get_quantity as usize);
    if bq == 0 || gq == 0 {
        return off;
    }
    loop {
        if max_per_order.is_some_and(|m| times >= m) {
            break;
        }
        let paid: Vec<usize> = buyers
            .iter()
            .copied()
            .filter(|u| !used[*u])
            .take(bq)
            .collect();
        if paid.len() < bq {
            break;
        }
        for u in &paid {
            used[*u] = true;
        }
        let free: Vec<usize> = gets
            .iter()
            .copied()
            .filter(|u| !used[*u])
            .take(gq)
            .collect();
        if free.len() < gq {
            break;
        }
        for u in free {
            used[u] = true;
            off[units[u].1] += percent_of(units[u].0, *percent_bp);
        }
        times += 1;
    }
    off
}

/// What `discount` takes off lines that cost `left` (per line) and
/// shipping that costs `shipping`.
fn apply_one(discount: &Discount, cart: &CartView, left: &[i64], shipping: i64) -> Applied {
    let n = cart.lines.len();
    let mut lines_minor = vec![0; n];
    let mut shipping_minor = 0;
    match &discount.kind {
        Kind::Products { value, items } => {
            for (i, l) in cart.lines.iter().enumerate() {
                if !items.matches(l) {
                    continue;
                }
                let off = match *value {
                    Value::Percentage(bp) => percent_of(left[i], bp),
                    Value::Amount(each) => each.max(0).saturating_mul(i64::from(l.quantity)),
                };
                lines_minor[i] = off.min(left[i]);
            }
        }
        Kind::BuyXGetY { .. } => {
            let off = buy_x_get_y(&discount.kind, cart, left);
            for i in 0..n {
                lines_minor[i] = off[i].min(left[i]);
            }
        }
        Kind::Order { value } => {
            let base: i64 = left.iter().sum();
            let off = match *value {
                Value::Percentage(bp) => percent_of(base, bp),
                Value::Amount(a) => a.max(0),
            }
            .min(base);
            lines_minor = allocate(off, left);
        }
        Kind::FreeShipping { .. } => shipping_minor = shipping,
    }
    Applied {
        id: discount.id,
        class: discount.kind.class(),
        lines_minor,
        shipping_minor,
    }
}

/// Applies `chosen` together (product, then order, then shipping; in
/// each class in the given order): each one's part.
fn apply_all(chosen: &[&Discount], cart: &CartView) -> Vec<Applied> {
    let mut left: Vec<i64> = cart.lines.iter().map(LineView::total).collect();
    let mut shipping = cart.shipping.as_ref().map_or(0, |s| s.1.max(0));
    let mut out = Vec::with_capacity(chosen.len());
    for class in [Class::Product, Class::Order, Class::Shipping] {
        for d in chosen.iter().filter(|d| d.kind.class() == class) {
            let a = apply_one(d, cart, &left, shipping);
            for (l, off) in left.iter_mut().zip(&a.lines_minor) {
                *l -= off;
            }
            shipping -= a.shipping_minor;
            out.push(a);
        }
    }
    out
}

/// Whether `a` and `b` may apply together.
pub fn combinable(a: &Discount, b: &Discount) -> bool {
    a.combines_with.allows(b.kind.class()) && b.combines_with.allows(a.kind.class())
}

/// The discounts the cart gets (see the module's docs). Entered codes and
/// automatic discounts compete alike; ties go to fewer discounts, then to
/// the candidates' order.
pub fn decide(candidates: &[Candidate], cart: &CartView) -> Decision {
    let mut refused = Vec::new();
    let mut eligible: Vec<&Discount> = Vec::new();
    let mut at_checkout = Vec::new();
    for c in candidates {
        match check(c, cart) {
            Ok(()) if cart.shipping.is_none() && c.discount.kind.class() == Class::Shipping => {
                at_checkout.push(c.discount.id);
            }
            Ok(()) => eligible.push(&c.discount),
            Err(r) => refused.push((c.discount.id, r)),
        }
    }
    // Each one alone; those that save nothing drop out.
    let mut alone: Vec<(i64, &Discount)> = eligible
        .iter()
        .map(|d| (apply_all(&[*d], cart).iter().map(Applied::total).sum(), *d))
        .filter(|(saving, _)| *saving > 0)
        .collect();
    alone.sort_by_key(|a| std::cmp::Reverse(a.0));
    let pool: Vec<&Discount> = alone.iter().take(MAX_EXACT).map(|(_, d)| *d).collect();
    let mut best: (i64, Vec<&Discount>) = (0, Vec::new());
    // Every set of pairwise combinable discounts of the pool.
    for mask in 1u32..(1u32 << pool.len()) {
        let set: Vec<&Discount> = (0..pool.len())
            .filter(|i| mask & (1 << i) != 0)
            .map(|i| pool[i])
            .collect();
        let fits = set
            .iter()
            .enumerate()
            .all(|(i, a)| set[i + 1..].iter().all(|b| combinable(a, b)));
        if !fits {
            continue;
        }
        let saving: i64 = apply_all(&set, cart).iter().map(Applied::total).sum();
        if saving > best.0 || (saving == best.0 && set.len() < best.1.len()) {
            best = (saving, set);
        }
    }
    let chosen: BTreeSet<DiscountId> = best.1.iter().map(|d| d.id).collect();
    for d in &eligible {
        if chosen.contains(&d.id) {
            continue;
        }
        // The chosen one it does not go with, if any; else it saves
        // nothing next to them (or was left out of a long list).
        let with = best
            .1
            .iter()
            .find(|c| !combinable(c, d))
            .or(best.1.first())
            .map(|c| c.id);
        if let Some(with) = with {
            refused.push((d.id, Refusal::NotCombinable { with }));
        } else {
            refused.push((d.id, Refusal::NoEligibleItems));
        }
    }
    Decision {
        applied: apply_all(&best.1, cart),
        refused,
        at_checkout,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn at(day: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + day * 86_400, 0).expect("time")
    }

    fn line(price: i64, quantity: u32) -> LineView {
        LineView {
            variant_id: VariantId::new(),
            product_id: ProductId::new(),
            collections: Vec::new(),
            quantity,
            unit_price_minor: price,
        }
    }

    fn cart(lines: Vec<LineView>) -> CartView {
        CartView {
            lines,
            shipping: Some(("US".into(), 500)),
            shopper: Shopper::default(),
            now: at(0),
        }
    }

    fn discount(kind: Kind, combines: CombinesWith) -> Candidate {
        Candidate {
            discount: Discount {
                id: DiscountId::new(),
                title: "test".into(),
                code: Some("SAVE".into()),
                kind,
                conditions: Conditions::default(),
                combines_with: combines,
            },
            used: 0,
            used_by_shopper: 0,
        }
    }

    const NONE: CombinesWith = CombinesWith {
        order: false,
        product: false,
        shipping: false,
    };
    const ALL: CombinesWith = CombinesWith {
        order: true,
        product: true,
        shipping: true,
    };

    fn pct(bp: u32) -> Kind {
        Kind::Order {
            value: Value::Percentage(bp),
        }
    }

    #[test]
    fn an_order_percentage_is_allocated_over_the_lines_exactly() {
        let c = cart(vec![line(1000, 1), line(333, 3), line(1, 1)]);
        let d = decide(&[discount(pct(1000), NONE)], &c);
        assert_eq!(d.total(), 200);
        let per = d.per_line(3);
        assert_eq!(per.iter().sum::<i64>(), 200);
        assert_eq!(per, vec![100, 100, 0]);
    }

    #[test]
    fn conditions_refuse_with_stable_reasons() {
        let c = cart(vec![line(1000, 2)]);
        let mut d = discount(pct(1000), NONE);
        d.discount.conditions.min_subtotal_minor = Some(2500);
        assert_eq!(
            check(&d, &c),
            Err(Refusal::MinimumNotMet { missing_minor: 500 })
        );
        d.discount.conditions = Conditions {
            ends_at: Some(at(0)),
            ..Default::default()
        };
        assert_eq!(check(&d, &c), Err(Refusal::Expired));
        d.discount.conditions = Conditions {
            starts_at: Some(at(1)),
            ..Default::default()
        };
        assert_eq!(check(&d, &c), Err(Refusal::NotStarted));
        d.discount.conditions = Conditions {
            usage_limit: Some(100),
            ..Default::default()
        };
        d.used = 100;
        assert_eq!(check(&d, &c), Err(Refusal::UsedUp));
        assert_eq!(Refusal::UsedUp.code(), "discount_used_up");
        d.used = 99;
        assert_eq!(check(&d, &c), Ok(()));
        d.discount.conditions = Conditions {
            customers: Customers::SignedIn,
            ..Default::default()
        };
        assert_eq!(check(&d, &c), Err(Refusal::SignInRequired));
        let mut signed = c.clone();
        signed.shopper = Shopper {
            customer: Some(CustomerId::new()),
            orders_before: 1,
        };
        assert_eq!(check(&d, &signed), Ok(()));
        d.discount.conditions = Conditions {
            customers: Customers::Only(vec![CustomerId::new()]),
            ..Default::default()
        };
        assert_eq!(check(&d, &signed), Err(Refusal::CustomerNotEligible));
        d.discount.conditions = Conditions {
            first_order_only: true,
            ..Default::default()
        };
        assert_eq!(check(&d, &signed), Err(Refusal::FirstOrderOnly));
    }

    #[test]
    fn the_best_allowed_combination_wins_and_the_rest_say_why() {
        let tee = line(2000, 2);
        let c = cart(vec![tee.clone(), line(1000, 1)]);
        // 20 % off tees (product), 10 % off the order, free shipping.
        let tees = discount(
            Kind::Products {
                value: Value::Percentage(2000),
                items: Items {
                    variants: vec![tee.variant_id],
                    ..Default::default()
                },
            },
            CombinesWith {
                shipping: true,
                ..NONE
            },
        );
        let order = discount(pct(1000), ALL);
        let ship = discount(
            Kind::FreeShipping {
                countries: vec!["US".into()],
                max_shipping_minor: None,
            },
            ALL,
        );
        // Tees (800) + shipping (500) = 1300 beats order (500) + shipping
        // (500) = 1000; tees and order do not combine.
        let d = decide(&[order.clone(), tees.clone(), ship.clone()], &c);
        let ids: Vec<DiscountId> = d.applied.iter().map(|a| a.id).collect();
        assert_eq!(ids, vec![tees.discount.id, ship.discount.id]);
        assert_eq!(d.total(), 1300);
        assert_eq!(
            d.refused,
            vec![(
                order.discount.id,
                Refusal::NotCombinable {
                    with: tees.discount.id
                }
            )]
        );
        // When they combine, the order discount takes 10 % of what is left.
        let mut both = tees.clone();
        both.discount.combines_with = ALL;
        let d = decide(&[order.clone(), both, ship], &c);
        assert_eq!(d.total(), 800 + 420 + 500);
    }

    #[test]
    fn buy_two_get_one_free_takes_the_cheapest_other_unit() {
        let a = line(1000, 2);
        let b = line(600, 2);
        let items = Items {
            variants: vec![a.variant_id, b.variant_id],
            ..Default::default()
        };
        let c = cart(vec![a, b]);
        let bogo = discount(
            Kind::BuyXGetY {
                buy: items.clone(),
                buy_quantity: 2,
                get: items,
                get_quantity: 1,
                percent_bp: FULL_BP,
                max_per_order: None,
            },
            NONE,
        );
        // Pays for the two 1000s, gets a 600 free; one 600 is left alone.
        let d = decide(&[bogo], &c);
        assert_eq!(d.per_line(2), vec![0, 600]);
    }

    #[test]
    fn free_shipping_needs_its_country_and_price() {
        let mut c = cart(vec![line(1000, 1)]);
        let ship = discount(
            Kind::FreeShipping {
                countries: vec!["FR".into()],
                max_shipping_minor: Some(1000),
            },
            NONE,
        );
        assert_eq!(check(&ship, &c), Err(Refusal::ShippingNotEligible));
        c.shipping = Some(("FR".into(), 1500));
        assert_eq!(check(&ship, &c), Err(Refusal::ShippingNotEligible));
        c.shipping = Some(("FR".into(), 900));
        assert_eq!(decide(std::slice::from_ref(&ship), &c).total(), 900);
        // A cart without shipping yet: weighed at checkout, not refused.
        c.shipping = None;
        let d = decide(std::slice::from_ref(&ship), &c);
        assert_eq!(d.at_checkout, vec![ship.discount.id]);
        assert!(d.refused.is_empty() && d.applied.is_empty());
    }

    fn arb_cart() -> impl Strategy<Value = CartView> {
        proptest::collection::vec((0i64..100_000, 1u32..6), 1..8)
            .prop_map(|ls| cart(ls.into_iter().map(|(p, q)| line(p, q)).collect()))
    }

    fn arb_kind() -> impl Strategy<Value = (u8, u32, i64)> {
        (0u8..4, 1u32..=FULL_BP, 0i64..200_000)
    }

    proptest! {
        /// Allocation adds up exactly and never passes a weight.
        #[test]
        fn allocation_is_exact(amount in 0i64..1_000_000, weights in proptest::collection::vec(0i64..100_000, 0..20)) {
            let parts = allocate(amount, &weights);
            let whole: i64 = weights.iter().sum();
            prop_assert_eq!(parts.iter().sum::<i64>(), amount.min(whole));
            for (p, w) in parts.iter().zip(&weights) {
                prop_assert!(*p >= 0 && p <= w);
            }
        }

        /// Whatever discounts apply, no line and no shipping goes below
        /// zero, and the chosen set saves at least as much as any one
        /// eligible discount alone.
        #[test]
        fn discounts_never_pass_the_price_and_the_best_is_chosen(
            c in arb_cart(),
            kinds in proptest::collection::vec((arb_kind(), any::<bool>()), 1..5),
        ) {
            let candidates: Vec<Candidate> = kinds
                .into_iter()
                .map(|((k, bp, amount), combine)| {
                    let kind = match k {
                        0 => pct(bp),
                        1 => Kind::Order { value: Value::Amount(amount) },
                        2 => Kind::Products {
                            value: if combine { Value::Percentage(bp) } else { Value::Amount(amount) },
                            items: Items { variants: vec![c.lines[0].variant_id], ..Default::default() },
                        },
                        _ => Kind::FreeShipping { countries: vec![], max_shipping_minor: None },
                    };
                    discount(kind, if combine { ALL } else { NONE })
                })
                .collect();
            let d = decide(&candidates, &c);
            let per = d.per_line(c.lines.len());
            for (off, l) in per.iter().zip(&c.lines) {
                prop_assert!(*off >= 0 && *off <= l.total());
            }
            let shipping: i64 = d.applied.iter().map(|a| a.shipping_minor).sum();
            prop_assert!(shipping <= c.shipping.as_ref().map_or(0, |s| s.1));
            for cand in &candidates {
                let alone: i64 = apply_all(&[&cand.discount], &c).iter().map(Applied::total).sum();
                prop_assert!(d.total() >= alone);
            }
            prop_assert_eq!(d.applied.len() + d.refused.len() <= candidates.len(), true);
        }
    }
}
