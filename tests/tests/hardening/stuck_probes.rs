//! The agent never hangs on the host: a `smartctl` that never returns and a
//! `loginctl` that floods its output cost their fields (unknown), not the
//! agent. It still collects and delivers, stays small, kills the stuck
//! program's whole process group, and `status` names both probes.

use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use sobrio_tests::{CollectorProcess, binary, enroll_agent_binary, run};

/// A marker no other process carries, to find the hung program's children.
const MARKER: &str = "600.4242";

fn script(dir: &std::path::Path, name: &str, body: &str) {
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn rss_kb(pid: u32) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
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

#[test]
fn a_hanging_smartctl_and_a_flooding_loginctl_cost_their_fields_not_the_agent() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("collector");
    let data = data.to_str().unwrap().to_owned();
    let state = dir.path().join("agent");
    let state = state.to_str().unwrap().to_owned();
    let collector = CollectorProcess::serve(&data, &[]);
    enroll_agent_binary(&data, &state, &collector.grpc_addr);

    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    // smartctl starts a child and waits forever; loginctl floods.
    script(&bin, "smartctl", &format!("sleep {MARKER} & wait"));
    script(&bin, "loginctl", "exec yes");
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );

    let started = Instant::now();
    let mut agent = Command::new(binary("sobrio-agent"))
        .args(["--state-dir", &state, "run", "--once"])
        .env("PATH", &path)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A watchdog far above the probes' 10 s timeout: only a hang trips it.
    let mut peak_kb = 0;
    let status = loop {
        if let Some(status) = agent.try_wait().unwrap() {
            break status;
        }
        peak_kb = peak_kb.max(rss_kb(agent.id()).unwrap_or(0));
        assert!(
            started.elapsed() < Duration::from_secs(180),
            "the agent hung on its probes"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut log = String::new();
    std::io::Read::read_to_string(agent.stderr.as_mut().unwrap(), &mut log).unwrap();
    println!(
        "run --once with a hanging smartctl and a flooding loginctl: {:.1?}, peak RSS {} KB",
        started.elapsed(),
        peak_kb
    );
    assert!(status.success(), "{log}");
    // The flood was cut off, not buffered.
    assert!(peak_kb < 64 * 1024, "agent RSS peaked at {peak_kb} KB");
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
    let sessions = &delivery["probes"]["sessions"];
    assert!(
        sessions["last_error"]
            .as_str()
            .unwrap()
            .contains("wrote more than"),
        "{shown:#}"
    );
    let text =
        String::from_utf8(run("sobrio-agent", &["--state-dir", &state, "status"]).stdout).unwrap();
    assert!(
        text.contains("probe smart:") && text.contains("failing"),
        "{text}"
    );
}
