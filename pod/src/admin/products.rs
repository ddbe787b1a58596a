//! The admin's products: the list (any status, with units on hand), a form
//! for a new product with one option's variants and their starting stock,
//! and a product's page with its variants and each one's stock at each of
//! the store's locations, each with a form to set it. Writes go through
//! `product_write::create` and `stock_write::change_stock`, as `POST
//! /admin/api/products` and `PUT /admin/api/variants/{id}/stock` do.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use bytes::Bytes;
use mercato_tenants::http::ApiQuery;
use mercato_tenants::{ApiError, Currency, LocationId, Money, ProductId, ProductStatus, VariantId};
use minijinja::context;
use minijinja::value::Value;
use serde::Serialize;
use serde_json::json;

use super::pages::{error_page, html, render, sign_in_first};
use super::session::{AdminSession, MaybeAdmin};
use crate::catalog::{NewProduct, Product};
use crate::error::PodError;
use crate::inventory::model::{StaffReason, StockOp};
use crate::state::AppState;
use crate::tenancy::TenantContext;
use mercato_tenants::forms::{field, see_other};

/// Products per page of the list.
const PRODUCTS_PAGE: i64 = 25;

/// `minor` units of `currency` as a form shows them to edit (`1299.00`).
pub fn amount_input(minor: i64, currency: Currency) -> String {
    let exponent = currency.exponent();
    if exponent == 0 {
        return minor.to_string();
    }
    let unit = 10_i64.pow(exponent);
    format!(
        "{}{}.{:0width$}",
        if minor < 0 { "-" } else { "" },
        (minor / unit).abs(),
        (minor % unit).abs(),
        width = exponent as usize
    )
}

/// An amount typed by staff (`25`, `25.5`, `25.50`, `1,299.00`) in minor
/// units of `currency`; `None` when it is not one.
pub fn parse_amount(raw: &str, currency: Currency) -> Option<i64> {
    let raw: String = raw.trim().chars().filter(|c| *c != ',').collect();
    let exponent = currency.exponent() as usize;
    let (whole, fraction) = raw.split_once('.').unwrap_or((&raw, ""));
    if whole.is_empty()
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || !fraction.bytes().all(|b| b.is_ascii_digit())
        || fraction.len() > exponent
        || whole.len() > 13
    {
        return None;
    }
    let mut minor: i64 = whole.parse().ok()?;
    for _ in 0..exponent {
        minor = minor.checked_mul(10)?;
    }
    let padded = format!("{fraction:0<exponent$}");
    let fraction: i64 = if padded.is_empty() {
        0
    } else {
        padded.parse().ok()?
    };
    minor.checked_add(fraction)
}

/// A form's `price` and `compare_at` (may be empty) in minor units, or
/// the refusal in words.
pub fn prices(
    fields: &[(String, String)],
    currency: Currency,
) -> Result<(i64, Option<i64>), String> {
    let get = |name: &str| field(fields, name).unwrap_or_default().to_owned();
    let price =
        parse_amount(&get("price"), currency).ok_or("Enter the price as a number, e.g. 25.00.")?;
    let compare_at = match get("compare_at").as_str() {
        "" => None,
        raw => Some(
            parse_amount(raw, currency)
                .ok_or("Enter the compare-at price as a number, or leave it empty.")?,
        ),
    };
    Ok((price, compare_at))
}

/// A form's starting `stock` (0 when empty), or the refusal in words.
pub fn starting_stock(fields: &[(String, String)]) -> Result<i32, String> {
    match field(fields, "stock").unwrap_or_default() {
        "" => Ok(0),
        raw => raw
            .parse()
            .map_err(|_| "Enter the starting stock as a whole number.".to_owned()),
    }
}

/// The product a new-product form describes: one variant per value of its
/// option (or one variant without options), each with the price, SKU
/// (`<sku>-<value>`) and starting stock given; a refusal in words.
pub fn new_product(fields: &[(String, String)], currency: Currency) -> Result<NewProduct, String> {
    let get = |name: &str| field(fields, name).unwrap_or_default().to_owned();
    let (price, compare_at) = prices(fields, currency)?;
    let stock = starting_stock(fields)?;
    let sku = get("sku");
    let option = get("option_name");
    let values: Vec<String> = get("option_values")
        .split(',')
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
        .collect();
    let variant = |sku: String, values: serde_json::Value| {
        json!({"sku": sku, "price_minor": price, "compare_at_minor": compare_at,
               "option_values": values, "stock": stock})
    };
    let (options, variants) = if option.is_empty() || values.is_empty() {
        (json!([]), vec![variant(sku, json!({}))])
    } else {
        let variants = values
            .iter()
            .map(|v| {
                let suffix: String = v
                    .chars()
                    .map(|c| {
                        if c.is_ascii_alphanumeric() {
                            c.to_ascii_uppercase()
                        } else {
                            '-'
                        }
                    })
                    .collect();
                variant(format!("{sku}-{suffix}"), json!({ option.clone(): v }))
            })
            .collect();
        (json!([{"name": option, "values": values}]), variants)
    };
    let raw = json!({
        "title": get("title"),
        "description": get("description"),
        "vendor": get("vendor"),
        "product_type": get("product_type"),
        "status": if get("status") == "active" { "active" } else { "draft" },
        "options": options,
        "variants": variants,
    });
    serde_json::from_value(raw).map_err(|e| {
        let text = e.to_string();
        let first = text.split(" at line").next().unwrap_or(&text).to_owned();
        format!("The product is not valid: {first}.")
    })
}

#[derive(Serialize)]
struct Row {
    id: String,
    title: String,
    status: String,
    variants: usize,
    on_hand: i64,
    price: Option<Money>,
    image: Option<String>,
}

fn row(p: &Product, currency: Currency) -> Row {
    Row {
        id: p.id.to_string(),
        title: p.title.clone(),
        status: p.status.as_str().to_owned(),
        variants: p.variants.len(),
        on_hand: p
            .variants
            .iter()
            .filter_map(|v| v.on_hand)
            .map(i64::from)
            .sum(),
        price: p
            .variants
            .iter()
            .map(|v| v.price.minor)
            .min()
            .map(|m| Money::new(m, currency)),
        image: p.images.first().map(|i| i.url.clone()),
    }
}

/// `GET /admin/products[?status=][&after=]`.
pub async fn list(
    State(state): State<AppState>,
    tenant: TenantContext,
    MaybeAdmin(session): MaybeAdmin,
    ApiQuery(pairs): ApiQuery<Vec<(String, String)>>,
) -> Response {
    let Some(session) = session else {
        return sign_in_first("/admin/products");
    };
    let result = async {
        let status = match field(&pairs, "status").filter(|s| !s.is_empty()) {
            Some(s) => Some(
                ProductStatus::parse(s)
                    .ok_or_else(|| ApiError::invalid("choose a status from the list"))?,
            ),
            None => None,
        };
        let after = field(&pairs, "after").and_then(|a| a.parse::<ProductId>().ok());
        let q = field(&pairs, "q").filter(|q| !q.is_empty());
        if q.is_some_and(|q| q.chars().count() > 200) {
            return Err(ApiError::invalid("search for at most 200 characters").into());
        }
        let page = crate::catalog::sql::list_products_titled(
            &state.db,
            tenant.store_id,
            status,
            q,
            after,
            PRODUCTS_PAGE as u32,
        )
        .await?;
        let items = crate::product_write::with_stock(&state, tenant.store_id, page.items).await?;
        let rows: Vec<Row> = items.iter().map(|p| row(p, tenant.currency)).collect();
        let next = page.next_cursor.map(|c| {
            let mut query = format!("/admin/products?after={c}");
            if let Some(s) = status {
                query.push_str(&format!("&status={}", s.as_str()));
            }
            if let Some(q) = q {
                query.push_str(&format!("&q={}", mercato_tenants::forms::urlencode(q)));
            }
            query
        });
        let notice = (field(&pairs, "done") == Some("deleted")).then_some("The product was deleted.");
        let statuses: Vec<_> = ["draft", "active", "archived"]
            .iter()
            .map(|s| context! { value => *s, selected => status.map(|x| x.as_str()) == Some(*s) })
            .collect();
        let body = render(
            &tenant,
            Some(&session),
            "products.html",
            "Products",
            context! { nav => "products", rows => Value::from_serialize(&rows), next, statuses, q, notice },
        )?;
        Ok::<_, PodError>(html(StatusCode::OK, body))
    }
    .await;
    result.unwrap_or_else(|e| error_page(&tenant, e))
}

fn new_form(
    tenant: &TenantContext,
    session: &AdminSession,
    status: StatusCode,
    form: &[(String, String)],
    problem: Option<String>,
) -> Result<Response, PodError> {
    let values: std::collections::BTreeMap<String, String> = form.iter().cloned().collect();
    let body = render(
        tenant,
        Some(session),
        "product_new.html",
        "New product",
        context! { nav => "products", form => values, problem, currency => tenant.currency.as_str() },
    )?;
    Ok(html(status, body))
}

/// `GET /admin/products/new`.
pub async fn new_page(tenant: TenantContext, MaybeAdmin(session): MaybeAdmin) -> Response {
    let Some(session) = session else {
        return sign_in_first("/admin/products/new");
    };
    new_form(&tenant, &session, StatusCode::OK, &[], None)
        .unwrap_or_else(|e| error_page(&tenant, e))
}

/// `POST /admin/products`: creates the product of the form, then to its
/// page; the form again with what is wrong.
pub async fn create(
    State(state): State<AppState>,
    tenant: TenantContext,
    MaybeAdmin(session): MaybeAdmin,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(session) = session else {
        return sign_in_first("/admin/products/new");
    };
    let result = async {
        let fields = session.form(&headers, &body)?;
        let kept: Vec<(String, String)> = fields
            .iter()
            .filter(|(k, _)| k != "csrf")
            .cloned()
            .collect();
        let mut product = match new_product(&fields, tenant.currency) {
            Ok(p) => p,
            Err(problem) => {
                return new_form(
                    &tenant,
                    &session,
                    StatusCode::BAD_REQUEST,
                    &kept,
                    Some(problem),
                )
            }
        };
        match crate::product_write::create(&state, tenant.store_id, tenant.currency, &mut product)
            .await
        {
            Ok(id) => Ok(see_other(&format!("/admin/products/{id}?done=created"))),
            Err(e) => match e.client_error() {
                Some(refusal) => new_form(
                    &tenant,
                    &session,
                    refusal.code.status(),
                    &kept,
                    Some(refusal.message),
                ),
                None => Err(e),
            },
        }
    }
    .await;
    result.unwrap_or_else(|e| error_page(&tenant, e))
}

pub(super) fn product_id(raw: &str) -> Result<ProductId, PodError> {
    raw.parse()
        .map_err(|_| PodError::from(ApiError::not_found("product")))
}

/// One variant's units at one location, as the product page shows them.
#[derive(Serialize)]
struct StockCell {
    variant_id: String,
    variant: String,
    sku: String,
    /// Empty for the default location a store without any gets on its
    /// first change.
    location_id: String,
    location: String,
    active: bool,
    on_hand: i32,
    reserved: i32,
    available: i32,
}

/// Each variant's stock at each of the store's locations (by priority,
/// then id), as `GET /admin/api/variants/{id}/stock` reads it; a location
/// where the variant has never had stock shows none.
async fn stock_per_location(
    state: &AppState,
    tenant: &TenantContext,
    p: &Product,
) -> Result<Vec<StockCell>, PodError> {
    let store = tenant.store_id;
    let mut locations = crate::inventory::sql::locations::all(&state.db, store).await?;
    locations.sort_by_key(|l| (l.priority, l.id.as_uuid()));
    let mut cells = Vec::new();
    for v in &p.variants {
        let held = crate::inventory::stock::variant_stock(&state.db, store, v.id).await?;
        let title = if v.title.is_empty() {
            p.title.clone()
        } else {
            v.title.clone()
        };
        let cell = |location_id: String, location: String, active: bool| StockCell {
            variant_id: v.id.to_string(),
            variant: title.clone(),
            sku: v.sku.clone(),
            location_id,
            location,
            active,
            on_hand: 0,
            reserved: 0,
            available: 0,
        };
        if locations.is_empty() {
            cells.push(cell(String::new(), "Default".to_owned(), true));
        }
        for l in &locations {
            let mut c = cell(l.id.to_string(), l.name.clone(), l.active);
            if let Some(at) = held.locations.iter().find(|s| s.location_id == l.id) {
                (c.on_hand, c.reserved, c.available) = (at.on_hand, at.reserved, at.available);
            }
            cells.push(c);
        }
    }
    Ok(cells)
}

pub(super) async fn product_page(
    state: &AppState,
    tenant: &TenantContext,
    session: &AdminSession,
    id: ProductId,
    status: StatusCode,
    notice: Option<&str>,
    problem: Option<String>,
) -> Result<Response, PodError> {
    let p = crate::product_write::staff_product(state, tenant.store_id, id).await?;
    let stock = stock_per_location(state, tenant, &p).await?;
    let variants: Vec<_> = p
        .variants
        .iter()
        .map(|v| {
            context! {
                id => v.id.to_string(),
                title => if v.title.is_empty() { p.title.clone() } else { v.title.clone() },
                sku => v.sku.clone(),
                price => Value::from_serialize(v.price),
                price_input => amount_input(v.price.minor, tenant.currency),
                compare_at_input => v.compare_at_price.map(|c| amount_input(c.minor, tenant.currency)),
                on_hand => v.on_hand.unwrap_or(0),
            }
        })
        .collect();
    let body = render(
        tenant,
        Some(session),
        "product.html",
        &p.title,
        context! {
            nav => "products",
            notice,
            problem,
            product => context! {
                id => p.id.to_string(),
                title => p.title.clone(),
                status => p.status.as_str(),
                vendor => p.vendor.clone(),
                product_type => p.product_type.clone(),
                tags => p.tags.join(", "),
                description => p.description.clone(),
                images => Value::from_serialize(&p.images),
                options => Value::from_serialize(&p.options),
            },
            variants,
            stock,
            statuses => ["draft", "active", "archived"],
        },
    )?;
    Ok(html(status, body))
}

/// `GET /admin/products/{id}`.
pub async fn show(
    State(state): State<AppState>,
    tenant: TenantContext,
    MaybeAdmin(session): MaybeAdmin,
    Path(id): Path<String>,
    ApiQuery(pairs): ApiQuery<Vec<(String, String)>>,
) -> Response {
    let Some(session) = session else {
        return sign_in_first(&format!("/admin/products/{id}"));
    };
    let notice = match field(&pairs, "done") {
        Some("created") => Some("The product was created."),
        Some("stock") => Some("The stock was saved."),
        Some("image") => Some("The image was added."),
        Some("saved") => Some("The product was saved."),
        Some("variant_saved") => Some("The variant was saved."),
        Some("variant_added") => Some("The variant was added."),
        Some("variant_removed") => Some("The variant was removed."),
        Some("image_removed") => Some("The image was removed."),
        Some("images_ordered") => Some("The images were put in their new order."),
        _ => None,
    };
    let result = async {
        product_page(
            &state,
            &tenant,
            &session,
            product_id(&id)?,
            StatusCode::OK,
            notice,
            None,
        )
        .await
    }
    .await;
    result.unwrap_or_else(|e| error_page(&tenant, e))
}

/// `POST /admin/products/{id}/stock` (`variant_id`, `location_id`,
/// `on_hand`): sets the units on hand of a variant at a location (the
/// default location when `location_id` is empty), as `PUT
/// /admin/api/variants/{id}/stock`.
pub async fn set_stock(
    State(state): State<AppState>,
    tenant: TenantContext,
    MaybeAdmin(session): MaybeAdmin,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(session) = session else {
        return sign_in_first(&format!("/admin/products/{id}"));
    };
    let result = async {
        let fields = session.form(&headers, &body)?;
        let product = product_id(&id)?;
        let variant: VariantId = field(&fields, "variant_id")
            .unwrap_or_default()
            .parse()
            .map_err(|_| PodError::from(ApiError::not_found("variant")))?;
        // The variant must be this product's.
        let owner =
            crate::catalog::sql::product_of_variant(&state.db, tenant.store_id, variant).await?;
        if owner != Some(product) {
            return Err(ApiError::not_found("variant").into());
        }
        let refused = |status: StatusCode, problem: String| {
            product_page(
                &state,
                &tenant,
                &session,
                product,
                status,
                None,
                Some(problem),
            )
        };
        let location = match field(&fields, "location_id").unwrap_or_default() {
            "" => None,
            raw => match raw.parse::<LocationId>() {
                Ok(l) => Some(l),
                Err(_) => {
                    return refused(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "Choose a location from the list.".to_owned(),
                    )
                    .await
                }
            },
        };
        let on_hand = field(&fields, "on_hand")
            .unwrap_or_default()
            .parse::<i32>()
            .ok()
            .filter(|n| (0..=crate::inventory::model::MAX_ON_HAND).contains(n));
        let Some(on_hand) = on_hand else {
            return refused(
                StatusCode::BAD_REQUEST,
                format!(
                    "Enter the units on hand as a whole number from 0 to {}.",
                    crate::inventory::model::MAX_ON_HAND
                ),
            )
            .await;
        };
        let actor = session.claims.sub.clone();
        let done = crate::stock_write::change_stock(
            &state,
            tenant.store_id,
            crate::stock_write::StaffChange {
                variant,
                location,
                op: StockOp::Set(on_hand),
                reason: StaffReason::Correction.as_str(),
                actor: &actor,
                low_stock_threshold: None,
            },
        )
        .await;
        match done {
            Ok(_) => Ok(see_other(&format!("/admin/products/{product}?done=stock"))),
            Err(e) => match e.client_error() {
                // The variant went meanwhile: nothing to show it on.
                Some(r) if r.code.status() != StatusCode::NOT_FOUND => {
                    refused(
                        r.code.status(),
                        mercato_tenants::forms::sentence(&r.message),
                    )
                    .await
                }
                _ => Err(e),
            },
        }
    }
    .await;
    result.unwrap_or_else(|e| error_page(&tenant, e))
}

/// Most fields in an image upload form (the CSRF token, the alt text, the
/// file).
const UPLOAD_FIELDS: usize = 3;

/// Reads a multipart field of at most `limit` bytes (`413` beyond).
async fn bounded(
    field: &mut axum::extract::multipart::Field<'_>,
    limit: usize,
) -> Result<Vec<u8>, PodError> {
    let mut out = Vec::new();
    while let Some(chunk) = field
        .chunk()
        .await
        .map_err(|e| ApiError::invalid(format!("the upload is not a valid form: {e}")))?
    {
        if out.len() + chunk.len() > limit {
            return Err(ApiError::new(
                mercato_tenants::ErrorCode::PayloadTooLarge,
                format!("an image is at most {limit} bytes"),
            )
            .into());
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

/// `POST /admin/products/{id}/images` (`multipart/form-data`: `csrf`,
/// `alt`, `image`): stores the image and appends it to the product, as
/// `POST /admin/api/products/{id}/images` (its size limit and its check
/// that the bytes are a PNG, JPEG, GIF or WebP image).
pub async fn upload_image(
    State(state): State<AppState>,
    tenant: TenantContext,
    MaybeAdmin(session): MaybeAdmin,
    Path(id): Path<String>,
    headers: HeaderMap,
    multipart: Result<axum::extract::Multipart, axum::extract::multipart::MultipartRejection>,
) -> Response {
    let Some(session) = session else {
        return sign_in_first(&format!("/admin/products/{id}"));
    };
    let result = async {
        mercato_tenants::forms::same_site(&headers)?;
        let product = product_id(&id)?;
        let mut multipart = multipart.map_err(|_| {
            ApiError::new(
                mercato_tenants::ErrorCode::UnsupportedMediaType,
                "send the image as multipart/form-data",
            )
        })?;
        let (mut csrf, mut alt, mut image) = (None, String::new(), None);
        let mut seen = 0;
        while let Some(mut part) = multipart
            .next_field()
            .await
            .map_err(|e| ApiError::invalid(format!("the upload is not a valid form: {e}")))?
        {
            seen += 1;
            if seen > UPLOAD_FIELDS {
                return Err(ApiError::invalid("the form has too many fields").into());
            }
            match part.name() {
                Some("csrf") => {
                    let raw = bounded(&mut part, 64).await?;
                    csrf = Some(String::from_utf8_lossy(&raw).into_owned());
                }
                Some("alt") => {
                    let raw = bounded(&mut part, 2048).await?;
                    let text = String::from_utf8(raw)
                        .map_err(|_| ApiError::invalid("the alt text is not UTF-8"))?;
                    if text.chars().count() > 512 || text.chars().any(char::is_control) {
                        return Err(ApiError::invalid(
                            "the alt text is at most 512 characters, without control characters",
                        )
                        .into());
                    }
                    alt = text.trim().to_owned();
                }
                Some("image") => {
                    image = Some(bounded(&mut part, state.config.media.max_bytes).await?);
                }
                _ => return Err(ApiError::invalid("the form has a field it should not").into()),
            }
        }
        session.check_csrf(csrf.as_deref().unwrap_or_default())?;
        let image = image.filter(|i| !i.is_empty());
        let Some(image) = image else {
            return product_page(
                &state,
                &tenant,
                &session,
                product,
                StatusCode::BAD_REQUEST,
                None,
                Some("Choose an image file to upload.".to_owned()),
            )
            .await;
        };
        match crate::product_write::add_image(&state, tenant.store_id, product, image.into(), &alt)
            .await
        {
            Ok(()) => Ok(see_other(&format!("/admin/products/{product}?done=image"))),
            Err(e) => match e.client_error() {
                Some(refusal) => {
                    product_page(
                        &state,
                        &tenant,
                        &session,
                        product,
                        refusal.code.status(),
                        None,
                        Some(refusal.message),
                    )
                    .await
                }
                None => Err(e),
            },
        }
    }
    .await;
    result.unwrap_or_else(|e| error_page(&tenant, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usd() -> Currency {
        Currency::parse("USD").expect("usd")
    }

    #[test]
    fn amounts_shown_to_edit_read_back_the_same() {
        assert_eq!(amount_input(129_900, usd()), "1299.00");
        assert_eq!(amount_input(7, usd()), "0.07");
        let jpy = Currency::parse("JPY").expect("jpy");
        assert_eq!(amount_input(1200, jpy), "1200");
        for minor in [0, 5, 99, 100, 123_456] {
            assert_eq!(
                parse_amount(&amount_input(minor, usd()), usd()),
                Some(minor)
            );
        }
    }

    #[test]
    fn amounts_are_read_as_staff_type_them() {
        assert_eq!(parse_amount("25", usd()), Some(2500));
        assert_eq!(parse_amount("25.5", usd()), Some(2550));
        assert_eq!(parse_amount(" 1,299.00 ", usd()), Some(129_900));
        assert_eq!(parse_amount("0.07", usd()), Some(7));
        let jpy = Currency::parse("JPY").expect("jpy");
        assert_eq!(parse_amount("1200", jpy), Some(1200));
        for bad in ["", "-1", "1.234", "1e3", "abc", "1.2.3", "99999999999999"] {
            assert_eq!(parse_amount(bad, usd()), None, "{bad}");
        }
        assert_eq!(parse_amount("1.5", jpy), None);
    }

    #[test]
    fn a_form_with_an_option_makes_a_variant_per_value() {
        let form: Vec<(String, String)> = [
            ("title", "Lamp"),
            ("price", "45.00"),
            ("sku", "LAMP"),
            ("option_name", "Colour"),
            ("option_values", "Red, Blue green"),
            ("stock", "3"),
            ("status", "active"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let mut p = new_product(&form, usd()).expect("a product");
        p.validate().expect("valid");
        assert_eq!(p.variants.len(), 2);
        assert_eq!(p.variants[1].sku.as_str(), "LAMP-BLUE-GREEN");
        assert_eq!(p.variants[1].title, "Blue green");
        assert_eq!(p.variants[0].price_minor, 4500);
        assert_eq!(p.variants[0].stock, Some(3));
        assert_eq!(p.status, ProductStatus::Active);
        let bad: Vec<(String, String)> = vec![
            ("title".into(), "Lamp".into()),
            ("price".into(), "x".into()),
        ];
        assert!(new_product(&bad, usd())
            .expect_err("refused")
            .contains("price"));
    }
}
