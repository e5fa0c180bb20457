//! The fleet's footprint: embodied kgCO2e and its yearly share, what done
//! suggestions and longer lifetimes avoided, ages, and the renewals to
//! budget over the next four quarters.

use std::collections::BTreeMap;

use jiff::ToSpan;
use jiff::civil::Date;
use serde::Serialize;

use super::embodied::Embodied;
use super::{Category, DeviceFacts, device_footprint, footprints};

/// A figure with its range and source, as every carbon figure is shown.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Range {
    pub value: f64,
    pub low: f64,
    pub high: f64,
}

impl Range {
    fn add(&mut self, value: f64, low: f64, high: f64) {
        self.value += value;
        self.low += low;
        self.high += high;
    }

    fn rounded(mut self) -> Self {
        self.value = (self.value * 10.0).round() / 10.0;
        self.low = (self.low * 10.0).round() / 10.0;
        self.high = (self.high * 10.0).round() / 10.0;
        self
    }
}

/// Renewals falling due in one quarter.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Quarter {
    /// `2027-Q1`.
    pub quarter: String,
    pub devices: u64,
    /// At the asset register's prices, else the configured defaults.
    pub cost_eur: f64,
    pub by_category: BTreeMap<String, u64>,
}

/// `/api/v1/impact`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Impact {
    pub devices: u64,
    pub by_category: BTreeMap<String, u64>,
    pub by_department: BTreeMap<String, u64>,
    /// Devices per department, then category.
    pub by_department_category: BTreeMap<String, BTreeMap<String, u64>>,
    /// Reclaimable storage in bytes by kind, over the devices whose last
    /// scan reported it: `duplicates` may overlap the other kinds, which
    /// are disjoint.
    pub reclaimable_bytes: BTreeMap<String, i64>,
    /// Devices whose storage scan is counted in `reclaimable_bytes`.
    pub scanned_devices: u64,
    /// Manufacturing footprint of the devices in use.
    pub embodied_kgco2e: Range,
    /// Its share per year of life (embodied / lifetime).
    pub embodied_kgco2e_per_year: Range,
    /// Avoided by suggestions marked done.
    pub avoided_by_done_kgco2e: Range,
    pub done_suggestions: u64,
    /// Per year, by devices kept past their category's lifetime:
    /// embodied/lifetime − embodied/age.
    pub avoided_by_extension_kgco2e_per_year: Range,
    /// Devices by whole years of age (`10+` last); `unknown` when no age.
    pub age_histogram: BTreeMap<String, u64>,
    /// Devices already past their lifetime.
    pub overdue_devices: u64,
    /// The next four quarters.
    pub renewal_forecast: Vec<Quarter>,
    /// Sources of the category rows in use, by category.
    pub sources: BTreeMap<String, String>,
    /// Devices by where their footprint comes from: `register` (pinned by
    /// the organisation), `model` (the manufacturer's report, matched),
    /// `category`.
    pub footprint_basis: BTreeMap<String, u64>,
    /// Sources of the model rows in use, by vendor and model as reported.
    pub model_sources: BTreeMap<String, String>,
    /// The version of the factor set these figures come from.
    pub factor_set: String,
}

/// A done suggestion's avoided figures.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DoneAvoided {
    pub value: f64,
    pub low: f64,
    pub high: f64,
}

fn quarter_of(date: Date) -> (i16, i8) {
    (date.year(), (date.month() - 1) / 3 + 1)
}

/// Computes the fleet's impact on `today`.
pub fn impact(
    devices: &[DeviceFacts],
    done: &[DoneAvoided],
    embodied: &Embodied,
    default_price_eur: &BTreeMap<String, f64>,
    today: Date,
) -> Impact {
    let footprints = footprints(embodied);
    let mut result = Impact {
        devices: 0,
        by_category: BTreeMap::new(),
        by_department: BTreeMap::new(),
        by_department_category: BTreeMap::new(),
        reclaimable_bytes: BTreeMap::new(),
        scanned_devices: 0,
        embodied_kgco2e: Range::default(),
        embodied_kgco2e_per_year: Range::default(),
        avoided_by_done_kgco2e: Range::default(),
        done_suggestions: done.len() as u64,
        avoided_by_extension_kgco2e_per_year: Range::default(),
        age_histogram: BTreeMap::new(),
        overdue_devices: 0,
        renewal_forecast: Vec::new(),
        sources: BTreeMap::new(),
        footprint_basis: BTreeMap::new(),
        model_sources: BTreeMap::new(),
        factor_set: embodied.version().to_owned(),
    };
    let mut quarters: Vec<(i16, i8)> = Vec::new();
    let mut current = today;
    for _ in 0..4 {
        quarters.push(quarter_of(current));
        current = current.saturating_add(3.months());
    }
    let mut forecast: BTreeMap<(i16, i8), Quarter> = quarters
        .iter()
        .map(|&(year, q)| {
            (
                (year, q),
                Quarter {
                    quarter: format!("{year}-Q{q}"),
                    devices: 0,
                    cost_eur: 0.0,
                    by_category: BTreeMap::new(),
                },
            )
        })
        .collect();
    for device in devices {
        let Some((category, monitor)) = Category::from_name(&device.category) else {
            continue;
        };
        let Some(row) = footprints.get(&(category, monitor)) else {
            continue;
        };
        let Some(footprint) = device_footprint(embodied, &footprints, device, category, monitor)
        else {
            continue;
        };
        result.devices += 1;
        *result
            .footprint_basis
            .entry(footprint.basis.name().to_owned())
            .or_default() += 1;
        if let super::embodied::Basis::Model { .. } = footprint.basis {
            result.model_sources.insert(
                format!(
                    "{} {}",
                    device.vendor.as_deref().unwrap_or(""),
                    device.model.as_deref().unwrap_or("")
                ),
                format!("{}; range: {}", footprint.source, footprint.source_range),
            );
        }
        *result
            .by_category
            .entry(category.name().to_owned())
            .or_default() += 1;
        *result
            .by_department
            .entry(device.department.clone())
            .or_default() += 1;
        *result
            .by_department_category
            .entry(device.department.clone())
            .or_default()
            .entry(category.name().to_owned())
            .or_default() += 1;
        if let Some(reclaimable) = device.reclaimable {
            result.scanned_devices += 1;
            for (kind, bytes) in reclaimable.by_kind() {
                *result.reclaimable_bytes.entry(kind.to_owned()).or_default() += bytes;
            }
        }
        result.sources.insert(
            category.name().to_owned(),
            format!("{}; range: {}", row.source, row.source_range),
        );
        let lifetime = footprint.lifetime_years;
        result.embodied_kgco2e.add(
            footprint.embodied_kgco2e,
            footprint.low_kgco2e,
            footprint.high_kgco2e,
        );
        result.embodied_kgco2e_per_year.add(
            footprint.embodied_kgco2e / lifetime,
            footprint.low_kgco2e / lifetime,
            footprint.high_kgco2e / lifetime,
        );
        let Some(age) = &device.age else {
            *result.age_histogram.entry("unknown".into()).or_default() += 1;
            continue;
        };
        let years = (f64::from((today - age.since).get_days()) / 365.25).max(0.0);
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let whole = years.floor() as u32;
        let bucket = if whole >= 10 {
            "10+".to_owned()
        } else {
            format!("{whole}")
        };
        *result.age_histogram.entry(bucket).or_default() += 1;
        if years >= lifetime {
            result.overdue_devices += 1;
            let saved = |e: f64| e / lifetime - e / years;
            result.avoided_by_extension_kgco2e_per_year.add(
                saved(footprint.embodied_kgco2e),
                saved(footprint.low_kgco2e),
                saved(footprint.high_kgco2e),
            );
        } else {
            #[allow(clippy::cast_possible_truncation)]
            let due = age
                .since
                .saturating_add(((lifetime * 365.25).round() as i64).days());
            if let Some(quarter) = forecast.get_mut(&quarter_of(due)) {
                quarter.devices += 1;
                quarter.cost_eur += device
                    .price_eur
                    .or_else(|| default_price_eur.get(category.name()).copied())
                    .unwrap_or(0.0);
                *quarter
                    .by_category
                    .entry(category.name().to_owned())
                    .or_default() += 1;
            }
        }
    }
    for d in done {
        result.avoided_by_done_kgco2e.add(d.value, d.low, d.high);
    }
    result.embodied_kgco2e = result.embodied_kgco2e.rounded();
    result.embodied_kgco2e_per_year = result.embodied_kgco2e_per_year.rounded();
    result.avoided_by_done_kgco2e = result.avoided_by_done_kgco2e.rounded();
    result.avoided_by_extension_kgco2e_per_year =
        result.avoided_by_extension_kgco2e_per_year.rounded();
    result.renewal_forecast = forecast
        .into_values()
        .map(|mut q| {
            q.cost_eur = q.cost_eur.round();
            q
        })
        .collect();
    result
}
