//! `sobrio-agent me`: a person's own week, shown on the device only.
//!
//! The agent keeps each user's recent days (activity, calls, notification
//! counts — the same counts it reports) in `<people dir>/<login>.json`,
//! readable by that user alone; `me` adds the calendar fields, computed on
//! the spot from the person's own sources. Nothing here is ever sent.

use std::path::{Path, PathBuf};

use anyhow::Context;
use jiff::ToSpan;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};

use crate::calendar::{self, CalendarConfig, PersonMeetings};
use crate::day::day_load;
use crate::load::{ActivityLoad, DayActivity, NotificationDay, WeekHours};
use crate::probe::accounts::Account;

/// Days kept in a person's file.
const KEPT_DAYS: i32 = 42;

/// A person's file: their working hours and recent days.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PersonFile {
    pub working_hours: SavedHours,
    pub days: Vec<SavedDay>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SavedHours {
    pub start_minute: i32,
    pub end_minute: i32,
    pub days: Vec<i32>,
}

impl Default for SavedHours {
    fn default() -> Self {
        let hours = WeekHours::default();
        Self {
            start_minute: hours.start_minute,
            end_minute: hours.end_minute,
            days: hours.days,
        }
    }
}

/// One day as kept locally.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedDay {
    pub date: Date,
    pub active_minutes: i32,
    pub after_hours_active_minutes: i32,
    pub weekend_active_minutes: i32,
    pub call_minutes: Option<i32>,
    pub notifications: Option<[i32; 6]>,
    pub device_on: bool,
}

impl From<&DayActivity> for SavedDay {
    fn from(day: &DayActivity) -> Self {
        Self {
            date: day.date,
            active_minutes: day.activity.active_minutes,
            after_hours_active_minutes: day.activity.after_hours_active_minutes,
            weekend_active_minutes: day.activity.weekend_active_minutes,
            call_minutes: day.call_minutes,
            notifications: day
                .notifications
                .map(|n| [n.total, n.after_hours, n.chat, n.mail, n.calendar, n.other]),
            device_on: day.device_on,
        }
    }
}

impl SavedDay {
    fn activity(&self, login: &str) -> DayActivity {
        DayActivity {
            login: login.to_owned(),
            date: self.date,
            activity: ActivityLoad {
                active_minutes: self.active_minutes,
                after_hours_active_minutes: self.after_hours_active_minutes,
                weekend_active_minutes: self.weekend_active_minutes,
            },
            call_minutes: self.call_minutes,
            notifications: self.notifications.map(
                |[total, after_hours, chat, mail, calendar, other]| NotificationDay {
                    total,
                    after_hours,
                    chat,
                    mail,
                    calendar,
                    other,
                },
            ),
            device_on: self.device_on,
        }
    }
}

/// Where people's files go by default: beside the state directory of a
/// system installation (which only root may enter), inside it otherwise.
pub fn default_dir(state_dir: &Path) -> PathBuf {
    if state_dir == Path::new("/var/lib/sobrio-agent") {
        PathBuf::from("/var/lib/sobrio-agent-people")
    } else {
        state_dir.join("people")
    }
}

fn file_path(dir: &Path, login: &str) -> PathBuf {
    // Logins are plain names; anything else cannot name a file here.
    let safe: String = login
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || "._-@".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    dir.join(format!("{safe}.json"))
}

/// Merges `days` into the person's file (newer values win), drops days
/// older than six weeks, and leaves the file readable by its owner only —
/// the person, when the agent runs as root.
///
/// # Errors
/// When the directory or file cannot be written.
pub fn save(
    dir: &Path,
    account: &Account,
    hours: &WeekHours,
    days: &[DayActivity],
    today: Date,
) -> anyhow::Result<()> {
    if !dir.exists() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        // People cross it to their own file; they cannot list it.
        #[cfg(unix)]
        std::fs::set_permissions(dir, std::os::unix::fs::PermissionsExt::from_mode(0o711))?;
    }
    let path = file_path(dir, &account.login);
    let mut file: PersonFile = std::fs::read(&path)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default();
    file.working_hours = SavedHours {
        start_minute: hours.start_minute,
        end_minute: hours.end_minute,
        days: hours.days.clone(),
    };
    for day in days {
        file.days.retain(|d| d.date != day.date);
        file.days.push(day.into());
    }
    let oldest = today.saturating_sub(KEPT_DAYS.days());
    file.days.retain(|d| d.date >= oldest);
    file.days.sort_by_key(|d| d.date);
    let temporary = path.with_extension("json.tmp");
    std::fs::write(&temporary, serde_json::to_vec(&file)?)
        .with_context(|| format!("cannot write {}", temporary.display()))?;
    #[cfg(unix)]
    std::fs::set_permissions(
        &temporary,
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )?;
    #[cfg(unix)]
    if crate::probe::accounts::own_uid() == Some(0) && account.uid != 0 {
        // Without CAP_CHOWN the file stays root's: `me` then shows the
        // calendar fields only.
        if let Err(error) =
            std::os::unix::fs::chown(&temporary, Some(account.uid), Some(account.gid))
        {
            tracing::debug!(%error, "cannot give the person their own file");
        }
    }
    std::fs::rename(&temporary, &path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

/// Reads a person's file; `Ok(None)` when there is none.
///
/// # Errors
/// When it exists but cannot be read or parsed.
pub fn load(dir: &Path, login: &str) -> anyhow::Result<Option<PersonFile>> {
    let path = file_path(dir, login);
    match std::fs::read(&path) {
        Ok(bytes) => {
            Ok(Some(serde_json::from_slice(&bytes).with_context(|| {
                format!("{} is damaged", path.display())
            })?))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

/// The Monday of ISO week `YYYY-Www`.
///
/// # Errors
/// When the text is not an ISO week.
pub fn week_start(text: &str) -> anyhow::Result<Date> {
    let bad = || anyhow::anyhow!("invalid week {text:?}: expected YYYY-Www, e.g. 2026-W48");
    let (year, week) = text.split_once("-W").ok_or_else(bad)?;
    let year: i16 = year.parse().map_err(|_| bad())?;
    let week: i8 = week.parse().map_err(|_| bad())?;
    let iso = jiff::civil::ISOWeekDate::new(year, week, jiff::civil::Weekday::Monday)
        .map_err(|_| bad())?;
    Ok(iso.date())
}

/// The person's week: one [`crate::day::DayLoad`] per day, as JSON objects.
/// Fields with no data are null.
///
/// # Errors
/// When the calendar settings are invalid.
pub async fn week(
    login: &str,
    home: Option<&Path>,
    people_dir: &Path,
    monday: Date,
    calendar_sources: &[String],
    tz: &TimeZone,
) -> anyhow::Result<(Vec<serde_json::Value>, Vec<String>)> {
    let mut notes = Vec::new();
    let saved = match load(people_dir, login) {
        Ok(saved) => saved,
        Err(error) => {
            notes.push(format!(
                "activity, calls and notifications unavailable: {error:#}"
            ));
            None
        }
    };
    if saved.is_none() && notes.is_empty() {
        notes.push(format!(
            "no activity recorded for {login} in {} (is the agent running?)",
            people_dir.display()
        ));
    }
    let hours = saved
        .as_ref()
        .map_or_else(WeekHours::default, |f| WeekHours {
            start_minute: f.working_hours.start_minute,
            end_minute: f.working_hours.end_minute,
            days: f.working_hours.days.clone(),
        });
    let mut config = match home {
        Some(home) => CalendarConfig::for_home(home)?.unwrap_or_default(),
        None => CalendarConfig::default(),
    };
    if !calendar_sources.is_empty() {
        config = config.with_sources(calendar_sources);
    }
    let meetings: Option<PersonMeetings> = if config.sources.is_empty() {
        notes.push(format!(
            "no calendar configured (~/{}, or --calendar)",
            calendar::USER_CONFIG
        ));
        None
    } else {
        let from = monday
            .saturating_sub(1.day())
            .to_zoned(tz.clone())?
            .timestamp();
        let to = monday
            .saturating_add(8.days())
            .to_zoned(tz.clone())?
            .timestamp();
        let read = calendar::read(&config, from, to, tz, calendar::fetch::Limits::default()).await;
        notes.extend(read.problems.iter().cloned());
        Some(read)
    };
    let mut rows = Vec::new();
    for offset in 0..7 {
        let date = monday.saturating_add(offset.days());
        let saved_day = saved
            .as_ref()
            .and_then(|f| f.days.iter().find(|d| d.date == date));
        let activity = saved_day.map_or_else(
            || SavedDay {
                date,
                active_minutes: 0,
                after_hours_active_minutes: 0,
                weekend_active_minutes: 0,
                call_minutes: None,
                notifications: None,
                device_on: true,
            },
            Clone::clone,
        );
        let mut day = day_load(&activity.activity(login), meetings.as_ref(), &hours, tz);
        if saved_day.is_none() {
            day.active_minutes = None;
            day.after_hours_active_minutes = None;
            day.weekend_active_minutes = None;
        }
        rows.push(serde_json::to_value(day)?);
    }
    Ok((rows, notes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_weeks_start_on_monday() {
        assert_eq!(week_start("2026-W44").unwrap().to_string(), "2026-10-26");
        assert_eq!(week_start("2027-W01").unwrap().to_string(), "2027-01-04");
        assert!(week_start("2026-44").is_err());
        assert!(week_start("2026-W54").is_err());
    }

    #[test]
    fn a_person_file_keeps_six_weeks_and_the_newest_values() {
        let dir = tempfile::tempdir().unwrap();
        let account = Account {
            login: "alice".into(),
            uid: 1000,
            gid: 1000,
            home: "/home/alice".into(),
        };
        let day = |date: Date, active: i32| DayActivity {
            login: "alice".into(),
            date,
            activity: ActivityLoad {
                active_minutes: active,
                ..ActivityLoad::default()
            },
            call_minutes: Some(3),
            notifications: None,
            device_on: true,
        };
        let today = jiff::civil::date(2026, 11, 29);
        let hours = WeekHours::default();
        save(
            dir.path(),
            &account,
            &hours,
            &[day(jiff::civil::date(2026, 10, 1), 10), day(today, 5)],
            today,
        )
        .unwrap();
        save(dir.path(), &account, &hours, &[day(today, 50)], today).unwrap();
        let file = load(dir.path(), "alice").unwrap().unwrap();
        assert_eq!(file.days.len(), 1, "October 1 is older than six weeks");
        assert_eq!(file.days[0].active_minutes, 50);
        assert!(load(dir.path(), "bob").unwrap().is_none());
    }
}
