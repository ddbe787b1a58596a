//! The `shipping_rates` and `tax_rates` tables: a store's tables are read
//! whole and replaced whole.

use mercato_tenants::StoreId;
use sqlx::{PgExecutor, Postgres, Transaction};

use crate::checkout::rates::{ShippingRate, TaxRate};

/// The store's shipping rates in their order (empty when it has none).
pub async fn shipping<'e>(
    exec: impl PgExecutor<'e>,
    store: StoreId,
) -> Result<Vec<ShippingRate>, sqlx::Error> {
    type Row = (String, String, i64, Option<i64>, Vec<String>);
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT code, name, price_minor, free_over_minor, countries FROM shipping_rates
         WHERE store_id = $1 ORDER BY position, code",
    )
    .bind(store.as_uuid())
    .fetch_all(exec)
    .await?;
    Ok(rows
        .into_iter()
        .map(
            |(code, name, price_minor, free_over_minor, countries)| ShippingRate {
                code,
                name,
                price_minor,
                free_over_minor,
                countries,
            },
        )
        .collect())
}

/// The store's tax rates by country and region.
pub async fn tax<'e>(
    exec: impl PgExecutor<'e>,
    store: StoreId,
) -> Result<Vec<TaxRate>, sqlx::Error> {
    let rows: Vec<(String, String, i32, String)> = sqlx::query_as(
        "SELECT country, region, rate_bp, name FROM tax_rates WHERE store_id = $1
         ORDER BY country, region",
    )
    .bind(store.as_uuid())
    .fetch_all(exec)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(country, region, rate_bp, name)| TaxRate {
            country,
            region,
            rate_bp,
            name,
        })
        .collect())
}

/// Replaces the store's shipping rates (their order is kept as given).
pub async fn replace_shipping(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    rates: &[ShippingRate],
) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM shipping_rates WHERE store_id = $1")
        .bind(store.as_uuid())
        .execute(&mut **tx)
        .await?;
    for (i, r) in rates.iter().enumerate() {
        sqlx::query(
            "INSERT INTO shipping_rates (store_id, code, name, price_minor, free_over_minor,
                 countries, position)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(store.as_uuid())
        .bind(&r.code)
        .bind(&r.name)
        .bind(r.price_minor)
        .bind(r.free_over_minor)
        .bind(&r.countries)
        .bind(i as i32)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// Replaces the store's tax rates.
pub async fn replace_tax(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    rates: &[TaxRate],
) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM tax_rates WHERE store_id = $1")
        .bind(store.as_uuid())
        .execute(&mut **tx)
        .await?;
    for r in rates {
        sqlx::query(
            "INSERT INTO tax_rates (store_id, country, region, rate_bp, name)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(store.as_uuid())
        .bind(&r.country)
        .bind(&r.region)
        .bind(r.rate_bp)
        .bind(&r.name)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}
