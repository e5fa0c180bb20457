//! Suggestions for IT from the store's rollups (README, "Suggestions for IT"):
//! pool, reuse across departments, extend, repair, upgrade instead of
//! replace, storage hygiene — each with its rationale, the avoided kgCO2e
//! (value, range, source) and the cost avoided — and the fleet's impact.
//!
//! [`analyze`] is a pure function of the facts the store gives
//! ([`AnalysisInput`]), so that it is tested on hand-built fleets and
//! measured on simulated ones without a database.

pub mod assign;
mod device;
pub mod disposal;
pub mod embodied;
pub mod esrs;
pub mod impact;
pub mod keep;
pub mod models;
mod pool;
pub mod report;
mod reuse;
mod settings;
mod storage;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;

use jiff::civil::Date;
use serde::Serialize;

use crate::working_hours::WorkingHours;
use embodied::{Embodied, Footprint};
pub use settings::{AnalysisConfig, AnalysisSettings};

/// Device categories that suggestions move between departments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    Laptop,
    Desktop,
    Tablet,
    ThinClient,
}

impl Category {
    /// The categories a department can ask for.
    pub const REQUESTABLE: [Self; 4] =
        [Self::Laptop, Self::Desktop, Self::Tablet, Self::ThinClient];

    /// From the asset register's category or the agent's chassis; servers,
    /// virtual machines and unknown chassis are never suggested (`None`).
    /// The flag says an all-in-one: a desktop with its monitor.
    pub fn from_name(name: &str) -> Option<(Self, bool)> {
        Some(
            match name
                .trim()
                .to_ascii_lowercase()
                .replace(['-', ' '], "_")
                .as_str()
            {
                "laptop" | "notebook" | "portable" | "convertible" | "detachable" => {
                    (Self::Laptop, false)
                }
                "desktop" | "tower" | "mini_pc" | "mini_tower" | "low_profile_desktop" => {
                    (Self::Desktop, false)
                }
                "all_in_one" => (Self::Desktop, true),
                "tablet" => (Self::Tablet, false),
                "thin_client" => (Self::ThinClient, false),
                _ => return None,
            },
        )
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Laptop => "laptop",
            Self::Desktop => "desktop",
            Self::Tablet => "tablet",
            Self::ThinClient => "thin_client",
        }
    }

    /// The plural for sentences: "12 of its 30 laptops".
    pub fn plural(self) -> &'static str {
        match self {
            Self::Laptop => "laptops",
            Self::Desktop => "desktops",
            Self::Tablet => "tablets",
            Self::ThinClient => "thin clients",
        }
    }

    fn code(self) -> u8 {
        self as u8
    }

    /// The category a device's hours of use are counted under in its
    /// department's rollup, from the register's category or the agent's
    /// chassis: pools are per department and per category. `other` for what
    /// the analysis never pools.
    pub fn rollup_key(name: &str) -> &'static str {
        Self::from_name(name).map_or(Self::ROLLUP_OTHER, |(category, _)| category.name())
    }

    /// The rollup's key for devices of no category the analysis knows.
    pub const ROLLUP_OTHER: &'static str = "other";
}

/// A device's age and where it comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Age {
    pub since: Date,
    /// `asset_register`, `configured_purchase_date`, `bios_date`,
    /// `os_install_date`.
    pub provenance: String,
}

/// A device's use over the weeks analysed, from the weekly rollups.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Use {
    /// Weeks with data.
    pub weeks: u32,
    pub powered_hours: f64,
    pub active_hours: f64,
    pub cpu_hot_hours: f64,
    pub memory_hot_hours: f64,
    pub disk_fill_max_percent: Option<f64>,
}

impl Use {
    fn per_week(self, hours: f64) -> f64 {
        if self.weeks == 0 {
            0.0
        } else {
            hours / f64::from(self.weeks)
        }
    }

    fn hot_share(self, hot: f64) -> f64 {
        if self.active_hours <= 0.0 {
            0.0
        } else {
            hot / self.active_hours
        }
    }
}

/// Reclaimable bytes of a device's latest storage scan, by category.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Reclaimable {
    pub duplicates: i64,
    pub temp: i64,
    pub cache: i64,
    pub trash: i64,
    pub stale: i64,
    pub mail_archives: i64,
    pub old_downloads: i64,
}

impl Reclaimable {
    /// The amounts under stable keys, for tables and the API.
    pub fn by_kind(self) -> [(&'static str, i64); 7] {
        [
            ("duplicates", self.duplicates),
            ("temp", self.temp),
            ("cache", self.cache),
            ("trash", self.trash),
            ("stale", self.stale),
            ("mail_archives", self.mail_archives),
            ("old_downloads", self.old_downloads),
        ]
    }

    fn parts(self) -> [(&'static str, i64); 7] {
        [
            ("duplicates", self.duplicates),
            ("temporary files", self.temp),
            ("caches", self.cache),
            ("trash", self.trash),
            ("stale large files", self.stale),
            ("mail archives", self.mail_archives),
            ("old downloads", self.old_downloads),
        ]
    }

    fn total(self) -> i64 {
        self.parts().iter().map(|(_, b)| b.max(&0)).sum()
    }
}

/// What the analysis knows of one device.
#[derive(Debug, Clone, Default)]
pub struct DeviceFacts {
    pub device_id: String,
    pub hostname: String,
    pub department: String,
    /// The register's category, else the agent's chassis.
    pub category: String,
    /// What the firmware calls it, to find its model's footprint.
    pub vendor: Option<String>,
    pub model: Option<String>,
    pub model_family: Option<String>,
    /// A footprint the organisation pinned in its asset register (kgCO2e).
    pub pinned_kgco2e: Option<f64>,
    pub memory_bytes: Option<i64>,
    pub logical_cores: Option<i64>,
    pub disk_bytes: Option<i64>,
    pub age: Option<Age>,
    pub price_eur: Option<f64>,
    pub battery_health_percent: Option<f64>,
    pub battery_cycles: Option<i64>,
    /// `ok`, `warning`, `failing`.
    pub disk_health: Option<String>,
    pub usage: Use,
    /// Pseudonymous ids of the people seen using it (surplus detection;
    /// never shown).
    pub persons: Vec<String>,
    pub reclaimable: Option<Reclaimable>,
}

/// A need IT recorded: "Finance needs 2 laptops with 16 GB".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceRequest {
    pub id: i64,
    pub department: String,
    pub category: String,
    pub quantity: u32,
    pub min_memory_bytes: Option<i64>,
    pub min_logical_cores: Option<i64>,
    pub min_storage_bytes: Option<i64>,
}

/// Everything the analysis reads.
#[derive(Debug, Clone, Default)]
pub struct AnalysisInput {
    pub devices: Vec<DeviceFacts>,
    /// Per department and category (see [`Category::rollup_key`]): active
    /// devices per UTC hour start (hours without a row had none).
    pub department_hours: HashMap<(String, String), Vec<(i64, i64)>>,
    pub requests: Vec<DeviceRequest>,
    /// The analysed window `[start, end)`, Unix ms.
    pub window: (i64, i64),
    /// Devices of accepted suggestions: IT has plans for them, so no new
    /// suggestion names them.
    pub reserved: HashSet<String>,
}

/// What a suggestion avoids.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Avoided {
    pub value: f64,
    pub low: f64,
    pub high: f64,
    pub source: String,
}

impl Avoided {
    fn none(source: &str) -> Self {
        Self {
            value: 0.0,
            low: 0.0,
            high: 0.0,
            source: source.to_owned(),
        }
    }

    fn of(footprint: &Footprint, times: f64) -> Self {
        Self {
            value: round1(footprint.embodied_kgco2e * times),
            low: round1(footprint.low_kgco2e * times),
            high: round1(footprint.high_kgco2e * times),
            source: format!("{}; range: {}", footprint.source, footprint.source_range),
        }
    }
}

fn round1(value: f64) -> f64 {
    (value * 10.0).round() / 10.0
}

/// Kinds, as the contract names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Pool,
    Reuse,
    Extend,
    Repair,
    Upgrade,
    Storage,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Self::Pool => "pool",
            Self::Reuse => "reuse",
            Self::Extend => "extend",
            Self::Repair => "repair",
            Self::Upgrade => "upgrade",
            Self::Storage => "storage",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        [
            Self::Pool,
            Self::Reuse,
            Self::Extend,
            Self::Repair,
            Self::Upgrade,
            Self::Storage,
        ]
        .into_iter()
        .find(|k| k.name() == name)
    }
}

/// One computed suggestion.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Suggestion {
    /// Stable: the same kind and subject give the same id at every run.
    pub id: String,
    pub kind: Kind,
    pub departments: Vec<String>,
    pub devices: Vec<String>,
    pub rationale: String,
    pub avoided_kgco2e: Avoided,
    pub avoided_cost_eur: Option<f64>,
    /// The facts behind it, rounded so that only a material change alters
    /// them: a dismissed suggestion comes back only when this changes.
    #[serde(skip)]
    pub material_facts: String,
    /// For a reuse: the donor, and the device it replaces or the request
    /// (id, unit) it fulfils.
    #[serde(skip)]
    pub reuse: Option<ReuseMatch>,
}

/// Who gives what to whom in a reuse suggestion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReuseMatch {
    pub donor: String,
    pub replaces: Option<String>,
    pub request: Option<(i64, u32)>,
}

/// Settings the analysis needs besides the facts.
pub struct Context<'a> {
    pub config: &'a AnalysisSettings,
    pub embodied: &'a Embodied,
    pub today: Date,
    /// Working hours of a department.
    pub working_hours: &'a (dyn Fn(&str) -> WorkingHours + Sync),
    /// Time zone of working hours.
    pub time_zone: jiff::tz::TimeZone,
}

fn stable_id(kind: Kind, subject: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, subject.as_bytes());
    let hex: String = digest.as_ref()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("{}-{hex}", kind.name())
}

fn gib(bytes: i64) -> f64 {
    #[allow(clippy::cast_precision_loss)]
    let value = bytes as f64 / f64::from(1 << 30);
    value
}

/// A device's derived state.
struct Assessed<'a> {
    facts: &'a DeviceFacts,
    category: Category,
    /// Its own footprint: pinned, its model's, else its category's (with
    /// its monitor for an all-in-one): what its years of use spread.
    footprint: Footprint,
    /// What a replacement would cost to build: its category's row. A
    /// repair, a reuse or a pool avoids that.
    replacement: &'a Footprint,
    age_years: Option<f64>,
    active_per_week: f64,
    cpu_bound: bool,
    memory_bound: bool,
    disk_bound: bool,
    worn_battery: bool,
    failing_disk: bool,
}

impl Assessed<'_> {
    fn due(&self) -> bool {
        self.age_years
            .is_some_and(|age| age >= self.footprint.lifetime_years)
    }

    fn overloaded(&self) -> bool {
        self.cpu_bound || self.memory_bound || self.disk_bound
    }

    fn healthy(&self) -> bool {
        !self.worn_battery && !self.failing_disk
    }

    fn label(&self) -> String {
        format!("{} ({})", self.facts.hostname, self.facts.department)
    }

    fn age_text(&self) -> String {
        match (&self.age_years, &self.facts.age) {
            (Some(age), Some(a)) => {
                format!("{age:.1} years old ({})", a.provenance.replace('_', " "))
            }
            _ => "of unknown age".to_owned(),
        }
    }

    fn price(&self, config: &AnalysisSettings) -> Option<f64> {
        self.facts
            .price_eur
            .or_else(|| config.default_price_eur.get(self.category.name()).copied())
    }

    fn specs(&self) -> (u64, u32, u64) {
        let mb = |b: Option<i64>| u64::try_from(b.unwrap_or(0) >> 20).unwrap_or(0);
        (
            mb(self.facts.memory_bytes),
            u32::try_from(self.facts.logical_cores.unwrap_or(0)).unwrap_or(0),
            mb(self.facts.disk_bytes) >> 10,
        )
    }
}

/// Nearest-rank percentile of `values` (sorted in place).
pub fn percentile(values: &mut [i64], p: f64) -> i64 {
    if values.is_empty() {
        return 0;
    }
    values.sort_unstable();
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    let rank = (p / 100.0 * values.len() as f64).ceil().max(1.0) as usize;
    values[rank.min(values.len()) - 1]
}

/// Computes every suggestion. A device appears in one suggestion at most:
/// reuse first, then repair, upgrade and extend, then pools.
pub fn analyze(input: &AnalysisInput, context: &Context<'_>) -> Vec<Suggestion> {
    use device::device_suggestion;
    use pool::{poolable, pools};
    use reuse::reuse;
    use storage::storage_hygiene;
    let footprints = footprints(context.embodied);
    let assessed = assess(input, context, &footprints);
    let mut taken: HashSet<usize> = (0..assessed.len())
        .filter(|&i| input.reserved.contains(&assessed[i].facts.device_id))
        .collect();
    let (by_department, poolable) = poolable(input, context, &assessed, &taken);
    let surplus = surplus(&assessed);
    let mut suggestions = reuse(input, context, &assessed, &poolable, &surplus, &mut taken);
    // Checked when the reference data was read: a name missing here is one
    // of data replaced since, reported there.
    let replacements = keep::Replacements::resolve(context.embodied, context.config)
        .unwrap_or_else(|error| {
            tracing::warn!(%error, "replacement models: the categories' rows stand");
            keep::Replacements::default()
        });
    for (index, device) in assessed.iter().enumerate() {
        if taken.contains(&index) {
            continue;
        }
        if let Some(suggestion) = device_suggestion(device, context.config, &replacements) {
            taken.insert(index);
            suggestions.push(suggestion);
        }
    }
    suggestions.extend(pools(
        &by_department,
        &poolable,
        &assessed,
        context.config,
        &mut taken,
    ));
    suggestions.extend(storage_hygiene(input));
    // Every figure names the factor set it comes from: a replaced file or
    // updated data changes it, and the suggestions are updated.
    for suggestion in &mut suggestions {
        if suggestion.avoided_kgco2e.value != 0.0 {
            write!(
                suggestion.avoided_kgco2e.source,
                "; factor set {}",
                context.embodied.version()
            )
            .ok();
        }
    }
    suggestions.sort_by(|a, b| a.kind.cmp(&b.kind).then_with(|| a.id.cmp(&b.id)));
    suggestions
}

/// Each device's derived state: its category's footprint, age, use and
/// health against the thresholds. Devices of no known category are left
/// out.
fn assess<'a>(
    input: &'a AnalysisInput,
    context: &Context<'_>,
    footprints: &'a HashMap<(Category, bool), Footprint>,
) -> Vec<Assessed<'a>> {
    let config = context.config;
    input
        .devices
        .iter()
        .filter_map(|facts| {
            let (category, with_monitor) = Category::from_name(&facts.category)?;
            let replacement = footprints.get(&(category, with_monitor))?;
            let footprint = device_footprint(context.embodied, replacement, facts);
            let usage = facts.usage;
            let hot = config.overloaded_hot_share;
            #[allow(clippy::cast_precision_loss)]
            let age_years = facts
                .age
                .as_ref()
                .map(|a| f64::from((context.today - a.since).get_days()) / 365.25);
            Some(Assessed {
                facts,
                category,
                footprint,
                replacement,
                age_years,
                active_per_week: usage.per_week(usage.active_hours),
                cpu_bound: usage.weeks > 0 && usage.hot_share(usage.cpu_hot_hours) >= hot,
                memory_bound: usage.weeks > 0 && usage.hot_share(usage.memory_hot_hours) >= hot,
                disk_bound: usage
                    .disk_fill_max_percent
                    .is_some_and(|fill| fill >= config.disk_full_percent),
                worn_battery: facts
                    .battery_health_percent
                    .is_some_and(|h| h < config.worn_battery_percent),
                failing_disk: facts.disk_health.as_deref() == Some("failing"),
            })
        })
        .collect()
}

/// Surplus: one person holding two devices of a category keeps the most
/// used one; the others are surplus.
fn surplus(assessed: &[Assessed<'_>]) -> HashSet<usize> {
    let mut holdings: BTreeMap<(&str, Category), Vec<usize>> = BTreeMap::new();
    for (index, device) in assessed.iter().enumerate() {
        if let [person] = device.facts.persons.as_slice() {
            holdings
                .entry((person.as_str(), device.category))
                .or_default()
                .push(index);
        }
    }
    let mut surplus: HashSet<usize> = HashSet::new();
    for devices in holdings.values() {
        if devices.len() > 1 {
            let mut devices = devices.clone();
            devices.sort_by(|&a, &b| {
                assessed[b]
                    .active_per_week
                    .total_cmp(&assessed[a].active_per_week)
            });
            surplus.extend(devices.into_iter().skip(1));
        }
    }
    surplus
}

/// A device's footprint: pinned in the register, its model's, else
/// `by_category`, its category's row.
pub fn device_footprint(
    embodied: &Embodied,
    by_category: &Footprint,
    facts: &DeviceFacts,
) -> Footprint {
    embodied.device(
        by_category,
        &models::Identity {
            vendor: facts.vendor.as_deref(),
            model: facts.model.as_deref(),
            family: facts.model_family.as_deref(),
            category: &facts.category,
            disk_bytes: facts.disk_bytes,
        },
        facts.pinned_kgco2e,
    )
}

/// Footprints by category, an all-in-one with its monitor.
pub fn footprints(embodied: &Embodied) -> HashMap<(Category, bool), Footprint> {
    let mut map = HashMap::new();
    for category in [
        Category::Laptop,
        Category::Desktop,
        Category::Tablet,
        Category::ThinClient,
    ] {
        if let Some(footprint) = embodied.get(category.name()) {
            map.insert((category, false), footprint.clone());
        }
    }
    if let (Some(desktop), Some(monitor)) = (embodied.get("desktop"), embodied.get("monitor")) {
        map.insert(
            (Category::Desktop, true),
            Footprint {
                embodied_kgco2e: desktop.embodied_kgco2e + monitor.embodied_kgco2e,
                low_kgco2e: desktop.low_kgco2e + monitor.low_kgco2e,
                high_kgco2e: desktop.high_kgco2e + monitor.high_kgco2e,
                lifetime_years: desktop.lifetime_years,
                use_kgco2e_per_year: desktop
                    .use_kgco2e_per_year
                    .zip(monitor.use_kgco2e_per_year)
                    .map(|(a, b)| a + b),
                yearly_kwh: None,
                source: format!("{} + monitor: {}", desktop.source, monitor.source),
                source_range: format!(
                    "{}; monitor: {}",
                    desktop.source_range, monitor.source_range
                ),
                basis: embodied::Basis::Category,
            },
        );
    }
    map
}

/// Monday 00:00 UTC of the week holding `unix_ms`.
pub fn week_start(unix_ms: i64) -> i64 {
    const DAY: i64 = 86_400_000;
    let days = unix_ms.div_euclid(DAY);
    // 1970-01-01 was a Thursday: three days after a Monday.
    (days - (days + 3).rem_euclid(7)) * DAY
}

/// The reference data in effect: the configured files, else the built-in.
///
/// # Errors
/// When a configured file cannot be read or parsed.
pub fn reference_data(config: &AnalysisSettings) -> anyhow::Result<Embodied> {
    let read = |setting: &str, path: &std::path::Path| {
        std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("cannot read analysis.{setting} {}: {e}", path.display()))
    };
    let categories = match &config.embodied_file {
        Some(path) => read("embodied_file", path)?,
        None => embodied::BUILT_IN.to_owned(),
    };
    let embodied = Embodied::parse(&categories)?;
    let embodied = match &config.models_file {
        Some(path) => embodied.with_models(&categories, &read("models_file", path)?)?,
        None => embodied,
    };
    // The replacements named must be in the data now in effect.
    keep::Replacements::resolve(&embodied, config)?;
    Ok(embodied)
}

#[cfg(test)]
mod tests;
