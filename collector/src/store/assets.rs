//! The asset register in the store, and what it decides: a device's age comes
//! from the register first, then from the agent's own estimate.

use super::{Store, StoreError};

/// One asset of the register.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AssetRow {
    pub serial: String,
    pub hostname: Option<String>,
    pub category: Option<String>,
    /// `YYYY-MM-DD`.
    pub purchase_date: Option<String>,
    pub price_eur: Option<f64>,
    pub department: Option<String>,
    /// `YYYY-MM-DD`.
    pub warranty_end: Option<String>,
    /// The device's manufacturing footprint as the organisation pins it.
    pub embodied_kgco2e: Option<f64>,
}

/// Counts of an import.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AssetImportOutcome {
    pub created: usize,
    pub updated: usize,
    pub unchanged: usize,
    pub matched_devices: usize,
}

/// A device with its register facts, for export.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct AssetExportRow {
    pub device_id: String,
    pub hostname: String,
    pub department: String,
    pub serial: Option<String>,
    pub category: Option<String>,
    pub vendor: Option<String>,
    pub model: Option<String>,
    pub purchase_date: Option<String>,
    pub price_eur: Option<f64>,
    pub warranty_end: Option<String>,
}

/// What a device's page needs to know of it beyond its inventory: what
/// the register says (where it wins) and what finds its model's footprint.
#[derive(Debug, Clone, Default, PartialEq, sqlx::FromRow)]
pub struct DeviceIdentity {
    /// The register's category, else the agent's chassis.
    pub category: String,
    pub vendor: Option<String>,
    pub model: Option<String>,
    pub model_family: Option<String>,
    pub disk_bytes: Option<i64>,
    /// The register row's serial, when the device is in the register.
    pub register_serial: Option<String>,
    pub purchase_date: Option<String>,
    pub price_eur: Option<f64>,
    pub warranty_end: Option<String>,
    /// A footprint the register pins (kgCO2e).
    pub embodied_kgco2e: Option<f64>,
}

/// A device's age and where it comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceAge {
    pub device_id: String,
    /// First day of use, `YYYY-MM-DD`.
    pub since_date: String,
    /// `asset_register`, or the agent's source: `configured_purchase_date`,
    /// `bios_date`, `os_install_date`.
    pub provenance: String,
}

/// A register entry as stored, but its serial (what it was found by).
#[derive(sqlx::FromRow)]
struct StoredAsset {
    hostname: Option<String>,
    category: Option<String>,
    purchase_date: Option<String>,
    price_eur: Option<f64>,
    department: Option<String>,
    warranty_end: Option<String>,
    embodied_kgco2e: Option<f64>,
}

impl StoredAsset {
    fn with_serial(self, serial: String) -> AssetRow {
        AssetRow {
            serial,
            hostname: self.hostname,
            category: self.category,
            purchase_date: self.purchase_date,
            price_eur: self.price_eur,
            department: self.department,
            warranty_end: self.warranty_end,
            embodied_kgco2e: self.embodied_kgco2e,
        }
    }
}

/// A device's age as the register or the agent gives it; no provenance
/// when the agent gave none.
#[derive(sqlx::FromRow)]
struct AgeRow {
    device_id: String,
    since_date: String,
    provenance: Option<String>,
}

/// The register entry of a device: by its serial number, else its host name.
pub(super) const DEVICE_ASSET_JOIN: &str = "
    FROM devices d
    LEFT JOIN inventories i ON i.device_id = d.id AND i.collected_unix_ms = d.inventory_unix_ms
    LEFT JOIN assets a ON a.serial = i.serial_number
        OR (i.serial_number IS NULL AND a.hostname = d.hostname)";

impl Store {
    /// Imports register rows (upsert by serial). With `dry_run`, computes
    /// the same counts and writes nothing.
    ///
    /// # Errors
    /// On a database error; then nothing is imported.
    pub async fn import_assets(
        &self,
        rows: &[AssetRow],
        dry_run: bool,
        now_unix_ms: i64,
    ) -> Result<AssetImportOutcome, StoreError> {
        let _writer = self.writer().await;
        let mut tx = self.begin_write().await?;
        let mut outcome = AssetImportOutcome::default();
        for asset in rows {
            let existing = sqlx::query_as::<_, StoredAsset>(
                "SELECT hostname, category, purchase_date, price_eur, department, warranty_end,
                    embodied_kgco2e
                 FROM assets WHERE serial = $1",
            )
            .bind(asset.serial.clone())
            .fetch_optional(&mut *tx)
            .await?;
            let stored = existing.map(|row| row.with_serial(asset.serial.clone()));
            match &stored {
                Some(stored) if stored == asset => outcome.unchanged += 1,
                Some(_) => outcome.updated += 1,
                None => outcome.created += 1,
            }
            if stored.as_ref() != Some(asset) {
                sqlx::query(
                    "INSERT INTO assets (serial, hostname, category, purchase_date, price_eur,
                        department, warranty_end, imported_unix_ms, embodied_kgco2e)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                     ON CONFLICT (serial) DO UPDATE SET hostname = excluded.hostname,
                        category = excluded.category, purchase_date = excluded.purchase_date,
                        price_eur = excluded.price_eur, department = excluded.department,
                        warranty_end = excluded.warranty_end,
                        imported_unix_ms = excluded.imported_unix_ms,
                        embodied_kgco2e = excluded.embodied_kgco2e",
                )
                .bind(asset.serial.clone())
                .bind(asset.hostname.clone())
                .bind(asset.category.clone())
                .bind(asset.purchase_date.clone())
                .bind(asset.price_eur)
                .bind(asset.department.clone())
                .bind(asset.warranty_end.clone())
                .bind(now_unix_ms)
                .bind(asset.embodied_kgco2e)
                .execute(&mut *tx)
                .await?;
            }
            let matched: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM devices d
                 LEFT JOIN inventories i ON i.device_id = d.id
                    AND i.collected_unix_ms = d.inventory_unix_ms
                 WHERE i.serial_number = $1 OR (i.serial_number IS NULL AND d.hostname = $2)",
            )
            .bind(asset.serial.clone())
            .bind(asset.hostname.clone().unwrap_or_default())
            .fetch_one(&mut *tx)
            .await?;
            outcome.matched_devices += usize::from(matched > 0);
        }
        if dry_run {
            tx.rollback().await?;
        } else {
            // The register's category decides where a device's hours count.
            super::moves::refresh_categories_in(self.dialect, &mut tx, None).await?;
            tx.commit().await?;
        }
        Ok(outcome)
    }

    /// Every device with its register facts, by department and host name.
    ///
    /// # Errors
    /// On a database error.
    pub async fn asset_export_rows(&self) -> Result<Vec<AssetExportRow>, StoreError> {
        let sql = format!(
            "SELECT d.id AS device_id, d.hostname, d.department, i.serial_number AS serial,
                COALESCE(a.category, i.chassis) AS category, i.vendor, i.model, a.purchase_date,
                a.price_eur, a.warranty_end
             {DEVICE_ASSET_JOIN}
             ORDER BY d.department, d.hostname, d.id"
        );
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .fetch_all(&self.pool)
            .await?)
    }

    /// A device's identity and register facts; `None` for an unknown id.
    ///
    /// # Errors
    /// On a database error.
    pub async fn device_identity(
        &self,
        device_id: &str,
    ) -> Result<Option<DeviceIdentity>, StoreError> {
        let sql = format!(
            "SELECT COALESCE(a.category, i.chassis, '') AS category, i.vendor, i.model,
                i.model_family, i.disk_bytes, a.serial AS register_serial, a.purchase_date,
                a.price_eur, a.warranty_end, a.embodied_kgco2e
             {DEVICE_ASSET_JOIN}
             WHERE d.id = $1
             LIMIT 1"
        );
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(device_id.to_owned())
            .fetch_optional(&self.pool)
            .await?)
    }

    /// Each device's age: the register's purchase date when the device is in
    /// it, otherwise the agent's estimate. Devices with neither are left out.
    ///
    /// # Errors
    /// On a database error.
    pub async fn device_ages(&self) -> Result<Vec<DeviceAge>, StoreError> {
        let sql = format!(
            "SELECT d.id AS device_id, COALESCE(a.purchase_date, i.age_since_date) AS since_date,
                CASE WHEN a.purchase_date IS NOT NULL THEN 'asset_register' ELSE i.age_source END
                    AS provenance
             {DEVICE_ASSET_JOIN}
             WHERE a.purchase_date IS NOT NULL OR i.age_since_date IS NOT NULL
             ORDER BY d.id"
        );
        let rows = sqlx::query_as::<_, AgeRow>(sqlx::AssertSqlSafe(sql))
            .fetch_all(&self.pool)
            .await?;
        Ok(rows
            .into_iter()
            .map(|row| DeviceAge {
                device_id: row.device_id,
                since_date: row.since_date,
                provenance: row.provenance.unwrap_or_else(|| "unknown".into()),
            })
            .collect())
    }
}
