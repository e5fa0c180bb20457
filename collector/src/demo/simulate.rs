//! Simulated agents' reports: one `sobrio.v1.Report` per device and day,
//! deterministic from the fleet's seed, so a rerun resends the same reports
//! (stored once) and adds only the days that passed.
//!
//! The simulated fleet lives in UTC; working hours are the policy's default
//! (09:00–18:00, Monday to Friday).

use jiff::ToSpan;
use jiff::civil::{Date, Weekday};
use sobrio_proto::v1::{
    ActivitySource, AgeEstimate, AgeSource, AgentHealth, Battery, CategoryTotals, Chassis,
    Confidence, DigitalLoad, Disk, DiskHealth, DiskKind, DuplicateTotals, Inventory,
    NotificationsByCategory, PersonDay, ReclaimableStorage, Report, Storage, Usage, UsageHour,
    Volume,
};

use super::fleet::{Category, DeviceSpec, Profile};

/// A small, fast, deterministic generator (SplitMix64). Simulation only:
/// nothing secret comes from it.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// A generator for one (seed, device, day) triple.
    pub fn for_key(seed: u64, a: u64, b: u64) -> Self {
        let mut rng = Self(
            seed ^ a.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ b.wrapping_mul(0xC2B2_AE3D_27D4_EB4F),
        );
        rng.next_u64();
        rng
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    #[allow(clippy::cast_precision_loss)]
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1_u64 << 53) as f64
    }

    /// Uniform in [0, n).
    #[allow(clippy::cast_possible_truncation)]
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// Uniform integer in [low, high].
    #[allow(clippy::cast_possible_truncation, clippy::cast_possible_wrap)]
    pub fn between(&mut self, low: i32, high: i32) -> i32 {
        low + (self.next_u64() % u64::from((high - low + 1).unsigned_abs())) as i32
    }
}

const HOUR_MS: i64 = 3_600_000;
const WORK_START_HOUR: i64 = 9;
const WORK_END_HOUR: i64 = 18;

fn is_working_day(day: Date) -> bool {
    !matches!(day.weekday(), Weekday::Saturday | Weekday::Sunday)
}

fn midnight_ms(day: Date) -> i64 {
    day.to_zoned(jiff::tz::TimeZone::UTC)
        .map_or(0, |midnight| midnight.timestamp().as_millisecond())
}

/// One simulated hour.
struct Hour {
    hour: i64,
    active: i32,
}

/// Which hours a device is on and how active, for one day.
fn day_activity(device: &DeviceSpec, rng: &mut SplitMix64, day: Date) -> Vec<Hour> {
    let working = is_working_day(day);
    let mut hours = Vec::new();
    let mut span = |from: i64, to: i64, low: i32, high: i32, rng: &mut SplitMix64| {
        for hour in from..to {
            hours.push(Hour {
                hour,
                active: rng.between(low, high),
            });
        }
    };
    let away = rng.next_f64() < 0.08; // leave, sickness, travel
    match device.profile {
        _ if away && device.person.is_some() => {}
        Profile::Office | Profile::Heavy if working => {
            let start = 8 + i64::from(rng.between(0, 1));
            let end = if device.profile == Profile::Heavy {
                19
            } else {
                17 + i64::from(rng.between(0, 1))
            };
            let (low, high) = if device.profile == Profile::Heavy {
                (40, 60)
            } else {
                (25, 55)
            };
            span(start, 12, low, high, rng);
            span(12, 13, 0, 20, rng);
            span(13, end, low, high, rng);
            if rng.next_f64() < 0.15 {
                let evening = 20 + i64::from(rng.between(0, 2));
                span(evening, evening + 1, 15, 45, rng);
            }
        }
        Profile::Light if working => {
            let start = 9 + i64::from(rng.between(0, 4));
            span(start, start + 3, 10, 40, rng);
        }
        Profile::Shared if working => {
            span(8, 18, 0, 10, rng);
            for _ in 0..rng.between(2, 5) {
                let hour = 9 + i64::from(rng.between(0, 8));
                if let Some(h) = hours.iter_mut().find(|h| h.hour == hour) {
                    h.active = rng.between(20, 55);
                }
            }
        }
        Profile::Idle if rng.next_f64() < 0.1 => {
            let start = 10 + i64::from(rng.between(0, 5));
            span(start, start + 1, 5, 25, rng);
        }
        Profile::Office | Profile::Heavy if rng.next_f64() < 0.06 => {
            span(15, 16 + i64::from(rng.between(0, 1)), 20, 50, rng);
        }
        _ => {}
    }
    hours
}

fn chassis(category: Category) -> Chassis {
    match category {
        Category::Laptop => Chassis::Laptop,
        Category::Desktop => Chassis::Desktop,
        Category::AllInOne => Chassis::AllInOne,
        Category::Tablet => Chassis::Tablet,
        Category::MiniPc => Chassis::MiniPc,
    }
}

fn inventory(device: &DeviceSpec, index: usize, rng: &mut SplitMix64) -> Inventory {
    let purchase = device
        .purchase_date()
        .unwrap_or(jiff::civil::date(2020, 1, 1));
    let bios = purchase.saturating_sub(60.days());
    let configured = index.is_multiple_of(3);
    let gib = 1_i64 << 30;
    let battery = device.battery_health.map(|health| {
        let design = 56_000;
        #[allow(clippy::cast_possible_truncation)]
        Battery {
            design_capacity_mwh: Some(design),
            full_capacity_mwh: Some((design as f64 * health) as i64),
            design_capacity_mah: None,
            full_capacity_mah: None,
            cycle_count: Some(rng.between(100, 900)),
            reported_health_percent: None,
        }
    });
    Inventory {
        hostname: device.hostname.clone(),
        vendor: Some(device.vendor.clone()),
        model: Some(device.model.clone()),
        model_family: device.family.clone(),
        serial_number: Some(format!(
            "SN{:08X}",
            (index as u64).wrapping_mul(2_654_435_761) & 0xFFFF_FFFF
        )),
        chassis: chassis(device.category) as i32,
        cpu_model: Some(match device.logical_cores {
            0..=4 => "Intel(R) Core(TM) i5-7500".into(),
            5..=8 => "Intel(R) Core(TM) i5-10310U".into(),
            _ => "AMD Ryzen 7 PRO 7840U".into(),
        }),
        cpu_physical_cores: i32::try_from(device.logical_cores / 2)
            .ok()
            .map(|c| c.max(1)),
        cpu_logical_cores: i32::try_from(device.logical_cores).ok(),
        memory_bytes: Some(i64::from(device.memory_gb) * gib),
        disks: vec![Disk {
            kind: DiskKind::Nvme as i32,
            size_bytes: i64::from(device.storage_gb) * 1_000_000_000,
            model: None,
            health: DiskHealth::Unknown as i32,
            power_on_hours: None,
        }],
        os_name: Some(if index.is_multiple_of(5) {
            "Ubuntu".into()
        } else {
            "Debian GNU/Linux".into()
        }),
        os_version: Some(if index.is_multiple_of(5) {
            "24.04".into()
        } else {
            "12".into()
        }),
        kernel_version: Some("6.1.0-27-amd64".into()),
        bios_vendor: Some(device.vendor.clone()),
        bios_version: Some("1.14.2".into()),
        bios_date: Some(bios.to_string()),
        age: Some(AgeEstimate {
            since_date: if configured {
                purchase.to_string()
            } else {
                bios.to_string()
            },
            source: if configured {
                AgeSource::ConfiguredPurchaseDate
            } else {
                AgeSource::BiosDate
            } as i32,
            confidence: if configured {
                Confidence::High
            } else {
                Confidence::Medium
            } as i32,
        }),
        battery,
    }
}

fn storage(device: &DeviceSpec, fill: f32, rng: &mut SplitMix64, scanned_unix_ms: i64) -> Storage {
    let total = i64::from(device.storage_gb) * 1_000_000_000;
    #[allow(clippy::cast_possible_truncation)]
    let used = (total as f64 * f64::from(fill) / 100.0) as i64;
    let mut category = |max_files: i32, max_mb: i32| CategoryTotals {
        files: i64::from(rng.between(0, max_files)),
        bytes: i64::from(rng.between(0, max_mb)) * 1_000_000,
    };
    Storage {
        volumes: vec![Volume {
            mount_point: "/".into(),
            filesystem: "ext4".into(),
            total_bytes: total,
            used_bytes: used,
            removable: false,
        }],
        reclaimable: Some(ReclaimableStorage {
            scanned_unix_ms,
            temp: Some(category(3_000, 2_000)),
            cache: Some(category(20_000, 6_000)),
            trash: Some(category(500, 3_000)),
            stale: Some(category(20, 15_000)),
            mail_archives: Some(category(5, 8_000)),
            old_downloads: Some(category(400, 5_000)),
            duplicates: Some(DuplicateTotals {
                groups: i64::from(rng.between(10, 900)),
                files: i64::from(rng.between(30, 2_500)),
                reclaimable_bytes: i64::from(rng.between(50, 12_000)) * 1_000_000,
            }),
        }),
    }
}

/// Meeting minutes a person of `department` has on a working day.
fn meeting_minutes(department: &str, rng: &mut SplitMix64) -> i32 {
    match department {
        "Direction" => rng.between(180, 390),
        "Human Resources" | "Sales" => rng.between(90, 270),
        "Marketing" => rng.between(60, 210),
        _ => rng.between(15, 150),
    }
}

fn person_day(
    device: &DeviceSpec,
    person_id: &str,
    day: Date,
    hours: &[Hour],
    rng: &mut SplitMix64,
) -> Option<PersonDay> {
    let working = is_working_day(day);
    let active: i32 = hours.iter().map(|h| h.active).sum();
    let outside: i32 = hours
        .iter()
        .filter(|h| !(WORK_START_HOUR..WORK_END_HOUR).contains(&h.hour))
        .map(|h| h.active)
        .sum();
    if !working && active == 0 {
        return None;
    }
    let present = working && active > 0;
    let meetings = if present {
        meeting_minutes(&device.department, rng)
    } else {
        0
    };
    let count = (meetings + 30) / 45;
    let free = 540 - meetings;
    let focus = if present && free >= 120 {
        #[allow(clippy::cast_possible_truncation)]
        let focus = (f64::from(free) * (0.35 + 0.45 * rng.next_f64())) as i32 / 15 * 15;
        if focus >= 120 { focus } else { 0 }
    } else {
        0
    };
    let notifications = if active > 0 { rng.between(15, 140) } else { 0 };
    let chat = notifications * rng.between(30, 60) / 100;
    let mail = notifications * rng.between(20, 40) / 100;
    let calendar = (notifications - chat - mail).min(count * 2).max(0);
    let after_hours_notifications = if active > 0 {
        rng.between(0, notifications / 6)
    } else {
        0
    };
    let after_hours_meetings = if present && rng.next_f64() < 0.1 {
        rng.between(15, 60)
    } else {
        0
    };
    Some(PersonDay {
        person_id: person_id.to_owned(),
        date: day.to_string(),
        meeting_minutes: Some(meetings),
        meeting_count: Some(count),
        conflicting_minutes: Some(if meetings > 200 && rng.next_f64() < 0.4 {
            rng.between(15, 45)
        } else {
            0
        }),
        back_to_back_count: Some(count / 3),
        after_hours_meeting_minutes: Some(after_hours_meetings),
        call_minutes: Some(meetings * rng.between(40, 80) / 100),
        notifications_total: Some(notifications),
        notifications_after_hours: Some(after_hours_notifications),
        notifications_by_category: Some(NotificationsByCategory {
            chat,
            mail,
            calendar,
            other: notifications - chat - mail - calendar,
        }),
        focus_minutes: working.then_some(focus),
        active_minutes: Some(active),
        after_hours_active_minutes: Some(if working { outside } else { 0 }),
        weekend_active_minutes: Some(if working { 0 } else { active }),
    })
}

/// The report a simulated agent sends for `day`. `day_number` counts days
/// since the start of the simulated history; inventory and storage go weekly.
pub fn day_report(
    device: &DeviceSpec,
    index: usize,
    seed: u64,
    day: Date,
    day_number: u32,
    person_id: Option<&str>,
) -> Report {
    let day_key = u64::try_from(midnight_ms(day) / 86_400_000).unwrap_or(0);
    let mut rng = SplitMix64::for_key(seed, index as u64, day_key);
    let hours = day_activity(device, &mut rng, day);
    let start = midnight_ms(day);
    let collected_unix_ms = start + 24 * HOUR_MS - 60_000;

    // Memory pressure follows the memory installed and the work done.
    let memory_base: f32 = match device.memory_gb {
        0..=8 => 78.0,
        9..=16 => 55.0,
        _ => 38.0,
    } + if device.profile == Profile::Heavy {
        14.0
    } else {
        0.0
    };
    let cpu_base: f32 = if device.profile == Profile::Heavy {
        70.0
    } else {
        30.0
    };
    #[allow(clippy::cast_precision_loss)]
    let fill = (35.0 + (index % 9) as f32 * 6.5 + day_number as f32 * 0.05).min(97.0);
    #[allow(clippy::cast_possible_truncation)]
    let usage_hours = hours
        .iter()
        .map(|h| {
            let load = h.active as f32 / 60.0;
            UsageHour {
                hour_start_unix_ms: start + h.hour * HOUR_MS,
                powered_minutes: 60,
                active_minutes: Some(h.active),
                cpu_p95_percent: Some(
                    (cpu_base * (0.4 + load) + rng.next_f64() as f32 * 20.0).min(100.0),
                ),
                memory_p95_percent: Some((memory_base + rng.next_f64() as f32 * 12.0).min(100.0)),
                disk_fill_percent: Some(fill),
                activity_source: ActivitySource::Simulated as i32,
            }
        })
        .collect();

    let weekly = day_number.is_multiple_of(7);
    let digital_load = person_id
        .filter(|_| device.profile != Profile::Idle)
        .and_then(|person| person_day(device, person, day, &hours, &mut rng))
        .map(|row| DigitalLoad {
            days: vec![row],
            links: Vec::new(),
        });

    let mut id_bytes = [0_u8; 10];
    id_bytes[..8].copy_from_slice(&rng.next_u64().to_be_bytes());
    id_bytes[8..].copy_from_slice(&rng.next_u64().to_be_bytes()[..2]);
    let report_id = uuid::Builder::from_unix_timestamp_millis(
        u64::try_from(collected_unix_ms).unwrap_or(0),
        &id_bytes,
    )
    .into_uuid();

    Report {
        report_id: report_id.to_string(),
        collected_unix_ms,
        agent_version: format!("{}-demo", env!("CARGO_PKG_VERSION")),
        policy_version: 0,
        inventory: weekly.then(|| inventory(device, index, &mut rng)),
        usage: Some(Usage { hours: usage_hours }),
        storage: weekly.then(|| storage(device, fill, &mut rng, collected_unix_ms - HOUR_MS)),
        digital_load,
        agent_health: Some(AgentHealth {
            spool_depth: Some(0),
            spool_bytes: Some(0),
            reports_dropped: Some(0),
            rss_bytes: Some(i64::from(rng.between(6_000, 9_500)) * 1024),
            cpu_time_ms: Some(i64::from(rng.between(800, 4_000))),
            uptime_secs: Some(i64::try_from(hours.len()).unwrap_or(0) * 3600),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::demo::fleet::generated_fleet;
    use crate::ingest::validate_report;

    #[test]
    fn simulated_reports_are_valid_and_deterministic() {
        let today = jiff::civil::date(2026, 11, 29);
        let fleet = generated_fleet(7, today);
        let person = "ab".repeat(32);
        let now = midnight_ms(today);
        for (index, device) in fleet.devices.iter().enumerate().take(60) {
            for day_number in 0..14 {
                let day = today.saturating_sub((14 - i64::from(day_number)).days());
                let report = day_report(device, index, 7, day, day_number, Some(&person));
                validate_report(&report, now)
                    .unwrap_or_else(|e| panic!("{}: {e:?}", device.hostname));
                assert_eq!(
                    report,
                    day_report(device, index, 7, day, day_number, Some(&person))
                );
            }
        }
    }
}
