//! The application: the use cases every adapter (gRPC services, JSON API,
//! pages, CLI, jobs, demo) calls, and the state they share.

use std::sync::Arc;
use std::time::Duration;

use sobrio_proto::pseudonym::PseudonymKey;

pub mod accounts;
pub mod devices;
pub mod enrollment;
pub mod impact;
pub mod indicators;
pub mod requests;
pub mod suggestions;

use crate::analysis::impact::Impact;
use crate::cache::Cached;
use crate::config::CollectorConfig;
use crate::indicators::TrendPoint;
use crate::limiter::FailureLimiter;
use crate::metrics::Metrics;
use crate::pki::CertificateAuthority;
use crate::store::Store;

/// The current time in Unix milliseconds. The use cases and the adapters
/// read the clock here and pass the time down: the store and the domain
/// never read it.
#[must_use]
pub fn now_unix_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

/// How long a cached figure is served before it is computed again.
pub const CACHE_FRESH: Duration = Duration::from_secs(10 * 60);

/// Unknown enrollment tokens allowed per client address in
/// [`ENROLLMENT_REFUSALS_WINDOW`]: beyond, enrollment from that address is
/// refused until the window ends, so that tokens (256 bits) cannot be
/// guessed, nor the CA kept busy. An IPv6 client counts by its /64, which
/// one host can hop within.
pub const ENROLLMENT_REFUSALS_PER_ADDRESS: u32 = 10;

/// How long refused enrollments from one address are remembered.
pub const ENROLLMENT_REFUSALS_WINDOW: Duration = Duration::from_secs(15 * 60);

/// What the use cases share: the store, the CA, the configuration, the
/// organisation's keys, counters and cached figures.
pub struct App {
    pub store: Store,
    pub ca: CertificateAuthority,
    pub config: CollectorConfig,
    /// The organisation's pseudonym key (an oblivious PRF's): devices ask
    /// for their people's pseudonyms, it never leaves the collector.
    pub pseudonyms: PseudonymKey,
    pub metrics: Arc<Metrics>,
    /// This process's identity among replicas (lease holder).
    pub replica_id: String,
    /// Refused enrollments, per client address.
    pub enrollment_limiter: FailureLimiter,
    /// The fleet's impact, computed from every device's facts: kept for
    /// [`CACHE_FRESH`] so that the overview page stays fast on large
    /// fleets; a decision on a suggestion or a recomputation drops it.
    impact_cache: Cached<Impact>,
    /// Suggestions by (kind, status): count and kgCO2e; dropped like the
    /// impact.
    pub suggestion_counts: Cached<Vec<(String, String, i64, f64)>>,
    /// HR's weekly trend of the organisation, by week.
    pub load_trend: Cached<Vec<TrendPoint>>,
    /// The reference data in effect (factor set, per-model data), read
    /// once for the pages that show a device's own footprint.
    reference: Cached<crate::analysis::embodied::Embodied>,
}

impl App {
    /// The application over `store`, with empty caches.
    #[must_use]
    pub fn new(
        store: Store,
        ca: CertificateAuthority,
        config: CollectorConfig,
        pseudonyms: PseudonymKey,
        metrics: Arc<Metrics>,
        replica_id: String,
    ) -> Self {
        Self {
            store,
            ca,
            config,
            pseudonyms,
            metrics,
            replica_id,
            enrollment_limiter: FailureLimiter::new(ENROLLMENT_REFUSALS_WINDOW),
            impact_cache: Cached::new(CACHE_FRESH),
            suggestion_counts: Cached::new(CACHE_FRESH),
            load_trend: Cached::new(CACHE_FRESH),
            reference: Cached::new(CACHE_FRESH),
        }
    }

    /// The reference data in effect, read at most every [`CACHE_FRESH`].
    ///
    /// # Errors
    /// When a configured file cannot be read or parsed.
    pub async fn reference_data(&self) -> anyhow::Result<Arc<crate::analysis::embodied::Embodied>> {
        self.reference
            .get("", || async {
                crate::analysis::reference_data(&self.config.analysis)
            })
            .await
    }

    /// The fleet's impact now, computed at most every [`CACHE_FRESH`].
    ///
    /// # Errors
    /// When the store or the reference data fail.
    pub async fn impact(&self) -> anyhow::Result<Arc<Impact>> {
        self.impact_cache
            .get("", || {
                impact::current_impact(&self.store, &self.config, now_unix_ms())
            })
            .await
    }

    /// Takes a decision on a suggestion ([`suggestions::decide`]) and drops
    /// the cached figures it changes.
    ///
    /// # Errors
    /// As [`suggestions::decide`].
    pub async fn decide(
        &self,
        id: &str,
        action: &str,
        reason: &str,
        actor: &str,
        replaced_outcome: Option<&str>,
    ) -> Result<crate::store::StoredSuggestion, crate::store::DecisionError> {
        let decided =
            suggestions::decide(&self.store, id, action, reason, actor, replaced_outcome).await?;
        self.impact_changed().await;
        Ok(decided)
    }

    /// Drops the cached figures that suggestions feed: they changed.
    pub async fn impact_changed(&self) {
        self.impact_cache.clear().await;
        self.suggestion_counts.clear().await;
    }

    /// Lifetime of device certificates.
    #[must_use]
    pub fn client_certificate_validity(&self) -> Duration {
        Duration::from_secs(u64::from(self.config.tls.client_certificate_days) * 86_400)
    }
}
