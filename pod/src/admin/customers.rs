//! The admin's customers: the list (newest first, searched by email or
//! name) and a customer's page with their addresses and orders. The same
//! reads as `GET /admin/api/customers` and `GET
//! /admin/api/orders?customer_id=`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use mercato_tenants::forms::field;
use mercato_tenants::http::ApiQuery;
use mercato_tenants::{ApiError, CustomerId};
use minijinja::context;
use minijinja::value::Value;

use super::pages::{error_page, html, render, rows, sign_in_first};
use super::session::MaybeAdmin;
use crate::accounts::directory;
use crate::error::PodError;
use crate::orders::Filter;
use crate::state::AppState;
use crate::tenancy::TenantContext;

/// Customers per page of the list; orders on a customer's page.
const PAGE: i64 = 25;

/// `GET /admin/customers[?q=][&after=]`.
pub async fn list(
    State(state): State<AppState>,
    tenant: TenantContext,
    MaybeAdmin(session): MaybeAdmin,
    ApiQuery(pairs): ApiQuery<Vec<(String, String)>>,
) -> Response {
    let Some(session) = session else {
        return sign_in_first("/admin/customers");
    };
    let result = async {
        let q = field(&pairs, "q").filter(|q| !q.is_empty());
        if q.is_some_and(|q| q.chars().count() > 200) {
            return Err(ApiError::invalid("search for at most 200 characters").into());
        }
        let after = field(&pairs, "after").and_then(|a| a.parse::<CustomerId>().ok());
        let mut items = directory::list(&state.db, tenant.store_id, q, after, PAGE + 1).await?;
        let next = crate::paging::split_page(&mut items, PAGE as usize, |c| c.id.to_string()).map(
            |cursor| match q {
                Some(q) => format!(
                    "/admin/customers?q={}&after={cursor}",
                    mercato_tenants::forms::urlencode(q)
                ),
                None => format!("/admin/customers?after={cursor}"),
            },
        );
        let body = render(
            &tenant,
            Some(&session),
            "customers.html",
            "Customers",
            context! { nav => "customers", customers => Value::from_serialize(&items), q, next },
        )?;
        Ok::<_, PodError>(html(StatusCode::OK, body))
    }
    .await;
    result.unwrap_or_else(|e| error_page(&tenant, e))
}

/// `GET /admin/customers/{id}`: the profile, the addresses, the newest
/// orders (all of them through the orders list, filtered by email).
pub async fn show(
    State(state): State<AppState>,
    tenant: TenantContext,
    MaybeAdmin(session): MaybeAdmin,
    Path(id): Path<String>,
) -> Response {
    let Some(session) = session else {
        return sign_in_first(&format!("/admin/customers/{id}"));
    };
    let result = async {
        let id: CustomerId = id
            .parse()
            .map_err(|_| PodError::from(ApiError::not_found("customer")))?;
        let customer = directory::get(&state.db, tenant.store_id, id)
            .await?
            .ok_or_else(|| ApiError::not_found("customer"))?;
        let mut conn = state.db.acquire().await?;
        let mut orders = crate::orders::list(
            &mut conn,
            tenant.store_id,
            &Filter {
                customer: Some(id),
                limit: PAGE + 1,
                ..Filter::default()
            },
        )
        .await?;
        drop(conn);
        let more = orders.len() as i64 > PAGE;
        orders.truncate(PAGE as usize);
        let name = format!(
            "{} {}",
            customer.customer.first_name, customer.customer.last_name
        );
        let title = if name.trim().is_empty() {
            customer.customer.email.clone()
        } else {
            name.trim().to_owned()
        };
        let body = render(
            &tenant,
            Some(&session),
            "customer.html",
            &title,
            context! {
                nav => "customers",
                heading => title.clone(),
                c => Value::from_serialize(&customer),
                orders => Value::from_serialize(rows(&orders, tenant.currency)),
                more,
                all_orders => format!(
                    "/admin/orders?email={}",
                    mercato_tenants::forms::urlencode(&customer.customer.email)
                ),
            },
        )?;
        Ok::<_, PodError>(html(StatusCode::OK, body))
    }
    .await;
    result.unwrap_or_else(|e| error_page(&tenant, e))
}
