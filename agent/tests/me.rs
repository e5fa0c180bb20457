//! `sobrio-agent me`, run as a person would: their week from a calendar
//! given on the command line and the days the agent kept for them.

use std::process::Command;

fn me(state: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_sobrio-agent"))
        .args(["--state-dir", state.to_str().unwrap(), "me"])
        .args(args)
        .env("TZ", "Europe/Paris")
        .env("SOBRIO_LOG", "warn")
        .output()
        .expect("the agent runs")
}

#[test]
fn a_week_from_a_calendar_file_as_json_and_as_a_table() {
    let state = tempfile::tempdir().unwrap();
    let calendar = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/calendar/week-2026-W44.ics"
    );
    let output = me(
        state.path(),
        &["--json", "--week", "2026-W44", "--calendar", calendar],
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let days: Vec<serde_json::Value> = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(days.len(), 7);
    let tuesday = &days[1];
    assert_eq!(tuesday["date"], "2026-10-27");
    // No address configured: two distinct people make a meeting, so the
    // declined pitch counts (see the calendar tests): 130 + 60 minutes.
    assert_eq!(tuesday["meeting_minutes"], 190);
    assert_eq!(tuesday["back_to_back_count"], 1);
    assert_eq!(tuesday["after_hours_meeting_minutes"], 60);
    assert!(tuesday.get("person_id").is_none(), "no pseudonym shown");
    // No agent ran: activity, calls and notifications are unknown, not 0.
    assert!(tuesday["active_minutes"].is_null());
    assert!(tuesday["notifications_total"].is_null());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("no activity recorded"), "{stderr}");
    assert_eq!(days[5]["date"], "2026-10-31");
    assert_eq!(
        days[5]["meeting_minutes"], 0,
        "read, and empty: 0, not null"
    );
    assert!(
        days[5]["focus_minutes"].is_null(),
        "no focus time on a weekend"
    );

    let table = me(
        state.path(),
        &["--week", "2026-W44", "--calendar", calendar],
    );
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(
        text.contains("2026-10-27") && text.contains("3h10"),
        "{text}"
    );
    assert!(!text.contains("Interview"), "no title is ever shown");
}

#[test]
fn a_bad_week_is_refused_with_the_expected_form() {
    let state = tempfile::tempdir().unwrap();
    let output = me(state.path(), &["--week", "2026-48"]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("expected YYYY-Www"), "{stderr}");
}
