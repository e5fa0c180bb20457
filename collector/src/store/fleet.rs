//! The device list and a device's page: sorted, paginated reads that stay
//! fast at 100,000 devices (each sort key has an index ending with the id),
//! and a device's latest storage snapshot. Never any digital load.

use super::{StorageRow, Store, StoreError};

/// A column the device list sorts by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DeviceSort {
    Hostname,
    #[default]
    Department,
    Chassis,
    Model,
    /// By the age date: oldest first when ascending.
    Age,
    LastSeen,
}

impl DeviceSort {
    /// Every sort key, as URLs name them.
    pub const ALL: [Self; 6] = [
        Self::Hostname,
        Self::Department,
        Self::Chassis,
        Self::Model,
        Self::Age,
        Self::LastSeen,
    ];

    /// The name in URLs (`?sort=`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Hostname => "hostname",
            Self::Department => "department",
            Self::Chassis => "chassis",
            Self::Model => "model",
            Self::Age => "age",
            Self::LastSeen => "last_seen",
        }
    }

    /// The sort key a URL names.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.name() == name)
    }

    fn columns(self) -> &'static [&'static str] {
        match self {
            Self::Hostname => &["hostname", "id"],
            Self::Department => &["department", "hostname", "id"],
            Self::Chassis => &["chassis", "id"],
            Self::Model => &["model", "id"],
            Self::Age => &["age_since_date", "id"],
            Self::LastSeen => &["last_seen_unix_ms", "id"],
        }
    }
}

/// One line of the device list.
#[derive(Debug, Clone, PartialEq, serde::Serialize, sqlx::FromRow)]
pub struct DeviceListRow {
    pub id: String,
    pub hostname: String,
    pub department: String,
    pub chassis: Option<String>,
    pub model: Option<String>,
    /// `YYYY-MM-DD` the age counts from.
    pub age_since_date: Option<String>,
    pub last_seen_unix_ms: Option<i64>,
    pub revoked_unix_ms: Option<i64>,
}

/// A storage snapshot with when it was collected.
#[derive(sqlx::FromRow)]
struct StorageSnapshot {
    collected_unix_ms: i64,
    #[sqlx(flatten)]
    storage: StorageRow,
}

/// A device's host name.
#[derive(sqlx::FromRow)]
struct Hostname {
    id: String,
    hostname: String,
}

impl Store {
    /// One page of devices sorted by `sort`, optionally of one department,
    /// and how many devices match.
    ///
    /// # Errors
    /// On a database error.
    pub async fn device_list(
        &self,
        sort: DeviceSort,
        descending: bool,
        department: Option<&str>,
        page: i64,
        size: i64,
    ) -> Result<(Vec<DeviceListRow>, i64), StoreError> {
        // A WHERE only when filtering, so that the sort key's index gives
        // the order.
        let filter = if department.is_some() {
            "WHERE department = $1"
        } else {
            "WHERE $1 = ''"
        };
        let total: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT COUNT(*) FROM devices {filter}"
        )))
        .bind(department.unwrap_or("").to_owned())
        .fetch_one(&self.pool)
        .await?;
        let direction = if descending { "DESC" } else { "ASC" };
        let order = sort
            .columns()
            .iter()
            .map(|c| format!("{c} {direction}"))
            .collect::<Vec<_>>()
            .join(", ");
        // The ORDER BY is built from the fixed column names above only. The
        // page's ids come from the sort key's index alone (a deep OFFSET
        // then skips index entries, not rows); their rows are read after.
        let sql = format!(
            "SELECT id, hostname, department, chassis, model, age_since_date, last_seen_unix_ms,
                revoked_unix_ms
             FROM devices
             WHERE id IN (SELECT id FROM devices {filter} ORDER BY {order} LIMIT $2 OFFSET $3)
             ORDER BY {order}"
        );
        let rows = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(department.unwrap_or("").to_owned())
            .bind(size)
            .bind(page.saturating_sub(1).saturating_mul(size))
            .fetch_all(&self.pool)
            .await?;
        Ok((rows, total))
    }

    /// A device's latest storage snapshot and when it was collected.
    ///
    /// # Errors
    /// On a database error.
    pub async fn latest_storage(
        &self,
        device_id: &str,
    ) -> Result<Option<(i64, StorageRow)>, StoreError> {
        let row = sqlx::query_as::<_, StorageSnapshot>(
            "SELECT collected_unix_ms, total_bytes, used_bytes, scanned_unix_ms, duplicate_groups,
                duplicate_files, duplicate_bytes, temp_bytes, cache_bytes, trash_bytes,
                stale_bytes, mail_archives_bytes, old_downloads_bytes
             FROM storage_snapshots WHERE device_id = $1
             ORDER BY collected_unix_ms DESC LIMIT 1",
        )
        .bind(device_id.to_owned())
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|row| (row.collected_unix_ms, row.storage)))
    }

    /// Host names of devices, for showing suggestions.
    ///
    /// # Errors
    /// On a database error.
    pub async fn hostnames(
        &self,
        ids: &[String],
    ) -> Result<std::collections::HashMap<String, String>, StoreError> {
        let mut names = std::collections::HashMap::new();
        for chunk in ids.chunks(500) {
            let placeholders = (1..=chunk.len())
                .map(|i| format!("${i}"))
                .collect::<Vec<_>>()
                .join(", ");
            let sql = format!("SELECT id, hostname FROM devices WHERE id IN ({placeholders})");
            let mut query = sqlx::query_as::<_, Hostname>(sqlx::AssertSqlSafe(sql));
            for id in chunk {
                query = query.bind(id.clone());
            }
            for row in query.fetch_all(&self.pool).await? {
                names.insert(row.id, row.hostname);
            }
        }
        Ok(names)
    }
}
