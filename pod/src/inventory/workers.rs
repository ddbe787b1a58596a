//! Background work: the sweeper of expired holds and the reconciliation of
//! gate counters. Both run per store hosted (active) on this pod and stop
//! with the application ([`Workers`] aborts them when dropped).

use tokio::task::JoinHandle;
use tracing::Instrument as _;

use super::{gate, holds};
use crate::periodic::{spawn_every, store_span};
use crate::state::AppState;

/// Expired holds released per store per transaction.
const SWEEP_BATCH: i64 = 500;

/// The running background tasks; dropping this stops them.
pub struct Workers {
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for Workers {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Starts the sweeper and the reconciliation.
pub fn spawn_workers(state: AppState) -> Workers {
    let sweeper = {
        let state = state.clone();
        spawn_every(
            "hold_sweeper",
            state.config.inventory.hold_sweep_interval_ms,
            "sweeping expired holds failed",
            move || {
                let state = state.clone();
                async move { sweep_once(&state).await }
            },
        )
    };
    let reconciler = spawn_every(
        "gate_reconciler",
        state.config.inventory.reconcile_interval_ms,
        "reconciling inventory gate counters failed",
        move || {
            let state = state.clone();
            async move { reconcile_once(&state).await }
        },
    );
    Workers {
        tasks: vec![sweeper, reconciler],
    }
}

/// Releases every expired hold of every active store; returns how many.
pub async fn sweep_once(state: &AppState) -> anyhow::Result<usize> {
    let mut released = 0;
    for store in crate::tenancy::sql::active_stores(&state.db).await? {
        loop {
            let swept = holds::sweep_store(state, store, SWEEP_BATCH)
                .instrument(store_span("hold_sweeper", store))
                .await;
            match swept {
                Ok(n) => {
                    released += n;
                    if (n as i64) < SWEEP_BATCH {
                        break;
                    }
                }
                Err(e) => {
                    let _in = store_span("hold_sweeper", store).entered();
                    tracing::warn!(error = %e, "sweeping a store's holds failed");
                    break;
                }
            }
        }
    }
    if released > 0 {
        tracing::debug!(released, "expired holds released");
    }
    Ok(released)
}

/// One reconciliation round over every active store; returns how many
/// counters were repaired. Nothing to do with the gate off or Redis down.
pub async fn reconcile_once(state: &AppState) -> anyhow::Result<usize> {
    if !state.config.inventory.gate {
        return Ok(0);
    }
    let Ok(mut conn) = state.redis.connection().await else {
        return Ok(0);
    };
    let mut repaired = 0;
    for store in crate::tenancy::sql::active_stores(&state.db).await? {
        let reconciled = gate::reconcile_store(state, &mut conn, store)
            .instrument(store_span("gate_reconciler", store))
            .await;
        match reconciled {
            Ok(n) => repaired += n,
            Err(e) => {
                let _in = store_span("gate_reconciler", store).entered();
                tracing::warn!(error = %e, "reconciling a store's gate counters failed");
            }
        }
    }
    Ok(repaired)
}
