//! The encoder: turns the agent's domain values — a snapshot of the
//! probes, the tally of samples and monitors, people's pseudonyms — into a
//! `sobrio.v1` report. The only place that knows both the domain and the
//! wire.

use jiff::civil::Date;
use sobrio_proto::v1::{
    self, ActivitySource, AgentHealth, Battery, Chassis, Confidence, DigitalLoad, Disk, DiskHealth,
    DiskKind, Inventory, NotificationsByCategory, PersonDay, Policy, Report, Storage, Usage,
    UsageHour, Volume,
};

use crate::calendar::day_spans;
use crate::config::LocalSignals;
use crate::day::{DayLoad, day_load};
use crate::load::WeekHours;
use crate::probe::health::OwnHealth;
use crate::probe::inventory::{
    AgeProvenance, ChassisKind, DiskCondition, DiskTechnology, InventoryFacts,
};
use crate::probe::storage::Totals;
use crate::probe::storage::volumes::VolumeFacts;
use crate::pseudonyms::{Pseudonym, PseudonymBook};
use crate::sampler::{Sampler, Snapshot, Volumes};
use crate::tally::{ScanTotals, Tally};

/// The signals in effect: the policy's, minus what local configuration turns
/// off. Before the first policy, every signal the local configuration allows.
pub fn effective_signals(local: LocalSignals, policy: Option<&Policy>) -> LocalSignals {
    let Some(allowed) = policy.and_then(|p| p.signals) else {
        return local;
    };
    LocalSignals {
        inventory: local.inventory && allowed.inventory,
        usage: local.usage && allowed.usage,
        storage: local.storage && allowed.storage,
        calendar: local.calendar && allowed.calendar,
        calls: local.calls && allowed.calls,
        notifications: local.notifications && allowed.notifications,
        activity: local.activity && allowed.activity,
    }
}

/// Collects one report now: a last usage sample into the tally, a snapshot
/// of the probes, then the report the signals allow.
pub async fn collect(
    sampler: &mut Sampler,
    tally: &mut Tally,
    book: &mut PseudonymBook,
    signals: LocalSignals,
    policy: Option<&Policy>,
) -> Report {
    if signals.usage {
        tally.add_sample(&sampler.sample(signals.calls).await);
    }
    let volumes = match (signals.storage, tally.has_reclaimable()) {
        (false, _) => Volumes::Off,
        // A scan's totals go with the volumes they belong to.
        (true, true) => Volumes::Now,
        (true, false) => Volumes::WhenDue,
    };
    let snapshot = sampler.snapshot(signals.inventory, volumes).await;
    let source = if sampler.has_logind() {
        ActivitySource::Logind
    } else {
        ActivitySource::Unspecified
    };
    encode(snapshot, tally, book, source, signals, policy)
}

/// The report of a snapshot and a tally: completed usage hours and days
/// leave the tally as they go in the report.
pub fn encode(
    snapshot: Snapshot,
    tally: &mut Tally,
    book: &mut PseudonymBook,
    activity_source: ActivitySource,
    signals: LocalSignals,
    policy: Option<&Policy>,
) -> Report {
    let now = now_unix_ms();
    let reclaimable = if signals.storage {
        tally.take_reclaimable()
    } else {
        None
    };
    let storage = (snapshot.volumes.is_some() || reclaimable.is_some()).then(|| Storage {
        volumes: snapshot
            .volumes
            .unwrap_or_default()
            .iter()
            .map(volume_message)
            .collect(),
        reclaimable: reclaimable.map(reclaimable_message),
    });
    Report {
        report_id: uuid::Uuid::now_v7().to_string(),
        collected_unix_ms: now,
        agent_version: env!("CARGO_PKG_VERSION").to_owned(),
        policy_version: policy.map_or(0, |p| p.version),
        inventory: snapshot.inventory.as_ref().map(inventory_message),
        usage: signals
            .usage
            .then(|| usage_message(tally, activity_source, now)),
        storage,
        digital_load: if signals.activity {
            digital_load_message(tally, book, policy, signals, now)
        } else {
            None
        },
        agent_health: snapshot.health.map(health_message),
    }
}

/// The usage hours held; completed hours go out whole in this report and
/// leave the tally, the current hour stays and goes again, fuller, in the
/// next.
fn usage_message(tally: &mut Tally, source: ActivitySource, now: i64) -> Usage {
    let hours = tally
        .usage()
        .buckets()
        .into_iter()
        .map(|bucket| UsageHour {
            hour_start_unix_ms: bucket.hour_start_unix_ms,
            powered_minutes: i32::try_from(bucket.powered_minutes).unwrap_or(60),
            active_minutes: bucket.active_minutes.and_then(|m| i32::try_from(m).ok()),
            cpu_p95_percent: bucket.cpu_p95_percent,
            memory_p95_percent: bucket.memory_p95_percent,
            disk_fill_percent: bucket.disk_fill_percent,
            activity_source: source as i32,
        })
        .collect();
    tally.usage_mut().forget_completed(now);
    Usage { hours }
}

/// Each person's completed days under their pseudonym, and links from
/// earlier pseudonyms. Days wait (`None`) while a user's pseudonym is
/// still to be obtained; the days of a user whose pseudonym the
/// collector refused are not reported.
fn digital_load_message(
    tally: &mut Tally,
    book: &mut PseudonymBook,
    policy: Option<&Policy>,
    signals: LocalSignals,
    now: i64,
) -> Option<DigitalLoad> {
    let policy = policy?;
    if tally
        .activity()
        .users()
        .any(|login| book.resolve(policy, login, now) == Pseudonym::Pending)
    {
        return None;
    }
    let hours = week_hours(Some(policy));
    let tz = tally.time_zone().clone();
    let calendars = tally.meetings().clone();
    let has_meetings = |login: &str, day: Date| {
        signals.calendar
            && calendars
                .get(login)
                .is_some_and(|m| !day_spans(&m.meetings, day, &tz).1.is_empty())
    };
    let mut refused = 0_usize;
    let days: Vec<PersonDay> = tally
        .activity_mut()
        .completed_days(now, &hours, &has_meetings)
        .into_iter()
        .filter_map(|day| {
            let Pseudonym::Known(id) = book.resolve(policy, &day.login, now) else {
                refused += 1;
                return None;
            };
            let calendar = calendars.get(&day.login).filter(|_| signals.calendar);
            let mut row = person_day(day_load(&day, calendar, &hours, &tz));
            row.person_id = id;
            if !signals.notifications {
                row.notifications_total = None;
                row.notifications_after_hours = None;
                row.notifications_by_category = None;
            }
            Some(row)
        })
        .collect();
    if refused > 0 {
        tracing::warn!(
            days = refused,
            "days not reported: the collector refused a pseudonym for their user (this device's bound of people is reached)"
        );
    }
    let links = book.links(now);
    (!days.is_empty() || !links.is_empty()).then_some(DigitalLoad { days, links })
}

fn volume_message(volume: &VolumeFacts) -> Volume {
    Volume {
        mount_point: volume.mount_point.clone(),
        filesystem: volume.filesystem.clone(),
        total_bytes: to_i64(volume.total_bytes),
        used_bytes: to_i64(volume.used_bytes),
        removable: volume.removable,
    }
}

fn reclaimable_message(scan: ScanTotals) -> v1::ReclaimableStorage {
    let totals = |t: Totals| v1::CategoryTotals {
        files: to_i64(t.files),
        bytes: to_i64(t.bytes),
    };
    let c = scan.categories;
    v1::ReclaimableStorage {
        scanned_unix_ms: scan.scanned_unix_ms,
        duplicates: Some(v1::DuplicateTotals {
            groups: to_i64(scan.duplicates.groups),
            files: to_i64(scan.duplicates.files),
            reclaimable_bytes: to_i64(scan.duplicates.reclaimable_bytes),
        }),
        temp: Some(totals(c.temp)),
        cache: Some(totals(c.cache)),
        trash: Some(totals(c.trash)),
        stale: Some(totals(c.stale)),
        mail_archives: Some(totals(c.mail_archives)),
        old_downloads: Some(totals(c.old_downloads)),
    }
}

/// The policy's working hours, or the default before a policy.
pub fn week_hours(policy: Option<&Policy>) -> WeekHours {
    policy
        .and_then(|p| p.working_hours.as_ref())
        .map_or_else(WeekHours::default, |h| WeekHours {
            start_minute: h.start_minute,
            end_minute: h.end_minute,
            days: h.days.clone(),
        })
}

/// A person's day as `sobrio.v1` fields (without the person id).
pub fn person_day(day: DayLoad) -> PersonDay {
    PersonDay {
        person_id: String::new(),
        date: day.date.to_string(),
        meeting_minutes: day.meeting_minutes,
        meeting_count: day.meeting_count,
        conflicting_minutes: day.conflicting_minutes,
        back_to_back_count: day.back_to_back_count,
        after_hours_meeting_minutes: day.after_hours_meeting_minutes,
        call_minutes: day.call_minutes,
        notifications_total: day.notifications_total,
        notifications_after_hours: day.notifications_after_hours,
        notifications_by_category: day
            .notifications_by_category
            .map(|n| NotificationsByCategory {
                chat: n.chat,
                mail: n.mail,
                calendar: n.calendar,
                other: n.other,
            }),
        focus_minutes: day.focus_minutes,
        active_minutes: day.active_minutes,
        after_hours_active_minutes: day.after_hours_active_minutes,
        weekend_active_minutes: day.weekend_active_minutes,
    }
}

pub use crate::platform::clock::now_unix_ms;

fn to_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

fn to_i32(value: u32) -> i32 {
    i32::try_from(value).unwrap_or(i32::MAX)
}

fn inventory_message(facts: &InventoryFacts) -> Inventory {
    let chassis = match facts.chassis {
        ChassisKind::Laptop => Chassis::Laptop,
        ChassisKind::Desktop => Chassis::Desktop,
        ChassisKind::AllInOne => Chassis::AllInOne,
        ChassisKind::Tablet => Chassis::Tablet,
        ChassisKind::MiniPc => Chassis::MiniPc,
        ChassisKind::Server => Chassis::Server,
        ChassisKind::VirtualMachine => Chassis::VirtualMachine,
        ChassisKind::Unknown => Chassis::Unknown,
    };
    Inventory {
        hostname: facts.hostname.clone(),
        vendor: facts.vendor.clone(),
        model: facts.model.clone(),
        serial_number: facts.serial_number.clone(),
        chassis: chassis as i32,
        cpu_model: facts.cpu_model.clone(),
        cpu_physical_cores: facts.cpu_physical_cores.map(to_i32),
        cpu_logical_cores: facts.cpu_logical_cores.map(to_i32),
        memory_bytes: facts.memory_bytes.map(to_i64),
        disks: facts
            .disks
            .iter()
            .map(|disk| Disk {
                kind: match disk.technology {
                    DiskTechnology::Nvme => DiskKind::Nvme,
                    DiskTechnology::Ssd => DiskKind::Ssd,
                    DiskTechnology::Hdd => DiskKind::Hdd,
                    DiskTechnology::Unknown => DiskKind::Unknown,
                } as i32,
                size_bytes: to_i64(disk.size_bytes),
                model: disk.model.clone(),
                health: match disk.condition {
                    DiskCondition::Unknown => DiskHealth::Unknown,
                    DiskCondition::Ok => DiskHealth::Ok,
                    DiskCondition::Warning => DiskHealth::Warning,
                    DiskCondition::Failing => DiskHealth::Failing,
                } as i32,
                power_on_hours: disk.power_on_hours.map(to_i64),
            })
            .collect(),
        os_name: facts.os_name.clone(),
        os_version: facts.os_version.clone(),
        kernel_version: facts.kernel_version.clone(),
        bios_vendor: facts.bios_vendor.clone(),
        bios_version: facts.bios_version.clone(),
        bios_date: facts.bios_date.map(iso_date),
        model_family: facts.model_family.clone(),
        age: facts.age.map(|age| {
            let (source, confidence) = match age.provenance {
                AgeProvenance::ConfiguredPurchaseDate => {
                    (v1::AgeSource::ConfiguredPurchaseDate, Confidence::High)
                }
                AgeProvenance::BiosDate => (v1::AgeSource::BiosDate, Confidence::Medium),
                AgeProvenance::OsInstallDate => (v1::AgeSource::OsInstallDate, Confidence::Low),
            };
            v1::AgeEstimate {
                since_date: iso_date(age.since),
                source: source as i32,
                confidence: confidence as i32,
            }
        }),
        battery: facts.battery.map(|b| Battery {
            design_capacity_mwh: b.design_uwh.map(|v| to_i64(v / 1000)),
            full_capacity_mwh: b.full_uwh.map(|v| to_i64(v / 1000)),
            design_capacity_mah: b.design_uah.map(|v| to_i64(v / 1000)),
            full_capacity_mah: b.full_uah.map(|v| to_i64(v / 1000)),
            cycle_count: b.cycle_count.map(to_i32),
            reported_health_percent: b.reported_health_percent.map(f32::from),
        }),
    }
}

/// A date as `YYYY-MM-DD`; a year before 0 is signed (`-0005-01-01`).
fn iso_date(date: Date) -> String {
    let sign = if date.year() < 0 { "-" } else { "" };
    format!(
        "{sign}{:04}-{:02}-{:02}",
        date.year().unsigned_abs(),
        date.month(),
        date.day()
    )
}

fn health_message(health: OwnHealth) -> AgentHealth {
    AgentHealth {
        spool_depth: None,
        spool_bytes: None,
        reports_dropped: None,
        rss_bytes: health.rss_bytes.map(to_i64),
        cpu_time_ms: health.cpu_time_ms.map(to_i64),
        uptime_secs: Some(to_i64(health.uptime_secs)),
    }
}

#[cfg(test)]
mod tests {
    use sobrio_proto::v1::Signals;

    use super::*;

    #[test]
    fn local_configuration_can_turn_a_signal_off_but_never_on() {
        let local = LocalSignals {
            usage: false,
            ..LocalSignals::default()
        };
        let policy = Policy {
            signals: Some(Signals {
                inventory: true,
                usage: true,
                storage: false,
                ..Default::default()
            }),
            ..Default::default()
        };
        let effective = effective_signals(local, Some(&policy));
        assert!(effective.inventory);
        assert!(!effective.usage, "off locally stays off");
        assert!(!effective.storage, "off by policy stays off");
    }

    /// A sampler, tally and pseudonym book of a host under `root`.
    fn agent(root: &std::path::Path) -> (Sampler, Tally, PseudonymBook) {
        (
            Sampler::new(root, None),
            Tally::new(jiff::tz::TimeZone::UTC),
            PseudonymBook::default(),
        )
    }

    #[tokio::test]
    async fn inventory_is_sent_first_then_only_when_it_changes() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("etc")).unwrap();
        std::fs::write(root.path().join("etc/hostname"), "pc-1\n").unwrap();
        let (mut sampler, mut tally, mut book) = agent(root.path());
        let signals = LocalSignals::default();
        let mut report = async || collect(&mut sampler, &mut tally, &mut book, signals, None).await;
        assert!(report().await.inventory.is_some());
        assert!(report().await.inventory.is_none());
        std::fs::write(root.path().join("etc/hostname"), "pc-2\n").unwrap();
        assert_eq!(report().await.inventory.unwrap().hostname, "pc-2");
    }

    #[tokio::test]
    async fn a_complete_scan_goes_once_with_the_volumes_of_the_next_report() {
        let root = tempfile::tempdir().unwrap();
        let (mut sampler, mut tally, mut book) = agent(root.path());
        let signals = LocalSignals::default();
        let first = collect(&mut sampler, &mut tally, &mut book, signals, None).await;
        assert!(
            first
                .storage
                .as_ref()
                .is_some_and(|s| s.reclaimable.is_none())
        );
        let second = collect(&mut sampler, &mut tally, &mut book, signals, None).await;
        assert_eq!(second.storage, None, "volumes go daily");
        let scan = crate::probe::storage::ScanResult {
            duplicates: crate::probe::storage::DuplicateTotals {
                groups: 2,
                files: 5,
                reclaimable_bytes: 3_000_000,
            },
            complete: true,
            ..Default::default()
        };
        tally.set_reclaimable(&scan, 1_795_996_800_000);
        let off = LocalSignals {
            storage: false,
            ..signals
        };
        let report = collect(&mut sampler, &mut tally, &mut book, off, None).await;
        assert_eq!(report.storage, None, "storage off: the totals wait");
        let report = collect(&mut sampler, &mut tally, &mut book, signals, None).await;
        let storage = report.storage.expect("the scan's totals");
        let reclaimable = storage.reclaimable.expect("the scan's totals");
        assert_eq!(reclaimable.scanned_unix_ms, 1_795_996_800_000);
        assert_eq!(reclaimable.duplicates.unwrap().reclaimable_bytes, 3_000_000);
        assert_eq!(
            storage.volumes.len(),
            first.storage.unwrap().volumes.len(),
            "with the volumes they belong to"
        );
        let after = collect(&mut sampler, &mut tally, &mut book, signals, None).await;
        assert_eq!(after.storage, None, "sent once");
    }

    #[tokio::test]
    async fn completed_days_of_activity_leave_pseudonymised_and_nothing_else_does() {
        let root = tempfile::tempdir().unwrap();
        let (mut sampler, mut tally, mut book) = agent(root.path());
        let yesterday = now_unix_ms() - 86_400_000;
        let day_start = yesterday - yesterday.rem_euclid(86_400_000);
        for minute in 600..630 {
            tally.activity_mut().record(
                day_start + minute * 60_000,
                &[("alice.martin".to_owned(), true)],
                Some(false),
            );
        }
        tally.activity_mut().record(
            day_start + 700 * 60_000,
            &[("bob".to_owned(), true)],
            Some(false),
        );
        let policy = Policy {
            version: 3,
            pseudonym_public_key: b"collector public key".to_vec(),
            ..Policy::default()
        };
        let signals = LocalSignals::default();
        let first = collect(&mut sampler, &mut tally, &mut book, signals, Some(&policy)).await;
        assert!(
            first.digital_load.is_none(),
            "days wait for their people's pseudonyms"
        );
        let alice = "a".repeat(64);
        book.learn(
            b"collector public key",
            &["alice.martin".to_owned()],
            vec![alice.clone()],
        );
        book.refuse(b"collector public key", &["bob".to_owned()], now_unix_ms());
        let report = collect(&mut sampler, &mut tally, &mut book, signals, Some(&policy)).await;
        let days = report
            .digital_load
            .as_ref()
            .expect("yesterday is complete")
            .days
            .clone();
        assert_eq!(
            days.len(),
            1,
            "bob's pseudonym was refused: his day is not sent"
        );
        assert_eq!(days[0].person_id, alice);
        assert_eq!(days[0].active_minutes, Some(30));
        assert_eq!(
            days[0].meeting_minutes, None,
            "no calendar reader: null, never 0"
        );
        let encoded = sobrio_proto::Message::encode_to_vec(&report);
        assert!(
            !encoded.windows(5).any(|w| w == b"alice"),
            "the login never leaves the device"
        );
        // Reported once.
        let again = collect(&mut sampler, &mut tally, &mut book, signals, Some(&policy)).await;
        assert!(again.digital_load.is_none());
    }
}
