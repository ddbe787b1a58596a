//! The admin's discounts, for any staff member as `/admin/api/discounts`
//! is (its handlers take `Staff`): the list (newest first, 25 a page), a
//! new discount of each kind, a discount's page with its definition to
//! change, its codes (one added, many generated, all as CSV) and its
//! removal. Every write goes through the `discounts` functions the API's
//! handlers call (`create`, `replace`, `delete`, `add_typed_code`,
//! `generate_codes`), with the body the API takes (`DiscountInput`), so
//! the rules and refusals are the API's.
//!
//! A form names one kind of discount (`?kind=` chooses which, a link for
//! each): an amount or percentage off the order, off chosen products,
//! variants or collections, free shipping (countries, a cap), or buy X
//! get Y; and every condition (minimum subtotal or quantity, start and
//! end in UTC, who may use it, first order only, usage limits, what it
//! combines with, active or disabled). Items are chosen from the store's
//! newest [`CHOICES`] products and collections (and those already
//! chosen); customers are named by email (or id).

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use bytes::Bytes;
use chrono::{DateTime, NaiveDateTime, Utc};
use mercato_tenants::forms::{field, see_other, sentence};
use mercato_tenants::http::ApiQuery;
use mercato_tenants::money::format_money;
use mercato_tenants::{
    ApiError, CollectionId, Currency, CustomerId, DiscountId, Money, ProductId, VariantId,
};
use minijinja::context;
use minijinja::value::Value;
use serde_json::json;
use utoipa_axum::router::OpenApiRouter;

use super::pages::{error_page, html, render, sign_in_first};
use super::products::{amount_input, parse_amount};
use super::session::{AdminSession, MaybeAdmin};
use crate::discounts::input::{BulkCodes, DiscountInput, Method, Status};
use crate::discounts::model::{Customers, Items, Kind, Value as Off};
use crate::discounts::{self, DiscountView};
use crate::error::PodError;
use crate::state::AppState;
use crate::tenancy::TenantContext;

/// This module's templates, added to the admin's engine.
pub const TEMPLATES: &[(&str, &str)] = &[
    ("discounts.html", include_str!("templates/discounts.html")),
    (
        "discounts_new.html",
        include_str!("templates/discounts_new.html"),
    ),
    (
        "discounts_discount.html",
        include_str!("templates/discounts_discount.html"),
    ),
    (
        "discounts_form.html",
        include_str!("templates/discounts_form.html"),
    ),
    (
        "discounts_items.html",
        include_str!("templates/discounts_items.html"),
    ),
];

/// This module's pages.
pub fn routes(router: OpenApiRouter<AppState>) -> OpenApiRouter<AppState> {
    router
        .route("/admin/discounts", get(list).post(create))
        .route("/admin/discounts/new", get(new_page))
        .route("/admin/discounts/{id}", get(show).post(edit))
        .route("/admin/discounts/{id}/delete", post(delete))
        .route("/admin/discounts/{id}/codes", post(add_code))
        .route("/admin/discounts/{id}/codes/bulk", post(add_bulk))
        .route("/admin/discounts/{id}/codes.csv", get(export))
}

/// Discounts per page of the list.
const PAGE: i64 = 25;
/// Codes listed on a discount's page (all of them are in the CSV).
const CODES: i64 = 100;
/// Products and collections offered to choose items from.
pub const CHOICES: u32 = 200;

/// The kinds, as forms name them, with their words.
const KINDS: [(&str, &str); 4] = [
    ("order", "Amount off the order"),
    ("products", "Amount off products"),
    ("free_shipping", "Free shipping"),
    ("buy_x_get_y", "Buy X get Y"),
];

/// The lists of items a form may name: `<set>_<list>`.
const ITEM_SETS: [&str; 3] = ["items", "buy", "get"];
const ITEM_LISTS: [&str; 3] = ["products", "variants", "collections"];

/// The single-valued fields of a discount form.
const FIELDS: [&str; 24] = [
    "title",
    "method",
    "code",
    "kind",
    "value_type",
    "value",
    "countries",
    "max_shipping",
    "buy_quantity",
    "get_quantity",
    "get_percent",
    "max_per_order",
    "min_subtotal",
    "min_quantity",
    "starts_at",
    "ends_at",
    "customers",
    "customer_list",
    "first_order_only",
    "usage_limit",
    "per_customer_limit",
    "combines_order",
    "combines_product",
    "combines_shipping",
];

type Fields = Vec<(String, String)>;

fn get_field(fields: &[(String, String)], name: &str) -> String {
    field(fields, name).unwrap_or_default().to_owned()
}

/// Every value of a repeated field.
fn all_of(fields: &[(String, String)], name: &str) -> Vec<String> {
    fields
        .iter()
        .filter(|(k, v)| k == name && !v.trim().is_empty())
        .map(|(_, v)| v.trim().to_owned())
        .collect()
}

fn kind_of(raw: Option<&str>) -> &'static str {
    KINDS
        .iter()
        .find(|(k, _)| Some(*k) == raw)
        .map_or("order", |(k, _)| k)
}

/// A percentage typed by staff (`10`, `12.5`, `12.50 %`) in basis points.
fn basis_points(raw: &str) -> Option<u32> {
    let raw = raw.trim().trim_end_matches('%').trim();
    let (whole, fraction) = raw.split_once('.').unwrap_or((raw, ""));
    if whole.is_empty()
        || whole.len() > 5
        || fraction.len() > 2
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || !fraction.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let whole: u32 = whole.parse().ok()?;
    let fraction: u32 = format!("{fraction:0<2}").parse().ok()?;
    whole.checked_mul(100)?.checked_add(fraction)
}

/// Basis points as a form shows them: `12.5`, `10`.
fn percent_input(bp: u32) -> String {
    let (whole, fraction) = (bp / 100, bp % 100);
    match fraction {
        0 => whole.to_string(),
        f if f % 10 == 0 => format!("{whole}.{}", f / 10),
        f => format!("{whole}.{f:02}"),
    }
}

/// A date and time typed in a `datetime-local` field, read as UTC.
fn moment(raw: &str) -> Option<DateTime<Utc>> {
    ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(raw.trim(), f).ok())
        .map(|t| t.and_utc())
}

fn moment_input(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M").to_string()
}

/// What a discount form describes: the API's body (`DiscountInput` as
/// JSON) with the customers still named as typed (emails or ids, the
/// caller finds them); a refusal in words. `method` is the stored
/// discount's (it cannot change; no code is sent) or `None` for a new one.
fn body_of(
    fields: &[(String, String)],
    currency: Currency,
    method: Option<Method>,
) -> Result<(serde_json::Value, Vec<String>), String> {
    let get = |name: &str| get_field(fields, name);
    let money = |name: &str, what: &str| -> Result<Option<i64>, String> {
        match get(name).as_str() {
            "" => Ok(None),
            raw => parse_amount(raw, currency).map(Some).ok_or_else(|| {
                format!("Enter {what} as an amount such as 25.00, or leave it empty.")
            }),
        }
    };
    let count = |name: &str, what: &str| -> Result<Option<u32>, String> {
        match get(name).as_str() {
            "" => Ok(None),
            raw => raw
                .parse()
                .map(Some)
                .map_err(|_| format!("Enter {what} as a whole number, or leave it empty.")),
        }
    };
    let value = || -> Result<serde_json::Value, String> {
        let raw = get("value");
        match get("value_type").as_str() {
            "amount" => parse_amount(&raw, currency)
                .map(|m| json!({"type": "amount", "value": m}))
                .ok_or_else(|| "Enter the amount off as a number such as 5.00.".to_owned()),
            "" | "percentage" => basis_points(&raw)
                .map(|bp| json!({"type": "percentage", "value": bp}))
                .ok_or_else(|| {
                    "Enter the percentage off as a number such as 10 or 12.5.".to_owned()
                }),
            _ => Err("Choose a percentage or an amount off.".to_owned()),
        }
    };
    let items = |set: &str| {
        json!({
            "products": all_of(fields, &format!("{set}_products")),
            "variants": all_of(fields, &format!("{set}_variants")),
            "collections": all_of(fields, &format!("{set}_collections")),
        })
    };
    let named_kind = get("kind");
    if !named_kind.is_empty() && !KINDS.iter().any(|(k, _)| *k == named_kind) {
        return Err("Choose a kind of discount from the list.".into());
    }
    let kind = match kind_of(Some(&named_kind)) {
        "products" => json!({"kind": "products", "value": value()?, "items": items("items")}),
        "free_shipping" => {
            let countries: Vec<String> = get("countries")
                .split([',', ' ', '\n', '\r', '\t'])
                .filter(|c| !c.is_empty())
                .map(str::to_owned)
                .collect();
            json!({"kind": "free_shipping", "countries": countries,
                   "max_shipping_minor": money("max_shipping", "the highest shipping price")?})
        }
        "buy_x_get_y" => {
            let quantity = |name: &str, what: &str| {
                count(name, what)?.ok_or_else(|| format!("Enter {what} as a whole number."))
            };
            let percent = basis_points(&get("get_percent")).ok_or(
                "Enter the percentage off the units got as a number such as 50, or 100 for free.",
            )?;
            json!({"kind": "buy_x_get_y",
                   "buy": items("buy"), "buy_quantity": quantity("buy_quantity", "how many units are bought")?,
                   "get": items("get"), "get_quantity": quantity("get_quantity", "how many units are got")?,
                   "percent_bp": percent,
                   "max_per_order": count("max_per_order", "how many times an order gets it")?})
        }
        _ => json!({"kind": "order", "value": value()?}),
    };
    let (method, code) = match method {
        Some(m) => (m, None),
        None => {
            let m = Method::parse(&get("method"))
                .ok_or("Choose whether shoppers enter a code or the discount is automatic.")?;
            let code = Some(get("code")).filter(|c| !c.is_empty() && m == Method::Code);
            (m, code)
        }
    };
    let starts = |name: &str, what: &str| -> Result<Option<String>, String> {
        match get(name).as_str() {
            "" => Ok(None),
            raw => moment(raw)
                .map(|t| Some(t.to_rfc3339()))
                .ok_or_else(|| format!("Enter {what} as a date and time, e.g. 2025-06-01T09:00.")),
        }
    };
    let mut named = Vec::new();
    let customers = match get("customers").as_str() {
        "signed_in" => json!({"type": "signed_in"}),
        "only" => {
            named = get("customer_list")
                .split([',', ' ', '\n', '\r', '\t', ';'])
                .filter(|c| !c.is_empty())
                .map(str::to_owned)
                .collect();
            if named.is_empty() {
                return Err("Name the customers who may use it by their email, one a line.".into());
            }
            json!({"type": "only", "ids": []})
        }
        "" | "anyone" => json!({"type": "anyone"}),
        _ => return Err("Choose who may use the discount from the list.".into()),
    };
    let status = match get("status").as_str() {
        "" => Status::Active,
        raw => Status::parse(raw).ok_or("Choose whether the discount is active or disabled.")?,
    };
    let ticked = |name: &str| field(fields, name) == Some("yes");
    let body = json!({
        "title": get("title"),
        "method": method.as_str(),
        "code": code,
        "kind": kind,
        "min_subtotal_minor": money("min_subtotal", "the minimum subtotal")?,
        "min_quantity": count("min_quantity", "the minimum quantity")?,
        "starts_at": starts("starts_at", "the start")?,
        "ends_at": starts("ends_at", "the end")?,
        "customers": customers,
        "first_order_only": ticked("first_order_only"),
        "usage_limit": count("usage_limit", "the limit of uses")?,
        "per_customer_limit": count("per_customer_limit", "the limit of uses per customer")?,
        "combines_with": {"order": ticked("combines_order"), "product": ticked("combines_product"),
                          "shipping": ticked("combines_shipping")},
        "status": status.as_str(),
    });
    Ok((body, named))
}

/// The customers named on a form (an email, or a customer's id), as ids;
/// a name that is no customer of the store is refused in words.
async fn customer_ids(
    state: &AppState,
    tenant: &TenantContext,
    named: &[String],
) -> Result<Result<Vec<CustomerId>, String>, PodError> {
    let mut ids = Vec::with_capacity(named.len());
    for name in named.iter().take(crate::discounts::input::MAX_IDS + 1) {
        if let Ok(id) = name.parse::<CustomerId>() {
            ids.push(id);
            continue;
        }
        let found =
            crate::accounts::directory::list(&state.db, tenant.store_id, Some(name), None, 100)
                .await?
                .into_iter()
                .find(|c| c.email.eq_ignore_ascii_case(name));
        match found {
            Some(c) => ids.push(c.id),
            None => {
                return Ok(Err(format!(
                    "No customer of the store has the email {name}."
                )))
            }
        }
    }
    Ok(Ok(ids))
}

/// The `DiscountInput` a form describes, or its refusal in words.
async fn input_of(
    state: &AppState,
    tenant: &TenantContext,
    fields: &[(String, String)],
    method: Option<Method>,
) -> Result<Result<DiscountInput, String>, PodError> {
    let (mut body, named) = match body_of(fields, tenant.currency, method) {
        Ok(b) => b,
        Err(problem) => return Ok(Err(problem)),
    };
    if !named.is_empty() {
        match customer_ids(state, tenant, &named).await? {
            Ok(ids) => body["customers"]["ids"] = json!(ids),
            Err(problem) => return Ok(Err(problem)),
        }
    }
    Ok(serde_json::from_value(body).map_err(|e| {
        let text = e.to_string();
        let first = text.split(" at line").next().unwrap_or(&text).to_owned();
        format!("The discount is not valid: {first}.")
    }))
}

fn put(out: &mut Fields, name: &str, value: String) {
    out.push((name.to_owned(), value));
}

fn items_fields(out: &mut Fields, set: &str, items: &Items) {
    let mut push = |list: &str, ids: Vec<String>| {
        for id in ids {
            out.push((format!("{set}_{list}"), id));
        }
    };
    push(
        "products",
        items.products.iter().map(ToString::to_string).collect(),
    );
    push(
        "variants",
        items.variants.iter().map(ToString::to_string).collect(),
    );
    push(
        "collections",
        items.collections.iter().map(ToString::to_string).collect(),
    );
}

fn value_fields(out: &mut Fields, value: Off, currency: Currency) {
    let (kind, shown) = match value {
        Off::Percentage(bp) => ("percentage", percent_input(bp)),
        Off::Amount(minor) => ("amount", amount_input(minor, currency)),
    };
    out.push(("value_type".into(), kind.into()));
    out.push(("value".into(), shown));
}

/// A stored discount as its form's fields, customers named by email
/// (by id when they are gone).
async fn fields_of(
    state: &AppState,
    tenant: &TenantContext,
    d: &DiscountView,
) -> Result<Fields, PodError> {
    let currency = tenant.currency;
    let mut out: Fields = Vec::new();
    let yes = |b: bool| if b { "yes" } else { "" }.to_owned();
    let opt = |n: Option<u32>| n.map(|n| n.to_string()).unwrap_or_default();
    let amount = |m: Option<i64>| m.map(|m| amount_input(m, currency)).unwrap_or_default();
    put(&mut out, "title", d.title.clone());
    put(&mut out, "method", d.method.as_str().to_owned());
    put(&mut out, "status", d.status.as_str().to_owned());
    put(&mut out, "first_order_only", yes(d.first_order_only));
    put(&mut out, "combines_order", yes(d.combines_with.order));
    put(&mut out, "combines_product", yes(d.combines_with.product));
    put(&mut out, "combines_shipping", yes(d.combines_with.shipping));
    put(&mut out, "min_quantity", opt(d.min_quantity));
    put(&mut out, "usage_limit", opt(d.usage_limit));
    put(&mut out, "per_customer_limit", opt(d.per_customer_limit));
    put(&mut out, "min_subtotal", amount(d.min_subtotal_minor));
    let moment = |t: Option<DateTime<Utc>>| t.map(moment_input).unwrap_or_default();
    put(&mut out, "starts_at", moment(d.starts_at));
    put(&mut out, "ends_at", moment(d.ends_at));
    match &d.kind {
        Kind::Order { value } => {
            put(&mut out, "kind", "order".into());
            value_fields(&mut out, *value, currency);
        }
        Kind::Products { value, items } => {
            put(&mut out, "kind", "products".into());
            value_fields(&mut out, *value, currency);
            items_fields(&mut out, "items", items);
        }
        Kind::FreeShipping {
            countries,
            max_shipping_minor,
        } => {
            put(&mut out, "kind", "free_shipping".into());
            put(&mut out, "countries", countries.join(", "));
            put(&mut out, "max_shipping", amount(*max_shipping_minor));
        }
        Kind::BuyXGetY {
            buy,
            buy_quantity,
            get,
            get_quantity,
            percent_bp,
            max_per_order,
        } => {
            put(&mut out, "kind", "buy_x_get_y".into());
            put(&mut out, "buy_quantity", buy_quantity.to_string());
            put(&mut out, "get_quantity", get_quantity.to_string());
            put(&mut out, "get_percent", percent_input(*percent_bp));
            put(&mut out, "max_per_order", opt(*max_per_order));
            items_fields(&mut out, "buy", buy);
            items_fields(&mut out, "get", get);
        }
    }
    let customers = match &d.customers {
        Customers::Anyone => "anyone",
        Customers::SignedIn => "signed_in",
        Customers::Only(ids) => {
            let mut names = Vec::with_capacity(ids.len());
            for id in ids {
                let found =
                    crate::accounts::directory::get(&state.db, tenant.store_id, *id).await?;
                names.push(found.map_or_else(|| id.to_string(), |c| c.customer.email));
            }
            out.push(("customer_list".into(), names.join("\n")));
            "only"
        }
    };
    out.push(("customers".into(), customers.into()));
    Ok(out)
}

/// What a discount takes off, in words.
fn summary(kind: &Kind, currency: Currency) -> String {
    let off = |v: &Off| match v {
        Off::Percentage(bp) => format!("{} %", percent_input(*bp)),
        Off::Amount(minor) => format_money(Money::new(*minor, currency)),
    };
    match kind {
        Kind::Order { value } => format!("{} off the order", off(value)),
        Kind::Products {
            value: v @ Off::Amount(_),
            ..
        } => {
            format!("{} off each unit of chosen items", off(v))
        }
        Kind::Products { value, .. } => format!("{} off chosen items", off(value)),
        Kind::FreeShipping { countries, .. } if countries.is_empty() => "Free shipping".into(),
        Kind::FreeShipping { countries, .. } => {
            format!("Free shipping to {}", countries.join(", "))
        }
        Kind::BuyXGetY {
            buy_quantity,
            get_quantity,
            percent_bp,
            ..
        } if *percent_bp == crate::discounts::model::FULL_BP => {
            format!("Buy {buy_quantity}, get {get_quantity} free")
        }
        Kind::BuyXGetY {
            buy_quantity,
            get_quantity,
            percent_bp,
            ..
        } => format!(
            "Buy {buy_quantity}, get {get_quantity} at {} % off",
            percent_input(*percent_bp)
        ),
    }
}

/// A form's values for a template: `f` (single fields, each present) and
/// `sel` (the ids chosen in each list of items).
fn form_values(fields: &[(String, String)]) -> (Value, Value) {
    let mut f: BTreeMap<&str, String> = FIELDS.iter().map(|k| (*k, String::new())).collect();
    for k in FIELDS {
        if let Some(v) = fields.iter().find(|(name, _)| name == k) {
            f.insert(k, v.1.clone());
        }
    }
    f.insert("status", get_field(fields, "status"));
    let mut sel: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for set in ITEM_SETS {
        for list in ITEM_LISTS {
            let name = format!("{set}_{list}");
            let ids = all_of(fields, &name);
            sel.insert(name, ids);
        }
    }
    (Value::from_serialize(&f), Value::from_serialize(&sel))
}

/// The products, variants and collections a form offers: the newest
/// [`CHOICES`] of each, and those `fields` already chose.
async fn choices(
    state: &AppState,
    tenant: &TenantContext,
    fields: &[(String, String)],
) -> Result<Value, PodError> {
    let store = tenant.store_id;
    let mut products =
        crate::catalog::sql::list_products_titled(&state.db, store, None, None, None, CHOICES)
            .await?
            .items;
    let chosen = |list: &str| -> Vec<String> {
        ITEM_SETS
            .iter()
            .flat_map(|set| all_of(fields, &format!("{set}_{list}")))
            .collect()
    };
    let mut missing: Vec<ProductId> = chosen("products")
        .iter()
        .filter_map(|id| id.parse::<ProductId>().ok())
        .filter(|id| !products.iter().any(|p| p.id == *id))
        .collect();
    for v in chosen("variants") {
        let Ok(v) = v.parse::<VariantId>() else {
            continue;
        };
        if products
            .iter()
            .any(|p| p.variants.iter().any(|x| x.id == v))
        {
            continue;
        }
        if let Some(p) = crate::catalog::sql::product_of_variant(&state.db, store, v).await? {
            missing.push(p);
        }
    }
    missing.sort_by_key(ProductId::as_uuid);
    missing.dedup();
    if !missing.is_empty() {
        products.extend(crate::catalog::sql::get_products(&state.db, store, &missing, None).await?);
    }
    products.sort_by_key(|p| p.title.to_lowercase());
    let variants: Vec<Value> = products
        .iter()
        .flat_map(|p| {
            p.variants.iter().map(move |v| {
                let name = if v.title.is_empty() || p.variants.len() == 1 {
                    p.title.clone()
                } else {
                    format!("{} – {}", p.title, v.title)
                };
                context! { id => v.id.to_string(), title => format!("{name} ({})", v.sku) }
            })
        })
        .collect();
    let mut collections = crate::collections::sql::list(&state.db, store, None, CHOICES)
        .await?
        .items;
    let chosen_collections: Vec<CollectionId> = chosen("collections")
        .iter()
        .filter_map(|id| id.parse().ok())
        .filter(|id| !collections.iter().any(|c| c.id == *id))
        .collect();
    for id in chosen_collections {
        if let Some(c) = crate::collections::sql::get(&state.db, store, id).await? {
            collections.push(c);
        }
    }
    Ok(context! {
        products => products.iter().map(|p| context! { id => p.id.to_string(), title => p.title.clone() }).collect::<Vec<_>>(),
        variants,
        collections => collections.iter().map(|c| context! { id => c.id.to_string(), title => c.title.clone() }).collect::<Vec<_>>(),
    })
}

fn kinds(current: &str) -> Vec<Value> {
    KINDS
        .iter()
        .map(|(k, words)| context! { value => *k, words => *words, current => *k == current })
        .collect()
}

/// `GET /admin/discounts[?after=]`: as `GET /admin/api/discounts`.
pub async fn list(
    State(state): State<AppState>,
    tenant: TenantContext,
    MaybeAdmin(session): MaybeAdmin,
    ApiQuery(pairs): ApiQuery<Vec<(String, String)>>,
) -> Response {
    let Some(session) = session else {
        return sign_in_first("/admin/discounts");
    };
    let result = async {
        let before = match field(&pairs, "after").filter(|a| !a.is_empty()) {
            Some(a) => Some(a.parse::<DiscountId>().map_err(|_| {
                ApiError::invalid("after must be a cursor from the list's next page")
            })?),
            None => None,
        };
        let mut items = discounts::list(&state.db, tenant.store_id, before, PAGE + 1).await?;
        let next = crate::paging::split_page(&mut items, PAGE as usize, |d| d.id.to_string())
            .map(|c| format!("/admin/discounts?after={c}"));
        let rows: Vec<Value> = items
            .iter()
            .map(|d| {
                context! {
                    id => d.id.to_string(),
                    title => d.title.clone(),
                    method => d.method.as_str(),
                    codes => d.codes_count,
                    summary => summary(&d.kind, tenant.currency),
                    status => d.status.as_str(),
                    used => d.used_count,
                    limit => d.usage_limit,
                    starts => d.starts_at.map(|t| t.format("%Y-%m-%d").to_string()),
                    ends => d.ends_at.map(|t| t.format("%Y-%m-%d").to_string()),
                }
            })
            .collect();
        let notice =
            (field(&pairs, "done") == Some("deleted")).then_some("The discount was deleted.");
        let body = render(
            &tenant,
            Some(&session),
            "discounts.html",
            "Discounts",
            context! { nav => "discounts", rows, next, notice },
        )?;
        Ok::<_, PodError>(html(StatusCode::OK, body))
    }
    .await;
    result.unwrap_or_else(|e| error_page(&tenant, e))
}

async fn new_form(
    state: &AppState,
    tenant: &TenantContext,
    session: &AdminSession,
    status: StatusCode,
    fields: &[(String, String)],
    problem: Option<String>,
) -> Result<Response, PodError> {
    let kind = kind_of(field(fields, "kind"));
    let (f, sel) = form_values(fields);
    let body = render(
        tenant,
        Some(session),
        "discounts_new.html",
        "New discount",
        context! {
            nav => "discounts",
            problem,
            kind,
            kinds => kinds(kind),
            f, sel,
            choices => choices(state, tenant, fields).await?,
            currency => tenant.currency.to_string(),
            is_new => true,
        },
    )?;
    Ok(html(status, body))
}

/// `GET /admin/discounts/new[?kind=]`: a form for a new discount of `kind`.
pub async fn new_page(
    State(state): State<AppState>,
    tenant: TenantContext,
    MaybeAdmin(session): MaybeAdmin,
    ApiQuery(pairs): ApiQuery<Vec<(String, String)>>,
) -> Response {
    let Some(session) = session else {
        return sign_in_first("/admin/discounts/new");
    };
    let kind = kind_of(field(&pairs, "kind"));
    let defaults: Fields = [
        ("kind", kind),
        ("method", "code"),
        ("value_type", "percentage"),
        ("customers", "anyone"),
        ("status", "active"),
        ("buy_quantity", "1"),
        ("get_quantity", "1"),
        ("get_percent", "100"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    new_form(&state, &tenant, &session, StatusCode::OK, &defaults, None)
        .await
        .unwrap_or_else(|e| error_page(&tenant, e))
}

/// A refusal of a write: the client error in words with its status; any
/// other error goes on (the error page).
fn refusal(e: PodError) -> Result<(StatusCode, String), PodError> {
    match e.client_error() {
        Some(r) => Ok((r.code.status(), sentence(&r.message))),
        None => Err(e),
    }
}

/// `POST /admin/discounts`: a new discount, as `POST /admin/api/discounts`.
pub async fn create(
    State(state): State<AppState>,
    tenant: TenantContext,
    MaybeAdmin(session): MaybeAdmin,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(session) = session else {
        return sign_in_first("/admin/discounts/new");
    };
    let result = async {
        let fields = session.form(&headers, &body)?;
        let (status, problem) = match input_of(&state, &tenant, &fields, None).await? {
            Err(problem) => (StatusCode::BAD_REQUEST, problem),
            Ok(input) => match discounts::create(&state, tenant.store_id, input).await {
                Ok(d) => {
                    return Ok(see_other(&format!(
                        "/admin/discounts/{}?done=created",
                        d.id
                    )))
                }
                Err(e) => refusal(e)?,
            },
        };
        new_form(&state, &tenant, &session, status, &fields, Some(problem)).await
    }
    .await;
    result.unwrap_or_else(|e| error_page(&tenant, e))
}

fn discount_id(raw: &str) -> Result<DiscountId, PodError> {
    raw.parse()
        .map_err(|_| PodError::from(ApiError::not_found("discount")))
}

/// What a discount's page shows besides the discount.
#[derive(Default)]
struct Shown {
    notice: Option<&'static str>,
    problem: Option<String>,
    /// The definition's form as typed, when it was refused.
    typed: Option<Fields>,
    /// A code form as typed, when it was refused.
    codes_typed: Fields,
    /// `?kind=`: the kind the form is switched to.
    kind: Option<String>,
}

async fn discount_page(
    state: &AppState,
    tenant: &TenantContext,
    session: &AdminSession,
    id: DiscountId,
    status: StatusCode,
    shown: Shown,
) -> Result<Response, PodError> {
    let d = discounts::get(&state.db, tenant.store_id, id).await?;
    let mut fields = match shown.typed {
        Some(typed) => typed,
        None => fields_of(state, tenant, &d).await?,
    };
    if let Some(kind) = shown.kind {
        fields.retain(|(k, _)| k != "kind");
        fields.push(("kind".into(), kind));
    }
    let kind = kind_of(field(&fields, "kind"));
    let (f, sel) = form_values(&fields);
    let codes = if d.method == Method::Code {
        discounts::codes(&state.db, tenant.store_id, id, None, CODES).await?
    } else {
        Vec::new()
    };
    let code_rows: Vec<Value> = codes
        .iter()
        .map(|c| {
            context! {
                code => c.code.clone(),
                used => c.used_count,
                limit => c.usage_limit,
                created => c.created_at.format("%Y-%m-%d").to_string(),
            }
        })
        .collect();
    let typed = |name: &str| get_field(&shown.codes_typed, name);
    let body = render(
        tenant,
        Some(session),
        "discounts_discount.html",
        &d.title,
        context! {
            nav => "discounts",
            notice => shown.notice,
            problem => shown.problem,
            discount => context! {
                id => d.id.to_string(),
                title => d.title.clone(),
                method => d.method.as_str(),
                status => d.status.as_str(),
                summary => summary(&d.kind, tenant.currency),
                used => d.used_count,
                limit => d.usage_limit,
                codes_count => d.codes_count,
                created => d.created_at.format("%Y-%m-%d %H:%M UTC").to_string(),
            },
            codes => code_rows,
            more_codes => d.codes_count > CODES,
            code_form => context! {
                code => typed("code"),
                code_limit => typed("code_limit"),
                count => typed("count"),
                prefix => typed("prefix"),
                length => typed("length"),
                bulk_limit => typed("bulk_limit"),
            },
            kind,
            kinds => kinds(kind),
            f, sel,
            choices => choices(state, tenant, &fields).await?,
            currency => tenant.currency.to_string(),
            is_new => false,
        },
    )?;
    Ok(html(status, body))
}

/// `GET /admin/discounts/{id}[?kind=]`: a discount, as `GET
/// /admin/api/discounts/{id}`, with its codes (`GET .../codes`).
pub async fn show(
    State(state): State<AppState>,
    tenant: TenantContext,
    MaybeAdmin(session): MaybeAdmin,
    Path(id): Path<String>,
    ApiQuery(pairs): ApiQuery<Vec<(String, String)>>,
) -> Response {
    let Some(session) = session else {
        return sign_in_first(&format!("/admin/discounts/{id}"));
    };
    let notice = match field(&pairs, "done") {
        Some("created") => Some("The discount was created."),
        Some("saved") => Some("The discount was saved."),
        Some("code_added") => Some("The code was added."),
        Some("generated") => Some("The codes were made: download them as CSV."),
        _ => None,
    };
    let shown = Shown {
        notice,
        kind: field(&pairs, "kind")
            .filter(|k| KINDS.iter().any(|(x, _)| x == k))
            .map(str::to_owned),
        ..Shown::default()
    };
    let result = async {
        discount_page(
            &state,
            &tenant,
            &session,
            discount_id(&id)?,
            StatusCode::OK,
            shown,
        )
        .await
    }
    .await;
    result.unwrap_or_else(|e| error_page(&tenant, e))
}

/// What a discount form's write answered: where to go on, or a refusal
/// to show on the discount's page.
enum Outcome {
    Done(&'static str),
    Refused(StatusCode, String, Shown),
}

/// Runs a form of a discount's page: signed in, the form checked (same
/// site, this session's CSRF token), the discount's id, then `act`. A
/// refusal is shown on the page; a missing discount is the error page.
async fn discount_form(
    state: &AppState,
    tenant: &TenantContext,
    session: Option<AdminSession>,
    id: &str,
    headers: &HeaderMap,
    body: &[u8],
    act: impl AsyncFnOnce(Fields, DiscountId) -> Result<Outcome, PodError>,
) -> Response {
    let Some(session) = session else {
        return sign_in_first(&format!("/admin/discounts/{id}"));
    };
    let result = async {
        let fields = session.form(headers, body)?;
        let id = discount_id(id)?;
        match act(fields, id).await? {
            Outcome::Done("deleted") => Ok(see_other("/admin/discounts?done=deleted")),
            Outcome::Done(what) => Ok(see_other(&format!("/admin/discounts/{id}?done={what}"))),
            Outcome::Refused(status, problem, shown) => {
                let shown = Shown {
                    problem: Some(problem),
                    ..shown
                };
                discount_page(state, tenant, &session, id, status, shown).await
            }
        }
    }
    .await;
    result.unwrap_or_else(|e| error_page(tenant, e))
}

/// A write's error as an [`Outcome`]: a refusal to show (not a `404`:
/// there is nothing to show it on), or the error.
fn refused(e: PodError, shown: Shown) -> Result<Outcome, PodError> {
    let (status, problem) = refusal(e)?;
    if status == StatusCode::NOT_FOUND {
        return Err(ApiError::not_found("discount").into());
    }
    Ok(Outcome::Refused(status, problem, shown))
}

/// `POST /admin/discounts/{id}`: the definition, as `PUT
/// /admin/api/discounts/{id}` (its method stays).
pub async fn edit(
    State(state): State<AppState>,
    tenant: TenantContext,
    MaybeAdmin(session): MaybeAdmin,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    discount_form(
        &state,
        &tenant,
        session,
        &id,
        &headers,
        &body,
        async |fields, id| {
            let now = discounts::get(&state.db, tenant.store_id, id).await?;
            let typed = || Shown {
                typed: Some(fields.clone()),
                ..Shown::default()
            };
            let input = match input_of(&state, &tenant, &fields, Some(now.method)).await? {
                Ok(input) => input,
                Err(problem) => {
                    return Ok(Outcome::Refused(StatusCode::BAD_REQUEST, problem, typed()))
                }
            };
            match discounts::replace(&state, tenant.store_id, id, input).await {
                Ok(_) => Ok(Outcome::Done("saved")),
                Err(e) => refused(e, typed()),
            }
        },
    )
    .await
}

/// `POST /admin/discounts/{id}/delete` (`confirm`): as `DELETE
/// /admin/api/discounts/{id}`.
pub async fn delete(
    State(state): State<AppState>,
    tenant: TenantContext,
    MaybeAdmin(session): MaybeAdmin,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    discount_form(
        &state,
        &tenant,
        session,
        &id,
        &headers,
        &body,
        async |fields, id| {
            if field(&fields, "confirm") != Some("yes") {
                return Ok(Outcome::Refused(
                    StatusCode::BAD_REQUEST,
                    "Tick the box to confirm that the discount goes with its codes.".into(),
                    Shown::default(),
                ));
            }
            discounts::delete(&state, tenant.store_id, id).await?;
            Ok(Outcome::Done("deleted"))
        },
    )
    .await
}

/// A code form's optional whole number, or its refusal in words.
fn optional_count(
    fields: &[(String, String)],
    name: &str,
    what: &str,
) -> Result<Option<u32>, String> {
    match field(fields, name).unwrap_or_default() {
        "" => Ok(None),
        raw => raw
            .parse()
            .map(Some)
            .map_err(|_| format!("Enter {what} as a whole number, or leave it empty.")),
    }
}

/// `POST /admin/discounts/{id}/codes` (`code`, `code_limit`): as `POST
/// /admin/api/discounts/{id}/codes`.
pub async fn add_code(
    State(state): State<AppState>,
    tenant: TenantContext,
    MaybeAdmin(session): MaybeAdmin,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    discount_form(
        &state,
        &tenant,
        session,
        &id,
        &headers,
        &body,
        async |fields, id| {
            let typed = || Shown {
                codes_typed: fields.clone(),
                ..Shown::default()
            };
            let limit = match optional_count(&fields, "code_limit", "the code's limit of uses") {
                Ok(l) => l,
                Err(problem) => {
                    return Ok(Outcome::Refused(StatusCode::BAD_REQUEST, problem, typed()))
                }
            };
            let code = get_field(&fields, "code");
            match discounts::add_typed_code(&state, tenant.store_id, id, &code, limit).await {
                Ok(_) => Ok(Outcome::Done("code_added")),
                Err(e) => refused(e, typed()),
            }
        },
    )
    .await
}

/// `POST /admin/discounts/{id}/codes/bulk` (`count`, `prefix`, `length`,
/// `bulk_limit`): as `POST /admin/api/discounts/{id}/codes/bulk`.
pub async fn add_bulk(
    State(state): State<AppState>,
    tenant: TenantContext,
    MaybeAdmin(session): MaybeAdmin,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    discount_form(
        &state,
        &tenant,
        session,
        &id,
        &headers,
        &body,
        async |fields, id| {
            let typed = || Shown {
                codes_typed: fields.clone(),
                ..Shown::default()
            };
            let numbers = (|| {
                let count = optional_count(&fields, "count", "how many codes")?
                    .ok_or("Enter how many codes to make, 1 to 10000.")?;
                Ok::<_, String>((
                    count,
                    optional_count(&fields, "length", "the length")?,
                    optional_count(&fields, "bulk_limit", "each code's limit of uses")?,
                ))
            })();
            let (count, length, usage_limit) = match numbers {
                Ok(n) => n,
                Err(problem) => {
                    return Ok(Outcome::Refused(StatusCode::BAD_REQUEST, problem, typed()))
                }
            };
            let request = BulkCodes {
                count,
                prefix: Some(get_field(&fields, "prefix")),
                length,
                usage_limit,
            };
            match discounts::generate_codes(&state, tenant.store_id, id, request).await {
                Ok(_) => Ok(Outcome::Done("generated")),
                Err(e) => refused(e, typed()),
            }
        },
    )
    .await
}

/// `GET /admin/discounts/{id}/codes.csv`: every code, as `GET
/// /admin/api/discounts/{id}/codes/export` (which takes a bearer token or
/// an API key, not the admin's cookie).
pub async fn export(
    State(state): State<AppState>,
    tenant: TenantContext,
    MaybeAdmin(session): MaybeAdmin,
    Path(id): Path<String>,
) -> Response {
    if session.is_none() {
        return sign_in_first(&format!("/admin/discounts/{id}"));
    }
    let result = async {
        let id = discount_id(&id)?;
        let csv = discounts::export_csv(&state.db, tenant.store_id, id).await?;
        Ok::<_, PodError>(
            (
                [
                    (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
                    (
                        header::CONTENT_DISPOSITION,
                        format!("attachment; filename=\"discount-{id}-codes.csv\""),
                    ),
                    (header::CACHE_CONTROL, "private, no-store".to_owned()),
                ],
                csv,
            )
                .into_response(),
        )
    }
    .await;
    result.unwrap_or_else(|e| error_page(&tenant, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usd() -> Currency {
        Currency::parse("USD").expect("USD")
    }

    fn form(pairs: &[(&str, &str)]) -> Fields {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn percentages_are_read_as_staff_type_them_and_shown_back_the_same() {
        assert_eq!(basis_points("10"), Some(1000));
        assert_eq!(basis_points("12.5 %"), Some(1250));
        assert_eq!(basis_points("0.01"), Some(1));
        for bad in ["", "ten", "1.234", "-5", "1e3", "123456"] {
            assert_eq!(basis_points(bad), None, "{bad:?}");
        }
        for bp in [1, 50, 1000, 1250, 1205, 10_000] {
            assert_eq!(basis_points(&percent_input(bp)), Some(bp), "{bp}");
        }
    }

    #[test]
    fn a_form_of_each_kind_becomes_the_apis_body() {
        let (body, named) = body_of(
            &form(&[
                ("title", "Summer"),
                ("method", "code"),
                ("code", "summer10"),
                ("kind", "order"),
                ("value_type", "percentage"),
                ("value", "10"),
                ("min_subtotal", "50"),
                ("starts_at", "2025-06-01T09:00"),
                ("customers", "anyone"),
                ("combines_shipping", "yes"),
                ("status", "active"),
            ]),
            usd(),
            None,
        )
        .expect("valid");
        assert!(named.is_empty());
        let input: DiscountInput = serde_json::from_value(body.clone()).expect("the API's body");
        let d = input.validate().expect("valid for the API");
        assert_eq!(d.conditions.min_subtotal_minor, Some(5000));
        assert!(d.combines_with.shipping && !d.combines_with.order);
        assert_eq!(
            body["kind"]["value"],
            json!({"type": "percentage", "value": 1000})
        );
        assert_eq!(body["starts_at"], "2025-06-01T09:00:00+00:00");

        let (body, _) = body_of(
            &form(&[
                ("title", "Two for one"),
                ("kind", "buy_x_get_y"),
                ("buy_products", "0190b3d8-0000-7000-8000-000000000001"),
                ("get_products", "0190b3d8-0000-7000-8000-000000000001"),
                ("buy_quantity", "2"),
                ("get_quantity", "1"),
                ("get_percent", "100"),
                ("customers", "only"),
                ("customer_list", "ada@example.com\nbob@example.com"),
            ]),
            usd(),
            Some(Method::Automatic),
        )
        .expect("valid");
        assert_eq!(body["method"], "automatic");
        assert_eq!(body["code"], serde_json::Value::Null);
        assert_eq!(body["kind"]["percent_bp"], 10_000);
        let (_, named) = body_of(
            &form(&[
                ("title", "x"),
                ("kind", "free_shipping"),
                ("countries", "fr, de"),
                ("customers", "only"),
                ("customer_list", "ada@example.com\nbob@example.com"),
            ]),
            usd(),
            Some(Method::Code),
        )
        .expect("valid");
        assert_eq!(named, ["ada@example.com", "bob@example.com"]);
    }

    #[test]
    fn a_form_that_is_no_discount_is_refused_in_words() {
        let base = [("title", "x"), ("method", "code"), ("kind", "order")];
        for (name, value) in [
            ("value", "ten"),
            ("min_subtotal", "lots"),
            ("usage_limit", "-1"),
            ("starts_at", "tomorrow"),
            ("method", "sometimes"),
            ("kind", "half_off"),
            ("value_type", "a lot"),
            ("customers", "friends"),
            ("status", "paused"),
        ] {
            let mut f = form(&base);
            f.retain(|(k, _)| k != name);
            f.push((name.into(), value.into()));
            if name != "value" {
                f.push(("value".into(), "10".into()));
            }
            let problem = body_of(&f, usd(), None).expect_err(name);
            assert!(problem.ends_with('.'), "{problem}");
        }
        let only = form(&[
            ("title", "x"),
            ("method", "code"),
            ("value", "5"),
            ("customers", "only"),
        ]);
        assert!(body_of(&only, usd(), None).is_err(), "customers named");
    }

    #[test]
    fn a_discount_is_summed_up_in_words() {
        let off = |value| Kind::Order { value };
        assert_eq!(
            summary(&off(Off::Percentage(1250)), usd()),
            "12.5 % off the order"
        );
        assert_eq!(
            summary(&off(Off::Amount(500)), usd()),
            "$5.00 off the order"
        );
        let bxgy = Kind::BuyXGetY {
            buy: Items::default(),
            buy_quantity: 2,
            get: Items::default(),
            get_quantity: 1,
            percent_bp: 10_000,
            max_per_order: None,
        };
        assert_eq!(summary(&bxgy, usd()), "Buy 2, get 1 free");
    }

    #[test]
    fn the_form_of_each_kind_shows_its_fields_and_keeps_the_items_chosen() {
        let choices = context! {
            products => vec![context! { id => "p1", title => "Mug" }, context! { id => "p2", title => "Cup" }],
            variants => Vec::<Value>::new(),
            collections => Vec::<Value>::new(),
        };
        for (kind, words) in KINDS {
            let fields = form(&[
                ("kind", kind),
                ("items_products", "p1"),
                ("get_products", "p2"),
            ]);
            let (f, sel) = form_values(&fields);
            let page = crate::admin::engine()
                .render(
                    "discounts_new.html",
                    context! {
                        store => context! { name => "Shop" }, title => "New discount", signed_in => true,
                        csrf => "token", kind, kinds => kinds(kind), f, sel, choices => choices.clone(),
                        currency => "USD", is_new => true,
                    },
                )
                .unwrap_or_else(|e| panic!("{kind}: {e:#}"));
            assert!(
                page.contains(&format!("aria-current=\"page\">{words}</a>")),
                "{kind}"
            );
            let selects = page.matches("<select id=").count();
            match kind {
                "products" => {
                    assert!(page.contains("<option value=\"p1\" selected>Mug</option>"));
                    assert!(page.contains("<option value=\"p2\">Cup</option>"));
                    assert_eq!(selects, 5, "value type, 3 lists, status");
                }
                "buy_x_get_y" => {
                    assert!(
                        page.contains("name=\"buy_products\"")
                            && page.contains("name=\"get_products\"")
                    );
                    assert!(page.contains("<option value=\"p2\" selected>Cup</option>"));
                    assert_eq!(selects, 7, "2 × 3 lists, status");
                }
                "free_shipping" => assert!(page.contains("name=\"countries\"")),
                _ => assert!(page.contains("name=\"value\"")),
            }
        }
    }
}
