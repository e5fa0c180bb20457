//! The one CSV writer every export goes through: the dashboards' tables,
//! suggestions, the asset register for GLPI and Snipe-IT, the audit log.
//!
//! RFC 4180 (fields quoted when they hold the delimiter, a quote or a line
//! break; CRLF line ends), and safe to open in a spreadsheet: text that a
//! spreadsheet would run as a formula — a leading `=`, `+`, `@`, tab or
//! carriage return, or a `-` that does not start a number — is defused with
//! a leading apostrophe (OWASP's advice on CSV injection). Host names,
//! models and departments come from devices and imports, so any of them may
//! be hostile: nothing is written without going through [`defused`].

use std::borrow::Cow;
use std::io::Write;

/// `text` defused: with a leading apostrophe when a spreadsheet would run
/// it as a formula.
#[must_use]
pub fn defused(text: &str) -> Cow<'_, str> {
    let formula = text.starts_with(['=', '+', '@', '\t', '\r'])
        || (text.starts_with('-') && text.parse::<f64>().is_err());
    if formula {
        Cow::Owned(format!("'{text}"))
    } else {
        Cow::Borrowed(text)
    }
}

/// Writes CSV records (the `csv` crate's writer: RFC 4180 quoting, CRLF
/// line ends), each field [`defused`].
#[derive(Debug)]
pub struct CsvWriter<W: Write> {
    inner: csv::Writer<W>,
}

impl<W: Write> CsvWriter<W> {
    /// Comma-separated.
    pub fn new(out: W) -> Self {
        Self::with_delimiter(out, b',')
    }

    /// Separated by `delimiter` (`;` for spreadsheets set to French).
    pub fn with_delimiter(out: W, delimiter: u8) -> Self {
        Self {
            inner: csv::WriterBuilder::new()
                .delimiter(delimiter)
                .terminator(csv::Terminator::CRLF)
                .flexible(true)
                .from_writer(out),
        }
    }

    /// Writes one record.
    ///
    /// # Errors
    /// When writing fails.
    pub fn record<I, S>(&mut self, fields: I) -> std::io::Result<()>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let fields: Vec<S> = fields.into_iter().collect();
        self.inner
            .write_record(fields.iter().map(|f| defused(f.as_ref()).into_owned()))
            .map_err(std::io::Error::other)
    }

    /// Flushes and returns the output.
    ///
    /// # Errors
    /// When flushing fails.
    pub fn finish(self) -> std::io::Result<W> {
        self.inner
            .into_inner()
            .map_err(|error| std::io::Error::other(error.to_string()))
    }
}

/// Records as a CSV string (comma-separated).
#[must_use]
pub fn to_string<I, R, S>(records: I) -> String
where
    I: IntoIterator<Item = R>,
    R: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let mut writer = CsvWriter::new(Vec::new());
    for record in records {
        writer.record(record).expect("writing to memory");
    }
    String::from_utf8(writer.finish().expect("writing to memory")).expect("UTF-8 in, UTF-8 out")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hostile values any enrolled device or imported register could carry.
    pub(crate) const HOSTILE: [&str; 7] = [
        "=HYPERLINK(\"http://x\",\"y\")",
        "+cmd|' /C calc'!A0",
        "@SUM(1+1)*cmd|' /C calc'!A0",
        "-2+3+cmd|' /C calc'!A0",
        "\t=1+1",
        "\r=1+1",
        "=1;2,3",
    ];

    #[test]
    fn formulas_are_defused_and_numbers_left_alone() {
        for value in HOSTILE {
            let written = to_string([[value]]);
            let text = written.trim_start_matches('"');
            assert!(text.starts_with('\''), "{value:?} written as {written:?}");
        }
        assert_eq!(defused("-12.5"), "-12.5");
        assert_eq!(defused("pc-1"), "pc-1");
        assert_eq!(defused(""), "");
    }

    #[test]
    fn fields_are_quoted_for_their_delimiter() {
        assert_eq!(to_string([["a;b"]]), "a;b\r\n");
        assert_eq!(to_string([["a,b"]]), "\"a,b\"\r\n");
        assert_eq!(to_string([["say \"hi\""]]), "\"say \"\"hi\"\"\"\r\n");
        assert_eq!(to_string([["two\nlines"]]), "\"two\nlines\"\r\n");
        let csv = to_string([["Name", "Model"], ["=1+1", "ThinkPad, T14"]]);
        assert_eq!(csv, "Name,Model\r\n'=1+1,\"ThinkPad, T14\"\r\n");
        let mut semicolons = CsvWriter::with_delimiter(Vec::new(), b';');
        semicolons.record(["a;b", "c"]).unwrap();
        assert_eq!(semicolons.finish().unwrap(), b"\"a;b\";c\r\n");
    }
}
