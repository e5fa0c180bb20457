//! The agent's layers, bottom first; a module uses modules of its own
//! layer or of the layers below, never above, and the modules of a layer
//! form no cycle. `cargo test -p sobrio-tests --test architecture` reads
//! every file's `crate::` paths and checks it.
//!
//! - **platform**: the host (programs, clock, runtime, Windows' places) and
//!   what needs nothing else of the agent (retry pacing, the spool, the TLS
//!   client, pseudonyms);
//! - **probes**: one module per source of facts;
//! - **domain**: the configuration, meeting and activity load, the
//!   calendars reduced to meeting times, a person's day of digital load,
//!   the tally of samples between reports;
//! - **views**: a person's own week, shown on the device only (never the
//!   wire's types);
//! - **sampling**: the probes' state, kept off the runtime's thread;
//! - **reports**: the encoder of `sobrio.v1` reports;
//! - **people**: per-user monitors, calendars and files;
//! - **state**: the state directory and enrollment;
//! - **run**: the collect-spool-deliver loop;
//! - **entry points**: the command line and the Windows service.

/// Each layer with its top-level modules, bottom first.
pub const LAYERS: &[(&str, &[&str])] = &[
    (
        "platform",
        &["platform", "backoff", "spool", "transport", "pseudonyms"],
    ),
    ("probes", &["probe"]),
    ("domain", &["config", "load", "calendar", "day", "tally"]),
    ("views", &["me"]),
    ("sampling", &["sampler"]),
    ("reports", &["report"]),
    ("people", &["people"]),
    ("state", &["state", "enroll"]),
    ("run", &["run"]),
    ("entry points", &["cli", "service"]),
];
