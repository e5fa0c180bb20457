//! One test suite, run on both backends: every store test below runs on
//! SQLite (a fresh file) and on PostgreSQL (a fresh schema in the database
//! `TEST_DATABASE_URL` names).

use sobrio_collector::domain::{Role, UserName};
use sobrio_collector::store::{
    AssetRow, Charged, DeviceReports, DeviceSort, IncomingReport, InventoryRow, NewDevice,
    NewToken, PersonDayRow, Retention, StorageRow, Store, TokenRefusal, UsageHourRow,
};

/// Generates `sqlite::NAME` and `postgres::NAME` for each test function.
macro_rules! store_tests {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let dir = tempfile::tempdir().unwrap();
                    let store = sobrio_collector::store::Store::open_data_dir(dir.path()).await.unwrap();
                    super::$name(&store).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let Some(database) = sobrio_tests::TestDatabase::create().await else { return };
                    let store = database.store().await;
                    super::$name(&store).await;
                    database.drop().await;
                }
            )*
        }
    };
}

store_tests!(
    tokens_are_refused_when_unknown_expired_used_up_or_revoked,
    the_certificate_authority_is_created_once_and_shared,
    a_report_sent_twice_is_stored_once,
    concurrent_batches_store_every_report_exactly_once,
    rollups_follow_the_hourly_buckets_even_when_an_hour_is_resent,
    person_days_and_storage_snapshots_are_kept_per_device,
    retention_deletes_what_is_past_its_period_and_nothing_else,
    one_holder_at_a_time_takes_a_lease,
    forgetting_a_device_erases_its_data_everywhere,
    the_asset_register_imports_once_and_its_purchase_date_wins,
    suggestions_keep_their_decisions_across_recomputations,
    the_analysis_reads_rollups_inventories_and_the_register,
    sessions_expire_end_at_sign_out_and_with_their_user,
    the_device_list_sorts_filters_and_pages_by_the_latest_inventory,
    enrollment_tokens_are_listed_by_digest_and_revoked,
    pseudonym_links_move_a_person_s_history_once,
    pseudonym_evaluations_are_charged_within_the_bound,
    a_week_s_release_is_published_once_within_its_budget,
    each_factor_set_s_first_use_is_recorded,
    the_ledger_counts_a_device_once_and_reverses_what_is_undone,
    a_disposal_keeps_the_device_s_facts_of_the_day_and_is_corrected_in_place,
    a_move_and_a_change_of_category_re_key_the_department_rollup,
    a_reuse_done_moves_its_donor_and_retires_what_it_replaces_until_undone,
);

const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;
/// Monday 2026-11-16 00:00 UTC.
const MONDAY: i64 = 1_794_787_200_000;

fn now() -> i64 {
    sobrio_collector::app::now_unix_ms()
}

async fn token(
    store: &Store,
    secret: &str,
    department: &str,
    expires: i64,
    max_uses: Option<i64>,
) -> [u8; 32] {
    let sha256 = sobrio_collector::secret::sha256(secret);
    store
        .create_token(&NewToken {
            sha256,
            department: department.into(),
            created_unix_ms: now(),
            expires_unix_ms: expires,
            max_uses,
        })
        .await
        .unwrap();
    sha256
}

fn new_device(id: &str) -> NewDevice {
    NewDevice {
        id: id.into(),
        hostname: format!("host-{id}"),
        agent_version: "test".into(),
        enrolled_unix_ms: now(),
        certificate_serial: "01".into(),
        certificate_not_after_unix_ms: now() + 90 * DAY,
        bearer_secret_sha256: [7; 32],
    }
}

/// Enrolls a device in `department`.
async fn device(store: &Store, id: &str, department: &str) {
    let sha = token(store, &format!("t-{id}"), department, now() + DAY, None).await;
    store.enroll_device(&sha, &new_device(id)).await.unwrap();
}

fn report(id_time: i64) -> IncomingReport {
    IncomingReport {
        report_id: uuid::Builder::from_unix_timestamp_millis(
            u64::try_from(id_time).unwrap(),
            &uuid::Uuid::now_v7().as_bytes()[6..16].try_into().unwrap(),
        )
        .into_uuid()
        .to_string(),
        collected_unix_ms: id_time,
        payload: vec![1, 2, 3],
        inventory: None,
        usage: Vec::new(),
        storage: None,
        person_days: Vec::new(),
        pseudonym_links: Vec::new(),
    }
}

fn hour(start: i64, active: i64, cpu: f64, memory: f64) -> UsageHourRow {
    UsageHourRow {
        hour_start_unix_ms: start,
        powered_minutes: 60,
        active_minutes: Some(active),
        cpu_p95_percent: Some(cpu),
        memory_p95_percent: Some(memory),
        disk_fill_percent: Some(50.0),
    }
}

fn group(device: &str, department: &str, reports: Vec<IncomingReport>) -> DeviceReports {
    DeviceReports {
        device_id: device.into(),
        department: department.into(),
        reports,
    }
}

async fn tokens_are_refused_when_unknown_expired_used_up_or_revoked(store: &Store) {
    let refusal = |r: Result<String, sobrio_collector::store::EnrollError>| match r {
        Err(sobrio_collector::store::EnrollError::Refused(refusal)) => refusal,
        other => panic!("expected a refusal, got {other:?}"),
    };
    let unknown = store.enroll_device(&[0; 32], &new_device("a")).await;
    assert_eq!(refusal(unknown), TokenRefusal::Unknown);
    let expired = token(store, "expired", "HR", now() - DAY, None).await;
    assert!(matches!(
        refusal(store.enroll_device(&expired, &new_device("b")).await),
        TokenRefusal::Expired { .. }
    ));
    let once = token(store, "once", "HR", now() + DAY, Some(1)).await;
    assert_eq!(
        store.enroll_device(&once, &new_device("c")).await.unwrap(),
        "HR"
    );
    assert_eq!(
        refusal(store.enroll_device(&once, &new_device("d")).await),
        TokenRefusal::UsedUp { max_uses: 1 }
    );
    let devices = store.list_devices().await.unwrap();
    assert_eq!(
        devices.iter().map(|d| d.id.as_str()).collect::<Vec<_>>(),
        ["c"]
    );
    assert!(store.revoke_device("c", now()).await.unwrap());
    assert!(
        store
            .device_credentials("c")
            .await
            .unwrap()
            .unwrap()
            .revoked_unix_ms
            .is_some()
    );
    assert!(!store.revoke_device("nope", now()).await.unwrap());
}

async fn the_certificate_authority_is_created_once_and_shared(store: &Store) {
    assert!(store.certificate_authority().await.unwrap().is_none());
    let first = store
        .certificate_authority_or_insert("CERT-A", "KEY-A", now())
        .await
        .unwrap();
    let second = store
        .certificate_authority_or_insert("CERT-B", "KEY-B", now())
        .await
        .unwrap();
    assert_eq!(first, ("CERT-A".to_owned(), "KEY-A".to_owned()));
    assert_eq!(second, first, "a second replica uses the stored CA");
}

async fn a_report_sent_twice_is_stored_once(store: &Store) {
    device(store, "d1", "IT").await;
    let r = report(now() - HOUR);
    let first = store
        .store_batch(&[group("d1", "IT", vec![r.clone()])], now())
        .await
        .unwrap();
    let second = store
        .store_batch(&[group("d1", "IT", vec![r.clone(), r.clone()])], now())
        .await
        .unwrap();
    assert_eq!((first, second), (vec![1], vec![0]));
    assert_eq!(store.list_devices().await.unwrap()[0].reports, 1);
    assert_eq!(
        store.report_payload(&r.report_id).await.unwrap(),
        Some(vec![1, 2, 3])
    );
}

async fn concurrent_batches_store_every_report_exactly_once(store: &Store) {
    for d in 0..4 {
        device(store, &format!("d{d}"), "Sales").await;
    }
    let reports: Vec<IncomingReport> = (0..200).map(|i| report(now() - DAY + i)).collect();
    let mut tasks = Vec::new();
    for round in 0..8 {
        let store = store.clone();
        // Every report goes twice, from overlapping concurrent batches.
        let slice: Vec<IncomingReport> =
            reports.iter().skip(round * 25).take(50).cloned().collect();
        tasks.push(tokio::spawn(async move {
            let device = format!("d{}", round % 4);
            store
                .store_batch(&[group(&device, "Sales", slice)], now())
                .await
                .unwrap()
        }));
    }
    let mut new = 0;
    for task in tasks {
        new += task.await.unwrap()[0];
    }
    assert_eq!(
        new, 200,
        "each report stored once across concurrent batches"
    );
    for r in &reports {
        assert!(store.report_exists(&r.report_id).await.unwrap());
    }
    let total: i64 = store
        .list_devices()
        .await
        .unwrap()
        .iter()
        .map(|d| d.reports)
        .sum();
    assert_eq!(total, 200);
}

async fn rollups_follow_the_hourly_buckets_even_when_an_hour_is_resent(store: &Store) {
    device(store, "a", "Finance").await;
    device(store, "b", "Finance").await;
    let mut first = report(MONDAY + 12 * HOUR);
    first.usage = vec![
        hour(MONDAY + 9 * HOUR, 10, 20.0, 50.0), // powered, not active
        hour(MONDAY + 10 * HOUR, 45, 95.0, 50.0), // active, CPU hot
        hour(MONDAY + 11 * HOUR, 30, 20.0, 92.0), // active, memory hot
    ];
    let mut other = report(MONDAY + 12 * HOUR + 1);
    other.usage = vec![hour(MONDAY + 10 * HOUR, 20, 10.0, 10.0)];
    store
        .store_batch(
            &[
                group("a", "Finance", vec![first]),
                group("b", "Finance", vec![other]),
            ],
            now(),
        )
        .await
        .unwrap();
    // A fuller copy of 09:00 arrives later, and 10:00 again, quieter.
    let mut later = report(MONDAY + 13 * HOUR);
    later.usage = vec![
        hour(MONDAY + 9 * HOUR, 40, 20.0, 50.0),
        hour(MONDAY + 10 * HOUR, 5, 20.0, 50.0),
    ];
    // And an hour of the next week.
    later
        .usage
        .push(hour(MONDAY + 7 * DAY + 9 * HOUR, 50, 20.0, 50.0));
    store
        .store_batch(&[group("a", "Finance", vec![later])], now())
        .await
        .unwrap();

    let weeks = store.device_weeks("a").await.unwrap();
    assert_eq!(weeks.len(), 2);
    let week = &weeks[0];
    assert_eq!(week.week_start_unix_ms, MONDAY);
    assert_eq!(
        (
            week.powered_hours,
            week.active_hours,
            week.cpu_hot_hours,
            week.memory_hot_hours
        ),
        (3, 2, 0, 1),
        "09:00 active now, 10:00 no longer active nor hot, 11:00 active and memory-hot"
    );
    assert_eq!(weeks[1].active_hours, 1);
    let hours = store
        .department_hours("Finance", None, MONDAY, MONDAY + DAY)
        .await
        .unwrap();
    assert_eq!(
        hours,
        vec![
            (MONDAY + 9 * HOUR, 1),
            (MONDAY + 10 * HOUR, 1),
            (MONDAY + 11 * HOUR, 1)
        ]
    );
    assert_eq!(store.rollup_drift().await.unwrap(), Vec::<String>::new());
}

async fn person_days_and_storage_snapshots_are_kept_per_device(store: &Store) {
    device(store, "a", "HR").await;
    let mut r = report(now() - HOUR);
    r.person_days = vec![PersonDayRow {
        person_id: "ab".repeat(32),
        day: "2026-11-02".into(),
        meeting_minutes: Some(120),
        notifications_total: Some(40),
        ..PersonDayRow::default()
    }];
    r.storage = Some(StorageRow {
        total_bytes: 500,
        used_bytes: 200,
        cache_bytes: Some(30),
        ..StorageRow::default()
    });
    r.inventory = Some(InventoryRow {
        hostname: "renamed".into(),
        chassis: "laptop".into(),
        ..InventoryRow::default()
    });
    store
        .store_batch(&[group("a", "HR", vec![r])], now())
        .await
        .unwrap();
    let counts = store.device_row_counts("a").await.unwrap();
    for (table, count) in counts {
        let expected = if ["usage_hours", "device_weeks", "pseudonym_evaluations"].contains(&table)
        {
            0
        } else {
            1
        };
        assert_eq!(count, expected, "{table}");
    }
    assert_eq!(
        store.list_devices().await.unwrap()[0].hostname,
        "renamed",
        "the latest inventory names the device"
    );
}

async fn retention_deletes_what_is_past_its_period_and_nothing_else(store: &Store) {
    device(store, "a", "IT").await;
    let now = now();
    let old_time = now - 100 * DAY;
    let mut old = report(old_time);
    old.usage = vec![hour(old_time - old_time % HOUR - HOUR, 30, 10.0, 10.0)];
    old.inventory = Some(InventoryRow {
        hostname: "a".into(),
        chassis: "laptop".into(),
        ..InventoryRow::default()
    });
    old.person_days = vec![
        PersonDayRow {
            person_id: "cd".repeat(32),
            day: "2026-07-06".into(),
            ..PersonDayRow::default()
        },
        PersonDayRow {
            person_id: "cd".repeat(32),
            day: "2026-07-13".into(),
            ..PersonDayRow::default()
        },
    ];
    let recent = report(now - DAY);
    // Stored long ago: received 100 days before now.
    store
        .store_batch(&[group("a", "IT", vec![old.clone()])], old_time)
        .await
        .unwrap();
    store
        .store_batch(&[group("a", "IT", vec![recent.clone()])], now)
        .await
        .unwrap();
    // The week of 2026-07-06 was aggregated 40 days ago; the next one never.
    store
        .mark_week_aggregated(jiff::civil::date(2026, 7, 6), now - 40 * DAY)
        .await
        .unwrap();

    let deleted = store
        .apply_retention(Retention::default(), now)
        .await
        .unwrap();
    assert_eq!(
        (deleted.reports, deleted.usage_hours, deleted.person_days),
        (1, 1, 1)
    );
    assert!(!store.report_exists(&old.report_id).await.unwrap());
    assert!(store.report_exists(&recent.report_id).await.unwrap());
    let counts: std::collections::HashMap<_, _> = store
        .device_row_counts("a")
        .await
        .unwrap()
        .into_iter()
        .collect();
    assert_eq!(
        counts["person_days"], 1,
        "a week never aggregated keeps its rows"
    );
    assert_eq!(counts["inventories"], 1, "the latest inventory stays");
    assert_eq!(
        store
            .apply_retention(Retention::default(), now)
            .await
            .unwrap()
            .reports,
        0
    );
}

async fn one_holder_at_a_time_takes_a_lease(store: &Store) {
    let now = now();
    assert!(
        store
            .try_lease("retention", "replica-1", now, now + 1000)
            .await
            .unwrap()
    );
    assert!(
        !store
            .try_lease("retention", "replica-2", now + 10, now + 1010)
            .await
            .unwrap()
    );
    assert!(
        store
            .try_lease("retention", "replica-1", now + 20, now + 1020)
            .await
            .unwrap(),
        "renewal"
    );
    assert!(
        store
            .try_lease("retention", "replica-2", now + 1020, now + 2000)
            .await
            .unwrap(),
        "after expiry"
    );
    let contenders: Vec<_> = (0..6)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .try_lease("race", &format!("r{i}"), now, now + 1000)
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut winners = 0;
    for contender in contenders {
        winners += usize::from(contender.await.unwrap());
    }
    assert_eq!(winners, 1);
}

async fn forgetting_a_device_erases_its_data_everywhere(store: &Store) {
    device(store, "gone", "Legal").await;
    device(store, "stays", "Legal").await;
    let mut r = report(MONDAY + 12 * HOUR);
    r.usage = vec![hour(MONDAY + 10 * HOUR, 40, 10.0, 10.0)];
    r.person_days = vec![PersonDayRow {
        person_id: "ef".repeat(32),
        day: "2026-11-02".into(),
        ..PersonDayRow::default()
    }];
    r.storage = Some(StorageRow::default());
    r.inventory = Some(InventoryRow {
        hostname: "gone".into(),
        chassis: "desktop".into(),
        ..InventoryRow::default()
    });
    let mut kept = report(MONDAY + 12 * HOUR + 1);
    kept.usage = vec![hour(MONDAY + 10 * HOUR, 40, 10.0, 10.0)];
    store
        .store_batch(
            &[
                group("gone", "Legal", vec![r]),
                group("stays", "Legal", vec![kept]),
            ],
            now(),
        )
        .await
        .unwrap();
    assert_eq!(
        store
            .department_hours("Legal", None, MONDAY, MONDAY + DAY)
            .await
            .unwrap(),
        vec![(MONDAY + 10 * HOUR, 2)]
    );

    assert!(
        store
            .forget_device("gone", "cli:test", now())
            .await
            .unwrap()
    );
    for (table, count) in store.device_row_counts("gone").await.unwrap() {
        assert_eq!(count, 0, "{table} still holds the device");
    }
    assert_eq!(
        store
            .department_hours("Legal", None, MONDAY, MONDAY + DAY)
            .await
            .unwrap(),
        vec![(MONDAY + 10 * HOUR, 1)]
    );
    assert_eq!(store.rollup_drift().await.unwrap(), Vec::<String>::new());
    let audit = store.audit_log(10).await.unwrap();
    assert_eq!(
        (
            audit[0].1.as_str(),
            audit[0].2.as_str(),
            audit[0].3.as_str()
        ),
        ("cli:test", "device.forget", "gone")
    );
    assert!(
        !store
            .forget_device("gone", "cli:test", now())
            .await
            .unwrap()
    );
}

async fn the_asset_register_imports_once_and_its_purchase_date_wins(store: &Store) {
    device(store, "registered", "IT").await;
    device(store, "unregistered", "IT").await;
    for (id, serial) in [("registered", "SN-1"), ("unregistered", "SN-2")] {
        let mut r = report(now() - HOUR);
        r.inventory = Some(InventoryRow {
            hostname: id.into(),
            chassis: "laptop".into(),
            serial_number: Some(serial.into()),
            age_since_date: Some("2022-05-01".into()),
            age_source: Some("bios_date".into()),
            ..InventoryRow::default()
        });
        store
            .store_batch(&[group(id, "IT", vec![r])], now())
            .await
            .unwrap();
    }
    let register = vec![
        AssetRow {
            serial: "SN-1".into(),
            purchase_date: Some("2021-09-15".into()),
            price_eur: Some(1100.0),
            ..AssetRow::default()
        },
        AssetRow {
            serial: "SN-9".into(),
            hostname: Some("not-enrolled".into()),
            ..AssetRow::default()
        },
    ];
    let dry = store.import_assets(&register, true, now()).await.unwrap();
    assert_eq!((dry.created, dry.matched_devices), (2, 1));
    assert!(
        store
            .asset_export_rows()
            .await
            .unwrap()
            .iter()
            .all(|r| r.purchase_date.is_none()),
        "a dry run writes nothing"
    );
    let first = store.import_assets(&register, false, now()).await.unwrap();
    assert_eq!((first.created, first.updated, first.unchanged), (2, 0, 0));
    let again = store.import_assets(&register, false, now()).await.unwrap();
    assert_eq!(
        (again.created, again.updated, again.unchanged),
        (0, 0, 2),
        "idempotent"
    );

    let ages = store.device_ages().await.unwrap();
    let age = |id: &str| {
        ages.iter()
            .find(|a| a.device_id == id)
            .map(|a| (a.since_date.as_str(), a.provenance.as_str()))
    };
    assert_eq!(age("registered"), Some(("2021-09-15", "asset_register")));
    assert_eq!(age("unregistered"), Some(("2022-05-01", "bios_date")));
    let exported = store.asset_export_rows().await.unwrap();
    let row = exported
        .iter()
        .find(|r| r.device_id == "registered")
        .unwrap();
    assert_eq!(
        (row.serial.as_deref(), row.price_eur),
        (Some("SN-1"), Some(1100.0))
    );
}

fn suggestion(id: &str, facts: &str) -> sobrio_collector::analysis::Suggestion {
    sobrio_collector::analysis::Suggestion {
        id: id.into(),
        kind: sobrio_collector::analysis::Kind::Extend,
        departments: vec!["Finance".into()],
        devices: vec![format!("device-{id}")],
        rationale: format!("Keep {id} two more years"),
        avoided_kgco2e: sobrio_collector::analysis::Avoided {
            value: 10.4,
            low: 10.0,
            high: 16.1,
            source: "ADEME".into(),
        },
        avoided_cost_eur: Some(314.3),
        material_facts: facts.into(),
        reuse: None,
    }
}

async fn a_disposal_keeps_the_device_s_facts_of_the_day_and_is_corrected_in_place(store: &Store) {
    use sobrio_collector::app::devices::{DeviceError, retire, reuse_report};
    device(store, "old", "Finance").await;
    let mut inventory = report(MONDAY + HOUR);
    inventory.inventory = Some(InventoryRow {
        hostname: "old".into(),
        serial_number: Some("SER-1".into()),
        chassis: "laptop".into(),
        age_since_date: Some("2019-03-01".into()),
        age_source: Some("bios_date".into()),
        ..InventoryRow::default()
    });
    store
        .store_batch(&[group("old", "Finance", vec![inventory])], now())
        .await
        .unwrap();
    assert!(matches!(
        retire(store, "nope", "2026-01-05", "donated", "", "user:it", now()).await,
        Err(DeviceError::Unknown(_))
    ));
    assert!(matches!(
        retire(store, "old", "2026-01-05", "binned", "", "user:it", now()).await,
        Err(DeviceError::UnknownOutcome(_))
    ));
    retire(store, "old", "2026-01-05", "recycled", "", "user:it", now())
        .await
        .unwrap();
    // A correction: the same device, another outcome.
    retire(
        store,
        "old",
        "2026-01-06",
        "donated",
        "to a school",
        "user:it",
        now(),
    )
    .await
    .unwrap();
    let disposals = store.disposals().await.unwrap();
    assert_eq!(disposals.len(), 1);
    let disposal = &disposals[0];
    assert_eq!(
        (
            disposal.department.as_str(),
            disposal.category.as_str(),
            disposal.first_use.as_deref(),
            disposal.retired_on.as_str(),
            disposal.outcome.as_str(),
            disposal.note.as_str()
        ),
        (
            "Finance",
            "laptop",
            Some("2019-03-01"),
            "2026-01-06",
            "donated",
            "to a school"
        )
    );
    let report = reuse_report(store).await.unwrap();
    assert_eq!(
        (
            report[0].year,
            report[0].eligible,
            report[0].eligible_reused
        ),
        (2026, 1, 1)
    );
    // Retired: revoked, out of the analysis.
    let input = store
        .analysis_input(MONDAY, MONDAY + 7 * DAY)
        .await
        .unwrap();
    assert!(input.devices.iter().all(|d| d.device_id != "old"));
}

async fn the_ledger_counts_a_device_once_and_reverses_what_is_undone(store: &Store) {
    use sobrio_collector::analysis::{Avoided, Kind, Suggestion};
    use sobrio_collector::store::DecisionError;
    let made = |id: &str, kind: Kind, devices: &[&str], value: f64| Suggestion {
        kind,
        devices: devices.iter().map(|d| (*d).to_owned()).collect(),
        avoided_kgco2e: Avoided {
            value,
            low: value * 0.8,
            high: value * 1.2,
            source: format!("category row for {id}"),
        },
        ..suggestion(id, "1")
    };
    store
        .save_suggestions(
            &[
                // Donor d1 to recipient d2: d2's replacement is not built.
                made("reuse", Kind::Reuse, &["d1", "d2"], 182.6),
                // d2 again, repaired: its replacement is already counted.
                made("repair", Kind::Repair, &["d2"], 182.6),
                // A pool of d3 and d4.
                made("pool", Kind::Pool, &["d3", "d4"], 365.2),
                // d3 extended: another view, its yearly share.
                made("extend", Kind::Extend, &["d3"], 7.3),
            ],
            now(),
        )
        .await
        .unwrap();
    for id in ["reuse", "repair", "pool", "extend"] {
        store
            .decide(id, "accepted", "", "user:it", now(), None)
            .await
            .unwrap();
        store
            .decide(id, "done", "", "user:it", now(), None)
            .await
            .unwrap();
    }
    let standing = |entries: &[sobrio_collector::store::LedgerEntry], view: &str| -> f64 {
        entries
            .iter()
            .filter(|e| e.view == view)
            .map(|e| e.kgco2e)
            .sum()
    };
    let entries = store.avoided_ledger().await.unwrap();
    let by = |suggestion: &str| -> Vec<(String, f64)> {
        entries
            .iter()
            .filter(|e| e.suggestion_id == suggestion)
            .map(|e| (e.device_id.clone(), e.kgco2e))
            .collect()
    };
    assert_eq!(by("reuse"), [("d2".to_owned(), 182.6)]);
    assert_eq!(by("repair"), [("d2".to_owned(), 0.0)]);
    assert!(entries.iter().any(|e| e.suggestion_id == "repair"
        && e.factors.contains("already counted by suggestion reuse")));
    assert_eq!(
        by("pool"),
        [("d3".to_owned(), 182.6), ("d4".to_owned(), 182.6)]
    );
    assert!((standing(&entries, "capital_goods") - 3.0 * 182.6).abs() < 1e-6);
    assert!((standing(&entries, "lifetime_allocation") - 7.3).abs() < 1e-6);
    let reuse_entry = entries.iter().find(|e| e.suggestion_id == "reuse").unwrap();
    assert_eq!(reuse_entry.factors, "category row for reuse");
    assert!(reuse_entry.year >= 2026);

    // Undoing needs a reason, then reverses the entries of that decision
    // only; the impact's totals follow.
    assert!(matches!(
        store
            .decide("pool", "accepted", " ", "user:it", now(), None)
            .await,
        Err(DecisionError::NoReason)
    ));
    store
        .decide(
            "pool",
            "accepted",
            "the pool was not set up",
            "user:it",
            now(),
            None,
        )
        .await
        .unwrap();
    let entries = store.avoided_ledger().await.unwrap();
    let reversals: Vec<&sobrio_collector::store::LedgerEntry> =
        entries.iter().filter(|e| e.reverses.is_some()).collect();
    assert_eq!(reversals.len(), 2);
    assert!(
        reversals
            .iter()
            .all(|r| r.suggestion_id == "pool" && r.kgco2e < 0.0)
    );
    assert!((standing(&entries, "capital_goods") - 182.6).abs() < 1e-6);
    let done = store.done_avoided().await.unwrap();
    let capital = done.iter().find(|d| !d.lifetime_allocation).unwrap();
    assert!((capital.value - 182.6).abs() < 1e-6);
    assert!((capital.low - 182.6 * 0.8).abs() < 1e-6);
    // Done again: counted again, once; undone twice is refused.
    store
        .decide("pool", "done", "", "user:it", now(), None)
        .await
        .unwrap();
    let entries = store.avoided_ledger().await.unwrap();
    assert!((standing(&entries, "capital_goods") - 3.0 * 182.6).abs() < 1e-6);
    assert!(matches!(
        store
            .decide("reuse", "done", "", "user:it", now(), None)
            .await,
        Err(DecisionError::Transition { .. })
    ));
}

async fn suggestions_keep_their_decisions_across_recomputations(store: &Store) {
    use sobrio_collector::store::DecisionError;
    let first = store
        .save_suggestions(
            &[
                suggestion("a", "6"),
                suggestion("b", "6"),
                suggestion("c", "6"),
            ],
            now(),
        )
        .await
        .unwrap();
    assert_eq!(first.created, 3);
    store
        .decide("a", "accepted", "", "user:it", now(), None)
        .await
        .unwrap();
    store
        .decide("b", "dismissed", "already ordered", "user:it", now(), None)
        .await
        .unwrap();
    assert!(matches!(
        store.decide("c", "done", "", "user:it", now(), None).await,
        Err(DecisionError::Transition { .. })
    ));
    assert!(matches!(
        store
            .decide("c", "dismissed", " ", "user:it", now(), None)
            .await,
        Err(DecisionError::NoReason)
    ));
    assert!(matches!(
        store
            .decide("zzz", "accepted", "", "user:it", now(), None)
            .await,
        Err(DecisionError::Unknown(_))
    ));

    // Same facts: the accepted one stays accepted, the dismissed one stays
    // dismissed, the open one that no longer holds goes, a new one comes.
    let second = store
        .save_suggestions(
            &[
                suggestion("a", "6"),
                suggestion("b", "6"),
                suggestion("d", "6"),
            ],
            now(),
        )
        .await
        .unwrap();
    assert_eq!(
        (
            second.created,
            second.updated,
            second.kept,
            second.removed,
            second.reopened
        ),
        (1, 1, 1, 1, 0)
    );
    let status = |list: &[sobrio_collector::store::StoredSuggestion], id: &str| {
        list.iter().find(|s| s.id == id).map(|s| s.status.clone())
    };
    let list = store.suggestions(None).await.unwrap();
    assert_eq!(status(&list, "a").as_deref(), Some("accepted"));
    assert_eq!(status(&list, "b").as_deref(), Some("dismissed"));
    assert_eq!(status(&list, "c"), None);
    assert_eq!(status(&list, "d").as_deref(), Some("open"));

    // The dismissed one's facts change materially: it is open again, and
    // its history says why.
    let third = store
        .save_suggestions(
            &[
                suggestion("a", "7"),
                suggestion("b", "7"),
                suggestion("d", "6"),
            ],
            now(),
        )
        .await
        .unwrap();
    assert_eq!(third.reopened, 1);
    let (b, decisions) = store.suggestion("b").await.unwrap().unwrap();
    assert_eq!(b.status, "open");
    let trail: Vec<(&str, &str, &str)> = decisions
        .iter()
        .map(|d| (d.status.as_str(), d.actor.as_str(), d.reason.as_str()))
        .collect();
    assert_eq!(
        trail,
        [
            ("dismissed", "user:it", "already ordered"),
            ("open", "analysis", "its facts changed")
        ]
    );
    store
        .decide("a", "done", "", "user:it", now(), None)
        .await
        .unwrap();
    let done = store.done_avoided().await.unwrap();
    assert_eq!(done.len(), 1);
    assert!((done[0].value - 10.4).abs() < 1e-9);
    assert_eq!(
        store.suggestions(Some("extend")).await.unwrap().len(),
        3,
        "a, b and d; c is gone"
    );

    // A decision made while a recomputation runs (after its snapshot was
    // read) stands: d is accepted meanwhile, e is dismissed meanwhile.
    store
        .save_suggestions(
            &[
                suggestion("b", "7"),
                suggestion("d", "6"),
                suggestion("e", "1"),
            ],
            now(),
        )
        .await
        .unwrap();
    let snapshot = store.suggestion_snapshot().await.unwrap();
    store
        .decide("d", "accepted", "", "user:it", now(), None)
        .await
        .unwrap();
    store
        .decide("e", "dismissed", "no budget", "user:it", now(), None)
        .await
        .unwrap();
    let mut changed = suggestion("d", "6");
    changed.rationale = "Keep d two more years, and more".into();
    store
        .save_suggestions_over(
            &[suggestion("b", "7"), changed, suggestion("e", "2")],
            &snapshot,
            now(),
        )
        .await
        .unwrap();
    let list = store.suggestions(None).await.unwrap();
    assert_eq!(status(&list, "d").as_deref(), Some("accepted"));
    assert_eq!(status(&list, "e").as_deref(), Some("dismissed"));
}

async fn the_analysis_reads_rollups_inventories_and_the_register(store: &Store) {
    use sobrio_collector::analysis::{Context, Kind, analyze, embodied::Embodied};
    device(store, "old", "Finance").await;
    device(store, "idle", "Legal").await;
    let inventory = |serial: &str, memory_gb: i64| InventoryRow {
        hostname: serial.to_lowercase(),
        vendor: Some("Dell Inc.".into()),
        model: Some("OptiPlex 7050".into()),
        model_family: Some("OptiPlex".into()),
        serial_number: Some(serial.into()),
        chassis: "desktop".into(),
        cpu_logical_cores: Some(8),
        memory_bytes: Some(memory_gb << 30),
        disk_bytes: Some(512 << 30),
        age_since_date: Some("2024-01-15".into()),
        age_source: Some("bios_date".into()),
        disk_health: Some("ok".into()),
        ..InventoryRow::default()
    };
    let mut old = report(MONDAY + 8 * HOUR);
    old.inventory = Some(inventory("SER-OLD", 8));
    old.usage = (0..5)
        .map(|d| hour(MONDAY + d * DAY + 10 * HOUR, 50, 30.0, 40.0))
        .collect();
    let mut idle = report(MONDAY + 8 * HOUR + 1);
    idle.inventory = Some(inventory("SER-IDLE", 16));
    idle.usage = (0..5)
        .map(|d| hour(MONDAY + d * DAY + 10 * HOUR, 0, 5.0, 20.0))
        .collect();
    store
        .store_batch(
            &[
                group("old", "Finance", vec![old]),
                group("idle", "Legal", vec![idle]),
            ],
            now(),
        )
        .await
        .unwrap();
    // The register knows the old one: bought in 2019, 950 EUR.
    store
        .import_assets(
            &[AssetRow {
                serial: "SER-OLD".into(),
                category: Some("desktop".into()),
                purchase_date: Some("2019-06-01".into()),
                price_eur: Some(950.0),
                embodied_kgco2e: Some(412.5),
                ..AssetRow::default()
            }],
            false,
            now(),
        )
        .await
        .unwrap();

    let input = store
        .analysis_input(MONDAY, MONDAY + 7 * DAY)
        .await
        .unwrap();
    let old = input.devices.iter().find(|d| d.device_id == "old").unwrap();
    assert_eq!(old.age.as_ref().unwrap().provenance, "asset_register");
    assert_eq!(old.price_eur, Some(950.0));
    // What the firmware calls it, and the footprint the register pins.
    assert_eq!(
        (
            old.vendor.as_deref(),
            old.model.as_deref(),
            old.model_family.as_deref()
        ),
        (Some("Dell Inc."), Some("OptiPlex 7050"), Some("OptiPlex"))
    );
    assert_eq!(old.pinned_kgco2e, Some(412.5));
    assert_eq!(old.usage.weeks, 1);
    assert!((old.usage.active_hours - 5.0).abs() < 1e-9);
    let idle_facts = input
        .devices
        .iter()
        .find(|d| d.device_id == "idle")
        .unwrap();
    assert!((idle_facts.usage.active_hours).abs() < 1e-9);
    assert_eq!(
        input.department_hours[&("Finance".to_owned(), "desktop".to_owned())].len(),
        5
    );

    let config = sobrio_collector::config::CollectorConfig::default();
    let working = |department: &str| config.working_hours(department);
    let embodied = Embodied::built_in();
    let suggestions = analyze(
        &input,
        &Context {
            config: &config.analysis,
            embodied: &embodied,
            today: jiff::civil::date(2026, 11, 23),
            working_hours: &working,
            time_zone: jiff::tz::TimeZone::UTC,
        },
    );
    let reuse = suggestions.iter().find(|s| s.kind == Kind::Reuse).unwrap();
    assert_eq!(reuse.devices, ["idle", "old"]);
    assert_eq!(reuse.avoided_cost_eur, Some(950.0));
    let outcome = store.save_suggestions(&suggestions, now()).await.unwrap();
    assert_eq!(outcome.created, suggestions.len());
    let stored = store.suggestions(Some("reuse")).await.unwrap();
    assert_eq!(stored[0].departments, ["Finance", "Legal"]);
    assert_eq!(stored[0].avoided_kgco2e.value, 204.4);
}

async fn each_factor_set_s_first_use_is_recorded(store: &Store) {
    use sobrio_collector::app::suggestions::recompute;
    let factor_sets = || async {
        store
            .audit_log(100)
            .await
            .unwrap()
            .into_iter()
            .filter(|(_, _, action, _, _)| action == "factor_set.in_use")
            .map(|(_, _, _, version, detail)| (version, detail))
            .collect::<Vec<_>>()
    };
    let mut config = sobrio_collector::config::CollectorConfig::default();
    recompute(store, &config, now()).await.unwrap();
    recompute(store, &config, now() + HOUR).await.unwrap();
    let built_in = factor_sets().await;
    assert_eq!(built_in.len(), 1, "{built_in:?}");
    assert!(built_in[0].0.starts_with("sha256:"));
    assert!(built_in[0].1.contains("the built-in data"), "{built_in:?}");
    // The organisation replaces the category file: a new version, recorded.
    let dir = tempfile::tempdir().unwrap();
    let own = dir.path().join("embodied.csv");
    std::fs::write(
        &own,
        sobrio_collector::analysis::embodied::BUILT_IN.replace("182.6", "190.0"),
    )
    .unwrap();
    config.analysis.embodied_file = Some(own.clone());
    recompute(store, &config, now() + 2 * HOUR).await.unwrap();
    let both = factor_sets().await;
    assert_eq!(both.len(), 2, "{both:?}");
    assert_ne!(both[0].0, both[1].0);
    assert!(both[0].1.contains(&own.display().to_string()), "{both:?}");
    // And an amended copy of the per-model data set.
    let models = dir.path().join("models.csv");
    std::fs::write(
        &models,
        sobrio_collector::analysis::models::BUILT_IN.replace(
            "Latitude 5420,Workplace,Laptop,364.0",
            "Latitude 5420,Workplace,Laptop,360.0",
        ),
    )
    .unwrap();
    config.analysis.models_file = Some(models.clone());
    recompute(store, &config, now() + 3 * HOUR).await.unwrap();
    let three = factor_sets().await;
    assert_eq!(three.len(), 3, "{three:?}");
    assert!(
        three[0].1.contains(&models.display().to_string()),
        "{three:?}"
    );
}

async fn sessions_expire_end_at_sign_out_and_with_their_user(store: &Store) {
    let ines = UserName::parse("ines").unwrap();
    let created = store
        .upsert_user(
            &ines,
            Some("$argon2id$hash"),
            &[Role::It, Role::Admin],
            now(),
        )
        .await
        .unwrap();
    assert!(created.created);
    assert_eq!(
        store.password_hash("ines").await.unwrap().as_deref(),
        Some("$argon2id$hash")
    );
    assert_eq!(store.password_hash("nobody").await.unwrap(), None);
    let t = now();
    store
        .open_session("secret-1", "ines", "csrf-1", t, t + HOUR)
        .await
        .unwrap();
    let session = store.session("secret-1", t).await.unwrap().unwrap();
    assert_eq!(session.principal.name, "ines");
    let mut roles = session.principal.roles.clone();
    roles.sort();
    assert_eq!(roles, [Role::Admin, Role::It]);
    assert_eq!(session.csrf_token, "csrf-1");
    // Unknown and expired sessions are nobody's.
    assert!(store.session("secret-2", t).await.unwrap().is_none());
    assert!(store.session("secret-1", t + HOUR).await.unwrap().is_none());
    // Moving the expiry keeps it alive; signing out ends it.
    store
        .extend_session("secret-1", t + 2 * HOUR)
        .await
        .unwrap();
    assert!(store.session("secret-1", t + HOUR).await.unwrap().is_some());
    store.close_session("secret-1").await.unwrap();
    assert!(store.session("secret-1", t).await.unwrap().is_none());

    // Disabling a user ends their sessions and stops their API tokens.
    store
        .open_session("secret-3", "ines", "csrf-3", t, t + HOUR)
        .await
        .unwrap();
    store
        .add_api_token("ines", "api-token", now())
        .await
        .unwrap();
    assert!(
        store
            .principal_for_token("api-token")
            .await
            .unwrap()
            .is_some()
    );
    assert!(store.disable_user("ines", t).await.unwrap());
    assert!(
        !store.disable_user("ines", t).await.unwrap(),
        "already disabled"
    );
    assert!(store.session("secret-3", t).await.unwrap().is_none());
    assert!(
        store
            .principal_for_token("api-token")
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(store.password_hash("ines").await.unwrap(), None);
    let users = store.users().await.unwrap();
    assert_eq!(users.len(), 1);
    assert_eq!(users[0].api_tokens, 1);
    assert!(users[0].disabled_unix_ms.is_some());

    // Adding the disabled user again without a password leaves it disabled;
    // with a new password it is enabled again, and what the old password
    // opened stays closed.
    let again = store
        .upsert_user(&ines, None, &[Role::Hr], now())
        .await
        .unwrap();
    assert!(again.still_disabled && !again.re_enabled);
    assert_eq!(store.password_hash("ines").await.unwrap(), None);
    let again = store
        .upsert_user(&ines, Some("$argon2id$new"), &[], now())
        .await
        .unwrap();
    assert!(again.re_enabled);
    assert_eq!(again.tokens_revoked, 1);
    assert!(
        store
            .principal_for_token("api-token")
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        store.password_hash("ines").await.unwrap().as_deref(),
        Some("$argon2id$new")
    );

    // A password reset ends the sessions and API tokens the old one opened.
    store
        .open_session("secret-4", "ines", "csrf-4", t, t + HOUR)
        .await
        .unwrap();
    store.add_api_token("ines", "token-a", now()).await.unwrap();
    store.add_api_token("ines", "token-b", now()).await.unwrap();
    let reset = store
        .upsert_user(&ines, Some("$argon2id$newer"), &[], now())
        .await
        .unwrap();
    assert_eq!((reset.sessions_ended, reset.tokens_revoked), (1, 2));
    assert!(store.session("secret-4", t).await.unwrap().is_none());
    assert!(
        store
            .principal_for_token("token-a")
            .await
            .unwrap()
            .is_none()
    );

    // Single tokens are listed by an id and revoked alone.
    store.add_api_token("ines", "token-c", now()).await.unwrap();
    store.add_api_token("ines", "token-d", now()).await.unwrap();
    let listed = store.api_tokens("ines").await.unwrap();
    let live: Vec<&String> = listed
        .iter()
        .filter(|(_, _, revoked)| revoked.is_none())
        .map(|(id, _, _)| id)
        .collect();
    assert_eq!(live.len(), 2);
    assert!(
        listed
            .iter()
            .all(|(id, _, _)| id.len() == 16 && !id.contains("token"))
    );
    let c_id = listed
        .iter()
        .find(|(id, _, _)| {
            let digest = sobrio_collector::secret::sha256("token-c");
            *id == digest[..8]
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        })
        .unwrap()
        .0
        .clone();
    assert!(store.revoke_api_token("ines", &c_id, now()).await.unwrap());
    assert!(
        !store.revoke_api_token("ines", &c_id, now()).await.unwrap(),
        "already revoked"
    );
    assert!(
        !store
            .revoke_api_token("someone", &c_id, now())
            .await
            .unwrap()
    );
    assert!(
        store
            .principal_for_token("token-c")
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .principal_for_token("token-d")
            .await
            .unwrap()
            .is_some()
    );
}

fn inventory(hostname: &str, chassis: &str, model: &str, since: &str) -> InventoryRow {
    InventoryRow {
        hostname: hostname.into(),
        model: Some(model.into()),
        chassis: chassis.into(),
        age_since_date: Some(since.into()),
        ..InventoryRow::default()
    }
}

async fn the_device_list_sorts_filters_and_pages_by_the_latest_inventory(store: &Store) {
    for (id, department) in [("a", "Finance"), ("b", "Legal"), ("c", "Finance")] {
        device(store, id, department).await;
    }
    let at = now() - DAY;
    let with_inventory = |id: &str, time: i64, row: InventoryRow| {
        let mut r = report(time);
        r.inventory = Some(row);
        group(id, "x", vec![r])
    };
    store
        .store_batch(
            &[
                with_inventory("a", at, inventory("zeta", "laptop", "T14", "2019-01-01")),
                with_inventory(
                    "b",
                    at,
                    inventory("alpha", "desktop", "OptiPlex", "2023-05-01"),
                ),
                with_inventory("c", at, inventory("mid", "laptop", "X1", "2021-03-01")),
            ],
            now(),
        )
        .await
        .unwrap();
    // A newer inventory replaces the facts; an older one arriving later
    // does not.
    store
        .store_batch(
            &[with_inventory(
                "c",
                at + HOUR,
                inventory("mid", "tablet", "Surface", "2021-03-01"),
            )],
            now(),
        )
        .await
        .unwrap();
    store
        .store_batch(
            &[with_inventory(
                "c",
                at - HOUR,
                inventory("old-name", "desktop", "Old", "2010-01-01"),
            )],
            now(),
        )
        .await
        .unwrap();

    let hosts = |rows: Vec<sobrio_collector::store::DeviceListRow>| {
        rows.into_iter().map(|r| r.hostname).collect::<Vec<_>>()
    };
    let (rows, total) = store
        .device_list(DeviceSort::Hostname, false, None, 1, 10)
        .await
        .unwrap();
    assert_eq!(total, 3);
    assert_eq!(rows[1].chassis.as_deref(), Some("tablet"));
    assert_eq!(rows[1].model.as_deref(), Some("Surface"));
    assert_eq!(hosts(rows), ["alpha", "mid", "zeta"]);
    let (rows, _) = store
        .device_list(DeviceSort::Age, false, None, 1, 10)
        .await
        .unwrap();
    assert_eq!(hosts(rows), ["zeta", "mid", "alpha"], "oldest first");
    let (rows, _) = store
        .device_list(DeviceSort::Model, true, None, 1, 10)
        .await
        .unwrap();
    assert_eq!(
        hosts(rows),
        ["zeta", "mid", "alpha"],
        "T14, Surface, OptiPlex"
    );
    let (rows, total) = store
        .device_list(DeviceSort::Hostname, false, Some("Finance"), 1, 1)
        .await
        .unwrap();
    assert_eq!((hosts(rows), total), (vec!["mid".to_owned()], 2));
    let (rows, _) = store
        .device_list(DeviceSort::Hostname, false, Some("Finance"), 2, 1)
        .await
        .unwrap();
    assert_eq!(hosts(rows), ["zeta"]);
    let (rows, total) = store
        .device_list(DeviceSort::Department, false, Some("Nobody"), 1, 10)
        .await
        .unwrap();
    assert!(rows.is_empty() && total == 0);
    for sort in DeviceSort::ALL {
        for descending in [false, true] {
            let (rows, _) = store
                .device_list(sort, descending, None, 1, 10)
                .await
                .unwrap();
            assert_eq!(rows.len(), 3, "{sort:?} {descending}");
        }
    }
    let names = store
        .hostnames(&["a".into(), "c".into(), "unknown".into()])
        .await
        .unwrap();
    assert_eq!(names.len(), 2);
    assert_eq!(names["c"], "mid");
}

async fn enrollment_tokens_are_listed_by_digest_and_revoked(store: &Store) {
    let t = now();
    token(store, "live", "Finance", t + DAY, Some(3)).await;
    token(store, "old", "Legal", t - DAY, None).await;
    let tokens = store.enrollment_tokens().await.unwrap();
    assert_eq!(tokens.len(), 2);
    let live = tokens.iter().find(|t| t.department == "Finance").unwrap();
    assert_eq!(live.id.len(), 64, "hex SHA-256, never the token");
    assert_eq!(live.max_uses, Some(3));
    assert!(!store.revoke_enrollment_token("not-hex", t).await.unwrap());
    assert!(store.revoke_enrollment_token(&live.id, t).await.unwrap());
    assert!(
        !store.revoke_enrollment_token(&live.id, t).await.unwrap(),
        "already revoked"
    );
    let sha = sobrio_collector::secret::sha256("live");
    assert!(matches!(
        store.enroll_device(&sha, &new_device("late")).await,
        Err(sobrio_collector::store::EnrollError::Refused(
            TokenRefusal::Revoked
        ))
    ));
    let counts = store.department_device_counts().await.unwrap();
    assert_eq!(counts, [("Finance".to_owned(), 0), ("Legal".to_owned(), 0)]);
}

fn person_day(person: &str, day: &str, minutes: i64) -> PersonDayRow {
    PersonDayRow {
        person_id: person.into(),
        day: day.into(),
        active_minutes: Some(minutes),
        ..PersonDayRow::default()
    }
}

async fn people_of(store: &Store) -> Vec<(String, String, String, Option<i64>)> {
    let mut rows: Vec<_> = store
        .person_day_rows("2026-11-01", "2026-11-30")
        .await
        .unwrap()
        .into_iter()
        .map(|r| {
            (
                r.person_id,
                r.day.to_string(),
                r.device_id,
                r.active_minutes,
            )
        })
        .collect();
    rows.sort();
    rows
}

async fn pseudonym_links_move_a_person_s_history_once(store: &Store) {
    let (old, new, other) = ("0".repeat(64), "1".repeat(64), "2".repeat(64));
    device(store, "laptop", "HR").await;
    device(store, "desk", "HR").await;
    let mut r = report(now() - 2 * HOUR);
    r.person_days = vec![
        person_day(&old, "2026-11-02", 100),
        person_day(&old, "2026-11-03", 200),
    ];
    let mut s = report(now() - 2 * HOUR);
    s.person_days = vec![person_day(&old, "2026-11-02", 50)];
    store
        .store_batch(
            &[group("laptop", "HR", vec![r]), group("desk", "HR", vec![s])],
            now() - HOUR,
        )
        .await
        .unwrap();
    // The laptop switches: its new row for the 3rd replaces the old one, and
    // its link moves the rest, on every device.
    let mut r = report(now() - HOUR);
    r.person_days = vec![person_day(&new, "2026-11-03", 210)];
    r.pseudonym_links = vec![(old.clone(), new.clone())];
    store
        .store_batch(&[group("laptop", "HR", vec![r])], now())
        .await
        .unwrap();
    assert_eq!(
        people_of(store).await,
        [
            (new.clone(), "2026-11-02".into(), "desk".into(), Some(50)),
            (new.clone(), "2026-11-02".into(), "laptop".into(), Some(100)),
            (new.clone(), "2026-11-03".into(), "laptop".into(), Some(210)),
        ]
    );
    assert_eq!(store.pseudonym_link(&old).await.unwrap(), Some(new.clone()));
    // Where the person is first seen does not change.
    let homes = store
        .person_homes("2026-11-01", "2026-11-30", 0, now() + DAY)
        .await
        .unwrap();
    assert_eq!(homes.len(), 1, "{homes:?}");
    assert!(homes.contains_key(&new), "{homes:?}");
    // Another link of the same earlier pseudonym is refused and audited.
    let mut r = report(now());
    r.pseudonym_links = vec![(old.clone(), other.clone())];
    store
        .store_batch(&[group("desk", "HR", vec![r])], now())
        .await
        .unwrap();
    assert_eq!(store.pseudonym_link(&old).await.unwrap(), Some(new));
    let alerts = store.privacy_alerts(5).await.unwrap();
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0].1, sobrio_collector::store::PRIVACY_LINK_REFUSED);
}

async fn pseudonym_evaluations_are_charged_within_the_bound(store: &Store) {
    device(store, "laptop", "HR").await;
    let t = now();
    assert_eq!(
        store
            .charge_pseudonyms("laptop", 2, 2, t - DAY, t)
            .await
            .unwrap(),
        Charged::Within(2)
    );
    assert_eq!(
        store
            .charge_pseudonyms("laptop", 1, 2, t - DAY, t)
            .await
            .unwrap(),
        Charged::Over(2)
    );
    assert_eq!(
        store
            .charge_pseudonyms("laptop", 1, 2, t + 1, t + 2)
            .await
            .unwrap(),
        Charged::Within(1)
    );
    store.forget_device("laptop", "test", now()).await.unwrap();
    assert!(
        store
            .device_row_counts("laptop")
            .await
            .unwrap()
            .iter()
            .all(|(_, n)| *n == 0)
    );
}

/// A release is kept at a real time, once; a group's spent epsilon adds up
/// to its budget exactly and no further.
async fn a_week_s_release_is_published_once_within_its_budget(store: &Store) {
    let spent = |epsilon: f64| vec![("Sales".to_owned(), epsilon)];
    let budget = 0.3;
    let first = store
        .publish_indicator_release("2026-W46", "{\"n\":1}", &spent(0.1), budget, now())
        .await
        .unwrap();
    assert_eq!(first.as_deref(), Some("{\"n\":1}"));
    assert_eq!(
        store
            .indicator_release("2026-W46")
            .await
            .unwrap()
            .as_deref(),
        Some("{\"n\":1}")
    );
    // Published already: the stored release is served, nothing is charged.
    let again = store
        .publish_indicator_release("2026-W46", "{\"n\":2}", &spent(0.1), budget, now())
        .await
        .unwrap();
    assert_eq!(again.as_deref(), Some("{\"n\":1}"));
    // A release charging the group three times a tenth spends the budget
    // exactly; a fourth tenth would exceed it: nothing is kept.
    let tenths = |n: usize| vec![("Sales".to_owned(), 0.1); n];
    let refused = store
        .publish_indicator_release("2026-W47", "{}", &tenths(4), budget, now())
        .await
        .unwrap();
    assert_eq!(refused, None);
    assert_eq!(store.indicator_release("2026-W47").await.unwrap(), None);
    let published = store
        .publish_indicator_release("2026-W48", "{}", &tenths(3), budget, now())
        .await
        .unwrap();
    assert_eq!(published.as_deref(), Some("{}"));
}

/// A laptop's inventory with a serial number.
fn laptop_inventory(serial: &str) -> InventoryRow {
    InventoryRow {
        hostname: serial.to_lowercase(),
        serial_number: Some(serial.into()),
        chassis: "laptop".into(),
        ..InventoryRow::default()
    }
}

async fn a_move_and_a_change_of_category_re_key_the_department_rollup(store: &Store) {
    use sobrio_collector::store::Move;
    device(store, "a", "Finance").await;
    device(store, "b", "Finance").await;
    device(store, "c", "Legal").await;
    // Hours after the enrollments (a move never precedes a device's
    // current spell): from the next whole hour on.
    let base = (now() / HOUR + 1) * HOUR;
    let mut a = report(base + 4 * HOUR);
    a.inventory = Some(laptop_inventory("SER-A"));
    a.usage = vec![
        hour(base + HOUR, 50, 20.0, 20.0),
        hour(base + 2 * HOUR, 50, 20.0, 20.0),
    ];
    let mut b = report(base + 4 * HOUR + 1);
    b.inventory = Some(InventoryRow {
        chassis: "desktop".into(),
        ..laptop_inventory("SER-B")
    });
    b.usage = vec![hour(base + HOUR, 50, 20.0, 20.0)];
    store
        .store_batch(
            &[
                group("a", "Finance", vec![a]),
                group("b", "Finance", vec![b]),
            ],
            now(),
        )
        .await
        .unwrap();
    let hours = |department: &'static str, category: Option<&'static str>| async move {
        store
            .department_hours(department, category, base, base + DAY)
            .await
            .unwrap()
    };
    // Laptops and desktops are counted apart.
    assert_eq!(
        hours("Finance", Some("laptop")).await,
        [(base + HOUR, 1), (base + 2 * HOUR, 1)]
    );
    assert_eq!(hours("Finance", Some("desktop")).await, [(base + HOUR, 1)]);
    assert_eq!(
        hours("Finance", None).await,
        [(base + HOUR, 2), (base + 2 * HOUR, 1)]
    );

    // Moved to Legal from the third hour: that hour and later count for
    // Legal.
    assert_eq!(
        store
            .move_device("a", "Legal", base + 2 * HOUR, "user:it", "moved by IT")
            .await
            .unwrap(),
        Move::Moved {
            from: "Finance".into()
        }
    );
    assert_eq!(hours("Finance", Some("laptop")).await, [(base + HOUR, 1)]);
    assert_eq!(hours("Legal", Some("laptop")).await, [(base + 2 * HOUR, 1)]);
    // A late report: the hour before the move belongs to Finance still,
    // the one after to Legal.
    let mut late = report(base + 5 * HOUR);
    late.usage = vec![
        hour(base, 50, 20.0, 20.0),
        hour(base + 3 * HOUR, 50, 20.0, 20.0),
    ];
    store
        .store_batch(&[group("a", "Legal", vec![late])], now())
        .await
        .unwrap();
    assert_eq!(
        hours("Finance", Some("laptop")).await,
        [(base, 1), (base + HOUR, 1)]
    );
    assert_eq!(
        hours("Legal", Some("laptop")).await,
        [(base + 2 * HOUR, 1), (base + 3 * HOUR, 1)]
    );
    assert_eq!(store.rollup_drift().await.unwrap(), Vec::<String>::new());
    let history = store.department_history("a").await.unwrap();
    assert_eq!(
        history
            .iter()
            .map(|s| (s.department.as_str(), s.recorded_by.as_str()))
            .collect::<Vec<_>>(),
        [("Finance", "enrollment"), ("Legal", "user:it")]
    );
    assert_eq!(
        store
            .move_device("a", "Legal", now(), "user:it", "")
            .await
            .unwrap(),
        Move::Unchanged
    );
    assert_eq!(
        store
            .move_device("a", "Finanse", now(), "user:it", "")
            .await
            .unwrap(),
        Move::UnknownDepartment
    );
    assert_eq!(
        store
            .move_device("nope", "Legal", now(), "user:it", "")
            .await
            .unwrap(),
        Move::UnknownDevice
    );

    // The register says it is a tablet: all its hours move category, each
    // in the department it was in.
    store
        .import_assets(
            &[AssetRow {
                serial: "SER-A".into(),
                category: Some("tablet".into()),
                ..AssetRow::default()
            }],
            false,
            now(),
        )
        .await
        .unwrap();
    assert_eq!(hours("Finance", Some("laptop")).await, []);
    assert_eq!(
        hours("Finance", Some("tablet")).await,
        [(base, 1), (base + HOUR, 1)]
    );
    assert_eq!(
        hours("Legal", Some("tablet")).await,
        [(base + 2 * HOUR, 1), (base + 3 * HOUR, 1)]
    );
    assert_eq!(store.rollup_drift().await.unwrap(), Vec::<String>::new());

    // Erased: its hours leave every department.
    assert!(store.forget_device("a", "user:admin", now()).await.unwrap());
    assert_eq!(hours("Legal", None).await, []);
    assert_eq!(hours("Finance", None).await, [(base + HOUR, 1)]);
    assert_eq!(store.rollup_drift().await.unwrap(), Vec::<String>::new());
}

async fn a_reuse_done_moves_its_donor_and_retires_what_it_replaces_until_undone(store: &Store) {
    use sobrio_collector::analysis::{Kind, Suggestion};
    use sobrio_collector::store::DecisionError;
    device(store, "donor", "Legal").await;
    device(store, "old", "Finance").await;
    device(store, "p1", "Sales").await;
    device(store, "p2", "Sales").await;
    let mut donor = report(MONDAY + HOUR);
    donor.inventory = Some(laptop_inventory("SER-D"));
    donor.usage = vec![hour(MONDAY + 9 * HOUR, 50, 20.0, 20.0)];
    let mut old = report(MONDAY + HOUR + 1);
    old.inventory = Some(InventoryRow {
        age_since_date: Some("2018-02-01".into()),
        ..laptop_inventory("SER-O")
    });
    store
        .store_batch(
            &[
                group("donor", "Legal", vec![donor]),
                group("old", "Finance", vec![old]),
            ],
            now(),
        )
        .await
        .unwrap();
    let made = |id: &str, kind: Kind, devices: &[&str], departments: &[&str]| Suggestion {
        kind,
        devices: devices.iter().map(|d| (*d).to_owned()).collect(),
        departments: departments.iter().map(|d| (*d).to_owned()).collect(),
        ..suggestion(id, "1")
    };
    store
        .save_suggestions(
            &[
                made("reuse", Kind::Reuse, &["donor", "old"], &[]),
                made("pool", Kind::Pool, &["p1", "p2"], &["Sales"]),
            ],
            now(),
        )
        .await
        .unwrap();
    for id in ["reuse", "pool"] {
        store
            .decide(id, "accepted", "", "user:it", now(), None)
            .await
            .unwrap();
    }
    // Where the replaced device goes must be said.
    assert!(matches!(
        store
            .decide("reuse", "done", "", "user:it", now(), None)
            .await,
        Err(DecisionError::OutcomeNeeded(host)) if host == "ser-o"
    ));
    assert_eq!(
        store.suggestion("reuse").await.unwrap().unwrap().0.status,
        "accepted",
        "a refused decision changes nothing"
    );
    store
        .decide("reuse", "done", "", "user:it", now(), Some("donated"))
        .await
        .unwrap();
    store
        .decide("pool", "done", "", "user:it", now(), None)
        .await
        .unwrap();
    // The donor is Finance's now, with its history; the old one is retired
    // (donated, revoked, out of the analysis); the pool has its members.
    let department = |id: &'static str| async move {
        store
            .device_list(DeviceSort::Hostname, false, None, 1, 50)
            .await
            .unwrap()
            .0
            .into_iter()
            .find(|d| d.id == id)
            .map(|d| (d.department, d.revoked_unix_ms.is_some()))
            .unwrap()
    };
    assert_eq!(department("donor").await, ("Finance".to_owned(), false));
    assert_eq!(department("old").await, ("Finance".to_owned(), true));
    let history = store.department_history("donor").await.unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!(history[1].department, "Finance");
    assert_eq!(history[1].suggestion_id.as_deref(), Some("reuse"));
    let disposal = store.disposal("old").await.unwrap().unwrap();
    assert_eq!(disposal.outcome, "donated");
    assert_eq!(disposal.suggestion_id.as_deref(), Some("reuse"));
    assert_eq!(disposal.first_use.as_deref(), Some("2018-02-01"));
    let members = store.pool_members().await.unwrap();
    assert_eq!(
        members
            .iter()
            .map(|m| (m.device_id.as_str(), m.department.as_str()))
            .collect::<Vec<_>>(),
        [("p1", "Sales"), ("p2", "Sales")]
    );
    let audit = store.audit_log(10).await.unwrap();
    assert!(
        audit.iter().any(
            |(_, _, action, subject, detail)| action == "suggestion.done"
                && subject == "reuse"
                && detail.contains("donor moved from Legal to Finance")
                && detail.contains("old retired (donated)")
        ),
        "{audit:?}"
    );

    // Undone: the donor moves back (a new spell), the old one is back in
    // the fleet, the pool is dissolved.
    for id in ["reuse", "pool"] {
        store
            .decide(id, "accepted", "not handed over", "user:it", now(), None)
            .await
            .unwrap();
    }
    assert_eq!(department("donor").await, ("Legal".to_owned(), false));
    assert_eq!(department("old").await, ("Finance".to_owned(), false));
    assert_eq!(store.department_history("donor").await.unwrap().len(), 3);
    assert!(store.disposal("old").await.unwrap().is_none());
    assert!(store.pool_members().await.unwrap().is_empty());
    assert_eq!(store.rollup_drift().await.unwrap(), Vec::<String>::new());

    // The replaced device retired by IT meanwhile: its record stands, no
    // destination is asked, and undoing the reuse leaves it.
    assert!(
        store
            .record_disposal("old", "2026-11-20", "recycled", "", "user:it", now())
            .await
            .unwrap()
    );
    store
        .decide("reuse", "done", "", "user:it", now(), None)
        .await
        .unwrap();
    store
        .decide("reuse", "accepted", "undone again", "user:it", now(), None)
        .await
        .unwrap();
    let kept = store.disposal("old").await.unwrap().unwrap();
    assert_eq!(
        (kept.outcome.as_str(), kept.suggestion_id),
        ("recycled", None)
    );
}

/// Marks the database `url` names as migrated by a newer collector: one
/// migration beyond those this one knows.
async fn migrate_from_the_future(url: &str, version: i64) {
    let pool = sqlx::any::AnyPoolOptions::new()
        .max_connections(1)
        .connect(url)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time)
         VALUES ($1, 'from a newer collector', TRUE, $2, 0)",
    )
    .bind(version)
    .bind(vec![0_u8; 48])
    .execute(&pool)
    .await
    .unwrap();
    pool.close().await;
}

/// A store a newer collector migrated: the open one says so when it checks
/// (a replica in a rolling upgrade), opening it again fails before any
/// migration runs, with both versions in the message.
async fn a_newer_schema_is_refused(
    store: Store,
    url: &str,
    reopen: impl AsyncFnOnce() -> Result<Store, sobrio_collector::store::StoreError>,
) {
    use sobrio_collector::store::StoreError;
    let known = Store::known_schema(store.dialect());
    assert_eq!(store.schema_version().await.unwrap(), known);
    store.check_schema().await.unwrap();
    migrate_from_the_future(url, known + 1).await;
    let error = store.check_schema().await.unwrap_err();
    assert!(
        matches!(error, StoreError::NewerSchema { database, known: k } if database == known + 1 && k == known),
        "{error}"
    );
    drop(store);
    let message = reopen().await.unwrap_err().to_string();
    assert!(
        message.contains(&format!("version {}", known + 1))
            && message.contains(&format!("({known})"))
            && message.contains("newer Sobrio"),
        "{message}"
    );
}

#[tokio::test]
async fn a_database_a_newer_collector_migrated_is_refused_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_data_dir(dir.path()).await.unwrap();
    let url = format!(
        "sqlite://{}",
        dir.path()
            .join(sobrio_collector::store::DATABASE_FILE)
            .display()
    );
    a_newer_schema_is_refused(store, &url, async || Store::open_data_dir(dir.path()).await).await;
}

#[tokio::test]
async fn a_database_a_newer_collector_migrated_is_refused_on_postgres() {
    let Some(database) = sobrio_tests::TestDatabase::create().await else {
        return;
    };
    let store = database.store().await;
    a_newer_schema_is_refused(store, &database.url, async || {
        Store::connect(&database.url).await
    })
    .await;
    database.drop().await;
}
