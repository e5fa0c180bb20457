//! The collector's layers, and the test that keeps its dependencies
//! pointing one way: read from the sources' `crate::` paths, a module may
//! use modules of its own layer or of the layers below it, never above, and
//! the top-level modules form no cycle.
//!
//! Bottom first:
//! - **domain**: values and rules, no I/O and no clock of their own;
//! - **store**: everything kept, on SQLite or PostgreSQL;
//! - **application**: the use cases and the state they share;
//! - **adapters**: gRPC services, JSON API, pages, CLI commands, jobs, demo;
//! - **wiring**: start-up, which assembles the rest.
//!
//! Run `cargo test -p sobrio-tests --test architecture` to check it: the
//! same test checks the agent's layers (`sobrio_agent::architecture`).

/// Each layer with its top-level modules, bottom first.
pub const LAYERS: &[(&str, &[&str])] = &[
    (
        "domain",
        &[
            "domain",
            "error",
            "working_hours",
            "secret",
            "lifecycle",
            "analysis",
            "indicators",
            "policy",
            "export",
            "config",
        ],
    ),
    ("store", &["store"]),
    (
        "application",
        &["app", "assets", "pki", "limiter", "cache", "metrics"],
    ),
    (
        "adapters",
        &[
            "auth",
            "transport",
            "http",
            "https",
            "ingest",
            "enrollment",
            "api",
            "web",
            "jobs",
            "demo",
            "cli",
        ],
    ),
    ("wiring", &["server"]),
];
