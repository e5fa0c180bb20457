//! # sobrio-agent
//!
//! A lightweight agent for employee devices: it measures hardware age and
//! health, device use, storage and digital load, and sends counts and
//! durations — never paths, contents or titles — to the collector over gRPC
//! with mutual TLS.
//!
//! # Layout
//! - [`platform`]: the host at the bottom: the runner of programs, the
//!   clock, D-Bus, the runtime and the state kept off its thread, Windows'
//!   places and settings.
//! - [`cli`]: the command line; `main.rs` only calls [`cli::main`].
//! - [`service`]: the agent as a Windows service.
//! - [`config`]: the local TOML configuration, validated.
//! - [`state`]: the state directory: key, certificate, enrollment, policy.
//! - [`transport`]: the TLS 1.3 gRPC client pinned to the collector's CA.
//! - [`enroll`]: enrollment and certificate renewal.
//! - [`probe`]: one module per source, returning the agent's own types.
//! - [`calendar`]: each person's calendar sources, reduced to meeting times.
//! - [`load`]: meeting load and activity over a day, from their spans.
//! - [`day`]: a person's day of digital load, free of the wire's types.
//! - [`me`]: a person's own week, shown locally.
//! - [`tally`]: what samples and monitors add up to between reports.
//! - [`sampler`]: owns the probes and their state, off the runtime's thread.
//! - [`report`]: the encoder: domain values to `sobrio.v1` reports.
//! - [`people`]: notification monitors, calendars and files per user.
//! - [`spool`]: the on-disk spool: nothing collected is lost before an ack.
//! - [`backoff`]: retry pacing and start-up splay.
//! - [`run`]: the collect-spool-deliver cycle.

pub mod architecture;
pub mod backoff;
pub mod calendar;
pub mod cli;
pub mod config;
pub mod day;
pub mod enroll;
pub mod load;
pub mod me;
pub mod people;
pub mod platform;
pub mod probe;
pub mod pseudonyms;
pub mod report;
pub mod run;
pub mod sampler;
pub mod service;
pub mod spool;
pub mod state;
pub mod tally;
pub mod transport;
