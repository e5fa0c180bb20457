//! What samples and monitors add up to between reports: hourly usage, each
//! user's days of activity and notifications, their meetings (times only),
//! and the last complete storage scan's totals. Plain values: no probe, no
//! wire type (the encoder, `report`, maps them to `sobrio.v1`).

use std::collections::HashMap;

use crate::calendar::PersonMeetings;
use crate::load::DailyActivity;
use crate::probe::notifications::Notified;
use crate::probe::storage::{CategoryTotals, DuplicateTotals, ScanResult};
use crate::probe::usage::{HourlyUsage, Sample};

/// A complete storage scan's totals (never its paths), and when it ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScanTotals {
    pub scanned_unix_ms: i64,
    pub duplicates: DuplicateTotals,
    pub categories: CategoryTotals,
}

/// What samples and monitors add up to between reports.
#[derive(Debug)]
pub struct Tally {
    usage: HourlyUsage,
    /// Each user's active minutes by local day, for digital load.
    activity: DailyActivity,
    /// Each user's meetings, as last read from their calendar sources.
    meetings: HashMap<String, PersonMeetings>,
    /// The device's time zone: days and working hours are local.
    tz: jiff::tz::TimeZone,
    /// Users with a session at the last sample.
    session_users: Vec<String>,
    /// Totals of the last complete storage scan, not sent yet.
    reclaimable: Option<ScanTotals>,
}

impl Tally {
    /// An empty tally; days are those of `tz`.
    pub fn new(tz: jiff::tz::TimeZone) -> Self {
        Self {
            usage: HourlyUsage::default(),
            activity: DailyActivity::new(tz.clone()),
            meetings: HashMap::new(),
            tz,
            session_users: Vec::new(),
            reclaimable: None,
        }
    }

    /// Folds a usage sample into its hour and its users' days.
    pub fn add_sample(&mut self, sample: &Sample) {
        self.usage.add(sample);
        self.activity
            .record(sample.at_unix_ms, &sample.sessions, sample.in_call);
        self.session_users = sample.sessions.iter().map(|(u, _)| u.clone()).collect();
    }

    /// Users with a session at the last sample.
    pub fn session_users(&self) -> &[String] {
        &self.session_users
    }

    /// Records a notification shown to `login` (counted, never kept).
    pub fn record_notification(&mut self, login: &str, notified: Notified) {
        self.activity.record_notification(login, notified);
    }

    /// Marks `login`'s notifications as watched.
    pub fn watch_notifications(&mut self, login: &str) {
        self.activity.watch_notifications(login);
    }

    /// Keeps `login`'s meetings (times only) for the days to report.
    pub fn set_meetings(&mut self, login: &str, meetings: PersonMeetings) {
        self.meetings.insert(login.to_owned(), meetings);
    }

    /// Each user's meetings.
    pub fn meetings(&self) -> &HashMap<String, PersonMeetings> {
        &self.meetings
    }

    /// The device's time zone.
    pub fn time_zone(&self) -> &jiff::tz::TimeZone {
        &self.tz
    }

    /// Each user's days of activity so far.
    pub fn activity(&self) -> &DailyActivity {
        &self.activity
    }

    /// Each user's days of activity, to take the completed ones.
    pub fn activity_mut(&mut self) -> &mut DailyActivity {
        &mut self.activity
    }

    /// The usage hours so far.
    pub fn usage(&self) -> &HourlyUsage {
        &self.usage
    }

    /// The usage hours, to forget those reported.
    pub fn usage_mut(&mut self) -> &mut HourlyUsage {
        &mut self.usage
    }

    /// Keeps a complete storage scan's totals for the next report.
    pub fn set_reclaimable(&mut self, result: &ScanResult, scanned_unix_ms: i64) {
        self.reclaimable = Some(ScanTotals {
            scanned_unix_ms,
            duplicates: result.duplicates,
            categories: result.categories,
        });
    }

    /// Whether a scan's totals wait for a report.
    pub fn has_reclaimable(&self) -> bool {
        self.reclaimable.is_some()
    }

    /// The scan's totals, once: they go with one report.
    pub fn take_reclaimable(&mut self) -> Option<ScanTotals> {
        self.reclaimable.take()
    }
}
