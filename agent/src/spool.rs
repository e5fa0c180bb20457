//! The on-disk spool: every report is written here (and synced) before it
//! counts as collected, and removed only once the collector acknowledged it.
//!
//! One file per report, named by its UUIDv7 report id, so names sort oldest
//! first. A file is written under `tmp/`, synced, then renamed into the spool
//! and the directory synced: a crash (even SIGKILL) leaves either a whole
//! entry or a stray temporary file, never half an entry. Each entry carries a
//! length and a SHA-256 digest; an entry that fails them (a damaged disk) is
//! moved to `quarantine/` and counted, never fatal.
//!
//! The spool is bounded in bytes and age; when full, the oldest entries are
//! dropped and counted, and the count is reported in `AgentHealth`.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// File header: magic, then payload length (u32, big-endian), then the
/// payload's SHA-256.
const MAGIC: &[u8; 4] = b"SBS1";
const HEADER_BYTES: usize = 4 + 4 + 32;
const ENTRY_SUFFIX: &str = "rpt";
/// Stats persisted beside the entries.
const STATS_FILE: &str = "stats.json";

/// Errors of the spool.
#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    #[error("cannot {action} {path}: {source}{hint}", hint = disk_full_hint(source))]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("report of {0} bytes is larger than the whole spool: raise spool.max_bytes")]
    TooLarge(usize),
}

fn disk_full_hint(error: &std::io::Error) -> &'static str {
    if error.raw_os_error() == Some(28) {
        " (the disk is full: free space on the state directory's volume; reports are kept in memory meanwhile)"
    } else {
        ""
    }
}

/// Limits of the spool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpoolLimits {
    pub max_bytes: u64,
    pub max_age_ms: i64,
}

/// Counts the spool keeps across restarts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SpoolStats {
    /// Entries dropped because the spool was full or they were too old.
    pub dropped: u64,
    /// Entries found damaged and quarantined.
    pub quarantined: u64,
}

/// One spooled report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpoolEntry {
    pub report_id: String,
    pub payload: Vec<u8>,
}

/// The spool directory.
#[derive(Debug)]
pub struct Spool {
    dir: PathBuf,
    limits: SpoolLimits,
    stats: SpoolStats,
}

fn io<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> SpoolError + 'a {
    move |source| SpoolError::Io {
        action,
        path: path.to_owned(),
        source,
    }
}

fn sync_dir(dir: &Path) {
    if let Ok(dir) = File::open(dir) {
        let _ = dir.sync_all();
    }
}

fn digest(payload: &[u8]) -> [u8; 32] {
    let mut out = [0; 32];
    out.copy_from_slice(ring::digest::digest(&ring::digest::SHA256, payload).as_ref());
    out
}

/// The millisecond timestamp of a UUIDv7 report id.
fn report_time_ms(report_id: &str) -> Option<i64> {
    let (secs, nanos) = uuid::Uuid::parse_str(report_id)
        .ok()?
        .get_timestamp()?
        .to_unix();
    i64::try_from(secs)
        .ok()
        .map(|s| s * 1000 + i64::from(nanos / 1_000_000))
}

impl Spool {
    /// Opens (creating) the spool in `dir`; removes temporary files a crash
    /// left behind.
    ///
    /// # Errors
    /// When the directories cannot be created.
    pub fn open(dir: &Path, limits: SpoolLimits) -> Result<Self, SpoolError> {
        // Reports stay private to the agent: directories 0700, entries 0600.
        let mut builder = fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        for sub in ["", "tmp", "quarantine"] {
            let path = dir.join(sub);
            builder.create(&path).map_err(io("create", &path))?;
        }
        if let Ok(entries) = fs::read_dir(dir.join("tmp")) {
            for entry in entries.flatten() {
                let _ = fs::remove_file(entry.path());
            }
        }
        let stats = fs::read(dir.join(STATS_FILE))
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default();
        Ok(Self {
            dir: dir.to_owned(),
            limits,
            stats,
        })
    }

    pub fn stats(&self) -> SpoolStats {
        self.stats
    }

    fn save_stats(&self) {
        let path = self.dir.join(STATS_FILE);
        let temporary = self.dir.join("tmp").join(STATS_FILE);
        let json = serde_json::to_vec(&self.stats).unwrap_or_default();
        if fs::write(&temporary, json).is_ok() {
            let _ = fs::rename(&temporary, &path);
        }
    }

    fn entry_path(&self, report_id: &str) -> PathBuf {
        self.dir.join(format!("{report_id}.{ENTRY_SUFFIX}"))
    }

    /// Entry files, oldest first, with their sizes.
    fn entries(&self) -> Vec<(String, u64)> {
        let Ok(read) = fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let mut entries: Vec<(String, u64)> = read
            .flatten()
            .filter_map(|entry| {
                let name = entry.file_name().to_string_lossy().into_owned();
                let id = name.strip_suffix(&format!(".{ENTRY_SUFFIX}"))?.to_owned();
                Some((id, entry.metadata().map(|m| m.len()).unwrap_or(0)))
            })
            .collect();
        entries.sort();
        entries
    }

    /// Reports waiting and the bytes they hold.
    pub fn depth(&self) -> (u64, u64) {
        let entries = self.entries();
        (
            entries.len() as u64,
            entries.iter().map(|(_, size)| size).sum(),
        )
    }

    /// Writes a report durably. Drops the oldest entries first if the spool
    /// would exceed its byte limit.
    ///
    /// # Errors
    /// When the report cannot be written (disk full, permissions): the
    /// caller keeps it in memory and retries.
    pub fn push(&mut self, report_id: &str, payload: &[u8]) -> Result<(), SpoolError> {
        let size = (HEADER_BYTES + payload.len()) as u64;
        if size > self.limits.max_bytes {
            return Err(SpoolError::TooLarge(payload.len()));
        }
        let mut entries = self.entries();
        let mut total: u64 = entries.iter().map(|(_, s)| s).sum();
        let mut dropped = 0;
        while total + size > self.limits.max_bytes && !entries.is_empty() {
            let (oldest, oldest_size) = entries.remove(0);
            if fs::remove_file(self.entry_path(&oldest)).is_ok() {
                total -= oldest_size;
                dropped += 1;
            }
        }
        if dropped > 0 {
            self.stats.dropped += dropped;
            self.save_stats();
            tracing::warn!(dropped, "spool full: oldest reports dropped");
        }
        let temporary = self.dir.join("tmp").join(format!("{report_id}.tmp"));
        let mut options = OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&temporary).map_err(io("create", &temporary))?;
        let length =
            u32::try_from(payload.len()).map_err(|_| SpoolError::TooLarge(payload.len()))?;
        let mut bytes = Vec::with_capacity(HEADER_BYTES + payload.len());
        bytes.extend_from_slice(MAGIC);
        bytes.extend_from_slice(&length.to_be_bytes());
        bytes.extend_from_slice(&digest(payload));
        bytes.extend_from_slice(payload);
        let written = file.write_all(&bytes).and_then(|()| file.sync_all());
        if let Err(source) = written {
            let _ = fs::remove_file(&temporary);
            return Err(SpoolError::Io {
                action: "write",
                path: temporary,
                source,
            });
        }
        let path = self.entry_path(report_id);
        fs::rename(&temporary, &path).map_err(io("rename", &path))?;
        sync_dir(&self.dir);
        Ok(())
    }

    /// Drops entries older than the age limit at `now_unix_ms`; returns how
    /// many.
    pub fn expire(&mut self, now_unix_ms: i64) -> u64 {
        let mut dropped = 0;
        for (id, _) in self.entries() {
            let too_old =
                report_time_ms(&id).is_some_and(|t| now_unix_ms - t > self.limits.max_age_ms);
            if too_old && fs::remove_file(self.entry_path(&id)).is_ok() {
                dropped += 1;
            }
        }
        if dropped > 0 {
            self.stats.dropped += dropped;
            self.save_stats();
            tracing::warn!(dropped, "reports older than the spool's age limit dropped");
        }
        dropped
    }

    /// Up to `limit` entries, oldest first. Damaged entries are quarantined
    /// on the way.
    pub fn oldest(&mut self, limit: usize) -> Vec<SpoolEntry> {
        let mut batch = Vec::new();
        for (id, _) in self.entries() {
            if batch.len() >= limit {
                break;
            }
            match self.read_entry(&id) {
                Ok(payload) => batch.push(SpoolEntry {
                    report_id: id,
                    payload,
                }),
                Err(reason) => self.quarantine(&id, &reason),
            }
        }
        batch
    }

    fn read_entry(&self, report_id: &str) -> Result<Vec<u8>, String> {
        let mut bytes = Vec::new();
        File::open(self.entry_path(report_id))
            .and_then(|mut f| f.read_to_end(&mut bytes))
            .map_err(|e| e.to_string())?;
        parse_entry(&bytes).map(<[u8]>::to_vec)
    }

    fn quarantine(&mut self, report_id: &str, reason: &str) {
        let from = self.entry_path(report_id);
        let to = self
            .dir
            .join("quarantine")
            .join(format!("{report_id}.{ENTRY_SUFFIX}"));
        if fs::rename(&from, &to).is_err() {
            let _ = fs::remove_file(&from);
        }
        self.stats.quarantined += 1;
        self.save_stats();
        tracing::warn!(
            report = report_id,
            reason,
            "damaged spool entry quarantined"
        );
    }

    /// Removes acknowledged entries.
    pub fn remove(&mut self, report_ids: &[String]) {
        for id in report_ids {
            let _ = fs::remove_file(self.entry_path(id));
        }
        sync_dir(&self.dir);
    }
}

/// The payload of a spool entry's bytes: magic, length and SHA-256 checked.
///
/// # Errors
/// What is wrong with the entry (it is then quarantined).
pub fn parse_entry(bytes: &[u8]) -> Result<&[u8], String> {
    if bytes.len() < HEADER_BYTES || &bytes[..4] != MAGIC {
        return Err("truncated or not a spool entry".into());
    }
    let length = u32::from_be_bytes(bytes[4..8].try_into().expect("4 bytes")) as usize;
    let payload = &bytes[HEADER_BYTES..];
    if payload.len() != length {
        return Err(format!(
            "length {} where the header says {length}",
            payload.len()
        ));
    }
    if digest(payload) != bytes[8..40] {
        return Err("checksum mismatch".into());
    }
    Ok(payload)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id() -> String {
        uuid::Uuid::now_v7().to_string()
    }

    fn limits() -> SpoolLimits {
        SpoolLimits {
            max_bytes: 10_000,
            max_age_ms: 86_400_000,
        }
    }

    #[test]
    fn reports_come_back_oldest_first_until_acknowledged() {
        let dir = tempfile::tempdir().unwrap();
        let mut spool = Spool::open(dir.path(), limits()).unwrap();
        let ids: Vec<String> = (0..3).map(|_| id()).collect();
        for (i, id) in ids.iter().enumerate() {
            spool.push(id, &[u8::try_from(i).unwrap(); 10]).unwrap();
        }
        let batch = spool.oldest(2);
        assert_eq!(
            batch
                .iter()
                .map(|e| e.report_id.clone())
                .collect::<Vec<_>>(),
            ids[..2]
        );
        assert_eq!(batch[1].payload, vec![1; 10]);
        spool.remove(&ids[..2]);
        let reopened = Spool::open(dir.path(), limits()).unwrap();
        assert_eq!(
            reopened.depth().0,
            1,
            "what is not acknowledged survives a restart"
        );
    }

    #[test]
    fn a_full_spool_drops_the_oldest_and_counts_them() {
        let dir = tempfile::tempdir().unwrap();
        let mut spool = Spool::open(
            dir.path(),
            SpoolLimits {
                max_bytes: 3 * (HEADER_BYTES as u64 + 100),
                ..limits()
            },
        )
        .unwrap();
        let ids: Vec<String> = (0..5).map(|_| id()).collect();
        for id in &ids {
            spool.push(id, &[7; 100]).unwrap();
        }
        let kept: Vec<String> = spool.oldest(10).into_iter().map(|e| e.report_id).collect();
        assert_eq!(kept, ids[2..]);
        assert_eq!(spool.stats().dropped, 2);
        assert_eq!(
            Spool::open(dir.path(), limits()).unwrap().stats().dropped,
            2,
            "persisted"
        );
    }

    #[test]
    fn damaged_entries_are_quarantined_and_the_rest_delivered() {
        let dir = tempfile::tempdir().unwrap();
        let mut spool = Spool::open(dir.path(), limits()).unwrap();
        let (truncated, flipped, good) = (id(), id(), id());
        for id in [&truncated, &flipped, &good] {
            spool.push(id, b"a report payload").unwrap();
        }
        let path = |id: &str| dir.path().join(format!("{id}.rpt"));
        let bytes = fs::read(path(&truncated)).unwrap();
        fs::write(path(&truncated), &bytes[..bytes.len() - 3]).unwrap();
        let mut bytes = fs::read(path(&flipped)).unwrap();
        *bytes.last_mut().unwrap() ^= 0xff;
        fs::write(path(&flipped), bytes).unwrap();
        let batch = spool.oldest(10);
        assert_eq!(batch.len(), 1);
        assert_eq!(batch[0].report_id, good);
        assert_eq!(spool.stats().quarantined, 2);
        assert!(
            dir.path()
                .join("quarantine")
                .join(format!("{truncated}.rpt"))
                .exists()
        );
    }

    #[test]
    fn entries_past_the_age_limit_expire() {
        let dir = tempfile::tempdir().unwrap();
        let mut spool = Spool::open(dir.path(), limits()).unwrap();
        spool.push(&id(), b"x").unwrap();
        let now = report_time_ms(&id()).unwrap();
        assert_eq!(spool.expire(now), 0);
        assert_eq!(spool.expire(now + 2 * 86_400_000), 1);
        assert_eq!(spool.stats().dropped, 1);
    }

    #[test]
    fn a_crash_mid_write_leaves_no_partial_entry() {
        let dir = tempfile::tempdir().unwrap();
        Spool::open(dir.path(), limits()).unwrap();
        // What a SIGKILL between write and rename leaves behind.
        fs::write(
            dir.path().join("tmp").join(format!("{}.tmp", id())),
            b"SBS1\0\0",
        )
        .unwrap();
        let mut spool = Spool::open(dir.path(), limits()).unwrap();
        assert!(spool.oldest(10).is_empty());
        assert_eq!(fs::read_dir(dir.path().join("tmp")).unwrap().count(), 0);
    }
}
