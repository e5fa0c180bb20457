//! Agent configuration: TOML, unknown keys refused, then validated.
//!
//! Every key has a default. The collector's policy wins over this file, except
//! that a signal turned off here stays off (never on against the policy).

use std::path::Path;

use jiff::civil::Date;
use serde::{Deserialize, Serialize};

use crate::probe::InvalidSetting;
pub use crate::probe::calls::CallsConfig;
pub use crate::probe::storage::ScanConfig;

/// A configuration error names the key, the value and what is expected.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read configuration file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("invalid configuration file {path}: {message}")]
    Parse { path: String, message: String },
    #[error("invalid value {value} for {key}: {expected}")]
    Invalid {
        key: String,
        value: String,
        expected: String,
    },
}

impl From<InvalidSetting> for ConfigError {
    fn from(invalid: InvalidSetting) -> Self {
        Self::Invalid {
            key: invalid.key.into(),
            value: invalid.value,
            expected: invalid.expected.into(),
        }
    }
}

/// The agent's configuration file (`/etc/sobrio/agent.toml`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AgentConfig {
    /// Report interval before the first policy arrives; the policy's wins.
    pub report_interval_secs: u32,
    /// The device's purchase date (`YYYY-MM-DD`), when known locally; the
    /// best source of its age after the collector's asset register.
    pub purchase_date: Option<String>,
    /// Signals collected on this device. Turning one off here keeps it off
    /// whatever the policy says.
    pub signals: LocalSignals,
    /// Reports kept in memory when the spool cannot be written (disk full),
    /// until it can.
    pub max_pending_reports: u32,
    /// The on-disk spool of reports not yet acknowledged.
    pub spool: SpoolConfig,
    /// Retries and pacing of delivery.
    pub delivery: DeliveryConfig,
    /// The storage scan's I/O budget (its time budget comes from the policy).
    pub scan: ScanConfig,
    /// Call detection.
    pub calls: CallsConfig,
    /// Where each person's recent days are kept for `sobrio-agent me`
    /// [default: /var/lib/sobrio-agent-people for the system service, the
    /// state directory's `people` otherwise].
    pub people_dir: Option<std::path::PathBuf>,
}

impl Default for AgentConfig {
    fn default() -> Self {
        Self {
            report_interval_secs: 3600,
            purchase_date: None,
            signals: LocalSignals::default(),
            max_pending_reports: 500,
            spool: SpoolConfig::default(),
            delivery: DeliveryConfig::default(),
            scan: ScanConfig::default(),
            calls: CallsConfig::default(),
            people_dir: None,
        }
    }
}

/// Bounds of the spool; when full, the oldest reports are dropped (and
/// counted in AgentHealth).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SpoolConfig {
    /// Most bytes held (1 MiB to 10 GiB).
    pub max_bytes: u64,
    /// Reports older than this are dropped (1 to 365 days).
    pub max_age_days: u32,
}

impl Default for SpoolConfig {
    fn default() -> Self {
        Self {
            max_bytes: 64 * 1024 * 1024,
            max_age_days: 30,
        }
    }
}

/// Retries with jittered exponential backoff, a random splay at start, and a
/// deadline for the last delivery at shutdown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeliveryConfig {
    /// First retry delay (1 to 3600 s).
    pub retry_min_secs: u32,
    /// Longest retry delay (retry_min_secs to 86400 s).
    pub retry_max_secs: u32,
    /// The first delivery waits a random delay up to this (0 to 3600 s), so
    /// that agents starting together do not call at once.
    pub splay_max_secs: u32,
    /// Most reports per Submit call (1 to 1000; the policy's limit wins if lower).
    pub batch_reports: u32,
    /// How long a stopping agent tries to deliver what it holds (0 to 60 s).
    pub shutdown_deadline_secs: u32,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        Self {
            retry_min_secs: 5,
            retry_max_secs: 900,
            splay_max_secs: 120,
            batch_reports: 100,
            shutdown_deadline_secs: 10,
        }
    }
}

/// Local switches, one per signal; all on by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LocalSignals {
    pub inventory: bool,
    pub usage: bool,
    pub storage: bool,
    pub calendar: bool,
    pub calls: bool,
    pub notifications: bool,
    pub activity: bool,
}

impl Default for LocalSignals {
    fn default() -> Self {
        Self {
            inventory: true,
            usage: true,
            storage: true,
            calendar: true,
            calls: true,
            notifications: true,
            activity: true,
        }
    }
}

impl AgentConfig {
    /// The configuration file read when none is named, if it exists:
    /// `/etc/sobrio/agent.toml`, `%ProgramData%\Sobrio\agent.toml` on
    /// Windows.
    #[must_use]
    pub fn default_path() -> std::path::PathBuf {
        if cfg!(windows) {
            crate::platform::windows::program_data().join("agent.toml")
        } else {
            std::path::PathBuf::from("/etc/sobrio/agent.toml")
        }
    }

    /// The file `path` names, else the default file if it exists, else the
    /// defaults.
    ///
    /// # Errors
    /// When the file cannot be read or holds a bad value.
    pub fn load_or_default(path: Option<&Path>) -> Result<Self, ConfigError> {
        match path {
            Some(path) => Self::load(path),
            None if Self::default_path().exists() => Self::load(&Self::default_path()),
            None => Ok(Self::default()),
        }
    }

    /// Reads and validates a configuration file.
    ///
    /// # Errors
    /// When the file cannot be read, does not parse, holds an unknown key or a
    /// bad value.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Parses and validates configuration text; `origin` names it in errors.
    ///
    /// # Errors
    /// As [`AgentConfig::load`].
    pub fn parse(text: &str, origin: &str) -> Result<Self, ConfigError> {
        let config: Self = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: origin.into(),
            message: e.to_string().trim_end().into(),
        })?;
        config.validate()?;
        Ok(config)
    }

    /// Checks every value.
    ///
    /// # Errors
    /// The first bad value, named.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(60..=86_400).contains(&self.report_interval_secs) {
            return Err(ConfigError::Invalid {
                key: "report_interval_secs".into(),
                value: self.report_interval_secs.to_string(),
                expected: "expected 60 to 86400 seconds".into(),
            });
        }
        if !(1..=100_000).contains(&self.max_pending_reports) {
            return Err(ConfigError::Invalid {
                key: "max_pending_reports".into(),
                value: self.max_pending_reports.to_string(),
                expected: "expected 1 to 100000".into(),
            });
        }
        let check =
            |key: &str, value: u64, range: std::ops::RangeInclusive<u64>, expected: &str| {
                if range.contains(&value) {
                    Ok(())
                } else {
                    Err(ConfigError::Invalid {
                        key: key.into(),
                        value: value.to_string(),
                        expected: expected.into(),
                    })
                }
            };
        check(
            "spool.max_bytes",
            self.spool.max_bytes,
            (1 << 20)..=(10 << 30),
            "expected 1048576 (1 MiB) to 10737418240 (10 GiB)",
        )?;
        check(
            "spool.max_age_days",
            self.spool.max_age_days.into(),
            1..=365,
            "expected 1 to 365 days",
        )?;
        let delivery = &self.delivery;
        check(
            "delivery.retry_min_secs",
            delivery.retry_min_secs.into(),
            1..=3600,
            "expected 1 to 3600 seconds",
        )?;
        check(
            "delivery.retry_max_secs",
            delivery.retry_max_secs.into(),
            u64::from(delivery.retry_min_secs)..=86_400,
            "expected delivery.retry_min_secs to 86400 seconds",
        )?;
        check(
            "delivery.splay_max_secs",
            delivery.splay_max_secs.into(),
            0..=3600,
            "expected 0 to 3600 seconds",
        )?;
        check(
            "delivery.batch_reports",
            delivery.batch_reports.into(),
            1..=1000,
            "expected 1 to 1000",
        )?;
        check(
            "delivery.shutdown_deadline_secs",
            delivery.shutdown_deadline_secs.into(),
            0..=60,
            "expected 0 to 60 seconds",
        )?;
        self.scan.validate()?;
        self.calls.validate()?;
        self.purchase_date()?;
        Ok(())
    }

    /// The configured purchase date.
    ///
    /// # Errors
    /// When it is not a `YYYY-MM-DD` date in the past.
    pub fn purchase_date(&self) -> Result<Option<Date>, ConfigError> {
        let Some(text) = &self.purchase_date else {
            return Ok(None);
        };
        let bad = |expected: &str| ConfigError::Invalid {
            key: "purchase_date".into(),
            value: format!("{text:?}"),
            expected: expected.into(),
        };
        let date = parse_date(text).ok_or_else(|| bad("expected YYYY-MM-DD"))?;
        let today = jiff::tz::Offset::UTC
            .to_datetime(jiff::Timestamp::now())
            .date();
        if date > today || date.year() < 1980 {
            return Err(bad("expected a date between 1980 and today"));
        }
        Ok(Some(date))
    }
}

/// A `YYYY-MM-DD` date: four digits of year, which may be signed, two of
/// month and two of day, nothing else.
fn parse_date(text: &str) -> Option<Date> {
    let (negative, unsigned) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let shaped = unsigned.len() == 10
        && unsigned.bytes().enumerate().all(|(i, b)| {
            if i == 4 || i == 7 {
                b == b'-'
            } else {
                b.is_ascii_digit()
            }
        });
    if !shaped {
        return None;
    }
    let year = unsigned[..4].parse::<i16>().ok()?;
    let year = if negative { -year } else { year };
    Date::new(
        year,
        unsigned[5..7].parse().ok()?,
        unsigned[8..10].parse().ok()?,
    )
    .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_round_trip_through_toml() {
        let config = AgentConfig::default();
        let text = toml::to_string(&config).unwrap();
        assert_eq!(AgentConfig::parse(&text, "t").unwrap(), config);
        assert_eq!(AgentConfig::parse("", "t").unwrap(), config);
    }

    #[test]
    fn bad_values_are_refused_with_key_value_and_expectation() {
        let cases = [
            (
                "report_interval_secs = 10\n",
                "report_interval_secs",
                "60 to 86400",
            ),
            (
                "max_pending_reports = 0\n",
                "max_pending_reports",
                "1 to 100000",
            ),
            (
                "purchase_date = \"2021-13-01\"\n",
                "purchase_date",
                "\"2021-13-01\"",
            ),
            (
                "purchase_date = \"2999-01-01\"\n",
                "purchase_date",
                "between 1980 and today",
            ),
            ("[signals]\ncamera = false\n", "camera", "unknown field"),
            (
                "report_interval_secs = \"hourly\"\n",
                "report_interval_secs",
                "agent.toml",
            ),
            ("[spool]\nmax_bytes = 10\n", "spool.max_bytes", "1 MiB"),
            (
                "[delivery]\nretry_min_secs = 60\nretry_max_secs = 30\n",
                "delivery.retry_max_secs",
                "retry_min_secs",
            ),
        ];
        for (text, key, detail) in cases {
            let error = AgentConfig::parse(text, "agent.toml")
                .unwrap_err()
                .to_string();
            assert!(
                error.contains(key) && error.contains(detail),
                "{text:?} gave {error:?}"
            );
        }
    }
}
