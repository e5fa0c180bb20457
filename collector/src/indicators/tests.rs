//! Indicators worked out by hand on a small fleet, the merge across one
//! person's devices, and the attacks the privacy rule stops.

use jiff::ToSpan;
use jiff::civil::{Date, date};
use proptest::prelude::*;

use super::*;

/// Monday 2026-11-16, ISO week 2026-W47.
const MONDAY: Date = date(2026, 11, 16);

fn settings() -> Settings {
    Settings::default()
}

fn weekdays(_: &str) -> [bool; 7] {
    [true, true, true, true, true, false, false]
}

/// A person's Monday-to-Friday rows on one device, `minutes` of meetings a
/// day, `focus` minutes of focus a day.
fn week_rows(
    person: &str,
    department: &str,
    monday: Date,
    meeting: i64,
    focus: i64,
) -> Vec<DeviceDay> {
    (0..5)
        .map(|d| DeviceDay {
            person_id: person.into(),
            day: monday.saturating_add(d.days()),
            device_id: format!("dev-{person}"),
            department: department.into(),
            meeting_minutes: Some(meeting),
            conflicting_minutes: Some(0),
            back_to_back_count: Some(1),
            after_hours_meeting_minutes: Some(0),
            call_minutes: Some(0),
            notifications_total: Some(40),
            notifications_after_hours: Some(2),
            focus_minutes: Some(focus),
            active_minutes: Some(400),
            after_hours_active_minutes: Some(12),
            weekend_active_minutes: Some(0),
        })
        .collect()
}

fn publish(rows: &[DeviceDay], departments: &[&str], monday: Date) -> Release {
    let weeks = person_weeks(rows, monday, &first_seen_homes(rows), &weekdays);
    let departments: Vec<String> = departments.iter().map(|d| (*d).to_owned()).collect();
    release(
        &week_of(monday),
        &weeks,
        &departments,
        &settings(),
        &mut Exact,
    )
}

fn cell<'a>(release: &'a Release, group: &str) -> &'a Cell {
    release
        .departments
        .iter()
        .find(|c| c.group == group)
        .unwrap_or_else(|| panic!("no cell {group}: {release:#?}"))
}

#[test]
fn a_department_of_five_worked_out_by_hand() {
    // Meeting minutes a day: 60, 120, 180, 240, 0 → 5, 10, 15, 20, 0 h a
    // week. Sorted 0, 5, 10, 15, 20: median (rank ⌈2.5⌉ = 3) 10 h, p90
    // (rank ⌈4.5⌉ = 5) 20 h; above 5 h: 3 of 5, above 10 h: 2, above 15 h: 1.
    // Focus 90, 150, 120, 0, 300 minutes a day → 7.5, 12.5, 10, 0, 25 h: median
    // 10 h, under 10 h: 7.5 and 0 → 2 of 5. Notifications 200 a week over
    // 2000 active minutes: 6 an active hour.
    let mut rows = Vec::new();
    for (i, (meeting, focus)) in [(60, 90), (120, 150), (180, 120), (240, 0), (0, 300)]
        .iter()
        .enumerate()
    {
        rows.extend(week_rows(
            &format!("p{i}"),
            "Sales",
            MONDAY,
            *meeting,
            *focus,
        ));
    }
    let release = publish(&rows, &["Sales"], MONDAY);
    assert_eq!(release.week, "2026-W47");
    let sales = cell(&release, "Sales");
    assert_eq!(sales.people, Some(5));
    let m = sales.metrics.as_ref().unwrap();
    assert_eq!(
        m.meeting_hours,
        Some(Spread {
            median: 10.0,
            p90: 20.0
        })
    );
    assert_eq!(
        m.meeting_hours_share_above,
        BTreeMap::from([("5".into(), 0.6), ("10".into(), 0.4), ("15".into(), 0.2)])
    );
    assert_eq!(m.focus_hours_median, Some(10.0));
    assert_eq!(m.focus_share_under, Some(0.4));
    assert_eq!(m.back_to_back_median, Some(5.0));
    assert_eq!(m.notifications_per_active_hour_median, Some(6.0));
    assert_eq!(m.notifications_after_hours_median, Some(10.0));
    // After hours: 12 minutes a day → 1 h a week each; none above 1 h.
    assert_eq!(
        m.after_hours_hours,
        Some(Spread {
            median: 1.0,
            p90: 1.0
        })
    );
    assert_eq!(m.after_hours_share_above["1"], 0.0);
    assert_eq!(release.organisation.people, Some(5));
}

#[test]
fn one_persons_devices_are_merged_before_counting() {
    // The same calendar on a laptop and a desktop counts once (maximum);
    // notifications from both add up; activity takes the larger.
    let laptop = week_rows("p0", "Sales", MONDAY, 120, 60);
    let mut desktop = week_rows("p0", "Sales", MONDAY, 90, 60);
    for day in &mut desktop {
        day.device_id = "desktop-p0".into();
        day.notifications_total = Some(10);
        day.active_minutes = Some(500);
    }
    let both: Vec<DeviceDay> = laptop.into_iter().chain(desktop).collect();
    let weeks = person_weeks(&both, MONDAY, &first_seen_homes(&both), &weekdays);
    assert_eq!(weeks.len(), 1);
    let week = &weeks[0];
    assert_eq!(week.working_days, 5);
    assert_eq!(week.meeting_hours, Some(10.0));
    // (40 + 10) × 5 = 250 notifications over 5 × 500 minutes = 41.67 h.
    assert!((week.notifications_per_active_hour.unwrap() - 6.0).abs() < 1e-9);
}

#[test]
fn a_person_with_fewer_than_three_working_days_is_not_counted() {
    let mut rows: Vec<DeviceDay> = (0..5)
        .flat_map(|i| week_rows(&format!("p{i}"), "Sales", MONDAY, 60, 60))
        .collect();
    rows.extend(week_rows("p5", "Sales", MONDAY, 60, 60).into_iter().take(2));
    let release = publish(&rows, &["Sales"], MONDAY);
    assert_eq!(cell(&release, "Sales").people, Some(5));
}

#[test]
fn attack_a_department_of_four_is_suppressed_and_cannot_be_derived() {
    let mut rows: Vec<DeviceDay> = (0..4)
        .flat_map(|i| week_rows(&format!("legal-{i}"), "Legal", MONDAY, 600, 0))
        .collect();
    rows.extend((0..6).flat_map(|i| week_rows(&format!("sales-{i}"), "Sales", MONDAY, 60, 300)));
    let release = publish(&rows, &["Legal", "Sales"], MONDAY);
    let legal = cell(&release, "Legal");
    assert!(legal.suppressed && legal.people.is_none() && legal.metrics.is_none());
    // "Other teams" would hold Legal's 4 alone: Sales joins it, so that the
    // organisation minus the published cells is never a group under 5.
    let sales = cell(&release, "Sales");
    assert!(sales.suppressed, "{sales:?}");
    assert!(sales.reason.as_deref().unwrap().contains("merged"));
    let other = cell(&release, OTHER_TEAMS);
    assert_eq!(other.people, Some(10));
    assert_eq!(release.organisation.people, Some(10));
    let json = serde_json::to_value(legal).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"group": "Legal", "people": null, "suppressed": true,
            "reason": "fewer than 5 people on 5 devices; counted in other teams"}),
        "a suppressed cell carries no figure"
    );
}

#[test]
fn attack_a_department_of_five_where_one_person_leaves_the_next_week() {
    let next = MONDAY.saturating_add(7.days());
    let mut rows: Vec<DeviceDay> = (0..5)
        .flat_map(|i| week_rows(&format!("p{i}"), "Legal", MONDAY, 60 * (i + 1), 0))
        .collect();
    rows.extend((0..4).flat_map(|i| week_rows(&format!("p{i}"), "Legal", next, 60 * (i + 1), 0)));
    let before = publish(&rows, &["Legal"], MONDAY);
    let after = publish(&rows, &["Legal"], next);
    assert_eq!(cell(&before, "Legal").people, Some(5));
    assert!(cell(&after, "Legal").suppressed);
    assert!(
        after.organisation.suppressed,
        "4 people in the whole organisation"
    );
    // Week W publishes no sum or mean that week W+1 could be subtracted from:
    // only medians, percentiles and shares.
    let json = serde_json::to_string(&before).unwrap();
    for additive in ["sum", "mean", "total_hours"] {
        assert!(!json.contains(additive), "{additive} in {json}");
    }
}

fn person_week(n: usize, department: usize, meeting: f64, working_days: u32) -> PersonWeek {
    PersonWeek {
        department: ["A", "B", "C", "D"][department].into(),
        home_device: format!("dev-{n}"),
        working_days,
        meeting_hours: Some(meeting),
        focus_hours: Some(20.0 - meeting.min(20.0)),
        after_hours_hours: Some(meeting / 10.0),
        ..PersonWeek::default()
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]
    /// Two overlapping groups — the organisation and its departments — never
    /// let a group under k be derived: whatever the sizes, the published
    /// department-level cells add up to the organisation, and every published
    /// cell has at least k people.
    #[test]
    fn attack_overlapping_groups_never_isolate_fewer_than_k(
        people in prop::collection::vec((0..4_usize, 0.0..30.0_f64, 0..6_u32), 0..40),
    ) {
        let weeks: Vec<PersonWeek> =
            people.iter().enumerate().map(|(n, (d, m, w))| person_week(n, *d, *m, *w)).collect();
        let departments: Vec<String> = ["A", "B", "C", "D"].iter().map(|d| (*d).to_owned()).collect();
        let release = release("2026-W47", &weeks, &departments, &settings(), &mut Exact);
        let published: u64 = release
            .departments
            .iter()
            .filter_map(|c| c.people)
            .sum();
        match release.organisation.people {
            Some(total) => {
                prop_assert!(total >= 5);
                prop_assert_eq!(published, total, "{:?}", release);
            }
            None => prop_assert_eq!(published, 0),
        }
        for c in std::iter::once(&release.organisation).chain(release.departments.iter()) {
            if c.suppressed {
                prop_assert!(c.people.is_none() && c.metrics.is_none());
            } else {
                prop_assert!(c.people.unwrap() >= 5);
            }
        }
    }
}

#[test]
fn trends_compare_with_the_four_weeks_before_and_alerts_need_two_weeks_running() {
    let mut rows = Vec::new();
    // Meeting hours a week: 10 h for four weeks, then 20 h twice.
    for (back, meeting) in [(5, 120), (4, 120), (3, 120), (2, 120), (1, 240), (0, 240)] {
        let monday = MONDAY.saturating_sub((7 * back).days());
        rows.extend((0..5).flat_map(|i| week_rows(&format!("p{i}"), "Sales", monday, meeting, 0)));
    }
    let history: Vec<Release> = (1..=4)
        .rev()
        .map(|back| publish(&rows, &["Sales"], MONDAY.saturating_sub((7 * back).days())))
        .collect();
    let current = with_history(publish(&rows, &["Sales"], MONDAY), &history, &settings());
    let m = cell(&current, "Sales").metrics.clone().unwrap();
    // Now 20 h; before: 10, 10, 10, 20 → mean 12.5; +7.5.
    assert_eq!(m.trend.meeting_hours, Some(7.5));
    assert_eq!(m.alerts, ["meeting hours above 15 h two weeks running"]);
    let last_week = with_history(history[3].clone(), &history[..3], &settings());
    assert!(
        cell(&last_week, "Sales")
            .metrics
            .as_ref()
            .unwrap()
            .alerts
            .is_empty(),
        "one week above is not yet an alert"
    );
}

#[test]
fn weeks_are_iso_weeks_and_bad_ones_are_refused() {
    assert_eq!(monday_of("2026-W47").unwrap(), MONDAY);
    assert_eq!(week_of(date(2027, 1, 1)), "2026-W53");
    for bad in [
        "2026-47",
        "2026-W",
        "W47",
        "2026-W99",
        "2026-W47; DROP",
        "2026-W+5",
        "2026-W4 ",
        "../2026-W47",
    ] {
        assert!(monday_of(bad).is_err(), "{bad}");
    }
}

#[test]
fn under_differential_privacy_counts_are_noisy_and_each_group_spends_its_epsilon() {
    let rows: Vec<DeviceDay> = (0..40)
        .flat_map(|i| week_rows(&format!("p{i}"), "Sales", MONDAY, 60 * (i % 7), 60))
        .collect();
    let weeks = person_weeks(&rows, MONDAY, &first_seen_homes(&rows), &weekdays);
    let settings = settings();
    // A seeded generator: the draws are the same at every run. With ε = 1
    // over the cell's 22 figures, a count's noise has a standard deviation
    // of about 31.
    let random = Box::new(dp::SplitMix64(47));
    assert_eq!(figures_per_cell(&settings), 22);
    let mut noise = DpNoise::with_random(1.0, figures_per_cell(&settings), random).unwrap();
    let exact = release("2026-W47", &weeks, &["Sales".into()], &settings, &mut Exact);
    let exact_median = cell(&exact, "Sales")
        .metrics
        .as_ref()
        .unwrap()
        .meeting_hours
        .unwrap()
        .median;
    let (mut drawn, mut medians) = (Vec::new(), Vec::new());
    for _ in 0..20 {
        let release = release("2026-W47", &weeks, &["Sales".into()], &settings, &mut noise);
        let sales = cell(&release, "Sales");
        drawn.push(sales.people.unwrap());
        let spread = sales.metrics.as_ref().unwrap().meeting_hours.unwrap();
        assert!(spread.p90 >= spread.median, "{spread:?}");
        medians.push(spread.median);
    }
    assert!(
        drawn.iter().any(|p| *p != 40),
        "noise on the people count: {drawn:?}"
    );
    assert!(drawn.iter().all(|p| p.abs_diff(40) < 150), "{drawn:?}");
    // Medians are noisy too, drawn on the public half-hour grid.
    assert!(
        medians.iter().any(|m| *m != exact_median),
        "noise on the median ({exact_median}): {medians:?}"
    );
    assert!(
        medians
            .iter()
            .all(|m| (m * 2.0).fract() == 0.0 && (0.0..=80.0).contains(m))
    );
    // Twenty releases of Sales and of the organisation, ε = 1 each.
    for (group, spent) in noise.spent() {
        assert!((spent - 20.0).abs() < 1e-6, "{group} spent {spent}");
    }
}

#[test]
fn attack_rows_without_figures_neither_count_nor_move_a_person() {
    // The victim works in Legal on their own laptop. Two devices enrolled in
    // another department send the victim's pseudonym with empty and zero
    // rows, beside invented people: the victim stays in Legal, and the
    // empty rows count nobody.
    let mut rows: Vec<DeviceDay> = week_rows("victim", "Legal", MONDAY, 600, 30);
    rows.extend((0..6).flat_map(|i| week_rows(&format!("sales-{i}"), "Sales", MONDAY, 60, 300)));
    for (device, empty) in [("attacker-1", true), ("attacker-2", false)] {
        for mut row in week_rows("victim", "Attack", MONDAY.saturating_sub(7.days()), 0, 0) {
            row.device_id = device.into();
            row.day = row.day.saturating_add(7.days());
            let zero = if empty { None } else { Some(0) };
            row.meeting_minutes = zero;
            row.conflicting_minutes = zero;
            row.back_to_back_count = zero;
            row.after_hours_meeting_minutes = zero;
            row.call_minutes = zero;
            row.notifications_total = zero;
            row.notifications_after_hours = zero;
            row.focus_minutes = zero;
            row.active_minutes = zero;
            row.after_hours_active_minutes = zero;
            row.weekend_active_minutes = zero;
            rows.push(row);
        }
    }
    let homes = first_seen_homes(&rows);
    assert_eq!(homes["victim"].department, "Legal");
    let weeks = person_weeks(&rows, MONDAY, &homes, &weekdays);
    let victim: Vec<&PersonWeek> = weeks.iter().filter(|w| w.department != "Sales").collect();
    assert_eq!(victim.len(), 1);
    assert_eq!(victim[0].department, "Legal");
    assert_eq!(victim[0].meeting_hours, Some(50.0));
    let release = publish(&rows, &["Attack", "Legal", "Sales"], MONDAY);
    assert!(cell(&release, "Attack").suppressed);
    assert_eq!(release.organisation.people, Some(7));
}

#[test]
fn attack_one_device_cannot_fill_a_group_with_invented_people() {
    // Five people, but all on two devices: not five independent witnesses.
    let mut rows: Vec<DeviceDay> = Vec::new();
    for i in 0..5 {
        for mut row in week_rows(&format!("invented-{i}"), "Attack", MONDAY, 60 * i, 0) {
            row.device_id = format!("attacker-{}", i % 2);
            rows.push(row);
        }
    }
    rows.extend((0..6).flat_map(|i| week_rows(&format!("sales-{i}"), "Sales", MONDAY, 60, 300)));
    let release = publish(&rows, &["Attack", "Sales"], MONDAY);
    let attack = cell(&release, "Attack");
    assert!(attack.suppressed, "{attack:?}");
    assert_eq!(
        attack.reason.as_deref(),
        Some("fewer than 5 people on 5 devices; counted in other teams")
    );
}
