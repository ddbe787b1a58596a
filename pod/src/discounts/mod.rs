//! Discounts (issue 18): codes shoppers enter and automatic discounts,
//! what they take off a cart, which of them apply together, and their
//! uses counted exactly.
//!
//! - `model.rs` (pure): the kinds, conditions and combinations, and
//!   [`model::decide`], which picks the allowed combination that saves the
//!   shopper most and allocates it over the lines.
//! - `input.rs` (pure): what staff send ([`input::DiscountInput`],
//!   [`input::BulkCodes`]), checked into a [`input::Definition`]; codes
//!   ([`input::CodeKey`]: matched without case) and their generation.
//! - `sql.rs`: every statement on `discounts`, `discount_codes`,
//!   `discount_shopper_uses` and `discount_uses`.
//!
//! Here: staff's operations, [`offer`] (the candidates a cart or a
//! checkout is weighed against, read once) and the checkout's
//! [`redeem`] / [`release`]. A checkout redeems in the transaction that
//! moves it to `reserved`: one `discount_uses` row per checkout and
//! discount (a retry counts once) and each limit a conditional `UPDATE`
//! of its counter, so a limit is never passed however many checkouts race;
//! a refused use rolls the whole reservation back. Compensation releases
//! in the transaction that ends the checkout `failed`.

pub mod input;
pub mod model;
pub(crate) mod sql;

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use mercato_tenants::{
    money::format_money, ApiError, CheckoutId, CollectionId, Currency, CustomerId, DiscountId,
    ErrorCode, Money, ProductId, StoreId, VariantId,
};
use serde::Serialize;
use sqlx::{PgPool, Postgres, Transaction};
use uuid::Uuid;

use self::input::{Bulk, CodeKey, DiscountInput, Method, Status};
use self::model::{Candidate, CartView, Class, Decision, LineView, Refusal};
use crate::error::PodError;
pub use crate::orders::AppliedDiscount;
use crate::state::AppState;
use crate::tenancy::begin_write;
use crate::{collections, orders};

/// Most codes a cart holds.
pub const MAX_CART_CODES: usize = 5;

impl From<input::Invalid> for PodError {
    fn from(e: input::Invalid) -> Self {
        PodError::Api(ApiError::new(ErrorCode::InvalidDiscount, e.0))
    }
}

fn not_found() -> PodError {
    ApiError::not_found("discount").into()
}

/// A discount as staff see it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DiscountView {
    pub id: DiscountId,
    pub title: String,
    pub method: Method,
    /// What it takes off (as sent).
    #[schema(value_type = Object)]
    pub kind: model::Kind,
    pub class: Class,
    pub min_subtotal_minor: Option<i64>,
    pub min_quantity: Option<u32>,
    pub starts_at: Option<DateTime<Utc>>,
    pub ends_at: Option<DateTime<Utc>>,
    #[schema(value_type = Object)]
    pub customers: model::Customers,
    pub first_order_only: bool,
    pub usage_limit: Option<u32>,
    pub per_customer_limit: Option<u32>,
    #[schema(value_type = Object)]
    pub combines_with: model::CombinesWith,
    pub status: Status,
    /// Uses counted by completed and running checkouts (a failed
    /// checkout's use is given back).
    pub used_count: i32,
    pub codes_count: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<sql::Row> for DiscountView {
    fn from(r: sql::Row) -> Self {
        let conditions = r.conditions();
        Self {
            id: DiscountId::from_uuid(r.id),
            title: r.title.clone(),
            method: r.method(),
            class: r.kind.0.class(),
            min_subtotal_minor: r.min_subtotal_minor,
            min_quantity: conditions.min_quantity,
            starts_at: r.starts_at,
            ends_at: r.ends_at,
            customers: r.customers.0.clone(),
            first_order_only: r.first_order_only,
            usage_limit: conditions.usage_limit,
            per_customer_limit: conditions.per_customer_limit,
            combines_with: r.combines_with(),
            status: r.status(),
            used_count: r.used_count,
            codes_count: r.codes_count,
            created_at: r.created_at,
            updated_at: r.updated_at,
            kind: r.kind.0,
        }
    }
}

pub use sql::CodeRow;

/// Creates a discount and, for a code discount, its first code.
pub async fn create(
    state: &AppState,
    store: StoreId,
    raw: DiscountInput,
) -> Result<DiscountView, PodError> {
    let d = raw.validate()?;
    let id = DiscountId::new();
    let mut tx = begin_write(&state.db, store).await?;
    if d.method == Method::Automatic && d.status == Status::Active {
        automatic_room(&mut tx, store).await?;
    }
    sql::insert(&mut tx, store, id, &d).await?;
    if let Some(code) = &d.code {
        add_code_in(&mut tx, store, id, code, None).await?;
    }
    let view = sql::get(&mut *tx, store, id).await?.ok_or_else(not_found)?;
    tx.commit().await?;
    Ok(view.into())
}

async fn automatic_room(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
) -> Result<(), PodError> {
    if sql::automatic_count(&mut **tx, store).await? >= input::MAX_AUTOMATIC {
        return Err(ApiError::new(
            ErrorCode::InvalidDiscount,
            format!(
                "a store has at most {} active automatic discounts; disable one first",
                input::MAX_AUTOMATIC
            ),
        )
        .into());
    }
    Ok(())
}

async fn add_code_in(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    discount: DiscountId,
    code: &CodeKey,
    usage_limit: Option<u32>,
) -> Result<(), PodError> {
    let stored =
        sql::insert_codes(tx, store, discount, std::slice::from_ref(code), usage_limit).await?;
    if stored.is_empty() {
        return Err(ApiError::new(
            ErrorCode::DiscountCodeTaken,
            format!(
                "the code {} is taken (codes match without case)",
                code.as_str()
            ),
        )
        .into());
    }
    Ok(())
}

/// Replaces a discount's definition; its method and codes stay.
pub async fn replace(
    state: &AppState,
    store: StoreId,
    id: DiscountId,
    raw: DiscountInput,
) -> Result<DiscountView, PodError> {
    let d = raw.validate()?;
    if d.code.is_some() {
        return Err(ApiError::new(
            ErrorCode::InvalidDiscount,
            "code: add codes with POST /admin/api/discounts/{id}/codes",
        )
        .into());
    }
    let mut tx = begin_write(&state.db, store).await?;
    let now = sql::lock(&mut tx, store, id).await?.ok_or_else(not_found)?;
    if now.method() != d.method {
        return Err(ApiError::new(
            ErrorCode::InvalidDiscount,
            "method: a discount's method cannot change; create another discount",
        )
        .into());
    }
    if d.method == Method::Automatic && d.status == Status::Active && now.status() != Status::Active
    {
        automatic_room(&mut tx, store).await?;
    }
    sql::replace(&mut tx, store, id, &d).await?;
    let view = sql::get(&mut *tx, store, id).await?.ok_or_else(not_found)?;
    tx.commit().await?;
    Ok(view.into())
}

/// Deletes a discount and its codes (orders keep their discount lines).
pub async fn delete(state: &AppState, store: StoreId, id: DiscountId) -> Result<(), PodError> {
    let mut tx = begin_write(&state.db, store).await?;
    if !sql::delete(&mut tx, store, id).await? {
        return Err(not_found());
    }
    tx.commit().await?;
    Ok(())
}

pub async fn get(db: &PgPool, store: StoreId, id: DiscountId) -> Result<DiscountView, PodError> {
    Ok(sql::get(db, store, id).await?.ok_or_else(not_found)?.into())
}

pub async fn list(
    db: &PgPool,
    store: StoreId,
    before: Option<DiscountId>,
    limit: i64,
) -> Result<Vec<DiscountView>, PodError> {
    Ok(sql::list(db, store, before, limit)
        .await?
        .into_iter()
        .map(Into::into)
        .collect())
}

/// A code discount locked, with room for `more` codes.
async fn lock_for_codes(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    id: DiscountId,
    more: i64,
) -> Result<(), PodError> {
    let d = sql::lock(tx, store, id).await?.ok_or_else(not_found)?;
    if d.method() != Method::Code {
        return Err(ApiError::new(
            ErrorCode::InvalidDiscount,
            "an automatic discount has no codes",
        )
        .into());
    }
    if d.codes_count + more > input::MAX_CODES {
        return Err(ApiError::new(
            ErrorCode::InvalidDiscount,
            format!(
                "a discount has at most {} codes (it has {})",
                input::MAX_CODES,
                d.codes_count
            ),
        )
        .into());
    }
    Ok(())
}

/// Adds the code staff typed, `raw`, with its own `usage_limit` (`400`
/// when either is malformed), as `POST /admin/api/discounts/{id}/codes`
/// and the admin's discount page do.
pub async fn add_typed_code(
    state: &AppState,
    store: StoreId,
    id: DiscountId,
    raw: &str,
    usage_limit: Option<u32>,
) -> Result<CodeRow, PodError> {
    let code = CodeKey::parse(raw)
        .map_err(|e| ApiError::new(ErrorCode::InvalidRequest, format!("code: {e}")))?;
    if usage_limit.is_some_and(|l| !(1..=input::MAX_COUNT).contains(&l)) {
        return Err(ApiError::invalid("usage_limit must be 1 to 1000000000").into());
    }
    add_code(state, store, id, &code, usage_limit).await
}

/// Generates the codes `request` asks for (`400` when it is malformed),
/// as `POST /admin/api/discounts/{id}/codes/bulk` and the admin's
/// discount page do; returns them.
pub async fn generate_codes(
    state: &AppState,
    store: StoreId,
    id: DiscountId,
    request: input::BulkCodes,
) -> Result<Vec<String>, PodError> {
    let bulk = request
        .validate()
        .map_err(|e| ApiError::new(ErrorCode::InvalidRequest, e.0))?;
    add_bulk(state, store, id, &bulk).await
}

/// Adds one code (`409 discount_code_taken` if any discount of the store
/// has it).
pub async fn add_code(
    state: &AppState,
    store: StoreId,
    id: DiscountId,
    code: &CodeKey,
    usage_limit: Option<u32>,
) -> Result<CodeRow, PodError> {
    let mut tx = begin_write(&state.db, store).await?;
    lock_for_codes(&mut tx, store, id, 1).await?;
    add_code_in(&mut tx, store, id, code, usage_limit).await?;
    let rows = sql::codes(&mut *tx, store, id, None, input::MAX_CODES).await?;
    tx.commit().await?;
    rows.into_iter()
        .find(|r| r.code == code.as_str())
        .ok_or_else(|| PodError::internal("a code just added is missing"))
}

/// Generates `bulk.count` new distinct codes in one transaction (drawn
/// again where one clashes with a stored code); returns them.
pub async fn add_bulk(
    state: &AppState,
    store: StoreId,
    id: DiscountId,
    bulk: &Bulk,
) -> Result<Vec<String>, PodError> {
    let mut tx = begin_write(&state.db, store).await?;
    lock_for_codes(&mut tx, store, id, i64::from(bulk.count)).await?;
    let mut made: Vec<String> = Vec::with_capacity(bulk.count as usize);
    for _ in 0..5 {
        let left = bulk.count as usize - made.len();
        if left == 0 {
            break;
        }
        let want = Bulk {
            count: u32::try_from(left).unwrap_or(bulk.count),
            ..bulk.clone()
        };
        let fresh = input::generate(&want);
        made.extend(sql::insert_codes(&mut tx, store, id, &fresh, Some(bulk.usage_limit)).await?);
    }
    if made.len() != bulk.count as usize {
        return Err(ApiError::new(
            ErrorCode::InvalidDiscount,
            "could not draw enough distinct codes; use a longer length",
        )
        .into());
    }
    tx.commit().await?;
    Ok(made)
}

/// Whether `code` belongs to an active discount of the store.
pub async fn code_known<'e>(
    exec: impl sqlx::PgExecutor<'e>,
    store: StoreId,
    code: &CodeKey,
) -> Result<bool, PodError> {
    Ok(sql::code_exists(exec, store, code).await?)
}

/// A page of a discount's codes (404 when the discount is not the store's).
pub async fn codes(
    db: &PgPool,
    store: StoreId,
    id: DiscountId,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<CodeRow>, PodError> {
    sql::get(db, store, id).await?.ok_or_else(not_found)?;
    Ok(sql::codes(db, store, id, after, limit).await?)
}

/// Every code of a discount as CSV: `code,usage_limit,used_count,created_at`.
pub async fn export_csv(db: &PgPool, store: StoreId, id: DiscountId) -> Result<String, PodError> {
    sql::get(db, store, id).await?.ok_or_else(not_found)?;
    let mut out = String::from("code,usage_limit,used_count,created_at\n");
    let mut after = None;
    loop {
        let page = sql::codes(db, store, id, after, 10_000).await?;
        for c in &page {
            // Codes are letters, digits, '-' and '_': nothing to quote.
            out.push_str(&format!(
                "{},{},{},{}\n",
                c.code,
                c.usage_limit.map(|l| l.to_string()).unwrap_or_default(),
                c.used_count,
                c.created_at
                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            ));
        }
        match page.last() {
            Some(last) if page.len() == 10_000 => after = Some(last.id),
            _ => break,
        }
    }
    Ok(out)
}

/// Who is buying, for the per-customer limits and customer conditions.
#[derive(Debug, Clone, Default)]
pub struct Shopper {
    pub customer: Option<CustomerId>,
    /// A guest's email, once known.
    pub email: Option<String>,
}

impl Shopper {
    /// The key uses are counted under: the customer, else the email.
    pub fn key(&self) -> Option<String> {
        match (&self.customer, &self.email) {
            (Some(c), _) => Some(format!("c:{c}")),
            (None, Some(e)) => Some(format!("e:{}", e.to_lowercase())),
            (None, None) => None,
        }
    }
}

/// What a cart or checkout is weighed against, read once: the store's
/// automatic discounts and the discounts of the codes entered, with their
/// uses.
#[derive(Debug, Clone, Default)]
pub struct Offer {
    pub candidates: Vec<Candidate>,
    /// The codes entered that matched an active discount, by discount.
    pub codes: HashMap<DiscountId, String>,
    /// The codes entered, upper case, in the order entered.
    pub entered: Vec<String>,
    /// Entered codes that match no active discount.
    pub unknown: Vec<String>,
    pub collections: HashMap<ProductId, Vec<CollectionId>>,
    pub shopper: model::Shopper,
}

/// One priced line to weigh.
#[derive(Debug, Clone, Copy)]
pub struct PricedLine {
    pub variant_id: VariantId,
    pub product_id: ProductId,
    pub quantity: u32,
    pub unit_price_minor: i64,
}

/// Reads the [`Offer`] for a cart of `products` with the codes `entered`.
pub async fn offer(
    db: &PgPool,
    store: StoreId,
    entered: &[String],
    shopper: &Shopper,
    products: &[ProductId],
) -> Result<Offer, PodError> {
    let automatic = sql::automatic(db, store).await?;
    let coded = if entered.is_empty() {
        Vec::new()
    } else {
        sql::by_codes(db, store, entered).await?
    };
    let mut ids: Vec<Uuid> = automatic.iter().map(|r| r.id).collect();
    ids.extend(coded.iter().map(|c| c.discount.id));
    let key = shopper.key();
    let uses = match &key {
        Some(k) if !ids.is_empty() => sql::shopper_uses(db, store, &ids, k).await?,
        _ => HashMap::new(),
    };
    let mut out = Offer {
        entered: entered.to_vec(),
        ..Offer::default()
    };
    let first_order = automatic.iter().any(|r| r.first_order_only)
        || coded.iter().any(|c| c.discount.first_order_only);
    out.shopper = model::Shopper {
        customer: shopper.customer,
        orders_before: if first_order && key.is_some() {
            orders::placed_before(
                db,
                store,
                shopper.customer.map(|c| c.as_uuid()),
                shopper.email.as_deref(),
            )
            .await?
        } else {
            0
        },
    };
    let mut needs_collections = false;
    for r in &automatic {
        needs_collections |= names_collections(&r.kind.0);
        out.candidates.push(Candidate {
            discount: r.discount(None),
            used: u32::try_from(r.used_count).unwrap_or(0),
            used_by_shopper: uses.get(&r.id).copied().unwrap_or(0),
        });
    }
    for code in entered {
        let Some(c) = coded.iter().find(|c| &c.code == code) else {
            out.unknown.push(code.clone());
            continue;
        };
        let id = DiscountId::from_uuid(c.discount.id);
        if out.codes.contains_key(&id) {
            continue; // two codes of one discount: it applies once
        }
        needs_collections |= names_collections(&c.discount.kind.0);
        let mut discount = c.discount.discount(Some(c.code.clone()));
        // The tighter of the discount's limit and the code's own.
        let used = u32::try_from(c.discount.used_count).unwrap_or(0);
        let mut candidate_used = used;
        if let Some(code_limit) = c.code_limit {
            let left_code = code_limit.saturating_sub(c.code_used);
            let left_discount = discount
                .conditions
                .usage_limit
                .map_or(u32::MAX, |l| l.saturating_sub(used));
            if left_code < left_discount {
                discount.conditions.usage_limit = Some(code_limit);
                candidate_used = c.code_used;
            }
        }
        out.codes.insert(id, c.code.clone());
        out.candidates.push(Candidate {
            discount,
            used: candidate_used,
            used_by_shopper: uses.get(&c.discount.id).copied().unwrap_or(0),
        });
    }
    if needs_collections && !products.is_empty() {
        out.collections = collections::of_products(db, store, products).await?;
    }
    Ok(out)
}

fn names_collections(kind: &model::Kind) -> bool {
    match kind {
        model::Kind::Products { items, .. } => !items.collections.is_empty(),
        model::Kind::BuyXGetY { buy, get, .. } => {
            !buy.collections.is_empty() || !get.collections.is_empty()
        }
        _ => false,
    }
}

impl Offer {
    /// The cart as the decision sees it.
    pub fn view(
        &self,
        lines: &[PricedLine],
        shipping: Option<(String, i64)>,
        now: DateTime<Utc>,
    ) -> CartView {
        CartView {
            lines: lines
                .iter()
                .map(|l| LineView {
                    variant_id: l.variant_id,
                    product_id: l.product_id,
                    collections: self
                        .collections
                        .get(&l.product_id)
                        .cloned()
                        .unwrap_or_default(),
                    quantity: l.quantity,
                    unit_price_minor: l.unit_price_minor,
                })
                .collect(),
            shipping,
            shopper: self.shopper.clone(),
            now,
        }
    }

    pub fn decide(&self, view: &CartView) -> Decision {
        model::decide(&self.candidates, view)
    }

    fn title(&self, id: DiscountId) -> String {
        self.candidates
            .iter()
            .find(|c| c.discount.id == id)
            .map(|c| c.discount.title.clone())
            .unwrap_or_default()
    }

    /// The first entered code that went away while the shopper shopped:
    /// used up, expired, or no longer a code of an active discount (`None`
    /// as the refusal). The checkout stops on it rather than charge more
    /// than the cart showed. A code refused for what the cart holds (a
    /// minimum, its items, its shipping, a better combination) was
    /// explained in the cart and simply does not apply.
    pub fn blocking(&self, decision: &Decision) -> Option<(String, Option<Refusal>)> {
        if let Some(code) = self.unknown.first() {
            return Some((code.clone(), None));
        }
        decision.refused.iter().find_map(|(id, r)| {
            let entered = self.codes.get(id)?;
            matches!(
                r,
                Refusal::UsedUp | Refusal::UsedUpByShopper | Refusal::Expired
            )
            .then(|| (entered.clone(), Some(r.clone())))
        })
    }

    /// The discount lines a checkout records.
    pub fn lines(&self, decision: &Decision) -> Vec<AppliedDiscount> {
        decision
            .applied
            .iter()
            .map(|a| AppliedDiscount {
                discount_id: a.id,
                title: self.title(a.id),
                code: self.codes.get(&a.id).cloned(),
                class: a.class,
                amount_minor: a.total(),
            })
            .collect()
    }

    /// What the cart shows.
    pub fn cart(&self, decision: &Decision, currency: Currency) -> CartDiscounts {
        let applied: Vec<AppliedDiscount> = self.lines(decision);
        let mut refused: Vec<RefusedCode> = self
            .unknown
            .iter()
            .map(|code| RefusedCode {
                code: code.clone(),
                reason: ErrorCode::UnknownDiscountCode.as_str().to_owned(),
                message: "this code does not exist or is no longer active".into(),
            })
            .collect();
        for (id, r) in &decision.refused {
            if let Some(e) = self.codes.get(id) {
                refused.push(RefusedCode {
                    code: e.clone(),
                    reason: r.code().to_owned(),
                    message: describe(r, currency, |d| self.title(d)),
                });
            }
        }
        let at_checkout = decision
            .at_checkout
            .iter()
            .map(|id| PendingDiscount {
                discount_id: *id,
                title: self.title(*id),
                code: self.codes.get(id).cloned(),
            })
            .collect();
        CartDiscounts {
            codes: self.entered.clone(),
            total: Money::new(decision.total(), currency),
            applied,
            refused,
            at_checkout,
        }
    }
}

/// What a refusal tells the shopper.
pub fn describe(r: &Refusal, currency: Currency, title: impl Fn(DiscountId) -> String) -> String {
    match r {
        Refusal::NotStarted => "this discount has not started yet".into(),
        Refusal::Expired => "this discount has expired".into(),
        Refusal::MinimumNotMet { missing_minor } => format!(
            "add {} more to the cart to use this discount",
            format_money(Money::new(*missing_minor, currency))
        ),
        Refusal::MinimumQuantityNotMet { missing } => {
            format!("add {missing} more item(s) to the cart to use this discount")
        }
        Refusal::UsedUp => "this discount has been used up".into(),
        Refusal::UsedUpByShopper => "you have already used this discount".into(),
        Refusal::SignInRequired => "sign in to use this discount".into(),
        Refusal::CustomerNotEligible => "this discount is not available to your account".into(),
        Refusal::FirstOrderOnly => "this discount is for a first order only".into(),
        Refusal::NoEligibleItems => "nothing in the cart is eligible for this discount".into(),
        Refusal::ShippingNotEligible => {
            "this free shipping does not apply to the chosen shipping".into()
        }
        Refusal::NotCombinable { with } => format!(
            "does not combine with \u{201c}{}\u{201d}, which saves you more",
            title(*with)
        ),
    }
}

/// An entered code that does not apply, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct RefusedCode {
    pub code: String,
    /// A stable code: `discount_expired`, `discount_not_started`,
    /// `discount_minimum_not_met`, `discount_minimum_quantity_not_met`,
    /// `discount_used_up`, `discount_used_up_by_shopper`,
    /// `discount_sign_in_required`, `discount_customer_not_eligible`,
    /// `discount_first_order_only`, `discount_no_eligible_items`,
    /// `discount_shipping_not_eligible`, `discount_not_combinable`,
    /// `unknown_discount_code`.
    pub reason: String,
    pub message: String,
}

/// Free shipping whose conditions hold, weighed once shipping is chosen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct PendingDiscount {
    pub discount_id: DiscountId,
    pub title: String,
    pub code: Option<String>,
}

/// The cart's discounts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct CartDiscounts {
    /// The codes entered (upper case), at most 5.
    pub codes: Vec<String>,
    /// The best allowed combination, in the order it applies.
    pub applied: Vec<AppliedDiscount>,
    pub refused: Vec<RefusedCode>,
    pub at_checkout: Vec<PendingDiscount>,
    /// Off the cart in all.
    pub total: Money,
}

impl CartDiscounts {
    /// Nothing applied yet (before [`Offer::cart`] weighs the cart).
    pub fn none(currency: Currency, codes: &[String]) -> Self {
        Self {
            codes: codes.to_vec(),
            applied: Vec::new(),
            refused: Vec::new(),
            at_checkout: Vec::new(),
            total: Money::new(0, currency),
        }
    }
}

/// Counts the checkout's uses of `applied`, in the caller's transaction
/// (the one that moves the checkout to `reserved`). A use already
/// counted for this checkout is not counted again. `Err` names the
/// discount whose limit is reached: roll the transaction back.
pub async fn redeem(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    checkout: CheckoutId,
    shopper: &Shopper,
    applied: &[AppliedDiscount],
) -> Result<Result<(), AppliedDiscount>, PodError> {
    // A checkout always has an email; the fallback never counts anyone.
    let key = shopper.key().unwrap_or_else(|| "e:unknown".to_owned());
    // Counters are taken in one order (by discount id), so two checkouts
    // with the same discounts never wait on each other in a cycle.
    let mut sorted: Vec<&AppliedDiscount> = applied.iter().collect();
    sorted.sort_by_key(|a| a.discount_id);
    for a in sorted {
        let code = match &a.code {
            Some(key) => match sql::code_of(tx, store, a.discount_id, key).await? {
                Some(found) => Some(found),
                None => return Ok(Err(a.clone())), // deleted meanwhile
            },
            None => None,
        };
        let inserted = sql::insert_use(
            tx,
            store,
            checkout,
            &sql::Use {
                discount: a.discount_id,
                code_id: code.map(|(id, _)| id),
                shopper: &key,
                amount_minor: a.amount_minor,
            },
        )
        .await?;
        if !inserted {
            continue; // counted by this checkout before
        }
        let Some(limits) = sql::limits(tx, store, a.discount_id).await? else {
            return Ok(Err(a.clone())); // disabled or deleted meanwhile
        };
        // Only a limit takes a counter's row lock.
        if limits.usage_limit.is_some() && !sql::count_discount(tx, store, a.discount_id).await? {
            return Ok(Err(a.clone()));
        }
        if let Some((id, Some(_))) = code {
            if !sql::count_code(tx, store, id).await? {
                return Ok(Err(a.clone()));
            }
        }
        if let Some(per) = limits.per_customer_limit {
            if !sql::count_shopper(tx, store, a.discount_id, &key, Some(per)).await? {
                return Ok(Err(a.clone()));
            }
        }
    }
    Ok(Ok(()))
}

/// Gives back the checkout's uses (idempotent), in the transaction that
/// ends it failed.
pub async fn release(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    checkout: CheckoutId,
) -> Result<(), PodError> {
    sql::release(tx, store, checkout).await?;
    Ok(())
}
