//! A table as the pages show it and as its CSV download gives it: one
//! model, so that every table shown can be downloaded.

/// A header cell.
#[derive(Debug, Clone)]
pub struct Header {
    pub label: String,
    pub numeric: bool,
    /// For sortable columns: the link that sorts by it, and whether the
    /// table is sorted by it now (`ascending`/`descending` for aria-sort).
    pub sort: Option<(String, Option<&'static str>)>,
}

/// A body cell: what is shown, what the CSV holds, and an optional link.
#[derive(Debug, Clone)]
pub struct Cell {
    pub text: String,
    /// The machine-readable value for CSV (unlocalised numbers).
    pub raw: String,
    pub href: Option<String>,
    pub numeric: bool,
}

impl Cell {
    /// Text, shown and exported as is.
    pub fn text(text: impl Into<String>) -> Self {
        let text = text.into();
        Self {
            raw: text.clone(),
            text,
            href: None,
            numeric: false,
        }
    }

    /// A number: shown localised, exported raw.
    #[allow(clippy::needless_pass_by_value)] // Numbers and strings alike.
    pub fn number(shown: String, raw: impl ToString) -> Self {
        Self {
            text: shown,
            raw: raw.to_string(),
            href: None,
            numeric: true,
        }
    }

    /// The same cell as a link.
    #[must_use]
    pub fn link(mut self, href: String) -> Self {
        self.href = Some(href);
        self
    }
}

/// A table with its caption and the address of its CSV.
#[derive(Debug, Clone)]
pub struct Table {
    /// The `csv=` value that downloads it.
    pub id: &'static str,
    pub caption: String,
    pub headers: Vec<Header>,
    pub rows: Vec<Vec<Cell>>,
    /// Link to the CSV download; `None` hides the link.
    pub csv_href: Option<String>,
    /// Shown when there are no rows.
    pub empty: String,
}

impl Table {
    /// A table whose columns are plain (not sortable); numeric ones are
    /// right-aligned.
    pub fn new(id: &'static str, caption: String, headers: &[(&str, bool)]) -> Self {
        Self {
            id,
            caption,
            headers: headers
                .iter()
                .map(|(label, numeric)| Header {
                    label: (*label).to_owned(),
                    numeric: *numeric,
                    sort: None,
                })
                .collect(),
            rows: Vec::new(),
            csv_href: None,
            empty: String::new(),
        }
    }

    /// RFC 4180 CSV of the header labels and the cells' raw values.
    pub fn to_csv(&self) -> String {
        let header: Vec<&str> = self.headers.iter().map(|h| h.label.as_str()).collect();
        crate::export::to_string(
            std::iter::once(header).chain(
                self.rows
                    .iter()
                    .map(|row| row.iter().map(|c| c.raw.as_str()).collect()),
            ),
        )
    }
}

/// A table under its heading, with the chart of its figures if any.
pub struct Section {
    pub heading: String,
    pub svg: Option<String>,
    pub table: Table,
}

/// Gives each section's table its CSV link (`{page}?csv=ID`) and the text
/// shown when it is empty.
pub fn link_csv(sections: &mut [Section], page: &str, empty: &str) {
    for section in sections {
        section.table.csv_href = Some(format!("{page}?csv={}", section.table.id));
        section.table.empty = empty.to_owned();
    }
}

/// The table of the section `id` names (a page's `?csv=ID`).
pub fn section_table<'a>(sections: &'a [Section], id: &str) -> Option<&'a Table> {
    sections.iter().map(|s| &s.table).find(|t| t.id == id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_what_needs_it_and_defuses_formulas() {
        let mut table = Table::new("t", "T".into(), &[("name", false), ("kg, CO2e", true)]);
        table.rows.push(vec![
            Cell::text("say \"hi\""),
            Cell::number("1,234.5".into(), 1234.5),
        ]);
        table.rows.push(vec![
            Cell::text("=HYPERLINK(\"x\")"),
            Cell::number("-2".into(), -2),
        ]);
        assert_eq!(
            table.to_csv(),
            "name,\"kg, CO2e\"\r\n\"say \"\"hi\"\"\",1234.5\r\n\"'=HYPERLINK(\"\"x\"\")\",-2\r\n"
        );
    }
}
