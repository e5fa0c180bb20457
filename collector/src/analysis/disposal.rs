//! What became of retired devices, and the share of them that went to
//! reuse: French public bodies must send retired IT equipment under 10
//! years old to reuse or refurbishment (AGEC law, article 58; decree
//! 2023-266), half of it from 2025.

use std::collections::BTreeMap;

use jiff::ToSpan;
use jiff::civil::Date;
use serde::Serialize;

/// Where a retired device went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Given another life inside the organisation.
    ReusedInternally,
    /// Given to an association, a school, staff…
    Donated,
    /// Sold to a refurbisher or as refurbished.
    SoldRefurbished,
    /// Sent to recycling (material recovery): not reuse.
    Recycled,
}

impl Outcome {
    /// Every outcome, in the order reports list them.
    pub const ALL: [Self; 4] = [
        Self::ReusedInternally,
        Self::Donated,
        Self::SoldRefurbished,
        Self::Recycled,
    ];

    /// `reused_internally`, `donated`, `sold_refurbished`, `recycled`.
    pub fn name(self) -> &'static str {
        match self {
            Self::ReusedInternally => "reused_internally",
            Self::Donated => "donated",
            Self::SoldRefurbished => "sold_refurbished",
            Self::Recycled => "recycled",
        }
    }

    /// The outcome a name gives.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|o| o.name() == name.trim())
    }

    /// Whether the device goes on being used (reuse or refurbishment).
    pub fn is_reuse(self) -> bool {
        self != Self::Recycled
    }
}

/// A retired device, as the report reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct Disposal {
    pub category: String,
    pub first_use: Option<Date>,
    pub retired_on: Date,
    pub outcome: Outcome,
}

/// Devices older than this when retired are not counted against the target.
pub const ELIGIBLE_YEARS: i16 = 10;

/// The share of eligible retired devices that must go to reuse, from a year on.
pub const REUSE_TARGETS: [(i16, f64); 1] = [(2025, 0.5)];

/// The target of a year, if one applies.
pub fn target(year: i16) -> Option<f64> {
    REUSE_TARGETS
        .iter()
        .rev()
        .find(|(from, _)| year >= *from)
        .map(|(_, share)| *share)
}

/// One year of retirements.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReuseYear {
    pub year: i16,
    /// Devices retired that year.
    pub retired: u64,
    /// Of them, under 10 years old when retired.
    pub eligible: u64,
    /// Of the eligible ones, those that went to reuse or refurbishment.
    pub eligible_reused: u64,
    /// Retired devices whose first day of use is unknown: not counted as
    /// eligible; the register's purchase dates make them count.
    pub undated: u64,
    /// `eligible_reused / eligible`; `None` when nothing was eligible.
    pub share: Option<f64>,
    pub target: Option<f64>,
    /// Whether the share reached the target; `None` without a target or a
    /// share.
    pub met: Option<bool>,
    /// Retired devices by outcome.
    pub by_outcome: BTreeMap<String, u64>,
    /// Retired devices by category.
    pub by_category: BTreeMap<String, u64>,
}

/// The report, one entry per year with a retirement, oldest first.
pub fn reuse_report(disposals: &[Disposal]) -> Vec<ReuseYear> {
    let mut years: BTreeMap<i16, ReuseYear> = BTreeMap::new();
    for disposal in disposals {
        let year = disposal.retired_on.year();
        let entry = years.entry(year).or_insert_with(|| ReuseYear {
            year,
            retired: 0,
            eligible: 0,
            eligible_reused: 0,
            undated: 0,
            share: None,
            target: target(year),
            met: None,
            by_outcome: Outcome::ALL
                .iter()
                .map(|o| (o.name().to_owned(), 0))
                .collect(),
            by_category: BTreeMap::new(),
        });
        entry.retired += 1;
        *entry
            .by_outcome
            .entry(disposal.outcome.name().to_owned())
            .or_default() += 1;
        *entry
            .by_category
            .entry(disposal.category.clone())
            .or_default() += 1;
        match disposal.first_use {
            None => entry.undated += 1,
            Some(first) if first.saturating_add(ELIGIBLE_YEARS.years()) > disposal.retired_on => {
                entry.eligible += 1;
                if disposal.outcome.is_reuse() {
                    entry.eligible_reused += 1;
                }
            }
            Some(_) => {}
        }
    }
    years
        .into_values()
        .map(|mut year| {
            #[allow(clippy::cast_precision_loss)]
            let share =
                (year.eligible > 0).then(|| year.eligible_reused as f64 / year.eligible as f64);
            year.share = share.map(|s| (s * 1000.0).round() / 1000.0);
            year.met = year.target.zip(share).map(|(t, s)| s >= t);
            year
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    fn retired(first_use: Option<Date>, retired_on: Date, outcome: Outcome) -> Disposal {
        Disposal {
            category: "laptop".into(),
            first_use,
            retired_on,
            outcome,
        }
    }

    #[test]
    fn the_share_counts_eligible_devices_against_the_target_of_their_year() {
        let report = reuse_report(&[
            // 2024: no target yet.
            retired(Some(date(2019, 1, 10)), date(2024, 5, 2), Outcome::Recycled),
            // 2025: four eligible, two to reuse: 50 %, met.
            retired(Some(date(2020, 3, 1)), date(2025, 2, 1), Outcome::Donated),
            retired(
                Some(date(2019, 3, 1)),
                date(2025, 3, 1),
                Outcome::SoldRefurbished,
            ),
            retired(Some(date(2018, 3, 1)), date(2025, 4, 1), Outcome::Recycled),
            retired(Some(date(2021, 3, 1)), date(2025, 5, 1), Outcome::Recycled),
            // Eleven years old: retired, not eligible.
            retired(Some(date(2014, 1, 1)), date(2025, 6, 1), Outcome::Recycled),
            // Ten years to the day: no longer under ten.
            retired(Some(date(2015, 7, 1)), date(2025, 7, 1), Outcome::Donated),
            // No first day of use: said apart.
            retired(None, date(2025, 8, 1), Outcome::ReusedInternally),
            // 2026: one eligible, recycled: 0 %, not met.
            retired(Some(date(2022, 1, 1)), date(2026, 1, 5), Outcome::Recycled),
        ]);
        let years: Vec<i16> = report.iter().map(|y| y.year).collect();
        assert_eq!(years, [2024, 2025, 2026]);
        let (y2024, y2025, y2026) = (&report[0], &report[1], &report[2]);
        assert_eq!((y2024.eligible, y2024.target, y2024.met), (1, None, None));
        assert_eq!(
            (
                y2025.retired,
                y2025.eligible,
                y2025.eligible_reused,
                y2025.undated
            ),
            (7, 4, 2, 1)
        );
        assert_eq!(
            (y2025.share, y2025.target, y2025.met),
            (Some(0.5), Some(0.5), Some(true))
        );
        assert_eq!(y2025.by_outcome["recycled"], 3);
        assert_eq!(y2025.by_outcome["reused_internally"], 1);
        assert_eq!((y2026.share, y2026.met), (Some(0.0), Some(false)));
    }

    #[test]
    fn outcomes_read_back_from_their_names() {
        for outcome in Outcome::ALL {
            assert_eq!(Outcome::parse(outcome.name()), Some(outcome));
        }
        assert_eq!(Outcome::parse("thrown away"), None);
        assert!(!Outcome::Recycled.is_reuse() && Outcome::Donated.is_reuse());
    }
}
