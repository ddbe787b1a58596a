//! Background work that runs on a timer: the hold sweeper, the gate
//! reconciliation, the purge of moved-out stores and the size sweep.
//!
//! Each worker runs inside a span naming it; its work on one store runs
//! inside [`store_span`], so that what it logs carries the store id, like
//! a request's log lines do.

use std::fmt::Display;
use std::future::Future;
use std::time::Duration;

use std::sync::LazyLock;

use futures::FutureExt as _;
use mercato_tenants::StoreId;
use prometheus::{IntCounterVec, Opts, Registry};
use tokio::task::JoinHandle;
use tracing::Instrument as _;

/// Panics of periodic workers, by worker. A panicking run is counted and
/// logged, and the worker goes on with its next run.
static WORKER_PANICS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    IntCounterVec::new(
        Opts::new(
            "worker_panics_total",
            "Runs of a periodic worker that panicked (the worker carries on)",
        ),
        &["worker"],
    )
    .unwrap_or_else(|e| unreachable!("a static metric definition is valid: {e}"))
});

/// Exports [`WORKER_PANICS`] on the pod's `/metrics`.
pub fn register_metrics(registry: &Registry) -> Result<(), prometheus::Error> {
    registry.register(Box::new(WORKER_PANICS.clone()))
}

/// The span of a worker's work on one store.
pub fn store_span(worker: &'static str, store: StoreId) -> tracing::Span {
    tracing::info_span!("store", worker, store_id = %store)
}

/// Runs `work` every `interval_ms` (at least 10 ms), the first time at
/// once, until the task is aborted. A run that overruns delays the next
/// one instead of bunching runs up; a failed run is logged as `failed` and
/// the next one tries again. A run that panics is caught, counted in
/// `worker_panics_total` and logged; it does not end the worker.
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
                match std::panic::AssertUnwindSafe(work()).catch_unwind().await {
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => tracing::warn!(error = format!("{e:#}"), "{failed}"),
                    Err(panic) => {
                        WORKER_PANICS.with_label_values(&[worker]).inc();
                        tracing::error!(
                            panic = mercato_tenants::http::panic_message(&*panic),
                            "worker run panicked; the next run goes on"
                        );
                    }
                }
            }
        }
        .instrument(tracing::info_span!("worker", worker)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::Arc;

    #[tokio::test]
    async fn a_run_that_panics_is_counted_and_the_worker_goes_on() {
        let runs = Arc::new(AtomicU32::new(0));
        let worker = spawn_every("test_panicky", 10, "failed", {
            let runs = runs.clone();
            move || {
                let run = runs.fetch_add(1, Ordering::SeqCst);
                async move {
                    if run == 0 {
                        panic!("first run panics");
                    }
                    Ok::<(), String>(())
                }
            }
        });
        while runs.load(Ordering::SeqCst) < 3 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        worker.abort();
        assert_eq!(WORKER_PANICS.with_label_values(&["test_panicky"]).get(), 1);
    }
}
