//! The `sobrio-collector` command line.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};

use crate::config::{CollectorConfig, ConfigError};
use crate::store::{Store, now_unix_ms};

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

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve agents (gRPC, TLS 1.3 with client certificates) and HTTP.
    Serve(ServeArgs),
    /// Run the collector with a simulated fleet (12 weeks of history) and this
    /// machine's own agent, on the data directory's SQLite; keeps serving until
    /// interrupted. Rerunning reuses the data directory.
    Demo(DemoArgs),
    /// Enrollment tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Enrolled devices.
    #[command(subcommand)]
    Device(DeviceCommand),
    /// The organisation's asset register.
    #[command(subcommand)]
    Assets(AssetsCommand),
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

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create an enrollment token; prints only the token.
    Create {
        /// Department the enrolled devices belong to.
        #[arg(long)]
        department: String,
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
    /// Erase a device and everything it sent (the audit log keeps that it
    /// was erased, by whom and when).
    Forget {
        /// Device id (see `device list`).
        id: String,
    },
}

/// Runs the command line and maps errors to an exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    // The demo prints its own summary; its logs stay to warnings by default.
    init_tracing(if matches!(cli.command, Command::Demo(_)) {
        "warn"
    } else {
        "info"
    });
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
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

fn init_tracing(default_filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("SOBRIO_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => serve(&cli.store, args).await,
        Command::Demo(args) => crate::demo::run(&cli.store, args).await,
        Command::Token(TokenCommand::Create {
            department,
            expires,
            max_uses,
        }) => {
            let department = department.trim();
            if department.is_empty() || department.len() > 128 {
                bail!("invalid department {department:?}: expected 1 to 128 characters");
            }
            let store = open_store(&cli.store).await?;
            let token = crate::enrollment::create_token(
                &store,
                department,
                expires,
                max_uses.map(i64::from),
            )
            .await?;
            println!("{token}");
            Ok(())
        }
        Command::Device(DeviceCommand::List { json }) => {
            let store = open_store(&cli.store).await?;
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
        Command::Assets(AssetsCommand::Import {
            file,
            dry_run,
            json,
        }) => {
            let bytes =
                std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
            let store = open_store(&cli.store).await?;
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
                        &cli_actor(),
                        "assets.import",
                        &file.display().to_string(),
                        &detail,
                    )
                    .await?;
            }
            Ok(())
        }
        Command::Assets(AssetsCommand::Export { format }) => {
            let store = open_store(&cli.store).await?;
            crate::assets::export(&store, format, std::io::stdout().lock()).await?;
            Ok(())
        }
        Command::Device(DeviceCommand::Forget { id }) => {
            let store = open_store(&cli.store).await?;
            if !store.forget_device(&id, &cli_actor()).await? {
                bail!("no device with id {id:?}: see `sobrio-collector device list`");
            }
            eprintln!("device {id} and all its data erased");
            Ok(())
        }
        Command::Device(DeviceCommand::Revoke { id }) => {
            let store = open_store(&cli.store).await?;
            if !store.revoke_device(&id, now_unix_ms()).await? {
                bail!("no device with id {id:?}: see `sobrio-collector device list`");
            }
            store.audit(&cli_actor(), "device.revoke", &id, "").await?;
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
    create_data_dir(&args.data_dir)?;
    match &args.database_url {
        Some(url) => Store::connect(url)
            .await
            .with_context(|| format!("cannot open database {}", redact_url(url))),
        None => Store::open_data_dir(&args.data_dir)
            .await
            .with_context(|| format!("cannot open the database in {}", args.data_dir.display())),
    }
}

/// A database URL without its password, for messages.
fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let credentials = &url[scheme + 3..at];
            let user = credentials.split(':').next().unwrap_or_default();
            format!("{}{user}:***{}", &url[..scheme + 3], &url[at..])
        }
        _ => url.to_owned(),
    }
}

/// Who acts from the command line: `cli:<os user>`.
fn cli_actor() -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "unknown".into());
    format!("cli:{user}")
}

fn create_data_dir(dir: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("cannot create data directory {}", dir.display()))
}

async fn serve(store_args: &StoreArgs, args: ServeArgs) -> anyhow::Result<()> {
    let mut config = match &args.config {
        Some(path) => CollectorConfig::load(path)?,
        None => CollectorConfig::default(),
    };
    if let Some(addr) = args.grpc_addr {
        config.server.grpc_addr = addr;
    }
    if let Some(addr) = args.http_addr {
        config.server.http_addr = addr;
    }
    config.server.insecure_dev |= args.insecure_dev;
    let store = open_store(store_args).await?;
    let running = crate::server::start(config, store, &store_args.data_dir).await?;
    eprintln!(
        "sobrio-collector serving gRPC on {} and HTTP on http://{}\nagents pin the CA in {}",
        running.grpc_addr,
        running.http_addr,
        running.ca_path.display()
    );
    shutdown_signal().await;
    eprintln!("shutting down");
    running.shutdown().await
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = terminate => {}
    }
}
