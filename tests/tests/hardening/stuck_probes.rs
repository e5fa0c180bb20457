//! The agent never hangs on the host: a `smartctl` that never returns costs
//! its fields (unknown), not the agent. Running as a service, it still
//! samples every minute, delivers its first report before the next sample,
//! stays small, kills the stuck program's whole process group, and `status`
//! names the probe. Sampling starts no program: a `loginctl` that would
//! flood its output is never run (sessions come over the system bus).

use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use sobrio_tests::{CollectorProcess, binary, enroll_agent_binary, rss_kb, run};

/// The agent's sampling interval.
const SAMPLE_INTERVAL: Duration = Duration::from_secs(60);

/// A marker no other process carries, to find the hung program's children.
const MARKER: &str = "600.4242";

fn script(dir: &std::path::Path, name: &str, body: &str) {
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// Processes whose command line holds `MARKER`.
fn marked_processes() -> usize {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .bytes()
                .all(|b| b.is_ascii_digit())
        })
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .filter(|cmdline| {
            cmdline
                .windows(MARKER.len())
                .any(|w| w == MARKER.as_bytes())
        })
        .count()
}

/// The agent's status file, once it is written.
fn status(state: &str) -> Option<serde_json::Value> {
    let bytes = std::fs::read(std::path::Path::new(state).join("status.json")).ok()?;
    serde_json::from_slice(&bytes).ok()
}

fn unix_of(rfc3339: &serde_json::Value) -> Option<i64> {
    let parsed: jiff::Timestamp = rfc3339.as_str()?.parse().ok()?;
    Some(parsed.as_second())
}

#[test]
fn a_hanging_smartctl_costs_its_fields_not_the_agent_and_sampling_starts_no_program() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("collector");
    let data = data.to_str().unwrap().to_owned();
    let state = dir.path().join("agent");
    let state = state.to_str().unwrap().to_owned();
    let collector = CollectorProcess::serve(&data, &[]);
    enroll_agent_binary(&data, &state, &collector.grpc_addr);
    let config = dir.path().join("agent.toml");
    std::fs::write(&config, "[delivery]\nsplay_max_secs = 0\n").unwrap();

    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    // smartctl starts a child and waits forever; loginctl would say it ran,
    // then flood.
    script(&bin, "smartctl", &format!("sleep {MARKER} & wait"));
    let ran = dir.path().join("loginctl-ran");
    script(
        &bin,
        "loginctl",
        &format!("touch '{}'; exec yes", ran.display()),
    );
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );

    let started = Instant::now();
    let mut agent = Command::new(binary("sobrio-agent"))
        .args(["--state-dir", &state, "--config"])
        .arg(&config)
        .arg("run")
        .env("PATH", &path)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Until the second sample: the first at start (with both programs
    // stuck), the second a minute later. A watchdog far above that: only a
    // hang trips it.
    let mut peak_kb = 0;
    let mut first_sample = None;
    let (shown, delivered_before_second_sample) = loop {
        assert!(
            agent.try_wait().unwrap().is_none(),
            "the agent stopped on its probes"
        );
        peak_kb = peak_kb.max(rss_kb(agent.id()).unwrap_or(0));
        if let Some(shown) = status(&state) {
            if shown["samples_taken"].as_u64() == Some(1) {
                first_sample = unix_of(&shown["last_sample"]);
            }
            if shown["samples_taken"].as_u64() >= Some(2) {
                let delivered = shown["accepted_total"].as_u64();
                break (shown, delivered);
            }
        }
        assert!(
            started.elapsed() < 5 * SAMPLE_INTERVAL,
            "no second sample after {:.0?}: the agent hangs on its probes ({:?})",
            started.elapsed(),
            status(&state)
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let _ = Command::new("kill")
        .args(["-TERM", &agent.id().to_string()])
        .status();
    let output = agent.wait_with_output().unwrap();
    let log = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "graceful exit: {log}");
    println!(
        "a hanging smartctl: two samples in {:.1?}, peak RSS {} KB",
        started.elapsed(),
        peak_kb
    );
    // The first report, held 10 s by smartctl, went before the next sample.
    assert!(
        delivered_before_second_sample >= Some(1),
        "no report delivered before the second sample: {shown:#}\n{log}"
    );
    // Every minute, the stuck probes or not: the second sample is the next
    // minute's (the agent's own clock), none missed, none early.
    let first = first_sample.expect("the first sample was seen");
    let second = unix_of(&shown["last_sample"]).expect("the last sample's time");
    let interval = i64::try_from(SAMPLE_INTERVAL.as_secs()).unwrap();
    println!("samples {} s apart", second - first);
    assert!(
        (interval - 1..2 * interval).contains(&(second - first)),
        "samples {} s apart, expected one interval ({interval} s)",
        second - first
    );
    assert!(peak_kb < 64 * 1024, "agent RSS peaked at {peak_kb} KB");
    assert!(
        !ran.exists(),
        "sampling ran loginctl: sessions come over the system bus"
    );
    // The hung program's whole group was killed.
    assert_eq!(marked_processes(), 0, "the hung smartctl's child survived");

    let shown = run("sobrio-agent", &["--state-dir", &state, "status", "--json"]);
    let shown: serde_json::Value = serde_json::from_slice(&shown.stdout).unwrap();
    let delivery = &shown["delivery"];
    assert!(
        delivery["accepted_total"].as_u64().unwrap() >= 1,
        "{shown:#}"
    );
    let smart = &delivery["probes"]["smart"];
    assert_eq!(smart["failing"], true, "{shown:#}");
    assert!(
        smart["last_error"]
            .as_str()
            .unwrap()
            .contains("did not finish within 10 s"),
        "{shown:#}"
    );
    // Asked once, then left alone for its pause: one failure, not one a
    // report.
    assert_eq!(smart["failures"], 1, "{shown:#}");
    assert!(
        delivery["probes"]["sessions"].is_null(),
        "no program for sessions: {shown:#}"
    );
    let text =
        String::from_utf8(run("sobrio-agent", &["--state-dir", &state, "status"]).stdout).unwrap();
    assert!(
        text.contains("probe smart:") && text.contains("failing"),
        "{text}"
    );
    assert!(
        text.contains("samples:             2 since start"),
        "{text}"
    );
}
