//! The SQL of `discounts`, `discount_codes`, `discount_shopper_uses` and
//! `discount_uses`. Every query filters on store_id.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use mercato_tenants::{CheckoutId, DiscountId, StoreId};
use sqlx::types::Json;
use sqlx::{PgExecutor, Postgres, Transaction};
use uuid::Uuid;

use super::input::{CodeKey, Definition, Method, Status};
use super::model::{CombinesWith, Conditions, Customers, Discount, Kind};

/// A discount row.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Row {
    pub id: Uuid,
    pub title: String,
    pub method: String,
    pub kind: Json<Kind>,
    pub min_subtotal_minor: Option<i64>,
    pub min_quantity: Option<i32>,
    pub starts_at: Option<DateTime<Utc>>,
    pub ends_at: Option<DateTime<Utc>>,
    pub customers: Json<Customers>,
    pub first_order_only: bool,
    pub usage_limit: Option<i32>,
    pub per_customer_limit: Option<i32>,
    pub combines_order: bool,
    pub combines_product: bool,
    pub combines_shipping: bool,
    pub status: String,
    pub used_count: i32,
    pub codes_count: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// `used_count` is the counter: kept exactly for a discount with a usage
/// limit (what the decision needs), not kept without one (no row lock
/// on every checkout of an unlimited discount).
const COLUMNS: &str = "d.id, d.title, d.method, d.kind, d.min_subtotal_minor, d.min_quantity,
    d.starts_at, d.ends_at, d.customers, d.first_order_only, d.usage_limit, d.per_customer_limit,
    d.combines_order, d.combines_product, d.combines_shipping, d.status, d.used_count,
    0::bigint AS codes_count, d.created_at, d.updated_at";

/// What staff see: the uses counted from `discount_uses` where no counter
/// is kept, and the codes.
const VIEW_COLUMNS: &str = "d.id, d.title, d.method, d.kind, d.min_subtotal_minor, d.min_quantity,
    d.starts_at, d.ends_at, d.customers, d.first_order_only, d.usage_limit, d.per_customer_limit,
    d.combines_order, d.combines_product, d.combines_shipping, d.status,
    CASE WHEN d.usage_limit IS NOT NULL THEN d.used_count
         ELSE (SELECT count(*)::int FROM discount_uses u
                WHERE u.store_id = d.store_id AND u.discount_id = d.id AND u.released_at IS NULL)
    END AS used_count,
    (SELECT count(*) FROM discount_codes c WHERE c.store_id = d.store_id AND c.discount_id = d.id)
        AS codes_count,
    d.created_at, d.updated_at";

fn count(n: Option<i32>) -> Option<u32> {
    n.and_then(|v| u32::try_from(v).ok())
}

fn to_i32(n: Option<u32>) -> Option<i32> {
    n.map(|v| i32::try_from(v).unwrap_or(i32::MAX))
}

impl Row {
    pub fn method(&self) -> Method {
        Method::parse(&self.method).unwrap_or(Method::Code)
    }

    pub fn status(&self) -> Status {
        Status::parse(&self.status).unwrap_or(Status::Disabled)
    }

    pub fn conditions(&self) -> Conditions {
        Conditions {
            min_subtotal_minor: self.min_subtotal_minor,
            min_quantity: count(self.min_quantity),
            starts_at: self.starts_at,
            ends_at: self.ends_at,
            customers: self.customers.0.clone(),
            first_order_only: self.first_order_only,
            usage_limit: count(self.usage_limit),
            per_customer_limit: count(self.per_customer_limit),
        }
    }

    pub fn combines_with(&self) -> CombinesWith {
        CombinesWith {
            order: self.combines_order,
            product: self.combines_product,
            shipping: self.combines_shipping,
        }
    }

    /// The discount as the decision needs it; `code` the one entered.
    pub fn discount(&self, code: Option<String>) -> Discount {
        Discount {
            id: DiscountId::from_uuid(self.id),
            title: self.title.clone(),
            code,
            kind: self.kind.0.clone(),
            conditions: self.conditions(),
            combines_with: self.combines_with(),
        }
    }
}

type Query<'q> = sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments>;

/// Binds `$1` store, `$2` id and `$3`..`$17` the definition, in the order
/// of [`DEFINITION`].
fn bind_definition<'q>(
    q: Query<'q>,
    store: StoreId,
    id: DiscountId,
    d: &'q Definition,
) -> Query<'q> {
    q.bind(store.as_uuid())
        .bind(id.as_uuid())
        .bind(&d.title)
        .bind(Json(&d.kind))
        .bind(class_name(&d.kind))
        .bind(d.conditions.min_subtotal_minor)
        .bind(to_i32(d.conditions.min_quantity))
        .bind(d.conditions.starts_at)
        .bind(d.conditions.ends_at)
        .bind(Json(&d.conditions.customers))
        .bind(d.conditions.first_order_only)
        .bind(to_i32(d.conditions.usage_limit))
        .bind(to_i32(d.conditions.per_customer_limit))
        .bind(d.combines_with.order)
        .bind(d.combines_with.product)
        .bind(d.combines_with.shipping)
        .bind(d.status.as_str())
}

/// The definition's columns, `$3`..`$17` in [`bind_definition`].
const DEFINITION: &str = "title, kind, class, min_subtotal_minor, min_quantity, starts_at,
    ends_at, customers, first_order_only, usage_limit, per_customer_limit, combines_order,
    combines_product, combines_shipping, status";

/// Stores a new discount (its first code apart: [`insert_codes`]).
pub async fn insert(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    id: DiscountId,
    d: &Definition,
) -> Result<(), sqlx::Error> {
    let sql = format!(
        "INSERT INTO discounts (store_id, id, {DEFINITION}, method)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)"
    );
    bind_definition(sqlx::query(&sql), store, id, d)
        .bind(d.method.as_str())
        .execute(&mut **tx)
        .await?;
    Ok(())
}

fn class_name(kind: &Kind) -> &'static str {
    match kind.class() {
        super::model::Class::Order => "order",
        super::model::Class::Product => "product",
        super::model::Class::Shipping => "shipping",
    }
}

/// Replaces a discount's definition (its method stays); false when there
/// is no such discount.
pub async fn replace(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    id: DiscountId,
    d: &Definition,
) -> Result<bool, sqlx::Error> {
    let sql = format!(
        "UPDATE discounts SET ({DEFINITION}, updated_at) =
             ($3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, now())
         WHERE store_id = $1 AND id = $2"
    );
    let done = bind_definition(sqlx::query(&sql), store, id, d)
        .execute(&mut **tx)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// The discount locked for a change of its codes or definition.
pub async fn lock(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    id: DiscountId,
) -> Result<Option<Row>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {VIEW_COLUMNS} FROM discounts d WHERE d.store_id = $1 AND d.id = $2 FOR UPDATE"
    ))
    .bind(store.as_uuid())
    .bind(id.as_uuid())
    .fetch_optional(&mut **tx)
    .await
}

pub async fn delete(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    id: DiscountId,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("DELETE FROM discounts WHERE store_id = $1 AND id = $2")
        .bind(store.as_uuid())
        .bind(id.as_uuid())
        .execute(&mut **tx)
        .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn get<'e>(
    exec: impl PgExecutor<'e>,
    store: StoreId,
    id: DiscountId,
) -> Result<Option<Row>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {VIEW_COLUMNS} FROM discounts d WHERE d.store_id = $1 AND d.id = $2"
    ))
    .bind(store.as_uuid())
    .bind(id.as_uuid())
    .fetch_optional(exec)
    .await
}

/// A page of the store's discounts, newest first, before `before`.
pub async fn list<'e>(
    exec: impl PgExecutor<'e>,
    store: StoreId,
    before: Option<DiscountId>,
    limit: i64,
) -> Result<Vec<Row>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {VIEW_COLUMNS} FROM discounts d
          WHERE d.store_id = $1 AND ($2::uuid IS NULL OR d.id < $2)
          ORDER BY d.id DESC LIMIT $3"
    ))
    .bind(store.as_uuid())
    .bind(before.map(|b| b.as_uuid()))
    .bind(limit)
    .fetch_all(exec)
    .await
}

/// The store's active automatic discounts.
pub async fn automatic<'e>(
    exec: impl PgExecutor<'e>,
    store: StoreId,
) -> Result<Vec<Row>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM discounts d
          WHERE d.store_id = $1 AND d.method = 'automatic' AND d.status = 'active'
          ORDER BY d.id"
    ))
    .bind(store.as_uuid())
    .fetch_all(exec)
    .await
}

/// How many active automatic discounts the store has.
pub async fn automatic_count<'e>(
    exec: impl PgExecutor<'e>,
    store: StoreId,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT count(*) FROM discounts
          WHERE store_id = $1 AND method = 'automatic' AND status = 'active'",
    )
    .bind(store.as_uuid())
    .fetch_one(exec)
    .await
}

/// A code with its discount.
#[derive(Debug, Clone)]
pub struct Coded {
    pub discount: Row,
    pub code: String,
    pub code_limit: Option<u32>,
    pub code_used: u32,
}

#[derive(sqlx::FromRow)]
struct CodedRow {
    #[sqlx(flatten)]
    discount: Row,
    code: String,
    code_limit: Option<i32>,
    code_used: i32,
}

/// The active discounts of the codes `keys` (codes of disabled discounts
/// are left out, as if unknown).
pub async fn by_codes<'e>(
    exec: impl PgExecutor<'e>,
    store: StoreId,
    keys: &[String],
) -> Result<Vec<Coded>, sqlx::Error> {
    let rows: Vec<CodedRow> = sqlx::query_as(&format!(
        "SELECT {COLUMNS}, c.code_key AS code, c.usage_limit AS code_limit,
                c.used_count AS code_used
           FROM discount_codes c
           JOIN discounts d ON d.store_id = c.store_id AND d.id = c.discount_id
          WHERE c.store_id = $1 AND c.code_key = ANY($2) AND d.status = 'active'"
    ))
    .bind(store.as_uuid())
    .bind(keys)
    .fetch_all(exec)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| Coded {
            discount: r.discount,
            code: r.code,
            code_limit: count(r.code_limit),
            code_used: u32::try_from(r.code_used).unwrap_or(0),
        })
        .collect())
}

/// Whether a code exists (whatever its discount's status).
pub async fn code_exists<'e>(
    exec: impl PgExecutor<'e>,
    store: StoreId,
    key: &CodeKey,
) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM discount_codes c
            JOIN discounts d ON d.store_id = c.store_id AND d.id = c.discount_id
           WHERE c.store_id = $1 AND c.code_key = $2 AND d.status = 'active')",
    )
    .bind(store.as_uuid())
    .bind(key.as_str())
    .fetch_one(exec)
    .await
}

/// The shopper's uses of each of `discounts`.
pub async fn shopper_uses<'e>(
    exec: impl PgExecutor<'e>,
    store: StoreId,
    discounts: &[Uuid],
    shopper: &str,
) -> Result<HashMap<Uuid, u32>, sqlx::Error> {
    let rows: Vec<(Uuid, i32)> = sqlx::query_as(
        "SELECT discount_id, used_count FROM discount_shopper_uses
          WHERE store_id = $1 AND discount_id = ANY($2) AND shopper = $3",
    )
    .bind(store.as_uuid())
    .bind(discounts)
    .bind(shopper)
    .fetch_all(exec)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, n)| (id, u32::try_from(n).unwrap_or(0)))
        .collect())
}

/// Inserts codes for a discount; the ones another code already has are
/// skipped. Returns the codes stored.
pub async fn insert_codes(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    discount: DiscountId,
    keys: &[CodeKey],
    usage_limit: Option<u32>,
) -> Result<Vec<String>, sqlx::Error> {
    let ids: Vec<Uuid> = keys.iter().map(|_| Uuid::now_v7()).collect();
    let codes: Vec<&str> = keys.iter().map(CodeKey::as_str).collect();
    sqlx::query_scalar(
        "INSERT INTO discount_codes (store_id, id, discount_id, code, code_key, usage_limit)
         SELECT $1, i, $2, c, c, $5 FROM unnest($3::uuid[], $4::text[]) AS u(i, c)
         ON CONFLICT (store_id, code_key) DO NOTHING
         RETURNING code_key",
    )
    .bind(store.as_uuid())
    .bind(discount.as_uuid())
    .bind(&ids)
    .bind(&codes)
    .bind(to_i32(usage_limit))
    .fetch_all(&mut **tx)
    .await
}

/// A code as staff see it.
#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize, utoipa::ToSchema)]
pub struct CodeRow {
    #[schema(value_type = String, format = Uuid)]
    pub id: Uuid,
    pub code: String,
    pub usage_limit: Option<i32>,
    pub used_count: i32,
    pub created_at: DateTime<Utc>,
}

/// A page of a discount's codes in the order they were made, after `after`.
pub async fn codes<'e>(
    exec: impl PgExecutor<'e>,
    store: StoreId,
    discount: DiscountId,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<CodeRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, code, usage_limit, used_count, created_at FROM discount_codes
          WHERE store_id = $1 AND discount_id = $2 AND ($3::uuid IS NULL OR id > $3)
          ORDER BY id LIMIT $4",
    )
    .bind(store.as_uuid())
    .bind(discount.as_uuid())
    .bind(after)
    .bind(limit)
    .fetch_all(exec)
    .await
}

/// One use of a discount by a checkout, as the reservation counts it.
pub struct Use<'a> {
    pub discount: DiscountId,
    pub code_id: Option<Uuid>,
    pub shopper: &'a str,
    pub amount_minor: i64,
}

/// Records the use; false when this checkout already counted it (a retry).
pub async fn insert_use(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    checkout: CheckoutId,
    u: &Use<'_>,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "INSERT INTO discount_uses (store_id, checkout_id, discount_id, code_id, shopper, amount_minor)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (store_id, checkout_id, discount_id) DO NOTHING",
    )
    .bind(store.as_uuid())
    .bind(checkout.as_uuid())
    .bind(u.discount.as_uuid())
    .bind(u.code_id)
    .bind(u.shopper)
    .bind(u.amount_minor)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// A discount's limits as a redemption needs them.
#[derive(Debug, Clone, Copy, sqlx::FromRow)]
pub struct Limits {
    pub usage_limit: Option<i32>,
    pub per_customer_limit: Option<i32>,
}

/// The limits of an active discount (`None`: disabled or gone). No lock:
/// only a limited counter is locked, by its conditional update.
pub async fn limits(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    discount: DiscountId,
) -> Result<Option<Limits>, sqlx::Error> {
    sqlx::query_as(
        "SELECT usage_limit, per_customer_limit FROM discounts
          WHERE store_id = $1 AND id = $2 AND status = 'active'",
    )
    .bind(store.as_uuid())
    .bind(discount.as_uuid())
    .fetch_optional(&mut **tx)
    .await
}

/// Counts a use on a limited discount if it is still active and under its
/// limit: one conditional UPDATE, so concurrent checkouts never pass the
/// limit. False when refused.
pub async fn count_discount(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    discount: DiscountId,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE discounts SET used_count = used_count + 1
          WHERE store_id = $1 AND id = $2 AND status = 'active'
            AND used_count < usage_limit",
    )
    .bind(store.as_uuid())
    .bind(discount.as_uuid())
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The discount's code `key`: its id and own limit.
pub async fn code_of(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    discount: DiscountId,
    key: &str,
) -> Result<Option<(Uuid, Option<i32>)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, usage_limit FROM discount_codes
          WHERE store_id = $1 AND discount_id = $2 AND code_key = $3",
    )
    .bind(store.as_uuid())
    .bind(discount.as_uuid())
    .bind(key)
    .fetch_optional(&mut **tx)
    .await
}

/// Counts a use on a limited code if it is under its limit.
pub async fn count_code(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    code: Uuid,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE discount_codes SET used_count = used_count + 1
          WHERE store_id = $1 AND id = $2 AND used_count < usage_limit",
    )
    .bind(store.as_uuid())
    .bind(code)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Counts a use by the shopper if under `limit` (`None`: counted anyway).
pub async fn count_shopper(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    discount: DiscountId,
    shopper: &str,
    limit: Option<i32>,
) -> Result<bool, sqlx::Error> {
    let counted: Option<i32> = sqlx::query_scalar(
        "INSERT INTO discount_shopper_uses AS u (store_id, discount_id, shopper, used_count)
         VALUES ($1, $2, $3, 1)
         ON CONFLICT (store_id, discount_id, shopper) DO UPDATE SET used_count = u.used_count + 1
          WHERE $4::int IS NULL OR u.used_count < $4
         RETURNING used_count",
    )
    .bind(store.as_uuid())
    .bind(discount.as_uuid())
    .bind(shopper)
    .bind(limit)
    .fetch_optional(&mut **tx)
    .await?;
    Ok(counted.is_some() && limit.is_none_or(|l| counted.unwrap_or(0) <= l))
}

/// Gives back every use the checkout counted and has not given back: the
/// counters go down in the same transaction. Idempotent.
pub async fn release(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    checkout: CheckoutId,
) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(
        "WITH gone AS (
             UPDATE discount_uses SET released_at = now()
              WHERE store_id = $1 AND checkout_id = $2 AND released_at IS NULL
              RETURNING discount_id, code_id, shopper),
         d AS (
             UPDATE discounts x SET used_count = greatest(x.used_count - 1, 0)
               FROM gone WHERE x.store_id = $1 AND x.id = gone.discount_id
                AND x.usage_limit IS NOT NULL),
         c AS (
             UPDATE discount_codes x SET used_count = greatest(x.used_count - 1, 0)
               FROM gone WHERE x.store_id = $1 AND x.id = gone.code_id
                AND x.usage_limit IS NOT NULL)
         UPDATE discount_shopper_uses x SET used_count = greatest(x.used_count - 1, 0)
           FROM gone
          WHERE x.store_id = $1 AND x.discount_id = gone.discount_id AND x.shopper = gone.shopper",
    )
    .bind(store.as_uuid())
    .bind(checkout.as_uuid())
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected())
}
