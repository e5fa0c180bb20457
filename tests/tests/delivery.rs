//! The agent's delivery over time: a collector down for a simulated day, with
//! paused tokio time for the agent and a real collector on a real-time runtime
//! beside it. Everything spooled arrives, once; retries back off with jitter
//! within their bounds; the first delivery waits for its splay.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sobrio_agent::backoff::Jitter;
use sobrio_agent::config::AgentConfig;
use sobrio_agent::run::{Agent, Uplink};
use sobrio_agent::state::{Enrollment, StateDir};
use sobrio_agent::transport::CollectorClient;
use sobrio_proto::v1::{Policy, RenewResponse, SubmitResponse};
use sobrio_tests::TestCollector;
use tokio::time::Instant;

/// Forwards the agent's calls to a real collector running on another,
/// real-time runtime. Calls run as blocking tasks so that paused time does
/// not jump ahead while a call is on the wire.
struct Bridge {
    real: tokio::runtime::Handle,
    client: CollectorClient,
    down: Arc<AtomicBool>,
    attempts: Arc<Mutex<Vec<(Instant, bool)>>>,
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

    fn reset(&mut self) {}
}

#[test]
fn a_collector_down_for_a_day_gets_every_spooled_report_once_when_it_returns() {
    let real = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (collector, device) = real.block_on(async {
        let collector = TestCollector::start().await;
        let device = collector.enroll("Finance", "pc-remote").await;
        (collector, device)
    });
    let dir = tempfile::tempdir().unwrap();
    let state = StateDir::new(dir.path().join("state"));
    let enrollment = Enrollment {
        device_id: device.id.clone(),
        server: collector.url(),
        department: "Finance".into(),
        certificate_not_after_unix_ms: sobrio_collector::store::now_unix_ms() + 90 * 86_400_000,
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
    let down = Arc::new(AtomicBool::new(true));
    let attempts = Arc::new(Mutex::new(Vec::new()));
    let bridge = Bridge {
        real: real.handle().clone(),
        client: device.client.clone(),
        down: down.clone(),
        attempts: attempts.clone(),
    };
    let config = AgentConfig::default();

    let paused = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap();
    let (accepted, pending, start) = paused.block_on(async {
        let start = Instant::now();
        let mut agent = Agent::with_uplink(
            state.clone(),
            config,
            dir.path(),
            enrollment,
            bridge,
            Jitter::with_seed(7),
        )
        .unwrap();
        let control = async {
            tokio::time::sleep(Duration::from_secs(24 * 3600)).await;
            down.store(false, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_secs(3600)).await;
        };
        agent.run(control).await;
        let status = sobrio_agent::run::read_status(&state).unwrap();
        (status.accepted_total, agent.pending(), start)
    });

    let attempts = attempts.lock().unwrap().clone();
    let failed: Vec<Duration> = attempts
        .iter()
        .filter(|(_, up)| !up)
        .map(|(at, _)| *at - start)
        .collect();
    println!(
        "{} failed attempts during the outage, {} after; {accepted} reports delivered",
        failed.len(),
        attempts.len() - failed.len()
    );
    // The splay: the first attempt waits a random delay within its bound.
    assert!(
        failed[0] > Duration::ZERO && failed[0] <= Duration::from_secs(120),
        "first attempt at {:?}",
        failed[0]
    );
    // Backoff: delays between failures grow, are jittered, never exceed the bound.
    let gaps: Vec<Duration> = failed.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(
        gaps.iter()
            .all(|g| *g >= Duration::from_millis(2500) && *g <= Duration::from_secs(900)),
        "{gaps:?}"
    );
    assert!(
        gaps[..5].windows(2).all(|w| w[1] > w[0]),
        "growing at first: {:?}",
        &gaps[..5]
    );
    assert!(
        gaps[20..].iter().all(|g| *g >= Duration::from_secs(450)),
        "at the bound later on"
    );
    assert!(
        (90..=250).contains(&failed.len()),
        "{} attempts in a day",
        failed.len()
    );
    // The collector back: everything spooled arrives, once.
    assert_eq!(pending, 0, "the spool is empty");
    let stored = real.block_on(collector.store.list_devices()).unwrap();
    let stored = stored.iter().find(|d| d.id == device.id).unwrap().reports;
    assert!(accepted >= 25, "a report an hour for a day: {accepted}");
    assert_eq!(
        u64::try_from(stored).unwrap(),
        accepted,
        "each spooled report stored once"
    );
    drop(collector);
    real.shutdown_timeout(Duration::from_secs(5));
}
