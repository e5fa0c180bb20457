//! Meeting load from a real-shaped ICS week: weekly recurrences with an
//! exception and a moved occurrence, series in UTC, Paris and New York
//! across Europe's daylight-saving change (Sunday 2026-10-25; New York
//! changes a week later), an Outlook time zone defined in the file, overlaps,
//! declined, transparent, cancelled and all-day events, a room booking, a
//! back-to-back pair and a focus block. Every expected value is worked out
//! by hand in the comments.

use jiff::Timestamp;
use jiff::civil::{Date, date};
use jiff::tz::TimeZone;
use sobrio_agent::calendar::day_spans;
use sobrio_agent::calendar::ics::{self, Reading};
use sobrio_agent::load::{DayHours, MeetingLoad, meeting_load};

const WEEK: &str = include_str!("fixtures/calendar/week-2026-W44.ics");

fn paris() -> TimeZone {
    TimeZone::get("Europe/Paris").expect("the system time zone database (tzdata)")
}

fn alice() -> Reading {
    Reading {
        addresses: vec!["alice@example.org".into()],
        events_are_meetings: false,
    }
}

fn instant(day: Date) -> Timestamp {
    day.to_zoned(paris()).unwrap().timestamp()
}

fn load_on(text: &str, reading: &Reading, day: Date) -> MeetingLoad {
    let parsed = ics::meetings(
        text,
        reading,
        instant(date(2026, 10, 19)),
        instant(date(2026, 11, 2)),
        &paris(),
    )
    .unwrap();
    let (spans, starting) = day_spans(&parsed.meetings, day, &paris());
    let working = day.weekday().to_monday_one_offset() <= 5;
    meeting_load(
        &spans,
        &starting,
        DayHours {
            working,
            start_minute: 9 * 60,
            end_minute: 18 * 60,
        },
        false,
    )
}

fn expected(
    meeting_minutes: i32,
    meeting_count: i32,
    conflicting_minutes: i32,
    back_to_back_count: i32,
    after_hours_meeting_minutes: i32,
    focus_minutes: Option<i32>,
) -> MeetingLoad {
    MeetingLoad {
        meeting_minutes,
        meeting_count,
        conflicting_minutes,
        back_to_back_count,
        after_hours_meeting_minutes,
        focus_minutes,
    }
}

#[test]
fn friday_before_the_clocks_change() {
    // Standup 08:00Z = 10:00–10:15 CEST. Focus: 09:00–10:00 is too short,
    // 10:15–18:00 = 465.
    assert_eq!(
        load_on(WEEK, &alice(), date(2026, 10, 23)),
        expected(15, 1, 0, 0, 0, Some(465))
    );
}

#[test]
fn saturday_meeting_is_after_hours() {
    assert_eq!(
        load_on(WEEK, &alice(), date(2026, 10, 24)),
        expected(60, 1, 0, 0, 60, None)
    );
}

#[test]
fn monday_after_the_change_moved_and_overlapping() {
    // Standup 08:00Z is now 09:00–09:15 CET. The weekly team meeting, moved
    // by its override from 10:00 to 14:00–15:00. New York's 09:00 EDT (New
    // York has not changed yet) = 13:00Z = 14:00–14:30 CET: a 30-minute
    // conflict. Union 15 + 60 = 75. Focus: 09:15–14:00 (285) + 15:00–18:00
    // (180) = 465.
    assert_eq!(
        load_on(WEEK, &alice(), date(2026, 10, 26)),
        expected(75, 3, 30, 0, 0, Some(465))
    );
}

#[test]
fn tuesday_declined_free_all_day_back_to_back_and_late() {
    // Standup 09:00–09:15; declined 11:00, transparent 13:00 and the all-day
    // offsite do not count; 15:00–15:30 then 15:35–16:00 (back-to-back,
    // 5 minutes apart); 18:30–19:30 after hours. Minutes 15 + 30 + 25 + 60 =
    // 130. Focus: 09:15–15:00 (345) + 16:00–18:00 (120) = 465.
    assert_eq!(
        load_on(WEEK, &alice(), date(2026, 10, 27)),
        expected(130, 4, 0, 1, 60, Some(465))
    );
}

#[test]
fn wednesday_focus_block_cancelled_and_an_outlook_time_zone() {
    // Standup 09:00–09:15; the focus block has nobody else and the review
    // is cancelled; "Romance Standard Time" 16:00–17:00 (the file's own
    // VTIMEZONE, CET now). Focus: 09:15–16:00 (405); 17:00–18:00 too short.
    assert_eq!(
        load_on(WEEK, &alice(), date(2026, 10, 28)),
        expected(75, 2, 0, 0, 0, Some(405))
    );
}

#[test]
fn thursday_exception_and_a_room_booking() {
    // The team meeting's Thursday occurrence is excluded (EXDATE); a room is
    // not another person. Standup only; focus 09:15–18:00 = 525.
    assert_eq!(
        load_on(WEEK, &alice(), date(2026, 10, 29)),
        expected(15, 1, 0, 0, 0, Some(525))
    );
}

#[test]
fn the_day_after_a_series_ends() {
    // The standup's 15 occurrences end on Friday 2026-11-06; the Monday
    // 2026-11-02 is outside the range read; Friday 30 keeps standup and is
    // the 10th occurrence.
    assert_eq!(
        load_on(WEEK, &alice(), date(2026, 10, 30)),
        expected(15, 1, 0, 0, 0, Some(525))
    );
}

#[test]
fn without_configured_addresses_two_distinct_people_make_a_meeting() {
    // Same answers: every meeting above has two distinct addresses among
    // organiser and attendees, the focus block and the room booking only
    // Alice. The declined vendor pitch cannot be recognised as declined
    // without knowing Alice's address: it counts (11:00–12:00).
    let anyone = Reading::default();
    assert_eq!(
        load_on(WEEK, &anyone, date(2026, 10, 28)),
        expected(75, 2, 0, 0, 0, Some(405))
    );
    assert_eq!(
        load_on(WEEK, &anyone, date(2026, 10, 27)).meeting_minutes,
        130 + 60
    );
}

#[test]
fn a_feed_without_attendees_counts_busy_timed_events_when_told() {
    let stripped: String = WEEK
        .lines()
        .filter(|l| {
            !l.starts_with("ATTENDEE") && !l.starts_with("ORGANIZER") && !l.starts_with(' ')
        })
        .map(|l| format!("{l}\n"))
        .collect();
    // Nothing is a meeting without attendees…
    assert_eq!(
        load_on(&stripped, &alice(), date(2026, 10, 28)).meeting_count,
        0
    );
    // …unless the source says its events are meetings: standup 09:00–09:15
    // inside the focus block 09:00–11:00 (busy: a 15-minute conflict), the
    // Outlook committee 16:00–17:00; the cancelled review still does not
    // count. Union 120 + 60; focus 11:00–16:00 = 300.
    let told = Reading {
        events_are_meetings: true,
        ..alice()
    };
    assert_eq!(
        load_on(&stripped, &told, date(2026, 10, 28)),
        expected(180, 3, 15, 0, 0, Some(300))
    );
}

#[test]
fn the_same_invitation_in_two_sources_counts_once() {
    let parsed = ics::meetings(
        WEEK,
        &alice(),
        instant(date(2026, 10, 27)),
        instant(date(2026, 10, 28)),
        &paris(),
    )
    .unwrap();
    let mut twice = parsed.meetings.clone();
    twice.extend(parsed.meetings.iter().cloned());
    twice.sort_unstable_by_key(|m| m.key);
    twice.dedup_by_key(|m| m.key);
    assert_eq!(twice.len(), parsed.meetings.len());
    assert_eq!(parsed.meetings.len(), 4);
}

#[test]
fn broken_input_is_an_error_or_a_skipped_event_never_a_panic() {
    assert_eq!(
        ics::meetings("hello", &alice(), Timestamp::MIN, Timestamp::MAX, &paris()),
        Err(ics::IcsError::Syntax { line: 1 })
    );
    let bad_rule = "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:x\r\nDTSTART:20261027T100000Z\r\nDTEND:20261027T110000Z\r\nRRULE:FREQ=HOURLY\r\nORGANIZER:mailto:a@x\r\nATTENDEE:mailto:b@x\r\nEND:VEVENT\r\nBEGIN:VEVENT\r\nUID:y\r\nDTSTART:garbage\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
    let parsed = ics::meetings(
        bad_rule,
        &Reading::default(),
        instant(date(2026, 10, 27)),
        instant(date(2026, 10, 28)),
        &paris(),
    )
    .unwrap();
    // The unsupported rule keeps its first occurrence, and says so.
    assert_eq!(parsed.meetings.len(), 1);
    assert_eq!(
        parsed.skipped.keys().cloned().collect::<Vec<_>>(),
        [
            "event without a valid start",
            "recurrence skipped: the recurrence rule part FREQ=HOURLY is not supported"
        ]
    );
}

#[test]
fn an_outlook_time_zone_comes_from_the_file_not_the_device() {
    // Read on a device in UTC: "Romance Standard Time" 16:00 on 28 October is
    // 15:00Z by the file's VTIMEZONE (UTC+1 after the last Sunday of October).
    let parsed = ics::meetings(
        WEEK,
        &alice(),
        "2026-10-28T15:00:00Z".parse().unwrap(),
        "2026-10-28T15:01:00Z".parse().unwrap(),
        &TimeZone::UTC,
    )
    .unwrap();
    assert!(parsed.skipped.is_empty(), "{:?}", parsed.skipped);
    assert_eq!(parsed.meetings.len(), 1);
    assert_eq!(parsed.meetings[0].start.to_string(), "2026-10-28T15:00:00Z");
}
