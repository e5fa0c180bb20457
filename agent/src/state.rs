//! The agent's state directory: its key and certificate (0600), the pinned CA,
//! its enrollment and the last policy received.
//!
//! Every file is written atomically (temporary file, fsync, rename) so a crash
//! never leaves half a key or half an enrollment behind.

use std::io::Write;
#[cfg(unix)]
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sobrio_proto::Message;
use sobrio_proto::v1::Policy;

use crate::pseudonyms::PseudonymBook;

/// Errors reading or writing the state directory.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("cannot {action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is corrupt ({reason}): enroll the device again")]
    Corrupt { path: PathBuf, reason: String },
    #[error(
        "this device is not enrolled: run `sobrio-agent enroll --server URL --token TOKEN --ca FILE`"
    )]
    NotEnrolled,
}

/// The default state directory: `/var/lib/sobrio-agent` as root, the XDG
/// state directory otherwise; `%ProgramData%\Sobrio\state` on Windows.
#[cfg(windows)]
pub fn default_state_dir() -> PathBuf {
    crate::platform::windows::program_data().join("state")
}

/// The default state directory: `/var/lib/sobrio-agent` as root, the XDG
/// state directory otherwise; `%ProgramData%\Sobrio\state` on Windows.
#[cfg(not(windows))]
pub fn default_state_dir() -> PathBuf {
    let is_root = std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0);
    if is_root {
        return PathBuf::from("/var/lib/sobrio-agent");
    }
    let base = std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            std::env::var_os("HOME")
                .map_or_else(|| PathBuf::from("."), PathBuf::from)
                .join(".local/state")
        });
    base.join("sobrio-agent")
}

/// What enrollment gave the device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Enrollment {
    pub device_id: String,
    /// Collector URL (`https://host:port`, or `http://` in development mode).
    pub server: String,
    pub department: String,
    pub certificate_not_after_unix_ms: i64,
    /// Bearer secret for a collector in plaintext development mode.
    pub bearer_secret: String,
}

/// The files of the state directory.
#[derive(Debug, Clone)]
pub struct StateDir {
    dir: PathBuf,
}

const KEY_FILE: &str = "device.key";
const CERTIFICATE_FILE: &str = "device.crt";
const CA_FILE: &str = "ca.pem";
const ENROLLMENT_FILE: &str = "enrollment.json";
const POLICY_FILE: &str = "policy.pb";
const PSEUDONYMS_FILE: &str = "pseudonyms.json";

impl StateDir {
    pub fn new(dir: PathBuf) -> Self {
        Self { dir }
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Creates the directory (0700) if needed.
    ///
    /// # Errors
    /// When it cannot be created.
    pub fn create(&self) -> Result<(), StateError> {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        builder.mode(0o700);
        builder.create(&self.dir).map_err(|source| StateError::Io {
            action: "create state directory",
            path: self.dir.clone(),
            source,
        })
    }

    fn write(&self, name: &str, bytes: &[u8], mode: u32) -> Result<(), StateError> {
        let path = self.dir.join(name);
        let temporary = self.dir.join(format!(".{name}.tmp"));
        let io = |source| StateError::Io {
            action: "write",
            path: path.clone(),
            source,
        };
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        options.mode(mode);
        #[cfg(not(unix))]
        let _ = mode;
        let mut file = options.open(&temporary).map_err(io)?;
        file.write_all(bytes).map_err(io)?;
        file.sync_all().map_err(io)?;
        std::fs::rename(&temporary, &path).map_err(io)?;
        if let Ok(dir) = std::fs::File::open(&self.dir) {
            let _ = dir.sync_all();
        }
        Ok(())
    }

    fn read(&self, name: &str) -> Result<Option<Vec<u8>>, StateError> {
        let path = self.dir.join(name);
        match std::fs::read(&path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(StateError::Io {
                action: "read",
                path,
                source,
            }),
        }
    }

    fn read_text(&self, name: &str) -> Result<String, StateError> {
        let bytes = self.read(name)?.ok_or(StateError::NotEnrolled)?;
        String::from_utf8(bytes).map_err(|_| StateError::Corrupt {
            path: self.dir.join(name),
            reason: "not UTF-8".into(),
        })
    }

    /// Saves a complete enrollment; the enrollment file goes last, so a
    /// device counts as enrolled only once everything is on disk.
    ///
    /// # Errors
    /// When a file cannot be written.
    pub fn save_enrollment(
        &self,
        enrollment: &Enrollment,
        key_pem: &str,
        certificate_pem: &str,
        ca_pem: &str,
        policy: Option<&Policy>,
    ) -> Result<(), StateError> {
        self.create()?;
        self.write(KEY_FILE, key_pem.as_bytes(), 0o600)?;
        self.write(CERTIFICATE_FILE, certificate_pem.as_bytes(), 0o600)?;
        self.write(CA_FILE, ca_pem.as_bytes(), 0o644)?;
        if let Some(policy) = policy {
            self.save_policy(policy)?;
        }
        let json = serde_json::to_vec_pretty(enrollment).expect("enrollment serialises");
        self.write(ENROLLMENT_FILE, &json, 0o600)
    }

    /// Replaces the certificate (and key) after a renewal.
    ///
    /// # Errors
    /// When a file cannot be written.
    pub fn save_certificate(
        &self,
        enrollment: &Enrollment,
        key_pem: &str,
        certificate_pem: &str,
    ) -> Result<(), StateError> {
        self.write(KEY_FILE, key_pem.as_bytes(), 0o600)?;
        self.write(CERTIFICATE_FILE, certificate_pem.as_bytes(), 0o600)?;
        let json = serde_json::to_vec_pretty(enrollment).expect("enrollment serialises");
        self.write(ENROLLMENT_FILE, &json, 0o600)
    }

    /// The enrollment, if the device is enrolled.
    ///
    /// # Errors
    /// When the file is unreadable or corrupt.
    pub fn enrollment(&self) -> Result<Option<Enrollment>, StateError> {
        let Some(bytes) = self.read(ENROLLMENT_FILE)? else {
            return Ok(None);
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| StateError::Corrupt {
                path: self.dir.join(ENROLLMENT_FILE),
                reason: e.to_string(),
            })
    }

    /// The device's key, certificate and the pinned CA, PEM.
    ///
    /// # Errors
    /// [`StateError::NotEnrolled`] when a file is missing.
    pub fn credentials(&self) -> Result<(String, String, String), StateError> {
        Ok((
            self.read_text(KEY_FILE)?,
            self.read_text(CERTIFICATE_FILE)?,
            self.read_text(CA_FILE)?,
        ))
    }

    /// Saves the policy received from the collector.
    ///
    /// # Errors
    /// When the file cannot be written.
    pub fn save_policy(&self, policy: &Policy) -> Result<(), StateError> {
        self.write(POLICY_FILE, &policy.encode_to_vec(), 0o600)
    }

    /// Saves the pseudonyms of the device's people.
    ///
    /// # Errors
    /// When the file cannot be written.
    pub fn save_pseudonyms(&self, book: &PseudonymBook) -> Result<(), StateError> {
        let json = serde_json::to_vec_pretty(book).expect("a pseudonym book serialises");
        self.write(PSEUDONYMS_FILE, &json, 0o600)
    }

    /// The pseudonyms of the device's people (none yet: an empty book).
    ///
    /// # Errors
    /// When the file is unreadable or corrupt.
    pub fn pseudonyms(&self) -> Result<PseudonymBook, StateError> {
        let Some(bytes) = self.read(PSEUDONYMS_FILE)? else {
            return Ok(PseudonymBook::default());
        };
        serde_json::from_slice(&bytes).map_err(|e| StateError::Corrupt {
            path: self.dir.join(PSEUDONYMS_FILE),
            reason: e.to_string(),
        })
    }

    /// The last policy received, if any.
    ///
    /// # Errors
    /// When the file is unreadable or corrupt.
    pub fn policy(&self) -> Result<Option<Policy>, StateError> {
        let Some(bytes) = self.read(POLICY_FILE)? else {
            return Ok(None);
        };
        Policy::decode(bytes.as_slice())
            .map(Some)
            .map_err(|e| StateError::Corrupt {
                path: self.dir.join(POLICY_FILE),
                reason: e.to_string(),
            })
    }
}

// File modes: Unix only.
#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn key_and_certificate_are_private_to_the_agent() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::new(dir.path().join("state"));
        let enrollment = Enrollment {
            device_id: "d".into(),
            server: "https://c:50051".into(),
            department: "IT".into(),
            certificate_not_after_unix_ms: 1,
            bearer_secret: "s".into(),
        };
        state
            .save_enrollment(&enrollment, "KEY", "CERT", "CA", None)
            .unwrap();
        for name in [KEY_FILE, CERTIFICATE_FILE, ENROLLMENT_FILE] {
            let mode = std::fs::metadata(state.path().join(name)).unwrap().mode() & 0o777;
            assert_eq!(mode, 0o600, "{name}");
        }
        assert_eq!(state.enrollment().unwrap(), Some(enrollment));
        assert_eq!(state.credentials().unwrap().0, "KEY");
    }
}
