//! The sampler: owns the probes and their state between samples and
//! reports, and hands back the agent's own domain values — a usage sample,
//! inventory facts, volumes, the agent's own health — never the wire's
//! types (the encoder, `report`, maps them).
//!
//! The probes that block (sysinfo refreshes, `/proc` and `/sys` reads,
//! firmware programs) live in [`HostProbes`], behind
//! [`Offloaded`](crate::platform::offload::Offloaded): they run on the
//! blocking pool, never on the runtime's thread. logind is asked over the
//! system bus, on the runtime, within the bus's call timeout.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use crate::platform::clock::now_unix_ms;
use crate::platform::offload::Offloaded;
use crate::probe::health::{HealthProbe, OwnHealth};
use crate::probe::inventory::{InventoryFacts, InventoryProbe, InventorySource};
use crate::probe::storage::ScanResult;
use crate::probe::storage::volumes::{VolumeFacts, live_mounts, local_volumes};
use crate::probe::usage::{Sample, UsageSampler};

/// Inventory and volumes are resent at least this often even when unchanged.
pub const INVENTORY_REFRESH: Duration = Duration::from_secs(24 * 3600);

/// The probes that block, and their state.
#[derive(Debug)]
struct HostProbes {
    /// Host root, where `/proc` is read for calls.
    root: PathBuf,
    /// This platform's hardware facts: Linux files under the root,
    /// `system_profiler` on macOS, WMI on Windows.
    inventory: Box<dyn InventorySource>,
    health: HealthProbe,
    usage: UsageSampler,
}

/// What one report carries besides the usage hours and digital load: each
/// part `None` when its signal is off or nothing changed since it was sent.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub inventory: Option<InventoryFacts>,
    pub volumes: Option<Vec<VolumeFacts>>,
    pub health: Option<OwnHealth>,
}

/// When a snapshot reads the volumes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Volumes {
    /// Storage is not reported.
    Off,
    /// Daily, and whenever they are asked for again after a day.
    WhenDue,
    /// Now: a storage scan's totals go with the volumes they belong to.
    Now,
}

/// Keeps the probes between samples and reports.
#[derive(Debug)]
pub struct Sampler {
    host: Offloaded<HostProbes>,
    purchase_date: Option<jiff::civil::Date>,
    #[cfg(target_os = "linux")]
    logind: crate::probe::usage::sessions::Logind,
    /// Whether logind answered the last sample. It is asked every sample
    /// all the same: asking costs a call on the bus, no program, and logind
    /// may start after the agent.
    logind_answered: bool,
    /// Process names of conferencing applications.
    call_applications: Vec<String>,
    /// Applications recording through the sessions' sound servers.
    stream_capture: Vec<String>,
    /// The last inventory sent and when, to send it only on change or daily.
    last_inventory: Option<(InventoryFacts, Instant)>,
    /// When volumes were last sent: daily.
    last_volumes: Option<Instant>,
}

impl Sampler {
    /// A sampler of the host whose files are under `root` (`/` but in
    /// tests and fixtures).
    pub fn new(root: &Path, purchase_date: Option<jiff::civil::Date>) -> Self {
        let inventory: Box<dyn InventorySource> = if cfg!(target_os = "macos") {
            Box::new(crate::probe::inventory::macos::SystemProfiler)
        } else if cfg!(windows) {
            Box::new(crate::probe::inventory::wmi::Wmi)
        } else {
            Box::new(InventoryProbe::new(root, true))
        };
        Self {
            host: Offloaded::new(HostProbes {
                root: root.to_owned(),
                inventory,
                health: HealthProbe::default(),
                usage: UsageSampler::default(),
            }),
            purchase_date,
            #[cfg(target_os = "linux")]
            logind: crate::probe::usage::sessions::Logind::new(root),
            logind_answered: false,
            call_applications: crate::probe::calls::DEFAULT_APPLICATIONS
                .map(String::from)
                .to_vec(),
            stream_capture: Vec::new(),
            last_inventory: None,
            last_volumes: None,
        }
    }

    /// The conferencing applications that count for calls.
    pub fn set_call_applications(&mut self, applications: Vec<String>) {
        self.call_applications = applications;
    }

    /// The applications recording through the sound servers of the
    /// sessions, for the next samples' call detection.
    pub fn set_stream_capture(&mut self, applications: Vec<String>) {
        self.stream_capture = applications;
    }

    /// Whether the sessions, hence the activity, come from logind.
    pub fn has_logind(&self) -> bool {
        self.logind_answered
    }

    /// logind's user sessions, as (login, in use).
    #[cfg(target_os = "linux")]
    async fn sessions(&mut self) -> Option<Vec<(String, bool)>> {
        let sessions = self.logind.sessions().await;
        self.logind_answered = sessions.is_some();
        Some(
            sessions?
                .into_iter()
                .map(|session| (session.login, session.in_use))
                .collect(),
        )
    }

    /// Elsewhere, the usage probe finds the sessions itself.
    #[cfg(not(target_os = "linux"))]
    #[allow(clippy::unused_async)]
    async fn sessions(&mut self) -> Option<Vec<(String, bool)>> {
        None
    }

    /// Takes a usage sample now (cheap: CPU, memory, root fill, sessions),
    /// and whether a call is under way when `watch_calls`.
    pub async fn sample(&mut self, watch_calls: bool) -> Sample {
        let sessions = self.sessions().await;
        let applications = self.call_applications.clone();
        let capture = self.stream_capture.clone();
        self.host
            .run(move |host| {
                let mut sample = host.usage.sample(now_unix_ms(), sessions);
                sample.in_call = watch_calls.then(|| {
                    let mut signals = if cfg!(windows) {
                        crate::probe::calls::from_consent_store(
                            &crate::probe::calls::consent::read_live(),
                            &applications,
                        )
                    } else {
                        crate::probe::calls::read(&host.root, &applications)
                    };
                    signals.capture_holders.extend(capture);
                    signals.in_call()
                });
                sample
            })
            .await
    }

    /// What a report carries besides usage and digital load: the inventory
    /// (when `inventory`) if it changed or a day went by, the volumes as
    /// `volumes` says, the agent's own health always.
    pub async fn snapshot(&mut self, inventory: bool, volumes: Volumes) -> Snapshot {
        let volumes_due = match volumes {
            Volumes::Off => false,
            Volumes::WhenDue => self
                .last_volumes
                .is_none_or(|at| at.elapsed() >= INVENTORY_REFRESH),
            Volumes::Now => true,
        };
        if volumes_due {
            self.last_volumes = Some(Instant::now());
        }
        let purchase_date = self.purchase_date;
        let (facts, volumes, health) = self
            .host
            .run(move |host| {
                let facts = inventory.then(|| host.inventory.collect(purchase_date));
                let volumes = volumes_due.then(|| local_volumes(live_mounts()));
                (facts, volumes, host.health.sample())
            })
            .await;
        let inventory = facts.filter(|facts| {
            let due = self
                .last_inventory
                .as_ref()
                .is_none_or(|(last, at)| last != facts || at.elapsed() >= INVENTORY_REFRESH);
            if due {
                self.last_inventory = Some((facts.clone(), Instant::now()));
            }
            due
        });
        Snapshot {
            inventory,
            volumes,
            health: Some(health),
        }
    }
}

/// A storage scan under way on the blocking pool: a walk of the roots that
/// may take minutes, never on the runtime's thread, never holding the
/// samples back.
#[derive(Debug)]
pub struct StorageScan {
    task: tokio::task::JoinHandle<ScanResult>,
    budget: Duration,
}

impl StorageScan {
    /// Starts scanning `roots` for reclaimable storage within `budget`,
    /// reading at most `max_read_bytes` to hash files, with the hash cache
    /// at `cache_path` (files unchanged since it was saved are not read).
    pub fn start(
        roots: Vec<PathBuf>,
        budget: Duration,
        max_read_bytes: u64,
        cache_path: PathBuf,
    ) -> Self {
        let task = tokio::task::spawn_blocking(move || {
            use crate::probe::storage::{HashCache, ScanBudget, ScanContext, scan_with};
            let mut cache = HashCache::load(&cache_path);
            let context = ScanContext::for_roots(&roots);
            let limits = ScanBudget {
                deadline: Some(Instant::now() + budget),
                max_read_bytes: Some(max_read_bytes),
            };
            let result = scan_with(
                &roots,
                &context,
                SystemTime::now(),
                limits,
                &mut cache,
                |_| {},
            );
            if let Err(error) = cache.save(&cache_path) {
                tracing::warn!(%error, "cannot save the storage scan's hash cache");
            }
            result
        });
        Self { task, budget }
    }

    /// Whether the scan is over.
    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }

    /// Its time budget.
    pub fn budget(&self) -> Duration {
        self.budget
    }

    /// What it found.
    ///
    /// # Errors
    /// When the scan panicked.
    pub async fn result(self) -> Result<ScanResult, tokio::task::JoinError> {
        self.task.await
    }
}
