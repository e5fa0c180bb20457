//! The names the collector's users type and its devices send, each parsed
//! once by one rule, whichever way it comes in: the command line, the
//! administration page's forms, the API, enrollment and the asset import.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A value refused, with the rule it breaks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {what} {value:?}: {rule}")]
pub struct Invalid {
    pub what: &'static str,
    pub value: String,
    pub rule: &'static str,
}

/// A calendar date written `YYYY-MM-DD`, as the register, the reports and
/// the forms write them; `None` for any other shape or a day that does not
/// exist.
#[must_use]
pub fn parse_date(text: &str) -> Option<jiff::civil::Date> {
    let bytes = text.as_bytes();
    let shaped = bytes.len() == 10
        && bytes.iter().enumerate().all(|(i, b)| {
            if i == 4 || i == 7 {
                *b == b'-'
            } else {
                b.is_ascii_digit()
            }
        });
    if !shaped {
        return None;
    }
    let number = |range: std::ops::Range<usize>| text[range].parse::<i8>().ok();
    let year = text[..4].parse::<i16>().ok()?;
    jiff::civil::Date::new(year, number(5..7)?, number(8..10)?).ok()
}

/// A Unix time in milliseconds written as RFC 3339, in UTC
/// (`2026-11-29T08:30:00Z`); the number itself if it is out of range.
#[must_use]
pub fn rfc3339(unix_ms: i64) -> String {
    jiff::Timestamp::from_millisecond(unix_ms)
        .map_or_else(|_| unix_ms.to_string(), |t| t.to_string())
}

/// The UTC calendar date of a Unix time in milliseconds, `YYYY-MM-DD`
/// (1970-01-01 if it is out of range).
#[must_use]
pub fn utc_date(unix_ms: i64) -> String {
    jiff::Timestamp::from_millisecond(unix_ms)
        .map_or(jiff::civil::Date::constant(1970, 1, 1), |t| {
            t.to_zoned(jiff::tz::TimeZone::UTC).date()
        })
        .to_string()
}

/// A role of a dashboard or API account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Accounts, tokens, devices, the audit log — no digital load.
    Admin,
    /// The fleet and suggestions — no digital load.
    It,
    /// Digital-load indicators — no device.
    Hr,
}

impl Role {
    /// Every role, in the order pages list them.
    pub const ALL: [Self; 3] = [Self::Admin, Self::It, Self::Hr];

    /// The role's name as stored and typed: `admin`, `it`, `hr`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::It => "it",
            Self::Hr => "hr",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = Invalid;

    fn from_str(text: &str) -> Result<Self, Invalid> {
        Self::ALL
            .into_iter()
            .find(|role| role.as_str() == text)
            .ok_or_else(|| Invalid {
                what: "role",
                value: text.to_owned(),
                rule: "admin, it or hr",
            })
    }
}

/// The name of a dashboard or API account: 1 to 64 letters, digits and
/// `. _ - @` (so that an e-mail address fits).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UserName(String);

impl UserName {
    pub const RULE: &'static str = "1 to 64 letters, digits, . _ - @";

    /// # Errors
    /// When `text` (trimmed) breaks [`Self::RULE`].
    pub fn parse(text: &str) -> Result<Self, Invalid> {
        let name = text.trim();
        let valid = !name.is_empty()
            && name.chars().count() <= 64
            && name
                .chars()
                .all(|c| c.is_alphanumeric() || "._-@".contains(c));
        if valid {
            Ok(Self(name.to_owned()))
        } else {
            Err(Invalid {
                what: "user name",
                value: name.to_owned(),
                rule: Self::RULE,
            })
        }
    }

    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for UserName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for UserName {
    type Err = Invalid;

    fn from_str(text: &str) -> Result<Self, Invalid> {
        Self::parse(text)
    }
}

/// A department's name: 1 to 128 characters of text, no control character,
/// trimmed.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DepartmentName(String);

impl DepartmentName {
    pub const RULE: &'static str = "1 to 128 characters, no control character";

    /// # Errors
    /// When `text` (trimmed) breaks [`Self::RULE`].
    pub fn parse(text: &str) -> Result<Self, Invalid> {
        let name = text.trim();
        if !name.is_empty() && name.chars().count() <= 128 && !name.chars().any(char::is_control) {
            Ok(Self(name.to_owned()))
        } else {
            Err(Invalid {
                what: "department",
                value: name.to_owned(),
                rule: Self::RULE,
            })
        }
    }

    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    #[must_use]
    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for DepartmentName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for DepartmentName {
    type Err = Invalid;

    fn from_str(text: &str) -> Result<Self, Invalid> {
        Self::parse(text)
    }
}

/// A device's host name as devices send it and registers hold it: 1 to
/// 253 bytes (a DNS name's limit), no control character. Not restricted
/// further: Windows and macOS names hold spaces and accents.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HostName(String);

impl HostName {
    pub const RULE: &'static str = "1 to 253 bytes, no control character";

    /// # Errors
    /// When `text` breaks [`Self::RULE`].
    pub fn parse(text: &str) -> Result<Self, Invalid> {
        if !text.is_empty() && text.len() <= 253 && !text.chars().any(char::is_control) {
            Ok(Self(text.to_owned()))
        } else {
            Err(Invalid {
                what: "host name",
                value: text.chars().take(64).collect(),
                rule: Self::RULE,
            })
        }
    }

    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for HostName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_written_one_way() {
        assert_eq!(
            parse_date("2026-02-28"),
            Some(jiff::civil::date(2026, 2, 28))
        );
        for bad in [
            "2026-02-30",
            "2026-13-01",
            "2026-2-28",
            "20260228",
            "2026-02-28T10:00",
            "２０２６-02-28",
            "",
        ] {
            assert_eq!(parse_date(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn each_name_has_one_rule() {
        assert_eq!(
            UserName::parse(" ada.l@example.org ").unwrap().as_str(),
            "ada.l@example.org"
        );
        assert!(UserName::parse(&"a".repeat(64)).is_ok());
        for bad in ["", " ", &"a".repeat(65), "ada lovelace", "ada;drop", "<b>"] {
            let error = UserName::parse(bad).unwrap_err();
            assert_eq!(error.rule, UserName::RULE, "{bad:?}");
        }
        assert_eq!(
            DepartmentName::parse(" Comptabilité ").unwrap().as_str(),
            "Comptabilité"
        );
        assert!(DepartmentName::parse(&"é".repeat(128)).is_ok());
        assert!(DepartmentName::parse(&"é".repeat(129)).is_err());
        assert!(DepartmentName::parse("a\nb").is_err());
        assert!(DepartmentName::parse("  ").is_err());
        assert!(HostName::parse("PC de Zoé").is_ok());
        assert!(HostName::parse(&"h".repeat(254)).is_err());
        assert!(HostName::parse("pc\u{7}").is_err());
        assert_eq!("hr".parse::<Role>().unwrap(), Role::Hr);
        assert_eq!(
            "HR".parse::<Role>().unwrap_err().to_string(),
            "invalid role \"HR\": admin, it or hr"
        );
        assert_eq!(Role::ALL.map(Role::as_str), ["admin", "it", "hr"]);
    }
}
