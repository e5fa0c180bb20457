//! The agent's delivery over time: a collector down for a simulated day, with
//! paused tokio time for the agent and a real collector on a real-time runtime
//! beside it. Everything spooled arrives, once; retries back off with jitter
//! within their bounds; the first delivery waits for its splay.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use sobrio_agent::backoff::Jitter;
use sobrio_agent::config::AgentConfig;
use sobrio_agent::run::Agent;
use sobrio_tests::TestCollector;
use sobrio_tests::paused::{enrolled_agent, paused_runtime, real_runtime};
use tokio::time::Instant;

#[test]
fn a_collector_down_for_a_day_gets_every_spooled_report_once_when_it_returns() {
    let real = real_runtime();
    let collector = real.block_on(TestCollector::start());
    let dir = tempfile::tempdir().unwrap();
    let down = Arc::new(AtomicBool::new(true));
    let (state, enrollment, bridge) = enrolled_agent(
        &real,
        &collector,
        &dir.path().join("state"),
        "pc-remote",
        down.clone(),
    );
    let attempts = bridge.attempts.clone();
    let device_id = enrollment.device_id.clone();
    let config = AgentConfig::default();

    let paused = paused_runtime();
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
    let stored = stored.iter().find(|d| d.id == device_id).unwrap().reports;
    assert!(accepted >= 25, "a report an hour for a day: {accepted}");
    assert_eq!(
        u64::try_from(stored).unwrap(),
        accepted,
        "each spooled report stored once"
    );
    drop(collector);
    real.shutdown_timeout(Duration::from_secs(5));
}

/// Many agents, the same day-long outage: when the collector returns they
/// come back spread out by their jittered backoff, not all at once.
#[test]
fn agents_return_from_an_outage_spread_out_not_as_a_herd() {
    const AGENTS: usize = 12;
    let real = real_runtime();
    let collector = real.block_on(TestCollector::start());
    let dir = tempfile::tempdir().unwrap();
    let down = Arc::new(AtomicBool::new(true));
    let mut agents = Vec::new();
    for n in 0..AGENTS {
        let (state, enrollment, bridge) = enrolled_agent(
            &real,
            &collector,
            &dir.path().join(format!("state-{n}")),
            &format!("pc-{n}"),
            down.clone(),
        );
        let attempts = bridge.attempts.clone();
        agents.push((state, enrollment, bridge, attempts));
    }
    let paused = paused_runtime();
    let outage = Duration::from_secs(24 * 3600);
    let (start, attempts) = paused.block_on(async {
        let start = Instant::now();
        let mut runs = Vec::new();
        let mut all_attempts = Vec::new();
        for (n, (state, enrollment, bridge, attempts)) in agents.into_iter().enumerate() {
            all_attempts.push(attempts);
            let mut agent = Agent::with_uplink(
                state,
                AgentConfig::default(),
                dir.path(),
                enrollment,
                bridge,
                Jitter::with_seed(100 + n as u64),
            )
            .unwrap();
            let down = down.clone();
            runs.push(async move {
                let control = async {
                    tokio::time::sleep(outage).await;
                    down.store(false, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                };
                agent.run(control).await;
                agent.pending()
            });
        }
        let pending: Vec<u64> = futures_util::future::join_all(runs).await;
        assert!(
            pending.iter().all(|p| *p == 0),
            "every spool drained: {pending:?}"
        );
        (start, all_attempts)
    });
    // Each agent's first successful call after the collector came back.
    let mut returns: Vec<Duration> = attempts
        .iter()
        .map(|attempts| {
            let attempts = attempts.lock().unwrap();
            let first = attempts
                .iter()
                .find(|(_, up)| *up)
                .expect("a call after the return");
            first.0 - start - outage
        })
        .collect();
    returns.sort();
    let spread = *returns.last().unwrap() - returns[0];
    let busiest_minute = returns
        .iter()
        .map(|from| {
            returns
                .iter()
                .filter(|t| **t >= *from && **t < *from + Duration::from_secs(60))
                .count()
        })
        .max()
        .unwrap();
    println!(
        "{AGENTS} agents back after a day's outage: first at +{:?}, median +{:?}, last +{:?} \
         (spread {spread:?}); at most {busiest_minute} in any minute",
        returns[0],
        returns[AGENTS / 2],
        returns[AGENTS - 1]
    );
    assert!(
        spread >= Duration::from_secs(300),
        "returns spread over minutes: {returns:?}"
    );
    assert!(busiest_minute <= AGENTS / 2, "no herd: {returns:?}");
    drop(collector);
    real.shutdown_timeout(Duration::from_secs(5));
}
