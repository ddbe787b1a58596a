//! Exponential backoff with full jitter, for every retry loop of the
//! platform (the routers' table sync, the outbox relay, the analytics
//! consumer, the test gateway's webhooks, the router's reconnects). With a
//! fixed schedule, every process that lost the same peer retries at the
//! same instants and they come back as one wave; a random point in each
//! window spreads them out.

use std::hash::{BuildHasher as _, Hasher as _};
use std::time::Duration;

/// Delays for the attempts of one retry loop: attempt `n` waits a random
/// time in `[0, min(max, base·2ⁿ)]`, but never less than a tenth of that
/// window, so a retry never spins.
#[derive(Debug, Clone)]
pub struct Backoff {
    base: Duration,
    max: Duration,
    attempt: u32,
}

impl Backoff {
    pub fn new(base: Duration, max: Duration) -> Self {
        Self {
            base,
            max: max.max(base),
            attempt: 0,
        }
    }

    /// The delay before the next attempt.
    pub fn next_delay(&mut self) -> Duration {
        let window = window(self.base, self.max, self.attempt);
        self.attempt = self.attempt.saturating_add(1);
        let floor = window / 10;
        floor + (window - floor).mul_f64(unit_random())
    }

    /// After a success: the next failure starts from `base` again.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }

    /// Failures since the last reset.
    pub fn attempts(&self) -> u32 {
        self.attempt
    }
}

/// The window of attempt `attempt` (from 0): `base·2^attempt`, at most
/// `max` (and never under `base`). Retry queues that count their attempts
/// in a table (mail, merchant webhooks) jitter it themselves.
pub fn window(base: Duration, max: Duration, attempt: u32) -> Duration {
    base.saturating_mul(1u32 << attempt.min(20))
        .min(max.max(base))
}

/// A random point in the upper half of `window`: for retry schedules that
/// are fixed (the test gateway's webhooks) but must not be in lockstep.
pub fn jitter(window: Duration) -> Duration {
    window / 2 + (window / 2).mul_f64(unit_random())
}

/// A random number in `[0, 1)`. Jitter needs no cryptographic quality:
/// the standard library's per-instance random hash keys are enough.
fn unit_random() -> f64 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(0);
    (h.finish() >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_double_up_to_the_cap_and_delays_stay_inside_them() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_millis(1_000));
        for window_ms in [100u64, 200, 400, 800, 1_000, 1_000] {
            let d = b.next_delay();
            let window = Duration::from_millis(window_ms);
            assert!(d >= window / 10 && d <= window, "{d:?} outside {window:?}");
        }
        b.reset();
        assert!(b.next_delay() <= Duration::from_millis(100));
        assert_eq!(b.attempts(), 1);
    }

    #[test]
    fn delays_are_spread_not_in_lockstep() {
        let delays: std::collections::HashSet<Duration> = (0..50)
            .map(|_| Backoff::new(Duration::from_secs(1), Duration::from_secs(1)).next_delay())
            .collect();
        assert!(
            delays.len() > 40,
            "only {} distinct delays of 50",
            delays.len()
        );
    }
}
