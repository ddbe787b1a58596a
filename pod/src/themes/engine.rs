//! The template engine: Jinja templates (`minijinja`) rendered with
//! autoescaped HTML and bounds on the work and the output of one render.
//!
//! The default theme is compiled into the binary (its files are in
//! `storefront/theme/`). A store's theme is the default one with the
//! merchant's own templates in place of some (`with_overrides`): a
//! template sees only the values a page gives it, so it cannot reach
//! another store's data, or any data the page did not read.
//!
//! Every value a template prints is escaped unless the template says
//! `|safe`, which the default theme never does with data. The `money`
//! filter prints an amount (`{"minor": 1250, "currency": "USD"}`) as a
//! shopper reads it (`$12.50`), exactly, in the currency's own minor units.
//!
//! A render spends fuel per instruction: a template that loops without end
//! runs out ([`FUEL`]) and fails instead of holding a core; its output is
//! cut at [`MAX_OUTPUT`] bytes. minijinja itself refuses huge ranges and
//! string repetitions.

use std::sync::Arc;

use bytes::Bytes;
use minijinja::value::Value;
use minijinja::{Environment, Error, ErrorKind};
use sha2::{Digest as _, Sha256};

use mercato_tenants::money::format_money;
use mercato_tenants::text::escape_html;
use mercato_tenants::{Currency, Money};

/// Instructions one render may run. The default theme's largest page (a
/// search with 100 results and every facet) takes far fewer.
pub const FUEL: u64 = 2_000_000;
/// Largest page a render may write, in bytes.
pub const MAX_OUTPUT: usize = 4 * 1024 * 1024;

/// The default theme's templates, by name: the names a merchant may
/// replace.
pub const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("../storefront/theme/base.html")),
    (
        "macros.html",
        include_str!("../storefront/theme/macros.html"),
    ),
    ("home.html", include_str!("../storefront/theme/home.html")),
    (
        "product.html",
        include_str!("../storefront/theme/product.html"),
    ),
    ("list.html", include_str!("../storefront/theme/list.html")),
    ("cart.html", include_str!("../storefront/theme/cart.html")),
    (
        "checkout.html",
        include_str!("../storefront/theme/checkout.html"),
    ),
    (
        "account.html",
        include_str!("../storefront/theme/account.html"),
    ),
    ("error.html", include_str!("../storefront/theme/error.html")),
];

/// The default theme's source of template `name`.
pub fn default_source(name: &str) -> Option<&'static str> {
    TEMPLATES.iter().find(|(n, _)| *n == name).map(|(_, s)| *s)
}

/// A file of the theme served at a content-addressed path
/// (`/assets/theme-<hash>.css`), cached by browsers for a year.
#[derive(Clone)]
pub struct Asset {
    pub path: String,
    pub content_type: &'static str,
    pub body: Bytes,
}

impl Asset {
    fn new(stem: &str, ext: &str, content_type: &'static str, body: &'static str) -> Self {
        content_addressed("/assets", stem, ext, content_type, body)
    }
}

/// A compiled set of templates.
#[derive(Clone)]
pub struct Engine {
    env: Arc<Environment<'static>>,
}

/// The default theme's templates and assets, compiled once.
pub fn default_engine() -> &'static Engine {
    static DEFAULT: std::sync::OnceLock<Engine> = std::sync::OnceLock::new();
    DEFAULT.get_or_init(|| {
        let mut env = environment();
        for (name, source) in TEMPLATES {
            // The default theme's templates are part of the binary and
            // compiled by the tests: a failure here is a bug, found at
            // the first page rather than hidden.
            if let Err(e) = env.add_template(name, source) {
                tracing::error!(template = name, error = %e, "the default theme does not compile");
            }
        }
        Engine { env: Arc::new(env) }
    })
}

/// A file of the binary served at a content-addressed path
/// (`<prefix>/<stem>-<hash>.<ext>`).
pub fn content_addressed(
    prefix: &str,
    stem: &str,
    ext: &str,
    content_type: &'static str,
    body: &'static str,
) -> Asset {
    let digest = Sha256::digest(body.as_bytes());
    Asset {
        path: format!("{prefix}/{stem}-{}.{ext}", hex::encode(&digest[..8])),
        content_type,
        body: Bytes::from_static(body.as_bytes()),
    }
}

/// The default theme's CSS and script.
pub fn assets() -> &'static [Asset; 2] {
    static ASSETS: std::sync::OnceLock<[Asset; 2]> = std::sync::OnceLock::new();
    ASSETS.get_or_init(|| {
        [
            Asset::new(
                "theme",
                "css",
                "text/css; charset=utf-8",
                include_str!("../storefront/theme/theme.css"),
            ),
            Asset::new(
                "theme",
                "js",
                "text/javascript; charset=utf-8",
                include_str!("../storefront/theme/theme.js"),
            ),
        ]
    })
}

/// The asset served at `path`, if any.
pub fn asset(path: &str) -> Option<&'static Asset> {
    assets().iter().find(|a| a.path == path)
}

/// Why a merchant's template was refused, with where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError {
    pub name: String,
    pub line: Option<usize>,
    pub message: String,
}

impl std::fmt::Display for TemplateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(line) => write!(f, "{} line {line}: {}", self.name, self.message),
            None => write!(f, "{}: {}", self.name, self.message),
        }
    }
}

impl Engine {
    /// A fixed set of templates compiled into the binary (the admin's),
    /// rendered as the themes are: autoescaped, with the `money` filter and
    /// the same fuel and output bounds. A template that does not compile is
    /// a bug of the binary: logged, and its pages fail.
    pub fn fixed(templates: &[(&'static str, &'static str)]) -> Self {
        let mut env = environment();
        for (name, source) in templates {
            if let Err(e) = env.add_template(name, source) {
                tracing::error!(template = name, error = %e, "a built-in template does not compile");
            }
        }
        Self { env: Arc::new(env) }
    }

    /// The default theme with `overrides` (name, source) in place of its
    /// templates of the same names. The first that does not compile is the
    /// error.
    pub fn with_overrides(overrides: &[(String, String)]) -> Result<Self, TemplateError> {
        let mut env = environment();
        for (name, source) in TEMPLATES {
            if !overrides.iter().any(|(n, _)| n == name) {
                env.add_template(name, source)
                    .map_err(|e| template_error(name, &e))?;
            }
        }
        for (name, source) in overrides {
            env.add_template_owned(name.clone(), source.clone())
                .map_err(|e| template_error(name, &e))?;
        }
        Ok(Self { env: Arc::new(env) })
    }

    /// Renders the template `name` with `context`, within [`FUEL`] and
    /// [`MAX_OUTPUT`].
    pub fn render(&self, name: &str, context: Value) -> Result<String, Error> {
        let template = self.env.get_template(name)?;
        let mut out = Bounded(Vec::with_capacity(32 * 1024));
        template.render_captured_to(context, &mut out)?;
        String::from_utf8(out.0)
            .map_err(|_| Error::new(ErrorKind::InvalidOperation, "the page is not UTF-8"))
    }
}

fn template_error(name: &str, e: &Error) -> TemplateError {
    TemplateError {
        name: name.to_owned(),
        line: e.line(),
        message: e
            .detail()
            .map_or_else(|| e.kind().to_string(), str::to_owned),
    }
}

/// A page buffer that refuses to grow past [`MAX_OUTPUT`].
struct Bounded(Vec<u8>);

impl std::io::Write for Bounded {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.0.len() + buf.len() > MAX_OUTPUT {
            return Err(std::io::Error::other("the page is too large"));
        }
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// An environment with the storefront's filters and limits, no templates.
fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    // Every template is HTML: everything it prints is escaped.
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::Html);
    // Text is escaped as every page and mail of the platform escapes it
    // (`& < > " '`); minijinja's own HTML escape also writes `/` as
    // `&#x2f;`, which turns every printed URL into entities.
    env.set_formatter(|out, state, value| match value.as_str() {
        Some(text) if state.auto_escape() == minijinja::AutoEscape::Html && !value.is_safe() => {
            out.write_str(&escape_html(text)).map_err(Error::from)
        }
        _ => minijinja::escape_formatter(out, state, value),
    });
    env.set_fuel(Some(FUEL));
    env.set_recursion_limit(100);
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Lenient);
    env.add_filter("money", money);
    env
}

/// `{{ price | money }}`: an amount as a shopper reads it. Anything but a
/// `{minor, currency}` pair with a known currency is an error of the
/// template.
fn money(value: Value) -> Result<String, Error> {
    let bad = |why: &str| Error::new(ErrorKind::InvalidOperation, format!("money: {why}"));
    let minor = value
        .get_attr("minor")?
        .as_i64()
        .ok_or_else(|| bad("no integer `minor`"))?;
    let currency = value.get_attr("currency")?;
    let code = currency.as_str().ok_or_else(|| bad("no `currency`"))?;
    let currency = Currency::parse(code).map_err(|_| bad("not an ISO 4217 currency"))?;
    Ok(format_money(Money::new(minor, currency)))
}

#[cfg(test)]
mod tests {
    use minijinja::context;

    use super::*;

    #[test]
    fn the_default_theme_compiles_and_prints_money_escaped() {
        assert!(
            Engine::with_overrides(&[]).is_ok(),
            "the default theme compiles"
        );
        let engine =
            Engine::with_overrides(&[("error.html".into(), "{{ p | money }} {{ title }}".into())])
                .expect("compiles");
        let out = engine
            .render(
                "error.html",
                context! {
                    p => Value::from_serialize(serde_json::json!({"minor": 123450, "currency": "USD"})),
                    title => "<script>alert(1)</script>",
                },
            )
            .expect("renders");
        assert_eq!(out, "$1,234.50 &lt;script&gt;alert(1)&lt;/script&gt;");
        let [css, js] = assets();
        assert!(css.path.starts_with("/assets/theme-") && css.path.ends_with(".css"));
        assert!(asset(&js.path).is_some());
    }

    #[test]
    fn a_runaway_template_runs_out_of_fuel_and_a_huge_one_out_of_room() {
        let engine = Engine::with_overrides(&[
            (
                "home.html".into(),
                "{% for a in range(100000) %}{% for b in range(100000) %}x{% endfor %}{% endfor %}"
                    .into(),
            ),
            (
                "error.html".into(),
                "{% for a in range(10000) %}{{ 'x' * 100000 }}{% endfor %}".into(),
            ),
        ])
        .expect("compiles");
        let err = engine.render("home.html", context! {}).expect_err("stops");
        assert_eq!(err.kind(), ErrorKind::OutOfFuel);
        assert!(
            engine.render("error.html", context! {}).is_err(),
            "cut at MAX_OUTPUT"
        );
    }

    #[test]
    fn a_template_that_does_not_compile_is_named_with_its_line() {
        let err =
            Engine::with_overrides(&[("product.html".into(), "<p>\n{% for x in %}\n</p>".into())])
                .err()
                .expect("refused");
        assert_eq!(err.name, "product.html");
        assert_eq!(err.line, Some(2));
    }
    #[test]
    fn deeply_nested_sources_are_refused_not_a_crash() {
        let deep = format!("{{{{ {}1{} }}}}", "(".repeat(20_000), ")".repeat(20_000));
        assert!(Engine::with_overrides(&[("error.html".into(), deep)]).is_err());
        let blocks = "{% if x %}".repeat(5_000) + &"{% endif %}".repeat(5_000);
        let r = Engine::with_overrides(&[("error.html".into(), blocks)]);
        assert!(r.is_err(), "nested blocks");
        let list = format!("{{{{ {}1{} }}}}", "[".repeat(20_000), "]".repeat(20_000));
        assert!(Engine::with_overrides(&[("error.html".into(), list)]).is_err());
    }
}
