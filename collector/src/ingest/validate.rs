//! Validation of one decoded report: every value within plausible bounds.
//!
//! A report that fails is rejected alone, with the path of the first offending
//! field and a reason in plain words; the rest of its call is stored.

use sobrio_proto::v1::{
    AgentHealth, CategoryTotals, DigitalLoad, Inventory, Report, Storage, Usage,
};

/// Why a report was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    /// Path of the field, e.g. `inventory.memory_bytes` or
    /// `usage.hours[3].active_minutes`.
    pub field: String,
    pub reason: String,
}

type Checked = Result<(), Invalid>;

fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Invalid {
    Invalid {
        field: field.into(),
        reason: reason.into(),
    }
}

const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 24 * HOUR_MS;
/// 2015-01-01T00:00:00Z: no agent report predates Sobrio.
const EARLIEST_UNIX_MS: i64 = 1_420_070_400_000;
/// Clock skew tolerated on a device's clock.
const MAX_FUTURE_MS: i64 = DAY_MS;
/// How far back a report may carry hourly history (a long spool).
const MAX_HISTORY_MS: i64 = 120 * DAY_MS;
const TIB: i64 = 1 << 40;
const PIB: i64 = 1 << 50;
/// Longest free-text field (models, versions, names).
const MAX_TEXT_BYTES: usize = 256;

/// An integer within `min..=max`.
fn bounded(field: &str, value: i64, min: i64, max: i64, what: &str) -> Checked {
    if value < 0 && min >= 0 {
        return Err(invalid(field, format!("must not be negative, got {value}")));
    }
    if value < min {
        return Err(invalid(
            field,
            format!("{value} is below the minimum of {min} {what}"),
        ));
    }
    if value > max {
        return Err(invalid(
            field,
            format!("{value} is beyond any plausible value (at most {max} {what})"),
        ));
    }
    Ok(())
}

fn optional_bounded(field: &str, value: Option<i64>, min: i64, max: i64, what: &str) -> Checked {
    value.map_or(Ok(()), |value| bounded(field, value, min, max, what))
}

fn percent(field: &str, value: Option<f32>) -> Checked {
    match value {
        Some(v) if !(v.is_finite() && (0.0..=100.0).contains(&v)) => Err(invalid(
            field,
            format!("{v} is not a percentage (expected 0 to 100)"),
        )),
        _ => Ok(()),
    }
}

fn text(field: &str, value: &str, max: usize) -> Checked {
    if value.len() > max {
        return Err(invalid(
            field,
            format!(
                "text of {} bytes exceeds the limit of {max} bytes",
                value.len()
            ),
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(invalid(field, "text holds control characters"));
    }
    Ok(())
}

fn optional_text(field: &str, value: Option<&String>) -> Checked {
    value.map_or(Ok(()), |value| text(field, value, MAX_TEXT_BYTES))
}

fn date(field: &str, value: &str, latest_unix_ms: i64) -> Checked {
    let parsed = crate::domain::parse_date(value).ok_or_else(|| {
        invalid(
            field,
            format!("{value:?} is not a date (expected YYYY-MM-DD)"),
        )
    })?;
    let midnight_ms = parsed
        .to_zoned(jiff::tz::TimeZone::UTC)
        .map_or(i64::MAX, |midnight| midnight.timestamp().as_millisecond());
    if parsed.year() < 1980 {
        return Err(invalid(field, format!("{value} is before 1980")));
    }
    if midnight_ms > latest_unix_ms + DAY_MS {
        return Err(invalid(field, format!("{value} is in the future")));
    }
    Ok(())
}

fn count<T>(field: &str, items: &[T], max: usize) -> Checked {
    if items.len() > max {
        return Err(invalid(
            field,
            format!("{} entries exceed the limit of {max}", items.len()),
        ));
    }
    Ok(())
}

/// Validates a report received at `now_unix_ms`.
///
/// # Errors
/// The first offending field.
pub fn validate_report(report: &Report, now_unix_ms: i64) -> Checked {
    match uuid::Uuid::try_parse(&report.report_id) {
        Ok(id) if id.get_version_num() == 7 => {}
        _ => {
            let shown: String = report.report_id.chars().take(40).collect();
            return Err(invalid("report_id", format!("{shown:?} is not a UUIDv7")));
        }
    }
    let collected = report.collected_unix_ms;
    if collected < EARLIEST_UNIX_MS {
        return Err(invalid(
            "collected_unix_ms",
            format!("{collected} is before 2015"),
        ));
    }
    if collected > now_unix_ms + MAX_FUTURE_MS {
        return Err(invalid(
            "collected_unix_ms",
            format!("{collected} is more than a day in the future: check the device's clock"),
        ));
    }
    text("agent_version", &report.agent_version, 64)?;
    if let Some(inventory) = &report.inventory {
        validate_inventory(inventory, collected)?;
    }
    if let Some(usage) = &report.usage {
        validate_usage(usage, collected)?;
    }
    if let Some(storage) = &report.storage {
        validate_storage(storage, collected)?;
    }
    if let Some(load) = &report.digital_load {
        validate_digital_load(load, collected)?;
    }
    if let Some(health) = &report.agent_health {
        validate_agent_health(health)?;
    }
    Ok(())
}

fn validate_inventory(inventory: &Inventory, collected: i64) -> Checked {
    if let Err(error) = crate::domain::HostName::parse(&inventory.hostname) {
        return Err(invalid(
            "inventory.hostname",
            format!("expected {}", error.rule),
        ));
    }
    for (field, value) in [
        ("inventory.vendor", &inventory.vendor),
        ("inventory.model", &inventory.model),
        ("inventory.model_family", &inventory.model_family),
        ("inventory.serial_number", &inventory.serial_number),
        ("inventory.cpu_model", &inventory.cpu_model),
        ("inventory.os_name", &inventory.os_name),
        ("inventory.os_version", &inventory.os_version),
        ("inventory.kernel_version", &inventory.kernel_version),
        ("inventory.bios_vendor", &inventory.bios_vendor),
        ("inventory.bios_version", &inventory.bios_version),
    ] {
        optional_text(field, value.as_ref())?;
    }
    let cores = |v: Option<i32>| v.map(i64::from);
    optional_bounded(
        "inventory.cpu_physical_cores",
        cores(inventory.cpu_physical_cores),
        1,
        4096,
        "cores",
    )?;
    optional_bounded(
        "inventory.cpu_logical_cores",
        cores(inventory.cpu_logical_cores),
        1,
        8192,
        "cores",
    )?;
    optional_bounded(
        "inventory.memory_bytes",
        inventory.memory_bytes,
        0,
        64 * TIB,
        "bytes",
    )?;
    count("inventory.disks", &inventory.disks, 64)?;
    for (i, disk) in inventory.disks.iter().enumerate() {
        bounded(
            &format!("inventory.disks[{i}].size_bytes"),
            disk.size_bytes,
            0,
            PIB,
            "bytes",
        )?;
        optional_text(&format!("inventory.disks[{i}].model"), disk.model.as_ref())?;
        optional_bounded(
            &format!("inventory.disks[{i}].power_on_hours"),
            disk.power_on_hours,
            0,
            500_000,
            "hours",
        )?;
    }
    if let Some(bios_date) = &inventory.bios_date {
        date("inventory.bios_date", bios_date, collected)?;
    }
    if let Some(age) = &inventory.age {
        date("inventory.age.since_date", &age.since_date, collected)?;
    }
    if let Some(battery) = &inventory.battery {
        let capacity = 10_000_000; // 10 kWh / 10,000 Ah: far beyond any device battery
        optional_bounded(
            "inventory.battery.design_capacity_mwh",
            battery.design_capacity_mwh,
            0,
            capacity,
            "mWh",
        )?;
        optional_bounded(
            "inventory.battery.full_capacity_mwh",
            battery.full_capacity_mwh,
            0,
            capacity,
            "mWh",
        )?;
        optional_bounded(
            "inventory.battery.design_capacity_mah",
            battery.design_capacity_mah,
            0,
            capacity,
            "mAh",
        )?;
        optional_bounded(
            "inventory.battery.full_capacity_mah",
            battery.full_capacity_mah,
            0,
            capacity,
            "mAh",
        )?;
        optional_bounded(
            "inventory.battery.cycle_count",
            battery.cycle_count.map(i64::from),
            0,
            100_000,
            "cycles",
        )?;
        percent(
            "inventory.battery.reported_health_percent",
            battery.reported_health_percent,
        )?;
    }
    Ok(())
}

fn validate_usage(usage: &Usage, collected: i64) -> Checked {
    count("usage.hours", &usage.hours, 24 * 124)?;
    for (i, hour) in usage.hours.iter().enumerate() {
        let field = |name: &str| format!("usage.hours[{i}].{name}");
        let start = hour.hour_start_unix_ms;
        if start % HOUR_MS != 0 {
            return Err(invalid(
                field("hour_start_unix_ms"),
                format!("{start} is not the start of an hour"),
            ));
        }
        if start > collected || start < collected - MAX_HISTORY_MS {
            return Err(invalid(
                field("hour_start_unix_ms"),
                format!("{start} is outside the 120 days before the report was collected"),
            ));
        }
        bounded(
            &field("powered_minutes"),
            hour.powered_minutes.into(),
            0,
            60,
            "minutes",
        )?;
        optional_bounded(
            &field("active_minutes"),
            hour.active_minutes.map(i64::from),
            0,
            60,
            "minutes",
        )?;
        percent(&field("cpu_p95_percent"), hour.cpu_p95_percent)?;
        percent(&field("memory_p95_percent"), hour.memory_p95_percent)?;
        percent(&field("disk_fill_percent"), hour.disk_fill_percent)?;
    }
    Ok(())
}

fn validate_storage(storage: &Storage, collected: i64) -> Checked {
    count("storage.volumes", &storage.volumes, 256)?;
    for (i, volume) in storage.volumes.iter().enumerate() {
        let field = |name: &str| format!("storage.volumes[{i}].{name}");
        text(&field("mount_point"), &volume.mount_point, MAX_TEXT_BYTES)?;
        text(&field("filesystem"), &volume.filesystem, 64)?;
        bounded(&field("total_bytes"), volume.total_bytes, 0, PIB, "bytes")?;
        bounded(
            &field("used_bytes"),
            volume.used_bytes,
            0,
            volume.total_bytes,
            "bytes (the volume's total)",
        )?;
    }
    if let Some(reclaimable) = &storage.reclaimable {
        let scanned = reclaimable.scanned_unix_ms;
        if scanned > collected || scanned < EARLIEST_UNIX_MS {
            return Err(invalid(
                "storage.reclaimable.scanned_unix_ms",
                format!("{scanned} is not a plausible scan time"),
            ));
        }
        if let Some(duplicates) = &reclaimable.duplicates {
            bounded(
                "storage.reclaimable.duplicates.groups",
                duplicates.groups,
                0,
                1_000_000_000,
                "groups",
            )?;
            bounded(
                "storage.reclaimable.duplicates.files",
                duplicates.files,
                0,
                1_000_000_000,
                "files",
            )?;
            bounded(
                "storage.reclaimable.duplicates.reclaimable_bytes",
                duplicates.reclaimable_bytes,
                0,
                PIB,
                "bytes",
            )?;
        }
        let categories: [(&str, &Option<CategoryTotals>); 6] = [
            ("temp", &reclaimable.temp),
            ("cache", &reclaimable.cache),
            ("trash", &reclaimable.trash),
            ("stale", &reclaimable.stale),
            ("mail_archives", &reclaimable.mail_archives),
            ("old_downloads", &reclaimable.old_downloads),
        ];
        for (name, totals) in categories {
            if let Some(totals) = totals {
                bounded(
                    &format!("storage.reclaimable.{name}.files"),
                    totals.files,
                    0,
                    1_000_000_000,
                    "files",
                )?;
                bounded(
                    &format!("storage.reclaimable.{name}.bytes"),
                    totals.bytes,
                    0,
                    PIB,
                    "bytes",
                )?;
            }
        }
    }
    Ok(())
}

/// What a pseudonym looks like.
const PSEUDONYM_SHAPE: &str = "expected a pseudonym: 64 lowercase hexadecimal digits";

fn is_pseudonym(id: &str) -> bool {
    id.len() == 64
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn validate_digital_load(load: &DigitalLoad, collected: i64) -> Checked {
    count("digital_load.links", &load.links, 50)?;
    for (i, link) in load.links.iter().enumerate() {
        if !is_pseudonym(&link.previous_id) {
            return Err(invalid(
                format!("digital_load.links[{i}].previous_id"),
                PSEUDONYM_SHAPE,
            ));
        }
        if !is_pseudonym(&link.person_id) {
            return Err(invalid(
                format!("digital_load.links[{i}].person_id"),
                PSEUDONYM_SHAPE,
            ));
        }
    }
    count("digital_load.days", &load.days, 62)?;
    for (i, day) in load.days.iter().enumerate() {
        let field = |name: &str| format!("digital_load.days[{i}].{name}");
        if !is_pseudonym(&day.person_id) {
            return Err(invalid(field("person_id"), PSEUDONYM_SHAPE));
        }
        date(&field("date"), &day.date, collected)?;
        let minutes = [
            ("meeting_minutes", day.meeting_minutes),
            ("conflicting_minutes", day.conflicting_minutes),
            (
                "after_hours_meeting_minutes",
                day.after_hours_meeting_minutes,
            ),
            ("call_minutes", day.call_minutes),
            ("focus_minutes", day.focus_minutes),
            ("active_minutes", day.active_minutes),
            ("after_hours_active_minutes", day.after_hours_active_minutes),
            ("weekend_active_minutes", day.weekend_active_minutes),
        ];
        for (name, value) in minutes {
            optional_bounded(&field(name), value.map(i64::from), 0, 1440, "minutes a day")?;
        }
        let counts = [
            ("meeting_count", day.meeting_count, 200),
            ("back_to_back_count", day.back_to_back_count, 200),
            ("notifications_total", day.notifications_total, 100_000),
            (
                "notifications_after_hours",
                day.notifications_after_hours,
                100_000,
            ),
        ];
        for (name, value, max) in counts {
            optional_bounded(&field(name), value.map(i64::from), 0, max, "a day")?;
        }
        if let Some(by_category) = &day.notifications_by_category {
            for (name, value) in [
                ("chat", by_category.chat),
                ("mail", by_category.mail),
                ("calendar", by_category.calendar),
                ("other", by_category.other),
            ] {
                bounded(
                    &field(&format!("notifications_by_category.{name}")),
                    value.into(),
                    0,
                    100_000,
                    "a day",
                )?;
            }
        }
    }
    Ok(())
}

fn validate_agent_health(health: &AgentHealth) -> Checked {
    optional_bounded(
        "agent_health.spool_depth",
        health.spool_depth,
        0,
        10_000_000,
        "reports",
    )?;
    optional_bounded(
        "agent_health.spool_bytes",
        health.spool_bytes,
        0,
        TIB,
        "bytes",
    )?;
    optional_bounded(
        "agent_health.reports_dropped",
        health.reports_dropped,
        0,
        1_000_000_000,
        "reports",
    )?;
    optional_bounded("agent_health.rss_bytes", health.rss_bytes, 0, TIB, "bytes")?;
    optional_bounded(
        "agent_health.cpu_time_ms",
        health.cpu_time_ms,
        0,
        1_000_000_000_000,
        "ms",
    )?;
    optional_bounded(
        "agent_health.uptime_secs",
        health.uptime_secs,
        0,
        10_000_000_000,
        "seconds",
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use sobrio_proto::v1::{Disk, PersonDay, UsageHour};

    use super::*;

    const NOW: i64 = 1_790_000_000_000;

    fn report() -> Report {
        Report {
            report_id: uuid::Uuid::now_v7().to_string(),
            collected_unix_ms: NOW,
            agent_version: "0.1.0".into(),
            ..Default::default()
        }
    }

    fn field_of(report: &Report) -> String {
        validate_report(report, NOW).unwrap_err().field
    }

    #[test]
    fn a_plain_report_is_valid() {
        assert_eq!(validate_report(&report(), NOW), Ok(()));
    }

    #[test]
    fn the_report_id_must_be_a_uuid_v7() {
        let mut r = report();
        r.report_id = uuid::Uuid::nil().to_string();
        assert_eq!(field_of(&r), "report_id");
    }

    #[test]
    fn a_date_far_in_the_future_is_refused() {
        let mut r = report();
        r.collected_unix_ms = NOW + 3 * DAY_MS;
        let error = validate_report(&r, NOW).unwrap_err();
        assert_eq!(error.field, "collected_unix_ms");
        assert!(error.reason.contains("future"));
    }

    #[test]
    fn a_negative_size_is_refused_with_its_path() {
        let mut r = report();
        r.inventory = Some(Inventory {
            hostname: "pc".into(),
            disks: vec![
                Disk {
                    size_bytes: 1,
                    ..Default::default()
                },
                Disk {
                    size_bytes: -1,
                    ..Default::default()
                },
            ],
            ..Default::default()
        });
        let error = validate_report(&r, NOW).unwrap_err();
        assert_eq!(error.field, "inventory.disks[1].size_bytes");
        assert!(error.reason.contains("negative"), "{}", error.reason);
    }

    #[test]
    fn an_oversized_string_is_refused() {
        let mut r = report();
        r.inventory = Some(Inventory {
            hostname: "h".repeat(10_000),
            ..Default::default()
        });
        assert_eq!(field_of(&r), "inventory.hostname");
    }

    #[test]
    fn implausible_counts_and_minutes_are_refused() {
        let mut r = report();
        r.usage = Some(Usage {
            hours: vec![UsageHour {
                hour_start_unix_ms: NOW - NOW % HOUR_MS - HOUR_MS,
                powered_minutes: 61,
                ..Default::default()
            }],
        });
        assert_eq!(field_of(&r), "usage.hours[0].powered_minutes");

        let mut r = report();
        r.digital_load = Some(DigitalLoad {
            days: vec![PersonDay {
                person_id: "a".repeat(64),
                date: "2026-09-20".into(),
                notifications_total: Some(5_000_000),
                ..Default::default()
            }],
            links: Vec::new(),
        });
        assert_eq!(field_of(&r), "digital_load.days[0].notifications_total");

        for bad in ["A".repeat(64), "a".repeat(63), "g".repeat(64)] {
            let mut r = report();
            r.digital_load = Some(DigitalLoad {
                days: Vec::new(),
                links: vec![sobrio_proto::v1::PseudonymLink {
                    previous_id: "b".repeat(64),
                    person_id: bad,
                }],
            });
            assert_eq!(field_of(&r), "digital_load.links[0].person_id");
        }
    }

    #[test]
    fn a_percentage_must_be_finite_and_in_range() {
        let mut r = report();
        r.usage = Some(Usage {
            hours: vec![UsageHour {
                hour_start_unix_ms: NOW - NOW % HOUR_MS - HOUR_MS,
                powered_minutes: 60,
                cpu_p95_percent: Some(f32::NAN),
                ..Default::default()
            }],
        });
        assert_eq!(field_of(&r), "usage.hours[0].cpu_p95_percent");
    }
}
