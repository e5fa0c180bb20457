//! # sobrio-collector
//!
//! Receives agents' reports over gRPC with mutual TLS, stores them, and (in
//! time) turns them into suggestions for IT and indicators for HR.
//!
//! # Layout
//! - [`cli`]: the command line; `main.rs` only calls [`cli::main`].
//! - [`config`]: the TOML configuration, validated.
//! - [`server`]: start-up: CA, listeners, services.
//! - [`transport`]: the TLS 1.3 listener that exposes client certificates.
//! - [`pki`]: the collector CA; device identity is a certificate's common name.
//! - [`assets`]: the asset register: CSV import, GLPI and Snipe-IT export.
//! - [`auth`]: which enrolled device is calling.
//! - [`enrollment`]: the Enrollment service and enrollment tokens.
//! - [`ingest`]: the Ingest service: decode, validate, group-commit, ack.
//! - [`jobs`]: periodic jobs (retention), once per period across replicas.
//! - [`limiter`]: failed attempts per key, against guessing.
//! - [`metrics`]: Prometheus counters for `/metrics`.
//! - [`policy`]: the policy sent to agents.
//! - [`store`]: everything kept, on SQLite (embedded) or PostgreSQL.
//! - [`cache`]: figures computed from many rows, served for a while.
//! - [`api`]: the JSON API under `/api/v1`; [`web`]: the dashboards.
//! - [`demo`]: a simulated fleet that speaks only `sobrio.v1`.

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
pub mod indicators;
pub mod ingest;
pub mod jobs;
pub mod limiter;
pub mod metrics;
pub mod pki;
pub mod policy;
pub mod secret;
pub mod server;
pub mod store;
pub mod transport;
pub mod web;
