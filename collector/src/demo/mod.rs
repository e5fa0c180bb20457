//! `sobrio-collector demo`: the collector on the embedded SQLite with a
//! simulated fleet and this machine's own agent, no set-up.
//!
//! The simulated agents speak only `sobrio.v1` through the real path: each
//! enrolls with a token and a CSR, then submits its history over gRPC with its
//! own client certificate. Their identities are kept in the data directory
//! (`demo-fleet.json`, 0600), so a rerun reuses the devices; reports are
//! deterministic, so a rerun resends history that is stored once and adds the
//! days that passed.

pub mod client;
pub mod fleet;
pub mod simulate;

use std::collections::BTreeMap;
use std::io::Write;
use std::net::SocketAddr;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use jiff::ToSpan;
use jiff::civil::Date;
use serde::{Deserialize, Serialize};
use sobrio_proto::Message;
use sobrio_proto::v1::EnrollRequest;
use tokio::task::JoinSet;

use crate::app::App;
use crate::app::enrollment::create_token;
use crate::app::now_unix_ms;
use crate::store::Store;
use fleet::{Fleet, generated_fleet};

/// Seed of the generated fleet.
const DEFAULT_SEED: u64 = 7;
/// File of the simulated devices' identities in the data directory.
const IDENTITIES_FILE: &str = "demo-fleet.json";
/// State directory of this machine's agent, in the data directory.
const LOCAL_AGENT_DIR: &str = "local-agent";
/// Department this machine's agent joins.
const LOCAL_AGENT_DEPARTMENT: &str = "IT";
/// Simulated agents submitting at once.
const CONCURRENT_AGENTS: usize = 16;
/// Reports per Submit call of a simulated agent.
const BATCH: usize = 14;
/// Renew simulated certificates with fewer days left than this.
const RENEW_BEFORE_MS: i64 = 30 * 86_400_000;

/// A simulated device's identity.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Identity {
    device_id: String,
    key_pem: String,
    certificate_pem: String,
    not_after_unix_ms: i64,
    /// Pseudonym of its main user, obtained as an agent does
    /// (`Ingest.EvaluatePseudonyms`).
    person_id: Option<String>,
}

/// The collector the demo runs against, started by the caller.
pub struct Serving {
    pub app: Arc<App>,
    /// Where gRPC listens.
    pub grpc_addr: SocketAddr,
    /// Where HTTP listens.
    pub http_addr: SocketAddr,
    /// The CA certificate agents pin.
    pub ca_path: PathBuf,
    /// The data directory: the fleet's identities and this machine's
    /// agent live there.
    pub data_dir: PathBuf,
}

/// What the demo does beyond seeding.
#[derive(Debug, Clone, Default)]
pub struct DemoOptions {
    /// Fleet file (TOML); default: the generated fleet.
    pub fleet: Option<PathBuf>,
    /// Leave this machine's agent out.
    pub no_local_agent: bool,
    /// Seed, print the summary and return instead of serving.
    pub once: bool,
}

/// The fleet the options name: the file's, or the generated one.
///
/// # Errors
/// When the fleet file cannot be read or parsed.
pub fn fleet(options: &DemoOptions, today: Date) -> anyhow::Result<Fleet> {
    match &options.fleet {
        Some(path) => Ok(Fleet::load(path)?),
        None => Ok(generated_fleet(DEFAULT_SEED, today)),
    }
}

/// Seeds `fleet` into the collector `serving` (started at
/// `started_unix_ms`) through gRPC, prints where to look, then waits for
/// `shutdown` (unless `once`).
///
/// # Errors
/// When the store, the fleet file or the simulation fail.
pub async fn run(
    serving: &Serving,
    fleet: &Fleet,
    options: &DemoOptions,
    started_unix_ms: i64,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let today = jiff::Zoned::now()
        .with_time_zone(jiff::tz::TimeZone::UTC)
        .date();
    let store = &serving.app.store;
    let grpc = loopback(serving.grpc_addr);
    let ca_pem = serving.app.ca.certificate_pem().to_owned();

    let started = Instant::now();
    eprintln!("enrolling {} simulated devices…", fleet.devices.len());
    let identities = enroll_fleet(store, &serving.data_dir, fleet, grpc, &ca_pem).await?;
    eprintln!(
        "submitting {} weeks of history through gRPC/mTLS…",
        fleet.weeks
    );
    // On a rerun, the devices retired before send nothing more.
    let mut reporting = identities.clone();
    for device in fleet.devices.iter().filter(|d| d.retire.is_some()) {
        if let Some(identity) = identities.get(&device.hostname)
            && store.disposal(&identity.device_id).await?.is_some()
        {
            reporting.remove(&device.hostname);
        }
    }
    let (sent, accepted) = submit_history(fleet, &reporting, grpc, &ca_pem, today).await?;
    eprintln!(
        "{sent} reports sent, {accepted} acknowledged in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    // The collector published the weeks due when it started, before this
    // history arrived: they are published again, from the history, when
    // first viewed.
    store.drop_releases_published_since(started_unix_ms).await?;

    // IT's year: the devices at their end of life leave the fleet.
    let retired = retire_devices(store, fleet, &identities, today).await?;

    // Suggestions from the history just stored (the server recomputes them
    // on its own schedule afterwards).
    let (changes, holding) =
        crate::app::suggestions::recompute(store, &serving.app.config, now_unix_ms()).await?;
    eprintln!(
        "{holding} suggestions computed ({} new, {} kept as decided)",
        changes.created, changes.kept
    );
    let done = mark_done(store, fleet).await?;
    if retired + done > 0 {
        eprintln!("IT's history: {retired} devices retired, {done} suggestions marked done");
    }

    let accounts = demo_accounts(store).await?;

    let local_agent = if options.no_local_agent {
        LocalAgent::Skipped("--no-local-agent".into())
    } else {
        start_local_agent(store, grpc, serving).await
    };
    print_summary(store, serving, fleet, &local_agent).await?;
    print_accounts(serving.http_addr, &accounts);

    if !options.once {
        println!("Serving until interrupted: press Ctrl-C to stop.");
        shutdown.await;
        eprintln!("shutting down");
    }
    if let LocalAgent::Running { mut child, .. } = local_agent {
        let _ = child.kill().await;
    }
    Ok(())
}

/// Retires the fleet's devices marked `retire`, today, as IT would;
/// returns how many (a rerun finds them retired already and keeps them).
async fn retire_devices(
    store: &Store,
    fleet: &Fleet,
    identities: &BTreeMap<String, Identity>,
    today: Date,
) -> anyhow::Result<usize> {
    let mut retired = 0;
    for device in &fleet.devices {
        let (Some(outcome), Some(identity)) = (&device.retire, identities.get(&device.hostname))
        else {
            continue;
        };
        if store.disposal(&identity.device_id).await?.is_some() {
            continue;
        }
        crate::app::devices::retire(
            store,
            &identity.device_id,
            &today.to_string(),
            outcome,
            "end of life",
            "demo:it",
            now_unix_ms(),
        )
        .await?;
        retired += 1;
    }
    Ok(retired)
}

/// Marks done, for each of the fleet's `done_kinds`, the open suggestion
/// of that kind avoiding most; returns how many.
async fn mark_done(store: &Store, fleet: &Fleet) -> anyhow::Result<usize> {
    let mut done = 0;
    for kind in &fleet.done_kinds {
        let best = store
            .suggestions(Some(kind))
            .await?
            .into_iter()
            .filter(|s| s.status == "open")
            .max_by(|a, b| {
                a.avoided_kgco2e
                    .value
                    .total_cmp(&b.avoided_kgco2e.value)
                    .then_with(|| b.id.cmp(&a.id))
            });
        let Some(best) = best else {
            continue;
        };
        for action in ["accept", "done"] {
            crate::app::suggestions::decide(store, &best.id, action, "", "demo:it", None).await?;
        }
        done += 1;
    }
    Ok(done)
}

/// The collector's address as an agent on this machine reaches it.
fn loopback(addr: SocketAddr) -> SocketAddr {
    if addr.ip().is_unspecified() {
        SocketAddr::from(([127, 0, 0, 1], addr.port()))
    } else {
        addr
    }
}

fn read_identities(path: &Path) -> anyhow::Result<BTreeMap<String, Identity>> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).with_context(|| {
            format!(
                "{} is corrupt: delete it to enroll a new demo fleet",
                path.display()
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeMap::new()),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

fn write_identities(path: &Path, identities: &BTreeMap<String, Identity>) -> anyhow::Result<()> {
    let temporary = path.with_extension("json.tmp");
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&temporary)
        .with_context(|| format!("cannot write {}", temporary.display()))?;
    file.write_all(&serde_json::to_vec(identities)?)?;
    file.sync_all()?;
    std::fs::rename(&temporary, path)?;
    Ok(())
}

/// Enrolls every device of the fleet not enrolled yet (and renews
/// certificates close to expiry); returns identities by host name.
async fn enroll_fleet(
    store: &Store,
    data_dir: &Path,
    fleet: &Fleet,
    grpc: SocketAddr,
    ca_pem: &str,
) -> anyhow::Result<BTreeMap<String, Identity>> {
    let path = data_dir.join(IDENTITIES_FILE);
    let mut identities = read_identities(&path)?;
    let now = now_unix_ms();
    // Expired identities cannot renew: those devices enroll again.
    identities.retain(|_, identity| identity.not_after_unix_ms > now);
    let channel = client::connect(grpc, ca_pem, None).await?;
    let (enrollment, _) = client::clients(channel);
    let mut tokens = BTreeMap::new();
    for device in &fleet.devices {
        if identities.contains_key(&device.hostname) {
            continue;
        }
        let token = match tokens.get(&device.department) {
            Some(token) => token,
            None => {
                let token = create_token(
                    store,
                    &device.department,
                    Duration::from_secs(3600),
                    None,
                    "demo",
                    now_unix_ms(),
                )
                .await?;
                tokens.entry(device.department.clone()).or_insert(token)
            }
        };
        let (key_pem, csr_pem) = key_and_csr()?;
        let request = EnrollRequest {
            token: token.clone(),
            csr_pem,
            hostname: device.hostname.clone(),
            agent_version: format!("{}-demo", env!("CARGO_PKG_VERSION")),
        };
        let response = client::retrying(|| {
            let (mut client, request) = (enrollment.clone(), request.clone());
            async move { client.enroll(request).await }
        })
        .await
        .with_context(|| format!("enrolling simulated device {}", device.hostname))?
        .into_inner();
        let public_key = response
            .policy
            .map(|p| p.pseudonym_public_key)
            .unwrap_or_default();
        let person_id = match device.person.as_deref() {
            Some(login) => Some(
                pseudonym(
                    grpc,
                    ca_pem,
                    (&response.certificate_pem, &key_pem),
                    &public_key,
                    login,
                )
                .await
                .with_context(|| format!("pseudonym of simulated device {}", device.hostname))?,
            ),
            None => None,
        };
        identities.insert(
            device.hostname.clone(),
            Identity {
                device_id: response.device_id,
                key_pem,
                certificate_pem: response.certificate_pem,
                not_after_unix_ms: response.certificate_not_after_unix_ms,
                person_id,
            },
        );
    }
    for identity in identities
        .values_mut()
        .filter(|i| i.not_after_unix_ms - now < RENEW_BEFORE_MS)
    {
        let channel = client::connect(
            grpc,
            ca_pem,
            Some((&identity.certificate_pem, &identity.key_pem)),
        )
        .await?;
        let (key_pem, csr_pem) = key_and_csr()?;
        let renewal = client::clients(channel).0;
        let request = sobrio_proto::v1::RenewRequest { csr_pem };
        let renewed = client::retrying(|| {
            let (mut client, request) = (renewal.clone(), request.clone());
            async move { client.renew(request).await }
        })
        .await?
        .into_inner();
        identity.key_pem = key_pem;
        identity.certificate_pem = renewed.certificate_pem;
        identity.not_after_unix_ms = renewed.certificate_not_after_unix_ms;
    }
    write_identities(&path, &identities)?;
    Ok(identities)
}

fn key_and_csr() -> anyhow::Result<(String, String)> {
    let key = rcgen::KeyPair::generate()?;
    let csr = rcgen::CertificateParams::default()
        .serialize_request(&key)?
        .pem()?;
    Ok((key.serialize_pem(), csr))
}

/// The pseudonym of `login`, obtained from the collector as an agent does:
/// blinded, evaluated with the device's identity, verified and unblinded.
async fn pseudonym(
    grpc: SocketAddr,
    ca_pem: &str,
    identity: (&str, &str),
    public_key: &[u8],
    login: &str,
) -> anyhow::Result<String> {
    let logins = [sobrio_proto::pseudonym::normalise(login, None)];
    let blinded = sobrio_proto::pseudonym::Blinded::new(&logins)?;
    let channel = client::connect(grpc, ca_pem, Some(identity)).await?;
    let ingest = client::clients(channel).1;
    let request = sobrio_proto::v1::EvaluatePseudonymsRequest {
        blinded_elements: blinded.elements().to_vec(),
    };
    let answer = client::retrying(|| {
        let (mut client, request) = (ingest.clone(), request.clone());
        async move { client.evaluate_pseudonyms(request).await }
    })
    .await?
    .into_inner();
    let mut ids = blinded.finalize(&answer.evaluated_elements, &answer.proof, public_key)?;
    Ok(ids.remove(0))
}

/// Every simulated device submits its days of history, a few devices at a
/// time; returns reports sent and acknowledged.
async fn submit_history(
    fleet: &Fleet,
    identities: &BTreeMap<String, Identity>,
    grpc: SocketAddr,
    ca_pem: &str,
    today: Date,
) -> anyhow::Result<(usize, usize)> {
    let days = i64::from(fleet.weeks) * 7;
    let first_day = today.saturating_sub(days.days());
    let semaphore = Arc::new(tokio::sync::Semaphore::new(CONCURRENT_AGENTS));
    let mut tasks = JoinSet::new();
    let (mut sent, mut accepted) = (0, 0);
    for (index, device) in fleet.devices.iter().enumerate() {
        if device.retire.is_some() && !identities.contains_key(&device.hostname) {
            continue;
        }
        let identity = identities
            .get(&device.hostname)
            .with_context(|| format!("no identity for {}", device.hostname))?
            .clone();
        let device = device.clone();
        let ca_pem = ca_pem.to_owned();
        let seed = fleet.seed;
        let permit = semaphore.clone().acquire_owned().await?;
        tasks.spawn(async move {
            let _permit = permit;
            // A device bought during the simulated weeks reports from then on.
            let bought = device.purchase_date().unwrap_or(first_day);
            let reports: Vec<Vec<u8>> = (0..days)
                .filter(|n| first_day.saturating_add((*n).days()) > bought)
                .map(|n| {
                    let day_number = u32::try_from(n).unwrap_or(0);
                    let day = first_day.saturating_add(n.days());
                    simulate::day_report(
                        &device,
                        index,
                        seed,
                        day,
                        day_number,
                        identity.person_id.as_deref(),
                    )
                    .encode_to_vec()
                })
                .collect();
            let channel = client::connect(
                grpc,
                &ca_pem,
                Some((&identity.certificate_pem, &identity.key_pem)),
            )
            .await?;
            let (_, ingest) = client::clients(channel);
            let mut accepted = 0;
            for batch in reports.chunks(BATCH) {
                let request = sobrio_proto::v1::SubmitRequest {
                    reports: batch.to_vec(),
                };
                let response = client::retrying(|| {
                    let (mut client, request) = (ingest.clone(), request.clone());
                    async move { client.submit(request).await }
                })
                .await
                .with_context(|| format!("submitting for {}", device.hostname))?
                .into_inner();
                if let Some(rejection) = response.rejected.first() {
                    bail!(
                        "simulated report of {} rejected: {} {}",
                        device.hostname,
                        rejection.field,
                        rejection.reason
                    );
                }
                accepted += response.accepted.len();
            }
            Ok::<_, anyhow::Error>((reports.len(), accepted))
        });
        // Keep few tasks alive: each holds its device's encoded history.
        while tasks.len() >= CONCURRENT_AGENTS * 2 {
            if let Some(result) = tasks.join_next().await {
                let (s, a) = result??;
                sent += s;
                accepted += a;
            }
        }
    }
    while let Some(result) = tasks.join_next().await {
        let (s, a) = result??;
        sent += s;
        accepted += a;
    }
    Ok((sent, accepted))
}

/// This machine's agent, beside the simulated fleet.
enum LocalAgent {
    Running {
        child: tokio::process::Child,
        device_id: String,
    },
    Skipped(String),
}

/// Enrolls (once) and starts the `sobrio-agent` binary that sits beside this
/// one. Never fatal: the demo runs without it and says why.
async fn start_local_agent(store: &Store, grpc: SocketAddr, serving: &Serving) -> LocalAgent {
    match try_start_local_agent(store, grpc, serving).await {
        Ok(agent) => agent,
        Err(error) => LocalAgent::Skipped(format!("{error:#}")),
    }
}

async fn try_start_local_agent(
    store: &Store,
    grpc: SocketAddr,
    serving: &Serving,
) -> anyhow::Result<LocalAgent> {
    let data_dir = &serving.data_dir;
    let binary = std::env::current_exe()?
        .parent()
        .map(|dir| dir.join("sobrio-agent"))
        .filter(|path| path.exists())
        .context("sobrio-agent was not found beside sobrio-collector: build both with `cargo build --release --bins`")?;
    let state_dir = data_dir.join(LOCAL_AGENT_DIR);
    let server = format!("https://{grpc}");
    let agent = |args: &[&str]| {
        let mut command = tokio::process::Command::new(&binary);
        command
            .arg("--state-dir")
            .arg(&state_dir)
            .args(args)
            .env("SOBRIO_LOG", "warn");
        command
    };
    let status = agent(&["status", "--json"]).output().await?;
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap_or_default();
    let known = match status["device_id"].as_str() {
        Some(id) => store
            .device_credentials(id)
            .await?
            .is_some_and(|d| d.revoked_unix_ms.is_none()),
        None => false,
    };
    if !known {
        let token = create_token(
            store,
            LOCAL_AGENT_DEPARTMENT,
            Duration::from_secs(600),
            Some(1),
            "demo",
            now_unix_ms(),
        )
        .await?;
        let ca: PathBuf = serving.ca_path.clone();
        let output = agent(&["enroll", "--force", "--server", &server, "--ca"])
            .arg(&ca)
            .env("SOBRIO_ENROLL_TOKEN", &token)
            .output()
            .await?;
        if !output.status.success() {
            bail!(
                "enrollment failed: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
    }
    let status = agent(&["status", "--json"]).output().await?;
    let status: serde_json::Value = serde_json::from_slice(&status.stdout)?;
    let device_id = status["device_id"].as_str().unwrap_or_default().to_owned();
    // The demo's port may differ from the one it enrolled with.
    let child = agent(&["run", "--server", &server])
        .kill_on_drop(true)
        .spawn()?;
    Ok(LocalAgent::Running { child, device_id })
}

/// The demo's dashboard accounts, one per role, with fresh passwords at
/// every run: (name, role, password).
async fn demo_accounts(store: &Store) -> anyhow::Result<Vec<(String, String, String)>> {
    let mut accounts = Vec::new();
    for role in crate::domain::Role::ALL {
        let name = crate::domain::UserName::parse(&format!("demo-{role}"))?;
        let secret = crate::secret::random_secret();
        let password = format!("{role}-{}", &secret[..16]);
        let hash = crate::secret::hash_password(&password)?;
        store
            .upsert_user(&name, Some(&hash), &[role], now_unix_ms())
            .await?;
        accounts.push((name.to_string(), role.to_string(), password));
    }
    Ok(accounts)
}

fn print_accounts(http_addr: SocketAddr, accounts: &[(String, String, String)]) {
    println!();
    println!("Dashboards: http://{}/", loopback(http_addr));
    println!("  {:<12} {:<6} password (new at every run)", "user", "role");
    for (name, role, password) in accounts {
        println!("  {name:<12} {role:<6} {password}");
    }
    println!();
}

async fn print_summary(
    store: &Store,
    running: &Serving,
    fleet: &Fleet,
    local_agent: &LocalAgent,
) -> anyhow::Result<()> {
    let data_dir = &running.data_dir;
    let summary = store.fleet_summary(now_unix_ms()).await?;
    println!();
    println!("Sobrio demo");
    println!("  gRPC (agents, mTLS):  {}", running.grpc_addr);
    println!(
        "  HTTP:                 http://{}/healthz",
        running.http_addr
    );
    println!("  CA for agents:        {}", running.ca_path.display());
    println!(
        "  data directory:       {} (a rerun reuses it)",
        data_dir.display()
    );
    println!();
    println!(
        "Fleet: {} devices in {} departments, {} weeks of history; {} reports and {} usage hours stored",
        summary.devices,
        summary.departments.len(),
        fleet.weeks,
        summary.reports,
        summary.usage_hours
    );
    println!();
    println!(
        "  {:<20} {:>8}  {:>22}",
        "department", "devices", "active h/device/week"
    );
    for department in &summary.departments {
        println!(
            "  {:<20} {:>8}  {:>22.1}",
            department.department, department.devices, department.active_hours_per_device_week
        );
    }
    println!();
    let suggestions = store.suggestions(None).await?;
    let mut by_kind: BTreeMap<&str, (usize, f64)> = BTreeMap::new();
    for s in suggestions.iter().filter(|s| s.status == "open") {
        let entry = by_kind.entry(s.kind.as_str()).or_default();
        entry.0 += 1;
        entry.1 += s.avoided_kgco2e.value;
    }
    println!("Suggestions for IT (sobrio-collector suggestions list):");
    for (kind, (count, avoided)) in by_kind {
        println!("  {kind:<8} {count:>4}  {avoided:>9.0} kgCO2e avoided");
    }
    println!();
    match local_agent {
        LocalAgent::Running { device_id, .. } => println!(
            "This machine's agent runs as device {device_id} in {LOCAL_AGENT_DEPARTMENT} \
             (see what it sends: sobrio-agent collect --once --json)"
        ),
        LocalAgent::Skipped(reason) => println!("This machine's agent is not running: {reason}"),
    }
    Ok(())
}
