//! Host state kept off the runtime's thread. The agent runs on one worker
//! thread: a probe that walks files, refreshes sysinfo, runs a program or
//! reads a SQLite database there would stop every other task (deliveries,
//! monitors, the shutdown signal) while it does. The probes that block live
//! inside an [`Offloaded`], whose only door is [`Offloaded::run`], on
//! tokio's blocking pool: no code path reaches them from the runtime's
//! thread.

use std::sync::{Arc, Mutex, PoisonError};

/// A value only touched on the blocking pool, one caller at a time.
#[derive(Debug)]
pub struct Offloaded<T>(Arc<Mutex<T>>);

impl<T: Send + 'static> Offloaded<T> {
    pub fn new(value: T) -> Self {
        Self(Arc::new(Mutex::new(value)))
    }

    /// Runs `f` on the value, on the blocking pool; returns what it returns.
    /// A panic in `f` is resumed here, as if `f` had run inline.
    pub async fn run<R: Send + 'static>(&self, f: impl FnOnce(&mut T) -> R + Send + 'static) -> R {
        let value = Arc::clone(&self.0);
        let joined = tokio::task::spawn_blocking(move || {
            f(&mut value.lock().unwrap_or_else(PoisonError::into_inner))
        })
        .await;
        match joined {
            Ok(result) => result,
            Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
            // The runtime is shutting down: so is the caller.
            Err(_) => std::future::pending().await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "current_thread")]
    async fn the_value_is_used_off_the_runtime_thread() {
        let offloaded = Offloaded::new(0_u32);
        let runtime_thread = std::thread::current().id();
        let (count, thread) = offloaded
            .run(|n| {
                *n += 1;
                (*n, std::thread::current().id())
            })
            .await;
        assert_eq!(count, 1);
        assert_ne!(thread, runtime_thread);
        assert_eq!(offloaded.run(|n| *n).await, 1, "the state is kept");
    }
}
