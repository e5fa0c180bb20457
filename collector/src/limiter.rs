//! Failed attempts counted per key (an account, an address) over a fixed
//! window: what stops guessing of passwords and enrollment tokens.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Entries kept at most; expired windows are dropped beyond, and new keys
/// are not counted while every entry is still live (the limit then fails
/// open for new keys rather than growing without bound).
const MAX_ENTRIES: usize = 10_000;

/// Counts failures per key; a key with `limit` failures inside the window is
/// blocked until the window, which starts at its first failure, ends.
#[derive(Debug)]
pub struct FailureLimiter {
    window: Duration,
    failures: Mutex<HashMap<String, (Instant, u32)>>,
}

impl FailureLimiter {
    #[must_use]
    pub fn new(window: Duration) -> Self {
        Self {
            window,
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// How long until every `(key, limit)` given allows an attempt again;
    /// `None` when none blocks.
    pub fn blocked(&self, keys: &[(&str, u32)]) -> Option<Duration> {
        let failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        keys.iter()
            .filter_map(|(key, limit)| {
                let (since, count) = failures.get(*key)?;
                let elapsed = now.duration_since(*since);
                (*count >= *limit && elapsed < self.window).then(|| self.window - elapsed)
            })
            .max()
    }

    /// Records a failure against each key.
    pub fn failed(&self, keys: &[&str]) {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        if failures.len() >= MAX_ENTRIES {
            failures.retain(|_, (since, _)| now.duration_since(*since) < self.window);
        }
        for key in keys {
            if failures.len() >= MAX_ENTRIES && !failures.contains_key(*key) {
                continue;
            }
            let entry = failures.entry((*key).to_owned()).or_insert((now, 0));
            if now.duration_since(entry.0) >= self.window {
                *entry = (now, 0);
            }
            entry.1 += 1;
        }
    }

    /// Forgets a key's failures (after a success).
    pub fn forget(&self, key: &str) {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        failures.remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_blocked_at_its_limit_and_others_are_not() {
        let limiter = FailureLimiter::new(Duration::from_secs(60));
        for _ in 0..3 {
            assert!(limiter.blocked(&[("a", 3)]).is_none());
            limiter.failed(&["a", "shared"]);
        }
        let wait = limiter.blocked(&[("a", 3)]).unwrap();
        assert!(wait > Duration::from_secs(59) && wait <= Duration::from_secs(60));
        assert!(limiter.blocked(&[("b", 3)]).is_none());
        assert!(limiter.blocked(&[("b", 3), ("shared", 3)]).is_some());
        limiter.forget("a");
        assert!(limiter.blocked(&[("a", 3)]).is_none());
    }

    #[test]
    fn an_ended_window_starts_again() {
        let limiter = FailureLimiter::new(Duration::from_millis(20));
        limiter.failed(&["a"]);
        assert!(limiter.blocked(&[("a", 1)]).is_some());
        std::thread::sleep(Duration::from_millis(30));
        assert!(limiter.blocked(&[("a", 1)]).is_none());
        limiter.failed(&["a"]);
        assert!(limiter.blocked(&[("a", 1)]).is_some(), "counted anew");
    }
}
