//! Values computed from many rows and served for a while: the fleet's
//! impact, the suggestions' counts, HR's weekly trend. Pages stay fast on
//! large fleets; what changes them clears them.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Values by key, each kept for `fresh` after it was computed.
#[derive(Debug)]
pub struct Cached<T> {
    fresh: Duration,
    values: tokio::sync::Mutex<HashMap<String, (Instant, Arc<T>)>>,
}

/// Keys kept at most; beyond, the cache starts again empty.
const MAX_KEYS: usize = 64;

impl<T> Cached<T> {
    /// A cache whose values live `fresh`.
    pub fn new(fresh: Duration) -> Self {
        Self {
            fresh,
            values: tokio::sync::Mutex::new(HashMap::new()),
        }
    }

    /// The value for `key`, computed by `compute` when missing or stale.
    /// Callers asking at once wait for one computation.
    ///
    /// # Errors
    /// What `compute` returns.
    pub async fn get<E, F, Fut>(&self, key: &str, compute: F) -> Result<Arc<T>, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let mut values = self.values.lock().await;
        if let Some((at, value)) = values.get(key)
            && at.elapsed() < self.fresh
        {
            return Ok(value.clone());
        }
        let value = Arc::new(compute().await?);
        if values.len() >= MAX_KEYS {
            values.clear();
        }
        values.insert(key.to_owned(), (Instant::now(), value.clone()));
        Ok(value)
    }

    /// Forgets every value: what they were computed from changed.
    pub async fn clear(&self) {
        self.values.lock().await.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::Cached;
    use std::time::Duration;

    #[tokio::test]
    async fn a_value_is_computed_once_until_stale_or_cleared() {
        let cache = Cached::new(Duration::from_secs(60));
        let mut computed = 0;
        for _ in 0..3 {
            let value = cache
                .get("k", || {
                    computed += 1;
                    async { Ok::<_, ()>(42) }
                })
                .await
                .unwrap();
            assert_eq!(*value, 42);
        }
        assert_eq!(computed, 1);
        cache.clear().await;
        cache
            .get("k", || {
                computed += 1;
                async { Ok::<_, ()>(1) }
            })
            .await
            .unwrap();
        assert_eq!(computed, 2);
        let stale = Cached::new(Duration::ZERO);
        for _ in 0..2 {
            stale.get("k", || async { Ok::<_, ()>(0) }).await.unwrap();
        }
    }
}
