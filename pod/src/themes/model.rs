//! A store's theme settings and the rules they keep (pure).

use serde::{Deserialize, Serialize};

/// Most links in the header.
pub const MAX_HEADER_LINKS: usize = 10;
/// Most links in the footer.
pub const MAX_FOOTER_LINKS: usize = 20;
/// Most collections featured on the home page.
pub const MAX_FEATURED: usize = 8;
/// Largest template a merchant may save, in bytes.
pub const MAX_TEMPLATE_BYTES: usize = 64 * 1024;

/// The theme's font: a choice among font stacks every device has (no web
/// font is downloaded).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema, Default)]
#[serde(rename_all = "snake_case")]
pub enum Font {
    #[default]
    System,
    Serif,
    Rounded,
    Mono,
}

impl Font {
    /// The CSS `font-family` of the choice.
    pub fn stack(self) -> &'static str {
        match self {
            Self::System => "system-ui, -apple-system, \"Segoe UI\", Roboto, \"Helvetica Neue\", Arial, sans-serif",
            Self::Serif => "Charter, \"Bitstream Charter\", \"Sitka Text\", Cambria, Georgia, serif",
            Self::Rounded => "ui-rounded, \"Hiragino Maru Gothic ProN\", Quicksand, Comfortaa, Manjari, \"Arial Rounded MT\", Calibri, sans-serif",
            Self::Mono => "ui-monospace, \"Cascadia Code\", \"Source Code Pro\", Menlo, Consolas, monospace",
        }
    }
}

/// The theme's colours, each `#rrggbb`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Colours {
    /// Buttons and links that act.
    #[schema(pattern = r"^#[0-9a-fA-F]{6}$", example = "#1f4b99")]
    pub accent: String,
    /// Body text.
    #[schema(pattern = r"^#[0-9a-fA-F]{6}$", example = "#1b1b1f")]
    pub text: String,
    /// The page.
    #[schema(pattern = r"^#[0-9a-fA-F]{6}$", example = "#ffffff")]
    pub background: String,
}

impl Default for Colours {
    fn default() -> Self {
        Self {
            accent: "#1f4b99".into(),
            text: "#1b1b1f".into(),
            background: "#ffffff".into(),
        }
    }
}

/// A link in the header or the footer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Link {
    /// 1 to 40 characters.
    #[schema(min_length = 1, max_length = 40)]
    pub label: String,
    /// A path of the store (`/collections/sale`) or an `https://` address,
    /// at most 2,048 characters.
    #[schema(min_length = 1, max_length = 2048)]
    pub url: String,
}

/// The home page's sections.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Home {
    /// The banner's heading; empty: the store's name. At most 100
    /// characters.
    #[schema(max_length = 100)]
    pub heading: String,
    /// The line under it, at most 200 characters.
    #[schema(max_length = 200)]
    pub tagline: String,
    /// Handles of the collections shown on the home page, in order (at
    /// most 8); empty: the store's first collections.
    #[schema(max_items = 8)]
    pub featured_collections: Vec<String>,
    /// Whether the newest products are shown.
    pub show_new_arrivals: bool,
}

impl Default for Home {
    fn default() -> Self {
        Self {
            heading: String::new(),
            tagline: "New arrivals, hand-picked and ready to ship.".into(),
            featured_collections: Vec::new(),
            show_new_arrivals: true,
        }
    }
}

/// A store's theme settings: what the owner changes without touching a
/// template. A field left out takes its default.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema, Default)]
#[serde(default, deny_unknown_fields)]
pub struct ThemeSettings {
    pub colours: Colours,
    pub font: Font,
    /// The logo shown in place of the store's name: the URL of one of the
    /// store's images (`/media/<file>`, as a product image's `url`, or the
    /// media store's `https://` URL); null for none.
    #[schema(max_length = 2048)]
    pub logo_url: Option<String>,
    pub home: Home,
    /// Links after "Shop all" in the header (at most 10); empty: the
    /// store's first collections.
    #[schema(max_items = 10)]
    pub header_links: Vec<Link>,
    /// Links in the footer (at most 20).
    #[schema(max_items = 20)]
    pub footer_links: Vec<Link>,
}

/// Why settings were refused: the field and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidSettings(pub String);

fn colour(name: &str, value: &str) -> Result<String, InvalidSettings> {
    let ok = value.len() == 7
        && value.starts_with('#')
        && value[1..].bytes().all(|b| b.is_ascii_hexdigit());
    if ok {
        Ok(value.to_ascii_lowercase())
    } else {
        Err(InvalidSettings(format!("colours.{name} must be #rrggbb")))
    }
}

fn text(name: &str, value: &str, max: usize, required: bool) -> Result<String, InvalidSettings> {
    let value = value.trim();
    if value.chars().any(char::is_control) {
        return Err(InvalidSettings(format!(
            "{name} must not contain control characters"
        )));
    }
    if value.chars().count() > max || (required && value.is_empty()) {
        return Err(InvalidSettings(format!(
            "{name} must be {} to {max} characters",
            usize::from(required)
        )));
    }
    Ok(value.to_owned())
}

/// A link's URL: a path of the store, or an `https://` address. Never a
/// `javascript:` or `data:` URL, a protocol-relative `//host`, or
/// anything with control characters or spaces.
pub fn link_url(name: &str, url: &str) -> Result<String, InvalidSettings> {
    let url = url.trim();
    let printable = url.bytes().all(|b| b.is_ascii_graphic()) && !url.contains('\\');
    let path = url.starts_with('/') && !url.starts_with("//");
    let https = url
        .strip_prefix("https://")
        .is_some_and(|rest| !rest.is_empty() && !rest.starts_with('/'));
    if printable && url.len() <= 2048 && (path || https) {
        Ok(url.to_owned())
    } else {
        Err(InvalidSettings(format!(
            "{name} must be a path of the store (/...) or an https:// address"
        )))
    }
}

/// A collection handle as the home page names it.
fn handle(name: &str, value: &str) -> Result<String, InvalidSettings> {
    let ok = !value.is_empty()
        && value.len() <= 63
        && value.split('-').all(|part| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        });
    if ok {
        Ok(value.to_owned())
    } else {
        Err(InvalidSettings(format!(
            "{name} must be a collection handle"
        )))
    }
}

fn links(name: &str, links: &[Link], max: usize) -> Result<Vec<Link>, InvalidSettings> {
    if links.len() > max {
        return Err(InvalidSettings(format!("at most {max} {name}")));
    }
    links
        .iter()
        .enumerate()
        .map(|(i, l)| {
            Ok(Link {
                label: text(&format!("{name}[{i}].label"), &l.label, 40, true)?,
                url: link_url(&format!("{name}[{i}].url"), &l.url)?,
            })
        })
        .collect()
}

impl ThemeSettings {
    /// The settings checked and normalized (colours lower-cased, text
    /// trimmed), or what is wrong.
    pub fn validated(&self) -> Result<Self, InvalidSettings> {
        if self.home.featured_collections.len() > MAX_FEATURED {
            return Err(InvalidSettings(format!(
                "at most {MAX_FEATURED} home.featured_collections"
            )));
        }
        Ok(Self {
            colours: Colours {
                accent: colour("accent", &self.colours.accent)?,
                text: colour("text", &self.colours.text)?,
                background: colour("background", &self.colours.background)?,
            },
            font: self.font,
            logo_url: self
                .logo_url
                .as_deref()
                .map(|u| link_url("logo_url", u))
                .transpose()?,
            home: Home {
                heading: text("home.heading", &self.home.heading, 100, false)?,
                tagline: text("home.tagline", &self.home.tagline, 200, false)?,
                featured_collections: self
                    .home
                    .featured_collections
                    .iter()
                    .map(|h| handle("home.featured_collections", h))
                    .collect::<Result<_, _>>()?,
                show_new_arrivals: self.home.show_new_arrivals,
            },
            header_links: links("header_links", &self.header_links, MAX_HEADER_LINKS)?,
            footer_links: links("footer_links", &self.footer_links, MAX_FOOTER_LINKS)?,
        })
    }
}

/// A template's source as a merchant may save it: at most
/// [`MAX_TEMPLATE_BYTES`], no control characters but tab and line breaks.
pub fn check_source(source: &str) -> Result<(), InvalidSettings> {
    if source.len() > MAX_TEMPLATE_BYTES {
        return Err(InvalidSettings(format!(
            "a template is at most {MAX_TEMPLATE_BYTES} bytes"
        )));
    }
    if source
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
    {
        return Err(InvalidSettings(
            "a template must not contain control characters".into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_colours_are_normalized() {
        let d = ThemeSettings::default();
        assert_eq!(d.validated().expect("valid"), d);
        let mut s = d.clone();
        s.colours.accent = "#ABCDEF".into();
        assert_eq!(s.validated().expect("valid").colours.accent, "#abcdef");
        for bad in ["red", "#abc", "#abcdeg", "abcdef0", "#abcdef;}body{"] {
            s.colours.accent = bad.into();
            assert!(s.validated().is_err(), "{bad}");
        }
    }

    #[test]
    fn links_are_store_paths_or_https() {
        for ok in ["/collections/sale", "/", "https://blog.example/post?a=1"] {
            assert!(link_url("u", ok).is_ok(), "{ok}");
        }
        for bad in [
            "javascript:alert(1)",
            "data:text/html,x",
            "//evil.example",
            "http://plain.example",
            "/a b",
            "/a\\b",
            "https://",
            "https:///x",
            "",
            "/\u{0}",
        ] {
            assert!(link_url("u", bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn limits_hold() {
        let mut s = ThemeSettings {
            header_links: vec![
                Link {
                    label: "x".into(),
                    url: "/".into()
                };
                MAX_HEADER_LINKS + 1
            ],
            ..ThemeSettings::default()
        };
        assert!(s.validated().is_err());
        s.header_links.clear();
        s.home.featured_collections = vec!["Not A Handle".into()];
        assert!(s.validated().is_err());
        s.home.featured_collections = vec!["sale-2026".into()];
        assert!(s.validated().is_ok());
        s.home.tagline = "\u{7}".into();
        assert!(s.validated().is_err());
        assert!(check_source(&"x".repeat(MAX_TEMPLATE_BYTES + 1)).is_err());
        assert!(check_source("a\u{0}b").is_err());
        assert!(check_source("<p>\n\t{{ x }}\r\n</p>").is_ok());
    }
}
