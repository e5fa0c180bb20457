//! Device use: samples taken often and cheaply (CPU and memory from a sysinfo
//! `System` kept alive between samples, the session's activity from logind),
//! folded into hourly buckets: powered minutes, active minutes, CPU and memory
//! p95, disk fill.
//!
//! Activity comes from the user sessions: logind's on Linux (see
//! `sessions`), the shell's owners on Windows. Where they are unknown the
//! activity is unknown and the buckets carry no active minutes (null),
//! never 0.

#[cfg(target_os = "linux")]
pub mod sessions;

use std::collections::{BTreeMap, BTreeSet};

const MINUTE_MS: i64 = 60_000;
const HOUR_MS: i64 = 3_600_000;

/// One sample.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub at_unix_ms: i64,
    pub cpu_percent: Option<f32>,
    pub memory_percent: Option<f32>,
    pub disk_fill_percent: Option<f32>,
    /// `None`: activity unknown (no session source).
    pub active: Option<bool>,
    /// User sessions (login name, in use), when known.
    pub sessions: Vec<(String, bool)>,
    /// Whether a call was under way, when calls are watched.
    pub in_call: Option<bool>,
}

/// One hour of use, as reported.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct UsageBucket {
    pub hour_start_unix_ms: i64,
    pub powered_minutes: u32,
    pub active_minutes: Option<u32>,
    pub cpu_p95_percent: Option<f32>,
    pub memory_p95_percent: Option<f32>,
    pub disk_fill_percent: Option<f32>,
}

#[derive(Debug, Default, Clone)]
struct HourAccumulator {
    minutes: BTreeSet<i64>,
    active_minutes: BTreeSet<i64>,
    activity_known: bool,
    cpu: Vec<f32>,
    memory: Vec<f32>,
    disk_fill: Option<f32>,
}

/// Nearest-rank 95th percentile.
fn p95(values: &[f32]) -> Option<f32> {
    if values.is_empty() {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f32::total_cmp);
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    let rank = ((sorted.len() as f64 * 0.95).ceil() as usize).clamp(1, sorted.len());
    Some(sorted[rank - 1])
}

/// Hourly buckets built from samples.
#[derive(Debug, Default, Clone)]
pub struct HourlyUsage {
    hours: BTreeMap<i64, HourAccumulator>,
}

impl HourlyUsage {
    /// Folds a sample into its hour. A sample stands for the minute it falls in.
    pub fn add(&mut self, sample: &Sample) {
        let hour = sample.at_unix_ms - sample.at_unix_ms.rem_euclid(HOUR_MS);
        let minute = sample.at_unix_ms.div_euclid(MINUTE_MS);
        let bucket = self.hours.entry(hour).or_default();
        bucket.minutes.insert(minute);
        if let Some(active) = sample.active {
            bucket.activity_known = true;
            if active {
                bucket.active_minutes.insert(minute);
            }
        }
        bucket.cpu.extend(sample.cpu_percent);
        bucket.memory.extend(sample.memory_percent);
        if sample.disk_fill_percent.is_some() {
            bucket.disk_fill = sample.disk_fill_percent;
        }
    }

    /// Every bucket held, oldest first (the current hour as far as it went).
    pub fn buckets(&self) -> Vec<UsageBucket> {
        self.hours
            .iter()
            .map(|(start, hour)| UsageBucket {
                hour_start_unix_ms: *start,
                powered_minutes: u32::try_from(hour.minutes.len().min(60)).unwrap_or(60),
                active_minutes: hour
                    .activity_known
                    .then(|| u32::try_from(hour.active_minutes.len().min(60)).unwrap_or(60)),
                cpu_p95_percent: p95(&hour.cpu),
                memory_p95_percent: p95(&hour.memory),
                disk_fill_percent: hour.disk_fill,
            })
            .collect()
    }

    /// Forgets the hours that ended before `now_unix_ms`: they were reported
    /// (and spooled) whole. The current hour stays, to be reported fuller.
    pub fn forget_completed(&mut self, now_unix_ms: i64) {
        self.hours.retain(|start, _| start + HOUR_MS > now_unix_ms);
    }
}

/// Windows: the interactive users are the owners of the shell
/// (`explorer.exe`), each counted in use (Windows tells the lock state only
/// to the session itself); `None` when no process can be read, and under
/// Wine, whose user accounts API sysinfo cannot read.
#[cfg(windows)]
pub fn windows_sessions(system: &mut sysinfo::System) -> Option<Vec<(String, bool)>> {
    use sysinfo::{ProcessRefreshKind, ProcessesToUpdate, UpdateKind};
    if crate::platform::windows::under_wine() {
        return None;
    }
    system.refresh_processes_specifics(
        ProcessesToUpdate::All,
        true,
        ProcessRefreshKind::nothing().with_user(UpdateKind::OnlyIfNotSet),
    );
    if system.processes().is_empty() {
        return None;
    }
    let users = sysinfo::Users::new_with_refreshed_list().ok()?;
    let mut sessions: Vec<(String, bool)> = system
        .processes()
        .values()
        .filter(|p| p.name().eq_ignore_ascii_case("explorer.exe"))
        .filter_map(|p| users.get_user_by_id(p.user_id()?))
        .map(|user| (user.name().to_lowercase(), true))
        .collect();
    sessions.sort();
    sessions.dedup();
    Some(sessions)
}

/// Takes samples of this machine; keeps its sysinfo state between samples
/// and refreshes only CPU and memory (disks once a sample, for the root fill).
/// Blocking: the sampler runs it off the runtime's thread.
pub struct UsageSampler {
    system: Option<sysinfo::System>,
    disks: Option<sysinfo::Disks>,
}

impl std::fmt::Debug for UsageSampler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UsageSampler").finish_non_exhaustive()
    }
}

impl Default for UsageSampler {
    fn default() -> Self {
        let mut system = sysinfo::System::new().ok();
        if let Some(system) = system.as_mut()
            && !crate::platform::windows::under_wine()
        {
            // CPU use is a difference between two refreshes: prime it.
            system.refresh_cpu_usage();
        }
        Self {
            system,
            disks: sysinfo::Disks::new_with_refreshed_list().ok(),
        }
    }
}

impl UsageSampler {
    /// Samples now. `sessions` are the user sessions when another source
    /// told them (logind); on Windows, without one, the shell's owners.
    pub fn sample(&mut self, now_unix_ms: i64, sessions: Option<Vec<(String, bool)>>) -> Sample {
        let (mut cpu_percent, mut memory_percent) = (None, None);
        if let Some(system) = self.system.as_mut() {
            if !crate::platform::windows::under_wine() {
                system.refresh_cpu_usage();
                cpu_percent = Some(system.global_cpu_usage().clamp(0.0, 100.0));
            }
            system.refresh_memory();
            let total = system.total_memory();
            #[allow(clippy::cast_precision_loss)]
            if total > 0 {
                memory_percent = Some((system.used_memory() as f64 * 100.0 / total as f64) as f32);
            }
        }
        let disk_fill_percent = self.disks.as_mut().and_then(|disks| {
            disks.refresh(false);
            let root = disks
                .iter()
                .find(|d| d.mount_point() == std::path::Path::new("/"))?;
            let total = root.total_space();
            #[allow(clippy::cast_precision_loss)]
            (total > 0).then(|| {
                ((total - root.available_space().min(total)) as f64 * 100.0 / total as f64) as f32
            })
        });
        #[cfg(windows)]
        let sessions = sessions.or_else(|| self.system.as_mut().and_then(windows_sessions));
        let active = sessions
            .as_ref()
            .map(|s| s.iter().any(|(_, in_use)| *in_use));
        Sample {
            at_unix_ms: now_unix_ms,
            cpu_percent,
            memory_percent,
            disk_fill_percent,
            active,
            sessions: sessions.unwrap_or_default(),
            in_call: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: i64 = 1_795_392_000_000; // a whole UTC hour

    fn sample(minute: i64, cpu: f32, active: Option<bool>) -> Sample {
        Sample {
            at_unix_ms: HOUR + minute * MINUTE_MS + 5_000,
            cpu_percent: Some(cpu),
            memory_percent: Some(50.0),
            disk_fill_percent: Some(40.0),
            active,
            sessions: Vec::new(),
            in_call: None,
        }
    }

    #[test]
    fn samples_fold_into_hourly_buckets_with_p95_and_distinct_minutes() {
        let mut usage = HourlyUsage::default();
        for minute in 0..20 {
            usage.add(&sample(
                minute,
                if minute == 19 {
                    99.0
                } else {
                    10.0 + minute as f32
                },
                Some(minute < 15),
            ));
        }
        usage.add(&sample(3, 10.0, Some(true))); // the same minute again
        usage.add(&sample(61, 5.0, Some(false))); // next hour
        let buckets = usage.buckets();
        assert_eq!(buckets.len(), 2);
        let first = buckets[0];
        assert_eq!(
            (
                first.hour_start_unix_ms,
                first.powered_minutes,
                first.active_minutes
            ),
            (HOUR, 20, Some(15))
        );
        // 21 CPU samples; nearest-rank p95 is the 20th smallest.
        assert_eq!(first.cpu_p95_percent, Some(28.0));
        assert_eq!(buckets[1].powered_minutes, 1);
        usage.forget_completed(HOUR + 61 * MINUTE_MS);
        assert_eq!(usage.buckets().len(), 1, "the completed hour was reported");
    }

    #[test]
    fn unknown_activity_leaves_active_minutes_null() {
        let mut usage = HourlyUsage::default();
        usage.add(&sample(0, 10.0, None));
        assert_eq!(usage.buckets()[0].active_minutes, None);
    }
}
