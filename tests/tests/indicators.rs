//! HR indicators through the collector process: roles, fixed groups,
//! suppression and the attacks the API refuses, on person-day rows stored
//! the way ingest stores them.

use sobrio_collector::store::{
    DeviceReports, IncomingReport, NewDevice, NewToken, PersonDayRow, Retention, Store,
};
use sobrio_tests::{CollectorProcess, http_request, user_token};

const HOUR: i64 = 3_600_000;
/// Monday 2026-11-16 (ISO week 2026-W47), 00:00 UTC.
const MONDAY: i64 = 1_794_787_200_000;

async fn person_device(store: &Store, person: &str, department: &str, meeting_minutes: i64) {
    let device = format!("dev-{person}");
    let secret = format!("token-{person}");
    let sha256 = sobrio_collector::secret::sha256(&secret);
    store
        .create_token(&NewToken {
            sha256,
            department: department.into(),
            created_unix_ms: MONDAY,
            expires_unix_ms: i64::MAX / 2,
            max_uses: None,
        })
        .await
        .unwrap();
    store
        .enroll_device(
            &sha256,
            &NewDevice {
                id: device.clone(),
                hostname: format!("host-{person}"),
                agent_version: "0.1.0".into(),
                enrolled_unix_ms: MONDAY,
                certificate_serial: "1".into(),
                certificate_not_after_unix_ms: i64::MAX / 2,
                bearer_secret_sha256: [0; 32],
            },
        )
        .await
        .unwrap();
    let days = (0..5)
        .map(|d| PersonDayRow {
            person_id: format!("hmac-of-{person}"),
            day: format!("2026-11-{:02}", 16 + d),
            meeting_minutes: Some(meeting_minutes),
            conflicting_minutes: Some(0),
            back_to_back_count: Some(0),
            after_hours_meeting_minutes: Some(0),
            focus_minutes: Some(240),
            active_minutes: Some(420),
            after_hours_active_minutes: Some(30),
            weekend_active_minutes: Some(0),
            notifications_total: Some(30),
            notifications_after_hours: Some(3),
            ..PersonDayRow::default()
        })
        .collect();
    store
        .store_batch(
            &[DeviceReports {
                device_id: device.clone(),
                department: department.into(),
                reports: vec![IncomingReport {
                    report_id: uuid::Uuid::now_v7().to_string(),
                    collected_unix_ms: MONDAY + 5 * 24 * HOUR,
                    payload: vec![1],
                    inventory: None,
                    usage: Vec::new(),
                    storage: None,
                    person_days: days,
                    pseudonym_links: Vec::new(),
                }],
            }],
            MONDAY + 5 * 24 * HOUR,
        )
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hr_sees_fixed_groups_of_at_least_five_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap().to_owned();
    let store = Store::open_data_dir(dir.path()).await.unwrap();
    // Sales 6 people, Finance 5, Legal 4; meeting minutes a day differ.
    for (i, minutes) in [60, 120, 180, 240, 300, 360].iter().enumerate() {
        person_device(&store, &format!("sales{i}"), "Sales", *minutes).await;
    }
    for i in 0..5 {
        person_device(&store, &format!("finance{i}"), "Finance", 30).await;
    }
    for i in 0..4 {
        person_device(&store, &format!("legal{i}"), "Legal", 600).await;
    }
    let hr = user_token(&data, "hana", "hr");
    let it = user_token(&data, "ivan", "it");
    let admin = user_token(&data, "ada", "admin");
    let server = CollectorProcess::serve(&data, &[]);
    let get = |path: &str, token: &str| {
        let auth = format!("Bearer {token}");
        http_request(
            &server.http_addr,
            "GET",
            path,
            &[("Authorization", &auth)],
            "",
        )
    };

    let (status, body) = get("/api/v1/indicators?week=2026-W47", &hr);
    assert_eq!(status, 200, "{body}");
    let release: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(release["week"], "2026-W47");
    assert_eq!(release["k"], 5);
    assert_eq!(release["organisation"]["people"], 15);
    let cell = |group: &str| {
        release["departments"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["group"] == group)
            .unwrap_or_else(|| panic!("no {group} in {release:#}"))
            .clone()
    };
    // Sales: 1 to 6 h of meetings a day → 5, 10, …, 30 h a week; median
    // (rank 3 of 6) 15 h, p90 (rank 6) 30 h.
    let sales = cell("Sales");
    assert_eq!(sales["people"], 6);
    assert_eq!(sales["meeting_hours"]["median"], 15.0);
    assert_eq!(sales["meeting_hours"]["p90"], 30.0);
    // Legal (4) is under k; Finance (5) joins it in "other teams" so that the
    // organisation minus Sales is not Legal alone.
    for group in ["Legal", "Finance"] {
        let c = cell(group);
        assert_eq!(c["suppressed"], true);
        assert!(c["people"].is_null());
        assert!(c.get("meeting_hours").is_none(), "{c}");
    }
    assert_eq!(cell("other teams")["people"], 9);
    for private in ["hmac-of", "dev-", "host-", "person"] {
        assert!(!body.contains(private), "{private} in {body}");
    }

    // Roles: HR sees no device data; IT and admin see no digital load.
    assert_eq!(get("/api/v1/devices", &hr).0, 403);
    assert_eq!(get("/api/v1/devices/dev-sales0", &hr).0, 403);
    assert_eq!(get("/api/v1/suggestions", &hr).0, 403);
    assert_eq!(get("/api/v1/indicators?week=2026-W47", &it).0, 403);
    assert_eq!(get("/api/v1/indicators?week=2026-W47", &admin).0, 403);
    assert_eq!(
        http_request(&server.http_addr, "GET", "/api/v1/indicators", &[], "").0,
        401
    );
    let (status, devices) = get("/api/v1/devices?page=1", &it);
    assert_eq!(status, 200);
    assert!(
        !devices.contains("meeting"),
        "no digital load in device data"
    );

    // Crafted queries: no filter, no other group, no other window.
    for path in [
        "/api/v1/indicators?week=2026-W47&department=Legal",
        "/api/v1/indicators?week=2026-W47&group=Legal",
        "/api/v1/indicators?week=2026-W47&person=hmac-of-legal0",
        "/api/v1/indicators?week=2026-W47&from=2026-11-16&to=2026-11-17",
        "/api/v1/indicators?week=2026-W47%27--",
        "/api/v1/indicators?week=..%2F..%2Fetc",
    ] {
        let (status, body) = get(path, &hr);
        assert_eq!(status, 400, "{path}: {body}");
    }
    // A week to come is well formed, but not published.
    let (status, body) = get("/api/v1/indicators?week=2099-W01", &hr);
    assert_eq!(status, 409, "{body}");
    drop(server);

    // Every view by HR is in the audit log, with who and which week.
    let audit = store.audit_log(100).await.unwrap();
    assert!(
        audit
            .iter()
            .any(|(_, actor, action, subject, _)| actor == "user:hana"
                && action == "indicators.view"
                && subject == "2026-W47"),
        "{audit:?}"
    );

    // The week was complete: released, it is marked aggregated, and its
    // person-day rows go 35 days later — not before.
    let rows = |store: Store| async move {
        store
            .device_row_counts("dev-sales0")
            .await
            .unwrap()
            .into_iter()
            .find(|(table, _)| *table == "person_days")
            .map_or(0, |(_, n)| n)
    };
    let now = sobrio_collector::app::now_unix_ms();
    let day = 24 * HOUR;
    // Marking it again later (another view) does not postpone the deletion.
    store
        .mark_week_aggregated(jiff::civil::date(2026, 11, 16), now + 30 * day)
        .await
        .unwrap();
    store
        .apply_retention(Retention::default(), now + 34 * day)
        .await
        .unwrap();
    assert_eq!(rows(store.clone()).await, 5);
    store
        .apply_retention(Retention::default(), now + 36 * day)
        .await
        .unwrap();
    assert_eq!(rows(store.clone()).await, 0);
}
