//! The collector under faults, with simulated agents submitting all along
//! and resending what was not acked:
//! - killed with SIGKILL at random points during ingest, many times
//!   (`SOBRIO_KILL_CYCLES`, default 25);
//! - its PostgreSQL restarted under load, on a private cluster this test
//!   starts itself (initdb as the postgres user, on a free port), never the
//!   shared one.
//!
//! In both, every report acked is in the store exactly once at the end.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use sobrio_collector::store::Store;
use sobrio_tests::load::{Load, Observed, enroll_at};
use sobrio_tests::{CollectorProcess, free_port, missing, run};

/// The store's pool waits this long for a PostgreSQL connection before a
/// call is answered UNAVAILABLE (`Store::connect`).
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

fn xorshift(seed: u64) -> impl FnMut() -> u64 {
    let mut state = seed | 1;
    move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    }
}

fn seed() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

/// Enrolls `count` simulated agents with the collector process.
async fn agents(
    data: &str,
    extra: &[&str],
    grpc: &str,
    count: usize,
) -> Vec<sobrio_agent::transport::CollectorClient> {
    let mut args = vec!["--data-dir", data];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["token", "create", "--department", "IT"]);
    let token = run("sobrio-collector", &args);
    assert!(
        token.status.success(),
        "{}",
        String::from_utf8_lossy(&token.stderr)
    );
    let token = String::from_utf8(token.stdout).unwrap();
    let ca = std::fs::read_to_string(format!("{data}/ca.pem")).unwrap();
    let mut clients = Vec::new();
    for n in 0..count {
        let device = enroll_at(
            &format!("https://{grpc}"),
            &ca,
            token.trim(),
            &format!("pc-{n}"),
        )
        .await
        .unwrap();
        clients.push(device.client);
    }
    clients
}

/// Checks the store against what the agents saw: every report made was
/// acked in the end, and each is stored exactly once.
async fn check_exactly_once(store: &Store, observed: &Observed) -> i64 {
    assert_eq!(
        observed.rejected,
        Vec::<String>::new(),
        "valid reports rejected"
    );
    assert_eq!(
        observed.acked.len(),
        observed.made.len(),
        "every report made was acked after the drain"
    );
    let stored: i64 = store
        .list_devices()
        .await
        .unwrap()
        .iter()
        .map(|d| d.reports)
        .sum();
    for id in &observed.acked {
        assert!(
            store.report_exists(id).await.unwrap(),
            "acked report {id} lost"
        );
    }
    assert_eq!(
        usize::try_from(stored).unwrap(),
        observed.acked.len(),
        "each acked report stored once"
    );
    stored
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acked_reports_survive_sigkill_of_the_collector_during_ingest() {
    let cycles: usize = std::env::var("SOBRIO_KILL_CYCLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(25);
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("collector");
    let data = data.to_str().unwrap().to_owned();
    let grpc = format!("127.0.0.1:{}", free_port());
    let mut collector = Some(CollectorProcess::serve_at(&data, &[], &grpc));
    let clients = agents(&data, &[], &grpc, 16).await;
    let load = Load::start(clients, Duration::from_millis(20));
    let seed = seed();
    let mut next = xorshift(seed);
    let mut acked_at_kill = Vec::new();
    for _ in 0..cycles {
        // Up for 50 to 800 ms, then SIGKILL, down for 0 to 200 ms.
        tokio::time::sleep(Duration::from_millis(50 + next() % 750)).await;
        drop(collector.take());
        acked_at_kill.push(load.observed(|o| o.acked.len()));
        tokio::time::sleep(Duration::from_millis(next() % 200)).await;
        collector = Some(CollectorProcess::serve_at(&data, &[], &grpc));
    }
    let observed = load.drain(Duration::from_secs(60)).await;
    drop(collector);
    let store = Store::open_data_dir(Path::new(&data)).await.unwrap();
    let stored = check_exactly_once(&store, &observed).await;
    println!(
        "collector SIGKILL (seed {seed}): {cycles} kills during ingest by 16 agents; {} calls acked, \
         failures {:?}; {} reports made, {stored} stored, each once",
        observed.calls,
        observed.failures,
        observed.made.len()
    );
    assert!(
        acked_at_kill.windows(2).filter(|w| w[1] > w[0]).count() > cycles / 4,
        "ingest was going on when the kills landed: {acked_at_kill:?}"
    );
    assert!(
        !observed.failures.is_empty(),
        "the kills were seen by the agents"
    );
}

/// A PostgreSQL cluster of this test's own, stopped and removed at drop.
struct PrivateCluster {
    bin: std::path::PathBuf,
    dir: tempfile::TempDir,
    port: u16,
}

impl PrivateCluster {
    /// `None` (with the missing part named) when initdb or root is missing.
    fn start() -> Option<Self> {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .flatten()
            .map(|e| e.path().join("bin"))
            .find(|bin| bin.join("initdb").exists());
        let Some(bin) = bin else {
            missing("PostgreSQL's initdb (/usr/lib/postgresql/*/bin, Debian's postgresql)");
            return None;
        };
        let root = Command::new("id").arg("-u").output().ok()?.stdout == b"0\n";
        if !root {
            missing("root, to run initdb as the postgres user");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(
            dir.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir(&data).unwrap();
        let chown = Command::new("chown")
            .arg("postgres:postgres")
            .arg(&data)
            .status()
            .unwrap();
        assert!(chown.success());
        let cluster = Self {
            bin,
            dir,
            port: free_port(),
        };
        let initdb = cluster.as_postgres(
            "initdb",
            &["-D", &cluster.data(), "-A", "trust", "-U", "postgres"],
        );
        assert!(
            initdb.status.success(),
            "initdb: {}",
            String::from_utf8_lossy(&initdb.stderr)
        );
        cluster.pg_ctl(&["start"]);
        Some(cluster)
    }

    fn data(&self) -> String {
        self.dir.path().join("data").to_string_lossy().into_owned()
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn as_postgres(&self, program: &str, args: &[&str]) -> std::process::Output {
        Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(self.bin.join(program))
            .args(args)
            .output()
            .unwrap()
    }

    /// `pg_ctl ACTION` (start, stop, restart) with this cluster's options;
    /// stops are immediate, as a crash.
    fn pg_ctl(&self, action: &[&str]) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=on",
            self.port,
            self.data()
        );
        let (data, log) = (self.data(), format!("{}/server.log", self.data()));
        let mut args = vec![
            "-D",
            &data,
            "-w",
            "-l",
            &log,
            "-o",
            &options,
            "-m",
            "immediate",
        ];
        args.extend_from_slice(action);
        let output = self.as_postgres("pg_ctl", &args);
        assert!(
            output.status.success(),
            "pg_ctl {action:?}: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

impl Drop for PrivateCluster {
    fn drop(&mut self) {
        let _ = self.as_postgres("pg_ctl", &["-D", &self.data(), "-m", "immediate", "stop"]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_restart_under_load_is_ridden_out_and_nothing_acked_is_lost() {
    let Some(cluster) = PrivateCluster::start() else {
        return;
    };
    let url = cluster.url();
    let extra = ["--database-url", url.as_str()];
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("collector");
    let data = data.to_str().unwrap().to_owned();
    let collector = CollectorProcess::serve(&data, &extra);
    let grpc = collector.grpc_addr.clone();
    let clients = agents(&data, &extra, &grpc, 16).await;
    let load = Load::start(clients, Duration::from_millis(20));
    // The machine's own pace, measured before any fault: how long the 16
    // agents take for 64 acked calls. CI machines are busy and slow; every
    // wait below is this cycle times a margin, plus what the product itself
    // waits for (the pool's 10 s acquire timeout), never a guess.
    let measured = std::time::Instant::now();
    while load.observed(|o| o.calls) < 64 {
        assert!(
            measured.elapsed() < Duration::from_secs(300),
            "64 calls were not acked in 300 s before any fault: the collector does not serve"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let cycle = measured.elapsed();
    let recovery_bound = ACQUIRE_TIMEOUT * 3 + cycle * 50;
    // Two short outages, which the store's pool rides out (calls wait for a
    // connection), then one longer than its 10 s acquire timeout, which the
    // agents are told about as UNAVAILABLE.
    let outages = [1500, 1500, 12_000];
    let (mut outage_failures, mut recoveries) = (Vec::new(), Vec::new());
    for outage in outages {
        tokio::time::sleep(Duration::from_millis(700)).await;
        let failed_before = load.observed(|o| o.failures.values().sum::<u64>());
        // An immediate stop, as a crash; then up again. pg_ctl blocks: the
        // agents' tasks move to the other worker meanwhile.
        tokio::task::block_in_place(|| cluster.pg_ctl(&["stop"]));
        tokio::time::sleep(Duration::from_millis(outage)).await;
        tokio::task::block_in_place(|| cluster.pg_ctl(&["start"]));
        // The same collector serves again by itself: a call completes.
        let (restarted, calls) = (std::time::Instant::now(), load.observed(|o| o.calls));
        while load.observed(|o| o.calls) <= calls {
            assert!(
                restarted.elapsed() < recovery_bound,
                "expected a call acked within {recovery_bound:?} of PostgreSQL's restart \
                 (3 acquire timeouts + 50 cycles of {cycle:?}); none after {:?}; \
                 failures so far {:?}",
                restarted.elapsed(),
                load.observed(|o| o.failures.clone())
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        recoveries.push(restarted.elapsed());
        outage_failures.push(load.observed(|o| o.failures.values().sum::<u64>()) - failed_before);
    }
    assert!(
        outage_failures[2] > 0,
        "expected failed calls during the {} ms outage (longer than the {ACQUIRE_TIMEOUT:?} \
         acquire timeout); failures per outage {outage_failures:?}",
        outages[2]
    );
    // Whatever is still held goes in a few cycles; the bound is generous.
    let observed = load.drain(Duration::from_secs(60) + cycle * 100).await;
    let store = Store::connect(&url).await.unwrap();
    let stored = check_exactly_once(&store, &observed).await;
    drop(collector);
    println!(
        "cycle of 64 calls before the faults: {cycle:?}; PostgreSQL stopped for {outages:?} ms under 16 agents: failed calls per outage {outage_failures:?}, \
         served again {recoveries:.1?} after each restart; failures \
         by code {:?}; {} calls acked; {stored} reports stored, each once",
        observed.failures, observed.calls
    );
    assert!(
        observed.failures.contains_key("Unavailable"),
        "agents were told UNAVAILABLE during the outages: {:?}",
        observed.failures
    );
    assert!(
        observed
            .failures
            .keys()
            .all(|code| code == "Unavailable" || code.starts_with("timeout")),
        "only UNAVAILABLE (retry) during an outage: {:?}",
        observed.failures
    );
}
