//! Admission to each upstream (a pod, or the control plane): at most
//! `max_in_flight` requests at once, at most `queue` more waiting their
//! turn in arrival order, each for at most `wait`. Beyond that the router
//! sheds with `503 overloaded` and `Retry-After` instead of piling
//! connections onto a pod that is already saturated.
//!
//! And a circuit per upstream: after [`TRIP_AFTER`] failures in a row
//! (cannot connect, or no answer in time) the router stops sending to it
//! for `open_for` and answers `503 pod_unavailable` at once, instead of
//! every shopper of that pod waiting out a timeout. The first request after
//! that window goes through as a probe; a success closes the circuit.
//!
//! And a second circuit per upstream for its database: after
//! [`TRIP_AFTER`] answers in a row of `503 database_unavailable` (the pod
//! is up but its Postgres is not answering), writes to that upstream are
//! refused at the router with the same code and a `Retry-After` of the
//! window's rest, instead of each waiting out the pod's acquire timeout.
//! Reads still go through: a pod serves its cached reads without the
//! database, and a read that needed it answers quickly anyway. Only a
//! write's answer closes this circuit (a read's success may have come from
//! the cache); the first write after the window is the probe.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mercato_tenants::{ApiError, ErrorCode};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_in_flight: usize,
    pub queue: usize,
    pub wait: Duration,
    /// How long an open circuit refuses before letting a probe through.
    pub open_for: Duration,
}

/// One gate per upstream base URL, made on first use.
#[derive(Clone)]
pub struct Gates {
    limits: Limits,
    gates: Arc<Mutex<HashMap<String, Arc<Gate>>>>,
}

struct Gate {
    slots: Arc<Semaphore>,
    waiting: AtomicUsize,
    /// Failures in a row, and until when the circuit is open.
    failures: AtomicU32,
    open_until: Mutex<Option<Instant>>,
    /// The same for `503 database_unavailable` answers (writes only).
    db_failures: AtomicU32,
    db_open_until: Mutex<Option<Instant>>,
}

/// Failures in a row that open an upstream's circuit.
pub const TRIP_AFTER: u32 = 5;

/// A request's place in flight; the slot frees when it drops. It reports
/// how the request went to its upstream's circuit.
pub struct Turn {
    _permit: OwnedSemaphorePermit,
    gate: Arc<Gate>,
    open_for: Duration,
}

impl Turn {
    /// The upstream answered: its circuit closes.
    pub fn succeeded(&self) {
        self.gate.failures.store(0, Ordering::Release);
    }

    /// The upstream could not be reached or did not answer in time.
    pub fn failed(&self) {
        let failures = self.gate.failures.fetch_add(1, Ordering::AcqRel) + 1;
        if failures >= TRIP_AFTER {
            let mut open = self
                .gate
                .open_until
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            *open = Some(Instant::now() + self.open_for);
            tracing::warn!(failures, "circuit open");
        }
    }

    /// Whether a write may go to this upstream now: `Err(wait)` while its
    /// database circuit is open. When the window is over, this write is
    /// the probe and the window starts again for the others until its
    /// answer comes ([`Turn::database_answered`]).
    pub fn database_admits(&self, now: Instant) -> Result<(), Duration> {
        let mut open = self
            .gate
            .db_open_until
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        match *open {
            Some(until) if now < until => Err(until - now),
            Some(_) => {
                *open = Some(now + self.open_for);
                Ok(())
            }
            None => Ok(()),
        }
    }

    /// The upstream answered a request: `unavailable` when it said
    /// `503 database_unavailable`; `proved` when the answer shows its
    /// database answered (a write that succeeded; a read's success may
    /// have come from the cache).
    pub fn database_answered(&self, proved: bool, unavailable: bool, now: Instant) {
        let mut open = self
            .gate
            .db_open_until
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if unavailable {
            let failures = self.gate.db_failures.fetch_add(1, Ordering::AcqRel) + 1;
            if failures >= TRIP_AFTER {
                if open.is_none() {
                    tracing::warn!(failures, "database circuit open");
                }
                *open = Some(now + self.open_for);
            }
        } else if proved {
            self.gate.db_failures.store(0, Ordering::Release);
            if open.take().is_some() {
                tracing::info!("database circuit closed");
            }
        }
    }
}

impl Gates {
    pub fn new(limits: Limits) -> Self {
        Self {
            limits,
            gates: Arc::default(),
        }
    }

    fn gate(&self, upstream: &str) -> Arc<Gate> {
        let mut gates = self.gates.lock().unwrap_or_else(|e| e.into_inner());
        gates
            .entry(upstream.to_owned())
            .or_insert_with(|| {
                Arc::new(Gate {
                    slots: Arc::new(Semaphore::new(self.limits.max_in_flight.max(1))),
                    waiting: AtomicUsize::new(0),
                    failures: AtomicU32::new(0),
                    open_until: Mutex::new(None),
                    db_failures: AtomicU32::new(0),
                    db_open_until: Mutex::new(None),
                })
            })
            .clone()
    }

    /// `upstream`'s gate, to keep: a serving thread's connection pool
    /// holds one per upstream, so a request does not lock the shared map.
    pub fn handle(&self, upstream: &str) -> GateHandle {
        GateHandle {
            gate: self.gate(upstream),
            limits: self.limits,
        }
    }

    /// Waits for a slot to `upstream` ([`GateHandle::enter`]).
    pub async fn enter(&self, upstream: &str) -> Result<Turn, ApiError> {
        self.handle(upstream).enter().await
    }
}

/// One upstream's gate.
#[derive(Clone)]
pub struct GateHandle {
    gate: Arc<Gate>,
    limits: Limits,
}

impl GateHandle {
    /// Waits for a slot (tokio's semaphore is fair: first come, first
    /// served), or refuses at once when the queue is full.
    pub async fn enter(&self) -> Result<Turn, ApiError> {
        let gate = &self.gate;
        {
            let mut open = gate.open_until.lock().unwrap_or_else(|e| e.into_inner());
            match *open {
                Some(until) if Instant::now() < until => {
                    return Err(ApiError::new(
                        ErrorCode::PodUnavailable,
                        "the store's pod is not answering; retry shortly",
                    ))
                }
                // The window is over: this request is the probe.
                Some(_) => *open = None,
                None => {}
            }
        }
        let turn = |permit| Turn {
            _permit: permit,
            gate: gate.clone(),
            open_for: self.limits.open_for,
        };
        if let Ok(permit) = gate.slots.clone().try_acquire_owned() {
            return Ok(turn(permit));
        }
        if gate.waiting.fetch_add(1, Ordering::AcqRel) >= self.limits.queue {
            gate.waiting.fetch_sub(1, Ordering::AcqRel);
            return Err(overloaded());
        }
        let waited =
            tokio::time::timeout(self.limits.wait, gate.slots.clone().acquire_owned()).await;
        gate.waiting.fetch_sub(1, Ordering::AcqRel);
        match waited {
            Ok(Ok(permit)) => Ok(turn(permit)),
            _ => Err(overloaded()),
        }
    }
}

fn overloaded() -> ApiError {
    ApiError::new(
        ErrorCode::Overloaded,
        "the store is very busy right now; retry shortly",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_full_queue_sheds_and_a_freed_slot_admits_the_first_waiter() {
        let gates = Gates::new(Limits {
            max_in_flight: 1,
            queue: 1,
            wait: Duration::from_secs(5),
            open_for: Duration::from_secs(2),
        });
        let first = gates.enter("http://pod-a").await.expect("a free slot");
        // Another upstream has its own slots.
        let other = gates.enter("http://pod-b").await.expect("pod-b is idle");
        let waiter = tokio::spawn({
            let gates = gates.clone();
            async move { gates.enter("http://pod-a").await.map(|_| ()) }
        });
        while gates.gate("http://pod-a").waiting.load(Ordering::Acquire) == 0 {
            tokio::task::yield_now().await;
        }
        let shed = gates.enter("http://pod-a").await.map(|_| ());
        assert_eq!(shed.map_err(|e| e.code), Err(ErrorCode::Overloaded));
        drop(first);
        waiter
            .await
            .expect("task")
            .expect("admitted when the slot freed");
        drop(other);
    }

    #[tokio::test]
    async fn failures_in_a_row_open_the_circuit_until_a_probe_succeeds() {
        const OPEN_FOR: Duration = Duration::from_millis(50);
        let gates = Gates::new(Limits {
            max_in_flight: 10,
            queue: 10,
            wait: Duration::from_secs(1),
            open_for: OPEN_FOR,
        });
        let fail = || async { gates.enter("http://pod").await.expect("admitted").failed() };
        for _ in 0..TRIP_AFTER - 1 {
            fail().await;
        }
        assert!(gates.enter("http://pod").await.is_ok(), "not yet tripped");
        fail().await;
        let refused = gates.enter("http://pod").await.map(|_| ());
        assert_eq!(refused.map_err(|e| e.code), Err(ErrorCode::PodUnavailable));
        assert!(
            gates.enter("http://other").await.is_ok(),
            "only that upstream"
        );
        tokio::time::sleep(OPEN_FOR).await;
        // The probe goes through, and fails: the circuit opens again.
        fail().await;
        assert!(
            gates.enter("http://pod").await.is_err(),
            "a failed probe reopens it"
        );
        tokio::time::sleep(OPEN_FOR).await;
        gates.enter("http://pod").await.expect("probe").succeeded();
        fail().await;
        assert!(
            gates.enter("http://pod").await.is_ok(),
            "a success reset the count"
        );
    }

    #[tokio::test]
    async fn database_failures_in_a_row_refuse_writes_until_a_write_succeeds() {
        const OPEN_FOR: Duration = Duration::from_secs(2);
        let gates = Gates::new(Limits {
            max_in_flight: 10,
            queue: 10,
            wait: Duration::from_secs(1),
            open_for: OPEN_FOR,
        });
        let turn = gates.enter("http://pod").await.expect("admitted");
        let t = Instant::now();
        for i in 0..TRIP_AFTER - 1 {
            // Reads and writes that needed the database both count.
            turn.database_answered(i % 2 == 0, true, t);
        }
        assert_eq!(turn.database_admits(t), Ok(()), "not yet tripped");
        // A read's success proves nothing (it may be cached).
        turn.database_answered(false, false, t);
        turn.database_answered(true, true, t);
        assert_eq!(turn.database_admits(t), Err(OPEN_FOR), "tripped");
        let half = t + OPEN_FOR / 2;
        assert_eq!(turn.database_admits(half), Err(OPEN_FOR / 2));
        assert!(
            gates.enter("http://pod").await.is_ok(),
            "the upstream's own circuit is closed: reads go through"
        );
        let other = gates.enter("http://other").await.expect("other");
        assert_eq!(other.database_admits(half), Ok(()), "only that upstream");
        // The window is over: one write is the probe, the rest wait for it.
        let after = t + OPEN_FOR;
        assert_eq!(turn.database_admits(after), Ok(()), "the probe");
        assert!(turn.database_admits(after).is_err(), "others wait for it");
        turn.database_answered(true, true, after);
        assert!(
            turn.database_admits(after).is_err(),
            "a failed probe reopens it"
        );
        let later = after + OPEN_FOR;
        assert_eq!(turn.database_admits(later), Ok(()), "the next probe");
        turn.database_answered(true, false, later);
        assert_eq!(
            turn.database_admits(later),
            Ok(()),
            "a write succeeded: closed"
        );
        turn.database_answered(true, true, later);
        assert_eq!(
            turn.database_admits(later),
            Ok(()),
            "the count starts again"
        );
    }

    #[tokio::test]
    async fn waiting_longer_than_allowed_is_shed() {
        let gates = Gates::new(Limits {
            max_in_flight: 1,
            queue: 10,
            wait: Duration::from_millis(20),
            open_for: Duration::from_secs(2),
        });
        let _held = gates.enter("http://pod").await.expect("slot");
        let late = gates.enter("http://pod").await.map(|_| ());
        assert_eq!(late.map_err(|e| e.code), Err(ErrorCode::Overloaded));
    }
}
