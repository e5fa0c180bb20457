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
    /// Avoided by suggestions marked done, from the ledger: replacements
    /// not built (capital goods view).
    pub avoided_by_done_kgco2e: Range,
    /// Avoided per year by extensions marked done, from the ledger
    /// (lifetime allocation view).
    pub avoided_by_done_kgco2e_per_year: Range,
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
    /// The five years before this one, this one and the coming one, in
    /// both accounting views.
    pub accounting: Vec<AccountingYear>,
    /// Devices without a first day of use, left out of `accounting`.
    pub undated_devices: u64,
}

/// One year's manufacturing emissions in both accounting views.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Views {
    /// GHG Protocol scope 3, category 2 (capital goods): a device's
    /// manufacturing falls entirely in the year it was bought.
    pub capital_goods_kgco2e: Range,
    /// Lifetime allocation: a device's manufacturing spread evenly over its
    /// category's lifetime from its first day of use, day by day.
    pub lifetime_allocation_kgco2e: Range,
    /// Devices bought that year.
    pub devices_bought: u64,
}

impl Views {
    fn rounded(mut self) -> Self {
        self.capital_goods_kgco2e = self.capital_goods_kgco2e.rounded();
        self.lifetime_allocation_kgco2e = self.lifetime_allocation_kgco2e.rounded();
        self
    }
}

/// One calendar year of the fleet's footprint, in both views, in total, by
/// category and by department.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AccountingYear {
    pub year: i16,
    /// The coming year: its capital goods are the renewals falling due in
    /// it, each replaced by its category's row; a forecast.
    pub forecast: bool,
    pub total: Views,
    pub by_category: BTreeMap<String, Views>,
    pub by_department: BTreeMap<String, Views>,
}

/// Adds `footprint` × `share` to a range.
fn add_share(range: &mut Range, footprint: &super::embodied::Footprint, share: f64) {
    range.add(
        footprint.embodied_kgco2e * share,
        footprint.low_kgco2e * share,
        footprint.high_kgco2e * share,
    );
}

/// The share of a lifetime starting on `since` that falls within `year`.
fn year_share(since: Date, lifetime_years: f64, year: i16) -> f64 {
    let (Ok(first), Ok(next)) = (
        Date::new(year, 1, 1),
        Date::new(year.saturating_add(1), 1, 1),
    ) else {
        return 0.0;
    };
    // Days from the first day of the year.
    let days = lifetime_years * 365.25;
    let start = f64::from((since - first).get_days());
    let end = start + days;
    let (year_start, year_end) = (0.0, f64::from((next - first).get_days()));
    ((end.min(year_end) - start.max(year_start)).max(0.0) / days).clamp(0.0, 1.0)
}

/// Adds a device bought on `device.age` to the accounting `years`: its
/// footprint in the year it was bought (capital goods) and its share of each
/// year of its lifetime (lifetime allocation). A device in service also
/// counts in the coming year's forecast when it falls due then, replaced by
/// `replacement`; a retired one (no replacement) does not. Returns the day
/// it reaches its lifetime.
fn account(
    years: &mut BTreeMap<i16, AccountingYear>,
    device: &DeviceFacts,
    category: Category,
    footprint: &super::embodied::Footprint,
    replacement: Option<&super::embodied::Footprint>,
) -> Date {
    let lifetime = footprint.lifetime_years;
    let since = device.age.as_ref().map_or(Date::ZERO, |age| age.since);
    #[allow(clippy::cast_possible_truncation)]
    let due = since.saturating_add(((lifetime * 365.25).round() as i64).days());
    for (year, entry) in years.iter_mut() {
        let share = year_share(since, lifetime, *year);
        // Bought that year (the coming year: replaced that year).
        let bought = if entry.forecast {
            replacement.filter(|_| due.year() == *year)
        } else {
            (since.year() == *year).then_some(footprint)
        };
        let views = [
            &mut entry.total,
            entry
                .by_category
                .entry(category.name().to_owned())
                .or_default(),
            entry
                .by_department
                .entry(device.department.clone())
                .or_default(),
        ];
        for views in views {
            add_share(&mut views.lifetime_allocation_kgco2e, footprint, share);
            if let Some(bought) = bought {
                add_share(&mut views.capital_goods_kgco2e, bought, 1.0);
                views.devices_bought += 1;
            }
        }
    }
    due
}

/// What done suggestions avoided in one view, from the ledger.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DoneAvoided {
    /// An extension's yearly share (lifetime allocation) rather than a
    /// replacement not built (capital goods).
    pub lifetime_allocation: bool,
    pub value: f64,
    pub low: f64,
    pub high: f64,
}

fn quarter_of(date: Date) -> (i16, i8) {
    (date.year(), (date.month() - 1) / 3 + 1)
}

/// Computes the fleet's impact on `today`. `retired` devices (with the
/// facts their disposal kept) count in the accounting years only: bought
/// in their year, their lifetime's shares in the years it spans, so that
/// both views add up to the same total over the fleet's history.
pub fn impact(
    devices: &[DeviceFacts],
    retired: &[DeviceFacts],
    done: &[DoneAvoided],
    done_suggestions: u64,
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
        done_suggestions,
        avoided_by_done_kgco2e_per_year: Range::default(),
        avoided_by_extension_kgco2e_per_year: Range::default(),
        age_histogram: BTreeMap::new(),
        overdue_devices: 0,
        renewal_forecast: Vec::new(),
        sources: BTreeMap::new(),
        footprint_basis: BTreeMap::new(),
        model_sources: BTreeMap::new(),
        factor_set: embodied.version().to_owned(),
        accounting: Vec::new(),
        undated_devices: 0,
    };
    let first_year = today.year() - 5;
    let coming = today.year() + 1;
    let mut years: BTreeMap<i16, AccountingYear> = (first_year..=coming)
        .map(|year| {
            (
                year,
                AccountingYear {
                    year,
                    forecast: year == coming,
                    total: Views::default(),
                    by_category: BTreeMap::new(),
                    by_department: BTreeMap::new(),
                },
            )
        })
        .collect();
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
        let footprint = device_footprint(embodied, row, device);
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
            result.undated_devices += 1;
            continue;
        };
        let due = account(&mut years, device, category, &footprint, Some(row));
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
        } else if let Some(quarter) = forecast.get_mut(&quarter_of(due)) {
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
    for device in retired {
        let Some((category, monitor)) = Category::from_name(&device.category) else {
            continue;
        };
        let (Some(row), Some(_)) = (footprints.get(&(category, monitor)), &device.age) else {
            continue;
        };
        let footprint = device_footprint(embodied, row, device);
        account(&mut years, device, category, &footprint, None);
    }
    for d in done {
        if d.lifetime_allocation {
            result
                .avoided_by_done_kgco2e_per_year
                .add(d.value, d.low, d.high);
        } else {
            result.avoided_by_done_kgco2e.add(d.value, d.low, d.high);
        }
    }
    result.avoided_by_done_kgco2e_per_year = result.avoided_by_done_kgco2e_per_year.rounded();
    result.embodied_kgco2e = result.embodied_kgco2e.rounded();
    result.embodied_kgco2e_per_year = result.embodied_kgco2e_per_year.rounded();
    result.avoided_by_done_kgco2e = result.avoided_by_done_kgco2e.rounded();
    result.avoided_by_extension_kgco2e_per_year =
        result.avoided_by_extension_kgco2e_per_year.rounded();
    result.accounting = years
        .into_values()
        .map(|mut year| {
            year.total = year.total.rounded();
            year.by_category = std::mem::take(&mut year.by_category)
                .into_iter()
                .map(|(k, v)| (k, v.rounded()))
                .collect();
            year.by_department = std::mem::take(&mut year.by_department)
                .into_iter()
                .map(|(k, v)| (k, v.rounded()))
                .collect();
            year
        })
        .collect();
    result.renewal_forecast = forecast
        .into_values()
        .map(|mut q| {
            q.cost_eur = q.cost_eur.round();
            q
        })
        .collect();
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::Age;

    fn device(department: &str, category: &str, since: Option<Date>) -> DeviceFacts {
        DeviceFacts {
            device_id: format!("{department}-{category}-{since:?}"),
            department: department.into(),
            category: category.into(),
            age: since.map(|since| Age {
                since,
                provenance: "asset_register".into(),
            }),
            ..DeviceFacts::default()
        }
    }

    fn year(impact: &Impact, year: i16) -> &AccountingYear {
        impact.accounting.iter().find(|y| y.year == year).unwrap()
    }

    #[test]
    fn both_views_sum_as_they_should_over_a_fleets_history() {
        let embodied = Embodied::built_in();
        let today = jiff::civil::date(2026, 12, 3);
        let latitude = DeviceFacts {
            vendor: Some("Dell Inc.".into()),
            model: Some("Latitude 5420".into()),
            ..device("Sales", "laptop", Some(jiff::civil::date(2021, 6, 1)))
        };
        let devices = [
            // Its whole life (5 years) within the years shown.
            device("Audit", "laptop", Some(jiff::civil::date(2022, 1, 1))),
            latitude,
            device("Finance", "desktop", Some(jiff::civil::date(2024, 3, 1))),
            // Bought before the years shown, past its lifetime since 2024.
            device("Finance", "laptop", Some(jiff::civil::date(2019, 1, 1))),
            device("Finance", "laptop", None),
        ];
        let impact = impact(&devices, &[], &[], 0, &embodied, &BTreeMap::new(), today);
        let years: Vec<i16> = impact.accounting.iter().map(|y| y.year).collect();
        assert_eq!(years, (2021..=2027).collect::<Vec<_>>());
        assert_eq!(impact.undated_devices, 1);
        assert_eq!(impact.footprint_basis.get("model"), Some(&1));
        let latitude_kg: f64 = 364.0 * 0.848;
        // Capital goods: all of a device's manufacturing in its year of purchase.
        let capital = |y: i16| year(&impact, y).total.capital_goods_kgco2e.value;
        assert!((capital(2021) - (latitude_kg * 10.0).round() / 10.0).abs() < 0.05);
        assert!((capital(2022) - 182.6).abs() < 0.05);
        assert!((capital(2024) - 204.4).abs() < 0.05);
        assert!(capital(2023).abs() < 1e-9 && capital(2025).abs() < 1e-9);
        assert_eq!(year(&impact, 2022).total.devices_bought, 1);
        // Lifetime allocation: the Audit laptop's years add up to its
        // manufacturing, a fifth a year.
        let audit: Vec<f64> = impact
            .accounting
            .iter()
            .map(|y| {
                y.by_department
                    .get("Audit")
                    .map_or(0.0, |v| v.lifetime_allocation_kgco2e.value)
            })
            .collect();
        assert!((audit.iter().sum::<f64>() - 182.6).abs() < 0.2, "{audit:?}");
        assert!((audit[2] - 182.6 / 5.0).abs() < 0.2, "{audit:?}");
        // The laptop of 2019 still weighs in 2021–2023, not after.
        let finance_laptops = |y: i16| {
            year(&impact, y).by_department["Finance"]
                .lifetime_allocation_kgco2e
                .value
                - year(&impact, y)
                    .by_category
                    .get("desktop")
                    .map_or(0.0, |v| v.lifetime_allocation_kgco2e.value)
        };
        assert!(finance_laptops(2023) > 30.0 && finance_laptops(2025).abs() < 0.1);
        // Categories and departments each add up to the total.
        for y in &impact.accounting {
            let by_category: f64 = y
                .by_category
                .values()
                .map(|v| v.lifetime_allocation_kgco2e.value)
                .sum();
            let by_department: f64 = y
                .by_department
                .values()
                .map(|v| v.lifetime_allocation_kgco2e.value)
                .sum();
            let total = y.total.lifetime_allocation_kgco2e.value;
            assert!((by_category - total).abs() < 0.3, "{}", y.year);
            assert!((by_department - total).abs() < 0.3, "{}", y.year);
            assert!(y.total.capital_goods_kgco2e.low <= y.total.capital_goods_kgco2e.value);
        }
        // The coming year: the Audit laptop falls due and is replaced by its
        // category's row, a forecast.
        let coming = year(&impact, 2027);
        assert!(coming.forecast);
        assert!((coming.total.capital_goods_kgco2e.value - 182.6).abs() < 0.05);
    }

    #[test]
    fn a_retired_device_keeps_its_years_in_both_views_and_nothing_else() {
        let embodied = Embodied::built_in();
        let today = jiff::civil::date(2026, 12, 3);
        // Bought on 2022-01-01, retired in 2024: its five years still add
        // up to its manufacturing in both views, so the history does not
        // change when it leaves.
        let retired = device("Audit", "laptop", Some(jiff::civil::date(2022, 1, 1)));
        let with = impact(
            &[],
            std::slice::from_ref(&retired),
            &[],
            0,
            &embodied,
            &BTreeMap::new(),
            today,
        );
        let alone = impact(&[retired], &[], &[], 0, &embodied, &BTreeMap::new(), today);
        let sum = |i: &Impact, view: fn(&Views) -> f64| -> f64 {
            i.accounting
                .iter()
                .filter(|y| !y.forecast)
                .map(|y| view(&y.total))
                .sum()
        };
        let capital = |v: &Views| v.capital_goods_kgco2e.value;
        let lifetime = |v: &Views| v.lifetime_allocation_kgco2e.value;
        assert!((sum(&with, capital) - 182.6).abs() < 0.05);
        assert!((sum(&with, lifetime) - sum(&with, capital)).abs() < 0.2);
        for (a, b) in with
            .accounting
            .iter()
            .zip(&alone.accounting)
            .filter(|(a, _)| !a.forecast)
        {
            assert_eq!(a.total, b.total, "{}", a.year);
        }
        // Not in service: no count, no age, no renewal, no forecast.
        assert_eq!(with.devices, 0);
        assert!(with.age_histogram.is_empty());
        let coming = year(&with, 2027);
        assert_eq!(coming.total.devices_bought, 0);
    }
}
