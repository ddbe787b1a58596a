//! Shopping carts.
//!
//! A guest's cart is addressed by a secret token (`X-Cart-Token` header or
//! `mercato_cart` cookie); a signed-in customer has one active cart, found
//! by the customer token alone and created on first use.
//!
//! Postgres is the record: every change commits there first, in a
//! transaction opened by [`begin_write`] that also locks the cart's row, so
//! changes to one cart take turns. After the commit the whole cart is copied
//! to a Redis hash (`keys::guest_cart` / `keys::customer_cart`) whose TTL
//! every change renews. Reads take the lines from the copy once a lookup by
//! key in Postgres has named the cart and its version; a missing or older
//! copy (expired, flushed, Redis restarted, a write that could not reach
//! Redis) is rebuilt from Postgres. So a copy can never show a client less
//! than what it was told was saved. When Redis is down the cart works from
//! Postgres alone (a warning, `mercato_cart_redis_fallback_total`, and Redis
//! is left alone for two seconds).
//!
//! Whoever retires a cart (merge here, checkout later) deletes its copy
//! after the commit; until then the version check keeps it unused.
//!
//! Each read checks every line against the catalog and stock as they are now
//! and reports what changed since the shopper added it; the line keeps the
//! price the shopper saw.

pub mod abandoned;
pub(crate) mod cache;
mod error;
pub(crate) mod model;
pub(crate) mod sent;
pub(crate) mod sql;

use std::sync::LazyLock;

use chrono::Utc;
use mercato_tenants::{ApiError, CartId, Currency, CustomerId, ErrorCode, StoreId, VariantId};
use prometheus::IntCounter;
use sqlx::{Postgres, Transaction};

pub use model::{
    Cart, CartError, CartLine, CartRecord, CartToken, Line, LineIssue, Owner, TokenHash,
};
pub use sent::SentToken;

use self::cache::CacheError;
use self::model::{Limits, SetQuantity};
use crate::error::PodError;
use crate::state::AppState;
use crate::tenancy::begin_write;
use crate::{catalog, discounts, inventory, keys};

static REDIS_FALLBACKS: LazyLock<IntCounter> = LazyLock::new(|| {
    let counter = IntCounter::new(
        "mercato_cart_redis_fallback_total",
        "Cart reads and writes that could not use Redis and went to Postgres alone",
    )
    .expect("a valid metric definition");
    if let Err(e) = prometheus::default_registry().register(Box::new(counter.clone())) {
        tracing::warn!(error = %e, "registering the cart redis fallback counter failed");
    }
    counter
});

/// How many times this process served a cart without Redis.
pub fn redis_fallbacks() -> u64 {
    REDIS_FALLBACKS.get()
}

/// Which cart a request is about.
pub enum CartRef {
    Guest(CartToken),
    Customer(CustomerId),
}

/// A change to a cart.
pub(crate) enum Change {
    Add { variant: VariantId, quantity: i64 },
    Set { variant: VariantId, quantity: i64 },
    Remove { variant: VariantId },
    Clear,
}

fn limits(state: &AppState) -> Limits {
    Limits::new(
        state.config.cart.max_line_quantity,
        state.config.cart.max_lines,
    )
}

fn ttl_secs(state: &AppState, owner: &Owner) -> u64 {
    match owner {
        Owner::Guest { .. } => state.config.cart.guest_ttl_secs,
        Owner::Customer { .. } => state.config.cart.customer_ttl_secs,
    }
}

fn cache_key(store: StoreId, cart: &CartRecord) -> String {
    match cart.owner {
        Owner::Guest { .. } => keys::guest_cart(store, cart.id),
        Owner::Customer { customer_id } => keys::customer_cart(store, customer_id),
    }
}

/// Whether to try Redis now; counts a fallback when not.
fn redis_usable(state: &AppState) -> bool {
    let usable = state.redis.usable();
    if !usable {
        REDIS_FALLBACKS.inc();
    }
    usable
}

fn fell_back(state: &AppState, err: &CacheError, doing: &'static str) {
    REDIS_FALLBACKS.inc();
    tracing::warn!(error = %err, doing, "cart copy in redis unusable; using postgres");
    if let CacheError::Redis(_) = err {
        state.redis.failed();
    }
}

/// The Redis copy of `cart` if it is of the cart's current version.
async fn cached(state: &AppState, store: StoreId, cart: &CartRecord) -> Option<CartRecord> {
    if !redis_usable(state) {
        return None;
    }
    let key = cache_key(store, cart);
    match cache::get(&state.redis, &key).await {
        Ok(copy) => copy.filter(|c| c.id == cart.id && c.version == cart.version),
        Err(e @ CacheError::Decode(_)) => {
            fell_back(state, &e, "decoding");
            forget(state, &key).await;
            None
        }
        Err(e) => {
            fell_back(state, &e, "reading");
            None
        }
    }
}

/// Copies `cart` to Redis (best effort: reads check the version, so a copy
/// left behind by a failed write is never served).
async fn remember(state: &AppState, store: StoreId, cart: &CartRecord) {
    if !redis_usable(state) {
        return;
    }
    let key = cache_key(store, cart);
    if let Err(e) = cache::put(&state.redis, &key, cart, ttl_secs(state, &cart.owner)).await {
        fell_back(state, &e, "writing");
    }
}

async fn forget(state: &AppState, key: &str) {
    if !redis_usable(state) {
        return;
    }
    if let Err(e) = cache::delete(&state.redis, key).await {
        fell_back(state, &e, "deleting");
    }
}

/// The cart with its lines as checked against the catalog and stock now.
async fn render(state: &AppState, store: StoreId, cart: &CartRecord) -> Result<Cart, PodError> {
    let ids: Vec<VariantId> = cart.lines.iter().map(|l| l.variant_id).collect();
    let (variants, levels) = if ids.is_empty() {
        Default::default()
    } else {
        (
            catalog::variant_snapshots(&state.db, store, &ids).await?,
            inventory::levels(&state.db, store, &ids).await?,
        )
    };
    let mut view = model::view(cart, &variants, &levels, ttl_secs(state, &cart.owner));
    view.discounts = weigh_discounts(state, store, cart, &view).await?;
    Ok(view)
}

/// The discounts the cart gets at the catalog's prices now (the prices the
/// checkout will charge; lines no longer for sale left out).
async fn weigh_discounts(
    state: &AppState,
    store: StoreId,
    cart: &CartRecord,
    view: &Cart,
) -> Result<discounts::CartDiscounts, PodError> {
    let lines: Vec<discounts::PricedLine> = view
        .lines
        .iter()
        .filter(|l| !l.issues.contains(&LineIssue::Unavailable))
        .filter_map(|l| {
            let price = l.current_price.filter(|p| p.currency == cart.currency)?;
            Some(discounts::PricedLine {
                variant_id: l.variant_id,
                product_id: l.product_id,
                quantity: u32::try_from(l.quantity).ok()?,
                unit_price_minor: price.minor,
            })
        })
        .collect();
    let shopper = discounts::Shopper {
        customer: match cart.owner {
            Owner::Customer { customer_id } => Some(customer_id),
            Owner::Guest { .. } => None,
        },
        email: cart.email.clone(),
    };
    let products: Vec<_> = lines.iter().map(|l| l.product_id).collect();
    let offer =
        discounts::offer(&state.db, store, &cart.discount_codes, &shopper, &products).await?;
    let decision = offer.decide(&offer.view(&lines, None, Utc::now()));
    Ok(offer.cart(&decision, cart.currency))
}

/// A change to the discount codes a cart holds.
pub(crate) enum CodeChange {
    Add(discounts::input::CodeKey),
    Remove(discounts::input::CodeKey),
}

/// Adds or removes a discount code. A code is added only when it belongs
/// to an active discount (`422 unknown_discount_code`), at most
/// [`discounts::MAX_CART_CODES`] (`422 discount_code_limit`); once in the
/// cart, the cart says whether it applies and why not. Adding a code
/// already there, or removing one that is not, changes nothing (removing:
/// `404`).
pub(crate) async fn change_codes(
    state: &AppState,
    store: StoreId,
    currency: Currency,
    cart: &CartRef,
    change: CodeChange,
) -> Result<Cart, PodError> {
    let mut tx = begin_write(&state.db, store).await?;
    let mut record = lock_cart(&mut tx, store, currency, cart).await?;
    let mut codes = record.discount_codes.clone();
    match &change {
        CodeChange::Add(code) => {
            if !codes.iter().any(|c| c == code.as_str()) {
                if !discounts::code_known(&mut *tx, store, code).await? {
                    return Err(ApiError::new(
                        ErrorCode::UnknownDiscountCode,
                        format!("{} is not a discount code of this store", code.as_str()),
                    )
                    .into());
                }
                if codes.len() >= discounts::MAX_CART_CODES {
                    return Err(ApiError::new(
                        ErrorCode::DiscountCodeLimit,
                        format!(
                            "a cart holds at most {} discount codes; remove one first",
                            discounts::MAX_CART_CODES
                        ),
                    )
                    .into());
                }
                codes.push(code.as_str().to_owned());
            }
        }
        CodeChange::Remove(code) => {
            let before = codes.len();
            codes.retain(|c| c != code.as_str());
            if codes.len() == before {
                return Err(ApiError::not_found("discount code in this cart").into());
            }
        }
    }
    sql::set_discount_codes(&mut tx, store, record.id, &codes).await?;
    record.discount_codes = codes;
    let record = touched(&mut tx, store, record).await?;
    let record = commit(state, tx, store, record).await?;
    render(state, store, &record).await
}

/// The active guest cart of `token`, locked; 404 unless the token's secret
/// matches.
async fn lock_guest(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    token: &CartToken,
) -> Result<CartRecord, PodError> {
    let cart = sql::active_cart(&mut **tx, store, token.cart(), true)
        .await?
        .ok_or(CartError::NoCart)?;
    match cart.owner {
        Owner::Guest { token_hash } if token_hash.matches(&token.hash()) => Ok(cart),
        _ => Err(CartError::NoCart.into()),
    }
}

/// The customer's active cart, locked, created if there is none.
async fn lock_customer(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    currency: Currency,
    customer: CustomerId,
) -> Result<CartRecord, PodError> {
    if let Some(cart) = sql::customer_cart(&mut **tx, store, customer, true).await? {
        return Ok(cart);
    }
    let owner = Owner::Customer {
        customer_id: customer,
    };
    sql::insert_cart(tx, store, CartId::new(), &owner, currency).await?;
    sql::customer_cart(&mut **tx, store, customer, true)
        .await?
        .ok_or_else(|| PodError::internal("a customer cart just created is missing"))
}

async fn lock_cart(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    currency: Currency,
    cart: &CartRef,
) -> Result<CartRecord, PodError> {
    match cart {
        CartRef::Guest(token) => lock_guest(tx, store, token).await,
        CartRef::Customer(customer) => lock_customer(tx, store, currency, *customer).await,
    }
}

/// Loads the lines of `cart` inside `tx` and commits; then copies the cart
/// to Redis.
async fn commit(
    state: &AppState,
    mut tx: Transaction<'_, Postgres>,
    store: StoreId,
    mut cart: CartRecord,
) -> Result<CartRecord, PodError> {
    cart.lines = sql::lines(&mut *tx, store, cart.id).await?;
    tx.commit().await?;
    remember(state, store, &cart).await;
    Ok(cart)
}

/// Creates a guest cart: its token (shown once) and the empty cart.
pub(crate) async fn create_guest(
    state: &AppState,
    store: StoreId,
    currency: Currency,
) -> Result<(CartToken, Cart), PodError> {
    let token = CartToken::generate(CartId::new());
    let owner = Owner::Guest {
        token_hash: token.hash(),
    };
    let mut tx = begin_write(&state.db, store).await?;
    sql::insert_cart(&mut tx, store, token.cart(), &owner, currency).await?;
    let cart = lock_guest(&mut tx, store, &token).await?;
    let cart = commit(state, tx, store, cart).await?;
    Ok((token, render(state, store, &cart).await?))
}

/// Reads a cart. Postgres says which cart and at which version (one
/// lookup by key, which also checks the guest's token and that the cart is
/// still active); the lines come from the Redis copy of that version, else
/// from Postgres, writing the copy back. A customer without a cart gets a
/// new, empty one.
pub(crate) async fn read(
    state: &AppState,
    store: StoreId,
    currency: Currency,
    cart: &CartRef,
) -> Result<Cart, PodError> {
    let header = match cart {
        CartRef::Guest(token) => {
            let found = sql::active_cart(&state.db, store, token.cart(), false)
                .await?
                .ok_or(CartError::NoCart)?;
            match found.owner {
                Owner::Guest { token_hash } if token_hash.matches(&token.hash()) => found,
                _ => return Err(CartError::NoCart.into()),
            }
        }
        CartRef::Customer(customer) => {
            match sql::customer_cart(&state.db, store, *customer, false).await? {
                Some(found) => found,
                None => {
                    let mut tx = begin_write(&state.db, store).await?;
                    let created = lock_customer(&mut tx, store, currency, *customer).await?;
                    let created = commit(state, tx, store, created).await?;
                    return render(state, store, &created).await;
                }
            }
        }
    };
    let record = match cached(state, store, &header).await {
        // The lines from the copy, the cart's own fields from Postgres.
        Some(copy) => CartRecord {
            lines: copy.lines,
            ..header
        },
        None => {
            let mut found = header;
            found.lines = sql::lines(&state.db, store, found.id).await?;
            remember(state, store, &found).await;
            found
        }
    };
    render(state, store, &record).await
}

/// Applies one change: checked, committed to Postgres, then copied to Redis.
/// Any refusal leaves the cart as it was.
pub(crate) async fn change(
    state: &AppState,
    store: StoreId,
    currency: Currency,
    cart: &CartRef,
    change: Change,
) -> Result<Cart, PodError> {
    let limits = limits(state);
    // What needs no database is refused before one is touched.
    match change {
        Change::Add { quantity, .. } => model::check_add_quantity(quantity)?,
        Change::Set { quantity, .. } => {
            model::plan_set(quantity, limits)?;
        }
        Change::Remove { .. } | Change::Clear => {}
    }
    let mut tx = begin_write(&state.db, store).await?;
    let record = lock_cart(&mut tx, store, currency, cart).await?;
    let lines = sql::lines(&mut *tx, store, record.id).await?;
    let line_of = |variant: VariantId| -> Result<&Line, PodError> {
        lines
            .iter()
            .find(|l| l.variant_id == variant)
            .ok_or_else(|| CartError::NoLine.into())
    };
    match change {
        Change::Add { variant, quantity } => {
            let now = for_sale(&mut tx, store, variant, record.currency).await?;
            let quantity = model::plan_add(&lines, variant, quantity, limits)?;
            let line = Line::from_snapshot(&now, quantity, Utc::now());
            sql::upsert_line(&mut tx, store, record.id, &line).await?;
        }
        Change::Set { variant, quantity } => {
            let current = line_of(variant)?.quantity;
            match model::plan_set(quantity, limits)? {
                SetQuantity::Remove => sql::delete_line(&mut tx, store, record.id, variant).await?,
                SetQuantity::Set(quantity) => {
                    // Fewer units are always fine; more need a variant
                    // that can still be bought.
                    if quantity > current {
                        for_sale(&mut tx, store, variant, record.currency).await?;
                    }
                    sql::set_quantity(&mut tx, store, record.id, variant, quantity).await?;
                }
            }
        }
        Change::Remove { variant } => {
            line_of(variant)?;
            sql::delete_line(&mut tx, store, record.id, variant).await?;
        }
        Change::Clear => sql::clear(&mut tx, store, record.id).await?,
    }
    let record = touched(&mut tx, store, record).await?;
    let record = commit(state, tx, store, record).await?;
    render(state, store, &record).await
}

/// The variant as it is now, if the cart can take more of it: a variant of
/// the store ([`CartError::UnknownVariant`] if not) that is
/// [`model::purchasable`].
async fn for_sale(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    variant: VariantId,
    currency: Currency,
) -> Result<catalog::VariantSnapshot, PodError> {
    let now = catalog::variant_snapshots(&mut **tx, store, &[variant])
        .await?
        .remove(&variant)
        .ok_or(CartError::UnknownVariant)?;
    model::purchasable(&now, currency)?;
    Ok(now)
}

async fn touched(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    mut cart: CartRecord,
) -> Result<CartRecord, PodError> {
    let (version, updated_at) = sql::touch(tx, store, cart.id).await?;
    cart.version = version;
    cart.updated_at = updated_at;
    Ok(cart)
}

/// Moves a guest's cart into the customer's active cart (created if there is
/// none), in one transaction: lines of the same variant add up, capped at the
/// per-line limit; other lines are added while the cart has room. The guest
/// cart becomes `merged`, so its token then gets 404, and a retried merge
/// cannot add the quantities twice.
///
/// Errors: 400 `invalid_cart_token` (malformed), 404 `not_found` (unknown,
/// another store's, or already merged).
pub async fn merge_on_login(
    state: &AppState,
    store: StoreId,
    guest_token: &str,
    customer: CustomerId,
) -> Result<Cart, PodError> {
    let token = CartToken::parse(guest_token)?;
    let currency =
        state.hosted.get(store).map(|h| h.currency).ok_or_else(|| {
            ApiError::new(ErrorCode::StoreNotHere, "this store is not served here")
        })?;
    let mut tx = begin_write(&state.db, store).await?;
    // Guest first, then customer: every path that locks both does so in
    // this order.
    let guest = lock_guest(&mut tx, store, &token).await?;
    let target = lock_customer(&mut tx, store, currency, customer).await?;
    let guest_lines = sql::lines(&mut *tx, store, guest.id).await?;
    let target_lines = sql::lines(&mut *tx, store, target.id).await?;
    let merged = model::merge_lines(&target_lines, &guest_lines, limits(state));
    sql::replace_lines(&mut tx, store, target.id, &merged.lines).await?;
    sql::mark_merged(&mut tx, store, guest.id, target.id).await?;
    let target = touched(&mut tx, store, target).await?;
    let target = commit(state, tx, store, target).await?;
    forget(state, &keys::guest_cart(store, guest.id)).await;
    if !merged.capped.is_empty() || !merged.left_behind.is_empty() {
        tracing::info!(
            cart = %target.id,
            capped = merged.capped.len(),
            left_behind = merged.left_behind.len(),
            "guest cart merged within the cart limits"
        );
    }
    render(state, store, &target).await
}

/// The active cart `cart` addresses, without its lines, read from Postgres
/// (the truth). 404 when there is none.
pub async fn active(
    state: &AppState,
    store: StoreId,
    cart: &CartRef,
) -> Result<CartRecord, PodError> {
    match cart {
        CartRef::Guest(token) => {
            let found = sql::active_cart(&state.db, store, token.cart(), false)
                .await?
                .ok_or(CartError::NoCart)?;
            match found.owner {
                Owner::Guest { token_hash } if token_hash.matches(&token.hash()) => Ok(found),
                _ => Err(CartError::NoCart.into()),
            }
        }
        CartRef::Customer(customer) => sql::customer_cart(&state.db, store, *customer, false)
            .await?
            .ok_or_else(|| CartError::NoCart.into()),
    }
}

/// The cart a checkout buys: [`active`], with its lines.
pub async fn for_checkout(
    state: &AppState,
    store: StoreId,
    cart: &CartRef,
) -> Result<CartRecord, PodError> {
    let mut record = active(state, store, cart).await?;
    record.lines = sql::lines(&state.db, store, record.id).await?;
    Ok(record)
}

/// Inside an order's transaction: retires the cart the order was made
/// from. False when the cart is no longer active (another checkout of the
/// same cart got there first).
pub async fn convert(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    cart: CartId,
) -> Result<bool, sqlx::Error> {
    sql::convert(tx, store, cart).await
}
