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
        (AgeProvenance::BiosDate, time::macros::date!(2020 - 03 - 12))
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
    assert_eq!(
        facts.age.unwrap().since,
        time::macros::date!(2017 - 07 - 14)
    );
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
    assert!(age.since <= time::OffsetDateTime::now_utc().date());
}

#[test]
fn a_macbook_from_system_profiler() {
    let json = std::fs::read_to_string(fixture("macos-system-profiler.json")).unwrap();
    let purchase = time::macros::date!(2021 - 02 - 01);
    let facts = sobrio_agent::probe::macos::parse(&json, Some(purchase)).unwrap();
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
