//! The bounded pool that computes password hashes (argon2id, ~19 MiB and
//! tens of milliseconds of CPU each). At most `accounts.hash_concurrency`
//! hashes run at once on the blocking pool and at most `accounts.hash_queue`
//! wait for a slot; anything more is refused at once with `503 overloaded`
//! (`Retry-After: 1`), so a login or signup flood costs a bounded amount of
//! memory and CPU instead of hundreds of blocking threads' worth.
//!
//! The slot is held by the blocking work itself, so a request cancelled
//! while its hash runs does not free a slot early. Metrics:
//! `mercato_password_hashes_in_flight`, `..._in_flight_max` (the most ever
//! seen at once by this process) and `mercato_password_hashes_shed_total`.

use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::Arc;

use mercato_tenants::{ApiError, ErrorCode};
use prometheus::{IntCounter, IntGauge, Registry};
use tokio::sync::Semaphore;

use crate::error::PodError;

/// What becomes of a hash asked for: run now, wait in the queue, or be
/// refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    Run,
    Wait,
    Shed,
}

/// The admission of a hash given a free slot or not and the queue's length.
pub fn admit(slot_free: bool, waiting: usize, queue: usize) -> Admission {
    if slot_free {
        Admission::Run
    } else if waiting < queue {
        Admission::Wait
    } else {
        Admission::Shed
    }
}

#[derive(Clone)]
pub struct HashPool {
    inner: Arc<Inner>,
}

struct Inner {
    slots: Arc<Semaphore>,
    queue: usize,
    waiting: AtomicUsize,
    running: AtomicI64,
    in_flight: IntGauge,
    in_flight_max: IntGauge,
    shed: IntCounter,
}

impl HashPool {
    pub fn new(
        registry: &Registry,
        concurrency: usize,
        queue: usize,
    ) -> Result<Self, prometheus::Error> {
        let in_flight = IntGauge::new("password_hashes_in_flight", "Password hashes running now")?;
        let in_flight_max = IntGauge::new(
            "password_hashes_in_flight_max",
            "The most password hashes this process ran at once",
        )?;
        let shed = IntCounter::new(
            "password_hashes_shed_total",
            "Password hashes refused with 503 because the pool and its queue were full",
        )?;
        registry.register(Box::new(in_flight.clone()))?;
        registry.register(Box::new(in_flight_max.clone()))?;
        registry.register(Box::new(shed.clone()))?;
        Ok(Self {
            inner: Arc::new(Inner {
                slots: Arc::new(Semaphore::new(concurrency.max(1))),
                queue,
                waiting: AtomicUsize::new(0),
                running: AtomicI64::new(0),
                in_flight,
                in_flight_max,
                shed,
            }),
        })
    }

    /// Runs `work` on the blocking pool within the bound, or refuses it with
    /// `503 overloaded` when every slot is taken and the queue is full.
    pub async fn run<T, F>(&self, work: F) -> Result<T, PodError>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let inner = &self.inner;
        let free = inner.slots.clone().try_acquire_owned().ok();
        let waiting = inner.waiting.load(Ordering::Acquire);
        let slot = match (admit(free.is_some(), waiting, inner.queue), free) {
            (Admission::Run, Some(slot)) => slot,
            (Admission::Shed, _) => return Err(self.overloaded()),
            _ => {
                // Join the queue only if it still has room.
                let joined = inner
                    .waiting
                    .fetch_update(Ordering::AcqRel, Ordering::Acquire, |w| {
                        (w < inner.queue).then_some(w + 1)
                    });
                if joined.is_err() {
                    return Err(self.overloaded());
                }
                let _leave = Leave(&inner.waiting);
                inner
                    .slots
                    .clone()
                    .acquire_owned()
                    .await
                    .map_err(PodError::internal)?
            }
        };
        let pool = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let now = pool.running.fetch_add(1, Ordering::AcqRel) + 1;
            pool.in_flight.set(now);
            if now > pool.in_flight_max.get() {
                pool.in_flight_max.set(now);
            }
            let out = work();
            let now = pool.running.fetch_sub(1, Ordering::AcqRel) - 1;
            pool.in_flight.set(now);
            drop(slot);
            out
        })
        .await
        .map_err(PodError::internal)
    }

    fn overloaded(&self) -> PodError {
        self.inner.shed.inc();
        tracing::warn!("password hashing at capacity; refusing with 503");
        ApiError::new(
            ErrorCode::Overloaded,
            "too many sign-ins at once; retry in a second",
        )
        .into()
    }
}

/// Leaves the queue when the waiting request gets its slot or is dropped.
struct Leave<'a>(&'a AtomicUsize);

impl Drop for Leave<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_free_slot_runs_then_the_queue_fills_then_the_rest_is_shed() {
        assert_eq!(admit(true, 9, 0), Admission::Run);
        assert_eq!(admit(false, 0, 2), Admission::Wait);
        assert_eq!(admit(false, 1, 2), Admission::Wait);
        assert_eq!(admit(false, 2, 2), Admission::Shed);
        assert_eq!(admit(false, 0, 0), Admission::Shed);
    }

    async fn until(what: impl Fn() -> bool) {
        while !what() {
            tokio::task::yield_now().await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn never_more_than_the_bound_run_at_once_and_the_excess_is_refused() {
        let pool = HashPool::new(&Registry::new(), 2, 3).expect("pool");
        let (go, gate) = std::sync::mpsc::channel::<()>();
        let gate = Arc::new(std::sync::Mutex::new(gate));
        let spawn = |pool: &HashPool| {
            let (pool, gate) = (pool.clone(), gate.clone());
            tokio::spawn(async move {
                pool.run(move || {
                    let _ = gate.lock().map(|rx| rx.recv());
                })
                .await
            })
        };
        let mut tasks: Vec<_> = (0..2).map(|_| spawn(&pool)).collect();
        until(|| pool.inner.running.load(Ordering::Acquire) == 2).await;
        tasks.extend((0..3).map(|_| spawn(&pool)));
        until(|| pool.inner.waiting.load(Ordering::Acquire) == 3).await;
        // Two run, three wait: the next is refused at once.
        let refused = pool.run(|| ()).await.err().map(|e| e.into_api().code);
        assert_eq!(refused, Some(ErrorCode::Overloaded));
        for _ in 0..5 {
            go.send(()).expect("send");
        }
        for t in tasks {
            t.await.expect("task").expect("ran");
        }
        assert_eq!(pool.inner.in_flight_max.get(), 2);
        assert_eq!(pool.inner.in_flight.get(), 0);
        assert_eq!(pool.inner.shed.get(), 1);
    }
}
