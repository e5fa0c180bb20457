//! Devices retired from the fleet, and where they went: the record the
//! disposal report is computed from.

use super::assets::DEVICE_ASSET_JOIN;
use super::{Store, StoreError};

/// A retired device, as recorded.
#[derive(Debug, Clone, PartialEq, serde::Serialize, sqlx::FromRow)]
pub struct DisposalRow {
    pub device_id: String,
    pub hostname: String,
    pub department: String,
    pub category: String,
    /// `YYYY-MM-DD`, from the register or the agent; `None` when unknown.
    pub first_use: Option<String>,
    /// `YYYY-MM-DD`.
    pub retired_on: String,
    /// `reused_internally`, `donated`, `sold_refurbished`, `recycled`.
    pub outcome: String,
    pub note: String,
    pub recorded_by: String,
    pub recorded_unix_ms: i64,
    /// The decision that retired it (a reuse that replaced it), if one did.
    pub suggestion_id: Option<String>,
}

/// Records (or corrects) a device's disposal with its facts of the day;
/// `suggestion_id` names the decision that retired it, if one did. Returns
/// `false` when no device has this id.
pub(super) async fn insert_disposal(
    connection: &mut sqlx::AnyConnection,
    device_id: &str,
    (retired_on, outcome, note): (&str, &str, &str),
    (actor, now_unix_ms, suggestion_id): (&str, i64, Option<&str>),
) -> Result<bool, sqlx::Error> {
    let inserted = sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO disposals (device_id, hostname, department, category, first_use,
            retired_on, outcome, note, recorded_by, recorded_unix_ms, suggestion_id)
         SELECT d.id, d.hostname, d.department, COALESCE(a.category, i.chassis, 'unknown'),
            COALESCE(a.purchase_date, i.age_since_date), $2, $3, $4, $5, $6, $7
         {DEVICE_ASSET_JOIN}
         WHERE d.id = $1
         LIMIT 1
         ON CONFLICT (device_id) DO UPDATE SET retired_on = excluded.retired_on,
            outcome = excluded.outcome, note = excluded.note,
            recorded_by = excluded.recorded_by,
            recorded_unix_ms = excluded.recorded_unix_ms,
            suggestion_id = excluded.suggestion_id"
    )))
    .bind(device_id.to_owned())
    .bind(retired_on.to_owned())
    .bind(outcome.to_owned())
    .bind(note.to_owned())
    .bind(actor.to_owned())
    .bind(now_unix_ms)
    .bind(suggestion_id.map(str::to_owned))
    .execute(connection)
    .await?
    .rows_affected();
    Ok(inserted > 0)
}

/// What the accounting needs of a retired device: the facts its disposal
/// kept, and its model and pinned footprint while the device is known.
#[derive(Debug, Clone, sqlx::FromRow)]
struct RetiredRow {
    device_id: String,
    department: String,
    category: String,
    first_use: Option<String>,
    vendor: Option<String>,
    model: Option<String>,
    model_family: Option<String>,
    disk_bytes: Option<i64>,
    embodied_kgco2e: Option<f64>,
}

impl Store {
    /// The retired devices as the accounting reads them (department,
    /// category and first day of use as their disposal kept them).
    ///
    /// # Errors
    /// On a database error.
    pub async fn retired_device_facts(
        &self,
    ) -> Result<Vec<crate::analysis::DeviceFacts>, StoreError> {
        let rows = sqlx::query_as::<_, RetiredRow>(
            "SELECT p.device_id, p.department, p.category, p.first_use, i.vendor, i.model,
                i.model_family, i.disk_bytes, a.embodied_kgco2e
             FROM disposals p
             LEFT JOIN devices d ON d.id = p.device_id
             LEFT JOIN inventories i ON i.device_id = d.id
                AND i.collected_unix_ms = d.inventory_unix_ms
             LEFT JOIN assets a ON a.serial = i.serial_number
                OR (i.serial_number IS NULL AND a.hostname = d.hostname)
             ORDER BY p.device_id",
        )
        .fetch_all(&self.pool)
        .await?;
        let mut facts: Vec<crate::analysis::DeviceFacts> = Vec::with_capacity(rows.len());
        for row in rows {
            // A device two register rows match counts once.
            if facts.last().is_some_and(|f| f.device_id == row.device_id) {
                continue;
            }
            facts.push(crate::analysis::DeviceFacts {
                age: row
                    .first_use
                    .as_deref()
                    .and_then(crate::domain::parse_date)
                    .map(|since| crate::analysis::Age {
                        since,
                        provenance: "disposal".into(),
                    }),
                device_id: row.device_id,
                department: row.department,
                category: row.category,
                vendor: row.vendor,
                model: row.model,
                model_family: row.model_family,
                disk_bytes: row.disk_bytes,
                pinned_kgco2e: row.embodied_kgco2e,
                ..crate::analysis::DeviceFacts::default()
            });
        }
        Ok(facts)
    }

    /// Records that a device was retired: its host name, department,
    /// category and first day of use are kept as they are today. Recording
    /// it again replaces the record (a correction). Returns `false` when no
    /// device has this id.
    ///
    /// # Errors
    /// On a database error.
    pub async fn record_disposal(
        &self,
        device_id: &str,
        retired_on: &str,
        outcome: &str,
        note: &str,
        actor: &str,
        now_unix_ms: i64,
    ) -> Result<bool, StoreError> {
        let _writer = self.writer().await;
        let mut connection = self.pool.acquire().await?;
        Ok(insert_disposal(
            &mut connection,
            device_id,
            (retired_on, outcome, note),
            (actor, now_unix_ms, None),
        )
        .await?)
    }

    /// A device's disposal, if it was retired.
    ///
    /// # Errors
    /// On a database error.
    pub async fn disposal(&self, device_id: &str) -> Result<Option<DisposalRow>, StoreError> {
        Ok(sqlx::query_as::<_, DisposalRow>(
            "SELECT device_id, hostname, department, category, first_use, retired_on, outcome,
                note, recorded_by, recorded_unix_ms, suggestion_id
             FROM disposals WHERE device_id = $1",
        )
        .bind(device_id.to_owned())
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Every disposal, by date of retirement.
    ///
    /// # Errors
    /// On a database error.
    pub async fn disposals(&self) -> Result<Vec<DisposalRow>, StoreError> {
        Ok(sqlx::query_as::<_, DisposalRow>(
            "SELECT device_id, hostname, department, category, first_use, retired_on, outcome,
                note, recorded_by, recorded_unix_ms, suggestion_id
             FROM disposals ORDER BY retired_on, device_id",
        )
        .fetch_all(&self.pool)
        .await?)
    }
}
