//! The store's policies: the return policy and the mail settings (any
//! staff member reads them, the owner changes them, as `GET/PUT
//! /admin/api/settings/returns` and `/mail` allow), and the risk rules
//! (the owner's alone, as `/admin/api/settings/risk`). Writes go through
//! `returns::put_settings`, `notifications::put_settings` and
//! `risk::put_settings`, the API's own.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use bytes::Bytes;
use mercato_tenants::forms::{field, see_other};
use mercato_tenants::http::ApiQuery;
use mercato_tenants::Currency;
use minijinja::context;
use minijinja::value::Value;
use serde::Serialize;

use super::super::pages::{error_page, html, render, sign_in_first};
use super::super::products::{amount_input, parse_amount};
use super::super::session::{AdminSession, MaybeAdmin};
use super::{notice, owner_only, refusal, table_form, unreadable};
use crate::error::PodError;
use crate::notifications::MailSettings;
use crate::returns::{ReturnSettings, ShippingRefund};
use crate::risk::{MismatchRule, RiskSettings, VelocityLimits};
use crate::state::AppState;
use crate::tenancy::TenantContext;

const RETURNS: &str = "/admin/settings/returns";
const RISK: &str = "/admin/settings/risk";
const MAIL: &str = "/admin/settings/mail";

/// Runs a settings form: the session's form (`read` reads it: the table
/// form's limits or the usual ones), the owner only (`403` for other
/// staff, as the API), then `save`, which answers where to go on or the
/// refusal to show with what was typed.
async fn owner_form<T>(
    tenant: &TenantContext,
    session: Option<AdminSession>,
    back: &str,
    read: impl FnOnce(&AdminSession) -> Result<Vec<(String, String)>, mercato_tenants::ApiError>,
    save: impl AsyncFnOnce(
        Vec<(String, String)>,
    ) -> Result<Result<String, ((StatusCode, String), T)>, PodError>,
    page: impl AsyncFnOnce(&AdminSession, StatusCode, String, T) -> Result<Response, PodError>,
) -> Response {
    let Some(session) = session else {
        return sign_in_first(back);
    };
    let result = async {
        let fields = read(&session)?;
        owner_only(&session)?;
        match save(fields).await? {
            Ok(to) => Ok(see_other(&to)),
            Err(((status, problem), typed)) => page(&session, status, problem, typed).await,
        }
    }
    .await;
    result.unwrap_or_else(|e| error_page(tenant, e))
}

// ---- Returns ----

/// The return policy's form as typed (or as it stands).
#[derive(Serialize)]
struct ReturnsTyped {
    window_days: String,
    shipping_refund: String,
}

impl ReturnsTyped {
    fn of(s: &ReturnSettings) -> Self {
        Self {
            window_days: s.window_days.to_string(),
            shipping_refund: s.shipping_refund.as_str().to_owned(),
        }
    }
}

/// The choices of `shipping_refund`, in words.
const SHIPPING_REFUNDS: [(ShippingRefund, &str); 2] = [
    (
        ShippingRefund::WhenAllReturned,
        "With the return that brings back the order's last item",
    ),
    (ShippingRefund::Never, "Never"),
];

async fn returns_page(
    state: &AppState,
    tenant: &TenantContext,
    session: &AdminSession,
    status: StatusCode,
    notice: Option<String>,
    problem: Option<String>,
    typed: Option<ReturnsTyped>,
) -> Result<Response, PodError> {
    let now = crate::returns::settings(state, tenant.store_id).await?;
    let typed = typed.unwrap_or_else(|| ReturnsTyped::of(&now));
    let choices: Vec<_> = SHIPPING_REFUNDS
        .iter()
        .map(|(value, words)| context! { value => value.as_str(), words })
        .collect();
    let shipping_words = SHIPPING_REFUNDS
        .iter()
        .find(|(v, _)| *v == now.shipping_refund)
        .map(|(_, w)| *w);
    let body = render(
        tenant,
        Some(session),
        "settings_returns.html",
        "Returns policy",
        context! {
            nav => "settings",
            now => context! { window_days => now.window_days, shipping_refund => shipping_words },
            typed => Value::from_serialize(&typed),
            choices,
            notice,
            problem,
        },
    )?;
    Ok(html(status, body))
}

/// `GET /admin/settings/returns`: the policy; its form for the owner.
pub async fn returns(
    State(state): State<AppState>,
    tenant: TenantContext,
    MaybeAdmin(session): MaybeAdmin,
    ApiQuery(pairs): ApiQuery<Vec<(String, String)>>,
) -> Response {
    let Some(session) = session else {
        return sign_in_first(RETURNS);
    };
    let notice = notice(&pairs, &[("saved", "The returns policy was saved.")]);
    returns_page(
        &state,
        &tenant,
        &session,
        StatusCode::OK,
        notice,
        None,
        None,
    )
    .await
    .unwrap_or_else(|e| error_page(&tenant, e))
}

/// `POST /admin/settings/returns` (`window_days`, `shipping_refund`): as
/// `PUT /admin/api/settings/returns`, the owner only.
pub async fn save_returns(
    State(state): State<AppState>,
    tenant: TenantContext,
    MaybeAdmin(session): MaybeAdmin,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    owner_form(
        &tenant,
        session,
        RETURNS,
        |s| s.form(&headers, &body),
        async |fields| {
            let typed = ReturnsTyped {
                window_days: field(&fields, "window_days").unwrap_or_default().to_owned(),
                shipping_refund: field(&fields, "shipping_refund")
                    .unwrap_or_default()
                    .to_owned(),
            };
            let Ok(days) = typed.window_days.parse::<i64>() else {
                let problem = "Enter the days as a whole number, 0 to 365.".to_owned();
                return Ok(Err((unreadable(problem), typed)));
            };
            let Some(refund) = ShippingRefund::parse(&typed.shipping_refund) else {
                let problem = "Choose when shipping is refunded from the list.".to_owned();
                return Ok(Err((unreadable(problem), typed)));
            };
            match crate::returns::put_settings(&state, tenant.store_id, days, refund).await {
                Ok(_) => Ok(Ok(format!("{RETURNS}?done=saved"))),
                Err(e) => Ok(Err((refusal(e)?, typed))),
            }
        },
        async |session, status, problem, typed| {
            returns_page(
                &state,
                &tenant,
                session,
                status,
                None,
                Some(problem),
                Some(typed),
            )
            .await
        },
    )
    .await
}

// ---- Mail ----

/// The mail settings' form as typed (or as they stand).
#[derive(Serialize)]
struct MailTyped {
    sender_name: String,
    reply_to: String,
    abandoned_cart_hours: String,
}

impl MailTyped {
    fn of(s: &MailSettings) -> Self {
        Self {
            sender_name: s.sender_name.clone().unwrap_or_default(),
            reply_to: s.reply_to.clone().unwrap_or_default(),
            abandoned_cart_hours: s
                .abandoned_cart_hours
                .map(|h| h.to_string())
                .unwrap_or_default(),
        }
    }
}

async fn mail_page(
    state: &AppState,
    tenant: &TenantContext,
    session: &AdminSession,
    status: StatusCode,
    notice: Option<String>,
    problem: Option<String>,
    typed: Option<MailTyped>,
) -> Result<Response, PodError> {
    let now = crate::notifications::sql::settings(&state.db, tenant.store_id).await?;
    let typed = typed.unwrap_or_else(|| MailTyped::of(&now));
    let body = render(
        tenant,
        Some(session),
        "settings_mail.html",
        "Mail",
        context! {
            nav => "settings",
            now => Value::from_serialize(&now),
            typed => Value::from_serialize(&typed),
            notice,
            problem,
        },
    )?;
    Ok(html(status, body))
}

/// `GET /admin/settings/mail`: the settings; their form for the owner.
pub async fn mail(
    State(state): State<AppState>,
    tenant: TenantContext,
    MaybeAdmin(session): MaybeAdmin,
    ApiQuery(pairs): ApiQuery<Vec<(String, String)>>,
) -> Response {
    let Some(session) = session else {
        return sign_in_first(MAIL);
    };
    let notice = notice(&pairs, &[("saved", "The mail settings were saved.")]);
    mail_page(
        &state,
        &tenant,
        &session,
        StatusCode::OK,
        notice,
        None,
        None,
    )
    .await
    .unwrap_or_else(|e| error_page(&tenant, e))
}

/// `POST /admin/settings/mail` (`sender_name`, `reply_to`,
/// `abandoned_cart_hours`; blank is unset): as `PUT
/// /admin/api/settings/mail`, the owner only.
pub async fn save_mail(
    State(state): State<AppState>,
    tenant: TenantContext,
    MaybeAdmin(session): MaybeAdmin,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    owner_form(
        &tenant,
        session,
        MAIL,
        |s| s.form(&headers, &body),
        async |fields| {
            let get = |name: &str| field(&fields, name).unwrap_or_default().to_owned();
            let typed = MailTyped {
                sender_name: get("sender_name"),
                reply_to: get("reply_to"),
                abandoned_cart_hours: get("abandoned_cart_hours"),
            };
            let hours = match typed.abandoned_cart_hours.as_str() {
                "" => None,
                raw => match raw.parse::<i32>() {
                    Ok(h) => Some(h),
                    Err(_) => {
                        let problem =
                            "Enter the hours as a whole number, 1 to 720, or leave it empty."
                                .to_owned();
                        return Ok(Err((unreadable(problem), typed)));
                    }
                },
            };
            let saved = crate::notifications::put_settings(
                &state.db,
                tenant.store_id,
                Some(&typed.sender_name),
                Some(&typed.reply_to),
                hours,
            )
            .await;
            match saved {
                Ok(_) => Ok(Ok(format!("{MAIL}?done=saved"))),
                Err(e) => Ok(Err((refusal(e)?, typed))),
            }
        },
        async |session, status, problem, typed| {
            mail_page(
                &state,
                &tenant,
                session,
                status,
                None,
                Some(problem),
                Some(typed),
            )
            .await
        },
    )
    .await
}

// ---- Risk ----

/// The keys velocity is counted per, with their fields' prefix and words.
const VELOCITY: [(&str, &str); 3] = [
    ("email", "Per email"),
    ("client", "Per client address"),
    ("card", "Per card"),
];

/// The four thresholds of a key, with their fields' suffix and words.
const THRESHOLDS: [(&str, &str); 4] = [
    ("review_attempts", "attempts that send to review"),
    ("block_attempts", "attempts that block"),
    ("review_declines", "declines that send to review"),
    ("block_declines", "declines that block"),
];

/// The risk rules' form as typed (or as they stand): amounts in the
/// store's currency, counts, and lists separated by commas (a form's
/// fields hold no line breaks). Empty is off.
#[derive(Serialize)]
struct RiskTyped {
    review_amount: String,
    block_amount: String,
    first_order_amount: String,
    /// Per key of [`VELOCITY`], the [`THRESHOLDS`] in order.
    velocity: Vec<[String; 4]>,
    country_mismatch: String,
    disposable_email: bool,
    extra_disposable_domains: String,
    allow_emails: String,
    allow_customer_ids: String,
}

fn limits(l: &VelocityLimits) -> [String; 4] {
    [
        l.review_attempts,
        l.block_attempts,
        l.review_declines,
        l.block_declines,
    ]
    .map(|v| v.map(|v| v.to_string()).unwrap_or_default())
}

impl RiskTyped {
    fn of(s: &RiskSettings, currency: Currency) -> Self {
        let amount = |v: Option<i64>| v.map(|m| amount_input(m, currency)).unwrap_or_default();
        Self {
            review_amount: amount(s.review_amount_minor),
            block_amount: amount(s.block_amount_minor),
            first_order_amount: amount(s.first_order_amount_minor),
            velocity: vec![limits(&s.email), limits(&s.client), limits(&s.card)],
            country_mismatch: match s.country_mismatch {
                MismatchRule::Review => "review",
                MismatchRule::Ignore => "ignore",
            }
            .to_owned(),
            disposable_email: s.disposable_email,
            extra_disposable_domains: s.extra_disposable_domains.join(", "),
            allow_emails: s.allow_emails.join(", "),
            allow_customer_ids: s
                .allow_customer_ids
                .iter()
                .map(uuid::Uuid::to_string)
                .collect::<Vec<_>>()
                .join(", "),
        }
    }

    fn posted(fields: &[(String, String)]) -> Self {
        let get = |name: &str| field(fields, name).unwrap_or_default().to_owned();
        Self {
            review_amount: get("review_amount"),
            block_amount: get("block_amount"),
            first_order_amount: get("first_order_amount"),
            velocity: VELOCITY
                .iter()
                .map(|(key, _)| THRESHOLDS.map(|(t, _)| get(&format!("{key}_{t}"))))
                .collect(),
            country_mismatch: get("country_mismatch"),
            disposable_email: field(fields, "disposable_email").is_some(),
            extra_disposable_domains: get("extra_disposable_domains"),
            allow_emails: get("allow_emails"),
            allow_customer_ids: get("allow_customer_ids"),
        }
    }

    /// The settings this form describes, or what in it is not a number, a
    /// choice or an id, in words. The API checks the rest.
    fn settings(&self, currency: Currency) -> Result<RiskSettings, String> {
        let amount = |raw: &str, what: &str| {
            match raw {
            "" => Ok(None),
            raw => parse_amount(raw, currency).map(Some).ok_or_else(|| {
                format!("Enter the {what} as an amount, such as 2000.00, or leave it empty to turn it off.")
            }),
        }
        };
        let count = |raw: &str| {
            match raw {
            "" => Ok(None),
            raw => raw.parse::<u32>().map(Some).map_err(|_| {
                "Enter the attempts and declines as whole numbers, or leave them empty to turn them off."
                    .to_owned()
            }),
        }
        };
        let mut velocity = Vec::with_capacity(VELOCITY.len());
        for [ra, ba, rd, bd] in &self.velocity {
            velocity.push(VelocityLimits {
                review_attempts: count(ra)?,
                block_attempts: count(ba)?,
                review_declines: count(rd)?,
                block_declines: count(bd)?,
            });
        }
        let [email, client, card] = <[VelocityLimits; 3]>::try_from(velocity)
            .map_err(|_| "The form is missing its velocity limits.".to_owned())?;
        let country_mismatch = match self.country_mismatch.as_str() {
            "review" => MismatchRule::Review,
            "ignore" => MismatchRule::Ignore,
            _ => return Err("Choose what a billing country that is not the shipping country does from the list.".into()),
        };
        let allow_customer_ids = entries(&self.allow_customer_ids)
            .map(|id| id.parse::<uuid::Uuid>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| {
                "Enter customer ids (as the customer's page shows them), separated by commas."
            })?;
        Ok(RiskSettings {
            review_amount_minor: amount(&self.review_amount, "review amount")?,
            block_amount_minor: amount(&self.block_amount, "block amount")?,
            email,
            client,
            card,
            country_mismatch,
            first_order_amount_minor: amount(&self.first_order_amount, "first order amount")?,
            disposable_email: self.disposable_email,
            extra_disposable_domains: entries(&self.extra_disposable_domains)
                .map(str::to_owned)
                .collect(),
            allow_customer_ids,
            allow_emails: entries(&self.allow_emails).map(str::to_owned).collect(),
        })
    }
}

/// A list typed with its entries separated by commas or spaces.
fn entries(raw: &str) -> impl Iterator<Item = &str> {
    raw.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|e| !e.is_empty())
}

async fn risk_page(
    state: &AppState,
    tenant: &TenantContext,
    session: &AdminSession,
    status: StatusCode,
    notice: Option<String>,
    problem: Option<String>,
    typed: Option<RiskTyped>,
) -> Result<Response, PodError> {
    let typed = match typed {
        Some(t) => t,
        None => RiskTyped::of(
            &crate::risk::settings(&state.db, tenant.store_id).await?,
            tenant.currency,
        ),
    };
    let velocity: Vec<_> = VELOCITY
        .iter()
        .zip(&typed.velocity)
        .map(|((key, words), values)| {
            let cells: Vec<_> = THRESHOLDS
                .iter()
                .zip(values)
                .map(|((t, what), value)| {
                    context! { name => format!("{key}_{t}"), label => format!("{words}: {what}"), value }
                })
                .collect();
            context! { words, cells }
        })
        .collect();
    let body = render(
        tenant,
        Some(session),
        "settings_risk.html",
        "Risk rules",
        context! {
            nav => "settings",
            currency => tenant.currency.as_str().to_owned(),
            typed => Value::from_serialize(&typed),
            velocity,
            notice,
            problem,
        },
    )?;
    Ok(html(status, body))
}

/// `GET /admin/settings/risk`: the owner only, as `GET
/// /admin/api/settings/risk`.
pub async fn risk(
    State(state): State<AppState>,
    tenant: TenantContext,
    MaybeAdmin(session): MaybeAdmin,
    ApiQuery(pairs): ApiQuery<Vec<(String, String)>>,
) -> Response {
    let Some(session) = session else {
        return sign_in_first(RISK);
    };
    let notice = notice(&pairs, &[("saved", "The risk rules were saved.")]);
    let result = async {
        owner_only(&session)?;
        risk_page(
            &state,
            &tenant,
            &session,
            StatusCode::OK,
            notice,
            None,
            None,
        )
        .await
    }
    .await;
    result.unwrap_or_else(|e| error_page(&tenant, e))
}

/// `POST /admin/settings/risk`: every rule at once, as `PUT
/// /admin/api/settings/risk` (an empty field turns its rule off), the
/// owner only. The allow-lists may be long: the table form's limits.
pub async fn save_risk(
    State(state): State<AppState>,
    tenant: TenantContext,
    MaybeAdmin(session): MaybeAdmin,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    owner_form(
        &tenant,
        session,
        RISK,
        |s| table_form(s, &headers, &body),
        async |fields| {
            let typed = RiskTyped::posted(&fields);
            let settings = match typed.settings(tenant.currency) {
                Ok(s) => s,
                Err(problem) => return Ok(Err((unreadable(problem), typed))),
            };
            match crate::risk::put_settings(&state.db, tenant.store_id, settings).await {
                Ok(_) => Ok(Ok(format!("{RISK}?done=saved"))),
                Err(e) => Ok(Err((refusal(e)?, typed))),
            }
        },
        async |session, status, problem, typed| {
            risk_page(
                &state,
                &tenant,
                session,
                status,
                None,
                Some(problem),
                Some(typed),
            )
            .await
        },
    )
    .await
}
