//! Themes: how a store's website looks. The template engine and the
//! default theme ([`engine`]), the owner's settings (colours, font, logo,
//! home page sections, header and footer links; [`model`]) and the
//! merchant's own templates in place of the default theme's, checked when
//! saved and rendered in the same sandbox (fuel, output bound, only the
//! values a page gives them).
//!
//! The storefront asks [`for_store`] on every page: the theme is kept in
//! this process for [`KEEP`] (a write here forgets it at once; a write on
//! another pod, during a move, shows within [`KEEP`]). Its `version` is part
//! of every cached page's key, so a change of settings or templates retires
//! the cached pages.

pub mod engine;
pub mod model;
pub(crate) mod sql;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mercato_tenants::{ApiError, ErrorCode, StoreId};
use minijinja::value::Value;
use sha2::{Digest as _, Sha256};
use sqlx::PgPool;

pub use engine::{Engine, TemplateError};
pub use model::{ThemeSettings, MAX_TEMPLATE_BYTES};

use crate::error::PodError;
use crate::state::AppState;
use crate::tenancy::begin_write;

/// How long a store's theme is kept in this process.
pub const KEEP: Duration = Duration::from_secs(2);

/// Renders of a merchant's template that failed and fell back to the
/// default theme's, since the process started.
static FALLBACKS: AtomicU64 = AtomicU64::new(0);

pub fn fallbacks() -> u64 {
    FALLBACKS.load(Ordering::Relaxed)
}

/// A store's theme as pages render with it.
pub struct StoreTheme {
    /// Names the settings and templates as they are now, and the store's
    /// name (every page shows it: a rename retires the cached pages).
    pub version: String,
    /// The store's name the version was made with.
    store_name: String,
    pub settings: ThemeSettings,
    engine: Engine,
    /// The engine has the merchant's templates.
    overridden: bool,
}

impl StoreTheme {
    /// Renders the template `name`. A merchant's template that fails (an
    /// error, out of fuel, too large) is logged and the default theme's
    /// renders instead: a broken template never breaks the page.
    pub fn render(
        &self,
        store: StoreId,
        name: &str,
        context: Value,
    ) -> Result<String, minijinja::Error> {
        match self.engine.render(name, context.clone()) {
            Ok(page) => Ok(page),
            Err(e) if self.overridden => {
                FALLBACKS.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(store_id = %store, template = name, error = %e,
                    "the store's template failed; rendering the default theme's");
                engine::default_engine().render(name, context)
            }
            Err(e) => Err(e),
        }
    }

    /// This theme (its templates) with `settings` in place of its own:
    /// a draft the admin previews, never kept nor cached.
    pub fn with_settings(&self, settings: ThemeSettings) -> StoreTheme {
        StoreTheme {
            version: format!("{}-draft", self.version),
            store_name: self.store_name.clone(),
            settings,
            engine: self.engine.clone(),
            overridden: self.overridden,
        }
    }
}

type Kept = HashMap<StoreId, (Instant, Arc<StoreTheme>)>;

fn kept() -> &'static Mutex<Kept> {
    static KEPT: std::sync::OnceLock<Mutex<Kept>> = std::sync::OnceLock::new();
    KEPT.get_or_init(Mutex::default)
}

/// The theme of `store`, named `name` now (kept for [`KEEP`], or until
/// the store's name changes).
pub async fn for_store(
    db: &PgPool,
    store: StoreId,
    name: &str,
) -> Result<Arc<StoreTheme>, PodError> {
    {
        let kept = kept().lock().unwrap_or_else(|e| e.into_inner());
        if let Some((at, theme)) = kept.get(&store) {
            if at.elapsed() < KEEP && theme.store_name == name {
                return Ok(theme.clone());
            }
        }
    }
    let theme = Arc::new(load(db, store, name).await?);
    let mut kept = kept().lock().unwrap_or_else(|e| e.into_inner());
    // Bounded: stores not asked for within KEEP go first.
    if kept.len() > 10_000 {
        kept.retain(|_, (at, _)| at.elapsed() < KEEP);
    }
    kept.insert(store, (Instant::now(), theme.clone()));
    Ok(theme)
}

/// The default theme as it ships, for a store without settings or
/// templates.
pub fn default_theme() -> Arc<StoreTheme> {
    static DEFAULT: std::sync::OnceLock<Arc<StoreTheme>> = std::sync::OnceLock::new();
    DEFAULT
        .get_or_init(|| {
            Arc::new(StoreTheme {
                version: "default".to_owned(),
                store_name: String::new(),
                settings: ThemeSettings::default(),
                engine: engine::default_engine().clone(),
                overridden: false,
            })
        })
        .clone()
}

/// The theme this process has for `store`, however old, else the default;
/// no I/O (for error pages, which must not depend on the database).
pub fn kept_or_default(store: StoreId) -> Arc<StoreTheme> {
    kept()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(&store)
        .map_or_else(default_theme, |(_, t)| t.clone())
}

/// Forgets the kept theme of `store` (after a write).
fn forget(store: StoreId) {
    kept()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(&store);
}

async fn load(db: &PgPool, store: StoreId, name: &str) -> Result<StoreTheme, PodError> {
    let settings = sql::settings(db, store).await?;
    let templates = sql::templates(db, store).await?;
    let mut digest = Sha256::new();
    digest.update(name.as_bytes());
    digest.update([0]);
    if let Some((_, at)) = &settings {
        digest.update(at.timestamp_micros().to_be_bytes());
    }
    for (name, _, at) in &templates {
        digest.update(name.as_bytes());
        digest.update(at.timestamp_micros().to_be_bytes());
    }
    let version = hex::encode(&digest.finalize()[..8]);
    let overrides: Vec<(String, String)> = templates
        .into_iter()
        .map(|(name, source, _)| (name, source))
        .collect();
    let (engine, overridden) = if overrides.is_empty() {
        (engine::default_engine().clone(), false)
    } else {
        match Engine::with_overrides(&overrides) {
            Ok(engine) => (engine, true),
            Err(e) => {
                FALLBACKS.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(store_id = %store, error = %e,
                    "the store's templates do not compile; using the default theme");
                (engine::default_engine().clone(), false)
            }
        }
    };
    Ok(StoreTheme {
        version,
        store_name: name.to_owned(),
        settings: settings.map(|(s, _)| s).unwrap_or_default(),
        engine,
        overridden,
    })
}

/// The store's settings (the defaults until the owner sets them).
pub async fn settings(db: &PgPool, store: StoreId) -> Result<ThemeSettings, PodError> {
    Ok(sql::settings(db, store)
        .await?
        .map(|(s, _)| s)
        .unwrap_or_default())
}

/// The settings checked and normalized ([`ThemeSettings::validated`]),
/// or `400 invalid_request` saying what is wrong: what a save or a
/// preview takes.
pub fn checked(settings: &ThemeSettings) -> Result<ThemeSettings, ApiError> {
    settings
        .validated()
        .map_err(|e| ApiError::invalid(e.to_string()))
}

/// Checks and saves the store's settings, all at once.
pub async fn put_settings(
    state: &AppState,
    store: StoreId,
    settings: &ThemeSettings,
) -> Result<ThemeSettings, PodError> {
    let settings = checked(settings)?;
    let mut tx = begin_write(&state.db, store).await?;
    sql::put_settings(&mut tx, store, &settings).await?;
    tx.commit().await?;
    forget(store);
    Ok(settings)
}

/// A template of the store's theme: the merchant's, or the default's.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct Template {
    /// One of the default theme's templates (`product.html`...).
    pub name: String,
    /// The merchant's own, in place of the default theme's.
    pub overridden: bool,
    /// When the merchant's was saved; null for the default's.
    pub updated_at: Option<chrono::DateTime<chrono::Utc>>,
    /// The source (Jinja syntax); left out of lists.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

fn known(name: &str) -> Result<&'static str, ApiError> {
    engine::default_source(name).ok_or_else(|| {
        ApiError::not_found(&format!(
            "template (the theme's templates are {})",
            engine::TEMPLATES
                .iter()
                .map(|(n, _)| *n)
                .collect::<Vec<_>>()
                .join(", ")
        ))
    })
}

/// Every template of the theme, the merchant's marked.
pub async fn templates(db: &PgPool, store: StoreId) -> Result<Vec<Template>, PodError> {
    let own = sql::templates(db, store).await?;
    Ok(engine::TEMPLATES
        .iter()
        .map(|(name, _)| {
            let mine = own.iter().find(|(n, _, _)| n == name);
            Template {
                name: (*name).to_owned(),
                overridden: mine.is_some(),
                updated_at: mine.map(|(_, _, at)| *at),
                source: None,
            }
        })
        .collect())
}

/// One template with its source (the merchant's, else the default's).
pub async fn template(db: &PgPool, store: StoreId, name: &str) -> Result<Template, PodError> {
    let default = known(name)?;
    let own = sql::templates(db, store).await?;
    let mine = own.into_iter().find(|(n, _, _)| n == name);
    Ok(Template {
        name: name.to_owned(),
        overridden: mine.is_some(),
        updated_at: mine.as_ref().map(|(_, _, at)| *at),
        source: Some(mine.map_or_else(|| default.to_owned(), |(_, s, _)| s)),
    })
}

/// Saves the merchant's template `name`, if it compiles with the store's
/// other templates (`422 invalid_template`, with the line, otherwise).
pub async fn put_template(
    state: &AppState,
    store: StoreId,
    name: &str,
    source: &str,
) -> Result<Template, PodError> {
    known(name)?;
    model::check_source(source).map_err(|e| ApiError::invalid(e.to_string()))?;
    let mut tx = begin_write(&state.db, store).await?;
    let mut overrides: Vec<(String, String)> = sql::templates(&mut *tx, store)
        .await?
        .into_iter()
        .filter(|(n, _, _)| n != name)
        .map(|(n, s, _)| (n, s))
        .collect();
    overrides.push((name.to_owned(), source.to_owned()));
    Engine::with_overrides(&overrides)
        .map_err(|e| ApiError::new(ErrorCode::InvalidTemplate, e.to_string()))?;
    let at = sql::put_template(&mut tx, store, name, source).await?;
    tx.commit().await?;
    forget(store);
    Ok(Template {
        name: name.to_owned(),
        overridden: true,
        updated_at: Some(at),
        source: Some(source.to_owned()),
    })
}

/// Puts the default theme's template `name` back (`404` if the merchant
/// had none).
pub async fn delete_template(state: &AppState, store: StoreId, name: &str) -> Result<(), PodError> {
    known(name)?;
    let mut tx = begin_write(&state.db, store).await?;
    let deleted = sql::delete_template(&mut tx, store, name).await?;
    tx.commit().await?;
    forget(store);
    if deleted {
        Ok(())
    } else {
        Err(ApiError::not_found("store template of this name").into())
    }
}
