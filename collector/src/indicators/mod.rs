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
mod settings;
pub mod week;

use std::collections::{BTreeMap, BTreeSet};

use jiff::ToSpan;
use jiff::civil::Date;
use serde::{Deserialize, Serialize};

pub use settings::{DifferentialPrivacy, DifferentialPrivacyConfig, IndicatorsConfig, Settings};
pub use week::Week;

/// The group of departments under k.
pub const OTHER_TEAMS: &str = "other teams";
/// The organisation's group.
pub const ORGANISATION: &str = "organisation";

/// One device's report of a person's day, with the device's department.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DeviceDay {
    pub person_id: String,
    pub day: Date,
    /// The device that reported it.
    pub device_id: String,
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

impl DeviceDay {
    /// Whether the row carries some figure above zero; others never count
    /// (see [`crate::store::PersonDayRow::has_figures`]).
    pub fn has_figures(&self) -> bool {
        [
            self.meeting_minutes,
            self.conflicting_minutes,
            self.back_to_back_count,
            self.after_hours_meeting_minutes,
            self.call_minutes,
            self.notifications_total,
            self.notifications_after_hours,
            self.focus_minutes,
            self.active_minutes,
            self.after_hours_active_minutes,
            self.weekend_active_minutes,
        ]
        .into_iter()
        .any(|value| value.is_some_and(|v| v > 0))
    }
}

/// Where a person is counted: their home device, and its department.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Home {
    pub device_id: String,
    pub department: String,
}

/// Homes from rows alone, for computations without a store: each person's
/// home is the device of their earliest row with figures (then the
/// smallest device id). The store decides on arrival times instead
/// ([`crate::store::Store::person_homes`]).
pub fn first_seen_homes(rows: &[DeviceDay]) -> BTreeMap<String, Home> {
    let mut homes: BTreeMap<String, (Date, &DeviceDay)> = BTreeMap::new();
    for row in rows.iter().filter(|r| r.has_figures()) {
        let earlier = homes.get(&row.person_id).is_none_or(|(day, home)| {
            (row.day, row.device_id.as_str()) < (*day, home.device_id.as_str())
        });
        if earlier {
            homes.insert(row.person_id.clone(), (row.day, row));
        }
    }
    homes
        .into_iter()
        .map(|(person, (_, row))| {
            (
                person,
                Home {
                    device_id: row.device_id.clone(),
                    department: row.department.clone(),
                },
            )
        })
        .collect()
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
    /// The device that places the person in their group: a group is
    /// published only with people from at least k distinct home devices.
    pub home_device: String,
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
    Week::containing(day).to_string()
}

/// The Monday of `YYYY-Www`, parsed strictly ([`Week`]).
///
/// # Errors
/// When the text is not an ISO week.
pub fn monday_of(week: &str) -> Result<Date, String> {
    week.parse::<Week>()
        .map(Week::monday)
        .map_err(|e| e.to_string())
}

/// People's weeks for the week starting `monday`: rows with figures
/// merged per person and day, each person in the department of their home
/// device (`homes`; people without one are left out). Rows without figures
/// are ignored: they neither count a person nor move one.
/// `working` says which ISO weekdays (index 0 = Monday) a department works.
pub fn person_weeks(
    rows: &[DeviceDay],
    monday: Date,
    homes: &BTreeMap<String, Home>,
    working: &dyn Fn(&str) -> [bool; 7],
) -> Vec<PersonWeek> {
    let sunday = monday.saturating_add(6.days());
    let mut by_person: BTreeMap<&str, BTreeMap<Date, Vec<&DeviceDay>>> = BTreeMap::new();
    for row in rows
        .iter()
        .filter(|r| r.day >= monday && r.day <= sunday && r.has_figures())
    {
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
    for (person, days) in &by_person {
        let Some(home) = homes.get(*person) else {
            continue;
        };
        let department = home.department.clone();
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
            home_device: home.device_id.clone(),
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

fn suppressed(group: &str, reason: &str) -> Cell {
    Cell {
        group: group.to_owned(),
        people: None,
        suppressed: true,
        reason: Some(reason.to_owned()),
        metrics: None,
    }
}

/// How a release's figures are drawn: exactly, or with
/// differential-privacy noise.
pub trait Noise {
    /// A count of people.
    fn count(&mut self, group: &str, value: u64) -> u64;
    /// The `q` quantile (`0 < q ≤ 1`, nearest rank) of people's values,
    /// on `grid` when noisy.
    fn quantile(&mut self, group: &str, values: &mut [f64], q: f64, grid: dp::Grid) -> Option<f64>;
}

/// No noise.
pub struct Exact;

impl Noise for Exact {
    fn count(&mut self, _group: &str, value: u64) -> u64 {
        value
    }

    fn quantile(
        &mut self,
        _group: &str,
        values: &mut [f64],
        q: f64,
        _grid: dp::Grid,
    ) -> Option<f64> {
        percentile(values, q * 100.0)
    }
}

/// Hours a week: 0 to 80 h by half hours.
const HOURS_GRID: dp::Grid = dp::Grid {
    step: 0.5,
    steps: 160,
};
/// Back-to-back meetings a week: 0 to 100.
const COUNT_GRID: dp::Grid = dp::Grid {
    step: 1.0,
    steps: 100,
};
/// Notifications per active hour: 0 to 60 by halves.
const RATE_GRID: dp::Grid = dp::Grid {
    step: 0.5,
    steps: 120,
};
/// Notifications after hours a week: 0 to 1,000 by fives.
const NOTIFICATIONS_GRID: dp::Grid = dp::Grid {
    step: 5.0,
    steps: 200,
};

/// Differential-privacy noise on every figure of a release: discrete
/// Laplace noise on counts, the exponential mechanism on medians and 90th
/// percentiles (on public grids: [`HOURS_GRID`] and the like), each figure
/// getting an equal share of the cell's ε; the ε each group spends is
/// tracked against its weekly budget.
pub struct DpNoise {
    mechanism: dp::Mechanism,
    quantiles: dp::QuantileMechanism,
    per_count: f64,
    /// The operating system's generator for releases; a seeded one in tests,
    /// so that what they check does not depend on luck.
    random: Box<dyn dp::RandomSource + Send>,
    spent: BTreeMap<String, f64>,
}

impl DpNoise {
    /// `epsilon` for each group's cell, shared by its `figures_per_cell`
    /// figures (sequential composition).
    ///
    /// # Errors
    /// An ε out of range, or no system random generator.
    pub fn new(epsilon: f64, figures_per_cell: usize) -> Result<Self, dp::DpError> {
        Self::with_random(epsilon, figures_per_cell, Box::new(dp::OsRandom::new()?))
    }

    /// As [`DpNoise::new`], drawing from `random`.
    ///
    /// # Errors
    /// An ε out of range.
    pub fn with_random(
        epsilon: f64,
        figures_per_cell: usize,
        random: Box<dyn dp::RandomSource + Send>,
    ) -> Result<Self, dp::DpError> {
        #[allow(clippy::cast_precision_loss)]
        let per_count = epsilon / figures_per_cell.max(1) as f64;
        Ok(Self {
            mechanism: dp::Mechanism::new(per_count, 1)?,
            quantiles: dp::QuantileMechanism::new(per_count)?,
            per_count,
            random,
            spent: BTreeMap::new(),
        })
    }

    /// The ε spent by each group.
    pub fn spent(&self) -> Vec<(String, f64)> {
        self.spent.iter().map(|(g, e)| (g.clone(), *e)).collect()
    }
}

impl Noise for DpNoise {
    fn count(&mut self, group: &str, value: u64) -> u64 {
        *self.spent.entry(group.to_owned()).or_default() += self.per_count;
        let noisy = self.mechanism.release(
            i64::try_from(value).unwrap_or(i64::MAX),
            self.random.as_mut(),
        );
        // Post-processing keeps the guarantee: a count is never negative.
        u64::try_from(noisy.max(0)).unwrap_or(0)
    }

    fn quantile(&mut self, group: &str, values: &mut [f64], q: f64, grid: dp::Grid) -> Option<f64> {
        if values.is_empty() {
            return None;
        }
        *self.spent.entry(group.to_owned()).or_default() += self.per_count;
        self.quantiles
            .release(values, q, grid, self.random.as_mut())
    }
}

/// Figures released per published cell, each spending its share of the
/// cell's ε: the count of people; for each share the people it is over
/// and those above (or under) each cut point; two spreads (median and 90th
/// percentile) and seven medians.
pub fn figures_per_cell(settings: &Settings) -> usize {
    let counts = 1
        + (1 + settings.meeting_cut_points.len())
        + (1 + settings.after_hours_cut_points.len())
        + 2;
    counts + 2 * 2 + 7
}

fn cut_label(cut: f64) -> String {
    if cut.fract() == 0.0 {
        format!("{cut:.0}")
    } else {
        format!("{cut}")
    }
}

type Field = fn(&PersonWeek) -> Option<f64>;

fn metrics(
    group: &str,
    people: &[&PersonWeek],
    settings: &Settings,
    noise: &mut dyn Noise,
) -> Metrics {
    let values = |field: Field| -> Vec<f64> { people.iter().filter_map(|p| field(p)).collect() };
    let mut median = |field: Field, grid: dp::Grid| {
        noise
            .quantile(group, &mut values(field), 0.5, grid)
            .map(round1)
    };
    let conflicting_hours_median = median(|p| p.conflicting_hours, HOURS_GRID);
    let back_to_back_median = median(|p| p.back_to_back, COUNT_GRID);
    let after_hours_meeting_hours_median = median(|p| p.after_hours_meeting_hours, HOURS_GRID);
    let weekend_active_hours_median = median(|p| p.weekend_active_hours, HOURS_GRID);
    let notifications_per_active_hour_median =
        median(|p| p.notifications_per_active_hour, RATE_GRID);
    let notifications_after_hours_median =
        median(|p| p.notifications_after_hours, NOTIFICATIONS_GRID);
    let focus_hours_median = median(|p| p.focus_hours, HOURS_GRID);
    let mut spread = |field: Field| {
        let mut v = values(field);
        let median = noise.quantile(group, &mut v, 0.5, HOURS_GRID)?;
        let p90 = noise.quantile(group, &mut v, 0.9, HOURS_GRID)?;
        Some(Spread {
            median: round1(median),
            // Drawn apart, the two may cross: the 90th percentile is never
            // below the median (post-processing).
            p90: round1(p90.max(median)),
        })
    };
    let meeting_hours = spread(|p| p.meeting_hours);
    let after_hours_hours = spread(|p| p.after_hours_hours);
    let mut shares = |field: Field, cuts: &[f64], above: bool| {
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
        meeting_hours,
        meeting_hours_share_above,
        conflicting_hours_median,
        back_to_back_median,
        after_hours_hours,
        after_hours_share_above,
        after_hours_meeting_hours_median,
        weekend_active_hours_median,
        notifications_per_active_hour_median,
        notifications_after_hours_median,
        focus_hours_median,
        focus_share_under,
        trend: Trend::default(),
        alerts: Vec::new(),
    }
}

/// Whether a group is large enough to publish: at least k people, from at
/// least k distinct home devices — so that one device, or a few, cannot
/// fill a group with people it invented.
fn enough(people: &[&PersonWeek], k: u64) -> bool {
    let devices: BTreeSet<&str> = people.iter().map(|p| p.home_device.as_str()).collect();
    people.len() as u64 >= k && devices.len() as u64 >= k
}

/// The cells of one week, privacy applied. `departments` lists every
/// department with enrolled devices (so that empty ones show as suppressed).
pub fn release(
    week: &str,
    weeks: &[PersonWeek],
    departments: &[String],
    settings: &Settings,
    noise: &mut dyn Noise,
) -> Release {
    let k = u64::from(settings.k);
    let under_k = format!("fewer than {k} people on {k} devices");
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
    if !enough(&counted, k) {
        return Release {
            week: week.to_owned(),
            k: settings.k,
            organisation: suppressed(ORGANISATION, &under_k),
            departments: by_department
                .keys()
                .map(|d| suppressed(d, &under_k))
                .chain(std::iter::once(suppressed(OTHER_TEAMS, &under_k)))
                .collect(),
            differential_privacy: false,
        };
    }
    // Departments under k go to "other teams"; while that group is small but
    // not empty, the smallest published departments join it.
    let mut published: Vec<(&str, usize)> = by_department
        .iter()
        .filter(|(_, people)| enough(people, k))
        .map(|(d, people)| (*d, people.len()))
        .collect();
    let mut merged_in: Vec<&str> = Vec::new();
    let mut other: Vec<&PersonWeek> = by_department
        .values()
        .filter(|people| !enough(people, k))
        .flatten()
        .copied()
        .collect();
    while !other.is_empty() && !enough(&other, k) && !published.is_empty() {
        published.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| b.0.cmp(a.0)));
        let (department, _) = published.pop().expect("not empty");
        merged_in.push(department);
        other.extend(by_department[department].iter().copied());
    }
    let published: Vec<&str> = published.into_iter().map(|(d, _)| d).collect();
    let mut cells = Vec::new();
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
            let reason = if merged_in.contains(department) {
                format!("merged into {OTHER_TEAMS}, so that no group under {k} can be derived")
            } else {
                format!("{under_k}; counted in {OTHER_TEAMS}")
            };
            cells.push(suppressed(department, &reason));
        }
    }
    if other.is_empty() {
        // Nothing to hide, nothing to show.
    } else if enough(&other, k) {
        cells.push(Cell {
            group: OTHER_TEAMS.to_owned(),
            people: Some(noise.count(OTHER_TEAMS, other.len() as u64)),
            suppressed: false,
            reason: None,
            metrics: Some(metrics(OTHER_TEAMS, &other, settings, noise)),
        });
    } else {
        cells.push(suppressed(OTHER_TEAMS, &under_k));
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

/// The first day `week` may be published: `publish_after_days` after it
/// ends.
pub fn publication_day(week: Week, settings: &Settings) -> Date {
    week.next()
        .monday()
        .saturating_add(i64::from(settings.publish_after_days).days())
}

/// The latest week published on `today`.
pub fn latest_published(today: Date, settings: &Settings) -> Week {
    let mut week = Week::containing(today).before(1);
    while publication_day(week, settings) > today {
        week = week.before(1);
    }
    week
}

#[cfg(test)]
mod tests;

/// The organisation's medians in one week of the trend.
#[derive(Debug, Clone, PartialEq)]
pub struct TrendPoint {
    pub week: String,
    pub meeting: Option<f64>,
    pub after_hours: Option<f64>,
    pub focus: Option<f64>,
}
