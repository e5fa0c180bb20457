//! Hardware facts read from committed fixture trees of real machines' files:
//! a laptop with a worn battery, a desktop without battery, a virtual machine
//! without DMI.

use std::path::{Path, PathBuf};

use sobrio_agent::probe::inventory::{AgeProvenance, ChassisKind, DiskTechnology, InventoryProbe};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

#[test]
fn a_laptop_with_a_worn_battery() {
    let facts = InventoryProbe::new(&fixture("laptop-worn-battery"), false).collect(None);
    assert_eq!(facts.hostname, "pc-compta-12");
    assert_eq!(
        (facts.vendor.as_deref(), facts.model.as_deref()),
        (Some("LENOVO"), Some("20UD0013FR"))
    );
    assert_eq!(facts.chassis, ChassisKind::Laptop);
    assert_eq!(facts.serial_number.as_deref(), Some("PF2ABCDE"));
    assert_eq!(
        (facts.os_name.as_deref(), facts.os_version.as_deref()),
        (Some("Ubuntu"), Some("22.04"))
    );
    assert_eq!(facts.disks.len(), 1, "the loop device is not a disk");
    assert_eq!(facts.disks[0].technology, DiskTechnology::Nvme);
    assert_eq!(facts.disks[0].size_bytes, 1_000_215_216 * 512);
    let age = facts.age.unwrap();
    assert_eq!(
        (age.provenance, age.since),
        (AgeProvenance::BiosDate, jiff::civil::date(2020, 3, 12))
    );
    let battery = facts.battery.unwrap();
    assert_eq!(battery.cycle_count, Some(612));
    let health = battery.health_percent().unwrap();
    assert!((health - 62.0).abs() < 0.1, "31.31 of 50.5 Wh: {health}");
}

#[test]
fn a_desktop_without_battery() {
    let facts = InventoryProbe::new(&fixture("desktop-no-battery"), false).collect(None);
    assert_eq!(facts.chassis, ChassisKind::Desktop);
    assert_eq!(facts.battery, None);
    assert_eq!(facts.disks.len(), 1, "the optical drive is not a disk");
    assert_eq!(facts.disks[0].technology, DiskTechnology::Hdd);
    assert_eq!(facts.disks[0].model.as_deref(), Some("ST500DM002-1SB10A"));
    assert_eq!(facts.age.unwrap().since, jiff::civil::date(2017, 7, 14));
}

#[test]
fn a_virtual_machine_without_dmi() {
    let facts = InventoryProbe::new(&fixture("vm-without-dmi"), false).collect(None);
    assert_eq!(facts.chassis, ChassisKind::VirtualMachine);
    assert_eq!(
        (facts.vendor, facts.bios_date, facts.battery),
        (None, None, None)
    );
    // No firmware date: the age falls back to the OS installation.
    let age = facts.age.expect("an OS installation date");
    assert_eq!(age.provenance, AgeProvenance::OsInstallDate);
    let today = jiff::tz::Offset::UTC
        .to_datetime(jiff::Timestamp::now())
        .date();
    assert!(age.since <= today);
}

#[test]
fn a_macbook_from_system_profiler() {
    let json = std::fs::read_to_string(fixture("macos-system-profiler.json")).unwrap();
    let purchase = jiff::civil::date(2021, 2, 1);
    let facts = sobrio_agent::probe::inventory::macos::parse(&json, Some(purchase)).unwrap();
    assert_eq!(facts.hostname, "MacBook-Air-de-Alice");
    assert_eq!(facts.chassis, ChassisKind::Laptop);
    assert_eq!(
        (facts.model.as_deref(), facts.serial_number.as_deref()),
        (Some("MacBookAir10,1"), Some("FVFDX0XXQ6L4"))
    );
    assert_eq!(
        (facts.cpu_model.as_deref(), facts.cpu_logical_cores),
        (Some("Apple M1"), Some(8))
    );
    assert_eq!(facts.memory_bytes, Some(8 << 30));
    assert_eq!(
        (facts.os_name.as_deref(), facts.os_version.as_deref()),
        (Some("macOS"), Some("14.4.1"))
    );
    assert_eq!(facts.disks.len(), 1, "two volumes on one drive");
    assert_eq!(facts.disks[0].technology, DiskTechnology::Ssd);
    let battery = facts.battery.unwrap();
    assert_eq!(
        (battery.cycle_count, battery.health_percent()),
        (Some(512), Some(83.0))
    );
    assert_eq!(
        facts.age.unwrap().provenance,
        AgeProvenance::ConfiguredPurchaseDate
    );
}

#[test]
fn a_windows_laptop_from_wmi_in_windows_powershell_5() {
    use sobrio_agent::probe::inventory::DiskCondition;
    let json = std::fs::read_to_string(fixture("windows/wmi-laptop-ps51.json")).unwrap();
    let facts = sobrio_agent::probe::inventory::wmi::parse(&json, None).unwrap();
    assert_eq!(facts.hostname, "FIN-LT-0042");
    assert_eq!(
        (facts.vendor.as_deref(), facts.model.as_deref()),
        (Some("LENOVO"), Some("20QDCTO1WW"))
    );
    // The machine-type code's family, which names the model.
    assert_eq!(
        facts.model_family.as_deref(),
        Some("ThinkPad X1 Carbon 7th")
    );
    assert_eq!(
        facts.chassis,
        ChassisKind::Laptop,
        "chassis type 10: notebook"
    );
    assert_eq!(
        facts.memory_bytes,
        Some(16_908_288_000),
        "a 64-bit count as a string"
    );
    assert_eq!(
        (facts.cpu_physical_cores, facts.cpu_logical_cores),
        (Some(4), Some(8))
    );
    let age = facts.age.unwrap();
    assert_eq!(
        (age.provenance, age.since),
        (AgeProvenance::BiosDate, jiff::civil::date(2020, 6, 12))
    );
    let battery = facts.battery.unwrap();
    assert_eq!(battery.cycle_count, Some(412));
    let health = battery.health_percent().unwrap();
    assert!(
        (health - 65.0).abs() < 0.1,
        "33,150 of 51,000 mWh: {health}"
    );
    assert_eq!(facts.disks.len(), 1);
    let disk = &facts.disks[0];
    assert_eq!(
        (disk.technology, disk.condition, disk.power_on_hours),
        (DiskTechnology::Nvme, DiskCondition::Ok, Some(9873))
    );
    assert_eq!(facts.os_name.as_deref(), Some("Microsoft Windows 11 Pro"));
}

#[test]
fn a_windows_desktop_from_wmi_in_powershell_7() {
    use sobrio_agent::probe::inventory::DiskCondition;
    let json = std::fs::read_to_string(fixture("windows/wmi-desktop-ps7.json")).unwrap();
    let facts = sobrio_agent::probe::inventory::wmi::parse(&json, None).unwrap();
    assert_eq!(
        facts.chassis,
        ChassisKind::Desktop,
        "one chassis type, not an array"
    );
    assert_eq!(facts.battery, None, "no battery instances");
    assert_eq!(
        facts.cpu_physical_cores,
        Some(6),
        "one processor as an object"
    );
    assert_eq!(
        facts.age.unwrap().since,
        jiff::civil::date(2018, 9, 26),
        "the ISO date as written"
    );
    let kinds: Vec<_> = facts
        .disks
        .iter()
        .map(|d| (d.technology, d.condition, d.power_on_hours))
        .collect();
    assert_eq!(
        kinds,
        vec![
            (DiskTechnology::Hdd, DiskCondition::Warning, Some(31_250)),
            (DiskTechnology::Ssd, DiskCondition::Ok, None),
        ],
        "enumerations by name and by code"
    );
    // Without a BIOS date the OS install date (CIM datetime) gives the age.
    let without_bios = json.replace("\"2018-09-26T02:00:00+02:00\"", "null");
    let facts = sobrio_agent::probe::inventory::wmi::parse(&without_bios, None).unwrap();
    let age = facts.age.unwrap();
    assert_eq!(
        (age.provenance, age.since),
        (AgeProvenance::OsInstallDate, jiff::civil::date(2019, 1, 14))
    );
}

#[test]
fn camera_and_microphone_use_from_a_windows_consent_store_export() {
    use sobrio_agent::probe::calls::consent::{self, CaptureUse, Device};
    let bytes = std::fs::read(fixture("windows/consent-store.reg")).unwrap();
    assert_eq!(&bytes[..2], b"\xff\xfe", "reg export writes UTF-16LE");
    let uses = consent::parse_export(&consent::decode_export(&bytes));
    let t0 = 1_795_860_000_000;
    assert_eq!(
        uses,
        vec![
            CaptureUse {
                device: Device::Camera,
                application: "microsoftteams".into(),
                started_unix_ms: t0,
                stopped_unix_ms: Some(t0 + 45 * 60_000),
            },
            CaptureUse {
                device: Device::Camera,
                application: "zoom".into(),
                started_unix_ms: t0 + 3 * 3_600_000,
                stopped_unix_ms: None,
            },
            CaptureUse {
                device: Device::Microphone,
                application: "msedge".into(),
                started_unix_ms: t0 + 3_600_000,
                stopped_unix_ms: Some(t0 + 3_600_000 + 30 * 60_000),
            },
        ],
        "never-used entries and other capabilities (location) are skipped"
    );
    assert_eq!(consent::holders(&uses), vec!["zoom".to_owned()]);
    let applications: Vec<String> = sobrio_agent::probe::calls::DEFAULT_APPLICATIONS
        .map(String::from)
        .to_vec();
    let signals = sobrio_agent::probe::calls::from_consent_store(&uses, &applications);
    assert!(
        signals.application_running && signals.in_call(),
        "Zoom holds the camera: a call"
    );
    let ended: Vec<CaptureUse> = uses.iter().filter(|u| !u.in_use()).cloned().collect();
    assert!(!sobrio_agent::probe::calls::from_consent_store(&ended, &applications).in_call());
    let text = format!("{uses:?}");
    assert!(
        !text.contains("Program Files") && !text.contains('#'),
        "no path kept: {text}"
    );
}
