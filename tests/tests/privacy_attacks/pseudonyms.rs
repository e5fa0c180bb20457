//! Pseudonyms end to end: a real agent obtains its people's pseudonyms from
//! a real collector without the collector seeing a login, reports their
//! days under them, is refused beyond its bound of people (and those days
//! stay on the device), and carries a person's history over from the keyed
//! hash that earlier collectors had devices compute.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use sobrio_agent::backoff::Jitter;
use sobrio_agent::config::AgentConfig;
use sobrio_agent::probe::notifications::{NotificationCategory, Notified};
use sobrio_agent::pseudonyms::keyed_hash;
use sobrio_agent::run::Agent;
use sobrio_proto::Message;
use sobrio_proto::v1::{DigitalLoad, PersonDay, Policy, Report};
use sobrio_tests::paused::{enrolled_agent, paused_runtime, real_runtime};
use sobrio_tests::{TestCollector, valid_report};

const DAY_MS: i64 = 86_400_000;

#[test]
fn an_agent_reports_under_oblivious_pseudonyms_within_its_bound_and_links_the_earlier_ones() {
    let real = real_runtime();
    let collector = real.block_on(TestCollector::start());
    let dir = tempfile::tempdir().unwrap();
    let (state, enrollment, bridge) = enrolled_agent(
        &real,
        &collector,
        &dir.path().join("state"),
        "pc-shared",
        Arc::new(AtomicBool::new(false)),
    );
    let device_id = enrollment.device_id.clone();
    let now = sobrio_collector::app::now_unix_ms();
    let three_days_ago = jiff::Timestamp::from_millisecond(now - 3 * DAY_MS)
        .unwrap()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date()
        .to_string();

    // Before the upgrade: the collector sent a hashing key, and the device
    // reported Alice under the hash.
    let old_key = b"the organisation's earlier key".to_vec();
    let alice_before = keyed_hash(&old_key, "alice");
    let earlier = Report {
        digital_load: Some(DigitalLoad {
            days: vec![PersonDay {
                person_id: alice_before.clone(),
                date: three_days_ago.clone(),
                active_minutes: Some(300),
                ..PersonDay::default()
            }],
            links: Vec::new(),
        }),
        ..valid_report()
    };
    let response = real
        .block_on(bridge.client.submit(vec![earlier.encode_to_vec()]))
        .unwrap();
    assert_eq!(response.accepted.len(), 1);
    state
        .save_policy(&Policy {
            version: 1,
            pseudonym_key: old_key,
            ..Policy::default()
        })
        .unwrap();

    let paused = paused_runtime();
    let report_json = paused.block_on(async {
        let mut agent = Agent::with_uplink(
            state.clone(),
            AgentConfig::default(),
            dir.path(),
            enrollment,
            bridge,
            Jitter::with_seed(3),
        )
        .unwrap();
        // The upgraded collector's policy: a public key, no hashing key.
        agent.collect().await;
        agent.deliver().await.unwrap();
        // Yesterday, three people had notifications on this device; its
        // bound is two people.
        let yesterday = now - DAY_MS;
        for login in ["alice", "bob", "carol"] {
            let tally = agent.tally_mut();
            tally.watch_notifications(login);
            tally.record_notification(
                login,
                Notified {
                    at_unix_ms: yesterday,
                    category: NotificationCategory::Mail,
                },
            );
        }
        agent.prepare_digital_load().await;
        let book = std::fs::read_to_string(state.path().join("pseudonyms.json")).unwrap();
        agent.collect().await;
        agent.deliver().await.unwrap();
        book
    });
    let shared = &collector.running.shared;
    let alice = shared.pseudonyms.pseudonym_of("alice").unwrap();
    let bob = shared.pseudonyms.pseudonym_of("bob").unwrap();
    assert!(report_json.contains(&alice) && report_json.contains(&bob));

    let rows = real
        .block_on(collector.store.person_day_rows("2000-01-01", "2100-01-01"))
        .unwrap();
    let mut people: Vec<(&str, String)> = rows
        .iter()
        .map(|r| (r.person_id.as_str(), r.day.to_string()))
        .collect();
    people.sort();
    // Alice's earlier day moved to her new pseudonym; Bob's day is there;
    // Carol, beyond the bound, was refused: her day never left the device.
    let expected_yesterday = jiff::Timestamp::from_millisecond(now - DAY_MS)
        .unwrap()
        .to_zoned(jiff::tz::TimeZone::system())
        .date()
        .to_string();
    let mut expected = vec![
        (alice.as_str(), three_days_ago),
        (alice.as_str(), expected_yesterday.clone()),
        (bob.as_str(), expected_yesterday),
    ];
    expected.sort();
    assert_eq!(people, expected);
    let carol = shared.pseudonyms.pseudonym_of("carol").unwrap();
    assert!(
        rows.iter()
            .all(|r| r.person_id != carol && r.person_id != alice_before)
    );

    let alerts = real.block_on(collector.store.privacy_alerts(10)).unwrap();
    assert!(
        alerts.iter().any(
            |(_, action, subject, _)| action == "privacy.pseudonym_bound_reached"
                && *subject == device_id
        ),
        "{alerts:?}"
    );
    let status = sobrio_agent::run::read_status(&state).unwrap();
    assert!(
        status
            .last_errors
            .iter()
            .any(|e| e.contains("pseudonyms refused")),
        "{status:?}"
    );
    real.block_on(collector.running.shutdown()).unwrap();
}
