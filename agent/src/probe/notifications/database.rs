//! Notification counts from the Windows and macOS notification databases.
//!
//! Windows keeps each user's notifications in `wpndatabase.db`, macOS in the
//! Notification Center database `db2/db`: SQLite files the system keeps open
//! in WAL mode. They are opened read-only, and only ids, arrival times and the
//! sending application's identifier are selected — never `Payload` or `data`,
//! which hold the notifications' text.
//!
//! The system deletes a row when its notification is dismissed or expires, so
//! the agent reads the database every few minutes and [`NotificationDb`]
//! remembers what it has already counted.

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::ffi::ErrorCode;
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};

use super::{Notified, categorize};

/// How long a read waits for a lock the system holds before giving up until
/// the next read: the system's writes take milliseconds.
const BUSY_TIMEOUT: Duration = Duration::from_millis(500);

/// How far back notifications are counted, and so how long counted ones are
/// remembered: older ones belong to days already reported.
pub const MEMORY_MS: i64 = 2 * 24 * 3_600_000;

/// Milliseconds from the FILETIME epoch (1601-01-01 UTC) to the Unix epoch.
const FILETIME_TO_UNIX_MS: i64 = 11_644_473_600_000;

/// Seconds from the Unix epoch to the Mac absolute time epoch (2001-01-01 UTC).
const MAC_EPOCH_UNIX_S: f64 = 978_307_200.0;

/// Toasts only: tiles and badges are not notifications shown to the user.
const WINDOWS_QUERY: &str = "SELECT n.Id, n.ArrivalTime, h.PrimaryId \
     FROM Notification AS n \
     LEFT JOIN NotificationHandler AS h ON h.RecordId = n.HandlerId \
     WHERE n.Type = 'toast'";

/// Delivered records only: a record without a delivery date was not shown.
/// Those delivered quietly (`presented` 0, e.g. during Focus) count, as do
/// Windows toasts that go straight to the Action Center.
const MACOS_QUERY: &str = "SELECT r.rec_id, r.delivered_date, a.identifier \
     FROM record AS r \
     LEFT JOIN app AS a ON a.app_id = r.app_id \
     WHERE r.delivered_date IS NOT NULL";

/// The tables and columns each query needs, checked before it runs so that a
/// layout changed by a system update gives a clear error.
const WINDOWS_LAYOUT: [(&str, &[&str]); 2] = [
    ("Notification", &["Id", "HandlerId", "Type", "ArrivalTime"]),
    ("NotificationHandler", &["RecordId", "PrimaryId"]),
];
const MACOS_LAYOUT: [(&str, &[&str]); 2] = [
    ("record", &["rec_id", "app_id", "delivered_date"]),
    ("app", &["app_id", "identifier"]),
];

/// Which system's notification database a file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DbKind {
    /// `wpndatabase.db`, Windows 10 and 11.
    Windows,
    /// The Notification Center's `db2/db`, macOS.
    MacOs,
}

impl DbKind {
    fn query(self) -> &'static str {
        match self {
            Self::Windows => WINDOWS_QUERY,
            Self::MacOs => MACOS_QUERY,
        }
    }

    fn layout(self) -> &'static [(&'static str, &'static [&'static str])] {
        match self {
            Self::Windows => &WINDOWS_LAYOUT,
            Self::MacOs => &MACOS_LAYOUT,
        }
    }

    /// An arrival time as stored (Windows FILETIME ticks, Mac absolute time
    /// seconds) in Unix milliseconds; `None` for a value that is no time.
    fn unix_ms(self, value: ValueRef<'_>) -> Option<i64> {
        match (self, value) {
            (Self::Windows, ValueRef::Integer(ticks)) => {
                Some(ticks.div_euclid(10_000) - FILETIME_TO_UNIX_MS)
            }
            (Self::MacOs, ValueRef::Real(seconds)) => mac_time_ms(seconds),
            // REAL columns may hand back whole numbers as integers.
            (Self::MacOs, ValueRef::Integer(seconds)) => mac_time_ms(seconds as f64),
            _ => None,
        }
    }
}

impl fmt::Display for DbKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Windows => "Windows",
            Self::MacOs => "macOS",
        })
    }
}

fn mac_time_ms(seconds: f64) -> Option<i64> {
    seconds
        .is_finite()
        .then(|| ((seconds + MAC_EPOCH_UNIX_S) * 1000.0).round() as i64)
}

/// Why a notification database could not be read. Each message names the
/// file and what to do; none is fatal to the agent.
#[derive(Debug, thiserror::Error)]
pub enum NotificationDbError {
    #[error(
        "{path} does not exist: no {kind} notification database is there (another system \
         version, or a profile that never showed a notification), so none is counted from it; \
         check the path"
    )]
    Missing { kind: DbKind, path: PathBuf },
    #[error(
        "{path} stayed locked by the system for {ms} ms: its notifications are counted at the \
         next read",
        ms = BUSY_TIMEOUT.as_millis()
    )]
    Locked { path: PathBuf },
    #[error(
        "cannot open {path} read-only ({source}): run the agent as the user who owns it{hint}",
        hint = access_hint(*kind)
    )]
    Unreadable {
        kind: DbKind,
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error(
        "{path} is not laid out as the {kind} notification database the agent knows ({detail}), \
         perhaps since a system update: its notifications are not counted until the agent supports \
         the new layout; report the system version to the Sobrio maintainers"
    )]
    UnknownLayout {
        kind: DbKind,
        path: PathBuf,
        detail: String,
    },
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: rusqlite::Error,
    },
}

fn access_hint(kind: DbKind) -> &'static str {
    match kind {
        DbKind::Windows => "",
        // macOS guards the usernoted group container with privacy controls.
        DbKind::MacOs => {
            ", and give it Full Disk Access (System Settings, Privacy & Security, Full Disk Access)"
        }
    }
}

/// One row: the notification's id, its arrival in Unix ms, its application.
type Row = (i64, i64, String);

/// Reads one notification database, returning each notification once.
#[derive(Debug)]
pub struct NotificationDb {
    kind: DbKind,
    path: PathBuf,
    /// Notifications already counted, as (arrival in Unix ms, id): the id
    /// alone is reused once its row is deleted.
    seen: BTreeSet<(i64, i64)>,
    /// Notifications that arrived before this Unix ms are not counted. It only
    /// moves forward, so forgetting what is older never counts a row twice.
    floor: i64,
}

impl NotificationDb {
    pub fn new(kind: DbKind, path: impl Into<PathBuf>) -> Self {
        Self {
            kind,
            path: path.into(),
            seen: BTreeSet::new(),
            floor: i64::MIN,
        }
    }

    /// The reader of the first of [`default_paths`] of `home` that exists.
    pub fn find(home: &Path) -> Option<Self> {
        default_paths(home)
            .into_iter()
            .find(|(_, path)| path.is_file())
            .map(|(kind, path)| Self::new(kind, path))
    }

    /// Counts only notifications that arrived at or after `unix_ms`, e.g. the
    /// last read of a previous run, whose memory is lost.
    #[must_use]
    pub fn since(mut self, unix_ms: i64) -> Self {
        self.floor = self.floor.max(unix_ms);
        self
    }

    pub fn kind(&self) -> DbKind {
        self.kind
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The notifications not counted yet, oldest first.
    pub fn read_new(&mut self) -> Result<Vec<Notified>, NotificationDbError> {
        self.read_new_at(crate::platform::clock::now_unix_ms())
    }

    /// [`Self::read_new`] at `now_unix_ms`: notifications older than
    /// [`MEMORY_MS`] before it are neither counted nor remembered.
    pub fn read_new_at(&mut self, now_unix_ms: i64) -> Result<Vec<Notified>, NotificationDbError> {
        self.floor = self.floor.max(now_unix_ms.saturating_sub(MEMORY_MS));
        self.seen = self.seen.split_off(&(self.floor, i64::MIN));
        let mut new: Vec<Notified> = self
            .rows()?
            .into_iter()
            .filter(|&(id, at, _)| at >= self.floor && self.seen.insert((at, id)))
            .map(|(_, at, app)| Notified {
                at_unix_ms: at,
                category: categorize(&app),
            })
            .collect();
        new.sort_by_key(|notified| notified.at_unix_ms);
        Ok(new)
    }

    fn rows(&self) -> Result<Vec<Row>, NotificationDbError> {
        let connection = self.open()?;
        self.check_layout(&connection)?;
        let fail = |error| self.classify(error);
        let mut statement = connection.prepare(self.kind.query()).map_err(fail)?;
        let mut rows = statement.query([]).map_err(fail)?;
        let mut found = Vec::new();
        while let Some(row) = rows.next().map_err(fail)? {
            let ValueRef::Integer(id) = row.get_ref(0).map_err(fail)? else {
                continue;
            };
            let Some(at) = self.kind.unix_ms(row.get_ref(1).map_err(fail)?) else {
                continue;
            };
            let app = match row.get_ref(2).map_err(fail)? {
                ValueRef::Text(text) => String::from_utf8_lossy(text).into_owned(),
                _ => String::new(),
            };
            found.push((id, at, app));
        }
        Ok(found)
    }

    fn open(&self) -> Result<Connection, NotificationDbError> {
        // A read-only open would fail on a missing file too, but less clearly.
        if matches!(self.path.try_exists(), Ok(false)) {
            return Err(NotificationDbError::Missing {
                kind: self.kind,
                path: self.path.clone(),
            });
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let opened = match read_only_uri(&self.path) {
            Some(uri) => Connection::open_with_flags(uri, flags | OpenFlags::SQLITE_OPEN_URI),
            // A path that is not Unicode cannot be written as a URI.
            None => Connection::open_with_flags(&self.path, flags),
        };
        let connection = opened.map_err(|error| self.classify(error))?;
        connection
            .busy_timeout(BUSY_TIMEOUT)
            .map_err(|error| self.classify(error))?;
        Ok(connection)
    }

    fn check_layout(&self, connection: &Connection) -> Result<(), NotificationDbError> {
        let fail = |error| self.classify(error);
        let mut statement = connection
            .prepare("SELECT name FROM pragma_table_info(?1)")
            .map_err(fail)?;
        for (table, columns) in self.kind.layout() {
            let present = statement
                .query_map([table], |row| row.get::<_, String>(0))
                .and_then(Iterator::collect::<Result<Vec<_>, _>>)
                .map_err(fail)?;
            let detail = if present.is_empty() {
                format!("no table {table}")
            } else if let Some(column) = columns
                .iter()
                .find(|column| !present.iter().any(|p| p.eq_ignore_ascii_case(column)))
            {
                format!("table {table} has no column {column}")
            } else {
                continue;
            };
            return Err(self.unknown_layout(detail));
        }
        Ok(())
    }

    fn unknown_layout(&self, detail: String) -> NotificationDbError {
        NotificationDbError::UnknownLayout {
            kind: self.kind,
            path: self.path.clone(),
            detail,
        }
    }

    fn classify(&self, error: rusqlite::Error) -> NotificationDbError {
        let path = self.path.clone();
        match error.sqlite_error_code() {
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => {
                NotificationDbError::Locked { path }
            }
            Some(ErrorCode::NotADatabase) => self.unknown_layout("not an SQLite database".into()),
            // ReadOnly: a WAL whose shared memory a read-only reader cannot set up.
            Some(ErrorCode::CannotOpen | ErrorCode::PermissionDenied | ErrorCode::ReadOnly) => {
                NotificationDbError::Unreadable {
                    kind: self.kind,
                    path,
                    source: error,
                }
            }
            _ => NotificationDbError::Read {
                path,
                source: error,
            },
        }
    }
}

/// `path` as an SQLite URI that opens it read-only, with the characters URIs
/// give a meaning (`?`, `#`, `%`, spaces…) escaped; `None` for a path that is
/// not Unicode, relative or a network share, opened without a URI.
fn read_only_uri(path: &Path) -> Option<String> {
    let text = path.to_str()?;
    let mut uri = match text.as_bytes() {
        [b'/', rest @ ..] if !rest.starts_with(b"/") => String::from("file://"),
        // A Windows drive: file:///C:/…
        [drive, b':', b'\\' | b'/', ..] if drive.is_ascii_alphabetic() => String::from("file:///"),
        _ => return None,
    };
    for byte in text.bytes() {
        match byte {
            b'\\' if cfg!(windows) => uri.push('/'),
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'/' | b':' | b'-' | b'.' | b'_' | b'~' => {
                uri.push(char::from(byte));
            }
            _ => uri.push_str(&format!("%{byte:02X}")),
        }
    }
    uri.push_str("?mode=ro");
    Some(uri)
}

/// Where the notification databases of the user whose home is `home` are,
/// for both systems (only the running system's can exist), newest layout
/// first: Windows' `%LOCALAPPDATA%` is taken at its default place under the
/// home. On macOS, the database before macOS 15 lies under the agent's own
/// `getconf DARWIN_USER_DIR`, not under the home; see [`legacy_macos_path`].
pub fn default_paths(home: &Path) -> Vec<(DbKind, PathBuf)> {
    let under = |parts: &[&str]| {
        parts
            .iter()
            .fold(home.to_path_buf(), |path, part| path.join(part))
    };
    let mut paths = vec![
        (
            DbKind::Windows,
            under(&[
                "AppData",
                "Local",
                "Microsoft",
                "Windows",
                "Notifications",
                "wpndatabase.db",
            ]),
        ),
        (
            DbKind::MacOs,
            under(&[
                "Library",
                "Group Containers",
                "group.com.apple.usernoted",
                "db2",
                "db",
            ]),
        ),
    ];
    paths.extend(darwin_user_dir().map(|dir| (DbKind::MacOs, legacy_macos_path(&dir))));
    paths
}

/// The Notification Center database before macOS 15, under the per-user
/// folder that `getconf DARWIN_USER_DIR` prints (`/var/folders/…/0/`).
pub fn legacy_macos_path(darwin_user_dir: &Path) -> PathBuf {
    darwin_user_dir
        .join("com.apple.notificationcenter")
        .join("db2")
        .join("db")
}

/// The agent's own `DARWIN_USER_DIR`.
#[cfg(target_os = "macos")]
fn darwin_user_dir() -> Option<PathBuf> {
    let output = crate::platform::command::run(
        "notifications",
        std::process::Command::new("/usr/bin/getconf").arg("DARWIN_USER_DIR"),
        crate::platform::command::Limits::DEFAULT,
    )
    .ok()?;
    let text = String::from_utf8(output.stdout).ok()?;
    let text = text.trim();
    (output.status.success() && !text.is_empty()).then(|| PathBuf::from(text))
}

/// Elsewhere there is no `DARWIN_USER_DIR`.
#[cfg(not(target_os = "macos"))]
fn darwin_user_dir() -> Option<PathBuf> {
    None
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, HashMap};

    use super::super::NotificationCategory::{self, Calendar, Chat, Mail, Other};
    use super::*;

    const WINDOWS_FIXTURE: &str = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/notifications/wpndatabase.sql"
    ));
    const MACOS_FIXTURE: &str = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/notifications/macos-db2.sql"
    ));

    fn ms(text: &str) -> i64 {
        text.parse::<jiff::Timestamp>().unwrap().as_millisecond()
    }

    /// The morning after the fixtures' day: every row is less than two days old.
    fn now() -> i64 {
        ms("2025-03-11T09:00:00Z")
    }

    fn filetime(text: &str) -> i64 {
        (ms(text) + FILETIME_TO_UNIX_MS) * 10_000
    }

    fn mac_time(text: &str) -> f64 {
        (ms(text) / 1000) as f64 - MAC_EPOCH_UNIX_S
    }

    /// A database built from a fixture in a fresh folder, as the system
    /// leaves it (`wpndatabase.db` or `db2/db`).
    fn fixture(kind: DbKind) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let (name, sql) = match kind {
            DbKind::Windows => ("wpndatabase.db", WINDOWS_FIXTURE),
            DbKind::MacOs => ("db", MACOS_FIXTURE),
        };
        let path = dir.path().join(name);
        Connection::open(&path).unwrap().execute_batch(sql).unwrap();
        (dir, path)
    }

    fn writer(path: &Path) -> Connection {
        Connection::open(path).unwrap()
    }

    /// A toast as Windows adds one, expiring three days later.
    fn add_toast(db: &Connection, id: i64, handler: i64, at: &str) {
        db.execute(
            "INSERT INTO Notification (Id, HandlerId, ActivityId, Type, Payload, Tag, [Group], \
             ExpiryTime, ArrivalTime, PayloadType) \
             VALUES (?1, ?2, zeroblob(16), 'toast', CAST('<toast>new</toast>' AS BLOB), 't', 'g', \
             ?3 + 2592000000000, ?3, 'Xml')",
            (id, handler, filetime(at)),
        )
        .unwrap();
    }

    fn add_record(db: &Connection, app: i64, at: &str) {
        db.execute(
            "INSERT INTO record (app_id, uuid, data, request_date, request_last_date, \
             delivered_date, presented, style) \
             VALUES (?1, randomblob(16), CAST('bplist00' AS BLOB), ?2, ?2, ?2, 1, 1)",
            (app, mac_time(at)),
        )
        .unwrap();
    }

    fn per_hour(notified: &[Notified]) -> BTreeMap<String, usize> {
        let mut hours = BTreeMap::new();
        for n in notified {
            let at = jiff::Timestamp::from_millisecond(n.at_unix_ms).unwrap();
            *hours
                .entry(at.strftime("%Y-%m-%d %Hh").to_string())
                .or_default() += 1;
        }
        hours
    }

    fn per_category(notified: &[Notified]) -> BTreeMap<NotificationCategory, usize> {
        let mut categories = BTreeMap::new();
        for n in notified {
            *categories.entry(n.category).or_default() += 1;
        }
        categories
    }

    fn counts<K: Ord + Clone>(pairs: &[(K, usize)]) -> BTreeMap<K, usize> {
        pairs.iter().cloned().collect()
    }

    #[test]
    fn windows_toasts_are_counted_by_hour_and_category() {
        let (_dir, path) = fixture(DbKind::Windows);
        let mut db = NotificationDb::new(DbKind::Windows, &path);
        let notified = db.read_new_at(now()).unwrap();
        // Ten toasts; the Teams badge and the Store tile are not counted. Two
        // toasts have payloads that are not UTF-8 (4 MiB of random bytes,
        // UTF-16 XML): they count like the others, as payloads are not read.
        assert_eq!(
            per_hour(&notified),
            counts(&[
                ("2025-03-10 08h".to_owned(), 3), // Outlook, Teams, Teams
                ("2025-03-10 09h".to_owned(), 2), // Slack, Calendar
                ("2025-03-10 14h".to_owned(), 3), // Edge, Windows Security, Outlook
                ("2025-03-10 23h".to_owned(), 1), // Slack
                ("2025-03-11 00h".to_owned(), 1), // Teams
            ])
        );
        assert_eq!(
            per_category(&notified),
            counts(&[(Chat, 5), (Mail, 2), (Calendar, 1), (Other, 2)])
        );
        assert!(notified.is_sorted_by_key(|n| n.at_unix_ms));
    }

    #[test]
    fn macos_deliveries_are_counted_by_hour_and_category() {
        let (_dir, path) = fixture(DbKind::MacOs);
        let mut db = NotificationDb::new(DbKind::MacOs, &path);
        let notified = db.read_new_at(now()).unwrap();
        // Eight records, one with `data` of 4 MiB that is no plist, one
        // delivered quietly (not presented).
        assert_eq!(
            per_hour(&notified),
            counts(&[
                ("2025-03-10 08h".to_owned(), 4), // Mail, Slack, Slack, Teams
                ("2025-03-10 10h".to_owned(), 2), // Outlook, Calendar
                ("2025-03-10 16h".to_owned(), 1), // Chrome
                ("2025-03-11 00h".to_owned(), 1), // Calendar
            ])
        );
        assert_eq!(
            per_category(&notified),
            counts(&[(Chat, 3), (Mail, 2), (Calendar, 2), (Other, 1)])
        );
    }

    #[test]
    fn arrival_times_become_unix_milliseconds() {
        let (_dir, path) = fixture(DbKind::Windows);
        let first = NotificationDb::new(DbKind::Windows, &path)
            .read_new_at(now())
            .unwrap()[0];
        // FILETIME 133860675127919237: 08:05:12.7919237, truncated to the ms.
        assert_eq!(
            first,
            Notified {
                at_unix_ms: ms("2025-03-10T08:05:12.791Z"),
                category: Mail
            }
        );
        let (_dir, path) = fixture(DbKind::MacOs);
        let first = NotificationDb::new(DbKind::MacOs, &path)
            .read_new_at(now())
            .unwrap()[0];
        // Mac absolute time 763286560.389117.
        assert_eq!(
            first,
            Notified {
                at_unix_ms: ms("2025-03-10T08:02:40.389Z"),
                category: Mail
            }
        );
        assert_eq!(
            DbKind::MacOs.unix_ms(ValueRef::Integer(0)),
            Some(ms("2001-01-01T00:00:00Z"))
        );
        assert_eq!(DbKind::MacOs.unix_ms(ValueRef::Real(f64::NAN)), None);
        assert_eq!(
            DbKind::Windows.unix_ms(ValueRef::Text(b"133860675127919237")),
            None
        );
    }

    #[test]
    fn a_second_read_returns_only_what_arrived_since() {
        for kind in [DbKind::Windows, DbKind::MacOs] {
            let (_dir, path) = fixture(kind);
            let mut db = NotificationDb::new(kind, &path);
            assert!(!db.read_new_at(now()).unwrap().is_empty());
            assert_eq!(db.read_new_at(now() + 300_000).unwrap(), [], "{kind}");
            let system = writer(&path);
            match kind {
                DbKind::Windows => add_toast(&system, 2001, 2, "2025-03-11T09:03:00Z"),
                DbKind::MacOs => add_record(&system, 1, "2025-03-11T09:03:00Z"),
            }
            assert_eq!(
                db.read_new_at(now() + 600_000).unwrap(),
                [Notified {
                    at_unix_ms: ms("2025-03-11T09:03:00Z"),
                    category: Mail
                }],
                "{kind}"
            );
            assert_eq!(db.read_new_at(now() + 900_000).unwrap(), [], "{kind}");
        }
    }

    #[test]
    fn a_deleted_then_new_row_with_the_same_id_is_counted_once() {
        // Windows: the dismissed toast's Id and Order come back.
        let (_dir, path) = fixture(DbKind::Windows);
        let mut db = NotificationDb::new(DbKind::Windows, &path);
        assert_eq!(db.read_new_at(now()).unwrap().len(), 10);
        let system = writer(&path);
        system
            .execute("DELETE FROM Notification WHERE Id = 1012", [])
            .unwrap();
        assert_eq!(db.read_new_at(now() + 300_000).unwrap(), []);
        add_toast(&system, 1012, 3, "2025-03-11T09:04:00Z");
        assert_eq!(
            system
                .query_row(
                    "SELECT [Order] FROM Notification WHERE Id = 1012",
                    [],
                    |r| { r.get::<_, i64>(0) }
                )
                .unwrap(),
            12
        );
        let again = db.read_new_at(now() + 600_000).unwrap();
        assert_eq!(
            again,
            [Notified {
                at_unix_ms: ms("2025-03-11T09:04:00Z"),
                category: Chat
            }]
        );
        assert_eq!(db.read_new_at(now() + 900_000).unwrap(), []);

        // macOS: SQLite gives the next record the deleted rec_id.
        let (_dir, path) = fixture(DbKind::MacOs);
        let mut db = NotificationDb::new(DbKind::MacOs, &path);
        assert_eq!(db.read_new_at(now()).unwrap().len(), 8);
        let system = writer(&path);
        system
            .execute("DELETE FROM record WHERE rec_id = 8", [])
            .unwrap();
        add_record(&system, 2, "2025-03-11T09:04:00Z");
        assert_eq!(system.last_insert_rowid(), 8);
        assert_eq!(
            db.read_new_at(now() + 300_000).unwrap(),
            [Notified {
                at_unix_ms: ms("2025-03-11T09:04:00Z"),
                category: Chat
            }]
        );
        assert_eq!(db.read_new_at(now() + 600_000).unwrap(), []);
    }

    #[test]
    fn memory_is_bounded_to_two_days() {
        let (_dir, path) = fixture(DbKind::Windows);
        let mut db = NotificationDb::new(DbKind::Windows, &path);
        // Read first at 2025-03-12 12:00: only what arrived from 2025-03-10
        // 12:00 counts (14h, 23h, 00h), what is older was reported already.
        let later = ms("2025-03-12T12:00:00Z");
        assert_eq!(db.read_new_at(later).unwrap().len(), 5);
        assert_eq!(db.seen.len(), 5);
        // A day on, the rows the system still keeps are neither remembered
        // nor counted again.
        assert_eq!(db.read_new_at(later + 24 * 3_600_000).unwrap(), []);
        assert!(db.seen.is_empty());
        // A clock set back does not bring them back.
        assert_eq!(db.read_new_at(now()).unwrap(), []);
    }

    #[test]
    fn since_skips_notifications_counted_by_an_earlier_run() {
        let (_dir, path) = fixture(DbKind::MacOs);
        let mut db = NotificationDb::new(DbKind::MacOs, &path).since(ms("2025-03-10T12:00:00Z"));
        let notified = db.read_new_at(now()).unwrap();
        assert_eq!(
            per_category(&notified),
            counts(&[(Calendar, 1), (Other, 1)])
        );
    }

    /// The columns of each table that `query` reads, from its bytecode.
    fn columns_read(db: &Connection, query: &str) -> BTreeSet<(String, String)> {
        let tables: HashMap<i64, String> = db
            .prepare("SELECT rootpage, name FROM sqlite_schema WHERE type = 'table'")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let program: Vec<(String, i64, i64)> = db
            .prepare(&format!("EXPLAIN {query}"))
            .unwrap()
            .query_map([], |r| Ok((r.get(1)?, r.get(2)?, r.get(3)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let cursors: HashMap<i64, &String> = program
            .iter()
            .filter(|(opcode, _, _)| opcode == "OpenRead")
            .filter_map(|(_, cursor, root)| Some((*cursor, tables.get(root)?)))
            .collect();
        let mut read = BTreeSet::new();
        for (opcode, cursor, column) in &program {
            if opcode != "Column" {
                continue;
            }
            let Some(table) = cursors.get(cursor) else {
                continue;
            };
            let name: String = db
                .query_row(
                    "SELECT name FROM pragma_table_info(?1) WHERE cid = ?2",
                    (table, column),
                    |r| r.get(0),
                )
                .unwrap();
            read.insert(((*table).clone(), name));
        }
        read
    }

    #[test]
    fn queries_never_read_the_text_of_notifications() {
        for query in [WINDOWS_QUERY, MACOS_QUERY] {
            let lower = query.to_lowercase();
            for word in ["payload", "data", "*"] {
                assert!(!lower.contains(word), "{query}");
            }
        }
        for (kind, text_column) in [
            (DbKind::Windows, ("Notification", "Payload")),
            (DbKind::MacOs, ("record", "data")),
        ] {
            let (_dir, path) = fixture(kind);
            let read = columns_read(&writer(&path), kind.query());
            let needed: BTreeSet<(String, String)> = kind
                .layout()
                .iter()
                .flat_map(|(table, columns)| {
                    columns
                        .iter()
                        .map(|c| ((*table).to_owned(), (*c).to_owned()))
                })
                .collect();
            // The analysis sees the columns read at all...
            assert!(read.len() >= 3, "{kind}: {read:?}");
            // ...and they are only ids, times and identifiers.
            assert!(read.is_subset(&needed), "{kind}: {read:?}");
            let (table, column) = text_column;
            assert!(!read.contains(&(table.to_owned(), column.to_owned())));
        }
    }

    #[test]
    fn the_database_is_read_while_the_system_writes_to_it_in_wal_mode() {
        let (_dir, path) = fixture(DbKind::Windows);
        let system = writer(&path);
        let mode: String = system
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        // Committed to the WAL, not yet to the database file.
        add_toast(&system, 2001, 1, "2025-03-11T08:50:00Z");
        // Being written, not committed.
        system.execute_batch("BEGIN IMMEDIATE").unwrap();
        add_toast(&system, 2002, 1, "2025-03-11T08:55:00Z");

        let mut db = NotificationDb::new(DbKind::Windows, &path);
        assert_eq!(db.read_new_at(now()).unwrap().len(), 11);
        system.execute_batch("COMMIT").unwrap();
        assert_eq!(
            db.read_new_at(now()).unwrap(),
            [Notified {
                at_unix_ms: ms("2025-03-11T08:55:00Z"),
                category: Chat
            }]
        );
    }

    #[test]
    fn a_locked_database_is_a_clear_error() {
        let (_dir, path) = fixture(DbKind::MacOs);
        let system = writer(&path);
        system.execute_batch("BEGIN EXCLUSIVE").unwrap();
        let mut db = NotificationDb::new(DbKind::MacOs, &path);
        let error = db.read_new_at(now()).unwrap_err();
        assert!(
            matches!(error, NotificationDbError::Locked { .. }),
            "{error:?}"
        );
        let message = error.to_string();
        assert!(message.contains(&path.display().to_string()), "{message}");
        assert!(message.contains("next read"), "{message}");
        system.execute_batch("ROLLBACK").unwrap();
        assert_eq!(db.read_new_at(now()).unwrap().len(), 8);
    }

    #[test]
    fn a_missing_file_is_a_clear_error_and_is_not_created() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wpndatabase.db");
        let mut db = NotificationDb::new(DbKind::Windows, &path);
        let error = db.read_new_at(now()).unwrap_err();
        assert!(
            matches!(error, NotificationDbError::Missing { .. }),
            "{error:?}"
        );
        assert!(
            error
                .to_string()
                .starts_with(&format!("{} does not exist", path.display()))
        );
        assert!(!path.exists());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn a_changed_layout_is_a_clear_error() {
        let (_dir, path) = fixture(DbKind::Windows);
        writer(&path)
            .execute_batch("ALTER TABLE Notification RENAME COLUMN ArrivalTime TO ArrivalTimeUtc")
            .unwrap();
        let error = NotificationDb::new(DbKind::Windows, &path)
            .read_new_at(now())
            .unwrap_err();
        assert!(
            matches!(error, NotificationDbError::UnknownLayout { .. }),
            "{error:?}"
        );
        let message = error.to_string();
        assert!(
            message.starts_with(&format!(
                "{} is not laid out as the Windows",
                path.display()
            )),
            "{message}"
        );
        assert!(
            message.contains("table Notification has no column ArrivalTime"),
            "{message}"
        );
        assert!(message.contains("system update"), "{message}");

        // A macOS database read as a Windows one, and one without `app`.
        let (_dir, path) = fixture(DbKind::MacOs);
        let error = NotificationDb::new(DbKind::Windows, &path)
            .read_new_at(now())
            .unwrap_err();
        assert!(
            error.to_string().contains("(no table Notification)"),
            "{error}"
        );
        writer(&path).execute_batch("DROP TABLE app").unwrap();
        let error = NotificationDb::new(DbKind::MacOs, &path)
            .read_new_at(now())
            .unwrap_err();
        assert!(error.to_string().contains("(no table app)"), "{error}");
    }

    #[test]
    fn a_file_that_is_not_a_database_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        std::fs::write(
            &path,
            "not a database, but long enough to have a header: ".repeat(4),
        )
        .unwrap();
        let error = NotificationDb::new(DbKind::MacOs, &path)
            .read_new_at(now())
            .unwrap_err();
        assert!(
            matches!(error, NotificationDbError::UnknownLayout { .. }),
            "{error:?}"
        );
        assert!(
            error.to_string().contains("not an SQLite database"),
            "{error}"
        );
    }

    #[test]
    fn paths_with_spaces_and_uri_characters_are_opened() {
        let (dir, built) = fixture(DbKind::MacOs);
        let folder = dir.path().join("Group Containers/a?b#c%20d&e=f");
        std::fs::create_dir_all(&folder).unwrap();
        let path = folder.join("db");
        std::fs::rename(&built, &path).unwrap();
        let uri = read_only_uri(&path).unwrap();
        assert!(uri.starts_with("file:///"), "{uri}");
        assert!(
            uri.ends_with("/Group%20Containers/a%3Fb%23c%2520d%26e%3Df/db?mode=ro"),
            "{uri}"
        );
        assert_eq!(
            read_only_uri(Path::new("C:/Users/anna/AppData/Local/wpndatabase.db")).as_deref(),
            Some("file:///C:/Users/anna/AppData/Local/wpndatabase.db?mode=ro")
        );
        // Opened without a URI, still read-only.
        assert_eq!(read_only_uri(Path::new("relative/db")), None);
        assert_eq!(read_only_uri(Path::new("//server/share/db")), None);
        let mut db = NotificationDb::new(DbKind::MacOs, &path);
        assert_eq!(db.read_new_at(now()).unwrap().len(), 8);
    }

    #[test]
    fn default_paths_under_a_home() {
        let home = Path::new("/Users/anna");
        let paths = default_paths(home);
        assert!(
            paths.contains(&(
                DbKind::Windows,
                home.join("AppData")
                    .join("Local")
                    .join("Microsoft")
                    .join("Windows")
                    .join("Notifications")
                    .join("wpndatabase.db")
            ))
        );
        assert_eq!(
            paths.iter().find(|(kind, _)| *kind == DbKind::MacOs),
            Some(&(
                DbKind::MacOs,
                PathBuf::from(
                    "/Users/anna/Library/Group Containers/group.com.apple.usernoted/db2/db"
                )
            ))
        );
        assert_eq!(
            legacy_macos_path(Path::new("/var/folders/zz/abc123/0/")),
            Path::new("/var/folders/zz/abc123/0/com.apple.notificationcenter/db2/db")
        );

        let (dir, _path) = fixture(DbKind::MacOs);
        assert!(NotificationDb::find(dir.path()).is_none());
        let folder = dir
            .path()
            .join("Library/Group Containers/group.com.apple.usernoted/db2");
        std::fs::create_dir_all(&folder).unwrap();
        std::fs::rename(dir.path().join("db"), folder.join("db")).unwrap();
        let db = NotificationDb::find(dir.path()).unwrap();
        assert_eq!(
            (db.kind(), db.path()),
            (DbKind::MacOs, folder.join("db").as_path())
        );
    }
}
