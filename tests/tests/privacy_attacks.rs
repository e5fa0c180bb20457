//! Attacks on one person's digital load, played end to end as an insider
//! would: devices enrolled over gRPC with real enrollment tokens send crafted
//! reports, and HR reads the indicators through the API. Each attack must
//! fail. PRIVACY.md lists the threat model and which test covers which
//! defence.

#[path = "privacy_attacks/pseudonyms.rs"]
mod pseudonyms;

use std::time::Duration;

use sobrio_collector::indicators::Week;
use sobrio_proto::Message;
use sobrio_proto::v1::{DigitalLoad, PersonDay, PseudonymLink, Report};
use sobrio_tests::{TestCollector, TestDevice, http_request, user_token, valid_report};

/// The week attacked: one the collector has not published yet although it
/// is due, so that HR's first view publishes it. At start the collector's
/// job publishes the latest week due and the four before it; this is older.
fn attacked_week() -> Week {
    let today = jiff::Zoned::now().date();
    let settings = sobrio_collector::indicators::Settings::default();
    sobrio_collector::indicators::latest_published(today, &settings).before(6)
}

/// An invented person: an id of the right shape (64 hex digits). The
/// collector cannot tell it from a pseudonym it evaluated (it never sees
/// which logins it evaluates), so invented people need no evaluation.
fn invented(name: &str) -> String {
    let digest = sobrio_collector::secret::sha256(name);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// The pseudonym of `login`, obtained by `device` from the collector.
async fn pseudonym(device: &TestDevice, login: &str) -> String {
    device
        .pseudonyms(&[login])
        .await
        .expect("within the device's bound")
        .remove(0)
}

/// Monday to Friday of `week` for `person`, with these meeting, after-hours
/// and focus minutes a day, 420 active minutes and 30 notifications
/// (`None`: rows with no figure at all; `(0, 0, 0)`: every figure zero).
fn days(week: Week, person_id: &str, figures: Option<(i32, i32, i32)>) -> Vec<PersonDay> {
    (0..5)
        .map(|d| {
            let date = week.monday().saturating_add(jiff::Span::new().days(d));
            let mut day = PersonDay {
                person_id: person_id.to_owned(),
                date: date.to_string(),
                ..PersonDay::default()
            };
            if let Some((meeting, after_hours, focus)) = figures {
                day.meeting_minutes = Some(meeting);
                day.meeting_count = Some(2);
                day.conflicting_minutes = Some(0);
                day.back_to_back_count = Some(0);
                day.after_hours_meeting_minutes = Some(0);
                day.focus_minutes = Some(focus);
                let nothing = (meeting, after_hours, focus) == (0, 0, 0);
                day.active_minutes = Some(if nothing { 0 } else { 420 });
                day.after_hours_active_minutes = Some(after_hours);
                day.weekend_active_minutes = Some(0);
                day.notifications_total = Some(if nothing { 0 } else { 30 });
                day.notifications_after_hours = Some(if nothing { 0 } else { 2 });
                day.meeting_count = Some(if nothing { 0 } else { 2 });
            }
            day
        })
        .collect()
}

/// Sends one report carrying `days`; returns whether it was accepted.
async fn send(device: &TestDevice, days: Vec<PersonDay>) -> bool {
    send_with_links(device, days, &[]).await
}

/// HR's view of `week` through the API: status and body.
fn indicators(collector: &TestCollector, token: &str, week: &str) -> (u16, String) {
    let auth = format!("Bearer {token}");
    http_request(
        &collector.running.http_addr.to_string(),
        "GET",
        &format!("/api/v1/indicators?week={week}"),
        &[("Authorization", &auth)],
        "",
    )
}

fn cell(release: &serde_json::Value, group: &str) -> serde_json::Value {
    release["departments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["group"] == group)
        .unwrap_or_else(|| panic!("no {group} in {release:#}"))
        .clone()
}

/// The organisation the attacks run against: six people in Sales on their
/// own laptops, and the victim alone in Legal on theirs. They all reported
/// before the attacker's devices were enrolled. Returns the victim's
/// pseudonym.
async fn organisation(collector: &TestCollector, week: Week) -> String {
    for i in 0..6 {
        let device = collector.enroll("Sales", &format!("sales-{i}")).await;
        let minutes = 60 * (i + 1);
        let person = pseudonym(&device, &format!("sales{i}")).await;
        assert!(send(&device, days(week, &person, Some((minutes, 10, 120)))).await);
    }
    let laptop = collector.enroll("Legal", "victim-laptop").await;
    let victim = pseudonym(&laptop, "victim").await;
    // The victim: 10 h of meetings a day, 2 h after hours, no focus time.
    assert!(send(&laptop, days(week, &victim, Some((600, 120, 0)))).await);
    victim
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_computing_colleagues_pseudonyms_is_bounded_and_flagged() {
    let collector = TestCollector::start().await;
    // No policy carries a key with which a device could compute anyone's
    // pseudonym on its own.
    let device = collector.enroll("Attack", "attacker").await;
    let policy = device.client.get_policy().await.unwrap();
    assert!(
        policy.pseudonym_key.is_empty(),
        "a shared secret left the collector"
    );
    assert_eq!(policy.pseudonym_public_key.len(), 32);

    // A malformed request is refused and costs nothing.
    let status = device
        .client
        .evaluate_pseudonyms(vec![vec![0xff; 32]])
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
    assert!(status.message().contains("element 0"), "{status:?}");

    // Within its bound (two people), a device obtains pseudonyms — the
    // same any other device obtains for the same login.
    let ids = device.pseudonyms(&["victim", "colleague-1"]).await.unwrap();
    let laptop = collector.enroll("Legal", "victim-laptop").await;
    assert_eq!(ids[0], pseudonym(&laptop, "Victim").await);
    // Beyond it, every further evaluation is refused and flagged.
    for login in ["colleague-2", "colleague-3"] {
        let status = device.pseudonyms(&[login]).await.unwrap_err();
        assert_eq!(status.code(), tonic::Code::ResourceExhausted, "{status:?}");
        assert!(
            status.message().contains("2 of the 2 pseudonyms"),
            "{status:?}"
        );
    }
    let alerts = collector.store.privacy_alerts(10).await.unwrap();
    let flagged: Vec<_> = alerts
        .iter()
        .filter(|(_, action, subject, _)| {
            action == "privacy.pseudonym_bound_reached" && *subject == device.id
        })
        .collect();
    assert_eq!(flagged.len(), 1, "flagged once a week: {alerts:?}");
    // Every evaluation granted is in the audit log.
    let audit = collector.store.audit_log(50).await.unwrap();
    let granted = audit
        .iter()
        .filter(|(_, _, action, subject, _)| {
            action == "pseudonym.evaluated" && *subject == device.id
        })
        .count();
    assert_eq!(granted, 1);
    collector.running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_moving_the_victim_into_a_group_of_invented_people_fails() {
    let collector = TestCollector::start().await;
    let week = attacked_week();
    let victim = organisation(&collector, week).await;

    // The insider holds an enrollment token for a department of their own
    // and enrolls two devices with it.
    let token = collector
        .token("Attack", Duration::from_secs(3600), None)
        .await;
    let first = collector
        .enroll_with_token(&token, "attacker-1")
        .await
        .unwrap();
    let second = collector
        .enroll_with_token(&token, "attacker-2")
        .await
        .unwrap();
    // Each obtains the victim's pseudonym (within its bound) and sends it
    // with empty rows (first) or rows of zeros (second), to pull the victim
    // into "Attack" without changing their figures, and two invented people
    // at the extremes, so that the median of the five would be the
    // victim's.
    assert_eq!(pseudonym(&first, "victim").await, victim);
    assert_eq!(pseudonym(&second, "victim").await, victim);
    let mut rows = days(week, &victim, None);
    rows.extend(days(week, &invented("0"), Some((0, 0, 480))));
    rows.extend(days(week, &invented("1"), Some((0, 0, 480))));
    assert!(send(&first, rows).await);
    let mut rows = days(week, &victim, Some((0, 0, 0)));
    rows.extend(days(week, &invented("2"), Some((900, 600, 0))));
    rows.extend(days(week, &invented("3"), Some((900, 600, 0))));
    assert!(send(&second, rows).await);
    // A third invented person on the first device: beyond its bound of two.
    assert!(send(&first, days(week, &invented("4"), Some((0, 0, 480)))).await);

    let data = collector.dir.path().to_str().unwrap().to_owned();
    let hr = user_token(&data, "hana", "hr");
    let (status, body) = indicators(&collector, &hr, &week.to_string());
    assert_eq!(status, 200, "{body}");
    let release: serde_json::Value = serde_json::from_str(&body).unwrap();

    // Four invented people on two devices make no group; the victim was not
    // moved, and Legal alone is suppressed as before.
    for group in ["Attack", "Legal"] {
        let c = cell(&release, group);
        assert_eq!(c["suppressed"], true, "{group} published: {c:#}");
        assert!(c["people"].is_null(), "{c:#}");
    }
    // What is published mixes the victim with at least the six of Sales:
    // no published median equals the victim's 50 h of meetings.
    let mut published = vec![release["organisation"].clone()];
    published.extend(
        release["departments"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["suppressed"] == false)
            .cloned(),
    );
    for c in &published {
        assert!(c["people"].as_u64().unwrap() >= 5, "{c:#}");
        assert_ne!(c["meeting_hours"]["median"], 50.0, "{c:#}");
    }
    // The organisation counts the victim, the six of Sales and the four
    // invented people within the bounds; the fifth was not stored.
    assert_eq!(release["organisation"]["people"], 11, "{body}");

    // The device over its bound is flagged for the administrator.
    let alerts = collector.store.privacy_alerts(10).await.unwrap();
    assert!(
        alerts.iter().any(
            |(_, action, subject, detail)| action == "privacy.device_over_bound"
                && *subject == first.id
                && detail.contains(&week.to_string())
        ),
        "{alerts:?}"
    );
    collector.running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_a_late_report_never_changes_a_published_week() {
    let collector = TestCollector::start().await;
    let week = attacked_week();
    organisation(&collector, week).await;
    let data = collector.dir.path().to_str().unwrap().to_owned();
    let hr = user_token(&data, "hana", "hr");
    let (status, first) = indicators(&collector, &hr, &week.to_string());
    assert_eq!(status, 200, "{first}");

    // One more person of Sales reports late, and an existing one sends
    // different figures: the published week stays as it was.
    let late = collector.enroll("Sales", "sales-late").await;
    let person = pseudonym(&late, "sales-late").await;
    assert!(send(&late, days(week, &person, Some((660, 150, 0)))).await);
    let (status, again) = indicators(&collector, &hr, &week.to_string());
    assert_eq!(status, 200);
    assert_eq!(first, again, "a published week changed");

    // The current week is never served, nor one still in its grace period.
    let today = jiff::Zoned::now().date();
    let current = Week::containing(today).to_string();
    let (status, body) = indicators(&collector, &hr, &current);
    assert_eq!(status, 409, "{body}");
    assert!(body.contains("not published yet"), "{body}");

    // A week has one spelling: another is refused, not a second release.
    let number = week.to_string()[6..].parse::<u8>().unwrap();
    let year = &week.to_string()[..4];
    for spelling in [
        format!("{year}-W+{number}"),
        format!("{year}-W{number:03}"),
        format!("{year}-w{number:02}"),
        format!("{year}-W{number:02}%20"),
    ] {
        let (status, body) = indicators(&collector, &hr, &spelling);
        assert_eq!(status, 400, "{spelling}: {body}");
    }
    // Every view is audited under the canonical week.
    let audit = collector.store.audit_log(50).await.unwrap();
    let views: Vec<&str> = audit
        .iter()
        .filter(|(_, _, action, _, _)| action == "indicators.view")
        .map(|(_, _, _, subject, _)| subject.as_str())
        .collect();
    assert_eq!(views, [week.to_string(), week.to_string()]);
    collector.running.shutdown().await.unwrap();
}

/// Sends one report carrying `days` and pseudonym `links`; returns whether
/// it was accepted.
async fn send_with_links(
    device: &TestDevice,
    days: Vec<PersonDay>,
    links: &[(&str, &str)],
) -> bool {
    let report = Report {
        digital_load: Some(DigitalLoad {
            days,
            links: links
                .iter()
                .map(|(previous, current)| PseudonymLink {
                    previous_id: (*previous).to_owned(),
                    person_id: (*current).to_owned(),
                })
                .collect(),
        }),
        ..valid_report()
    };
    let id = report.report_id.clone();
    let response = device
        .client
        .submit(vec![report.encode_to_vec()])
        .await
        .expect("the collector answers");
    assert!(response.rejected.is_empty(), "{:?}", response.rejected);
    response.accepted.contains(&id)
}

/// Each stored person-day of `week`: (person, day).
async fn stored_days(collector: &TestCollector, week: Week) -> Vec<(String, String)> {
    let mut rows: Vec<(String, String)> = collector
        .store
        .person_day_rows(&week.monday().to_string(), &week.sunday().to_string())
        .await
        .unwrap()
        .into_iter()
        .map(|row| (row.person_id, row.day.to_string()))
        .collect();
    rows.sort();
    rows
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_s_history_follows_their_new_pseudonym_and_no_one_else_can_take_it() {
    let collector = TestCollector::start().await;
    let week = attacked_week();
    // Before oblivious pseudonyms: each laptop reported its person under a
    // keyed hash every device could compute.
    let laptop = collector.enroll("Legal", "alice-laptop").await;
    let other = collector.enroll("Legal", "bob-laptop").await;
    let (alice_before, bob_before) = (invented("alice, keyed hash"), invented("bob, keyed hash"));
    assert!(send(&laptop, days(week, &alice_before, Some((60, 0, 120)))).await);
    assert!(send(&other, days(week, &bob_before, Some((90, 0, 60)))).await);

    // An insider's device links Bob's earlier pseudonym to one of its own
    // invention, to take over his history: it never reported Bob, so the
    // link counts for nothing.
    let attacker = collector.enroll("Attack", "attacker").await;
    assert!(send_with_links(&attacker, Vec::new(), &[(&bob_before, &invented("mine"))]).await);
    assert_eq!(
        collector.store.pseudonym_link(&bob_before).await.unwrap(),
        None
    );

    // Alice's laptop, upgraded, obtains her new pseudonym and links it.
    let alice = pseudonym(&laptop, "alice").await;
    assert!(send_with_links(&laptop, Vec::new(), &[(&alice_before, &alice)]).await);
    assert_eq!(
        collector
            .store
            .pseudonym_link(&alice_before)
            .await
            .unwrap()
            .as_deref(),
        Some(alice.as_str())
    );
    let rows = stored_days(&collector, week).await;
    assert_eq!(
        rows.iter().filter(|(p, _)| *p == alice).count(),
        5,
        "{rows:?}"
    );
    assert!(rows.iter().all(|(p, _)| *p != alice_before), "{rows:?}");
    assert_eq!(rows.iter().filter(|(p, _)| *p == bob_before).count(), 5);

    // A second link of the same earlier pseudonym, elsewhere, is refused
    // and flagged; the history stays where the first link put it.
    let stolen = invented("stolen");
    assert!(send_with_links(&laptop, Vec::new(), &[(&alice_before, &stolen)]).await);
    assert_eq!(
        collector
            .store
            .pseudonym_link(&alice_before)
            .await
            .unwrap()
            .as_deref(),
        Some(alice.as_str())
    );
    assert!(
        stored_days(&collector, week)
            .await
            .iter()
            .all(|(p, _)| *p != stolen)
    );
    let alerts = collector.store.privacy_alerts(10).await.unwrap();
    assert!(
        alerts.iter().any(
            |(_, action, subject, _)| action == "privacy.pseudonym_link_refused"
                && *subject == laptop.id
        ),
        "{alerts:?}"
    );
    collector.running.shutdown().await.unwrap();
}
