//! SQLite backend: WAL, one file, migrations from `migrations/sqlite`.

use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};

use super::{
    DepartmentSummary, DeviceCredentials, DeviceSummary, EnrollError, FleetSummary, IncomingReport,
    NewDevice, NewToken, StoreError, TokenRefusal, rfc3339,
};

/// Name of the database file in the data directory.
pub const DATABASE_FILE: &str = "sobrio.db";

/// The collector's store.
#[derive(Clone, Debug)]
pub struct Store {
    pool: SqlitePool,
    /// SQLite has one writer at a time: queueing write transactions here
    /// costs nothing, where contending for the database lock makes each one
    /// sleep in SQLite's busy handler.
    write_lock: Arc<tokio::sync::Mutex<()>>,
}

impl Store {
    /// Opens (creating if needed) the database in `data_dir` and migrates it.
    ///
    /// # Errors
    /// When the file cannot be opened or a migration fails.
    pub async fn open_data_dir(data_dir: &Path) -> Result<Self, StoreError> {
        let path = data_dir.join(DATABASE_FILE);
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
        let options = SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true);
        Self::open(options).await
    }

    /// Opens the database a `sqlite:` URL names and migrates it.
    ///
    /// # Errors
    /// When the URL is not a SQLite URL, or as [`Store::open_data_dir`].
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(url)?.create_if_missing(true);
        Self::open(options).await
    }

    async fn open(options: SqliteConnectOptions) -> Result<Self, StoreError> {
        let options = options
            .journal_mode(SqliteJournalMode::Wal)
            // An acked report must survive a power cut: FULL syncs the WAL at
            // every commit (NORMAL would only survive a process crash).
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options)
            .await?;
        sqlx::migrate!("./migrations/sqlite").run(&pool).await?;
        Ok(Self {
            pool,
            write_lock: Arc::default(),
        })
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
        let value = sqlx::query_scalar("SELECT value FROM settings WHERE key = ?")
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
        sqlx::query("INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING")
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
        let row =
            sqlx::query("SELECT certificate_pem, key_pem FROM certificate_authority WHERE id = 1")
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(|row| (row.get(0), row.get(1))))
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
             VALUES (1, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
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
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO departments (name, created_unix_ms) VALUES (?, ?)
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(&token.department)
        .bind(token.created_unix_ms)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO enrollment_tokens
             (token_sha256, department, created_unix_ms, expires_unix_ms, max_uses)
             VALUES (?, ?, ?, ?, ?)",
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
        let _writer = self.write_lock.lock().await;
        let mut tx = self.pool.begin().await.map_err(StoreError::from)?;
        let row = sqlx::query(
            "SELECT department, expires_unix_ms, max_uses, uses, revoked_unix_ms
             FROM enrollment_tokens WHERE token_sha256 = ?",
        )
        .bind(&token_sha256[..])
        .fetch_optional(&mut *tx)
        .await
        .map_err(StoreError::from)?;
        let Some(row) = row else {
            return Err(TokenRefusal::Unknown.into());
        };
        let department: String = row.get(0);
        let expires_unix_ms: i64 = row.get(1);
        let max_uses: Option<i64> = row.get(2);
        let uses: i64 = row.get(3);
        let revoked: Option<i64> = row.get(4);
        if revoked.is_some() {
            return Err(TokenRefusal::Revoked.into());
        }
        if expires_unix_ms <= device.enrolled_unix_ms {
            return Err(TokenRefusal::Expired {
                expired_at: rfc3339(expires_unix_ms),
            }
            .into());
        }
        if let Some(max_uses) = max_uses
            && uses >= max_uses
        {
            return Err(TokenRefusal::UsedUp { max_uses }.into());
        }
        sqlx::query("UPDATE enrollment_tokens SET uses = uses + 1 WHERE token_sha256 = ?")
            .bind(&token_sha256[..])
            .execute(&mut *tx)
            .await
            .map_err(StoreError::from)?;
        sqlx::query(
            "INSERT INTO devices (id, hostname, department, agent_version, enrolled_unix_ms,
                certificate_serial, certificate_not_after_unix_ms, bearer_secret_sha256)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
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
        let row = sqlx::query(
            "SELECT id, department, revoked_unix_ms, bearer_secret_sha256
             FROM devices WHERE id = ?",
        )
        .bind(device_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|row| DeviceCredentials {
            id: row.get(0),
            department: row.get(1),
            revoked_unix_ms: row.get(2),
            bearer_secret_sha256: row.get(3),
        }))
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
            "UPDATE devices SET certificate_serial = ?, certificate_not_after_unix_ms = ?
             WHERE id = ?",
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
            "UPDATE devices SET revoked_unix_ms = COALESCE(revoked_unix_ms, ?) WHERE id = ?",
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
        let rows = sqlx::query(
            "SELECT id, hostname, department, last_seen_unix_ms, reports, revoked_unix_ms
             FROM devices ORDER BY department, hostname, id",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|row| DeviceSummary {
                id: row.get(0),
                hostname: row.get(1),
                department: row.get(2),
                last_seen: row.get::<Option<i64>, _>(3).map(rfc3339),
                reports: row.get(4),
                revoked: row.get::<Option<i64>, _>(5).map(rfc3339),
            })
            .collect())
    }

    /// Stores a device's reports in one transaction; returns once committed.
    ///
    /// A report whose id is already stored is skipped (idempotent on
    /// `report_id`), so a retried call stores nothing twice.
    ///
    /// Returns how many reports were new.
    ///
    /// # Errors
    /// On a database error; then nothing of the batch is stored.
    pub async fn store_reports(
        &self,
        device_id: &str,
        reports: &[IncomingReport],
        received_unix_ms: i64,
    ) -> Result<u64, StoreError> {
        let _writer = self.write_lock.lock().await;
        let mut tx = self.pool.begin().await?;
        let mut new_reports = 0_u64;
        let mut last_seen = None::<i64>;
        for report in reports {
            let inserted = sqlx::query(
                "INSERT INTO reports (report_id, device_id, collected_unix_ms, received_unix_ms,
                    payload)
                 VALUES (?, ?, ?, ?, ?) ON CONFLICT (report_id) DO NOTHING",
            )
            .bind(&report.report_id)
            .bind(device_id)
            .bind(report.collected_unix_ms)
            .bind(received_unix_ms)
            .bind(&report.payload)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if inserted == 0 {
                continue;
            }
            new_reports += 1;
            last_seen = last_seen.max(Some(report.collected_unix_ms));
            if let Some(inventory) = &report.inventory {
                sqlx::query(
                    "INSERT INTO inventories (device_id, collected_unix_ms, hostname, vendor,
                        model, serial_number, chassis, cpu_model, cpu_logical_cores,
                        memory_bytes, disk_bytes, os_name, os_version, bios_date,
                        age_since_date, age_source, battery_health_percent)
                     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                     ON CONFLICT (device_id, collected_unix_ms) DO NOTHING",
                )
                .bind(device_id)
                .bind(report.collected_unix_ms)
                .bind(&inventory.hostname)
                .bind(&inventory.vendor)
                .bind(&inventory.model)
                .bind(&inventory.serial_number)
                .bind(&inventory.chassis)
                .bind(&inventory.cpu_model)
                .bind(inventory.cpu_logical_cores)
                .bind(inventory.memory_bytes)
                .bind(inventory.disk_bytes)
                .bind(&inventory.os_name)
                .bind(&inventory.os_version)
                .bind(&inventory.bios_date)
                .bind(&inventory.age_since_date)
                .bind(&inventory.age_source)
                .bind(inventory.battery_health_percent)
                .execute(&mut *tx)
                .await?;
            }
            for hour in &report.usage {
                sqlx::query(
                    "INSERT INTO usage_hours (device_id, hour_start_unix_ms, powered_minutes,
                        active_minutes, cpu_p95_percent, memory_p95_percent, disk_fill_percent)
                     VALUES (?, ?, ?, ?, ?, ?, ?)
                     ON CONFLICT (device_id, hour_start_unix_ms) DO UPDATE SET
                        powered_minutes = excluded.powered_minutes,
                        active_minutes = excluded.active_minutes,
                        cpu_p95_percent = excluded.cpu_p95_percent,
                        memory_p95_percent = excluded.memory_p95_percent,
                        disk_fill_percent = excluded.disk_fill_percent",
                )
                .bind(device_id)
                .bind(hour.hour_start_unix_ms)
                .bind(hour.powered_minutes)
                .bind(hour.active_minutes)
                .bind(hour.cpu_p95_percent)
                .bind(hour.memory_p95_percent)
                .bind(hour.disk_fill_percent)
                .execute(&mut *tx)
                .await?;
            }
        }
        if new_reports > 0 {
            let new_reports_i64 = i64::try_from(new_reports).unwrap_or(i64::MAX);
            sqlx::query(
                "UPDATE devices SET reports = reports + ?,
                    last_seen_unix_ms = MAX(COALESCE(last_seen_unix_ms, 0), ?)
                 WHERE id = ?",
            )
            .bind(new_reports_i64)
            .bind(last_seen.unwrap_or(0))
            .bind(device_id)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(new_reports)
    }

    /// Whether a report is stored.
    ///
    /// # Errors
    /// On a database error.
    pub async fn report_exists(&self, report_id: &str) -> Result<bool, StoreError> {
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM reports WHERE report_id = ?")
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
        let payload = sqlx::query_scalar("SELECT payload FROM reports WHERE report_id = ?")
            .bind(report_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(payload)
    }

    /// Counts of what the store holds, for summaries. Use over the 4 weeks
    /// before `now_unix_ms`.
    ///
    /// # Errors
    /// On a database error.
    pub async fn fleet_summary(&self, now_unix_ms: i64) -> Result<FleetSummary, StoreError> {
        let (devices, revoked_devices, reports): (i64, i64, i64) = sqlx::query_as(
            "SELECT COUNT(*), COUNT(revoked_unix_ms), COALESCE(SUM(reports), 0) FROM devices",
        )
        .fetch_one(&self.pool)
        .await?;
        let usage_hours: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM usage_hours")
            .fetch_one(&self.pool)
            .await?;
        let since = now_unix_ms - 28 * 24 * 3_600_000;
        let departments = sqlx::query(
            "SELECT d.department, COUNT(*),
                COALESCE(SUM((SELECT COUNT(*) FROM usage_hours u
                    WHERE u.device_id = d.id AND u.hour_start_unix_ms >= ?
                      AND u.active_minutes >= 15)), 0)
             FROM devices d WHERE d.revoked_unix_ms IS NULL
             GROUP BY d.department ORDER BY d.department",
        )
        .bind(since)
        .fetch_all(&self.pool)
        .await?
        .into_iter()
        .map(|row| {
            let devices: i64 = row.get(1);
            let active_hours: i64 = row.get(2);
            #[allow(clippy::cast_precision_loss)]
            let per_device_week = active_hours as f64 / (devices.max(1) as f64 * 4.0);
            DepartmentSummary {
                department: row.get(0),
                devices,
                active_hours_per_device_week: (per_device_week * 10.0).round() / 10.0,
            }
        })
        .collect();
        Ok(FleetSummary {
            devices,
            revoked_devices,
            reports,
            usage_hours,
            departments,
        })
    }
}
