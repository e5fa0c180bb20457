//! Disk health from `smartctl -j` (smartmontools' JSON output), when the tool
//! is installed and the agent may read the disk. Anything else — no tool, no
//! permission, a disk without SMART — leaves the health unknown; never an
//! error.

use std::path::Path;
use std::process::Command;

use super::DiskCondition;

/// What SMART says of one disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SmartHealth {
    pub condition: DiskCondition,
    pub power_on_hours: Option<u64>,
}

/// ATA attributes whose raw value above 0 means a disk wearing out:
/// reallocated sectors, pending sectors, offline uncorrectable.
const ATA_WARNING_ATTRIBUTES: [u64; 3] = [5, 197, 198];

/// Interprets `smartctl -j -H -A` output.
pub fn parse(json: &str) -> Option<SmartHealth> {
    let value: serde_json::Value = serde_json::from_str(json).ok()?;
    let passed = value
        .pointer("/smart_status/passed")
        .and_then(serde_json::Value::as_bool)?;
    let power_on_hours = value
        .pointer("/power_on_time/hours")
        .and_then(serde_json::Value::as_u64);
    let nvme = value.get("nvme_smart_health_information_log");
    let nvme_warning = nvme.is_some_and(|log| {
        log.get("critical_warning")
            .and_then(serde_json::Value::as_u64)
            .unwrap_or(0)
            != 0
            || log
                .get("percentage_used")
                .and_then(serde_json::Value::as_u64)
                .unwrap_or(0)
                >= 100
            || log
                .get("media_errors")
                .and_then(serde_json::Value::as_u64)
                .unwrap_or(0)
                > 0
    });
    let ata_warning = value
        .pointer("/ata_smart_attributes/table")
        .and_then(serde_json::Value::as_array)
        .is_some_and(|table| {
            table.iter().any(|attribute| {
                let id = attribute
                    .get("id")
                    .and_then(serde_json::Value::as_u64)
                    .unwrap_or(0);
                let raw = attribute
                    .pointer("/raw/value")
                    .and_then(serde_json::Value::as_u64)
                    .unwrap_or(0);
                ATA_WARNING_ATTRIBUTES.contains(&id) && raw > 0
            })
        });
    let condition = if !passed {
        DiskCondition::Failing
    } else if nvme_warning || ata_warning {
        DiskCondition::Warning
    } else {
        DiskCondition::Ok
    };
    Some(SmartHealth {
        condition,
        power_on_hours,
    })
}

/// Asks `smartctl` about `/dev/NAME`, if it is installed and permitted.
pub fn read(name: &str) -> Option<SmartHealth> {
    let device = Path::new("/dev").join(name);
    let output = crate::platform::command::run(
        "smart",
        Command::new("smartctl")
            .args(["-j", "-H", "-A"])
            .arg(&device),
        crate::platform::command::Limits::DEFAULT,
    )
    .ok()?;
    // smartctl's exit status is a bit mask: bit 0 (command line) and bit 1
    // (device open failed, e.g. no permission) mean no answer.
    if output.status.code().is_some_and(|code| code & 0b11 != 0) {
        return None;
    }
    parse(&String::from_utf8_lossy(&output.stdout))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_healthy_nvme_disk_reads_ok_with_its_hours() {
        let json = r#"{"smartctl":{"exit_status":0},"device":{"name":"/dev/nvme0","type":"nvme"},
            "smart_status":{"passed":true,"nvme":{"value":0}},
            "nvme_smart_health_information_log":{"critical_warning":0,"temperature":35,
              "available_spare":100,"percentage_used":3,"power_on_hours":8211,"media_errors":0},
            "power_on_time":{"hours":8211}}"#;
        assert_eq!(
            parse(json),
            Some(SmartHealth {
                condition: DiskCondition::Ok,
                power_on_hours: Some(8211)
            })
        );
    }

    #[test]
    fn reallocated_sectors_on_an_ata_disk_are_a_warning() {
        let json = r#"{"smart_status":{"passed":true},"power_on_time":{"hours":41230},
            "ata_smart_attributes":{"table":[
              {"id":9,"name":"Power_On_Hours","raw":{"value":41230}},
              {"id":5,"name":"Reallocated_Sector_Ct","raw":{"value":24}}]}}"#;
        assert_eq!(parse(json).unwrap().condition, DiskCondition::Warning);
    }

    #[test]
    fn a_failed_self_assessment_is_failing_and_garbage_is_unknown() {
        assert_eq!(
            parse(r#"{"smart_status":{"passed":false}}"#)
                .unwrap()
                .condition,
            DiskCondition::Failing
        );
        assert_eq!(parse("smartctl: permission denied"), None);
        assert_eq!(parse(r#"{"device":{}}"#), None);
    }
}
