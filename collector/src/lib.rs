//! # sobrio-collector
//!
//! Receives agents' reports over gRPC with mutual TLS, stores them, and (in
//! time) turns them into suggestions for IT and indicators for HR.
//!
//! # Layout
//! Five layers, bottom first, each module using only its own layer and
//! those below ([`architecture`] declares them; the tests crate checks it):
//! - domain: [`domain`] (names, dates), [`error`] (error codes),
//!   [`working_hours`], [`secret`],
//!   [`lifecycle`] (enrollment tokens' and suggestions' rules),
//!   [`analysis`] (suggestions), [`indicators`] (HR's weekly release),
//!   [`policy`], [`export`] (CSV), [`config`];
//! - [`store`]: everything kept, on SQLite (embedded) or PostgreSQL;
//! - application: [`app`] (the use cases and their shared state),
//!   [`assets`], [`pki`], [`limiter`], [`cache`], [`metrics`];
//! - adapters: [`ingest`] and [`enrollment`] (gRPC, over [`transport`] and
//!   [`auth`]), [`http`], [`api`] (JSON), [`web`] (the dashboards),
//!   [`jobs`], [`demo`], [`cli`];
//! - wiring: [`server`], which `main.rs` calls.
//!
//! ARCHITECTURE.md, at the repository's root, tells how a report flows
//! from the wire to a page.

pub mod analysis;
pub mod api;
pub mod app;
pub mod architecture;
pub mod assets;
pub mod auth;
pub mod cache;
pub mod cli;
pub mod config;
pub mod demo;
pub mod domain;
pub mod enrollment;
pub mod error;
pub mod export;
pub mod http;
pub mod https;
pub mod indicators;
pub mod ingest;
pub mod jobs;
pub mod lifecycle;
pub mod limiter;
pub mod metrics;
pub mod pki;
pub mod policy;
pub mod secret;
pub mod server;
pub mod store;
pub mod transport;
pub mod web;
pub mod working_hours;
