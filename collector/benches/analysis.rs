//! Analysis from rollups: the time to read the facts of a fleet (latest
//! inventories, 4 of its 12 weeks of per-device rollups, departments'
//! hourly activity) from SQLite, compute every suggestion and store them,
//! for 10,000, 100,000 and 1,000,000 simulated devices with 12 weeks of
//! history. Budget (BENCHMARKS.md): 100,000 devices ≤ 2 s, 1,000,000 ≤ 30 s.
//!
//! The fleet is generated inside SQLite (`fleet/mod.rs`).
//!
//! `cargo bench -p sobrio-collector --bench analysis` (`SOBRIO_BENCH_QUICK=1`:
//! 10,000 devices only).

use std::time::Instant;

use sobrio_collector::analysis;
use sobrio_collector::config::CollectorConfig;
use sobrio_collector::store::Store;

mod fleet;

use fleet::{NOW, WEEK, generate};

/// Median and spread (max − min).
fn median(mut values: Vec<f64>) -> (f64, f64) {
    values.sort_by(f64::total_cmp);
    (
        values[values.len() / 2],
        values[values.len() - 1] - values[0],
    )
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let quick = std::env::var_os("SOBRIO_BENCH_QUICK").is_some();
    let runs = if quick { 1 } else { 3 };
    // SOBRIO_BENCH_MAX_DEVICES stops after that size (to iterate quickly).
    let max: i64 = std::env::var("SOBRIO_BENCH_MAX_DEVICES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if quick { 10_000 } else { 1_000_000 });
    let sizes: Vec<i64> = [10_000, 100_000, 1_000_000]
        .into_iter()
        .filter(|n| *n <= max)
        .collect();
    let config = CollectorConfig::default();
    println!(
        "analysis from rollups (SQLite, 2 cores), 12 weeks of history; read, compute and the \
         hourly recompute: median of {runs} run(s)"
    );
    println!(
        "  {:>9}  {:>9}  {:>9}  {:>9}  {:>9}  {:>11}  {:>8}",
        "devices", "generate", "read", "compute", "store", "suggestions", "total"
    );
    for devices in sizes {
        let dir = tempfile::tempdir().unwrap();
        let store = runtime.block_on(Store::open_data_dir(dir.path())).unwrap();
        let started = Instant::now();
        runtime.block_on(generate(&dir.path().join("sobrio.db"), devices));
        let generated = started.elapsed().as_secs_f64();

        let end = analysis::week_start(NOW);
        let start = end - i64::from(config.analysis.weeks) * WEEK;
        let embodied = analysis::reference_data(&config.analysis).unwrap();
        let working = |department: &str| config.working_hours(department);
        // Reading and computing change nothing: they run `runs` times.
        let (mut reads, mut computes, mut suggestions) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..runs {
            let t0 = Instant::now();
            let input = runtime.block_on(store.analysis_input(start, end)).unwrap();
            reads.push(t0.elapsed().as_secs_f64());
            let t1 = Instant::now();
            suggestions = analysis::analyze(
                &input,
                &analysis::Context {
                    config: &config.analysis,
                    embodied: &embodied,
                    today: jiff::civil::date(2026, 11, 30),
                    working_hours: &working,
                    time_zone: jiff::tz::TimeZone::UTC,
                },
            );
            computes.push(t1.elapsed().as_secs_f64());
        }
        let t2 = Instant::now();
        runtime
            .block_on(store.save_suggestions(&suggestions, NOW))
            .unwrap();
        let save = t2.elapsed().as_secs_f64();
        // The whole job again, as the server runs it each hour, on the
        // stored suggestions.
        let mut agains = Vec::new();
        for _ in 0..runs {
            let t3 = Instant::now();
            let (outcome, _) = runtime
                .block_on(sobrio_collector::app::suggestions::recompute(
                    &store, &config, NOW,
                ))
                .unwrap();
            agains.push(t3.elapsed().as_secs_f64());
            if outcome.written > 0 {
                println!(
                    "  (the recomputation rewrote {} suggestions: {outcome:?})",
                    outcome.written
                );
            }
        }
        let ((read, read_spread), (compute, compute_spread)) = (median(reads), median(computes));
        let (again, again_spread) = median(agains);
        println!(
            "  {devices:>9}  {generated:>8.1}s  {read:>8.2}s  {compute:>8.2}s  {save:>8.2}s  {:>11}  {:>7.2}s  \
             (spread: read ±{read_spread:.2}s, compute ±{compute_spread:.2}s; recompute over stored: {again:.2}s ±{again_spread:.2}s)",
            suggestions.len(),
            read + compute + save
        );
        let _ = std::fs::remove_dir_all(dir.path());
    }
    println!("  budget (BENCHMARKS.md): 100,000 devices <= 2 s; 1,000,000 <= 30 s (total)");
}
