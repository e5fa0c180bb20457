//! A person's day of digital load: what the device observed (activity,
//! calls, notifications) with what their calendar says (meetings, focus
//! time). The agent reports it under a pseudonym (`report` encodes it) and
//! shows it to the person alone (`me`); this is the one place it is
//! computed, free of the wire's types.

use serde::Serialize;

use crate::calendar::{PersonMeetings, day_spans};
use crate::load::{DayActivity, WeekHours, meeting_load};

/// Notifications by coarse category of the sending application.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct NotificationsByCategory {
    pub chat: i32,
    pub mail: i32,
    pub calendar: i32,
    pub other: i32,
}

/// A person's day. A field without data (a calendar not read, a signal
/// off) is `None`, never 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct DayLoad {
    /// Local date.
    pub date: jiff::civil::Date,
    /// Time covered by meetings, overlaps counted once.
    pub meeting_minutes: Option<i32>,
    /// Meetings starting that day.
    pub meeting_count: Option<i32>,
    /// Time covered by two or more meetings at once.
    pub conflicting_minutes: Option<i32>,
    /// Meetings starting less than 10 minutes after the previous ones ended.
    pub back_to_back_count: Option<i32>,
    /// Meeting time outside working hours.
    pub after_hours_meeting_minutes: Option<i32>,
    /// Time in a detected video call.
    pub call_minutes: Option<i32>,
    /// Notifications shown (never their content).
    pub notifications_total: Option<i32>,
    /// Notifications outside working hours.
    pub notifications_after_hours: Option<i32>,
    pub notifications_by_category: Option<NotificationsByCategory>,
    /// Meeting-free stretches of at least 2 hours inside working hours.
    pub focus_minutes: Option<i32>,
    /// Minutes with an unlocked, non-idle session.
    pub active_minutes: Option<i32>,
    /// Active minutes outside working hours on working days.
    pub after_hours_active_minutes: Option<i32>,
    /// Active minutes on non-working days.
    pub weekend_active_minutes: Option<i32>,
}

/// A person's day: activity, calls and notifications as observed, calendar
/// fields from `calendar` when it was read (otherwise `None`).
#[must_use]
pub fn day_load(
    day: &DayActivity,
    calendar: Option<&PersonMeetings>,
    hours: &WeekHours,
    tz: &jiff::tz::TimeZone,
) -> DayLoad {
    let day_hours = hours.on(day.date);
    let meetings = calendar.filter(|c| c.read_any).map(|c| {
        let (spans, starting) = day_spans(&c.meetings, day.date, tz);
        meeting_load(&spans, &starting, day_hours, !day.device_on)
    });
    DayLoad {
        date: day.date,
        meeting_minutes: meetings.map(|m| m.meeting_minutes),
        meeting_count: meetings.map(|m| m.meeting_count),
        conflicting_minutes: meetings.map(|m| m.conflicting_minutes),
        back_to_back_count: meetings.map(|m| m.back_to_back_count),
        after_hours_meeting_minutes: meetings.map(|m| m.after_hours_meeting_minutes),
        call_minutes: day.call_minutes,
        notifications_total: day.notifications.map(|n| n.total),
        notifications_after_hours: day.notifications.map(|n| n.after_hours),
        notifications_by_category: day.notifications.map(|n| NotificationsByCategory {
            chat: n.chat,
            mail: n.mail,
            calendar: n.calendar,
            other: n.other,
        }),
        focus_minutes: meetings.and_then(|m| m.focus_minutes),
        active_minutes: Some(day.activity.active_minutes),
        after_hours_active_minutes: Some(day.activity.after_hours_active_minutes),
        weekend_active_minutes: Some(day.activity.weekend_active_minutes),
    }
}
