//! Group commit: reports from concurrent Submit calls share transactions.
//!
//! Each call hands its valid reports to a bounded queue and waits. A writer
//! takes the first waiting group, gathers more for at most `max_wait` or until
//! `max_reports`, stores them all in one transaction and answers every call
//! once it commits — so a call is acked only after its reports are durable,
//! and the cost of a commit (an fsync on SQLite, a round trip on PostgreSQL)
//! is shared. Several writers pipeline: one gathers while another commits.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{Mutex, mpsc, oneshot};

use crate::metrics::Metrics;
use crate::store::{DeviceReports, Store};

/// Group-commit settings.
#[derive(Debug, Clone, Copy)]
pub struct GroupCommit {
    /// Most reports in one transaction.
    pub max_reports: usize,
    /// Longest wait for more calls once one is waiting.
    pub max_wait: Duration,
    /// Writer tasks.
    pub writers: usize,
}

/// Why a group could not be stored; the caller answers UNAVAILABLE.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct WriteError(String);

struct Job {
    group: DeviceReports,
    done: oneshot::Sender<Result<u64, WriteError>>,
}

/// Handle to the writers.
#[derive(Debug, Clone)]
pub struct IngestWriter {
    sender: mpsc::Sender<Job>,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Job")
            .field("device", &self.group.device_id)
            .finish_non_exhaustive()
    }
}

impl IngestWriter {
    /// Starts the writers. They stop once every handle is dropped and the
    /// queue is drained.
    pub fn start(store: &Store, settings: GroupCommit, metrics: &Arc<Metrics>) -> Self {
        let (sender, receiver) = mpsc::channel::<Job>(settings.max_reports.max(64));
        let receiver = Arc::new(Mutex::new(receiver));
        for _ in 0..settings.writers.max(1) {
            tokio::spawn(write_loop(
                store.clone(),
                receiver.clone(),
                settings,
                metrics.clone(),
            ));
        }
        Self { sender }
    }

    /// Stores one device's reports with whatever else is waiting; returns
    /// how many were new, once committed.
    ///
    /// # Errors
    /// When the store failed (nothing of the group was stored) or the
    /// writers stopped.
    pub async fn store(&self, group: DeviceReports) -> Result<u64, WriteError> {
        let (done, answer) = oneshot::channel();
        self.sender
            .send(Job { group, done })
            .await
            .map_err(|_| WriteError("the collector is shutting down".into()))?;
        answer
            .await
            .map_err(|_| WriteError("the writer stopped".into()))?
    }
}

async fn write_loop(
    store: Store,
    receiver: Arc<Mutex<mpsc::Receiver<Job>>>,
    settings: GroupCommit,
    metrics: Arc<Metrics>,
) {
    loop {
        let mut jobs = Vec::new();
        {
            let mut receiver = receiver.lock().await;
            let Some(first) = receiver.recv().await else {
                return;
            };
            let mut reports = first.group.reports.len();
            jobs.push(first);
            let deadline = tokio::time::Instant::now() + settings.max_wait;
            while reports < settings.max_reports {
                match tokio::time::timeout_at(deadline, receiver.recv()).await {
                    Ok(Some(job)) => {
                        reports += job.group.reports.len();
                        jobs.push(job);
                    }
                    Ok(None) | Err(_) => break,
                }
            }
        }
        let (groups, waiters): (Vec<DeviceReports>, Vec<_>) =
            jobs.into_iter().map(|job| (job.group, job.done)).unzip();
        let started = Instant::now();
        let result = store.store_batch(&groups, crate::app::now_unix_ms()).await;
        let reports: usize = groups.iter().map(|g| g.reports.len()).sum();
        metrics.record_batch(reports, started.elapsed(), result.is_ok());
        match result {
            Ok(new_counts) => {
                for (waiter, new) in waiters.into_iter().zip(new_counts) {
                    let _ = waiter.send(Ok(new));
                }
            }
            Err(error) => {
                tracing::error!(%error, groups = groups.len(), "storing a batch of reports failed");
                let error = WriteError("the collector's store is unavailable".into());
                for waiter in waiters {
                    let _ = waiter.send(Err(error.clone()));
                }
            }
        }
    }
}
