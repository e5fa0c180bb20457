//! Whatever a calendar or a notification holds, no title, place,
//! description, attendee or notification text reaches a report: the report
//! is built from random calendars and notifications and searched, as
//! protobuf bytes and as JSON, for every string that went in.

use jiff::{Timestamp, ToSpan};
use proptest::prelude::*;
use sobrio_agent::calendar::PersonMeetings;
use sobrio_agent::calendar::ics::{self, Reading};
use sobrio_agent::config::LocalSignals;
use sobrio_agent::probe::notifications::{Notified, categorize};
use sobrio_agent::pseudonyms::PseudonymBook;
use sobrio_agent::sampler::Snapshot;
use sobrio_agent::tally::Tally;
use sobrio_proto::Message;
use sobrio_proto::v1::Policy;

/// Text that could only come from the inputs: long, random, and marked.
fn secret() -> impl Strategy<Value = String> {
    "[A-Za-z0-9]{10,24}".prop_map(|s| format!("Zq{s}"))
}

#[derive(Debug, Clone)]
struct Event {
    title: String,
    place: String,
    description: String,
    attendee: String,
    organizer: String,
    day: i64,
    hour: i8,
    minutes: i64,
}

fn event() -> impl Strategy<Value = Event> {
    (
        secret(),
        secret(),
        secret(),
        secret(),
        secret(),
        1..5_i64,
        7..20_i8,
        5..180_i64,
    )
        .prop_map(
            |(title, place, description, attendee, organizer, day, hour, minutes)| Event {
                title,
                place,
                description,
                attendee: attendee.to_lowercase(),
                organizer: organizer.to_lowercase(),
                day,
                hour,
                minutes,
            },
        )
}

fn ics_text(events: &[Event], now: Timestamp) -> String {
    let mut text = String::from("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n");
    for (i, e) in events.iter().enumerate() {
        let start = now
            .to_zoned(jiff::tz::TimeZone::UTC)
            .date()
            .saturating_sub(e.day.days())
            .at(e.hour, 0, 0, 0)
            .to_zoned(jiff::tz::TimeZone::UTC)
            .unwrap();
        let end = start.saturating_add(e.minutes.minutes());
        let stamp = |z: &jiff::Zoned| z.strftime("%Y%m%dT%H%M%SZ").to_string();
        text += &format!(
            "BEGIN:VEVENT\r\nUID:{i}-{}\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:{}\r\nDTEND:{}\r\n\
             SUMMARY:{}\r\nLOCATION:{}\r\nDESCRIPTION:{}\r\n\
             ORGANIZER;CN={}:mailto:{}@example.org\r\n\
             ATTENDEE;CN={};PARTSTAT=ACCEPTED:mailto:{}@example.org\r\n\
             ATTENDEE;PARTSTAT=ACCEPTED:mailto:me@example.org\r\nEND:VEVENT\r\n",
            e.title,
            stamp(&start),
            stamp(&end),
            e.title,
            e.place,
            e.description,
            e.organizer,
            e.organizer,
            e.attendee,
            e.attendee,
        );
    }
    text + "END:VCALENDAR\r\n"
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    #[test]
    fn no_input_text_reaches_a_report(
        events in prop::collection::vec(event(), 1..6),
        apps in prop::collection::vec((secret(), secret(), 0..96_i64), 0..8),
    ) {
        let now = Timestamp::now();
        let text = ics_text(&events, now);
        let reading = Reading {
            addresses: vec!["me@example.org".into()],
            events_are_meetings: false,
        };
        let parsed = ics::meetings(
            &text,
            &reading,
            now.checked_sub(jiff::SignedDuration::from_hours(8 * 24)).unwrap(),
            now,
            &jiff::tz::TimeZone::system(),
        )
        .unwrap();
        prop_assert_eq!(parsed.meetings.len(), events.len(), "every event is a meeting");

        let mut tally = Tally::new(jiff::tz::TimeZone::system());
        for (app, _body, hours_ago) in &apps {
            // The monitor reads the application's name to categorize it; the
            // body never reaches the agent's counters at all.
            tally.record_notification(
                "me",
                Notified {
                    at_unix_ms: now.as_millisecond() - hours_ago * 3_600_000,
                    category: categorize(app),
                },
            );
        }
        tally.watch_notifications("me");
        // Days from five days ago, so that rows are due.
        tally.record_notification(
            "me",
            Notified {
                at_unix_ms: now.as_millisecond() - 5 * 86_400_000,
                category: categorize("mail"),
            },
        );
        tally.set_meetings(
            "me",
            PersonMeetings {
                meetings: parsed.meetings,
                problems: Vec::new(),
                read_any: true,
            },
        );
        let policy = Policy {
            pseudonym_public_key: b"collector public key".to_vec(),
            ..Policy::default()
        };
        let mut book = PseudonymBook::default();
        book.learn(
            b"collector public key",
            &["me".to_owned()],
            vec!["e".repeat(64)],
        );
        let report = sobrio_agent::report::encode(
            Snapshot::default(),
            &mut tally,
            &mut book,
            sobrio_proto::v1::ActivitySource::Unspecified,
            LocalSignals::default(),
            Some(&policy),
        );
        let rows = &report.digital_load.as_ref().expect("digital load").days;
        prop_assert!(
            rows.iter().any(|r| r.meeting_minutes.unwrap_or(0) > 0),
            "meetings were counted"
        );
        let bytes = report.encode_to_vec();
        let json = serde_json::to_string(&report).unwrap();
        let everything: Vec<&String> = events
            .iter()
            .flat_map(|e| [&e.title, &e.place, &e.description, &e.attendee, &e.organizer])
            .chain(apps.iter().flat_map(|(app, body, _)| [app, body]))
            .collect();
        for secret in everything {
            prop_assert!(!json.contains(secret.as_str()), "{} in the JSON report", secret);
            prop_assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "{} in the encoded report",
                secret
            );
        }
        prop_assert!(!json.contains("example.org"), "no address");
        prop_assert!(!json.contains("\"me\""), "no login");
    }
}
