//! The collector's package holds together: its systemd units (the service,
//! the daily backup and its timer) and the agent's pass `systemd-analyze
//! verify` without a warning; every file the Debian package metadata ships
//! exists, its conffile is shipped, its maintainer scripts parse, and the
//! configuration it installs passes `config check`.

use std::path::{Path, PathBuf};
use std::process::Command;

use sobrio_tests::{binary, missing, on_path, run};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

#[test]
fn the_units_verify_without_a_warning() {
    let Some(analyze) = on_path("systemd-analyze") else {
        missing("systemd-analyze (Debian's systemd package)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut units = Vec::new();
    for (crate_dir, names) in [
        (
            "collector",
            &[
                "sobrio-collector.service",
                "sobrio-collector-backup.service",
                "sobrio-collector-backup.timer",
            ][..],
        ),
        ("agent", &["sobrio-agent.service"][..]),
    ] {
        for name in names {
            let text =
                std::fs::read_to_string(repo().join(crate_dir).join("debian").join(name)).unwrap();
            // The binaries where the test built them: verify checks that
            // each command is executable.
            let text = text
                .replace(
                    "/usr/bin/sobrio-collector",
                    binary("sobrio-collector").to_str().unwrap(),
                )
                .replace(
                    "/usr/bin/sobrio-agent",
                    binary("sobrio-agent").to_str().unwrap(),
                );
            let path = dir.path().join(name);
            std::fs::write(&path, text).unwrap();
            units.push(path);
        }
    }
    let output = Command::new(analyze)
        .args(["verify", "--man=no"])
        .args(&units)
        .output()
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "{said}");
    assert!(said.trim().is_empty(), "systemd-analyze warns:\n{said}");
}

#[test]
fn the_package_metadata_ships_what_exists_and_its_configuration_checks() {
    let collector = repo().join("collector");
    let manifest: toml::Value =
        toml::from_str(&std::fs::read_to_string(collector.join("Cargo.toml")).unwrap()).unwrap();
    let deb = &manifest["package"]["metadata"]["deb"];
    let assets = deb["assets"].as_array().unwrap();
    let mut shipped = Vec::new();
    for asset in assets {
        let (source, target) = (asset[0].as_str().unwrap(), asset[1].as_str().unwrap());
        if !source.starts_with("target/") {
            assert!(collector.join(source).is_file(), "{source} is not there");
        }
        shipped.push(format!("/{target}"));
    }
    for conffile in deb["conf-files"].as_array().unwrap() {
        assert!(
            shipped.contains(&conffile.as_str().unwrap().to_owned()),
            "{conffile} is not shipped"
        );
    }
    for unit in deb["systemd-units"].as_array().unwrap() {
        let name = unit["unit-name"].as_str().unwrap();
        assert!(
            collector
                .join("debian")
                .join(format!("{name}.service"))
                .is_file(),
            "{name}.service"
        );
    }
    for script in ["postinst", "postrm"] {
        let path = collector.join("debian").join(script);
        let parsed = Command::new("sh").arg("-n").arg(&path).output().unwrap();
        assert!(parsed.status.success(), "{script}: {parsed:?}");
    }
    // Remove keeps the data, purge keeps nothing.
    let postrm = std::fs::read_to_string(collector.join("debian/postrm")).unwrap();
    let purge = postrm
        .split("purge)")
        .nth(1)
        .unwrap()
        .split(";;")
        .next()
        .unwrap();
    assert!(
        purge.contains("rm -rf /var/lib/sobrio /var/backups/sobrio"),
        "{postrm}"
    );
    assert!(!postrm.contains("remove)"), "{postrm}");

    let config = collector.join("debian/collector.toml");
    let checked = run(
        "sobrio-collector",
        &["config", "check", config.to_str().unwrap()],
    );
    assert!(
        checked.status.success(),
        "{}",
        String::from_utf8_lossy(&checked.stderr)
    );
}
