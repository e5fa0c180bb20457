//! Bytes a device sends in a day: the real agent, on tokio's paused clock,
//! lives a day against a real collector and the reports it submits are
//! counted; beside it in the same run, what a day of the peers weighs:
//! node_exporter's `/metrics` scraped every minute (Prometheus's default
//! interval) and one fusioninventory inventory a day (its default). Several
//! runs, median and spread. A peer that is not installed is named as
//! skipped.
//!
//! `cargo bench -p sobrio-tests --bench traffic`; `SOBRIO_BENCH_QUICK=1`
//! runs one short run that checks the code, not the figures.

use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use sobrio_agent::backoff::Jitter;
use sobrio_agent::config::AgentConfig;
use sobrio_agent::run::Agent;
use sobrio_tests::paused::{enrolled_agent, paused_runtime, real_runtime};
use sobrio_tests::{TestCollector, on_path};

fn median(mut values: Vec<f64>) -> (f64, f64) {
    if values.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    values.sort_by(f64::total_cmp);
    let spread = values.last().unwrap_or(&0.0) - values.first().unwrap_or(&0.0);
    (values[values.len() / 2], spread)
}

/// Size of `bytes` compressed with gzip (as HTTP would send them).
fn gzipped(bytes: &[u8]) -> Option<usize> {
    let mut child = Command::new("gzip")
        .arg("-c")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .ok()?;
    child.stdin.take()?.write_all(bytes).ok()?;
    Some(child.wait_with_output().ok()?.stdout.len())
}

/// (reports, payload bytes) one agent submits in `day`.
fn agent_day(day: Duration, seed: u64) -> (usize, u64) {
    let real = real_runtime();
    let collector = real.block_on(TestCollector::start());
    let dir = tempfile::tempdir().unwrap();
    let (state, enrollment, bridge) = enrolled_agent(
        &real,
        &collector,
        &dir.path().join("state"),
        "pc",
        Arc::new(AtomicBool::new(false)),
    );
    let bytes = bridge.submitted_bytes.clone();
    let device_id = enrollment.device_id.clone();
    paused_runtime().block_on(async {
        // This machine's own facts (`/`), as the agent reports them.
        let mut agent = Agent::with_uplink(
            state,
            AgentConfig::default(),
            std::path::Path::new("/"),
            enrollment,
            bridge,
            Jitter::with_seed(seed),
        )
        .unwrap();
        agent.run(tokio::time::sleep(day)).await;
    });
    let devices = real.block_on(collector.store.list_devices()).unwrap();
    let reports = devices.iter().find(|d| d.id == device_id).unwrap().reports;
    drop(collector);
    real.shutdown_timeout(Duration::from_secs(5));
    let bytes = *bytes.lock().unwrap();
    (usize::try_from(reports).unwrap(), bytes)
}

fn main() {
    let quick = std::env::var("SOBRIO_BENCH_QUICK").is_ok_and(|v| v == "1");
    let (runs, day) = if quick {
        (1, Duration::from_secs(3 * 3600))
    } else {
        (3, Duration::from_secs(24 * 3600))
    };
    let hours = day.as_secs() / 3600;
    println!("bytes sent per device per day, {runs} run(s), median and spread");
    let days: Vec<(usize, u64)> = (0..runs).map(|n| agent_day(day, 11 + n)).collect();
    let per_day = |bytes: u64| bytes as f64 * 24.0 / hours as f64;
    let (bytes, spread) = median(days.iter().map(|(_, b)| per_day(*b)).collect());
    let reports = days[days.len() / 2].0;
    println!(
        "sobrio-agent: {:.1} KB of reports a day (±{:.1}), {reports} reports in {hours} h; budget <= 10 KB",
        bytes / 1000.0,
        spread / 1000.0
    );

    match on_path("prometheus-node-exporter") {
        Some(peer) => {
            let mut child = Command::new(peer)
                .arg("--web.listen-address=127.0.0.1:19101")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            std::thread::sleep(Duration::from_secs(2));
            let scrapes: Vec<(f64, f64)> = (0..runs)
                .filter_map(|_| {
                    let (status, body) = sobrio_tests::http_get("127.0.0.1:19101", "/metrics");
                    (status == 200).then(|| {
                        let raw = body.len() as f64;
                        (raw, gzipped(body.as_bytes()).unwrap_or(0) as f64)
                    })
                })
                .collect();
            let _ = child.kill();
            let _ = child.wait();
            let (raw, raw_spread) = median(scrapes.iter().map(|s| s.0).collect());
            let (gzip, _) = median(scrapes.iter().map(|s| s.1).collect());
            println!(
                "node_exporter: {:.0} KB a day gzipped ({:.1} KB a scrape, {:.1} KB raw ±{:.1}, \
                 1,440 scrapes); sobrio-agent / node_exporter = {:.4}",
                gzip * 1440.0 / 1000.0,
                gzip / 1000.0,
                raw / 1000.0,
                raw_spread / 1000.0,
                bytes / (gzip * 1440.0)
            );
        }
        None => println!(
            "node_exporter: skipped (not installed: apt-get install prometheus-node-exporter)"
        ),
    }
    match on_path("fusioninventory-inventory") {
        Some(peer) => {
            let inventories: Vec<(f64, f64)> = (0..runs)
                .filter_map(|_| {
                    let output = Command::new(&peer).stderr(Stdio::null()).output().ok()?;
                    let raw = output.stdout.len() as f64;
                    Some((raw, gzipped(&output.stdout)? as f64))
                })
                .collect();
            let (raw, _) = median(inventories.iter().map(|s| s.0).collect());
            let (compressed, spread) = median(inventories.iter().map(|s| s.1).collect());
            println!(
                "fusioninventory: {:.1} KB a day compressed (±{:.1}; {:.1} KB of XML, one inventory a day); \
                 sobrio-agent / fusioninventory = {:.2}",
                compressed / 1000.0,
                spread / 1000.0,
                raw / 1000.0,
                bytes / compressed
            );
        }
        None => println!(
            "fusioninventory: skipped (not installed: apt-get install fusioninventory-agent)"
        ),
    }
}
