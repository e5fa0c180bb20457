//! Periodic jobs (retention for now), run once per period across replicas:
//! every replica wakes up on the same schedule and tries to take the job's
//! lease in the store; the one that gets it runs the job, the others skip.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::server::Shared;
use crate::store::now_unix_ms;

/// Name of the retention job and of its lease.
pub const RETENTION_JOB: &str = "retention";

/// Runs periodic jobs until `shutdown` turns true.
pub async fn run(shared: Arc<Shared>, mut shutdown: watch::Receiver<bool>) {
    let interval = Duration::from_secs(u64::from(shared.config.retention.interval_secs));
    loop {
        run_retention_once(&shared).await;
        tokio::select! {
            () = tokio::time::sleep(interval) => {}
            _ = shutdown.wait_for(|stop| *stop) => return,
        }
    }
}

/// Runs retention if this replica wins the lease for the current period.
/// Returns whether it ran.
pub async fn run_retention_once(shared: &Shared) -> bool {
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
        .apply_retention(shared.config.retention(), started)
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
