//! Starting the collector: the CA, the gRPC listener (TLS 1.3, or plaintext
//! in development mode), and the HTTP listener.

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

use crate::analysis::impact::Impact;
use crate::cache::Cached;
use crate::config::CollectorConfig;
use crate::enrollment::{EnrollmentService, random_secret};
use crate::ingest::IngestService;
use crate::ingest::writer::{GroupCommit, IngestWriter};
use crate::metrics::{DeviceCounts, Metrics};
use crate::pki::{CertificateAuthority, PkiError};
use crate::store::Backend;
use crate::store::{Store, StoreError};
use crate::transport::{TransportError, incoming, server_tls_config};
use sobrio_proto::pseudonym::PseudonymKey;

/// Name of the CA certificate written to the data directory for agents to pin.
pub const CA_FILE: &str = "ca.pem";
/// Settings key of the seed of the organisation's pseudonym key (hex).
const PSEUDONYM_SEED_SETTING: &str = "pseudonym_seed";

/// What every service shares.
pub struct Shared {
    pub store: Store,
    pub ca: CertificateAuthority,
    pub config: CollectorConfig,
    /// The organisation's pseudonym key (an oblivious PRF's): devices ask
    /// for their people's pseudonyms, it never leaves the collector.
    pub pseudonyms: PseudonymKey,
    pub metrics: Arc<Metrics>,
    /// This process's identity among replicas (lease holder).
    pub replica_id: String,
    /// Failed dashboard sign-ins, per account and address.
    pub login_limiter: crate::web::LoginLimiter,
    /// Refused enrollments, per client address.
    pub enrollment_limiter: crate::limiter::FailureLimiter,
    /// The fleet's impact, computed from every device's facts: kept for
    /// [`CACHE_FRESH`] so that the overview page stays fast on large
    /// fleets; a decision on a suggestion or a recomputation drops it.
    impact_cache: Cached<Impact>,
    /// Suggestions by (kind, status): count and kgCO2e; dropped like the
    /// impact.
    pub suggestion_counts: Cached<Vec<(String, String, i64, f64)>>,
    /// HR's weekly trend of the organisation, by week.
    pub load_trend: Cached<Vec<crate::web::digital_load::TrendPoint>>,
}

/// How long a cached figure is served before it is computed again.
pub const CACHE_FRESH: Duration = Duration::from_secs(10 * 60);

impl Shared {
    /// The fleet's impact now, computed at most every [`CACHE_FRESH`].
    ///
    /// # Errors
    /// When the store or the reference data fail.
    pub async fn impact(&self) -> anyhow::Result<Arc<Impact>> {
        self.impact_cache
            .get("", || {
                crate::analysis::current_impact(
                    &self.store,
                    &self.config,
                    crate::store::now_unix_ms(),
                )
            })
            .await
    }

    /// Drops the cached figures that suggestions feed: they changed.
    pub async fn impact_changed(&self) {
        self.impact_cache.clear().await;
        self.suggestion_counts.clear().await;
    }

    /// Lifetime of device certificates.
    pub fn client_certificate_validity(&self) -> Duration {
        Duration::from_secs(u64::from(self.config.tls.client_certificate_days) * 86_400)
    }
}

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
    pub shared: Arc<Shared>,
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
    let ca = CertificateAuthority::load_or_create(&store, files).await?;
    let ca_path = data_dir.join(CA_FILE);
    std::fs::write(&ca_path, ca.certificate_pem()).map_err(|source| StartError::Write {
        path: ca_path.clone(),
        source,
    })?;

    let seed_hex = store
        .setting_or_insert(PSEUDONYM_SEED_SETTING, &random_secret())
        .await?;
    let pseudonyms = decode_hex(&seed_hex)
        .and_then(|seed| PseudonymKey::from_seed(&seed).ok())
        .ok_or(StartError::PseudonymKey)?;

    let grpc_listener = TcpListener::bind(config.server.grpc_addr)
        .await
        .map_err(|source| StartError::Bind {
            addr: config.server.grpc_addr,
            flag: "grpc-addr",
            source,
        })?;
    let http_listener = TcpListener::bind(config.server.http_addr)
        .await
        .map_err(|source| StartError::Bind {
            addr: config.server.http_addr,
            flag: "http-addr",
            source,
        })?;
    let grpc_addr = grpc_listener
        .local_addr()
        .expect("a bound socket has an address");
    let http_addr = http_listener
        .local_addr()
        .expect("a bound socket has an address");

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
        writers: match (config.ingest.writers, store.backend()) {
            (0, Backend::Sqlite) => 2,
            (0, Backend::Postgres) => 4,
            (writers, _) => writers,
        },
    };
    let metrics = Arc::new(Metrics::default());
    let writer = IngestWriter::start(&store, group_commit, &metrics);
    let replica_id = uuid::Uuid::now_v7().to_string();
    let shared = Arc::new(Shared {
        store,
        ca,
        config,
        pseudonyms,
        metrics,
        replica_id,
        login_limiter: crate::web::LoginLimiter::default(),
        enrollment_limiter: crate::limiter::FailureLimiter::new(crate::enrollment::REFUSALS_WINDOW),
        impact_cache: Cached::new(CACHE_FRESH),
        suggestion_counts: Cached::new(CACHE_FRESH),
        load_trend: Cached::new(CACHE_FRESH),
    });
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
    let metrics_routes: Router<Arc<Shared>> = Router::new()
        .route("/metrics", get(metrics_text))
        .route_layer(axum::middleware::from_fn_with_state(
            metrics_token,
            require_metrics_token,
        ));
    let (metrics_addr, metrics, app) = match shared.config.metrics.addr {
        Some(addr) => {
            let listener = TcpListener::bind(addr)
                .await
                .map_err(|source| StartError::Bind {
                    addr,
                    flag: "config's metrics.addr",
                    source,
                })?;
            let bound = listener
                .local_addr()
                .expect("a bound socket has an address");
            let served = tokio::spawn(crate::http::serve(
                listener,
                metrics_routes.with_state(shared.clone()),
                shared.config.limits.http(),
                shutdown_rx.clone(),
            ));
            tracing::info!(%bound, "/metrics served on its own address");
            (Some(bound), Some(served), Router::new())
        }
        None => (None, None, metrics_routes),
    };
    let app = Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .merge(app)
        .merge(crate::api::routes())
        .merge(crate::web::routes())
        .layer(tower_http::compression::CompressionLayer::new())
        .with_state(shared.clone());
    // Slow and greedy clients are bounded (`crate::http`); pages go out
    // with TCP_NODELAY.
    let http = tokio::spawn(crate::http::serve(
        http_listener,
        app,
        shared.config.limits.http(),
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

async fn wait_for(mut shutdown: watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}

async fn readyz(State(shared): State<Arc<Shared>>) -> (StatusCode, &'static str) {
    match shared.store.ping().await {
        Ok(()) => (StatusCode::OK, "ready\n"),
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
        // Digests compared: the time taken tells nothing of the token.
        let digest = |text: &str| ring::digest::digest(&ring::digest::SHA256, text.as_bytes());
        let same = digest(sent).as_ref() == digest(&token).as_ref();
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
    State(shared): State<Arc<Shared>>,
) -> ([(axum::http::HeaderName, &'static str); 1], String) {
    let devices = match shared
        .store
        .device_status_counts(crate::store::now_unix_ms())
        .await
    {
        Ok((active, silent, revoked)) => Some(DeviceCounts {
            active,
            revoked,
            silent,
        }),
        Err(error) => {
            tracing::warn!(%error, "device counts unavailable for /metrics");
            None
        }
    };
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        shared.metrics.render(devices),
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

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}
