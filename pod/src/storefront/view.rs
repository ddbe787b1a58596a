//! What the storefront's templates are given: views of the catalog, the
//! cart and the page, built from the contexts' own models by pure
//! functions (no I/O here), so the rules a page shows are the API's.

use std::collections::BTreeMap;

use mercato_tenants::money::format_money;
use mercato_tenants::{Money, ProductId, VariantId};
use serde::Serialize;

use crate::cart::{Cart, LineIssue};
use crate::catalog::{Image, Product, Variant};
use crate::inventory::Badge;
use crate::reviews::{PublicReview, Rating};

/// A product as a card in a grid (home, collections, search).
#[derive(Debug, Clone, Serialize)]
pub struct Card {
    pub id: ProductId,
    pub title: String,
    pub vendor: String,
    /// The lowest price of its variants.
    pub price: Money,
    /// Variants have different prices ("From $10.00").
    pub price_varies: bool,
    /// The cheapest variant's compare-at price, when above its price.
    pub compare_at: Option<Money>,
    pub image: Option<ImageView>,
    /// Known sold out (every variant); `false` when the list has no stock.
    pub sold_out: bool,
    pub rating: RatingView,
}

#[derive(Debug, Clone, Serialize)]
pub struct ImageView {
    pub url: String,
    /// The image's alt text, else the product's title.
    pub alt: String,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct RatingView {
    pub average: Option<f64>,
    pub count: i64,
}

impl From<&Rating> for RatingView {
    fn from(r: &Rating) -> Self {
        Self {
            average: r.average,
            count: r.count,
        }
    }
}

fn image_view(image: &Image, title: &str) -> ImageView {
    ImageView {
        url: image.url.clone(),
        alt: if image.alt.trim().is_empty() {
            title.to_owned()
        } else {
            image.alt.clone()
        },
    }
}

/// A compare-at price worth showing: above the price.
fn reduced_from(v: &Variant) -> Option<Money> {
    v.compare_at_price.filter(|c| c.minor > v.price.minor)
}

impl Card {
    /// The card of a product read from the catalog (badges if the read had
    /// them).
    pub fn of(p: &Product) -> Option<Self> {
        let cheapest = p.variants.iter().min_by_key(|v| v.price.minor)?;
        let priciest = p.variants.iter().map(|v| v.price.minor).max()?;
        Some(Self {
            id: p.id,
            title: p.title.clone(),
            vendor: p.vendor.clone(),
            price: cheapest.price,
            price_varies: priciest != cheapest.price.minor,
            compare_at: reduced_from(cheapest),
            image: p.images.first().map(|i| image_view(i, &p.title)),
            sold_out: p
                .variants
                .iter()
                .all(|v| v.availability == Some(Badge::SoldOut)),
            rating: RatingView::from(&p.rating),
        })
    }
}

/// What a shopper is told about a variant's stock.
pub fn badge_text(badge: Badge) -> &'static str {
    match badge {
        Badge::InStock => "In stock",
        Badge::Low => "Only a few left",
        Badge::SoldOut => "Sold out",
    }
}

fn badge_name(badge: Badge) -> &'static str {
    match badge {
        Badge::InStock => "in_stock",
        Badge::Low => "low",
        Badge::SoldOut => "sold_out",
    }
}

/// The variant the product page shows first: the first one for sale, else
/// the first.
fn first_choice(p: &Product) -> Option<&Variant> {
    p.variants
        .iter()
        .find(|v| v.availability != Some(Badge::SoldOut))
        .or_else(|| p.variants.first())
}

#[derive(Debug, Serialize)]
pub struct SelectedVariant {
    pub id: VariantId,
    pub price: Money,
    pub compare_at: Option<Money>,
    pub badge: &'static str,
    pub badge_text: &'static str,
}

#[derive(Debug, Serialize)]
pub struct OptionView {
    pub name: String,
    /// The form field is `option<index>`.
    pub index: usize,
    pub values: Vec<OptionValueView>,
}

#[derive(Debug, Serialize)]
pub struct OptionValueView {
    pub value: String,
    pub selected: bool,
    /// Some variant with this value is for sale.
    pub available: bool,
}

#[derive(Debug, Serialize)]
pub struct ReviewView {
    pub rating: i16,
    pub title: String,
    pub body: String,
    pub author: String,
    pub verified: bool,
    pub date: String,
    pub reply: Option<String>,
}

impl From<&PublicReview> for ReviewView {
    fn from(r: &PublicReview) -> Self {
        Self {
            rating: r.rating,
            title: r.title.clone(),
            body: r.body.clone(),
            author: r.author_name.clone(),
            verified: r.verified_purchase,
            date: r.created_at.format("%B %-d, %Y").to_string(),
            reply: r.reply.as_ref().map(|x| x.body.clone()),
        }
    }
}

/// A product page.
#[derive(Debug, Serialize)]
pub struct ProductView {
    pub id: ProductId,
    pub title: String,
    pub vendor: String,
    /// The description's paragraphs (blank lines apart).
    pub description: Vec<String>,
    pub images: Vec<ImageView>,
    pub options: Vec<OptionView>,
    pub single_variant: bool,
    pub all_sold_out: bool,
    pub selected: SelectedVariant,
    pub rating: RatingView,
    pub reviews: Vec<ReviewView>,
    /// The variants for the page's script, as JSON safe to put inside a
    /// `<script>` element (`<`, `>` and `&` escaped).
    pub variants_json: String,
}

/// The JSON a product page's script reads to follow the picker.
#[derive(Serialize)]
struct ScriptVariant<'a> {
    id: VariantId,
    options: &'a BTreeMap<String, String>,
    price: String,
    compare_at: Option<String>,
    badge: &'static str,
    badge_text: &'static str,
}

/// JSON for inside `<script>`: no `<`, `>` or `&` that could end the
/// element or start a comment.
pub fn script_json(value: &impl Serialize) -> String {
    serde_json::to_string(value)
        .unwrap_or_else(|_| "null".to_owned())
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

fn badge_of(v: &Variant) -> Badge {
    v.availability.unwrap_or(Badge::InStock)
}

impl ProductView {
    /// The page of `p` (read with badges). `None` for a product without
    /// variants, which cannot be bought.
    pub fn of(p: &Product, reviews: &[PublicReview]) -> Option<Self> {
        let chosen = first_choice(p)?;
        let options = p
            .options
            .iter()
            .enumerate()
            .map(|(index, o)| OptionView {
                name: o.name.clone(),
                index,
                values: o
                    .values
                    .iter()
                    .map(|value| OptionValueView {
                        value: value.clone(),
                        selected: chosen.option_values.get(&o.name) == Some(value),
                        available: p.variants.iter().any(|v| {
                            v.option_values.get(&o.name) == Some(value)
                                && badge_of(v) != Badge::SoldOut
                        }),
                    })
                    .collect(),
            })
            .collect();
        let script: Vec<ScriptVariant<'_>> = p
            .variants
            .iter()
            .map(|v| ScriptVariant {
                id: v.id,
                options: &v.option_values,
                price: format_money(v.price),
                compare_at: reduced_from(v).map(format_money),
                badge: badge_name(badge_of(v)),
                badge_text: badge_text(badge_of(v)),
            })
            .collect();
        Some(Self {
            id: p.id,
            title: p.title.clone(),
            vendor: p.vendor.clone(),
            description: paragraphs(&p.description),
            images: p.images.iter().map(|i| image_view(i, &p.title)).collect(),
            options,
            single_variant: p.variants.len() == 1,
            all_sold_out: p.variants.iter().all(|v| badge_of(v) == Badge::SoldOut),
            selected: SelectedVariant {
                id: chosen.id,
                price: chosen.price,
                compare_at: reduced_from(chosen),
                badge: badge_name(badge_of(chosen)),
                badge_text: badge_text(badge_of(chosen)),
            },
            rating: RatingView::from(&p.rating),
            reviews: reviews.iter().map(ReviewView::from).collect(),
            variants_json: script_json(&serde_json::json!({ "variants": script })),
        })
    }
}

/// The variant of `p` whose option values are `chosen` (by option order),
/// as the product form posts them.
pub fn variant_for_options(p: &Product, chosen: &[Option<String>]) -> Option<VariantId> {
    p.variants
        .iter()
        .find(|v| {
            p.options.iter().enumerate().all(|(i, o)| {
                chosen.get(i).and_then(Option::as_deref)
                    == v.option_values.get(&o.name).map(String::as_str)
            })
        })
        .map(|v| v.id)
}

/// Text split into paragraphs at blank lines, each trimmed.
pub fn paragraphs(text: &str) -> Vec<String> {
    text.replace("\r\n", "\n")
        .split("\n\n")
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(str::to_owned)
        .collect()
}

/// A cart line as the cart page shows it.
#[derive(Debug, Serialize)]
pub struct CartLineView {
    pub variant_id: VariantId,
    pub product_id: ProductId,
    pub title: String,
    pub variant_title: String,
    pub quantity: i32,
    pub unit_price: Money,
    pub line_total: Money,
    /// What changed since it was added, in words.
    pub messages: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct CodeView {
    pub code: String,
    /// Why it does not apply now, if it does not.
    pub problem: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct CartView {
    pub lines: Vec<CartLineView>,
    pub subtotal: Money,
    pub discount: Money,
    pub codes: Vec<CodeView>,
    pub item_count: i64,
}

/// A line's issue in words.
pub fn issue_text(issue: &LineIssue) -> String {
    match issue {
        LineIssue::PriceChanged { old, new } => format!(
            "The price changed from {} to {}; checkout charges the new price.",
            format_money(*old),
            format_money(*new)
        ),
        LineIssue::Unavailable => "No longer available; remove it to check out.".to_owned(),
        LineIssue::InsufficientStock { available: 0, .. } => {
            "Sold out since you added it.".to_owned()
        }
        LineIssue::InsufficientStock { available, .. } => {
            format!("Only {available} left; lower the quantity to check out.")
        }
    }
}

impl CartView {
    pub fn of(cart: &Cart) -> Self {
        Self {
            lines: cart
                .lines
                .iter()
                .map(|l| CartLineView {
                    variant_id: l.variant_id,
                    product_id: l.product_id,
                    title: l.title.clone(),
                    variant_title: l.variant_title.clone(),
                    quantity: l.quantity,
                    unit_price: l.unit_price,
                    line_total: l.line_total,
                    messages: l.issues.iter().map(issue_text).collect(),
                })
                .collect(),
            subtotal: cart.subtotal,
            discount: cart.discounts.total,
            codes: cart
                .discounts
                .codes
                .iter()
                .map(|code| CodeView {
                    code: code.clone(),
                    problem: cart
                        .discounts
                        .refused
                        .iter()
                        .find(|r| &r.code == code)
                        .map(|r| r.message.clone()),
                })
                .collect(),
            item_count: cart.item_count,
        }
    }
}

/// A link of the header or the footer.
#[derive(Debug, Clone, Serialize)]
pub struct LinkView {
    pub label: String,
    pub url: String,
}

impl From<&crate::themes::model::Link> for LinkView {
    fn from(l: &crate::themes::model::Link) -> Self {
        Self {
            label: l.label.clone(),
            url: l.url.clone(),
        }
    }
}

/// What the `<head>` says about a page.
#[derive(Debug, Serialize, Default)]
pub struct PageMeta {
    pub title: String,
    pub description: String,
    /// The page's one URL (absolute).
    pub canonical: String,
    pub og_type: Option<&'static str>,
    pub image: Option<String>,
    pub noindex: bool,
    /// Structured data, already [`script_json`]-escaped.
    pub json_ld: Option<String>,
}

/// A description for `<meta name="description">`: the text's first 160
/// characters on one line, cut at a word.
pub fn meta_description(text: &str) -> String {
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= 160 {
        return flat;
    }
    let cut: String = flat.chars().take(157).collect();
    let cut = cut.rsplit_once(' ').map_or(cut.as_str(), |(head, _)| head);
    format!("{cut}…")
}

/// The JSON-LD `Product` of a product page (schema.org), for search
/// engines: name, description, images, brand, SKU and one `Offer` per
/// variant with its price and availability.
pub fn product_json_ld(p: &Product, url: &str) -> String {
    let offers: Vec<serde_json::Value> = p
        .variants
        .iter()
        .map(|v| {
            serde_json::json!({
                "@type": "Offer",
                "sku": v.sku,
                "price": decimal(v.price),
                "priceCurrency": v.price.currency.as_str(),
                "availability": match badge_of(v) {
                    Badge::SoldOut => "https://schema.org/OutOfStock",
                    Badge::Low => "https://schema.org/LimitedAvailability",
                    Badge::InStock => "https://schema.org/InStock",
                },
                "url": url,
            })
        })
        .collect();
    let mut ld = serde_json::json!({
        "@context": "https://schema.org",
        "@type": "Product",
        "name": p.title,
        "description": meta_description(&p.description),
        "image": p.images.iter().map(|i| i.url.clone()).collect::<Vec<_>>(),
        "offers": offers,
    });
    if !p.vendor.is_empty() {
        ld["brand"] = serde_json::json!({"@type": "Brand", "name": p.vendor});
    }
    if let (Some(average), true) = (p.rating.average, p.rating.count > 0) {
        ld["aggregateRating"] = serde_json::json!({
            "@type": "AggregateRating",
            "ratingValue": average,
            "reviewCount": p.rating.count,
        });
    }
    script_json(&ld)
}

/// An amount as a decimal string (`12.50`), as schema.org wants prices.
fn decimal(m: Money) -> String {
    let exp = m.currency.exponent();
    let abs = m.minor.unsigned_abs();
    let sign = if m.minor < 0 { "-" } else { "" };
    if exp == 0 {
        return format!("{sign}{abs}");
    }
    let scale = 10u64.pow(exp);
    format!(
        "{sign}{}.{:0w$}",
        abs / scale,
        abs % scale,
        w = exp as usize
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_json_cannot_end_the_script_element() {
        let out = script_json(&serde_json::json!({"t": "</script><!-- & "}));
        assert!(!out.contains('<') && !out.contains('>') && !out.contains('&'));
        let back: serde_json::Value = serde_json::from_str(&out).expect("still JSON");
        assert_eq!(back["t"], "</script><!-- & ");
    }

    #[test]
    fn descriptions_become_paragraphs_and_meta_text() {
        assert_eq!(
            paragraphs("One.\r\n\r\nTwo\nlines.\n\n\n"),
            vec!["One.", "Two\nlines."]
        );
        let long = "word ".repeat(60);
        let meta = meta_description(&long);
        assert!(meta.chars().count() <= 160 && meta.ends_with('…'));
        assert_eq!(meta_description("  a\n b  "), "a b");
    }

    #[test]
    fn prices_for_search_engines_are_plain_decimals() {
        let usd = mercato_tenants::Currency::parse("USD").expect("usd");
        let jpy = mercato_tenants::Currency::parse("JPY").expect("jpy");
        assert_eq!(decimal(Money::new(123456, usd)), "1234.56");
        assert_eq!(decimal(Money::new(5, usd)), "0.05");
        assert_eq!(decimal(Money::new(1500, jpy)), "1500");
    }
}
