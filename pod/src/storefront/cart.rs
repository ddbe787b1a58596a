//! The cart page and its forms. Every form posts
//! (`application/x-www-form-urlencoded`), changes the cart through the
//! cart context as the JSON API does, and answers `303 See Other` to the
//! cart page, so the pages work without script and a reload never posts
//! twice.
//!
//! A guest's cart is named by the same `mercato_cart` cookie the API sets
//! (`HttpOnly`, `SameSite=Lax`, so another site's form cannot post with
//! it); a form whose `Origin` is another site is refused (`403`) all the
//! same.

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::header::SET_COOKIE;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use mercato_tenants::http::ApiQuery;
use mercato_tenants::{ApiError, ErrorCode, ProductId, VariantId};
use minijinja::context;
use minijinja::value::Value;

use super::pages::{count_cookie, error_page, private};
use super::shopper::Shopper;
use super::view::{self, CartView};
use crate::cart::sent::TOKEN_COOKIE;
use crate::cart::{Cart, CartRef, CartToken, Change, CodeChange};
use crate::catalog::{read, Product};
use crate::error::PodError;
use crate::state::AppState;
use crate::tenancy::TenantContext;
use mercato_tenants::forms::{field, posted_form, see_other};

/// What the cart page shows above the cart.
struct Notice {
    kind: &'static str,
    text: String,
}

/// Renders the cart page.
async fn cart_page(
    state: &AppState,
    tenant: &TenantContext,
    cart: Option<&Cart>,
    notice: Option<Notice>,
    restore_token: Option<String>,
) -> Result<String, PodError> {
    let view = cart.map(CartView::of);
    super::pages::shoppers_page(
        state,
        tenant,
        "cart.html",
        "Your cart",
        "/cart",
        context! {
            cart => Value::from_serialize(&view),
            cart_count => view.as_ref().map_or(0, |v| v.item_count),
            notice => notice.map(|n| context! { kind => n.kind, text => n.text }),
            restore_token,
        },
    )
    .await
}

/// `GET /cart`: the shopper's cart, each line checked against the catalog
/// and stock now.
pub async fn show(
    State(state): State<AppState>,
    tenant: TenantContext,
    shopper: Shopper,
) -> Response {
    let cart = match shopper.cart() {
        None => None,
        Some(cart) => {
            match crate::cart::read(&state, tenant.store_id, tenant.currency, &cart).await {
                Ok(cart) => Some(cart),
                // Expired or unknown: an empty cart.
                Err(e)
                    if e.client_error()
                        .is_some_and(|a| a.code.status() == StatusCode::NOT_FOUND) =>
                {
                    None
                }
                Err(e) => return error_page(&state, &tenant, e),
            }
        }
    };
    match cart_page(&state, &tenant, cart.as_ref(), None, None).await {
        Ok(body) => with_count(private(body), &state, cart.as_ref()),
        Err(e) => error_page(&state, &tenant, e),
    }
}

/// Sets the cart count cookie the page script shows in the header.
fn with_count(mut response: Response, state: &AppState, cart: Option<&Cart>) -> Response {
    let count = cart.map_or(0, |c| c.item_count);
    let ttl = Duration::from_secs(state.config.cart.guest_ttl_secs);
    response
        .headers_mut()
        .append(SET_COOKIE, count_cookie(count, ttl));
    response
}

/// The shopper's cart: a signed-in customer's (made when first changed),
/// else the guest's, created (with its cookie) if they have none yet.
async fn cart_or_new(
    state: &AppState,
    tenant: &TenantContext,
    shopper: Shopper,
) -> Result<(CartRef, Option<HeaderValue>), PodError> {
    if let Some(id) = shopper.customer_id() {
        return Ok((CartRef::Customer(id), None));
    }
    if let Some(cart) = shopper.cart() {
        if crate::cart::read(state, tenant.store_id, tenant.currency, &cart)
            .await
            .is_ok()
        {
            return Ok((cart, None));
        }
    }
    let (token, _) = crate::cart::create_guest(state, tenant.store_id, tenant.currency).await?;
    let cookie = guest_cookie(state, &token)?;
    Ok((CartRef::Guest(token), Some(cookie)))
}

/// The cookie that names a guest's cart, as the API sets it.
fn guest_cookie(state: &AppState, token: &CartToken) -> Result<HeaderValue, PodError> {
    let cookie = format!(
        "{TOKEN_COOKIE}={}; Path=/; Max-Age={}; HttpOnly; SameSite=Lax",
        token.expose(),
        state.config.cart.guest_ttl_secs
    );
    HeaderValue::from_str(&cookie).map_err(PodError::internal)
}

/// `GET /cart/restore?token=`: the page an abandoned-cart reminder links
/// to. It asks before it acts (a button that posts): a mail scanner that
/// follows links changes nothing.
pub async fn restore_page(
    State(state): State<AppState>,
    tenant: TenantContext,
    ApiQuery(pairs): ApiQuery<Vec<(String, String)>>,
) -> Response {
    let token = field(&pairs, "token").unwrap_or_default().to_owned();
    let notice = Notice {
        kind: "info",
        text: "Your cart is waiting for you.".to_owned(),
    };
    match cart_page(&state, &tenant, None, Some(notice), Some(token)).await {
        Ok(body) => private(body),
        Err(e) => error_page(&state, &tenant, e),
    }
}

/// `POST /cart/restore` (`token`): a new cart with the reminded cart's
/// lines (at today's prices and stock), as `POST /api/cart/restore`.
pub async fn restore(
    State(state): State<AppState>,
    tenant: TenantContext,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let restored = async {
        let fields = posted_form(&headers, &body)?;
        let link = CartToken::parse(field(&fields, "token").unwrap_or_default()).map_err(|_| {
            ApiError::new(ErrorCode::InvalidCartToken, "this link is not one of ours")
        })?;
        let (token, cart) =
            crate::cart::abandoned::restore(&state, tenant.store_id, tenant.currency, &link)
                .await?;
        Ok::<_, PodError>((guest_cookie(&state, &token)?, cart))
    }
    .await;
    match restored {
        Ok((cookie, cart)) => {
            let mut r = with_count(see_other("/cart"), &state, Some(&cart));
            r.headers_mut().append(SET_COOKIE, cookie);
            r
        }
        Err(e) => answer(&state, &tenant, None, Err(e), None).await,
    }
}

/// The variant a product form names: `variant_id`, else the product's
/// variant with the chosen `option0`, `option1`, ... values.
async fn chosen_variant(
    state: &AppState,
    tenant: &TenantContext,
    fields: &[(String, String)],
) -> Result<VariantId, PodError> {
    if let Some(raw) = field(fields, "variant_id") {
        return raw
            .parse()
            .map_err(|_| ApiError::new(ErrorCode::InvalidId, "variant_id is not an id").into());
    }
    let product: ProductId = field(fields, "product_id")
        .ok_or_else(|| ApiError::invalid("choose a product"))?
        .parse()
        .map_err(|_| ApiError::new(ErrorCode::InvalidId, "product_id is not an id"))?;
    let body = read::product_body(state, tenant.store_id, product).await?;
    let product: Product = serde_json::from_slice(&body).map_err(PodError::internal)?;
    let chosen: Vec<Option<String>> = (0..product.options.len())
        .map(|i| field(fields, &format!("option{i}")).map(str::to_owned))
        .collect();
    view::variant_for_options(&product, &chosen).ok_or_else(|| {
        ApiError::new(
            ErrorCode::UnknownVariant,
            "this combination of options is not sold; choose another",
        )
        .into()
    })
}

/// The answer to a form: back to the cart page, or the page again with
/// what went wrong (a refusal of the cart's, in its words).
async fn answer(
    state: &AppState,
    tenant: &TenantContext,
    cart: Option<&CartRef>,
    done: Result<Cart, PodError>,
    cookie: Option<HeaderValue>,
) -> Response {
    let mut response = match done {
        Ok(cart) => with_count(see_other("/cart"), state, Some(&cart)),
        Err(e) => match e.client_error() {
            Some(refusal) => {
                let status = refusal.code.status();
                let now = match cart {
                    Some(c) => crate::cart::read(state, tenant.store_id, tenant.currency, c)
                        .await
                        .ok(),
                    None => None,
                };
                let notice = Notice {
                    kind: "error",
                    text: refusal.message,
                };
                match cart_page(state, tenant, now.as_ref(), Some(notice), None).await {
                    Ok(body) => {
                        let mut r = private(body);
                        *r.status_mut() = status;
                        r
                    }
                    Err(e) => error_page(state, tenant, e),
                }
            }
            None => error_page(state, tenant, e),
        },
    };
    if let Some(cookie) = cookie {
        response.headers_mut().append(SET_COOKIE, cookie);
    }
    response
}

/// `POST /cart/add`: adds the chosen variant (`variant_id`, or the
/// product's `option<i>` values) in `quantity` units (1 if left out).
pub async fn add(
    State(state): State<AppState>,
    tenant: TenantContext,
    shopper: Shopper,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let prepared = async {
        let fields = posted_form(&headers, &body)?;
        let quantity = match field(&fields, "quantity") {
            None | Some("") => 1,
            Some(q) => q.parse::<i64>().map_err(|_| {
                ApiError::new(
                    ErrorCode::InvalidQuantity,
                    "the quantity must be a whole number",
                )
            })?,
        };
        let variant = chosen_variant(&state, &tenant, &fields).await?;
        Ok::<_, PodError>((variant, quantity))
    }
    .await;
    let (variant, quantity) = match prepared {
        Ok(p) => p,
        Err(e) => return answer(&state, &tenant, None, Err(e), None).await,
    };
    let (cart, cookie) = match cart_or_new(&state, &tenant, shopper).await {
        Ok(c) => c,
        Err(e) => return error_page(&state, &tenant, e),
    };
    let done = crate::cart::change(
        &state,
        tenant.store_id,
        tenant.currency,
        &cart,
        Change::Add { variant, quantity },
    )
    .await;
    answer(&state, &tenant, Some(&cart), done, cookie).await
}

/// `POST /cart/update`: sets each line's quantity from its `qty.<variant>`
/// field (0 removes the line).
pub async fn update(
    State(state): State<AppState>,
    tenant: TenantContext,
    shopper: Shopper,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let cart = shopper.cart();
    let done = async {
        let fields = posted_form(&headers, &body)?;
        let cart = cart.as_ref().ok_or_else(no_cart)?;
        let mut changes = Vec::new();
        for (name, value) in &fields {
            let Some(variant) = name.strip_prefix("qty.") else {
                continue;
            };
            let variant: VariantId = variant
                .parse()
                .map_err(|_| ApiError::new(ErrorCode::InvalidId, "not a cart line"))?;
            let quantity = value.trim().parse::<i64>().map_err(|_| {
                ApiError::new(
                    ErrorCode::InvalidQuantity,
                    "each quantity must be a whole number",
                )
            })?;
            changes.push(Change::Set { variant, quantity });
        }
        let mut now = crate::cart::read(&state, tenant.store_id, tenant.currency, cart).await?;
        for change in changes {
            // Only the quantities that changed: a line the shopper did not
            // touch keeps its place and its price.
            if let Change::Set { variant, quantity } = &change {
                let same = now
                    .lines
                    .iter()
                    .any(|l| l.variant_id == *variant && i64::from(l.quantity) == *quantity);
                if same {
                    continue;
                }
            }
            now =
                crate::cart::change(&state, tenant.store_id, tenant.currency, cart, change).await?;
        }
        Ok(now)
    }
    .await;
    answer(&state, &tenant, cart.as_ref(), done, None).await
}

/// `POST /cart/remove`: removes the line of `variant_id`.
pub async fn remove(
    State(state): State<AppState>,
    tenant: TenantContext,
    shopper: Shopper,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let cart = shopper.cart();
    let done = async {
        let fields = posted_form(&headers, &body)?;
        let cart = cart.as_ref().ok_or_else(no_cart)?;
        let variant: VariantId = field(&fields, "variant_id")
            .unwrap_or_default()
            .parse()
            .map_err(|_| ApiError::new(ErrorCode::InvalidId, "not a cart line"))?;
        crate::cart::change(
            &state,
            tenant.store_id,
            tenant.currency,
            cart,
            Change::Remove { variant },
        )
        .await
    }
    .await;
    answer(&state, &tenant, cart.as_ref(), done, None).await
}

/// `POST /cart/discount` (enter `code`) and `POST /cart/discount/remove`.
async fn discount(
    state: AppState,
    tenant: TenantContext,
    shopper: Shopper,
    headers: HeaderMap,
    body: Bytes,
    adding: bool,
) -> Response {
    let cart = shopper.cart();
    let done = async {
        let fields = posted_form(&headers, &body)?;
        let cart = cart.as_ref().ok_or_else(no_cart)?;
        let code =
            crate::discounts::input::CodeKey::parse(field(&fields, "code").unwrap_or_default())
                .map_err(|e| {
                    ApiError::new(ErrorCode::InvalidRequest, format!("discount code: {e}"))
                })?;
        let change = if adding {
            CodeChange::Add(code)
        } else {
            CodeChange::Remove(code)
        };
        crate::cart::change_codes(&state, tenant.store_id, tenant.currency, cart, change).await
    }
    .await;
    answer(&state, &tenant, cart.as_ref(), done, None).await
}

pub async fn add_code(
    State(state): State<AppState>,
    tenant: TenantContext,
    shopper: Shopper,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    discount(state, tenant, shopper, headers, body, true).await
}

pub async fn remove_code(
    State(state): State<AppState>,
    tenant: TenantContext,
    shopper: Shopper,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    discount(state, tenant, shopper, headers, body, false).await
}

fn no_cart() -> PodError {
    ApiError::new(
        ErrorCode::InvalidCartToken,
        "your cart has expired; add the products again",
    )
    .into()
}
