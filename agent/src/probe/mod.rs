//! Probes: each reads one source and returns the agent's own domain types.
//! Probes know nothing of the wire; `report` maps their facts to `sobrio.v1`.

pub mod calls;
pub mod health;
pub mod inventory;
pub mod macos;
pub mod smart;
pub mod storage;
pub mod usage;
pub mod volumes;
