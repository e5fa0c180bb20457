//! The factor set: embodied carbon per device category, with its range,
//! lifetime and sources (`data/embodied_carbon.csv`: ADEME/Arcep via Impact
//! CO2, ADEME Base Empreinte, Boavizta; or an organisation's own file with
//! the same columns), and per model (Boavizta's manufacturer footprints,
//! [`super::models`]). A device's footprint is, first, the one its
//! organisation pinned in the asset register; else its model's, when the
//! match is confident enough; else its category's.

use std::collections::BTreeMap;

use super::models::{Catalogue, DEFAULT_THRESHOLD, Identity, ModelFootprint};

/// The reference data shipped with the collector.
pub const BUILT_IN: &str = include_str!("../../data/embodied_carbon.csv");

/// Where a footprint comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum Basis {
    /// The category's row.
    Category,
    /// The model's row in the manufacturer data, matched with this
    /// confidence.
    Model { confidence: f64 },
    /// Pinned by the organisation in its asset register.
    Register,
}

impl Basis {
    /// `category`, `model`, `register`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Category => "category",
            Self::Model { .. } => "model",
            Self::Register => "register",
        }
    }
}

/// One category's row, or one device's footprint.
#[derive(Debug, Clone, PartialEq)]
pub struct Footprint {
    pub embodied_kgco2e: f64,
    pub low_kgco2e: f64,
    pub high_kgco2e: f64,
    pub lifetime_years: f64,
    pub source: String,
    pub source_range: String,
    pub basis: Basis,
    /// Emissions of a year of use, from the category's row (its electricity
    /// on the grid the row assumes); `None` when the row gives none.
    pub use_kgco2e_per_year: Option<f64>,
    /// Electricity a year of use takes, from the model's report.
    pub yearly_kwh: Option<f64>,
}

impl Footprint {
    /// Emissions of a year of use: the model's electricity on `grid`
    /// (kgCO2e per kWh) when its report gives it, else the category's
    /// figure.
    pub fn yearly_use_kgco2e(&self, grid_kgco2e_per_kwh: f64) -> Option<f64> {
        self.yearly_kwh
            .map(|kwh| kwh * grid_kgco2e_per_kwh)
            .or(self.use_kgco2e_per_year)
    }
}

/// Rows by category name (`laptop`, `desktop`, `monitor`, `tablet`, …), the
/// per-model data, and the version of the whole.
#[derive(Debug, Clone)]
pub struct Embodied {
    rows: BTreeMap<String, Footprint>,
    models: Catalogue,
    /// `sha256:` and the first 12 hex digits of the files' digest: changes
    /// when an organisation replaces a file or the shipped data changes.
    version: String,
}

impl PartialEq for Embodied {
    fn eq(&self, other: &Self) -> bool {
        self.version == other.version
    }
}

/// A malformed reference file: which line and what.
#[derive(Debug, thiserror::Error)]
#[error("embodied carbon data, line {line}: {message}")]
pub struct EmbodiedError {
    pub line: usize,
    pub message: String,
}

/// Splits a CSV line, with double-quoted fields.
fn fields(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            ',' if !quoted => out.push(std::mem::take(&mut field)),
            _ => field.push(c),
        }
    }
    out.push(field);
    out
}

impl Embodied {
    /// The built-in data.
    pub fn built_in() -> Self {
        Self::parse(BUILT_IN).expect("the built-in embodied carbon data is valid")
    }

    /// Parses the category CSV; the per-model data is the built-in one.
    ///
    /// # Errors
    /// A missing column or a value that is not a positive number.
    pub fn parse(text: &str) -> Result<Self, EmbodiedError> {
        let mut embodied = Self::parse_categories(text)?;
        embodied.models = Catalogue::built_in();
        embodied.version = version(&[text, super::models::BUILT_IN, super::models::APPLE_MODELS]);
        Ok(embodied)
    }

    /// Replaces the per-model data (an organisation's copy of Boavizta's
    /// CSV, newer or amended), keeping the Apple identifier table.
    ///
    /// # Errors
    /// A missing column or a malformed line.
    pub fn with_models(
        mut self,
        categories: &str,
        models: &str,
    ) -> Result<Self, super::models::ModelsError> {
        self.models = Catalogue::parse(models, super::models::APPLE_MODELS)?;
        self.version = version(&[categories, models, super::models::APPLE_MODELS]);
        Ok(self)
    }

    /// The version of the factor set in effect.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The per-model data.
    pub fn models(&self) -> &Catalogue {
        &self.models
    }

    /// A device's footprint: the register's pinned value, else its model's
    /// when matched with enough confidence, else `category` (the category's
    /// row, with its monitor for an all-in-one). The lifetime is always
    /// the category's: the organisation's, not the report's.
    pub fn device(
        &self,
        category: &Footprint,
        identity: &Identity<'_>,
        pinned_kgco2e: Option<f64>,
    ) -> Footprint {
        if let Some(value) = pinned_kgco2e.filter(|v| v.is_finite() && *v > 0.0) {
            return Footprint {
                embodied_kgco2e: value,
                low_kgco2e: value,
                high_kgco2e: value,
                lifetime_years: category.lifetime_years,
                source: "the organisation's asset register".into(),
                source_range: "as pinned".into(),
                basis: Basis::Register,
                use_kgco2e_per_year: category.use_kgco2e_per_year,
                yearly_kwh: None,
            };
        }
        match self.models.lookup(identity) {
            Some(model) if model.confidence >= DEFAULT_THRESHOLD => {
                Self::of_model(category, &model)
            }
            _ => category.clone(),
        }
    }

    /// A model's footprint as a device's, the category's row giving what
    /// the model's report does not (lifetime, use when it has no kWh).
    pub fn of_model(category: &Footprint, model: &ModelFootprint) -> Footprint {
        Footprint {
            embodied_kgco2e: model.kgco2e,
            low_kgco2e: model.low_kgco2e,
            high_kgco2e: model.high_kgco2e,
            lifetime_years: category.lifetime_years,
            source: model.source(),
            source_range: if model.error_assumed {
                "± the category's median error ratio".into()
            } else {
                "± the report's error ratio".into()
            },
            basis: Basis::Model {
                confidence: model.confidence,
            },
            use_kgco2e_per_year: category.use_kgco2e_per_year,
            yearly_kwh: model.yearly_kwh,
        }
    }

    fn parse_categories(text: &str) -> Result<Self, EmbodiedError> {
        let mut lines = text.lines().enumerate();
        let header = lines
            .next()
            .map(|(_, l)| fields(l.trim_start_matches('\u{feff}')))
            .unwrap_or_default();
        let column = |name: &str| {
            header
                .iter()
                .position(|h| h.trim() == name)
                .ok_or(EmbodiedError {
                    line: 1,
                    message: format!("no column {name}"),
                })
        };
        let category = column("category")?;
        let embodied = column("embodied_kgco2e")?;
        let low = column("low_kgco2e")?;
        let high = column("high_kgco2e")?;
        let lifetime = column("lifetime_years")?;
        let source = column("source_default")?;
        let source_range = column("source_range")?;
        // Optional: rows of an organisation's own file may leave it out.
        let use_per_year = header
            .iter()
            .position(|h| h.trim() == "use_kgco2e_per_year");
        let mut rows = BTreeMap::new();
        for (index, line) in lines {
            if line.trim().is_empty() {
                continue;
            }
            let values = fields(line);
            let get = |i: usize| values.get(i).map_or("", |v| v.trim());
            let number = |i: usize, name: &str| {
                get(i)
                    .parse::<f64>()
                    .ok()
                    .filter(|v| v.is_finite() && *v > 0.0)
                    .ok_or_else(|| EmbodiedError {
                        line: index + 1,
                        message: format!("{name} {:?} is not a positive number", get(i)),
                    })
            };
            let row = Footprint {
                embodied_kgco2e: number(embodied, "embodied_kgco2e")?,
                low_kgco2e: number(low, "low_kgco2e")?,
                high_kgco2e: number(high, "high_kgco2e")?,
                lifetime_years: number(lifetime, "lifetime_years")?,
                source: get(source).to_owned(),
                source_range: get(source_range).to_owned(),
                basis: Basis::Category,
                use_kgco2e_per_year: match use_per_year {
                    Some(i) if !get(i).is_empty() => Some(number(i, "use_kgco2e_per_year")?),
                    _ => None,
                },
                yearly_kwh: None,
            };
            if !(row.low_kgco2e <= row.embodied_kgco2e && row.embodied_kgco2e <= row.high_kgco2e) {
                return Err(EmbodiedError {
                    line: index + 1,
                    message: "expected low ≤ embodied ≤ high".into(),
                });
            }
            rows.insert(get(category).to_owned(), row);
        }
        Ok(Self {
            rows,
            models: Catalogue::default(),
            version: String::new(),
        })
    }

    /// A category's row.
    pub fn get(&self, category: &str) -> Option<&Footprint> {
        self.rows.get(category)
    }
}

/// `sha256:` and the first 12 hex digits of the texts' digest.
fn version(texts: &[&str]) -> String {
    let mut context = ring::digest::Context::new(&ring::digest::SHA256);
    for text in texts {
        context.update(&(text.len() as u64).to_le_bytes());
        context.update(text.as_bytes());
    }
    let digest = context.finish();
    let hex: String = digest.as_ref()[..6]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256:{hex}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_rows_carry_their_ranges_and_sources() {
        let data = Embodied::built_in();
        let laptop = data.get("laptop").unwrap();
        assert!((laptop.embodied_kgco2e - 182.6).abs() < 1e-9);
        assert!((laptop.lifetime_years - 5.0).abs() < 1e-9);
        assert!(laptop.source.contains("ADEME"));
        assert!(data.get("desktop").is_some() && data.get("monitor").is_some());
    }

    #[test]
    fn a_devices_footprint_is_pinned_else_its_models_else_its_categorys() {
        let data = Embodied::built_in();
        let laptop = data.get("laptop").unwrap();
        let latitude = Identity {
            vendor: Some("Dell Inc."),
            model: Some("Latitude 5420"),
            family: Some("Latitude"),
            category: "laptop",
            disk_bytes: None,
        };
        // The manufacturer's report: 364 kgCO2e, 84.8 % of it manufacturing.
        let model = data.device(laptop, &latitude, None);
        assert!((model.embodied_kgco2e - 364.0 * 0.848).abs() < 1e-6);
        assert!(matches!(model.basis, Basis::Model { confidence } if confidence > 0.99));
        assert!(model.source.contains("Latitude 5420"), "{}", model.source);
        assert!((model.lifetime_years - laptop.lifetime_years).abs() < 1e-9);
        // A hand value wins over both.
        let pinned = data.device(laptop, &latitude, Some(250.0));
        assert_eq!(pinned.basis, Basis::Register);
        assert!((pinned.embodied_kgco2e - 250.0).abs() < 1e-9);
        // An unknown model: the category's row.
        let unknown = data.device(
            laptop,
            &Identity {
                model: Some("Latitude 9999"),
                ..latitude
            },
            None,
        );
        assert_eq!(&unknown, laptop);
    }

    #[test]
    fn the_version_changes_with_either_file() {
        let built_in = Embodied::built_in();
        assert!(built_in.version().starts_with("sha256:"));
        let own = Embodied::parse(&BUILT_IN.replace("182.6", "190")).unwrap();
        assert_ne!(own.version(), built_in.version());
        let models = Embodied::built_in()
            .with_models(
                BUILT_IN,
                &super::super::models::BUILT_IN.replace("364.0", "360.0"),
            )
            .unwrap();
        assert_ne!(models.version(), built_in.version());
        assert_eq!(Embodied::built_in().version(), built_in.version());
    }

    #[test]
    fn a_bad_file_names_the_line() {
        let error = Embodied::parse(
            "category,embodied_kgco2e,low_kgco2e,high_kgco2e,lifetime_years,source_default,source_range\nlaptop,abc,1,2,5,x,y\n",
        )
        .unwrap_err();
        assert_eq!(error.line, 2);
        assert!(error.message.contains("embodied_kgco2e"));
    }
}
