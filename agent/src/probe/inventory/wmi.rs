//! Windows hardware facts from WMI, read through one PowerShell call that
//! prints them as JSON ([`SCRIPT`]): `Win32_BIOS`, `Win32_ComputerSystem`,
//! `Win32_SystemEnclosure`, `Win32_OperatingSystem`, `Win32_Processor`, the
//! batteries of `root\WMI` (`BatteryStaticData`,
//! `BatteryFullChargedCapacity`, `BatteryCycleCount`) and the physical disks
//! with their `MSFT_StorageReliabilityCounter`.
//!
//! The parser is platform-independent and tested on real-shaped fixtures:
//! `ConvertTo-Json` writes a lone instance as an object and several as an
//! array, and dates as `\/Date(ms)\/` (Windows PowerShell 5.1), ISO 8601
//! (PowerShell 7) or CIM `yyyymmddHHMMSS.ffffff+UUU` strings; all are read.

use jiff::civil::Date;
use serde_json::Value;

use super::{
    AgeEstimate, BatteryFacts, DiskCondition, DiskFacts, DiskTechnology, InventoryFacts,
    InventorySource, chassis, utc_day,
};

/// The PowerShell script whose JSON [`parse`] reads. Every query may fail
/// alone (no battery, no storage module): its member is then null.
pub const SCRIPT: &str = r#"$ErrorActionPreference = 'SilentlyContinue'
function Cim($class, $ns = 'root\cimv2') { Get-CimInstance -Namespace $ns -ClassName $class }
[pscustomobject]@{
  bios = Cim Win32_BIOS | Select-Object Manufacturer, SMBIOSBIOSVersion, ReleaseDate, SerialNumber
  system = Cim Win32_ComputerSystem | Select-Object DNSHostName, Manufacturer, Model, SystemFamily, TotalPhysicalMemory
  enclosure = Cim Win32_SystemEnclosure | Select-Object ChassisTypes
  os = Cim Win32_OperatingSystem | Select-Object Caption, Version, InstallDate
  processors = @(Cim Win32_Processor | Select-Object Name, NumberOfCores, NumberOfLogicalProcessors)
  battery_static = @(Cim BatteryStaticData 'root\WMI' | Select-Object DesignedCapacity)
  battery_full = @(Cim BatteryFullChargedCapacity 'root\WMI' | Select-Object FullChargedCapacity)
  battery_cycles = @(Cim BatteryCycleCount 'root\WMI' | Select-Object CycleCount)
  disks = @(Get-PhysicalDisk | ForEach-Object {
    $r = $_ | Get-StorageReliabilityCounter
    [pscustomobject]@{
      DeviceId = $_.DeviceId; FriendlyName = $_.FriendlyName; MediaType = $_.MediaType
      BusType = $_.BusType; Size = $_.Size; HealthStatus = $_.HealthStatus
      PowerOnHours = $r.PowerOnHours; Wear = $r.Wear
    }
  })
} | ConvertTo-Json -Depth 4 -Compress"#;

/// The instances of a member: `ConvertTo-Json` writes one as an object,
/// several as an array, none as null.
fn instances<'a>(root: &'a Value, key: &str) -> Vec<&'a Value> {
    match root.get(key) {
        Some(Value::Array(items)) => items.iter().collect(),
        Some(value @ Value::Object(_)) => vec![value],
        _ => Vec::new(),
    }
}

fn text(value: Option<&Value>, key: &str) -> Option<String> {
    value?
        .get(key)?
        .as_str()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// A number, whether JSON wrote it as a number or a string (64-bit CIM
/// integers come as strings from some hosts).
fn number(value: Option<&Value>, key: &str) -> Option<u64> {
    match value?.get(key)? {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A date in any of the three shapes `ConvertTo-Json` and CIM write:
/// `/Date(1591920000000)/`, `2020-06-12T00:00:00+02:00`,
/// `20200612000000.000000+000`. A `{"value": …, "DateTime": …}` wrapper
/// (PowerShell 5.1 with extended properties) is unwrapped.
pub fn date(value: &Value) -> Option<Date> {
    let text = match value {
        Value::String(s) => s.as_str(),
        Value::Object(map) => return map.get("value").and_then(date),
        _ => return None,
    };
    if let Some(rest) = text.strip_prefix("/Date(") {
        let millis: i64 = rest
            .trim_end_matches(")/")
            .split(['+', '-'])
            .next()?
            .parse()
            .ok()?;
        return utc_day(millis.div_euclid(1000));
    }
    let digits = |range: std::ops::Range<usize>| text.get(range)?.parse::<i32>().ok();
    let calendar = |year: Option<i32>, month: Option<i32>, day: Option<i32>| {
        Date::new(
            i16::try_from(year?).ok()?,
            i8::try_from(month?).ok()?,
            i8::try_from(day?).ok()?,
        )
        .ok()
    };
    if text.len() >= 8 && text.as_bytes()[..8].iter().all(u8::is_ascii_digit) {
        // CIM datetime: yyyymmdd…
        return calendar(digits(0..4), digits(4..6), digits(6..8));
    }
    // ISO 8601: the calendar date as written (the local day of the event).
    if text.get(4..5) == Some("-") && text.get(7..8) == Some("-") {
        return calendar(digits(0..4), digits(5..7), digits(8..10));
    }
    None
}

fn disk(item: &Value) -> DiskFacts {
    // MSFT_PhysicalDisk: MediaType 3 HDD, 4 SSD, 5 SCM; BusType 17 NVMe;
    // HealthStatus 0 healthy, 1 warning, 2 unhealthy. PowerShell may
    // write the enumerations by name instead.
    let field = |key: &str| item.get(key).cloned().unwrap_or(Value::Null);
    let is = |key: &str, code: u64, name: &str| match field(key) {
        Value::Number(n) => n.as_u64() == Some(code),
        Value::String(s) => s.eq_ignore_ascii_case(name),
        _ => false,
    };
    let technology = if is("BusType", 17, "NVMe") {
        DiskTechnology::Nvme
    } else if is("MediaType", 4, "SSD") || is("MediaType", 5, "SCM") {
        DiskTechnology::Ssd
    } else if is("MediaType", 3, "HDD") {
        DiskTechnology::Hdd
    } else {
        DiskTechnology::Unknown
    };
    let worn = number(Some(item), "Wear").is_some_and(|wear| wear >= 90);
    let condition = if is("HealthStatus", 2, "Unhealthy") {
        DiskCondition::Failing
    } else if is("HealthStatus", 1, "Warning") || worn {
        DiskCondition::Warning
    } else if is("HealthStatus", 0, "Healthy") {
        DiskCondition::Ok
    } else {
        DiskCondition::Unknown
    };
    DiskFacts {
        name: text(Some(item), "DeviceId").unwrap_or_default(),
        technology,
        size_bytes: number(Some(item), "Size").unwrap_or(0),
        model: text(Some(item), "FriendlyName"),
        condition,
        power_on_hours: number(Some(item), "PowerOnHours"),
    }
}

/// Parses [`SCRIPT`]'s output; `None` when it is not JSON at all.
pub fn parse(json: &str, purchase_date: Option<Date>) -> Option<InventoryFacts> {
    let root: Value = serde_json::from_str(json.trim_start_matches('\u{feff}')).ok()?;
    let bios = instances(&root, "bios").into_iter().next();
    let system = instances(&root, "system").into_iter().next();
    let os = instances(&root, "os").into_iter().next();
    let processors = instances(&root, "processors");
    let vendor = text(system, "Manufacturer");
    let model = text(system, "Model");
    let chassis_code = instances(&root, "enclosure")
        .into_iter()
        .filter_map(|e| e.get("ChassisTypes"))
        .flat_map(|types| match types {
            Value::Array(codes) => codes.iter().filter_map(Value::as_u64).collect(),
            Value::Number(n) => n.as_u64().into_iter().collect(),
            _ => Vec::new(),
        })
        .find_map(|code| u32::try_from(code).ok());
    let bios_date = bios.and_then(|b| b.get("ReleaseDate")).and_then(date);
    let install_date = os.and_then(|o| o.get("InstallDate")).and_then(date);
    let age = AgeEstimate::best(purchase_date, bios_date, || install_date);
    // Batteries: the first one's capacities (mWh in root\WMI → µWh).
    let first_number = |key: &str, field: &str| {
        instances(&root, key)
            .into_iter()
            .find_map(|item| number(Some(item), field))
    };
    let design = first_number("battery_static", "DesignedCapacity").filter(|c| *c > 0);
    let full = first_number("battery_full", "FullChargedCapacity").filter(|c| *c > 0);
    let battery = (design.is_some() || full.is_some()).then(|| BatteryFacts {
        design_uwh: design.map(|mwh| mwh * 1000),
        full_uwh: full.map(|mwh| mwh * 1000),
        design_uah: None,
        full_uah: None,
        cycle_count: first_number("battery_cycles", "CycleCount")
            .and_then(|c| u32::try_from(c).ok())
            .filter(|c| *c > 0),
        reported_health_percent: None,
    });
    let sum_processors = |key: &str| {
        let counts: Vec<u32> = processors
            .iter()
            .filter_map(|p| number(Some(p), key))
            .filter_map(|n| u32::try_from(n).ok())
            .collect();
        (!counts.is_empty()).then(|| counts.iter().sum())
    };
    let (os_name, os_version) = (text(os, "Caption"), text(os, "Version"));
    Some(InventoryFacts {
        hostname: text(system, "DNSHostName").unwrap_or_else(|| "unknown".into()),
        chassis: chassis(chassis_code, vendor.as_deref(), model.as_deref(), false),
        vendor,
        model,
        model_family: text(system, "SystemFamily"),
        serial_number: text(bios, "SerialNumber"),
        cpu_model: processors.first().and_then(|p| text(Some(p), "Name")),
        cpu_physical_cores: sum_processors("NumberOfCores"),
        cpu_logical_cores: sum_processors("NumberOfLogicalProcessors"),
        memory_bytes: number(system, "TotalPhysicalMemory"),
        disks: instances(&root, "disks").into_iter().map(disk).collect(),
        kernel_version: os_version.clone(),
        os_name,
        os_version,
        bios_vendor: text(bios, "Manufacturer"),
        bios_version: text(bios, "SMBIOSBIOSVersion"),
        bios_date,
        age,
        battery,
    })
}

/// Facts when PowerShell cannot be run (Wine, a locked-down host): the
/// host name and what sysinfo samples (CPU, memory), the rest absent.
fn fallback(purchase_date: Option<Date>) -> InventoryFacts {
    super::InventoryProbe::new(std::path::Path::new("/"), true).collect(purchase_date)
}

/// Runs [`SCRIPT`] with Windows PowerShell (Windows).
#[derive(Debug, Default)]
pub struct Wmi;

impl InventorySource for Wmi {
    fn collect(&mut self, purchase_date: Option<Date>) -> InventoryFacts {
        let output = crate::platform::command::run(
            "inventory",
            std::process::Command::new("powershell.exe").args([
                "-NoProfile",
                "-NonInteractive",
                "-ExecutionPolicy",
                "Bypass",
                "-Command",
                SCRIPT,
            ]),
            crate::platform::command::Limits {
                timeout: std::time::Duration::from_secs(60),
                ..crate::platform::command::Limits::DEFAULT
            },
        );
        match output {
            Ok(output) if output.status.success() => {
                parse(&String::from_utf8_lossy(&output.stdout), purchase_date)
            }
            Ok(output) => {
                tracing::warn!(status = %output.status, "the WMI query failed: hardware facts are missing");
                None
            }
            Err(error) => {
                tracing::warn!(%error, "PowerShell cannot be run: hardware facts are missing");
                None
            }
        }
        .unwrap_or_else(|| fallback(purchase_date))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date as d;

    #[test]
    fn the_three_date_shapes_are_read() {
        assert_eq!(
            date(&Value::from("/Date(1591920000000)/")),
            Some(d(2020, 6, 12))
        );
        assert_eq!(
            date(&Value::from("2019-03-04T00:00:00+01:00")),
            Some(d(2019, 3, 4))
        );
        assert_eq!(
            date(&Value::from("20210115000000.000000+000")),
            Some(d(2021, 1, 15))
        );
        assert_eq!(date(&Value::from("not a date")), None);
        assert_eq!(date(&Value::from("2021-13-40T00:00:00")), None);
        let wrapped: Value = serde_json::from_str(
            r#"{"value":"/Date(1591920000000)/","DateTime":"Friday, June 12, 2020"}"#,
        )
        .unwrap();
        assert_eq!(date(&wrapped), Some(d(2020, 6, 12)));
    }

    #[test]
    fn garbage_is_none_and_an_empty_object_gives_absent_facts() {
        assert!(parse("Get-CimInstance : Access denied", None).is_none());
        let facts = parse("{}", None).unwrap();
        assert_eq!(facts.hostname, "unknown");
        assert!(facts.battery.is_none() && facts.disks.is_empty() && facts.age.is_none());
    }
}
