//! Rebalancing and draining plans: pure functions over the fleet's load
//! figures ([`PodLoad`], [`StoreLoad`]). They only propose moves; the mover
//! carries them out one at a time.
//!
//! Pod and store ids are assumed unique in the input (they are in the
//! database). Every computation runs over the input sorted by id, so the
//! same fleet given in any order yields the same plan.

use std::cmp::Reverse;

pub use mercato_tenants::operator::rebalance::{Measure, Plan, PlannedMove};
use mercato_tenants::{PodId, PodState, StoreId};

use crate::placement::{place_store, Capacity, PodLoad};

/// The latest figures of one store and the pod it is on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreLoad {
    pub store: StoreId,
    pub pod: PodId,
    pub rows: u64,
    pub bytes: u64,
    pub orders_per_hour: u64,
}

impl StoreLoad {
    /// How much of `measure` the store accounts for.
    pub fn amount(&self, measure: Measure) -> u64 {
        match measure {
            Measure::Bytes => self.bytes,
            Measure::Rows => self.rows,
            Measure::Orders => self.orders_per_hour,
            Measure::Stores => 1,
        }
    }

    /// What the store takes on a pod: one slot, its bytes and its orders.
    pub fn need(&self) -> Capacity {
        Capacity {
            stores: 1,
            bytes: self.bytes,
            orders_per_hour: self.orders_per_hour,
        }
    }
}

/// The band is compared in millionths, in integers, so that "within the
/// band" and "the imbalance went down" are exact.
const PPM: i128 = 1_000_000;

/// The fleet's active pods, their measure and usage, as the planner changes
/// them. All arithmetic is in `i128`: sums of `u64` figures cannot overflow.
struct Fleet {
    pods: Vec<PodLoad>,
    values: Vec<i128>,
    total: i128,
    band_ppm: i128,
}

impl Fleet {
    /// How far a pod holding `value` is outside the band, scaled by
    /// `pods × 10⁶` so it is an integer: `max(0, |n·v − Σ|·10⁶ − band·Σ)`,
    /// which is zero exactly when `|v − mean| ≤ band × mean`.
    fn excess(&self, value: i128) -> i128 {
        let n = self.pods.len() as i128;
        let deviation = (n.saturating_mul(value) - self.total).abs();
        (deviation.saturating_mul(PPM) - self.band_ppm.saturating_mul(self.total)).max(0)
    }

    fn imbalance(&self) -> i128 {
        self.values.iter().map(|v| self.excess(*v)).sum()
    }

    /// The squared distance from the mean, the tie-break between moves that
    /// cut the imbalance equally (the more even result wins).
    fn spread(&self, value: i128) -> f64 {
        let mean = self.total as f64 / self.pods.len() as f64;
        (value as f64 - mean).powi(2)
    }
}

/// Fewest moves that bring every ACTIVE pod within ±`band` (0.10 = ±10 %) of
/// the mean of the active pods by `measure`, never taking a pod over any of
/// its capacities.
///
/// Greedy: at each step, among all (store, target) pairs, take the move that
/// cuts the imbalance — the total distance of the pods outside the band,
/// computed exactly in integers — the most; equal cuts go to the move that
/// leaves the pods closer to the mean (sum of squares), then to the lowest
/// store id, then the lowest target pod id. A move is a candidate only if
///
/// - the store carries some of the measure, has not moved yet in this plan
///   (so every store moves at most once and the plan has at most one move
///   per store), and fits the target in every capacity (one store slot, its
///   bytes, its orders per hour) given the moves before it;
/// - its amount is strictly less than the gap between source and target, so
///   both end strictly between their old values: the largest deviation from
///   the mean never grows, and
/// - it strictly reduces the imbalance.
///
/// Planning stops when the fleet is within the band or no candidate is left;
/// `balanced` tells which. A fleet already within the band gets no moves.
/// Taking the biggest cut first makes large stores move first, which is what
/// keeps the number of moves low (a greedy, not an optimal, answer: the
/// optimum is a bin-packing problem).
///
/// Stores on pods that are not active (or not in `pods`) are ignored:
/// draining is [`drain`]'s business. A negative or NaN `band` counts as 0.
pub fn plan(pods: &[PodLoad], stores: &[StoreLoad], measure: Measure, band: f64) -> Plan {
    let band = if band.is_nan() {
        0.0
    } else {
        band.clamp(0.0, 1e6)
    };
    let mut active: Vec<PodLoad> = pods
        .iter()
        .filter(|p| p.state == PodState::Active)
        .cloned()
        .collect();
    active.sort_by_key(|p| p.pod);
    // Each store with the index of its (active) pod, by store id.
    let mut placed: Vec<(&StoreLoad, usize, bool)> = stores
        .iter()
        .filter_map(|s| {
            active
                .binary_search_by_key(&s.pod, |p| p.pod)
                .ok()
                .map(|i| (s, i, false))
        })
        .collect();
    placed.sort_by_key(|(s, _, _)| s.store);
    let mut values = vec![0i128; active.len()];
    for (s, i, _) in &placed {
        values[*i] += i128::from(s.amount(measure));
    }
    let fleet_total: i128 = values.iter().sum();
    let mut used: Vec<Capacity> = active.iter().map(|p| p.used).collect();
    let mut fleet = Fleet {
        pods: active,
        values,
        total: fleet_total,
        band_ppm: (band * PPM as f64).round() as i128,
    };
    let mean = if fleet.pods.is_empty() {
        0.0
    } else {
        fleet.total as f64 / fleet.pods.len() as f64
    };

    let mut moves = Vec::new();
    // Each store moves at most once; the cap only guards the loop.
    for _ in 0..=placed.len() {
        let imbalance = fleet.imbalance();
        if imbalance == 0 {
            break;
        }
        // (imbalance cut, spread change, index in `placed`, target)
        let mut best: Option<(i128, f64, usize, usize)> = None;
        for (k, (store, from, moved)) in placed.iter().enumerate() {
            let amount = i128::from(store.amount(measure));
            if *moved || amount == 0 {
                continue;
            }
            let from = *from;
            let source = fleet.values[from];
            let need = store.need();
            for (to, (&target, pod)) in fleet.values.iter().zip(&fleet.pods).enumerate() {
                if to == from || amount >= source - target {
                    continue;
                }
                if !used[to].plus(&need).within(&pod.capacity) {
                    continue;
                }
                let cut = fleet.excess(source) + fleet.excess(target)
                    - fleet.excess(source - amount)
                    - fleet.excess(target + amount);
                if cut <= 0 {
                    continue;
                }
                let spread = fleet.spread(source - amount) + fleet.spread(target + amount)
                    - fleet.spread(source)
                    - fleet.spread(target);
                let better = match best {
                    None => true,
                    Some((best_cut, best_spread, _, _)) => {
                        cut > best_cut || (cut == best_cut && spread < best_spread)
                    }
                };
                if better {
                    best = Some((cut, spread, k, to));
                }
            }
        }
        let Some((_, _, k, to)) = best else { break };
        let (store, from, moved) = &mut placed[k];
        let amount = store.amount(measure);
        let need = store.need();
        fleet.values[*from] -= i128::from(amount);
        fleet.values[to] += i128::from(amount);
        used[*from] = used[*from].minus(&need);
        used[to] = used[to].plus(&need);
        moves.push(PlannedMove {
            store_id: store.store,
            from_pod_id: fleet.pods[*from].pod,
            to_pod_id: fleet.pods[to].pod,
            amount,
        });
        *from = to;
        *moved = true;
    }

    Plan {
        measure,
        mean,
        band,
        balanced: fleet.imbalance() == 0,
        moves,
    }
}

/// Why a pod cannot be drained.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum DrainError {
    #[error("no pod has room for store {0}")]
    NoRoom(StoreId),
    #[error("unknown pod")]
    UnknownPod,
}

/// Every store of `pod` to the pod [`place_store`] picks (never `pod`
/// itself, never a pod that is not active), largest first (by bytes, then
/// orders per hour, then rows; ties by store id), updating the loads as it
/// goes so later stores see the earlier ones placed. `amount` is the store's
/// bytes. `NoRoom` names the first store that fits nowhere; then nothing of
/// the plan should run.
pub fn drain(
    pods: &[PodLoad],
    stores: &[StoreLoad],
    pod: PodId,
) -> Result<Vec<PlannedMove>, DrainError> {
    if !pods.iter().any(|p| p.pod == pod) {
        return Err(DrainError::UnknownPod);
    }
    let mut loads = pods.to_vec();
    loads.sort_by_key(|p| p.pod);
    let mut leaving: Vec<&StoreLoad> = stores.iter().filter(|s| s.pod == pod).collect();
    leaving.sort_by_key(|s| {
        (
            Reverse(s.bytes),
            Reverse(s.orders_per_hour),
            Reverse(s.rows),
            s.store,
        )
    });
    let mut moves = Vec::with_capacity(leaving.len());
    for store in leaving {
        let need = store.need();
        let to = place_store(&loads, &need, Some(pod)).ok_or(DrainError::NoRoom(store.store))?;
        for load in &mut loads {
            if load.pod == to {
                load.used = load.used.plus(&need);
            } else if load.pod == pod {
                load.used = load.used.minus(&need);
            }
        }
        moves.push(PlannedMove {
            store_id: store.store,
            from_pod_id: pod,
            to_pod_id: to,
            amount: store.bytes,
        });
    }
    Ok(moves)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;
    use uuid::Uuid;

    fn pod_id(n: u128) -> PodId {
        PodId::from_uuid(Uuid::from_u128(n))
    }

    fn store_id(n: u128) -> StoreId {
        StoreId::from_uuid(Uuid::from_u128(n))
    }

    fn big() -> Capacity {
        Capacity {
            stores: 1_000,
            bytes: 1_000_000,
            orders_per_hour: 1_000_000,
        }
    }

    fn active(n: u128, capacity: Capacity) -> PodLoad {
        PodLoad {
            pod: pod_id(n),
            state: PodState::Active,
            capacity,
            used: Capacity::default(),
        }
    }

    fn store(n: u128, pod: u128, bytes: u64) -> StoreLoad {
        StoreLoad {
            store: store_id(n),
            pod: pod_id(pod),
            rows: bytes / 10,
            bytes,
            orders_per_hour: 0,
        }
    }

    /// The pods with `used` summed from the stores on them.
    fn with_usage(mut pods: Vec<PodLoad>, stores: &[StoreLoad]) -> Vec<PodLoad> {
        for p in &mut pods {
            p.used = stores
                .iter()
                .filter(|s| s.pod == p.pod)
                .fold(Capacity::default(), |acc, s| acc.plus(&s.need()));
        }
        pods
    }

    /// Per active pod, the measure once `moves` have run, checking each
    /// move's capacity on the way.
    fn apply(
        pods: &[PodLoad],
        stores: &[StoreLoad],
        measure: Measure,
        moves: &[PlannedMove],
    ) -> HashMap<PodId, u64> {
        let mut used: HashMap<PodId, Capacity> = pods.iter().map(|p| (p.pod, p.used)).collect();
        let mut at: HashMap<StoreId, PodId> = stores.iter().map(|s| (s.store, s.pod)).collect();
        for m in moves {
            let s = stores
                .iter()
                .find(|s| s.store == m.store_id)
                .expect("a known store");
            assert_eq!(at[&m.store_id], m.from_pod_id, "moved from where it is");
            let target = pods
                .iter()
                .find(|p| p.pod == m.to_pod_id)
                .expect("a known pod");
            assert_eq!(target.state, PodState::Active);
            let after = used[&m.to_pod_id].plus(&s.need());
            assert!(after.within(&target.capacity), "{m:?} overfills the target");
            used.insert(m.to_pod_id, after);
            let from = used[&m.from_pod_id].minus(&s.need());
            used.insert(m.from_pod_id, from);
            at.insert(m.store_id, m.to_pod_id);
        }
        pods.iter()
            .filter(|p| p.state == PodState::Active)
            .map(|p| {
                let v = stores
                    .iter()
                    .filter(|s| at[&s.store] == p.pod)
                    .map(|s| s.amount(measure))
                    .sum();
                (p.pod, v)
            })
            .collect()
    }

    fn max_deviation(values: &HashMap<PodId, u64>) -> f64 {
        if values.is_empty() {
            return 0.0;
        }
        let mean = values.values().sum::<u64>() as f64 / values.len() as f64;
        values
            .values()
            .map(|v| (*v as f64 - mean).abs())
            .fold(0.0, f64::max)
    }

    /// Exactly, in integers: `|v − mean| ≤ band × mean` with the band in
    /// thousandths.
    fn within_band(values: &HashMap<PodId, u64>, band_milli: u32) -> bool {
        let n = values.len() as i128;
        let total: i128 = values.values().map(|v| i128::from(*v)).sum();
        values
            .values()
            .all(|v| (n * i128::from(*v) - total).abs() * 1000 <= i128::from(band_milli) * total)
    }

    #[test]
    fn a_balanced_fleet_needs_no_moves() {
        let stores = [store(1, 1, 100), store(2, 2, 105), store(3, 3, 95)];
        let pods = with_usage(
            vec![active(1, big()), active(2, big()), active(3, big())],
            &stores,
        );
        let plan = plan(&pods, &stores, Measure::Bytes, 0.10);
        assert_eq!(plan.moves, vec![]);
        assert!(plan.balanced);
        assert_eq!(plan.mean, 100.0);
        assert_eq!(plan.band, 0.10);
    }

    #[test]
    fn an_empty_fleet_is_balanced() {
        let plan = plan(&[], &[], Measure::Bytes, 0.10);
        assert_eq!(plan.moves, vec![]);
        assert!(plan.balanced);
        assert_eq!(plan.mean, 0.0);
    }

    #[test]
    fn moves_the_store_that_evens_out_the_most() {
        // Pod 1 holds 300, pod 2 holds 100: mean 200. Moving the 100 store
        // balances both in one move; the 150 store would overshoot.
        let stores = [
            store(1, 1, 150),
            store(2, 1, 100),
            store(3, 1, 50),
            store(4, 2, 100),
        ];
        let pods = with_usage(vec![active(1, big()), active(2, big())], &stores);
        let plan = plan(&pods, &stores, Measure::Bytes, 0.10);
        assert_eq!(
            plan.moves,
            vec![PlannedMove {
                store_id: store_id(2),
                from_pod_id: pod_id(1),
                to_pod_id: pod_id(2),
                amount: 100,
            }]
        );
        assert!(plan.balanced);
        assert_eq!(plan.mean, 200.0);
    }

    #[test]
    fn by_store_count() {
        let stores: Vec<StoreLoad> = (0..6).map(|i| store(i, 1, 1000 * (i as u64 + 1))).collect();
        let pods = with_usage(vec![active(1, big()), active(2, big())], &stores);
        let plan = plan(&pods, &stores, Measure::Stores, 0.0);
        assert_eq!(plan.moves.len(), 3);
        assert!(plan
            .moves
            .iter()
            .all(|m| m.amount == 1 && m.to_pod_id == pod_id(2)));
        assert!(plan.balanced);
    }

    #[test]
    fn never_over_capacity_even_if_unbalanced() {
        // Pod 2 has room for one more store only.
        let stores = [
            store(1, 1, 100),
            store(2, 1, 100),
            store(3, 1, 100),
            store(4, 2, 10),
        ];
        let small = Capacity { stores: 2, ..big() };
        let pods = with_usage(vec![active(1, big()), active(2, small)], &stores);
        let plan = plan(&pods, &stores, Measure::Bytes, 0.10);
        assert_eq!(plan.moves.len(), 1);
        assert_eq!(plan.moves[0].to_pod_id, pod_id(2));
        assert!(!plan.balanced);
    }

    #[test]
    fn stores_on_inactive_pods_are_ignored() {
        let stores = [store(1, 1, 100), store(2, 2, 100), store(3, 3, 5000)];
        let mut draining = active(3, big());
        draining.state = PodState::Draining;
        let pods = with_usage(vec![active(1, big()), active(2, big()), draining], &stores);
        let plan = plan(&pods, &stores, Measure::Bytes, 0.10);
        assert_eq!(plan.moves, vec![]);
        assert!(plan.balanced);
        assert_eq!(plan.mean, 100.0);
    }

    #[test]
    fn an_indivisible_store_leaves_the_fleet_unbalanced() {
        // One big store: moving it would only swap the pods' roles.
        let stores = [store(1, 1, 1000)];
        let pods = with_usage(vec![active(1, big()), active(2, big())], &stores);
        let plan = plan(&pods, &stores, Measure::Bytes, 0.10);
        assert_eq!(plan.moves, vec![]);
        assert!(!plan.balanced);
    }

    #[test]
    fn drain_moves_every_store_largest_first() {
        let stores = [
            store(1, 1, 10),
            store(2, 1, 300),
            store(3, 1, 200),
            store(4, 2, 50),
        ];
        // Bytes are what fill these pods: the headroom left in bytes decides.
        let bytes = Capacity {
            bytes: 1000,
            ..big()
        };
        let pods = with_usage(
            vec![active(1, bytes), active(2, bytes), active(3, bytes)],
            &stores,
        );
        let moves = drain(&pods, &stores, pod_id(1)).expect("room");
        let order: Vec<StoreId> = moves.iter().map(|m| m.store_id).collect();
        assert_eq!(order, vec![store_id(2), store_id(3), store_id(1)]);
        // 300 to the empty pod 3, then 200 to pod 2 (50 < 300), then 10 to
        // pod 2 (250 < 300).
        let targets: Vec<PodId> = moves.iter().map(|m| m.to_pod_id).collect();
        assert_eq!(targets, vec![pod_id(3), pod_id(2), pod_id(2)]);
        assert!(moves.iter().all(|m| m.from_pod_id == pod_id(1)));
        assert_eq!(moves[0].amount, 300);
    }

    #[test]
    fn drain_fails_without_room_or_pod() {
        let stores = [store(1, 1, 10), store(2, 1, 300)];
        let tight = Capacity {
            bytes: 100,
            ..big()
        };
        let pods = with_usage(vec![active(1, big()), active(2, tight)], &stores);
        assert_eq!(
            drain(&pods, &stores, pod_id(1)),
            Err(DrainError::NoRoom(store_id(2)))
        );
        assert_eq!(
            drain(&pods, &stores, pod_id(9)),
            Err(DrainError::UnknownPod)
        );
        // A pod without stores drains with no moves.
        assert_eq!(drain(&pods, &stores, pod_id(2)), Ok(vec![]));
    }

    // Properties.

    fn state() -> impl Strategy<Value = PodState> {
        prop_oneof![
            4 => Just(PodState::Active),
            1 => Just(PodState::Draining),
            1 => Just(PodState::Drained),
        ]
    }

    fn measure() -> impl Strategy<Value = Measure> {
        prop_oneof![
            Just(Measure::Bytes),
            Just(Measure::Rows),
            Just(Measure::Orders),
            Just(Measure::Stores),
        ]
    }

    /// A fleet of up to 6 pods with up to 30 stores; capacities sometimes
    /// tight so that capacity limits bite.
    fn fleet() -> impl Strategy<Value = (Vec<PodLoad>, Vec<StoreLoad>)> {
        let pods = prop::collection::vec((state(), 1u64..12, 100u64..3000, 10u64..300), 1..7);
        pods.prop_flat_map(|pods| {
            let n = pods.len();
            let stores = prop::collection::vec((0..n, 0u64..1000, 0u64..400, 0u64..60), 0..30);
            (Just(pods), stores)
        })
        .prop_map(|(pods, stores)| {
            let pods: Vec<PodLoad> = pods
                .into_iter()
                .enumerate()
                .map(|(i, (state, slots, bytes, orders))| PodLoad {
                    pod: pod_id(((i as u128) * 41) % 101),
                    state,
                    capacity: Capacity {
                        stores: slots,
                        bytes,
                        orders_per_hour: orders,
                    },
                    used: Capacity::default(),
                })
                .collect();
            let stores: Vec<StoreLoad> = stores
                .into_iter()
                .enumerate()
                .map(|(j, (at, rows, bytes, orders))| StoreLoad {
                    store: store_id(((j as u128) * 37) % 103),
                    pod: pods[at].pod,
                    rows,
                    bytes,
                    orders_per_hour: orders,
                })
                .collect();
            (with_usage(pods, &stores), stores)
        })
    }

    type Pods = (Vec<PodLoad>, Vec<StoreLoad>);

    /// A fleet and the same fleet in another order.
    fn shuffled_fleet() -> impl Strategy<Value = (Pods, Pods)> {
        fleet().prop_flat_map(|(pods, stores)| {
            (
                Just((pods.clone(), stores.clone())),
                (Just(pods).prop_shuffle(), Just(stores).prop_shuffle()),
            )
        })
    }

    proptest! {
        #[test]
        fn plan_keeps_capacities_and_never_widens_the_spread(
            (pods, stores) in fleet(),
            measure in measure(),
            band_milli in 0u32..500,
        ) {
            let plan = plan(&pods, &stores, measure, f64::from(band_milli) / 1000.0);
            let before = apply(&pods, &stores, measure, &[]);
            // `apply` asserts each move's capacity and source.
            let after = apply(&pods, &stores, measure, &plan.moves);
            prop_assert!(max_deviation(&after) <= max_deviation(&before) + 1e-9);
            prop_assert_eq!(plan.balanced, within_band(&after, band_milli));
            if within_band(&before, band_milli) {
                prop_assert!(plan.moves.is_empty());
            }
            // Every store moves at most once, and only from an active pod.
            let mut seen = std::collections::HashSet::new();
            for m in &plan.moves {
                prop_assert!(seen.insert(m.store_id));
                let from = pods.iter().find(|p| p.pod == m.from_pod_id).expect("known pod");
                prop_assert_eq!(from.state, PodState::Active);
                prop_assert_ne!(m.from_pod_id, m.to_pod_id);
            }
        }

        #[test]
        fn plan_is_deterministic_under_permutation(
            ((pods, stores), (pods2, stores2)) in shuffled_fleet(),
            measure in measure(),
            band in 0.0f64..0.5,
        ) {
            prop_assert_eq!(plan(&pods, &stores, measure, band), plan(&pods2, &stores2, measure, band));
        }

        #[test]
        fn many_equal_small_stores_end_balanced(
            pods in 2usize..6,
            per_pod in 10usize..40,
            skew in prop::collection::vec(0usize..6, 20..200),
        ) {
            // At least 10 stores per pod on average, so a single store is
            // within the ±10 % band; all placed on a skewed choice of pods.
            let count = pods * per_pod;
            let stores: Vec<StoreLoad> = (0..count)
                .map(|j| store(j as u128, (skew[j % skew.len()] % pods) as u128, 7))
                .collect();
            let fleet = with_usage((0..pods).map(|i| active(i as u128, big())).collect(), &stores);
            let plan = plan(&fleet, &stores, Measure::Bytes, 0.10);
            prop_assert!(plan.balanced, "{:?}", plan);
            let after = apply(&fleet, &stores, Measure::Bytes, &plan.moves);
            prop_assert!(within_band(&after, 100));
        }

        #[test]
        fn drain_empties_the_pod_within_capacities(
            (pods, stores) in fleet(),
            at in 0usize..7,
        ) {
            let pod = pods[at % pods.len()].pod;
            match drain(&pods, &stores, pod) {
                Ok(moves) => {
                    let leaving: std::collections::HashSet<StoreId> =
                        stores.iter().filter(|s| s.pod == pod).map(|s| s.store).collect();
                    let moved: std::collections::HashSet<StoreId> =
                        moves.iter().map(|m| m.store_id).collect();
                    prop_assert_eq!(moved.len(), moves.len());
                    prop_assert_eq!(&moved, &leaving);
                    for m in &moves {
                        prop_assert_eq!(m.from_pod_id, pod);
                        prop_assert_ne!(m.to_pod_id, pod);
                    }
                    // Checks every target's state and capacities in order.
                    apply(&pods, &stores, Measure::Bytes, &moves);
                    // Same answer for the same fleet in another order.
                    let mut rev_pods = pods.clone();
                    rev_pods.reverse();
                    let mut rev_stores = stores.clone();
                    rev_stores.reverse();
                    prop_assert_eq!(drain(&rev_pods, &rev_stores, pod), Ok(moves));
                }
                Err(DrainError::NoRoom(store)) => {
                    prop_assert!(stores.iter().any(|s| s.store == store && s.pod == pod));
                }
                Err(DrainError::UnknownPod) => prop_assert!(false, "the pod is known"),
            }
        }

        #[test]
        fn drain_finds_room_for_a_lone_store_whenever_some_pod_fits_it(
            (pods, stores) in fleet(),
            at in 0usize..7,
            bytes in 0u64..500,
            orders in 0u64..50,
        ) {
            // A pod with a single store: draining succeeds exactly when some
            // other active pod fits it.
            let pod = pods[at % pods.len()].pod;
            let stores: Vec<StoreLoad> = stores.into_iter().filter(|s| s.pod != pod).collect();
            let lone = StoreLoad { store: store_id(1000), pod, rows: 0, bytes, orders_per_hour: orders };
            let mut all = stores.clone();
            all.push(lone.clone());
            let pods = with_usage(pods, &all);
            let fits = pods.iter().any(|p| {
                p.pod != pod && p.state == PodState::Active && p.used.plus(&lone.need()).within(&p.capacity)
            });
            let result = drain(&pods, &all, pod);
            prop_assert_eq!(result.is_ok(), fits);
            if !fits {
                prop_assert_eq!(result, Err(DrainError::NoRoom(lone.store)));
            }
        }
    }
}
