//! The wiring, at the top of the layers: the binary's entry ([`main`]),
//! and start-up ([`start`]): the store's settings, the CA, the gRPC
//! listener (TLS 1.3, or plaintext in development mode) and the HTTP
//! listener, the application's state and each adapter's; `serve` and the
//! demo on top of it.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use sobrio_proto::v1::enrollment_server::EnrollmentServer;
use sobrio_proto::v1::ingest_server::IngestServer;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::app::App;
use crate::config::CollectorConfig;
use crate::enrollment::EnrollmentService;
use crate::ingest::IngestService;
use crate::ingest::writer::{GroupCommit, IngestWriter};
use crate::metrics::{DeviceCounts, Metrics, ScrapeFacts};
use crate::pki::{CertificateAuthority, PkiError};
use crate::secret::random_secret;
use crate::store::{Store, StoreError, StoreLocation};
use crate::transport::{TransportError, incoming, server_tls_config};
use crate::web::WebState;
use sobrio_proto::pseudonym::PseudonymKey;

/// The `sobrio-collector` binary: parses the command line, then serves,
/// runs the demo, or runs an IT command; maps errors to an exit code.
pub fn main() -> std::process::ExitCode {
    use clap::Parser;
    let cli = crate::cli::Cli::parse();
    // The demo prints its own summary; its logs stay to warnings by default.
    crate::cli::init_tracing(if matches!(cli.command, crate::cli::Command::Demo(_)) {
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
            return std::process::ExitCode::FAILURE;
        }
    };
    let location = cli.store.location();
    let result = runtime.block_on(async {
        match cli.command {
            crate::cli::Command::Serve(args) => serve(&location, args.config()?).await,
            crate::cli::Command::Demo(args) => demo(&location, args.config(), args.options()).await,
            crate::cli::Command::Admin(command) => crate::cli::run(&cli.store, command).await,
        }
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => crate::cli::report_error(&error),
    }
}

/// Serves until SIGINT or SIGTERM.
async fn serve(location: &StoreLocation, config: CollectorConfig) -> anyhow::Result<()> {
    let store = location.open().await?;
    // Held while serving: a restoration waits for no collector.
    let _serving = crate::store::backup::hold_serving_lock(&location.data_dir)?;
    let running = start(config, store, &location.data_dir).await?;
    let scheme = if running
        .shared
        .config
        .server
        .https_certificate_file
        .is_some()
    {
        "https"
    } else {
        "http"
    };
    eprintln!(
        "sobrio-collector serving gRPC on {} and HTTP on {scheme}://{}\nagents pin the CA in {}",
        running.grpc_addr,
        running.http_addr,
        running.ca_path.display()
    );
    tokio::select! {
        () = shutdown_signal() => {
            eprintln!("shutting down");
            running.shutdown().await
        }
        error = newer_schema(running.shared.store.clone()) => {
            // A newer replica migrated the database: this one stops rather
            // than write with its older idea of the schema.
            eprintln!("shutting down: {error}");
            running.shutdown().await?;
            Err(error.into())
        }
    }
}

/// Resolves when a newer collector has migrated the database (checked
/// every 30 seconds).
async fn newer_schema(store: Store) -> StoreError {
    loop {
        tokio::time::sleep(Duration::from_secs(30)).await;
        if let Err(error @ StoreError::NewerSchema { .. }) = store.check_schema().await {
            return error;
        }
    }
}

/// Serves with a simulated fleet seeded through gRPC (see [`crate::demo`]).
async fn demo(
    location: &StoreLocation,
    config: CollectorConfig,
    options: crate::demo::DemoOptions,
) -> anyhow::Result<()> {
    let today = jiff::Zoned::now()
        .with_time_zone(jiff::tz::TimeZone::UTC)
        .date();
    let fleet = crate::demo::fleet(&options, today)?;
    let store = location.open().await?;
    let _serving = crate::store::backup::hold_serving_lock(&location.data_dir)?;
    let started_unix_ms = crate::app::now_unix_ms();
    let running = start(config, store, &location.data_dir).await?;
    let serving = crate::demo::Serving {
        app: running.shared.clone(),
        grpc_addr: running.grpc_addr,
        http_addr: running.http_addr,
        ca_path: running.ca_path.clone(),
        data_dir: location.data_dir.clone(),
    };
    let seeded = crate::demo::run(
        &serving,
        &fleet,
        &options,
        started_unix_ms,
        shutdown_signal(),
    )
    .await;
    let stopped = running.shutdown().await;
    seeded.and(stopped)
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

/// Name of the CA certificate written to the data directory for agents to pin.
pub const CA_FILE: &str = "ca.pem";
/// Settings key of the seed of the organisation's pseudonym key (hex).
const PSEUDONYM_SEED_SETTING: &str = "pseudonym_seed";

/// Errors starting the collector.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Pki(#[from] PkiError),
    #[error(transparent)]
    Transport(#[from] TransportError),
    #[error(
        "cannot listen on {addr}: {source} (is another collector running? choose another address with --{flag})"
    )]
    Bind {
        addr: SocketAddr,
        flag: &'static str,
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error("HTTPS (server.https_certificate_file, https_key_file): {0}")]
    Https(#[from] crate::https::HttpsError),
    #[error(
        "the stored pseudonym key seed is corrupt (setting `pseudonym_seed`): restore the \
         database from a backup; a new seed would give everyone new pseudonyms"
    )]
    PseudonymKey,
}

/// A running collector.
pub struct RunningCollector {
    /// Where gRPC listens (the real port when 0 was asked).
    pub grpc_addr: SocketAddr,
    /// Where HTTP listens.
    pub http_addr: SocketAddr,
    /// Where `/metrics` listens when it has its own address.
    pub metrics_addr: Option<SocketAddr>,
    /// Path of the CA certificate agents pin.
    pub ca_path: PathBuf,
    /// The shared state, for in-process use (demo, tests).
    pub shared: Arc<App>,
    shutdown: watch::Sender<bool>,
    grpc: JoinHandle<Result<(), tonic::transport::Error>>,
    http: JoinHandle<std::io::Result<()>>,
    jobs: JoinHandle<()>,
    metrics: Option<JoinHandle<std::io::Result<()>>>,
}

impl RunningCollector {
    /// Stops accepting, lets calls in flight finish, and returns.
    ///
    /// # Errors
    /// When a server failed.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        let _ = self.shutdown.send(true);
        self.grpc.await??;
        self.http.await??;
        if let Some(metrics) = self.metrics {
            metrics.await??;
        }
        self.jobs.await?;
        Ok(())
    }
}

/// Opens the CA and listeners and starts serving.
///
/// # Errors
/// When the CA cannot be loaded or created, an address cannot be bound or
/// `ca.pem` cannot be written.
pub async fn start(
    config: CollectorConfig,
    store: Store,
    data_dir: &Path,
) -> Result<RunningCollector, StartError> {
    let files = config
        .tls
        .ca_certificate_file
        .as_deref()
        .zip(config.tls.ca_key_file.as_deref());
    let ca = CertificateAuthority::load_or_create(&store, files, crate::app::now_unix_ms()).await?;
    let ca_path = data_dir.join(CA_FILE);
    std::fs::write(&ca_path, ca.certificate_pem()).map_err(|source| StartError::Write {
        path: ca_path.clone(),
        source,
    })?;

    let seed_hex = store
        .setting_or_insert(PSEUDONYM_SEED_SETTING, &random_secret())
        .await?;
    let pseudonyms = crate::secret::from_hex(&seed_hex)
        .and_then(|seed| PseudonymKey::from_seed(&seed).ok())
        .ok_or(StartError::PseudonymKey)?;

    let (grpc_listener, grpc_addr) = bind(config.server.grpc_addr, "grpc-addr").await?;
    let (http_listener, http_addr) = bind(config.server.http_addr, "http-addr").await?;

    let tls = if config.server.insecure_dev {
        tracing::warn!(
            "plaintext gRPC (--insecure-dev): for development only, never in production"
        );
        None
    } else {
        let names = server_names(&config.server.names, grpc_addr.ip());
        let (chain, key) = ca.issue_server_certificate(&names)?;
        let tls = server_tls_config(chain, key, ca.certificate_der().clone())?;
        tracing::info!(names = ?names, "server certificate issued");
        Some(Arc::new(tls))
    };

    let limits = config.limits.clone();
    let group_commit = GroupCommit {
        max_reports: config.ingest.max_batch_reports,
        max_wait: Duration::from_millis(config.ingest.max_batch_wait_ms),
        writers: match config.ingest.writers {
            0 => store.dialect().default_ingest_writers,
            writers => writers,
        },
    };
    let metrics = Arc::new(Metrics::default());
    let writer = IngestWriter::start(&store, group_commit, &metrics);
    let replica_id = uuid::Uuid::now_v7().to_string();
    let shared = Arc::new(App::new(store, ca, config, pseudonyms, metrics, replica_id));
    let (shutdown, shutdown_rx) = watch::channel(false);
    let jobs = tokio::spawn(crate::jobs::run(shared.clone(), shutdown_rx.clone()));

    let enrollment = EnrollmentServer::new(EnrollmentService {
        shared: shared.clone(),
    })
    .max_decoding_message_size(64 * 1024);
    let ingest = IngestServer::new(IngestService {
        shared: shared.clone(),
        writer,
    })
    .max_decoding_message_size(limits.max_message_bytes)
    .max_encoding_message_size(limits.max_message_bytes);
    let router = tonic::transport::Server::builder()
        .http2_max_pending_accept_reset_streams(Some(64))
        .max_concurrent_streams(limits.max_concurrent_streams)
        .timeout(Duration::from_secs(60))
        .add_service(enrollment)
        .add_service(ingest);
    let grpc =
        tokio::spawn(router.serve_with_incoming_shutdown(
            incoming(grpc_listener, tls),
            wait_for(shutdown_rx.clone()),
        ));

    let metrics_token: Option<Arc<str>> = shared.config.metrics.token()?.map(Arc::from);
    let web = WebState::new(shared.clone());
    let (metrics_addr, metrics, app) = match shared.config.metrics.addr {
        Some(addr) => {
            let (listener, bound) = bind(addr, "config's metrics.addr").await?;
            let served = tokio::spawn(crate::http::serve(
                listener,
                metrics_routes(metrics_token).with_state(web.clone()),
                shared.config.limits.http(),
                None,
                shutdown_rx.clone(),
            ));
            tracing::info!(%bound, "/metrics served on its own address");
            (Some(bound), Some(served), http_routes(None, web))
        }
        None => (
            None,
            None,
            http_routes(Some(metrics_routes(metrics_token)), web),
        ),
    };
    // HTTPS from the configured files, renewals taken up as they come.
    let https = match shared
        .config
        .server
        .https_certificate_file
        .as_deref()
        .zip(shared.config.server.https_key_file.as_deref())
    {
        Some((certificate, key)) => {
            let https = crate::https::HttpsCertificate::load(certificate, key)?;
            tokio::spawn(
                https
                    .clone()
                    .watch(shared.metrics.clone(), shutdown_rx.clone()),
            );
            tracing::info!(certificate = %certificate.display(), "dashboards and API over HTTPS");
            Some(https.server_config())
        }
        None => None,
    };
    let front = Arc::new(crate::https::Front {
        proxies: shared.config.server.proxies(),
        insecure_dev: shared.config.server.insecure_dev,
    });
    let app = app.layer(axum::middleware::from_fn_with_state(
        front,
        crate::https::front,
    ));
    // Slow and greedy clients are bounded (`crate::http`); pages go out
    // with TCP_NODELAY.
    let http = tokio::spawn(crate::http::serve(
        http_listener,
        app,
        shared.config.limits.http(),
        https,
        shutdown_rx,
    ));

    tracing::info!(%grpc_addr, %http_addr, ca = %ca_path.display(), "collector serving");
    Ok(RunningCollector {
        grpc_addr,
        http_addr,
        metrics_addr,
        metrics,
        ca_path,
        shared,
        shutdown,
        grpc,
        http,
        jobs,
    })
}

/// Listens on `addr`; the address bound (its port when 0 was asked). An
/// error names `flag`, where another address is chosen.
async fn bind(
    addr: SocketAddr,
    flag: &'static str,
) -> Result<(TcpListener, SocketAddr), StartError> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| StartError::Bind { addr, flag, source })?;
    let bound = listener
        .local_addr()
        .expect("a bound socket has an address");
    Ok((listener, bound))
}

/// `/metrics`, behind its token when one is configured.
fn metrics_routes(token: Option<Arc<str>>) -> Router<WebState> {
    Router::new()
        .route("/metrics", get(metrics_text))
        .route_layer(axum::middleware::from_fn_with_state(
            token,
            require_metrics_token,
        ))
}

/// The HTTP side: health and readiness, the JSON API, the pages, and
/// `metrics` when it is served on the same address.
pub fn http_routes(metrics: Option<Router<WebState>>, web: WebState) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .merge(metrics.unwrap_or_default())
        .merge(crate::api::routes())
        .merge(crate::web::routes())
        .layer(tower_http::compression::CompressionLayer::new())
        .with_state(web)
}

async fn wait_for(mut shutdown: watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}

async fn readyz(State(shared): State<Arc<App>>) -> (StatusCode, &'static str) {
    match shared.store.check_schema().await {
        Ok(()) => (StatusCode::OK, "ready\n"),
        Err(error @ StoreError::NewerSchema { .. }) => {
            tracing::error!(%error, "not ready");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "a newer collector migrated the database: upgrade this replica\n",
            )
        }
        Err(error) => {
            tracing::warn!(%error, "not ready: store unreachable");
            (StatusCode::SERVICE_UNAVAILABLE, "store unreachable\n")
        }
    }
}

/// With `[metrics] token_file`, a scrape without the token gets 401.
async fn require_metrics_token(
    State(token): State<Option<Arc<str>>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    if let Some(token) = token {
        let sent = request
            .headers()
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        // Digests compared in constant time: the time taken tells nothing
        // of the token, not even its length.
        let digest = |text: &str| crate::secret::to_hex(crate::secret::sha256(text));
        let same = crate::secret::same_secret(digest(sent), digest(&token));
        if !same {
            return (
                StatusCode::UNAUTHORIZED,
                [(axum::http::header::WWW_AUTHENTICATE, "Bearer")],
                "a metrics token is required (Authorization: Bearer TOKEN)\n",
            )
                .into_response();
        }
    }
    next.run(request).await
}

async fn metrics_text(
    State(shared): State<Arc<App>>,
) -> ([(axum::http::HeaderName, &'static str); 1], String) {
    let devices = match shared
        .store
        .device_status_counts(crate::app::now_unix_ms())
        .await
    {
        Ok((active, silent, revoked, reported_last_day)) => Some(DeviceCounts {
            active,
            revoked,
            silent,
            reported_last_day,
        }),
        Err(error) => {
            tracing::warn!(%error, "device counts unavailable for /metrics");
            None
        }
    };
    (
        [(
            axum::http::header::CONTENT_TYPE,
            crate::metrics::CONTENT_TYPE,
        )],
        shared.metrics.render(ScrapeFacts {
            devices,
            ca_not_after: shared.ca.not_after_unix_secs(),
            last_backup: match shared.store.last_backup_unix_ms().await {
                Ok(at) => at.map(|ms| ms / 1000),
                Err(_) => None,
            },
        }),
    )
}

/// The names the server certificate covers: the configured ones, the host
/// name, `localhost`, the loopback addresses and a specific bind address.
pub fn server_names(configured: &[String], bind_ip: IpAddr) -> Vec<String> {
    let mut names: Vec<String> = configured.to_vec();
    if let Some(host) = host_name() {
        names.push(host);
    }
    names.extend(["localhost", "127.0.0.1", "::1"].map(String::from));
    if !bind_ip.is_unspecified() {
        names.push(bind_ip.to_string());
    }
    let mut seen = std::collections::HashSet::new();
    names.retain(|name| seen.insert(name.to_ascii_lowercase()));
    names
}

fn host_name() -> Option<String> {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .find_map(|path| std::fs::read_to_string(path).ok())
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
}

#[cfg(test)]
mod tests;
