//! The agent on tokio's paused clock against a real collector running on a
//! real-time runtime beside it: a day of the agent's life in seconds.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use sobrio_agent::run::Uplink;
use sobrio_agent::transport::CollectorClient;
use sobrio_proto::v1::{EvaluatePseudonymsResponse, Policy, RenewResponse, SubmitResponse};
use tokio::time::Instant;

/// Forwards the agent's calls to a real collector running on another,
/// real-time runtime. Calls run as blocking tasks so that paused time does
/// not jump ahead while a call is on the wire.
pub struct Bridge {
    /// The real-time runtime the collector runs on.
    pub real: tokio::runtime::Handle,
    /// The device's client.
    pub client: CollectorClient,
    /// While true, calls fail as if the collector were unreachable.
    pub down: Arc<AtomicBool>,
    /// Each call: when (paused clock) and whether the collector was up.
    pub attempts: Arc<Mutex<Vec<(Instant, bool)>>>,
    /// Bytes of reports submitted while up.
    pub submitted_bytes: Arc<Mutex<u64>>,
}

impl Bridge {
    async fn call<T: Send + 'static>(
        &self,
        call: impl FnOnce(
            CollectorClient,
        )
            -> std::pin::Pin<Box<dyn Future<Output = Result<T, tonic::Status>> + Send>>
        + Send
        + 'static,
    ) -> anyhow::Result<T> {
        let up = !self.down.load(Ordering::SeqCst);
        self.attempts.lock().unwrap().push((Instant::now(), up));
        anyhow::ensure!(up, "collector unavailable");
        let (real, client) = (self.real.clone(), self.client.clone());
        Ok(tokio::task::spawn_blocking(move || real.block_on(call(client))).await??)
    }
}

impl Uplink for Bridge {
    async fn submit(&mut self, reports: Vec<Vec<u8>>) -> anyhow::Result<SubmitResponse> {
        if !self.down.load(Ordering::SeqCst) {
            *self.submitted_bytes.lock().unwrap() +=
                reports.iter().map(|r| r.len() as u64).sum::<u64>();
        }
        self.call(move |c| Box::pin(async move { c.submit(reports).await }))
            .await
    }

    async fn get_policy(&mut self) -> anyhow::Result<Policy> {
        self.call(|c| Box::pin(async move { c.get_policy().await }))
            .await
    }

    async fn renew(&mut self, csr_pem: String) -> anyhow::Result<RenewResponse> {
        self.call(move |c| Box::pin(async move { c.renew(csr_pem).await }))
            .await
    }

    async fn evaluate_pseudonyms(
        &mut self,
        blinded_elements: Vec<Vec<u8>>,
    ) -> anyhow::Result<EvaluatePseudonymsResponse> {
        self.call(move |c| Box::pin(async move { c.evaluate_pseudonyms(blinded_elements).await }))
            .await
    }

    fn reset(&mut self) {}
}

/// A device enrolled in Finance with the in-process `collector` (running on
/// `real`): its agent state saved under `state_dir`, and a bridge to the
/// collector that fails calls while `down` holds.
///
/// # Panics
/// When enrollment or saving the state fails.
pub fn enrolled_agent(
    real: &tokio::runtime::Runtime,
    collector: &crate::TestCollector,
    state_dir: &std::path::Path,
    hostname: &str,
    down: Arc<AtomicBool>,
) -> (
    sobrio_agent::state::StateDir,
    sobrio_agent::state::Enrollment,
    Bridge,
) {
    let device = real.block_on(collector.enroll("Finance", hostname));
    let state = sobrio_agent::state::StateDir::new(state_dir.to_owned());
    let enrollment = sobrio_agent::state::Enrollment {
        device_id: device.id.clone(),
        server: collector.url(),
        department: "Finance".into(),
        certificate_not_after_unix_ms: sobrio_collector::app::now_unix_ms() + 90 * 86_400_000,
        bearer_secret: String::new(),
    };
    state
        .save_enrollment(
            &enrollment,
            &device.key_pem,
            &device.certificate_pem,
            &collector.ca_pem(),
            None,
        )
        .unwrap();
    let bridge = Bridge {
        real: real.handle().clone(),
        client: device.client.clone(),
        down,
        attempts: Arc::new(Mutex::new(Vec::new())),
        submitted_bytes: Arc::new(Mutex::new(0)),
    };
    (state, enrollment, bridge)
}

/// The real-time runtime the collector runs on, beside the paused one.
///
/// # Panics
/// When the runtime cannot be built.
#[must_use]
pub fn real_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// A current-thread runtime whose clock starts paused: timers fire as soon
/// as every task waits.
///
/// # Panics
/// When the runtime cannot be built.
#[must_use]
pub fn paused_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap()
}
