//! Editing a product in the admin: its fields, its variants (price,
//! compare-at price, SKU; add one, remove one), its images (remove, put in
//! order: by drag and drop with the admin's script, by "earlier" and
//! "later" buttons without it) and deleting it. Every form writes through
//! the same `product_write` function as its `/admin/api` twin.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use bytes::Bytes;
use mercato_tenants::forms::{field, see_other};
use mercato_tenants::{ApiError, MediaId, ProductId, ProductStatus, VariantId};
use serde_json::json;

use super::pages::{error_page, sign_in_first};
use super::products::{prices, product_id, product_page, starting_stock};
use super::session::{AdminSession, MaybeAdmin};
use crate::catalog::model::{NewVariant, ProductPatch, VariantPatch};
use crate::error::PodError;
use crate::product_write;
use crate::state::AppState;
use crate::tenancy::TenantContext;

/// What a form's write answered: where to go on (`303`), or a refusal to
/// show on the product's page with the form's own words.
enum Outcome {
    Done(String),
    Refused(String),
}

/// Runs a product form: the session's form (CSRF, same site), the product
/// id from the path, then `act`. A client error of the write is shown on
/// the product's page; anything else is the error page.
async fn product_form(
    state: &AppState,
    tenant: &TenantContext,
    session: Option<AdminSession>,
    id: &str,
    headers: &HeaderMap,
    body: &[u8],
    act: impl AsyncFnOnce(Vec<(String, String)>, ProductId) -> Result<Outcome, PodError>,
) -> Response {
    let Some(session) = session else {
        return sign_in_first(&format!("/admin/products/{id}"));
    };
    let result = async {
        let fields = session.form(headers, body)?;
        let product = product_id(id)?;
        let problem = match act(fields, product).await {
            Ok(Outcome::Done(to)) => return Ok(see_other(&to)),
            Ok(Outcome::Refused(problem)) => (StatusCode::BAD_REQUEST, problem),
            Err(e) => match e.client_error() {
                // The product is gone: nothing to show it on.
                Some(refusal) if refusal.code.status() != StatusCode::NOT_FOUND => (
                    refusal.code.status(),
                    mercato_tenants::forms::sentence(&refusal.message),
                ),
                _ => return Err(e),
            },
        };
        product_page(
            state,
            tenant,
            &session,
            product,
            problem.0,
            None,
            Some(problem.1),
        )
        .await
    }
    .await;
    result.unwrap_or_else(|e| error_page(tenant, e))
}

fn done(product: ProductId, what: &str) -> Outcome {
    Outcome::Done(format!("/admin/products/{product}?done={what}"))
}

/// The product fields a details form describes.
fn patch_of(fields: &[(String, String)]) -> Result<ProductPatch, String> {
    let get = |name: &str| field(fields, name).unwrap_or_default().to_owned();
    let status = ProductStatus::parse(&get("status")).ok_or("Choose a status from the list.")?;
    let tags: Vec<String> = get("tags")
        .split(',')
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty())
        .collect();
    Ok(ProductPatch {
        title: Some(get("title")),
        description: Some(get("description")),
        status: Some(status),
        vendor: Some(get("vendor")),
        product_type: Some(get("product_type")),
        tags: Some(tags),
        ..Default::default()
    })
}

/// `POST /admin/products/{id}/edit` (`title`, `description`, `status`,
/// `vendor`, `product_type`, `tags`): as `PATCH /admin/api/products/{id}`.
pub async fn edit(
    State(state): State<AppState>,
    tenant: TenantContext,
    MaybeAdmin(session): MaybeAdmin,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    product_form(
        &state,
        &tenant,
        session,
        &id,
        &headers,
        &body,
        async |fields, product| {
            let mut patch = match patch_of(&fields) {
                Ok(p) => p,
                Err(problem) => return Ok(Outcome::Refused(problem)),
            };
            product_write::update(&state, tenant.store_id, product, &mut patch).await?;
            Ok(done(product, "saved"))
        },
    )
    .await
}

/// `POST /admin/products/{id}/delete` (`confirm`): as `DELETE
/// /admin/api/products/{id}`.
pub async fn delete(
    State(state): State<AppState>,
    tenant: TenantContext,
    MaybeAdmin(session): MaybeAdmin,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    product_form(
        &state,
        &tenant,
        session,
        &id,
        &headers,
        &body,
        async |fields, product| {
            if field(&fields, "confirm") != Some("yes") {
                return Ok(Outcome::Refused(
                    "Tick the box to confirm that the product goes for good.".to_owned(),
                ));
            }
            product_write::delete(&state, tenant.store_id, product).await?;
            Ok(Outcome::Done("/admin/products?done=deleted".to_owned()))
        },
    )
    .await
}

/// The variant a path names, if it is one of `product`'s.
async fn variant_of(
    state: &AppState,
    store: mercato_tenants::StoreId,
    product: ProductId,
    raw: &str,
) -> Result<VariantId, PodError> {
    let variant: VariantId = raw
        .parse()
        .map_err(|_| PodError::from(ApiError::not_found("variant")))?;
    // One indexed read; the write locks the product and checks again.
    let owner = crate::catalog::sql::product_of_variant(&state.db, store, variant).await?;
    if owner == Some(product) {
        Ok(variant)
    } else {
        Err(ApiError::not_found("variant").into())
    }
}

/// `POST /admin/products/{id}/variants/{variant}` (`price`, `compare_at`,
/// `sku`): as `PATCH /admin/api/variants/{id}`.
pub async fn save_variant(
    State(state): State<AppState>,
    tenant: TenantContext,
    MaybeAdmin(session): MaybeAdmin,
    Path((id, variant)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    product_form(
        &state,
        &tenant,
        session,
        &id,
        &headers,
        &body,
        async |fields, product| {
            let variant = variant_of(&state, tenant.store_id, product, &variant).await?;
            let get = |name: &str| field(&fields, name).unwrap_or_default().to_owned();
            let (price, compare_at) = match prices(&fields, tenant.currency) {
                Ok(p) => p,
                Err(problem) => return Ok(Outcome::Refused(problem)),
            };
            let patch: VariantPatch = match serde_json::from_value(json!({
                "sku": get("sku"), "price_minor": price, "compare_at_minor": compare_at,
            })) {
                Ok(p) => p,
                Err(_) => {
                    return Ok(Outcome::Refused(
                        "A SKU is 1 to 64 letters, digits, dashes, dots or underscores.".to_owned(),
                    ))
                }
            };
            product_write::update_variant(&state, tenant.store_id, variant, &patch).await?;
            Ok(done(product, "variant_saved"))
        },
    )
    .await
}

/// `POST /admin/products/{id}/variants/{variant}/delete`: as `DELETE
/// /admin/api/variants/{id}` (a product keeps one).
pub async fn remove_variant(
    State(state): State<AppState>,
    tenant: TenantContext,
    MaybeAdmin(session): MaybeAdmin,
    Path((id, variant)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    product_form(
        &state,
        &tenant,
        session,
        &id,
        &headers,
        &body,
        async |_, product| {
            let variant = variant_of(&state, tenant.store_id, product, &variant).await?;
            product_write::remove_variant(&state, tenant.store_id, variant).await?;
            Ok(done(product, "variant_removed"))
        },
    )
    .await
}

/// The new variant an add-variant form describes: a value for each of
/// the product's options (`option_<n>`), price, compare-at price, SKU and
/// starting stock.
fn new_variant(
    fields: &[(String, String)],
    options: &[String],
    currency: mercato_tenants::Currency,
) -> Result<NewVariant, String> {
    let get = |name: &str| field(fields, name).unwrap_or_default().to_owned();
    let (price, compare_at) = prices(fields, currency)?;
    let stock = starting_stock(fields)?;
    let mut values = serde_json::Map::new();
    for (n, name) in options.iter().enumerate() {
        let value = get(&format!("option_{n}"));
        if value.is_empty() {
            return Err(format!("Enter the variant's {name}."));
        }
        values.insert(name.clone(), value.into());
    }
    serde_json::from_value(json!({
        "sku": get("sku"), "price_minor": price, "compare_at_minor": compare_at,
        "option_values": values, "stock": stock,
    }))
    .map_err(|e| {
        let text = e.to_string();
        let first = text.split(" at line").next().unwrap_or(&text).to_owned();
        format!("The variant is not valid: {first}.")
    })
}

/// `POST /admin/products/{id}/variants` (`option_<n>`, `price`,
/// `compare_at`, `sku`, `stock`): as `POST
/// /admin/api/products/{id}/variants`, and a value the option does not
/// list yet is added to it.
pub async fn add_variant(
    State(state): State<AppState>,
    tenant: TenantContext,
    MaybeAdmin(session): MaybeAdmin,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    product_form(
        &state,
        &tenant,
        session,
        &id,
        &headers,
        &body,
        async |fields, product| {
            let current = product_write::staff_product(&state, tenant.store_id, product).await?;
            let options: Vec<String> = current.options.iter().map(|o| o.name.clone()).collect();
            let mut new = match new_variant(&fields, &options, tenant.currency) {
                Ok(v) => v,
                Err(problem) => return Ok(Outcome::Refused(problem)),
            };
            product_write::add_variant(
                &state,
                tenant.store_id,
                tenant.currency,
                product,
                &mut new,
                true,
            )
            .await?;
            Ok(done(product, "variant_added"))
        },
    )
    .await
}

/// `POST /admin/products/{id}/images/{image}/delete`: as `DELETE
/// /admin/api/products/{id}/images/{image}`.
pub async fn remove_image(
    State(state): State<AppState>,
    tenant: TenantContext,
    MaybeAdmin(session): MaybeAdmin,
    Path((id, image)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    product_form(
        &state,
        &tenant,
        session,
        &id,
        &headers,
        &body,
        async |_, product| {
            let image: MediaId = image
                .parse()
                .map_err(|_| PodError::from(ApiError::not_found("image")))?;
            product_write::remove_image(&state, tenant.store_id, product, image).await?;
            Ok(done(product, "image_removed"))
        },
    )
    .await
}

/// The images' new order a form asks for: `order` (every id, comma
/// separated: the script's drag and drop), or `move` with `to` =
/// `earlier` / `later` (the buttons). `None` for a form that makes none.
pub fn new_order(current: &[MediaId], fields: &[(String, String)]) -> Option<Vec<MediaId>> {
    if let Some(order) = field(fields, "order").filter(|o| !o.is_empty()) {
        return order
            .split(',')
            .map(|id| id.trim().parse().ok())
            .collect::<Option<Vec<MediaId>>>();
    }
    let moved: MediaId = field(fields, "move")?.parse().ok()?;
    let at = current.iter().position(|m| *m == moved)?;
    let to = match field(fields, "to")? {
        "earlier" => at.checked_sub(1)?,
        "later" if at + 1 < current.len() => at + 1,
        _ => return None,
    };
    let mut order = current.to_vec();
    order.swap(at, to);
    Some(order)
}

/// `POST /admin/products/{id}/images/order`: as `PUT
/// /admin/api/products/{id}/images/order`.
pub async fn order_images(
    State(state): State<AppState>,
    tenant: TenantContext,
    MaybeAdmin(session): MaybeAdmin,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    product_form(
        &state,
        &tenant,
        session,
        &id,
        &headers,
        &body,
        async |fields, product| {
            let current = product_write::staff_product(&state, tenant.store_id, product).await?;
            let ids: Vec<MediaId> = current.images.iter().map(|i| i.id).collect();
            let Some(order) = new_order(&ids, &fields) else {
                return Ok(Outcome::Refused(
                    "That image cannot move that way.".to_owned(),
                ));
            };
            product_write::order_images(&state, tenant.store_id, product, &order).await?;
            Ok(done(product, "images_ordered"))
        },
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::admin::test_form as form;

    #[test]
    fn images_move_one_step_or_take_a_whole_order() {
        let ids: Vec<MediaId> = (0..3).map(|_| MediaId::new()).collect();
        let (a, b, c) = (ids[0], ids[1], ids[2]);
        let up = form(&[("move", &b.to_string()), ("to", "earlier")]);
        assert_eq!(new_order(&ids, &up), Some(vec![b, a, c]));
        let down = form(&[("move", &b.to_string()), ("to", "later")]);
        assert_eq!(new_order(&ids, &down), Some(vec![a, c, b]));
        let first_up = form(&[("move", &a.to_string()), ("to", "earlier")]);
        assert_eq!(new_order(&ids, &first_up), None);
        let last_down = form(&[("move", &c.to_string()), ("to", "later")]);
        assert_eq!(new_order(&ids, &last_down), None);
        let whole = form(&[("order", &format!("{c},{a},{b}"))]);
        assert_eq!(new_order(&ids, &whole), Some(vec![c, a, b]));
        assert_eq!(new_order(&ids, &form(&[("order", "x,y")])), None);
        assert_eq!(new_order(&ids, &form(&[])), None);
    }

    #[test]
    fn a_variant_form_names_a_value_for_every_option() {
        let usd = mercato_tenants::Currency::USD;
        let options = vec!["Colour".to_owned(), "Size".to_owned()];
        let ok = form(&[
            ("option_0", "Green"),
            ("option_1", "L"),
            ("price", "12.50"),
            ("sku", "TEE-GREEN-L"),
            ("stock", "4"),
        ]);
        let v = new_variant(&ok, &options, usd).expect("a variant");
        assert_eq!(v.price_minor, 1250);
        assert_eq!(v.option_values.get("Size").map(String::as_str), Some("L"));
        assert_eq!(v.stock, Some(4));
        let missing = form(&[("option_0", "Green"), ("price", "1"), ("sku", "X")]);
        assert!(new_variant(&missing, &options, usd)
            .expect_err("refused")
            .contains("Size"));
        let bad_price = form(&[("option_0", "G"), ("option_1", "L"), ("price", "x")]);
        assert!(new_variant(&bad_price, &options, usd)
            .expect_err("refused")
            .contains("price"));
    }

    #[test]
    fn a_details_form_needs_a_known_status() {
        let p = patch_of(&form(&[
            ("title", "Lamp"),
            ("status", "active"),
            ("tags", "brass, desk ,"),
        ]))
        .expect("a patch");
        assert_eq!(p.tags, Some(vec!["brass".to_owned(), "desk".to_owned()]));
        assert!(patch_of(&form(&[("title", "Lamp"), ("status", "gone")])).is_err());
    }
}
