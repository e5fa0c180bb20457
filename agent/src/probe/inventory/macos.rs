//! macOS hardware facts from `system_profiler -json` (SPHardwareDataType,
//! SPPowerDataType, SPSoftwareDataType, SPStorageDataType). The parser is
//! platform-independent and tested on a real-shaped fixture; only running
//! the tool needs a Mac.

use std::process::Command;

use jiff::civil::Date;
use serde_json::Value;

use super::{
    AgeEstimate, AgeProvenance, BatteryFacts, ChassisKind, DiskCondition, DiskFacts,
    DiskTechnology, InventoryFacts, InventorySource,
};

/// The data types asked of `system_profiler`.
pub const DATA_TYPES: [&str; 4] = [
    "SPHardwareDataType",
    "SPPowerDataType",
    "SPSoftwareDataType",
    "SPStorageDataType",
];

fn first<'a>(root: &'a Value, data_type: &str) -> Option<&'a Value> {
    root.get(data_type)?.as_array()?.first()
}

fn text(value: Option<&Value>, key: &str) -> Option<String> {
    value?
        .get(key)?
        .as_str()
        .map(str::to_owned)
        .filter(|s| !s.is_empty())
}

/// "8 GB" → bytes.
fn memory_bytes(text: &str) -> Option<u64> {
    let mut parts = text.split_whitespace();
    let amount: u64 = parts.next()?.parse().ok()?;
    let unit = match parts.next()? {
        "TB" => 1 << 40,
        "GB" => 1 << 30,
        "MB" => 1 << 20,
        _ => return None,
    };
    Some(amount * unit)
}

/// Parses `system_profiler -json` output.
pub fn parse(json: &str, purchase_date: Option<Date>) -> Option<InventoryFacts> {
    let root: Value = serde_json::from_str(json).ok()?;
    let hardware = first(&root, "SPHardwareDataType");
    let software = first(&root, "SPSoftwareDataType");
    let machine_name = text(hardware, "machine_name").unwrap_or_default();
    let chassis = match machine_name.as_str() {
        name if name.starts_with("MacBook") => ChassisKind::Laptop,
        name if name.starts_with("iMac") => ChassisKind::AllInOne,
        "Mac mini" => ChassisKind::MiniPc,
        "Mac Pro" | "Mac Studio" => ChassisKind::Desktop,
        _ => ChassisKind::Unknown,
    };
    // "proc 8:4:4" on Apple silicon (total:performance:efficiency), a number
    // of processors elsewhere.
    let cores = hardware
        .and_then(|h| h.get("number_processors"))
        .and_then(|v| match v {
            Value::Number(n) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
            Value::String(s) => s
                .trim_start_matches("proc ")
                .split(':')
                .next()?
                .parse()
                .ok(),
            _ => None,
        });
    let (os_name, os_version) = text(software, "os_version")
        .map(|v| {
            let mut words = v.split_whitespace();
            (
                words.next().map(str::to_owned),
                words.next().map(str::to_owned),
            )
        })
        .unwrap_or_default();
    let battery = root
        .get("SPPowerDataType")
        .and_then(Value::as_array)
        .and_then(|items| {
            items
                .iter()
                .find_map(|item| item.get("sppower_battery_health_info"))
        })
        .map(|health| BatteryFacts {
            design_uwh: None,
            full_uwh: None,
            design_uah: None,
            full_uah: None,
            cycle_count: health
                .get("sppower_battery_cycle_count")
                .and_then(Value::as_u64)
                .and_then(|c| u32::try_from(c).ok()),
            reported_health_percent: health
                .get("sppower_battery_health_maximum_capacity")
                .and_then(Value::as_str)
                .and_then(|p| p.trim_end_matches('%').parse().ok()),
        });
    // Volumes share physical drives: one disk per device name.
    let mut disks: Vec<DiskFacts> = Vec::new();
    for volume in root
        .get("SPStorageDataType")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let Some(drive) = volume.get("physical_drive") else {
            continue;
        };
        let name = text(Some(drive), "device_name").unwrap_or_default();
        if drive.get("is_internal_disk").and_then(Value::as_str) != Some("yes")
            || disks.iter().any(|d| d.name == name)
        {
            continue;
        }
        let technology = match drive.get("medium_type").and_then(Value::as_str) {
            Some("ssd") => DiskTechnology::Ssd,
            Some("rotational") => DiskTechnology::Hdd,
            _ => DiskTechnology::Unknown,
        };
        let condition = match drive.get("smart_status").and_then(Value::as_str) {
            Some("Verified") => DiskCondition::Ok,
            Some("Failing") => DiskCondition::Failing,
            _ => DiskCondition::Unknown,
        };
        disks.push(DiskFacts {
            model: Some(name.clone()),
            name,
            technology,
            size_bytes: volume
                .get("size_in_bytes")
                .and_then(Value::as_u64)
                .unwrap_or(0),
            condition,
            power_on_hours: None,
        });
    }
    Some(InventoryFacts {
        hostname: text(software, "local_host_name").unwrap_or_else(|| "unknown".into()),
        vendor: Some("Apple".into()),
        model: text(hardware, "machine_model")
            .or(Some(machine_name.clone()).filter(|n| !n.is_empty())),
        model_family: Some(machine_name).filter(|n| !n.is_empty()),
        serial_number: text(hardware, "serial_number"),
        chassis,
        cpu_model: text(hardware, "chip_type").or_else(|| text(hardware, "cpu_type")),
        cpu_physical_cores: None,
        cpu_logical_cores: cores,
        memory_bytes: text(hardware, "physical_memory")
            .as_deref()
            .and_then(memory_bytes),
        disks,
        os_name,
        os_version,
        kernel_version: text(software, "kernel_version"),
        bios_vendor: Some("Apple".into()),
        bios_version: text(hardware, "boot_rom_version"),
        // Macs publish no firmware date: the age comes from the purchase date.
        bios_date: None,
        age: purchase_date.map(|since| AgeEstimate {
            since,
            provenance: AgeProvenance::ConfiguredPurchaseDate,
        }),
        battery,
    })
}

/// Runs `system_profiler` (macOS).
#[derive(Debug, Default)]
pub struct SystemProfiler;

impl InventorySource for SystemProfiler {
    fn collect(&mut self, purchase_date: Option<Date>) -> InventoryFacts {
        // system_profiler takes seconds on a busy Mac: a minute at most.
        let output = crate::platform::command::run(
            "inventory",
            Command::new("system_profiler")
                .arg("-json")
                .args(DATA_TYPES),
            crate::platform::command::Limits {
                timeout: std::time::Duration::from_secs(60),
                ..crate::platform::command::Limits::DEFAULT
            },
        );
        output
            .ok()
            .and_then(|o| parse(&String::from_utf8_lossy(&o.stdout), purchase_date))
            .unwrap_or_else(|| InventoryFacts {
                hostname: "unknown".into(),
                vendor: None,
                model: None,
                model_family: None,
                serial_number: None,
                chassis: ChassisKind::Unknown,
                cpu_model: None,
                cpu_physical_cores: None,
                cpu_logical_cores: None,
                memory_bytes: None,
                disks: Vec::new(),
                os_name: None,
                os_version: None,
                kernel_version: None,
                bios_vendor: None,
                bios_version: None,
                bios_date: None,
                age: None,
                battery: None,
            })
    }
}
