//! A customer's address book over JSON; the rules are in
//! [`crate::accounts::addresses`].

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use mercato_tenants::http::{ApiJson, ApiPath};
use mercato_tenants::AddressId;
use serde::{Deserialize, Serialize};

use crate::accounts::addresses;
use crate::accounts::auth::Customer;
use crate::accounts::model::{Address, AddressFields};
use crate::error::PodError;
use crate::state::AppState;
use crate::tenancy::TenantContext;

/// A new address.
#[derive(Deserialize, utoipa::ToSchema)]
// Named apart from the checkout's `AddressInput`: two schemas of one name
// would leave one of them in the document for both.
#[schema(as = NewAddress)]
#[serde(deny_unknown_fields)]
pub struct AddressInput {
    /// Recipient, 1 to 100 characters (white space around text fields is
    /// trimmed; no control characters).
    #[schema(
        max_length = 100,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\u0000-\u0020\u007F-\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000][^\u0000-\u001F\u007F-\u009F]*$"
    )]
    name: String,
    /// 1 to 200 characters.
    #[schema(
        max_length = 200,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\u0000-\u0020\u007F-\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000][^\u0000-\u001F\u007F-\u009F]*$"
    )]
    line1: String,
    /// At most 200 characters.
    #[schema(max_length = 200, pattern = r"^[^\u0000-\u001F\u007F-\u009F]*$")]
    line2: Option<String>,
    /// 1 to 100 characters.
    #[schema(
        max_length = 100,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\u0000-\u0020\u007F-\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000][^\u0000-\u001F\u007F-\u009F]*$"
    )]
    city: String,
    /// At most 100 characters.
    #[schema(max_length = 100, pattern = r"^[^\u0000-\u001F\u007F-\u009F]*$")]
    region: Option<String>,
    /// At most 20 characters.
    #[schema(max_length = 20, pattern = r"^[^\u0000-\u001F\u007F-\u009F]*$")]
    postal_code: Option<String>,
    /// ISO 3166-1 alpha-2, e.g. `FR` (either case).
    #[schema(
        pattern = r"^[\u0009\u000A\u000D\u0020\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]*[A-Za-z]{2}[\u0009\u000A\u000D\u0020\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]*$"
    )]
    country: String,
    /// Digits, spaces and `+-().`, at most 32 characters.
    #[schema(max_length = 32, pattern = r"^[0-9 +().-]*$")]
    phone: Option<String>,
    is_default: Option<bool>,
}

/// Changes to an address; absent fields stay as they are.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddressPatch {
    /// As in [`AddressInput`].
    #[schema(
        max_length = 100,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\u0000-\u0020\u007F-\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000][^\u0000-\u001F\u007F-\u009F]*$"
    )]
    name: Option<String>,
    #[schema(
        max_length = 200,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\u0000-\u0020\u007F-\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000][^\u0000-\u001F\u007F-\u009F]*$"
    )]
    line1: Option<String>,
    #[schema(max_length = 200, pattern = r"^[^\u0000-\u001F\u007F-\u009F]*$")]
    line2: Option<String>,
    #[schema(
        max_length = 100,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\u0000-\u0020\u007F-\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000][^\u0000-\u001F\u007F-\u009F]*$"
    )]
    city: Option<String>,
    #[schema(max_length = 100, pattern = r"^[^\u0000-\u001F\u007F-\u009F]*$")]
    region: Option<String>,
    #[schema(max_length = 20, pattern = r"^[^\u0000-\u001F\u007F-\u009F]*$")]
    postal_code: Option<String>,
    #[schema(
        pattern = r"^[\u0009\u000A\u000D\u0020\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]*[A-Za-z]{2}[\u0009\u000A\u000D\u0020\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]*$"
    )]
    country: Option<String>,
    #[schema(max_length = 32, pattern = r"^[0-9 +().-]*$")]
    phone: Option<String>,
    /// `true` makes this the default; `false` leaves no default.
    is_default: Option<bool>,
}

impl AddressPatch {
    /// `fields` with this patch applied.
    fn apply(&self, fields: AddressFields) -> AddressFields {
        let pick = |new: &Option<String>, old: String| new.clone().unwrap_or(old);
        AddressFields {
            name: pick(&self.name, fields.name),
            line1: pick(&self.line1, fields.line1),
            line2: pick(&self.line2, fields.line2),
            city: pick(&self.city, fields.city),
            region: pick(&self.region, fields.region),
            postal_code: pick(&self.postal_code, fields.postal_code),
            country: pick(&self.country, fields.country),
            phone: pick(&self.phone, fields.phone),
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct AddressList {
    /// Every address of the customer (at most 50), oldest first.
    items: Vec<Address>,
}

/// The signed-in customer's addresses.
#[utoipa::path(get, path = "/api/customers/me/addresses", tag = "customers",
    responses((status = 200, body = AddressList), (status = 401, body = mercato_tenants::error::ErrorBody)))]
pub(super) async fn list(
    State(state): State<AppState>,
    tenant: TenantContext,
    customer: Customer,
) -> Result<Json<AddressList>, PodError> {
    let items = addresses::list(&state.db, tenant.store_id, customer.id).await?;
    Ok(Json(AddressList { items }))
}

/// Saves an address.
#[utoipa::path(post, path = "/api/customers/me/addresses", tag = "customers",
    request_body = AddressInput,
    responses((status = 201, body = Address),
        (status = 400, body = mercato_tenants::error::ErrorBody),
        (status = 422, description = "unprocessable: 50 addresses already", body = mercato_tenants::error::ErrorBody)))]
pub(super) async fn create(
    State(state): State<AppState>,
    tenant: TenantContext,
    customer: Customer,
    ApiJson(input): ApiJson<AddressInput>,
) -> Result<(StatusCode, Json<Address>), PodError> {
    let fields = AddressFields {
        name: input.name,
        line1: input.line1,
        line2: input.line2.unwrap_or_default(),
        city: input.city,
        region: input.region.unwrap_or_default(),
        postal_code: input.postal_code.unwrap_or_default(),
        country: input.country,
        phone: input.phone.unwrap_or_default(),
    };
    let is_default = input.is_default.unwrap_or(false);
    let address = addresses::add(&state, tenant.store_id, customer.id, fields, is_default).await?;
    Ok((StatusCode::CREATED, Json(address)))
}

/// Changes an address of the signed-in customer.
#[utoipa::path(patch, path = "/api/customers/me/addresses/{id}", tag = "customers",
    params(("id" = AddressId, Path, description = "address id")),
    request_body = AddressPatch,
    responses((status = 200, body = Address),
        (status = 400, body = mercato_tenants::error::ErrorBody),
        (status = 404, body = mercato_tenants::error::ErrorBody)))]
pub(super) async fn update(
    State(state): State<AppState>,
    tenant: TenantContext,
    customer: Customer,
    ApiPath(id): ApiPath<AddressId>,
    ApiJson(patch): ApiJson<AddressPatch>,
) -> Result<Json<Address>, PodError> {
    let address = addresses::update(
        &state,
        tenant.store_id,
        customer.id,
        id,
        |fields, is_default| (patch.apply(fields), patch.is_default.unwrap_or(is_default)),
    )
    .await?;
    Ok(Json(address))
}

/// Deletes an address of the signed-in customer.
#[utoipa::path(delete, path = "/api/customers/me/addresses/{id}", tag = "customers",
    params(("id" = AddressId, Path, description = "address id")),
    responses((status = 204), (status = 404, body = mercato_tenants::error::ErrorBody)))]
pub(super) async fn remove(
    State(state): State<AppState>,
    tenant: TenantContext,
    customer: Customer,
    ApiPath(id): ApiPath<AddressId>,
) -> Result<StatusCode, PodError> {
    addresses::remove(&state, tenant.store_id, customer.id, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_patch_changes_only_what_it_names() {
        let patch = AddressPatch {
            name: None,
            line1: None,
            line2: Some("Flat 2".into()),
            city: None,
            region: None,
            postal_code: None,
            country: Some("fr".into()),
            phone: None,
            is_default: None,
        };
        let sample = AddressFields {
            name: " Ada Lovelace ".into(),
            line1: "12 St James's Square".into(),
            line2: String::new(),
            city: "London".into(),
            region: String::new(),
            postal_code: "SW1Y 4JH".into(),
            country: "gb".into(),
            phone: String::new(),
        };
        let v = patch.apply(sample).validate().expect("valid");
        assert_eq!(v.line2, "Flat 2");
        assert_eq!(v.country, "FR");
        assert_eq!(v.city, "London");
    }
}
