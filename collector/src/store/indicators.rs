//! What HR indicators read (person-day rows with their device's department)
//! and keep (releases drawn under differential privacy, and the budget each
//! group and week has spent).

use std::collections::BTreeMap;

use super::{Store, StoreError};
use crate::indicators::{DeviceDay, Home};

/// A row of `person_days` that carries some figure above zero, in SQL:
/// only such rows count a person or place them in a group.
pub(super) const HAS_FIGURES: &str = "(COALESCE(meeting_minutes, 0) > 0
    OR COALESCE(conflicting_minutes, 0) > 0 OR COALESCE(back_to_back_count, 0) > 0
    OR COALESCE(after_hours_meeting_minutes, 0) > 0 OR COALESCE(call_minutes, 0) > 0
    OR COALESCE(notifications_total, 0) > 0 OR COALESCE(notifications_after_hours, 0) > 0
    OR COALESCE(focus_minutes, 0) > 0 OR COALESCE(active_minutes, 0) > 0
    OR COALESCE(after_hours_active_minutes, 0) > 0 OR COALESCE(weekend_active_minutes, 0) > 0)";

/// How long a device that stopped reporting a person stays their home.
const HOME_IDLE_MS: i64 = 28 * 24 * 3_600_000;

/// What the store knows of one device that reported a person.
#[derive(Debug, Clone)]
struct Sighting {
    device_id: String,
    department: String,
    first_seen_unix_ms: i64,
    last_seen_unix_ms: i64,
    revoked: bool,
}

/// A person-day row with the department of the device that reported it,
/// its day as stored.
#[derive(sqlx::FromRow)]
struct PersonDayRecord {
    person_id: String,
    day: String,
    department: String,
    meeting_minutes: Option<i64>,
    conflicting_minutes: Option<i64>,
    back_to_back_count: Option<i64>,
    after_hours_meeting_minutes: Option<i64>,
    call_minutes: Option<i64>,
    notifications_total: Option<i64>,
    notifications_after_hours: Option<i64>,
    focus_minutes: Option<i64>,
    active_minutes: Option<i64>,
    after_hours_active_minutes: Option<i64>,
    weekend_active_minutes: Option<i64>,
    device_id: String,
}

impl TryFrom<PersonDayRecord> for DeviceDay {
    type Error = StoreError;

    fn try_from(row: PersonDayRecord) -> Result<Self, StoreError> {
        let day = row
            .day
            .parse()
            .map_err(|_| StoreError::Corrupt(format!("person-day date {:?}", row.day)))?;
        Ok(Self {
            person_id: row.person_id,
            day,
            department: row.department,
            meeting_minutes: row.meeting_minutes,
            conflicting_minutes: row.conflicting_minutes,
            back_to_back_count: row.back_to_back_count,
            after_hours_meeting_minutes: row.after_hours_meeting_minutes,
            call_minutes: row.call_minutes,
            notifications_total: row.notifications_total,
            notifications_after_hours: row.notifications_after_hours,
            focus_minutes: row.focus_minutes,
            active_minutes: row.active_minutes,
            after_hours_active_minutes: row.after_hours_active_minutes,
            weekend_active_minutes: row.weekend_active_minutes,
            device_id: row.device_id,
        })
    }
}

/// A device that reported a person, as stored.
#[derive(sqlx::FromRow)]
struct SightingRow {
    person_id: String,
    device_id: String,
    department: String,
    first_seen_unix_ms: i64,
    last_seen_unix_ms: i64,
    revoked_unix_ms: Option<i64>,
}

/// A person a device reported, and the day.
#[derive(sqlx::FromRow)]
struct PersonDay {
    person_id: String,
    day: String,
}

impl Store {
    /// Person-day rows of local days `first..=last` (`YYYY-MM-DD`), each with
    /// the department of the device that reported it.
    ///
    /// # Errors
    /// On a database error or a stored day that does not parse.
    pub async fn person_day_rows(
        &self,
        first: &str,
        last: &str,
    ) -> Result<Vec<DeviceDay>, StoreError> {
        let rows = sqlx::query_as::<_, PersonDayRecord>(
            "SELECT p.person_id, p.day, d.department, p.meeting_minutes, p.conflicting_minutes,
                p.back_to_back_count, p.after_hours_meeting_minutes, p.call_minutes,
                p.notifications_total, p.notifications_after_hours, p.focus_minutes,
                p.active_minutes, p.after_hours_active_minutes, p.weekend_active_minutes,
                p.device_id
             FROM person_days p JOIN devices d ON d.id = p.device_id
             WHERE p.day >= $1 AND p.day <= $2",
        )
        .bind(first.to_owned())
        .bind(last.to_owned())
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(DeviceDay::try_from).collect()
    }

    /// Where each person with rows on local days `first..=last` is counted:
    /// among the devices that reported them with figures before
    /// `until_unix_ms` (the week's end), the one that did so first — kept
    /// while it is enrolled and reported them in the 28 days before
    /// `from_unix_ms` (the week's start) or since; otherwise the first of
    /// all. Arrival times are the collector's, so no device can move
    /// someone by back-dating or by sending rows.
    ///
    /// # Errors
    /// On a database error.
    pub async fn person_homes(
        &self,
        first: &str,
        last: &str,
        from_unix_ms: i64,
        until_unix_ms: i64,
    ) -> Result<BTreeMap<String, Home>, StoreError> {
        let rows = sqlx::query_as::<_, SightingRow>(
            "SELECT s.person_id, s.device_id, d.department, s.first_seen_unix_ms,
                s.last_seen_unix_ms, d.revoked_unix_ms
             FROM person_devices s JOIN devices d ON d.id = s.device_id
             WHERE s.person_id IN (SELECT person_id FROM person_days WHERE day >= $1 AND day <= $2)",
        )
        .bind(first.to_owned())
        .bind(last.to_owned())
        .fetch_all(&self.pool)
        .await?;
        let mut sightings: BTreeMap<String, Vec<Sighting>> = BTreeMap::new();
        for row in rows {
            sightings.entry(row.person_id).or_default().push(Sighting {
                device_id: row.device_id,
                department: row.department,
                first_seen_unix_ms: row.first_seen_unix_ms,
                last_seen_unix_ms: row.last_seen_unix_ms,
                revoked: row.revoked_unix_ms.is_some(),
            });
        }
        let earliest = |candidates: &mut dyn Iterator<Item = &Sighting>| {
            candidates
                .min_by(|a, b| {
                    a.first_seen_unix_ms
                        .cmp(&b.first_seen_unix_ms)
                        .then_with(|| a.device_id.cmp(&b.device_id))
                })
                .map(|s| Home {
                    device_id: s.device_id.clone(),
                    department: s.department.clone(),
                })
        };
        Ok(sightings
            .into_iter()
            .filter_map(|(person, seen)| {
                let current = earliest(&mut seen.iter().filter(|s| {
                    !s.revoked
                        && s.first_seen_unix_ms < until_unix_ms
                        && s.last_seen_unix_ms >= from_unix_ms - HOME_IDLE_MS
                }));
                let home = current.or_else(|| earliest(&mut seen.iter()))?;
                Some((person, home))
            })
            .collect())
    }

    /// The people a device reported with figures on local days
    /// `first..=last`, with the day.
    ///
    /// # Errors
    /// On a database error.
    pub async fn people_reported_by(
        &self,
        device_id: &str,
        first: &str,
        last: &str,
    ) -> Result<Vec<(String, String)>, StoreError> {
        // A constant of this module: nothing from outside reaches the text.
        let rows = sqlx::query_as::<_, PersonDay>(sqlx::AssertSqlSafe(format!(
            "SELECT person_id, day FROM person_days
             WHERE device_id = $1 AND day >= $2 AND day <= $3 AND {HAS_FIGURES}"
        )))
        .bind(device_id.to_owned())
        .bind(first.to_owned())
        .bind(last.to_owned())
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|row| (row.person_id, row.day))
            .collect())
    }

    /// How many people the device may report in a week, when IT set it
    /// (a shared device).
    ///
    /// # Errors
    /// On a database error.
    pub async fn device_max_people(&self, device_id: &str) -> Result<Option<u32>, StoreError> {
        let value: Option<Option<i64>> =
            sqlx::query_scalar("SELECT max_people FROM devices WHERE id = $1")
                .bind(device_id.to_owned())
                .fetch_optional(&self.pool)
                .await?;
        Ok(value.flatten().and_then(|n| u32::try_from(n).ok()))
    }

    /// Sets how many people a device may report in a week (`None`: the
    /// configured default); returns whether the device exists.
    ///
    /// # Errors
    /// On a database error.
    pub async fn set_device_max_people(
        &self,
        device_id: &str,
        max_people: Option<u32>,
    ) -> Result<bool, StoreError> {
        let _writer = self.writer().await;
        let done = sqlx::query("UPDATE devices SET max_people = $1 WHERE id = $2")
            .bind(max_people.map(i64::from))
            .bind(device_id.to_owned())
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Every department's name.
    ///
    /// # Errors
    /// On a database error.
    pub async fn department_names(&self) -> Result<Vec<String>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT name FROM departments ORDER BY name")
                .fetch_all(&self.pool)
                .await?,
        )
    }

    /// A week's release drawn earlier under differential privacy.
    ///
    /// # Errors
    /// On a database error.
    pub async fn indicator_release(&self, week: &str) -> Result<Option<String>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT release_json FROM indicator_releases WHERE week = $1")
                .bind(week.to_owned())
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    /// Drops the releases published at or after `since_unix_ms`, and the
    /// budget they spent; returns how many. For the demo only: its simulated
    /// agents backfill weeks of history, which the collector may have
    /// published (empty) when it started. In a real deployment no report
    /// arrives weeks late, and a published week stays as published.
    ///
    /// # Errors
    /// On a database error.
    pub async fn drop_releases_published_since(
        &self,
        since_unix_ms: i64,
    ) -> Result<u64, StoreError> {
        let _writer = self.writer().await;
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "DELETE FROM privacy_budget WHERE week IN
               (SELECT week FROM indicator_releases WHERE released_unix_ms >= $1)",
        )
        .bind(since_unix_ms)
        .execute(&mut *tx)
        .await?;
        let dropped = sqlx::query("DELETE FROM indicator_releases WHERE released_unix_ms >= $1")
            .bind(since_unix_ms)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok(dropped)
    }

    /// Publishes a week's release, once: when none is stored yet, keeps
    /// `release_json` and charges each group's budget for the week (refused
    /// when a group would exceed `budget`: nothing kept, `None`); when one
    /// is stored already (another replica was first), keeps nothing and
    /// charges nothing. Returns the release stored.
    ///
    /// # Errors
    /// On a database error.
    pub async fn publish_indicator_release(
        &self,
        week: &str,
        release_json: &str,
        spent: &[(String, f64)],
        budget: f64,
        now_unix_ms: i64,
    ) -> Result<Option<String>, StoreError> {
        let _writer = self.writer().await;
        let mut tx = self.begin_write().await?;
        let stored: Option<String> =
            sqlx::query_scalar("SELECT release_json FROM indicator_releases WHERE week = $1")
                .bind(week.to_owned())
                .fetch_optional(&mut *tx)
                .await?;
        if stored.is_some() {
            return Ok(stored);
        }
        for (group, epsilon) in spent {
            let before: f64 = sqlx::query_scalar(
                "SELECT epsilon_spent FROM privacy_budget WHERE week = $1 AND group_name = $2",
            )
            .bind(week.to_owned())
            .bind(group.clone())
            .fetch_optional(&mut *tx)
            .await?
            .unwrap_or(0.0);
            if before + epsilon > budget + 1e-9 {
                return Ok(None);
            }
            sqlx::query(
                "INSERT INTO privacy_budget (week, group_name, epsilon_spent) VALUES ($1, $2, $3)
                 ON CONFLICT (week, group_name) DO UPDATE SET epsilon_spent = excluded.epsilon_spent",
            )
            .bind(week.to_owned())
            .bind(group.clone())
            .bind(before + epsilon)
            .execute(&mut *tx)
            .await?;
        }
        // Two replicas publishing at once: the first insert wins, the
        // other's transaction fails on the key and publishes nothing.
        sqlx::query(
            "INSERT INTO indicator_releases (week, release_json, released_unix_ms) VALUES ($1, $2, $3)",
        )
        .bind(week.to_owned())
        .bind(release_json.to_owned())
        .bind(now_unix_ms)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Some(release_json.to_owned()))
    }
}
