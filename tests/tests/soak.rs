//! Soak: a few thousand simulated agents, each on its own mTLS connection,
//! submitting to a `sobrio-collector serve` process for a sustained run.
//! The collector's RSS and the calls' latency are sampled all along; the
//! drift between the first and the last third is printed, and must stay
//! within loose bounds (this is a test of leaks and slow-downs, not a
//! benchmark). `SOBRIO_SOAK_SECS` (default 30) and `SOBRIO_SOAK_AGENTS`
//! (default 2000) make it longer or larger on demand.

use std::time::{Duration, Instant};

use sobrio_tests::load::{Load, enroll_at};
use sobrio_tests::{CollectorProcess, run};

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn rss_mb(pid: u32) -> f64 {
    let kb = sobrio_tests::rss_kb(pid).expect("the collector runs");
    #[allow(clippy::cast_precision_loss)]
    let mb = kb as f64 / 1024.0;
    mb
}

/// The soft limit of open files, from `/proc/self/limits`.
fn open_files_limit() -> Option<usize> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    limits
        .lines()
        .find(|l| l.starts_with("Max open files"))?
        .split_whitespace()
        .nth(3)?
        .parse()
        .ok()
}

fn percentile(mut values: Vec<f64>, p: f64) -> f64 {
    assert!(!values.is_empty(), "no call completed in this window");
    values.sort_by(f64::total_cmp);
    let at = ((values.len() as f64 - 1.0) * p).round() as usize;
    values[at]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousands_of_agents_for_a_sustained_run_keep_rss_and_latency_flat() {
    // Three windows of at least one period (10 s) each.
    let seconds = env_or("SOBRIO_SOAK_SECS", 30).max(30);
    let mut count = usize::try_from(env_or("SOBRIO_SOAK_AGENTS", 2000)).unwrap();
    // Each agent holds a socket here and one in the collector.
    if let Some(limit) = open_files_limit()
        && count + 200 > limit
    {
        let fits = limit.saturating_sub(200).max(50);
        println!("open files are limited to {limit} here: {fits} agents instead of {count}");
        count = fits;
    }
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("collector");
    let data = data.to_str().unwrap().to_owned();
    let collector = CollectorProcess::serve(&data, &[]);
    let token = run(
        "sobrio-collector",
        &["--data-dir", &data, "token", "create", "--department", "IT"],
    );
    let token = String::from_utf8(token.stdout).unwrap().trim().to_owned();
    let ca = std::fs::read_to_string(format!("{data}/ca.pem")).unwrap();
    let url = format!("https://{}", collector.grpc_addr);
    let enrolling = Instant::now();
    let mut clients = Vec::with_capacity(count);
    for n in 0..count {
        let device = enroll_at(&url, &ca, &token, &format!("pc-{n}"))
            .await
            .unwrap();
        clients.push(device.client);
    }
    let enrolled_in = enrolling.elapsed();
    // Each agent calls every 10 s: about count / 10 calls a second.
    let load = Load::start(clients, Duration::from_secs(10));
    let started = Instant::now();
    let mut rss = Vec::new();
    while started.elapsed() < Duration::from_secs(seconds) {
        tokio::time::sleep(Duration::from_secs(3)).await;
        rss.push((started.elapsed().as_secs_f64(), rss_mb(collector.pid())));
    }
    let observed = load.drain(Duration::from_secs(60)).await;
    let third = seconds * 1000 / 3;
    let window = |from: u64, to: u64| -> Vec<f64> {
        observed
            .latencies_ms
            .iter()
            .filter(|(at, _)| (from..to).contains(at))
            .map(|(_, ms)| *ms)
            .collect()
    };
    // The first third is warm-up (agents start spread over one period).
    let (early, late) = (window(third, 2 * third), window(2 * third, 3 * third));
    let (early_p50, early_p99) = (percentile(early.clone(), 0.5), percentile(early, 0.99));
    let (late_p50, late_p99) = (percentile(late.clone(), 0.5), percentile(late, 0.99));
    let rss_early = rss[rss.len() / 3].1;
    let rss_late = rss.last().unwrap().1;
    let rss_peak = rss.iter().map(|r| r.1).fold(0.0, f64::max);
    println!(
        "soak: {count} agents enrolled in {enrolled_in:.1?}, {seconds} s, {} calls, {} reports acked, failures {:?}\n\
         collector RSS {rss_early:.1} MB at one third, {rss_late:.1} MB at the end (drift {:+.1} MB), peak {rss_peak:.1} MB\n\
         latency p50 {early_p50:.1} ms then {late_p50:.1} ms, p99 {early_p99:.1} ms then {late_p99:.1} ms \
         (drift {:+.1} ms)",
        observed.calls,
        observed.acked.len(),
        observed.failures,
        rss_late - rss_early,
        late_p99 - early_p99,
    );
    assert!(observed.failures.is_empty(), "{:?}", observed.failures);
    assert_eq!(
        observed.rejected,
        Vec::<String>::new(),
        "valid reports rejected"
    );
    assert_eq!(observed.acked.len(), observed.made.len());
    assert!(
        rss_late <= rss_early * 1.5 + 16.0,
        "collector RSS grew from {rss_early:.1} to {rss_late:.1} MB: {rss:?}"
    );
    // Latency that grows with time (a leak, a queue that never drains)
    // moves the median; a stall of the machine under other load moves only
    // the tail. So the median is held to its own early value, with the
    // early window's spread (p99 − p50) as the margin — a bound measured in
    // this run, not a constant. The p99 is printed above.
    let spread = early_p99 - early_p50;
    assert!(
        late_p50 <= 2.0 * early_p50 + spread,
        "latency p50 grew from {early_p50:.1} to {late_p50:.1} ms (early spread {spread:.1} ms)"
    );
}
