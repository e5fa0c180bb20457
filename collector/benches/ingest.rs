//! Ingest load benchmark: the project's own load generator over real gRPC
//! with mutual TLS, against the collector on SQLite (and on PostgreSQL when
//! `TEST_DATABASE_URL` is set), beside a bare tonic echo server driven the
//! same way in the same run. The ratio to the echo server is the figure.
//!
//! `cargo bench -p sobrio-collector --bench ingest` (set `SOBRIO_BENCH_QUICK=1`
//! for a seconds-long smoke run that checks the code, not the speed).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sobrio_collector::config::CollectorConfig;
use sobrio_collector::demo::client;
use sobrio_collector::pki::CertificateAuthority;
use sobrio_collector::server::{RunningCollector, start};
use sobrio_collector::store::Store;
use sobrio_proto::Message;
use sobrio_proto::v1::ingest_server::{Ingest, IngestServer};
use sobrio_proto::v1::{
    AgentHealth, CategoryTotals, DuplicateTotals, EnrollRequest, GetPolicyRequest, Policy,
    ReclaimableStorage, Report, Storage, SubmitRequest, SubmitResponse, Usage, UsageHour, Volume,
};
use tonic::{Request, Response, Status};

const AGENTS: usize = 64;

/// A bare Ingest server: answers every Submit at once, storing nothing.
struct Echo;

#[tonic::async_trait]
impl Ingest for Echo {
    async fn submit(
        &self,
        request: Request<SubmitRequest>,
    ) -> Result<Response<SubmitResponse>, Status> {
        let count = request.into_inner().reports.len();
        Ok(Response::new(SubmitResponse {
            accepted: vec![String::new(); count],
            rejected: Vec::new(),
            policy_version: 1,
        }))
    }

    async fn get_policy(&self, _: Request<GetPolicyRequest>) -> Result<Response<Policy>, Status> {
        Ok(Response::new(Policy::default()))
    }

    async fn evaluate_pseudonyms(
        &self,
        _: Request<sobrio_proto::v1::EvaluatePseudonymsRequest>,
    ) -> Result<Response<sobrio_proto::v1::EvaluatePseudonymsResponse>, Status> {
        Err(Status::unimplemented("the echo server only answers Submit"))
    }
}

/// Starts the echo server with the same TLS set-up as the collector.
async fn start_echo(ca: &CertificateAuthority) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (chain, key) = ca.issue_server_certificate(&["127.0.0.1".into()]).unwrap();
    let tls =
        sobrio_collector::transport::server_tls_config(chain, key, ca.certificate_der().clone())
            .unwrap();
    let incoming = sobrio_collector::transport::incoming(listener, Some(Arc::new(tls)));
    tokio::spawn(
        tonic::transport::Server::builder()
            .max_concurrent_streams(64)
            .add_service(IngestServer::new(Echo))
            .serve_with_incoming(incoming),
    );
    addr
}

/// A report of about 1 KB: a day of hourly use, a storage snapshot and the
/// agent's health.
fn report(now_ms: i64) -> Vec<u8> {
    let hour = now_ms - now_ms % 3_600_000;
    Report {
        report_id: uuid::Uuid::now_v7().to_string(),
        collected_unix_ms: now_ms,
        agent_version: "0.1.0".into(),
        policy_version: 1,
        usage: Some(Usage {
            hours: (1..=24)
                .map(|h| UsageHour {
                    hour_start_unix_ms: hour - h * 3_600_000,
                    powered_minutes: 60,
                    active_minutes: Some(i32::try_from(h * 7 % 60).unwrap()),
                    cpu_p95_percent: Some(37.5),
                    memory_p95_percent: Some(61.25),
                    disk_fill_percent: Some(48.0),
                    activity_source: 1,
                })
                .collect(),
        }),
        storage: Some(Storage {
            volumes: vec![Volume {
                mount_point: "/".into(),
                filesystem: "ext4".into(),
                total_bytes: 512_000_000_000,
                used_bytes: 201_000_000_000,
                removable: false,
            }],
            reclaimable: Some(ReclaimableStorage {
                scanned_unix_ms: now_ms - 60_000,
                duplicates: Some(DuplicateTotals {
                    groups: 120,
                    files: 310,
                    reclaimable_bytes: 2_400_000_000,
                }),
                temp: Some(CategoryTotals {
                    files: 1200,
                    bytes: 340_000_000,
                }),
                cache: Some(CategoryTotals {
                    files: 9800,
                    bytes: 2_100_000_000,
                }),
                trash: Some(CategoryTotals {
                    files: 45,
                    bytes: 120_000_000,
                }),
                stale: Some(CategoryTotals {
                    files: 3,
                    bytes: 4_500_000_000,
                }),
                mail_archives: Some(CategoryTotals {
                    files: 1,
                    bytes: 3_000_000_000,
                }),
                old_downloads: Some(CategoryTotals {
                    files: 85,
                    bytes: 900_000_000,
                }),
            }),
        }),
        agent_health: Some(AgentHealth {
            spool_depth: Some(0),
            spool_bytes: Some(0),
            reports_dropped: Some(0),
            rss_bytes: Some(7_340_032),
            cpu_time_ms: Some(1234),
            uptime_secs: Some(86_400),
        }),
        ..Default::default()
    }
    .encode_to_vec()
}

/// Identities of `AGENTS` devices enrolled with `collector`.
async fn enroll(collector: &RunningCollector, ca_pem: &str) -> Vec<(String, String)> {
    let token = sobrio_collector::app::enrollment::create_token(
        &collector.shared.store,
        "Bench",
        Duration::from_secs(600),
        None,
        "bench",
        sobrio_collector::app::now_unix_ms(),
    )
    .await
    .unwrap();
    let channel = client::connect(collector.grpc_addr, ca_pem, None)
        .await
        .unwrap();
    let (mut enrollment, _) = client::clients(channel);
    let mut identities = Vec::new();
    for i in 0..AGENTS {
        let key = rcgen::KeyPair::generate().unwrap();
        let csr = rcgen::CertificateParams::default()
            .serialize_request(&key)
            .unwrap()
            .pem()
            .unwrap();
        let response = enrollment
            .enroll(EnrollRequest {
                token: token.clone(),
                csr_pem: csr,
                hostname: format!("bench-{i}"),
                agent_version: "bench".into(),
            })
            .await
            .unwrap()
            .into_inner();
        identities.push((response.certificate_pem, key.serialize_pem()));
    }
    identities
}

/// A collector under test: name, gRPC address, CA, enrolled identities.
type Target = (String, SocketAddr, String, Vec<(String, String)>);

/// Figures of one run.
struct Figures {
    reports_per_sec: f64,
    p50_ms: f64,
    p99_ms: f64,
}

/// `AGENTS` concurrent agents, each on its own mTLS connection, submitting
/// `batch` reports per call for `duration`.
async fn drive(
    addr: SocketAddr,
    ca_pem: &str,
    identities: &[(String, String)],
    batch: usize,
    duration: Duration,
) -> Figures {
    let mut clients = Vec::new();
    for (certificate, key) in identities {
        let channel = client::connect(addr, ca_pem, Some((certificate, key)))
            .await
            .unwrap();
        clients.push(client::clients(channel).1);
    }
    let deadline = Instant::now() + duration;
    let started = Instant::now();
    let tasks: Vec<_> = clients
        .into_iter()
        .map(|mut ingest| {
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut reports = 0_usize;
                while Instant::now() < deadline {
                    let now_ms = i64::try_from(
                        std::time::SystemTime::now()
                            .duration_since(std::time::UNIX_EPOCH)
                            .unwrap()
                            .as_millis(),
                    )
                    .unwrap();
                    let payload: Vec<Vec<u8>> = (0..batch).map(|_| report(now_ms)).collect();
                    let sent = Instant::now();
                    let response = ingest
                        .submit(SubmitRequest { reports: payload })
                        .await
                        .unwrap()
                        .into_inner();
                    latencies.push(sent.elapsed());
                    assert_eq!(response.accepted.len(), batch, "every report acknowledged");
                    reports += batch;
                }
                (reports, latencies)
            })
        })
        .collect();
    let mut reports = 0;
    let mut latencies = Vec::new();
    for task in tasks {
        let (r, l) = task.await.unwrap();
        reports += r;
        latencies.extend(l);
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort();
    let at = |q: f64| {
        let index = ((latencies.len() as f64 * q).ceil() as usize).clamp(1, latencies.len()) - 1;
        latencies[index].as_secs_f64() * 1000.0
    };
    Figures {
        reports_per_sec: reports as f64 / elapsed,
        p50_ms: at(0.50),
        p99_ms: at(0.99),
    }
}

async fn start_collector(store: Store, data_dir: &std::path::Path) -> RunningCollector {
    let mut config = CollectorConfig::default();
    config.server.grpc_addr = "127.0.0.1:0".parse().unwrap();
    config.server.http_addr = "127.0.0.1:0".parse().unwrap();
    start(config, store, data_dir).await.unwrap()
}

/// Transactions, reports in them and seconds spent, from `/metrics`.
async fn batch_metrics(http: SocketAddr) -> (f64, f64, f64) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(http).await.unwrap();
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).await.unwrap();
    let value = |name: &str| {
        text.lines()
            .find_map(|line| {
                line.strip_prefix(name)?
                    .strip_prefix(' ')?
                    .parse::<f64>()
                    .ok()
            })
            .unwrap_or(0.0)
    };
    (
        value("sobrio_ingest_batch_reports_count"),
        value("sobrio_ingest_batch_reports_sum"),
        value("sobrio_ingest_batch_seconds_total"),
    )
}

/// The run with the median rate among several, and the rates' spread.
struct Runs {
    median: Figures,
    spread: f64,
}

impl Runs {
    fn rate(&self) -> String {
        format!("{:.0} ±{:.0}", self.median.reports_per_sec, self.spread)
    }
}

async fn median_of<F: Future<Output = Figures>>(runs: usize, mut run: impl FnMut() -> F) -> Runs {
    let mut all = Vec::with_capacity(runs);
    for _ in 0..runs {
        all.push(run().await);
    }
    all.sort_by(|a, b| a.reports_per_sec.total_cmp(&b.reports_per_sec));
    let spread = all.last().unwrap().reports_per_sec - all[0].reports_per_sec;
    Runs {
        median: all.swap_remove(all.len() / 2),
        spread,
    }
}

fn main() {
    let quick = std::env::var("SOBRIO_BENCH_QUICK").is_ok_and(|v| v == "1");
    let runs = if quick { 1 } else { 3 };
    let duration = if quick {
        Duration::from_millis(500)
    } else {
        Duration::from_secs(5)
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let dir = tempfile::tempdir().unwrap();
        println!("ingest benchmark: {AGENTS} concurrent agents over gRPC + mTLS (TLS 1.3), {runs} run(s) of {} s each (median ± spread), 2 worker threads", duration.as_secs_f64());
        println!("report size: {} bytes encoded", report(1_790_000_000_000).len());
        println!();
        println!("{:<34} {:>6} {:>16} {:>9} {:>9} {:>10}", "target", "batch", "reports/s", "p50 ms", "p99 ms", "vs echo");

        let sqlite_dir = dir.path().join("sqlite");
        std::fs::create_dir_all(&sqlite_dir).unwrap();
        let sqlite = start_collector(Store::open_data_dir(&sqlite_dir).await.unwrap(), &sqlite_dir).await;
        let ca_pem = sqlite.shared.ca.certificate_pem().to_owned();
        let echo = start_echo(&sqlite.shared.ca).await;
        let identities = enroll(&sqlite, &ca_pem).await;

        let mut targets: Vec<Target> = vec![
            ("collector, SQLite".into(), sqlite.grpc_addr, ca_pem.clone(), identities.clone()),
        ];
        let postgres = match std::env::var("TEST_DATABASE_URL") {
            Ok(base) => {
                let schema = format!("sobrio_bench_{}", uuid::Uuid::now_v7().simple());
                sqlx::any::install_default_drivers();
                let admin = sqlx::AnyPool::connect(&base).await.unwrap();
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}"))).execute(&admin).await.unwrap();
                let separator = if base.contains('?') { '&' } else { '?' };
                let store = Store::connect(&format!("{base}{separator}options[search_path]={schema}")).await.unwrap();
                let pg_dir = dir.path().join("postgres");
                std::fs::create_dir_all(&pg_dir).unwrap();
                let collector = start_collector(store, &pg_dir).await;
                let pg_ca = collector.shared.ca.certificate_pem().to_owned();
                let pg_identities = enroll(&collector, &pg_ca).await;
                targets.push(("collector, PostgreSQL".into(), collector.grpc_addr, pg_ca, pg_identities));
                Some((collector, admin, schema))
            }
            Err(_) => {
                println!("(PostgreSQL skipped: TEST_DATABASE_URL is not set)");
                None
            }
        };

        let collector_http: Vec<SocketAddr> = std::iter::once(sqlite.http_addr)
            .chain(postgres.as_ref().map(|(c, _, _)| c.http_addr))
            .collect();
        for batch in [1, 10] {
            let echo_figures = median_of(runs, || drive(echo, &ca_pem, &identities, batch, duration)).await;
            println!("{:<34} {:>6} {:>16} {:>9.2} {:>9.2} {:>10}", "bare tonic echo (same TLS)", batch, echo_figures.rate(), echo_figures.median.p50_ms, echo_figures.median.p99_ms, "1.00");
            for (name, addr, ca, ids) in &targets {
                let figures = median_of(runs, || drive(*addr, ca, ids, batch, duration)).await;
                println!(
                    "{:<34} {:>6} {:>16} {:>9.2} {:>9.2} {:>10.2}",
                    name, batch, figures.rate(), figures.median.p50_ms, figures.median.p99_ms,
                    figures.median.reports_per_sec / echo_figures.median.reports_per_sec
                );
            }
        }
        println!();
        for (name, addr) in targets.iter().map(|t| &t.0).zip(&collector_http) {
            let (batches, reports, seconds) = batch_metrics(*addr).await;
            println!("{name}: {batches} transactions, {:.1} reports each, {:.2} ms each on average", reports / batches.max(1.0), seconds * 1000.0 / batches.max(1.0));
        }
        println!();
        println!("budget (BENCHMARKS.md): SQLite, 1 report per call: >= 0.5x echo; batches of 10: >= 20000 reports/s");
        if let Some((collector, admin, schema)) = postgres {
            collector.shutdown().await.unwrap();
            sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE"))).execute(&admin).await.unwrap();
        }
        sqlite.shutdown().await.unwrap();
    });
}
