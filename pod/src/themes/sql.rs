//! Every statement on `theme_settings` and `theme_templates`.

use chrono::{DateTime, Utc};
use mercato_tenants::StoreId;
use sqlx::{PgExecutor, Postgres, Transaction};

use super::model::ThemeSettings;

/// The store's settings and when they changed; `None`: never set.
pub async fn settings<'e>(
    exec: impl PgExecutor<'e>,
    store: StoreId,
) -> Result<Option<(ThemeSettings, DateTime<Utc>)>, sqlx::Error> {
    let row: Option<(sqlx::types::Json<ThemeSettings>, DateTime<Utc>)> =
        sqlx::query_as("SELECT settings, updated_at FROM theme_settings WHERE store_id = $1")
            .bind(store.as_uuid())
            .fetch_optional(exec)
            .await?;
    Ok(row.map(|(s, at)| (s.0, at)))
}

pub async fn put_settings(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    settings: &ThemeSettings,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO theme_settings (store_id, settings, updated_at) VALUES ($1, $2, clock_timestamp())
         ON CONFLICT (store_id) DO UPDATE SET settings = EXCLUDED.settings, updated_at = EXCLUDED.updated_at",
    )
    .bind(store.as_uuid())
    .bind(sqlx::types::Json(settings))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The store's own templates: (name, source, updated_at), by name.
pub async fn templates<'e>(
    exec: impl PgExecutor<'e>,
    store: StoreId,
) -> Result<Vec<(String, String, DateTime<Utc>)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT name, source, updated_at FROM theme_templates WHERE store_id = $1 ORDER BY name",
    )
    .bind(store.as_uuid())
    .fetch_all(exec)
    .await
}

pub async fn put_template(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    name: &str,
    source: &str,
) -> Result<DateTime<Utc>, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO theme_templates (store_id, name, source, updated_at)
         VALUES ($1, $2, $3, clock_timestamp())
         ON CONFLICT (store_id, name) DO UPDATE
           SET source = EXCLUDED.source, updated_at = EXCLUDED.updated_at
         RETURNING updated_at",
    )
    .bind(store.as_uuid())
    .bind(name)
    .bind(source)
    .fetch_one(&mut **tx)
    .await
}

/// Whether there was a template to delete.
pub async fn delete_template(
    tx: &mut Transaction<'_, Postgres>,
    store: StoreId,
    name: &str,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("DELETE FROM theme_templates WHERE store_id = $1 AND name = $2")
        .bind(store.as_uuid())
        .bind(name)
        .execute(&mut **tx)
        .await?;
    Ok(done.rows_affected() > 0)
}
