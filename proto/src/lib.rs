//! # sobrio-proto
//!
//! The `sobrio.v1` protocol shared by the agent and the collector — and the only
//! thing they share. The `.proto` files under `sobrio/v1/` are the source of
//! truth; code is generated at build time by `protox` (no `protoc` needed).
//!
//! Messages derive `serde::Serialize` so that the agent can show exactly what it
//! sends (`sobrio-agent collect --once --json`): absent optional fields become
//! `null`, enums their lower-case names.
//!
//! [`pseudonym`] is the one computation both sides share: the oblivious
//! evaluation that turns a login into a pseudonym.
//!
//! Changes to the protocol are additive only: never renumber or reuse a field.

/// The `sobrio.v1` package.
pub mod v1 {
    #![allow(clippy::all, clippy::pedantic, missing_docs, unused_qualifications)]
    tonic::include_proto!("sobrio.v1");
}

mod json;
pub mod pseudonym;

pub use prost::Message;
