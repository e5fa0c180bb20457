//! The clock, read in one place, and how the agent writes a time.

/// The current time in Unix milliseconds.
#[must_use]
pub fn now_unix_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

/// A Unix time in milliseconds as RFC 3339 (UTC): whole seconds, then the
/// fraction when there is one (`2026-12-03T21:00:00Z`,
/// `2026-12-03T21:00:00.25Z`); the number itself when it is out of range,
/// RFC 3339's years being 0000 to 9999.
#[must_use]
pub fn rfc3339(unix_ms: i64) -> String {
    jiff::Timestamp::from_millisecond(unix_ms)
        .ok()
        .filter(|t| jiff::tz::Offset::UTC.to_datetime(*t).year() >= 0)
        .map_or_else(|| unix_ms.to_string(), |t| t.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_time_is_written_in_utc_with_a_fraction_only_when_it_has_one() {
        assert_eq!(rfc3339(1_796_331_600_000), "2026-12-03T21:00:00Z");
        assert_eq!(rfc3339(1_796_331_600_250), "2026-12-03T21:00:00.25Z");
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(-1), "1969-12-31T23:59:59.999Z");
        assert_eq!(rfc3339(-62_167_219_200_000), "0000-01-01T00:00:00Z");
        assert_eq!(rfc3339(-62_167_219_200_001), "-62167219200001");
        assert_eq!(rfc3339(i64::MAX), i64::MAX.to_string());
    }
}
