//! Requests per store over the last minute: a sliding window of six
//! ten-second buckets per store, in memory, counted by the fence.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use mercato_tenants::StoreId;

/// Seconds one bucket covers.
const BUCKET_SECS: u64 = 10;
/// Buckets in the window: 6 × 10 s = one minute.
const BUCKETS: usize = 6;

/// One store's counts: `slots[i]` is the bucket number (seconds / 10 since
/// the counter started) whose count `counts[i]` holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Window {
    slots: [u64; BUCKETS],
    counts: [u64; BUCKETS],
}

impl Window {
    /// Counts one request in bucket `slot`.
    pub fn record(&mut self, slot: u64) {
        let i = index(slot);
        if self.slots[i] != slot {
            self.slots[i] = slot;
            self.counts[i] = 0;
        }
        self.counts[i] += 1;
    }

    /// Requests in the window ending with bucket `now` (that bucket and the
    /// five before it).
    pub fn total(&self, now: u64) -> u64 {
        self.slots
            .iter()
            .zip(self.counts.iter())
            .filter(|(slot, _)| **slot <= now && now - **slot < BUCKETS as u64)
            .map(|(_, count)| *count)
            .sum()
    }
}

fn index(slot: u64) -> usize {
    // The remainder is below BUCKETS, so it fits in a usize.
    (slot % BUCKETS as u64) as usize
}

/// The per-store windows of this process, cheap to clone.
#[derive(Clone)]
pub struct RequestCounter {
    started: Instant,
    windows: Arc<Mutex<HashMap<StoreId, Window>>>,
}

impl Default for RequestCounter {
    fn default() -> Self {
        Self::new()
    }
}

impl RequestCounter {
    pub fn new() -> Self {
        Self {
            started: Instant::now(),
            windows: Arc::default(),
        }
    }

    fn slot(&self) -> u64 {
        self.started.elapsed().as_secs() / BUCKET_SECS
    }

    /// Counts one request the fence admitted for `store`.
    pub fn record(&self, store: StoreId) {
        let slot = self.slot();
        self.windows
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(store)
            .or_default()
            .record(slot);
    }

    /// Requests per store in the last minute; stores without any are
    /// forgotten.
    pub fn per_minute(&self) -> HashMap<StoreId, u64> {
        let now = self.slot();
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        windows.retain(|_, w| w.total(now) > 0);
        windows.iter().map(|(s, w)| (*s, w.total(now))).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_count_for_a_minute_then_fall_out() {
        let mut w = Window::default();
        w.record(10);
        w.record(10);
        w.record(12);
        assert_eq!(w.total(10), 2);
        assert_eq!(w.total(12), 3);
        assert_eq!(w.total(15), 3, "bucket 10 is still within six buckets");
        assert_eq!(w.total(16), 1, "bucket 10 has left the window");
        assert_eq!(w.total(18), 0);
    }

    #[test]
    fn a_reused_bucket_starts_from_zero() {
        let mut w = Window::default();
        for _ in 0..5 {
            w.record(3);
        }
        w.record(9); // same index as 3, six buckets later
        assert_eq!(w.total(9), 1);
        w.record(9);
        assert_eq!(w.total(9), 2);
    }

    #[test]
    fn an_empty_window_counts_nothing() {
        let w = Window::default();
        assert_eq!(w.total(0), 0);
        assert_eq!(w.total(1000), 0);
    }

    #[test]
    fn buckets_ahead_of_now_are_not_counted() {
        let mut w = Window::default();
        w.record(7);
        assert_eq!(w.total(6), 0);
    }

    #[test]
    fn the_counter_forgets_idle_stores() {
        let counter = RequestCounter::new();
        let a = StoreId::new();
        let b = StoreId::new();
        counter.record(a);
        counter.record(a);
        counter.record(b);
        let seen = counter.per_minute();
        assert_eq!(seen.get(&a), Some(&2));
        assert_eq!(seen.get(&b), Some(&1));
        assert_eq!(seen.len(), 2);
    }
}
