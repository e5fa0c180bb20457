//! Probes: each reads one source and returns the agent's own domain types.
//! Probes know nothing of the wire; `report` maps their facts to `sobrio.v1`.

pub mod accounts;
pub mod calls;
pub mod consent;
pub mod health;
pub mod inventory;
pub mod macos;
#[cfg(any(windows, target_os = "macos", test))]
pub mod notification_db;
pub mod notifications;
#[cfg(target_os = "linux")]
pub mod sessions;
pub mod smart;
pub mod storage;
pub mod usage;
pub mod volumes;
pub mod wmi;
