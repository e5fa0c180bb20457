//! # sobrio-tests
//!
//! A small harness for end-to-end tests across Sobrio's processes: a real
//! collector (in-process on `127.0.0.1:0`, or the binary), real agents (the
//! binary, or the agent library for hand-made reports), and helpers that make
//! the tests read like prose.
//!
//! The binaries must be built first (`cargo build --workspace --bins`, which
//! the README's test command does): tests find them next to their own
//! executable's directory.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use sobrio_agent::transport::{CollectorClient, CollectorEndpoint};
use sobrio_collector::config::CollectorConfig;
use sobrio_collector::server::{RunningCollector, start};
use sobrio_collector::store::Store;
use tempfile::TempDir;

#[cfg(target_os = "linux")]
pub mod dbus;
pub mod layers;
pub mod load;
pub mod paused;

/// Path of a workspace binary (`sobrio-agent`, `sobrio-collector`).
///
/// # Panics
/// When the binary is not built, with the command that builds it.
pub fn binary(name: &str) -> PathBuf {
    // Test executables live in target/<profile>/deps; binaries one level up.
    let exe = std::env::current_exe().expect("test executable path");
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target directory");
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is not built: run `cargo build --workspace --bins` first (the README's test command does)",
        path.display()
    );
    path
}

/// Whether every external part is required (CI sets `SOBRIO_REQUIRE_ALL=1`).
pub fn require_all() -> bool {
    std::env::var("SOBRIO_REQUIRE_ALL").is_ok_and(|value| value == "1")
}

/// Reports a missing external part: skips the test with a message naming it,
/// or fails it when every part is required.
///
/// # Panics
/// When `SOBRIO_REQUIRE_ALL=1`.
pub fn missing(part: &str) {
    assert!(
        !require_all(),
        "{part} is required (SOBRIO_REQUIRE_ALL=1) but not available"
    );
    eprintln!("skipping: {part} is not available");
}

/// A PostgreSQL schema of its own for one test, in the database
/// `TEST_DATABASE_URL` names; dropped by [`TestDatabase::drop`].
pub struct TestDatabase {
    /// URL whose connections use the test's schema.
    pub url: String,
    admin: sqlx::AnyPool,
    schema: String,
}

impl TestDatabase {
    /// Creates a fresh schema, or returns `None` (after [`missing`]) when
    /// `TEST_DATABASE_URL` is not set.
    ///
    /// # Panics
    /// When the database cannot be reached.
    pub async fn create() -> Option<Self> {
        let Ok(base) = std::env::var("TEST_DATABASE_URL") else {
            missing("PostgreSQL (set TEST_DATABASE_URL=postgres://…)");
            return None;
        };
        sqlx::any::install_default_drivers();
        let admin = sqlx::any::AnyPoolOptions::new()
            .max_connections(2)
            .connect(&base)
            .await
            .unwrap_or_else(|e| panic!("cannot connect to TEST_DATABASE_URL: {e}"));
        let schema = format!("sobrio_test_{}", uuid::Uuid::now_v7().simple());
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
            .execute(&admin)
            .await
            .unwrap();
        let separator = if base.contains('?') { '&' } else { '?' };
        let url = format!("{base}{separator}options[search_path]={schema}");
        Some(Self { url, admin, schema })
    }

    /// A store on the test's schema.
    pub async fn store(&self) -> Store {
        Store::connect(&self.url).await.unwrap()
    }

    /// Drops the schema and everything in it.
    pub async fn drop(self) {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP SCHEMA {} CASCADE",
            self.schema
        )))
        .execute(&self.admin)
        .await
        .unwrap();
    }
}

/// A `sobrio-collector serve` process on loopback ports, killed when dropped.
pub struct CollectorProcess {
    child: std::process::Child,
    /// `127.0.0.1:PORT` of its gRPC listener.
    pub grpc_addr: String,
    /// `127.0.0.1:PORT` of its HTTP listener.
    pub http_addr: String,
    /// Everything it wrote to stderr.
    log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl CollectorProcess {
    /// Starts `sobrio-collector --data-dir DATA [EXTRA…] serve` and waits for
    /// it to announce its addresses.
    ///
    /// # Panics
    /// When it exits before serving.
    pub fn serve(data_dir: &str, extra: &[&str]) -> Self {
        Self::serve_at(data_dir, extra, "127.0.0.1:0")
    }

    /// As [`CollectorProcess::serve`], with gRPC on `grpc_addr` (to restart
    /// a collector where its agents expect it).
    ///
    /// # Panics
    /// When it exits before serving.
    pub fn serve_at(data_dir: &str, extra: &[&str], grpc_addr: &str) -> Self {
        Self::start(data_dir, extra, grpc_addr, "warn", &[])
    }

    /// As [`CollectorProcess::serve`], logging with the `SOBRIO_LOG` filter
    /// `log_filter`; [`CollectorProcess::log`] returns what it wrote.
    ///
    /// # Panics
    /// When it exits before serving.
    pub fn serve_logged(data_dir: &str, extra: &[&str], log_filter: &str) -> Self {
        Self::start(data_dir, extra, "127.0.0.1:0", log_filter, &[])
    }

    /// As [`CollectorProcess::serve_logged`] at `info`, with environment
    /// variables `env` set.
    ///
    /// # Panics
    /// When it exits before serving.
    pub fn serve_with_env(data_dir: &str, env: &[(&str, &str)]) -> Self {
        Self::start(data_dir, &[], "127.0.0.1:0", "info", env)
    }

    /// As [`CollectorProcess::serve`], with `serve --config CONFIG`.
    ///
    /// # Panics
    /// When it exits before serving.
    pub fn serve_with_config(data_dir: &str, config: &str) -> Self {
        Self::start(data_dir, &[], "127.0.0.1:0", "warn", &[("", config)])
    }

    /// The process id.
    #[must_use]
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits up to `deadline` for the process to exit by itself: its exit
    /// code (`-1` for a signal), or `None` if it still runs.
    ///
    /// # Panics
    /// When the process cannot be waited for.
    pub fn wait_for_exit(&mut self, deadline: Duration) -> Option<i32> {
        let until = std::time::Instant::now() + deadline;
        while std::time::Instant::now() < until {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status.code().unwrap_or(-1));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        None
    }

    /// What the collector has written to stderr so far.
    ///
    /// # Panics
    /// When a thread holding the log panicked.
    #[must_use]
    pub fn log(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    /// `env`: variables of the process; an entry with an empty name gives
    /// `serve --config` its file.
    fn start(
        data_dir: &str,
        extra: &[&str],
        grpc_addr: &str,
        log_filter: &str,
        env: &[(&str, &str)],
    ) -> Self {
        use std::io::{BufRead, BufReader};
        let mut child = Command::new(binary("sobrio-collector"))
            .args(["--data-dir", data_dir])
            .args(extra)
            .args([
                "serve",
                "--grpc-addr",
                grpc_addr,
                "--http-addr",
                "127.0.0.1:0",
            ])
            // An unnamed entry is the configuration file, not a variable.
            .args(
                env.iter()
                    .filter(|(name, _)| name.is_empty())
                    .flat_map(|(_, config)| ["--config", config]),
            )
            .env("SOBRIO_LOG", log_filter)
            .envs(env.iter().copied().filter(|(name, _)| !name.is_empty()))
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let mut seen = Vec::new();
        let mut addresses = None;
        for line in lines.by_ref() {
            let line = line.unwrap();
            if let Some(rest) = line.strip_prefix("sobrio-collector serving gRPC on ") {
                let mut words = rest.split_whitespace();
                let grpc = words.next().map(str::to_owned);
                let http = words.last().map(|w| {
                    w.trim_start_matches("https://")
                        .trim_start_matches("http://")
                        .to_owned()
                });
                addresses = grpc.zip(http);
                break;
            }
            seen.push(line);
        }
        // Keep draining stderr so the collector never blocks on a full pipe.
        let log = std::sync::Arc::new(std::sync::Mutex::new(seen.clone()));
        let kept = log.clone();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                kept.lock().unwrap().push(line);
            }
        });
        let (grpc_addr, http_addr) = addresses
            .unwrap_or_else(|| panic!("the collector did not start:\n{}", seen.join("\n")));
        Self {
            child,
            grpc_addr,
            http_addr,
            log,
        }
    }
}

impl Drop for CollectorProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Enrolls the `sobrio-agent` binary (state in `state_dir`) with the
/// collector whose data directory is `data_dir` and whose gRPC listens on
/// `grpc_addr`, in department IT, through a token made on the command line.
///
/// # Panics
/// When a command fails.
pub fn enroll_agent_binary(data_dir: &str, state_dir: &str, grpc_addr: &str) {
    let token = run(
        "sobrio-collector",
        &[
            "--data-dir",
            data_dir,
            "token",
            "create",
            "--department",
            "IT",
        ],
    );
    assert!(
        token.status.success(),
        "{}",
        String::from_utf8_lossy(&token.stderr)
    );
    let token = String::from_utf8(token.stdout).unwrap();
    let server = format!("https://{grpc_addr}");
    let ca = format!("{data_dir}/ca.pem");
    let enrolled = run(
        "sobrio-agent",
        &[
            "--state-dir",
            state_dir,
            "enroll",
            "--server",
            &server,
            "--token",
            token.trim(),
            "--ca",
            &ca,
        ],
    );
    assert!(
        enrolled.status.success(),
        "{}",
        String::from_utf8_lossy(&enrolled.stderr)
    );
}

/// `GET path` over HTTP/1.1 on `addr`; returns the status and body.
///
/// # Panics
/// When the server cannot be reached or answers garbage.
pub fn http_get(addr: &str, path: &str) -> (u16, String) {
    http_request(addr, "GET", path, &[], "")
}

/// An HTTP/1.1 request with `headers` and `body`; returns the status and the
/// body.
///
/// # Panics
/// When the connection fails.
pub fn http_request(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String) {
    let (status, _, body) = http_exchange(addr, method, path, headers, body);
    (status, body)
}

/// An HTTP/1.1 request; returns the status, the response headers (names
/// lower-cased, in order) and the body.
///
/// # Panics
/// When the connection fails.
pub fn http_exchange(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, Vec<(String, String)>, String) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (name, value) in headers {
        request += &format!("{name}: {value}\r\n");
    }
    if !body.is_empty() || method == "POST" {
        request += &format!("Content-Length: {}\r\n", body.len());
    }
    request += "\r\n";
    request += body;
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    let response = String::from_utf8_lossy(&response).into_owned();
    let (head, body) = response
        .split_once("\r\n\r\n")
        .map_or((response.as_str(), ""), |(h, b)| (h, b));
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    (status, headers, body.to_owned())
}

/// Seeds the store of `data_dir` with a fleet file's history through the
/// real gRPC path (`sobrio-collector demo --fleet FLEET --once`, without this
/// machine's agent); returns what the demo printed.
///
/// # Panics
/// When the demo fails.
pub fn seed_fleet(data_dir: &str, fleet: &str) -> String {
    let output = run(
        "sobrio-collector",
        &[
            "--data-dir",
            data_dir,
            "demo",
            "--fleet",
            fleet,
            "--once",
            "--no-local-agent",
            "--grpc-addr",
            "127.0.0.1:0",
            "--http-addr",
            "127.0.0.1:0",
        ],
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Runs a binary to completion; returns its output.
pub fn run(binary_name: &str, args: &[&str]) -> Output {
    Command::new(binary(binary_name))
        .args(args)
        .env("SOBRIO_LOG", "warn")
        .output()
        .expect("the binary runs")
}

/// A collector running in-process on loopback ports chosen by the OS.
pub struct TestCollector {
    pub running: RunningCollector,
    pub store: Store,
    /// Holds the data directory for the collector's lifetime.
    pub dir: TempDir,
}

impl TestCollector {
    /// Starts a collector with TLS.
    pub async fn start() -> Self {
        Self::start_with(CollectorConfig::default()).await
    }

    /// Starts a collector with `config`, on loopback ports.
    pub async fn start_with(mut config: CollectorConfig) -> Self {
        config.server.grpc_addr = "127.0.0.1:0".parse().unwrap();
        config.server.http_addr = "127.0.0.1:0".parse().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_data_dir(dir.path()).await.unwrap();
        let running = start(config, store.clone(), dir.path()).await.unwrap();
        Self {
            running,
            store,
            dir,
        }
    }

    /// `https://127.0.0.1:PORT`, or `http://` in development mode.
    pub fn url(&self) -> String {
        let scheme = if self.running.shared.config.server.insecure_dev {
            "http"
        } else {
            "https"
        };
        format!("{scheme}://{}", self.running.grpc_addr)
    }

    pub fn ca_pem(&self) -> String {
        std::fs::read_to_string(&self.running.ca_path).unwrap()
    }

    /// Creates an enrollment token.
    pub async fn token(
        &self,
        department: &str,
        expires: Duration,
        max_uses: Option<i64>,
    ) -> String {
        sobrio_collector::app::enrollment::create_token(
            &self.store,
            department,
            expires,
            max_uses,
            "test",
            sobrio_collector::app::now_unix_ms(),
        )
        .await
        .unwrap()
    }

    /// A client pinned to the CA, without a client certificate.
    pub async fn anonymous_client(&self) -> CollectorClient {
        let endpoint = CollectorEndpoint {
            url: self.url(),
            ca_pem: Some(self.ca_pem()),
            identity: None,
            bearer: None,
        };
        CollectorClient::connect(&endpoint).await.unwrap()
    }

    /// Enrolls a device in-process; returns it with a client using its
    /// certificate.
    pub async fn enroll(&self, department: &str, hostname: &str) -> TestDevice {
        let token = self
            .token(department, Duration::from_secs(3600), None)
            .await;
        self.enroll_with_token(&token, hostname).await.unwrap()
    }

    /// Enrolls a device with `token`.
    ///
    /// # Errors
    /// The collector's refusal.
    pub async fn enroll_with_token(
        &self,
        token: &str,
        hostname: &str,
    ) -> Result<TestDevice, tonic::Status> {
        load::enroll_at(&self.url(), &self.ca_pem(), token, hostname).await
    }
}

/// Where `program` is on `PATH`, if it is.
#[must_use]
pub fn on_path(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|dir| Path::new(dir).join(program))
        .find(|path| path.is_file())
}

/// Resident memory of a running process, in kB; `None` once it is gone.
#[must_use]
pub fn rss_kb(pid: u32) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// A free TCP port on loopback (bound, then released).
///
/// # Panics
/// When no port can be bound.
#[must_use]
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Whether a device presenting the certificate `certificate_pem` (with
/// `key_pem`) is refused by `collector`: TLS 1.3 reports a client
/// certificate's rejection after the handshake, so either the connection
/// or the first call fails.
pub async fn certificate_refused(
    collector: &TestCollector,
    certificate_pem: String,
    key_pem: String,
) -> bool {
    use sobrio_proto::Message;
    let endpoint = CollectorEndpoint {
        url: collector.url(),
        ca_pem: Some(collector.ca_pem()),
        identity: Some((certificate_pem, key_pem)),
        bearer: None,
    };
    match CollectorClient::connect(&endpoint).await {
        Err(_) => true,
        Ok(client) => client
            .submit(vec![valid_report().encode_to_vec()])
            .await
            .is_err(),
    }
}

/// An enrolled device and its mTLS client.
pub struct TestDevice {
    pub id: String,
    pub certificate_pem: String,
    pub key_pem: String,
    pub client: CollectorClient,
}

impl TestDevice {
    /// The pseudonyms of `logins`, obtained as an agent obtains them: blinded,
    /// evaluated by the collector, verified against the policy's public key.
    ///
    /// # Errors
    /// The collector's refusal.
    ///
    /// # Panics
    /// When the answer does not verify.
    pub async fn pseudonyms(&self, logins: &[&str]) -> Result<Vec<String>, tonic::Status> {
        let logins: Vec<String> = logins
            .iter()
            .map(|l| sobrio_proto::pseudonym::normalise(l, None))
            .collect();
        let blinded = sobrio_proto::pseudonym::Blinded::new(&logins).unwrap();
        let answer = self
            .client
            .evaluate_pseudonyms(blinded.elements().to_vec())
            .await?;
        let public_key = self.client.get_policy().await?.pseudonym_public_key;
        Ok(blinded
            .finalize(&answer.evaluated_elements, &answer.proof, &public_key)
            .expect("the collector's answer verifies"))
    }
}

/// A minimal valid report, collected now.
pub fn valid_report() -> sobrio_proto::v1::Report {
    sobrio_proto::v1::Report {
        report_id: uuid::Uuid::now_v7().to_string(),
        collected_unix_ms: sobrio_collector::app::now_unix_ms(),
        agent_version: "test".into(),
        agent_health: Some(sobrio_proto::v1::AgentHealth {
            rss_bytes: Some(5_000_000),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The first value of response header `name` (lower-case).
pub fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// The cookies a response sets, as (name, value).
pub fn cookies(headers: &[(String, String)]) -> Vec<(String, String)> {
    headers
        .iter()
        .filter(|(n, _)| n == "set-cookie")
        .filter_map(|(_, v)| v.split(';').next()?.split_once('='))
        .map(|(n, v)| (n.to_owned(), v.to_owned()))
        .collect()
}

/// The value of the hidden form field `name` in `body`.
///
/// # Panics
/// When the page has no such field.
pub fn hidden(body: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = body
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} in {body}"))
        + marker.len();
    body[start..start + body[start..].find('"').unwrap()].to_owned()
}

/// An `application/x-www-form-urlencoded` body.
pub fn form(fields: &[(&str, &str)]) -> String {
    fields
        .iter()
        .map(|(k, v)| format!("{k}={}", sobrio_collector::web::url_encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// Signs in over HTTP; returns the `Cookie` header value, or the status of
/// a refused sign-in.
///
/// # Panics
/// When the sign-in page does not answer as expected.
pub fn sign_in(addr: &str, user: &str, password: &str) -> Result<String, u16> {
    let (status, headers, body) = http_exchange(addr, "GET", "/login", &[], "");
    assert_eq!(status, 200);
    let signin = cookies(&headers)
        .into_iter()
        .find(|(n, _)| n == "sobrio_signin")
        .expect("the sign-in page sets its token cookie");
    let cookie = format!("sobrio_signin={}", signin.1);
    let body = form(&[
        ("username", user),
        ("password", password),
        ("csrf", &hidden(&body, "csrf")),
        ("next", "/"),
    ]);
    let (status, headers, _) = http_exchange(
        addr,
        "POST",
        "/login",
        &[
            ("Cookie", &cookie),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ],
        &body,
    );
    if status != 303 {
        return Err(status);
    }
    let session = cookies(&headers)
        .into_iter()
        .find(|(n, v)| n == "sobrio_session" && !v.is_empty())
        .expect("a session cookie");
    Ok(format!("sobrio_session={}", session.1))
}

/// Creates a dashboard user with `role` (through `user add --password-stdin`)
/// in the store of `data_dir`, and returns a new API token of theirs.
///
/// # Panics
/// When a command fails.
pub fn user_token(data_dir: &str, name: &str, role: &str) -> String {
    add_user(data_dir, name, role, "a long enough passphrase");
    let output = run(
        "sobrio-collector",
        &["--data-dir", data_dir, "user", "token", "create", name],
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// Adds a dashboard user with `role` and `password` to the store of
/// `data_dir`, through the command line.
///
/// # Panics
/// When the command fails.
pub fn add_user(data_dir: &str, name: &str, role: &str, password: &str) {
    use std::io::Write;
    let mut child = Command::new(binary("sobrio-collector"))
        .args([
            "--data-dir",
            data_dir,
            "user",
            "add",
            name,
            "--role",
            role,
            "--password-stdin",
        ])
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{password}\n").as_bytes())
        .unwrap();
    let added = child.wait_with_output().unwrap();
    assert!(
        added.status.success(),
        "{}",
        String::from_utf8_lossy(&added.stderr)
    );
}
