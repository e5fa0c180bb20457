//! Reclaimable storage: a scan of the configured roots that finds duplicate
//! files and counts files by cleanup category.
//!
//! Duplicates are sets of identical non-empty regular files, found as
//! `jdupes -r` finds them: symbolic links are not followed, hard links to one
//! file count once, unreadable files are left out. Files are grouped by size,
//! then by a hash of their first 4 KiB, then by a hash of their whole content
//! (XXH3-128).
//!
//! Categories are disjoint, tried in this order: trash, cache, temp, mail
//! archives, old downloads (in the download folder, older than 90 days),
//! stale (100 MB or more, not modified for 365 days). Duplicates may overlap
//! them.
//!
//! Paths stay on the device: the report carries totals only; the person sees
//! paths locally with `sobrio-agent storage`.

pub mod volumes;

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

/// Limits of one storage scan: the `[scan]` section of the agent's
/// configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScanConfig {
    /// Most bytes read to hash files in one scan (64 MiB to 1 TiB); files
    /// unchanged since an earlier scan are not read again.
    pub max_read_bytes: u64,
}

impl Default for ScanConfig {
    fn default() -> Self {
        Self {
            max_read_bytes: 4 << 30,
        }
    }
}

impl ScanConfig {
    /// # Errors
    /// When the bytes to read are outside 64 MiB to 1 TiB.
    pub fn validate(&self) -> Result<(), super::InvalidSetting> {
        if ((64 << 20)..=(1 << 40)).contains(&self.max_read_bytes) {
            Ok(())
        } else {
            Err(super::InvalidSetting {
                key: "scan.max_read_bytes",
                value: self.max_read_bytes.to_string(),
                expected: "expected 67108864 (64 MiB) to 1099511627776 (1 TiB)",
            })
        }
    }
}

/// Bytes hashed to split a size group before hashing whole files.
const PARTIAL_BYTES: usize = 4096;
/// Stale: at least this large…
pub const STALE_MIN_BYTES: u64 = 100 * 1000 * 1000;
/// …and not modified for this long.
pub const STALE_AGE: Duration = Duration::from_secs(365 * 86_400);
/// Downloads older than this are old downloads.
pub const OLD_DOWNLOAD_AGE: Duration = Duration::from_secs(90 * 86_400);

/// Names download folders take, by locale, when `user-dirs.dirs` says nothing.
const DOWNLOAD_FOLDERS: [&str; 7] = [
    "Downloads",
    "Téléchargements",
    "Descargas",
    "Download",
    "Scaricati",
    "Downloads",
    "Transferências",
];

/// Files and bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Totals {
    pub files: u64,
    pub bytes: u64,
}

impl Totals {
    fn add(&mut self, bytes: u64) {
        self.files += 1;
        self.bytes += bytes;
    }
}

/// Totals of duplicate sets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct DuplicateTotals {
    /// Sets of identical files.
    pub groups: u64,
    /// Every member of those sets.
    pub files: u64,
    /// What keeping one file per set frees.
    pub reclaimable_bytes: u64,
}

/// Totals by category (disjoint).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct CategoryTotals {
    pub temp: Totals,
    pub cache: Totals,
    pub trash: Totals,
    pub stale: Totals,
    pub mail_archives: Totals,
    pub old_downloads: Totals,
}

/// One set of identical files (local display only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DuplicateGroup {
    pub size_bytes: u64,
    pub paths: Vec<PathBuf>,
}

/// A large file not modified for a long time (local display only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StaleFile {
    pub path: PathBuf,
    pub size_bytes: u64,
}

/// What a scan found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ScanResult {
    pub duplicates: DuplicateTotals,
    pub categories: CategoryTotals,
    /// The largest duplicate sets by bytes to free, with paths.
    pub largest_duplicate_groups: Vec<DuplicateGroup>,
    /// The largest stale files, with paths.
    pub stale_files: Vec<StaleFile>,
    pub files_scanned: u64,
    /// Entries that could not be read (permissions, vanished files).
    pub errors: u64,
    /// Whether the scan finished within its budget.
    pub complete: bool,
}

/// A regular file met during the walk.
#[derive(Debug, Clone)]
struct Candidate {
    path: PathBuf,
    size: u64,
    inode: (u64, u64),
    modified_ns: i64,
}

/// Hashes of files seen in earlier scans, so that a file unchanged since
/// (same device, inode, size and modification time) is not read again.
#[derive(Debug, Default)]
pub struct HashCache {
    entries: HashMap<CacheKey, CachedHashes>,
    /// Keys met in the current scan; the others are dropped on save.
    seen: HashSet<CacheKey>,
    /// Bytes read from disk to hash, in the current scan.
    read_bytes: u64,
}

type CacheKey = (u64, u64, u64, i64);

#[derive(Debug, Clone, Copy, Default)]
struct CachedHashes {
    partial: Option<u128>,
    full: Option<u128>,
}

/// One cache record on disk: key (4 × 8 bytes), flags, two hashes.
const CACHE_RECORD: usize = 32 + 1 + 32;

impl HashCache {
    /// Loads a cache file; a missing or damaged one gives an empty cache.
    pub fn load(path: &Path) -> Self {
        let Ok(bytes) = std::fs::read(path) else {
            return Self::default();
        };
        let mut entries = HashMap::new();
        for record in bytes.chunks_exact(CACHE_RECORD) {
            let u64_at =
                |i: usize| u64::from_le_bytes(record[i..i + 8].try_into().expect("8 bytes"));
            let u128_at =
                |i: usize| u128::from_le_bytes(record[i..i + 16].try_into().expect("16 bytes"));
            let key = (
                u64_at(0),
                u64_at(8),
                u64_at(16),
                i64::from_le_bytes(record[24..32].try_into().expect("8 bytes")),
            );
            let flags = record[32];
            let hashes = CachedHashes {
                partial: (flags & 1 != 0).then(|| u128_at(33)),
                full: (flags & 2 != 0).then(|| u128_at(49)),
            };
            entries.insert(key, hashes);
        }
        Self {
            entries,
            seen: HashSet::new(),
            read_bytes: 0,
        }
    }

    /// Saves what the last scan met (atomically: temporary file, rename).
    ///
    /// # Errors
    /// When the file cannot be written.
    pub fn save(&mut self, path: &Path) -> std::io::Result<()> {
        let seen = std::mem::take(&mut self.seen);
        self.entries.retain(|key, _| seen.contains(key));
        let mut bytes = Vec::with_capacity(self.entries.len() * CACHE_RECORD);
        for (key, hashes) in &self.entries {
            bytes.extend_from_slice(&key.0.to_le_bytes());
            bytes.extend_from_slice(&key.1.to_le_bytes());
            bytes.extend_from_slice(&key.2.to_le_bytes());
            bytes.extend_from_slice(&key.3.to_le_bytes());
            bytes.push(u8::from(hashes.partial.is_some()) | (u8::from(hashes.full.is_some()) << 1));
            bytes.extend_from_slice(&hashes.partial.unwrap_or(0).to_le_bytes());
            bytes.extend_from_slice(&hashes.full.unwrap_or(0).to_le_bytes());
        }
        let temporary = path.with_extension("tmp");
        std::fs::write(&temporary, bytes)?;
        std::fs::rename(&temporary, path)
    }

    /// Files whose hashes are cached.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The hash of `candidate` (its first block, or all of it), from the
    /// cache or by reading the file.
    fn hash(&mut self, candidate: &Candidate, partial: bool) -> Option<u128> {
        let key = (
            candidate.inode.0,
            candidate.inode.1,
            candidate.size,
            candidate.modified_ns,
        );
        self.seen.insert(key);
        let cached = self.entries.entry(key).or_default();
        let slot = if partial {
            &mut cached.partial
        } else {
            &mut cached.full
        };
        if slot.is_none() {
            *slot = hash_file(&candidate.path, partial.then_some(PARTIAL_BYTES));
            self.read_bytes += if partial {
                candidate.size.min(PARTIAL_BYTES as u64)
            } else {
                candidate.size
            };
        }
        *slot
    }
}

/// Where each category lives, for one scan.
#[derive(Debug, Clone, Default)]
pub struct ScanContext {
    /// Temporary directories (`/tmp`, `/var/tmp`): everything below is temp.
    pub temp_dirs: Vec<PathBuf>,
    /// Download folders.
    pub download_dirs: Vec<PathBuf>,
}

impl ScanContext {
    /// Temporary directories of this system and the download folders of the
    /// homes among `roots`.
    pub fn for_roots(roots: &[PathBuf]) -> Self {
        let mut download_dirs = Vec::new();
        for root in roots {
            download_dirs.extend(download_dir(root));
            // A root holding homes (`/home`): each home's download folder.
            if let Ok(entries) = std::fs::read_dir(root) {
                for entry in entries.flatten() {
                    if entry.file_type().is_ok_and(|t| t.is_dir()) {
                        download_dirs.extend(download_dir(&entry.path()));
                    }
                }
            }
        }
        Self {
            temp_dirs: vec![PathBuf::from("/tmp"), PathBuf::from("/var/tmp")],
            download_dirs,
        }
    }
}

/// A file's identity, so that hard links count once: (device, inode) on
/// Unix.
#[cfg(unix)]
fn file_id(metadata: &std::fs::Metadata, _path: &Path) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    (metadata.dev(), metadata.ino())
}

/// Elsewhere a file is known by its path (stable between scans, for the
/// hash cache; a file reached twice through nested roots counts once).
#[cfg(not(unix))]
fn file_id(_metadata: &std::fs::Metadata, path: &Path) -> (u64, u64) {
    let bytes = path.as_os_str().as_encoded_bytes();
    (u64::MAX, xxhash_rust::xxh3::xxh3_64(bytes))
}

/// Modification time, ns since the Unix epoch (0 when unknown).
#[cfg(unix)]
fn modified_ns(metadata: &std::fs::Metadata) -> i64 {
    use std::os::unix::fs::MetadataExt;
    metadata.mtime() * 1_000_000_000 + metadata.mtime_nsec()
}

#[cfg(not(unix))]
fn modified_ns(metadata: &std::fs::Metadata) -> i64 {
    metadata
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .and_then(|d| i64::try_from(d.as_nanos()).ok())
        .unwrap_or(0)
}

/// The default roots on Windows: the profiles under `C:\Users` (all of
/// them: the service runs as LocalSystem) and the temporary folders.
#[cfg(windows)]
pub fn default_roots() -> Vec<PathBuf> {
    let drive = std::env::var_os("SystemDrive").unwrap_or_else(|| "C:".into());
    let drive = PathBuf::from(format!("{}\\", drive.to_string_lossy()));
    let mut roots = vec![drive.join("Users"), drive.join("Windows").join("Temp")];
    roots.extend(std::env::var_os("TEMP").map(PathBuf::from));
    roots.retain(|root| root.is_dir());
    roots.dedup();
    roots
}

/// The default roots: the home folders (all of them as root, else the
/// caller's) and the temporary folders.
#[cfg(not(windows))]
pub fn default_roots() -> Vec<PathBuf> {
    let is_root = crate::probe::accounts::own_uid() == Some(0);
    let mut roots = Vec::new();
    if is_root {
        roots.push(PathBuf::from("/home"));
    } else if let Some(home) = std::env::var_os("HOME") {
        roots.push(PathBuf::from(home));
    }
    roots.extend(["/tmp", "/var/tmp"].map(PathBuf::from));
    roots.retain(|root| root.is_dir());
    roots
}

/// The download folder of the home `home`: `XDG_DOWNLOAD_DIR` from
/// `~/.config/user-dirs.dirs`, else the first localised folder that exists.
pub fn download_dir(home: &Path) -> Option<PathBuf> {
    if let Ok(text) = std::fs::read_to_string(home.join(".config/user-dirs.dirs")) {
        let configured = text.lines().find_map(|line| {
            let value = line
                .trim()
                .strip_prefix("XDG_DOWNLOAD_DIR=")?
                .trim_matches('"');
            Some(match value.strip_prefix("$HOME/") {
                Some(rest) => home.join(rest),
                None => PathBuf::from(value),
            })
        });
        if let Some(dir) = configured.filter(|d| d.is_dir()) {
            return Some(dir);
        }
    }
    DOWNLOAD_FOLDERS
        .iter()
        .map(|name| home.join(name))
        .find(|dir| dir.is_dir())
}

fn has_component(path: &Path, names: &[&str]) -> bool {
    path.components()
        .any(|c| names.iter().any(|n| c.as_os_str() == *n))
}

/// The category of a file, if any.
fn categorise(
    path: &Path,
    size: u64,
    modified: Option<SystemTime>,
    now: SystemTime,
    context: &ScanContext,
) -> Option<Category> {
    let text = path.to_string_lossy();
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    let age = modified
        .and_then(|m| now.duration_since(m).ok())
        .unwrap_or_default();
    if text.contains("/.local/share/Trash/")
        || path
            .components()
            .any(|c| c.as_os_str().to_string_lossy().starts_with(".Trash-"))
        || has_component(path, &["$RECYCLE.BIN", ".Trash"])
    {
        return Some(Category::Trash);
    }
    if has_component(
        path,
        &[
            ".cache",
            "Cache",
            "cache2",
            "Code Cache",
            "GPUCache",
            ".thumbnails",
            "CacheStorage",
        ],
    ) {
        return Some(Category::Cache);
    }
    if context.temp_dirs.iter().any(|dir| path.starts_with(dir))
        || [".tmp", ".temp", ".swp"]
            .iter()
            .any(|ext| name.ends_with(ext))
        || name.starts_with("~$")
        || name.starts_with(".~lock.")
    {
        return Some(Category::Temp);
    }
    if [".pst", ".ost", ".mbox", ".mbx"]
        .iter()
        .any(|ext| name.ends_with(ext))
        || (has_component(path, &[".thunderbird", "Thunderbird"])
            && has_component(path, &["Mail", "ImapMail"]))
    {
        return Some(Category::MailArchives);
    }
    if age >= OLD_DOWNLOAD_AGE
        && context
            .download_dirs
            .iter()
            .any(|dir| path.starts_with(dir))
    {
        return Some(Category::OldDownloads);
    }
    if size >= STALE_MIN_BYTES && age >= STALE_AGE {
        return Some(Category::Stale);
    }
    None
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Category {
    Trash,
    Cache,
    Temp,
    MailArchives,
    OldDownloads,
    Stale,
}

/// Scans `roots` at once, with no budget and no cache. `progress` is called
/// now and then with files scanned so far (for a progress display).
pub fn scan(
    roots: &[PathBuf],
    context: &ScanContext,
    now: SystemTime,
    progress: impl FnMut(u64),
) -> ScanResult {
    scan_with(
        roots,
        context,
        now,
        ScanBudget::default(),
        &mut HashCache::default(),
        progress,
    )
}

/// What one scan may spend: wall time and bytes read to hash.
#[derive(Debug, Clone, Copy, Default)]
pub struct ScanBudget {
    pub deadline: Option<std::time::Instant>,
    pub max_read_bytes: Option<u64>,
}

/// Scans `roots` within `budget` (past it, the result is marked incomplete),
/// reading only files the cache does not know unchanged.
pub fn scan_with(
    roots: &[PathBuf],
    context: &ScanContext,
    now: SystemTime,
    budget: ScanBudget,
    cache: &mut HashCache,
    mut progress: impl FnMut(u64),
) -> ScanResult {
    cache.read_bytes = 0;
    let out_of_time = || {
        budget
            .deadline
            .is_some_and(|d| std::time::Instant::now() > d)
    };
    let mut result = ScanResult {
        complete: true,
        ..ScanResult::default()
    };
    let mut candidates = Vec::new();
    let mut seen_roots = HashSet::new();
    for root in roots {
        // The same tree given twice is scanned once.
        let Ok(canonical) = root.canonicalize() else {
            result.errors += 1;
            continue;
        };
        if !seen_roots.insert(canonical) {
            continue;
        }
        // Symbolic links are not followed, so nothing leads out of the roots,
        // and loops cannot form; other filesystems (network mounts) are skipped.
        let walker = walkdir::WalkDir::new(root)
            .follow_links(false)
            .same_file_system(true);
        for entry in walker {
            let Ok(entry) = entry else {
                result.errors += 1;
                continue;
            };
            if !entry.file_type().is_file() {
                continue;
            }
            let Ok(metadata) = entry.metadata() else {
                result.errors += 1;
                continue;
            };
            result.files_scanned += 1;
            if result.files_scanned.is_multiple_of(1000) {
                progress(result.files_scanned);
                if out_of_time() {
                    result.complete = false;
                    return result;
                }
            }
            let size = metadata.len();
            match categorise(entry.path(), size, metadata.modified().ok(), now, context) {
                Some(Category::Trash) => result.categories.trash.add(size),
                Some(Category::Cache) => result.categories.cache.add(size),
                Some(Category::Temp) => result.categories.temp.add(size),
                Some(Category::MailArchives) => result.categories.mail_archives.add(size),
                Some(Category::OldDownloads) => result.categories.old_downloads.add(size),
                Some(Category::Stale) => {
                    result.categories.stale.add(size);
                    result.stale_files.push(StaleFile {
                        path: entry.path().to_owned(),
                        size_bytes: size,
                    });
                }
                None => {}
            }
            if size > 0 {
                let inode = file_id(&metadata, entry.path());
                candidates.push(Candidate {
                    path: entry.into_path(),
                    size,
                    inode,
                    modified_ns: modified_ns(&metadata),
                });
            }
        }
    }
    progress(result.files_scanned);
    let Some(groups) = duplicate_groups(
        candidates,
        cache,
        &mut result.errors,
        &out_of_time,
        budget.max_read_bytes,
    ) else {
        result.complete = false;
        return result;
    };
    for group in &groups {
        let members = group.paths.len() as u64;
        result.duplicates.groups += 1;
        result.duplicates.files += members;
        result.duplicates.reclaimable_bytes += group.size_bytes * (members - 1);
    }
    let mut groups = groups;
    groups.sort_by_key(|g| std::cmp::Reverse(g.size_bytes * (g.paths.len() as u64 - 1)));
    groups.truncate(20);
    result.largest_duplicate_groups = groups;
    result
        .stale_files
        .sort_by_key(|f| std::cmp::Reverse(f.size_bytes));
    result.stale_files.truncate(20);
    result
}

/// Sets of identical files among `candidates`: one path per inode, then by
/// size, first block, whole content. `None` when time ran out.
fn duplicate_groups(
    candidates: Vec<Candidate>,
    cache: &mut HashCache,
    errors: &mut u64,
    out_of_time: &dyn Fn() -> bool,
    max_read_bytes: Option<u64>,
) -> Option<Vec<DuplicateGroup>> {
    let over_budget = |cache: &HashCache| {
        out_of_time() || max_read_bytes.is_some_and(|max| cache.read_bytes > max)
    };
    let mut inodes = HashSet::new();
    let mut by_size: HashMap<u64, Vec<Candidate>> = HashMap::new();
    for candidate in candidates {
        if inodes.insert(candidate.inode) {
            by_size.entry(candidate.size).or_default().push(candidate);
        }
    }
    let mut groups = Vec::new();
    for (size, files) in by_size {
        if files.len() < 2 {
            continue;
        }
        if over_budget(cache) {
            return None;
        }
        let mut by_partial: HashMap<u128, Vec<Candidate>> = HashMap::new();
        for file in files {
            if over_budget(cache) {
                return None;
            }
            match cache.hash(&file, true) {
                Some(hash) => by_partial.entry(hash).or_default().push(file),
                None => *errors += 1,
            }
        }
        for files in by_partial.into_values().filter(|f| f.len() > 1) {
            let same = if size as usize <= PARTIAL_BYTES {
                vec![files]
            } else {
                let mut by_full: HashMap<u128, Vec<Candidate>> = HashMap::new();
                for file in files {
                    if over_budget(cache) {
                        return None;
                    }
                    match cache.hash(&file, false) {
                        Some(hash) => by_full.entry(hash).or_default().push(file),
                        None => *errors += 1,
                    }
                }
                by_full.into_values().collect()
            };
            groups.extend(same.into_iter().filter(|f| f.len() > 1).map(|files| {
                let mut paths: Vec<PathBuf> = files.into_iter().map(|f| f.path).collect();
                paths.sort();
                DuplicateGroup {
                    size_bytes: size,
                    paths,
                }
            }));
        }
    }
    Some(groups)
}

/// XXH3-128 of a file's first `limit` bytes, or all of it. `None` when the
/// file cannot be read (permissions, vanished).
fn hash_file(path: &Path, limit: Option<usize>) -> Option<u128> {
    let mut file = File::open(path).ok()?;
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    let mut buffer = vec![0_u8; 64 * 1024];
    let mut remaining = limit.unwrap_or(usize::MAX);
    while remaining > 0 {
        let want = buffer.len().min(remaining);
        let read = file.read(&mut buffer[..want]).ok()?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
        remaining -= read;
    }
    Some(hasher.digest128())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn categories_are_disjoint_and_tried_in_order() {
        let now = SystemTime::now();
        let old = Some(now - Duration::from_secs(400 * 86_400));
        let context = ScanContext {
            temp_dirs: vec!["/tmp".into()],
            download_dirs: vec!["/home/a/Téléchargements".into()],
        };
        let cases = [
            (
                "/home/a/.local/share/Trash/files/x.tmp",
                Some(Category::Trash),
            ),
            ("/home/a/.cache/mozilla/big.pst", Some(Category::Cache)),
            ("/tmp/session", Some(Category::Temp)),
            ("/home/a/Documents/~$report.docx", Some(Category::Temp)),
            ("/home/a/Mail/archive.pst", Some(Category::MailArchives)),
            (
                "/home/a/.thunderbird/x.default/ImapMail/INBOX",
                Some(Category::MailArchives),
            ),
            (
                "/home/a/Téléchargements/setup.iso",
                Some(Category::OldDownloads),
            ),
            ("/home/a/Videos/holiday.mkv", Some(Category::Stale)),
        ];
        for (path, expected) in cases {
            assert_eq!(
                categorise(Path::new(path), 200_000_000, old, now, &context),
                expected,
                "{path}"
            );
        }
        assert_eq!(
            categorise(
                Path::new("/home/a/Videos/new.mkv"),
                200_000_000,
                Some(now),
                now,
                &context
            ),
            None
        );
        assert_eq!(
            categorise(
                Path::new("/home/a/Téléchargements/new.pdf"),
                10,
                Some(now),
                now,
                &context
            ),
            None
        );
    }

    #[test]
    fn a_second_scan_reads_only_what_changed_and_a_spent_budget_stops_it() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("files");
        std::fs::create_dir_all(&root).unwrap();
        for i in 0..6 {
            std::fs::write(
                root.join(format!("{i}")),
                vec![u8::try_from(i % 2).unwrap(); 10_000],
            )
            .unwrap();
        }
        let context = ScanContext::default();
        let now = SystemTime::now();
        let mut cache = HashCache::default();
        let first = scan_with(
            std::slice::from_ref(&root),
            &context,
            now,
            ScanBudget::default(),
            &mut cache,
            |_| {},
        );
        assert!(first.complete);
        assert_eq!((first.duplicates.groups, first.duplicates.files), (2, 6));
        let cache_path = dir.path().join("cache");
        cache.save(&cache_path).unwrap();
        let mut cache = HashCache::load(&cache_path);
        assert_eq!(cache.len(), 6);
        // New content behind the same size and time: the cache answers, the
        // file is not read (so its old grouping stays).
        let original = std::fs::metadata(root.join("0"))
            .unwrap()
            .modified()
            .unwrap();
        std::fs::write(root.join("0"), vec![9_u8; 10_000]).unwrap();
        File::options()
            .write(true)
            .open(root.join("0"))
            .unwrap()
            .set_modified(original)
            .unwrap();
        let second = scan_with(
            std::slice::from_ref(&root),
            &context,
            now,
            ScanBudget::default(),
            &mut cache,
            |_| {},
        );
        assert_eq!(second.duplicates, first.duplicates);
        // A file whose time changed is read again.
        File::options()
            .write(true)
            .open(root.join("0"))
            .unwrap()
            .set_modified(now)
            .unwrap();
        let third = scan_with(
            std::slice::from_ref(&root),
            &context,
            now,
            ScanBudget::default(),
            &mut cache,
            |_| {},
        );
        assert_eq!((third.duplicates.groups, third.duplicates.files), (2, 5));
        let spent = ScanBudget {
            deadline: Some(std::time::Instant::now() - Duration::from_secs(1)),
            max_read_bytes: None,
        };
        let late = scan_with(
            std::slice::from_ref(&root),
            &context,
            now,
            spent,
            &mut cache,
            |_| {},
        );
        assert!(!late.complete);
        // An I/O budget spent: changed files cannot all be read again.
        for i in 0..6 {
            std::fs::write(root.join(format!("{i}")), vec![7_u8; 10_000]).unwrap();
        }
        let tight = ScanBudget {
            deadline: None,
            max_read_bytes: Some(4096),
        };
        let starved = scan_with(
            std::slice::from_ref(&root),
            &context,
            now,
            tight,
            &mut HashCache::default(),
            |_| {},
        );
        assert!(!starved.complete);
    }

    #[test]
    fn the_download_folder_comes_from_user_dirs_or_a_localised_name() {
        let home = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(home.path().join("Téléchargements")).unwrap();
        assert_eq!(
            download_dir(home.path()),
            Some(home.path().join("Téléchargements"))
        );
        std::fs::create_dir_all(home.path().join(".config")).unwrap();
        std::fs::create_dir_all(home.path().join("Mes téléchargements")).unwrap();
        std::fs::write(
            home.path().join(".config/user-dirs.dirs"),
            "XDG_DOWNLOAD_DIR=\"$HOME/Mes téléchargements\"\n",
        )
        .unwrap();
        assert_eq!(
            download_dir(home.path()),
            Some(home.path().join("Mes téléchargements"))
        );
    }
}
