//! A private `dbus-daemon` for the tests that need a real bus: a user's
//! session bus (notifications) or a host's system bus (logind's sessions).

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use tempfile::TempDir;

use crate::missing;

/// A bus of its own: no machine configuration, no activation; anyone may
/// own a name, send to any, and monitor.
const CONFIG: &str = r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>BUS_KIND</type>
  <listen>unix:path=SOCKET</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"#;

/// A private `dbus-daemon`, killed when dropped.
#[derive(Debug)]
pub struct Bus {
    child: Child,
    /// Its D-Bus address (`unix:path=…`).
    pub address: String,
    /// The socket it listens on.
    pub socket: PathBuf,
    _dir: TempDir,
}

impl Bus {
    /// A session bus in a folder of its own, run as this process's user,
    /// or as `uid` through `setpriv`; `None` (after [`missing`]) when a
    /// program is not installed.
    ///
    /// # Panics
    /// When the daemon does not start.
    pub fn session(uid: Option<u32>) -> Option<Self> {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("bus");
        Self::start("session", dir, &socket, uid)
    }

    /// A system bus listening at `socket` (say `ROOT/run/dbus/system_bus_socket`).
    ///
    /// # Panics
    /// When the daemon does not start.
    pub fn system_at(socket: &Path) -> Option<Self> {
        Self::start("system", tempfile::tempdir().unwrap(), socket, None)
    }

    fn start(kind: &str, dir: TempDir, socket: &Path, uid: Option<u32>) -> Option<Self> {
        if !installed("dbus-daemon", "dbus-daemon (Debian package dbus)") {
            return None;
        }
        let config = dir.path().join("bus.conf");
        // Its warnings (it cannot raise its file limit in a container) are
        // noise unless it fails.
        let log = dir.path().join("daemon.log");
        std::fs::write(
            &config,
            CONFIG
                .replace("BUS_KIND", kind)
                .replace("SOCKET", socket.to_str().unwrap()),
        )
        .unwrap();
        let mut command = match uid {
            None => Command::new("dbus-daemon"),
            Some(uid) => {
                if !installed("setpriv", "setpriv (Debian package util-linux)") {
                    return None;
                }
                // The other user creates the socket in the folder.
                std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777))
                    .unwrap();
                std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o644)).unwrap();
                let mut command = Command::new("setpriv");
                command.args([
                    &format!("--reuid={uid}"),
                    &format!("--regid={uid}"),
                    "--clear-groups",
                    "dbus-daemon",
                ]);
                command
            }
        };
        let mut child = command
            .arg(format!("--config-file={}", config.display()))
            .args(["--nofork", "--print-address"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        // Printed once the bus listens.
        let mut address = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut address)
            .unwrap();
        if address.trim().is_empty() {
            let status = child.wait().unwrap();
            let errors = std::fs::read_to_string(&log).unwrap_or_default();
            panic!("dbus-daemon did not start ({status}):\n{errors}");
        }
        Some(Self {
            child,
            address: address.trim().to_owned(),
            socket: socket.to_owned(),
            _dir: dir,
        })
    }
}

impl Drop for Bus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether `program` runs; reports it [`missing`] when it is not installed.
///
/// # Panics
/// When it is installed but cannot be run.
pub fn installed(program: &str, part: &str) -> bool {
    match Command::new(program).arg("--version").output() {
        Ok(_) => true,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            missing(part);
            false
        }
        Err(error) => panic!("cannot run {program}: {error}"),
    }
}

/// This process's effective user id (`/proc/self/status`).
///
/// # Panics
/// Without `/proc`.
pub fn process_uid() -> u32 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().nth(1))
        .and_then(|uid| uid.parse().ok())
        .unwrap()
}
