//! Builds reports: runs the probes the effective signals allow and maps their
//! facts to `sobrio.v1`. The only place that knows both.

use std::path::Path;
use std::time::{Duration, Instant};

use jiff::civil::Date;
use sobrio_proto::v1::{
    self, ActivitySource, AgentHealth, Battery, Chassis, Confidence, DigitalLoad, Disk, DiskHealth,
    DiskKind, Inventory, NotificationsByCategory, PersonDay, Policy, Report, Storage, Usage,
    UsageHour, Volume,
};

use crate::calendar::{PersonMeetings, day_spans};
use crate::config::LocalSignals;
use crate::day::{DayLoad, day_load};
use crate::load::{DailyActivity, WeekHours};
use crate::probe::health::{HealthProbe, OwnHealth};
use crate::probe::inventory::{
    AgeProvenance, ChassisKind, DiskCondition, DiskTechnology, InventoryFacts, InventoryProbe,
    InventorySource,
};
use crate::probe::notifications::Notified;
use crate::probe::storage::{ScanResult, Totals};
use crate::probe::usage::{HourlyUsage, UsageSampler};
use crate::probe::volumes::{live_mounts, local_volumes};
use crate::pseudonyms::{Pseudonym, PseudonymBook};

/// Inventory and volumes are resent at least this often even when unchanged.
const INVENTORY_REFRESH: Duration = Duration::from_secs(24 * 3600);

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

/// Collects reports; keeps probes (and their sysinfo state) between reports.
#[derive(Debug)]
pub struct ReportBuilder {
    /// This platform's hardware facts: Linux files under the root, or
    /// `system_profiler` on macOS.
    inventory: Box<dyn InventorySource>,
    health: HealthProbe,
    purchase_date: Option<Date>,
    /// The last inventory sent and when, to send it only on change or daily.
    last_inventory: Option<(InventoryFacts, Instant)>,
    usage_sampler: Option<UsageSampler>,
    usage: HourlyUsage,
    /// Each user's active minutes by local day, for digital load.
    activity: DailyActivity,
    /// Each user's meetings, as last read from their calendar sources.
    meetings: std::collections::HashMap<String, PersonMeetings>,
    /// The device's time zone: days and working hours are local.
    tz: jiff::tz::TimeZone,
    /// Users with a session at the last sample.
    session_users: Vec<String>,
    /// Applications recording through the sessions' sound servers.
    stream_capture: Vec<String>,
    /// Host root, where `/proc` is read for calls.
    root: std::path::PathBuf,
    /// Process names of conferencing applications.
    call_applications: Vec<String>,
    /// When volumes were last sent: daily.
    last_volumes: Option<Instant>,
    /// Totals of the last complete storage scan, not sent yet.
    pending_reclaimable: Option<v1::ReclaimableStorage>,
    /// The pseudonyms of the people who use the device.
    pseudonyms: PseudonymBook,
}

impl ReportBuilder {
    /// A builder reading host files under `root`.
    pub fn new(root: &Path, purchase_date: Option<Date>) -> Self {
        Self {
            inventory: if cfg!(target_os = "macos") {
                Box::new(crate::probe::macos::SystemProfiler)
            } else if cfg!(windows) {
                Box::new(crate::probe::wmi::Wmi)
            } else {
                Box::new(InventoryProbe::new(root, true))
            },
            health: HealthProbe::default(),
            purchase_date,
            last_inventory: None,
            usage_sampler: None,
            usage: HourlyUsage::default(),
            activity: DailyActivity::new(jiff::tz::TimeZone::system()),
            meetings: std::collections::HashMap::new(),
            tz: jiff::tz::TimeZone::system(),
            session_users: Vec::new(),
            stream_capture: Vec::new(),
            root: root.to_owned(),
            call_applications: crate::probe::calls::DEFAULT_APPLICATIONS
                .map(String::from)
                .to_vec(),
            last_volumes: None,
            pending_reclaimable: None,
            pseudonyms: PseudonymBook::default(),
        }
    }

    /// The pseudonyms of the people who use the device.
    pub fn pseudonyms(&self) -> &PseudonymBook {
        &self.pseudonyms
    }

    /// The pseudonyms, to learn new ones.
    pub fn pseudonyms_mut(&mut self) -> &mut PseudonymBook {
        &mut self.pseudonyms
    }

    /// Keeps a storage scan's totals (never its paths) for the next report.
    pub fn set_reclaimable(&mut self, result: &ScanResult, scanned_unix_ms: i64) {
        let totals = |t: Totals| v1::CategoryTotals {
            files: to_i64(t.files),
            bytes: to_i64(t.bytes),
        };
        let c = &result.categories;
        self.pending_reclaimable = Some(v1::ReclaimableStorage {
            scanned_unix_ms,
            duplicates: Some(v1::DuplicateTotals {
                groups: to_i64(result.duplicates.groups),
                files: to_i64(result.duplicates.files),
                reclaimable_bytes: to_i64(result.duplicates.reclaimable_bytes),
            }),
            temp: Some(totals(c.temp)),
            cache: Some(totals(c.cache)),
            trash: Some(totals(c.trash)),
            stale: Some(totals(c.stale)),
            mail_archives: Some(totals(c.mail_archives)),
            old_downloads: Some(totals(c.old_downloads)),
        });
    }

    /// Takes a usage sample (cheap: CPU, memory, root fill, logind), folded
    /// into the current hour's bucket.
    pub fn sample_usage(&mut self, watch_calls: bool) {
        let sampler = self.usage_sampler.get_or_insert_with(UsageSampler::default);
        let sample = sampler.sample(now_unix_ms());
        self.usage.add(&sample);
        let in_call = watch_calls.then(|| {
            let mut signals = if cfg!(windows) {
                crate::probe::calls::from_consent_store(
                    &crate::probe::consent::read_live(),
                    &self.call_applications,
                )
            } else {
                crate::probe::calls::read(&self.root, &self.call_applications)
            };
            signals
                .capture_holders
                .extend(self.stream_capture.iter().cloned());
            signals.in_call()
        });
        self.activity
            .record(sample.at_unix_ms, &sample.sessions, in_call);
        self.session_users = sample.sessions.iter().map(|(u, _)| u.clone()).collect();
    }

    /// The applications recording through the sound servers of the
    /// sessions, for the next samples' call detection.
    pub fn set_stream_capture(&mut self, applications: Vec<String>) {
        self.stream_capture = applications;
    }

    /// Users with a session at the last sample.
    pub fn session_users(&self) -> &[String] {
        &self.session_users
    }

    /// The conferencing applications that count for calls.
    pub fn set_call_applications(&mut self, applications: Vec<String>) {
        self.call_applications = applications;
    }

    /// Records a notification shown to `login` (counted, never kept).
    pub fn record_notification(&mut self, login: &str, notified: Notified) {
        self.activity.record_notification(login, notified);
    }

    /// Marks `login`'s notifications as watched.
    pub fn watch_notifications(&mut self, login: &str) {
        self.activity.watch_notifications(login);
    }

    /// Keeps `login`'s meetings (times only) for the days to report.
    pub fn set_meetings(&mut self, login: &str, meetings: PersonMeetings) {
        self.meetings.insert(login.to_owned(), meetings);
    }

    /// The device's time zone.
    pub fn time_zone(&self) -> &jiff::tz::TimeZone {
        &self.tz
    }

    /// Each user's days of activity so far.
    pub fn activity(&self) -> &DailyActivity {
        &self.activity
    }

    /// Each person's completed days under their pseudonym, and links from
    /// earlier pseudonyms. Days wait (`None`) while a user's pseudonym is
    /// still to be obtained; the days of a user whose pseudonym the
    /// collector refused are not reported.
    fn digital_load_section(
        &mut self,
        policy: Option<&Policy>,
        signals: LocalSignals,
    ) -> Option<DigitalLoad> {
        let policy = policy?;
        let now = now_unix_ms();
        let book = &self.pseudonyms;
        if self
            .activity
            .users()
            .any(|login| book.resolve(policy, login, now) == Pseudonym::Pending)
        {
            return None;
        }
        let hours = week_hours(Some(policy));
        let calendars = &self.meetings;
        let tz = &self.tz;
        let has_meetings = |login: &str, day: Date| {
            signals.calendar
                && calendars
                    .get(login)
                    .is_some_and(|m| !day_spans(&m.meetings, day, tz).1.is_empty())
        };
        let mut refused = 0_usize;
        let days: Vec<PersonDay> = self
            .activity
            .completed_days(now, &hours, &has_meetings)
            .into_iter()
            .filter_map(|day| {
                let Pseudonym::Known(id) = book.resolve(policy, &day.login, now) else {
                    refused += 1;
                    return None;
                };
                let calendar = calendars.get(&day.login).filter(|_| signals.calendar);
                let mut row = person_day(day_load(&day, calendar, &hours, tz));
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
        let links = self.pseudonyms.links(now);
        (!days.is_empty() || !links.is_empty()).then_some(DigitalLoad { days, links })
    }

    fn usage_section(&mut self, watch_calls: bool) -> Usage {
        self.sample_usage(watch_calls);
        let source = if self
            .usage_sampler
            .as_ref()
            .is_some_and(UsageSampler::has_logind)
        {
            ActivitySource::Logind
        } else {
            ActivitySource::Unspecified
        };
        let hours = self
            .usage
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
        // Completed hours go out whole in this report; the current hour stays
        // and goes again, fuller, in the next.
        self.usage.forget_completed(now_unix_ms());
        Usage { hours }
    }

    fn storage_section(&mut self) -> Option<Storage> {
        if self
            .last_volumes
            .is_some_and(|at| at.elapsed() < INVENTORY_REFRESH)
        {
            return None;
        }
        self.last_volumes = Some(Instant::now());
        let volumes = local_volumes(live_mounts())
            .into_iter()
            .map(|v| Volume {
                mount_point: v.mount_point,
                filesystem: v.filesystem,
                total_bytes: to_i64(v.total_bytes),
                used_bytes: to_i64(v.used_bytes),
                removable: v.removable,
            })
            .collect();
        Some(Storage {
            volumes,
            reclaimable: None,
        })
    }

    /// Collects one report now.
    pub fn collect(&mut self, signals: LocalSignals, policy: Option<&Policy>) -> Report {
        let policy_version = policy.map_or(0, |p| p.version);
        let inventory = if signals.inventory {
            let facts = self.inventory.collect(self.purchase_date);
            let due = self
                .last_inventory
                .as_ref()
                .is_none_or(|(last, at)| *last != facts || at.elapsed() >= INVENTORY_REFRESH);
            due.then(|| {
                let message = inventory_message(&facts);
                self.last_inventory = Some((facts, Instant::now()));
                message
            })
        } else {
            None
        };
        Report {
            report_id: uuid::Uuid::now_v7().to_string(),
            collected_unix_ms: now_unix_ms(),
            agent_version: env!("CARGO_PKG_VERSION").to_owned(),
            policy_version,
            inventory,
            usage: signals.usage.then(|| self.usage_section(signals.calls)),
            storage: if signals.storage {
                self.storage_section()
            } else {
                None
            },
            digital_load: if signals.activity {
                self.digital_load_section(policy, signals)
            } else {
                None
            },
            agent_health: Some(health_message(self.health.sample())),
        }
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

    #[test]
    fn inventory_is_sent_first_then_only_when_it_changes() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("etc")).unwrap();
        std::fs::write(root.path().join("etc/hostname"), "pc-1\n").unwrap();
        let mut builder = ReportBuilder::new(root.path(), None);
        let signals = LocalSignals::default();
        assert!(builder.collect(signals, None).inventory.is_some());
        assert!(builder.collect(signals, None).inventory.is_none());
        std::fs::write(root.path().join("etc/hostname"), "pc-2\n").unwrap();
        let report = builder.collect(signals, None);
        assert_eq!(report.inventory.unwrap().hostname, "pc-2");
    }

    #[test]
    fn completed_days_of_activity_leave_pseudonymised_and_nothing_else_does() {
        let root = tempfile::tempdir().unwrap();
        let mut builder = ReportBuilder::new(root.path(), None);
        builder.activity = DailyActivity::new(jiff::tz::TimeZone::UTC);
        let yesterday = now_unix_ms() - 86_400_000;
        let day_start = yesterday - yesterday.rem_euclid(86_400_000);
        for minute in 600..630 {
            builder.activity.record(
                day_start + minute * 60_000,
                &[("alice.martin".to_owned(), true)],
                Some(false),
            );
        }
        builder.activity.record(
            day_start + 700 * 60_000,
            &[("bob".to_owned(), true)],
            Some(false),
        );
        let policy = Policy {
            version: 3,
            pseudonym_public_key: b"collector public key".to_vec(),
            ..Policy::default()
        };
        assert!(
            builder
                .collect(LocalSignals::default(), Some(&policy))
                .digital_load
                .is_none(),
            "days wait for their people's pseudonyms"
        );
        let alice = "a".repeat(64);
        builder.pseudonyms_mut().learn(
            b"collector public key",
            &["alice.martin".to_owned()],
            vec![alice.clone()],
        );
        builder.pseudonyms_mut().refuse(
            b"collector public key",
            &["bob".to_owned()],
            now_unix_ms(),
        );
        let report = builder.collect(LocalSignals::default(), Some(&policy));
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
        assert!(
            builder
                .collect(LocalSignals::default(), Some(&policy))
                .digital_load
                .is_none()
        );
    }
}
