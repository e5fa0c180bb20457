//! The store: everything the collector keeps, behind one type.
//!
//! Two backends: SQLite (embedded default: WAL, one file in the data
//! directory) and PostgreSQL (for scale: several collector replicas share
//! it). Both run the same queries through sqlx's `Any` driver — written once,
//! with `$N` placeholders both accept — and differ only in their migrations
//! (`migrations/sqlite`, `migrations/postgres`) and in what their
//! [`Dialect`] says. Queries are built at run time, so building needs no database.
//!
//! The store knows rows, not protocol messages: ingest maps reports to
//! [`IncomingReport`]s. It maintains the rollups analysis reads (per-device
//! weeks, per-department active hours) in the same transaction as the rows
//! they summarise.

mod accounts;
mod admin;
mod analysis;
mod assets;
pub mod backup;
mod dialect;
mod disposals;
mod fleet;
mod indicators;
mod ingest;
mod jobs;
mod location;
mod moves;
mod pseudonyms;
mod sessions;
mod sql;

pub use accounts::{Principal, UserUpsert};
pub use admin::{EnrollmentTokenRow, UserRow};
pub use analysis::{
    Decision, DecisionError, LedgerEntry, MAX_REASON_CHARS, RecomputeOutcome, StoredSuggestion,
    SuggestionSnapshot,
};
pub use assets::{AssetExportRow, AssetImportOutcome, AssetRow, DeviceAge, DeviceIdentity};
pub use dialect::{Backend, Dialect, POSTGRES, SQLITE};
pub use disposals::DisposalRow;
pub use fleet::{DeviceListRow, DeviceSort};
pub use location::StoreLocation;
pub use moves::{DepartmentSpell, Move, PoolMember};
pub use pseudonyms::{Charged, PRIVACY_LINK_REFUSED};
pub use sessions::BrowserSession;
pub use sql::{DATABASE_FILE, Store};

pub use crate::domain::rfc3339;
pub use crate::lifecycle::TokenRefusal;

/// Errors of the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database could not be reached or answered with an error. The text
    /// is for logs; callers show a generic message.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// Migrations failed at start-up.
    #[error("database migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    /// The database file could not be created.
    #[error("cannot create database file {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    /// The database URL names a database the store does not support.
    #[error("unsupported database URL: expected sqlite://… or postgres://…")]
    UnsupportedUrl,
    /// Stored data is not what this version expects.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// The database was migrated by a newer collector.
    #[error(
        "the database's schema (version {database}) is newer than this collector's ({known}): \
         a newer Sobrio migrated it. Run that version (every replica: stop the older ones), \
         or restore a backup made before the upgrade"
    )]
    NewerSchema { database: i64, known: i64 },
}

impl crate::error::Coded for StoreError {
    fn code(&self) -> crate::error::ErrorCode {
        use crate::error::ErrorCode;
        match self {
            // The database refused or could not be reached: a caller
            // that retries later is served.
            Self::Database(
                sqlx::Error::Database(_)
                | sqlx::Error::PoolTimedOut
                | sqlx::Error::PoolClosed
                | sqlx::Error::Io(_)
                | sqlx::Error::Tls(_)
                | sqlx::Error::Protocol(_)
                | sqlx::Error::WorkerCrashed
                | sqlx::Error::BeginFailed,
            ) => ErrorCode::Unavailable,
            Self::UnsupportedUrl => ErrorCode::InvalidArgument,
            Self::Database(_) | Self::Migration(_) | Self::Io { .. } | Self::Corrupt(_) => {
                ErrorCode::Internal
            }
            Self::NewerSchema { .. } => ErrorCode::Unavailable,
        }
    }
}

/// Outcome of an enrollment attempt at the store.
#[derive(Debug, thiserror::Error)]
pub enum EnrollError {
    #[error(transparent)]
    Refused(#[from] TokenRefusal),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A new enrollment token, as stored (the token itself is never stored).
#[derive(Debug, Clone)]
pub struct NewToken {
    pub sha256: [u8; 32],
    pub department: String,
    pub created_unix_ms: i64,
    pub expires_unix_ms: i64,
    /// `None`: unlimited.
    pub max_uses: Option<i64>,
}

/// A device being enrolled.
#[derive(Debug, Clone)]
pub struct NewDevice {
    pub id: String,
    pub hostname: String,
    pub agent_version: String,
    pub enrolled_unix_ms: i64,
    pub certificate_serial: String,
    pub certificate_not_after_unix_ms: i64,
    /// Digest of the bearer secret used in plaintext development mode.
    pub bearer_secret_sha256: [u8; 32],
}

/// What authentication needs to know of a device.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DeviceCredentials {
    pub id: String,
    pub department: String,
    pub revoked_unix_ms: Option<i64>,
    pub bearer_secret_sha256: Vec<u8>,
}

/// One line of `device list`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DeviceSummary {
    pub id: String,
    pub hostname: String,
    pub department: String,
    /// RFC 3339; `null` before the first report.
    pub last_seen: Option<String>,
    /// Reports stored for the device.
    pub reports: i64,
    /// RFC 3339 when the device was revoked.
    pub revoked: Option<String>,
}

/// A validated report, ready to be stored, with the rows ingest derives.
#[derive(Debug, Clone)]
pub struct IncomingReport {
    pub report_id: String,
    pub collected_unix_ms: i64,
    /// The report as received, kept for reprocessing.
    pub payload: Vec<u8>,
    pub inventory: Option<InventoryRow>,
    pub usage: Vec<UsageHourRow>,
    pub storage: Option<StorageRow>,
    pub person_days: Vec<PersonDayRow>,
    /// (earlier pseudonym, current one) of people whose history follows
    /// them to their current pseudonym.
    pub pseudonym_links: Vec<(String, String)>,
}

/// One device's reports from one Submit call, as ingest hands them over.
#[derive(Debug, Clone)]
pub struct DeviceReports {
    pub device_id: String,
    pub department: String,
    pub reports: Vec<IncomingReport>,
}

/// Totals of a storage snapshot.
#[derive(Debug, Clone, Default, PartialEq, sqlx::FromRow)]
pub struct StorageRow {
    pub total_bytes: i64,
    pub used_bytes: i64,
    pub scanned_unix_ms: Option<i64>,
    pub duplicate_groups: Option<i64>,
    pub duplicate_files: Option<i64>,
    pub duplicate_bytes: Option<i64>,
    pub temp_bytes: Option<i64>,
    pub cache_bytes: Option<i64>,
    pub trash_bytes: Option<i64>,
    pub stale_bytes: Option<i64>,
    pub mail_archives_bytes: Option<i64>,
    pub old_downloads_bytes: Option<i64>,
}

/// One person's day as one device saw it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PersonDayRow {
    pub person_id: String,
    /// `YYYY-MM-DD`, the device's local date.
    pub day: String,
    pub meeting_minutes: Option<i64>,
    pub meeting_count: Option<i64>,
    pub conflicting_minutes: Option<i64>,
    pub back_to_back_count: Option<i64>,
    pub after_hours_meeting_minutes: Option<i64>,
    pub call_minutes: Option<i64>,
    pub notifications_total: Option<i64>,
    pub notifications_after_hours: Option<i64>,
    pub notifications_chat: Option<i64>,
    pub notifications_mail: Option<i64>,
    pub notifications_calendar: Option<i64>,
    pub notifications_other: Option<i64>,
    pub focus_minutes: Option<i64>,
    pub active_minutes: Option<i64>,
    pub after_hours_active_minutes: Option<i64>,
    pub weekend_active_minutes: Option<i64>,
}

impl PersonDayRow {
    /// Whether the row carries some figure above zero. A row of absent or
    /// zero values says nothing of a day: it neither counts a person nor
    /// places them in a group (sent by a device that is not theirs, it
    /// could otherwise move them).
    pub fn has_figures(&self) -> bool {
        [
            self.meeting_minutes,
            self.conflicting_minutes,
            self.back_to_back_count,
            self.after_hours_meeting_minutes,
            self.call_minutes,
            self.notifications_total,
            self.notifications_after_hours,
            self.focus_minutes,
            self.active_minutes,
            self.after_hours_active_minutes,
            self.weekend_active_minutes,
        ]
        .into_iter()
        .any(|value| value.is_some_and(|v| v > 0))
    }
}

/// A per-device weekly rollup.
#[derive(Debug, Clone, Default, PartialEq, sqlx::FromRow)]
pub struct DeviceWeek {
    pub device_id: String,
    /// Monday 00:00 UTC.
    pub week_start_unix_ms: i64,
    pub powered_hours: i64,
    /// Hours with at least 15 active minutes.
    pub active_hours: i64,
    /// Hours whose CPU p95 was at least 90%.
    pub cpu_hot_hours: i64,
    /// Hours whose memory p95 was at least 90%.
    pub memory_hot_hours: i64,
    pub disk_fill_max_percent: Option<f64>,
}

pub use crate::config::Retention;

/// What a retention pass deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct RetentionOutcome {
    pub reports: u64,
    pub usage_hours: u64,
    pub person_days: u64,
    pub aggregates: u64,
}

/// The inventory facts the collector queries.
#[derive(Debug, Clone, Default)]
pub struct InventoryRow {
    pub hostname: String,
    pub vendor: Option<String>,
    pub model: Option<String>,
    /// The product family (Lenovo's marketing name).
    pub model_family: Option<String>,
    pub serial_number: Option<String>,
    pub chassis: String,
    pub cpu_model: Option<String>,
    pub cpu_logical_cores: Option<i64>,
    pub memory_bytes: Option<i64>,
    pub disk_bytes: Option<i64>,
    pub os_name: Option<String>,
    pub os_version: Option<String>,
    pub bios_date: Option<String>,
    pub age_since_date: Option<String>,
    pub age_source: Option<String>,
    pub battery_health_percent: Option<f64>,
    pub battery_cycles: Option<i64>,
    /// The worst disk's health: `ok`, `warning`, `failing`.
    pub disk_health: Option<String>,
}

/// One hour of a device's use.
#[derive(Debug, Clone, Copy, Default, sqlx::FromRow)]
pub struct UsageHourRow {
    pub hour_start_unix_ms: i64,
    pub powered_minutes: i64,
    pub active_minutes: Option<i64>,
    pub cpu_p95_percent: Option<f64>,
    pub memory_p95_percent: Option<f64>,
    pub disk_fill_percent: Option<f64>,
}

/// Counts for a summary of what the store holds.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct FleetSummary {
    pub devices: i64,
    pub revoked_devices: i64,
    pub reports: i64,
    pub usage_hours: i64,
    pub departments: Vec<DepartmentSummary>,
}

/// Per-department counts of a [`FleetSummary`].
#[derive(Debug, Clone, serde::Serialize)]
pub struct DepartmentSummary {
    pub department: String,
    pub devices: i64,
    /// Average active hours per device and week over the last 4 weeks.
    pub active_hours_per_device_week: f64,
}

/// Stores for unit tests.
#[cfg(test)]
pub(crate) mod tests_support {
    use super::{NewDevice, NewToken, Store};

    /// A store in a temporary data directory, with one device of Sales
    /// enrolled as `device_id`; keep the directory while the store is used.
    pub(crate) async fn store_with_device(device_id: &str) -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_data_dir(dir.path()).await.unwrap();
        let sha256 = crate::secret::sha256("t");
        store
            .create_token(&NewToken {
                sha256,
                department: "Sales".into(),
                created_unix_ms: 0,
                expires_unix_ms: i64::MAX / 2,
                max_uses: None,
            })
            .await
            .unwrap();
        store
            .enroll_device(
                &sha256,
                &NewDevice {
                    id: device_id.into(),
                    hostname: "h".into(),
                    agent_version: "t".into(),
                    enrolled_unix_ms: 0,
                    certificate_serial: "1".into(),
                    certificate_not_after_unix_ms: i64::MAX / 2,
                    bearer_secret_sha256: [0; 32],
                },
            )
            .await
            .unwrap();
        (dir, store)
    }
}
