//! What HR indicators read (person-day rows with their device's department)
//! and keep (releases drawn under differential privacy, and the budget each
//! group and week has spent).

use sqlx::Row;

use super::{Store, StoreError};
use crate::indicators::DeviceDay;

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
        let rows = sqlx::query(
            "SELECT p.person_id, p.day, d.department, p.meeting_minutes, p.conflicting_minutes,
                p.back_to_back_count, p.after_hours_meeting_minutes, p.call_minutes,
                p.notifications_total, p.notifications_after_hours, p.focus_minutes,
                p.active_minutes, p.after_hours_active_minutes, p.weekend_active_minutes
             FROM person_days p JOIN devices d ON d.id = p.device_id
             WHERE p.day >= $1 AND p.day <= $2",
        )
        .bind(first.to_owned())
        .bind(last.to_owned())
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|row| {
                let day: String = row.get(1);
                Ok(DeviceDay {
                    person_id: row.get(0),
                    day: day
                        .parse()
                        .map_err(|_| StoreError::Corrupt(format!("person-day date {day:?}")))?,
                    department: row.get(2),
                    meeting_minutes: row.get(3),
                    conflicting_minutes: row.get(4),
                    back_to_back_count: row.get(5),
                    after_hours_meeting_minutes: row.get(6),
                    call_minutes: row.get(7),
                    notifications_total: row.get(8),
                    notifications_after_hours: row.get(9),
                    focus_minutes: row.get(10),
                    active_minutes: row.get(11),
                    after_hours_active_minutes: row.get(12),
                    weekend_active_minutes: row.get(13),
                })
            })
            .collect()
    }

    /// Every department's name.
    ///
    /// # Errors
    /// On a database error.
    pub async fn department_names(&self) -> Result<Vec<String>, StoreError> {
        Ok(sqlx::query("SELECT name FROM departments ORDER BY name")
            .fetch_all(&self.pool)
            .await?
            .into_iter()
            .map(|row| row.get(0))
            .collect())
    }

    /// A week's release drawn earlier under differential privacy.
    ///
    /// # Errors
    /// On a database error.
    pub async fn indicator_release(&self, week: &str) -> Result<Option<String>, StoreError> {
        Ok(
            sqlx::query("SELECT release_json FROM indicator_releases WHERE week = $1")
                .bind(week.to_owned())
                .fetch_optional(&self.pool)
                .await?
                .map(|row| row.get(0)),
        )
    }

    /// Keeps a release and charges each group's budget for the week; refuses
    /// (returns `false`, nothing kept) when a group would exceed `budget`.
    ///
    /// # Errors
    /// On a database error.
    pub async fn keep_indicator_release(
        &self,
        week: &str,
        release_json: &str,
        spent: &[(String, f64)],
        budget: f64,
    ) -> Result<bool, StoreError> {
        let _writer = self.writer().await;
        let mut tx = self.pool.begin().await?;
        for (group, epsilon) in spent {
            let before: f64 = sqlx::query(
                "SELECT epsilon_spent FROM privacy_budget WHERE week = $1 AND group_name = $2",
            )
            .bind(week.to_owned())
            .bind(group.clone())
            .fetch_optional(&mut *tx)
            .await?
            .map_or(0.0, |row| row.get(0));
            if before + epsilon > budget + 1e-9 {
                return Ok(false);
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
        sqlx::query(
            "INSERT INTO indicator_releases (week, release_json, released_unix_ms) VALUES ($1, $2, $3)
             ON CONFLICT (week) DO UPDATE SET release_json = excluded.release_json,
                released_unix_ms = excluded.released_unix_ms",
        )
        .bind(week.to_owned())
        .bind(release_json.to_owned())
        .bind(super::now_unix_ms())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }
}
