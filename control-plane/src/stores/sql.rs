//! SQL of `stores` and `domains`.

use chrono::{DateTime, Utc};
pub use mercato_tenants::operator::{Store, StoreDomain, StoreLoad};
use mercato_tenants::{Currency, Domain, PodId, StoreId};
use sqlx::PgPool;
use uuid::Uuid;

#[derive(sqlx::FromRow)]
struct StoreRow {
    id: Uuid,
    name: String,
    handle: String,
    owner_email: String,
    currency: String,
    pod_id: Uuid,
    state: String,
    created_at: DateTime<Utc>,
    #[sqlx(flatten)]
    load: LoadRow,
}

/// The `store_loads` columns of a store, all NULL without a report.
#[derive(sqlx::FromRow)]
struct LoadRow {
    rows: Option<i64>,
    bytes: Option<i64>,
    orders_last_hour: Option<i64>,
    requests_per_minute: Option<i64>,
    reported_at: Option<DateTime<Utc>>,
    sizes_as_of: Option<DateTime<Utc>>,
}

impl LoadRow {
    fn load(self) -> Option<StoreLoad> {
        Some(StoreLoad {
            rows: self.rows?,
            bytes: self.bytes?,
            orders_last_hour: self.orders_last_hour?,
            requests_per_minute: self.requests_per_minute?,
            reported_at: self.reported_at?,
            sizes_as_of: self.sizes_as_of,
        })
    }
}

fn decode(e: impl std::error::Error + Send + Sync + 'static) -> sqlx::Error {
    sqlx::Error::Decode(Box::new(e))
}

async fn with_domains(db: &PgPool, rows: Vec<StoreRow>) -> Result<Vec<Store>, sqlx::Error> {
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    let domains: Vec<(Uuid, String, String)> =
        sqlx::query_as("SELECT store_id, domain, kind FROM domains WHERE store_id = ANY($1) ORDER BY kind DESC, domain")
            .bind(&ids)
            .fetch_all(db)
            .await?;
    rows.into_iter()
        .map(|r| {
            Ok(Store {
                id: StoreId::from_uuid(r.id),
                currency: Currency::parse(&r.currency).map_err(decode)?,
                pod_id: PodId::from_uuid(r.pod_id),
                state: r.state.parse().map_err(decode)?,
                domains: domains
                    .iter()
                    .filter(|(s, _, _)| *s == r.id)
                    .map(|(_, domain, kind)| StoreDomain {
                        domain: domain.clone(),
                        kind: kind.clone(),
                    })
                    .collect(),
                name: r.name,
                handle: r.handle,
                owner_email: r.owner_email,
                created_at: r.created_at,
                load: r.load.load(),
            })
        })
        .collect()
}

const SELECT_STORES: &str =
    "SELECT s.id, s.name, s.handle, s.owner_email, s.currency, s.pod_id, s.state, s.created_at,
            l.rows, l.bytes, l.orders_last_hour, l.requests_per_minute, l.reported_at,
            l.sizes_as_of
       FROM stores s LEFT JOIN store_loads l ON l.store_id = s.id";

pub async fn get(db: &PgPool, id: StoreId) -> Result<Option<Store>, sqlx::Error> {
    let rows: Vec<StoreRow> = sqlx::query_as(&format!("{SELECT_STORES} WHERE s.id = $1"))
        .bind(id.as_uuid())
        .fetch_all(db)
        .await?;
    Ok(with_domains(db, rows).await?.pop())
}

/// The URL of pod `pod`, if it is registered.
pub async fn pod_url(db: &PgPool, pod: PodId) -> Result<Option<String>, sqlx::Error> {
    let url: Option<(String,)> = sqlx::query_as("SELECT url FROM pods WHERE id = $1")
        .bind(pod.as_uuid())
        .fetch_optional(db)
        .await?;
    Ok(url.map(|(u,)| u))
}

pub async fn get_by_handle(db: &PgPool, handle: &str) -> Result<Option<Store>, sqlx::Error> {
    let rows: Vec<StoreRow> = sqlx::query_as(&format!("{SELECT_STORES} WHERE s.handle = $1"))
        .bind(handle)
        .fetch_all(db)
        .await?;
    Ok(with_domains(db, rows).await?.pop())
}

/// The active stores whose owner signed up with `email` (any letter
/// case), oldest first, at most `limit`: a merchant's stores on the
/// platform's sign-in page.
pub async fn owned_by(db: &PgPool, email: &str, limit: i64) -> Result<Vec<Store>, sqlx::Error> {
    let rows: Vec<StoreRow> = sqlx::query_as(&format!(
        "{SELECT_STORES} WHERE lower(s.owner_email) = lower($1) AND s.state = 'active'
          ORDER BY s.id LIMIT $2"
    ))
    .bind(email)
    .bind(limit)
    .fetch_all(db)
    .await?;
    with_domains(db, rows).await
}

/// Stores whose handle, name, owner's email or one of whose domains
/// contains `q` (any letter case), or whose id is `q`; in creation order,
/// at most `limit`. The console's store search.
pub async fn search(db: &PgPool, q: &str, limit: i64) -> Result<Vec<Store>, sqlx::Error> {
    let pattern = format!("%{}%", mercato_tenants::text::like_escape(q));
    let rows: Vec<StoreRow> = sqlx::query_as(&format!(
        "{SELECT_STORES} WHERE s.handle ILIKE $1 OR s.name ILIKE $1 OR s.owner_email ILIKE $1
            OR s.id::text = lower($2)
            OR EXISTS (SELECT 1 FROM domains d WHERE d.store_id = s.id AND d.domain ILIKE $1)
          ORDER BY s.id LIMIT $3"
    ))
    .bind(pattern)
    .bind(q)
    .bind(limit)
    .fetch_all(db)
    .await?;
    with_domains(db, rows).await
}

/// Stores ordered by id (creation order), after the cursor.
pub async fn list(
    db: &PgPool,
    after: Option<StoreId>,
    limit: i64,
) -> Result<Vec<Store>, sqlx::Error> {
    let rows: Vec<StoreRow> = sqlx::query_as(&format!(
        "{SELECT_STORES} WHERE ($1::uuid IS NULL OR s.id > $1) ORDER BY s.id LIMIT $2"
    ))
    .bind(after.map(|a| a.as_uuid()))
    .bind(limit)
    .fetch_all(db)
    .await?;
    with_domains(db, rows).await
}

pub async fn insert_domain<'e>(
    exec: impl sqlx::PgExecutor<'e>,
    store: StoreId,
    domain: &Domain,
    kind: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO domains (domain, store_id, kind) VALUES ($1, $2, $3)")
        .bind(domain.as_str())
        .bind(store.as_uuid())
        .bind(kind)
        .execute(exec)
        .await
        .map(|_| ())
}
