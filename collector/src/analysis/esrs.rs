//! The data points Sobrio supports for a CSRD sustainability statement
//! about end-user IT equipment: ESRS E1-6 (gross scope 3 emissions,
//! category 2, capital goods) and ESRS E5-4/E5-5 (resource inflows: devices
//! bought; outflows: devices retired, by what became of them), with the
//! method and sources each comes from.

use std::collections::BTreeMap;

use serde::Serialize;

use super::disposal::{Outcome, ReuseYear};
use super::impact::{Impact, Range};

/// The method note printed with every export.
pub const METHOD: &str = "Scope of the figures: the end-user devices Sobrio inventories \
(laptops, desktops, all-in-ones, tablets, thin clients) that are in the fleet today; devices \
retired before they were recorded are not included. E1-6: GHG Protocol scope 3 category 2 \
(capital goods): each device's manufacturing emissions fall in the year it was first used \
(the asset register's purchase date, else the agent's estimate). A device's manufacturing \
emissions are, in this order, the value the organisation pinned in its asset register, the \
manufacturing share of its model's product carbon footprint from the manufacturer's report \
(Boavizta environmental-footprint-data, ODbL 1.0) when the match is confident, else its \
category's figure (ADEME/Arcep via Impact CO2). The range is each report's error ratio or the \
category's published range. E5-4: devices first used in the year. E5-5: devices retired in \
the year, by outcome (reuse: reused internally, donated, sold for refurbishment; recycling).";

/// One data point.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DataPoint {
    /// `E1-6`, `E5-4`, `E5-5`.
    pub disclosure: &'static str,
    pub name: String,
    pub value: f64,
    pub low: Option<f64>,
    pub high: Option<f64>,
    pub unit: &'static str,
}

/// The export for one year.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Esrs {
    pub year: i16,
    /// The factor set's version the emissions come from.
    pub factor_set: String,
    pub method: &'static str,
    pub data_points: Vec<DataPoint>,
}

/// Why a year cannot be exported.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "no figures for {0}: the export covers the five years before this one and this one ({1}–{2})"
)]
pub struct YearOutOfRange(pub i16, pub i16, pub i16);

/// kgCO2e to tCO2e, to the kilogram.
fn tonnes(kg: f64) -> f64 {
    kg.round() / 1000.0
}

fn emissions(disclosure: &'static str, name: String, range: &Range) -> DataPoint {
    DataPoint {
        disclosure,
        name,
        value: tonnes(range.value),
        low: Some(tonnes(range.low)),
        high: Some(tonnes(range.high)),
        unit: "tCO2e",
    }
}

fn count(disclosure: &'static str, name: String, value: u64) -> DataPoint {
    #[allow(clippy::cast_precision_loss)]
    DataPoint {
        disclosure,
        name,
        value: value as f64,
        low: None,
        high: None,
        unit: "devices",
    }
}

/// The data points of `year`, from the impact and the disposal report.
///
/// # Errors
/// A year outside the impact's past years (no forecast is reported).
pub fn esrs(impact: &Impact, disposals: &[ReuseYear], year: i16) -> Result<Esrs, YearOutOfRange> {
    let past: Vec<_> = impact.accounting.iter().filter(|y| !y.forecast).collect();
    let (first, last) = (
        past.first().map_or(year, |y| y.year),
        past.last().map_or(year, |y| y.year),
    );
    let accounting = past
        .iter()
        .find(|y| y.year == year)
        .ok_or(YearOutOfRange(year, first, last))?;
    let mut points = vec![emissions(
        "E1-6",
        "Gross scope 3 GHG emissions, category 2 (capital goods): end-user IT equipment".into(),
        &accounting.total.capital_goods_kgco2e,
    )];
    for (category, views) in &accounting.by_category {
        points.push(emissions(
            "E1-6",
            format!("of which {category}"),
            &views.capital_goods_kgco2e,
        ));
    }
    points.push(count(
        "E5-4",
        "Resource inflows: end-user IT devices first used in the year".into(),
        accounting.total.devices_bought,
    ));
    for (category, views) in &accounting.by_category {
        points.push(count(
            "E5-4",
            format!("of which {category}"),
            views.devices_bought,
        ));
    }
    let retired = disposals.iter().find(|y| y.year == year);
    let total = retired.map_or(0, |y| y.retired);
    points.push(count(
        "E5-5",
        "Resource outflows: end-user IT devices retired in the year".into(),
        total,
    ));
    let by_outcome: BTreeMap<&str, u64> = Outcome::ALL
        .iter()
        .map(|o| {
            (
                o.name(),
                retired
                    .and_then(|y| y.by_outcome.get(o.name()).copied())
                    .unwrap_or(0),
            )
        })
        .collect();
    for outcome in Outcome::ALL {
        let n = by_outcome[outcome.name()];
        points.push(count("E5-5", format!("of which {}", outcome.name()), n));
        #[allow(clippy::cast_precision_loss)]
        let share = if total > 0 {
            n as f64 / total as f64
        } else {
            0.0
        };
        points.push(DataPoint {
            disclosure: "E5-5",
            name: format!("share {}", outcome.name()),
            value: (share * 1000.0).round() / 1000.0,
            low: None,
            high: None,
            unit: "share",
        });
    }
    Ok(Esrs {
        year,
        factor_set: impact.factor_set.clone(),
        method: METHOD,
        data_points: points,
    })
}

/// The data points as CSV rows: disclosure, data point, value, low, high,
/// unit (the method note goes beside it).
pub fn csv_rows(report: &Esrs) -> Vec<[String; 6]> {
    let optional = |v: Option<f64>| v.map_or(String::new(), |v| v.to_string());
    report
        .data_points
        .iter()
        .map(|p| {
            [
                p.disclosure.to_owned(),
                p.name.clone(),
                p.value.to_string(),
                optional(p.low),
                optional(p.high),
                p.unit.to_owned(),
            ]
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::disposal::{Disposal, reuse_report};
    use crate::analysis::embodied::Embodied;
    use crate::analysis::{Age, DeviceFacts};
    use jiff::civil::date;

    #[test]
    fn a_year_gives_its_capital_goods_inflows_and_outflows() {
        let bought = |since| DeviceFacts {
            department: "Finance".into(),
            category: "laptop".into(),
            age: Some(Age {
                since,
                provenance: "asset_register".into(),
            }),
            ..DeviceFacts::default()
        };
        let impact = crate::analysis::impact::impact(
            &[
                bought(date(2025, 3, 1)),
                bought(date(2025, 9, 1)),
                bought(date(2024, 1, 1)),
            ],
            &[],
            &[],
            0,
            &Embodied::built_in(),
            &BTreeMap::new(),
            date(2026, 12, 3),
        );
        let disposals = reuse_report(&[
            Disposal {
                category: "laptop".into(),
                first_use: Some(date(2019, 1, 1)),
                retired_on: date(2025, 4, 1),
                outcome: Outcome::Donated,
            },
            Disposal {
                category: "laptop".into(),
                first_use: Some(date(2018, 1, 1)),
                retired_on: date(2025, 5, 1),
                outcome: Outcome::Recycled,
            },
        ]);
        let report = esrs(&impact, &disposals, 2025).unwrap();
        let point = |name: &str| {
            report
                .data_points
                .iter()
                .find(|p| p.name.starts_with(name))
                .unwrap_or_else(|| panic!("{name}: {:#?}", report.data_points))
        };
        let scope3 = point("Gross scope 3");
        assert!((scope3.value - 2.0 * 0.1826).abs() < 1e-3, "{scope3:?}");
        assert_eq!(scope3.unit, "tCO2e");
        assert!(scope3.low.unwrap() <= scope3.value && scope3.value <= scope3.high.unwrap());
        assert!((point("Resource inflows").value - 2.0).abs() < 1e-9);
        assert!((point("Resource outflows").value - 2.0).abs() < 1e-9);
        assert!((point("share donated").value - 0.5).abs() < 1e-9);
        assert!((point("share recycled").value - 0.5).abs() < 1e-9);
        assert!(report.factor_set.starts_with("sha256:"));
        assert_eq!(csv_rows(&report).len(), report.data_points.len());
        assert_eq!(
            esrs(&impact, &disposals, 2027).unwrap_err(),
            YearOutOfRange(2027, 2021, 2026)
        );
    }
}
