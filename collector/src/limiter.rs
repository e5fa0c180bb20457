//! Failed attempts counted per key (an account, an address) over a fixed
//! window, and growing delays per key: what stops guessing of passwords
//! and enrollment tokens.

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

/// What attempts are counted against: the IPv4 address, or the /64
/// network of an IPv6 one (one host may hop within its /64).
#[must_use]
pub fn client_network(ip: std::net::IpAddr) -> String {
    match ip {
        std::net::IpAddr::V4(v4) => v4.to_string(),
        std::net::IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
    }
}

/// [`client_network`] of an address given as text (kept as is when it is
/// not an IP address).
#[must_use]
pub fn network_of(address: &str) -> String {
    address
        .parse::<std::net::IpAddr>()
        .or_else(|_| address.parse::<std::net::SocketAddr>().map(|a| a.ip()))
        .map_or_else(|_| address.to_owned(), client_network)
}

/// Growing delays per key: the first `free` failures cost nothing, then
/// each further one makes the key wait `base`, twice that, four times…
/// (at most `max`) after it. A key quiet for `forget_after` starts afresh.
#[derive(Debug)]
pub struct Backoff {
    free: u32,
    base: Duration,
    max: Duration,
    forget_after: Duration,
    failures: Mutex<HashMap<String, (u32, Instant)>>,
}

impl Backoff {
    #[must_use]
    pub fn new(free: u32, base: Duration, max: Duration, forget_after: Duration) -> Self {
        Self {
            free,
            base,
            max,
            forget_after,
            failures: Mutex::new(HashMap::new()),
        }
    }

    fn delay(&self, count: u32) -> Duration {
        let over = count.saturating_sub(self.free);
        if over == 0 {
            return Duration::ZERO;
        }
        self.base
            .saturating_mul(1_u32 << (over - 1).min(20))
            .min(self.max)
    }

    /// How long `key` must still wait; `None` when it may try now.
    pub fn blocked(&self, key: &str) -> Option<Duration> {
        let failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let (count, last) = failures.get(key)?;
        let elapsed = last.elapsed();
        if elapsed >= self.forget_after {
            return None;
        }
        let delay = self.delay(*count);
        (elapsed < delay).then(|| delay - elapsed)
    }

    /// Records a failure of `key`.
    pub fn failed(&self, key: &str) {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        if failures.len() >= MAX_ENTRIES {
            failures.retain(|_, (_, last)| now.duration_since(*last) < self.forget_after);
            if failures.len() >= MAX_ENTRIES && !failures.contains_key(key) {
                return;
            }
        }
        let entry = failures.entry(key.to_owned()).or_insert((0, now));
        if now.duration_since(entry.1) >= self.forget_after {
            entry.0 = 0;
        }
        entry.0 += 1;
        entry.1 = now;
    }

    /// Forgets `key` (after a success).
    pub fn forget(&self, key: &str) {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        failures.remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_after_the_free_failures_and_a_success_resets_them() {
        let backoff = Backoff::new(
            3,
            Duration::from_secs(30),
            Duration::from_secs(900),
            Duration::from_secs(3600),
        );
        for _ in 0..3 {
            assert!(backoff.blocked("k").is_none());
            backoff.failed("k");
        }
        assert!(backoff.blocked("k").is_none(), "three failures are free");
        backoff.failed("k");
        // Margins of tens of seconds: a busy machine cannot make these pass
        // or fail by chance.
        let first = backoff.blocked("k").unwrap();
        assert!(first > Duration::from_secs(20) && first <= Duration::from_secs(30));
        backoff.failed("k");
        backoff.failed("k");
        let third = backoff.blocked("k").unwrap();
        assert!(third > Duration::from_secs(100) && third <= Duration::from_secs(120));
        for _ in 0..30 {
            backoff.failed("k");
        }
        let capped = backoff.blocked("k").unwrap();
        assert!(capped <= Duration::from_secs(900) && capped > Duration::from_secs(890));
        assert!(backoff.blocked("other").is_none());
        backoff.forget("k");
        assert!(backoff.blocked("k").is_none());
    }

    #[test]
    fn ipv6_counts_by_its_64_and_text_addresses_are_read() {
        assert_eq!(network_of("2001:db8:1:2::7"), "2001:db8:1:2::/64");
        assert_eq!(network_of("2001:db8:1:2:ffff::1"), "2001:db8:1:2::/64");
        assert_eq!(network_of("10.0.0.1"), "10.0.0.1");
        assert_eq!(network_of("[2001:db8::1]:443"), "2001:db8:0:0::/64");
        assert_eq!(network_of("::ffff:10.0.0.1"), "10.0.0.1");
        assert_eq!(network_of("unknown"), "unknown");
    }

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
