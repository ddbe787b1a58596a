//! The storefront's theme engine: Jinja templates (`minijinja`) rendered
//! with autoescaped HTML and a bound on the work of one render.
//!
//! The default theme is compiled into the binary (`storefront/theme/`).
//! Every value a template prints is escaped unless the template says
//! `|safe`, which the default theme never does with data. The `money`
//! filter prints an amount (`{"minor": 1250, "currency": "USD"}`) as a
//! shopper reads it (`$12.50`), exactly, in the currency's own minor units.
//!
//! A render spends fuel per instruction: a template that loops without end
//! runs out ([`FUEL`]) and fails instead of holding a core.

use std::sync::Arc;

use bytes::Bytes;
use minijinja::value::Value;
use minijinja::{Environment, Error, ErrorKind};
use sha2::{Digest as _, Sha256};

use mercato_tenants::money::format_money;
use mercato_tenants::text::escape_html;
use mercato_tenants::{Currency, Money};

/// Instructions one render may run. The default theme's largest page (a
/// search with 100 results and every facet) takes about 60,000.
pub const FUEL: u64 = 2_000_000;

/// The default theme's templates, by name.
const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("theme/base.html")),
    ("macros.html", include_str!("theme/macros.html")),
    ("home.html", include_str!("theme/home.html")),
    ("product.html", include_str!("theme/product.html")),
    ("list.html", include_str!("theme/list.html")),
    ("cart.html", include_str!("theme/cart.html")),
    ("checkout.html", include_str!("theme/checkout.html")),
    ("error.html", include_str!("theme/error.html")),
];

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
        let digest = Sha256::digest(body.as_bytes());
        Self {
            path: format!("/assets/{stem}-{}.{ext}", hex::encode(&digest[..8])),
            content_type,
            body: Bytes::from_static(body.as_bytes()),
        }
    }
}

/// The compiled default theme and its assets.
#[derive(Clone)]
pub struct Theme {
    env: Arc<Environment<'static>>,
    pub css: Asset,
    pub js: Asset,
}

impl Theme {
    /// The default theme. Its templates are part of the binary and checked
    /// by the tests, so a failure to compile one is a bug: it panics at
    /// startup rather than on a shopper's request.
    #[allow(clippy::expect_used)]
    pub fn default_theme() -> Self {
        let mut env = environment();
        for (name, source) in TEMPLATES {
            env.add_template(name, source)
                .expect("the default theme's templates compile");
        }
        Self {
            env: Arc::new(env),
            css: Asset::new(
                "theme",
                "css",
                "text/css; charset=utf-8",
                include_str!("theme/theme.css"),
            ),
            js: Asset::new(
                "theme",
                "js",
                "text/javascript; charset=utf-8",
                include_str!("theme/theme.js"),
            ),
        }
    }

    /// Renders the template `name` with `context`.
    pub fn render(&self, name: &str, context: Value) -> Result<String, Error> {
        self.env.get_template(name)?.render(context)
    }

    /// The asset served at `path`, if any.
    pub fn asset(&self, path: &str) -> Option<&Asset> {
        [&self.css, &self.js].into_iter().find(|a| a.path == path)
    }
}

/// An environment with the storefront's filters and limits, no templates.
fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    // Autoescape by name: `.html` templates escape everything they print.
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
    fn the_default_theme_compiles_and_prints_money() {
        let theme = Theme::default_theme();
        let mut env = environment();
        env.add_template("t.html", "{{ p | money }} {{ title }}")
            .expect("compiles");
        let out = env
            .get_template("t.html")
            .expect("there")
            .render(context! {
                p => Value::from_serialize(serde_json::json!({"minor": 123450, "currency": "USD"})),
                title => "<script>alert(1)</script>",
            })
            .expect("renders");
        assert_eq!(out, "$1,234.50 &lt;script&gt;alert(1)&lt;/script&gt;");
        assert!(theme.css.path.starts_with("/assets/theme-"));
        assert!(theme.asset(&theme.js.path).is_some());
    }

    #[test]
    fn a_runaway_template_runs_out_of_fuel() {
        let mut env = environment();
        env.add_template(
            "loop.html",
            "{% for a in range(100000) %}{% for b in range(100000) %}x{% endfor %}{% endfor %}",
        )
        .expect("compiles");
        let err = env
            .get_template("loop.html")
            .expect("there")
            .render(context! {})
            .expect_err("stops");
        assert_eq!(err.kind(), ErrorKind::OutOfFuel);
    }
}
