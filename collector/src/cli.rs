//! The `sobrio-collector` command line.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};

use crate::app::accounts::{self, AccountError};
use crate::app::{devices, now_unix_ms};
use crate::config::{CollectorConfig, ConfigError};
use crate::store::{Store, StoreLocation};

/// Exit code for a bad configuration or bad arguments (EX_USAGE).
const EXIT_USAGE: u8 = 64;

/// Sobrio collector: receives device reports from agents over gRPC with mutual
/// TLS and stores them for IT and HR.
#[derive(Debug, Parser)]
#[command(name = "sobrio-collector", version)]
pub struct Cli {
    #[command(flatten)]
    pub store: StoreArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Where the store is.
#[derive(Debug, Args)]
pub struct StoreArgs {
    /// Data directory: the embedded SQLite database, and `ca.pem` for agents
    /// to pin.
    #[arg(
        long,
        global = true,
        env = "SOBRIO_DATA_DIR",
        default_value = "./sobrio-data"
    )]
    pub data_dir: PathBuf,
    /// Database URL instead of the data directory's SQLite database:
    /// `postgres://user@host/db` (several collectors may share it) or
    /// `sqlite:///path/to/file.db`.
    #[arg(long, global = true, env = "SOBRIO_DATABASE_URL")]
    pub database_url: Option<String>,
}

impl StoreArgs {
    /// Where the store is, for the library.
    #[must_use]
    pub fn location(&self) -> StoreLocation {
        StoreLocation {
            data_dir: self.data_dir.clone(),
            database_url: self.database_url.clone(),
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve agents (gRPC, TLS 1.3 with client certificates) and HTTP.
    Serve(ServeArgs),
    /// Run the collector with a simulated fleet (12 weeks of history) and this
    /// machine's own agent, on the data directory's SQLite; keeps serving until
    /// interrupted. Rerunning reuses the data directory.
    Demo(DemoArgs),
    #[command(flatten)]
    Admin(AdminCommand),
}

/// Configuration files.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Check a collector configuration file: every key and value, and the
    /// files it names (reference data, CA); says what is wrong and exits 64
    /// if anything is.
    Check { file: PathBuf },
}

/// What IT does from the command line on the store, beside a running
/// collector or not.
#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Configuration files.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Copy the embedded database (the CA's key included: keep the copy as
    /// the data directory) to a new FILE, consistently, while the collector
    /// serves; on PostgreSQL, use pg_dump.
    Backup { file: PathBuf },
    /// Put a backup in place of the data directory's database, after
    /// checking it; refused while a collector serves from the directory.
    Restore {
        file: PathBuf,
        /// Replace a database already there (kept beside, renamed).
        #[arg(long)]
        force: bool,
    },
    /// Enrollment tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Enrolled devices.
    #[command(subcommand)]
    Device(DeviceCommand),
    /// The organisation's asset register.
    #[command(subcommand)]
    Assets(AssetsCommand),
    /// Suggestions for IT: pool, reuse, extend, repair, upgrade, storage.
    #[command(subcommand)]
    Suggestions(SuggestionsCommand),
    /// Needs IT records, which reuse suggestions fulfil ("Finance needs 2
    /// laptops with 16 GB").
    #[command(subcommand)]
    Request(RequestCommand),
    /// Dashboard and API accounts.
    #[command(subcommand)]
    User(UserCommand),
    /// The fleet's footprint, what was avoided, ages and the renewals of the
    /// next four quarters.
    Impact {
        /// As JSON (the shape of /api/v1/impact).
        #[arg(long)]
        json: bool,
        /// Configuration file (analysis thresholds, reference data).
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// The CSRD data points Sobrio supports for end-user IT equipment in a
    /// year: ESRS E1-6 (scope 3 category 2 emissions) and E5-4/E5-5
    /// (devices bought; devices retired, by outcome), as CSV with the
    /// method note (or JSON).
    Esrs {
        /// The year (one of the five before this one, or this one).
        #[arg(long)]
        year: i16,
        #[arg(long)]
        json: bool,
        /// Configuration file (analysis thresholds, reference data).
        #[arg(long)]
        config: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum SuggestionsCommand {
    /// List suggestions: open first, then accepted, done, dismissed.
    List {
        /// JSON array of {id, kind, status, departments, devices, rationale,
        /// avoided_kgco2e {value, low, high, source}, avoided_cost_eur}.
        #[arg(long)]
        json: bool,
        /// Only this kind.
        #[arg(long, value_parser = ["pool", "reuse", "extend", "repair", "upgrade", "storage"])]
        kind: Option<String>,
    },
    /// One suggestion and its decisions.
    Show {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Accept an open suggestion.
    Accept { id: String },
    /// Mark an accepted suggestion done: the fleet follows. A reuse moves
    /// its donor to the recipient's department and retires the device it
    /// replaces (say where that one went with --outcome); a pool records
    /// its members.
    Done {
        id: String,
        /// Where the device a reuse replaces went: reused_internally,
        /// donated, sold_refurbished or recycled.
        #[arg(long)]
        outcome: Option<String>,
    },
    /// Dismiss an open or accepted suggestion, with a reason.
    Dismiss {
        id: String,
        #[arg(long)]
        reason: String,
    },
    /// Undo a suggestion marked done (back to accepted), with a reason:
    /// the ledger reverses what it avoided.
    Undo {
        id: String,
        #[arg(long)]
        reason: String,
    },
    /// The ledger of what done suggestions avoided: each entry, by device
    /// and accounting view, with the factors used; reversals included.
    Ledger {
        #[arg(long)]
        json: bool,
    },
    /// Export every suggestion as CSV.
    Export {
        /// CSV on stdout (the only format).
        #[arg(long, required = true)]
        csv: bool,
    },
    /// Recompute now from the rollups (the server does it on its own every
    /// `[analysis] interval_secs`).
    Refresh {
        /// Configuration file (analysis thresholds, working hours).
        #[arg(long)]
        config: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user (or add roles to one); asks for a password, or reads
    /// one line from stdin with --password-stdin.
    ///
    /// A new password for an existing user ends their sessions and revokes
    /// their API tokens; a disabled user given a new password is enabled
    /// again.
    Add {
        /// 1 to 64 letters, digits, . _ - @.
        name: crate::domain::UserName,
        /// admin, it or hr (repeat for several).
        #[arg(long, required = true)]
        role: Vec<crate::domain::Role>,
        #[arg(long)]
        password_stdin: bool,
    },
    /// API bearer tokens.
    #[command(subcommand)]
    Token(UserTokenCommand),
}

#[derive(Debug, Subcommand)]
pub enum UserTokenCommand {
    /// Create an API token for a user; prints only the token.
    Create { name: String },
    /// A user's API tokens: id, created, revoked.
    List {
        name: String,
        #[arg(long)]
        json: bool,
    },
    /// Revoke one API token of a user, by the id `list` shows.
    Revoke { name: String, id: String },
}

#[derive(Debug, Subcommand)]
pub enum RequestCommand {
    /// Record a need; prints its id.
    Add {
        #[arg(long)]
        department: crate::domain::DepartmentName,
        /// laptop, desktop, tablet or thin_client.
        #[arg(long)]
        category: String,
        #[arg(long, default_value_t = 1)]
        quantity: u32,
        /// Least memory, e.g. 16GB.
        #[arg(long, value_parser = parse_size)]
        min_memory: Option<i64>,
        /// Fewest logical cores.
        #[arg(long)]
        min_cores: Option<u32>,
        /// Least storage, e.g. 512GB or 1TB.
        #[arg(long, value_parser = parse_size)]
        min_storage: Option<i64>,
    },
    /// Open requests.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Close a request (fulfilled or withdrawn).
    Close { id: i64 },
}

/// `16GB`, `512 GB`, `1TB`, `8192MB` (binary units, as memory is sold).
fn parse_size(text: &str) -> Result<i64, String> {
    let text = text.trim().to_ascii_uppercase().replace(' ', "");
    let (number, unit) = text
        .find(|c: char| !c.is_ascii_digit())
        .map_or((text.as_str(), "GB"), |i| text.split_at(i));
    let shift = match unit.trim_end_matches("IB").trim_end_matches('B') {
        "M" => 20,
        "G" | "" => 30,
        "T" => 40,
        _ => return Err(format!("unknown unit {unit:?}: use MB, GB or TB")),
    };
    let value: i64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a size such as 16GB"))?;
    if !(1..=1 << 20).contains(&value) {
        return Err(format!("{text:?} is out of range"));
    }
    Ok(value << shift)
}

#[derive(Debug, Subcommand)]
pub enum AssetsCommand {
    /// Import a register CSV (header: serial,hostname,category,purchase_date,
    /// price_eur,department,warranty_end; comma or semicolon; ISO dates). The
    /// register's purchase date wins over the agents' age estimates.
    Import {
        /// The CSV file.
        file: PathBuf,
        /// Report what would change and write nothing.
        #[arg(long)]
        dry_run: bool,
        /// The report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Export devices and register facts as a CSV for GLPI or Snipe-IT.
    Export {
        /// Target inventory tool.
        #[arg(long, value_enum)]
        format: crate::assets::ExportFormat,
    },
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Configuration file (TOML); see the README's configuration reference.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// gRPC address for agents [default: 0.0.0.0:50051].
    #[arg(long)]
    pub grpc_addr: Option<SocketAddr>,
    /// HTTP address for dashboards and health checks [default: 127.0.0.1:8080].
    #[arg(long)]
    pub http_addr: Option<SocketAddr>,
    /// Plaintext gRPC; devices authenticate with a bearer secret. Development
    /// only: never in production.
    #[arg(long)]
    pub insecure_dev: bool,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Fleet file (TOML) describing departments, people and devices; default:
    /// a generated fleet of about 300 devices over 8 departments.
    #[arg(long)]
    pub fleet: Option<PathBuf>,
    /// gRPC address.
    #[arg(long, default_value = "127.0.0.1:50051")]
    pub grpc_addr: SocketAddr,
    /// HTTP address.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub http_addr: SocketAddr,
    /// Do not start this machine's agent beside the simulated fleet.
    #[arg(long)]
    pub no_local_agent: bool,
    /// Seed the fleet, submit its history, print the summary and exit instead
    /// of serving.
    #[arg(long)]
    pub once: bool,
}

impl ServeArgs {
    /// The configuration file's (or the default), with the flags applied,
    /// and the files it names checked.
    ///
    /// # Errors
    /// When the file cannot be read or is invalid, or a file it names
    /// cannot be used.
    pub fn config(&self) -> Result<CollectorConfig, ConfigError> {
        let mut config = match &self.config {
            Some(path) => CollectorConfig::load(path)?,
            None => CollectorConfig::default(),
        };
        if let Some(addr) = self.grpc_addr {
            config.server.grpc_addr = addr;
        }
        if let Some(addr) = self.http_addr {
            config.server.http_addr = addr;
        }
        config.server.insecure_dev |= self.insecure_dev;
        // The addresses as the flags left them.
        config.server = config.server.checked().map_err(|e| e.within("server"))?;
        // What the file names is checked now, not at the first use an hour
        // later.
        config.check_files()?;
        check_https(&config)?;
        Ok(config)
    }
}

impl DemoArgs {
    /// The demo's configuration: the defaults on the flags' addresses.
    #[must_use]
    pub fn config(&self) -> CollectorConfig {
        let mut config = CollectorConfig::default();
        config.server.grpc_addr = self.grpc_addr;
        config.server.http_addr = self.http_addr;
        config
    }

    /// What the demo does beyond seeding.
    #[must_use]
    pub fn options(&self) -> crate::demo::DemoOptions {
        crate::demo::DemoOptions {
            fleet: self.fleet.clone(),
            no_local_agent: self.no_local_agent,
            once: self.once,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create an enrollment token; prints only the token.
    Create {
        /// Department the enrolled devices belong to (1 to 128 characters).
        #[arg(long)]
        department: crate::domain::DepartmentName,
        /// How long the token stays valid (e.g. 30d, 12h).
        #[arg(long, default_value = "30d", value_parser = humantime::parse_duration)]
        expires: Duration,
        /// How many devices may enroll with it [default: unlimited].
        #[arg(long)]
        max_uses: Option<u32>,
    },
}

#[derive(Debug, Subcommand)]
pub enum DeviceCommand {
    /// List devices.
    List {
        /// JSON array of {id, hostname, department, last_seen, reports}.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a device: its next call is refused.
    Revoke {
        /// Device id (see `device list`).
        id: String,
    },
    /// Move a device to another department from today: its hours of use
    /// from today count for the new one (pools), its history keeps the old
    /// one, and its next reports are filed under the new one.
    Move {
        /// Device id (see `device list`).
        id: String,
        /// The department it now belongs to (an existing one).
        #[arg(long)]
        department: String,
    },
    /// A device's departments over time.
    History {
        /// Device id (see `device list`).
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Record that a device was retired, and where it went; it is revoked
    /// and leaves the analysis. Again on the same device: a correction.
    Retire {
        /// Device id (see `device list`).
        id: String,
        /// Day it left the fleet (YYYY-MM-DD).
        #[arg(long = "on")]
        retired_on: String,
        /// reused_internally, donated, sold_refurbished or recycled.
        #[arg(long)]
        outcome: String,
        /// To whom, under which agreement… (kept with the record).
        #[arg(long, default_value = "")]
        note: String,
    },
    /// The disposal report: per year, retired devices by outcome, and the
    /// share of those under 10 years old that went to reuse or
    /// refurbishment, against the target (50 % from 2025; AGEC article 58,
    /// decree 2023-266).
    Disposals {
        #[arg(long)]
        json: bool,
    },
    /// Erase a device and everything it sent (the audit log keeps that it
    /// was erased, by whom and when).
    Forget {
        /// Device id (see `device list`).
        id: String,
    },
    /// Mark a device as shared: how many people's digital load it may
    /// report in a week (the default is `[indicators] people_per_device`).
    Shared {
        /// Device id (see `device list`).
        id: String,
        /// People it may report in a week (1 to 50).
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..=50), conflicts_with = "default")]
        max_people: Option<u32>,
        /// Back to the configured default.
        #[arg(long)]
        default: bool,
    },
}

/// Sets up logging on stderr: `SOBRIO_LOG` (an `EnvFilter`), else
/// `default_filter`; one JSON object a line when `SOBRIO_LOG_FORMAT=json`
/// (for a log pipeline), text otherwise.
pub fn init_tracing(default_filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("SOBRIO_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if std::env::var("SOBRIO_LOG_FORMAT").is_ok_and(|format| format == "json") {
        builder.json().flatten_event(true).init();
    } else {
        builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init();
    }
}

/// Prints `error` with its causes; the exit code: usage (2) for a bad
/// configuration, failure (1) otherwise.
#[must_use]
pub fn report_error(error: &anyhow::Error) -> ExitCode {
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

/// Runs an IT command on the store `store` names.
///
/// # Errors
/// When the store cannot be opened or the command fails; the message says
/// what to do.
pub async fn run(store: &StoreArgs, command: AdminCommand) -> anyhow::Result<()> {
    match command {
        AdminCommand::Backup { file } => {
            let summary = open_store(store)
                .await?
                .backup_to(&file, now_unix_ms())
                .await?;
            println!(
                "{}: {} devices, {} reports, schema version {}{}",
                file.display(),
                summary.devices,
                summary.reports,
                summary.schema_version,
                if summary.certificate_authority {
                    ", the CA included (keep this file as the data directory: it holds the CA's key)"
                } else {
                    ""
                }
            );
            Ok(())
        }
        AdminCommand::Restore { file, force } => {
            if store.database_url.is_some() {
                return Err(crate::store::backup::BackupError::NotEmbedded.into());
            }
            let location = store.location();
            std::fs::create_dir_all(&location.data_dir)?;
            let (summary, kept) =
                crate::store::backup::restore(&file, &location.data_dir, force, now_unix_ms())
                    .await?;
            // Opening it migrates a backup of an earlier version.
            let restored = location.open().await?;
            println!(
                "restored {} into {}: {} devices, {} reports, schema version {} (now {})",
                file.display(),
                location.data_dir.display(),
                summary.devices,
                summary.reports,
                summary.schema_version,
                restored.schema_version().await?
            );
            if let Some(kept) = kept {
                println!("the database it replaced is kept as {}", kept.display());
            }
            Ok(())
        }
        AdminCommand::Config(ConfigCommand::Check { file }) => {
            let config = CollectorConfig::load(&file)?;
            config.check_files()?;
            check_https(&config)?;
            println!("{}: valid", file.display());
            Ok(())
        }
        AdminCommand::Token(TokenCommand::Create {
            department,
            expires,
            max_uses,
        }) => {
            let store = open_store(store).await?;
            let token = crate::app::enrollment::create_token(
                &store,
                department.as_str(),
                expires,
                max_uses.map(i64::from),
                &cli_actor(),
                now_unix_ms(),
            )
            .await?;
            println!("{token}");
            Ok(())
        }
        AdminCommand::Device(DeviceCommand::List { json }) => {
            let store = open_store(store).await?;
            let devices = store.list_devices().await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&devices)?);
            } else {
                println!(
                    "{:<36}  {:<24}  {:<16}  {:<20}  {:>7}",
                    "ID", "HOSTNAME", "DEPARTMENT", "LAST SEEN", "REPORTS"
                );
                for d in devices {
                    let seen = d.last_seen.as_deref().unwrap_or("never");
                    let revoked = if d.revoked.is_some() {
                        "  (revoked)"
                    } else {
                        ""
                    };
                    println!(
                        "{:<36}  {:<24}  {:<16}  {:<20}  {:>7}{revoked}",
                        d.id, d.hostname, d.department, seen, d.reports
                    );
                }
            }
            Ok(())
        }
        AdminCommand::Assets(AssetsCommand::Import {
            file,
            dry_run,
            json,
        }) => {
            let bytes =
                std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
            let store = open_store(store).await?;
            let report = crate::assets::import(&store, &bytes, dry_run).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                let verb = if dry_run { "would be" } else { "were" };
                println!(
                    "{} rows: {} created, {} updated, {} unchanged, {} rejected ({verb} written); \
                     {} match an enrolled device",
                    report.rows,
                    report.created,
                    report.updated,
                    report.unchanged,
                    report.rejected.len(),
                    report.matched_devices
                );
                for rejected in &report.rejected {
                    println!("  line {}: {}", rejected.line, rejected.reason);
                }
            }
            if !dry_run {
                let detail = format!("{} created, {} updated", report.created, report.updated);
                store
                    .audit(
                        now_unix_ms(),
                        &cli_actor(),
                        "assets.import",
                        &file.display().to_string(),
                        &detail,
                    )
                    .await?;
            }
            Ok(())
        }
        AdminCommand::Assets(AssetsCommand::Export { format }) => {
            let store = open_store(store).await?;
            crate::assets::export(&store, format, std::io::stdout().lock()).await?;
            Ok(())
        }
        AdminCommand::Device(DeviceCommand::Forget { id }) => {
            let store = open_store(store).await?;
            devices::forget(&store, &id, &cli_actor(), now_unix_ms())
                .await
                .map_err(device_error)?;
            eprintln!("device {id} and all its data erased");
            Ok(())
        }
        AdminCommand::User(command) => users(store, command).await,
        AdminCommand::Suggestions(command) => suggestions(store, command).await,
        AdminCommand::Request(command) => requests(store, command).await,
        AdminCommand::Esrs { year, json, config } => {
            let config = load_config(config.as_deref())?;
            let store = open_store(store).await?;
            let impact = crate::app::impact::current_impact(&store, &config, now_unix_ms()).await?;
            let disposals = devices::reuse_report(&store).await.map_err(device_error)?;
            let report = crate::analysis::esrs::esrs(&impact, &disposals, year)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
                return Ok(());
            }
            let mut writer = crate::export::CsvWriter::new(std::io::stdout().lock());
            writer.record(["disclosure", "data_point", "value", "low", "high", "unit"])?;
            for row in crate::analysis::esrs::csv_rows(&report) {
                writer.record(row)?;
            }
            writer.record([
                "method",
                &format!("{} Factor set {}.", report.method, report.factor_set),
                "",
                "",
                "",
                "",
            ])?;
            let _stdout = writer.finish()?;
            Ok(())
        }
        AdminCommand::Impact { json, config } => {
            let config = load_config(config.as_deref())?;
            let store = open_store(store).await?;
            let impact = crate::app::impact::current_impact(&store, &config, now_unix_ms()).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&impact)?);
            } else {
                let e = &impact.embodied_kgco2e;
                println!(
                    "{} devices; embodied {:.0} kgCO2e (range {:.0}–{:.0}), {:.0} kgCO2e a year of life",
                    impact.devices, e.value, e.low, e.high, impact.embodied_kgco2e_per_year.value
                );
                let d = &impact.avoided_by_done_kgco2e;
                println!(
                    "avoided by {} done suggestions: {:.0} kgCO2e ({:.0}–{:.0}); by devices kept past their lifetime: {:.0} kgCO2e a year",
                    impact.done_suggestions,
                    d.value,
                    d.low,
                    d.high,
                    impact.avoided_by_extension_kgco2e_per_year.value
                );
                let ages: Vec<String> = impact
                    .age_histogram
                    .iter()
                    .map(|(age, n)| format!("{age}y: {n}"))
                    .collect();
                println!("ages: {}", ages.join(", "));
                println!("past their lifetime now: {}", impact.overdue_devices);
                for q in &impact.renewal_forecast {
                    println!(
                        "renewals due {}: {} devices, {:.0} EUR",
                        q.quarter, q.devices, q.cost_eur
                    );
                }
            }
            Ok(())
        }
        AdminCommand::Device(DeviceCommand::Shared {
            id,
            max_people,
            default,
        }) => {
            if max_people.is_none() && !default {
                bail!(
                    "say how many people the device may report: --max-people N (1 to 50), or --default"
                );
            }
            let store = open_store(store).await?;
            devices::set_people_bound(&store, &id, max_people, &cli_actor(), now_unix_ms())
                .await
                .map_err(device_error)?;
            let bound = max_people.map_or_else(|| "the default".to_owned(), |n| n.to_string());
            eprintln!("device {id} may report {bound} people a week");
            Ok(())
        }
        AdminCommand::Device(DeviceCommand::Move { id, department }) => {
            let store = open_store(store).await?;
            match devices::move_to(&store, &id, &department, &cli_actor(), now_unix_ms())
                .await
                .map_err(device_error)?
            {
                Some(left) => eprintln!("device {id} moved from {left} to {department}"),
                None => eprintln!("device {id} is in {department} already: nothing changed"),
            }
            Ok(())
        }
        AdminCommand::Device(DeviceCommand::History { id, json }) => {
            let store = open_store(store).await?;
            let history = store.department_history(&id).await?;
            if history.is_empty() {
                return Err(device_error(devices::DeviceError::Unknown(id)));
            }
            if json {
                println!("{}", serde_json::to_string_pretty(&history)?);
                return Ok(());
            }
            println!("{:<25} {:<24} {:<20} reason", "from", "department", "by");
            for spell in history {
                println!(
                    "{:<25} {:<24} {:<20} {}",
                    crate::store::rfc3339(spell.from_unix_ms),
                    spell.department,
                    spell.recorded_by,
                    spell.reason
                );
            }
            Ok(())
        }
        AdminCommand::Device(DeviceCommand::Retire {
            id,
            retired_on,
            outcome,
            note,
        }) => {
            let store = open_store(store).await?;
            devices::retire(
                &store,
                &id,
                &retired_on,
                &outcome,
                &note,
                &cli_actor(),
                now_unix_ms(),
            )
            .await
            .map_err(device_error)?;
            eprintln!("device {id} retired on {retired_on} ({outcome}); it is revoked");
            Ok(())
        }
        AdminCommand::Device(DeviceCommand::Disposals { json }) => {
            let store = open_store(store).await?;
            let report = devices::reuse_report(&store).await.map_err(device_error)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
                return Ok(());
            }
            println!(
                "{:<6} {:>8} {:>9} {:>7} {:>8} {:>7} {:>7}  by outcome",
                "year", "retired", "eligible", "reused", "undated", "share", "target"
            );
            for year in &report {
                let percent =
                    |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{:.0}%", v * 100.0));
                let outcomes = year
                    .by_outcome
                    .iter()
                    .map(|(o, n)| format!("{o} {n}"))
                    .collect::<Vec<_>>()
                    .join(", ");
                println!(
                    "{:<6} {:>8} {:>9} {:>7} {:>8} {:>7} {:>7}  {outcomes}{}",
                    year.year,
                    year.retired,
                    year.eligible,
                    year.eligible_reused,
                    year.undated,
                    percent(year.share),
                    percent(year.target),
                    match year.met {
                        Some(true) => " (target met)",
                        Some(false) => " (target missed)",
                        None => "",
                    }
                );
            }
            Ok(())
        }
        AdminCommand::Device(DeviceCommand::Revoke { id }) => {
            let store = open_store(store).await?;
            devices::revoke(&store, &id, &cli_actor(), now_unix_ms())
                .await
                .map_err(device_error)?;
            eprintln!("device {id} revoked: its next call will be refused");
            Ok(())
        }
    }
}

/// Opens the store the arguments name, creating the data directory (0700).
///
/// # Errors
/// When the directory cannot be created or the database opened.
pub async fn open_store(args: &StoreArgs) -> anyhow::Result<Store> {
    args.location().open().await
}

/// A device use case's error, with what to do when the device is unknown.
fn device_error(error: devices::DeviceError) -> anyhow::Error {
    match error {
        devices::DeviceError::Unknown(id) => {
            anyhow::anyhow!("no device with id {id:?}: see `sobrio-collector device list`")
        }
        other => other.into(),
    }
}

/// The HTTPS certificate and key load and match, when configured.
fn check_https(config: &CollectorConfig) -> Result<(), ConfigError> {
    if let (Some(certificate), Some(key)) = (
        &config.server.https_certificate_file,
        &config.server.https_key_file,
    ) {
        crate::https::HttpsCertificate::load(certificate, key).map_err(|error| {
            ConfigError::invalid(
                "server.https_certificate_file",
                certificate.display(),
                &format!("a certificate chain its key matches ({error})"),
            )
        })?;
    }
    Ok(())
}

/// Who acts from the command line: `cli:<os user>`.
fn cli_actor() -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "unknown".into());
    format!("cli:{user}")
}

fn load_config(path: Option<&Path>) -> anyhow::Result<CollectorConfig> {
    match path {
        Some(path) => Ok(CollectorConfig::load(path)?),
        None => Ok(CollectorConfig::default()),
    }
}

async fn suggestions(store_args: &StoreArgs, command: SuggestionsCommand) -> anyhow::Result<()> {
    let store = open_store(store_args).await?;
    match command {
        SuggestionsCommand::List { json, kind } => {
            let list = store.suggestions(kind.as_deref()).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&list)?);
                return Ok(());
            }
            if list.is_empty() {
                eprintln!(
                    "no suggestions (yet): `sobrio-collector suggestions refresh` computes them"
                );
            }
            for s in list {
                println!(
                    "{:<24} {:<8} {:<9} {:>7.1} kgCO2e  {}",
                    s.id,
                    s.kind,
                    s.status,
                    s.avoided_kgco2e.value,
                    s.departments.join(", ")
                );
                println!("    {}", s.rationale);
            }
            Ok(())
        }
        SuggestionsCommand::Show { id, json } => {
            let (s, decisions) = store.suggestion(&id).await?.with_context(|| {
                format!("no suggestion {id}: see `sobrio-collector suggestions list`")
            })?;
            if json {
                let mut value = serde_json::to_value(&s)?;
                value["decisions"] = serde_json::to_value(&decisions)?;
                println!("{}", serde_json::to_string_pretty(&value)?);
            } else {
                println!("{} ({}, {})", s.id, s.kind, s.status);
                println!("{}", s.rationale);
                println!(
                    "avoided: {} kgCO2e (range {}–{}; {}), {}",
                    s.avoided_kgco2e.value,
                    s.avoided_kgco2e.low,
                    s.avoided_kgco2e.high,
                    s.avoided_kgco2e.source,
                    s.avoided_cost_eur
                        .map_or_else(|| "no cost figure".to_owned(), |c| format!("{c:.0} EUR"))
                );
                println!(
                    "departments: {}; devices: {}",
                    s.departments.join(", "),
                    s.devices.join(", ")
                );
                for d in decisions {
                    println!(
                        "  {} {} by {}{}",
                        d.at,
                        d.status,
                        d.actor,
                        if d.reason.is_empty() {
                            String::new()
                        } else {
                            format!(": {}", d.reason)
                        }
                    );
                }
            }
            Ok(())
        }
        SuggestionsCommand::Accept { id } => decide(&store, &id, "accept", "", None).await,
        SuggestionsCommand::Done { id, outcome } => {
            decide(&store, &id, "done", "", outcome.as_deref()).await
        }
        SuggestionsCommand::Dismiss { id, reason } => {
            decide(&store, &id, "dismiss", &reason, None).await
        }
        SuggestionsCommand::Undo { id, reason } => decide(&store, &id, "undo", &reason, None).await,
        SuggestionsCommand::Ledger { json } => {
            let entries = store.avoided_ledger().await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&entries)?);
                return Ok(());
            }
            println!(
                "{:>5}  {:<10} {:<8} {:<20} {:<20} {:>5} {:>10}  factors",
                "entry", "suggestion", "kind", "device", "view", "year", "kgCO2e"
            );
            for e in &entries {
                let reverses = e
                    .reverses
                    .map_or(String::new(), |r| format!(" (reverses {r})"));
                println!(
                    "{:>5}  {:<10} {:<8} {:<20} {:<20} {:>5} {:>10.1}  {}{reverses}",
                    e.id,
                    e.suggestion_id.chars().take(10).collect::<String>(),
                    e.kind,
                    e.device_id.chars().take(20).collect::<String>(),
                    e.view,
                    e.year,
                    e.kgco2e,
                    e.factors
                );
            }
            Ok(())
        }
        SuggestionsCommand::Export { csv: _ } => {
            let list = store.suggestions(None).await?;
            let mut out = std::io::stdout().lock();
            crate::app::suggestions::write_csv(&mut out, &list)?;
            Ok(())
        }
        SuggestionsCommand::Refresh { config, json } => {
            let config = load_config(config.as_deref())?;
            let (outcome, holding) =
                crate::app::suggestions::recompute(&store, &config, now_unix_ms()).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&outcome)?);
            } else {
                println!(
                    "{holding} suggestions hold: {} new, {} updated, {} reopened, {} kept as decided, {} no longer hold",
                    outcome.created,
                    outcome.updated,
                    outcome.reopened,
                    outcome.kept,
                    outcome.removed
                );
            }
            Ok(())
        }
    }
}

async fn decide(
    store: &Store,
    id: &str,
    action: &str,
    reason: &str,
    outcome: Option<&str>,
) -> anyhow::Result<()> {
    let s =
        crate::app::suggestions::decide(store, id, action, reason, &cli_actor(), outcome).await?;
    eprintln!("{} is now {}", s.id, s.status);
    Ok(())
}

async fn requests(store_args: &StoreArgs, command: RequestCommand) -> anyhow::Result<()> {
    let store = open_store(store_args).await?;
    match command {
        RequestCommand::Add {
            department,
            category,
            quantity,
            min_memory,
            min_cores,
            min_storage,
        } => {
            let id = crate::app::requests::add(
                &store,
                crate::app::requests::NewRequest {
                    department: department.into_string(),
                    category,
                    quantity,
                    min_memory_bytes: min_memory,
                    min_logical_cores: min_cores.map(i64::from),
                    min_storage_bytes: min_storage,
                },
                &cli_actor(),
                now_unix_ms(),
            )
            .await?;
            println!("{id}");
            Ok(())
        }
        RequestCommand::List { json } => {
            let list = store.open_requests().await?;
            if json {
                let values: Vec<serde_json::Value> = list
                    .iter()
                    .map(|r| {
                        serde_json::json!({
                            "id": r.id, "department": r.department, "category": r.category,
                            "quantity": r.quantity, "min_memory_bytes": r.min_memory_bytes,
                            "min_logical_cores": r.min_logical_cores,
                            "min_storage_bytes": r.min_storage_bytes,
                        })
                    })
                    .collect();
                println!("{}", serde_json::to_string_pretty(&values)?);
            } else {
                for r in list {
                    println!(
                        "#{} {}: {} × {}{}{}{}",
                        r.id,
                        r.department,
                        r.quantity,
                        r.category,
                        r.min_memory_bytes
                            .map_or(String::new(), |b| format!(", ≥ {} GB memory", b >> 30)),
                        r.min_logical_cores
                            .map_or(String::new(), |c| format!(", ≥ {c} cores")),
                        r.min_storage_bytes
                            .map_or(String::new(), |b| format!(", ≥ {} GB storage", b >> 30)),
                    );
                }
            }
            Ok(())
        }
        RequestCommand::Close { id } => {
            crate::app::requests::close(&store, id, &cli_actor(), now_unix_ms())
                .await
                .map_err(|error| match error {
                    crate::app::requests::RequestError::Unknown(_) => {
                        anyhow::anyhow!(
                            "no open request #{id}: see `sobrio-collector request list`"
                        )
                    }
                    other => other.into(),
                })?;
            eprintln!("request #{id} closed");
            Ok(())
        }
    }
}

async fn users(store_args: &StoreArgs, command: UserCommand) -> anyhow::Result<()> {
    let store = open_store(store_args).await?;
    match command {
        UserCommand::Add {
            name,
            role,
            password_stdin,
        } => {
            let password = if password_stdin {
                let mut line = String::new();
                std::io::stdin().read_line(&mut line)?;
                line.trim_end_matches(['\n', '\r']).to_owned()
            } else if std::io::IsTerminal::is_terminal(&std::io::stdin()) {
                bail!(
                    "give the password on stdin: `sobrio-collector user add {name} --role … --password-stdin`"
                );
            } else {
                String::new()
            };
            let outcome =
                accounts::set_user(&store, &name, &password, &role, &cli_actor(), now_unix_ms())
                    .await?;
            let roles: Vec<&str> = role.iter().map(|r| r.as_str()).collect();
            eprintln!("user {name} has the roles {}", roles.join(", "));
            if outcome.re_enabled {
                eprintln!("user {name} was disabled: enabled again with the new password");
            }
            if !outcome.created {
                eprintln!(
                    "password changed: {} sessions ended, {} API tokens revoked (create new ones with `sobrio-collector user token create {name}`)",
                    outcome.sessions_ended, outcome.tokens_revoked
                );
            }
            Ok(())
        }
        UserCommand::Token(UserTokenCommand::Create { name }) => {
            let token = accounts::create_api_token(&store, &name, &cli_actor(), now_unix_ms())
                .await
                .map_err(|error| match error {
                    AccountError::UnknownUser(_) => anyhow::anyhow!(
                        "no user {name:?}: `sobrio-collector user add {name} --role …` first"
                    ),
                    other => other.into(),
                })?;
            println!("{token}");
            Ok(())
        }
        UserCommand::Token(UserTokenCommand::List { name, json }) => {
            let tokens = store.api_tokens(&name).await?;
            if json {
                let list: Vec<serde_json::Value> = tokens
                    .iter()
                    .map(|(id, created, revoked)| {
                        serde_json::json!({"id": id, "created_unix_ms": created, "revoked_unix_ms": revoked})
                    })
                    .collect();
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else if tokens.is_empty() {
                eprintln!("user {name:?} has no API token");
            } else {
                println!("{:<18} {:<18} REVOKED", "ID", "CREATED");
                for (id, created, revoked) in &tokens {
                    println!(
                        "{id:<18} {:<18} {}",
                        crate::web::when(*created),
                        revoked.map_or_else(|| "-".to_owned(), crate::web::when)
                    );
                }
            }
            Ok(())
        }
        UserCommand::Token(UserTokenCommand::Revoke { name, id }) => {
            accounts::revoke_api_token(&store, &name, &id, &cli_actor(), now_unix_ms())
                .await
                .map_err(|error| match error {
                    AccountError::UnknownApiToken { .. } => anyhow::anyhow!(
                        "user {name:?} has no live API token {id:?}: `sobrio-collector user token list {name}` shows them"
                    ),
                    other => other.into(),
                })?;
            eprintln!("API token {id} of {name} revoked");
            Ok(())
        }
    }
}
