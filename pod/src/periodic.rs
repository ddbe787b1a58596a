//! Background work that runs on a timer: the hold sweeper, the gate
//! reconciliation, the purge of moved-out stores and the size sweep.
//!
//! Each worker runs inside a span naming it; its work on one store runs
//! inside [`store_span`], so that what it logs carries the store id, like
//! a request's log lines do.

use std::fmt::Display;
use std::future::Future;
use std::time::Duration;

use mercato_tenants::StoreId;
use tokio::task::JoinHandle;
use tracing::Instrument as _;

/// The span of a worker's work on one store.
pub fn store_span(worker: &'static str, store: StoreId) -> tracing::Span {
    tracing::info_span!("store", worker, store_id = %store)
}

/// Runs `work` every `interval_ms` (at least 10 ms), the first time at
/// once, until the task is aborted. A run that overruns delays the next
/// one instead of bunching runs up; a failed run is logged as `failed` and
/// the next one tries again.
pub fn spawn_every<F, Fut, T, E>(
    worker: &'static str,
    interval_ms: u64,
    failed: &'static str,
    mut work: F,
) -> JoinHandle<()>
where
    F: FnMut() -> Fut + Send + 'static,
    Fut: Future<Output = Result<T, E>> + Send,
    E: Display,
{
    let every = Duration::from_millis(interval_ms.max(10));
    tokio::spawn(
        async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                if let Err(e) = work().await {
                    tracing::warn!(error = format!("{e:#}"), "{failed}");
                }
            }
        }
        .instrument(tracing::info_span!("worker", worker)),
    )
}
