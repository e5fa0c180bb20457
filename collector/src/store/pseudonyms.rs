//! Oblivious pseudonyms: what each device obtained, and the links that carry
//! a person's history from their earlier pseudonym to their current one.

use std::collections::BTreeSet;

use sqlx::AnyConnection;

use super::{Store, StoreError};

/// Audit action: a device sent a link that contradicts an earlier one.
pub const PRIVACY_LINK_REFUSED: &str = "privacy.pseudonym_link_refused";

/// The outcome of [`Store::charge_pseudonyms`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Charged {
    /// Charged: the device has now obtained this many in the window.
    Within(u32),
    /// Refused: the device already obtained this many in the window.
    Over(u32),
}

impl Store {
    /// Charges `count` pseudonym evaluations to `device_id` at `now_unix_ms`
    /// unless, with those obtained since `since_unix_ms`, it would obtain
    /// more than `bound`. One write transaction: concurrent calls of the
    /// same device cannot both pass.
    ///
    /// # Errors
    /// On a database error; then nothing is charged.
    pub async fn charge_pseudonyms(
        &self,
        device_id: &str,
        count: u32,
        bound: u32,
        since_unix_ms: i64,
        now_unix_ms: i64,
    ) -> Result<Charged, StoreError> {
        let _writer = self.writer().await;
        let mut tx = self.begin_write().await?;
        // SUM of a BIGINT is NUMERIC on PostgreSQL: cast back.
        let used: Option<i64> = sqlx::query_scalar(
            "SELECT CAST(SUM(count) AS BIGINT) FROM pseudonym_evaluations
             WHERE device_id = $1 AND at_unix_ms >= $2",
        )
        .bind(device_id.to_owned())
        .bind(since_unix_ms)
        .fetch_one(&mut *tx)
        .await?;
        let used = u32::try_from(used.unwrap_or(0)).unwrap_or(u32::MAX);
        if used.saturating_add(count) > bound {
            return Ok(Charged::Over(used));
        }
        sqlx::query(
            "INSERT INTO pseudonym_evaluations (device_id, at_unix_ms, count) VALUES ($1, $2, $3)",
        )
        .bind(device_id.to_owned())
        .bind(now_unix_ms)
        .bind(i64::from(count))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Charged::Within(used + count))
    }

    /// The current pseudonym an earlier one was linked to.
    ///
    /// # Errors
    /// On a database error.
    pub async fn pseudonym_link(&self, previous_id: &str) -> Result<Option<String>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT person_id FROM pseudonym_links WHERE previous_id = $1")
                .bind(previous_id.to_owned())
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    /// Applies the links `device_id` sent, in the ingest transaction: a link
    /// counts only when the device reported the earlier pseudonym with
    /// figures, and only the first link of an earlier pseudonym counts. The
    /// person's rows and sightings move to the current pseudonym (a day the
    /// current one already holds on a device keeps the current row). Returns
    /// the links refused because another one came first.
    pub(super) async fn apply_pseudonym_links(
        connection: &mut AnyConnection,
        device_id: &str,
        links: &BTreeSet<(String, String)>,
        now_unix_ms: i64,
    ) -> Result<Vec<(String, String)>, StoreError> {
        let mut conflicting = Vec::new();
        for (previous, current) in links {
            if previous == current {
                continue;
            }
            let reported: Option<i64> = sqlx::query_scalar(
                "SELECT 1 FROM person_devices WHERE person_id = $1 AND device_id = $2",
            )
            .bind(previous.clone())
            .bind(device_id.to_owned())
            .fetch_optional(&mut *connection)
            .await?;
            let linked: Option<String> =
                sqlx::query_scalar("SELECT person_id FROM pseudonym_links WHERE previous_id = $1")
                    .bind(previous.clone())
                    .fetch_optional(&mut *connection)
                    .await?;
            match linked {
                Some(linked) if linked != *current => {
                    sqlx::query(
                        "INSERT INTO audit_log (at_unix_ms, actor, action, subject, detail)
                         VALUES ($1, 'collector', $2, $3, $4)",
                    )
                    .bind(now_unix_ms)
                    .bind(PRIVACY_LINK_REFUSED)
                    .bind(device_id.to_owned())
                    .bind(
                        "the device linked a person's earlier pseudonym to another current \
                         one than the first link did; ignored"
                            .to_owned(),
                    )
                    .execute(&mut *connection)
                    .await?;
                    conflicting.push((previous.clone(), current.clone()));
                    continue;
                }
                // Already linked: rows that arrived since under the earlier
                // pseudonym (from a device not yet switched) move too.
                Some(_) => {}
                None if reported.is_none() => continue,
                None => {
                    sqlx::query(
                        "INSERT INTO pseudonym_links (previous_id, person_id, linked_unix_ms)
                         VALUES ($1, $2, $3)",
                    )
                    .bind(previous.clone())
                    .bind(current.clone())
                    .bind(now_unix_ms)
                    .execute(&mut *connection)
                    .await?;
                }
            }
            sqlx::query(
                "DELETE FROM person_days WHERE person_id = $1 AND EXISTS (
                    SELECT 1 FROM person_days AS newer
                    WHERE newer.person_id = $2 AND newer.day = person_days.day
                      AND newer.device_id = person_days.device_id)",
            )
            .bind(previous.clone())
            .bind(current.clone())
            .execute(&mut *connection)
            .await?;
            sqlx::query("UPDATE person_days SET person_id = $1 WHERE person_id = $2")
                .bind(current.clone())
                .bind(previous.clone())
                .execute(&mut *connection)
                .await?;
            sqlx::query(
                "INSERT INTO person_devices (person_id, device_id, first_seen_unix_ms, last_seen_unix_ms)
                 SELECT $1, device_id, first_seen_unix_ms, last_seen_unix_ms
                 FROM person_devices WHERE person_id = $2
                 ON CONFLICT (person_id, device_id) DO UPDATE SET
                    first_seen_unix_ms = CASE
                        WHEN excluded.first_seen_unix_ms < person_devices.first_seen_unix_ms
                        THEN excluded.first_seen_unix_ms ELSE person_devices.first_seen_unix_ms END,
                    last_seen_unix_ms = CASE
                        WHEN excluded.last_seen_unix_ms > person_devices.last_seen_unix_ms
                        THEN excluded.last_seen_unix_ms ELSE person_devices.last_seen_unix_ms END",
            )
            .bind(current.clone())
            .bind(previous.clone())
            .execute(&mut *connection)
            .await?;
            sqlx::query("DELETE FROM person_devices WHERE person_id = $1")
                .bind(previous.clone())
                .execute(&mut *connection)
                .await?;
        }
        Ok(conflicting)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_device_obtains_at_most_its_bound_in_the_window() {
        let (_dir, store) = crate::store::tests_support::store_with_device("dev-1").await;
        assert_eq!(
            store.charge_pseudonyms("dev-1", 1, 2, 0, 10).await.unwrap(),
            Charged::Within(1)
        );
        assert_eq!(
            store.charge_pseudonyms("dev-1", 2, 2, 0, 20).await.unwrap(),
            Charged::Over(1),
            "two more would make three"
        );
        assert_eq!(
            store.charge_pseudonyms("dev-1", 1, 2, 0, 30).await.unwrap(),
            Charged::Within(2)
        );
        assert_eq!(
            store.charge_pseudonyms("dev-1", 1, 2, 0, 40).await.unwrap(),
            Charged::Over(2)
        );
        // Evaluations older than the window no longer count.
        assert_eq!(
            store
                .charge_pseudonyms("dev-1", 1, 2, 25, 50)
                .await
                .unwrap(),
            Charged::Within(2)
        );
    }
}
