//! Storing reports: one transaction for a whole group of Submit calls,
//! multi-row statements, idempotence on `report_id`, and the rollups kept in
//! step in the same transaction.
//!
//! Rollups are maintained by deltas: for each hourly bucket a report brings,
//! the bucket already stored (if any) is subtracted and the new one added, so
//! a resent or fuller copy of an hour never counts twice.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use sqlx::any::{AnyArguments, AnyRow};
use sqlx::{Any, AnyConnection, AssertSqlSafe, FromRow};

use super::moves::{
    HourDeltas, apply_hour_deltas, department_at, refresh_categories_in, spells_of,
};
use super::{
    DeviceReports, DeviceWeek, Dialect, IncomingReport, InventoryRow, Store, StoreError,
    UsageHourRow,
};

pub(crate) const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 24 * HOUR_MS;
pub(crate) const WEEK_MS: i64 = 7 * DAY_MS;
/// An hour is active with at least this many active minutes.
pub const ACTIVE_MINUTES: i64 = 15;
/// An hour is hot when its CPU or memory p95 reaches this.
pub const HOT_PERCENT: f64 = 90.0;
/// Bound parameters per statement: under SQLite's 32766 and PostgreSQL's 65535.
const MAX_PARAMETERS: usize = 30_000;

/// Monday 00:00 UTC of the ISO week holding `unix_ms`.
pub fn week_start(unix_ms: i64) -> i64 {
    let day = unix_ms.div_euclid(DAY_MS);
    // 1970-01-01 was a Thursday: day 0 is 3 days after a Monday.
    (day - (day + 3).rem_euclid(7)) * DAY_MS
}

type AnyQuery = sqlx::query::Query<'static, Any, AnyArguments>;

/// `head VALUES ($1, …), (…) tail` for `rows` rows of `columns` parameters.
///
/// Placeholders are the dialect's (anonymous on SQLite).
pub(super) fn values_statement(
    dialect: &Dialect,
    head: &str,
    columns: usize,
    rows: usize,
    tail: &str,
) -> String {
    let mut sql = String::with_capacity(head.len() + tail.len() + rows * columns * 5);
    sql.push_str(head);
    sql.push_str(" VALUES ");
    let mut n = 0;
    for row in 0..rows {
        sql.push_str(if row == 0 { "(" } else { ", (" });
        for column in 0..columns {
            n += 1;
            if column > 0 {
                sql.push_str(", ");
            }
            dialect.push_placeholder(&mut sql, n);
        }
        sql.push(')');
    }
    sql.push(' ');
    sql.push_str(tail);
    sql
}

/// A multi-row statement over `rows`, as statements of chunks under the
/// parameter limit.
fn chunked_statements<'a, T>(
    dialect: &'a Dialect,
    head: &'a str,
    columns: usize,
    tail: &'a str,
    rows: &'a [T],
    bind: impl Fn(AnyQuery, &T) -> AnyQuery + 'a,
) -> impl Iterator<Item = AnyQuery> + 'a {
    rows.chunks((MAX_PARAMETERS / columns).max(1))
        .map(move |chunk| {
            let sql = values_statement(dialect, head, columns, chunk.len(), tail);
            chunk.iter().fold(sqlx::query(AssertSqlSafe(sql)), &bind)
        })
}

/// Runs a multi-row statement over `rows`, in chunks under the parameter
/// limit.
pub(super) async fn execute_rows<T>(
    dialect: &Dialect,
    connection: &mut AnyConnection,
    head: &str,
    columns: usize,
    tail: &str,
    rows: &[T],
    bind: impl Fn(AnyQuery, &T) -> AnyQuery,
) -> Result<(), sqlx::Error> {
    for query in chunked_statements(dialect, head, columns, tail, rows, bind) {
        query.execute(&mut *connection).await?;
    }
    Ok(())
}

/// Runs a multi-row statement over `rows`, in chunks under the parameter
/// limit; returns the rows the statements return.
pub(super) async fn fetch_rows<T, R>(
    dialect: &Dialect,
    connection: &mut AnyConnection,
    head: &str,
    columns: usize,
    tail: &str,
    rows: &[T],
    bind: impl Fn(AnyQuery, &T) -> AnyQuery,
) -> Result<Vec<R>, sqlx::Error>
where
    R: for<'r> FromRow<'r, AnyRow>,
{
    let mut returned = Vec::new();
    for query in chunked_statements(dialect, head, columns, tail, rows, bind) {
        for row in query.fetch_all(&mut *connection).await? {
            returned.push(R::from_row(&row)?);
        }
    }
    Ok(returned)
}

/// A report the insert stored (one not stored before).
#[derive(FromRow)]
struct InsertedReport {
    report_id: String,
}

/// An hourly bucket as stored, with its device.
#[derive(FromRow)]
struct StoredHour {
    device_id: String,
    #[sqlx(flatten)]
    hour: UsageHourRow,
}

/// An hourly bucket with its device's placement.
#[derive(FromRow)]
struct PlacedBucket {
    #[sqlx(flatten)]
    placement: Placement,
    #[sqlx(flatten)]
    stored: StoredHour,
}

/// Where a device's hours count in the department rollup: its department
/// (since when), and its category.
#[derive(FromRow)]
struct Placement {
    department: String,
    department_since_unix_ms: i64,
    category: String,
}

/// A device's placement, by id.
#[derive(FromRow)]
struct PlacedDevice {
    id: String,
    #[sqlx(flatten)]
    placement: Placement,
}

/// The department and category the rollup counts a device's `hour` under:
/// the current department from the device's last move on, before it the
/// one its history gives (read once per device, into `spells`).
async fn placed(
    connection: &mut AnyConnection,
    spells: &mut HashMap<String, Vec<(i64, String)>>,
    device: &str,
    placement: &Placement,
    hour: i64,
) -> Result<(String, String), sqlx::Error> {
    if hour >= placement.department_since_unix_ms {
        return Ok((placement.department.clone(), placement.category.clone()));
    }
    if !spells.contains_key(device) {
        let history = spells_of(connection, device).await?;
        spells.insert(device.to_owned(), history);
    }
    let department = spells
        .get(device)
        .and_then(|history| department_at(history, hour))
        .unwrap_or(&placement.department);
    Ok((department.to_owned(), placement.category.clone()))
}

/// A device's weekly counts as the rollup keeps them.
#[derive(FromRow)]
struct WeekCounts {
    device_id: String,
    week_start_unix_ms: i64,
    powered_hours: i64,
    active_hours: i64,
    cpu_hot_hours: i64,
    memory_hot_hours: i64,
}

/// A department's active devices of one category in one hour.
#[derive(FromRow)]
struct DepartmentHour {
    department: String,
    category: String,
    hour_start_unix_ms: i64,
    active_devices: i64,
}

/// Active devices in one hour of a department.
#[derive(FromRow)]
struct ActiveHour {
    hour_start_unix_ms: i64,
    active_devices: i64,
}

/// What an hourly bucket contributes to the rollups.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct HourContribution {
    powered: i64,
    active: i64,
    cpu_hot: i64,
    memory_hot: i64,
    disk_fill: Option<f64>,
}

impl HourContribution {
    fn of(hour: &UsageHourRow) -> Self {
        Self {
            powered: i64::from(hour.powered_minutes > 0),
            active: i64::from(hour.active_minutes.unwrap_or(0) >= ACTIVE_MINUTES),
            cpu_hot: i64::from(hour.cpu_p95_percent.is_some_and(|p| p >= HOT_PERCENT)),
            memory_hot: i64::from(hour.memory_p95_percent.is_some_and(|p| p >= HOT_PERCENT)),
            disk_fill: hour.disk_fill_percent,
        }
    }
}

/// Rollup changes a group of reports makes.
#[derive(Debug, Default)]
struct RollupDeltas {
    /// (device, week start) → change.
    weeks: BTreeMap<(String, i64), HourContribution>,
    /// (department, category, hour start) → change in active devices.
    department_hours: HourDeltas,
}

impl RollupDeltas {
    fn apply(
        &mut self,
        device: &str,
        (department, category): (&str, &str),
        hour: i64,
        old: Option<HourContribution>,
        new: HourContribution,
    ) {
        let old = old.unwrap_or_default();
        let week = self
            .weeks
            .entry((device.to_owned(), week_start(hour)))
            .or_default();
        week.powered += new.powered - old.powered;
        week.active += new.active - old.active;
        week.cpu_hot += new.cpu_hot - old.cpu_hot;
        week.memory_hot += new.memory_hot - old.memory_hot;
        week.disk_fill = match (week.disk_fill, new.disk_fill) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        if new.active != old.active {
            *self
                .department_hours
                .entry((department.to_owned(), category.to_owned(), hour))
                .or_default() += new.active - old.active;
        }
    }
}

impl Store {
    /// Stores groups of reports in one transaction; returns, for each group,
    /// how many of its reports were new. Returns once committed.
    ///
    /// A report whose id is already stored is skipped (idempotent on
    /// `report_id`), so a retried call stores nothing twice; it is still
    /// acknowledged by the caller.
    ///
    /// # Errors
    /// On a database error; then nothing of any group is stored.
    pub async fn store_batch(
        &self,
        groups: &[DeviceReports],
        received_unix_ms: i64,
    ) -> Result<Vec<u64>, StoreError> {
        let _writer = self.writer().await;
        let mut tx = self.begin_write().await?;
        let connection: &mut AnyConnection = &mut tx;

        // Reports first: what is new decides what else is written.
        let mut seen = HashSet::new();
        let candidates: Vec<(&DeviceReports, &IncomingReport)> = groups
            .iter()
            .flat_map(|group| group.reports.iter().map(move |report| (group, report)))
            .filter(|(_, report)| seen.insert(report.report_id.as_str()))
            .collect();
        let inserted: Vec<InsertedReport> = fetch_rows(
            self.dialect,
            connection,
            "INSERT INTO reports (report_id, device_id, collected_unix_ms, received_unix_ms, payload)",
            5,
            "ON CONFLICT (report_id) DO NOTHING RETURNING report_id",
            &candidates,
            |query, (group, report)| {
                query
                    .bind(report.report_id.clone())
                    .bind(group.device_id.clone())
                    .bind(report.collected_unix_ms)
                    .bind(received_unix_ms)
                    .bind(report.payload.clone())
            },
        )
        .await?;
        let new_ids: HashSet<String> = inserted.into_iter().map(|row| row.report_id).collect();
        let new: Vec<(&DeviceReports, &IncomingReport)> = candidates
            .into_iter()
            .filter(|(_, r)| new_ids.contains(&r.report_id))
            .collect();

        // Links first, per device (few reports carry any): the rows below
        // then land on the current pseudonyms.
        let mut links: BTreeMap<&str, BTreeSet<(String, String)>> = BTreeMap::new();
        for (group, report) in &new {
            if !report.pseudonym_links.is_empty() {
                links
                    .entry(group.device_id.as_str())
                    .or_default()
                    .extend(report.pseudonym_links.iter().cloned());
            }
        }
        for (device_id, links) in &links {
            let refused =
                Self::apply_pseudonym_links(connection, device_id, links, received_unix_ms).await?;
            if !refused.is_empty() {
                tracing::warn!(
                    device = %device_id,
                    links = refused.len(),
                    "pseudonym links ignored: another link of the same earlier pseudonym came first"
                );
            }
        }
        self.insert_inventories(connection, &new).await?;
        self.insert_usage(connection, &new).await?;
        self.insert_storage(connection, &new).await?;
        self.insert_person_days(connection, &new, received_unix_ms)
            .await?;

        // Per device: reports added and the latest collection time.
        let mut per_group = Vec::with_capacity(groups.len());
        let mut seen_devices: BTreeMap<&str, (i64, i64)> = BTreeMap::new();
        for group in groups {
            let fresh: Vec<&IncomingReport> = new
                .iter()
                .filter(|(g, _)| std::ptr::eq(*g, group))
                .map(|(_, r)| *r)
                .collect();
            per_group.push(fresh.len() as u64);
            if let Some(last_seen) = fresh.iter().map(|r| r.collected_unix_ms).max() {
                let entry = seen_devices
                    .entry(group.device_id.as_str())
                    .or_insert((0, last_seen));
                entry.0 += i64::try_from(fresh.len()).unwrap_or(i64::MAX);
                entry.1 = entry.1.max(last_seen);
            }
        }
        let seen_devices: Vec<_> = seen_devices.into_iter().collect();
        if !seen_devices.is_empty() {
            execute_rows(
                self.dialect,
                connection,
                "UPDATE devices SET reports = devices.reports + r.column2,
                    last_seen_unix_ms = CASE
                        WHEN devices.last_seen_unix_ms IS NULL OR devices.last_seen_unix_ms < r.column3
                        THEN r.column3 ELSE devices.last_seen_unix_ms END
                 FROM (",
                3,
                ") AS r WHERE devices.id = r.column1",
                &seen_devices,
                |query, (device, (count, last_seen))| {
                    query.bind((*device).to_owned()).bind(*count).bind(*last_seen)
                },
            )
            .await?;
        }
        tx.commit().await?;
        Ok(per_group)
    }

    async fn insert_inventories(
        &self,
        connection: &mut AnyConnection,
        new: &[(&DeviceReports, &IncomingReport)],
    ) -> Result<(), StoreError> {
        let rows: Vec<_> = new
            .iter()
            .filter_map(|(g, r)| {
                r.inventory
                    .as_ref()
                    .map(|i| (g.device_id.clone(), r.collected_unix_ms, i))
            })
            .collect();
        if rows.is_empty() {
            return Ok(());
        }
        execute_rows(
            self.dialect,
            connection,
            "INSERT INTO inventories (device_id, collected_unix_ms, hostname, vendor, model,
                serial_number, chassis, cpu_model, cpu_logical_cores, memory_bytes, disk_bytes,
                os_name, os_version, bios_date, age_since_date, age_source,
                battery_health_percent, battery_cycles, disk_health, model_family)",
            20,
            "ON CONFLICT (device_id, collected_unix_ms) DO NOTHING",
            &rows,
            |query, (device, collected, inventory)| {
                query
                    .bind(device.clone())
                    .bind(*collected)
                    .bind(inventory.hostname.clone())
                    .bind(inventory.vendor.clone())
                    .bind(inventory.model.clone())
                    .bind(inventory.serial_number.clone())
                    .bind(inventory.chassis.clone())
                    .bind(inventory.cpu_model.clone())
                    .bind(inventory.cpu_logical_cores)
                    .bind(inventory.memory_bytes)
                    .bind(inventory.disk_bytes)
                    .bind(inventory.os_name.clone())
                    .bind(inventory.os_version.clone())
                    .bind(inventory.bios_date.clone())
                    .bind(inventory.age_since_date.clone())
                    .bind(inventory.age_source.clone())
                    .bind(inventory.battery_health_percent)
                    .bind(inventory.battery_cycles)
                    .bind(inventory.disk_health.clone())
                    .bind(inventory.model_family.clone())
            },
        )
        .await?;
        // The latest inventory's sortable facts are kept on the device, for
        // the device list.
        let mut latest: HashMap<&str, (i64, &InventoryRow)> = HashMap::new();
        for (device, collected, inventory) in &rows {
            let entry = latest
                .entry(device.as_str())
                .or_insert((*collected, inventory));
            if *collected > entry.0 {
                *entry = (*collected, inventory);
            }
        }
        let devices: Vec<String> = latest.keys().map(|d| (*d).to_owned()).collect();
        for (device, (collected, inventory)) in latest {
            sqlx::query(
                "UPDATE devices SET inventory_unix_ms = $1, hostname = $2,
                    chassis = $3, model = $4, age_since_date = $5
                 WHERE id = $6 AND (inventory_unix_ms IS NULL OR inventory_unix_ms < $1)",
            )
            .bind(collected)
            .bind(inventory.hostname.clone())
            .bind(inventory.chassis.clone())
            .bind(inventory.model.clone())
            .bind(inventory.age_since_date.clone())
            .bind(device.to_owned())
            .execute(&mut *connection)
            .await?;
        }
        // A new chassis may change the category its hours count under.
        refresh_categories_in(self.dialect, connection, Some(&devices)).await?;
        Ok(())
    }

    async fn insert_usage(
        &self,
        connection: &mut AnyConnection,
        new: &[(&DeviceReports, &IncomingReport)],
    ) -> Result<(), StoreError> {
        // Latest copy of each (device, hour) in arrival order.
        let mut hours: BTreeMap<(String, i64), UsageHourRow> = BTreeMap::new();
        for (group, report) in new {
            for hour in &report.usage {
                hours.insert((group.device_id.clone(), hour.hour_start_unix_ms), *hour);
            }
        }
        if hours.is_empty() {
            return Ok(());
        }
        // The buckets already stored for these hours, one range per device.
        let mut ranges: BTreeMap<&str, (i64, i64)> = BTreeMap::new();
        for (device, hour) in hours.keys() {
            let range = ranges.entry(device.as_str()).or_insert((*hour, *hour));
            range.0 = range.0.min(*hour);
            range.1 = range.1.max(*hour);
        }
        let ranges: Vec<(&str, (i64, i64))> = ranges.into_iter().collect();
        let rows: Vec<StoredHour> = fetch_rows(
            self.dialect,
            connection,
            "SELECT u.device_id, u.hour_start_unix_ms, u.powered_minutes, u.active_minutes,
                u.cpu_p95_percent, u.memory_p95_percent, u.disk_fill_percent
             FROM usage_hours u JOIN (",
            3,
            ") AS r ON u.device_id = r.column1
                AND u.hour_start_unix_ms BETWEEN r.column2 AND r.column3",
            &ranges,
            |query, (device, (from, to))| query.bind((*device).to_owned()).bind(*from).bind(*to),
        )
        .await?;
        let mut stored: HashMap<(String, i64), HourContribution> = HashMap::new();
        for row in rows {
            stored.insert(
                (row.device_id, row.hour.hour_start_unix_ms),
                HourContribution::of(&row.hour),
            );
        }
        // Where each device's hours count, read under a lock so that a move
        // or a change of category waits for this transaction.
        let placements: Vec<PlacedDevice> = fetch_rows(
            self.dialect,
            connection,
            "SELECT d.id, d.department, d.department_since_unix_ms, d.category
             FROM devices d JOIN (",
            1,
            &format!(") AS r ON d.id = r.column1{}", self.dialect.row_locks.0),
            &ranges,
            |query, (device, _)| query.bind((*device).to_owned()),
        )
        .await?;
        let placements: HashMap<String, Placement> = placements
            .into_iter()
            .map(|row| (row.id, row.placement))
            .collect();
        let mut spells = HashMap::new();
        let mut deltas = RollupDeltas::default();
        for ((device, hour), row) in &hours {
            let Some(placement) = placements.get(device) else {
                continue;
            };
            let (department, category) =
                placed(connection, &mut spells, device, placement, *hour).await?;
            let old = stored.get(&(device.clone(), *hour)).copied();
            deltas.apply(
                device,
                (&department, &category),
                *hour,
                old,
                HourContribution::of(row),
            );
        }
        let rows: Vec<(&String, &UsageHourRow)> =
            hours.iter().map(|((d, _), row)| (d, row)).collect();
        execute_rows(
            self.dialect,
            connection,
            "INSERT INTO usage_hours (device_id, hour_start_unix_ms, powered_minutes,
                active_minutes, cpu_p95_percent, memory_p95_percent, disk_fill_percent)",
            7,
            "ON CONFLICT (device_id, hour_start_unix_ms) DO UPDATE SET
                powered_minutes = excluded.powered_minutes,
                active_minutes = excluded.active_minutes,
                cpu_p95_percent = excluded.cpu_p95_percent,
                memory_p95_percent = excluded.memory_p95_percent,
                disk_fill_percent = excluded.disk_fill_percent",
            &rows,
            |query, (device, hour)| {
                query
                    .bind((*device).clone())
                    .bind(hour.hour_start_unix_ms)
                    .bind(hour.powered_minutes)
                    .bind(hour.active_minutes)
                    .bind(hour.cpu_p95_percent)
                    .bind(hour.memory_p95_percent)
                    .bind(hour.disk_fill_percent)
            },
        )
        .await?;
        let weeks: Vec<_> = deltas.weeks.into_iter().collect();
        execute_rows(
            self.dialect,
            connection,
            "INSERT INTO device_weeks (device_id, week_start_unix_ms, powered_hours, active_hours,
                cpu_hot_hours, memory_hot_hours, disk_fill_max_percent)",
            7,
            "ON CONFLICT (device_id, week_start_unix_ms) DO UPDATE SET
                powered_hours = device_weeks.powered_hours + excluded.powered_hours,
                active_hours = device_weeks.active_hours + excluded.active_hours,
                cpu_hot_hours = device_weeks.cpu_hot_hours + excluded.cpu_hot_hours,
                memory_hot_hours = device_weeks.memory_hot_hours + excluded.memory_hot_hours,
                disk_fill_max_percent = CASE
                    WHEN device_weeks.disk_fill_max_percent IS NULL
                      OR excluded.disk_fill_max_percent > device_weeks.disk_fill_max_percent
                    THEN excluded.disk_fill_max_percent
                    ELSE device_weeks.disk_fill_max_percent END",
            &weeks,
            |query, ((device, week), delta)| {
                query
                    .bind(device.clone())
                    .bind(*week)
                    .bind(delta.powered)
                    .bind(delta.active)
                    .bind(delta.cpu_hot)
                    .bind(delta.memory_hot)
                    .bind(delta.disk_fill)
            },
        )
        .await?;
        apply_hour_deltas(self.dialect, connection, deltas.department_hours).await?;
        Ok(())
    }

    async fn insert_storage(
        &self,
        connection: &mut AnyConnection,
        new: &[(&DeviceReports, &IncomingReport)],
    ) -> Result<(), StoreError> {
        let rows: Vec<_> = new
            .iter()
            .filter_map(|(g, r)| {
                r.storage
                    .as_ref()
                    .map(|s| (g.device_id.clone(), r.collected_unix_ms, s))
            })
            .collect();
        if rows.is_empty() {
            return Ok(());
        }
        execute_rows(
            self.dialect,
            connection,
            "INSERT INTO storage_snapshots (device_id, collected_unix_ms, total_bytes, used_bytes,
                scanned_unix_ms, duplicate_groups, duplicate_files, duplicate_bytes, temp_bytes,
                cache_bytes, trash_bytes, stale_bytes, mail_archives_bytes, old_downloads_bytes)",
            14,
            "ON CONFLICT (device_id, collected_unix_ms) DO NOTHING",
            &rows,
            |query, (device, collected, s)| {
                query
                    .bind(device.clone())
                    .bind(*collected)
                    .bind(s.total_bytes)
                    .bind(s.used_bytes)
                    .bind(s.scanned_unix_ms)
                    .bind(s.duplicate_groups)
                    .bind(s.duplicate_files)
                    .bind(s.duplicate_bytes)
                    .bind(s.temp_bytes)
                    .bind(s.cache_bytes)
                    .bind(s.trash_bytes)
                    .bind(s.stale_bytes)
                    .bind(s.mail_archives_bytes)
                    .bind(s.old_downloads_bytes)
            },
        )
        .await?;
        Ok(())
    }

    async fn insert_person_days(
        &self,
        connection: &mut AnyConnection,
        new: &[(&DeviceReports, &IncomingReport)],
        received_unix_ms: i64,
    ) -> Result<(), StoreError> {
        // A later row for the same person, day and device replaces the earlier.
        let mut rows = BTreeMap::new();
        for (group, report) in new {
            for day in &report.person_days {
                rows.insert(
                    (
                        day.person_id.clone(),
                        day.day.clone(),
                        group.device_id.clone(),
                    ),
                    (report.collected_unix_ms, day),
                );
            }
        }
        if rows.is_empty() {
            return Ok(());
        }
        let rows: Vec<_> = rows.into_iter().collect();
        execute_rows(
            self.dialect,
            connection,
            "INSERT INTO person_days (person_id, day, device_id, collected_unix_ms,
                meeting_minutes, meeting_count, conflicting_minutes, back_to_back_count,
                after_hours_meeting_minutes, call_minutes, notifications_total,
                notifications_after_hours, notifications_chat, notifications_mail,
                notifications_calendar, notifications_other, focus_minutes, active_minutes,
                after_hours_active_minutes, weekend_active_minutes)",
            20,
            "ON CONFLICT (person_id, day, device_id) DO UPDATE SET
                collected_unix_ms = excluded.collected_unix_ms,
                meeting_minutes = excluded.meeting_minutes,
                meeting_count = excluded.meeting_count,
                conflicting_minutes = excluded.conflicting_minutes,
                back_to_back_count = excluded.back_to_back_count,
                after_hours_meeting_minutes = excluded.after_hours_meeting_minutes,
                call_minutes = excluded.call_minutes,
                notifications_total = excluded.notifications_total,
                notifications_after_hours = excluded.notifications_after_hours,
                notifications_chat = excluded.notifications_chat,
                notifications_mail = excluded.notifications_mail,
                notifications_calendar = excluded.notifications_calendar,
                notifications_other = excluded.notifications_other,
                focus_minutes = excluded.focus_minutes,
                active_minutes = excluded.active_minutes,
                after_hours_active_minutes = excluded.after_hours_active_minutes,
                weekend_active_minutes = excluded.weekend_active_minutes",
            &rows,
            |query, ((person, day, device), (collected, row))| {
                query
                    .bind(person.clone())
                    .bind(day.clone())
                    .bind(device.clone())
                    .bind(*collected)
                    .bind(row.meeting_minutes)
                    .bind(row.meeting_count)
                    .bind(row.conflicting_minutes)
                    .bind(row.back_to_back_count)
                    .bind(row.after_hours_meeting_minutes)
                    .bind(row.call_minutes)
                    .bind(row.notifications_total)
                    .bind(row.notifications_after_hours)
                    .bind(row.notifications_chat)
                    .bind(row.notifications_mail)
                    .bind(row.notifications_calendar)
                    .bind(row.notifications_other)
                    .bind(row.focus_minutes)
                    .bind(row.active_minutes)
                    .bind(row.after_hours_active_minutes)
                    .bind(row.weekend_active_minutes)
            },
        )
        .await?;
        // Which devices reported whom, on the collector's clock: what places
        // a person in a group (see `Store::person_homes`).
        let sightings: BTreeSet<(&str, &str)> = rows
            .iter()
            .filter(|(_, (_, row))| row.has_figures())
            .map(|((person, _, device), _)| (person.as_str(), device.as_str()))
            .collect();
        if sightings.is_empty() {
            return Ok(());
        }
        let sightings: Vec<_> = sightings.into_iter().collect();
        execute_rows(
            self.dialect,
            connection,
            "INSERT INTO person_devices (person_id, device_id, first_seen_unix_ms, last_seen_unix_ms)",
            4,
            "ON CONFLICT (person_id, device_id) DO UPDATE SET
                last_seen_unix_ms = excluded.last_seen_unix_ms",
            &sightings,
            |query, (person, device)| {
                query
                    .bind((*person).to_owned())
                    .bind((*device).to_owned())
                    .bind(received_unix_ms)
                    .bind(received_unix_ms)
            },
        )
        .await?;
        Ok(())
    }

    /// A device's weekly rollups, oldest first.
    ///
    /// # Errors
    /// On a database error.
    pub async fn device_weeks(&self, device_id: &str) -> Result<Vec<DeviceWeek>, StoreError> {
        Ok(sqlx::query_as::<_, DeviceWeek>(
            "SELECT device_id, week_start_unix_ms, powered_hours, active_hours, cpu_hot_hours,
                memory_hot_hours, disk_fill_max_percent
             FROM device_weeks WHERE device_id = $1 ORDER BY week_start_unix_ms",
        )
        .bind(device_id.to_owned())
        .fetch_all(&self.pool)
        .await?)
    }

    /// A department's active-device counts per hour in `[from, to)`, of
    /// one category (`laptop`, `desktop`…, `other`) or of all.
    ///
    /// # Errors
    /// On a database error.
    pub async fn department_hours(
        &self,
        department: &str,
        category: Option<&str>,
        from_unix_ms: i64,
        to_unix_ms: i64,
    ) -> Result<Vec<(i64, i64)>, StoreError> {
        let rows = sqlx::query_as::<_, ActiveHour>(
            "SELECT hour_start_unix_ms, CAST(SUM(active_devices) AS BIGINT) AS active_devices
             FROM department_hours
             WHERE department = $1 AND ($2 = '' OR category = $2)
               AND hour_start_unix_ms >= $3 AND hour_start_unix_ms < $4
             GROUP BY hour_start_unix_ms HAVING SUM(active_devices) <> 0
             ORDER BY hour_start_unix_ms",
        )
        .bind(department.to_owned())
        .bind(category.unwrap_or("").to_owned())
        .bind(from_unix_ms)
        .bind(to_unix_ms)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|row| (row.hour_start_unix_ms, row.active_devices))
            .collect())
    }

    /// Recomputes every rollup from the hourly buckets and compares it with
    /// what ingest maintained; returns the rollup rows that differ (none when
    /// all is well). For consistency checks and tests.
    ///
    /// # Errors
    /// On a database error.
    pub async fn rollup_drift(&self) -> Result<Vec<String>, StoreError> {
        let mut connection = self.pool.acquire().await?;
        let rows = sqlx::query_as::<_, PlacedBucket>(
            "SELECT device_id, hour_start_unix_ms, powered_minutes, active_minutes,
                cpu_p95_percent, memory_p95_percent, disk_fill_percent, d.department,
                d.department_since_unix_ms, d.category
             FROM usage_hours JOIN devices d ON d.id = usage_hours.device_id",
        )
        .fetch_all(&mut *connection)
        .await?;
        let mut expected = RollupDeltas::default();
        let mut spells = HashMap::new();
        for row in rows {
            let StoredHour { device_id, hour } = row.stored;
            let (department, category) = placed(
                &mut connection,
                &mut spells,
                &device_id,
                &row.placement,
                hour.hour_start_unix_ms,
            )
            .await?;
            expected.apply(
                &device_id,
                (&department, &category),
                hour.hour_start_unix_ms,
                None,
                HourContribution::of(&hour),
            );
        }
        let mut drift = Vec::new();
        let weeks = sqlx::query_as::<_, WeekCounts>(
            "SELECT device_id, week_start_unix_ms, powered_hours, active_hours, cpu_hot_hours,
                memory_hot_hours FROM device_weeks",
        )
        .fetch_all(&self.pool)
        .await?;
        let mut actual_weeks = BTreeMap::new();
        for row in weeks {
            actual_weeks.insert(
                (row.device_id, row.week_start_unix_ms),
                (
                    row.powered_hours,
                    row.active_hours,
                    row.cpu_hot_hours,
                    row.memory_hot_hours,
                ),
            );
        }
        for (key, delta) in &expected.weeks {
            let want = (delta.powered, delta.active, delta.cpu_hot, delta.memory_hot);
            let have = actual_weeks.remove(key).unwrap_or_default();
            if want != have {
                drift.push(format!(
                    "device_weeks {key:?}: expected {want:?}, stored {have:?}"
                ));
            }
        }
        for (key, have) in actual_weeks {
            if have != (0, 0, 0, 0) {
                drift.push(format!(
                    "device_weeks {key:?}: stored {have:?} without buckets"
                ));
            }
        }
        let hours = sqlx::query_as::<_, DepartmentHour>(
            "SELECT department, category, hour_start_unix_ms, active_devices FROM department_hours",
        )
        .fetch_all(&mut *connection)
        .await?;
        let mut actual_hours: BTreeMap<(String, String, i64), i64> = hours
            .into_iter()
            .map(|row| {
                (
                    (row.department, row.category, row.hour_start_unix_ms),
                    row.active_devices,
                )
            })
            .collect();
        for (key, want) in &expected.department_hours {
            let have = actual_hours.remove(key).unwrap_or_default();
            if *want != have {
                drift.push(format!(
                    "department_hours {key:?}: expected {want}, stored {have}"
                ));
            }
        }
        drift.extend(
            actual_hours
                .into_iter()
                .filter(|(_, have)| *have != 0)
                .map(|(key, have)| {
                    format!("department_hours {key:?}: stored {have} without buckets")
                }),
        );
        Ok(drift)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weeks_start_on_monday_midnight_utc() {
        // 2026-11-29 is a Sunday; its week began on Monday 2026-11-23.
        let sunday_noon = 1_795_953_600_000;
        let monday = 1_795_392_000_000;
        assert_eq!(week_start(sunday_noon), monday);
        assert_eq!(week_start(monday), monday);
        assert_eq!(week_start(monday - 1), monday - WEEK_MS);
    }

    #[test]
    fn multi_row_statements_number_their_parameters() {
        assert_eq!(
            values_statement(
                &super::super::dialect::POSTGRES,
                "INSERT INTO t (a, b)",
                2,
                2,
                "ON CONFLICT DO NOTHING"
            ),
            "INSERT INTO t (a, b) VALUES ($1, $2), ($3, $4) ON CONFLICT DO NOTHING"
        );
        assert_eq!(
            values_statement(
                &super::super::dialect::SQLITE,
                "INSERT INTO t (a, b)",
                2,
                2,
                ""
            ),
            "INSERT INTO t (a, b) VALUES (?, ?), (?, ?) "
        );
    }
}
