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

impl Store {
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
