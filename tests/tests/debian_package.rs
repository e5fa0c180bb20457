//! The Debian packages, installed, upgraded, removed and purged with dpkg in
//! a Debian system made for the test (debootstrap, minbase): the collector's
//! gets its user, its private state directory, its enabled units and its
//! conffile; an upgrade keeps the store and the administrator's edits;
//! removing keeps the data, purging keeps nothing. The agent's upgrade keeps
//! its enrollment and its spool.
//!
//! Needs root, `debootstrap` (Debian's package) and `cargo-deb`
//! (crates.io); the packages are made from the binaries the test command
//! built.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use sobrio_tests::{CollectorProcess, missing, on_path, run};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn ok(output: &Output, what: &str) -> String {
    assert!(
        output.status.success(),
        "{what}: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A Debian system in a directory, with /proc, /sys and /dev mounted while
/// it lives.
struct Chroot {
    root: PathBuf,
    _dir: tempfile::TempDir,
}

impl Chroot {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        let made = Command::new("debootstrap")
            .args(["--variant=minbase", "bookworm"])
            .arg(&root)
            .arg("http://deb.debian.org/debian")
            .output()
            .unwrap();
        ok(&made, "debootstrap");
        for (what, kind) in [("proc", "proc"), ("sys", "sysfs")] {
            ok(
                &Command::new("mount")
                    .args(["-t", kind, what])
                    .arg(root.join(what))
                    .output()
                    .unwrap(),
                "mount",
            );
        }
        ok(
            &Command::new("mount")
                .args(["--bind", "/dev"])
                .arg(root.join("dev"))
                .output()
                .unwrap(),
            "mount /dev",
        );
        Self { root, _dir: dir }
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new("chroot")
            .arg(&self.root)
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .output()
            .unwrap()
    }

    fn path(&self, inside: &str) -> PathBuf {
        self.root.join(inside.trim_start_matches('/'))
    }

    /// Copies a package in and installs it.
    fn install(&self, deb: &Path) {
        let name = deb.file_name().unwrap().to_str().unwrap();
        std::fs::copy(deb, self.path(&format!("/tmp/{name}"))).unwrap();
        ok(
            &self.run(&["dpkg", "-i", &format!("/tmp/{name}")]),
            &format!("dpkg -i {name}"),
        );
    }
}

impl Drop for Chroot {
    fn drop(&mut self) {
        for what in ["dev", "sys", "proc"] {
            let _ = Command::new("umount")
                .arg("-l")
                .arg(self.root.join(what))
                .status();
        }
    }
}

/// The package of `crate_name` at `version`, from the built binaries.
fn package(crate_name: &str, version: &str, out: &Path) -> PathBuf {
    let deb = out.join(format!("{crate_name}_{version}.deb"));
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    // The binaries the test command built (dev profile): cargo-deb warns
    // that packages are for releases, which these are not.
    let made = Command::new(cargo)
        .current_dir(repo())
        .args(["deb", "-p", crate_name, "--no-build", "--profile", "dev"])
        .args(["--deb-version", version, "--output"])
        .arg(&deb)
        .output()
        .unwrap();
    ok(&made, "cargo deb");
    deb
}

fn ready() -> bool {
    // The effective user, as `id -u` says.
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    if !root {
        missing("root (dpkg in a chroot)");
        return false;
    }
    for (program, part) in [
        ("debootstrap", "debootstrap (Debian's package)"),
        ("cargo-deb", "cargo-deb (cargo install --locked cargo-deb)"),
    ] {
        if on_path(program).is_none() {
            missing(part);
            return false;
        }
    }
    true
}

#[test]
fn the_packages_install_upgrade_remove_and_purge_without_loss() {
    if !ready() {
        return;
    }
    let out = tempfile::tempdir().unwrap();
    let collector_v1 = package("sobrio-collector", "1.0.0-1", out.path());
    let collector_v2 = package("sobrio-collector", "1.0.1-1", out.path());
    let agent_v1 = package("sobrio-agent", "1.0.0-1", out.path());
    let agent_v2 = package("sobrio-agent", "1.0.1-1", out.path());
    let system = Chroot::new();

    // Installed: the user, a private state directory, the units enabled,
    // the configuration checking.
    system.install(&collector_v1);
    let user = ok(&system.run(&["getent", "passwd", "sobrio"]), "getent");
    assert!(user.contains("/var/lib/sobrio"), "{user}");
    let state = ok(
        &system.run(&["stat", "-c", "%a %U", "/var/lib/sobrio"]),
        "stat",
    );
    assert_eq!(state.trim(), "700 sobrio");
    for enabled in [
        "/etc/systemd/system/multi-user.target.wants/sobrio-collector.service",
        "/etc/systemd/system/timers.target.wants/sobrio-collector-backup.timer",
    ] {
        // A link to the unit inside the system: not followed from here.
        assert!(
            system.path(enabled).symlink_metadata().is_ok(),
            "{enabled} is not enabled"
        );
    }
    ok(
        &system.run(&[
            "/usr/bin/sobrio-collector",
            "config",
            "check",
            "/etc/sobrio/collector.toml",
        ]),
        "config check",
    );
    // Data in the store, and an administrator's edit of the conffile.
    let token = ok(
        &system.run(&[
            "/usr/bin/sobrio-collector",
            "--data-dir",
            "/var/lib/sobrio",
            "token",
            "create",
            "--department",
            "IT",
        ]),
        "token create",
    );
    assert!(!token.trim().is_empty());
    let config = system.path("/etc/sobrio/collector.toml");
    let edited = format!(
        "{}\n[analysis]\nweeks = 6\n",
        std::fs::read_to_string(&config).unwrap()
    );
    std::fs::write(&config, &edited).unwrap();

    // Upgraded: the store and the edit kept.
    system.install(&collector_v2);
    let version = ok(
        &system.run(&["dpkg-query", "-W", "-f", "${Version}", "sobrio-collector"]),
        "dpkg-query",
    );
    assert_eq!(version, "1.0.1-1");
    assert_eq!(std::fs::read_to_string(&config).unwrap(), edited);
    {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime.block_on(async {
            let store =
                sobrio_collector::store::Store::open_data_dir(&system.path("/var/lib/sobrio"))
                    .await
                    .unwrap();
            assert_eq!(store.enrollment_tokens().await.unwrap().len(), 1);
        });
    }

    // Removed: the data and the configuration stay.
    ok(&system.run(&["dpkg", "-r", "sobrio-collector"]), "dpkg -r");
    assert!(!system.path("/usr/bin/sobrio-collector").exists());
    assert!(system.path("/var/lib/sobrio/sobrio.db").is_file());
    assert!(config.is_file());
    // Purged: nothing.
    ok(&system.run(&["dpkg", "-P", "sobrio-collector"]), "dpkg -P");
    assert!(!system.path("/var/lib/sobrio").exists());
    assert!(!config.exists());
    assert!(!system.run(&["getent", "passwd", "sobrio"]).status.success());

    // The agent: enrolled with a collector on this machine, a report
    // spooled while the collector is away, then upgraded.
    system.install(&agent_v1);
    let data = out.path().join("collector");
    let collector = CollectorProcess::serve(data.to_str().unwrap(), &[]);
    let token = run(
        "sobrio-collector",
        &[
            "--data-dir",
            data.to_str().unwrap(),
            "token",
            "create",
            "--department",
            "IT",
        ],
    );
    let token = ok(&token, "token create");
    std::fs::copy(data.join("ca.pem"), system.path("/tmp/ca.pem")).unwrap();
    let server = format!("https://{}", collector.grpc_addr);
    ok(
        &system.run(&[
            "/usr/bin/sobrio-agent",
            "--state-dir",
            "/var/lib/sobrio-agent",
            "enroll",
            "--server",
            &server,
            "--token",
            token.trim(),
            "--ca",
            "/tmp/ca.pem",
        ]),
        "agent enroll",
    );
    drop(collector);
    let _ = system.run(&[
        "/usr/bin/sobrio-agent",
        "--config",
        "/etc/sobrio/agent.toml",
        "--state-dir",
        "/var/lib/sobrio-agent",
        "run",
        "--once",
    ]);
    let snapshot = |dir: &Path| -> Vec<(PathBuf, Vec<u8>)> {
        let mut files = Vec::new();
        let mut stack = vec![dir.to_owned()];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    stack.push(path);
                } else {
                    files.push((path.clone(), std::fs::read(&path).unwrap()));
                }
            }
        }
        files.sort();
        files
    };
    let state = system.path("/var/lib/sobrio-agent");
    let enrollment = std::fs::read(state.join("enrollment.json")).unwrap();
    let spool_dir = state.join("spool");
    let spooled = snapshot(&spool_dir);
    assert!(!spooled.is_empty(), "a report waits in the spool");
    system.install(&agent_v2);
    assert_eq!(
        std::fs::read(state.join("enrollment.json")).unwrap(),
        enrollment
    );
    assert_eq!(snapshot(&spool_dir), spooled, "the spool is kept whole");
    let status = ok(
        &system.run(&[
            "/usr/bin/sobrio-agent",
            "--state-dir",
            "/var/lib/sobrio-agent",
            "status",
        ]),
        "agent status",
    );
    assert!(status.contains("enrolled:            yes"), "{status}");
}
