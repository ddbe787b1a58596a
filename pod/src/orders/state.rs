//! The order lifecycle as one pure function. The database holds the same
//! table (`order_transitions`, enforced by a trigger), and a test checks
//! the two agree.

pub use mercato_tenants::OrderStatus;

/// No way out: the order's story is over.
pub fn is_terminal(status: OrderStatus) -> bool {
    OrderStatus::ALL.iter().all(|to| !allowed(status, *to))
}

/// Whether an order may go from `from` to `to`. The only place this rule
/// lives in Rust. Past `paid` the order follows its shipments
/// (the fulfillment context's `progress::order_status`): some units shipped, all shipped, all
/// delivered. Partially fulfilled may jump to delivered when the units
/// still waiting are cancelled after the rest arrived.
pub fn allowed(from: OrderStatus, to: OrderStatus) -> bool {
    use OrderStatus::*;
    matches!(
        (from, to),
        (Placed, Paid | Cancelled)
            | (Paid, PartiallyFulfilled | Fulfilled | Cancelled | Refunded)
            | (PartiallyFulfilled, Fulfilled | Delivered | Refunded)
            | (Fulfilled, Delivered | Refunded)
            | (Delivered, Refunded)
    )
}

/// What cancelling an order in `status` does to its money: an uncaptured
/// authorization is voided, captured money is refunded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CancelMoney {
    Void,
    Refund,
}

pub fn cancel_money(status: OrderStatus) -> Option<CancelMoney> {
    match status {
        OrderStatus::Placed => Some(CancelMoney::Void),
        OrderStatus::Paid => Some(CancelMoney::Refund),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::OrderStatus::*;
    use super::*;

    /// Every sequence of requested transitions up to `len` long, applied
    /// with `allowed` as the guard (illegal requests are refused and leave
    /// the status unchanged).
    fn walks(len: usize, mut visit: impl FnMut(&[OrderStatus], &[OrderStatus])) {
        fn go(
            len: usize,
            requested: &mut Vec<OrderStatus>,
            path: &mut Vec<OrderStatus>,
            visit: &mut dyn FnMut(&[OrderStatus], &[OrderStatus]),
        ) {
            visit(requested, path);
            if requested.len() == len {
                return;
            }
            for to in OrderStatus::ALL {
                let from = *path.last().expect("a path starts at placed");
                requested.push(to);
                let moved = allowed(from, to);
                if moved {
                    path.push(to);
                }
                go(len, requested, path, visit);
                if moved {
                    path.pop();
                }
                requested.pop();
            }
        }
        go(len, &mut Vec::new(), &mut vec![Placed], &mut visit);
    }

    #[test]
    fn properties_hold_on_every_walk_of_six_requests() {
        let mut count = 0u64;
        walks(6, |_, path| {
            count += 1;
            // Statuses never repeat: no cycles.
            for (i, a) in path.iter().enumerate() {
                assert!(!path[i + 1..].contains(a), "cycle in {path:?}");
            }
            // A terminal status is final.
            for (i, s) in path.iter().enumerate() {
                if is_terminal(*s) {
                    assert_eq!(i, path.len() - 1, "moved after terminal in {path:?}");
                }
            }
            // Money moves only after payment: nothing before paid ships.
            let paid_at = path.iter().position(|s| *s == Paid);
            for shipped in [PartiallyFulfilled, Fulfilled, Delivered, Refunded] {
                if let Some(i) = path.iter().position(|s| *s == shipped) {
                    assert!(
                        matches!(paid_at, Some(p) if p < i),
                        "{shipped:?} unpaid in {path:?}"
                    );
                }
            }
            // Cancelling is only possible before anything shipped.
            if let Some(i) = path.iter().position(|s| *s == Cancelled) {
                assert!(
                    !path[..i]
                        .iter()
                        .any(|s| matches!(s, PartiallyFulfilled | Fulfilled | Delivered)),
                    "cancelled after shipping: {path:?}"
                );
            }
            // Fulfilment goes in order.
            let order = [Paid, PartiallyFulfilled, Fulfilled, Delivered];
            let seen: Vec<usize> = path
                .iter()
                .filter_map(|s| order.iter().position(|o| o == s))
                .collect();
            assert!(
                seen.windows(2).all(|w| w[0] < w[1]),
                "out of order: {path:?}"
            );
        });
        assert_eq!(count, (0..=6).map(|k| 7u64.pow(k)).sum::<u64>());
    }

    #[test]
    fn every_status_is_reachable_and_exactly_two_are_terminal() {
        let mut reached = std::collections::HashSet::new();
        walks(5, |_, path| {
            reached.extend(path.iter().copied());
        });
        assert_eq!(reached.len(), OrderStatus::ALL.len());
        let terminal: Vec<_> = OrderStatus::ALL
            .into_iter()
            .filter(|s| is_terminal(*s))
            .collect();
        assert_eq!(terminal, vec![Cancelled, Refunded]);
    }

    #[test]
    fn nothing_moves_to_itself_or_back_to_placed() {
        for s in OrderStatus::ALL {
            assert!(!allowed(s, s));
            assert!(!allowed(s, Placed));
        }
    }

    #[test]
    fn cancelling_voids_before_capture_and_refunds_after() {
        assert_eq!(cancel_money(Placed), Some(CancelMoney::Void));
        assert_eq!(cancel_money(Paid), Some(CancelMoney::Refund));
        for s in [
            PartiallyFulfilled,
            Fulfilled,
            Delivered,
            Cancelled,
            Refunded,
        ] {
            assert_eq!(cancel_money(s), None);
            assert!(!allowed(s, Cancelled));
        }
    }

    #[test]
    fn names_round_trip() {
        for s in OrderStatus::ALL {
            assert_eq!(OrderStatus::parse(s.as_str()), Some(s));
        }
        assert_eq!(OrderStatus::parse("lost"), None);
    }
}
