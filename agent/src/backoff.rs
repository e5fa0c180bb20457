//! Retry pacing: jittered, bounded exponential backoff, and a random splay
//! at start so that agents restarted together (or a collector coming back)
//! do not produce a thundering herd.

use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

/// A small pseudo-random generator (xorshift64*), seeded from the standard
/// library's per-process random hasher keys. Pacing only, nothing secret.
#[derive(Debug, Clone)]
pub struct Jitter(u64);

impl Jitter {
    /// Seeded differently in every process.
    pub fn from_entropy() -> Self {
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u64(u64::from(std::process::id()));
        Self::with_seed(hasher.finish())
    }

    pub fn with_seed(seed: u64) -> Self {
        // SplitMix64's finaliser spreads nearby seeds apart; xorshift needs a
        // non-zero state.
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        Self((z ^ (z >> 31)) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `[0, max]`.
    pub fn up_to(&mut self, max: Duration) -> Duration {
        let millis = u64::try_from(max.as_millis()).unwrap_or(u64::MAX);
        Duration::from_millis(self.next() % millis.saturating_add(1))
    }
}

/// Exponential backoff with "equal jitter": after `n` failures in a row the
/// delay is half of `min(max, min × 2ⁿ)` plus a random part up to the other
/// half — never zero, never beyond `max`.
#[derive(Debug, Clone)]
pub struct Backoff {
    min: Duration,
    max: Duration,
    failures: u32,
    jitter: Jitter,
}

impl Backoff {
    pub fn new(min: Duration, max: Duration, jitter: Jitter) -> Self {
        Self {
            min,
            max: max.max(min),
            failures: 0,
            jitter,
        }
    }

    /// The delay before the next attempt after one more failure.
    pub fn failure(&mut self) -> Duration {
        let ceiling = self
            .min
            .saturating_mul(1_u32 << self.failures.min(20))
            .min(self.max);
        self.failures = self.failures.saturating_add(1);
        ceiling / 2 + self.jitter.up_to(ceiling / 2)
    }

    /// A success: the next failure starts from `min` again.
    pub fn success(&mut self) {
        self.failures = 0;
    }

    /// Failures in a row so far.
    pub fn failures(&self) -> u32 {
        self.failures
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_to_the_bound_with_jitter_and_reset_on_success() {
        let mut backoff = Backoff::new(
            Duration::from_secs(5),
            Duration::from_secs(900),
            Jitter::with_seed(42),
        );
        let delays: Vec<Duration> = (0..12).map(|_| backoff.failure()).collect();
        for (n, delay) in delays.iter().enumerate() {
            let ceiling = Duration::from_secs(5 * (1 << n)).min(Duration::from_secs(900));
            assert!(
                *delay >= ceiling / 2 && *delay <= ceiling,
                "attempt {n}: {delay:?}"
            );
        }
        assert!(delays[11] <= Duration::from_secs(900));
        backoff.success();
        assert!(backoff.failure() <= Duration::from_secs(5));
    }

    #[test]
    fn agents_spread_their_retries() {
        let delays: std::collections::BTreeSet<u128> = (0..50)
            .map(|seed| {
                Backoff::new(
                    Duration::from_secs(60),
                    Duration::from_secs(60),
                    Jitter::with_seed(seed),
                )
                .failure()
                .as_millis()
            })
            .collect();
        assert!(
            delays.len() > 40,
            "50 agents should not retry in the same millisecond: {delays:?}"
        );
    }
}
