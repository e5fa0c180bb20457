//! Embodied carbon per device category, with its range, lifetime and
//! sources: `data/embodied_carbon.csv` (ADEME/Arcep via Impact CO2, ADEME
//! Base Empreinte, Boavizta), or an organisation's own file with the same
//! columns.

use std::collections::BTreeMap;

/// The reference data shipped with the collector.
pub const BUILT_IN: &str = include_str!("../../data/embodied_carbon.csv");

/// One category's row.
#[derive(Debug, Clone, PartialEq)]
pub struct Footprint {
    pub embodied_kgco2e: f64,
    pub low_kgco2e: f64,
    pub high_kgco2e: f64,
    pub lifetime_years: f64,
    pub source: String,
    pub source_range: String,
}

/// Rows by category name (`laptop`, `desktop`, `monitor`, `tablet`, …).
#[derive(Debug, Clone, PartialEq)]
pub struct Embodied {
    rows: BTreeMap<String, Footprint>,
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

    /// Parses the CSV.
    ///
    /// # Errors
    /// A missing column or a value that is not a positive number.
    pub fn parse(text: &str) -> Result<Self, EmbodiedError> {
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
            };
            if !(row.low_kgco2e <= row.embodied_kgco2e && row.embodied_kgco2e <= row.high_kgco2e) {
                return Err(EmbodiedError {
                    line: index + 1,
                    message: "expected low ≤ embodied ≤ high".into(),
                });
            }
            rows.insert(get(category).to_owned(), row);
        }
        Ok(Self { rows })
    }

    /// A category's row.
    pub fn get(&self, category: &str) -> Option<&Footprint> {
        self.rows.get(category)
    }
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
    fn a_bad_file_names_the_line() {
        let error = Embodied::parse(
            "category,embodied_kgco2e,low_kgco2e,high_kgco2e,lifetime_years,source_default,source_range\nlaptop,abc,1,2,5,x,y\n",
        )
        .unwrap_err();
        assert_eq!(error.line, 2);
        assert!(error.message.contains("embodied_kgco2e"));
    }
}
