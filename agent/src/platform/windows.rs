//! Windows as the agent meets it: where it keeps its files
//! (`%ProgramData%\Sobrio`), the settings the MSI leaves in the registry,
//! whether it runs under Wine, and its folder's permissions.
//!
//! The registry is read through `reg query`, whose output [`parse_reg_query`]
//! reads; it is platform-independent and tested on Linux.

use std::path::PathBuf;

/// The service's name, as the MSI installs it.
pub const SERVICE_NAME: &str = "SobrioAgent";

/// Where the MSI leaves the collector URL, the CA and the enrollment token.
pub const SETTINGS_KEY: &str = r"HKLM\SOFTWARE\Sobrio";

/// `%ProgramData%\Sobrio` (`C:\ProgramData\Sobrio` when the variable is
/// missing).
pub fn program_data() -> PathBuf {
    std::env::var_os("ProgramData")
        .map_or_else(|| PathBuf::from(r"C:\ProgramData"), PathBuf::from)
        .join("Sobrio")
}

/// Whether this process runs under Wine (which keeps its own settings in
/// `HKLM\Software\Wine`). Wine lacks the `pdh.dll` calls behind sysinfo's
/// CPU use and answers its user accounts query with what sysinfo cannot
/// read, so under Wine the agent samples neither CPU use nor sessions; the
/// rest works.
#[cfg(windows)]
pub fn under_wine() -> bool {
    static WINE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *WINE.get_or_init(|| {
        let wine = reg(&["query", r"HKLM\Software\Wine"]).is_some();
        if wine {
            tracing::info!("running under Wine: CPU use and sessions are not sampled");
        }
        wine
    })
}

/// Whether this process runs under Wine: never, off Windows.
#[cfg(not(windows))]
pub fn under_wine() -> bool {
    false
}

/// Restricts `dir` and everything in it to LocalSystem and the
/// Administrators, LocalSystem owning them: `%ProgramData%` lets every user
/// read, and create folders that they would own, by default; the state
/// directory holds the device's key.
pub fn restrict_to_system(dir: &std::path::Path) {
    let icacls = |args: &[&str]| {
        super::command::run(
            "service",
            std::process::Command::new("icacls").arg(dir).args(args),
            super::command::Limits::SETUP,
        )
        .is_ok_and(|output| output.status.success())
    };
    let restricted = icacls(&["/setowner", "*S-1-5-18", "/T", "/C"])
        && icacls(&[
            "/inheritance:r",
            "/grant:r",
            "*S-1-5-18:(OI)(CI)F",
            "*S-1-5-32-544:(OI)(CI)F",
            "/T",
            "/C",
        ]);
    if !restricted {
        tracing::warn!(dir = %dir.display(), "could not restrict the folder to SYSTEM and Administrators (icacls)");
    }
}

/// One value of a `reg query` listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegValue {
    pub name: String,
    pub kind: String,
    pub data: String,
}

/// Parses what `reg query KEY` prints: the key's path, then one line per
/// value, `    NAME    REG_TYPE    DATA` (four spaces between fields).
pub fn parse_reg_query(text: &str) -> Vec<RegValue> {
    text.lines()
        .filter(|line| line.starts_with("    "))
        .filter_map(|line| {
            let mut fields = line.trim_start().splitn(3, "    ");
            let name = fields.next()?.trim();
            let kind = fields.next()?.trim();
            let data = fields.next().unwrap_or("").trim();
            kind.starts_with("REG_").then(|| RegValue {
                name: if name == "(Default)" {
                    String::new()
                } else {
                    name.to_owned()
                },
                kind: kind.to_owned(),
                data: data.to_owned(),
            })
        })
        .collect()
}

/// What the MSI's properties left for the first enrollment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstallSettings {
    pub server: String,
    pub token: String,
    /// The CA certificate, PEM.
    pub ca_pem: String,
}

/// Reads [`InstallSettings`] from a `reg query` listing of
/// [`SETTINGS_KEY`]: `Server`, `EnrollmentToken`, and `CaPem` (PEM, with
/// `\n` written as the two characters `\n` so that it fits one MSI
/// property) or `CaFile` (a path to the PEM file).
///
/// # Errors
/// What is missing or unreadable, to be logged.
pub fn install_settings(values: &[RegValue]) -> Result<Option<InstallSettings>, String> {
    let value = |name: &str| {
        values
            .iter()
            .find(|v| v.name.eq_ignore_ascii_case(name))
            .map(|v| v.data.trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    let (Some(server), Some(token)) = (value("Server"), value("EnrollmentToken")) else {
        return Ok(None);
    };
    let ca_pem = match (value("CaPem"), value("CaFile")) {
        (Some(pem), _) => pem.replace("\\n", "\n"),
        (None, Some(file)) => std::fs::read_to_string(&file)
            .map_err(|e| format!("cannot read the CA file {file} named by the installer: {e}"))?,
        (None, None) => {
            return Err(format!(
                "{SETTINGS_KEY} has a server and a token but no CaPem nor CaFile: \
                 reinstall with the CA_PEM or CA_FILE property"
            ));
        }
    };
    if !ca_pem.contains("-----BEGIN CERTIFICATE-----") {
        return Err("the installer's CA is not a PEM certificate".into());
    }
    Ok(Some(InstallSettings {
        server,
        token,
        ca_pem,
    }))
}

/// Runs `reg` with `args`; its standard output when it succeeds.
pub fn reg(args: &[&str]) -> Option<String> {
    let output = super::command::run(
        "service",
        std::process::Command::new("reg").args(args),
        super::command::Limits::SETUP,
    )
    .ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    const LISTING: &str = "\r\nHKEY_LOCAL_MACHINE\\SOFTWARE\\Sobrio\r\n    Server    REG_SZ    https://sobrio.example.org:50051\r\n    EnrollmentToken    REG_SZ    sbt_0123456789abcdef\r\n    CaPem    REG_SZ    -----BEGIN CERTIFICATE-----\\nMIIB\\n-----END CERTIFICATE-----\\n\r\n    Installed    REG_DWORD    0x1\r\n\r\n";

    #[test]
    fn a_reg_query_listing_is_parsed_into_values() {
        let values = parse_reg_query(LISTING);
        assert_eq!(values.len(), 4);
        assert_eq!(values[0].name, "Server");
        assert_eq!(values[3].kind, "REG_DWORD");
        let settings = install_settings(&values).unwrap().unwrap();
        assert_eq!(settings.server, "https://sobrio.example.org:50051");
        assert_eq!(settings.token, "sbt_0123456789abcdef");
        assert_eq!(
            settings.ca_pem,
            "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
        );
    }

    #[test]
    fn without_a_token_nothing_is_enrolled_and_without_a_ca_it_is_an_error() {
        let values = parse_reg_query(&LISTING.replace("EnrollmentToken", "Other"));
        assert_eq!(install_settings(&values), Ok(None));
        let values = parse_reg_query(&LISTING.replace("CaPem", "Other"));
        let error = install_settings(&values).unwrap_err();
        assert!(error.contains("CA_PEM or CA_FILE"), "{error}");
    }
}
