//! Where a device belongs over time: its department's history, its category
//! for the department rollup, the rollup re-keyed when either changes, and
//! the devices that form a department's shared pool.
//!
//! The department rollup counts a device's active hours under the
//! department it was in at that hour and under its current category: a
//! move re-keys its hours from the move on, a change of category (the
//! register's, or the chassis the agent reports) all of its hours.

use std::collections::BTreeMap;

use sqlx::{AnyConnection, FromRow};

use super::assets::DEVICE_ASSET_JOIN;
use super::disposals::insert_disposal;
use super::ingest::{ACTIVE_MINUTES, execute_rows, fetch_rows};
use super::{Dialect, Store, StoreError};
use crate::analysis::Category;

/// The marker a migration leaves when every device's category must be
/// worked out again (and the rollup re-keyed) at start-up.
const CATEGORIES_STALE: &str = "device_categories_stale";

/// A stretch of time a device spent in a department, from `from_unix_ms`
/// until the next one.
#[derive(Debug, Clone, PartialEq, serde::Serialize, FromRow)]
pub struct DepartmentSpell {
    pub from_unix_ms: i64,
    pub department: String,
    /// Who moved it: an account, `enrollment`, or the decision's actor.
    pub recorded_by: String,
    pub reason: String,
    /// The decision that moved it, when one did.
    pub suggestion_id: Option<String>,
}

/// What a move did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Move {
    /// The device left `from`.
    Moved {
        from: String,
    },
    /// It was in that department already: nothing changed.
    Unchanged,
    UnknownDevice,
    UnknownDepartment,
}

/// A device of the pool a done suggestion formed.
#[derive(Debug, Clone, PartialEq, serde::Serialize, FromRow)]
pub struct PoolMember {
    pub device_id: String,
    pub department: String,
    pub category: String,
    pub suggestion_id: String,
    pub since_unix_ms: i64,
}

/// Changes to the department rollup: (department, category, hour start) →
/// change in active devices.
pub(super) type HourDeltas = BTreeMap<(String, String, i64), i64>;

/// The department a device was in at `hour`, by its spells sorted by
/// start: the last begun at or before it, else the first (hours an agent
/// kept from before its enrollment).
pub(super) fn department_at(spells: &[(i64, String)], hour: i64) -> Option<&str> {
    let begun = spells.partition_point(|(from, _)| *from <= hour);
    spells
        .get(begun.saturating_sub(1))
        .map(|(_, department)| department.as_str())
}

/// Adds `deltas` to the department rollup (zero changes are skipped).
pub(super) async fn apply_hour_deltas(
    dialect: &Dialect,
    connection: &mut AnyConnection,
    deltas: HourDeltas,
) -> Result<(), sqlx::Error> {
    let rows: Vec<_> = deltas.into_iter().filter(|(_, d)| *d != 0).collect();
    if rows.is_empty() {
        return Ok(());
    }
    execute_rows(
        dialect,
        connection,
        "INSERT INTO department_hours (department, category, hour_start_unix_ms, active_devices)",
        4,
        "ON CONFLICT (department, category, hour_start_unix_ms) DO UPDATE SET
            active_devices = department_hours.active_devices + excluded.active_devices",
        &rows,
        |query, ((department, category, hour), delta)| {
            query
                .bind(department.clone())
                .bind(category.clone())
                .bind(*hour)
                .bind(*delta)
        },
    )
    .await
}

/// A device's spells as (start, department), oldest first.
pub(super) async fn spells_of(
    connection: &mut AnyConnection,
    device_id: &str,
) -> Result<Vec<(i64, String)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT from_unix_ms, department FROM device_departments
         WHERE device_id = $1 ORDER BY from_unix_ms",
    )
    .bind(device_id.to_owned())
    .fetch_all(connection)
    .await
}

/// The starts of a device's active hours at or after `from_unix_ms`.
async fn active_hours(
    connection: &mut AnyConnection,
    device_id: &str,
    from_unix_ms: i64,
) -> Result<Vec<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT hour_start_unix_ms FROM usage_hours
         WHERE device_id = $1 AND hour_start_unix_ms >= $2 AND active_minutes >= $3",
    )
    .bind(device_id.to_owned())
    .bind(from_unix_ms)
    .bind(ACTIVE_MINUTES)
    .fetch_all(connection)
    .await
}

/// A device's department and category as stored.
#[derive(FromRow)]
struct Placement {
    department: String,
    category: String,
}

/// The device's department and category, its row locked until the
/// transaction ends (on PostgreSQL; SQLite has one writer).
async fn placement_to_update(
    dialect: &Dialect,
    connection: &mut AnyConnection,
    device_id: &str,
) -> Result<Option<Placement>, sqlx::Error> {
    sqlx::query_as::<_, Placement>(sqlx::AssertSqlSafe(format!(
        "SELECT department, category FROM devices d WHERE id = $1{}",
        dialect.row_locks.1
    )))
    .bind(device_id.to_owned())
    .fetch_optional(connection)
    .await
}

/// Moves a device to `department` from `at_unix_ms` on, inside a write
/// transaction: its active hours from then count for the new department, a
/// spell is recorded, and the device's enrollment follows. Returns the
/// department it left, or `None` when it was there already (nothing
/// changes) or there is no such device (`Ok(None)` as well: callers check
/// the device first).
pub(super) async fn move_device_in(
    dialect: &Dialect,
    connection: &mut AnyConnection,
    device_id: &str,
    department: &str,
    at_unix_ms: i64,
    (actor, reason, suggestion_id): (&str, &str, Option<&str>),
) -> Result<Option<String>, sqlx::Error> {
    let placement = placement_to_update(dialect, connection, device_id).await?;
    let Some(placement) = placement else {
        return Ok(None);
    };
    if placement.department == department {
        return Ok(None);
    }
    // A move never precedes the device's current spell: history is not
    // rewritten.
    let current: Option<i64> =
        sqlx::query_scalar("SELECT MAX(from_unix_ms) FROM device_departments WHERE device_id = $1")
            .bind(device_id.to_owned())
            .fetch_one(&mut *connection)
            .await?;
    let at_unix_ms = at_unix_ms.max(current.unwrap_or(i64::MIN));
    let mut deltas = HourDeltas::new();
    for hour in active_hours(connection, device_id, at_unix_ms).await? {
        *deltas
            .entry((
                placement.department.clone(),
                placement.category.clone(),
                hour,
            ))
            .or_default() -= 1;
        *deltas
            .entry((department.to_owned(), placement.category.clone(), hour))
            .or_default() += 1;
    }
    apply_hour_deltas(dialect, connection, deltas).await?;
    sqlx::query(
        "INSERT INTO device_departments (device_id, from_unix_ms, department, recorded_by,
            reason, suggestion_id)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (device_id, from_unix_ms) DO UPDATE SET department = excluded.department,
            recorded_by = excluded.recorded_by, reason = excluded.reason,
            suggestion_id = excluded.suggestion_id",
    )
    .bind(device_id.to_owned())
    .bind(at_unix_ms)
    .bind(department.to_owned())
    .bind(actor.to_owned())
    .bind(reason.to_owned())
    .bind(suggestion_id.map(str::to_owned))
    .execute(&mut *connection)
    .await?;
    sqlx::query("UPDATE devices SET department = $1, department_since_unix_ms = $2 WHERE id = $3")
        .bind(department.to_owned())
        .bind(at_unix_ms)
        .bind(device_id.to_owned())
        .execute(&mut *connection)
        .await?;
    Ok(Some(placement.department))
}

/// Takes a device's hours out of the department rollup (it is being
/// erased). Returns `false` when there is no such device.
pub(super) async fn withdraw_from_rollup(
    dialect: &Dialect,
    connection: &mut AnyConnection,
    device_id: &str,
) -> Result<bool, sqlx::Error> {
    let placement = placement_to_update(dialect, connection, device_id).await?;
    let Some(placement) = placement else {
        return Ok(false);
    };
    let spells = spells_of(connection, device_id).await?;
    let mut deltas = HourDeltas::new();
    for hour in active_hours(connection, device_id, i64::MIN).await? {
        let department = department_at(&spells, hour).unwrap_or(&placement.department);
        *deltas
            .entry((department.to_owned(), placement.category.clone(), hour))
            .or_default() -= 1;
    }
    apply_hour_deltas(dialect, connection, deltas).await?;
    Ok(true)
}

/// A device's stored category beside the one its facts give now.
#[derive(FromRow)]
struct CategoryFacts {
    id: String,
    department: String,
    category: String,
    facts: String,
}

/// Works out the category of `devices` (every device when `None`) from the
/// register and the latest inventory; a device whose category changed has
/// all of its hours re-keyed in the rollup. Returns how many changed.
pub(super) async fn refresh_categories_in(
    dialect: &Dialect,
    connection: &mut AnyConnection,
    devices: Option<&[String]>,
) -> Result<usize, sqlx::Error> {
    let select = format!(
        "SELECT d.id, d.department, d.category, COALESCE(a.category, i.chassis, '') AS facts
         {DEVICE_ASSET_JOIN}"
    );
    let rows: Vec<CategoryFacts> = match devices {
        None => {
            sqlx::query_as(sqlx::AssertSqlSafe(format!("{select} ORDER BY d.id")))
                .fetch_all(&mut *connection)
                .await?
        }
        Some(ids) => {
            let mut rows: Vec<CategoryFacts> = fetch_rows(
                dialect,
                connection,
                &format!("{select} WHERE d.id IN (SELECT r.column1 FROM ("),
                1,
                ") AS r)",
                ids,
                |query, id| query.bind(id.clone()),
            )
            .await?;
            rows.sort_by(|a, b| a.id.cmp(&b.id));
            rows
        }
    };
    let mut changed = 0;
    let mut last = None;
    for row in rows {
        // A device two register rows match (its serial and its host name)
        // takes the first, as the analysis does.
        if last.as_deref() == Some(row.id.as_str()) {
            continue;
        }
        last = Some(row.id.clone());
        let category = Category::rollup_key(&row.facts);
        if category == row.category {
            continue;
        }
        let updated =
            sqlx::query("UPDATE devices SET category = $1 WHERE id = $2 AND category = $3")
                .bind(category.to_owned())
                .bind(row.id.clone())
                .bind(row.category.clone())
                .execute(&mut *connection)
                .await?
                .rows_affected();
        if updated == 0 {
            continue;
        }
        let spells = spells_of(connection, &row.id).await?;
        let mut deltas = HourDeltas::new();
        for hour in active_hours(connection, &row.id, i64::MIN).await? {
            let department = department_at(&spells, hour).unwrap_or(&row.department);
            *deltas
                .entry((department.to_owned(), row.category.clone(), hour))
                .or_default() -= 1;
            *deltas
                .entry((department.to_owned(), category.to_owned(), hour))
                .or_default() += 1;
        }
        apply_hour_deltas(dialect, connection, deltas).await?;
        changed += 1;
    }
    Ok(changed)
}

/// The suggestion a decision is taken on, as the fleet changes need it.
#[derive(FromRow)]
struct Decided {
    kind: String,
    devices: String,
    departments: String,
}

/// What a decision changed in the fleet, for the audit log.
pub(super) type FleetChanges = Vec<String>;

/// Why a decision cannot change the fleet as it should.
#[derive(Debug)]
pub(super) enum FleetRefusal {
    /// A reuse that replaces a device needs to know where the replaced
    /// device goes: its host name.
    OutcomeNeeded(String),
}

/// Makes the fleet follow suggestion `id` marked done: a reuse moves its
/// donor to the recipient's department (the replaced device's, or the
/// request's) and retires the device it replaces with `replaced_outcome`;
/// a pool records its members.
pub(super) async fn follow_done(
    dialect: &Dialect,
    connection: &mut AnyConnection,
    id: &str,
    (actor, now_unix_ms): (&str, i64),
    replaced_outcome: Option<&str>,
) -> Result<Result<FleetChanges, FleetRefusal>, StoreError> {
    let decided = decided(connection, id).await?;
    let mut changes = FleetChanges::new();
    let devices = json_list(id, "devices", &decided.devices)?;
    match decided.kind.as_str() {
        "reuse" => {
            let Some(donor) = devices.first() else {
                return Ok(Ok(changes));
            };
            // The device it replaces, if it is still enrolled (one erased
            // since has nothing to retire).
            let replaced = match devices.get(1) {
                Some(replaced) => sqlx::query_as::<_, (String, String)>(
                    "SELECT department, hostname FROM devices WHERE id = $1",
                )
                .bind(replaced.clone())
                .fetch_optional(&mut *connection)
                .await?
                .map(|(department, host)| (replaced, department, host)),
                None => None,
            };
            let target = match &replaced {
                Some((_, department, _)) => Some(department.clone()),
                None if devices.len() > 1 => None,
                None => json_list(id, "departments", &decided.departments)?
                    .into_iter()
                    .next(),
            };
            // A replaced device IT retired already keeps its own record.
            let retired_already = match &replaced {
                Some((replaced, _, _)) => sqlx::query_scalar::<_, String>(
                    "SELECT device_id FROM disposals WHERE device_id = $1",
                )
                .bind((*replaced).clone())
                .fetch_optional(&mut *connection)
                .await?
                .is_some(),
                None => false,
            };
            if retired_already && let Some((replaced, _, _)) = &replaced {
                changes.push(format!("{replaced} was retired already"));
            } else if let Some((replaced, _, host)) = &replaced {
                let Some(outcome) = replaced_outcome else {
                    return Ok(Err(FleetRefusal::OutcomeNeeded(host.clone())));
                };
                let retired_on = crate::domain::utc_date(now_unix_ms);
                let note = format!("replaced by {donor} (suggestion {id})");
                if insert_disposal(
                    connection,
                    replaced,
                    (&retired_on, outcome, &note),
                    (actor, now_unix_ms, Some(id)),
                )
                .await?
                {
                    sqlx::query(
                        "UPDATE devices SET revoked_unix_ms = $1
                         WHERE id = $2 AND revoked_unix_ms IS NULL",
                    )
                    .bind(now_unix_ms)
                    .bind((*replaced).clone())
                    .execute(&mut *connection)
                    .await?;
                    changes.push(format!("{replaced} retired ({outcome})"));
                }
            }
            if let Some(target) = target {
                let reason = format!("reuse {id}");
                if let Some(from) = move_device_in(
                    dialect,
                    connection,
                    donor,
                    &target,
                    now_unix_ms,
                    (actor, &reason, Some(id)),
                )
                .await?
                {
                    changes.push(format!("{donor} moved from {from} to {target}"));
                }
            }
        }
        "pool" => {
            for device in &devices {
                let added = sqlx::query(
                    "INSERT INTO pool_members (device_id, department, category, suggestion_id,
                        since_unix_ms)
                     SELECT id, department, category, $2, $3 FROM devices WHERE id = $1
                     ON CONFLICT (device_id) DO UPDATE SET department = excluded.department,
                        category = excluded.category, suggestion_id = excluded.suggestion_id,
                        since_unix_ms = excluded.since_unix_ms",
                )
                .bind(device.clone())
                .bind(id.to_owned())
                .bind(now_unix_ms)
                .execute(&mut *connection)
                .await?
                .rows_affected();
                if added > 0 {
                    changes.push(format!("{device} in the shared pool"));
                }
            }
        }
        _ => {}
    }
    Ok(Ok(changes))
}

/// Undoes what suggestion `id` marked done changed in the fleet: the
/// devices it retired come back (their revocation too, unless IT revoked
/// them since), its donor moves back (a new spell: the history keeps both;
/// not when IT moved it again since), its pool is dissolved.
pub(super) async fn follow_undo(
    dialect: &Dialect,
    connection: &mut AnyConnection,
    id: &str,
    (actor, now_unix_ms): (&str, i64),
) -> Result<FleetChanges, StoreError> {
    let mut changes = FleetChanges::new();
    let retired: Vec<(String, i64)> = sqlx::query_as(
        "SELECT device_id, recorded_unix_ms FROM disposals WHERE suggestion_id = $1",
    )
    .bind(id.to_owned())
    .fetch_all(&mut *connection)
    .await?;
    for (device, recorded) in retired {
        sqlx::query(
            "UPDATE devices SET revoked_unix_ms = NULL WHERE id = $1 AND revoked_unix_ms = $2",
        )
        .bind(device.clone())
        .bind(recorded)
        .execute(&mut *connection)
        .await?;
        sqlx::query("DELETE FROM disposals WHERE device_id = $1 AND suggestion_id = $2")
            .bind(device.clone())
            .bind(id.to_owned())
            .execute(&mut *connection)
            .await?;
        changes.push(format!("{device} no longer retired"));
    }
    // The donor's spells, newest first: the decision's spell must be its
    // current one, and the one before says where it goes back to.
    let moved: Vec<String> =
        sqlx::query_scalar("SELECT device_id FROM device_departments WHERE suggestion_id = $1")
            .bind(id.to_owned())
            .fetch_all(&mut *connection)
            .await?;
    for device in moved {
        let spells: Vec<(i64, String, Option<String>)> = sqlx::query_as(
            "SELECT from_unix_ms, department, suggestion_id FROM device_departments
             WHERE device_id = $1 ORDER BY from_unix_ms DESC LIMIT 2",
        )
        .bind(device.clone())
        .fetch_all(&mut *connection)
        .await?;
        match spells.as_slice() {
            [(_, _, Some(by)), (_, before, _)] if by == id => {
                let reason = format!("undo of reuse {id}");
                if let Some(from) = move_device_in(
                    dialect,
                    connection,
                    &device,
                    before,
                    now_unix_ms,
                    (actor, &reason, None),
                )
                .await?
                {
                    changes.push(format!("{device} moved back from {from} to {before}"));
                }
            }
            _ => changes.push(format!("{device} stays where IT moved it since")),
        }
    }
    let dissolved = sqlx::query("DELETE FROM pool_members WHERE suggestion_id = $1")
        .bind(id.to_owned())
        .execute(&mut *connection)
        .await?
        .rows_affected();
    if dissolved > 0 {
        changes.push(format!("{dissolved} devices out of the shared pool"));
    }
    Ok(changes)
}

async fn decided(connection: &mut AnyConnection, id: &str) -> Result<Decided, StoreError> {
    Ok(
        sqlx::query_as("SELECT kind, devices, departments FROM suggestions WHERE id = $1")
            .bind(id.to_owned())
            .fetch_one(connection)
            .await?,
    )
}

fn json_list(id: &str, what: &str, json: &str) -> Result<Vec<String>, StoreError> {
    serde_json::from_str(json)
        .map_err(|e| StoreError::Corrupt(format!("suggestion {id}: {what}: {e}")))
}

impl Store {
    /// Moves a device to another department from `at_unix_ms` on: its
    /// hours of use from then count for the new department, its history
    /// keeps the old one.
    ///
    /// # Errors
    /// On a database error.
    pub async fn move_device(
        &self,
        device_id: &str,
        department: &str,
        at_unix_ms: i64,
        actor: &str,
        reason: &str,
    ) -> Result<Move, StoreError> {
        let _writer = self.writer().await;
        let mut tx = self.begin_write().await?;
        let known: Option<String> =
            sqlx::query_scalar("SELECT name FROM departments WHERE name = $1")
                .bind(department.to_owned())
                .fetch_optional(&mut *tx)
                .await?;
        if known.is_none() {
            return Ok(Move::UnknownDepartment);
        }
        let exists: Option<String> = sqlx::query_scalar("SELECT id FROM devices WHERE id = $1")
            .bind(device_id.to_owned())
            .fetch_optional(&mut *tx)
            .await?;
        if exists.is_none() {
            return Ok(Move::UnknownDevice);
        }
        let left = move_device_in(
            self.dialect,
            &mut tx,
            device_id,
            department,
            at_unix_ms,
            (actor, reason, None),
        )
        .await?;
        tx.commit().await?;
        Ok(left.map_or(Move::Unchanged, |from| Move::Moved { from }))
    }

    /// A device's departments over time, oldest first.
    ///
    /// # Errors
    /// On a database error.
    pub async fn department_history(
        &self,
        device_id: &str,
    ) -> Result<Vec<DepartmentSpell>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT from_unix_ms, department, recorded_by, reason, suggestion_id
             FROM device_departments WHERE device_id = $1 ORDER BY from_unix_ms",
        )
        .bind(device_id.to_owned())
        .fetch_all(&self.pool)
        .await?)
    }

    /// Works out every device's category again and re-keys the rollup of
    /// those that changed, when a migration asked for it (the marker is
    /// then removed). Returns how many devices changed.
    ///
    /// # Errors
    /// On a database error.
    pub(super) async fn refresh_stale_categories(&self) -> Result<usize, StoreError> {
        if self.setting(CATEGORIES_STALE).await?.is_none() {
            return Ok(0);
        }
        let _writer = self.writer().await;
        let mut tx = self.begin_write().await?;
        let changed = refresh_categories_in(self.dialect, &mut tx, None).await?;
        sqlx::query("DELETE FROM settings WHERE key = $1")
            .bind(CATEGORIES_STALE)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(changed)
    }

    /// The devices that form shared pools, by department, category and
    /// host.
    ///
    /// # Errors
    /// On a database error.
    pub async fn pool_members(&self) -> Result<Vec<PoolMember>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT device_id, department, category, suggestion_id, since_unix_ms
             FROM pool_members ORDER BY department, category, device_id",
        )
        .fetch_all(&self.pool)
        .await?)
    }

    /// The pool a device belongs to, if any.
    ///
    /// # Errors
    /// On a database error.
    pub async fn pool_member(&self, device_id: &str) -> Result<Option<PoolMember>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT device_id, department, category, suggestion_id, since_unix_ms
             FROM pool_members WHERE device_id = $1",
        )
        .bind(device_id.to_owned())
        .fetch_optional(&self.pool)
        .await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_hour_belongs_to_the_spell_begun_at_or_before_it() {
        let spells = vec![(100, "Sales".to_owned()), (200, "Finance".to_owned())];
        assert_eq!(department_at(&spells, 50), Some("Sales"));
        assert_eq!(department_at(&spells, 100), Some("Sales"));
        assert_eq!(department_at(&spells, 199), Some("Sales"));
        assert_eq!(department_at(&spells, 200), Some("Finance"));
        assert_eq!(department_at(&spells, 10_000), Some("Finance"));
        assert_eq!(department_at(&[], 10), None);
    }
}
