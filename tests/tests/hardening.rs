//! Hardening from use, one binary for all: accounts over their life, safe
//! exports, `/metrics` kept apart, slow HTTP clients, and probe programs
//! that hang or flood.

#[path = "hardening/accounts.rs"]
mod accounts;
#[path = "hardening/exports.rs"]
mod exports;
#[path = "hardening/metrics.rs"]
mod metrics;
#[path = "hardening/slow_clients.rs"]
mod slow_clients;
#[path = "hardening/stuck_probes.rs"]
mod stuck_probes;
