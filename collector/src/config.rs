//! Collector configuration: TOML as written, parsed into the settings the
//! collector runs with.
//!
//! The file's sections ([`ConfigFile`]) are read with unknown keys refused,
//! then each converts (`TryFrom`) into its validated form, which lives
//! beside its domain: the suggestions' thresholds
//! ([`crate::analysis::AnalysisSettings`]), HR's privacy parameters
//! ([`crate::indicators::Settings`]), working hours
//! ([`crate::working_hours::WorkingHours`]), retention ([`Retention`]). A
//! value out of its range is refused with its key, the value and what is
//! expected; nothing is checked again later.
//!
//! Every key has a default, so an empty file (or none) is a valid
//! configuration. Command-line flags override the file.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::analysis::{AnalysisConfig, AnalysisSettings};
pub use crate::error::ConfigError;
use crate::indicators::IndicatorsConfig;
use crate::working_hours::{WorkingHours, WorkingHoursConfig};

/// The configuration file as written: its sections, unchecked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct ConfigFile {
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

/// The configuration the collector runs with: every section checked, and
/// those the collector uses in another form converted.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CollectorConfig {
    pub server: ServerConfig,
    pub tls: TlsConfig,
    pub limits: LimitsConfig,
    pub ingest: IngestConfig,
    pub retention: Retention,
    pub policy: PolicySettings,
    pub analysis: AnalysisSettings,
    pub indicators: crate::indicators::Settings,
    pub metrics: MetricsConfig,
}

impl TryFrom<ConfigFile> for CollectorConfig {
    type Error = ConfigError;

    /// Errors name the key in full (`section.key`).
    fn try_from(file: ConfigFile) -> Result<Self, ConfigError> {
        fn section<T, U: TryFrom<T, Error = ConfigError>>(
            name: &str,
            raw: T,
        ) -> Result<U, ConfigError> {
            U::try_from(raw).map_err(|error| error.within(name))
        }
        Ok(Self {
            tls: file.tls.checked().map_err(|e| e.within("tls"))?,
            limits: file.limits.checked().map_err(|e| e.within("limits"))?,
            ingest: file.ingest.checked().map_err(|e| e.within("ingest"))?,
            retention: section("retention", file.retention)?,
            policy: section("policy", file.policy)?,
            indicators: section("indicators", file.indicators)?,
            analysis: section("analysis", file.analysis)?,
            server: file.server.checked().map_err(|e| e.within("server"))?,
            metrics: file.metrics,
        })
    }
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
            ConfigError::invalid(
                "metrics.token_file",
                path.display(),
                &format!("a readable file ({error})"),
            )
        })?;
        let token = text.trim();
        if token.chars().count() < 32 || token.contains(char::is_whitespace) {
            return Err(ConfigError::invalid(
                "metrics.token_file",
                path.display(),
                "a file holding one token of at least 32 characters (e.g. `openssl rand -hex 32`)",
            ));
        }
        Ok(Some(token.to_owned()))
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
        let retention = Retention::default();
        Self {
            raw_days: u32::try_from(retention.raw_days).unwrap_or(u32::MAX),
            person_day_days: u32::try_from(retention.person_day_days).unwrap_or(u32::MAX),
            aggregate_days: u32::try_from(retention.aggregate_days).unwrap_or(u32::MAX),
            interval_secs: retention.interval_secs,
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
    /// Certificate chain (PEM) of the dashboards and the API: the HTTP
    /// listener serves HTTPS (TLS 1.2 and 1.3); reloaded when the files
    /// change or on SIGHUP. Needs `https_key_file`.
    pub https_certificate_file: Option<PathBuf>,
    /// Its private key (PEM).
    pub https_key_file: Option<PathBuf>,
    /// Reverse proxies (IP addresses or CIDR ranges) whose
    /// `X-Forwarded-For` and `X-Forwarded-Proto` are believed; from any
    /// other address those headers are ignored.
    pub trusted_proxies: Vec<String>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            grpc_addr: SocketAddr::from(([0, 0, 0, 0], 50051)),
            http_addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            names: Vec::new(),
            insecure_dev: false,
            https_certificate_file: None,
            https_key_file: None,
            trusted_proxies: Vec::new(),
        }
    }
}

/// Addresses whose forwarding headers are believed: IPs or CIDR ranges.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<(std::net::IpAddr, u8)>);

impl TrustedProxies {
    /// Parses `10.0.0.5`, `10.0.0.0/8`, `::1`, `fd00::/8`.
    ///
    /// # Errors
    /// An entry that is neither.
    pub fn parse(entries: &[String]) -> Result<Self, ConfigError> {
        let mut ranges = Vec::with_capacity(entries.len());
        for entry in entries {
            let invalid = || {
                ConfigError::invalid(
                    "trusted_proxies",
                    format!("{entry:?}"),
                    "expected IP addresses or CIDR ranges (10.0.0.5, 10.0.0.0/8, fd00::/8)",
                )
            };
            let (address, bits) = match entry.split_once('/') {
                Some((address, bits)) => (address, Some(bits)),
                None => (entry.as_str(), None),
            };
            let address: std::net::IpAddr = address.trim().parse().map_err(|_| invalid())?;
            let max = if address.is_ipv4() { 32 } else { 128 };
            let bits = match bits {
                Some(bits) => bits
                    .trim()
                    .parse::<u8>()
                    .ok()
                    .filter(|b| *b <= max)
                    .ok_or_else(invalid)?,
                None => max,
            };
            ranges.push((address, bits));
        }
        Ok(Self(ranges))
    }

    /// Whether `address` is one of them.
    #[must_use]
    pub fn contains(&self, address: std::net::IpAddr) -> bool {
        let address = match address {
            std::net::IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(address, std::net::IpAddr::V4),
            v4 @ std::net::IpAddr::V4(_) => v4,
        };
        self.0.iter().any(|(range, bits)| match (range, address) {
            (std::net::IpAddr::V4(range), std::net::IpAddr::V4(address)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(*bits)).unwrap_or(0);
                u32::from(*range) & mask == u32::from(address) & mask
            }
            (std::net::IpAddr::V6(range), std::net::IpAddr::V6(address)) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(*bits)).unwrap_or(0);
                u128::from(*range) & mask == u128::from(address) & mask
            }
            _ => false,
        })
    }

    /// Whether none is configured.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
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
    /// Reads and parses a configuration file.
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

    /// Parses configuration text; `origin` names it in errors.
    ///
    /// # Errors
    /// As [`CollectorConfig::load`].
    pub fn parse(text: &str, origin: &str) -> Result<Self, ConfigError> {
        let file: ConfigFile = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: origin.into(),
            message: e.to_string().trim_end().into(),
        })?;
        Self::try_from(file)
    }

    /// Checks what the configuration names beyond its own text: the
    /// reference data it replaces (readable, well formed, the replacement
    /// models in it) and the CA files (readable).
    ///
    /// # Errors
    /// The first file that cannot be used, with its key.
    pub fn check_files(&self) -> Result<(), ConfigError> {
        for (key, file) in [
            ("tls.ca_certificate_file", &self.tls.ca_certificate_file),
            ("tls.ca_key_file", &self.tls.ca_key_file),
        ] {
            if let Some(path) = file
                && let Err(error) = std::fs::read(path)
            {
                return Err(ConfigError::invalid(
                    key,
                    path.display(),
                    &format!("a readable file ({error})"),
                ));
            }
        }
        crate::analysis::reference_data(&self.analysis).map_err(|error| {
            ConfigError::invalid(
                "analysis",
                "(the reference data it names)",
                &format!("{error:#}"),
            )
        })?;
        Ok(())
    }

    /// Working hours of a department: its own, else the default.
    #[must_use]
    pub fn working_hours(&self, department: &str) -> WorkingHours {
        self.policy
            .departments
            .get(department)
            .copied()
            .unwrap_or(self.policy.working_hours)
    }
}

impl TlsConfig {
    /// The section, checked.
    fn checked(self) -> Result<Self, ConfigError> {
        match (&self.ca_certificate_file, &self.ca_key_file) {
            (Some(_), None) => {
                return Err(ConfigError::invalid(
                    "ca_key_file",
                    "(missing)",
                    "required with tls.ca_certificate_file",
                ));
            }
            (None, Some(_)) => {
                return Err(ConfigError::invalid(
                    "ca_certificate_file",
                    "(missing)",
                    "required with tls.ca_key_file",
                ));
            }
            _ => {}
        }
        ConfigError::check_range(
            "client_certificate_days",
            self.client_certificate_days,
            1..=825,
            "days",
        )?;
        Ok(self)
    }
}

impl LimitsConfig {
    /// The section, checked.
    fn checked(self) -> Result<Self, ConfigError> {
        ConfigError::check_range(
            "max_message_bytes",
            self.max_message_bytes,
            64 * 1024..=64 * 1024 * 1024,
            "",
        )?;
        if !(1024..=self.max_message_bytes).contains(&self.max_report_bytes) {
            return Err(ConfigError::invalid(
                "max_report_bytes",
                self.max_report_bytes,
                "expected 1024 to limits.max_message_bytes",
            ));
        }
        ConfigError::check_range(
            "max_reports_per_submit",
            self.max_reports_per_submit,
            1..=10_000,
            "",
        )?;
        ConfigError::check_range(
            "max_concurrent_streams",
            self.max_concurrent_streams,
            1..=10_000,
            "",
        )?;
        ConfigError::check_range(
            "http_header_timeout_secs",
            self.http_header_timeout_secs,
            1..=600,
            "",
        )?;
        ConfigError::check_range(
            "http_request_timeout_secs",
            self.http_request_timeout_secs,
            1..=3600,
            "",
        )?;
        ConfigError::check_range(
            "http_max_connections",
            self.http_max_connections,
            1..=100_000,
            "",
        )?;
        if !(1..=self.http_max_connections).contains(&self.http_max_connections_per_address) {
            return Err(ConfigError::invalid(
                "http_max_connections_per_address",
                self.http_max_connections_per_address,
                "expected 1 to limits.http_max_connections",
            ));
        }
        Ok(self)
    }
}

impl IngestConfig {
    /// The section, checked.
    fn checked(self) -> Result<Self, ConfigError> {
        ConfigError::check_range("max_batch_reports", self.max_batch_reports, 1..=10_000, "")?;
        ConfigError::check_range(
            "max_batch_wait_ms",
            self.max_batch_wait_ms,
            0..=1000,
            "milliseconds",
        )?;
        if self.writers > 64 {
            return Err(ConfigError::invalid(
                "writers",
                self.writers,
                "expected 0 (automatic) to 64",
            ));
        }
        Ok(self)
    }
}

impl ServerConfig {
    /// The section, checked.
    ///
    /// # Errors
    /// A value refused, named by its key within the section.
    pub fn checked(self) -> Result<Self, ConfigError> {
        for name in &self.names {
            if name.is_empty() || name.len() > 253 || name.contains(char::is_whitespace) {
                return Err(ConfigError::invalid(
                    "names",
                    format!("{name:?}"),
                    "expected DNS names or IP addresses",
                ));
            }
        }
        match (&self.https_certificate_file, &self.https_key_file) {
            (Some(_), None) => {
                return Err(ConfigError::invalid(
                    "https_key_file",
                    "(missing)",
                    "required with server.https_certificate_file",
                ));
            }
            (None, Some(_)) => {
                return Err(ConfigError::invalid(
                    "https_certificate_file",
                    "(missing)",
                    "required with server.https_key_file",
                ));
            }
            _ => {}
        }
        TrustedProxies::parse(&self.trusted_proxies)?;
        // Plain HTTP beyond this machine only behind a TLS proxy: sessions
        // and passwords never cross a network in clear.
        if self.https_certificate_file.is_none()
            && !self.http_addr.ip().is_loopback()
            && self.trusted_proxies.is_empty()
            && !self.insecure_dev
        {
            return Err(ConfigError::invalid(
                "http_addr",
                self.http_addr,
                "a loopback address for plain HTTP; beyond this machine, serve HTTPS \
                 (server.https_certificate_file and https_key_file) or name the TLS reverse \
                 proxy in front in server.trusted_proxies",
            ));
        }
        Ok(self)
    }

    /// The trusted proxies, parsed (checked at load).
    #[must_use]
    pub fn proxies(&self) -> TrustedProxies {
        TrustedProxies::parse(&self.trusted_proxies).unwrap_or_default()
    }
}

/// The policy given to agents, checked; working hours parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicySettings {
    /// Seconds between an agent's reports.
    pub report_interval_secs: u32,
    /// Working hours of departments without their own.
    pub working_hours: WorkingHours,
    /// Working hours by department name.
    pub departments: BTreeMap<String, WorkingHours>,
    /// Signals the organisation allows agents to collect.
    pub signals: SignalsConfig,
    /// Roots of the reclaimable-storage scan; empty: home and temp directories.
    pub scan_roots: Vec<String>,
    /// Wall-time budget of one storage scan, in seconds.
    pub storage_scan_budget_secs: u32,
}

impl Default for PolicySettings {
    fn default() -> Self {
        Self {
            report_interval_secs: 3600,
            working_hours: WorkingHours::default(),
            departments: BTreeMap::new(),
            signals: SignalsConfig::default(),
            scan_roots: Vec::new(),
            storage_scan_budget_secs: 120,
        }
    }
}

impl TryFrom<PolicyConfig> for PolicySettings {
    type Error = ConfigError;

    /// Errors name the key within the section.
    fn try_from(config: PolicyConfig) -> Result<Self, ConfigError> {
        let mut departments = BTreeMap::new();
        for (department, hours) in &config.departments {
            if department.trim().is_empty() {
                return Err(ConfigError::invalid(
                    "departments",
                    "\"\"",
                    "department names must not be empty",
                ));
            }
            let hours = WorkingHours::try_from(hours)
                .map_err(|error| error.within(&format!("departments.{department}")))?;
            departments.insert(department.clone(), hours);
        }
        Ok(Self {
            report_interval_secs: ConfigError::check_range(
                "report_interval_secs",
                config.report_interval_secs,
                60..=86_400,
                "seconds",
            )?,
            working_hours: WorkingHours::try_from(&config.working_hours)
                .map_err(|error| error.within("working_hours"))?,
            departments,
            signals: config.signals,
            scan_roots: config.scan_roots,
            storage_scan_budget_secs: ConfigError::check_range(
                "storage_scan_budget_secs",
                config.storage_scan_budget_secs,
                10..=3600,
                "seconds",
            )?,
        })
    }
}

impl TryFrom<RetentionConfig> for Retention {
    type Error = ConfigError;

    /// Errors name the key within the section.
    fn try_from(config: RetentionConfig) -> Result<Self, ConfigError> {
        Ok(Self {
            raw_days: ConfigError::check_range("raw_days", config.raw_days, 30..=365, "days")?
                .into(),
            person_day_days: ConfigError::check_range(
                "person_day_days",
                config.person_day_days,
                1..=35,
                "days",
            )?
            .into(),
            aggregate_days: ConfigError::check_range(
                "aggregate_days",
                config.aggregate_days,
                90..=3650,
                "days",
            )?
            .into(),
            interval_secs: ConfigError::check_range(
                "interval_secs",
                config.interval_secs,
                60..=86_400,
                "seconds",
            )?,
        })
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

/// Retention periods, in days, and how often retention runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Raw reports and hourly buckets.
    pub raw_days: i64,
    /// Person-day rows, counted from when their week was aggregated.
    pub person_day_days: i64,
    /// Rollups, storage snapshots and inventory history.
    pub aggregate_days: i64,
    /// Seconds between runs of the retention job (on one replica).
    pub interval_secs: u32,
}

impl Default for Retention {
    fn default() -> Self {
        Self {
            raw_days: 90,
            person_day_days: 35,
            aggregate_days: 730,
            interval_secs: 3600,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_s_defaults_are_the_settings_defaults_and_round_trip_through_toml() {
        let file = ConfigFile::default();
        let text = toml::to_string(&file).unwrap();
        assert_eq!(toml::from_str::<ConfigFile>(&text).unwrap(), file);
        assert_eq!(
            CollectorConfig::try_from(file).unwrap(),
            CollectorConfig::default()
        );
        assert_eq!(
            CollectorConfig::parse("", "test").unwrap(),
            CollectorConfig::default()
        );
    }

    #[test]
    fn a_department_without_hours_of_its_own_has_the_default() {
        let config = CollectorConfig::parse(
            "[policy.departments.Support]\nstart = \"07:30\"\nend = \"16:00\"\n",
            "test",
        )
        .unwrap();
        assert_eq!(config.working_hours("Support").start_minute, 450);
        assert_eq!(config.working_hours("anything"), WorkingHours::default());
    }

    #[test]
    fn a_k_under_five_is_refused() {
        let error = error_of("[indicators]\nk = 4\n");
        assert!(
            error.contains("indicators.k") && error.contains("5 or more"),
            "{error}"
        );
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
            (
                "[analysis]\ntime_zone = \"Mars/Olympus\"\n",
                "analysis.time_zone",
                "IANA",
            ),
            (
                "[indicators.differential_privacy]\nepsilon = 20.0\n",
                "indicators.differential_privacy.epsilon",
                "0.01 to 10",
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
