//! The Windows agent, cross-built here (`x86_64-pc-windows-gnu`, Debian's
//! MinGW-w64), run under Wine against the real collector on Linux:
//! - the exe enrolls over mutual TLS, submits a report that is stored,
//!   spools while the collector is down and drains when it is back;
//!   `collect --once --json`, `status` and `config check` work;
//! - the MSI (built with wixl) installs the exe and the `SobrioAgent`
//!   service, which enrolls with the installer's properties, reports, and
//!   stops gracefully.
//!
//! Wine is not Windows: WMI, the consent store and the notification
//! database are tested on fixtures (`agent/tests/fixtures.rs`). Wine 8 lacks
//! `bcryptprimitives.dll`, which Rust's standard library needs: a small one
//! (`agent/windows/bcryptprimitives.c`) is built with MinGW for the test.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use sobrio_tests::{CollectorProcess, missing, on_path, run};

const TARGET: &str = "x86_64-pc-windows-gnu";

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Wine's 64-bit loader.
fn wine_binary() -> Option<PathBuf> {
    let debian = PathBuf::from("/usr/lib/wine/wine64");
    if debian.is_file() {
        return Some(debian);
    }
    on_path("wine64")
}

/// Builds the Windows agent (in `target/windows`, apart from the host's
/// build) and the `bcryptprimitives.dll` shim; `None` with the missing part
/// named when they cannot be built here.
fn windows_agent() -> Option<(PathBuf, PathBuf)> {
    if on_path("x86_64-w64-mingw32-gcc").is_none() {
        missing("MinGW-w64 (Debian's gcc-mingw-w64-x86-64), to build the Windows agent");
        return None;
    }
    let target_dir = workspace().join("target/windows");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let built = Command::new(cargo)
        .current_dir(workspace())
        .args([
            "build",
            "--quiet",
            "-p",
            "sobrio-agent",
            "--target",
            TARGET,
            "--profile",
            "wine",
            "--target-dir",
        ])
        .arg(&target_dir)
        .output()
        .unwrap();
    if !built.status.success() {
        let stderr = String::from_utf8_lossy(&built.stderr);
        if stderr.contains("target may not be installed")
            || stderr.contains("can't find crate for `std`")
        {
            missing(
                "the Rust target x86_64-pc-windows-gnu (rustup target add x86_64-pc-windows-gnu)",
            );
            return None;
        }
        panic!("the Windows agent does not build:\n{stderr}");
    }
    let exe = target_dir.join(TARGET).join("wine/sobrio-agent.exe");
    let shim = target_dir.join("bcryptprimitives.dll");
    if !shim.exists() {
        // Built aside, then renamed: the two tests may get here together.
        let source = workspace().join("agent/windows");
        let building = target_dir.join(format!(
            "bcryptprimitives.{}.dll",
            uuid::Uuid::now_v7().simple()
        ));
        let status = Command::new("x86_64-w64-mingw32-gcc")
            .args(["-shared", "-O2", "-o"])
            .arg(&building)
            .arg(source.join("bcryptprimitives.c"))
            .arg(source.join("bcryptprimitives.def"))
            .arg("-ladvapi32")
            .status()
            .unwrap();
        assert!(
            status.success(),
            "the bcryptprimitives.dll shim does not build"
        );
        std::fs::rename(&building, &shim).unwrap();
    }
    Some((exe, shim))
}

/// A Wine prefix of the test's own, removed at the end.
struct Wine {
    loader: PathBuf,
    prefix: tempfile::TempDir,
}

impl Wine {
    fn start(shim: &Path) -> Option<Self> {
        let Some(loader) = wine_binary() else {
            missing("Wine (Debian's wine64), to run the Windows agent");
            return None;
        };
        let wine = Self {
            loader,
            prefix: tempfile::tempdir().unwrap(),
        };
        let booted = wine.run(&["wineboot", "--init"]);
        assert!(
            booted.status.success(),
            "wineboot: {}",
            text(&booted.stderr)
        );
        wine.wait();
        // Where a system DLL belongs, for every program of the prefix.
        std::fs::copy(
            shim,
            wine.drive_c().join("windows/system32/bcryptprimitives.dll"),
        )
        .unwrap();
        Some(wine)
    }

    fn drive_c(&self) -> PathBuf {
        self.prefix.path().join("drive_c")
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(&self.loader);
        command
            .args(args)
            .env("WINEPREFIX", self.prefix.path())
            .env("WINEDEBUG", "-all")
            // No Mono or Gecko installer dialogs.
            .env("WINEDLLOVERRIDES", "mscoree,mshtml=")
            .env("SOBRIO_LOG", "info");
        command
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    /// Waits until every program of the prefix has ended.
    fn wait(&self) {
        let _ = Command::new("wineserver")
            .arg("-w")
            .env("WINEPREFIX", self.prefix.path())
            .status();
    }
}

impl Drop for Wine {
    fn drop(&mut self) {
        let _ = Command::new("wineserver")
            .arg("-k")
            .env("WINEPREFIX", self.prefix.path())
            .status();
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A host path as Wine sees it (drive Z: is `/`).
fn z(path: &Path) -> String {
    format!("Z:{}", path.display()).replace('/', "\\")
}

fn stored_reports(data: &str) -> Vec<(String, u64)> {
    let listed = run(
        "sobrio-collector",
        &["--data-dir", data, "device", "list", "--json"],
    );
    let devices: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    devices
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["hostname"].as_str().unwrap_or("").to_owned(),
                d["reports"].as_u64().unwrap(),
            )
        })
        .collect()
}

fn token(data: &str) -> String {
    let token = run(
        "sobrio-collector",
        &["--data-dir", data, "token", "create", "--department", "IT"],
    );
    assert!(token.status.success(), "{}", text(&token.stderr));
    text(&token.stdout).trim().to_owned()
}

#[test]
fn the_windows_agent_enrolls_reports_spools_and_drains_under_wine() {
    let Some((exe, shim)) = windows_agent() else {
        return;
    };
    let Some(wine) = Wine::start(&shim) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("collector");
    let data = data.to_str().unwrap().to_owned();
    let grpc = format!("127.0.0.1:{}", sobrio_tests::free_port());
    let collector = CollectorProcess::serve_at(&data, &[], &grpc);
    let exe = z(&exe);
    let state = z(&dir.path().join("state"));
    let agent = |args: &[&str]| {
        let mut all = vec![exe.as_str(), "--state-dir", state.as_str()];
        all.extend_from_slice(args);
        wine.run(&all)
    };

    // The default state directory is under %ProgramData%.
    let status = wine.run(&[&exe, "status", "--json"]);
    assert!(status.status.success(), "{}", text(&status.stderr));
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert!(
        status["state_dir"]
            .as_str()
            .unwrap()
            .ends_with("Sobrio\\state"),
        "{status}"
    );

    let ca = z(&Path::new(&data).join("ca.pem"));
    let server = format!("https://{grpc}");
    let enrolled = agent(&[
        "enroll",
        "--server",
        &server,
        "--token",
        &token(&data),
        "--ca",
        &ca,
    ]);
    assert!(
        enrolled.status.success(),
        "enroll: {}",
        text(&enrolled.stderr)
    );
    assert!(text(&enrolled.stdout).contains("in department IT"));
    let sent = agent(&["run", "--once"]);
    assert!(sent.status.success(), "run --once: {}", text(&sent.stderr));
    let stored = stored_reports(&data);
    assert_eq!(stored.len(), 1, "{stored:?}");
    assert_eq!(stored[0].1, 1, "one report stored over mTLS from Wine");

    // What would be sent, as JSON.
    let collected = agent(&["collect", "--once", "--json"]);
    assert!(collected.status.success(), "{}", text(&collected.stderr));
    let report: serde_json::Value = serde_json::from_slice(&collected.stdout).unwrap();
    assert!(report["inventory"]["hostname"].is_string(), "{report}");

    // Configuration checks.
    let good = dir.path().join("good.toml");
    std::fs::write(&good, "[delivery]\nsplay_max_secs = 0\n").unwrap();
    let checked = agent(&["config", "check", &z(&good)]);
    assert!(checked.status.success(), "{}", text(&checked.stderr));
    assert!(text(&checked.stdout).contains("valid"));
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[delivery]\nsplay_max_secs = \"soon\"\n").unwrap();
    let refused = agent(&["config", "check", &z(&bad)]);
    assert_eq!(refused.status.code(), Some(64), "{}", text(&refused.stderr));
    assert!(
        text(&refused.stderr).contains("splay_max_secs"),
        "{}",
        text(&refused.stderr)
    );

    // The collector down: the report waits in the spool, then drains.
    drop(collector);
    let failed = agent(&["run", "--once"]);
    assert!(!failed.status.success());
    assert!(
        text(&failed.stderr).contains("stay in the spool"),
        "{}",
        text(&failed.stderr)
    );
    let spooled = std::fs::read_dir(dir.path().join("state/spool"))
        .unwrap()
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "rpt"))
        .count();
    assert_eq!(spooled, 1, "the report waits on disk");
    let collector = CollectorProcess::serve_at(&data, &[], &grpc);
    let drained = agent(&["run", "--once"]);
    assert!(drained.status.success(), "{}", text(&drained.stderr));
    assert_eq!(
        stored_reports(&data)[0].1,
        3,
        "the spooled report and the new one"
    );
    drop(collector);
}

#[test]
fn the_msi_installs_a_service_that_enrolls_reports_and_stops_gracefully() {
    let Some((exe, shim)) = windows_agent() else {
        return;
    };
    if on_path("wixl").is_none() {
        missing("wixl (Debian's wixl, from msitools), to build the MSI");
        return;
    }
    let Some(wine) = Wine::start(&shim) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    // The MSI, from the exe without its debug symbols.
    let stripped = dir.path().join("sobrio-agent.exe");
    let strip = Command::new("x86_64-w64-mingw32-strip")
        .arg("-o")
        .arg(&stripped)
        .arg(&exe)
        .status()
        .unwrap();
    assert!(strip.success());
    let msi = dir.path().join("sobrio-agent.msi");
    let built = Command::new("wixl")
        .current_dir(dir.path())
        .args([
            "-a",
            "x64",
            "-D",
            "Version=0.1.0",
            "-D",
            "AgentExe=sobrio-agent.exe",
            "-o",
        ])
        .arg(&msi)
        .arg(workspace().join("agent/windows/sobrio-agent.wxs"))
        .output()
        .unwrap();
    assert!(
        built.status.success() && msi.exists(),
        "wixl: {}",
        text(&built.stderr)
    );

    let data = dir.path().join("collector");
    let data = data.to_str().unwrap().to_owned();
    let collector = CollectorProcess::serve(&data, &[]);
    // The configuration IT would deploy beside the service: deliver at once.
    // Wine gives services %ProgramData% = C:\users\Public, programs
    // C:\ProgramData: the file goes to both.
    let program_data = wine.drive_c().join("ProgramData/Sobrio");
    let service_data = wine.drive_c().join("users/Public/Sobrio");
    for dir in [&program_data, &service_data] {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join("agent.toml"), "[delivery]\nsplay_max_secs = 0\n").unwrap();
    }
    let token = token(&data);
    let installed = wine.run(&[
        "msiexec",
        "/i",
        &z(&msi),
        "/qn",
        &format!("COLLECTOR_URL=https://{}", collector.grpc_addr),
        &format!("ENROLLMENT_TOKEN={token}"),
        &format!("CA_FILE={}", z(&Path::new(&data).join("ca.pem"))),
    ]);
    assert!(
        installed.status.success(),
        "msiexec: {}",
        text(&installed.stderr)
    );
    assert!(
        wine.drive_c()
            .join("Program Files/Sobrio/sobrio-agent.exe")
            .is_file()
    );

    // The service starts with the installation, enrolls and reports.
    let started = Instant::now();
    let log = || {
        std::fs::read_to_string(service_data.join("agent.log"))
            .or_else(|_| std::fs::read_to_string(program_data.join("agent.log")))
            .unwrap_or_default()
    };
    while stored_reports(&data).first().is_none_or(|d| d.1 == 0) {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "no report from the service within 2 minutes; its log:\n{}",
            log()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let settings = wine.run(&["reg", "query", r"HKLM\SOFTWARE\Sobrio"]);
    let settings = text(&settings.stdout);
    assert!(
        settings.contains("Server") && !settings.contains("EnrollmentToken"),
        "the token is removed after enrollment:\n{settings}"
    );
    assert!(!log().contains(&token), "the token is not logged");

    let stopped = wine.run(&["net", "stop", "SobrioAgent"]);
    assert!(
        stopped.status.success(),
        "net stop: {}",
        text(&stopped.stderr)
    );
    let log = log();
    assert!(
        log.contains("enrolled with the installer's settings") && log.contains("service stopped"),
        "{log}"
    );
    drop(collector);
}
