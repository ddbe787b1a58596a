//! Pure rules of an order's shipments once it is paid: what status the
//! order has given its shipments, and which pending units a new shipment
//! takes. No I/O; `shipments.rs` applies them under the order's row lock.

use std::collections::BTreeMap;

use mercato_tenants::{OrderStatus, ShipmentId, ShipmentStatus};

use super::state;
use crate::orders::state as order_state;

/// The order's status its shipments call for, from `current`. Cancelled
/// shipments do not count. Only a paid, partially fulfilled or fulfilled
/// order follows its shipments, and only forward (as
/// [`order_state::allowed`] permits): units never un-ship.
pub fn order_status(current: OrderStatus, shipments: &[(ShipmentStatus, i64)]) -> OrderStatus {
    use OrderStatus::*;
    if !matches!(current, Paid | PartiallyFulfilled | Fulfilled) {
        return current;
    }
    let live = shipments
        .iter()
        .filter(|(s, _)| *s != ShipmentStatus::Cancelled);
    let (mut total, mut left, mut delivered) = (0i64, 0i64, 0i64);
    for &(status, units) in live {
        total += units;
        if state::has_left(status) {
            left += units;
        }
        if status == ShipmentStatus::Delivered {
            delivered += units;
        }
    }
    let wanted = if total == 0 {
        return current;
    } else if delivered == total {
        Delivered
    } else if left == total {
        Fulfilled
    } else if left > 0 {
        PartiallyFulfilled
    } else {
        Paid
    };
    if wanted != current && order_state::allowed(current, wanted) {
        wanted
    } else {
        current
    }
}

/// Units of one order line (by position).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Units {
    pub line: i32,
    pub quantity: i32,
}

/// Why a new shipment cannot take the units asked for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TakeError {
    #[error("no units asked for")]
    Empty,
    #[error("line {line} has only {pending} unit(s) waiting at this location, {asked} asked")]
    NotPending { line: i32, asked: i64, pending: i64 },
}

/// Takes `wanted` out of the pending shipments of one location (oldest
/// first), for a new shipment: per (shipment, line) the units it gives up.
/// The same line asked twice is summed. All or nothing.
pub fn take_pending(
    pending: &[(ShipmentId, Vec<Units>)],
    wanted: &[Units],
) -> Result<Vec<(ShipmentId, Units)>, TakeError> {
    let mut asked: BTreeMap<i32, i64> = BTreeMap::new();
    for u in wanted.iter().filter(|u| u.quantity > 0) {
        *asked.entry(u.line).or_default() += i64::from(u.quantity);
    }
    if asked.is_empty() {
        return Err(TakeError::Empty);
    }
    let mut taken = Vec::new();
    for (&line, &want) in &asked {
        let mut left = want;
        for (shipment, units) in pending {
            for u in units.iter().filter(|u| u.line == line && u.quantity > 0) {
                if left == 0 {
                    break;
                }
                let q = left.min(i64::from(u.quantity));
                left -= q;
                taken.push((
                    *shipment,
                    Units {
                        line,
                        quantity: q as i32,
                    },
                ));
            }
        }
        if left > 0 {
            return Err(TakeError::NotPending {
                line,
                asked: want,
                pending: want - left,
            });
        }
    }
    Ok(taken)
}

/// Whether an order whose lines were (ordered, cancelled before) has any
/// unit left once `now` more units per line are cancelled.
pub fn nothing_left(lines: &[(i32, i32)], now: &BTreeMap<i32, i32>) -> bool {
    lines.iter().enumerate().all(|(i, &(ordered, cancelled))| {
        let more = i32::try_from(i)
            .ok()
            .and_then(|i| now.get(&i))
            .copied()
            .unwrap_or(0);
        cancelled + more >= ordered
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use OrderStatus::*;
    use ShipmentStatus as S;

    #[test]
    fn an_order_has_nothing_left_once_every_unit_is_cancelled() {
        let now = |pairs: &[(i32, i32)]| pairs.iter().copied().collect::<BTreeMap<_, _>>();
        assert!(!nothing_left(&[(3, 0), (1, 0)], &now(&[(0, 3)])));
        assert!(nothing_left(&[(3, 0), (1, 0)], &now(&[(0, 3), (1, 1)])));
        assert!(nothing_left(&[(3, 2), (1, 1)], &now(&[(0, 1)])));
        assert!(!nothing_left(&[(3, 2), (1, 0)], &now(&[(0, 1)])));
    }

    #[test]
    fn the_order_follows_what_has_left_and_arrived() {
        assert_eq!(order_status(Paid, &[(S::Pending, 3)]), Paid);
        assert_eq!(
            order_status(Paid, &[(S::Shipped, 1), (S::Pending, 2)]),
            PartiallyFulfilled
        );
        assert_eq!(
            order_status(Paid, &[(S::Shipped, 1), (S::InTransit, 2)]),
            Fulfilled
        );
        assert_eq!(
            order_status(Fulfilled, &[(S::Delivered, 1), (S::InTransit, 2)]),
            Fulfilled
        );
        assert_eq!(
            order_status(Fulfilled, &[(S::Delivered, 1), (S::Delivered, 2)]),
            Delivered
        );
        // A cancelled shipment's units wait elsewhere, or are gone.
        assert_eq!(
            order_status(PartiallyFulfilled, &[(S::Delivered, 1), (S::Cancelled, 2)]),
            Delivered
        );
        // Nothing to ship says nothing.
        assert_eq!(order_status(Paid, &[]), Paid);
        assert_eq!(order_status(Paid, &[(S::Cancelled, 2)]), Paid);
    }

    #[test]
    fn only_a_paid_order_in_fulfilment_follows() {
        for current in [Placed, Cancelled, Refunded, Delivered] {
            assert_eq!(order_status(current, &[(S::Delivered, 1)]), current);
        }
    }

    #[test]
    fn taking_pending_units_is_all_or_nothing() {
        let (a, b) = (ShipmentId::new(), ShipmentId::new());
        let u = |line, quantity| Units { line, quantity };
        let pending = vec![(a, vec![u(0, 2), u(1, 1)]), (b, vec![u(0, 3)])];
        assert_eq!(
            take_pending(&pending, &[u(0, 4)]),
            Ok(vec![(a, u(0, 2)), (b, u(0, 2))])
        );
        assert_eq!(
            take_pending(&pending, &[u(1, 1), u(0, 1), u(0, 1)]),
            Ok(vec![(a, u(0, 2)), (a, u(1, 1))])
        );
        assert_eq!(
            take_pending(&pending, &[u(1, 2)]),
            Err(TakeError::NotPending {
                line: 1,
                asked: 2,
                pending: 1
            })
        );
        assert_eq!(take_pending(&pending, &[u(0, 0)]), Err(TakeError::Empty));
        assert_eq!(
            take_pending(&pending, &[u(7, 1)]),
            Err(TakeError::NotPending {
                line: 7,
                asked: 1,
                pending: 0
            })
        );
    }

    fn status() -> impl Strategy<Value = ShipmentStatus> {
        prop::sample::select(ShipmentStatus::ALL.to_vec())
    }

    proptest! {
        /// Whatever the shipments, the order only moves as the order
        /// lifecycle allows, and a delivered order had every live unit
        /// delivered.
        #[test]
        fn the_order_moves_only_as_allowed(
            current in prop::sample::select(OrderStatus::ALL.to_vec()),
            shipments in prop::collection::vec((status(), 1i64..5), 0..6),
        ) {
            let next = order_status(current, &shipments);
            prop_assert!(next == current || order_state::allowed(current, next));
            if next == Delivered && current != Delivered {
                prop_assert!(shipments.iter().all(|(s, _)| matches!(s, S::Delivered | S::Cancelled)));
            }
        }

        /// What is taken is exactly what was asked, and never more than a
        /// pending shipment holds of a line.
        #[test]
        fn takes_exactly_what_is_asked(
            pending in prop::collection::vec(prop::collection::vec((0i32..3, 1i32..4), 0..3), 0..4),
            wanted in prop::collection::vec((0i32..3, 0i32..5), 0..4),
        ) {
            let pending: Vec<(ShipmentId, Vec<Units>)> = pending
                .into_iter()
                .map(|ls| (ShipmentId::new(), ls.into_iter().map(|(line, quantity)| Units { line, quantity }).collect()))
                .collect();
            let wanted: Vec<Units> = wanted.into_iter().map(|(line, quantity)| Units { line, quantity }).collect();
            if let Ok(taken) = take_pending(&pending, &wanted) {
                for line in 0..3 {
                    let asked: i64 = wanted.iter().filter(|u| u.line == line).map(|u| i64::from(u.quantity)).sum();
                    let got: i64 = taken.iter().filter(|(_, u)| u.line == line).map(|(_, u)| i64::from(u.quantity)).sum();
                    prop_assert_eq!(asked, got);
                }
                for (shipment, units) in &pending {
                    for line in 0..3 {
                        let had: i64 = units.iter().filter(|u| u.line == line).map(|u| i64::from(u.quantity)).sum();
                        let gave: i64 = taken.iter().filter(|(s, u)| s == shipment && u.line == line).map(|(_, u)| i64::from(u.quantity)).sum();
                        prop_assert!(gave <= had);
                    }
                }
            }
        }
    }
}
