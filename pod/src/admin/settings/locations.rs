//! The store's locations: the list with a form to add one, and a page per
//! location to change it (name, address, country, coordinates, priority,
//! active). Writes go through `inventory::locations::add` and `change`,
//! as `POST /admin/api/locations` and `PATCH /admin/api/locations/{id}`
//! do; any staff member may, as there.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use bytes::Bytes;
use mercato_tenants::forms::{field, see_other};
use mercato_tenants::http::ApiQuery;
use mercato_tenants::{ApiError, LocationId};
use minijinja::context;
use minijinja::value::Value;
use serde::Serialize;

use super::super::pages::{error_page, html, render, sign_in_first};
use super::super::session::{AdminSession, MaybeAdmin};
use super::{notice, refusal, unreadable};
use crate::error::PodError;
use crate::inventory::locations;
use crate::inventory::model::{LocationPatch, NewLocation};
use crate::inventory::Location;
use crate::state::AppState;
use crate::tenancy::TenantContext;

const LIST: &str = "/admin/settings/locations";

/// The numbers of a location's form, read.
struct Numbers {
    latitude: Option<f64>,
    longitude: Option<f64>,
    priority: Option<i32>,
}

/// A location's form as typed (or as the location stands).
#[derive(Serialize, Default)]
struct Typed {
    name: String,
    line1: String,
    line2: String,
    city: String,
    region: String,
    postal_code: String,
    country: String,
    latitude: String,
    longitude: String,
    priority: String,
    active: bool,
}

impl Typed {
    /// A new location's form: active, tried first.
    fn blank() -> Self {
        Self {
            priority: "0".into(),
            active: true,
            ..Self::default()
        }
    }

    fn of(l: &Location) -> Self {
        Self {
            name: l.name.clone(),
            line1: l.line1.clone(),
            line2: l.line2.clone(),
            city: l.city.clone(),
            region: l.region.clone(),
            postal_code: l.postal_code.clone(),
            country: l.country.clone().unwrap_or_default(),
            latitude: l.latitude.map(|v| v.to_string()).unwrap_or_default(),
            longitude: l.longitude.map(|v| v.to_string()).unwrap_or_default(),
            priority: l.priority.to_string(),
            active: l.active,
        }
    }

    fn posted(fields: &[(String, String)]) -> Self {
        let get = |name: &str| field(fields, name).unwrap_or_default().to_owned();
        Self {
            name: get("name"),
            line1: get("line1"),
            line2: get("line2"),
            city: get("city"),
            region: get("region"),
            postal_code: get("postal_code"),
            country: get("country"),
            latitude: get("latitude"),
            longitude: get("longitude"),
            priority: get("priority"),
            active: field(fields, "active").is_some(),
        }
    }

    /// Latitude and longitude (empty: not given), priority (empty: not
    /// given), or what is not a number, in words.
    fn numbers(&self) -> Result<Numbers, String> {
        let degrees = |raw: &str, what: &str| match raw {
            "" => Ok(None),
            raw => raw.parse::<f64>().map(Some).map_err(|_| {
                format!(
                    "Enter the {what} as a number of degrees, such as 48.8566, or leave it empty."
                )
            }),
        };
        let priority = match self.priority.as_str() {
            "" => None,
            raw => Some(raw.parse::<i32>().map_err(|_| {
                "Enter the priority as a whole number, 0 (tried first) to 1000000.".to_owned()
            })?),
        };
        Ok(Numbers {
            latitude: degrees(&self.latitude, "latitude")?,
            longitude: degrees(&self.longitude, "longitude")?,
            priority,
        })
    }

    fn new_location(&self) -> Result<NewLocation, String> {
        let Numbers {
            latitude,
            longitude,
            priority,
        } = self.numbers()?;
        Ok(NewLocation {
            name: self.name.clone(),
            line1: Some(self.line1.clone()),
            line2: Some(self.line2.clone()),
            city: Some(self.city.clone()),
            region: Some(self.region.clone()),
            postal_code: Some(self.postal_code.clone()),
            country: Some(self.country.clone()),
            latitude,
            longitude,
            priority,
            active: Some(self.active),
        })
    }

    fn patch(&self) -> Result<LocationPatch, String> {
        let Numbers {
            latitude,
            longitude,
            priority,
        } = self.numbers()?;
        Ok(LocationPatch {
            name: Some(self.name.clone()),
            line1: Some(self.line1.clone()),
            line2: Some(self.line2.clone()),
            city: Some(self.city.clone()),
            region: Some(self.region.clone()),
            postal_code: Some(self.postal_code.clone()),
            country: Some(self.country.clone()),
            latitude,
            longitude,
            priority,
            active: Some(self.active),
        })
    }
}

/// A location as the list shows it.
fn row(l: &Location) -> Value {
    let address: Vec<&str> = [&l.line1, &l.line2, &l.postal_code, &l.city, &l.region]
        .into_iter()
        .map(String::as_str)
        .chain(l.country.as_deref())
        .filter(|part| !part.is_empty())
        .collect();
    context! {
        id => l.id.to_string(),
        name => l.name.clone(),
        address => address.join(", "),
        priority => l.priority,
        active => l.active,
        is_default => l.is_default,
    }
}

async fn list_page(
    state: &AppState,
    tenant: &TenantContext,
    session: &AdminSession,
    status: StatusCode,
    notice: Option<String>,
    problem: Option<String>,
    typed: Typed,
) -> Result<Response, PodError> {
    let all = locations::all(state, tenant.store_id).await?;
    let rows: Vec<_> = all.iter().map(row).collect();
    let body = render(
        tenant,
        Some(session),
        "settings_locations.html",
        "Locations",
        context! {
            nav => "settings",
            locations => rows,
            notice,
            problem,
            typed => Value::from_serialize(&typed),
        },
    )?;
    Ok(html(status, body))
}

/// `GET /admin/settings/locations`.
pub async fn list(
    State(state): State<AppState>,
    tenant: TenantContext,
    MaybeAdmin(session): MaybeAdmin,
    ApiQuery(pairs): ApiQuery<Vec<(String, String)>>,
) -> Response {
    let Some(session) = session else {
        return sign_in_first(LIST);
    };
    let notice = notice(
        &pairs,
        &[
            ("added", "The location was added."),
            ("saved", "The location was saved."),
        ],
    );
    list_page(
        &state,
        &tenant,
        &session,
        StatusCode::OK,
        notice,
        None,
        Typed::blank(),
    )
    .await
    .unwrap_or_else(|e| error_page(&tenant, e))
}

/// `POST /admin/settings/locations` (`name`, `line1`, `line2`, `city`,
/// `region`, `postal_code`, `country`, `latitude`, `longitude`,
/// `priority`, `active`): as `POST /admin/api/locations`.
pub async fn create(
    State(state): State<AppState>,
    tenant: TenantContext,
    MaybeAdmin(session): MaybeAdmin,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(session) = session else {
        return sign_in_first(LIST);
    };
    let result = async {
        let fields = session.form(&headers, &body)?;
        let typed = Typed::posted(&fields);
        let (status, problem) = match typed.new_location() {
            Err(problem) => unreadable(problem),
            Ok(new) => match locations::add(&state, tenant.store_id, &new).await {
                Ok(_) => return Ok(see_other(&format!("{LIST}?done=added"))),
                Err(e) => refusal(e)?,
            },
        };
        list_page(
            &state,
            &tenant,
            &session,
            status,
            None,
            Some(problem),
            typed,
        )
        .await
    }
    .await;
    result.unwrap_or_else(|e| error_page(&tenant, e))
}

fn location_id(raw: &str) -> Result<LocationId, PodError> {
    raw.parse()
        .map_err(|_| PodError::from(ApiError::not_found("location")))
}

async fn location_page(
    tenant: &TenantContext,
    session: &AdminSession,
    location: &Location,
    status: StatusCode,
    problem: Option<String>,
    typed: Typed,
) -> Result<Response, PodError> {
    let body = render(
        tenant,
        Some(session),
        "settings_location.html",
        &location.name,
        context! {
            nav => "settings",
            location => context! {
                id => location.id.to_string(),
                name => location.name.clone(),
                is_default => location.is_default,
            },
            problem,
            typed => Value::from_serialize(&typed),
        },
    )?;
    Ok(html(status, body))
}

/// The store's location `raw` names; `404` for any other.
async fn one(state: &AppState, tenant: &TenantContext, raw: &str) -> Result<Location, PodError> {
    let id = location_id(raw)?;
    crate::inventory::sql::locations::get(&state.db, tenant.store_id, id)
        .await?
        .ok_or_else(|| ApiError::not_found("location").into())
}

/// `GET /admin/settings/locations/{id}`: a location's form.
pub async fn show(
    State(state): State<AppState>,
    tenant: TenantContext,
    MaybeAdmin(session): MaybeAdmin,
    Path(id): Path<String>,
) -> Response {
    let Some(session) = session else {
        return sign_in_first(&format!("{LIST}/{id}"));
    };
    let result = async {
        let location = one(&state, &tenant, &id).await?;
        let typed = Typed::of(&location);
        location_page(&tenant, &session, &location, StatusCode::OK, None, typed).await
    }
    .await;
    result.unwrap_or_else(|e| error_page(&tenant, e))
}

/// `POST /admin/settings/locations/{id}`: as `PATCH
/// /admin/api/locations/{id}` with every field of the form (coordinates
/// left empty stay as they are, as the API keeps them).
pub async fn save(
    State(state): State<AppState>,
    tenant: TenantContext,
    MaybeAdmin(session): MaybeAdmin,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(session) = session else {
        return sign_in_first(&format!("{LIST}/{id}"));
    };
    let result = async {
        let fields = session.form(&headers, &body)?;
        let location = one(&state, &tenant, &id).await?;
        let typed = Typed::posted(&fields);
        let (status, problem) = match typed.patch() {
            Err(problem) => unreadable(problem),
            Ok(patch) => {
                match locations::change(&state, tenant.store_id, location.id, &patch).await {
                    Ok(_) => return Ok(see_other(&format!("{LIST}?done=saved"))),
                    Err(e) => refusal(e)?,
                }
            }
        };
        location_page(&tenant, &session, &location, status, Some(problem), typed).await
    }
    .await;
    result.unwrap_or_else(|e| error_page(&tenant, e))
}
