//! A simulated fleet generated inside SQLite (recursive CTEs), so that
//! building a million devices takes seconds, not the benchmark's time: devices
//! in departments of about 200, their latest inventory, 12 weeks of weekly
//! rollups, departments' hourly activity by category and a storage scan on a
//! quarter of them.

pub const WEEK: i64 = 7 * 86_400_000;
/// Monday 2026-11-30 00:00 UTC: "now" for the benchmarks.
pub const NOW: i64 = 1_795_996_800_000;

/// Fills the store at `path` (migrated, empty) with `devices` devices.
pub async fn generate(path: &std::path::Path, devices: i64) {
    let url = format!("sqlite://{}", path.display());
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    let departments = (devices / 200).max(10);
    let first_week = NOW - 12 * WEEK;
    let statements = [
        format!(
            "WITH RECURSIVE d(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM d WHERE i < {departments} - 1)
             INSERT INTO departments (name, created_unix_ms) SELECT 'dept-' || i, 0 FROM d"
        ),
        format!(
            "WITH RECURSIVE s(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM s WHERE i < {devices} - 1)
             INSERT INTO devices (id, hostname, department, agent_version, enrolled_unix_ms,
                certificate_serial, certificate_not_after_unix_ms, bearer_secret_sha256, reports,
                inventory_unix_ms)
             SELECT printf('dev-%08d', i), printf('host-%08d', i), 'dept-' || (i % {departments}),
                '0.1.0', 0, 'serial', 4102444800000, x'00', 0, 1 FROM s"
        ),
        "INSERT INTO inventories (device_id, collected_unix_ms, hostname, chassis, vendor, model,
            cpu_logical_cores, memory_bytes, disk_bytes, age_since_date, age_source,
            battery_health_percent, battery_cycles, disk_health)
         SELECT id, 1, hostname,
            CASE abs(random()) % 10 WHEN 0 THEN 'desktop' WHEN 1 THEN 'desktop'
                WHEN 2 THEN 'all_in_one' ELSE 'laptop' END,
            'Vendor-' || (abs(random()) % 8), 'Model ' || (abs(random()) % 60),
            2 << (abs(random()) % 3), (4 << (abs(random()) % 4)) * 1073741824,
            (128 << (abs(random()) % 3)) * 1073741824,
            date('2026-11-01', '-' || (abs(random()) % 3000) || ' days'), 'bios_date',
            50 + abs(random()) % 50, abs(random()) % 800,
            CASE WHEN abs(random()) % 200 = 0 THEN 'failing' ELSE 'ok' END
         FROM devices"
            .to_owned(),
        format!(
            "WITH RECURSIVE w(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM w WHERE i < 11)
             INSERT INTO device_weeks (device_id, week_start_unix_ms, powered_hours, active_hours,
                cpu_hot_hours, memory_hot_hours, disk_fill_max_percent)
             SELECT d.id, {first_week} + w.i * {WEEK}, 30 + abs(random()) % 20,
                abs(random()) % 40, abs(random()) % 4, abs(random()) % 6,
                30 + abs(random()) % 70
             FROM devices d CROSS JOIN w"
        ),
        format!(
            "WITH RECURSIVE h(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM h WHERE i < 12 * 168 - 1),
                 d(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM d WHERE i < {departments} - 1),
                 c(name, share) AS (VALUES ('laptop', 7), ('desktop', 3))
             INSERT INTO department_hours (department, category, hour_start_unix_ms,
                active_devices)
             SELECT 'dept-' || d.i, c.name, {first_week} + h.i * 3600000,
                abs(random()) % ({devices} * c.share / 10 / {departments} + 1)
             FROM d CROSS JOIN h CROSS JOIN c"
        ),
        "INSERT INTO storage_snapshots (device_id, collected_unix_ms, total_bytes, used_bytes,
            scanned_unix_ms, duplicate_bytes, temp_bytes, cache_bytes, trash_bytes, stale_bytes,
            mail_archives_bytes, old_downloads_bytes)
         SELECT id, 1, 512 * 1073741824, 300 * 1073741824, 1, abs(random()) % 4000000000,
            abs(random()) % 1000000000, abs(random()) % 2000000000, 0, 0, 0,
            abs(random()) % 3000000000
         FROM devices WHERE abs(random()) % 4 = 0"
            .to_owned(),
        // The device list's sort keys, as ingest keeps them.
        "UPDATE devices SET
            chassis = (SELECT chassis FROM inventories i WHERE i.device_id = devices.id),
            model = (SELECT model FROM inventories i WHERE i.device_id = devices.id),
            age_since_date = (SELECT age_since_date FROM inventories i
                              WHERE i.device_id = devices.id),
            last_seen_unix_ms = 1795900000000 - abs(random()) % 1000000000"
            .to_owned(),
        // The category the department rollup counts each device under.
        "UPDATE devices SET category = CASE chassis WHEN 'laptop' THEN 'laptop' ELSE 'desktop' END"
            .to_owned(),
    ];
    for statement in statements {
        sqlx::query(sqlx::AssertSqlSafe(statement))
            .execute(&pool)
            .await
            .unwrap();
    }
    pool.close().await;
}
