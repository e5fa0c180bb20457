//! The agent as a Windows service: the service control manager starts
//! `sobrio-agent.exe service`; the service enrolls with the settings the
//! MSI left, then runs the agent until Stop or Shutdown, which end its loop
//! as SIGTERM does on Linux (the report in progress is spooled).

/// The Windows service's body: the default configuration and state, a
/// first enrollment from the installer's settings, then the agent's loop
/// until `shutdown`; `stopping` is called when it begins to stop. Returns
/// the service's exit code (0, or 1 after an error, logged).
#[cfg(windows)]
pub fn run_service(shutdown: impl Future<Output = ()>, stopping: impl FnOnce()) -> u32 {
    use std::path::PathBuf;

    use crate::config::AgentConfig;
    use crate::run::Agent;
    use crate::state::{StateDir, default_state_dir};

    let runtime = match crate::platform::runtime() {
        Ok(runtime) => runtime,
        Err(error) => {
            tracing::error!(%error, "cannot start the async runtime");
            return 1;
        }
    };
    let result: anyhow::Result<()> = runtime.block_on(async {
        let data = crate::platform::windows::program_data();
        std::fs::create_dir_all(&data)?;
        crate::platform::windows::restrict_to_system(&data);
        let state = StateDir::new(default_state_dir());
        let root = PathBuf::from("/");
        let mut shutdown = std::pin::pin!(shutdown);
        // Until enrolled (the collector unreachable at install, off VPN…):
        // try again, from 1 minute up to 30 between attempts, until stopped.
        let mut wait = std::time::Duration::from_secs(60);
        loop {
            if let Err(error) = enroll_from_install_settings(&state, &root).await {
                tracing::error!("enrollment with the installer's settings failed: {error:#}");
            }
            if state.enrollment()?.is_some() {
                break;
            }
            tracing::warn!(
                "not enrolled: the installer's settings are missing or were refused; \
                 next attempt in {} s",
                wait.as_secs()
            );
            tokio::select! {
                () = &mut shutdown => {
                    stopping();
                    return Ok(());
                }
                () = tokio::time::sleep(wait) => {}
            }
            wait = (wait * 2).min(std::time::Duration::from_secs(30 * 60));
        }
        let config = AgentConfig::load_or_default(None)?;
        let mut agent = Agent::new(state, config, &root, None)?;
        tracing::info!("service started");
        agent
            .run(async {
                shutdown.await;
                stopping();
            })
            .await;
        tracing::info!("service stopped");
        Ok(())
    });
    runtime.shutdown_timeout(crate::platform::SHUTDOWN_GRACE);
    match result {
        Ok(()) => 0,
        Err(error) => {
            tracing::error!("the service stops: {error:#}");
            1
        }
    }
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
    let Some(listing) =
        crate::platform::windows::reg(&["query", crate::platform::windows::SETTINGS_KEY])
    else {
        return Ok(false);
    };
    let forget_token = || {
        let values = crate::platform::windows::parse_reg_query(&listing);
        if values
            .iter()
            .any(|v| v.name.eq_ignore_ascii_case("EnrollmentToken"))
            && crate::platform::windows::reg(&[
                "delete",
                crate::platform::windows::SETTINGS_KEY,
                "/v",
                "EnrollmentToken",
                "/f",
            ])
            .is_none()
        {
            tracing::warn!("the enrollment token could not be removed from the registry");
        }
    };
    if state.enrollment()?.is_some() {
        forget_token();
        return Ok(false);
    }
    let Some(settings) = crate::platform::windows::install_settings(
        &crate::platform::windows::parse_reg_query(&listing),
    )
    .map_err(anyhow::Error::msg)?
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
pub mod windows {
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

    use crate::platform::windows::SERVICE_NAME;

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
        let code = super::run_service(shutdown, || {
            let _ = handle.set_service_status(status(ServiceState::StopPending, 0));
        });
        let _ = handle.set_service_status(status(ServiceState::Stopped, code));
    }
}
