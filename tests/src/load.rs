//! Simulated agents that keep submitting to a collector which may die or
//! lose its database: each keeps its reports until the collector acks them
//! and sends them again otherwise, as the real agent's spool does. What
//! they saw is kept for the test to check against the store.

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sobrio_agent::transport::{CollectorClient, CollectorEndpoint};
use sobrio_proto::Message;
use sobrio_proto::v1::EnrollRequest;

use crate::valid_report;

/// What every simulated agent saw.
#[derive(Debug, Default)]
pub struct Observed {
    /// Report ids the collector acked (each once here, even if acked twice).
    pub acked: HashSet<String>,
    /// Every report id made, acked or not.
    pub made: HashSet<String>,
    /// Calls that failed, by gRPC code (`Unavailable`, `Cancelled`, …).
    pub failures: BTreeMap<String, u64>,
    /// Calls that succeeded.
    pub calls: u64,
    /// Valid reports the collector rejected (there should be none).
    pub rejected: Vec<String>,
    /// Time of each successful call, in ms since the load started.
    pub latencies_ms: Vec<(u64, f64)>,
}

/// Simulated agents submitting until stopped.
pub struct Load {
    stop: Arc<AtomicBool>,
    /// Whether agents make new reports (false: they only drain).
    producing: Arc<AtomicBool>,
    observed: Arc<Mutex<Observed>>,
    pending: Arc<Mutex<u64>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

/// Enrolls a device with the collector at `url` (CA `ca_pem`) using
/// `token`; returns its id and an mTLS client.
///
/// # Errors
/// The collector's refusal.
///
/// # Panics
/// When a key cannot be made or the client cannot be set up.
pub async fn enroll_at(
    url: &str,
    ca_pem: &str,
    token: &str,
    hostname: &str,
) -> Result<crate::TestDevice, tonic::Status> {
    let (key_pem, csr_pem) = sobrio_agent::enroll::key_and_csr(hostname).unwrap();
    let anonymous = CollectorEndpoint {
        url: url.to_owned(),
        ca_pem: Some(ca_pem.to_owned()),
        identity: None,
        bearer: None,
    };
    let response = CollectorClient::connect(&anonymous)
        .await
        .unwrap()
        .enroll(EnrollRequest {
            token: token.into(),
            csr_pem,
            hostname: hostname.into(),
            agent_version: "test".into(),
        })
        .await?;
    let endpoint = CollectorEndpoint {
        url: url.to_owned(),
        ca_pem: Some(ca_pem.to_owned()),
        identity: Some((response.certificate_pem.clone(), key_pem.clone())),
        bearer: Some(format!("{}:{}", response.device_id, response.bearer_secret)),
    };
    let client = CollectorClient::connect(&endpoint).await.unwrap();
    Ok(crate::TestDevice {
        id: response.device_id,
        certificate_pem: response.certificate_pem,
        key_pem,
        client,
    })
}

impl Load {
    /// Starts one task per client: each makes a batch of 1 to 3 reports
    /// every `period`, sends what it holds (at most 20 at a time), and
    /// keeps what was not acked for the next call.
    #[must_use]
    pub fn start(clients: Vec<CollectorClient>, period: Duration) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let producing = Arc::new(AtomicBool::new(true));
        let observed = Arc::new(Mutex::new(Observed::default()));
        let pending = Arc::new(Mutex::new(0));
        let started = std::time::Instant::now();
        let tasks = clients
            .into_iter()
            .enumerate()
            .map(|(n, client)| {
                let (stop, producing) = (stop.clone(), producing.clone());
                let (observed, pending) = (observed.clone(), pending.clone());
                tokio::spawn(async move {
                    // Agents start spread over one period, as their splay does.
                    tokio::time::sleep(period.mul_f64((n as f64 * 0.618_034).fract())).await;
                    let mut held: Vec<(String, Vec<u8>)> = Vec::new();
                    let mut tick = 0_u64;
                    while !stop.load(Ordering::SeqCst) {
                        if producing.load(Ordering::SeqCst) {
                            for _ in 0..=(tick % 3) {
                                let report = valid_report();
                                observed
                                    .lock()
                                    .unwrap()
                                    .made
                                    .insert(report.report_id.clone());
                                *pending.lock().unwrap() += 1;
                                held.push((report.report_id.clone(), report.encode_to_vec()));
                            }
                        }
                        tick += 1;
                        if !held.is_empty() {
                            let batch: Vec<Vec<u8>> =
                                held.iter().take(20).map(|(_, b)| b.clone()).collect();
                            let sent = std::time::Instant::now();
                            let result =
                                tokio::time::timeout(Duration::from_secs(30), client.submit(batch))
                                    .await;
                            let mut seen = observed.lock().unwrap();
                            match result {
                                Ok(Ok(response)) => {
                                    seen.calls += 1;
                                    seen.latencies_ms.push((
                                        u64::try_from(started.elapsed().as_millis()).unwrap_or(0),
                                        sent.elapsed().as_secs_f64() * 1000.0,
                                    ));
                                    seen.rejected
                                        .extend(response.rejected.iter().map(|r| format!("{r:?}")));
                                    let acked: HashSet<&String> =
                                        response.accepted.iter().collect();
                                    let before = held.len();
                                    held.retain(|(id, _)| !acked.contains(id));
                                    *pending.lock().unwrap() -= (before - held.len()) as u64;
                                    seen.acked.extend(response.accepted);
                                }
                                Ok(Err(status)) => {
                                    *seen
                                        .failures
                                        .entry(format!("{:?}", status.code()))
                                        .or_default() += 1;
                                }
                                Err(_) => {
                                    *seen.failures.entry("timeout (30 s)".into()).or_default() += 1;
                                }
                            }
                        }
                        tokio::time::sleep(period).await;
                    }
                })
            })
            .collect();
        Self {
            stop,
            producing,
            observed,
            pending,
            tasks,
        }
    }

    /// What the agents saw so far.
    ///
    /// # Panics
    /// When an agent task panicked while holding it.
    pub fn observed<T>(&self, read: impl FnOnce(&Observed) -> T) -> T {
        read(&self.observed.lock().unwrap())
    }

    /// Stops making reports, waits (up to `deadline`) until every report
    /// held was acked, then stops the agents; returns what they saw.
    ///
    /// # Panics
    /// When reports are still unacknowledged at the deadline, or an agent
    /// panicked.
    pub async fn drain(self, deadline: Duration) -> Observed {
        self.producing.store(false, Ordering::SeqCst);
        let until = tokio::time::Instant::now() + deadline;
        while *self.pending.lock().unwrap() > 0 {
            assert!(
                tokio::time::Instant::now() < until,
                "expected every report acked within {deadline:?} once production stopped; \
                 {} still unacknowledged; calls acked {}, failed {:?}",
                self.pending.lock().unwrap(),
                self.observed(|o| o.calls),
                self.observed(|o| o.failures.clone())
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.stop.store(true, Ordering::SeqCst);
        for task in self.tasks {
            task.await.expect("an agent task panicked");
        }
        Arc::try_unwrap(self.observed)
            .expect("the agents are done")
            .into_inner()
            .unwrap()
    }
}
