//! Prometheus metrics, in the text exposition format, without a registry
//! crate: a handful of atomic counters and one histogram.

use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the batch-size histogram (reports per transaction).
const BATCH_BUCKETS: [u64; 8] = [1, 2, 5, 10, 25, 50, 100, 500];

/// The collector's counters.
#[derive(Debug, Default)]
pub struct Metrics {
    submit_calls: AtomicU64,
    reports_accepted: AtomicU64,
    reports_new: AtomicU64,
    batches: AtomicU64,
    batch_failures: AtomicU64,
    batch_reports_sum: AtomicU64,
    batch_seconds_micros: AtomicU64,
    batch_buckets: [AtomicU64; BATCH_BUCKETS.len()],
    /// Rejections by reason class (`undecodable`, `too_large`, `invalid`) and
    /// field.
    rejects: Mutex<std::collections::BTreeMap<(String, String), u64>>,
    /// Job runs by job and outcome.
    jobs: Mutex<std::collections::BTreeMap<(String, String), u64>>,
}

/// Devices by status, counted at scrape time.
#[derive(Debug, Default, Clone, Copy)]
pub struct DeviceCounts {
    pub active: i64,
    pub revoked: i64,
    pub silent: i64,
}

impl Metrics {
    pub fn record_submit(&self, accepted: usize, new: u64) {
        self.submit_calls.fetch_add(1, Ordering::Relaxed);
        self.reports_accepted
            .fetch_add(accepted as u64, Ordering::Relaxed);
        self.reports_new.fetch_add(new, Ordering::Relaxed);
    }

    pub fn record_reject(&self, class: &str, field: &str) {
        // Field paths carry indices (usage.hours[3].…): keep the shape only.
        let field: String = field.chars().filter(|c| !c.is_ascii_digit()).collect();
        let mut rejects = self.rejects.lock().expect("metrics lock");
        *rejects.entry((class.to_owned(), field)).or_default() += 1;
    }

    pub fn record_batch(&self, reports: usize, elapsed: Duration, ok: bool) {
        if !ok {
            self.batch_failures.fetch_add(1, Ordering::Relaxed);
            return;
        }
        self.batches.fetch_add(1, Ordering::Relaxed);
        self.batch_reports_sum
            .fetch_add(reports as u64, Ordering::Relaxed);
        self.batch_seconds_micros.fetch_add(
            u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
        for (bound, bucket) in BATCH_BUCKETS.iter().zip(&self.batch_buckets) {
            if reports as u64 <= *bound {
                bucket.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    pub fn record_job(&self, job: &str, outcome: &str) {
        let mut jobs = self.jobs.lock().expect("metrics lock");
        *jobs
            .entry((job.to_owned(), outcome.to_owned()))
            .or_default() += 1;
    }

    /// The exposition text.
    pub fn render(&self, devices: Option<DeviceCounts>) -> String {
        let mut out = String::new();
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        let mut counter = |name: &str, help: &str, value: u64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}"
            );
        };
        counter(
            "sobrio_submit_calls_total",
            "Submit calls answered.",
            load(&self.submit_calls),
        );
        counter(
            "sobrio_reports_accepted_total",
            "Reports acknowledged (new or already stored).",
            load(&self.reports_accepted),
        );
        counter(
            "sobrio_reports_stored_total",
            "Reports stored for the first time.",
            load(&self.reports_new),
        );
        counter(
            "sobrio_ingest_batch_failures_total",
            "Transactions of reports that failed.",
            load(&self.batch_failures),
        );
        let _ = writeln!(
            out,
            "# HELP sobrio_reports_rejected_total Reports rejected, by reason class and field."
        );
        let _ = writeln!(out, "# TYPE sobrio_reports_rejected_total counter");
        for ((class, field), count) in self.rejects.lock().expect("metrics lock").iter() {
            let _ = writeln!(
                out,
                "sobrio_reports_rejected_total{{reason=\"{class}\",field=\"{}\"}} {count}",
                escape(field)
            );
        }
        let _ = writeln!(
            out,
            "# HELP sobrio_ingest_batch_reports Reports per ingest transaction."
        );
        let _ = writeln!(out, "# TYPE sobrio_ingest_batch_reports histogram");
        for (bound, bucket) in BATCH_BUCKETS.iter().zip(&self.batch_buckets) {
            let _ = writeln!(
                out,
                "sobrio_ingest_batch_reports_bucket{{le=\"{bound}\"}} {}",
                load(bucket)
            );
        }
        let batches = load(&self.batches);
        let _ = writeln!(
            out,
            "sobrio_ingest_batch_reports_bucket{{le=\"+Inf\"}} {batches}"
        );
        let _ = writeln!(
            out,
            "sobrio_ingest_batch_reports_sum {}",
            load(&self.batch_reports_sum)
        );
        let _ = writeln!(out, "sobrio_ingest_batch_reports_count {batches}");
        #[allow(clippy::cast_precision_loss)]
        let seconds = load(&self.batch_seconds_micros) as f64 / 1e6;
        let _ = writeln!(
            out,
            "# HELP sobrio_ingest_batch_seconds_total Time spent in ingest transactions."
        );
        let _ = writeln!(out, "# TYPE sobrio_ingest_batch_seconds_total counter");
        let _ = writeln!(out, "sobrio_ingest_batch_seconds_total {seconds}");
        let _ = writeln!(
            out,
            "# HELP sobrio_job_runs_total Periodic job runs on this replica, by job and outcome."
        );
        let _ = writeln!(out, "# TYPE sobrio_job_runs_total counter");
        for ((job, outcome), count) in self.jobs.lock().expect("metrics lock").iter() {
            let _ = writeln!(
                out,
                "sobrio_job_runs_total{{job=\"{job}\",outcome=\"{outcome}\"}} {count}"
            );
        }
        if let Some(devices) = devices {
            let _ = writeln!(
                out,
                "# HELP sobrio_devices Enrolled devices by status (silent: no report for 7 days)."
            );
            let _ = writeln!(out, "# TYPE sobrio_devices gauge");
            for (status, value) in [
                ("active", devices.active),
                ("silent", devices.silent),
                ("revoked", devices.revoked),
            ] {
                let _ = writeln!(out, "sobrio_devices{{status=\"{status}\"}} {value}");
            }
        }
        out
    }
}

fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exposition_counts_batches_and_rejects() {
        let metrics = Metrics::default();
        metrics.record_batch(7, Duration::from_millis(2), true);
        metrics.record_reject("invalid", "usage.hours[12].powered_minutes");
        let text = metrics.render(Some(DeviceCounts {
            active: 3,
            revoked: 1,
            silent: 0,
        }));
        assert!(
            text.contains("sobrio_ingest_batch_reports_bucket{le=\"10\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("sobrio_ingest_batch_reports_bucket{le=\"5\"} 0"),
            "{text}"
        );
        assert!(
            text.contains("field=\"usage.hours[].powered_minutes\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("sobrio_devices{status=\"revoked\"} 1"),
            "{text}"
        );
    }
}
