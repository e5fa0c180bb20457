//! Backing up and restoring the embedded store: a consistent copy taken
//! while the collector serves (SQLite's `VACUUM INTO`, which reads one
//! snapshot while writers go on), and its restoration into a data directory
//! no collector serves, after checking what it holds.
//!
//! The copy is the whole database, the CA's certificate and key included:
//! it is written 0600, and must be kept as the data directory is. On
//! PostgreSQL, `pg_dump` and `pg_restore` do the same (README, "Run the
//! collector in production").

use std::fs::File;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use sqlx::any::AnyPoolOptions;

use super::{Backend, DATABASE_FILE, SQLITE, Store, StoreError};

/// The lock a serving collector holds (shared) on its data directory;
/// restoring takes it exclusively, so never under a running collector.
pub const SERVING_LOCK: &str = "collector.lock";

/// The settings key of the last backup's time.
const LAST_BACKUP: &str = "last_backup_unix_ms";

/// What a backup holds, as checked.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct BackupSummary {
    pub schema_version: i64,
    pub devices: i64,
    pub reports: i64,
    /// The CA's certificate and key are in it.
    pub certificate_authority: bool,
}

/// Why a backup or a restoration was refused.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error(
        "the store is on PostgreSQL: back it up with pg_dump (README, \"Run the collector in \
         production\")"
    )]
    NotEmbedded,
    #[error("{0} exists already: back up to a new file")]
    Exists(String),
    #[error("{path} is not a sound Sobrio database: {reason}")]
    Unsound { path: String, reason: String },
    #[error(
        "a collector is serving from {0}: stop it first (restoring under it would lose what it \
         writes)"
    )]
    Serving(String),
    #[error(
        "{0} holds a database already: restore with --force to replace it (it is kept beside, \
         renamed)"
    )]
    Occupied(String),
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> BackupError + '_ {
    move |source| BackupError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Holds the data directory's serving lock (shared) while a collector
/// serves from it.
///
/// # Errors
/// When the lock file cannot be created.
pub fn hold_serving_lock(data_dir: &Path) -> Result<File, BackupError> {
    let path = data_dir.join(SERVING_LOCK);
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(&path)
        .map_err(io(&path))?;
    file.lock_shared().map_err(io(&path))?;
    Ok(file)
}

impl Store {
    /// Writes a consistent copy of the embedded database to `file` (a new
    /// file, 0600) while the collector may be writing, checks it, and
    /// records when (`now_unix_ms`) for the metrics.
    ///
    /// # Errors
    /// On PostgreSQL, when `file` exists, or the copy fails or is unsound.
    pub async fn backup_to(
        &self,
        file: &Path,
        now_unix_ms: i64,
    ) -> Result<BackupSummary, BackupError> {
        if self.dialect.backend != Backend::Sqlite {
            return Err(BackupError::NotEmbedded);
        }
        // VACUUM INTO writes into an empty file: created here, 0600, so
        // that the CA's key is never readable by others.
        File::options()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(file)
            .map_err(|error| match error.kind() {
                std::io::ErrorKind::AlreadyExists => {
                    BackupError::Exists(file.display().to_string())
                }
                _ => io(file)(error),
            })?;
        let target = file.display().to_string();
        sqlx::query("VACUUM INTO $1")
            .bind(target)
            .execute(&self.pool)
            .await
            .map_err(StoreError::from)?;
        let summary = inspect(file).await?;
        // For the operators' alert on missing backups.
        sqlx::query(
            "INSERT INTO settings (key, value) VALUES ($1, $2)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        )
        .bind(LAST_BACKUP)
        .bind(now_unix_ms.to_string())
        .execute(&self.pool)
        .await
        .map_err(StoreError::from)?;
        Ok(summary)
    }

    /// When `backup` last copied the store, Unix ms.
    ///
    /// # Errors
    /// On a database error.
    pub async fn last_backup_unix_ms(&self) -> Result<Option<i64>, StoreError> {
        Ok(self
            .setting(LAST_BACKUP)
            .await?
            .and_then(|value| value.parse().ok()))
    }
}

/// Checks a backup without changing it: SQLite's integrity check, a schema
/// this collector knows (no newer), the CA present.
///
/// # Errors
/// When it is not a sound Sobrio database.
pub async fn inspect(file: &Path) -> Result<BackupSummary, BackupError> {
    let unsound = |reason: String| BackupError::Unsound {
        path: file.display().to_string(),
        reason,
    };
    if !file.is_file() {
        return Err(unsound("no such file".into()));
    }
    sqlx::any::install_default_drivers();
    let url = format!("sqlite://{}?mode=ro", file.display());
    let pool = AnyPoolOptions::new()
        .max_connections(1)
        .connect(&url)
        .await
        .map_err(|e| unsound(e.to_string()))?;
    let summary = async {
        let integrity: String = sqlx::query_scalar("PRAGMA integrity_check")
            .fetch_one(&pool)
            .await?;
        if integrity != "ok" {
            return Ok(Err(format!("integrity check: {integrity}")));
        }
        let schema_version: Option<i64> =
            sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations WHERE success")
                .fetch_one(&pool)
                .await?;
        let known = Store::known_schema(&SQLITE);
        let schema_version = schema_version.unwrap_or(0);
        if schema_version > known {
            return Ok(Err(format!(
                "its schema (version {schema_version}) is newer than this collector's ({known})"
            )));
        }
        let authorities: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM certificate_authority")
            .fetch_one(&pool)
            .await?;
        let devices: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM devices")
            .fetch_one(&pool)
            .await?;
        let reports: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM reports")
            .fetch_one(&pool)
            .await?;
        Ok::<_, sqlx::Error>(Ok(BackupSummary {
            schema_version,
            devices,
            reports,
            certificate_authority: authorities == 1,
        }))
    }
    .await;
    pool.close().await;
    match summary {
        Ok(Ok(summary)) if summary.certificate_authority || summary.devices == 0 => Ok(summary),
        Ok(Ok(_)) => Err(unsound(
            "it holds devices but no CA: they could no longer be trusted".into(),
        )),
        Ok(Err(reason)) => Err(unsound(reason)),
        Err(error) => Err(unsound(error.to_string())),
    }
}

/// Restores the backup `file` into `data_dir`, which no collector may be
/// serving: checked first, copied beside the database, then put in its
/// place. An existing database is replaced only with `force`, and kept
/// beside, renamed; the path it was kept under is returned.
///
/// # Errors
/// A collector serving, an occupied directory without `force`, an unsound
/// backup, or an I/O error.
pub async fn restore(
    file: &Path,
    data_dir: &Path,
    force: bool,
    now_unix_ms: i64,
) -> Result<(BackupSummary, Option<PathBuf>), BackupError> {
    let summary = inspect(file).await?;
    let lock_path = data_dir.join(SERVING_LOCK);
    let lock = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(&lock_path)
        .map_err(io(&lock_path))?;
    if lock.try_lock().is_err() {
        return Err(BackupError::Serving(data_dir.display().to_string()));
    }
    let database = data_dir.join(DATABASE_FILE);
    let occupied = std::fs::metadata(&database).is_ok_and(|m| m.len() > 0);
    let mut kept = None;
    if occupied {
        if !force {
            return Err(BackupError::Occupied(data_dir.display().to_string()));
        }
        let aside = data_dir.join(format!("{DATABASE_FILE}.before-restore-{now_unix_ms}"));
        std::fs::rename(&database, &aside).map_err(io(&database))?;
        kept = Some(aside);
    }
    for suffix in ["-wal", "-shm"] {
        let stale = data_dir.join(format!("{DATABASE_FILE}{suffix}"));
        match std::fs::remove_file(&stale) {
            Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
                return Err(io(&stale)(error));
            }
            _ => {}
        }
    }
    let partial = data_dir.join(format!("{DATABASE_FILE}.restoring"));
    {
        let mut source = File::open(file).map_err(io(file))?;
        let mut target = File::options()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&partial)
            .map_err(io(&partial))?;
        std::io::copy(&mut source, &mut target).map_err(io(&partial))?;
        target.sync_all().map_err(io(&partial))?;
    }
    std::fs::rename(&partial, &database).map_err(io(&database))?;
    File::open(data_dir)
        .and_then(|dir| dir.sync_all())
        .map_err(io(data_dir))?;
    drop(lock);
    Ok((summary, kept))
}
