//! What the analysis reads (rollups, latest inventories, the register,
//! storage snapshots, IT's requests) and how suggestions are kept: stable
//! ids, decisions preserved across recomputations, every change recorded.

use std::collections::HashMap;

use super::{Store, StoreError};
use crate::analysis::{
    Age, AnalysisInput, DeviceFacts, DeviceRequest, Reclaimable, Suggestion, Use,
};
use crate::domain::rfc3339;
use crate::lifecycle;

/// A stored suggestion, as the contract shows it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct StoredSuggestion {
    pub id: String,
    pub kind: String,
    pub status: String,
    pub departments: Vec<String>,
    pub devices: Vec<String>,
    pub rationale: String,
    pub avoided_kgco2e: crate::analysis::Avoided,
    pub avoided_cost_eur: Option<f64>,
    /// RFC 3339.
    pub created: String,
    pub updated: String,
}

/// One change of a suggestion's status.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Decision {
    pub status: String,
    pub reason: String,
    pub actor: String,
    /// RFC 3339.
    pub at: String,
}

/// What a recomputation did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct RecomputeOutcome {
    pub created: usize,
    pub updated: usize,
    /// Dismissed ones whose facts changed materially: open again.
    pub reopened: usize,
    /// Dismissed or done ones left as they are.
    pub kept: usize,
    /// Open ones that no longer hold.
    pub removed: usize,
    /// Rows written (new, changed or reopened).
    pub written: usize,
}

/// Stored suggestions' states, read before a recomputation is written.
#[derive(Debug, Clone, Default)]
pub struct SuggestionSnapshot {
    /// id → (status, material facts digest).
    states: HashMap<String, (String, String)>,
    /// id → content digest.
    contents: HashMap<String, String>,
}

/// Why a decision was refused.
#[derive(Debug, thiserror::Error)]
pub enum DecisionError {
    #[error("no suggestion {0}; `sobrio-collector suggestions list` shows them")]
    Unknown(String),
    #[error(
        "suggestion {id} is {from}: it cannot become {to} (open → accepted → done, or dismissed)"
    )]
    Transition {
        id: String,
        from: String,
        to: String,
    },
    #[error("a dismissal, or undoing a suggestion done, needs a reason")]
    NoReason,
    #[error("the reason is longer than {MAX_REASON_CHARS} characters")]
    ReasonTooLong,
    #[error(
        "no action {0:?}: the actions are accept, dismiss (with a reason), done and undo (with a reason)"
    )]
    UnknownAction(String),
    #[error(
        "this reuse replaces {0}: say what became of it, as the outcome (reused_internally, \
         donated, sold_refurbished or recycled)"
    )]
    OutcomeNeeded(String),
    #[error(
        "no outcome {0:?}: a replaced device was reused_internally, donated, sold_refurbished or recycled"
    )]
    UnknownOutcome(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The longest reason a decision keeps.
pub const MAX_REASON_CHARS: usize = 2000;

impl crate::error::Coded for DecisionError {
    fn code(&self) -> crate::error::ErrorCode {
        use crate::error::ErrorCode;
        match self {
            Self::Unknown(_) | Self::UnknownAction(_) => ErrorCode::NotFound,
            Self::Transition { .. } => ErrorCode::Conflict,
            Self::NoReason
            | Self::ReasonTooLong
            | Self::OutcomeNeeded(_)
            | Self::UnknownOutcome(_) => ErrorCode::InvalidArgument,
            Self::Store(error) => crate::error::Coded::code(error),
        }
    }
}

/// A device's latest storage scan: what it could reclaim.
#[derive(sqlx::FromRow)]
struct ReclaimableRow {
    device_id: String,
    duplicate_bytes: Option<i64>,
    temp_bytes: Option<i64>,
    cache_bytes: Option<i64>,
    trash_bytes: Option<i64>,
    stale_bytes: Option<i64>,
    mail_archives_bytes: Option<i64>,
    old_downloads_bytes: Option<i64>,
}

impl From<ReclaimableRow> for Reclaimable {
    fn from(row: ReclaimableRow) -> Self {
        Self {
            duplicates: row.duplicate_bytes.unwrap_or(0),
            temp: row.temp_bytes.unwrap_or(0),
            cache: row.cache_bytes.unwrap_or(0),
            trash: row.trash_bytes.unwrap_or(0),
            stale: row.stale_bytes.unwrap_or(0),
            mail_archives: row.mail_archives_bytes.unwrap_or(0),
            old_downloads: row.old_downloads_bytes.unwrap_or(0),
        }
    }
}

/// A person seen on a device.
#[derive(sqlx::FromRow)]
struct DevicePerson {
    device_id: String,
    person_id: String,
}

/// A department's hours, packed as `start:count,…`.
#[derive(sqlx::FromRow)]
struct PackedHours {
    department: String,
    category: String,
    hours: Option<String>,
}

/// A request as stored.
#[derive(sqlx::FromRow)]
struct StoredRequest {
    id: i64,
    department: String,
    category: String,
    quantity: i64,
    min_memory_bytes: Option<i64>,
    min_logical_cores: Option<i64>,
    min_storage_bytes: Option<i64>,
}

impl From<StoredRequest> for DeviceRequest {
    fn from(row: StoredRequest) -> Self {
        Self {
            id: row.id,
            department: row.department,
            category: row.category,
            quantity: u32::try_from(row.quantity).unwrap_or(0),
            min_memory_bytes: row.min_memory_bytes,
            min_logical_cores: row.min_logical_cores,
            min_storage_bytes: row.min_storage_bytes,
        }
    }
}

/// A suggestion as stored: its lists as JSON arrays, its times in Unix ms.
#[derive(sqlx::FromRow)]
struct SuggestionRow {
    id: String,
    kind: String,
    status: String,
    departments: String,
    devices: String,
    rationale: String,
    avoided_kgco2e: f64,
    avoided_kgco2e_low: f64,
    avoided_kgco2e_high: f64,
    avoided_source: String,
    avoided_cost_eur: Option<f64>,
    created_unix_ms: i64,
    updated_unix_ms: i64,
}

impl TryFrom<SuggestionRow> for StoredSuggestion {
    type Error = StoreError;

    fn try_from(row: SuggestionRow) -> Result<Self, StoreError> {
        let list = |json: &str| -> Result<Vec<String>, StoreError> {
            serde_json::from_str(json)
                .map_err(|e| StoreError::Corrupt(format!("suggestion list: {e}")))
        };
        Ok(Self {
            departments: list(&row.departments)?,
            devices: list(&row.devices)?,
            id: row.id,
            kind: row.kind,
            status: row.status,
            rationale: row.rationale,
            avoided_kgco2e: crate::analysis::Avoided {
                value: row.avoided_kgco2e,
                low: row.avoided_kgco2e_low,
                high: row.avoided_kgco2e_high,
                source: row.avoided_source,
            },
            avoided_cost_eur: row.avoided_cost_eur,
            created: rfc3339(row.created_unix_ms),
            updated: rfc3339(row.updated_unix_ms),
        })
    }
}

/// Suggestions of one kind and status: how many, and what they avoid.
#[derive(sqlx::FromRow)]
struct SuggestionCount {
    kind: String,
    status: String,
    total: i64,
    avoided: f64,
}

/// A decision as stored.
#[derive(sqlx::FromRow)]
struct DecisionRow {
    status: String,
    reason: String,
    actor: String,
    at_unix_ms: i64,
}

impl From<DecisionRow> for Decision {
    fn from(row: DecisionRow) -> Self {
        Self {
            status: row.status,
            reason: row.reason,
            actor: row.actor,
            at: rfc3339(row.at_unix_ms),
        }
    }
}

/// A done suggestion's avoided kgCO2e, with its range.
#[derive(sqlx::FromRow)]
struct AvoidedRow {
    kind: String,
    devices: String,
    avoided_kgco2e: f64,
    avoided_kgco2e_low: f64,
    avoided_kgco2e_high: f64,
    avoided_source: String,
}

#[derive(sqlx::FromRow)]
struct LedgerTotal {
    view: String,
    kgco2e: f64,
    kgco2e_low: f64,
    kgco2e_high: f64,
}

/// One entry of the ledger of what was avoided.
#[derive(Debug, Clone, PartialEq, serde::Serialize, sqlx::FromRow)]
pub struct LedgerEntry {
    pub id: i64,
    pub suggestion_id: String,
    pub kind: String,
    /// The device whose replacement (or yearly share) was avoided.
    pub device_id: String,
    /// `capital_goods` (a replacement not built, counted in the year of
    /// the decision) or `lifetime_allocation` (an extension's yearly share).
    pub view: String,
    pub year: i64,
    pub kgco2e: f64,
    pub kgco2e_low: f64,
    pub kgco2e_high: f64,
    /// The source and range of the figures used; on a skipped device, the
    /// entry that already counts it.
    pub factors: String,
    /// On a reversal: the entry it cancels.
    pub reverses: Option<i64>,
    pub at_unix_ms: i64,
}

/// The devices whose replacement a suggestion avoids: a reuse's recipient
/// (its donor is not replaced), a pool's freed devices, the one device of a
/// repair, an upgrade or an extension. Storage hygiene avoids no device.
fn ledger_subjects(kind: &str, devices: &[String]) -> Vec<String> {
    match kind {
        "reuse" => devices
            .get(1)
            .or(devices.first())
            .cloned()
            .into_iter()
            .collect(),
        "pool" => devices.to_vec(),
        "repair" | "upgrade" | "extend" => devices.first().cloned().into_iter().collect(),
        _ => Vec::new(),
    }
}

/// Writes the entries of a suggestion marked done: its avoided figures
/// split over its subject devices, in its view; a device already counted
/// in that view by an entry that stands gets a zero entry naming it.
async fn write_ledger_entries(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    id: &str,
    now: i64,
) -> Result<(), StoreError> {
    let row = sqlx::query_as::<_, AvoidedRow>(
        "SELECT kind, devices, avoided_kgco2e, avoided_kgco2e_low, avoided_kgco2e_high,
            avoided_source
         FROM suggestions WHERE id = $1",
    )
    .bind(id.to_owned())
    .fetch_one(&mut **tx)
    .await?;
    let devices: Vec<String> = serde_json::from_str(&row.devices)
        .map_err(|e| StoreError::Corrupt(format!("suggestion {id}: devices: {e}")))?;
    let subjects = ledger_subjects(&row.kind, &devices);
    if subjects.is_empty() {
        return Ok(());
    }
    let view = if row.kind == "extend" {
        "lifetime_allocation"
    } else {
        "capital_goods"
    };
    let year = jiff::Timestamp::from_millisecond(now)
        .map(|t| i64::from(t.to_zoned(jiff::tz::TimeZone::UTC).year()))
        .unwrap_or(1970);
    #[allow(clippy::cast_precision_loss)]
    let share = 1.0 / subjects.len() as f64;
    for device in subjects {
        // Entries that stand: not reversed, not reversals, not zero.
        let counted: Option<String> = sqlx::query_scalar(
            "SELECT e.suggestion_id FROM avoided_ledger e
             WHERE e.device_id = $1 AND e.view = $2 AND e.reverses IS NULL AND e.kgco2e <> 0
               AND NOT EXISTS (SELECT 1 FROM avoided_ledger r WHERE r.reverses = e.id)
             LIMIT 1",
        )
        .bind(device.clone())
        .bind(view.to_owned())
        .fetch_optional(&mut **tx)
        .await?;
        let (value, low, high, factors) = match counted {
            Some(other) => (
                0.0,
                0.0,
                0.0,
                format!("already counted by suggestion {other}"),
            ),
            None => (
                row.avoided_kgco2e * share,
                row.avoided_kgco2e_low * share,
                row.avoided_kgco2e_high * share,
                row.avoided_source.clone(),
            ),
        };
        sqlx::query(
            "INSERT INTO avoided_ledger (suggestion_id, kind, device_id, view, year, kgco2e,
                kgco2e_low, kgco2e_high, factors, reverses, at_unix_ms)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, NULL, $10)",
        )
        .bind(id.to_owned())
        .bind(row.kind.clone())
        .bind(device)
        .bind(view.to_owned())
        .bind(year)
        .bind(value)
        .bind(low)
        .bind(high)
        .bind(factors)
        .bind(now)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// Reverses the standing entries of a suggestion whose done is undone: an
/// entry with the opposite figures, pointing at the one it cancels.
async fn reverse_ledger_entries(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    id: &str,
    now: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO avoided_ledger (suggestion_id, kind, device_id, view, year, kgco2e,
            kgco2e_low, kgco2e_high, factors, reverses, at_unix_ms)
         SELECT e.suggestion_id, e.kind, e.device_id, e.view, e.year, -e.kgco2e,
            -e.kgco2e_low, -e.kgco2e_high, e.factors, e.id, $2
         FROM avoided_ledger e
         WHERE e.suggestion_id = $1 AND e.reverses IS NULL
           AND NOT EXISTS (SELECT 1 FROM avoided_ledger r WHERE r.reverses = e.id)",
    )
    .bind(id.to_owned())
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

fn date(text: Option<String>) -> Option<jiff::civil::Date> {
    text.and_then(|t| t.get(..10).and_then(|d| d.parse().ok()))
}

impl Store {
    /// The facts of every enrolled device (latest inventory, the register,
    /// its use over `[start, end)`), by id.
    ///
    /// # Errors
    /// On a database error or a stored value that does not parse.
    pub async fn device_facts(&self, start: i64, end: i64) -> Result<Vec<DeviceFacts>, StoreError> {
        // One row per device, its weeks of use aggregated in the same query,
        // its facts packed in one text value (unit separator between them):
        // reading costs per row and per value, far more than the packing.
        // Devices are further packed 256 to a bucket of their id's last two
        // characters: a million devices come back in 256 rows.
        let bucket = self.dialect.last_characters("d.id", 2);
        let aggregate = self.dialect.string_aggregate("facts", '\x1e');
        let rows: Vec<Option<String>> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT {aggregate} FROM (
             SELECT {bucket} AS bucket, concat_ws('\x1f', d.id, d.hostname, d.department,
                COALESCE(a.category, i.chassis, ''),
                COALESCE(CAST(i.memory_bytes AS TEXT), ''),
                COALESCE(CAST(i.cpu_logical_cores AS TEXT), ''),
                COALESCE(CAST(i.disk_bytes AS TEXT), ''),
                COALESCE(a.purchase_date, i.age_since_date, ''),
                CASE WHEN a.purchase_date IS NOT NULL THEN 'asset_register'
                     ELSE COALESCE(i.age_source, '') END,
                COALESCE(CAST(a.price_eur AS TEXT), ''),
                COALESCE(CAST(i.battery_health_percent AS TEXT), ''),
                COALESCE(CAST(i.battery_cycles AS TEXT), ''),
                COALESCE(i.disk_health, ''),
                COALESCE(CAST(w.weeks AS TEXT), ''), COALESCE(CAST(w.powered AS TEXT), ''),
                COALESCE(CAST(w.active AS TEXT), ''), COALESCE(CAST(w.cpu_hot AS TEXT), ''),
                COALESCE(CAST(w.memory_hot AS TEXT), ''), COALESCE(CAST(w.fill AS TEXT), ''),
                COALESCE(i.vendor, ''), COALESCE(i.model, ''), COALESCE(i.model_family, ''),
                COALESCE(CAST(a.embodied_kgco2e AS TEXT), '')) AS facts
             FROM devices d
             LEFT JOIN inventories i ON i.device_id = d.id AND i.collected_unix_ms = d.inventory_unix_ms
             LEFT JOIN assets a ON a.serial = i.serial_number
                 OR (i.serial_number IS NULL AND a.hostname = d.hostname)
             LEFT JOIN (
                 SELECT device_id, COUNT(*) AS weeks, CAST(SUM(powered_hours) AS BIGINT) AS powered,
                    CAST(SUM(active_hours) AS BIGINT) AS active,
                    CAST(SUM(cpu_hot_hours) AS BIGINT) AS cpu_hot,
                    CAST(SUM(memory_hot_hours) AS BIGINT) AS memory_hot,
                    MAX(disk_fill_max_percent) AS fill
                 FROM device_weeks WHERE week_start_unix_ms >= $1 AND week_start_unix_ms < $2
                 GROUP BY device_id
             ) w ON w.device_id = d.id
             WHERE d.revoked_unix_ms IS NULL
             ) packed GROUP BY bucket"
        )))
        .bind(start)
        .bind(end)
        .fetch_all(&self.pool)
        .await?;
        let packed_rows: Vec<String> = rows.into_iter().map(Option::unwrap_or_default).collect();
        let mut facts: Vec<&str> = packed_rows
            .iter()
            .flat_map(|p| p.split('\u{1e}'))
            .filter(|f| !f.is_empty())
            .collect();
        // Ids lead each record: by id, as the analysis expects.
        facts.sort_unstable();
        let mut devices: Vec<DeviceFacts> = Vec::with_capacity(facts.len());
        for packed in facts {
            let fields: Vec<&str> = packed.split('\u{1f}').collect();
            let [
                id,
                hostname,
                department,
                category,
                memory,
                cores,
                disk,
                since,
                provenance,
                price,
                battery,
                cycles,
                disk_health,
                weeks,
                powered,
                active,
                cpu_hot,
                memory_hot,
                fill,
                vendor,
                model,
                model_family,
                pinned,
            ] = fields.as_slice()
            else {
                return Err(StoreError::Corrupt(format!(
                    "device facts with {} fields (a separator in a name?)",
                    fields.len()
                )));
            };
            if devices
                .last()
                .is_some_and(|d: &DeviceFacts| d.device_id == *id)
            {
                // Two register rows matched (serial and host name): the first wins.
                continue;
            }
            let int = |text: &str| text.parse::<i64>().ok();
            let text = |value: &str| (!value.is_empty()).then(|| value.to_owned());
            let real = |text: &str| text.parse::<f64>().ok();
            let hours = |text: &str| real(text).unwrap_or(0.0);
            devices.push(DeviceFacts {
                device_id: (*id).to_owned(),
                hostname: (*hostname).to_owned(),
                department: (*department).to_owned(),
                category: (*category).to_owned(),
                memory_bytes: int(memory),
                logical_cores: int(cores),
                disk_bytes: int(disk),
                age: date((!since.is_empty()).then(|| (*since).to_owned())).map(|since| Age {
                    since,
                    provenance: if provenance.is_empty() {
                        "unknown".to_owned()
                    } else {
                        (*provenance).to_owned()
                    },
                }),
                price_eur: real(price),
                battery_health_percent: real(battery),
                battery_cycles: int(cycles),
                disk_health: (!disk_health.is_empty()).then(|| (*disk_health).to_owned()),
                usage: Use {
                    weeks: int(weeks).and_then(|w| u32::try_from(w).ok()).unwrap_or(0),
                    powered_hours: hours(powered),
                    active_hours: hours(active),
                    cpu_hot_hours: hours(cpu_hot),
                    memory_hot_hours: hours(memory_hot),
                    disk_fill_max_percent: real(fill),
                },
                vendor: text(vendor),
                model: text(model),
                model_family: text(model_family),
                pinned_kgco2e: real(pinned),
                ..DeviceFacts::default()
            });
        }
        Ok(devices)
    }

    /// Fills in each device's reclaimable storage from its latest scan.
    ///
    /// # Errors
    /// On a database error.
    pub async fn add_reclaimable(
        &self,
        devices: &mut [DeviceFacts],
        index: &HashMap<String, usize>,
    ) -> Result<(), StoreError> {
        let snapshots = sqlx::query_as::<_, ReclaimableRow>(
            "SELECT s.device_id, s.duplicate_bytes, s.temp_bytes, s.cache_bytes, s.trash_bytes,
                s.stale_bytes, s.mail_archives_bytes, s.old_downloads_bytes
             FROM storage_snapshots s
             JOIN (SELECT device_id, MAX(collected_unix_ms) AS latest FROM storage_snapshots
                   WHERE scanned_unix_ms IS NOT NULL GROUP BY device_id) l
               ON l.device_id = s.device_id AND l.latest = s.collected_unix_ms",
        )
        .fetch_all(&self.pool)
        .await?;
        for row in snapshots {
            if let Some(&i) = index.get(&row.device_id) {
                devices[i].reclaimable = Some(Reclaimable::from(row));
            }
        }
        Ok(())
    }

    /// The facts of every enrolled device, their use over `[start, end)`,
    /// departments' hourly activity and open requests.
    ///
    /// # Errors
    /// On a database error.
    pub async fn analysis_input(&self, start: i64, end: i64) -> Result<AnalysisInput, StoreError> {
        let mut devices = self.device_facts(start, end).await?;
        let index: HashMap<String, usize> = devices
            .iter()
            .enumerate()
            .map(|(i, d)| (d.device_id.clone(), i))
            .collect();

        let people = sqlx::query_as::<_, DevicePerson>(
            "SELECT DISTINCT device_id, person_id FROM person_days WHERE collected_unix_ms >= $1",
        )
        .bind(start)
        .fetch_all(&self.pool)
        .await?;
        for row in people {
            if let Some(&i) = index.get(&row.device_id) {
                devices[i].persons.push(row.person_id);
            }
        }

        self.add_reclaimable(&mut devices, &index).await?;

        // One row per department, its hours packed as "start:count,…": a
        // department has hundreds of hours in the window, and rows are what
        // cost.
        let aggregate = self.dialect.string_aggregate(
            "CAST(hour_start_unix_ms AS TEXT) || ':' || CAST(active_devices AS TEXT)",
            ',',
        );
        let hours = sqlx::query_as::<_, PackedHours>(sqlx::AssertSqlSafe(format!(
            "SELECT department, category, {aggregate} AS hours FROM department_hours
             WHERE hour_start_unix_ms >= $1 AND hour_start_unix_ms < $2
             GROUP BY department, category"
        )))
        .bind(start)
        .bind(end)
        .fetch_all(&self.pool)
        .await?;
        let mut department_hours: HashMap<(String, String), Vec<(i64, i64)>> = HashMap::new();
        for row in hours {
            let packed = row.hours.unwrap_or_default();
            let parsed = packed
                .split(',')
                .filter(|p| !p.is_empty())
                .map(|pair| {
                    pair.split_once(':')
                        .and_then(|(h, c)| Some((h.parse().ok()?, c.parse().ok()?)))
                        .ok_or_else(|| StoreError::Corrupt(format!("department hour {pair:?}")))
                })
                .collect::<Result<Vec<(i64, i64)>, StoreError>>()?;
            department_hours.insert((row.department, row.category), parsed);
        }
        let requests = self.open_requests().await?;
        let mut reserved = std::collections::HashSet::new();
        let accepted: Vec<String> =
            sqlx::query_scalar("SELECT devices FROM suggestions WHERE status = 'accepted'")
                .fetch_all(&self.pool)
                .await?;
        for json in accepted {
            let devices: Vec<String> = serde_json::from_str(&json)
                .map_err(|e| StoreError::Corrupt(format!("suggestion devices: {e}")))?;
            reserved.extend(devices);
        }
        Ok(AnalysisInput {
            devices,
            department_hours,
            requests,
            window: (start, end),
            reserved,
        })
    }

    /// Requests IT recorded and did not close.
    ///
    /// # Errors
    /// On a database error.
    pub async fn open_requests(&self) -> Result<Vec<DeviceRequest>, StoreError> {
        let rows = sqlx::query_as::<_, StoredRequest>(
            "SELECT id, department, category, quantity, min_memory_bytes, min_logical_cores,
                min_storage_bytes
             FROM device_requests WHERE closed_unix_ms IS NULL ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(DeviceRequest::from).collect())
    }

    /// Records a need ("Finance needs 2 laptops with 16 GB"); returns its id.
    ///
    /// # Errors
    /// On a database error.
    pub async fn add_request(
        &self,
        request: &DeviceRequest,
        actor: &str,
        now_unix_ms: i64,
    ) -> Result<i64, StoreError> {
        let _writer = self.writer().await;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO device_requests (department, category, quantity, min_memory_bytes,
                min_logical_cores, min_storage_bytes, created_by, created_unix_ms)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
        )
        .bind(request.department.clone())
        .bind(request.category.clone())
        .bind(i64::from(request.quantity))
        .bind(request.min_memory_bytes)
        .bind(request.min_logical_cores)
        .bind(request.min_storage_bytes)
        .bind(actor.to_owned())
        .bind(now_unix_ms)
        .fetch_one(&self.pool)
        .await?;
        drop(_writer);
        self.audit(
            now_unix_ms,
            actor,
            "request.add",
            &format!("request:{id}"),
            &request.department,
        )
        .await?;
        Ok(id)
    }

    /// Closes a request; `false` when there is no open request with that id.
    ///
    /// # Errors
    /// On a database error.
    pub async fn close_request(
        &self,
        id: i64,
        actor: &str,
        now_unix_ms: i64,
    ) -> Result<bool, StoreError> {
        let writer = self.writer().await;
        let done = sqlx::query(
            "UPDATE device_requests SET closed_unix_ms = $1 WHERE id = $2 AND closed_unix_ms IS NULL",
        )
        .bind(now_unix_ms)
        .bind(id)
        .execute(&self.pool)
        .await?
        .rows_affected()
            > 0;
        drop(writer);
        if done {
            self.audit(
                now_unix_ms,
                actor,
                "request.close",
                &format!("request:{id}"),
                "",
            )
            .await?;
        }
        Ok(done)
    }

    /// Stores a recomputation: new suggestions open; open and accepted ones
    /// updated; dismissed ones reopened only when their facts changed
    /// materially; done ones untouched; open ones that no longer hold
    /// removed.
    ///
    /// # Errors
    /// On a database error; then nothing changed.
    pub async fn save_suggestions(
        &self,
        computed: &[Suggestion],
        now: i64,
    ) -> Result<RecomputeOutcome, StoreError> {
        let snapshot = self.suggestion_snapshot().await?;
        self.save_suggestions_over(computed, &snapshot, now).await
    }

    /// The stored suggestions' states, to diff a recomputation against; it
    /// may be read while the facts are (the write re-checks statuses).
    ///
    /// # Errors
    /// On a database error or a row that does not parse.
    pub async fn suggestion_snapshot(&self) -> Result<SuggestionSnapshot, StoreError> {
        // Packed and bucketed as the facts are: a few hundred rows.
        let sql = format!(
            "SELECT {} FROM suggestions GROUP BY {}",
            self.dialect.string_aggregate(
                "concat_ws(' ', id, status, facts_sha256, COALESCE(content_sha256, '-'))",
                '\x1e'
            ),
            self.dialect.last_characters("id", 2)
        );
        let rows: Vec<Option<String>> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .fetch_all(&self.pool)
            .await?;
        let mut snapshot = SuggestionSnapshot::default();
        for packed in rows {
            let packed = packed.unwrap_or_default();
            for record in packed.split('\u{1e}').filter(|r| !r.is_empty()) {
                let mut fields = record.split(' ');
                let (Some(id), Some(status), Some(facts), Some(content)) =
                    (fields.next(), fields.next(), fields.next(), fields.next())
                else {
                    return Err(StoreError::Corrupt(format!("suggestion row {record:?}")));
                };
                snapshot.contents.insert(id.to_owned(), content.to_owned());
                snapshot
                    .states
                    .insert(id.to_owned(), (status.to_owned(), facts.to_owned()));
            }
        }
        Ok(snapshot)
    }

    /// As [`Store::save_suggestions`], against a snapshot read earlier.
    /// Statuses are never taken from the snapshot: a decision made since it
    /// was read stands (the write keeps the stored status; a reopening and
    /// a removal each check the status they change).
    ///
    /// # Errors
    /// On a database error; then nothing changed.
    pub async fn save_suggestions_over(
        &self,
        computed: &[Suggestion],
        snapshot: &SuggestionSnapshot,
        now: i64,
    ) -> Result<RecomputeOutcome, StoreError> {
        let _writer = self.writer().await;
        let mut tx = self.begin_write().await?;
        let existing = &snapshot.states;
        let contents = &snapshot.contents;
        let mut outcome = RecomputeOutcome::default();
        let mut writes: Vec<(&Suggestion, String, &str, String)> = Vec::new();
        let mut reopened: Vec<String> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for suggestion in computed {
            let digest = digest(&suggestion.material_facts);
            let content = content_digest(suggestion);
            seen.insert(suggestion.id.as_str());
            match existing.get(&suggestion.id) {
                None => {
                    outcome.created += 1;
                    writes.push((suggestion, digest, "open", content));
                }
                Some((status, _)) if status == "open" || status == "accepted" => {
                    outcome.updated += 1;
                    // Unchanged: nothing to write.
                    if contents.get(&suggestion.id) != Some(&content) {
                        let status = if status == "open" { "open" } else { "accepted" };
                        writes.push((suggestion, digest, status, content));
                    }
                }
                Some((status, old)) if status == "dismissed" && *old != digest => {
                    outcome.reopened += 1;
                    reopened.push(suggestion.id.clone());
                    writes.push((suggestion, digest, "open", content));
                }
                Some(_) => outcome.kept += 1,
            }
        }
        outcome.written = writes.len();
        for chunk in writes.chunks(500) {
            let sql = super::ingest::values_statement(
                self.dialect,
                "INSERT INTO suggestions (id, kind, status, departments, devices, rationale,
                    avoided_kgco2e, avoided_kgco2e_low, avoided_kgco2e_high, avoided_source,
                    avoided_cost_eur, facts_sha256, created_unix_ms, updated_unix_ms,
                    content_sha256)",
                15,
                chunk.len(),
                "ON CONFLICT (id) DO UPDATE SET
                    departments = excluded.departments, devices = excluded.devices,
                    rationale = excluded.rationale, avoided_kgco2e = excluded.avoided_kgco2e,
                    avoided_kgco2e_low = excluded.avoided_kgco2e_low,
                    avoided_kgco2e_high = excluded.avoided_kgco2e_high,
                    avoided_source = excluded.avoided_source,
                    avoided_cost_eur = excluded.avoided_cost_eur,
                    facts_sha256 = excluded.facts_sha256, updated_unix_ms = excluded.updated_unix_ms,
                    content_sha256 = excluded.content_sha256",
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for (s, digest, status, content) in chunk {
                query = query
                    .bind(s.id.clone())
                    .bind(s.kind.name())
                    .bind(*status)
                    .bind(serde_json::to_string(&s.departments).unwrap_or_default())
                    .bind(serde_json::to_string(&s.devices).unwrap_or_default())
                    .bind(s.rationale.clone())
                    .bind(s.avoided_kgco2e.value)
                    .bind(s.avoided_kgco2e.low)
                    .bind(s.avoided_kgco2e.high)
                    .bind(s.avoided_kgco2e.source.clone())
                    .bind(s.avoided_cost_eur)
                    .bind(digest.clone())
                    .bind(now)
                    .bind(now)
                    .bind(content.clone());
            }
            query.execute(&mut *tx).await?;
        }
        outcome.reopened = 0;
        for id in &reopened {
            let changed = sqlx::query(
                "UPDATE suggestions SET status = 'open' WHERE id = $1 AND status = 'dismissed'",
            )
            .bind(id.clone())
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if changed == 0 {
                continue;
            }
            outcome.reopened += 1;
            sqlx::query(
                "INSERT INTO suggestion_decisions (suggestion_id, status, reason, actor, at_unix_ms)
                 VALUES ($1, 'open', 'its facts changed', 'analysis', $2)",
            )
            .bind(id.clone())
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        let stale: Vec<String> = existing
            .iter()
            .filter(|(id, (status, _))| status == "open" && !seen.contains(id.as_str()))
            .map(|(id, _)| id.clone())
            .collect();
        for chunk in stale.chunks(500) {
            let placeholders: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
            let sql = format!(
                "DELETE FROM suggestions WHERE status = 'open' AND id IN ({})",
                placeholders.join(",")
            );
            let query = chunk
                .iter()
                .fold(sqlx::query(sqlx::AssertSqlSafe(sql)), |q, id| {
                    q.bind(id.clone())
                });
            outcome.removed +=
                usize::try_from(query.execute(&mut *tx).await?.rows_affected()).unwrap_or(0);
        }
        tx.commit().await?;
        Ok(outcome)
    }

    /// Stored suggestions, optionally of one kind, newest decisions first
    /// within open, accepted, done, dismissed.
    ///
    /// # Errors
    /// On a database error or a stored row that does not parse.
    pub async fn suggestions(
        &self,
        kind: Option<&str>,
    ) -> Result<Vec<StoredSuggestion>, StoreError> {
        let rows = sqlx::query_as::<_, SuggestionRow>(
            "SELECT id, kind, status, departments, devices, rationale, avoided_kgco2e,
                avoided_kgco2e_low, avoided_kgco2e_high, avoided_source, avoided_cost_eur,
                created_unix_ms, updated_unix_ms
             FROM suggestions WHERE ($1 = '' OR kind = $1)
             ORDER BY CASE status WHEN 'open' THEN 0 WHEN 'accepted' THEN 1 WHEN 'done' THEN 2 ELSE 3 END,
                avoided_kgco2e DESC, id",
        )
        .bind(kind.unwrap_or("").to_owned())
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(StoredSuggestion::try_from).collect()
    }

    /// One page of suggestions matching a kind, a status and a department
    /// (each optional, `""` for any), by status then avoided kgCO2e, and how
    /// many match.
    ///
    /// # Errors
    /// On a database error or a stored row that does not parse.
    pub async fn suggestions_page(
        &self,
        kind: &str,
        status: &str,
        department: &str,
        page: i64,
        size: i64,
    ) -> Result<(Vec<StoredSuggestion>, i64), StoreError> {
        // `departments` holds a JSON array: a department matches as its
        // JSON string, with LIKE's wildcards escaped.
        let pattern = if department.is_empty() {
            String::new()
        } else {
            let quoted = serde_json::to_string(department)
                .map_err(|e| StoreError::Corrupt(e.to_string()))?;
            let escaped = quoted
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_");
            format!("%{escaped}%")
        };
        // Conditions only for the filters given, so that the indexes on
        // (status, avoided) and (status, kind, avoided) give the order.
        let mut conditions = vec!["$1 = $1 AND $2 = $2 AND $3 = $3".to_owned()];
        if !kind.is_empty() {
            conditions.push("kind = $1".into());
        }
        if !status.is_empty() {
            conditions.push("status = $2".into());
        }
        if !department.is_empty() {
            conditions.push("departments LIKE $3 ESCAPE '\\'".into());
        }
        let filter = conditions.join(" AND ");
        let order = if status.is_empty() {
            "CASE status WHEN 'open' THEN 0 WHEN 'accepted' THEN 1 WHEN 'done' THEN 2 ELSE 3 END,
                avoided_kgco2e DESC, id"
        } else {
            "avoided_kgco2e DESC, id DESC"
        };
        let total: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT COUNT(*) FROM suggestions WHERE {filter}"
        )))
        .bind(kind.to_owned())
        .bind(status.to_owned())
        .bind(pattern.clone())
        .fetch_one(&self.pool)
        .await?;
        let rows = sqlx::query_as::<_, SuggestionRow>(sqlx::AssertSqlSafe(format!(
            "SELECT id, kind, status, departments, devices, rationale, avoided_kgco2e,
                avoided_kgco2e_low, avoided_kgco2e_high, avoided_source, avoided_cost_eur,
                created_unix_ms, updated_unix_ms
             FROM suggestions WHERE {filter}
             ORDER BY {order}
             LIMIT $4 OFFSET $5"
        )))
        .bind(kind.to_owned())
        .bind(status.to_owned())
        .bind(pattern)
        .bind(size)
        .bind(page.saturating_sub(1).saturating_mul(size))
        .fetch_all(&self.pool)
        .await?;
        Ok((
            rows.into_iter()
                .map(StoredSuggestion::try_from)
                .collect::<Result<_, _>>()?,
            total,
        ))
    }

    /// Suggestions by kind and status: how many, and the kgCO2e they avoid.
    ///
    /// # Errors
    /// On a database error.
    pub async fn suggestion_counts(&self) -> Result<Vec<(String, String, i64, f64)>, StoreError> {
        let rows = sqlx::query_as::<_, SuggestionCount>(
            "SELECT kind, status, COUNT(*) AS total, COALESCE(SUM(avoided_kgco2e), 0.0) AS avoided
             FROM suggestions GROUP BY kind, status ORDER BY kind, status",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| (r.kind, r.status, r.total, r.avoided))
            .collect())
    }

    /// One suggestion and its decisions, oldest first.
    ///
    /// # Errors
    /// On a database error.
    pub async fn suggestion(
        &self,
        id: &str,
    ) -> Result<Option<(StoredSuggestion, Vec<Decision>)>, StoreError> {
        let Some(row) = sqlx::query_as::<_, SuggestionRow>(
            "SELECT id, kind, status, departments, devices, rationale, avoided_kgco2e,
                avoided_kgco2e_low, avoided_kgco2e_high, avoided_source, avoided_cost_eur,
                created_unix_ms, updated_unix_ms
             FROM suggestions WHERE id = $1",
        )
        .bind(id.to_owned())
        .fetch_optional(&self.pool)
        .await?
        else {
            return Ok(None);
        };
        let decisions = sqlx::query_as::<_, DecisionRow>(
            "SELECT status, reason, actor, at_unix_ms FROM suggestion_decisions
             WHERE suggestion_id = $1 ORDER BY at_unix_ms, id",
        )
        .bind(id.to_owned())
        .fetch_all(&self.pool)
        .await?
        .into_iter()
        .map(Decision::from)
        .collect();
        Ok(Some((StoredSuggestion::try_from(row)?, decisions)))
    }

    /// Changes a suggestion's status (open → accepted → done, or dismissed
    /// from open or accepted, with a reason), recorded with its actor.
    ///
    /// The fleet follows a suggestion done, in the same transaction: a
    /// reuse moves its donor to the recipient's department and retires the
    /// device it replaces (`replaced_outcome` says where it went, required
    /// then); a pool records its members. Undoing reverses both.
    ///
    /// # Errors
    /// An unknown id, a transition the lifecycle does not allow, a dismissal
    /// without a reason, or a database error.
    pub async fn decide(
        &self,
        id: &str,
        to: &str,
        reason: &str,
        actor: &str,
        now: i64,
        replaced_outcome: Option<&str>,
    ) -> Result<StoredSuggestion, DecisionError> {
        let writer = self.writer().await;
        let mut tx = self.begin_write().await.map_err(StoreError::from)?;
        let from: Option<String> =
            sqlx::query_scalar("SELECT status FROM suggestions WHERE id = $1")
                .bind(id.to_owned())
                .fetch_optional(&mut *tx)
                .await
                .map_err(StoreError::from)?;
        let from = from.ok_or_else(|| DecisionError::Unknown(id.to_owned()))?;
        if !lifecycle::transition_allowed(&from, to) {
            return Err(DecisionError::Transition {
                id: id.to_owned(),
                from,
                to: to.to_owned(),
            });
        }
        if lifecycle::reason_missing(&from, to, reason) {
            return Err(DecisionError::NoReason);
        }
        sqlx::query("UPDATE suggestions SET status = $1, updated_unix_ms = $2 WHERE id = $3")
            .bind(to.to_owned())
            .bind(now)
            .bind(id.to_owned())
            .execute(&mut *tx)
            .await
            .map_err(StoreError::from)?;
        sqlx::query(
            "INSERT INTO suggestion_decisions (suggestion_id, status, reason, actor, at_unix_ms)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(id.to_owned())
        .bind(to.to_owned())
        .bind(reason.trim().to_owned())
        .bind(actor.to_owned())
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::from)?;
        let mut changes = Vec::new();
        if to == "done" {
            write_ledger_entries(&mut tx, id, now).await?;
            changes = super::moves::follow_done(
                self.dialect,
                &mut tx,
                id,
                (actor, now),
                replaced_outcome,
            )
            .await?
            .map_err(|refusal| match refusal {
                super::moves::FleetRefusal::OutcomeNeeded(host) => {
                    DecisionError::OutcomeNeeded(host)
                }
            })?;
        } else if from == "done" {
            reverse_ledger_entries(&mut tx, id, now).await?;
            changes = super::moves::follow_undo(self.dialect, &mut tx, id, (actor, now)).await?;
        }
        tx.commit().await.map_err(StoreError::from)?;
        drop(writer);
        let detail = if changes.is_empty() {
            reason.trim().to_owned()
        } else {
            format!("{} [{}]", reason.trim(), changes.join("; "))
        };
        self.audit(now, actor, &format!("suggestion.{to}"), id, detail.trim())
            .await?;
        self.suggestion(id)
            .await?
            .map(|(s, _)| s)
            .ok_or_else(|| DecisionError::Unknown(id.to_owned()))
    }

    /// What done suggestions avoided, from the ledger: each view's
    /// standing total (entries less their reversals), for the impact.
    ///
    /// # Errors
    /// On a database error.
    pub async fn done_avoided(
        &self,
    ) -> Result<Vec<crate::analysis::impact::DoneAvoided>, StoreError> {
        Ok(sqlx::query_as::<_, LedgerTotal>(
            "SELECT view, COALESCE(SUM(kgco2e), 0.0) AS kgco2e,
                COALESCE(SUM(kgco2e_low), 0.0) AS kgco2e_low,
                COALESCE(SUM(kgco2e_high), 0.0) AS kgco2e_high
             FROM avoided_ledger GROUP BY view ORDER BY view",
        )
        .fetch_all(&self.pool)
        .await?
        .into_iter()
        .map(|row| crate::analysis::impact::DoneAvoided {
            lifetime_allocation: row.view == "lifetime_allocation",
            value: row.kgco2e,
            low: row.kgco2e_low,
            high: row.kgco2e_high,
        })
        .collect())
    }

    /// The ledger, oldest entry first.
    ///
    /// # Errors
    /// On a database error.
    pub async fn avoided_ledger(&self) -> Result<Vec<LedgerEntry>, StoreError> {
        Ok(sqlx::query_as::<_, LedgerEntry>(
            "SELECT id, suggestion_id, kind, device_id, view, year, kgco2e, kgco2e_low,
                kgco2e_high, factors, reverses, at_unix_ms
             FROM avoided_ledger ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await?)
    }
}

fn content_digest(s: &Suggestion) -> String {
    digest(&format!(
        "{}|{:?}|{:?}|{}|{}|{}|{}|{}|{:?}",
        s.kind.name(),
        s.departments,
        s.devices,
        s.rationale,
        s.avoided_kgco2e.value,
        s.avoided_kgco2e.low,
        s.avoided_kgco2e.high,
        s.avoided_kgco2e.source,
        s.avoided_cost_eur
    ))
}

/// The first 128 bits of SHA-256, as hex: enough to tell contents apart,
/// and half the bytes to read back at every recomputation.
fn digest(text: &str) -> String {
    use std::fmt::Write as _;
    let digest = ring::digest::digest(&ring::digest::SHA256, text.as_bytes());
    let mut hex = String::with_capacity(32);
    for b in &digest.as_ref()[..16] {
        let _ = write!(hex, "{b:02x}");
    }
    hex
}
