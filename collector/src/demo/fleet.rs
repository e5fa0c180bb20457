//! The demo fleet: departments, people and devices, from a fleet file (TOML)
//! or generated from a seed.
//!
//! A fleet file lists departments and devices explicitly:
//!
//! ```toml
//! seed = 7            # drives the simulated use; same seed, same history
//! weeks = 12          # weeks of history to simulate (1 to 26)
//!
//! [[departments]]
//! name = "Finance"
//!
//! [[devices]]
//! hostname = "fin-lt-001"
//! department = "Finance"
//! person = "alice.martin@example.org"   # login of its main user; omit for a shared device
//! category = "laptop"                   # laptop, desktop, all_in_one, tablet, mini_pc
//! vendor = "Dell Inc."                 # as the firmware names them
//! model = "Latitude 5420"
//! family = "Latitude"                   # optional; Lenovo's marketing name
//! memory_gb = 16
//! logical_cores = 8
//! storage_gb = 512
//! purchase_date = "2020-03-15"
//! profile = "office"                    # office, heavy, light, idle, shared
//! battery_health = 0.72                 # laptops and tablets: full/design capacity
//! ```
//!
//! Without a file, [`generated_fleet`] builds about 300 devices over 8
//! departments with realistic ages, specs, use and people.

use std::collections::BTreeSet;
use std::path::Path;

use jiff::ToSpan;
use jiff::civil::Date;
use serde::{Deserialize, Serialize};

use super::simulate::SplitMix64;

/// Errors reading a fleet file.
#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    #[error("cannot read fleet file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("invalid fleet file {path}: {message}")]
    Parse { path: String, message: String },
    #[error("invalid fleet: {0}")]
    Invalid(String),
}

/// A fleet to simulate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fleet {
    #[serde(default = "default_seed")]
    pub seed: u64,
    #[serde(default = "default_weeks")]
    pub weeks: u32,
    pub departments: Vec<DepartmentSpec>,
    pub devices: Vec<DeviceSpec>,
    /// Kinds of suggestion IT marks done once they are computed, the one
    /// avoiding most of each (`extend`, `repair`, `upgrade`, `pool`,
    /// `storage`): the history the yearly report and the ledger show.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub done_kinds: Vec<String>,
}

fn default_seed() -> u64 {
    7
}

fn default_weeks() -> u32 {
    12
}

/// A department.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DepartmentSpec {
    pub name: String,
}

/// Device category, as the analysis groups devices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    Laptop,
    Desktop,
    AllInOne,
    Tablet,
    MiniPc,
}

impl Category {
    /// The part of generated host names that tells the kind of device.
    fn hostname_kind(self) -> &'static str {
        if self == Self::Laptop { "lt" } else { "pc" }
    }
}

/// How a device is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Profile {
    /// Office work: about 6 active hours on working days.
    Office,
    /// Development, design: long days, high CPU and memory pressure.
    Heavy,
    /// A couple of hours a day.
    Light,
    /// Rarely switched on.
    Idle,
    /// A shared or meeting-room device: short sessions through the day.
    Shared,
}

/// One device.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceSpec {
    pub hostname: String,
    pub department: String,
    /// Login name of the device's main user; `None` for a shared device.
    #[serde(default)]
    pub person: Option<String>,
    pub category: Category,
    pub vendor: String,
    pub model: String,
    /// The product family, where the firmware gives one (Lenovo's
    /// marketing name beside a machine-type `model`).
    #[serde(default)]
    pub family: Option<String>,
    pub memory_gb: u32,
    pub logical_cores: u32,
    pub storage_gb: u32,
    /// `YYYY-MM-DD`.
    pub purchase_date: String,
    pub profile: Profile,
    /// Full/design battery capacity, 0 to 1; laptops and tablets only.
    #[serde(default)]
    pub battery_health: Option<f64>,
    /// Retired by IT at the end of the simulated history, and where it
    /// went (`reused_internally`, `donated`, `sold_refurbished`,
    /// `recycled`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retire: Option<String>,
}

impl DeviceSpec {
    /// The purchase date, if it is a valid `YYYY-MM-DD` date.
    pub fn purchase_date(&self) -> Option<Date> {
        crate::domain::parse_date(&self.purchase_date)
    }
}

impl Fleet {
    /// Reads and validates a fleet file.
    ///
    /// # Errors
    /// When the file cannot be read, does not parse, or is inconsistent.
    pub fn load(path: &Path) -> Result<Self, FleetError> {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| FleetError::Read {
            path: origin.clone(),
            source,
        })?;
        let fleet: Self = toml::from_str(&text).map_err(|e| FleetError::Parse {
            path: origin,
            message: e.to_string().trim_end().into(),
        })?;
        fleet.validate()?;
        Ok(fleet)
    }

    /// Checks the fleet is consistent.
    ///
    /// # Errors
    /// The first inconsistency, named.
    pub fn validate(&self) -> Result<(), FleetError> {
        let invalid = |message: String| Err(FleetError::Invalid(message));
        if !(1..=26).contains(&self.weeks) {
            return invalid(format!("weeks = {}: expected 1 to 26", self.weeks));
        }
        let departments: BTreeSet<&str> =
            self.departments.iter().map(|d| d.name.as_str()).collect();
        if departments.len() != self.departments.len() {
            return invalid("a department is listed twice".into());
        }
        if self.devices.is_empty() {
            return invalid("no devices: add [[devices]] entries".into());
        }
        for kind in &self.done_kinds {
            if !["extend", "repair", "upgrade", "pool", "storage"].contains(&kind.as_str()) {
                return invalid(format!(
                    "done_kinds: {kind:?}: expected extend, repair, upgrade, pool or storage \
                     (a reuse needs to know where the replaced device goes)"
                ));
            }
        }
        let mut hostnames = BTreeSet::new();
        for device in &self.devices {
            let name = &device.hostname;
            if name.is_empty() || name.len() > 63 {
                return invalid(format!("hostname {name:?}: expected 1 to 63 characters"));
            }
            if !hostnames.insert(name.as_str()) {
                return invalid(format!("hostname {name:?} is listed twice"));
            }
            if let Some(outcome) = &device.retire
                && crate::analysis::disposal::Outcome::parse(outcome).is_none()
            {
                return invalid(format!(
                    "device {name}: retire = {outcome:?}: expected reused_internally, donated, \
                     sold_refurbished or recycled"
                ));
            }
            if !departments.contains(device.department.as_str()) {
                return invalid(format!(
                    "device {name}: department {:?} is not listed in [[departments]]",
                    device.department
                ));
            }
            if !(1..=4096).contains(&device.memory_gb) {
                return invalid(format!(
                    "device {name}: memory_gb = {}: expected 1 to 4096",
                    device.memory_gb
                ));
            }
            if !(1..=512).contains(&device.logical_cores) {
                return invalid(format!(
                    "device {name}: logical_cores = {}: expected 1 to 512",
                    device.logical_cores
                ));
            }
            if !(8..=100_000).contains(&device.storage_gb) {
                return invalid(format!(
                    "device {name}: storage_gb = {}: expected 8 to 100000",
                    device.storage_gb
                ));
            }
            match device.purchase_date() {
                None => {
                    return invalid(format!(
                        "device {name}: purchase_date {:?}: expected YYYY-MM-DD",
                        device.purchase_date
                    ));
                }
                Some(date)
                    if date
                        > jiff::Zoned::now()
                            .with_time_zone(jiff::tz::TimeZone::UTC)
                            .date() =>
                {
                    return invalid(format!(
                        "device {name}: purchase_date {date} is in the future"
                    ));
                }
                Some(_) => {}
            }
            match device.battery_health {
                Some(h) if !(0.05..=1.2).contains(&h) => {
                    return invalid(format!(
                        "device {name}: battery_health = {h}: expected 0.05 to 1.2"
                    ));
                }
                Some(_) if !matches!(device.category, Category::Laptop | Category::Tablet) => {
                    return invalid(format!(
                        "device {name}: battery_health is for laptops and tablets only"
                    ));
                }
                _ => {}
            }
        }
        Ok(())
    }
}

/// Departments of the generated fleet: name, people, share of laptops,
/// profile mix (office, heavy, light), meeting-heavy or not.
const DEPARTMENTS: [(&str, u32, f64, [f64; 3]); 8] = [
    ("Direction", 12, 0.9, [0.8, 0.0, 0.2]),
    ("Finance", 34, 0.5, [0.85, 0.05, 0.1]),
    ("Human Resources", 18, 0.6, [0.8, 0.0, 0.2]),
    ("IT", 30, 0.7, [0.3, 0.65, 0.05]),
    ("Marketing", 28, 0.8, [0.6, 0.3, 0.1]),
    ("Sales", 52, 0.95, [0.6, 0.0, 0.4]),
    ("Customer Support", 46, 0.2, [0.9, 0.0, 0.1]),
    ("Logistics", 40, 0.3, [0.4, 0.0, 0.6]),
];

const FIRST_NAMES: [&str; 24] = [
    "alice", "bruno", "camille", "david", "emma", "farid", "gabriel", "hugo", "ines", "jules",
    "karima", "louis", "manon", "nathan", "oceane", "paul", "quentin", "rose", "sofia", "thomas",
    "ursula", "victor", "yasmine", "zoe",
];
const LAST_NAMES: [&str; 20] = [
    "martin", "bernard", "dubois", "thomas", "robert", "richard", "petit", "durand", "leroy",
    "moreau", "simon", "laurent", "lefebvre", "michel", "garcia", "david", "bertrand", "roux",
    "vincent", "fournier",
];

/// Laptop and desktop models by era, as their firmware names them: vendor,
/// product name, family, base memory (GB). Some are in the manufacturers'
/// footprint data, some (the newest) are not and fall back to their
/// category.
type Model = (&'static str, &'static str, Option<&'static str>, u32);
const LAPTOPS: [Model; 4] = [
    ("Dell Inc.", "Latitude 5490", Some("Latitude"), 8),
    ("LENOVO", "20N2000KFR", Some("ThinkPad T490s"), 16),
    (
        "HP",
        "HP EliteBook 845 G8 Notebook PC",
        Some("103C_5336AN HP EliteBook"),
        16,
    ),
    ("LENOVO", "21HD0043FR", Some("ThinkPad T14 Gen 4"), 16),
];
const DESKTOPS: [Model; 4] = [
    ("Dell Inc.", "OptiPlex 7050", Some("OptiPlex"), 8),
    (
        "HP",
        "HP EliteDesk 800 G5 Desktop Mini PC",
        Some("103C_53307F HP EliteDesk"),
        16,
    ),
    ("LENOVO", "11DT0043FR", Some("ThinkCentre M70 Tiny"), 16),
    ("Dell Inc.", "OptiPlex 7090", Some("OptiPlex"), 16),
];

/// The default demo fleet: about 300 devices over 8 departments, from a seed.
pub fn generated_fleet(seed: u64, today: Date) -> Fleet {
    let mut rng = SplitMix64::new(seed);
    let mut devices = Vec::new();
    let mut person_index = 0_usize;
    for (department, people, laptop_share, mix) in DEPARTMENTS {
        let prefix: String = department
            .split_whitespace()
            .map(|w| w[..w.len().min(3)].to_ascii_lowercase())
            .collect::<Vec<_>>()
            .join("");
        let mut counter = 0;
        let mut next_hostname = |kind: &str| {
            counter += 1;
            format!("{prefix}-{kind}-{counter:03}")
        };
        for _ in 0..people {
            let first = FIRST_NAMES[person_index % FIRST_NAMES.len()];
            let last = LAST_NAMES
                [(person_index / FIRST_NAMES.len() + person_index * 7) % LAST_NAMES.len()];
            person_index += 1;
            let login = format!("{first}.{last}{person_index}@example.org");
            let roll = rng.next_f64();
            let profile = if roll < mix[0] {
                Profile::Office
            } else if roll < mix[0] + mix[1] {
                Profile::Heavy
            } else {
                Profile::Light
            };
            let category = if rng.next_f64() < laptop_share {
                Category::Laptop
            } else {
                Category::Desktop
            };
            devices.push(device(
                &mut rng,
                next_hostname(category.hostname_kind()),
                department,
                Some(login.clone()),
                category,
                profile,
                today,
            ));
            // Some people hold a second device they barely use (surplus).
            if rng.next_f64() < 0.06 {
                let spare = if category == Category::Laptop {
                    Category::Desktop
                } else {
                    Category::Laptop
                };
                devices.push(device(
                    &mut rng,
                    next_hostname(spare.hostname_kind()),
                    department,
                    Some(login),
                    spare,
                    Profile::Idle,
                    today,
                ));
            }
        }
        // Shared devices: meeting rooms, front desks, spares.
        let shared = 1 + people / 12;
        for i in 0..shared {
            let category = if i % 3 == 2 {
                Category::AllInOne
            } else {
                Category::MiniPc
            };
            let profile = if rng.next_f64() < 0.4 {
                Profile::Idle
            } else {
                Profile::Shared
            };
            devices.push(device(
                &mut rng,
                next_hostname("sh"),
                department,
                None,
                category,
                profile,
                today,
            ));
        }
    }
    // This year's end of life: the three oldest devices leave the fleet.
    let mut oldest: Vec<usize> = (0..devices.len()).collect();
    oldest.sort_by(|&a, &b| {
        devices[a]
            .purchase_date
            .cmp(&devices[b].purchase_date)
            .then_with(|| devices[a].hostname.cmp(&devices[b].hostname))
    });
    for (&index, outcome) in oldest
        .iter()
        .zip(["donated", "sold_refurbished", "recycled"])
    {
        devices[index].retire = Some(outcome.into());
    }
    Fleet {
        seed,
        weeks: 12,
        departments: DEPARTMENTS
            .iter()
            .map(|d| DepartmentSpec { name: d.0.into() })
            .collect(),
        devices,
        done_kinds: vec!["extend".into(), "repair".into()],
    }
}

fn device(
    rng: &mut SplitMix64,
    hostname: String,
    department: &str,
    person: Option<String>,
    category: Category,
    profile: Profile,
    today: Date,
) -> DeviceSpec {
    // Ages: most 0–5 years, a tail up to 8 (renewal every 3–5 years is common).
    let age_days = (rng.next_f64().powf(1.4) * 8.0 * 365.0) as i64 + 30;
    let purchase_date = today.saturating_sub(age_days.days());
    let era = ((8.0 * 365.0 - age_days as f64) / (2.0 * 365.0)).clamp(0.0, 3.0) as usize;
    let (vendor, model, family, base_memory) = match category {
        Category::Laptop => LAPTOPS[era],
        Category::Desktop | Category::MiniPc => DESKTOPS[era],
        Category::AllInOne => ("HP", "HP ProOne 440 G9 All-in-One", None, 16),
        Category::Tablet => ("Samsung", "Galaxy Tab S8", None, 8),
    };
    let memory_gb = match profile {
        Profile::Heavy if rng.next_f64() < 0.5 => base_memory * 2,
        _ if rng.next_f64() < 0.15 => base_memory / 2,
        _ => base_memory,
    }
    .max(4);
    let battery_health = (category == Category::Laptop).then(|| {
        // About 3–6 points of capacity a year, and some batteries wear faster.
        let years = age_days as f64 / 365.0;
        let wear = years * (0.03 + 0.04 * rng.next_f64());
        (1.0 - wear).clamp(0.45, 1.0)
    });
    DeviceSpec {
        hostname,
        department: department.into(),
        person,
        category,
        vendor: vendor.into(),
        model: model.into(),
        family: family.map(Into::into),
        memory_gb,
        logical_cores: [4, 8, 8, 12, 16][rng.below(5)],
        storage_gb: [256, 256, 512, 512, 1024][rng.below(5)],
        purchase_date: purchase_date.to_string(),
        profile,
        battery_health: battery_health.map(|h| (h * 100.0).round() / 100.0),
        retire: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_generated_fleet_is_about_300_devices_over_8_departments_and_valid() {
        let today = jiff::civil::date(2026, 11, 29);
        let fleet = generated_fleet(7, today);
        assert_eq!(fleet.departments.len(), 8);
        assert!(
            (270..=340).contains(&fleet.devices.len()),
            "{}",
            fleet.devices.len()
        );
        fleet.validate().unwrap();
        assert_eq!(fleet, generated_fleet(7, today), "deterministic");
        let laptops_with_worn_battery = fleet
            .devices
            .iter()
            .filter(|d| d.battery_health.is_some_and(|h| h < 0.7))
            .count();
        assert!(laptops_with_worn_battery > 0);
    }

    #[test]
    fn the_example_fleet_file_is_valid() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/fleet.toml");
        let fleet = Fleet::load(&path).unwrap();
        assert!(!fleet.devices.is_empty());
    }

    #[test]
    fn an_unknown_department_is_named() {
        let text = r#"
            [[departments]]
            name = "Finance"
            [[devices]]
            hostname = "x"
            department = "Fiance"
            category = "laptop"
            vendor = "Dell"
            model = "m"
            memory_gb = 8
            logical_cores = 4
            storage_gb = 256
            purchase_date = "2020-01-01"
            profile = "office"
        "#;
        let fleet: Fleet = toml::from_str(text).unwrap();
        let error = fleet.validate().unwrap_err().to_string();
        assert!(error.contains("\"Fiance\""), "{error}");
    }
}
