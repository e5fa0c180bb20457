//! Hardware and OS facts.
//!
//! Host facts (DMI, block devices, os-release, CPU flags) are parsed from
//! files under one root (`--root`, default `/`), so fixture trees drive them;
//! sysinfo serves what only live sampling gives (CPU brand, memory).

pub mod macos;
pub mod smart;
pub mod wmi;

use std::path::{Path, PathBuf};

use jiff::civil::Date;

/// Chassis family, from the SMBIOS chassis type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChassisKind {
    Laptop,
    Desktop,
    AllInOne,
    Tablet,
    MiniPc,
    Server,
    VirtualMachine,
    Unknown,
}

impl ChassisKind {
    /// Maps an SMBIOS chassis type code (DMTF DSP0134, 7.4.1).
    pub fn from_smbios(code: u32) -> Self {
        match code {
            3..=7 | 15 | 16 | 24 => Self::Desktop,
            8..=10 | 14 | 31 | 32 => Self::Laptop,
            13 => Self::AllInOne,
            11 | 30 => Self::Tablet,
            35 | 36 => Self::MiniPc,
            17 | 23 | 25 | 28 | 29 => Self::Server,
            _ => Self::Unknown,
        }
    }
}

/// Storage technology of a disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiskTechnology {
    Nvme,
    Ssd,
    Hdd,
    Unknown,
}

/// Health of a disk, where it can be read without extra privilege.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiskCondition {
    Unknown,
    Ok,
    Warning,
    Failing,
}

/// One physical disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskFacts {
    /// Kernel name (`nvme0n1`, `sda`), to match SMART data; never sent.
    pub name: String,
    pub technology: DiskTechnology,
    pub size_bytes: u64,
    pub model: Option<String>,
    pub condition: DiskCondition,
    pub power_on_hours: Option<u64>,
}

/// Battery capacities as the kernel reports them: energy (µWh) or charge
/// (µAh), whichever the battery offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatteryFacts {
    pub design_uwh: Option<u64>,
    pub full_uwh: Option<u64>,
    pub design_uah: Option<u64>,
    pub full_uah: Option<u64>,
    pub cycle_count: Option<u32>,
    /// Maximum capacity in percent of design, where the platform reports only
    /// that (macOS).
    pub reported_health_percent: Option<u8>,
}

impl BatteryFacts {
    /// Full capacity over design capacity, in percent.
    pub fn health_percent(&self) -> Option<f64> {
        let capacities = match (self.full_uwh, self.design_uwh) {
            (Some(full), Some(design)) => Some((full, design)),
            _ => self.full_uah.zip(self.design_uah),
        };
        let Some((full, design)) = capacities else {
            // Platforms that report only a percentage (macOS).
            return self.reported_health_percent.map(f64::from);
        };
        #[allow(clippy::cast_precision_loss)]
        (design > 0).then(|| full as f64 * 100.0 / design as f64)
    }
}

/// Where an age estimate comes from, best first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgeProvenance {
    ConfiguredPurchaseDate,
    BiosDate,
    OsInstallDate,
}

/// The device's estimated first day of use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AgeEstimate {
    pub since: Date,
    pub provenance: AgeProvenance,
}

impl AgeEstimate {
    /// The best estimate: the configured purchase date, else the firmware's
    /// date, else the OS installation's (asked only when needed).
    pub fn best(
        purchase: Option<Date>,
        bios: Option<Date>,
        os_install: impl FnOnce() -> Option<Date>,
    ) -> Option<Self> {
        let estimate = |provenance| move |since| Self { since, provenance };
        purchase
            .map(estimate(AgeProvenance::ConfiguredPurchaseDate))
            .or_else(|| bios.map(estimate(AgeProvenance::BiosDate)))
            .or_else(|| os_install().map(estimate(AgeProvenance::OsInstallDate)))
    }
}

/// What the inventory probe found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InventoryFacts {
    pub hostname: String,
    pub vendor: Option<String>,
    pub model: Option<String>,
    /// The product family: Lenovo's marketing name beside its machine-type
    /// code, Dell's and HP's product line.
    pub model_family: Option<String>,
    pub serial_number: Option<String>,
    pub chassis: ChassisKind,
    pub cpu_model: Option<String>,
    pub cpu_physical_cores: Option<u32>,
    pub cpu_logical_cores: Option<u32>,
    pub memory_bytes: Option<u64>,
    pub disks: Vec<DiskFacts>,
    pub os_name: Option<String>,
    pub os_version: Option<String>,
    pub kernel_version: Option<String>,
    pub bios_vendor: Option<String>,
    pub bios_version: Option<String>,
    pub bios_date: Option<Date>,
    pub age: Option<AgeEstimate>,
    pub battery: Option<BatteryFacts>,
}

/// A platform's source of hardware and OS facts.
pub trait InventorySource: std::fmt::Debug + Send {
    /// Collects the facts now. A fact that cannot be read is absent, never
    /// an error.
    fn collect(&mut self, purchase_date: Option<Date>) -> InventoryFacts;
}

impl InventorySource for InventoryProbe {
    fn collect(&mut self, purchase_date: Option<Date>) -> InventoryFacts {
        InventoryProbe::collect(self, purchase_date)
    }
}

/// Reads inventory facts from Linux's files; keeps its sysinfo `System`
/// between calls.
pub struct InventoryProbe {
    root: PathBuf,
    system: Option<sysinfo::System>,
}

impl std::fmt::Debug for InventoryProbe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InventoryProbe")
            .field("root", &self.root)
            .finish_non_exhaustive()
    }
}

impl InventoryProbe {
    /// A probe reading host files under `root`; `live` also samples this
    /// machine with sysinfo (off for fixture trees).
    pub fn new(root: &Path, live: bool) -> Self {
        let system = if live {
            sysinfo::System::new().ok()
        } else {
            None
        };
        Self {
            root: root.to_owned(),
            system,
        }
    }

    /// Collects the facts. A fact that cannot be read is absent, never an error.
    pub fn collect(&mut self, purchase_date: Option<Date>) -> InventoryFacts {
        let dmi = |name: &str| read_trimmed(&self.root.join("sys/class/dmi/id").join(name));
        let vendor = dmi("sys_vendor");
        let model = dmi("product_name");
        // Older Lenovo firmware has no family field and keeps the marketing
        // name in the product version.
        let model_family = dmi("product_family").or_else(|| {
            vendor
                .as_deref()
                .is_some_and(|v| v.eq_ignore_ascii_case("lenovo"))
                .then(|| dmi("product_version"))
                .flatten()
        });
        let os_release = read_os_release(&self.root);
        let bios_date = dmi("bios_date").and_then(|text| parse_bios_date(&text));
        let chassis = chassis(
            dmi("chassis_type").and_then(|code| code.parse().ok()),
            vendor.as_deref(),
            model.as_deref(),
            cpu_has_hypervisor_flag(&self.root),
        );
        let age = AgeEstimate::best(purchase_date, bios_date, || os_install_date(&self.root));
        let (cpu_model, memory_bytes, logical) = match self.system.as_mut() {
            Some(system) => {
                system.refresh_memory();
                if !crate::platform::windows::under_wine() {
                    system.refresh_cpu_list(sysinfo::CpuRefreshKind::nothing());
                }
                let brand = system
                    .cpus()
                    .first()
                    .map(|cpu| cpu.brand().trim().to_owned());
                let logical = u32::try_from(system.cpus().len()).ok().filter(|n| *n > 0);
                (
                    brand.filter(|b| !b.is_empty()),
                    Some(system.total_memory()),
                    logical,
                )
            }
            None => (None, None, None),
        };
        InventoryFacts {
            hostname: host_name(&self.root),
            serial_number: dmi("product_serial").filter(|s| !is_placeholder(s)),
            vendor: vendor.filter(|s| !is_placeholder(s)),
            model: model.filter(|s| !is_placeholder(s)),
            model_family: model_family.filter(|s| !is_placeholder(s)),
            chassis,
            cpu_model,
            cpu_physical_cores: self
                .system
                .as_ref()
                .and_then(|_| sysinfo::System::physical_core_count().ok())
                .and_then(|n| u32::try_from(n).ok()),
            cpu_logical_cores: logical,
            memory_bytes,
            disks: self.disks(),
            os_name: os_release.0,
            os_version: os_release.1,
            kernel_version: read_trimmed(&self.root.join("proc/sys/kernel/osrelease")),
            bios_vendor: dmi("bios_vendor"),
            bios_version: dmi("bios_version"),
            bios_date,
            age,
            battery: battery(&self.root),
        }
    }
}

impl InventoryProbe {
    /// Physical disks, with SMART health when this is the live system.
    fn disks(&self) -> Vec<DiskFacts> {
        let mut disks = block_devices(&self.root);
        if self.system.is_some() && self.root == Path::new("/") {
            for disk in &mut disks {
                if let Some(health) = smart::read(&disk.name) {
                    disk.condition = health.condition;
                    disk.power_on_hours = health.power_on_hours;
                }
            }
        }
        disks
    }
}

/// The first battery of `/sys/class/power_supply` (laptops have one; a
/// desktop none).
fn battery(root: &Path) -> Option<BatteryFacts> {
    let mut supplies: Vec<_> = std::fs::read_dir(root.join("sys/class/power_supply"))
        .ok()?
        .flatten()
        .map(|e| e.path())
        .collect();
    supplies.sort();
    let dir = supplies
        .into_iter()
        .find(|dir| read_trimmed(&dir.join("type")).as_deref() == Some("Battery"))?;
    let number = |name: &str| read_trimmed(&dir.join(name)).and_then(|v| v.parse::<u64>().ok());
    let facts = BatteryFacts {
        design_uwh: number("energy_full_design"),
        full_uwh: number("energy_full"),
        design_uah: number("charge_full_design"),
        full_uah: number("charge_full"),
        // Many firmwares report 0 cycles when they do not count.
        cycle_count: number("cycle_count")
            .filter(|c| *c > 0)
            .and_then(|c| u32::try_from(c).ok()),
        reported_health_percent: None,
    };
    (facts.health_percent().is_some() || facts.cycle_count.is_some()).then_some(facts)
}

/// The host name, from the kernel or `/etc/hostname` under `root`
/// (`%COMPUTERNAME%` on Windows).
pub fn host_name(root: &Path) -> String {
    read_trimmed(&root.join("proc/sys/kernel/hostname"))
        .or_else(|| read_trimmed(&root.join("etc/hostname")))
        .or_else(|| {
            cfg!(windows)
                .then(|| std::env::var("COMPUTERNAME").ok())
                .flatten()
                .filter(|name| !name.is_empty())
        })
        .unwrap_or_else(|| "unknown".into())
}

fn read_trimmed(path: &Path) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_owned())
}

/// Firmware fills unset DMI strings with placeholders.
fn is_placeholder(value: &str) -> bool {
    let lower = value.to_ascii_lowercase();
    [
        "to be filled by o.e.m.",
        "default string",
        "system serial number",
        "not specified",
        "none",
        "0",
    ]
    .contains(&lower.as_str())
}

pub(crate) fn chassis(
    code: Option<u32>,
    vendor: Option<&str>,
    model: Option<&str>,
    hypervisor: bool,
) -> ChassisKind {
    let text = format!("{} {}", vendor.unwrap_or(""), model.unwrap_or("")).to_ascii_lowercase();
    let virtual_markers = [
        "qemu",
        "kvm",
        "vmware",
        "virtualbox",
        "innotek",
        "virtual machine",
        "bochs",
        "xen",
        "standard pc",
    ];
    if hypervisor || virtual_markers.iter().any(|marker| text.contains(marker)) {
        return ChassisKind::VirtualMachine;
    }
    code.map_or(ChassisKind::Unknown, ChassisKind::from_smbios)
}

fn cpu_has_hypervisor_flag(root: &Path) -> bool {
    std::fs::read_to_string(root.join("proc/cpuinfo")).is_ok_and(|text| {
        text.lines()
            .filter(|line| line.starts_with("flags"))
            .any(|line| line.split_whitespace().any(|flag| flag == "hypervisor"))
    })
}

/// `bios_date` is `MM/DD/YYYY`.
fn parse_bios_date(text: &str) -> Option<Date> {
    let mut parts = text.split('/');
    let month: u8 = parts.next()?.parse().ok()?;
    let day: u8 = parts.next()?.parse().ok()?;
    let year: i32 = parts.next()?.parse().ok()?;
    Date::new(
        i16::try_from(year).ok()?,
        i8::try_from(month).ok()?,
        i8::try_from(day).ok()?,
    )
    .ok()
}

/// The calendar day, in UTC, of a Unix time in seconds.
pub(crate) fn utc_day(unix_secs: i64) -> Option<Date> {
    let at = jiff::Timestamp::from_second(unix_secs).ok()?;
    Some(jiff::tz::Offset::UTC.to_datetime(at).date())
}

/// `NAME` and `VERSION_ID` of os-release.
fn read_os_release(root: &Path) -> (Option<String>, Option<String>) {
    let text = std::fs::read_to_string(root.join("etc/os-release"))
        .or_else(|_| std::fs::read_to_string(root.join("usr/lib/os-release")))
        .unwrap_or_default();
    let value = |key: &str| {
        text.lines()
            .find_map(|line| line.strip_prefix(key)?.strip_prefix('='))
            .map(|v| v.trim().trim_matches('"').to_owned())
            .filter(|v| !v.is_empty())
    };
    (value("NAME"), value("VERSION_ID"))
}

/// The operating system's installation date: the root filesystem's birth
/// time; where the filesystem reports none (or 0, as some virtual machines'
/// do), the oldest of the installer's log directory and `/etc/machine-id`,
/// both written at installation.
fn os_install_date(root: &Path) -> Option<Date> {
    let birth = std::fs::metadata(root).ok().and_then(|m| m.created().ok());
    install_date_from(birth, root)
}

fn install_date_from(birth: Option<std::time::SystemTime>, root: &Path) -> Option<Date> {
    let date = |time: std::time::SystemTime| {
        let secs = time.duration_since(std::time::UNIX_EPOCH).ok()?.as_secs();
        // A zero birth time means "not recorded".
        if secs == 0 {
            return None;
        }
        utc_day(i64::try_from(secs).ok()?)
    };
    birth.and_then(date).or_else(|| {
        ["var/log/installer", "etc/machine-id"]
            .iter()
            .filter_map(|path| std::fs::metadata(root.join(path)).ok()?.modified().ok())
            .filter_map(date)
            .min()
    })
}

/// Physical disks from `/sys/block`: loop, RAM, device-mapper and optical
/// devices are skipped.
fn block_devices(root: &Path) -> Vec<DiskFacts> {
    let Ok(entries) = std::fs::read_dir(root.join("sys/block")) else {
        return Vec::new();
    };
    let mut disks: Vec<DiskFacts> = entries
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            if ["loop", "ram", "dm-", "zram", "sr", "md", "nbd"]
                .iter()
                .any(|p| name.starts_with(p))
            {
                return None;
            }
            let dir = entry.path();
            let sectors: u64 = read_trimmed(&dir.join("size"))?.parse().ok()?;
            if sectors == 0 {
                return None;
            }
            let rotational = read_trimmed(&dir.join("queue/rotational"));
            let technology = if name.starts_with("nvme") {
                DiskTechnology::Nvme
            } else {
                match rotational.as_deref() {
                    Some("0") => DiskTechnology::Ssd,
                    Some("1") => DiskTechnology::Hdd,
                    _ => DiskTechnology::Unknown,
                }
            };
            let model = read_trimmed(&dir.join("device/model"));
            Some(DiskFacts {
                name,
                technology,
                size_bytes: sectors * 512,
                model,
                condition: DiskCondition::Unknown,
                power_on_hours: None,
            })
        })
        .collect();
    disks.sort_by(|a, b| a.name.cmp(&b.name));
    disks
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(root: &Path, path: &str, content: &str) {
        let path = root.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }

    #[test]
    fn a_laptop_tree_gives_its_dmi_facts_and_bios_age() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        write(r, "sys/class/dmi/id/sys_vendor", "LENOVO\n");
        write(r, "sys/class/dmi/id/product_name", "20XW0055FR\n");
        write(
            r,
            "sys/class/dmi/id/product_version",
            "ThinkPad T14 Gen 2i\n",
        );
        write(r, "sys/class/dmi/id/chassis_type", "10\n");
        write(r, "sys/class/dmi/id/bios_date", "03/15/2021\n");
        write(
            r,
            "sys/class/dmi/id/product_serial",
            "To Be Filled By O.E.M.\n",
        );
        write(r, "sys/block/nvme0n1/size", "1000215216\n");
        write(r, "sys/block/loop0/size", "100\n");
        write(
            r,
            "etc/os-release",
            "NAME=\"Ubuntu\"\nVERSION_ID=\"24.04\"\n",
        );
        write(r, "etc/hostname", "pc-compta-12\n");
        let facts = InventoryProbe::new(r, false).collect(None);
        assert_eq!(facts.hostname, "pc-compta-12");
        assert_eq!(facts.vendor.as_deref(), Some("LENOVO"));
        assert_eq!(facts.model.as_deref(), Some("20XW0055FR"));
        // No family file (older firmware): Lenovo's product version names it.
        assert_eq!(facts.model_family.as_deref(), Some("ThinkPad T14 Gen 2i"));
        assert_eq!(facts.chassis, ChassisKind::Laptop);
        assert_eq!(facts.serial_number, None);
        assert_eq!(facts.os_name.as_deref(), Some("Ubuntu"));
        assert_eq!(facts.disks.len(), 1);
        assert_eq!(facts.disks[0].technology, DiskTechnology::Nvme);
        let age = facts.age.unwrap();
        assert_eq!(age.provenance, AgeProvenance::BiosDate);
        assert_eq!(age.since, jiff::civil::date(2021, 3, 15));
    }

    #[test]
    fn a_configured_purchase_date_wins_over_the_bios_date() {
        let root = tempfile::tempdir().unwrap();
        write(root.path(), "sys/class/dmi/id/bios_date", "03/15/2021\n");
        let purchase = jiff::civil::date(2021, 6, 1);
        let age = InventoryProbe::new(root.path(), false)
            .collect(Some(purchase))
            .age
            .unwrap();
        assert_eq!(age.provenance, AgeProvenance::ConfiguredPurchaseDate);
        assert_eq!(age.since, purchase);
    }

    #[test]
    fn a_birth_time_of_zero_falls_back_to_the_machine_id() {
        let root = tempfile::tempdir().unwrap();
        write(root.path(), "etc/machine-id", "0123\n");
        let installed = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_600_000_000);
        std::fs::File::options()
            .write(true)
            .open(root.path().join("etc/machine-id"))
            .unwrap()
            .set_modified(installed)
            .unwrap();
        let zero = Some(std::time::UNIX_EPOCH);
        assert_eq!(
            install_date_from(zero, root.path()),
            Some(jiff::civil::date(2020, 9, 13))
        );
        assert_eq!(install_date_from(zero, &root.path().join("nothing")), None);
    }

    #[test]
    fn a_vm_without_dmi_is_recognised_by_its_hypervisor_flag() {
        let root = tempfile::tempdir().unwrap();
        write(
            root.path(),
            "proc/cpuinfo",
            "processor\t: 0\nflags\t\t: fpu vme hypervisor lahf_lm\n",
        );
        let facts = InventoryProbe::new(root.path(), false).collect(None);
        assert_eq!(facts.chassis, ChassisKind::VirtualMachine);
        assert_eq!(facts.vendor, None);
    }
}
