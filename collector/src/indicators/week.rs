//! The ISO week, the one grouping in time HR may ask for.
//!
//! Parsed strictly (`YYYY-Www`, ASCII digits only: no sign, no space, no
//! other width) and always written back in that canonical form, so that one
//! week has one key everywhere — in stored releases, in the privacy budget
//! and in the audit log. A lenient parser would let `2026-W+5` and
//! `2026-W05` name the same week under two keys, and so draw it twice.

use std::fmt;
use std::str::FromStr;

use jiff::ToSpan;
use jiff::civil::{Date, ISOWeekDate, Weekday};

/// An ISO 8601 week.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Week {
    /// Its Monday: weeks compare and step by it.
    monday: Date,
}

/// A text that is not an ISO week.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid week {0:?}: expected YYYY-Www, e.g. 2026-W47")]
pub struct BadWeek(pub String);

impl Week {
    /// The week holding `day`.
    pub fn containing(day: Date) -> Self {
        let iso = day.iso_week_date();
        let monday =
            ISOWeekDate::new(iso.year(), iso.week(), Weekday::Monday).map_or(day, |d| d.date());
        Self { monday }
    }

    /// Its Monday.
    pub fn monday(self) -> Date {
        self.monday
    }

    /// Its Sunday.
    pub fn sunday(self) -> Date {
        self.monday.saturating_add(6.days())
    }

    /// The week `weeks` before this one.
    pub fn before(self, weeks: i64) -> Self {
        Self {
            monday: self.monday.saturating_sub((7 * weeks).days()),
        }
    }

    /// The week after this one.
    pub fn next(self) -> Self {
        Self {
            monday: self.monday.saturating_add(7.days()),
        }
    }
}

impl FromStr for Week {
    type Err = BadWeek;

    fn from_str(text: &str) -> Result<Self, BadWeek> {
        let bad = || BadWeek(text.to_owned());
        let bytes = text.as_bytes();
        let shaped = bytes.len() == 8
            && bytes[4] == b'-'
            && bytes[5] == b'W'
            && bytes[..4].iter().chain(&bytes[6..]).all(u8::is_ascii_digit);
        if !shaped {
            return Err(bad());
        }
        let year: i16 = text[..4].parse().map_err(|_| bad())?;
        let number: i8 = text[6..].parse().map_err(|_| bad())?;
        let monday = ISOWeekDate::new(year, number, Weekday::Monday)
            .map_err(|_| bad())?
            .date();
        Ok(Self { monday })
    }
}

impl fmt::Display for Week {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let iso = self.monday.iso_week_date();
        write!(f, "{:04}-W{:02}", iso.year(), iso.week())
    }
}

#[cfg(test)]
mod tests {
    use jiff::civil::date;

    use super::*;

    #[test]
    fn a_week_reads_and_writes_in_one_canonical_form() {
        let week: Week = "2026-W05".parse().unwrap();
        assert_eq!(week.monday(), date(2026, 1, 26));
        assert_eq!(week.sunday(), date(2026, 2, 1));
        assert_eq!(week.to_string(), "2026-W05");
        assert_eq!(Week::containing(date(2027, 1, 1)).to_string(), "2026-W53");
        assert_eq!(Week::containing(date(2026, 2, 1)), week);
        assert_eq!(week.before(1).to_string(), "2026-W04");
        assert_eq!(week.next().to_string(), "2026-W06");
    }

    #[test]
    fn every_other_spelling_of_a_week_is_refused() {
        for bad in [
            "2026-W+5",
            "2026-W5",
            "2026-W005",
            "2026-w05",
            "+026-W05",
            "2026-W-5",
            " 2026-W05",
            "2026-W05 ",
            "2026-W00",
            "2026-W54",
            "2025-W53",
            "20265-W05",
            "2026-W٠٥",
            "2026_W05",
        ] {
            assert!(bad.parse::<Week>().is_err(), "{bad} was accepted");
        }
        // 2026 has 53 ISO weeks, 2025 has 52.
        assert!("2026-W53".parse::<Week>().is_ok());
    }
}
