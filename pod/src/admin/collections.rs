//! The admin's collections and categories, over the same writes as the
//! JSON API (`collection_write`, `category_write`, which
//! `/admin/api/collections` and `/admin/api/categories` call):
//!
//! - `/admin/collections`: the collections by handle, with their kind and
//!   how many products each holds, and a form for a new one (manual, or
//!   rule-based with its rules), as `POST /admin/api/collections`;
//! - `/admin/collections/{id}`: its details and rules (as `PATCH`), its
//!   deletion (a box to tick first); a manual collection's products in
//!   their order, added (picked from a list that a title search narrows),
//!   removed and moved by "Earlier"/"Later" buttons that post the whole new
//!   order (as `PUT /admin/api/collections/{id}/products/order`); a rule
//!   collection's products, as its rules select them;
//! - `/admin/categories`: the tree, a form for a new category, and for the
//!   category chosen its rename, move, re-position and deletion, with the
//!   products filed under it.
//!
//! Role rules are the API's: every endpoint of both is open to any staff
//! member (`Staff`), so every page and form here is too.

use std::collections::{BTreeMap, HashMap, HashSet};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use bytes::Bytes;
use mercato_tenants::forms::{field, see_other, sentence};
use mercato_tenants::http::ApiQuery;
use mercato_tenants::{ApiError, CategoryId, CollectionId, Currency, Money, ProductId};
use minijinja::context;
use minijinja::value::Value;
use serde::Serialize;
use serde_json::json;
use utoipa_axum::router::OpenApiRouter;

use super::pages::{error_page, html, render, sign_in_first};
use super::products::{amount_input, parse_amount};
use super::session::{AdminSession, MaybeAdmin};
use crate::catalog::Product;
use crate::categories::model::{CategoryNode, CategoryPatch, NewCategory, MAX_DEPTH};
use crate::collections::rules::{RuleCondition, MAX_CONDITIONS};
use crate::collections::{
    model::{CollectionPatch, NewCollection},
    Collection, CollectionKind, InvalidRules, RuleSet, Rules, Slug, SortOrder,
};
use crate::error::PodError;
use crate::state::AppState;
use crate::tenancy::TenantContext;
use crate::{categories, category_write, collection_write, collections};

/// This module's templates, added to the admin's engine.
pub const TEMPLATES: &[(&str, &str)] = &[
    (
        "collections.html",
        include_str!("templates/collections.html"),
    ),
    (
        "collections_show.html",
        include_str!("templates/collections_show.html"),
    ),
    (
        "collections_rules.html",
        include_str!("templates/collections_rules.html"),
    ),
    ("categories.html", include_str!("templates/categories.html")),
];

/// This module's pages.
pub fn routes(router: OpenApiRouter<AppState>) -> OpenApiRouter<AppState> {
    router
        .route("/admin/collections", get(list).post(create))
        .route("/admin/collections/{id}", get(show))
        .route("/admin/collections/{id}/edit", post(edit))
        .route("/admin/collections/{id}/rules", post(save_rules))
        .route("/admin/collections/{id}/delete", post(delete))
        .route("/admin/collections/{id}/products", post(add_product))
        .route("/admin/collections/{id}/products/order", post(order))
        .route(
            "/admin/collections/{id}/products/{product}/delete",
            post(remove_product),
        )
        .route(
            "/admin/categories",
            get(categories_page).post(create_category),
        )
        .route("/admin/categories/{id}", post(edit_category))
        .route("/admin/categories/{id}/delete", post(delete_category))
}

/// Collections per page of the list.
const COLLECTIONS_PAGE: u32 = 50;
/// Products per page of a collection's products.
const MEMBERS_PAGE: u32 = 50;
/// Products the add form offers (the newest, or those the search finds).
const PICKER: u32 = 100;
/// Products listed as filed under the category being edited.
const FILED_SHOWN: i64 = 50;
/// Blank condition rows a rules form offers beyond the rules it has.
const BLANK_RULE_ROWS: usize = 3;
/// Longest title search, in characters (as the products list).
const MAX_SEARCH: usize = 200;

/// The fields a condition may test, as the form names them.
const RULE_FIELDS: [(&str, &str); 4] = [
    ("vendor", "Vendor"),
    ("product_type", "Product type"),
    ("tag", "Tag"),
    ("price", "Lowest price"),
];

/// The tests a condition may make (text: the first four; price: equals
/// and the last two; the rules' own check says which fits which).
const RULE_OPS: [(&str, &str); 6] = [
    ("equals", "is"),
    ("not_equals", "is not"),
    ("contains", "contains"),
    ("starts_with", "starts with"),
    ("greater_than", "is more than"),
    ("less_than", "is less than"),
];

fn sort_label(sort: SortOrder) -> &'static str {
    match sort {
        SortOrder::Manual => "The order chosen here",
        SortOrder::Title => "Title, A to Z",
        SortOrder::PriceAsc => "Price, low to high",
        SortOrder::PriceDesc => "Price, high to low",
        SortOrder::Newest => "Newest first",
        SortOrder::BestSelling => "Best selling first",
    }
}

fn kind_label(kind: CollectionKind) -> &'static str {
    match kind {
        CollectionKind::Manual => "manual",
        CollectionKind::Rule => "rule-based",
    }
}

fn choices(pairs: &[(&'static str, &'static str)]) -> Vec<Value> {
    pairs
        .iter()
        .map(|(value, label)| context! { value => *value, label => *label })
        .collect()
}

fn sort_choices() -> Vec<Value> {
    SortOrder::ALL
        .iter()
        .map(|s| context! { value => s.as_str(), label => sort_label(*s) })
        .collect()
}

/// A handle made of `text` (for a title or a name given without one):
/// lower-case letters and digits, anything else one hyphen, at most 63
/// characters. Empty when `text` has no letter or digit of a-z, 0-9; the
/// handle's own check refuses it then.
pub fn handle_from(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars().flat_map(char::to_lowercase) {
        if out.len() >= 63 {
            break;
        }
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_end_matches('-').to_owned()
}

/// A form's `handle`, or one made of the field `from` when it is empty.
fn handle_or_from(fields: &[(String, String)], from: &str) -> String {
    match field(fields, "handle").unwrap_or_default() {
        "" => handle_from(field(fields, from).unwrap_or_default()),
        given => given.to_owned(),
    }
}

/// One row of a rules form: what it tests, how, and the value as typed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
struct RuleRow {
    field: String,
    op: String,
    value: String,
}

/// A rules form's rows: its conditions, then blank rows to add more (at
/// most [`MAX_CONDITIONS`] in all).
fn padded(mut rows: Vec<RuleRow>) -> Vec<RuleRow> {
    let total = (rows.len() + BLANK_RULE_ROWS).min(MAX_CONDITIONS);
    while rows.len() < total {
        rows.push(RuleRow {
            field: "tag".to_owned(),
            op: "equals".to_owned(),
            value: String::new(),
        });
    }
    rows
}

/// The rows of saved rules; prices as a form shows them to edit.
fn rows_of_rules(rules: &RuleSet, currency: Currency) -> Vec<RuleRow> {
    rules
        .conditions
        .iter()
        .map(|c| RuleRow {
            field: c.field.clone(),
            op: c.op.clone(),
            value: match &c.value {
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Number(n) if c.field == "price" => n
                    .as_i64()
                    .map(|minor| amount_input(minor, currency))
                    .unwrap_or_else(|| n.to_string()),
                other => other.to_string(),
            },
        })
        .collect()
}

/// The rows a posted form filled in (those with a value), as typed.
fn rows_of_form(fields: &[(String, String)]) -> Vec<RuleRow> {
    (0..MAX_CONDITIONS)
        .filter_map(|n| {
            let get = |name: &str| {
                field(fields, &format!("rule_{name}_{n}"))
                    .unwrap_or_default()
                    .to_owned()
            };
            let value = get("value");
            (!value.is_empty()).then(|| RuleRow {
                field: get("field"),
                op: get("op"),
                value,
            })
        })
        .collect()
}

/// The rules a form's rows describe (`rule_match`, and `rule_field_<n>`,
/// `rule_op_<n>`, `rule_value_<n>`; a row without a value is left out):
/// `None` when no row has a value. A price is typed in the store's
/// currency (`25.00`) and travels in minor units. A refusal in words, the
/// rules' own check ([`Rules::parse`]) naming the row as the form numbers
/// it.
fn rules_of(fields: &[(String, String)], currency: Currency) -> Result<Option<RuleSet>, String> {
    let mut conditions = Vec::new();
    let mut rows = Vec::new();
    for n in 0..MAX_CONDITIONS {
        let get = |name: &str| field(fields, &format!("rule_{name}_{n}")).unwrap_or_default();
        let raw = get("value");
        if raw.is_empty() {
            continue;
        }
        let value = if get("field") == "price" {
            match parse_amount(raw, currency) {
                Some(minor) => json!(minor),
                None => {
                    return Err(format!(
                        "Enter the price of condition {} as a number, e.g. 25.00.",
                        n + 1
                    ))
                }
            }
        } else {
            json!(raw)
        };
        conditions.push(RuleCondition {
            field: get("field").to_owned(),
            op: get("op").to_owned(),
            value,
        });
        rows.push(n);
    }
    if conditions.is_empty() {
        return Ok(None);
    }
    let rules = RuleSet {
        match_: field(fields, "rule_match").unwrap_or("all").to_owned(),
        conditions,
    };
    match Rules::parse(&rules) {
        Ok(_) => Ok(Some(rules)),
        Err(InvalidRules::Condition { index, problem }) => Err(format!(
            "Condition {}: {}",
            rows.get(index).map_or(index, |n| *n) + 1,
            sentence(&problem.to_string())
        )),
        Err(e) => Err(sentence(&e.to_string())),
    }
}

/// The new order of a manual collection's `current` members a form asks
/// for: `move` (a member) one step `to` `earlier` or `later`. `None` for a
/// form that makes none.
fn moved(current: &[ProductId], fields: &[(String, String)]) -> Option<Vec<ProductId>> {
    let product: ProductId = field(fields, "move")?.parse().ok()?;
    let at = current.iter().position(|p| *p == product)?;
    let to = match field(fields, "to")? {
        "earlier" => at.checked_sub(1)?,
        "later" if at + 1 < current.len() => at + 1,
        _ => return None,
    };
    let mut order = current.to_vec();
    order.swap(at, to);
    Some(order)
}

/// What a form's write answered: where to go on (`303`), or a refusal
/// (its status and words) to show on the page with what was typed.
enum Outcome {
    Done(String),
    Refused(StatusCode, String),
}

/// `Refused` for a client error of a write; any other error as it is.
fn refused(e: PodError) -> Result<Outcome, PodError> {
    match e.client_error() {
        Some(r) => Ok(Outcome::Refused(r.code.status(), sentence(&r.message))),
        None => Err(e),
    }
}

fn notice_of(pairs: &[(String, String)]) -> Option<&'static str> {
    Some(match field(pairs, "done")? {
        "created" => "The collection was created.",
        "saved" => "The collection was saved.",
        "rules" => "The rules were saved; the collection's products follow them.",
        "deleted" => "The collection was deleted.",
        "added" => "The product was added.",
        "removed" => "The product was taken out of the collection.",
        "ordered" => "The products were put in their new order.",
        "category_created" => "The category was created.",
        "category_saved" => "The category was saved.",
        "category_deleted" => "The category was deleted.",
        _ => return None,
    })
}

// ---------------------------------------------------------------------
// The list of collections.

#[derive(Serialize)]
struct CollectionRow {
    id: String,
    title: String,
    handle: String,
    kind: &'static str,
    sort: &'static str,
    products: i64,
}

/// The list page, with the new-collection form holding `form` (what was
/// typed, when it was refused).
async fn list_page(
    state: &AppState,
    tenant: &TenantContext,
    session: &AdminSession,
    after: Option<&str>,
    status: StatusCode,
    notice: Option<&str>,
    refusal: Option<(String, &[(String, String)])>,
) -> Result<Response, PodError> {
    let store = tenant.store_id;
    let after = after
        .map(|a| Slug::parse(a).map_err(|_| ApiError::invalid("that page of the list is unknown")))
        .transpose()?;
    let page = collections::sql::list(&state.db, store, after.as_ref(), COLLECTIONS_PAGE).await?;
    let ids: Vec<CollectionId> = page.items.iter().map(|c| c.id).collect();
    let counts = collections::sql::member_counts(&state.db, store, &ids).await?;
    let rows: Vec<CollectionRow> = page
        .items
        .iter()
        .map(|c| CollectionRow {
            id: c.id.to_string(),
            title: c.title.clone(),
            handle: c.handle.clone(),
            kind: kind_label(c.kind),
            sort: sort_label(c.sort_order),
            products: counts.get(&c.id).copied().unwrap_or(0),
        })
        .collect();
    let next = page.next_cursor.map(|c| {
        format!(
            "/admin/collections?after={}",
            mercato_tenants::forms::urlencode(&c)
        )
    });
    let (problem, form) = match refusal {
        Some((problem, fields)) => (Some(problem), fields),
        None => (None, &[][..]),
    };
    let values: BTreeMap<String, String> =
        form.iter().filter(|(k, _)| k != "csrf").cloned().collect();
    let body = render(
        tenant,
        Some(session),
        "collections.html",
        "Collections",
        context! {
            nav => "collections",
            notice,
            problem,
            collections => Value::from_serialize(&rows),
            next,
            form => values,
            rules => Value::from_serialize(padded(rows_of_form(form))),
            rule_fields => choices(&RULE_FIELDS),
            rule_ops => choices(&RULE_OPS),
            sorts => sort_choices(),
            currency => tenant.currency.as_str(),
        },
    )?;
    Ok(html(status, body))
}

/// `GET /admin/collections[?after=]`.
pub async fn list(
    State(state): State<AppState>,
    tenant: TenantContext,
    MaybeAdmin(session): MaybeAdmin,
    ApiQuery(pairs): ApiQuery<Vec<(String, String)>>,
) -> Response {
    let Some(session) = session else {
        return sign_in_first("/admin/collections");
    };
    list_page(
        &state,
        &tenant,
        &session,
        field(&pairs, "after").filter(|a| !a.is_empty()),
        StatusCode::OK,
        notice_of(&pairs),
        None,
    )
    .await
    .unwrap_or_else(|e| error_page(&tenant, e))
}

/// The collection a new-collection form describes, or the refusal in
/// words (the collection's own checks are the write's).
fn new_collection(
    fields: &[(String, String)],
    currency: Currency,
) -> Result<NewCollection, (StatusCode, String)> {
    let bad = |problem: &str| (StatusCode::BAD_REQUEST, problem.to_owned());
    let kind = CollectionKind::parse(field(fields, "kind").unwrap_or_default())
        .ok_or_else(|| bad("Choose whether the collection is manual or rule-based."))?;
    let sort_order = match field(fields, "sort_order").unwrap_or_default() {
        "" => None,
        raw => Some(SortOrder::parse(raw).ok_or_else(|| bad("Choose an order from the list."))?),
    };
    let rules = rules_of(fields, currency).map_err(|p| (StatusCode::BAD_REQUEST, p))?;
    Ok(NewCollection {
        handle: handle_or_from(fields, "title"),
        title: field(fields, "title").unwrap_or_default().to_owned(),
        description: field(fields, "description").unwrap_or_default().to_owned(),
        kind,
        rules,
        sort_order,
    })
}

/// `POST /admin/collections` (`title`, `handle` (made of the title when
/// empty), `description`, `kind`, `sort_order`, and the rules' rows): as
/// `POST /admin/api/collections`, then to the collection's page.
pub async fn create(
    State(state): State<AppState>,
    tenant: TenantContext,
    MaybeAdmin(session): MaybeAdmin,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(session) = session else {
        return sign_in_first("/admin/collections");
    };
    let result = async {
        let fields = session.form(&headers, &body)?;
        let outcome = match new_collection(&fields, tenant.currency) {
            Err((status, problem)) => Outcome::Refused(status, problem),
            Ok(new) => match collection_write::create(&state, tenant.store_id, new).await {
                Ok(c) => Outcome::Done(format!("/admin/collections/{}?done=created", c.id)),
                Err(e) => refused(e)?,
            },
        };
        match outcome {
            Outcome::Done(to) => Ok(see_other(&to)),
            Outcome::Refused(status, problem) => {
                list_page(
                    &state,
                    &tenant,
                    &session,
                    None,
                    status,
                    None,
                    Some((problem, &fields)),
                )
                .await
            }
        }
    }
    .await;
    result.unwrap_or_else(|e| error_page(&tenant, e))
}

// ---------------------------------------------------------------------
// A collection.

/// Which of a collection page's forms was refused, with what was typed.
#[derive(Clone, Copy)]
enum Posted<'a> {
    Nothing,
    Details(&'a [(String, String)]),
    Rules(&'a [(String, String)]),
}

/// Which of a collection page's forms was posted.
#[derive(Clone, Copy)]
enum Form {
    Details,
    Rules,
    Other,
}

impl Form {
    /// What a refusal of this form shows again.
    fn posted(self, fields: &[(String, String)]) -> Posted<'_> {
        match self {
            Form::Details => Posted::Details(fields),
            Form::Rules => Posted::Rules(fields),
            Form::Other => Posted::Nothing,
        }
    }
}

/// How a collection page is shown: its status, notice or refusal, the
/// form refused, the title search of the add form, and the page of
/// products.
struct View<'a> {
    status: StatusCode,
    notice: Option<&'static str>,
    problem: Option<String>,
    posted: Posted<'a>,
    q: Option<&'a str>,
    after: Option<&'a str>,
}

impl View<'_> {
    fn ok(notice: Option<&'static str>) -> Self {
        View {
            status: StatusCode::OK,
            notice,
            problem: None,
            posted: Posted::Nothing,
            q: None,
            after: None,
        }
    }
}

/// A product as a collection's lists show it.
#[derive(Serialize)]
struct Member {
    id: String,
    title: String,
    status: &'static str,
    price: Option<Money>,
}

fn member(p: &Product) -> Member {
    Member {
        id: p.id.to_string(),
        title: p.title.clone(),
        status: p.status.as_str(),
        price: p.variants.iter().map(|v| v.price).min_by_key(|m| m.minor),
    }
}

pub(super) fn collection_id(raw: &str) -> Result<CollectionId, PodError> {
    raw.parse()
        .map_err(|_| PodError::from(ApiError::not_found("collection")))
}

async fn collection_page(
    state: &AppState,
    tenant: &TenantContext,
    session: &AdminSession,
    id: CollectionId,
    view: View<'_>,
) -> Result<Response, PodError> {
    let store = tenant.store_id;
    let c: Collection = collections::sql::get(&state.db, store, id)
        .await?
        .ok_or_else(|| ApiError::not_found("collection"))?;
    let manual = c.kind == CollectionKind::Manual;
    // A manual collection is listed in the order staff set (the order its
    // buttons change); a rule one in its own sort order.
    let sort = if manual {
        SortOrder::Manual
    } else {
        c.sort_order
    };
    let page =
        collections::products_page(&state.db, store, id, None, sort, view.after, MEMBERS_PAGE)
            .await?;
    let members: Vec<Member> = page.items.iter().map(member).collect();
    let next = page.next_cursor.map(|cursor| {
        format!(
            "/admin/collections/{id}?after={}",
            mercato_tenants::forms::urlencode(&cursor)
        )
    });
    let last_page = next.is_none();
    let picker = if manual {
        let search = view.q.filter(|q| !q.is_empty());
        let found =
            crate::catalog::sql::list_products_titled(&state.db, store, None, search, None, PICKER)
                .await?;
        let inside: HashSet<ProductId> = collections::sql::member_set(&state.db, store, id).await?;
        found
            .items
            .iter()
            .filter(|p| !inside.contains(&p.id))
            .map(|p| context! { id => p.id.to_string(), title => p.title.clone(), status => p.status.as_str() })
            .collect()
    } else {
        Vec::new()
    };
    let details = |name: &str, saved: String| match view.posted {
        Posted::Details(fields) => field(fields, name).unwrap_or_default().to_owned(),
        _ => saved,
    };
    let (rule_match, rows) = match view.posted {
        Posted::Rules(fields) => (
            field(fields, "rule_match").unwrap_or("all").to_owned(),
            rows_of_form(fields),
        ),
        _ => match &c.rules {
            Some(r) => (r.match_.clone(), rows_of_rules(r, tenant.currency)),
            None => ("all".to_owned(), Vec::new()),
        },
    };
    let body = render(
        tenant,
        Some(session),
        "collections_show.html",
        &c.title,
        context! {
            nav => "collections",
            notice => view.notice,
            problem => view.problem,
            c => context! {
                id => c.id.to_string(),
                title => c.title.clone(),
                handle => c.handle.clone(),
                kind => kind_label(c.kind),
                manual,
            },
            d => context! {
                title => details("title", c.title.clone()),
                handle => details("handle", c.handle.clone()),
                description => details("description", c.description.clone()),
                sort_order => details("sort_order", c.sort_order.as_str().to_owned()),
            },
            members => Value::from_serialize(&members),
            first_page => view.after.is_none(),
            last_page,
            next,
            picker,
            q => view.q.unwrap_or_default(),
            rule_match,
            rules => Value::from_serialize(padded(rows)),
            rule_fields => choices(&RULE_FIELDS),
            rule_ops => choices(&RULE_OPS),
            sorts => sort_choices(),
            currency => tenant.currency.as_str(),
        },
    )?;
    Ok(html(view.status, body))
}

/// `GET /admin/collections/{id}[?q=][&after=]`.
pub async fn show(
    State(state): State<AppState>,
    tenant: TenantContext,
    MaybeAdmin(session): MaybeAdmin,
    Path(id): Path<String>,
    ApiQuery(pairs): ApiQuery<Vec<(String, String)>>,
) -> Response {
    let Some(session) = session else {
        return sign_in_first(&format!("/admin/collections/{id}"));
    };
    let result = async {
        let id = collection_id(&id)?;
        let q = field(&pairs, "q");
        if q.is_some_and(|q| q.chars().count() > MAX_SEARCH) {
            return Err(
                ApiError::invalid(format!("search for at most {MAX_SEARCH} characters")).into(),
            );
        }
        let view = View {
            q,
            after: field(&pairs, "after").filter(|a| !a.is_empty()),
            ..View::ok(notice_of(&pairs))
        };
        collection_page(&state, &tenant, &session, id, view).await
    }
    .await;
    result.unwrap_or_else(|e| error_page(&tenant, e))
}

/// Runs a collection form: the session's form (CSRF, same site), the
/// collection from the path, then `act`. A refusal is shown on the
/// collection's page (with what was typed in `form`); a
/// collection that is not there, or any other error, is the error page.
async fn collection_form(
    state: &AppState,
    tenant: &TenantContext,
    session: Option<AdminSession>,
    id: &str,
    request: (&HeaderMap, &[u8]),
    form: Form,
    act: impl AsyncFnOnce(&[(String, String)], CollectionId) -> Result<Outcome, PodError>,
) -> Response {
    let Some(session) = session else {
        return sign_in_first(&format!("/admin/collections/{id}"));
    };
    let result = async {
        let fields = session.form(request.0, request.1)?;
        let id = collection_id(id)?;
        match act(&fields, id).await? {
            Outcome::Done(to) => Ok(see_other(&to)),
            Outcome::Refused(status, problem) => {
                let view = View {
                    status,
                    problem: Some(problem),
                    posted: form.posted(&fields),
                    ..View::ok(None)
                };
                collection_page(state, tenant, &session, id, view).await
            }
        }
    }
    .await;
    result.unwrap_or_else(|e| error_page(tenant, e))
}

fn done(id: CollectionId, what: &str) -> Outcome {
    Outcome::Done(format!("/admin/collections/{id}?done={what}"))
}

/// `POST /admin/collections/{id}/edit` (`title`, `handle`, `description`,
/// `sort_order`): as `PATCH /admin/api/collections/{id}`.
pub async fn edit(
    State(state): State<AppState>,
    tenant: TenantContext,
    MaybeAdmin(session): MaybeAdmin,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    collection_form(
        &state,
        &tenant,
        session,
        &id,
        (&headers, &body),
        Form::Details,
        async |fields, id| {
            let get = |name: &str| field(fields, name).unwrap_or_default().to_owned();
            let Some(sort_order) = SortOrder::parse(&get("sort_order")) else {
                return Ok(Outcome::Refused(
                    StatusCode::BAD_REQUEST,
                    "Choose an order from the list.".to_owned(),
                ));
            };
            let patch = CollectionPatch {
                handle: Some(get("handle")),
                title: Some(get("title")),
                description: Some(get("description")),
                rules: None,
                sort_order: Some(sort_order),
            };
            match collection_write::update(&state, tenant.store_id, id, patch).await {
                Ok(_) => Ok(done(id, "saved")),
                Err(e) => refused(e),
            }
        },
    )
    .await
}

/// `POST /admin/collections/{id}/rules` (`rule_match` and the rows): the
/// rules of a rule collection (`422` for a manual one), as `PATCH
/// /admin/api/collections/{id}` with `rules`; its products follow them.
pub async fn save_rules(
    State(state): State<AppState>,
    tenant: TenantContext,
    MaybeAdmin(session): MaybeAdmin,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    collection_form(
        &state,
        &tenant,
        session,
        &id,
        (&headers, &body),
        Form::Rules,
        async |fields, id| {
            let rules = match rules_of(fields, tenant.currency) {
                Ok(Some(rules)) => rules,
                // No condition: the rules' own check says what is missing.
                Ok(None) => RuleSet {
                    match_: field(fields, "rule_match").unwrap_or("all").to_owned(),
                    conditions: Vec::new(),
                },
                Err(problem) => return Ok(Outcome::Refused(StatusCode::BAD_REQUEST, problem)),
            };
            let patch = CollectionPatch {
                rules: Some(rules),
                ..CollectionPatch::default()
            };
            match collection_write::update(&state, tenant.store_id, id, patch).await {
                Ok(_) => Ok(done(id, "rules")),
                Err(e) => refused(e),
            }
        },
    )
    .await
}

/// `POST /admin/collections/{id}/delete` (`confirm`): as `DELETE
/// /admin/api/collections/{id}`; its products stay.
pub async fn delete(
    State(state): State<AppState>,
    tenant: TenantContext,
    MaybeAdmin(session): MaybeAdmin,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    collection_form(
        &state,
        &tenant,
        session,
        &id,
        (&headers, &body),
        Form::Other,
        async |fields, id| {
            if field(fields, "confirm") != Some("yes") {
                return Ok(Outcome::Refused(
                    StatusCode::BAD_REQUEST,
                    "Tick the box to confirm that the collection goes for good.".to_owned(),
                ));
            }
            collection_write::delete(&state, tenant.store_id, id).await?;
            Ok(Outcome::Done("/admin/collections?done=deleted".to_owned()))
        },
    )
    .await
}

/// `POST /admin/collections/{id}/products` (`product_id`, one or more):
/// appended to a manual collection, as `POST
/// /admin/api/collections/{id}/products`.
pub async fn add_product(
    State(state): State<AppState>,
    tenant: TenantContext,
    MaybeAdmin(session): MaybeAdmin,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    collection_form(
        &state,
        &tenant,
        session,
        &id,
        (&headers, &body),
        Form::Other,
        async |fields, id| {
            let chosen: Option<Vec<ProductId>> = fields
                .iter()
                .filter(|(k, v)| k == "product_id" && !v.trim().is_empty())
                .map(|(_, v)| v.trim().parse().ok())
                .collect();
            let chosen = match chosen {
                Some(c) if !c.is_empty() => c,
                Some(_) => {
                    return Ok(Outcome::Refused(
                        StatusCode::BAD_REQUEST,
                        "Choose a product to add.".to_owned(),
                    ))
                }
                None => {
                    return Ok(Outcome::Refused(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "Choose a product from the list.".to_owned(),
                    ))
                }
            };
            match collection_write::add_products(&state, tenant.store_id, id, &chosen).await {
                Ok(_) => Ok(done(id, "added")),
                Err(e) => refused(e),
            }
        },
    )
    .await
}

/// `POST /admin/collections/{id}/products/order` (`move`, `to` =
/// `earlier` / `later`): the whole new order, as `PUT
/// /admin/api/collections/{id}/products/order`.
pub async fn order(
    State(state): State<AppState>,
    tenant: TenantContext,
    MaybeAdmin(session): MaybeAdmin,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    collection_form(
        &state,
        &tenant,
        session,
        &id,
        (&headers, &body),
        Form::Other,
        async |fields, id| {
            // The write checks the order against the members under the
            // collection's lock: a change meanwhile is refused, not lost.
            let current = collections::sql::member_ids(&state.db, tenant.store_id, id).await?;
            let Some(order) = moved(&current, fields) else {
                return Ok(Outcome::Refused(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "That product cannot move that way.".to_owned(),
                ));
            };
            match collection_write::set_order(&state, tenant.store_id, id, &order).await {
                Ok(()) => Ok(done(id, "ordered")),
                Err(e) => refused(e),
            }
        },
    )
    .await
}

/// `POST /admin/collections/{id}/products/{product}/delete`: out of a
/// manual collection, as `DELETE /admin/api/collections/{id}/products/{product}`.
pub async fn remove_product(
    State(state): State<AppState>,
    tenant: TenantContext,
    MaybeAdmin(session): MaybeAdmin,
    Path((id, product)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    collection_form(
        &state,
        &tenant,
        session,
        &id,
        (&headers, &body),
        Form::Other,
        async |_, id| {
            let Ok(product) = product.parse::<ProductId>() else {
                return Ok(Outcome::Refused(
                    StatusCode::NOT_FOUND,
                    "That product is not in this collection.".to_owned(),
                ));
            };
            match collection_write::remove_product(&state, tenant.store_id, id, product).await {
                Ok(()) => Ok(done(id, "removed")),
                Err(e) => refused(e),
            }
        },
    )
    .await
}

// ---------------------------------------------------------------------
// Categories.

/// A category of the tree as the page shows it, with its sub-categories.
#[derive(Serialize)]
struct TreeNode {
    id: String,
    name: String,
    handle: String,
    products: i64,
    children: Vec<TreeNode>,
}

/// A category a parent list offers: its path of names.
#[derive(Serialize)]
struct ParentChoice {
    id: String,
    label: String,
}

/// Each category once, depth first: (id, parent, path of names, depth,
/// node).
type Flat<'a> = Vec<(
    CategoryId,
    Option<CategoryId>,
    String,
    usize,
    &'a CategoryNode,
)>;

fn flatten<'a>(
    nodes: &'a [CategoryNode],
    parent: Option<(CategoryId, &str)>,
    depth: usize,
    out: &mut Flat<'a>,
) {
    for n in nodes {
        let path = match parent {
            Some((_, above)) => format!("{above} › {}", n.name),
            None => n.name.clone(),
        };
        out.push((n.id, parent.map(|(p, _)| p), path.clone(), depth, n));
        flatten(&n.children, Some((n.id, &path)), depth + 1, out);
    }
}

fn tree_nodes(nodes: &[CategoryNode], counts: &HashMap<CategoryId, i64>) -> Vec<TreeNode> {
    nodes
        .iter()
        .map(|n| TreeNode {
            id: n.id.to_string(),
            name: n.name.clone(),
            handle: n.handle.clone(),
            products: counts.get(&n.id).copied().unwrap_or(0),
            children: tree_nodes(&n.children, counts),
        })
        .collect()
}

/// The categories below `id` (itself included).
fn subtree(flat: &Flat<'_>, id: CategoryId) -> HashSet<CategoryId> {
    let mut below: HashSet<CategoryId> = HashSet::from([id]);
    // Depth first: a category's descendants follow it before its next
    // sibling, so one pass finds them.
    for (c, parent, _, _, _) in flat {
        if parent.is_some_and(|p| below.contains(&p)) {
            below.insert(*c);
        }
    }
    below
}

/// How the categories page is shown.
struct CategoriesView<'a> {
    status: StatusCode,
    notice: Option<&'static str>,
    problem: Option<String>,
    /// The category whose edit form is open.
    edit: Option<CategoryId>,
    /// What was typed in the refused form: the new category's (`edit` is
    /// `None`) or the edited one's.
    typed: Option<&'a [(String, String)]>,
}

async fn categories_view(
    state: &AppState,
    tenant: &TenantContext,
    session: &AdminSession,
    view: CategoriesView<'_>,
) -> Result<Response, PodError> {
    let store = tenant.store_id;
    let tree = categories::tree(&state.db, store).await?;
    let counts = categories::sql::product_counts(&state.db, store).await?;
    let mut flat = Flat::new();
    flatten(&tree.categories, None, 1, &mut flat);
    let typed = |name: &str, saved: String, for_edit: bool| match view.typed {
        Some(fields) if for_edit == view.edit.is_some() => {
            field(fields, name).unwrap_or_default().to_owned()
        }
        _ => saved,
    };
    let edit = match view.edit {
        None => None,
        Some(id) => {
            let Some((_, parent, _, _, node)) = flat.iter().find(|(c, ..)| *c == id) else {
                return Err(ApiError::not_found("category").into());
            };
            let below = subtree(&flat, id);
            let parent_now = parent.map(|p| p.to_string()).unwrap_or_default();
            let parent_id = typed("parent_id", parent_now, true);
            let parents: Vec<_> = flat
                .iter()
                .filter(|(c, ..)| !below.contains(c))
                .map(|(c, _, path, _, _)| {
                    context! { id => c.to_string(), label => path.clone(),
                    selected => c.to_string() == parent_id }
                })
                .collect();
            let filed = categories::sql::filed_under(&state.db, store, id, FILED_SHOWN).await?;
            Some(context! {
                id => id.to_string(),
                heading => node.name.clone(),
                name => typed("name", node.name.clone(), true),
                handle => typed("handle", node.handle.clone(), true),
                position => typed("position", node.position.to_string(), true),
                root => parent_id.is_empty(),
                parents,
                products => counts.get(&id).copied().unwrap_or(0),
                leaf => node.children.is_empty(),
                filed => filed.iter().map(|(p, title, status)| context! {
                    id => p.to_string(), title => title.clone(), status => status.clone(),
                }).collect::<Vec<_>>(),
            })
        }
    };
    let new_parent = typed("parent_id", String::new(), false);
    let new_parents: Vec<ParentChoice> = flat
        .iter()
        .filter(|(_, _, _, depth, _)| *depth < MAX_DEPTH)
        .map(|(c, _, path, _, _)| ParentChoice {
            id: c.to_string(),
            label: path.clone(),
        })
        .collect();
    let body = render(
        tenant,
        Some(session),
        "categories.html",
        "Categories",
        context! {
            nav => "collections",
            notice => view.notice,
            problem => view.problem,
            tree => Value::from_serialize(tree_nodes(&tree.categories, &counts)),
            new => context! {
                name => typed("name", String::new(), false),
                handle => typed("handle", String::new(), false),
                position => typed("position", String::new(), false),
                parent_id => new_parent,
            },
            new_parents => Value::from_serialize(&new_parents),
            edit,
        },
    )?;
    Ok(html(view.status, body))
}

fn category_id(raw: &str) -> Result<CategoryId, PodError> {
    raw.parse()
        .map_err(|_| PodError::from(ApiError::not_found("category")))
}

/// `GET /admin/categories[?edit=]`: the tree, the form for a new
/// category, and the form of the category `edit` names.
pub async fn categories_page(
    State(state): State<AppState>,
    tenant: TenantContext,
    MaybeAdmin(session): MaybeAdmin,
    ApiQuery(pairs): ApiQuery<Vec<(String, String)>>,
) -> Response {
    let Some(session) = session else {
        return sign_in_first("/admin/categories");
    };
    let result = async {
        let edit = field(&pairs, "edit")
            .filter(|e| !e.is_empty())
            .map(category_id)
            .transpose()?;
        let view = CategoriesView {
            status: StatusCode::OK,
            notice: notice_of(&pairs),
            problem: None,
            edit,
            typed: None,
        };
        categories_view(&state, &tenant, &session, view).await
    }
    .await;
    result.unwrap_or_else(|e| error_page(&tenant, e))
}

/// A category form's `parent_id`: `None` for a root; a refusal for what
/// is not an id.
fn parent_of(fields: &[(String, String)]) -> Result<Option<CategoryId>, String> {
    match field(fields, "parent_id").unwrap_or_default() {
        "" => Ok(None),
        raw => raw
            .parse()
            .map(Some)
            .map_err(|_| "Choose a parent category from the list.".to_owned()),
    }
}

/// A category form's `position` (0 when empty), or the refusal in words.
fn position_of(fields: &[(String, String)]) -> Result<Option<i32>, String> {
    match field(fields, "position").unwrap_or_default() {
        "" => Ok(None),
        raw => raw
            .parse()
            .map(Some)
            .map_err(|_| "Enter the position as a whole number, e.g. 0.".to_owned()),
    }
}

/// Runs a categories form: the session's form, then `act`; a refusal is
/// shown on the page with what was typed (in the edit form of `edit`, or
/// the new category's form).
async fn category_form(
    state: &AppState,
    tenant: &TenantContext,
    session: Option<AdminSession>,
    request: (&HeaderMap, &[u8]),
    edit: Option<&str>,
    act: impl AsyncFnOnce(&[(String, String)], Option<CategoryId>) -> Result<Outcome, PodError>,
) -> Response {
    let Some(session) = session else {
        return sign_in_first("/admin/categories");
    };
    let result = async {
        let fields = session.form(request.0, request.1)?;
        let edit = edit.map(category_id).transpose()?;
        match act(&fields, edit).await? {
            Outcome::Done(to) => Ok(see_other(&to)),
            Outcome::Refused(status, problem) => {
                let view = CategoriesView {
                    status,
                    notice: None,
                    problem: Some(problem),
                    edit,
                    typed: Some(&fields),
                };
                categories_view(state, tenant, &session, view).await
            }
        }
    }
    .await;
    result.unwrap_or_else(|e| error_page(tenant, e))
}

/// `POST /admin/categories` (`name`, `handle` (made of the name when
/// empty), `parent_id` (empty: a top-level category), `position`): as
/// `POST /admin/api/categories`.
pub async fn create_category(
    State(state): State<AppState>,
    tenant: TenantContext,
    MaybeAdmin(session): MaybeAdmin,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    category_form(
        &state,
        &tenant,
        session,
        (&headers, &body),
        None,
        async |fields, _| {
            let (parent_id, position) = match (parent_of(fields), position_of(fields)) {
                (Ok(p), Ok(n)) => (p, n),
                (Err(problem), _) | (_, Err(problem)) => {
                    return Ok(Outcome::Refused(StatusCode::BAD_REQUEST, problem))
                }
            };
            let new = NewCategory {
                handle: handle_or_from(fields, "name"),
                name: field(fields, "name").unwrap_or_default().to_owned(),
                parent_id,
                position,
            };
            match category_write::create(&state, tenant.store_id, new).await {
                Ok(c) => Ok(Outcome::Done(format!(
                    "/admin/categories?edit={}&done=category_created",
                    c.id
                ))),
                Err(e) => refused(e),
            }
        },
    )
    .await
}

/// `POST /admin/categories/{id}` (`name`, `handle`, `parent_id`,
/// `position`): as `PATCH /admin/api/categories/{id}`; the parent is sent
/// only when it changes (a move re-derives the products below).
pub async fn edit_category(
    State(state): State<AppState>,
    tenant: TenantContext,
    MaybeAdmin(session): MaybeAdmin,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    category_form(
        &state,
        &tenant,
        session,
        (&headers, &body),
        Some(&id),
        async |fields, id| {
            let id = id.ok_or_else(|| PodError::internal("a category form without its id"))?;
            let current = categories::sql::get(&state.db, tenant.store_id, id)
                .await?
                .ok_or_else(|| ApiError::not_found("category"))?;
            let (parent_id, position) = match (parent_of(fields), position_of(fields)) {
                (Ok(p), Ok(n)) => (p, n),
                (Err(problem), _) | (_, Err(problem)) => {
                    return Ok(Outcome::Refused(StatusCode::BAD_REQUEST, problem))
                }
            };
            let name = field(fields, "name").unwrap_or_default().to_owned();
            let handle = field(fields, "handle").unwrap_or_default().to_owned();
            let patch = CategoryPatch {
                name: (name != current.name).then_some(name),
                handle: (handle != current.handle).then_some(handle),
                parent_id: (parent_id != current.parent_id).then_some(parent_id),
                position: position.filter(|p| *p != current.position),
            };
            match category_write::update(&state, tenant.store_id, id, patch).await {
                Ok(_) => Ok(Outcome::Done(format!(
                    "/admin/categories?edit={id}&done=category_saved"
                ))),
                Err(e) => refused(e),
            }
        },
    )
    .await
}

/// `POST /admin/categories/{id}/delete`: as `DELETE
/// /admin/api/categories/{id}` (a leaf without products only).
pub async fn delete_category(
    State(state): State<AppState>,
    tenant: TenantContext,
    MaybeAdmin(session): MaybeAdmin,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    category_form(
        &state,
        &tenant,
        session,
        (&headers, &body),
        Some(&id),
        async |_, id| {
            let id = id.ok_or_else(|| PodError::internal("a category form without its id"))?;
            match category_write::delete(&state, tenant.store_id, id).await {
                Ok(()) => Ok(Outcome::Done(
                    "/admin/categories?done=category_deleted".to_owned(),
                )),
                Err(e) => refused(e),
            }
        },
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::admin::test_form as form;

    #[test]
    fn handles_are_made_of_titles() {
        assert_eq!(handle_from("Summer Sale 2025!"), "summer-sale-2025");
        assert_eq!(handle_from("  --Lamps & Lights--  "), "lamps-lights");
        assert_eq!(handle_from("日本"), "");
        let long = handle_from(&"ab ".repeat(40));
        assert!(long.len() <= 63 && !long.ends_with('-'), "{long}");
        assert!(Slug::parse(&long).is_ok());
    }

    #[test]
    fn rule_rows_read_prices_in_the_store_currency_and_skip_blank_rows() {
        let usd = Currency::USD;
        let f = form(&[
            ("rule_match", "any"),
            ("rule_field_0", "vendor"),
            ("rule_op_0", "equals"),
            ("rule_value_0", "Acme"),
            ("rule_field_1", "tag"),
            ("rule_op_1", "equals"),
            ("rule_value_1", ""),
            ("rule_field_2", "price"),
            ("rule_op_2", "less_than"),
            ("rule_value_2", "25.50"),
        ]);
        let rules = rules_of(&f, usd).expect("valid").expect("rules");
        assert_eq!(rules.match_, "any");
        assert_eq!(rules.conditions.len(), 2);
        assert_eq!(rules.conditions[1].value, json!(2550));
        // Back to rows as the form shows them.
        let rows = rows_of_rules(&rules, usd);
        assert_eq!(rows[1].value, "25.50");
        assert_eq!(rows, rows_of_form(&f));
        assert_eq!(padded(rows).len(), 2 + BLANK_RULE_ROWS);
        assert_eq!(rules_of(&form(&[("rule_match", "all")]), usd), Ok(None));
    }

    #[test]
    fn a_bad_rule_row_is_named_as_the_form_numbers_it() {
        let usd = Currency::USD;
        let f = form(&[
            ("rule_field_1", "vendor"),
            ("rule_op_1", "equals"),
            ("rule_value_1", "Acme"),
            ("rule_field_3", "vendor"),
            ("rule_op_3", "greater_than"),
            ("rule_value_3", "Acme"),
        ]);
        let problem = rules_of(&f, usd).expect_err("refused");
        assert!(
            problem.starts_with("Condition 4: Op `greater_than`"),
            "{problem}"
        );
        let price = form(&[
            ("rule_field_0", "price"),
            ("rule_op_0", "less_than"),
            ("rule_value_0", "cheap"),
        ]);
        assert!(rules_of(&price, usd)
            .expect_err("refused")
            .contains("price of condition 1"));
        let bad_match = form(&[
            ("rule_match", "some"),
            ("rule_field_0", "tag"),
            ("rule_op_0", "equals"),
            ("rule_value_0", "x"),
        ]);
        assert!(rules_of(&bad_match, usd)
            .expect_err("refused")
            .starts_with("Rules.match"));
    }

    #[test]
    fn rule_rows_stop_at_the_most_conditions() {
        let many: Vec<RuleRow> = (0..MAX_CONDITIONS)
            .map(|n| RuleRow {
                field: "tag".into(),
                op: "equals".into(),
                value: n.to_string(),
            })
            .collect();
        assert_eq!(padded(many).len(), MAX_CONDITIONS);
        assert_eq!(padded(Vec::new()).len(), BLANK_RULE_ROWS);
    }

    #[test]
    fn members_move_one_step_within_the_list() {
        let ids: Vec<ProductId> = (0..3).map(|_| ProductId::new()).collect();
        let (a, b, c) = (ids[0], ids[1], ids[2]);
        let step = |p: ProductId, to: &str| form(&[("move", &p.to_string()), ("to", to)]);
        assert_eq!(moved(&ids, &step(b, "earlier")), Some(vec![b, a, c]));
        assert_eq!(moved(&ids, &step(b, "later")), Some(vec![a, c, b]));
        assert_eq!(moved(&ids, &step(a, "earlier")), None);
        assert_eq!(moved(&ids, &step(c, "later")), None);
        assert_eq!(moved(&ids, &step(ProductId::new(), "later")), None);
        assert_eq!(moved(&ids, &step(a, "sideways")), None);
        assert_eq!(moved(&ids, &form(&[("move", "x"), ("to", "later")])), None);
    }

    #[test]
    fn a_category_below_another_is_found_with_its_path() {
        let node = |name: &str, children: Vec<CategoryNode>| CategoryNode {
            id: CategoryId::new(),
            handle: handle_from(name),
            name: name.to_owned(),
            position: 0,
            children,
        };
        let tree = vec![
            node(
                "Lighting",
                vec![
                    node("Lamps", vec![node("Desk", vec![])]),
                    node("Bulbs", vec![]),
                ],
            ),
            node("Kitchen", vec![]),
        ];
        let mut flat = Flat::new();
        flatten(&tree, None, 1, &mut flat);
        let paths: Vec<(&str, usize)> = flat.iter().map(|f| (f.2.as_str(), f.3)).collect();
        assert_eq!(
            paths,
            [
                ("Lighting", 1),
                ("Lighting › Lamps", 2),
                ("Lighting › Lamps › Desk", 3),
                ("Lighting › Bulbs", 2),
                ("Kitchen", 1)
            ]
        );
        let below = subtree(&flat, flat[0].0);
        assert_eq!(below.len(), 4);
        assert!(!below.contains(&flat[4].0));
        assert_eq!(subtree(&flat, flat[1].0).len(), 2);
    }
}
