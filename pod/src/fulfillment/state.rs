//! The shipment lifecycle as one pure function. The database holds the
//! same table (`shipment_transitions`, enforced by a trigger), and a test
//! (tests/fulfillment.rs) checks the two agree.

pub use mercato_tenants::ShipmentStatus;

/// No way out: the shipment's story is over.
pub fn is_terminal(status: ShipmentStatus) -> bool {
    ShipmentStatus::ALL.iter().all(|to| !allowed(status, *to))
}

/// Whether a shipment may go from `from` to `to`. The only place this rule
/// lives in Rust. A label is optional (pending may ship directly), tracking
/// updates are optional (shipped may be delivered directly), and only a
/// shipment whose units have not left may be cancelled.
pub fn allowed(from: ShipmentStatus, to: ShipmentStatus) -> bool {
    use ShipmentStatus::*;
    matches!(
        (from, to),
        (Pending, LabelCreated | Shipped | Cancelled)
            | (LabelCreated, Shipped | Cancelled)
            | (Shipped, InTransit | Delivered)
            | (InTransit, Delivered)
    )
}

/// Whether the shipment's units have left their location (and so are no
/// longer in its stock).
pub fn has_left(status: ShipmentStatus) -> bool {
    use ShipmentStatus::*;
    matches!(status, Shipped | InTransit | Delivered)
}

#[cfg(test)]
mod tests {
    use super::ShipmentStatus::*;
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn delivered_and_cancelled_are_the_only_ends() {
        let ends: Vec<ShipmentStatus> = ShipmentStatus::ALL
            .into_iter()
            .filter(|s| is_terminal(*s))
            .collect();
        assert_eq!(ends, vec![Delivered, Cancelled]);
    }

    #[test]
    fn names_round_trip() {
        for s in ShipmentStatus::ALL {
            assert_eq!(ShipmentStatus::parse(s.as_str()), Some(s));
            let json = serde_json::to_value(s).expect("serializes");
            assert_eq!(json.as_str(), Some(s.as_str()));
        }
    }

    proptest! {
        /// Any requested sequence, applied with `allowed` as the guard:
        /// the path follows the lifecycle's order, never revisits a status,
        /// and never cancels once the units have left.
        #[test]
        fn walks_follow_the_lifecycle(
            requests in prop::collection::vec(prop::sample::select(ShipmentStatus::ALL.to_vec()), 0..12),
        ) {
            let order = [Pending, LabelCreated, Shipped, InTransit, Delivered];
            let mut path = vec![Pending];
            for to in requests {
                let from = *path.last().expect("starts at pending");
                if allowed(from, to) {
                    prop_assert!(!path.contains(&to), "revisits {to:?} after {path:?}");
                    if to == Cancelled {
                        prop_assert!(!path.iter().any(|s| has_left(*s)), "cancelled after leaving: {path:?}");
                    }
                    path.push(to);
                }
            }
            let seen: Vec<usize> = path.iter().filter_map(|s| order.iter().position(|o| o == s)).collect();
            prop_assert!(seen.windows(2).all(|w| w[0] < w[1]), "out of order: {path:?}");
        }
    }
}
