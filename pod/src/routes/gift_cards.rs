//! Gift cards: staff issue (the code answered once), list, read (with the
//! ledger), change and adjust them; shoppers look a balance up by code,
//! rate-limited.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use mercato_tenants::http::{ApiJson, ApiPath, ApiQuery};
use mercato_tenants::{ApiError, Currency, CustomerId, ErrorCode, GiftCardId, StoreId};
use serde::{Deserialize, Deserializer, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::accounts::auth::Staff;
use crate::accounts::rate_limit::ClientAddress;
use crate::error::PodError;
use crate::gift_cards::model;
use crate::gift_cards::{self, sql, GiftCard, Status, Transaction};
use crate::paging;
use crate::state::AppState;
use crate::tenancy::{begin_write, TenantContext};

type ErrorBody = mercato_tenants::error::ErrorBody;

/// The gift cards API, each route registered with its OpenAPI description.
pub fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_gift_cards, create_gift_card))
        .routes(routes!(get_gift_card, update_gift_card))
        .routes(routes!(adjust_gift_card))
        .routes(routes!(lookup_gift_card))
}

/// A card as staff see it: never its code, only the last four.
#[derive(Serialize, utoipa::ToSchema)]
pub struct GiftCardView {
    #[serde(flatten)]
    card: GiftCard,
    /// `active` (spendable; maybe empty), `expired` or `disabled`.
    status: Status,
}

impl GiftCardView {
    fn of(card: GiftCard) -> Self {
        let status = card.status(Utc::now());
        Self { card, status }
    }
}

/// A new card with its code: shown here once, never again.
#[derive(Serialize, utoipa::ToSchema)]
pub struct GiftCardWithCode {
    #[serde(flatten)]
    card: GiftCardView,
    /// `ABCD-EFGH-JKLM-NPQR`: give it to the holder; it is not shown again.
    code: String,
}

/// A card with its ledger, oldest first.
#[derive(Serialize, utoipa::ToSchema)]
pub struct GiftCardDetail {
    #[serde(flatten)]
    card: GiftCardView,
    transactions: Vec<Transaction>,
}

/// A new card (staff).
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateGiftCard {
    /// In minor units of the store's currency.
    #[schema(minimum = 1, maximum = 10_000_000)]
    amount_minor: i64,
    /// The store's currency, if given (`422 gift_card_currency_mismatch`
    /// otherwise): a card is issued only in it.
    #[schema(pattern = "^[A-Z]{3}$")]
    currency: Option<String>,
    /// In the future (`422`); none: it never expires.
    expires_at: Option<DateTime<Utc>>,
    /// A customer of the store (`422` otherwise) the card is for.
    #[schema(value_type = Option<String>, format = Uuid)]
    customer_id: Option<CustomerId>,
    /// At most 500 characters, no control characters but line breaks;
    /// blank: none.
    #[schema(
        max_length = 500,
        pattern = r"^[^\u0000-\u0009\u000B-\u001F\u007F-\u009F]*$"
    )]
    note: Option<String>,
}

fn invalid(why: String) -> ApiError {
    ApiError::new(ErrorCode::InvalidRequest, why)
}

fn text(field: &str, raw: Option<&str>) -> Result<Option<String>, ApiError> {
    model::text(field, raw).map_err(|why| ApiError::new(ErrorCode::InvalidText, why))
}

fn future(expires_at: DateTime<Utc>) -> Result<(), ApiError> {
    model::check_expiry(expires_at, Utc::now())
        .map_err(|why| ApiError::new(ErrorCode::Unprocessable, why))
}

async fn customer_exists(
    state: &AppState,
    store: StoreId,
    customer: CustomerId,
) -> Result<(), PodError> {
    if crate::accounts::email_of(&state.db, store, customer)
        .await?
        .is_none()
    {
        return Err(ApiError::new(
            ErrorCode::Unprocessable,
            "customer_id names no customer of this store",
        )
        .into());
    }
    Ok(())
}

/// Issues a gift card in the store's currency; answers its code, once.
#[utoipa::path(post, path = "/admin/api/gift-cards", tag = "gift cards",
    request_body = CreateGiftCard,
    responses((status = 201, body = GiftCardWithCode), (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 422, description = "Another currency than the store's (`gift_card_currency_mismatch`), an expiry not in the future or a customer not of this store (`unprocessable`)", body = ErrorBody)))]
async fn create_gift_card(
    State(state): State<AppState>,
    tenant: TenantContext,
    staff: Staff,
    ApiJson(body): ApiJson<CreateGiftCard>,
) -> Result<(StatusCode, Json<GiftCardWithCode>), PodError> {
    model::check_amount(body.amount_minor).map_err(invalid)?;
    if let Some(raw) = &body.currency {
        let currency = Currency::parse(raw)
            .map_err(|_| ApiError::invalid("currency must be three capital letters"))?;
        if currency != tenant.currency {
            return Err(ApiError::new(
                ErrorCode::GiftCardCurrencyMismatch,
                format!(
                    "gift cards are issued in the store's currency, {}",
                    tenant.currency
                ),
            )
            .into());
        }
    }
    let note = text("note", body.note.as_deref())?;
    if let Some(at) = body.expires_at {
        future(at)?;
    }
    let store = tenant.store_id;
    if let Some(customer) = body.customer_id {
        customer_exists(&state, store, customer).await?;
    }
    let actor = format!("staff:{}", staff.0.sub);
    let mut tx = begin_write(&state.db, store).await?;
    let (card, code) = gift_cards::issue(
        &mut tx,
        store,
        &gift_cards::Issue {
            currency: tenant.currency,
            amount_minor: body.amount_minor,
            expires_at: body.expires_at,
            customer: body.customer_id,
            note: note.as_deref(),
            actor: &actor,
        },
    )
    .await?;
    tx.commit().await?;
    Ok((
        StatusCode::CREATED,
        Json(GiftCardWithCode {
            card: GiftCardView::of(card),
            code: code.grouped(),
        }),
    ))
}

/// A page of gift cards, newest first.
#[derive(Serialize, utoipa::ToSchema)]
pub struct GiftCardPage {
    items: Vec<GiftCardView>,
    /// Pass as `after` for the next page; null on the last page.
    next_cursor: Option<String>,
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// Only cards of this status.
    #[param(value_type = Option<Status>)]
    status: Option<String>,
    /// Only this customer's cards.
    #[param(value_type = Option<uuid::Uuid>)]
    customer_id: Option<String>,
    /// 1 to 100, default 20.
    #[param(minimum = 1, maximum = 100)]
    limit: Option<u32>,
    /// The `next_cursor` of the previous page (a gift card id).
    #[param(value_type = Option<uuid::Uuid>)]
    after: Option<String>,
}

/// The store's gift cards, newest first, by status and customer.
#[utoipa::path(get, path = "/admin/api/gift-cards", tag = "gift cards",
    params(ListQuery),
    responses((status = 200, body = GiftCardPage), (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody)))]
async fn list_gift_cards(
    State(state): State<AppState>,
    tenant: TenantContext,
    _: Staff,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<GiftCardPage>, PodError> {
    let status = q
        .status
        .as_deref()
        .map(|s| {
            Status::parse(s)
                .ok_or_else(|| ApiError::invalid("status must be active, expired or disabled"))
        })
        .transpose()?;
    let customer = q
        .customer_id
        .as_deref()
        .map(|c| {
            c.parse::<CustomerId>()
                .map_err(|_| ApiError::invalid("customer_id must be a customer id"))
        })
        .transpose()?;
    let before = q
        .after
        .as_deref()
        .map(|a| {
            a.parse::<GiftCardId>()
                .map_err(|_| ApiError::invalid("after must be a cursor from a previous page"))
        })
        .transpose()?;
    let limit = paging::page_limit(q.limit)?;
    let mut items = sql::list(
        &state.db,
        tenant.store_id,
        status,
        customer,
        before,
        i64::from(limit) + 1,
    )
    .await?;
    let next_cursor = paging::split_page(&mut items, limit as usize, |c| c.id.to_string());
    Ok(Json(GiftCardPage {
        items: items.into_iter().map(GiftCardView::of).collect(),
        next_cursor,
    }))
}

async fn detail(
    state: &AppState,
    store: StoreId,
    id: GiftCardId,
) -> Result<GiftCardDetail, PodError> {
    let card = gift_cards::get(&state.db, store, id)
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::GiftCardNotFound, "gift card not found"))?;
    let transactions = sql::transactions(&state.db, store, id).await?;
    Ok(GiftCardDetail {
        card: GiftCardView::of(card),
        transactions,
    })
}

/// One gift card with its transactions (never its code).
#[utoipa::path(get, path = "/admin/api/gift-cards/{id}", tag = "gift cards",
    params(("id" = GiftCardId, Path, description = "gift card id")),
    responses((status = 200, body = GiftCardDetail), (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
async fn get_gift_card(
    State(state): State<AppState>,
    tenant: TenantContext,
    _: Staff,
    ApiPath(id): ApiPath<GiftCardId>,
) -> Result<Json<GiftCardDetail>, PodError> {
    Ok(Json(detail(&state, tenant.store_id, id).await?))
}

/// `null` (clear) apart from absent (keep).
fn nullable<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// What changes; a field left out stays, `null` clears it.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateGiftCard {
    /// As on creation; `null` clears it.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, nullable, max_length = 500,
        pattern = r"^[^\u0000-\u0009\u000B-\u001F\u007F-\u009F]*$")]
    note: Option<Option<String>>,
    /// In the future (`422`); `null`: it never expires.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<DateTime<Utc>>, nullable)]
    expires_at: Option<Option<DateTime<Utc>>>,
    /// A customer of the store (`422` otherwise); `null`: nobody's.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, nullable, format = Uuid)]
    customer_id: Option<Option<CustomerId>>,
    /// `true` stops it paying (its balance stays); `false` enables it.
    disabled: Option<bool>,
}

/// Changes a gift card's note, expiry, customer, or disables or enables it.
#[utoipa::path(patch, path = "/admin/api/gift-cards/{id}", tag = "gift cards",
    params(("id" = GiftCardId, Path, description = "gift card id")),
    request_body = UpdateGiftCard,
    responses((status = 200, body = GiftCardView), (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 422, description = "An expiry not in the future or a customer not of this store (`unprocessable`)", body = ErrorBody)))]
async fn update_gift_card(
    State(state): State<AppState>,
    tenant: TenantContext,
    _: Staff,
    ApiPath(id): ApiPath<GiftCardId>,
    ApiJson(body): ApiJson<UpdateGiftCard>,
) -> Result<Json<GiftCardView>, PodError> {
    let note = match &body.note {
        None => None,
        Some(raw) => Some(text("note", raw.as_deref())?),
    };
    if let Some(Some(at)) = body.expires_at {
        future(at)?;
    }
    let store = tenant.store_id;
    if let Some(Some(customer)) = body.customer_id {
        customer_exists(&state, store, customer).await?;
    }
    let mut tx = begin_write(&state.db, store).await?;
    let card = sql::update(
        &mut tx,
        store,
        id,
        &sql::Edit {
            note: note.as_ref().map(|n| n.as_deref()),
            expires_at: body.expires_at,
            customer: body.customer_id,
            disabled: body.disabled,
        },
    )
    .await?
    .ok_or_else(|| ApiError::new(ErrorCode::GiftCardNotFound, "gift card not found"))?;
    tx.commit().await?;
    Ok(Json(GiftCardView::of(card)))
}

/// A staff adjustment of a balance.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = GiftCardAdjustment)]
pub struct Adjustment {
    /// Added to the balance (negative: taken), not 0; the balance stays
    /// within 0 and 10,000,000 (`409`).
    #[schema(minimum = -10_000_000, maximum = 10_000_000)]
    delta_minor: i64,
    /// Why: at most 500 characters, no control characters but line
    /// breaks; blank: none.
    #[schema(
        max_length = 500,
        pattern = r"^[^\u0000-\u0009\u000B-\u001F\u007F-\u009F]*$"
    )]
    reason: Option<String>,
}

/// An adjustment's ledger row and the card after it.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = GiftCardAdjusted)]
pub struct Adjusted {
    transaction: Transaction,
    gift_card: GiftCardView,
}

/// Adjusts a balance by `delta_minor`. The `Idempotency-Key` makes
/// retries safe: the same key and body answer the same row (`200`), with
/// another body `422 idempotency_key_reused`. A balance never goes below
/// 0 (`409 gift_card_insufficient`) nor above 10,000,000 (`409
/// conflict`). Any card, disabled or expired too.
#[utoipa::path(post, path = "/admin/api/gift-cards/{id}/adjustments", tag = "gift cards",
    params(("id" = GiftCardId, Path, description = "gift card id"),
        ("Idempotency-Key" = String, Header, description = "unique per adjustment; reuse it to retry: 1 to 255 printable ASCII characters", pattern = r"^[!-~]{1,255}$")),
    request_body = Adjustment,
    responses((status = 201, body = Adjusted),
        (status = 200, description = "made before with this key", body = Adjusted),
        (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "the balance would leave 0 to 10,000,000 (`gift_card_insufficient`, `conflict`)", body = ErrorBody),
        (status = 422, description = "idempotency_key_reused", body = ErrorBody)))]
async fn adjust_gift_card(
    State(state): State<AppState>,
    tenant: TenantContext,
    staff: Staff,
    ApiPath(id): ApiPath<GiftCardId>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<Adjustment>,
) -> Result<(StatusCode, Json<Adjusted>), PodError> {
    let key = super::idempotency_key(&headers, "adjustment")?;
    model::check_delta(body.delta_minor).map_err(invalid)?;
    let reason = text("reason", body.reason.as_deref())?;
    let store = tenant.store_id;
    let actor = format!("staff:{}", staff.0.sub);
    let mut tx = begin_write(&state.db, store).await?;
    let (transaction, again) = gift_cards::adjust(
        &mut tx,
        store,
        id,
        &gift_cards::Adjust {
            delta_minor: body.delta_minor,
            key: &key,
            reason: reason.as_deref(),
            actor: &actor,
        },
    )
    .await?;
    tx.commit().await?;
    let card = gift_cards::get(&state.db, store, id)
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::GiftCardNotFound, "gift card not found"))?;
    let status = if again {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((
        status,
        Json(Adjusted {
            transaction,
            gift_card: GiftCardView::of(card),
        }),
    ))
}

/// A shopper's code.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = GiftCardLookup)]
pub struct Lookup {
    /// The card's code, any case, with or without dashes.
    #[schema(max_length = 64)]
    code: String,
}

/// What a code's holder may know of its card.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = GiftCardBalance)]
pub struct Balance {
    last4: String,
    balance_minor: i64,
    #[schema(value_type = String, example = "USD")]
    currency: Currency,
    expires_at: Option<DateTime<Utc>>,
    /// `active`, `expired` or `disabled`.
    status: Status,
}

/// The balance of the card a code names. Limited to 10 lookups a minute
/// per client address and 300 per store (`429` with `Retry-After`),
/// found or not; an unknown code and a malformed one answer alike (`404
/// gift_card_not_found`).
#[utoipa::path(post, path = "/api/gift-cards/lookup", tag = "gift cards",
    request_body = Lookup,
    responses((status = 200, body = Balance), (status = 400, body = ErrorBody),
        (status = 404, description = "gift_card_not_found", body = ErrorBody),
        (status = 429, description = "rate_limited, with Retry-After", body = ErrorBody)))]
async fn lookup_gift_card(
    State(state): State<AppState>,
    tenant: TenantContext,
    ClientAddress(address): ClientAddress,
    ApiJson(body): ApiJson<Lookup>,
) -> Result<Response, PodError> {
    let store = tenant.store_id;
    if let Some(secs) = gift_cards::limit::count_lookup(&state, store, &address).await {
        let mut response = ApiError::new(
            ErrorCode::RateLimited,
            format!("too many gift card lookups; try again in {secs} seconds"),
        )
        .into_response();
        if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
            response.headers_mut().insert("retry-after", v);
        }
        return Ok(response);
    }
    let card = gift_cards::find_by_code(&state.db, store, &body.code)
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::GiftCardNotFound, "no gift card has this code"))?;
    let status = card.status(Utc::now());
    Ok(Json(Balance {
        last4: card.last4,
        balance_minor: card.balance_minor,
        currency: card.currency,
        expires_at: card.expires_at,
        status,
    })
    .into_response())
}
