//! The organisation's asset register: import from a spreadsheet's CSV, export
//! for GLPI and Snipe-IT.
//!
//! Import reads the header `serial,hostname,category,purchase_date,price_eur,
//! department,warranty_end,embodied_kgco2e` (any order; `serial` required, the rest optional),
//! comma- or semicolon-separated as French spreadsheet exports are, UTF-8 with
//! or without a BOM, ISO dates, prices with a decimal point or comma. Each row
//! is checked on its own: a bad row is reported with its line number and
//! reason and the others are imported. Importing the same file twice changes
//! nothing the second time.

use std::collections::HashMap;

use serde::Serialize;

use crate::app::now_unix_ms;
use crate::store::{AssetRow, Store, StoreError};

/// Categories the register accepts (those of the embodied-carbon data, plus
/// the chassis families agents report).
pub const CATEGORIES: [&str; 10] = [
    "laptop",
    "desktop",
    "all_in_one",
    "monitor",
    "smartphone",
    "tablet",
    "thin_client",
    "mini_pc",
    "server",
    "other",
];

/// Columns of the import file. `embodied_kgco2e` pins the device's
/// manufacturing footprint (from the manufacturer's own declaration, say):
/// it wins over its model's and its category's.
const COLUMNS: [&str; 8] = [
    "serial",
    "hostname",
    "category",
    "purchase_date",
    "price_eur",
    "department",
    "warranty_end",
    "embodied_kgco2e",
];

/// Errors that stop an import as a whole.
#[derive(Debug, thiserror::Error)]
pub enum AssetsError {
    #[error("the file is empty: expected the header {}", COLUMNS.join(","))]
    Empty,
    #[error("unknown column {0:?} in the header: expected some of {cols}", cols = COLUMNS.join(", "))]
    UnknownColumn(String),
    #[error("the header has no serial column: it identifies each asset")]
    NoSerial,
    #[error("line {line}: {source}")]
    Csv { line: u64, source: csv::Error },
    #[error("cannot write the export: {0}")]
    Write(std::io::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A row refused, with its line number (1 is the header).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RejectedRow {
    pub line: u64,
    pub reason: String,
}

/// What an import did (or would do, in a dry run).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ImportReport {
    /// Rows read (header excluded).
    pub rows: usize,
    /// New assets.
    pub created: usize,
    /// Known assets whose fields changed.
    pub updated: usize,
    /// Known assets already as the file says.
    pub unchanged: usize,
    /// Rows whose asset matches an enrolled device (by serial number, else
    /// host name).
    pub matched_devices: usize,
    pub rejected: Vec<RejectedRow>,
    pub dry_run: bool,
}

/// Valid rows with their line numbers, and the rows refused.
pub type ParsedRegister = (Vec<(u64, AssetRow)>, Vec<RejectedRow>);

/// Parses a register file into valid rows and rejections.
///
/// # Errors
/// When the header is missing or names an unknown column.
pub fn parse(bytes: &[u8], today: jiff::civil::Date) -> Result<ParsedRegister, AssetsError> {
    let text = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let first_line = text
        .split(|b| *b == b'\n')
        .next()
        .ok_or(AssetsError::Empty)?;
    if first_line.iter().all(u8::is_ascii_whitespace) {
        return Err(AssetsError::Empty);
    }
    let delimiter = if first_line.iter().filter(|b| **b == b';').count()
        > first_line.iter().filter(|b| **b == b',').count()
    {
        b';'
    } else {
        b','
    };
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text);
    let header = reader
        .headers()
        .map_err(|source| AssetsError::Csv { line: 1, source })?
        .clone();
    let mut index = HashMap::new();
    for (position, name) in header.iter().enumerate() {
        let name = name.to_ascii_lowercase();
        if !COLUMNS.contains(&name.as_str()) {
            return Err(AssetsError::UnknownColumn(name));
        }
        index.insert(name, position);
    }
    if !index.contains_key("serial") {
        return Err(AssetsError::NoSerial);
    }
    let mut rows = Vec::new();
    let mut rejected = Vec::new();
    for record in reader.records() {
        let (line, record) = match record {
            Ok(record) => (record.position().map_or(0, csv::Position::line), record),
            Err(error) => {
                let line = error.position().map_or(0, csv::Position::line);
                rejected.push(RejectedRow {
                    line,
                    reason: error.to_string(),
                });
                continue;
            }
        };
        let field = |name: &str| {
            index
                .get(name)
                .and_then(|i| record.get(*i))
                .map(str::trim)
                .filter(|v| !v.is_empty())
        };
        match row(&field, today) {
            Ok(asset) => rows.push((line, asset)),
            Err(reason) => rejected.push(RejectedRow { line, reason }),
        }
    }
    // A serial listed twice: the later line would silently win, so refuse it.
    let mut seen = HashMap::new();
    rows.retain(
        |(line, asset)| match seen.insert(asset.serial.clone(), *line) {
            None => true,
            Some(first) => {
                rejected.push(RejectedRow {
                    line: *line,
                    reason: format!("serial {:?} already given on line {first}", asset.serial),
                });
                false
            }
        },
    );
    rejected.sort_by_key(|r| r.line);
    Ok((rows, rejected))
}

fn row<'a>(
    field: &impl Fn(&str) -> Option<&'a str>,
    today: jiff::civil::Date,
) -> Result<AssetRow, String> {
    let serial = field("serial").ok_or("serial is empty")?;
    if serial.len() > 128 {
        return Err(format!(
            "serial is {} characters long: at most 128",
            serial.len()
        ));
    }
    let category = match field("category") {
        None => None,
        Some(c) => {
            let normalised = c.to_ascii_lowercase().replace(['-', ' '], "_");
            if !CATEGORIES.contains(&normalised.as_str()) {
                return Err(format!(
                    "category {c:?} is not one of {}",
                    CATEGORIES.join(", ")
                ));
            }
            Some(normalised)
        }
    };
    let date = |name: &str| -> Result<Option<String>, String> {
        let Some(value) = field(name) else {
            return Ok(None);
        };
        let parsed = crate::domain::parse_date(value)
            .ok_or_else(|| format!("{name} {value:?} is not a date: expected YYYY-MM-DD"))?;
        if parsed.year() < 1980 {
            return Err(format!("{name} {value} is before 1980"));
        }
        Ok(Some(parsed.to_string()))
    };
    let purchase_date = date("purchase_date")?;
    if let Some(purchase) = &purchase_date
        && purchase.as_str() > today.to_string().as_str()
    {
        return Err(format!("purchase_date {purchase} is in the future"));
    }
    let number = |name: &str, range: std::ops::Range<f64>, units: &[&str]| match field(name) {
        None => Ok(None),
        Some(value) => {
            let mut cleaned: String = value
                .chars()
                .filter(|c| !c.is_whitespace())
                .collect::<String>()
                .to_lowercase();
            for unit in units {
                cleaned = cleaned.replace(unit, "");
            }
            let number: f64 = cleaned
                .replace(',', ".")
                .parse()
                .map_err(|_| format!("{name} {value:?} is not a number"))?;
            if !range.contains(&number) {
                return Err(format!(
                    "{name} {value} is outside {} to {}",
                    range.start, range.end
                ));
            }
            Ok(Some(number))
        }
    };
    let price_eur = number("price_eur", 0.0..1_000_000.0, &["€"])?;
    // A laptop is about 200 kg, a workstation with its screens a few
    // tonnes: beyond 100 t it is a typing error.
    let embodied_kgco2e = number("embodied_kgco2e", 1.0..100_000.0, &["kgco2e", "kg"])?;
    let hostname = field("hostname")
        .map(|v| crate::domain::HostName::parse(v).map_err(|e| e.to_string()))
        .transpose()?;
    let department = field("department")
        .map(|v| crate::domain::DepartmentName::parse(v).map_err(|e| e.to_string()))
        .transpose()?;
    Ok(AssetRow {
        serial: serial.to_owned(),
        hostname: hostname.map(|h| h.as_str().to_owned()),
        category,
        purchase_date,
        price_eur,
        department: department.map(crate::domain::DepartmentName::into_string),
        warranty_end: date("warranty_end")?,
        embodied_kgco2e,
    })
}

/// Imports a register file into the store (or only reports, with `dry_run`).
///
/// # Errors
/// When the file's header is unusable or the store fails.
pub async fn import(
    store: &Store,
    bytes: &[u8],
    dry_run: bool,
) -> Result<ImportReport, AssetsError> {
    let now = now_unix_ms();
    let today = jiff::Timestamp::from_millisecond(now).map_or(jiff::civil::Date::MIN, |t| {
        t.to_zoned(jiff::tz::TimeZone::UTC).date()
    });
    let (rows, rejected) = parse(bytes, today)?;
    let outcome = store
        .import_assets(
            &rows.iter().map(|(_, a)| a.clone()).collect::<Vec<_>>(),
            dry_run,
            now,
        )
        .await?;
    Ok(ImportReport {
        rows: rows.len() + rejected.len(),
        created: outcome.created,
        updated: outcome.updated,
        unchanged: outcome.unchanged,
        matched_devices: outcome.matched_devices,
        rejected,
        dry_run,
    })
}

/// Export formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    /// GLPI (Data Injection plugin), semicolon-separated.
    Glpi,
    /// Snipe-IT's asset importer, comma-separated.
    Snipeit,
}

/// Writes every device, with its register facts, as a CSV that `format`
/// imports.
///
/// # Errors
/// When the store fails.
pub async fn export(
    store: &Store,
    format: ExportFormat,
    out: impl std::io::Write,
) -> Result<(), AssetsError> {
    let rows = store.asset_export_rows().await?;
    let (delimiter, header): (u8, [&str; 10]) = match format {
        ExportFormat::Glpi => (
            b';',
            [
                "Name",
                "Serial number",
                "Type",
                "Manufacturer",
                "Model",
                "Location",
                "Date of purchase",
                "Value",
                "Warranty expiration date",
                "Comment",
            ],
        ),
        ExportFormat::Snipeit => (
            b',',
            [
                "Item Name",
                "Serial Number",
                "Category",
                "Manufacturer",
                "Model Name",
                "Location",
                "Purchase Date",
                "Purchase Cost",
                "Warranty End",
                "Notes",
            ],
        ),
    };
    // Every field through the one writer: host names and models come from
    // devices, departments from tokens and imports.
    let mut writer = crate::export::CsvWriter::with_delimiter(out, delimiter);
    writer.record(header).map_err(AssetsError::Write)?;
    for row in rows {
        let price = row.price_eur.map(|p| format!("{p:.2}")).unwrap_or_default();
        writer
            .record([
                row.hostname.as_str(),
                row.serial.as_deref().unwrap_or(""),
                row.category.as_deref().unwrap_or(""),
                row.vendor.as_deref().unwrap_or(""),
                row.model.as_deref().unwrap_or(""),
                row.department.as_str(),
                row.purchase_date.as_deref().unwrap_or(""),
                price.as_str(),
                row.warranty_end.as_deref().unwrap_or(""),
                &format!("sobrio device {}", row.device_id),
            ])
            .map_err(AssetsError::Write)?;
    }
    writer.finish().map_err(AssetsError::Write)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const TODAY: jiff::civil::Date = jiff::civil::date(2026, 11, 29);

    #[test]
    fn a_french_export_with_bom_semicolons_and_decimal_commas_parses() {
        let file = "\u{feff}serial;hostname;category;purchase_date;price_eur;department;warranty_end\n\
                    PF2ABC;pc-compta-1;Laptop;2021-03-15;1 234,50;Comptabilité;2024-03-15\n";
        let (rows, rejected) = parse(file.as_bytes(), TODAY).unwrap();
        assert!(rejected.is_empty(), "{rejected:?}");
        let asset = &rows[0].1;
        assert_eq!(
            (rows[0].0, asset.serial.as_str(), asset.category.as_deref()),
            (2, "PF2ABC", Some("laptop"))
        );
        assert_eq!(asset.price_eur, Some(1234.5));
        assert_eq!(asset.department.as_deref(), Some("Comptabilité"));
    }

    #[test]
    fn bad_rows_are_rejected_with_their_line_and_reason_and_the_rest_kept() {
        let file = "serial,category,purchase_date,price_eur\n\
                    A1,laptop,2020-01-01,900\n\
                    ,laptop,2020-01-01,900\n\
                    A3,toaster,2020-01-01,900\n\
                    A4,desktop,2020-13-01,900\n\
                    A5,desktop,2999-01-01,900\n\
                    A6,desktop,2020-01-01,lots\n\
                    A1,desktop,2020-01-01,900\n";
        let (rows, rejected) = parse(file.as_bytes(), TODAY).unwrap();
        assert_eq!(rows.len(), 1);
        let lines: Vec<(u64, &str)> = rejected
            .iter()
            .map(|r| (r.line, r.reason.as_str()))
            .collect();
        assert_eq!(lines.len(), 6, "{lines:?}");
        assert!(lines[0].0 == 3 && lines[0].1.contains("serial is empty"));
        assert!(lines[1].0 == 4 && lines[1].1.contains("toaster"));
        assert!(lines[2].0 == 5 && lines[2].1.contains("YYYY-MM-DD"));
        assert!(lines[3].0 == 6 && lines[3].1.contains("future"));
        assert!(lines[4].0 == 7 && lines[4].1.contains("not a number"));
        assert!(lines[5].0 == 8 && lines[5].1.contains("line 2"));
    }

    #[test]
    fn a_pinned_footprint_is_read_with_its_unit_and_an_absurd_one_rejected() {
        let file = "serial;embodied_kgco2e\n\
                    P1;312,5 kgCO2e\n\
                    P2;280\n\
                    P3;\n\
                    P4;0\n\
                    P5;2000000\n";
        let (rows, rejected) = parse(file.as_bytes(), TODAY).unwrap();
        let pinned: Vec<Option<f64>> = rows.iter().map(|(_, a)| a.embodied_kgco2e).collect();
        assert_eq!(pinned, [Some(312.5), Some(280.0), None]);
        let reasons: Vec<(u64, &str)> = rejected
            .iter()
            .map(|r| (r.line, r.reason.as_str()))
            .collect();
        assert_eq!(reasons.len(), 2, "{reasons:?}");
        assert!(
            reasons
                .iter()
                .all(|(_, r)| r.contains("embodied_kgco2e") && r.contains("outside"))
        );
    }

    #[test]
    fn an_unknown_column_or_a_missing_serial_stops_the_import() {
        assert!(
            matches!(parse(b"serial,colour\nA,red\n", TODAY), Err(AssetsError::UnknownColumn(c)) if c == "colour")
        );
        assert!(matches!(
            parse(b"hostname\npc\n", TODAY),
            Err(AssetsError::NoSerial)
        ));
        assert!(matches!(parse(b"", TODAY), Err(AssetsError::Empty)));
    }
}
