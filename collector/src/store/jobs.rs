//! Periodic jobs' store side: leases so that a job runs on one replica only,
//! retention, erasure of a device, and the audit log.

use super::{Retention, RetentionOutcome, Store, StoreError};

const DAY_MS: i64 = 86_400_000;

/// A run of a job: who ran it, and when it started.
#[derive(sqlx::FromRow)]
struct JobRun {
    holder: String,
    started_unix_ms: i64,
}

/// A privacy alert of the audit log.
#[derive(sqlx::FromRow)]
struct PrivacyAlert {
    at_unix_ms: i64,
    action: String,
    subject: String,
    detail: String,
}

/// An entry of the audit log.
#[derive(sqlx::FromRow)]
struct AuditEntry {
    at_unix_ms: i64,
    actor: String,
    action: String,
    subject: String,
    detail: String,
}

impl Store {
    /// Takes the lease `name` for `holder` until `expires_unix_ms`, if it is
    /// free, expired or already `holder`'s. Returns whether `holder` holds it.
    /// Replicas call this before a periodic job: one of them wins.
    ///
    /// # Errors
    /// On a database error.
    pub async fn try_lease(
        &self,
        name: &str,
        holder: &str,
        now_unix_ms: i64,
        expires_unix_ms: i64,
    ) -> Result<bool, StoreError> {
        let _writer = self.writer().await;
        let taken = sqlx::query(
            "INSERT INTO leases (name, holder, expires_unix_ms) VALUES ($1, $2, $3)
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder,
                expires_unix_ms = excluded.expires_unix_ms
             WHERE leases.expires_unix_ms <= $4 OR leases.holder = excluded.holder",
        )
        .bind(name.to_owned())
        .bind(holder.to_owned())
        .bind(expires_unix_ms)
        .bind(now_unix_ms)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(taken == 1)
    }

    /// Records a job run.
    ///
    /// # Errors
    /// On a database error.
    pub async fn record_job_run(
        &self,
        job: &str,
        holder: &str,
        started_unix_ms: i64,
        finished_unix_ms: i64,
        outcome: &str,
    ) -> Result<(), StoreError> {
        let _writer = self.writer().await;
        sqlx::query(
            "INSERT INTO job_runs (job, holder, started_unix_ms, finished_unix_ms, outcome)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(job.to_owned())
        .bind(holder.to_owned())
        .bind(started_unix_ms)
        .bind(finished_unix_ms)
        .bind(outcome.to_owned())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Runs of `job` since `since_unix_ms`: (holder, started).
    ///
    /// # Errors
    /// On a database error.
    pub async fn job_runs(
        &self,
        job: &str,
        since_unix_ms: i64,
    ) -> Result<Vec<(String, i64)>, StoreError> {
        let rows = sqlx::query_as::<_, JobRun>(
            "SELECT holder, started_unix_ms FROM job_runs
             WHERE job = $1 AND started_unix_ms >= $2 ORDER BY started_unix_ms",
        )
        .bind(job.to_owned())
        .bind(since_unix_ms)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|run| (run.holder, run.started_unix_ms))
            .collect())
    }

    /// Appends to the audit log.
    ///
    /// # Errors
    /// On a database error.
    pub async fn audit(
        &self,
        at_unix_ms: i64,
        actor: &str,
        action: &str,
        subject: &str,
        detail: &str,
    ) -> Result<(), StoreError> {
        let _writer = self.writer().await;
        sqlx::query(
            "INSERT INTO audit_log (at_unix_ms, actor, action, subject, detail)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(at_unix_ms)
        .bind(actor.to_owned())
        .bind(action.to_owned())
        .bind(subject.to_owned())
        .bind(detail.to_owned())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Records an event unless one with the same action and subject whose
    /// detail starts with `key` is already recorded (an alert raised once).
    ///
    /// # Errors
    /// On a database error.
    pub async fn audit_once(
        &self,
        at_unix_ms: i64,
        actor: &str,
        action: &str,
        subject: &str,
        detail: &str,
        key: &str,
    ) -> Result<(), StoreError> {
        let seen: Option<i64> = sqlx::query_scalar(
            "SELECT id FROM audit_log WHERE action = $1 AND subject = $2
               AND substr(detail, 1, length($3)) = $3 LIMIT 1",
        )
        .bind(action.to_owned())
        .bind(subject.to_owned())
        .bind(key.to_owned())
        .fetch_optional(&self.pool)
        .await?;
        if seen.is_none() {
            self.audit(at_unix_ms, actor, action, subject, detail)
                .await?;
        }
        Ok(())
    }

    /// Privacy alerts (audit actions `privacy.*`), latest first.
    ///
    /// # Errors
    /// On a database error.
    pub async fn privacy_alerts(
        &self,
        limit: i64,
    ) -> Result<Vec<(i64, String, String, String)>, StoreError> {
        let rows = sqlx::query_as::<_, PrivacyAlert>(
            "SELECT at_unix_ms, action, subject, detail FROM audit_log
             WHERE action LIKE 'privacy.%' ORDER BY id DESC LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|alert| (alert.at_unix_ms, alert.action, alert.subject, alert.detail))
            .collect())
    }

    /// The audit log, newest first: (at, actor, action, subject, detail).
    ///
    /// # Errors
    /// On a database error.
    pub async fn audit_log(
        &self,
        limit: i64,
    ) -> Result<Vec<(i64, String, String, String, String)>, StoreError> {
        let rows = sqlx::query_as::<_, AuditEntry>(
            "SELECT at_unix_ms, actor, action, subject, detail FROM audit_log
             ORDER BY id DESC LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|entry| {
                (
                    entry.at_unix_ms,
                    entry.actor,
                    entry.action,
                    entry.subject,
                    entry.detail,
                )
            })
            .collect())
    }

    /// Deletes what is past its retention period at `now_unix_ms`.
    ///
    /// Raw reports and hourly buckets go after `raw_days`; person-day rows
    /// `person_day_days` after their week was aggregated (never before);
    /// rollups, storage snapshots and inventory history after
    /// `aggregate_days` (a device's latest inventory stays).
    ///
    /// # Errors
    /// On a database error; then nothing is deleted.
    pub async fn apply_retention(
        &self,
        retention: Retention,
        now_unix_ms: i64,
    ) -> Result<RetentionOutcome, StoreError> {
        let _writer = self.writer().await;
        let raw_cutoff = now_unix_ms - retention.raw_days * DAY_MS;
        let aggregate_cutoff = now_unix_ms - retention.aggregate_days * DAY_MS;
        let person_cutoff = now_unix_ms - retention.person_day_days * DAY_MS;
        let mut tx = self.begin_write().await?;
        let reports = sqlx::query("DELETE FROM reports WHERE received_unix_ms < $1")
            .bind(raw_cutoff)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        let usage_hours = sqlx::query("DELETE FROM usage_hours WHERE hour_start_unix_ms < $1")
            .bind(raw_cutoff)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        // A week is aggregated as a whole: its days run from its Monday to the
        // next Monday (ISO dates compare as text).
        let person_days = sqlx::query(
            "DELETE FROM person_days WHERE EXISTS (
                SELECT 1 FROM aggregated_weeks w
                WHERE w.aggregated_unix_ms < $1
                  AND person_days.day >= w.week_start_day
                  AND person_days.day < w.week_end_day)",
        )
        .bind(person_cutoff)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        let mut aggregates = 0;
        for statement in [
            "DELETE FROM device_weeks WHERE week_start_unix_ms < $1",
            "DELETE FROM department_hours WHERE hour_start_unix_ms < $1",
            "DELETE FROM storage_snapshots WHERE collected_unix_ms < $1",
            "DELETE FROM inventories WHERE collected_unix_ms < $1 AND collected_unix_ms < (
                SELECT COALESCE(d.inventory_unix_ms, 0) FROM devices d WHERE d.id = inventories.device_id)",
        ] {
            aggregates += sqlx::query(statement).bind(aggregate_cutoff).execute(&mut *tx).await?.rows_affected();
        }
        tx.commit().await?;
        Ok(RetentionOutcome {
            reports,
            usage_hours,
            person_days,
            aggregates,
        })
    }

    /// Marks the ISO week starting on `monday` (`YYYY-MM-DD`) as aggregated
    /// at `now_unix_ms`; its person-day rows then age out. A week already
    /// marked keeps its first time: looking at it again does not postpone
    /// the deletion.
    ///
    /// # Errors
    /// On a database error.
    pub async fn mark_week_aggregated(
        &self,
        monday: jiff::civil::Date,
        now_unix_ms: i64,
    ) -> Result<(), StoreError> {
        let _writer = self.writer().await;
        let next = monday.saturating_add(jiff::Span::new().days(7));
        sqlx::query(
            "INSERT INTO aggregated_weeks (week_start_day, week_end_day, aggregated_unix_ms)
             VALUES ($1, $2, $3)
             ON CONFLICT (week_start_day) DO NOTHING",
        )
        .bind(monday.to_string())
        .bind(next.to_string())
        .bind(now_unix_ms)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Erases a device and everything it sent; its contributions to the
    /// department rollup are subtracted. An audit entry records the erasure
    /// (who, when, the device id) without the data. Returns `false` when no
    /// such device exists.
    ///
    /// # Errors
    /// On a database error; then nothing is erased.
    pub async fn forget_device(
        &self,
        device_id: &str,
        actor: &str,
        now_unix_ms: i64,
    ) -> Result<bool, StoreError> {
        let _writer = self.writer().await;
        let mut tx = self.begin_write().await?;
        if !super::moves::withdraw_from_rollup(self.dialect, &mut tx, device_id).await? {
            return Ok(false);
        }
        // Every table referencing the device cascades.
        sqlx::query("DELETE FROM devices WHERE id = $1")
            .bind(device_id.to_owned())
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO audit_log (at_unix_ms, actor, action, subject, detail)
             VALUES ($1, $2, 'device.forget', $3, '')",
        )
        .bind(now_unix_ms)
        .bind(actor.to_owned())
        .bind(device_id.to_owned())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Counts of rows holding a device's data, by table; all zero once the
    /// device is forgotten.
    ///
    /// # Errors
    /// On a database error.
    pub async fn device_row_counts(
        &self,
        device_id: &str,
    ) -> Result<Vec<(&'static str, i64)>, StoreError> {
        let mut counts = Vec::new();
        for (table, sql) in [
            ("devices", "SELECT COUNT(*) FROM devices WHERE id = $1"),
            (
                "reports",
                "SELECT COUNT(*) FROM reports WHERE device_id = $1",
            ),
            (
                "inventories",
                "SELECT COUNT(*) FROM inventories WHERE device_id = $1",
            ),
            (
                "usage_hours",
                "SELECT COUNT(*) FROM usage_hours WHERE device_id = $1",
            ),
            (
                "device_weeks",
                "SELECT COUNT(*) FROM device_weeks WHERE device_id = $1",
            ),
            (
                "storage_snapshots",
                "SELECT COUNT(*) FROM storage_snapshots WHERE device_id = $1",
            ),
            (
                "person_days",
                "SELECT COUNT(*) FROM person_days WHERE device_id = $1",
            ),
            (
                "person_devices",
                "SELECT COUNT(*) FROM person_devices WHERE device_id = $1",
            ),
            (
                "pseudonym_evaluations",
                "SELECT COUNT(*) FROM pseudonym_evaluations WHERE device_id = $1",
            ),
        ] {
            let count: i64 = sqlx::query_scalar(sql)
                .bind(device_id.to_owned())
                .fetch_one(&self.pool)
                .await?;
            counts.push((table, count));
        }
        Ok(counts)
    }
}
