//! The suggestions' thresholds: the `[analysis]` section as written, and as
//! the analysis uses it, checked and resolved once at load.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::error::ConfigError;

/// Thresholds and defaults of the suggestions, as the configuration writes
/// them (README, "Suggestions for IT").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AnalysisConfig {
    /// A device is underused below this many active hours a week (0 to 40).
    pub underused_active_hours_per_week: f64,
    /// Overloaded when CPU or memory is hot (p95 ≥ 90%) in at least this
    /// share of active hours (0.05 to 1).
    pub overloaded_hot_share: f64,
    /// Overloaded (or disk-bound) at this disk fill, in percent (50 to 100).
    pub disk_full_percent: f64,
    /// A battery is worn below this health, in percent (10 to 100).
    pub worn_battery_percent: f64,
    /// Years an extension adds (1 to 5).
    pub extension_years: f64,
    /// Weeks of use considered (1 to 12).
    pub weeks: u32,
    /// Time zone of working hours for the pooling analysis (IANA name;
    /// empty: the collector's own).
    pub time_zone: String,
    /// Price of a new device by category, in euros, when the asset register
    /// has none.
    pub default_price_eur: BTreeMap<String, f64>,
    /// How often suggestions are recomputed, in seconds (60 to 86400).
    pub interval_secs: u32,
    /// A CSV replacing the embodied-carbon reference data (same columns as
    /// the built-in `data/embodied_carbon.csv`): an organisation's own rows.
    pub embodied_file: Option<PathBuf>,
    /// A CSV replacing the per-model footprints (Boavizta's columns, as the
    /// built-in `data/boavizta/boavizta-data-us.csv`): a newer or amended
    /// copy of the data set.
    pub models_file: Option<PathBuf>,
    /// Emissions of a kWh of electricity where the devices are used
    /// (kgCO2e, 0 to 2): the keep-or-replace break-even.
    pub grid_kgco2e_per_kwh: f64,
    /// The model that would replace a device, by category, as the per-model
    /// data names it ("Dell Latitude 5440"); unnamed categories are
    /// replaced by their row.
    pub replacement_models: BTreeMap<String, String>,
}

impl Default for AnalysisConfig {
    fn default() -> Self {
        let settings = AnalysisSettings::default();
        Self {
            underused_active_hours_per_week: settings.underused_active_hours_per_week,
            overloaded_hot_share: settings.overloaded_hot_share,
            disk_full_percent: settings.disk_full_percent,
            worn_battery_percent: settings.worn_battery_percent,
            extension_years: settings.extension_years,
            weeks: settings.weeks,
            time_zone: String::new(),
            default_price_eur: settings.default_price_eur,
            interval_secs: settings.interval_secs,
            embodied_file: settings.embodied_file,
            models_file: settings.models_file,
            grid_kgco2e_per_kwh: settings.grid_kgco2e_per_kwh,
            replacement_models: settings.replacement_models,
        }
    }
}

/// The suggestions' thresholds, each within its range; the time zone
/// resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct AnalysisSettings {
    /// Active hours a week under which a device is underused.
    pub underused_active_hours_per_week: f64,
    /// Share of active hours with CPU or memory hot that makes a device
    /// overloaded.
    pub overloaded_hot_share: f64,
    /// Disk fill, in percent, that makes a device overloaded.
    pub disk_full_percent: f64,
    /// Battery health, in percent, under which a battery is worn.
    pub worn_battery_percent: f64,
    /// Years an extension adds.
    pub extension_years: f64,
    /// Weeks of use considered.
    pub weeks: u32,
    /// Time zone of working hours.
    pub time_zone: jiff::tz::TimeZone,
    /// Price of a new device by category, in euros.
    pub default_price_eur: BTreeMap<String, f64>,
    /// Seconds between recomputations.
    pub interval_secs: u32,
    /// The organisation's own embodied-carbon rows, if any.
    pub embodied_file: Option<PathBuf>,
    /// The organisation's own copy of the per-model footprints, if any.
    pub models_file: Option<PathBuf>,
    /// kgCO2e per kWh of the grid the devices are used on.
    pub grid_kgco2e_per_kwh: f64,
    /// Replacement models by category name.
    pub replacement_models: BTreeMap<String, String>,
}

impl Default for AnalysisSettings {
    fn default() -> Self {
        Self {
            underused_active_hours_per_week: 5.0,
            overloaded_hot_share: 0.2,
            disk_full_percent: 90.0,
            worn_battery_percent: 70.0,
            extension_years: 2.0,
            weeks: 4,
            time_zone: jiff::tz::TimeZone::system(),
            default_price_eur: [
                ("laptop", 1100.0),
                ("desktop", 900.0),
                ("tablet", 500.0),
                ("thin_client", 400.0),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect(),
            interval_secs: 3600,
            embodied_file: None,
            models_file: None,
            // France's average consumption mix (ADEME, Base Empreinte,
            // electricity 2022, average mix, consumption): 0.052 kgCO2e/kWh.
            grid_kgco2e_per_kwh: 0.052,
            replacement_models: BTreeMap::new(),
        }
    }
}

impl TryFrom<AnalysisConfig> for AnalysisSettings {
    type Error = ConfigError;

    /// Errors name the key within the section.
    fn try_from(config: AnalysisConfig) -> Result<Self, ConfigError> {
        let time_zone = if config.time_zone.is_empty() {
            jiff::tz::TimeZone::system()
        } else {
            jiff::tz::TimeZone::get(&config.time_zone).map_err(|_| {
                ConfigError::invalid(
                    "time_zone",
                    format!("{:?}", config.time_zone),
                    "expected an IANA time zone such as Europe/Paris",
                )
            })?
        };
        for (category, price) in &config.default_price_eur {
            ConfigError::check_range(
                &format!("default_price_eur.{category}"),
                *price,
                0.0..=100_000.0,
                "euros",
            )?;
        }
        Ok(Self {
            underused_active_hours_per_week: ConfigError::check_range(
                "underused_active_hours_per_week",
                config.underused_active_hours_per_week,
                0.0..=40.0,
                "",
            )?,
            overloaded_hot_share: ConfigError::check_range(
                "overloaded_hot_share",
                config.overloaded_hot_share,
                0.05..=1.0,
                "",
            )?,
            disk_full_percent: ConfigError::check_range(
                "disk_full_percent",
                config.disk_full_percent,
                50.0..=100.0,
                "",
            )?,
            worn_battery_percent: ConfigError::check_range(
                "worn_battery_percent",
                config.worn_battery_percent,
                10.0..=100.0,
                "",
            )?,
            extension_years: ConfigError::check_range(
                "extension_years",
                config.extension_years,
                1.0..=5.0,
                "",
            )?,
            weeks: ConfigError::check_range("weeks", config.weeks, 1..=12, "")?,
            time_zone,
            default_price_eur: config.default_price_eur,
            interval_secs: ConfigError::check_range(
                "interval_secs",
                config.interval_secs,
                60..=86_400,
                "seconds",
            )?,
            embodied_file: config.embodied_file,
            models_file: config.models_file,
            grid_kgco2e_per_kwh: ConfigError::check_range(
                "grid_kgco2e_per_kwh",
                config.grid_kgco2e_per_kwh,
                0.0..=2.0,
                "kgCO2e per kWh",
            )?,
            replacement_models: config.replacement_models,
        })
    }
}
