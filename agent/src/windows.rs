//! The agent on Windows: where it keeps its files (`%ProgramData%\Sobrio`),
//! the enrollment settings the MSI leaves in the registry, and the Windows
//! service (`sobrio-agent service`, started by the service control
//! manager) with the same graceful stop as SIGTERM on Linux.
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
        crate::command::run(
            "service",
            std::process::Command::new("icacls").arg(dir).args(args),
            crate::command::Limits::SETUP,
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
fn reg(args: &[&str]) -> Option<String> {
    let output = crate::command::run(
        "service",
        std::process::Command::new("reg").args(args),
        crate::command::Limits::SETUP,
    )
    .ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Enrolls with the settings the MSI left, once. The token is removed from
/// the registry (which local users can read) once the device is enrolled,
/// also when a repair or an upgrade wrote it again.
///
/// # Errors
/// When the settings are incomplete or enrollment fails.
pub async fn enroll_from_install_settings(
    state: &crate::state::StateDir,
    root: &std::path::Path,
) -> anyhow::Result<bool> {
    let Some(listing) = reg(&["query", SETTINGS_KEY]) else {
        return Ok(false);
    };
    let forget_token = || {
        let values = parse_reg_query(&listing);
        if values
            .iter()
            .any(|v| v.name.eq_ignore_ascii_case("EnrollmentToken"))
            && reg(&["delete", SETTINGS_KEY, "/v", "EnrollmentToken", "/f"]).is_none()
        {
            tracing::warn!("the enrollment token could not be removed from the registry");
        }
    };
    if state.enrollment()?.is_some() {
        forget_token();
        return Ok(false);
    }
    let Some(settings) =
        install_settings(&parse_reg_query(&listing)).map_err(anyhow::Error::msg)?
    else {
        return Ok(false);
    };
    let hostname = crate::probe::inventory::host_name(root);
    let enrollment = crate::enroll::enroll(
        state,
        &settings.server,
        settings.token.trim(),
        &settings.ca_pem,
        &hostname,
        false,
    )
    .await?;
    tracing::info!(device = %enrollment.device_id, department = %enrollment.department, "enrolled with the installer's settings");
    forget_token();
    Ok(true)
}

#[cfg(windows)]
pub mod service {
    //! The Windows service: the service control manager starts
    //! `sobrio-agent.exe service`; Stop and Shutdown end the agent's loop
    //! as SIGTERM does on Linux (the report in progress is spooled).

    use std::ffi::OsString;
    use std::time::Duration;

    use windows_service::service::{
        ServiceControl, ServiceControlAccept, ServiceExitCode, ServiceState, ServiceStatus,
        ServiceType,
    };
    use windows_service::service_control_handler::{self, ServiceControlHandlerResult};
    use windows_service::{define_windows_service, service_dispatcher};

    use super::SERVICE_NAME;

    define_windows_service!(ffi_service_main, service_main);

    /// Hands this process to the service control manager; returns when the
    /// service has stopped.
    ///
    /// # Errors
    /// When the process was not started by the service control manager.
    pub fn run() -> windows_service::Result<()> {
        service_dispatcher::start(SERVICE_NAME, ffi_service_main)
    }

    fn status(state: ServiceState, exit_code: u32) -> ServiceStatus {
        ServiceStatus {
            service_type: ServiceType::OWN_PROCESS,
            current_state: state,
            controls_accepted: if state == ServiceState::Running {
                ServiceControlAccept::STOP | ServiceControlAccept::SHUTDOWN
            } else {
                ServiceControlAccept::empty()
            },
            exit_code: ServiceExitCode::Win32(exit_code),
            checkpoint: 0,
            wait_hint: if state == ServiceState::StopPending {
                Duration::from_secs(15)
            } else {
                Duration::ZERO
            },
            process_id: None,
        }
    }

    fn service_main(_arguments: Vec<OsString>) {
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let handler = move |control| match control {
            ServiceControl::Stop | ServiceControl::Shutdown => {
                let _ = stop.send(true);
                ServiceControlHandlerResult::NoError
            }
            ServiceControl::Interrogate => ServiceControlHandlerResult::NoError,
            _ => ServiceControlHandlerResult::NotImplemented,
        };
        let Ok(handle) = service_control_handler::register(SERVICE_NAME, handler) else {
            return;
        };
        let _ = handle.set_service_status(status(ServiceState::Running, 0));
        let mut stopped = stopped;
        let shutdown = async move {
            let _ = stopped.wait_for(|stop| *stop).await;
        };
        let code = crate::cli::run_service(shutdown, || {
            let _ = handle.set_service_status(status(ServiceState::StopPending, 0));
        });
        let _ = handle.set_service_status(status(ServiceState::Stopped, code));
    }
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
