//! The storefront's checkout, in three pages that work without script:
//!
//! 1. `GET/POST /checkout`: email and shipping address. The answers are
//!    kept as a draft in Redis (two hours, bound to the shopper's cart)
//!    and the shopper goes on to
//! 2. `GET /checkout/review?d=<draft>`: shipping options with their
//!    prices, the order priced as the checkout will price it (discounts,
//!    shipping, tax, total), and the card form. **The card form posts to
//!    the payment gateway** (a card session the pod opened for this page),
//!    never to the pod: the gateway keeps the card, and sends the browser
//!    back to
//! 3. `GET /checkout/complete?d=&shipping=&total=&session=`: the pod reads
//!    the session's token from the gateway and places the order through
//!    the same checkout saga as `POST /api/checkout`, with the session as
//!    the idempotency key (a reload replays, never charges twice) and the
//!    total the shopper saw as the expected total (a price that changed
//!    meanwhile stops it). Then to the order's page
//!    (`/orders/{number}?token=`), or back to the review with what went
//!    wrong.

use axum::extract::State;
use axum::http::header::{self, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use mercato_tenants::http::ApiQuery;
use mercato_tenants::{ApiError, Email, ErrorCode, Money};
use minijinja::context;
use minijinja::value::Value;
use serde::{Deserialize, Serialize};

use super::pages::{count_cookie, error_page, private, store_url};
use super::shopper::Shopper;
use super::view;
use crate::accounts::rate_limit::ClientAddress;
use crate::cart::{Cart, CartRef};
use crate::checkout::model::{AddressInput, Quote};
use crate::checkout::saga::Asked;
use crate::error::PodError;
use crate::state::AppState;
use crate::tenancy::TenantContext;
use mercato_tenants::forms::field;
use mercato_tenants::forms::{posted_form, urlencode};
use mercato_tenants::CartId;

/// How long a checkout draft is kept.
const DRAFT_TTL_SECS: u64 = 2 * 60 * 60;

/// What the shopper entered on the first page.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
struct Draft {
    /// The cart it is for: another cart (another browser) cannot read it.
    cart: String,
    email: String,
    address: AddressForm,
    /// What went wrong the last time the shopper tried to pay, shown once.
    #[serde(default)]
    problem: Option<String>,
    /// Gift card codes entered on the review page, in order (at most 5).
    #[serde(default)]
    gift_cards: Vec<String>,
}

/// The address fields as the form sends them.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
struct AddressForm {
    name: String,
    line1: String,
    line2: String,
    city: String,
    region: String,
    postal_code: String,
    country: String,
    phone: String,
}

impl From<crate::accounts::AddressFields> for AddressForm {
    fn from(f: crate::accounts::AddressFields) -> Self {
        Self {
            name: f.name,
            line1: f.line1,
            line2: f.line2,
            city: f.city,
            region: f.region,
            postal_code: f.postal_code,
            country: f.country,
            phone: f.phone,
        }
    }
}

impl AddressForm {
    /// As an address book entry.
    fn fields(&self) -> crate::accounts::AddressFields {
        crate::accounts::AddressFields {
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

    fn input(&self) -> AddressInput {
        let opt = |s: &str| (!s.trim().is_empty()).then(|| s.to_owned());
        AddressInput {
            name: self.name.clone(),
            line1: self.line1.clone(),
            line2: opt(&self.line2),
            city: self.city.clone(),
            region: opt(&self.region),
            postal_code: opt(&self.postal_code),
            country: self.country.trim().to_ascii_uppercase(),
            phone: opt(&self.phone),
        }
    }
}

fn draft_key(tenant: &TenantContext, id: &str) -> Option<String> {
    // Drafts are named by 32 hex characters; anything else names none.
    (id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| crate::keys::storefront_page(tenant.store_id, &format!("checkout:{id}")))
}

async fn load_draft(
    state: &AppState,
    tenant: &TenantContext,
    id: &str,
    cart: CartId,
) -> Result<Option<Draft>, PodError> {
    let Some(key) = draft_key(tenant, id) else {
        return Ok(None);
    };
    let mut conn = state.redis.connection().await.map_err(unavailable)?;
    let raw: Option<String> = redis::cmd("GET")
        .arg(&key)
        .query_async(&mut conn)
        .await
        .map_err(unavailable)?;
    let draft: Option<Draft> = raw.and_then(|r| serde_json::from_str(&r).ok());
    Ok(draft.filter(|d| d.cart == cart.to_string()))
}

async fn save_draft(
    state: &AppState,
    tenant: &TenantContext,
    id: &str,
    draft: &Draft,
) -> Result<(), PodError> {
    let key = draft_key(tenant, id).ok_or_else(|| PodError::internal("bad draft id"))?;
    let body = serde_json::to_string(draft).map_err(PodError::internal)?;
    let mut conn = state.redis.connection().await.map_err(unavailable)?;
    redis::cmd("SET")
        .arg(&key)
        .arg(body)
        .arg("EX")
        .arg(DRAFT_TTL_SECS)
        .query_async::<()>(&mut conn)
        .await
        .map_err(unavailable)
}

async fn drop_draft(state: &AppState, tenant: &TenantContext, id: &str) {
    let Some(key) = draft_key(tenant, id) else {
        return;
    };
    if let Ok(mut conn) = state.redis.connection().await {
        let _ = redis::cmd("DEL")
            .arg(&key)
            .query_async::<()>(&mut conn)
            .await;
    }
}

fn unavailable(e: impl std::fmt::Display) -> PodError {
    tracing::warn!(error = %e, "checkout drafts unavailable");
    ApiError::new(
        ErrorCode::ServiceUnavailable,
        "checkout is unavailable for a moment; please try again",
    )
    .into()
}

fn see_other(to: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        response.headers_mut().insert(header::LOCATION, v);
    }
    response
}

fn query<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// The shopper's cart, when it has lines.
async fn cart_of(
    state: &AppState,
    tenant: &TenantContext,
    shopper: &Shopper,
) -> Result<Option<Cart>, PodError> {
    let Some(cart) = shopper.cart() else {
        return Ok(None);
    };
    let cart = crate::cart::read(state, tenant.store_id, tenant.currency, &cart).await;
    match cart {
        Ok(cart) if !cart.lines.is_empty() => Ok(Some(cart)),
        Ok(_) => Ok(None),
        Err(e) if e.client_error().is_some() => Ok(None),
        Err(e) => Err(e),
    }
}

async fn render(
    state: &AppState,
    tenant: &TenantContext,
    title: &str,
    extra: Value,
) -> Result<String, PodError> {
    super::pages::shoppers_page(state, tenant, "checkout.html", title, "/checkout", extra).await
}

async fn information_page(
    state: &AppState,
    tenant: &TenantContext,
    cart: &Cart,
    draft: &Draft,
    shopper: &Shopper,
    problem: Option<String>,
) -> Result<String, PodError> {
    render(
        state,
        tenant,
        "Checkout",
        context! {
            step => "information",
            cart => Value::from_serialize(view::CartView::of(cart)),
            draft => Value::from_serialize(draft),
            signed_in => shopper.customer.is_some(),
            problem,
        },
    )
    .await
}

/// A new checkout's form: empty for a guest; a signed-in customer's email
/// and default address (the first saved, if none is the default).
async fn first_draft(
    state: &AppState,
    tenant: &TenantContext,
    shopper: &Shopper,
) -> Result<Draft, PodError> {
    let Some(customer) = shopper.customer_id() else {
        return Ok(Draft::default());
    };
    let email = crate::accounts::email_of(&state.db, tenant.store_id, customer)
        .await?
        .unwrap_or_default();
    let book = crate::accounts::addresses::list(&state.db, tenant.store_id, customer).await?;
    let address = book
        .iter()
        .find(|a| a.is_default)
        .or_else(|| book.first())
        .map(|a| AddressForm::from(a.fields()))
        .unwrap_or_default();
    Ok(Draft {
        email,
        address,
        ..Draft::default()
    })
}

/// `GET /checkout`: the contact and shipping address form (filled in again
/// from `?d=<draft>` when the shopper comes back to change it).
pub async fn information(
    State(state): State<AppState>,
    tenant: TenantContext,
    shopper: Shopper,
    ApiQuery(pairs): ApiQuery<Vec<(String, String)>>,
) -> Response {
    let result = async {
        let Some(cart) = cart_of(&state, &tenant, &shopper).await? else {
            return Ok(see_other("/cart"));
        };
        let draft = match query(&pairs, "d") {
            Some(id) => load_draft(&state, &tenant, id, cart.id).await?,
            None => None,
        };
        let draft = match draft {
            Some(d) => d,
            None => first_draft(&state, &tenant, &shopper).await?,
        };
        Ok(private(
            information_page(&state, &tenant, &cart, &draft, &shopper, None).await?,
        ))
    }
    .await;
    result.unwrap_or_else(|e| error_page(&state, &tenant, e))
}

/// `POST /checkout`: checks the email and address, keeps them as a draft
/// and goes on to the review; the form again with what is wrong otherwise.
pub async fn submit_information(
    State(state): State<AppState>,
    tenant: TenantContext,
    shopper: Shopper,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let result = async {
        let fields = posted_form(&headers, &body)?;
        let Some(cart) = cart_of(&state, &tenant, &shopper).await? else {
            return Ok(see_other("/cart"));
        };
        let get = |name: &str| {
            fields
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.trim().to_owned())
                .unwrap_or_default()
        };
        // A signed-in customer buys as their account's email.
        let email = match shopper.customer_id() {
            Some(c) => crate::accounts::email_of(&state.db, tenant.store_id, c)
                .await?
                .unwrap_or_default(),
            None => get("email"),
        };
        let draft = Draft {
            cart: cart.id.to_string(),
            email,
            address: AddressForm {
                name: get("name"),
                line1: get("line1"),
                line2: get("line2"),
                city: get("city"),
                region: get("region"),
                postal_code: get("postal_code"),
                country: get("country").to_ascii_uppercase(),
                phone: get("phone"),
            },
            problem: None,
            gift_cards: Vec::new(),
        };
        let problem = match (Email::parse(&draft.email), draft.address.input().validate()) {
            (Err(e), _) => Some(format!("Email: {e}")),
            (_, Err(e)) => Some(ApiError::from(e).message),
            (Ok(_), Ok(address)) => {
                let (shipping, _) = crate::checkout::rates(&state.db, tenant.store_id).await?;
                crate::checkout::rates::rates_for(&shipping, &address.country)
                    .is_empty()
                    .then(|| format!("Sorry, we do not ship to {} yet.", address.country))
            }
        };
        if let Some(problem) = problem {
            let mut r = private(
                information_page(&state, &tenant, &cart, &draft, &shopper, Some(problem)).await?,
            );
            *r.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
            return Ok(r);
        }
        if let (Some(customer), Some(_)) = (shopper.customer_id(), field(&fields, "save_address")) {
            remember_address(&state, &tenant, customer, &draft.address).await?;
        }
        let id = crate::accounts::secrets::random_token()[..32].to_owned();
        save_draft(&state, &tenant, &id, &draft).await?;
        Ok(see_other(&format!("/checkout/review?d={id}")))
    }
    .await;
    result.unwrap_or_else(|e| error_page(&state, &tenant, e))
}

/// Saves the checkout's address to the customer's address book, unless it
/// is there already (or the book is full: the checkout goes on).
async fn remember_address(
    state: &AppState,
    tenant: &TenantContext,
    customer: mercato_tenants::CustomerId,
    address: &AddressForm,
) -> Result<(), PodError> {
    let Ok(fields) = address.fields().validate() else {
        return Ok(());
    };
    let book = crate::accounts::addresses::list(&state.db, tenant.store_id, customer).await?;
    if book.iter().any(|a| a.fields() == fields) {
        return Ok(());
    }
    match crate::accounts::addresses::add(state, tenant.store_id, customer, fields, false).await {
        Ok(_) => Ok(()),
        Err(e) if e.client_error().is_some() => Ok(()),
        Err(e) => Err(e),
    }
}

/// A shipping option as the review offers it.
#[derive(Serialize)]
struct OptionView {
    code: String,
    name: String,
    price: Money,
    selected: bool,
}

/// The id of the shopper's cart, if they have one (without reading its
/// lines).
async fn cart_id(
    state: &AppState,
    tenant: &TenantContext,
    shopper: &Shopper,
) -> Result<Option<CartId>, PodError> {
    match shopper.cart() {
        None => Ok(None),
        Some(CartRef::Guest(token)) => Ok(Some(token.cart())),
        Some(cart) => match crate::cart::active(state, tenant.store_id, &cart).await {
            Ok(record) => Ok(Some(record.id)),
            Err(e) if e.client_error().is_some() => Ok(None),
            Err(e) => Err(e),
        },
    }
}

/// The shopper's own address, as the browser reached the store (the
/// gateway sends the browser back there): the store URL's scheme, the
/// host the router was asked for and its port.
fn origin(state: &AppState, tenant: &TenantContext, headers: &HeaderMap) -> String {
    let base = store_url(state, tenant.store_id);
    let scheme = base.split_once("://").map_or("https", |(s, _)| s);
    let host = headers
        .get("x-forwarded-host")
        .and_then(|v| v.to_str().ok());
    let port = headers
        .get("x-forwarded-port")
        .and_then(|v| v.to_str().ok());
    match (host, port) {
        (Some(h), Some(p)) if p != "80" && p != "443" => format!("{scheme}://{h}:{p}"),
        (Some(h), _) => format!("{scheme}://{h}"),
        (None, _) => base,
    }
}

/// `GET /checkout/review?d=<draft>[&shipping=<code>]`: shipping options,
/// the priced order and the card form (posting to the gateway).
pub async fn review(
    State(state): State<AppState>,
    tenant: TenantContext,
    shopper: Shopper,
    headers: HeaderMap,
    ApiQuery(pairs): ApiQuery<Vec<(String, String)>>,
) -> Response {
    let result = async {
        let Some(cart) = cart_of(&state, &tenant, &shopper).await? else {
            return Ok(see_other("/cart"));
        };
        let id = query(&pairs, "d").unwrap_or_default().to_owned();
        let Some(mut draft) = load_draft(&state, &tenant, &id, cart.id).await? else {
            return Ok(see_other("/checkout"));
        };
        let address = draft
            .address
            .input()
            .validate()
            .map_err(ApiError::from)?;
        let email = Email::parse(&draft.email).map_err(|e| ApiError::new(ErrorCode::InvalidEmail, e))?;
        let (shipping, _) = crate::checkout::rates(&state.db, tenant.store_id).await?;
        let offered = crate::checkout::rates::rates_for(&shipping, &address.country);
        let chosen = query(&pairs, "shipping")
            .and_then(|code| offered.iter().find(|r| r.code == code))
            .or_else(|| offered.first())
            .ok_or_else(|| ApiError::new(ErrorCode::ShippingUnavailable, format!("we do not ship to {}", address.country)))?;
        let options: Vec<OptionView> = offered
            .iter()
            .map(|r| OptionView {
                code: r.code.clone(),
                name: r.name.clone(),
                price: Money::new(
                    crate::checkout::rates::shipping_price(r, cart.subtotal.minor),
                    tenant.currency,
                ),
                selected: r.code == chosen.code,
            })
            .collect();
        let Some(cart_ref) = shopper.cart() else {
            return Ok(see_other("/cart"));
        };
        let asked = Asked {
            cart: cart_ref,
            email: Some(email),
            address,
            billing: None,
            shipping_option: chosen.code.clone(),
            expected_total: None,
            payment_token: String::new(),
            gift_cards: Vec::new(),
        };
        let quote: Quote = crate::checkout::saga::price(&state, tenant.store_id, &asked).await?;
        let mut problem = draft.problem.take();
        let mut changed = problem.is_some();
        // The gift cards entered: what each pays of the total now. A card
        // that cannot pay (spent, expired, disabled) is dropped, with why.
        let tender = loop {
            match plan_cards(&state, &tenant, &draft.gift_cards, quote.total_minor).await? {
                Ok(tender) => break tender,
                Err((code, why)) => {
                    draft.gift_cards.retain(|c| *c != code);
                    problem = Some(why);
                    changed = true;
                }
            }
        };
        if changed {
            save_draft(&state, &tenant, &id, &draft).await?;
        }
        let by_cards: i64 = tender.iter().map(|t| t.amount_minor).sum();
        let card_minor = quote.total_minor - by_cards;
        let pay_url = if card_minor > 0 {
            let return_url = format!(
                "{}/checkout/complete?d={id}&shipping={}&total={}",
                origin(&state, &tenant, &headers),
                chosen.code,
                quote.total_minor
            );
            let session = state
                .payments
                .open_card_session(&return_url)
                .await
                .map_err(|e| {
                    tracing::warn!(error = %e, "could not open a card session");
                    ApiError::new(
                        ErrorCode::ServiceUnavailable,
                        "payments are unavailable for a moment; please try again",
                    )
                })?;
            Some(format!("{}{}", state.config.gateway.browser_base(), session.pay_path))
        } else {
            None
        };
        let money = |minor: i64| Money::new(minor, tenant.currency);
        let body = render(
            &state,
            &tenant,
            "Review and pay",
            context! {
                step => "review",
                draft_id => id.clone(),
                draft => Value::from_serialize(&draft),
                options => Value::from_serialize(&options),
                lines => Value::from_serialize(quote.lines.iter().map(|l| context! {
                    title => l.title.clone(),
                    variant_title => l.variant_title.clone(),
                    quantity => l.quantity,
                    total => Value::from_serialize(money(l.unit_price_minor * i64::from(l.quantity))),
                }).collect::<Vec<_>>()),
                totals => context! {
                    subtotal => Value::from_serialize(money(quote.subtotal_minor)),
                    discount => Value::from_serialize(money(quote.discount_minor)),
                    shipping => Value::from_serialize(money(quote.shipping_minor)),
                    tax => Value::from_serialize(money(quote.tax_minor)),
                    tax_name => quote.shipping_option.tax_name.clone(),
                    total => Value::from_serialize(money(quote.total_minor)),
                },
                pay_url,
                gift_cards => Value::from_serialize(tender.iter().map(|t| context! {
                    last4 => t.last4.clone(),
                    amount => Value::from_serialize(money(t.amount_minor)),
                }).collect::<Vec<_>>()),
                card_total => Value::from_serialize(money(card_minor)),
                attempt => crate::accounts::secrets::random_token()[..32].to_owned(),
                shipping_code => chosen.code.clone(),
                problem,
            },
        )
        .await?;
        Ok(private(body))
    }
    .await;
    result.unwrap_or_else(|e| error_page(&state, &tenant, e))
}

/// `GET /checkout/complete`: where the gateway sends the browser back.
pub async fn complete(
    State(state): State<AppState>,
    tenant: TenantContext,
    shopper: Shopper,
    ClientAddress(client): ClientAddress,
    ApiQuery(pairs): ApiQuery<Vec<(String, String)>>,
) -> Response {
    let result = async {
        let id = query(&pairs, "d").unwrap_or_default().to_owned();
        let shipping = query(&pairs, "shipping").unwrap_or_default().to_owned();
        let total: Option<i64> = query(&pairs, "total").and_then(|t| t.parse().ok());
        let session_id = query(&pairs, "session").unwrap_or_default().to_owned();
        let (Some(cart_id), Some(cart_ref)) =
            (cart_id(&state, &tenant, &shopper).await?, shopper.cart())
        else {
            return Ok(see_other("/cart"));
        };
        let Some(mut draft) = load_draft(&state, &tenant, &id, cart_id).await? else {
            return Ok(see_other("/checkout"));
        };
        let back = format!("/checkout/review?d={id}&shipping={shipping}");
        let valid_session = session_id.len() <= 64
            && session_id.starts_with("cs_")
            && session_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_');
        let session = if valid_session {
            state
                .payments
                .card_session(&session_id)
                .await
                .map_err(|e| {
                    tracing::warn!(error = %e, "could not read a card session");
                    ApiError::new(
                        ErrorCode::ServiceUnavailable,
                        "payments are unavailable for a moment; please try again",
                    )
                })?
        } else {
            None
        };
        let Some(session) = session else {
            return Ok(see_other(&back));
        };
        let Some(payment_token) = session
            .token
            .clone()
            .filter(|_| session.status == "complete")
        else {
            draft.problem = Some(match &session.card_error {
                Some(e) => format!("Your card was not accepted: {}", e.message),
                None => "The payment page expired; please enter your card again.".to_owned(),
            });
            save_draft(&state, &tenant, &id, &draft).await?;
            return Ok(see_other(&back));
        };
        let address = draft.address.input();
        let raw = serde_json::json!({
            "email": draft.email,
            "shipping_address": address,
            "shipping_option": shipping,
            "payment_token": payment_token,
            "gift_cards": draft.gift_cards,
            "expected_total_minor": total,
        });
        let placed = crate::checkout::place::place(
            &state,
            tenant.store_id,
            format!("sf_{session_id}"),
            &raw,
            cart_ref,
            &client,
        )
        .await;
        finish(&state, &tenant, &id, &shipping, draft, placed).await
    }
    .await;
    result.unwrap_or_else(|e| error_page(&state, &tenant, e))
}

/// Where a placed checkout sends the shopper: the order's page, a page
/// that refreshes while the gateway settles, or back to the review with
/// the refusal in words.
async fn finish(
    state: &AppState,
    tenant: &TenantContext,
    id: &str,
    shipping: &str,
    mut draft: Draft,
    placed: Result<crate::checkout::sql::Checkout, PodError>,
) -> Result<Response, PodError> {
    let back = format!("/checkout/review?d={id}&shipping={}", urlencode(shipping));
    let checkout = match placed {
        Ok(c) => c,
        Err(e) => match e.client_error() {
            Some(refusal) => {
                draft.problem = Some(in_words(refusal.code.as_str(), &refusal.message));
                save_draft(state, tenant, id, &draft).await?;
                return Ok(see_other(&back));
            }
            None => return Err(e),
        },
    };
    match &checkout.outcome {
        None => {
            // Still settling with the gateway: this page again shortly
            // (the same session replays the same checkout).
            let body = render(
                state,
                tenant,
                "Processing your payment",
                context! { step => "processing" },
            )
            .await?;
            let mut r = private(body);
            *r.status_mut() = StatusCode::ACCEPTED;
            r.headers_mut()
                .insert(header::REFRESH, HeaderValue::from_static("2"));
            Ok(r)
        }
        Some((201, body)) => {
            let path = body["confirmation_path"].as_str().unwrap_or_default();
            let (number, token) = confirmation(path)
                .ok_or_else(|| PodError::internal("an order without its confirmation path"))?;
            drop_draft(state, tenant, id).await;
            let mut r = see_other(&format!("/orders/{number}?token={token}"));
            let ttl = std::time::Duration::from_secs(state.config.cart.guest_ttl_secs);
            r.headers_mut().append(SET_COOKIE, count_cookie(0, ttl));
            Ok(r)
        }
        Some((_, body)) => {
            let message = body["error"]["message"]
                .as_str()
                .unwrap_or("the payment did not go through")
                .to_owned();
            draft.problem = Some(in_words(
                body["error"]["code"].as_str().unwrap_or_default(),
                &message,
            ));
            save_draft(state, tenant, id, &draft).await?;
            Ok(see_other(&back))
        }
    }
}

/// A checkout's refusal as the review page tells the shopper: the API's
/// messages are written for developers ("the card was declined
/// (card_declined); ...", "not enough stock: <id>: 3 wanted"). Gift card
/// refusals are already in words (they name the card by its last four).
fn in_words(code: &str, message: &str) -> String {
    match code {
        "payment_declined" => "Your card was declined and nothing was charged. Please check \
            its details or use another card."
            .to_owned(),
        "payment_failed" => "The payment did not go through and nothing was charged. Please \
            try again or use another card."
            .to_owned(),
        "out_of_stock" => "Some of your items sold out while you were checking out; nothing \
            was charged. Please check your cart."
            .to_owned(),
        "price_changed" => "A price changed while you were checking out; nothing was charged. \
            Please check the new total and pay again."
            .to_owned(),
        "empty_cart" | "variant_unavailable" => "Something in your cart is no longer for sale; \
            nothing was charged. Please check your cart."
            .to_owned(),
        "shipping_unavailable" => "That shipping method does not go to your address; please \
            choose another."
            .to_owned(),
        "checkout_interrupted" => "Your checkout was interrupted and has been undone. Please \
            try again."
            .to_owned(),
        "checkout_pending" => "Your payment is still being confirmed. Please wait a moment \
            before trying again."
            .to_owned(),
        _ => message.to_owned(),
    }
}

/// What the gift cards `codes` pay of `total_minor`, in order; or the
/// first code that cannot pay, with why in the shopper's words.
async fn plan_cards(
    state: &AppState,
    tenant: &TenantContext,
    codes: &[String],
    total_minor: i64,
) -> Result<Result<Vec<crate::orders::GiftCardTender>, (String, String)>, PodError> {
    let mut cards = Vec::with_capacity(codes.len());
    for code in codes {
        match crate::gift_cards::find_by_code(&state.db, tenant.store_id, code).await? {
            Some(card) => cards.push((code.clone(), card)),
            None => {
                return Ok(Err((
                    code.clone(),
                    "That gift card code is not one of ours.".into(),
                )))
            }
        }
    }
    let only: Vec<_> = cards.iter().map(|(_, c)| c.clone()).collect();
    Ok(crate::gift_cards::model::plan_tender(
        &only,
        tenant.currency,
        total_minor,
        chrono::Utc::now(),
    )
    .map_err(|(id, refusal)| {
        let (code, card) = cards
            .iter()
            .find(|(_, c)| c.id == id)
            .map_or((String::new(), None), |(code, c)| (code.clone(), Some(c)));
        let last4 = card.map_or("", |c| c.last4.as_str());
        (code, refusal.at_checkout(last4, tenant.currency))
    }))
}

/// A form posted from the review page: its fields, the draft it names
/// and the shopper's cart.
struct Posted {
    fields: Vec<(String, String)>,
    draft: Draft,
    cart: CartRef,
}

impl Posted {
    /// The form, checked (its `Origin`, its encoding); or where to send a
    /// shopper whose cart or draft is gone.
    async fn read(
        state: &AppState,
        tenant: &TenantContext,
        shopper: &Shopper,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<Result<Self, Response>, PodError> {
        let fields = posted_form(headers, body)?;
        let (Some(cart_id), Some(cart)) = (cart_id(state, tenant, shopper).await?, shopper.cart())
        else {
            return Ok(Err(see_other("/cart")));
        };
        let id = field(&fields, "d").unwrap_or_default().to_owned();
        let Some(draft) = load_draft(state, tenant, &id, cart_id).await? else {
            return Ok(Err(see_other("/checkout")));
        };
        Ok(Ok(Self {
            fields,
            draft,
            cart,
        }))
    }

    /// A field, trimmed; empty if the form has none.
    fn field(&self, name: &str) -> String {
        field(&self.fields, name).unwrap_or_default().to_owned()
    }
}

/// `POST /checkout/gift-card` (`d`, `code`): adds a gift card to the
/// draft's payment, after the same lookup limits as `POST
/// /api/gift-cards/lookup` (10 a minute per client address, 300 per
/// store).
pub async fn add_gift_card(
    State(state): State<AppState>,
    tenant: TenantContext,
    shopper: Shopper,
    ClientAddress(client): ClientAddress,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let result = async {
        let mut posted = match Posted::read(&state, &tenant, &shopper, &headers, &body).await? {
            Ok(p) => p,
            Err(elsewhere) => return Ok(elsewhere),
        };
        let (id, shipping, code) = (
            posted.field("d"),
            posted.field("shipping"),
            posted.field("code"),
        );
        let draft = &mut posted.draft;
        let back = format!("/checkout/review?d={id}&shipping={}", urlencode(&shipping));
        if let Some(secs) =
            crate::gift_cards::limit::count_lookup(&state, tenant.store_id, &client).await
        {
            draft.problem = Some(format!(
                "Too many gift card tries; try again in {secs} seconds."
            ));
        } else if code.is_empty() || code.chars().count() > 64 {
            draft.problem = Some("Enter the gift card's code.".into());
        } else if draft.gift_cards.len() >= crate::gift_cards::model::MAX_PER_CHECKOUT {
            draft.problem = Some(format!(
                "At most {} gift cards per order.",
                crate::gift_cards::model::MAX_PER_CHECKOUT
            ));
        } else {
            match crate::gift_cards::find_by_code(&state.db, tenant.store_id, &code).await? {
                None => draft.problem = Some("That gift card code is not one of ours.".into()),
                Some(_) => {
                    // The same card typed again (another case, other dashes)
                    // is the same code: compared as parsed, no reads.
                    let parsed = crate::gift_cards::model::Code::parse(&code);
                    let known = draft
                        .gift_cards
                        .iter()
                        .any(|other| crate::gift_cards::model::Code::parse(other) == parsed);
                    if !known {
                        draft.gift_cards.push(code);
                    }
                }
            }
        }
        save_draft(&state, &tenant, &id, draft).await?;
        Ok(see_other(&back))
    }
    .await;
    result.unwrap_or_else(|e| error_page(&state, &tenant, e))
}

/// `POST /checkout/gift-card/remove` (`d`, `index`): takes a gift card off.
pub async fn remove_gift_card(
    State(state): State<AppState>,
    tenant: TenantContext,
    shopper: Shopper,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let result = async {
        let mut posted = match Posted::read(&state, &tenant, &shopper, &headers, &body).await? {
            Ok(p) => p,
            Err(elsewhere) => return Ok(elsewhere),
        };
        let (id, shipping, index) = (
            posted.field("d"),
            posted.field("shipping"),
            posted.field("index"),
        );
        let draft = &mut posted.draft;
        if let Ok(i) = index.parse::<usize>() {
            if i < draft.gift_cards.len() {
                draft.gift_cards.remove(i);
                save_draft(&state, &tenant, &id, draft).await?;
            }
        }
        Ok(see_other(&format!(
            "/checkout/review?d={id}&shipping={}",
            urlencode(&shipping)
        )))
    }
    .await;
    result.unwrap_or_else(|e| error_page(&state, &tenant, e))
}

/// `POST /checkout/place` (`d`, `shipping`, `total`, `attempt`): an order
/// the gift cards pay in full (no card form). `attempt` is the review
/// page's: a second click replays the first.
pub async fn place_without_card(
    State(state): State<AppState>,
    tenant: TenantContext,
    shopper: Shopper,
    ClientAddress(client): ClientAddress,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let result = async {
        let posted = match Posted::read(&state, &tenant, &shopper, &headers, &body).await? {
            Ok(p) => p,
            Err(elsewhere) => return Ok(elsewhere),
        };
        let (id, shipping, attempt) = (
            posted.field("d"),
            posted.field("shipping"),
            posted.field("attempt"),
        );
        if attempt.len() != 32 || !attempt.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(ApiError::invalid("this form is not one of ours; reload the page").into());
        }
        let total: Option<i64> = posted.field("total").parse().ok();
        let Posted { draft, cart, .. } = posted;
        let raw = serde_json::json!({
            "email": draft.email,
            "shipping_address": draft.address.input(),
            "shipping_option": shipping,
            "gift_cards": draft.gift_cards,
            "expected_total_minor": total,
        });
        let placed = crate::checkout::place::place(
            &state,
            tenant.store_id,
            format!("sf_{attempt}"),
            &raw,
            cart,
            &client,
        )
        .await;
        finish(&state, &tenant, &id, &shipping, draft, placed).await
    }
    .await;
    result.unwrap_or_else(|e| error_page(&state, &tenant, e))
}

/// The order number and lookup token of a confirmation path
/// (`/api/orders/1001?token=<64 hex>`).
fn confirmation(path: &str) -> Option<(i64, String)> {
    let rest = path.strip_prefix("/api/orders/")?;
    let (number, query) = rest.split_once("?token=")?;
    let number = number.parse().ok()?;
    (query.len() == 64 && query.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| (number, query.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confirmation_paths_give_number_and_token() {
        let t = "ab".repeat(32);
        assert_eq!(
            confirmation(&format!("/api/orders/1001?token={t}")),
            Some((1001, t.clone()))
        );
        assert_eq!(confirmation("/api/orders/x?token=1"), None);
        assert_eq!(confirmation(&format!("/orders/1001?token={t}")), None);
    }
}
