//! Upgrades keep everything: for every earlier schema version, a database
//! as that version left it — a fleet's data written at the first schema
//! (departments, devices, reports, inventories, hourly use and its rollups,
//! person-days, the register) and the second (suggestions and their
//! decisions), then migrated step by step to that version — is opened by
//! this collector, which migrates the rest, and every fact is still there
//! and consistent, on SQLite and on PostgreSQL.

use sobrio_collector::store::{DeviceSort, Store};
use sqlx::AnyPool;

const HOUR: i64 = 3_600_000;
/// Monday 2026-11-16 09:00 UTC.
const H9: i64 = 1_794_787_200_000 + 9 * HOUR;

async fn execute(pool: &AnyPool, sql: &str, binds: &[Bind<'_>]) {
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()));
    for bind in binds {
        query = match bind {
            Text(t) => query.bind((*t).to_owned()),
            Int(i) => query.bind(*i),
            Real(r) => query.bind(*r),
            Bytes(b) => query.bind(b.to_vec()),
        };
    }
    query
        .execute(pool)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

enum Bind<'a> {
    Text(&'a str),
    Int(i64),
    Real(f64),
    Bytes(&'a [u8]),
}
use Bind::{Bytes, Int, Real, Text};

/// The fleet as the first schema holds it: two departments, a laptop in
/// Finance active two hours, a desktop in Legal active one, their reports,
/// rollups, a person-day and the laptop's register entry.
async fn first_schema_fleet(pool: &AnyPool) {
    for department in ["Finance", "Legal"] {
        execute(
            pool,
            "INSERT INTO departments (name, created_unix_ms) VALUES ($1, $2)",
            &[Text(department), Int(H9)],
        )
        .await;
    }
    for (id, host, department, chassis, serial) in [
        ("d1", "fin-lt-1", "Finance", "laptop", "SER-1"),
        ("d2", "leg-pc-1", "Legal", "desktop", "SER-2"),
    ] {
        execute(
            pool,
            "INSERT INTO devices (id, hostname, department, agent_version, enrolled_unix_ms,
                last_seen_unix_ms, certificate_serial, certificate_not_after_unix_ms,
                bearer_secret_sha256, reports, inventory_unix_ms)
             VALUES ($1, $2, $3, '0.1.0', $4, $5, '01', $6, $7, 1, $5)",
            &[
                Text(id),
                Text(host),
                Text(department),
                Int(H9 - 24 * HOUR),
                Int(H9 + 3 * HOUR),
                Int(H9 + 90 * 24 * HOUR),
                Bytes(&[7; 32]),
            ],
        )
        .await;
        execute(
            pool,
            "INSERT INTO reports (report_id, device_id, collected_unix_ms, received_unix_ms, payload)
             VALUES ($1, $2, $3, $3, $4)",
            &[
                Text(&format!("report-{id}")),
                Text(id),
                Int(H9 + 3 * HOUR),
                Bytes(b"report"),
            ],
        )
        .await;
        execute(
            pool,
            "INSERT INTO inventories (device_id, collected_unix_ms, hostname, vendor, model,
                serial_number, chassis, memory_bytes, disk_bytes, age_since_date, age_source)
             VALUES ($1, $2, $3, 'Dell Inc.', 'Latitude 5420', $4, $5, $6, $7, '2021-06-01',
                'bios_date')",
            &[
                Text(id),
                Int(H9 + 3 * HOUR),
                Text(host),
                Text(serial),
                Text(chassis),
                Int(16 << 30),
                Int(512 << 30),
            ],
        )
        .await;
    }
    // d1 active at 09:00 and 10:00, d2 at 09:00; the rollups in step.
    for (device, hour) in [("d1", H9), ("d1", H9 + HOUR), ("d2", H9)] {
        execute(
            pool,
            "INSERT INTO usage_hours (device_id, hour_start_unix_ms, powered_minutes,
                active_minutes, cpu_p95_percent, memory_p95_percent, disk_fill_percent)
             VALUES ($1, $2, 60, 50, 20.0, 30.0, 40.0)",
            &[Text(device), Int(hour)],
        )
        .await;
    }
    let week = H9 - 9 * HOUR;
    for (device, hours) in [("d1", 2), ("d2", 1)] {
        execute(
            pool,
            "INSERT INTO device_weeks (device_id, week_start_unix_ms, powered_hours,
                active_hours, cpu_hot_hours, memory_hot_hours, disk_fill_max_percent)
             VALUES ($1, $2, $3, $3, 0, 0, 40.0)",
            &[Text(device), Int(week), Int(hours)],
        )
        .await;
    }
    for (department, hour, active) in [
        ("Finance", H9, 1),
        ("Finance", H9 + HOUR, 1),
        ("Legal", H9, 1),
    ] {
        execute(
            pool,
            "INSERT INTO department_hours (department, hour_start_unix_ms, active_devices)
             VALUES ($1, $2, $3)",
            &[Text(department), Int(hour), Int(active)],
        )
        .await;
    }
    execute(
        pool,
        "INSERT INTO person_days (person_id, day, device_id, collected_unix_ms, meeting_minutes,
            notifications_total, active_minutes)
         VALUES ($1, '2026-11-16', 'd1', $2, 90, 40, 300)",
        &[Text(&"ab".repeat(32)), Int(H9 + 3 * HOUR)],
    )
    .await;
    execute(
        pool,
        "INSERT INTO assets (serial, hostname, category, purchase_date, price_eur, department,
            imported_unix_ms)
         VALUES ('SER-1', 'fin-lt-1', 'laptop', '2021-05-20', $1, 'Finance', $2)",
        &[Real(1099.0), Int(H9)],
    )
    .await;
}

/// What the second schema adds: a suggestion accepted, with its decision.
async fn second_schema_fleet(pool: &AnyPool) {
    execute(
        pool,
        "INSERT INTO suggestions (id, kind, status, departments, devices, rationale,
            avoided_kgco2e, avoided_kgco2e_low, avoided_kgco2e_high, avoided_source,
            avoided_cost_eur, facts_sha256, created_unix_ms, updated_unix_ms)
         VALUES ('extend-1', 'extend', 'accepted', '[\"Finance\"]', '[\"d1\"]',
            'Keep fin-lt-1 two more years', 10.4, 10.0, 16.1, 'ADEME', 314.3, 'x', $1, $1)",
        &[Int(H9)],
    )
    .await;
    execute(
        pool,
        "INSERT INTO suggestion_decisions (suggestion_id, status, reason, actor, at_unix_ms)
         VALUES ('extend-1', 'accepted', '', 'user:ines', $1)",
        &[Int(H9)],
    )
    .await;
}

/// Builds a database as schema `version` left it, opens it with this
/// collector and checks every fact.
async fn upgrade_from(url: &str, version: i64) {
    Store::migrate_to(url, 1).await.unwrap();
    let pool = sqlx::any::AnyPoolOptions::new()
        .max_connections(1)
        .connect(url)
        .await
        .unwrap();
    first_schema_fleet(&pool).await;
    if version >= 2 {
        Store::migrate_to(url, 2).await.unwrap();
        second_schema_fleet(&pool).await;
    }
    Store::migrate_to(url, version).await.unwrap();
    pool.close().await;

    let store = Store::connect(url).await.unwrap();
    let context = format!("from schema {version}");
    assert_eq!(
        store.schema_version().await.unwrap(),
        Store::known_schema(store.dialect()),
        "{context}"
    );
    let (devices, total) = store
        .device_list(DeviceSort::Hostname, false, None, 1, 50)
        .await
        .unwrap();
    assert_eq!(total, 2, "{context}");
    assert_eq!(
        devices
            .iter()
            .map(|d| (d.hostname.as_str(), d.department.as_str()))
            .collect::<Vec<_>>(),
        [("fin-lt-1", "Finance"), ("leg-pc-1", "Legal")],
        "{context}"
    );
    assert_eq!(
        store.list_devices().await.unwrap()[0].reports,
        1,
        "{context}"
    );
    // The rollup, re-keyed by category, agrees with the hourly buckets.
    assert_eq!(
        store
            .department_hours("Finance", Some("laptop"), H9, H9 + 24 * HOUR)
            .await
            .unwrap(),
        [(H9, 1), (H9 + HOUR, 1)],
        "{context}"
    );
    assert_eq!(
        store
            .department_hours("Legal", Some("desktop"), H9, H9 + 24 * HOUR)
            .await
            .unwrap(),
        [(H9, 1)],
        "{context}"
    );
    assert_eq!(
        store.rollup_drift().await.unwrap(),
        Vec::<String>::new(),
        "{context}"
    );
    assert_eq!(
        store.device_weeks("d1").await.unwrap()[0].active_hours,
        2,
        "{context}"
    );
    assert_eq!(
        store.department_history("d1").await.unwrap()[0].department,
        "Finance",
        "{context}"
    );
    // The register still wins for the age; the analysis reads it all.
    let ages = store.device_ages().await.unwrap();
    assert_eq!(
        (ages[0].since_date.as_str(), ages[0].provenance.as_str()),
        ("2021-05-20", "asset_register"),
        "{context}"
    );
    let input = store
        .analysis_input(H9 - 9 * HOUR, H9 + 7 * 24 * HOUR)
        .await
        .unwrap();
    assert_eq!(input.devices.len(), 2, "{context}");
    assert_eq!(input.devices[0].price_eur, Some(1099.0), "{context}");
    if version >= 2 {
        let (suggestion, decisions) = store.suggestion("extend-1").await.unwrap().unwrap();
        assert_eq!(suggestion.status, "accepted", "{context}");
        assert_eq!(decisions.len(), 1, "{context}");
    }
    // And it keeps working: a decision, a move.
    assert!(matches!(
        store
            .move_device("d1", "Legal", H9 + 2 * HOUR, "user:it", "upgrade test")
            .await
            .unwrap(),
        sobrio_collector::store::Move::Moved { .. }
    ));
    assert_eq!(
        store.rollup_drift().await.unwrap(),
        Vec::<String>::new(),
        "{context}"
    );
}

#[tokio::test]
async fn every_earlier_sqlite_schema_upgrades_without_loss() {
    let known = Store::known_schema(&sobrio_collector::store::SQLITE);
    for version in 1..known {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sobrio.db");
        let url = format!("sqlite://{}?mode=rwc", path.display());
        upgrade_from(&url, version).await;
    }
}

#[tokio::test]
async fn every_earlier_postgres_schema_upgrades_without_loss() {
    let known = Store::known_schema(&sobrio_collector::store::POSTGRES);
    for version in 1..known {
        let Some(database) = sobrio_tests::TestDatabase::create().await else {
            return;
        };
        upgrade_from(&database.url, version).await;
        database.drop().await;
    }
}

/// A replica running when a newer collector migrates the database (a
/// rolling upgrade) turns unready and stops, saying why, rather than write
/// with its older idea of the schema.
#[test]
fn a_running_replica_stops_when_a_newer_one_migrated_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap().to_owned();
    let mut replica = sobrio_tests::CollectorProcess::serve_logged(&data, &[], "warn");
    let (status, _) = sobrio_tests::http_get(&replica.http_addr, "/readyz");
    assert_eq!(status, 200);
    let url = format!(
        "sqlite://{}?mode=rw",
        dir.path().join("sobrio.db").display()
    );
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        sqlx::any::install_default_drivers();
        let pool = sqlx::any::AnyPoolOptions::new()
            .max_connections(1)
            .connect(&url)
            .await
            .unwrap();
        sqlx::query(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time)
             VALUES (999999, 'from a newer collector', TRUE, $1, 0)",
        )
        .bind(vec![0_u8; 48])
        .execute(&pool)
        .await
        .unwrap();
        pool.close().await;
    });
    let (status, body) = sobrio_tests::http_get(&replica.http_addr, "/readyz");
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("newer collector"), "{body}");
    // It stops by itself (it looks every 30 seconds), with a failure code.
    let exit = replica.wait_for_exit(std::time::Duration::from_secs(120));
    assert!(exit.is_some_and(|code| code != 0), "{exit:?}");
    assert!(replica.log().contains("newer"), "{}", replica.log());
}
