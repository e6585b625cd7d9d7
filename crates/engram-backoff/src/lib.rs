//! The one retry schedule of engram's background work and model clients:
//! exponential, capped, jittered. Sidecars that failed together (Postgres
//! or the model server restarted under all of them) do not retry together.

use std::time::Duration;

use ring::rand::{SecureRandom, SystemRandom};

/// Exponential backoff from `base`, capped at `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub base: Duration,
    pub max: Duration,
}

impl Backoff {
    pub const fn new(base: Duration, max: Duration) -> Self {
        Self { base, max }
    }

    /// The wait before retry `attempt` (1: the first retry): `base` doubled
    /// for each earlier attempt, capped at `max`, then a random point of
    /// its upper half ("equal jitter": never less than half the schedule,
    /// never more than it).
    pub fn delay(&self, attempt: u32) -> Duration {
        let full = self
            .base
            .saturating_mul(1 << attempt.saturating_sub(1).min(16))
            .min(self.max);
        let half = full / 2;
        half + half.mul_f64(unit())
    }
}

/// A random number in [0, 1).
fn unit() -> f64 {
    let mut bytes = [0u8; 8];
    // The system's generator does not fail on the platforms engram runs
    // on; if it did, no jitter (0) is still a valid delay.
    let _ = SystemRandom::new().fill(&mut bytes);
    (u64::from_le_bytes(bytes) >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_the_cap_within_its_upper_half() {
        let backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(2));
        for attempt in 1..40 {
            let full = Duration::from_millis(100)
                .saturating_mul(1 << (attempt - 1).min(16))
                .min(Duration::from_secs(2));
            let delay = backoff.delay(attempt);
            assert!(delay >= full / 2 && delay <= full, "{attempt}: {delay:?}");
        }
        // Jittered: twenty draws are not all the same.
        let draws: std::collections::HashSet<Duration> =
            (0..20).map(|_| backoff.delay(5)).collect();
        assert!(draws.len() > 1);
        assert_eq!(
            Backoff::new(Duration::ZERO, Duration::ZERO).delay(3),
            Duration::ZERO
        );
    }
}
