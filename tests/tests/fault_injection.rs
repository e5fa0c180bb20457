//! The agent killed with SIGKILL at random points while it collects, spools
//! and sends, with the collector acking, down, killed and restarted: every
//! report that reached the spool is stored exactly once in the end, and the
//! spool is never corrupt. `SOBRIO_FAULT_CYCLES` runs more cycles (default
//! 200).

use std::collections::HashSet;
use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use sobrio_collector::store::Store;
use sobrio_tests::{CollectorProcess, binary, run};

fn agent_once(state: &str) -> std::process::Child {
    Command::new(binary("sobrio-agent"))
        .args(["--state-dir", state, "run", "--once"])
        .env("SOBRIO_LOG", "sobrio_agent=info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Report ids the agent logged as spooled (written, synced, renamed).
fn spooled_ids(stderr: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(stderr)
        .lines()
        .filter(|line| line.contains("report spooled"))
        .filter_map(|line| line.split("report=").nth(1))
        .filter_map(|rest| rest.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

#[test]
fn reports_survive_sigkill_of_agent_and_collector_at_random_points() {
    let cycles: usize = std::env::var("SOBRIO_FAULT_CYCLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("collector");
    let data = data.to_str().unwrap().to_owned();
    let state = dir.path().join("agent");
    let state = state.to_str().unwrap().to_owned();
    let grpc = format!("127.0.0.1:{}", sobrio_tests::free_port());
    let start_collector = || CollectorProcess::serve_at(&data, &[], &grpc);
    let mut collector = Some(start_collector());
    sobrio_tests::enroll_agent_binary(&data, &state, &grpc);

    // How long an undisturbed cycle takes: kills land anywhere within it.
    let started = Instant::now();
    let calibration = agent_once(&state).wait_with_output().unwrap();
    let cycle_time = started.elapsed();
    let mut spooled: HashSet<String> = spooled_ids(&calibration.stderr).into_iter().collect();

    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let mut rng = seed | 1;
    let mut next = || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let (mut killed, mut completed, mut collector_kills) = (0, 0, 0);
    for cycle in 0..cycles {
        // The collector goes down (SIGKILL) for a while every 20 cycles, and
        // is sometimes killed mid-ingest.
        match cycle % 20 {
            10 => {
                collector = None;
                collector_kills += 1;
            }
            15 => collector = Some(start_collector()),
            _ => {}
        }
        let mut agent = agent_once(&state);
        let wait = cycle_time.mul_f64(1.3) * u32::try_from(next() % 1000).unwrap() / 1000;
        std::thread::sleep(wait);
        if next() % 10 == 0 && collector.is_some() {
            // SIGKILL mid-ingest (drop kills), then back at once.
            drop(collector.take());
            collector_kills += 1;
            collector = Some(start_collector());
        }
        let exited = agent.try_wait().unwrap().is_some();
        if exited {
            completed += 1;
        } else {
            let _ = agent.kill();
            killed += 1;
        }
        let output = agent.wait_with_output().unwrap();
        spooled.extend(spooled_ids(&output.stderr));
    }

    // Drain: the collector up, the agent undisturbed until its spool is empty.
    if collector.is_none() {
        collector = Some(start_collector());
    }
    let mut drained = false;
    for _ in 0..10 {
        if agent_once(&state).wait().unwrap().success() {
            drained = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    assert!(drained, "the agent could not deliver after the faults");
    let spool = dir.path().join("agent/spool");
    let left = std::fs::read_dir(&spool)
        .unwrap()
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "rpt"))
        .count();
    let quarantined = std::fs::read_dir(spool.join("quarantine")).unwrap().count();
    drop(collector);

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (stored, counted, missing) = runtime.block_on(async {
        let store = Store::open_data_dir(std::path::Path::new(&data))
            .await
            .unwrap();
        let device = store.list_devices().await.unwrap().remove(0);
        let counts = store.device_row_counts(&device.id).await.unwrap();
        let rows = counts
            .iter()
            .find(|(table, _)| *table == "reports")
            .unwrap()
            .1;
        let mut missing = Vec::new();
        for id in &spooled {
            if !store.report_exists(id).await.unwrap() {
                missing.push(id.clone());
            }
        }
        (rows, device.reports, missing)
    });
    println!(
        "fault injection (seed {seed}): {cycles} cycles, {killed} agents killed, {completed} completed, \
         {collector_kills} collector kills; {} reports seen spooled, {stored} stored, {left} left in the spool, \
         {quarantined} quarantined",
        spooled.len()
    );
    assert!(killed > cycles / 4, "kills must land: {killed} of {cycles}");
    assert_eq!(missing, Vec::<String>::new(), "spooled reports lost");
    assert_eq!(left, 0, "the spool drained");
    assert_eq!(quarantined, 0, "no spool entry was ever corrupt");
    assert_eq!(
        stored, counted,
        "the device's report count matches its stored reports"
    );
    assert!(usize::try_from(stored).unwrap() >= spooled.len());
    assert!(
        usize::try_from(stored).unwrap() <= cycles + 12,
        "no report stored twice"
    );
}

#[test]
fn a_full_disk_is_reported_clearly_and_the_agent_keeps_running() {
    let dir = tempfile::tempdir().unwrap();
    let state_dir = dir.path().join("state");
    std::fs::create_dir_all(&state_dir).unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=256k", "tmpfs"])
        .arg(&state_dir)
        .status()
        .is_ok_and(|s| s.success());
    if !mounted {
        sobrio_tests::missing("a small tmpfs for the agent's state (mount as root)");
        return;
    }
    struct Unmount<'a>(&'a std::path::Path);
    impl Drop for Unmount<'_> {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(self.0).status();
        }
    }
    let _unmount = Unmount(&state_dir);
    let state = state_dir.to_str().unwrap();
    let data = dir.path().join("collector");
    let data = data.to_str().unwrap();
    let collector = CollectorProcess::serve(data, &[]);
    sobrio_tests::enroll_agent_binary(data, state, &collector.grpc_addr);

    // Fill the volume.
    let filler = std::fs::File::create(state_dir.join("filler")).unwrap();
    let mut filler = std::io::BufWriter::new(filler);
    let _ = std::io::copy(&mut std::io::repeat(0).take(1 << 20), &mut filler);
    drop(filler);
    let config = dir.path().join("agent.toml");
    std::fs::write(
        &config,
        "[delivery]\nsplay_max_secs = 0\nretry_min_secs = 1\nretry_max_secs = 2\n",
    )
    .unwrap();

    let mut agent = Command::new(binary("sobrio-agent"))
        .args([
            "--state-dir",
            state,
            "--config",
            config.to_str().unwrap(),
            "run",
        ])
        .env("SOBRIO_LOG", "sobrio_agent=info")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        agent.try_wait().unwrap().is_none(),
        "the agent keeps running on a full disk"
    );
    // SIGTERM: a graceful stop within the deadline.
    let _ = Command::new("kill")
        .args(["-TERM", &agent.id().to_string()])
        .status();
    let stopped = Instant::now();
    let output = agent.wait_with_output().unwrap();
    assert!(stopped.elapsed() < Duration::from_secs(12));
    assert!(
        output.status.success(),
        "graceful exit: {:?}",
        output.status
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("the disk is full"), "{stderr}");
    // The report kept in memory was delivered all the same.
    let listed = run(
        "sobrio-collector",
        &["--data-dir", data, "device", "list", "--json"],
    );
    let devices: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert!(devices[0]["reports"].as_u64().unwrap() >= 1, "{devices}");
    drop(collector);
}
