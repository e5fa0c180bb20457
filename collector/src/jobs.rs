//! Periodic jobs (retention, suggestions), run once per period across replicas:
//! every replica wakes up on the same schedule and tries to take the job's
//! lease in the store; the one that gets it runs the job, the others skip.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::app::App;
use crate::app::now_unix_ms;

/// Name of the retention job and of its lease.
pub const RETENTION_JOB: &str = "retention";

/// Name of the suggestions job and of its lease.
pub const ANALYSIS_JOB: &str = "analysis";

/// Runs periodic jobs until `shutdown` turns true.
pub async fn run(shared: Arc<App>, mut shutdown: watch::Receiver<bool>) {
    let retention = Duration::from_secs(u64::from(shared.config.retention.interval_secs));
    let analysis = Duration::from_secs(u64::from(shared.config.analysis.interval_secs));
    let start = tokio::time::Instant::now();
    let (mut next_retention, mut next_analysis) = (start, start);
    loop {
        let now = tokio::time::Instant::now();
        if now >= next_retention {
            run_retention_once(&shared).await;
            next_retention = now + retention;
        }
        if now >= next_analysis {
            run_analysis_once(&shared).await;
            next_analysis = now + analysis;
        }
        tokio::select! {
            () = tokio::time::sleep_until(next_retention.min(next_analysis)) => {}
            _ = shutdown.wait_for(|stop| *stop) => return,
        }
    }
}

/// Recomputes suggestions if this replica wins the lease for the current
/// period. Returns whether it ran.
pub async fn run_analysis_once(shared: &App) -> bool {
    let store = &shared.store;
    let period = i64::from(shared.config.analysis.interval_secs) * 1000;
    let now = now_unix_ms();
    let period_end = (now / period + 1) * period;
    match store
        .try_lease(ANALYSIS_JOB, &shared.replica_id, now, period_end)
        .await
    {
        Ok(true) => {}
        Ok(false) => return false,
        Err(error) => {
            tracing::warn!(%error, "cannot take the analysis lease");
            return false;
        }
    }
    let started = now_unix_ms();
    let outcome = match crate::app::suggestions::recompute(store, &shared.config, started).await {
        Ok((changes, holding)) => {
            tracing::info!(holding, ?changes, "suggestions recomputed");
            shared.impact_changed().await;
            "ok"
        }
        Err(error) => {
            tracing::error!(error = %format!("{error:#}"), "suggestions not recomputed");
            "error"
        }
    };
    // The latest week due is published (once), and so marked aggregated:
    // its person-day rows age out even if nobody looks at it.
    let tz = shared.config.analysis.time_zone.clone();
    let today = jiff::Zoned::now().with_time_zone(tz).date();
    let due = crate::indicators::latest_published(today, &shared.config.indicators).to_string();
    if let Err(error) = crate::app::indicators::compute(store, &shared.config, &due, today).await {
        tracing::warn!(%error, week = %due, "the week's indicators not published");
    }
    shared.metrics.record_job(ANALYSIS_JOB, outcome);
    if let Err(error) = store
        .record_job_run(
            ANALYSIS_JOB,
            &shared.replica_id,
            started,
            now_unix_ms(),
            outcome,
        )
        .await
    {
        tracing::warn!(%error, "cannot record the analysis run");
    }
    true
}

/// Runs retention if this replica wins the lease for the current period.
/// Returns whether it ran.
pub async fn run_retention_once(shared: &App) -> bool {
    let store = &shared.store;
    let period = i64::from(shared.config.retention.interval_secs) * 1000;
    let now = now_unix_ms();
    // The lease ends with the period, so exactly one replica runs per period.
    let period_end = (now / period + 1) * period;
    match store
        .try_lease(RETENTION_JOB, &shared.replica_id, now, period_end)
        .await
    {
        Ok(true) => {}
        Ok(false) => return false,
        Err(error) => {
            tracing::warn!(%error, "cannot take the retention lease");
            return false;
        }
    }
    let started = now_unix_ms();
    let outcome = match store
        .apply_retention(shared.config.retention, started)
        .await
    {
        Ok(deleted) => {
            tracing::info!(?deleted, "retention applied");
            "ok"
        }
        Err(error) => {
            tracing::error!(%error, "retention failed");
            "error"
        }
    };
    shared.metrics.record_job(RETENTION_JOB, outcome);
    if let Err(error) = store
        .record_job_run(
            RETENTION_JOB,
            &shared.replica_id,
            started,
            now_unix_ms(),
            outcome,
        )
        .await
    {
        tracing::warn!(%error, "cannot record the retention run");
    }
    true
}
