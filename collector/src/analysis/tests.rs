//! Hand-built fleets whose right suggestions are known, asserted one by
//! one with their kgCO2e; and properties of random fleets.

use std::collections::{BTreeMap, HashMap, HashSet};

use jiff::civil::date;
use proptest::prelude::*;

use super::*;
use crate::working_hours::WorkingHours;

const GB: i64 = 1 << 30;
const HOUR: i64 = 3_600_000;
/// Monday 2026-11-02 00:00 UTC to Monday 2026-11-30: four weeks.
const WINDOW: (i64, i64) = (1_793_577_600_000, 1_795_996_800_000);

fn laptop(id: &str, department: &str, active_per_week: f64, years: i16) -> DeviceFacts {
    DeviceFacts {
        device_id: id.into(),
        hostname: id.to_uppercase(),
        department: department.into(),
        category: "laptop".into(),
        memory_bytes: Some(16 * GB),
        logical_cores: Some(8),
        disk_bytes: Some(512 * GB),
        age: Some(Age {
            since: date(2026 - years, 6, 1),
            provenance: "asset_register".into(),
        }),
        price_eur: None,
        battery_health_percent: Some(92.0),
        battery_cycles: Some(150),
        disk_health: Some("ok".into()),
        usage: Use {
            weeks: 4,
            powered_hours: 4.0 * 45.0,
            active_hours: 4.0 * active_per_week,
            cpu_hot_hours: 0.0,
            memory_hot_hours: 0.0,
            disk_fill_max_percent: Some(55.0),
        },
        persons: Vec::new(),
        reclaimable: None,
        ..DeviceFacts::default()
    }
}

/// `active` devices busy in every working hour (09:00–18:00 UTC, Monday to
/// Friday) of the window.
fn busy_hours(active: i64) -> Vec<(i64, i64)> {
    let mut hours = Vec::new();
    let mut at = WINDOW.0;
    while at < WINDOW.1 {
        let day = (at / (24 * HOUR) + 3) % 7; // 0 = Monday
        let hour = at / HOUR % 24;
        if day < 5 && (9..18).contains(&hour) {
            hours.push((at, active));
        }
        at += HOUR;
    }
    hours
}

/// A department rollup's key.
fn key(department: &str, category: &str) -> (String, String) {
    (department.to_owned(), category.to_owned())
}

fn run(input: &AnalysisInput, config: &AnalysisSettings) -> Vec<Suggestion> {
    let working = |_: &str| WorkingHours::default();
    let embodied = Embodied::built_in();
    analyze(
        input,
        &Context {
            config,
            embodied: &embodied,
            today: date(2026, 11, 29),
            working_hours: &working,
            time_zone: jiff::tz::TimeZone::UTC,
        },
    )
}

/// Sales: 10 laptops, at most 6 in use at once. Finance: a 7-year-old
/// desktop (lifetime 6). Legal: an idle desktop that fits it. Operations: an
/// old healthy 32 GB laptop and an old one with a worn battery, which no
/// 16 GB donor fits.
fn fleet() -> AnalysisInput {
    let mut devices: Vec<DeviceFacts> = [30.0, 28.0, 26.0, 24.0, 22.0, 20.0, 12.0, 8.0, 6.0, 5.5]
        .iter()
        .enumerate()
        .map(|(i, active)| laptop(&format!("sales-{i}"), "Sales", *active, 2))
        .collect();
    let mut old_desktop = laptop("finance-0", "Finance", 25.0, 7);
    old_desktop.category = "desktop".into();
    old_desktop.battery_health_percent = None;
    old_desktop.memory_bytes = Some(8 * GB);
    old_desktop.logical_cores = Some(4);
    old_desktop.disk_bytes = Some(256 * GB);
    old_desktop.price_eur = Some(950.0);
    devices.push(old_desktop);
    let mut idle_desktop = laptop("legal-0", "Legal", 1.0, 3);
    idle_desktop.category = "tower".into();
    idle_desktop.battery_health_percent = None;
    devices.push(idle_desktop);
    let mut old = laptop("ops-0", "Operations", 30.0, 7);
    old.memory_bytes = Some(32 * GB);
    devices.push(old);
    let mut worn = laptop("ops-1", "Operations", 30.0, 6);
    worn.memory_bytes = Some(32 * GB);
    worn.battery_health_percent = Some(55.0);
    worn.battery_cycles = Some(412);
    devices.push(worn);
    AnalysisInput {
        devices,
        department_hours: HashMap::from([
            (key("Sales", "laptop"), busy_hours(6)),
            (key("Finance", "desktop"), busy_hours(1)),
            (key("Operations", "laptop"), busy_hours(2)),
        ]),
        requests: Vec::new(),
        window: WINDOW,
        reserved: HashSet::new(),
    }
}

fn find<'a>(suggestions: &'a [Suggestion], kind: Kind, device: &str) -> &'a Suggestion {
    suggestions
        .iter()
        .find(|s| s.kind == kind && s.devices.iter().any(|d| d == device))
        .unwrap_or_else(|| panic!("no {kind:?} suggestion for {device}: {suggestions:#?}"))
}

#[test]
fn a_department_using_6_of_10_laptops_pools_its_4_least_used() {
    let suggestions = run(&fleet(), &AnalysisSettings::default());
    let pool = find(&suggestions, Kind::Pool, "sales-9");
    assert_eq!(pool.departments, ["Sales"]);
    assert_eq!(pool.devices, ["sales-9", "sales-8", "sales-7", "sales-6"]);
    assert!(
        pool.rationale.contains("at most 6 of its 10 laptops"),
        "{}",
        pool.rationale
    );
    // Four laptops not bought: 4 × 182.6 kgCO2e (175–282 each).
    assert_eq!(
        (
            pool.avoided_kgco2e.value,
            pool.avoided_kgco2e.low,
            pool.avoided_kgco2e.high
        ),
        (730.4, 700.0, 1128.0)
    );
    assert_eq!(pool.avoided_cost_eur, Some(4.0 * 1100.0));
    assert!(pool.avoided_kgco2e.source.contains("ADEME"));
}

#[test]
fn an_idle_desktop_in_legal_replaces_finance_s_old_one() {
    let suggestions = run(&fleet(), &AnalysisSettings::default());
    let reuse = find(&suggestions, Kind::Reuse, "finance-0");
    assert_eq!(reuse.devices, ["legal-0", "finance-0"]);
    assert_eq!(reuse.departments, ["Finance", "Legal"]);
    // A desktop not bought: 204.4 kgCO2e (202.6–328), at the register's price.
    assert_eq!(
        (
            reuse.avoided_kgco2e.value,
            reuse.avoided_kgco2e.low,
            reuse.avoided_kgco2e.high
        ),
        (204.4, 202.6, 328.0)
    );
    assert_eq!(reuse.avoided_cost_eur, Some(950.0));
    assert!(
        reuse.rationale.contains("16 GB ≥ 8 GB"),
        "{}",
        reuse.rationale
    );
}

#[test]
fn an_old_healthy_laptop_is_kept_two_more_years() {
    let suggestions = run(&fleet(), &AnalysisSettings::default());
    let extend = find(&suggestions, Kind::Extend, "ops-0");
    // 182.6/5 − 182.6/7 = 10.43 a year (175/5 − 175/7 = 10.0; 282/5 − 282/7 = 16.11).
    assert_eq!(
        (
            extend.avoided_kgco2e.value,
            extend.avoided_kgco2e.low,
            extend.avoided_kgco2e.high
        ),
        (10.4, 10.0, 16.1)
    );
    assert!(
        extend.rationale.contains("past the 5-year lifetime"),
        "{}",
        extend.rationale
    );
}

#[test]
fn an_old_laptop_with_a_worn_battery_gets_a_new_battery() {
    let suggestions = run(&fleet(), &AnalysisSettings::default());
    let repair = find(&suggestions, Kind::Repair, "ops-1");
    assert!(repair.rationale.contains("55%"), "{}", repair.rationale);
    assert!(
        repair.rationale.contains("412 cycles"),
        "{}",
        repair.rationale
    );
    assert!(
        repair.rationale.contains("Replace the battery"),
        "{}",
        repair.rationale
    );
    assert_eq!(
        (
            repair.avoided_kgco2e.value,
            repair.avoided_kgco2e.low,
            repair.avoided_kgco2e.high
        ),
        (182.6, 175.0, 282.0)
    );
}

#[test]
fn a_request_is_fulfilled_by_a_fitting_donor_only() {
    let mut input = fleet();
    input.requests.push(DeviceRequest {
        id: 7,
        department: "Finance".into(),
        category: "laptop".into(),
        quantity: 2,
        min_memory_bytes: Some(16 * GB),
        min_logical_cores: None,
        min_storage_bytes: None,
    });
    input.requests.push(DeviceRequest {
        id: 8,
        department: "Research".into(),
        category: "laptop".into(),
        quantity: 1,
        min_memory_bytes: Some(64 * GB),
        min_logical_cores: None,
        min_storage_bytes: None,
    });
    let suggestions = run(&input, &AnalysisSettings::default());
    let fulfilled: Vec<_> = suggestions
        .iter()
        .filter_map(|s| s.reuse.as_ref()?.request)
        .collect();
    assert_eq!(
        fulfilled.len(),
        2,
        "two laptops for request 7, none has 64 GB"
    );
    assert!(fulfilled.iter().all(|(id, _)| *id == 7));
    // Sales' spare laptops went to Finance first; two remain for the pool.
    let pool = suggestions.iter().find(|s| s.kind == Kind::Pool).unwrap();
    assert_eq!(pool.devices.len(), 2);
}

/// Sales' 10 laptops are busy as before; beside them, 8 desktops of which
/// at most 7 are in use at once. The laptops' spare count cannot hide in
/// the desktops' (or the other way round): two pools, each naming its
/// category, desktops as shared desks.
#[test]
fn laptops_and_desktops_of_a_department_are_pooled_apart() {
    let mut input = fleet();
    // No desktop to replace elsewhere: the spare desktops stay in Sales.
    input.devices.retain(|d| d.department != "Finance");
    for i in 0..8 {
        let mut desktop = laptop(&format!("sales-desk-{i}"), "Sales", 20.0 - f64::from(i), 3);
        desktop.category = "desktop".into();
        desktop.battery_health_percent = None;
        input.devices.push(desktop);
    }
    input
        .department_hours
        .insert(key("Sales", "desktop"), busy_hours(7));
    let suggestions = run(&input, &AnalysisSettings::default());
    let laptops = find(&suggestions, Kind::Pool, "sales-9");
    assert_eq!(
        laptops.devices,
        ["sales-9", "sales-8", "sales-7", "sales-6"]
    );
    assert!(
        laptops.rationale.contains("at most 6 of its 10 laptops")
            && laptops.rationale.contains("shared pool"),
        "{}",
        laptops.rationale
    );
    let desks = find(&suggestions, Kind::Pool, "sales-desk-7");
    assert_eq!(desks.devices, ["sales-desk-7"]);
    assert!(
        desks.rationale.contains("at most 7 of its 8 desktops")
            && desks.rationale.contains("shared desks"),
        "{}",
        desks.rationale
    );
    assert_ne!(laptops.id, desks.id);
    // Counted together, 18 devices at most 13 in use at once would have
    // freed 5 of either kind.
    assert_eq!(
        suggestions
            .iter()
            .filter(|s| s.kind == Kind::Pool && s.departments == ["Sales"])
            .count(),
        2
    );
}

#[test]
fn a_memory_bound_laptop_is_upgraded_and_storage_is_summed_per_department() {
    let mut input = fleet();
    let mut bound = laptop("hr-0", "HR", 30.0, 2);
    bound.memory_bytes = Some(8 * GB);
    bound.usage.memory_hot_hours = 0.3 * bound.usage.active_hours;
    bound.reclaimable = Some(Reclaimable {
        duplicates: 3 * GB,
        cache: GB,
        ..Reclaimable::default()
    });
    input.devices.push(bound);
    let suggestions = run(&input, &AnalysisSettings::default());
    let upgrade = find(&suggestions, Kind::Upgrade, "hr-0");
    assert!(
        upgrade.rationale.contains("30% of active hours with 8 GB"),
        "{}",
        upgrade.rationale
    );
    let storage = suggestions
        .iter()
        .find(|s| s.kind == Kind::Storage)
        .unwrap();
    assert_eq!(storage.departments, ["HR"]);
    assert!(
        storage.rationale.contains("4.0 GB reclaimable"),
        "{}",
        storage.rationale
    );
    assert!(
        storage
            .rationale
            .contains("duplicates 3.0 GB, caches 1.0 GB")
    );
}

#[test]
fn ids_are_stable_and_thresholds_are_configurable() {
    let first = run(&fleet(), &AnalysisSettings::default());
    let again = run(&fleet(), &AnalysisSettings::default());
    assert_eq!(first, again);
    let strict = AnalysisSettings {
        worn_battery_percent: 50.0,
        ..AnalysisSettings::default()
    };
    let suggestions = run(&fleet(), &strict);
    assert_eq!(
        find(&suggestions, Kind::Extend, "ops-1").kind,
        Kind::Extend,
        "55% is not worn below a 50% threshold"
    );
}

#[test]
fn servers_and_virtual_machines_are_never_suggested() {
    let mut input = fleet();
    let mut server = laptop("srv-0", "IT", 0.0, 9);
    server.category = "server".into();
    let mut vm = laptop("vm-0", "IT", 0.0, 9);
    vm.category = "virtual_machine".into();
    input.devices.extend([server, vm]);
    let suggestions = run(&input, &AnalysisSettings::default());
    assert!(
        suggestions
            .iter()
            .all(|s| !s.devices.iter().any(|d| d == "srv-0" || d == "vm-0"))
    );
}

fn random_device() -> impl Strategy<Value = DeviceFacts> {
    (
        0..4_usize,
        0..4_usize,
        prop::sample::select(vec![4_i64, 8, 16, 32]),
        prop::sample::select(vec![2_i64, 4, 8]),
        prop::sample::select(vec![128_i64, 256, 512]),
        0_i16..10,
        0.0..40.0_f64,
        prop::option::of(40.0..100.0_f64),
        0.0..0.5_f64,
        0.0..0.5_f64,
        prop::sample::select(vec!["ok", "ok", "ok", "failing"]),
        prop::option::of(0..3_usize),
    )
        .prop_map(
            |(
                category,
                department,
                memory,
                cores,
                disk,
                years,
                active,
                battery,
                cpu,
                mem,
                health,
                person,
            )| {
                let mut d = laptop("x", "", active, years);
                d.category = ["laptop", "desktop", "all_in_one", "tablet"][category].into();
                d.department = ["Sales", "Finance", "Legal", "HR"][department].into();
                d.memory_bytes = Some(memory * GB);
                d.logical_cores = Some(cores);
                d.disk_bytes = Some(disk * GB);
                d.battery_health_percent = battery;
                d.usage.cpu_hot_hours = cpu * d.usage.active_hours;
                d.usage.memory_hot_hours = mem * d.usage.active_hours;
                d.disk_health = Some(health.into());
                d.persons = person
                    .map(|p| vec![format!("person-{p}")])
                    .unwrap_or_default();
                d
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]
    #[test]
    fn no_device_is_in_two_suggestions_and_every_reuse_fits(
        mut devices in prop::collection::vec(random_device(), 1..40),
        sales_busy in 0..10_i64,
        wants in prop::collection::vec((0..2_usize, prop::sample::select(vec![4_i64, 8, 16, 64]), 1..3_u32), 0..3),
    ) {
        for (i, d) in devices.iter_mut().enumerate() {
            d.device_id = format!("d{i}");
            d.hostname = format!("HOST-{i}");
        }
        let input = AnalysisInput {
            department_hours: HashMap::from([(key("Sales", "laptop"), busy_hours(sales_busy))]),
            requests: wants
                .iter()
                .enumerate()
                .map(|(i, (category, memory, quantity))| DeviceRequest {
                    id: i64::try_from(i).unwrap(),
                    department: "Finance".into(),
                    category: ["laptop", "desktop"][*category].into(),
                    quantity: *quantity,
                    min_memory_bytes: Some(memory * GB),
                    min_logical_cores: Some(2),
                    min_storage_bytes: Some(128 * GB),
                })
                .collect(),
            devices,
            window: WINDOW,
            reserved: HashSet::new(),
        };
        let suggestions = run(&input, &AnalysisSettings::default());
        let mut seen = HashSet::new();
        let mut ids = HashSet::new();
        for s in &suggestions {
            prop_assert!(ids.insert(s.id.clone()), "duplicate id {}", s.id);
            for device in &s.devices {
                prop_assert!(seen.insert(device.clone()), "{} in two suggestions", device);
            }
        }
        let by_id: BTreeMap<&str, &DeviceFacts> =
            input.devices.iter().map(|d| (d.device_id.as_str(), d)).collect();
        for s in suggestions.iter().filter(|s| s.kind == Kind::Reuse) {
            let reuse = s.reuse.as_ref().unwrap();
            let donor = by_id[reuse.donor.as_str()];
            let (category, memory, cores, disk) = match (&reuse.replaces, reuse.request) {
                (Some(replaced), _) => {
                    let r = by_id[replaced.as_str()];
                    (r.category.clone(), r.memory_bytes, r.logical_cores, r.disk_bytes)
                }
                (None, Some((id, _))) => {
                    let r = &input.requests[usize::try_from(id).unwrap()];
                    (r.category.clone(), r.min_memory_bytes, r.min_logical_cores, r.min_storage_bytes)
                }
                (None, None) => unreachable!(),
            };
            prop_assert_eq!(
                Category::from_name(&donor.category).map(|c| c.0),
                Category::from_name(&category).map(|c| c.0)
            );
            prop_assert!(donor.memory_bytes >= memory);
            prop_assert!(donor.logical_cores >= cores);
            prop_assert!(donor.disk_bytes >= disk);
        }
    }
}

#[test]
fn a_large_fleet_gives_the_same_suggestions_at_every_run() {
    // A deterministic pseudo-random fleet of 3,000 devices with many ties.
    let mut state = 42_u64;
    let mut next = move |n: u64| {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (state >> 33) % n
    };
    let devices: Vec<DeviceFacts> = (0..3000)
        .map(|i| {
            let mut d = laptop(
                &format!("d{i:05}"),
                ["Sales", "Finance", "Legal", "HR", "IT"][usize::try_from(next(5)).unwrap()],
                f64::from(u32::try_from(next(40)).unwrap()),
                i16::try_from(next(9)).unwrap(),
            );
            d.category =
                ["laptop", "desktop", "all_in_one"][usize::try_from(next(3)).unwrap()].into();
            d.memory_bytes = Some((4 << next(4)) * GB);
            d.logical_cores = Some(2 << next(3));
            d.usage.cpu_hot_hours = f64::from(u32::try_from(next(3)).unwrap()) * 10.0;
            d
        })
        .collect();
    let input = AnalysisInput {
        devices,
        department_hours: HashMap::from([(key("Sales", "laptop"), busy_hours(100))]),
        requests: Vec::new(),
        window: WINDOW,
        reserved: HashSet::new(),
    };
    let first = run(&input, &AnalysisSettings::default());
    for _ in 0..3 {
        assert_eq!(run(&input, &AnalysisSettings::default()), first);
    }
}

#[test]
fn devices_of_an_accepted_suggestion_are_left_out_of_new_ones() {
    let mut input = fleet();
    input.reserved = HashSet::from(["legal-0".to_owned(), "ops-1".to_owned()]);
    let suggestions = run(&input, &AnalysisSettings::default());
    for s in &suggestions {
        assert!(
            !s.devices.iter().any(|d| d == "legal-0" || d == "ops-1"),
            "{s:#?}"
        );
    }
    // Finance's old desktop has no donor left: kept longer instead.
    assert_eq!(
        find(&suggestions, Kind::Extend, "finance-0").kind,
        Kind::Extend
    );
}
