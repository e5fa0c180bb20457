//! French and English: every string of the pages comes from a catalogue in
//! `dashboards/i18n/`, chosen by the `lang` cookie (the switch in the page
//! header) or else the browser's `Accept-Language`. Numbers follow the
//! language's conventions.

use std::collections::HashMap;
use std::sync::LazyLock;

/// A language the dashboards speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    En,
    Fr,
}

impl Lang {
    /// Both, in the order the switch shows them.
    pub const ALL: [Self; 2] = [Self::En, Self::Fr];

    /// The BCP 47 tag (`<html lang>`, cookie value).
    pub fn tag(self) -> &'static str {
        match self {
            Self::En => "en",
            Self::Fr => "fr",
        }
    }

    /// The language a tag names.
    pub fn parse(tag: &str) -> Option<Self> {
        match tag.trim().get(..2)?.to_ascii_lowercase().as_str() {
            "en" => Some(Self::En),
            "fr" => Some(Self::Fr),
            _ => None,
        }
    }

    /// The best language for an `Accept-Language` header: the first of its
    /// entries by quality that the dashboards speak; English otherwise.
    pub fn negotiate(accept_language: &str) -> Self {
        let mut choices: Vec<(f32, usize, Self)> = accept_language
            .split(',')
            .enumerate()
            .filter_map(|(position, entry)| {
                let mut parts = entry.split(';');
                let lang = Self::parse(parts.next()?)?;
                let quality = parts
                    .find_map(|p| p.trim().strip_prefix("q="))
                    .map_or(Some(1.0), |q| q.trim().parse::<f32>().ok())?;
                (quality > 0.0).then_some((quality, position, lang))
            })
            .collect();
        choices.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        choices.first().map_or(Self::En, |c| c.2)
    }

    /// The catalogue of this language.
    pub fn catalogue(self) -> &'static Catalogue {
        match self {
            Self::En => &EN,
            Self::Fr => &FR,
        }
    }
}

/// One language's strings by key.
#[derive(Debug)]
pub struct Catalogue {
    pub lang: Lang,
    strings: HashMap<String, String>,
}

static EN: LazyLock<Catalogue> =
    LazyLock::new(|| Catalogue::parse(Lang::En, include_str!("../../../dashboards/i18n/en.toml")));
static FR: LazyLock<Catalogue> =
    LazyLock::new(|| Catalogue::parse(Lang::Fr, include_str!("../../../dashboards/i18n/fr.toml")));

impl Catalogue {
    fn parse(lang: Lang, text: &str) -> Self {
        // The catalogues are compiled in and checked by the tests below: a
        // broken one is a build defect, not a runtime condition.
        let table: toml::Table = toml::from_str(text).expect("catalogue is valid TOML");
        let strings = table
            .into_iter()
            .map(|(key, value)| {
                let value = value
                    .as_str()
                    .unwrap_or_else(|| panic!("catalogue key {key} is not a string"))
                    .to_owned();
                (key, value)
            })
            .collect();
        Self { lang, strings }
    }

    /// The string for `key`; the key itself when missing (the tests make
    /// sure none is).
    pub fn t<'a>(&'a self, key: &'a str) -> &'a str {
        self.strings.get(key).map_or(key, String::as_str)
    }

    /// The string for `key` with `{name}` placeholders filled in.
    pub fn f(&self, key: &str, values: &[(&str, &str)]) -> String {
        let mut text = self.t(key).to_owned();
        for (name, value) in values {
            text = text.replace(&format!("{{{name}}}"), value);
        }
        text
    }

    /// A device category's name (`laptop`, `all_in_one`…); the name itself
    /// when the catalogue has none (a register's own category).
    pub fn category(&self, category: &str) -> String {
        self.strings
            .get(&format!("category.{category}"))
            .map_or_else(|| category.to_owned(), String::clone)
    }

    /// Where a retired device may go, as (outcome, label): the choices of
    /// every form that records a disposal.
    pub fn outcomes(&self) -> Vec<(String, String)> {
        crate::analysis::disposal::Outcome::ALL
            .iter()
            .map(|o| {
                (
                    o.name().to_owned(),
                    self.t(&format!("outcome.{}", o.name())).to_owned(),
                )
            })
            .collect()
    }

    /// Whole numbers with the language's grouping (`12,345` / `12 345`).
    pub fn int(&self, value: i64) -> String {
        let digits = value.unsigned_abs().to_string();
        let separator = match self.lang {
            Lang::En => ",",
            Lang::Fr => "\u{202f}",
        };
        let mut grouped = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                grouped.push_str(separator);
            }
            grouped.push(c);
        }
        if value < 0 {
            format!("-{grouped}")
        } else {
            grouped
        }
    }

    /// A number with `decimals` digits after the separator.
    pub fn dec(&self, value: f64, decimals: usize) -> String {
        if !value.is_finite() {
            return "—".into();
        }
        let text = format!("{:.*}", decimals, value.abs());
        let (whole, fraction) = text.split_once('.').unwrap_or((&text, ""));
        #[allow(clippy::cast_possible_truncation)]
        let mut out = self.int(whole.parse::<i64>().unwrap_or(i64::MAX));
        if value < 0.0 && text.chars().any(|c| c.is_ascii_digit() && c != '0') {
            out.insert(0, '-');
        }
        if !fraction.is_empty() {
            out.push(match self.lang {
                Lang::En => '.',
                Lang::Fr => ',',
            });
            out.push_str(fraction);
        }
        out
    }

    /// Bytes in the largest unit that keeps a whole part (`1.5 GB`, `1,5 Go`).
    pub fn bytes(&self, bytes: i64) -> String {
        const UNITS: [&str; 5] = ["B", "KB", "MB", "GB", "TB"];
        const UNITS_FR: [&str; 5] = ["o", "ko", "Mo", "Go", "To"];
        #[allow(clippy::cast_precision_loss)]
        let mut value = bytes as f64;
        let mut unit = 0;
        while value.abs() >= 1000.0 && unit < UNITS.len() - 1 {
            value /= 1000.0;
            unit += 1;
        }
        let names = match self.lang {
            Lang::En => UNITS,
            Lang::Fr => UNITS_FR,
        };
        let decimals = usize::from(unit > 0 && value.abs() < 100.0);
        format!("{}\u{a0}{}", self.dec(value, decimals), names[unit])
    }

    /// Every key, for the tests.
    #[cfg(test)]
    pub fn keys(&self) -> std::collections::BTreeSet<&str> {
        self.strings.keys().map(String::as_str).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_catalogues_have_the_same_keys() {
        let en = Lang::En.catalogue().keys();
        let fr = Lang::Fr.catalogue().keys();
        let only_en: Vec<_> = en.difference(&fr).collect();
        let only_fr: Vec<_> = fr.difference(&en).collect();
        assert!(only_en.is_empty(), "missing in fr.toml: {only_en:?}");
        assert!(only_fr.is_empty(), "missing in en.toml: {only_fr:?}");
    }

    /// Every key the templates and the pages' code name exists: any string
    /// literal shaped like a key whose first part is a catalogue prefix.
    #[test]
    fn every_key_in_use_is_in_the_catalogues() {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
        let en = Lang::En.catalogue().keys();
        let prefixes: std::collections::BTreeSet<&str> =
            en.iter().filter_map(|k| k.split('.').next()).collect();
        let is_key = |text: &str| {
            // Template file names have the same shape.
            !text.ends_with(".html")
                && text.split('.').count() >= 2
                && text.split('.').all(|part| {
                    !part.is_empty()
                        && part
                            .chars()
                            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
                })
                && prefixes.contains(text.split('.').next().unwrap_or(""))
        };
        let mut used = 0;
        for dir in ["dashboards/templates", "collector/src/web"] {
            for entry in std::fs::read_dir(format!("{root}/{dir}")).unwrap() {
                let path = entry.unwrap().path();
                let text = std::fs::read_to_string(&path).unwrap();
                for literal in text.split('"').skip(1).step_by(2) {
                    if is_key(literal) {
                        used += 1;
                        assert!(
                            en.contains(literal),
                            "{}: unknown key {literal}",
                            path.display()
                        );
                    }
                }
            }
        }
        assert!(used > 200, "only {used} keys found in use");
    }

    #[test]
    fn accept_language_picks_the_best_spoken_language() {
        assert_eq!(Lang::negotiate("fr-FR,fr;q=0.9,en;q=0.8"), Lang::Fr);
        assert_eq!(Lang::negotiate("de-DE,en;q=0.5,fr;q=0.7"), Lang::Fr);
        assert_eq!(Lang::negotiate("en-GB"), Lang::En);
        assert_eq!(Lang::negotiate("de, it"), Lang::En);
        assert_eq!(Lang::negotiate("fr;q=0, en;q=0.1"), Lang::En);
        assert_eq!(Lang::negotiate(""), Lang::En);
    }

    #[test]
    fn numbers_follow_the_language() {
        let (en, fr) = (Lang::En.catalogue(), Lang::Fr.catalogue());
        assert_eq!(en.int(1_234_567), "1,234,567");
        assert_eq!(fr.int(-1_234), "-1\u{202f}234");
        assert_eq!(en.dec(1234.56, 1), "1,234.6");
        assert_eq!(fr.dec(0.5, 2), "0,50");
        assert_eq!(en.dec(-0.04, 1), "0.0");
        assert_eq!(en.bytes(1_500_000_000), "1.5\u{a0}GB");
        assert_eq!(fr.bytes(999), "999\u{a0}o");
        assert_eq!(fr.bytes(250_000_000_000), "250\u{a0}Go");
    }
}
