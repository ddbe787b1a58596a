//! Where a store goes: placement by headroom. Pure functions over plain data.
//!
//! A pod has a capacity in three dimensions (store slots, bytes, orders per
//! hour) and a usage in the same three, from the load figures its stores
//! report. A store goes to the active pod that still fits it in every
//! dimension and keeps the most headroom once it is there. The rebalance
//! planner and draining ([`crate::rebalance`]) place stores the same way.

use mercato_tenants::{PodId, PodState};
use serde::Serialize;

/// An amount in each dimension placement weighs: a pod's capacity, its usage,
/// or what one store needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Capacity {
    pub stores: u64,
    pub bytes: u64,
    pub orders_per_hour: u64,
}

impl Capacity {
    /// `self + other` in every dimension (saturating, so an absurd figure
    /// reads as "full" instead of wrapping around to "empty").
    pub fn plus(&self, other: &Capacity) -> Capacity {
        Capacity {
            stores: self.stores.saturating_add(other.stores),
            bytes: self.bytes.saturating_add(other.bytes),
            orders_per_hour: self.orders_per_hour.saturating_add(other.orders_per_hour),
        }
    }

    /// `self - other` in every dimension, floored at zero.
    pub fn minus(&self, other: &Capacity) -> Capacity {
        Capacity {
            stores: self.stores.saturating_sub(other.stores),
            bytes: self.bytes.saturating_sub(other.bytes),
            orders_per_hour: self.orders_per_hour.saturating_sub(other.orders_per_hour),
        }
    }

    /// Whether `self` is within `limit` in every dimension.
    pub fn within(&self, limit: &Capacity) -> bool {
        self.stores <= limit.stores
            && self.bytes <= limit.bytes
            && self.orders_per_hour <= limit.orders_per_hour
    }
}

/// What placement knows of a pod.
#[derive(Debug, Clone, PartialEq)]
pub struct PodLoad {
    pub pod: PodId,
    pub state: PodState,
    pub capacity: Capacity,
    pub used: Capacity,
}

impl PodLoad {
    /// Whether a store needing `need` fits on this pod in every dimension
    /// (a store always takes at least one store slot).
    pub fn fits(&self, need: &Capacity) -> bool {
        self.used.plus(&store_need(need)).within(&self.capacity)
    }
}

/// How much each dimension counts in [`headroom`].
#[derive(Debug, Clone, Copy)]
pub struct Weights {
    pub bytes: f64,
    pub orders: f64,
    pub stores: f64,
}

impl Default for Weights {
    fn default() -> Self {
        Weights {
            bytes: 0.5,
            orders: 0.3,
            stores: 0.2,
        }
    }
}

/// The free fraction of one dimension, in [0, 1]; a dimension without
/// capacity has none.
fn free_fraction(used: u64, capacity: u64) -> f64 {
    if capacity == 0 {
        return 0.0;
    }
    let free = capacity.saturating_sub(used) as f64 / capacity as f64;
    free.clamp(0.0, 1.0)
}

/// The pod's weighted free fraction over bytes, orders per hour and store
/// slots, in [0, 1]: 1 for an empty pod, 0 for a full one. The weights are
/// normalised, so only their ratios matter; negative or non-finite weights
/// count as zero, and with no weight at all every pod has headroom 0.
pub fn headroom(pod: &PodLoad, weights: &Weights) -> f64 {
    let w = |x: f64| if x.is_finite() && x > 0.0 { x } else { 0.0 };
    let (wb, wo, ws) = (w(weights.bytes), w(weights.orders), w(weights.stores));
    let total = wb + wo + ws;
    if total <= 0.0 || !total.is_finite() {
        return 0.0;
    }
    let score = wb * free_fraction(pod.used.bytes, pod.capacity.bytes)
        + wo * free_fraction(pod.used.orders_per_hour, pod.capacity.orders_per_hour)
        + ws * free_fraction(pod.used.stores, pod.capacity.stores);
    (score / total).clamp(0.0, 1.0)
}

/// A store takes at least one store slot, whatever `need.stores` says.
fn store_need(need: &Capacity) -> Capacity {
    Capacity {
        stores: need.stores.max(1),
        ..*need
    }
}

/// Where a store with figures `need` goes: the Active pod (never
/// Draining/Drained, never `exclude`) that still fits `used + need <=
/// capacity` in every dimension (a store takes at least one store slot, so
/// `need.stores` is read as at least 1), with the most headroom AFTER adding
/// `need` (default [`Weights`]); ties go to the lowest pod id, so the answer
/// does not depend on the order of `pods`. `None` when nothing fits.
pub fn place_store(pods: &[PodLoad], need: &Capacity, exclude: Option<PodId>) -> Option<PodId> {
    let need = store_need(need);
    let weights = Weights::default();
    pods.iter()
        .filter(|p| p.state == PodState::Active && Some(p.pod) != exclude && p.fits(&need))
        .map(|p| {
            let after = PodLoad {
                used: p.used.plus(&need),
                ..p.clone()
            };
            (headroom(&after, &weights), p.pod)
        })
        // Most headroom first; on equal headroom the lower id wins.
        .max_by(|(ha, a), (hb, b)| ha.total_cmp(hb).then_with(|| b.cmp(a)))
        .map(|(_, pod)| pod)
}

/// Where a new, empty store goes: it needs one store slot and nothing else.
pub fn place(pods: &[PodLoad]) -> Option<PodId> {
    place_store(
        pods,
        &Capacity {
            stores: 1,
            bytes: 0,
            orders_per_hour: 0,
        },
        None,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use uuid::Uuid;

    fn cap(stores: u64, bytes: u64, orders_per_hour: u64) -> Capacity {
        Capacity {
            stores,
            bytes,
            orders_per_hour,
        }
    }

    fn pod(state: PodState, capacity: Capacity, used: Capacity) -> PodLoad {
        PodLoad {
            pod: PodId::new(),
            state,
            capacity,
            used,
        }
    }

    fn slots(state: PodState, capacity: u64, stores: u64) -> PodLoad {
        pod(state, cap(capacity, 1000, 1000), cap(stores, 0, 0))
    }

    #[test]
    fn headroom_is_the_weighted_free_fraction() {
        let empty = slots(PodState::Active, 10, 0);
        assert_eq!(headroom(&empty, &Weights::default()), 1.0);
        let full = pod(PodState::Active, cap(10, 100, 100), cap(10, 100, 100));
        assert_eq!(headroom(&full, &Weights::default()), 0.0);
        // Half the bytes, all the orders, a tenth of the slots used.
        let p = pod(PodState::Active, cap(10, 100, 100), cap(1, 50, 100));
        let h = headroom(&p, &Weights::default());
        assert!(
            (h - (0.5 * 0.5 + 0.3 * 0.0 + 0.2 * 0.9)).abs() < 1e-12,
            "{h}"
        );
        // Over capacity counts as full, not negative.
        let over = pod(PodState::Active, cap(1, 10, 10), cap(5, 50, 50));
        assert_eq!(headroom(&over, &Weights::default()), 0.0);
        // Only the weights' ratios matter.
        let doubled = Weights {
            bytes: 1.0,
            orders: 0.6,
            stores: 0.4,
        };
        assert!((headroom(&p, &doubled) - h).abs() < 1e-12);
        let none = Weights {
            bytes: 0.0,
            orders: -1.0,
            stores: f64::NAN,
        };
        assert_eq!(headroom(&p, &none), 0.0);
    }

    #[test]
    fn picks_the_active_pod_with_the_most_headroom() {
        let full = slots(PodState::Active, 2, 2);
        let busy = slots(PodState::Active, 10, 5);
        let draining = slots(PodState::Draining, 10, 0);
        let drained = slots(PodState::Drained, 10, 0);
        let light = slots(PodState::Active, 10, 1);
        assert_eq!(
            place(&[full, busy, draining, drained, light.clone()]),
            Some(light.pod)
        );
    }

    #[test]
    fn bytes_weigh_more_than_store_counts() {
        // Fewer stores but nearly full of bytes loses to more stores with
        // plenty of free bytes.
        let heavy = pod(PodState::Active, cap(100, 1000, 1000), cap(1, 900, 0));
        let many = pod(PodState::Active, cap(100, 1000, 1000), cap(50, 100, 0));
        assert_eq!(place(&[heavy, many.clone()]), Some(many.pod));
    }

    #[test]
    fn a_store_must_fit_in_every_dimension() {
        let need = cap(1, 600, 10);
        let no_bytes = pod(PodState::Active, cap(10, 1000, 1000), cap(0, 500, 0));
        let no_orders = pod(PodState::Active, cap(10, 10_000, 5), cap(0, 0, 0));
        let no_slot = pod(PodState::Active, cap(3, 10_000, 1000), cap(3, 0, 0));
        assert_eq!(
            place_store(&[no_bytes.clone(), no_orders, no_slot], &need, None),
            None
        );
        // Exactly full after placement still fits.
        let exact = pod(PodState::Active, cap(1, 600, 10), cap(0, 0, 0));
        assert_eq!(
            place_store(&[no_bytes, exact.clone()], &need, None),
            Some(exact.pod)
        );
    }

    #[test]
    fn a_store_takes_a_slot_even_when_need_says_none() {
        let no_slot = slots(PodState::Active, 3, 3);
        assert_eq!(place_store(&[no_slot], &cap(0, 0, 0), None), None);
    }

    #[test]
    fn exclude_is_never_chosen() {
        let a = slots(PodState::Active, 10, 0);
        let b = slots(PodState::Active, 10, 9);
        assert_eq!(
            place_store(&[a.clone(), b.clone()], &cap(1, 0, 0), Some(a.pod)),
            Some(b.pod)
        );
        let (a_id, b_id) = (a.pod, b.pod);
        assert_eq!(place_store(&[a], &cap(1, 0, 0), Some(b_id)), Some(a_id));
        assert_eq!(place_store(&[b], &cap(1, 0, 0), Some(b_id)), None);
    }

    #[test]
    fn none_when_no_pod_has_room() {
        assert_eq!(place(&[]), None);
        assert_eq!(
            place(&[
                slots(PodState::Active, 1, 1),
                slots(PodState::Draining, 5, 0)
            ]),
            None
        );
    }

    #[test]
    fn ties_are_deterministic() {
        let a = slots(PodState::Active, 5, 1);
        let b = slots(PodState::Active, 5, 1);
        let expected = a.pod.min(b.pod);
        assert_eq!(place(&[a.clone(), b.clone()]), Some(expected));
        assert_eq!(place(&[b, a]), Some(expected));
    }

    #[test]
    fn spreads_stores_over_pods() {
        let mut pods = vec![slots(PodState::Active, 3, 0), slots(PodState::Active, 3, 0)];
        for _ in 0..6 {
            let chosen = place(&pods).expect("room left");
            let p = pods
                .iter_mut()
                .find(|p| p.pod == chosen)
                .expect("chosen pod exists");
            p.used.stores += 1;
            assert!(p.used.within(&p.capacity));
        }
        assert!(pods.iter().all(|p| p.used.stores == 3));
        assert_eq!(place(&pods), None);
    }

    // Properties.

    fn state() -> impl Strategy<Value = PodState> {
        prop_oneof![
            3 => Just(PodState::Active),
            1 => Just(PodState::Draining),
            1 => Just(PodState::Drained),
        ]
    }

    /// Small numbers, so that full pods, exact fits and ties all happen.
    fn capacity() -> impl Strategy<Value = Capacity> {
        (0u64..8, 0u64..100, 0u64..100).prop_map(|(s, b, o)| cap(s, b, o))
    }

    fn usage() -> impl Strategy<Value = Capacity> {
        (0u64..5, 0u64..50, 0u64..50).prop_map(|(s, b, o)| cap(s, b, o))
    }

    fn need() -> impl Strategy<Value = Capacity> {
        (0u64..3, 0u64..25, 0u64..25).prop_map(|(s, b, o)| cap(s, b, o))
    }

    /// Up to 8 pods with distinct ids whose order is unrelated to input
    /// order; a quarter repeat the previous pod's figures, so ties happen.
    fn pods() -> impl Strategy<Value = Vec<PodLoad>> {
        let pod = (state(), capacity(), usage(), prop::bool::weighted(0.25));
        prop::collection::vec(pod, 0..8).prop_map(|v| {
            let mut pods: Vec<PodLoad> = Vec::new();
            for (i, (state, capacity, used, repeat)) in v.into_iter().enumerate() {
                let id = PodId::from_uuid(Uuid::from_u128(((i as u128) * 7919) % 101));
                let pod = match pods.last() {
                    Some(prev) if repeat => PodLoad {
                        pod: id,
                        ..prev.clone()
                    },
                    _ => PodLoad {
                        pod: id,
                        state,
                        capacity,
                        used,
                    },
                };
                pods.push(pod);
            }
            pods
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1024))]

        #[test]
        fn never_over_capacity_never_inactive_never_excluded(
            pods in pods(),
            need in need(),
            exclude_at in prop::option::of(0usize..8),
        ) {
            let exclude = exclude_at.and_then(|i| pods.get(i)).map(|p| p.pod);
            if let Some(chosen) = place_store(&pods, &need, exclude) {
                let p = pods.iter().find(|p| p.pod == chosen).expect("a known pod");
                prop_assert_eq!(p.state, PodState::Active);
                prop_assert_ne!(Some(chosen), exclude);
                let after = p.used.plus(&cap(need.stores.max(1), need.bytes, need.orders_per_hour));
                prop_assert!(after.within(&p.capacity));
            }
        }

        #[test]
        fn some_whenever_a_pod_fits_and_it_is_the_best(
            pods in pods(),
            need in need(),
            exclude_at in prop::option::of(0usize..8),
        ) {
            let exclude = exclude_at.and_then(|i| pods.get(i)).map(|p| p.pod);
            let need1 = cap(need.stores.max(1), need.bytes, need.orders_per_hour);
            // Brute force: every feasible pod with its headroom afterwards.
            let feasible: Vec<(f64, PodId)> = pods
                .iter()
                .filter(|p| p.state == PodState::Active && Some(p.pod) != exclude)
                .filter(|p| {
                    p.used.stores + need1.stores <= p.capacity.stores
                        && p.used.bytes + need1.bytes <= p.capacity.bytes
                        && p.used.orders_per_hour + need1.orders_per_hour <= p.capacity.orders_per_hour
                })
                .map(|p| {
                    let after = PodLoad { used: p.used.plus(&need1), ..p.clone() };
                    (headroom(&after, &Weights::default()), p.pod)
                })
                .collect();
            let chosen = place_store(&pods, &need, exclude);
            prop_assert_eq!(chosen.is_some(), !feasible.is_empty());
            if let Some(chosen) = chosen {
                let (best, _) = feasible.iter().find(|(_, id)| *id == chosen).expect("chosen is feasible");
                for (h, id) in &feasible {
                    prop_assert!(h < best || (h == best && *id >= chosen));
                }
            }
        }

        #[test]
        fn deterministic_under_permutation(
            (pods, shuffled) in pods().prop_flat_map(|p| (Just(p.clone()), Just(p).prop_shuffle())),
            need in need(),
        ) {
            prop_assert_eq!(place_store(&pods, &need, None), place_store(&shuffled, &need, None));
            prop_assert_eq!(place(&pods), place(&shuffled));
        }
    }
}
