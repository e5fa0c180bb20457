//! Meetings from iCalendar text: events parsed with the `icalendar` crate's
//! parser, recurrences expanded, overrides applied, time zones resolved,
//! and the definition of a meeting (`data/wellbeing_definitions.md`)
//! applied. Only times leave this module: never a title, a place, an
//! attendee or a description (they are not even read).

use std::collections::{BTreeMap, HashMap};

use icalendar::parser::{Component, Property};
use jiff::civil::{Date, DateTime};
use jiff::tz::{Offset, TimeZone};
use jiff::{SignedDuration, Span, Timestamp};

use super::recur::{self, Rule, Until};

/// Why a calendar could not be read at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IcsError {
    #[error("not iCalendar data (no BEGIN:VCALENDAR)")]
    NotCalendar,
    #[error("iCalendar syntax error at line {line}")]
    Syntax { line: usize },
}

/// Who the person is in the calendar, and how to read the source.
#[derive(Debug, Clone, Default)]
pub struct Reading {
    /// The person's own addresses, lower-case, without `mailto:`.
    pub addresses: Vec<String>,
    /// Every busy timed event is a meeting (feeds that strip attendees).
    pub events_are_meetings: bool,
}

/// A meeting occurrence, as instants.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Meeting {
    pub start: Timestamp,
    pub end: Timestamp,
    /// Identifies the occurrence across sources (the same invitation in two
    /// calendars counts once): a hash of the UID and the occurrence's start.
    pub key: u64,
}

/// The meetings of one calendar in a time range, and what was skipped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Meetings {
    pub meetings: Vec<Meeting>,
    /// Problems with single events (the rest were read): counts by reason,
    /// never the event's content.
    pub skipped: BTreeMap<String, u32>,
}

/// A start or end as written.
#[derive(Debug, Clone)]
enum When {
    Date(Date),
    At(DateTime, TimeZone),
}

impl When {
    fn timestamp(&self) -> Option<Timestamp> {
        match self {
            Self::Date(_) => None,
            Self::At(at, tz) => tz.to_zoned(*at).ok().map(|z| z.timestamp()),
        }
    }
}

/// One VEVENT's facts that matter here.
#[derive(Debug, Clone)]
struct Event {
    uid: String,
    start: When,
    end: Option<When>,
    duration: Option<Span>,
    cancelled: bool,
    transparent: bool,
    /// Organizer's address.
    organizer: Option<String>,
    /// (address, participation status, is a person rather than a room).
    attendees: Vec<(String, String, bool)>,
    rule: Option<Result<Rule, recur::RuleError>>,
    rdates: Vec<When>,
    exdates: Vec<When>,
    recurrence_id: Option<When>,
}

fn line_of(input: &str, rest: &str) -> usize {
    let offset = input.len().saturating_sub(rest.len());
    input[..offset].matches('\n').count() + 1
}

fn param<'a>(property: &'a Property<'_>, name: &str) -> Option<&'a str> {
    property
        .params
        .iter()
        .find(|p| p.key.as_str().eq_ignore_ascii_case(name))
        .and_then(|p| p.val.as_ref())
        .map(|v| v.as_str().trim_matches('"'))
}

fn address(value: &str) -> String {
    let value = value.trim();
    let value = value
        .get(..7)
        .filter(|p| p.eq_ignore_ascii_case("mailto:"))
        .map_or(value, |_| &value[7..]);
    value.to_lowercase()
}

/// Time zones of the calendar: IANA names from the system's database,
/// otherwise the file's own VTIMEZONE definitions (Outlook and Exchange
/// write Windows names such as "Romance Standard Time" with them).
struct Zones {
    defined: HashMap<String, TimeZone>,
    device: TimeZone,
}

impl Zones {
    fn resolve(&self, tzid: &str, skipped: &mut BTreeMap<String, u32>) -> TimeZone {
        if let Some(tz) = self.defined.get(tzid) {
            return tz.clone();
        }
        if let Some(tz) = iana(tzid) {
            return tz;
        }
        *skipped
            .entry("unknown time zone (device time zone used)".into())
            .or_default() += 1;
        self.device.clone()
    }
}

/// An IANA zone, also behind prefixes such as `/mozilla.org/20050126_1/`.
fn iana(tzid: &str) -> Option<TimeZone> {
    let tzid = tzid.trim().trim_matches('"');
    let mut rest = tzid.trim_start_matches('/');
    loop {
        if let Ok(tz) = TimeZone::get(rest) {
            return Some(tz);
        }
        rest = rest.split_once('/')?.1;
    }
}

fn offset(text: &str) -> Option<Offset> {
    let text = text.trim();
    let sign = match text.as_bytes().first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let digits = &text[1..];
    let part = |range: std::ops::Range<usize>| -> Option<i32> {
        digits.get(range).map_or(Some(0), |d| d.parse().ok())
    };
    if !matches!(digits.len(), 4 | 6) {
        return None;
    }
    let seconds = part(0..2)? * 3600 + part(2..4)? * 60 + part(4..6)?;
    Offset::from_seconds(sign * seconds).ok()
}

/// POSIX TZ text for an offset (`-1` for UTC+1, `+5:30` for UTC-5:30).
fn posix_offset(offset: Offset) -> String {
    let seconds = -offset.seconds();
    let sign = if seconds < 0 { "-" } else { "" };
    let seconds = seconds.abs();
    format!(
        "{sign}{}:{:02}:{:02}",
        seconds / 3600,
        seconds / 60 % 60,
        seconds % 60
    )
}

/// One STANDARD or DAYLIGHT block: its onset and yearly rule as POSIX
/// `Mm.w.d/time`.
fn onset(block: &Component<'_>) -> Option<(DateTime, Offset, Option<String>)> {
    let start = match recur::parse_date_time(block.find_prop("DTSTART")?.val.as_str().trim())? {
        Until::Floating(at) | Until::Utc(at) => at,
        Until::Date(date) => date.to_datetime(jiff::civil::Time::midnight()),
    };
    let to = offset(block.find_prop("TZOFFSETTO")?.val.as_str())?;
    let rule = block
        .find_prop("RRULE")
        .and_then(|r| r.val.as_str().parse::<Rule>().ok())
        .and_then(|rule| {
            let month = match rule.by_month.as_slice() {
                [month] => *month,
                _ => return None,
            };
            let (ordinal, weekday) = match rule.by_day.as_slice() {
                [(Some(n), day)] => (*n, *day),
                // Older writers: BYDAY=SU;BYMONTHDAY=8,9,…,14 for the second Sunday.
                [(None, day)] => {
                    let first = *rule.by_month_day.iter().min()?;
                    (first > 0 && rule.by_month_day.len() == 7 && first % 7 == 1)
                        .then_some((first / 7 + 1, *day))?
                }
                _ => return None,
            };
            let week = if ordinal < 0 { 5 } else { ordinal.min(5) };
            Some(format!(
                "M{month}.{week}.{}/{}:{:02}:{:02}",
                weekday.to_sunday_zero_offset(),
                start.hour(),
                start.minute(),
                start.second()
            ))
        });
    Some((start, to, rule))
}

/// A VTIMEZONE as a jiff time zone: its latest standard and daylight rules
/// as a POSIX TZ string, or its latest fixed offset.
fn vtimezone(component: &Component<'_>) -> Option<TimeZone> {
    let latest = |name: &str| {
        component
            .components
            .iter()
            .filter(|c| c.name.as_str().eq_ignore_ascii_case(name))
            .filter_map(onset)
            .max_by_key(|(start, _, _)| *start)
    };
    let standard = latest("STANDARD");
    let daylight = latest("DAYLIGHT");
    match (standard, daylight) {
        (Some((_, std_offset, Some(std_rule))), Some((_, dst_offset, Some(dst_rule)))) => {
            TimeZone::posix(&format!(
                "STD{}DST{},{dst_rule},{std_rule}",
                posix_offset(std_offset),
                posix_offset(dst_offset)
            ))
            .ok()
        }
        (Some((_, fixed, _)), _) | (None, Some((_, fixed, _))) => Some(TimeZone::fixed(fixed)),
        (None, None) => None,
    }
}

fn when(
    property: &Property<'_>,
    value: &str,
    zones: &Zones,
    skipped: &mut BTreeMap<String, u32>,
) -> Option<When> {
    let parsed = recur::parse_date_time(value.trim())?;
    let date_only = param(property, "VALUE").is_some_and(|v| v.eq_ignore_ascii_case("DATE"));
    Some(match parsed {
        Until::Date(date) => When::Date(date),
        _ if date_only => return None,
        Until::Utc(at) => When::At(at, TimeZone::UTC),
        Until::Floating(at) => match param(property, "TZID") {
            Some(tzid) => When::At(at, zones.resolve(tzid, skipped)),
            // Floating time: the person's own clock.
            None => When::At(at, zones.device.clone()),
        },
    })
}

fn event(
    component: &Component<'_>,
    index: usize,
    zones: &Zones,
    skipped: &mut BTreeMap<String, u32>,
) -> Option<Event> {
    let mut start = None;
    let mut event = Event {
        uid: format!("#{index}"),
        start: When::Date(Date::ZERO),
        end: None,
        duration: None,
        cancelled: false,
        transparent: false,
        organizer: None,
        attendees: Vec::new(),
        rule: None,
        rdates: Vec::new(),
        exdates: Vec::new(),
        recurrence_id: None,
    };
    for property in &component.properties {
        let value = property.val.as_str();
        match property.name.as_str().to_ascii_uppercase().as_str() {
            "UID" => value.trim().clone_into(&mut event.uid),
            "DTSTART" => start = when(property, value, zones, skipped),
            "DTEND" => event.end = when(property, value, zones, skipped),
            "DURATION" => event.duration = value.trim().parse::<Span>().ok(),
            "STATUS" => event.cancelled = value.trim().eq_ignore_ascii_case("CANCELLED"),
            "TRANSP" => event.transparent = value.trim().eq_ignore_ascii_case("TRANSPARENT"),
            "ORGANIZER" => event.organizer = Some(address(value)),
            "ATTENDEE" => {
                let status = param(property, "PARTSTAT")
                    .unwrap_or("NEEDS-ACTION")
                    .to_ascii_uppercase();
                let person = !param(property, "CUTYPE").is_some_and(|c| {
                    c.eq_ignore_ascii_case("ROOM") || c.eq_ignore_ascii_case("RESOURCE")
                });
                event.attendees.push((address(value), status, person));
            }
            "RRULE" => event.rule = Some(value.parse()),
            "RDATE" => event.rdates.extend(
                value
                    .split(',')
                    .filter_map(|v| when(property, v, zones, skipped)),
            ),
            "EXDATE" => event.exdates.extend(
                value
                    .split(',')
                    .filter_map(|v| when(property, v, zones, skipped)),
            ),
            "RECURRENCE-ID" => event.recurrence_id = when(property, value, zones, skipped),
            _ => {}
        }
    }
    event.start = start?;
    Some(event)
}

impl Event {
    /// Whether this occurrence is a meeting for the person.
    fn is_meeting(&self, reading: &Reading) -> bool {
        if self.cancelled || self.transparent || matches!(self.start, When::Date(_)) {
            return false;
        }
        let own = |address: &str| reading.addresses.iter().any(|a| a == address);
        if self
            .attendees
            .iter()
            .any(|(address, status, _)| own(address) && status == "DECLINED")
        {
            return false;
        }
        if reading.events_are_meetings {
            return true;
        }
        if reading.addresses.is_empty() {
            let mut people: Vec<&str> = self
                .attendees
                .iter()
                .filter(|(_, _, person)| *person)
                .map(|(address, _, _)| address.as_str())
                .chain(self.organizer.as_deref())
                .collect();
            people.sort_unstable();
            people.dedup();
            people.len() >= 2
        } else {
            self.attendees
                .iter()
                .any(|(address, _, person)| *person && !own(address))
        }
    }

    /// How long each occurrence lasts.
    fn length(&self) -> SignedDuration {
        let Some(start) = self.start.timestamp() else {
            return SignedDuration::ZERO;
        };
        if let Some(end) = self.end.as_ref().and_then(When::timestamp) {
            return end.duration_since(start).max(SignedDuration::ZERO);
        }
        if let (Some(span), When::At(at, tz)) = (self.duration, &self.start)
            && let Ok(zoned) = tz.to_zoned(*at)
            && let Ok(end) = zoned.checked_add(span)
        {
            return end
                .timestamp()
                .duration_since(start)
                .max(SignedDuration::ZERO);
        }
        SignedDuration::ZERO
    }
}

fn key(uid: &str, start: Timestamp) -> u64 {
    use std::hash::{Hash, Hasher};
    // Stable across runs and platforms (not std's randomised hasher): the
    // same occurrence read from two sources must collide.
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    uid.hash(&mut hasher);
    start.as_second().hash(&mut hasher);
    hasher.finish()
}

/// The meetings of `text` overlapping `[from, to)`.
///
/// # Errors
/// When the text is not iCalendar at all; single bad events are skipped and
/// counted in [`Meetings::skipped`].
pub fn meetings(
    text: &str,
    reading: &Reading,
    from: Timestamp,
    to: Timestamp,
    device: &TimeZone,
) -> Result<Meetings, IcsError> {
    let unfolded = icalendar::parser::unfold(text);
    let components =
        icalendar::parser::read_calendar_simple(&unfolded).map_err(|e| IcsError::Syntax {
            line: line_of(&unfolded, e.input),
        })?;
    let calendar = components
        .iter()
        .find(|c| c.name.as_str().eq_ignore_ascii_case("VCALENDAR"))
        .ok_or(IcsError::NotCalendar)?;
    let mut skipped = BTreeMap::new();
    let zones = Zones {
        defined: calendar
            .components
            .iter()
            .filter(|c| c.name.as_str().eq_ignore_ascii_case("VTIMEZONE"))
            .filter_map(|c| {
                let tzid = c.find_prop("TZID")?.val.as_str().trim().to_owned();
                // An IANA name is taken from the system's database, which
                // knows past and future rule changes.
                let tz = iana(&tzid).or_else(|| vtimezone(c))?;
                Some((tzid, tz))
            })
            .collect(),
        device: device.clone(),
    };
    let mut masters: Vec<Event> = Vec::new();
    let mut overrides: HashMap<(String, Timestamp), Event> = HashMap::new();
    for (index, component) in calendar
        .components
        .iter()
        .filter(|c| c.name.as_str().eq_ignore_ascii_case("VEVENT"))
        .enumerate()
    {
        let Some(event) = event(component, index, &zones, &mut skipped) else {
            *skipped
                .entry("event without a valid start".into())
                .or_default() += 1;
            continue;
        };
        match event.recurrence_id.as_ref().map(|r| match r {
            When::Date(date) => date.to_zoned(TimeZone::UTC).ok().map(|z| z.timestamp()),
            When::At(..) => r.timestamp(),
        }) {
            Some(Some(original)) => {
                overrides.insert((event.uid.clone(), original), event);
            }
            Some(None) => {
                *skipped.entry("invalid RECURRENCE-ID".into()).or_default() += 1;
            }
            None => masters.push(event),
        }
    }

    let mut result = Vec::new();
    let mut push =
        |event: &Event, original: Timestamp, start: Timestamp, length: SignedDuration| {
            let Ok(end) = start.checked_add(length) else {
                return;
            };
            // A meeting without duration still counts, on the day it starts.
            let overlaps = (end > from || (start == end && start >= from)) && start < to;
            if overlaps && event.is_meeting(reading) {
                result.push(Meeting {
                    start,
                    end,
                    key: key(&event.uid, original),
                });
            }
        };
    for master in &masters {
        let length = master.length();
        let When::At(start, tz) = &master.start else {
            continue; // all-day: never a meeting
        };
        let mut starts: Vec<Timestamp> = match &master.rule {
            None => master.start.timestamp().into_iter().collect(),
            Some(Err(error)) => {
                *skipped
                    .entry(format!("recurrence skipped: {error}"))
                    .or_default() += 1;
                master.start.timestamp().into_iter().collect()
            }
            Some(Ok(rule)) => {
                let until = rule.until.map(|until| match until {
                    Until::Utc(at) => TimeZone::UTC
                        .to_zoned(at)
                        .map_or(at, |z| z.with_time_zone(tz.clone()).datetime()),
                    Until::Floating(at) => at,
                    Until::Date(date) => date.to_datetime(jiff::civil::Time::MAX),
                });
                // The window's end in the event's wall-clock time, one day
                // further for occurrences starting before and ending inside.
                let window_end = to
                    .to_zoned(tz.clone())
                    .datetime()
                    .saturating_add(Span::new().days(1));
                recur::occurrences(rule, *start, until, window_end)
                    .into_iter()
                    .filter_map(|at| tz.to_zoned(at).ok().map(|z| z.timestamp()))
                    .collect()
            }
        };
        starts.extend(master.rdates.iter().filter_map(When::timestamp));
        let excluded: Vec<Timestamp> = master.exdates.iter().filter_map(When::timestamp).collect();
        // Some writers exclude a timed occurrence by its date alone.
        let excluded_days: Vec<Date> = master
            .exdates
            .iter()
            .filter_map(|w| match w {
                When::Date(date) => Some(*date),
                When::At(..) => None,
            })
            .collect();
        starts.retain(|s| {
            !excluded.contains(s) && !excluded_days.contains(&s.to_zoned(tz.clone()).date())
        });
        starts.sort_unstable();
        starts.dedup();
        for original in starts {
            if let Some(replacement) = overrides.remove(&(master.uid.clone(), original)) {
                if let Some(start) = replacement.start.timestamp() {
                    push(&replacement, original, start, replacement.length());
                }
            } else {
                push(master, original, original, length);
            }
        }
    }
    // Overrides of occurrences the master does not produce (moved from
    // outside the window, or a series whose master is not in this feed).
    for ((_, original), event) in overrides {
        if let Some(start) = event.start.timestamp() {
            push(&event, original, start, event.length());
        }
    }
    result.sort_unstable();
    Ok(Meetings {
        meetings: result,
        skipped,
    })
}
