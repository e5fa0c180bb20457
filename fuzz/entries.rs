//! What each fuzz target feeds its input to. The fuzz targets and the
//! corpus replay test (`tests/tests/fuzz_corpus.rs`) include this one file,
//! so that CI runs the committed corpus through the same code the fuzzer
//! explored. Each entry must return for any input, without panicking.

/// A fixed "now" (2026-11-30T00:00Z) so that a saved input replays alike.
pub const NOW_UNIX_MS: i64 = 1_795_996_800_000;

/// What a target does with one input.
pub type Entry = fn(&[u8]);

/// The targets: name (a folder of `fuzz/corpus`) and entry.
pub const TARGETS: &[(&str, Entry)] = &[
    ("report", report),
    ("collector_config", collector_config),
    ("agent_config", agent_config),
    ("ics", ics),
    ("spool_entry", spool_entry),
    ("asset_csv", asset_csv),
    ("notify_body", notify_body),
];

/// An encoded report as the Ingest service receives it: decoded, validated,
/// mapped to rows. Whatever is accepted must have been within the limits.
pub fn report(data: &[u8]) {
    let max = 256 * 1024;
    let (accepted, rejected, dropping) =
        sobrio_collector::ingest::triage(vec![data.to_vec()], max, NOW_UNIX_MS);
    assert_eq!(accepted.len() + rejected.len(), 1);
    assert!(dropping <= accepted.len() as u64);
    for rejection in &rejected {
        assert!(!rejection.field.is_empty() && !rejection.reason.is_empty());
    }
}

/// The collector's TOML configuration, parsed into its settings, which
/// hold what their types promise.
pub fn collector_config(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(config) = sobrio_collector::config::CollectorConfig::parse(text, "fuzz")
    {
        for department in config.policy.departments.keys() {
            let hours = config.working_hours(department);
            assert!(hours.start_minute < hours.end_minute);
        }
        assert!(config.indicators.k >= 5);
    }
}

/// The agent's TOML configuration, parsed and validated.
pub fn agent_config(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(config) = sobrio_agent::config::AgentConfig::parse(text, "fuzz")
    {
        let _ = config.validate();
        let _ = config.purchase_date();
    }
}

/// An iCalendar file read for two weeks, then each day's meeting load.
pub fn ics(data: &[u8]) {
    use sobrio_agent::calendar::{day_spans, ics};
    use sobrio_agent::load::{DayHours, meeting_load};
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let tz = jiff::tz::TimeZone::UTC;
    let from =
        jiff::Timestamp::from_millisecond(NOW_UNIX_MS - 14 * 86_400_000).expect("a valid instant");
    let to = jiff::Timestamp::from_millisecond(NOW_UNIX_MS).expect("a valid instant");
    let reading = ics::Reading {
        addresses: vec!["alice@example.org".into()],
        events_are_meetings: data.first().is_some_and(|b| b % 2 == 1),
    };
    let Ok(parsed) = ics::meetings(text, &reading, from, to, &tz) else {
        return;
    };
    let first = from.to_zoned(tz.clone()).date();
    for offset in 0..14 {
        let Ok(day) = first.checked_add(jiff::Span::new().days(offset)) else {
            continue;
        };
        let (spans, starting) = day_spans(&parsed.meetings, day, &tz);
        let load = meeting_load(
            &spans,
            &starting,
            DayHours {
                working: true,
                start_minute: 9 * 60,
                end_minute: 18 * 60,
            },
            false,
        );
        assert!(load.meeting_minutes <= 24 * 60, "{load:?}");
    }
}

/// A file read back from the agent's spool.
pub fn spool_entry(data: &[u8]) {
    if let Ok(payload) = sobrio_agent::spool::parse_entry(data) {
        assert_eq!(payload.len() + 40, data.len());
    }
}

/// The asset register's CSV import.
pub fn asset_csv(data: &[u8]) {
    let today = jiff::civil::date(2026, 11, 30);
    let _ = sobrio_collector::assets::parse(data, today);
}

/// The body of a `Notify` call as the agent's notification monitor reads
/// it on a session bus: the first byte picks the byte order (a monitor sees
/// each sender's own), the rest is the body. Read as the specification's
/// arguments, or refused; never a panic.
pub fn notify_body(data: &[u8]) {
    use zbus::wire::{Endian, serialized::Context, serialized::Data};
    let Some((&order, body)) = data.split_first() else {
        return;
    };
    let endian = if order % 2 == 0 {
        Endian::Little
    } else {
        Endian::Big
    };
    let body = Data::new(body, Context::new(endian, 0));
    let _ = sobrio_agent::probe::notifications::notify_category(&body);
}
