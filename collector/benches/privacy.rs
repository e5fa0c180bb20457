//! What differential privacy costs in accuracy: a department of 10 people,
//! its week released many times with noise at several ε per cell, each
//! figure's error printed beside the exact release (differential privacy
//! off), which is the peer. The figures decide whether differential
//! privacy can be on by default (BENCHMARKS.md).
//!
//! `cargo bench -p sobrio-collector --bench privacy` (`SOBRIO_BENCH_QUICK=1`:
//! fewer draws).

use std::time::Instant;

use sobrio_collector::indicators::Settings;
use sobrio_collector::indicators::{
    DpNoise, Exact, Metrics, PersonWeek, Release, figures_per_cell, release,
};

/// A department of 10, as a week of theirs could look: hours of meetings,
/// hours outside working hours, focus hours.
fn department() -> Vec<PersonWeek> {
    let meetings = [3.5, 6.0, 7.5, 9.0, 10.5, 12.0, 14.0, 15.5, 18.0, 24.0];
    let after_hours = [0.0, 0.5, 1.0, 1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 6.0];
    let focus = [2.0, 3.5, 5.0, 6.0, 7.5, 8.0, 9.5, 11.0, 12.0, 15.0];
    (0..10)
        .map(|i| PersonWeek {
            department: "Support".into(),
            home_device: format!("laptop-{i}"),
            working_days: 5,
            meeting_hours: Some(meetings[i]),
            conflicting_hours: Some(meetings[i] / 10.0),
            back_to_back: Some((i % 4) as f64),
            after_hours_meeting_hours: Some(after_hours[i] / 2.0),
            after_hours_hours: Some(after_hours[i]),
            weekend_active_hours: Some(after_hours[i] / 3.0),
            notifications_per_active_hour: Some(2.0 + i as f64),
            notifications_after_hours: Some(5.0 * i as f64),
            focus_hours: Some(focus[i]),
        })
        .collect()
}

fn support(release: &Release) -> (u64, Metrics) {
    let cell = release
        .departments
        .iter()
        .find(|c| c.group == "Support")
        .expect("Support is published");
    (cell.people.unwrap(), cell.metrics.clone().unwrap())
}

/// Mean absolute errors against the exact release.
#[derive(Default)]
struct Errors {
    people: f64,
    meeting_median: f64,
    meeting_p90: f64,
    after_hours_median: f64,
    focus_median: f64,
    share_above_10: f64,
}

fn main() {
    let quick = std::env::var_os("SOBRIO_BENCH_QUICK").is_some();
    let draws = if quick { 200 } else { 2_000 };
    let settings = Settings::default();
    let weeks = department();
    let departments = vec!["Support".to_owned()];
    let started = Instant::now();
    let exact = release("2026-W47", &weeks, &departments, &settings, &mut Exact);
    let exact_time = started.elapsed();
    let (people, truth) = support(&exact);
    let meeting = truth.meeting_hours.unwrap();
    println!(
        "department of {people}: meeting hours median {} h, p90 {} h; after hours median {} h; \
         focus median {} h; share above 10 h of meetings {}",
        meeting.median,
        meeting.p90,
        truth.after_hours_hours.unwrap().median,
        truth.focus_hours_median.unwrap(),
        truth.meeting_hours_share_above["10"],
    );
    println!(
        "{} figures per cell share its ε; {draws} releases per ε; mean absolute error of each figure",
        figures_per_cell(&settings)
    );
    println!(
        "{:>14} {:>9} {:>13} {:>11} {:>13} {:>12} {:>13} {:>11}",
        "ε per cell",
        "people",
        "meeting med",
        "meeting p90",
        "after-h med",
        "focus med",
        "share >10 h",
        "µs/release"
    );
    println!(
        "{:>14} {:>9.2} {:>13.2} {:>11.2} {:>13.2} {:>12.2} {:>13.3} {:>11.0}",
        "off (exact)",
        0.0,
        0.0,
        0.0,
        0.0,
        0.0,
        0.0,
        exact_time.as_secs_f64() * 1e6
    );
    for epsilon in [1.0, 2.0, 5.0, 10.0, 20.0, 50.0] {
        let mut noise = DpNoise::new(epsilon, figures_per_cell(&settings)).unwrap();
        let mut errors = Errors::default();
        let started = Instant::now();
        for _ in 0..draws {
            let drawn = release("2026-W47", &weeks, &departments, &settings, &mut noise);
            let (p, m) = support(&drawn);
            let spread = m.meeting_hours.unwrap();
            errors.people += p.abs_diff(people) as f64;
            errors.meeting_median += (spread.median - meeting.median).abs();
            errors.meeting_p90 += (spread.p90 - meeting.p90).abs();
            errors.after_hours_median += (m.after_hours_hours.unwrap().median
                - truth.after_hours_hours.unwrap().median)
                .abs();
            errors.focus_median +=
                (m.focus_hours_median.unwrap() - truth.focus_hours_median.unwrap()).abs();
            errors.share_above_10 +=
                (m.meeting_hours_share_above["10"] - truth.meeting_hours_share_above["10"]).abs();
        }
        let per_release = started.elapsed().as_secs_f64() * 1e6 / f64::from(draws);
        let n = f64::from(draws);
        println!(
            "{:>14} {:>9.2} {:>13.2} {:>11.2} {:>13.2} {:>12.2} {:>13.3} {:>11.0}",
            epsilon,
            errors.people / n,
            errors.meeting_median / n,
            errors.meeting_p90 / n,
            errors.after_hours_median / n,
            errors.focus_median / n,
            errors.share_above_10 / n,
            per_release
        );
    }
}
