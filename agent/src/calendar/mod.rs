//! Calendars: each person's ICS sources (files, or https URLs such as a
//! published or CalDAV calendar), read on the device and reduced to meeting
//! times. Titles, places, attendees and descriptions are never kept: only
//! start and end instants survive [`ics::meetings`].
//!
//! A person configures their sources in `~/.config/sobrio/calendar.toml`
//! (`$XDG_CONFIG_HOME/sobrio/calendar.toml`); the agent, a system service,
//! reads that file in the home directory of each user with a session.

pub mod fetch;
pub mod ics;
pub mod recur;

use std::path::{Path, PathBuf};

use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};
use serde::Deserialize;

use crate::load::Span;
pub use ics::{Meeting, Reading};

/// The file, relative to a home directory.
pub const USER_CONFIG: &str = ".config/sobrio/calendar.toml";

/// A person's calendar settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CalendarConfig {
    /// The person's own addresses (their attendee lines).
    #[serde(default)]
    pub addresses: Vec<String>,
    /// Calendar sources.
    #[serde(default, rename = "source")]
    pub sources: Vec<SourceConfig>,
}

/// One calendar source: `path` or `url`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    pub path: Option<PathBuf>,
    pub url: Option<String>,
    /// Every busy timed event counts as a meeting (feeds without attendees).
    #[serde(default)]
    pub events_are_meetings: bool,
}

/// Why a calendar could not be used.
#[derive(Debug, thiserror::Error)]
pub enum CalendarError {
    #[error("cannot read calendar settings {path}: {message}")]
    Config { path: String, message: String },
    #[error("calendar source {source_name}: {message}")]
    Source {
        source_name: String,
        message: String,
    },
}

impl CalendarConfig {
    /// Reads a person's settings; `Ok(None)` when they have none.
    ///
    /// # Errors
    /// When the file exists but cannot be read or is invalid.
    pub fn load(path: &Path) -> Result<Option<Self>, CalendarError> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(CalendarError::Config {
                    path: path.display().to_string(),
                    message: e.to_string(),
                });
            }
        };
        let config: Self = toml::from_str(&text).map_err(|e| CalendarError::Config {
            path: path.display().to_string(),
            message: e.message().to_owned(),
        })?;
        for source in &config.sources {
            if source.path.is_some() == source.url.is_some() {
                return Err(CalendarError::Config {
                    path: path.display().to_string(),
                    message: "each [[source]] needs exactly one of `path` or `url`".into(),
                });
            }
        }
        Ok(Some(config))
    }

    /// The settings of the user whose home is `home`.
    ///
    /// # Errors
    /// As [`CalendarConfig::load`].
    pub fn for_home(home: &Path) -> Result<Option<Self>, CalendarError> {
        Self::load(&home.join(USER_CONFIG))
    }

    /// Sources given on the command line (paths or URLs), replacing the
    /// configured ones.
    pub fn with_sources(mut self, sources: &[String]) -> Self {
        self.sources = sources
            .iter()
            .map(|s| {
                let url = s.starts_with("https://")
                    || s.starts_with("http://")
                    || s.starts_with("webcal://");
                SourceConfig {
                    path: (!url).then(|| PathBuf::from(s)),
                    url: url.then(|| s.clone()),
                    events_are_meetings: false,
                }
            })
            .collect();
        self
    }

    fn reading(&self, source: &SourceConfig) -> Reading {
        Reading {
            addresses: self
                .addresses
                .iter()
                .map(|a| a.trim().trim_start_matches("mailto:").to_lowercase())
                .collect(),
            events_are_meetings: source.events_are_meetings,
        }
    }
}

/// A person's meetings over a range, from all their sources.
#[derive(Debug, Clone, Default)]
pub struct PersonMeetings {
    pub meetings: Vec<Meeting>,
    /// Sources that could not be read, by message (nothing of their content).
    pub problems: Vec<String>,
    /// Whether at least one source was read: otherwise the calendar fields
    /// stay null.
    pub read_any: bool,
}

/// Reads every source of `config` and keeps the meetings overlapping
/// `[from, to)`, each occurrence once across sources.
pub async fn read(
    config: &CalendarConfig,
    from: Timestamp,
    to: Timestamp,
    device: &TimeZone,
    limits: fetch::Limits,
) -> PersonMeetings {
    let mut result = PersonMeetings::default();
    for source in &config.sources {
        let name = source.url.as_deref().map_or_else(
            || {
                source
                    .path
                    .as_deref()
                    .unwrap_or(Path::new(""))
                    .display()
                    .to_string()
            },
            fetch::redact,
        );
        let text = match (&source.path, &source.url) {
            (Some(path), _) => fetch::file(path, limits).await,
            (_, Some(url)) => fetch::https(url, limits).await,
            (None, None) => continue,
        };
        let parsed = text.and_then(|text| {
            ics::meetings(&text, &config.reading(source), from, to, device)
                .map_err(|e| e.to_string())
        });
        match parsed {
            Ok(parsed) => {
                result.read_any = true;
                for (reason, count) in parsed.skipped {
                    result
                        .problems
                        .push(format!("{name}: {count} event(s): {reason}"));
                }
                result.meetings.extend(parsed.meetings);
            }
            Err(message) => result.problems.push(format!("{name}: {message}")),
        }
    }
    result.meetings.sort_unstable_by_key(|m| (m.key, m.start));
    result.meetings.dedup_by_key(|m| m.key);
    result.meetings.sort_unstable();
    result
}

/// The spans of `meetings` touching local `day`, in wall-clock minutes of
/// that day (negative before midnight, past 1440 after), and those starting
/// that day.
pub fn day_spans(meetings: &[Meeting], day: Date, tz: &TimeZone) -> (Vec<Span>, Vec<Span>) {
    let minute = |at: Timestamp| -> i32 {
        let local = at.to_zoned(tz.clone());
        let days = (local.date() - day).get_days();
        days * crate::load::DAY_MINUTES + i32::from(local.hour()) * 60 + i32::from(local.minute())
    };
    let (Ok(start), Ok(end)) = (
        day.to_zoned(tz.clone()),
        day.checked_add(1.day())
            .and_then(|d| d.to_zoned(tz.clone())),
    ) else {
        return (Vec::new(), Vec::new());
    };
    let (start, end) = (start.timestamp(), end.timestamp());
    let mut touching = Vec::new();
    let mut starting = Vec::new();
    for meeting in meetings {
        let span = Span {
            start: minute(meeting.start),
            end: minute(meeting.end),
        };
        if meeting.start >= start && meeting.start < end {
            starting.push(span);
        }
        if meeting.end > start && meeting.start < end && span.end > span.start {
            touching.push(span);
        }
    }
    (touching, starting)
}
