//! The admin's pages. Each reads and writes through the same functions as
//! the JSON API (`dashboard::of_store`, `orders::list`, `give_back`), so a
//! page can do nothing the API would refuse; forms post, check the
//! session's CSRF token and answer `303`.

use axum::extract::{Path, State};
use axum::http::header::SET_COOKIE;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use bytes::Bytes;
use mercato_tenants::http::ApiQuery;
use mercato_tenants::{ApiError, Currency, ErrorCode, Money, OrderId};
use minijinja::context;
use minijinja::value::Value;
use serde::Serialize;

use super::session::{session_cookie, signed_out_cookie, AdminSession, MaybeAdmin};
use crate::accounts::rate_limit::ClientAddress;
use crate::accounts::LoginRejection;
use crate::error::PodError;
use crate::orders::{Filter, OrderStatus};
use crate::state::AppState;
use crate::tenancy::TenantContext;
pub(super) use mercato_tenants::forms::html;
use mercato_tenants::forms::{field, posted_form, see_other};

/// Orders per page of the list.
const ORDERS_PAGE: i64 = 25;

/// Renders `template` in the admin's frame.
pub(super) fn render(
    tenant: &TenantContext,
    session: Option<&AdminSession>,
    template: &str,
    title: &str,
    extra: Value,
) -> Result<String, PodError> {
    let ctx = context! {
        store => context! { name => tenant.name.clone() },
        css => super::stylesheet().path.clone(),
        js => super::script().path.clone(),
        title => title.to_owned(),
        signed_in => session.is_some(),
        owner => session.is_some_and(AdminSession::is_owner),
        csrf => session.map(|s| s.csrf.clone()),
        ..extra
    };
    super::engine()
        .render(template, ctx)
        .map_err(|e| PodError::internal(format!("admin template {template} failed: {e:#}")))
}

/// The error page for `err`, with its status.
pub fn error_page(tenant: &TenantContext, err: PodError) -> Response {
    let err = err.into_api();
    let status = err.code.status();
    let message = if status.is_server_error() {
        "Something went wrong on our side. Please try again in a moment.".to_owned()
    } else {
        mercato_tenants::forms::sentence(&err.message)
    };
    let body = render(
        tenant,
        None,
        "error.html",
        "Error",
        context! { status => status.as_u16(), message },
    )
    .unwrap_or_else(|_| format!("<!doctype html><title>{status}</title><h1>{status}</h1>"));
    html(status, body)
}

/// To the sign-in page, coming back to `path` after.
pub(super) fn sign_in_first(path: &str) -> Response {
    see_other(&format!(
        "/admin/login?next={}",
        mercato_tenants::forms::urlencode(path)
    ))
}

/// Where a sign-in goes on to: a page of the admin, never another site.
fn next_path(raw: Option<&str>) -> String {
    match raw {
        Some(p)
            if (p == "/admin" || p.starts_with("/admin/"))
                && p.len() <= 512
                && !p.contains("//")
                && !p.contains('\\')
                && !p.chars().any(char::is_control) =>
        {
            p.to_owned()
        }
        _ => "/admin".to_owned(),
    }
}

/// `GET /admin/login[?next=][&reset=done]`.
pub async fn login_page(
    tenant: TenantContext,
    MaybeAdmin(session): MaybeAdmin,
    ApiQuery(pairs): ApiQuery<Vec<(String, String)>>,
) -> Response {
    let next = next_path(field(&pairs, "next"));
    if session.is_some() {
        return see_other(&next);
    }
    let notice = (field(&pairs, "reset") == Some("done"))
        .then_some("Your password has been changed. Sign in with the new one.");
    match render(
        &tenant,
        None,
        "login.html",
        "Sign in",
        context! { next, notice },
    ) {
        Ok(body) => html(StatusCode::OK, body),
        Err(e) => error_page(&tenant, e),
    }
}

/// `POST /admin/login` (`email`, `password`, `next`): the same login as
/// `POST /admin/api/login` (its rate limits included).
pub async fn login(
    State(state): State<AppState>,
    tenant: TenantContext,
    ClientAddress(client): ClientAddress,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let result = async {
        let fields = posted_form(&headers, &body)?;
        let email = field(&fields, "email").unwrap_or_default().to_owned();
        let password = field(&fields, "password").unwrap_or_default().to_owned();
        let next = next_path(field(&fields, "next"));
        let (status, problem) = match crate::accounts::login::login_staff(
            &state,
            tenant.store_id,
            &email,
            password,
            &client,
        )
        .await
        {
            Ok(login) => {
                let mut r = see_other(&next);
                r.headers_mut().append(
                    SET_COOKIE,
                    session_cookie(&state, &tenant, &login.token, login.expires_at)?,
                );
                return Ok(r);
            }
            Err(LoginRejection::Limited { retry_after_secs }) => (
                StatusCode::TOO_MANY_REQUESTS,
                format!(
                    "Too many tries. Please wait {} minutes and try again.",
                    retry_after_secs.div_ceil(60)
                ),
            ),
            Err(LoginRejection::Error(e)) if e.code == ErrorCode::InvalidCredentials => (
                e.code.status(),
                "That email and password do not match a staff account of this store.".to_owned(),
            ),
            Err(LoginRejection::Error(e)) if !e.code.status().is_server_error() => {
                (e.code.status(), e.message)
            }
            Err(LoginRejection::Error(e)) => return Err(e.into()),
        };
        Ok::<_, PodError>(html(
            status,
            render(
                &tenant,
                None,
                "login.html",
                "Sign in",
                context! { next, email, problem },
            )?,
        ))
    }
    .await;
    result.unwrap_or_else(|e| error_page(&tenant, e))
}

/// `POST /admin/handoff` (`token`): the platform's signup and sign-in pages
/// hand a merchant's new admin session over to the store's domain. Taken
/// only from a form posted by a page of the platform's domain (its
/// `Origin`: no other site can sign a browser in to an account of its
/// choosing), and only with the token of an open staff session of this
/// store. The answer sets the admin's cookie and goes on to the dashboard
/// from a page of this site: a redirect would keep the navigation
/// cross-site, and the `SameSite=Strict` cookie would stay behind.
pub async fn handoff(
    State(state): State<AppState>,
    tenant: TenantContext,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let result = async {
        mercato_tenants::forms::posted_from(&headers, &state.config.platform_domain)?;
        let fields = mercato_tenants::forms::form_fields(&headers, &body)?;
        let token = field(&fields, "token").unwrap_or_default();
        let Some(session) = super::session::signed_in(&state, &tenant, token).await? else {
            return Err(ApiError::new(
                ErrorCode::Unauthorized,
                "this sign-in has expired; sign in again",
            )
            .into());
        };
        let body = render(
            &tenant,
            Some(&session),
            "handoff.html",
            "Signing in",
            context! {},
        )?;
        let mut r = html(StatusCode::OK, body);
        r.headers_mut().append(
            SET_COOKIE,
            session_cookie(&state, &tenant, token, session.claims.exp)?,
        );
        Ok::<_, PodError>(r)
    }
    .await;
    result.unwrap_or_else(|e| error_page(&tenant, e))
}

/// `POST /admin/logout`: ends the session and forgets the cookie.
pub async fn logout(
    State(state): State<AppState>,
    tenant: TenantContext,
    MaybeAdmin(session): MaybeAdmin,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(session) = session else {
        return see_other("/admin/login");
    };
    let result = async {
        session.form(&headers, &body)?;
        crate::accounts::sessions::log_out(&state.db, tenant.store_id, &session.claims).await?;
        let mut r = see_other("/admin/login");
        r.headers_mut()
            .append(SET_COOKIE, signed_out_cookie(&state, &tenant));
        Ok::<_, PodError>(r)
    }
    .await;
    result.unwrap_or_else(|e| error_page(&tenant, e))
}

/// `GET /admin`: the dashboard.
pub async fn dashboard(
    State(state): State<AppState>,
    tenant: TenantContext,
    MaybeAdmin(session): MaybeAdmin,
) -> Response {
    let Some(session) = session else {
        return sign_in_first("/admin");
    };
    let result = async {
        let now = chrono::Utc::now();
        let d = crate::dashboard::of_store(&state, tenant.store_id, tenant.currency, now).await?;
        let chart = crate::dashboard::chart_svg(&d.days, 600, 160);
        let body = render(
            &tenant,
            Some(&session),
            "dashboard.html",
            "Dashboard",
            context! {
                nav => "dashboard",
                d => Value::from_serialize(&d),
                // Numbers and formatted money only (dashboard::chart_svg).
                chart => Value::from_safe_string(chart),
            },
        )?;
        Ok::<_, PodError>(html(StatusCode::OK, body))
    }
    .await;
    result.unwrap_or_else(|e| error_page(&tenant, e))
}

/// An order as the lists show it.
#[derive(Serialize)]
pub(super) struct Row {
    id: String,
    number: i64,
    placed: String,
    email: String,
    status: String,
    total: Money,
}

/// Orders as the lists show them.
pub(super) fn rows(items: &[crate::orders::Order], currency: Currency) -> Vec<Row> {
    items
        .iter()
        .map(|o| Row {
            id: o.id.to_string(),
            number: o.number,
            placed: o.created_at.format("%Y-%m-%d %H:%M UTC").to_string(),
            email: o.email.clone(),
            status: words(o.status),
            total: Money::new(
                o.total_minor,
                Currency::parse(&o.currency).unwrap_or(currency),
            ),
        })
        .collect()
}

fn words(status: OrderStatus) -> String {
    status.as_str().replace('_', " ")
}

const STATUSES: [OrderStatus; 7] = [
    OrderStatus::Placed,
    OrderStatus::Paid,
    OrderStatus::PartiallyFulfilled,
    OrderStatus::Fulfilled,
    OrderStatus::Delivered,
    OrderStatus::Cancelled,
    OrderStatus::Refunded,
];

/// `GET /admin/orders[?status=][&email=][&from=][&to=][&after=]`: the orders, newest
/// first, as `GET /admin/api/orders` lists them.
pub async fn orders(
    State(state): State<AppState>,
    tenant: TenantContext,
    MaybeAdmin(session): MaybeAdmin,
    ApiQuery(pairs): ApiQuery<Vec<(String, String)>>,
) -> Response {
    let Some(session) = session else {
        return sign_in_first("/admin/orders");
    };
    let result = async {
        let status = field(&pairs, "status").filter(|s| !s.is_empty());
        let status_filter = match status {
            Some(s) => Some(
                STATUSES
                    .into_iter()
                    .find(|x| x.as_str() == s)
                    .ok_or_else(|| ApiError::invalid("choose a status from the list"))?,
            ),
            None => None,
        };
        let email = field(&pairs, "email").filter(|e| !e.is_empty());
        let email_filter = match email {
            Some(e) => Some(
                mercato_tenants::Email::parse(e)
                    .map_err(|m| ApiError::new(ErrorCode::InvalidEmail, m))?
                    .as_str()
                    .to_owned(),
            ),
            None => None,
        };
        let before = field(&pairs, "after").and_then(|a| a.parse::<uuid::Uuid>().ok());
        let day = |name: &str| -> Result<Option<chrono::NaiveDate>, ApiError> {
            match field(&pairs, name).filter(|d| !d.is_empty()) {
                None => Ok(None),
                Some(d) => chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d")
                    .map(Some)
                    .map_err(|_| ApiError::invalid("enter days as YYYY-MM-DD")),
            }
        };
        let (from, to) = (day("from")?, day("to")?);
        let (placed_from, placed_until) = crate::orders::day_range(from, to)?;
        let mut conn = state.db.acquire().await?;
        let mut items = crate::orders::list(
            &mut conn,
            tenant.store_id,
            &Filter {
                status: status_filter,
                email: email_filter,
                before,
                placed_from,
                placed_until,
                limit: ORDERS_PAGE + 1,
                ..Filter::default()
            },
        )
        .await?;
        drop(conn);
        let next = crate::paging::split_page(&mut items, ORDERS_PAGE as usize, |o| {
            o.id.to_string()
        });
        let next = next.map(|cursor| {
            let mut q: Vec<(String, String)> = Vec::new();
            if let Some(s) = status {
                q.push(("status".into(), s.into()));
            }
            if let Some(e) = email {
                q.push(("email".into(), e.into()));
            }
            for (name, d) in [("from", from), ("to", to)] {
                if let Some(d) = d {
                    q.push((name.into(), d.to_string()));
                }
            }
            q.push(("after".into(), cursor));
            let query: String = form_urlencoded::Serializer::new(String::new())
                .extend_pairs(q)
                .finish();
            format!("/admin/orders?{query}")
        });
        let rows = rows(&items, tenant.currency);
        let statuses: Vec<_> = STATUSES
            .iter()
            .map(|s| context! { value => s.as_str(), label => words(*s), selected => status == Some(s.as_str()) })
            .collect();
        let body = render(
            &tenant,
            Some(&session),
            "orders.html",
            "Orders",
            context! {
                nav => "orders",
                rows => Value::from_serialize(&rows),
                statuses,
                email => email.unwrap_or_default(),
                from => from.map(|d| d.to_string()),
                to => to.map(|d| d.to_string()),
                next,
            },
        )?;
        Ok::<_, PodError>(html(StatusCode::OK, body))
    }
    .await;
    result.unwrap_or_else(|e| error_page(&tenant, e))
}

/// An order's page; `typed`: a refused fulfilment form's fields, shown
/// again in that form.
#[allow(clippy::too_many_arguments)]
pub(super) async fn order_page(
    state: &AppState,
    tenant: &TenantContext,
    session: &AdminSession,
    id: OrderId,
    status: StatusCode,
    notice: Option<String>,
    problem: Option<String>,
    typed: Option<&super::fulfilment::Typed>,
) -> Result<Response, PodError> {
    let order = crate::give_back::load(state, tenant.store_id, id).await?;
    let fulfilment = super::fulfilment::sections(state, tenant, &order, typed).await?;
    let currency = Currency::parse(&order.currency).map_err(PodError::internal)?;
    let money = |minor: i64| Value::from_serialize(Money::new(minor, currency));
    let history = crate::orders::history(state, tenant.store_id, id).await?;
    let can_refund = crate::orders::state::allowed(order.status, OrderStatus::Refunded)
        && order.refunded_minor < order.captured_minor + order.gift_card_minor;
    let can_cancel = crate::orders::state::allowed(order.status, OrderStatus::Cancelled);
    let body = render(
        tenant,
        Some(session),
        "order.html",
        &format!("Order #{}", order.number),
        context! {
            nav => "orders",
            notice,
            problem,
            can_refund,
            can_cancel,
            order => context! {
                id => order.id.to_string(),
                number => order.number,
                status => words(order.status),
                email => order.email.clone(),
                placed => order.created_at.format("%Y-%m-%d %H:%M UTC").to_string(),
                address => Value::from_serialize(&order.shipping_address),
                lines => Value::from_serialize(order.lines.iter().map(|l| context! {
                    title => l.title.clone(),
                    variant_title => l.variant_title.clone(),
                    sku => l.sku.clone(),
                    quantity => l.quantity,
                    total => money(l.unit_price_minor * i64::from(l.quantity)),
                }).collect::<Vec<_>>()),
                subtotal => money(order.subtotal_minor),
                discount => money(order.discount_minor),
                shipping => money(order.shipping_minor),
                tax => money(order.tax_minor),
                total => money(order.total_minor),
                captured => money(order.captured_minor),
                refunded => money(order.refunded_minor),
                shipments => Value::from_serialize(&order.shipments),
            },
            history => Value::from_serialize(&history),
            fulfilment,
        },
    )?;
    Ok(html(status, body))
}

fn order_id(raw: &str) -> Result<OrderId, PodError> {
    raw.parse()
        .map_err(|_| PodError::from(ApiError::not_found("order")))
}

/// `GET /admin/orders/{id}`: an order with its history, and the forms to
/// refund or cancel it when its status allows.
pub async fn order(
    State(state): State<AppState>,
    tenant: TenantContext,
    MaybeAdmin(session): MaybeAdmin,
    Path(id): Path<String>,
    ApiQuery(pairs): ApiQuery<Vec<(String, String)>>,
) -> Response {
    let Some(session) = session else {
        return sign_in_first(&format!("/admin/orders/{id}"));
    };
    let notice = match field(&pairs, "done") {
        Some("refunded") => Some("The order was refunded.".to_owned()),
        Some("cancelled") => Some("The order was cancelled.".to_owned()),
        done => super::fulfilment::notice(done),
    };
    let result = async {
        order_page(
            &state,
            &tenant,
            &session,
            order_id(&id)?,
            StatusCode::OK,
            notice,
            None,
            None,
        )
        .await
    }
    .await;
    result.unwrap_or_else(|e| error_page(&tenant, e))
}

/// `POST /admin/orders/{id}/refund` and `.../cancel` (`reason`,
/// `restock`): as `POST /admin/api/orders/{id}/refund` and `/cancel`.
async fn give_back(
    state: AppState,
    tenant: TenantContext,
    session: Option<AdminSession>,
    id: String,
    headers: HeaderMap,
    body: Bytes,
    to: OrderStatus,
) -> Response {
    let Some(session) = session else {
        return sign_in_first(&format!("/admin/orders/{id}"));
    };
    let result = async {
        let fields = session.form(&headers, &body)?;
        let id = order_id(&id)?;
        let restock = field(&fields, "restock").is_some();
        let done = crate::give_back::give_back(
            &state,
            tenant.store_id,
            id,
            to,
            restock,
            &session.actor(),
            field(&fields, "reason"),
        )
        .await;
        match done {
            Ok(_) => {
                let what = if to == OrderStatus::Cancelled {
                    "cancelled"
                } else {
                    "refunded"
                };
                Ok(see_other(&format!("/admin/orders/{id}?done={what}")))
            }
            Err(e) => match e.client_error() {
                Some(refusal) => {
                    order_page(
                        &state,
                        &tenant,
                        &session,
                        id,
                        refusal.code.status(),
                        None,
                        Some(refusal.message),
                        None,
                    )
                    .await
                }
                None => Err(e),
            },
        }
    }
    .await;
    result.unwrap_or_else(|e| error_page(&tenant, e))
}

pub async fn refund(
    State(state): State<AppState>,
    tenant: TenantContext,
    MaybeAdmin(session): MaybeAdmin,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    give_back(
        state,
        tenant,
        session,
        id,
        headers,
        body,
        OrderStatus::Refunded,
    )
    .await
}

pub async fn cancel(
    State(state): State<AppState>,
    tenant: TenantContext,
    MaybeAdmin(session): MaybeAdmin,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    give_back(
        state,
        tenant,
        session,
        id,
        headers,
        body,
        OrderStatus::Cancelled,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sign_in_goes_on_to_the_admin_only() {
        assert_eq!(next_path(Some("/admin/orders")), "/admin/orders");
        for elsewhere in [
            "/",
            "//evil.example",
            "/admin//evil",
            "/admin\\x",
            "https://x",
            "/adminx",
        ] {
            assert_eq!(next_path(Some(elsewhere)), "/admin", "{elsewhere}");
        }
    }
}
