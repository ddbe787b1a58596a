//! Staff's shipment requests, checked where they come in and each written
//! in its own transaction: the one path of the `/admin/api/orders/{id}/
//! shipments…` endpoints and of the admin's order page. The writes
//! themselves are [`super::shipments`]'s, under the order's row lock.

use mercato_tenants::{ApiError, LocationId, OrderId, ShipmentId, ShipmentStatus, StoreId};

use super::progress::Units;
use super::shipments;
use super::sql::{self, Tracking};
use crate::error::PodError;
use crate::orders::OrderShipment;
use crate::state::AppState;
use crate::tenancy::begin_write;

/// Longest carrier name, in characters.
pub const MAX_CARRIER: usize = 100;
/// Longest tracking number, in characters.
pub const MAX_TRACKING_NUMBER: usize = 100;
/// Longest tracking address, in characters.
pub const MAX_TRACKING_URL: usize = 2048;
/// Lines one request may name (an order has at most this many lines).
pub const MAX_LINES: usize = 250;

/// Carrier and tracking as staff send them, checked: each field optional
/// (left as it is), trimmed, an empty one clears it; the address an
/// `https://` or `http://` one without spaces.
pub fn tracking(
    carrier: Option<&str>,
    number: Option<&str>,
    url: Option<&str>,
) -> Result<Tracking, ApiError> {
    let bounded = |name: &str, v: Option<&str>, max: usize| {
        v.map(str::trim)
            .map(|t| {
                if t.chars().count() > max {
                    Err(ApiError::invalid(format!(
                        "{name} must be at most {max} characters"
                    )))
                } else {
                    Ok(t.to_owned())
                }
            })
            .transpose()
    };
    let url = bounded("tracking_url", url, MAX_TRACKING_URL)?;
    if let Some(u) = url.as_deref().filter(|u| !u.is_empty()) {
        let lower = u.to_ascii_lowercase();
        let rest = lower
            .strip_prefix("https://")
            .or_else(|| lower.strip_prefix("http://"));
        if rest.is_none_or(|r| r.is_empty() || r.starts_with('/'))
            || u.chars().any(char::is_whitespace)
        {
            return Err(ApiError::invalid(
                "tracking_url must be an https:// or http:// address without spaces",
            ));
        }
    }
    Ok(Tracking {
        carrier: bounded("carrier", carrier, MAX_CARRIER)?,
        number: bounded("tracking_number", number, MAX_TRACKING_NUMBER)?,
        url,
    })
}

/// Units per order line (line position, quantity) as staff ask for them,
/// checked: 1 to [`MAX_LINES`] lines, positions of 0 or more, quantities
/// of at least 1.
pub fn units(lines: &[(i32, i32)]) -> Result<Vec<Units>, ApiError> {
    if lines.is_empty() || lines.len() > MAX_LINES {
        return Err(ApiError::invalid(format!(
            "lines must have 1 to {MAX_LINES} entries"
        )));
    }
    if lines
        .iter()
        .any(|&(line, quantity)| line < 0 || quantity < 1)
    {
        return Err(ApiError::invalid(
            "each line needs a line_position of 0 or more and a quantity of at least 1",
        ));
    }
    Ok(lines
        .iter()
        .map(|&(line, quantity)| Units { line, quantity })
        .collect())
}

/// The order's shipments, oldest first (`404` for an order of no one
/// here).
pub async fn of_order(
    state: &AppState,
    store: StoreId,
    order: OrderId,
) -> Result<Vec<OrderShipment>, PodError> {
    let mut conn = state.db.acquire().await?;
    if crate::orders::get(&mut conn, store, order, false)
        .await?
        .is_none()
    {
        return Err(ApiError::not_found("order").into());
    }
    Ok(sql::of_order(&mut conn, store, order, false).await?)
}

async fn one(
    state: &AppState,
    store: StoreId,
    order: OrderId,
    shipment: ShipmentId,
) -> Result<OrderShipment, PodError> {
    of_order(state, store, order)
        .await?
        .into_iter()
        .find(|s| s.id == shipment)
        .ok_or_else(|| ApiError::not_found("shipment").into())
}

/// A new shipment of some of the order's waiting units
/// ([`shipments::fulfil`]), as it now stands.
#[allow(clippy::too_many_arguments)]
pub async fn create(
    state: &AppState,
    store: StoreId,
    order: OrderId,
    location: Option<LocationId>,
    units: &[Units],
    status: ShipmentStatus,
    tracking: &Tracking,
    actor: &str,
) -> Result<OrderShipment, PodError> {
    let mut tx = begin_write(&state.db, store).await?;
    let shipment = shipments::fulfil(
        &mut tx, store, order, location, units, status, tracking, actor,
    )
    .await?;
    tx.commit().await?;
    one(state, store, order, shipment).await
}

/// A shipment's carrier and tracking set ([`shipments::edit_tracking`]),
/// as it now stands.
pub async fn edit(
    state: &AppState,
    store: StoreId,
    order: OrderId,
    shipment: ShipmentId,
    tracking: &Tracking,
) -> Result<OrderShipment, PodError> {
    let mut tx = begin_write(&state.db, store).await?;
    shipments::edit_tracking(&mut tx, store, order, shipment, tracking).await?;
    tx.commit().await?;
    one(state, store, order, shipment).await
}

/// A shipment moved on ([`shipments::advance`]), as it now stands.
pub async fn advance(
    state: &AppState,
    store: StoreId,
    order: OrderId,
    shipment: ShipmentId,
    to: ShipmentStatus,
    tracking: &Tracking,
    actor: &str,
) -> Result<OrderShipment, PodError> {
    let mut tx = begin_write(&state.db, store).await?;
    shipments::advance(&mut tx, store, order, shipment, to, tracking, actor).await?;
    tx.commit().await?;
    one(state, store, order, shipment).await
}

/// The statuses staff may move a shipment in `from` to, in the
/// lifecycle's order ([`super::state::allowed`]); a pending shipment is
/// not cancelled on its own ([`shipments::advance`]).
pub fn next_steps(from: ShipmentStatus) -> Vec<ShipmentStatus> {
    ShipmentStatus::ALL
        .into_iter()
        .filter(|to| super::state::allowed(from, *to))
        .filter(|to| !(from == ShipmentStatus::Pending && *to == ShipmentStatus::Cancelled))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ShipmentStatus::*;

    #[test]
    fn tracking_is_bounded_and_its_address_is_a_web_one() {
        let t = tracking(Some(" DHL "), Some(""), None).expect("valid");
        assert_eq!(t.carrier.as_deref(), Some("DHL"));
        assert_eq!(t.number.as_deref(), Some(""), "empty clears");
        assert!(t.url.is_none(), "left out stays");
        for ok in ["https://track.example/1", "HTTP://x.example", ""] {
            assert!(tracking(None, None, Some(ok)).is_ok(), "{ok}");
        }
        for bad in [
            "javascript:alert(1)",
            "https://",
            "https:///x",
            "https://a b",
            "ftp://x",
        ] {
            assert!(tracking(None, None, Some(bad)).is_err(), "{bad}");
        }
        assert!(tracking(Some(&"x".repeat(MAX_CARRIER + 1)), None, None).is_err());
    }

    #[test]
    fn units_need_a_line_and_a_unit() {
        assert!(units(&[]).is_err());
        assert!(units(&[(0, 0)]).is_err());
        assert!(units(&[(-1, 1)]).is_err());
        assert_eq!(
            units(&[(1, 2)]).expect("valid"),
            vec![Units {
                line: 1,
                quantity: 2
            }]
        );
    }

    #[test]
    fn next_steps_follow_the_lifecycle() {
        assert_eq!(next_steps(Pending), vec![LabelCreated, Shipped]);
        assert_eq!(next_steps(LabelCreated), vec![Shipped, Cancelled]);
        assert_eq!(next_steps(Shipped), vec![InTransit, Delivered]);
        assert_eq!(next_steps(InTransit), vec![Delivered]);
        assert!(next_steps(Delivered).is_empty());
        assert!(next_steps(Cancelled).is_empty());
    }
}
