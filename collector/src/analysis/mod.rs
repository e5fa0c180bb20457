//! Suggestions for IT from the store's rollups (README, "Suggestions for IT"):
//! pool, reuse across departments, extend, repair, upgrade instead of
//! replace, storage hygiene — each with its rationale, the avoided kgCO2e
//! (value, range, source) and the cost avoided — and the fleet's impact.
//!
//! [`analyze`] is a pure function of the facts the store gives
//! ([`AnalysisInput`]), so that it is tested on hand-built fleets and
//! measured on simulated ones without a database.

pub mod assign;
pub mod embodied;
pub mod impact;
mod settings;

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

    fn code(self) -> u8 {
        self as u8
    }
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
    /// Per department: active devices per UTC hour start (hours without a
    /// row had none).
    pub department_hours: HashMap<String, Vec<(i64, i64)>>,
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
    /// The category's footprint (with its monitor for an all-in-one).
    footprint: &'a Footprint,
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

/// The hour starts of `window` inside `working` hours, local time.
fn working_hour_starts(
    working: &WorkingHours,
    window: (i64, i64),
    tz: &jiff::tz::TimeZone,
) -> Vec<i64> {
    let mut starts = Vec::new();
    let mut hour = window.0 - window.0.rem_euclid(3_600_000);
    while hour < window.1 {
        if let Ok(at) = jiff::Timestamp::from_millisecond(hour) {
            let local = at.to_zoned(tz.clone());
            let day = usize::from(local.weekday().to_monday_zero_offset().unsigned_abs());
            let minute = i32::from(local.hour()) * 60 + i32::from(local.minute());
            if working.days[day] && minute >= working.start_minute && minute < working.end_minute {
                starts.push(hour);
            }
        }
        hour += 3_600_000;
    }
    starts
}

/// The p95 of concurrently active devices over the working hours (hours
/// without a row count as 0).
fn concurrency_p95(hours: &[(i64, i64)], working_starts: &[i64]) -> i64 {
    let counts: HashMap<i64, i64> = hours.iter().copied().collect();
    let mut values: Vec<i64> = working_starts
        .iter()
        .map(|h| counts.get(h).copied().unwrap_or(0))
        .collect();
    percentile(&mut values, 95.0)
}

/// Computes every suggestion. A device appears in one suggestion at most:
/// reuse first, then repair, upgrade and extend, then pools.
#[allow(clippy::too_many_lines)]
pub fn analyze(input: &AnalysisInput, context: &Context<'_>) -> Vec<Suggestion> {
    let config = context.config;
    let footprints = footprints(context.embodied);
    let mut departments: HashMap<&str, u32> = HashMap::new();
    let assessed: Vec<Assessed<'_>> = input
        .devices
        .iter()
        .filter_map(|facts| {
            let (category, with_monitor) = Category::from_name(&facts.category)?;
            let footprint = footprints.get(&(category, with_monitor))?;
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
        .collect();
    let mut suggestions = Vec::new();
    let mut taken: HashSet<usize> = (0..assessed.len())
        .filter(|&i| input.reserved.contains(&assessed[i].facts.device_id))
        .collect();

    // Departments' concurrency and poolable devices.
    let mut by_department: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (index, device) in assessed.iter().enumerate() {
        if device.facts.usage.weeks > 0 {
            by_department
                .entry(device.facts.department.as_str())
                .or_default()
                .push(index);
        }
    }
    let mut poolable: BTreeMap<&str, (i64, Vec<usize>)> = BTreeMap::new();
    // Departments mostly share their working hours: their hours are listed once.
    let mut working_starts: HashMap<WorkingHours, Vec<i64>> = HashMap::new();
    for (department, members) in &by_department {
        let hours = input
            .department_hours
            .get(*department)
            .map_or(&[][..], Vec::as_slice);
        let working = (context.working_hours)(department);
        let starts = working_starts
            .entry(working)
            .or_insert_with(|| working_hour_starts(&working, input.window, &context.time_zone));
        let p95 = concurrency_p95(hours, starts);
        let count = i64::try_from(members.len()).unwrap_or(i64::MAX);
        let spare = count - p95;
        if spare <= 0 {
            continue;
        }
        let mut candidates: Vec<usize> = members
            .iter()
            .copied()
            .filter(|&i| {
                !assessed[i].overloaded() && !assessed[i].failing_disk && !taken.contains(&i)
            })
            .collect();
        candidates.sort_by(|&a, &b| {
            assessed[a]
                .active_per_week
                .total_cmp(&assessed[b].active_per_week)
                .then_with(|| {
                    assessed[a]
                        .facts
                        .device_id
                        .cmp(&assessed[b].facts.device_id)
                })
        });
        candidates.truncate(usize::try_from(spare).unwrap_or(0));
        poolable.insert(department, (p95, candidates));
    }

    // Surplus: one person holding two devices of a category keeps the most
    // used one.
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

    // Reuse: donors to recipients.
    let underused = |d: &Assessed<'_>| {
        d.facts.usage.weeks > 0 && d.active_per_week < config.underused_active_hours_per_week
    };
    let pooled: HashSet<usize> = poolable
        .values()
        .flat_map(|(_, d)| d.iter().copied())
        .collect();
    let mut donor_devices: Vec<usize> = (0..assessed.len())
        .filter(|&i| {
            let d = &assessed[i];
            // A device due for renewal is a recipient, never a donor.
            !taken.contains(&i)
                && d.healthy()
                && !d.overloaded()
                && !d.due()
                && (pooled.contains(&i) || surplus.contains(&i) || underused(d))
        })
        .collect();
    donor_devices.sort_unstable();
    let donors: Vec<assign::Donor> = donor_devices
        .iter()
        .map(|&i| {
            let d = &assessed[i];
            let (ram_mb, cores, storage_gb) = d.specs();
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            assign::Donor {
                device: i as u64,
                category: d.category.code(),
                ram_mb,
                cores,
                storage_gb,
                age_years: d
                    .age_years
                    .map_or(u32::MAX / 4, |a| a.max(0.0).floor() as u32),
                department: department_code(&mut departments, &d.facts.department),
            }
        })
        .collect();
    // Recipients: devices due for renewal and CPU-bound ones (more memory
    // or disk cannot help), then IT's requests. A due device no donor fits
    // is repaired, upgraded or kept longer below.
    let recipient_devices: Vec<usize> = (0..assessed.len())
        .filter(|&i| !taken.contains(&i) && (assessed[i].due() || assessed[i].cpu_bound))
        .collect();
    let mut recipients: Vec<assign::Recipient> = Vec::new();
    let mut recipient_subjects: Vec<RecipientSubject<'_>> = Vec::new();
    for &i in &recipient_devices {
        let d = &assessed[i];
        let (ram_mb, cores, storage_gb) = d.specs();
        recipients.push(assign::Recipient {
            device: Some(i as u64),
            category: d.category.code(),
            ram_mb,
            cores: if d.cpu_bound { cores + 1 } else { cores },
            storage_gb,
            department: department_code(&mut departments, &d.facts.department),
            avoided_g: grams(d.footprint.embodied_kgco2e),
        });
        recipient_subjects.push(RecipientSubject::Device(i));
    }
    for request in &input.requests {
        let Some((category, _)) = Category::from_name(&request.category) else {
            continue;
        };
        let Some(footprint) = context.embodied.get(category.name()) else {
            continue;
        };
        let mb = |b: Option<i64>| u64::try_from(b.unwrap_or(0) >> 20).unwrap_or(0);
        for unit in 0..request.quantity {
            recipients.push(assign::Recipient {
                device: None,
                category: category.code(),
                ram_mb: mb(request.min_memory_bytes),
                cores: u32::try_from(request.min_logical_cores.unwrap_or(0)).unwrap_or(0),
                storage_gb: mb(request.min_storage_bytes) >> 10,
                department: department_code(&mut departments, &request.department),
                avoided_g: grams(footprint.embodied_kgco2e),
            });
            recipient_subjects.push(RecipientSubject::Request(request, unit, category));
        }
    }
    for matched in assign::assign(&donors, &recipients) {
        let donor_index = donor_devices[matched.donor];
        let donor = &assessed[donor_index];
        let why = if pooled.contains(&donor_index) {
            "spare in its department's pool"
        } else if surplus.contains(&donor_index) {
            "a second device of its holder"
        } else {
            "underused"
        };
        let (ram, cores, storage) = donor.specs();
        let mut suggestion = match recipient_subjects[matched.recipient] {
            RecipientSubject::Device(recipient_index) => {
                let recipient = &assessed[recipient_index];
                let reason = if recipient.cpu_bound {
                    format!(
                        "whose processor is busy (p95 ≥ 90%) in {:.0}% of active hours",
                        100.0
                            * recipient
                                .facts
                                .usage
                                .hot_share(recipient.facts.usage.cpu_hot_hours)
                    )
                } else if recipient.failing_disk {
                    format!("which is {} with a failing disk", recipient.age_text())
                } else {
                    format!(
                        "which is {}, past the {:.0}-year lifetime of a {}",
                        recipient.age_text(),
                        recipient.footprint.lifetime_years,
                        recipient.category.name()
                    )
                };
                taken.insert(recipient_index);
                let (need_ram, need_cores, need_storage) = recipient.specs();
                Suggestion {
                    id: stable_id(
                        Kind::Reuse,
                        &format!("{}>{}", donor.facts.device_id, recipient.facts.device_id),
                    ),
                    kind: Kind::Reuse,
                    departments: vec![],
                    devices: vec![
                        donor.facts.device_id.clone(),
                        recipient.facts.device_id.clone(),
                    ],
                    rationale: format!(
                        "Give {} ({why}, {:.1} active h/week, {}) to replace {}, {reason}: \
                         {} GB ≥ {} GB memory, {} ≥ {} cores, {} GB ≥ {} GB storage; no new {} to buy.",
                        donor.label(),
                        donor.active_per_week,
                        donor.age_text(),
                        recipient.label(),
                        ram / 1024,
                        need_ram / 1024,
                        cores,
                        need_cores + u32::from(recipient.cpu_bound),
                        storage,
                        need_storage,
                        recipient.category.name()
                    ),
                    avoided_kgco2e: Avoided::of(recipient.footprint, 1.0),
                    avoided_cost_eur: recipient.price(config),
                    material_facts: format!(
                        "{}|{}|{}|{}",
                        recipient.category.name(),
                        donor.age_years.map_or(-1.0, f64::floor),
                        recipient.cpu_bound,
                        recipient.failing_disk
                    ),
                    reuse: Some(ReuseMatch {
                        donor: donor.facts.device_id.clone(),
                        replaces: Some(recipient.facts.device_id.clone()),
                        request: None,
                    }),
                }
            }
            RecipientSubject::Request(request, unit, category) => {
                let footprint = context
                    .embodied
                    .get(category.name())
                    .expect("requests were filtered on known categories");
                Suggestion {
                    id: stable_id(
                        Kind::Reuse,
                        &format!("{}>request:{}:{unit}", donor.facts.device_id, request.id),
                    ),
                    kind: Kind::Reuse,
                    departments: vec![request.department.clone()],
                    devices: vec![donor.facts.device_id.clone()],
                    rationale: format!(
                        "Give {} ({why}, {:.1} active h/week, {}, {} GB memory, {} cores, {} GB \
                         storage) to {} for its request #{} of a {}; no new one to buy.",
                        donor.label(),
                        donor.active_per_week,
                        donor.age_text(),
                        ram / 1024,
                        cores,
                        storage,
                        request.department,
                        request.id,
                        category.name()
                    ),
                    avoided_kgco2e: Avoided::of(footprint, 1.0),
                    avoided_cost_eur: config.default_price_eur.get(category.name()).copied(),
                    material_facts: format!(
                        "{}|{}",
                        category.name(),
                        donor.age_years.map_or(-1.0, f64::floor)
                    ),
                    reuse: Some(ReuseMatch {
                        donor: donor.facts.device_id.clone(),
                        replaces: None,
                        request: Some((request.id, unit)),
                    }),
                }
            }
        };
        taken.insert(donor_index);
        suggestion.departments.push(donor.facts.department.clone());
        if let RecipientSubject::Device(recipient_index) = recipient_subjects[matched.recipient] {
            suggestion
                .departments
                .push(assessed[recipient_index].facts.department.clone());
        }
        suggestion.departments.sort();
        suggestion.departments.dedup();
        suggestions.push(suggestion);
    }

    // One device, one suggestion: repair, upgrade, extend.
    for (index, device) in assessed.iter().enumerate() {
        if taken.contains(&index) {
            continue;
        }
        let suggestion = if !device.healthy() && !device.cpu_bound {
            let mut parts = Vec::new();
            if device.worn_battery {
                parts.push(format!(
                    "its battery holds {:.0}% of its design capacity{}",
                    device.facts.battery_health_percent.unwrap_or(0.0),
                    device
                        .facts
                        .battery_cycles
                        .map_or(String::new(), |c| format!(" after {c} cycles"))
                ));
            }
            if device.failing_disk {
                parts.push("its disk reports failure".to_owned());
            }
            let part = if device.failing_disk {
                "disk"
            } else {
                "battery"
            };
            Some(Suggestion {
                id: stable_id(Kind::Repair, &device.facts.device_id),
                kind: Kind::Repair,
                departments: vec![device.facts.department.clone()],
                devices: vec![device.facts.device_id.clone()],
                rationale: format!(
                    "Repair {}: {}; it is otherwise fit ({}). Replace the {part}, not the {}.",
                    device.label(),
                    parts.join(" and "),
                    device.age_text(),
                    device.category.name()
                ),
                avoided_kgco2e: Avoided::of(device.footprint, 1.0),
                avoided_cost_eur: device.price(config),
                reuse: None,
                material_facts: format!(
                    "{}|{}",
                    device
                        .facts
                        .battery_health_percent
                        .map_or(-1.0, |h| (h / 10.0).floor()),
                    device.failing_disk
                ),
            })
        } else if (device.memory_bound || device.disk_bound)
            && !device.cpu_bound
            && device.healthy()
        {
            let mut parts = Vec::new();
            if device.memory_bound {
                parts.push(format!(
                    "memory is full (p95 ≥ 90%) in {:.0}% of active hours with {:.0} GB",
                    100.0
                        * device
                            .facts
                            .usage
                            .hot_share(device.facts.usage.memory_hot_hours),
                    gib(device.facts.memory_bytes.unwrap_or(0))
                ));
            }
            if device.disk_bound {
                parts.push(format!(
                    "its disk is {:.0}% full",
                    device.facts.usage.disk_fill_max_percent.unwrap_or(0.0)
                ));
            }
            Some(Suggestion {
                id: stable_id(Kind::Upgrade, &device.facts.device_id),
                kind: Kind::Upgrade,
                departments: vec![device.facts.department.clone()],
                devices: vec![device.facts.device_id.clone()],
                rationale: format!(
                    "Upgrade {} instead of replacing it: {}; its processor keeps up. Add {}.",
                    device.label(),
                    parts.join(" and "),
                    if device.memory_bound && device.disk_bound {
                        "memory and a larger disk"
                    } else if device.memory_bound {
                        "memory"
                    } else {
                        "a larger disk (or clean it)"
                    }
                ),
                avoided_kgco2e: Avoided::of(device.footprint, 1.0),
                avoided_cost_eur: device.price(config),
                reuse: None,
                material_facts: format!("{}|{}", device.memory_bound, device.disk_bound),
            })
        } else if device.due() && device.healthy() && !device.overloaded() {
            let lifetime = device.footprint.lifetime_years;
            let extended = lifetime + config.extension_years;
            let per_year = |e: f64| e / lifetime - e / extended;
            let footprint = device.footprint;
            Some(Suggestion {
                id: stable_id(Kind::Extend, &device.facts.device_id),
                kind: Kind::Extend,
                departments: vec![device.facts.department.clone()],
                devices: vec![device.facts.device_id.clone()],
                rationale: format!(
                    "Keep {} {} more years: it is {}, past the {lifetime:.0}-year lifetime of a {}, \
                     healthy{} and not overloaded; {:.1} kgCO2e of manufacturing a year avoided.",
                    device.label(),
                    config.extension_years,
                    device.age_text(),
                    device.category.name(),
                    device
                        .facts
                        .battery_health_percent
                        .map_or(String::new(), |h| format!(" (battery {h:.0}%)")),
                    per_year(footprint.embodied_kgco2e)
                ),
                avoided_kgco2e: Avoided {
                    value: round1(per_year(footprint.embodied_kgco2e)),
                    low: round1(per_year(footprint.low_kgco2e)),
                    high: round1(per_year(footprint.high_kgco2e)),
                    source: format!(
                        "per year: embodied/lifetime − embodied/(lifetime + {}); {}",
                        config.extension_years, footprint.source
                    ),
                },
                avoided_cost_eur: device
                    .price(config)
                    .map(|p| round1(p / extended * config.extension_years)),
                reuse: None,
                material_facts: format!(
                    "{}|{}",
                    device.age_years.map_or(-1.0, f64::floor),
                    device.healthy()
                ),
            })
        } else {
            None
        };
        if let Some(suggestion) = suggestion {
            taken.insert(index);
            suggestions.push(suggestion);
        }
    }

    // Pools, with the devices nothing else claimed.
    for (department, (p95, candidates)) in &poolable {
        let free: Vec<usize> = candidates
            .iter()
            .copied()
            .filter(|i| !taken.contains(i))
            .collect();
        if free.is_empty() {
            continue;
        }
        let total = by_department.get(department).map_or(0, Vec::len);
        let mut avoided = Avoided::none("");
        let mut cost = 0.0;
        let mut names = Vec::new();
        for &i in &free {
            let device = &assessed[i];
            let one = Avoided::of(device.footprint, 1.0);
            avoided.value += one.value;
            avoided.low += one.low;
            avoided.high += one.high;
            avoided.source.clone_from(&one.source);
            cost += device.price(config).unwrap_or(0.0);
            names.push(format!(
                "{} ({:.1} h/week)",
                device.facts.hostname, device.active_per_week
            ));
            taken.insert(i);
        }
        avoided.value = round1(avoided.value);
        avoided.low = round1(avoided.low);
        avoided.high = round1(avoided.high);
        suggestions.push(Suggestion {
            id: stable_id(Kind::Pool, department),
            kind: Kind::Pool,
            departments: vec![(*department).to_owned()],
            devices: free.iter().map(|&i| assessed[i].facts.device_id.clone()).collect(),
            rationale: format!(
                "{department}: at most {p95} of its {total} devices are in use at once (p95 over \
                 working hours, {} weeks); {} can go to a shared pool instead of new purchases: {}.",
                config.weeks,
                free.len(),
                names.join(", ")
            ),
            avoided_kgco2e: avoided,
            avoided_cost_eur: Some(round1(cost)),
            reuse: None,
                material_facts: format!("{}", free.len()),
        });
    }

    // Storage hygiene per department.
    let mut storage: BTreeMap<&str, (Reclaimable, usize)> = BTreeMap::new();
    for device in &input.devices {
        if let Some(r) = device.reclaimable {
            let entry = storage.entry(device.department.as_str()).or_default();
            entry.1 += 1;
            let e = &mut entry.0;
            e.duplicates += r.duplicates;
            e.temp += r.temp;
            e.cache += r.cache;
            e.trash += r.trash;
            e.stale += r.stale;
            e.mail_archives += r.mail_archives;
            e.old_downloads += r.old_downloads;
        }
    }
    for (department, (reclaimable, devices)) in storage {
        let total = reclaimable.total();
        if total < 1 << 30 {
            continue;
        }
        let mut parts: Vec<(&str, i64)> = reclaimable
            .parts()
            .into_iter()
            .filter(|(_, b)| *b > 0)
            .collect();
        parts.sort_by_key(|(_, b)| -b);
        let mut detail = String::new();
        for (name, bytes) in parts {
            if !detail.is_empty() {
                detail.push_str(", ");
            }
            let _ = write!(detail, "{name} {:.1} GB", gib(bytes));
        }
        suggestions.push(Suggestion {
            id: stable_id(Kind::Storage, department),
            kind: Kind::Storage,
            departments: vec![department.to_owned()],
            devices: Vec::new(),
            rationale: format!(
                "{department}: {:.1} GB reclaimable on {devices} devices — {detail}. People see \
                 their own files with `sobrio-agent storage`.",
                gib(total)
            ),
            avoided_kgco2e: Avoided::none(
                "not estimated: the footprint of stored data depends on where it is kept",
            ),
            avoided_cost_eur: None,
            reuse: None,
            material_facts: format!("{}", total >> 33),
        });
    }
    suggestions.sort_by(|a, b| a.kind.cmp(&b.kind).then_with(|| a.id.cmp(&b.id)));
    suggestions
}

/// A department's code for the assignment: equal names, equal codes.
fn department_code<'a>(codes: &mut HashMap<&'a str, u32>, name: &'a str) -> u32 {
    let next = u32::try_from(codes.len()).unwrap_or(u32::MAX);
    *codes.entry(name).or_insert(next)
}

enum RecipientSubject<'a> {
    Device(usize),
    Request(&'a DeviceRequest, u32, Category),
}

fn grams(kg: f64) -> u64 {
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let grams = (kg * 1000.0).round().max(0.0) as u64;
    grams
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
                source: format!("{} + monitor: {}", desktop.source, monitor.source),
                source_range: format!(
                    "{}; monitor: {}",
                    desktop.source_range, monitor.source_range
                ),
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

/// The reference data in effect: the configured file, else the built-in.
///
/// # Errors
/// When the configured file cannot be read or parsed.
pub fn reference_data(config: &AnalysisSettings) -> anyhow::Result<Embodied> {
    match &config.embodied_file {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| {
                anyhow::anyhow!("cannot read analysis.embodied_file {}: {e}", path.display())
            })?;
            Ok(Embodied::parse(&text)?)
        }
        None => Ok(Embodied::built_in()),
    }
}

#[cfg(test)]
mod tests;
