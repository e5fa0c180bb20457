//! Digital-load indicators for HR, per department and ISO week and for the
//! organisation (`data/wellbeing_definitions.md`), with privacy enforced
//! here, where the data lives — not in the pages.
//!
//! # The privacy rule
//! - **Fixed groups only.** A release is one ISO week: one cell per
//!   department, one "other teams" cell, one organisation cell. No filter,
//!   window or export makes another group.
//! - **k people or nothing.** A cell is published only with at least k people
//!   (k ≥ 5). Departments under k merge into "other teams"; when that group
//!   is itself under k (but not empty), the smallest published departments
//!   join it until it reaches k — so the organisation cell minus the
//!   published departments is always a group of at least k people, never a
//!   small one (complementary suppression). Under k for the whole
//!   organisation, nothing is published.
//! - **No additive statistic of people's values.** Cells carry medians, the
//!   90th percentile and shares of people above cut points — never sums or
//!   means of hours — so that subtracting one cell from another (the
//!   organisation minus a department, week W minus week W+1 after someone
//!   left) yields no one's value. Counts of people are the only additive
//!   figures, and they concern groups of at least k.
//! - **Optional differential privacy** (`[indicators.differential_privacy]`):
//!   people counts and the counts behind shares get discrete Laplace noise
//!   with a budget per group and week ([`dp`]).
//!
//! Person-day rows are first merged across one person's devices (calendar
//! fields: the maximum, a calendar seen twice counts once; notifications:
//! the sum; calls and activity: the maximum).

pub mod dp;

use std::collections::BTreeMap;

use jiff::ToSpan;
use jiff::civil::{Date, ISOWeekDate, Weekday};
use serde::{Deserialize, Serialize};

/// The group of departments under k.
pub const OTHER_TEAMS: &str = "other teams";
/// The organisation's group.
pub const ORGANISATION: &str = "organisation";

/// One device's report of a person's day, with the device's department.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DeviceDay {
    pub person_id: String,
    pub day: Date,
    pub department: String,
    pub meeting_minutes: Option<i64>,
    pub conflicting_minutes: Option<i64>,
    pub back_to_back_count: Option<i64>,
    pub after_hours_meeting_minutes: Option<i64>,
    pub call_minutes: Option<i64>,
    pub notifications_total: Option<i64>,
    pub notifications_after_hours: Option<i64>,
    pub focus_minutes: Option<i64>,
    pub active_minutes: Option<i64>,
    pub after_hours_active_minutes: Option<i64>,
    pub weekend_active_minutes: Option<i64>,
}

fn max_of(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

fn sum_of(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a + b),
        (a, b) => a.or(b),
    }
}

/// Merges the rows of one person's day from several devices.
pub fn merge_day(rows: &[&DeviceDay]) -> DeviceDay {
    let mut merged = rows[0].clone();
    for row in &rows[1..] {
        merged.meeting_minutes = max_of(merged.meeting_minutes, row.meeting_minutes);
        merged.conflicting_minutes = max_of(merged.conflicting_minutes, row.conflicting_minutes);
        merged.back_to_back_count = max_of(merged.back_to_back_count, row.back_to_back_count);
        merged.after_hours_meeting_minutes = max_of(
            merged.after_hours_meeting_minutes,
            row.after_hours_meeting_minutes,
        );
        merged.focus_minutes = max_of(merged.focus_minutes, row.focus_minutes);
        merged.notifications_total = sum_of(merged.notifications_total, row.notifications_total);
        merged.notifications_after_hours = sum_of(
            merged.notifications_after_hours,
            row.notifications_after_hours,
        );
        merged.call_minutes = max_of(merged.call_minutes, row.call_minutes);
        merged.active_minutes = max_of(merged.active_minutes, row.active_minutes);
        merged.after_hours_active_minutes = max_of(
            merged.after_hours_active_minutes,
            row.after_hours_active_minutes,
        );
        merged.weekend_active_minutes =
            max_of(merged.weekend_active_minutes, row.weekend_active_minutes);
    }
    merged
}

/// One person's week, from their merged days.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PersonWeek {
    pub department: String,
    pub working_days: u32,
    pub meeting_hours: Option<f64>,
    pub conflicting_hours: Option<f64>,
    pub back_to_back: Option<f64>,
    pub after_hours_meeting_hours: Option<f64>,
    /// Outside working hours, meetings and activity (per day, the larger of
    /// the two: a floor on their union).
    pub after_hours_hours: Option<f64>,
    pub weekend_active_hours: Option<f64>,
    pub notifications_per_active_hour: Option<f64>,
    pub notifications_after_hours: Option<f64>,
    pub focus_hours: Option<f64>,
}

/// A person counts in a week with at least this many working-day rows.
pub const MIN_WORKING_DAYS: u32 = 3;

/// The ISO week `YYYY-Www` holding `day`.
pub fn week_of(day: Date) -> String {
    let iso = day.iso_week_date();
    format!("{:04}-W{:02}", iso.year(), iso.week())
}

/// The Monday of `YYYY-Www`.
///
/// # Errors
/// When the text is not an ISO week.
pub fn monday_of(week: &str) -> Result<Date, String> {
    let bad = || format!("invalid week {week:?}: expected YYYY-Www, e.g. 2026-W47");
    let (year, number) = week.split_once("-W").ok_or_else(bad)?;
    if year.len() != 4 || number.len() != 2 {
        return Err(bad());
    }
    let year: i16 = year.parse().map_err(|_| bad())?;
    let number: i8 = number.parse().map_err(|_| bad())?;
    ISOWeekDate::new(year, number, Weekday::Monday)
        .map(|d| d.date())
        .map_err(|_| bad())
}

/// People's weeks for the week starting `monday`: rows merged per person and
/// day, the person's department being the one of most of their rows.
/// `working` says which ISO weekdays (index 0 = Monday) a department works.
pub fn person_weeks(
    rows: &[DeviceDay],
    monday: Date,
    working: &dyn Fn(&str) -> [bool; 7],
) -> Vec<PersonWeek> {
    let sunday = monday.saturating_add(6.days());
    let mut by_person: BTreeMap<&str, BTreeMap<Date, Vec<&DeviceDay>>> = BTreeMap::new();
    for row in rows.iter().filter(|r| r.day >= monday && r.day <= sunday) {
        by_person
            .entry(row.person_id.as_str())
            .or_default()
            .entry(row.day)
            .or_default()
            .push(row);
    }
    let hours = |minutes: i64| {
        #[allow(clippy::cast_precision_loss)]
        let h = minutes as f64 / 60.0;
        h
    };
    let mut weeks = Vec::new();
    for days in by_person.values() {
        let mut departments: BTreeMap<&str, usize> = BTreeMap::new();
        for rows in days.values() {
            for row in rows {
                *departments.entry(row.department.as_str()).or_default() += 1;
            }
        }
        let department = departments
            .iter()
            .max_by(|a, b| a.1.cmp(b.1).then_with(|| b.0.cmp(a.0)))
            .map(|(d, _)| (*d).to_owned())
            .unwrap_or_default();
        let works = working(&department);
        let merged: Vec<DeviceDay> = days.values().map(|rows| merge_day(rows)).collect();
        let working_days = u32::try_from(
            merged
                .iter()
                .filter(|d| {
                    works[usize::from(d.day.weekday().to_monday_zero_offset().unsigned_abs())]
                })
                .count(),
        )
        .unwrap_or(0);
        let total = |field: fn(&DeviceDay) -> Option<i64>| -> Option<i64> {
            merged.iter().map(field).fold(None, sum_of)
        };
        let after_hours = merged
            .iter()
            .map(|d| {
                let activity = sum_of(d.after_hours_active_minutes, d.weekend_active_minutes);
                max_of(activity, d.after_hours_meeting_minutes)
            })
            .fold(None, sum_of);
        let notifications = total(|d| d.notifications_total);
        let active = total(|d| d.active_minutes);
        #[allow(clippy::cast_precision_loss)]
        let per_active_hour = match (notifications, active) {
            (Some(n), Some(a)) if a >= 60 => Some(n as f64 / hours(a)),
            _ => None,
        };
        #[allow(clippy::cast_precision_loss)]
        weeks.push(PersonWeek {
            department,
            working_days,
            meeting_hours: total(|d| d.meeting_minutes).map(hours),
            conflicting_hours: total(|d| d.conflicting_minutes).map(hours),
            back_to_back: total(|d| d.back_to_back_count).map(|c| c as f64),
            after_hours_meeting_hours: total(|d| d.after_hours_meeting_minutes).map(hours),
            after_hours_hours: after_hours.map(hours),
            weekend_active_hours: total(|d| d.weekend_active_minutes).map(hours),
            notifications_per_active_hour: per_active_hour,
            notifications_after_hours: total(|d| d.notifications_after_hours).map(|c| c as f64),
            focus_hours: total(|d| d.focus_minutes).map(hours),
        });
    }
    weeks
}

/// Nearest-rank percentile.
fn percentile(values: &mut [f64], p: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    let rank = ((p / 100.0) * values.len() as f64).ceil().max(1.0) as usize;
    Some(values[rank.min(values.len()) - 1])
}

fn round1(value: f64) -> f64 {
    (value * 10.0).round() / 10.0
}

fn round2(value: f64) -> f64 {
    (value * 100.0).round() / 100.0
}

/// Median and 90th percentile.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Spread {
    pub median: f64,
    pub p90: f64,
}

/// Change of a median against the mean of the previous 4 weeks' published
/// medians of the same group.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Trend {
    pub meeting_hours: Option<f64>,
    pub after_hours_hours: Option<f64>,
    pub focus_hours: Option<f64>,
}

/// The published figures of a cell.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    pub meeting_hours: Option<Spread>,
    /// Share of people above each cut point (hours per week).
    pub meeting_hours_share_above: BTreeMap<String, f64>,
    pub conflicting_hours_median: Option<f64>,
    pub back_to_back_median: Option<f64>,
    pub after_hours_hours: Option<Spread>,
    pub after_hours_share_above: BTreeMap<String, f64>,
    pub after_hours_meeting_hours_median: Option<f64>,
    pub weekend_active_hours_median: Option<f64>,
    pub notifications_per_active_hour_median: Option<f64>,
    pub notifications_after_hours_median: Option<f64>,
    pub focus_hours_median: Option<f64>,
    /// Share of people with fewer focus hours than the flag (10 h).
    pub focus_share_under: Option<f64>,
    pub trend: Trend,
    /// Cut points the group stayed above two weeks running.
    pub alerts: Vec<String>,
}

/// A group's cell; suppressed cells carry no figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cell {
    pub group: String,
    /// `null` when suppressed.
    pub people: Option<u64>,
    pub suppressed: bool,
    /// Why it is suppressed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<Metrics>,
}

/// `GET /api/v1/indicators?week=YYYY-Www`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Release {
    pub week: String,
    pub k: u32,
    pub organisation: Cell,
    pub departments: Vec<Cell>,
    /// Whether the counts carry differential-privacy noise.
    pub differential_privacy: bool,
}

/// The settings of a release: `[indicators]`.
pub type Settings = crate::config::IndicatorsConfig;

fn suppressed(group: &str, reason: &str) -> Cell {
    Cell {
        group: group.to_owned(),
        people: None,
        suppressed: true,
        reason: Some(reason.to_owned()),
        metrics: None,
    }
}

/// Noise on counts, when differential privacy is on.
pub trait CountNoise {
    fn count(&mut self, group: &str, value: u64) -> u64;
}

/// No noise.
pub struct Exact;

impl CountNoise for Exact {
    fn count(&mut self, _group: &str, value: u64) -> u64 {
        value
    }
}

/// Discrete Laplace noise on every count of a release, each count getting
/// an equal share of the release's ε; the ε each group spends is tracked
/// against its weekly budget.
pub struct DpNoise {
    mechanism: dp::Mechanism,
    per_count: f64,
    random: dp::OsRandom,
    spent: BTreeMap<String, f64>,
}

impl DpNoise {
    /// `epsilon` for each group's cell, shared by its `counts_per_cell`
    /// counts (sequential composition).
    ///
    /// # Errors
    /// An ε out of range, or no system random generator.
    pub fn new(epsilon: f64, counts_per_cell: usize) -> Result<Self, dp::DpError> {
        #[allow(clippy::cast_precision_loss)]
        let per_count = epsilon / counts_per_cell.max(1) as f64;
        Ok(Self {
            mechanism: dp::Mechanism::new(per_count, 1)?,
            per_count,
            random: dp::OsRandom::new()?,
            spent: BTreeMap::new(),
        })
    }

    /// The ε spent by each group.
    pub fn spent(&self) -> Vec<(String, f64)> {
        self.spent.iter().map(|(g, e)| (g.clone(), *e)).collect()
    }
}

impl CountNoise for DpNoise {
    fn count(&mut self, group: &str, value: u64) -> u64 {
        *self.spent.entry(group.to_owned()).or_default() += self.per_count;
        let noisy = self
            .mechanism
            .release(i64::try_from(value).unwrap_or(i64::MAX), &mut self.random);
        // Post-processing keeps the guarantee: a count is never negative.
        u64::try_from(noisy.max(0)).unwrap_or(0)
    }
}

/// Counts released per published cell: people, and for each share the
/// people it is over and those above (or under) each cut point.
pub fn counts_per_cell(settings: &Settings) -> usize {
    1 + (1 + settings.meeting_cut_points.len()) + (1 + settings.after_hours_cut_points.len()) + 2
}

fn cut_label(cut: f64) -> String {
    if cut.fract() == 0.0 {
        format!("{cut:.0}")
    } else {
        format!("{cut}")
    }
}

fn metrics(
    group: &str,
    people: &[&PersonWeek],
    settings: &Settings,
    noise: &mut dyn CountNoise,
) -> Metrics {
    let values = |field: fn(&PersonWeek) -> Option<f64>| -> Vec<f64> {
        people.iter().filter_map(|p| field(p)).collect()
    };
    let median =
        |field: fn(&PersonWeek) -> Option<f64>| percentile(&mut values(field), 50.0).map(round1);
    let spread = |field: fn(&PersonWeek) -> Option<f64>| {
        let mut v = values(field);
        Some(Spread {
            median: round1(percentile(&mut v, 50.0)?),
            p90: round1(percentile(&mut v, 90.0)?),
        })
    };
    let mut shares = |field: fn(&PersonWeek) -> Option<f64>, cuts: &[f64], above: bool| {
        let v = values(field);
        let mut out = BTreeMap::new();
        if v.is_empty() {
            return out;
        }
        let total = noise.count(group, v.len() as u64).max(1);
        for cut in cuts {
            let count = v
                .iter()
                .filter(|x| if above { **x > *cut } else { **x < *cut })
                .count() as u64;
            let noisy = noise.count(group, count).min(total);
            #[allow(clippy::cast_precision_loss)]
            out.insert(cut_label(*cut), round2(noisy as f64 / total as f64));
        }
        out
    };
    let meeting_hours_share_above = shares(|p| p.meeting_hours, &settings.meeting_cut_points, true);
    let after_hours_share_above = shares(
        |p| p.after_hours_hours,
        &settings.after_hours_cut_points,
        true,
    );
    let focus_share_under = shares(|p| p.focus_hours, &[settings.focus_flag_hours], false)
        .into_values()
        .next();
    Metrics {
        meeting_hours: spread(|p| p.meeting_hours),
        meeting_hours_share_above,
        conflicting_hours_median: median(|p| p.conflicting_hours),
        back_to_back_median: median(|p| p.back_to_back),
        after_hours_hours: spread(|p| p.after_hours_hours),
        after_hours_share_above,
        after_hours_meeting_hours_median: median(|p| p.after_hours_meeting_hours),
        weekend_active_hours_median: median(|p| p.weekend_active_hours),
        notifications_per_active_hour_median: median(|p| p.notifications_per_active_hour),
        notifications_after_hours_median: median(|p| p.notifications_after_hours),
        focus_hours_median: median(|p| p.focus_hours),
        focus_share_under,
        trend: Trend::default(),
        alerts: Vec::new(),
    }
}

/// The cells of one week, privacy applied. `departments` lists every
/// department with enrolled devices (so that empty ones show as suppressed).
pub fn release(
    week: &str,
    weeks: &[PersonWeek],
    departments: &[String],
    settings: &Settings,
    noise: &mut dyn CountNoise,
) -> Release {
    let k = u64::from(settings.k);
    let counted: Vec<&PersonWeek> = weeks
        .iter()
        .filter(|p| p.working_days >= MIN_WORKING_DAYS)
        .collect();
    let mut by_department: BTreeMap<&str, Vec<&PersonWeek>> = departments
        .iter()
        .map(|d| (d.as_str(), Vec::new()))
        .collect();
    for person in &counted {
        by_department
            .entry(person.department.as_str())
            .or_default()
            .push(person);
    }
    let total = counted.len() as u64;
    if total < k {
        return Release {
            week: week.to_owned(),
            k: settings.k,
            organisation: suppressed(ORGANISATION, &format!("fewer than {k} people")),
            departments: by_department
                .keys()
                .map(|d| suppressed(d, &format!("fewer than {k} people")))
                .chain(std::iter::once(suppressed(
                    OTHER_TEAMS,
                    &format!("fewer than {k} people"),
                )))
                .collect(),
            differential_privacy: false,
        };
    }
    // Departments under k go to "other teams"; while that group is small but
    // not empty, the smallest published departments join it.
    let mut published: Vec<(&str, usize)> = by_department
        .iter()
        .filter(|(_, people)| people.len() as u64 >= k)
        .map(|(d, people)| (*d, people.len()))
        .collect();
    let mut merged_in: Vec<&str> = Vec::new();
    let mut other: u64 = by_department
        .values()
        .filter(|people| (people.len() as u64) < k)
        .map(|people| people.len() as u64)
        .sum();
    while other > 0 && other < k && !published.is_empty() {
        published.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| b.0.cmp(a.0)));
        let (department, size) = published.pop().expect("not empty");
        merged_in.push(department);
        other += size as u64;
    }
    let published: Vec<&str> = published.into_iter().map(|(d, _)| d).collect();
    let mut cells = Vec::new();
    let mut other_people: Vec<&PersonWeek> = Vec::new();
    for (department, people) in &by_department {
        if published.contains(department) {
            cells.push(Cell {
                group: (*department).to_owned(),
                people: Some(noise.count(department, people.len() as u64)),
                suppressed: false,
                reason: None,
                metrics: Some(metrics(department, people, settings, noise)),
            });
        } else {
            other_people.extend(people.iter().copied());
            let reason = if merged_in.contains(department) {
                format!("merged into {OTHER_TEAMS}, so that no group under {k} can be derived")
            } else {
                format!("fewer than {k} people; counted in {OTHER_TEAMS}")
            };
            cells.push(suppressed(department, &reason));
        }
    }
    if other_people.is_empty() {
        // Nothing to hide, nothing to show.
    } else if other_people.len() as u64 >= k {
        cells.push(Cell {
            group: OTHER_TEAMS.to_owned(),
            people: Some(noise.count(OTHER_TEAMS, other_people.len() as u64)),
            suppressed: false,
            reason: None,
            metrics: Some(metrics(OTHER_TEAMS, &other_people, settings, noise)),
        });
    } else {
        cells.push(suppressed(OTHER_TEAMS, &format!("fewer than {k} people")));
    }
    Release {
        week: week.to_owned(),
        k: settings.k,
        organisation: Cell {
            group: ORGANISATION.to_owned(),
            people: Some(noise.count(ORGANISATION, total)),
            suppressed: false,
            reason: None,
            metrics: Some(metrics(ORGANISATION, &counted, settings, noise)),
        },
        departments: cells,
        differential_privacy: false,
    }
}

/// Adds trends and alerts from the same groups' earlier releases (the four
/// weeks before, oldest first).
pub fn with_history(mut current: Release, earlier: &[Release], settings: &Settings) -> Release {
    let find = |release: &Release, group: &str| -> Option<Metrics> {
        std::iter::once(&release.organisation)
            .chain(release.departments.iter())
            .find(|c| c.group == group)
            .and_then(|c| c.metrics.clone())
    };
    let apply = |cell: &mut Cell| {
        let group = cell.group.clone();
        let Some(metrics) = cell.metrics.as_mut() else {
            return;
        };
        let previous: Vec<Metrics> = earlier.iter().filter_map(|r| find(r, &group)).collect();
        let mean_delta = |now: Option<f64>, then: &dyn Fn(&Metrics) -> Option<f64>| {
            let past: Vec<f64> = previous.iter().filter_map(then).collect();
            #[allow(clippy::cast_precision_loss)]
            let mean = (!past.is_empty()).then(|| past.iter().sum::<f64>() / past.len() as f64);
            Some(round1(now? - mean?))
        };
        metrics.trend = Trend {
            meeting_hours: mean_delta(metrics.meeting_hours.map(|s| s.median), &|m| {
                m.meeting_hours.map(|s| s.median)
            }),
            after_hours_hours: mean_delta(metrics.after_hours_hours.map(|s| s.median), &|m| {
                m.after_hours_hours.map(|s| s.median)
            }),
            focus_hours: mean_delta(metrics.focus_hours_median, &|m| m.focus_hours_median),
        };
        let last = earlier.last().and_then(|r| find(r, &group));
        let above = |m: &Metrics, meeting: bool| {
            if meeting {
                m.meeting_hours
                    .is_some_and(|s| s.median > settings.alert_meeting_hours)
            } else {
                m.after_hours_hours
                    .is_some_and(|s| s.median > settings.alert_after_hours)
            }
        };
        let mut alerts = Vec::new();
        if let Some(last) = &last {
            if above(metrics, true) && above(last, true) {
                alerts.push(format!(
                    "meeting hours above {} h two weeks running",
                    cut_label(settings.alert_meeting_hours)
                ));
            }
            if above(metrics, false) && above(last, false) {
                alerts.push(format!(
                    "after-hours work above {} h two weeks running",
                    cut_label(settings.alert_after_hours)
                ));
            }
        }
        metrics.alerts = alerts;
    };
    apply(&mut current.organisation);
    for cell in &mut current.departments {
        apply(cell);
    }
    current
}

/// Each department's working weekdays, for counting working-day rows.
pub fn working_days(config: &crate::config::CollectorConfig) -> impl Fn(&str) -> [bool; 7] + '_ {
    move |department: &str| config.working_hours(department).days
}

/// Why indicators could not be released.
#[derive(Debug, thiserror::Error)]
pub enum IndicatorsError {
    #[error("{0}")]
    BadWeek(String),
    #[error("week {0} has not started yet")]
    Future(String),
    #[error(
        "week {0} is not complete: under differential privacy a week is released once, when it is over"
    )]
    NotComplete(String),
    #[error("the privacy budget of week {0} is spent: its release cannot be drawn again")]
    BudgetSpent(String),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

/// The release of `week` (`YYYY-Www`) on `today`: computed from the
/// person-day rows (with trends and alerts from the four weeks before), or,
/// under differential privacy, drawn once when the week is over and served
/// as drawn. A complete week is marked aggregated, so that its person-day
/// rows age out.
///
/// # Errors
/// A malformed or future week, an incomplete week or a spent budget under
/// differential privacy, or a database error.
pub async fn compute(
    store: &crate::store::Store,
    config: &crate::config::CollectorConfig,
    week: &str,
    today: Date,
) -> Result<Release, IndicatorsError> {
    let monday = monday_of(week).map_err(IndicatorsError::BadWeek)?;
    if monday > today {
        return Err(IndicatorsError::Future(week.to_owned()));
    }
    let complete = monday.saturating_add(7.days()) <= today;
    let dp = &config.indicators.differential_privacy;
    if dp.enabled {
        if let Some(json) = store.indicator_release(week).await? {
            return serde_json::from_str::<Release>(&json).map_err(|e| {
                IndicatorsError::Store(crate::store::StoreError::Corrupt(format!(
                    "indicator release: {e}"
                )))
            });
        }
        if !complete {
            return Err(IndicatorsError::NotComplete(week.to_owned()));
        }
    }
    let settings = &config.indicators;
    let first = monday.saturating_sub(28.days());
    let last = monday.saturating_add(6.days());
    let rows = store
        .person_day_rows(&first.to_string(), &last.to_string())
        .await?;
    let departments = store.department_names().await?;
    let working = working_days(config);
    let mut earlier = Vec::new();
    for back in (1..=4).rev() {
        let start = monday.saturating_sub((7 * back).days());
        let weeks = person_weeks(&rows, start, &working);
        earlier.push(release(
            &week_of(start),
            &weeks,
            &departments,
            settings,
            &mut Exact,
        ));
    }
    let weeks = person_weeks(&rows, monday, &working);
    let current = if dp.enabled {
        let mut noise = DpNoise::new(dp.epsilon, counts_per_cell(settings))
            .map_err(|e| IndicatorsError::BadWeek(e.to_string()))?;
        let mut drawn = release(week, &weeks, &departments, settings, &mut noise);
        drawn.differential_privacy = true;
        let drawn = with_history(drawn, &earlier, settings);
        let json = serde_json::to_string(&drawn).unwrap_or_default();
        if !store
            .keep_indicator_release(week, &json, &noise.spent(), dp.budget_per_week)
            .await?
        {
            return Err(IndicatorsError::BudgetSpent(week.to_owned()));
        }
        drawn
    } else {
        with_history(
            release(week, &weeks, &departments, settings, &mut Exact),
            &earlier,
            settings,
        )
    };
    if complete {
        let monday_time = time::Date::from_calendar_date(
            i32::from(monday.year()),
            time::Month::try_from(u8::try_from(monday.month()).unwrap_or(1))
                .unwrap_or(time::Month::January),
            u8::try_from(monday.day()).unwrap_or(1),
        )
        .map_err(|e| IndicatorsError::BadWeek(e.to_string()))?;
        store
            .mark_week_aggregated(monday_time, crate::store::now_unix_ms())
            .await?;
    }
    Ok(current)
}

#[cfg(test)]
mod tests;
