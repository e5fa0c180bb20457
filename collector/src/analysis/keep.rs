//! Keep or replace: for a device past its lifetime, the break-even against
//! the device that would replace it. Building the replacement emits its
//! manufacturing footprint at once; keeping the old one costs only the
//! electricity it uses beyond what the replacement would. The break-even is
//! the years of keeping it after which that extra electricity equals what
//! building the replacement emits: before it, keeping emits less.
//!
//! The replacement is the category's row, or a model of the per-model data
//! the organisation names (`[analysis] replacement_models`). A year of use
//! is the model's electricity (`yearly_tec`) on the configured grid
//! (`grid_kgco2e_per_kwh`) where its report gives it, else the category's
//! figure. Both sides then rest on assumptions of similar use; the README
//! says so.

use std::collections::BTreeMap;

use serde::Serialize;

use super::embodied::{Embodied, Footprint};
use super::{AnalysisSettings, Category};

/// The device each category is replaced with, when the organisation names
/// one; the others are replaced by their category's row.
#[derive(Debug, Clone, Default)]
pub struct Replacements {
    by_category: BTreeMap<Category, Footprint>,
}

/// A configured replacement model the data does not hold.
#[derive(Debug, thiserror::Error)]
#[error(
    "analysis.replacement_models.{category}: no model {name:?} in the per-model data; \
     write it as the data set does (\"Dell Latitude 5440\" or \"Latitude 5440\")"
)]
pub struct UnknownModel {
    pub category: String,
    pub name: String,
}

impl Replacements {
    /// The configured replacements, each looked up in `embodied`'s models.
    ///
    /// # Errors
    /// A category the analysis does not know, or a model not in the data.
    pub fn resolve(embodied: &Embodied, settings: &AnalysisSettings) -> Result<Self, UnknownModel> {
        let mut by_category = BTreeMap::new();
        for (name, model) in &settings.replacement_models {
            let unknown = || UnknownModel {
                category: name.clone(),
                name: model.clone(),
            };
            let (category, _) = Category::from_name(name).ok_or_else(unknown)?;
            let row = embodied.get(category.name()).ok_or_else(unknown)?;
            let found = embodied.models().named(model).ok_or_else(unknown)?;
            by_category.insert(category, Embodied::of_model(row, &found));
        }
        Ok(Self { by_category })
    }

    /// What replaces a device of `category` whose category's row is `row`.
    pub fn of<'a>(&'a self, category: Category, row: &'a Footprint) -> &'a Footprint {
        self.by_category.get(&category).unwrap_or(row)
    }
}

/// Keep or replace, for one device.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BreakEven {
    /// What building the replacement emits (kgCO2e), and from where.
    pub replacement_kgco2e: f64,
    pub replacement_source: String,
    /// What a year of keeping the old one emits beyond a year of the
    /// replacement (kgCO2e); zero or less when it uses no more.
    pub extra_use_kgco2e_per_year: f64,
    /// Years of keeping it before its extra electricity equals what building
    /// the replacement emits; `None` when it uses no more (keeping always
    /// emits less).
    pub years: Option<f64>,
}

impl BreakEven {
    /// The break-even of keeping a device of footprint `old` rather than
    /// building `replacement`, on `grid` (kgCO2e per kWh); `None` when the
    /// yearly use of either is unknown.
    pub fn of(old: &Footprint, replacement: &Footprint, grid: f64) -> Option<Self> {
        let extra = old.yearly_use_kgco2e(grid)? - replacement.yearly_use_kgco2e(grid)?;
        Some(Self {
            replacement_kgco2e: replacement.embodied_kgco2e,
            replacement_source: replacement.source.clone(),
            extra_use_kgco2e_per_year: extra,
            years: (extra > 1e-9).then(|| replacement.embodied_kgco2e / extra),
        })
    }

    /// The sentence a suggestion or a page shows.
    pub fn sentence(&self) -> String {
        match self.years {
            Some(years) => format!(
                "keep or replace: building its replacement emits {:.0} kgCO2e ({}); it uses \
                 {:.1} kgCO2e more a year than the replacement would, so keeping it emits less \
                 for {years:.0} more years",
                self.replacement_kgco2e, self.replacement_source, self.extra_use_kgco2e_per_year
            ),
            None => format!(
                "keep or replace: building its replacement emits {:.0} kgCO2e ({}); it uses no \
                 more electricity than the replacement would, so keeping it always emits less",
                self.replacement_kgco2e, self.replacement_source
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::embodied::Basis;

    fn footprint(kgco2e: f64, use_per_year: Option<f64>, kwh: Option<f64>) -> Footprint {
        Footprint {
            embodied_kgco2e: kgco2e,
            low_kgco2e: kgco2e,
            high_kgco2e: kgco2e,
            lifetime_years: 5.0,
            source: "test".into(),
            source_range: String::new(),
            basis: Basis::Category,
            use_kgco2e_per_year: use_per_year,
            yearly_kwh: kwh,
        }
    }

    #[test]
    fn the_break_even_is_the_replacement_s_manufacturing_over_the_extra_use() {
        // An old desktop drawing 300 kWh a year against a new one's 100, on
        // a 0.05 kgCO2e/kWh grid: 10 kgCO2e more a year against 250 to
        // build: 25 years.
        let old = footprint(200.0, Some(8.6), Some(300.0));
        let new = footprint(250.0, Some(8.6), Some(100.0));
        let even = BreakEven::of(&old, &new, 0.05).unwrap();
        assert!((even.extra_use_kgco2e_per_year - 10.0).abs() < 1e-9);
        assert!((even.years.unwrap() - 25.0).abs() < 1e-9);
        assert!(
            even.sentence().contains("for 25 more years"),
            "{}",
            even.sentence()
        );
        // The category's figure stands in where a report gives no kWh:
        // 8.6 against 100 kWh × 0.05 = 5.0, 3.6 more a year.
        let mixed = BreakEven::of(&footprint(200.0, Some(8.6), None), &new, 0.05).unwrap();
        assert!((mixed.years.unwrap() - 250.0 / 3.6).abs() < 1e-6);
        // The same figure on both sides: no extra use, keeping always wins.
        let same = BreakEven::of(
            &footprint(200.0, Some(8.6), None),
            &footprint(250.0, Some(8.6), None),
            0.05,
        )
        .unwrap();
        assert_eq!(same.years, None);
        assert!(same.sentence().contains("always emits less"));
        // Unknown use on either side: no break-even is claimed.
        assert_eq!(
            BreakEven::of(&footprint(200.0, None, None), &new, 0.05),
            None
        );
    }

    #[test]
    fn a_named_replacement_comes_from_the_data_set_and_a_wrong_name_is_refused() {
        let embodied = Embodied::built_in();
        let mut settings = AnalysisSettings::default();
        settings
            .replacement_models
            .insert("laptop".into(), "Dell Latitude 5490".into());
        let replacements = Replacements::resolve(&embodied, &settings).unwrap();
        let row = embodied.get("laptop").unwrap();
        let laptop = replacements.of(Category::Laptop, row);
        assert!(laptop.source.contains("Latitude 5490"), "{}", laptop.source);
        assert!(laptop.yearly_kwh.is_some());
        // Desktops keep their category's row.
        let desktop_row = embodied.get("desktop").unwrap();
        assert_eq!(replacements.of(Category::Desktop, desktop_row), desktop_row);
        settings
            .replacement_models
            .insert("laptop".into(), "Dell Latitude 9999 Ultra".into());
        let refused = Replacements::resolve(&embodied, &settings).unwrap_err();
        assert!(
            refused.to_string().contains("replacement_models.laptop"),
            "{refused}"
        );
    }
}
