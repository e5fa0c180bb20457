//! The agent's cycle: collect a report, submit what is pending, apply a new
//! policy when the ack announces one, renew the certificate when due, sleep
//! the policy's interval.
//!
//! Reports that could not be delivered stay pending in memory (bounded, the
//! oldest dropped first) and go with the next cycle.

use std::collections::VecDeque;
use std::path::Path;
use std::time::Duration;

use sobrio_proto::Message;
use sobrio_proto::v1::Policy;

use crate::config::AgentConfig;
use crate::enroll::renew;
use crate::report::{ReportBuilder, effective_signals, now_unix_ms};
use crate::state::{Enrollment, StateDir, StateError};
use crate::transport::{CollectorClient, CollectorEndpoint};

/// Renew the certificate when fewer than this many days remain.
const RENEW_BEFORE_DAYS: i64 = 30;
/// Most reports in one Submit call unless the policy says otherwise.
const DEFAULT_BATCH: usize = 100;

/// What one cycle achieved.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CycleOutcome {
    pub accepted: usize,
    pub rejected: usize,
    /// Reports still waiting for a later attempt.
    pub pending: usize,
    /// Why delivery failed, when it did.
    pub error: Option<String>,
}

/// The running agent.
#[derive(Debug)]
pub struct Agent {
    state: StateDir,
    config: AgentConfig,
    enrollment: Enrollment,
    policy: Option<Policy>,
    builder: ReportBuilder,
    pending: VecDeque<Vec<u8>>,
    dropped: u64,
    hostname: String,
}

impl Agent {
    /// Loads the enrollment and policy from the state directory; `server`
    /// overrides the collector URL of the enrollment.
    ///
    /// # Errors
    /// When the device is not enrolled or the state is unreadable.
    pub fn new(
        state: StateDir,
        config: AgentConfig,
        root: &Path,
        server: Option<String>,
    ) -> anyhow::Result<Self> {
        let mut enrollment = state.enrollment()?.ok_or(StateError::NotEnrolled)?;
        if let Some(server) = server {
            enrollment.server = server;
        }
        let policy = state.policy()?;
        let purchase_date = config.purchase_date()?;
        // The host name for renewal CSRs; reports carry the live one.
        let hostname = crate::probe::inventory::host_name(root);
        Ok(Self {
            builder: ReportBuilder::new(root, purchase_date),
            state,
            config,
            enrollment,
            policy,
            pending: VecDeque::new(),
            dropped: 0,
            hostname,
        })
    }

    /// How long to wait between cycles: the policy's interval.
    pub fn interval(&self) -> Duration {
        let secs = self
            .policy
            .as_ref()
            .and_then(|p| u64::try_from(p.report_interval_secs).ok())
            .filter(|s| *s > 0)
            .unwrap_or(u64::from(self.config.report_interval_secs));
        Duration::from_secs(secs)
    }

    async fn client(&self) -> anyhow::Result<CollectorClient> {
        let (key, certificate, ca) = self.state.credentials()?;
        let endpoint = CollectorEndpoint {
            url: self.enrollment.server.clone(),
            ca_pem: Some(ca),
            identity: Some((certificate, key)),
            bearer: Some(format!(
                "{}:{}",
                self.enrollment.device_id, self.enrollment.bearer_secret
            )),
        };
        Ok(CollectorClient::connect(&endpoint).await?)
    }

    /// Collects one report and submits everything pending.
    pub async fn cycle(&mut self) -> CycleOutcome {
        let signals = effective_signals(self.config.signals, self.policy.as_ref());
        let version = self.policy.as_ref().map_or(0, |p| p.version);
        let report = self.builder.collect(signals, version);
        self.pending.push_back(report.encode_to_vec());
        let limit = usize::try_from(self.config.max_pending_reports).unwrap_or(usize::MAX);
        while self.pending.len() > limit {
            self.pending.pop_front();
            self.dropped += 1;
            tracing::warn!(
                dropped = self.dropped,
                "pending reports over the limit: oldest dropped"
            );
        }
        let mut outcome = CycleOutcome::default();
        if let Err(error) = self.deliver(&mut outcome).await {
            tracing::warn!(error = %format!("{error:#}"), pending = self.pending.len(), "delivery failed; will retry");
            outcome.error = Some(format!("{error:#}"));
        }
        outcome.pending = self.pending.len();
        outcome
    }

    async fn deliver(&mut self, outcome: &mut CycleOutcome) -> anyhow::Result<()> {
        let client = self.client().await?;
        let batch_limit = self
            .policy
            .as_ref()
            .and_then(|p| p.limits)
            .and_then(|l| usize::try_from(l.max_reports_per_submit).ok())
            .filter(|n| *n > 0)
            .unwrap_or(DEFAULT_BATCH);
        let mut announced_version = None;
        while !self.pending.is_empty() {
            let count = self.pending.len().min(batch_limit);
            let batch: Vec<Vec<u8>> = self.pending.iter().take(count).cloned().collect();
            let response = client.submit(batch).await?;
            // Accepted are stored; rejected would be refused again: both leave.
            self.pending.drain(..count);
            outcome.accepted += response.accepted.len();
            outcome.rejected += response.rejected.len();
            for rejection in &response.rejected {
                tracing::warn!(index = rejection.index, field = %rejection.field, reason = %rejection.reason, "report rejected by the collector");
            }
            announced_version = Some(response.policy_version);
        }
        let current = self.policy.as_ref().map_or(0, |p| p.version);
        if let Some(version) = announced_version
            && version != current
        {
            let policy = client.get_policy().await?;
            tracing::info!(version = policy.version, "new policy applied");
            self.state.save_policy(&policy)?;
            self.policy = Some(policy);
        }
        let days_left =
            (self.enrollment.certificate_not_after_unix_ms - now_unix_ms()) / 86_400_000;
        if days_left < RENEW_BEFORE_DAYS {
            renew(&self.state, &client, &mut self.enrollment, &self.hostname).await?;
            tracing::info!(days_left, "client certificate renewed");
        }
        Ok(())
    }
}
