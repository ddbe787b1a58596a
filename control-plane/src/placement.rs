//! Where a new store goes. A pure function over plain data.

use mercato_tenants::{PodId, PodState};

/// What placement knows of a pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodLoad {
    pub pod: PodId,
    pub state: PodState,
    pub capacity: u32,
    pub stores: u32,
}

/// The active pod with room that hosts the fewest stores; ties go to the
/// lower pod id, so the answer is deterministic. `None` when no active pod
/// has room.
pub fn place(pods: &[PodLoad]) -> Option<PodId> {
    pods.iter()
        .filter(|p| p.state == PodState::Active && p.stores < p.capacity)
        .min_by_key(|p| (p.stores, p.pod))
        .map(|p| p.pod)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(state: PodState, capacity: u32, stores: u32) -> PodLoad {
        PodLoad {
            pod: PodId::new(),
            state,
            capacity,
            stores,
        }
    }

    #[test]
    fn picks_the_emptiest_active_pod_with_room() {
        let full = pod(PodState::Active, 2, 2);
        let busy = pod(PodState::Active, 10, 5);
        let draining = pod(PodState::Draining, 10, 0);
        let light = pod(PodState::Active, 10, 1);
        assert_eq!(
            place(&[full, busy, draining, light.clone()]),
            Some(light.pod)
        );
    }

    #[test]
    fn none_when_no_pod_has_room() {
        assert_eq!(place(&[]), None);
        assert_eq!(
            place(&[pod(PodState::Active, 1, 1), pod(PodState::Draining, 5, 0)]),
            None
        );
    }

    #[test]
    fn ties_are_deterministic() {
        let a = pod(PodState::Active, 5, 1);
        let b = pod(PodState::Active, 5, 1);
        let expected = a.pod.min(b.pod);
        assert_eq!(place(&[a.clone(), b.clone()]), Some(expected));
        assert_eq!(place(&[b, a]), Some(expected));
    }

    #[test]
    fn spreads_stores_over_pods() {
        let mut pods = vec![pod(PodState::Active, 3, 0), pod(PodState::Active, 3, 0)];
        for _ in 0..6 {
            let chosen = place(&pods).expect("room left");
            let p = pods
                .iter_mut()
                .find(|p| p.pod == chosen)
                .expect("chosen pod exists");
            p.stores += 1;
            assert!(p.stores <= p.capacity);
        }
        assert!(pods.iter().all(|p| p.stores == 3));
        assert_eq!(place(&pods), None);
    }
}
