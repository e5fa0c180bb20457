//! The host the agent runs on, at the bottom of the agent: the one runner
//! of programs ([`command`]), the clock ([`clock`]), D-Bus ([`bus`]), the
//! runtime the agent runs on and the door to the state that must stay off
//! its thread ([`offload`]), and Windows' own places and settings
//! ([`windows`]). Nothing here uses the rest of the agent.

#[cfg(target_os = "linux")]
pub mod bus;
pub mod clock;
pub mod command;
pub mod offload;
pub mod windows;

/// How long the agent waits, when it stops, for blocking work still under
/// way (a storage scan walking a large home): the walk ends on its own
/// deadline, the agent does not wait for it.
pub const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(2);

/// The agent's runtime. One worker thread: the agent must stay light on the
/// employee's machine. Multi-threaded all the same, so that a probe's
/// program hands the worker over while it runs (see [`command::run`])
/// instead of stopping every task behind it.
///
/// # Errors
/// When the operating system refuses the thread or the I/O driver.
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
}
