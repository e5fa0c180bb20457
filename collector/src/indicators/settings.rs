//! HR's indicators' settings: the `[indicators]` section as written, and as
//! a release uses it, checked once at load.

use serde::{Deserialize, Serialize};

use crate::error::ConfigError;

/// HR indicators as the configuration writes them: group size, cut points,
/// alerts, differential privacy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IndicatorsConfig {
    /// Smallest group published (5 or more; a lower value is refused).
    pub k: u32,
    /// Meeting hours per person and week.
    pub meeting_cut_points: Vec<f64>,
    /// After-hours hours (meetings and activity) per person and week.
    pub after_hours_cut_points: Vec<f64>,
    /// Focus hours per week under which a person is flagged.
    pub focus_flag_hours: f64,
    /// A group whose median stays above this two weeks running is flagged.
    pub alert_meeting_hours: f64,
    pub alert_after_hours: f64,
    /// Days after a week ends before it is published (1 to 14): reports
    /// that arrive late (a device off over the weekend) still count, and
    /// once published the week never changes.
    pub publish_after_days: u32,
    /// People whose digital load one device may report in a week (1 to
    /// 50); `sobrio-collector device shared` raises it for a shared device.
    /// Rows of further people are not stored, and the device is flagged.
    /// The same bound caps the pseudonyms a device may obtain in 28 days.
    pub people_per_device: u32,
    /// A person reported by more devices than this in a week is flagged
    /// (2 to 50).
    pub devices_per_person_alert: u32,
    pub differential_privacy: DifferentialPrivacyConfig,
}

impl Default for IndicatorsConfig {
    fn default() -> Self {
        let settings = Settings::default();
        Self {
            k: settings.k,
            meeting_cut_points: settings.meeting_cut_points,
            after_hours_cut_points: settings.after_hours_cut_points,
            focus_flag_hours: settings.focus_flag_hours,
            alert_meeting_hours: settings.alert_meeting_hours,
            alert_after_hours: settings.alert_after_hours,
            publish_after_days: settings.publish_after_days,
            people_per_device: settings.people_per_device,
            devices_per_person_alert: settings.devices_per_person_alert,
            differential_privacy: DifferentialPrivacyConfig::default(),
        }
    }
}

/// Noise on published counts, as the configuration writes it (off by
/// default).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DifferentialPrivacyConfig {
    pub enabled: bool,
    /// ε of one release of one group (0.01 to 10), split over its counts.
    pub epsilon: f64,
    /// Most ε a group may spend on one week (epsilon to 100).
    pub budget_per_week: f64,
}

impl Default for DifferentialPrivacyConfig {
    fn default() -> Self {
        let dp = DifferentialPrivacy::default();
        Self {
            enabled: dp.enabled,
            epsilon: dp.epsilon,
            budget_per_week: dp.budget_per_week,
        }
    }
}

/// The settings of a release, each within its range.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// Smallest group published, 5 or more.
    pub k: u32,
    /// Meeting hours per person and week: 1 to 5 cut points.
    pub meeting_cut_points: Vec<f64>,
    /// After-hours hours per person and week: 1 to 5 cut points.
    pub after_hours_cut_points: Vec<f64>,
    /// Focus hours per week under which a person is flagged.
    pub focus_flag_hours: f64,
    /// A group's median meeting hours above which it is flagged.
    pub alert_meeting_hours: f64,
    /// A group's median after-hours hours above which it is flagged.
    pub alert_after_hours: f64,
    /// Days after a week ends before it is published.
    pub publish_after_days: u32,
    /// People whose digital load one device may report in a week.
    pub people_per_device: u32,
    /// Devices reporting one person in a week beyond which it is flagged.
    pub devices_per_person_alert: u32,
    pub differential_privacy: DifferentialPrivacy,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            k: 5,
            meeting_cut_points: vec![5.0, 10.0, 15.0],
            after_hours_cut_points: vec![1.0, 2.0, 3.0],
            focus_flag_hours: 10.0,
            alert_meeting_hours: 15.0,
            alert_after_hours: 3.0,
            publish_after_days: 3,
            people_per_device: 2,
            devices_per_person_alert: 4,
            differential_privacy: DifferentialPrivacy::default(),
        }
    }
}

/// Noise on published counts, within its ranges.
#[derive(Debug, Clone, PartialEq)]
pub struct DifferentialPrivacy {
    pub enabled: bool,
    /// ε of one release of one group, split over its counts.
    pub epsilon: f64,
    /// Most ε a group may spend on one week, at least `epsilon`.
    pub budget_per_week: f64,
}

impl Default for DifferentialPrivacy {
    fn default() -> Self {
        Self {
            enabled: false,
            epsilon: 1.0,
            budget_per_week: 3.0,
        }
    }
}

impl TryFrom<IndicatorsConfig> for Settings {
    type Error = ConfigError;

    /// Errors name the key within the section.
    fn try_from(config: IndicatorsConfig) -> Result<Self, ConfigError> {
        if config.k < 5 {
            return Err(ConfigError::invalid(
                "k",
                config.k,
                "expected 5 or more: smaller groups could single people out",
            ));
        }
        for (key, cuts) in [
            ("meeting_cut_points", &config.meeting_cut_points),
            ("after_hours_cut_points", &config.after_hours_cut_points),
        ] {
            if cuts.is_empty() || cuts.len() > 5 || cuts.iter().any(|c| !(0.0..=168.0).contains(c))
            {
                return Err(ConfigError::invalid(
                    key,
                    format!("{cuts:?}"),
                    "expected 1 to 5 hours between 0 and 168",
                ));
            }
        }
        let hours = |key, value| ConfigError::check_range(key, value, 0.0..=168.0, "hours");
        Ok(Self {
            k: ConfigError::check_range("k", config.k, 5..=1000, "")?,
            focus_flag_hours: hours("focus_flag_hours", config.focus_flag_hours)?,
            alert_meeting_hours: hours("alert_meeting_hours", config.alert_meeting_hours)?,
            alert_after_hours: hours("alert_after_hours", config.alert_after_hours)?,
            publish_after_days: ConfigError::check_range(
                "publish_after_days",
                config.publish_after_days,
                1..=14,
                "",
            )?,
            people_per_device: ConfigError::check_range(
                "people_per_device",
                config.people_per_device,
                1..=50,
                "",
            )?,
            devices_per_person_alert: ConfigError::check_range(
                "devices_per_person_alert",
                config.devices_per_person_alert,
                2..=50,
                "",
            )?,
            differential_privacy: DifferentialPrivacy::try_from(config.differential_privacy)
                .map_err(|error| error.within("differential_privacy"))?,
            meeting_cut_points: config.meeting_cut_points,
            after_hours_cut_points: config.after_hours_cut_points,
        })
    }
}

impl TryFrom<DifferentialPrivacyConfig> for DifferentialPrivacy {
    type Error = ConfigError;

    fn try_from(config: DifferentialPrivacyConfig) -> Result<Self, ConfigError> {
        let epsilon = ConfigError::check_range("epsilon", config.epsilon, 0.01..=10.0, "")?;
        if !(epsilon..=100.0).contains(&config.budget_per_week) {
            return Err(ConfigError::invalid(
                "budget_per_week",
                config.budget_per_week,
                "expected epsilon to 100",
            ));
        }
        Ok(Self {
            enabled: config.enabled,
            epsilon,
            budget_per_week: config.budget_per_week,
        })
    }
}
