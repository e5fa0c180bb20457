//! Collector configuration: TOML, unknown keys refused, then validated.
//!
//! Every key has a default, so an empty file (or none) is a valid
//! configuration. Command-line flags override the file.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

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

fn invalid(key: &str, value: impl std::fmt::Display, expected: &str) -> ConfigError {
    ConfigError::Invalid {
        key: key.into(),
        value: value.to_string(),
        expected: expected.into(),
    }
}

/// The whole configuration file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct CollectorConfig {
    pub server: ServerConfig,
    pub tls: TlsConfig,
    pub limits: LimitsConfig,
    pub ingest: IngestConfig,
    pub retention: RetentionConfig,
    pub policy: PolicyConfig,
    pub analysis: AnalysisConfig,
    pub indicators: IndicatorsConfig,
    pub metrics: MetricsConfig,
}

/// Who may read `/metrics`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// Serve `/metrics` on this address only (for Prometheus on a private
    /// network), instead of the dashboards' HTTP address.
    pub addr: Option<SocketAddr>,
    /// A file holding a token (at least 32 characters) that scrapes must
    /// send as `Authorization: Bearer TOKEN` (Prometheus:
    /// `authorization.credentials_file`).
    pub token_file: Option<PathBuf>,
}

impl MetricsConfig {
    /// The token scrapes must send, read from `token_file`.
    ///
    /// # Errors
    /// When the file cannot be read or the token is shorter than 32
    /// characters.
    pub fn token(&self) -> Result<Option<String>, ConfigError> {
        let Some(path) = &self.token_file else {
            return Ok(None);
        };
        let text = std::fs::read_to_string(path).map_err(|error| {
            invalid(
                "metrics.token_file",
                path.display(),
                &format!("a readable file ({error})"),
            )
        })?;
        let token = text.trim();
        if token.chars().count() < 32 || token.contains(char::is_whitespace) {
            return Err(invalid(
                "metrics.token_file",
                path.display(),
                "a file holding one token of at least 32 characters (e.g. `openssl rand -hex 32`)",
            ));
        }
        Ok(Some(token.to_owned()))
    }
}

/// HR indicators: group size, cut points, alerts, differential privacy.
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
            differential_privacy: DifferentialPrivacyConfig::default(),
        }
    }
}

/// Noise on published counts (off by default).
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
        Self {
            enabled: false,
            epsilon: 1.0,
            budget_per_week: 3.0,
        }
    }
}

/// Thresholds and defaults of the suggestions (README, "Suggestions for IT").
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
}

impl Default for AnalysisConfig {
    fn default() -> Self {
        Self {
            underused_active_hours_per_week: 5.0,
            overloaded_hot_share: 0.2,
            disk_full_percent: 90.0,
            worn_battery_percent: 70.0,
            extension_years: 2.0,
            weeks: 4,
            time_zone: String::new(),
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
        }
    }
}

/// Group commit of reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IngestConfig {
    /// Most reports in one transaction.
    pub max_batch_reports: usize,
    /// Longest wait, in milliseconds, for more calls to share a transaction.
    pub max_batch_wait_ms: u64,
    /// Writer tasks; 0 chooses (2 on SQLite, 4 on PostgreSQL).
    pub writers: usize,
}

impl Default for IngestConfig {
    fn default() -> Self {
        Self {
            max_batch_reports: 512,
            max_batch_wait_ms: 3,
            writers: 0,
        }
    }
}

/// How long data is kept, in days, and how often retention runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionConfig {
    /// Raw reports and hourly buckets (30 to 365).
    pub raw_days: u32,
    /// Person-day digital-load rows, after their week was aggregated (1 to 35).
    pub person_day_days: u32,
    /// Rollups, storage snapshots and inventory history (90 to 3650).
    pub aggregate_days: u32,
    /// How often the retention job runs (on one replica).
    pub interval_secs: u32,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        Self {
            raw_days: 90,
            person_day_days: 35,
            aggregate_days: 730,
            interval_secs: 3600,
        }
    }
}

/// Listening addresses and names.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// gRPC (agents).
    pub grpc_addr: SocketAddr,
    /// HTTP (dashboards, API, health).
    pub http_addr: SocketAddr,
    /// Extra DNS names or IP addresses agents use to reach the collector; the
    /// server certificate covers them besides the host name, `localhost` and
    /// `127.0.0.1`.
    pub names: Vec<String>,
    /// Plaintext gRPC with bearer secrets, for development only.
    pub insecure_dev: bool,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            grpc_addr: SocketAddr::from(([0, 0, 0, 0], 50051)),
            http_addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            names: Vec::new(),
            insecure_dev: false,
        }
    }
}

/// Certificates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsConfig {
    /// CA certificate (PEM) to use instead of the CA kept in the store; needs
    /// `ca_key_file`.
    pub ca_certificate_file: Option<PathBuf>,
    /// The CA's private key (PEM).
    pub ca_key_file: Option<PathBuf>,
    /// Lifetime of device certificates.
    pub client_certificate_days: u32,
}

impl Default for TlsConfig {
    fn default() -> Self {
        Self {
            ca_certificate_file: None,
            ca_key_file: None,
            client_certificate_days: 90,
        }
    }
}

/// Limits that protect the collector from oversized or abusive input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Largest gRPC message accepted.
    pub max_message_bytes: usize,
    /// Largest single encoded report.
    pub max_report_bytes: usize,
    /// Most reports in one Submit call.
    pub max_reports_per_submit: usize,
    /// Concurrent gRPC streams per connection.
    pub max_concurrent_streams: u32,
    /// HTTP: time to send a request's headers, and most time a kept-alive
    /// connection may sit idle between requests.
    pub http_header_timeout_secs: u32,
    /// HTTP: most time for one request (408 beyond).
    pub http_request_timeout_secs: u32,
    /// HTTP connections open at once; more wait to be accepted.
    pub http_max_connections: usize,
    /// HTTP connections one client address (an IPv6 /64) may hold; more
    /// are closed at once.
    pub http_max_connections_per_address: usize,
}

impl LimitsConfig {
    /// The HTTP server's limits.
    #[must_use]
    pub fn http(&self) -> HttpLimits {
        HttpLimits {
            header_timeout: std::time::Duration::from_secs(self.http_header_timeout_secs.into()),
            request_timeout: std::time::Duration::from_secs(self.http_request_timeout_secs.into()),
            max_connections: self.http_max_connections,
            max_per_address: self.http_max_connections_per_address,
        }
    }
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            max_message_bytes: 8 * 1024 * 1024,
            max_report_bytes: 256 * 1024,
            max_reports_per_submit: 1000,
            max_concurrent_streams: 64,
            http_header_timeout_secs: 10,
            http_request_timeout_secs: 60,
            http_max_connections: 512,
            http_max_connections_per_address: 64,
        }
    }
}

/// The policy given to agents.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PolicyConfig {
    /// How often agents send what they collected.
    pub report_interval_secs: u32,
    /// Working hours of departments without their own.
    pub working_hours: WorkingHoursConfig,
    /// Working hours by department name.
    pub departments: BTreeMap<String, WorkingHoursConfig>,
    /// Signals the organisation allows agents to collect.
    pub signals: SignalsConfig,
    /// Roots of the reclaimable-storage scan; empty: home and temp directories.
    pub scan_roots: Vec<String>,
    /// Wall-time budget of one storage scan.
    pub storage_scan_budget_secs: u32,
}

impl Default for PolicyConfig {
    fn default() -> Self {
        Self {
            report_interval_secs: 3600,
            working_hours: WorkingHoursConfig::default(),
            departments: BTreeMap::new(),
            signals: SignalsConfig::default(),
            scan_roots: Vec::new(),
            storage_scan_budget_secs: 120,
        }
    }
}

/// Working hours, local time.
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
        Self {
            start: "09:00".into(),
            end: "18:00".into(),
            days: ["mon", "tue", "wed", "thu", "fri"]
                .map(String::from)
                .to_vec(),
        }
    }
}

/// Working hours, validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct WorkingHours {
    pub start_minute: i32,
    pub end_minute: i32,
    /// ISO weekday numbers, ascending.
    pub days: [bool; 7],
}

impl WorkingHours {
    /// ISO weekday numbers (1 = Monday).
    pub fn iso_days(&self) -> Vec<i32> {
        (1..=7)
            .filter(|d| self.days[usize::try_from(d - 1).unwrap_or(0)])
            .collect()
    }
}

impl WorkingHoursConfig {
    /// Validates, naming `section` in errors.
    ///
    /// # Errors
    /// When a time is not `HH:MM`, the end is not after the start, or a day is
    /// unknown.
    pub fn validate(&self, section: &str) -> Result<WorkingHours, ConfigError> {
        let start = parse_hh_mm(&self.start).ok_or_else(|| {
            invalid(
                &format!("{section}.start"),
                format!("{:?}", self.start),
                "expected HH:MM",
            )
        })?;
        let end = parse_hh_mm(&self.end).ok_or_else(|| {
            invalid(
                &format!("{section}.end"),
                format!("{:?}", self.end),
                "expected HH:MM",
            )
        })?;
        if end <= start {
            return Err(invalid(
                &format!("{section}.end"),
                format!("{:?}", self.end),
                &format!("must be after start {:?}", self.start),
            ));
        }
        let mut days = [false; 7];
        for day in &self.days {
            let index = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
                .iter()
                .position(|d| d.eq_ignore_ascii_case(day))
                .ok_or_else(|| {
                    invalid(
                        &format!("{section}.days"),
                        format!("{day:?}"),
                        "expected mon, tue, wed, thu, fri, sat or sun",
                    )
                })?;
            days[index] = true;
        }
        Ok(WorkingHours {
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

/// Signals the organisation allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SignalsConfig {
    pub inventory: bool,
    pub usage: bool,
    pub storage: bool,
    pub calendar: bool,
    pub calls: bool,
    pub notifications: bool,
    pub activity: bool,
}

impl Default for SignalsConfig {
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

impl CollectorConfig {
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
    /// As [`CollectorConfig::load`].
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
        match (&self.tls.ca_certificate_file, &self.tls.ca_key_file) {
            (Some(_), None) => {
                return Err(invalid(
                    "tls.ca_key_file",
                    "(missing)",
                    "required with tls.ca_certificate_file",
                ));
            }
            (None, Some(_)) => {
                return Err(invalid(
                    "tls.ca_certificate_file",
                    "(missing)",
                    "required with tls.ca_key_file",
                ));
            }
            _ => {}
        }
        if !(1..=825).contains(&self.tls.client_certificate_days) {
            return Err(invalid(
                "tls.client_certificate_days",
                self.tls.client_certificate_days,
                "expected 1 to 825 days",
            ));
        }
        let limits = &self.limits;
        if !(64 * 1024..=64 * 1024 * 1024).contains(&limits.max_message_bytes) {
            return Err(invalid(
                "limits.max_message_bytes",
                limits.max_message_bytes,
                "expected 65536 to 67108864",
            ));
        }
        if !(1024..=limits.max_message_bytes).contains(&limits.max_report_bytes) {
            return Err(invalid(
                "limits.max_report_bytes",
                limits.max_report_bytes,
                "expected 1024 to limits.max_message_bytes",
            ));
        }
        if !(1..=10_000).contains(&limits.max_reports_per_submit) {
            return Err(invalid(
                "limits.max_reports_per_submit",
                limits.max_reports_per_submit,
                "expected 1 to 10000",
            ));
        }
        if !(1..=10_000).contains(&limits.max_concurrent_streams) {
            return Err(invalid(
                "limits.max_concurrent_streams",
                limits.max_concurrent_streams,
                "expected 1 to 10000",
            ));
        }
        for (key, value, range) in [
            (
                "limits.http_header_timeout_secs",
                limits.http_header_timeout_secs,
                1..=600,
            ),
            (
                "limits.http_request_timeout_secs",
                limits.http_request_timeout_secs,
                1..=3600,
            ),
        ] {
            if !range.contains(&value) {
                return Err(invalid(
                    key,
                    value,
                    &format!("expected {} to {}", range.start(), range.end()),
                ));
            }
        }
        if !(1..=100_000).contains(&limits.http_max_connections) {
            return Err(invalid(
                "limits.http_max_connections",
                limits.http_max_connections,
                "expected 1 to 100000",
            ));
        }
        if !(1..=limits.http_max_connections).contains(&limits.http_max_connections_per_address) {
            return Err(invalid(
                "limits.http_max_connections_per_address",
                limits.http_max_connections_per_address,
                "expected 1 to limits.http_max_connections",
            ));
        }
        let ingest = &self.ingest;
        if !(1..=10_000).contains(&ingest.max_batch_reports) {
            return Err(invalid(
                "ingest.max_batch_reports",
                ingest.max_batch_reports,
                "expected 1 to 10000",
            ));
        }
        if ingest.max_batch_wait_ms > 1000 {
            return Err(invalid(
                "ingest.max_batch_wait_ms",
                ingest.max_batch_wait_ms,
                "expected 0 to 1000 milliseconds",
            ));
        }
        if ingest.writers > 64 {
            return Err(invalid(
                "ingest.writers",
                ingest.writers,
                "expected 0 (automatic) to 64",
            ));
        }
        let retention = &self.retention;
        if !(30..=365).contains(&retention.raw_days) {
            return Err(invalid(
                "retention.raw_days",
                retention.raw_days,
                "expected 30 to 365 days",
            ));
        }
        if !(1..=35).contains(&retention.person_day_days) {
            return Err(invalid(
                "retention.person_day_days",
                retention.person_day_days,
                "expected 1 to 35 days",
            ));
        }
        if !(90..=3650).contains(&retention.aggregate_days) {
            return Err(invalid(
                "retention.aggregate_days",
                retention.aggregate_days,
                "expected 90 to 3650 days",
            ));
        }
        if !(60..=86_400).contains(&retention.interval_secs) {
            return Err(invalid(
                "retention.interval_secs",
                retention.interval_secs,
                "expected 60 to 86400 seconds",
            ));
        }
        let policy = &self.policy;
        if !(60..=86_400).contains(&policy.report_interval_secs) {
            return Err(invalid(
                "policy.report_interval_secs",
                policy.report_interval_secs,
                "expected 60 to 86400 seconds",
            ));
        }
        if !(10..=3600).contains(&policy.storage_scan_budget_secs) {
            return Err(invalid(
                "policy.storage_scan_budget_secs",
                policy.storage_scan_budget_secs,
                "expected 10 to 3600 seconds",
            ));
        }
        policy.working_hours.validate("policy.working_hours")?;
        for (department, hours) in &policy.departments {
            if department.trim().is_empty() {
                return Err(invalid(
                    "policy.departments",
                    "\"\"",
                    "department names must not be empty",
                ));
            }
            hours.validate(&format!("policy.departments.{department}"))?;
        }
        let indicators = &self.indicators;
        if indicators.k < 5 {
            return Err(invalid(
                "indicators.k",
                indicators.k,
                "expected 5 or more: smaller groups could single people out",
            ));
        }
        if indicators.k > 1000 {
            return Err(invalid("indicators.k", indicators.k, "expected 5 to 1000"));
        }
        for (key, cuts) in [
            (
                "indicators.meeting_cut_points",
                &indicators.meeting_cut_points,
            ),
            (
                "indicators.after_hours_cut_points",
                &indicators.after_hours_cut_points,
            ),
        ] {
            if cuts.is_empty() || cuts.len() > 5 || cuts.iter().any(|c| !(0.0..=168.0).contains(c))
            {
                return Err(invalid(
                    key,
                    format!("{cuts:?}"),
                    "expected 1 to 5 hours between 0 and 168",
                ));
            }
        }
        for (key, value) in [
            ("indicators.focus_flag_hours", indicators.focus_flag_hours),
            (
                "indicators.alert_meeting_hours",
                indicators.alert_meeting_hours,
            ),
            ("indicators.alert_after_hours", indicators.alert_after_hours),
        ] {
            if !(0.0..=168.0).contains(&value) {
                return Err(invalid(key, value, "expected 0 to 168 hours"));
            }
        }
        for (key, value, range) in [
            (
                "indicators.publish_after_days",
                indicators.publish_after_days,
                1..=14,
            ),
            (
                "indicators.people_per_device",
                indicators.people_per_device,
                1..=50,
            ),
            (
                "indicators.devices_per_person_alert",
                indicators.devices_per_person_alert,
                2..=50,
            ),
        ] {
            if !range.contains(&value) {
                return Err(invalid(
                    key,
                    value,
                    &format!("expected {} to {}", range.start(), range.end()),
                ));
            }
        }
        let dp = &indicators.differential_privacy;
        if !(0.01..=10.0).contains(&dp.epsilon) {
            return Err(invalid(
                "indicators.differential_privacy.epsilon",
                dp.epsilon,
                "expected 0.01 to 10",
            ));
        }
        if !(dp.epsilon..=100.0).contains(&dp.budget_per_week) {
            return Err(invalid(
                "indicators.differential_privacy.budget_per_week",
                dp.budget_per_week,
                "expected epsilon to 100",
            ));
        }
        let analysis = &self.analysis;
        let ranges: [(&str, f64, f64, f64); 5] = [
            (
                "analysis.underused_active_hours_per_week",
                analysis.underused_active_hours_per_week,
                0.0,
                40.0,
            ),
            (
                "analysis.overloaded_hot_share",
                analysis.overloaded_hot_share,
                0.05,
                1.0,
            ),
            (
                "analysis.disk_full_percent",
                analysis.disk_full_percent,
                50.0,
                100.0,
            ),
            (
                "analysis.worn_battery_percent",
                analysis.worn_battery_percent,
                10.0,
                100.0,
            ),
            (
                "analysis.extension_years",
                analysis.extension_years,
                1.0,
                5.0,
            ),
        ];
        for (key, value, low, high) in ranges {
            if !(low..=high).contains(&value) {
                return Err(invalid(key, value, &format!("expected {low} to {high}")));
            }
        }
        if !(1..=12).contains(&analysis.weeks) {
            return Err(invalid(
                "analysis.weeks",
                analysis.weeks,
                "expected 1 to 12",
            ));
        }
        if !(60..=86_400).contains(&analysis.interval_secs) {
            return Err(invalid(
                "analysis.interval_secs",
                analysis.interval_secs,
                "expected 60 to 86400 seconds",
            ));
        }
        if !analysis.time_zone.is_empty() && jiff::tz::TimeZone::get(&analysis.time_zone).is_err() {
            return Err(invalid(
                "analysis.time_zone",
                format!("{:?}", analysis.time_zone),
                "expected an IANA time zone such as Europe/Paris",
            ));
        }
        for (category, price) in &analysis.default_price_eur {
            if !(0.0..=100_000.0).contains(price) {
                return Err(invalid(
                    &format!("analysis.default_price_eur.{category}"),
                    price,
                    "expected 0 to 100000 euros",
                ));
            }
        }
        for name in &self.server.names {
            if name.is_empty() || name.len() > 253 || name.contains(char::is_whitespace) {
                return Err(invalid(
                    "server.names",
                    format!("{name:?}"),
                    "expected DNS names or IP addresses",
                ));
            }
        }
        Ok(())
    }

    /// Retention periods.
    pub fn retention(&self) -> Retention {
        Retention {
            raw_days: self.retention.raw_days.into(),
            person_day_days: self.retention.person_day_days.into(),
            aggregate_days: self.retention.aggregate_days.into(),
        }
    }

    /// Working hours of a department.
    pub fn working_hours(&self, department: &str) -> WorkingHours {
        self.policy
            .departments
            .get(department)
            .unwrap_or(&self.policy.working_hours)
            .validate("policy")
            .expect("working hours were validated at load")
    }
}

/// What the HTTP server allows each client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpLimits {
    pub header_timeout: std::time::Duration,
    pub request_timeout: std::time::Duration,
    pub max_connections: usize,
    pub max_per_address: usize,
}

/// Retention periods, in days.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Raw reports and hourly buckets.
    pub raw_days: i64,
    /// Person-day rows, counted from when their week was aggregated.
    pub person_day_days: i64,
    /// Rollups, storage snapshots and inventory history.
    pub aggregate_days: i64,
}

impl Default for Retention {
    fn default() -> Self {
        Self {
            raw_days: 90,
            person_day_days: 35,
            aggregate_days: 730,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_round_trip_through_toml() {
        let config = CollectorConfig::default();
        let text = toml::to_string(&config).unwrap();
        assert_eq!(CollectorConfig::parse(&text, "test").unwrap(), config);
        assert_eq!(CollectorConfig::parse("", "test").unwrap(), config);
    }

    #[test]
    fn default_working_hours_are_nine_to_six_monday_to_friday() {
        let hours = CollectorConfig::default().working_hours("anything");
        assert_eq!((hours.start_minute, hours.end_minute), (540, 1080));
        assert_eq!(hours.iso_days(), vec![1, 2, 3, 4, 5]);
    }

    fn error_of(text: &str) -> String {
        CollectorConfig::parse(text, "collector.toml")
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn unknown_keys_are_refused_by_name() {
        let error = error_of("[server]\ngrpc_adr = \"127.0.0.1:1\"\n");
        assert!(error.contains("grpc_adr"), "{error}");
    }

    #[test]
    fn bad_values_are_refused_with_key_value_and_expectation() {
        let cases = [
            (
                "[policy.working_hours]\nstart = \"25:00\"\n",
                "policy.working_hours.start",
                "\"25:00\"",
            ),
            (
                "[policy.working_hours]\nstart = \"18:00\"\nend = \"09:00\"\n",
                "policy.working_hours.end",
                "after start",
            ),
            (
                "[policy.working_hours]\ndays = [\"monday\"]\n",
                "policy.working_hours.days",
                "\"monday\"",
            ),
            (
                "[policy.departments.Finance]\nend = \"9h\"\n",
                "policy.departments.Finance.end",
                "HH:MM",
            ),
            (
                "[policy]\nreport_interval_secs = 5\n",
                "policy.report_interval_secs",
                "60 to 86400",
            ),
            (
                "[limits]\nmax_reports_per_submit = 0\n",
                "limits.max_reports_per_submit",
                "1 to 10000",
            ),
            (
                "[limits]\nmax_report_bytes = 100000000\n",
                "limits.max_report_bytes",
                "100000000",
            ),
            (
                "[tls]\nca_certificate_file = \"ca.pem\"\n",
                "tls.ca_key_file",
                "required",
            ),
            (
                "[tls]\nclient_certificate_days = 0\n",
                "tls.client_certificate_days",
                "1 to 825",
            ),
            (
                "[server]\nnames = [\"bad name\"]\n",
                "server.names",
                "DNS names",
            ),
            (
                "[retention]\nperson_day_days = 60\n",
                "retention.person_day_days",
                "1 to 35",
            ),
            (
                "[retention]\nraw_days = 7\n",
                "retention.raw_days",
                "30 to 365",
            ),
            (
                "[ingest]\nmax_batch_wait_ms = 5000\n",
                "ingest.max_batch_wait_ms",
                "0 to 1000",
            ),
        ];
        for (text, key, detail) in cases {
            let error = error_of(text);
            assert!(
                error.contains(key) && error.contains(detail),
                "{text:?} gave {error:?}"
            );
        }
    }

    #[test]
    fn a_type_error_names_the_file_and_key() {
        let error = error_of("[server]\ngrpc_addr = 5\n");
        assert!(
            error.contains("collector.toml") && error.contains("grpc_addr"),
            "{error}"
        );
    }
}
