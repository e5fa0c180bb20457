//! Agent footprint and duplicate scan, beside their peers in the same run:
//! binary size and steady RSS against prometheus-node-exporter, CPU per full
//! inventory against fusioninventory-agent — for the shipped build and, when
//! `SOBRIO_BENCH_BASELINE` names an earlier build, for that one too — and
//! the duplicate scan of a
//! generated 50,000-file tree against jdupes, rmlint and fclones (warm cache,
//! and cold where the page cache can be dropped). A peer that is not
//! installed is named as skipped.
//!
//! `cargo bench -p sobrio-agent --bench footprint`; `SOBRIO_BENCH_QUICK=1`
//! runs a small version that checks the code, not the speed.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const AGENT: &str = env!("CARGO_BIN_EXE_sobrio-agent");

fn installed(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|dir| Path::new(dir).join(program))
        .find(|path| path.is_file())
}

fn median(mut values: Vec<f64>) -> (f64, f64) {
    values.sort_by(f64::total_cmp);
    let spread = values.last().unwrap_or(&0.0) - values.first().unwrap_or(&0.0);
    (values[values.len() / 2], spread)
}

/// Resident memory of a running process, in kB.
fn rss_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Wall seconds, user+system CPU seconds and peak RSS (kB) of a command,
/// through GNU time.
fn measure(command: &[&str]) -> Option<(f64, f64, u64)> {
    let output = Command::new("/usr/bin/time")
        .args(["-f", "SOBRIO %e %U %S %M"])
        .args(command)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&output.stderr);
    let line = text.lines().find(|l| l.starts_with("SOBRIO "))?;
    let fields: Vec<f64> = line[7..]
        .split_whitespace()
        .filter_map(|f| f.parse().ok())
        .collect();
    Some((fields[0], fields[1] + fields[2], fields[3] as u64))
}

fn steady_rss(command: &mut Command, settle: Duration) -> Option<u64> {
    let mut child = command
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    std::thread::sleep(settle);
    let rss = rss_kb(child.id());
    let _ = child.kill();
    let _ = child.wait();
    rss
}

/// A tree of `files` files in nested folders, a fifth of them duplicates.
fn generate_tree(root: &Path, files: usize) {
    let mut state = 0x9e37_79b9_u64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let originals: Vec<Vec<u8>> = (0..files / 5)
        .map(|_| {
            let len = [200, 3_000, 9_000, 40_000][usize::try_from(next() % 4).unwrap()];
            (0..len)
                .map(|_| u8::try_from(next() % 256).unwrap())
                .collect()
        })
        .collect();
    for n in 0..files {
        let dir = root.join(format!("d{}/e{}", n % 50, n % 7));
        std::fs::create_dir_all(&dir).unwrap();
        let body = if n % 5 == 0 {
            originals[usize::try_from(next()).unwrap() % originals.len()].clone()
        } else {
            let len = usize::try_from(100 + next() % 20_000).unwrap();
            (0..len)
                .map(|_| u8::try_from(next() % 256).unwrap())
                .collect()
        };
        std::fs::write(dir.join(format!("f{n}")), body).unwrap();
    }
}

/// Duplicate sets a tool reports, from its own output.
fn groups_found(name: &str, command: &[String], tree: &str) -> Option<u64> {
    let run = |args: &[&str]| {
        Command::new(args[0])
            .args(&args[1..])
            .stderr(Stdio::null())
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
    };
    let program = command[0].as_str();
    // "… in 123 groups"
    let before_groups = |text: &str| -> Option<u64> {
        let index = text.find(" groups")?;
        text[..index].rsplit(' ').next()?.parse().ok()
    };
    if name.starts_with("sobrio") {
        let json: serde_json::Value =
            serde_json::from_str(&run(&[program, "storage", "--json", tree])?).ok()?;
        json["duplicates"]["groups"].as_u64()
    } else if name.starts_with("jdupes") {
        let text = run(&[program, "-r", "-q", tree])?;
        Some(text.split("\n\n").filter(|g| !g.trim().is_empty()).count() as u64)
    } else if name.starts_with("rmlint") {
        before_groups(&run(&[program, "-T", "df", "-o", "summary:stdout", tree])?)
    } else {
        before_groups(&run(&[program, "group", tree])?)
    }
}

fn drop_caches() -> bool {
    let _ = Command::new("sync").status();
    std::fs::write("/proc/sys/vm/drop_caches", "3\n").is_ok()
}

fn main() {
    let quick = std::env::var("SOBRIO_BENCH_QUICK").is_ok_and(|v| v == "1");
    let runs = if quick { 1 } else { 3 };
    let dir = tempfile::tempdir().unwrap();
    println!(
        "agent footprint, this machine ({} CPUs), {runs} run(s) each, median and spread",
        std::thread::available_parallelism().map_or(1, usize::from)
    );
    println!();

    // The agents measured: what ships (the `dist` profile: whole-program
    // optimisation for size) when it is built, else this benchmark's own
    // build; and, when SOBRIO_BENCH_BASELINE names an earlier build of the
    // agent (its `dist` binary, say), that one too, the same way in the
    // same run, so that a change shows before and after.
    let build = if cfg!(debug_assertions) {
        "debug, not stripped"
    } else {
        "release"
    };
    let dist = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/dist/sobrio-agent");
    let mut agents: Vec<(String, PathBuf)> = Vec::new();
    if dist.is_file() {
        agents.push(("sobrio-agent (dist)".into(), dist));
    } else {
        println!(
            "(the shipped binary is not built: `cargo build --profile dist -p sobrio-agent`; \
             measuring the {build} build)"
        );
        agents.push((format!("sobrio-agent ({build})"), PathBuf::from(AGENT)));
    }
    if let Some(baseline) = std::env::var_os("SOBRIO_BENCH_BASELINE") {
        let baseline = PathBuf::from(baseline);
        let name = baseline
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
        agents.push((format!("baseline {name}"), baseline));
    }

    // Steady RSS: the agent running (its collector unreachable, so it keeps
    // sampling, spooling and backing off) against node_exporter serving.
    let state = dir.path().join("state");
    std::fs::create_dir_all(&state).unwrap();
    for (name, text) in [("device.key", "x"), ("device.crt", "x"), ("ca.pem", "x")] {
        std::fs::write(state.join(name), text).unwrap();
    }
    std::fs::write(
        state.join("enrollment.json"),
        r#"{"device_id":"bench","server":"https://127.0.0.1:9","department":"IT","certificate_not_after_unix_ms":4102444800000,"bearer_secret":""}"#,
    )
    .unwrap();
    let config = dir.path().join("agent.toml");
    std::fs::write(&config, "[delivery]\nsplay_max_secs = 0\n").unwrap();
    let settle = Duration::from_secs(if quick { 2 } else { 8 });
    let empty = dir.path().join("empty");
    let agent_rss = |agent: &Path| {
        let rss: Vec<f64> = (0..runs)
            .filter_map(|_| {
                steady_rss(
                    Command::new(agent)
                        .args([
                            "--state-dir",
                            state.to_str().unwrap(),
                            "--config",
                            config.to_str().unwrap(),
                            "run",
                        ])
                        .env("SOBRIO_LOG", "off"),
                    settle,
                )
            })
            .map(|kb| kb as f64 / 1024.0)
            .collect();
        (!rss.is_empty()).then(|| median(rss))
    };
    // CPU per full inventory, process start included.
    let agent_cpu = |agent: &Path| {
        let cpu: Vec<f64> = (0..runs * 3)
            .filter_map(|_| {
                measure(&[
                    agent.to_str().unwrap(),
                    "--state-dir",
                    empty.to_str().unwrap(),
                    "collect",
                    "--once",
                    "--json",
                ])
            })
            .map(|(_, cpu, _)| cpu * 1000.0)
            .collect();
        (!cpu.is_empty()).then(|| median(cpu))
    };
    let mb = |bytes: u64| format!("{:.2} MB", bytes as f64 / 1e6);
    let spread = |value: Option<(f64, f64)>, unit: &str| {
        value.map_or_else(
            || "n/a".to_owned(),
            |(v, s)| format!("{v:.1} {unit} (±{s:.1})"),
        )
    };
    println!(
        "{:<34} {:>16} {:>20} {:>22}",
        "agent", "binary, stripped", "steady RSS", "CPU per inventory"
    );
    let mut first_rss = None;
    let mut first_cpu = None;
    for (name, agent) in &agents {
        let size = std::fs::metadata(agent).map(|m| m.len()).unwrap_or(0);
        let rss = agent_rss(agent);
        let cpu = agent_cpu(agent);
        first_rss = first_rss.or(rss.map(|r| r.0));
        first_cpu = first_cpu.or(cpu.map(|c| c.0));
        println!(
            "{name:<34} {:>16} {:>20} {:>22}",
            mb(size),
            spread(rss, "MB"),
            spread(cpu, "ms")
        );
    }
    if agents[0].1 != Path::new(AGENT) {
        let size = std::fs::metadata(AGENT).unwrap().len();
        println!("{:<34} {:>16}", format!("sobrio-agent ({build})"), mb(size));
    }
    match installed("prometheus-node-exporter") {
        Some(peer) => {
            let size = std::fs::metadata(&peer).unwrap().len();
            let peer_rss: Vec<f64> = (0..runs)
                .filter_map(|_| {
                    steady_rss(
                        Command::new(&peer).arg("--web.listen-address=127.0.0.1:19100"),
                        settle,
                    )
                })
                .map(|kb| kb as f64 / 1024.0)
                .collect();
            let rss = (!peer_rss.is_empty()).then(|| median(peer_rss));
            let ratio = rss
                .zip(first_rss)
                .map_or_else(String::new, |((p, _), a)| format!("; ratio {:.2}", a / p));
            println!(
                "{:<34} {:>16} {:>20} {:>22}{ratio}",
                "prometheus-node-exporter",
                mb(size),
                spread(rss, "MB"),
                "-"
            );
        }
        None => println!(
            "prometheus-node-exporter skipped (not installed: apt-get install prometheus-node-exporter)"
        ),
    }
    match installed("fusioninventory-inventory") {
        Some(peer) => {
            let cpu: Vec<f64> = (0..runs)
                .filter_map(|_| measure(&[peer.to_str().unwrap()]))
                .map(|(_, cpu, _)| cpu * 1000.0)
                .collect();
            let cpu = (!cpu.is_empty()).then(|| median(cpu));
            let ratio = cpu
                .zip(first_cpu)
                .map_or_else(String::new, |((p, _), a)| format!("; ratio {:.2}", a / p));
            println!(
                "{:<34} {:>16} {:>20} {:>22}{ratio}",
                "fusioninventory-inventory",
                "-",
                "-",
                spread(cpu, "ms")
            );
        }
        None => println!(
            "fusioninventory-inventory skipped (not installed: apt-get install fusioninventory-agent)"
        ),
    }
    println!(
        "budget (BENCHMARKS.md): binary <= 6 MB (dist), steady RSS <= 8 MB, CPU per inventory <= 60 ms"
    );

    // Duplicate scan.
    let files = if quick { 5_000 } else { 50_000 };
    let tree = dir.path().join("tree");
    let started = Instant::now();
    generate_tree(&tree, files);
    println!();
    println!(
        "duplicate scan of {files} files ({} generated in {:.1} s)",
        tree.display(),
        started.elapsed().as_secs_f64()
    );
    let tree_arg = tree.to_str().unwrap();
    let rmlint_out = dir.path().join("rmlint.json");
    let rmlint_target = format!("json:{}", rmlint_out.display());
    let tools: Vec<(&str, Option<Vec<String>>)> = vec![
        (
            "jdupes -r",
            installed("jdupes").map(|p| {
                vec![
                    p.display().to_string(),
                    "-r".into(),
                    "-q".into(),
                    tree_arg.into(),
                ]
            }),
        ),
        (
            "sobrio-agent storage",
            Some(vec![
                AGENT.into(),
                "storage".into(),
                "--json".into(),
                tree_arg.into(),
            ]),
        ),
        (
            "rmlint -T df",
            installed("rmlint").map(|p| {
                vec![
                    p.display().to_string(),
                    "-T".into(),
                    "df".into(),
                    "-o".into(),
                    rmlint_target.clone(),
                    tree_arg.into(),
                ]
            }),
        ),
        (
            "fclones group",
            installed("fclones")
                .map(|p| vec![p.display().to_string(), "group".into(), tree_arg.into()]),
        ),
    ];
    let can_drop = drop_caches();
    println!(
        "{:<22} {:>12} {:>12} {:>12} {:>12} {:>8}",
        "tool", "warm s", "peak MB", "cold s", "vs jdupes", "groups"
    );
    let mut jdupes_warm = None;
    for (name, command) in &tools {
        let Some(command) = command else {
            println!("{name:<22} skipped (not installed)");
            continue;
        };
        let args: Vec<&str> = command.iter().map(String::as_str).collect();
        let _ = measure(&args); // warm the page cache
        let warm: Vec<(f64, u64)> = (0..runs)
            .filter_map(|_| measure(&args))
            .map(|(wall, _, peak)| (wall, peak))
            .collect();
        let (warm_s, warm_spread) = median(warm.iter().map(|w| w.0).collect());
        let peak = warm.iter().map(|w| w.1).max().unwrap_or(0);
        let cold = if can_drop {
            let cold: Vec<f64> = (0..runs)
                .filter_map(|_| {
                    drop_caches();
                    measure(&args)
                })
                .map(|(wall, _, _)| wall)
                .collect();
            let (cold, spread) = median(cold);
            format!("{cold:.2} ±{spread:.2}")
        } else {
            "n/a".into()
        };
        if name.starts_with("jdupes") {
            jdupes_warm = Some(warm_s);
        }
        let ratio = jdupes_warm.map_or("-".into(), |j: f64| format!("{:.2}", warm_s / j.max(1e-9)));
        let groups = groups_found(name, command, tree_arg).map_or("?".into(), |g| g.to_string());
        println!(
            "{name:<22} {:>12} {:>12.1} {cold:>12} {ratio:>12} {groups:>8}",
            format!("{warm_s:.2} ±{warm_spread:.2}"),
            peak as f64 / 1024.0
        );
    }
    if !can_drop {
        println!("(cold cache skipped: /proc/sys/vm/drop_caches is not writable here)");
    }
    println!(
        "budget (BENCHMARKS.md): warm <= 1.0x jdupes and <= 0.5x rmlint; cold <= 0.5x jdupes; same groups as jdupes"
    );
}
