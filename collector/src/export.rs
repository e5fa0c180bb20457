//! The one CSV writer every export goes through: the dashboards' tables,
//! suggestions, the asset register for GLPI and Snipe-IT, the audit log.
//!
//! RFC 4180 (fields quoted when they hold the delimiter, a quote or a line
//! break; CRLF line ends), and safe to open in a spreadsheet: text that a
//! spreadsheet would run as a formula — a leading `=`, `+`, `@`, tab or
//! carriage return, or a `-` that does not start a number — is defused with
//! a leading apostrophe (OWASP's advice on CSV injection). Host names,
//! models and departments come from devices and imports, so any of them may
//! be hostile: nothing is written without going through [`field`].

use std::borrow::Cow;
use std::io::Write;

/// `text` as one CSV field for `delimiter`, defused and quoted as needed.
#[must_use]
pub fn field(text: &str, delimiter: char) -> Cow<'_, str> {
    let formula = text.starts_with(['=', '+', '@', '\t', '\r'])
        || (text.starts_with('-') && text.parse::<f64>().is_err());
    let text: Cow<'_, str> = if formula {
        Cow::Owned(format!("'{text}"))
    } else {
        Cow::Borrowed(text)
    };
    if text.contains([delimiter, '"', '\n', '\r']) {
        Cow::Owned(format!("\"{}\"", text.replace('"', "\"\"")))
    } else {
        text
    }
}

/// Writes CSV records, each field through [`field`].
#[derive(Debug)]
pub struct CsvWriter<W: Write> {
    out: W,
    delimiter: char,
}

impl<W: Write> CsvWriter<W> {
    /// Comma-separated.
    pub fn new(out: W) -> Self {
        Self::with_delimiter(out, ',')
    }

    /// Separated by `delimiter` (`;` for spreadsheets set to French).
    pub fn with_delimiter(out: W, delimiter: char) -> Self {
        Self { out, delimiter }
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
        let mut first = true;
        let mut separator = [0; 4];
        let separator = self.delimiter.encode_utf8(&mut separator);
        for value in fields {
            if !first {
                self.out.write_all(separator.as_bytes())?;
            }
            first = false;
            self.out
                .write_all(field(value.as_ref(), self.delimiter).as_bytes())?;
        }
        self.out.write_all(b"\r\n")
    }

    /// Flushes and returns the output.
    ///
    /// # Errors
    /// When flushing fails.
    pub fn finish(mut self) -> std::io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
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
            let written = field(value, ',');
            let text = written.trim_start_matches('"');
            assert!(text.starts_with('\''), "{value:?} written as {written:?}");
        }
        assert_eq!(field("-12.5", ','), "-12.5");
        assert_eq!(field("pc-1", ','), "pc-1");
        assert_eq!(field("", ','), "");
    }

    #[test]
    fn fields_are_quoted_for_their_delimiter() {
        assert_eq!(field("a;b", ';'), "\"a;b\"");
        assert_eq!(field("a;b", ','), "a;b");
        assert_eq!(field("a,b", ','), "\"a,b\"");
        assert_eq!(field("say \"hi\"", ','), "\"say \"\"hi\"\"\"");
        assert_eq!(field("two\nlines", ','), "\"two\nlines\"");
        let csv = to_string([["Name", "Model"], ["=1+1", "ThinkPad, T14"]]);
        assert_eq!(csv, "Name,Model\r\n'=1+1,\"ThinkPad, T14\"\r\n");
        let mut semicolons = CsvWriter::with_delimiter(Vec::new(), ';');
        semicolons.record(["a;b", "c"]).unwrap();
        assert_eq!(semicolons.finish().unwrap(), b"\"a;b\";c\r\n");
    }
}
