//! The agent's own footprint: resident memory and CPU time, from sysinfo.

use std::time::Instant;

/// The agent's own health at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OwnHealth {
    pub rss_bytes: Option<u64>,
    /// CPU time used since the previous sample.
    pub cpu_time_ms: Option<u64>,
    pub uptime_secs: u64,
}

/// Samples the agent process; keeps the previous CPU total to report deltas.
pub struct HealthProbe {
    system: Option<sysinfo::System>,
    pid: Option<sysinfo::Pid>,
    started: Instant,
    previous_cpu_ms: u64,
}

impl std::fmt::Debug for HealthProbe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HealthProbe")
            .field("pid", &self.pid)
            .finish_non_exhaustive()
    }
}

impl Default for HealthProbe {
    fn default() -> Self {
        Self {
            system: sysinfo::System::new().ok(),
            pid: sysinfo::get_current_pid().ok(),
            started: Instant::now(),
            previous_cpu_ms: 0,
        }
    }
}

impl HealthProbe {
    /// Samples the process now.
    pub fn sample(&mut self) -> OwnHealth {
        let uptime_secs = self.started.elapsed().as_secs();
        let (Some(system), Some(pid)) = (self.system.as_mut(), self.pid) else {
            return OwnHealth {
                rss_bytes: None,
                cpu_time_ms: None,
                uptime_secs,
            };
        };
        system.refresh_processes_specifics(
            sysinfo::ProcessesToUpdate::Some(&[pid]),
            false,
            sysinfo::ProcessRefreshKind::nothing()
                .with_memory()
                .with_cpu(),
        );
        let Some(process) = system.process(pid) else {
            return OwnHealth {
                rss_bytes: None,
                cpu_time_ms: None,
                uptime_secs,
            };
        };
        let total_cpu_ms = process.accumulated_cpu_time();
        let delta = total_cpu_ms.saturating_sub(self.previous_cpu_ms);
        self.previous_cpu_ms = total_cpu_ms;
        OwnHealth {
            rss_bytes: Some(process.memory()),
            cpu_time_ms: Some(delta),
            uptime_secs,
        }
    }
}
