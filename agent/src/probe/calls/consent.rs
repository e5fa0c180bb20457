//! Camera and microphone use on Windows, from the CapabilityAccessManager
//! consent store: under
//! `Software\Microsoft\Windows\CurrentVersion\CapabilityAccessManager\ConsentStore\{webcam,microphone}`
//! each application that used a device has `LastUsedTimeStart` and
//! `LastUsedTimeStop` (FILETIME); a stop of 0 means in use now. Packaged
//! applications have their own key, desktop ones a key under `NonPackaged`
//! named after the executable's path with `#` for `\`.
//!
//! The agent reads the key of each signed-in user with `reg export` and
//! parses the export ([`parse_export`]), so that the parser is tested on
//! Linux with real-shaped exports. Only the executable's file name (to tell
//! a conferencing application or a browser) is kept, and only in memory: no
//! path leaves the device.

/// A capture device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Device {
    Camera,
    Microphone,
}

/// One application's last use of a capture device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaptureUse {
    pub device: Device,
    /// The executable's name, lower-case, without `.exe` (`zoom`, `teams`,
    /// `msedge`); the package family's first part for packaged
    /// applications (`microsoft.windowscamera`).
    pub application: String,
    /// Unix ms.
    pub started_unix_ms: i64,
    /// Unix ms; `None` while the device is in use.
    pub stopped_unix_ms: Option<i64>,
}

impl CaptureUse {
    /// In use at this moment.
    pub fn in_use(&self) -> bool {
        self.stopped_unix_ms.is_none()
    }
}

/// 100 ns intervals between 1601-01-01 and 1970-01-01.
const FILETIME_UNIX_EPOCH: i64 = 116_444_736_000_000_000;

/// A FILETIME as Unix ms; `None` for 0 (never, or in use).
pub fn filetime_unix_ms(filetime: u64) -> Option<i64> {
    let filetime = i64::try_from(filetime).ok().filter(|t| *t > 0)?;
    Some((filetime - FILETIME_UNIX_EPOCH) / 10_000)
}

/// Decodes a `.reg` export: UTF-16LE with a byte-order mark (what
/// `reg export` writes), or UTF-8.
pub fn decode_export(bytes: &[u8]) -> String {
    match bytes {
        [0xff, 0xfe, rest @ ..] => {
            let units: Vec<u16> = rest
                .chunks_exact(2)
                .map(|pair| u16::from_le_bytes([pair[0], pair[1]]))
                .collect();
            String::from_utf16_lossy(&units)
        }
        _ => String::from_utf8_lossy(bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes))
            .into_owned(),
    }
}

/// The application a consent-store key names, from its last path
/// component.
fn application(key: &str) -> Option<String> {
    let last = key.rsplit('\\').next()?;
    // NonPackaged: C:#Program Files#Zoom#bin#Zoom.exe
    let name = last.rsplit('#').next()?;
    let name = name
        .strip_suffix(".exe")
        .or_else(|| name.strip_suffix(".EXE"))
        .unwrap_or(name);
    // Packaged: Microsoft.WindowsCamera_8wekyb3d8bbwe
    let name = name.split('_').next()?.to_lowercase();
    (!name.is_empty()).then_some(name)
}

/// A `hex(b):` value (a little-endian QWORD).
fn qword(value: &str) -> Option<u64> {
    let bytes: Vec<u8> = value
        .strip_prefix("hex(b):")?
        .split(',')
        .map(|b| u8::from_str_radix(b.trim(), 16))
        .collect::<Result<_, _>>()
        .ok()?;
    let bytes: [u8; 8] = bytes.try_into().ok()?;
    Some(u64::from_le_bytes(bytes))
}

/// Parses a `reg export` of a consent store (the `webcam` or `microphone`
/// key, or the whole `ConsentStore`). Keys without both times, and values
/// that are not QWORDs, are skipped.
pub fn parse_export(text: &str) -> Vec<CaptureUse> {
    // Values may continue over lines ending with `\`.
    let joined = text.replace("\\\r\n", "").replace("\\\n", "");
    let mut uses = Vec::new();
    let mut current: Option<(Device, String)> = None;
    let mut start: Option<u64> = None;
    let mut stop: Option<u64> = None;
    let mut flush =
        |current: &Option<(Device, String)>, start: &mut Option<u64>, stop: &mut Option<u64>| {
            if let (Some((device, application)), Some(start), Some(stop)) =
                (current, start.take(), stop.take())
                && let Some(started_unix_ms) = filetime_unix_ms(start)
            {
                uses.push(CaptureUse {
                    device: *device,
                    application: application.clone(),
                    started_unix_ms,
                    stopped_unix_ms: filetime_unix_ms(stop),
                });
            }
        };
    for line in joined.lines().map(str::trim) {
        if let Some(key) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            flush(&current, &mut start, &mut stop);
            let lower = key.to_lowercase();
            let device = if lower.contains("\\consentstore\\webcam\\") {
                Some(Device::Camera)
            } else if lower.contains("\\consentstore\\microphone\\") {
                Some(Device::Microphone)
            } else {
                None
            };
            // The device's own key and its NonPackaged folder hold no times.
            current = device
                .filter(|_| !lower.ends_with("\\nonpackaged"))
                .and_then(|device| Some((device, application(key)?)));
            continue;
        }
        if let Some((name, value)) = line.split_once('=') {
            match name.trim_matches('"') {
                "LastUsedTimeStart" => start = qword(value),
                "LastUsedTimeStop" => stop = qword(value),
                _ => {}
            }
        }
    }
    flush(&current, &mut start, &mut stop);
    uses
}

/// The applications holding the camera or a microphone now, as the call
/// detection wants them (`calls::CallSignals::capture_holders`).
pub fn holders(uses: &[CaptureUse]) -> Vec<String> {
    let mut names: Vec<String> = uses
        .iter()
        .filter(|u| u.in_use())
        .map(|u| u.application.clone())
        .collect();
    names.sort();
    names.dedup();
    names
}

/// Reads the consent stores of every user profile loaded under
/// `HKEY_USERS` with `reg export` (Windows).
pub fn read_live() -> Vec<CaptureUse> {
    let mut uses = Vec::new();
    let Ok(profiles) = crate::platform::command::run(
        "calls",
        std::process::Command::new("reg").args(["query", "HKU"]),
        crate::platform::command::Limits::SAMPLING,
    ) else {
        return uses;
    };
    let listing = String::from_utf8_lossy(&profiles.stdout).into_owned();
    // The export holds program paths: it is written in the agent's own
    // folder (SYSTEM and Administrators only), under a new name each time.
    let directory = crate::platform::windows::program_data();
    // Local and domain accounts (S-1-5-21-…) and Entra ID ones (S-1-12-1-…).
    let people = listing.lines().map(str::trim).filter(|l| {
        (l.starts_with("HKEY_USERS\\S-1-5-21-") || l.starts_with("HKEY_USERS\\S-1-12-1-"))
            && !l.ends_with("_Classes")
    });
    for user in people {
        let key = format!(
            "{user}\\Software\\Microsoft\\Windows\\CurrentVersion\\CapabilityAccessManager\\ConsentStore"
        );
        let file = directory.join(format!("consent-{}.reg", uuid::Uuid::now_v7().simple()));
        let exported = crate::platform::command::run(
            "calls",
            std::process::Command::new("reg")
                .arg("export")
                .arg(&key)
                .arg(&file)
                .arg("/y"),
            crate::platform::command::Limits::SAMPLING,
        )
        .is_ok_and(|output| output.status.success());
        if exported && let Ok(bytes) = std::fs::read(&file) {
            uses.extend(parse_export(&decode_export(&bytes)));
        }
        let _ = std::fs::remove_file(&file);
    }
    uses
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filetimes_convert_to_unix_time() {
        // 2026-11-30T00:00:00Z
        assert_eq!(
            filetime_unix_ms(134_404_704_000_000_000),
            Some(1_795_996_800_000)
        );
        assert_eq!(filetime_unix_ms(0), None);
    }

    #[test]
    fn application_names_come_from_the_key_without_the_path() {
        assert_eq!(
            application(
                r"HKEY_USERS\S-1\...\webcam\NonPackaged\C:#Program Files#Zoom#bin#Zoom.exe"
            )
            .as_deref(),
            Some("zoom")
        );
        assert_eq!(
            application(r"HKEY_USERS\S-1\...\microphone\MicrosoftTeams_8wekyb3d8bbwe").as_deref(),
            Some("microsoftteams")
        );
    }
}
