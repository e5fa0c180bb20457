//! Per-model manufacturing footprints: Boavizta's environmental-footprint-data
//! (`data/boavizta/`, ODbL 1.0), one row per model from the manufacturers'
//! product carbon footprint reports, and the matching of what a device's
//! firmware says (vendor, product name, family, Apple's model identifier) to
//! a row, with a confidence.
//!
//! A row's `gwp_total` covers the whole life the report assumes; only its
//! manufacturing share counts here (`gwp_manufacturing_ratio`, or where the
//! row has none, the median share of its category's rows, said so in the
//! source). Its range is the row's own error ratio (or the category's median
//! error ratio where the row gives none).

use std::collections::HashMap;

/// Boavizta's data set, as shipped.
pub const BUILT_IN: &str = include_str!("../../data/boavizta/boavizta-data-us.csv");

/// Apple's model identifiers and the marketing names the data set uses.
pub const APPLE_MODELS: &str = include_str!("../../data/apple_models.csv");

/// Below this confidence a match is not used: the category's row stands.
pub const DEFAULT_THRESHOLD: f64 = 0.8;

/// Attribution the data set's licence asks for, shown with every figure
/// that comes from it.
pub const ATTRIBUTION: &str = "Boavizta, environmental-footprint-data (ODbL 1.0)";

/// One model's manufacturing footprint, from its row.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelRow {
    pub manufacturer: String,
    pub name: String,
    /// The collector's category (`laptop`, `desktop`, `monitor`, …).
    pub category: &'static str,
    pub gwp_total_kgco2e: f64,
    /// The row's manufacturing share, if it gives a usable one.
    pub manufacturing_ratio: Option<f64>,
    /// The row's error ratio, if it gives a usable one.
    pub error_ratio: Option<f64>,
    /// As the data set writes it (`June 2021`, `2021-4-30`…).
    pub report_date: String,
    /// The report (a PDF's address, usually).
    pub report: String,
    /// Storage of the configuration the report describes, in GB.
    pub storage_gb: Option<f64>,
    /// Electricity a year of use takes, as the report says (`yearly_tec`).
    pub yearly_kwh: Option<f64>,
    /// Line in the CSV (1 is the header).
    pub line: usize,
}

/// A model's footprint as the analysis uses it: manufacturing kgCO2e and its
/// range, with where they come from.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelFootprint {
    pub kgco2e: f64,
    pub low_kgco2e: f64,
    pub high_kgco2e: f64,
    /// 0–1: how sure the match is.
    pub confidence: f64,
    /// Rows behind the figure (several when variants tie: the median is
    /// taken, the range covers them all).
    pub rows: Vec<ModelRow>,
    /// The manufacturing share is the category's median, not the row's.
    pub share_assumed: bool,
    /// The error ratio is the category's median, not the row's.
    pub error_assumed: bool,
    /// Electricity a year of use takes (the median of the rows that give
    /// it), in kWh.
    pub yearly_kwh: Option<f64>,
}

impl ModelFootprint {
    /// How the figure was reached, for the source column of every figure.
    pub fn source(&self) -> String {
        let first = &self.rows[0];
        let mut text = format!(
            "{ATTRIBUTION}: {} {} (report {}, {}, line {})",
            first.manufacturer,
            first.name,
            if first.report_date.is_empty() {
                "undated"
            } else {
                &first.report_date
            },
            first.report,
            first.line
        );
        if self.rows.len() > 1 {
            text.push_str(&format!(
                ", median of {} variants ({})",
                self.rows.len(),
                self.rows
                    .iter()
                    .skip(1)
                    .map(|r| r.name.as_str())
                    .collect::<Vec<_>>()
                    .join("; ")
            ));
        }
        text.push_str(&format!("; match confidence {:.2}", self.confidence));
        if self.share_assumed {
            text.push_str("; manufacturing share: the category's median (the report gives none)");
        }
        if self.error_assumed {
            text.push_str("; range: the category's median error (the report gives none)");
        }
        text
    }
}

/// What a device says about itself, as its agent reported it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Identity<'a> {
    /// SMBIOS `sys_vendor` ("Dell Inc.", "LENOVO", "HP", "Apple Inc.").
    pub vendor: Option<&'a str>,
    /// SMBIOS `product_name`, or Apple's model identifier.
    pub model: Option<&'a str>,
    /// SMBIOS family (Lenovo's "ThinkPad T14 Gen 2i").
    pub family: Option<&'a str>,
    /// The collector's category of the device.
    pub category: &'a str,
    /// Its storage, to choose between configurations of one model.
    pub disk_bytes: Option<i64>,
}

/// A malformed data file: which line and what.
#[derive(Debug, thiserror::Error)]
#[error("model footprint data, line {line}: {message}")]
pub struct ModelsError {
    pub line: usize,
    pub message: String,
}

/// The data set, indexed by vendor.
#[derive(Debug, Clone, Default)]
pub struct Catalogue {
    by_vendor: HashMap<String, Vec<Indexed>>,
    apple: HashMap<String, String>,
    /// Per category: median manufacturing share and error ratio.
    medians: HashMap<&'static str, (f64, f64)>,
    rows: usize,
    /// Lookups already made: a fleet holds few distinct models, each
    /// matched once however many devices share it.
    memo: Memo,
}

/// Results of [`Catalogue::lookup`] by what was looked up.
#[derive(Debug, Default)]
struct Memo(std::sync::Mutex<HashMap<String, Option<ModelFootprint>>>);

/// Distinct lookups kept at most; beyond, the memo starts again.
const MEMO_ENTRIES: usize = 65_536;

impl Clone for Memo {
    fn clone(&self) -> Self {
        Self::default()
    }
}

#[derive(Debug, Clone)]
struct Indexed {
    row: ModelRow,
    /// The row's names (a report may cover several: "ThinkPad T490.ThinkPad
    /// P43s", "IdeaPad 3-14/Lenovo V14"), as tokens.
    aliases: Vec<Vec<Token>>,
}

#[derive(Debug, Clone, PartialEq)]
struct Token {
    text: String,
    /// Holds a digit: a model number, which must be there to match.
    number: bool,
    /// Tells variants of one model apart (form factor, storage, year).
    variant: bool,
}

impl Catalogue {
    /// The shipped data.
    pub fn built_in() -> Self {
        Self::parse(BUILT_IN, APPLE_MODELS).expect("the built-in model footprint data is valid")
    }

    /// The number of models with a usable footprint.
    pub fn len(&self) -> usize {
        self.rows
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Parses Boavizta's CSV and the Apple identifier table.
    ///
    /// # Errors
    /// A missing column or a malformed line.
    pub fn parse(data: &str, apple_models: &str) -> Result<Self, ModelsError> {
        let mut reader = csv::ReaderBuilder::new()
            .flexible(true)
            .from_reader(data.trim_start_matches('\u{feff}').as_bytes());
        let header = reader
            .headers()
            .map_err(|e| ModelsError {
                line: 1,
                message: e.to_string(),
            })?
            .clone();
        let column = |name: &str| {
            header
                .iter()
                .position(|h| h.trim() == name)
                .ok_or_else(|| ModelsError {
                    line: 1,
                    message: format!("no column {name}"),
                })
        };
        let manufacturer = column("manufacturer")?;
        let name = column("name")?;
        let subcategory = column("subcategory")?;
        let gwp_total = column("gwp_total")?;
        let manufacturing = column("gwp_manufacturing_ratio")?;
        let error = column("gwp_error_ratio")?;
        let report_date = column("report_date")?;
        let sources = column("sources")?;
        let hard_drive = column("hard_drive")?;
        let yearly_tec = column("yearly_tec")?;
        let mut rows = Vec::new();
        for (index, record) in reader.records().enumerate() {
            let line = index + 2;
            let record = record.map_err(|e| ModelsError {
                line,
                message: e.to_string(),
            })?;
            let get = |i: usize| record.get(i).unwrap_or("").trim();
            let Some(category) = category_of(get(subcategory)) else {
                continue;
            };
            let Some(total) = get(gwp_total)
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite() && *v > 0.0)
            else {
                continue;
            };
            // A share or an error ratio outside (0, 1) is a typing error of
            // the source ("7.76" for 0.776): treated as absent.
            let ratio = |i: usize| {
                get(i)
                    .parse::<f64>()
                    .ok()
                    .filter(|v| v.is_finite() && *v > 0.0 && *v < 1.0)
            };
            rows.push(ModelRow {
                manufacturer: get(manufacturer).to_owned(),
                name: clean(get(name)),
                category,
                gwp_total_kgco2e: total,
                manufacturing_ratio: ratio(manufacturing),
                error_ratio: ratio(error),
                report_date: get(report_date).to_owned(),
                report: get(sources).to_owned(),
                storage_gb: storage_gb(get(hard_drive)),
                yearly_kwh: get(yearly_tec)
                    .parse::<f64>()
                    .ok()
                    .filter(|v| v.is_finite() && *v > 0.0 && *v < 10_000.0),
                line,
            });
        }
        let mut medians = HashMap::new();
        for category in [
            "laptop",
            "desktop",
            "monitor",
            "tablet",
            "smartphone",
            "thin_client",
        ] {
            let mut shares: Vec<f64> = rows
                .iter()
                .filter(|r| r.category == category)
                .filter_map(|r| r.manufacturing_ratio)
                .collect();
            let mut errors: Vec<f64> = rows
                .iter()
                .filter(|r| r.category == category)
                .filter_map(|r| r.error_ratio)
                .collect();
            if let (Some(share), Some(error)) = (median(&mut shares), median(&mut errors)) {
                medians.insert(category, (share, error));
            }
        }
        let mut by_vendor: HashMap<String, Vec<Indexed>> = HashMap::new();
        let count = rows.len();
        for row in rows {
            let aliases = aliases(&row.name)
                .iter()
                .map(|alias| tokens(alias))
                .filter(|t| !t.is_empty())
                .collect();
            by_vendor
                .entry(vendor_key(&row.manufacturer))
                .or_default()
                .push(Indexed { row, aliases });
        }
        let mut apple = HashMap::new();
        let mut reader = csv::ReaderBuilder::new()
            .comment(Some(b'#'))
            .from_reader(apple_models.as_bytes());
        for (index, record) in reader.records().enumerate() {
            let record = record.map_err(|e| ModelsError {
                line: index + 2,
                message: format!("Apple model identifiers: {e}"),
            })?;
            if let (Some(identifier), Some(name)) = (record.get(0), record.get(1)) {
                apple.insert(
                    identifier.trim().to_ascii_lowercase(),
                    name.trim().to_owned(),
                );
            }
        }
        Ok(Self {
            by_vendor,
            apple,
            medians,
            rows: count,
            memo: Memo::default(),
        })
    }

    /// The footprint of the model `device` names, when one row (or a set of
    /// tied variants) matches; its confidence says how well. `None` when
    /// the vendor is unknown to the data set or nothing comes close.
    pub fn lookup(&self, device: &Identity<'_>) -> Option<ModelFootprint> {
        device.vendor?;
        let key = format!(
            "{}\u{1f}{}\u{1f}{}\u{1f}{}\u{1f}{}",
            device.vendor.unwrap_or(""),
            device.model.unwrap_or(""),
            device.family.unwrap_or(""),
            device.category,
            device.disk_bytes.map_or(-1, |b| b / 1_000_000_000)
        );
        if let Some(found) = self.memo().get(&key) {
            return found.clone();
        }
        let found = self.lookup_uncached(device);
        let mut memo = self.memo();
        if memo.len() >= MEMO_ENTRIES {
            memo.clear();
        }
        memo.insert(key, found.clone());
        found
    }

    fn memo(&self) -> std::sync::MutexGuard<'_, HashMap<String, Option<ModelFootprint>>> {
        self.memo
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn lookup_uncached(&self, device: &Identity<'_>) -> Option<ModelFootprint> {
        let vendor = vendor_key(device.vendor?);
        let rows = self.by_vendor.get(&vendor)?;
        let category = catalogue_category(device.category)?;
        let mut names: Vec<String> = Vec::new();
        for text in [device.model, device.family].into_iter().flatten() {
            let text = text.trim();
            if placeholder(text) {
                continue;
            }
            if vendor == "apple"
                && let Some(marketing) = self.apple.get(&text.to_ascii_lowercase())
            {
                names.push(marketing.clone());
                continue;
            }
            names.push(text.to_owned());
        }
        let mut best: Vec<(&Indexed, f64)> = Vec::new();
        let mut best_score = 0.0_f64;
        for name in &names {
            let query = tokens(name);
            if query.is_empty() {
                continue;
            }
            for indexed in rows.iter().filter(|r| r.row.category == category) {
                let score = indexed
                    .aliases
                    .iter()
                    .map(|alias| similarity(&query, alias))
                    .fold(0.0, f64::max);
                if score > best_score + 1e-9 {
                    best_score = score;
                    best.clear();
                    best.push((indexed, score));
                } else if (score - best_score).abs() <= 1e-9
                    && score > 0.0
                    && !best.iter().any(|(b, _)| b.row.line == indexed.row.line)
                {
                    best.push((indexed, score));
                }
            }
        }
        if best.is_empty() {
            return None;
        }
        let mut chosen: Vec<&ModelRow> = best.iter().map(|(indexed, _)| &indexed.row).collect();
        // Configurations of one model (256 GB, 512 GB): the device's storage
        // chooses, when it is known and the rows say theirs.
        if chosen.len() > 1
            && let Some(disk_gb) = device.disk_bytes.map(|b| b as f64 / 1e9)
        {
            let distance = |r: &ModelRow| r.storage_gb.map(|gb| (gb - disk_gb).abs() / gb.max(1.0));
            if let Some(nearest) = chosen
                .iter()
                .filter_map(|r| distance(r))
                .min_by(f64::total_cmp)
                .filter(|d| *d < 0.25)
            {
                chosen.retain(|r| distance(r).is_some_and(|d| (d - nearest).abs() < 1e-9));
            }
        }
        // Variants that remain tied are a less certain match than one row.
        let confidence = if chosen.len() > 1 {
            best_score * 0.95
        } else {
            best_score
        };
        Some(self.footprint_of(category, chosen, confidence))
    }

    /// The footprint of a model the organisation names ("Dell Latitude
    /// 5440", or its name alone), exactly as the data set writes it; tied
    /// variants give their median. `None` when no row has that name.
    pub fn named(&self, name: &str) -> Option<ModelFootprint> {
        let wanted = name.trim().to_lowercase();
        let chosen: Vec<&ModelRow> = self
            .by_vendor
            .values()
            .flatten()
            .map(|indexed| &indexed.row)
            .filter(|row| {
                row.name.to_lowercase() == wanted
                    || format!("{} {}", row.manufacturer, row.name).to_lowercase() == wanted
            })
            .collect();
        let category = chosen.first()?.category;
        let mut chosen = chosen;
        chosen.sort_by_key(|row| row.line);
        Some(self.footprint_of(category, chosen, 1.0))
    }

    /// The manufacturing footprint of `chosen` rows of a category: the
    /// median, the range covering them all.
    fn footprint_of(
        &self,
        category: &str,
        chosen: Vec<&ModelRow>,
        confidence: f64,
    ) -> ModelFootprint {
        let (share, error) = self.medians.get(category).copied().unwrap_or((0.75, 0.2));
        let mut share_assumed = false;
        let mut error_assumed = false;
        let mut figures: Vec<(f64, f64, f64)> = chosen
            .iter()
            .map(|row| {
                let manufacturing = row.gwp_total_kgco2e
                    * row.manufacturing_ratio.unwrap_or_else(|| {
                        share_assumed = true;
                        share
                    });
                let error = row.error_ratio.unwrap_or_else(|| {
                    error_assumed = true;
                    error
                });
                (
                    manufacturing,
                    manufacturing * (1.0 - error),
                    manufacturing * (1.0 + error),
                )
            })
            .collect();
        figures.sort_by(|a, b| a.0.total_cmp(&b.0));
        let middle = figures[figures.len() / 2].0;
        let low = figures.iter().map(|f| f.1).fold(f64::INFINITY, f64::min);
        let high = figures.iter().map(|f| f.2).fold(0.0, f64::max);
        let mut kwh: Vec<f64> = chosen.iter().filter_map(|r| r.yearly_kwh).collect();
        ModelFootprint {
            kgco2e: middle,
            low_kgco2e: low,
            high_kgco2e: high,
            confidence,
            rows: chosen.into_iter().cloned().collect(),
            share_assumed,
            error_assumed,
            yearly_kwh: median(&mut kwh),
        }
    }
}

/// The collector's category for a data set subcategory; `None` for what
/// the collector does not count (servers, printers, IoT…).
fn category_of(subcategory: &str) -> Option<&'static str> {
    Some(match subcategory.to_ascii_lowercase().as_str() {
        "laptop" => "laptop",
        "desktop" | "workstation" => "desktop",
        "monitor" => "monitor",
        "tablet" => "tablet",
        "smartphone" => "smartphone",
        "thin client" => "thin_client",
        _ => return None,
    })
}

/// The data set's category for a device's: an all-in-one is a desktop
/// whose row includes its screen.
fn catalogue_category(category: &str) -> Option<&'static str> {
    Some(
        match category
            .trim()
            .to_ascii_lowercase()
            .replace(['-', ' '], "_")
            .as_str()
        {
            "laptop" | "notebook" | "portable" | "convertible" | "detachable" => "laptop",
            "desktop"
            | "tower"
            | "mini_pc"
            | "mini_tower"
            | "low_profile_desktop"
            | "all_in_one" => "desktop",
            "monitor" => "monitor",
            "tablet" => "tablet",
            "smartphone" => "smartphone",
            "thin_client" => "thin_client",
            _ => return None,
        },
    )
}

/// One key per manufacturer, whatever the firmware calls it.
pub fn vendor_key(vendor: &str) -> String {
    let lower = vendor.trim().to_ascii_lowercase();
    let lower = lower.trim_end_matches('.');
    for (prefix, key) in [
        ("dell", "dell"),
        ("hewlett-packard", "hp"),
        ("hewlett packard", "hp"),
        ("hp", "hp"),
        ("lenovo", "lenovo"),
        ("apple", "apple"),
        ("microsoft", "microsoft"),
        ("google", "google"),
        ("samsung", "samsung"),
        ("asustek", "asus"),
        ("asus", "asus"),
        ("fairphone", "fairphone"),
    ] {
        if lower.starts_with(prefix) {
            return key.to_owned();
        }
    }
    lower
        .trim_end_matches(" inc")
        .trim_end_matches(" corporation")
        .trim_end_matches(',')
        .to_owned()
}

/// Names firmware uses when it has none.
fn placeholder(text: &str) -> bool {
    let lower = text.to_ascii_lowercase();
    text.is_empty()
        || [
            "to be filled by o.e.m.",
            "system product name",
            "not specified",
            "not applicable",
            "default string",
            "none",
            "n/a",
            "0123456789",
        ]
        .contains(&lower.as_str())
        || !text.chars().any(|c| c.is_ascii_alphabetic())
}

/// The data set's mojibake and marks, tidied.
fn clean(name: &str) -> String {
    name.replace("\\xe2\\x80\\x9d", "\"")
        .replace(['”', '“', '″'], "\"")
        .replace(['®', '™'], "")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// A row's names: reports covering several models join them with "/" or
/// with "." before the next name.
fn aliases(name: &str) -> Vec<String> {
    let mut out = Vec::new();
    for part in name.split('/') {
        let mut current = String::new();
        let chars: Vec<char> = part.chars().collect();
        for (i, &c) in chars.iter().enumerate() {
            // "T490.ThinkPad", "5th Gen. L13": a dot not inside a number.
            let before_digit = i > 0 && chars[i - 1].is_ascii_digit();
            let after_digit = chars.get(i + 1).is_some_and(char::is_ascii_digit);
            if c == '.' && !(before_digit && after_digit) {
                out.push(std::mem::take(&mut current));
            } else {
                current.push(c);
            }
        }
        out.push(current);
    }
    out.retain(|a| !a.trim().is_empty());
    out
}

/// Words that say what kind of thing it is, not which model.
const NOISE: [&str; 24] = [
    "notebook",
    "pc",
    "laptop",
    "desktop",
    "computer",
    "mobile",
    "workstation",
    "series",
    "energy",
    "star",
    "inch",
    "monitor",
    "display",
    "dell",
    "hp",
    "lenovo",
    "apple",
    "microsoft",
    "inc",
    "by",
    "with",
    "and",
    "the",
    "system",
];

/// Words that tell variants of one model apart (form factors, storage,
/// years): they break ties between rows of one model.
fn variant(word: &str) -> bool {
    const FORM: [&str; 12] = [
        "micro", "form", "factor", "small", "sff", "tower", "tiny", "mini", "mt", "ultra", "gen",
        "cpu",
    ];
    let numeric_prefix = |suffix: &str| {
        word.strip_suffix(suffix)
            .is_some_and(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit() || c == '.'))
    };
    FORM.contains(&word)
        || numeric_prefix("ghz")
        || word.ends_with("core")
        || (word.len() >= 3
            && (word.ends_with("gb") || word.ends_with("tb"))
            && word[..word.len() - 2]
                .chars()
                .all(|c| c.is_ascii_digit() || c == '.'))
        || (word.len() == 4
            && word.starts_with("20")
            && word.chars().all(|c| c.is_ascii_digit())
            && (2010..2040).contains(&word.parse::<u32>().unwrap_or(0)))
}

fn tokens(name: &str) -> Vec<Token> {
    // "13-inch", "8-core": one word, so that the size stays a number of the
    // model and the core count a variant.
    let lower = clean(name)
        .to_lowercase()
        .replace("-inch", "inch")
        .replace("-core", "core");
    let mut out: Vec<Token> = Vec::new();
    let mut word = String::new();
    let chars: Vec<char> = lower.chars().collect();
    let mut push = |word: &mut String| {
        let text = std::mem::take(word);
        if text.is_empty() || NOISE.contains(&text.as_str()) {
            return;
        }
        // "with 64GB" and "64GB SSD": the kind of disk says nothing of the
        // model.
        if text == "ssd" || text == "hdd" {
            return;
        }
        let variant = variant(&text);
        out.push(Token {
            number: !variant && text.chars().any(|c| c.is_ascii_digit()),
            variant,
            text,
        });
    };
    for (i, &c) in chars.iter().enumerate() {
        let keep = c.is_alphanumeric()
            || (c == '.'
                && i > 0
                && chars[i - 1].is_ascii_digit()
                && chars.get(i + 1).is_some_and(char::is_ascii_digit));
        if keep {
            word.push(c);
        } else {
            push(&mut word);
        }
    }
    push(&mut word);
    out.sort_by(|a, b| a.text.cmp(&b.text));
    out.dedup_by(|a, b| a.text == b.text);
    out
}

/// How alike two names are, 0–1: the weighted Dice similarity of the
/// words that name the model (a model number weighs twice a word), then
/// the variant words (form factor, storage, year) the query gives, as a
/// tie-breaker between rows of one model. A model number of the query that
/// the row lacks, or the other way round, caps it below any threshold:
/// "Latitude 5420" is not "Latitude 5430".
fn similarity(query: &[Token], row: &[Token]) -> f64 {
    let core = |tokens: &[Token]| -> Vec<Token> {
        tokens.iter().filter(|t| !t.variant).cloned().collect()
    };
    let (query_core, row_core) = (core(query), core(row));
    let weight = |t: &Token| if t.number { 2.0 } else { 1.0 };
    let holds = |tokens: &[Token], text: &str| tokens.iter().any(|t| t.text == text);
    let common: f64 = query_core
        .iter()
        .filter(|q| holds(&row_core, &q.text))
        .map(weight)
        .sum();
    let total: f64 = query_core.iter().chain(&row_core).map(weight).sum();
    if query_core.is_empty() || total == 0.0 {
        return 0.0;
    }
    let mut score = 2.0 * common / total;
    let numbers_agree = query_core
        .iter()
        .filter(|t| t.number)
        .all(|q| holds(&row_core, &q.text))
        && row_core
            .iter()
            .filter(|t| t.number)
            .all(|r| holds(&query_core, &r.text));
    if !numbers_agree {
        score = score.min(0.5);
    }
    let variants: Vec<&Token> = query.iter().filter(|t| t.variant).collect();
    if !variants.is_empty() {
        #[allow(clippy::cast_precision_loss)]
        let agreement =
            variants.iter().filter(|q| holds(row, &q.text)).count() as f64 / variants.len() as f64;
        score *= 0.9 + 0.1 * agreement;
    }
    score
}

/// "SSD 256GB", "256GB SSD", "1024GB", "SSD 1.5TB" → GB.
fn storage_gb(text: &str) -> Option<f64> {
    let lower = text.to_ascii_lowercase();
    lower.split_whitespace().find_map(|word| {
        if let Some(gb) = word.strip_suffix("gb") {
            gb.parse().ok()
        } else {
            word.strip_suffix("tb")
                .and_then(|tb| tb.parse::<f64>().ok())
                .map(|tb| tb * 1000.0)
        }
    })
}

fn median(values: &mut [f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    Some(values[values.len() / 2])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device<'a>(
        vendor: &'a str,
        model: &'a str,
        family: Option<&'a str>,
        category: &'a str,
    ) -> Identity<'a> {
        Identity {
            vendor: Some(vendor),
            model: Some(model),
            family,
            category,
            disk_bytes: None,
        }
    }

    /// Names as firmware reports them (SMBIOS sys_vendor, product_name and
    /// family; Apple's model identifier), from several vendors, against the
    /// row each must find.
    #[test]
    fn a_fleet_of_firmware_names_finds_its_rows() {
        let catalogue = Catalogue::built_in();
        assert!(catalogue.len() > 1000, "{} rows", catalogue.len());
        let cases: [(&str, &str, Option<&str>, &str, &str); 10] = [
            (
                "Dell Inc.",
                "Latitude 5420",
                Some("Latitude"),
                "laptop",
                "Latitude 5420",
            ),
            (
                "Dell Inc.",
                "Precision 3510",
                None,
                "laptop",
                "Precision 3510",
            ),
            (
                "HP",
                "HP EliteBook 845 G8 Notebook PC",
                Some("103C_5336AN HP EliteBook"),
                "laptop",
                "EliteBook 845 G8 Notebook PC",
            ),
            (
                "Hewlett-Packard",
                "HP ProBook 445 14 inch G9 Notebook PC",
                None,
                "laptop",
                "ProBook 445 14 inch G9 Notebook PC",
            ),
            (
                "LENOVO",
                "20N2000KFR",
                Some("ThinkPad T490s"),
                "laptop",
                "ThinkPad T490s",
            ),
            (
                "LENOVO",
                "20F9003AFR",
                Some("ThinkPad T460s"),
                "laptop",
                "ThinkPad T460s",
            ),
            (
                "LENOVO",
                "11DT0043FR",
                Some("ThinkCentre M70 Tiny"),
                "mini_pc",
                "ThinkCentre M70 Tiny",
            ),
            (
                "Apple Inc.",
                "MacBookAir10,1",
                None,
                "laptop",
                "13-inch MacBook Air (M1 CPU) 256GB - 2020",
            ),
            (
                "Apple Inc.",
                "Macmini9,1",
                None,
                "desktop",
                "Mac mini (M1 2020) with 256GB",
            ),
            (
                "Microsoft Corporation",
                "Surface Laptop Go",
                Some("Surface"),
                "laptop",
                "Surface Laptop Go",
            ),
        ];
        for (vendor, model, family, category, expected) in cases {
            let found = catalogue
                .lookup(&device(vendor, model, family, category))
                .unwrap_or_else(|| panic!("{vendor} {model}: no match"));
            assert!(
                found.rows.iter().any(|r| r.name == expected),
                "{vendor} {model}: {:?}",
                found.rows.iter().map(|r| &r.name).collect::<Vec<_>>()
            );
            assert!(
                found.confidence >= DEFAULT_THRESHOLD,
                "{vendor} {model}: confidence {}",
                found.confidence
            );
        }
    }

    #[test]
    fn only_the_manufacturing_share_counts_with_the_rows_error_for_its_range() {
        let catalogue = Catalogue::built_in();
        // Dell Latitude 5420: gwp_total 364, manufacturing 0.848, error 0.2198.
        let found = catalogue
            .lookup(&device("Dell Inc.", "Latitude 5420", None, "laptop"))
            .unwrap();
        assert_eq!(found.rows.len(), 1);
        assert!(
            (found.kgco2e - 364.0 * 0.848).abs() < 1e-6,
            "{}",
            found.kgco2e
        );
        assert!((found.low_kgco2e - 364.0 * 0.848 * (1.0 - 0.2198)).abs() < 1e-6);
        assert!((found.high_kgco2e - 364.0 * 0.848 * (1.0 + 0.2198)).abs() < 1e-6);
        assert!((found.confidence - 1.0).abs() < 1e-9);
        assert!(!found.share_assumed && !found.error_assumed);
        let source = found.source();
        assert!(source.contains("Boavizta"), "{source}");
        assert!(
            source.contains("June 2021") || source.contains("20"),
            "{source}"
        );
        assert!(
            source.contains(".pdf") || source.contains("http"),
            "{source}"
        );
    }

    #[test]
    fn a_row_without_a_share_takes_the_categorys_median_and_says_so() {
        let catalogue = Catalogue::built_in();
        // Lenovo's rows give no manufacturing share.
        let found = catalogue
            .lookup(&device(
                "LENOVO",
                "20N2000KFR",
                Some("ThinkPad T490s"),
                "laptop",
            ))
            .unwrap();
        assert!(found.share_assumed);
        let (share, _) = catalogue.medians["laptop"];
        assert!((found.kgco2e - found.rows[0].gwp_total_kgco2e * share).abs() < 1e-6);
        assert!(found.source().contains("the category's median"));
    }

    #[test]
    fn variants_of_one_model_tie_and_the_disk_chooses_a_configuration() {
        let catalogue = Catalogue::built_in();
        // "OptiPlex 7080" covers Micro, Small Form Factor and Tower.
        let optiplex = catalogue
            .lookup(&device("Dell Inc.", "OptiPlex 7080", None, "desktop"))
            .unwrap();
        assert_eq!(optiplex.rows.len(), 3, "{:?}", optiplex.rows);
        assert!(optiplex.confidence >= DEFAULT_THRESHOLD && optiplex.confidence < 1.0);
        assert!(optiplex.low_kgco2e < optiplex.kgco2e && optiplex.kgco2e < optiplex.high_kgco2e);
        // A 13-inch MacBook Pro (M1) with 512 GB: the 512 GB report.
        let mac = catalogue
            .lookup(&Identity {
                disk_bytes: Some(512_110_190_592),
                ..device("Apple Inc.", "MacBookPro17,1", None, "laptop")
            })
            .unwrap();
        assert_eq!(mac.rows.len(), 1, "{:?}", mac.rows);
        assert_eq!(
            mac.rows[0].name,
            "13-inch MacBook Pro (M1 CPU) 512GB - 2020"
        );
    }

    #[test]
    fn unknown_models_and_machine_type_codes_fall_back_with_low_confidence() {
        let catalogue = Catalogue::built_in();
        for (vendor, model, family) in [
            // A newer Latitude than the data set: a close number is not a match.
            ("Dell Inc.", "Latitude 5440", None),
            // A Lenovo machine-type code with no family.
            ("LENOVO", "20XW0055FR", None),
            // A family the data set does not hold.
            ("LENOVO", "21CB0067FR", Some("ThinkPad T14 Gen 3")),
            ("System manufacturer", "System Product Name", None),
            ("QEMU", "Standard PC (Q35 + ICH9, 2009)", None),
        ] {
            let found = catalogue.lookup(&device(vendor, model, family, "laptop"));
            assert!(
                found
                    .as_ref()
                    .is_none_or(|f| f.confidence < DEFAULT_THRESHOLD),
                "{vendor} {model}: {:?}",
                found.map(|f| (f.confidence, f.rows))
            );
        }
    }

    #[test]
    fn every_row_of_the_data_set_finds_itself_by_each_of_its_names() {
        let catalogue = Catalogue::built_in();
        let mut missed = Vec::new();
        for indexed in catalogue.by_vendor.values().flatten() {
            let row = &indexed.row;
            // A report covering several models: each name finds it.
            for name in aliases(&row.name) {
                let found = catalogue.lookup(&Identity {
                    vendor: Some(&row.manufacturer),
                    model: Some(&name),
                    family: None,
                    category: row.category,
                    disk_bytes: None,
                });
                if !found.is_some_and(|f| {
                    f.confidence >= DEFAULT_THRESHOLD && f.rows.iter().any(|r| r.line == row.line)
                }) {
                    missed.push(format!("{} {name} ({})", row.manufacturer, row.name));
                }
            }
        }
        assert!(missed.is_empty(), "{} rows: {missed:#?}", missed.len());
    }

    #[test]
    fn a_model_is_matched_once_however_many_devices_share_it() {
        let catalogue = Catalogue::built_in();
        let latitude = device("Dell Inc.", "Latitude 5420", None, "laptop");
        let first = catalogue.lookup(&latitude);
        for _ in 0..1000 {
            assert_eq!(catalogue.lookup(&latitude), first);
        }
        assert_eq!(
            catalogue
                .lookup(&device("Dell Inc.", "Latitude 5440", None, "laptop"))
                .map(|f| f.confidence < DEFAULT_THRESHOLD),
            Some(true)
        );
        let memo = catalogue.memo.0.lock().unwrap();
        assert_eq!(memo.len(), 2);
    }

    #[test]
    fn names_split_into_aliases_and_tokens() {
        assert_eq!(
            aliases("ThinkPad T490.ThinkPad P43s"),
            ["ThinkPad T490", "ThinkPad P43s"]
        );
        assert_eq!(
            aliases("IdeaPad 3-14/Lenovo V14"),
            ["IdeaPad 3-14", "Lenovo V14"]
        );
        assert_eq!(
            aliases("Surface Laptop 3 13.5-inch display"),
            ["Surface Laptop 3 13.5-inch display"]
        );
        let words: Vec<String> = tokens("HP EliteBook 840 Aero G8 Notebook PC")
            .into_iter()
            .map(|t| t.text)
            .collect();
        assert_eq!(words, ["840", "aero", "elitebook", "g8"]);
        assert_eq!(vendor_key("Dell Inc."), "dell");
        assert_eq!(vendor_key("Hewlett-Packard"), "hp");
        assert_eq!(vendor_key("LENOVO"), "lenovo");
        assert_eq!(storage_gb("SSD 1.5TB"), Some(1500.0));
        assert_eq!(storage_gb("256GB SSD"), Some(256.0));
    }

    #[test]
    fn a_bad_file_names_its_line() {
        let error = Catalogue::parse("manufacturer,name\nDell,X\n", "").unwrap_err();
        assert_eq!(error.line, 1);
        assert!(error.message.contains("subcategory"), "{}", error.message);
    }
}
