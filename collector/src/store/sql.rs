//! The store's connection and its general queries, shared by both backends.

use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use sqlx::AnyPool;
use sqlx::any::AnyConnectOptions;

use super::dialect::Dialect;
use super::{
    DepartmentSummary, DeviceCredentials, DeviceSummary, EnrollError, FleetSummary, NewDevice,
    NewToken, StoreError, TokenRefusal, rfc3339,
};
use crate::lifecycle::{self, TokenState};

/// Name of the database file in the data directory.
pub const DATABASE_FILE: &str = "sobrio.db";

/// The collector's store.
#[derive(Clone, Debug)]
pub struct Store {
    pub(super) pool: AnyPool,
    pub(super) dialect: &'static Dialect,
    /// Write transactions in turn, where the database has a single writer
    /// ([`Dialect::single_writer`]); `None` otherwise.
    pub(super) write_lock: Option<Arc<tokio::sync::Mutex<()>>>,
}

/// The certificate authority as stored.
#[derive(sqlx::FromRow)]
struct StoredAuthority {
    certificate_pem: String,
    key_pem: String,
}

/// What enrolling needs to know of a token.
#[derive(sqlx::FromRow)]
struct StoredToken {
    department: String,
    expires_unix_ms: i64,
    max_uses: Option<i64>,
    uses: i64,
    revoked_unix_ms: Option<i64>,
}

impl StoredToken {
    fn state(&self) -> TokenState {
        TokenState {
            expires_unix_ms: self.expires_unix_ms,
            max_uses: self.max_uses,
            uses: self.uses,
            revoked: self.revoked_unix_ms.is_some(),
        }
    }
}

/// A device's summary as stored.
#[derive(sqlx::FromRow)]
struct StoredDevice {
    id: String,
    hostname: String,
    department: String,
    last_seen_unix_ms: Option<i64>,
    reports: i64,
    revoked_unix_ms: Option<i64>,
}

impl From<StoredDevice> for DeviceSummary {
    fn from(device: StoredDevice) -> Self {
        Self {
            id: device.id,
            hostname: device.hostname,
            department: device.department,
            last_seen: device.last_seen_unix_ms.map(rfc3339),
            reports: device.reports,
            revoked: device.revoked_unix_ms.map(rfc3339),
        }
    }
}

/// One inventory of a device's history.
#[derive(sqlx::FromRow)]
struct StoredInventory {
    collected_unix_ms: i64,
    hostname: String,
    vendor: Option<String>,
    model: Option<String>,
    chassis: String,
    cpu_model: Option<String>,
    cpu_logical_cores: Option<i64>,
    memory_bytes: Option<i64>,
    disk_bytes: Option<i64>,
    os_name: Option<String>,
    os_version: Option<String>,
    age_since_date: Option<String>,
    age_source: Option<String>,
    battery_health_percent: Option<f64>,
    battery_cycles: Option<i64>,
    disk_health: Option<String>,
}

/// Counts over every device.
#[derive(sqlx::FromRow)]
struct DeviceCounts {
    devices: i64,
    revoked_devices: i64,
    reports: i64,
}

/// A department's enrolled devices and their active hours over a window.
#[derive(sqlx::FromRow)]
struct DepartmentActivity {
    department: String,
    devices: i64,
    active_hours: i64,
}

/// Devices by status.
#[derive(sqlx::FromRow)]
struct StatusCounts {
    active: i64,
    silent: i64,
    revoked: i64,
    reported_last_day: i64,
}

/// Percent-encodes a path for a `sqlite://` URL.
fn url_path(path: &Path) -> String {
    path.to_string_lossy()
        .bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'/' | b'.' | b'-' | b'_' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The newest migration applied, when the migrations' table exists.
async fn applied_schema(pool: &AnyPool) -> Result<Option<i64>, sqlx::Error> {
    match sqlx::query_scalar::<_, Option<i64>>(
        "SELECT MAX(version) FROM _sqlx_migrations WHERE success",
    )
    .fetch_one(pool)
    .await
    {
        Ok(version) => Ok(version),
        // A fresh database: no table yet.
        Err(sqlx::Error::Database(error))
            if error.message().contains("_sqlx_migrations")
                || error.message().contains("no such table") =>
        {
            Ok(None)
        }
        Err(error) => Err(error),
    }
}

impl Store {
    /// Opens (creating if needed) the SQLite database in `data_dir` and
    /// migrates it.
    ///
    /// # Errors
    /// When the file cannot be created or opened, or a migration fails.
    pub async fn open_data_dir(data_dir: &Path) -> Result<Self, StoreError> {
        let path =
            std::path::absolute(data_dir.join(DATABASE_FILE)).map_err(|source| StoreError::Io {
                path: data_dir.display().to_string(),
                source,
            })?;
        // The database holds the CA key: readable by the collector only.
        // SQLite gives its WAL and shared-memory files the same mode.
        std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)
            .map_err(|source| StoreError::Io {
                path: path.display().to_string(),
                source,
            })?;
        Self::connect(&format!("sqlite://{}?mode=rwc", url_path(&path))).await
    }

    /// Opens the database a URL names (`sqlite://…` or `postgres://…`) and
    /// migrates it.
    ///
    /// # Errors
    /// When the URL names another database, the database cannot be reached,
    /// or a migration fails.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        let dialect = Dialect::of_url(url).ok_or(StoreError::UnsupportedUrl)?;
        let options: AnyConnectOptions = url.parse()?;
        let options = sqlx::ConnectOptions::log_slow_statements(
            options,
            tracing::log::LevelFilter::Warn,
            Duration::from_secs(5),
        );
        let pool = dialect.pool_options().connect_with(options).await?;
        // A database a newer collector migrated is refused before anything
        // is run on it: its migrations are unknown here.
        Self::refuse_newer_schema(dialect, &pool).await?;
        dialect.migrations.run(&pool).await?;
        let write_lock = dialect.single_writer.then(Arc::default);
        let store = Self {
            pool,
            dialect,
            write_lock,
        };
        let changed = store.refresh_stale_categories().await?;
        if changed > 0 {
            tracing::info!(
                devices = changed,
                "device categories worked out for the rollup"
            );
        }
        Ok(store)
    }

    /// Migrates the database `url` names up to schema `version` only, and
    /// no further: how upgrade tests build a database as an earlier
    /// collector left it. A collector opening it migrates the rest.
    ///
    /// # Errors
    /// When the URL names another database, it cannot be reached, or a
    /// migration fails.
    pub async fn migrate_to(url: &str, version: i64) -> Result<(), StoreError> {
        sqlx::any::install_default_drivers();
        let dialect = Dialect::of_url(url).ok_or(StoreError::UnsupportedUrl)?;
        let options: AnyConnectOptions = url.parse()?;
        let pool = dialect.pool_options().connect_with(options).await?;
        dialect.migrations.run_to(version, &pool).await?;
        pool.close().await;
        Ok(())
    }

    /// The newest schema version this collector knows.
    #[must_use]
    pub fn known_schema(dialect: &Dialect) -> i64 {
        dialect
            .migrations
            .iter()
            .map(|m| m.version)
            .max()
            .unwrap_or(0)
    }

    /// The newest schema version applied to the database (0 before any).
    ///
    /// # Errors
    /// On a database error.
    pub async fn schema_version(&self) -> Result<i64, StoreError> {
        Ok(applied_schema(&self.pool).await?.unwrap_or(0))
    }

    /// Refuses a database migrated by a newer collector.
    async fn refuse_newer_schema(dialect: &Dialect, pool: &AnyPool) -> Result<(), StoreError> {
        let known = Self::known_schema(dialect);
        match applied_schema(pool).await? {
            Some(database) if database > known => Err(StoreError::NewerSchema { database, known }),
            _ => Ok(()),
        }
    }

    /// Whether the database's schema is this collector's: `Err` when a
    /// newer one migrated it since (a rolling upgrade: this replica must
    /// stop).
    ///
    /// # Errors
    /// [`StoreError::NewerSchema`], or a database error.
    pub async fn check_schema(&self) -> Result<(), StoreError> {
        Self::refuse_newer_schema(self.dialect, &self.pool).await
    }

    /// The database's SQL and connection rules.
    pub fn dialect(&self) -> &'static Dialect {
        self.dialect
    }

    /// Waits for the single-writer lock on SQLite; nothing on PostgreSQL.
    pub(super) async fn writer(&self) -> Option<tokio::sync::MutexGuard<'_, ()>> {
        match &self.write_lock {
            Some(lock) => Some(lock.lock().await),
            None => None,
        }
    }

    /// Begins a write transaction, in the way the database lets it wait
    /// for a writer in another process ([`Dialect::begin_write`]).
    ///
    /// # Errors
    /// When no connection is available or the lock is not had within the
    /// busy timeout.
    pub(super) async fn begin_write(
        &self,
    ) -> Result<sqlx::Transaction<'static, sqlx::Any>, sqlx::Error> {
        match self.dialect.begin_write {
            Some(statement) => self.pool.begin_with(statement).await,
            None => self.pool.begin().await,
        }
    }

    /// Checks the database answers.
    ///
    /// # Errors
    /// When it does not.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Reads a setting.
    ///
    /// # Errors
    /// On a database error.
    pub async fn setting(&self, key: &str) -> Result<Option<String>, StoreError> {
        let value = sqlx::query_scalar("SELECT value FROM settings WHERE key = $1")
            .bind(key)
            .fetch_optional(&self.pool)
            .await?;
        Ok(value)
    }

    /// Stores `value` under `key` unless a value is there already, and returns
    /// the value that is stored — so that replicas starting together agree.
    ///
    /// # Errors
    /// On a database error.
    pub async fn setting_or_insert(&self, key: &str, value: &str) -> Result<String, StoreError> {
        sqlx::query(
            "INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING",
        )
        .bind(key)
        .bind(value)
        .execute(&self.pool)
        .await?;
        self.setting(key)
            .await?
            .ok_or_else(|| StoreError::Corrupt(format!("setting {key} vanished after insert")))
    }

    /// The CA certificate and key, if one was created.
    ///
    /// # Errors
    /// On a database error.
    pub async fn certificate_authority(&self) -> Result<Option<(String, String)>, StoreError> {
        let row = sqlx::query_as::<_, StoredAuthority>(
            "SELECT certificate_pem, key_pem FROM certificate_authority WHERE id = 1",
        )
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|row| (row.certificate_pem, row.key_pem)))
    }

    /// Stores a CA unless one exists, and returns the stored one.
    ///
    /// # Errors
    /// On a database error.
    pub async fn certificate_authority_or_insert(
        &self,
        certificate_pem: &str,
        key_pem: &str,
        now_unix_ms: i64,
    ) -> Result<(String, String), StoreError> {
        sqlx::query(
            "INSERT INTO certificate_authority (id, certificate_pem, key_pem, created_unix_ms)
             VALUES (1, $1, $2, $3) ON CONFLICT (id) DO NOTHING",
        )
        .bind(certificate_pem)
        .bind(key_pem)
        .bind(now_unix_ms)
        .execute(&self.pool)
        .await?;
        self.certificate_authority()
            .await?
            .ok_or_else(|| StoreError::Corrupt("certificate authority vanished".into()))
    }

    /// Stores a new enrollment token, creating its department if needed.
    ///
    /// # Errors
    /// On a database error.
    pub async fn create_token(&self, token: &NewToken) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO departments (name, created_unix_ms) VALUES ($1, $2)
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(&token.department)
        .bind(token.created_unix_ms)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO enrollment_tokens
             (token_sha256, department, created_unix_ms, expires_unix_ms, max_uses)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&token.sha256[..])
        .bind(&token.department)
        .bind(token.created_unix_ms)
        .bind(token.expires_unix_ms)
        .bind(token.max_uses)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Whether an enrollment token exists (expired, used up or revoked
    /// included): one indexed lookup, for refusing guesses cheaply.
    ///
    /// # Errors
    /// On a database error.
    pub async fn enrollment_token_known(
        &self,
        token_sha256: &[u8; 32],
    ) -> Result<bool, StoreError> {
        Ok(
            sqlx::query("SELECT 1 FROM enrollment_tokens WHERE token_sha256 = $1")
                .bind(&token_sha256[..])
                .fetch_optional(&self.pool)
                .await?
                .is_some(),
        )
    }

    /// Redeems a token and records the device, in one transaction: a refused
    /// token records nothing, and a failed insert uses no token.
    ///
    /// Returns the department the token binds the device to.
    ///
    /// # Errors
    /// [`EnrollError::Refused`] for an unknown, expired, used-up or revoked
    /// token; [`EnrollError::Store`] on a database error.
    pub async fn enroll_device(
        &self,
        token_sha256: &[u8; 32],
        device: &NewDevice,
    ) -> Result<String, EnrollError> {
        let _writer = self.writer().await;
        let mut tx = self.begin_write().await.map_err(StoreError::from)?;
        let token = sqlx::query_as::<_, StoredToken>(
            "SELECT department, expires_unix_ms, max_uses, uses, revoked_unix_ms
             FROM enrollment_tokens WHERE token_sha256 = $1",
        )
        .bind(&token_sha256[..])
        .fetch_optional(&mut *tx)
        .await
        .map_err(StoreError::from)?;
        let Some(token) = token else {
            return Err(TokenRefusal::Unknown.into());
        };
        if let Some(refusal) = lifecycle::token_refusal(&token.state(), device.enrolled_unix_ms) {
            return Err(refusal.into());
        }
        let department = token.department;
        sqlx::query("UPDATE enrollment_tokens SET uses = uses + 1 WHERE token_sha256 = $1")
            .bind(&token_sha256[..])
            .execute(&mut *tx)
            .await
            .map_err(StoreError::from)?;
        sqlx::query(
            "INSERT INTO devices (id, hostname, department, agent_version, enrolled_unix_ms,
                certificate_serial, certificate_not_after_unix_ms, bearer_secret_sha256)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&device.id)
        .bind(&device.hostname)
        .bind(&department)
        .bind(&device.agent_version)
        .bind(device.enrolled_unix_ms)
        .bind(&device.certificate_serial)
        .bind(device.certificate_not_after_unix_ms)
        .bind(&device.bearer_secret_sha256[..])
        .execute(&mut *tx)
        .await
        .map_err(StoreError::from)?;
        sqlx::query(
            "INSERT INTO device_departments (device_id, from_unix_ms, department, recorded_by,
                reason)
             VALUES ($1, $2, $3, 'enrollment', 'enrolled')",
        )
        .bind(&device.id)
        .bind(device.enrolled_unix_ms)
        .bind(&department)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::from)?;
        tx.commit().await.map_err(StoreError::from)?;
        Ok(department)
    }

    /// What authentication needs to know of a device, if it is enrolled.
    ///
    /// # Errors
    /// On a database error.
    pub async fn device_credentials(
        &self,
        device_id: &str,
    ) -> Result<Option<DeviceCredentials>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT id, department, revoked_unix_ms, bearer_secret_sha256
             FROM devices WHERE id = $1",
        )
        .bind(device_id)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Records a renewed certificate.
    ///
    /// # Errors
    /// On a database error.
    pub async fn record_certificate(
        &self,
        device_id: &str,
        serial: &str,
        not_after_unix_ms: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE devices SET certificate_serial = $1, certificate_not_after_unix_ms = $2
             WHERE id = $3",
        )
        .bind(serial)
        .bind(not_after_unix_ms)
        .bind(device_id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Revokes a device. Returns `false` when no such device exists; revoking
    /// twice keeps the first date.
    ///
    /// # Errors
    /// On a database error.
    pub async fn revoke_device(
        &self,
        device_id: &str,
        now_unix_ms: i64,
    ) -> Result<bool, StoreError> {
        let exists = sqlx::query(
            "UPDATE devices SET revoked_unix_ms = COALESCE(revoked_unix_ms, $1) WHERE id = $2",
        )
        .bind(now_unix_ms)
        .bind(device_id)
        .execute(&self.pool)
        .await?
        .rows_affected()
            == 1;
        Ok(exists)
    }

    /// Every device, by department and host name.
    ///
    /// # Errors
    /// On a database error.
    pub async fn list_devices(&self) -> Result<Vec<DeviceSummary>, StoreError> {
        let rows = sqlx::query_as::<_, StoredDevice>(
            "SELECT id, hostname, department, last_seen_unix_ms, reports, revoked_unix_ms
             FROM devices ORDER BY department, hostname, id",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(DeviceSummary::from).collect())
    }

    /// One page of devices (by department and host name) and the total.
    ///
    /// # Errors
    /// On a database error.
    pub async fn devices_page(
        &self,
        page: i64,
        size: i64,
    ) -> Result<(Vec<DeviceSummary>, i64), StoreError> {
        let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM devices")
            .fetch_one(&self.pool)
            .await?;
        let rows = sqlx::query_as::<_, StoredDevice>(
            "SELECT id, hostname, department, last_seen_unix_ms, reports, revoked_unix_ms
             FROM devices ORDER BY department, hostname, id LIMIT $1 OFFSET $2",
        )
        .bind(size)
        .bind(page.saturating_sub(1).saturating_mul(size))
        .fetch_all(&self.pool)
        .await?;
        Ok((rows.into_iter().map(DeviceSummary::from).collect(), total))
    }

    /// A device's summary and its inventory history (newest first), as
    /// JSON objects; never any digital load.
    ///
    /// # Errors
    /// On a database error.
    pub async fn device_detail(
        &self,
        id: &str,
    ) -> Result<Option<(DeviceSummary, Vec<serde_json::Value>)>, StoreError> {
        let Some(device) = sqlx::query_as::<_, StoredDevice>(
            "SELECT id, hostname, department, last_seen_unix_ms, reports, revoked_unix_ms
             FROM devices WHERE id = $1",
        )
        .bind(id.to_owned())
        .fetch_optional(&self.pool)
        .await?
        else {
            return Ok(None);
        };
        let summary = DeviceSummary::from(device);
        let inventories = sqlx::query_as::<_, StoredInventory>(
            "SELECT collected_unix_ms, hostname, vendor, model, chassis, cpu_model,
                cpu_logical_cores, memory_bytes, disk_bytes, os_name, os_version,
                age_since_date, age_source, battery_health_percent, battery_cycles, disk_health
             FROM inventories WHERE device_id = $1 ORDER BY collected_unix_ms DESC LIMIT 50",
        )
        .bind(id.to_owned())
        .fetch_all(&self.pool)
        .await?
        .into_iter()
        .map(|r| {
            serde_json::json!({
                "collected": rfc3339(r.collected_unix_ms),
                "hostname": r.hostname,
                "vendor": r.vendor,
                "model": r.model,
                "chassis": r.chassis,
                "cpu_model": r.cpu_model,
                "cpu_logical_cores": r.cpu_logical_cores,
                "memory_bytes": r.memory_bytes,
                "disk_bytes": r.disk_bytes,
                "os_name": r.os_name,
                "os_version": r.os_version,
                "age_since_date": r.age_since_date,
                "age_source": r.age_source,
                "battery_health_percent": r.battery_health_percent,
                "battery_cycles": r.battery_cycles,
                "disk_health": r.disk_health,
            })
        })
        .collect();
        Ok(Some((summary, inventories)))
    }

    /// Whether a report is stored.
    ///
    /// # Errors
    /// On a database error.
    pub async fn report_exists(&self, report_id: &str) -> Result<bool, StoreError> {
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM reports WHERE report_id = $1")
            .bind(report_id)
            .fetch_one(&self.pool)
            .await?;
        Ok(count > 0)
    }

    /// The stored payload of a report.
    ///
    /// # Errors
    /// On a database error.
    pub async fn report_payload(&self, report_id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let payload = sqlx::query_scalar("SELECT payload FROM reports WHERE report_id = $1")
            .bind(report_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(payload)
    }

    /// Counts of what the store holds, for summaries: use per device over the
    /// 4 full weeks before the week of `now_unix_ms`, from the weekly rollup.
    ///
    /// # Errors
    /// On a database error.
    pub async fn fleet_summary(&self, now_unix_ms: i64) -> Result<FleetSummary, StoreError> {
        let counts = sqlx::query_as::<_, DeviceCounts>(
            "SELECT COUNT(*) AS devices, COUNT(revoked_unix_ms) AS revoked_devices,
                CAST(COALESCE(SUM(reports), 0) AS BIGINT) AS reports
             FROM devices",
        )
        .fetch_one(&self.pool)
        .await?;
        let usage_hours: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM usage_hours")
            .fetch_one(&self.pool)
            .await?;
        let this_week = super::ingest::week_start(now_unix_ms);
        let since = this_week - 4 * super::ingest::WEEK_MS;
        let departments = sqlx::query_as::<_, DepartmentActivity>(
            "SELECT d.department, COUNT(DISTINCT d.id) AS devices,
                CAST(COALESCE(SUM(w.active_hours), 0) AS BIGINT) AS active_hours
             FROM devices d
             LEFT JOIN device_weeks w ON w.device_id = d.id
                AND w.week_start_unix_ms >= $1 AND w.week_start_unix_ms < $2
             WHERE d.revoked_unix_ms IS NULL
             GROUP BY d.department ORDER BY d.department",
        )
        .bind(since)
        .bind(this_week)
        .fetch_all(&self.pool)
        .await?
        .into_iter()
        .map(|row| {
            #[allow(clippy::cast_precision_loss)]
            let per_device_week = row.active_hours as f64 / (row.devices.max(1) as f64 * 4.0);
            DepartmentSummary {
                department: row.department,
                devices: row.devices,
                active_hours_per_device_week: (per_device_week * 10.0).round() / 10.0,
            }
        })
        .collect();
        Ok(FleetSummary {
            devices: counts.devices,
            revoked_devices: counts.revoked_devices,
            reports: counts.reports,
            usage_hours,
            departments,
        })
    }

    /// Devices by status at `now_unix_ms`: (active, silent for 7 days or
    /// never seen, revoked, unrevoked that reported in the last 24 hours).
    ///
    /// # Errors
    /// On a database error.
    pub async fn device_status_counts(
        &self,
        now_unix_ms: i64,
    ) -> Result<(i64, i64, i64, i64), StoreError> {
        let silent_before = now_unix_ms - 7 * 86_400_000;
        let day_before = now_unix_ms - 86_400_000;
        let counts = sqlx::query_as::<_, StatusCounts>(
            "SELECT
                CAST(COALESCE(SUM(CASE WHEN revoked_unix_ms IS NULL AND last_seen_unix_ms >= $1
                    THEN 1 ELSE 0 END), 0) AS BIGINT) AS active,
                CAST(COALESCE(SUM(CASE WHEN revoked_unix_ms IS NULL
                    AND (last_seen_unix_ms IS NULL OR last_seen_unix_ms < $1)
                    THEN 1 ELSE 0 END), 0) AS BIGINT) AS silent,
                COUNT(revoked_unix_ms) AS revoked,
                CAST(COALESCE(SUM(CASE WHEN revoked_unix_ms IS NULL AND last_seen_unix_ms >= $2
                    THEN 1 ELSE 0 END), 0) AS BIGINT) AS reported_last_day
             FROM devices",
        )
        .bind(silent_before)
        .bind(day_before)
        .fetch_one(&self.pool)
        .await?;
        Ok((
            counts.active,
            counts.silent,
            counts.revoked,
            counts.reported_last_day,
        ))
    }
}
