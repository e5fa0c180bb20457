//! The yearly report: one calendar year of the fleet's footprint in both
//! accounting views, what decisions avoided that year (from the ledger),
//! the lifetimes the devices retired that year reached, and the share of
//! them that went to reuse — the figures an organisation files or prints.

use std::collections::BTreeMap;

use serde::Serialize;

use super::Category;
use super::disposal::{Disposal, ReuseYear};
use super::embodied::Embodied;
use super::impact::{AccountingYear, Range};

/// A ledger entry as the report reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct Avoidance {
    /// `capital_goods` or `lifetime_allocation`.
    pub view: String,
    /// The suggestion's kind: `reuse`, `pool`, `repair`, `upgrade`, `extend`.
    pub kind: String,
    pub year: i64,
    pub kgco2e: f64,
    pub low: f64,
    pub high: f64,
}

/// The lifetimes the devices retired in a year reached.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Lifetimes {
    pub retired: u64,
    /// Of them, those whose first day of use is known.
    pub dated: u64,
    /// Of the dated ones, those kept at least their category's lifetime.
    pub reached: u64,
    /// The median years of use of the dated ones.
    pub median_years: Option<f64>,
    /// Per category: (retired and dated, reached, the category's lifetime
    /// in years).
    pub by_category: BTreeMap<String, (u64, u64, f64)>,
}

/// One year's report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct YearlyReport {
    pub year: i16,
    /// The year's footprint in both views; `None` outside the years the
    /// impact covers.
    pub accounting: Option<AccountingYear>,
    /// What decisions of that year avoided, standing (entries less their
    /// reversals), by view.
    pub avoided: BTreeMap<String, Range>,
    /// The same, by view, then kind of suggestion.
    pub avoided_by_kind: BTreeMap<String, BTreeMap<String, f64>>,
    pub lifetimes: Lifetimes,
    /// The disposal report's year; `None` when nothing was retired.
    pub reuse: Option<ReuseYear>,
    pub factor_set: String,
}

/// The report of `year` from the impact's accounting years, the ledger,
/// the disposals and their report, and the factor set in use.
pub fn yearly_report(
    year: i16,
    accounting: &[AccountingYear],
    ledger: &[Avoidance],
    disposals: &[Disposal],
    reuse: &[ReuseYear],
    embodied: &Embodied,
) -> YearlyReport {
    let mut avoided: BTreeMap<String, Range> = BTreeMap::new();
    let mut avoided_by_kind: BTreeMap<String, BTreeMap<String, f64>> = BTreeMap::new();
    for entry in ledger.iter().filter(|e| e.year == i64::from(year)) {
        let range = avoided.entry(entry.view.clone()).or_default();
        range.value += entry.kgco2e;
        range.low += entry.low;
        range.high += entry.high;
        *avoided_by_kind
            .entry(entry.view.clone())
            .or_default()
            .entry(entry.kind.clone())
            .or_default() += entry.kgco2e;
    }
    for range in avoided.values_mut() {
        for value in [&mut range.value, &mut range.low, &mut range.high] {
            *value = (*value * 10.0).round() / 10.0;
        }
    }
    YearlyReport {
        year,
        accounting: accounting.iter().find(|a| a.year == year).cloned(),
        avoided,
        avoided_by_kind,
        lifetimes: lifetimes(year, disposals, embodied),
        reuse: reuse.iter().find(|r| r.year == year).cloned(),
        factor_set: embodied.version().to_owned(),
    }
}

/// The lifetimes reached by the devices retired in `year`.
fn lifetimes(year: i16, disposals: &[Disposal], embodied: &Embodied) -> Lifetimes {
    let mut report = Lifetimes::default();
    let mut years_of_use = Vec::new();
    for disposal in disposals.iter().filter(|d| d.retired_on.year() == year) {
        report.retired += 1;
        let Some(first_use) = disposal.first_use else {
            continue;
        };
        report.dated += 1;
        #[allow(clippy::cast_precision_loss)]
        let years = (disposal.retired_on - first_use).get_days() as f64 / 365.25;
        years_of_use.push(years);
        let lifetime = Category::from_name(&disposal.category)
            .and_then(|(category, _)| embodied.get(category.name()))
            .map(|row| row.lifetime_years);
        if let Some(lifetime) = lifetime {
            let entry = report
                .by_category
                .entry(disposal.category.clone())
                .or_insert((0, 0, lifetime));
            entry.0 += 1;
            if years + 1e-9 >= lifetime {
                entry.1 += 1;
                report.reached += 1;
            }
        }
    }
    years_of_use.sort_by(f64::total_cmp);
    report.median_years = years_of_use
        .get(years_of_use.len() / 2)
        .map(|y| (y * 10.0).round() / 10.0);
    report
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::disposal::{Outcome, reuse_report};
    use jiff::civil::date;

    fn entry(view: &str, kind: &str, year: i64, kgco2e: f64) -> Avoidance {
        Avoidance {
            view: view.into(),
            kind: kind.into(),
            year,
            kgco2e,
            low: kgco2e * 0.8,
            high: kgco2e * 1.2,
        }
    }

    #[test]
    fn a_year_gathers_its_ledger_its_retirements_and_their_lifetimes() {
        let embodied = Embodied::built_in();
        let ledger = [
            entry("capital_goods", "reuse", 2026, 204.4),
            entry("capital_goods", "pool", 2026, 182.6),
            // A reuse undone the same year: its reversal cancels it.
            entry("capital_goods", "reuse", 2026, 182.6),
            entry("capital_goods", "reuse", 2026, -182.6),
            entry("lifetime_allocation", "extend", 2026, 7.3),
            // Another year's decision.
            entry("capital_goods", "repair", 2025, 182.6),
        ];
        let disposals = [
            // A laptop kept 6 years (lifetime 5): reached.
            Disposal {
                category: "laptop".into(),
                first_use: Some(date(2020, 3, 1)),
                retired_on: date(2026, 3, 2),
                outcome: Outcome::Donated,
            },
            // A desktop kept 4 years (lifetime 6): not reached.
            Disposal {
                category: "desktop".into(),
                first_use: Some(date(2022, 5, 1)),
                retired_on: date(2026, 5, 1),
                outcome: Outcome::Recycled,
            },
            // Undated: retired, not counted for lifetimes.
            Disposal {
                category: "laptop".into(),
                first_use: None,
                retired_on: date(2026, 9, 1),
                outcome: Outcome::SoldRefurbished,
            },
            Disposal {
                category: "laptop".into(),
                first_use: Some(date(2015, 1, 1)),
                retired_on: date(2025, 6, 1),
                outcome: Outcome::Recycled,
            },
        ];
        let report = yearly_report(
            2026,
            &[],
            &ledger,
            &disposals,
            &reuse_report(&disposals),
            &embodied,
        );
        assert_eq!(report.avoided["capital_goods"].value, 387.0);
        assert_eq!(report.avoided["lifetime_allocation"].value, 7.3);
        let capital = &report.avoided_by_kind["capital_goods"];
        assert!((capital["reuse"] - 204.4).abs() < 1e-9);
        assert!(!capital.contains_key("repair"), "another year's decision");
        assert_eq!(
            (
                report.lifetimes.retired,
                report.lifetimes.dated,
                report.lifetimes.reached
            ),
            (3, 2, 1)
        );
        assert_eq!(report.lifetimes.by_category["laptop"], (1, 1, 5.0));
        assert_eq!(report.lifetimes.by_category["desktop"], (1, 0, 6.0));
        let reuse = report.reuse.unwrap();
        assert_eq!((reuse.retired, reuse.eligible), (3, 2));
        assert!(report.accounting.is_none());
        assert!(report.factor_set.starts_with("sha256:"));
    }
}
