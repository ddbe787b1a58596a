//! A customer's address book. At most one default address; the first one
//! saved becomes the default. Another customer's address is `404`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use mercato_tenants::http::{ApiJson, ApiPath};
use mercato_tenants::{AddressId, ApiError, CustomerId, ErrorCode, StoreId};
use serde::{Deserialize, Serialize};
use sqlx::postgres::PgArguments;
use sqlx::query::QueryAs;
use sqlx::{Postgres, Transaction};
use uuid::Uuid;

use super::auth::Customer;
use crate::error::PodError;
use crate::state::AppState;
use crate::tenancy::{begin_write, TenantContext};

/// Most addresses one customer may keep.
const MAX_ADDRESSES: i64 = 50;

/// A new address.
#[derive(Deserialize, utoipa::ToSchema)]
// Named apart from the checkout's `AddressInput`: two schemas of one name
// would leave one of them in the document for both.
#[schema(as = NewAddress)]
#[serde(deny_unknown_fields)]
pub struct AddressInput {
    /// Recipient, 1 to 100 characters.
    name: String,
    /// 1 to 200 characters.
    line1: String,
    line2: Option<String>,
    /// 1 to 100 characters.
    city: String,
    region: Option<String>,
    postal_code: Option<String>,
    /// ISO 3166-1 alpha-2, e.g. `FR`.
    country: String,
    phone: Option<String>,
    is_default: Option<bool>,
}

/// Changes to an address; absent fields stay as they are.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddressPatch {
    name: Option<String>,
    line1: Option<String>,
    line2: Option<String>,
    city: Option<String>,
    region: Option<String>,
    postal_code: Option<String>,
    country: Option<String>,
    phone: Option<String>,
    /// `true` makes this the default; `false` leaves no default.
    is_default: Option<bool>,
}

/// The text of an address, validated by [`AddressFields::validate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressFields {
    pub name: String,
    pub line1: String,
    pub line2: String,
    pub city: String,
    pub region: String,
    pub postal_code: String,
    pub country: String,
    pub phone: String,
}

impl AddressFields {
    /// Trims every field, upper-cases the country, and checks lengths.
    pub fn validate(self) -> Result<Self, ApiError> {
        fn field(name: &str, value: String, min: usize, max: usize) -> Result<String, ApiError> {
            let v = value.trim().to_owned();
            let n = v.chars().count();
            if n < min || n > max || v.chars().any(char::is_control) {
                return Err(ApiError::invalid(if min == 0 {
                    format!("{name} must be at most {max} printable characters")
                } else {
                    format!("{name} must be {min} to {max} printable characters")
                }));
            }
            Ok(v)
        }
        let country = self.country.trim().to_ascii_uppercase();
        if country.len() != 2 || !country.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(ApiError::invalid(
                "country must be an ISO 3166-1 alpha-2 code such as FR",
            ));
        }
        let phone = super::customers::phone(Some(self.phone))?.unwrap_or_default();
        Ok(Self {
            name: field("name", self.name, 1, 100)?,
            line1: field("line1", self.line1, 1, 200)?,
            line2: field("line2", self.line2, 0, 200)?,
            city: field("city", self.city, 1, 100)?,
            region: field("region", self.region, 0, 100)?,
            postal_code: field("postal_code", self.postal_code, 0, 20)?,
            country,
            phone,
        })
    }

    /// Binds the fields, name to phone in column order, as the next
    /// parameters of `query`.
    fn bind_to<'q, O>(
        &'q self,
        query: QueryAs<'q, Postgres, O, PgArguments>,
    ) -> QueryAs<'q, Postgres, O, PgArguments> {
        query
            .bind(&self.name)
            .bind(&self.line1)
            .bind(&self.line2)
            .bind(&self.city)
            .bind(&self.region)
            .bind(&self.postal_code)
            .bind(&self.country)
            .bind(&self.phone)
    }

    /// The fields with `patch` applied.
    fn patched(self, patch: &AddressPatch) -> Self {
        let pick = |new: &Option<String>, old: String| new.clone().unwrap_or(old);
        Self {
            name: pick(&patch.name, self.name),
            line1: pick(&patch.line1, self.line1),
            line2: pick(&patch.line2, self.line2),
            city: pick(&patch.city, self.city),
            region: pick(&patch.region, self.region),
            postal_code: pick(&patch.postal_code, self.postal_code),
            country: pick(&patch.country, self.country),
            phone: pick(&patch.phone, self.phone),
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Address {
    id: AddressId,
    name: String,
    line1: String,
    line2: String,
    city: String,
    region: String,
    postal_code: String,
    country: String,
    phone: String,
    is_default: bool,
    created_at: DateTime<Utc>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct AddressList {
    /// Every address of the customer (at most 50), oldest first.
    items: Vec<Address>,
}

const COLUMNS: &str =
    "id, name, line1, line2, city, region, postal_code, country, phone, is_default, created_at";

#[derive(sqlx::FromRow)]
struct Row {
    id: Uuid,
    name: String,
    line1: String,
    line2: String,
    city: String,
    region: String,
    postal_code: String,
    country: String,
    phone: String,
    is_default: bool,
    created_at: DateTime<Utc>,
}

impl Row {
    fn fields(&self) -> AddressFields {
        AddressFields {
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

    fn address(self) -> Address {
        Address {
            id: AddressId::from_uuid(self.id),
            name: self.name,
            line1: self.line1,
            line2: self.line2,
            city: self.city,
            region: self.region,
            postal_code: self.postal_code,
            country: self.country.trim().to_owned(),
            phone: self.phone,
            is_default: self.is_default,
            created_at: self.created_at,
        }
    }
}

async fn clear_default(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    customer: CustomerId,
) -> Result<(), PodError> {
    sqlx::query(
        "UPDATE customer_addresses SET is_default = false, updated_at = now()
         WHERE store_id = $1 AND customer_id = $2 AND is_default",
    )
    .bind(store.as_uuid())
    .bind(customer.as_uuid())
    .execute(&mut **tx)
    .await
    .map(|_| ())
    .map_err(PodError::internal)
}

/// Locks the customer's row so concurrent address writes take turns (the
/// count limit and the single default hold).
async fn lock_customer(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    customer: CustomerId,
) -> Result<(), PodError> {
    let found: Option<(Uuid,)> =
        sqlx::query_as("SELECT id FROM customers WHERE store_id = $1 AND id = $2 FOR UPDATE")
            .bind(store.as_uuid())
            .bind(customer.as_uuid())
            .fetch_optional(&mut **tx)
            .await
            .map_err(PodError::internal)?;
    found
        .map(|_| ())
        .ok_or_else(|| ApiError::not_found("customer").into())
}

/// The signed-in customer's addresses.
#[utoipa::path(get, path = "/api/customers/me/addresses", tag = "customers",
    responses((status = 200, body = AddressList), (status = 401, body = mercato_tenants::error::ErrorBody)))]
pub(super) async fn list(
    State(state): State<AppState>,
    tenant: TenantContext,
    customer: Customer,
) -> Result<Json<AddressList>, PodError> {
    let rows: Vec<Row> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM customer_addresses WHERE store_id = $1 AND customer_id = $2 ORDER BY id LIMIT $3"
    ))
    .bind(tenant.store_id.as_uuid())
    .bind(customer.id.as_uuid())
    .bind(MAX_ADDRESSES)
    .fetch_all(&state.db)
    .await
    .map_err(PodError::internal)?;
    Ok(Json(AddressList {
        items: rows.into_iter().map(Row::address).collect(),
    }))
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
    let store = tenant.store_id;
    let fields = AddressFields {
        name: input.name,
        line1: input.line1,
        line2: input.line2.unwrap_or_default(),
        city: input.city,
        region: input.region.unwrap_or_default(),
        postal_code: input.postal_code.unwrap_or_default(),
        country: input.country,
        phone: input.phone.unwrap_or_default(),
    }
    .validate()?;
    let mut tx = begin_write(&state.db, store).await?;
    lock_customer(&mut tx, store, customer.id).await?;
    let (count,): (i64,) = sqlx::query_as(
        "SELECT count(*) FROM customer_addresses WHERE store_id = $1 AND customer_id = $2",
    )
    .bind(store.as_uuid())
    .bind(customer.id.as_uuid())
    .fetch_one(&mut *tx)
    .await
    .map_err(PodError::internal)?;
    if count >= MAX_ADDRESSES {
        return Err(ApiError::new(
            ErrorCode::Unprocessable,
            format!("at most {MAX_ADDRESSES} addresses per customer"),
        )
        .into());
    }
    let is_default = input.is_default.unwrap_or(false) || count == 0;
    if is_default {
        clear_default(&mut tx, store, customer.id).await?;
    }
    let sql = format!(
        "INSERT INTO customer_addresses
            (store_id, id, customer_id, name, line1, line2, city, region, postal_code, country, phone, is_default)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
         RETURNING {COLUMNS}"
    );
    let insert = sqlx::query_as(&sql)
        .bind(store.as_uuid())
        .bind(AddressId::new().as_uuid())
        .bind(customer.id.as_uuid());
    let row: Row = fields
        .bind_to(insert)
        .bind(is_default)
        .fetch_one(&mut *tx)
        .await?;
    tx.commit().await.map_err(PodError::internal)?;
    Ok((StatusCode::CREATED, Json(row.address())))
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
    let store = tenant.store_id;
    let mut tx = begin_write(&state.db, store).await?;
    lock_customer(&mut tx, store, customer.id).await?;
    let current: Option<Row> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM customer_addresses WHERE store_id = $1 AND customer_id = $2 AND id = $3"
    ))
    .bind(store.as_uuid())
    .bind(customer.id.as_uuid())
    .bind(id.as_uuid())
    .fetch_optional(&mut *tx)
    .await
    .map_err(PodError::internal)?;
    let current = current.ok_or_else(|| ApiError::not_found("address"))?;
    let fields = current.fields().patched(&patch).validate()?;
    let is_default = patch.is_default.unwrap_or(current.is_default);
    if is_default && !current.is_default {
        clear_default(&mut tx, store, customer.id).await?;
    }
    let sql = format!(
        "UPDATE customer_addresses SET name = $4, line1 = $5, line2 = $6, city = $7, region = $8,
            postal_code = $9, country = $10, phone = $11, is_default = $12, updated_at = now()
         WHERE store_id = $1 AND customer_id = $2 AND id = $3
         RETURNING {COLUMNS}"
    );
    let update = sqlx::query_as(&sql)
        .bind(store.as_uuid())
        .bind(customer.id.as_uuid())
        .bind(id.as_uuid());
    let row: Row = fields
        .bind_to(update)
        .bind(is_default)
        .fetch_one(&mut *tx)
        .await?;
    tx.commit().await.map_err(PodError::internal)?;
    Ok(Json(row.address()))
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
    let mut tx = begin_write(&state.db, tenant.store_id).await?;
    let done = sqlx::query(
        "DELETE FROM customer_addresses WHERE store_id = $1 AND customer_id = $2 AND id = $3",
    )
    .bind(tenant.store_id.as_uuid())
    .bind(customer.id.as_uuid())
    .bind(id.as_uuid())
    .execute(&mut *tx)
    .await
    .map_err(PodError::internal)?;
    if done.rows_affected() == 0 {
        return Err(ApiError::not_found("address").into());
    }
    tx.commit().await.map_err(PodError::internal)?;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> AddressFields {
        AddressFields {
            name: " Ada Lovelace ".into(),
            line1: "12 St James's Square".into(),
            line2: String::new(),
            city: "London".into(),
            region: String::new(),
            postal_code: "SW1Y 4JH".into(),
            country: "gb".into(),
            phone: String::new(),
        }
    }

    #[test]
    fn a_valid_address_is_trimmed_and_its_country_upper_cased() {
        let v = sample().validate().expect("valid");
        assert_eq!(v.name, "Ada Lovelace");
        assert_eq!(v.country, "GB");
    }

    #[test]
    fn bad_fields_are_refused() {
        for bad in [
            AddressFields {
                name: "  ".into(),
                ..sample()
            },
            AddressFields {
                line1: "x".repeat(201),
                ..sample()
            },
            AddressFields {
                city: String::new(),
                ..sample()
            },
            AddressFields {
                country: "GBR".into(),
                ..sample()
            },
            AddressFields {
                country: "1A".into(),
                ..sample()
            },
            AddressFields {
                postal_code: "x".repeat(21),
                ..sample()
            },
            AddressFields {
                phone: "not a phone".into(),
                ..sample()
            },
        ] {
            assert!(bad.clone().validate().is_err(), "{bad:?} accepted");
        }
    }

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
        let v = sample().patched(&patch).validate().expect("valid");
        assert_eq!(v.line2, "Flat 2");
        assert_eq!(v.country, "FR");
        assert_eq!(v.city, "London");
    }
}
