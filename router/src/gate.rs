//! Admission to each upstream (a pod, or the control plane): at most
//! `max_in_flight` requests at once, at most `queue` more waiting their
//! turn in arrival order, each for at most `wait`. Beyond that the router
//! sheds with `503 overloaded` and `Retry-After` instead of piling
//! connections onto a pod that is already saturated.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mercato_tenants::{ApiError, ErrorCode};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_in_flight: usize,
    pub queue: usize,
    pub wait: Duration,
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
}

/// A request's place in flight; the slot frees when it drops.
pub struct Turn {
    _permit: OwnedSemaphorePermit,
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
                })
            })
            .clone()
    }

    /// Waits for a slot to `upstream` (tokio's semaphore is fair: first
    /// come, first served), or refuses at once when the queue is full.
    pub async fn enter(&self, upstream: &str) -> Result<Turn, ApiError> {
        let gate = self.gate(upstream);
        if let Ok(permit) = gate.slots.clone().try_acquire_owned() {
            return Ok(Turn { _permit: permit });
        }
        if gate.waiting.fetch_add(1, Ordering::AcqRel) >= self.limits.queue {
            gate.waiting.fetch_sub(1, Ordering::AcqRel);
            return Err(overloaded());
        }
        let waited =
            tokio::time::timeout(self.limits.wait, gate.slots.clone().acquire_owned()).await;
        gate.waiting.fetch_sub(1, Ordering::AcqRel);
        match waited {
            Ok(Ok(permit)) => Ok(Turn { _permit: permit }),
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
    async fn waiting_longer_than_allowed_is_shed() {
        let gates = Gates::new(Limits {
            max_in_flight: 1,
            queue: 10,
            wait: Duration::from_millis(20),
        });
        let _held = gates.enter("http://pod").await.expect("slot");
        let late = gates.enter("http://pod").await.map(|_| ());
        assert_eq!(late.map_err(|e| e.code), Err(ErrorCode::Overloaded));
    }
}
