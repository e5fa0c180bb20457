//! The agent's cycle: sample use every minute, collect a report into the
//! spool on the policy's interval, deliver what the spool holds, retry with backoff when the
//! collector cannot take it, apply a new policy when an ack announces one,
//! renew the certificate when due, and stop gracefully.
//!
//! A report counts as collected once it is in the spool (synced to disk); it
//! leaves the spool only when the collector answered for it. If the spool
//! cannot be written (a full disk), reports wait in memory, bounded, and the
//! agent keeps running.

use std::collections::VecDeque;
use std::future::Future;
use std::path::Path;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use sobrio_proto::Message;
use sobrio_proto::pseudonym::Blinded;
use sobrio_proto::v1::{
    AgentHealth, EvaluatePseudonymsResponse, Policy, RenewResponse, SubmitResponse,
};
use tokio::time::Instant;

use crate::backoff::{Backoff, Jitter};
use crate::config::AgentConfig;
use crate::enroll::key_and_csr;
use crate::pseudonyms::PseudonymBook;
use crate::report::{effective_signals, now_unix_ms};
use crate::sampler::{Sampler, StorageScan};
use crate::spool::{Spool, SpoolLimits};
use crate::state::{Enrollment, StateDir, StateError};
use crate::tally::Tally;
use crate::transport::{CollectorClient, CollectorEndpoint};

/// Renew the certificate when fewer than this many days remain.
const RENEW_BEFORE_DAYS: i64 = 30;
/// How often the storage scan runs.
const SCAN_INTERVAL: Duration = Duration::from_secs(24 * 3600);
/// The first scan waits this long after start (and the splay), so that a
/// booting machine is not slowed down.
const FIRST_SCAN_DELAY: Duration = Duration::from_secs(600);
/// Scan budget when the policy gives none.
const DEFAULT_SCAN_BUDGET: Duration = Duration::from_secs(120);

/// How often use is sampled (CPU, memory, activity): often and cheaply.
const SAMPLE_INTERVAL: Duration = Duration::from_secs(60);
/// Longest single sleep: lets the agent notice a suspend (wall clock jumps,
/// monotonic clock does not) and catch up soon after resume.
const MAX_SLEEP: Duration = Duration::from_secs(60);

/// The collector as the agent's cycle sees it. The gRPC implementation is
/// [`GrpcUplink`]; tests may bridge to a real collector running elsewhere.
#[allow(async_fn_in_trait)]
pub trait Uplink {
    /// `Ingest.Submit`.
    async fn submit(&mut self, reports: Vec<Vec<u8>>) -> anyhow::Result<SubmitResponse>;
    /// `Ingest.GetPolicy`.
    async fn get_policy(&mut self) -> anyhow::Result<Policy>;
    /// `Ingest.EvaluatePseudonyms`.
    async fn evaluate_pseudonyms(
        &mut self,
        blinded_elements: Vec<Vec<u8>>,
    ) -> anyhow::Result<EvaluatePseudonymsResponse>;
    /// `Enrollment.Renew`.
    async fn renew(&mut self, csr_pem: String) -> anyhow::Result<RenewResponse>;
    /// Forget the connection (after a failure or new credentials).
    fn reset(&mut self);
}

/// The real uplink: gRPC over mutual TLS with the enrolled identity,
/// connected lazily and again after a failure.
#[derive(Debug)]
pub struct GrpcUplink {
    state: StateDir,
    server: String,
    bearer: String,
    client: Option<CollectorClient>,
}

impl GrpcUplink {
    pub fn new(state: StateDir, enrollment: &Enrollment) -> Self {
        Self {
            state,
            server: enrollment.server.clone(),
            bearer: format!("{}:{}", enrollment.device_id, enrollment.bearer_secret),
            client: None,
        }
    }

    async fn client(&mut self) -> anyhow::Result<&CollectorClient> {
        if self.client.is_none() {
            let (key, certificate, ca) = self.state.credentials()?;
            let endpoint = CollectorEndpoint {
                url: self.server.clone(),
                ca_pem: Some(ca),
                identity: Some((certificate, key)),
                bearer: Some(self.bearer.clone()),
            };
            self.client = Some(CollectorClient::connect(&endpoint).await?);
        }
        Ok(self.client.as_ref().expect("connected above"))
    }
}

impl Uplink for GrpcUplink {
    async fn submit(&mut self, reports: Vec<Vec<u8>>) -> anyhow::Result<SubmitResponse> {
        Ok(self.client().await?.submit(reports).await?)
    }

    async fn get_policy(&mut self) -> anyhow::Result<Policy> {
        Ok(self.client().await?.get_policy().await?)
    }

    async fn renew(&mut self, csr_pem: String) -> anyhow::Result<RenewResponse> {
        Ok(self.client().await?.renew(csr_pem).await?)
    }

    async fn evaluate_pseudonyms(
        &mut self,
        blinded_elements: Vec<Vec<u8>>,
    ) -> anyhow::Result<EvaluatePseudonymsResponse> {
        Ok(self
            .client()
            .await?
            .evaluate_pseudonyms(blinded_elements)
            .await?)
    }

    fn reset(&mut self) {
        self.client = None;
    }
}

/// What `sobrio-agent status` shows, kept in the state directory.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryStatus {
    /// RFC 3339 of the last Submit the collector answered.
    pub last_success: Option<String>,
    /// The last errors, newest last (at most 5).
    pub last_errors: Vec<String>,
    pub spool_depth: u64,
    pub spool_bytes: u64,
    pub dropped: u64,
    pub quarantined: u64,
    /// Reports waiting in memory because the spool could not be written.
    pub in_memory: u64,
    pub accepted_total: u64,
    pub rejected_total: u64,
    /// Probes whose programs failed (timed out, flooded): what `status`
    /// names.
    #[serde(default)]
    pub probes: std::collections::BTreeMap<String, crate::platform::command::ProbeFailures>,
    /// Usage samples taken since the agent started (one a minute).
    #[serde(default)]
    pub samples_taken: u64,
    /// RFC 3339 of the last usage sample.
    #[serde(default)]
    pub last_sample: Option<String>,
    /// Why the collector cannot be trusted any more, when it cannot: what
    /// `status` says, and what to do.
    #[serde(default)]
    pub collector_untrusted: Option<String>,
}

/// How long the agent waits before trying a collector it no longer trusts
/// again (an operator may put the right CA back).
pub const UNTRUSTED_RETRY: Duration = Duration::from_secs(3600);

/// Whether `error` says the collector presented a certificate the CA pinned
/// at enrollment does not sign (its CA changed): the certificate error
/// rustls reports, wherever it sits in the chain.
pub fn untrusted_collector(error: &anyhow::Error) -> bool {
    use rustls::CertificateError;
    error.chain().any(|cause| {
        let tls = cause.downcast_ref::<rustls::Error>().or_else(|| {
            cause
                .downcast_ref::<std::io::Error>()
                .and_then(|io| io.get_ref())
                .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        });
        matches!(
            tls,
            Some(rustls::Error::InvalidCertificate(
                CertificateError::UnknownIssuer | CertificateError::BadSignature
            ))
        )
    })
}

const STATUS_FILE: &str = "status.json";

/// Reads the status a running agent keeps.
pub fn read_status(state: &StateDir) -> Option<DeliveryStatus> {
    serde_json::from_slice(&std::fs::read(state.path().join(STATUS_FILE)).ok()?).ok()
}

/// What one delivery achieved.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Delivered {
    pub accepted: usize,
    pub rejected: usize,
}

/// The running agent.
#[derive(Debug)]
pub struct Agent<U> {
    state: StateDir,
    config: AgentConfig,
    enrollment: Enrollment,
    policy: Option<Policy>,
    /// The probes and their state.
    sampler: Sampler,
    /// What samples and monitors added up to since the last report.
    tally: Tally,
    /// The storage scan under way, if any.
    scan: Option<StorageScan>,
    /// The pseudonyms of the people who use the device.
    pseudonyms: PseudonymBook,
    spool: Spool,
    /// Reports the spool could not take (disk full), oldest first.
    memory: VecDeque<(String, Vec<u8>)>,
    uplink: U,
    backoff: Backoff,
    jitter: Jitter,
    hostname: String,
    status: DeliveryStatus,
    /// Notification monitors, calendars and people's files.
    people: crate::people::People,
}

impl Agent<GrpcUplink> {
    /// Loads the enrollment, policy and spool from the state directory;
    /// `server` overrides the enrolled collector URL.
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
        let uplink = GrpcUplink::new(state.clone(), &enrollment);
        Self::with_uplink(
            state,
            config,
            root,
            enrollment,
            uplink,
            Jitter::from_entropy(),
        )
    }
}

impl<U: Uplink> Agent<U> {
    /// An agent delivering through `uplink`.
    ///
    /// # Errors
    /// When the spool or policy cannot be opened.
    pub fn with_uplink(
        state: StateDir,
        config: AgentConfig,
        root: &Path,
        enrollment: Enrollment,
        uplink: U,
        jitter: Jitter,
    ) -> anyhow::Result<Self> {
        let policy = state.policy()?;
        let spool = Spool::open(
            &state.path().join("spool"),
            SpoolLimits {
                max_bytes: config.spool.max_bytes,
                max_age_ms: i64::from(config.spool.max_age_days) * 86_400_000,
            },
        )?;
        let backoff = Backoff::new(
            Duration::from_secs(config.delivery.retry_min_secs.into()),
            Duration::from_secs(config.delivery.retry_max_secs.into()),
            jitter.clone(),
        );
        let mut sampler = Sampler::new(root, config.purchase_date()?);
        sampler.set_call_applications(config.calls.applications.clone());
        let pseudonyms = state.pseudonyms().unwrap_or_else(|error| {
            // Obtained again (within the device's bound) rather than not run.
            tracing::warn!(%error, "pseudonyms unreadable: they will be obtained again");
            PseudonymBook::default()
        });
        let people_dir = config
            .people_dir
            .clone()
            .unwrap_or_else(|| crate::me::default_dir(state.path()));
        Ok(Self {
            people: crate::people::People::new(root, people_dir),
            sampler,
            tally: Tally::new(jiff::tz::TimeZone::system()),
            scan: None,
            pseudonyms,
            // The host name for renewal CSRs; reports carry the live one.
            hostname: crate::probe::inventory::host_name(root),
            status: read_status(&state).unwrap_or_default(),
            state,
            config,
            enrollment,
            policy,
            spool,
            memory: VecDeque::new(),
            uplink,
            backoff,
            jitter,
        })
    }

    /// What samples and monitors added up to since the last report.
    pub fn tally_mut(&mut self) -> &mut Tally {
        &mut self.tally
    }

    /// How long to wait between reports: the policy's interval.
    pub fn interval(&self) -> Duration {
        let secs = self
            .policy
            .as_ref()
            .and_then(|p| u64::try_from(p.report_interval_secs).ok())
            .filter(|s| *s > 0)
            .unwrap_or(u64::from(self.config.report_interval_secs));
        Duration::from_secs(secs)
    }

    /// The spool's state as AgentHealth reports it.
    fn health(&self) -> AgentHealth {
        let (depth, bytes) = self.spool.depth();
        let to_i64 = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        AgentHealth {
            spool_depth: Some(to_i64(depth + self.memory.len() as u64)),
            spool_bytes: Some(to_i64(bytes)),
            reports_dropped: Some(to_i64(self.spool.stats().dropped)),
            ..AgentHealth::default()
        }
    }

    fn note_error(&mut self, error: &str) {
        self.status
            .last_errors
            .push(format!("{}: {error}", rfc3339(now_unix_ms())));
        let excess = self.status.last_errors.len().saturating_sub(5);
        self.status.last_errors.drain(..excess);
    }

    fn save_status(&mut self) {
        let (depth, bytes) = self.spool.depth();
        let stats = self.spool.stats();
        self.status.spool_depth = depth;
        self.status.spool_bytes = bytes;
        self.status.dropped = stats.dropped;
        self.status.quarantined = stats.quarantined;
        self.status.in_memory = self.memory.len() as u64;
        self.status.probes = crate::platform::command::failures();
        let path = self.state.path().join(STATUS_FILE);
        let temporary = self.state.path().join(".status.json.tmp");
        if let Ok(json) = serde_json::to_vec_pretty(&self.status)
            && std::fs::write(&temporary, json).is_ok()
        {
            let _ = std::fs::rename(&temporary, &path);
        }
    }

    /// Before a report: each user's calendars read when due, and their days
    /// kept for `me` before the report forgets the completed ones.
    pub async fn prepare_digital_load(&mut self) {
        let signals = effective_signals(self.config.signals, self.policy.as_ref());
        if !signals.activity {
            return;
        }
        if signals.calendar {
            self.people.refresh_calendars(&mut self.tally).await;
        }
        let hours = crate::report::week_hours(self.policy.as_ref());
        self.people.save(&self.tally, &hours, true);
        self.obtain_pseudonyms().await;
    }

    /// Obtains from the collector the pseudonyms of users who have none yet
    /// (one at a time, so that a bound reached refuses only the people
    /// beyond it). Their days wait until then; a refused person's days are
    /// not reported, and they are asked again a day later.
    pub async fn obtain_pseudonyms(&mut self) {
        let Some(policy) = self.policy.clone() else {
            return;
        };
        let now = now_unix_ms();
        let users: Vec<String> = self.tally.activity().users().map(str::to_owned).collect();
        let ask = self.pseudonyms.to_ask(
            &policy,
            users.iter().map(String::as_str),
            now,
            sobrio_proto::pseudonym::MAX_BATCH,
        );
        if ask.is_empty() {
            return;
        }
        let public_key = &policy.pseudonym_public_key;
        for (index, login) in ask.iter().enumerate() {
            let logins = std::slice::from_ref(login);
            let blinded = match Blinded::new(logins) {
                Ok(blinded) => blinded,
                Err(error) => {
                    tracing::warn!(%error, "a user's login cannot be pseudonymised");
                    continue;
                }
            };
            match self
                .uplink
                .evaluate_pseudonyms(blinded.elements().to_vec())
                .await
            {
                Ok(answer) => {
                    match blinded.finalize(&answer.evaluated_elements, &answer.proof, public_key) {
                        Ok(ids) => {
                            self.pseudonyms.learn(public_key, logins, ids);
                            tracing::info!("a user's pseudonym obtained from the collector");
                        }
                        Err(error) => {
                            tracing::error!(%error, "the collector's answer does not verify: days wait");
                            self.note_error(&format!("pseudonyms: {error}"));
                            break;
                        }
                    }
                }
                Err(error) if is_refusal(&error) => {
                    let refused = &ask[index..];
                    tracing::warn!(
                        users = refused.len(),
                        error = %format!("{error:#}"),
                        "the collector refused pseudonyms: this device's bound of people is reached; \
                         their days are not reported"
                    );
                    self.note_error(&format!("pseudonyms refused: {error:#}"));
                    self.pseudonyms.refuse(public_key, refused, now);
                    break;
                }
                Err(error) => {
                    tracing::warn!(error = %format!("{error:#}"), "pseudonyms not obtained: days wait for the next report");
                    self.uplink.reset();
                    break;
                }
            }
        }
        if let Err(error) = self.state.save_pseudonyms(&self.pseudonyms) {
            tracing::warn!(%error, "cannot save pseudonyms; they stay in memory");
        }
    }

    /// Collects one report into the spool (or memory, if the spool cannot
    /// take it). Returns its id.
    pub async fn collect(&mut self) -> String {
        let signals = effective_signals(self.config.signals, self.policy.as_ref());
        let mut report = crate::report::collect(
            &mut self.sampler,
            &mut self.tally,
            &mut self.pseudonyms,
            signals,
            self.policy.as_ref(),
        )
        .await;
        let mut health = self.health();
        if let Some(own) = report.agent_health.take() {
            health.rss_bytes = own.rss_bytes;
            health.cpu_time_ms = own.cpu_time_ms;
            health.uptime_secs = own.uptime_secs;
        }
        report.agent_health = Some(health);
        let id = report.report_id.clone();
        self.spool.expire(now_unix_ms());
        self.store(id.clone(), report.encode_to_vec());
        self.save_status();
        id
    }

    fn store(&mut self, id: String, payload: Vec<u8>) {
        match self.spool.push(&id, &payload) {
            Ok(()) => tracing::info!(report = %id, "report spooled"),
            Err(error) => {
                tracing::error!(%error, "report kept in memory: the spool cannot take it");
                self.note_error(&error.to_string());
                self.memory.push_back((id, payload));
                let limit = usize::try_from(self.config.max_pending_reports).unwrap_or(usize::MAX);
                while self.memory.len() > limit {
                    self.memory.pop_front();
                    self.status.dropped += 1;
                }
            }
        }
    }

    /// Delivers everything held, in batches, oldest first.
    ///
    /// # Errors
    /// When the collector cannot be reached or refuses the call; what was
    /// not acknowledged stays for the next attempt.
    pub async fn deliver(&mut self) -> anyhow::Result<Delivered> {
        let result = self.try_deliver().await;
        match &result {
            Ok(_) => {
                self.backoff.success();
                self.status.last_success = Some(rfc3339(now_unix_ms()));
                self.status.collector_untrusted = None;
            }
            Err(error) => {
                self.uplink.reset();
                self.note_error(&format!("{error:#}"));
                if untrusted_collector(error) {
                    let said = format!(
                        "the collector at {} presents a certificate the CA pinned at enrollment \
                         does not sign: its CA changed (a reinstallation, or a store restored \
                         from another installation). Reports stay in the spool, tried again \
                         hourly. If the change is expected, enroll again: sobrio-agent enroll \
                         --force --server {} --token TOKEN --ca NEW_CA.pem",
                        self.enrollment.server, self.enrollment.server
                    );
                    if self.status.collector_untrusted.as_deref() != Some(&said) {
                        tracing::error!("{said}");
                    }
                    self.status.collector_untrusted = Some(said);
                }
            }
        }
        self.save_status();
        result
    }

    async fn try_deliver(&mut self) -> anyhow::Result<Delivered> {
        // Reports held in memory go to the spool as soon as it takes them.
        while let Some((id, payload)) = self.memory.pop_front() {
            if let Err(error) = self.spool.push(&id, &payload) {
                tracing::warn!(%error, "spool still unavailable");
                self.memory.push_front((id, payload));
                break;
            }
        }
        let batch_limit = self
            .policy
            .as_ref()
            .and_then(|p| p.limits)
            .and_then(|l| usize::try_from(l.max_reports_per_submit).ok())
            .filter(|n| *n > 0)
            .map_or(self.config.delivery.batch_reports as usize, |n| {
                n.min(self.config.delivery.batch_reports as usize)
            });
        let mut delivered = Delivered::default();
        let mut announced = None;
        loop {
            let from_spool = self.spool.oldest(batch_limit);
            let (ids, payloads): (Vec<String>, Vec<Vec<u8>>) = if from_spool.is_empty() {
                self.memory.iter().take(batch_limit).cloned().unzip()
            } else {
                from_spool
                    .into_iter()
                    .map(|e| (e.report_id, e.payload))
                    .unzip()
            };
            if ids.is_empty() {
                break;
            }
            let response = self.uplink.submit(payloads).await?;
            for rejection in &response.rejected {
                tracing::warn!(index = rejection.index, field = %rejection.field, reason = %rejection.reason, "report rejected by the collector");
            }
            // The collector answered for every report of the batch: accepted
            // ones are stored, rejected ones would be refused again.
            self.spool.remove(&ids);
            self.memory.retain(|(id, _)| !ids.contains(id));
            delivered.accepted += response.accepted.len();
            delivered.rejected += response.rejected.len();
            self.status.accepted_total += response.accepted.len() as u64;
            self.status.rejected_total += response.rejected.len() as u64;
            announced = Some(response.policy_version);
        }
        let current = self.policy.as_ref().map_or(0, |p| p.version);
        if let Some(version) = announced
            && version != current
        {
            let policy = self.uplink.get_policy().await?;
            tracing::info!(version = policy.version, "new policy applied");
            self.pseudonyms
                .policy_replaced(self.policy.as_ref(), &policy, now_unix_ms());
            if let Err(error) = self.state.save_pseudonyms(&self.pseudonyms) {
                tracing::warn!(%error, "cannot save pseudonyms; they stay in memory");
            }
            if let Err(error) = self.state.save_policy(&policy) {
                // Applied all the same; saved once the disk allows.
                tracing::warn!(%error, "cannot save the new policy");
            }
            self.policy = Some(policy);
        }
        let days_left =
            (self.enrollment.certificate_not_after_unix_ms - now_unix_ms()) / 86_400_000;
        if days_left < RENEW_BEFORE_DAYS {
            let (key_pem, csr_pem) = key_and_csr(&self.hostname)?;
            let renewed = self.uplink.renew(csr_pem).await?;
            self.enrollment.certificate_not_after_unix_ms = renewed.certificate_not_after_unix_ms;
            self.state
                .save_certificate(&self.enrollment, &key_pem, &renewed.certificate_pem)?;
            self.uplink.reset();
            tracing::info!(days_left, "client certificate renewed");
        }
        Ok(delivered)
    }

    /// Runs until `shutdown` resolves: a report every interval, deliveries
    /// after each report (the first after a random splay), retries with
    /// backoff; at shutdown, one last delivery within the configured deadline.
    pub async fn run(&mut self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        let splay = self.jitter.up_to(Duration::from_secs(
            self.config.delivery.splay_max_secs.into(),
        ));
        let start = Instant::now();
        let mut next_report = start;
        let splay_until = start + splay;
        let mut next_delivery = splay_until;
        // The first sample at once: the first report knows who is here.
        let mut next_sample = start;
        let mut next_scan = splay_until + FIRST_SCAN_DELAY;
        let mut last_wall = SystemTime::now();
        let mut last_mono = start;
        loop {
            let now = Instant::now();
            // A suspend stops the monotonic clock, not the wall clock: catch up.
            let wall = SystemTime::now()
                .duration_since(last_wall)
                .unwrap_or_default();
            let mono = now - last_mono;
            if wall > mono + Duration::from_secs(5) {
                let slept = wall - mono;
                tracing::info!(secs = slept.as_secs(), "resumed after a suspend");
                next_report = next_report.checked_sub(slept).unwrap_or(now).max(start);
                next_delivery = next_delivery.checked_sub(slept).unwrap_or(now).max(start);
            }
            (last_wall, last_mono) = (SystemTime::now(), now);
            if now >= next_sample {
                let signals = effective_signals(self.config.signals, self.policy.as_ref());
                if signals.usage {
                    let sample = self.sampler.sample(signals.calls).await;
                    self.tally.add_sample(&sample);
                    let capture = self
                        .people
                        .after_sample(
                            &mut self.tally,
                            signals.notifications && signals.activity,
                            signals.calls && signals.activity,
                        )
                        .await;
                    self.sampler.set_stream_capture(capture);
                    let hours = crate::report::week_hours(self.policy.as_ref());
                    self.people.save(&self.tally, &hours, false);
                    self.status.samples_taken += 1;
                    self.status.last_sample = Some(rfc3339(now_unix_ms()));
                    self.save_status();
                }
                next_sample = now + SAMPLE_INTERVAL;
            }
            if now >= next_scan {
                self.start_storage_scan();
                next_scan = now + SCAN_INTERVAL;
            }
            self.finish_storage_scan().await;
            if now >= next_report {
                self.prepare_digital_load().await;
                self.collect().await;
                next_report = now + self.interval();
                // A new report goes at once, unless the splay or a backoff
                // says to wait.
                if self.backoff.failures() == 0 {
                    next_delivery = next_delivery.min(now).max(splay_until);
                }
            }
            if now >= next_delivery {
                match self.deliver().await {
                    Ok(done) => {
                        tracing::info!(
                            accepted = done.accepted,
                            rejected = done.rejected,
                            "delivered"
                        );
                        next_delivery = next_report;
                    }
                    Err(error) => {
                        // A collector that is not the one enrolled with is
                        // not hammered: it is tried again hourly.
                        let delay = if untrusted_collector(&error) {
                            UNTRUSTED_RETRY
                        } else {
                            self.backoff.failure()
                        };
                        tracing::warn!(error = %format!("{error:#}"), retry_in_secs = delay.as_secs(), "delivery failed; will retry");
                        next_delivery = Instant::now() + delay;
                    }
                }
            }
            let wake = next_report
                .min(next_delivery)
                .min(next_sample)
                .min(next_scan)
                .min(Instant::now() + MAX_SLEEP);
            tokio::select! {
                () = tokio::time::sleep_until(wake) => {}
                () = &mut shutdown => {
                    let deadline = Duration::from_secs(self.config.delivery.shutdown_deadline_secs.into());
                    match tokio::time::timeout(deadline, self.deliver()).await {
                        Ok(Ok(_)) => tracing::info!("delivered before stopping"),
                        Ok(Err(error)) => tracing::warn!(error = %format!("{error:#}"), "stopping with reports in the spool"),
                        Err(_) => tracing::warn!("shutdown deadline reached; reports stay in the spool"),
                    }
                    return;
                }
            }
        }
    }

    /// Starts a scan of the storage roots (the policy's, else homes and temp
    /// folders) within the policy's budget, on the blocking pool; the loop
    /// goes on sampling meanwhile, and [`Agent::finish_storage_scan`] takes
    /// its result.
    fn start_storage_scan(&mut self) {
        if self.scan.is_some()
            || !effective_signals(self.config.signals, self.policy.as_ref()).storage
        {
            return;
        }
        let roots: Vec<std::path::PathBuf> = match self.policy.as_ref().map(|p| &p.scan_roots) {
            Some(roots) if !roots.is_empty() => {
                roots.iter().map(std::path::PathBuf::from).collect()
            }
            _ => crate::probe::storage::default_roots(),
        };
        let budget = self
            .policy
            .as_ref()
            .and_then(|p| p.limits)
            .and_then(|l| u64::try_from(l.storage_scan_budget_secs).ok())
            .filter(|s| *s > 0)
            .map_or(DEFAULT_SCAN_BUDGET, Duration::from_secs);
        self.scan = Some(StorageScan::start(
            roots,
            budget,
            self.config.scan.max_read_bytes,
            self.state.path().join("hash-cache.bin"),
        ));
    }

    /// Once the storage scan under way is over: a complete scan's totals go
    /// with the next report.
    async fn finish_storage_scan(&mut self) {
        if !self.scan.as_ref().is_some_and(StorageScan::is_finished) {
            return;
        }
        let Some(scan) = self.scan.take() else {
            return;
        };
        let budget = scan.budget();
        match scan.result().await {
            Ok(result) if result.complete => {
                tracing::info!(files = result.files_scanned, "storage scan done");
                self.tally.set_reclaimable(&result, now_unix_ms());
            }
            Ok(result) => tracing::warn!(
                files = result.files_scanned,
                budget_secs = budget.as_secs(),
                "storage scan stopped at its budget; the next one goes further (unchanged files are not read again)"
            ),
            Err(error) => tracing::warn!(%error, "storage scan failed"),
        }
    }

    /// Reports held: in the spool and in memory.
    pub fn pending(&self) -> u64 {
        self.spool.depth().0 + self.memory.len() as u64
    }
}

/// Whether the collector refused for good (not a transient failure).
fn is_refusal(error: &anyhow::Error) -> bool {
    error
        .downcast_ref::<tonic::Status>()
        .is_some_and(|status| status.code() == tonic::Code::ResourceExhausted)
}

pub(crate) use crate::platform::clock::rfc3339;
