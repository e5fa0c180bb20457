//! Analysis from rollups: the time to read the facts of a fleet (latest
//! inventories, 4 of its 12 weeks of per-device rollups, departments'
//! hourly activity) from SQLite, compute every suggestion and store them,
//! for 10,000, 100,000 and 1,000,000 simulated devices with 12 weeks of
//! history. Budget (DESIGN.md): 100,000 devices ≤ 2 s, 1,000,000 ≤ 30 s.
//!
//! The fleet is generated inside SQLite (recursive CTEs), so that building a
//! million devices takes seconds, not the benchmark's time.
//!
//! `cargo bench -p sobrio-collector --bench analysis` (`SOBRIO_BENCH_QUICK=1`:
//! 10,000 devices only).

use std::time::Instant;

use sobrio_collector::analysis;
use sobrio_collector::config::CollectorConfig;
use sobrio_collector::store::Store;

const WEEK: i64 = 7 * 86_400_000;
/// Monday 2026-11-30 00:00 UTC: "now" for the analysis.
const NOW: i64 = 1_795_996_800_000;

async fn generate(path: &std::path::Path, devices: i64) {
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
        "INSERT INTO inventories (device_id, collected_unix_ms, hostname, chassis,
            cpu_logical_cores, memory_bytes, disk_bytes, age_since_date, age_source,
            battery_health_percent, battery_cycles, disk_health)
         SELECT id, 1, hostname,
            CASE abs(random()) % 10 WHEN 0 THEN 'desktop' WHEN 1 THEN 'desktop'
                WHEN 2 THEN 'all_in_one' ELSE 'laptop' END,
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
                 d(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM d WHERE i < {departments} - 1)
             INSERT INTO department_hours (department, hour_start_unix_ms, active_devices)
             SELECT 'dept-' || d.i, {first_week} + h.i * 3600000,
                abs(random()) % ({devices} / {departments})
             FROM d CROSS JOIN h"
        ),
        "INSERT INTO storage_snapshots (device_id, collected_unix_ms, total_bytes, used_bytes,
            scanned_unix_ms, duplicate_bytes, temp_bytes, cache_bytes, trash_bytes, stale_bytes,
            mail_archives_bytes, old_downloads_bytes)
         SELECT id, 1, 512 * 1073741824, 300 * 1073741824, 1, abs(random()) % 4000000000,
            abs(random()) % 1000000000, abs(random()) % 2000000000, 0, 0, 0,
            abs(random()) % 3000000000
         FROM devices WHERE abs(random()) % 4 = 0"
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

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let quick = std::env::var_os("SOBRIO_BENCH_QUICK").is_some();
    // SOBRIO_BENCH_MAX_DEVICES stops after that size (to iterate quickly).
    let max: i64 = std::env::var("SOBRIO_BENCH_MAX_DEVICES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if quick { 10_000 } else { 1_000_000 });
    let sizes: Vec<i64> = [10_000, 100_000, 1_000_000]
        .into_iter()
        .filter(|n| *n <= max)
        .collect();
    let config = CollectorConfig::default();
    println!("analysis from rollups (SQLite, 2 cores), 12 weeks of history:");
    println!(
        "  {:>9}  {:>9}  {:>9}  {:>9}  {:>9}  {:>11}  {:>8}",
        "devices", "generate", "read", "compute", "store", "suggestions", "total"
    );
    for devices in sizes {
        let dir = tempfile::tempdir().unwrap();
        let store = runtime.block_on(Store::open_data_dir(dir.path())).unwrap();
        let started = Instant::now();
        runtime.block_on(generate(&dir.path().join("sobrio.db"), devices));
        let generated = started.elapsed().as_secs_f64();

        let end = analysis::week_start(NOW);
        let start = end - i64::from(config.analysis.weeks) * WEEK;
        let t0 = Instant::now();
        let input = runtime.block_on(store.analysis_input(start, end)).unwrap();
        let read = t0.elapsed().as_secs_f64();
        let embodied = analysis::reference_data(&config.analysis).unwrap();
        let working = |department: &str| config.working_hours(department);
        let t1 = Instant::now();
        let suggestions = analysis::analyze(
            &input,
            &analysis::Context {
                config: &config.analysis,
                embodied: &embodied,
                today: jiff::civil::date(2026, 11, 30),
                working_hours: &working,
                time_zone: jiff::tz::TimeZone::UTC,
            },
        );
        let compute = t1.elapsed().as_secs_f64();
        let t2 = Instant::now();
        runtime
            .block_on(store.save_suggestions(&suggestions))
            .unwrap();
        let save = t2.elapsed().as_secs_f64();
        // The whole job again, as the server runs it, on stored suggestions.
        let t3 = Instant::now();
        let (outcome, _) = runtime
            .block_on(analysis::recompute(&store, &config, NOW))
            .unwrap();
        let again = t3.elapsed().as_secs_f64();
        if outcome.written > 0 {
            println!(
                "  (the recomputation rewrote {} suggestions: {outcome:?})",
                outcome.written
            );
        }
        println!(
            "  {devices:>9}  {generated:>8.1}s  {read:>8.2}s  {compute:>8.2}s  {save:>8.2}s  {:>11}  {:>7.2}s  (recompute over stored: {again:.2}s)",
            suggestions.len(),
            read + compute + save
        );
        let _ = std::fs::remove_dir_all(dir.path());
    }
    println!("  budget (DESIGN.md): 100,000 devices <= 2 s; 1,000,000 <= 30 s (total)");
}
