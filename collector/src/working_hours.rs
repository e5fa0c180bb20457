//! Working hours: as the configuration writes them (`HH:MM`, day names),
//! and as the collector uses them, parsed once at load.

use serde::{Deserialize, Serialize};

use crate::error::ConfigError;

/// Day names, Monday first (ISO order).
const DAY_NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// Working hours, local time, as the configuration writes them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WorkingHoursConfig {
    /// `HH:MM`.
    pub start: String,
    /// `HH:MM`, after `start`.
    pub end: String,
    /// Working days: `mon` … `sun`.
    pub days: Vec<String>,
}

impl Default for WorkingHoursConfig {
    fn default() -> Self {
        let hours = WorkingHours::default();
        Self {
            start: hh_mm(hours.start_minute),
            end: hh_mm(hours.end_minute),
            days: hours.day_names().map(String::from).collect(),
        }
    }
}

/// Working hours: minutes of the day and weekdays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct WorkingHours {
    /// Minutes after midnight, before `end_minute`.
    pub start_minute: i32,
    /// Minutes after midnight, up to 24:00.
    pub end_minute: i32,
    /// Working weekdays, Monday first.
    pub days: [bool; 7],
}

impl Default for WorkingHours {
    /// Nine to six, Monday to Friday.
    fn default() -> Self {
        Self {
            start_minute: 9 * 60,
            end_minute: 18 * 60,
            days: [true, true, true, true, true, false, false],
        }
    }
}

impl WorkingHours {
    /// ISO weekday numbers (1 = Monday).
    #[must_use]
    pub fn iso_days(&self) -> Vec<i32> {
        (1..=7).filter(|d| self.days[(d - 1) as usize]).collect()
    }

    /// The working days' names (`mon` … `sun`).
    pub fn day_names(&self) -> impl Iterator<Item = &'static str> + '_ {
        DAY_NAMES
            .iter()
            .zip(self.days)
            .filter_map(|(name, working)| working.then_some(*name))
    }
}

impl std::fmt::Display for WorkingHours {
    /// `09:00–18:00 · mon, tue, wed, thu, fri`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let days: Vec<&str> = self.day_names().collect();
        write!(
            f,
            "{}–{} · {}",
            hh_mm(self.start_minute),
            hh_mm(self.end_minute),
            days.join(", ")
        )
    }
}

impl TryFrom<&WorkingHoursConfig> for WorkingHours {
    type Error = ConfigError;

    /// Errors name the key within the section (`start`, `end`, `days`).
    fn try_from(config: &WorkingHoursConfig) -> Result<Self, ConfigError> {
        let start = parse_hh_mm(&config.start).ok_or_else(|| {
            ConfigError::invalid("start", format!("{:?}", config.start), "expected HH:MM")
        })?;
        let end = parse_hh_mm(&config.end).ok_or_else(|| {
            ConfigError::invalid("end", format!("{:?}", config.end), "expected HH:MM")
        })?;
        if end <= start {
            return Err(ConfigError::invalid(
                "end",
                format!("{:?}", config.end),
                &format!("must be after start {:?}", config.start),
            ));
        }
        let mut days = [false; 7];
        for day in &config.days {
            let index = DAY_NAMES
                .iter()
                .position(|d| d.eq_ignore_ascii_case(day))
                .ok_or_else(|| {
                    ConfigError::invalid(
                        "days",
                        format!("{day:?}"),
                        "expected mon, tue, wed, thu, fri, sat or sun",
                    )
                })?;
            days[index] = true;
        }
        Ok(Self {
            start_minute: start,
            end_minute: end,
            days,
        })
    }
}

fn parse_hh_mm(text: &str) -> Option<i32> {
    let (hours, minutes) = text.split_once(':')?;
    if hours.len() != 2 || minutes.len() != 2 {
        return None;
    }
    let hours: i32 = hours.parse().ok()?;
    let minutes: i32 = minutes.parse().ok()?;
    // 24:00 is allowed as an end of day.
    ((0..=23).contains(&hours) && (0..=59).contains(&minutes) || hours == 24 && minutes == 0)
        .then_some(hours * 60 + minutes)
}

fn hh_mm(minute: i32) -> String {
    format!("{:02}:{:02}", minute / 60, minute % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_is_nine_to_six_monday_to_friday_both_ways() {
        let hours = WorkingHours::default();
        assert_eq!((hours.start_minute, hours.end_minute), (540, 1080));
        assert_eq!(hours.iso_days(), vec![1, 2, 3, 4, 5]);
        assert_eq!(
            WorkingHours::try_from(&WorkingHoursConfig::default()).unwrap(),
            hours
        );
        assert_eq!(hours.to_string(), "09:00–18:00 · mon, tue, wed, thu, fri");
    }

    #[test]
    fn hours_parse_once_and_name_what_is_wrong() {
        let hours = |start: &str, end: &str, days: &[&str]| {
            WorkingHours::try_from(&WorkingHoursConfig {
                start: start.into(),
                end: end.into(),
                days: days.iter().map(|d| (*d).to_owned()).collect(),
            })
        };
        let late = hours("07:30", "24:00", &["Sat", "sun"]).unwrap();
        assert_eq!((late.start_minute, late.end_minute), (450, 1440));
        assert_eq!(late.iso_days(), vec![6, 7]);
        for (start, end, days, key) in [
            ("7:30", "16:00", &["mon"][..], "start"),
            ("09:00", "24:01", &["mon"][..], "end"),
            ("18:00", "09:00", &["mon"][..], "end"),
            ("09:00", "18:00", &["monday"][..], "days"),
        ] {
            let error = hours(start, end, days).unwrap_err().to_string();
            assert!(error.contains(&format!("for {key}:")), "{error}");
        }
    }
}
