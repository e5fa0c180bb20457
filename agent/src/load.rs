//! Digital load of one person's day, computed on the device exactly as
//! `data/wellbeing_definitions.md` defines each field, from the day's
//! meetings (already filtered: not cancelled, not free, not all-day, not
//! declined, with another person) and the working hours of the policy.
//!
//! Times are minutes of the local wall-clock day (0 = midnight, 1440 = the
//! next midnight): working hours are wall-clock hours, so on a day when the
//! clocks change the day is measured as people live it.

/// Minutes in a wall-clock day.
pub const DAY_MINUTES: i32 = 1440;
/// A stretch free of meetings counts as focus time from this long.
pub const FOCUS_MIN_MINUTES: i32 = 120;
/// A meeting starting less than this after the previous ones ended is
/// back-to-back.
pub const BACK_TO_BACK_GAP_MINUTES: i32 = 10;

/// A meeting's span in minutes of the day, `start < end`; parts outside the
/// day are clipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub start: i32,
    pub end: i32,
}

/// Working hours of one day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DayHours {
    /// Whether the day is a working day.
    pub working: bool,
    pub start_minute: i32,
    pub end_minute: i32,
}

/// The calendar-derived fields of a person's day.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MeetingLoad {
    pub meeting_minutes: i32,
    pub meeting_count: i32,
    pub conflicting_minutes: i32,
    pub back_to_back_count: i32,
    pub after_hours_meeting_minutes: i32,
    /// `None` on a non-working day (focus time is defined on working days).
    pub focus_minutes: Option<i32>,
}

fn clip(span: Span) -> Option<Span> {
    let start = span.start.max(0);
    let end = span.end.min(DAY_MINUTES);
    (start < end).then_some(Span { start, end })
}

/// Minutes covered by at least `depth` of `spans` at once.
fn covered(spans: &[Span], depth: i32) -> Vec<Span> {
    let mut edges: Vec<(i32, i32)> = spans
        .iter()
        .flat_map(|s| [(s.start, 1), (s.end, -1)])
        .collect();
    // Ends before starts at the same minute: touching meetings do not overlap.
    edges.sort_unstable();
    let mut result: Vec<Span> = Vec::new();
    let mut level = 0_i32;
    let mut opened = None;
    for (at, change) in edges {
        let before = level;
        level += change;
        if before < depth && level >= depth {
            opened = Some(at);
        } else if before >= depth
            && level < depth
            && let Some(start) = opened.take()
            && start < at
        {
            result.push(Span { start, end: at });
        }
    }
    result
}

fn total(spans: &[Span]) -> i32 {
    spans.iter().map(|s| s.end - s.start).sum()
}

/// Minutes of `spans` (disjoint) inside `[from, to)`.
fn inside(spans: &[Span], from: i32, to: i32) -> i32 {
    spans
        .iter()
        .map(|s| (s.end.min(to) - s.start.max(from)).max(0))
        .sum()
}

/// Computes the calendar-derived fields of a day.
///
/// `starting_today` are the meetings that start this day (for the count and
/// back-to-back); `spans` every meeting span touching the day (a meeting from
/// the previous evening counts in the minutes it covers today).
/// `device_off_all_day` marks a working day on which the device never ran
/// (leave, sickness): its focus time is 0.
pub fn meeting_load(
    spans: &[Span],
    starting_today: &[Span],
    hours: DayHours,
    device_off_all_day: bool,
) -> MeetingLoad {
    let spans: Vec<Span> = spans.iter().copied().filter_map(clip).collect();
    let union = covered(&spans, 1);
    let meeting_minutes = total(&union);
    let conflicting_minutes = total(&covered(&spans, 2));
    let (work_start, work_end) = (hours.start_minute, hours.end_minute);
    let after_hours_meeting_minutes = if hours.working {
        meeting_minutes - inside(&union, work_start, work_end)
    } else {
        meeting_minutes
    };

    let mut by_start: Vec<Span> = starting_today.to_vec();
    by_start.sort_by_key(|s| (s.start, s.end));
    let mut back_to_back_count = 0;
    for (i, meeting) in by_start.iter().enumerate() {
        // The latest end of all meetings that started strictly earlier.
        let latest_end = by_start[..i]
            .iter()
            .filter(|m| m.start < meeting.start)
            .map(|m| m.end)
            .max();
        if let Some(latest_end) = latest_end
            && meeting.start >= latest_end
            && meeting.start - latest_end < BACK_TO_BACK_GAP_MINUTES
        {
            back_to_back_count += 1;
        }
    }

    let focus_minutes = hours.working.then(|| {
        if device_off_all_day {
            return 0;
        }
        // Meeting-free stretches inside working hours, at least 2 hours long.
        let mut free = 0;
        let mut cursor = work_start;
        for busy in union
            .iter()
            .filter(|s| s.end > work_start && s.start < work_end)
        {
            let gap = busy.start.max(work_start) - cursor;
            if gap >= FOCUS_MIN_MINUTES {
                free += gap;
            }
            cursor = cursor.max(busy.end.min(work_end));
        }
        let last = work_end - cursor;
        if last >= FOCUS_MIN_MINUTES {
            free += last;
        }
        free
    });

    MeetingLoad {
        meeting_minutes,
        meeting_count: i32::try_from(by_start.len()).unwrap_or(i32::MAX),
        conflicting_minutes,
        back_to_back_count,
        after_hours_meeting_minutes,
        focus_minutes,
    }
}

/// Active minutes of a day split as the definitions ask.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ActivityLoad {
    pub active_minutes: i32,
    /// Outside working hours, on working days.
    pub after_hours_active_minutes: i32,
    /// On non-working days.
    pub weekend_active_minutes: i32,
}

/// Splits the active minutes of a day (minutes of the day at which the
/// session was in use).
pub fn activity_load(active: &[i32], hours: DayHours) -> ActivityLoad {
    let active_minutes = i32::try_from(active.len()).unwrap_or(i32::MAX);
    if !hours.working {
        return ActivityLoad {
            active_minutes,
            after_hours_active_minutes: 0,
            weekend_active_minutes: active_minutes,
        };
    }
    let after = active
        .iter()
        .filter(|m| **m < hours.start_minute || **m >= hours.end_minute)
        .count();
    ActivityLoad {
        active_minutes,
        after_hours_active_minutes: i32::try_from(after).unwrap_or(i32::MAX),
        weekend_active_minutes: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const fn at(hour: i32, minute: i32) -> i32 {
        hour * 60 + minute
    }

    fn span(from: (i32, i32), to: (i32, i32)) -> Span {
        Span {
            start: at(from.0, from.1),
            end: at(to.0, to.1),
        }
    }

    const WORKDAY: DayHours = DayHours {
        working: true,
        start_minute: 540,
        end_minute: 1080,
    };

    #[test]
    fn a_day_of_meetings_worked_out_by_hand() {
        // 08:30–09:30 (half before hours), 09:30–10:00 back-to-back (gap 0),
        // 10:05–11:00 back-to-back (gap 5), 10:30–11:30 overlapping (a
        // conflict, not back-to-back), 14:00–14:30, 18:30–19:00 after hours.
        let meetings = [
            span((8, 30), (9, 30)),
            span((9, 30), (10, 0)),
            span((10, 5), (11, 0)),
            span((10, 30), (11, 30)),
            span((14, 0), (14, 30)),
            span((18, 30), (19, 0)),
        ];
        let load = meeting_load(&meetings, &meetings, WORKDAY, false);
        // Union: 08:30–10:00 (90) + 10:05–11:30 (85) + 14:00–14:30 (30) + 18:30–19:00 (30).
        assert_eq!(load.meeting_minutes, 235);
        assert_eq!(load.meeting_count, 6);
        assert_eq!(load.conflicting_minutes, 30, "10:30–11:00");
        assert_eq!(load.back_to_back_count, 2, "09:30 and 10:05");
        assert_eq!(
            load.after_hours_meeting_minutes,
            30 + 30,
            "08:30–09:00 and 18:30–19:00"
        );
        // Free inside 09:00–18:00: 11:30–14:00 (150) and 14:30–18:00 (210);
        // 10:00–10:05 is too short.
        assert_eq!(load.focus_minutes, Some(360));
    }

    #[test]
    fn meetings_a_gap_of_ten_minutes_apart_are_not_back_to_back() {
        let meetings = [
            span((9, 0), (10, 0)),
            span((10, 10), (11, 0)),
            span((11, 9), (12, 0)),
        ];
        assert_eq!(
            meeting_load(&meetings, &meetings, WORKDAY, false).back_to_back_count,
            1
        );
    }

    #[test]
    fn a_weekend_meeting_is_after_hours_and_has_no_focus_time() {
        let weekend = DayHours {
            working: false,
            ..WORKDAY
        };
        let meetings = [span((10, 0), (11, 0))];
        let load = meeting_load(&meetings, &meetings, weekend, false);
        assert_eq!(
            (load.after_hours_meeting_minutes, load.focus_minutes),
            (60, None)
        );
    }

    #[test]
    fn a_day_off_has_no_focus_time_and_an_empty_day_is_all_focus() {
        assert_eq!(meeting_load(&[], &[], WORKDAY, true).focus_minutes, Some(0));
        assert_eq!(
            meeting_load(&[], &[], WORKDAY, false).focus_minutes,
            Some(540)
        );
    }

    #[test]
    fn a_meeting_from_the_evening_before_counts_in_the_minutes_it_covers_today() {
        // 23:00 yesterday to 01:00 today, as minutes of today: -60 to 60.
        let overnight = Span {
            start: -60,
            end: 60,
        };
        let load = meeting_load(&[overnight], &[], WORKDAY, false);
        assert_eq!(
            (
                load.meeting_minutes,
                load.meeting_count,
                load.after_hours_meeting_minutes
            ),
            (60, 0, 60)
        );
    }

    #[test]
    fn active_minutes_split_inside_and_outside_working_hours() {
        let minutes: Vec<i32> = (at(8, 0)..at(8, 30))
            .chain(at(9, 0)..at(12, 0))
            .chain(at(20, 0)..at(20, 15))
            .collect();
        let load = activity_load(&minutes, WORKDAY);
        assert_eq!(
            load,
            ActivityLoad {
                active_minutes: 225,
                after_hours_active_minutes: 45,
                weekend_active_minutes: 0
            }
        );
        let weekend = activity_load(
            &minutes,
            DayHours {
                working: false,
                ..WORKDAY
            },
        );
        assert_eq!(
            (
                weekend.after_hours_active_minutes,
                weekend.weekend_active_minutes
            ),
            (0, 225)
        );
    }
}

use crate::probe::notifications::{NotificationCategory, Notified};

/// One person's day of activity, ready to report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayActivity {
    /// Login name (pseudonymised before it leaves the device).
    pub login: String,
    pub date: jiff::civil::Date,
    pub activity: ActivityLoad,
    /// Minutes in a detected video call; `None` when calls were not watched.
    pub call_minutes: Option<i32>,
    /// Notifications shown; `None` when they were not watched for this user.
    pub notifications: Option<NotificationDay>,
    /// Whether the device ran at all that day (focus time is 0 on a working
    /// day it did not: leave, sickness).
    pub device_on: bool,
}

/// A day's notifications: counts only.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NotificationDay {
    pub total: i32,
    /// Outside working hours, any day (all of a non-working day's).
    pub after_hours: i32,
    pub chat: i32,
    pub mail: i32,
    pub calendar: i32,
    pub other: i32,
}

/// Working hours as the policy gives them (wall-clock minutes, ISO days).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WeekHours {
    pub start_minute: i32,
    pub end_minute: i32,
    /// ISO weekday numbers (1 = Monday).
    pub days: Vec<i32>,
}

impl Default for WeekHours {
    fn default() -> Self {
        Self {
            start_minute: 540,
            end_minute: 1080,
            days: vec![1, 2, 3, 4, 5],
        }
    }
}

impl WeekHours {
    /// The hours of `date`.
    pub fn on(&self, date: jiff::civil::Date) -> DayHours {
        DayHours {
            working: self
                .days
                .contains(&i32::from(date.weekday().to_monday_one_offset())),
            start_minute: self.start_minute,
            end_minute: self.end_minute,
        }
    }
}

/// Minutes each user's session was in use, by local day, from the usage
/// samples; yields one row per person per completed day.
#[derive(Debug, Clone)]
pub struct DailyActivity {
    tz: jiff::tz::TimeZone,
    /// (login, day) → elapsed minute of the day → wall-clock minute of the
    /// day. Keyed by elapsed minute so that the hour repeated when clocks go
    /// back counts twice, as lived.
    minutes: std::collections::BTreeMap<
        (String, jiff::civil::Date),
        std::collections::BTreeMap<i64, i32>,
    >,
    /// (login, day) → elapsed minutes spent in a call.
    calls: std::collections::BTreeMap<(String, jiff::civil::Date), std::collections::BTreeSet<i64>>,
    /// Whether calls were watched (the signal on).
    calls_watched: bool,
    /// (login, day) → (wall-clock minute, category) → notifications.
    notifications: std::collections::BTreeMap<
        (String, jiff::civil::Date),
        std::collections::BTreeMap<(i32, NotificationCategory), i32>,
    >,
    /// Users whose notifications are watched.
    notifications_watched: std::collections::BTreeSet<String>,
    /// Days on which the device took at least one sample.
    device_days: std::collections::BTreeSet<jiff::civil::Date>,
    /// Users seen in a session since the agent started.
    users: std::collections::BTreeSet<String>,
    /// The first day observed; rows start there.
    first_day: Option<jiff::civil::Date>,
    /// Days up to this one were reported.
    reported_through: Option<jiff::civil::Date>,
}

impl DailyActivity {
    pub fn new(tz: jiff::tz::TimeZone) -> Self {
        Self {
            tz,
            minutes: std::collections::BTreeMap::new(),
            calls: std::collections::BTreeMap::new(),
            calls_watched: false,
            notifications: std::collections::BTreeMap::new(),
            notifications_watched: std::collections::BTreeSet::new(),
            device_days: std::collections::BTreeSet::new(),
            users: std::collections::BTreeSet::new(),
            first_day: None,
            reported_through: None,
        }
    }

    /// Records one sample: the user sessions and which are in use, and
    /// whether a video call was under way (`None`: calls not watched). A call
    /// minute goes to the users whose session was in use, or — a call often
    /// leaves keyboard and mouse idle — to every user with a session.
    pub fn record(&mut self, at_unix_ms: i64, sessions: &[(String, bool)], in_call: Option<bool>) {
        let Ok(timestamp) = jiff::Timestamp::from_millisecond(at_unix_ms) else {
            return;
        };
        let zoned = timestamp.to_zoned(self.tz.clone());
        let date = zoned.date();
        self.first_day = Some(self.first_day.map_or(date, |d| d.min(date)));
        self.device_days.insert(date);
        let Ok(midnight) = date.to_zoned(self.tz.clone()) else {
            return;
        };
        let elapsed = (at_unix_ms - midnight.timestamp().as_millisecond()).div_euclid(60_000);
        let wall = i32::from(zoned.hour()) * 60 + i32::from(zoned.minute());
        for (user, in_use) in sessions {
            self.users.insert(user.clone());
            if *in_use {
                self.minutes
                    .entry((user.clone(), date))
                    .or_default()
                    .insert(elapsed, wall);
            }
        }
        self.calls_watched |= in_call.is_some();
        if in_call == Some(true) {
            let anyone_in_use = sessions.iter().any(|(_, in_use)| *in_use);
            for (user, in_use) in sessions {
                if *in_use || !anyone_in_use {
                    self.calls
                        .entry((user.clone(), date))
                        .or_default()
                        .insert(elapsed);
                }
            }
        }
    }

    /// Marks `login`'s notifications as watched (from now on, their days
    /// report counts, 0 included).
    pub fn watch_notifications(&mut self, login: &str) {
        self.notifications_watched.insert(login.to_owned());
    }

    /// Counts one notification shown to `login`.
    pub fn record_notification(&mut self, login: &str, notified: Notified) {
        let Ok(timestamp) = jiff::Timestamp::from_millisecond(notified.at_unix_ms) else {
            return;
        };
        let zoned = timestamp.to_zoned(self.tz.clone());
        self.first_day = Some(self.first_day.map_or(zoned.date(), |d| d.min(zoned.date())));
        self.users.insert(login.to_owned());
        self.notifications_watched.insert(login.to_owned());
        let wall = i32::from(zoned.hour()) * 60 + i32::from(zoned.minute());
        *self
            .notifications
            .entry((login.to_owned(), zoned.date()))
            .or_default()
            .entry((wall, notified.category))
            .or_default() += 1;
    }

    /// Users seen so far.
    pub fn users(&self) -> impl Iterator<Item = &str> {
        self.users.iter().map(String::as_str)
    }

    /// The first day not reported yet, if any was observed.
    pub fn first_unreported_day(&self) -> Option<jiff::civil::Date> {
        match self.reported_through {
            Some(done) => done.tomorrow().ok(),
            None => self.first_day,
        }
    }

    /// Today's and earlier unreported rows, without forgetting anything: what
    /// the person may see locally (`sobrio-agent me`).
    pub fn peek_days(&self, now_unix_ms: i64, hours: &WeekHours) -> Vec<DayActivity> {
        let mut copy = self.clone();
        // Tomorrow's midnight makes today complete.
        copy.completed_days(now_unix_ms + 86_400_000, hours, &|_, _| false)
    }

    /// Rows for every completed day not reported yet (before today, in the
    /// device's time zone): for each user seen, each working day and each day
    /// with activity. The reported days are forgotten.
    /// `has_meetings` tells which (login, day) had meetings: those days have
    /// a row even without activity.
    pub fn completed_days(
        &mut self,
        now_unix_ms: i64,
        hours: &WeekHours,
        has_meetings: &dyn Fn(&str, jiff::civil::Date) -> bool,
    ) -> Vec<DayActivity> {
        let Ok(now) = jiff::Timestamp::from_millisecond(now_unix_ms) else {
            return Vec::new();
        };
        let today = now.to_zoned(self.tz.clone()).date();
        let Some(first) = self.first_day else {
            return Vec::new();
        };
        let mut day = match self.reported_through {
            Some(done) => done.tomorrow().unwrap_or(done),
            None => first,
        };
        let mut rows = Vec::new();
        while day < today {
            let day_hours = hours.on(day);
            for user in &self.users {
                let walls: Vec<i32> = self
                    .minutes
                    .remove(&(user.clone(), day))
                    .map(|m| m.into_values().collect())
                    .unwrap_or_default();
                let calls = self
                    .calls
                    .remove(&(user.clone(), day))
                    .map_or(0, |c| c.len());
                let notified = self.notifications.remove(&(user.clone(), day));
                let notifications = self.notifications_watched.contains(user).then(|| {
                    let mut counts = NotificationDay::default();
                    for ((wall, category), count) in notified.iter().flatten() {
                        counts.total += count;
                        if !day_hours.working
                            || *wall < day_hours.start_minute
                            || *wall >= day_hours.end_minute
                        {
                            counts.after_hours += count;
                        }
                        *match category {
                            NotificationCategory::Chat => &mut counts.chat,
                            NotificationCategory::Mail => &mut counts.mail,
                            NotificationCategory::Calendar => &mut counts.calendar,
                            NotificationCategory::Other => &mut counts.other,
                        } += count;
                    }
                    counts
                });
                let has_notifications = notifications.is_some_and(|n| n.total > 0);
                if day_hours.working
                    || !walls.is_empty()
                    || calls > 0
                    || has_notifications
                    || has_meetings(user, day)
                {
                    rows.push(DayActivity {
                        login: user.clone(),
                        date: day,
                        activity: activity_load(&walls, day_hours),
                        call_minutes: self
                            .calls_watched
                            .then(|| i32::try_from(calls).unwrap_or(i32::MAX)),
                        notifications,
                        device_on: self.device_days.contains(&day),
                    });
                }
            }
            self.device_days.remove(&day);
            self.reported_through = Some(day);
            let Ok(next) = day.tomorrow() else { break };
            day = next;
        }
        rows
    }
}

#[cfg(test)]
mod daily_tests {
    use super::*;

    fn paris() -> jiff::tz::TimeZone {
        jiff::tz::TimeZone::get("Europe/Paris").expect("the system time zone database")
    }

    fn ms(zoned: &str) -> i64 {
        zoned
            .parse::<jiff::Zoned>()
            .unwrap()
            .timestamp()
            .as_millisecond()
    }

    #[test]
    fn activity_is_split_by_local_day_and_working_hours() {
        let mut daily = DailyActivity::new(paris());
        let alice = vec![("alice".to_owned(), true), ("bob".to_owned(), false)];
        // Thursday 2026-11-26: 08:00–08:30 (before hours), 09:00–10:00.
        let start = ms("2026-11-26T08:00:00+01:00[Europe/Paris]");
        for minute in (0..30).chain(60..120) {
            daily.record(start + minute * 60_000, &alice, None);
        }
        // Saturday 2026-11-28: 20 minutes.
        let saturday = ms("2026-11-28T15:00:00+01:00[Europe/Paris]");
        for minute in 0..20 {
            daily.record(saturday + minute * 60_000, &alice, Some(minute < 5));
        }
        let rows = daily.completed_days(
            ms("2026-11-29T12:00:00+01:00[Europe/Paris]"),
            &WeekHours::default(),
            &|_, _| false,
        );
        let find = |login: &str, date: &str| {
            rows.iter()
                .find(|r| r.login == login && r.date.to_string() == date)
                .map(|r| r.activity)
        };
        assert_eq!(
            find("alice", "2026-11-26"),
            Some(ActivityLoad {
                active_minutes: 90,
                after_hours_active_minutes: 30,
                weekend_active_minutes: 0
            })
        );
        assert_eq!(
            find("alice", "2026-11-27"),
            Some(ActivityLoad::default()),
            "a working day without activity has a row"
        );
        assert_eq!(
            find("alice", "2026-11-28").map(|a| a.weekend_active_minutes),
            Some(20)
        );
        let saturday = rows
            .iter()
            .find(|r| r.login == "alice" && r.date.to_string() == "2026-11-28")
            .unwrap();
        assert_eq!(
            saturday.call_minutes,
            Some(5),
            "five minutes of call, to the user in use"
        );
        assert_eq!(
            find("bob", "2026-11-26"),
            Some(ActivityLoad::default()),
            "bob had a session, never in use"
        );
        assert_eq!(
            find("bob", "2026-11-28"),
            None,
            "no row on a weekend day without activity"
        );
        assert!(
            rows.iter().all(|r| r.date.to_string() != "2026-11-29"),
            "today is not complete"
        );
        assert!(
            daily
                .completed_days(
                    ms("2026-11-29T18:00:00+01:00[Europe/Paris]"),
                    &WeekHours::default(),
                    &|_, _| false
                )
                .is_empty()
        );
    }

    #[test]
    fn the_hour_repeated_when_clocks_go_back_counts_twice() {
        let mut daily = DailyActivity::new(paris());
        let user = vec![("alice".to_owned(), true)];
        // Sunday 2026-10-25 lasts 25 hours in Paris.
        let midnight = ms("2026-10-25T00:00:00+02:00[Europe/Paris]");
        for minute in 0..(25 * 60) {
            daily.record(midnight + minute * 60_000, &user, None);
        }
        let rows = daily.completed_days(
            ms("2026-10-26T09:00:00+01:00[Europe/Paris]"),
            &WeekHours::default(),
            &|_, _| false,
        );
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].activity.weekend_active_minutes, 1500);
    }
}
