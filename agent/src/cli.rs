//! The `sobrio-agent` command line.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use serde::Serialize;

use crate::config::{AgentConfig, ConfigError};
use crate::report::effective_signals;
use crate::run::Agent;
use crate::state::{StateDir, default_state_dir};

/// Exit code for a bad configuration or bad arguments (EX_USAGE).
const EXIT_USAGE: u8 = 64;

/// Sobrio agent: measures this device's age, health, use and storage, and
/// its users' digital load (meetings, calls, notifications, activity), and
/// reports counts and durations — never file names, paths, contents or
/// titles — to the organisation's Sobrio collector over mutual TLS.
#[derive(Debug, Parser)]
#[command(name = "sobrio-agent", version)]
pub struct Cli {
    /// Configuration file (TOML) [default: /etc/sobrio/agent.toml when it
    /// exists; %ProgramData%\Sobrio\agent.toml on Windows].
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
    /// State directory: key, certificate, enrollment, policy, spool [default:
    /// /var/lib/sobrio-agent as root, the XDG state directory otherwise;
    /// %ProgramData%\Sobrio\state on Windows].
    #[arg(long, global = true)]
    pub state_dir: Option<PathBuf>,
    /// Host root under which hardware facts are read (DMI, /sys, /proc,
    /// os-release); for containers and tests.
    #[arg(long, global = true, default_value = "/")]
    pub root: PathBuf,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Enroll this device with a collector: makes a key that never leaves the
    /// device and receives a client certificate.
    Enroll {
        /// Collector URL, e.g. https://sobrio.example.org:50051.
        #[arg(long)]
        server: String,
        /// Enrollment token from IT (`sobrio-collector token create`).
        #[arg(long, env = "SOBRIO_ENROLL_TOKEN", hide_env_values = true)]
        token: String,
        /// The collector's CA certificate to pin (its `ca.pem`).
        #[arg(long)]
        ca: PathBuf,
        /// Enroll again even if already enrolled (a new device identity).
        #[arg(long)]
        force: bool,
    },
    /// Collect and send reports on the policy's interval until stopped.
    Run {
        /// One cycle, then exit (non-zero if delivery failed).
        #[arg(long)]
        once: bool,
        /// Collector URL to use instead of the one enrolled with (the
        /// collector moved; the CA and certificate stay the same).
        #[arg(long)]
        server: Option<String>,
    },
    /// Collect one report and show it; nothing is sent.
    Collect {
        /// Required: collect exactly once.
        #[arg(long, required = true)]
        once: bool,
        /// Print exactly the report that would be sent, as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show, locally, what could be cleaned: duplicate files and files by
    /// category, with paths. Nothing is sent and nothing is deleted.
    Storage {
        /// As JSON: `duplicates {groups, files, reclaimable_bytes}`,
        /// `categories {temp, cache, trash, stale, mail_archives,
        /// old_downloads}` each `{files, bytes}`, and the largest sets with
        /// their paths.
        #[arg(long)]
        json: bool,
        /// Folders to scan [default: the home folders (all of them as root)
        /// and the temporary folders].
        roots: Vec<PathBuf>,
    },
    /// Show you your own week — meetings, focus time, activity, calls and
    /// notifications — on this device only; nothing is sent. Calendar fields
    /// come from your sources in ~/.config/sobrio/calendar.toml (or
    /// --calendar); the others from what the agent recorded for you.
    Me {
        /// As JSON: one object per day with the fields of a report's
        /// DigitalLoad day (null where there is no data).
        #[arg(long)]
        json: bool,
        /// ISO week, e.g. 2026-W48 [default: this week].
        #[arg(long)]
        week: Option<String>,
        /// Calendar file or https URL, replacing the configured sources
        /// (repeat for several).
        #[arg(long)]
        calendar: Vec<String>,
        /// Whose week (root only) [default: you].
        #[arg(long)]
        user: Option<String>,
    },
    /// Show enrollment and policy.
    Status {
        /// As JSON.
        #[arg(long)]
        json: bool,
    },
    /// Configuration commands.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Run as the Windows service `SobrioAgent` (the service control
    /// manager starts it so; the MSI installs it). On first start it
    /// enrolls with the settings the installer left in
    /// HKLM\SOFTWARE\Sobrio. Logs go to %ProgramData%\Sobrio\agent.log.
    #[cfg(windows)]
    Service,
    /// Watch one user session (run by the agent as the session's user):
    /// counts the notifications of its bus — `ready`, then `UNIX_MS
    /// CATEGORY` per notification, never its text — and lists the
    /// applications recording from a microphone through its sound server
    /// (`capture NAME,…`).
    #[command(hide = true)]
    SessionMonitor {
        /// The session bus address: count its notifications.
        #[arg(long)]
        bus: Option<String>,
        /// Ask the sound server (pactl) who records, every 30 s.
        #[arg(long)]
        capture: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Check a configuration file; says what is wrong, exits 64 if anything is.
    Check {
        /// The file to check.
        file: PathBuf,
    },
}

/// Runs the command line and maps errors to an exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    // `SOBRIO_LOG`: `info`, `warn`, `sobrio_agent=debug,warn`… (targets and
    // levels, without the regular expressions a fuller filter would bring).
    let filter = std::env::var("SOBRIO_LOG")
        .ok()
        .and_then(|spec| spec.parse::<tracing_subscriber::filter::Targets>().ok())
        .unwrap_or_else(|| {
            tracing_subscriber::filter::Targets::new().with_default(tracing::Level::INFO)
        });
    {
        use tracing_subscriber::fmt::writer::BoxMakeWriter;
        use tracing_subscriber::layer::SubscriberExt;
        use tracing_subscriber::util::SubscriberInitExt;
        // A service has no console: it logs to a file beside its state.
        #[cfg(windows)]
        let log_file = matches!(cli.command, Command::Service)
            .then(|| {
                let dir = crate::platform::windows::program_data();
                std::fs::create_dir_all(&dir).ok()?;
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(dir.join("agent.log"))
                    .ok()
            })
            .flatten();
        #[cfg(not(windows))]
        let log_file: Option<std::fs::File> = None;
        let (writer, ansi) = match log_file {
            Some(file) => (BoxMakeWriter::new(std::sync::Mutex::new(file)), false),
            None => (
                BoxMakeWriter::new(std::io::stderr),
                std::io::IsTerminal::is_terminal(&std::io::stderr()),
            ),
        };
        tracing_subscriber::registry()
            .with(
                tracing_subscriber::fmt::layer()
                    .with_writer(writer)
                    .with_ansi(ansi),
            )
            .with(filter)
            .init();
    }
    #[cfg(windows)]
    if matches!(cli.command, Command::Service) {
        return match crate::service::windows::run() {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!(
                    "error: {error}: `sobrio-agent service` is started by the Windows service \
                     control manager (service {}); use `sobrio-agent run` from a console",
                    crate::platform::windows::SERVICE_NAME
                );
                ExitCode::from(EXIT_USAGE)
            }
        };
    }
    let runtime = match agent_runtime() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(run(cli));
    runtime.shutdown_timeout(crate::platform::SHUTDOWN_GRACE);
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error}");
            for cause in error.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            if error
                .chain()
                .any(|e| e.downcast_ref::<ConfigError>().is_some())
            {
                ExitCode::from(EXIT_USAGE)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

fn load_config(path: Option<&PathBuf>) -> Result<AgentConfig, ConfigError> {
    AgentConfig::load_or_default(path.map(PathBuf::as_path))
}

#[derive(Debug, Serialize)]
struct Status {
    enrolled: bool,
    state_dir: String,
    device_id: Option<String>,
    collector: Option<String>,
    department: Option<String>,
    /// RFC 3339.
    certificate_expires: Option<String>,
    policy_version: Option<u64>,
    report_interval_secs: Option<i32>,
    /// Delivery: last success, spool depth, dropped reports, last errors.
    delivery: Option<crate::run::DeliveryStatus>,
}

pub(crate) use crate::platform::runtime as agent_runtime;

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let state = StateDir::new(cli.state_dir.clone().unwrap_or_else(default_state_dir));
    match cli.command {
        Command::Config(ConfigCommand::Check { file }) => {
            AgentConfig::load(&file)?;
            println!("{}: valid", file.display());
            Ok(ExitCode::SUCCESS)
        }
        Command::Enroll {
            server,
            token,
            ca,
            force,
        } => {
            let ca_pem = std::fs::read_to_string(&ca)
                .with_context(|| format!("cannot read the CA certificate {}", ca.display()))?;
            let hostname = crate::probe::inventory::host_name(&cli.root);
            let enrollment =
                crate::enroll::enroll(&state, &server, token.trim(), &ca_pem, &hostname, force)
                    .await?;
            println!(
                "enrolled as {} in department {} with {}",
                enrollment.device_id, enrollment.department, enrollment.server
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Collect { once: _, json } => {
            let config = load_config(cli.config.as_ref())?;
            let policy = state.policy().unwrap_or(None);
            let signals = effective_signals(config.signals, policy.as_ref());
            let mut sampler = crate::sampler::Sampler::new(&cli.root, config.purchase_date()?);
            sampler.set_call_applications(config.calls.applications.clone());
            let mut tally = crate::tally::Tally::new(jiff::tz::TimeZone::system());
            let mut pseudonyms = state.pseudonyms().unwrap_or_default();
            let report = crate::report::collect(
                &mut sampler,
                &mut tally,
                &mut pseudonyms,
                signals,
                policy.as_ref(),
            )
            .await;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                println!("{report:#?}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Me {
            json,
            week,
            calendar,
            user,
        } => {
            let config = load_config(cli.config.as_ref())?;
            me(&cli.root, &state, &config, json, week, &calendar, user).await
        }
        Command::SessionMonitor { bus, capture } => session_monitor(bus, capture).await,
        Command::Storage { json, roots } => {
            let roots = if roots.is_empty() {
                crate::probe::storage::default_roots()
            } else {
                roots
            };
            let context = crate::probe::storage::ScanContext::for_roots(&roots);
            let show_progress = !json && std::io::IsTerminal::is_terminal(&std::io::stderr());
            let started = std::time::Instant::now();
            let result = tokio::task::spawn_blocking(move || {
                crate::probe::storage::scan(
                    &roots,
                    &context,
                    std::time::SystemTime::now(),
                    |files| {
                        if show_progress {
                            eprint!("\rscanning… {files} files");
                        }
                    },
                )
            })
            .await?;
            if show_progress {
                eprintln!(
                    "\rscanned {} files in {:.1} s",
                    result.files_scanned,
                    started.elapsed().as_secs_f64()
                );
            }
            if json {
                println!("{}", serde_json::to_string_pretty(&result)?);
            } else {
                print_storage(&result);
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Status { json } => {
            let enrollment = state.enrollment()?;
            let policy = state.policy().unwrap_or(None);
            let status = Status {
                enrolled: enrollment.is_some(),
                state_dir: state.path().display().to_string(),
                device_id: enrollment.as_ref().map(|e| e.device_id.clone()),
                collector: enrollment.as_ref().map(|e| e.server.clone()),
                department: enrollment.as_ref().map(|e| e.department.clone()),
                certificate_expires: enrollment
                    .as_ref()
                    .map(|e| crate::run::rfc3339(e.certificate_not_after_unix_ms)),
                policy_version: policy.as_ref().map(|p| p.version),
                report_interval_secs: policy.as_ref().map(|p| p.report_interval_secs),
                delivery: crate::run::read_status(&state),
            };
            if json {
                println!("{}", serde_json::to_string_pretty(&status)?);
            } else if let Some(enrollment) = &enrollment {
                println!("enrolled:            yes, as {}", enrollment.device_id);
                println!("collector:           {}", enrollment.server);
                println!("department:          {}", enrollment.department);
                println!(
                    "certificate expires: {}",
                    status.certificate_expires.unwrap_or_default()
                );
                if let Some(delivery) = &status.delivery {
                    println!(
                        "last delivery:       {}",
                        delivery.last_success.as_deref().unwrap_or("never")
                    );
                    println!(
                        "spool:               {} reports, {} bytes",
                        delivery.spool_depth, delivery.spool_bytes
                    );
                    println!(
                        "dropped:             {} (spool full or too old), {} damaged",
                        delivery.dropped, delivery.quarantined
                    );
                    println!(
                        "samples:             {} since start, last at {}",
                        delivery.samples_taken,
                        delivery.last_sample.as_deref().unwrap_or("never")
                    );
                    if let Some(untrusted) = &delivery.collector_untrusted {
                        println!("COLLECTOR UNTRUSTED: {untrusted}");
                    }
                    for error in &delivery.last_errors {
                        println!("error:               {error}");
                    }
                    for (probe, failures) in &delivery.probes {
                        println!(
                            "probe {probe}:{:width$}{} ({} failures, last at {}): {}",
                            "",
                            if failures.failing {
                                "failing"
                            } else {
                                "recovered"
                            },
                            failures.failures,
                            failures.last_at,
                            failures.last_error,
                            width = 14_usize.saturating_sub(probe.len() + 7),
                        );
                    }
                }
                match policy {
                    Some(p) => println!(
                        "policy:              version {}, report every {} s",
                        p.version, p.report_interval_secs
                    ),
                    None => println!("policy:              none yet (defaults apply)"),
                }
            } else {
                println!("enrolled: no (state directory {})", state.path().display());
                println!("enroll with: sobrio-agent enroll --server URL --token TOKEN --ca FILE");
            }
            Ok(ExitCode::SUCCESS)
        }
        #[cfg(windows)]
        Command::Service => unreachable!("handled before the runtime starts"),
        Command::Run { once, server } => {
            let config = load_config(cli.config.as_ref())?;
            let mut agent = Agent::new(state, config, &cli.root, server)?;
            if once {
                agent.collect().await;
                return Ok(match agent.deliver().await {
                    Ok(done) => {
                        tracing::info!(
                            accepted = done.accepted,
                            rejected = done.rejected,
                            "delivered"
                        );
                        ExitCode::SUCCESS
                    }
                    Err(error) => {
                        eprintln!(
                            "error: delivery failed: {error:#} ({} reports stay in the spool)",
                            agent.pending()
                        );
                        ExitCode::FAILURE
                    }
                });
            }
            agent.run(shutdown_signal()).await;
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn human_bytes(bytes: u64) -> String {
    #[allow(clippy::cast_precision_loss)]
    let value = bytes as f64;
    match bytes {
        0..=999 => format!("{bytes} B"),
        1_000..=999_999 => format!("{:.1} kB", value / 1e3),
        1_000_000..=999_999_999 => format!("{:.1} MB", value / 1e6),
        _ => format!("{:.2} GB", value / 1e9),
    }
}

fn print_storage(result: &crate::probe::storage::ScanResult) {
    let d = &result.duplicates;
    println!(
        "Duplicates: {} sets, {} files; keeping one of each frees {}",
        d.groups,
        d.files,
        human_bytes(d.reclaimable_bytes)
    );
    let c = &result.categories;
    for (name, totals) in [
        ("Trash", c.trash),
        ("Caches", c.cache),
        ("Temporary files", c.temp),
        ("Mail archives", c.mail_archives),
        ("Old downloads (> 90 days)", c.old_downloads),
        ("Stale large files (> 100 MB, a year untouched)", c.stale),
    ] {
        println!(
            "{name:<48} {:>8} files {:>12}",
            totals.files,
            human_bytes(totals.bytes)
        );
    }
    if !result.largest_duplicate_groups.is_empty() {
        println!("\nLargest duplicate sets:");
        for group in result.largest_duplicate_groups.iter().take(10) {
            println!(
                "  {} × {}",
                group.paths.len(),
                human_bytes(group.size_bytes)
            );
            for path in &group.paths {
                println!("      {}", path.display());
            }
        }
    }
    if !result.stale_files.is_empty() {
        println!("\nStale large files:");
        for file in result.stale_files.iter().take(10) {
            println!(
                "  {:>10}  {}",
                human_bytes(file.size_bytes),
                file.path.display()
            );
        }
    }
    if result.errors > 0 {
        println!(
            "\n{} entries could not be read (permissions or files that vanished)",
            result.errors
        );
    }
}

async fn shutdown_signal() {
    let terminate = async {
        #[cfg(unix)]
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
        #[cfg(not(unix))]
        std::future::pending::<()>().await;
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = terminate => {}
    }
}

async fn me(
    root: &std::path::Path,
    state: &StateDir,
    config: &AgentConfig,
    json: bool,
    week: Option<String>,
    calendar: &[String],
    user: Option<String>,
) -> anyhow::Result<ExitCode> {
    use crate::probe::accounts;
    let own = accounts::own_uid().and_then(|uid| accounts::by_uid(root, uid));
    let account = match (user, &own) {
        (Some(login), Some(me)) if me.uid != 0 && me.login != login => {
            anyhow::bail!("only root may show another person's week")
        }
        (Some(login), _) => accounts::find(root, &login),
        (None, own) => own.clone(),
    };
    let login = account
        .as_ref()
        .map(|a| a.login.clone())
        .or_else(|| std::env::var("USER").ok())
        .or_else(|| std::env::var("USERNAME").ok())
        .context("cannot tell who you are (no passwd entry, no USER or USERNAME)")?;
    let tz = jiff::tz::TimeZone::system();
    let monday = match week {
        Some(week) => crate::me::week_start(&week)?,
        None => {
            let today = jiff::Zoned::now().with_time_zone(tz.clone()).date();
            today.saturating_sub(
                jiff::Span::new().days(i64::from(today.weekday().to_monday_zero_offset())),
            )
        }
    };
    let people_dir = config
        .people_dir
        .clone()
        .unwrap_or_else(|| crate::me::default_dir(state.path()));
    let (days, notes) = crate::me::week(
        &login,
        account.as_ref().map(|a| a.home.as_path()),
        &people_dir,
        monday,
        calendar,
        &tz,
    )
    .await?;
    for note in &notes {
        eprintln!("note: {note}");
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&days)?);
        return Ok(ExitCode::SUCCESS);
    }
    let cell = |day: &serde_json::Value, field: &str| {
        day.get(field)
            .and_then(serde_json::Value::as_i64)
            .map_or_else(|| "-".to_owned(), |v| v.to_string())
    };
    let hours = |day: &serde_json::Value, field: &str| {
        day.get(field)
            .and_then(serde_json::Value::as_i64)
            .map_or_else(|| "-".to_owned(), |m| format!("{}h{:02}", m / 60, m % 60))
    };
    println!(
        "{:<12} {:>8} {:>5} {:>8} {:>5} {:>8} {:>8} {:>6} {:>6} {:>8}",
        "day",
        "meetings",
        "count",
        "conflict",
        "b2b",
        "late mtg",
        "focus",
        "calls",
        "notif",
        "active"
    );
    for day in &days {
        println!(
            "{:<12} {:>8} {:>5} {:>8} {:>5} {:>8} {:>8} {:>6} {:>6} {:>8}",
            day.get("date")
                .and_then(serde_json::Value::as_str)
                .unwrap_or(""),
            hours(day, "meeting_minutes"),
            cell(day, "meeting_count"),
            hours(day, "conflicting_minutes"),
            cell(day, "back_to_back_count"),
            hours(day, "after_hours_meeting_minutes"),
            hours(day, "focus_minutes"),
            hours(day, "call_minutes"),
            cell(day, "notifications_total"),
            hours(day, "active_minutes"),
        );
    }
    println!(
        "This stays on this device: the collector receives only counts like these, per day, under a pseudonym."
    );
    Ok(ExitCode::SUCCESS)
}

#[cfg(target_os = "linux")]
async fn session_monitor(bus: Option<String>, capture: bool) -> anyhow::Result<ExitCode> {
    use crate::people::{CAPTURE_INTERVAL, MonitorLine};
    use std::io::Write;
    // The agent reads these lines; if it is gone, stop.
    let print = |line: &MonitorLine| {
        let mut out = std::io::stdout().lock();
        writeln!(out, "{}", line.to_line()).and_then(|()| out.flush())
    };
    let captures = async {
        if !capture {
            return std::future::pending::<()>().await;
        }
        loop {
            if let Some(names) = crate::probe::calls::capture_streams().await
                && print(&MonitorLine::Capture(names)).is_err()
            {
                return;
            }
            tokio::time::sleep(CAPTURE_INTERVAL).await;
        }
    };
    let Some(bus) = bus else {
        captures.await;
        return Ok(ExitCode::SUCCESS);
    };
    // Bounded: notifications beyond it are dropped and counted.
    let (tx, mut rx) = tokio::sync::mpsc::channel(1024);
    let watcher = crate::probe::notifications::watch_session_bus(&bus, tx, || {
        let _ = print(&MonitorLine::Ready);
    });
    let printer = async {
        while let Some(notified) = rx.recv().await {
            if print(&MonitorLine::Notified(notified)).is_err() {
                break;
            }
        }
    };
    // The session's bus closing ends the monitor; so does the agent going.
    let watched = tokio::select! {
        (watched, ()) = async { tokio::join!(watcher, printer) } => watched,
        () = captures => Ok(()),
    };
    watched?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(not(target_os = "linux"))]
async fn session_monitor(_bus: Option<String>, _capture: bool) -> anyhow::Result<ExitCode> {
    anyhow::bail!("session monitoring exists on Linux only")
}
