//! Probes: one folder per signal, each reading its sources and returning
//! the agent's own domain types, with the signal's configuration beside it
//! where it has one. Probes know nothing of the wire; `report` maps their
//! facts to `sobrio.v1`.
//!
//! - [`inventory`]: hardware, firmware and OS facts (Linux files, macOS
//!   `system_profiler`, Windows WMI, SMART);
//! - [`usage`]: CPU, memory and disk fill, and who is at the machine
//!   (logind's sessions);
//! - [`storage`]: volumes and the scan for reclaimable storage;
//! - [`calls`]: whether a call is under way (capture devices, Windows'
//!   consent store);
//! - [`notifications`]: notifications shown (the session bus, the
//!   notification databases of Windows and macOS);
//! - [`accounts`] and [`health`]: the people with accounts here, and the
//!   agent's own health.

pub mod accounts;
pub mod calls;
pub mod health;
pub mod inventory;
pub mod notifications;
pub mod storage;
pub mod usage;

/// A probe's setting outside what it accepts: the key, the value, and what
/// is expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidSetting {
    pub key: &'static str,
    pub value: String,
    pub expected: &'static str,
}
