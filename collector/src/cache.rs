//! Values computed from many rows and served for a while: the fleet's
//! impact, the suggestions' counts, HR's weekly trend. Pages stay fast on
//! large fleets; what changes them clears them.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One key's value: computed once by whoever asks first, the others
/// awaiting the same computation.
type Slot<T> = Arc<tokio::sync::OnceCell<(Instant, Arc<T>)>>;

/// Values by key, each kept for `fresh` after it was computed. Each key is
/// computed once at a time (single flight), and a computation holds no lock
/// that other keys wait behind: the map's lock is held only to find or
/// replace a key's slot.
#[derive(Debug)]
pub struct Cached<T> {
    fresh: Duration,
    slots: std::sync::Mutex<HashMap<String, Slot<T>>>,
}

/// Keys kept at most; beyond, the cache starts again empty.
const MAX_KEYS: usize = 64;

impl<T> Cached<T> {
    /// A cache whose values live `fresh`.
    pub fn new(fresh: Duration) -> Self {
        Self {
            fresh,
            slots: std::sync::Mutex::new(HashMap::new()),
        }
    }

    /// The slot of `key`: the current one, or a new empty one when it is
    /// missing or holds a stale value.
    fn slot(&self, key: &str) -> Slot<T> {
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(slot) = slots.get(key)
            && slot.get().is_none_or(|(at, _)| at.elapsed() < self.fresh)
        {
            return slot.clone();
        }
        if slots.len() >= MAX_KEYS {
            slots.clear();
        }
        let slot = Slot::default();
        slots.insert(key.to_owned(), slot.clone());
        slot
    }

    /// The value for `key`, computed by `compute` when missing or stale.
    /// Callers asking for the same key at once wait for one computation;
    /// other keys do not wait. A failed computation is not kept: the next
    /// caller computes again.
    ///
    /// # Errors
    /// What `compute` returns.
    pub async fn get<E, F, Fut>(&self, key: &str, compute: F) -> Result<Arc<T>, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let slot = self.slot(key);
        let (_, value) = slot
            .get_or_try_init(|| async { Ok((Instant::now(), Arc::new(compute().await?))) })
            .await?;
        Ok(value.clone())
    }

    /// Forgets every value: what they were computed from changed.
    pub async fn clear(&self) {
        self.slots.lock().unwrap_or_else(|e| e.into_inner()).clear();
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

    #[tokio::test]
    async fn one_key_computing_never_holds_up_another_and_each_computes_once() {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicU32, Ordering};
        let cache = Arc::new(Cached::new(Duration::from_secs(60)));
        let (release, released) = tokio::sync::oneshot::channel::<()>();
        let computed = Arc::new(AtomicU32::new(0));
        // A slow computation of "slow", held until released.
        let slow = tokio::spawn({
            let (cache, computed) = (cache.clone(), computed.clone());
            async move {
                cache
                    .get("slow", || async move {
                        computed.fetch_add(1, Ordering::SeqCst);
                        released.await.unwrap();
                        Ok::<_, ()>(1)
                    })
                    .await
                    .unwrap()
            }
        });
        tokio::task::yield_now().await;
        while computed.load(Ordering::SeqCst) == 0 {
            tokio::task::yield_now().await;
        }
        // Another key is served while "slow" is computing.
        assert_eq!(
            *cache
                .get("fast", || async { Ok::<_, ()>(2) })
                .await
                .unwrap(),
            2
        );
        // A second caller of "slow" waits for the same computation.
        let second = tokio::spawn({
            let (cache, computed) = (cache.clone(), computed.clone());
            async move {
                cache
                    .get("slow", || async move {
                        computed.fetch_add(1, Ordering::SeqCst);
                        Ok::<_, ()>(3)
                    })
                    .await
                    .unwrap()
            }
        });
        tokio::task::yield_now().await;
        release.send(()).unwrap();
        assert_eq!(*slow.await.unwrap(), 1);
        assert_eq!(*second.await.unwrap(), 1);
        assert_eq!(computed.load(Ordering::SeqCst), 1);
        // A failure is not kept.
        let failing = Cached::<u8>::new(Duration::from_secs(60));
        assert!(
            failing
                .get("k", || async { Err::<u8, _>("down") })
                .await
                .is_err()
        );
        assert_eq!(
            *failing.get("k", || async { Ok::<_, ()>(5) }).await.unwrap(),
            5
        );
    }
}
