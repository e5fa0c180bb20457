//! Video calls: a conferencing application running while the camera or the
//! microphone is in use, read from `/proc` under the host root.
//!
//! A device is in use when a process holds it open: `/proc/PID/fd/*` links
//! to `/dev/video*` (camera) or to an ALSA capture device `/dev/snd/pcm*c`
//! (microphone). Sound servers (PipeWire, PulseAudio, WirePlumber) keep
//! capture devices open all the time and are not counted. A call in a browser
//! tab is seen only through the camera or microphone the browser holds.

pub mod consent;

use serde::{Deserialize, Serialize};
use std::path::Path;

/// Which applications are conferencing applications (process names): the
/// `[calls]` section of the agent's configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CallsConfig {
    pub applications: Vec<String>,
}

impl Default for CallsConfig {
    fn default() -> Self {
        Self {
            applications: DEFAULT_APPLICATIONS.map(String::from).to_vec(),
        }
    }
}

impl CallsConfig {
    /// # Errors
    /// When a name is empty or longer than 64 characters.
    pub fn validate(&self) -> Result<(), super::InvalidSetting> {
        match self
            .applications
            .iter()
            .find(|a| a.trim().is_empty() || a.len() > 64)
        {
            Some(bad) => Err(super::InvalidSetting {
                key: "calls.applications",
                value: format!("{bad:?}"),
                expected: "expected process names of 1 to 64 characters",
            }),
            None => Ok(()),
        }
    }
}

/// Conferencing applications recognised by default (process names).
pub const DEFAULT_APPLICATIONS: [&str; 9] = [
    "teams",
    "teams-for-linux",
    "zoom",
    "webex",
    "CiscoCollabHost",
    "jitsi-meet",
    "Jitsi Meet",
    "skypeforlinux",
    "discord",
];

/// Browsers, whose camera or microphone use counts as a call.
const BROWSERS: [&str; 7] = [
    "firefox",
    "firefox-esr",
    "chrome",
    "chromium",
    "msedge",
    "brave",
    "opera",
];

/// Sound servers that hold capture devices open without a call.
const SOUND_SERVERS: [&str; 4] = ["pipewire", "pulseaudio", "wireplumber", "pipewire-pulse"];

/// What `/proc` shows at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallSignals {
    /// A conferencing application is running.
    pub application_running: bool,
    /// Processes holding the camera or a microphone: their names.
    pub capture_holders: Vec<String>,
}

impl CallSignals {
    /// Whether this moment is in a call: a conferencing application running
    /// with the camera or microphone in use, or a browser holding them.
    pub fn in_call(&self) -> bool {
        !self.capture_holders.is_empty()
            && (self.application_running
                || self
                    .capture_holders
                    .iter()
                    .any(|name| BROWSERS.contains(&name.as_str())))
    }
}

fn is_capture_device(target: &Path) -> bool {
    let text = target.to_string_lossy();
    if text.starts_with("/dev/video") {
        return true;
    }
    // ALSA PCM devices: pcmC0D0c is capture, pcmC0D0p playback.
    text.strip_prefix("/dev/snd/pcm")
        .is_some_and(|rest| rest.ends_with('c'))
}

/// Windows: the call signals from the consent store's capture uses — the
/// applications holding the camera or a microphone now, and whether one of
/// them is a conferencing application (Windows tells who holds a device,
/// not which processes run).
pub fn from_consent_store(uses: &[consent::CaptureUse], applications: &[String]) -> CallSignals {
    let capture_holders = consent::holders(uses);
    let application_running = capture_holders.iter().any(|holder| {
        applications
            .iter()
            .any(|application| holder.contains(&application.to_lowercase()))
    });
    CallSignals {
        application_running,
        capture_holders,
    }
}

/// Reads the call signals from the `proc` folder under `root`, with the
/// configured conferencing `applications`. Processes that vanish or cannot be
/// read are skipped.
pub fn read(root: &Path, applications: &[String]) -> CallSignals {
    let mut signals = CallSignals::default();
    let Ok(entries) = std::fs::read_dir(root.join("proc")) else {
        return signals;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        if !name.to_string_lossy().bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let dir = entry.path();
        let Ok(command) = std::fs::read_to_string(dir.join("comm")) else {
            continue;
        };
        let command = command.trim().to_owned();
        if applications
            .iter()
            .any(|app| app.eq_ignore_ascii_case(&command))
        {
            signals.application_running = true;
        }
        if SOUND_SERVERS.contains(&command.as_str()) {
            continue;
        }
        let Ok(fds) = std::fs::read_dir(dir.join("fd")) else {
            continue;
        };
        let holds_capture = fds
            .flatten()
            .filter_map(|fd| std::fs::read_link(fd.path()).ok())
            .any(|target| is_capture_device(&target));
        if holds_capture && !signals.capture_holders.contains(&command) {
            signals.capture_holders.push(command);
        }
    }
    signals.capture_holders.sort();
    signals
}

/// Applications that read the microphone only to draw a level meter.
const LEVEL_METERS: [&str; 4] = [
    "pavucontrol",
    "gnome-control-center",
    "plasmashell",
    "pwvucontrol",
];

/// The applications recording from a microphone through the sound server,
/// from `pactl -f json list source-outputs` (PulseAudio, or PipeWire's
/// PulseAudio service): process names of streams that are running (not
/// corked), level meters left out. With PipeWire or PulseAudio, applications
/// never hold `/dev/snd` themselves, so this is how their microphone use is
/// seen. The stream and application titles are not kept.
pub fn capture_streams_from_pactl(json: &str) -> Vec<String> {
    let Ok(serde_json::Value::Array(streams)) = serde_json::from_str(json) else {
        return Vec::new();
    };
    let mut holders: Vec<String> = streams
        .iter()
        .filter(|s| s.get("corked").and_then(serde_json::Value::as_bool) == Some(false))
        .filter_map(|s| {
            let properties = s.get("properties")?;
            let binary = properties
                .get("application.process.binary")
                .and_then(serde_json::Value::as_str)?;
            let peaks = properties
                .get("resample.peaks")
                .and_then(serde_json::Value::as_str)
                == Some("true");
            (!peaks && !LEVEL_METERS.contains(&binary)).then(|| binary.to_owned())
        })
        .collect();
    holders.sort();
    holders.dedup();
    holders
}

/// Runs `pactl` (as the session's user: a sound server serves no one else);
/// `None` when it is not installed or does not answer.
pub async fn capture_streams() -> Option<Vec<String>> {
    let output = tokio::task::spawn_blocking(|| {
        crate::platform::command::run(
            "calls",
            std::process::Command::new("pactl").args(["-f", "json", "list", "source-outputs"]),
            crate::platform::command::Limits {
                timeout: std::time::Duration::from_secs(5),
                ..crate::platform::command::Limits::SAMPLING
            },
        )
    })
    .await
    .ok()?
    .ok()?;
    output
        .status
        .success()
        .then(|| capture_streams_from_pactl(&String::from_utf8_lossy(&output.stdout)))
}

// The fixtures are /proc trees with symbolic links: Unix only.
#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::symlink;

    use super::*;

    fn process(root: &Path, pid: u32, name: &str, fds: &[&str]) {
        let dir = root.join(format!("proc/{pid}"));
        std::fs::create_dir_all(dir.join("fd")).unwrap();
        std::fs::write(dir.join("comm"), format!("{name}\n")).unwrap();
        for (n, target) in fds.iter().enumerate() {
            symlink(target, dir.join(format!("fd/{n}"))).unwrap();
        }
    }

    fn defaults() -> Vec<String> {
        DEFAULT_APPLICATIONS.map(String::from).to_vec()
    }

    #[test]
    fn a_conferencing_app_with_the_camera_in_use_is_a_call() {
        let root = tempfile::tempdir().unwrap();
        process(root.path(), 1200, "zoom", &["/dev/video0", "socket:[123]"]);
        process(root.path(), 900, "pipewire", &["/dev/snd/pcmC0D0c"]);
        let signals = read(root.path(), &defaults());
        assert!(signals.application_running);
        assert_eq!(signals.capture_holders, ["zoom"]);
        assert!(signals.in_call());
    }

    #[test]
    fn the_sound_server_alone_holding_the_microphone_is_no_call() {
        let root = tempfile::tempdir().unwrap();
        process(
            root.path(),
            900,
            "pipewire",
            &["/dev/snd/pcmC0D0c", "/dev/snd/pcmC0D0p"],
        );
        process(root.path(), 1200, "teams-for-linux", &["/dev/snd/pcmC0D0p"]);
        let signals = read(root.path(), &defaults());
        assert!(
            signals.application_running,
            "running, but playing sound only"
        );
        assert!(!signals.in_call());
    }

    #[test]
    fn sound_server_streams_show_who_records_from_the_microphone() {
        let json = include_str!("../../../tests/fixtures/calls/pactl-source-outputs.json");
        // Chromium records; pavucontrol only draws a meter; Zoom's stream is
        // corked (muted by the person).
        assert_eq!(capture_streams_from_pactl(json), ["chromium"]);
        assert!(capture_streams_from_pactl("not json").is_empty());
        assert!(capture_streams_from_pactl("[]").is_empty());
        let signals = CallSignals {
            application_running: false,
            capture_holders: capture_streams_from_pactl(json),
        };
        assert!(signals.in_call(), "a call in a browser tab");
    }

    #[test]
    fn a_browser_holding_the_microphone_is_a_call_in_a_tab() {
        let root = tempfile::tempdir().unwrap();
        process(root.path(), 3000, "firefox", &["/dev/snd/pcmC1D0c"]);
        process(root.path(), 3100, "gimp", &["/dev/video2"]);
        let signals = read(root.path(), &defaults());
        assert!(!signals.application_running);
        assert_eq!(signals.capture_holders, ["firefox", "gimp"]);
        assert!(signals.in_call());
        let only_gimp = CallSignals {
            application_running: false,
            capture_holders: vec!["gimp".into()],
        };
        assert!(
            !only_gimp.in_call(),
            "the camera in an image editor is no call"
        );
    }
}
