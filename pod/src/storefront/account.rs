//! The customer's account on the storefront: register (and confirm by the
//! mailed link), sign in and out, reset a forgotten password, the orders,
//! the profile and the address book. Every form calls the accounts context
//! as the JSON API does (the same rate limits, the same answers whether or
//! not an email has an account); signing in sets the session cookie of
//! [`super::shopper`] and merges the guest cart the shopper brought.
//!
//! The mails link here: `/account/confirm?token=`,
//! `/account/reset-password?token=` and `/account/login`.

use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::header::SET_COOKIE;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use bytes::Bytes;
use mercato_tenants::http::ApiQuery;
use mercato_tenants::{AddressId, ApiError, ErrorCode, Money};
use minijinja::context;
use minijinja::value::Value;
use serde::Serialize;

use super::pages::{count_cookie, error_page, private};
use super::shopper::{session_cookie, signed_out_cookie, Shopper};
use crate::accounts::rate_limit::ClientAddress;
use crate::accounts::registration::{self, Registration};
use crate::accounts::{self, addresses, passwords, AddressFields, CustomerLogin, LoginRejection};
use crate::cart::{CartRef, SentToken};
use crate::error::PodError;
use crate::orders::Filter;
use crate::state::AppState;
use crate::tenancy::TenantContext;
use mercato_tenants::forms::{field, posted_form, see_other, urlencode};

/// Orders per page of the account's order list.
const ORDERS_PAGE: i64 = 10;

/// Where a sign-in goes on to: a path of this site (`/...`), never
/// another site (`//host`, `/\host`, a scheme); the account otherwise.
fn next_path(raw: Option<&str>) -> String {
    match raw {
        Some(p)
            if p.starts_with('/')
                && !p.starts_with("//")
                && !p.starts_with("/\\")
                && p.len() <= 512
                && !p.chars().any(char::is_control) =>
        {
            p.to_owned()
        }
        _ => "/account".to_owned(),
    }
}

/// To the sign-in page, coming back to `path` after.
pub(super) fn sign_in_first(path: &str) -> Response {
    see_other(&format!("/account/login?next={}", urlencode(path)))
}

/// An account page (`account.html` at `step`), never indexed or cached.
async fn page(
    state: &AppState,
    tenant: &TenantContext,
    title: &str,
    path: &str,
    extra: Value,
) -> Result<String, PodError> {
    super::pages::shoppers_page(state, tenant, "account.html", title, path, extra).await
}

/// An account page answered with `status`.
async fn answer(
    state: &AppState,
    tenant: &TenantContext,
    status: StatusCode,
    title: &str,
    path: &str,
    extra: Value,
) -> Result<Response, PodError> {
    let mut r = private(page(state, tenant, title, path, extra).await?);
    *r.status_mut() = status;
    Ok(r)
}

/// A refusal shown on the form that caused it: its status and its words;
/// an error that is not the shopper's (`5xx`) is the error page's.
fn refusal(e: PodError) -> Result<(StatusCode, String), PodError> {
    match e.client_error() {
        Some(a) => Ok((a.code.status(), in_words(a.code, &a.message))),
        None => Err(e),
    }
}

fn in_words(code: ErrorCode, message: &str) -> String {
    match code {
        ErrorCode::InvalidCredentials => "That email and password do not match an account \
            here. Check them, or reset your password."
            .to_owned(),
        ErrorCode::InvalidEmail => "Please enter a valid email address.".to_owned(),
        _ => mercato_tenants::forms::sentence(message),
    }
}

/// The response that signs `login` in: to `to`, with the session cookie and
/// the cart count of the customer's cart (the guest's merged in).
fn signed_in(
    state: &AppState,
    tenant: &TenantContext,
    login: &CustomerLogin,
    to: &str,
) -> Result<Response, PodError> {
    let mut r = see_other(to);
    r.headers_mut()
        .append(SET_COOKIE, session_cookie(state, tenant, login)?);
    if let Some(cart) = &login.cart {
        let ttl = Duration::from_secs(state.config.cart.customer_ttl_secs);
        r.headers_mut()
            .append(SET_COOKIE, count_cookie(cart.item_count, ttl));
    }
    Ok(r)
}

/// `GET /account/login[?next=][&reset=done]`.
pub async fn login_page(
    State(state): State<AppState>,
    tenant: TenantContext,
    shopper: Shopper,
    ApiQuery(pairs): ApiQuery<Vec<(String, String)>>,
) -> Response {
    let next = next_path(field(&pairs, "next"));
    if shopper.customer.is_some() {
        return see_other(&next);
    }
    let notice = (field(&pairs, "reset") == Some("done"))
        .then_some("Your password has been changed. Sign in with the new one.");
    let result = page(
        &state,
        &tenant,
        "Sign in",
        "/account/login",
        context! { step => "login", next, notice },
    )
    .await;
    result.map_or_else(|e| error_page(&state, &tenant, e), private)
}

/// `POST /account/login` (`email`, `password`, `next`): the same login as
/// `POST /api/customers/login` (its rate limits included).
pub async fn login(
    State(state): State<AppState>,
    tenant: TenantContext,
    shopper: Shopper,
    ClientAddress(client): ClientAddress,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let result = async {
        let fields = posted_form(&headers, &body)?;
        let email = field(&fields, "email").unwrap_or_default().to_owned();
        let password = field(&fields, "password").unwrap_or_default().to_owned();
        let next = next_path(field(&fields, "next"));
        let attempt =
            accounts::login_customer(&state, tenant.store_id, &email, password, &client).await;
        let problem = match attempt {
            Ok(mut login) => {
                let guest = SentToken(shopper.guest_token());
                accounts::login::merge_guest_cart(&state, tenant.store_id, guest, &mut login).await;
                if login.cart.is_none() {
                    let cart = CartRef::Customer(login.customer.id);
                    login.cart = crate::cart::read(&state, tenant.store_id, tenant.currency, &cart)
                        .await
                        .ok();
                }
                return signed_in(&state, &tenant, &login, &next);
            }
            Err(LoginRejection::Limited { retry_after_secs }) => (
                StatusCode::TOO_MANY_REQUESTS,
                format!(
                    "Too many tries. Please wait {} minutes and try again, or reset your password.",
                    retry_after_secs.div_ceil(60)
                ),
            ),
            Err(LoginRejection::Error(e)) => refusal(PodError::from(e))?,
        };
        let (status, problem) = problem;
        answer(
            &state,
            &tenant,
            status,
            "Sign in",
            "/account/login",
            context! { step => "login", next, email, problem },
        )
        .await
    }
    .await;
    result.unwrap_or_else(|e| error_page(&state, &tenant, e))
}

/// `POST /account/logout`: ends the session (as `POST
/// /api/customers/logout`) and forgets the cookie.
pub async fn logout(
    State(state): State<AppState>,
    tenant: TenantContext,
    shopper: Shopper,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let result = async {
        posted_form(&headers, &body)?;
        if let Some(customer) = &shopper.customer {
            accounts::sessions::log_out(&state.db, tenant.store_id, &customer.claims).await?;
        }
        let mut r = see_other("/");
        r.headers_mut()
            .append(SET_COOKIE, signed_out_cookie(&state, &tenant));
        let ttl = Duration::from_secs(state.config.cart.guest_ttl_secs);
        r.headers_mut().append(SET_COOKIE, count_cookie(0, ttl));
        Ok::<_, PodError>(r)
    }
    .await;
    result.unwrap_or_else(|e| error_page(&state, &tenant, e))
}

/// `GET /account/register`.
pub async fn register_page(State(state): State<AppState>, tenant: TenantContext) -> Response {
    let result = page(
        &state,
        &tenant,
        "Create an account",
        "/account/register",
        context! { step => "register", form => Value::from_serialize(RegisterForm::default()) },
    )
    .await;
    result.map_or_else(|e| error_page(&state, &tenant, e), private)
}

/// The registration form's fields, shown again when refused.
#[derive(Serialize, Default)]
struct RegisterForm {
    email: String,
    first_name: String,
    last_name: String,
    accepts_marketing: bool,
}

/// `POST /account/register` (`email`, `password`, `first_name`,
/// `last_name`, `accepts_marketing`): as `POST /api/customers`, answered
/// the same whether or not the email has an account: "check your mail".
pub async fn register(
    State(state): State<AppState>,
    tenant: TenantContext,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let result = async {
        let fields = posted_form(&headers, &body)?;
        let get = |name: &str| field(&fields, name).unwrap_or_default().to_owned();
        let form = RegisterForm {
            email: get("email"),
            first_name: get("first_name"),
            last_name: get("last_name"),
            accepts_marketing: field(&fields, "accepts_marketing").is_some(),
        };
        let parsed = async {
            let text = |name: &'static str, v: &str| {
                accounts::model::text(name, Some(v.to_owned()), 100).map(Option::unwrap_or_default)
            };
            Ok::<_, PodError>(Registration {
                email: accounts::parse_email(&form.email)?,
                password: accounts::parse_password(&get("password"))?,
                first_name: text("first_name", &form.first_name)?,
                last_name: text("last_name", &form.last_name)?,
                accepts_marketing: form.accepts_marketing,
            })
        }
        .await;
        let done = match parsed {
            Ok(registration) => registration::register(&state, tenant.store_id, registration).await,
            Err(e) => Err(e),
        };
        match done {
            Ok(()) => {
                answer(
                    &state,
                    &tenant,
                    StatusCode::ACCEPTED,
                    "Check your email",
                    "/account/register",
                    context! { step => "registered", email => form.email },
                )
                .await
            }
            Err(e) => {
                let (status, problem) = refusal(e)?;
                answer(
                    &state,
                    &tenant,
                    status,
                    "Create an account",
                    "/account/register",
                    context! { step => "register", form => Value::from_serialize(&form), problem },
                )
                .await
            }
        }
    }
    .await;
    result.unwrap_or_else(|e| error_page(&state, &tenant, e))
}

/// `GET /account/confirm?token=`: the confirmation mail's link. It asks
/// for the password chosen at registration before it acts (a mail scanner
/// following the link changes nothing).
pub async fn confirm_page(
    State(state): State<AppState>,
    tenant: TenantContext,
    ApiQuery(pairs): ApiQuery<Vec<(String, String)>>,
) -> Response {
    let token = field(&pairs, "token").unwrap_or_default().to_owned();
    let result = page(
        &state,
        &tenant,
        "Confirm your account",
        "/account/confirm",
        context! { step => "confirm", token },
    )
    .await;
    result.map_or_else(|e| error_page(&state, &tenant, e), private)
}

/// `POST /account/confirm` (`token`, `password`): confirms the account
/// and signs it in (as `POST /api/customers/confirm`).
pub async fn confirm(
    State(state): State<AppState>,
    tenant: TenantContext,
    shopper: Shopper,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let result = async {
        let fields = posted_form(&headers, &body)?;
        let token = field(&fields, "token").unwrap_or_default().to_owned();
        let password = field(&fields, "password").unwrap_or_default().to_owned();
        let guest = SentToken(shopper.guest_token());
        match accounts::login::confirm_customer(&state, tenant.store_id, &token, password, guest)
            .await
        {
            Ok(login) => signed_in(&state, &tenant, &login, "/account?welcome=1"),
            Err(e) => {
                let (status, problem) = match refusal(e)? {
                    (s, _) if s == StatusCode::UNAUTHORIZED => (
                        s,
                        "That is not the password you chose when you registered.".to_owned(),
                    ),
                    (s, _) if s == StatusCode::BAD_REQUEST => (
                        s,
                        "This link has expired or was already used. Register again to get a \
                         new one."
                            .to_owned(),
                    ),
                    other => other,
                };
                answer(
                    &state,
                    &tenant,
                    status,
                    "Confirm your account",
                    "/account/confirm",
                    context! { step => "confirm", token, problem },
                )
                .await
            }
        }
    }
    .await;
    result.unwrap_or_else(|e| error_page(&state, &tenant, e))
}

/// `GET /account/reset`: asks for the email to send a reset link to.
pub async fn reset_request_page(State(state): State<AppState>, tenant: TenantContext) -> Response {
    let result = page(
        &state,
        &tenant,
        "Reset your password",
        "/account/reset",
        context! { step => "reset_request" },
    )
    .await;
    result.map_or_else(|e| error_page(&state, &tenant, e), private)
}

/// `POST /account/reset` (`email`): as `POST
/// /api/customers/password-reset`, answered the same whether or not the
/// email has an account.
pub async fn reset_request(
    State(state): State<AppState>,
    tenant: TenantContext,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let result = async {
        let fields = posted_form(&headers, &body)?;
        let email = field(&fields, "email").unwrap_or_default().to_owned();
        let done = match accounts::parse_email(&email) {
            Ok(parsed) => passwords::request(&state, tenant.store_id, &parsed).await,
            Err(e) => Err(e.into()),
        };
        match done {
            Ok(()) => {
                answer(
                    &state,
                    &tenant,
                    StatusCode::ACCEPTED,
                    "Check your email",
                    "/account/reset",
                    context! { step => "reset_sent", email },
                )
                .await
            }
            Err(e) => {
                let (status, problem) = refusal(e)?;
                answer(
                    &state,
                    &tenant,
                    status,
                    "Reset your password",
                    "/account/reset",
                    context! { step => "reset_request", email, problem },
                )
                .await
            }
        }
    }
    .await;
    result.unwrap_or_else(|e| error_page(&state, &tenant, e))
}

/// `GET /account/reset-password?token=`: the reset mail's link; a form
/// for the new password.
pub async fn reset_page(
    State(state): State<AppState>,
    tenant: TenantContext,
    ApiQuery(pairs): ApiQuery<Vec<(String, String)>>,
) -> Response {
    let token = field(&pairs, "token").unwrap_or_default().to_owned();
    let result = page(
        &state,
        &tenant,
        "Choose a new password",
        "/account/reset-password",
        context! { step => "reset", token },
    )
    .await;
    result.map_or_else(|e| error_page(&state, &tenant, e), private)
}

/// `POST /account/reset-password` (`token`, `password`): sets the new
/// password (as `POST /api/customers/password-reset/confirm`, which signs
/// the customer out everywhere), then to the sign-in page.
pub async fn reset(
    State(state): State<AppState>,
    tenant: TenantContext,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let result = async {
        let fields = posted_form(&headers, &body)?;
        let token = field(&fields, "token").unwrap_or_default().to_owned();
        let done = match accounts::parse_password(field(&fields, "password").unwrap_or_default()) {
            Ok(password) => passwords::reset(&state, tenant.store_id, &token, password).await,
            Err(e) => Err(e.into()),
        };
        match done {
            Ok(()) => {
                let mut r = see_other("/account/login?reset=done");
                r.headers_mut()
                    .append(SET_COOKIE, signed_out_cookie(&state, &tenant));
                Ok(r)
            }
            Err(e) => {
                let (status, problem) = match refusal(e)? {
                    (s, _) if s == StatusCode::BAD_REQUEST => (
                        s,
                        "This link has expired or was already used. Ask for a new one below."
                            .to_owned(),
                    ),
                    other => other,
                };
                answer(
                    &state,
                    &tenant,
                    status,
                    "Choose a new password",
                    "/account/reset-password",
                    context! { step => "reset", token, problem },
                )
                .await
            }
        }
    }
    .await;
    result.unwrap_or_else(|e| error_page(&state, &tenant, e))
}

/// An order as the account lists it.
#[derive(Serialize)]
struct OrderRow {
    number: i64,
    placed: String,
    status: String,
    items: i64,
    total: Money,
}

/// `GET /account[?after=]`: the customer's orders (newest first, by
/// cursor), profile and default address.
pub async fn overview(
    State(state): State<AppState>,
    tenant: TenantContext,
    shopper: Shopper,
    ApiQuery(pairs): ApiQuery<Vec<(String, String)>>,
) -> Response {
    let Some(customer) = shopper.customer_id() else {
        return sign_in_first("/account");
    };
    let result = async {
        let before = field(&pairs, "after").and_then(|a| a.parse::<uuid::Uuid>().ok());
        let mut conn = state.db.acquire().await?;
        let filter = Filter {
            customer: Some(customer),
            before,
            limit: ORDERS_PAGE + 1,
            ..Filter::default()
        };
        let mut orders = crate::orders::list(&mut conn, tenant.store_id, &filter).await?;
        drop(conn);
        let next =
            crate::paging::split_page(&mut orders, ORDERS_PAGE as usize, |o| o.id.to_string());
        let rows: Vec<OrderRow> = orders
            .iter()
            .map(|o| OrderRow {
                number: o.number,
                placed: o.created_at.format("%B %-d, %Y").to_string(),
                status: serde_json::to_value(o.status)
                    .ok()
                    .and_then(|v| v.as_str().map(|s| s.replace('_', " ")))
                    .unwrap_or_default(),
                items: o.lines.iter().map(|l| i64::from(l.quantity)).sum(),
                total: Money::new(
                    o.total_minor,
                    mercato_tenants::Currency::parse(&o.currency).unwrap_or(tenant.currency),
                ),
            })
            .collect();
        let profile = accounts::customer_profile(&state.db, tenant.store_id, customer)
            .await?
            .ok_or_else(|| ApiError::not_found("customer"))?;
        let book = addresses::list(&state.db, tenant.store_id, customer).await?;
        let default = book.iter().find(|a| a.is_default).map(|a| a.fields());
        let body = page(
            &state,
            &tenant,
            "Your account",
            "/account",
            context! {
                step => "overview",
                welcome => field(&pairs, "welcome").is_some(),
                saved => field(&pairs, "saved").is_some(),
                profile => Value::from_serialize(&profile),
                orders => Value::from_serialize(&rows),
                next_cursor => next,
                default_address => Value::from_serialize(default.map(AddressView::from)),
                address_count => book.len(),
            },
        )
        .await?;
        Ok::<_, PodError>(private(body))
    }
    .await;
    result.unwrap_or_else(|e| error_page(&state, &tenant, e))
}

/// `POST /account/profile` (`first_name`, `last_name`, `phone`,
/// `accepts_marketing`): as `PATCH /api/customers/me`.
pub async fn update_profile(
    State(state): State<AppState>,
    tenant: TenantContext,
    shopper: Shopper,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(customer) = shopper.customer_id() else {
        return sign_in_first("/account");
    };
    let result = async {
        let fields = posted_form(&headers, &body)?;
        let get = |name: &str| Some(field(&fields, name).unwrap_or_default().to_owned());
        accounts::update_profile(
            &state,
            tenant.store_id,
            customer,
            get("first_name"),
            get("last_name"),
            get("phone"),
            Some(field(&fields, "accepts_marketing").is_some()),
        )
        .await?;
        Ok::<_, PodError>(see_other("/account?saved=1"))
    }
    .await;
    result.unwrap_or_else(|e| error_page(&state, &tenant, e))
}

/// An address as the pages show it.
#[derive(Serialize, Default)]
struct AddressView {
    id: Option<String>,
    is_default: bool,
    name: String,
    line1: String,
    line2: String,
    city: String,
    region: String,
    postal_code: String,
    country: String,
    phone: String,
}

impl From<AddressFields> for AddressView {
    fn from(f: AddressFields) -> Self {
        Self {
            id: None,
            is_default: false,
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

async fn addresses_page(
    state: &AppState,
    tenant: &TenantContext,
    customer: mercato_tenants::CustomerId,
    status: StatusCode,
    form: Option<AddressView>,
    problem: Option<String>,
) -> Result<Response, PodError> {
    let book = addresses::list(&state.db, tenant.store_id, customer).await?;
    let views: Vec<AddressView> = book
        .iter()
        .map(|a| AddressView {
            id: Some(a.id.to_string()),
            is_default: a.is_default,
            ..AddressView::from(a.fields())
        })
        .collect();
    answer(
        state,
        tenant,
        status,
        "Your addresses",
        "/account/addresses",
        context! {
            step => "addresses",
            addresses => Value::from_serialize(&views),
            form => Value::from_serialize(form.unwrap_or_default()),
            full => book.len() as i64 >= accounts::model::MAX_ADDRESSES,
            problem,
        },
    )
    .await
}

/// `GET /account/addresses`: the address book and a form to add one.
pub async fn addresses_list(
    State(state): State<AppState>,
    tenant: TenantContext,
    shopper: Shopper,
) -> Response {
    let Some(customer) = shopper.customer_id() else {
        return sign_in_first("/account/addresses");
    };
    addresses_page(&state, &tenant, customer, StatusCode::OK, None, None)
        .await
        .unwrap_or_else(|e| error_page(&state, &tenant, e))
}

/// `POST /account/addresses`: saves an address (as `POST
/// /api/customers/me/addresses`); the form again with what is wrong.
pub async fn address_add(
    State(state): State<AppState>,
    tenant: TenantContext,
    shopper: Shopper,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(customer) = shopper.customer_id() else {
        return sign_in_first("/account/addresses");
    };
    let result = async {
        let fields = posted_form(&headers, &body)?;
        let get = |name: &str| field(&fields, name).unwrap_or_default().to_owned();
        let address = AddressFields {
            name: get("name"),
            line1: get("line1"),
            line2: get("line2"),
            city: get("city"),
            region: get("region"),
            postal_code: get("postal_code"),
            country: get("country"),
            phone: get("phone"),
        };
        let is_default = field(&fields, "is_default").is_some();
        match addresses::add(
            &state,
            tenant.store_id,
            customer,
            address.clone(),
            is_default,
        )
        .await
        {
            Ok(_) => Ok(see_other("/account/addresses")),
            Err(e) => {
                let (status, problem) = refusal(e)?;
                let form = AddressView {
                    is_default,
                    ..AddressView::from(address)
                };
                addresses_page(&state, &tenant, customer, status, Some(form), Some(problem)).await
            }
        }
    }
    .await;
    result.unwrap_or_else(|e| error_page(&state, &tenant, e))
}

/// `POST /account/addresses/{id}/delete` and `.../default`.
async fn address_action(
    state: AppState,
    tenant: TenantContext,
    shopper: Shopper,
    id: String,
    headers: HeaderMap,
    body: Bytes,
    make_default: bool,
) -> Response {
    let Some(customer) = shopper.customer_id() else {
        return sign_in_first("/account/addresses");
    };
    let result = async {
        posted_form(&headers, &body)?;
        let id: AddressId = id
            .parse()
            .map_err(|_| PodError::from(ApiError::not_found("address")))?;
        if make_default {
            addresses::update(&state, tenant.store_id, customer, id, |f, _| (f, true)).await?;
        } else {
            addresses::remove(&state, tenant.store_id, customer, id).await?;
        }
        Ok::<_, PodError>(see_other("/account/addresses"))
    }
    .await;
    result.unwrap_or_else(|e| error_page(&state, &tenant, e))
}

pub async fn address_delete(
    State(state): State<AppState>,
    tenant: TenantContext,
    shopper: Shopper,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    address_action(state, tenant, shopper, id, headers, body, false).await
}

pub async fn address_default(
    State(state): State<AppState>,
    tenant: TenantContext,
    shopper: Shopper,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    address_action(state, tenant, shopper, id, headers, body, true).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sign_in_goes_on_to_this_site_only() {
        assert_eq!(next_path(Some("/checkout")), "/checkout");
        assert_eq!(next_path(Some("/orders/1001")), "/orders/1001");
        for elsewhere in [
            "//evil.example/x",
            "/\\evil.example",
            "https://evil.example/",
            "javascript:alert(1)",
            "/a\nb",
            "",
        ] {
            assert_eq!(next_path(Some(elsewhere)), "/account", "{elsewhere:?}");
        }
        assert_eq!(next_path(None), "/account");
    }

    #[test]
    fn refusals_read_as_sentences() {
        assert_eq!(
            in_words(
                ErrorCode::WeakPassword,
                "password must be at least 10 characters"
            ),
            "Password must be at least 10 characters."
        );
        assert!(in_words(ErrorCode::InvalidCredentials, "x").contains("do not match"));
    }
}
