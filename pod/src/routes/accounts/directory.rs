//! The store's customers for staff: `GET /admin/api/customers` (newest
//! first, searched by email or name) and `GET /admin/api/customers/{id}`
//! (with their addresses). Their orders: `GET
//! /admin/api/orders?customer_id=`.

use axum::extract::State;
use axum::Json;
use mercato_tenants::error::ErrorBody;
use mercato_tenants::http::{ApiPath, ApiQuery};
use mercato_tenants::{ApiError, CustomerId};
use serde::{Deserialize, Serialize};

use crate::accounts::auth::Staff;
use crate::accounts::directory::{self, CustomerDetail, StaffCustomer};
use crate::error::PodError;
use crate::paging::{page_limit, split_page};
use crate::state::AppState;
use crate::tenancy::TenantContext;

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct ListQuery {
    /// Part of the email or the name, any letter case; 1 to 200
    /// characters, no control characters.
    #[param(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*$"
    )]
    q: Option<String>,
    /// 1 to 100, default 20.
    #[param(minimum = 1, maximum = 100)]
    limit: Option<u32>,
    /// The `next_cursor` of the previous page (a customer id).
    #[param(value_type = Option<uuid::Uuid>)]
    after: Option<String>,
}

/// A page of customers.
#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct CustomerPage {
    items: Vec<StaffCustomer>,
    next_cursor: Option<String>,
}

/// The store's customers, newest first, searched by email or name.
#[utoipa::path(get, path = "/admin/api/customers", tag = "accounts",
    params(ListQuery),
    responses((status = 200, body = CustomerPage), (status = 400, body = ErrorBody)))]
pub(super) async fn list(
    State(state): State<AppState>,
    tenant: TenantContext,
    _: Staff,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<CustomerPage>, PodError> {
    let limit = page_limit(q.limit)?;
    let search = q.q.as_deref().map(str::trim).filter(|s| !s.is_empty());
    if q.q
        .as_deref()
        .is_some_and(|s| s.is_empty() || s.chars().count() > 200)
    {
        return Err(ApiError::invalid("q must be 1 to 200 characters").into());
    }
    let after = q
        .after
        .as_deref()
        .map(|a| {
            a.parse::<CustomerId>()
                .map_err(|_| ApiError::invalid("after must be a cursor from a previous page"))
        })
        .transpose()?;
    let mut items = directory::list(
        &state.db,
        tenant.store_id,
        search,
        after,
        i64::from(limit) + 1,
    )
    .await?;
    let next_cursor = split_page(&mut items, limit as usize, |c| c.id.to_string());
    Ok(Json(CustomerPage { items, next_cursor }))
}

/// One customer with their addresses.
#[utoipa::path(get, path = "/admin/api/customers/{id}", tag = "accounts",
    params(("id" = CustomerId, Path, description = "customer id")),
    responses((status = 200, body = CustomerDetail), (status = 404, body = ErrorBody)))]
pub(super) async fn show(
    State(state): State<AppState>,
    tenant: TenantContext,
    _: Staff,
    ApiPath(id): ApiPath<CustomerId>,
) -> Result<Json<CustomerDetail>, PodError> {
    directory::get(&state.db, tenant.store_id, id)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found("customer").into())
}
