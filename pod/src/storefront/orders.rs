//! An order's page (`/orders/{number}`): the confirmation after checkout
//! and the order's status later, with its shipments and returns, and a
//! form to send delivered items back. Who may see it is the API's rule
//! ([`crate::orders::for_shopper`]): a guest's order with the lookup token
//! of its confirmation link, a registered customer's order for that
//! customer signed in (who is sent to sign in first).

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use bytes::Bytes;
use mercato_tenants::http::ApiQuery;
use mercato_tenants::{ApiError, Currency, ErrorCode, Money};
use minijinja::context;
use minijinja::value::Value;
use serde::Serialize;

use super::account::sign_in_first;
use super::pages::{error_page, private};
use super::shopper::Shopper;
use crate::error::PodError;
use crate::orders::lookup::LookupToken;
use crate::orders::{Order, OrderStatus};
use crate::state::AppState;
use crate::tenancy::TenantContext;
use mercato_tenants::forms::{field, posted_form, see_other};

/// Most characters of a return's reason (as `POST
/// /api/orders/{number}/returns`).
const REASON_MAX: usize = 500;

/// The order of `number` for this shopper, or where to send them: to sign
/// in, when it is a customer's order and they are not (yet) that customer.
async fn shoppers_order(
    state: &AppState,
    tenant: &TenantContext,
    shopper: &Shopper,
    number: &str,
    token: Option<&str>,
) -> Result<Result<Order, Response>, PodError> {
    let not_found = || PodError::from(ApiError::not_found("order"));
    let number: i64 = number.parse().map_err(|_| not_found())?;
    let token = match token {
        Some(t) => Some(LookupToken::parse(t).ok_or_else(not_found)?),
        None => None,
    };
    if token.is_none() && shopper.customer.is_none() {
        return Ok(Err(sign_in_first(&format!("/orders/{number}"))));
    }
    let mut conn = state.db.acquire().await?;
    let found = crate::orders::for_shopper(
        &mut conn,
        tenant.store_id,
        number,
        shopper.customer_id(),
        token.as_ref(),
    )
    .await;
    match found {
        Ok(order) => Ok(Ok(order)),
        Err(e)
            if e.client_error()
                .is_some_and(|a| a.code == ErrorCode::Unauthorized) =>
        {
            Ok(Err(sign_in_first(&format!("/orders/{number}"))))
        }
        Err(e) => Err(e),
    }
}

/// A return as the order's page lists it.
#[derive(Serialize)]
struct ReturnView {
    status: String,
    reason: String,
    note: Option<String>,
    lines: Vec<String>,
    refund: Option<Money>,
    opened: String,
}

fn words<T: Serialize>(status: T) -> String {
    serde_json::to_value(status)
        .ok()
        .and_then(|v| v.as_str().map(|s| s.replace('_', " ")))
        .unwrap_or_default()
}

/// `GET /orders/{number}[?token=]`.
pub async fn order(
    State(state): State<AppState>,
    tenant: TenantContext,
    shopper: Shopper,
    Path(number): Path<String>,
    ApiQuery(pairs): ApiQuery<Vec<(String, String)>>,
) -> Response {
    let token = field(&pairs, "token").map(str::to_owned);
    let returned = field(&pairs, "returned").is_some();
    let result = async {
        let order =
            match shoppers_order(&state, &tenant, &shopper, &number, token.as_deref()).await? {
                Ok(o) => o,
                Err(elsewhere) => return Ok(elsewhere),
            };
        order_page(
            &state,
            &tenant,
            &order,
            token,
            StatusCode::OK,
            None,
            returned,
        )
        .await
    }
    .await;
    result.unwrap_or_else(|e| error_page(&state, &tenant, e))
}

async fn order_page(
    state: &AppState,
    tenant: &TenantContext,
    order: &Order,
    token: Option<String>,
    status: StatusCode,
    problem: Option<String>,
    returned: bool,
) -> Result<Response, PodError> {
    let mut conn = state.db.acquire().await?;
    let shipments =
        crate::fulfillment::sql::of_order(&mut conn, tenant.store_id, order.id, false).await?;
    drop(conn);
    let returns =
        crate::returns::list(state, tenant.store_id, Some(order.id), None, None, 100).await?;
    let currency = Currency::parse(&order.currency).map_err(PodError::internal)?;
    let money = |minor: i64| Value::from_serialize(Money::new(minor, currency));
    let return_views: Vec<ReturnView> = returns
        .iter()
        .map(|r| ReturnView {
            status: words(r.status),
            reason: r.reason.clone(),
            note: r.note.clone(),
            lines: r
                .lines
                .iter()
                .map(|l| {
                    let title = order
                        .lines
                        .get(l.line as usize)
                        .map_or_else(String::new, |o| line_title(&o.title, &o.variant_title));
                    format!("{} × {title}", l.quantity)
                })
                .collect(),
            refund: r.refund_minor.map(|m| Money::new(m, currency)),
            opened: r.created_at.format("%B %-d, %Y").to_string(),
        })
        .collect();
    let body = super::pages::shoppers_page(
        state,
        tenant,
        "checkout.html",
        &format!("Order #{}", order.number),
        &format!("/orders/{}", order.number),
        context! {
            step => "order",
            // Straight from checkout (the confirmation link) or later.
            thanks => token.is_some() && !returned,
            token,
            problem,
            returned,
            can_return => order.status == OrderStatus::Delivered,
            reason_max => REASON_MAX,
            order => context! {
                number => order.number,
                status => words(order.status),
                email => order.email.clone(),
                placed => order.created_at.format("%B %-d, %Y").to_string(),
                address => Value::from_serialize(&order.shipping_address),
                shipping_name => order.shipping_option["name"].as_str().map(str::to_owned),
                lines => Value::from_serialize(order.lines.iter().enumerate().map(|(i, l)| context! {
                    index => i,
                    title => l.title.clone(),
                    variant_title => l.variant_title.clone(),
                    quantity => l.quantity,
                    total => money(l.unit_price_minor * i64::from(l.quantity)),
                }).collect::<Vec<_>>()),
                subtotal => money(order.subtotal_minor),
                discount => money(order.discount_minor),
                shipping => money(order.shipping_minor),
                tax => money(order.tax_minor),
                total => money(order.total_minor),
                shipments => Value::from_serialize(&shipments),
                returns => Value::from_serialize(&return_views),
            },
        },
    )
    .await?;
    let mut r = private(body);
    *r.status_mut() = status;
    Ok(r)
}

fn line_title(title: &str, variant: &str) -> String {
    if variant.is_empty() || variant == title {
        title.to_owned()
    } else {
        format!("{title} ({variant})")
    }
}

/// `POST /orders/{number}/returns` (`token` for a guest, `reason`, and
/// `qty.<line>` per order line): opens a return as `POST
/// /api/orders/{number}/returns` does (its window, its limits), then back
/// to the order's page; the page again with what went wrong otherwise.
pub async fn open_return(
    State(state): State<AppState>,
    tenant: TenantContext,
    shopper: Shopper,
    Path(number): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let result = async {
        let fields = posted_form(&headers, &body)?;
        let token = field(&fields, "token")
            .filter(|t| !t.is_empty())
            .map(str::to_owned);
        let order =
            match shoppers_order(&state, &tenant, &shopper, &number, token.as_deref()).await? {
                Ok(o) => o,
                Err(elsewhere) => return Ok(elsewhere),
            };
        let reason = field(&fields, "reason").unwrap_or_default().to_owned();
        let mut asked = Vec::new();
        for (name, value) in &fields {
            let Some(line) = name.strip_prefix("qty.") else {
                continue;
            };
            let (Ok(line), Ok(quantity)) = (line.parse::<usize>(), value.trim().parse::<i64>())
            else {
                return Err(ApiError::invalid("each quantity must be a whole number").into());
            };
            if quantity > 0 {
                asked.push((line, quantity));
            }
        }
        let problem = if asked.is_empty() {
            Some("Choose how many of which items to send back.".to_owned())
        } else if reason.is_empty() || reason.chars().count() > REASON_MAX {
            Some(format!(
                "Tell us why you are sending them back (at most {REASON_MAX} characters)."
            ))
        } else {
            let by = match shopper
                .customer_id()
                .filter(|c| order.customer_id == Some(*c))
            {
                Some(c) => format!("customer:{c}"),
                None => "guest".to_owned(),
            };
            match crate::returns::open(&state, tenant.store_id, order.id, &asked, &reason, &by)
                .await
            {
                Ok(_) => None,
                Err(e) => match e.client_error() {
                    Some(a) => Some(format!("We could not open that return: {}.", a.message)),
                    None => return Err(e),
                },
            }
        };
        match problem {
            None => {
                let back = match &token {
                    Some(t) => format!("/orders/{}?token={t}&returned=1", order.number),
                    None => format!("/orders/{}?returned=1", order.number),
                };
                Ok(see_other(&back))
            }
            Some(problem) => {
                order_page(
                    &state,
                    &tenant,
                    &order,
                    token,
                    StatusCode::UNPROCESSABLE_ENTITY,
                    Some(problem),
                    false,
                )
                .await
            }
        }
    }
    .await;
    result.unwrap_or_else(|e| error_page(&state, &tenant, e))
}
